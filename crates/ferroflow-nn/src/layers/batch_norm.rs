//! `batch_normalization` (TF1 `tf.layers.batch_normalization`) and the shared batch-norm
//! machinery that `contrib::batch_norm` and `tflearn::batch_normalization` reuse.
//!
//! The layer never updates its moving statistics by itself: it adds two update ops to a
//! collection (`UPDATE_OPS` by default) that the train op must depend on — the TF1 contract.

use super::core::layer_scope;
use crate::training::Training;
use ferroflow_core::{CollectionKey, Error, Result, Scope, Tensor, Variable, MOVING_AVERAGE_VARIABLES, UPDATE_OPS};
use ferroflow_ops::control::identity;
use ferroflow_ops::math::{mul, sub};
use ferroflow_ops::nn;
use ferroflow_ops::random::Initializer;
use ferroflow_ops::state::{assign_sub, constant, get_variable, VariableOptions};

/// Where a batch-norm layer's moving-average updates go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateMode {
    /// Into this collection (TF1 default `UPDATE_OPS`); the caller must run them.
    Collection(CollectionKey),
    /// Run with the layer's output (`updates_collections=None` in `contrib.layers.batch_norm`).
    InPlace,
}

/// Options of [`batch_normalization`]; defaults are TF1's `tf.layers.batch_normalization`.
#[derive(Clone, Debug)]
pub struct BatchNormOptions {
    /// Moving-average momentum (default 0.99).
    pub momentum: f64,
    /// Added to the variance (default 1e-3).
    pub epsilon: f64,
    /// Learn an offset `beta` (default true).
    pub center: bool,
    /// Learn a scale `gamma` (default true).
    pub scale: bool,
    /// Use the fused kernel; `None` (default) = fused on 4-D input.
    pub fused: Option<bool>,
    /// `gamma`/`beta` trainable (default true).
    pub trainable: bool,
    /// Where the updates go (default `UPDATE_OPS`).
    pub updates: UpdateMode,
    /// Scope name (default `batch_normalization`, made unique).
    pub name: Option<String>,
}

impl Default for BatchNormOptions {
    fn default() -> Self {
        BatchNormOptions {
            momentum: 0.99,
            epsilon: 1e-3,
            center: true,
            scale: true,
            fused: None,
            trainable: true,
            updates: UpdateMode::Collection(UPDATE_OPS),
            name: None,
        }
    }
}

impl BatchNormOptions {
    /// Sets the momentum.
    pub fn momentum(mut self, m: f64) -> Self {
        self.momentum = m;
        self
    }
    /// Sets epsilon.
    pub fn epsilon(mut self, e: f64) -> Self {
        self.epsilon = e;
        self
    }
    /// Sets `center`.
    pub fn center(mut self, c: bool) -> Self {
        self.center = c;
        self
    }
    /// Sets `scale`.
    pub fn scale(mut self, c: bool) -> Self {
        self.scale = c;
        self
    }
    /// Forces the fused (true) or composite (false) path.
    pub fn fused(mut self, f: bool) -> Self {
        self.fused = Some(f);
        self
    }
    /// Sets where the updates go.
    pub fn updates(mut self, u: UpdateMode) -> Self {
        self.updates = u;
        self
    }
    /// Sets the scope name.
    pub fn name(mut self, n: &str) -> Self {
        self.name = Some(n.to_string());
        self
    }
}

/// The parts that differ between the batch-norm flavours.
pub(crate) struct BnSpec<'a> {
    pub opts: &'a BatchNormOptions,
    pub default_scope: &'a str,
    pub gamma_name: &'a str,
    pub beta_name: &'a str,
}

/// Batch normalization over the last axis. TF1: `tf.layers.batch_normalization(x, training=…)`.
///
/// Creates `batch_normalization/gamma` (ones), `…/beta` (zeros), and the non-trainable
/// `…/moving_mean` (zeros) and `…/moving_variance` (ones). In training it normalizes with the
/// batch statistics; in inference with the moving ones. Unless `training` is fixed to false, it
/// adds two ops to `UPDATE_OPS`: `moving = moving − (moving − batch)·(1 − momentum)` (a no-op
/// when a `training` tensor is false). On 4-D input the fused kernel is used, so the moving
/// variance is updated with the Bessel-corrected batch variance, as in TF.
///
/// A `training` fixed to `true` is the TF1 trap that trains fine and then evaluates with batch
/// statistics: it is allowed and announced with a graph warning.
///
/// # Errors
/// Input of unknown rank or unknown channel count.
///
/// ```
/// use ferroflow_core::{shape, DType, Graph};
/// use ferroflow_nn::layers::{self, Activation, BatchNormOptions, Conv2dOptions, DenseOptions};
/// use ferroflow_ops::nn::Padding;
/// use ferroflow_ops::state::placeholder;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = placeholder(&s, DType::F32, shape![None, 8, 8, 3])?;
/// let is_training = placeholder(&s, DType::Bool, shape![])?;
/// // TF1: tf.layers.batch_normalization(x, training=is_training)
/// let y = layers::batch_normalization(&s, x, is_training, BatchNormOptions::default())?;
/// # let _ = y;
/// // The moving-average updates are for the caller to run, as in TF1.
/// assert_eq!(g.collection_ops(&ferroflow_core::UPDATE_OPS).len(), 2);
/// # Ok(()) }
/// ```
pub fn batch_normalization(
    s: &Scope,
    x: Tensor,
    training: impl Into<Training>,
    opts: BatchNormOptions,
) -> Result<Tensor> {
    batch_norm_impl(
        s,
        x,
        training.into(),
        &BnSpec { opts: &opts, default_scope: "batch_normalization", gamma_name: "gamma", beta_name: "beta" },
    )
}

pub(crate) fn batch_norm_impl(s: &Scope, x: Tensor, training: Training, spec: &BnSpec<'_>) -> Result<Tensor> {
    let opts = spec.opts;
    let shape = x.shape(s)?;
    let x_name = x.name(s)?;
    let rank = shape
        .rank()
        .ok_or_else(|| Error::invalid(format!("batch normalization needs an input of known rank, got {x_name}")))?;
    let channels = shape.dim(rank.saturating_sub(1)).filter(|_| rank >= 2).ok_or_else(|| {
        Error::invalid(format!("batch normalization needs a known channel (last) dimension, got {x_name} {shape}"))
    })?;
    if !(0.0..=1.0).contains(&opts.momentum) {
        return Err(Error::invalid(format!("momentum must be in [0, 1], got {}", opts.momentum)));
    }
    let fused = opts.fused.unwrap_or(rank == 4);
    if fused && rank != 4 {
        return Err(Error::invalid(format!("the fused batch norm needs 4-D NHWC input, got {} {shape}", x.name(s)?)));
    }
    layer_scope(s, opts.name.as_deref(), spec.default_scope, |vs| {
        let dtype = x.dtype(s)?;
        let vo = VariableOptions::default().dtype(dtype).trainable(opts.trainable);
        let gamma: Option<Variable> = if opts.scale {
            Some(get_variable(vs, spec.gamma_name, [channels], Initializer::Ones, vo.clone())?)
        } else {
            None
        };
        let beta: Option<Variable> = if opts.center {
            Some(get_variable(vs, spec.beta_name, [channels], Initializer::Zeros, vo.clone())?)
        } else {
            None
        };
        let stat_opts = VariableOptions::default().dtype(dtype).trainable(false).collection(MOVING_AVERAGE_VARIABLES);
        let moving_mean = get_variable(vs, "moving_mean", [channels], Initializer::Zeros, stat_opts.clone())?;
        let moving_var = get_variable(vs, "moving_variance", [channels], Initializer::Ones, stat_opts)?;
        if training == Training::Fixed(true) {
            vs.graph().warn_about(
                "batch_norm_training_fixed",
                "batch normalization was built with training fixed to true",
                vs.name_prefix().trim_end_matches('/'),
                "these layers normalize with batch statistics even when you evaluate; pass an is_training bool tensor instead",
            );
        }
        let (mm, mv) = (moving_mean.value(), moving_var.value());
        let eps = opts.epsilon;
        let (y, mean, var) = if fused {
            let g = match gamma {
                Some(v) => v.value(),
                None => constant(vs, ferroflow_core::Value::filled(&[channels], 1.0f64).cast(dtype))?,
            };
            let b = match beta {
                Some(v) => v.value(),
                None => constant(vs, ferroflow_core::Value::filled(&[channels], 0.0f64).cast(dtype))?,
            };
            training.select(
                vs,
                |ts| {
                    let (y, m, v) = nn::fused_batch_norm(ts, x, g, b, None, None, eps, true)?;
                    Ok((y, m, v))
                },
                |is| {
                    let (y, _, _) = nn::fused_batch_norm(is, x, g, b, Some(mm), Some(mv), eps, false)?;
                    Ok((y, mm, mv))
                },
            )?
        } else {
            let axes: Vec<i64> = (0..rank as i64 - 1).collect();
            let (mean, var) = training.select(vs, |ts| nn::moments(ts, x, &axes, false), |_| Ok((mm, mv)))?;
            let y = nn::batch_normalization(vs, x, mean, var, beta.map(|b| b.value()), gamma.map(|g| g.value()), eps)?;
            (y, mean, var)
        };
        if training == Training::Fixed(false) {
            return Ok(y);
        }
        // moving -= (moving - batch) * (1 - momentum); with a training tensor, (1 - momentum)
        // is 0 when not training (TF's smart_cond on the momentum).
        let one_minus = 1.0 - opts.momentum;
        let factor = training.select(
            vs,
            |s| constant(s, ferroflow_core::Value::from(one_minus).cast(dtype)),
            |s| constant(s, ferroflow_core::Value::from(0.0f64).cast(dtype)),
        )?;
        let update = |name: &str, var: Variable, batch: Tensor| -> Result<Tensor> {
            vs.name_scope(name, |us| {
                let delta = mul(us, sub(us, var.value(), batch)?, factor)?;
                assign_sub(&us.as_op_name(), var, delta)
            })
        };
        let up_mean = update("AssignMovingAvg", moving_mean, mean)?;
        let up_var = update("AssignMovingAvg_1", moving_var, var)?;
        match &opts.updates {
            UpdateMode::Collection(key) => {
                vs.graph().add_to_collection(key, up_mean);
                vs.graph().add_to_collection(key, up_var);
                Ok(y)
            }
            UpdateMode::InPlace => vs.control_dependencies(&[up_mean.op(), up_var.op()], |s| identity(s, y)),
        }
    })
}
