//! Graphviz DOT export: the Rust counterpart of the founding note's `show_graph`, with name
//! scopes collapsed to boxes, conds drawn as clusters and the gradient subgraph hidden
//! (`docs/visualizing.md`).

use crate::graph::{CondCtxId, Graph, GraphState};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

/// How the gradient subgraph (nodes under a `gradients` name scope, as `minimize` builds it) is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GradientView {
    /// Left out, with every edge touching it (the default: it doubles the picture).
    #[default]
    Hidden,
    /// One box per `gradients` scope.
    Box,
    /// Drawn like any other nodes.
    Full,
}

/// Options of [`Graph::to_dot_with`]. The default draws every forward node (no collapsing) and
/// hides the gradient subgraph.
///
/// ```
/// use ferroflow_core::{DotOptions, GradientView};
/// let opts = DotOptions::new().depth(1).gradients(GradientView::Box);
/// assert_eq!(opts.collapse_depth(), Some(1));
/// ```
#[derive(Clone, Debug, Default)]
pub struct DotOptions {
    depth: Option<usize>,
    gradients: GradientView,
}

impl DotOptions {
    /// The defaults: no collapsing, gradients hidden.
    pub fn new() -> Self {
        Self::default()
    }

    /// Collapses name scopes deeper than `depth` into one box each: at depth 1 every node under
    /// `conv12/…` becomes the box `conv12`; nodes with fewer scope levels stay single nodes.
    pub fn depth(mut self, depth: usize) -> Self {
        self.depth = Some(depth);
        self
    }

    /// How the gradient subgraph is drawn (default [`GradientView::Hidden`]).
    pub fn gradients(mut self, view: GradientView) -> Self {
        self.gradients = view;
        self
    }

    /// The collapsing depth, if any.
    pub fn collapse_depth(&self) -> Option<usize> {
        self.depth
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The `gradients` scope a node name lies under (`"gradients"`, `"net/gradients_1"`), if any.
fn gradient_scope(name: &str) -> Option<String> {
    let parts: Vec<&str> = name.split('/').collect();
    let scope_parts = parts.len().saturating_sub(1);
    let i = parts[..scope_parts].iter().position(|p| *p == "gradients" || p.starts_with("gradients_"))?;
    Some(parts[..=i].join("/"))
}

/// What a node is drawn as.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Item {
    Node(usize),
    Scope(String),
}

impl Graph {
    /// The whole graph in Graphviz DOT form, every node drawn (gradients too): the same as
    /// `to_dot_with(&DotOptions::new().gradients(GradientView::Full))`.
    pub fn to_dot(&self) -> String {
        self.to_dot_with(&DotOptions::new().gradients(GradientView::Full))
    }

    /// The graph in Graphviz DOT form, as `opts` says. Nodes are labelled with their name, op type
    /// and first output's static shape; collapsed scopes are boxes labelled with the scope and its
    /// op count. Data edges are solid (labelled with the shape between single nodes), control
    /// edges dashed (each pair of drawn items gets at most one of each); each cond branch is a cluster (nested conds nest) and its predicate is drawn
    /// as a bold `pred` edge into it (or into the box holding the cond). Render with
    /// `dot -Tsvg graph.dot -o graph.svg`. Cost: linear in nodes and edges.
    pub fn to_dot_with(&self, opts: &DotOptions) -> String {
        self.read(|st| render(st, opts))
    }
}

fn render(st: &GraphState, opts: &DotOptions) -> String {
    // 1. What each node is drawn as (None: hidden).
    let item_of = |i: usize| -> Option<Item> {
        let name = &st.nodes[i].name;
        if let Some(gs) = gradient_scope(name) {
            match opts.gradients {
                GradientView::Hidden => return None,
                GradientView::Box => return Some(Item::Scope(gs)),
                GradientView::Full => {}
            }
        }
        match opts.depth {
            None => Some(Item::Node(i)),
            Some(d) => {
                let parts: Vec<&str> = name.split('/').collect();
                let levels = parts.len() - 1;
                if levels == 0 {
                    Some(Item::Node(i))
                } else {
                    Some(Item::Scope(parts[..levels.min(d.max(1))].join("/")))
                }
            }
        }
    };
    let items: Vec<Option<Item>> = (0..st.nodes.len()).map(item_of).collect();
    let mut ids: HashMap<Item, usize> = HashMap::new();
    let mut order: Vec<Item> = Vec::new();
    let mut counts: HashMap<Item, usize> = HashMap::new();
    for it in items.iter().flatten() {
        if !ids.contains_key(it) {
            ids.insert(it.clone(), order.len());
            order.push(it.clone());
        }
        *counts.entry(it.clone()).or_default() += 1;
    }
    let id = |it: &Item| ids.get(it).copied().unwrap_or(0);

    let mut out = String::from(
        "digraph ferroflow {\n  rankdir=TB;\n  compound=true;\n  node [shape=box, style=rounded, fontsize=10];\n",
    );
    // 2. Single nodes go in their cond cluster; boxes at the top level.
    let mut by_ctx: BTreeMap<Option<CondCtxId>, Vec<usize>> = BTreeMap::new();
    for (k, it) in order.iter().enumerate() {
        let ctx = match it {
            Item::Node(i) => st.nodes[*i].cond_ctx,
            Item::Scope(_) => None,
        };
        by_ctx.entry(ctx).or_default().push(k);
    }
    let line = |k: usize| -> String {
        match &order[k] {
            Item::Node(i) => {
                let n = &st.nodes[*i];
                let shape = n.outputs.first().map(|o| format!(" {}", o.shape)).unwrap_or_default();
                format!("n{k} [label=\"{}\\n{}{}\"];", esc(&n.name), n.op.type_name(), esc(&shape))
            }
            Item::Scope(sc) => {
                let c = counts.get(&order[k]).copied().unwrap_or(0);
                let (fill, what) = if gradient_scope(&format!("{sc}/x")).is_some() {
                    ("mistyrose", "gradient ops")
                } else {
                    ("lightsteelblue1", "ops")
                };
                format!("n{k} [label=\"{}/\\n{c} {what}\", shape=box3d, style=filled, fillcolor={fill}];", esc(sc))
            }
        }
    };
    // The first drawn single node of each cond branch (for the predicate edge's lhead).
    let mut first_in_ctx: HashMap<u32, usize> = HashMap::new();
    fn emit(
        out: &mut String,
        ctx: Option<CondCtxId>,
        depth: usize,
        st: &GraphState,
        by_ctx: &BTreeMap<Option<CondCtxId>, Vec<usize>>,
        line: &dyn Fn(usize) -> String,
        first: &mut HashMap<u32, usize>,
    ) -> bool {
        let pad = "  ".repeat(depth + 1);
        let mut any = false;
        if let Some(ks) = by_ctx.get(&ctx) {
            for &k in ks {
                let _ = writeln!(out, "{pad}{}", line(k));
                if let Some(c) = ctx {
                    first.entry(c.0).or_insert(k);
                }
                any = true;
            }
        }
        for (ci, b) in st.cond_ctxs.iter().enumerate() {
            if b.parent == ctx {
                let cid = CondCtxId(ci as u32);
                let mut inner = String::new();
                if emit(&mut inner, Some(cid), depth + 1, st, by_ctx, line, first) {
                    let _ = writeln!(out, "{pad}subgraph cluster_cond{ci} {{");
                    let _ = writeln!(
                        out,
                        "{pad}  label=\"{} ({} branch)\"; style=dashed; color={};",
                        esc(&b.name),
                        b.branch,
                        if b.branch { "darkgreen" } else { "firebrick" }
                    );
                    out.push_str(&inner);
                    let _ = writeln!(out, "{pad}}}");
                    if let (Some(c), Some(&k)) = (ctx, first.get(&(ci as u32))) {
                        first.entry(c.0).or_insert(k);
                    }
                    any = true;
                }
            }
        }
        any
    }
    emit(&mut out, None, 0, st, &by_ctx, &line, &mut first_in_ctx);

    // 3. Edges between drawn items: each pair at most one data and one control edge.
    let mut data: BTreeMap<(usize, usize), Option<String>> = BTreeMap::new();
    let mut control: BTreeSet<(usize, usize)> = BTreeSet::new();
    for (i, n) in st.nodes.iter().enumerate() {
        let Some(to) = &items[i] else { continue };
        let b = id(to);
        for t in &n.inputs {
            let a_idx = t.op().node_index();
            let Some(Some(from)) = items.get(a_idx) else { continue };
            let a = id(from);
            if a == b {
                continue;
            }
            let shape = st.nodes.get(a_idx).and_then(|p| p.outputs.get(t.index())).map(|s| s.shape.to_string());
            let label = match (from, to) {
                (Item::Node(_), Item::Node(_)) => shape,
                _ => None,
            };
            data.entry((a, b)).or_insert(label);
        }
        for c in &n.control_inputs {
            let Some(Some(from)) = items.get(c.node_index()) else { continue };
            let a = id(from);
            if a != b {
                control.insert((a, b));
            }
        }
    }
    for ((a, b), label) in &data {
        match label {
            Some(l) => {
                let _ = writeln!(out, "  n{a} -> n{b} [label=\"{}\", fontsize=8];", esc(l));
            }
            None => {
                let _ = writeln!(out, "  n{a} -> n{b};");
            }
        }
    }
    for (a, b) in &control {
        let _ = writeln!(out, "  n{a} -> n{b} [style=dashed, color=gray40];");
    }
    // 4. Each cond's predicate, into the branch cluster (or the box holding the cond).
    let mut pred_edges: BTreeSet<(usize, String)> = BTreeSet::new();
    for (ci, b) in st.cond_ctxs.iter().enumerate() {
        let Some(Some(from)) = items.get(b.pred.op().node_index()) else { continue };
        let a = id(from);
        if let Some(&k) = first_in_ctx.get(&(ci as u32)) {
            let _ = writeln!(
                out,
                "  n{a} -> n{k} [lhead=cluster_cond{ci}, label=\"pred\", style=bold, color=darkorange, fontsize=8];"
            );
            continue;
        }
        // Collapsed: the box(es) holding this branch's nodes.
        for (i, n) in st.nodes.iter().enumerate() {
            if n.cond_ctx == Some(CondCtxId(ci as u32)) {
                if let Some(it) = &items[i] {
                    let k = id(it);
                    if k != a && pred_edges.insert((k, b.name.clone())) {
                        let _ = writeln!(
                            out,
                            "  n{a} -> n{k} [label=\"pred {}\", style=bold, color=darkorange, fontsize=8];",
                            esc(&b.name)
                        );
                    }
                }
            }
        }
    }
    out.push_str("}\n");
    out
}
