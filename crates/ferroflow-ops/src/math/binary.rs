//! Element-wise binary ops with NumPy broadcasting, table-driven: each row gives the scalar
//! function and its two partial derivatives. Gradients are reduced back to each operand's
//! shape (the sum over broadcast axes).

use crate::array::alloc::KernelAlloc;
use crate::array::broadcast::sum_to_like;
use crate::input::{pair, IntoInput};
use crate::math::unary::neg;
use crate::util::{binary_pooled, broadcast_zip, broadcast_zip3, sum_to_shape};
use ferroflow_core::shape::broadcast_dims;
use ferroflow_core::typetag;
use ferroflow_core::value::checked_len;
use ferroflow_core::{DType, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Tensor, TensorSpec, Value};
use ndarray::{ArrayD, ArrayViewD, IxDyn, Zip};
use num_traits::Float;
use serde::{Deserialize, Serialize};
use std::cell::Cell;

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
    /// `⌊a / b⌋`
    FloorDiv,
    /// `a - ⌊a / b⌋·b` (the sign of `b`)
    FloorMod,
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
            BinaryKind::FloorDiv => "FloorDiv",
            BinaryKind::FloorMod => "FloorMod",
        }
    }

    /// The function on floats.
    #[inline(always)]
    pub fn f<T: Float>(self, a: T, b: T) -> T {
        match self {
            BinaryKind::Add => a + b,
            BinaryKind::Sub => a - b,
            BinaryKind::Mul => a * b,
            BinaryKind::Div => a / b,
            BinaryKind::Maximum => {
                if a >= b {
                    a
                } else {
                    b
                }
            }
            BinaryKind::Minimum => {
                if a <= b {
                    a
                } else {
                    b
                }
            }
            BinaryKind::Pow => a.powf(b),
            BinaryKind::SquaredDifference => (a - b) * (a - b),
            BinaryKind::FloorDiv => (a / b).floor(),
            BinaryKind::FloorMod => {
                let r = a % b;
                if r != T::zero() && ((r < T::zero()) != (b < T::zero())) {
                    r + b
                } else {
                    r
                }
            }
        }
    }

    /// ∂f/∂a.
    #[inline(always)]
    pub fn da<T: Float>(self, a: T, b: T) -> T {
        let (one, zero) = (T::one(), T::zero());
        match self {
            BinaryKind::Add | BinaryKind::Sub => one,
            BinaryKind::Mul => b,
            BinaryKind::Div => one / b,
            BinaryKind::Maximum => {
                if a >= b {
                    one
                } else {
                    zero
                }
            }
            BinaryKind::Minimum => {
                if a <= b {
                    one
                } else {
                    zero
                }
            }
            BinaryKind::Pow => {
                if b == zero {
                    zero
                } else {
                    b * a.powf(b - one)
                }
            }
            BinaryKind::SquaredDifference => (one + one) * (a - b),
            BinaryKind::FloorDiv => zero,
            BinaryKind::FloorMod => one,
        }
    }

    /// ∂f/∂b.
    #[inline(always)]
    pub fn db<T: Float>(self, a: T, b: T) -> T {
        let (one, zero) = (T::one(), T::zero());
        match self {
            BinaryKind::Add => one,
            BinaryKind::Sub => -one,
            BinaryKind::Mul => a,
            BinaryKind::Div => -a / (b * b),
            BinaryKind::Maximum => {
                if a >= b {
                    zero
                } else {
                    one
                }
            }
            BinaryKind::Minimum => {
                if a <= b {
                    zero
                } else {
                    one
                }
            }
            BinaryKind::Pow => {
                if a > zero {
                    a.powf(b) * a.ln()
                } else {
                    zero
                }
            }
            BinaryKind::SquaredDifference => -(one + one) * (a - b),
            BinaryKind::FloorDiv => zero,
            BinaryKind::FloorMod => -(a / b).floor(),
        }
    }
}

/// Why an integer element could not be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IntFault {
    /// `b == 0` in a division or modulo.
    DivByZero,
    /// The exact result does not fit (`MIN / -1`, a power too large).
    Overflow,
    /// An integer to a negative power.
    NegativePower,
}

/// The binary functions on `int32`/`int64`, computed in the type itself. `+ - ·` and the
/// squared difference wrap, as TF's kernels do; division and modulo by zero, `MIN / -1`
/// (undefined in TF's C++) and powers that do not fit are errors; `MIN % -1` is 0.
trait IntBinary: Copy + Default + PartialOrd + std::fmt::Display + ferroflow_core::Element {
    fn apply(k: BinaryKind, a: Self, b: Self) -> std::result::Result<Self, IntFault>;
}

macro_rules! int_binary {
    ($t:ty) => {
        impl IntBinary for $t {
            fn apply(k: BinaryKind, a: Self, b: Self) -> std::result::Result<Self, IntFault> {
                let nonzero = |b: $t| if b == 0 { Err(IntFault::DivByZero) } else { Ok(b) };
                Ok(match k {
                    BinaryKind::Add => a.wrapping_add(b),
                    BinaryKind::Sub => a.wrapping_sub(b),
                    BinaryKind::Mul => a.wrapping_mul(b),
                    BinaryKind::Div => a.checked_div(nonzero(b)?).ok_or(IntFault::Overflow)?,
                    BinaryKind::FloorDiv => {
                        let q = a.checked_div(nonzero(b)?).ok_or(IntFault::Overflow)?;
                        if a.wrapping_rem(b) != 0 && ((a < 0) != (b < 0)) {
                            q.wrapping_sub(1)
                        } else {
                            q
                        }
                    }
                    BinaryKind::FloorMod => {
                        // wrapping_rem gives 0 for MIN % -1 (where `%` would overflow).
                        let r = a.wrapping_rem(nonzero(b)?);
                        if r != 0 && ((r < 0) != (b < 0)) {
                            r.wrapping_add(b)
                        } else {
                            r
                        }
                    }
                    BinaryKind::Maximum => a.max(b),
                    BinaryKind::Minimum => a.min(b),
                    BinaryKind::Pow => {
                        if b < 0 {
                            return Err(IntFault::NegativePower);
                        }
                        match u32::try_from(b) {
                            Ok(e) => a.checked_pow(e).ok_or(IntFault::Overflow)?,
                            // Huge exponents: only 0, 1 and -1 have a representable power.
                            Err(_) => match a {
                                0 | 1 => a,
                                -1 => {
                                    if b % 2 == 0 {
                                        1
                                    } else {
                                        -1
                                    }
                                }
                                _ => return Err(IntFault::Overflow),
                            },
                        }
                    }
                    BinaryKind::SquaredDifference => {
                        let d = a.wrapping_sub(b);
                        d.wrapping_mul(d)
                    }
                })
            }
        }
    };
}
int_binary!(i32);
int_binary!(i64);

/// The run-time message for an integer element that could not be computed.
fn int_fault_message<T: IntBinary>(k: BinaryKind, a: T, b: T, fault: IntFault) -> String {
    let dt = T::DTYPE;
    match (fault, k) {
        (IntFault::DivByZero, BinaryKind::FloorMod) => {
            format!("integer division by zero in the modulo {a} mod {b} ({dt})")
        }
        (IntFault::DivByZero, _) => format!("integer division by zero: {a} / {b} ({dt})"),
        (IntFault::Overflow, BinaryKind::Pow) => format!("integer overflow: {a} ** {b} does not fit in {dt}"),
        (IntFault::Overflow, _) => format!("integer division overflow: {a} / {b} does not fit in {dt}"),
        (IntFault::NegativePower, _) => {
            format!("integers to negative integer powers are not allowed: {a} ** {b} ({dt})")
        }
    }
}

/// The integer kernel: one pass, the first faulty element reported (naming its operands).
fn int_kernel<T: IntBinary>(
    cx: &KernelCtx<'_>,
    k: BinaryKind,
    a: &ArrayViewD<'_, T>,
    b: &ArrayViewD<'_, T>,
) -> Result<Value> {
    let fault: Cell<Option<(T, T, IntFault)>> = Cell::new(None);
    let out = zip_checked(cx, a, b, |p, q| match T::apply(k, p, q) {
        Ok(v) => v,
        Err(f) => {
            if fault.get().is_none() {
                fault.set(Some((p, q, f)));
            }
            T::default()
        }
    })?;
    match fault.get() {
        Some((p, q, f)) => Err(cx.error(int_fault_message(k, p, q, f))),
        None => Ok(T::into_value(out.into_shared())),
    }
}

/// `f` over `a` and `b` with NumPy broadcasting, for kernels. When broadcasting makes the
/// output larger than both operands (`[n, 1]` with `[1, m]`: the one case where operands of
/// modest size can ask for an absurd output), the output is allocated fallibly (an
/// `Error::Allocation` naming the node) and filled in one `Zip` pass; otherwise the shared
/// fast paths of `util::broadcast_zip` run.
pub(crate) fn zip_checked<A: Copy, B: Copy, O: ferroflow_core::Element>(
    cx: &KernelCtx<'_>,
    a: &ArrayViewD<'_, A>,
    b: &ArrayViewD<'_, B>,
    f: impl Fn(A, B) -> O,
) -> Result<ArrayD<O>> {
    let dims = broadcast_dims(a.shape(), b.shape()).map_err(|e| cx.wrap(e))?;
    if checked_len(&dims).is_some_and(|n| n <= a.len().max(b.len())) {
        return broadcast_zip(a, b, f).map_err(|e| cx.wrap(e));
    }
    let mut out = ArrayD::from_shape_vec(IxDyn(&dims), cx.alloc_filled_vec(&dims, O::default())?)
        .map_err(|e| cx.error(e.to_string()))?;
    let err = |s: &[usize]| cx.error(format!("cannot broadcast {s:?} to {dims:?}"));
    let av = a.broadcast(IxDyn(&dims)).ok_or_else(|| err(a.shape()))?;
    let bv = b.broadcast(IxDyn(&dims)).ok_or_else(|| err(b.shape()))?;
    Zip::from(&mut out).and(&av).and(&bv).for_each(|o, &x, &y| *o = f(x, y));
    Ok(out)
}

/// Three-way [`zip_checked`] (`where_`).
pub(crate) fn zip3_checked<A: Copy, B: Copy, C: Copy, O: ferroflow_core::Element>(
    cx: &KernelCtx<'_>,
    a: &ArrayViewD<'_, A>,
    b: &ArrayViewD<'_, B>,
    c: &ArrayViewD<'_, C>,
    f: impl Fn(A, B, C) -> O,
) -> Result<ArrayD<O>> {
    let dims =
        broadcast_dims(a.shape(), b.shape()).and_then(|d| broadcast_dims(&d, c.shape())).map_err(|e| cx.wrap(e))?;
    if checked_len(&dims).is_some_and(|n| n <= a.len().max(b.len()).max(c.len())) {
        return broadcast_zip3(a, b, c, f).map_err(|e| cx.wrap(e));
    }
    let mut out = ArrayD::from_shape_vec(IxDyn(&dims), cx.alloc_filled_vec(&dims, O::default())?)
        .map_err(|e| cx.error(e.to_string()))?;
    let err = |s: &[usize]| cx.error(format!("cannot broadcast {s:?} to {dims:?}"));
    let av = a.broadcast(IxDyn(&dims)).ok_or_else(|| err(a.shape()))?;
    let bv = b.broadcast(IxDyn(&dims)).ok_or_else(|| err(b.shape()))?;
    let cv = c.broadcast(IxDyn(&dims)).ok_or_else(|| err(c.shape()))?;
    Zip::from(&mut out).and(&av).and(&bv).and(&cv).for_each(|o, &x, &y, &z| *o = f(x, y, z));
    Ok(out)
}

/// Runs `$body` with `$c` bound to `$k` as a constant, so `f`/`da`/`db` inline into the loops
/// and their `match` folds away.
macro_rules! with_const_kind {
    ($k:expr, |$c:ident| $body:expr) => {
        match $k {
            BinaryKind::Add => {
                const $c: BinaryKind = BinaryKind::Add;
                $body
            }
            BinaryKind::Sub => {
                const $c: BinaryKind = BinaryKind::Sub;
                $body
            }
            BinaryKind::Mul => {
                const $c: BinaryKind = BinaryKind::Mul;
                $body
            }
            BinaryKind::Div => {
                const $c: BinaryKind = BinaryKind::Div;
                $body
            }
            BinaryKind::Maximum => {
                const $c: BinaryKind = BinaryKind::Maximum;
                $body
            }
            BinaryKind::Minimum => {
                const $c: BinaryKind = BinaryKind::Minimum;
                $body
            }
            BinaryKind::Pow => {
                const $c: BinaryKind = BinaryKind::Pow;
                $body
            }
            BinaryKind::SquaredDifference => {
                const $c: BinaryKind = BinaryKind::SquaredDifference;
                $body
            }
            BinaryKind::FloorDiv => {
                const $c: BinaryKind = BinaryKind::FloorDiv;
                $body
            }
            BinaryKind::FloorMod => {
                const $c: BinaryKind = BinaryKind::FloorMod;
                $body
            }
        }
    };
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
    let shape = a.shape.broadcast(&b.shape).map_err(|_| {
        cx.error(format!("incompatible shapes {} and {} cannot be broadcast together", a.shape, b.shape))
    })?;
    shape.checked_byte_size(a.dtype).map_err(|e| {
        cx.error(format!("broadcasting {} and {} gives a shape that cannot exist: {e}", a.shape, b.shape))
    })?;
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
        match (cx.input(0)?.dtype(), cx.input(1)?.dtype()) {
            (DType::F32, DType::F32) => {
                return with_const_kind!(k, |K| binary_pooled::<f32>(cx, |p, q| K.f(p, q))).map(|v| vec![v])
            }
            (DType::F64, DType::F64) => {
                return with_const_kind!(k, |K| binary_pooled::<f64>(cx, |p, q| K.f(p, q))).map(|v| vec![v])
            }
            _ => {}
        }
        let (a, b) = (cx.input(0)?, cx.input(1)?);
        let out = match (a, b) {
            (Value::F32(x), Value::F32(y)) => {
                with_const_kind!(k, |K| Value::from(zip_checked(cx, &x.view(), &y.view(), |p, q| K.f(p, q))?))
            }
            (Value::F64(x), Value::F64(y)) => {
                with_const_kind!(k, |K| Value::from(zip_checked(cx, &x.view(), &y.view(), |p, q| K.f(p, q))?))
            }
            (Value::I32(x), Value::I32(y)) => int_kernel(cx, k, &x.view(), &y.view())?,
            (Value::I64(x), Value::I64(y)) => int_kernel(cx, k, &x.view(), &y.view())?,
            (a, b) => return Err(cx.error(format!("unsupported operand dtypes {} and {}", a.dtype(), b.dtype()))),
        };
        Ok(vec![out])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = cx.grad(0) else { return Ok(vec![None, None]) };
        let (a, b) = (cx.input(0)?, cx.input(1)?);
        match self.kind {
            // As TF: floor division is piecewise constant, no gradient flows.
            BinaryKind::FloorDiv => Ok(vec![None, None]),
            BinaryKind::Add => Ok(vec![Some(sum_to_like(s, g, a)?), Some(sum_to_like(s, g, b)?)]),
            BinaryKind::Sub => Ok(vec![Some(sum_to_like(s, g, a)?), Some(neg(s, sum_to_like(s, g, b)?)?)]),
            k => {
                let ga =
                    s.add_op1(BinaryGrad { kind: k, wrt_b: false }, &[a, b, g], &format!("{}GradA", k.type_name()))?;
                let gb =
                    s.add_op1(BinaryGrad { kind: k, wrt_b: true }, &[a, b, g], &format!("{}GradB", k.type_name()))?;
                Ok(vec![Some(ga), Some(gb)])
            }
        }
    }
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
                if let Some(out) = with_const_kind!(k, |K| block_grad(K, wrt_b, &a, &b, &g)) {
                    return Ok(vec![Value::from(out)]);
                }
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
}

/// The fused gradient when each operand is either full-shape or a trailing block repeated over
/// the leading axes (the batch-norm pattern: NHWC activations with per-channel vectors), all
/// contiguous: one pass over `g`, accumulating straight into the per-channel result instead of
/// materializing `g · ∂f` at full size and summing it down. `None` = use the general path.
fn block_grad<T: Float>(
    k: BinaryKind,
    wrt_b: bool,
    a: &ndarray::ArrayViewD<'_, T>,
    b: &ndarray::ArrayViewD<'_, T>,
    g: &ndarray::ArrayViewD<'_, T>,
) -> Option<ndarray::ArrayD<T>> {
    let (xs, ys, gs) = (a.as_slice()?, b.as_slice()?, g.as_slice()?);
    let n = gs.len();
    let period = |v: &ndarray::ArrayViewD<'_, T>| {
        if v.shape() == g.shape() {
            Some(n)
        } else if crate::util::is_trailing_block(v.shape(), g.shape()) {
            Some(v.len())
        } else {
            None
        }
    };
    let (pa, pb) = (period(a)?, period(b)?);
    // One block size: the non-full operand's (both full: the whole array).
    let p = match (pa == n, pb == n) {
        (true, true) => n,
        (true, false) => pb,
        (false, true) => pa,
        (false, false) => return None,
    };
    if p < 2 || n % p != 0 {
        return None;
    }
    let target = if wrt_b { b } else { a };
    let d = |x: T, y: T| if wrt_b { k.db(x, y) } else { k.da(x, y) };
    let data: Vec<T> = if target.len() == n {
        let mut out = Vec::with_capacity(n);
        for (i, gc) in gs.chunks_exact(p).enumerate() {
            let xc = if pa == n { &xs[i * p..(i + 1) * p] } else { xs };
            let yc = if pb == n { &ys[i * p..(i + 1) * p] } else { ys };
            out.extend(gc.iter().zip(xc).zip(yc).map(|((&g, &x), &y)| g * d(x, y)));
        }
        out
    } else {
        let mut acc = vec![T::zero(); p];
        for (i, gc) in gs.chunks_exact(p).enumerate() {
            let xc = if pa == n { &xs[i * p..(i + 1) * p] } else { xs };
            let yc = if pb == n { &ys[i * p..(i + 1) * p] } else { ys };
            for (((o, &g), &x), &y) in acc.iter_mut().zip(gc).zip(xc).zip(yc) {
                *o = *o + g * d(x, y);
            }
        }
        acc
    };
    ndarray::ArrayD::from_shape_vec(target.raw_dim(), data).ok()
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
binary_builder!(/// `a / b`. TF1: `tf.divide` / `tf.realdiv`. Integers divide truncating toward zero;
    /// division by zero and `MIN / -1` (whose result does not fit; undefined in TF's C++ kernel)
    /// are run-time errors naming the node and the operands.
    div, Div);
binary_builder!(/// `⌊a / b⌋`. TF1: `tf.floordiv` (Python's `//`). Integers round toward −∞; division
    /// by zero and `MIN / -1` are run-time errors naming the node. No gradient (as TF).
    floordiv, FloorDiv);
binary_builder!(/// `a - ⌊a / b⌋·b`, with the sign of `b`. TF1: `tf.floormod` / `tf.mod` (Python's
    /// `%`). Integer modulo by zero is a run-time error; `MIN mod -1` is 0, the mathematical
    /// result (TF's C++ kernel leaves it undefined). Gradient (TF's): `g` for `a`,
    /// `-⌊a / b⌋·g` for `b`.
    floormod, FloorMod);
binary_builder!(/// `max(a, b)`. TF1: `tf.maximum` (ties send the gradient to `a`).
    maximum, Maximum);
binary_builder!(/// `min(a, b)`. TF1: `tf.minimum`.
    minimum, Minimum);
binary_builder!(/// `aᵇ`. TF1: `tf.pow`. Integer powers that do not fit, and negative integer
    /// exponents, are run-time errors.
    pow, Pow);
binary_builder!(/// `(a - b)²`. TF1: `tf.squared_difference`.
    squared_difference, SquaredDifference);
