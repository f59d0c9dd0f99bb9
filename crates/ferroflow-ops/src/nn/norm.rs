//! Normalization: `moments` and `batch_normalization` (composites exactly as TF1 builds them,
//! so their gradients come from the primitive ops), and `fused_batch_norm` (NHWC), a real kernel
//! op (`FusedBatchNormV3`) with a fused backward kernel (`FusedBatchNormGradV3`).

use crate::control::stop_gradient;
use crate::input::{IntoInput, OptionalInput};
use crate::math::binary::{add, mul, squared_difference, sub};
use crate::math::reduce::{contiguous, norm_axes, Real, Reduce};
use crate::math::unary::{neg, rsqrt};
use crate::math::{reduce_mean, reduce_sum};
use ferroflow_core::typetag;
use ferroflow_core::{DType, Error, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Composites.

/// Mean and (biased) variance of `x` over `axes`. TF1: `tf.nn.moments(x, axes, keep_dims)`.
///
/// Built as TF builds it, in a `moments` name scope:
/// `mean = reduce_mean(x, axes, keep_dims=true)`,
/// `variance = reduce_mean(squared_difference(x, stop_gradient(mean)), axes, keep_dims=true)`,
/// then both squeezed unless `keep_dims`. The gradient therefore comes from the primitives
/// (`stop_gradient` is exact here because `Σ(x - mean) = 0`).
///
/// # Shapes
/// `x` `[?, 5]` over `[0]` gives `[5]` and `[5]` (`[1, 5]` with `keep_dims`); NHWC `[?, H, W, C]`
/// over `[0, 1, 2]` gives `[C]`.
///
/// # Errors
/// An axis outside `[-rank, rank)` (build error naming the shape).
///
/// ```
/// use ferroflow_core::Graph;
/// use ferroflow_ops::{constant, nn};
/// use ferroflow_session::Session;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = constant(&s, ndarray::array![[1.0f32, 2.0], [3.0, 6.0]])?;
/// let (mean, var) = nn::moments(&s, x, &[0], false)?;
/// let out = Session::new(&g).run([mean, var], &[])?;
/// assert_eq!(out[0].to_vec::<f32>()?, vec![2.0, 4.0]);
/// assert_eq!(out[1].to_vec::<f32>()?, vec![1.0, 4.0]);
/// # Ok(()) }
/// ```
pub fn moments(s: &Scope, x: impl IntoInput, axes: &[i64], keep_dims: bool) -> Result<(Tensor, Tensor)> {
    s.op_scope("moments", |s| {
        let x = x.into_tensor(s, None)?;
        let start = s.graph().num_nodes();
        let mean = reduce_mean(&s.with_name("mean"), x, Some(axes), true)?;
        let sg = stop_gradient(s, mean)?;
        let sq = squared_difference(s, x, sg)?;
        let var = reduce_mean(&s.with_name("variance"), sq, Some(axes), true)?;
        let (mean, var) = if keep_dims {
            (mean, var)
        } else {
            // Squeeze the size-1 axes: a sum over them is an exact copy whose gradient broadcasts back.
            let mean = reduce_sum(&s.with_name("Squeeze"), mean, Some(axes), false)?;
            let var = reduce_sum(&s.with_name("Squeeze"), var, Some(axes), false)?;
            (mean, var)
        };
        if channel_last_axes(s, &x, axes)? {
            s.graph().add_composite(
                s.name_prefix(),
                start,
                vec![x],
                vec![Some(mean), Some(var)],
                Arc::new(FusedMoments { keep_dims }),
            )?;
        }
        Ok((mean, var))
    })
}

/// Batch normalization with given statistics. TF1: `tf.nn.batch_normalization(x, mean,
/// variance, offset, scale, variance_epsilon)`.
///
/// `y = scale · (x - mean) / sqrt(variance + epsilon) + offset`, computed exactly as TF does
/// in a `batchnorm` name scope: `inv = rsqrt(variance + epsilon) · scale`,
/// `y = x · inv + (offset - mean · inv)` (`-mean · inv` without offset; `scale` 1 when `None`).
/// Gradients flow to every input (a composite of element-wise ops).
///
/// Every input may be a `Tensor`, a `Variable` or a literal ([`IntoInput`]); `offset` and
/// `scale` may also be `None` or `Some(tensor)` ([`OptionalInput`]), so the TF1 call
/// `tf.nn.batch_normalization(x, m, v, beta, gamma, 1e-3)` with `beta`/`gamma` variables reads
/// `nn::batch_normalization(&s, x, m, v, beta, gamma, 1e-3)?`.
///
/// # Shapes
/// NumPy broadcasting: `x` `[?, 5]` with `[5]` statistics gives `[?, 5]`.
///
/// # Errors
/// Shapes that do not broadcast or mixed dtypes (build errors).
///
/// ```
/// use ferroflow_core::Graph;
/// use ferroflow_ops::state::{global_variables_initializer, variable, VariableOptions};
/// use ferroflow_ops::{constant, nn};
/// use ferroflow_session::Session;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = constant(&s, vec![1.0f64, 3.0])?;
/// let y = nn::batch_normalization(&s, x, 2.0f64, 1.0f64, None, None, 0.0)?;
/// assert_eq!(Session::new(&g).run([y], &[])?[0].to_vec::<f64>()?, vec![-1.0, 1.0]);
/// // beta and gamma as variables, passed as TF1 passes them.
/// let beta = variable(&s.with_name("beta"), vec![10.0f64, 10.0], VariableOptions::default())?;
/// let gamma = variable(&s.with_name("gamma"), vec![2.0f64, 2.0], VariableOptions::default())?;
/// let z = nn::batch_normalization(&s, x, 2.0f64, 1.0f64, beta, gamma, 0.0)?;
/// let sess = Session::new(&g);
/// sess.run_ops(&[global_variables_initializer(&s)?], &[])?;
/// assert_eq!(sess.run([z], &[])?[0].to_vec::<f64>()?, vec![8.0, 12.0]);
/// # Ok(()) }
/// ```
pub fn batch_normalization(
    s: &Scope,
    x: impl IntoInput,
    mean: impl IntoInput,
    variance: impl IntoInput,
    offset: impl OptionalInput,
    scale: impl OptionalInput,
    epsilon: f64,
) -> Result<Tensor> {
    s.op_scope("batchnorm", |s| {
        let x = x.into_tensor(s, None)?;
        let dt = Some(x.dtype(s)?);
        let mean = mean.into_tensor(s, dt)?;
        let variance = variance.into_tensor(s, dt)?;
        let offset = offset.into_opt_tensor(s, dt)?;
        let scale = scale.into_opt_tensor(s, dt)?;
        warn_if_moments_over_channels(s, x, mean);
        let start = s.graph().num_nodes();
        let mut inv = rsqrt(s, add(s, variance, epsilon)?)?;
        if let Some(sc) = scale {
            inv = mul(s, inv, sc)?;
        }
        let shift = match offset {
            Some(o) => sub(s, o, mul(s, mean, inv)?)?,
            None => neg(s, mul(s, mean, inv)?)?,
        };
        let y = add(s, mul(s, x, inv)?, shift)?;
        let stats = [Some(mean), Some(variance), offset, scale];
        if per_channel_of(s, &x, stats.iter().flatten())? {
            let op = BatchNormApply { epsilon, has_offset: offset.is_some(), has_scale: scale.is_some() };
            let inputs = std::iter::once(x).chain(stats.into_iter().flatten()).collect();
            s.graph().add_composite(s.name_prefix(), start, inputs, vec![Some(y)], Arc::new(op))?;
        }
        Ok(y)
    })
}

/// The TF1 trap of `moments` over every axis of the input of a batch norm (NHWC `[0, 1, 2, 3]`
/// instead of `[0, 1, 2]`): one mean and variance for all channels, which TF1 accepts silently.
/// When `mean` comes from a `moments` (seen through `Identity` ops)
/// whose axes include the last (channel) axis of `x`, the graph gets one warning naming every
/// such moments (see `Graph::warn_about`).
fn warn_if_moments_over_channels(s: &Scope, x: Tensor, mean: Tensor) {
    let Some(rank) = x.shape(s).ok().and_then(|sh| sh.rank()).filter(|&r| r >= 2) else { return };
    let found = s.graph().read(|st| {
        let mut t = mean;
        // A few hops: Squeeze (a Sum) ← Mean, and Identity/Switch in between.
        for _ in 0..8 {
            let node = st.node(t.op()).ok()?;
            if let Some(r) = node.op.downcast_ref::<Reduce>() {
                let is_moments_mean = node.name.rsplit_once('/').is_some_and(|(scope, _)| {
                    scope.rsplit('/').next().is_some_and(|last| last == "moments" || last.starts_with("moments_"))
                });
                let input = node.inputs.first()?;
                let in_rank = st.spec(*input).ok()?.shape.rank()?;
                if !is_moments_mean || in_rank != rank {
                    return None;
                }
                if node.name.ends_with("/Squeeze") || node.name.contains("/Squeeze_") {
                    t = *input;
                    continue;
                }
                let axes = norm_axes(r.axes.as_deref(), in_rank).ok()?;
                let scope = node.name.rsplit_once('/').map(|(sc, _)| sc.to_string())?;
                return axes.contains(&(rank - 1)).then_some(scope);
            }
            match node.op.type_name() {
                "Identity" => t = *node.inputs.first()?,
                _ => return None,
            }
        }
        None
    });
    if let Some(moments_scope) = found {
        s.graph().warn_about(
            "moments_over_channels",
            "moments feeding a batch normalization were taken over the channel (last) axis too, so every channel is normalized with one shared mean and variance",
            moments_scope,
            "take moments over every axis but the last: [0, 1, 2] for NHWC input, [0] for [batch, features]",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Fused batch norm: shape rule shared by the forward and backward ops.

/// Rows (`N·H·W`) above this many elements are processed in parallel.
const PAR_MIN: usize = 1 << 15;
/// Target elements per parallel block of rows.
const BLOCK: usize = 1 << 14;

/// Checks `x` is 4-D NHWC and each per-channel input is `[C]`; returns the merged `[C]` shape.
fn infer_channels(cx: &InferCtx<'_>, x_index: usize, channel_inputs: &[(usize, &str)]) -> Result<Shape> {
    let x = cx.expect_float(x_index)?;
    if let Some(r) = x.shape.rank() {
        if r != 4 {
            return Err(cx.error(format!(
                "x must be a 4-D NHWC tensor [batch, height, width, channels], got {} {} (rank {r}); for 2-D input use moments + batch_normalization",
                x.dtype, x.shape
            )));
        }
    }
    let mut c = Shape::from_dims(vec![x.shape.dim(3)]);
    for &(i, name) in channel_inputs {
        let sp = cx.input(i)?;
        if sp.dtype != x.dtype {
            return Err(cx.error(format!("{name} is {} but x is {}; they must have the same dtype", sp.dtype, x.dtype)));
        }
        if sp.shape.rank().is_some_and(|r| r != 1) {
            return Err(cx.error(format!("{name} must be 1-D [channels], got shape {}", sp.shape)));
        }
        c = c.merge(&sp.shape).ok_or_else(|| {
            cx.error(format!(
                "{name} has shape {} but x {} has {} channels",
                sp.shape,
                x.shape,
                c.dim(0).map_or("?".into(), |d| d.to_string())
            ))
        })?;
    }
    Ok(c)
}

/// `(rows, channels)` of an NHWC value, checking rank 4 at run time.
fn nhwc(dims: &[usize]) -> Result<(usize, usize)> {
    if dims.len() != 4 {
        return Err(Error::invalid(format!("x must be a 4-D NHWC tensor, got shape {dims:?}")));
    }
    Ok((dims[..3].iter().product(), dims[3]))
}

fn check_channel_len(what: &str, v: &Value, c: usize) -> Result<()> {
    if v.shape() != [c] {
        return Err(Error::invalid(format!("{what} has shape {:?} but x has {c} channels", v.shape())));
    }
    Ok(())
}

/// Per-channel mean and biased variance of `[rows, c]` data: one pass in `f64`, shifted by the
/// first row for accuracy (`mean = shift + Σd/n`, `var = Σd²/n - (Σd/n)²` with `d = x - shift`).
fn channel_moments<T: Real>(x: &[T], c: usize) -> (Vec<T>, Vec<T>) {
    let rows = x.len().checked_div(c).unwrap_or(0);
    let shift: Vec<f64> = x.get(..c).map_or_else(|| vec![0.0; c], |r| r.iter().map(|v| v.wide()).collect());
    let (s1, s2) = channel_sums_shifted(x, x, &shift, c, true);
    let n = rows.max(1) as f64;
    let mut mean = Vec::with_capacity(c);
    let mut var = Vec::with_capacity(c);
    for k in 0..c {
        let m1 = s1[k] / n;
        mean.push(T::of(shift[k] + m1));
        var.push(T::of((s2[k] / n - m1 * m1).max(0.0)));
    }
    (mean, var)
}

// ---------------------------------------------------------------------------------------------
// Fused forms of the composites, run by the graph optimizer in place of the primitives
// (`docs/graph-optimizer.md`). They work on channel-last data `[..., C]`.

/// True when `axes` are all axes of `x` but the last (NHWC `[0, 1, 2]`, dense `[0]`): the
/// moments are per channel, which [`FusedMoments`] computes.
fn channel_last_axes(s: &Scope, x: &Tensor, axes: &[i64]) -> Result<bool> {
    let Some(r) = x.shape(s)?.rank() else { return Ok(false) };
    if r < 2 || !x.dtype(s)?.is_float() || axes.len() != r - 1 {
        return Ok(false);
    }
    let mut seen = vec![false; r];
    for &a in axes {
        let a = if a < 0 { a + r as i64 } else { a };
        match usize::try_from(a) {
            Ok(a) if a + 1 < r && !seen[a] => seen[a] = true,
            _ => return Ok(false),
        }
    }
    Ok(true)
}

/// True when every statistic is per channel of `x`'s known last axis (`[C]` or `[1, …, 1, C]`),
/// of `x`'s float dtype, so [`BatchNormApply`] computes the same broadcast.
fn per_channel_of<'a>(s: &Scope, x: &Tensor, stats: impl Iterator<Item = &'a Tensor>) -> Result<bool> {
    let xs = x.shape(s)?;
    let (Some(r), true) = (xs.rank(), x.dtype(s)?.is_float()) else { return Ok(false) };
    let Some(c) = r.checked_sub(1).and_then(|l| xs.dim(l)) else { return Ok(false) };
    let mut stats = stats.peekable();
    if stats.peek().is_none() {
        return Ok(false);
    }
    let dtype = x.dtype(s)?;
    for t in stats {
        let sh = t.shape(s)?;
        let Some(d) = sh.dims() else { return Ok(false) };
        let fits = t.dtype(s)? == dtype
            && !d.is_empty()
            && d.len() <= r
            && d.last().copied().flatten() == Some(c)
            && d[..d.len() - 1].iter().all(|v| *v == Some(1));
        if !fits {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `(rows, channels)` of channel-last data, checking the per-channel inputs' lengths.
fn channel_rows(cx: &KernelCtx<'_>, dims: &[usize], per_channel: &[(usize, &str)]) -> Result<(usize, usize)> {
    let Some(&c) = dims.last() else { return Err(cx.error("x must have at least one axis")) };
    for &(i, name) in per_channel {
        let n = cx.input(i)?.len();
        if n != c {
            return Err(cx.error(format!("{name} has {n} values but x {dims:?} has {c} channels")));
        }
    }
    Ok((dims.iter().product::<usize>().checked_div(c).unwrap_or(0), c))
}

/// Fused `nn::moments` over all axes but the last: input `[x]`, outputs `[mean, variance]`
/// shaped as the composite's (`[C]`, or `[1, …, 1, C]` with `keep_dims`). One pass over `x`.
#[derive(Debug, Serialize, Deserialize)]
pub struct FusedMoments {
    /// Keep the reduced axes as size 1.
    pub keep_dims: bool,
}

fn fused_moments_value<T: Real>(cx: &KernelCtx<'_>, keep_dims: bool) -> Result<Vec<Value>> {
    let xv = cx.view::<T>(0)?;
    let dims = xv.shape().to_vec();
    let (_, c) = channel_rows(cx, &dims, &[])?;
    let x = contiguous(&xv);
    let (mean, var) = channel_moments(&x, c);
    let mut out_dims = if keep_dims { vec![1; dims.len() - 1] } else { Vec::new() };
    out_dims.push(c);
    let w = |e| cx.wrap(e);
    Ok(vec![Value::from_shape_vec(&out_dims, mean).map_err(w)?, Value::from_shape_vec(&out_dims, var).map_err(w)?])
}

#[typetag::serde]
impl Op for FusedMoments {
    fn type_name(&self) -> &'static str {
        "FusedMoments"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.expect_float(0)?;
        let Some(r) = x.shape.rank().filter(|&r| r >= 2) else {
            return Err(cx.error(format!("x must have a known rank of at least 2 (channels last), got {}", x.shape)));
        };
        let mut d = if self.keep_dims { vec![Some(1); r - 1] } else { Vec::new() };
        d.push(x.shape.dim(r - 1));
        let c = Shape::from_dims(d);
        Ok(vec![TensorSpec::new(x.dtype, c.clone()), TensorSpec::new(x.dtype, c)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        match cx.input(0)?.dtype() {
            DType::F32 => fused_moments_value::<f32>(cx, self.keep_dims),
            DType::F64 => fused_moments_value::<f64>(cx, self.keep_dims),
            d => Err(cx.error(format!("expected a float x, got {d}"))),
        }
    }
}

/// Fused `nn::batch_normalization` with per-channel statistics: inputs
/// `[x, mean, variance, (offset), (scale)]`, output `y`, computed as the composite computes it
/// (`inv = rsqrt(variance + ε)·scale`, `y = x·inv + (offset - mean·inv)`) in one pass.
#[derive(Debug, Serialize, Deserialize)]
pub struct BatchNormApply {
    /// Added to the variance.
    pub epsilon: f64,
    /// An offset (beta) input follows the variance.
    pub has_offset: bool,
    /// A scale (gamma) input comes last.
    pub has_scale: bool,
}

fn bn_apply_value<T: Real + ferroflow_core::Element>(
    cx: &mut KernelCtx<'_>,
    op: &BatchNormApply,
) -> Result<Vec<Value>> {
    let (dims, c, inv, shift) = {
        let xv = cx.view::<T>(0)?;
        let dims = xv.shape().to_vec();
        let offset_at = op.has_offset.then_some(3);
        let scale_at = op.has_scale.then_some(3 + usize::from(op.has_offset));
        let mut checks = vec![(1, "mean"), (2, "variance")];
        checks.extend(offset_at.map(|i| (i, "offset")));
        checks.extend(scale_at.map(|i| (i, "scale")));
        let (_, c) = channel_rows(cx, &dims, &checks)?;
        let flat = |i: usize| -> Result<Vec<T>> { Ok(cx.view::<T>(i)?.iter().copied().collect()) };
        let (mean, var) = (flat(1)?, flat(2)?);
        let eps = T::of(op.epsilon);
        let mut inv: Vec<T> = var.iter().map(|&v| T::ONE / (v + eps).sqrt()).collect();
        if let Some(i) = scale_at {
            inv.iter_mut().zip(flat(i)?).for_each(|(a, s)| *a = *a * s);
        }
        let shift: Vec<T> = match offset_at {
            Some(i) => flat(i)?.iter().zip(&mean).zip(&inv).map(|((&o, &m), &v)| o - m * v).collect(),
            None => mean.iter().zip(&inv).map(|(&m, &v)| -(m * v)).collect(),
        };
        (dims, c, inv, shift)
    };
    // The output comes from the plan's buffer pool; affine_rows writes every element.
    let mut y = cx.alloc_output::<T>(&dims)?;
    {
        let xv = cx.view::<T>(0)?;
        let x = contiguous(&xv);
        let ys = y.as_slice_mut().ok_or_else(|| cx.error("internal: pooled output is not contiguous"))?;
        affine_rows(ys, &x, None, &inv, &shift, c);
    }
    Ok(vec![T::into_value(y)])
}

/// A zeroed output buffer of `dims`, with the size checked.
fn value_buffer<T: Real + ferroflow_core::Element>(cx: &KernelCtx<'_>, dims: &[usize]) -> Result<Vec<T>> {
    let mut v = ferroflow_core::value::try_alloc_vec::<T>(dims).map_err(|e| cx.wrap(e))?;
    v.resize(v.capacity(), T::ZERO);
    Ok(v)
}

#[typetag::serde]
impl Op for BatchNormApply {
    fn type_name(&self) -> &'static str {
        "BatchNormApply"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        Ok(vec![cx.expect_float(0)?.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        match cx.input(0)?.dtype() {
            DType::F32 => bn_apply_value::<f32>(cx, self),
            DType::F64 => bn_apply_value::<f64>(cx, self),
            d => Err(cx.error(format!("expected a float x, got {d}"))),
        }
    }
    fn describe(&self) -> String {
        format!("epsilon={} offset={} scale={}", self.epsilon, self.has_offset, self.has_scale)
    }
}

/// The closed-form gradient of `batch_normalization(x, moments(x))` in training mode (biased
/// batch variance): inputs `[dy, x, scale, mean, variance]` (statistics `[C]`), outputs
/// `[dx, dscale, doffset]`. The gradients driver records it as the fused form of the
/// primitive gradient subgraph (see `ferroflow_train::gradients`).
#[derive(Debug, Serialize, Deserialize)]
pub struct BatchNormTrainingGrad {
    /// The forward epsilon.
    pub epsilon: f64,
}

fn bn_training_grad_value<T: Real + ferroflow_core::Element>(cx: &KernelCtx<'_>, eps: f64) -> Result<Vec<Value>> {
    let (dyv, xv) = (cx.view::<T>(0)?, cx.view::<T>(1)?);
    let dims = xv.shape().to_vec();
    if dyv.shape() != dims.as_slice() {
        return Err(cx.error(format!("dy has shape {:?} but x has {dims:?}", dyv.shape())));
    }
    let (rows, c) = channel_rows(cx, &dims, &[(2, "scale"), (3, "mean"), (4, "variance")])?;
    let flat = |i: usize| -> Result<Vec<T>> { Ok(cx.view::<T>(i)?.iter().copied().collect()) };
    let (scale, mean, var) = (flat(2)?, flat(3)?, flat(4)?);
    let eps = T::of(eps);
    let inv: Vec<T> = var.iter().map(|&v| T::ONE / (v + eps).sqrt()).collect();
    let (dy, x) = (contiguous(&dyv), contiguous(&xv));
    let mut dx = value_buffer::<T>(cx, &dims)?;
    let (dscale, doffset) = bn_grad_into(&mut dx, &dy, &x, &scale, &mean, &inv, rows, c, true);
    let w = |e| cx.wrap(e);
    Ok(vec![
        Value::from_shape_vec(&dims, dx).map_err(w)?,
        Value::from_shape_vec(&[c], dscale).map_err(w)?,
        Value::from_shape_vec(&[c], doffset).map_err(w)?,
    ])
}

#[typetag::serde]
impl Op for BatchNormTrainingGrad {
    fn type_name(&self) -> &'static str {
        "BatchNormTrainingGrad"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        cx.expect_same_dtype(0, 1)?;
        let x = cx.expect_float(1)?;
        let c = cx.input(3)?.shape.clone();
        Ok(vec![x.clone(), TensorSpec::new(x.dtype, c.clone()), TensorSpec::new(x.dtype, c)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        match cx.input(1)?.dtype() {
            DType::F32 => bn_training_grad_value::<f32>(cx, self.epsilon),
            DType::F64 => bn_training_grad_value::<f64>(cx, self.epsilon),
            d => Err(cx.error(format!("expected a float x, got {d}"))),
        }
    }
    fn describe(&self) -> String {
        format!("epsilon={}", self.epsilon)
    }
}

/// `out[r, k] = (x[r, k] - m[k])·a[k] + b[k]` (or `x·a + b` without `m`) over `[rows, c]`
/// data, a per-channel affine map, in parallel when large. Plain slice loops, so the compiler
/// vectorizes them.
fn affine_rows<T: Real>(out: &mut [T], x: &[T], m: Option<&[T]>, a: &[T], b: &[T], c: usize) {
    if c == 0 {
        return;
    }
    let block = (BLOCK / c).max(1) * c;
    let run = |(oc, xc): (&mut [T], &[T])| {
        for (or, xr) in oc.chunks_exact_mut(c).zip(xc.chunks_exact(c)) {
            match m {
                Some(m) => {
                    for ((o, &v), ((&mk, &ak), &bk)) in or.iter_mut().zip(xr).zip(m.iter().zip(a).zip(b)) {
                        *o = (v - mk) * ak + bk;
                    }
                }
                None => {
                    for ((o, &v), (&ak, &bk)) in or.iter_mut().zip(xr).zip(a.iter().zip(b)) {
                        *o = v * ak + bk;
                    }
                }
            }
        }
    };
    if out.len() >= PAR_MIN && rayon::current_num_threads() > 1 {
        out.par_chunks_mut(block).zip(x.par_chunks(block)).for_each(run);
    } else {
        out.chunks_mut(block).zip(x.chunks(block)).for_each(run);
    }
}

/// `out[r, k] = a[k]·((g[r, k] - gm[k]) - (x[r, k] - xm[k])·b[k])` over `[rows, c]` data (the
/// batch-norm backward's `dx`, centred so a tiny variance does not cancel), in parallel when
/// large.
#[allow(clippy::too_many_arguments)]
fn centred_rows<T: Real>(out: &mut [T], g: &[T], x: &[T], a: &[T], gm: &[T], xm: &[T], b: &[T], c: usize) {
    if c == 0 {
        return;
    }
    let block = (BLOCK / c).max(1) * c;
    let run = |(oc, (gc, xc)): (&mut [T], (&[T], &[T]))| {
        for ((or, gr), xr) in oc.chunks_exact_mut(c).zip(gc.chunks_exact(c)).zip(xc.chunks_exact(c)) {
            for (((o, &gv), &xv), (((&ak, &gmk), &xmk), &bk)) in
                or.iter_mut().zip(gr).zip(xr).zip(a.iter().zip(gm).zip(xm).zip(b))
            {
                *o = ak * ((gv - gmk) - (xv - xmk) * bk);
            }
        }
    };
    if out.len() >= PAR_MIN && rayon::current_num_threads() > 1 {
        out.par_chunks_mut(block).zip(g.par_chunks(block).zip(x.par_chunks(block))).for_each(run);
    } else {
        out.chunks_mut(block).zip(g.chunks(block).zip(x.chunks(block))).for_each(run);
    }
}

/// Per-channel `(Σ a, Σ a·(b - shift))` in `f64` over `[rows, c]` data `a`, `b` (with `a = b`
/// and `shift` the first row: the moments' `Σd`, `Σd²`; with `a = dy`: the backward's sums).
fn channel_sums_shifted<T: Real>(a: &[T], b: &[T], shift: &[f64], c: usize, square_a: bool) -> (Vec<f64>, Vec<f64>) {
    let zero = || (vec![0f64; c], vec![0f64; c]);
    if c == 0 || a.is_empty() {
        return zero();
    }
    let block = (BLOCK / c).max(1) * c;
    let run = |(ac, bc): (&[T], &[T])| {
        let (mut s1, mut s2) = zero();
        for (ra, rb) in ac.chunks_exact(c).zip(bc.chunks_exact(c)) {
            if square_a {
                for ((&v, &sh), (p, q)) in ra.iter().zip(shift).zip(s1.iter_mut().zip(s2.iter_mut())) {
                    let d = v.wide() - sh;
                    *p += d;
                    *q += d * d;
                }
            } else {
                for (((&g, &v), &sh), (p, q)) in ra.iter().zip(rb).zip(shift).zip(s1.iter_mut().zip(s2.iter_mut())) {
                    let g = g.wide();
                    *p += g;
                    *q += g * (v.wide() - sh);
                }
            }
        }
        (s1, s2)
    };
    let join = |(mut a1, mut a2): (Vec<f64>, Vec<f64>), (b1, b2): (Vec<f64>, Vec<f64>)| {
        a1.iter_mut().zip(b1).for_each(|(p, q)| *p += q);
        a2.iter_mut().zip(b2).for_each(|(p, q)| *p += q);
        (a1, a2)
    };
    if a.len() >= PAR_MIN && rayon::current_num_threads() > 1 {
        a.par_chunks(block).zip(b.par_chunks(block)).map(run).reduce(zero, join)
    } else {
        a.chunks(block).zip(b.chunks(block)).map(run).fold(zero(), join)
    }
}

// ---------------------------------------------------------------------------------------------
// The forward op.

/// Batch normalization of NHWC `x` in one kernel (TF1 `FusedBatchNormV3`).
///
/// Inputs: training `[x, scale, offset]`; inference `[x, scale, offset, mean, variance]`.
/// Outputs: `y`, `batch_mean`, `batch_variance` (training: the Bessel-corrected variance
/// `n/(n-1)·biased`; inference: the given statistics), and two reserve outputs used by the
/// gradient: the mean used and `rsqrt(variance_used + epsilon)`.
#[derive(Debug, Serialize, Deserialize)]
pub struct FusedBatchNorm {
    /// Added to the variance before the square root (as given: no minimum is imposed).
    pub epsilon: f64,
    /// Normalize with the batch's statistics (else with the given ones).
    pub is_training: bool,
}

struct BnOut<T> {
    y: Vec<T>,
    mean: Vec<T>,
    var_out: Vec<T>,
    inv: Vec<T>,
}

fn fused_bn_forward<T: Real>(
    x: &[T],
    c: usize,
    scale: &[T],
    offset: &[T],
    stats: Option<(&[T], &[T])>,
    eps: f64,
) -> BnOut<T> {
    let rows = x.len().checked_div(c).unwrap_or(0);
    let eps = T::of(eps);
    let (mean, var, var_out) = match stats {
        Some((m, v)) => (m.to_vec(), v.to_vec(), v.to_vec()),
        None => {
            let (mean, var) = channel_moments(x, c);
            // TF: batch_var * rest_size / (rest_size - 1), with rest_size - 1 at least 1.
            let adjust = T::of(rows as f64) / T::of(rows.saturating_sub(1).max(1) as f64);
            let var_out = var.iter().map(|&v| v * adjust).collect();
            (mean, var, var_out)
        }
    };
    let inv: Vec<T> = var.iter().map(|&v| T::ONE / (v + eps).sqrt()).collect();
    let factor: Vec<T> = inv.iter().zip(scale).map(|(&i, &s)| i * s).collect();
    // y = (x - mean)·factor + offset: centred, as the fused kernel has always computed it.
    let mut y = vec![T::ZERO; x.len()];
    affine_rows(&mut y, x, Some(&mean), &factor, offset, c);
    BnOut { y, mean, var_out, inv }
}

fn fused_bn_value<T: Real>(cx: &KernelCtx<'_>, op: &FusedBatchNorm) -> Result<Vec<Value>> {
    let xv = cx.view::<T>(0)?;
    let dims = xv.shape().to_vec();
    let (_, c) = nhwc(&dims).map_err(|e| cx.wrap(e))?;
    let names = ["scale", "offset", "mean", "variance"];
    let n_stats = if op.is_training { 2 } else { 4 };
    for (i, name) in names.iter().enumerate().take(n_stats) {
        check_channel_len(name, cx.input(i + 1)?, c).map_err(|e| cx.wrap(e))?;
    }
    let x = contiguous(&xv);
    let (sv, ov) = (cx.view::<T>(1)?, cx.view::<T>(2)?);
    let (scale, offset) = (contiguous(&sv), contiguous(&ov));
    let out = if op.is_training {
        fused_bn_forward(&x, c, &scale, &offset, None, op.epsilon)
    } else {
        let (mv, vv) = (cx.view::<T>(3)?, cx.view::<T>(4)?);
        let (m, v) = (contiguous(&mv), contiguous(&vv));
        fused_bn_forward(&x, c, &scale, &offset, Some((&m, &v)), op.epsilon)
    };
    let w = |e| cx.wrap(e);
    Ok(vec![
        Value::from_shape_vec(&dims, out.y).map_err(w)?,
        Value::from_shape_vec(&[c], out.mean.clone()).map_err(w)?,
        Value::from_shape_vec(&[c], out.var_out).map_err(w)?,
        Value::from_shape_vec(&[c], out.mean).map_err(w)?,
        Value::from_shape_vec(&[c], out.inv).map_err(w)?,
    ])
}

#[typetag::serde]
impl Op for FusedBatchNorm {
    fn type_name(&self) -> &'static str {
        "FusedBatchNormV3"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let mut chans = vec![(1, "scale"), (2, "offset")];
        if self.is_training {
            if cx.num_inputs() != 3 {
                return Err(cx.error(format!("training mode takes [x, scale, offset], got {} inputs", cx.num_inputs())));
            }
        } else {
            if cx.num_inputs() != 5 {
                return Err(cx.error(
                    "inference mode (is_training = false) needs the population mean and variance; pass Some(mean) and Some(variance)",
                ));
            }
            chans.extend([(3, "mean"), (4, "variance")]);
        }
        let c = infer_channels(cx, 0, &chans)?;
        let x = cx.input(0)?;
        let mut y_shape = x.shape.clone();
        if let (Some(d), Some(cd)) = (x.shape.dims(), c.dims()) {
            let mut d = d.to_vec();
            d[3] = cd[0];
            y_shape = Shape::from_dims(d);
        }
        let cs = TensorSpec::new(x.dtype, c);
        Ok(vec![TensorSpec::new(x.dtype, y_shape), cs.clone(), cs.clone(), cs.clone(), cs])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        match cx.input(0)?.dtype() {
            DType::F32 => fused_bn_value::<f32>(cx, self),
            DType::F64 => fused_bn_value::<f64>(cx, self),
            d => Err(cx.error(format!("expected a float x, got {d}"))),
        }
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        // As TF: only the gradient of y is used; gradients reaching batch_mean/batch_variance
        // are ignored (see docs/decisions/nn-norm-loss.md). No gradient for mean/variance inputs.
        let mut out = vec![None; cx.num_inputs()];
        let Some(dy) = cx.grad(0) else { return Ok(out) };
        let (x, scale) = (cx.input(0)?, cx.input(1)?);
        let grad_op = FusedBatchNormGrad { epsilon: self.epsilon, is_training: self.is_training };
        let g = s.add_op(grad_op, &[dy, x, scale, cx.output(3), cx.output(4)], "FusedBatchNormGradV3")?;
        out[0] = Some(g.output(0));
        out[1] = Some(g.output(1));
        out[2] = Some(g.output(2));
        Ok(out)
    }
    fn describe(&self) -> String {
        format!("epsilon={} is_training={}", self.epsilon, self.is_training)
    }
}

// ---------------------------------------------------------------------------------------------
// The backward op.

/// Gradient of [`FusedBatchNorm`] (TF1 `FusedBatchNormGradV3`). Inputs `[dy, x, scale,
/// mean_used, inv_std]` (the last two are the forward op's reserve outputs); outputs
/// `[dx, dscale, doffset]`.
///
/// Training: `dx = scale·inv · (dy - mean(dy) - (x - mean)·inv²·mean(dy·(x - mean)))`, two
/// passes over the data (per-channel sums in `f64`, then `dx`). Inference:
/// `dx = dy · scale · inv`, one pass. Both: `dscale = Σ dy·(x - mean)·inv`, `doffset = Σ dy`.
#[derive(Debug, Serialize, Deserialize)]
pub struct FusedBatchNormGrad {
    /// The forward op's epsilon (already folded into `inv_std`).
    pub epsilon: f64,
    /// Gradient of the training-mode forward op.
    pub is_training: bool,
}

fn fused_bn_grad_value<T: Real>(cx: &KernelCtx<'_>, is_training: bool) -> Result<Vec<Value>> {
    let (dyv, xv) = (cx.view::<T>(0)?, cx.view::<T>(1)?);
    let dims = xv.shape().to_vec();
    if dyv.shape() != dims.as_slice() {
        return Err(cx.error(format!("dy has shape {:?} but x has {dims:?}", dyv.shape())));
    }
    let (rows, c) = nhwc(&dims).map_err(|e| cx.wrap(e))?;
    for (i, name) in [(2, "scale"), (3, "mean"), (4, "inv_std")] {
        check_channel_len(name, cx.input(i)?, c).map_err(|e| cx.wrap(e))?;
    }
    let (dy, x) = (contiguous(&dyv), contiguous(&xv));
    let (sv, mv, iv) = (cx.view::<T>(2)?, cx.view::<T>(3)?, cx.view::<T>(4)?);
    let (scale, mean, inv) = (contiguous(&sv), contiguous(&mv), contiguous(&iv));
    let mut dx = vec![T::ZERO; x.len()];
    let (dscale, doffset) = bn_grad_into(&mut dx, &dy, &x, &scale, &mean, &inv, rows, c, is_training);
    let w = |e| cx.wrap(e);
    Ok(vec![
        Value::from_shape_vec(&dims, dx).map_err(w)?,
        Value::from_shape_vec(&[c], dscale).map_err(w)?,
        Value::from_shape_vec(&[c], doffset).map_err(w)?,
    ])
}

/// Batch-norm backward over `[rows, c]` data given the mean and `inv = rsqrt(var + ε)` used:
/// writes `dx`, returns `(dscale, doffset)`. Training:
/// `dx = scale·inv · (dy - mean(dy) - (x - mean)·inv²·mean(dy·(x - mean)))`; inference:
/// `dx = dy·scale·inv`. Two passes (per-channel sums in `f64`, then `dx`).
#[allow(clippy::too_many_arguments)]
fn bn_grad_into<T: Real>(
    dx: &mut [T],
    dy: &[T],
    x: &[T],
    scale: &[T],
    mean: &[T],
    inv: &[T],
    rows: usize,
    c: usize,
    is_training: bool,
) -> (Vec<T>, Vec<T>) {
    let mean_w: Vec<f64> = mean.iter().map(|v| v.wide()).collect();
    // Σ dy and Σ dy·(x - mean), per channel, in f64.
    let (sdy, sdyx) = channel_sums_shifted(dy, x, &mean_w, c, false);
    let doffset: Vec<T> = sdy.iter().map(|&v| T::of(v)).collect();
    let sum_dyx: Vec<T> = sdyx.iter().map(|&v| T::of(v)).collect();
    let dscale: Vec<T> = sum_dyx.iter().zip(inv.iter()).map(|(&a, &i)| a * i).collect();
    let coef0: Vec<T> = scale.iter().zip(inv.iter()).map(|(&s, &i)| s * i).collect();
    if is_training {
        let rinv = T::ONE / T::of(rows.max(1) as f64);
        let mdy: Vec<T> = doffset.iter().map(|&v| v * rinv).collect();
        let coef1: Vec<T> = inv.iter().zip(&sum_dyx).map(|(&i, &s)| i * i * (s * rinv)).collect();
        centred_rows(dx, dy, x, &coef0, &mdy, mean, &coef1, c);
    } else {
        let zero = vec![T::ZERO; c];
        affine_rows(dx, dy, None, &coef0, &zero, c);
    }
    (dscale, doffset)
}

#[typetag::serde]
impl Op for FusedBatchNormGrad {
    fn type_name(&self) -> &'static str {
        "FusedBatchNormGradV3"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        cx.expect_same_dtype(0, 1)?;
        let c = infer_channels(cx, 1, &[(2, "scale"), (3, "mean"), (4, "inv_std")])?;
        let x = cx.input(1)?;
        let cs = TensorSpec::new(x.dtype, c);
        Ok(vec![x.clone(), cs.clone(), cs])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        match cx.input(1)?.dtype() {
            DType::F32 => fused_bn_grad_value::<f32>(cx, self.is_training),
            DType::F64 => fused_bn_grad_value::<f64>(cx, self.is_training),
            d => Err(cx.error(format!("expected a float x, got {d}"))),
        }
    }
    fn describe(&self) -> String {
        format!("epsilon={} is_training={}", self.epsilon, self.is_training)
    }
}

/// Fused batch normalization of an NHWC tensor. TF1: `tf.nn.fused_batch_norm(x, scale, offset,
/// mean, variance, epsilon, data_format="NHWC", is_training)`.
///
/// Returns `(y, batch_mean, batch_variance)`. Training mode normalizes with the batch mean and
/// **biased** variance over N, H, W and returns the **Bessel-corrected** variance
/// (`n/(n-1)·biased`, `n = N·H·W`) for the moving average; `mean`/`variance` are ignored.
/// Inference mode normalizes with the given `mean`/`variance` and returns them.
/// `y = (x - mean) · (rsqrt(var + epsilon) · scale) + offset`. `epsilon` is used as given (TF
/// 2.x behaviour; TF 1.x's Python wrapper raised it to at least 1.001e-5).
///
/// Gradients (one fused kernel) flow to `x`, `scale`, `offset` from `y` only: as in TF,
/// gradients reaching `batch_mean`/`batch_variance` are ignored, and in inference mode none
/// flows to `mean`/`variance`.
///
/// # Shapes
/// `x` `[N, H, W, C]` (dims may be unknown), `scale`, `offset`, `mean`, `variance` `[C]`;
/// `y` like `x`, statistics `[C]`.
///
/// # Errors
/// Build time: `x` not 4-D, a per-channel input not `[C]`, mixed dtypes, or inference mode
/// without `mean` and `variance`. Run time: the same checks on unknown dims.
///
/// ```
/// use ferroflow_core::Graph;
/// use ferroflow_ops::{constant, nn};
/// use ferroflow_session::Session;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = constant(&s, ndarray::Array4::from_shape_vec((2, 1, 1, 1), vec![1.0f32, 3.0]).unwrap())?;
/// let one = constant(&s, vec![1.0f32])?;
/// let zero = constant(&s, vec![0.0f32])?;
/// let (y, mean, var) = nn::fused_batch_norm(&s, x, one, zero, None, None, 0.0, true)?;
/// let out = Session::new(&g).run([y, mean, var], &[])?;
/// assert_eq!(out[0].to_vec::<f32>()?, vec![-1.0, 1.0]);
/// assert_eq!(out[1].to_vec::<f32>()?, vec![2.0]);
/// assert_eq!(out[2].to_vec::<f32>()?, vec![2.0]); // biased 1.0, corrected 2/1
/// # Ok(()) }
/// ```
#[allow(clippy::too_many_arguments)]
pub fn fused_batch_norm(
    s: &Scope,
    x: impl IntoInput,
    scale: impl IntoInput,
    offset: impl IntoInput,
    mean: Option<Tensor>,
    variance: Option<Tensor>,
    epsilon: f64,
    is_training: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let x = x.into_tensor(s, None)?;
    let dt = Some(x.dtype(s)?);
    let scale = scale.into_tensor(s, dt)?;
    let offset = offset.into_tensor(s, dt)?;
    let mut inputs = vec![x, scale, offset];
    if !is_training {
        if let (Some(m), Some(v)) = (mean, variance) {
            inputs.push(m);
            inputs.push(v);
        }
    }
    let op = s.add_op(FusedBatchNorm { epsilon, is_training }, &inputs, "FusedBatchNormV3")?;
    Ok((op.output(0), op.output(1), op.output(2)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{cond, placeholder};
    use ferroflow_core::{shape, Graph};

    /// Builds `layers` batch norms of `x` `[?, 8, 8, 3]` (or `[?, 3]` when `dense`), each with its
    /// own moments over `axes`, the second half inside a cond branch as the founding note does.
    fn bn_graph(axes: &[i64], dense: bool, layers: usize) -> Graph {
        let g = Graph::new();
        let s = g.root();
        let x = if dense {
            placeholder(&s.with_name("x"), DType::F32, shape![None, 3]).unwrap()
        } else {
            placeholder(&s.with_name("x"), DType::F32, shape![None, 8, 8, 3]).unwrap()
        };
        let flag = placeholder(&s.with_name("is_training"), DType::Bool, shape![]).unwrap();
        for i in 0..layers {
            s.name_scope(&format!("conv{i}"), |s| {
                if i % 2 == 0 {
                    let (m, v) = moments(s, x, axes, false)?;
                    batch_normalization(s, x, m, v, None, None, 1e-3)
                } else {
                    cond(
                        s,
                        flag,
                        |s| {
                            let (m, v) = moments(s, x, axes, false)?;
                            batch_normalization(s, x, m, v, None, None, 1e-3)
                        },
                        |s| batch_normalization(s, x, 0.0f32, 1.0f32, None, None, 1e-3),
                    )
                }
            })
            .unwrap();
        }
        g
    }

    #[test]
    fn moments_over_the_channel_axis_warn_once_naming_every_layer() {
        let g = bn_graph(&[0, 1, 2, 3], false, 4);
        let w = g.warning_list();
        assert_eq!(w.len(), 1, "{:?}", g.warnings());
        assert_eq!(w[0].kind, "moments_over_channels");
        assert_eq!(w[0].subjects, ["conv0/moments", "conv1/cond/moments", "conv2/moments", "conv3/cond/moments"]);
        assert!(g.warnings()[0].contains("[0, 1, 2]"), "the warning says what to use: {}", g.warnings()[0]);
        // Negative axes and keep_dims are seen too.
        let g = Graph::new();
        let s = g.root();
        let x = placeholder(&s, DType::F32, shape![None, 4, 4, 2]).unwrap();
        let (m, v) = moments(&s, x, &[0, 1, 2, -1], true).unwrap();
        batch_normalization(&s, x, m, v, None, None, 1e-3).unwrap();
        assert_eq!(g.warning_list().len(), 1, "{:?}", g.warnings());
    }

    #[test]
    fn moments_over_batch_and_spatial_axes_do_not_warn() {
        let g = bn_graph(&[0, 1, 2], false, 4);
        assert!(g.warnings().is_empty(), "{:?}", g.warnings());
        let g = bn_graph(&[0], true, 2);
        assert!(g.warnings().is_empty(), "{:?}", g.warnings());
        // The dense trap ([0, 1] over [batch, features]) warns.
        let g = bn_graph(&[0, 1], true, 2);
        assert_eq!(g.warning_list().len(), 1, "{:?}", g.warnings());
    }
}
