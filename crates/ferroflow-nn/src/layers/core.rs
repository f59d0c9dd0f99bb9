//! `dense`, `dropout`, `flatten`, activations and weight regularizers.

use crate::training::Training;
use ferroflow_core::{Error, Result, Scope, Tensor, Variable, REGULARIZATION_LOSSES};
use ferroflow_ops::array::reshape;
use ferroflow_ops::math::{matmul, mul};
use ferroflow_ops::nn;
use ferroflow_ops::random::Initializer;
use ferroflow_ops::state::{get_variable, VariableOptions};

/// An activation applied after a layer's affine part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activation {
    /// None (TF1 default `activation=None`).
    #[default]
    Linear,
    /// `tf.nn.relu`.
    Relu,
    /// `tf.tanh`.
    Tanh,
    /// `tf.sigmoid`.
    Sigmoid,
    /// `tf.nn.softmax` over the last axis.
    Softmax,
}

impl Activation {
    /// Applies the activation.
    pub fn apply(self, s: &Scope, x: Tensor) -> Result<Tensor> {
        match self {
            Activation::Linear => Ok(x),
            Activation::Relu => nn::relu(s, x),
            Activation::Tanh => nn::tanh(s, x),
            Activation::Sigmoid => nn::sigmoid(s, x),
            Activation::Softmax => nn::softmax(s, x),
        }
    }
}

/// A weight penalty added to `REGULARIZATION_LOSSES`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Regularizer {
    /// `scale · l2_loss(w)` = `scale · Σw²/2` (TF1 `tf.contrib.layers.l2_regularizer(scale)`).
    L2(f64),
}

impl Regularizer {
    /// Adds the penalty for `w` to `REGULARIZATION_LOSSES` and returns it.
    pub fn apply(self, s: &Scope, w: Variable) -> Result<Tensor> {
        match self {
            Regularizer::L2(scale) => {
                let r = s.name_scope("l2_regularizer", |s| {
                    let l = nn::l2_loss(s, w.value())?;
                    mul(s, l, scale as f32)
                })?;
                s.graph().add_to_collection(&REGULARIZATION_LOSSES, r);
                Ok(r)
            }
        }
    }
}

/// Options of [`dense`]; defaults are TF1's.
#[derive(Clone, Debug)]
pub struct DenseOptions {
    /// Activation (default none).
    pub activation: Activation,
    /// Add a bias (default true).
    pub use_bias: bool,
    /// Kernel initializer (default glorot uniform).
    pub kernel_initializer: Initializer,
    /// Bias initializer (default zeros).
    pub bias_initializer: Initializer,
    /// Kernel penalty (default none).
    pub kernel_regularizer: Option<Regularizer>,
    /// Variables trainable (default true).
    pub trainable: bool,
    /// Scope name (default `dense`, made unique).
    pub name: Option<String>,
}

impl Default for DenseOptions {
    fn default() -> Self {
        DenseOptions {
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::glorot_uniform(),
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            trainable: true,
            name: None,
        }
    }
}

impl DenseOptions {
    /// Sets the activation.
    pub fn activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }
    /// Sets `use_bias`.
    pub fn use_bias(mut self, b: bool) -> Self {
        self.use_bias = b;
        self
    }
    /// Sets the kernel initializer.
    pub fn kernel_initializer(mut self, i: Initializer) -> Self {
        self.kernel_initializer = i;
        self
    }
    /// Sets the kernel regularizer.
    pub fn kernel_regularizer(mut self, r: Regularizer) -> Self {
        self.kernel_regularizer = Some(r);
        self
    }
    /// Sets the scope name.
    pub fn name(mut self, n: &str) -> Self {
        self.name = Some(n.to_string());
        self
    }
}

/// Runs `f` in the layer's variable scope: `name` if given, else a unique `default`.
pub(crate) fn layer_scope<T>(
    s: &Scope,
    name: Option<&str>,
    default: &str,
    f: impl FnOnce(&Scope) -> Result<T>,
) -> Result<T> {
    match name {
        Some(n) => s.variable_scope(n, false, f),
        None => s.unique_variable_scope(default, f),
    }
}

/// A fully connected layer `activation(x · kernel + bias)`. TF1: `tf.layers.dense`.
///
/// Variables `dense/kernel` `[in, units]` and `dense/bias` `[units]` (`dense_1/…` for the
/// next one).
///
/// # Errors
/// `x` of rank < 2 or with an unknown last dimension.
///
/// ```
/// use ferroflow_core::{shape, DType, Graph};
/// use ferroflow_nn::layers::{self, Activation, BatchNormOptions, Conv2dOptions, DenseOptions};
/// use ferroflow_ops::nn::Padding;
/// use ferroflow_ops::state::placeholder;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = placeholder(&s, DType::F32, shape![None, 3])?;
/// // TF1: tf.layers.dense(x, 4, activation=tf.nn.relu)
/// let y = layers::dense(&s, x, 4, DenseOptions::default().activation(Activation::Relu))?;
/// # let _ = y;
/// assert!(g.variable_by_name("dense/kernel").is_some() && g.variable_by_name("dense/bias").is_some());
/// # Ok(()) }
/// ```
pub fn dense(s: &Scope, x: Tensor, units: usize, opts: DenseOptions) -> Result<Tensor> {
    layer_scope(s, opts.name.as_deref(), "dense", |vs| dense_named(vs, x, units, &opts, "kernel", "bias"))
}

/// The body of a dense layer inside an already opened variable scope, with the variable names
/// given (`kernel`/`bias` for `tf.layers`, `weights`/`biases` for contrib and tflearn).
pub(crate) fn dense_named(
    vs: &Scope,
    x: Tensor,
    units: usize,
    opts: &DenseOptions,
    kernel_name: &str,
    bias_name: &str,
) -> Result<Tensor> {
    let shape = x.shape(vs)?;
    let x_name = x.name(vs)?;
    let rank = shape.rank().unwrap_or(0);
    let in_dim = shape.dim(rank.saturating_sub(1)).filter(|_| rank >= 2).ok_or_else(|| {
        Error::invalid(format!(
            "a dense layer needs an input of rank >= 2 with a known last dimension, got {x_name} {shape}"
        ))
    })?;
    let vo = VariableOptions::default().trainable(opts.trainable).dtype(x.dtype(vs)?);
    let kernel = get_variable(vs, kernel_name, [in_dim, units], opts.kernel_initializer.clone(), vo.clone())?;
    if let Some(r) = opts.kernel_regularizer {
        r.apply(vs, kernel)?;
    }
    let mut y = if rank == 2 {
        matmul(vs, x, kernel.value(), false, false)?
    } else {
        let mut dims: Vec<i64> = (0..rank - 1).map(|i| shape.dim(i).map(|d| d as i64).unwrap_or(-1)).collect();
        dims.push(units as i64);
        if dims.iter().filter(|&&d| d < 0).count() > 1 {
            return Err(Error::invalid(format!(
                "a dense layer on rank-{rank} input needs all but the first dimension known, got {shape}"
            )));
        }
        let flat = reshape(vs, x, &[-1, in_dim as i64])?;
        let y = matmul(vs, flat, kernel.value(), false, false)?;
        reshape(vs, y, &dims)?
    };
    if opts.use_bias {
        let bias = get_variable(vs, bias_name, [units], opts.bias_initializer.clone(), vo)?;
        y = nn::bias_add(vs, y, bias.value())?;
    }
    opts.activation.apply(vs, y)
}

/// Flattens all but the first dimension. TF1: `tf.layers.flatten`.
pub fn flatten(s: &Scope, x: Tensor) -> Result<Tensor> {
    ferroflow_ops::array::flatten(s, x)
}

/// Dropout with drop probability `rate`, active only in training. TF1: `tf.layers.dropout`
/// (whose default is `training=False`: pass the flag explicitly).
pub fn dropout(s: &Scope, x: Tensor, rate: f64, training: impl Into<Training>, seed: Option<u64>) -> Result<Tensor> {
    if !(0.0..1.0).contains(&rate) {
        return Err(Error::invalid(format!("dropout rate must be in [0, 1), got {rate}")));
    }
    s.op_scope("dropout", |ds| training.into().select(ds, |ts| nn::dropout(ts, x, 1.0 - rate, None, seed), |_| Ok(x)))
}
