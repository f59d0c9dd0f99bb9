//! Element-wise unary ops, table-driven: each row gives the scalar function and its
//! derivative (in terms of input `x` and output `y`), one line each.

use crate::input::IntoInput;
use ferroflow_core::typetag;
use ferroflow_core::{DType, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Tensor, TensorSpec, Value};
use num_traits::Float;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The unary functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryKind {
    /// `-x`
    Neg,
    /// `|x|`
    Abs,
    /// `sign(x)` (0 at 0)
    Sign,
    /// `x²`
    Square,
    /// `√x`
    Sqrt,
    /// `1/√x`
    Rsqrt,
    /// `eˣ`
    Exp,
    /// `ln x`
    Log,
    /// `ln(1+x)`
    Log1p,
    /// `1/x`
    Reciprocal,
    /// `tanh x`
    Tanh,
    /// `1/(1+e⁻ˣ)`
    Sigmoid,
    /// `max(x, 0)`
    Relu,
    /// `ln(1+eˣ)`
    Softplus,
}

impl UnaryKind {
    /// TF op type name.
    pub fn type_name(self) -> &'static str {
        match self {
            UnaryKind::Neg => "Neg",
            UnaryKind::Abs => "Abs",
            UnaryKind::Sign => "Sign",
            UnaryKind::Square => "Square",
            UnaryKind::Sqrt => "Sqrt",
            UnaryKind::Rsqrt => "Rsqrt",
            UnaryKind::Exp => "Exp",
            UnaryKind::Log => "Log",
            UnaryKind::Log1p => "Log1p",
            UnaryKind::Reciprocal => "Reciprocal",
            UnaryKind::Tanh => "Tanh",
            UnaryKind::Sigmoid => "Sigmoid",
            UnaryKind::Relu => "Relu",
            UnaryKind::Softplus => "Softplus",
        }
    }

    /// The function.
    #[inline(always)]
    pub fn f<T: Float>(self, x: T) -> T {
        let one = T::one();
        match self {
            UnaryKind::Neg => -x,
            UnaryKind::Abs => x.abs(),
            UnaryKind::Sign => {
                if x > T::zero() {
                    one
                } else if x < T::zero() {
                    -one
                } else {
                    T::zero()
                }
            }
            UnaryKind::Square => x * x,
            UnaryKind::Sqrt => x.sqrt(),
            UnaryKind::Rsqrt => one / x.sqrt(),
            UnaryKind::Exp => x.exp(),
            UnaryKind::Log => x.ln(),
            UnaryKind::Log1p => x.ln_1p(),
            UnaryKind::Reciprocal => one / x,
            UnaryKind::Tanh => x.tanh(),
            UnaryKind::Sigmoid => {
                if x >= T::zero() {
                    one / (one + (-x).exp())
                } else {
                    let e = x.exp();
                    e / (one + e)
                }
            }
            UnaryKind::Relu => {
                if x > T::zero() {
                    x
                } else {
                    T::zero()
                }
            }
            UnaryKind::Softplus => x.max(T::zero()) + (-x.abs()).exp().ln_1p(),
        }
    }

    /// The derivative dy/dx given `x` and `y = f(x)`.
    #[inline(always)]
    pub fn df<T: Float>(self, x: T, y: T) -> T {
        let one = T::one();
        let two = one + one;
        match self {
            UnaryKind::Neg => -one,
            UnaryKind::Abs => {
                if x > T::zero() {
                    one
                } else if x < T::zero() {
                    -one
                } else {
                    T::zero()
                }
            }
            UnaryKind::Sign => T::zero(),
            UnaryKind::Square => two * x,
            UnaryKind::Sqrt => one / (two * y),
            UnaryKind::Rsqrt => -y * y * y / two,
            UnaryKind::Exp => y,
            UnaryKind::Log => one / x,
            UnaryKind::Log1p => one / (one + x),
            UnaryKind::Reciprocal => -y * y,
            UnaryKind::Tanh => one - y * y,
            UnaryKind::Sigmoid => y * (one - y),
            UnaryKind::Relu => {
                if x > T::zero() {
                    one
                } else {
                    T::zero()
                }
            }
            UnaryKind::Softplus => UnaryKind::Sigmoid.f(x),
        }
    }

    /// True when `df(x, y)` equals `df(y, y)`: the derivative reads only the output (ReLU:
    /// `x > 0` exactly when `relu(x) > 0`).
    fn df_needs_only_y(self) -> bool {
        matches!(
            self,
            UnaryKind::Relu
                | UnaryKind::Tanh
                | UnaryKind::Sigmoid
                | UnaryKind::Exp
                | UnaryKind::Sqrt
                | UnaryKind::Rsqrt
                | UnaryKind::Reciprocal
        )
    }

    /// True when the function is defined on integers too.
    fn int_ok(self) -> bool {
        matches!(self, UnaryKind::Neg | UnaryKind::Abs | UnaryKind::Sign | UnaryKind::Square | UnaryKind::Relu)
    }

    fn fi(self, x: i64) -> i64 {
        match self {
            UnaryKind::Neg => x.wrapping_neg(),
            UnaryKind::Abs => x.wrapping_abs(),
            UnaryKind::Sign => x.signum(),
            UnaryKind::Square => x.wrapping_mul(x),
            _ => x.max(0),
        }
    }
}

/// Runs `$body` with `$c` bound to `$k` as a constant, so `f`/`df` inline into the loop and
/// their `match` folds away (one loop per kind instead of a call and a match per element).
macro_rules! with_const_kind {
    ($k:expr, |$c:ident| $body:expr) => {
        match $k {
            UnaryKind::Neg => {
                const $c: UnaryKind = UnaryKind::Neg;
                $body
            }
            UnaryKind::Abs => {
                const $c: UnaryKind = UnaryKind::Abs;
                $body
            }
            UnaryKind::Sign => {
                const $c: UnaryKind = UnaryKind::Sign;
                $body
            }
            UnaryKind::Square => {
                const $c: UnaryKind = UnaryKind::Square;
                $body
            }
            UnaryKind::Sqrt => {
                const $c: UnaryKind = UnaryKind::Sqrt;
                $body
            }
            UnaryKind::Rsqrt => {
                const $c: UnaryKind = UnaryKind::Rsqrt;
                $body
            }
            UnaryKind::Exp => {
                const $c: UnaryKind = UnaryKind::Exp;
                $body
            }
            UnaryKind::Log => {
                const $c: UnaryKind = UnaryKind::Log;
                $body
            }
            UnaryKind::Log1p => {
                const $c: UnaryKind = UnaryKind::Log1p;
                $body
            }
            UnaryKind::Reciprocal => {
                const $c: UnaryKind = UnaryKind::Reciprocal;
                $body
            }
            UnaryKind::Tanh => {
                const $c: UnaryKind = UnaryKind::Tanh;
                $body
            }
            UnaryKind::Sigmoid => {
                const $c: UnaryKind = UnaryKind::Sigmoid;
                $body
            }
            UnaryKind::Relu => {
                const $c: UnaryKind = UnaryKind::Relu;
                $body
            }
            UnaryKind::Softplus => {
                const $c: UnaryKind = UnaryKind::Softplus;
                $body
            }
        }
    };
}

/// Element count from which the element-wise loops split over rayon (below it the
/// fork/join costs more than it saves).
const PAR_MIN: usize = 1 << 15;
/// Elements per rayon task.
const PAR_CHUNK: usize = 1 << 13;

/// `x ← f(x)` in place: a plain loop over the buffer (rayon-split when large), else ndarray's
/// strided map.
fn map_in_place<T: Float + Send + Sync>(k: UnaryKind, a: &mut ndarray::ArcArray<T, ndarray::IxDyn>) {
    with_const_kind!(k, |K| {
        if let Some(xs) = a.as_slice_memory_order_mut() {
            if xs.len() >= PAR_MIN && rayon::current_num_threads() > 1 {
                xs.par_chunks_mut(PAR_CHUNK).for_each(|c| c.iter_mut().for_each(|x| *x = K.f(*x)));
            } else {
                xs.iter_mut().for_each(|x| *x = K.f(*x));
            }
        } else {
            a.mapv_inplace(|x| K.f(x));
        }
    })
}

/// `g ← g · f'(x, y)` in place.
fn grad_in_place<T: Float + Send + Sync>(
    k: UnaryKind,
    g: &mut ndarray::ArcArray<T, ndarray::IxDyn>,
    x: &ndarray::ArrayViewD<'_, T>,
    y: &ndarray::ArrayViewD<'_, T>,
) {
    with_const_kind!(k, |K| {
        let same_layout = g.is_standard_layout()
            && x.is_standard_layout()
            && y.is_standard_layout()
            && g.shape() == x.shape()
            && g.shape() == y.shape();
        if same_layout {
            if let (Some(gs), Some(xs), Some(ys)) = (g.as_slice_mut(), x.as_slice(), y.as_slice()) {
                if gs.len() >= PAR_MIN && rayon::current_num_threads() > 1 {
                    gs.par_chunks_mut(PAR_CHUNK).zip(xs.par_chunks(PAR_CHUNK)).zip(ys.par_chunks(PAR_CHUNK)).for_each(
                        |((g, x), y)| g.iter_mut().zip(x).zip(y).for_each(|((g, &x), &y)| *g = *g * K.df(x, y)),
                    );
                } else {
                    gs.iter_mut().zip(xs).zip(ys).for_each(|((g, &x), &y)| *g = *g * K.df(x, y));
                }
                return;
            }
        }
        ndarray::Zip::from(g).and(x).and(y).for_each(|g, &x, &y| *g = *g * K.df(x, y))
    })
}

/// An element-wise unary op.
#[derive(Debug, Serialize, Deserialize)]
pub struct Unary {
    /// Which function.
    pub kind: UnaryKind,
}

#[typetag::serde]
impl Op for Unary {
    fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.input(0)?;
        let ok = x.dtype.is_float() || (self.kind.int_ok() && x.dtype.is_numeric());
        if !ok {
            return Err(cx.error(format!("{} is not defined for {} input", self.kind.type_name(), x.dtype)));
        }
        Ok(vec![x.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let k = self.kind;
        let v = cx.take_input(0)?;
        Ok(vec![match v {
            Value::F32(mut a) => {
                map_in_place(k, &mut a);
                Value::F32(a)
            }
            Value::F64(mut a) => {
                map_in_place(k, &mut a);
                Value::F64(a)
            }
            Value::I32(a) => Value::I32(a.mapv(|x| k.fi(x as i64) as i32).into_shared()),
            Value::I64(a) => Value::I64(a.mapv(|x| k.fi(x)).into_shared()),
            v @ (Value::Bool(_) | Value::String(_)) => return Err(cx.error(format!("not defined for {}", v.dtype()))),
        }])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = cx.grad(0) else { return Ok(vec![None]) };
        if self.kind == UnaryKind::Neg {
            return Ok(vec![Some(neg(s, g)?)]);
        }
        let y = cx.output(0);
        // Derivatives that need only y (TF's ReluGrad/TanhGrad/SigmoidGrad read the output):
        // pass y for x too, so x has no reader left and the forward op can run in place.
        let x = if self.kind.df_needs_only_y() { y } else { cx.input(0)? };
        Ok(vec![Some(s.add_op1(
            UnaryGrad { kind: self.kind },
            &[x, y, g],
            &format!("{}Grad", self.kind.type_name()),
        )?)])
    }
}

/// `g · f'(x)` for a unary op, given `x`, `y = f(x)` and `g` (TF's `ReluGrad`, `TanhGrad`, …).
#[derive(Debug, Serialize, Deserialize)]
pub struct UnaryGrad {
    /// Which function's derivative.
    pub kind: UnaryKind,
}

#[typetag::serde]
impl Op for UnaryGrad {
    fn type_name(&self) -> &'static str {
        "UnaryGrad"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        cx.expect_float(0)?;
        Ok(vec![cx.input(2)?.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let k = self.kind;
        let g = cx.take_input(2)?;
        macro_rules! run {
            ($t:ty) => {{
                let x = cx.view::<$t>(0)?;
                let y = cx.view::<$t>(1)?;
                let mut g = g.into_shared::<$t>().map_err(|e| cx.wrap(e))?;
                if g.shape() != x.shape() {
                    return Err(cx.error(format!(
                        "gradient shape {:?} differs from input shape {:?}",
                        g.shape(),
                        x.shape()
                    )));
                }
                grad_in_place(k, &mut g, &x, &y);
                Value::from(g)
            }};
        }
        Ok(vec![match g.dtype() {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            d => return Err(cx.error(format!("expected a float gradient, got {d}"))),
        }])
    }
}

fn unary(s: &Scope, kind: UnaryKind, x: impl IntoInput) -> Result<Tensor> {
    let x = x.into_tensor(s, None)?;
    s.add_op1(Unary { kind }, &[x], kind.type_name())
}

macro_rules! unary_builder {
    ($(#[$doc:meta])* $fn:ident, $kind:ident) => {
        $(#[$doc])*
        pub fn $fn(s: &Scope, x: impl IntoInput) -> Result<Tensor> {
            unary(s, UnaryKind::$kind, x)
        }
    };
}
unary_builder!(/// `-x`. TF1: `tf.negative`.
    neg, Neg);
unary_builder!(/// `|x|`. TF1: `tf.abs`.
    abs, Abs);
unary_builder!(/// `sign(x)`. TF1: `tf.sign`.
    sign, Sign);
unary_builder!(/// `x²`. TF1: `tf.square`.
    square, Square);
unary_builder!(/// `√x`. TF1: `tf.sqrt`.
    sqrt, Sqrt);
unary_builder!(/// `1/√x`. TF1: `tf.rsqrt`.
    rsqrt, Rsqrt);
unary_builder!(/// `eˣ`. TF1: `tf.exp`.
    exp, Exp);
unary_builder!(/// `ln x`. TF1: `tf.log`.
    log, Log);
unary_builder!(/// `ln(1+x)`. TF1: `tf.log1p`.
    log1p, Log1p);
unary_builder!(/// `1/x`. TF1: `tf.reciprocal`.
    reciprocal, Reciprocal);
unary_builder!(/// `tanh x`. TF1: `tf.tanh` / `tf.nn.tanh`.
    tanh, Tanh);
unary_builder!(/// `1/(1+e⁻ˣ)`. TF1: `tf.sigmoid` / `tf.nn.sigmoid`.
    sigmoid, Sigmoid);
unary_builder!(/// `max(x, 0)`. TF1: `tf.nn.relu`.
    relu, Relu);
unary_builder!(/// `ln(1+eˣ)`, computed stably. TF1: `tf.nn.softplus`.
    softplus, Softplus);
