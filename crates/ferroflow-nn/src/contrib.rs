//! TF1 `tf.contrib.layers` flavour: `batch_norm` (its own defaults) and `fully_connected`.

use crate::layers::{batch_norm_impl, Activation, BatchNormOptions, BnSpec, DenseOptions, Regularizer, UpdateMode};
use crate::training::Training;
use ferroflow_core::{Result, Scope, Tensor, UPDATE_OPS};

/// Options of [`batch_norm`]; defaults are `tf.contrib.layers.batch_norm`'s.
#[derive(Clone, Debug)]
pub struct ContribBatchNormOptions {
    /// Moving-average decay (default 0.999).
    pub decay: f64,
    /// Learn `beta` (default true).
    pub center: bool,
    /// Learn `gamma` (default **false**: the output is not rescaled).
    pub scale: bool,
    /// Added to the variance (default 1e-3).
    pub epsilon: f64,
    /// `Some(key)`: updates go to that collection (default `UPDATE_OPS`); `None`: they run with
    /// the output ("update in place").
    pub updates_collections: Option<ferroflow_core::CollectionKey>,
    /// Use the fused kernel (default: on 4-D input).
    pub fused: Option<bool>,
}

impl Default for ContribBatchNormOptions {
    fn default() -> Self {
        ContribBatchNormOptions { decay: 0.999, center: true, scale: false, epsilon: 1e-3, updates_collections: Some(UPDATE_OPS), fused: None }
    }
}

/// Batch normalization, `tf.contrib.layers.batch_norm(x, is_training=…)` flavour: scope
/// `BatchNorm`, variables `BatchNorm/beta`, (`BatchNorm/gamma` if `scale`),
/// `BatchNorm/moving_mean`, `BatchNorm/moving_variance`.
pub fn batch_norm(s: &Scope, x: Tensor, is_training: impl Into<Training>, opts: ContribBatchNormOptions) -> Result<Tensor> {
    let bn = BatchNormOptions {
        momentum: opts.decay,
        epsilon: opts.epsilon,
        center: opts.center,
        scale: opts.scale,
        fused: opts.fused,
        trainable: true,
        updates: match opts.updates_collections {
            Some(k) => UpdateMode::Collection(k),
            None => UpdateMode::InPlace,
        },
        name: None,
    };
    batch_norm_impl(s, x, is_training.into(), &BnSpec { opts: &bn, default_scope: "BatchNorm", gamma_name: "gamma", beta_name: "beta" })
}

/// A dense layer, `tf.contrib.layers.fully_connected` flavour: default activation **relu**,
/// scope `fully_connected`, variables `fully_connected/weights` and `…/biases`.
pub fn fully_connected(s: &Scope, x: Tensor, num_outputs: usize, activation: Option<Activation>, regularizer: Option<Regularizer>) -> Result<Tensor> {
    let mut o = DenseOptions::default().activation(activation.unwrap_or(Activation::Relu));
    o.kernel_regularizer = regularizer;
    s.unique_variable_scope("fully_connected", |vs| {
        // Name the variables as contrib does: weights / biases.
        crate::layers::dense_named(vs, x, num_outputs, &o, "weights", "biases")
    })
}
