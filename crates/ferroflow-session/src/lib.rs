//! ferroflow-session: runs graphs. TF1: `tf.Session`.
//!
//! `Session::run(fetches, feeds)` compiles the `(fetches, feeds)` pair into a [`plan::Plan`]
//! once (pruning to what the fetches need, ordering, buffer lifetimes, cond branch guards),
//! caches it, and then only executes kernels. Variables live in the session's store and keep
//! their values across runs. `run` takes `&self` and may be called from several threads.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![warn(missing_docs)]

mod callable;
mod fetch;
mod plan;
mod session;
mod trace;
mod variables;

pub use callable::Callable;
pub use fetch::{Fetches, FromFetch};
pub use plan::Plan;
pub use session::{Fetch, Session, SessionOptions};
pub use trace::{NodeTrace, OpTypeStats, RunMetadata, RunOptions, TraceLevel};

/// Builds a feed list: `&feed_dict![x => batch, is_training => true]` (an array of
/// `(Tensor, Value)` pairs; pass it by reference to `Session::run`).
///
/// Keys are anything that converts into a `Tensor` (tensors, variables); values anything that
/// converts into a `Value` (ndarrays, vectors, scalars). For a feed list built at run time use a
/// `Vec<(Tensor, Value)>`.
#[macro_export]
macro_rules! feed_dict {
    () => { <[($crate::__core::Tensor, $crate::__core::Value); 0]>::default() };
    ($($k:expr => $v:expr),+ $(,)?) => {
        [$(($crate::__core::Tensor::from($k), $crate::__core::Value::from($v))),+]
    };
}

#[doc(hidden)]
pub use ferroflow_core as __core;
