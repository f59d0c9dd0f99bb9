//! `MomentumOptimizer` (optionally Nesterov) and its fused kernel `ApplyMomentum`.

use super::{
    check_refs, impl_apply_op, map_into, scalar_input, update_ref, ApplyRule, LearningRate, Optimizer, OptimizerCore,
    Real,
};
use ferroflow_core::typetag;
use ferroflow_core::{KernelCtx, Operation, Result, Scope, Tensor, Value, Variable};
use ferroflow_ops::input::IntoInput;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Gradient descent with momentum. TF1: `tf.train.MomentumOptimizer(learning_rate, momentum,
/// use_nesterov=False)`.
///
/// TF1's formulas (the learning rate multiplies the accumulator, not the gradient):
/// ```text
/// accum = accum * momentum + grad
/// var  -= lr * accum                          (use_nesterov = false)
/// var  -= lr * grad + lr * momentum * accum   (use_nesterov = true)
/// ```
/// Slot `"momentum"` (zeros), named `<var>/Momentum`.
#[derive(Debug)]
pub struct MomentumOptimizer {
    core: OptimizerCore,
    momentum: f64,
    use_nesterov: bool,
}

impl MomentumOptimizer {
    /// An optimizer with this learning rate (literal or tensor) and momentum.
    pub fn new<L: IntoInput + Clone + fmt::Debug + Send + Sync + 'static>(learning_rate: L, momentum: f64) -> Self {
        MomentumOptimizer {
            core: OptimizerCore::new("Momentum", LearningRate::new(learning_rate)),
            momentum,
            use_nesterov: false,
        }
    }

    /// Nesterov momentum (TF1 `use_nesterov`, default `false`).
    pub fn use_nesterov(mut self, yes: bool) -> Self {
        self.use_nesterov = yes;
        self
    }

    /// Renames it (TF1 `name=`; default `"Momentum"`).
    pub fn with_name(mut self, name: &str) -> Self {
        self.core.set_name(name);
        self
    }
}

impl Optimizer for MomentumOptimizer {
    fn core(&self) -> &OptimizerCore {
        &self.core
    }
    fn create_slots(&self, s: &Scope, var_list: &[Variable]) -> Result<()> {
        for v in var_list {
            self.core.zeros_slot(s, *v, "momentum")?;
        }
        Ok(())
    }
    fn apply_dense(&self, s: &Scope, grad: Tensor, var: Variable, lr: Tensor) -> Result<Operation> {
        let accum = self.core.slot(var, "momentum")?;
        Ok(apply_momentum(s, var, accum, lr, grad, self.momentum, self.use_nesterov)?.op())
    }
}

/// The momentum update in place (TF1 `ApplyMomentum`). Inputs: `var`, `accum` (references),
/// `lr` (scalar), `grad`; output: the updated variable.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApplyMomentum {
    /// The momentum.
    pub momentum: f64,
    /// Nesterov's variant.
    pub use_nesterov: bool,
}

impl ApplyRule for ApplyMomentum {
    fn op_type(&self) -> &'static str {
        "ApplyMomentum"
    }
    fn refs(&self) -> &'static [&'static str] {
        &["var", "accum"]
    }
    fn scalars(&self) -> &'static [&'static str] {
        &["lr"]
    }
    fn attrs(&self) -> String {
        format!("momentum={} use_nesterov={}", self.momentum, self.use_nesterov)
    }
    fn run<T: Real>(&self, cx: &KernelCtx<'_>) -> Result<Value> {
        let lr: T = scalar_input(cx, 2, "lr")?;
        let mom = T::of(self.momentum);
        let g = cx.view::<T>(3)?;
        let shape = g.shape();
        check_refs::<T>(cx, [0, 1], shape)?;
        let accum = update_ref::<T>(cx, 1, shape, |o, a| map_into(o, [&a, &g], |[a, g]| a * mom + g))?;
        let a = accum.view::<T>().map_err(|e| cx.wrap(e))?;
        let out = update_ref::<T>(cx, 0, shape, |o, w| {
            if self.use_nesterov {
                map_into(o, [&w, &g, &a], |[w, g, a]| w - (g * lr + a * mom * lr))
            } else {
                map_into(o, [&w, &a], |[w, a]| w - a * lr)
            }
        })?;
        Ok(out)
    }
}

impl_apply_op!(ApplyMomentum);

/// Adds the momentum update of `var` and its accumulator, returning the updated value. TF1:
/// `tf.raw_ops.ApplyMomentum(var, accum, lr, grad, momentum, use_nesterov)`.
///
/// # Shapes
/// `var`, `accum`, `grad`: one shape; `lr`: `[]`.
///
/// # Errors
/// Mismatched dtypes/shapes or a non-scalar `lr` (build time); uninitialized variables (run time).
pub fn apply_momentum(
    s: &Scope,
    var: Variable,
    accum: Variable,
    lr: impl IntoInput,
    grad: Tensor,
    momentum: f64,
    use_nesterov: bool,
) -> Result<Tensor> {
    let lr = lr.into_tensor(s, Some(var.dtype(s)?))?;
    s.add_op1(ApplyMomentum { momentum, use_nesterov }, &[var.value(), accum.value(), lr, grad], "ApplyMomentum")
}
