//! `zeros_like` / `ones_like`.

use ferroflow_core::typetag;
use ferroflow_core::{GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Tensor, TensorSpec, Value};
use serde::{Deserialize, Serialize};
use std::any::Any;

/// A tensor of `x`'s shape and dtype filled with 0 or 1 (TF1 `ZerosLike`, `OnesLike`).
#[derive(Debug, Serialize, Deserialize)]
pub struct FillLike {
    /// 0 or 1.
    pub one: bool,
}

#[typetag::serde]
impl Op for FillLike {
    fn type_name(&self) -> &'static str {
        if self.one {
            "OnesLike"
        } else {
            "ZerosLike"
        }
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        Ok(vec![cx.input(0)?.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let x = cx.input(0)?;
        let z = Value::zeros(x.dtype(), x.shape());
        Ok(vec![if self.one { Value::filled(x.shape(), 1i64).cast(x.dtype()) } else { z }])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None])
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Zeros shaped like `x`. TF1: `tf.zeros_like`.
pub fn zeros_like(s: &Scope, x: Tensor) -> Result<Tensor> {
    s.add_op1(FillLike { one: false }, &[x], "zeros_like")
}

/// Ones shaped like `x`. TF1: `tf.ones_like`.
pub fn ones_like(s: &Scope, x: Tensor) -> Result<Tensor> {
    s.add_op1(FillLike { one: true }, &[x], "ones_like")
}
