//! The founding note's MLP with batch norm: 784 → batch norm → dense 1024 relu → batch norm →
//! dense 10; softmax cross-entropy + 0.001·l2_loss of all weights and biases; plain SGD 0.5;
//! batches of 128. Batch norm here is `layers::batch_normalization` with an `is_training`
//! tensor, and the train op depends on `UPDATE_OPS`.
//!
//! ```sh
//! cargo run --release --example batchnorm_mlp -- --steps 800
//! ```

mod common;

// The graph (batch norm, dense layers, L2, SGD under `UPDATE_OPS`) is built in
// `common/models.rs`, shared with the training-step benchmark.
use common::models::batchnorm_mlp;
use common::Defaults;
use ferroflow::prelude::*;

fn main() -> anyhow::Result<()> {
    let settings = common::settings(Defaults { steps: 800, batch_size: 128, lr: 0.5 });
    let mut data = common::load(&settings)?;
    let g = Graph::new();
    g.set_random_seed(settings.seed);
    let s = g.root();
    let model = batchnorm_mlp(&s, settings.lr)?;
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s)?], &[])?;
    common::train_and_report(&sess, &model, &mut data, &settings)?;
    Ok(())
}
