//! Local response normalization over the last (channel) axis and its gradient kernel
//! (`LRNGrad`).
//!
//! Blocks of channel rows are processed with long contiguous loops that vectorize: window
//! sums of squares add the `2r + 1` shifted rows of a zero-padded copy (exact sums, no
//! running differences), and `norm^-β` takes a fast path for β = 0.5, 0.75 and 1 (the TF
//! default, the tflearn/AlexNet value, and the plain ratio).

use super::conv::{by_float, flat, NnFloat};
use crate::input::IntoInput;
use ferroflow_core::typetag;
use ferroflow_core::{GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Tensor, TensorSpec, Value};
use serde::{Deserialize, Serialize};

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

/// The options in the kernel's float type, with `β` classified once.
#[derive(Clone, Copy)]
struct Params<T> {
    r: usize,
    bias: T,
    alpha: T,
    /// `2αβ`, the factor of the gradient's cross term.
    k: T,
    beta: T,
    kind: Beta,
}

#[derive(Clone, Copy, PartialEq)]
enum Beta {
    Half,
    ThreeQuarters,
    One,
    Other,
}

impl<T: NnFloat> Params<T> {
    fn new(o: &LrnOptions) -> Self {
        let t = |v: f64| T::from(v).unwrap_or_else(T::zero);
        let kind = if o.beta == 0.5 {
            Beta::Half
        } else if o.beta == 0.75 {
            Beta::ThreeQuarters
        } else if o.beta == 1.0 {
            Beta::One
        } else {
            Beta::Other
        };
        Params {
            r: o.depth_radius,
            bias: t(o.bias),
            alpha: t(o.alpha),
            k: t(2.0 * o.alpha * o.beta),
            beta: t(o.beta),
            kind,
        }
    }

    /// `v[i] ← v[i]^-β` in place; one loop per case so each vectorizes.
    fn pow_neg(&self, v: &mut [T]) {
        match self.kind {
            Beta::Half => v.iter_mut().for_each(|n| *n = T::one() / n.sqrt()),
            Beta::ThreeQuarters => v.iter_mut().for_each(|n| {
                let r = n.sqrt();
                *n = T::one() / (r * r.sqrt());
            }),
            Beta::One => v.iter_mut().for_each(|n| *n = T::one() / *n),
            Beta::Other => {
                let e = -self.beta;
                v.iter_mut().for_each(|n| *n = n.powf(e));
            }
        }
    }
}

/// Windowed sums along rows of length `c`: `out[i] = Σ_{|j − i| ≤ r, 0 ≤ j < c} f(v[j])`.
/// `pad` is scratch; each sum adds the `2r + 1` terms directly (no running differences).
fn window_sums<T: NnFloat>(v: &[T], c: usize, r: usize, f: impl Fn(T) -> T, pad: &mut Vec<T>, out: &mut [T]) {
    let r = r.min(c);
    pad.clear();
    pad.resize(c + 2 * r, T::zero());
    for (row, o) in v.chunks_exact(c).zip(out.chunks_exact_mut(c)) {
        for (p, &x) in pad[r..r + c].iter_mut().zip(row) {
            *p = f(x);
        }
        // Blocks of 8 outputs keep their sums in registers across the 2r + 1 shifted adds.
        let mut blocks = o.chunks_exact_mut(8);
        let mut i0 = 0;
        for ob in &mut blocks {
            let mut acc = [T::zero(); 8];
            for p in pad[i0..i0 + 2 * r + 8].windows(8) {
                for (a, &v) in acc.iter_mut().zip(p) {
                    *a = *a + v;
                }
            }
            ob.copy_from_slice(&acc);
            i0 += 8;
        }
        for (j, a) in blocks.into_remainder().iter_mut().enumerate() {
            *a = pad[i0 + j..i0 + j + 2 * r + 1].iter().fold(T::zero(), |s, &v| s + v);
        }
    }
}

/// `norm = bias + α · Σ_window x²` for a block of rows.
fn norms<T: NnFloat>(x: &[T], c: usize, p: &Params<T>, pad: &mut Vec<T>, norm: &mut [T]) {
    window_sums(x, c, p.r, |v| v * v, pad, norm);
    norm.iter_mut().for_each(|n| *n = p.bias + p.alpha * *n);
}

fn lrn_forward<T: NnFloat>(x: &[T], c: usize, o: &LrnOptions) -> Vec<T> {
    let mut y = vec![T::zero(); x.len()];
    if c == 0 {
        return y;
    }
    let p = Params::<T>::new(o);
    crate::kernels::par::zip_chunks_mut(&mut y, c * ROWS_PER_TASK, x, c * ROWS_PER_TASK, |yc, xc| {
        let mut pad = Vec::new();
        // y holds norm, then norm^-β, then x · norm^-β.
        norms(xc, c, &p, &mut pad, yc);
        p.pow_neg(yc);
        yc.iter_mut().zip(xc).for_each(|(v, &xv)| *v = *v * xv);
    });
    y
}

/// `dx[c] = dy[c]·norm[c]^-β − 2αβ·x[c]·Σ_{c' ∈ window(c)} dy[c']·y[c'] / norm[c']`.
fn lrn_backward<T: NnFloat>(x: &[T], y: &[T], dy: &[T], c: usize, o: &LrnOptions) -> Vec<T> {
    let mut dx = vec![T::zero(); x.len()];
    if c == 0 {
        return dx;
    }
    let p = Params::<T>::new(o);
    let blk = c * ROWS_PER_TASK;
    crate::kernels::par::chunks_mut(&mut dx, blk, |t, dxc| {
        let base = t * blk;
        let m = dxc.len();
        let (xc, yc, dyc) = (&x[base..base + m], &y[base..base + m], &dy[base..base + m]);
        let mut pad = Vec::new();
        let mut norm = vec![T::zero(); m];
        let mut cross = vec![T::zero(); m];
        norms(xc, c, &p, &mut pad, &mut norm);
        // cross ← dy · y / norm, then its window sums.
        for ((t, &n), (&yv, &gv)) in cross.iter_mut().zip(&norm).zip(yc.iter().zip(dyc)) {
            *t = gv * yv / n;
        }
        let mut wsum = vec![T::zero(); m];
        window_sums(&cross, c, p.r, |v| v, &mut pad, &mut wsum);
        p.pow_neg(&mut norm);
        for (((d, &pn), &ws), (&xv, &gv)) in dxc.iter_mut().zip(&norm).zip(&wsum).zip(xc.iter().zip(dyc)) {
            *d = gv * pn - p.k * xv * ws;
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
}
