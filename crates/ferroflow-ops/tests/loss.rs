//! Losses: every TF golden case of the `loss` family (values and input gradients), numeric
//! gradient checks, stability at ±100, shape rules, run-time label errors and the `tf.losses`
//! collection helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, DType, Error, Graph, Result, Scope, Tensor, Value, REGULARIZATION_LOSSES};
use ferroflow_ops::nn::losses;
use ferroflow_ops::{constant, math, nn, placeholder};
use ferroflow_session::{feed_dict, Session};
use ferroflow_testing::{check_gradients, load};
use ferroflow_train::gradients;

use ferroflow_testing::run_op_case as run_case;

type LossFn = fn(&Scope, Tensor, Tensor) -> Result<Tensor>;

fn loss_fn(op: &str) -> Option<LossFn> {
    Some(match op {
        "tf.nn.softmax_cross_entropy_with_logits" => |s, z, x| nn::softmax_cross_entropy_with_logits(s, z, x),
        "tf.nn.softmax_cross_entropy_with_logits_v2" => |s, z, x| nn::softmax_cross_entropy_with_logits_v2(s, z, x),
        "tf.nn.sparse_softmax_cross_entropy_with_logits" => {
            |s, z, x| nn::sparse_softmax_cross_entropy_with_logits(s, z, x)
        }
        "tf.nn.sigmoid_cross_entropy_with_logits" => |s, z, x| nn::sigmoid_cross_entropy_with_logits(s, z, x),
        _ => return None,
    })
}

#[test]
fn tf_loss_cases() {
    let f = load("loss");
    let mut n = 0;
    for case in f.op_cases() {
        let (values, grads) = match loss_fn(&case.op) {
            Some(op) => {
                assert_eq!(case.input_names, ["labels", "logits"]);
                run_case(case, |s, t| Ok(vec![op(s, t[0], t[1])?]))
            }
            None => {
                assert_eq!(case.op, "tf.nn.l2_loss");
                run_case(case, |s, t| Ok(vec![nn::l2_loss(s, t[0])?]))
            }
        };
        for v in &values {
            assert!(v.to_vec::<f32>().unwrap().iter().all(|x| x.is_finite()), "{}: non-finite loss", case.name);
        }
        case.assert_outputs_close(&values, 1e-6, 1e-6);
        case.assert_input_grads_close(&grads, 1e-5, 1e-7);
        if case.op == "tf.nn.softmax_cross_entropy_with_logits" || case.op.starts_with("tf.nn.sparse") {
            assert!(grads[0].is_none(), "{}: labels must get no gradient", case.name);
        }
        n += 1;
    }
    assert_eq!(n, 14, "expected every case of the loss family");
}

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

/// Rows that are probability distributions.
fn distribution(rows: usize, classes: usize, seed: u64) -> Value {
    let a = sample(&[rows, classes], seed, 0.1, 1.0).to_array::<f64>().unwrap();
    let sums = a.sum_axis(ndarray::Axis(1)).insert_axis(ndarray::Axis(1));
    Value::from(&a / &sums)
}

#[test]
fn numeric_gradients_of_losses() {
    let logits = sample(&[4, 5], 1, -3.0, 3.0);
    let labels = distribution(4, 5, 2);
    // v2: gradients into logits and labels.
    check_gradients(|s, t| nn::softmax_cross_entropy_with_logits_v2(s, t[0], t[1]), &[labels.clone(), logits.clone()]);
    // v1: labels are constants (no gradient flows to them).
    let lab = labels.clone();
    check_gradients(
        move |s, t| nn::softmax_cross_entropy_with_logits(s, constant(s, lab.clone())?, t[0]),
        std::slice::from_ref(&logits),
    );
    // 3-D logits: classes on the last axis.
    check_gradients(
        |s, t| nn::softmax_cross_entropy_with_logits_v2(s, t[0], t[1]),
        &[distribution(6, 3, 3).reshape(&[2, 3, 3]).unwrap(), sample(&[2, 3, 3], 4, -2.0, 2.0)],
    );
    // Sparse, int32 and int64 labels.
    for labels in [Value::from(vec![0i32, 4, 2, 1]), Value::from(vec![3i64, 0, 0, 4])] {
        check_gradients(|s, t| nn::sparse_softmax_cross_entropy_with_logits(s, t[1], t[0]), &[logits.clone(), labels]);
    }
    // Sigmoid: binary and soft labels, logits including 0.
    let mut x = sample(&[3, 4], 5, -4.0, 4.0).to_vec::<f64>().unwrap();
    x[0] = 0.0;
    let x = Value::from_shape_vec(&[3, 4], x).unwrap();
    check_gradients(
        |s, t| nn::sigmoid_cross_entropy_with_logits(s, t[0], t[1]),
        &[sample(&[3, 4], 6, 0.0, 1.0), x.clone()],
    );
    check_gradients(|s, t| nn::l2_loss(s, t[0]), &[sample(&[2, 3, 2], 7, -2.0, 2.0)]);
}

#[test]
fn second_order_gradients_of_cross_entropy() {
    // d/dlogits of (d loss/d logits · w): exercises the gradient of the backprop output.
    let logits = sample(&[3, 4], 11, -2.0, 2.0);
    let labels = distribution(3, 4, 12);
    let w = sample(&[3, 4], 13, -1.0, 1.0);
    check_gradients(
        |s, t| {
            let loss = nn::softmax_cross_entropy_with_logits_v2(s, t[0], t[1])?;
            let d = gradients(s, &[loss], &[t[1]], None)?[0].unwrap();
            math::mul(s, d, t[2])
        },
        &[labels, logits.clone(), w.clone()],
    );
    check_gradients(
        |s, t| {
            let labels = constant(s, vec![1i32, 0, 3])?;
            let loss = nn::sparse_softmax_cross_entropy_with_logits(s, labels, t[0])?;
            let d = gradients(s, &[loss], &[t[0]], None)?[0].unwrap();
            math::mul(s, d, t[1])
        },
        &[logits, w],
    );
}

#[test]
fn extreme_logits_are_stable() {
    let g = Graph::new();
    let s = g.root();
    let x = constant(&s, ndarray::array![[100.0f32, -100.0, 0.0], [-100.0, -100.0, 100.0]]).unwrap();
    let z = constant(&s, ndarray::array![[0.0f32, 1.0, 0.0], [1.0, 0.0, 0.0]]).unwrap();
    let ids = constant(&s, vec![1i64, 0]).unwrap();
    let l1 = nn::softmax_cross_entropy_with_logits_v2(&s, z, x).unwrap();
    let l2 = nn::sparse_softmax_cross_entropy_with_logits(&s, ids, x).unwrap();
    let l3 = nn::sigmoid_cross_entropy_with_logits(&s, z, x).unwrap();
    let gr = gradients(&s, &[l1, l2, l3], &[x], None).unwrap()[0].unwrap();
    let out = Session::new(&g).run([l1, l2, l3, gr], &[]).unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![200.0, 200.0]);
    assert_eq!(out[1].to_vec::<f32>().unwrap(), vec![200.0, 200.0]);
    let sig = out[2].to_vec::<f32>().unwrap();
    assert_eq!(sig[0], 100.0); // x = 100, z = 0
    assert_eq!(sig[1], 100.0); // x = -100, z = 1
    assert!((sig[2] - 2f32.ln()).abs() < 1e-7);
    assert!(out[3].to_vec::<f32>().unwrap().iter().all(|v| v.is_finite()));
}

#[test]
fn out_of_range_label_is_a_runtime_error() {
    let g = Graph::new();
    let s = g.root();
    let logits = placeholder(&s.with_name("logits"), DType::F32, shape![None, 5]).unwrap();
    let labels = placeholder(&s.with_name("labels"), DType::I64, shape![None]).unwrap();
    let loss = nn::sparse_softmax_cross_entropy_with_logits(&s.with_name("xent"), labels, logits).unwrap();
    let sess = Session::new(&g);
    let x = Value::zeros(DType::F32, &[3, 5]);
    for (bad, pos) in [(7i64, 1), (-1, 2)] {
        let mut l = vec![0i64, 1, 2];
        l[pos] = bad;
        let e = sess.run([loss], &feed_dict![logits => x.clone(), labels => l]).unwrap_err();
        assert!(matches!(e, Error::Kernel { .. }), "{e:?}");
        let m = e.to_string();
        assert!(m.contains("'xent'") && m.contains(&format!("label value of {bad}")) && m.contains("[0, 5)"), "{m}");
        assert!(m.contains(&format!("position {pos}")), "{m}");
    }
    // A run-time mismatch of the leading dims is an error too, not a panic.
    let e = sess.run([loss], &feed_dict![logits => x, labels => vec![0i64, 1]]).unwrap_err().to_string();
    assert!(e.contains("'xent'") && e.contains("[2]") && e.contains("[3, 5]"), "{e}");
}

#[test]
fn loss_shape_rules() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("logits"), DType::F32, shape![None, 5]).unwrap();
    let z = placeholder(&s.with_name("labels"), DType::F32, shape![None, 5]).unwrap();
    assert_eq!(nn::softmax_cross_entropy_with_logits(&s, z, x).unwrap().shape(&s).unwrap().to_string(), "[?]");
    assert_eq!(nn::sigmoid_cross_entropy_with_logits(&s, z, x).unwrap().shape(&s).unwrap().to_string(), "[?, 5]");
    assert_eq!(nn::l2_loss(&s, x).unwrap().shape(&s).unwrap().to_string(), "[]");
    let ids = placeholder(&s, DType::I32, shape![8]).unwrap();
    assert_eq!(nn::sparse_softmax_cross_entropy_with_logits(&s, ids, x).unwrap().shape(&s).unwrap().to_string(), "[8]");

    let z6 = placeholder(&s, DType::F32, shape![None, 6]).unwrap();
    let e = nn::softmax_cross_entropy_with_logits_v2(&s.with_name("xe"), z6, x).unwrap_err();
    assert!(matches!(e, Error::Build { .. }));
    let m = e.to_string();
    assert!(m.contains("'xe'") && m.contains("[?, 6]") && m.contains("[?, 5]"), "{m}");
    let e = nn::softmax_cross_entropy_with_logits(&s, z6, x).unwrap_err().to_string();
    assert!(e.contains("[?, 6]") && e.contains("[?, 5]"), "{e}");
    let e = nn::sigmoid_cross_entropy_with_logits(&s, z6, x).unwrap_err().to_string();
    assert!(e.contains("same shape") && e.contains("[?, 6]"), "{e}");
    let ids2 = placeholder(&s, DType::I32, shape![None, 5]).unwrap();
    let e = nn::sparse_softmax_cross_entropy_with_logits(&s, ids2, x).unwrap_err().to_string();
    assert!(e.contains("rank mismatch") && e.contains("[?, 5]"), "{e}");
    let x3 = placeholder(&s, DType::F32, shape![4, 5]).unwrap();
    let e = nn::sparse_softmax_cross_entropy_with_logits(&s, ids, x3).unwrap_err().to_string();
    assert!(e.contains("[8]") && e.contains("[4, 5]"), "{e}");
    let fl = placeholder(&s, DType::F32, shape![None]).unwrap();
    let e = nn::sparse_softmax_cross_entropy_with_logits(&s, fl, x).unwrap_err().to_string();
    assert!(e.contains("int32 or int64"), "{e}");
    let z64 = placeholder(&s, DType::F64, shape![None, 5]).unwrap();
    assert!(nn::softmax_cross_entropy_with_logits_v2(&s, z64, x).unwrap_err().to_string().contains("float64"));
    let xi = placeholder(&s, DType::I32, shape![3]).unwrap();
    assert!(nn::l2_loss(&s, xi).is_err());
    let sc = placeholder(&s, DType::F32, shape![]).unwrap();
    assert!(nn::softmax_cross_entropy_with_logits_v2(&s, sc, sc).unwrap_err().to_string().contains("rank >= 1"));
}

#[test]
fn losses_collection_helpers() {
    let g = Graph::new();
    let s = g.root();
    assert!(losses::get_losses(&g).is_empty());
    let e = losses::get_total_loss(&s, true).unwrap_err().to_string();
    assert!(e.contains("no losses"), "{e}");
    let zero = losses::get_regularization_loss(&s).unwrap();
    assert_eq!(zero.dtype(&s).unwrap(), DType::F32);

    let a = constant(&s, 1.5f32).unwrap();
    let b = nn::l2_loss(&s, constant(&s, vec![1.0f32, 2.0]).unwrap()).unwrap();
    losses::add_loss(&g, a);
    losses::add_loss(&g, b);
    assert_eq!(losses::get_losses(&g), vec![a, b]);
    let r = constant(&s, 0.25f32).unwrap();
    g.add_to_collection(&REGULARIZATION_LOSSES, r);
    assert_eq!(losses::get_regularization_losses(&g), vec![r]);

    let total = losses::get_total_loss(&s, true).unwrap();
    let data_only = losses::get_total_loss(&s, false).unwrap();
    let reg = losses::get_regularization_loss(&s).unwrap();
    assert_eq!(total.name(&s).unwrap(), "total_loss:0");
    assert_eq!(reg.name(&s).unwrap(), "total_regularization_loss_1:0");
    let out = Session::new(&g).run([total, data_only, reg, zero], &[]).unwrap();
    let v: Vec<f32> = out.iter().map(|v| v.scalar::<f32>().unwrap()).collect();
    assert_eq!(v, vec![4.25, 4.0, 0.25, 0.0]);
}
