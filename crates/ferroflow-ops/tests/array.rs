//! Array ops: reshape, flatten, expand_dims, squeeze, transpose, concat, cast, one_hot —
//! values, static shape rules (with unknown dims), errors, and numeric gradient checks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, DType, Error, Graph, Result, Shape, Tensor, Value};
use ferroflow_ops::{array, constant, math, placeholder};
use ferroflow_session::Session;
use ferroflow_testing::{assert_close, check_gradients};
use ferroflow_train::gradients;
use ndarray::{array, Array2, Array3, ArrayD, IxDyn};

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

fn seq(dims: &[usize]) -> Value {
    let n: usize = dims.iter().product();
    Value::from(ArrayD::from_shape_vec(IxDyn(dims), (0..n).map(|i| ((i as f64) * 0.61 + 0.2).sin()).collect()).unwrap())
}

/// Builds `f(x)` on a placeholder of static shape `ph_shape`, feeds `x`, and returns the output
/// and the gradient of Σ output · w (w = 1, 2, 3, …) w.r.t. `x`.
fn run_with_grad(
    ph_shape: Shape,
    x: &Value,
    f: impl Fn(&ferroflow_core::Scope, Tensor) -> Result<Tensor>,
) -> (Value, Value) {
    let g = Graph::new();
    let s = g.root();
    let p = placeholder(&s, x.dtype(), ph_shape).unwrap();
    let y = f(&s, p).unwrap();
    let sess = Session::new(&g);
    let out = sess.run([y], &[(p, x.clone())]).unwrap().remove(0);
    let w = Value::from_shape_vec(out.shape(), (1..=out.len()).map(|i| i as f64).collect()).unwrap().cast(x.dtype());
    let wt = constant(&s, w).unwrap();
    let loss = math::mul(&s, y, wt).unwrap();
    let dx = gradients(&s, &[loss], &[p], None).unwrap()[0].unwrap();
    let grad = sess.run([dx], &[(p, x.clone())]).unwrap().remove(0);
    (out, grad)
}

// ---------------------------------------------------------------------------------------------
// reshape

#[test]
fn reshape_values_and_minus_one() {
    let g = Graph::new();
    let s = g.root();
    let x = constant(&s, Value::from((0..12).collect::<Vec<i64>>())).unwrap();
    let r = array::reshape(&s, x, &[3, -1]).unwrap();
    assert_eq!(r.shape(&s).unwrap(), Shape::from([3, 4]));
    let v = eval(&g, r);
    assert_eq!(v.shape(), &[3, 4]);
    assert_eq!(v.to_vec::<i64>().unwrap(), (0..12).collect::<Vec<_>>());
    let r = array::reshape(&s, x, &[2, 2, 3]).unwrap();
    assert_eq!(eval(&g, r).shape(), &[2, 2, 3]);
    let sc = array::reshape(&s, constant(&s, vec![5.0f32]).unwrap(), &[]).unwrap();
    assert_eq!(sc.shape(&s).unwrap(), Shape::scalar());
    assert_eq!(eval(&g, sc).shape(), &[] as &[usize]);
}

#[test]
fn reshape_static_shapes() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![None, 28, 28, 1]).unwrap();
    assert_eq!(array::reshape(&s, x, &[-1, 784]).unwrap().shape(&s).unwrap().to_string(), "[?, 784]");
    assert_eq!(array::reshape(&s, x, &[-1, 28, 28]).unwrap().shape(&s).unwrap().to_string(), "[?, 28, 28]");
    assert_eq!(array::reshape(&s, x, &[50, 784]).unwrap().shape(&s).unwrap().to_string(), "[50, 784]");
    let u = placeholder(&s, DType::F32, Shape::unknown()).unwrap();
    assert_eq!(array::reshape(&s, u, &[-1, 3]).unwrap().shape(&s).unwrap().to_string(), "[?, 3]");
    assert_eq!(array::reshape(&s, u, &[2, 3]).unwrap().shape(&s).unwrap().to_string(), "[2, 3]");
    let k = placeholder(&s, DType::F32, shape![4, 6]).unwrap();
    assert_eq!(array::reshape(&s, k, &[-1, 8]).unwrap().shape(&s).unwrap().to_string(), "[3, 8]");
    let e = placeholder(&s, DType::F32, shape![0, 6]).unwrap();
    assert_eq!(array::reshape(&s, e, &[-1, 3]).unwrap().shape(&s).unwrap().to_string(), "[0, 3]");
}

#[test]
fn reshape_errors() {
    let g = Graph::new();
    let s = g.root();
    let k = placeholder(&s, DType::F32, shape![4, 6]).unwrap();
    assert!(build_err(array::reshape(&s, k, &[-1, -1])).contains("more than one -1"));
    assert!(build_err(array::reshape(&s, k, &[-2, 12])).contains("negative dimension -2"));
    let msg = build_err(array::reshape(&s, k, &[5, 5]));
    assert!(msg.contains("[4, 6] (24 elements)") && msg.contains("[5, 5] (25 elements)"), "{msg}");
    assert!(build_err(array::reshape(&s, k, &[-1, 5])).contains("not a multiple of 5"));
    assert!(build_err(array::reshape(&s, k, &[-1, 0])).contains("multiply to 0"));
    let x = placeholder(&s, DType::F32, shape![None, 28, 28, 1]).unwrap();
    assert!(build_err(array::reshape(&s, x, &[10, 100])).contains("a multiple of 784"));
    // Run time: element counts checked against the fed value.
    let p = placeholder(&s, DType::F32, shape![None, 3]).unwrap();
    let r = array::reshape(&s, p, &[-1, 2]).unwrap();
    let err = Session::new(&g).run([r], &[(p, Value::from(Array2::<f32>::zeros((3, 3))))]).unwrap_err().to_string();
    assert!(err.contains("not a multiple of 2") && err.contains("Reshape"), "{err}");
}

#[test]
fn reshape_gradients() {
    check_gradients(|s, t| array::reshape(s, t[0], &[3, -1]), &[seq(&[2, 3, 2])]);
    check_gradients(|s, t| array::reshape(s, math::square(s, t[0])?, &[-1]), &[seq(&[2, 3])]);
    // Partly known input shape: the gradient reshapes to the run-time shape.
    let x = seq(&[4, 3]);
    let (out, dx) = run_with_grad(shape![None, 3], &x, |s, p| array::reshape(s, p, &[-1]));
    assert_eq!(out.shape(), &[12]);
    assert_eq!(dx.shape(), &[4, 3]);
    assert_eq!(dx.to_vec::<f64>().unwrap(), (1..=12).map(f64::from).collect::<Vec<_>>());
    let (_, dx) = run_with_grad(Shape::unknown(), &x, |s, p| array::reshape(s, p, &[2, 6]));
    assert_eq!(dx.shape(), &[4, 3]);
}

#[test]
fn reshape_like_checks_counts() {
    let g = Graph::new();
    let s = g.root();
    let a = placeholder(&s, DType::F32, shape![2, 3]).unwrap();
    let b = placeholder(&s, DType::F32, shape![5]).unwrap();
    assert!(build_err(array::reshape_like(&s, a, b)).contains("6 elements"));
    let c = placeholder(&s, DType::F32, shape![None]).unwrap();
    let r = array::reshape_like(&s, a, c).unwrap();
    assert_eq!(r.shape(&s).unwrap().to_string(), "[?]");
    let feeds = vec![(a, Value::from(Array2::<f32>::zeros((2, 3)))), (c, Value::from(vec![0.0f32; 6]))];
    assert_eq!(Session::new(&g).run([r], &feeds).unwrap()[0].shape(), &[6]);
    let feeds = vec![(a, Value::from(Array2::<f32>::zeros((2, 3)))), (c, Value::from(vec![0.0f32; 5]))];
    assert!(Session::new(&g).run([r], &feeds).is_err());
}

// ---------------------------------------------------------------------------------------------
// flatten, expand_dims, squeeze

#[test]
fn flatten_keeps_dim0() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![None, 7, 7, 64]).unwrap();
    assert_eq!(array::flatten(&s, x).unwrap().shape(&s).unwrap().to_string(), "[?, 3136]");
    let y = placeholder(&s, DType::F32, shape![8, None, 2]).unwrap();
    assert_eq!(array::flatten(&s, y).unwrap().shape(&s).unwrap().to_string(), "[8, ?]");
    let v = placeholder(&s, DType::F32, shape![5]).unwrap();
    assert_eq!(array::flatten(&s, v).unwrap().shape(&s).unwrap().to_string(), "[5, 1]");
    let u = placeholder(&s, DType::F32, Shape::unknown()).unwrap();
    assert_eq!(array::flatten(&s, u).unwrap().shape(&s).unwrap().to_string(), "[?, ?]");
    let sc = constant(&s, 1.0f32).unwrap();
    assert!(build_err(array::flatten(&s, sc)).contains("scalar"));
    // Empty batch works (no -1 to infer).
    let f = array::flatten(&s, x).unwrap();
    let out = Session::new(&g).run([f], &[(x, Value::zeros(DType::F32, &[0, 7, 7, 64]))]).unwrap();
    assert_eq!(out[0].shape(), &[0, 3136]);
    check_gradients(|s, t| array::flatten(s, t[0]), &[seq(&[2, 3, 2])]);
    let (out, dx) = run_with_grad(shape![None, 2, 2], &seq(&[3, 2, 2]), array::flatten);
    assert_eq!(out.shape(), &[3, 4]);
    assert_eq!(dx.shape(), &[3, 2, 2]);
}

#[test]
fn expand_dims_rules() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![None, 3]).unwrap();
    for (axis, want) in [(0, "[1, ?, 3]"), (1, "[?, 1, 3]"), (2, "[?, 3, 1]"), (-1, "[?, 3, 1]"), (-3, "[1, ?, 3]")] {
        assert_eq!(array::expand_dims(&s, x, axis).unwrap().shape(&s).unwrap().to_string(), want, "axis {axis}");
    }
    assert!(build_err(array::expand_dims(&s, x, 3)).contains("out of range [-3, 2]"));
    assert!(build_err(array::expand_dims(&s, x, -4)).contains("out of range"));
    let u = placeholder(&s, DType::F32, Shape::unknown()).unwrap();
    assert_eq!(array::expand_dims(&s, u, 5).unwrap().shape(&s).unwrap(), Shape::unknown());
    let c = constant(&s, array![[1i32, 2], [3, 4]]).unwrap();
    let e = eval(&g, array::expand_dims(&s, c, 1).unwrap());
    assert_eq!(e.shape(), &[2, 1, 2]);
    assert_eq!(e.to_vec::<i32>().unwrap(), vec![1, 2, 3, 4]);
    assert_eq!(eval(&g, array::expand_dims(&s, constant(&s, 3.0f32).unwrap(), 0).unwrap()).shape(), &[1]);
    check_gradients(|s, t| array::expand_dims(s, t[0], -1), &[seq(&[2, 3])]);
    let (_, dx) = run_with_grad(shape![None, 3], &seq(&[2, 3]), |s, p| array::expand_dims(s, p, 0));
    assert_eq!(dx.shape(), &[2, 3]);
}

#[test]
fn squeeze_rules() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![1, 2, 1, 3]).unwrap();
    assert_eq!(array::squeeze(&s, x, &[]).unwrap().shape(&s).unwrap().to_string(), "[2, 3]");
    assert_eq!(array::squeeze(&s, x, &[0]).unwrap().shape(&s).unwrap().to_string(), "[2, 1, 3]");
    assert_eq!(array::squeeze(&s, x, &[-2, 0]).unwrap().shape(&s).unwrap().to_string(), "[2, 3]");
    let msg = build_err(array::squeeze(&s, x, &[1]));
    assert!(msg.contains("axis 1") && msg.contains("size is 2"), "{msg}");
    assert!(build_err(array::squeeze(&s, x, &[4])).contains("out of range"));
    let p = placeholder(&s, DType::F32, shape![None, 1, 3]).unwrap();
    assert_eq!(array::squeeze(&s, p, &[1]).unwrap().shape(&s).unwrap().to_string(), "[?, 3]");
    assert_eq!(
        array::squeeze(&s, p, &[0]).unwrap().shape(&s).unwrap().to_string(),
        "[1, 3]",
        "an unknown dim is assumed to be 1"
    );
    assert_eq!(array::squeeze(&s, p, &[]).unwrap().shape(&s).unwrap(), Shape::unknown(), "an unknown dim may be 1");
    // Run time.
    let q = array::squeeze(&s, p, &[0]).unwrap();
    let sess = Session::new(&g);
    assert_eq!(sess.run([q], &[(p, Value::zeros(DType::F32, &[1, 1, 3]))]).unwrap()[0].shape(), &[1, 3]);
    let err = sess.run([q], &[(p, Value::zeros(DType::F32, &[2, 1, 3]))]).unwrap_err().to_string();
    assert!(err.contains("cannot squeeze axis 0"), "{err}");
    let all = array::squeeze(&s, p, &[]).unwrap();
    assert_eq!(sess.run([all], &[(p, Value::zeros(DType::F32, &[1, 1, 3]))]).unwrap()[0].shape(), &[3]);
    check_gradients(|s, t| array::squeeze(s, t[0], &[]), &[seq(&[1, 2, 1, 3])]);
    let (out, dx) = run_with_grad(shape![None, 1, 3], &seq(&[2, 1, 3]), |s, p| array::squeeze(s, p, &[]));
    assert_eq!(out.shape(), &[2, 3]);
    assert_eq!(dx.shape(), &[2, 1, 3]);
}

// ---------------------------------------------------------------------------------------------
// transpose

#[test]
fn transpose_values_and_shapes() {
    let g = Graph::new();
    let s = g.root();
    let a = Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (i * 12 + j * 4 + k) as f32);
    let x = constant(&s, a.clone()).unwrap();
    let t = array::transpose(&s, x, &[2, 0, 1]).unwrap();
    assert_eq!(t.shape(&s).unwrap(), Shape::from([4, 2, 3]));
    let want = a.view().permuted_axes([2, 0, 1]).as_standard_layout().into_owned();
    assert_close(&eval(&g, t), &Value::from(want), 0.0, 0.0);
    let r = array::transpose(&s, x, &[]).unwrap();
    assert_eq!(r.shape(&s).unwrap(), Shape::from([4, 3, 2]), "empty perm reverses the axes");
    let want = a.view().reversed_axes().as_standard_layout().into_owned();
    assert_close(&eval(&g, r), &Value::from(want), 0.0, 0.0);
    let b = constant(&s, array![[true, false]]).unwrap();
    assert_eq!(eval(&g, array::transpose(&s, b, &[1, 0]).unwrap()).shape(), &[2, 1]);

    let p = placeholder(&s, DType::F32, shape![None, 3]).unwrap();
    assert_eq!(array::transpose(&s, p, &[]).unwrap().shape(&s).unwrap().to_string(), "[3, ?]");
    let u = placeholder(&s, DType::F32, Shape::unknown()).unwrap();
    assert_eq!(array::transpose(&s, u, &[1, 0, 2]).unwrap().shape(&s).unwrap().to_string(), "[?, ?, ?]");
    assert!(build_err(array::transpose(&s, p, &[0])).contains("1 entries for a tensor of rank 2"));
    assert!(build_err(array::transpose(&s, p, &[0, 0])).contains("not a permutation"));
    assert!(build_err(array::transpose(&s, p, &[0, 2])).contains("not a permutation"));
}

#[test]
fn transpose_all_permutation_shapes_match_ndarray() {
    // Covers the blocked 2-D and batched kernels (after dropping size-1 axes and merging
    // adjacent ones), the order-keeping reshape case, and the strided fallback.
    let cases: &[(&[usize], &[usize])] = &[
        (&[5, 7], &[1, 0]),
        (&[70, 33], &[1, 0]),
        (&[300, 260], &[1, 0]),
        (&[2, 3, 4, 5], &[0, 3, 1, 2]),
        (&[2, 3, 4, 5], &[0, 2, 3, 1]),
        (&[2, 3, 4, 5], &[3, 2, 1, 0]),
        (&[2, 3, 4, 5], &[1, 0, 3, 2]),
        (&[2, 1, 4, 1], &[3, 2, 0, 1]),
        (&[1, 6, 1], &[2, 1, 0]),
        (&[3, 0, 2], &[2, 0, 1]),
        (&[4, 40, 50], &[0, 2, 1]),
    ];
    for &(dims, perm) in cases {
        let n: usize = dims.iter().product();
        let a = ArrayD::from_shape_vec(IxDyn(dims), (0..n as i64).collect()).unwrap();
        let g = Graph::new();
        let s = g.root();
        let x = constant(&s, Value::from(a.clone())).unwrap();
        let out = eval(&g, array::transpose(&s, x, perm).unwrap());
        let want = a.view().permuted_axes(IxDyn(perm)).as_standard_layout().into_owned();
        assert_eq!(out, Value::from(want), "dims {dims:?} perm {perm:?}");
    }
}

#[test]
fn transpose_gradients() {
    check_gradients(|s, t| array::transpose(s, t[0], &[1, 2, 0]), &[seq(&[2, 3, 4])]);
    check_gradients(|s, t| array::transpose(s, t[0], &[]), &[seq(&[2, 3])]);
    let (out, dx) = run_with_grad(Shape::unknown(), &seq(&[2, 3, 4]), |s, p| array::transpose(s, p, &[2, 0, 1]));
    assert_eq!(out.shape(), &[4, 2, 3]);
    assert_eq!(dx.shape(), &[2, 3, 4]);
    // d/dx Σ transpose(x) · w = transpose⁻¹(w).
    let w = Value::from_shape_vec(&[4, 2, 3], (1..=24).map(f64::from).collect()).unwrap();
    let back = w.view::<f64>().unwrap().permuted_axes(IxDyn(&[1, 2, 0])).as_standard_layout().into_owned();
    assert_close(&dx, &Value::from(back), 0.0, 0.0);
}

// ---------------------------------------------------------------------------------------------
// concat

#[test]
fn concat_values_and_shapes() {
    let g = Graph::new();
    let s = g.root();
    let a = constant(&s, array![[1.0f32, 2.0], [3.0, 4.0]]).unwrap();
    let b = constant(&s, array![[5.0f32], [6.0]]).unwrap();
    let c = array::concat(&s, &[a, b, a], 1).unwrap();
    assert_eq!(c.shape(&s).unwrap(), Shape::from([2, 5]));
    assert_eq!(eval(&g, c).to_vec::<f32>().unwrap(), vec![1., 2., 5., 1., 2., 3., 4., 6., 3., 4.]);
    let c0 = array::concat(&s, &[a, a], -2).unwrap();
    assert_eq!(eval(&g, c0).to_vec::<f32>().unwrap(), vec![1., 2., 3., 4., 1., 2., 3., 4.]);
    let i = constant(&s, vec![1i64, 2]).unwrap();
    assert_eq!(eval(&g, array::concat(&s, &[i, i], 0).unwrap()).to_vec::<i64>().unwrap(), vec![1, 2, 1, 2]);
    assert_eq!(array::concat(&s, &[a], 0).unwrap().op().type_name(&s).unwrap(), "Identity");

    let p = placeholder(&s, DType::F32, shape![None, 3]).unwrap();
    let q = placeholder(&s, DType::F32, shape![4, 5]).unwrap();
    assert_eq!(array::concat(&s, &[p, q], 1).unwrap().shape(&s).unwrap().to_string(), "[4, 8]");
    assert_eq!(array::concat(&s, &[p, q, p], -1).unwrap().shape(&s).unwrap().to_string(), "[4, 11]");
    let r = placeholder(&s, DType::F32, shape![2, 3]).unwrap();
    assert_eq!(array::concat(&s, &[p, r], 0).unwrap().shape(&s).unwrap().to_string(), "[?, 3]");
    let u = placeholder(&s, DType::F32, Shape::unknown()).unwrap();
    assert_eq!(array::concat(&s, &[u, r], 0).unwrap().shape(&s).unwrap().to_string(), "[?, 3]");
    assert_eq!(array::concat(&s, &[u, u], 0).unwrap().shape(&s).unwrap(), Shape::unknown());
}

#[test]
fn concat_errors() {
    let g = Graph::new();
    let s = g.root();
    let p = placeholder(&s, DType::F32, shape![2, 3]).unwrap();
    let q = placeholder(&s, DType::F32, shape![4, 5]).unwrap();
    let msg = build_err(array::concat(&s, &[p, q], 0));
    assert!(msg.contains("dimension 1 (3 vs 5)") && msg.contains("[4, 5]"), "{msg}");
    assert!(build_err(array::concat(&s, &[p, p], 2)).contains("out of range"));
    let i = placeholder(&s, DType::I32, shape![2, 3]).unwrap();
    assert!(build_err(array::concat(&s, &[p, i], 0)).contains("one dtype"));
    let v = placeholder(&s, DType::F32, shape![3]).unwrap();
    assert!(build_err(array::concat(&s, &[p, v], 0)).contains("same rank"));
    let sc = constant(&s, 1.0f32).unwrap();
    assert!(build_err(array::concat(&s, &[sc, sc], 0)).contains("scalars"));
    assert!(matches!(array::concat(&s, &[], 0), Err(Error::Build { .. })));
    // Run time.
    let a = placeholder(&s, DType::F32, shape![None, None]).unwrap();
    let c = array::concat(&s, &[a, p], 1).unwrap();
    let err = Session::new(&g)
        .run([c], &[(a, Value::zeros(DType::F32, &[3, 1])), (p, Value::zeros(DType::F32, &[2, 3]))])
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match input 0"), "{err}");
}

#[test]
fn concat_gradients() {
    check_gradients(
        |s, t| array::concat(s, &[t[0], t[1], t[2]], 1),
        &[seq(&[2, 1, 3]), seq(&[2, 4, 3]), seq(&[2, 2, 3])],
    );
    check_gradients(|s, t| array::concat(s, &[t[0], math::square(s, t[1])?], 0), &[seq(&[1, 3]), seq(&[2, 3])]);
    // The same tensor twice: contributions add.
    check_gradients(|s, t| array::concat(s, &[t[0], t[0]], -1), &[seq(&[2, 3])]);
    // Partly known shapes: the split reads the run-time shapes.
    let g = Graph::new();
    let s = g.root();
    let a = placeholder(&s, DType::F32, shape![None, 2]).unwrap();
    let b = placeholder(&s, DType::F32, shape![None, 2]).unwrap();
    let c = array::concat(&s, &[a, b], 0).unwrap();
    let w = placeholder(&s, DType::F32, shape![None, 2]).unwrap();
    let gr = gradients(&s, &[c], &[a, b], Some(&[w])).unwrap();
    let wv = Value::from_shape_vec(&[5, 2], (0..10).map(|i| i as f32).collect()).unwrap();
    let feeds = vec![(a, Value::zeros(DType::F32, &[2, 2])), (b, Value::zeros(DType::F32, &[3, 2])), (w, wv)];
    let out = Session::new(&g).run([gr[0].unwrap(), gr[1].unwrap()], &feeds).unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![0., 1., 2., 3.]);
    assert_eq!(out[1].to_vec::<f32>().unwrap(), vec![4., 5., 6., 7., 8., 9.]);
}

#[test]
fn concat_second_order_gradient() {
    // With c = concat(x, x) weighted by w = concat(x, x): dc/dx·w = w[:3] + w[3:] = 2x, whose
    // own gradient (2) flows back through SplitLike's gradient.
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F64, shape![3]).unwrap();
    let c = array::concat(&s, &[x, x], 0).unwrap();
    let w = array::concat(&s, &[x, x], 0).unwrap();
    let dx = gradients(&s, &[c], &[x], Some(&[w])).unwrap()[0].unwrap();
    let ddx = gradients(&s, &[dx], &[x], None).unwrap()[0].unwrap();
    let out = Session::new(&g).run([dx, ddx], &[(x, Value::from(vec![1.0f64, 2.0, 3.0]))]).unwrap();
    assert_eq!(out[0].to_vec::<f64>().unwrap(), vec![2.0, 4.0, 6.0]);
    assert_eq!(out[1].to_vec::<f64>().unwrap(), vec![2.0, 2.0, 2.0]);
}

// ---------------------------------------------------------------------------------------------
// cast

#[test]
fn cast_values() {
    let g = Graph::new();
    let s = g.root();
    let x = constant(&s, vec![1.7f32, -1.7, 0.0, 2.5]).unwrap();
    let i = array::cast(&s, x, DType::I32).unwrap();
    assert_eq!((i.dtype(&s).unwrap(), i.shape(&s).unwrap()), (DType::I32, Shape::from([4])));
    assert_eq!(eval(&g, i).to_vec::<i32>().unwrap(), vec![1, -1, 0, 2]);
    assert_eq!(
        eval(&g, array::cast(&s, x, DType::Bool).unwrap()).to_vec::<bool>().unwrap(),
        vec![true, true, false, true]
    );
    let b = constant(&s, vec![true, false]).unwrap();
    assert_eq!(eval(&g, array::cast(&s, b, DType::F64).unwrap()).to_vec::<f64>().unwrap(), vec![1.0, 0.0]);
    assert_eq!(array::cast(&s, x, DType::F32).unwrap(), x, "same dtype returns the input");
    let d = eval(&g, array::cast(&s, x, DType::F64).unwrap());
    assert_close(&d, &Value::from(vec![1.7f32 as f64, -1.7f32 as f64, 0.0, 2.5]), 0.0, 0.0);
    let p = placeholder(&s, DType::I64, shape![None, 3]).unwrap();
    assert_eq!(array::cast(&s, p, DType::F32).unwrap().shape(&s).unwrap().to_string(), "[?, 3]");
}

#[test]
fn cast_gradients() {
    // f64 → f32 → f64 inside the checked function: the gradient is cast back at each step.
    ferroflow_testing::check_gradients_with(
        &ferroflow_testing::GradCheck::f32(),
        |s, t| math::square(s, array::cast(s, t[0], DType::F64)?),
        &[seq(&[2, 3])],
    );
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![3]).unwrap();
    let y = math::mul(&s, array::cast(&s, x, DType::F64).unwrap(), 3.0f64).unwrap();
    let dx = gradients(&s, &[y], &[x], None).unwrap()[0].unwrap();
    assert_eq!(dx.dtype(&s).unwrap(), DType::F32);
    let out = Session::new(&g).run([dx], &[(x, Value::from(vec![1.0f32, 2.0, 3.0]))]).unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![3.0, 3.0, 3.0]);
    // Through an integer: no gradient.
    let z = array::cast(&s, array::cast(&s, x, DType::I32).unwrap(), DType::F32).unwrap();
    assert!(gradients(&s, &[z], &[x], None).unwrap()[0].is_none());
}

// ---------------------------------------------------------------------------------------------
// one_hot

#[test]
fn one_hot_values_and_shapes() {
    let g = Graph::new();
    let s = g.root();
    let idx = constant(&s, array![[0i64, 3], [-1, 1]]).unwrap();
    let y = array::one_hot(&s, idx, 3, 5.0, -1.0, DType::F32).unwrap();
    assert_eq!((y.dtype(&s).unwrap(), y.shape(&s).unwrap()), (DType::F32, Shape::from([2, 2, 3])));
    let want = vec![5., -1., -1., /* 3 out of range */ -1., -1., -1., /* -1 */ -1., -1., -1., -1., 5., -1.];
    assert_eq!(eval(&g, y).to_vec::<f32>().unwrap(), want);
    let i32s = constant(&s, vec![2i32, 0]).unwrap();
    assert_eq!(
        eval(&g, array::one_hot(&s, i32s, 3, 1.0, 0.0, DType::I64).unwrap()).to_vec::<i64>().unwrap(),
        vec![0, 0, 1, 1, 0, 0]
    );
    assert_eq!(
        eval(&g, array::one_hot(&s, i32s, 2, 1.0, 0.0, DType::Bool).unwrap()).to_vec::<bool>().unwrap(),
        vec![false, false, true, false]
    );
    let z = eval(&g, array::one_hot(&s, i32s, 0, 1.0, 0.0, DType::F64).unwrap());
    assert_eq!(z.shape(), &[2, 0]);
    let p = placeholder(&s, DType::I32, shape![None]).unwrap();
    assert_eq!(array::one_hot(&s, p, 10, 1.0, 0.0, DType::F32).unwrap().shape(&s).unwrap().to_string(), "[?, 10]");
    let f = placeholder(&s, DType::F32, shape![3]).unwrap();
    assert!(build_err(array::one_hot(&s, f, 10, 1.0, 0.0, DType::F32)).contains("int32 or int64"));
}

#[test]
fn one_hot_in_a_loss_carries_no_label_gradient() {
    let g = Graph::new();
    let s = g.root();
    let labels = placeholder(&s, DType::I32, shape![2]).unwrap();
    let logits = placeholder(&s, DType::F32, shape![2, 3]).unwrap();
    let y = array::one_hot(&s, labels, 3, 1.0, 0.0, DType::F32).unwrap();
    let loss = math::mul(&s, y, logits).unwrap();
    let gr = gradients(&s, &[loss], &[labels, logits], None).unwrap();
    assert!(gr[0].is_none());
    let out = Session::new(&g)
        .run([gr[1].unwrap()], &[(labels, Value::from(vec![1i32, 2])), (logits, Value::zeros(DType::F32, &[2, 3]))])
        .unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![0., 1., 0., 0., 0., 1.]);
}

#[test]
fn ops_round_trip_through_serde_names() {
    // Every op here reports TF's type name.
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![2, 3]).unwrap();
    let i = placeholder(&s, DType::I32, shape![2]).unwrap();
    let names = [
        (array::reshape(&s, x, &[-1]).unwrap(), "Reshape"),
        (array::flatten(&s, x).unwrap(), "Flatten"),
        (array::expand_dims(&s, x, 0).unwrap(), "ExpandDims"),
        (array::squeeze(&s, x, &[]).unwrap(), "Squeeze"),
        (array::transpose(&s, x, &[1, 0]).unwrap(), "Transpose"),
        (array::concat(&s, &[x, x], 0).unwrap(), "ConcatV2"),
        (array::cast(&s, x, DType::F64).unwrap(), "Cast"),
        (array::one_hot(&s, i, 4, 1.0, 0.0, DType::F32).unwrap(), "OneHot"),
    ];
    for (t, want) in names {
        assert_eq!(t.op().type_name(&s).unwrap(), want);
    }
}

#[test]
fn big_transpose_and_concat_match_reference() {
    let a = Array2::from_shape_fn((300, 200), |(i, j)| (i * 200 + j) as f32);
    let g = Graph::new();
    let s = g.root();
    let x = constant(&s, a.clone()).unwrap();
    let t = eval(&g, array::transpose(&s, x, &[1, 0]).unwrap());
    assert_close(&t, &Value::from(a.t().to_owned()), 0.0, 0.0);
    let c = eval(&g, array::concat(&s, &[x, x], 1).unwrap());
    let want = ndarray::concatenate(ndarray::Axis(1), &[a.view(), a.view()]).unwrap();
    assert_close(&c, &Value::from(want), 0.0, 0.0);
}
