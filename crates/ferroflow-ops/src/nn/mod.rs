//! Neural-network ops (TF1 `tf.nn`): activations, softmax, normalization, losses,
//! convolution, pooling, dropout.

pub use crate::math::unary::{relu, sigmoid, softplus, tanh};

pub mod conv;
pub mod dropout;
pub mod lrn;
pub mod metrics;
pub mod pool;

pub use conv::{bias_add, conv2d, Padding};
pub use dropout::dropout;
pub use lrn::{local_response_normalization, LrnOptions};
pub use metrics::in_top_k;
pub use pool::{avg_pool, max_pool};
