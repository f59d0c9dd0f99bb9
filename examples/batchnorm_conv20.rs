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

mod common;

use common::{Defaults, Model};
use ferroflow::prelude::*;
use ferroflow::random::truncated_normal;
use ferroflow::state::variable_from;
use ferroflow::nn::Padding;

/// Batch norm the low-level way, as in the founding note.
fn batch_norm(s: &Scope, layer: Tensor, axes: &[i64], is_training: Tensor) -> Result<Tensor> {
    let channels = layer.shape().dim(layer.shape().rank().unwrap_or(1) - 1).unwrap_or(1);
    let ones = ndarray::Array1::<f32>::ones(channels);
    let zeros = ndarray::Array1::<f32>::zeros(channels);
    let gamma = variable(&s.with_name("gamma"), ones.clone(), VariableOptions::default())?;
    let beta = variable(&s.with_name("beta"), zeros.clone(), VariableOptions::default())?;
    let pop_mean = variable(&s.with_name("pop_mean"), zeros, VariableOptions::default().trainable(false))?;
    let pop_variance = variable(&s.with_name("pop_variance"), ones, VariableOptions::default().trainable(false))?;
    let epsilon = 1e-3;
    cond(
        s,
        is_training,
        |s| {
            let (batch_mean, batch_variance) = nn::moments(s, layer, axes, false)?;
            let decay = 0.99f32;
            let train_mean = assign(s, pop_mean, math::add(s, math::mul(s, pop_mean, decay)?, math::mul(s, batch_mean, 1.0 - decay)?)?)?;
            let train_variance =
                assign(s, pop_variance, math::add(s, math::mul(s, pop_variance, decay)?, math::mul(s, batch_variance, 1.0 - decay)?)?)?;
            s.control_dependencies(&[train_mean.op(), train_variance.op()], |s| {
                nn::batch_normalization(s, layer, batch_mean, batch_variance, Some(beta.value()), Some(gamma.value()), epsilon)
            })
        },
        |s| nn::batch_normalization(s, layer, pop_mean.value(), pop_variance.value(), Some(beta.value()), Some(gamma.value()), epsilon),
    )
}

fn conv_layer(s: &Scope, prev: Tensor, layer_depth: usize, is_training: Tensor) -> Result<Tensor> {
    s.name_scope(&format!("conv{layer_depth}"), |s| {
        let strides = if layer_depth.is_multiple_of(3) { 2 } else { 1 };
        let in_channels = prev.shape().dim(3).unwrap_or(1);
        let out_channels = layer_depth * 4;
        let init = truncated_normal(s, &[3, 3, in_channels, out_channels], 0.0, 0.05, DType::F32, None)?;
        let weights = variable_from(&s.with_name("weights"), init, VariableOptions::default())?;
        let layer = nn::conv2d(s, prev, weights.value(), [1, strides, strides, 1], Padding::Same, [1, 1, 1, 1])?;
        let bn = batch_norm(s, layer, &[0, 1, 2], is_training)?;
        nn::relu(s, bn)
    })
}

fn fully_connected(s: &Scope, prev: Tensor, num_units: usize, is_training: Tensor) -> Result<Tensor> {
    s.name_scope("fc", |s| {
        let in_units = prev.shape().dim(1).unwrap_or(1);
        let init = truncated_normal(s, &[in_units, num_units], 0.0, 0.05, DType::F32, None)?;
        let weights = variable_from(&s.with_name("weights"), init, VariableOptions::default())?;
        let layer = math::matmul(s, prev, weights.value(), false, false)?;
        let bn = batch_norm(s, layer, &[0], is_training)?;
        nn::relu(s, bn)
    })
}

fn build(s: &Scope, lr: f64) -> Result<Model> {
    let inputs = placeholder(&s.with_name("inputs"), DType::F32, shape![None, 28, 28, 1])?;
    let labels = placeholder(&s.with_name("labels"), DType::F32, shape![None, 10])?;
    let is_training = placeholder(&s.with_name("is_training"), DType::Bool, shape![])?;
    let mut layer = inputs;
    for layer_i in 1..20 {
        layer = conv_layer(s, layer, layer_i, is_training)?;
    }
    let orig_shape = layer.shape();
    let flat: usize = (1..4).map(|i| orig_shape.dim(i).unwrap_or(1)).product();
    let layer = array::reshape(s, layer, &[-1, flat as i64])?;
    let layer = fully_connected(s, layer, 100, is_training)?;
    let logits = layers::dense(s, layer, 10, layers::DenseOptions::default().name("logits"))?;
    let model_loss = math::reduce_mean(s, nn::sigmoid_cross_entropy_with_logits(s, labels, logits)?, None, false)?;
    let train_op = train::AdamOptimizer::new(lr).minimize(s, model_loss, None, None)?;
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
    let model = build(&s, settings.lr)?;
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s)?], &[])?;
    common::train_and_report(&sess, &model, &mut data, &settings)?;
    Ok(())
}
