//! Normalization: `moments`, `batch_normalization` and `fused_batch_norm` against every TF
//! golden case of the `norm` family, numeric gradient checks, shape rules, and the fused
//! kernels against the composite on a tensor large enough for the parallel paths.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, DType, Error, Graph, Shape, Tensor, Value};
use ferroflow_ops::{constant, nn, placeholder};
use ferroflow_session::Session;
use ferroflow_testing::{assert_close, check_gradients, load};
use ferroflow_train::gradients;

use ferroflow_testing::run_op_case as run_case;

fn sample(dims: &[usize], seed: u64, lo: f64, hi: f64) -> Value {
    let mut st = seed;
    let n: usize = dims.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| {
            st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            lo + ((st >> 11) as f64 / (1u64 << 53) as f64) * (hi - lo)
        })
        .collect();
    Value::from_shape_vec(dims, v).unwrap()
}

#[test]
fn tf_moments_cases() {
    let f = load("norm");
    let mut n = 0;
    for case in f.op_cases().filter(|c| c.op == "tf.nn.moments") {
        let axes = case.attr_axes("axes").unwrap();
        let keep = case.attr_bool("keep_dims");
        let (values, grads) = run_case(case, |s, t| {
            let (m, v) = nn::moments(s, t[0], &axes, keep)?;
            Ok(vec![m, v])
        });
        case.assert_outputs_close(&values, 1e-6, 1e-6);
        case.assert_input_grads_close(&grads, 1e-5, 1e-6);
        n += 1;
    }
    assert_eq!(n, 4);
}

#[test]
fn tf_batch_normalization_cases() {
    let f = load("norm");
    let mut n = 0;
    for case in f.op_cases().filter(|c| c.op == "tf.nn.batch_normalization") {
        let eps = case.attr_f64("variance_epsilon");
        // Inputs: x, mean, variance, offset, scale.
        let (values, grads) =
            run_case(case, |s, t| Ok(vec![nn::batch_normalization(s, t[0], t[1], t[2], Some(t[3]), Some(t[4]), eps)?]));
        case.assert_outputs_close(&values, 1e-6, 1e-6);
        case.assert_input_grads_close(&grads, 1e-5, 1e-5);
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn tf_moments_batch_normalization_cases() {
    let f = load("norm");
    let mut n = 0;
    for case in f.op_cases().filter(|c| c.op == "tf.nn.moments+tf.nn.batch_normalization") {
        let axes = case.attr_axes("axes").unwrap();
        let eps = case.attr_f64("variance_epsilon");
        // Inputs: x, scale, offset.
        let (values, grads) = run_case(case, |s, t| {
            let (m, v) = nn::moments(s, t[0], &axes, false)?;
            Ok(vec![nn::batch_normalization(s, t[0], m, v, Some(t[2]), Some(t[1]), eps)?])
        });
        case.assert_outputs_close(&values, 1e-5, 1e-6);
        case.assert_input_grads_close(&grads, 1e-4, 1e-5);
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn tf_fused_batch_norm_cases() {
    let f = load("norm");
    let mut n = 0;
    for case in f.op_cases().filter(|c| c.op == "tf.nn.fused_batch_norm") {
        assert_eq!(case.attr_str("data_format"), "NHWC");
        let eps = case.attr_f64("epsilon");
        let training = case.attr_bool("is_training");
        let (values, grads) = run_case(case, |s, t| {
            let (mean, var) = if training { (None, None) } else { (Some(t[3]), Some(t[4])) };
            let (y, m, v) = nn::fused_batch_norm(s, t[0], t[1], t[2], mean, var, eps, training)?;
            Ok(vec![y, m, v])
        });
        case.assert_outputs_close(&values, 1e-5, 1e-5);
        case.assert_input_grads_close(&grads, 1e-4, 1e-5);
        if !training {
            // TF gives no gradient for the population statistics in inference mode.
            assert!(grads[3].is_none() && grads[4].is_none());
        }
        n += 1;
    }
    assert_eq!(n, 7);
}

#[test]
fn fused_training_returns_corrected_variance() {
    let x = sample(&[2, 3, 3, 4], 11, -2.0, 3.0).cast(DType::F32);
    let xa = x.to_array::<f32>().unwrap().mapv(f64::from);
    let g = Graph::new();
    let s = g.root();
    let xt = constant(&s, x).unwrap();
    let (_, mean, var) = nn::fused_batch_norm(
        &s,
        xt,
        Value::from(vec![1.0f32; 4]),
        Value::from(vec![0.0f32; 4]),
        None,
        None,
        1e-3,
        true,
    )
    .unwrap();
    let (bm, bv) = nn::moments(&s, xt, &[0, 1, 2], false).unwrap();
    let out = Session::new(&g).run([mean, var, bm, bv], &[]).unwrap();
    let n = 18.0;
    for k in 0..4 {
        let col: Vec<f64> = xa.iter().skip(k).step_by(4).copied().collect();
        let m = col.iter().sum::<f64>() / n;
        let biased = col.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n;
        assert!((out[0].to_vec::<f32>().unwrap()[k] as f64 - m).abs() < 1e-6);
        assert!((out[1].to_vec::<f32>().unwrap()[k] as f64 - biased * n / (n - 1.0)).abs() < 1e-5);
        assert!((out[3].to_vec::<f32>().unwrap()[k] as f64 - biased).abs() < 1e-5);
    }
}

#[test]
fn numeric_gradients_of_moments_and_batch_normalization() {
    let x = sample(&[4, 5], 1, -2.0, 2.0);
    let x4 = sample(&[2, 3, 3, 2], 2, -2.0, 2.0);
    for keep in [false, true] {
        check_gradients(|s, t| Ok(nn::moments(s, t[0], &[0], keep)?.0), std::slice::from_ref(&x));
        check_gradients(|s, t| Ok(nn::moments(s, t[0], &[0], keep)?.1), std::slice::from_ref(&x));
        check_gradients(|s, t| Ok(nn::moments(s, t[0], &[0, 1, 2], keep)?.1), std::slice::from_ref(&x4));
        check_gradients(|s, t| Ok(nn::moments(s, t[0], &[-1], keep)?.1), std::slice::from_ref(&x4));
    }
    let mean = sample(&[5], 3, -1.0, 1.0);
    let var = sample(&[5], 4, 0.5, 2.0);
    let offset = sample(&[5], 5, -1.0, 1.0);
    let scale = sample(&[5], 6, 0.5, 1.5);
    check_gradients(
        |s, t| nn::batch_normalization(s, t[0], t[1], t[2], Some(t[3]), Some(t[4]), 1e-3),
        &[x.clone(), mean.clone(), var.clone(), offset, scale],
    );
    check_gradients(|s, t| nn::batch_normalization(s, t[0], t[1], t[2], None, None, 1e-3), &[x.clone(), mean, var]);
    // The training composite: gradients through the batch statistics.
    let sc = sample(&[2], 7, 0.5, 1.5);
    let of = sample(&[2], 8, -1.0, 1.0);
    check_gradients(
        |s, t| {
            let (m, v) = nn::moments(s, t[0], &[0, 1, 2], false)?;
            nn::batch_normalization(s, t[0], m, v, Some(t[2]), Some(t[1]), 1e-3)
        },
        &[x4, sc, of],
    );
}

#[test]
fn numeric_gradients_of_fused_batch_norm() {
    let x = sample(&[2, 3, 3, 4], 21, -2.0, 2.0);
    let scale = sample(&[4], 22, 0.5, 1.5);
    let offset = sample(&[4], 23, -1.0, 1.0);
    // Training mode: through the batch statistics (gradient of y).
    check_gradients(
        |s, t| Ok(nn::fused_batch_norm(s, t[0], t[1], t[2], None, None, 1e-3, true)?.0),
        &[x.clone(), scale.clone(), offset.clone()],
    );
    // Small epsilon and an explicit NHWC of one pixel per image.
    let x1 = sample(&[5, 1, 1, 3], 24, -1.0, 1.0);
    check_gradients(
        |s, t| Ok(nn::fused_batch_norm(s, t[0], t[1], t[2], None, None, 1e-6, true)?.0),
        &[x1, sample(&[3], 25, 0.5, 1.5), sample(&[3], 26, -1.0, 1.0)],
    );
    // Inference mode: x, scale and offset (TF gives no gradient for mean/variance).
    check_gradients(
        |s, t| {
            let m = constant(s, ndarray::array![0.1f64, -0.2, 0.3, 0.0])?;
            let v = constant(s, ndarray::array![1.5f64, 0.7, 2.0, 0.9])?;
            Ok(nn::fused_batch_norm(s, t[0], t[1], t[2], Some(m), Some(v), 1e-3, false)?.0)
        },
        &[x, scale, offset],
    );
}

#[test]
fn fused_matches_composite_on_large_input() {
    // 8·16·16·32 = 65536 elements: the parallel paths of both kernels.
    let dims = [8usize, 16, 16, 32];
    let x = sample(&dims, 31, -3.0, 5.0);
    let scale = sample(&[32], 32, 0.5, 1.5);
    let offset = sample(&[32], 33, -1.0, 1.0);
    let dy = sample(&dims, 34, -1.0, 1.0);
    let g = Graph::new();
    let s = g.root();
    let (xt, st, ot, dyt) = (
        constant(&s, x).unwrap(),
        constant(&s, scale).unwrap(),
        constant(&s, offset).unwrap(),
        constant(&s, dy).unwrap(),
    );
    let (yf, _, _) = nn::fused_batch_norm(&s, xt, st, ot, None, None, 1e-3, true).unwrap();
    let (m, v) = nn::moments(&s, xt, &[0, 1, 2], false).unwrap();
    let yc = nn::batch_normalization(&s, xt, m, v, Some(ot), Some(st), 1e-3).unwrap();
    let gf = gradients(&s, &[yf], &[xt, st, ot], Some(&[dyt])).unwrap();
    let gc = gradients(&s, &[yc], &[xt, st, ot], Some(&[dyt])).unwrap();
    let sess = Session::new(&g);
    let fetch: Vec<Tensor> = [yf, yc].into_iter().chain(gf.iter().chain(&gc).map(|t| t.unwrap())).collect();
    let out = sess.run(fetch, &[]).unwrap();
    assert_close(&out[0], &out[1], 1e-12, 1e-12);
    for k in 0..3 {
        assert_close(&out[2 + k], &out[5 + k], 1e-10, 1e-10);
    }
}

#[test]
fn fused_batch_norm_shape_rules() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 4, 4, 3]).unwrap();
    let c3 = placeholder(&s, DType::F32, shape![3]).unwrap();
    let (y, m, v) = nn::fused_batch_norm(&s, x, c3, c3, None, None, 1e-3, true).unwrap();
    assert_eq!(y.shape(&s).unwrap().to_string(), "[?, 4, 4, 3]");
    assert_eq!(m.shape(&s).unwrap().to_string(), "[3]");
    assert_eq!(v.shape(&s).unwrap().to_string(), "[3]");
    let xc = placeholder(&s, DType::F32, shape![None, 4, 4, None]).unwrap();
    let (y, m, _) = nn::fused_batch_norm(&s, xc, c3, c3, Some(c3), Some(c3), 1e-3, false).unwrap();
    assert_eq!(y.shape(&s).unwrap().to_string(), "[?, 4, 4, 3]");
    assert_eq!(m.shape(&s).unwrap().to_string(), "[3]");

    let x2 = placeholder(&s.with_name("flat"), DType::F32, shape![None, 3]).unwrap();
    let e = nn::fused_batch_norm(&s.with_name("bn"), x2, c3, c3, None, None, 1e-3, true).unwrap_err();
    assert!(matches!(e, Error::Build { .. }));
    let m = e.to_string();
    assert!(m.contains("'bn'") && m.contains("4-D NHWC") && m.contains("[?, 3]"), "{m}");
    let c4 = placeholder(&s, DType::F32, shape![4]).unwrap();
    let e = nn::fused_batch_norm(&s, x, c4, c3, None, None, 1e-3, true).unwrap_err().to_string();
    assert!(e.contains("scale") && e.contains("[4]") && e.contains("3 channels"), "{e}");
    let e = nn::fused_batch_norm(&s, x, c3, c3, None, None, 1e-3, false).unwrap_err().to_string();
    assert!(e.contains("mean and variance"), "{e}");
    let m2 = placeholder(&s, DType::F32, shape![1, 3]).unwrap();
    let e = nn::fused_batch_norm(&s, x, c3, c3, Some(m2), Some(c3), 1e-3, false).unwrap_err().to_string();
    assert!(e.contains("mean must be 1-D"), "{e}");
    let d3 = placeholder(&s, DType::F64, shape![3]).unwrap();
    let e = nn::fused_batch_norm(&s, x, d3, c3, None, None, 1e-3, true).unwrap_err().to_string();
    assert!(e.contains("float64") && e.contains("float32"), "{e}");

    // Unknown dims are checked when the kernel runs.
    let xu = placeholder(&s.with_name("xu"), DType::F32, Shape::unknown()).unwrap();
    let (yu, _, _) = nn::fused_batch_norm(&s.with_name("bnu"), xu, c3, c3, None, None, 1e-3, true).unwrap();
    let feeds = vec![(xu, Value::zeros(DType::F32, &[2, 3])), (c3, Value::zeros(DType::F32, &[3]))];
    let e = Session::new(&g).run([yu], &feeds).unwrap_err();
    assert!(matches!(e, Error::Kernel { .. }) && e.to_string().contains("'bnu'"), "{e}");
}

#[test]
fn moments_shape_rules_and_names() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 8, 8, 3]).unwrap();
    let (m, v) = nn::moments(&s, x, &[0, 1, 2], false).unwrap();
    assert_eq!(m.shape(&s).unwrap().to_string(), "[3]");
    assert_eq!(v.shape(&s).unwrap().to_string(), "[3]");
    assert!(m.name(&s).unwrap().starts_with("moments/"), "{}", m.name(&s).unwrap());
    let (m, _) = nn::moments(&s, x, &[0, 1, 2], true).unwrap();
    assert_eq!(m.shape(&s).unwrap().to_string(), "[1, 1, 1, 3]");
    assert_eq!(m.name(&s).unwrap(), "moments_1/mean:0");
    let e = nn::moments(&s, x, &[4], false).unwrap_err().to_string();
    assert!(e.contains("axis 4") && e.contains("[?, 8, 8, 3]"), "{e}");
    let y = nn::batch_normalization(&s, x, m, 1.0f32, None, None, 1e-3).unwrap();
    assert_eq!(y.shape(&s).unwrap().to_string(), "[?, 8, 8, 3]");
    assert!(y.name(&s).unwrap().starts_with("batchnorm/"), "{}", y.name(&s).unwrap());
    let bad = placeholder(&s, DType::F32, shape![4]).unwrap();
    assert!(nn::batch_normalization(&s, x, bad, 1.0f32, None, None, 1e-3).is_err());
}
