//! TF1's optimizers: the [`Optimizer`] trait (`compute_gradients`, `apply_gradients`,
//! `minimize`), slot-variable bookkeeping, and one file per optimizer holding its struct and
//! its fused apply op.
//!
//! An optimizer follows TF1's `tf.train.Optimizer` step by step:
//!
//! 1. `compute_gradients(loss, var_list)`: `gradients(loss, var_list)` (a non-scalar loss is
//!    summed, as `tf.gradients` does); `var_list` defaults to `TRAINABLE_VARIABLES`.
//! 2. `apply_gradients(grads_and_vars, global_step)`: creates the slot variables
//!    (`<var>/<Name>`, `<var>/<Name>_1`, …, non-trainable, in `GLOBAL_VARIABLES`), then under
//!    the name scope `<Name>` one fused apply op per variable (`<Name>/update_<var>/Apply…`)
//!    that updates the variable and its slots in place, then the optimizer's finishing ops
//!    (Adam's `beta1_power`/`beta2_power` updates) after all of them, and, when a global step
//!    is given, `global_step += 1` after everything. The returned op is added to `TRAIN_OP`.
//! 3. `minimize` = 1 + 2, with an error naming the loss and the variables when no gradient
//!    reaches any of them.

pub mod adagrad;
pub mod adam;
pub mod gradient_descent;
pub mod momentum;
pub mod rmsprop;

pub use adagrad::AdagradOptimizer;
pub use adam::AdamOptimizer;
pub use gradient_descent::GradientDescentOptimizer;
pub use momentum::MomentumOptimizer;
pub use rmsprop::RMSPropOptimizer;

use crate::gradients::gradients;
use ferroflow_core::{
    DType, Element, Error, InferCtx, KernelCtx, Operation, Result, Scope, Shape, Tensor, TensorSpec, Value, Variable,
    TRAIN_OP,
};
use ferroflow_ops::array::{ones_like, zeros_like};
use ferroflow_ops::control::{group, NoOp};
use ferroflow_ops::input::IntoInput;
use ferroflow_ops::state::{constant, variable, variable_from, Assign, AssignKind, VariableOptions};
use ndarray::{ArrayViewD, ArrayViewMutD};
use rayon::prelude::*;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

type RateFn = dyn Fn(&Scope, DType) -> Result<Tensor> + Send + Sync;

/// A learning rate: a literal (`0.01`) or a tensor (a placeholder, a variable, a schedule such
/// as [`exponential_decay`](crate::schedules::exponential_decay)). TF1: the `learning_rate`
/// argument of every optimizer.
///
/// Built from any [`IntoInput`]; a literal becomes a constant of the first variable's dtype
/// when the optimizer applies; a tensor is used as it is (the apply kernels convert a scalar
/// of another float dtype).
#[derive(Clone)]
pub struct LearningRate {
    build: Arc<RateFn>,
    desc: String,
}

impl LearningRate {
    /// Wraps a literal or a tensor.
    pub fn new<L>(lr: L) -> Self
    where
        L: IntoInput + Clone + fmt::Debug + Send + Sync + 'static,
    {
        let desc = match lr.as_tensor() {
            Some(t) => format!("tensor {t:?}"),
            None => format!("{lr:?}"),
        };
        LearningRate { build: Arc::new(move |s: &Scope, dtype: DType| lr.clone().into_tensor(s, Some(dtype))), desc }
    }

    /// The learning rate as a tensor in scope `s`; a literal becomes a constant of `dtype`.
    pub fn tensor(&self, s: &Scope, dtype: DType) -> Result<Tensor> {
        (self.build)(s, dtype)
    }
}

impl fmt::Debug for LearningRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.desc)
    }
}

/// One slot variable: the optimizer's per-variable state (`m` of Adam for `w` is `w/Adam`).
#[derive(Clone, Debug)]
struct SlotEntry {
    slot_name: &'static str,
    primary: Variable,
    slot: Variable,
}

#[derive(Default, Debug)]
struct SlotState {
    slots: Vec<SlotEntry>,
    /// Non-slot variables (Adam's beta powers), one per (graph, name).
    non_slots: Vec<(u32, &'static str, Variable)>,
}

/// What every optimizer shares: its name, its learning rate and its slot variables.
///
/// Optimizer authors use [`OptimizerCore::zeros_slot`], [`OptimizerCore::filled_slot`],
/// [`OptimizerCore::non_slot_variable`] and [`OptimizerCore::slot`]; users reach the same
/// information through [`Optimizer::get_slot`] and [`Optimizer::variables`].
pub struct OptimizerCore {
    name: String,
    learning_rate: LearningRate,
    state: Mutex<SlotState>,
}

impl fmt::Debug for OptimizerCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OptimizerCore").field("name", &self.name).field("learning_rate", &self.learning_rate).finish()
    }
}

impl OptimizerCore {
    /// A core named `name` (TF1's default names: `"GradientDescent"`, `"Adam"`, …).
    pub fn new(name: &str, learning_rate: LearningRate) -> Self {
        OptimizerCore { name: name.to_string(), learning_rate, state: Mutex::new(SlotState::default()) }
    }

    /// The optimizer's name: the prefix of its name scope and the suffix of its slots.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames the optimizer (TF1: the `name=` constructor argument).
    pub fn set_name(&mut self, name: &str) {
        self.name = name.to_string();
    }

    /// The learning rate.
    pub fn learning_rate(&self) -> &LearningRate {
        &self.learning_rate
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The slot `slot_name` of `var`, if created.
    pub fn find_slot(&self, var: Variable, slot_name: &str) -> Option<Variable> {
        self.lock().slots.iter().find(|e| e.primary == var && e.slot_name == slot_name).map(|e| e.slot)
    }

    /// The slot `slot_name` of `var`; an error when [`Optimizer::create_slots`] did not make it.
    pub fn slot(&self, var: Variable, slot_name: &str) -> Result<Variable> {
        self.find_slot(var, slot_name).ok_or_else(|| {
            Error::Training(format!(
                "{} optimizer: variable {var:?} has no '{slot_name}' slot; slots are created by apply_gradients/minimize",
                self.name
            ))
        })
    }

    /// Gets or creates the slot `slot_name` of `var`, initialized to zeros. TF1: `_zeros_slot`.
    pub fn zeros_slot(&self, s: &Scope, var: Variable, slot_name: &'static str) -> Result<Variable> {
        self.filled_slot(s, var, slot_name, 0.0)
    }

    /// Gets or creates the slot `slot_name` of `var`, every element `value`.
    ///
    /// The slot is a non-trainable variable named `<var>/<optimizer name>` (made unique:
    /// `w/Adam`, `w/Adam_1`), in `GLOBAL_VARIABLES`, of the variable's dtype and shape, created
    /// outside any control-dependency or cond context.
    pub fn filled_slot(&self, s: &Scope, var: Variable, slot_name: &'static str, value: f64) -> Result<Variable> {
        if let Some(v) = self.find_slot(var, slot_name) {
            return Ok(v);
        }
        let clean = s.without_control_dependencies().with_cond_ctx(None).at_name_prefix("");
        let base = format!("{}/{}", var.name(s)?, self.name);
        let opts = VariableOptions::default().trainable(false);
        let slot = match var.shape(s)?.as_known() {
            Some(dims) => {
                // A Fill op that runs with the initializer (as TF1's `zeros_initializer`), not a
                // constant of the slot's whole size held in the graph.
                let at = clean.at_name_prefix(&format!("{}/{}_init", var.name(s)?, self.name));
                let init = if value == 0.0 {
                    ferroflow_ops::array::zeros(&at, &dims, var.dtype(s)?)?
                } else {
                    ferroflow_ops::array::fill(
                        &at,
                        Value::from(dims.iter().map(|&d| d as i64).collect::<Vec<i64>>()),
                        Value::from(value).cast(var.dtype(s)?),
                    )?
                };
                variable_from(&clean.with_name(&base), init, opts)?
            }
            None => {
                // Shape known only at run time: shaped like the variable's initial value.
                let at = clean.at_name_prefix(&format!("{}/{}_init", var.name(s)?, self.name));
                let init = if value == 0.0 {
                    zeros_like(&at, var.initial_value())?
                } else {
                    let ones = ones_like(&at, var.initial_value())?;
                    if value == 1.0 {
                        ones
                    } else {
                        ferroflow_ops::math::mul(&at, ones, value)?
                    }
                };
                variable_from(&clean.with_name(&base), init, opts)?
            }
        };
        self.lock().slots.push(SlotEntry { slot_name, primary: var, slot });
        Ok(slot)
    }

    /// Gets or creates a non-slot variable of this optimizer in `s`'s graph (Adam's
    /// `beta1_power`): a non-trainable scalar of `dtype` named `name` in `s`'s name scope.
    /// TF1: `_create_non_slot_variable`.
    pub fn non_slot_variable(&self, s: &Scope, name: &'static str, initial: f64, dtype: DType) -> Result<Variable> {
        let gid = s.graph().id();
        if let Some(v) = self.find_non_slot(gid, name) {
            return Ok(v);
        }
        let clean = s.without_control_dependencies().with_cond_ctx(None);
        let v = variable(
            &clean.with_name(name),
            Value::from(initial).cast(dtype),
            VariableOptions::default().trainable(false),
        )?;
        self.lock().non_slots.push((gid, name, v));
        Ok(v)
    }

    /// The non-slot variable `name` of graph `graph_id`, if created.
    pub fn find_non_slot(&self, graph_id: u32, name: &str) -> Option<Variable> {
        self.lock().non_slots.iter().find(|(g, n, _)| *g == graph_id && *n == name).map(|e| e.2)
    }
}

/// A TF1 optimizer. TF1: `tf.train.Optimizer`.
///
/// Implementors provide [`Optimizer::core`], [`Optimizer::create_slots`] and
/// [`Optimizer::apply_dense`] (and [`Optimizer::finish`] when something must run after all
/// variables are updated); `compute_gradients`, `apply_gradients` and `minimize` are shared.
/// The trait is object safe: `Box<dyn Optimizer>` works.
///
/// ```
/// use ferroflow_core::{Graph, Value};
/// use ferroflow_ops::{math, state::{global_variables_initializer, variable, VariableOptions}};
/// use ferroflow_session::Session;
/// use ferroflow_train::optimizer::{GradientDescentOptimizer, Optimizer};
/// use ferroflow_train::global_step::get_or_create_global_step;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let w = variable(&s.with_name("w"), vec![1.0f32, -2.0], VariableOptions::default())?;
/// let loss = math::mul(&s, math::square(&s, w)?, 0.5f32)?; // 0.5 * w², summed by minimize
/// let step = get_or_create_global_step(&s)?;
/// let train = GradientDescentOptimizer::new(0.5f32).minimize(&s, loss, None, Some(step))?;
/// let sess = Session::new(&g);
/// sess.run_ops(&[global_variables_initializer(&s)?], &[])?;
/// sess.run_ops(&[train], &[])?;
/// assert_eq!(sess.run([w], &[])?[0].to_vec::<f32>()?, vec![0.5, -1.0]); // w -= 0.5 * w
/// assert_eq!(sess.run([step], &[])?[0].scalar::<i64>()?, 1);
/// # Ok(()) }
/// ```
pub trait Optimizer {
    /// The shared state (name, learning rate, slots).
    fn core(&self) -> &OptimizerCore;

    /// Creates this optimizer's slots (and non-slot variables) for `var_list`; called by
    /// `apply_gradients` in the caller's scope before any update op. TF1: `_create_slots`.
    fn create_slots(&self, s: &Scope, var_list: &[Variable]) -> Result<()>;

    /// Adds the op updating `var` (and its slots) from `grad`, in scope `s`
    /// (`<Name>/update_<var>`). `lr` is the learning rate tensor. TF1: `_apply_dense`.
    fn apply_dense(&self, s: &Scope, grad: Tensor, var: Variable, lr: Tensor) -> Result<Operation>;

    /// The ops to group as "all updates done", given the per-variable update ops; Adam adds its
    /// beta-power updates (built after all updates). TF1: `_finish`.
    fn finish(&self, _s: &Scope, update_ops: &[Operation]) -> Result<Vec<Operation>> {
        Ok(update_ops.to_vec())
    }

    /// The optimizer's name (`"Adam"`). TF1: `opt.get_name()`.
    fn name(&self) -> String {
        self.core().name().to_string()
    }

    /// The slot `name` of `var` (`"m"`/`"v"` for Adam, `"momentum"`, `"rms"`, `"mg"`,
    /// `"accumulator"`), if created. TF1: `opt.get_slot(var, name)`.
    fn get_slot(&self, var: Variable, name: &str) -> Option<Variable> {
        self.core().find_slot(var, name)
    }

    /// The names of the slots created so far, sorted. TF1: `opt.get_slot_names()`.
    fn get_slot_names(&self) -> Vec<String> {
        let st = self.core().lock();
        let mut names: Vec<String> = st.slots.iter().map(|e| e.slot_name.to_string()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// Every variable this optimizer created (non-slot variables, then slots, each in creation
    /// order), e.g. for `variables_initializer` or a `Saver`. TF1: `opt.variables()`.
    fn variables(&self) -> Vec<Variable> {
        let st = self.core().lock();
        st.non_slots.iter().map(|e| e.2).chain(st.slots.iter().map(|e| e.slot)).collect()
    }

    /// Gradients of `loss` for each variable of `var_list` (default: `TRAINABLE_VARIABLES`),
    /// `None` where the loss does not depend on the variable. A non-scalar loss is summed.
    /// TF1: `opt.compute_gradients(loss, var_list)`.
    ///
    /// # Errors
    /// `Error::Training` for a non-float loss or an empty variable list; graph mismatches;
    /// errors of [`gradients`] (an op without gradient on the path).
    fn compute_gradients(
        &self,
        s: &Scope,
        loss: Tensor,
        var_list: Option<&[Variable]>,
    ) -> Result<Vec<(Option<Tensor>, Variable)>> {
        let g = s.graph();
        g.check_graph(loss.graph_id(), || format!("the loss {loss:?}"))?;
        if !loss.dtype(s)?.is_float() {
            return Err(Error::Training(format!(
                "{}: the loss '{}' is {} {}; optimizers need a float32/float64 loss",
                self.name(),
                loss.name(s)?,
                loss.dtype(s)?,
                loss.shape(s)?
            )));
        }
        let vars = match var_list {
            Some(v) => v.to_vec(),
            None => g.trainable_variables(),
        };
        if vars.is_empty() {
            let why = if var_list.is_some() {
                "var_list is empty".to_string()
            } else {
                "the graph's TRAINABLE_VARIABLES collection is empty (create trainable variables first, or pass var_list)".to_string()
            };
            return Err(Error::Training(format!(
                "{}: no variables to optimize for loss '{}': {why}",
                self.name(),
                loss.name(s)?
            )));
        }
        for v in &vars {
            g.check_graph(v.op().graph_id(), || format!("variable {v:?} of var_list"))?;
        }
        let xs: Vec<Tensor> = vars.iter().map(|v| v.value()).collect();
        let grads = gradients(s, &[loss], &xs, None)?;
        Ok(grads.into_iter().zip(vars).collect())
    }

    /// Adds the ops applying `grads_and_vars` (pairs with a `None` gradient are skipped) and,
    /// with `global_step`, `global_step += 1` after all updates. Returns the train op, which
    /// is also added to `TRAIN_OP`. The ops live under the name scope `<Name>` (or
    /// `s.with_name(..)`'s name). TF1: `opt.apply_gradients(grads_and_vars, global_step)`.
    ///
    /// # Errors
    /// `Error::Training` when no pair has a gradient (naming the variables) or a gradient's
    /// dtype/shape does not fit its variable; graph mismatches.
    fn apply_gradients(
        &self,
        s: &Scope,
        grads_and_vars: &[(Option<Tensor>, Variable)],
        global_step: Option<Variable>,
    ) -> Result<Operation> {
        let g = s.graph().clone();
        let mut pairs: Vec<(Tensor, Variable)> = Vec::with_capacity(grads_and_vars.len());
        for (grad, var) in grads_and_vars {
            g.check_graph(var.op().graph_id(), || format!("variable {var:?}"))?;
            let Some(grad) = grad else { continue };
            g.check_graph(grad.graph_id(), || format!("the gradient of {var:?}"))?;
            let (gs, vs) = (g.spec(*grad)?, g.spec(var.value())?);
            if gs.dtype != vs.dtype || !gs.shape.is_compatible_with(&vs.shape) {
                return Err(Error::Training(format!(
                    "{}: the gradient '{}' ({gs}) does not fit variable '{}' ({vs}); a gradient must have its variable's dtype and shape",
                    self.name(),
                    grad.name(s)?,
                    var.name(s)?
                )));
            }
            pairs.push((*grad, *var));
        }
        if pairs.is_empty() {
            let names: Vec<String> = grads_and_vars.iter().map(|(_, v)| v.name(s)).collect::<Result<_>>()?;
            return Err(Error::Training(format!(
                "{}: no gradients provided for any variable: [{}]; every gradient in grads_and_vars is None",
                self.name(),
                names.join(", ")
            )));
        }
        if let Some(step) = global_step {
            g.check_graph(step.op().graph_id(), || format!("global_step {step:?}"))?;
        }
        let vars: Vec<Variable> = pairs.iter().map(|p| p.1).collect();
        self.create_slots(s, &vars)?;
        let name = s.explicit_name().map(str::to_string).unwrap_or_else(|| self.name());
        let scope = s.sub_scope(&name);
        let lr = self.core().learning_rate().tensor(&scope, vars[0].dtype(s)?)?;
        let mut updates = Vec::with_capacity(pairs.len());
        for (grad, var) in &pairs {
            let us = scope.sub_scope(&format!("update_{}", var.name(s)?));
            updates.push(self.apply_dense(&us, *grad, *var, lr)?);
        }
        let done = self.finish(&scope, &updates)?;
        let full = scope.name_prefix().to_string();
        let train = match global_step {
            None => scope.with_control_dependencies(&done).add_op_exact(NoOp, &[], &full)?,
            Some(step) => {
                let update = group(&scope.with_name("update"), &done)?;
                let after = scope.with_control_dependencies(&[update]);
                let one = constant(&after.with_name("value"), Value::from(1i64).cast(step.dtype(&after)?))?;
                let assign =
                    Assign { kind: AssignKind::Add, validate_shape: true, var_shape: g.spec(step.value())?.shape };
                after.add_op_exact(assign, &[step.value(), one], &full)?
            }
        };
        g.add_to_collection(&TRAIN_OP, train);
        Ok(train)
    }

    /// `compute_gradients` then `apply_gradients`: one training step. TF1:
    /// `opt.minimize(loss, global_step=None, var_list=None)`.
    ///
    /// # Errors
    /// As [`Optimizer::compute_gradients`] and [`Optimizer::apply_gradients`]; when no
    /// variable gets a gradient, an `Error::Training` naming the loss and the variables.
    fn minimize(
        &self,
        s: &Scope,
        loss: Tensor,
        var_list: Option<&[Variable]>,
        global_step: Option<Variable>,
    ) -> Result<Operation> {
        let gv = self.compute_gradients(s, loss, var_list)?;
        if gv.iter().all(|(grad, _)| grad.is_none()) {
            let names: Vec<String> = gv.iter().map(|(_, v)| v.name(s)).collect::<Result<_>>()?;
            return Err(Error::Training(format!(
                "{}: no gradients provided for any variable: the loss '{}' does not depend on [{}] through ops with gradients; \
                 check that the loss is built from these variables and not cut by stop_gradient or an integer cast",
                self.name(),
                loss.name(s)?,
                names.join(", ")
            )));
        }
        self.apply_gradients(s, &gv, global_step)
    }
}

// ---------------------------------------------------------------------------------------------
// Shared pieces of the apply kernels.
// ---------------------------------------------------------------------------------------------

/// A float element type the apply kernels are generic over (`f32`, `f64`).
pub(crate) trait Real: num_traits::Float + Element + std::ops::AddAssign + std::ops::SubAssign {
    fn of(x: f64) -> Self;
}
impl Real for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
}
impl Real for f64 {
    fn of(x: f64) -> Self {
        x
    }
}

/// Shape rule of an apply op: inputs are `refs` (the variable, then its slots, all of the
/// variable's dtype and shape), then `scalars` (hyperparameters: scalars of any numeric
/// dtype), then the gradient (variable's dtype and shape). The output is the variable.
pub(crate) fn infer_apply(cx: &InferCtx<'_>, refs: &[&str], scalars: &[&str]) -> Result<Vec<TensorSpec>> {
    let n = refs.len() + scalars.len() + 1;
    if cx.num_inputs() != n {
        return Err(cx.error(format!("expected {n} inputs, got {}", cx.num_inputs())));
    }
    let var = cx.input(0)?;
    if !var.dtype.is_float() {
        return Err(cx.error(format!("variable '{}' must be float32 or float64, got {var}", refs[0])));
    }
    for (i, name) in refs.iter().enumerate().skip(1) {
        let s = cx.input(i)?;
        if s.dtype != var.dtype || !s.shape.is_compatible_with(&var.shape) {
            return Err(cx.error(format!("slot '{name}' is {s} but the variable is {var}")));
        }
    }
    for (k, name) in scalars.iter().enumerate() {
        let s = cx.input(refs.len() + k)?;
        if s.dtype == DType::Bool || s.shape.rank().is_some_and(|r| r != 0) {
            return Err(cx.error(format!("'{name}' must be a numeric scalar, got {s}")));
        }
    }
    let grad = cx.input(n - 1)?;
    if grad.dtype != var.dtype || !grad.shape.is_compatible_with(&var.shape) {
        return Err(cx.error(format!("the gradient is {grad} but the variable is {var}")));
    }
    Ok(vec![var.clone()])
}

/// Scalar input `i` (any numeric dtype) as `T`.
pub(crate) fn scalar_input<T: Real>(cx: &KernelCtx<'_>, i: usize, what: &str) -> Result<T> {
    let v = cx.input(i)?;
    if v.dtype() == DType::Bool || v.len() != 1 {
        return Err(cx.error(format!("'{what}' must be a numeric scalar, got {} {:?}", v.dtype(), v.shape())));
    }
    v.cast(T::DTYPE).scalar::<T>().map_err(|e| cx.wrap(e))
}

/// Checks, before an apply kernel writes anything, that every variable behind the reference
/// inputs `refs` is initialized and holds a `T` value of `shape` (the gradient's). An apply
/// op updates several variables (the variable and its slots): validating them all first is
/// what keeps a failing step from updating some of them.
pub(crate) fn check_refs<T: Real>(
    cx: &KernelCtx<'_>,
    refs: impl IntoIterator<Item = usize>,
    shape: &[usize],
) -> Result<()> {
    for i in refs {
        let var = cx.input_handle(i)?.op();
        let cur = cx.runtime().read_variable(var).map_err(|e| cx.wrap(e))?;
        if cur.dtype() != T::DTYPE || cur.shape() != shape {
            return Err(cx.error(format!(
                "variable '{}' holds {} {} but the gradient is {} {}; nothing was updated",
                cx.runtime().node_name(var),
                cur.dtype(),
                Shape::known(cur.shape()),
                T::DTYPE,
                Shape::known(shape)
            )));
        }
    }
    Ok(())
}

/// Computes the new value of the variable behind reference input `i` with `f(out, current)`
/// (out of place: `f` writes every element of `out`; readers see the old value until the new
/// one is published) and returns it. The caller ran [`check_refs`] first.
pub(crate) fn update_ref<T: Real>(
    cx: &KernelCtx<'_>,
    i: usize,
    shape: &[usize],
    mut f: impl FnMut(ArrayViewMutD<'_, T>, ArrayViewD<'_, T>) -> Result<()>,
) -> Result<Value> {
    let var = cx.input_handle(i)?.op();
    cx.runtime()
        .update_variable(var, &mut |cur: &Value, out: &mut Value| {
            if cur.shape() != shape {
                return Err(Error::invalid(format!(
                    "variable '{}' holds a value of shape {} but the gradient has shape {}; nothing was updated",
                    cx.runtime().node_name(var),
                    Shape::known(cur.shape()),
                    Shape::known(shape)
                )));
            }
            f(out.view_mut::<T>()?, cur.view::<T>()?)
        })
        .map_err(|e| cx.wrap(e))
}

/// Arrays at least this long are updated by several threads (rayon), in chunks of [`CHUNK`].
const PAR_MIN: usize = 1 << 16;
const CHUNK: usize = 1 << 13;

/// `out[i] = f([a[i], b[i], …])` element-wise over arrays of one shape: flat slice loops when
/// all are contiguous (so they vectorize), split over threads for large arrays; a copy to
/// standard layout otherwise. An input of another shape is an error (nothing is written).
pub(crate) fn map_into<T: Real, const N: usize>(
    mut out: ArrayViewMutD<'_, T>,
    ins: [&ArrayViewD<'_, T>; N],
    f: impl Fn([T; N]) -> T + Sync,
) -> Result<()> {
    if let Some(a) = ins.iter().find(|a| a.shape() != out.shape()) {
        return Err(Error::invalid(format!(
            "an update input has shape {:?} but the variable has shape {:?}",
            a.shape(),
            out.shape()
        )));
    }
    // Contiguous inputs are borrowed, others copied once; no allocation otherwise.
    let standard: [ndarray::CowArray<'_, T, ndarray::IxDyn>; N] = std::array::from_fn(|k| ins[k].as_standard_layout());
    let slices: [&[T]; N] = std::array::from_fn(|k| standard[k].as_slice().unwrap_or_default());
    match out.as_slice_mut() {
        Some(o) if o.len() >= PAR_MIN && rayon::current_num_threads() > 1 => {
            o.par_chunks_mut(CHUNK).enumerate().for_each(|(c, o)| run_map(o, &slices, c * CHUNK, &f))
        }
        Some(o) => run_map(o, &slices, 0, &f),
        None => {
            let mut fresh = ndarray::ArrayD::<T>::zeros(out.raw_dim());
            if let Some(o) = fresh.as_slice_mut() {
                run_map(o, &slices, 0, &f);
            }
            out.assign(&fresh);
        }
    }
    Ok(())
}

/// The loop of [`map_into`] over `out`, reading the inputs (standard layout, of `out`'s full
/// length, checked by the caller) from `offset`.
fn run_map<T: Real, const N: usize>(out: &mut [T], ins: &[&[T]; N], offset: usize, f: &impl Fn([T; N]) -> T) {
    let n = out.len();
    let ins: [&[T]; N] = std::array::from_fn(|k| ins[k].get(offset..offset + n).unwrap_or_default());
    if ins.iter().any(|s| s.len() != n) {
        return; // unreachable: map_into checked every shape
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = f(std::array::from_fn(|k| ins[k][i]));
    }
}

/// An optimizer's update rule: what its apply op reads and how it computes. [`impl_apply_op!`]
/// turns a rule into the op (shape rule, dtype dispatch, no gradient, stateful, reference
/// inputs), so each apply op's file holds only its formulas.
pub(crate) trait ApplyRule {
    /// The TF1 op type (`"ApplyAdam"`).
    fn op_type(&self) -> &'static str;
    /// Names of the reference inputs: the variable, then its slots.
    fn refs(&self) -> &'static [&'static str];
    /// Names of the scalar hyperparameter inputs after them (the gradient comes last).
    fn scalars(&self) -> &'static [&'static str];
    /// The update for element type `T`; returns the variable's new value. Must call
    /// [`check_refs`] before its first [`update_ref`].
    fn run<T: Real>(&self, cx: &KernelCtx<'_>) -> Result<Value>;
    /// Attributes for graph dumps (`Op::describe`).
    fn attrs(&self) -> String {
        String::new()
    }
}

/// Implements `Op` for an [`ApplyRule`]: `infer` by [`infer_apply`], `compute` dispatching on
/// the gradient's dtype (f32/f64), no gradient, stateful, the refs as reference inputs. The
/// caller has `use ferroflow_core::typetag;` in scope.
macro_rules! impl_apply_op {
    ($ty:ty) => {
        #[typetag::serde]
        impl ferroflow_core::Op for $ty {
            fn type_name(&self) -> &'static str {
                $crate::optimizer::ApplyRule::op_type(self)
            }
            fn infer(
                &self,
                cx: &ferroflow_core::InferCtx<'_>,
            ) -> ferroflow_core::Result<Vec<ferroflow_core::TensorSpec>> {
                $crate::optimizer::infer_apply(cx, self.refs(), self.scalars())
            }
            fn compute(
                &self,
                cx: &mut ferroflow_core::KernelCtx<'_>,
            ) -> ferroflow_core::Result<Vec<ferroflow_core::Value>> {
                let cx: &ferroflow_core::KernelCtx<'_> = cx;
                let grad = self.refs().len() + self.scalars().len();
                let out = match cx.input(grad)?.dtype() {
                    ferroflow_core::DType::F32 => self.run::<f32>(cx)?,
                    ferroflow_core::DType::F64 => self.run::<f64>(cx)?,
                    d => return Err(cx.error(format!("the gradient must be float32 or float64, got {d}"))),
                };
                Ok(vec![out])
            }
            fn gradient(
                &self,
                _: &ferroflow_core::Scope,
                _: &ferroflow_core::GradCtx<'_>,
            ) -> ferroflow_core::Result<Vec<Option<ferroflow_core::Tensor>>> {
                Ok(vec![None; self.refs().len() + self.scalars().len() + 1])
            }
            fn is_ref_input(&self, i: usize) -> bool {
                i < self.refs().len()
            }
            fn is_stateful(&self) -> bool {
                true
            }
            fn describe(&self) -> String {
                self.attrs()
            }
        }
    };
}
pub(crate) use impl_apply_op;
