//! `IntoInput`: what builders accept as an input — a tensor, a variable, or a Rust literal
//! that becomes a constant (of the other operand's dtype, as TF1 converts Python numbers).

use crate::state::constant;
use ferroflow_core::{DType, Result, Scope, Tensor, Value, Variable};

/// A builder input: a `Tensor`, a `Variable` (its value), or a literal (`0.99f32`, `2`, `true`).
pub trait IntoInput {
    /// The tensor, when this input already is one.
    fn as_tensor(&self) -> Option<Tensor>;
    /// Turns the input into a tensor; literals become constants of dtype `hint` when given.
    fn into_tensor(self, s: &Scope, hint: Option<DType>) -> Result<Tensor>;
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
    let hint_a = a.as_tensor().map(|t| t.dtype());
    let hint_b = b.as_tensor().map(|t| t.dtype());
    let ta = a.into_tensor(s, hint_b)?;
    let tb = b.into_tensor(s, hint_a.or(Some(ta.dtype())))?;
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
