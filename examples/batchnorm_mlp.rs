//! The founding note's MLP with batch norm: 784 → batch norm → dense 1024 relu → batch norm →
//! dense 10; softmax cross-entropy + 0.001·l2_loss of all weights and biases; plain SGD 0.5;
//! batches of 128. Batch norm here is `layers::batch_normalization` with an `is_training`
//! tensor, and the train op depends on `UPDATE_OPS`.
//!
//! ```sh
//! cargo run --release --example batchnorm_mlp -- --steps 800
//! ```

mod common;

use common::{Defaults, Model};
use ferroflow::layers::{Activation, BatchNormOptions, DenseOptions};
use ferroflow::prelude::*;

fn build(s: &Scope, lr: f64) -> Result<Model> {
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
        .filter(|v| v.name().starts_with("dense"))
        .map(|v| nn::l2_loss(s, v.value()))
        .collect::<Result<_>>()?;
    let l2 = math::add_n(s, &weights)?;
    let loss = math::add(s, xent, math::mul(s, l2, beta)?)?;
    let update_ops = s.graph().collection_ops(&UPDATE_OPS);
    let train_op = s.control_dependencies(&update_ops, |s| train::GradientDescentOptimizer::new(lr).minimize(s, loss, None, None))?;
    let correct = math::equal(s, math::argmax(s, logits, 1)?, math::argmax(s, labels, 1)?)?;
    let accuracy = math::reduce_mean(s, array::cast(s, correct, DType::F32)?, None, false)?;
    Ok(Model { inputs, labels, is_training, loss, accuracy, logits, train_op, image_input: false })
}

fn main() -> anyhow::Result<()> {
    let settings = common::settings(Defaults { steps: 800, batch_size: 128, lr: 0.5 });
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
