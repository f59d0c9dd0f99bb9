//! Neural-network ops (TF1 `tf.nn`): activations, softmax, normalization, losses,
//! convolution, pooling, local response normalization, dropout, metrics.

pub mod conv;
pub mod dropout;
pub mod loss;
pub mod losses;
pub mod lrn;
pub mod metrics;
pub mod norm;
pub mod pool;
pub mod softmax;

pub use crate::math::unary::{relu, relu6, sigmoid, softplus, tanh};
pub use conv::{bias_add, conv2d, Padding};
pub use dropout::dropout;
pub use loss::{
    l2_loss, sigmoid_cross_entropy_with_logits, softmax_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits_v2, sparse_softmax_cross_entropy_with_logits,
};
pub use lrn::{local_response_normalization, LrnOptions};
pub use metrics::in_top_k;
pub use norm::{batch_normalization, fused_batch_norm, moments};
pub use pool::{avg_pool, max_pool};
pub use softmax::{log_softmax, log_softmax_with_axis, softmax, softmax_with_axis};
