//! Learning-rate schedules as tensors of the global step (TF1 `tf.train.exponential_decay`).

use ferroflow_core::typetag;
use ferroflow_core::{DType, Error, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Tensor, TensorSpec, Value};
use ferroflow_ops::input::IntoInput;
use ferroflow_ops::math::{mul, pow};
use serde::{Deserialize, Serialize};

/// `learning_rate * decay_rate ^ (global_step / decay_steps)`, with the exponent floored when
/// `staircase`. TF1: `tf.train.exponential_decay(learning_rate, global_step, decay_steps,
/// decay_rate, staircase=False)`.
///
/// Computed in the learning rate's dtype (a literal learning rate is float32, as in TF1), the
/// step converted first. Pass the result as an optimizer's learning rate; it changes as
/// `minimize(.., Some(global_step))` increments the step.
///
/// ```
/// use ferroflow_core::Graph;
/// use ferroflow_session::Session;
/// use ferroflow_train::schedules::exponential_decay;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let lr = exponential_decay(&s, 0.1f32, 3i64, 2, 0.5, true)?; // 0.1 * 0.5^floor(3/2)
/// let v = Session::new(&g).run([lr], &[])?[0].scalar::<f32>()?;
/// assert!((v - 0.05).abs() < 1e-7);
/// # Ok(()) }
/// ```
///
/// # Shapes
/// `learning_rate`, `global_step`: `[]` (any shapes broadcast); output: their broadcast shape.
///
/// # Errors
/// `decay_steps == 0`, a non-float learning rate, or a bool global step.
pub fn exponential_decay(
    s: &Scope,
    learning_rate: impl IntoInput,
    global_step: impl IntoInput,
    decay_steps: u64,
    decay_rate: f64,
    staircase: bool,
) -> Result<Tensor> {
    if decay_steps == 0 {
        return Err(Error::invalid("exponential_decay: decay_steps must be positive, got 0"));
    }
    s.op_scope("ExponentialDecay", |s| {
        let lr = learning_rate.into_tensor(s, Some(DType::F32))?;
        if !lr.dtype(s)?.is_float() {
            return Err(Error::invalid(format!(
                "exponential_decay: the learning rate '{}' must be float, got {}",
                lr.name(s)?,
                lr.dtype(s)?
            )));
        }
        let step = global_step.into_tensor(s, Some(DType::I64))?;
        let p = s.add_op1(
            DecayProgress { decay_steps: decay_steps as f64, staircase, dtype: lr.dtype(s)? },
            &[step],
            "DecayProgress",
        )?;
        let factor = pow(s, decay_rate, p)?;
        mul(&s.with_name("decayed_learning_rate"), lr, factor)
    })
}

/// `cast(step, dtype) / decay_steps`, floored when `staircase` (TF1 builds this from `Cast`,
/// `RealDiv` and `Floor`). No gradient flows to the step.
#[derive(Debug, Serialize, Deserialize)]
pub struct DecayProgress {
    /// The divisor.
    pub decay_steps: f64,
    /// Floor the quotient.
    pub staircase: bool,
    /// Output dtype (float).
    pub dtype: DType,
}

impl DecayProgress {
    fn run<T: num_traits::Float + ferroflow_core::Element>(&self, step: &Value, decay_steps: T) -> Result<Value> {
        let x = step.cast(T::DTYPE);
        let a = x.view::<T>()?;
        let staircase = self.staircase;
        let out = a.mapv(|s| {
            let p = s / decay_steps;
            if staircase {
                p.floor()
            } else {
                p
            }
        });
        Ok(T::into_value(out.into_shared()))
    }
}

#[typetag::serde]
impl Op for DecayProgress {
    fn type_name(&self) -> &'static str {
        "DecayProgress"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let step = cx.input(0)?;
        if step.dtype == DType::Bool {
            return Err(cx.error(format!("the global step must be numeric, got {step}")));
        }
        if !self.dtype.is_float() {
            return Err(cx.error(format!("the output dtype must be float, got {}", self.dtype)));
        }
        Ok(vec![TensorSpec::new(self.dtype, step.shape.clone())])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let step = cx.input(0)?;
        let out = match self.dtype {
            DType::F32 => self.run::<f32>(step, self.decay_steps as f32),
            DType::F64 => self.run::<f64>(step, self.decay_steps),
            d => Err(Error::invalid(format!("the output dtype must be float, got {d}"))),
        };
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None])
    }
    fn describe(&self) -> String {
        format!("decay_steps={} staircase={}", self.decay_steps, self.staircase)
    }
}
