//! ferroflow-nn: layers in the three flavours the founding material uses.
//!
//! - [`layers`]: TF1's `tf.layers` (`dense`, `conv2d`, `max_pooling2d`, `dropout`, `flatten`,
//!   `batch_normalization`) with TF's variable names and UPDATE_OPS behaviour;
//! - [`contrib`]: `tf.contrib.layers` (`batch_norm` with its own defaults, `fully_connected`);
//! - [`tflearn`]: a tflearn-style network builder and trainer (`DNN::fit/evaluate/predict`) that
//!   switches between training and inference itself.
//!
//! The training flag is always explicit: [`Training`] is a fixed bool or a bool tensor.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![warn(missing_docs)]

pub mod contrib;
pub mod layers;
pub mod tflearn;
mod training;

pub use training::Training;
