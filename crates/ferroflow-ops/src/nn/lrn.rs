//! Local response normalization over the last (channel) axis and its gradient kernel
//! (`LRNGrad`).
//!
//! Each pixel's channel row is handled on its own: window sums of squares come from a prefix
//! sum in f64 (exact enough for f64 checks, one pass), and `norm^-β` takes a fast path for
//! β = 0.5, 0.75 and 1 (the TF default, the tflearn/AlexNet value, and the plain ratio).

use super::conv::{by_float, flat, NnFloat};
use crate::input::IntoInput;
use ferroflow_core::typetag;
use ferroflow_core::{GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Tensor, TensorSpec, Value};
use num_traits::AsPrimitive;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::any::Any;

/// Options of [`local_response_normalization`]; defaults are TF1's.
///
/// ```
/// use ferroflow_ops::nn::LrnOptions;
/// let tflearn = LrnOptions::default().alpha(1e-4).beta(0.75);
/// assert_eq!((tflearn.depth_radius, tflearn.bias), (5, 1.0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrnOptions {
    /// Half-width of the channel window (TF1 default 5: 11 channels).
    pub depth_radius: usize,
    /// Offset added to the scaled sum (TF1 default 1).
    pub bias: f64,
    /// Scale of the sum of squares (TF1 default 1; *not* divided by the window size).
    pub alpha: f64,
    /// Exponent (TF1 default 0.5).
    pub beta: f64,
}

impl Default for LrnOptions {
    fn default() -> Self {
        LrnOptions { depth_radius: 5, bias: 1.0, alpha: 1.0, beta: 0.5 }
    }
}

impl LrnOptions {
    /// Sets the window half-width.
    pub fn depth_radius(mut self, r: usize) -> Self {
        self.depth_radius = r;
        self
    }
    /// Sets the bias.
    pub fn bias(mut self, b: f64) -> Self {
        self.bias = b;
        self
    }
    /// Sets alpha.
    pub fn alpha(mut self, a: f64) -> Self {
        self.alpha = a;
        self
    }
    /// Sets beta.
    pub fn beta(mut self, b: f64) -> Self {
        self.beta = b;
        self
    }

    fn check(&self) -> std::result::Result<(), String> {
        if !(self.bias.is_finite() && self.alpha.is_finite() && self.beta.is_finite()) {
            return Err(format!("bias, alpha and beta must be finite, got {self:?}"));
        }
        Ok(())
    }

    /// `n^-β`.
    #[inline]
    fn pow_neg(&self, n: f64) -> f64 {
        if self.beta == 0.5 {
            1.0 / n.sqrt()
        } else if self.beta == 0.75 {
            let r = n.sqrt();
            1.0 / (r * r.sqrt())
        } else if self.beta == 1.0 {
            1.0 / n
        } else {
            n.powf(-self.beta)
        }
    }
}

/// Normalizes each element by the squares of its neighbours along the last axis.
///
/// TF1: `tf.nn.local_response_normalization(input, depth_radius=5, bias=1, alpha=1, beta=0.5)`
/// (alias `tf.nn.lrn`).
///
/// `sqr_sum[..., c] = Σ_{c' = max(0, c−r)}^{min(C−1, c+r)} x[..., c']²`,
/// `y = x / (bias + alpha · sqr_sum)^beta`. `alpha` is used as given (not divided by the
/// window size, unlike some other frameworks).
///
/// # Shapes
/// `x: [n, h, w, c]` → same shape.
///
/// # Errors
/// A rank other than 4, a non-float input, non-finite options.
pub fn local_response_normalization(s: &Scope, x: impl IntoInput, opts: LrnOptions) -> Result<Tensor> {
    let x = x.into_tensor(s, None)?;
    s.add_op1(Lrn { opts }, &[x], "LRN")
}

/// Local response normalization (TF1 `LRN`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Lrn {
    /// Window, bias, alpha, beta.
    pub opts: LrnOptions,
}

fn infer_lrn(cx: &InferCtx<'_>, opts: &LrnOptions) -> Result<TensorSpec> {
    for i in 0..cx.num_inputs() {
        cx.expect_float(i)?;
        cx.expect_same_dtype(0, i)?;
        let x = cx.input(i)?;
        if x.shape.rank().is_some_and(|r| r != 4) {
            return Err(cx.error(format!("input must be 4-D [batch, height, width, channels], got shape {}", x.shape)));
        }
        if i > 0 && !x.shape.is_compatible_with(&cx.input(0)?.shape) {
            return Err(cx.error(format!("input {i} has shape {}, expected {}", x.shape, cx.input(0)?.shape)));
        }
    }
    opts.check().map_err(|m| cx.error(m))?;
    Ok(cx.input(0)?.clone())
}

fn check_rank4(cx: &KernelCtx<'_>) -> Result<(Vec<usize>, usize)> {
    let shape = cx.input(0)?.shape().to_vec();
    if shape.len() != 4 {
        return Err(cx.error(format!("input must be 4-D, got shape {shape:?}")));
    }
    for i in 1..cx.num_inputs() {
        if cx.input(i)?.shape() != shape.as_slice() {
            return Err(cx.error(format!("input {i} has shape {:?}, expected {shape:?}", cx.input(i)?.shape())));
        }
    }
    Ok((shape.clone(), shape.last().copied().unwrap_or(0)))
}

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 256;

/// Fills `norm[c] = bias + alpha · Σ_window x²` for one channel row.
fn norms<T: NnFloat>(x: &[T], o: &LrnOptions, pre: &mut Vec<f64>, norm: &mut [f64]) {
    let c = x.len();
    pre.clear();
    pre.push(0.0);
    let mut acc = 0.0f64;
    for &v in x {
        let v: f64 = v.as_();
        acc += v * v;
        pre.push(acc);
    }
    let r = o.depth_radius;
    for (i, n) in norm.iter_mut().enumerate() {
        let lo = i.saturating_sub(r);
        let hi = (i + r + 1).min(c);
        *n = o.bias + o.alpha * (pre[hi] - pre[lo]);
    }
}

fn lrn_forward<T: NnFloat>(x: &[T], c: usize, o: &LrnOptions) -> Vec<T>
where
    f64: AsPrimitive<T>,
{
    let mut y = vec![T::zero(); x.len()];
    if c == 0 {
        return y;
    }
    y.par_chunks_mut(c * ROWS_PER_TASK).zip(x.par_chunks(c * ROWS_PER_TASK)).for_each(|(yc, xc)| {
        let mut pre = Vec::with_capacity(c + 1);
        let mut norm = vec![0.0f64; c];
        for (yr, xr) in yc.chunks_exact_mut(c).zip(xc.chunks_exact(c)) {
            norms(xr, o, &mut pre, &mut norm);
            for ((yv, &xv), &n) in yr.iter_mut().zip(xr).zip(&norm) {
                let xv: f64 = xv.as_();
                *yv = (xv * o.pow_neg(n)).as_();
            }
        }
    });
    y
}

/// `dx[c] = dy[c]·norm[c]^-β − 2αβ·x[c]·Σ_{c' ∈ window(c)} dy[c']·y[c'] / norm[c']`.
fn lrn_backward<T: NnFloat>(x: &[T], y: &[T], dy: &[T], c: usize, o: &LrnOptions) -> Vec<T>
where
    f64: AsPrimitive<T>,
{
    let mut dx = vec![T::zero(); x.len()];
    if c == 0 {
        return dx;
    }
    let r = o.depth_radius;
    let k = 2.0 * o.alpha * o.beta;
    let blk = c * ROWS_PER_TASK;
    dx.par_chunks_mut(blk).enumerate().for_each(|(t, dxc)| {
        let base = t * blk;
        let (xc, yc, dyc) = (&x[base..base + dxc.len()], &y[base..base + dxc.len()], &dy[base..base + dxc.len()]);
        let mut pre = Vec::with_capacity(c + 1);
        let mut norm = vec![0.0f64; c];
        let mut pt = vec![0.0f64; c + 1];
        for (((dxr, xr), yr), dyr) in dxc.chunks_exact_mut(c).zip(xc.chunks_exact(c)).zip(yc.chunks_exact(c)).zip(dyc.chunks_exact(c)) {
            norms(xr, o, &mut pre, &mut norm);
            let mut acc = 0.0;
            for (i, ((&yv, &gv), &n)) in yr.iter().zip(dyr).zip(&norm).enumerate() {
                let (yv, gv): (f64, f64) = (yv.as_(), gv.as_());
                acc += gv * yv / n;
                pt[i + 1] = acc;
            }
            for (i, ((d, &xv), &gv)) in dxr.iter_mut().zip(xr).zip(dyr).enumerate() {
                let (xv, gv): (f64, f64) = (xv.as_(), gv.as_());
                let lo = i.saturating_sub(r);
                let hi = (i + r + 1).min(c);
                *d = (gv * o.pow_neg(norm[i]) - k * xv * (pt[hi] - pt[lo])).as_();
            }
        }
    });
    dx
}

#[typetag::serde]
impl Op for Lrn {
    fn type_name(&self) -> &'static str {
        "LRN"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        Ok(vec![infer_lrn(cx, &self.opts)?])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let (shape, c) = check_rank4(cx)?;
        let out = by_float!(cx.input(0)?.dtype(), cx, T => {
            let x = flat(cx.view::<T>(0)?);
            Value::from_shape_vec(&shape, lrn_forward::<T>(&x, c, &self.opts))
        });
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(dy) = cx.grad(0) else { return Ok(vec![None]) };
        let dx = s.add_op1(LrnGrad { opts: self.opts }, &[cx.input(0)?, cx.output(0), dy], "LRNGrad")?;
        Ok(vec![Some(dx)])
    }
    fn describe(&self) -> String {
        let o = &self.opts;
        format!("depth_radius={} bias={} alpha={} beta={}", o.depth_radius, o.bias, o.alpha, o.beta)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The input gradient of LRN (TF1 `LRNGrad`): inputs `[x, y, dy]`.
#[derive(Debug, Serialize, Deserialize)]
pub struct LrnGrad {
    /// The forward op's options.
    pub opts: LrnOptions,
}

#[typetag::serde]
impl Op for LrnGrad {
    fn type_name(&self) -> &'static str {
        "LRNGrad"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        Ok(vec![infer_lrn(cx, &self.opts)?])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let (shape, c) = check_rank4(cx)?;
        let out = by_float!(cx.input(0)?.dtype(), cx, T => {
            let x = flat(cx.view::<T>(0)?);
            let y = flat(cx.view::<T>(1)?);
            let dy = flat(cx.view::<T>(2)?);
            Value::from_shape_vec(&shape, lrn_backward::<T>(&x, &y, &dy, c, &self.opts))
        });
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
