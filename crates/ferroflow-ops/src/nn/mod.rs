//! Neural-network ops (TF1 `tf.nn`): activations, softmax, normalization, losses,
//! convolution, pooling, dropout.

pub mod loss;
pub mod losses;
pub mod norm;
pub mod softmax;

pub use crate::math::unary::{relu, sigmoid, softplus, tanh};
pub use loss::{
    l2_loss, sigmoid_cross_entropy_with_logits, softmax_cross_entropy_with_logits, softmax_cross_entropy_with_logits_v2,
    sparse_softmax_cross_entropy_with_logits,
};
pub use norm::{batch_normalization, fused_batch_norm, moments};
pub use softmax::{log_softmax, log_softmax_with_axis, softmax, softmax_with_axis};
