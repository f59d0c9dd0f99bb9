//! TF1 `tf.contrib.layers` flavour: `batch_norm` (its own defaults) and `fully_connected`.

use crate::layers::{batch_norm_impl, Activation, BatchNormOptions, BnSpec, DenseOptions, Regularizer, UpdateMode};
use crate::training::Training;
use ferroflow_core::{Result, Scope, Tensor, UPDATE_OPS};
use ferroflow_ops::random::Initializer;

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
    /// Use the fused kernel (TF1 default `None`: fused on 4-D input).
    pub fused: Option<bool>,
    /// Variable scope (TF1 `scope=`); default `BatchNorm`, made unique.
    pub scope: Option<String>,
}

impl Default for ContribBatchNormOptions {
    fn default() -> Self {
        ContribBatchNormOptions {
            decay: 0.999,
            center: true,
            scale: false,
            epsilon: 1e-3,
            updates_collections: Some(UPDATE_OPS),
            fused: None,
            scope: None,
        }
    }
}

impl ContribBatchNormOptions {
    /// Sets the moving-average decay (TF1 `decay=`, default 0.999).
    pub fn decay(mut self, d: f64) -> Self {
        self.decay = d;
        self
    }
    /// Sets `center` (learn `beta`; TF1 default true).
    pub fn center(mut self, c: bool) -> Self {
        self.center = c;
        self
    }
    /// Sets `scale` (learn `gamma`; TF1 default false).
    pub fn scale(mut self, c: bool) -> Self {
        self.scale = c;
        self
    }
    /// Sets epsilon (TF1 default 1e-3).
    pub fn epsilon(mut self, e: f64) -> Self {
        self.epsilon = e;
        self
    }
    /// Sets where the moving-average updates go. `Some(key)`: that collection (TF1 default
    /// `UPDATE_OPS`); `None`: in place, as TF1's `updates_collections=None` — the two assigns
    /// become control dependencies of the output, so every run that computes the output in
    /// training also updates the statistics.
    pub fn updates_collections(mut self, c: Option<ferroflow_core::CollectionKey>) -> Self {
        self.updates_collections = c;
        self
    }
    /// Forces the fused (true) or composite (false) path.
    pub fn fused(mut self, f: bool) -> Self {
        self.fused = Some(f);
        self
    }
    /// Sets the variable scope (used as given, as TF1's `scope=`).
    pub fn scope(mut self, name: impl Into<String>) -> Self {
        self.scope = Some(name.into());
        self
    }
}

/// Batch normalization, `tf.contrib.layers.batch_norm(x, is_training=…)` flavour: scope
/// `BatchNorm` (or `opts.scope`), variables `BatchNorm/beta`, (`BatchNorm/gamma` if `scale`),
/// `BatchNorm/moving_mean`, `BatchNorm/moving_variance`.
///
/// TF1's `is_training` defaults to `True`; here it is always given (a bool tensor, or a fixed
/// bool: `true` reproduces TF1's default and is announced with a graph warning).
///
/// ```
/// use ferroflow_core::{shape, DType, Graph};
/// use ferroflow_nn::contrib::{self, ContribBatchNormOptions};
/// use ferroflow_ops::state::placeholder;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = placeholder(&s, DType::F32, shape![None, 4])?;
/// let is_training = placeholder(&s, DType::Bool, shape![])?;
/// // TF1: batch_norm(x, decay=0.9, scale=True, updates_collections=None, is_training=…, scope="bn1")
/// let opts = ContribBatchNormOptions::default().decay(0.9).scale(true).updates_collections(None).scope("bn1");
/// contrib::batch_norm(&s, x, is_training, opts)?;
/// assert!(g.variable_by_name("bn1/gamma").is_some());
/// # Ok(()) }
/// ```
pub fn batch_norm(
    s: &Scope,
    x: Tensor,
    is_training: impl Into<Training>,
    opts: ContribBatchNormOptions,
) -> Result<Tensor> {
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
        name: opts.scope,
    };
    batch_norm_impl(
        s,
        x,
        is_training.into(),
        &BnSpec { opts: &bn, default_scope: "BatchNorm", gamma_name: "gamma", beta_name: "beta" },
    )
}

/// Options of [`fully_connected`]; each default is `tf.contrib.layers.fully_connected`'s.
///
/// ```
/// use ferroflow_nn::contrib::FullyConnectedOptions;
/// use ferroflow_nn::layers::Activation;
/// let relu = FullyConnectedOptions::default(); // TF1: activation_fn not given -> relu
/// assert_eq!(relu.activation_fn, Some(Activation::Relu));
/// let linear = FullyConnectedOptions::default().activation_fn(None); // TF1: activation_fn=None
/// assert_eq!(linear.activation_fn, None);
/// ```
#[derive(Clone, Debug)]
pub struct FullyConnectedOptions {
    /// Activation (TF1 default `tf.nn.relu`); `None` is linear (TF1 `activation_fn=None`).
    pub activation_fn: Option<Activation>,
    /// Weights initializer (TF1 default `xavier_initializer()`: glorot uniform).
    pub weights_initializer: Initializer,
    /// Penalty on the weights (TF1 default `None`).
    pub weights_regularizer: Option<Regularizer>,
    /// Biases initializer (TF1 default `zeros_initializer()`); `None` builds no biases (TF1
    /// `biases_initializer=None`).
    pub biases_initializer: Option<Initializer>,
    /// Variables trainable (TF1 default `True`).
    pub trainable: bool,
    /// Variable scope (TF1 `scope=`); default `fully_connected`, made unique.
    pub scope: Option<String>,
}

impl Default for FullyConnectedOptions {
    fn default() -> Self {
        FullyConnectedOptions {
            activation_fn: Some(Activation::Relu),
            weights_initializer: Initializer::glorot_uniform(),
            weights_regularizer: None,
            biases_initializer: Some(Initializer::Zeros),
            trainable: true,
            scope: None,
        }
    }
}

impl FullyConnectedOptions {
    /// Sets the activation; `None` is linear (TF1 `activation_fn=None`).
    pub fn activation_fn(mut self, a: Option<Activation>) -> Self {
        self.activation_fn = a;
        self
    }
    /// Sets the weights initializer.
    pub fn weights_initializer(mut self, i: Initializer) -> Self {
        self.weights_initializer = i;
        self
    }
    /// Sets the weights regularizer.
    pub fn weights_regularizer(mut self, r: Option<Regularizer>) -> Self {
        self.weights_regularizer = r;
        self
    }
    /// Sets the biases initializer; `None` builds no biases.
    pub fn biases_initializer(mut self, i: Option<Initializer>) -> Self {
        self.biases_initializer = i;
        self
    }
    /// Sets `trainable`.
    pub fn trainable(mut self, t: bool) -> Self {
        self.trainable = t;
        self
    }
    /// Sets the variable scope (used as given, as TF1's `scope=`).
    pub fn scope(mut self, name: impl Into<String>) -> Self {
        self.scope = Some(name.into());
        self
    }
}

/// A dense layer. TF1: `tf.contrib.layers.fully_connected(inputs, num_outputs, …)`.
///
/// `activation(x · weights + biases)` with variables `fully_connected/weights` and
/// `fully_connected/biases` (or `<scope>/…`). The default activation is **relu**, as in TF1;
/// `FullyConnectedOptions::default().activation_fn(None)` is linear.
///
/// # Shapes
/// `x`: `[batch, in]` (rank ≥ 2, last dim known) → `[batch, num_outputs]`.
///
/// # Errors
/// An input whose last dimension is unknown, or a rank below 2.
pub fn fully_connected(s: &Scope, x: Tensor, num_outputs: usize, opts: FullyConnectedOptions) -> Result<Tensor> {
    let mut o = DenseOptions::default().activation(opts.activation_fn.unwrap_or(Activation::Linear));
    o.kernel_initializer = opts.weights_initializer;
    o.kernel_regularizer = opts.weights_regularizer;
    o.use_bias = opts.biases_initializer.is_some();
    if let Some(b) = opts.biases_initializer {
        o.bias_initializer = b;
    }
    o.trainable = opts.trainable;
    // Name the variables as contrib does: weights / biases.
    let body = |vs: &Scope| crate::layers::dense_named(vs, x, num_outputs, &o, "weights", "biases");
    match &opts.scope {
        Some(name) => s.variable_scope(name, false, body),
        None => s.unique_variable_scope("fully_connected", body),
    }
}
