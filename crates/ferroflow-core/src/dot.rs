//! Graphviz DOT export: the Rust counterpart of the founding note's `show_graph`.

use crate::graph::{CondCtxId, EdgeKind, Graph};
use petgraph::visit::EdgeRef;
use std::collections::BTreeMap;
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

impl Graph {
    /// The graph in Graphviz DOT form. Data edges are solid and labelled with the tensor's
    /// static shape, control edges dashed, and each cond branch is drawn as a cluster
    /// (nested conds nest). Render with `dot -Tsvg graph.dot -o graph.svg`.
    pub fn to_dot(&self) -> String {
        self.read(|st| {
            let mut out =
                String::from("digraph ferroflow {\n  rankdir=TB;\n  node [shape=box, style=rounded, fontsize=10];\n");
            // Group nodes by their innermost cond branch.
            let mut by_ctx: BTreeMap<Option<CondCtxId>, Vec<usize>> = BTreeMap::new();
            for (i, n) in st.nodes.iter().enumerate() {
                by_ctx.entry(n.cond_ctx).or_default().push(i);
            }
            let node_line = |i: usize| {
                let n = &st.nodes[i];
                let extra = n.op.describe();
                let label = if extra.is_empty() {
                    format!("{}\\n({})", esc(&n.name), n.op.type_name())
                } else {
                    format!("{}\\n({}: {})", esc(&n.name), n.op.type_name(), esc(&extra))
                };
                format!("n{i} [label=\"{label}\"];")
            };
            fn emit(
                out: &mut String,
                ctx: Option<CondCtxId>,
                depth: usize,
                st: &crate::graph::GraphState,
                by_ctx: &BTreeMap<Option<CondCtxId>, Vec<usize>>,
                node_line: &dyn Fn(usize) -> String,
            ) {
                let pad = "  ".repeat(depth + 1);
                if let Some(ids) = by_ctx.get(&ctx) {
                    for &i in ids {
                        let _ = writeln!(out, "{pad}{}", node_line(i));
                    }
                }
                for (ci, b) in st.cond_ctxs.iter().enumerate() {
                    if b.parent == ctx {
                        let id = CondCtxId(ci as u32);
                        let _ = writeln!(out, "{pad}subgraph cluster_cond{ci} {{");
                        let _ = writeln!(
                            out,
                            "{pad}  label=\"{} ({} branch)\"; style=dashed; color={};",
                            esc(&b.name),
                            b.branch,
                            if b.branch { "darkgreen" } else { "firebrick" }
                        );
                        emit(out, Some(id), depth + 1, st, by_ctx, node_line);
                        let _ = writeln!(out, "{pad}}}");
                    }
                }
            }
            emit(&mut out, None, 0, st, &by_ctx, &node_line);
            for e in st.pg.edge_references() {
                let (a, b) = (e.source().index(), e.target().index());
                match e.weight() {
                    EdgeKind::Data { from_index, .. } => {
                        let shape = st
                            .nodes
                            .get(a)
                            .and_then(|n| n.outputs.get(*from_index as usize))
                            .map(|s| s.shape.to_string())
                            .unwrap_or_default();
                        let _ = writeln!(out, "  n{a} -> n{b} [label=\"{}\", fontsize=8];", esc(&shape));
                    }
                    EdgeKind::Control => {
                        let _ = writeln!(out, "  n{a} -> n{b} [style=dashed, color=gray40];");
                    }
                }
            }
            out.push_str("}\n");
            out
        })
    }
}
