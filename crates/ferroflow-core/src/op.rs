//! The `Op` trait and the contexts handed to op authors (shape inference, kernel, gradient).
//!
//! An op is defined in one file: its builder, its `Op` impl (`infer`, `compute`, `gradient`) and
//! its gradient kernel. The graph and the session know no concrete op. The contexts create the
//! errors, so an error cannot forget its node.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::handles::{Operation, Tensor};
use crate::scope::Scope;
use crate::shape::Shape;
use crate::value::{try_alloc_vec, Element, Value};
use ndarray::{ArcArray, Array, ArrayViewD, IxDyn};
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::collections::HashMap;
use std::fmt;

/// Static dtype and shape of one op output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// Element type.
    pub dtype: DType,
    /// Static (possibly partial) shape.
    pub shape: Shape,
}

impl TensorSpec {
    /// A spec from its parts.
    pub fn new(dtype: DType, shape: impl Into<Shape>) -> Self {
        TensorSpec { dtype, shape: shape.into() }
    }
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.dtype, self.shape)
    }
}

/// An operation type: shape rule, kernel and gradient in one impl.
///
/// Implementations are serde-serializable (registered through `typetag`), which is how meta
/// graphs store them: the type name is the only registry.
#[typetag::serde]
pub trait Op: fmt::Debug + Send + Sync + Any {
    /// The op type as TF names it (`"MatMul"`, `"FusedBatchNormV3"`).
    fn type_name(&self) -> &'static str;

    /// Output dtypes and static shapes from the inputs'; errors surface at build time.
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>>;

    /// The kernel: computes the outputs from the input values.
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>>;

    /// Adds the ops computing the gradient w.r.t. each input (`None`: no gradient flows).
    fn gradient(&self, _s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Err(cx.no_gradient())
    }

    /// True when the op reads or writes state (variables, RNG) and so is never folded or shared.
    fn is_stateful(&self) -> bool {
        false
    }

    /// True for `Merge`: the kernel receives `None` for inputs from branches that did not run.
    fn accepts_dead_inputs(&self) -> bool {
        false
    }

    /// True for the `VariableV2` op that holds a variable.
    fn is_variable(&self) -> bool {
        false
    }

    /// True when input `i` is a variable *reference* (as in `Assign`): the session does not
    /// read it; the kernel finds the variable through [`KernelCtx::input_handle`].
    fn is_ref_input(&self, _i: usize) -> bool {
        false
    }

    /// A short attribute summary for graph dumps (`"transpose_a=true"`).
    fn describe(&self) -> String {
        String::new()
    }
}

impl dyn Op {
    /// The op as its concrete type, if it is one: `node.op.downcast_ref::<Const>()`. (Every op
    /// is `Any`; this upcasts, so no op implements anything for it.)
    pub fn downcast_ref<T: Op>(&self) -> Option<&T> {
        (self as &dyn Any).downcast_ref::<T>()
    }
}

/// What shape inference sees: the node's name and its inputs' specs.
pub struct InferCtx<'a> {
    pub(crate) node: &'a str,
    pub(crate) op_type: &'static str,
    pub(crate) inputs: &'a [TensorSpec],
}

impl<'a> InferCtx<'a> {
    /// A context for calling `infer` directly (used by tests and the meta-graph importer).
    pub fn new(node: &'a str, op_type: &'static str, inputs: &'a [TensorSpec]) -> Self {
        InferCtx { node, op_type, inputs }
    }
    /// Number of inputs.
    pub fn num_inputs(&self) -> usize {
        self.inputs.len()
    }
    /// Spec of input `i`.
    pub fn input(&self, i: usize) -> Result<&TensorSpec> {
        self.inputs
            .get(i)
            .ok_or_else(|| self.error(format!("expected at least {} inputs, got {}", i + 1, self.inputs.len())))
    }
    /// All input specs.
    pub fn inputs(&self) -> &[TensorSpec] {
        self.inputs
    }
    /// The full name the node will get.
    pub fn node_name(&self) -> &str {
        self.node
    }
    /// A build error naming this node.
    pub fn error(&self, message: impl Into<String>) -> Error {
        Error::Build {
            node: self.node.to_string(),
            op: self.op_type.to_string(),
            message: message.into(),
            inputs: self.inputs.to_vec(),
        }
    }
    /// Checks input `i` has dtype `want`.
    pub fn expect_dtype(&self, i: usize, want: DType) -> Result<&TensorSpec> {
        let s = self.input(i)?;
        if s.dtype != want {
            return Err(self.error(format!("input {i} must be {want}, got {}", s.dtype)));
        }
        Ok(s)
    }
    /// Checks input `i` is a float type.
    pub fn expect_float(&self, i: usize) -> Result<&TensorSpec> {
        let s = self.input(i)?;
        if !s.dtype.is_float() {
            return Err(self.error(format!("input {i} must be float32 or float64, got {}", s.dtype)));
        }
        Ok(s)
    }
    /// Checks inputs `i` and `j` share a dtype.
    pub fn expect_same_dtype(&self, i: usize, j: usize) -> Result<DType> {
        let (a, b) = (self.input(i)?, self.input(j)?);
        if a.dtype != b.dtype {
            return Err(self.error(format!(
                "inputs must have the same dtype, got {} {} and {} {}",
                a.dtype, a.shape, b.dtype, b.shape
            )));
        }
        Ok(a.dtype)
    }
    /// Turns a bare `InvalidArgument` into a build error naming this node.
    pub fn wrap(&self, e: Error) -> Error {
        match e {
            Error::InvalidArgument(m) => self.error(m),
            other => other.in_node(self.node, self.op_type),
        }
    }
}

/// Services the session provides to kernels: variable storage and random streams.
pub trait Runtime: Sync {
    /// The current value of a variable (its `VariableV2` op); errors when uninitialized.
    fn read_variable(&self, var: Operation) -> Result<Value>;
    /// Replaces a variable's value. The caller (a stateful kernel) has validated the value:
    /// stateful kernels check dtype and shape *before* they call this.
    fn write_variable(&self, var: Operation, value: Value) -> Result<()>;
    /// Computes a variable's new value from its current one and publishes it, returning it.
    ///
    /// `f(current, out)` gets the current value and a buffer of the same dtype and shape whose
    /// contents are unspecified: it must write every element of `out`. Readers keep seeing
    /// the old value until the new one is published; when `f` fails nothing is written.
    /// `f` may be called again when a concurrent update of the same variable published first.
    fn update_variable(&self, var: Operation, f: &mut dyn FnMut(&Value, &mut Value) -> Result<()>) -> Result<Value>;
    /// Runs `f` with the random stream of `node`, created from `seed` on first use.
    fn with_rng(&self, node: Operation, seed: Option<u64>, f: &mut dyn FnMut(&mut StdRng));
    /// The full name of a node (a variable, an input's op) for a kernel's error message: a
    /// kernel has no graph, its runtime does. The default gives the handle's ids.
    fn node_name(&self, var: Operation) -> String {
        format!("{var:?}")
    }
}

/// Output buffers a plan recycles from step to step, keyed by `(dtype, element count)`.
///
/// The executor puts every value the plan frees (a slot after its last reader, an input a
/// kernel did not keep) back here when nothing else holds it; [`KernelCtx::alloc_output`]
/// takes one of the right size instead of asking the allocator. After each run the executor
/// calls [`BufferPool::trim`], which keeps per size only as many buffers as that run asked
/// for: in the steady state a run takes what the previous run gave back, and buffers of
/// sizes no kernel asks for (outputs of kernels that do not use the pool) are dropped. Only uniquely owned, contiguous, non-empty numeric and bool buffers are kept: a
/// value the caller, a fetch or a variable still holds is never recycled.
#[derive(Default)]
pub struct BufferPool {
    free: HashMap<(DType, usize), Vec<Value>>,
    /// Requests per size since the last trim (hits and misses).
    demand: HashMap<(DType, usize), usize>,
    held: usize,
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool").field("buffers", &self.held).field("bytes", &self.bytes()).finish()
    }
}

impl BufferPool {
    /// An empty pool.
    pub fn new() -> Self {
        BufferPool::default()
    }

    /// Keeps `v`'s buffer for reuse when nothing else holds it; returns whether it was kept
    /// (otherwise `v` is simply dropped).
    pub fn put(&mut self, v: Value) -> bool {
        let reusable = match &v {
            Value::F32(a) => a.is_unique() && a.is_standard_layout(),
            Value::F64(a) => a.is_unique() && a.is_standard_layout(),
            Value::I32(a) => a.is_unique() && a.is_standard_layout(),
            Value::I64(a) => a.is_unique() && a.is_standard_layout(),
            Value::Bool(a) => a.is_unique() && a.is_standard_layout(),
            Value::String(_) => false,
        };
        if !reusable || v.is_empty() {
            return false;
        }
        self.free.entry((v.dtype(), v.len())).or_default().push(v);
        self.held += 1;
        true
    }

    /// A recycled buffer of `T` with `dims` (its contents are whatever it held before), or
    /// `None` when the pool has none of that size.
    pub fn take<T: Element>(&mut self, dims: &[usize]) -> Option<ArcArray<T, IxDyn>> {
        let n = crate::value::checked_len(dims)?;
        *self.demand.entry((T::DTYPE, n)).or_default() += 1;
        let v = self.free.get_mut(&(T::DTYPE, n))?.pop()?;
        self.held -= 1;
        T::take(v).ok()?.into_shape_with_order(IxDyn(dims)).ok()
    }

    /// Number of buffers held.
    pub fn len(&self) -> usize {
        self.held
    }

    /// True when the pool holds no buffer.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// Bytes of the buffers held.
    pub fn bytes(&self) -> usize {
        self.free.iter().map(|((d, n), vs)| crate::value::dtype_size(*d) * n * vs.len()).sum()
    }

    /// Keeps per size at most as many buffers as were asked for since the last trim, drops
    /// the rest, and starts counting again (the executor calls it after every run).
    pub fn trim(&mut self) {
        let mut held = 0;
        for (key, vs) in self.free.iter_mut() {
            let want = self.demand.get(key).copied().unwrap_or(0);
            vs.truncate(want);
            held += vs.len();
        }
        self.demand.values_mut().for_each(|d| *d = 0);
        self.held = held;
    }

    /// Drops every buffer held.
    pub fn clear(&mut self) {
        self.free.values_mut().for_each(Vec::clear);
        self.held = 0;
    }
}

/// What a kernel sees: its node, its input values and the session's runtime.
pub struct KernelCtx<'a> {
    op: Operation,
    node: &'a str,
    op_type: &'static str,
    inputs: Vec<Option<Value>>,
    handles: &'a [Tensor],
    runtime: &'a dyn Runtime,
    pool: Option<&'a mut BufferPool>,
}

impl<'a> KernelCtx<'a> {
    /// A context over the given inputs (`None` = from a branch that did not run, or a
    /// reference input) and the inputs' handles.
    pub fn new(
        op: Operation,
        node: &'a str,
        op_type: &'static str,
        inputs: Vec<Option<Value>>,
        handles: &'a [Tensor],
        runtime: &'a dyn Runtime,
    ) -> Self {
        KernelCtx { op, node, op_type, inputs, handles, runtime, pool: None }
    }
    /// This context with a buffer pool: [`KernelCtx::alloc_output`] draws from it (without
    /// one, every output is a fresh allocation).
    pub fn with_pool(mut self, pool: &'a mut BufferPool) -> Self {
        self.pool = Some(pool);
        self
    }
    /// A buffer of `T` with shape `dims` for an output, from the plan's pool when it holds
    /// one of that size. **Its contents are unspecified** (a recycled buffer keeps the values
    /// of an earlier step): the kernel must write every element. A fresh buffer is zeroed.
    ///
    /// # Errors
    /// A shape whose size overflows or cannot be allocated ([`Error::Allocation`], naming
    /// this node).
    pub fn alloc_output<T: Element>(&mut self, dims: &[usize]) -> Result<ArcArray<T, IxDyn>> {
        if let Some(a) = self.pool.as_deref_mut().and_then(|p| p.take::<T>(dims)) {
            return Ok(a);
        }
        let n = crate::value::checked_len(dims).unwrap_or(0);
        let mut v = try_alloc_vec::<T>(dims).map_err(|e| self.wrap(e))?;
        v.resize(n, T::default());
        Array::from_shape_vec(IxDyn(dims), v).map(Array::into_shared).map_err(|e| self.error(e.to_string()))
    }
    /// An output buffer holding input `i`'s values, for kernels that work in place: input
    /// `i` itself when this node is its last reader and nothing else holds it (no copy, no
    /// allocation), otherwise a copy in a buffer from [`KernelCtx::alloc_output`]. Input `i`
    /// is taken either way.
    ///
    /// # Errors
    /// Input `i` missing or not of dtype `T`.
    pub fn output_like<T: Element>(&mut self, i: usize) -> Result<ArcArray<T, IxDyn>> {
        let a = self.take_input(i)?.into_shared::<T>().map_err(|e| self.wrap(e))?;
        if a.is_unique() && a.is_standard_layout() {
            return Ok(a);
        }
        let mut out = self.alloc_output::<T>(a.shape())?;
        out.assign(&a);
        Ok(out)
    }
    /// Gives a buffer the kernel no longer needs (scratch, an input it copied) back to the
    /// plan's pool; dropped when there is no pool or something else holds it.
    pub fn recycle(&mut self, v: Value) {
        if let Some(p) = self.pool.as_deref_mut() {
            p.put(v);
        }
    }
    /// The input list, for the executor to recycle what the kernel did not take.
    pub fn into_inputs(self) -> Vec<Option<Value>> {
        self.inputs
    }
    /// The handle of input `i` (for reference inputs: which variable).
    pub fn input_handle(&self, i: usize) -> Result<Tensor> {
        self.handles.get(i).copied().ok_or_else(|| self.error(format!("no input {i}")))
    }
    /// This node.
    pub fn op(&self) -> Operation {
        self.op
    }
    /// This node's full name.
    pub fn node_name(&self) -> &str {
        self.node
    }
    /// Number of inputs.
    pub fn num_inputs(&self) -> usize {
        self.inputs.len()
    }
    /// Input `i`.
    pub fn input(&self, i: usize) -> Result<&Value> {
        match self.inputs.get(i) {
            Some(Some(v)) => Ok(v),
            Some(None) => Err(self.error(format!("input {i} was not computed (its cond branch did not run)"))),
            None => Err(self.error(format!("expected at least {} inputs, got {}", i + 1, self.inputs.len()))),
        }
    }
    /// Input `i`, `None` when it comes from a branch that did not run.
    pub fn input_opt(&self, i: usize) -> Option<&Value> {
        self.inputs.get(i).and_then(Option::as_ref)
    }
    /// Takes input `i` out (no copy; lets a kernel reuse the buffer when it is not shared).
    pub fn take_input(&mut self, i: usize) -> Result<Value> {
        let n = self.inputs.len();
        match self.inputs.get_mut(i).map(Option::take) {
            Some(Some(v)) => Ok(v),
            Some(None) => Err(self.error(format!("input {i} is not available (not computed or already taken)"))),
            None => Err(self.error(format!("expected at least {} inputs, got {n}", i + 1))),
        }
    }
    /// Input `i` viewed as an array of `T`.
    pub fn view<T: Element>(&self, i: usize) -> Result<ArrayViewD<'_, T>> {
        self.input(i)?.view::<T>().map_err(|e| self.wrap(e))
    }
    /// A scalar input.
    pub fn scalar<T: Element>(&self, i: usize) -> Result<T> {
        self.input(i)?.scalar::<T>().map_err(|e| self.wrap(e))
    }
    /// The session runtime (variables, RNG).
    pub fn runtime(&self) -> &'a dyn Runtime {
        self.runtime
    }
    /// A run-time error naming this node.
    pub fn error(&self, message: impl Into<String>) -> Error {
        Error::Kernel {
            node: self.node.to_string(),
            op: self.op_type.to_string(),
            message: message.into(),
            inputs: self.inputs.iter().map(|v| v.as_ref().map(|v| (v.dtype(), v.shape().to_vec()))).collect(),
        }
    }
    /// Turns a bare `InvalidArgument` into a kernel error naming this node.
    pub fn wrap(&self, e: Error) -> Error {
        match e {
            Error::InvalidArgument(m) => self.error(m),
            other => other.in_node(self.node, self.op_type),
        }
    }
}

/// What a gradient function sees: the forward node's inputs/outputs and the incoming gradients.
pub struct GradCtx<'a> {
    pub(crate) op: Operation,
    pub(crate) node: &'a str,
    pub(crate) op_type: &'static str,
    pub(crate) inputs: &'a [Tensor],
    pub(crate) input_specs: &'a [TensorSpec],
    pub(crate) output_specs: &'a [TensorSpec],
    pub(crate) grads: &'a [Option<Tensor>],
}

impl<'a> GradCtx<'a> {
    /// A context for the forward node `op`, given the gradient of each of its outputs.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        op: Operation,
        node: &'a str,
        op_type: &'static str,
        inputs: &'a [Tensor],
        input_specs: &'a [TensorSpec],
        output_specs: &'a [TensorSpec],
        grads: &'a [Option<Tensor>],
    ) -> Self {
        GradCtx { op, node, op_type, inputs, input_specs, output_specs, grads }
    }
    /// The forward op.
    pub fn op(&self) -> Operation {
        self.op
    }
    /// Forward input `i`.
    pub fn input(&self, i: usize) -> Result<Tensor> {
        self.inputs.get(i).copied().ok_or_else(|| self.error(format!("no input {i}")))
    }
    /// Number of forward inputs.
    pub fn num_inputs(&self) -> usize {
        self.inputs.len()
    }
    /// Spec of forward input `i`.
    pub fn input_spec(&self, i: usize) -> Result<&TensorSpec> {
        self.input_specs.get(i).ok_or_else(|| self.error(format!("no input {i}")))
    }
    /// Forward output `i`.
    pub fn output(&self, i: usize) -> Tensor {
        self.op.output(i)
    }
    /// Spec of forward output `i`.
    pub fn output_spec(&self, i: usize) -> Result<&TensorSpec> {
        self.output_specs.get(i).ok_or_else(|| self.error(format!("no output {i}")))
    }
    /// Gradient flowing into output `i` (`None` when that output does not reach the loss).
    pub fn grad(&self, i: usize) -> Option<Tensor> {
        self.grads.get(i).copied().flatten()
    }
    /// Gradient of output `i`, or an error when none flows (for single-output ops).
    pub fn grad_required(&self, i: usize) -> Result<Tensor> {
        self.grad(i).ok_or_else(|| self.error(format!("no gradient reached output {i}")))
    }
    /// The error for an op without a gradient.
    pub fn no_gradient(&self) -> Error {
        Error::NoGradient { node: self.node.to_string(), op: self.op_type.to_string() }
    }
    /// A build error naming the forward node.
    pub fn error(&self, message: impl Into<String>) -> Error {
        Error::Build {
            node: self.node.to_string(),
            op: self.op_type.to_string(),
            message: message.into(),
            inputs: self.input_specs.to_vec(),
        }
    }
}

#[cfg(test)]
mod pool_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_pool_keeps_only_unshared_buffers_and_reshapes_them() {
        let mut pool = BufferPool::new();
        let v = Value::from(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let shared = v.clone();
        assert!(!pool.put(v), "a buffer somebody else holds must not be recycled");
        assert!(pool.put(shared));
        assert!(!pool.put(Value::from(Vec::<f32>::new())), "empty buffers are not kept");
        assert_eq!((pool.len(), pool.bytes()), (1, 24));
        assert!(pool.take::<f64>(&[6]).is_none(), "another dtype");
        assert!(pool.take::<f32>(&[5]).is_none(), "another size");
        let a = pool.take::<f32>(&[2, 3]).unwrap();
        assert_eq!(a.shape(), &[2, 3]);
        assert!(pool.is_empty());
    }

    #[test]
    fn trim_keeps_what_a_run_asked_for() {
        let mut pool = BufferPool::new();
        for _ in 0..3 {
            pool.put(Value::from(vec![0i32; 4]));
        }
        pool.put(Value::from(vec![0i32; 9]));
        assert!(pool.take::<i32>(&[4]).is_some());
        pool.trim();
        // One [4] was asked for: one stays; nobody asked for a [9].
        assert_eq!(pool.len(), 1);
        assert!(pool.take::<i32>(&[4]).is_some());
        assert!(pool.take::<i32>(&[9]).is_none());
    }
}
