//! Math ops: TF golden fixtures (element-wise unary/binary, matmul), values, shape rules and
//! numeric gradient checks for matmul, comparisons, logical ops, `where_` and argmax/argmin.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, DType, Error, Graph, Result, Scope, Shape, Tensor, Value};
use ferroflow_ops::{constant, math, placeholder};
use ferroflow_session::Session;
use ferroflow_testing::{assert_close, check_gradients, load, GradCheck, OpCase};
use ferroflow_train::gradients;
use ndarray::{array, Array2, Array3, ArrayD, IxDyn};

// ---------------------------------------------------------------------------------------------
// Fixture harness

/// Runs a fixture case (single-output builders).
fn run_case(case: &OpCase, build: &dyn Fn(&Scope, &[Tensor]) -> Result<Tensor>) -> (Vec<Value>, Vec<Option<Value>>) {
    ferroflow_testing::run_op_case(case, |s, t| build(s, t).map(|y| vec![y]))
}

fn check_case(case: &OpCase, build: &dyn Fn(&Scope, &[Tensor]) -> Result<Tensor>, rtol: f64, atol: f64) {
    let (out, grads) = run_case(case, build);
    case.assert_outputs_close(&out, rtol, atol);
    case.assert_input_grads_close(&grads, rtol, atol);
}

type Build = Box<dyn Fn(&Scope, &[Tensor]) -> Result<Tensor>>;

fn unary(f: fn(&Scope, Tensor) -> Result<Tensor>) -> Build {
    Box::new(move |s, t| f(s, t[0]))
}

fn binary(f: fn(&Scope, Tensor, Tensor) -> Result<Tensor>) -> Build {
    Box::new(move |s, t| f(s, t[0], t[1]))
}

/// The builder for a fixture op name, for the ops this file covers.
fn builder_for(op: &str) -> Option<Build> {
    Some(match op {
        "tf.add" => binary(math::add),
        "tf.subtract" => binary(math::sub),
        "tf.multiply" => binary(math::mul),
        "tf.divide" => binary(math::div),
        "tf.maximum" => binary(math::maximum),
        "tf.minimum" => binary(math::minimum),
        "tf.pow" => binary(math::pow),
        "tf.negative" => unary(math::neg),
        "tf.square" => unary(math::square),
        "tf.sqrt" => unary(math::sqrt),
        "tf.rsqrt" => unary(math::rsqrt),
        "tf.exp" => unary(math::exp),
        "tf.log" => unary(math::log),
        "tf.abs" => unary(math::abs),
        "tf.tanh" => unary(math::tanh),
        "tf.sigmoid" => unary(math::sigmoid),
        "tf.nn.relu" => unary(ferroflow_ops::nn::relu),
        _ => return None,
    })
}

#[test]
fn fixtures_elementwise_binary() {
    let f = load("math");
    let mut n = 0;
    for op in ["tf.add", "tf.subtract", "tf.multiply", "tf.divide", "tf.maximum", "tf.minimum", "tf.pow"] {
        let build = builder_for(op).unwrap();
        for case in f.op_cases_for(op) {
            check_case(case, &*build, 1e-5, 1e-6);
            n += 1;
        }
    }
    assert_eq!(n, 28, "every {{add,sub,mul,div,maximum,minimum,pow}}_* case");
}

#[test]
fn fixtures_elementwise_unary() {
    let f = load("math");
    let ops = [
        "tf.negative",
        "tf.square",
        "tf.sqrt",
        "tf.rsqrt",
        "tf.exp",
        "tf.log",
        "tf.abs",
        "tf.tanh",
        "tf.sigmoid",
        "tf.nn.relu",
    ];
    let mut n = 0;
    for op in ops {
        let build = builder_for(op).unwrap();
        for case in f.op_cases_for(op) {
            check_case(case, &*build, 1e-5, 1e-6);
            n += 1;
        }
    }
    assert_eq!(n, 10);
}

#[test]
fn fixtures_matmul() {
    let f = load("math");
    let mut n = 0;
    for case in f.op_cases_for("tf.matmul") {
        let (ta, tb) = (case.attr_bool("transpose_a"), case.attr_bool("transpose_b"));
        check_case(case, &move |s, t| math::matmul(s, t[0], t[1], ta, tb), 1e-5, 1e-5);
        n += 1;
    }
    assert_eq!(n, 4, "matmul_ta{{0,1}}_tb{{0,1}}");
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn eval(g: &Graph, t: Tensor) -> Value {
    Session::new(g).run([t], &[]).unwrap().remove(0)
}

fn build_err(r: Result<Tensor>) -> String {
    match r {
        Err(e @ Error::Build { .. }) => e.to_string(),
        Err(e) => panic!("expected a build error, got {e}"),
        Ok(t) => panic!("expected a build error, got {t:?}"),
    }
}

fn grid(rows: usize, cols: usize, seed: f64) -> Value {
    Value::from(Array2::from_shape_fn((rows, cols), |(i, j)| ((i * cols + j) as f64 * 0.37 + seed).sin()))
}

// ---------------------------------------------------------------------------------------------
// matmul

#[test]
fn matmul_values_all_transposes() {
    let a = array![[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0]]; // [2, 3]
    let b = array![[1.0f64, 0.0], [0.0, 1.0], [1.0, 1.0]]; // [3, 2]
    let want = a.dot(&b);
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        let g = Graph::new();
        let s = g.root();
        let av = if ta { a.t().to_owned() } else { a.clone() };
        let bv = if tb { b.t().to_owned() } else { b.clone() };
        let c = math::matmul(&s, constant(&s, av).unwrap(), constant(&s, bv).unwrap(), ta, tb).unwrap();
        assert_eq!(c.shape(&s).unwrap(), Shape::from([2, 2]));
        assert_close(&eval(&g, c), &Value::from(want.clone()), 0.0, 1e-12);
    }
}

#[test]
fn matmul_large_matches_naive() {
    let (m, k, n) = (67, 129, 33);
    let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 * 0.1 - 0.5);
    let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.05 - 0.3);
    let mut want = Array2::<f64>::zeros((m, n));
    for i in 0..m {
        for j in 0..n {
            want[[i, j]] = (0..k).map(|p| f64::from(a[[i, p]]) * f64::from(b[[p, j]])).sum();
        }
    }
    let g = Graph::new();
    let s = g.root();
    let c = math::matmul(&s, constant(&s, a).unwrap(), constant(&s, b).unwrap(), false, false).unwrap();
    assert_close(&eval(&g, c).cast(DType::F64), &Value::from(want), 1e-5, 1e-5);
}

#[test]
fn matmul_integers() {
    let g = Graph::new();
    let s = g.root();
    let a = constant(&s, array![[1i32, 2], [3, 4]]).unwrap();
    let b = constant(&s, array![[5i32, 6], [7, 8]]).unwrap();
    let c = math::matmul(&s, a, b, false, true).unwrap();
    assert_eq!(eval(&g, c).to_vec::<i32>().unwrap(), vec![17, 23, 39, 53]);
    let a = constant(&s, array![[i64::MAX, 1]]).unwrap();
    let b = constant(&s, array![[2i64], [3]]).unwrap();
    // Wraps instead of panicking on overflow.
    let c = math::matmul(&s, a, b, false, false).unwrap();
    assert_eq!(eval(&g, c).to_vec::<i64>().unwrap(), vec![i64::MAX.wrapping_mul(2).wrapping_add(3)]);
}

#[test]
fn matmul_batched_values() {
    let a = Array3::from_shape_fn((3, 2, 4), |(b, i, j)| (b * 8 + i * 4 + j) as f32 * 0.1);
    let bm = Array3::from_shape_fn((3, 4, 5), |(b, i, j)| ((b + i * 5 + j) % 7) as f32 - 3.0);
    let g = Graph::new();
    let s = g.root();
    let c =
        math::matmul(&s, constant(&s, a.clone()).unwrap(), constant(&s, bm.clone()).unwrap(), false, false).unwrap();
    assert_eq!(c.shape(&s).unwrap(), Shape::from([3, 2, 5]));
    let out = eval(&g, c);
    let mut want = ArrayD::<f32>::zeros(IxDyn(&[3, 2, 5]));
    for b in 0..3 {
        let p = a.index_axis(ndarray::Axis(0), b).dot(&bm.index_axis(ndarray::Axis(0), b));
        want.index_axis_mut(ndarray::Axis(0), b).assign(&p.into_dyn());
    }
    assert_close(&out, &Value::from(want), 1e-6, 1e-6);
}

#[test]
fn matmul_gradients_all_transposes() {
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        let a = if ta { grid(4, 3, 0.1) } else { grid(3, 4, 0.1) };
        let b = if tb { grid(2, 4, 0.7) } else { grid(4, 2, 0.7) };
        check_gradients(move |s, t| math::matmul(s, t[0], t[1], ta, tb), &[a, b]);
    }
}

#[test]
fn matmul_batched_gradients() {
    let a = Value::from(Array3::from_shape_fn((2, 3, 4), |(b, i, j)| ((b * 12 + i * 4 + j) as f64 * 0.3).cos()));
    let b = Value::from(Array3::from_shape_fn((2, 4, 2), |(b, i, j)| ((b * 8 + i * 2 + j) as f64 * 0.5).sin()));
    check_gradients(|s, t| math::matmul(s, t[0], t[1], false, false), &[a.clone(), b.clone()]);
    let bt = Value::from(Array3::from_shape_fn((2, 2, 4), |(b, i, j)| ((b * 8 + i * 4 + j) as f64 * 0.5).sin()));
    check_gradients(|s, t| math::matmul(s, t[0], t[1], true, true), &[a.reshape(&[2, 4, 3]).unwrap(), bt]);
}

#[test]
fn matmul_shape_rules() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![None, 784]).unwrap();
    let w = placeholder(&s, DType::F32, shape![784, 10]).unwrap();
    assert_eq!(math::matmul(&s, x, w, false, false).unwrap().shape(&s).unwrap().to_string(), "[?, 10]");
    assert_eq!(math::matmul(&s, x, x, false, true).unwrap().shape(&s).unwrap().to_string(), "[?, ?]");
    assert_eq!(math::matmul(&s, x, x, true, false).unwrap().shape(&s).unwrap().to_string(), "[784, 784]");
    let u = placeholder(&s, DType::F32, Shape::unknown()).unwrap();
    assert_eq!(math::matmul(&s, x, u, false, false).unwrap().shape(&s).unwrap().to_string(), "[?, ?]");

    let msg = build_err(math::matmul(&s, x, w, false, true));
    assert!(msg.contains("inner dimensions differ (784 vs 10)") && msg.contains("[784, 10]"), "{msg}");
    let v = placeholder(&s, DType::F32, shape![784]).unwrap();
    assert!(build_err(math::matmul(&s, x, v, false, false)).contains("rank 2 or more"));
    let w64 = placeholder(&s, DType::F64, shape![784, 10]).unwrap();
    assert!(build_err(math::matmul(&s, x, w64, false, false)).contains("same dtype"));
    let bb = placeholder(&s, DType::Bool, shape![2, 2]).unwrap();
    assert!(build_err(math::matmul(&s, bb, bb, false, false)).contains("bool"));
    let a3 = placeholder(&s, DType::F32, shape![2, 3, 4]).unwrap();
    let b3 = placeholder(&s, DType::F32, shape![5, 4, 6]).unwrap();
    assert!(build_err(math::matmul(&s, a3, b3, false, false)).contains("batch dimensions differ"));
    assert!(build_err(math::matmul(&s, a3, w, false, false)).contains("same rank"));
}

#[test]
fn matmul_runtime_shape_error() {
    let g = Graph::new();
    let s = g.root();
    let a = placeholder(&s, DType::F32, shape![None, None]).unwrap();
    let b = placeholder(&s, DType::F32, shape![None, None]).unwrap();
    let c = math::matmul(&s, a, b, false, false).unwrap();
    let feeds = vec![(a, Value::from(Array2::<f32>::zeros((2, 3)))), (b, Value::from(Array2::<f32>::zeros((4, 2))))];
    let err = Session::new(&g).run([c], &feeds).unwrap_err().to_string();
    assert!(err.contains("inner dimensions differ (3 vs 4)") && err.contains("MatMul"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// comparisons, logical ops, where_

#[test]
fn comparisons_broadcast_to_bool() {
    let g = Graph::new();
    let s = g.root();
    let a = constant(&s, array![[1.0f32, 2.0, 3.0], [3.0, 2.0, 1.0]]).unwrap();
    let b = constant(&s, vec![2.0f32, 2.0, 2.0]).unwrap();
    type Cmp = fn(&Scope, Tensor, Tensor) -> Result<Tensor>;
    let cases: [(Cmp, [bool; 6]); 6] = [
        (|s, a, b| math::equal(s, a, b), [false, true, false, false, true, false]),
        (|s, a, b| math::not_equal(s, a, b), [true, false, true, true, false, true]),
        (|s, a, b| math::less(s, a, b), [true, false, false, false, false, true]),
        (|s, a, b| math::less_equal(s, a, b), [true, true, false, false, true, true]),
        (|s, a, b| math::greater(s, a, b), [false, false, true, true, false, false]),
        (|s, a, b| math::greater_equal(s, a, b), [false, true, true, true, true, false]),
    ];
    for (f, want) in cases {
        let c = f(&s, a, b).unwrap();
        assert_eq!(c.dtype(&s).unwrap(), DType::Bool);
        assert_eq!(c.shape(&s).unwrap(), Shape::from([2, 3]));
        assert_eq!(eval(&g, c).to_vec::<bool>().unwrap(), want.to_vec());
    }
    // Integers, literals, and NaN (every comparison false but !=).
    let i = constant(&s, vec![1i32, 5, 9]).unwrap();
    assert_eq!(eval(&g, math::greater(&s, i, 4i32).unwrap()).to_vec::<bool>().unwrap(), vec![false, true, true]);
    let nan = constant(&s, vec![f64::NAN]).unwrap();
    assert_eq!(eval(&g, math::equal(&s, nan, nan).unwrap()).to_vec::<bool>().unwrap(), vec![false]);
    assert_eq!(eval(&g, math::not_equal(&s, nan, nan).unwrap()).to_vec::<bool>().unwrap(), vec![true]);
    assert_eq!(eval(&g, math::less_equal(&s, nan, 1.0f64).unwrap()).to_vec::<bool>().unwrap(), vec![false]);
    // bool equality.
    let t = constant(&s, vec![true, false]).unwrap();
    assert_eq!(eval(&g, math::equal(&s, t, true).unwrap()).to_vec::<bool>().unwrap(), vec![true, false]);
}

#[test]
fn comparison_shape_rules() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![None, 3]).unwrap();
    let y = placeholder(&s, DType::F32, shape![4, 1]).unwrap();
    assert_eq!(math::less(&s, x, y).unwrap().shape(&s).unwrap().to_string(), "[4, 3]");
    let z = placeholder(&s, DType::F32, shape![2]).unwrap();
    assert!(build_err(math::equal(&s, x, z)).contains("cannot be broadcast"));
    let i = placeholder(&s, DType::I32, shape![3]).unwrap();
    assert!(build_err(math::equal(&s, x, i)).contains("same dtype"));
    let b = placeholder(&s, DType::Bool, shape![3]).unwrap();
    assert!(build_err(math::less(&s, b, b)).contains("not defined for bool"));
    assert!(math::equal(&s, b, b).is_ok());
}

#[test]
fn logical_ops() {
    let g = Graph::new();
    let s = g.root();
    let a = constant(&s, array![[true, false], [true, true]]).unwrap();
    let b = constant(&s, vec![true, false]).unwrap();
    assert_eq!(
        eval(&g, math::logical_and(&s, a, b).unwrap()).to_vec::<bool>().unwrap(),
        vec![true, false, true, false]
    );
    assert_eq!(eval(&g, math::logical_or(&s, a, b).unwrap()).to_vec::<bool>().unwrap(), vec![true, false, true, true]);
    assert_eq!(eval(&g, math::logical_not(&s, b).unwrap()).to_vec::<bool>().unwrap(), vec![false, true]);
    assert_eq!(eval(&g, math::logical_or(&s, b, false).unwrap()).to_vec::<bool>().unwrap(), vec![true, false]);
    let f = constant(&s, vec![1.0f32, 0.0]).unwrap();
    assert!(build_err(math::logical_and(&s, f, f)).contains("must be bool"));
    assert!(build_err(math::logical_not(&s, f)).contains("must be bool"));
    let c = constant(&s, vec![true, false, true]).unwrap();
    assert!(build_err(math::logical_and(&s, b, c)).contains("cannot be broadcast"));
}

#[test]
fn where_values_and_broadcasting() {
    let g = Graph::new();
    let s = g.root();
    let cond = constant(&s, array![[true], [false]]).unwrap(); // [2, 1]
    let x = constant(&s, array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]).unwrap();
    let y = constant(&s, vec![-1.0f32, -2.0, -3.0]).unwrap();
    let w = math::where_(&s, cond, x, y).unwrap();
    assert_eq!(w.shape(&s).unwrap(), Shape::from([2, 3]));
    assert_eq!(eval(&g, w).to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, -1.0, -2.0, -3.0]);
    let i = math::where_(&s, cond, 7i64, constant(&s, vec![0i64, 1]).unwrap()).unwrap();
    assert_eq!(eval(&g, i).to_vec::<i64>().unwrap(), vec![7, 7, 0, 1]);

    let p = placeholder(&s, DType::Bool, shape![None, 1]).unwrap();
    let q = placeholder(&s, DType::F32, shape![None, 3]).unwrap();
    assert_eq!(math::where_(&s, p, q, 0.0f32).unwrap().shape(&s).unwrap().to_string(), "[?, 3]");
    assert!(build_err(math::where_(&s, x, x, y)).contains("must be bool"));
    let yi = constant(&s, vec![1i32, 2, 3]).unwrap();
    assert!(build_err(math::where_(&s, cond, x, yi)).contains("same dtype"));
    let y4 = constant(&s, vec![1.0f32; 4]).unwrap();
    assert!(build_err(math::where_(&s, cond, x, y4)).contains("cannot be broadcast"));
}

#[test]
fn where_gradients() {
    let cond = Value::from(array![[true, false, true], [false, false, true]]);
    let x = grid(2, 3, 0.2);
    let y = grid(2, 3, 1.3);
    check_gradients(
        |s, t| math::where_(s, t[0], math::square(s, t[1])?, math::exp(s, t[2])?),
        &[cond.clone(), x.clone(), y],
    );
    // Broadcasting: x [2, 3], y [3], cond [2, 1]; each gradient is summed to its operand's shape.
    let cond = Value::from(array![[true], [false]]);
    let y = Value::from(vec![0.5f64, -1.0, 2.0]);
    check_gradients(|s, t| math::where_(s, t[0], t[1], t[2]), &[cond.clone(), x.clone(), y.clone()]);
    check_gradients(|s, t| math::where_(s, t[0], t[2], t[1]), &[cond, x, y]);
}

#[test]
fn comparisons_carry_no_gradient() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![3]).unwrap();
    let c = math::greater(&s, x, 0.0f32).unwrap();
    let y = math::where_(&s, c, x, 0.0f32).unwrap();
    let grads = gradients(&s, &[y], &[x], None).unwrap();
    let out = Session::new(&g).run([grads[0].unwrap()], &[(x, Value::from(vec![-1.0f32, 2.0, 3.0]))]).unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![0.0, 1.0, 1.0]);
    let only_cmp = gradients(&s, &[ferroflow_ops::array::cast(&s, c, DType::F32).unwrap()], &[x], None);
    assert!(only_cmp.unwrap()[0].is_none());
}

// ---------------------------------------------------------------------------------------------
// argmax / argmin

#[test]
fn argmax_argmin_values() {
    let g = Graph::new();
    let s = g.root();
    let x = constant(&s, array![[[1.0f32, 9.0], [3.0, 3.0]], [[5.0, 2.0], [5.0, 8.0]]]).unwrap(); // [2, 2, 2]
    let cases = [
        (0i64, vec![1i64, 0, 1, 1], vec![0i64, 1, 0, 0]),
        (1, vec![1, 0, 0, 1], vec![0, 1, 0, 0]),
        (-1, vec![1, 0, 0, 1], vec![0, 0, 1, 0]),
    ];
    for (axis, amax, amin) in cases {
        let a = math::argmax(&s, x, axis).unwrap();
        assert_eq!(a.dtype(&s).unwrap(), DType::I64);
        assert_eq!(a.shape(&s).unwrap(), Shape::from([2, 2]));
        assert_eq!(eval(&g, a).to_vec::<i64>().unwrap(), amax, "argmax axis {axis}");
        assert_eq!(eval(&g, math::argmin(&s, x, axis).unwrap()).to_vec::<i64>().unwrap(), amin, "argmin axis {axis}");
    }
    let i = constant(&s, vec![3i32, 7, 7, -1]).unwrap();
    assert_eq!(eval(&g, math::argmax(&s, i, 0).unwrap()).scalar::<i64>().unwrap(), 1, "ties give the first index");
    assert_eq!(eval(&g, math::argmin(&s, i, 0).unwrap()).scalar::<i64>().unwrap(), 3);
}

#[test]
fn argmax_shape_rules() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![None, 10]).unwrap();
    assert_eq!(math::argmax(&s, x, 1).unwrap().shape(&s).unwrap().to_string(), "[?]");
    assert_eq!(math::argmin(&s, x, 0).unwrap().shape(&s).unwrap().to_string(), "[10]");
    let u = placeholder(&s, DType::F32, Shape::unknown()).unwrap();
    assert_eq!(math::argmax(&s, u, 3).unwrap().shape(&s).unwrap(), Shape::unknown());
    assert!(build_err(math::argmax(&s, x, 2)).contains("out of range"));
    assert!(build_err(math::argmax(&s, x, -3)).contains("out of range"));
    let b = placeholder(&s, DType::Bool, shape![3]).unwrap();
    assert!(build_err(math::argmax(&s, b, 0)).contains("bool"));
    let e = placeholder(&s, DType::F32, shape![2, 0]).unwrap();
    assert!(build_err(math::argmax(&s, e, 1)).contains("size 0"));
    // At run time too.
    let r = placeholder(&s, DType::F32, shape![None, None]).unwrap();
    let a = math::argmax(&s, r, 1).unwrap();
    let err = Session::new(&g).run([a], &[(r, Value::from(Array2::<f32>::zeros((2, 0))))]).unwrap_err();
    assert!(err.to_string().contains("size 0"), "{err}");
    // No gradient.
    let f = math::argmax(&s, x, 1).unwrap();
    let y = ferroflow_ops::array::cast(&s, f, DType::F32).unwrap();
    assert!(gradients(&s, &[y], &[x], None).unwrap()[0].is_none());
}

#[test]
fn matmul_f32_gradient_check() {
    ferroflow_testing::check_gradients_with(
        &GradCheck::f32(),
        |s, t| math::matmul(s, t[0], t[1], false, true),
        &[grid(2, 3, 0.3), grid(4, 3, 0.9)],
    );
}

// ---------------------------------------------------------------------------------------------
// Integer division, floordiv and floormod: TF's results, errors instead of panics or wraps

fn run_err(g: &Graph, t: Tensor) -> String {
    let e = Session::new(g).run([t], &[]).unwrap_err();
    assert!(matches!(e, Error::Kernel { .. }), "{e}");
    e.to_string()
}

#[test]
fn integer_division_overflow_is_an_error_naming_the_node() {
    let g = Graph::new();
    let s = g.root();
    for (name, a, b) in [
        ("d32", Value::from(vec![6i32, i32::MIN]), Value::from(vec![3i32, -1])),
        ("d64", Value::from(vec![i64::MIN]), Value::from(vec![-1i64])),
    ] {
        let (a, b) = (constant(&s, a).unwrap(), constant(&s, b).unwrap());
        let e = run_err(&g, math::div(&s.with_name(name), a, b).unwrap());
        assert!(e.starts_with(&format!("RealDiv '{name}' failed at run time: integer division overflow")), "{e}");
        let e = run_err(&g, math::floordiv(&s.with_name(&format!("f{name}")), a, b).unwrap());
        assert!(e.starts_with(&format!("FloorDiv 'f{name}' failed at run time: integer division overflow")), "{e}");
    }
    let x = constant(&s, vec![i32::MIN]).unwrap();
    let e = run_err(&g, math::div(&s.with_name("q"), x, 0i32).unwrap());
    assert!(e.contains("'q' failed at run time: integer division by zero: -2147483648 / 0 (int32)"), "{e}");
    let e = run_err(&g, math::floormod(&s.with_name("m"), x, 0i32).unwrap());
    assert!(e.contains("'m' failed at run time: integer division by zero in the modulo"), "{e}");
}

#[test]
fn floordiv_and_floormod_values() {
    let g = Graph::new();
    let s = g.root();
    let a = constant(&s, vec![7i32, -7, 7, -7, 0, i32::MIN, i32::MIN, i32::MAX]).unwrap();
    let b = constant(&s, vec![2i32, 2, -2, -2, 5, -1, 1, -1]).unwrap();
    // Python/TF: 7 // 2 = 3, -7 // 2 = -4, 7 // -2 = -4, -7 // -2 = 3; % takes b's sign.
    assert_eq!(eval(&g, math::floormod(&s, a, b).unwrap()).to_vec::<i32>().unwrap(), vec![1, 1, -1, -1, 0, 0, 0, 0]);
    let b2 = constant(&s, vec![2i32, 2, -2, -2, 5, 2, 1, -1]).unwrap();
    assert_eq!(
        eval(&g, math::floordiv(&s, a, b2).unwrap()).to_vec::<i32>().unwrap(),
        vec![3, -4, -4, 3, 0, i32::MIN / 2, i32::MIN, -i32::MAX]
    );
    let a64 = constant(&s, vec![i64::MIN, -1, 9]).unwrap();
    let b64 = constant(&s, vec![-1i64, i64::MAX, -4]).unwrap();
    assert_eq!(eval(&g, math::floormod(&s, a64, b64).unwrap()).to_vec::<i64>().unwrap(), vec![0, i64::MAX - 1, -3]);
    // Truncating integer division is unchanged.
    assert_eq!(
        eval(&g, math::div(&s, a, b2).unwrap()).to_vec::<i32>().unwrap(),
        vec![3, -3, -3, 3, 0, i32::MIN / 2, i32::MIN, -i32::MAX]
    );
    let x = constant(&s, vec![7.5f64, -7.5, 7.5, -7.5, 6.0]).unwrap();
    let y = constant(&s, vec![2.0f64, 2.0, -2.0, -2.0, 3.0]).unwrap();
    assert_eq!(eval(&g, math::floormod(&s, x, y).unwrap()).to_vec::<f64>().unwrap(), vec![1.5, 0.5, -0.5, -1.5, 0.0]);
    assert_eq!(eval(&g, math::floordiv(&s, x, y).unwrap()).to_vec::<f64>().unwrap(), vec![3.0, -4.0, -4.0, 3.0, 2.0]);
}

#[test]
fn integer_pow_overflow_and_negative_exponents_are_errors() {
    let g = Graph::new();
    let s = g.root();
    let two = constant(&s, vec![2i32]).unwrap();
    assert_eq!(eval(&g, math::pow(&s, two, 30i32).unwrap()).to_vec::<i32>().unwrap(), vec![1 << 30]);
    // Was computed in i64 and wrapped to i32::MIN.
    let e = run_err(&g, math::pow(&s.with_name("p"), two, 31i32).unwrap());
    assert!(e.contains("'p' failed at run time: integer overflow: 2 ** 31 does not fit in int32"), "{e}");
    let e = run_err(&g, math::pow(&s.with_name("n"), two, -1i32).unwrap());
    assert!(e.contains("integers to negative integer powers are not allowed"), "{e}");
    let m1 = constant(&s, vec![-1i64, 1, 0]).unwrap();
    assert_eq!(eval(&g, math::pow(&s, m1, 1i64 << 40).unwrap()).to_vec::<i64>().unwrap(), vec![1, 1, 0]);
}

#[test]
fn floormod_gradient_and_floordiv_has_none() {
    let a = Value::from(ndarray::arr1(&[7.3f64, -5.2, 2.9, 0.4]));
    let b = Value::from(ndarray::arr1(&[2.0f64, 1.7, -1.1, 0.9]));
    check_gradients(|s, t| math::floormod(s, t[0], t[1]), &[a, b]);
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F64, shape![3]).unwrap();
    let y = math::floordiv(&s, x, 2.0f64).unwrap();
    let gr = gradients(&s, &[y], &[x], None).unwrap();
    assert!(gr[0].is_none());
}
