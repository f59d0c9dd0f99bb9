//! `DistributedOptimizer` (any optimizer; gradients averaged over ranks in fused buckets) and
//! `broadcast_global_variables`. Horovod: `hvd.DistributedOptimizer`,
//! `hvd.broadcast_global_variables`.

use crate::collective::{CollectiveRef, HasCollective, ReduceOp};
use crate::ops::{grouped_allreduce, grouped_broadcast};
use ferroflow_core::{DType, Operation, Result, Scope, Tensor, Variable};
use ferroflow_ops::control::group;
use ferroflow_ops::state::assign;
use ferroflow_train::optimizer::{Optimizer, OptimizerCore};
use std::sync::Mutex;

/// Horovod's default fusion threshold: 64 MiB per bucket.
pub const DEFAULT_FUSION_THRESHOLD: usize = 64 * 1024 * 1024;

/// Groups gradients into fusion buckets: consecutive tensors of one dtype while the bucket's
/// bytes stay within `threshold` (a tensor larger than the threshold gets a bucket of its
/// own; `threshold == 0` gives one bucket per tensor). `items` are `(dtype, bytes)`; returns
/// index lists in order. Each bucket becomes one collective.
pub fn fusion_buckets(items: &[(DType, usize)], threshold: usize) -> Vec<Vec<usize>> {
    // One open bucket per dtype, so interleaved dtypes do not split buckets.
    let mut open: Vec<(DType, usize, Vec<usize>)> = Vec::new();
    let mut done: Vec<Vec<usize>> = Vec::new();
    for (i, &(dtype, bytes)) in items.iter().enumerate() {
        match open.iter_mut().position(|b| b.0 == dtype) {
            Some(k) if threshold > 0 && open[k].1.saturating_add(bytes) <= threshold => {
                open[k].1 += bytes;
                open[k].2.push(i);
            }
            Some(k) => {
                let old = std::mem::replace(&mut open[k], (dtype, bytes, vec![i]));
                done.push(old.2);
            }
            None => open.push((dtype, bytes, vec![i])),
        }
    }
    done.extend(open.into_iter().map(|b| b.2));
    done.sort_by_key(|b| b.first().copied().unwrap_or(usize::MAX));
    done
}

/// Wraps an optimizer for data-parallel training: `compute_gradients` computes the local
/// gradients, then averages them over all ranks — packed into buckets of at most
/// `fusion_threshold` bytes (default 64 MiB, as Horovod), one allreduce per bucket — and
/// `apply_gradients` is the wrapped optimizer's, applied locally on every rank. Since every
/// rank starts from the same variables (see [`broadcast_global_variables`]) and applies the
/// same averaged gradients, the variables stay identical. Horovod: `hvd.DistributedOptimizer`.
///
/// Scale the learning rate with the number of ranks when the global batch grows with it
/// (Horovod's advice: `lr * size`).
///
/// ```
/// use ferroflow_core::{Graph, Value};
/// use ferroflow_distributed::{DistributedOptimizer, Hvd};
/// use ferroflow_ops::{math, state::{global_variables_initializer, variable, VariableOptions}};
/// use ferroflow_session::Session;
/// use ferroflow_train::optimizer::{GradientDescentOptimizer, Optimizer};
/// # fn main() -> ferroflow_core::Result<()> {
/// let hvd = Hvd::local();
/// let g = Graph::new();
/// let s = g.root();
/// let w = variable(&s.with_name("w"), vec![1.0f32, -2.0], VariableOptions::default())?;
/// let loss = math::mul(&s, math::square(&s, w)?, 0.5f32)?;
/// let opt = DistributedOptimizer::new(GradientDescentOptimizer::new(0.5f32), &hvd);
/// let train = opt.minimize(&s, loss, None, None)?;
/// let sess = Session::new(&g);
/// sess.run_ops(&[global_variables_initializer(&s)?], &[])?;
/// sess.run_ops(&[train], &[])?;
/// assert_eq!(sess.run([w], &[])?[0].to_vec::<f32>()?, vec![0.5, -1.0]);
/// assert_eq!(opt.allreduce_ops().len(), 1); // one bucket
/// # Ok(()) }
/// ```
pub struct DistributedOptimizer<O> {
    inner: O,
    collective: CollectiveRef,
    fusion_threshold: usize,
    op: ReduceOp,
    built: Mutex<Vec<Operation>>,
}

impl<O: Optimizer> DistributedOptimizer<O> {
    /// Wraps `inner`, averaging gradients over the ranks of `c`'s job.
    pub fn new(inner: O, c: &impl HasCollective) -> Self {
        DistributedOptimizer {
            inner,
            collective: c.collective(),
            fusion_threshold: DEFAULT_FUSION_THRESHOLD,
            op: ReduceOp::Average,
            built: Mutex::new(Vec::new()),
        }
    }
    /// Sets the fusion threshold in bytes (Horovod: `HOROVOD_FUSION_THRESHOLD`); 0 = one
    /// allreduce per gradient.
    pub fn fusion_threshold(mut self, bytes: usize) -> Self {
        self.fusion_threshold = bytes;
        self
    }
    /// `Sum` instead of the default `Average` (Horovod: `op=hvd.Sum`).
    pub fn reduce_op(mut self, op: ReduceOp) -> Self {
        self.op = op;
        self
    }
    /// The wrapped optimizer.
    pub fn inner(&self) -> &O {
        &self.inner
    }
    /// The allreduce ops built so far, one per fusion bucket (for inspection and tests).
    pub fn allreduce_ops(&self) -> Vec<Operation> {
        self.built.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

impl<O: Optimizer> Optimizer for DistributedOptimizer<O> {
    fn core(&self) -> &OptimizerCore {
        self.inner.core()
    }
    fn create_slots(&self, s: &Scope, var_list: &[Variable]) -> Result<()> {
        self.inner.create_slots(s, var_list)
    }
    fn apply_dense(&self, s: &Scope, grad: Tensor, var: Variable, lr: Tensor) -> Result<Operation> {
        self.inner.apply_dense(s, grad, var, lr)
    }
    fn finish(&self, s: &Scope, update_ops: &[Operation]) -> Result<Vec<Operation>> {
        self.inner.finish(s, update_ops)
    }
    fn name(&self) -> String {
        self.inner.name()
    }
    fn compute_gradients(
        &self,
        s: &Scope,
        loss: Tensor,
        var_list: Option<&[Variable]>,
    ) -> Result<Vec<(Option<Tensor>, Variable)>> {
        let mut gv = self.inner.compute_gradients(s, loss, var_list)?;
        let present: Vec<usize> = (0..gv.len()).filter(|&i| gv[i].0.is_some()).collect();
        let items: Vec<(DType, usize)> = present
            .iter()
            .map(|&i| {
                let v = gv[i].1;
                let dtype = v.dtype(s)?;
                // Unknown static shape: count it as a full bucket (it gets its own).
                let bytes = v.shape(s)?.as_known().map_or(self.fusion_threshold, |d| {
                    d.iter().product::<usize>() * ferroflow_core::value::dtype_size(dtype)
                });
                Ok((dtype, bytes))
            })
            .collect::<Result<_>>()?;
        let scope = s.sub_scope("DistributedOptimizer");
        for bucket in fusion_buckets(&items, self.fusion_threshold) {
            let idx: Vec<usize> = bucket.iter().map(|&k| present[k]).collect();
            let grads: Vec<Tensor> = idx.iter().filter_map(|&i| gv[i].0).collect();
            let reduced = grouped_allreduce(&scope, &grads, self.op, &self.collective)?;
            if let Some(first) = reduced.first() {
                if let Ok(mut b) = self.built.lock() {
                    b.push(first.op());
                }
            }
            for (&i, r) in idx.iter().zip(reduced) {
                gv[i].0 = Some(r);
            }
        }
        Ok(gv)
    }
}

/// An op that sets every global variable to rank `root`'s value (one broadcast per dtype,
/// then an assign per variable). Run it once after the initializer (or a restore), so every
/// rank starts from the same point. Horovod: `hvd.broadcast_global_variables(root_rank)`.
/// Bool variables are left out (collectives move numbers; cast them if they must agree).
///
/// # Errors
/// Build: `root >= size`, an empty `GLOBAL_VARIABLES`. Run: a variable of another shape on
/// some rank (the error names it and the ranks' shapes).
pub fn broadcast_global_variables(s: &Scope, root: usize, c: &impl HasCollective) -> Result<Operation> {
    let vars: Vec<Variable> =
        s.graph().global_variables().into_iter().filter(|v| v.dtype(s).is_ok_and(|d| d != DType::Bool)).collect();
    broadcast_variables(s, &vars, root, c)
}

/// [`broadcast_global_variables`] for a given list of variables.
pub fn broadcast_variables(s: &Scope, vars: &[Variable], root: usize, c: &impl HasCollective) -> Result<Operation> {
    let scope = s.sub_scope("BroadcastGlobalVariables");
    if vars.is_empty() {
        return Err(
            scope.build_error("HorovodBroadcast", "no variables to broadcast; create the model's variables first")
        );
    }
    let values: Vec<Tensor> = vars.iter().map(|v| v.value()).collect();
    let out = grouped_broadcast(&scope, &values, root, c)?;
    let mut assigns = Vec::with_capacity(vars.len());
    for (v, b) in vars.iter().zip(out) {
        assigns.push(assign(&scope, *v, b)?.op());
    }
    group(&scope.with_name("group_deps"), &assigns)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Hvd;
    use ferroflow_core::Graph;
    use ferroflow_ops::math;
    use ferroflow_ops::state::{variable, VariableOptions};
    use ferroflow_train::optimizer::GradientDescentOptimizer;

    #[test]
    fn fusion_threshold_gives_one_allreduce_per_bucket() {
        let hvd = Hvd::local();
        let g = Graph::new();
        let s = g.root();
        let mk = |name: &str| variable(&s.with_name(name), vec![1.0f32; 100], VariableOptions::default()).unwrap();
        let vars = [mk("a"), mk("b"), mk("c")];
        let parts: Vec<Tensor> = vars.iter().map(|v| math::reduce_sum(&s, v.value(), None, false).unwrap()).collect();
        let loss = math::add_n(&s, &parts).unwrap();
        // 400 bytes each: a threshold of 800 bytes gives the buckets {a, b} and {c}.
        let opt = DistributedOptimizer::new(GradientDescentOptimizer::new(0.1f32), &hvd).fusion_threshold(800);
        opt.minimize(&s, loss, None, None).unwrap();
        let ops = opt.allreduce_ops();
        assert_eq!(ops.len(), 2);
        assert_eq!(g.node(ops[0]).unwrap().inputs.len(), 2);
        assert_eq!(g.node(ops[1]).unwrap().inputs.len(), 1);
        // The default threshold: one bucket.
        let g2 = Graph::new();
        let s2 = g2.root();
        let w = variable(&s2.with_name("w"), vec![1.0f32; 10], VariableOptions::default()).unwrap();
        let v = variable(&s2.with_name("v"), vec![1.0f32; 10], VariableOptions::default()).unwrap();
        let l2 = math::add(
            &s2,
            math::reduce_sum(&s2, w.value(), None, false).unwrap(),
            math::reduce_sum(&s2, v.value(), None, false).unwrap(),
        )
        .unwrap();
        let opt2 = DistributedOptimizer::new(GradientDescentOptimizer::new(0.1f32), &hvd);
        opt2.minimize(&s2, l2, None, None).unwrap();
        assert_eq!(opt2.allreduce_ops().len(), 1);
    }

    #[test]
    fn buckets_respect_threshold_and_dtype() {
        let f = DType::F32;
        let d = DType::F64;
        assert_eq!(fusion_buckets(&[(f, 10), (f, 10), (f, 10)], 25), vec![vec![0, 1], vec![2]]);
        assert_eq!(fusion_buckets(&[(f, 10), (d, 10), (f, 10)], 100), vec![vec![0, 2], vec![1]]);
        assert_eq!(fusion_buckets(&[(f, 100), (f, 1)], 50), vec![vec![0], vec![1]]);
        assert_eq!(fusion_buckets(&[(f, 1), (f, 1)], 0), vec![vec![0], vec![1]]);
        assert!(fusion_buckets(&[], 10).is_empty());
    }
}
