//! `softmax` and `log_softmax` over one axis (the last by default): numerically stable kernels
//! (the maximum is subtracted first, as TF does) and their gradient kernels.

use crate::input::IntoInput;
use crate::math::binary::{mul, sub};
use crate::math::reduce::{contiguous, sum_slice, Real};
use crate::math::reduce_sum;
use crate::math::unary::{exp, neg};
use ferroflow_core::typetag;
use ferroflow_core::{DType, Error, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Tensor, TensorSpec, Value};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Parallel over blocks only above this many elements.
const PAR_MIN: usize = 1 << 15;

/// `(outer, n, inner)` for a softmax over `axis` of a tensor of `dims`.
fn split(dims: &[usize], axis: i64) -> Result<(usize, usize, usize)> {
    let r = dims.len() as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if !(0..r).contains(&a) {
        return Err(Error::invalid(format!("axis {axis} is out of range for logits of shape {dims:?} (rank {r})")));
    }
    let a = a as usize;
    Ok((dims[..a].iter().product(), dims[a], dims[a + 1..].iter().product()))
}

fn infer_axis(cx: &InferCtx<'_>, axis: i64) -> Result<TensorSpec> {
    let x = cx.expect_float(0)?;
    if let Some(r) = x.shape.rank() {
        if r == 0 {
            return Err(cx.error(format!("logits must have rank >= 1, got a scalar ({} {})", x.dtype, x.shape)));
        }
        if x.shape.normalize_axis(axis).is_none() {
            return Err(cx.error(format!("axis {axis} is out of range for logits of shape {} (rank {r})", x.shape)));
        }
    }
    Ok(x.clone())
}

/// Runs `f(x_block, y_block)` over blocks of `block` elements, in parallel when large.
fn per_block<T: Real>(x: &[T], y: &mut [T], block: usize, f: impl Fn(&[T], &mut [T]) + Sync) {
    if block == 0 {
        return;
    }
    if x.len() >= PAR_MIN && rayon::current_num_threads() > 1 {
        y.par_chunks_mut(block).zip(x.par_chunks(block)).for_each(|(yb, xb)| f(xb, yb));
    } else {
        for (yb, xb) in y.chunks_mut(block).zip(x.chunks(block)) {
            f(xb, yb);
        }
    }
}

/// Softmax (or log-softmax) of one `[n, inner]` block along its first axis. Follows TF's
/// kernel: `shifted = x - max`; softmax `= exp(shifted) · (1 / Σ exp(shifted))`; log-softmax
/// `= shifted - log Σ exp(shifted)`.
fn softmax_block<T: Real>(x: &[T], y: &mut [T], inner: usize, log: bool) {
    if inner == 1 {
        let m = x.iter().fold(T::LOWEST, |a, &b| a.max_nan(b));
        if log {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = v - m;
            }
            let s = y.iter().fold(T::ZERO, |a, &v| a + v.exp());
            let l = s.ln();
            for o in y.iter_mut() {
                *o = *o - l;
            }
        } else {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = (v - m).exp();
            }
            let inv = T::ONE / sum_slice(y);
            for o in y.iter_mut() {
                *o = *o * inv;
            }
        }
        return;
    }
    let mut m = vec![T::LOWEST; inner];
    for row in x.chunks_exact(inner) {
        for (a, &b) in m.iter_mut().zip(row) {
            *a = a.max_nan(b);
        }
    }
    let mut s = vec![T::ZERO; inner];
    for (yr, xr) in y.chunks_exact_mut(inner).zip(x.chunks_exact(inner)) {
        for (((o, &v), &mx), acc) in yr.iter_mut().zip(xr).zip(&m).zip(s.iter_mut()) {
            let sh = v - mx;
            let e = sh.exp();
            *acc = *acc + e;
            *o = if log { sh } else { e };
        }
    }
    if log {
        let l: Vec<T> = s.iter().map(|v| v.ln()).collect();
        for yr in y.chunks_exact_mut(inner) {
            for (o, &lv) in yr.iter_mut().zip(&l) {
                *o = *o - lv;
            }
        }
    } else {
        let inv: Vec<T> = s.iter().map(|&v| T::ONE / v).collect();
        for yr in y.chunks_exact_mut(inner) {
            for (o, &iv) in yr.iter_mut().zip(&inv) {
                *o = *o * iv;
            }
        }
    }
}

/// Computes the softmax of a float value over `axis`; shared with the loss kernels' tests.
fn softmax_value<T: Real>(x: &ndarray::ArrayViewD<'_, T>, axis: i64, log: bool) -> Result<Value> {
    let (_, n, inner) = split(x.shape(), axis)?;
    let xd = contiguous(x);
    let mut y = vec![T::ZERO; xd.len()];
    per_block(&xd, &mut y, n * inner, |xb, yb| softmax_block(xb, yb, inner, log));
    Value::from_shape_vec(x.shape(), y)
}

/// Softmax or log-softmax over one axis (TF1 `Softmax`, `LogSoftmax`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Softmax {
    /// `LogSoftmax` instead of `Softmax`.
    pub log: bool,
    /// The class axis (negative counts from the end).
    pub axis: i64,
}

#[typetag::serde]
impl Op for Softmax {
    fn type_name(&self) -> &'static str {
        if self.log {
            "LogSoftmax"
        } else {
            "Softmax"
        }
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        Ok(vec![infer_axis(cx, self.axis)?])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let out = match cx.input(0)? {
            Value::F32(a) => softmax_value(&a.view(), self.axis, self.log),
            Value::F64(a) => softmax_value(&a.view(), self.axis, self.log),
            other => return Err(cx.error(format!("expected float logits, got {}", other.dtype()))),
        };
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = cx.grad(0) else { return Ok(vec![None]) };
        let name = if self.log { "LogSoftmaxGrad" } else { "SoftmaxGrad" };
        Ok(vec![Some(s.add_op1(SoftmaxGrad { log: self.log, axis: self.axis }, &[cx.output(0), g], name)?)])
    }
    fn describe(&self) -> String {
        format!("axis={}", self.axis)
    }
}

/// The gradient of `Softmax` / `LogSoftmax` given the forward output `y` and the upstream `g`:
/// softmax: `(g - Σ g·y) · y`; log-softmax: `g - exp(y) · Σ g` (sums over the axis).
#[derive(Debug, Serialize, Deserialize)]
pub struct SoftmaxGrad {
    /// For `LogSoftmax`.
    pub log: bool,
    /// The class axis.
    pub axis: i64,
}

fn softmax_grad_block<T: Real>(y: &[T], g: &[T], out: &mut [T], inner: usize, log: bool) {
    let mut s = vec![T::ZERO; inner];
    for (yr, gr) in y.chunks_exact(inner).zip(g.chunks_exact(inner)) {
        for ((acc, &yv), &gv) in s.iter_mut().zip(yr).zip(gr) {
            *acc = *acc + if log { gv } else { gv * yv };
        }
    }
    for ((or, yr), gr) in out.chunks_exact_mut(inner).zip(y.chunks_exact(inner)).zip(g.chunks_exact(inner)) {
        for (((o, &yv), &gv), &sv) in or.iter_mut().zip(yr).zip(gr).zip(&s) {
            *o = if log { gv - yv.exp() * sv } else { (gv - sv) * yv };
        }
    }
}

fn softmax_grad_value<T: Real>(
    y: &ndarray::ArrayViewD<'_, T>,
    g: &ndarray::ArrayViewD<'_, T>,
    axis: i64,
    log: bool,
) -> Result<Value> {
    if y.shape() != g.shape() {
        return Err(Error::invalid(format!(
            "the gradient has shape {:?} but the softmax output has {:?}",
            g.shape(),
            y.shape()
        )));
    }
    let (_, n, inner) = split(y.shape(), axis)?;
    let (yd, gd) = (contiguous(y), contiguous(g));
    let mut out = vec![T::ZERO; yd.len()];
    let block = n * inner;
    if block > 0 {
        let run = |(ob, (yb, gb)): (&mut [T], (&[T], &[T]))| softmax_grad_block(yb, gb, ob, inner, log);
        if yd.len() >= PAR_MIN && rayon::current_num_threads() > 1 {
            out.par_chunks_mut(block).zip(yd.par_chunks(block).zip(gd.par_chunks(block))).for_each(run);
        } else {
            out.chunks_mut(block).zip(yd.chunks(block).zip(gd.chunks(block))).for_each(run);
        }
    }
    Value::from_shape_vec(y.shape(), out)
}

#[typetag::serde]
impl Op for SoftmaxGrad {
    fn type_name(&self) -> &'static str {
        if self.log {
            "LogSoftmaxGrad"
        } else {
            "SoftmaxGrad"
        }
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        cx.expect_same_dtype(0, 1)?;
        Ok(vec![infer_axis(cx, self.axis)?])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let out = match cx.input(0)?.dtype() {
            DType::F32 => softmax_grad_value(&cx.view::<f32>(0)?, &cx.view::<f32>(1)?, self.axis, self.log),
            DType::F64 => softmax_grad_value(&cx.view::<f64>(0)?, &cx.view::<f64>(1)?, self.axis, self.log),
            d => return Err(cx.error(format!("expected a float input, got {d}"))),
        };
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        // Second derivatives (for gradients of gradients).
        let Some(gg) = cx.grad(0) else { return Ok(vec![None, None]) };
        let (y, g) = (cx.input(0)?, cx.input(1)?);
        let ax = [self.axis];
        if self.log {
            // out = g - e·Σg with e = exp(y):  d/dg = gg - Σ(gg·e);  d/dy = -gg·e·Σg.
            let e = exp(s, y)?;
            let gg_e = mul(s, gg, e)?;
            let dg = sub(s, gg, reduce_sum(s, gg_e, Some(&ax), true)?)?;
            let dy = neg(s, mul(s, gg_e, reduce_sum(s, g, Some(&ax), true)?)?)?;
            Ok(vec![Some(dy), Some(dg)])
        } else {
            // out = (g - Σg·y)·y:  d/dg = SoftmaxGrad(y, gg);  d/dy = gg·(g - Σg·y) - g·Σ(gg·y).
            let dg = s.add_op1(SoftmaxGrad { log: false, axis: self.axis }, &[y, gg], "SoftmaxGrad")?;
            let sg = reduce_sum(s, mul(s, g, y)?, Some(&ax), true)?;
            let tg = reduce_sum(s, mul(s, gg, y)?, Some(&ax), true)?;
            let dy = sub(s, mul(s, gg, sub(s, g, sg)?)?, mul(s, g, tg)?)?;
            Ok(vec![Some(dy), Some(dg)])
        }
    }
}

/// Softmax over the last axis. TF1: `tf.nn.softmax(logits)`.
///
/// `y_i = exp(x_i - max x) / Σ_j exp(x_j - max x)`: stable for logits of any size (±100 give
/// exact 0/1 probabilities, never NaN).
///
/// # Shapes
/// `y` has the shape of `logits` (rank ≥ 1): `[?, 10]` gives `[?, 10]`.
///
/// # Errors
/// Non-float or scalar logits (build error).
///
/// ```
/// use ferroflow_core::Graph;
/// use ferroflow_ops::{constant, nn};
/// use ferroflow_session::Session;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let y = nn::softmax(&s, constant(&s, vec![0.0f32, 0.0])?)?;
/// assert_eq!(Session::new(&g).run([y], &[])?[0].to_vec::<f32>()?, vec![0.5, 0.5]);
/// # Ok(()) }
/// ```
pub fn softmax(s: &Scope, logits: impl IntoInput) -> Result<Tensor> {
    softmax_with_axis(s, logits, -1)
}

/// Softmax over `axis`. TF1: `tf.nn.softmax(logits, axis=axis)`.
///
/// # Shapes
/// As [`softmax`].
///
/// # Errors
/// Non-float or scalar logits, or `axis` outside `[-rank, rank)` (build error).
pub fn softmax_with_axis(s: &Scope, logits: impl IntoInput, axis: i64) -> Result<Tensor> {
    let x = logits.into_tensor(s, None)?;
    s.add_op1(Softmax { log: false, axis }, &[x], "Softmax")
}

/// Log-softmax over the last axis. TF1: `tf.nn.log_softmax(logits)`.
///
/// `y_i = (x_i - max x) - log Σ_j exp(x_j - max x)`: finite for logits of any size.
///
/// # Shapes
/// As [`softmax`].
///
/// # Errors
/// As [`softmax`].
pub fn log_softmax(s: &Scope, logits: impl IntoInput) -> Result<Tensor> {
    log_softmax_with_axis(s, logits, -1)
}

/// Log-softmax over `axis`. TF1: `tf.nn.log_softmax(logits, axis=axis)`.
///
/// # Shapes
/// As [`softmax`].
///
/// # Errors
/// As [`softmax_with_axis`].
pub fn log_softmax_with_axis(s: &Scope, logits: impl IntoInput, axis: i64) -> Result<Tensor> {
    let x = logits.into_tensor(s, None)?;
    s.add_op1(Softmax { log: true, axis }, &[x], "LogSoftmax")
}

/// Row-wise softmax pieces for `[rows, n]` data used by the cross-entropy kernels:
/// returns `(max, Σ exp(x - max))` of one row.
pub(crate) fn row_max_sumexp<T: Real>(row: &[T]) -> (T, T) {
    let m = row.iter().fold(T::LOWEST, |a, &b| a.max_nan(b));
    let s = row.iter().fold(T::ZERO, |a, &v| a + (v - m).exp());
    (m, s)
}
