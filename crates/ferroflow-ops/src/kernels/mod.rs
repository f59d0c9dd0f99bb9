//! Shared compute kernels used by several op families.

pub(crate) mod copy;
pub(crate) mod direct_conv;
pub(crate) mod gemm;
pub(crate) mod par;
#[allow(unsafe_code)]
pub(crate) mod simd;
pub(crate) mod window;
