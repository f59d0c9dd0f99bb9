//! Element-wise unary ops, table-driven: each row gives the scalar function and its
//! derivative (in terms of input `x` and output `y`), one line each.

use crate::input::IntoInput;
use ferroflow_core::typetag;
use ferroflow_core::{DType, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Tensor, TensorSpec, Value};
use num_traits::Float;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Declares the unary family: one row per function gives its variant, builder, TF op type,
/// doc line, `f(x)`, the derivative `df(x, y)` (`y = f(x)`), whether the derivative reads only
/// `y` (then the forward op can run in place), and the integer version where TF defines one.
/// Adding a unary op is one row here (plus its row in `docs/ops/math.md`).
macro_rules! unary_family {
    ($(
        $(#[$doc:meta])*
        $variant:ident => $builder:ident, $tf:literal,
            f: |$x:ident| $f:expr,
            df: |$dx:ident, $dy:ident| $df:expr,
            only_y: $only_y:literal,
            int: $(|$ix:ident| $int:expr)? ;
    )*) => {
        /// The unary functions.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum UnaryKind {
            $( $(#[$doc])* $variant, )*
        }

        impl UnaryKind {
            /// Every unary function, in table order.
            pub const ALL: &'static [UnaryKind] = &[$(UnaryKind::$variant),*];

            /// TF op type name.
            pub fn type_name(self) -> &'static str {
                match self {
                    $(UnaryKind::$variant => $tf,)*
                }
            }

            /// The function.
            #[inline(always)]
            pub fn f<T: Float>(self, x: T) -> T {
                match self {
                    $(UnaryKind::$variant => { let $x = x; $f })*
                }
            }

            /// The derivative dy/dx given `x` and `y = f(x)`.
            #[inline(always)]
            pub fn df<T: Float>(self, x: T, y: T) -> T {
                match self {
                    $(UnaryKind::$variant => { let ($dx, $dy) = (x, y); let _ = (&$dx, &$dy); $df })*
                }
            }

            /// True when `df(x, y)` equals `df(y, y)`: the derivative reads only the output (ReLU:
            /// `x > 0` exactly when `relu(x) > 0`).
            fn df_needs_only_y(self) -> bool {
                match self {
                    $(UnaryKind::$variant => $only_y,)*
                }
            }

            /// The integer version (as i64), where TF defines the op on integers.
            fn int_fn(self) -> Option<fn(i64) -> i64> {
                match self {
                    $(UnaryKind::$variant => unary_family!(@int $(|$ix| $int)?),)*
                }
            }
        }

        /// Runs `$body` with `$c` bound to `$k` as a constant, so `f`/`df` inline into the loop
        /// and their `match` folds away (one loop per kind instead of a match per element).
        macro_rules! with_const_kind {
            ($k:expr, |$c:ident| $body:expr) => {
                match $k {
                    $(UnaryKind::$variant => {
                        const $c: UnaryKind = UnaryKind::$variant;
                        $body
                    })*
                }
            };
        }

        $(
            $(#[$doc])*
            pub fn $builder(s: &Scope, x: impl IntoInput) -> Result<Tensor> {
                unary_op(s, UnaryKind::$variant, x)
            }
        )*
    };
    (@int) => { None };
    (@int |$ix:ident| $int:expr) => { Some(|$ix: i64| -> i64 { $int }) };
}

fn one<T: Float>() -> T {
    T::one()
}
fn zero<T: Float>() -> T {
    T::zero()
}
fn two<T: Float>() -> T {
    T::one() + T::one()
}
/// `1` above 0, `-1` below, `0` at 0 (and NaN stays NaN).
fn signum0<T: Float>(x: T) -> T {
    if x > zero() {
        one()
    } else if x < zero() {
        -one::<T>()
    } else {
        zero()
    }
}
/// `1/(1+e⁻ˣ)` without overflow for large |x|.
fn stable_sigmoid<T: Float>(x: T) -> T {
    if x >= zero() {
        one::<T>() / (one::<T>() + (-x).exp())
    } else {
        let e = x.exp();
        e / (one::<T>() + e)
    }
}
fn six<T: Float>() -> T {
    T::from(6.0).unwrap_or_else(T::max_value)
}
fn step<T: Float>(x: T) -> T {
    if x > zero() {
        one()
    } else {
        zero()
    }
}

unary_family! {
    /// `-x`. TF1: `tf.negative`.
    Neg => neg, "Neg", f: |x| -x, df: |_x, _y| -one::<T>(), only_y: false, int: |x| x.wrapping_neg();
    /// `|x|`. TF1: `tf.abs`.
    Abs => abs, "Abs", f: |x| x.abs(), df: |x, _y| signum0(x), only_y: false, int: |x| x.wrapping_abs();
    /// `sign(x)` (0 at 0). TF1: `tf.sign`.
    Sign => sign, "Sign", f: |x| signum0(x), df: |_x, _y| zero(), only_y: false, int: |x| x.signum();
    /// `x²`. TF1: `tf.square`.
    Square => square, "Square", f: |x| x * x, df: |x, _y| two::<T>() * x, only_y: false, int: |x| x.wrapping_mul(x);
    /// `√x`. TF1: `tf.sqrt`.
    Sqrt => sqrt, "Sqrt", f: |x| x.sqrt(), df: |_x, y| one::<T>() / (two::<T>() * y), only_y: true, int: ;
    /// `1/√x`. TF1: `tf.rsqrt`.
    Rsqrt => rsqrt, "Rsqrt", f: |x| one::<T>() / x.sqrt(), df: |_x, y| -y * y * y / two(), only_y: true, int: ;
    /// `eˣ`. TF1: `tf.exp`.
    Exp => exp, "Exp", f: |x| x.exp(), df: |_x, y| y, only_y: true, int: ;
    /// `ln x`. TF1: `tf.log`.
    Log => log, "Log", f: |x| x.ln(), df: |x, _y| one::<T>() / x, only_y: false, int: ;
    /// `ln(1+x)`. TF1: `tf.log1p`.
    Log1p => log1p, "Log1p", f: |x| x.ln_1p(), df: |x, _y| one::<T>() / (one::<T>() + x), only_y: false, int: ;
    /// `1/x`. TF1: `tf.reciprocal`.
    Reciprocal => reciprocal, "Reciprocal", f: |x| one::<T>() / x, df: |_x, y| -y * y, only_y: true, int: ;
    /// `tanh x`. TF1: `tf.tanh` / `tf.nn.tanh`.
    Tanh => tanh, "Tanh", f: |x| x.tanh(), df: |_x, y| one::<T>() - y * y, only_y: true, int: ;
    /// `1/(1+e⁻ˣ)`. TF1: `tf.sigmoid` / `tf.nn.sigmoid`.
    Sigmoid => sigmoid, "Sigmoid", f: |x| stable_sigmoid(x), df: |_x, y| y * (one::<T>() - y), only_y: true, int: ;
    /// `max(x, 0)`. TF1: `tf.nn.relu`.
    Relu => relu, "Relu", f: |x| if x > zero() { x } else { zero() }, df: |x, _y| step(x), only_y: true, int: |x| x.max(0);
    /// `min(max(x, 0), 6)`. TF1: `tf.nn.relu6`.
    Relu6 => relu6, "Relu6", f: |x| x.max(zero()).min(six()), df: |x, _y| step(x) * step(six::<T>() - x), only_y: true, int: |x| x.clamp(0, 6);
    /// `ln(1+eˣ)`, computed stably. TF1: `tf.nn.softplus`.
    Softplus => softplus, "Softplus", f: |x| x.max(zero()) + (-x.abs()).exp().ln_1p(), df: |x, _y| stable_sigmoid(x), only_y: false, int: ;
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
        let ok = x.dtype.is_float() || (self.kind.int_fn().is_some() && x.dtype.is_numeric());
        if !ok {
            return Err(cx.error(format!("{} is not defined for {} input", self.kind.type_name(), x.dtype)));
        }
        Ok(vec![x.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let k = self.kind;
        // In place when this node is the input's last reader, else into a pooled buffer.
        match cx.input(0)?.dtype() {
            DType::F32 => {
                let mut a = cx.output_like::<f32>(0)?;
                map_in_place(k, &mut a);
                return Ok(vec![Value::F32(a)]);
            }
            DType::F64 => {
                let mut a = cx.output_like::<f64>(0)?;
                map_in_place(k, &mut a);
                return Ok(vec![Value::F64(a)]);
            }
            _ => {}
        }
        let v = cx.take_input(0)?;
        Ok(vec![match v {
            v @ (Value::F32(_) | Value::F64(_)) => v,
            Value::I32(a) => {
                let fi = k.int_fn().ok_or_else(|| cx.error("not defined for int32"))?;
                Value::I32(a.mapv(|x| fi(x as i64) as i32).into_shared())
            }
            Value::I64(a) => {
                let fi = k.int_fn().ok_or_else(|| cx.error("not defined for int64"))?;
                Value::I64(a.mapv(fi).into_shared())
            }
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
        let dtype = cx.input(2)?.dtype();
        macro_rules! run {
            ($t:ty) => {{
                let mut g = cx.output_like::<$t>(2)?;
                let x = cx.view::<$t>(0)?;
                let y = cx.view::<$t>(1)?;
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
        Ok(vec![match dtype {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            d => return Err(cx.error(format!("expected a float gradient, got {d}"))),
        }])
    }
}

/// The unary op `kind` on `x` (the builders `neg`, `relu`, … call this).
pub fn unary_op(s: &Scope, kind: UnaryKind, x: impl IntoInput) -> Result<Tensor> {
    let x = x.into_tensor(s, None)?;
    s.add_op1(Unary { kind }, &[x], kind.type_name())
}

#[cfg(test)]
mod tests {
    use super::UnaryKind;

    /// Each function against an independent f64 reference, at points of its domain.
    fn reference(k: UnaryKind, x: f64) -> f64 {
        match k {
            UnaryKind::Neg => -x,
            UnaryKind::Abs => x.abs(),
            UnaryKind::Sign => {
                if x == 0.0 {
                    0.0
                } else {
                    x.signum()
                }
            }
            UnaryKind::Square => x.powi(2),
            UnaryKind::Sqrt => x.powf(0.5),
            UnaryKind::Rsqrt => x.powf(-0.5),
            UnaryKind::Exp => std::f64::consts::E.powf(x),
            UnaryKind::Log => x.ln(),
            UnaryKind::Log1p => (1.0 + x).ln(),
            UnaryKind::Reciprocal => x.powi(-1),
            UnaryKind::Tanh => (x.exp() - (-x).exp()) / (x.exp() + (-x).exp()),
            UnaryKind::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            UnaryKind::Relu => x.max(0.0),
            UnaryKind::Relu6 => x.clamp(0.0, 6.0),
            UnaryKind::Softplus => (1.0 + x.exp()).ln(),
        }
    }

    /// Sample points inside each function's domain, away from kinks (0 for abs/relu/sign).
    fn points(k: UnaryKind) -> Vec<f64> {
        match k {
            UnaryKind::Sqrt | UnaryKind::Rsqrt | UnaryKind::Log => vec![0.3, 1.0, 2.5, 7.0],
            UnaryKind::Log1p => vec![-0.5, 0.2, 1.0, 4.0],
            UnaryKind::Relu6 => vec![-2.5, 0.4, 3.0, 5.5, 7.5],
            _ => vec![-2.5, -0.7, 0.4, 1.3, 3.0],
        }
    }

    #[test]
    fn every_function_matches_its_reference() {
        for &k in UnaryKind::ALL {
            for x in points(k) {
                let (got, want) = (k.f(x), reference(k, x));
                assert!((got - want).abs() <= 1e-12 * want.abs().max(1.0), "{k:?}({x}) = {got}, want {want}");
                let got32 = k.f(x as f32) as f64;
                assert!((got32 - want).abs() <= 1e-5 * want.abs().max(1.0), "{k:?}({x}) in f32 = {got32}");
            }
        }
    }

    #[test]
    fn every_derivative_matches_central_differences() {
        for &k in UnaryKind::ALL {
            for x in points(k) {
                let h = 1e-6;
                let numeric = (k.f(x + h) - k.f(x - h)) / (2.0 * h);
                let y = k.f(x);
                let analytic = k.df(x, y);
                assert!(
                    (analytic - numeric).abs() <= 1e-6 * numeric.abs().max(1.0),
                    "{k:?}'({x}) = {analytic}, numeric {numeric}"
                );
                if k.df_needs_only_y() {
                    assert_eq!(k.df(y, y), analytic, "{k:?} claims its derivative reads only y");
                }
            }
        }
    }

    #[test]
    fn integer_versions_agree_with_the_float_ones() {
        for &k in UnaryKind::ALL {
            let Some(fi) = k.int_fn() else { continue };
            for x in [-7i64, -1, 0, 1, 5] {
                assert_eq!(fi(x) as f64, k.f(x as f64), "{k:?}({x}) on integers");
            }
        }
    }

    #[test]
    fn large_inputs_stay_finite_where_the_function_is() {
        // The stable forms: sigmoid and softplus must not overflow to NaN.
        for x in [-800.0f64, 800.0] {
            assert!(UnaryKind::Sigmoid.f(x).is_finite());
            assert!(UnaryKind::Softplus.f(x).is_finite());
            assert!(UnaryKind::Softplus.df(x, UnaryKind::Softplus.f(x)).is_finite());
        }
        assert_eq!(UnaryKind::Softplus.f(800.0f64), 800.0);
    }
}
