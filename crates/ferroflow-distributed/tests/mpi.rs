//! MPI tests (feature `mpi`): each `#[test]` here launches `mpirun -np 2` on this same test
//! binary, running one `worker_*` function on both ranks (the workers are `#[ignore]`d and do
//! nothing unless `FF_MPI_WORKER=1`), always under `timeout`, so a hang fails instead of
//! blocking CI. A failed assertion in a worker panics, and the panic hook installed by
//! `init()` aborts the whole job (non-zero exit).
//!
//! Run: `cargo test --release -p ferroflow-distributed --features mpi --test mpi`.
#![cfg(feature = "mpi")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, DType, Graph, Result, Scope, Tensor, Value, Variable, UPDATE_OPS};
use ferroflow_distributed::{
    allgather, allreduce, broadcast, broadcast_global_variables, collective, sync_batch_normalization,
    DistributedOptimizer, Hvd, ReduceOp,
};
use ferroflow_nn::layers::BatchNormOptions;
use ferroflow_ops::state::{global_variables_initializer, placeholder, variable_from, VariableOptions};
use ferroflow_ops::{array, math, nn};
use ferroflow_session::Session;
use ferroflow_train::optimizer::{AdamOptimizer, Optimizer};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Launcher

/// The flags that keep OpenMPI on loopback and let it run as root in containers.
pub const MPIRUN_FLAGS: &[&str] = &[
    "--allow-run-as-root",
    "--oversubscribe",
    "--mca",
    "btl",
    "self,vader,tcp",
    "--mca",
    "btl_tcp_if_include",
    "lo",
    "--mca",
    "oob_tcp_if_include",
    "lo",
];

fn is_worker() -> bool {
    std::env::var("FF_MPI_WORKER").is_ok_and(|v| v == "1")
}

/// `timeout <secs> mpirun -np 2 <this test binary> <worker> …`, with `FF_MPI_WORKER=1`.
fn mpirun(worker: &str, secs: u64, extra_env: &[(&str, &str)]) -> (Output, Duration) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("timeout");
    cmd.arg("-s").arg("KILL").arg(secs.to_string()).arg("mpirun").args(MPIRUN_FLAGS).args([
        "-np",
        "2",
        "-x",
        "FF_MPI_WORKER=1",
    ]);
    for (k, v) in extra_env {
        cmd.arg("-x").arg(format!("{k}={v}"));
    }
    cmd.arg(&exe).args([worker, "--exact", "--ignored", "--nocapture", "--test-threads=1"]);
    let t0 = Instant::now();
    let out = cmd.output().expect("running `timeout mpirun` failed: install openmpi-bin (see docs/distributed.md)");
    (out, t0.elapsed())
}

fn text(o: &Output) -> String {
    format!("--- stdout\n{}\n--- stderr\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn expect_success(worker: &str) -> String {
    let (out, took) = mpirun(worker, 300, &[]);
    assert!(out.status.success(), "{worker} failed (exit {:?}, {took:.1?}):\n{}", out.status.code(), text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    // The workers print a marker on each rank: proves both ranks ran the body (not 0 tests).
    assert_eq!(stdout.matches(&format!("{worker}: ok")).count(), 2, "{}", text(&out));
    stdout
}

/// A job that must fail: non-zero exit, not killed by the timeout. The 5 s target of the issue
/// is asserted only with `FERROFLOW_MPI_STRICT_TIMING=1` (the house rule keeps timed
/// assertions out of normal tests); the measured time is printed.
fn expect_fail_stop(worker: &str) {
    let (out, took) = mpirun(worker, 30, &[]);
    println!("{worker}: job ended in {took:.2?} with exit {:?}", out.status.code());
    assert!(!out.status.success(), "{worker}: the job should fail:\n{}", text(&out));
    assert!(took < Duration::from_secs(29), "{worker}: the job hung until the timeout killed it:\n{}", text(&out));
    if std::env::var("FERROFLOW_MPI_STRICT_TIMING").is_ok_and(|v| v == "1") {
        assert!(took < Duration::from_secs(5), "{worker}: took {took:.2?} (target < 5 s):\n{}", text(&out));
    }
}

// ---------------------------------------------------------------------------------------------
// Collectives

#[test]
fn collectives_on_two_ranks() {
    expect_success("worker_collectives");
}

fn ramp(dtype: DType, n: usize, scale: f64) -> Value {
    Value::from((0..n).map(|i| (i as f64 + 1.0) * scale).collect::<Vec<f64>>()).cast(dtype)
}

#[test]
#[ignore = "runs under mpirun only"]
fn worker_collectives() {
    if !is_worker() {
        return;
    }
    let hvd = ferroflow_distributed::init().unwrap();
    assert_eq!(hvd.size(), 2, "not launched as one job of 2 (a launcher of another MPI runs N singletons)");
    let (r, c) = (hvd.rank(), hvd.collective());
    for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
        for n in [0usize, 1, 7, 1001] {
            // Values: rank 0 has k*(i+1), rank 1 has 3k*(i+1): sum 4k(i+1), average 2k(i+1).
            let mine = ramp(dtype, n, if r == 0 { 1.0 } else { 3.0 });
            let g = Graph::new();
            let s = g.root();
            let x = placeholder(&s.with_name("x"), dtype, shape![n]).unwrap();
            let sum = allreduce(&s, x, ReduceOp::Sum, &hvd).unwrap();
            let avg = allreduce(&s, x, ReduceOp::Average, &hvd).unwrap();
            let bc = broadcast(&s, x, 1, &hvd).unwrap();
            let out = Session::new(&g).run([sum, avg, bc], &[(x, mine.clone())]).unwrap();
            assert_eq!(out[0], ramp(dtype, n, 4.0), "{dtype} n={n} sum");
            assert_eq!(out[1], ramp(dtype, n, 2.0), "{dtype} n={n} average");
            assert_eq!(out[2], ramp(dtype, n, 3.0), "{dtype} n={n} broadcast from 1");
            // allgather with a different dim 0 per rank (rank 0: n rows, rank 1: n + 2 rows).
            let rows = if r == 0 { n } else { n + 2 };
            let mine2 = ramp(dtype, rows * 2, (r + 1) as f64).reshape(&[rows, 2]).unwrap();
            let y = placeholder(&s.with_name("y"), dtype, shape![None, 2]).unwrap();
            let ag = allgather(&s, y, &hvd).unwrap();
            let got = Session::new(&g).run([ag], &[(y, mine2)]).unwrap().remove(0);
            let mut want: Vec<f64> = ramp(DType::F64, n * 2, 1.0).to_vec::<f64>().unwrap();
            want.extend(ramp(DType::F64, (n + 2) * 2, 2.0).to_vec::<f64>().unwrap());
            assert_eq!(got, Value::from(want).cast(dtype).reshape(&[2 * n + 2, 2]).unwrap(), "{dtype} n={n} allgather");
        }
    }
    // Gradients across ranks: loss_r = sum(w_r * allreduce_sum(x)), w_0 = 1, w_1 = 2: d/dx = 3.
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F64, shape![3]).unwrap();
    let w = (r + 1) as f64;
    let loss =
        math::reduce_sum(&s, math::mul(&s, allreduce(&s, x, ReduceOp::Sum, &hvd).unwrap(), w).unwrap(), None, false)
            .unwrap();
    let gx = ferroflow_train::gradients(&s, &[loss], &[x], None).unwrap()[0].unwrap();
    // allgather: loss_r = sum(w_r * gathered); rank r's rows get w_0 + w_1 = 3.
    let rows = placeholder(&s.with_name("rows"), DType::F64, shape![None]).unwrap();
    let loss2 =
        math::reduce_sum(&s, math::mul(&s, allgather(&s, rows, &hvd).unwrap(), w).unwrap(), None, false).unwrap();
    let grows = ferroflow_train::gradients(&s, &[loss2], &[rows], None).unwrap()[0].unwrap();
    // broadcast from 0: the root gets the sum of the gradients, the other rank zeros.
    let loss3 =
        math::reduce_sum(&s, math::mul(&s, broadcast(&s, x, 0, &hvd).unwrap(), w).unwrap(), None, false).unwrap();
    let gb = ferroflow_train::gradients(&s, &[loss3], &[x], None).unwrap()[0].unwrap();
    let n_rows = r + 1;
    let out = Session::new(&g)
        .run([gx, grows, gb], &[(x, Value::from(vec![1.0f64, 2.0, 3.0])), (rows, Value::from(vec![0.5f64; n_rows]))])
        .unwrap();
    assert_eq!(out[0].to_vec::<f64>().unwrap(), vec![3.0; 3]);
    assert_eq!(out[1].to_vec::<f64>().unwrap(), vec![3.0; n_rows]);
    assert_eq!(out[2].to_vec::<f64>().unwrap(), vec![if r == 0 { 3.0 } else { 0.0 }; 3]);
    // A shape that differs across ranks is an error naming the tensor and both ranks' shapes.
    let g = Graph::new();
    let s = g.root();
    let z = placeholder(&s.with_name("z"), DType::F32, shape![None]).unwrap();
    let red = allreduce(&s.with_name("mismatched"), z, ReduceOp::Sum, &hvd).unwrap();
    let e = Session::new(&g).run([red], &[(z, Value::from(vec![1.0f32; 2 + r]))]).unwrap_err().to_string();
    assert!(
        e.contains("'mismatched'")
            && e.contains("'z:0'")
            && e.contains("rank 0: float32 [2]")
            && e.contains("rank 1: float32 [3]"),
        "{e}"
    );
    // Direct use of the trait: barrier and a value-level fused allreduce.
    c.barrier().unwrap();
    let a = Value::from(vec![r as i64; 5]);
    let out = collective::allreduce_fused(c.as_ref(), &[&a, &a], ReduceOp::Sum, &["a".into(), "a".into()]).unwrap();
    assert_eq!(out[1].to_vec::<i64>().unwrap(), vec![1; 5]);
    println!("worker_collectives: ok");
}

// ---------------------------------------------------------------------------------------------
// broadcast_global_variables

#[test]
fn broadcast_global_variables_is_bitwise() {
    expect_success("worker_broadcast");
}

#[test]
#[ignore = "runs under mpirun only"]
fn worker_broadcast() {
    if !is_worker() {
        return;
    }
    let hvd = ferroflow_distributed::init().unwrap();
    assert_eq!(hvd.size(), 2);
    let g = Graph::new();
    g.set_random_seed(100 + hvd.rank() as u64); // different initial values on each rank
    let s = g.root();
    let init = ferroflow_ops::random::random_normal(&s, &[3, 5], 0.0, 1.0, DType::F32, None).unwrap();
    let w = variable_from(&s.with_name("w"), init, VariableOptions::default()).unwrap();
    let init64 = ferroflow_ops::random::random_normal(&s, &[7], 0.0, 1.0, DType::F64, None).unwrap();
    let v = variable_from(&s.with_name("v"), init64, VariableOptions::default()).unwrap();
    let step = ferroflow_ops::state::variable(
        &s.with_name("step"),
        Value::from(hvd.rank() as i64 * 10),
        VariableOptions::default().trainable(false),
    )
    .unwrap();
    let bcast = broadcast_global_variables(&s, 0, &hvd).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let before: Vec<Value> = sess.run([w.value(), v.value(), step.value()], &[]).unwrap();
    sess.run_ops(&[bcast], &[]).unwrap();
    let after: Vec<Value> = sess.run([w.value(), v.value(), step.value()], &[]).unwrap();
    // Rank 0's values, exchanged as raw bits: every rank must hold exactly those.
    let c = hvd.collective();
    let bits = |v: &Value| -> Vec<i64> {
        match v {
            Value::F32(a) => a.iter().map(|x| i64::from(x.to_bits())).collect(),
            Value::F64(a) => a.iter().map(|x| x.to_bits() as i64).collect(),
            Value::I64(a) => a.iter().copied().collect(),
            _ => unreachable!(),
        }
    };
    for (b, a) in before.iter().zip(&after) {
        let all = collective::gather_i64(c.as_ref(), &bits(b)).unwrap();
        assert_eq!(bits(a), all[0], "after the broadcast every rank holds rank 0's bits");
        if hvd.rank() == 1 {
            assert_ne!(all[0], all[1], "the ranks started from different values (the test would prove nothing)");
        }
    }
    println!("worker_broadcast: ok");
}

// ---------------------------------------------------------------------------------------------
// Equivalence: 2 ranks x 32 with sync BN and averaged gradients == 1 rank x 64.

#[test]
fn two_ranks_equal_one_rank_with_sync_bn() {
    let out = expect_success("worker_equivalence");
    for l in out.lines().filter(|l| l.contains("max |")) {
        println!("{l}");
    }
}

/// A small BN conv net: conv 3x3 (4) + BN + relu, conv 3x3 stride 2 (8) + BN + relu, dense 10
/// (+ BN), sigmoid cross-entropy, Adam 0.01 wrapped in DistributedOptimizer.
struct Net {
    x: Tensor,
    y: Tensor,
    training: Tensor,
    loss: Tensor,
    train: ferroflow_core::Operation,
    bcast: ferroflow_core::Operation,
    vars: Vec<Variable>,
}

fn build_net(g: &Graph, hvd: &Hvd, sync: bool) -> Result<Net> {
    g.set_random_seed(7);
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 8, 8, 1])?;
    let y = placeholder(&s.with_name("y"), DType::F32, shape![None, 10])?;
    let training = placeholder(&s.with_name("is_training"), DType::Bool, shape![])?;
    let bn = |s: &Scope, t: Tensor| -> Result<Tensor> {
        if sync {
            sync_batch_normalization(s, t, training, BatchNormOptions::default(), hvd)
        } else {
            ferroflow_nn::layers::batch_normalization(s, t, training, BatchNormOptions::default().fused(false))
        }
    };
    let conv = |s: &Scope, name: &str, t: Tensor, cin: usize, cout: usize, stride: usize| -> Result<Tensor> {
        let init = ferroflow_ops::random::truncated_normal(s, &[3, 3, cin, cout], 0.0, 0.3, DType::F32, None)?;
        let w = variable_from(&s.with_name(name), init, VariableOptions::default())?;
        nn::relu(s, bn(s, nn::conv2d(s, t, w.value(), [1, stride, stride, 1], nn::Padding::Same, [1, 1, 1, 1])?)?)
    };
    let h = conv(&s, "w1", x, 1, 4, 1)?;
    let h = conv(&s, "w2", h, 4, 8, 2)?;
    let h = array::reshape(&s, h, &[-1, 4 * 4 * 8])?;
    let init = ferroflow_ops::random::truncated_normal(&s, &[128, 10], 0.0, 0.1, DType::F32, None)?;
    let w3 = variable_from(&s.with_name("w3"), init, VariableOptions::default())?;
    let logits = bn(&s, math::matmul(&s, h, w3.value(), false, false)?)?;
    let loss = math::reduce_mean(&s, nn::sigmoid_cross_entropy_with_logits(&s, y, logits)?, None, false)?;
    let opt = DistributedOptimizer::new(AdamOptimizer::new(0.01), hvd);
    let train = s.control_dependencies(&g.collection_ops(&UPDATE_OPS), |s| opt.minimize(s, loss, None, None))?;
    assert_eq!(opt.allreduce_ops().len(), 1, "all float32 gradients fit one 64 MiB bucket");
    let bcast = broadcast_global_variables(&s, 0, hvd)?;
    Ok(Net { x, y, training, loss, train, bcast, vars: g.global_variables() })
}

/// The global batch of step `k`: 64 deterministic images and one-hot labels.
fn global_batch(k: usize) -> (Vec<f32>, Vec<f32>) {
    let mut st = 0x9e37_79b9_u64.wrapping_add(k as u64 * 7919);
    let mut rnd = || {
        st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((st >> 40) as f32) / (1u64 << 24) as f32
    };
    let xs: Vec<f32> = (0..64 * 64).map(|_| rnd()).collect();
    let mut ys = vec![0.0f32; 64 * 10];
    for i in 0..64 {
        let c = ((rnd() * 10.0) as usize).min(9);
        ys[i * 10 + c] = 1.0;
    }
    (xs, ys)
}

/// Trains `steps` Adam steps on rows `lo..hi` of each global batch; returns the losses and the
/// final variables.
fn train(net: &Net, g: &Graph, steps: usize, lo: usize, hi: usize) -> Result<(Vec<f32>, Vec<Value>)> {
    let _ = g;
    let sess = Session::new(g);
    sess.run_ops(&[global_variables_initializer(&g.root())?], &[])?;
    sess.run_ops(&[net.bcast], &[])?;
    let mut losses = Vec::new();
    for k in 0..steps {
        let (xs, ys) = global_batch(k);
        let n = hi - lo;
        let xv = Value::from_shape_vec(&[n, 8, 8, 1], xs[lo * 64..hi * 64].to_vec())?;
        let yv = Value::from_shape_vec(&[n, 10], ys[lo * 10..hi * 10].to_vec())?;
        let out =
            sess.run([net.loss], &[(net.x, xv.clone()), (net.y, yv.clone()), (net.training, Value::from(true))])?;
        losses.push(out[0].scalar::<f32>()?);
        sess.run_ops(&[net.train], &[(net.x, xv), (net.y, yv), (net.training, Value::from(true))])?;
    }
    let vals = net.vars.iter().map(|v| sess.variable_value(*v)).collect::<Result<Vec<_>>>()?;
    Ok((losses, vals))
}

/// Stated tolerance of the equivalence (float32, 20 Adam steps): the reductions run in a
/// different order (two partial sums of 32 rows then an allreduce, against one sum of 64).
const EQUIV_TOL: f32 = 1e-4;
/// Stated band for local BN: |loss(2 ranks x 32, local BN) - loss(1 x 64)| per step.
const LOCAL_BN_LOSS_BAND: f32 = 0.05;

#[test]
#[ignore = "runs under mpirun only"]
fn worker_equivalence() {
    if !is_worker() {
        return;
    }
    let hvd = ferroflow_distributed::init().unwrap();
    assert_eq!(hvd.size(), 2);
    let r = hvd.rank();
    if std::env::var("FF_EXPECT_HOSTS").is_ok_and(|v| v == "2") {
        // Two "hosts": each rank sees its own hostname (own UTS namespace).
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let codes: Vec<i64> = name.trim().bytes().map(i64::from).collect();
        let all = collective::gather_i64(hvd.collective().as_ref(), &codes).unwrap();
        assert_ne!(all[0], all[1], "both ranks report the same hostname {name:?}");
        println!("rank {r} on host {}", name.trim());
    }
    let steps = 20;
    // Reference: this process alone, Local backend, the whole global batch of 64.
    let local = Hvd::local();
    let g_ref = Graph::new();
    let net_ref = build_net(&g_ref, &local, true).unwrap();
    let (loss_ref, vars_ref) = train(&net_ref, &g_ref, steps, 0, 64).unwrap();
    // Distributed: rows 32r..32r+32 of each global batch, sync BN, averaged gradients.
    let g = Graph::new();
    let net = build_net(&g, &hvd, true).unwrap();
    let (loss_d, vars_d) = train(&net, &g, steps, 32 * r, 32 * r + 32).unwrap();
    let mut worst = 0.0f32;
    for ((v, a), b) in net.vars.iter().zip(&vars_d).zip(&vars_ref) {
        let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
        for (x, y) in a.iter().zip(&b) {
            let d = (x - y).abs() / (1.0 + y.abs());
            worst = worst.max(d);
            assert!(
                d <= EQUIV_TOL,
                "variable {}: {x} (2 ranks) vs {y} (1 rank), diff {d} > {EQUIV_TOL}",
                v.name(&g).unwrap()
            );
        }
    }
    // The distributed loss on rank r is the mean over its half; the halves average to the
    // reference's loss (sync BN: the same normalization).
    let c = hvd.collective();
    let half = Value::from(loss_d.clone());
    let mean_loss = collective::allreduce_fused(c.as_ref(), &[&half], ReduceOp::Average, &["loss".into()])
        .unwrap()
        .remove(0)
        .to_vec::<f32>()
        .unwrap();
    let loss_gap = mean_loss.iter().zip(&loss_ref).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(loss_gap <= EQUIV_TOL * 10.0, "loss curves differ by {loss_gap}: {mean_loss:?} vs {loss_ref:?}");
    // Local BN (Horovod's default): each rank normalizes with its 32 rows; the loss curve stays
    // within a band of the reference.
    let g_local = Graph::new();
    let net_l = build_net(&g_local, &hvd, false).unwrap();
    let (loss_l, _) = train(&net_l, &g_local, steps, 32 * r, 32 * r + 32).unwrap();
    let ll = Value::from(loss_l);
    let mean_l = collective::allreduce_fused(c.as_ref(), &[&ll], ReduceOp::Average, &["loss".into()])
        .unwrap()
        .remove(0)
        .to_vec::<f32>()
        .unwrap();
    let band = mean_l.iter().zip(&loss_ref).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    if hvd.is_chief() {
        println!("max |variable diff| sync BN 2x32 vs 1x64 = {worst:e} (tolerance {EQUIV_TOL:e}); max |loss diff| = {loss_gap:e}");
        println!(
            "max |loss diff| local BN 2x32 vs 1x64 = {band:e} (band {LOCAL_BN_LOSS_BAND}); losses {:?} -> {:?}",
            loss_ref.first(),
            loss_ref.last()
        );
    }
    assert!(band <= LOCAL_BN_LOSS_BAND, "local BN loss curve leaves the band: {mean_l:?} vs {loss_ref:?}");
    println!("worker_equivalence: ok");
}

// ---------------------------------------------------------------------------------------------
// Fail-stop: a panicking, a killed, an erroring rank ends the job.

#[test]
fn a_panicking_rank_ends_the_job() {
    expect_fail_stop("worker_panic");
}

#[test]
#[ignore = "runs under mpirun only"]
fn worker_panic() {
    if !is_worker() {
        return;
    }
    let hvd = ferroflow_distributed::init().unwrap();
    if hvd.rank() == 1 {
        std::thread::sleep(Duration::from_millis(200));
        panic!("rank 1 panics on purpose");
    }
    // Rank 0 waits in a collective that rank 1 never joins.
    let _ = hvd.barrier();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_killed_rank_ends_the_job() {
    expect_fail_stop("worker_sigkill");
}

#[test]
#[ignore = "runs under mpirun only"]
fn worker_sigkill() {
    if !is_worker() {
        return;
    }
    let hvd = ferroflow_distributed::init().unwrap();
    let g = Graph::new();
    let net = build_net(&g, &hvd, true).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&g.root()).unwrap()], &[]).unwrap();
    let r = hvd.rank();
    for k in 0.. {
        if r == 1 && k == 3 {
            // Mid-training: SIGKILL this process (no handler, no hook can run).
            let _ = Command::new("kill").args(["-9", &std::process::id().to_string()]).status();
            std::thread::sleep(Duration::from_secs(60));
        }
        let (xs, ys) = global_batch(k);
        let xv = Value::from_shape_vec(&[32, 8, 8, 1], xs[32 * r * 64..(32 * r + 32) * 64].to_vec()).unwrap();
        let yv = Value::from_shape_vec(&[32, 10], ys[32 * r * 10..(32 * r + 32) * 10].to_vec()).unwrap();
        let _ = sess.run_ops(&[net.train], &[(net.x, xv), (net.y, yv), (net.training, Value::from(true))]);
    }
}

#[test]
fn a_rank_returning_an_error_ends_the_job() {
    expect_fail_stop("worker_error");
}

#[test]
#[ignore = "runs under mpirun only"]
fn worker_error() {
    if !is_worker() {
        return;
    }
    // The helper every distributed main should use: an Err on one rank aborts the job.
    let _code = ferroflow_distributed::run(|hvd| -> Result<()> {
        if hvd.rank() == 1 {
            std::thread::sleep(Duration::from_millis(200));
            ferroflow_data::Datasets::load(Some(std::path::Path::new("/missing")), Default::default())?;
        }
        hvd.barrier()?;
        std::thread::sleep(Duration::from_secs(60));
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Two "hosts" on one machine: network namespaces joined by a veth pair, an OpenMPI
// `plm_rsh_agent` that enters the other namespace (no sshd), a hostname per host (UTS).

struct Netns {
    a: String,
    b: String,
    dir: std::path::PathBuf,
}

impl Drop for Netns {
    fn drop(&mut self) {
        for n in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn sh(args: &[&str]) -> std::result::Result<(), String> {
    let out = Command::new(args[0]).args(&args[1..]).output().map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Two namespaces `a` (10.77.x.1) and `b` (10.77.x.2) joined by a veth pair.
fn two_hosts() -> std::result::Result<Netns, String> {
    let id = std::process::id() % 250;
    let (a, b) = (format!("ffa{id}"), format!("ffb{id}"));
    let dir = std::env::temp_dir().join(format!("ff-two-hosts-{id}"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    sh(&["ip", "netns", "add", &a])?;
    let ns = Netns { a: a.clone(), b: b.clone(), dir };
    sh(&["ip", "netns", "add", &b])?;
    let (va, vb) = (format!("ffva{id}"), format!("ffvb{id}"));
    sh(&["ip", "link", "add", &va, "type", "veth", "peer", "name", &vb])?;
    sh(&["ip", "link", "set", &va, "netns", &a])?;
    sh(&["ip", "link", "set", &vb, "netns", &b])?;
    for (n, v, ip) in [(&a, &va, format!("10.77.{id}.1/24")), (&b, &vb, format!("10.77.{id}.2/24"))] {
        sh(&["ip", "-n", n, "addr", "add", &ip, "dev", v])?;
        sh(&["ip", "-n", n, "link", "set", v, "up"])?;
        sh(&["ip", "-n", n, "link", "set", "lo", "up"])?;
    }
    sh(&["ip", "netns", "exec", &a, "ping", "-c", "1", "-W", "2", &format!("10.77.{id}.2")]).or_else(|e| {
        if e.contains("No such file") {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    Ok(ns)
}

#[test]
fn equivalence_across_two_hosts_in_network_namespaces() {
    let ns = match two_hosts() {
        Ok(ns) => ns,
        Err(why) => {
            println!("SKIPPED two-host test: network namespaces are not available here ({why})");
            return;
        }
    };
    let id = std::process::id() % 250;
    let (ip_a, ip_b) = (format!("10.77.{id}.1"), format!("10.77.{id}.2"));
    // The rsh agent: `agent <host> <command…>` runs the command in host b's namespace with
    // its own hostname, as ssh would on another machine.
    let agent = ns.dir.join("agent.sh");
    std::fs::write(
        &agent,
        format!(
            "#!/bin/sh\nhost=\"$1\"; shift\nexec ip netns exec {} unshare --uts sh -c \"hostname host-b; $*\"\n",
            ns.b
        ),
    )
    .unwrap();
    sh(&["chmod", "+x", agent.to_str().unwrap()]).unwrap();
    let hostfile = ns.dir.join("hostfile");
    std::fs::write(&hostfile, format!("{ip_a} slots=1\n{ip_b} slots=1\n")).unwrap();
    let exe = std::env::current_exe().unwrap();
    let net = format!("10.77.{id}.0/24");
    let mpirun = format!(
        "hostname host-a; exec mpirun --allow-run-as-root --hostfile {} --mca plm_rsh_agent {} --mca btl self,tcp --mca btl_tcp_if_include {net} --mca oob_tcp_if_include {net} -np 2 -x FF_MPI_WORKER=1 -x FF_EXPECT_HOSTS=2 {} worker_equivalence --exact --ignored --nocapture --test-threads=1",
        hostfile.display(),
        agent.display(),
        exe.display()
    );
    let t0 = Instant::now();
    let out = Command::new("timeout")
        .args(["-s", "KILL", "300", "ip", "netns", "exec", &ns.a, "unshare", "--uts", "sh", "-c", &mpirun])
        .output()
        .unwrap();
    let o = text(&out);
    println!("two-host job: {:.1?}, exit {:?}", t0.elapsed(), out.status.code());
    assert!(out.status.success(), "the two-host equivalence job failed:\n{o}");
    assert!(o.contains("on host host-a") && o.contains("on host host-b"), "{o}");
    assert_eq!(o.matches("worker_equivalence: ok").count(), 2, "{o}");
    for l in o.lines().filter(|l| l.contains("max |") || l.contains("on host")) {
        println!("{l}");
    }
}
