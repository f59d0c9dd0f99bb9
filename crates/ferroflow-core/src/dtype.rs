//! Element types (`DType`) and the Rust scalar types that carry them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The element type of a tensor. TF1: `tf.DType` (`tf.float32`, `tf.int32`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    /// 32-bit float (`tf.float32`), the default for model math.
    F32,
    /// 64-bit float (`tf.float64`), used by gradient checks.
    F64,
    /// 32-bit signed integer (`tf.int32`), labels and indices.
    I32,
    /// 64-bit signed integer (`tf.int64`), `global_step` and argmax output.
    I64,
    /// Boolean (`tf.bool`), predicates such as `is_training`.
    Bool,
    /// Byte string (`tf.string`): each element is an arbitrary byte sequence. Summary ops output
    /// serialized `Summary` protobufs as scalar strings. No arithmetic, no gradient.
    String,
}

impl DType {
    /// True for `F32` and `F64`: the types gradients flow through.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// True for every type that supports arithmetic (all but `Bool` and `String`).
    pub fn is_numeric(self) -> bool {
        !matches!(self, DType::Bool | DType::String)
    }

    /// The TF1 spelling (`float32`, `int64`, `bool`).
    pub fn tf_name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::Bool => "bool",
            DType::String => "string",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tf_name())
    }
}
