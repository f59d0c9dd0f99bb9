//! The founding note's conv net with `tf.layers`-style batch normalization:
//! `layers::batch_normalization(x, is_training)` after every conv and the dense-100 layer, and
//! the train op built under `control_dependencies(UPDATE_OPS)` so the moving statistics update.
//!
//! ```sh
//! cargo run --release --example batchnorm_layers -- --steps 800
//! ```

pub mod common;

use common::{Defaults, Model};
use ferroflow::layers::{BatchNormOptions, Conv2dOptions, DenseOptions};
use ferroflow::nn::Padding;
use ferroflow::prelude::*;

fn conv_layer(s: &Scope, prev: Tensor, layer_depth: usize, is_training: Tensor) -> Result<Tensor> {
    let strides = if layer_depth.is_multiple_of(3) { 2 } else { 1 };
    let conv = layers::conv2d(
        s,
        prev,
        layer_depth * 4,
        (3, 3),
        Conv2dOptions::default().strides(strides, strides).padding(Padding::Same).use_bias(false),
    )?;
    let conv = layers::batch_normalization(s, conv, is_training, BatchNormOptions::default())?;
    nn::relu(s, conv)
}

fn fully_connected(s: &Scope, prev: Tensor, num_units: usize, is_training: Tensor) -> Result<Tensor> {
    let layer = layers::dense(s, prev, num_units, DenseOptions::default().use_bias(false))?;
    let layer = layers::batch_normalization(s, layer, is_training, BatchNormOptions::default())?;
    nn::relu(s, layer)
}

/// Builds the network; `with_update_ops` = the train op depends on `UPDATE_OPS` (the fix).
pub fn build(s: &Scope, lr: f64, with_update_ops: bool) -> Result<Model> {
    let inputs = placeholder(&s.with_name("inputs"), DType::F32, shape![None, 28, 28, 1])?;
    let labels = placeholder(&s.with_name("labels"), DType::F32, shape![None, 10])?;
    let is_training = placeholder(&s.with_name("is_training"), DType::Bool, shape![])?;
    let mut layer = inputs;
    for layer_i in 1..20 {
        layer = conv_layer(s, layer, layer_i, is_training)?;
    }
    let layer = layers::flatten(s, layer)?;
    let layer = fully_connected(s, layer, 100, is_training)?;
    let logits = layers::dense(s, layer, 10, DenseOptions::default())?;
    let logits = identity(&s.with_name("logits"), logits)?;
    let model_loss = math::reduce_mean(s, nn::sigmoid_cross_entropy_with_logits(s, labels, logits)?, None, false)?;
    let update_ops = if with_update_ops { s.graph().collection_ops(&UPDATE_OPS) } else { Vec::new() };
    let train_op = s.control_dependencies(&update_ops, |s| train::AdamOptimizer::new(lr).minimize(s, model_loss, None, None))?;
    let correct = math::equal(s, math::argmax(s, logits, 1)?, math::argmax(s, labels, 1)?)?;
    let accuracy = math::reduce_mean(s, array::cast(s, correct, DType::F32)?, None, false)?;
    Ok(Model { inputs, labels, is_training, loss: model_loss, accuracy, logits, train_op, image_input: true })
}

fn main() -> anyhow::Result<()> {
    let settings = common::settings(Defaults { steps: 800, batch_size: 64, lr: 0.002 });
    let mut data = common::load(&settings)?;
    let g = Graph::new();
    g.set_random_seed(settings.seed);
    let s = g.root();
    let model = build(&s, settings.lr, true)?;
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s)?], &[])?;
    common::train_and_report(&sess, &model, &mut data, &settings)?;
    Ok(())
}
