//! `add_n`: the sum of several same-shaped tensors in one pass (gradient aggregation uses it).

use ferroflow_core::typetag;
use ferroflow_core::{DType, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Tensor, TensorSpec, Value};
use serde::{Deserialize, Serialize};

/// Sums its inputs element-wise; all have one dtype and shape (TF1 `AddN`).
#[derive(Debug, Serialize, Deserialize)]
pub struct AddN;

#[typetag::serde]
impl Op for AddN {
    fn type_name(&self) -> &'static str {
        "AddN"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let first = cx.input(0)?.clone();
        let mut shape = first.shape.clone();
        for (i, s) in cx.inputs().iter().enumerate().skip(1) {
            if s.dtype != first.dtype {
                return Err(cx.error(format!("input {i} is {} but input 0 is {}", s.dtype, first.dtype)));
            }
            shape = shape
                .merge(&s.shape)
                .ok_or_else(|| cx.error(format!("input {i} has shape {} but input 0 has {}", s.shape, first.shape)))?;
        }
        Ok(vec![TensorSpec::new(first.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let mut acc = cx.take_input(0)?;
        for i in 1..cx.num_inputs() {
            let x = cx.input(i)?;
            if x.shape() != acc.shape() {
                return Err(cx.error(format!("input {i} has shape {:?} but input 0 has {:?}", x.shape(), acc.shape())));
            }
            macro_rules! acc {
                ($t:ty) => {{
                    let xv = x.view::<$t>()?;
                    acc.view_mut::<$t>()?.zip_mut_with(&xv, |a, &b| *a += b);
                }};
            }
            match acc.dtype() {
                DType::F32 => acc!(f32),
                DType::F64 => acc!(f64),
                DType::I32 => acc!(i32),
                DType::I64 => acc!(i64),
                d @ (DType::Bool | DType::String) => return Err(cx.error(format!("cannot add {d} tensors"))),
            }
        }
        Ok(vec![acc])
    }
    fn gradient(&self, _: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![cx.grad(0); cx.num_inputs()])
    }
}

/// The element-wise sum of `xs` (same dtype and shape). TF1: `tf.add_n`.
pub fn add_n(s: &Scope, xs: &[Tensor]) -> Result<Tensor> {
    match xs {
        [] => Err(s.build_error("AddN", "add_n needs at least one tensor; pass a non-empty list")),
        [x] => Ok(*x),
        _ => s.add_op1(AddN, xs, "AddN"),
    }
}
