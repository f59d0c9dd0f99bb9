//! Cheap `Copy` handles into a graph: `Tensor`, `Operation`, `Variable`.
//!
//! Handles carry no lifetime: they are graph id + node index (+ output index). Their accessors
//! (`name()`, `shape()`, …) look the graph up in a process-wide registry of live graphs, so user
//! code reads like TF1's `x.name` / `x.shape`.

use crate::dtype::DType;
use crate::graph::Graph;
use crate::shape::Shape;
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
    /// The full scoped name (`"dense/MatMul"`).
    pub fn name(self) -> String {
        Graph::lookup(self.graph)
            .and_then(|g| g.read(|s| s.node(self).map(|n| n.name.clone())).ok())
            .unwrap_or_else(|| format!("<op {} of a dropped graph>", self.node))
    }
    /// The op type (`"MatMul"`).
    pub fn type_name(self) -> &'static str {
        Graph::lookup(self.graph)
            .and_then(|g| g.read(|s| s.node(self).map(|n| n.op.type_name())).ok())
            .unwrap_or("<unknown>")
    }
    /// Number of outputs.
    pub fn num_outputs(self) -> usize {
        Graph::lookup(self.graph).and_then(|g| g.read(|s| s.node(self).map(|n| n.outputs.len())).ok()).unwrap_or(0)
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
    /// TF-style name `"op_name:index"`.
    pub fn name(self) -> String {
        format!("{}:{}", self.op().name(), self.index)
    }
    /// The static dtype (`F32` if the graph was dropped).
    pub fn dtype(self) -> DType {
        self.spec().map(|s| s.0).unwrap_or(DType::F32)
    }
    /// The static shape, as far as it is known at build time.
    pub fn shape(self) -> Shape {
        self.spec().map(|s| s.1).unwrap_or_else(Shape::unknown)
    }
    fn spec(self) -> Option<(DType, Shape)> {
        let g = Graph::lookup(self.graph)?;
        g.read(|s| s.spec(self).map(|sp| (sp.dtype, sp.shape.clone()))).ok()
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
    /// The variable's full name (`"batch_normalization/gamma"`).
    pub fn name(self) -> String {
        self.op.name()
    }
    /// Static dtype.
    pub fn dtype(self) -> DType {
        self.value().dtype()
    }
    /// Static shape.
    pub fn shape(self) -> Shape {
        self.value().shape()
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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor(\"{}\", {}, {})", self.name(), self.shape(), self.dtype())
    }
}
impl fmt::Debug for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Operation(\"{}\", {})", self.name(), self.type_name())
    }
}
impl fmt::Debug for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Variable(\"{}\", {}, {})", self.name(), self.shape(), self.dtype())
    }
}
