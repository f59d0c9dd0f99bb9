//! Issue-level training checks: an MLP with batch norm learns on the embedded MNIST sample, and
//! the UPDATE_OPS contract (moving statistics change only when the train op depends on the
//! update ops; otherwise they stay at their initial values and the session warns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow::data::{DataOptions, Datasets};
use ferroflow::layers::{Activation, BatchNormOptions, DenseOptions};
use ferroflow::prelude::*;
use ferroflow::train::AdamOptimizer;

struct Run {
    accuracy: f32,
    moving_mean_changed: bool,
    moving_variance_changed: bool,
    warnings: Vec<String>,
}

fn train_mlp(with_update_ops: bool, steps: usize) -> Run {
    let mut data = Datasets::embedded_mnist(DataOptions::default().seed(1)).unwrap();
    let g = Graph::new();
    g.set_random_seed(1);
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 784]).unwrap();
    let y = placeholder(&s.with_name("y"), DType::F32, shape![None, 10]).unwrap();
    let is_training = placeholder(&s.with_name("is_training"), DType::Bool, shape![]).unwrap();
    let h = layers::dense(&s, x, 64, DenseOptions::default().use_bias(false)).unwrap();
    let h = layers::batch_normalization(&s, h, is_training, BatchNormOptions::default()).unwrap();
    let h = nn::relu(&s, h).unwrap();
    let logits = layers::dense(&s, h, 10, DenseOptions::default().activation(Activation::Linear)).unwrap();
    let loss =
        math::reduce_mean(&s, nn::softmax_cross_entropy_with_logits(&s, y, logits).unwrap(), None, false).unwrap();
    let deps = if with_update_ops { g.collection_ops(&UPDATE_OPS) } else { Vec::new() };
    let train_op = s.control_dependencies(&deps, |s| AdamOptimizer::new(0.01).minimize(s, loss, None, None)).unwrap();
    let correct = math::equal(&s, math::argmax(&s, logits, 1).unwrap(), math::argmax(&s, y, 1).unwrap()).unwrap();
    let accuracy = math::reduce_mean(&s, array::cast(&s, correct, DType::F32).unwrap(), None, false).unwrap();

    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    for _ in 0..steps {
        let (bx, by) = data.train.next_batch(64);
        sess.run([train_op], &feed_dict![x => bx, y => by, is_training => true]).unwrap();
    }
    let acc = sess
        .run(
            [accuracy],
            &feed_dict![x => data.test.images().clone(), y => data.test.one_hot().clone(), is_training => false],
        )
        .unwrap()[0]
        .scalar::<f32>()
        .unwrap();
    let mm = g.variable_by_name("batch_normalization/moving_mean").unwrap();
    let mv = g.variable_by_name("batch_normalization/moving_variance").unwrap();
    let stats = sess.run([mm, mv], &[]).unwrap();
    Run {
        accuracy: acc,
        moving_mean_changed: stats[0].to_vec::<f32>().unwrap().iter().any(|&v| v != 0.0),
        moving_variance_changed: stats[1].to_vec::<f32>().unwrap().iter().any(|&v| v != 1.0),
        warnings: sess.warnings(),
    }
}

#[test]
fn mlp_with_batch_norm_learns_and_updates_moving_stats() {
    let r = train_mlp(true, 200);
    assert!(r.accuracy > 0.85, "test accuracy {} after 200 steps", r.accuracy);
    assert!(r.moving_mean_changed && r.moving_variance_changed);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn forgotten_update_ops_leave_moving_stats_and_warn() {
    let r = train_mlp(false, 20);
    assert!(!r.moving_mean_changed, "moving mean must stay at its initial zeros");
    assert!(!r.moving_variance_changed, "moving variance must stay at its initial ones");
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(r.warnings[0].contains("batch_normalization"), "{}", r.warnings[0]);
    assert!(r.warnings[0].contains("UPDATE_OPS"), "{}", r.warnings[0]);
}
