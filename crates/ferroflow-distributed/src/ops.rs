//! Collective graph ops, Horovod's three: `allreduce` (and the fused `grouped_allreduce`),
//! `allgather`, `broadcast` (and `grouped_broadcast`) — builders, shape rules, kernels and
//! gradients, with the gradient kernels `HorovodAllgatherGrad` and `HorovodBroadcastGrad`.
//!
//! Each op holds the collective handle it was built with (not serialized: an op read back
//! from a meta graph has none and its kernel says so). Every kernel first checks, with one
//! small allgather, that all ranks pass the same dtypes and shapes, so a mismatch is an error
//! naming the tensor and the ranks instead of a hang or garbage.

use crate::collective::{
    allgather_grad_value, allgather_value, allreduce_fused, broadcast_fused, check_root, CollectiveRef, HasCollective,
    ReduceOp,
};
use ferroflow_core::typetag;
use ferroflow_core::{DType, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The collective an op was built with; empty after deserialization.
#[derive(Clone, Default)]
pub struct Comm(Option<CollectiveRef>);

impl Comm {
    fn new(c: &impl HasCollective) -> Comm {
        Comm(Some(c.collective()))
    }
    fn get(&self, cx: &KernelCtx<'_>) -> Result<CollectiveRef> {
        self.0.clone().ok_or_else(|| {
            cx.error("this collective op has no collective backend (it was read back from a meta graph); rebuild the graph with the Hvd handle of this process")
        })
    }
    fn rank_size(&self) -> (usize, usize) {
        self.0.as_ref().map_or((0, 1), |c| (c.rank(), c.size()))
    }
}

impl fmt::Debug for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(c) => write!(f, "rank {} of {}", c.rank(), c.size()),
            None => f.write_str("no collective"),
        }
    }
}

fn input_names(cx: &KernelCtx<'_>) -> Vec<String> {
    (0..cx.num_inputs())
        .map(|i| {
            cx.input_handle(i).map(|t| format!("{}:{}", cx.runtime().node_name(t.op()), t.index())).unwrap_or_default()
        })
        .collect()
}

fn one_dtype(cx: &InferCtx<'_>) -> Result<DType> {
    let first = cx.input(0)?.dtype;
    for (i, s) in cx.inputs().iter().enumerate() {
        if s.dtype != first {
            return Err(cx.error(format!(
                "all inputs must share a dtype (one fusion buffer), input 0 is {first} and input {i} is {}",
                s.dtype
            )));
        }
    }
    if first == DType::Bool {
        return Err(cx.error("collectives move float32/float64/int32/int64 tensors, not bool; cast to int32 first"));
    }
    Ok(first)
}

/// Element-wise reduction over ranks of N same-dtype tensors with one collective
/// (N inputs, N outputs of the same specs). Horovod: `HorovodAllreduce` (and its fusion buffer).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Allreduce {
    /// Average or Sum.
    pub op: ReduceOp,
    #[serde(skip)]
    comm: Comm,
}

#[typetag::serde]
impl Op for Allreduce {
    fn type_name(&self) -> &'static str {
        "HorovodAllreduce"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        one_dtype(cx)?;
        Ok(cx.inputs().to_vec())
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let c = self.comm.get(cx)?;
        let names = input_names(cx);
        let values: Vec<&Value> = (0..cx.num_inputs()).map(|i| cx.input(i)).collect::<Result<_>>()?;
        allreduce_fused(c.as_ref(), &values, self.op, &names).map_err(|e| cx.wrap(e))
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        // Horovod's _allreduce_grad: the gradient is the same reduction of the incoming
        // gradient. Outputs without a gradient are left out (identically on every rank:
        // every rank builds the same graph).
        let n = cx.num_inputs();
        let flowing: Vec<(usize, Tensor)> = (0..n).filter_map(|i| cx.grad(i).map(|g| (i, g))).collect();
        let mut out = vec![None; n];
        if flowing.is_empty() {
            return Ok(out);
        }
        let gs: Vec<Tensor> = flowing.iter().map(|p| p.1).collect();
        let op = Allreduce { op: self.op, comm: self.comm.clone() };
        let node = s.add_op(op, &gs, "HorovodAllreduce")?;
        for (k, (i, _)) in flowing.iter().enumerate() {
            out[*i] = Some(node.output(k));
        }
        Ok(out)
    }
    fn is_stateful(&self) -> bool {
        // Never folded, deduplicated or skipped: every rank must run every collective.
        true
    }
    fn describe(&self) -> String {
        format!("op={:?}, {:?}", self.op, self.comm)
    }
}

/// The reduction over ranks of `x`. Horovod: `hvd.allreduce(x, op=hvd.Average)`.
///
/// Formula: `Sum`: `Σ_r x_r`; `Average`: `Σ_r x_r / size` (integers truncate).
///
/// # Shapes
/// Output = input (`x` must have the same dtype and shape on every rank).
///
/// # Errors
/// Build: bool `x`. Run: `x` differs in dtype or shape across ranks (the error names `x` and
/// each rank's dtype and shape); communication failures. Gradient: allreduce of the incoming
/// gradient with the same `op`.
///
/// ```
/// use ferroflow_core::{Graph, Value};
/// use ferroflow_distributed::{allreduce, Hvd, ReduceOp};
/// use ferroflow_ops::state::constant;
/// use ferroflow_session::Session;
/// # fn main() -> ferroflow_core::Result<()> {
/// let hvd = Hvd::local();
/// let g = Graph::new();
/// let s = g.root();
/// let y = allreduce(&s, constant(&s, vec![1.0f32, 2.0])?, ReduceOp::Average, &hvd)?;
/// assert_eq!(Session::new(&g).run([y], &[])?[0].to_vec::<f32>()?, vec![1.0, 2.0]); // size 1
/// # Ok(()) }
/// ```
pub fn allreduce(s: &Scope, x: Tensor, op: ReduceOp, c: &impl HasCollective) -> Result<Tensor> {
    Ok(s.add_op(Allreduce { op, comm: Comm::new(c) }, &[x], "HorovodAllreduce")?.output(0))
}

/// Allreduces many tensors with one collective per dtype (tensor fusion): the outputs in
/// input order. Used by [`DistributedOptimizer`](crate::DistributedOptimizer) for each bucket.
///
/// # Errors
/// As [`allreduce`].
pub fn grouped_allreduce(s: &Scope, xs: &[Tensor], op: ReduceOp, c: &impl HasCollective) -> Result<Vec<Tensor>> {
    grouped(s, xs, |group| s.add_op(Allreduce { op, comm: Comm::new(c) }, group, "HorovodAllreduce"))
}

/// Splits `xs` by dtype (first-seen order), builds one op per group, returns outputs in input order.
fn grouped(
    s: &Scope,
    xs: &[Tensor],
    mut build: impl FnMut(&[Tensor]) -> Result<ferroflow_core::Operation>,
) -> Result<Vec<Tensor>> {
    let mut dtypes: Vec<DType> = Vec::new();
    for x in xs {
        let d = x.dtype(s)?;
        if !dtypes.contains(&d) {
            dtypes.push(d);
        }
    }
    let xs_dtypes: Vec<DType> = xs.iter().map(|x| x.dtype(s)).collect::<Result<_>>()?;
    let mut out: Vec<Option<Tensor>> = vec![None; xs.len()];
    for d in dtypes {
        let idx: Vec<usize> = (0..xs.len()).filter(|&i| xs_dtypes[i] == d).collect();
        let group: Vec<Tensor> = idx.iter().map(|&i| xs[i]).collect();
        let node = build(&group)?;
        for (k, &i) in idx.iter().enumerate() {
            out[i] = Some(node.output(k));
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// Concatenation of every rank's `x` along dimension 0. Horovod: `HorovodAllgather`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Allgather {
    #[serde(skip)]
    comm: Comm,
}

#[typetag::serde]
impl Op for Allgather {
    fn type_name(&self) -> &'static str {
        "HorovodAllgather"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let d = one_dtype(cx)?;
        let x = cx.input(0)?;
        if x.shape.rank() == Some(0) {
            return Err(cx.error("allgather concatenates along dimension 0; a scalar has none (reshape it to [1])"));
        }
        let shape = match x.shape.dims() {
            Some(dims) => {
                let mut dims = dims.to_vec();
                // Dimension 0 may differ across ranks: known only when there is one rank.
                let (_, size) = self.comm.rank_size();
                dims[0] = if size == 1 { dims[0] } else { None };
                Shape::from_dims(dims)
            }
            None => Shape::unknown(),
        };
        Ok(vec![TensorSpec::new(d, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let c = self.comm.get(cx)?;
        let name = input_names(cx).remove(0);
        Ok(vec![allgather_value(c.as_ref(), cx.input(0)?, &name).map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        // Horovod's _allgather_grad: sum the gradient over ranks, keep this rank's rows.
        let Some(g) = cx.grad(0) else { return Ok(vec![None]) };
        let x = cx.input(0)?;
        Ok(vec![Some(s.add_op1(AllgatherGrad { comm: self.comm.clone() }, &[g, x], "HorovodAllgatherGrad")?)])
    }
    fn is_stateful(&self) -> bool {
        true
    }
    fn describe(&self) -> String {
        format!("{:?}", self.comm)
    }
}

/// Gradient of [`Allgather`]: inputs (gradient of the gathered tensor, the forward input).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AllgatherGrad {
    #[serde(skip)]
    comm: Comm,
}

#[typetag::serde]
impl Op for AllgatherGrad {
    fn type_name(&self) -> &'static str {
        "HorovodAllgatherGrad"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        Ok(vec![cx.input(1)?.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let c = self.comm.get(cx)?;
        let name = input_names(cx).remove(1);
        Ok(vec![allgather_grad_value(c.as_ref(), cx.input(0)?, cx.input(1)?, &name).map_err(|e| cx.wrap(e))?])
    }
    fn is_stateful(&self) -> bool {
        true
    }
}

/// Every rank's `x` concatenated along dimension 0, in rank order. Horovod: `hvd.allgather(x)`.
///
/// # Shapes
/// `[n_r, d1, …]` on rank `r` → `[Σ n_r, d1, …]` (dimension 0 is `?` when size > 1).
///
/// # Errors
/// Build: scalar or bool `x`. Run: dims after the first (or the dtype) differ across ranks.
/// Gradient: the sum over ranks of the incoming gradient, this rank's rows.
pub fn allgather(s: &Scope, x: Tensor, c: &impl HasCollective) -> Result<Tensor> {
    s.add_op1(Allgather { comm: Comm::new(c) }, &[x], "HorovodAllgather")
}

/// Rank `root`'s values of N same-dtype tensors, on every rank, with one collective.
/// Horovod: `HorovodBroadcast`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Broadcast {
    /// The rank whose values everyone gets.
    pub root: usize,
    #[serde(skip)]
    comm: Comm,
}

#[typetag::serde]
impl Op for Broadcast {
    fn type_name(&self) -> &'static str {
        "HorovodBroadcast"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        one_dtype(cx)?;
        let (_, size) = self.comm.rank_size();
        check_root(self.root, size).map_err(|e| cx.wrap(e))?;
        Ok(cx.inputs().to_vec())
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let c = self.comm.get(cx)?;
        let names = input_names(cx);
        let values: Vec<&Value> = (0..cx.num_inputs()).map(|i| cx.input(i)).collect::<Result<_>>()?;
        broadcast_fused(c.as_ref(), &values, self.root, &names).map_err(|e| cx.wrap(e))
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        // Horovod's _broadcast_grad: the summed gradient on the root, zero elsewhere.
        let n = cx.num_inputs();
        let mut out = vec![None; n];
        for (i, o) in out.iter_mut().enumerate() {
            if let Some(g) = cx.grad(i) {
                *o = Some(s.add_op1(
                    BroadcastGrad { root: self.root, comm: self.comm.clone() },
                    &[g],
                    "HorovodBroadcastGrad",
                )?);
            }
        }
        Ok(out)
    }
    fn is_stateful(&self) -> bool {
        true
    }
    fn describe(&self) -> String {
        format!("root={}, {:?}", self.root, self.comm)
    }
}

/// Gradient of [`Broadcast`]: the sum over ranks of the gradient on the root, zeros elsewhere.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BroadcastGrad {
    /// The forward broadcast's root.
    pub root: usize,
    #[serde(skip)]
    comm: Comm,
}

#[typetag::serde]
impl Op for BroadcastGrad {
    fn type_name(&self) -> &'static str {
        "HorovodBroadcastGrad"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        one_dtype(cx)?;
        Ok(vec![cx.input(0)?.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let c = self.comm.get(cx)?;
        let names = input_names(cx);
        let g = cx.input(0)?;
        let summed = allreduce_fused(c.as_ref(), &[g], ReduceOp::Sum, &names).map_err(|e| cx.wrap(e))?.remove(0);
        if c.rank() == self.root {
            Ok(vec![summed])
        } else {
            Ok(vec![Value::try_zeros(summed.dtype(), summed.shape()).map_err(|e| cx.wrap(e))?])
        }
    }
    fn is_stateful(&self) -> bool {
        true
    }
}

/// Rank `root`'s value of `x` on every rank. Horovod: `hvd.broadcast(x, root_rank)`.
///
/// # Shapes
/// Output = input (same dtype and shape on every rank).
///
/// # Errors
/// Build: `root >= size`, bool `x`. Run: `x` differs in dtype or shape across ranks.
/// Gradient: the sum over ranks of the incoming gradient on the root, zeros on other ranks.
pub fn broadcast(s: &Scope, x: Tensor, root: usize, c: &impl HasCollective) -> Result<Tensor> {
    s.add_op1(Broadcast { root, comm: Comm::new(c) }, &[x], "HorovodBroadcast")
}

/// Broadcasts many tensors from `root`, one collective per dtype.
pub fn grouped_broadcast(s: &Scope, xs: &[Tensor], root: usize, c: &impl HasCollective) -> Result<Vec<Tensor>> {
    grouped(s, xs, |group| s.add_op(Broadcast { root, comm: Comm::new(c) }, group, "HorovodBroadcast"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::Hvd;
    use ferroflow_core::{shape, Graph};
    use ferroflow_ops::{
        math,
        state::{constant, placeholder},
    };
    use ferroflow_session::Session;
    use ferroflow_testing::check_gradients;

    #[test]
    fn shape_rules() {
        let hvd = Hvd::local();
        let g = Graph::new();
        let s = g.root();
        let x = placeholder(&s, DType::F32, shape![None, 3]).unwrap();
        assert_eq!(allreduce(&s, x, ReduceOp::Sum, &hvd).unwrap().shape(&s).unwrap(), shape![None, 3]);
        assert_eq!(allgather(&s, x, &hvd).unwrap().shape(&s).unwrap(), shape![None, 3]);
        assert_eq!(broadcast(&s, x, 0, &hvd).unwrap().shape(&s).unwrap(), shape![None, 3]);
        let b = placeholder(&s, DType::Bool, shape![2]).unwrap();
        assert!(allreduce(&s, b, ReduceOp::Sum, &hvd).unwrap_err().to_string().contains("not bool"));
        let sc = constant(&s, 1.0f32).unwrap();
        let e = allgather(&s, sc, &hvd).unwrap_err().to_string();
        assert!(e.contains("HorovodAllgather") && e.contains("scalar"), "{e}");
        let e = broadcast(&s.with_name("bc"), x, 1, &hvd).unwrap_err().to_string();
        assert!(e.contains("'bc'") && e.contains("root 1"), "{e}");
        let i = placeholder(&s, DType::I32, shape![2]).unwrap();
        let outs = grouped_allreduce(&s, &[x, i, x], ReduceOp::Average, &hvd).unwrap();
        assert_eq!(
            outs.iter().map(|t| t.dtype(&s).unwrap()).collect::<Vec<_>>(),
            vec![DType::F32, DType::I32, DType::F32]
        );
        assert_eq!(outs[0].op(), outs[2].op(), "same dtype: one fused op");
        assert_ne!(outs[0].op(), outs[1].op());
    }

    #[test]
    fn values_on_one_rank() {
        let hvd = Hvd::local();
        let g = Graph::new();
        let s = g.root();
        let x = constant(&s, ndarray::arr2(&[[1i64, 2], [3, 4]])).unwrap();
        let e = constant(&s, Value::zeros(DType::F64, &[0])).unwrap();
        let ys = [
            allreduce(&s, x, ReduceOp::Average, &hvd).unwrap(),
            allgather(&s, x, &hvd).unwrap(),
            broadcast(&s, x, 0, &hvd).unwrap(),
        ];
        let out = Session::new(&g).run(ys, &[]).unwrap();
        for v in &out {
            assert_eq!(v.to_vec::<i64>().unwrap(), vec![1, 2, 3, 4]);
        }
        let out = Session::new(&g).run([allreduce(&s, e, ReduceOp::Sum, &hvd).unwrap()], &[]).unwrap();
        assert_eq!(out[0].shape(), &[0]);
    }

    #[test]
    fn gradients_numerically() {
        let hvd = Hvd::local();
        let h = hvd.collective();
        check_gradients(
            |s, x| math::square(s, allreduce(s, x[0], ReduceOp::Average, &h)?),
            &[Value::from(vec![0.5f64, -1.5, 2.0])],
        );
        check_gradients(
            |s, x| math::square(s, allgather(s, x[0], &h)?),
            &[Value::from_shape_vec(&[2, 2], vec![0.5f64, -1.5, 2.0, 1.0]).unwrap()],
        );
        check_gradients(|s, x| math::square(s, broadcast(s, x[0], 0, &h)?), &[Value::from(vec![0.5f64, -1.5])]);
        check_gradients(
            |s, x| {
                let ys = grouped_allreduce(s, &[x[0], x[1]], ReduceOp::Sum, &h)?;
                math::add(
                    s,
                    math::reduce_sum(s, math::square(s, ys[0])?, None, false)?,
                    math::reduce_sum(s, ys[1], None, false)?,
                )
            },
            &[Value::from(vec![0.5f64, -1.5]), Value::from(vec![2.0f64])],
        );
    }

    #[test]
    fn deserialized_op_reports_missing_collective() {
        let op: Box<dyn Op> = serde_json::from_str(r#"{"Allreduce":{"op":"Sum"}}"#).unwrap();
        let g = Graph::new();
        let s = g.root();
        let x = constant(&s, vec![1.0f32]).unwrap();
        let y = s.add_op_arc(std::sync::Arc::from(op), &[x], "imported").unwrap().output(0);
        let e = Session::new(&g).run([y], &[]).unwrap_err().to_string();
        assert!(e.contains("imported") && e.contains("no collective backend"), "{e}");
    }
}
