//! The `Graph`: nodes (ops with inputs, control inputs and output specs) kept in a petgraph
//! `DiGraph`, unique TF-style names, cond contexts, variables and collections.

use crate::collection::{CollectionItem, CollectionKey};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::handles::{Operation, Tensor, Variable};
use crate::op::{Op, TensorSpec};
use crate::scope::Scope;
use crate::shape::Shape;
use crate::warnings::GraphWarning;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Identifies one branch of one cond: ops created in it run only when it is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct CondCtxId(pub u32);

/// One branch context of a `cond`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CondBranch {
    /// The scalar bool predicate (created outside the cond).
    pub pred: Tensor,
    /// Which value of `pred` selects this branch.
    pub branch: bool,
    /// The enclosing branch, for nested conds.
    pub parent: Option<CondCtxId>,
    /// Name of the cond (`"cond"`, `"cond_1"`), for errors and graph dumps.
    pub name: String,
}

/// Kind of a petgraph edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeKind {
    /// Output `from_index` feeds input `to_index`.
    Data {
        /// Producer's output index.
        from_index: u32,
        /// Consumer's input position.
        to_index: u32,
    },
    /// Ordering only (`control_dependencies`).
    Control,
}

/// One node of the graph.
#[derive(Clone, Debug)]
pub struct NodeData {
    /// Full, unique, scoped name (`"batch_normalization/moments/mean"`).
    pub name: String,
    /// The op (shape rule, kernel, gradient).
    pub op: Arc<dyn Op>,
    /// Data inputs, in order.
    pub inputs: Vec<Tensor>,
    /// Ops that must run before this one.
    pub control_inputs: Vec<Operation>,
    /// Static spec of each output.
    pub outputs: Vec<TensorSpec>,
    /// The innermost cond branch this node was created in.
    pub cond_ctx: Option<CondCtxId>,
}

/// The mutable contents of a graph, readable through [`Graph::read`].
pub struct GraphState {
    pub(crate) pg: DiGraph<(), EdgeKind, u32>,
    pub(crate) nodes: Vec<NodeData>,
    pub(crate) by_name: HashMap<String, u32>,
    pub(crate) used_names: HashMap<String, usize>,
    pub(crate) collections: BTreeMap<CollectionKey, Vec<CollectionItem>>,
    pub(crate) cond_ctxs: Vec<CondBranch>,
    pub(crate) variables: Vec<Variable>,
    pub(crate) variables_by_name: HashMap<String, Variable>,
    pub(crate) seed: Option<u64>,
    pub(crate) warnings: Vec<GraphWarning>,
    /// Composites recorded by builders, in creation order (see [`crate::composite`]).
    pub(crate) composites: Vec<crate::composite::Composite>,
    /// Bumped by every change to an existing node (a control input added after the fact), so
    /// a session can tell a cached plan is stale. Adding nodes does not bump it: a new node is
    /// never an input of an existing one.
    pub(crate) version: u64,
}

pub(crate) struct GraphInner {
    id: u32,
    state: RwLock<GraphState>,
}

impl Drop for GraphInner {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        log_pending(&mut state.warnings);
    }
}

/// Logs every warning (or the layers of it) not logged yet and marks it logged.
fn log_pending(warnings: &mut [GraphWarning]) {
    for w in warnings.iter_mut() {
        let done = w.subjects.len().max(1);
        if w.logged >= done {
            continue;
        }
        if let Some(m) = if w.subjects.is_empty() { Some(w.message()) } else { w.unlogged_message() } {
            log::warn!(target: "ferroflow", "{m}");
        }
        w.logged = done;
    }
}

/// A dataflow graph. TF1: `tf.Graph`.
///
/// Cloning is cheap (shared). Build ops through a [`Scope`] (`graph.root()`), run them with a
/// session. A graph is `Send + Sync`; several sessions may share it.
#[derive(Clone)]
pub struct Graph {
    inner: Arc<GraphInner>,
}

/// The source of graph ids. Not a registry: nothing maps an id back to a graph (a handle finds
/// its graph only through the graph or scope it is given); the counter only makes ids unique in
/// the process, so a handle from another graph, live or dropped, is always told apart.
static NEXT_GRAPH_ID: AtomicU32 = AtomicU32::new(1);

impl Default for Graph {
    fn default() -> Self {
        Self::new()
    }
}

impl Graph {
    /// A new, empty graph.
    pub fn new() -> Self {
        let id = NEXT_GRAPH_ID.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::new(GraphInner {
            id,
            state: RwLock::new(GraphState {
                pg: DiGraph::default(),
                nodes: Vec::new(),
                by_name: HashMap::new(),
                used_names: HashMap::new(),
                collections: BTreeMap::new(),
                cond_ctxs: Vec::new(),
                variables: Vec::new(),
                variables_by_name: HashMap::new(),
                seed: None,
                warnings: Vec::new(),
                composites: Vec::new(),
                version: 0,
            }),
        });
        Graph { inner }
    }

    /// This graph's id (handles carry it).
    pub fn id(&self) -> u32 {
        self.inner.id
    }

    /// The root scope: no name prefix, no control dependencies, outside any cond.
    pub fn root(&self) -> Scope {
        Scope::new_root(self.clone())
    }

    /// Sets the graph-level random seed. TF1: `tf.set_random_seed`.
    ///
    /// With a graph seed, every random op gets a reproducible stream (its op seed, or its node
    /// index when none is given). Affects ops created afterwards.
    pub fn set_random_seed(&self, seed: u64) {
        self.write().seed = Some(seed);
    }

    /// Records a build-time warning (a known TF1 trap) with no layer list. Repeated identical
    /// messages are kept once. Like every graph warning it is logged (`log::warn!`, target
    /// `ferroflow`) once, when a session first plans a run of this graph, or when the graph is
    /// dropped without one (see [`Graph::log_warnings`]).
    pub fn warn(&self, message: impl Into<String>) {
        let m = message.into();
        let mut s = self.write();
        if !s.warnings.iter().any(|w| w.kind == m) {
            s.warnings.push(GraphWarning {
                kind: m.clone(),
                summary: m,
                advice: String::new(),
                subjects: Vec::new(),
                logged: 0,
            });
        }
    }

    /// Records that the trap `kind` was found in layer `subject`. The graph keeps **one**
    /// warning per kind, listing every layer (each once): 20 batch norms built with training
    /// fixed to true give one warning naming the 20 layers, not 20 warnings. `summary` and
    /// `advice` come from the first call of a kind. Logged as [`Graph::warn`] says.
    pub fn warn_about(&self, kind: &str, summary: &str, subject: impl Into<String>, advice: &str) {
        let subject = subject.into();
        let mut s = self.write();
        match s.warnings.iter_mut().find(|w| w.kind == kind) {
            Some(w) => {
                if !w.subjects.contains(&subject) {
                    w.subjects.push(subject);
                }
            }
            None => s.warnings.push(GraphWarning {
                kind: kind.to_string(),
                summary: summary.to_string(),
                advice: advice.to_string(),
                subjects: vec![subject],
                logged: 0,
            }),
        }
    }

    /// The build-time warnings recorded so far, one message per kind of trap.
    pub fn warnings(&self) -> Vec<String> {
        self.read(|s| s.warnings.iter().map(GraphWarning::message).collect())
    }

    /// The build-time warnings recorded so far, one per kind, with their layer lists.
    pub fn warning_list(&self) -> Vec<GraphWarning> {
        self.read(|s| s.warnings.clone())
    }

    /// Logs (`log::warn!`, target `ferroflow`) what has not been logged yet: each kind once,
    /// and again later only for layers added since. Sessions call this when they plan a run; the
    /// graph calls it when dropped. Cheap when there is nothing new.
    pub fn log_warnings(&self) {
        if self.read(|s| s.warnings.iter().all(|w| w.logged == w.subjects.len().max(1))) {
            return;
        }
        let mut s = self.write();
        log_pending(&mut s.warnings);
    }

    /// The graph-level seed, if set.
    pub fn random_seed(&self) -> Option<u64> {
        self.read(|s| s.seed)
    }

    /// Runs `f` with read access to the graph's state.
    pub fn read<R>(&self, f: impl FnOnce(&GraphState) -> R) -> R {
        let guard: RwLockReadGuard<'_, GraphState> = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, GraphState> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks a handle belongs to this graph.
    pub fn check_graph(&self, graph: u32, what: impl FnOnce() -> String) -> Result<()> {
        if graph != self.id() {
            return Err(Error::GraphMismatch { what: what(), expected: self.id(), got: graph });
        }
        Ok(())
    }

    /// Number of nodes.
    pub fn num_nodes(&self) -> usize {
        self.read(|s| s.nodes.len())
    }

    /// All operations, in creation order. TF1: `graph.get_operations()`.
    pub fn operations(&self) -> Vec<Operation> {
        let id = self.id();
        self.read(|s| (0..s.nodes.len() as u32).map(|n| Operation::from_raw(id, n)).collect())
    }

    /// The operation with this full name. TF1: `graph.get_operation_by_name`.
    pub fn operation_by_name(&self, name: &str) -> Result<Operation> {
        let id = self.id();
        self.read(|s| match s.by_name.get(name) {
            Some(&n) => Ok(Operation::from_raw(id, n)),
            None => {
                Err(Error::NotFound { what: "operation".into(), name: name.into(), hint: s.similar_name_hint(name) })
            }
        })
    }

    /// The tensor with this name (`"scope/op:0"`). TF1: `graph.get_tensor_by_name`.
    pub fn tensor_by_name(&self, name: &str) -> Result<Tensor> {
        let (op_name, index) = match name.rsplit_once(':') {
            Some((op, idx)) => match idx.parse::<u32>() {
                Ok(i) => (op, i),
                Err(_) => return Err(Error::invalid(format!("tensor name '{name}' must look like 'op_name:index'"))),
            },
            None => {
                return Err(Error::invalid(format!(
                    "'{name}' is an operation name; tensor names look like 'op_name:index' (try '{name}:0')"
                )))
            }
        };
        let op = self.operation_by_name(op_name).map_err(|e| match e {
            Error::NotFound { name: _, hint, .. } => Error::NotFound { what: "tensor".into(), name: name.into(), hint },
            other => other,
        })?;
        let n = self.read(|s| s.nodes.get(op.node_index()).map(|n| n.outputs.len()).unwrap_or(0));
        if index as usize >= n {
            return Err(Error::NotFound {
                what: "tensor".into(),
                name: name.into(),
                hint: format!("; operation '{op_name}' has {n} output(s)"),
            });
        }
        Ok(op.output(index as usize))
    }

    /// A copy of a node's data.
    pub fn node(&self, op: Operation) -> Result<NodeData> {
        self.with_node(op, |n| n.clone())
    }

    /// Runs `f` on the node of `op` after checking the handle is of this graph and in range
    /// (errors: [`Error::GraphMismatch`], [`Error::HandleOutOfRange`]).
    pub fn with_node<R>(&self, op: Operation, f: impl FnOnce(&NodeData) -> R) -> Result<R> {
        self.check_graph(op.graph_id(), || format!("{op:?}"))?;
        self.read(|s| s.node(op).map(f))
    }

    /// The static spec of a tensor.
    pub fn spec(&self, t: Tensor) -> Result<TensorSpec> {
        self.check_graph(t.graph_id(), || format!("{t:?}"))?;
        self.read(|s| s.spec(t).cloned())
    }

    /// Every variable created in this graph, in creation order.
    pub fn all_variables(&self) -> Vec<Variable> {
        self.read(|s| s.variables.clone())
    }

    /// The variable with this full name.
    pub fn variable_by_name(&self, name: &str) -> Option<Variable> {
        self.read(|s| s.variables_by_name.get(name).copied())
    }

    /// Registers a variable (called by the variable builders).
    pub fn register_variable(&self, v: Variable) {
        let mut s = self.write();
        let Some(name) = s.nodes.get(v.op().node_index()).map(|n| n.name.clone()) else {
            return;
        };
        s.variables.push(v);
        s.variables_by_name.insert(name, v);
    }

    /// The cond branch contexts, indexable by `CondCtxId`.
    pub fn cond_branch(&self, id: CondCtxId) -> Option<CondBranch> {
        self.read(|s| s.cond_ctxs.get(id.0 as usize).cloned())
    }

    /// Adds a node. Normally called through [`Scope::add_op`].
    pub(crate) fn add_node(&self, data: NodeData) -> Operation {
        let mut s = self.write();
        let idx = s.pg.add_node(());
        debug_assert_eq!(idx.index(), s.nodes.len());
        for (pos, t) in data.inputs.iter().enumerate() {
            s.pg.add_edge(
                NodeIndex::new(t.op().node_index()),
                idx,
                EdgeKind::Data { from_index: t.index() as u32, to_index: pos as u32 },
            );
        }
        for c in &data.control_inputs {
            s.pg.add_edge(NodeIndex::new(c.node_index()), idx, EdgeKind::Control);
        }
        s.by_name.insert(data.name.clone(), idx.index() as u32);
        s.nodes.push(data);
        Operation::from_raw(self.id(), idx.index() as u32)
    }

    /// Adds a control input to an existing op (used to group update ops after the fact).
    pub fn add_control_input(&self, op: Operation, dep: Operation) -> Result<()> {
        let op_name = op.name(self)?;
        let dep_name = dep.name(self)?;
        if dep.node_index() >= op.node_index() {
            return Err(Error::invalid(format!(
                "'{op_name}' cannot depend on '{dep_name}', which was created after it"
            )));
        }
        let mut s = self.write();
        if let Some(n) = s.nodes.get_mut(op.node_index()) {
            if !n.control_inputs.contains(&dep) {
                n.control_inputs.push(dep);
                s.pg.add_edge(NodeIndex::new(dep.node_index()), NodeIndex::new(op.node_index()), EdgeKind::Control);
                s.version += 1;
            }
        }
        Ok(())
    }

    /// Reserves a unique name: `base`, then `base_1`, `base_2`, … as TF does.
    pub fn unique_name(&self, base: &str) -> String {
        self.write().unique_name(base)
    }

    pub(crate) fn new_cond_ctx(&self, branch: CondBranch) -> CondCtxId {
        let mut s = self.write();
        s.cond_ctxs.push(branch);
        CondCtxId(s.cond_ctxs.len() as u32 - 1)
    }

    /// Appends an item to a collection. TF1: `tf.add_to_collection`.
    pub fn add_to_collection(&self, key: &CollectionKey, item: impl Into<CollectionItem>) {
        self.write().collections.entry(key.clone()).or_default().push(item.into());
    }

    /// The items of a collection, in insertion order. TF1: `tf.get_collection`.
    pub fn collection(&self, key: &CollectionKey) -> Vec<CollectionItem> {
        self.read(|s| s.collections.get(key).cloned().unwrap_or_default())
    }

    /// Replaces a collection's contents (TF1: `tf.get_collection_ref` then edit).
    pub fn set_collection(&self, key: &CollectionKey, items: Vec<CollectionItem>) {
        self.write().collections.insert(key.clone(), items);
    }

    /// All collection keys in use.
    pub fn collection_keys(&self) -> Vec<CollectionKey> {
        self.read(|s| s.collections.keys().cloned().collect())
    }

    /// The variables of a collection (other items skipped).
    pub fn collection_variables(&self, key: &CollectionKey) -> Vec<Variable> {
        self.collection(key).into_iter().filter_map(|i| i.as_variable()).collect()
    }

    /// The ops of a collection (tensors give their op, variables their `VariableV2`).
    pub fn collection_ops(&self, key: &CollectionKey) -> Vec<Operation> {
        self.collection(key).into_iter().map(|i| i.op()).collect()
    }

    /// The tensors of a collection (variables give their value; ops are skipped).
    pub fn collection_tensors(&self, key: &CollectionKey) -> Vec<Tensor> {
        self.collection(key).into_iter().filter_map(|i| i.as_tensor()).collect()
    }

    /// All variables in `GLOBAL_VARIABLES`. TF1: `tf.global_variables()`.
    pub fn global_variables(&self) -> Vec<Variable> {
        self.collection_variables(&crate::collection::GLOBAL_VARIABLES)
    }

    /// All variables in `TRAINABLE_VARIABLES`. TF1: `tf.trainable_variables()`.
    pub fn trainable_variables(&self) -> Vec<Variable> {
        self.collection_variables(&crate::collection::TRAINABLE_VARIABLES)
    }
}

impl AsRef<Graph> for Graph {
    fn as_ref(&self) -> &Graph {
        self
    }
}

// The handles' accessors. They live here, not in `handles`, so that `handles` knows ids only
// and the graph is the one place that maps a handle to what it names. Each takes the graph (a
// `&Graph`, a `&Scope`, a `&Session` — anything that is `AsRef<Graph>`) and checks the handle
// is of that graph.

impl Operation {
    /// The full scoped name (`"dense/MatMul"`). TF1: `op.name`.
    ///
    /// # Errors
    /// [`Error::GraphMismatch`] when the op is of another graph than `g` (both ids named),
    /// [`Error::HandleOutOfRange`] when its node index is not in `g`.
    pub fn name(self, g: &impl AsRef<Graph>) -> Result<String> {
        g.as_ref().with_node(self, |n| n.name.clone())
    }
    /// The op type (`"MatMul"`). TF1: `op.type`. Errors as [`Operation::name`].
    pub fn type_name(self, g: &impl AsRef<Graph>) -> Result<&'static str> {
        g.as_ref().with_node(self, |n| n.op.type_name())
    }
    /// Number of outputs. Errors as [`Operation::name`].
    pub fn num_outputs(self, g: &impl AsRef<Graph>) -> Result<usize> {
        g.as_ref().with_node(self, |n| n.outputs.len())
    }
}

impl Tensor {
    /// TF-style name `"op_name:index"`. TF1: `t.name`.
    ///
    /// # Errors
    /// [`Error::GraphMismatch`] when the tensor is of another graph than `g` (both ids named),
    /// [`Error::HandleOutOfRange`] when its node is not in `g`, [`Error::InvalidArgument`] when its op
    /// has no such output.
    pub fn name(self, g: &impl AsRef<Graph>) -> Result<String> {
        Ok(format!("{}:{}", self.op().name(g)?, self.index()))
    }
    /// The static dtype. TF1: `t.dtype`. Errors as [`Tensor::name`].
    pub fn dtype(self, g: &impl AsRef<Graph>) -> Result<DType> {
        Ok(g.as_ref().spec(self)?.dtype)
    }
    /// The static shape, as far as it is known at build time. TF1: `t.shape`. Errors as
    /// [`Tensor::name`].
    pub fn shape(self, g: &impl AsRef<Graph>) -> Result<Shape> {
        Ok(g.as_ref().spec(self)?.shape)
    }
}

impl Variable {
    /// The variable's full name (`"batch_normalization/gamma"`). Errors as [`Operation::name`].
    pub fn name(self, g: &impl AsRef<Graph>) -> Result<String> {
        self.op().name(g)
    }
    /// Static dtype. Errors as [`Tensor::name`].
    pub fn dtype(self, g: &impl AsRef<Graph>) -> Result<DType> {
        self.value().dtype(g)
    }
    /// Static shape. Errors as [`Tensor::name`].
    pub fn shape(self, g: &impl AsRef<Graph>) -> Result<Shape> {
        self.value().shape(g)
    }
}

impl GraphState {
    /// The graph's structure version: changes whenever an existing node changes (see the
    /// field), so plans built at another version must be rebuilt.
    pub fn version(&self) -> u64 {
        self.version
    }
    /// The node of `op` (whose graph id the caller has checked, see [`Graph::with_node`]).
    pub fn node(&self, op: Operation) -> Result<&NodeData> {
        self.nodes.get(op.node_index()).ok_or_else(|| Error::HandleOutOfRange {
            what: format!("{op:?}"),
            graph: op.graph_id(),
            nodes: self.nodes.len(),
        })
    }
    /// The node at index `i`.
    pub fn node_at(&self, i: usize) -> Option<&NodeData> {
        self.nodes.get(i)
    }
    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }
    /// True when the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
    /// The spec of tensor `t`.
    pub fn spec(&self, t: Tensor) -> Result<&TensorSpec> {
        let n = self.node(t.op())?;
        n.outputs.get(t.index()).ok_or_else(|| Error::invalid(format!("'{}' has no output {}", n.name, t.index())))
    }
    /// The cond branch `id`.
    pub fn cond_branch(&self, id: CondCtxId) -> Option<&CondBranch> {
        self.cond_ctxs.get(id.0 as usize)
    }
    /// The composites builders recorded, in creation order.
    pub fn composites(&self) -> &[crate::composite::Composite] {
        &self.composites
    }
    /// All cond branch contexts.
    pub fn cond_branches(&self) -> &[CondBranch] {
        &self.cond_ctxs
    }
    /// The chain of branch contexts from `ctx` outwards.
    pub fn cond_chain(&self, ctx: Option<CondCtxId>) -> Vec<CondCtxId> {
        let mut out = Vec::new();
        let mut cur = ctx;
        while let Some(c) = cur {
            out.push(c);
            cur = self.cond_ctxs.get(c.0 as usize).and_then(|b| b.parent);
        }
        out
    }
    /// True when `outer` is `inner` or encloses it (so tensors of `outer` are visible in `inner`).
    pub fn ctx_encloses(&self, outer: Option<CondCtxId>, inner: Option<CondCtxId>) -> bool {
        match outer {
            None => true,
            Some(o) => self.cond_chain(inner).contains(&o),
        }
    }
    /// The petgraph view of the graph (node index = op index).
    pub fn petgraph(&self) -> &DiGraph<(), EdgeKind, u32> {
        &self.pg
    }
    /// The graph-level seed.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }
    /// Registered variables in creation order.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }
    /// All collections.
    pub fn collections(&self) -> &BTreeMap<CollectionKey, Vec<CollectionItem>> {
        &self.collections
    }

    /// TF's `unique_name`: `name`, then `name_1`, `name_2`, … (case-insensitive, as TF).
    pub(crate) fn unique_name(&mut self, name: &str) -> String {
        let key = name.to_lowercase();
        let mut i = self.used_names.get(&key).copied().unwrap_or(0);
        self.used_names.insert(key.clone(), i + 1);
        if i == 0 {
            return name.to_string();
        }
        let mut candidate = key.clone();
        while self.used_names.contains_key(&candidate) {
            candidate = format!("{key}_{i}");
            i += 1;
        }
        self.used_names.insert(candidate, 1);
        format!("{name}_{}", i - 1)
    }

    pub(crate) fn similar_name_hint(&self, name: &str) -> String {
        let leaf = name.rsplit('/').next().unwrap_or(name);
        let mut cands: Vec<&String> = self.by_name.keys().filter(|k| k.ends_with(leaf) || k.contains(name)).collect();
        cands.sort();
        match cands.first() {
            Some(c) => format!("; did you mean '{c}'?"),
            None => String::new(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::op::{InferCtx, Op, TensorSpec};

    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct Leaf;
    #[typetag::serde]
    impl Op for Leaf {
        fn type_name(&self) -> &'static str {
            "Leaf"
        }
        fn infer(&self, _: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
            Ok(vec![TensorSpec::new(DType::I32, Shape::known(&[2]))])
        }
        fn compute(&self, _: &mut crate::op::KernelCtx<'_>) -> Result<Vec<crate::value::Value>> {
            Err(Error::invalid("not run"))
        }
    }

    #[test]
    fn accessors_read_the_given_graph_and_reject_others() {
        let g = Graph::new();
        let op = g.root().add_op(Leaf, &[], "leaf").unwrap();
        let t = op.output(0);
        assert_eq!((t.name(&g).unwrap(), t.dtype(&g).unwrap()), ("leaf:0".to_string(), DType::I32));
        assert_eq!(op.type_name(&g.root()).unwrap(), "Leaf");
        let id = g.id();
        drop(g);
        // The graph is gone: nothing maps its id back to it; another graph rejects the handle.
        let other = Graph::new();
        let e = t.shape(&other).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, Error::GraphMismatch { got, expected, .. } if got == id && expected == other.id()),
            "{msg}"
        );
        assert!(msg.contains(&format!("graph #{id}")) && msg.contains(&format!("graph #{}", other.id())), "{msg}");
        assert!(format!("{t:?}").contains(&format!("graph #{id}")), "Debug prints ids only");
        let e = Operation::from_raw(other.id(), 7).name(&other).unwrap_err();
        assert!(matches!(e, Error::HandleOutOfRange { nodes: 0, .. }), "{e}");
    }
}
