//! Control flow: `identity`, `stop_gradient`, `no_op`, `group`, `Merge` and `cond`.
//!
//! `cond(pred, true_fn, false_fn)` follows TF1: `pred` is evaluated first; ops *created inside*
//! a branch function run only when that branch is taken; ops created outside that a branch uses
//! are ordinary inputs and run whichever branch is taken. The outputs are `Merge` ops that
//! forward whichever branch ran. Gradients flow through the taken branch only.

use ferroflow_core::typetag;
use ferroflow_core::{Error, GradCtx, InferCtx, KernelCtx, Op, Operation, Result, Scope, Tensor, TensorSpec, Value};
use serde::{Deserialize, Serialize};

/// Forwards its input (TF1 `Identity`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Identity;

#[typetag::serde]
impl Op for Identity {
    fn type_name(&self) -> &'static str {
        "Identity"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        Ok(vec![cx.input(0)?.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        Ok(vec![cx.take_input(0)?])
    }
    fn gradient(&self, _: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![cx.grad(0)])
    }
}

/// Returns `x` unchanged, as a new op. TF1: `tf.identity`.
pub fn identity(s: &Scope, x: Tensor) -> Result<Tensor> {
    s.add_op1(Identity, &[x], "Identity")
}

/// Forwards its input and blocks gradients (TF1 `StopGradient`).
#[derive(Debug, Serialize, Deserialize)]
pub struct StopGradient;

#[typetag::serde]
impl Op for StopGradient {
    fn type_name(&self) -> &'static str {
        "StopGradient"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        Ok(vec![cx.input(0)?.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        Ok(vec![cx.take_input(0)?])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None])
    }
}

/// Returns `x`; no gradient flows back through it. TF1: `tf.stop_gradient`.
pub fn stop_gradient(s: &Scope, x: Tensor) -> Result<Tensor> {
    s.add_op1(StopGradient, &[x], "StopGradient")
}

/// Does nothing; used to group control dependencies (TF1 `NoOp`).
#[derive(Debug, Serialize, Deserialize)]
pub struct NoOp;

#[typetag::serde]
impl Op for NoOp {
    fn type_name(&self) -> &'static str {
        "NoOp"
    }
    fn infer(&self, _: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        Ok(vec![])
    }
    fn compute(&self, _: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        Ok(vec![])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![])
    }
}

/// An op that does nothing (but waits for the scope's control dependencies). TF1: `tf.no_op`.
pub fn no_op(s: &Scope) -> Result<Operation> {
    s.add_op(NoOp, &[], "NoOp")
}

/// One op that runs all of `ops`. TF1: `tf.group(*ops)`.
pub fn group(s: &Scope, ops: &[Operation]) -> Result<Operation> {
    s.with_control_dependencies(ops).add_op(NoOp, &[], "group_deps")
}

/// Forwards the first input that was computed (TF1 `Merge`): the output of a `cond`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Merge;

#[typetag::serde]
impl Op for Merge {
    fn type_name(&self) -> &'static str {
        "Merge"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let first = cx.input(0)?.clone();
        let mut shape = first.shape.clone();
        for (i, s) in cx.inputs().iter().enumerate().skip(1) {
            if s.dtype != first.dtype {
                return Err(cx.error(format!("input {i} is {} but input 0 is {}", s.dtype, first.dtype)));
            }
            shape = shape.most_specific_common(&s.shape);
        }
        Ok(vec![TensorSpec::new(first.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        for i in 0..cx.num_inputs() {
            if cx.input_opt(i).is_some() {
                return Ok(vec![cx.take_input(i)?]);
            }
        }
        Err(cx.error("no input was computed"))
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        // Each input gets the gradient, but computed inside that input's branch so that it
        // exists only when the branch ran (TF: the gradient of Merge is a Switch).
        let Some(g) = cx.grad(0) else { return Ok(vec![None; cx.num_inputs()]) };
        let graph = s.graph();
        let mut out = Vec::with_capacity(cx.num_inputs());
        for i in 0..cx.num_inputs() {
            let t = cx.input(i)?;
            let ctx = graph.node(t.op())?.cond_ctx;
            out.push(Some(identity(&s.with_cond_ctx(ctx), g)?));
        }
        Ok(out)
    }
    fn accepts_dead_inputs(&self) -> bool {
        true
    }
}

/// Forwards whichever of `inputs` was computed. Inputs may come from cond branches.
pub fn merge(s: &Scope, inputs: &[Tensor]) -> Result<Tensor> {
    s.add_op1(Merge, inputs, "Merge")
}

/// What a cond branch function returns: one tensor, a tuple, an array or a `Vec` of tensors.
pub trait CondOutput: Sized {
    /// The tensors, flattened in order.
    fn flatten(&self) -> Vec<Tensor>;
    /// Rebuilds the structure from merged tensors (same count as `flatten`).
    fn rebuild(ts: Vec<Tensor>) -> Result<Self>;
}

impl CondOutput for Tensor {
    fn flatten(&self) -> Vec<Tensor> {
        vec![*self]
    }
    fn rebuild(ts: Vec<Tensor>) -> Result<Self> {
        ts.into_iter().next().ok_or_else(|| Error::invalid("cond produced no output"))
    }
}
impl CondOutput for Vec<Tensor> {
    fn flatten(&self) -> Vec<Tensor> {
        self.clone()
    }
    fn rebuild(ts: Vec<Tensor>) -> Result<Self> {
        Ok(ts)
    }
}
impl<const N: usize> CondOutput for [Tensor; N] {
    fn flatten(&self) -> Vec<Tensor> {
        self.to_vec()
    }
    fn rebuild(ts: Vec<Tensor>) -> Result<Self> {
        <[Tensor; N]>::try_from(ts).map_err(|_| Error::invalid("cond output count changed"))
    }
}
impl CondOutput for (Tensor, Tensor) {
    fn flatten(&self) -> Vec<Tensor> {
        vec![self.0, self.1]
    }
    fn rebuild(ts: Vec<Tensor>) -> Result<Self> {
        let [a, b] = <[Tensor; 2]>::rebuild(ts)?;
        Ok((a, b))
    }
}
impl CondOutput for (Tensor, Tensor, Tensor) {
    fn flatten(&self) -> Vec<Tensor> {
        vec![self.0, self.1, self.2]
    }
    fn rebuild(ts: Vec<Tensor>) -> Result<Self> {
        let [a, b, c] = <[Tensor; 3]>::rebuild(ts)?;
        Ok((a, b, c))
    }
}

/// `true_fn()` if `pred` else `false_fn()`, with TF1 semantics. TF1: `tf.cond`.
///
/// Each branch function gets a scope inside its branch: ops it creates run only when the
/// branch is taken. Both must return the same structure with matching dtypes.
///
/// ```
/// use ferroflow_core::{DType, Graph, shape};
/// use ferroflow_ops::{cond, math, placeholder};
/// use ferroflow_session::{feed_dict, Session};
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let p = placeholder(&s, DType::Bool, shape![])?;
/// let x = placeholder(&s, DType::F32, shape![None])?;
/// let y = cond(&s, p, |s| math::mul(s, x, 2.0f32), |s| math::neg(s, x))?;
/// let sess = Session::new(&g);
/// let out = sess.run([y], &feed_dict![p => false, x => vec![1.0f32, 2.0]])?;
/// assert_eq!(out[0].to_vec::<f32>()?, vec![-1.0, -2.0]);
/// # Ok(()) }
/// ```
///
/// # Errors
/// `pred` not a scalar bool; branches returning different numbers of tensors or dtypes.
pub fn cond<T: CondOutput>(
    s: &Scope,
    pred: Tensor,
    true_fn: impl FnOnce(&Scope) -> Result<T>,
    false_fn: impl FnOnce(&Scope) -> Result<T>,
) -> Result<T> {
    s.op_scope("cond", |cs| {
        let name = cs.name_prefix().to_string();
        let ts = cs.in_cond_branch(pred, true, &name)?;
        let t_out = true_fn(&ts)?.flatten();
        let t_out = t_out.into_iter().map(|t| identity(&ts, t)).collect::<Result<Vec<_>>>()?;
        let fs = cs.in_cond_branch(pred, false, &name)?;
        let f_out = false_fn(&fs)?.flatten();
        let f_out = f_out.into_iter().map(|t| identity(&fs, t)).collect::<Result<Vec<_>>>()?;
        if t_out.len() != f_out.len() {
            return Err(Error::CondMismatch {
                cond: name,
                message: format!(
                    "the true branch returns {} tensor(s) but the false branch returns {}",
                    t_out.len(),
                    f_out.len()
                ),
            });
        }
        let mut merged = Vec::with_capacity(t_out.len());
        for (i, (a, b)) in t_out.iter().zip(&f_out).enumerate() {
            let (sa, sb) = (a.shape(s)?, b.shape(s)?);
            if a.dtype(s)? != b.dtype(s)? || (sa.rank().is_some() && sb.rank().is_some() && sa.rank() != sb.rank()) {
                return Err(Error::CondMismatch {
                    cond: name.clone(),
                    message: format!(
                        "output {i} is {} {} in the true branch but {} {} in the false branch",
                        a.dtype(s)?,
                        sa,
                        b.dtype(s)?,
                        sb
                    ),
                });
            }
            merged.push(merge(cs, &[*a, *b])?);
        }
        T::rebuild(merged)
    })
}
