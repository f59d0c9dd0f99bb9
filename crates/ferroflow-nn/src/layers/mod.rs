//! TF1 `tf.layers`: each layer opens a unique variable scope (`dense`, `dense_1`, …), creates
//! its variables with TF's names and initializers, and returns the output tensor.

mod batch_norm;
mod conv;
mod core;

pub(crate) use self::core::dense_named;
pub use self::core::{dense, dropout, flatten, Activation, DenseOptions, Regularizer};
pub(crate) use batch_norm::{batch_norm_impl, BnSpec};
pub use batch_norm::{batch_normalization, BatchNormOptions, UpdateMode};
pub use conv::{conv2d, max_pooling2d, Conv2dOptions};
