//! Meta graphs: export, import into a graph that was never built, serve restored weights.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::useless_vec)]

use ferroflow_core::{
    shape, CollectionItem, CollectionKey, DType, Error, Graph, Operation, Tensor, Value, Variable, TRAIN_OP, UPDATE_OPS,
};
use ferroflow_ops::random::random_normal;
use ferroflow_ops::state::{
    assign, assign_add, global_variables_initializer, variable, variable_from, VariableOptions,
};
use ferroflow_ops::{cond, identity, math, placeholder};
use ferroflow_session::{feed_dict, Session};
use ferroflow_train::saver::{
    export_meta_graph, import_meta_graph, latest_checkpoint, FileKind, MetaGraph, Saver, VarList,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "ff-meta-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn join(&self, s: &str) -> PathBuf {
        self.0.join(s)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Model {
    graph: Graph,
    x: Tensor,
    is_training: Tensor,
    logits: Tensor,
    init: Operation,
    train: Operation,
    moving: Variable,
}

/// A small model with what a meta graph must carry: placeholders with partial shapes, a
/// seeded random initializer, trainable and non-trainable variables, nested conds with an
/// assign inside a branch (the low-level batch-norm pattern), UPDATE_OPS, control
/// dependencies, a user collection.
fn build_model() -> Model {
    let g = Graph::new();
    g.set_random_seed(1234);
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 3]).unwrap();
    let is_training = placeholder(&s.with_name("is_training"), DType::Bool, shape![]).unwrap();
    let (w, b, moving, logits) = s
        .variable_scope("layer", false, |s| {
            let w = variable_from(
                &s.with_name("w"),
                random_normal(s, &[3], 0.0, 1.0, DType::F32, None)?,
                VariableOptions::default(),
            )?;
            let b = variable(&s.with_name("b"), vec![0.1f32, -0.2, 0.3], VariableOptions::default())?;
            let moving =
                variable(&s.with_name("moving_mean"), vec![0.0f32; 3], VariableOptions::default().trainable(false))?;
            let h = math::add(s, math::mul(s, x, w)?, b)?;
            let out = cond(
                s,
                is_training,
                |s| {
                    let upd =
                        assign(s, moving, math::add(s, math::mul(s, moving, 0.9f32)?, math::mul(s, b, 0.1f32)?)?)?;
                    s.graph().add_to_collection(&UPDATE_OPS, upd);
                    let inner = cond(s, is_training, |s| identity(s, h), |s| math::neg(s, h))?;
                    math::sub(s, inner, upd)
                },
                |s| math::sub(s, h, moving),
            )?;
            Ok((w, b, moving, out))
        })
        .unwrap();
    let logits = identity(&s.with_name("logits"), logits).unwrap();
    math::sigmoid(&s.with_name("probs"), logits).unwrap();
    let gs = variable(&s.with_name("global_step"), 0i64, VariableOptions::default().trainable(false)).unwrap();
    let step = assign_add(&s, gs, 1i64).unwrap();
    let shift = ferroflow_ops::state::assign_sub(&s, w, math::mul(&s, b, 0.5f32).unwrap()).unwrap();
    let train =
        ferroflow_ops::control::no_op(&s.with_name("train").with_control_dependencies(&[step.op(), shift.op()]))
            .unwrap();
    g.add_to_collection(&TRAIN_OP, train);
    let mine = CollectionKey::new("my_outputs");
    g.add_to_collection(&mine, logits);
    g.add_to_collection(&mine, train);
    g.add_to_collection(&mine, b);
    let init = global_variables_initializer(&s).unwrap();
    Model { graph: g, x, is_training, logits, init, train, moving }
}

fn batch() -> Value {
    Value::from_shape_vec(&[2, 3], vec![1.0f32, -2.0, 0.5, 3.0, 0.25, -1.0]).unwrap()
}

fn bits(v: &Value) -> Vec<u32> {
    v.to_vec::<f32>().unwrap().iter().map(|x| x.to_bits()).collect()
}

fn item_name(g: &Graph, it: &CollectionItem) -> String {
    match it {
        CollectionItem::Tensor(t) => format!("tensor {}", t.name(g).unwrap()),
        CollectionItem::Operation(o) => format!("op {}", o.name(g).unwrap()),
        CollectionItem::Variable(v) => format!("variable {}", v.name(g).unwrap()),
    }
}

/// Everything observable about a graph's structure, by names.
fn describe(g: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for op in g.operations() {
        let n = g.node(op).unwrap();
        let ins: Vec<String> = n.inputs.iter().map(|t| t.name(g).unwrap()).collect();
        let ctl: Vec<String> = n.control_inputs.iter().map(|c| c.name(g).unwrap()).collect();
        let outs: Vec<String> = n.outputs.iter().map(|s| s.to_string()).collect();
        out.push(format!(
            "{} {} {:?} {:?} {:?} {:?} {:?}",
            n.name,
            n.op.type_name(),
            ins,
            ctl,
            outs,
            n.cond_ctx,
            n.op.describe()
        ));
    }
    g.read(|st| {
        for b in st.cond_branches() {
            out.push(format!("cond {} {} {} {:?}", b.name, b.pred.name(g).unwrap(), b.branch, b.parent));
        }
    });
    for k in g.collection_keys() {
        let items: Vec<String> = g.collection(&k).iter().map(|it| item_name(g, it)).collect();
        out.push(format!("collection {k}: {items:?}"));
    }
    for v in g.all_variables() {
        out.push(format!(
            "variable {} init {} value {}",
            v.name(g).unwrap(),
            v.initializer().name(g).unwrap(),
            v.initial_value().name(g).unwrap()
        ));
    }
    out.push(format!("seed {:?}", g.random_seed()));
    out
}

#[test]
fn import_recreates_the_graph_exactly() {
    let dir = TempDir::new("structure");
    let m = build_model();
    let saver = Saver::new(&m.graph, VarList::All).unwrap().max_to_keep(3);
    saver.export_meta_graph(dir.join("model.meta")).unwrap();

    let (g2, saver2) = import_meta_graph(dir.join("model.meta")).unwrap();
    assert_eq!(describe(&g2), describe(&m.graph));
    let saver2 = saver2.expect("the graph has variables");
    let names = |s: &Saver, g: &Graph| {
        s.var_list().iter().map(|(n, v)| format!("{n}={}", v.name(g).unwrap())).collect::<Vec<_>>()
    };
    assert_eq!(names(&saver2, &g2), names(&saver, &m.graph));
    assert_eq!(format!("{saver2:?}"), format!("{saver:?}"));
    assert_eq!(g2.trainable_variables().len(), 2);
    assert_eq!(g2.tensor_by_name("x:0").unwrap().shape(&g2).unwrap().to_string(), "[?, 3]");
    assert_eq!(g2.tensor_by_name("is_training:0").unwrap().dtype(&g2).unwrap(), DType::Bool);

    // Export of the import is byte-identical.
    let a = MetaGraph::from_graph(&m.graph, Some(&saver)).unwrap().to_bytes().unwrap();
    let b = MetaGraph::from_graph(&g2, Some(&saver2)).unwrap().to_bytes().unwrap();
    assert_eq!(a, b);

    // New ops get the names they would get in the original graph.
    let new_names = |g: &Graph| {
        let s = g.root();
        let l = g.tensor_by_name("logits:0").unwrap();
        vec![
            math::add(&s, l, 1.0f32).unwrap().name(&s).unwrap(),
            math::mul(&s, l, 1.0f32).unwrap().name(&s).unwrap(),
            s.sub_scope("cond").name_prefix().to_string(),
            s.sub_scope("layer").name_prefix().to_string(),
            g.unique_name("Const"),
        ]
    };
    let (a, b) = (new_names(&m.graph), new_names(&g2));
    assert_eq!(a, b);
    assert_eq!(a[1], "Mul_1:0");
    assert_eq!(a[2], "cond");
}

#[test]
fn imported_graph_serves_restored_weights() {
    let dir = TempDir::new("serve");
    // Training program.
    let m = build_model();
    let saver = Saver::new(&m.graph, VarList::All).unwrap();
    let sess = Session::new(&m.graph);
    sess.run_ops(&[m.init], &[]).unwrap();
    for _ in 0..3 {
        sess.run_ops(&[m.train], &[]).unwrap();
        sess.run([m.logits], &feed_dict![m.x => batch(), m.is_training => true]).unwrap();
    }
    saver.save(&sess, dir.join("model"), 3).unwrap();
    let want_infer = sess.run([m.logits], &feed_dict![m.x => batch(), m.is_training => false]).unwrap();

    // Serving program: only the files.
    let ckpt = latest_checkpoint(&dir.0).unwrap().unwrap();
    let mut meta = ckpt.clone().into_os_string();
    meta.push(".meta");
    let (g, saver2) = import_meta_graph(PathBuf::from(meta)).unwrap();
    let serve = Session::new(&g);
    saver2.unwrap().restore(&serve, &ckpt).unwrap();
    let (x, is_training, logits) = (
        g.tensor_by_name("x:0").unwrap(),
        g.tensor_by_name("is_training:0").unwrap(),
        g.tensor_by_name("logits:0").unwrap(),
    );
    let got = serve.run([logits], &feed_dict![x => batch(), is_training => false]).unwrap();
    assert_eq!(bits(&got[0]), bits(&want_infer[0]));

    // Training mode runs the branch's assign in both, identically.
    let a = sess.run([m.logits], &feed_dict![m.x => batch(), m.is_training => true]).unwrap();
    let b = serve.run([logits], &feed_dict![x => batch(), is_training => true]).unwrap();
    assert_eq!(bits(&a[0]), bits(&b[0]));
    let moving2 = g.variable_by_name("layer/moving_mean").unwrap();
    assert_eq!(bits(&sess.variable_value(m.moving).unwrap()), bits(&serve.variable_value(moving2).unwrap()));

    // The seeded initializer draws the same weights in the imported graph.
    let fresh_a = Session::new(&m.graph);
    fresh_a.run_ops(&[m.init], &[]).unwrap();
    let fresh_b = Session::new(&g);
    fresh_b.run_ops(&[g.operation_by_name("init").unwrap()], &[]).unwrap();
    let w1 = m.graph.variable_by_name("layer/w").unwrap();
    let w2 = g.variable_by_name("layer/w").unwrap();
    assert_eq!(bits(&fresh_a.variable_value(w1).unwrap()), bits(&fresh_b.variable_value(w2).unwrap()));
    let _ = m.train;
}

#[test]
fn a_graph_without_a_saver_or_variables() {
    let dir = TempDir::new("nosaver");
    let m = build_model();
    export_meta_graph(&m.graph, dir.join("g.meta")).unwrap();
    let (_, saver) = import_meta_graph(dir.join("g.meta")).unwrap();
    assert_eq!(saver.unwrap().var_list().len(), 4, "without a saver record: all global variables");

    let g = Graph::new();
    let x = placeholder(&g.root().with_name("x"), DType::F32, shape![]).unwrap();
    math::mul(&g.root().with_name("y"), x, 2.0f32).unwrap();
    export_meta_graph(&g, dir.join("plain.meta")).unwrap();
    let (g2, saver) = import_meta_graph(dir.join("plain.meta")).unwrap();
    assert!(saver.is_none());
    let out = Session::new(&g2)
        .run([g2.tensor_by_name("y:0").unwrap()], &feed_dict![g2.tensor_by_name("x:0").unwrap() => 4.0f32])
        .unwrap();
    assert_eq!(out[0].scalar::<f32>().unwrap(), 8.0);
}

fn meta_bytes() -> (TempDir, Vec<u8>) {
    let dir = TempDir::new("damaged");
    let m = build_model();
    export_meta_graph(&m.graph, dir.join("ok.meta")).unwrap();
    let bytes = std::fs::read(dir.join("ok.meta")).unwrap();
    (dir, bytes)
}

fn import_bytes(dir: &TempDir, bytes: &[u8]) -> Error {
    let p = dir.join("damaged.meta");
    std::fs::write(&p, bytes).unwrap();
    let e = import_meta_graph(&p).err().expect("import must fail");
    assert!(matches!(e, Error::Format { .. }), "{e:?}");
    assert!(e.to_string().contains("damaged.meta"), "{e}");
    e
}

#[test]
fn damaged_meta_graphs_are_reported() {
    let (dir, bytes) = meta_bytes();
    let n = bytes.len();
    let e = import_meta_graph(dir.join("missing.meta")).err().unwrap();
    assert!(matches!(&e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound), "{e}");
    assert!(e.to_string().contains("no such meta graph file"), "{e}");

    let e = import_bytes(&dir, &bytes[..n / 3]).to_string();
    assert!(e.contains("truncated"), "{e}");
    let mut b = bytes.clone();
    b[n - 5] ^= 0x04;
    assert!(import_bytes(&dir, &b).to_string().contains("checksum mismatch"));
    let mut b = bytes.clone();
    b[0] = b'P';
    assert!(import_bytes(&dir, &b).to_string().contains("not a ferroflow meta graph"));
    let mut b = bytes.clone();
    b[8] = 9;
    let e = import_bytes(&dir, &b).to_string();
    assert!(e.contains("format version 9") && e.contains("newer"), "{e}");

    // A checkpoint passed as a meta graph says so.
    let g = Graph::new();
    variable(&g.root().with_name("v"), 1.0f32, VariableOptions::default()).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&g.root()).unwrap()], &[]).unwrap();
    let ck = Saver::new(&g, VarList::All).unwrap().write_meta_graph(false).save(&sess, dir.join("ck"), 1).unwrap();
    let e = import_meta_graph(&ck).err().unwrap().to_string();
    assert!(e.contains("is a ferroflow checkpoint, not a meta graph"), "{e}");
}

/// The payload of a meta graph file, and a valid file around a modified payload.
fn payload(bytes: &[u8]) -> &[u8] {
    let h = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    &bytes[20 + h..]
}

#[test]
fn an_unknown_op_type_names_the_node() {
    let (dir, bytes) = meta_bytes();
    let mut p = payload(&bytes).to_vec();
    // Rename the serde type tag of every `Const` op: as if it came from a crate not linked here.
    let (from, to) = (b"\x05Const", b"\x05Konst");
    let mut hits = 0;
    for i in 0..p.len() - from.len() {
        if &p[i..i + from.len()] == from {
            p[i..i + to.len()].copy_from_slice(to);
            hits += 1;
        }
    }
    assert!(hits > 0);
    let file = ferroflow_train::saver::format::wrap_payload(FileKind::MetaGraph, &p).unwrap();
    let e = import_bytes(&dir, &file).to_string();
    assert!(
        e.contains("node 'layer/b/initial_value'")
            && e.contains("unknown op type `Konst`")
            && e.contains("does not link"),
        "{e}"
    );
    assert!(!e.contains("expected one of"), "the message should not list every op: {e}");
}

#[test]
fn random_bytes_and_bit_flips_never_panic_the_reader() {
    use rand::{Rng, SeedableRng};
    let (_dir, bytes) = meta_bytes();
    let p = Path::new("fuzz.meta");
    let pl = payload(&bytes).to_vec();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5EED);
    let start = std::time::Instant::now();
    for _ in 0..300 {
        let n = rng.gen_range(0..200);
        let junk: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
        assert!(MetaGraph::from_bytes(&junk, p).is_err());
        // Behind a valid envelope, to reach the payload decoder.
        let wrapped = ferroflow_train::saver::format::wrap_payload(FileKind::MetaGraph, &junk).unwrap();
        if let Ok(mg) = MetaGraph::from_bytes(&wrapped, p) {
            let _ = mg.import(p);
        }
    }
    // Every single flip of the file is detected.
    for i in (0..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[i] ^= 1 << (i % 8);
        assert!(MetaGraph::from_bytes(&b, p).is_err(), "flip at {i} went unnoticed");
    }
    // Flips and truncations inside the payload, with a valid checksum around them: errors
    // or a consistent graph, never a panic.
    for k in 0..400 {
        let mut b = pl.clone();
        let flips = 1 + k % 3;
        for _ in 0..flips {
            let i = rng.gen_range(0..b.len());
            b[i] ^= 1 << rng.gen_range(0..8);
        }
        if k % 5 == 0 {
            let cut = rng.gen_range(0..b.len());
            b.truncate(cut);
        }
        let wrapped = ferroflow_train::saver::format::wrap_payload(FileKind::MetaGraph, &b).unwrap();
        if let Ok(mg) = MetaGraph::from_bytes(&wrapped, p) {
            let _ = mg.import(p);
        }
    }
    assert!(start.elapsed().as_secs() < 20, "the robustness loop should take a few seconds");
}

// ---------------------------------------------------------------------------------------
// A real fresh process
// ---------------------------------------------------------------------------------------

const CHILD_META: &str = "FERROFLOW_TEST_SERVE_META";
const CHILD_CKPT: &str = "FERROFLOW_TEST_SERVE_CKPT";

/// Runs only as the child of `a_fresh_process_serves_the_same_outputs` (environment set).
#[test]
fn serve_child() {
    let (Ok(meta), Ok(ckpt)) = (std::env::var(CHILD_META), std::env::var(CHILD_CKPT)) else { return };
    let (g, saver) = import_meta_graph(meta).unwrap();
    let sess = Session::new(&g);
    saver.unwrap().restore(&sess, ckpt).unwrap();
    let out = sess
        .run(
            [g.tensor_by_name("probs:0").unwrap()],
            &feed_dict![g.tensor_by_name("x:0").unwrap() => batch(), g.tensor_by_name("is_training:0").unwrap() => false],
        )
        .unwrap();
    println!("SERVE_OUTPUT {:?}", bits(&out[0]));
}

#[test]
fn a_fresh_process_serves_the_same_outputs() {
    let dir = TempDir::new("child");
    let m = build_model();
    let saver = Saver::new(&m.graph, VarList::All).unwrap();
    let sess = Session::new(&m.graph);
    sess.run_ops(&[m.init], &[]).unwrap();
    sess.run_ops(&[m.train], &[]).unwrap();
    let ckpt = saver.save(&sess, dir.join("model"), 1).unwrap();
    let probs = m.graph.tensor_by_name("probs:0").unwrap();
    let want = sess.run([probs], &feed_dict![m.x => batch(), m.is_training => false]).unwrap();

    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["serve_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_META, dir.join("model-1.meta"))
        .env(CHILD_CKPT, &ckpt)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("SERVE_OUTPUT ").map(|(_, v)| v))
        .unwrap_or_else(|| panic!("the child printed no output: {stdout}"));
    assert_eq!(line, format!("{:?}", bits(&want[0])));
}

/// Writes seed inputs for the cargo-fuzz targets (valid files and their bare payloads):
/// `FERROFLOW_FUZZ_SEEDS=fuzz/corpus cargo test -p ferroflow-train --test meta_graph write_fuzz_seeds -- --ignored`
#[test]
#[ignore = "writes fuzzing seeds on request"]
fn write_fuzz_seeds() {
    let Ok(root) = std::env::var("FERROFLOW_FUZZ_SEEDS") else { return };
    let root = PathBuf::from(root);
    let dir = TempDir::new("seeds");
    let m = build_model();
    let sess = Session::new(&m.graph);
    sess.run_ops(&[m.init], &[]).unwrap();
    let ckpt = Saver::new(&m.graph, VarList::All).unwrap().save(&sess, dir.join("model"), 1).unwrap();
    for (target, file) in [("checkpoint_reader", ckpt.clone()), ("meta_graph_reader", dir.join("model-1.meta"))] {
        let out = root.join(target);
        std::fs::create_dir_all(&out).unwrap();
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(out.join("seed-file"), &bytes).unwrap();
        std::fs::write(out.join("seed-payload"), payload(&bytes)).unwrap();
    }
}
