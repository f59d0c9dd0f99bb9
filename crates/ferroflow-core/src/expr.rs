//! Operator sugar: `pop_mean * 0.99 + mean * 0.01` on tensor handles builds an [`Expr`].
//!
//! An `Expr` is a small arithmetic expression over tensors and literals, not yet ops. It
//! becomes ops when a builder consumes it (every builder input takes one, e.g.
//! `assign(s, pop_mean, pop_mean * 0.99 + mean * 0.01)?`), **in the scope of that builder**:
//! inside a `cond` branch the ops belong to the branch, inside a `control_dependencies` block
//! they carry its control inputs, exactly as the builder's own op does. A shape or dtype error
//! surfaces from that builder's `Result`, naming the node (`cond/Add`). No global or
//! thread-local state is involved. The core only records the expression; `ferroflow-ops`
//! turns it into `Add`/`Sub`/`Mul`/`RealDiv`/`Neg` ops (the core knows no concrete op).

use crate::handles::{Tensor, Variable};
use crate::value::Value;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// The four arithmetic operators of [`Expr`]. TF1: `tf.add`, `tf.subtract`, `tf.multiply`,
/// `tf.truediv` (what Python's `+ - * /` on tensors call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
}

/// A deferred arithmetic expression over tensors and Rust literals, built by `+ - * /` and
/// unary `-` on [`Tensor`], [`Variable`] and `Expr` (with `f32`/`f64`/`i32`/`i64` literals on
/// either side). Pass it to any builder, or make it a tensor with
/// `ferroflow_ops::convert_to_tensor(s, expr)?` (TF1: `tf.convert_to_tensor`).
///
/// Literals take the dtype of the tensor they meet, as TF1 converts Python numbers. Each use
/// of an `Expr` adds its ops again (clone it to use it twice, or convert it to a tensor once).
#[derive(Clone, Debug)]
pub enum Expr {
    /// An existing tensor.
    Tensor(Tensor),
    /// A scalar literal; it becomes a constant of the other operand's dtype.
    Literal(Value),
    /// `lhs op rhs`
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `-x`
    Neg(Box<Expr>),
}

impl Expr {
    /// The tensor this expression is, when it is a bare tensor.
    pub fn as_tensor(&self) -> Option<Tensor> {
        match self {
            Expr::Tensor(t) => Some(*t),
            _ => None,
        }
    }
}

impl From<Tensor> for Expr {
    fn from(t: Tensor) -> Expr {
        Expr::Tensor(t)
    }
}
impl From<&Tensor> for Expr {
    fn from(t: &Tensor) -> Expr {
        Expr::Tensor(*t)
    }
}
impl From<Variable> for Expr {
    fn from(v: Variable) -> Expr {
        Expr::Tensor(v.value())
    }
}
impl From<&Variable> for Expr {
    fn from(v: &Variable) -> Expr {
        Expr::Tensor(v.value())
    }
}
impl From<&Expr> for Expr {
    fn from(e: &Expr) -> Expr {
        e.clone()
    }
}

macro_rules! literal_expr {
    ($($t:ty),*) => {$(
        impl From<$t> for Expr {
            fn from(x: $t) -> Expr {
                Expr::Literal(Value::from(x))
            }
        }
    )*};
}
literal_expr!(f32, f64, i32, i64);

/// `impl Op<R> for L` for every handle `L` and every right operand `R`.
macro_rules! binary_ops {
    ($($l:ty),*) => {$(
        binary_ops!(@one $l, Add, add, Add);
        binary_ops!(@one $l, Sub, sub, Sub);
        binary_ops!(@one $l, Mul, mul, Mul);
        binary_ops!(@one $l, Div, div, Div);
        impl Neg for $l {
            type Output = Expr;
            fn neg(self) -> Expr {
                Expr::Neg(Box::new(Expr::from(self)))
            }
        }
    )*};
    (@one $l:ty, $tr:ident, $m:ident, $op:ident) => {
        binary_ops!(@rhs $l, $tr, $m, $op, Tensor, &Tensor, Variable, &Variable, Expr, &Expr, f32, f64, i32, i64);
    };
    (@rhs $l:ty, $tr:ident, $m:ident, $op:ident, $($r:ty),*) => {$(
        impl $tr<$r> for $l {
            type Output = Expr;
            fn $m(self, rhs: $r) -> Expr {
                Expr::Binary(BinaryOp::$op, Box::new(Expr::from(self)), Box::new(Expr::from(rhs)))
            }
        }
    )*};
}
binary_ops!(Tensor, &Tensor, Variable, &Variable, Expr, &Expr);

/// `1.0 - t`, `2 * t`: a literal on the left of a handle.
macro_rules! literal_lhs {
    ($($lit:ty),*) => {$(
        literal_lhs!(@one $lit, Add, add, Add);
        literal_lhs!(@one $lit, Sub, sub, Sub);
        literal_lhs!(@one $lit, Mul, mul, Mul);
        literal_lhs!(@one $lit, Div, div, Div);
    )*};
    (@one $lit:ty, $tr:ident, $m:ident, $op:ident) => {
        literal_lhs!(@rhs $lit, $tr, $m, $op, Tensor, &Tensor, Variable, &Variable, Expr, &Expr);
    };
    (@rhs $lit:ty, $tr:ident, $m:ident, $op:ident, $($r:ty),*) => {$(
        impl $tr<$r> for $lit {
            type Output = Expr;
            fn $m(self, rhs: $r) -> Expr {
                Expr::Binary(BinaryOp::$op, Box::new(Expr::from(self)), Box::new(Expr::from(rhs)))
            }
        }
    )*};
}
literal_lhs!(f32, f64, i32, i64);
