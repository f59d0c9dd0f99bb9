//! `AdamOptimizer` and its fused kernel `ApplyAdam`.

use super::{
    check_refs, impl_apply_op, map_into, scalar_input, update_ref, ApplyRule, LearningRate, Optimizer, OptimizerCore,
    Real,
};
use ferroflow_core::typetag;
use ferroflow_core::{KernelCtx, Operation, Result, Scope, Tensor, Value, Variable};
use ferroflow_ops::input::IntoInput;
use ferroflow_ops::math::mul;
use ferroflow_ops::state::assign;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Adam. TF1: `tf.train.AdamOptimizer(learning_rate=0.001, beta1=0.9, beta2=0.999,
/// epsilon=1e-8)`.
///
/// With `t` the step count (from 1), as TF1 computes it:
/// ```text
/// lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
/// m    = m + (grad - m) * (1 - beta1)          (= beta1 * m + (1 - beta1) * grad)
/// v    = v + (grad² - v) * (1 - beta2)
/// var -= lr_t * m / (sqrt(v) + epsilon)
/// ```
/// `beta1^t` and `beta2^t` live in two non-trainable scalar variables, `beta1_power` and
/// `beta2_power` (initialized to `beta1`, `beta2`; created once per graph in the caller's name
/// scope, with the dtype of the first variable by name), multiplied by `beta1`/`beta2` after
/// all variables are updated. Slots `"m"` → `<var>/Adam`, `"v"` → `<var>/Adam_1` (zeros).
///
/// ```
/// use ferroflow_train::optimizer::{AdamOptimizer, Optimizer};
/// let opt = AdamOptimizer::new(0.01f32).beta2(0.99);
/// assert_eq!(opt.name(), "Adam");
/// ```
#[derive(Debug)]
pub struct AdamOptimizer {
    core: OptimizerCore,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
}

impl Default for AdamOptimizer {
    /// TF1's defaults: learning rate 0.001, beta1 0.9, beta2 0.999, epsilon 1e-8.
    fn default() -> Self {
        AdamOptimizer::new(0.001f32)
    }
}

impl AdamOptimizer {
    /// Adam with this learning rate (literal or tensor) and TF1's default betas and epsilon.
    pub fn new<L: IntoInput + Clone + fmt::Debug + Send + Sync + 'static>(learning_rate: L) -> Self {
        AdamOptimizer {
            core: OptimizerCore::new("Adam", LearningRate::new(learning_rate)),
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        }
    }
    /// Decay of the first moment (TF1 default 0.9).
    pub fn beta1(mut self, beta1: f64) -> Self {
        self.beta1 = beta1;
        self
    }
    /// Decay of the second moment (TF1 default 0.999).
    pub fn beta2(mut self, beta2: f64) -> Self {
        self.beta2 = beta2;
        self
    }
    /// Added to `sqrt(v)` (TF1 default 1e-8).
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }
    /// Renames it (TF1 `name=`; default `"Adam"`).
    pub fn with_name(mut self, name: &str) -> Self {
        self.core.set_name(name);
        self
    }

    /// The `beta1_power` and `beta2_power` variables of graph `graph_id`, once created.
    /// TF1: `opt._get_beta_accumulators()`.
    pub fn beta_powers(&self, graph_id: u32) -> Option<(Variable, Variable)> {
        Some((self.core.find_non_slot(graph_id, "beta1_power")?, self.core.find_non_slot(graph_id, "beta2_power")?))
    }

    fn powers(&self, graph_id: u32) -> Result<(Variable, Variable)> {
        self.beta_powers(graph_id).ok_or_else(|| {
            ferroflow_core::Error::Training(format!(
                "{}: beta1_power/beta2_power do not exist yet; they are created by apply_gradients",
                self.core.name()
            ))
        })
    }
}

impl Optimizer for AdamOptimizer {
    fn core(&self) -> &OptimizerCore {
        &self.core
    }
    fn create_slots(&self, s: &Scope, var_list: &[Variable]) -> Result<()> {
        // TF1 creates the powers "next to" the first variable by name; its dtype is ours.
        let mut names: Vec<(String, Variable)> =
            var_list.iter().map(|v| Ok((v.name(s)?, *v))).collect::<Result<_>>()?;
        names.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some((_, first)) = names.first() {
            let dtype = first.dtype(s)?;
            self.core.non_slot_variable(s, "beta1_power", self.beta1, dtype)?;
            self.core.non_slot_variable(s, "beta2_power", self.beta2, dtype)?;
        }
        for v in var_list {
            self.core.zeros_slot(s, *v, "m")?;
            self.core.zeros_slot(s, *v, "v")?;
        }
        Ok(())
    }
    fn apply_dense(&self, s: &Scope, grad: Tensor, var: Variable, lr: Tensor) -> Result<Operation> {
        let (m, v) = (self.core.slot(var, "m")?, self.core.slot(var, "v")?);
        let (b1p, b2p) = self.powers(s.graph().id())?;
        let op = ApplyAdam { beta1: self.beta1, beta2: self.beta2, epsilon: self.epsilon };
        s.add_op(op, &[var.value(), m.value(), v.value(), b1p.value(), b2p.value(), lr, grad], "ApplyAdam")
    }
    fn finish(&self, s: &Scope, update_ops: &[Operation]) -> Result<Vec<Operation>> {
        let (b1p, b2p) = self.powers(s.graph().id())?;
        let after = s.with_control_dependencies(update_ops);
        let u1 = assign(&after, b1p, mul(&after, b1p, self.beta1)?)?;
        let u2 = assign(&after, b2p, mul(&after, b2p, self.beta2)?)?;
        let mut ops = update_ops.to_vec();
        ops.extend([u1.op(), u2.op()]);
        Ok(ops)
    }
}

/// The Adam update in place (TF1 `ApplyAdam`). Inputs: `var`, `m`, `v` (references),
/// `beta1_power`, `beta2_power`, `lr` (scalars), `grad`; output: the updated variable.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApplyAdam {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to `sqrt(v)`.
    pub epsilon: f64,
}

impl ApplyRule for ApplyAdam {
    fn op_type(&self) -> &'static str {
        "ApplyAdam"
    }
    fn refs(&self) -> &'static [&'static str] {
        &["var", "m", "v"]
    }
    fn scalars(&self) -> &'static [&'static str] {
        &["beta1_power", "beta2_power", "lr"]
    }
    fn attrs(&self) -> String {
        format!("beta1={} beta2={} epsilon={}", self.beta1, self.beta2, self.epsilon)
    }
    fn run<T: Real>(&self, cx: &KernelCtx<'_>) -> Result<Value> {
        let b1p: T = scalar_input(cx, 3, "beta1_power")?;
        let b2p: T = scalar_input(cx, 4, "beta2_power")?;
        let lr: T = scalar_input(cx, 5, "lr")?;
        let (one, b1, b2, eps) = (T::one(), T::of(self.beta1), T::of(self.beta2), T::of(self.epsilon));
        let alpha = lr * (one - b2p).sqrt() / (one - b1p);
        let g = cx.view::<T>(6)?;
        let shape = g.shape();
        check_refs::<T>(cx, [0, 1, 2], shape)?;
        let m = update_ref::<T>(cx, 1, shape, |o, m| map_into(o, [&m, &g], |[m, g]| m + (g - m) * (one - b1)))?;
        let v = update_ref::<T>(cx, 2, shape, |o, v| map_into(o, [&v, &g], |[v, g]| v + (g * g - v) * (one - b2)))?;
        let (m, v) = (m.view::<T>().map_err(|e| cx.wrap(e))?, v.view::<T>().map_err(|e| cx.wrap(e))?);
        let out = update_ref::<T>(cx, 0, shape, |o, w| {
            map_into(o, [&w, &m, &v], |[w, m, v]| w - (m * alpha) / (v.sqrt() + eps))
        })?;
        Ok(out)
    }
}

impl_apply_op!(ApplyAdam);

/// Adds the Adam update of `var` and its moments `m`, `v`, returning the updated value. TF1:
/// `tf.raw_ops.ApplyAdam(var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad)`.
///
/// # Shapes
/// `var`, `m`, `v`, `grad`: one shape; `beta1_power`, `beta2_power`, `lr`: `[]`.
///
/// # Errors
/// Mismatched dtypes/shapes or non-scalar hyperparameters (build time); uninitialized
/// variables (run time).
#[allow(clippy::too_many_arguments)]
pub fn apply_adam(
    s: &Scope,
    var: Variable,
    m: Variable,
    v: Variable,
    beta1_power: impl IntoInput,
    beta2_power: impl IntoInput,
    lr: impl IntoInput,
    grad: Tensor,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
) -> Result<Tensor> {
    let d = Some(var.dtype(s)?);
    let (b1p, b2p, lr) = (beta1_power.into_tensor(s, d)?, beta2_power.into_tensor(s, d)?, lr.into_tensor(s, d)?);
    let op = ApplyAdam { beta1, beta2, epsilon };
    s.add_op1(op, &[var.value(), m.value(), v.value(), b1p, b2p, lr, grad], "ApplyAdam")
}
