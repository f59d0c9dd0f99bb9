//! `gradients(ys, xs, grad_ys)`: symbolic differentiation by adding gradient ops to the graph.
//!
//! Like TF1's `tf.gradients`: contributions are summed over all paths; `None` for xs that do
//! not reach ys; `stop_gradient` honoured; integer and bool tensors carry no gradient;
//! several ys are summed. Each node's gradient ops are built in the node's own cond branch, so
//! they run only when the branch ran; a gradient leaving a branch for a tensor outside it goes
//! through a `Merge` with zeros, so it is zero when the branch was not taken.

use ferroflow_core::{CondCtxId, Error, GradCtx, Graph, Operation, Result, Scope, Tensor};
use ferroflow_ops::array::{ones_like, zeros_like};
use ferroflow_ops::control::{identity, merge};
use ferroflow_ops::math::add_n;
use std::collections::HashMap;

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
        g.check_graph(t.graph_id(), || format!("tensor '{}'", t.name()))?;
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
    drop(consumers);

    let gs = s.sub_scope("gradients");
    // Pending contributions per tensor, each with the cond context it was computed in.
    let mut pending: HashMap<Tensor, Vec<(Tensor, Option<CondCtxId>)>> = HashMap::new();
    for (i, y) in ys.iter().enumerate() {
        let ctx = g.node(y.op())?.cond_ctx;
        let seed = match grad_ys {
            Some(gy) => {
                let t = gy[i];
                if t.dtype() != y.dtype() {
                    return Err(Error::invalid(format!("grad_ys[{i}] is {} but '{}' is {}", t.dtype(), y.name(), y.dtype())));
                }
                t
            }
            None => ones_like(&gs.with_cond_ctx(ctx), *y)?,
        };
        pending.entry(*y).or_default().push((seed, ctx));
    }

    let x_ops: Vec<usize> = xs.iter().map(|x| x.op().node_index()).collect();
    for i in (0..n).rev() {
        if !(forward[i] && backward[i]) {
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
        let specs: Vec<_> = g.read(|st| node.inputs.iter().map(|t| st.spec(*t).cloned()).collect::<Result<Vec<_>>>())?;
        let grad_scope = gs.sub_scope(&format!("{}_grad", node.name)).with_cond_ctx(node.cond_ctx);
        let cx = GradCtx::new(op, &node.name, node.op.type_name(), &node.inputs, &specs, &node.outputs, &out_grads);
        let in_grads = node.op.gradient(&grad_scope, &cx)?;
        let merge_like = node.op.accepts_dead_inputs();
        for (j, (t, gj)) in node.inputs.iter().zip(in_grads).enumerate() {
            let Some(gj) = gj else { continue };
            if !forward[t.op().node_index()] || !specs[j].dtype.is_float() {
                continue;
            }
            // A Merge's gradient ops live in each input's own branch.
            let ctx = if merge_like { g.node(t.op())?.cond_ctx } else { node.cond_ctx };
            pending.entry(*t).or_default().push((gj, ctx));
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
        let inner = if g.read(|st| st.ctx_encloses(gctx, grad_ctx)) { grad } else { identity(&s.with_cond_ctx(gctx), grad)? };
        let zeros = zeros_like(&s, t)?;
        terms.push(merge(&s, &[inner, zeros])?);
    }
    Ok(Some(add_n(&s, &terms)?))
}
