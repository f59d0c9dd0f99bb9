//! `argmax` / `argmin`: the index of the largest/smallest element along an axis (`int64`).

use crate::input::IntoInput;
use crate::util::norm_axis;
use ferroflow_core::typetag;
use ferroflow_core::{DType, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value};
use ndarray::{ArrayD, ArrayViewD, Axis};
use serde::{Deserialize, Serialize};

/// Index of the extreme element along `axis`, as `int64` (TF1 `ArgMax` / `ArgMin`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ArgMinMax {
    /// `argmax` (else `argmin`).
    pub max: bool,
    /// The reduced axis; negative counts from the end.
    pub axis: i64,
}

#[typetag::serde]
impl Op for ArgMinMax {
    fn type_name(&self) -> &'static str {
        if self.max {
            "ArgMax"
        } else {
            "ArgMin"
        }
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.input(0)?;
        if !x.dtype.is_numeric() {
            return Err(cx.error(format!("{} is not defined for {} input", self.type_name(), x.dtype)));
        }
        let shape = match x.shape.dims() {
            None => Shape::unknown(),
            Some(d) => {
                let ax = norm_axis(self.axis, d.len()).map_err(|e| cx.wrap(e))?;
                if d[ax] == Some(0) {
                    return Err(cx.error(format!("the reduction axis {} has size 0 in shape {}", self.axis, x.shape)));
                }
                let mut out = d.to_vec();
                out.remove(ax);
                Shape::from_dims(out)
            }
        };
        Ok(vec![TensorSpec::new(DType::I64, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let x = cx.input(0)?;
        let ax = norm_axis(self.axis, x.shape().len()).map_err(|e| cx.wrap(e))?;
        if x.shape()[ax] == 0 {
            return Err(cx.error(format!("the reduction axis {} has size 0 in shape {:?}", self.axis, x.shape())));
        }
        let max = self.max;
        let out = match x {
            Value::F32(a) => arg(a.view(), ax, max),
            Value::F64(a) => arg(a.view(), ax, max),
            Value::I32(a) => arg(a.view(), ax, max),
            Value::I64(a) => arg(a.view(), ax, max),
            v @ (Value::Bool(_) | Value::String(_)) => return Err(cx.error(format!("not defined for {}", v.dtype()))),
        };
        Ok(vec![Value::from(out)])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None])
    }
    fn describe(&self) -> String {
        format!("axis={}", self.axis)
    }
}

/// First index of the extreme along `ax` (ties go to the smaller index, as in TF). A NaN never
/// replaces the current best, so it wins only in first position.
fn arg<T: Copy + PartialOrd>(x: ArrayViewD<'_, T>, ax: usize, max: bool) -> ArrayD<i64> {
    x.map_axis(Axis(ax), |lane| {
        let mut it = lane.iter().enumerate();
        let Some((_, &first)) = it.next() else { return 0 };
        let (mut best_i, mut best) = (0usize, first);
        for (i, &v) in it {
            if (max && v > best) || (!max && v < best) {
                best = v;
                best_i = i;
            }
        }
        best_i as i64
    })
}

fn arg_op(s: &Scope, x: impl IntoInput, axis: i64, max: bool, name: &str) -> Result<Tensor> {
    let x = x.into_tensor(s, None)?;
    s.add_op1(ArgMinMax { max, axis }, &[x], name)
}

/// The index of the largest element along `axis` (`int64`). TF1: `tf.argmax(x, axis)`.
///
/// Ties give the first index. No gradient.
///
/// # Shapes
/// `x`'s shape without `axis`: `[?, 10]` with axis 1 gives `[?]`.
///
/// # Errors
/// `bool` input, `axis` out of range, or a reduction axis of size 0.
///
/// ```
/// use ferroflow_core::Graph;
/// use ferroflow_ops::{constant, math};
/// use ferroflow_session::Session;
/// let g = Graph::new();
/// let s = g.root();
/// let x = constant(&s, ndarray::array![[0.1f32, 0.7, 0.2], [0.5, 0.3, 0.2]]).unwrap();
/// let i = math::argmax(&s, x, 1).unwrap();
/// let out = Session::new(&g).run([i], &[]).unwrap();
/// assert_eq!(out[0].to_vec::<i64>().unwrap(), vec![1, 0]);
/// ```
pub fn argmax(s: &Scope, x: impl IntoInput, axis: i64) -> Result<Tensor> {
    arg_op(s, x, axis, true, "ArgMax")
}

/// The index of the smallest element along `axis` (`int64`). TF1: `tf.argmin(x, axis)`.
///
/// Ties give the first index. No gradient.
///
/// # Shapes
/// `x`'s shape without `axis`.
///
/// # Errors
/// `bool` input, `axis` out of range, or a reduction axis of size 0.
pub fn argmin(s: &Scope, x: impl IntoInput, axis: i64) -> Result<Tensor> {
    arg_op(s, x, axis, false, "ArgMin")
}
