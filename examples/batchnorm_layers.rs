//! The founding note's conv net with `tf.layers`-style batch normalization:
//! `layers::batch_normalization(x, is_training)` after every conv and the dense-100 layer, and
//! the train op built under `control_dependencies(UPDATE_OPS)` so the moving statistics update.
//!
//! ```sh
//! cargo run --release --example batchnorm_layers -- --steps 800
//! ```

mod common;

// The graph (conv layers, `layers::batch_normalization`, Adam under `UPDATE_OPS`) is built in
// `common/models.rs`, shared with the training-step benchmark.
use common::models::batchnorm_layers;
use common::Defaults;
use ferroflow::prelude::*;

fn main() -> anyhow::Result<()> {
    let settings = common::settings(Defaults { steps: 800, batch_size: 64, lr: 0.002 });
    let mut data = common::load(&settings)?;
    let g = Graph::new();
    g.set_random_seed(settings.seed);
    let s = g.root();
    let model = batchnorm_layers(&s, settings.lr, true)?;
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s)?], &[])?;
    common::train_and_report(&sess, &model, &mut data, &settings)?;
    Ok(())
}
