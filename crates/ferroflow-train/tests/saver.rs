//! Saver: round trips, resume, damaged files, crash-safe saves and their cleanup, trimming,
//! warnings. (Real crashes: `tests/crash.rs`; a real full disk: `tests/full_disk.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::useless_vec)]

use ferroflow_core::{DType, Error, Graph, Scope, Tensor, Value, Variable};
use ferroflow_ops::state::{assign, assign_add, global_variables_initializer, variable, VariableOptions};
use ferroflow_ops::{group, math};
use ferroflow_session::Session;
use ferroflow_train::gradients;
use ferroflow_train::saver::{
    latest_checkpoint, list_variables, load_checkpoint, read_state, FaultTarget, GlobalStep, Saver, VarList, WriteFault,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// A fresh temporary directory, removed on drop.
struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "ff-saver-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn join(&self, s: &str) -> PathBuf {
        self.0.join(s)
    }
    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn var(s: &Scope, name: &str, v: impl Into<Value>) -> Variable {
    variable(&s.with_name(name), v, VariableOptions::default()).unwrap()
}

fn non_trainable(s: &Scope, name: &str, v: impl Into<Value>) -> Variable {
    variable(&s.with_name(name), v, VariableOptions::default().trainable(false)).unwrap()
}

fn init(g: &Graph, sess: &Session) {
    sess.run_ops(&[global_variables_initializer(&g.root()).unwrap()], &[]).unwrap();
}

/// Bitwise equality (NaN == NaN, -0.0 != 0.0).
fn same_bits(a: &Value, b: &Value) -> bool {
    if a.dtype() != b.dtype() || a.shape() != b.shape() {
        return false;
    }
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => x.iter().zip(y.iter()).all(|(p, q)| p.to_bits() == q.to_bits()),
        (Value::F64(x), Value::F64(y)) => x.iter().zip(y.iter()).all(|(p, q)| p.to_bits() == q.to_bits()),
        _ => a == b,
    }
}

/// One variable of every dtype, with awkward values and shapes.
fn every_dtype(s: &Scope) -> Vec<Variable> {
    vec![
        var(
            s,
            "f32",
            Value::from_shape_vec(&[2, 3], vec![1.5f32, -0.0, f32::NAN, f32::INFINITY, f32::MIN_POSITIVE, f32::MAX])
                .unwrap(),
        ),
        var(
            s,
            "f64",
            Value::from_shape_vec(&[2, 1, 2], vec![std::f64::consts::PI, f64::NEG_INFINITY, -1e-300, 2.0]).unwrap(),
        ),
        var(s, "i32", vec![i32::MIN, -1, 0, i32::MAX]),
        var(s, "scope/i64", Value::from(i64::MIN + 7)),
        var(s, "bools", vec![true, false, true]),
        var(s, "empty", Value::from_shape_vec::<f32>(&[0, 4], vec![]).unwrap()),
    ]
}

#[test]
fn round_trip_of_every_dtype() {
    let dir = TempDir::new("dtypes");
    let g = Graph::new();
    let vars = every_dtype(&g.root());
    let sess = Session::new(&g);
    init(&g, &sess);
    let saver = Saver::new(&g, VarList::All).unwrap();
    let path = saver.save(&sess, dir.join("model"), 7).unwrap();
    assert_eq!(path, dir.join("model-7"));

    let fresh = Session::new(&g);
    assert!(!fresh.is_initialized(vars[0]));
    saver.restore(&fresh, &path).unwrap();
    for v in &vars {
        let (a, b) = (sess.variable_value(*v).unwrap(), fresh.variable_value(*v).unwrap());
        assert!(same_bits(&a, &b), "{}: {a:?} vs {b:?}", v.name(&fresh).unwrap());
    }
    // Restoring counts as initialization: the variables can be read through the graph.
    let out = fresh.run([vars[2].value()], &[]).unwrap();
    assert_eq!(out[0].to_vec::<i32>().unwrap(), vec![i32::MIN, -1, 0, i32::MAX]);

    let listed = list_variables(&path).unwrap();
    let names: Vec<&str> = listed.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["bools", "empty", "f32", "f64", "i32", "scope/i64"]);
    assert_eq!(listed[1], ("empty".to_string(), DType::F32, vec![0, 4]));
    let ck = load_checkpoint(&path).unwrap();
    assert_eq!(ck.info().format_version, ferroflow_train::saver::FORMAT_VERSION);
    assert_eq!(ck.info().ferroflow_version, env!("CARGO_PKG_VERSION"));
}

#[test]
fn var_list_map_restores_under_another_name() {
    let dir = TempDir::new("map");
    let g = Graph::new();
    let s = g.root();
    var(&s, "old/w", vec![1.0f32, 2.0]);
    let sess = Session::new(&g);
    init(&g, &sess);
    let path = Saver::new(&g, VarList::All).unwrap().save(&sess, dir.join("m"), GlobalStep::None).unwrap();
    assert_eq!(path, dir.join("m"));

    let g2 = Graph::new();
    let w = var(&g2.root(), "new/w", vec![0.0f32, 0.0]);
    let sess2 = Session::new(&g2);
    // Under its own name it is missing, and the error says what the checkpoint holds.
    let e = Saver::new(&g2, vec![w]).unwrap().restore(&sess2, &path).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Variable { .. }));
    assert!(msg.contains("'new/w'") && msg.contains("old/w") && msg.contains("did you mean"), "{msg}");
    Saver::new(&g2, [("old/w", w)]).unwrap().restore(&sess2, &path).unwrap();
    assert_eq!(sess2.variable_value(w).unwrap().to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
}

#[test]
fn saving_with_a_step_variable_and_errors_of_save() {
    let dir = TempDir::new("step");
    let g = Graph::new();
    let s = g.root();
    let gs = non_trainable(&s, "global_step", 0i64);
    let inc = assign_add(&s, gs, 41i64).unwrap();
    let f = var(&s, "f", 1.0f32);
    let saver = Saver::new(&g, VarList::All).unwrap();
    let sess = Session::new(&g);
    // Saving an uninitialized variable names it.
    let e = saver.save(&sess, dir.join("model"), 1).unwrap_err().to_string();
    assert!(e.contains("'f'") || e.contains("'global_step'"), "{e}");
    init(&g, &sess);
    sess.run([inc], &[]).unwrap();
    let p = saver.save(&sess, dir.join("model"), gs).unwrap();
    assert_eq!(p, dir.join("model-41"));
    let e = saver.save(&sess, dir.join("model"), f).unwrap_err().to_string();
    assert!(e.contains("'f'") && e.contains("global step"), "{e}");
    // A session of another graph.
    let other = Graph::new();
    var(&other.root(), "x", 1.0f32);
    let e = saver.save(&Session::new(&other), dir.join("model"), 1).unwrap_err();
    assert!(matches!(e, Error::GraphMismatch { .. }), "{e}");
}

// ---------------------------------------------------------------------------------------
// Resumed training matches uninterrupted training
// ---------------------------------------------------------------------------------------

struct Trainer {
    graph: Graph,
    train: ferroflow_core::Operation,
    state: Vec<Variable>,
}

/// Momentum SGD on a tiny regression, written with variables and assign ops: weights `w`,
/// `b`; non-trainable slot `w/Momentum`, moving average of the gradient, `global_step`.
fn build_trainer() -> Trainer {
    let g = Graph::new();
    let s = g.root();
    let x = ferroflow_ops::constant(&s, vec![0.5f32, -1.0, 2.0, 3.0]).unwrap();
    let y = ferroflow_ops::constant(&s, vec![1.0f32, 0.0, -2.0, 4.5]).unwrap();
    let w = var(&s, "w", vec![0.1f32, 0.2, -0.3, 0.4]);
    let b = var(&s, "b", 0.05f32);
    let mom = non_trainable(&s, "w/Momentum", vec![0.0f32; 4]);
    let ema = non_trainable(&s, "grad_ema", vec![0.0f32; 4]);
    let gs = non_trainable(&s, "global_step", 0i64);
    let pred = math::add(&s, math::mul(&s, x, w).unwrap(), b).unwrap();
    let err = math::sub(&s, pred, y).unwrap();
    let loss = math::mul(&s, math::mul(&s, err, err).unwrap(), 0.5f32).unwrap();
    let grads = gradients(&s, &[loss], &[w.value(), b.value()], None).unwrap();
    let (gw, gb) = (grads[0].unwrap(), grads[1].unwrap());
    let m_new = assign(&s, mom, math::add(&s, math::mul(&s, mom, 0.9f32).unwrap(), gw).unwrap()).unwrap();
    let w_upd = ferroflow_ops::state::assign_sub(&s, w, math::mul(&s, m_new, 0.05f32).unwrap()).unwrap();
    let b_upd = ferroflow_ops::state::assign_sub(&s, b, math::mul(&s, gb, 0.05f32).unwrap()).unwrap();
    let e_upd = assign(
        &s,
        ema,
        math::add(&s, math::mul(&s, ema, 0.9f32).unwrap(), math::mul(&s, gw, 0.1f32).unwrap()).unwrap(),
    )
    .unwrap();
    let step = assign_add(&s, gs, 1i64).unwrap();
    let train = group(&s, &[w_upd.op(), b_upd.op(), e_upd.op(), step.op()]).unwrap();
    Trainer { graph: g, train, state: vec![w, b, mom, ema, gs] }
}

fn snapshot(sess: &Session, vars: &[Variable]) -> Vec<Value> {
    vars.iter().map(|v| sess.variable_value(*v).unwrap()).collect()
}

#[test]
fn resumed_training_matches_uninterrupted_training_step_for_step() {
    const STEPS: usize = 12;
    const CRASH_AT: usize = 5;
    let dir = TempDir::new("resume");

    // Uninterrupted.
    let t = build_trainer();
    let sess = Session::new(&t.graph);
    init(&t.graph, &sess);
    let mut reference = Vec::new();
    for _ in 0..STEPS {
        sess.run_ops(&[t.train], &[]).unwrap();
        reference.push(snapshot(&sess, &t.state));
    }

    // First run: train, saving each step, then "crash".
    {
        let t = build_trainer();
        let sess = Session::new(&t.graph);
        let saver = Saver::new(&t.graph, VarList::All).unwrap().max_to_keep(3);
        assert!(saver.warnings().is_empty(), "{:?}", saver.warnings());
        assert!(latest_checkpoint(dir.path()).unwrap().is_none());
        init(&t.graph, &sess);
        for _ in 0..CRASH_AT {
            sess.run_ops(&[t.train], &[]).unwrap();
            saver.save(&sess, dir.join("model"), t.state[4]).unwrap();
        }
    }

    // Second program: a new graph and session, resume from the latest checkpoint.
    let t = build_trainer();
    let sess = Session::new(&t.graph);
    let saver = Saver::new(&t.graph, VarList::All).unwrap().max_to_keep(3);
    let latest = latest_checkpoint(dir.path()).unwrap().expect("a checkpoint was saved");
    assert_eq!(latest, dir.join(&format!("model-{CRASH_AT}")));
    saver.restore(&sess, &latest).unwrap();
    let restored = snapshot(&sess, &t.state);
    for (a, b) in restored.iter().zip(&reference[CRASH_AT - 1]) {
        assert!(same_bits(a, b));
    }
    for (i, expected) in reference.iter().enumerate().skip(CRASH_AT) {
        sess.run_ops(&[t.train], &[]).unwrap();
        let got = snapshot(&sess, &t.state);
        for (k, (a, b)) in got.iter().zip(expected).enumerate() {
            assert!(same_bits(a, b), "step {}: {} differs: {a:?} vs {b:?}", i + 1, t.state[k].name(&sess).unwrap());
        }
        saver.save(&sess, dir.join("model"), t.state[4]).unwrap();
    }
    // The second run adopted the first run's kept list, so trimming went on across restarts.
    let st = read_state(dir.path()).unwrap().unwrap();
    assert_eq!(st.all_model_checkpoint_paths, ["model-10", "model-11", "model-12"]);
    assert!(!dir.join("model-5").exists() && !dir.join("model-5.meta").exists());
}

// ---------------------------------------------------------------------------------------
// Damaged files: every restore error, and the session is left unchanged
// ---------------------------------------------------------------------------------------

struct Fixture {
    _dir: TempDir,
    graph: Graph,
    w: Variable,
    steps: Variable,
    saver: Saver,
    sess: Session,
    ckpt: PathBuf,
    bytes: Vec<u8>,
}

fn fixture(tag: &str) -> Fixture {
    let dir = TempDir::new(tag);
    let graph = Graph::new();
    let s = graph.root();
    let w = var(&s, "w", vec![1.0f32, 2.0, 3.0]);
    let steps = var(&s, "steps", 5i64);
    let saver = Saver::new(&graph, VarList::All).unwrap();
    let sess = Session::new(&graph);
    init(&graph, &sess);
    let ckpt = saver.save(&sess, dir.join("model"), 1).unwrap();
    let bytes = std::fs::read(&ckpt).unwrap();
    // Now the session holds other values than the checkpoint.
    sess.set_variable_values(vec![(w, Value::from(vec![9.0f32, 9.0, 9.0])), (steps, Value::from(99i64))]).unwrap();
    Fixture { _dir: dir, graph, w, steps, saver, sess, ckpt, bytes }
}

impl Fixture {
    fn unchanged(&self) {
        assert_eq!(self.sess.variable_value(self.w).unwrap().to_vec::<f32>().unwrap(), vec![9.0, 9.0, 9.0]);
        assert_eq!(self.sess.variable_value(self.steps).unwrap().scalar::<i64>().unwrap(), 99);
    }
    /// Writes `bytes` to a file, restores from it, checks the session did not change.
    fn restore_bytes(&self, name: &str, bytes: &[u8]) -> Error {
        let p = self.ckpt.with_file_name(name);
        std::fs::write(&p, bytes).unwrap();
        let e = self.saver.restore(&self.sess, &p).unwrap_err();
        self.unchanged();
        e
    }
}

fn format_msg(e: &Error) -> String {
    assert!(matches!(e, Error::Format { .. }), "expected a format error, got {e:?}");
    e.to_string()
}

#[test]
fn missing_file_and_directory() {
    let f = fixture("missing");
    let p = f.ckpt.with_file_name("model-404");
    let e = f.saver.restore(&f.sess, &p).unwrap_err();
    match &e {
        Error::Io { path, source } => {
            assert_eq!(path, &p);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(e.to_string().contains("model-404") && e.to_string().contains("no such checkpoint file"), "{e}");
    f.unchanged();
    let e = f.saver.restore(&f.sess, f.ckpt.parent().unwrap()).unwrap_err();
    assert!(format_msg(&e).contains("is a directory"), "{e}");
    f.unchanged();
}

#[test]
fn not_a_ferroflow_checkpoint() {
    let f = fixture("magic");
    let e = f.restore_bytes("text", b"model_checkpoint_path: \"model-1\"\n");
    assert!(format_msg(&e).contains("not a ferroflow checkpoint"), "{e}");
    let mut wrong = f.bytes.clone();
    wrong[1] = b'X';
    let e = f.restore_bytes("wrong-magic", &wrong);
    assert!(format_msg(&e).contains("not a ferroflow checkpoint"), "{e}");
    let e = f.restore_bytes("empty", b"");
    assert!(format_msg(&e).contains("empty"), "{e}");
    // A meta graph passed as a checkpoint says so.
    let meta = std::fs::read(f.ckpt.with_file_name("model-1.meta")).unwrap();
    let e = f.restore_bytes("meta-as-ckpt", &meta);
    assert!(format_msg(&e).contains("meta graph, not a checkpoint"), "{e}");
}

#[test]
fn truncated_files() {
    let f = fixture("trunc");
    let n = f.bytes.len();
    for cut in [3, 8, 12, 15, 16, 20, n / 2, n - 10, n - 1] {
        let e = f.restore_bytes(&format!("cut-{cut}"), &f.bytes[..cut]);
        assert!(format_msg(&e).contains("truncated"), "cut at {cut}: {e}");
    }
    let mut longer = f.bytes.clone();
    longer.extend_from_slice(b"junk");
    let e = f.restore_bytes("longer", &longer);
    assert!(format_msg(&e).contains("unexpected bytes"), "{e}");
}

#[test]
fn flipped_bytes_are_detected() {
    let f = fixture("flip");
    let n = f.bytes.len();
    // In the payload: checksum mismatch.
    let mut b = f.bytes.clone();
    b[n - 3] ^= 0x40;
    let e = f.restore_bytes("flip-payload", &b);
    assert!(format_msg(&e).contains("checksum mismatch"), "{e}");
    // In the header (the ferroflow version string): damaged header.
    let mut b = f.bytes.clone();
    b[18] ^= 0x01;
    let e = f.restore_bytes("flip-header", &b);
    assert!(format_msg(&e).contains("header"), "{e}");
    // Every single-byte flip anywhere is an error.
    for i in 0..n {
        let mut b = f.bytes.clone();
        b[i] ^= 0x10;
        assert!(ferroflow_train::saver::decode_checkpoint(&b, Path::new("x")).is_err(), "flip at {i} went unnoticed");
    }
}

#[test]
fn format_version_from_the_future() {
    let f = fixture("future");
    let mut b = f.bytes.clone();
    b[8..12].copy_from_slice(&2u32.to_le_bytes());
    let e = f.restore_bytes("future", &b);
    let msg = format_msg(&e);
    assert!(
        msg.contains("format version 2")
            && msg.contains(&format!("ferroflow {}", env!("CARGO_PKG_VERSION")))
            && msg.contains("upgrade"),
        "{msg}"
    );
}

#[test]
fn variable_missing_dtype_and_shape_mismatch() {
    let f = fixture("vars");
    // Missing: a graph whose variable was renamed.
    let g = Graph::new();
    let s = g.root();
    let w2 = var(&s, "weights", vec![0.0f32; 3]);
    let st2 = var(&s, "steps", 0i64);
    let sess = Session::new(&g);
    let e = Saver::new(&g, VarList::All).unwrap().restore(&sess, &f.ckpt).unwrap_err();
    assert!(matches!(e, Error::Variable { .. }));
    let msg = e.to_string();
    assert!(msg.contains("'weights'") && msg.contains("not found") && msg.contains("steps, w"), "{msg}");
    assert!(!sess.is_initialized(w2) && !sess.is_initialized(st2), "nothing may be restored when one variable fails");

    // Dtype mismatch names both dtypes.
    let g = Graph::new();
    let s = g.root();
    var(&s, "w", vec![0.0f64; 3]);
    var(&s, "steps", 0i64);
    let e = Saver::new(&g, VarList::All).unwrap().restore(&Session::new(&g), &f.ckpt).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, Error::Variable { .. })
            && msg.contains("'w'")
            && msg.contains("float64")
            && msg.contains("float32"),
        "{msg}"
    );

    // Shape mismatch names both shapes; the session keeps its values.
    let g = Graph::new();
    let s = g.root();
    let w = var(&s, "w", vec![7.0f32; 4]);
    let steps = var(&s, "steps", 0i64);
    let sess = Session::new(&g);
    init(&g, &sess);
    let e = Saver::new(&g, VarList::All).unwrap().restore(&sess, &f.ckpt).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, Error::Variable { .. }) && msg.contains("'w'") && msg.contains("[4]") && msg.contains("[3]"),
        "{msg}"
    );
    assert_eq!(sess.variable_value(w).unwrap().to_vec::<f32>().unwrap(), vec![7.0; 4]);
    assert_eq!(sess.variable_value(steps).unwrap().scalar::<i64>().unwrap(), 0);

    // A session of another graph.
    let e = f.saver.restore(&sess, &f.ckpt).unwrap_err();
    assert!(matches!(e, Error::GraphMismatch { .. }), "{e}");
    // And the good file restores.
    f.saver.restore(&f.sess, &f.ckpt).unwrap();
    assert_eq!(f.sess.variable_value(f.w).unwrap().to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0]);
    let _ = &f.graph;
}

// ---------------------------------------------------------------------------------------
// Crash-safe saves
// ---------------------------------------------------------------------------------------

fn small_model() -> (Graph, Variable, Session) {
    let g = Graph::new();
    let w = var(&g.root(), "w", vec![1.0f32, 2.0]);
    let sess = Session::new(&g);
    init(&g, &sess);
    (g, w, sess)
}

fn set_w(sess: &Session, w: Variable, x: f32) {
    sess.set_variable_values(vec![(w, Value::from(vec![x, x]))]).unwrap();
}

fn assert_latest_is(dir: &TempDir, name: &str, w_value: f32) {
    let latest = latest_checkpoint(dir.path()).unwrap().unwrap();
    assert_eq!(latest, dir.join(name));
    let ck = load_checkpoint(&latest).unwrap();
    assert_eq!(ck.get("w").unwrap().to_vec::<f32>().unwrap(), vec![w_value, w_value]);
}

fn no_temp_files(dir: &TempDir) {
    let tmp: Vec<String> = dir.files().into_iter().filter(|f| f.contains(".tmp-")).collect();
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
}

#[test]
fn a_full_disk_while_writing_the_checkpoint_keeps_the_previous_one() {
    let dir = TempDir::new("full");
    let (g, w, sess) = small_model();
    let saver = Saver::new(&g, VarList::All).unwrap();
    set_w(&sess, w, 1.0);
    saver.save(&sess, dir.join("model"), 1).unwrap();
    set_w(&sess, w, 2.0);
    for target in [FaultTarget::Checkpoint, FaultTarget::MetaGraph, FaultTarget::State] {
        saver.inject_write_fault(Some(WriteFault { target, after_bytes: Some(10), leave_temp: false }));
        let e = saver.save(&sess, dir.join("model"), 2).unwrap_err();
        match &e {
            Error::Io { source, .. } => assert_eq!(source.kind(), std::io::ErrorKind::StorageFull, "{e}"),
            other => panic!("expected an IO error, got {other:?}"),
        }
        assert!(e.to_string().contains("nothing was replaced"), "{e}");
        assert_latest_is(&dir, "model-1", 1.0);
        no_temp_files(&dir);
        assert_eq!(saver.last_checkpoints(), vec![dir.join("model-1")]);
    }
    saver.inject_write_fault(None);
    saver.save(&sess, dir.join("model"), 2).unwrap();
    assert_latest_is(&dir, "model-2", 2.0);
}

#[test]
fn a_crash_between_write_and_rename_keeps_the_previous_checkpoint() {
    let dir = TempDir::new("crash");
    let (g, w, sess) = small_model();
    let saver = Saver::new(&g, VarList::All).unwrap();
    set_w(&sess, w, 1.0);
    saver.save(&sess, dir.join("model"), 1).unwrap();
    set_w(&sess, w, 2.0);
    // The data file is written and synced, then the process "dies" before the rename.
    saver.inject_write_fault(Some(WriteFault { target: FaultTarget::Checkpoint, after_bytes: None, leave_temp: true }));
    assert!(saver.save(&sess, dir.join("model"), 2).is_err());
    assert!(!dir.join("model-2").exists());
    assert!(
        dir.files().iter().any(|f| f.starts_with(".model-2.tmp-")),
        "the crash leaves a temporary file: {:?}",
        dir.files()
    );
    assert_latest_is(&dir, "model-1", 1.0);
    // Same for the state file: the new checkpoint exists, but the state still names the old.
    saver.inject_write_fault(Some(WriteFault { target: FaultTarget::State, after_bytes: None, leave_temp: true }));
    assert!(saver.save(&sess, dir.join("model"), 2).is_err());
    assert!(dir.join("model-2").exists());
    assert_latest_is(&dir, "model-1", 1.0);
    assert!(dir.files().iter().any(|f| f.starts_with(".checkpoint.tmp-")), "{:?}", dir.files());
    // A new program resumes from model-1; leftovers do not disturb later saves, and its first
    // save removes them: the stale temporary files and the unnamed model-2.
    let (g2, w2, sess2) = small_model();
    let saver2 = Saver::new(&g2, VarList::All).unwrap();
    saver2.restore(&sess2, latest_checkpoint(dir.path()).unwrap().unwrap()).unwrap();
    assert_eq!(sess2.variable_value(w2).unwrap().to_vec::<f32>().unwrap(), vec![1.0, 1.0]);
    set_w(&sess2, w2, 3.0);
    saver2.save(&sess2, dir.join("model"), 3).unwrap();
    assert_latest_is(&dir, "model-3", 3.0);
    assert_eq!(read_state(dir.path()).unwrap().unwrap().all_model_checkpoint_paths, ["model-1", "model-3"]);
    assert_eq!(dir.files(), ["checkpoint", "model-1", "model-1.meta", "model-3", "model-3.meta"]);
}

#[test]
fn a_failing_rename_keeps_the_previous_checkpoint() {
    let dir = TempDir::new("rename");
    let (g, w, sess) = small_model();
    let saver = Saver::new(&g, VarList::All).unwrap();
    set_w(&sess, w, 1.0);
    saver.save(&sess, dir.join("model"), 1).unwrap();
    // A non-empty directory where the new checkpoint should go: the rename fails for real.
    std::fs::create_dir_all(dir.join("model-2/blocker")).unwrap();
    set_w(&sess, w, 2.0);
    let e = saver.save(&sess, dir.join("model"), 2).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    assert_latest_is(&dir, "model-1", 1.0);
    no_temp_files(&dir);
}

/// Every fault of the writer (a full disk or a failure just before the rename, for each file
/// of a save; a failing directory fsync before the state file): the save fails and leaves
/// the directory exactly as it was.
#[test]
fn a_failed_save_removes_everything_it_wrote() {
    let dir = TempDir::new("rollback");
    let (g, w, sess) = small_model();
    let saver = Saver::new(&g, VarList::All).unwrap().max_to_keep(1);
    set_w(&sess, w, 1.0);
    saver.save(&sess, dir.join("model"), 1).unwrap();
    let before = dir.files();
    let state_before = std::fs::read(dir.join("checkpoint")).unwrap();
    set_w(&sess, w, 2.0);
    for target in [FaultTarget::Checkpoint, FaultTarget::MetaGraph, FaultTarget::State] {
        for after_bytes in [Some(0), Some(10), Some(40), None] {
            saver.inject_write_fault(Some(WriteFault { target, after_bytes, leave_temp: false }));
            let e = match saver.save(&sess, dir.join("model"), 2) {
                Err(e) => e,
                Ok(_) => panic!("{target:?} {after_bytes:?}: the save should fail"),
            };
            assert!(matches!(e, Error::Io { .. }), "{target:?} {after_bytes:?}: {e}");
            assert!(e.to_string().contains("nothing was replaced"), "{e}");
            assert_eq!(dir.files(), before, "{target:?} {after_bytes:?} left files behind");
            assert_eq!(std::fs::read(dir.join("checkpoint")).unwrap(), state_before);
            assert_latest_is(&dir, "model-1", 1.0);
            assert_eq!(saver.last_checkpoints(), vec![dir.join("model-1")]);
        }
    }
    saver.inject_write_fault(None);
    saver.save(&sess, dir.join("model"), 2).unwrap();
    assert_eq!(dir.files(), ["checkpoint", "model-2", "model-2.meta"]);
    assert_latest_is(&dir, "model-2", 2.0);
}

#[test]
fn directory_fsync_failures_are_not_ignored() {
    let dir = TempDir::new("fsync");
    let (g, w, sess) = small_model();
    let saver = Saver::new(&g, VarList::All).unwrap().max_to_keep(1);
    set_w(&sess, w, 1.0);
    saver.save(&sess, dir.join("model"), 1).unwrap();
    let before = dir.files();
    // Before the state file: the new files are not known to be durable, so the save fails
    // and removes them.
    set_w(&sess, w, 2.0);
    saver.inject_write_fault(Some(WriteFault { target: FaultTarget::SyncData, after_bytes: None, leave_temp: false }));
    let e = saver.save(&sess, dir.join("model"), 2).unwrap_err();
    assert!(
        matches!(e, Error::Io { .. })
            && e.to_string().contains("durable")
            && e.to_string().contains("previous checkpoint"),
        "{e}"
    );
    assert_eq!(dir.files(), before);
    assert_latest_is(&dir, "model-1", 1.0);
    // After the state file: the new checkpoint is in place (and durable), but the previous
    // state file could come back after a power loss, so nothing it names is deleted now.
    saver.inject_write_fault(Some(WriteFault { target: FaultTarget::SyncState, after_bytes: None, leave_temp: false }));
    let p = saver.save(&sess, dir.join("model"), 2).unwrap();
    assert_eq!(p, dir.join("model-2"));
    assert_latest_is(&dir, "model-2", 2.0);
    assert!(dir.join("model-1").exists() && dir.join("model-1.meta").exists(), "{:?}", dir.files());
    assert!(saver.warnings().iter().any(|w| w.contains("could not be synced")), "{:?}", saver.warnings());
    // The next save removes model-1 (no longer named) with the normal trimming of model-2.
    saver.inject_write_fault(None);
    saver.save(&sess, dir.join("model"), 3).unwrap();
    assert_eq!(dir.files(), ["checkpoint", "model-3", "model-3.meta"]);
}

#[test]
fn a_failed_resave_of_the_same_path_keeps_the_named_checkpoint() {
    let dir = TempDir::new("resave");
    let (g, w, sess) = small_model();
    let saver = Saver::new(&g, VarList::All).unwrap();
    set_w(&sess, w, 1.0);
    saver.save(&sess, dir.join("model"), GlobalStep::None).unwrap();
    set_w(&sess, w, 2.0);
    // The data and meta files are replaced, then the state file fails: the files the state
    // file names must not be removed (they hold the new, complete values).
    saver.inject_write_fault(Some(WriteFault { target: FaultTarget::State, after_bytes: None, leave_temp: false }));
    assert!(saver.save(&sess, dir.join("model"), GlobalStep::None).is_err());
    assert_eq!(dir.files(), ["checkpoint", "model", "model.meta"]);
    let ck = load_checkpoint(dir.join("model")).unwrap();
    assert_eq!(ck.get("w").unwrap().to_vec::<f32>().unwrap(), vec![2.0, 2.0]);
}

/// Writes `name` in `dir` with the bytes of `from`.
fn copy_as(dir: &TempDir, from: &str, name: &str) {
    std::fs::copy(dir.join(from), dir.join(name)).unwrap();
}

#[test]
fn the_next_save_removes_what_crashes_left_and_nothing_else() {
    let dir = TempDir::new("leftovers");
    let (g, w, sess) = small_model();
    set_w(&sess, w, 1.0);
    let saver = Saver::new(&g, VarList::All).unwrap().max_to_keep(2);
    saver.save(&sess, dir.join("model"), 1).unwrap();
    saver.save(&sess, dir.join("other"), 1).unwrap();
    saver.save(&sess, dir.join("model"), 2).unwrap();
    // What crashed saves of `model` leave: temporary files of every kind, checkpoints the
    // state file never named (killed before its update) or no longer names (killed while
    // trimming), a lone `.meta`.
    for junk in [".model-3.tmp-4242-0", ".model-3.meta.tmp-4242-1", ".checkpoint.tmp-4242-2", ".model.tmp-7-0"] {
        std::fs::write(dir.join(junk), b"partial").unwrap();
    }
    copy_as(&dir, "model-2", "model-3");
    copy_as(&dir, "model-2.meta", "model-3.meta");
    copy_as(&dir, "model-2.meta", "model-0.meta");
    // What must survive: the other prefix's files (a crash leftover of `other` included: only
    // a save of `other` may remove it), names that merely look alike, a user's export at the
    // bare prefix, a directory, and a temporary file whose writer is alive (it holds the lock).
    copy_as(&dir, "other-1", "other-5");
    let keep = [
        ".other-5.tmp-4242-3",
        "other-5",
        "model-01",
        "model-x",
        "model-3.txt",
        "model.meta",
        "notes.txt",
        ".model-9.tmp-1-x",
        ".model-9.tmp-4242-5",
    ];
    for f in keep {
        if !dir.join(f).exists() {
            std::fs::write(dir.join(f), b"keep").unwrap();
        }
    }
    std::fs::create_dir(dir.join("model-4")).unwrap();
    let live = std::fs::File::open(dir.join(".model-9.tmp-4242-5")).unwrap();
    live.lock().unwrap();

    // A restarted program: a new Saver adopts model-1, model-2 and saves model-6.
    let saver2 = Saver::new(&g, VarList::All).unwrap().max_to_keep(2);
    saver2.save(&sess, dir.join("model"), 6).unwrap();
    let mut expect: Vec<String> =
        ["checkpoint", "model-2", "model-2.meta", "model-4", "model-6", "model-6.meta", "other-1", "other-1.meta"]
            .into_iter()
            .chain(keep)
            .map(String::from)
            .collect();
    expect.sort();
    assert_eq!(dir.files(), expect);
    let st = read_state(dir.path()).unwrap().unwrap();
    assert_eq!(st.all_model_checkpoint_paths, ["other-1", "model-2", "model-6"]);
    drop(live);
    // Once its writer is gone, the temporary file goes with the next save.
    saver2.save(&sess, dir.join("model"), 7).unwrap();
    assert!(!dir.join(".model-9.tmp-4242-5").exists());
    assert!(dir.join(".model-9.tmp-1-x").exists() && dir.join(".other-5.tmp-4242-3").exists());
}

#[test]
fn restore_removes_stale_temporary_files_of_its_prefix() {
    let dir = TempDir::new("restore-tmp");
    let (g, _w, sess) = small_model();
    let saver = Saver::new(&g, VarList::All).unwrap();
    let p = saver.save(&sess, dir.join("model"), 1).unwrap();
    std::fs::write(dir.join(".model-2.tmp-4242-0"), b"partial").unwrap();
    std::fs::write(dir.join(".other-2.tmp-4242-0"), b"partial").unwrap();
    saver.restore(&sess, &p).unwrap();
    assert_eq!(dir.files(), [".other-2.tmp-4242-0", "checkpoint", "model-1", "model-1.meta"]);
}

#[test]
fn two_prefixes_in_one_directory_keep_their_own_checkpoints() {
    let dir = TempDir::new("two-prefixes");
    let (g, w, sess) = small_model();
    let a = Saver::new(&g, VarList::All).unwrap().max_to_keep(2).write_meta_graph(false);
    let b = Saver::new(&g, VarList::All).unwrap().max_to_keep(2).write_meta_graph(false);
    for step in 1..=4 {
        set_w(&sess, w, step as f32);
        a.save(&sess, dir.join("a"), step).unwrap();
        b.save(&sess, dir.join("a-best"), step).unwrap();
    }
    assert_eq!(dir.files(), ["a-3", "a-4", "a-best-3", "a-best-4", "checkpoint"]);
    let st = read_state(dir.path()).unwrap().unwrap();
    assert_eq!(st.model_checkpoint_path, "a-best-4");
    assert_eq!(st.all_model_checkpoint_paths, ["a-3", "a-4", "a-best-3", "a-best-4"]);
    // A restarted program whose `a` Saver saves after `a-best` did: it finds its own list in
    // the state file, trims it, and leaves `a-best`'s alone.
    let a2 = Saver::new(&g, VarList::All).unwrap().max_to_keep(2).write_meta_graph(false);
    a2.save(&sess, dir.join("a"), 5).unwrap();
    assert_eq!(dir.files(), ["a-4", "a-5", "a-best-3", "a-best-4", "checkpoint"]);
    assert_eq!(
        read_state(dir.path()).unwrap().unwrap().all_model_checkpoint_paths,
        ["a-best-3", "a-best-4", "a-4", "a-5"]
    );
    assert_latest_is(&dir, "a-5", 4.0);
}

#[test]
fn a_state_file_that_may_not_list_everything_loses_nothing() {
    // A state file of version 1 (TF1 layout, earlier ferroflow: preserved checkpoints were
    // not listed) and a missing one: unlisted checkpoints of the prefix become preserved.
    let dir = TempDir::new("v1");
    let (g, _w, sess) = small_model();
    let old = Saver::new(&g, VarList::All).unwrap().max_to_keep(0);
    for step in [3, 5, 6] {
        old.save(&sess, dir.join("m"), step).unwrap();
    }
    std::fs::write(dir.join("checkpoint"), "model_checkpoint_path: \"m-6\"\nall_model_checkpoint_paths: \"m-6\"\n")
        .unwrap();
    copy_as(&dir, "m-3.meta", "m-4.meta"); // a lone `.meta`: kept too
    let saver = Saver::new(&g, VarList::All).unwrap().max_to_keep(1);
    saver.save(&sess, dir.join("m"), 7).unwrap();
    assert!(
        saver.warnings().iter().any(|w| w.contains("m-3, m-4, m-5") && w.contains("preserved")),
        "{:?}",
        saver.warnings()
    );
    let expect = ["checkpoint", "m-3", "m-3.meta", "m-4.meta", "m-5", "m-5.meta"];
    assert_eq!(dir.files(), [&expect[..], &["m-7", "m-7.meta"]].concat());
    let st = read_state(dir.path()).unwrap().unwrap();
    assert_eq!(st.preserved_checkpoint_paths, ["m-3", "m-4", "m-5"]);
    assert_eq!(st.state_version, ferroflow_train::saver::STATE_VERSION);
    // From now on they are named: restarted programs keep them.
    for step in [8, 9] {
        let again = Saver::new(&g, VarList::All).unwrap().max_to_keep(1);
        again.save(&sess, dir.join("m"), step).unwrap();
        assert!(again.warnings().is_empty(), "{:?}", again.warnings());
        assert_eq!(
            dir.files(),
            [&expect[..], &[format!("m-{step}").as_str(), format!("m-{step}.meta").as_str()]].concat()
        );
    }

    let dir = TempDir::new("no-state");
    for step in [1, 2] {
        old.save(&sess, dir.join("m"), step).unwrap();
    }
    std::fs::remove_file(dir.join("checkpoint")).unwrap();
    let saver = Saver::new(&g, VarList::All).unwrap().max_to_keep(1);
    saver.save(&sess, dir.join("m"), 3).unwrap();
    saver.save(&sess, dir.join("m"), 4).unwrap();
    assert_eq!(dir.files(), ["checkpoint", "m-1", "m-1.meta", "m-2", "m-2.meta", "m-4", "m-4.meta"]);
}

// ---------------------------------------------------------------------------------------
// Trimming
// ---------------------------------------------------------------------------------------

#[test]
fn max_to_keep_trims_oldest_first() {
    let dir = TempDir::new("trim");
    let (g, _w, sess) = small_model();
    let saver = Saver::new(&g, VarList::All).unwrap().max_to_keep(2);
    for step in 1..=5 {
        saver.save(&sess, dir.join("model"), step).unwrap();
    }
    assert_eq!(dir.files(), ["checkpoint", "model-4", "model-4.meta", "model-5", "model-5.meta"]);
    let st = read_state(dir.path()).unwrap().unwrap();
    assert_eq!(st.model_checkpoint_path, "model-5");
    assert_eq!(st.all_model_checkpoint_paths, ["model-4", "model-5"]);
    assert_eq!(saver.last_checkpoints(), vec![dir.join("model-4"), dir.join("model-5")]);
    // Saving the same step again does not duplicate it.
    saver.save(&sess, dir.join("model"), 5).unwrap();
    assert_eq!(read_state(dir.path()).unwrap().unwrap().all_model_checkpoint_paths, ["model-4", "model-5"]);

    // Default keeps 5; 0 and None keep all; no meta graph when turned off.
    for (keep, expect) in [(Some(5usize), 5usize), (Some(0), 7), (None, 7)] {
        let d = TempDir::new("keep");
        let saver = Saver::new(&g, VarList::All).unwrap().max_to_keep(keep).write_meta_graph(false);
        for step in 1..=7 {
            saver.save(&sess, d.join("m"), step).unwrap();
        }
        assert_eq!(d.files().len(), expect + 1, "{keep:?}: {:?}", d.files());
        assert_eq!(read_state(d.path()).unwrap().unwrap().all_model_checkpoint_paths.len(), expect);
    }
    let d = TempDir::new("default");
    let saver = Saver::new(&g, VarList::All).unwrap();
    for step in 1..=7 {
        saver.save(&sess, d.join("m"), step).unwrap();
    }
    assert_eq!(read_state(d.path()).unwrap().unwrap().all_model_checkpoint_paths, ["m-3", "m-4", "m-5", "m-6", "m-7"]);
}

#[test]
fn keep_checkpoint_every_n_hours_preserves_some_trimmed_ones() {
    let dir = TempDir::new("hours");
    let (g, _w, sess) = small_model();
    // A fake clock in hours; the Saver is created at hour 0.
    let hour = Arc::new(AtomicU64::new(0));
    let h = hour.clone();
    let saver = Saver::new(&g, VarList::All)
        .unwrap()
        .max_to_keep(1)
        .keep_checkpoint_every_n_hours(2.0)
        .with_clock(move || h.load(Ordering::Relaxed) as f64 * 3600.0);
    for step in 0..=6u64 {
        hour.store(step, Ordering::Relaxed);
        saver.save(&sess, dir.join("m"), step).unwrap();
    }
    // TF1's rule: a trimmed checkpoint is kept when it is more than 2 h after the last kept
    // one (initially the Saver's creation): hours 3 and 5 survive; 6 is the latest.
    let kept: Vec<String> = dir.files().into_iter().filter(|f| !f.ends_with(".meta") && f != "checkpoint").collect();
    assert_eq!(kept, ["m-3", "m-5", "m-6"]);
    let st = read_state(dir.path()).unwrap().unwrap();
    assert_eq!(st.all_model_checkpoint_paths, ["m-6"]);
    // Unlike TF1, the state file lists them, so that no cleanup of unnamed files touches them.
    assert_eq!(st.preserved_checkpoint_paths, ["m-3", "m-5"]);
    // A restarted program keeps them too.
    let again = Saver::new(&g, VarList::All).unwrap().max_to_keep(1);
    again.save(&sess, dir.join("m"), 7).unwrap();
    let kept: Vec<String> = dir.files().into_iter().filter(|f| !f.ends_with(".meta") && f != "checkpoint").collect();
    assert_eq!(kept, ["m-3", "m-5", "m-7"]);
    assert!(again.warnings().is_empty(), "{:?}", again.warnings());
}

// ---------------------------------------------------------------------------------------
// Completeness warning
// ---------------------------------------------------------------------------------------

#[test]
fn warns_once_when_the_var_list_leaves_out_needed_state() {
    let dir = TempDir::new("warn");
    let g = Graph::new();
    let s = g.root();
    let w = var(&s, "dense/kernel", vec![1.0f32]);
    non_trainable(&s, "bn/moving_mean", vec![0.0f32]);
    non_trainable(&s, "global_step", 0i64);
    let sess = Session::new(&g);
    init(&g, &sess);
    let saver = Saver::new(&g, vec![w]).unwrap();
    let warnings = saver.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("bn/moving_mean")
            && warnings[0].contains("global_step")
            && warnings[0].contains("VarList::All"),
        "{}",
        warnings[0]
    );
    saver.save(&sess, dir.join("m"), 1).unwrap();
    saver.save(&sess, dir.join("m"), 2).unwrap();
    assert_eq!(saver.warnings().len(), 1);
    assert!(Saver::new(&g, VarList::All).unwrap().warnings().is_empty());

    // A Saver over all variables created before an optimizer slot: warned at save.
    let all = Saver::new(&g, VarList::All).unwrap();
    let slot = non_trainable(&s, "dense/kernel/Adam", vec![0.0f32]);
    let late_w = var(&s, "late", vec![0.0f32]);
    init(&g, &sess);
    all.save(&sess, dir.join("m"), 3).unwrap();
    let w2 = all.warnings();
    assert_eq!(w2.len(), 2, "{w2:?}");
    assert!(w2[0].contains(&slot.name(&sess).unwrap()) && w2[0].contains("created after this Saver"), "{}", w2[0]);
    assert!(w2[1].contains(&late_w.name(&sess).unwrap()), "{}", w2[1]);
    all.save(&sess, dir.join("m"), 4).unwrap();
    assert_eq!(all.warnings().len(), 2);
}

#[test]
fn saver_argument_errors() {
    let g = Graph::new();
    assert!(Saver::new(&g, VarList::All).unwrap_err().to_string().contains("no variables"));
    let s = g.root();
    let a = var(&s, "a", 1.0f32);
    let b = var(&s, "b", 1.0f32);
    let e = Saver::new(&g, [("same", a), ("same", b)]).unwrap_err();
    assert!(e.to_string().contains("'same'") && e.to_string().contains("'a'") && e.to_string().contains("'b'"), "{e}");
    let other = Graph::new();
    let c = var(&other.root(), "c", 1.0f32);
    assert!(matches!(Saver::new(&g, vec![c]).unwrap_err(), Error::GraphMismatch { .. }));
    let _: Vec<Tensor> = vec![a.value()];
}

#[test]
fn damaged_state_file_is_reported() {
    let dir = TempDir::new("state");
    assert!(latest_checkpoint(dir.path()).unwrap().is_none());
    assert!(latest_checkpoint(dir.join("does-not-exist")).unwrap().is_none());
    std::fs::write(dir.join("checkpoint"), "model_checkpoint_path: model-1\n").unwrap();
    let e = latest_checkpoint(dir.path()).unwrap_err().to_string();
    assert!(e.contains("checkpoint") && e.contains("line 1") && e.contains("quoted"), "{e}");
    std::fs::write(dir.join("checkpoint"), "all_model_checkpoint_paths: \"a\"\n").unwrap();
    assert!(latest_checkpoint(dir.path()).unwrap_err().to_string().contains("model_checkpoint_path"));
    // TF1-style text with an absolute path and unknown keys is accepted.
    std::fs::write(dir.join("checkpoint"), "model_checkpoint_path: \"/abs/model-9\"\nfuture_key: 3\n").unwrap();
    assert_eq!(latest_checkpoint(dir.path()).unwrap(), Some(PathBuf::from("/abs/model-9")));
    // A save over a damaged state file warns and rewrites it.
    std::fs::write(dir.join("checkpoint"), "garbage").unwrap();
    let (g, _w, sess) = small_model();
    let saver = Saver::new(&g, VarList::All).unwrap();
    saver.save(&sess, dir.join("model"), 1).unwrap();
    assert!(saver.warnings().iter().any(|w| w.contains("damaged checkpoint state")), "{:?}", saver.warnings());
    assert_eq!(latest_checkpoint(dir.path()).unwrap(), Some(dir.join("model-1")));
}

// ---------------------------------------------------------------------------------------
// Robustness of the reader (the deterministic companion of the cargo-fuzz target)
// ---------------------------------------------------------------------------------------

#[test]
fn random_bytes_and_bit_flips_never_panic_the_reader() {
    use ferroflow_train::saver::format::wrap_payload;
    use ferroflow_train::saver::{decode_checkpoint, FileKind};
    use rand::{Rng, SeedableRng};
    let dir = TempDir::new("robust");
    let g = Graph::new();
    every_dtype(&g.root());
    let sess = Session::new(&g);
    init(&g, &sess);
    let path = Saver::new(&g, VarList::All).unwrap().save(&sess, dir.join("m"), 1).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let h = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let payload = bytes[20 + h..].to_vec();
    let p = Path::new("fuzz");
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let start = std::time::Instant::now();
    for _ in 0..2000 {
        let n = rng.gen_range(0..300);
        let junk: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
        assert!(decode_checkpoint(&junk, p).is_err());
        let _ = decode_checkpoint(&wrap_payload(FileKind::Checkpoint, &junk).unwrap(), p);
    }
    for cut in 0..bytes.len() {
        assert!(decode_checkpoint(&bytes[..cut], p).is_err(), "truncation at {cut} went unnoticed");
    }
    // Damage behind a valid checksum reaches the payload decoder: an error or a checkpoint,
    // never a panic or a huge allocation.
    for k in 0..3000 {
        let mut b = payload.clone();
        for _ in 0..1 + k % 4 {
            let i = rng.gen_range(0..b.len());
            b[i] = if k % 2 == 0 { b[i] ^ (1 << rng.gen_range(0..8)) } else { rng.gen() };
        }
        if k % 7 == 0 {
            b.truncate(rng.gen_range(0..b.len()));
        }
        let _ = decode_checkpoint(&wrap_payload(FileKind::Checkpoint, &b).unwrap(), p);
    }
    // A huge announced length is refused without allocating it.
    let mut b = payload.clone();
    b[0] = 0xFD; // a varint u64 tensor count follows: 2^63-ish tensors
    b.splice(1..1, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]);
    assert!(decode_checkpoint(&wrap_payload(FileKind::Checkpoint, &b).unwrap(), p).is_err());
    assert!(start.elapsed().as_secs() < 20, "the robustness loop should take a few seconds");
}

#[test]
fn one_saver_saving_into_two_directories() {
    let (a, b) = (TempDir::new("dir-a"), TempDir::new("dir-b"));
    let (g, _w, sess) = small_model();
    let saver = Saver::new(&g, VarList::All).unwrap().write_meta_graph(false);
    saver.save(&sess, a.join("m"), 1).unwrap();
    saver.save(&sess, b.join("m"), 2).unwrap();
    let st = read_state(b.path()).unwrap().unwrap();
    assert_eq!(st.all_model_checkpoint_paths.len(), 2);
    // The checkpoint in the other directory is recorded by an absolute path that resolves.
    assert!(Path::new(&st.all_model_checkpoint_paths[0]).is_absolute());
    assert!(Path::new(&st.all_model_checkpoint_paths[0]).ends_with("m-1"));
    assert_eq!(st.all_model_checkpoint_paths[1], "m-2");
}

#[test]
fn partial_checkpoint_names_what_is_missing_and_the_ways_out() {
    // Trained and saved: only the trainable variable (TF1 users often save var_list=trainables).
    let dir = std::env::temp_dir().join(format!("ferroflow-partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let build = || {
        let g = Graph::new();
        let s = g.root();
        let w = var(&s, "w", vec![1.0f32, 2.0]);
        let m = variable(&s.with_name("moving_mean"), vec![0.0f32; 2], VariableOptions::default().trainable(false))
            .unwrap();
        (g, w, m)
    };
    let (g, w, _) = build();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&g.root()).unwrap()], &[]).unwrap();
    let path = Saver::new(&g, vec![w])
        .unwrap()
        .save(&sess, dir.join("model"), ferroflow_train::saver::GlobalStep::None)
        .unwrap();

    // A full restore fails naming the missing variable and both ways out.
    let (g2, w2, m2) = build();
    let sess2 = Session::new(&g2);
    let e = Saver::new(&g2, VarList::All).unwrap().restore(&sess2, &path).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("'moving_mean'") && msg.contains("var_list") && msg.contains("variables_initializer"),
        "{msg}"
    );
    // A partial restore works and warns about what is still uninitialized.
    let partial = Saver::new(&g2, vec![w2]).unwrap();
    partial.restore(&sess2, &path).unwrap();
    assert!(sess2.is_initialized(w2) && !sess2.is_initialized(m2));
    assert!(
        partial.warnings().iter().any(|w| w.contains("moving_mean") && w.contains("still uninitialized")),
        "{:?}",
        partial.warnings()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn partial_checkpoint_restore_changes_no_variable() {
    // A checkpoint of the trainable variable only, restored by a full Saver into a session whose
    // variables already hold values: it fails up front (TF's NotFoundError) and changes none
    // of them, including the one the checkpoint does hold.
    let dir = TempDir::new("partial-unchanged");
    let g = Graph::new();
    let s = g.root();
    let w = var(&s, "w", vec![1.0f32, 2.0]);
    let _m = non_trainable(&s, "moving_mean", vec![0.0f32; 2]);
    let sess = Session::new(&g);
    init(&g, &sess);
    let path = Saver::new(&g, vec![w]).unwrap().save(&sess, dir.join("model"), GlobalStep::None).unwrap();

    let g2 = Graph::new();
    let s2 = g2.root();
    let w2 = var(&s2, "w", vec![5.0f32, 6.0]);
    let m2 = non_trainable(&s2, "moving_mean", vec![7.0f32, 8.0]);
    let extra = non_trainable(&s2, "global_step", 3i64);
    let sess2 = Session::new(&g2);
    init(&g2, &sess2);
    let e = Saver::new(&g2, VarList::All).unwrap().restore(&sess2, &path).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Variable { .. }), "{msg}");
    assert!(msg.starts_with("variable 'global_step'") || msg.starts_with("variable 'moving_mean'"), "{msg}");
    assert!(msg.contains("global_step") && msg.contains("moving_mean") && msg.contains("1 more"), "{msg}");
    assert!(msg.contains("var_list") && msg.contains("variables_initializer"), "{msg}");
    assert_eq!(sess2.variable_value(w2).unwrap().to_vec::<f32>().unwrap(), vec![5.0, 6.0]);
    assert_eq!(sess2.variable_value(m2).unwrap().to_vec::<f32>().unwrap(), vec![7.0, 8.0]);
    assert_eq!(sess2.variable_value(extra).unwrap().to_vec::<i64>().unwrap(), vec![3]);

    // The converse — the checkpoint holds variables this Saver does not cover — is no error
    // in TF1 (the Saver restores its var_list and ignores the rest), nor here.
    let full = Saver::new(&g2, VarList::All).unwrap().save(&sess2, dir.join("full"), GlobalStep::None).unwrap();
    let g3 = Graph::new();
    let w3 = var(&g3.root(), "w", vec![0.0f32, 0.0]);
    let sess3 = Session::new(&g3);
    Saver::new(&g3, VarList::All).unwrap().restore(&sess3, &full).unwrap();
    assert_eq!(sess3.variable_value(w3).unwrap().to_vec::<f32>().unwrap(), vec![5.0, 6.0]);
}
