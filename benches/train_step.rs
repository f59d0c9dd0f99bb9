//! Training-step benchmark: the four founding networks and three op-level rows, timed on fixed
//! random batches (warm-up, then the median of N runs). Prints a table; `--tsv FILE` also writes
//! `row<TAB>median_ms` lines for `tools/bench/run_all.sh`, which compares with TF and PyTorch.
//!
//! ```sh
//! cargo bench --bench train_step                       # all rows, 2 threads, 10 steps
//! cargo bench --bench train_step -- --threads 1 --steps 20 --filter conv
//! FERROFLOW_BENCH_STEPS=5 FERROFLOW_BENCH_THREADS=2 cargo bench --bench train_step
//! ```
//!
//! Threads: `--threads N` / `FERROFLOW_BENCH_THREADS` sets both `MATMUL_NUM_THREADS`
//! (matrixmultiply's GEMM threads) and `RAYON_NUM_THREADS` (ferroflow's rayon kernels) unless
//! those are already set in the environment.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;

use common::models;
use common::Model;
use ferroflow::nn::Padding;
use ferroflow::prelude::*;
use ferroflow::tflearn::DNN;
use ferroflow::train::optimize_for_inference;
use ndarray::{ArrayD, IxDyn};
use std::time::Instant;

struct Opts {
    steps: usize,
    warmup: usize,
    threads: usize,
    filter: Option<String>,
    tsv: Option<String>,
    /// Print a per-op-type table of one traced step after each model row.
    profile: bool,
    profile_nodes: usize,
}

fn opts() -> Opts {
    let env_usize = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok());
    let mut o = Opts {
        steps: env_usize("FERROFLOW_BENCH_STEPS").unwrap_or(10),
        warmup: env_usize("FERROFLOW_BENCH_WARMUP").unwrap_or(3),
        threads: env_usize("FERROFLOW_BENCH_THREADS").unwrap_or(2),
        filter: None,
        tsv: None,
        profile: false,
        profile_nodes: 15,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--steps" => o.steps = val().parse().expect("--steps N"),
            "--warmup" => o.warmup = val().parse().expect("--warmup N"),
            "--threads" => o.threads = val().parse().expect("--threads N"),
            "--filter" => o.filter = Some(val()),
            "--tsv" => o.tsv = Some(val()),
            "--profile" => o.profile = true,
            "--profile-nodes" => {
                o.profile = true;
                o.profile_nodes = val().parse().expect("--profile-nodes N");
            }
            "--bench" => {} // passed by `cargo bench`
            "-h" | "--help" => {
                println!(
                    "train_step [--steps N] [--warmup N] [--threads N] [--filter SUBSTR] [--tsv FILE] [--profile] [--profile-nodes N]"
                );
                std::process::exit(0);
            }
            other if !other.starts_with('-') => o.filter = Some(other.to_string()), // `cargo bench -- conv`
            _ => {}
        }
    }
    o.steps = o.steps.max(1);
    o
}

/// Deterministic pseudo-random numbers in [-1, 1) (xorshift), so every run sees the same batch.
struct Rng(u64);
impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn array(&mut self, shape: &[usize]) -> ArrayD<f32> {
        ArrayD::from_shape_simple_fn(IxDyn(shape), || self.next_f32())
    }
    /// `[n, 784]`-style images in [0, 1).
    fn images(&mut self, shape: &[usize]) -> ArrayD<f32> {
        self.array(shape).mapv(|v| (v + 1.0) * 0.5)
    }
    fn one_hot(&mut self, n: usize, k: usize) -> ArrayD<f32> {
        let mut a = ArrayD::zeros(IxDyn(&[n, k]));
        for i in 0..n {
            let c = ((self.next_f32() + 1.0) * 0.5 * k as f32) as usize % k;
            a[[i, c]] = 1.0;
        }
        a
    }
}

/// Runs `f` `warmup` times, then `steps` times; returns the median in milliseconds.
fn time_ms(o: &Opts, mut f: impl FnMut()) -> f64 {
    for _ in 0..o.warmup {
        f();
    }
    let mut t: Vec<f64> = (0..o.steps)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = t.len() / 2;
    if t.len() % 2 == 1 {
        t[m]
    } else {
        0.5 * (t[m - 1] + t[m])
    }
}

struct Row {
    name: String,
    detail: String,
    ms: f64,
}

/// Train-step and inference rows of a founding net given as a `Model`.
fn bench_model(
    o: &Opts,
    rows: &mut Vec<Row>,
    name: &str,
    detail: &str,
    batch: usize,
    build: impl Fn(&Scope) -> Result<Model>,
) {
    let (train_row, infer_row) = (format!("train/{name}"), format!("infer/{name}"));
    if !selected(o, &train_row) && !selected(o, &infer_row) {
        return;
    }
    let g = Graph::new();
    g.set_random_seed(1);
    let s = g.root();
    let m = build(&s).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let x = if m.image_input { rng.images(&[batch, 28, 28, 1]) } else { rng.images(&[batch, 784]) };
    let (x, y) = (Value::from(x), Value::from(rng.one_hot(batch, 10)));
    if selected(o, &train_row) {
        let feeds = feed_dict![m.inputs => x.clone(), m.labels => y.clone(), m.is_training => true];
        let ms = time_ms(o, || {
            sess.run([m.train_op], &feeds).unwrap();
        });
        print_profile(o, &train_row, || {
            sess.run_with_options([m.train_op], &feeds, RunOptions::full_trace()).unwrap().1
        });
        rows.push(Row { name: train_row, detail: format!("{detail}, batch {batch}"), ms });
    }
    if selected(o, &infer_row) {
        let feeds = feed_dict![m.inputs => x, m.labels => y, m.is_training => false];
        let ms = time_ms(o, || {
            sess.run([m.loss], &feeds).unwrap();
        });
        print_profile(o, &infer_row, || sess.run_with_options([m.loss], &feeds, RunOptions::full_trace()).unwrap().1);
        rows.push(Row { name: infer_row, detail: format!("forward + loss, is_training=false, batch {batch}"), ms });
    }
}

/// With `--profile`: the per-op-type table of one traced step (to stderr, so `--tsv` output
/// and the summary table stay clean).
fn print_profile(o: &Opts, row: &str, traced: impl FnOnce() -> RunMetadata) {
    if o.profile {
        let meta = traced();
        eprintln!("--- {row}: one traced step ---\n{}", meta.op_type_table());
        let mut slowest: Vec<_> = meta.nodes.iter().collect();
        slowest.sort_by(|a, b| b.duration_us().total_cmp(&a.duration_us()));
        eprintln!("slowest nodes:");
        for n in slowest.iter().take(o.profile_nodes) {
            eprintln!("{:>9.3} ms  {:<24} {}", n.duration_us() / 1e3, n.op, n.name);
        }
    }
}

fn bench_tflearn(o: &Opts, rows: &mut Vec<Row>, batch: usize) {
    let (train_row, infer_row) = ("train/tflearn_convnet".to_string(), "infer/tflearn_convnet".to_string());
    if !selected(o, &train_row) && !selected(o, &infer_row) {
        return;
    }
    let (net, input, head) = models::tflearn_convnet(1, 0.01).unwrap();
    let is_training = net.is_training();
    let model = DNN::new(net, head).unwrap();
    let sess = model.session();
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let (x, y) = (Value::from(rng.images(&[batch, 28, 28, 1])), Value::from(rng.one_hot(batch, 10)));
    if selected(o, &train_row) {
        let feeds = feed_dict![input => x.clone(), head.target => y.clone(), is_training => true];
        let ms = time_ms(o, || {
            sess.run([head.train_op], &feeds).unwrap();
        });
        print_profile(o, &train_row, || {
            sess.run_with_options([head.train_op], &feeds, RunOptions::full_trace()).unwrap().1
        });
        rows.push(Row { name: train_row, detail: format!("tflearn API, Adam, batch {batch}"), ms });
    }
    if selected(o, &infer_row) {
        let feeds = feed_dict![input => x, head.target => y];
        let ms = time_ms(o, || {
            sess.run([head.loss], &feeds).unwrap();
        });
        rows.push(Row { name: infer_row, detail: format!("forward + loss, dropout off, batch {batch}"), ms });
    }
}

fn bench_ops(o: &Opts, rows: &mut Vec<Row>) {
    let mut rng = Rng(0x2545f4914f6cdd1d);
    if selected(o, "op/matmul") {
        let g = Graph::new();
        let s = g.root();
        let a = constant(&s, Value::from(rng.array(&[256, 784]))).unwrap();
        let b = constant(&s, Value::from(rng.array(&[784, 1024]))).unwrap();
        let y = math::matmul(&s, a, b, false, false).unwrap();
        let sess = Session::new(&g);
        let ms = time_ms(o, || {
            sess.run([y], &[]).unwrap();
        });
        rows.push(Row { name: "op/matmul".into(), detail: "[256,784] x [784,1024] f32".into(), ms });
    }
    if selected(o, "op/conv2d_fwd_bwd") {
        let g = Graph::new();
        let s = g.root();
        let x = constant(&s, Value::from(rng.array(&[64, 28, 28, 32]))).unwrap();
        let w = constant(&s, Value::from(rng.array(&[3, 3, 32, 64]).mapv(|v| v * 0.1))).unwrap();
        let up = constant(&s, Value::from(rng.array(&[64, 28, 28, 64]))).unwrap();
        let y = nn::conv2d(&s, x, w, [1, 1, 1, 1], Padding::Same, [1, 1, 1, 1]).unwrap();
        let gr = gradients(&s, &[y], &[x, w], Some(&[up])).unwrap();
        let (dx, dw) = (gr[0].unwrap(), gr[1].unwrap());
        let sess = Session::new(&g);
        let ms = time_ms(o, || {
            sess.run([y, dx, dw], &[]).unwrap();
        });
        rows.push(Row {
            name: "op/conv2d_fwd_bwd".into(),
            detail: "x [64,28,28,32], w 3x3x32x64 SAME; y, dx, dw".into(),
            ms,
        });
    }
    if selected(o, "op/fused_batch_norm_fwd_bwd") {
        let g = Graph::new();
        let s = g.root();
        let x = constant(&s, Value::from(rng.array(&[64, 28, 28, 32]))).unwrap();
        let scale = constant(&s, Value::from(rng.array(&[32]).mapv(|v| v + 1.5))).unwrap();
        let offset = constant(&s, Value::from(rng.array(&[32]))).unwrap();
        let up = constant(&s, Value::from(rng.array(&[64, 28, 28, 32]))).unwrap();
        let (y, _, _) = nn::fused_batch_norm(&s, x, scale, offset, None, None, 1e-3, true).unwrap();
        let gr = gradients(&s, &[y], &[x, scale, offset], Some(&[up])).unwrap();
        let (dx, ds, db) = (gr[0].unwrap(), gr[1].unwrap(), gr[2].unwrap());
        let sess = Session::new(&g);
        let ms = time_ms(o, || {
            sess.run([y, dx, ds, db], &[]).unwrap();
        });
        rows.push(Row {
            name: "op/fused_batch_norm_fwd_bwd".into(),
            detail: "x [64,28,28,32] training; y, dx, dscale, doffset".into(),
            ms,
        });
    }
}

/// W1 (the founding conv20 net) in inference mode, serving: one image per call through `run`
/// and through a `Callable` (p50 over 1,000 calls, p99 in the detail), and batches of 1,000
/// through the `Callable` (median of `--steps` calls; images/s in the detail). The peers'
/// scripts (TF, PyTorch, ONNX Runtime) write the same `infer/w1_batch1` and `infer/w1_batch1000`
/// rows.
fn bench_batch1(o: &Opts, rows: &mut Vec<Row>) {
    let (run_row, call_row, big_row) = ("infer/w1_batch1_run", "infer/w1_batch1", "infer/w1_batch1000");
    let rows_here = [run_row, call_row, big_row, "infer/w1_batch1_optimized", "infer/w1_batch1000_optimized"];
    if !rows_here.iter().any(|r| selected(o, r)) {
        return;
    }
    let g = Graph::new();
    g.set_random_seed(1);
    let s = g.root();
    let m = models::batchnorm_conv20(&s, 0.002).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let x = Value::from(Rng(7).images(&[1, 28, 28, 1]));
    let percentiles = |mut t: Vec<f64>| {
        t.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (t[t.len() / 2], t[t.len() * 99 / 100])
    };
    let time = |f: &mut dyn FnMut()| {
        for _ in 0..50 {
            f();
        }
        percentiles(
            (0..1000)
                .map(|_| {
                    let t0 = Instant::now();
                    f();
                    t0.elapsed().as_secs_f64() * 1e3
                })
                .collect(),
        )
    };
    let feeds = feed_dict![m.inputs => x.clone(), m.is_training => false];
    let (p50, p99) = time(&mut || {
        sess.run([m.logits], &feeds).unwrap();
    });
    rows.push(Row { name: run_row.into(), detail: format!("Session::run, p50 (p99 {p99:.3} ms)"), ms: p50 });
    let f = sess.make_callable(&[m.inputs, m.is_training], [m.logits]).unwrap();
    let vals = [x, Value::from(false)];
    let (p50, p99) = time(&mut || {
        f.call(&vals).unwrap();
    });
    rows.push(Row { name: call_row.into(), detail: format!("Callable::call, p50 (p99 {p99:.3} ms)"), ms: p50 });
    if selected(o, big_row) {
        let big = [Value::from(Rng(8).images(&[1000, 28, 28, 1])), Value::from(false)];
        let ms = time_ms(o, || {
            f.call(&big).unwrap();
        });
        rows.push(Row {
            name: big_row.into(),
            detail: format!("Callable::call, 1,000 images: {:.0} images/s", 1e6 / ms),
            ms,
        });
    }
    // The same two rows through `optimize_for_inference` (frozen, training branch pruned, BN
    // folded into the convs), as a user serving the model would run it.
    let served = optimize_for_inference(&sess, &[m.inputs], &[m.logits], &feed_dict![m.is_training => false]).unwrap();
    let served_sess = Session::new(&served.graph);
    let f = served_sess.make_callable(&served.inputs, served.outputs.clone()).unwrap();
    let one = [vals[0].clone()];
    if selected(o, "infer/w1_batch1_optimized") {
        let (p50, p99) = time(&mut || {
            f.call(&one).unwrap();
        });
        rows.push(Row {
            name: "infer/w1_batch1_optimized".into(),
            detail: format!("optimize_for_inference + Callable, p50 (p99 {p99:.3} ms)"),
            ms: p50,
        });
    }
    if selected(o, "infer/w1_batch1000_optimized") {
        let big = [Value::from(Rng(8).images(&[1000, 28, 28, 1]))];
        let ms = time_ms(o, || {
            f.call(&big).unwrap();
        });
        rows.push(Row {
            name: "infer/w1_batch1000_optimized".into(),
            detail: format!("optimize_for_inference + Callable, 1,000 images: {:.0} images/s", 1e6 / ms),
            ms,
        });
    }
}

/// Executor overhead: a chain of 1,000 scalar adds (`y = ((x + 1) + 1) …`), fed `x`, fetched
/// through a `Callable`; the detail gives µs per op (target ≤ 1 µs, issue "lean executor").
fn bench_overhead(o: &Opts, rows: &mut Vec<Row>) {
    let row = "overhead/chain_1000_adds";
    if !selected(o, row) {
        return;
    }
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, Shape::scalar()).unwrap();
    let one = constant(&s, Value::from(1.0f32)).unwrap();
    let mut y = x;
    for _ in 0..1000 {
        y = math::add(&s, y, one).unwrap();
    }
    let sess = Session::new(&g);
    let f = sess.make_callable(&[x], [y]).unwrap();
    let feed = [Value::from(0.0f32)];
    let ms = time_ms(o, || {
        f.call(&feed).unwrap();
    });
    rows.push(Row { name: row.into(), detail: format!("Callable::call: {:.2} µs per op", ms), ms });
}

mod support {
    include!("support/train_with_readers.rs");
}

/// A trainer beside 7 inference threads on one session: its step time, and in the detail its
/// share of the solo step rate (target >= 50%, issue "lean executor"; >= 25%, reliability).
fn bench_concurrency(o: &Opts, rows: &mut Vec<Row>) {
    let row = "concurrency/train_with_7_readers";
    if !selected(o, row) {
        return;
    }
    let (solo, shared) = support::train_with_readers(7, std::time::Duration::from_secs(3));
    let detail = format!(
        "small dense model; trainer {shared:.0} steps/s with 7 readers vs {solo:.0} alone = {:.0}% of solo",
        100.0 * shared / solo
    );
    rows.push(Row { name: row.into(), detail, ms: 1e3 / shared });
}

fn selected(o: &Opts, row: &str) -> bool {
    o.filter.as_deref().is_none_or(|f| row.contains(f))
}

fn main() {
    let o = opts();
    // Must happen before the first GEMM / rayon call: both read their env once.
    for k in ["MATMUL_NUM_THREADS", "RAYON_NUM_THREADS"] {
        if std::env::var_os(k).is_none() {
            std::env::set_var(k, o.threads.to_string());
        }
    }
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    println!(
        "ferroflow train_step bench: {} steps after {} warm-up, MATMUL_NUM_THREADS={} RAYON_NUM_THREADS={}",
        o.steps,
        o.warmup,
        env("MATMUL_NUM_THREADS"),
        env("RAYON_NUM_THREADS")
    );
    let mut rows = Vec::new();
    bench_model(&o, &mut rows, "batchnorm_conv20", "19 conv + low-level BN (moments/assign/cond), Adam", 64, |s| {
        models::batchnorm_conv20(s, 0.002)
    });
    bench_model(&o, &mut rows, "batchnorm_layers", "19 conv + layers::batch_normalization, Adam", 64, |s| {
        models::batchnorm_layers(s, 0.002, true)
    });
    bench_model(&o, &mut rows, "batchnorm_mlp", "784-BN-1024 relu-BN-10, SGD", 128, |s| models::batchnorm_mlp(s, 0.5));
    bench_tflearn(&o, &mut rows, 64);
    bench_ops(&o, &mut rows);
    bench_batch1(&o, &mut rows);
    bench_overhead(&o, &mut rows);
    bench_concurrency(&o, &mut rows);

    println!("{:<30} {:>12}  what", "row", "median ms");
    println!("{}", "-".repeat(100));
    for r in &rows {
        println!("{:<30} {:>12.3}  {}", r.name, r.ms, r.detail);
    }
    if let Some(path) = &o.tsv {
        let text: String = rows.iter().map(|r| format!("{}\t{:.4}\n", r.name, r.ms)).collect();
        std::fs::write(path, text).expect("write --tsv file");
    }
}
