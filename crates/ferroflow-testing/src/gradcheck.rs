//! The shared numeric gradient checker: central differences (in f64 by default) against the
//! symbolic gradients that `ferroflow_train::gradients` builds.
//!
//! The checked function is `L = Σ y · w` for a fixed random `w` shaped like `y`, so every
//! element of every output's gradient is exercised, not only their sum.

use ferroflow_core::{DType, Graph, Result, Scope, Shape, Tensor, Value};
use ferroflow_ops::placeholder;
use ferroflow_session::Session;
use ferroflow_train::gradients;

/// Settings of a gradient check.
#[derive(Clone, Debug)]
pub struct GradCheck {
    /// Finite-difference step.
    pub eps: f64,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Float inputs are cast to this dtype (F64 for precise checks; F32 as a cheap fallback).
    pub dtype: DType,
    /// Seed of the upstream weights `w`.
    pub seed: u64,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck { eps: 1e-6, rtol: 1e-4, atol: 1e-6, dtype: DType::F64, seed: 7 }
    }
}

impl GradCheck {
    /// Settings for a check in f32 (looser: eps 1e-2, rtol 2e-2, atol 1e-3).
    pub fn f32() -> Self {
        GradCheck { eps: 1e-2, rtol: 2e-2, atol: 1e-3, dtype: DType::F32, seed: 7 }
    }
}

/// Checks the gradients of `build(inputs)` w.r.t. every float input in f64; panics with the
/// input, element, symbolic and numeric values on a mismatch.
pub fn check_gradients(build: impl Fn(&Scope, &[Tensor]) -> Result<Tensor>, inputs: &[Value]) {
    check_gradients_with(&GradCheck::default(), build, inputs)
}

fn lcg(state: &mut u64) -> f64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((*state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

/// [`check_gradients`] with explicit settings.
pub fn check_gradients_with(opts: &GradCheck, build: impl Fn(&Scope, &[Tensor]) -> Result<Tensor>, inputs: &[Value]) {
    let g = Graph::new();
    let s = g.root();
    let values: Vec<Value> =
        inputs.iter().map(|v| if v.dtype().is_float() { v.cast(opts.dtype) } else { v.clone() }).collect();
    let phs: Vec<Tensor> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            placeholder(&s.with_name(&format!("input{i}")), v.dtype(), Shape::known(v.shape())).expect("placeholder")
        })
        .collect();
    let y = build(&s, &phs).expect("building the checked function failed");
    let y_dtype = y.dtype(&s).expect("the checked function's output is of its graph");
    assert!(y_dtype.is_float(), "the checked function must return a float tensor, got {y_dtype}");
    let sess = Session::new(&g);
    let feeds = |vals: &[Value]| -> Vec<(Tensor, Value)> { phs.iter().copied().zip(vals.iter().cloned()).collect() };
    let y0 = sess.run([y], &feeds(&values)).expect("forward run failed").remove(0);
    let mut st = opts.seed;
    let w: Vec<f64> = (0..y0.len()).map(|_| lcg(&mut st)).collect();
    let w_val = Value::from_shape_vec(y0.shape(), w.clone()).expect("weights").cast(y_dtype);
    let w_ph = placeholder(&s.with_name("upstream"), y_dtype, Shape::known(y0.shape())).expect("placeholder");
    let float_idx: Vec<usize> = (0..values.len()).filter(|&i| values[i].dtype().is_float()).collect();
    let xs: Vec<Tensor> = float_idx.iter().map(|&i| phs[i]).collect();
    let grads = gradients(&s, &[y], &xs, Some(&[w_ph])).expect("building gradients failed");
    let loss = |vals: &[Value]| -> f64 {
        let out = sess.run([y], &feeds(vals)).expect("forward run failed").remove(0).cast(DType::F64);
        out.to_vec::<f64>().expect("f64").iter().zip(&w).map(|(a, b)| a * b).sum()
    };
    for (k, &i) in float_idx.iter().enumerate() {
        let numeric: Vec<f64> = {
            let base = values[i].cast(DType::F64).to_vec::<f64>().expect("f64");
            (0..base.len())
                .map(|j| {
                    let mut plus = values.clone();
                    let mut minus = values.clone();
                    let mut bp = base.clone();
                    bp[j] += opts.eps;
                    let mut bm = base.clone();
                    bm[j] -= opts.eps;
                    plus[i] = Value::from_shape_vec(values[i].shape(), bp).expect("shape").cast(opts.dtype);
                    minus[i] = Value::from_shape_vec(values[i].shape(), bm).expect("shape").cast(opts.dtype);
                    (loss(&plus) - loss(&minus)) / (2.0 * opts.eps)
                })
                .collect()
        };
        let symbolic: Vec<f64> = match grads[k] {
            Some(gt) => {
                let mut f = feeds(&values);
                f.push((w_ph, w_val.clone()));
                let gv = sess.run([gt], &f).expect("gradient run failed").remove(0);
                assert_eq!(
                    gv.shape(),
                    values[i].shape(),
                    "gradient of input {i} has shape {:?}, input has {:?}",
                    gv.shape(),
                    values[i].shape()
                );
                gv.cast(DType::F64).to_vec::<f64>().expect("f64")
            }
            None => vec![0.0; numeric.len()],
        };
        for (j, (a, n)) in symbolic.iter().zip(&numeric).enumerate() {
            let tol = opts.atol + opts.rtol * n.abs().max(a.abs());
            assert!(
                (a - n).abs() <= tol,
                "gradient mismatch for input {i} (shape {:?}) at flat index {j}: symbolic {a}, numeric {n} (tolerance {tol}){}",
                values[i].shape(),
                if grads[k].is_none() { "; no symbolic gradient was built" } else { "" }
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflow_ops::math;

    #[test]
    fn checks_elementwise_ops() {
        let x = Value::from(vec![0.3f32, -1.2, 2.0]);
        let y = Value::from(vec![1.5f32, 0.7, -0.4]);
        check_gradients(|s, t| math::mul(s, math::tanh(s, t[0])?, math::sub(s, t[1], t[0])?), &[x.clone(), y.clone()]);
        check_gradients(
            |s, t| math::div(s, math::exp(s, t[0])?, math::add(s, math::square(s, t[1])?, 1.0f32)?),
            &[x.clone(), y],
        );
        check_gradients_with(&GradCheck::f32(), |s, t| math::sigmoid(s, t[0]), &[x]);
    }

    #[test]
    fn checks_broadcasting() {
        let a = Value::from(ndarray::Array2::from_shape_fn((2, 3), |(i, j)| (i as f32 - j as f32) * 0.3 + 0.1));
        let b = Value::from(vec![0.5f32, 1.5, -2.0]);
        check_gradients(|s, t| math::mul(s, t[0], t[1]), &[a.clone(), b.clone()]);
        check_gradients(|s, t| math::sub(s, t[0], t[1]), &[a.clone(), b.clone()]);
        check_gradients(|s, t| math::maximum(s, t[0], t[1]), &[a, b]);
    }

    #[test]
    #[should_panic(expected = "gradient mismatch")]
    fn catches_a_wrong_gradient() {
        // stop_gradient makes the symbolic gradient zero while the numeric one is not.
        check_gradients(
            |s, t| ferroflow_ops::stop_gradient(s, math::square(s, t[0])?),
            &[Value::from(vec![1.0f32, 2.0])],
        );
    }
}
