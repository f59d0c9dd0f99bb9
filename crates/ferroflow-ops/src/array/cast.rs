//! `cast`: converts a tensor to another dtype (TF1 `tf.cast`).

use crate::array::alloc::KernelAlloc;
use crate::input::IntoInput;
use ferroflow_core::typetag;
use ferroflow_core::{DType, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Tensor, TensorSpec, Value};
use serde::{Deserialize, Serialize};

/// Converts its input to `to` (TF1 `Cast`).
///
/// Floats to integers truncate toward zero (saturating at the integer's range; NaN gives 0);
/// nonzero is `true`; `true` is 1.
#[derive(Debug, Serialize, Deserialize)]
pub struct Cast {
    /// The target dtype.
    pub to: DType,
}

#[typetag::serde]
impl Op for Cast {
    fn type_name(&self) -> &'static str {
        "Cast"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.input(0)?;
        if (x.dtype == DType::String) != (self.to == DType::String) {
            return Err(cx.error(format!("cannot cast {} to {}: string tensors do not convert", x.dtype, self.to)));
        }
        Ok(vec![TensorSpec::new(self.to, x.shape.clone())])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let x = cx.take_input(0)?;
        Ok(vec![if x.dtype() == self.to { x } else { x.try_cast(self.to).map_err(|e| cx.name_error(e))? }])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let from = cx.input_spec(0)?.dtype;
        match cx.grad(0) {
            // As TF: a gradient flows only between float types, cast back to the input's dtype.
            Some(g) if from.is_float() && self.to.is_float() => Ok(vec![Some(cast(s, g, from)?)]),
            _ => Ok(vec![None]),
        }
    }
    fn describe(&self) -> String {
        format!("to={}", self.to)
    }
}

/// `x` converted to `dtype`. TF1: `tf.cast(x, dtype)`; returns `x` itself when it already has
/// that dtype (as TF1 does).
///
/// Floats to integers truncate toward zero; any nonzero value casts to `true`; `true` casts to
/// 1. Gradient: cast back for float → float, none otherwise.
///
/// # Shapes
/// Same as `x`.
///
/// # Errors
/// A cast from or to `string` (build time; TF's `tf.cast` refuses it too).
///
/// ```
/// use ferroflow_core::{DType, Graph};
/// use ferroflow_ops::{array, constant};
/// use ferroflow_session::Session;
/// let g = Graph::new();
/// let s = g.root();
/// let x = constant(&s, vec![1.7f32, -1.7, 0.0]).unwrap();
/// let i = array::cast(&s, x, DType::I32).unwrap();
/// let out = Session::new(&g).run([i], &[]).unwrap();
/// assert_eq!(out[0].to_vec::<i32>().unwrap(), vec![1, -1, 0]);
/// ```
pub fn cast(s: &Scope, x: impl IntoInput, dtype: DType) -> Result<Tensor> {
    let x = x.into_tensor(s, None)?;
    if x.dtype(s)? == dtype {
        return Ok(x);
    }
    s.add_op1(Cast { to: dtype }, &[x], "Cast")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::constant;
    use ferroflow_core::Graph;

    #[test]
    fn strings_do_not_cast() {
        let g = Graph::new();
        let s = g.root();
        let t = constant(&s, Value::from("7")).unwrap();
        let e = cast(&s.with_name("to_num"), t, DType::F32).unwrap_err().to_string();
        assert!(e.contains("to_num") && e.contains("cannot cast string to float32"), "{e}");
        let x = constant(&s, 1.0f32).unwrap();
        let e = cast(&s.with_name("to_str"), x, DType::String).unwrap_err().to_string();
        assert!(e.contains("to_str") && e.contains("cannot cast float32 to string"), "{e}");
        assert_eq!(cast(&s, t, DType::String).unwrap(), t, "a no-op cast returns the input");
    }
}
