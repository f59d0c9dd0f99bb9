//! The founding low-level batch-norm pattern (placeholders, variables, `cond`, `assign` with
//! decay 0.99 under `control_dependencies`, `moments` + `batch_normalization` with eps 1e-3)
//! and the other `graph` fixture programs, against what TF recorded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, DType, Graph, Value};
use ferroflow_ops::state::{assign, assign_add, assign_sub, global_variables_initializer, variable, VariableOptions};
use ferroflow_ops::{cond, constant, math, nn, placeholder};
use ferroflow_session::{feed_dict, Session, SessionOptions};
use ferroflow_testing::{assert_close, load};

#[test]
fn bn_cond_pattern_matches_tf() {
    let f = load("graph");
    let p = f.program("bn_cond_pattern");
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 5]).unwrap();
    let is_training = placeholder(&s.with_name("is_training"), DType::Bool, shape![]).unwrap();
    let gamma = variable(&s.with_name("gamma"), vec![1.0f32; 5], VariableOptions::default()).unwrap();
    let beta = variable(&s.with_name("beta"), vec![0.0f32; 5], VariableOptions::default()).unwrap();
    let frozen = VariableOptions::default().trainable(false);
    let pop_mean = variable(&s.with_name("pop_mean"), vec![0.0f32; 5], frozen.clone()).unwrap();
    let pop_variance = variable(&s.with_name("pop_variance"), vec![1.0f32; 5], frozen).unwrap();
    // As the TF program: `pop * 0.99 + batch * 0.01` (0.01 as a literal, not 1 - 0.99 in f32).
    let (decay, rate) = (0.99f32, 0.01f32);
    let y = cond(
        &s,
        is_training,
        |s| {
            let (batch_mean, batch_var) = nn::moments(s, x, &[0], false)?;
            let new_mean = math::add(s, math::mul(s, pop_mean, decay)?, math::mul(s, batch_mean, rate)?)?;
            let train_mean = assign(s, pop_mean, new_mean)?;
            let new_var = math::add(s, math::mul(s, pop_variance, decay)?, math::mul(s, batch_var, rate)?)?;
            let train_var = assign(s, pop_variance, new_var)?;
            s.control_dependencies(&[train_mean.op(), train_var.op()], |s| {
                nn::batch_normalization(s, x, batch_mean, batch_var, Some(beta.value()), Some(gamma.value()), 1e-3)
            })
        },
        |s| nn::batch_normalization(s, x, pop_mean, pop_variance, Some(beta.value()), Some(gamma.value()), 1e-3),
    )
    .unwrap();
    assert!(!g.trainable_variables().contains(&pop_mean));
    // Without the graph optimizer every value is bit-identical to TF's (same IEEE operations in
    // the same order; a tolerance would hide a change of formula). With it, the fused moments
    // accumulate in f64, so values may differ from TF's f32 sums in the last bit or two.
    for (optimize, tol) in [(false, 0.0), (true, 1e-6)] {
        let sess = Session::with_options(&g, SessionOptions::default().graph_optimizations(optimize));
        sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
        let mut trained = Vec::new();
        for k in 1..=3 {
            let xk = p.value(&format!("x_train_{k}")).clone();
            let out = sess.run([y], &feed_dict![x => xk, is_training => true]).unwrap();
            assert_close(&out[0], p.value(&format!("y_train_{k}")), tol, tol);
            let stats = sess.run([pop_mean, pop_variance], &[]).unwrap();
            assert_close(&stats[0], p.value(&format!("pop_mean_after_train_{k}")), tol, tol);
            assert_close(&stats[1], p.value(&format!("pop_variance_after_train_{k}")), tol, tol);
            trained = stats;
        }
        let out = sess.run([y], &feed_dict![x => p.value("x_infer").clone(), is_training => false]).unwrap();
        assert_close(&out[0], p.value("y_infer"), tol, tol);
        let stats = sess.run([pop_mean, pop_variance], &[]).unwrap();
        assert_close(&stats[0], p.value("pop_mean_after_infer"), tol, tol);
        assert_close(&stats[1], p.value("pop_variance_after_infer"), tol, tol);
        // Inference left the population statistics exactly as training left them (TF too).
        assert_eq!(stats, trained);
    }
    assert_eq!(p.value("pop_mean_after_infer"), p.value("pop_mean_after_train_3"));
}

#[test]
fn cond_inside_outside_matches_tf() {
    let f = load("graph");
    let p = f.program("cond_inside_outside");
    let g = Graph::new();
    let s = g.root();
    let pred = placeholder(&s.with_name("pred"), DType::Bool, shape![]).unwrap();
    let inside = variable(&s.with_name("inside_counter"), 0.0f32, VariableOptions::default()).unwrap();
    let outside = variable(&s.with_name("outside_counter"), 0.0f32, VariableOptions::default()).unwrap();
    let outside_inc = assign_add(&s, outside, 1.0f32).unwrap();
    let r = cond(
        &s,
        pred,
        |s| {
            let a = assign_add(s, inside, 1.0f32)?;
            math::add(s, math::add(s, a, math::mul(s, outside_inc, 0.0f32)?)?, 10.0f32)
        },
        |s| constant(s, -1.0f32),
    )
    .unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let (mut res, mut ins, mut outs) = (Vec::new(), Vec::new(), Vec::new());
    for pv in p.value("preds").to_vec::<bool>().unwrap() {
        res.push(sess.run([r], &feed_dict![pred => pv]).unwrap()[0].scalar::<f32>().unwrap());
        ins.push(sess.run([inside], &[]).unwrap()[0].scalar::<f32>().unwrap());
        outs.push(sess.run([outside], &[]).unwrap()[0].scalar::<f32>().unwrap());
    }
    assert_eq!(res, p.f32s("result"));
    assert_eq!(ins, p.f32s("inside_counter"));
    assert_eq!(outs, p.f32s("outside_counter"));
}

/// TF1 reads a (ref) variable when its consumer runs, so `v * 3.0` under the control
/// dependency on `first` sees 6. ferroflow's `VariableV2` output is read when the variable node
/// itself runs (before `first`, which is created later), so the product sees 1 and this gives
/// 3 instead of 18. Needs a use-time variable read in core/session; see
/// docs/decisions/nn-norm-loss.md ("Variable reads and control dependencies").
#[test]
fn control_dependency_order_matches_tf() {
    let f = load("graph");
    let p = f.program("control_dependency_order");
    let g = Graph::new();
    let s = g.root();
    let v = variable(&s.with_name("v"), 1.0f32, VariableOptions::default()).unwrap();
    let first = assign_add(&s, v, 5.0f32).unwrap();
    let second = s.control_dependencies(&[first.op()], |s| assign(s, v, math::mul(s, v, 3.0f32)?)).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let scalar = |t| sess.run([t], &[]).unwrap()[0].scalar::<f32>().unwrap();
    assert_eq!(scalar(second), p.value("second_run1").scalar::<f32>().unwrap());
    assert_eq!(scalar(v.value()), p.value("v_after_run1").scalar::<f32>().unwrap());
    assert_eq!(scalar(second), p.value("second_run2").scalar::<f32>().unwrap());
    assert_eq!(scalar(v.value()), p.value("v_after_run2").scalar::<f32>().unwrap());
}

#[test]
fn assign_returns_matches_tf() {
    let f = load("graph");
    let p = f.program("assign_returns");
    let g = Graph::new();
    let s = g.root();
    let v = variable(&s.with_name("v"), vec![1.0f32, 2.0, 3.0], VariableOptions::default()).unwrap();
    let a = assign(&s, v, Value::from(vec![4.0f32, 5.0, 6.0])).unwrap();
    let aa = assign_add(&s, v, Value::from(vec![0.5f32, 1.0, 1.5])).unwrap();
    let asub = assign_sub(&s, v, Value::from(vec![2.0f32, 2.0, 2.0])).unwrap();
    let c = variable(&s.with_name("c"), 7i32, VariableOptions::default()).unwrap();
    let ca = assign_add(&s, c, 3i32).unwrap();
    let cs = assign_sub(&s, c, 5i32).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let get = |t| sess.run([t], &[]).unwrap().remove(0);
    assert_eq!(&get(v.value()), p.value("v_init"));
    for (key, op) in [("assign", a), ("assign_add", aa), ("assign_sub", asub), ("assign_add_again", aa)] {
        assert_eq!(&get(op), p.value(&format!("{key}_returns")), "{key}");
        assert_eq!(&get(v.value()), p.value(&format!("v_after_{key}")), "{key}");
    }
    assert_eq!(&get(ca), p.value("int_assign_add_returns"));
    assert_eq!(&get(cs), p.value("int_assign_sub_returns"));
    assert_eq!(&get(c.value()), p.value("c_after"));
}
