//! ferroflow-core: the graph users build and the contracts every other crate builds on.
//!
//! It holds the `Value` (a concrete n-d array), `DType` and `Shape`, the `Graph` (petgraph)
//! with TF-style unique names, cond branch contexts, variables and collections, the `Scope`
//! that stands in for TF1's `with` blocks, the `Op` trait with its inference/kernel/gradient
//! contexts, and the one `Error` type. It knows no concrete op.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![warn(missing_docs)]

pub mod collection;
pub mod composite;
mod convert;
mod dot;
pub mod dtype;
pub mod error;
pub mod expr;
pub mod graph;
pub mod handles;
mod import;
pub mod op;
pub mod scope;
pub mod shape;
pub mod value;
pub mod warnings;

pub use collection::{
    CollectionItem, CollectionKey, GLOBAL_STEP, GLOBAL_VARIABLES, LOSSES, MOVING_AVERAGE_VARIABLES,
    REGULARIZATION_LOSSES, SUMMARIES, TRAINABLE_VARIABLES, TRAIN_OP, UPDATE_OPS,
};
pub use composite::Composite;
pub use dot::{DotOptions, GradientView};
pub use dtype::DType;
pub use error::{Error, Result};
pub use expr::{BinaryOp, Expr};
pub use graph::{CondBranch, CondCtxId, EdgeKind, Graph, GraphState, NodeData};
pub use handles::{Operation, Tensor, Variable};
pub use op::{BufferPool, GradCtx, InferCtx, KernelCtx, Op, Runtime, TensorSpec};
pub use scope::Scope;
pub use shape::{Dim, Shape};
pub use value::{Element, Value};
pub use warnings::GraphWarning;

/// Re-exported so op crates can register ops without naming the dependency themselves.
pub use typetag;
