//! The founding note's "20-layer" conv net with the **low-level** batch norm: `nn::moments`,
//! `gamma`/`beta`, non-trainable `pop_mean`/`pop_variance` updated by `assign` with decay 0.99
//! inside `cond(is_training, …)`, `nn::batch_normalization` with epsilon 1e-3.
//!
//! 19 conv layers (3×3, `4·depth` channels, stride 2 every third layer, SAME padding) + dense
//! 100 (also batch-normalized) + dense 10; sigmoid cross-entropy; Adam 0.002; 800 batches of 64.
//! `is_training` is fed in every run.
//!
//! ```sh
//! cargo run --release --example batchnorm_conv20 -- --steps 800 --batch-size 64 --lr 0.002
//! ```
//!
//! `--logdir runs/conv20` writes TensorBoard summaries: training/validation loss and accuracy,
//! histograms of every layer's `pop_mean`/`pop_variance`, 3 input images, and the graph
//! (`tensorboard --logdir runs`).

mod common;

// The graph (conv layers, low-level `batch_norm`, Adam) is built in `common/models.rs`,
// shared with the training-step benchmark.
use common::models::batchnorm_conv20;
use common::Defaults;
use ferroflow::prelude::*;

fn main() -> anyhow::Result<()> {
    let settings = common::settings(Defaults { steps: 800, batch_size: 64, lr: 0.002 });
    let mut data = common::load(&settings)?;
    let g = Graph::new();
    g.set_random_seed(settings.seed);
    let s = g.root();
    let model = batchnorm_conv20(&s, settings.lr)?;
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s)?], &[])?;
    common::train_and_report(&sess, &model, &mut data, &settings)?;
    Ok(())
}
