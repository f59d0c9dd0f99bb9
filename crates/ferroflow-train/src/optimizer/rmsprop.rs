//! `RMSPropOptimizer` and its fused kernels `ApplyRMSProp` / `ApplyCenteredRMSProp`.

use super::{
    check_refs, impl_apply_op, map_into, scalar_input, update_ref, ApplyRule, LearningRate, Optimizer, OptimizerCore,
    Real,
};
use ferroflow_core::typetag;
use ferroflow_core::{KernelCtx, Operation, Result, Scope, Tensor, Value, Variable};
use ferroflow_ops::input::IntoInput;
use serde::{Deserialize, Serialize};
use std::fmt;

/// RMSProp. TF1: `tf.train.RMSPropOptimizer(learning_rate, decay=0.9, momentum=0.0,
/// epsilon=1e-10, centered=False)`.
///
/// TF1's formulas (note: `ms` starts at **ones**, and epsilon is **inside** the square root):
/// ```text
/// ms  = ms + (grad² - ms) * (1 - decay)                  (= decay * ms + (1 - decay) * grad²)
/// mom = mom * momentum + lr * grad / sqrt(ms + epsilon)
/// var -= mom
/// ```
/// Centered (`centered(true)`) also keeps the mean gradient `mg` and divides by
/// `sqrt(ms - mg² + epsilon)`, with `mg = mg + (grad - mg) * (1 - decay)`.
///
/// Slots, in TF1's creation order: `"rms"` (ones) → `<var>/RMSProp`; when centered `"mg"`
/// (zeros) → `<var>/RMSProp_1`; `"momentum"` (zeros) → `<var>/RMSProp_1` (`_2` when centered).
/// The momentum slot exists even when `momentum` is 0, as in TF1.
#[derive(Debug)]
pub struct RMSPropOptimizer {
    core: OptimizerCore,
    decay: f64,
    momentum: f64,
    epsilon: f64,
    centered: bool,
}

impl RMSPropOptimizer {
    /// RMSProp with this learning rate (literal or tensor) and TF1's defaults.
    pub fn new<L: IntoInput + Clone + fmt::Debug + Send + Sync + 'static>(learning_rate: L) -> Self {
        RMSPropOptimizer {
            core: OptimizerCore::new("RMSProp", LearningRate::new(learning_rate)),
            decay: 0.9,
            momentum: 0.0,
            epsilon: 1e-10,
            centered: false,
        }
    }
    /// Discount of the squared-gradient average (TF1 `decay`, default 0.9).
    pub fn decay(mut self, decay: f64) -> Self {
        self.decay = decay;
        self
    }
    /// Momentum (TF1 default 0.0).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
    /// Added inside the square root (TF1 default 1e-10).
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }
    /// Normalize by the estimated variance instead of the second moment (TF1 default `false`).
    pub fn centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }
    /// Renames it (TF1 `name=`; default `"RMSProp"`).
    pub fn with_name(mut self, name: &str) -> Self {
        self.core.set_name(name);
        self
    }
}

impl Optimizer for RMSPropOptimizer {
    fn core(&self) -> &OptimizerCore {
        &self.core
    }
    fn create_slots(&self, s: &Scope, var_list: &[Variable]) -> Result<()> {
        for v in var_list {
            self.core.filled_slot(s, *v, "rms", 1.0)?;
            if self.centered {
                self.core.zeros_slot(s, *v, "mg")?;
            }
            self.core.zeros_slot(s, *v, "momentum")?;
        }
        Ok(())
    }
    fn apply_dense(&self, s: &Scope, grad: Tensor, var: Variable, lr: Tensor) -> Result<Operation> {
        let (ms, mom) = (self.core.slot(var, "rms")?, self.core.slot(var, "momentum")?);
        let op =
            ApplyRMSProp { decay: self.decay, momentum: self.momentum, epsilon: self.epsilon, centered: self.centered };
        let inputs = if self.centered {
            let mg = self.core.slot(var, "mg")?;
            vec![var.value(), mg.value(), ms.value(), mom.value(), lr, grad]
        } else {
            vec![var.value(), ms.value(), mom.value(), lr, grad]
        };
        s.add_op(op, &inputs, op_type(self.centered))
    }
}

fn op_type(centered: bool) -> &'static str {
    if centered {
        "ApplyCenteredRMSProp"
    } else {
        "ApplyRMSProp"
    }
}

/// The RMSProp update in place (TF1 `ApplyRMSProp`, and `ApplyCenteredRMSProp` when
/// `centered`). Inputs: `var`, (`mg`, when centered) `ms`, `mom` (references), `lr` (scalar), `grad`;
/// output: the updated variable.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApplyRMSProp {
    /// Discount (TF's `rho`).
    pub decay: f64,
    /// Momentum.
    pub momentum: f64,
    /// Added inside the square root.
    pub epsilon: f64,
    /// Keep and subtract the mean gradient `mg`.
    pub centered: bool,
}

impl ApplyRMSProp {
    fn num_refs(&self) -> usize {
        self.refs().len()
    }
}

impl ApplyRule for ApplyRMSProp {
    fn op_type(&self) -> &'static str {
        op_type(self.centered)
    }
    fn refs(&self) -> &'static [&'static str] {
        if self.centered {
            &["var", "mg", "ms", "mom"]
        } else {
            &["var", "ms", "mom"]
        }
    }
    fn scalars(&self) -> &'static [&'static str] {
        &["lr"]
    }
    fn attrs(&self) -> String {
        format!("decay={} momentum={} epsilon={} centered={}", self.decay, self.momentum, self.epsilon, self.centered)
    }
    fn run<T: Real>(&self, cx: &KernelCtx<'_>) -> Result<Value> {
        let r = self.num_refs();
        let lr: T = scalar_input(cx, r, "lr")?;
        let (one, rho, momentum, eps) = (T::one(), T::of(self.decay), T::of(self.momentum), T::of(self.epsilon));
        let g = cx.view::<T>(r + 1)?;
        let shape = g.shape();
        let (ms_i, mom_i) = (r - 2, r - 1);
        check_refs::<T>(cx, 0..=mom_i, shape)?;
        let ms = update_ref::<T>(cx, ms_i, shape, |o, ms| {
            map_into(o, [&ms, &g], |[ms, g]| ms + (g * g - ms) * (one - rho))
        })?;
        let ms = ms.view::<T>().map_err(|e| cx.wrap(e))?;
        let mom = if self.centered {
            let mg =
                update_ref::<T>(cx, 1, shape, |o, mg| map_into(o, [&mg, &g], |[mg, g]| mg + (g - mg) * (one - rho)))?;
            let mg = mg.view::<T>().map_err(|e| cx.wrap(e))?;
            update_ref::<T>(cx, mom_i, shape, |o, mom| {
                map_into(o, [&mom, &g, &ms, &mg], |[mom, g, ms, mg]| {
                    mom * momentum + (g * lr) / ((ms - mg * mg) + eps).sqrt()
                })
            })?
        } else {
            update_ref::<T>(cx, mom_i, shape, |o, mom| {
                map_into(o, [&mom, &g, &ms], |[mom, g, ms]| mom * momentum + (g * lr) / (ms + eps).sqrt())
            })?
        };
        let mom = mom.view::<T>().map_err(|e| cx.wrap(e))?;
        let out = update_ref::<T>(cx, 0, shape, |o, w| map_into(o, [&w, &mom], |[w, m]| w - m))?;
        Ok(out)
    }
}

impl_apply_op!(ApplyRMSProp);

/// Adds the (non-centered) RMSProp update of `var`, `ms`, `mom`, returning the updated value.
/// TF1: `tf.raw_ops.ApplyRMSProp(var, ms, mom, lr, rho, momentum, epsilon, grad)`.
///
/// # Shapes
/// `var`, `ms`, `mom`, `grad`: one shape; `lr`: `[]`.
///
/// # Errors
/// Mismatched dtypes/shapes or a non-scalar `lr` (build time); uninitialized variables (run time).
#[allow(clippy::too_many_arguments)]
pub fn apply_rms_prop(
    s: &Scope,
    var: Variable,
    ms: Variable,
    mom: Variable,
    lr: impl IntoInput,
    grad: Tensor,
    decay: f64,
    momentum: f64,
    epsilon: f64,
) -> Result<Tensor> {
    let lr = lr.into_tensor(s, Some(var.dtype(s)?))?;
    let op = ApplyRMSProp { decay, momentum, epsilon, centered: false };
    s.add_op1(op, &[var.value(), ms.value(), mom.value(), lr, grad], "ApplyRMSProp")
}

/// Adds the centered RMSProp update of `var`, `mg`, `ms`, `mom`, returning the updated value.
/// TF1: `tf.raw_ops.ApplyCenteredRMSProp(var, mg, ms, mom, lr, rho, momentum, epsilon, grad)`.
///
/// # Shapes
/// `var`, `mg`, `ms`, `mom`, `grad`: one shape; `lr`: `[]`.
///
/// # Errors
/// As [`apply_rms_prop`].
#[allow(clippy::too_many_arguments)]
pub fn apply_centered_rms_prop(
    s: &Scope,
    var: Variable,
    mg: Variable,
    ms: Variable,
    mom: Variable,
    lr: impl IntoInput,
    grad: Tensor,
    decay: f64,
    momentum: f64,
    epsilon: f64,
) -> Result<Tensor> {
    let lr = lr.into_tensor(s, Some(var.dtype(s)?))?;
    let op = ApplyRMSProp { decay, momentum, epsilon, centered: true };
    s.add_op1(op, &[var.value(), mg.value(), ms.value(), mom.value(), lr, grad], "ApplyCenteredRMSProp")
}
