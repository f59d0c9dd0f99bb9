//! Reductions and softmax: TF golden cases (values and input gradients), numeric gradient
//! checks, shape rules and the parallel kernels on large NHWC tensors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, DType, Error, Graph, Result, Scope, Shape, Tensor, Value};
use ferroflow_ops::{constant, math, nn, placeholder};
use ferroflow_session::{feed_dict, Session};
use ferroflow_testing::{assert_close, check_gradients, load};
use ferroflow_train::gradients;
use ndarray::{ArrayD, IxDyn};

use ferroflow_testing::run_op_case as run_case;

type ReduceFn = fn(&Scope, Tensor, Option<&[i64]>, bool) -> Result<Tensor>;

fn reduce_fn(op: &str) -> ReduceFn {
    match op {
        "tf.reduce_sum" => |s, x, a, k| math::reduce_sum(s, x, a, k),
        "tf.reduce_mean" => |s, x, a, k| math::reduce_mean(s, x, a, k),
        "tf.reduce_max" => |s, x, a, k| math::reduce_max(s, x, a, k),
        "tf.reduce_min" => |s, x, a, k| math::reduce_min(s, x, a, k),
        other => panic!("unexpected op {other}"),
    }
}

#[test]
fn tf_reduce_cases() {
    let f = load("math");
    let mut n = 0;
    for case in f.op_cases().filter(|c| c.name.starts_with("reduce_")) {
        let axes = case.attr_axes("axis");
        let keep = case.attr_bool("keepdims");
        let op = reduce_fn(&case.op);
        let (values, grads) = run_case(case, |s, t| Ok(vec![op(s, t[0], axes.as_deref(), keep)?]));
        case.assert_outputs_close(&values, 1e-6, 1e-6);
        case.assert_input_grads_close(&grads, 1e-6, 1e-7);
        n += 1;
    }
    assert_eq!(n, 40, "expected every reduce_* case of the math family");
}

#[test]
fn tf_softmax_cases() {
    let f = load("math");
    let mut n = 0;
    for case in f.op_cases().filter(|c| c.name.starts_with("softmax") || c.name.starts_with("log_softmax")) {
        let axis = case.attr_i64("axis");
        let log = case.op == "tf.nn.log_softmax";
        let (values, grads) = run_case(case, |s, t| {
            Ok(vec![if log {
                nn::log_softmax_with_axis(s, t[0], axis)?
            } else {
                nn::softmax_with_axis(s, t[0], axis)?
            }])
        });
        case.assert_outputs_close(&values, 1e-6, 1e-7);
        case.assert_input_grads_close(&grads, 1e-5, 1e-6);
        n += 1;
    }
    assert_eq!(n, 6, "expected every softmax/log_softmax case of the math family");
}

#[test]
fn softmax_of_extreme_logits_is_finite() {
    let g = Graph::new();
    let s = g.root();
    let x = constant(&s, ndarray::array![[100.0f32, -100.0, 0.0], [1000.0, 1000.0, -1000.0]]).unwrap();
    let y = nn::softmax(&s, x).unwrap();
    let ly = nn::log_softmax(&s, x).unwrap();
    let out = Session::new(&g).run([y, ly], &[]).unwrap();
    let y = out[0].to_vec::<f32>().unwrap();
    assert_eq!(&y[..3], &[1.0, 0.0, (-100.0f32).exp()]);
    assert_eq!(&y[3..], &[0.5, 0.5, 0.0]);
    let ly = out[1].to_vec::<f32>().unwrap();
    assert!(ly.iter().all(|v| v.is_finite()), "{ly:?}");
    assert_eq!(ly[1], -200.0);
}

fn sample(dims: &[usize], seed: u64) -> Value {
    let mut st = seed;
    let n: usize = dims.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| {
            st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((st >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0
        })
        .collect();
    Value::from_shape_vec(dims, v).unwrap()
}

#[test]
fn numeric_gradients_of_reductions() {
    let x = sample(&[2, 3, 4], 1);
    let axes_list: [Option<&[i64]>; 6] = [None, Some(&[0]), Some(&[1]), Some(&[-1]), Some(&[0, 2]), Some(&[])];
    for axes in axes_list {
        for keep in [false, true] {
            check_gradients(|s, t| math::reduce_sum(s, t[0], axes, keep), std::slice::from_ref(&x));
            check_gradients(|s, t| math::reduce_mean(s, t[0], axes, keep), std::slice::from_ref(&x));
            check_gradients(|s, t| math::reduce_max(s, t[0], axes, keep), std::slice::from_ref(&x));
            check_gradients(|s, t| math::reduce_min(s, t[0], axes, keep), std::slice::from_ref(&x));
            check_gradients(|s, t| math::reduce_prod(s, t[0], axes, keep), std::slice::from_ref(&x));
        }
    }
}

#[test]
fn prod_gradient_with_zeros() {
    let x = Value::from(ndarray::array![[0.0f64, 2.0, 3.0], [0.0, 0.0, 4.0], [1.5, -2.0, 0.5]]);
    check_gradients(|s, t| math::reduce_prod(s, t[0], Some(&[1]), false), std::slice::from_ref(&x));
    let g = Graph::new();
    let s = g.root();
    let xt = constant(&s, x).unwrap();
    let y = math::reduce_prod(&s, xt, Some(&[1]), false).unwrap();
    let dx = gradients(&s, &[y], &[xt], None).unwrap()[0].unwrap();
    let out = Session::new(&g).run([y, dx], &[]).unwrap();
    assert_eq!(out[0].to_vec::<f64>().unwrap(), vec![0.0, 0.0, -1.5]);
    assert_eq!(out[1].to_vec::<f64>().unwrap(), vec![6.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.75, -3.0]);
}

#[test]
fn max_gradient_splits_ties_evenly() {
    // TF: indicators / count · g — three tied maxima each get a third.
    let g = Graph::new();
    let s = g.root();
    let x = constant(&s, ndarray::array![[1.0f32, 3.0, 3.0, 3.0], [2.0, 0.0, 2.0, -1.0]]).unwrap();
    let y = math::reduce_max(&s, x, Some(&[1]), false).unwrap();
    let m = math::reduce_min(&s, x, None, false).unwrap();
    let gr = gradients(&s, &[y, m], &[x], None).unwrap()[0].unwrap();
    let out = Session::new(&g).run([y, gr], &[]).unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![3.0, 2.0]);
    let third = 1.0f32 / 3.0;
    assert_eq!(out[1].to_vec::<f32>().unwrap(), vec![0.0, third, third, third, 0.5, 0.0, 0.5, 1.0]);
}

#[test]
fn numeric_gradients_of_softmax() {
    let x = sample(&[3, 5], 2);
    let x3 = sample(&[2, 3, 4], 3);
    check_gradients(|s, t| nn::softmax(s, t[0]), std::slice::from_ref(&x));
    check_gradients(|s, t| nn::log_softmax(s, t[0]), std::slice::from_ref(&x));
    check_gradients(|s, t| nn::softmax_with_axis(s, t[0], 1), std::slice::from_ref(&x3));
    check_gradients(|s, t| nn::log_softmax_with_axis(s, t[0], 0), std::slice::from_ref(&x3));
    // Second derivatives: differentiate the gradient (SoftmaxGrad / LogSoftmaxGrad).
    let w = sample(&[3, 5], 4);
    for log in [false, true] {
        check_gradients(
            |s, t| {
                let y = if log { nn::log_softmax(s, t[0])? } else { nn::softmax(s, t[0])? };
                Ok(gradients(s, &[y], &[t[0]], Some(&[t[1]]))?[0].unwrap())
            },
            &[x.clone(), w.clone()],
        );
    }
}

#[test]
fn reduce_shape_rules() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 3, 4]).unwrap();
    let sp = |t: Tensor| t.shape(&s).unwrap().to_string();
    assert_eq!(sp(math::reduce_sum(&s, x, Some(&[0, 2]), false).unwrap()), "[3]");
    assert_eq!(sp(math::reduce_sum(&s, x, Some(&[0, 2]), true).unwrap()), "[1, 3, 1]");
    assert_eq!(sp(math::reduce_mean(&s, x, Some(&[-1]), false).unwrap()), "[?, 3]");
    assert_eq!(sp(math::reduce_max(&s, x, None, false).unwrap()), "[]");
    assert_eq!(sp(math::reduce_min(&s, x, None, true).unwrap()), "[1, 1, 1]");
    assert_eq!(sp(math::reduce_sum(&s, x, Some(&[]), false).unwrap()), "[?, 3, 4]");
    assert_eq!(sp(math::reduce_sum(&s, x, Some(&[1, 1, -2]), false).unwrap()), "[?, 4]");
    let u = placeholder(&s, DType::F32, Shape::unknown()).unwrap();
    assert_eq!(sp(math::reduce_sum(&s, u, None, false).unwrap()), "[]");
    assert_eq!(sp(math::reduce_sum(&s, u, Some(&[0]), false).unwrap()), "<unknown>");

    let e = math::reduce_sum(&s.with_name("bad"), x, Some(&[3]), false).unwrap_err();
    assert!(matches!(e, Error::Build { .. }), "{e:?}");
    let m = e.to_string();
    assert!(m.contains("'bad'") && m.contains("axis 3") && m.contains("rank 3") && m.contains("[?, 3, 4]"), "{m}");
    let e = math::reduce_mean(&s, x, Some(&[-4]), true).unwrap_err().to_string();
    assert!(e.contains("axis -4"), "{e}");
    let b = placeholder(&s, DType::Bool, shape![2]).unwrap();
    let e = math::reduce_sum(&s, b, None, false).unwrap_err().to_string();
    assert!(e.contains("bool"), "{e}");
    let e = nn::softmax_with_axis(&s, x, 3).unwrap_err().to_string();
    assert!(e.contains("axis 3") && e.contains("[?, 3, 4]"), "{e}");
    let sc = placeholder(&s, DType::F32, shape![]).unwrap();
    assert!(nn::softmax(&s, sc).unwrap_err().to_string().contains("rank >= 1"));
    let i = placeholder(&s, DType::I32, shape![2, 3]).unwrap();
    assert!(nn::softmax(&s, i).is_err());
}

#[test]
fn runtime_axis_error_names_node() {
    // Unknown static rank: the axis is checked when the kernel runs.
    let g = Graph::new();
    let s = g.root();
    let u = placeholder(&s.with_name("u"), DType::F32, Shape::unknown()).unwrap();
    let y = math::reduce_sum(&s.with_name("total"), u, Some(&[2]), false).unwrap();
    let e = Session::new(&g).run([y], &feed_dict![u => vec![1.0f32, 2.0]]).unwrap_err();
    assert!(matches!(e, Error::Kernel { .. }), "{e:?}");
    assert!(e.to_string().contains("'total'") && e.to_string().contains("axis 2"), "{e}");
}

#[test]
fn integer_reductions() {
    let g = Graph::new();
    let s = g.root();
    let x = constant(&s, ndarray::array![[1i32, 2, 4], [-3, 5, 7]]).unwrap();
    let ys = [
        math::reduce_sum(&s, x, Some(&[0]), false).unwrap(),
        math::reduce_mean(&s, x, Some(&[1]), false).unwrap(),
        math::reduce_max(&s, x, None, false).unwrap(),
        math::reduce_min(&s, x, Some(&[1]), true).unwrap(),
        math::reduce_prod(&s, x, Some(&[1]), false).unwrap(),
    ];
    let out = Session::new(&g).run(ys, &[]).unwrap();
    assert_eq!(out[0].to_vec::<i32>().unwrap(), vec![-2, 7, 11]);
    assert_eq!(out[1].to_vec::<i32>().unwrap(), vec![2, 3]); // 7/3 and 9/3, truncated
    assert_eq!(out[2].scalar::<i32>().unwrap(), 7);
    assert_eq!(out[3].shape(), &[2, 1]);
    assert_eq!(out[3].to_vec::<i32>().unwrap(), vec![1, -3]);
    assert_eq!(out[4].to_vec::<i32>().unwrap(), vec![8, -105]);
}

#[test]
fn empty_reductions_use_identities() {
    let g = Graph::new();
    let s = g.root();
    let x = constant(&s, Value::zeros(DType::F32, &[0, 3])).unwrap();
    let ys = [
        math::reduce_sum(&s, x, Some(&[0]), false).unwrap(),
        math::reduce_max(&s, x, Some(&[0]), false).unwrap(),
        math::reduce_prod(&s, x, Some(&[0]), false).unwrap(),
        math::reduce_sum(&s, x, Some(&[1]), false).unwrap(),
    ];
    let out = Session::new(&g).run(ys, &[]).unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![0.0; 3]);
    assert_eq!(out[1].to_vec::<f32>().unwrap(), vec![f32::NEG_INFINITY; 3]);
    assert_eq!(out[2].to_vec::<f32>().unwrap(), vec![1.0; 3]);
    assert_eq!(out[3].shape(), &[0]);
}

/// Naive f64 reference: reduce `x` (row-major `dims`) over `axes` with `f`.
fn naive(x: &ArrayD<f64>, axes: &[usize], init: f64, f: impl Fn(f64, f64) -> f64) -> ArrayD<f64> {
    let mut out = x.clone();
    for &a in axes.iter().rev() {
        out = out.fold_axis(ndarray::Axis(a), init, |&acc, &v| f(acc, v));
    }
    out
}

#[test]
fn large_nhwc_reductions_match_naive() {
    // 8·32·32·16 = 131072 elements: large enough for the parallel paths.
    let dims = [8usize, 32, 32, 16];
    let xv = sample(&dims, 5);
    let x64 = xv.to_array::<f64>().unwrap();
    let x32 = xv.cast(DType::F32);
    let cases: [&[usize]; 7] = [&[0, 1, 2], &[1, 2], &[3], &[0, 3], &[0, 1, 2, 3], &[0], &[1, 3]];
    let g = Graph::new();
    let s = g.root();
    let p64 = placeholder(&s, DType::F64, Shape::known(&dims)).unwrap();
    let p32 = placeholder(&s, DType::F32, Shape::known(&dims)).unwrap();
    let sess = Session::new(&g);
    for axes in cases {
        let ax: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
        let want_sum = naive(&x64, axes, 0.0, |a, b| a + b);
        let want_max = naive(&x64, axes, f64::NEG_INFINITY, f64::max);
        let count: usize = axes.iter().map(|&a| dims[a]).product();
        let ys = [
            math::reduce_sum(&s, p64, Some(&ax), false).unwrap(),
            math::reduce_max(&s, p64, Some(&ax), false).unwrap(),
            math::reduce_mean(&s, p32, Some(&ax), false).unwrap(),
        ];
        let out = sess.run(ys, &[(p64, xv.clone()), (p32, x32.clone())]).unwrap();
        assert_close(&out[0], &Value::from(want_sum.clone()), 1e-12, 1e-10);
        assert_close(&out[1], &Value::from(want_max), 0.0, 0.0);
        let want_mean = Value::from(want_sum.mapv(|v| v / count as f64)).cast(DType::F32);
        assert_close(&out[2], &want_mean, 1e-5, 1e-6);
    }
    // Gradients of the big reductions: broadcast back (mean: divided by the count).
    let y = math::reduce_mean(&s, p64, Some(&[0, 1, 2]), true).unwrap();
    let m = math::reduce_max(&s, p64, Some(&[1, 2]), false).unwrap();
    let gr = gradients(&s, &[y, m], &[p64], None).unwrap()[0].unwrap();
    let gv = sess.run([gr], &[(p64, xv.clone())]).unwrap().remove(0).to_array::<f64>().unwrap();
    let maxes = naive(&x64, &[1, 2], f64::NEG_INFINITY, f64::max);
    let want = ArrayD::from_shape_fn(IxDyn(&dims), |i| {
        let hit = x64[&i] == maxes[[i[0], i[3]]];
        1.0 / 8192.0 + if hit { 1.0 } else { 0.0 }
    });
    assert_close(&Value::from(gv), &Value::from(want), 1e-12, 1e-15);
}
