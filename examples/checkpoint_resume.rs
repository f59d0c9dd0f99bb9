//! Save, crash, resume: trains `batchnorm_layers`' network for `--steps` steps, saves a
//! checkpoint (plus its meta graph), keeps training for `--more` steps, then builds the graph
//! again in a fresh session, restores the checkpoint and checks that
//! 1. inference outputs are bit-identical to the ones computed right after the save, and
//! 2. training resumes with the same Adam state: every further step's loss equals the
//!    uninterrupted run's.
//!
//! ```sh
//! cargo run --release --example checkpoint_resume -- --steps 50 --dir /tmp/ff-ckpt
//! cargo run --release --example serve -- --model /tmp/ff-ckpt --indices 0,1,2,3
//! ```

mod common;

use anyhow::{bail, Context};
use clap::Parser;
use ferroflow::data::{DataOptions, Datasets};
use ferroflow::ndarray::{Array2, Axis};
use ferroflow::prelude::*;
use ferroflow::train::Saver;
use std::path::PathBuf;

#[derive(Parser)]
struct Args {
    /// Steps before the checkpoint.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Steps compared after the checkpoint.
    #[arg(long, default_value_t = 5)]
    more: usize,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Checkpoint directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Directory with the four IDX files (default: the embedded MNIST sample).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

struct Trainer {
    graph: Graph,
    model: common::Model,
    sess: Session,
    saver: Saver,
}

fn build(seed: u64) -> anyhow::Result<Trainer> {
    let graph = Graph::new();
    graph.set_random_seed(seed);
    let s = graph.root();
    let model = common::models::batchnorm_layers(&s, 0.002, true)?;
    // After the model and the optimizer: the Saver covers weights, moving statistics, Adam
    // slots and beta powers.
    let saver = Saver::new(&graph, ferroflow::train::saver::VarList::All)?;
    let sess = Session::new(&graph);
    Ok(Trainer { graph, model, sess, saver })
}

fn step(t: &Trainer, x: &Array2<f32>, y: &Array2<f32>) -> anyhow::Result<f32> {
    let m = &t.model;
    let out = t.sess.run(
        [Fetch::from(m.loss), m.train_op.into()],
        &feed_dict![m.inputs => common::nhwc(x)?, m.labels => y.clone(), m.is_training => true],
    )?;
    Ok(out[0].scalar::<f32>()?)
}

fn infer(t: &Trainer, x: &Array2<f32>) -> anyhow::Result<Vec<f32>> {
    let logits = t.graph.tensor_by_name("logits:0")?;
    let m = &t.model;
    let out = t.sess.run([logits], &feed_dict![m.inputs => common::nhwc(x)?, m.is_training => false])?;
    Ok(out[0].to_vec::<f32>()?)
}

fn main() -> anyhow::Result<()> {
    common::init_logging();
    let args = Args::parse();
    let dir = args.dir.clone().unwrap_or_else(|| std::env::temp_dir().join("ferroflow-checkpoint-resume"));
    let mut data = Datasets::load(args.data.as_deref(), DataOptions::default().seed(args.seed))?;
    let batches: Vec<(Array2<f32>, Array2<f32>)> =
        (0..args.steps + args.more).map(|_| data.train.next_batch(args.batch_size)).collect();
    let probe = data.test.images().select(Axis(0), &(0..100.min(data.test.num_examples())).collect::<Vec<_>>());

    // First run: train, save, keep going.
    let a = build(args.seed)?;
    a.sess.run_ops(&[global_variables_initializer(&a.graph.root())?], &[])?;
    for (x, y) in &batches[..args.steps] {
        step(&a, x, y)?;
    }
    let ckpt = a.saver.save(&a.sess, dir.join("model"), args.steps)?;
    println!("saved {}", ckpt.display());
    let outputs_at_save = infer(&a, &probe)?;
    let mut uninterrupted = Vec::new();
    for (x, y) in &batches[args.steps..] {
        uninterrupted.push(step(&a, x, y)?);
    }
    drop(a);

    // "After the crash": a fresh graph and session, restored from the latest checkpoint.
    let b = build(args.seed)?;
    let latest = ferroflow::train::latest_checkpoint(&dir)?.context("no checkpoint found")?;
    b.saver.restore(&b.sess, &latest)?;
    println!("restored {}", latest.display());
    let outputs_restored = infer(&b, &probe)?;
    let identical = outputs_restored.iter().zip(&outputs_at_save).all(|(p, q)| p.to_bits() == q.to_bits());
    println!("inference outputs bit-identical after restore: {identical}");
    let mut resumed = Vec::new();
    for (x, y) in &batches[args.steps..] {
        resumed.push(step(&b, x, y)?);
    }
    for (i, (u, r)) in uninterrupted.iter().zip(&resumed).enumerate() {
        println!("step {}: uninterrupted loss {u:.7}, resumed loss {r:.7}", args.steps + i + 1);
    }
    let same = uninterrupted.iter().zip(&resumed).all(|(u, r)| u.to_bits() == r.to_bits());
    println!("resumed training matches uninterrupted training: {same}");
    if !identical || !same {
        bail!("resume check failed");
    }
    println!("serve it with: cargo run --release --example serve -- --model {} --indices 0,1,2,3", dir.display());
    Ok(())
}
