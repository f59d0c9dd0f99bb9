//! The founding note's 19-conv network (+ dense 100 + dense 10, batch norm after every layer,
//! sigmoid cross-entropy, Adam), trained **data-parallel** the Horovod way:
//!
//! ```text
//! hvd = init()                                  (inside distributed::run)
//! data = datasets.shard(rank, size)
//! opt = DistributedOptimizer::new(Adam(lr * size))
//! train_op = opt.minimize(loss)                 under control_dependencies(UPDATE_OPS)
//! bcast = broadcast_global_variables(0)         run once after the initializer
//! saver and reports only on rank 0 (is_chief)
//! ```
//!
//! Without the `mpi` feature (or without `mpirun`) it runs as one process. With MPI:
//!
//! ```sh
//! cargo build --release --features mpi --example distributed_conv20
//! mpirun -np 2 target/release/examples/distributed_conv20 --steps 200 --batch-size 32
//! ```
//!
//! `--batch-size` is per rank (global batch = size × batch). `--sync-bn` normalizes with the
//! moments of the global batch (cross-replica BN); the default is local BN, as Horovod.
//! An error on any rank (e.g. `--data /missing`) aborts the whole job.

mod common;

use clap::Parser;
use common::{nhwc, Defaults, Flags};
use ferroflow::distributed::{self, broadcast_global_variables, sync_batch_normalization, DistributedOptimizer, Hvd};
use ferroflow::layers::BatchNormOptions;
use ferroflow::nn::Padding;
use ferroflow::prelude::*;
use ferroflow::random::truncated_normal;
use ferroflow::state::variable_from;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: Flags,
    /// Cross-replica batch norm (moments of the global batch).
    #[arg(long)]
    sync_bn: bool,
    /// Fusion bucket size in MiB (Horovod's default 64).
    #[arg(long, default_value_t = 64)]
    fusion_mib: usize,
    /// Save a checkpoint here at the end (rank 0 only).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Skip the final test-set evaluation (for benchmarks).
    #[arg(long)]
    no_eval: bool,
    /// After training, time this many fused allreduces of the gradients (one step's worth).
    #[arg(long, default_value_t = 0)]
    bench_allreduce: usize,
}

struct Net {
    inputs: Tensor,
    labels: Tensor,
    is_training: Tensor,
    loss: Tensor,
    accuracy: Tensor,
    train_op: Operation,
    buckets: usize,
}

fn build(s: &Scope, hvd: &Hvd, lr: f64, sync_bn: bool, fusion_bytes: usize) -> Result<Net> {
    let inputs = placeholder(&s.with_name("inputs"), DType::F32, shape![None, 28, 28, 1])?;
    let labels = placeholder(&s.with_name("labels"), DType::F32, shape![None, 10])?;
    let is_training = placeholder(&s.with_name("is_training"), DType::Bool, shape![])?;
    let bn = |s: &Scope, x: Tensor| -> Result<Tensor> {
        if sync_bn {
            sync_batch_normalization(s, x, is_training, BatchNormOptions::default(), hvd)
        } else {
            layers::batch_normalization(s, x, is_training, BatchNormOptions::default())
        }
    };
    let mut layer = inputs;
    for depth in 1..20 {
        layer = s.variable_scope(&format!("conv{depth}"), false, |s| {
            let stride = if depth % 3 == 0 { 2 } else { 1 };
            let cin = layer.shape(s)?.dim(3).unwrap_or(1);
            let init = truncated_normal(s, &[3, 3, cin, depth * 4], 0.0, 0.05, DType::F32, None)?;
            let w = variable_from(&s.with_name("weights"), init, VariableOptions::default())?;
            let conv = nn::conv2d(s, layer, w.value(), [1, stride, stride, 1], Padding::Same, [1, 1, 1, 1])?;
            nn::relu(s, bn(s, conv)?)
        })?;
    }
    let shp = layer.shape(s)?;
    let flat: usize = (1..4).map(|i| shp.dim(i).unwrap_or(1)).product();
    let layer = array::reshape(s, layer, &[-1, flat as i64])?;
    let layer = s.variable_scope("fc", false, |s| {
        let init = truncated_normal(s, &[flat, 100], 0.0, 0.05, DType::F32, None)?;
        let w = variable_from(&s.with_name("weights"), init, VariableOptions::default())?;
        nn::relu(s, bn(s, math::matmul(s, layer, w.value(), false, false)?)?)
    })?;
    let logits = layers::dense(s, layer, 10, layers::DenseOptions::default().name("logits"))?;
    let loss = math::reduce_mean(s, nn::sigmoid_cross_entropy_with_logits(s, labels, logits)?, None, false)?;
    // Horovod's recipe: scale the learning rate with the number of ranks (the global batch grows).
    let opt = DistributedOptimizer::new(train::AdamOptimizer::new(lr * hvd.size() as f64), hvd)
        .fusion_threshold(fusion_bytes);
    let train_op =
        s.control_dependencies(&s.graph().collection_ops(&UPDATE_OPS), |s| opt.minimize(s, loss, None, None))?;
    let correct = math::equal(s, math::argmax(s, logits, 1)?, math::argmax(s, labels, 1)?)?;
    let accuracy = math::reduce_mean(s, array::cast(s, correct, DType::F32)?, None, false)?;
    Ok(Net { inputs, labels, is_training, loss, accuracy, train_op, buckets: opt.allreduce_ops().len() })
}

fn body(hvd: &Hvd) -> anyhow::Result<()> {
    let args = Args::parse();
    let d = Defaults { steps: 800, batch_size: 32, lr: 0.002 };
    let settings = common::Settings {
        data: args.common.data.clone(),
        steps: args.common.steps.unwrap_or(d.steps),
        batch_size: args.common.batch_size.unwrap_or(d.batch_size),
        lr: args.common.lr.unwrap_or(d.lr),
        seed: args.common.seed,
        log_every: args.common.log_every.max(1),
        logdir: None,
    };
    if args.common.logdir.is_some() {
        anyhow::bail!(
            "--logdir is not supported by distributed_conv20 (its loop writes no summaries); use batchnorm_conv20"
        );
    }
    // Every rank loads the data (an error here, e.g. a missing --data, aborts the whole job)
    // and keeps its shard of the training split.
    let mut data = common::load(&settings)?.shard(hvd.rank(), hvd.size())?;
    let g = Graph::new();
    g.set_random_seed(settings.seed);
    let s = g.root();
    let net = build(&s, hvd, settings.lr, args.sync_bn, args.fusion_mib * 1024 * 1024)?;
    let bcast = broadcast_global_variables(&s, 0, hvd)?;
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s)?], &[])?;
    sess.run_ops(&[bcast], &[])?;
    if hvd.is_chief() {
        hvd.log(format!(
            "{} ranks x batch {} (global {}), {} BN, {} fusion bucket(s) per step, lr {} x {}",
            hvd.size(),
            settings.batch_size,
            settings.batch_size * hvd.size(),
            if args.sync_bn { "cross-replica" } else { "local" },
            net.buckets,
            settings.lr,
            hvd.size()
        ));
    }
    let started = Instant::now();
    for step in 0..settings.steps {
        let (bx, by) = data.train.next_batch(settings.batch_size);
        let feeds = feed_dict![net.inputs => nhwc(&bx)?, net.labels => by, net.is_training => true];
        if step % settings.log_every == 0 {
            let out = sess.run([Fetch::from(net.loss), Fetch::from(net.train_op)], &feeds)?;
            if hvd.is_chief() {
                hvd.log(format!("step {step:>4}: training loss (rank 0's batch) {:.5}", out[0].scalar::<f32>()?));
            }
        } else {
            sess.run_ops(&[net.train_op], &feeds)?;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let images = (settings.steps * settings.batch_size * hvd.size()) as f64;
    if hvd.is_chief() {
        hvd.log(format!(
            "throughput: {:.1} images/s ({} steps in {secs:.2} s, global batch {})",
            images / secs,
            settings.steps,
            settings.batch_size * hvd.size()
        ));
        if !args.no_eval {
            let acc = sess.run(
                [net.accuracy],
                &feed_dict![net.inputs => nhwc(data.test.images())?, net.labels => data.test.one_hot().clone(), net.is_training => false],
            )?;
            hvd.log(format!("Final test accuracy: {:.5}", acc[0].scalar::<f32>()?));
        }
        if let Some(prefix) = &args.save {
            let path = Saver::new(&g, g.global_variables())?.save(&sess, prefix, settings.steps as i64)?;
            hvd.log(format!("saved {}", path.display()));
        }
    }
    if args.bench_allreduce > 0 {
        bench_allreduce(hvd, &g, args.bench_allreduce, args.fusion_mib * 1024 * 1024)?;
    }
    // Nobody finalizes while another rank still works (MPI_Finalize is collective).
    hvd.barrier()?;
    Ok(())
}

/// Times `n` fused allreduces (Average) of tensors shaped like the trainable variables: the
/// communication of one training step, without the compute.
fn bench_allreduce(hvd: &Hvd, model: &Graph, n: usize, fusion_bytes: usize) -> anyhow::Result<()> {
    let shapes: Vec<Vec<usize>> =
        model.trainable_variables().iter().filter_map(|v| v.shape(model).ok()?.as_known()).collect();
    let bytes: usize = shapes.iter().map(|d| d.iter().product::<usize>() * 4).sum();
    let g = Graph::new();
    let s = g.root();
    let xs: Vec<Tensor> = shapes.iter().map(|d| constant(&s, Value::zeros(DType::F32, d))).collect::<Result<_>>()?;
    let items: Vec<(DType, usize)> = shapes.iter().map(|d| (DType::F32, d.iter().product::<usize>() * 4)).collect();
    let mut outs = Vec::new();
    for bucket in distributed::fusion_buckets(&items, fusion_bytes) {
        let group: Vec<Tensor> = bucket.iter().map(|&i| xs[i]).collect();
        outs.extend(distributed::grouped_allreduce(&s, &group, distributed::ReduceOp::Average, hvd)?);
    }
    let sess = Session::new(&g);
    let fetch: Vec<Fetch> = outs.iter().map(Fetch::from).collect();
    sess.run(fetch.clone(), &[])?; // warm-up
    hvd.barrier()?;
    let t0 = Instant::now();
    for _ in 0..n {
        sess.run(fetch.clone(), &[])?;
    }
    let per = t0.elapsed().as_secs_f64() / n as f64;
    // The bare collective on one buffer of the same size (no graph, no check, no packing).
    let c = hvd.collective();
    let mut buf = vec![0.0f32; bytes / 4];
    hvd.barrier()?;
    let t1 = Instant::now();
    for _ in 0..n {
        c.allreduce_sum(distributed::BufMut::F32(&mut buf))?;
    }
    let raw = t1.elapsed().as_secs_f64() / n as f64;
    if hvd.is_chief() {
        hvd.log(format!(
            "allreduce of {} gradients ({:.2} MiB): {:.3} ms per step through the graph ops, {:.3} ms for the bare MPI allreduce ({} runs)",
            shapes.len(),
            bytes as f64 / 1048576.0,
            per * 1e3,
            raw * 1e3,
            n
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    common::init_logging();
    distributed::run(body)
}
