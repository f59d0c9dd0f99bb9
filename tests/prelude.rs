//! A TF1-style training program written with `use ferroflow::prelude::*;` only: no other
//! import (ndarray comes from the prelude as `ferroflow::ndarray`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow::prelude::*;

/// The founding note's low-level batch norm (moments, assign with decay, cond on a fed
/// `is_training`), a dense layer, Adam under `UPDATE_OPS`, typed fetches and a `Saver`.
fn founding_style_program() -> Result<(f32, f32, f32)> {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 4])?;
    let y = placeholder(&s.with_name("y"), DType::F32, shape![None, 1])?;
    let is_training = placeholder(&s.with_name("is_training"), DType::Bool, shape![])?;
    let h = layers::dense(&s, x, 8, DenseOptions::default())?;
    let gamma = variable(&s.with_name("gamma"), ndarray::Array1::<f32>::ones(8), VariableOptions::default())?;
    let beta = variable(&s.with_name("beta"), ndarray::Array1::<f32>::zeros(8), VariableOptions::default())?;
    let zeros = ndarray::Array1::<f32>::zeros(8);
    let pop_mean = variable(&s.with_name("pop_mean"), zeros, VariableOptions::default().trainable(false))?;
    let ones = ndarray::Array1::<f32>::ones(8);
    let pop_var = variable(&s.with_name("pop_var"), ones, VariableOptions::default().trainable(false))?;
    let decay = 0.9f32;
    let bn = cond(
        &s,
        is_training,
        |s| {
            let (mean, var) = nn::moments(s, h, &[0], false)?;
            let a = assign(s, pop_mean, pop_mean * decay + mean * (1.0 - decay))?;
            let b = assign(s, pop_var, pop_var * decay + var * (1.0 - decay))?;
            s.control_dependencies(&[a.op(), b.op()], |s| {
                nn::batch_normalization(s, h, mean, var, Some(beta.value()), Some(gamma.value()), 1e-3)
            })
        },
        |s| {
            nn::batch_normalization(
                s,
                h,
                pop_mean.value(),
                pop_var.value(),
                Some(beta.value()),
                Some(gamma.value()),
                1e-3,
            )
        },
    )?;
    let out = contrib::fully_connected(&s, nn::relu(&s, bn)?, 1, FullyConnectedOptions::default().activation_fn(None))?;
    let loss = math::reduce_mean(&s, math::square(&s, out - y)?, None, false)?; // over all axes
    let train = s.control_dependencies(&g.collection_ops(&UPDATE_OPS), |s| {
        AdamOptimizer::new(0.01f32).minimize(s, loss, None, None)
    })?;
    assert!(!g.collection(&TRAINABLE_VARIABLES).is_empty());
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s)?], &[])?;
    let xs = ndarray::Array2::from_shape_fn((16, 4), |(i, j)| ((i * 4 + j) % 7) as f32 / 7.0);
    let ys = ndarray::Array2::from_shape_fn((16, 1), |(i, _)| (i % 2) as f32);
    let feeds = feed_dict![x => xs.clone(), y => ys.clone(), is_training => true];
    let first: f32 = sess.fetch(loss, &feeds)?;
    for _ in 0..50 {
        let ((), _l): ((), f32) = sess.fetch((train, loss), &feeds)?;
    }
    let last: f32 = sess.fetch(loss, &feeds)?;
    let (eval_loss, preds): (f32, ndarray::Array2<f32>) =
        sess.fetch((loss, out), &feed_dict![x => xs, y => ys, is_training => false])?;
    assert_eq!(preds.dim(), (16, 1));
    let _saver = Saver::new(&g, ferroflow::train::saver::VarList::default())?;
    let _: Option<Padding> = None;
    Ok((first, last, eval_loss))
}

#[test]
fn the_prelude_is_enough_for_a_founding_style_program() {
    let (first, last, eval_loss) = founding_style_program().unwrap();
    assert!(last < first, "loss did not fall: {first} -> {last}");
    assert!(eval_loss.is_finite());
}
