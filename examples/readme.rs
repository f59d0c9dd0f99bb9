//! The README's short program: the low-level batch-norm pattern of the founding note.

use ferroflow::prelude::*;

fn main() -> ferroflow::Result<()> {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 5])?;
    let is_training = placeholder(&s.with_name("is_training"), DType::Bool, shape![])?;
    let ones = || ndarray::Array1::<f32>::ones(5);
    let zeros = || ndarray::Array1::<f32>::zeros(5);
    let gamma = variable(&s.with_name("gamma"), ones(), VariableOptions::default())?;
    let beta = variable(&s.with_name("beta"), zeros(), VariableOptions::default())?;
    let pop_mean = variable(&s.with_name("pop_mean"), zeros(), VariableOptions::default().trainable(false))?;
    let pop_var = variable(&s.with_name("pop_variance"), ones(), VariableOptions::default().trainable(false))?;

    let y = cond(
        &s,
        is_training,
        |s| {
            // Ops created here run only when is_training is true.
            let (mean, var) = nn::moments(s, x, &[0], false)?;
            // `+` and `*` build ops in the scope that `assign` is given: inside this branch.
            let a = assign(s, pop_mean, pop_mean * 0.99 + mean * 0.01)?;
            let b = assign(s, pop_var, pop_var * 0.99 + var * 0.01)?;
            s.control_dependencies(&[a.op(), b.op()], |s| {
                nn::batch_normalization(s, x, mean, var, Some(beta.value()), Some(gamma.value()), 1e-3)
            })
        },
        |s| {
            nn::batch_normalization(
                s,
                x,
                pop_mean.value(),
                pop_var.value(),
                Some(beta.value()),
                Some(gamma.value()),
                1e-3,
            )
        },
    )?;

    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s)?], &[])?;
    let batch = ndarray::Array2::from_shape_fn((4, 5), |(i, j)| (i * 5 + j) as f32);
    sess.run([y], &feed_dict![x => batch.clone(), is_training => true])?; // updates pop stats
    let out: ndarray::Array2<f32> = sess.fetch(y, &feed_dict![x => batch, is_training => false])?; // uses them
    println!("{out:?}");
    Ok(())
}
