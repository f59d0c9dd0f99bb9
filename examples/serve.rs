//! Serving: a program that did not build the graph imports the meta graph and the latest
//! checkpoint of a trained model, freezes it with `optimize_for_inference` and classifies test
//! images.
//!
//! ```sh
//! cargo run --release --example checkpoint_resume -- --dir /tmp/ff-ckpt
//! cargo run --release --example serve -- --model /tmp/ff-ckpt --images t10k-images-idx3-ubyte.gz --indices 0,1,2
//! ```
//! Without `--images`, the embedded MNIST sample's test images are used.

use anyhow::{bail, Context};
use clap::Parser;
use ferroflow::data::{read_idx_images, DataOptions, Datasets};
use ferroflow::prelude::*;
use ferroflow::train::{import_meta_graph, latest_checkpoint, optimize_for_inference};
use std::path::PathBuf;

#[derive(Parser)]
struct Args {
    /// Directory holding the checkpoints (and their `.meta` files).
    #[arg(long)]
    model: PathBuf,
    /// IDX image file (raw or .gz); default: the embedded test images.
    #[arg(long)]
    images: Option<PathBuf>,
    /// Comma-separated image indices.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    indices: Vec<usize>,
}

fn main() -> anyhow::Result<()> {
    // Prints ferroflow's warnings (the `log` crate); `RUST_LOG=debug` for more.
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).try_init();
    let args = Args::parse();
    let ckpt = latest_checkpoint(&args.model)?.with_context(|| format!("no checkpoint in {}", args.model.display()))?;
    let (graph, saver) = import_meta_graph(format!("{}.meta", ckpt.display()))?;
    let sess = Session::new(&graph);
    saver.context("the meta graph has no saver")?.restore(&sess, &ckpt)?;
    let inputs = graph.tensor_by_name("inputs:0")?;
    let is_training = graph.tensor_by_name("is_training:0")?;
    let logits = graph.tensor_by_name("logits:0")?;
    // Serve a frozen copy: variables as constants, the training branch and its assigns pruned,
    // batch norm folded into the convolutions (docs/serving.md).
    let served = optimize_for_inference(&sess, &[inputs], &[logits], &feed_dict![is_training => false])?;
    let st = &served.stats;
    println!(
        "optimize_for_inference: {} nodes -> {} ({} batch norms folded, {} conds pruned)",
        st.nodes_before, st.nodes_after, st.folded_batch_norms, st.pruned_conds
    );
    let serving = Session::new(&served.graph);

    let (pixels, count) = match &args.images {
        Some(path) => {
            let idx = read_idx_images(path)?;
            if (idx.rows, idx.cols) != (28, 28) {
                bail!("{}: images are {}x{}, the model takes 28x28", path.display(), idx.rows, idx.cols);
            }
            (idx.pixels.iter().map(|&p| p as f32 / 255.0).collect::<Vec<f32>>(), idx.count)
        }
        None => {
            let ds = Datasets::embedded_mnist(DataOptions::default())?;
            (ds.test.images().iter().copied().collect(), ds.test.num_examples())
        }
    };
    let mut batch = Vec::with_capacity(args.indices.len() * 784);
    for &i in &args.indices {
        if i >= count {
            bail!("index {i} is out of range: the file holds {count} images");
        }
        batch.extend_from_slice(&pixels[i * 784..(i + 1) * 784]);
    }
    let x = Value::from_shape_vec(&[args.indices.len(), 28, 28, 1], batch)?;
    let out = serving.run([served.outputs[0]], &feed_dict![served.inputs[0] => x])?;
    let scores = out[0].to_array::<f32>()?;
    for (row, &i) in args.indices.iter().enumerate() {
        let r = scores.index_axis(ndarray::Axis(0), row);
        let label = r.iter().enumerate().fold((0, f32::MIN), |b, (k, &v)| if v > b.1 { (k, v) } else { b }).0;
        println!("image {i}: predicted label {label}");
    }
    Ok(())
}
