//! Neural-network ops (TF1 `tf.nn`): activations, softmax, normalization, losses,
//! convolution, pooling, dropout.

pub use crate::math::unary::{relu, sigmoid, softplus, tanh};
