//! No panics or aborts from sizes: shapes, attributes and fed values whose sizes overflow are
//! build errors, and outputs too large for the machine are `Error::Allocation` naming the node
//! and the byte count (issue 9, F2).
//!
//! The "too large" cases ask for 2^50 bytes (1 PiB) or more: more than the 47-bit user address
//! space of x86-64 Linux, so the reservation fails whatever the overcommit setting, and no
//! test here touches more than a few hundred MiB.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, DType, Error, Graph, Value};
use ferroflow_ops::nn::{self, Padding};
use ferroflow_ops::random::{random_uniform, Initializer};
use ferroflow_ops::state::{get_variable, global_variables_initializer, variable_from, VariableOptions};
use ferroflow_ops::{array, math, placeholder};
use ferroflow_session::{feed_dict, Session};

const BIG: usize = 1 << 33;
/// `[2^24, 2^24]` f32 = 2^50 bytes.
const PIB_F32: [usize; 2] = [1 << 24, 1 << 24];
const PIB_BYTES: &str = "1125899906842624 bytes";

/// The allocation error's node, op and byte count.
fn allocation(e: &Error) -> (String, String, Option<usize>) {
    match e {
        Error::Allocation { node, op, bytes, .. } => (node.clone(), op.clone(), *bytes),
        other => panic!("expected an allocation error, got {other:?}: {other}"),
    }
}

#[test]
fn get_variable_whose_element_count_overflows_is_a_build_error_naming_it() {
    let g = Graph::new();
    let s = g.root();
    for (name, init) in
        [("w", Initializer::Zeros), ("k", Initializer::glorot_uniform()), ("c", Initializer::Constant(2.0))]
    {
        let e = get_variable(&s, name, [BIG, BIG], init, VariableOptions::default()).unwrap_err();
        assert!(matches!(e, Error::Variable { .. }), "{e}");
        let m = e.to_string();
        assert!(
            m.starts_with(&format!("variable '{name}': shape [8589934592, 8589934592] has more elements than fit")),
            "{m}"
        );
    }
    // Fits usize but not one buffer: 2^62 f32 elements are 2^64 bytes.
    let e =
        get_variable(&s, "b", [1usize << 62], Initializer::Zeros, VariableOptions::default()).unwrap_err().to_string();
    assert!(e.starts_with("variable 'b': a float32 tensor of shape [4611686018427387904]"), "{e}");
    // variable_from checks the initial value's shape too.
    let huge = placeholder(&s, DType::F32, shape![BIG, BIG]).unwrap();
    let e = variable_from(&s.with_name("v"), huge, VariableOptions::default()).unwrap_err().to_string();
    assert!(e.starts_with("variable 'v': shape [8589934592, 8589934592] has more elements than fit"), "{e}");
}

#[test]
fn initializer_too_large_for_the_machine_is_an_error_naming_its_node() {
    let g = Graph::new();
    let s = g.root();
    let w = get_variable(&s, "w", PIB_F32, Initializer::Zeros, VariableOptions::default()).unwrap();
    let k = get_variable(&s, "k", PIB_F32, Initializer::glorot_uniform(), VariableOptions::default()).unwrap();
    let o = s
        .variable_scope("layer", false, |vs| {
            get_variable(vs, "ones", PIB_F32, Initializer::Ones, VariableOptions::default())
        })
        .unwrap();
    let sess = Session::new(&g);
    for (v, node, op) in [
        (w, "w/Initializer/zeros", "Fill"),
        (k, "k/Initializer/random_uniform", "RandomUniform"),
        (o, "layer/ones/Initializer/ones", "Fill"),
    ] {
        let e = sess.run_ops(&[v.initializer()], &[]).unwrap_err();
        assert_eq!(allocation(&e), (node.to_string(), op.to_string(), Some(1 << 50)), "{e}");
        let m = e.to_string();
        assert!(m.starts_with(&format!("{op} '{node}' failed at run time: cannot allocate {PIB_BYTES}")), "{m}");
        assert!(
            m.contains("float32 tensor of shape [16777216, 16777216]") && m.contains("the shape is probably wrong"),
            "{m}"
        );
    }
    // The session is still usable, and the variables stay uninitialized.
    assert!(matches!(sess.run([w], &[]).unwrap_err(), Error::UninitializedVariable { .. }));
    let init = global_variables_initializer(&s).unwrap();
    assert!(matches!(sess.run_ops(&[init], &[]).unwrap_err(), Error::Allocation { .. }));
}

#[test]
fn random_ops_check_their_size() {
    let g = Graph::new();
    let s = g.root();
    let e = random_uniform(&s.with_name("r"), &[BIG, BIG], 0.0, 1.0, DType::F32, None).unwrap_err().to_string();
    assert!(e.starts_with("RandomUniform 'r': shape [8589934592, 8589934592] has more elements"), "{e}");
    let r = ferroflow_ops::random::random_normal(&s.with_name("n"), &PIB_F32, 0.0, 1.0, DType::F64, Some(1)).unwrap();
    let e = Session::new(&g).run([r], &[]).unwrap_err();
    assert_eq!(allocation(&e), ("n".into(), "RandomStandardNormal".into(), Some(1 << 51)), "{e}");
}

#[test]
fn one_hot_with_a_huge_depth() {
    let g = Graph::new();
    let s = g.root();
    // Static: [3] indices × depth 2^62 f32.
    let idx = ferroflow_ops::constant(&s, vec![0i32, 1, 2]).unwrap();
    let e = array::one_hot(&s.with_name("oh"), idx, 1 << 62, 1.0, 0.0, DType::F32).unwrap_err().to_string();
    assert!(e.starts_with("OneHot 'oh': depth 4611686018427387904 is too large for indices of shape [3]"), "{e}");
    // Run time: the batch size is only known then.
    let p = placeholder(&s.with_name("labels"), DType::I64, shape![None]).unwrap();
    let y = array::one_hot(&s.with_name("oh2"), p, 1 << 48, 1.0, 0.0, DType::F32).unwrap();
    assert_eq!(y.shape(&s).unwrap().to_string(), "[?, 281474976710656]");
    let e = Session::new(&g).run([y], &feed_dict![p => vec![0i64, 5, 7, 9]]).unwrap_err();
    assert_eq!(allocation(&e), ("oh2".into(), "OneHot".into(), Some(1 << 52)), "{e}");
    // Element count overflows usize at run time: no byte count, still an error.
    let y = array::one_hot(&s.with_name("oh3"), p, 1 << 62, 1.0, 0.0, DType::F32).unwrap();
    let e = Session::new(&g).run([y], &feed_dict![p => vec![0i64; 5]]).unwrap_err();
    assert_eq!(allocation(&e), ("oh3".into(), "OneHot".into(), None), "{e}");
    assert!(e.to_string().contains("the byte count overflows usize"), "{e}");
}

#[test]
fn fill_with_fed_dims() {
    let g = Graph::new();
    let s = g.root();
    let d = placeholder(&s.with_name("dims"), DType::I64, shape![2]).unwrap();
    let f = array::fill(&s.with_name("f"), d, 0.5f32).unwrap();
    assert_eq!(f.shape(&s).unwrap().to_string(), "[?, ?]");
    let sess = Session::new(&g);
    assert_eq!(sess.run([f], &feed_dict![d => vec![2i64, 2]]).unwrap()[0].to_vec::<f32>().unwrap(), vec![0.5; 4]);
    let e = sess.run([f], &feed_dict![d => vec![1i64 << 24, 1 << 24]]).unwrap_err();
    assert_eq!(allocation(&e), ("f".into(), "Fill".into(), Some(1 << 50)), "{e}");
    let e = sess.run([f], &feed_dict![d => vec![1i64 << 40, 1 << 40]]).unwrap_err();
    assert_eq!(allocation(&e), ("f".into(), "Fill".into(), None), "{e}");
    let e = sess.run([f], &feed_dict![d => vec![-1i64, 3]]).unwrap_err().to_string();
    assert_eq!(
        e,
        "Fill 'f' failed at run time: dims must be non-negative, got [-1, 3] (inputs: int64 [2], float32 [])"
    );
}

#[test]
fn broadcasting_to_an_absurd_size() {
    let g = Graph::new();
    let s = g.root();
    // Static shapes: a build error.
    let a = placeholder(&s, DType::F32, shape![BIG, 1]).unwrap();
    let b = placeholder(&s, DType::F32, shape![1, BIG]).unwrap();
    let e = math::add(&s.with_name("sum"), a, b).unwrap_err().to_string();
    assert!(
        e.starts_with("Add 'sum': broadcasting [8589934592, 1] and [1, 8589934592] gives a shape that cannot exist"),
        "{e}"
    );
    assert!(math::less(&s, a, b).is_err());
    // Run time: 64 MiB operands asking for 2^24 × 2^24 outputs (2^50 bytes of f32).
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 1]).unwrap();
    let y = placeholder(&s.with_name("y"), DType::F32, shape![1, None]).unwrap();
    let n = 1usize << 24;
    let xv = Value::from_shape_vec(&[n, 1], vec![1f32; n]).unwrap();
    let yv = Value::from_shape_vec(&[1, n], vec![2f32; n]).unwrap();
    let sess = Session::new(&g);
    for (t, node, op) in [
        (math::mul(&s.with_name("outer"), x, y).unwrap(), "outer", "Mul"),
        (math::equal(&s.with_name("eq"), x, y).unwrap(), "eq", "Equal"),
        (math::matmul(&s.with_name("mm"), x, y, false, false).unwrap(), "mm", "MatMul"),
    ] {
        let e = sess.run([t], &[(x, xv.clone()), (y, yv.clone())]).unwrap_err();
        let want = if op == "Equal" { 1usize << 48 } else { 1 << 50 };
        assert_eq!(allocation(&e), (node.into(), op.into(), Some(want)), "{e}");
    }
    // Small broadcasts still work through the same path.
    let out = sess
        .run(
            [math::sub(&s, x, y).unwrap()],
            &[
                (x, Value::from(ndarray::arr2(&[[1f32], [2.0]]))),
                (y, Value::from(ndarray::arr2(&[[1f32, 10.0, 100.0]]))),
            ],
        )
        .unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![0., -9., -99., 1., -8., -98.]);
    let c = placeholder(&s, DType::Bool, shape![None, 1]).unwrap();
    let w = math::where_(&s.with_name("pick"), c, x, y).unwrap();
    let out = sess
        .run(
            [w],
            &[
                (c, Value::from(ndarray::arr2(&[[true], [false]]))),
                (x, Value::from(ndarray::arr2(&[[1f32], [2.0]]))),
                (y, Value::from(ndarray::arr2(&[[5f32, 6.0]]))),
            ],
        )
        .unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![1., 1., 5., 6.]);
}

#[test]
fn matmul_with_a_static_product_too_large() {
    let g = Graph::new();
    let s = g.root();
    let a = placeholder(&s, DType::F64, shape![BIG, 1]).unwrap();
    let b = placeholder(&s, DType::F64, shape![1, BIG]).unwrap();
    let e = math::matmul(&s.with_name("mm"), a, b, false, false).unwrap_err().to_string();
    assert!(e.starts_with("MatMul 'mm': the product cannot exist"), "{e}");
}

#[test]
fn reshape_flatten_and_concat_sizes_are_checked() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, ferroflow_core::Shape::unknown()).unwrap();
    let e = array::reshape(&s.with_name("r"), x, &[1 << 33, 1 << 33]).unwrap_err().to_string();
    assert!(e.starts_with("Reshape 'r': the new shape [8589934592, 8589934592] has more elements than fit"), "{e}");
    let p = placeholder(&s, DType::F32, shape![None, BIG, BIG]).unwrap();
    let e = array::flatten(&s.with_name("fl"), p).unwrap_err().to_string();
    assert!(e.starts_with("Flatten 'fl': shape [?, 8589934592, 8589934592] has more elements"), "{e}");
    let h = placeholder(&s, DType::Bool, shape![1usize << 63]).unwrap();
    let e = array::concat(&s.with_name("cat"), &[h, h], 0).unwrap_err().to_string();
    assert!(e.starts_with("ConcatV2 'cat': the sizes along axis 0 add up to more than usize::MAX"), "{e}");
}

#[test]
fn conv_and_pool_attributes_cannot_overflow() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![None, 8, 8, 1]).unwrap();
    let f = placeholder(&s, DType::F32, shape![3, 3, 1, 2]).unwrap();
    for (name, dil) in [("c1", 1usize << 62), ("c2", usize::MAX)] {
        let e =
            nn::conv2d(&s.with_name(name), x, f, [1, 1, 1, 1], Padding::Same, [1, dil, 1, 1]).unwrap_err().to_string();
        assert!(e.starts_with(&format!("Conv2D '{name}': the effective window height")), "{e}");
    }
    let e = nn::max_pool(&s.with_name("mp"), x, [1, usize::MAX, 1, 1], [1, 1, 1, 1], Padding::Same)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("MaxPool 'mp': the effective window height"), "{e}");
    let e = nn::avg_pool(&s.with_name("ap"), x, [1, 2, 2, 1], [1, usize::MAX, 1, 1], Padding::Valid)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("AvgPool 'ap': the stride along the height"), "{e}");
    // A huge (but representable) stride is fine: one window.
    let y = nn::max_pool(&s, x, [1, 2, 2, 1], [1, 1 << 40, 1 << 40, 1], Padding::Same).unwrap();
    assert_eq!(y.shape(&s).unwrap(), shape![None, 1, 1, 1]);
    let xv = Value::from_shape_vec(&[1, 8, 8, 1], (0..64).map(|i| i as f32).collect()).unwrap();
    assert_eq!(Session::new(&g).run([y], &[(x, xv)]).unwrap()[0].to_vec::<f32>().unwrap(), vec![9.0]);
}

#[test]
fn conv_outputs_too_large_for_the_machine() {
    let g = Graph::new();
    let s = g.root();
    // 64 MiB each: [2^24, 1, 1, 1] ⊛ [1, 1, 1, 2^24] → 2^48 f32 outputs (2^50 bytes).
    let x = placeholder(&s, DType::F32, shape![None, 1, 1, 1]).unwrap();
    let f = placeholder(&s, DType::F32, shape![1, 1, 1, None]).unwrap();
    let y = nn::conv2d(&s.with_name("wide"), x, f, [1, 1, 1, 1], Padding::Valid, [1, 1, 1, 1]).unwrap();
    let n = 1usize << 24;
    let xv = Value::from_shape_vec(&[n, 1, 1, 1], vec![1f32; n]).unwrap();
    let fv = Value::from_shape_vec(&[1, 1, 1, n], vec![1f32; n]).unwrap();
    let e = Session::new(&g).run([y], &[(x, xv), (f, fv)]).unwrap_err();
    assert_eq!(allocation(&e), ("wide".into(), "Conv2D".into(), Some(1 << 50)), "{e}");
    // The unfolded (im2col) matrix: a 2048×2048 window over a 2048×2048 image, SAME padding:
    // 2^22 pixels × 2^22 taps × 8 bytes = 2^47 bytes, while the output is only 32 MiB.
    let x = placeholder(&s, DType::F64, shape![1, 2048, 2048, 1]).unwrap();
    let f = placeholder(&s, DType::F64, shape![2048, 2048, 1, 1]).unwrap();
    let y = nn::conv2d(&s.with_name("im2col"), x, f, [1, 1, 1, 1], Padding::Same, [1, 1, 1, 1]).unwrap();
    let m = 2048 * 2048;
    let xv = Value::from_shape_vec(&[1, 2048, 2048, 1], vec![0f64; m]).unwrap();
    let fv = Value::from_shape_vec(&[2048, 2048, 1, 1], vec![0f64; m]).unwrap();
    let e = Session::new(&g).run([y], &[(x, xv), (f, fv)]).unwrap_err();
    assert_eq!(allocation(&e), ("im2col".into(), "Conv2D".into(), Some(1 << 47)), "{e}");
}
