//! The founding networks' graph-building code, shared by the examples and the training-step
//! benchmark (`benches/train_step.rs`). Each function builds the whole training graph (inputs,
//! loss, optimizer, accuracy) in the given scope, exactly as its example trains it.

use super::Model;
use ferroflow::layers::{Activation, BatchNormOptions, Conv2dOptions, DenseOptions};
use ferroflow::nn::Padding;
use ferroflow::prelude::*;
use ferroflow::random::truncated_normal;
use ferroflow::state::variable_from;
use ferroflow::tflearn::{Network, Objective, Regression, TflearnOptimizer};

// ---------------------------------------------------------------------------------------------
// batchnorm_conv20: the founding note's 20-layer conv net with the low-level batch norm.

/// Batch norm the low-level way, as in the founding note.
fn batch_norm(s: &Scope, layer: Tensor, axes: &[i64], is_training: Tensor) -> Result<Tensor> {
    let channels = layer.shape(s)?.dim(layer.shape(s)?.rank().unwrap_or(1) - 1).unwrap_or(1);
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
            // Operator sugar: the ops land in this branch (the scope `assign` is given).
            let train_mean = assign(s, pop_mean, pop_mean * decay + batch_mean * (1.0 - decay))?;
            let train_variance = assign(s, pop_variance, pop_variance * decay + batch_variance * (1.0 - decay))?;
            s.control_dependencies(&[train_mean.op(), train_variance.op()], |s| {
                nn::batch_normalization(
                    s,
                    layer,
                    batch_mean,
                    batch_variance,
                    Some(beta.value()),
                    Some(gamma.value()),
                    epsilon,
                )
            })
        },
        |s| {
            nn::batch_normalization(
                s,
                layer,
                pop_mean.value(),
                pop_variance.value(),
                Some(beta.value()),
                Some(gamma.value()),
                epsilon,
            )
        },
    )
}

fn conv20_conv_layer(s: &Scope, prev: Tensor, layer_depth: usize, is_training: Tensor) -> Result<Tensor> {
    s.name_scope(&format!("conv{layer_depth}"), |s| {
        let strides = if layer_depth.is_multiple_of(3) { 2 } else { 1 };
        let in_channels = prev.shape(s)?.dim(3).unwrap_or(1);
        let out_channels = layer_depth * 4;
        let init = truncated_normal(s, &[3, 3, in_channels, out_channels], 0.0, 0.05, DType::F32, None)?;
        let weights = variable_from(&s.with_name("weights"), init, VariableOptions::default())?;
        let layer = nn::conv2d(s, prev, weights.value(), [1, strides, strides, 1], Padding::Same, [1, 1, 1, 1])?;
        let bn = batch_norm(s, layer, &[0, 1, 2], is_training)?;
        nn::relu(s, bn)
    })
}

fn conv20_fully_connected(s: &Scope, prev: Tensor, num_units: usize, is_training: Tensor) -> Result<Tensor> {
    s.name_scope("fc", |s| {
        let in_units = prev.shape(s)?.dim(1).unwrap_or(1);
        let init = truncated_normal(s, &[in_units, num_units], 0.0, 0.05, DType::F32, None)?;
        let weights = variable_from(&s.with_name("weights"), init, VariableOptions::default())?;
        let layer = math::matmul(s, prev, weights.value(), false, false)?;
        let bn = batch_norm(s, layer, &[0], is_training)?;
        nn::relu(s, bn)
    })
}

/// The founding note's conv net with low-level batch norm (`moments`, `assign`, `cond`);
/// sigmoid cross-entropy, Adam(`lr`).
pub fn batchnorm_conv20(s: &Scope, lr: f64) -> Result<Model> {
    let inputs = placeholder(&s.with_name("inputs"), DType::F32, shape![None, 28, 28, 1])?;
    let labels = placeholder(&s.with_name("labels"), DType::F32, shape![None, 10])?;
    let is_training = placeholder(&s.with_name("is_training"), DType::Bool, shape![])?;
    let mut layer = inputs;
    for layer_i in 1..20 {
        layer = conv20_conv_layer(s, layer, layer_i, is_training)?;
    }
    let orig_shape = layer.shape(s)?;
    let flat: usize = (1..4).map(|i| orig_shape.dim(i).unwrap_or(1)).product();
    let layer = array::reshape(s, layer, &[-1, flat as i64])?;
    let layer = conv20_fully_connected(s, layer, 100, is_training)?;
    let logits = layers::dense(s, layer, 10, layers::DenseOptions::default().name("logits"))?;
    let model_loss = math::reduce_mean(s, nn::sigmoid_cross_entropy_with_logits(s, labels, logits)?, None, false)?;
    let train_op = train::AdamOptimizer::new(lr).minimize(s, model_loss, None, None)?;
    let correct = math::equal(s, math::argmax(s, logits, 1)?, math::argmax(s, labels, 1)?)?;
    let accuracy = math::reduce_mean(s, array::cast(s, correct, DType::F32)?, None, false)?;
    Ok(Model { inputs, labels, is_training, loss: model_loss, accuracy, logits, train_op, image_input: true })
}

// ---------------------------------------------------------------------------------------------
// batchnorm_layers: the same net with layers::batch_normalization.

fn layers_conv_layer(s: &Scope, prev: Tensor, layer_depth: usize, is_training: Tensor) -> Result<Tensor> {
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

fn layers_fully_connected(s: &Scope, prev: Tensor, num_units: usize, is_training: Tensor) -> Result<Tensor> {
    let layer = layers::dense(s, prev, num_units, DenseOptions::default().use_bias(false))?;
    let layer = layers::batch_normalization(s, layer, is_training, BatchNormOptions::default())?;
    nn::relu(s, layer)
}

/// The conv net with `layers::batch_normalization`; `with_update_ops` = the train op depends on
/// `UPDATE_OPS` (the fix). Sigmoid cross-entropy, Adam(`lr`).
pub fn batchnorm_layers(s: &Scope, lr: f64, with_update_ops: bool) -> Result<Model> {
    let inputs = placeholder(&s.with_name("inputs"), DType::F32, shape![None, 28, 28, 1])?;
    let labels = placeholder(&s.with_name("labels"), DType::F32, shape![None, 10])?;
    let is_training = placeholder(&s.with_name("is_training"), DType::Bool, shape![])?;
    let mut layer = inputs;
    for layer_i in 1..20 {
        layer = layers_conv_layer(s, layer, layer_i, is_training)?;
    }
    let layer = layers::flatten(s, layer)?;
    let layer = layers_fully_connected(s, layer, 100, is_training)?;
    let logits = layers::dense(s, layer, 10, DenseOptions::default())?;
    let logits = identity(&s.with_name("logits"), logits)?;
    let model_loss = math::reduce_mean(s, nn::sigmoid_cross_entropy_with_logits(s, labels, logits)?, None, false)?;
    let update_ops = if with_update_ops { s.graph().collection_ops(&UPDATE_OPS) } else { Vec::new() };
    let train_op =
        s.control_dependencies(&update_ops, |s| train::AdamOptimizer::new(lr).minimize(s, model_loss, None, None))?;
    let correct = math::equal(s, math::argmax(s, logits, 1)?, math::argmax(s, labels, 1)?)?;
    let accuracy = math::reduce_mean(s, array::cast(s, correct, DType::F32)?, None, false)?;
    Ok(Model { inputs, labels, is_training, loss: model_loss, accuracy, logits, train_op, image_input: true })
}

// ---------------------------------------------------------------------------------------------
// batchnorm_mlp: 784 → BN → dense 1024 relu → BN → dense 10, SGD.

/// The founding note's MLP with batch norm; softmax cross-entropy + 0.001·L2, SGD(`lr`).
pub fn batchnorm_mlp(s: &Scope, lr: f64) -> Result<Model> {
    let inputs = placeholder(&s.with_name("inputs"), DType::F32, shape![None, 784])?;
    let labels = placeholder(&s.with_name("labels"), DType::F32, shape![None, 10])?;
    let is_training = placeholder(&s.with_name("is_training"), DType::Bool, shape![])?;
    let h = layers::batch_normalization(s, inputs, is_training, BatchNormOptions::default())?;
    let h = layers::dense(s, h, 1024, DenseOptions::default().activation(Activation::Relu))?;
    let h = layers::batch_normalization(s, h, is_training, BatchNormOptions::default())?;
    let logits = layers::dense(s, h, 10, DenseOptions::default())?;
    let xent = math::reduce_mean(s, nn::softmax_cross_entropy_with_logits(s, labels, logits)?, None, false)?;
    // L2 on all weights and biases (the dense layers' kernels and biases), beta = 0.001.
    let beta = 0.001f32;
    let weights: Vec<Tensor> = s
        .graph()
        .trainable_variables()
        .into_iter()
        .filter(|v| v.name(s).is_ok_and(|n| n.starts_with("dense")))
        .map(|v| nn::l2_loss(s, v.value()))
        .collect::<Result<_>>()?;
    let l2 = math::add_n(s, &weights)?;
    let loss = convert_to_tensor(s, xent + l2 * beta)?;
    let update_ops = s.graph().collection_ops(&UPDATE_OPS);
    let train_op = s.control_dependencies(&update_ops, |s| {
        train::GradientDescentOptimizer::new(lr).minimize(s, loss, None, None)
    })?;
    let correct = math::equal(s, math::argmax(s, logits, 1)?, math::argmax(s, labels, 1)?)?;
    let accuracy = math::reduce_mean(s, array::cast(s, correct, DType::F32)?, None, false)?;
    Ok(Model { inputs, labels, is_training, loss, accuracy, logits, train_op, image_input: false })
}

// ---------------------------------------------------------------------------------------------
// tflearn_convnet: tflearn's MNIST convnet.

/// tflearn's MNIST convnet: conv 32 → max-pool → LRN → conv 64 → max-pool → LRN → fc 128 tanh →
/// dropout 0.8 → fc 256 tanh → dropout 0.8 → fc 10 softmax; Adam(`lr`). Returns the network,
/// its input tensor and the regression head (wrap both in `DNN::new` to train).
pub fn tflearn_convnet(seed: u64, lr: f64) -> Result<(Network, Tensor, Regression)> {
    let mut net = Network::new(Some(seed))?;
    let x = net.input_data(shape![None, 28, 28, 1], "input")?;
    let h = net.conv_2d(x, 32, 3, Activation::Relu, true)?;
    let h = net.max_pool_2d(h, 2)?;
    let h = net.local_response_normalization(h)?;
    let h = net.conv_2d(h, 64, 3, Activation::Relu, true)?;
    let h = net.max_pool_2d(h, 2)?;
    let h = net.local_response_normalization(h)?;
    let h = net.fully_connected(h, 128, Activation::Tanh)?;
    let h = net.dropout(h, 0.8)?;
    let h = net.fully_connected(h, 256, Activation::Tanh)?;
    let h = net.dropout(h, 0.8)?;
    let out = net.fully_connected(h, 10, Activation::Softmax)?;
    let head = net.regression(out, TflearnOptimizer::Adam, lr, Objective::CategoricalCrossentropy)?;
    Ok((net, x, head))
}
