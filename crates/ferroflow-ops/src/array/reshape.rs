//! Shape-only ops: `reshape` (one `-1` allowed), `flatten` (keeps dim 0), `expand_dims`,
//! `squeeze`, and `ReshapeLike`, the run-time reshape their gradients use.
//!
//! The kernels never copy a contiguous buffer: a reshape only relabels the dims of the shared
//! array. Each gradient reshapes `g` back to the input's shape: statically when the input's
//! shape is fully known at build time, else through `ReshapeLike` (the input's run-time shape).

use crate::input::IntoInput;
use ferroflow_core::typetag;
use ferroflow_core::value::checked_len;
use ferroflow_core::{Dim, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value};
use serde::{Deserialize, Serialize};

fn fmt_spec(spec: &[i64]) -> String {
    format!("{spec:?}")
}

/// Static shape rule of `reshape`: `Err(message)` when `spec` cannot fit `input`.
fn reshape_static(input: &Shape, spec: &[i64]) -> std::result::Result<Shape, String> {
    let unknown = spec.iter().filter(|&&d| d == -1).count();
    if unknown > 1 {
        return Err(format!("the new shape {} has more than one -1", fmt_spec(spec)));
    }
    if let Some(bad) = spec.iter().find(|&&d| d < -1) {
        return Err(format!("the new shape {} has a negative dimension {bad}", fmt_spec(spec)));
    }
    let mut dims: Vec<Dim> = spec.iter().map(|&d| usize::try_from(d).ok()).collect();
    let given: Vec<usize> = dims.iter().flatten().copied().collect();
    let known = checked_len(&given)
        .ok_or_else(|| format!("the new shape {} has more elements than fit in usize", fmt_spec(spec)))?;
    let n_in = input.checked_num_elements().map_err(|e| e.to_string())?;
    if unknown == 0 {
        if let Some(n) = n_in {
            if n != known {
                return Err(format!(
                    "cannot reshape a tensor of shape {input} ({n} elements) to {} ({known} elements)",
                    fmt_spec(spec)
                ));
            }
        } else if let Some(d) = input.dims() {
            // Some input dims unknown: the known ones must still divide the new element count.
            let k: Vec<usize> = d.iter().flatten().copied().collect();
            let p = checked_len(&k).ok_or_else(|| format!("shape {input} has more elements than fit in usize"))?;
            if p != 0 && !known.is_multiple_of(p) {
                return Err(format!(
                    "cannot reshape a tensor of shape {input} (a multiple of {p} elements) to {} ({known} elements)",
                    fmt_spec(spec)
                ));
            }
        }
    } else if let Some(n) = n_in {
        if known == 0 {
            return Err(format!(
                "cannot infer the -1 of {} for a tensor of shape {input}: the other dims multiply to 0",
                fmt_spec(spec)
            ));
        }
        if n % known != 0 {
            return Err(format!(
                "cannot reshape a tensor of shape {input} ({n} elements) to {}: {n} is not a multiple of {known}",
                fmt_spec(spec)
            ));
        }
        if let Some(slot) = dims.iter_mut().find(|d| d.is_none()) {
            *slot = Some(n / known);
        }
    }
    Ok(Shape::from_dims(dims))
}

/// Run-time rule of `reshape`: the concrete new dims for an input of `n` elements.
fn reshape_dims(input: &[usize], spec: &[i64]) -> std::result::Result<Vec<usize>, String> {
    match reshape_static(&Shape::known(input), spec)?.as_known() {
        Some(d) => Ok(d),
        None => Err(format!("cannot reshape {input:?} to {}", fmt_spec(spec))),
    }
}

/// `x` with new dims of the same element count (TF1 `Reshape`, the shape as an attribute).
#[derive(Debug, Serialize, Deserialize)]
pub struct Reshape {
    /// The new shape; at most one `-1`, inferred from the element count.
    pub shape: Vec<i64>,
}

#[typetag::serde]
impl Op for Reshape {
    fn type_name(&self) -> &'static str {
        "Reshape"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.input(0)?;
        let shape = reshape_static(&x.shape, &self.shape).map_err(|m| cx.error(m))?;
        Ok(vec![TensorSpec::new(x.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let x = cx.take_input(0)?;
        let dims = reshape_dims(x.shape(), &self.shape).map_err(|m| cx.error(m))?;
        Ok(vec![x.reshape(&dims).map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        reshape_grad(s, cx)
    }
    fn describe(&self) -> String {
        fmt_spec(&self.shape)
    }
}

/// The gradient of every op here: `g` reshaped back to input 0's shape.
fn reshape_grad(s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
    let Some(g) = cx.grad(0) else { return Ok(vec![None]) };
    let x = cx.input(0)?;
    Ok(vec![Some(reshape_back(s, g, x, &cx.input_spec(0)?.shape)?)])
}

/// `g` reshaped to `like`'s shape: a static `Reshape` when `like_shape` is fully known, else a
/// `ReshapeLike` that reads `like`'s run-time shape.
fn reshape_back(s: &Scope, g: Tensor, like: Tensor, like_shape: &Shape) -> Result<Tensor> {
    match like_shape.as_known() {
        Some(d) if g.shape(s)?.as_known().as_ref() == Some(&d) => Ok(g),
        Some(d) => match d.iter().map(|&x| i64::try_from(x).ok()).collect::<Option<Vec<i64>>>() {
            Some(spec) => s.add_op1(Reshape { shape: spec }, &[g], "Reshape"),
            None => reshape_like(s, g, like),
        },
        None => reshape_like(s, g, like),
    }
}

/// `g` reshaped to the run-time shape of `like` (same element count). Gradients of the
/// reshape family use it when shapes are only partly known at build time.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReshapeLike;

#[typetag::serde]
impl Op for ReshapeLike {
    fn type_name(&self) -> &'static str {
        "ReshapeLike"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let (g, like) = (cx.input(0)?, cx.input(1)?);
        if let (Some(a), Some(b)) = (g.shape.num_elements(), like.shape.num_elements()) {
            if a != b {
                return Err(
                    cx.error(format!("cannot reshape {} ({a} elements) like {} ({b} elements)", g.shape, like.shape))
                );
            }
        }
        Ok(vec![TensorSpec::new(g.dtype, like.shape.clone())])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let dims = cx.input(1)?.shape().to_vec();
        let g = cx.take_input(0)?;
        Ok(vec![g.reshape(&dims).map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = cx.grad(0) else { return Ok(vec![None, None]) };
        Ok(vec![Some(reshape_back(s, g, cx.input(0)?, &cx.input_spec(0)?.shape)?), None])
    }
}

/// `g` reshaped to the run-time shape of `like`.
///
/// # Errors
/// Element counts that differ (at build time when both are known, else at run time).
pub fn reshape_like(s: &Scope, g: Tensor, like: Tensor) -> Result<Tensor> {
    s.add_op1(ReshapeLike, &[g, like], "ReshapeLike")
}

/// `x` with the dims `shape` (row-major order kept). TF1: `tf.reshape(x, shape)`.
///
/// One entry may be `-1`: it is inferred so the element count stays the same. A contiguous
/// input is not copied.
///
/// # Shapes
/// `[?, 28, 28, 1]` with `[-1, 784]` gives `[?, 784]`; `[2, 6]` with `[3, -1]` gives `[3, 4]`.
///
/// # Errors
/// More than one `-1`, an entry below `-1`, or an element count that cannot match (a build
/// error when the input's shape is known, else a run-time error naming both shapes).
///
/// ```
/// use ferroflow_core::{DType, Graph, shape};
/// use ferroflow_ops::{array, placeholder};
/// let g = Graph::new();
/// let s = g.root();
/// let x = placeholder(&s, DType::F32, shape![None, 28, 28, 1]).unwrap();
/// assert_eq!(array::reshape(&s, x, &[-1, 784]).unwrap().shape(&g).unwrap().to_string(), "[?, 784]");
/// assert!(array::reshape(&s, x, &[-1, -1]).is_err());
/// ```
pub fn reshape(s: &Scope, x: impl IntoInput, shape: &[i64]) -> Result<Tensor> {
    let x = x.into_tensor(s, None)?;
    s.add_op1(Reshape { shape: shape.to_vec() }, &[x], "Reshape")
}

/// `x` as a matrix `[d0, d1·d2·…]` (TF1 `tf.layers.flatten`, as a single op so an unknown
/// batch size or an empty batch works).
#[derive(Debug, Serialize, Deserialize)]
pub struct Flatten;

#[typetag::serde]
impl Op for Flatten {
    fn type_name(&self) -> &'static str {
        "Flatten"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.input(0)?;
        let shape = match x.shape.dims() {
            None => Shape::unknown_dims(2),
            Some([]) => {
                return Err(cx.error("cannot flatten a scalar: flatten keeps dim 0, so the input needs rank >= 1"))
            }
            Some([d0, rest @ ..]) => {
                let r =
                    match rest.iter().copied().collect::<Option<Vec<usize>>>() {
                        Some(k) => Some(checked_len(&k).ok_or_else(|| {
                            cx.error(format!("shape {} has more elements than fit in usize", x.shape))
                        })?),
                        None => None,
                    };
                Shape::from_dims(vec![*d0, r])
            }
        };
        Ok(vec![TensorSpec::new(x.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let x = cx.take_input(0)?;
        let dims = match x.shape() {
            [] => return Err(cx.error("cannot flatten a scalar")),
            [d0, rest @ ..] => [*d0, rest.iter().product()],
        };
        Ok(vec![x.reshape(&dims).map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        reshape_grad(s, cx)
    }
}

/// `x` flattened to `[batch, features]`, keeping dim 0. TF1: `tf.layers.flatten` /
/// `tf.contrib.layers.flatten`.
///
/// # Shapes
/// `[?, 7, 7, 64]` gives `[?, 3136]`; `[n]` gives `[n, 1]`.
///
/// # Errors
/// A scalar input.
///
/// ```
/// use ferroflow_core::{DType, Graph, shape};
/// use ferroflow_ops::{array, placeholder};
/// let g = Graph::new();
/// let x = placeholder(&g.root(), DType::F32, shape![None, 7, 7, 64]).unwrap();
/// assert_eq!(array::flatten(&g.root(), x).unwrap().shape(&g).unwrap().to_string(), "[?, 3136]");
/// ```
pub fn flatten(s: &Scope, x: impl IntoInput) -> Result<Tensor> {
    let x = x.into_tensor(s, None)?;
    s.add_op1(Flatten, &[x], "Flatten")
}

/// `x` with a new axis of size 1 at `axis` (TF1 `ExpandDims`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ExpandDims {
    /// Where the new axis goes, in `[-rank-1, rank]` (negative counts from the end).
    pub axis: i64,
}

fn expand_axis(axis: i64, rank: usize) -> std::result::Result<usize, String> {
    let r = rank as i64 + 1;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("expand_dims axis {axis} is out of range [{}, {}] for a tensor of rank {rank}", -r, r - 1))
    }
}

#[typetag::serde]
impl Op for ExpandDims {
    fn type_name(&self) -> &'static str {
        "ExpandDims"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.input(0)?;
        let shape = match x.shape.dims() {
            None => Shape::unknown(),
            Some(d) => {
                let a = expand_axis(self.axis, d.len()).map_err(|m| cx.error(format!("{m} (shape {})", x.shape)))?;
                let mut out = d.to_vec();
                out.insert(a, Some(1));
                Shape::from_dims(out)
            }
        };
        Ok(vec![TensorSpec::new(x.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let x = cx.take_input(0)?;
        let a = expand_axis(self.axis, x.shape().len()).map_err(|m| cx.error(m))?;
        let mut dims = x.shape().to_vec();
        dims.insert(a, 1);
        Ok(vec![x.reshape(&dims).map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        reshape_grad(s, cx)
    }
    fn describe(&self) -> String {
        format!("axis={}", self.axis)
    }
}

/// `x` with a new axis of size 1 inserted at `axis`. TF1: `tf.expand_dims(x, axis)`.
///
/// # Shapes
/// `[2, 3]` with axis 0 gives `[1, 2, 3]`; with axis -1, `[2, 3, 1]`.
///
/// # Errors
/// `axis` outside `[-rank-1, rank]`.
pub fn expand_dims(s: &Scope, x: impl IntoInput, axis: i64) -> Result<Tensor> {
    let x = x.into_tensor(s, None)?;
    s.add_op1(ExpandDims { axis }, &[x], "ExpandDims")
}

/// `x` without axes of size 1 (TF1 `Squeeze`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Squeeze {
    /// The axes to remove (each must have size 1); empty removes every axis of size 1.
    pub axes: Vec<i64>,
}

/// Normalized, deduplicated squeeze axes against `rank`.
fn squeeze_axes(axes: &[i64], rank: usize) -> std::result::Result<Vec<usize>, String> {
    let r = rank as i64;
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = if a < 0 { a + r } else { a };
        if !(0..r).contains(&n) {
            return Err(format!("squeeze axis {a} is out of range [{}, {}] for a tensor of rank {rank}", -r, r - 1));
        }
        if !out.contains(&(n as usize)) {
            out.push(n as usize);
        }
    }
    Ok(out)
}

#[typetag::serde]
impl Op for Squeeze {
    fn type_name(&self) -> &'static str {
        "Squeeze"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.input(0)?;
        let shape = match x.shape.dims() {
            None => Shape::unknown(),
            Some(d) if self.axes.is_empty() => {
                if d.iter().any(Option::is_none) {
                    // An unknown dim may or may not be 1: the rank is unknown (as in TF).
                    Shape::unknown()
                } else {
                    Shape::from_dims(d.iter().copied().filter(|&x| x != Some(1)).collect())
                }
            }
            Some(d) => {
                let axes =
                    squeeze_axes(&self.axes, d.len()).map_err(|m| cx.error(format!("{m} (shape {})", x.shape)))?;
                for &a in &axes {
                    if let Some(n) = d[a] {
                        if n != 1 {
                            return Err(cx.error(format!(
                                "cannot squeeze axis {a} of shape {}: its size is {n}, not 1",
                                x.shape
                            )));
                        }
                    }
                }
                Shape::from_dims(d.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &x)| x).collect())
            }
        };
        Ok(vec![TensorSpec::new(x.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let x = cx.take_input(0)?;
        let d = x.shape().to_vec();
        let dims: Vec<usize> = if self.axes.is_empty() {
            d.iter().copied().filter(|&n| n != 1).collect()
        } else {
            let axes = squeeze_axes(&self.axes, d.len()).map_err(|m| cx.error(m))?;
            for &a in &axes {
                if d[a] != 1 {
                    return Err(
                        cx.error(format!("cannot squeeze axis {a} of shape {d:?}: its size is {}, not 1", d[a]))
                    );
                }
            }
            d.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &n)| n).collect()
        };
        Ok(vec![x.reshape(&dims).map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        reshape_grad(s, cx)
    }
    fn describe(&self) -> String {
        format!("axes={:?}", self.axes)
    }
}

/// `x` without the size-1 axes `axes` (all size-1 axes when `axes` is empty). TF1:
/// `tf.squeeze(x, axis)`.
///
/// # Shapes
/// `[1, 2, 1, 3]` gives `[2, 3]`; with axes `[0]`, `[2, 1, 3]`. With no axes and an unknown
/// dim, the static shape is unknown (the dim may be 1).
///
/// # Errors
/// An axis out of range, or one whose size is not 1 (build error when known, else run time).
pub fn squeeze(s: &Scope, x: impl IntoInput, axes: &[i64]) -> Result<Tensor> {
    let x = x.into_tensor(s, None)?;
    s.add_op1(Squeeze { axes: axes.to_vec() }, &[x], "Squeeze")
}
