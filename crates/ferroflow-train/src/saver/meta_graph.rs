//! Meta graphs: the whole graph (ops with their attributes, names, inputs, control inputs,
//! cond branch contexts, variables, collections, graph seed, name counters) and the Saver's
//! variable list, so that a program that did not build the graph can recreate it.
//! TF1: `tf.train.export_meta_graph` / `tf.train.import_meta_graph`.
//!
//! Ops are stored through their serde form (`typetag`: the type name is the registry), each
//! op in its own bincode blob so that a failure names the node. The file uses the same
//! versioned, checksummed envelope as checkpoints (magic `\x89FFMETA\n`).

use super::format::{self, open_envelope, write_atomic, Bytes, FaultTarget, FileInfo, FileKind, WriteFault};
use super::Saver;
use ferroflow_core::{
    CollectionItem, CollectionKey, CondBranch, CondCtxId, DType, Error, Graph, Op, Operation, Result, Shape, Tensor,
    TensorSpec, Variable,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct SpecRecord {
    dtype: String,
    /// `None`: unknown rank; `Some(dims)` with `None` for unknown dims.
    dims: Option<Vec<Option<u64>>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct NodeRecord {
    name: String,
    /// TF type name, for messages only.
    op_type: String,
    /// The op's serde form (bincode of `dyn Op` through typetag).
    op: Bytes,
    /// (producer node, output index).
    inputs: Vec<(u32, u32)>,
    control_inputs: Vec<u32>,
    cond_ctx: Option<u32>,
    outputs: Vec<SpecRecord>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct CondRecord {
    pred: (u32, u32),
    branch: bool,
    parent: Option<u32>,
    name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct VariableRecord {
    op: u32,
    initializer: u32,
    initial_value: (u32, u32),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum ItemRecord {
    Tensor(u32, u32),
    Operation(u32),
    /// The variable's `VariableV2` node.
    Variable(u32),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct SaverRecord {
    /// (checkpoint name, variable node).
    var_list: Vec<(String, u32)>,
    /// 0 keeps all.
    max_to_keep: u64,
    keep_checkpoint_every_n_hours: Option<f64>,
    write_meta_graph: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct MetaGraphPayload {
    nodes: Vec<NodeRecord>,
    cond_contexts: Vec<CondRecord>,
    variables: Vec<VariableRecord>,
    collections: Vec<(String, Vec<ItemRecord>)>,
    seed: Option<u64>,
    name_counters: Vec<(String, u64)>,
    saver: Option<SaverRecord>,
}

/// A meta graph read from a file (or made from a graph), ready to be imported.
#[derive(Clone, Debug)]
pub struct MetaGraph {
    info: FileInfo,
    payload: MetaGraphPayload,
    /// The decoded ops (same order as `payload.nodes`).
    ops: Vec<Arc<dyn Op>>,
}

/// Encoded op of each node, by node index (checked by pointer identity).
pub(crate) type OpCache = Vec<(Arc<dyn Op>, Vec<u8>)>;

fn spec_record(s: &TensorSpec) -> SpecRecord {
    SpecRecord {
        dtype: s.dtype.tf_name().to_string(),
        dims: s.shape.dims().map(|d| d.iter().map(|x| x.map(|n| n as u64)).collect()),
    }
}

fn idx(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::invalid("the graph has too many nodes to export"))
}

fn encode_op(name: &str, op: &dyn Op) -> Result<Vec<u8>> {
    let bytes = format::encode(op)
        .map_err(|e| Error::build(name, op.type_name(), format!("cannot serialize this op for a meta graph: {e}")))?;
    // Check the op reads back to the same bytes now, rather than fail in the serving program.
    let back: std::result::Result<Box<dyn Op>, String> = format::decode(&bytes);
    let same = back.ok().and_then(|b| format::encode(&*b).ok()).is_some_and(|again| again == bytes);
    if !same {
        return Err(Error::build(
            name,
            op.type_name(),
            "this op does not read back to itself from its serde form (check its Serialize/Deserialize: bincode needs every field, no `skip_serializing_if`), so a meta graph holding it could not be imported",
        ));
    }
    Ok(bytes)
}

impl MetaGraph {
    /// Captures `graph` (and `saver`'s variable list and settings, if given).
    ///
    /// # Errors
    /// An op that cannot be serialized or does not read back to itself (the node is named).
    pub fn from_graph(graph: &Graph, saver: Option<&Saver>) -> Result<MetaGraph> {
        match saver {
            // A Saver keeps the encoded ops between saves: nodes never change once created.
            Some(s) => Self::capture(graph, Some(s), &mut s.op_cache.lock().unwrap_or_else(|e| e.into_inner())),
            None => Self::capture(graph, None, &mut OpCache::new()),
        }
    }

    fn capture(graph: &Graph, saver: Option<&Saver>, cache: &mut OpCache) -> Result<MetaGraph> {
        let nodes = graph.export_nodes();
        let mut records = Vec::with_capacity(nodes.len());
        let mut ops = Vec::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            let bytes = match cache.get(i) {
                Some((op, bytes)) if Arc::ptr_eq(op, &n.op) => bytes.clone(),
                _ => {
                    let bytes = encode_op(&n.name, &*n.op)?;
                    cache.truncate(i);
                    cache.push((n.op.clone(), bytes.clone()));
                    bytes
                }
            };
            records.push(NodeRecord {
                name: n.name.clone(),
                op_type: n.op.type_name().to_string(),
                op: Bytes(bytes),
                inputs: n
                    .inputs
                    .iter()
                    .map(|t| Ok((idx(t.op().node_index())?, idx(t.index())?)))
                    .collect::<Result<_>>()?,
                control_inputs: n.control_inputs.iter().map(|c| idx(c.node_index())).collect::<Result<_>>()?,
                cond_ctx: n.cond_ctx.map(|c| c.0),
                outputs: n.outputs.iter().map(spec_record).collect(),
            });
            ops.push(n.op.clone());
        }
        let (cond_contexts, variables, collections, seed) = graph.read(|st| -> Result<_> {
            let ctxs = st
                .cond_branches()
                .iter()
                .map(|b| {
                    Ok(CondRecord {
                        pred: (idx(b.pred.op().node_index())?, idx(b.pred.index())?),
                        branch: b.branch,
                        parent: b.parent.map(|p| p.0),
                        name: b.name.clone(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let vars = st
                .variables()
                .iter()
                .map(|v| {
                    Ok(VariableRecord {
                        op: idx(v.op().node_index())?,
                        initializer: idx(v.initializer().node_index())?,
                        initial_value: (idx(v.initial_value().op().node_index())?, idx(v.initial_value().index())?),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let mut colls = Vec::new();
            for (key, items) in st.collections() {
                let mut recs = Vec::with_capacity(items.len());
                for it in items {
                    recs.push(match it {
                        CollectionItem::Tensor(t) => ItemRecord::Tensor(idx(t.op().node_index())?, idx(t.index())?),
                        CollectionItem::Operation(o) => ItemRecord::Operation(idx(o.node_index())?),
                        CollectionItem::Variable(v) => ItemRecord::Variable(idx(v.op().node_index())?),
                    });
                }
                colls.push((key.as_str().to_string(), recs));
            }
            Ok((ctxs, vars, colls, st.seed()))
        })?;
        let saver = match saver {
            Some(s) => {
                graph.check_graph(s.graph().id(), || "the Saver".to_string())?;
                let (max_to_keep, keep, write_meta) = s.settings();
                Some(SaverRecord {
                    var_list: s
                        .var_list()
                        .iter()
                        .map(|(n, v)| Ok((n.clone(), idx(v.op().node_index())?)))
                        .collect::<Result<_>>()?,
                    max_to_keep: max_to_keep as u64,
                    keep_checkpoint_every_n_hours: keep,
                    write_meta_graph: write_meta,
                })
            }
            None => None,
        };
        let payload = MetaGraphPayload {
            nodes: records,
            cond_contexts,
            variables,
            collections,
            seed,
            name_counters: graph.name_counters().into_iter().map(|(k, n)| (k, n as u64)).collect(),
            saver,
        };
        Ok(MetaGraph {
            info: FileInfo {
                format_version: format::FORMAT_VERSION,
                ferroflow_version: format::FERROFLOW_VERSION.to_string(),
            },
            payload,
            ops,
        })
    }

    /// The file bytes (envelope + payload).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let payload = format::encode(&self.payload)?;
        let mut out = format::envelope(FileKind::MetaGraph, &payload)?;
        out.extend_from_slice(&payload);
        Ok(out)
    }

    pub(crate) fn write(&self, path: &Path, fault: Option<WriteFault>) -> Result<()> {
        let payload = format::encode(&self.payload)?;
        let head = format::envelope(FileKind::MetaGraph, &payload)?;
        write_atomic(path, &[&head, &payload], FaultTarget::MetaGraph, fault)
    }

    /// Reads a meta graph from its bytes (`path` is used in messages only). Checks the
    /// envelope and decodes every op; never panics, whatever the bytes.
    ///
    /// # Errors
    /// [`Error::Format`] naming the path and what is wrong (not a meta graph, truncated,
    /// checksum mismatch, format version from the future, an op that cannot be decoded — named
    /// with its node — e.g. because this program does not link the crate defining it).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<MetaGraph> {
        let (info, payload) = open_envelope(FileKind::MetaGraph, bytes, path)?;
        Self::from_payload(info, payload, path)
    }

    /// Decodes a payload whose envelope was already checked (fuzzing entry point).
    #[doc(hidden)]
    pub fn from_payload(info: FileInfo, payload: &[u8], path: &Path) -> Result<MetaGraph> {
        let payload: MetaGraphPayload =
            format::decode(payload).map_err(|m| Error::format(path, format!("damaged meta graph payload: {m}")))?;
        let mut ops = Vec::with_capacity(payload.nodes.len());
        for n in &payload.nodes {
            let op: Box<dyn Op> = format::decode(&n.op.0).map_err(|m| {
                let m = unknown_type(&m).map(|t| format!("unknown op type `{t}`")).unwrap_or(m);
                Error::format(
                    path,
                    format!(
                        "node '{}' ({}): cannot decode its op: {m}. The op type may come from a newer ferroflow or from a crate this program does not link (add `use that_crate as _;`)",
                        n.name, n.op_type
                    ),
                )
            })?;
            ops.push(Arc::from(op));
        }
        Ok(MetaGraph { info, payload, ops })
    }

    /// Reads a `.meta` file.
    pub fn read(path: impl AsRef<Path>) -> Result<MetaGraph> {
        let path = path.as_ref();
        let bytes = format::read_file(path, FileKind::MetaGraph)?;
        Self::from_bytes(&bytes, path)
    }

    /// Format version and ferroflow release of the file.
    pub fn info(&self) -> &FileInfo {
        &self.info
    }

    /// Names of the nodes, in creation order.
    pub fn node_names(&self) -> Vec<&str> {
        self.payload.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// Recreates the graph in a new [`Graph`], with the Saver that was exported with it
    /// (or, without one, a Saver over all global variables; `None` when there are none).
    ///
    /// `path` names the file in errors.
    ///
    /// # Errors
    /// A node, cond context, variable or collection entry that is inconsistent (named); an
    /// op whose shape rule now infers other output specs than the file records.
    pub fn import(&self, path: &Path) -> Result<(Graph, Option<Saver>)> {
        let p = &self.payload;
        let g = Graph::new();
        let gid = g.id();
        let bad = |msg: String| Error::format(path, msg);
        if let Some(seed) = p.seed {
            g.set_random_seed(seed);
        }
        let tensor = |(n, i): (u32, u32)| Tensor::from_raw(gid, n, i);
        let mut next_ctx = 0usize;
        let make_ctx = |k: usize, limit: usize, next_ctx: &mut usize| -> Result<()> {
            while *next_ctx < limit {
                let c = p
                    .cond_contexts
                    .get(*next_ctx)
                    .ok_or_else(|| bad(format!("cond context #{next_ctx} is missing")))?;
                if c.pred.0 as usize >= k {
                    return Err(bad(format!(
                        "cond context '{}' uses a predicate that is created after its first node",
                        c.name
                    )));
                }
                let branch = CondBranch {
                    pred: tensor(c.pred),
                    branch: c.branch,
                    parent: c.parent.map(CondCtxId),
                    name: c.name.clone(),
                };
                g.import_cond_branch(branch).map_err(|e| bad(format!("cond context '{}': {e}", c.name)))?;
                *next_ctx += 1;
            }
            Ok(())
        };
        for (k, (n, op)) in p.nodes.iter().zip(&self.ops).enumerate() {
            if let Some(c) = n.cond_ctx {
                let c = c as usize;
                if c >= p.cond_contexts.len() {
                    return Err(bad(format!(
                        "node '{}' is in cond context #{c}, which the file does not define",
                        n.name
                    )));
                }
                make_ctx(k, c + 1, &mut next_ctx)?;
            }
            let inputs: Vec<Tensor> = n.inputs.iter().map(|&t| tensor(t)).collect();
            let controls: Vec<Operation> = n.control_inputs.iter().map(|&c| Operation::from_raw(gid, c)).collect();
            let made = g
                .import_node(&n.name, op.clone(), &inputs, &controls, n.cond_ctx.map(CondCtxId))
                .map_err(|e| bad(format!("cannot recreate node '{}': {e}", n.name)))?;
            if made.node_index() != k {
                return Err(bad(format!("node '{}' did not get its original index {k}", n.name)));
            }
            let got: Vec<SpecRecord> = g.node(made)?.outputs.iter().map(spec_record).collect();
            if got != n.outputs {
                return Err(bad(format!(
                    "node '{}' ({}): this ferroflow infers outputs {} but the file records {}; the op's shape rule changed since the graph was exported",
                    n.name,
                    n.op_type,
                    show_specs(&got),
                    show_specs(&n.outputs)
                )));
            }
        }
        make_ctx(p.nodes.len(), p.cond_contexts.len(), &mut next_ctx)?;

        let mut by_op: HashMap<u32, Variable> = HashMap::new();
        for v in &p.variables {
            let var_op = Operation::from_raw(gid, v.op);
            let node = g
                .node(var_op)
                .map_err(|_| bad(format!("variable record points at node #{}, which does not exist", v.op)))?;
            if !node.op.is_variable() {
                return Err(bad(format!(
                    "variable record points at '{}', which is a {} op, not a variable",
                    node.name,
                    node.op.type_name()
                )));
            }
            let init = Operation::from_raw(gid, v.initializer);
            let iv = tensor(v.initial_value);
            if g.node(init).is_err() || g.spec(iv).is_err() {
                return Err(bad(format!("variable '{}' names an initializer that does not exist", node.name)));
            }
            if g.variable_by_name(&node.name).is_some() {
                return Err(bad(format!("variable '{}' is recorded twice", node.name)));
            }
            let var = Variable::from_parts(var_op, init, iv);
            g.register_variable(var);
            by_op.insert(v.op, var);
        }
        for (key, items) in &p.collections {
            let key = CollectionKey::new(key.clone());
            for it in items {
                let item = match *it {
                    ItemRecord::Tensor(n, i) => {
                        let t = tensor((n, i));
                        g.spec(t).map_err(|_| {
                            bad(format!("collection '{key}' holds tensor #{n}:{i}, which does not exist"))
                        })?;
                        CollectionItem::Tensor(t)
                    }
                    ItemRecord::Operation(n) => {
                        let o = Operation::from_raw(gid, n);
                        g.node(o).map_err(|_| {
                            bad(format!("collection '{key}' holds operation #{n}, which does not exist"))
                        })?;
                        CollectionItem::Operation(o)
                    }
                    ItemRecord::Variable(n) => CollectionItem::Variable(*by_op.get(&n).ok_or_else(|| {
                        bad(format!("collection '{key}' holds variable #{n}, which is not a recorded variable"))
                    })?),
                };
                g.add_to_collection(&key, item);
            }
        }
        let counters: Vec<(String, usize)> =
            p.name_counters.iter().map(|(k, n)| (k.clone(), usize::try_from(*n).unwrap_or(usize::MAX))).collect();
        g.reserve_names(&counters);

        let saver = match &p.saver {
            Some(s) => {
                let mut vars = Vec::with_capacity(s.var_list.len());
                for (name, n) in &s.var_list {
                    let v = by_op.get(n).ok_or_else(|| {
                        bad(format!("the saver's variable '{name}' (node #{n}) is not a recorded variable"))
                    })?;
                    vars.push((name.clone(), *v));
                }
                let max_to_keep = usize::try_from(s.max_to_keep).unwrap_or(usize::MAX);
                Some(Saver::from_parts(&g, vars, max_to_keep, s.keep_checkpoint_every_n_hours, s.write_meta_graph)?)
            }
            None if !g.global_variables().is_empty() => Some(Saver::new(&g, super::VarList::All)?),
            None => None,
        };
        Ok((g, saver))
    }
}

/// The type name in typetag's "unknown variant `X`, expected one of …" (the list can be long).
fn unknown_type(msg: &str) -> Option<&str> {
    let rest = msg.split_once("unknown variant `")?.1;
    Some(rest.split_once('`')?.0)
}

fn show_specs(specs: &[SpecRecord]) -> String {
    let parts: Vec<String> = specs
        .iter()
        .map(|s| {
            let dtype = [DType::F32, DType::F64, DType::I32, DType::I64, DType::Bool]
                .into_iter()
                .find(|d| d.tf_name() == s.dtype);
            let shape = match &s.dims {
                None => Shape::unknown(),
                Some(d) => Shape::from_dims(d.iter().map(|x| x.and_then(|n| usize::try_from(n).ok())).collect()),
            };
            match dtype {
                Some(d) => TensorSpec::new(d, shape).to_string(),
                None => format!("{} {shape}", s.dtype),
            }
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Writes `graph` as a meta graph file, without a Saver (importing it then gives a Saver
/// over all global variables). TF1: `tf.train.export_meta_graph(filename)`. Use
/// [`Saver::export_meta_graph`] to record a Saver's variable list too.
///
/// The file is written atomically.
///
/// # Errors
/// An op that cannot be serialized (named), or an IO error.
pub fn export_meta_graph(graph: &Graph, path: impl AsRef<Path>) -> Result<()> {
    MetaGraph::from_graph(graph, None)?.write(path.as_ref(), None)
}

/// Recreates a graph from a meta graph file in a new [`Graph`], with its Saver (`None` when
/// the graph has no variables). TF1: `tf.train.import_meta_graph(path)`.
///
/// Tensors are then found by name (`graph.tensor_by_name("logits:0")`), and
/// `saver.restore(&session, checkpoint)` loads trained weights for inference. The program
/// must link every crate whose ops the graph uses.
///
/// ```
/// use ferroflow_core::{DType, Graph, shape};
/// use ferroflow_ops::{math, placeholder};
/// use ferroflow_session::{feed_dict, Session};
/// use ferroflow_train::saver::{export_meta_graph, import_meta_graph};
/// # fn main() -> ferroflow_core::Result<()> {
/// let path = std::env::temp_dir().join(format!("ff-meta-doc-{}.meta", std::process::id()));
/// let g = Graph::new();
/// let s = g.root();
/// let x = placeholder(&s.with_name("x"), DType::F32, shape![None])?;
/// math::mul(&s.with_name("y"), x, 3.0f32)?;
/// export_meta_graph(&g, &path)?;
///
/// let (g2, _saver) = import_meta_graph(&path)?;
/// let (x2, y2) = (g2.tensor_by_name("x:0")?, g2.tensor_by_name("y:0")?);
/// let out = Session::new(&g2).run([y2], &feed_dict![x2 => vec![1.0f32, 2.0]])?;
/// assert_eq!(out[0].to_vec::<f32>()?, vec![3.0, 6.0]);
/// # std::fs::remove_file(&path).ok();
/// # Ok(()) }
/// ```
///
/// # Errors
/// The file errors of [`MetaGraph::from_bytes`] and the consistency errors of
/// [`MetaGraph::import`], each naming the file.
pub fn import_meta_graph(path: impl AsRef<Path>) -> Result<(Graph, Option<Saver>)> {
    let path = path.as_ref();
    MetaGraph::read(path)?.import(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use ferroflow_ops::state::{variable, VariableOptions};
    use ferroflow_ops::{cond, math, placeholder};

    fn sample() -> MetaGraph {
        let g = Graph::new();
        let s = g.root();
        let x = placeholder(&s.with_name("x"), DType::F32, ferroflow_core::shape![None]).unwrap();
        let p = placeholder(&s.with_name("p"), DType::Bool, ferroflow_core::shape![]).unwrap();
        let v = variable(&s.with_name("v"), 2.0f32, VariableOptions::default()).unwrap();
        let y = cond(&s, p, |s| math::mul(s, x, v), |s| math::neg(s, x)).unwrap();
        g.add_to_collection(&CollectionKey::new("out"), y);
        let saver = Saver::new(&g, super::super::VarList::All).unwrap();
        MetaGraph::from_graph(&g, Some(&saver)).unwrap()
    }

    fn import_err(mg: &MetaGraph) -> String {
        match mg.import(Path::new("t.meta")) {
            Ok(_) => panic!("import should fail"),
            Err(e) => {
                assert!(matches!(e, Error::Format { .. }), "{e:?}");
                e.to_string()
            }
        }
    }

    fn node_index(mg: &MetaGraph, name: &str) -> usize {
        mg.payload.nodes.iter().position(|n| n.name == name).unwrap()
    }

    #[test]
    fn sample_imports() {
        let mg = sample();
        let (g, saver) = mg.import(Path::new("t.meta")).unwrap();
        assert_eq!(g.num_nodes(), mg.payload.nodes.len());
        assert_eq!(saver.unwrap().var_list().len(), 1);
        // Through bytes too.
        let back = MetaGraph::from_bytes(&mg.to_bytes().unwrap(), Path::new("t.meta")).unwrap();
        assert_eq!(back.node_names(), mg.node_names());
        assert_eq!(back.info().format_version, format::FORMAT_VERSION);
    }

    #[test]
    fn a_changed_shape_rule_is_reported() {
        let mut mg = sample();
        let k = node_index(&mg, "x");
        mg.payload.nodes[k].outputs[0].dims = Some(vec![Some(7)]);
        let e = import_err(&mg);
        assert!(
            e.contains("node 'x'") && e.contains("[7]") && e.contains("[?]") && e.contains("shape rule changed"),
            "{e}"
        );
    }

    #[test]
    fn dangling_references_are_reported() {
        let base = sample();
        let n = base.payload.nodes.len() as u32;

        let mut mg = base.clone();
        let k = node_index(&mg, "v/Assign");
        mg.payload.nodes[k].inputs[1] = (n + 5, 0);
        let e = import_err(&mg);
        assert!(e.contains("cannot recreate node 'v/Assign'") && e.contains("not an existing tensor"), "{e}");

        let mut mg = base.clone();
        mg.payload.nodes[k].control_inputs.push(k as u32 + 1);
        assert!(import_err(&mg).contains("control input"));

        let mut mg = base.clone();
        let k = node_index(&mg, "x");
        mg.payload.nodes[k].cond_ctx = Some(40);
        assert!(import_err(&mg).contains("cond context #40"));

        let mut mg = base.clone();
        mg.payload.cond_contexts[1].parent = Some(3);
        assert!(import_err(&mg).contains("parent"));

        let mut mg = base.clone();
        mg.payload.cond_contexts[0].pred = (node_index(&mg, "x") as u32, 0);
        assert!(import_err(&mg).contains("scalar bool"));

        let mut mg = base.clone();
        mg.payload.variables[0].op = node_index(&mg, "x") as u32;
        assert!(import_err(&mg).contains("not a variable"));

        let mut mg = base.clone();
        mg.payload.collections.push(("out".into(), vec![ItemRecord::Tensor(n + 1, 0)]));
        assert!(import_err(&mg).contains("collection 'out'"));

        let mut mg = base.clone();
        if let Some(s) = mg.payload.saver.as_mut() {
            s.var_list[0].1 = 0;
        }
        assert!(import_err(&mg).contains("saver's variable"));

        let mut mg = base.clone();
        let k = node_index(&mg, "v");
        mg.payload.nodes[k].name = "x".into();
        assert!(import_err(&mg).contains("already exists"));
    }
}
