//! ferroflow-summary: TensorBoard support (TF1's `tf.summary`).
//!
//! Summary ops ([`scalar`], [`histogram`], [`image`], [`text`], [`merge`], [`merge_all`]) are
//! graph ops whose output is a scalar `string` holding a serialized `Summary` protobuf;
//! [`FileWriter`] writes them, with the graph as a `GraphDef` ([`graph_def()`]), to TensorBoard
//! event files. The protobuf messages are hand-declared with `prost` derives in [`proto`].
//! It is its own crate so `prost`, `png` and `crc32c` stay out of the op and core crates
//! (see docs/decisions.md).

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![warn(missing_docs)]

pub mod graph_def;
mod histogram;
mod ops;
pub mod proto;
mod writer;

pub use ferroflow_core::SUMMARIES;
pub use graph_def::{graph_def, graph_def_bytes};
pub use histogram::default_bucket_limits;
pub use ops::{
    histogram, image, merge, merge_all, scalar, text, HistogramSummary, ImageSummary, MergeSummary, ScalarSummary,
    TextSummary,
};
pub use writer::{masked_crc32c, tfrecord, FileWriter};
