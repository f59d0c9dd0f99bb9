//! `Scope`: the Rust stand-in for TF1's `with` blocks (name scope, variable scope, control
//! dependencies, cond branch). A cheap value; every `with_*` returns a new scope.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{CondBranch, CondCtxId, Graph, NodeData};
use crate::handles::{Operation, Tensor};
use crate::op::{InferCtx, Op, TensorSpec};
use std::sync::Arc;

/// Where new ops go: graph, name prefix, variable scope, control dependencies, cond branch.
///
/// ```
/// use ferroflow_core::Graph;
/// let g = Graph::new();
/// let s = g.root();
/// let inner = s.name_scope("layer1", |s| Ok(s.name_prefix().to_string())).unwrap();
/// assert_eq!(inner, "layer1");
/// ```
#[derive(Clone)]
pub struct Scope {
    graph: Graph,
    name_prefix: String,
    var_prefix: String,
    reuse: bool,
    control_deps: Vec<Operation>,
    cond_ctx: Option<CondCtxId>,
    op_name: Option<String>,
    exact_name: Option<String>,
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

impl AsRef<Graph> for Scope {
    /// A scope reads handles through its graph: `t.shape(&scope)?`.
    fn as_ref(&self) -> &Graph {
        &self.graph
    }
}

impl Scope {
    pub(crate) fn new_root(graph: Graph) -> Self {
        Scope {
            graph,
            name_prefix: String::new(),
            var_prefix: String::new(),
            reuse: false,
            control_deps: Vec::new(),
            cond_ctx: None,
            op_name: None,
            exact_name: None,
        }
    }

    /// The graph ops are added to.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
    /// The current name-scope prefix (`""` at the root, `"a/b"` inside).
    pub fn name_prefix(&self) -> &str {
        &self.name_prefix
    }
    /// The current variable-scope prefix used by `get_variable`.
    pub fn var_prefix(&self) -> &str {
        &self.var_prefix
    }
    /// Whether `get_variable` reuses existing variables here.
    pub fn reuse(&self) -> bool {
        self.reuse
    }
    /// The active control dependencies.
    pub fn control_deps(&self) -> &[Operation] {
        &self.control_deps
    }
    /// The innermost cond branch, if ops built here are inside a `cond`.
    pub fn cond_ctx(&self) -> Option<CondCtxId> {
        self.cond_ctx
    }
    /// The explicit name set by [`Scope::with_name`], if any.
    pub fn explicit_name(&self) -> Option<&str> {
        self.op_name.as_deref()
    }

    /// A build error for an op of type `op` that a builder rejects before adding it (e.g. an
    /// empty input list), naming the node it would have been (`scope/name`, or `scope/op`).
    pub fn build_error(&self, op: &str, message: impl Into<String>) -> Error {
        let leaf =
            self.exact_name.clone().unwrap_or_else(|| join(&self.name_prefix, self.op_name.as_deref().unwrap_or(op)));
        Error::build(leaf, op, message)
    }

    /// A scope whose next op is named `name` (made unique: `name_1`, … if taken).
    /// TF1: the `name=` argument of every op.
    pub fn with_name(&self, name: &str) -> Scope {
        let mut s = self.clone();
        s.op_name = Some(name.to_string());
        s.exact_name = None;
        s
    }

    /// A scope whose next op takes this name scope's own full name (TF1's `name=scope`, as in
    /// `assign_sub(v, d, name=scope)` inside `name_scope("AssignMovingAvg")`).
    pub fn as_op_name(&self) -> Scope {
        let mut s = self.clone();
        s.exact_name = Some(self.name_prefix.clone());
        s
    }

    /// A new unique name scope `prefix/name` (`name_1` if taken). TF1: `tf.name_scope`.
    pub fn sub_scope(&self, name: &str) -> Scope {
        let full = self.graph.unique_name(&join(&self.name_prefix, name));
        let mut s = self.clone();
        s.name_prefix = full;
        s.op_name = None;
        s.exact_name = None;
        s
    }

    /// Re-enters an existing name scope `prefix` verbatim (TF1: `tf.name_scope("a/b/")`);
    /// no uniquifying. Used for a variable's own ops (`gamma/Assign`).
    pub fn at_name_prefix(&self, prefix: &str) -> Scope {
        let mut s = self.clone();
        s.name_prefix = prefix.to_string();
        s.op_name = None;
        s.exact_name = None;
        s
    }

    /// Runs `f` inside a new name scope. TF1: `with tf.name_scope(name):`.
    pub fn name_scope<T>(&self, name: &str, f: impl FnOnce(&Scope) -> Result<T>) -> Result<T> {
        f(&self.sub_scope(name))
    }

    /// Runs `f` in a name scope named by [`Scope::with_name`] if set, else `default`.
    /// Composite builders (`moments`, layers) use this so `s.with_name("bn1")` names their scope.
    pub fn op_scope<T>(&self, default: &str, f: impl FnOnce(&Scope) -> Result<T>) -> Result<T> {
        let name = self.op_name.clone().unwrap_or_else(|| default.to_string());
        f(&self.sub_scope(&name))
    }

    /// Runs `f` inside variable scope `name`. TF1: `with tf.variable_scope(name, reuse=...)`.
    ///
    /// Variables made by `get_variable` get the prefix `outer/name/`; op names get a unique
    /// name scope. `reuse = true` turns on reuse here and below (it cannot be turned off
    /// inside, as in TF1).
    pub fn variable_scope<T>(&self, name: &str, reuse: bool, f: impl FnOnce(&Scope) -> Result<T>) -> Result<T> {
        let mut s = self.sub_scope(name);
        s.var_prefix = join(&self.var_prefix, name);
        s.reuse = self.reuse || reuse;
        f(&s)
    }

    /// Same as [`Scope::variable_scope`] but with a unique variable-scope name too
    /// (`dense`, `dense_1`): what TF1 layers do when no name is given.
    pub fn unique_variable_scope<T>(&self, name: &str, f: impl FnOnce(&Scope) -> Result<T>) -> Result<T> {
        let mut s = self.sub_scope(name);
        let leaf = s.name_prefix.rsplit('/').next().unwrap_or(name).to_string();
        s.var_prefix = join(&self.var_prefix, &leaf);
        f(&s)
    }

    /// Full name for a variable called `name` in this variable scope.
    pub fn variable_name(&self, name: &str) -> String {
        join(&self.var_prefix, name)
    }

    /// A scope whose ops also wait for `deps`. TF1: `with tf.control_dependencies(deps):`.
    /// Contexts nest and accumulate.
    pub fn with_control_dependencies(&self, deps: &[Operation]) -> Scope {
        let mut s = self.clone();
        for d in deps {
            if !s.control_deps.contains(d) {
                s.control_deps.push(*d);
            }
        }
        s
    }

    /// Runs `f` with `deps` added to the control dependencies.
    pub fn control_dependencies<T>(&self, deps: &[Operation], f: impl FnOnce(&Scope) -> Result<T>) -> Result<T> {
        f(&self.with_control_dependencies(deps))
    }

    /// A scope with no control dependencies. TF1: `with tf.control_dependencies(None):`.
    pub fn without_control_dependencies(&self) -> Scope {
        let mut s = self.clone();
        s.control_deps.clear();
        s
    }

    /// A scope for one branch of a cond: ops created in it run only when `pred == branch`.
    /// Used by `cond`; most users never call this.
    pub fn in_cond_branch(&self, pred: Tensor, branch: bool, cond_name: &str) -> Result<Scope> {
        self.graph.check_graph(pred.graph_id(), || "the cond predicate".to_string())?;
        let spec = self.graph.spec(pred)?;
        if spec.dtype != DType::Bool || spec.shape.rank().is_some_and(|r| r != 0) {
            return Err(Error::CondMismatch {
                cond: cond_name.to_string(),
                message: format!(
                    "the predicate '{}' must be a scalar bool tensor, got {} {}; for a fixed Rust bool, pick the branch in Rust instead",
                    pred.name(self)?,
                    spec.dtype,
                    spec.shape
                ),
            });
        }
        let ctx =
            self.graph.new_cond_ctx(CondBranch { pred, branch, parent: self.cond_ctx, name: cond_name.to_string() });
        let mut s = self.clone();
        s.cond_ctx = Some(ctx);
        s.op_name = None;
        s.exact_name = None;
        Ok(s)
    }

    /// A scope placed in cond branch `ctx` (or outside any cond). Gradient construction uses
    /// this to build a node's gradient in the node's own branch.
    pub fn with_cond_ctx(&self, ctx: Option<CondCtxId>) -> Scope {
        let mut s = self.clone();
        s.cond_ctx = ctx;
        s
    }

    /// Adds an op with `inputs` and returns it. The name is the scope's explicit name or
    /// `default_name`, made unique under the name prefix. Shape/dtype inference runs now;
    /// a mismatch is a build error naming the node.
    pub fn add_op<O: Op>(&self, op: O, inputs: &[Tensor], default_name: &str) -> Result<Operation> {
        self.add_op_arc(Arc::new(op), inputs, default_name)
    }

    /// [`Scope::add_op`] returning output 0.
    pub fn add_op1<O: Op>(&self, op: O, inputs: &[Tensor], default_name: &str) -> Result<Tensor> {
        Ok(self.add_op(op, inputs, default_name)?.output(0))
    }

    /// [`Scope::add_op`] for an already shared op (used by the meta-graph importer).
    pub fn add_op_arc(&self, op: Arc<dyn Op>, inputs: &[Tensor], default_name: &str) -> Result<Operation> {
        if let Some(exact) = &self.exact_name {
            return self.add_op_impl(op, inputs, exact.clone(), true);
        }
        let base = self.op_name.as_deref().unwrap_or(default_name);
        let intended = join(&self.name_prefix, base);
        self.add_op_impl(op, inputs, intended, false)
    }

    /// Adds an op under exactly `full_name` (no prefix, no uniquifying); errors when the name
    /// is taken. Used for variables, whose op name is their variable-scope name.
    pub fn add_op_exact<O: Op>(&self, op: O, inputs: &[Tensor], full_name: &str) -> Result<Operation> {
        self.add_op_impl(Arc::new(op), inputs, full_name.to_string(), true)
    }

    fn add_op_impl(&self, op: Arc<dyn Op>, inputs: &[Tensor], intended: String, exact: bool) -> Result<Operation> {
        let g = &self.graph;
        for (i, t) in inputs.iter().enumerate() {
            g.check_graph(t.graph_id(), || format!("input {i} of '{intended}'"))?;
        }
        for d in &self.control_deps {
            g.check_graph(d.graph_id(), || format!("a control dependency of '{intended}'"))?;
        }
        let specs: Vec<TensorSpec> = g.read(|st| -> Result<Vec<TensorSpec>> {
            let mut specs = Vec::with_capacity(inputs.len());
            for t in inputs {
                let node = st.node(t.op())?;
                if !op.accepts_dead_inputs() && !st.ctx_encloses(node.cond_ctx, self.cond_ctx) {
                    let branch = node.cond_ctx.and_then(|c| st.cond_branch(c));
                    let (cname, b) = branch.map(|b| (b.name.clone(), b.branch)).unwrap_or_default();
                    return Err(Error::build(
                        intended.clone(),
                        op.type_name(),
                        format!(
                            "input '{}:{}' was created inside the {} branch of cond '{cname}' and is not visible here; return it from the branch function and use the cond's output",
                            node.name,
                            t.index(),
                            if b { "true" } else { "false" }
                        ),
                    ));
                }
                specs.push(st.spec(*t)?.clone());
            }
            Ok(specs)
        })?;
        let name = if exact {
            if g.read(|st| st.by_name.contains_key(&intended)) {
                return Err(Error::build(
                    intended.clone(),
                    op.type_name(),
                    "an operation with this exact name already exists; choose another name",
                ));
            }
            g.write().used_names.entry(intended.to_lowercase()).or_insert(1);
            intended
        } else {
            g.unique_name(&intended)
        };
        let outputs = op.infer(&InferCtx::new(&name, op.type_name(), &specs)).map_err(|e| match e {
            Error::InvalidArgument(m) => {
                Error::Build { node: name.clone(), op: op.type_name().to_string(), message: m, inputs: specs.clone() }
            }
            other => other,
        })?;
        let mut control_inputs = self.control_deps.clone();
        control_inputs.dedup();
        Ok(g.add_node(NodeData { name, op, inputs: inputs.to_vec(), control_inputs, outputs, cond_ctx: self.cond_ctx }))
    }
}
