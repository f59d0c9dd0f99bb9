//! ferroflow-train: what turns a graph into a trainer.
//!
//! `gradients()` adds gradient ops to the graph (TF1 `tf.gradients`), the optimizers add
//! update ops with TF1's exact rules and slot names, schedules give learning rates as tensors,
//! and the `Saver` writes and restores checkpoints.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod global_step;
pub mod gradients;
pub mod inference;
pub mod optimizer;
pub mod saver;
pub mod schedules;

pub use global_step::{get_global_step, get_or_create_global_step};
pub use gradients::gradients;
pub use inference::{optimize_for_inference, InferenceGraph, InferenceStats};
pub use optimizer::{
    AdagradOptimizer, AdamOptimizer, GradientDescentOptimizer, MomentumOptimizer, Optimizer, RMSPropOptimizer,
};
pub use saver::{import_meta_graph, latest_checkpoint, Saver};
pub use schedules::exponential_decay;
