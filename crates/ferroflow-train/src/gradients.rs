//! `gradients(ys, xs, grad_ys)`: symbolic differentiation by adding gradient ops to the graph.
//!
//! Like TF1's `tf.gradients`: contributions are summed over all paths; `None` for xs that do
//! not reach ys; `stop_gradient` honoured; integer and bool tensors carry no gradient;
//! several ys are summed. Each node's gradient ops are built in the node's own cond branch, so
//! they run only when the branch ran; a gradient leaving a branch for a tensor outside it goes
//! through a `Merge` with zeros, so it is zero when the branch was not taken.

use ferroflow_core::{CondCtxId, Error, GradCtx, Graph, NodeData, Operation, Result, Scope, Tensor};
use ferroflow_ops::array::{ones_like, zeros_like};
use ferroflow_ops::control::{identity, merge};
use ferroflow_ops::math::add_n;
use ferroflow_ops::nn::norm::{BatchNormApply, BatchNormTrainingGrad, FusedMoments};
use std::collections::HashMap;
use std::sync::Arc;

/// Symbolic gradients of `sum(ys)` with respect to each of `xs`. TF1: `tf.gradients`.
///
/// `grad_ys` (one per y, same shape) weights each y; by default ones. Returns `None` for an x
/// no y depends on (through float tensors).
///
/// ```
/// use ferroflow_core::{DType, Graph, shape};
/// use ferroflow_ops::{math, placeholder};
/// use ferroflow_session::{feed_dict, Session};
/// use ferroflow_train::gradients;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = placeholder(&s, DType::F32, shape![])?;
/// let y = math::mul(&s, x, x)?; // y = x²
/// let dx = gradients(&s, &[y], &[x], None)?[0].expect("x reaches y");
/// let out = Session::new(&g).run([dx], &feed_dict![x => 3.0f32])?;
/// assert_eq!(out[0].scalar::<f32>()?, 6.0);
/// # Ok(()) }
/// ```
///
/// # Errors
/// Handles from another graph; `grad_ys` of the wrong count/dtype; an op on the path with no
/// gradient function (name and type reported).
pub fn gradients(s: &Scope, ys: &[Tensor], xs: &[Tensor], grad_ys: Option<&[Tensor]>) -> Result<Vec<Option<Tensor>>> {
    let g = s.graph().clone();
    for t in ys.iter().chain(xs) {
        g.check_graph(t.graph_id(), || format!("tensor {t:?}"))?;
        g.spec(*t)?;
    }
    if let Some(gy) = grad_ys {
        if gy.len() != ys.len() {
            return Err(Error::invalid(format!("gradients: {} grad_ys for {} ys", gy.len(), ys.len())));
        }
    }
    let n = g.num_nodes();
    // Forward reachability from xs and backward reachability to ys, over data edges.
    let (forward, backward, consumers) = g.read(|st| {
        let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
        for i in 0..n {
            if let Some(node) = st.node_at(i) {
                for t in &node.inputs {
                    consumers[t.op().node_index()].push(i);
                }
            }
        }
        let mut forward = vec![false; n];
        for x in xs {
            forward[x.op().node_index()] = true;
        }
        for i in 0..n {
            if !forward[i] {
                if let Some(node) = st.node_at(i) {
                    forward[i] = node.inputs.iter().any(|t| forward[t.op().node_index()]);
                }
            }
        }
        let mut backward = vec![false; n];
        for y in ys {
            backward[y.op().node_index()] = true;
        }
        for i in (0..n).rev() {
            if !backward[i] {
                backward[i] = consumers[i].iter().any(|&c| backward[c]);
            }
        }
        (forward, backward, consumers)
    });

    let gs = s.sub_scope("gradients");
    // Pending contributions per tensor, each with the cond context it was computed in.
    let mut pending: HashMap<Tensor, Vec<(Tensor, Option<CondCtxId>)>> = HashMap::new();
    for (i, y) in ys.iter().enumerate() {
        let ctx = g.node(y.op())?.cond_ctx;
        let seed = match grad_ys {
            Some(gy) => {
                let t = gy[i];
                if t.dtype(s)? != y.dtype(s)? {
                    return Err(Error::invalid(format!(
                        "grad_ys[{i}] is {} but '{}' is {}",
                        t.dtype(s)?,
                        y.name(s)?,
                        y.dtype(s)?
                    )));
                }
                t
            }
            None => ones_like(&gs.with_cond_ctx(ctx), *y)?,
        };
        pending.entry(*y).or_default().push((seed, ctx));
    }

    let x_ops: Vec<usize> = xs.iter().map(|x| x.op().node_index()).collect();
    // Nodes whose gradient a fused-gradient region already built.
    let mut handled = vec![false; n];
    for i in (0..n).rev() {
        if !(forward[i] && backward[i]) || handled[i] {
            continue;
        }
        let op = Operation::from_raw(g.id(), i as u32);
        let node = g.node(op)?;
        let mut out_grads = Vec::with_capacity(node.outputs.len());
        let mut any = false;
        for k in 0..node.outputs.len() {
            let t = op.output(k);
            let gsum = aggregate(&g, &gs, t, node.cond_ctx, pending.remove(&t))?;
            any |= gsum.is_some();
            out_grads.push(gsum);
        }
        if !any {
            continue;
        }
        // Leave the gradients of xs in place; still propagate through them if they are
        // themselves downstream of other xs.
        for (k, gk) in out_grads.iter().enumerate() {
            if let Some(gk) = gk {
                if x_ops.contains(&i) {
                    pending.entry(op.output(k)).or_default().push((*gk, node.cond_ctx));
                }
            }
        }
        if !node.inputs.iter().any(|t| forward[t.op().node_index()]) {
            continue;
        }
        if let (Some(region), Some(dy)) = (bn_region(&g, i, &forward, &backward, &consumers, &x_ops), out_grads[0]) {
            for (t, grad) in region.build(&g, &gs, dy, &forward)? {
                pending.entry(t).or_default().push((grad, node.cond_ctx));
            }
            region.members.iter().for_each(|&m| handled[m] = true);
            continue;
        }
        for (t, gj, ctx) in node_gradients(&g, &gs, op, &node, &out_grads, &forward)? {
            pending.entry(t).or_default().push((gj, ctx));
        }
    }
    let mut out = Vec::with_capacity(xs.len());
    for x in xs {
        let ctx = g.node(x.op())?.cond_ctx;
        let contributions = pending.get(x).cloned();
        out.push(aggregate(&g, &gs, *x, ctx, contributions)?);
    }
    Ok(out)
}

/// Sums the contributions to tensor `t` (which lives in `ctx`), first moving each one out of
/// any deeper cond branch it was computed in.
fn aggregate(
    g: &Graph,
    gs: &Scope,
    t: Tensor,
    ctx: Option<CondCtxId>,
    contributions: Option<Vec<(Tensor, Option<CondCtxId>)>>,
) -> Result<Option<Tensor>> {
    let Some(cs) = contributions else { return Ok(None) };
    let s = gs.with_cond_ctx(ctx);
    let mut terms = Vec::with_capacity(cs.len());
    for (grad, gctx) in cs {
        if gctx == ctx {
            terms.push(grad);
            continue;
        }
        // Exit the branch: the gradient where the branch ran, zeros where it did not.
        let grad_ctx = g.node(grad.op())?.cond_ctx;
        let inner =
            if g.read(|st| st.ctx_encloses(gctx, grad_ctx)) { grad } else { identity(&s.with_cond_ctx(gctx), grad)? };
        let zeros = zeros_like(&s, t)?;
        terms.push(merge(&s, &[inner, zeros])?);
    }
    Ok(Some(add_n(&s, &terms)?))
}

/// The gradient contributions of one node: `(input, gradient, context the gradient lives in)`
/// for each float input reachable from the xs.
fn node_gradients(
    g: &Graph,
    gs: &Scope,
    op: Operation,
    node: &NodeData,
    out_grads: &[Option<Tensor>],
    forward: &[bool],
) -> Result<Vec<(Tensor, Tensor, Option<CondCtxId>)>> {
    let specs: Vec<_> = g.read(|st| node.inputs.iter().map(|t| st.spec(*t).cloned()).collect::<Result<Vec<_>>>())?;
    let grad_scope = gs.sub_scope(&format!("{}_grad", node.name)).with_cond_ctx(node.cond_ctx);
    let cx = GradCtx::new(op, &node.name, node.op.type_name(), &node.inputs, &specs, &node.outputs, out_grads);
    let in_grads = node.op.gradient(&grad_scope, &cx)?;
    let merge_like = node.op.accepts_dead_inputs();
    let mut out = Vec::new();
    for (j, (t, gj)) in node.inputs.iter().zip(in_grads).enumerate() {
        let Some(gj) = gj else { continue };
        if !forward[t.op().node_index()] || !specs[j].dtype.is_float() {
            continue;
        }
        // A Merge's gradient ops live in each input's own branch.
        let ctx = if merge_like { g.node(t.op())?.cond_ctx } else { node.cond_ctx };
        out.push((*t, gj, ctx));
    }
    Ok(out)
}

/// `batch_normalization(x, moments(x))` with offset and scale, in training form: its
/// gradient is built from the primitives as usual, but inside one recorded composite whose
/// fused op is the closed-form backward (`BatchNormTrainingGrad`), so a session's graph
/// optimizer can run one kernel for the whole subgraph.
struct BnRegion {
    /// Node indices of the moments and batchnorm composites, ascending.
    members: Vec<usize>,
    name: String,
    epsilon: f64,
    /// `x`, `scale`, `offset`, `mean`, `variance` (the forward composites' inputs/outputs).
    x: Tensor,
    scale: Tensor,
    offset: Tensor,
    mean: Tensor,
    variance: Tensor,
}

/// The BN region whose output is node `i`, when its gradient can be built as one region: its
/// intermediates feed nothing else on the path from the xs to the ys, no x lies inside, and
/// its members read nothing reachable from the xs but `x`, `scale` and `offset`.
fn bn_region(
    g: &Graph,
    i: usize,
    forward: &[bool],
    backward: &[bool],
    consumers: &[Vec<usize>],
    x_ops: &[usize],
) -> Option<BnRegion> {
    g.read(|st| {
        let comps = st.composites();
        let bn = comps.iter().find(|c| {
            c.nodes.end == i + 1 && c.outputs.first().copied().flatten().is_some_and(|y| y.op().node_index() == i)
        })?;
        let apply = bn.fused.downcast_ref::<BatchNormApply>()?;
        if !(apply.has_offset && apply.has_scale) || bn.inputs.len() != 5 {
            return None;
        }
        let (x, mean, variance, offset, scale) = (bn.inputs[0], bn.inputs[1], bn.inputs[2], bn.inputs[3], bn.inputs[4]);
        let mo = comps.iter().find(|c| c.outputs == [Some(mean), Some(variance)] && c.inputs == [x])?;
        mo.fused.downcast_ref::<FusedMoments>().filter(|m| !m.keep_dims)?;
        let one_d = |t: Tensor| st.spec(t).ok().and_then(|sp| sp.shape.rank()) == Some(1);
        if ![scale, offset, mean, variance].into_iter().all(one_d) {
            return None;
        }
        let members: Vec<usize> = mo.nodes.clone().chain(bn.nodes.clone()).collect();
        let is_member = |k: usize| mo.nodes.contains(&k) || bn.nodes.contains(&k);
        if members.iter().any(|m| x_ops.contains(m)) {
            return None;
        }
        for &m in &members {
            let node = st.node_at(m)?;
            // Intermediates used elsewhere on the gradient path: keep the general driver.
            if m != i && consumers[m].iter().any(|&c| !is_member(c) && forward[c] && backward[c]) {
                return None;
            }
            for t in &node.inputs {
                let p = t.op().node_index();
                if !is_member(p) && forward[p] && ![x, scale, offset].contains(t) {
                    return None;
                }
            }
        }
        let name = format!("{}_grad", bn.name);
        Some(BnRegion { members, name, epsilon: apply.epsilon, x, scale, offset, mean, variance })
    })
}

impl BnRegion {
    /// Builds the members' gradients from `dy` (the primitives' gradient functions, summed
    /// inside the region), records them as one composite, and returns the region's
    /// contribution to each of `x`, `scale`, `offset` that is reachable from the xs.
    fn build(&self, g: &Graph, gs: &Scope, dy: Tensor, forward: &[bool]) -> Result<Vec<(Tensor, Tensor)>> {
        let start = g.num_nodes();
        let y_index = self.members.last().copied().unwrap_or(0);
        let mut local: HashMap<Tensor, Vec<Tensor>> = HashMap::new();
        local.entry(Operation::from_raw(g.id(), y_index as u32).output(0)).or_default().push(dy);
        for &m in self.members.iter().rev() {
            let op = Operation::from_raw(g.id(), m as u32);
            let node = g.node(op)?;
            let mut out_grads = Vec::with_capacity(node.outputs.len());
            for k in 0..node.outputs.len() {
                out_grads.push(sum_local(gs, node.cond_ctx, local.remove(&op.output(k)))?);
            }
            if out_grads.iter().all(Option::is_none) || !node.inputs.iter().any(|t| forward[t.op().node_index()]) {
                continue;
            }
            for (t, gj, _) in node_gradients(g, gs, op, &node, &out_grads, forward)? {
                local.entry(t).or_default().push(gj);
            }
        }
        let y_ctx = g.node(Operation::from_raw(g.id(), y_index as u32))?.cond_ctx;
        let mut parts = Vec::new();
        let mut outputs = Vec::new();
        for t in [self.x, self.scale, self.offset] {
            let part = sum_local(gs, y_ctx, local.remove(&t))?;
            outputs.push(part);
            if let Some(p) = part {
                parts.push((t, p));
            }
        }
        if g.num_nodes() > start {
            let fused = Arc::new(BatchNormTrainingGrad { epsilon: self.epsilon });
            g.add_composite(&self.name, start, vec![dy, self.x, self.scale, self.mean, self.variance], outputs, fused)?;
        }
        Ok(parts)
    }
}

/// The sum of a region's local contributions to one tensor (built in context `ctx`).
fn sum_local(gs: &Scope, ctx: Option<CondCtxId>, terms: Option<Vec<Tensor>>) -> Result<Option<Tensor>> {
    match terms {
        None => Ok(None),
        Some(t) if t.len() == 1 => Ok(t.first().copied()),
        Some(t) => Ok(Some(add_n(&gs.with_cond_ctx(ctx), &t)?)),
    }
}
