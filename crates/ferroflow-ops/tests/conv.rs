//! Convolution family: conv2d, bias_add, max/avg pool, LRN, dropout, in_top_k.
//! TF golden fixtures (values and input gradients), numeric gradient checks in f64, shape
//! rules and build/run-time errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, DType, Graph, Result, Scope, Shape, Tensor, Value};
use ferroflow_ops::nn::{self, LrnOptions, Padding};
use ferroflow_ops::placeholder;
use ferroflow_session::Session;
use ferroflow_testing::{check_gradients, fixtures, OpCase};
use ferroflow_train::gradients;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

use ferroflow_testing::run_op_case as run_case;

fn arr4(v: Vec<usize>) -> [usize; 4] {
    v.try_into().expect("a 4-element attribute")
}

fn padding(case: &OpCase) -> Padding {
    match case.attr_str("padding") {
        "SAME" => Padding::Same,
        "VALID" => Padding::Valid,
        p => panic!("unknown padding {p}"),
    }
}

/// Deterministic pseudo-random values in [-1, 1), away from exact ties.
fn values(shape: &[usize], seed: u64) -> Value {
    let n: usize = shape.iter().product();
    let mut st = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data: Vec<f64> = (0..n)
        .map(|_| {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            ((st >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect();
    Value::from_shape_vec(shape, data).unwrap()
}

/// Distinct values (a shuffled ramp with gaps of 0.01): max pooling has no near-ties.
fn distinct(shape: &[usize]) -> Value {
    let n: usize = shape.iter().product();
    let data: Vec<f64> = (0..n).map(|i| ((i * 7919) % n) as f64 * 0.01 - 0.3).collect();
    Value::from_shape_vec(shape, data).unwrap()
}

fn build_err(r: Result<Tensor>) -> String {
    match r {
        Ok(t) => panic!("expected a build error, got {t:?}"),
        Err(e) => e.to_string(),
    }
}

fn ph(s: &Scope, dt: DType, shape: Shape) -> Tensor {
    placeholder(s, dt, shape).unwrap()
}

const RTOL: f64 = 1e-4;
const ATOL: f64 = 1e-5;

// ---------------------------------------------------------------------------------------------
// TF golden fixtures (every case of the conv family)
// ---------------------------------------------------------------------------------------------

#[test]
fn fixtures_conv2d() {
    let f = fixtures::load("conv");
    let mut n = 0;
    for case in f.op_cases_for("tf.nn.conv2d") {
        let strides = arr4(case.attr_usizes("strides"));
        let dilations = arr4(case.attr_usizes("dilations"));
        let pad = padding(case);
        let (outs, grads) = run_case(case, |s, t| Ok(vec![nn::conv2d(s, t[0], t[1], strides, pad, dilations)?]));
        case.assert_outputs_close(&outs, RTOL, ATOL);
        case.assert_input_grads_close(&grads, RTOL, ATOL);
        n += 1;
    }
    assert_eq!(n, 15, "conv2d fixture cases");
}

#[test]
fn fixtures_bias_add() {
    let f = fixtures::load("conv");
    let mut n = 0;
    for case in f.op_cases_for("tf.nn.bias_add") {
        let (outs, grads) = run_case(case, |s, t| Ok(vec![nn::bias_add(s, t[0], t[1])?]));
        case.assert_outputs_close(&outs, RTOL, ATOL);
        case.assert_input_grads_close(&grads, RTOL, ATOL);
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn fixtures_pools() {
    let f = fixtures::load("conv");
    let mut n = 0;
    for (op, is_max) in [("tf.nn.max_pool", true), ("tf.nn.avg_pool", false)] {
        for case in f.op_cases_for(op) {
            let ksize = arr4(case.attr_usizes("ksize"));
            let strides = arr4(case.attr_usizes("strides"));
            let pad = padding(case);
            let (outs, grads) = run_case(case, |s, t| {
                Ok(vec![if is_max {
                    nn::max_pool(s, t[0], ksize, strides, pad)?
                } else {
                    nn::avg_pool(s, t[0], ksize, strides, pad)?
                }])
            });
            case.assert_outputs_close(&outs, RTOL, ATOL);
            case.assert_input_grads_close(&grads, RTOL, ATOL);
            n += 1;
        }
    }
    assert_eq!(n, 18);
}

#[test]
fn fixtures_lrn() {
    let f = fixtures::load("conv");
    let mut n = 0;
    for case in f.op_cases_for("tf.nn.local_response_normalization") {
        let opts = LrnOptions::default()
            .depth_radius(case.attr_usize("depth_radius"))
            .bias(case.attr_f64("bias"))
            .alpha(case.attr_f64("alpha"))
            .beta(case.attr_f64("beta"));
        let (outs, grads) = run_case(case, |s, t| Ok(vec![nn::local_response_normalization(s, t[0], opts)?]));
        case.assert_outputs_close(&outs, RTOL, ATOL);
        case.assert_input_grads_close(&grads, RTOL, ATOL);
        n += 1;
    }
    assert_eq!(n, 6);
}

#[test]
fn fixtures_cover_the_whole_family() {
    let f = fixtures::load("conv");
    let known =
        ["tf.nn.conv2d", "tf.nn.bias_add", "tf.nn.max_pool", "tf.nn.avg_pool", "tf.nn.local_response_normalization"];
    for c in f.op_cases() {
        assert!(known.contains(&c.op.as_str()), "conv fixture case {} uses op {} that no test covers", c.name, c.op);
    }
    assert_eq!(f.op_cases().count(), 41);
}

// ---------------------------------------------------------------------------------------------
// Numeric gradient checks (f64)
// ---------------------------------------------------------------------------------------------

fn check_conv(xs: &[usize], fs: &[usize], strides: [usize; 4], pad: Padding, dil: [usize; 4]) {
    check_gradients(|s, t| nn::conv2d(s, t[0], t[1], strides, pad, dil), &[values(xs, 1), values(fs, 2)]);
}

#[test]
fn gradcheck_conv2d_same_and_valid() {
    check_conv(&[2, 5, 5, 2], &[3, 3, 2, 3], [1, 1, 1, 1], Padding::Same, [1, 1, 1, 1]);
    check_conv(&[2, 5, 5, 2], &[3, 3, 2, 3], [1, 1, 1, 1], Padding::Valid, [1, 1, 1, 1]);
}

#[test]
fn gradcheck_conv2d_stride2_same_asymmetric() {
    // 6x6, k3, s2: total padding 1 → 0 at the top/left, 1 at the bottom/right.
    check_conv(&[2, 6, 6, 2], &[3, 3, 2, 2], [1, 2, 2, 1], Padding::Same, [1, 1, 1, 1]);
    // 5x5, k2, s2: total padding 1, all at the bottom/right.
    check_conv(&[1, 5, 5, 2], &[2, 2, 2, 3], [1, 2, 2, 1], Padding::Same, [1, 1, 1, 1]);
    // 2x3 kernel, strides 1x2.
    check_conv(&[1, 5, 6, 2], &[2, 3, 2, 2], [1, 1, 2, 1], Padding::Same, [1, 1, 1, 1]);
}

#[test]
fn gradcheck_conv2d_dilated_and_pointwise() {
    check_conv(&[1, 7, 7, 2], &[3, 3, 2, 2], [1, 1, 1, 1], Padding::Same, [1, 2, 2, 1]);
    check_conv(&[1, 7, 6, 2], &[3, 2, 2, 2], [1, 1, 1, 1], Padding::Valid, [1, 2, 3, 1]);
    check_conv(&[2, 4, 4, 3], &[1, 1, 3, 2], [1, 1, 1, 1], Padding::Same, [1, 1, 1, 1]);
    check_conv(&[1, 5, 5, 3], &[1, 1, 3, 2], [1, 2, 2, 1], Padding::Valid, [1, 1, 1, 1]);
}

#[test]
fn gradcheck_conv2d_second_order() {
    // Differentiates the gradient kernels themselves (Conv2DBackpropInput / Filter).
    // With the upstream gradient as a third input, dx = B_in(f, dy) and df = B_f(x, dy) are
    // bilinear: this checks their gradients w.r.t. the filter / input and dy.
    let strides = [1, 2, 2, 1];
    for which in 0..2 {
        check_gradients(
            |s, t| {
                let y = nn::conv2d(s, t[0], t[1], strides, Padding::Same, [1, 1, 1, 1])?;
                Ok(gradients(s, &[y], &[t[0], t[1]], Some(&[t[2]]))?[which].unwrap())
            },
            &[values(&[1, 5, 5, 2], 3), values(&[3, 3, 2, 2], 4), values(&[1, 3, 3, 2], 5)],
        );
    }
}

#[test]
fn gradcheck_bias_add() {
    check_gradients(|s, t| nn::bias_add(s, t[0], t[1]), &[values(&[2, 3, 3, 4], 5), values(&[4], 6)]);
    check_gradients(|s, t| nn::bias_add(s, t[0], t[1]), &[values(&[3, 5], 7), values(&[5], 8)]);
}

#[test]
fn gradcheck_pools() {
    for (shape, k, st, pad) in [
        ([2, 5, 5, 2], 2, 2, Padding::Same),
        ([1, 6, 6, 2], 3, 2, Padding::Same),
        ([1, 5, 5, 3], 3, 1, Padding::Same),
        ([2, 7, 7, 2], 3, 2, Padding::Valid),
    ] {
        let (ksize, strides) = ([1, k, k, 1], [1, st, st, 1]);
        check_gradients(|s, t| nn::max_pool(s, t[0], ksize, strides, pad), &[distinct(&shape)]);
        check_gradients(|s, t| nn::avg_pool(s, t[0], ksize, strides, pad), &[values(&shape, 9)]);
    }
}

#[test]
fn gradcheck_lrn() {
    for opts in [
        LrnOptions::default(),
        LrnOptions::default().alpha(1e-1).beta(0.75),
        LrnOptions::default().depth_radius(2).bias(2.0).alpha(0.3).beta(0.6),
        LrnOptions::default().depth_radius(1).alpha(0.5).beta(1.0),
    ] {
        check_gradients(|s, t| nn::local_response_normalization(s, t[0], opts), &[values(&[2, 2, 2, 7], 10)]);
    }
}

// ---------------------------------------------------------------------------------------------
// Values and behaviour beyond the fixtures
// ---------------------------------------------------------------------------------------------

#[test]
fn avg_pool_divides_by_valid_elements() {
    let g = Graph::new();
    let s = g.root();
    let x = ph(&s, DType::F32, shape![1, 3, 3, 1]);
    let y = nn::avg_pool(&s, x, [1, 2, 2, 1], [1, 2, 2, 1], Padding::Same).unwrap();
    let xv = Value::from_shape_vec(&[1, 3, 3, 1], (1..=9).map(|i| i as f32).collect()).unwrap();
    let out = Session::new(&g).run([y], &[(x, xv)]).unwrap().remove(0);
    // Windows: {1,2,4,5}, {3,6}, {7,8}, {9}.
    assert_eq!(out.to_vec::<f32>().unwrap(), vec![3.0, 4.5, 7.5, 9.0]);
}

#[test]
fn max_pool_gradient_ties_go_to_the_first_element() {
    let g = Graph::new();
    let s = g.root();
    let x = ph(&s, DType::F32, shape![1, 2, 2, 1]);
    let y = nn::max_pool(&s, x, [1, 2, 2, 1], [1, 2, 2, 1], Padding::Valid).unwrap();
    let dx = gradients(&s, &[y], &[x], None).unwrap()[0].unwrap();
    let xv = Value::from_shape_vec(&[1, 2, 2, 1], vec![1.0f32, 5.0, 5.0, 5.0]).unwrap();
    let out = Session::new(&g).run([y, dx], &[(x, xv)]).unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![5.0]);
    assert_eq!(out[1].to_vec::<f32>().unwrap(), vec![0.0, 1.0, 0.0, 0.0]);
}

#[test]
fn conv2d_f64_and_unknown_batch() {
    let g = Graph::new();
    let s = g.root();
    let x = ph(&s, DType::F64, shape![None, 4, 4, 1]);
    let w = ph(&s, DType::F64, shape![2, 2, 1, 1]);
    let y = nn::conv2d(&s, x, w, [1, 2, 2, 1], Padding::Valid, [1, 1, 1, 1]).unwrap();
    assert_eq!(y.shape(&s).unwrap(), shape![None, 2, 2, 1]);
    let xv = Value::from_shape_vec(&[1, 4, 4, 1], (0..16).map(f64::from).collect()).unwrap();
    let wv = Value::from_shape_vec(&[2, 2, 1, 1], vec![1.0f64, 1.0, 1.0, 1.0]).unwrap();
    let out = Session::new(&g).run([y], &[(x, xv), (w, wv)]).unwrap().remove(0);
    assert_eq!(out.to_vec::<f64>().unwrap(), vec![10.0, 18.0, 42.0, 50.0]);
}

#[test]
fn in_top_k_values() {
    let g = Graph::new();
    let s = g.root();
    let p = ph(&s, DType::F32, shape![None, 4]);
    let t = ph(&s, DType::I32, shape![None]);
    let k1 = nn::in_top_k(&s, p, t, 1).unwrap();
    let k2 = nn::in_top_k(&s, p, t, 2).unwrap();
    let pv = Value::from_shape_vec(
        &[5, 4],
        vec![
            0.1f32,
            0.9,
            0.0,
            0.0, // target 1: top-1
            0.5,
            0.4,
            0.3,
            0.0, // target 1: second
            0.2,
            0.2,
            0.1,
            0.0, // target 0: tied for first → in top 1 (ties count)
            0.1,
            0.2,
            0.3,
            0.4, // target 7: out of range → false
            f32::NAN,
            0.2,
            0.3,
            0.4, // non-finite row → false
        ],
    )
    .unwrap();
    let tv = Value::from(vec![1i32, 1, 0, 7, 3]);
    let out = Session::new(&g).run([k1, k2], &[(p, pv), (t, tv)]).unwrap();
    assert_eq!(out[0].to_vec::<bool>().unwrap(), vec![true, false, true, false, false]);
    assert_eq!(out[1].to_vec::<bool>().unwrap(), vec![true, true, true, false, false]);
}

// ---------------------------------------------------------------------------------------------
// Dropout
// ---------------------------------------------------------------------------------------------

#[test]
fn dropout_gradient_uses_the_forward_mask() {
    let g = Graph::new();
    g.set_random_seed(42);
    let s = g.root();
    let x = ph(&s, DType::F64, shape![None, 50]);
    let kp = ph(&s, DType::F64, shape![]);
    let y = nn::dropout(&s, x, kp, None, None).unwrap();
    let up = ph(&s, DType::F64, shape![None, 50]);
    let dx = gradients(&s, &[y], &[x], Some(&[up])).unwrap()[0].unwrap();
    let sess = Session::new(&g);
    let xv = values(&[20, 50], 11);
    let uv = values(&[20, 50], 12);
    let mut previous: Option<Vec<f64>> = None;
    for _ in 0..3 {
        let out = sess.run([y, dx], &[(x, xv.clone()), (kp, Value::from(0.6f64)), (up, uv.clone())]).unwrap();
        let (yv, dv) = (out[0].to_vec::<f64>().unwrap(), out[1].to_vec::<f64>().unwrap());
        let (xs, us) = (xv.to_vec::<f64>().unwrap(), uv.to_vec::<f64>().unwrap());
        for i in 0..xs.len() {
            let kept = yv[i] != 0.0;
            let want_y = if kept { xs[i] / 0.6 } else { 0.0 };
            let want_d = if kept { us[i] / 0.6 } else { 0.0 };
            assert!((yv[i] - want_y).abs() < 1e-12, "y[{i}] = {}, want {want_y}", yv[i]);
            assert!((dv[i] - want_d).abs() < 1e-12, "dx[{i}] = {}, want {want_d} (mask differs from forward)", dv[i]);
        }
        // Each run draws a new mask.
        if let Some(p) = &previous {
            assert_ne!(p, &yv);
        }
        previous = Some(yv);
    }
}

#[test]
fn dropout_keeps_the_expected_fraction_and_scales() {
    let g = Graph::new();
    let s = g.root();
    let x = ph(&s, DType::F32, shape![400, 500]);
    let y = nn::dropout(&s, x, 0.7f32, None, Some(3)).unwrap();
    let out = Session::new(&g).run([y], &[(x, Value::filled(&[400, 500], 1.0f32))]).unwrap().remove(0);
    let v = out.to_vec::<f32>().unwrap();
    let kept = v.iter().filter(|&&a| a != 0.0).count() as f64 / v.len() as f64;
    assert!((kept - 0.7).abs() < 0.005, "kept fraction {kept}");
    assert!(v.iter().all(|&a| a == 0.0 || (a - 1.0 / 0.7).abs() < 1e-6));
    // Inverted scaling keeps the mean.
    let mean = v.iter().map(|&a| f64::from(a)).sum::<f64>() / v.len() as f64;
    assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
}

#[test]
fn dropout_is_reproducible_with_a_seed() {
    let draw = |graph_seed: Option<u64>, op_seed: Option<u64>| {
        let g = Graph::new();
        if let Some(gs) = graph_seed {
            g.set_random_seed(gs);
        }
        let s = g.root();
        let x = ph(&s, DType::F32, shape![100]);
        let y = nn::dropout(&s, x, 0.5f32, None, op_seed).unwrap();
        let sess = Session::new(&g);
        let feed = [(x, Value::filled(&[100], 1.0f32))];
        let a = sess.run([y], &feed).unwrap().remove(0).to_vec::<f32>().unwrap();
        let b = sess.run([y], &feed).unwrap().remove(0).to_vec::<f32>().unwrap();
        (a, b)
    };
    let (a1, b1) = draw(Some(1), Some(5));
    let (a2, b2) = draw(Some(1), Some(5));
    assert_eq!((a1.clone(), b1.clone()), (a2, b2), "same seeds, same masks");
    assert_ne!(a1, b1, "consecutive runs draw new masks");
    let (a3, _) = draw(Some(1), Some(6));
    assert_ne!(a1, a3, "another op seed, another mask");
}

#[test]
fn dropout_noise_shape_broadcasts_the_mask() {
    let g = Graph::new();
    let s = g.root();
    let x = ph(&s, DType::F32, shape![4, 3, 3, 16]);
    let y = nn::dropout(&s, x, 0.5f32, Some(&[4, 1, 1, 16]), Some(9)).unwrap();
    assert_eq!(y.op().output(1).shape(&s).unwrap(), shape![4, 1, 1, 16]);
    let dx = gradients(&s, &[y], &[x], None).unwrap()[0].unwrap();
    let out = Session::new(&g).run([y, dx], &[(x, Value::filled(&[4, 3, 3, 16], 1.0f32))]).unwrap();
    let v = out[0].to_vec::<f32>().unwrap();
    let d = out[1].to_vec::<f32>().unwrap();
    assert_eq!(v, d, "with x = 1 and upstream 1, y and dx are both mask / keep_prob");
    let mut dropped_maps = 0;
    for b in 0..4 {
        for c in 0..16 {
            let at = |i: usize, j: usize| v[((b * 3 + i) * 3 + j) * 16 + c];
            let first = at(0, 0);
            assert!(first == 0.0 || first == 2.0);
            for i in 0..3 {
                for j in 0..3 {
                    assert_eq!(at(i, j), first, "whole feature map ({b}, {c}) is kept or dropped together");
                }
            }
            dropped_maps += usize::from(first == 0.0);
        }
    }
    assert!((10..54).contains(&dropped_maps), "{dropped_maps} of 64 maps dropped");
    // A rank-1 noise shape aligns to the right (per-channel mask).
    let y2 = nn::dropout(&s, x, 0.5f32, Some(&[16]), Some(1)).unwrap();
    assert_eq!(y2.shape(&s).unwrap(), shape![4, 3, 3, 16]);
}

#[test]
fn dropout_keep_prob_validation() {
    let g = Graph::new();
    let s = g.root();
    let x = ph(&s, DType::F32, shape![None, 8]);
    for bad in [0.0f32, -0.5, 1.5] {
        let e = build_err(nn::dropout(&s, x, bad, None, None));
        assert!(e.contains("keep_prob must be in (0, 1]"), "{e}");
    }
    // A literal 1 returns x itself (TF1).
    assert_eq!(nn::dropout(&s, x, 1.0f32, None, None).unwrap(), x);
    // Wrong dtype / rank of a keep_prob tensor.
    let e = build_err(nn::dropout(&s, x, ph(&s, DType::F64, shape![]), None, None));
    assert!(e.contains("dtype"), "{e}");
    let e = build_err(nn::dropout(&s, x, ph(&s, DType::F32, shape![2]), None, None));
    assert!(e.contains("scalar"), "{e}");
    // Bad noise shape.
    let e = build_err(nn::dropout(&s, x, 0.5f32, Some(&[3, 3]), None));
    assert!(e.contains("noise_shape [3, 3]") && e.contains("[?, 8]"), "{e}");
    // A fed keep_prob outside (0, 1] fails at run time with a clear message.
    let kp = ph(&s, DType::F32, shape![]);
    let y = nn::dropout(&s.with_name("drop"), x, kp, None, None).unwrap();
    let e = Session::new(&g)
        .run([y], &[(x, Value::filled(&[2, 8], 1.0f32)), (kp, Value::from(1.5f32))])
        .unwrap_err()
        .to_string();
    assert!(e.contains("drop") && e.contains("keep_prob must be in (0, 1], got 1.5"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Shape rules and errors
// ---------------------------------------------------------------------------------------------

#[test]
fn conv2d_shape_rules() {
    let g = Graph::new();
    let s = g.root();
    let conv = |xs: Shape, fs: Shape, st: [usize; 4], p: Padding, d: [usize; 4]| {
        nn::conv2d(&s, ph(&s, DType::F32, xs), ph(&s, DType::F32, fs), st, p, d).map(|t| t.shape(&s).unwrap())
    };
    let one = [1, 1, 1, 1];
    assert_eq!(
        conv(shape![None, 28, 28, 1], shape![3, 3, 1, 32], one, Padding::Same, one).unwrap(),
        shape![None, 28, 28, 32]
    );
    assert_eq!(
        conv(shape![None, 28, 28, 1], shape![5, 5, 1, 8], one, Padding::Valid, one).unwrap(),
        shape![None, 24, 24, 8]
    );
    assert_eq!(
        conv(shape![2, 7, 7, 3], shape![3, 3, 3, 4], [1, 2, 2, 1], Padding::Same, one).unwrap(),
        shape![2, 4, 4, 4]
    );
    assert_eq!(
        conv(shape![2, 7, 7, 3], shape![3, 3, 3, 4], [1, 2, 2, 1], Padding::Valid, one).unwrap(),
        shape![2, 3, 3, 4]
    );
    assert_eq!(
        conv(shape![2, 7, 7, 3], shape![3, 3, 3, 4], one, Padding::Valid, [1, 2, 2, 1]).unwrap(),
        shape![2, 3, 3, 4]
    );
    assert_eq!(
        conv(shape![2, None, 9, None], shape![3, 3, None, 4], one, Padding::Same, one).unwrap(),
        shape![2, None, 9, 4]
    );
    assert_eq!(
        conv(Shape::unknown(), shape![3, 3, 2, 4], one, Padding::Same, one).unwrap(),
        shape![None, None, None, 4]
    );
}

#[test]
fn conv2d_build_errors() {
    let g = Graph::new();
    let s = g.root();
    let one = [1, 1, 1, 1];
    let x = ph(&s, DType::F32, shape![None, 28, 28, 3]);
    let f = ph(&s, DType::F32, shape![3, 3, 1, 32]);
    // Channel mismatch names both shapes.
    let e = build_err(nn::conv2d(&s.with_name("conv1"), x, f, one, Padding::Same, one));
    assert!(
        e.contains("conv1") && e.contains("[?, 28, 28, 3]") && e.contains("[3, 3, 1, 32]") && e.contains("channels"),
        "{e}"
    );
    // Wrong ranks.
    let x3 = ph(&s, DType::F32, shape![28, 28, 1]);
    let e = build_err(nn::conv2d(&s, x3, f, one, Padding::Same, one));
    assert!(e.contains("4-D") && e.contains("[28, 28, 1]"), "{e}");
    let f3 = ph(&s, DType::F32, shape![3, 3, 3]);
    let e = build_err(nn::conv2d(&s, x, f3, one, Padding::Same, one));
    assert!(e.contains("filter must be 4-D") && e.contains("[3, 3, 3]"), "{e}");
    // Bad strides and dilations.
    let fx = ph(&s, DType::F32, shape![3, 3, 3, 8]);
    let e = build_err(nn::conv2d(&s, x, fx, [2, 1, 1, 1], Padding::Same, one));
    assert!(e.contains("strides [2, 1, 1, 1]") && e.contains("batch and depth"), "{e}");
    let e = build_err(nn::conv2d(&s, x, fx, [1, 0, 1, 1], Padding::Same, one));
    assert!(e.contains("strides must be positive"), "{e}");
    let e = build_err(nn::conv2d(&s, x, fx, one, Padding::Same, [1, 1, 1, 2]));
    assert!(e.contains("dilations"), "{e}");
    // VALID window larger than the input.
    let big = ph(&s, DType::F32, shape![30, 30, 3, 8]);
    let e = build_err(nn::conv2d(&s, x, big, one, Padding::Valid, one));
    assert!(e.contains("negative") && e.contains("28"), "{e}");
    // Dtypes.
    let fi = ph(&s, DType::F64, shape![3, 3, 3, 8]);
    let e = build_err(nn::conv2d(&s, x, fi, one, Padding::Same, one));
    assert!(e.contains("same dtype"), "{e}");
    let xi = ph(&s, DType::I32, shape![1, 4, 4, 1]);
    let wi = ph(&s, DType::I32, shape![1, 1, 1, 1]);
    let e = build_err(nn::conv2d(&s, xi, wi, one, Padding::Same, one));
    assert!(e.contains("float"), "{e}");
}

#[test]
fn conv2d_run_time_shape_errors() {
    let g = Graph::new();
    let s = g.root();
    let x = ph(&s, DType::F32, shape![None, None, None, None]);
    let f = ph(&s, DType::F32, shape![3, 3, 2, 4]);
    let y = nn::conv2d(&s.with_name("c"), x, f, [1, 1, 1, 1], Padding::Same, [1, 1, 1, 1]).unwrap();
    let e = Session::new(&g)
        .run([y], &[(x, Value::zeros(DType::F32, &[1, 5, 5, 3])), (f, Value::zeros(DType::F32, &[3, 3, 2, 4]))])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("'c'") && e.contains("run time") && e.contains("[1, 5, 5, 3]") && e.contains("[3, 3, 2, 4]"),
        "{e}"
    );
}

#[test]
fn bias_add_errors() {
    let g = Graph::new();
    let s = g.root();
    let x = ph(&s, DType::F32, shape![None, 4, 4, 8]);
    let e = build_err(nn::bias_add(&s, x, ph(&s, DType::F32, shape![3])));
    assert!(e.contains("[3]") && e.contains("[?, 4, 4, 8]"), "{e}");
    let e = build_err(nn::bias_add(&s, x, ph(&s, DType::F32, shape![2, 8])));
    assert!(e.contains("1-D"), "{e}");
    let e = build_err(nn::bias_add(&s, ph(&s, DType::F32, shape![8]), ph(&s, DType::F32, shape![8])));
    assert!(e.contains("rank at least 2"), "{e}");
}

#[test]
fn pool_shape_rules_and_errors() {
    let g = Graph::new();
    let s = g.root();
    let x = ph(&s, DType::F32, shape![None, 28, 28, 32]);
    let k2 = [1, 2, 2, 1];
    assert_eq!(nn::max_pool(&s, x, k2, k2, Padding::Same).unwrap().shape(&s).unwrap(), shape![None, 14, 14, 32]);
    let x7 = ph(&s, DType::F32, shape![None, 7, 7, 4]);
    assert_eq!(nn::max_pool(&s, x7, k2, k2, Padding::Same).unwrap().shape(&s).unwrap(), shape![None, 4, 4, 4]);
    assert_eq!(nn::avg_pool(&s, x7, k2, k2, Padding::Valid).unwrap().shape(&s).unwrap(), shape![None, 3, 3, 4]);
    assert_eq!(
        nn::avg_pool(&s, x7, [1, 3, 3, 1], [1, 1, 1, 1], Padding::Same).unwrap().shape(&s).unwrap(),
        shape![None, 7, 7, 4]
    );
    let e = build_err(nn::max_pool(&s, ph(&s, DType::F32, shape![28, 28, 1]), k2, k2, Padding::Same));
    assert!(e.contains("4-D") && e.contains("[28, 28, 1]"), "{e}");
    let e = build_err(nn::max_pool(&s, x, [1, 2, 2, 2], k2, Padding::Same));
    assert!(e.contains("ksize"), "{e}");
    let e = build_err(nn::avg_pool(&s, x, k2, [1, 0, 2, 1], Padding::Same));
    assert!(e.contains("strides must be positive"), "{e}");
    let e = build_err(nn::max_pool(&s, x7, [1, 8, 8, 1], k2, Padding::Valid));
    assert!(e.contains("negative"), "{e}");
    let e = build_err(nn::max_pool(&s, ph(&s, DType::I32, shape![1, 4, 4, 1]), k2, k2, Padding::Same));
    assert!(e.contains("float"), "{e}");
}

#[test]
fn lrn_and_in_top_k_errors() {
    let g = Graph::new();
    let s = g.root();
    let e = build_err(nn::local_response_normalization(&s, ph(&s, DType::F32, shape![4, 8]), LrnOptions::default()));
    assert!(e.contains("4-D") && e.contains("[4, 8]"), "{e}");
    let e = build_err(nn::local_response_normalization(
        &s,
        ph(&s, DType::F32, shape![1, 2, 2, 8]),
        LrnOptions::default().beta(f64::NAN),
    ));
    assert!(e.contains("finite"), "{e}");
    let p = ph(&s, DType::F32, shape![8, 10]);
    let e = build_err(nn::in_top_k(&s, p, ph(&s, DType::I32, shape![7]), 1));
    assert!(e.contains("[8, 10]") && e.contains("[7]"), "{e}");
    let e = build_err(nn::in_top_k(&s, p, ph(&s, DType::F32, shape![8]), 1));
    assert!(e.contains("int32 or int64"), "{e}");
    let e = build_err(nn::in_top_k(&s, ph(&s, DType::F32, shape![8]), ph(&s, DType::I32, shape![8]), 1));
    assert!(e.contains("2-D"), "{e}");
}
