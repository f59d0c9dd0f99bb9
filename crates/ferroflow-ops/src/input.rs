//! `IntoInput`: what builders accept as an input — a tensor, a variable, or a Rust literal
//! that becomes a constant (of the other operand's dtype, as TF1 converts Python numbers).

use crate::state::constant;
use ferroflow_core::{BinaryOp, DType, Expr, Result, Scope, Tensor, Value, Variable};

/// A builder input: a `Tensor`, a `Variable` (its value), or a literal (`0.99f32`, `2`, `true`).
pub trait IntoInput {
    /// The tensor, when this input already is one.
    fn as_tensor(&self) -> Option<Tensor>;
    /// Turns the input into a tensor; literals become constants of dtype `hint` when given.
    /// A builder passes its own scope (possibly named by `with_name`); an input that adds ops
    /// (an [`Expr`]) leaves that name to the builder's op.
    fn into_tensor(self, s: &Scope, hint: Option<DType>) -> Result<Tensor>;
    /// As [`IntoInput::into_tensor`], but an input that adds ops gives its last op the name
    /// `s` carries (used by [`convert_to_tensor`]).
    fn into_named_tensor(self, s: &Scope, hint: Option<DType>) -> Result<Tensor>
    where
        Self: Sized,
    {
        self.into_tensor(s, hint)
    }
}

impl IntoInput for Tensor {
    fn as_tensor(&self) -> Option<Tensor> {
        Some(*self)
    }
    fn into_tensor(self, _: &Scope, _: Option<DType>) -> Result<Tensor> {
        Ok(self)
    }
}
impl IntoInput for &Tensor {
    fn as_tensor(&self) -> Option<Tensor> {
        Some(**self)
    }
    fn into_tensor(self, _: &Scope, _: Option<DType>) -> Result<Tensor> {
        Ok(*self)
    }
}
impl IntoInput for Variable {
    fn as_tensor(&self) -> Option<Tensor> {
        Some(self.value())
    }
    fn into_tensor(self, _: &Scope, _: Option<DType>) -> Result<Tensor> {
        Ok(self.value())
    }
}
impl IntoInput for &Variable {
    fn as_tensor(&self) -> Option<Tensor> {
        Some(self.value())
    }
    fn into_tensor(self, _: &Scope, _: Option<DType>) -> Result<Tensor> {
        Ok(self.value())
    }
}
impl IntoInput for Value {
    fn as_tensor(&self) -> Option<Tensor> {
        None
    }
    fn into_tensor(self, s: &Scope, _: Option<DType>) -> Result<Tensor> {
        constant(&s.without_control_dependencies(), self)
    }
}

fn literal(s: &Scope, v: Value, float_literal: bool, hint: Option<DType>) -> Result<Tensor> {
    let target = match hint {
        Some(h) if float_literal && !h.is_float() => {
            return Err(s.build_error("Const", format!("a float literal cannot be combined with a {h} tensor; cast the tensor first, or use an integer literal")))
        }
        Some(h) => h,
        None => v.dtype(),
    };
    constant(&s.with_name("Const"), v.cast(target))
}

macro_rules! literal_input {
    ($t:ty, $float:expr) => {
        impl IntoInput for $t {
            fn as_tensor(&self) -> Option<Tensor> {
                None
            }
            fn into_tensor(self, s: &Scope, hint: Option<DType>) -> Result<Tensor> {
                literal(s, Value::from(self), $float, hint)
            }
        }
    };
}
literal_input!(f32, true);
literal_input!(f64, true);
literal_input!(i32, false);
literal_input!(i64, false);
literal_input!(bool, false);

/// Resolves two inputs; a literal takes the dtype of the other side.
pub fn pair(s: &Scope, a: impl IntoInput, b: impl IntoInput) -> Result<(Tensor, Tensor)> {
    let hint_a = a.as_tensor().map(|t| t.dtype(s)).transpose()?;
    let hint_b = b.as_tensor().map(|t| t.dtype(s)).transpose()?;
    let ta = a.into_tensor(s, hint_b)?;
    let tb = b.into_tensor(s, hint_a.or(Some(ta.dtype(s)?)))?;
    Ok((ta, tb))
}

/// An optional builder input (the `offset`/`scale` of `nn::batch_normalization`): `None`, a
/// `Some(tensor)`, or any [`IntoInput`] given directly — a `Tensor`, a `Variable` (`beta`, as TF1
/// takes `tf.Variable`s), or a literal.
///
/// `Some(variable)` is not accepted: a second `Option` impl would make a bare `None` ambiguous
/// (Rust would ask for `None::<Tensor>`); pass the variable itself instead.
pub trait OptionalInput {
    /// Resolves the input, if any; literals become constants of dtype `hint` when given.
    fn into_opt_tensor(self, s: &Scope, hint: Option<DType>) -> Result<Option<Tensor>>;
}

impl OptionalInput for Option<Tensor> {
    fn into_opt_tensor(self, _: &Scope, _: Option<DType>) -> Result<Option<Tensor>> {
        Ok(self)
    }
}
impl<T: IntoInput> OptionalInput for T {
    fn into_opt_tensor(self, s: &Scope, hint: Option<DType>) -> Result<Option<Tensor>> {
        self.into_tensor(s, hint).map(Some)
    }
}

/// Operator sugar (`a * 0.99 + b * 0.01`, see [`ferroflow_core::Expr`]): the expression becomes
/// ops here, in the consuming builder's scope `s` (so inside a `cond` branch or a
/// `control_dependencies` block when the builder is), with default names (`Mul`, `Add_1`, …);
/// [`convert_to_tensor`] gives the last op the name `s.with_name(…)` set.
impl IntoInput for Expr {
    fn as_tensor(&self) -> Option<Tensor> {
        Expr::as_tensor(self)
    }
    fn into_tensor(self, s: &Scope, hint: Option<DType>) -> Result<Tensor> {
        // The ops keep the scope (prefix, cond branch, control deps) but not the builder's op name.
        self.into_named_tensor(&s.at_name_prefix(s.name_prefix()), hint)
    }
    fn into_named_tensor(self, s: &Scope, hint: Option<DType>) -> Result<Tensor> {
        let inner = s.at_name_prefix(s.name_prefix());
        match self {
            Expr::Tensor(t) => Ok(t),
            Expr::Literal(v) => {
                let float = v.dtype().is_float();
                literal(s, v, float, hint)
            }
            Expr::Neg(x) => {
                let t = x.into_tensor(&inner, hint)?;
                crate::math::neg(s, t)
            }
            Expr::Binary(op, a, b) => {
                // A literal takes the other side's dtype, whichever side it is on.
                let (ta, tb) = if matches!(*a, Expr::Literal(_)) {
                    let tb = b.into_tensor(&inner, hint)?;
                    (a.into_tensor(&inner, Some(tb.dtype(s)?))?, tb)
                } else {
                    let ta = a.into_tensor(&inner, hint)?;
                    let tb = b.into_tensor(&inner, Some(ta.dtype(s)?))?;
                    (ta, tb)
                };
                match op {
                    BinaryOp::Add => crate::math::add(s, ta, tb),
                    BinaryOp::Sub => crate::math::sub(s, ta, tb),
                    BinaryOp::Mul => crate::math::mul(s, ta, tb),
                    BinaryOp::Div => crate::math::div(s, ta, tb),
                }
            }
        }
    }
}
impl IntoInput for &Expr {
    fn as_tensor(&self) -> Option<Tensor> {
        Expr::as_tensor(self)
    }
    fn into_tensor(self, s: &Scope, hint: Option<DType>) -> Result<Tensor> {
        self.clone().into_tensor(s, hint)
    }
    fn into_named_tensor(self, s: &Scope, hint: Option<DType>) -> Result<Tensor> {
        self.clone().into_named_tensor(s, hint)
    }
}

/// Makes `x` a tensor in scope `s`: a tensor or variable as is, a literal or `Value` as a
/// constant, an operator expression ([`Expr`]) as its ops. TF1: `tf.convert_to_tensor`.
///
/// ```
/// use ferroflow_core::{DType, Graph, shape};
/// use ferroflow_ops::{convert_to_tensor, placeholder};
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = placeholder(&s.with_name("x"), DType::F32, shape![2])?;
/// let y = convert_to_tensor(&s.with_name("y"), x * 0.9 + 1.0 - x / 2.0)?;
/// assert_eq!(y.name(&g).unwrap(), "y:0");
/// let bad = placeholder(&s.with_name("z"), DType::F32, shape![3])?;
/// let err = convert_to_tensor(&s.with_name("sum"), x + bad).unwrap_err().to_string();
/// assert!(err.contains("'sum'"), "{err}");
/// # Ok(()) }
/// ```
///
/// # Errors
/// The build error of any op the expression adds (a shape or dtype mismatch), naming it.
pub fn convert_to_tensor(s: &Scope, x: impl IntoInput) -> Result<Tensor> {
    x.into_named_tensor(s, None)
}
