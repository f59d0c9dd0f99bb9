//! `GradientDescentOptimizer` and its fused kernel `ApplyGradientDescent`.

use super::{
    check_refs, impl_apply_op, map_into, scalar_input, update_ref, ApplyRule, LearningRate, Optimizer, OptimizerCore,
    Real,
};
use ferroflow_core::typetag;
use ferroflow_core::{KernelCtx, Operation, Result, Scope, Tensor, Value, Variable};
use ferroflow_ops::input::IntoInput;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Plain gradient descent. TF1: `tf.train.GradientDescentOptimizer(learning_rate)`.
///
/// `var -= lr * grad`. No slots.
///
/// ```
/// use ferroflow_train::optimizer::{GradientDescentOptimizer, Optimizer};
/// let opt = GradientDescentOptimizer::new(0.1f32);
/// assert_eq!(opt.name(), "GradientDescent");
/// ```
#[derive(Debug)]
pub struct GradientDescentOptimizer {
    core: OptimizerCore,
}

impl GradientDescentOptimizer {
    /// An optimizer with this learning rate (a literal or a tensor).
    pub fn new<L: IntoInput + Clone + fmt::Debug + Send + Sync + 'static>(learning_rate: L) -> Self {
        GradientDescentOptimizer { core: OptimizerCore::new("GradientDescent", LearningRate::new(learning_rate)) }
    }

    /// Renames it (TF1 `name=`; default `"GradientDescent"`).
    pub fn with_name(mut self, name: &str) -> Self {
        self.core.set_name(name);
        self
    }
}

impl Optimizer for GradientDescentOptimizer {
    fn core(&self) -> &OptimizerCore {
        &self.core
    }
    fn create_slots(&self, _: &Scope, _: &[Variable]) -> Result<()> {
        Ok(())
    }
    fn apply_dense(&self, s: &Scope, grad: Tensor, var: Variable, lr: Tensor) -> Result<Operation> {
        Ok(apply_gradient_descent(s, var, lr, grad)?.op())
    }
}

/// `var -= alpha * delta` in place (TF1 `ApplyGradientDescent`). Inputs: `var` (reference),
/// `alpha` (scalar), `delta`; output: the updated variable.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApplyGradientDescent;

impl ApplyRule for ApplyGradientDescent {
    fn op_type(&self) -> &'static str {
        "ApplyGradientDescent"
    }
    fn refs(&self) -> &'static [&'static str] {
        &["var"]
    }
    fn scalars(&self) -> &'static [&'static str] {
        &["alpha"]
    }
    fn run<T: Real>(&self, cx: &KernelCtx<'_>) -> Result<Value> {
        let lr: T = scalar_input(cx, 1, "alpha")?;
        let g = cx.view::<T>(2)?;
        check_refs::<T>(cx, [0], g.shape())?;
        let out = update_ref::<T>(cx, 0, g.shape(), |o, w| map_into(o, [&w, &g], |[w, g]| w - g * lr))?;
        Ok(out)
    }
}

impl_apply_op!(ApplyGradientDescent);

/// Adds `var -= alpha * delta`, returning the updated value. TF1:
/// `tf.raw_ops.ApplyGradientDescent(var, alpha, delta)`.
///
/// # Shapes
/// `var`: any; `alpha`: `[]` (any numeric dtype, converted); `delta`: `var`'s shape.
///
/// # Errors
/// A non-float variable, a non-scalar `alpha`, or a `delta` of another dtype/shape (build
/// time); an uninitialized variable (run time).
pub fn apply_gradient_descent(s: &Scope, var: Variable, alpha: impl IntoInput, delta: Tensor) -> Result<Tensor> {
    let alpha = alpha.into_tensor(s, Some(var.dtype(s)?))?;
    s.add_op1(ApplyGradientDescent, &[var.value(), alpha, delta], "ApplyGradientDescent")
}
