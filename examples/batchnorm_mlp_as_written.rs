//! The founding note's MLP **as written**: 784 → `contrib.layers.batch_norm` → dense 1024 relu
//! → `contrib.layers.batch_norm` → dense 10, softmax cross-entropy + 0.001·l2_loss of all
//! weights and biases, plain SGD 0.5, batches of 128. As in the note, batch norm keeps its TF1
//! default `is_training=True` (a graph warning says so), and validation and test are scored by
//! the same weights **without** the batch-norm layers. `examples/batchnorm_mlp.rs` is the
//! corrected program; `docs/batch-norm.md` explains why this one scores lower.
//!
//! ```sh
//! cargo run --release --example batchnorm_mlp_as_written -- --steps 800
//! ```

mod common;

use common::Defaults;
use ferroflow::contrib;
use ferroflow::prelude::*;

/// The note's `model(x, use_bn)`: the same variables (`model/fc1`, `model/fc2`) with or without
/// the two batch-norm layers.
fn model(s: &Scope, x: Tensor, use_bn: bool) -> Result<Tensor> {
    // The evaluation model reuses the training model's variables.
    s.variable_scope("model", !use_bn, |s| {
        // TF1: tf.contrib.layers.batch_norm(x), i.e. is_training=True.
        let bn = |s: &Scope, t: Tensor| contrib::batch_norm(s, t, true, ContribBatchNormOptions::default());
        let x = if use_bn { bn(s, x)? } else { x };
        let h = contrib::fully_connected(s, x, 1024, FullyConnectedOptions::default().scope("fc1"))?;
        let h = if use_bn { bn(s, h)? } else { h };
        contrib::fully_connected(s, h, 10, FullyConnectedOptions::default().activation_fn(None).scope("fc2"))
    })
}

fn main() -> anyhow::Result<()> {
    let settings = common::settings(Defaults { steps: 800, batch_size: 128, lr: 0.5 });
    let mut data = common::load(&settings)?;
    let g = Graph::new();
    g.set_random_seed(settings.seed);
    let s = g.root();
    let inputs = placeholder(&s.with_name("inputs"), DType::F32, shape![None, 784])?;
    let labels = placeholder(&s.with_name("labels"), DType::F32, shape![None, 10])?;
    let train_logits = model(&s, inputs, true)?;
    let eval_logits = model(&s, inputs, false)?;
    let xent = math::reduce_mean(&s, nn::softmax_cross_entropy_with_logits(&s, labels, train_logits)?, None, false)?;
    let l2: Vec<Tensor> = g
        .trainable_variables()
        .into_iter()
        .filter(|v| v.name(&s).is_ok_and(|n| n.starts_with("model/fc")))
        .map(|v| nn::l2_loss(&s, v.value()))
        .collect::<Result<_>>()?;
    let loss = math::add(&s, xent, math::mul(&s, math::add_n(&s, &l2)?, 0.001f32)?)?;
    let train_op = train::GradientDescentOptimizer::new(settings.lr).minimize(&s, loss, None, None)?;
    let accuracy = |logits: Tensor| -> Result<Tensor> {
        let correct = math::equal(&s, math::argmax(&s, logits, 1)?, math::argmax(&s, labels, 1)?)?;
        math::reduce_mean(&s, array::cast(&s, correct, DType::F32)?, None, false)
    };
    let (train_acc, eval_acc) = (accuracy(train_logits)?, accuracy(eval_logits)?);

    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s)?], &[])?;
    let val_x = Value::from(data.validation.images().clone());
    let val_y = Value::from(data.validation.one_hot().clone());
    for batch_i in 0..settings.steps {
        let (bx, by) = data.train.next_batch(settings.batch_size);
        let (bx, by) = (Value::from(bx), Value::from(by));
        sess.run([train_op], &feed_dict![inputs => bx.clone(), labels => by.clone()])?;
        if batch_i % (4 * settings.log_every) == 0 {
            let r = sess.run([eval_acc], &feed_dict![inputs => val_x.clone(), labels => val_y.clone()])?;
            println!("Batch: {:>2}: Validation accuracy: {:>3.5}", batch_i, r[0].scalar::<f32>()?);
        } else if batch_i % settings.log_every == 0 {
            let r = sess.run([loss, train_acc], &feed_dict![inputs => bx, labels => by])?;
            println!(
                "Batch: {:>2}: Training loss: {:>3.5}, Training accuracy: {:>3.5}",
                batch_i,
                r[0].scalar::<f32>()?,
                r[1].scalar::<f32>()?
            );
        }
    }
    let r = sess.run([eval_acc, train_acc], &feed_dict![inputs => val_x, labels => val_y])?;
    println!("Final validation accuracy: {:>3.5}", r[0].scalar::<f32>()?);
    // The same validation images through the batch-norm model (batch statistics of all of them).
    println!("Validation accuracy with batch norm: {:>3.5}", r[1].scalar::<f32>()?);
    let test_x = Value::from(data.test.images().clone());
    let test_y = Value::from(data.test.one_hot().clone());
    let r = sess.run([eval_acc], &feed_dict![inputs => test_x, labels => test_y])?;
    println!("Final test accuracy: {:>3.5}", r[0].scalar::<f32>()?);
    Ok(())
}
