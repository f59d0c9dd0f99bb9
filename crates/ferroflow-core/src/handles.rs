//! Cheap `Copy` handles into a graph: `Tensor`, `Operation`, `Variable`.
//!
//! Handles carry no lifetime and no pointer: they are graph id + node index (+ output index),
//! and this module knows nothing else. What a handle names (its name, shape, dtype, op type) is
//! read from the graph it is given: `t.shape(&g)?`, `op.name(&scope)?` (the accessors live in
//! [`crate::graph`]). Handing a handle to another graph is an error naming both graphs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An operation (a node) in a graph. TF1: `tf.Operation`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Operation {
    pub(crate) graph: u32,
    pub(crate) node: u32,
}

/// A symbolic output of an operation. TF1: `tf.Tensor` (`name` is `"op_name:index"`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tensor {
    pub(crate) graph: u32,
    pub(crate) node: u32,
    pub(crate) index: u32,
}

/// A variable: its `VariableV2` op (whose output 0 reads the value) and its initializer.
/// TF1: `tf.Variable`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Variable {
    pub(crate) op: Operation,
    pub(crate) initializer: Operation,
    pub(crate) initial_value: Tensor,
}

impl Operation {
    /// Builds a handle from raw parts (used by the graph and by deserialization).
    pub fn from_raw(graph: u32, node: u32) -> Self {
        Operation { graph, node }
    }
    /// The id of the graph this op belongs to.
    pub fn graph_id(self) -> u32 {
        self.graph
    }
    /// The node index inside its graph.
    pub fn node_index(self) -> usize {
        self.node as usize
    }
    /// Output `i` of this op.
    pub fn output(self, i: usize) -> Tensor {
        Tensor { graph: self.graph, node: self.node, index: i as u32 }
    }
}

impl Tensor {
    /// Builds a handle from raw parts.
    pub fn from_raw(graph: u32, node: u32, index: u32) -> Self {
        Tensor { graph, node, index }
    }
    /// The op producing this tensor.
    pub fn op(self) -> Operation {
        Operation { graph: self.graph, node: self.node }
    }
    /// Which output of its op this is.
    pub fn index(self) -> usize {
        self.index as usize
    }
    /// The id of the graph this tensor belongs to.
    pub fn graph_id(self) -> u32 {
        self.graph
    }
}

impl Variable {
    /// Builds a handle from its parts.
    pub fn from_parts(op: Operation, initializer: Operation, initial_value: Tensor) -> Self {
        Variable { op, initializer, initial_value }
    }
    /// The tensor that reads the variable's current value.
    pub fn value(self) -> Tensor {
        self.op.output(0)
    }
    /// The `VariableV2` op.
    pub fn op(self) -> Operation {
        self.op
    }
    /// The op that assigns the initial value.
    pub fn initializer(self) -> Operation {
        self.initializer
    }
    /// The tensor holding the initial value.
    pub fn initial_value(self) -> Tensor {
        self.initial_value
    }
}

impl From<Variable> for Tensor {
    fn from(v: Variable) -> Tensor {
        v.value()
    }
}
impl From<&Variable> for Tensor {
    fn from(v: &Variable) -> Tensor {
        v.value()
    }
}
impl From<&Tensor> for Tensor {
    fn from(t: &Tensor) -> Tensor {
        *t
    }
}
impl From<Tensor> for Operation {
    fn from(t: Tensor) -> Operation {
        t.op()
    }
}
impl From<Variable> for Operation {
    fn from(v: Variable) -> Operation {
        v.op
    }
}

impl fmt::Debug for Tensor {
    /// Ids only (`Tensor(graph #3, node 5, output 0)`): a handle does not know its graph. Ask the
    /// graph for the name: `t.name(&g)?`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor(graph #{}, node {}, output {})", self.graph, self.node, self.index)
    }
}
impl fmt::Debug for Operation {
    /// Ids only (`Operation(graph #3, node 5)`); the name is `op.name(&g)?`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Operation(graph #{}, node {})", self.graph, self.node)
    }
}
impl fmt::Debug for Variable {
    /// Ids only (`Variable(graph #3, node 5)`); the name is `v.name(&g)?`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Variable(graph #{}, node {})", self.op.graph, self.op.node)
    }
}
