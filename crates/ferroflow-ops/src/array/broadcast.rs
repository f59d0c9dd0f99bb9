//! `SumToLike` and `BroadcastLike`: the run-time reshaping pair that broadcasting gradients
//! use when static shapes are only partly known. Each is the other's gradient.

use crate::array::alloc::KernelAlloc;
use crate::util::sum_to_shape;
use ferroflow_core::typetag;
use ferroflow_core::{GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Tensor, TensorSpec, Value};
use ndarray::IxDyn;
use serde::{Deserialize, Serialize};

/// Sums `g` over the axes along which `like` was broadcast, giving `like`'s shape.
#[derive(Debug, Serialize, Deserialize)]
pub struct SumToLike;

#[typetag::serde]
impl Op for SumToLike {
    fn type_name(&self) -> &'static str {
        "SumToLike"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        Ok(vec![TensorSpec::new(cx.input(0)?.dtype, cx.input(1)?.shape.clone())])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let target = cx.input(1)?.shape().to_vec();
        let g = cx.take_input(0)?;
        if g.shape() == target.as_slice() {
            return Ok(vec![g]);
        }
        let out = match g {
            Value::F32(a) => Value::from(sum_to_shape(a.into_owned(), &target).map_err(|e| cx.wrap(e))?),
            Value::F64(a) => Value::from(sum_to_shape(a.into_owned(), &target).map_err(|e| cx.wrap(e))?),
            Value::I32(a) => Value::from(sum_to_shape(a.into_owned(), &target).map_err(|e| cx.wrap(e))?),
            Value::I64(a) => Value::from(sum_to_shape(a.into_owned(), &target).map_err(|e| cx.wrap(e))?),
            v @ (Value::Bool(_) | Value::String(_)) => {
                return Err(cx.error(format!("cannot sum {} tensors", v.dtype())))
            }
        };
        Ok(vec![out])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let g = match cx.grad(0) {
            Some(g) => Some(broadcast_like(s, g, cx.input(0)?)?),
            None => None,
        };
        Ok(vec![g, None])
    }
}

/// `g` summed down to the shape of `like`. Used by gradients of broadcasting ops.
pub fn sum_to_like(s: &Scope, g: Tensor, like: Tensor) -> Result<Tensor> {
    if let (Some(a), Some(b)) = (g.shape(s)?.as_known(), like.shape(s)?.as_known()) {
        if a == b {
            return Ok(g);
        }
    }
    s.add_op1(SumToLike, &[g, like], "SumToLike")
}

/// Broadcasts `x` to the shape of `like` (TF1 `tf.broadcast_to(x, tf.shape(like))`).
#[derive(Debug, Serialize, Deserialize)]
pub struct BroadcastLike;

#[typetag::serde]
impl Op for BroadcastLike {
    fn type_name(&self) -> &'static str {
        "BroadcastLike"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let (x, like) = (cx.input(0)?, cx.input(1)?);
        x.shape
            .broadcast(&like.shape)
            .map_err(|_| cx.error(format!("cannot broadcast {} to {}", x.shape, like.shape)))?;
        Ok(vec![TensorSpec::new(x.dtype, like.shape.clone())])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let target = cx.input(1)?.shape().to_vec();
        let dims = IxDyn(&target);
        let x = cx.input(0)?;
        let err = || cx.error(format!("cannot broadcast {:?} to {target:?}", x.shape()));
        let out = ferroflow_core::with_value!(x, a => {
            let view = a.broadcast(dims.clone()).ok_or_else(err)?;
            let mut data = cx.alloc_vec(&target)?;
            data.extend(view.iter().copied());
            Value::from_shape_vec(&target, data).map_err(|e| cx.wrap(e))?
        });
        Ok(vec![out])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let g = match cx.grad(0) {
            Some(g) => Some(sum_to_like(s, g, cx.input(0)?)?),
            None => None,
        };
        Ok(vec![g, None])
    }
}

/// `x` broadcast to the run-time shape of `like`.
pub fn broadcast_like(s: &Scope, x: Tensor, like: Tensor) -> Result<Tensor> {
    s.add_op1(BroadcastLike, &[x, like], "BroadcastLike")
}
