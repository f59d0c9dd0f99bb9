//! # ferroflow
//!
//! A training framework in the style of TensorFlow 1, in Rust: build a static graph
//! (placeholders, variables, `moments`, `batch_normalization`, `cond`, `assign`, control
//! dependencies, collections such as `UPDATE_OPS`), run it in a [`Session`] with feeds, train it
//! with symbolic gradients and optimizers, and save/restore checkpoints.
//!
//! This crate is a thin facade over the workspace crates; `use ferroflow::prelude::*;` brings in
//! what a TF1 program needs.
//!
//! ```
//! use ferroflow::prelude::*;
//! # fn main() -> ferroflow::Result<()> {
//! let g = Graph::new();
//! let s = g.root();
//! let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 3])?;
//! let w = variable(&s.with_name("w"), ndarray::arr1(&[1.0f32, 2.0, 3.0]), VariableOptions::default())?;
//! let y = math::reduce_sum(&s, math::mul(&s, x, w)?, Some(&[1]), false)?;
//! let sess = Session::new(&g);
//! sess.run_ops(&[global_variables_initializer(&s)?], &[])?;
//! let out = sess.run([y], &feed_dict![x => ndarray::arr2(&[[1.0f32, 1.0, 1.0]])])?;
//! assert_eq!(out[0].to_vec::<f32>()?, vec![6.0]);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use ferroflow_core as core;
pub use ferroflow_core::{
    shape, CollectionKey, DType, Element, Error, Expr, Graph, Operation, Result, Scope, Shape, Tensor, Value, Variable,
    GLOBAL_STEP, GLOBAL_VARIABLES, LOSSES, MOVING_AVERAGE_VARIABLES, REGULARIZATION_LOSSES, TRAINABLE_VARIABLES,
    TRAIN_OP, UPDATE_OPS,
};
pub use ferroflow_data as data;
/// Data-parallel training the Horovod way (`hvd::init`, `DistributedOptimizer`, collective
/// ops, sync batch norm): the Local backend always, the MPI backend with the `mpi` feature.
/// See `docs/distributed.md`.
pub use ferroflow_distributed as distributed;
pub use ferroflow_nn::{contrib, layers, tflearn, Training};
pub use ferroflow_ops::{array, control, math, nn, random, state};
pub use ferroflow_session::{
    feed_dict, Callable, Fetch, Fetches, FromFetch, NodeTrace, OpTypeStats, RunMetadata, RunOptions, Session,
    SessionOptions, TraceLevel,
};
/// TensorBoard (TF1 `tf.summary`): summary ops, `FileWriter`, `GraphDef` export. See
/// `docs/tensorboard.md`.
pub use ferroflow_summary as summary;
pub use ferroflow_train as train;
/// The `ndarray` version ferroflow's `Value` converts from and to: use `ferroflow::ndarray`
/// instead of a direct dependency, so the versions always match.
pub use ndarray;

/// Everything a TF1-style program usually needs: graph and session types, every op module
/// (`math`, `nn`, `array`, `state`, `control`), layers and their option builders, optimizers,
/// `Saver`, `Padding`, `Training`, the collection keys, typed fetches, and `ndarray` (the
/// version ferroflow uses, so `ndarray::arr2(…)` needs no dependency of your own).
///
/// Operator sugar comes with the handles: `pop_mean * decay + batch_mean * (1.0 - decay)` is an
/// [`Expr`] that any builder takes (its ops land in the builder's scope,
/// cond branch and control dependencies included); [`convert_to_tensor`](prelude::convert_to_tensor)
/// makes it a tensor.
pub mod prelude {
    pub use crate::ndarray;
    pub use crate::{
        array, contrib, control, feed_dict, layers, math, nn, shape, state, train, CollectionKey, DType, Error, Fetch,
        Graph, Operation, Result, Scope, Session, SessionOptions, Shape, Tensor, Training, Value, Variable,
        GLOBAL_VARIABLES, LOSSES, REGULARIZATION_LOSSES, TRAINABLE_VARIABLES, UPDATE_OPS,
    };
    pub use ferroflow_core::{Element, Expr, GLOBAL_STEP, MOVING_AVERAGE_VARIABLES, TRAIN_OP};
    pub use ferroflow_nn::contrib::{ContribBatchNormOptions, FullyConnectedOptions};
    pub use ferroflow_nn::layers::{
        Activation, BatchNormOptions, Conv2dOptions, DenseOptions, Regularizer, UpdateMode,
    };
    pub use ferroflow_ops::control::{cond, group, identity, no_op, stop_gradient};
    pub use ferroflow_ops::nn::Padding;
    pub use ferroflow_ops::random::Initializer;
    pub use ferroflow_ops::state::{
        assign, assign_add, assign_any_shape, assign_sub, constant, get_variable, global_variables_initializer,
        placeholder, placeholder_with_default, variable, variables_initializer, VariableOptions,
    };
    pub use ferroflow_ops::{convert_to_tensor, IntoInput};
    pub use ferroflow_session::{Callable, Fetches, FromFetch, RunMetadata, RunOptions, TraceLevel};
    pub use ferroflow_train::{
        gradients, latest_checkpoint, AdagradOptimizer, AdamOptimizer, GradientDescentOptimizer, MomentumOptimizer,
        Optimizer, RMSPropOptimizer, Saver,
    };
}

/// The Rust snippets of `docs/*.md` and the README, compiled and run as doc tests
/// (`cargo test --doc -p ferroflow`), so the pages cannot drift from the API. Only built for
/// doctests: it adds nothing to the library.
#[cfg(doctest)]
mod doc_pages {
    #[doc = include_str!("../docs/api-layers.md")]
    mod api_layers {}
    #[doc = include_str!("../docs/api-contrib.md")]
    mod api_contrib {}
    #[doc = include_str!("../docs/api-tflearn.md")]
    mod api_tflearn {}
    #[doc = include_str!("../docs/api-data.md")]
    mod api_data {}
    #[doc = include_str!("../docs/adding-an-op.md")]
    mod adding_an_op_md {}
    #[doc = include_str!("../docs/architecture.md")]
    mod architecture_md {}
    #[doc = include_str!("../docs/batch-norm.md")]
    mod batch_norm_md {}
    #[doc = include_str!("../docs/checkpoints.md")]
    mod checkpoints_md {}
    #[doc = include_str!("../docs/distributed.md")]
    mod distributed_md {}
    #[doc = include_str!("../docs/profiling.md")]
    mod profiling_md {}
    #[doc = include_str!("../docs/serving.md")]
    mod serving_md {}
    #[doc = include_str!("../docs/tensorboard.md")]
    mod tensorboard_md {}
    #[doc = include_str!("../docs/training.md")]
    mod training_md {}
    #[doc = include_str!("../docs/visualizing.md")]
    mod visualizing_md {}
    #[doc = include_str!("../docs/tf1-users.md")]
    mod tf1_users_md {}
    #[doc = include_str!("../README.md")]
    mod readme {}
}
