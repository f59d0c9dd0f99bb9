//! Shared plumbing of the founding-program examples: flags, data, and the TF1 training loop
//! that prints what the founding note's programs print.

#![allow(dead_code)]

pub mod models;

use clap::Parser;
use ferroflow::data::{DataOptions, Datasets};
use ferroflow::ndarray::{Array2, Array4, Axis};
use ferroflow::prelude::*;
use std::path::PathBuf;

/// Installs `env_logger` so the library's `log` records (ferroflow's graph and session warnings)
/// are printed: warnings by default, more with `RUST_LOG` (`RUST_LOG=ferroflow=debug`).
pub fn init_logging() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).try_init();
}

/// Flags every example takes. Defaults are per example (`Defaults`).
#[derive(Parser, Debug)]
pub struct Flags {
    /// Directory with the four IDX files (default: the embedded 10k MNIST sample).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Training steps (batches).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed for the graph, the initializers and the data shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print a line every this many steps (the founding programs use 25/100).
    #[arg(long, default_value_t = 25)]
    pub log_every: usize,
    /// Write TensorBoard summaries and the graph here (`tensorboard --logdir DIR`'s parent).
    #[arg(long)]
    pub logdir: Option<PathBuf>,
}

/// Per-example defaults (the founding programs' values).
pub struct Defaults {
    pub steps: usize,
    pub batch_size: usize,
    pub lr: f64,
}

/// Resolved settings.
pub struct Settings {
    pub data: Option<PathBuf>,
    pub steps: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
    pub log_every: usize,
    pub logdir: Option<PathBuf>,
}

pub fn settings(d: Defaults) -> Settings {
    init_logging();
    let f = Flags::parse();
    Settings {
        data: f.data,
        steps: f.steps.unwrap_or(d.steps),
        batch_size: f.batch_size.unwrap_or(d.batch_size),
        lr: f.lr.unwrap_or(d.lr),
        seed: f.seed,
        log_every: f.log_every.max(1),
        logdir: f.logdir,
    }
}

/// Loads `--data DIR` or the embedded sample (validation held out of the training file).
pub fn load(s: &Settings) -> anyhow::Result<Datasets> {
    let ds = Datasets::load(s.data.as_deref(), DataOptions::default().seed(s.seed))?;
    eprintln!(
        "data: {} train / {} validation / {} test images{}",
        ds.train.num_examples(),
        ds.validation.num_examples(),
        ds.test.num_examples(),
        s.data.as_ref().map(|p| format!(" from {}", p.display())).unwrap_or_else(|| " (embedded MNIST sample)".into())
    );
    Ok(ds)
}

/// `[n, 784]` images as NHWC `[n, 28, 28, 1]`.
pub fn nhwc(images: &Array2<f32>) -> anyhow::Result<Array4<f32>> {
    let n = images.nrows();
    Ok(images.clone().into_shape_with_order((n, 28, 28, 1))?)
}

/// The tensors a founding program trains and evaluates with.
pub struct Model {
    pub inputs: Tensor,
    pub labels: Tensor,
    pub is_training: Tensor,
    pub loss: Tensor,
    pub accuracy: Tensor,
    /// The network's output scores (argmax = predicted class).
    pub logits: Tensor,
    pub train_op: Operation,
    /// Inputs are NHWC images (else flat `[n, 784]`).
    pub image_input: bool,
}

fn as_input(m: &Model, images: &Array2<f32>) -> anyhow::Result<Value> {
    Ok(if m.image_input { Value::from(nhwc(images)?) } else { Value::from(images.clone()) })
}

/// TensorBoard summaries of a founding program (`--logdir`): training loss/accuracy, 3 input
/// images and histograms of every batch-norm population mean/variance (`…/pop_mean`,
/// `…/pop_variance`) at each training report; validation loss/accuracy at each validation
/// report; the graph.
struct Board {
    writer: ferroflow::summary::FileWriter,
    train: Tensor,
    validation: Tensor,
}

impl Board {
    fn new(sess: &Session, m: &Model, dir: &std::path::Path) -> anyhow::Result<Board> {
        use ferroflow::summary;
        let g = sess.graph();
        let s = g.root();
        let (train, validation) = s.name_scope("summaries", |s| {
            let mut t = s.name_scope("train", |s| {
                Ok(vec![summary::scalar(s, "loss", m.loss)?, summary::scalar(s, "accuracy", m.accuracy)?])
            })?;
            if m.image_input {
                t.push(summary::image(s, "input", m.inputs, 3)?);
            }
            for v in g.global_variables() {
                let name = v.name(&s)?;
                if name.ends_with("pop_mean") || name.ends_with("pop_variance") {
                    t.push(summary::histogram(s, &name, v.value())?);
                }
            }
            let v = s.name_scope("validation", |s| {
                Ok(vec![summary::scalar(s, "loss", m.loss)?, summary::scalar(s, "accuracy", m.accuracy)?])
            })?;
            Ok((summary::merge(s, &t)?, summary::merge(s, &v)?))
        })?;
        let writer = summary::FileWriter::new(dir, Some(g))?;
        eprintln!(
            "TensorBoard: writing {} (open with: tensorboard --logdir {})",
            writer.path().display(),
            dir.display()
        );
        Ok(Board { writer, train, validation })
    }
}

/// TensorBoard output of a program whose training loop is not ours (tflearn-style `fit`): the
/// graph, the first 3 of `images` through `input`, and `scalars` (tag, value) at `step`.
pub fn write_summaries(
    sess: &Session,
    dir: &std::path::Path,
    input: Tensor,
    images: Value,
    scalars: &[(&str, f32)],
    step: i64,
) -> anyhow::Result<()> {
    use ferroflow::summary;
    let g = sess.graph();
    let s = g.root().sub_scope("summaries");
    let img = summary::image(&s, "input", input, 3)?;
    let mut feeds = vec![(input, images)];
    let mut sums = vec![img];
    for (tag, v) in scalars {
        let p = placeholder(&s, DType::F32, shape![])?;
        sums.push(summary::scalar(&s, tag, p)?);
        feeds.push((p, Value::from(*v)));
    }
    let merged = summary::merge(&s, &sums)?;
    let mut writer = summary::FileWriter::new(dir, Some(g))?;
    let out = sess.run([merged], &feeds)?;
    writer.add_summary(out[0].scalar_bytes()?, step)?;
    writer.close()?;
    eprintln!("TensorBoard: wrote {} (open with: tensorboard --logdir {})", writer.path().display(), dir.display());
    Ok(())
}

/// The founding programs' loop and report: a line every 25 batches (training loss/accuracy on
/// the batch) and every 100 (validation), then final validation and test accuracy and the first
/// 100 test images scored one at a time with `is_training = false`.
pub fn train_and_report(sess: &Session, m: &Model, ds: &mut Datasets, s: &Settings) -> anyhow::Result<f32> {
    let val_x = as_input(m, ds.validation.images())?;
    let val_y = Value::from(ds.validation.one_hot().clone());
    let mut board = s.logdir.as_deref().map(|d| Board::new(sess, m, d)).transpose()?;
    let started = std::time::Instant::now();
    // `, 41.2 steps/s, ETA 18s` after `done` of `s.steps` batches.
    let pace = |done: usize| {
        let secs = started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        let eta = if rate > 0.0 { s.steps.saturating_sub(done) as f64 / rate } else { 0.0 };
        format!(", {rate:.1} steps/s, ETA {eta:.0}s")
    };
    for batch_i in 0..s.steps {
        let (bx, by) = ds.train.next_batch(s.batch_size);
        let (bx, by) = (as_input(m, &bx)?, Value::from(by));
        sess.run([m.train_op], &feed_dict![m.inputs => bx.clone(), m.labels => by.clone(), m.is_training => true])?;
        if batch_i % (4 * s.log_every) == 0 {
            let r = sess.run(
                [m.loss, m.accuracy],
                &feed_dict![m.inputs => val_x.clone(), m.labels => val_y.clone(), m.is_training => false],
            )?;
            if let Some(b) = board.as_mut() {
                let feeds = feed_dict![m.inputs => val_x.clone(), m.labels => val_y.clone(), m.is_training => false];
                let v = sess.run([b.validation], &feeds)?;
                b.writer.add_summary(v[0].scalar_bytes()?, batch_i as i64)?;
            }
            println!(
                "Batch: {:>2}: Validation loss: {:>3.5}, Validation accuracy: {:>3.5}{}",
                batch_i,
                r[0].scalar::<f32>()?,
                r[1].scalar::<f32>()?,
                pace(batch_i + 1)
            );
        }
        if batch_i % s.log_every == 0 {
            if let Some(b) = board.as_mut() {
                let feeds = feed_dict![m.inputs => bx.clone(), m.labels => by.clone(), m.is_training => false];
                let v = sess.run([b.train], &feeds)?;
                b.writer.add_summary(v[0].scalar_bytes()?, batch_i as i64)?;
            }
        }
        if batch_i % (4 * s.log_every) != 0 && batch_i % s.log_every == 0 {
            let r =
                sess.run([m.loss, m.accuracy], &feed_dict![m.inputs => bx, m.labels => by, m.is_training => false])?;
            println!(
                "Batch: {:>2}: Training loss: {:>3.5}, Training accuracy: {:>3.5}{}",
                batch_i,
                r[0].scalar::<f32>()?,
                r[1].scalar::<f32>()?,
                pace(batch_i + 1)
            );
        }
    }
    let acc = sess.run([m.accuracy], &feed_dict![m.inputs => val_x, m.labels => val_y, m.is_training => false])?;
    println!("Final validation accuracy: {:>3.5}", acc[0].scalar::<f32>()?);
    if let Some(mut b) = board.take() {
        b.writer.close()?;
    }
    let test_x = as_input(m, ds.test.images())?;
    let test_y = Value::from(ds.test.one_hot().clone());
    let acc = sess.run([m.accuracy], &feed_dict![m.inputs => test_x, m.labels => test_y, m.is_training => false])?;
    let test_acc = acc[0].scalar::<f32>()?;
    println!("Final test accuracy: {:>3.5}", test_acc);
    let n = 100.min(ds.test.num_examples());
    let mut correct = 0.0f32;
    let mut single = Vec::with_capacity(n);
    for i in 0..n {
        let x = ds.test.images().select(Axis(0), &[i]);
        let y = ds.test.one_hot().select(Axis(0), &[i]);
        let r = sess.run(
            [m.accuracy, m.logits],
            &feed_dict![m.inputs => as_input(m, &x)?, m.labels => y, m.is_training => false],
        )?;
        correct += r[0].scalar::<f32>()?;
        single.extend(argmax_rows(&r[1])?);
    }
    println!("Accuracy on 100 samples: {}", correct / 100.0);
    // The same images scored as one batch must give the same predictions: batch norm in
    // inference mode uses the population statistics, not the batch's.
    let idx: Vec<usize> = (0..n).collect();
    let x = ds.test.images().select(Axis(0), &idx);
    let r = sess.run([m.logits], &feed_dict![m.inputs => as_input(m, &x)?, m.is_training => false])?;
    let batch = argmax_rows(&r[0])?;
    println!("Single-image predictions match batch predictions: {}", single == batch);
    Ok(test_acc)
}

/// Index of the largest score in each row of a `[n, classes]` value.
pub fn argmax_rows(v: &Value) -> anyhow::Result<Vec<usize>> {
    let a = v.to_array::<f32>()?;
    Ok(a.outer_iter()
        .map(|row| row.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (k, &x)| if x > b.1 { (k, x) } else { b }).0)
        .collect())
}
