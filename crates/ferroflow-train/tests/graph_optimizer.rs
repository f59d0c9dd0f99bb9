//! The graph optimizer (composites run as fused kernels): results with it on equal results
//! with it off, forward and gradients, on awkward shapes; the fused gradient is numerically
//! right; TF1 semantics (cond branches, assigns, fetching or feeding an intermediate) hold.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, DType, Graph, Shape, Tensor, Value};
use ferroflow_ops::state::{assign, global_variables_initializer, variable, VariableOptions};
use ferroflow_ops::{cond, math, nn, placeholder};
use ferroflow_session::{feed_dict, Fetch, RunOptions, Session, SessionOptions};
use ferroflow_testing::{assert_close_named, check_gradients};
use ferroflow_train::gradients;

/// Deterministic values in [-2, 2).
fn values(shape: &[usize], seed: u64) -> Value {
    let mut st = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            ((st >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect();
    Value::from_shape_vec(shape, v).unwrap()
}

struct Net {
    g: Graph,
    x: Tensor,
    is_training: Tensor,
    y: Tensor,
    grads: Vec<Tensor>,
    pop: [Tensor; 2],
    init: ferroflow_core::Operation,
}

/// The founding low-level batch norm (`moments`, `assign` with decay 0.99 under
/// `control_dependencies`, `cond`, `batch_normalization`, eps 1e-3) + ReLU, and the
/// gradients of `sum(relu(bn) · w)` w.r.t. x, gamma and beta.
fn founding_bn(x_shape: &[usize]) -> Net {
    let g = Graph::new();
    let s = g.root();
    let c = *x_shape.last().unwrap();
    let x = placeholder(&s.with_name("x"), DType::F32, Shape::known(x_shape)).unwrap();
    let is_training = placeholder(&s.with_name("is_training"), DType::Bool, shape![]).unwrap();
    let gamma =
        variable(&s.with_name("gamma"), values(&[c], 7).to_vec::<f32>().unwrap(), VariableOptions::default()).unwrap();
    let beta =
        variable(&s.with_name("beta"), values(&[c], 8).to_vec::<f32>().unwrap(), VariableOptions::default()).unwrap();
    let frozen = VariableOptions::default().trainable(false);
    let pop_mean = variable(&s.with_name("pop_mean"), vec![0.0f32; c], frozen.clone()).unwrap();
    let pop_var = variable(&s.with_name("pop_variance"), vec![1.0f32; c], frozen).unwrap();
    let axes: Vec<i64> = (0..x_shape.len() as i64 - 1).collect();
    let bn = cond(
        &s,
        is_training,
        |s| {
            let (m, v) = nn::moments(s, x, &axes, false)?;
            let tm = assign(s, pop_mean, math::add(s, math::mul(s, pop_mean, 0.99f32)?, math::mul(s, m, 0.01f32)?)?)?;
            let tv = assign(s, pop_var, math::add(s, math::mul(s, pop_var, 0.99f32)?, math::mul(s, v, 0.01f32)?)?)?;
            s.control_dependencies(&[tm.op(), tv.op()], |s| {
                nn::batch_normalization(s, x, m, v, Some(beta.value()), Some(gamma.value()), 1e-3)
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
    )
    .unwrap();
    let y = nn::relu(&s, bn).unwrap();
    let w = ferroflow_ops::constant(&s, values(x_shape, 9)).unwrap();
    let loss = math::reduce_sum(&s, math::mul(&s, y, w).unwrap(), None, false).unwrap();
    let grads = gradients(&s, &[loss], &[x, gamma.value(), beta.value()], None)
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect();
    let init = global_variables_initializer(&s).unwrap();
    Net { g, x, is_training, y, grads, pop: [pop_mean.value(), pop_var.value()], init }
}

/// Runs a training step and an inference step; returns every fetched value, in order, and
/// the number of fused steps of the training plan.
fn run_both(net: &Net, x: &Value, optimize: bool) -> (Vec<Value>, usize) {
    let sess = Session::with_options(&net.g, SessionOptions::default().graph_optimizations(optimize));
    sess.run_ops(&[net.init], &[]).unwrap();
    let mut fetches = vec![net.y];
    fetches.extend(&net.grads);
    let mut out = sess.run(fetches.clone(), &feed_dict![net.x => x.clone(), net.is_training => true]).unwrap();
    out.extend(sess.run(net.pop, &[]).unwrap());
    out.extend(sess.run(fetches.clone(), &feed_dict![net.x => x.clone(), net.is_training => false]).unwrap());
    let f: Vec<Fetch> = fetches.into_iter().map(Fetch::from).collect();
    let fused = sess.plan_for(&f, &[net.x, net.is_training]).unwrap().num_fused();
    (out, fused)
}

#[test]
fn founding_bn_with_the_optimizer_equals_without_it_on_awkward_shapes() {
    let names = [
        "y",
        "dx",
        "dgamma",
        "dbeta",
        "pop_mean",
        "pop_variance",
        "y(inference)",
        "dx(inference)",
        "dgamma(inference)",
        "dbeta(inference)",
    ];
    for (k, shape) in [
        vec![2, 3, 5, 7],
        vec![1, 1, 1, 76],
        vec![1, 4, 4, 1],
        vec![3, 1, 1, 5],
        vec![5, 3, 3, 76],
        vec![7, 1],
        vec![3, 13],
        vec![1, 9],
    ]
    .iter()
    .enumerate()
    {
        let net = founding_bn(shape);
        let x = values(shape, 100 + k as u64);
        let (on, fused_on) = run_both(&net, &x, true);
        let (off, fused_off) = run_both(&net, &x, false);
        assert_eq!(fused_off, 0, "{shape:?}: the optimizer is off");
        assert_eq!(fused_on, 3, "{shape:?}: moments, batchnorm and its gradient each run as one fused step");
        for ((a, b), name) in on.iter().zip(&off).zip(names) {
            assert_close_named(&format!("{name} for x {shape:?}"), a, b, 2e-4, 2e-4);
        }
    }
}

#[test]
fn fused_batch_norm_gradient_is_numerically_right() {
    // f64, moments over all axes but the last, with scale and offset: the fused region.
    for shape in [vec![3, 2, 2, 3], vec![5, 4], vec![1, 3, 1, 2]] {
        let c = *shape.last().unwrap();
        let axes: Vec<i64> = (0..shape.len() as i64 - 1).collect();
        let build = |s: &ferroflow_core::Scope, t: &[Tensor]| {
            let (m, v) = nn::moments(s, t[0], &axes, false)?;
            let y = nn::batch_normalization(s, t[0], m, v, Some(t[2]), Some(t[1]), 1e-3)?;
            math::mul(s, y, y) // a non-linear head, so every term of the backward matters
        };
        check_gradients(
            build,
            &[values(&shape, 3).cast(DType::F64), values(&[c], 4).cast(DType::F64), values(&[c], 5).cast(DType::F64)],
        );
    }
}

#[test]
fn fetching_or_feeding_an_intermediate_keeps_tf1_semantics() {
    let net = founding_bn(&[4, 3, 3, 2]);
    let x = values(&[4, 3, 3, 2], 11);
    let keep_dims_mean = net.g.tensor_by_name("cond/moments/mean:0").unwrap();
    let run = |optimize: bool, fetches: &[Tensor], feeds: &[(Tensor, Value)]| {
        let sess = Session::with_options(&net.g, SessionOptions::default().graph_optimizations(optimize));
        sess.run_ops(&[net.init], &[]).unwrap();
        let out = sess.run(fetches.to_vec(), feeds).unwrap();
        let f: Vec<Fetch> = fetches.iter().copied().map(Fetch::from).collect();
        let keys: Vec<Tensor> = feeds.iter().map(|(t, _)| *t).collect();
        (out, sess.plan_for(&f, &keys).unwrap().steps())
    };
    // Fetching the moments' keep-dims mean: the moments run unfused (its value is needed).
    let feeds = feed_dict![net.x => x.clone(), net.is_training => true];
    let (on, steps) = run(true, &[net.y, keep_dims_mean], &feeds);
    let (off, _) = run(false, &[net.y, keep_dims_mean], &feeds);
    assert!(!steps.iter().any(|(_, t)| *t == "FusedMoments"), "{steps:?}");
    assert!(steps.iter().any(|(_, t)| *t == "BatchNormApply"), "{steps:?}");
    assert_close_named("y", &on[0], &off[0], 1e-5, 1e-5);
    assert_close_named("moments/mean", &on[1], &off[1], 1e-5, 1e-5);
    // Feeding the variance's input replaces it: the composite is not fused and the fed value wins.
    let sq = net.g.tensor_by_name("cond/moments/SquaredDifference:0").unwrap();
    let fed = feed_dict![net.x => x.clone(), net.is_training => true, sq => Value::filled(&[4, 3, 3, 2], 4.0f32)];
    let (on, steps) = run(true, &[net.y], &fed);
    let (off, _) = run(false, &[net.y], &fed);
    assert!(!steps.iter().any(|(_, t)| *t == "FusedMoments"), "{steps:?}");
    assert_close_named("y with a fed intermediate", &on[0], &off[0], 1e-5, 1e-5);
}

#[test]
fn an_untaken_branch_stays_untaken_with_the_optimizer_on() {
    let net = founding_bn(&[4, 2, 2, 3]);
    let sess = Session::with_options(&net.g, SessionOptions::default().graph_optimizations(true));
    sess.run_ops(&[net.init], &[]).unwrap();
    let x = values(&[4, 2, 2, 3], 12);
    let (_, meta) = sess
        .run_with_options([net.y], &feed_dict![net.x => x.clone(), net.is_training => false], RunOptions::full_trace())
        .unwrap();
    assert!(
        !meta.nodes.iter().any(|n| n.op == "FusedMoments" || n.op == "Assign"),
        "the training branch ran: {:?}",
        meta.nodes
    );
    assert!(meta.nodes.iter().any(|n| n.op == "BatchNormApply"), "the inference branch runs fused");
    let pop = sess.run(net.pop, &[]).unwrap();
    assert_eq!(pop[0].to_vec::<f32>().unwrap(), vec![0.0; 3], "pop_mean changed in inference mode");
    assert_eq!(pop[1].to_vec::<f32>().unwrap(), vec![1.0; 3]);
    // Training mode: the assigns run (in the branch, fused moments feeding them).
    let (_, meta) = sess
        .run_with_options([net.y], &feed_dict![net.x => x, net.is_training => true], RunOptions::full_trace())
        .unwrap();
    let pos = |op: &str| meta.nodes.iter().position(|n| n.op == op).unwrap();
    assert!(pos("FusedMoments") < pos("Assign") && pos("Assign") < pos("BatchNormApply"), "control-dependency order");
    assert_ne!(sess.run(net.pop, &[]).unwrap()[0].to_vec::<f32>().unwrap(), vec![0.0; 3]);
}
