//! `concat`: joins tensors along an axis; its gradient (`SplitLike`) splits `g` back into
//! pieces shaped like the inputs.

use crate::array::alloc::KernelAlloc;
use crate::array::fill::zeros_like;
use crate::control::identity;
use crate::nn::conv::flat;
use crate::util::norm_axis;
use ferroflow_core::typetag;
use ferroflow_core::{
    with_value, DType, Dim, Element, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value,
};
use ndarray::{ArrayViewD, Axis, Slice};
use serde::{Deserialize, Serialize};

/// Joins its inputs along `axis` (TF1 `ConcatV2`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Concat {
    /// The joined axis; negative counts from the end.
    pub axis: i64,
}

#[typetag::serde]
impl Op for Concat {
    fn type_name(&self) -> &'static str {
        "ConcatV2"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let specs = cx.inputs();
        let first = cx.input(0)?;
        let list = || specs.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
        if let Some(bad) = specs.iter().find(|s| s.dtype != first.dtype) {
            return Err(cx.error(format!(
                "all inputs must have one dtype, got {} and {} (inputs: {})",
                first.dtype,
                bad.dtype,
                list()
            )));
        }
        let Some(rank) = specs.iter().find_map(|s| s.shape.rank()) else {
            return Ok(vec![TensorSpec::new(first.dtype, Shape::unknown())]);
        };
        if rank == 0 {
            return Err(cx.error(format!("cannot concatenate scalars (inputs: {})", list())));
        }
        let ax = norm_axis(self.axis, rank).map_err(|e| cx.error(format!("{e} (inputs: {})", list())))?;
        let mut out: Vec<Dim> = vec![None; rank];
        let mut axis_len: Option<usize> = Some(0);
        for s in specs {
            let Some(d) = s.shape.dims() else {
                axis_len = None;
                continue;
            };
            if d.len() != rank {
                return Err(cx.error(format!("all inputs must have the same rank (inputs: {})", list())));
            }
            for (k, &dk) in d.iter().enumerate() {
                if k == ax {
                    axis_len = match (axis_len, dk) {
                        (Some(a), Some(b)) => Some(a.checked_add(b).ok_or_else(|| {
                            cx.error(format!(
                                "the sizes along axis {} add up to more than usize::MAX (inputs: {})",
                                self.axis,
                                list()
                            ))
                        })?),
                        _ => None,
                    };
                } else if let Some(n) = dk {
                    match out[k] {
                        Some(m) if m != n => {
                            return Err(cx.error(format!(
                                "inputs differ in dimension {k} ({m} vs {n}); only axis {} may differ (inputs: {})",
                                self.axis,
                                list()
                            )))
                        }
                        _ => out[k] = Some(n),
                    }
                }
            }
        }
        out[ax] = axis_len;
        let shape = Shape::from_dims(out);
        shape.checked_byte_size(first.dtype).map_err(|e| cx.error(format!("{e} (inputs: {})", list())))?;
        Ok(vec![TensorSpec::new(first.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let n = cx.num_inputs();
        let first = cx.input(0)?;
        let rank = first.shape().len();
        let ax = norm_axis(self.axis, rank).map_err(|e| cx.wrap(e))?;
        for i in 1..n {
            let x = cx.input(i)?;
            let (a, b) = (first.shape(), x.shape());
            let ok = a.len() == b.len() && a.iter().zip(b).enumerate().all(|(k, (p, q))| k == ax || p == q);
            if !ok || x.dtype() != first.dtype() {
                return Err(cx.error(format!(
                    "input {i} ({} {b:?}) does not match input 0 ({} {a:?}) outside axis {}",
                    x.dtype(),
                    first.dtype(),
                    self.axis
                )));
            }
        }
        macro_rules! cat {
            ($t:ty) => {{
                let views: Vec<ArrayViewD<'_, $t>> = (0..n).map(|i| cx.view::<$t>(i)).collect::<Result<_>>()?;
                concatenate(cx, &views, ax)?
            }};
        }
        Ok(vec![match first.dtype() {
            DType::F32 => cat!(f32),
            DType::F64 => cat!(f64),
            DType::I32 => cat!(i32),
            DType::I64 => cat!(i64),
            DType::Bool => cat!(bool),
            DType::String => return Err(cx.error("concat of string tensors is not supported")),
        }])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let n = cx.num_inputs();
        let Some(g) = cx.grad(0) else { return Ok(vec![None; n]) };
        let mut inputs = vec![g];
        inputs.extend((0..n).map(|i| cx.input(i)).collect::<Result<Vec<_>>>()?);
        let op = s.add_op(SplitLike { axis: self.axis }, &inputs, "SplitLike")?;
        Ok((0..n).map(|i| Some(op.output(i))).collect())
    }
    fn describe(&self) -> String {
        format!("axis={}", self.axis)
    }
}

/// `views` (same rank and dims off `ax`) joined along `ax` into one buffer allocated
/// fallibly: the same tensor listed many times can ask for more memory than there is.
fn concatenate<T: Element>(cx: &KernelCtx<'_>, views: &[ArrayViewD<'_, T>], ax: usize) -> Result<Value> {
    let Some(first) = views.first() else { return Err(cx.error("concat needs at least one input")) };
    let mut dims = first.shape().to_vec();
    let total = views.iter().try_fold(0usize, |acc, v| acc.checked_add(v.shape()[ax]));
    dims[ax] = total.ok_or_else(|| cx.error(format!("the sizes along axis {ax} add up to more than usize::MAX")))?;
    let mut out = cx.alloc_vec::<T>(&dims)?;
    if out.capacity() == 0 {
        return Value::from_shape_vec(&dims, out).map_err(|e| cx.wrap(e));
    }
    let outer: usize = dims[..ax].iter().product();
    let pieces: Vec<_> = views.iter().map(|v| (v.shape()[ax..].iter().product::<usize>(), flat(v.view()))).collect();
    for o in 0..outer {
        for (block, data) in &pieces {
            let part =
                data.get(o * block..(o + 1) * block).ok_or_else(|| cx.error("internal: concat piece out of range"))?;
            out.extend_from_slice(part);
        }
    }
    Value::from_shape_vec(&dims, out).map_err(|e| cx.wrap(e))
}

/// Splits input 0 along `axis` into pieces sized like inputs 1..=n along that axis (the
/// gradient of `concat`; output `i` has input `i + 1`'s shape).
#[derive(Debug, Serialize, Deserialize)]
pub struct SplitLike {
    /// The split axis; negative counts from the end.
    pub axis: i64,
}

#[typetag::serde]
impl Op for SplitLike {
    fn type_name(&self) -> &'static str {
        "SplitLike"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let g = cx.input(0)?;
        Ok(cx.inputs().iter().skip(1).map(|s| TensorSpec::new(g.dtype, s.shape.clone())).collect())
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let g = cx.input(0)?;
        let ax = norm_axis(self.axis, g.shape().len()).map_err(|e| cx.wrap(e))?;
        let mut ranges = Vec::with_capacity(cx.num_inputs().saturating_sub(1));
        let mut start = 0usize;
        for i in 1..cx.num_inputs() {
            let like = cx.input(i)?.shape();
            let ok = like.len() == g.shape().len()
                && like.iter().zip(g.shape()).enumerate().all(|(k, (p, q))| k == ax || p == q);
            if !ok {
                return Err(cx.error(format!(
                    "piece {} of shape {like:?} does not fit {:?} split along axis {}",
                    i - 1,
                    g.shape(),
                    self.axis
                )));
            }
            ranges.push(start..start + like[ax]);
            start += like[ax];
        }
        if start != g.shape()[ax] {
            return Err(cx.error(format!(
                "the pieces add up to {start} along axis {}, but the tensor has {}",
                self.axis,
                g.shape()[ax]
            )));
        }
        let out = with_value!(g, a => ranges
            .into_iter()
            .map(|r| Value::from(a.slice_axis(Axis(ax), Slice::from(r)).to_owned()))
            .collect());
        Ok(out)
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let n = cx.num_inputs() - 1;
        if (0..n).all(|i| cx.grad(i).is_none()) {
            return Ok(vec![None; n + 1]);
        }
        let pieces = (0..n)
            .map(|i| match cx.grad(i) {
                Some(g) => Ok(g),
                None => zeros_like(s, cx.output(i)),
            })
            .collect::<Result<Vec<_>>>()?;
        let mut out = vec![Some(concat(s, &pieces, self.axis)?)];
        out.extend(std::iter::repeat_n(None, n));
        Ok(out)
    }
}

/// `xs` joined along `axis`. TF1: `tf.concat(values, axis)`.
///
/// All inputs have one dtype and rank and the same dims except along `axis`. One input is
/// returned through `identity` (as TF1 does). Gradient: `g` split back into pieces shaped like
/// the inputs.
///
/// # Shapes
/// `[?, 3]` and `[?, 5]` along axis 1 give `[?, 8]`; along an axis with an unknown size the
/// result is unknown there.
///
/// # Errors
/// No inputs, different dtypes or ranks, scalars, an axis out of range, or dims that differ
/// off the axis (build errors when known, else run-time errors naming the shapes).
///
/// ```
/// use ferroflow_core::Graph;
/// use ferroflow_ops::{array, constant};
/// use ferroflow_session::Session;
/// let g = Graph::new();
/// let s = g.root();
/// let a = constant(&s, ndarray::array![[1.0f32, 2.0]]).unwrap();
/// let b = constant(&s, ndarray::array![[3.0f32]]).unwrap();
/// let c = array::concat(&s, &[a, b], -1).unwrap();
/// assert_eq!(c.shape(&g).unwrap().to_string(), "[1, 3]");
/// let out = Session::new(&g).run([c], &[]).unwrap();
/// assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0]);
/// ```
pub fn concat(s: &Scope, xs: &[Tensor], axis: i64) -> Result<Tensor> {
    match xs {
        [] => Err(s.build_error("ConcatV2", "concat needs at least one tensor; pass a non-empty list")),
        [x] => identity(s, *x),
        _ => s.add_op1(Concat { axis }, xs, "concat"),
    }
}
