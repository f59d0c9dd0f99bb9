//! Typed fetches (`Session::fetch`) and op fetches that keep positions (`Session::run`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, DType, Graph, Value};
use ferroflow_ops::state::{assign_add, global_variables_initializer, variable, VariableOptions};
use ferroflow_ops::{math, placeholder};
use ferroflow_session::{feed_dict, Fetch, Session};
use ndarray::{arr1, arr2, Array1, Array2, ArrayD, IxDyn};

#[test]
fn a_tuple_fetch_returns_typed_values_in_order() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 2]).unwrap();
    let doubled = math::mul(&s.with_name("doubled"), x, 2.0f32).unwrap();
    let total = math::reduce_sum(&s.with_name("total"), doubled, None, false).unwrap();
    let count = ferroflow_ops::array::cast(&s, math::reduce_sum(&s, x, None, false).unwrap(), DType::I64).unwrap();
    let sess = Session::new(&g);
    let feeds = feed_dict![x => arr2(&[[1.0f32, 2.0], [3.0, 4.0]])];
    let (t, d, c): (f32, Array2<f32>, i64) = sess.fetch((total, doubled, count), &feeds).unwrap();
    assert_eq!(t, 20.0);
    assert_eq!(d, arr2(&[[2.0, 4.0], [6.0, 8.0]]));
    assert_eq!(c, 10);
    let (d, v, flat): (ArrayD<f32>, Value, Vec<f32>) = sess.fetch((doubled, doubled, doubled), &feeds).unwrap();
    assert_eq!(d.shape(), &[2, 2]);
    assert_eq!(v.shape(), &[2, 2]);
    assert_eq!(flat, vec![2.0, 4.0, 6.0, 8.0]);
    let one: f32 = sess.fetch(total, &feeds).unwrap();
    assert_eq!(one, 20.0);
}

#[test]
fn ops_and_tensors_mix_in_a_tuple_fetch_without_shifting() {
    let g = Graph::new();
    let s = g.root();
    let v = variable(&s.with_name("counter"), 0.0f32, VariableOptions::default()).unwrap();
    let inc = assign_add(&s.with_name("inc"), v, 1.0f32).unwrap();
    let doubled = math::mul(&s, inc, 2.0f32).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    // TF1: `_, d = sess.run([inc_op, doubled])`.
    let ((), d): ((), f32) = sess.fetch((inc.op(), doubled), &[]).unwrap();
    assert_eq!(d, 2.0);
    // The list form keeps positions too: the op fetch holds an empty value.
    let out = sess.run([Fetch::from(inc.op()), doubled.into(), v.into()], &[]).unwrap();
    assert_eq!(out.len(), 3);
    assert!(out[0].is_empty());
    assert_eq!(out[1].scalar::<f32>().unwrap(), 4.0);
    assert_eq!(out[2].scalar::<f32>().unwrap(), 2.0);
    // A callable keeps positions as run does.
    let f = sess.make_callable(&[], [Fetch::from(inc.op()), doubled.into()]).unwrap();
    let out = f.call(&[]).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].scalar::<f32>().unwrap(), 6.0);
}

#[test]
fn a_failed_conversion_names_the_fetch_the_expected_type_and_the_actual_one() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 2]).unwrap();
    let logits = math::mul(&s.with_name("logits"), x, 2.0f32).unwrap();
    let v = variable(&s.with_name("counter"), 0.0f32, VariableOptions::default()).unwrap();
    let inc = assign_add(&s.with_name("inc"), v, 1.0f32).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let feeds = feed_dict![x => arr2(&[[1.0f32, 2.0]])];

    let e = sess.fetch::<Array1<f32>, _>(logits, &feeds).unwrap_err().to_string();
    assert!(e.contains("logits") && e.contains("rank 1") && e.contains("[1, 2]") && e.contains("rank 2"), "{e}");
    let e = sess.fetch::<Array2<f64>, _>(logits, &feeds).unwrap_err().to_string();
    assert!(e.contains("logits") && e.contains("float64") && e.contains("float32"), "{e}");
    let e = sess.fetch::<f32, _>(logits, &feeds).unwrap_err().to_string();
    assert!(e.contains("logits") && e.contains("scalar") && e.contains("[1, 2]"), "{e}");
    let e = sess.fetch::<(f32, f32), _>((inc.op(), logits), &feeds).unwrap_err().to_string();
    assert!(e.contains("op 'inc'") && e.contains("`()`"), "{e}");
}

#[test]
fn values_convert_into_arrays_and_scalars() {
    let v = Value::from(arr2(&[[1i32, 2], [3, 4]]));
    assert_eq!(v.to_array2::<i32>().unwrap(), arr2(&[[1, 2], [3, 4]]));
    assert_eq!(Array2::<i32>::try_from(v.clone()).unwrap(), arr2(&[[1, 2], [3, 4]]));
    assert_eq!(ArrayD::<i32>::try_from(v.clone()).unwrap().shape(), &[2, 2]);
    let e = v.to_array1::<i32>().unwrap_err().to_string();
    assert!(e.contains("rank 1") && e.contains("[2, 2]"), "{e}");
    let e = Array2::<f32>::try_from(v.clone()).unwrap_err().to_string();
    assert!(e.contains("float32") && e.contains("int32"), "{e}");
    assert_eq!(Value::from(arr1(&[5.0f64])).to_array1::<f64>().unwrap(), arr1(&[5.0]));
    assert_eq!(f32::try_from(Value::from(1.5f32)).unwrap(), 1.5);
    assert!(bool::try_from(Value::from(vec![true, false])).is_err());
    assert_eq!(Value::from(ArrayD::<f32>::zeros(IxDyn(&[1, 2, 3, 4]))).to_array4::<f32>().unwrap().dim(), (1, 2, 3, 4));
}
