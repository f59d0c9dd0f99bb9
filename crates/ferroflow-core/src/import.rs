//! Graph export and import support for meta graphs: a copy of every node, the name counters,
//! and the checked re-creation of nodes and cond branch contexts under their original names.
//!
//! The meta-graph writer (in `ferroflow-train`) reads a graph through [`Graph::export_nodes`],
//! [`Graph::name_counters`] and the public accessors; its reader rebuilds a graph in a fresh
//! [`Graph`] with [`Graph::import_cond_branch`], [`Graph::import_node`] and
//! [`Graph::reserve_names`]. Everything read from a file is checked before it touches the
//! graph: a damaged file gives an error naming the node, never a panic.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{CondBranch, CondCtxId, EdgeKind, Graph, NodeData};
use crate::handles::{Operation, Tensor};
use crate::op::{InferCtx, Op, TensorSpec};
use petgraph::graph::NodeIndex;
use std::sync::Arc;

impl Graph {
    /// A copy of every node, in creation order (the position is the node index).
    pub fn export_nodes(&self) -> Vec<NodeData> {
        self.read(|s| s.nodes.clone())
    }

    /// The counters behind unique naming (`name` → how many times it was requested), sorted by
    /// name. An imported graph that restores them names new ops exactly as the original would.
    pub fn name_counters(&self) -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = self.read(|s| s.used_names.iter().map(|(k, n)| (k.clone(), *n)).collect());
        v.sort();
        v
    }

    /// Raises the unique-name counters to at least the given values (names are lower-cased,
    /// as TF compares them), so later ops do not reuse imported names.
    pub fn reserve_names(&self, counters: &[(String, usize)]) {
        let mut s = self.write();
        for (name, n) in counters {
            let e = s.used_names.entry(name.to_lowercase()).or_insert(0);
            *e = (*e).max(*n);
        }
    }

    /// Re-creates a cond branch context; it gets the next free id, which is returned.
    ///
    /// # Errors
    /// The predicate is not a scalar bool tensor of this graph, or `parent` is not an existing
    /// context.
    pub fn import_cond_branch(&self, branch: CondBranch) -> Result<CondCtxId> {
        let what = || format!("cond context '{}'", branch.name);
        self.check_graph(branch.pred.graph_id(), what)?;
        let mut s = self.write();
        let next = s.cond_ctxs.len();
        if let Some(p) = branch.parent {
            if p.0 as usize >= next {
                return Err(Error::invalid(format!(
                    "cond context '{}' (#{next}) names parent context #{} that does not exist yet",
                    branch.name, p.0
                )));
            }
        }
        let spec = s.spec(branch.pred).map_err(|_| {
            Error::invalid(format!(
                "cond context '{}' (#{next}) has predicate #{}:{}, which is not an existing tensor",
                branch.name,
                branch.pred.op().node_index(),
                branch.pred.index()
            ))
        })?;
        if spec.dtype != DType::Bool || spec.shape.rank().is_some_and(|r| r != 0) {
            return Err(Error::CondMismatch {
                cond: branch.name.clone(),
                message: format!("the predicate must be a scalar bool tensor, got {} {}", spec.dtype, spec.shape),
            });
        }
        let id = u32::try_from(next).map_err(|_| Error::invalid("too many cond contexts"))?;
        s.cond_ctxs.push(branch);
        Ok(CondCtxId(id))
    }

    /// Adds a node under exactly `name` (no scope prefix, no uniquifying), with explicit
    /// control inputs and cond branch. The output specs are inferred again by the op, so a
    /// node whose attributes do not fit its inputs is refused as at build time.
    ///
    /// # Errors
    /// An empty name, a name containing `:` or already taken, inputs or control inputs that do
    /// not exist (yet) in this graph, a cond context that does not exist, an input hidden in a
    /// cond branch, or the op's own shape/dtype rule. Each error names the node.
    pub fn import_node(
        &self,
        name: &str,
        op: Arc<dyn Op>,
        inputs: &[Tensor],
        control_inputs: &[Operation],
        cond_ctx: Option<CondCtxId>,
    ) -> Result<Operation> {
        let op_type = op.type_name();
        let err = |message: String| Error::build(name, op_type, message);
        if name.is_empty() || name.contains(':') {
            return Err(err("an operation name must be non-empty and must not contain ':'".into()));
        }
        let specs = self.read(|st| -> Result<Vec<TensorSpec>> {
            if st.by_name.contains_key(name) {
                return Err(err("an operation with this name already exists".into()));
            }
            if let Some(c) = cond_ctx {
                if st.cond_branch(c).is_none() {
                    return Err(err(format!("it is placed in cond context #{}, which does not exist", c.0)));
                }
            }
            for c in control_inputs {
                if c.graph_id() != self.id() || st.node_at(c.node_index()).is_none() {
                    return Err(err(format!("control input #{} is not an existing operation", c.node_index())));
                }
            }
            let mut specs = Vec::with_capacity(inputs.len());
            for (i, t) in inputs.iter().enumerate() {
                let node = match st.node_at(t.op().node_index()) {
                    Some(n) if t.graph_id() == self.id() => n,
                    _ => {
                        return Err(err(format!(
                            "input {i} (#{}:{}) is not an existing tensor",
                            t.op().node_index(),
                            t.index()
                        )))
                    }
                };
                let spec = node.outputs.get(t.index()).ok_or_else(|| {
                    err(format!(
                        "input {i} asks for output {} of '{}', which has {}",
                        t.index(),
                        node.name,
                        node.outputs.len()
                    ))
                })?;
                if !op.accepts_dead_inputs() && !st.ctx_encloses(node.cond_ctx, cond_ctx) {
                    return Err(err(format!(
                        "input {i} '{}:{}' lives inside a cond branch that does not enclose this node",
                        node.name,
                        t.index()
                    )));
                }
                specs.push(spec.clone());
            }
            Ok(specs)
        })?;
        let outputs = op.infer(&InferCtx::new(name, op_type, &specs)).map_err(|e| match e {
            Error::InvalidArgument(m) => err(m),
            other => other,
        })?;
        let mut controls = control_inputs.to_vec();
        controls.dedup();
        let mut s = self.write();
        if s.by_name.contains_key(name) {
            return Err(err("an operation with this name already exists".into()));
        }
        let idx = s.pg.add_node(());
        let index = u32::try_from(idx.index()).map_err(|_| err("the graph has too many nodes".into()))?;
        for (pos, t) in inputs.iter().enumerate() {
            let kind = EdgeKind::Data { from_index: t.index() as u32, to_index: pos as u32 };
            s.pg.add_edge(NodeIndex::new(t.op().node_index()), idx, kind);
        }
        for c in &controls {
            s.pg.add_edge(NodeIndex::new(c.node_index()), idx, EdgeKind::Control);
        }
        s.by_name.insert(name.to_string(), index);
        s.used_names.entry(name.to_lowercase()).or_insert(1);
        s.nodes.push(NodeData {
            name: name.to_string(),
            op,
            inputs: inputs.to_vec(),
            control_inputs: controls,
            outputs,
            cond_ctx,
        });
        Ok(Operation::from_raw(self.id(), index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{GradCtx, KernelCtx};
    use crate::scope::Scope;
    use crate::shape::Shape;
    use crate::value::Value;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct TestSource {
        dtype: DType,
    }
    #[typetag::serde]
    impl Op for TestSource {
        fn type_name(&self) -> &'static str {
            "TestSource"
        }
        fn infer(&self, _: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
            Ok(vec![TensorSpec::new(self.dtype, Shape::scalar())])
        }
        fn compute(&self, _: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
            Ok(vec![Value::zeros(self.dtype, &[])])
        }
        fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
            Ok(vec![])
        }
    }

    #[test]
    fn import_checks_names_inputs_and_contexts() {
        let g = Graph::new();
        let a = g.import_node("a", Arc::new(TestSource { dtype: DType::Bool }), &[], &[], None);
        let a = a.ok().map(|o| o.output(0));
        assert!(a.is_some());
        let Some(a) = a else { return };
        assert!(g.import_node("a", Arc::new(TestSource { dtype: DType::F32 }), &[], &[], None).is_err());
        assert!(g.import_node("x:0", Arc::new(TestSource { dtype: DType::F32 }), &[], &[], None).is_err());
        let ghost = Operation::from_raw(g.id(), 7);
        let e = g.import_node("b", Arc::new(TestSource { dtype: DType::F32 }), &[], &[ghost], None);
        assert!(e.is_err_and(|e| e.to_string().contains("'b'")));
        let e = g.import_node("c", Arc::new(TestSource { dtype: DType::F32 }), &[], &[], Some(CondCtxId(0)));
        assert!(e.is_err());
        let ctx = g.import_cond_branch(CondBranch { pred: a, branch: true, parent: None, name: "cond".into() });
        assert_eq!(ctx.ok(), Some(CondCtxId(0)));
        let bad = g.import_cond_branch(CondBranch {
            pred: a,
            branch: true,
            parent: Some(CondCtxId(5)),
            name: "cond_1".into(),
        });
        assert!(bad.is_err());
        assert!(g.import_node("c", Arc::new(TestSource { dtype: DType::F32 }), &[], &[], Some(CondCtxId(0))).is_ok());
        // Unique naming continues after imported names.
        assert_eq!(g.unique_name("a"), "a_1");
        g.reserve_names(&[("z".into(), 3)]);
        assert_eq!(g.unique_name("z"), "z_3");
    }
}
