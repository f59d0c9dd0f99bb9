//! Tolerance comparisons of values: `assert_close` and friends, with failure messages that
//! show the worst element.
//!
//! An element passes when `|actual - expected| <= atol + rtol * |expected|` (NumPy's
//! `allclose` rule). NaN matches only NaN; an infinity matches only the same infinity. Integer
//! values go through the same rule in `f64` (so `rtol = atol = 0` means exact); `bool` values
//! must be equal. Shapes and dtypes must match exactly.

use ferroflow_core::{DType, Value};
use std::fmt::Write as _;

/// Panics unless `actual` and `expected` have the same dtype and shape and every element is
/// within `atol + rtol * |expected|`.
///
/// The message names the worst element (by how far it exceeds its allowance) with its
/// multi-dimensional index, both values, the number of failing elements and the shape.
///
/// ```
/// use ferroflow_core::Value;
/// use ferroflow_testing::assert_close;
/// let a = Value::from(vec![1.0f32, 2.0]);
/// assert_close(&a, &Value::from(vec![1.0f32, 2.000001]), 1e-5, 1e-6);
/// ```
#[track_caller]
pub fn assert_close(actual: &Value, expected: &Value, rtol: f64, atol: f64) {
    assert_close_named("value", actual, expected, rtol, atol);
}

/// [`assert_close`] with a label (e.g. `case "conv2d_k3_s2_same_7x7" input_grads[1]`) that
/// starts the failure message.
#[track_caller]
pub fn assert_close_named(what: &str, actual: &Value, expected: &Value, rtol: f64, atol: f64) {
    if let Err(msg) = check_close(actual, expected, rtol, atol) {
        panic!("assert_close failed for {what}: {msg}");
    }
}

/// Panics unless the two slices have the same length and every element is within
/// `atol + rtol * |expected|`; the message names the worst index.
#[track_caller]
pub fn assert_close_f32(actual: &[f32], expected: &[f32], rtol: f64, atol: f64) {
    if actual.len() != expected.len() {
        panic!(
            "assert_close_f32 failed: length mismatch: actual has {} elements, expected {}",
            actual.len(),
            expected.len()
        );
    }
    let a: Vec<f64> = actual.iter().map(|&x| f64::from(x)).collect();
    let e: Vec<f64> = expected.iter().map(|&x| f64::from(x)).collect();
    if let Some(report) = compare(&a, &e, &[actual.len()], rtol, atol) {
        panic!("assert_close_f32 failed: {report} (length {})", actual.len());
    }
}

/// The non-panicking comparison behind [`assert_close`]: `Err` carries the message text.
pub fn check_close(actual: &Value, expected: &Value, rtol: f64, atol: f64) -> Result<(), String> {
    if actual.dtype() != expected.dtype() {
        return Err(format!(
            "dtype mismatch: actual {} {:?}, expected {} {:?}",
            actual.dtype(),
            actual.shape(),
            expected.dtype(),
            expected.shape()
        ));
    }
    if actual.shape() != expected.shape() {
        return Err(format!(
            "shape mismatch: actual {:?}, expected {:?} (dtype {})",
            actual.shape(),
            expected.shape(),
            actual.dtype()
        ));
    }
    let (rtol, atol) = if actual.dtype() == DType::Bool { (0.0, 0.0) } else { (rtol, atol) };
    let a = flat_f64(actual);
    let e = flat_f64(expected);
    match compare(&a, &e, actual.shape(), rtol, atol) {
        None => Ok(()),
        Some(report) => Err(format!("{report}; shape {:?}, dtype {}", actual.shape(), actual.dtype())),
    }
}

fn flat_f64(v: &Value) -> Vec<f64> {
    match v.cast(DType::F64).to_vec::<f64>() {
        Ok(x) => x,
        Err(e) => panic!("internal error: cannot read a {} value as f64: {e}", v.dtype()),
    }
}

/// `None` when all elements pass; otherwise a report on the worst one.
fn compare(actual: &[f64], expected: &[f64], shape: &[usize], rtol: f64, atol: f64) -> Option<String> {
    let mut failures = 0usize;
    let mut worst: Option<(usize, f64)> = None; // (flat index, excess over the allowance)
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let excess = excess(a, e, rtol, atol);
        if excess > 0.0 {
            failures += 1;
            if worst.is_none_or(|(_, w)| excess > w) {
                worst = Some((i, excess));
            }
        }
    }
    let (i, _) = worst?;
    let (a, e) = (actual[i], expected[i]);
    let mut msg = format!(
        "{failures} of {} elements differ (rtol {rtol:e}, atol {atol:e}); worst at index {:?} (flat {i}): actual {a:?}, expected {e:?}",
        actual.len(),
        unravel(i, shape)
    );
    if a.is_finite() && e.is_finite() {
        let _ = write!(msg, ", |diff| {:e} > allowed {:e}", (a - e).abs(), atol + rtol * e.abs());
    }
    Some(msg)
}

/// How far the element exceeds its allowance (`> 0` means it fails); infinite for NaN or
/// infinity mismatches.
fn excess(a: f64, e: f64, rtol: f64, atol: f64) -> f64 {
    if a.is_nan() || e.is_nan() {
        return if a.is_nan() && e.is_nan() { 0.0 } else { f64::INFINITY };
    }
    if a.is_infinite() || e.is_infinite() {
        return if a == e { 0.0 } else { f64::INFINITY };
    }
    (a - e).abs() - (atol + rtol * e.abs())
}

/// Row-major multi-dimensional index of flat index `i`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (slot, &d) in idx.iter_mut().zip(shape).rev() {
        if d > 0 {
            *slot = i % d;
            i /= d;
        }
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(dims: &[usize], data: Vec<f32>) -> Value {
        Value::from_shape_vec(dims, data).unwrap()
    }

    #[test]
    fn passes_within_tolerance() {
        let e = v(&[2, 2], vec![1.0, -2.0, 100.0, 0.0]);
        let a = v(&[2, 2], vec![1.000001, -2.000001, 100.0005, 1e-7]);
        assert_close(&a, &e, 1e-5, 1e-6);
        assert!(check_close(&a, &e, 1e-9, 1e-9).is_err());
    }

    #[test]
    #[should_panic(expected = "worst at index [1, 0]")]
    fn fails_on_mismatch_naming_worst_index() {
        let e = v(&[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let a = v(&[2, 3], vec![1.0, 2.01, 3.0, 4.5, 5.0, 6.0]);
        assert_close(&a, &e, 1e-5, 1e-6);
    }

    #[test]
    fn failure_message_has_values_shape_and_count() {
        let e = v(&[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let a = v(&[2, 3], vec![1.0, 2.01, 3.0, 4.5, 5.0, 6.0]);
        let msg = check_close(&a, &e, 1e-5, 1e-6).unwrap_err();
        assert!(msg.contains("2 of 6 elements differ"), "{msg}");
        assert!(msg.contains("actual 4.5"), "{msg}");
        assert!(msg.contains("expected 4.0"), "{msg}");
        assert!(msg.contains("shape [2, 3]"), "{msg}");
        assert!(msg.contains("float32"), "{msg}");
    }

    #[test]
    #[should_panic(expected = "shape mismatch: actual [3, 2], expected [2, 3]")]
    fn fails_on_shape_mismatch() {
        let e = v(&[2, 3], vec![0.0; 6]);
        let a = v(&[3, 2], vec![0.0; 6]);
        assert_close(&a, &e, 1.0, 1.0);
    }

    #[test]
    #[should_panic(expected = "dtype mismatch")]
    fn fails_on_dtype_mismatch() {
        let e = Value::from(vec![1.0f32, 2.0]);
        let a = Value::from(vec![1.0f64, 2.0]);
        assert_close(&a, &e, 1.0, 1.0);
    }

    #[test]
    #[should_panic(expected = "assert_close failed for case \"x\" output 0")]
    fn named_label_starts_the_message() {
        assert_close_named("case \"x\" output 0", &Value::from(1.0f32), &Value::from(2.0f32), 0.0, 0.0);
    }

    #[test]
    fn nan_and_infinity_rules() {
        let e = Value::from(vec![f32::NAN, f32::INFINITY, 1.0]);
        assert_close(&Value::from(vec![f32::NAN, f32::INFINITY, 1.0]), &e, 0.0, 0.0);
        assert!(check_close(&Value::from(vec![0.0, f32::INFINITY, 1.0]), &e, 1.0, 1.0).is_err());
        assert!(check_close(&Value::from(vec![f32::NAN, f32::NEG_INFINITY, 1.0]), &e, 1.0, 1.0).is_err());
    }

    #[test]
    fn integers_and_bools() {
        assert_close(&Value::from(vec![1i32, 2, 3]), &Value::from(vec![1i32, 2, 3]), 0.0, 0.0);
        assert!(check_close(&Value::from(vec![1i64, 2]), &Value::from(vec![1i64, 3]), 0.0, 0.0).is_err());
        assert!(check_close(&Value::from(vec![true, false]), &Value::from(vec![true, true]), 1.0, 1.0).is_err());
        assert_close(&Value::from(true), &Value::from(true), 0.0, 0.0);
    }

    #[test]
    fn scalars_and_empty_values() {
        assert_close(&Value::from(3.0f32), &Value::from(3.0f32), 0.0, 0.0);
        let msg = check_close(&Value::from(3.0f32), &Value::from(4.0f32), 0.0, 0.0).unwrap_err();
        assert!(msg.contains("worst at index []"), "{msg}");
        assert_close(&v(&[0, 3], vec![]), &v(&[0, 3], vec![]), 0.0, 0.0);
    }

    #[test]
    fn f32_slices() {
        assert_close_f32(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.000001], 1e-5, 0.0);
    }

    #[test]
    #[should_panic(expected = "worst at index [2]")]
    fn f32_slices_fail_on_mismatch() {
        assert_close_f32(&[1.0, 2.0, 3.5], &[1.0, 2.0, 3.0], 1e-5, 1e-6);
    }

    #[test]
    #[should_panic(expected = "length mismatch")]
    fn f32_slices_fail_on_length() {
        assert_close_f32(&[1.0, 2.0], &[1.0], 1.0, 1.0);
    }

    #[test]
    fn unravel_row_major() {
        assert_eq!(unravel(7, &[2, 3, 4]), vec![0, 1, 3]);
        assert_eq!(unravel(23, &[2, 3, 4]), vec![1, 2, 3]);
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
    }
}
