//! Graph collections with typed keys (`GLOBAL_VARIABLES`, `UPDATE_OPS`, user keys).

use crate::handles::{Operation, Tensor, Variable};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// The key of a graph collection. TF1: `tf.GraphKeys.*` or a user string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CollectionKey(Cow<'static, str>);

impl CollectionKey {
    /// A user-named collection (`CollectionKey::new("my_metrics")`).
    pub fn new(name: impl Into<String>) -> Self {
        CollectionKey(Cow::Owned(name.into()))
    }
    /// The key's string, as TF spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CollectionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Every variable (`tf.GraphKeys.GLOBAL_VARIABLES`).
pub const GLOBAL_VARIABLES: CollectionKey = CollectionKey(Cow::Borrowed("variables"));
/// Variables optimizers train by default (`tf.GraphKeys.TRAINABLE_VARIABLES`).
pub const TRAINABLE_VARIABLES: CollectionKey = CollectionKey(Cow::Borrowed("trainable_variables"));
/// Ops to run alongside the train op, e.g. batch-norm moving averages (`tf.GraphKeys.UPDATE_OPS`).
pub const UPDATE_OPS: CollectionKey = CollectionKey(Cow::Borrowed("update_ops"));
/// Losses added by `tf.losses.*` (`tf.GraphKeys.LOSSES`).
pub const LOSSES: CollectionKey = CollectionKey(Cow::Borrowed("losses"));
/// Regularization terms added by layers (`tf.GraphKeys.REGULARIZATION_LOSSES`).
pub const REGULARIZATION_LOSSES: CollectionKey = CollectionKey(Cow::Borrowed("regularization_losses"));
/// Non-trainable variables such as moving statistics (`tf.GraphKeys.MOVING_AVERAGE_VARIABLES`).
pub const MOVING_AVERAGE_VARIABLES: CollectionKey = CollectionKey(Cow::Borrowed("moving_average_variables"));
/// The global step variable (`tf.GraphKeys.GLOBAL_STEP`).
pub const GLOBAL_STEP: CollectionKey = CollectionKey(Cow::Borrowed("global_step"));
/// Summary ops, gathered by `summary::merge_all` (`tf.GraphKeys.SUMMARIES`).
pub const SUMMARIES: CollectionKey = CollectionKey(Cow::Borrowed("summaries"));
/// Train ops (`tf.GraphKeys.TRAIN_OP`).
pub const TRAIN_OP: CollectionKey = CollectionKey(Cow::Borrowed("train_op"));

/// One entry of a collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CollectionItem {
    /// A tensor (e.g. a loss, or an update op's output).
    Tensor(Tensor),
    /// An operation (e.g. a grouped update).
    Operation(Operation),
    /// A variable.
    Variable(Variable),
}

impl CollectionItem {
    /// The variable, if this item is one.
    pub fn as_variable(self) -> Option<Variable> {
        match self {
            CollectionItem::Variable(v) => Some(v),
            _ => None,
        }
    }
    /// The tensor this item stands for (a variable's value); `None` for ops.
    pub fn as_tensor(self) -> Option<Tensor> {
        match self {
            CollectionItem::Tensor(t) => Some(t),
            CollectionItem::Variable(v) => Some(v.value()),
            CollectionItem::Operation(_) => None,
        }
    }
    /// The op behind this item.
    pub fn op(self) -> Operation {
        match self {
            CollectionItem::Tensor(t) => t.op(),
            CollectionItem::Operation(o) => o,
            CollectionItem::Variable(v) => v.op(),
        }
    }
}

impl From<Tensor> for CollectionItem {
    fn from(t: Tensor) -> Self {
        CollectionItem::Tensor(t)
    }
}
impl From<Operation> for CollectionItem {
    fn from(o: Operation) -> Self {
        CollectionItem::Operation(o)
    }
}
impl From<Variable> for CollectionItem {
    fn from(v: Variable) -> Self {
        CollectionItem::Variable(v)
    }
}
