//! Crash consistency of `Saver::save` with real crashes: a child process (this test binary,
//! re-executed to run the hidden `crash_child` test) saves a ~4 MiB model and is killed with
//! SIGKILL after a random delay. After each kill: the state file parses, the latest
//! checkpoint is the previous or the new one and restores to exactly one step's values
//! (never a mix), and every checkpoint the state file names is complete. Then a restarted
//! program (the parent, with a new Saver) saves, after which no temporary file and no
//! unnamed checkpoint file of the prefix remains.
//!
//! `crash_consistency` runs 24 iterations with the normal tests; `crash_consistency_long`
//! (`--ignored`) runs 240. `FERROFLOW_CRASH_SEED` replays a run (the seed is printed).
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{DType, Graph, Value, Variable};
use ferroflow_ops::random::random_uniform;
use ferroflow_ops::state::{variable_from, VariableOptions};
use ferroflow_session::Session;
use ferroflow_train::saver::{import_meta_graph, latest_checkpoint, load_checkpoint, read_state, Saver, VarList};
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_DIR_ENV: &str = "FERROFLOW_CRASH_CHILD_DIR";
const CHILD_STEP_ENV: &str = "FERROFLOW_CRASH_CHILD_STEP";
const READY: &str = "FERROFLOW-CRASH-CHILD-READY";
/// 8 variables of 128 Ki f32: 4 MiB per checkpoint, so that kills land inside the writes.
const VARS: usize = 8;
const LEN: usize = 1 << 17;
const KEEP: usize = 3;

fn model() -> (Graph, Vec<Variable>) {
    let g = Graph::new();
    let s = g.root();
    let vars = (0..VARS)
        .map(|k| {
            let init = random_uniform(&s, &[LEN], 0.0, 1.0, DType::F32, Some(k as u64)).unwrap();
            variable_from(&s.with_name(&format!("layer{k}/w")), init, VariableOptions::default()).unwrap()
        })
        .collect();
    (g, vars)
}

/// The values of variable `k` at `step`: distinct for every (step, k), exactly representable.
fn values(step: i64, k: usize) -> Vec<f32> {
    let base = (step * VARS as i64 + k as i64) as f32;
    (0..LEN).map(|i| base + (i % 1024) as f32 / 1024.0).collect()
}

fn set_step(sess: &Session, vars: &[Variable], step: i64) {
    sess.set_variable_values(vars.iter().enumerate().map(|(k, v)| (*v, Value::from(values(step, k)))).collect())
        .unwrap();
}

/// Checks that the checkpoint at `path` holds exactly one step's values; returns that step.
fn step_of_checkpoint(path: &Path) -> i64 {
    let ck = load_checkpoint(path).unwrap_or_else(|e| panic!("a named checkpoint does not load: {e}"));
    assert_eq!(ck.len(), VARS, "{}", path.display());
    let first = ck.get("layer0/w").unwrap().to_vec::<f32>().unwrap();
    let step = (first[0] as i64) / VARS as i64;
    for k in 0..VARS {
        let got = ck.get(&format!("layer{k}/w")).unwrap().to_vec::<f32>().unwrap();
        assert!(
            got == values(step, k),
            "{}: variable {k} does not hold step {step}'s values: a mix of two saves",
            path.display()
        );
    }
    step
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// The child: saves `step` into the directory, after telling the parent it is about to.
#[test]
#[ignore = "a child process of the crash tests; does nothing on its own"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else { return };
    let step: i64 = std::env::var(CHILD_STEP_ENV).unwrap().parse().unwrap();
    let (g, vars) = model();
    let sess = Session::new(&g);
    set_step(&sess, &vars, step);
    let saver = Saver::new(&g, VarList::All).unwrap().max_to_keep(KEEP);
    println!("{READY}");
    saver.save(&sess, Path::new(&dir).join("model"), step).unwrap();
}

/// Runs the child saving `step` into `dir`, kills it `delay` after it is ready (unless
/// `None`); returns whether it was killed and how long it ran after being ready.
fn run_child(dir: &Path, step: i64, delay: Option<Duration>) -> (bool, Duration) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_STEP_ENV, step.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit()) // a failing child's panic message shows in the test output
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("the child exited before saving: {:?}", child.wait());
        }
        if line.contains(READY) {
            break;
        }
    }
    let ready = Instant::now();
    if let Some(d) = delay {
        std::thread::sleep(d);
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let killed = status.signal() == Some(9);
    assert!(killed || status.success(), "the child failed: {status:?}");
    (killed, ready.elapsed())
}

#[derive(Default, Debug)]
struct Tally {
    finished: usize,
    killed_previous: usize,
    killed_new: usize,
    left_temp_files: usize,
    left_orphans: usize,
}

fn crash_consistency_run(iterations: usize, default_seed: u64) {
    let seed = std::env::var("FERROFLOW_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default_seed);
    let dir = std::env::temp_dir().join(format!("ff-crash-{}-{iterations}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (g, vars) = model();
    let sess = Session::new(&g);
    let prefix = dir.join("model");

    // The previous checkpoint of the first iteration, and how long an uninterrupted save takes.
    set_step(&sess, &vars, 1);
    Saver::new(&g, VarList::All).unwrap().max_to_keep(KEEP).save(&sess, &prefix, 1).unwrap();
    let (_, t1) = run_child(&dir, 2, None);
    let (_, t2) = run_child(&dir, 3, None);
    let save_time = t1.max(t2);
    let mut prev = 3i64;
    assert_eq!(step_of_checkpoint(&latest_checkpoint(&dir).unwrap().unwrap()), prev);
    println!("crash test: seed {seed}, {iterations} iterations, an uninterrupted child save takes {save_time:?}");

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut tally = Tally::default();
    // The measured time includes the child's exit; delays up to it cover the whole save.
    let max_delay = (save_time.as_micros() as u64).max(1);
    for it in 0..iterations {
        let new = prev + 1;
        let delay = Duration::from_micros(rng.gen_range(0..max_delay));
        let (killed, _) = run_child(&dir, new, Some(delay));
        let ctx = format!("iteration {it} (seed {seed}, delay {delay:?}, killed {killed})");

        let before = files(&dir);
        // The state file is never torn; it names the previous or the new checkpoint.
        let st = read_state(&dir).unwrap_or_else(|e| panic!("{ctx}: {e}")).unwrap();
        let latest = latest_checkpoint(&dir).unwrap().unwrap();
        let got = step_of_checkpoint(&latest);
        assert!(got == prev || got == new, "{ctx}: the latest checkpoint holds step {got}, neither {prev} nor {new}");
        assert!(killed || got == new, "{ctx}: the child finished but the state file names step {got}");
        match (killed, got == new) {
            (false, _) => tally.finished += 1,
            (true, false) => tally.killed_previous += 1,
            (true, true) => tally.killed_new += 1,
        }
        // Restore gives exactly that step's values (and removes the dead child's temporary files).
        let fresh = Session::new(&g);
        Saver::new(&g, VarList::All).unwrap().restore(&fresh, &latest).unwrap();
        assert!(
            !files(&dir).iter().any(|f| f.contains(".tmp-")),
            "{ctx}: restore left stale temporary files: {:?}",
            files(&dir)
        );
        for (k, v) in vars.iter().enumerate() {
            assert!(
                fresh.variable_value(*v).unwrap().to_vec::<f32>().unwrap() == values(got, k),
                "{ctx}: restored a mix"
            );
        }
        // Every named checkpoint is complete, with its meta graph.
        for entry in &st.all_model_checkpoint_paths {
            let p = dir.join(entry);
            step_of_checkpoint(&p);
            assert!(dir.join(format!("{entry}.meta")).is_file(), "{ctx}: {entry}.meta is missing");
        }
        if it % 8 == 0 {
            import_meta_graph(format!("{}.meta", latest.display())).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        }
        let names: Vec<String> =
            st.all_model_checkpoint_paths.iter().flat_map(|e| [e.clone(), format!("{e}.meta")]).collect();
        if before.iter().any(|f| f.contains(".tmp-")) {
            tally.left_temp_files += 1;
        }
        if before.iter().any(|f| f != "checkpoint" && !f.contains(".tmp-") && !names.contains(f)) {
            tally.left_orphans += 1;
        }

        // The next successful save, by a restarted program, cleans up.
        let next = new + 1;
        set_step(&sess, &vars, next);
        Saver::new(&g, VarList::All).unwrap().max_to_keep(KEEP).save(&sess, &prefix, next).unwrap();
        let st = read_state(&dir).unwrap().unwrap();
        assert_eq!(st.model_checkpoint_path, format!("model-{next}"));
        assert!(st.all_model_checkpoint_paths.len() <= KEEP, "{ctx}: {:?}", st.all_model_checkpoint_paths);
        let mut expect: Vec<String> =
            st.all_model_checkpoint_paths.iter().flat_map(|e| [e.clone(), format!("{e}.meta")]).collect();
        expect.push("checkpoint".into());
        expect.sort();
        assert_eq!(
            files(&dir),
            expect,
            "{ctx}: temporary or unnamed files remain after the next save (before it: {before:?})"
        );
        prev = next;
    }
    println!("crash test: {tally:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn crash_consistency() {
    crash_consistency_run(24, 0x5eed_0001);
}

#[test]
#[ignore = "long: 240 kill -9 iterations (about a minute)"]
fn crash_consistency_long() {
    crash_consistency_run(240, 0x5eed_0002);
}
