//! Fallible output buffers for kernels: the one way a kernel whose output size depends on
//! user input (shapes, attributes, fed values) gets its memory.
//!
//! Each method goes through [`ferroflow_core::value::try_alloc_vec`] (checked element and
//! byte counts, `try_reserve_exact`) and names the kernel's node in the
//! [`Error::Allocation`] it returns, so an absurd or unaffordable size is an error such as
//! `Fill 'w/Initializer/zeros' failed at run time: cannot allocate 1125899906842624 bytes …`
//! instead of a panic or an abort.

use ferroflow_core::value::{checked_len, try_alloc_vec};
use ferroflow_core::{DType, Element, Error, KernelCtx, Result, Value};

/// Fallible allocation for kernels (implemented for [`KernelCtx`]).
pub(crate) trait KernelAlloc {
    /// Attaches this node to an error: allocation errors get the node and op, bare
    /// `InvalidArgument`s become kernel errors (as `KernelCtx::wrap`).
    fn name_error(&self, e: Error) -> Error;

    /// An empty `Vec` with room for exactly the elements of `dims`.
    fn alloc_vec<T: Element>(&self, dims: &[usize]) -> Result<Vec<T>> {
        try_alloc_vec::<T>(dims).map_err(|e| self.name_error(e))
    }

    /// A `Vec` of the elements of `dims`, every one `x`.
    fn alloc_filled_vec<T: Element>(&self, dims: &[usize], x: T) -> Result<Vec<T>> {
        let mut v = self.alloc_vec::<T>(dims)?;
        // `try_alloc_vec` checked the count; the capacity may exceed it, the length must not.
        v.resize(checked_len(dims).unwrap_or(0), x);
        Ok(v)
    }

    /// A value of shape `dims`, every element `x`.
    fn alloc_filled<T: Element>(&self, dims: &[usize], x: T) -> Result<Value> {
        Value::try_filled(dims, x).map_err(|e| self.name_error(e))
    }

    /// A zero value of `dtype` and shape `dims`.
    fn alloc_zeros(&self, dtype: DType, dims: &[usize]) -> Result<Value> {
        Value::try_zeros(dtype, dims).map_err(|e| self.name_error(e))
    }
}

impl KernelAlloc for KernelCtx<'_> {
    fn name_error(&self, e: Error) -> Error {
        self.wrap(e)
    }
}
