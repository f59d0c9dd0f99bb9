//! Element-wise binary ops with NumPy broadcasting, table-driven: each row gives the scalar
//! function and its two partial derivatives. Gradients are reduced back to each operand's
//! shape (the sum over broadcast axes).

use crate::array::broadcast::sum_to_like;
use crate::input::{pair, IntoInput};
use crate::math::unary::neg;
use crate::util::{broadcast_zip, broadcast_zip3, sum_to_shape};
use ferroflow_core::typetag;
use ferroflow_core::{DType, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Tensor, TensorSpec, Value};
use num_traits::Float;
use serde::{Deserialize, Serialize};
use std::any::Any;

/// The binary functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryKind {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a · b`
    Mul,
    /// `a / b`
    Div,
    /// `max(a, b)`
    Maximum,
    /// `min(a, b)`
    Minimum,
    /// `aᵇ`
    Pow,
    /// `(a - b)²`
    SquaredDifference,
}

impl BinaryKind {
    /// TF op type name.
    pub fn type_name(self) -> &'static str {
        match self {
            BinaryKind::Add => "Add",
            BinaryKind::Sub => "Sub",
            BinaryKind::Mul => "Mul",
            BinaryKind::Div => "RealDiv",
            BinaryKind::Maximum => "Maximum",
            BinaryKind::Minimum => "Minimum",
            BinaryKind::Pow => "Pow",
            BinaryKind::SquaredDifference => "SquaredDifference",
        }
    }

    /// The function on floats.
    pub fn f<T: Float>(self, a: T, b: T) -> T {
        match self {
            BinaryKind::Add => a + b,
            BinaryKind::Sub => a - b,
            BinaryKind::Mul => a * b,
            BinaryKind::Div => a / b,
            BinaryKind::Maximum => if a >= b { a } else { b },
            BinaryKind::Minimum => if a <= b { a } else { b },
            BinaryKind::Pow => a.powf(b),
            BinaryKind::SquaredDifference => (a - b) * (a - b),
        }
    }

    /// ∂f/∂a.
    pub fn da<T: Float>(self, a: T, b: T) -> T {
        let (one, zero) = (T::one(), T::zero());
        match self {
            BinaryKind::Add | BinaryKind::Sub => one,
            BinaryKind::Mul => b,
            BinaryKind::Div => one / b,
            BinaryKind::Maximum => if a >= b { one } else { zero },
            BinaryKind::Minimum => if a <= b { one } else { zero },
            BinaryKind::Pow => if b == zero { zero } else { b * a.powf(b - one) },
            BinaryKind::SquaredDifference => (one + one) * (a - b),
        }
    }

    /// ∂f/∂b.
    pub fn db<T: Float>(self, a: T, b: T) -> T {
        let (one, zero) = (T::one(), T::zero());
        match self {
            BinaryKind::Add => one,
            BinaryKind::Sub => -one,
            BinaryKind::Mul => a,
            BinaryKind::Div => -a / (b * b),
            BinaryKind::Maximum => if a >= b { zero } else { one },
            BinaryKind::Minimum => if a <= b { zero } else { one },
            BinaryKind::Pow => if a > zero { a.powf(b) * a.ln() } else { zero },
            BinaryKind::SquaredDifference => -(one + one) * (a - b),
        }
    }

    /// The function on integers; `None` for division by zero.
    fn fi(self, a: i64, b: i64) -> Option<i64> {
        Some(match self {
            BinaryKind::Add => a.wrapping_add(b),
            BinaryKind::Sub => a.wrapping_sub(b),
            BinaryKind::Mul => a.wrapping_mul(b),
            BinaryKind::Div => a.checked_div(b)?,
            BinaryKind::Maximum => a.max(b),
            BinaryKind::Minimum => a.min(b),
            BinaryKind::Pow => a.checked_pow(u32::try_from(b).ok()?)?,
            BinaryKind::SquaredDifference => (a - b).wrapping_mul(a - b),
        })
    }
}

/// An element-wise binary op with broadcasting.
#[derive(Debug, Serialize, Deserialize)]
pub struct Binary {
    /// Which function.
    pub kind: BinaryKind,
}

/// Shape rule shared by the binary families: same dtype, broadcastable shapes.
pub fn infer_broadcast(cx: &InferCtx<'_>) -> Result<TensorSpec> {
    let (a, b) = (cx.input(0)?, cx.input(1)?);
    if a.dtype != b.dtype {
        return Err(cx.error(format!(
            "operands must have the same dtype, got {} {} and {} {}; cast one with cast()",
            a.dtype, a.shape, b.dtype, b.shape
        )));
    }
    let shape = a
        .shape
        .broadcast(&b.shape)
        .map_err(|_| cx.error(format!("incompatible shapes {} and {} cannot be broadcast together", a.shape, b.shape)))?;
    Ok(TensorSpec::new(a.dtype, shape))
}

#[typetag::serde]
impl Op for Binary {
    fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let spec = infer_broadcast(cx)?;
        if spec.dtype == DType::Bool {
            return Err(cx.error("arithmetic is not defined for bool; use the logical ops"));
        }
        Ok(vec![spec])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let k = self.kind;
        let (a, b) = (cx.input(0)?, cx.input(1)?);
        let out = match (a, b) {
            (Value::F32(x), Value::F32(y)) => Value::from(broadcast_zip(&x.view(), &y.view(), |p, q| k.f(p, q))?),
            (Value::F64(x), Value::F64(y)) => Value::from(broadcast_zip(&x.view(), &y.view(), |p, q| k.f(p, q))?),
            (Value::I32(x), Value::I32(y)) => {
                let r = broadcast_zip(&x.view(), &y.view(), |p, q| k.fi(p as i64, q as i64).map(|v| v as i32))?;
                Value::from(collect_checked(r).ok_or_else(|| cx.error("integer division by zero or overflow"))?)
            }
            (Value::I64(x), Value::I64(y)) => {
                let r = broadcast_zip(&x.view(), &y.view(), |p, q| k.fi(p, q))?;
                Value::from(collect_checked(r).ok_or_else(|| cx.error("integer division by zero or overflow"))?)
            }
            (a, b) => return Err(cx.error(format!("unsupported operand dtypes {} and {}", a.dtype(), b.dtype()))),
        };
        Ok(vec![out])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = cx.grad(0) else { return Ok(vec![None, None]) };
        let (a, b) = (cx.input(0)?, cx.input(1)?);
        match self.kind {
            BinaryKind::Add => Ok(vec![Some(sum_to_like(s, g, a)?), Some(sum_to_like(s, g, b)?)]),
            BinaryKind::Sub => Ok(vec![Some(sum_to_like(s, g, a)?), Some(neg(s, sum_to_like(s, g, b)?)?)]),
            k => {
                let ga = s.add_op1(BinaryGrad { kind: k, wrt_b: false }, &[a, b, g], &format!("{}GradA", k.type_name()))?;
                let gb = s.add_op1(BinaryGrad { kind: k, wrt_b: true }, &[a, b, g], &format!("{}GradB", k.type_name()))?;
                Ok(vec![Some(ga), Some(gb)])
            }
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn collect_checked<T: Clone>(a: ndarray::ArrayD<Option<T>>) -> Option<ndarray::ArrayD<T>> {
    if a.iter().any(Option::is_none) {
        return None;
    }
    let dims = a.raw_dim();
    let v: Vec<T> = a.into_iter().flatten().collect();
    ndarray::ArrayD::from_shape_vec(dims, v).ok()
}

/// `sum_to_shape(g · ∂f/∂a)` (or `∂f/∂b`): one fused pass for a binary op's gradient.
#[derive(Debug, Serialize, Deserialize)]
pub struct BinaryGrad {
    /// Which function.
    pub kind: BinaryKind,
    /// Gradient w.r.t. `b` (else `a`).
    pub wrt_b: bool,
}

#[typetag::serde]
impl Op for BinaryGrad {
    fn type_name(&self) -> &'static str {
        "BinaryGrad"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        cx.expect_float(2)?;
        Ok(vec![cx.input(if self.wrt_b { 1 } else { 0 })?.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let k = self.kind;
        let wrt_b = self.wrt_b;
        macro_rules! run {
            ($t:ty) => {{
                let (a, b, g) = (cx.view::<$t>(0)?, cx.view::<$t>(1)?, cx.view::<$t>(2)?);
                let full = broadcast_zip3(&a, &b, &g, |x, y, g| g * if wrt_b { k.db(x, y) } else { k.da(x, y) })?;
                let target = if wrt_b { b.shape().to_vec() } else { a.shape().to_vec() };
                Value::from(sum_to_shape(full, &target)?)
            }};
        }
        let out = match cx.input(2)?.dtype() {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            d => return Err(cx.error(format!("expected a float gradient, got {d}"))),
        };
        Ok(vec![out])
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn binary(s: &Scope, kind: BinaryKind, a: impl IntoInput, b: impl IntoInput) -> Result<Tensor> {
    let (a, b) = pair(s, a, b)?;
    s.add_op1(Binary { kind }, &[a, b], kind.type_name())
}

macro_rules! binary_builder {
    ($(#[$doc:meta])* $fn:ident, $kind:ident) => {
        $(#[$doc])*
        ///
        /// # Shapes
        /// NumPy broadcasting: `[2, 3]` with `[3]` gives `[2, 3]`; `[?, 3]` with `[1]` gives `[?, 3]`.
        ///
        /// # Errors
        /// Different dtypes, or shapes that cannot broadcast (a build error naming both).
        pub fn $fn(s: &Scope, a: impl IntoInput, b: impl IntoInput) -> Result<Tensor> {
            binary(s, BinaryKind::$kind, a, b)
        }
    };
}
binary_builder!(/// `a + b`. TF1: `tf.add`. A literal operand takes the other's dtype.
    add, Add);
binary_builder!(/// `a - b`. TF1: `tf.subtract`.
    sub, Sub);
binary_builder!(/// `a · b`. TF1: `tf.multiply`.
    mul, Mul);
binary_builder!(/// `a / b`. TF1: `tf.divide` / `tf.realdiv`. Integer division by zero is a run-time error.
    div, Div);
binary_builder!(/// `max(a, b)`. TF1: `tf.maximum` (ties send the gradient to `a`).
    maximum, Maximum);
binary_builder!(/// `min(a, b)`. TF1: `tf.minimum`.
    minimum, Minimum);
binary_builder!(/// `aᵇ`. TF1: `tf.pow`.
    pow, Pow);
binary_builder!(/// `(a - b)²`. TF1: `tf.squared_difference`.
    squared_difference, SquaredDifference);
