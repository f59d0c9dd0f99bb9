//! A TF1-style training program written with `ferroflow::prelude::*` and `ferroflow::ndarray`
//! only: no other import, no direct `ndarray` dependency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow::ndarray::Array2;
use ferroflow::prelude::*;

#[test]
fn the_prelude_is_enough_for_a_training_program() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 4]).unwrap();
    let y = placeholder(&s.with_name("y"), DType::F32, shape![None, 1]).unwrap();
    let is_training = placeholder(&s.with_name("is_training"), DType::Bool, shape![]).unwrap();
    let h = layers::dense(&s, x, 8, DenseOptions::default().activation(Activation::Relu)).unwrap();
    let h = layers::batch_normalization(&s, h, is_training, BatchNormOptions::default()).unwrap();
    let out = contrib::fully_connected(&s, h, 1, FullyConnectedOptions::default().activation_fn(None)).unwrap();
    let loss = math::reduce_mean(&s, math::square(&s, math::sub(&s, out, y).unwrap()).unwrap(), None, false).unwrap();
    let train = s
        .control_dependencies(&g.collection_ops(&UPDATE_OPS), |s| {
            AdamOptimizer::new(0.01f32).minimize(s, loss, None, None)
        })
        .unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let xs = Array2::from_shape_fn((16, 4), |(i, j)| ((i * 4 + j) % 7) as f32 / 7.0);
    let ys = Array2::from_shape_fn((16, 1), |(i, _)| (i % 2) as f32);
    let feeds = feed_dict![x => xs, y => ys, is_training => true];
    let first = sess.run([loss], &feeds).unwrap()[0].scalar::<f32>().unwrap();
    for _ in 0..50 {
        sess.run_ops(&[train], &feeds).unwrap();
    }
    let last = sess.run([loss], &feeds).unwrap()[0].scalar::<f32>().unwrap();
    assert!(last < first, "loss did not fall: {first} -> {last}");
    let _: Option<Padding> = None;
    let _saver = Saver::new(&g, ferroflow::train::saver::VarList::default()).unwrap();
}
