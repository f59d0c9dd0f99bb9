//! Losses: softmax cross-entropy (dense v1/v2 and sparse labels), sigmoid cross-entropy and
//! `l2_loss`, with numerically stable kernels (logits of ±100 give finite values and
//! gradients) and their gradients.

use crate::control::stop_gradient;
use crate::input::IntoInput;
use crate::math::binary::{add, mul, sub};
use crate::math::reduce::{contiguous, Real};
use crate::math::reduce_sum;
use crate::math::unary::{neg, sigmoid};
use crate::nn::softmax::{log_softmax, row_max_sumexp, softmax, SoftmaxGrad};
use ferroflow_core::typetag;
use ferroflow_core::{DType, Error, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value};
use ndarray::ArrayViewD;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Parallel over rows only above this many logits.
const PAR_MIN: usize = 1 << 15;

/// The shape without its last dim (`None` rank stays unknown).
fn drop_last(shape: &Shape) -> Shape {
    match shape.dims() {
        Some(d) if !d.is_empty() => Shape::from_dims(d[..d.len() - 1].to_vec()),
        _ => Shape::unknown(),
    }
}

fn expect_rank_ge1(cx: &InferCtx<'_>, spec: &TensorSpec, what: &str) -> Result<()> {
    if spec.shape.rank() == Some(0) {
        return Err(cx.error(format!(
            "{what} must have rank >= 1 (the last axis holds the classes), got a scalar {}",
            spec.dtype
        )));
    }
    Ok(())
}

/// Runs `f(row_index, logits_row, backprop_row, loss)` for every row, in parallel when large.
fn per_row<T: Real>(
    x: &[T],
    c: usize,
    back: &mut [T],
    loss: &mut [T],
    f: impl Fn(usize, &[T], &mut [T], &mut T) + Sync,
) {
    if c == 0 {
        loss.fill(T::ZERO);
        return;
    }
    if x.len() >= PAR_MIN && rayon::current_num_threads() > 1 {
        back.par_chunks_mut(c)
            .zip(x.par_chunks(c))
            .zip(loss.par_iter_mut())
            .enumerate()
            .for_each(|(i, ((b, xr), l))| f(i, xr, b, l));
    } else {
        for (i, ((b, xr), l)) in back.chunks_mut(c).zip(x.chunks(c)).zip(loss.iter_mut()).enumerate() {
            f(i, xr, b, l);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dense softmax cross-entropy.

/// Softmax cross-entropy with dense labels over the last axis (TF1
/// `SoftmaxCrossEntropyWithLogits`). Inputs `[logits, labels]`; outputs `[loss, backprop]`
/// where `backprop = softmax(logits) - labels` is kept for the gradient.
#[derive(Debug, Serialize, Deserialize)]
pub struct SoftmaxCrossEntropyWithLogits;

fn xent_value<T: Real>(x: &ArrayViewD<'_, T>, z: &ArrayViewD<'_, T>) -> Result<Vec<Value>> {
    if x.shape() != z.shape() {
        return Err(Error::invalid(format!(
            "labels have shape {:?} but logits have shape {:?}; they must be equal",
            z.shape(),
            x.shape()
        )));
    }
    let dims = x.shape();
    let Some((&c, lead)) = dims.split_last() else { return Err(Error::invalid("logits must have rank >= 1")) };
    let rows: usize = lead.iter().product();
    let (xd, zd) = (contiguous(x), contiguous(z));
    let mut back = vec![T::ZERO; xd.len()];
    let mut loss = vec![T::ZERO; rows];
    per_row(&xd, c, &mut back, &mut loss, |i, xr, b, l| {
        let zr = &zd[i * c..(i + 1) * c];
        // TF's kernel: shifted = x - max; loss = Σ z·(log Σexp(shifted) - shifted);
        // backprop = exp(shifted) / Σexp(shifted) - z.
        let (m, se) = row_max_sumexp(xr);
        let lse = se.ln();
        let mut acc = T::ZERO;
        for ((bo, &xv), &zv) in b.iter_mut().zip(xr).zip(zr) {
            let sh = xv - m;
            acc = acc + zv * (lse - sh);
            *bo = sh.exp() / se - zv;
        }
        *l = acc;
    });
    Ok(vec![Value::from_shape_vec(lead, loss)?, Value::from_shape_vec(dims, back)?])
}

#[typetag::serde]
impl Op for SoftmaxCrossEntropyWithLogits {
    fn type_name(&self) -> &'static str {
        "SoftmaxCrossEntropyWithLogits"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.expect_float(0)?;
        let z = cx.input(1)?;
        if z.dtype != x.dtype {
            return Err(cx.error(format!("labels are {} but logits are {}; cast the labels", z.dtype, x.dtype)));
        }
        expect_rank_ge1(cx, x, "logits")?;
        let shape = x.shape.merge(&z.shape).ok_or_else(|| {
            cx.error(format!(
                "labels shape {} and logits shape {} must be the same ([batch, classes])",
                z.shape, x.shape
            ))
        })?;
        Ok(vec![TensorSpec::new(x.dtype, drop_last(&shape)), TensorSpec::new(x.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let out = match cx.input(0)?.dtype() {
            DType::F32 => xent_value(&cx.view::<f32>(0)?, &cx.view::<f32>(1)?),
            DType::F64 => xent_value(&cx.view::<f64>(0)?, &cx.view::<f64>(1)?),
            d => return Err(cx.error(format!("expected float logits, got {d}"))),
        };
        out.map_err(|e| cx.wrap(e))
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let (logits, backprop) = (cx.input(0)?, cx.output(1));
        let (mut dx, mut dz) = (None, None);
        if let Some(g) = cx.grad(0) {
            // d loss/d logits = backprop · g;  d loss/d labels = -log_softmax(logits) · g.
            dx = Some(broadcast_mul(s, backprop, g)?);
            dz = Some(broadcast_mul(s, neg(s, log_softmax(s, logits)?)?, g)?);
        }
        if let Some(gb) = cx.grad(1) {
            // backprop = softmax(logits) - labels (a gradient of a gradient).
            let sm = softmax(s, logits)?;
            let ex = s.add_op1(SoftmaxGrad { log: false, axis: -1 }, &[sm, gb], "SoftmaxGrad")?;
            dx = Some(match dx {
                Some(d) => add(s, d, ex)?,
                None => ex,
            });
            let ng = neg(s, gb)?;
            dz = Some(match dz {
                Some(d) => add(s, d, ng)?,
                None => ng,
            });
        }
        Ok(vec![dx, dz])
    }
}

// ---------------------------------------------------------------------------------------------
// Sparse softmax cross-entropy.

/// Softmax cross-entropy with integer class labels (TF1 `SparseSoftmaxCrossEntropyWithLogits`).
/// Inputs `[logits, labels]`; outputs `[loss, backprop]`. A label outside `[0, classes)` is a
/// run-time error naming the node, the label and its position.
#[derive(Debug, Serialize, Deserialize)]
pub struct SparseSoftmaxCrossEntropyWithLogits;

fn sparse_value<T: Real>(x: &ArrayViewD<'_, T>, labels: &[i64], label_dims: &[usize]) -> Result<Vec<Value>> {
    let dims = x.shape();
    let Some((&c, lead)) = dims.split_last() else { return Err(Error::invalid("logits must have rank >= 1")) };
    if lead != label_dims {
        return Err(Error::invalid(format!(
            "labels have shape {label_dims:?} but logits have shape {dims:?}; labels must have the logits' shape without the last (class) dim"
        )));
    }
    for (i, &l) in labels.iter().enumerate() {
        if l < 0 || l as u64 >= c as u64 {
            return Err(Error::invalid(format!(
                "received a label value of {l} (at flat position {i}) which is outside the valid range of [0, {c})"
            )));
        }
    }
    let xd = contiguous(x);
    let mut back = vec![T::ZERO; xd.len()];
    let mut loss = vec![T::ZERO; labels.len()];
    per_row(&xd, c, &mut back, &mut loss, |i, xr, b, l| {
        let (m, se) = row_max_sumexp(xr);
        let lab = labels.get(i).copied().unwrap_or(0) as usize;
        for (j, (bo, &xv)) in b.iter_mut().zip(xr).enumerate() {
            let p = (xv - m).exp() / se;
            *bo = if j == lab { p - T::ONE } else { p };
        }
        // loss = log Σexp(shifted) - shifted[label]
        *l = se.ln() - (xr.get(lab).copied().unwrap_or(T::ZERO) - m);
    });
    Ok(vec![Value::from_shape_vec(lead, loss)?, Value::from_shape_vec(dims, back)?])
}

#[typetag::serde]
impl Op for SparseSoftmaxCrossEntropyWithLogits {
    fn type_name(&self) -> &'static str {
        "SparseSoftmaxCrossEntropyWithLogits"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.expect_float(0)?;
        let z = cx.input(1)?;
        if !matches!(z.dtype, DType::I32 | DType::I64) {
            return Err(cx.error(format!("labels must be int32 or int64 class indices, got {} {}", z.dtype, z.shape)));
        }
        expect_rank_ge1(cx, x, "logits")?;
        if let (Some(rx), Some(rz)) = (x.shape.rank(), z.shape.rank()) {
            if rz + 1 != rx {
                return Err(cx.error(format!(
                    "rank mismatch: labels {} have rank {rz} but must have the rank of logits {} minus 1 ({})",
                    z.shape,
                    x.shape,
                    rx - 1
                )));
            }
        }
        let lead = drop_last(&x.shape).merge(&z.shape).ok_or_else(|| {
            cx.error(format!("labels shape {} must equal the logits shape {} without its last dim", z.shape, x.shape))
        })?;
        let full = match (lead.dims(), x.shape.dims()) {
            (Some(l), Some(d)) => {
                let mut v = l.to_vec();
                v.push(d.last().copied().flatten());
                Shape::from_dims(v)
            }
            _ => x.shape.clone(),
        };
        Ok(vec![TensorSpec::new(x.dtype, lead), TensorSpec::new(x.dtype, full)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let lv = cx.input(1)?;
        let label_dims = lv.shape().to_vec();
        let labels: Vec<i64> = match lv {
            Value::I32(a) => a.iter().map(|&v| i64::from(v)).collect(),
            Value::I64(a) => a.iter().copied().collect(),
            other => return Err(cx.error(format!("labels must be int32 or int64, got {}", other.dtype()))),
        };
        let out = match cx.input(0)?.dtype() {
            DType::F32 => sparse_value(&cx.view::<f32>(0)?, &labels, &label_dims),
            DType::F64 => sparse_value(&cx.view::<f64>(0)?, &labels, &label_dims),
            d => return Err(cx.error(format!("expected float logits, got {d}"))),
        };
        out.map_err(|e| cx.wrap(e))
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let (logits, backprop) = (cx.input(0)?, cx.output(1));
        let mut dx = match cx.grad(0) {
            Some(g) => Some(broadcast_mul(s, backprop, g)?),
            None => None,
        };
        if let Some(gb) = cx.grad(1) {
            let sm = softmax(s, logits)?;
            let ex = s.add_op1(SoftmaxGrad { log: false, axis: -1 }, &[sm, gb], "SoftmaxGrad")?;
            dx = Some(match dx {
                Some(d) => add(s, d, ex)?,
                None => ex,
            });
        }
        Ok(vec![dx, None])
    }
}

// ---------------------------------------------------------------------------------------------
// Broadcasting a per-row factor over the last axis.

/// `a · v[..., None]`: scales each row (last axis) of `a` by the matching element of `v`
/// (TF's `_BroadcastMul`, used by the cross-entropy gradients).
#[derive(Debug, Serialize, Deserialize)]
pub struct BroadcastMul;

fn broadcast_mul_value<T: Real>(a: &ArrayViewD<'_, T>, v: &ArrayViewD<'_, T>) -> Result<Value> {
    let dims = a.shape();
    let Some((&c, lead)) = dims.split_last() else {
        return Err(Error::invalid("the scaled tensor must have rank >= 1"));
    };
    if v.shape() != lead {
        return Err(Error::invalid(format!("cannot scale the rows of a {dims:?} tensor by a {:?} tensor", v.shape())));
    }
    let (ad, vd) = (contiguous(a), contiguous(v));
    let mut out = vec![T::ZERO; ad.len()];
    if c > 0 {
        for ((or, ar), &s) in out.chunks_mut(c).zip(ad.chunks(c)).zip(vd.iter()) {
            for (o, &x) in or.iter_mut().zip(ar) {
                *o = x * s;
            }
        }
    }
    Value::from_shape_vec(dims, out)
}

#[typetag::serde]
impl Op for BroadcastMul {
    fn type_name(&self) -> &'static str {
        "BroadcastMul"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        cx.expect_float(0)?;
        cx.expect_same_dtype(0, 1)?;
        Ok(vec![cx.input(0)?.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let out = match cx.input(0)?.dtype() {
            DType::F32 => broadcast_mul_value(&cx.view::<f32>(0)?, &cx.view::<f32>(1)?),
            DType::F64 => broadcast_mul_value(&cx.view::<f64>(0)?, &cx.view::<f64>(1)?),
            d => return Err(cx.error(format!("expected a float input, got {d}"))),
        };
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(gg) = cx.grad(0) else { return Ok(vec![None, None]) };
        let (a, v) = (cx.input(0)?, cx.input(1)?);
        let da = broadcast_mul(s, gg, v)?;
        let dv = reduce_sum(s, mul(s, gg, a)?, Some(&[-1]), false)?;
        Ok(vec![Some(da), Some(dv)])
    }
}

fn broadcast_mul(s: &Scope, a: Tensor, v: Tensor) -> Result<Tensor> {
    s.add_op1(BroadcastMul, &[a, v], "BroadcastMul")
}

// ---------------------------------------------------------------------------------------------
// Sigmoid cross-entropy.

/// Element-wise sigmoid cross-entropy in TF's stable form (TF1 builds it from `Relu`-like
/// selects; ferroflow uses one kernel): `max(x, 0) - x·z + log1p(exp(-|x|))`. Inputs
/// `[labels, logits]`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SigmoidCrossEntropyWithLogits;

fn sigmoid_xent_value<T: Real>(z: &ArrayViewD<'_, T>, x: &ArrayViewD<'_, T>) -> Result<Value> {
    if x.shape() != z.shape() {
        return Err(Error::invalid(format!(
            "labels have shape {:?} but logits have shape {:?}; they must be equal",
            z.shape(),
            x.shape()
        )));
    }
    let out = ndarray::Zip::from(x).and(z).map_collect(|&x, &z| {
        let relu = if x >= T::ZERO { x } else { T::ZERO };
        (relu - x * z) + (-x.abs()).exp().ln_1p()
    });
    Ok(T::into_value(out.into_shared()))
}

#[typetag::serde]
impl Op for SigmoidCrossEntropyWithLogits {
    fn type_name(&self) -> &'static str {
        "SigmoidCrossEntropyWithLogits"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let (z, x) = (cx.input(0)?, cx.expect_float(1)?);
        if z.dtype != x.dtype {
            return Err(cx.error(format!("labels are {} but logits are {}; cast the labels", z.dtype, x.dtype)));
        }
        let shape = z.shape.merge(&x.shape).ok_or_else(|| {
            cx.error(format!(
                "logits and labels must have the same shape, got labels {} and logits {}",
                z.shape, x.shape
            ))
        })?;
        Ok(vec![TensorSpec::new(x.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let out = match cx.input(1)?.dtype() {
            DType::F32 => sigmoid_xent_value(&cx.view::<f32>(0)?, &cx.view::<f32>(1)?),
            DType::F64 => sigmoid_xent_value(&cx.view::<f64>(0)?, &cx.view::<f64>(1)?),
            d => return Err(cx.error(format!("expected float logits, got {d}"))),
        };
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = cx.grad(0) else { return Ok(vec![None, None]) };
        let (z, x) = (cx.input(0)?, cx.input(1)?);
        // d/dx = sigmoid(x) - z;  d/dz = -x.
        let dx = mul(s, g, sub(s, sigmoid(s, x)?, z)?)?;
        let dz = mul(s, g, neg(s, x)?)?;
        Ok(vec![Some(dz), Some(dx)])
    }
}

// ---------------------------------------------------------------------------------------------
// L2 loss.

/// `Σ t² / 2` as a scalar (TF1 `L2Loss`: `sum(t² · 0.5)`).
#[derive(Debug, Serialize, Deserialize)]
pub struct L2Loss;

fn l2_value<T: Real>(t: &ArrayViewD<'_, T>) -> Value {
    let d = contiguous(t);
    let half = T::of(0.5);
    let mut acc = [T::ZERO; 8];
    let chunks = d.chunks_exact(8);
    let rem = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            acc[k] = acc[k] + c[k] * c[k] * half;
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &v in rem {
        s = s + v * v * half;
    }
    Value::filled(&[], s)
}

#[typetag::serde]
impl Op for L2Loss {
    fn type_name(&self) -> &'static str {
        "L2Loss"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let t = cx.expect_float(0)?;
        Ok(vec![TensorSpec::new(t.dtype, Shape::scalar())])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        Ok(vec![match cx.input(0)? {
            Value::F32(a) => l2_value(&a.view()),
            Value::F64(a) => l2_value(&a.view()),
            other => return Err(cx.error(format!("expected a float input, got {}", other.dtype()))),
        }])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = cx.grad(0) else { return Ok(vec![None]) };
        Ok(vec![Some(mul(s, cx.input(0)?, g)?)])
    }
}

// ---------------------------------------------------------------------------------------------
// Builders.

fn labels_logits(s: &Scope, labels: impl IntoInput, logits: impl IntoInput) -> Result<(Tensor, Tensor)> {
    let x = logits.into_tensor(s, None)?;
    let z = labels.into_tensor(s, Some(x.dtype(s)?))?;
    Ok((z, x))
}

/// Softmax cross-entropy of `logits` against a distribution `labels`, with **no gradient into
/// `labels`** (they go through `stop_gradient`). TF1: `tf.nn.softmax_cross_entropy_with_logits`.
///
/// `loss = -Σ_c labels_c · log_softmax(logits)_c` over the last axis, computed stably
/// (`Σ labels · (log Σ exp(x - max) - (x - max))`). The gradient w.r.t. `logits` is TF's
/// `softmax(logits) - labels` (exact when each row of `labels` sums to 1).
///
/// # Shapes
/// `labels` and `logits` `[?, classes]` (any rank ≥ 1, classes last) give `loss` `[?]`.
///
/// # Errors
/// Shapes that differ, different dtypes, integer or scalar logits (build errors).
///
/// ```
/// use ferroflow_core::Graph;
/// use ferroflow_ops::{constant, nn};
/// use ferroflow_session::Session;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let logits = constant(&s, ndarray::array![[0.0f32, 0.0]])?;
/// let labels = constant(&s, ndarray::array![[1.0f32, 0.0]])?;
/// let loss = nn::softmax_cross_entropy_with_logits(&s, labels, logits)?;
/// let v = Session::new(&g).run([loss], &[])?[0].to_vec::<f32>()?;
/// assert!((v[0] - 2f32.ln()).abs() < 1e-6);
/// # Ok(()) }
/// ```
pub fn softmax_cross_entropy_with_logits(s: &Scope, labels: impl IntoInput, logits: impl IntoInput) -> Result<Tensor> {
    s.op_scope("softmax_cross_entropy_with_logits_sg", |s| {
        let (z, x) = labels_logits(s, labels, logits)?;
        let z = stop_gradient(s, z)?;
        xent(s, z, x)
    })
}

fn xent(s: &Scope, z: Tensor, x: Tensor) -> Result<Tensor> {
    Ok(s.add_op(SoftmaxCrossEntropyWithLogits, &[x, z], "SoftmaxCrossEntropyWithLogits")?.output(0))
}

/// Softmax cross-entropy with gradients into both `logits` and `labels`.
/// TF1: `tf.nn.softmax_cross_entropy_with_logits_v2`.
///
/// Same value as [`softmax_cross_entropy_with_logits`]; d loss / d labels `= -log_softmax(logits)`.
///
/// # Shapes
/// As [`softmax_cross_entropy_with_logits`].
///
/// # Errors
/// As [`softmax_cross_entropy_with_logits`].
pub fn softmax_cross_entropy_with_logits_v2(
    s: &Scope,
    labels: impl IntoInput,
    logits: impl IntoInput,
) -> Result<Tensor> {
    let (z, x) = labels_logits(s, labels, logits)?;
    xent(s, z, x)
}

/// Softmax cross-entropy against integer class indices.
/// TF1: `tf.nn.sparse_softmax_cross_entropy_with_logits`.
///
/// `loss = log Σ_c exp(x_c - max x) - (x_label - max x)`; gradient w.r.t. `logits`
/// `softmax(logits) - one_hot(label)`; none w.r.t. `labels`.
///
/// # Shapes
/// `labels` `[?]` (int32/int64) and `logits` `[?, classes]` give `loss` `[?]`; in general
/// `labels` has the shape of `logits` without its last dim.
///
/// # Errors
/// Build time: non-integer labels, labels whose rank is not rank(logits) − 1, or mismatched
/// leading dims. Run time: a label outside `[0, classes)` (the message names the node, the
/// label value and its position).
pub fn sparse_softmax_cross_entropy_with_logits(
    s: &Scope,
    labels: impl IntoInput,
    logits: impl IntoInput,
) -> Result<Tensor> {
    let x = logits.into_tensor(s, None)?;
    let z = labels.into_tensor(s, None)?;
    Ok(s.add_op(SparseSoftmaxCrossEntropyWithLogits, &[x, z], "SparseSoftmaxCrossEntropyWithLogits")?.output(0))
}

/// Element-wise sigmoid cross-entropy. TF1: `tf.nn.sigmoid_cross_entropy_with_logits`.
///
/// `loss = max(x, 0) - x·z + log1p(exp(-|x|))` (TF's stable form; finite for any `x`);
/// d/dx `= sigmoid(x) - z`, d/dz `= -x`.
///
/// # Shapes
/// `labels` and `logits` of the same shape; `loss` has that shape.
///
/// # Errors
/// Different shapes or dtypes, integer logits (build errors).
pub fn sigmoid_cross_entropy_with_logits(s: &Scope, labels: impl IntoInput, logits: impl IntoInput) -> Result<Tensor> {
    let (z, x) = labels_logits(s, labels, logits)?;
    s.add_op1(SigmoidCrossEntropyWithLogits, &[z, x], "logistic_loss")
}

/// Half the squared L2 norm: `Σ t² / 2`. TF1: `tf.nn.l2_loss`.
///
/// # Shapes
/// Any shape in, a scalar out.
///
/// # Errors
/// A non-float input (build error).
///
/// ```
/// use ferroflow_core::Graph;
/// use ferroflow_ops::{constant, nn};
/// use ferroflow_session::Session;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let l = nn::l2_loss(&s, constant(&s, vec![3.0f32, 4.0])?)?;
/// assert_eq!(Session::new(&g).run([l], &[])?[0].scalar::<f32>()?, 12.5);
/// # Ok(()) }
/// ```
pub fn l2_loss(s: &Scope, t: impl IntoInput) -> Result<Tensor> {
    let t = t.into_tensor(s, None)?;
    s.add_op1(L2Loss, &[t], "L2Loss")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_last_dims() {
        assert_eq!(drop_last(&Shape::from([4, 5])), Shape::from([4]));
        assert_eq!(drop_last(&Shape::unknown()), Shape::unknown());
    }
}
