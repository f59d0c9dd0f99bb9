//! Comparisons (`equal`, `less`, …) and logical ops with NumPy broadcasting, giving `bool`
//! tensors; `where_` (TF's `SelectV2`) picks from two tensors by a `bool` condition.
//!
//! None of the comparisons or logical ops has a gradient (their outputs are `bool`);
//! `where_` sends the gradient to the branch each element came from and none to the condition.

use crate::input::{pair, IntoInput};
use crate::math::binary::{infer_broadcast, zip3_checked, zip_checked};
use crate::util::{broadcast_zip, sum_to_shape};
use ferroflow_core::typetag;
use ferroflow_core::{DType, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Tensor, TensorSpec, Value};
use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

/// The comparison functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareKind {
    /// `a == b`
    Equal,
    /// `a != b`
    NotEqual,
    /// `a < b`
    Less,
    /// `a <= b`
    LessEqual,
    /// `a > b`
    Greater,
    /// `a >= b`
    GreaterEqual,
}

impl CompareKind {
    /// TF op type name.
    pub fn type_name(self) -> &'static str {
        match self {
            CompareKind::Equal => "Equal",
            CompareKind::NotEqual => "NotEqual",
            CompareKind::Less => "Less",
            CompareKind::LessEqual => "LessEqual",
            CompareKind::Greater => "Greater",
            CompareKind::GreaterEqual => "GreaterEqual",
        }
    }

    /// The comparison (IEEE rules for floats: every comparison with NaN is false but `!=`).
    pub fn f<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CompareKind::Equal => a == b,
            CompareKind::NotEqual => a != b,
            CompareKind::Less => a < b,
            CompareKind::LessEqual => a <= b,
            CompareKind::Greater => a > b,
            CompareKind::GreaterEqual => a >= b,
        }
    }

    /// True for `Equal`/`NotEqual`, the only comparisons defined on `bool`.
    fn bool_ok(self) -> bool {
        matches!(self, CompareKind::Equal | CompareKind::NotEqual)
    }
}

/// An element-wise comparison with broadcasting; the output is `bool`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Compare {
    /// Which comparison.
    pub kind: CompareKind,
}

#[typetag::serde]
impl Op for Compare {
    fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let spec = infer_broadcast(cx)?;
        if spec.dtype == DType::Bool && !self.kind.bool_ok() {
            return Err(cx.error(format!(
                "{} is not defined for bool operands; only equal/not_equal are",
                self.kind.type_name()
            )));
        }
        Ok(vec![TensorSpec::new(DType::Bool, spec.shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let k = self.kind;
        let (a, b) = (cx.input(0)?, cx.input(1)?);
        let r: Result<ArrayD<bool>> = match (a, b) {
            (Value::F32(x), Value::F32(y)) => zip_checked(cx, &x.view(), &y.view(), |p, q| k.f(p, q)),
            (Value::F64(x), Value::F64(y)) => zip_checked(cx, &x.view(), &y.view(), |p, q| k.f(p, q)),
            (Value::I32(x), Value::I32(y)) => zip_checked(cx, &x.view(), &y.view(), |p, q| k.f(p, q)),
            (Value::I64(x), Value::I64(y)) => zip_checked(cx, &x.view(), &y.view(), |p, q| k.f(p, q)),
            (Value::Bool(x), Value::Bool(y)) if k.bool_ok() => zip_checked(cx, &x.view(), &y.view(), |p, q| k.f(p, q)),
            (a, b) => return Err(cx.error(format!("unsupported operand dtypes {} and {}", a.dtype(), b.dtype()))),
        };
        Ok(vec![Value::from(r.map_err(|e| cx.wrap(e))?)])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None, None])
    }
}

fn compare(s: &Scope, kind: CompareKind, a: impl IntoInput, b: impl IntoInput) -> Result<Tensor> {
    let (a, b) = pair(s, a, b)?;
    s.add_op1(Compare { kind }, &[a, b], kind.type_name())
}

macro_rules! compare_builder {
    ($(#[$doc:meta])* $fn:ident, $kind:ident) => {
        $(#[$doc])*
        ///
        /// # Shapes
        /// NumPy broadcasting of `a` and `b` (`[2, 3]` with `[3]` gives `[2, 3]`); the output is `bool`.
        ///
        /// # Errors
        /// Different dtypes, shapes that cannot broadcast, or (for the ordering comparisons)
        /// `bool` operands: build errors naming both operands.
        pub fn $fn(s: &Scope, a: impl IntoInput, b: impl IntoInput) -> Result<Tensor> {
            compare(s, CompareKind::$kind, a, b)
        }
    };
}
compare_builder!(
    /// `a == b`, element-wise. TF1: `tf.equal`.
    ///
    /// ```
    /// use ferroflow_core::{Graph, Value};
    /// use ferroflow_ops::{constant, math};
    /// use ferroflow_session::Session;
    /// let g = Graph::new();
    /// let s = g.root();
    /// let a = constant(&s, vec![1i64, 2, 3]).unwrap();
    /// let eq = math::equal(&s, a, 2i64).unwrap();
    /// let out = Session::new(&g).run([eq], &[]).unwrap();
    /// assert_eq!(out[0].to_vec::<bool>().unwrap(), vec![false, true, false]);
    /// ```
    equal, Equal);
compare_builder!(/// `a != b`, element-wise. TF1: `tf.not_equal`.
    not_equal, NotEqual);
compare_builder!(/// `a < b`, element-wise. TF1: `tf.less`.
    less, Less);
compare_builder!(/// `a <= b`, element-wise. TF1: `tf.less_equal`.
    less_equal, LessEqual);
compare_builder!(/// `a > b`, element-wise. TF1: `tf.greater`.
    greater, Greater);
compare_builder!(/// `a >= b`, element-wise. TF1: `tf.greater_equal`.
    greater_equal, GreaterEqual);

/// Element-wise logical `and` / `or` of two `bool` tensors with broadcasting
/// (TF1 `LogicalAnd`, `LogicalOr`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Logical {
    /// `or` (else `and`).
    pub or: bool,
}

#[typetag::serde]
impl Op for Logical {
    fn type_name(&self) -> &'static str {
        if self.or {
            "LogicalOr"
        } else {
            "LogicalAnd"
        }
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        cx.expect_dtype(0, DType::Bool)?;
        cx.expect_dtype(1, DType::Bool)?;
        Ok(vec![infer_broadcast(cx)?])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let (a, b) = (cx.view::<bool>(0)?, cx.view::<bool>(1)?);
        let or = self.or;
        let r = zip_checked(cx, &a, &b, |p, q| if or { p || q } else { p && q })?;
        Ok(vec![Value::from(r)])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None, None])
    }
}

/// Element-wise logical negation of a `bool` tensor (TF1 `LogicalNot`).
#[derive(Debug, Serialize, Deserialize)]
pub struct LogicalNot;

#[typetag::serde]
impl Op for LogicalNot {
    fn type_name(&self) -> &'static str {
        "LogicalNot"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        Ok(vec![cx.expect_dtype(0, DType::Bool)?.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let mut a = cx.take_input(0)?.into_shared::<bool>().map_err(|e| cx.wrap(e))?;
        a.mapv_inplace(|x| !x);
        Ok(vec![Value::Bool(a)])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None])
    }
}

/// `a ∧ b`, element-wise with broadcasting. TF1: `tf.logical_and`.
///
/// # Shapes
/// NumPy broadcasting of `a` and `b`.
///
/// # Errors
/// A non-`bool` operand or shapes that cannot broadcast (build errors).
pub fn logical_and(s: &Scope, a: impl IntoInput, b: impl IntoInput) -> Result<Tensor> {
    let (a, b) = pair(s, a, b)?;
    s.add_op1(Logical { or: false }, &[a, b], "LogicalAnd")
}

/// `a ∨ b`, element-wise with broadcasting. TF1: `tf.logical_or`.
///
/// # Shapes
/// NumPy broadcasting of `a` and `b`.
///
/// # Errors
/// A non-`bool` operand or shapes that cannot broadcast (build errors).
pub fn logical_or(s: &Scope, a: impl IntoInput, b: impl IntoInput) -> Result<Tensor> {
    let (a, b) = pair(s, a, b)?;
    s.add_op1(Logical { or: true }, &[a, b], "LogicalOr")
}

/// `¬x`, element-wise. TF1: `tf.logical_not`.
///
/// # Shapes
/// Same as `x`.
///
/// # Errors
/// A non-`bool` input (build error).
pub fn logical_not(s: &Scope, x: impl IntoInput) -> Result<Tensor> {
    let x = x.into_tensor(s, Some(DType::Bool))?;
    s.add_op1(LogicalNot, &[x], "LogicalNot")
}

/// `cond ? x : y`, element-wise with broadcasting of all three (TF1 `SelectV2`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Select;

#[typetag::serde]
impl Op for Select {
    fn type_name(&self) -> &'static str {
        "SelectV2"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let c = cx.expect_dtype(0, DType::Bool)?;
        let (x, y) = (cx.input(1)?, cx.input(2)?);
        if x.dtype != y.dtype {
            return Err(cx.error(format!(
                "x and y must have the same dtype, got {} {} and {} {}; cast one with cast()",
                x.dtype, x.shape, y.dtype, y.shape
            )));
        }
        let shape = c.shape.broadcast(&x.shape).and_then(|s| s.broadcast(&y.shape)).map_err(|_| {
            cx.error(format!("condition {}, x {} and y {} cannot be broadcast together", c.shape, x.shape, y.shape))
        })?;
        shape.checked_byte_size(x.dtype).map_err(|e| {
            cx.error(format!(
                "condition {}, x {} and y {} broadcast to a shape that cannot exist: {e}",
                c.shape, x.shape, y.shape
            ))
        })?;
        Ok(vec![TensorSpec::new(x.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let c = cx.view::<bool>(0)?;
        let (x, y) = (cx.input(1)?, cx.input(2)?);
        let out = match (x, y) {
            (Value::F32(x), Value::F32(y)) => zip3_checked(cx, &c, &x.view(), &y.view(), pick).map(Value::from),
            (Value::F64(x), Value::F64(y)) => zip3_checked(cx, &c, &x.view(), &y.view(), pick).map(Value::from),
            (Value::I32(x), Value::I32(y)) => zip3_checked(cx, &c, &x.view(), &y.view(), pick).map(Value::from),
            (Value::I64(x), Value::I64(y)) => zip3_checked(cx, &c, &x.view(), &y.view(), pick).map(Value::from),
            (Value::Bool(x), Value::Bool(y)) => zip3_checked(cx, &c, &x.view(), &y.view(), pick).map(Value::from),
            (x, y) => return Err(cx.error(format!("x and y have different dtypes {} and {}", x.dtype(), y.dtype()))),
        };
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = cx.grad(0) else { return Ok(vec![None, None, None]) };
        if !g.dtype(s)?.is_float() {
            return Ok(vec![None, None, None]);
        }
        let c = cx.input(0)?;
        let gx = s.add_op1(SelectGrad { wrt_y: false }, &[c, cx.input(1)?, g], "SelectGradX")?;
        let gy = s.add_op1(SelectGrad { wrt_y: true }, &[c, cx.input(2)?, g], "SelectGradY")?;
        Ok(vec![None, Some(gx), Some(gy)])
    }
}

fn pick<T>(c: bool, x: T, y: T) -> T {
    if c {
        x
    } else {
        y
    }
}

/// The gradient of `where_` for `x` (or `y`): `g` where the condition chose that side, zero
/// elsewhere, summed down to the side's run-time shape. Inputs: `cond`, `like`, `g`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SelectGrad {
    /// Gradient for `y` (the `false` side); else for `x`.
    pub wrt_y: bool,
}

#[typetag::serde]
impl Op for SelectGrad {
    fn type_name(&self) -> &'static str {
        "SelectGrad"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        cx.expect_dtype(0, DType::Bool)?;
        let g = cx.expect_float(2)?;
        Ok(vec![TensorSpec::new(g.dtype, cx.input(1)?.shape.clone())])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let want = !self.wrt_y;
        let target = cx.input(1)?.shape().to_vec();
        let c = cx.view::<bool>(0)?;
        macro_rules! run {
            ($t:ty) => {{
                let g = cx.view::<$t>(2)?;
                let full = broadcast_zip(&c, &g, |c, g| if c == want { g } else { 0.0 }).map_err(|e| cx.wrap(e))?;
                Value::from(sum_to_shape(full, &target).map_err(|e| cx.wrap(e))?)
            }};
        }
        Ok(vec![match cx.input(2)?.dtype() {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            d => return Err(cx.error(format!("expected a float gradient, got {d}"))),
        }])
    }
}

/// `cond ? x : y`, element-wise. TF1: `tf.where_v2(cond, x, y)` (TF1's `tf.where` with `x`
/// and `y` when the shapes match; this version also broadcasts).
///
/// Gradient: `g` goes to `x` where `cond` is true and to `y` where it is false (each summed
/// over its broadcast axes); none to `cond`.
///
/// # Shapes
/// NumPy broadcasting of `cond`, `x` and `y`: `[?, 1]`, `[?, 3]`, `[]` give `[?, 3]`.
///
/// # Errors
/// `cond` not `bool`, `x` and `y` of different dtypes, or shapes that cannot broadcast.
///
/// ```
/// use ferroflow_core::Graph;
/// use ferroflow_ops::{constant, math};
/// use ferroflow_session::Session;
/// let g = Graph::new();
/// let s = g.root();
/// let x = constant(&s, vec![-1.0f32, 2.0, -3.0]).unwrap();
/// let pos = math::greater(&s, x, 0.0f32).unwrap();
/// let y = math::where_(&s, pos, x, 0.0f32).unwrap(); // relu
/// let out = Session::new(&g).run([y], &[]).unwrap();
/// assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![0.0, 2.0, 0.0]);
/// ```
pub fn where_(s: &Scope, cond: impl IntoInput, x: impl IntoInput, y: impl IntoInput) -> Result<Tensor> {
    let c = cond.into_tensor(s, Some(DType::Bool))?;
    let (x, y) = pair(s, x, y)?;
    s.add_op1(Select, &[c, x, y], "SelectV2")
}
