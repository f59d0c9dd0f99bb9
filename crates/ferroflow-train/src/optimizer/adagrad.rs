//! `AdagradOptimizer` and its fused kernel `ApplyAdagrad`.

use super::{
    check_refs, impl_apply_op, map_into, scalar_input, update_ref, ApplyRule, LearningRate, Optimizer, OptimizerCore,
    Real,
};
use ferroflow_core::typetag;
use ferroflow_core::{Error, KernelCtx, Operation, Result, Scope, Tensor, Value, Variable};
use ferroflow_ops::input::IntoInput;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Adagrad. TF1: `tf.train.AdagradOptimizer(learning_rate, initial_accumulator_value=0.1)`.
///
/// ```text
/// accum += grad²
/// var   -= lr * grad / sqrt(accum)
/// ```
/// (no epsilon: TF1's `ApplyAdagrad`, computed as `grad * lr * rsqrt(accum)`).
/// Slot `"accumulator"` (every element `initial_accumulator_value`) → `<var>/Adagrad`.
#[derive(Debug)]
pub struct AdagradOptimizer {
    core: OptimizerCore,
    initial_accumulator_value: f64,
}

impl AdagradOptimizer {
    /// Adagrad with this learning rate (literal or tensor), accumulators starting at 0.1.
    pub fn new<L: IntoInput + Clone + fmt::Debug + Send + Sync + 'static>(learning_rate: L) -> Self {
        AdagradOptimizer {
            core: OptimizerCore::new("Adagrad", LearningRate::new(learning_rate)),
            initial_accumulator_value: 0.1,
        }
    }
    /// Starting value of the accumulators; must be positive (TF1 default 0.1).
    pub fn initial_accumulator_value(mut self, value: f64) -> Self {
        self.initial_accumulator_value = value;
        self
    }
    /// Renames it (TF1 `name=`; default `"Adagrad"`).
    pub fn with_name(mut self, name: &str) -> Self {
        self.core.set_name(name);
        self
    }
}

impl Optimizer for AdagradOptimizer {
    fn core(&self) -> &OptimizerCore {
        &self.core
    }
    fn create_slots(&self, s: &Scope, var_list: &[Variable]) -> Result<()> {
        // Rejects NaN too.
        if self.initial_accumulator_value.is_nan() || self.initial_accumulator_value <= 0.0 {
            return Err(Error::Training(format!(
                "{}: initial_accumulator_value must be positive, got {}",
                self.core.name(),
                self.initial_accumulator_value
            )));
        }
        for v in var_list {
            self.core.filled_slot(s, *v, "accumulator", self.initial_accumulator_value)?;
        }
        Ok(())
    }
    fn apply_dense(&self, s: &Scope, grad: Tensor, var: Variable, lr: Tensor) -> Result<Operation> {
        let accum = self.core.slot(var, "accumulator")?;
        Ok(apply_adagrad(s, var, accum, lr, grad)?.op())
    }
}

/// The Adagrad update in place (TF1 `ApplyAdagrad`). Inputs: `var`, `accum` (references),
/// `lr` (scalar), `grad`; output: the updated variable.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApplyAdagrad;

impl ApplyRule for ApplyAdagrad {
    fn op_type(&self) -> &'static str {
        "ApplyAdagrad"
    }
    fn refs(&self) -> &'static [&'static str] {
        &["var", "accum"]
    }
    fn scalars(&self) -> &'static [&'static str] {
        &["lr"]
    }
    fn run<T: Real>(&self, cx: &KernelCtx<'_>) -> Result<Value> {
        let lr: T = scalar_input(cx, 2, "lr")?;
        let g = cx.view::<T>(3)?;
        let shape = g.shape();
        check_refs::<T>(cx, [0, 1], shape)?;
        let accum = update_ref::<T>(cx, 1, shape, |o, a| map_into(o, [&a, &g], |[a, g]| a + g * g))?;
        let a = accum.view::<T>().map_err(|e| cx.wrap(e))?;
        let out =
            update_ref::<T>(cx, 0, shape, |o, w| map_into(o, [&w, &g, &a], |[w, g, a]| w - g * lr * a.sqrt().recip()))?;
        Ok(out)
    }
}

impl_apply_op!(ApplyAdagrad);

/// Adds the Adagrad update of `var` and its accumulator, returning the updated value. TF1:
/// `tf.raw_ops.ApplyAdagrad(var, accum, lr, grad)`.
///
/// # Shapes
/// `var`, `accum`, `grad`: one shape; `lr`: `[]`.
///
/// # Errors
/// Mismatched dtypes/shapes or a non-scalar `lr` (build time); uninitialized variables (run time).
pub fn apply_adagrad(s: &Scope, var: Variable, accum: Variable, lr: impl IntoInput, grad: Tensor) -> Result<Tensor> {
    let lr = lr.into_tensor(s, Some(var.dtype(s)?))?;
    s.add_op1(ApplyAdagrad, &[var.value(), accum.value(), lr, grad], "ApplyAdagrad")
}
