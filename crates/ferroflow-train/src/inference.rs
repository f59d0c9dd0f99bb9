//! `optimize_for_inference`: a frozen, pruned copy of a trained graph for serving.
//!
//! TF1 serves a trained model through `freeze_graph` + `optimize_for_inference`: variables
//! become constants, the training branch and its `assign`s disappear, batch norm is folded into
//! the convolution or matmul before it, and identities go away. [`optimize_for_inference`]
//! does all of that in one call on a live [`Session`] (it reads the variables' current values)
//! and returns a new graph that needs no initializer, no checkpoint and no `is_training` feed.
//!
//! The rewrite works on a small intermediate form: every node that the outputs need and that
//! depends on an input is copied (sharing its op); every tensor that depends only on constants,
//! variables and the `fixed` feeds is evaluated once by the session and becomes a `Const`.
//! A `cond` whose predicate is fixed keeps only its taken branch. Then the folding rules run
//! (see the table in `docs/serving.md`) and the result is emitted in dependency order.

use ferroflow_core::{CondBranch, CondCtxId, Error, Graph, NodeData, Op, Operation, Result, Tensor, Value};
use ferroflow_ops::control::Identity;
use ferroflow_ops::math::binary::{Binary, BinaryKind};
use ferroflow_ops::math::matmul::MatMul;
use ferroflow_ops::nn::conv::{BiasAdd, Conv2D};
use ferroflow_ops::nn::norm::FusedBatchNorm;
use ferroflow_ops::state::{Const, Placeholder};
use ferroflow_session::Session;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The result of [`optimize_for_inference`]: a new graph and its inputs and outputs.
#[derive(Clone)]
pub struct InferenceGraph {
    /// The optimized graph (constants only; run it with a fresh `Session`, no initializer).
    pub graph: Graph,
    /// A placeholder for each requested input, in order, under the input's op name.
    pub inputs: Vec<Tensor>,
    /// Each requested output, in order, under the output's op name.
    pub outputs: Vec<Tensor>,
    /// What the rewrite did.
    pub stats: InferenceStats,
}

/// Counts reported by [`optimize_for_inference`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InferenceStats {
    /// Nodes of the original graph the outputs depend on (all branches, without the fixes).
    pub nodes_before: usize,
    /// Nodes of the optimized graph.
    pub nodes_after: usize,
    /// Tensors evaluated once and stored as constants (variables and what only they feed).
    pub frozen_tensors: usize,
    /// `cond`s on the outputs' path whose predicate was fixed, so that only one branch was kept.
    pub pruned_conds: usize,
    /// Batch norms folded into the convolution or matmul before them.
    pub folded_batch_norms: usize,
    /// `Identity`, `StopGradient` and single-branch `Merge` nodes removed.
    pub removed_identities: usize,
}

/// Freezes and prunes `sess`'s graph for serving `outputs` from `inputs`.
///
/// TF1: `freeze_graph` followed by `optimize_for_inference(graph_def, input_names,
/// output_names)`. `fixed` holds values that are constant while serving — usually
/// `is_training => false` (and a `keep_prob => 1.0` where a graph feeds one). The rules:
///
/// - variables are read from `sess` now and become `Const`s; so does every tensor computed
///   only from constants, variables and `fixed` (the batch norm's `rsqrt(var + ε)·γ`, …);
/// - a `cond` whose predicate is fixed keeps only the branch it takes (its `assign`s and
///   moments are gone); a `cond` on an input stays a `cond`;
/// - control dependencies are dropped (in serving they only order the training updates);
/// - batch norm after `Conv2D` or `MatMul` (`x·inv + shift` from `nn::batch_normalization`,
///   or an inference-mode `FusedBatchNorm`) is folded into the filter or weight matrix, a bias
///   before it into the shift; `Identity`/`StopGradient` and single-branch `Merge`s go away.
///
/// The outputs equal the original graph's within float rounding (the folded filter rounds
/// once more); `docs/serving.md` lists the measured differences for the founding networks.
/// The new graph keeps the names of the inputs and outputs (`"inputs:0"`, `"logits:0"`).
///
/// ```
/// use ferroflow_core::{shape, DType, Graph};
/// use ferroflow_ops::{cond, math, placeholder, state::{variable, VariableOptions}};
/// use ferroflow_session::{feed_dict, Session};
/// use ferroflow_train::optimize_for_inference;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 2])?;
/// let is_training = placeholder(&s.with_name("is_training"), DType::Bool, shape![])?;
/// let w = variable(&s.with_name("w"), ndarray::arr1(&[2.0f32, 3.0]), VariableOptions::default())?;
/// let y = cond(&s, is_training, |s| math::mul(s, x, 0.0f32), |s| math::mul(s, x, w.value()))?;
/// let y = ferroflow_ops::identity(&s.with_name("y"), y)?;
/// let sess = Session::new(&g);
/// sess.run_ops(&[w.initializer()], &[])?;
/// let served = optimize_for_inference(&sess, &[x], &[y], &feed_dict![is_training => false])?;
/// let out = Session::new(&served.graph).run([served.outputs[0]], &feed_dict![served.inputs[0] => ndarray::arr2(&[[1.0f32, 1.0]]).into_dyn()])?;
/// assert_eq!(out[0].to_vec::<f32>()?, vec![2.0, 3.0]);
/// assert_eq!(served.stats.pruned_conds, 1);
/// # Ok(()) }
/// ```
///
/// # Errors
/// A handle from another graph; an input that is also fixed; an output that needs a
/// placeholder that is neither an input nor fixed (the error names it); a variable that is not
/// initialized (run the initializer or restore first); errors of the session evaluating the
/// frozen tensors.
pub fn optimize_for_inference(
    sess: &Session,
    inputs: &[Tensor],
    outputs: &[Tensor],
    fixed: &[(Tensor, Value)],
) -> Result<InferenceGraph> {
    let g = sess.graph();
    for t in inputs.iter().chain(outputs).chain(fixed.iter().map(|(t, _)| t)) {
        g.check_graph(t.graph_id(), || format!("tensor {t:?} given to optimize_for_inference"))?;
    }
    if let Some(t) = inputs.iter().find(|t| fixed.iter().any(|(f, _)| f == *t)) {
        return Err(Error::invalid(format!(
            "optimize_for_inference: '{}' is both an input and fixed; give it in one of the two lists",
            t.name(sess)?
        )));
    }
    let mut cx = Freezer::new(sess, inputs, fixed);
    cx.classify()?;
    let mut ir = cx.build_ir(outputs)?;
    let mut stats = cx.stats.clone();
    stats.nodes_before = cx.count_reachable(outputs);
    stats.folded_batch_norms = ir.fold()?;
    let out = ir.emit()?;
    stats.nodes_after = out.graph.num_nodes();
    Ok(InferenceGraph { stats, ..out })
}

/// How a tensor of the original graph is available to the new one.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Operand {
    /// Output `1` of IR node `0`.
    Node(usize, usize),
    /// Static value `0` (evaluated or folded).
    Static(usize),
}

/// What a node of the original graph is, once the fixes are known.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// In a branch that is never taken.
    Dead,
    /// Depends only on constants, variables and fixed feeds.
    Static,
    /// Depends on an input (or is stateful, or lies in a branch of a `cond` on an input).
    Dynamic,
    /// A placeholder that is neither an input nor fixed.
    Unfed,
}

/// The original graph's state for one `cond` branch context.
#[derive(Clone, Copy, Debug)]
enum CtxState {
    /// The branch is always taken: its nodes live in this context of the new graph.
    Live(Option<CondCtxId>),
    /// The branch is never taken.
    Dead,
    /// The predicate depends on an input: the branch stays a branch (old context id).
    Kept(CondCtxId),
}

struct Freezer<'a> {
    sess: &'a Session,
    nodes: Vec<NodeData>,
    kinds: Vec<Kind>,
    ctx: HashMap<CondCtxId, CtxState>,
    inputs: Vec<Tensor>,
    fixed: &'a [(Tensor, Value)],
    stats: InferenceStats,
}

/// One node of the new graph before emission.
struct IrNode {
    name: String,
    op: Arc<dyn Op>,
    inputs: Vec<Operand>,
    /// The old context it lives in, when it stays inside a kept `cond` branch.
    ctx: Option<CondCtxId>,
}

/// A `cond` branch that stays a branch (its predicate depends on an input).
struct IrCtx {
    pred: Operand,
    branch: bool,
    /// The nearest enclosing kept context.
    parent: Option<CondCtxId>,
    name: String,
}

struct Ir {
    nodes: Vec<IrNode>,
    ctxs: HashMap<CondCtxId, IrCtx>,
    statics: Vec<(String, Value)>,
    outputs: Vec<(String, Operand)>,
    inputs: Vec<(String, usize)>,
}

fn is_type(n: &NodeData, name: &str) -> bool {
    n.op.type_name() == name
}

impl<'a> Freezer<'a> {
    fn new(sess: &'a Session, inputs: &[Tensor], fixed: &'a [(Tensor, Value)]) -> Self {
        let nodes = sess.graph().export_nodes();
        let kinds = vec![Kind::Dynamic; nodes.len()];
        Freezer {
            sess,
            nodes,
            kinds,
            ctx: HashMap::new(),
            inputs: inputs.to_vec(),
            fixed,
            stats: InferenceStats::default(),
        }
    }

    fn is_fixed(&self, t: Tensor) -> bool {
        self.fixed.iter().any(|(f, _)| *f == t)
    }

    fn is_input(&self, t: Tensor) -> bool {
        self.inputs.contains(&t)
    }

    /// A tensor is static when it is fixed or its node is static (and it is not an input).
    fn tensor_kind(&self, t: Tensor) -> Kind {
        if self.is_input(t) {
            Kind::Dynamic
        } else if self.is_fixed(t) {
            Kind::Static
        } else {
            self.kinds.get(t.op().node_index()).copied().unwrap_or(Kind::Dynamic)
        }
    }

    /// Resolves a branch context (and its parents): evaluates a static predicate once.
    fn ctx_state(&mut self, ctx: Option<CondCtxId>) -> Result<CtxState> {
        let Some(id) = ctx else { return Ok(CtxState::Live(None)) };
        if let Some(s) = self.ctx.get(&id) {
            return Ok(*s);
        }
        let g = self.sess.graph().clone();
        let branch = g.cond_branch(id).ok_or_else(|| Error::invalid(format!("cond context #{} is missing", id.0)))?;
        let state = match self.ctx_state(branch.parent)? {
            CtxState::Dead => CtxState::Dead,
            parent => match self.tensor_kind(branch.pred) {
                Kind::Static => {
                    let taken = self.evaluate(&[branch.pred])?.remove(0).scalar::<bool>()?;
                    if taken != branch.branch {
                        CtxState::Dead
                    } else {
                        match parent {
                            CtxState::Live(p) => CtxState::Live(p),
                            _ => parent,
                        }
                    }
                }
                Kind::Dead => CtxState::Dead,
                Kind::Unfed => {
                    return Err(self.unfed_error(branch.pred, &format!("the predicate of cond '{}'", branch.name)))
                }
                Kind::Dynamic => CtxState::Kept(id),
            },
        };
        self.ctx.insert(id, state);
        Ok(state)
    }

    /// Runs the session for static tensors. A `Merge` whose untaken branch reads a placeholder
    /// makes the plan ask for that placeholder (TF1 too), though the branch never runs: every
    /// placeholder that is not fixed gets a zero feed of its static shape for this one run.
    /// No node that runs reads it (that node would not be static).
    fn evaluate(&self, ts: &[Tensor]) -> Result<Vec<Value>> {
        let mut feeds: Vec<(Tensor, Value)> = self.fixed.to_vec();
        let gid = self.sess.graph().id();
        for (i, n) in self.nodes.iter().enumerate() {
            let t = Operation::from_raw(gid, i as u32).output(0);
            if is_type(n, "Placeholder") && !self.is_fixed(t) {
                if let Some(spec) = n.outputs.first() {
                    let dims: Vec<usize> = match spec.shape.dims() {
                        Some(d) => d.iter().map(|x| x.unwrap_or(1)).collect(),
                        None => Vec::new(),
                    };
                    feeds.push((t, Value::try_zeros(spec.dtype, &dims)?));
                }
            }
        }
        self.sess.run(ts.iter().copied(), &feeds)
    }

    fn unfed_error(&self, t: Tensor, needed_by: &str) -> Error {
        let spec = self.sess.graph().spec(t).ok();
        Error::invalid(format!(
            "optimize_for_inference: {needed_by} needs placeholder '{}' ({}), which is neither an input nor fixed; \
             list it in `inputs` (fed when serving) or in `fixed` (a constant while serving)",
            t.name(self.sess).unwrap_or_else(|_| format!("{t:?}")),
            spec.map(|s| format!("{} {}", s.dtype, s.shape)).unwrap_or_default()
        ))
    }

    /// Classifies every node of the original graph, in creation (= topological) order.
    fn classify(&mut self) -> Result<()> {
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            let (ctx, op_stateful) = (n.cond_ctx, n.op.is_stateful());
            let kind = match self.ctx_state(ctx)? {
                CtxState::Dead => Kind::Dead,
                state => {
                    let n = &self.nodes[i];
                    let in_kept_branch = matches!(state, CtxState::Kept(_));
                    let input_kinds: Vec<Kind> = n.inputs.iter().map(|t| self.tensor_kind(*t)).collect();
                    // Evaluating a node runs its control inputs too: static only if they are.
                    let controls_static =
                        n.control_inputs.iter().all(|c| self.kinds.get(c.node_index()) == Some(&Kind::Static));
                    if is_type(n, "VariableV2") {
                        Kind::Static
                    } else if is_type(n, "Placeholder") {
                        Kind::Unfed
                    } else if is_type(n, "Merge") {
                        let live: Vec<Kind> = input_kinds.iter().copied().filter(|k| *k != Kind::Dead).collect();
                        match live.as_slice() {
                            [] => Kind::Dead,
                            [one] => *one,
                            _ => Kind::Dynamic,
                        }
                    } else if in_kept_branch || op_stateful {
                        Kind::Dynamic
                    } else if input_kinds.contains(&Kind::Dead) {
                        Kind::Dead
                    } else if input_kinds.iter().all(|k| *k == Kind::Static) && controls_static {
                        Kind::Static
                    } else if input_kinds.contains(&Kind::Unfed) {
                        Kind::Unfed
                    } else {
                        Kind::Dynamic
                    }
                }
            };
            self.kinds[i] = kind;
        }
        Ok(())
    }

    /// The `cond`s on the outputs' live path whose `Merge` kept one branch.
    fn count_pruned_conds(&self, outputs: &[Tensor]) -> usize {
        let mut seen = vec![false; self.nodes.len()];
        let mut conds: HashSet<String> = HashSet::new();
        let mut stack: Vec<Tensor> = outputs.to_vec();
        while let Some(t) = stack.pop() {
            let i = t.op().node_index();
            if i >= seen.len() || seen[i] || self.is_input(t) || self.is_fixed(t) {
                continue;
            }
            seen[i] = true;
            let n = &self.nodes[i];
            let live: Vec<Tensor> = n.inputs.iter().copied().filter(|x| self.tensor_kind(*x) != Kind::Dead).collect();
            if is_type(n, "Merge") && live.len() == 1 && n.inputs.len() > 1 {
                let ctx = live.first().and_then(|x| self.nodes[x.op().node_index()].cond_ctx);
                conds.extend(ctx.and_then(|c| self.sess.graph().cond_branch(c)).map(|b| b.name));
            }
            stack.extend(live);
        }
        conds.len()
    }

    /// Original nodes the outputs depend on through data and control inputs, any branch.
    fn count_reachable(&self, outputs: &[Tensor]) -> usize {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack: Vec<usize> = outputs.iter().map(|t| t.op().node_index()).collect();
        let mut count = 0;
        while let Some(i) = stack.pop() {
            if i >= seen.len() || seen[i] {
                continue;
            }
            seen[i] = true;
            count += 1;
            let n = &self.nodes[i];
            stack.extend(n.inputs.iter().map(|t| t.op().node_index()));
            stack.extend(n.control_inputs.iter().map(|o| o.node_index()));
        }
        count
    }

    /// Copies what the outputs need into the intermediate form; evaluates the static tensors
    /// it reads in one session run.
    fn build_ir(&mut self, outputs: &[Tensor]) -> Result<Ir> {
        // 1. Resolve every tensor the outputs need to a static tensor or a dynamic node.
        let mut needed: Vec<bool> = vec![false; self.nodes.len()];
        let mut static_tensors: Vec<Tensor> = Vec::new();
        let mut stack: Vec<Tensor> = outputs.to_vec();
        let mut visited: HashSet<Tensor> = HashSet::new();
        while let Some(t) = stack.pop() {
            if !visited.insert(t) {
                continue;
            }
            match self.tensor_kind(t) {
                Kind::Static => static_tensors.push(t),
                Kind::Dead => {
                    return Err(Error::invalid(format!(
                        "optimize_for_inference: output '{}' lies in a cond branch that the fixed values never take",
                        t.name(self.sess)?
                    )))
                }
                Kind::Unfed => {
                    let p = self.first_unfed(t);
                    return Err(self.unfed_error(p, &format!("'{}'", t.name(self.sess)?)));
                }
                Kind::Dynamic if self.is_input(t) => {}
                Kind::Dynamic => {
                    let i = t.op().node_index();
                    needed[i] = true;
                    let n = &self.nodes[i];
                    for x in &n.inputs {
                        if self.tensor_kind(*x) != Kind::Dead {
                            stack.push(*x);
                        }
                    }
                    if let Some(CtxState::Kept(id)) = n.cond_ctx.and_then(|c| self.ctx.get(&c).copied()) {
                        self.push_preds(id, &mut stack)?;
                    }
                }
            }
        }
        // 2. Evaluate the static boundary once.
        static_tensors.sort();
        let values = if static_tensors.is_empty() { Vec::new() } else { self.evaluate(&static_tensors)? };
        self.stats.frozen_tensors = static_tensors.len();
        let mut ir = Ir {
            nodes: Vec::new(),
            ctxs: HashMap::new(),
            statics: Vec::new(),
            outputs: Vec::new(),
            inputs: Vec::new(),
        };
        let mut map: HashMap<Tensor, Operand> = HashMap::new();
        for (t, v) in static_tensors.iter().zip(values) {
            map.insert(*t, Operand::Static(ir.statics.len()));
            ir.statics.push((const_name(self.sess.graph(), *t)?, v));
        }
        // 3. Inputs become placeholders.
        for t in &self.inputs {
            let spec = self.sess.graph().spec(*t)?;
            let idx = ir.nodes.len();
            ir.nodes.push(IrNode {
                name: t.op().name(self.sess)?,
                op: Arc::new(Placeholder { dtype: spec.dtype, shape: spec.shape.clone() }),
                inputs: Vec::new(),
                ctx: None,
            });
            ir.inputs.push((t.name(self.sess)?, idx));
            map.insert(*t, Operand::Node(idx, 0));
        }
        // 4. Needed dynamic nodes in creation order (inputs before consumers).
        for (i, n) in self.nodes.iter().enumerate() {
            if !needed[i] {
                continue;
            }
            let op = Operation::from_raw(self.sess.graph().id(), i as u32);
            let live: Vec<Operand> = n
                .inputs
                .iter()
                .filter(|t| self.tensor_kind(**t) != Kind::Dead)
                .map(|t| map.get(t).copied().ok_or_else(|| internal(self.sess.graph(), &n.name, t)))
                .collect::<Result<_>>()?;
            let alias = match n.op.type_name() {
                "Identity" | "StopGradient" | "PlaceholderWithDefault" => live.first().copied(),
                "Merge" if live.len() == 1 => live.first().copied(),
                _ => None,
            };
            if let Some(a) = alias {
                map.insert(op.output(0), a);
                self.stats.removed_identities += 1;
                continue;
            }
            let ctx = match n.cond_ctx.and_then(|c| self.ctx.get(&c).copied()) {
                Some(CtxState::Kept(c)) => Some(c),
                _ => None,
            };
            let idx = ir.nodes.len();
            ir.nodes.push(IrNode { name: n.name.clone(), op: n.op.clone(), inputs: live, ctx });
            for k in 0..n.outputs.len() {
                map.insert(op.output(k), Operand::Node(idx, k));
            }
        }
        self.stats.pruned_conds = self.count_pruned_conds(outputs);
        // 5. The kept cond contexts the copied nodes live in, with their predicates.
        let kept: Vec<CondCtxId> = ir.nodes.iter().filter_map(|n| n.ctx).collect();
        for c in kept {
            let mut cur = Some(c);
            while let Some(id) = cur {
                if ir.ctxs.contains_key(&id) {
                    break;
                }
                let b = self.sess.graph().cond_branch(id).ok_or_else(|| Error::invalid("missing cond context"))?;
                let parent = match self.ctx_state(b.parent)? {
                    CtxState::Kept(p) => Some(p),
                    _ => None,
                };
                let pred = map.get(&b.pred).copied().ok_or_else(|| internal(self.sess.graph(), &b.name, &b.pred))?;
                ir.ctxs.insert(id, IrCtx { pred, branch: b.branch, parent, name: b.name.clone() });
                cur = parent;
            }
        }
        for t in outputs {
            let Some(o) = map.get(t).copied() else { return Err(internal(self.sess.graph(), "outputs", t)) };
            ir.outputs.push((t.op().name(self.sess)?, o));
        }
        Ok(ir)
    }

    /// Pushes the predicates of a kept context and its kept parents.
    fn push_preds(&self, id: CondCtxId, stack: &mut Vec<Tensor>) -> Result<()> {
        let mut cur = Some(id);
        while let Some(c) = cur {
            let b = self.sess.graph().cond_branch(c).ok_or_else(|| Error::invalid("missing cond context"))?;
            if matches!(self.ctx.get(&c), Some(CtxState::Kept(k)) if *k == c) {
                stack.push(b.pred);
            }
            cur = b.parent;
        }
        Ok(())
    }

    /// The first unfed placeholder `t` depends on (for the error message).
    fn first_unfed(&self, t: Tensor) -> Tensor {
        let mut cur = t;
        loop {
            let n = &self.nodes[cur.op().node_index()];
            if is_type(n, "Placeholder") {
                return cur;
            }
            match n.inputs.iter().find(|x| self.tensor_kind(**x) == Kind::Unfed) {
                Some(x) => cur = *x,
                None => return cur,
            }
        }
    }
}

fn internal(g: &Graph, node: &str, t: &Tensor) -> Error {
    let name = t.name(g).unwrap_or_else(|_| format!("{t:?}"));
    Error::invalid(format!("optimize_for_inference: '{node}' reads '{name}', which was not resolved (a bug)"))
}

/// The name a frozen tensor's constant gets: its op name (`conv1/weights`), `_<k>` for output k.
fn const_name(g: &Graph, t: Tensor) -> Result<String> {
    Ok(match t.index() {
        0 => t.op().name(g)?,
        k => format!("{}_{k}", t.op().name(g)?),
    })
}

// ---------------------------------------------------------------------------------------------
// Folding rules.

/// A per-channel vector: shape `[C]`, `[1, …, 1, C]` or a scalar (`C = 1`, broadcast).
fn channel_vector(v: &Value) -> Option<Vec<f64>> {
    let shape = v.shape();
    if shape.len() > 1 && shape[..shape.len() - 1].iter().any(|&d| d != 1) {
        return None;
    }
    if !v.dtype().is_float() {
        return None;
    }
    v.cast(ferroflow_core::DType::F64).to_vec::<f64>().ok()
}

/// `w` scaled by `c` along `axis` (the output-channel axis), in f64, back to `w`'s dtype.
fn scale_along(w: &Value, axis: usize, c: &[f64]) -> Option<Value> {
    let dims = w.shape().to_vec();
    let n = *dims.get(axis)?;
    if c.len() != n && c.len() != 1 {
        return None;
    }
    let inner: usize = dims[axis + 1..].iter().product();
    let mut data = w.cast(ferroflow_core::DType::F64).to_vec::<f64>().ok()?;
    for (i, x) in data.iter_mut().enumerate() {
        let ch = (i / inner.max(1)) % n;
        *x *= if c.len() == 1 { c[0] } else { c[ch] };
    }
    Value::from_shape_vec(&dims, data).ok().map(|v| v.cast(w.dtype()))
}

/// `a·c + b` element-wise for per-channel vectors (broadcasting length 1), in `dtype`, with
/// `rank` dims (`[1, …, 1, C]`), so that the folded constant broadcasts to the same rank as the
/// constants it replaces.
fn channel_affine(a: &[f64], c: &[f64], b: &[f64], dtype: ferroflow_core::DType, rank: usize) -> Option<Value> {
    let n = a.len().max(c.len()).max(b.len());
    let at = |v: &[f64], i: usize| if v.len() == 1 { Some(v[0]) } else { v.get(i).copied() };
    let out: Option<Vec<f64>> = (0..n).map(|i| Some(at(a, i)? * at(c, i)? + at(b, i)?)).collect();
    let mut dims = vec![1; rank.max(1)];
    *dims.last_mut()? = n;
    Value::from_shape_vec(&dims, out?).ok().map(|v| v.cast(dtype))
}

fn binary_kind(op: &dyn Op) -> Option<BinaryKind> {
    op.downcast_ref::<Binary>().map(|b| b.kind)
}

impl Ir {
    fn consumers(&self) -> Vec<usize> {
        let mut c = vec![0; self.nodes.len()];
        for n in &self.nodes {
            for o in &n.inputs {
                if let Operand::Node(i, _) = o {
                    c[*i] += 1;
                }
            }
        }
        for (_, o) in &self.outputs {
            if let Operand::Node(i, _) = o {
                c[*i] += 1;
            }
        }
        c
    }

    fn static_of(&self, o: Operand) -> Option<&Value> {
        match o {
            Operand::Static(k) => self.statics.get(k).map(|(_, v)| v),
            Operand::Node(..) => None,
        }
    }

    fn add_static(&mut self, name: String, v: Value) -> Operand {
        self.statics.push((name, v));
        Operand::Static(self.statics.len() - 1)
    }

    /// Applies the folding rules until none fires; returns how many batch norms were folded
    /// into a convolution or matmul.
    fn fold(&mut self) -> Result<usize> {
        let mut folded = 0;
        self.expand_fused_batch_norms();
        loop {
            let consumers = self.consumers();
            let mut changed = false;
            for i in 0..self.nodes.len() {
                if let Some(hit) = self.fold_mul_into_producer(i, &consumers) {
                    folded += usize::from(hit);
                    changed = true;
                    break;
                }
                if self.distribute_mul_over_bias(i, &consumers) || self.merge_biases(i, &consumers) {
                    changed = true;
                    break;
                }
            }
            if !changed {
                return Ok(folded);
            }
        }
    }

    /// An inference-mode `FusedBatchNorm` with constant statistics becomes `x·inv + shift`.
    fn expand_fused_batch_norms(&mut self) {
        for i in 0..self.nodes.len() {
            let Some(op) = self.nodes[i].op.downcast_ref::<FusedBatchNorm>() else { continue };
            let eps = op.epsilon;
            if op.is_training || self.nodes[i].inputs.len() != 5 {
                continue;
            }
            let ins = self.nodes[i].inputs.clone();
            let stats: Option<Vec<Vec<f64>>> =
                ins[1..].iter().map(|o| self.static_of(*o).and_then(channel_vector)).collect();
            let Some(stats) = stats else { continue };
            let Some(dtype) = self.static_of(ins[1]).map(|v| v.dtype()) else { continue };
            let (scale, offset, mean, var) = (&stats[0], &stats[1], &stats[2], &stats[3]);
            let n = scale.len();
            if [offset.len(), mean.len(), var.len()].iter().any(|&l| l != n) {
                continue;
            }
            let inv: Vec<f64> = (0..n).map(|k| scale[k] / (var[k] + eps).sqrt()).collect();
            let shift: Vec<f64> = (0..n).map(|k| offset[k] - mean[k] * inv[k]).collect();
            let (Ok(inv_v), Ok(shift_v)) =
                (Value::from_shape_vec(&[n], inv), Value::from_shape_vec(&[n], shift.clone()))
            else {
                continue;
            };
            let name = self.nodes[i].name.clone();
            let inv_o = self.add_static(format!("{name}/inv"), inv_v.cast(dtype));
            let shift_o = self.add_static(format!("{name}/shift"), shift_v.cast(dtype));
            let mul = self.nodes.len();
            self.nodes.push(IrNode {
                name: format!("{name}/mul"),
                op: Arc::new(Binary { kind: BinaryKind::Mul }),
                inputs: vec![ins[0], inv_o],
                ctx: self.nodes[i].ctx,
            });
            // Output 0 keeps its index; the batch statistics outputs (1, 2) of an
            // inference-mode FusedBatchNorm are only read in training.
            self.nodes[i].op = Arc::new(Binary { kind: BinaryKind::Add });
            self.nodes[i].inputs = vec![Operand::Node(mul, 0), shift_o];
        }
    }

    /// `Mul(Conv2D(x, W), c)` → `Conv2D(x, W·c)` (and `MatMul` likewise) when `c` is per
    /// output channel, `W` constant and the product the producer's only reader.
    fn fold_mul_into_producer(&mut self, i: usize, consumers: &[usize]) -> Option<bool> {
        if binary_kind(self.nodes[i].op.as_ref()) != Some(BinaryKind::Mul) {
            return None;
        }
        let ins = self.nodes[i].inputs.clone();
        let (p, c) = match (ins.first()?, ins.get(1)?) {
            (Operand::Node(p, 0), c @ Operand::Static(_)) | (c @ Operand::Static(_), Operand::Node(p, 0)) => (*p, *c),
            _ => return None,
        };
        if consumers[p] != 1 || self.nodes[p].ctx != self.nodes[i].ctx {
            return None;
        }
        let cv = channel_vector(self.static_of(c)?)?;
        let prod = &self.nodes[p];
        let (w_pos, axis) = if prod.op.downcast_ref::<Conv2D>().is_some() {
            (1, 3)
        } else if let Some(m) = prod.op.downcast_ref::<MatMul>() {
            if m.transpose_a {
                return None;
            }
            (1, if m.transpose_b { 0 } else { 1 })
        } else {
            return None;
        };
        let w_op = *prod.inputs.get(w_pos)?;
        let w = self.static_of(w_op)?;
        // A constant of higher rank than the product would broadcast it to a new rank: keep it.
        let out_rank = if axis == 3 { 4 } else { w.shape().len() };
        if w.shape().len() <= axis
            || w.dtype() != self.static_of(c)?.dtype()
            || self.static_of(c)?.shape().len() > out_rank
        {
            return None;
        }
        let scaled = scale_along(w, axis, &cv)?;
        let name = format!("{}/folded_filter", self.nodes[p].name);
        let new_w = self.add_static(name, scaled);
        self.nodes[p].inputs[w_pos] = new_w;
        // The Mul becomes a pass-through of the producer: re-point its readers.
        self.replace_uses(Operand::Node(i, 0), Operand::Node(p, 0));
        Some(true)
    }

    /// `Mul(Add(a, b), c)` → `Add(Mul(a, c), b·c)` for constant per-channel `b`, `c`, so that
    /// the `Mul` can reach the convolution before the bias.
    fn distribute_mul_over_bias(&mut self, i: usize, consumers: &[usize]) -> bool {
        if binary_kind(self.nodes[i].op.as_ref()) != Some(BinaryKind::Mul) {
            return false;
        }
        let ins = self.nodes[i].inputs.clone();
        let (p, c) = match ins.as_slice() {
            [Operand::Node(p, 0), c @ Operand::Static(_)] | [c @ Operand::Static(_), Operand::Node(p, 0)] => (*p, *c),
            _ => return false,
        };
        let Some((a, b)) = self.bias_add_parts(p) else { return false };
        if consumers[p] != 1 || self.nodes[p].ctx != self.nodes[i].ctx {
            return false;
        }
        let (Some(bv), Some(cv)) =
            (self.static_of(b).and_then(channel_vector), self.static_of(c).and_then(channel_vector))
        else {
            return false;
        };
        let Some(dtype) = self.static_of(c).map(|v| v.dtype()) else { return false };
        let rank = [b, c].iter().filter_map(|o| self.static_of(*o)).map(|v| v.shape().len()).max().unwrap_or(1);
        let Some(bc) = channel_affine(&bv, &cv, &[0.0], dtype, rank) else { return false };
        let name = format!("{}/scaled_bias", self.nodes[p].name);
        let bc = self.add_static(name, bc);
        // Node p becomes Mul(a, c); node i becomes Add(p, b·c).
        self.nodes[p].op = Arc::new(Binary { kind: BinaryKind::Mul });
        self.nodes[p].inputs = vec![a, c];
        self.nodes[i].op = Arc::new(Binary { kind: BinaryKind::Add });
        self.nodes[i].inputs = vec![Operand::Node(p, 0), bc];
        true
    }

    /// `Add(Add(a, b1), b2)` → `Add(a, b1 + b2)` for constant per-channel biases.
    fn merge_biases(&mut self, i: usize, consumers: &[usize]) -> bool {
        let Some((p_op, b2)) = self.bias_add_parts(i) else { return false };
        let Operand::Node(p, 0) = p_op else { return false };
        let Some((a, b1)) = self.bias_add_parts(p) else { return false };
        if consumers[p] != 1 || self.nodes[p].ctx != self.nodes[i].ctx {
            return false;
        }
        let (Some(v1), Some(v2)) =
            (self.static_of(b1).and_then(channel_vector), self.static_of(b2).and_then(channel_vector))
        else {
            return false;
        };
        let Some(dtype) = self.static_of(b2).map(|v| v.dtype()) else { return false };
        let rank = [b1, b2].iter().filter_map(|o| self.static_of(*o)).map(|v| v.shape().len()).max().unwrap_or(1);
        let Some(sum) = channel_affine(&v1, &[1.0], &v2, dtype, rank) else { return false };
        let name = format!("{}/merged_bias", self.nodes[i].name);
        let sum = self.add_static(name, sum);
        self.nodes[i].op = Arc::new(Binary { kind: BinaryKind::Add });
        self.nodes[i].inputs = vec![a, sum];
        true
    }

    /// `(a, b)` when node `i` is `Add(a, b)`, `Add(b, a)` or `BiasAdd(a, b)` with `b` constant
    /// per channel and `a` computed.
    fn bias_add_parts(&self, i: usize) -> Option<(Operand, Operand)> {
        let n = self.nodes.get(i)?;
        let is_add = binary_kind(n.op.as_ref()) == Some(BinaryKind::Add);
        let is_bias_add = n.op.downcast_ref::<BiasAdd>().is_some();
        match n.inputs.as_slice() {
            [a @ Operand::Node(..), b @ Operand::Static(_)] if is_add || is_bias_add => {
                channel_vector(self.static_of(*b)?).map(|_| (*a, *b))
            }
            [b @ Operand::Static(_), a @ Operand::Node(..)] if is_add => {
                channel_vector(self.static_of(*b)?).map(|_| (*a, *b))
            }
            _ => None,
        }
    }

    fn replace_uses(&mut self, from: Operand, to: Operand) {
        for n in &mut self.nodes {
            for o in &mut n.inputs {
                if *o == from {
                    *o = to;
                }
            }
        }
        for (_, o) in &mut self.outputs {
            if *o == from {
                *o = to;
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Emission.

    /// Writes the nodes the outputs reach into a new graph, in dependency order.
    fn emit(&self) -> Result<InferenceGraph> {
        let mut em = Emitter {
            ir: self,
            g: Graph::new(),
            taken: HashSet::new(),
            nodes: vec![None; self.nodes.len()],
            statics: vec![None; self.statics.len()],
            ctxs: HashMap::new(),
        };
        // Input and output names are reserved first, so they keep their original names.
        for (_, i) in &self.inputs {
            em.taken.insert(self.nodes[*i].name.clone());
        }
        for (name, _) in &self.outputs {
            em.taken.insert(name.clone());
        }
        for (_, i) in &self.inputs {
            let n = &self.nodes[*i];
            em.nodes[*i] = Some(em.g.import_node(&n.name, n.op.clone(), &[], &[], None)?);
        }
        for (_, o) in &self.outputs {
            if let Operand::Node(i, _) = o {
                em.node(*i)?;
            }
        }
        let mut outputs = Vec::with_capacity(self.outputs.len());
        for (name, o) in &self.outputs {
            let t = em.operand(*o)?;
            let t = if t.op().name(&em.g)? == *name {
                t
            } else {
                let id_name = if em.g.operation_by_name(name).is_ok() { em.fresh(name) } else { name.clone() };
                em.g.import_node(&id_name, Arc::new(Identity), &[t], &[], None)?.output(0)
            };
            outputs.push(t);
        }
        let inputs = self
            .inputs
            .iter()
            .map(|(_, i)| em.nodes[*i].map(|op| op.output(0)).ok_or_else(|| Error::invalid("input not emitted")))
            .collect::<Result<Vec<_>>>()?;
        Ok(InferenceGraph { graph: em.g, inputs, outputs, stats: InferenceStats::default() })
    }
}

/// Emission state: what of the IR is in the new graph already.
struct Emitter<'a> {
    ir: &'a Ir,
    g: Graph,
    taken: HashSet<String>,
    nodes: Vec<Option<Operation>>,
    statics: Vec<Option<Tensor>>,
    ctxs: HashMap<CondCtxId, CondCtxId>,
}

impl Emitter<'_> {
    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while self.taken.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// The IR nodes `i` needs first: its data inputs and the predicates of its kept conds.
    fn deps(&self, i: usize) -> Vec<usize> {
        let n = &self.ir.nodes[i];
        let mut d: Vec<usize> =
            n.inputs.iter().filter_map(|o| if let Operand::Node(j, _) = o { Some(*j) } else { None }).collect();
        let mut cur = n.ctx;
        while let Some(c) = cur {
            match self.ir.ctxs.get(&c) {
                Some(ic) => {
                    if let Operand::Node(j, _) = ic.pred {
                        d.push(j);
                    }
                    cur = ic.parent;
                }
                None => cur = None,
            }
        }
        d
    }

    /// Emits node `i` after everything it needs (iterative post-order: no deep recursion).
    fn node(&mut self, root: usize) -> Result<Operation> {
        let mut stack = vec![(root, false)];
        while let Some((i, expanded)) = stack.pop() {
            if self.nodes[i].is_some() {
                continue;
            }
            if !expanded {
                stack.push((i, true));
                for j in self.deps(i) {
                    if self.nodes[j].is_none() {
                        stack.push((j, false));
                    }
                }
                continue;
            }
            let ir = self.ir;
            let n = &ir.nodes[i];
            let ins = n.inputs.iter().map(|o| self.operand(*o)).collect::<Result<Vec<_>>>()?;
            let ctx = match n.ctx {
                Some(c) => Some(self.ctx(c)?),
                None => None,
            };
            let is_output = ir.outputs.iter().any(|(name, o)| *o == Operand::Node(i, 0) && *name == n.name);
            let name = if is_output { n.name.clone() } else { self.fresh(&n.name) };
            self.nodes[i] = Some(self.g.import_node(&name, n.op.clone(), &ins, &[], ctx)?);
        }
        self.nodes[root].ok_or_else(|| Error::invalid("optimize_for_inference: a node was not emitted (a bug)"))
    }

    fn operand(&mut self, o: Operand) -> Result<Tensor> {
        match o {
            Operand::Node(i, k) => match self.nodes[i] {
                Some(op) => Ok(op.output(k)),
                None => Ok(self.node(i)?.output(k)),
            },
            Operand::Static(k) => {
                if let Some(t) = self.statics[k] {
                    return Ok(t);
                }
                let ir = self.ir;
                let (name, v) = &ir.statics[k];
                let name = self.fresh(name);
                let t = self.g.import_node(&name, Arc::new(Const { value: v.clone() }), &[], &[], None)?.output(0);
                self.statics[k] = Some(t);
                Ok(t)
            }
        }
    }

    /// The new graph's context for kept context `c` (its predicate is emitted already).
    fn ctx(&mut self, c: CondCtxId) -> Result<CondCtxId> {
        if let Some(n) = self.ctxs.get(&c) {
            return Ok(*n);
        }
        let ir = self.ir;
        let ic =
            ir.ctxs.get(&c).ok_or_else(|| Error::invalid("optimize_for_inference: unknown cond context (a bug)"))?;
        let parent = match ic.parent {
            Some(p) => Some(self.ctx(p)?),
            None => None,
        };
        let pred = self.operand(ic.pred)?;
        let id = self.g.import_cond_branch(CondBranch { pred, branch: ic.branch, parent, name: ic.name.clone() })?;
        self.ctxs.insert(c, id);
        Ok(id)
    }
}
