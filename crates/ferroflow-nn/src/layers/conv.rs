//! `conv2d` and `max_pooling2d` layers.

use super::core::{layer_scope, Activation, Regularizer};
use ferroflow_core::{Error, Result, Scope, Tensor};
use ferroflow_ops::nn::{self, Padding};
use ferroflow_ops::random::Initializer;
use ferroflow_ops::state::{get_variable, VariableOptions};

/// Options of [`conv2d`]; defaults are TF1's `tf.layers.conv2d`.
#[derive(Clone, Debug)]
pub struct Conv2dOptions {
    /// Strides `(h, w)` (default `(1, 1)`).
    pub strides: (usize, usize),
    /// Padding (default `Valid`, as TF1).
    pub padding: Padding,
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
    /// Scope name (default `conv2d`, made unique).
    pub name: Option<String>,
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions {
            strides: (1, 1),
            padding: Padding::Valid,
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::glorot_uniform(),
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            name: None,
        }
    }
}

impl Conv2dOptions {
    /// Sets the strides.
    pub fn strides(mut self, h: usize, w: usize) -> Self {
        self.strides = (h, w);
        self
    }
    /// Sets the padding.
    pub fn padding(mut self, p: Padding) -> Self {
        self.padding = p;
        self
    }
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
    /// Sets the bias initializer.
    pub fn bias_initializer(mut self, i: Initializer) -> Self {
        self.bias_initializer = i;
        self
    }
    /// Sets the scope name (TF1 `name=`; used as given).
    pub fn name(mut self, n: &str) -> Self {
        self.name = Some(n.to_string());
        self
    }
}

/// A 2-D convolution layer on NHWC input. TF1: `tf.layers.conv2d(x, filters, kernel_size, …)`.
///
/// Variables `conv2d/kernel` `[kh, kw, in, filters]` and `conv2d/bias` `[filters]`.
///
/// ```
/// use ferroflow_core::{shape, DType, Graph};
/// use ferroflow_nn::layers::{self, Activation, BatchNormOptions, Conv2dOptions, DenseOptions};
/// use ferroflow_ops::nn::Padding;
/// use ferroflow_ops::state::placeholder;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = placeholder(&s, DType::F32, shape![None, 28, 28, 1])?;
/// // TF1: tf.layers.conv2d(x, 8, (5, 5), strides=(2, 2), padding='same')
/// let y = layers::conv2d(&s, x, 8, (5, 5), Conv2dOptions::default().strides(2, 2).padding(Padding::Same))?;
/// # let _ = y;
/// assert!(g.variable_by_name("conv2d/kernel").is_some() && g.variable_by_name("conv2d/bias").is_some());
/// # Ok(()) }
/// ```
pub fn conv2d(
    s: &Scope,
    x: Tensor,
    filters: usize,
    kernel_size: (usize, usize),
    opts: Conv2dOptions,
) -> Result<Tensor> {
    let shape = x.shape(s)?;
    let x_name = x.name(s)?;
    let cin = shape
        .dim(3)
        .filter(|_| shape.rank() == Some(4))
        .ok_or_else(|| Error::invalid(format!("conv2d needs NHWC input with known channels, got {x_name} {shape}")))?;
    layer_scope(s, opts.name.as_deref(), "conv2d", |vs| {
        let vo = VariableOptions::default().dtype(x.dtype(s)?);
        let kernel = get_variable(
            vs,
            "kernel",
            [kernel_size.0, kernel_size.1, cin, filters],
            opts.kernel_initializer.clone(),
            vo.clone(),
        )?;
        if let Some(r) = opts.kernel_regularizer {
            r.apply(vs, kernel)?;
        }
        let (sh, sw) = opts.strides;
        let mut y = nn::conv2d(vs, x, kernel.value(), [1, sh, sw, 1], opts.padding, [1, 1, 1, 1])?;
        if opts.use_bias {
            let bias = get_variable(vs, "bias", [filters], opts.bias_initializer.clone(), vo)?;
            y = nn::bias_add(vs, y, bias.value())?;
        }
        opts.activation.apply(vs, y)
    })
}

/// Max pooling over `(h, w)` windows. TF1: `tf.layers.max_pooling2d(x, pool_size, strides,
/// padding='valid')`.
pub fn max_pooling2d(
    s: &Scope,
    x: Tensor,
    pool_size: (usize, usize),
    strides: (usize, usize),
    padding: Padding,
) -> Result<Tensor> {
    s.op_scope("max_pooling2d", |ps| {
        nn::max_pool(ps, x, [1, pool_size.0, pool_size.1, 1], [1, strides.0, strides.1, 1], padding)
    })
}
