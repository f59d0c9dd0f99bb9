//! Shared compute kernels used by several op families.

pub(crate) mod gemm;
#[allow(unsafe_code)]
pub(crate) mod simd;
