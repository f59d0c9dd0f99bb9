//! Reductions over axes: `reduce_sum`, `reduce_mean`, `reduce_max`, `reduce_min`,
//! `reduce_prod` (with `keep_dims`), their single-pass kernels and their gradients.
//!
//! The kernels first simplify the reduction: dims of size 1 are dropped and neighbouring dims
//! that are all reduced (or all kept) are merged, so reducing an NHWC tensor `[N, H, W, C]` over
//! `[0, 1, 2]` becomes `[R = N·H·W (reduced), C (kept)]`. The input is then walked once in
//! memory order, in contiguous runs: a kept run is added element-wise into the output row, a
//! reduced run is folded into one output element. Large inputs are split over rayon threads
//! (by output rows when the leading group is kept, by blocks of input rows with per-block
//! partials when it is reduced; the partials also keep `f32` sums accurate).

use crate::array::fill::ones_like;
use crate::input::IntoInput;
use crate::math::binary::mul;
use ferroflow_core::typetag;
use ferroflow_core::{
    DType, Element, Error, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value,
};
use ndarray::ArrayViewD;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

// ---------------------------------------------------------------------------------------------
// Element support shared by the reduction, softmax, norm and loss kernels.

/// A numeric element the reduction kernels work on (`f32`, `f64`, `i32`, `i64`).
pub(crate) trait Num: Element + PartialOrd {
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Identity of `max` (−∞ for floats, the minimum for integers).
    const LOWEST: Self;
    /// Identity of `min`.
    const HIGHEST: Self;
    /// `a + b` (wrapping for integers, as TF).
    fn add(self, b: Self) -> Self;
    /// `a · b` (wrapping for integers).
    fn mul(self, b: Self) -> Self;
    /// True for a float NaN.
    fn is_nan(self) -> bool;
    /// `self / n` (integer division for integers; 0 for `n = 0`).
    fn div_count(self, n: usize) -> Self;
    /// `max` that propagates NaN.
    #[inline]
    fn max_nan(self, b: Self) -> Self {
        if b > self || b.is_nan() {
            b
        } else {
            self
        }
    }
    /// `min` that propagates NaN.
    #[inline]
    fn min_nan(self, b: Self) -> Self {
        if b < self || b.is_nan() {
            b
        } else {
            self
        }
    }
}

macro_rules! num_float {
    ($t:ty) => {
        impl Num for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const LOWEST: Self = <$t>::NEG_INFINITY;
            const HIGHEST: Self = <$t>::INFINITY;
            #[inline]
            fn add(self, b: Self) -> Self {
                self + b
            }
            #[inline]
            fn mul(self, b: Self) -> Self {
                self * b
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline]
            fn div_count(self, n: usize) -> Self {
                self / n as $t
            }
        }
    };
}
macro_rules! num_int {
    ($t:ty) => {
        impl Num for $t {
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const LOWEST: Self = <$t>::MIN;
            const HIGHEST: Self = <$t>::MAX;
            #[inline]
            fn add(self, b: Self) -> Self {
                self.wrapping_add(b)
            }
            #[inline]
            fn mul(self, b: Self) -> Self {
                self.wrapping_mul(b)
            }
            #[inline]
            fn is_nan(self) -> bool {
                false
            }
            #[inline]
            fn div_count(self, n: usize) -> Self {
                <$t>::try_from(n).ok().and_then(|n| self.checked_div(n)).unwrap_or(0)
            }
        }
    };
}
num_float!(f32);
num_float!(f64);
num_int!(i32);
num_int!(i64);

/// A float element (`f32`, `f64`) with exact conversions to and from `f64` for accumulators.
pub(crate) trait Real: Num + num_traits::Float {
    /// Widens to `f64`.
    fn wide(self) -> f64;
    /// Rounds an `f64` to this type.
    fn of(x: f64) -> Self;
}
impl Real for f32 {
    #[inline]
    fn wide(self) -> f64 {
        f64::from(self)
    }
    #[inline]
    fn of(x: f64) -> Self {
        x as f32
    }
}
impl Real for f64 {
    #[inline]
    fn wide(self) -> f64 {
        self
    }
    #[inline]
    fn of(x: f64) -> Self {
        x
    }
}

/// The data of a view as a row-major slice (borrowed when already contiguous).
pub(crate) fn contiguous<'a, T: Clone>(v: &'a ArrayViewD<'a, T>) -> Cow<'a, [T]> {
    match v.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(v.iter().cloned().collect()),
    }
}

/// Sum of a contiguous slice with 8 independent accumulators (vectorizes; more accurate than
/// one running sum).
#[inline]
pub(crate) fn sum_slice<T: Num>(xs: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let chunks = xs.chunks_exact(8);
    let rem = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            acc[k] = acc[k].add(c[k]);
        }
    }
    let mut s = acc[0].add(acc[4]).add(acc[1].add(acc[5])).add(acc[2].add(acc[6]).add(acc[3].add(acc[7])));
    for &x in rem {
        s = s.add(x);
    }
    s
}

/// Inputs below this many elements are reduced on one thread.
const PAR_MIN: usize = 1 << 15;
/// Target number of input elements per parallel block.
const BLOCK: usize = 1 << 15;

// ---------------------------------------------------------------------------------------------
// The reduction plan: merged groups of reduced / kept dims.

/// One merged group of input dims: its size, whether it is reduced, and the strides of one
/// step of it in the input and in the output.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Group {
    n: usize,
    red: bool,
    xs: usize,
    os: usize,
}

/// How to reduce a tensor of `in_dims` over some axes.
#[derive(Clone, Debug)]
pub(crate) struct ReducePlan {
    groups: Vec<Group>,
    /// Output dims with `keep_dims`.
    pub keep_dims: Vec<usize>,
    /// Output dims without `keep_dims`.
    pub drop_dims: Vec<usize>,
    /// Number of output elements.
    pub out_len: usize,
    /// Number of input elements folded into each output element.
    pub count: usize,
}

/// Normalizes `axes` (negative count from the end; `None` = all) against `rank`; sorted, deduped.
pub(crate) fn norm_axes(axes: Option<&[i64]>, rank: usize) -> Result<Vec<usize>> {
    let Some(axes) = axes else { return Ok((0..rank).collect()) };
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let r = rank as i64;
        let n = if a < 0 { a + r } else { a };
        if !(0..r).contains(&n) {
            return Err(Error::invalid(format!(
                "axis {a} is out of range for a tensor of rank {rank} (valid axes are {} to {})",
                -r,
                r - 1
            )));
        }
        out.push(n as usize);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

impl ReducePlan {
    /// The plan for reducing a tensor of `dims` over `axes`.
    pub(crate) fn new(dims: &[usize], axes: Option<&[i64]>) -> Result<ReducePlan> {
        let ax = norm_axes(axes, dims.len())?;
        let mut keep_dims = Vec::with_capacity(dims.len());
        let mut drop_dims = Vec::with_capacity(dims.len());
        let mut merged: Vec<(usize, bool)> = Vec::new();
        let mut count = 1usize;
        for (i, &d) in dims.iter().enumerate() {
            let red = ax.contains(&i);
            if red {
                keep_dims.push(1);
                count *= d;
            } else {
                keep_dims.push(d);
                drop_dims.push(d);
            }
            if d == 1 {
                continue;
            }
            match merged.last_mut() {
                Some((n, r)) if *r == red => *n *= d,
                _ => merged.push((d, red)),
            }
        }
        if merged.is_empty() {
            merged.push((1, false));
        }
        let mut groups = vec![Group { n: 0, red: false, xs: 1, os: 1 }; merged.len()];
        let (mut xs, mut os) = (1usize, 1usize);
        for (k, &(n, red)) in merged.iter().enumerate().rev() {
            groups[k] = Group { n, red, xs, os };
            xs *= n;
            if !red {
                os *= n;
            }
        }
        let out_len = drop_dims.iter().product();
        Ok(ReducePlan { groups, keep_dims, drop_dims, out_len, count })
    }

    /// The output dims for `keep_dims`.
    pub(crate) fn out_dims(&self, keep_dims: bool) -> &[usize] {
        if keep_dims {
            &self.keep_dims
        } else {
            &self.drop_dims
        }
    }
}

/// Calls `f(x_start, len, out_start, reduced)` for every contiguous run of the input, in
/// memory order: a kept run maps element-wise onto `out[out_start..out_start+len]`; a reduced
/// run maps entirely onto `out[out_start]`.
#[inline]
fn walk<F: FnMut(usize, usize, usize, bool)>(g: &[Group], xb: usize, ob: usize, f: &mut F) {
    match g {
        [] => {}
        [last] => f(xb, last.n, ob, last.red),
        [first, rest @ ..] => {
            for i in 0..first.n {
                walk(rest, xb + i * first.xs, if first.red { ob } else { ob + i * first.os }, f);
            }
        }
    }
}

/// Folds `x` into `out` (which holds the identity or earlier partials) on this thread.
fn reduce_seq<T: Num>(
    x: &[T],
    g: &[Group],
    out: &mut [T],
    f: &(impl Fn(T, T) -> T + Sync),
    fold: &(impl Fn(&[T]) -> T + Sync),
) {
    walk(g, 0, 0, &mut |xb, n, ob, red| {
        let xr = &x[xb..xb + n];
        if red {
            out[ob] = f(out[ob], fold(xr));
        } else {
            for (o, &v) in out[ob..ob + n].iter_mut().zip(xr) {
                *o = f(*o, v);
            }
        }
    });
}

/// Folds `x` into `out`, splitting large inputs over threads.
fn reduce_par<T: Num>(
    x: &[T],
    g: &[Group],
    out: &mut [T],
    init: T,
    f: &(impl Fn(T, T) -> T + Sync),
    fold: &(impl Fn(&[T]) -> T + Sync),
) {
    if x.len() < PAR_MIN || rayon::current_num_threads() < 2 || g.is_empty() {
        return reduce_seq(x, g, out, f, fold);
    }
    let g0 = g[0];
    if g.len() == 1 {
        if g0.red {
            let r = x.par_chunks(BLOCK).map(fold).reduce(|| init, f);
            out[0] = f(out[0], r);
        } else {
            out.par_iter_mut().zip(x.par_iter()).for_each(|(o, &v)| *o = f(*o, v));
        }
        return;
    }
    let rest = &g[1..];
    if !g0.red {
        out.par_chunks_mut(g0.os)
            .zip(x.par_chunks(g0.xs))
            .with_min_len((BLOCK / g0.xs).max(1))
            .for_each(|(o, xc)| reduce_seq(xc, rest, o, f, fold));
        return;
    }
    if g0.xs >= BLOCK {
        // Few, long rows: reduce row by row, each row split over the (kept) groups below.
        for xc in x.chunks(g0.xs) {
            reduce_par(xc, rest, out, init, f, fold);
        }
        return;
    }
    // Many short rows: blocks of rows reduce into partials that are then combined pairwise.
    let rows_per_block = (BLOCK / g0.xs).max(1);
    let out_len = out.len();
    let total = x
        .par_chunks(rows_per_block * g0.xs)
        .map(|xc| {
            let mut p = vec![init; out_len];
            for row in xc.chunks(g0.xs) {
                reduce_seq(row, rest, &mut p, f, fold);
            }
            p
        })
        .reduce_with(|mut a, b| {
            for (p, q) in a.iter_mut().zip(b) {
                *p = f(*p, q);
            }
            a
        });
    if let Some(t) = total {
        for (o, v) in out.iter_mut().zip(t) {
            *o = f(*o, v);
        }
    }
}

/// Writes every element of the input-shaped `out` by runs: `f(run, x_start, out_start, reduced)`
/// where `run = out[x_start..x_start+len]`; parallel over the leading group for large tensors.
fn expand<O: Send, F>(g: &[Group], out: &mut [O], f: &F)
where
    F: Fn(&mut [O], usize, usize, bool) + Sync,
{
    let Some(&g0) = g.first() else { return };
    if out.len() < PAR_MIN || rayon::current_num_threads() < 2 {
        walk(g, 0, 0, &mut |xb, n, ob, red| f(&mut out[xb..xb + n], xb, ob, red));
        return;
    }
    if g.len() == 1 {
        out.par_chunks_mut(BLOCK).enumerate().for_each(|(i, c)| {
            let start = i * BLOCK;
            f(c, start, if g0.red { 0 } else { start }, g0.red)
        });
        return;
    }
    let rest = &g[1..];
    out.par_chunks_mut(g0.xs).enumerate().with_min_len((BLOCK / g0.xs).max(1)).for_each(|(i, chunk)| {
        let base = i * g0.xs;
        let ob0 = if g0.red { 0 } else { i * g0.os };
        walk(rest, 0, ob0, &mut |xb, n, ob, red| f(&mut chunk[xb..xb + n], base + xb, ob, red));
    });
}

// ---------------------------------------------------------------------------------------------
// The reduction op.

/// The reductions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReduceKind {
    /// Σ
    Sum,
    /// Σ / count
    Mean,
    /// max
    Max,
    /// min
    Min,
    /// Π
    Prod,
}

impl ReduceKind {
    /// TF op type name.
    pub fn type_name(self) -> &'static str {
        match self {
            ReduceKind::Sum => "Sum",
            ReduceKind::Mean => "Mean",
            ReduceKind::Max => "Max",
            ReduceKind::Min => "Min",
            ReduceKind::Prod => "Prod",
        }
    }
}

/// Reduces its input over `axes` (TF1 `Sum`, `Mean`, `Max`, `Min`, `Prod`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Reduce {
    /// Which reduction.
    pub kind: ReduceKind,
    /// Axes (negative count from the end); `None` reduces every axis.
    pub axes: Option<Vec<i64>>,
    /// Keep reduced axes with size 1.
    pub keep_dims: bool,
}

/// Static output shape of reducing `shape` over `axes`.
pub(crate) fn reduced_shape(shape: &Shape, axes: Option<&[i64]>, keep_dims: bool) -> Result<Shape> {
    let Some(dims) = shape.dims() else {
        return Ok(if axes.is_none() && !keep_dims { Shape::scalar() } else { Shape::unknown() });
    };
    let ax = norm_axes(axes, dims.len()).map_err(|e| match e {
        Error::InvalidArgument(m) => Error::invalid(format!("{m}; the input has shape {shape}")),
        o => o,
    })?;
    let mut out = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
        if ax.contains(&i) {
            if keep_dims {
                out.push(Some(1));
            }
        } else {
            out.push(*d);
        }
    }
    Ok(Shape::from_dims(out))
}

fn reduce_value<T: Num>(
    x: &ArrayViewD<'_, T>,
    kind: ReduceKind,
    axes: Option<&[i64]>,
    keep_dims: bool,
) -> Result<Value> {
    let plan = ReducePlan::new(x.shape(), axes)?;
    let data = contiguous(x);
    let init = match kind {
        ReduceKind::Sum | ReduceKind::Mean => T::ZERO,
        ReduceKind::Prod => T::ONE,
        ReduceKind::Max => T::LOWEST,
        ReduceKind::Min => T::HIGHEST,
    };
    let mut out = vec![init; plan.out_len];
    if !data.is_empty() {
        match kind {
            ReduceKind::Sum | ReduceKind::Mean => {
                reduce_par(&data, &plan.groups, &mut out, init, &|a: T, b: T| a.add(b), &sum_slice)
            }
            ReduceKind::Prod => {
                reduce_par(&data, &plan.groups, &mut out, init, &|a: T, b: T| a.mul(b), &|s: &[T]| {
                    s.iter().fold(T::ONE, |a, &b| a.mul(b))
                })
            }
            ReduceKind::Max => {
                reduce_par(&data, &plan.groups, &mut out, init, &|a: T, b: T| a.max_nan(b), &|s: &[T]| {
                    s.iter().fold(T::LOWEST, |a, &b| a.max_nan(b))
                })
            }
            ReduceKind::Min => {
                reduce_par(&data, &plan.groups, &mut out, init, &|a: T, b: T| a.min_nan(b), &|s: &[T]| {
                    s.iter().fold(T::HIGHEST, |a, &b| a.min_nan(b))
                })
            }
        }
    }
    if kind == ReduceKind::Mean {
        for o in &mut out {
            *o = o.div_count(plan.count);
        }
    }
    Value::from_shape_vec(plan.out_dims(keep_dims), out)
}

#[typetag::serde]
impl Op for Reduce {
    fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.input(0)?;
        if !x.dtype.is_numeric() {
            return Err(
                cx.error(format!("cannot reduce a {} tensor {}; cast it to a number type first", x.dtype, x.shape))
            );
        }
        let shape = reduced_shape(&x.shape, self.axes.as_deref(), self.keep_dims).map_err(|e| cx.wrap(e))?;
        Ok(vec![TensorSpec::new(x.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let (k, axes, kd) = (self.kind, self.axes.as_deref(), self.keep_dims);
        let out = match cx.input(0)? {
            Value::F32(a) => reduce_value(&a.view(), k, axes, kd),
            Value::F64(a) => reduce_value(&a.view(), k, axes, kd),
            Value::I32(a) => reduce_value(&a.view(), k, axes, kd),
            Value::I64(a) => reduce_value(&a.view(), k, axes, kd),
            v @ (Value::Bool(_) | Value::String(_)) => {
                return Err(cx.error(format!("cannot reduce a {} tensor", v.dtype())))
            }
        };
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = cx.grad(0) else { return Ok(vec![None]) };
        let x = cx.input(0)?;
        let axes = self.axes.clone();
        let kd = self.keep_dims;
        let gx = match self.kind {
            ReduceKind::Sum | ReduceKind::Mean => s.add_op1(
                ReduceGrad { mean: self.kind == ReduceKind::Mean, axes, keep_dims: kd },
                &[g, x],
                &format!("{}Grad", self.kind.type_name()),
            )?,
            ReduceKind::Max | ReduceKind::Min => s.add_op1(
                ReduceMinMaxGrad { axes, keep_dims: kd },
                &[x, cx.output(0), g],
                &format!("{}Grad", self.kind.type_name()),
            )?,
            ReduceKind::Prod => s.add_op1(ReduceProdGrad { axes, keep_dims: kd }, &[x, g], "ProdGrad")?,
        };
        Ok(vec![Some(gx)])
    }
    fn describe(&self) -> String {
        format!("axes={:?} keep_dims={}", self.axes, self.keep_dims)
    }
}

// ---------------------------------------------------------------------------------------------
// Gradient kernels.

/// The gradient of `Sum`/`Mean`: `g` (reduced shape) broadcast back to `x`'s shape, divided by
/// the reduced count for `Mean`. Inputs `[g, x]` (`x` only for its shape).
#[derive(Debug, Serialize, Deserialize)]
pub struct ReduceGrad {
    /// Divide by the count (the gradient of `Mean`).
    pub mean: bool,
    /// The forward op's axes.
    pub axes: Option<Vec<i64>>,
    /// The forward op's `keep_dims`.
    pub keep_dims: bool,
}

fn check_reduced_len(cx: &KernelCtx<'_>, plan: &ReducePlan, what: &str, got: &[usize], x: &[usize]) -> Result<()> {
    let n: usize = got.iter().product();
    if n != plan.out_len {
        return Err(cx.error(format!(
            "{what} has shape {got:?} but reducing the input of shape {x:?} gives {:?}",
            plan.drop_dims
        )));
    }
    Ok(())
}

fn reduce_grad_value<T: Real>(g: &ArrayViewD<'_, T>, x_dims: &[usize], plan: &ReducePlan, mean: bool) -> Result<Value> {
    let gd = contiguous(g);
    let mut out = vec![T::ZERO; x_dims.iter().product()];
    let count = plan.count;
    expand(&plan.groups, &mut out, &|run: &mut [T], _xs, ob, red| {
        let scale = |v: T| if mean { v.div_count(count) } else { v };
        if red {
            run.fill(scale(gd[ob]));
        } else {
            let n = run.len();
            for (o, &v) in run.iter_mut().zip(&gd[ob..ob + n]) {
                *o = scale(v);
            }
        }
    });
    Value::from_shape_vec(x_dims, out)
}

#[typetag::serde]
impl Op for ReduceGrad {
    fn type_name(&self) -> &'static str {
        if self.mean {
            "MeanGrad"
        } else {
            "SumGrad"
        }
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let g = cx.expect_float(0)?;
        Ok(vec![TensorSpec::new(g.dtype, cx.input(1)?.shape.clone())])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let x_dims = cx.input(1)?.shape().to_vec();
        let plan = ReducePlan::new(&x_dims, self.axes.as_deref()).map_err(|e| cx.wrap(e))?;
        let g = cx.input(0)?;
        check_reduced_len(cx, &plan, "the gradient", g.shape(), &x_dims)?;
        let out = match g {
            Value::F32(a) => reduce_grad_value(&a.view(), &x_dims, &plan, self.mean),
            Value::F64(a) => reduce_grad_value(&a.view(), &x_dims, &plan, self.mean),
            other => return Err(cx.error(format!("expected a float gradient, got {}", other.dtype()))),
        };
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(gg) = cx.grad(0) else { return Ok(vec![None, None]) };
        let kind = if self.mean { ReduceKind::Mean } else { ReduceKind::Sum };
        let r =
            s.add_op1(Reduce { kind, axes: self.axes.clone(), keep_dims: self.keep_dims }, &[gg], kind.type_name())?;
        Ok(vec![Some(r), None])
    }
}

/// The gradient of `Max`/`Min`, as TF: `g` goes to the elements equal to the extremum, split
/// evenly between ties (`indicators / count · g`). Inputs `[x, y, g]`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReduceMinMaxGrad {
    /// The forward op's axes.
    pub axes: Option<Vec<i64>>,
    /// The forward op's `keep_dims`.
    pub keep_dims: bool,
}

fn minmax_grad_value<T: Real>(x: &ArrayViewD<'_, T>, y: &[T], g: &[T], plan: &ReducePlan) -> Result<Value> {
    let xd = contiguous(x);
    let mut counts = vec![T::ZERO; plan.out_len];
    walk(&plan.groups, 0, 0, &mut |xb, n, ob, red| {
        let xr = &xd[xb..xb + n];
        if red {
            let yv = y[ob];
            let c = xr.iter().filter(|&&v| v == yv).count();
            counts[ob] = counts[ob] + T::of(c as f64);
        } else {
            for ((c, &v), &yv) in counts[ob..ob + n].iter_mut().zip(xr).zip(&y[ob..ob + n]) {
                if v == yv {
                    *c = *c + T::ONE;
                }
            }
        }
    });
    let mut out = vec![T::ZERO; xd.len()];
    expand(&plan.groups, &mut out, &|run: &mut [T], xs, ob, red| {
        let xr = &xd[xs..xs + run.len()];
        if red {
            let (yv, share) = (y[ob], g[ob] / counts[ob]);
            for (o, &v) in run.iter_mut().zip(xr) {
                *o = if v == yv { share } else { T::ZERO };
            }
        } else {
            for (k, (o, &v)) in run.iter_mut().zip(xr).enumerate() {
                let j = ob + k;
                *o = if v == y[j] { g[j] / counts[j] } else { T::ZERO };
            }
        }
    });
    Value::from_shape_vec(x.shape(), out)
}

#[typetag::serde]
impl Op for ReduceMinMaxGrad {
    fn type_name(&self) -> &'static str {
        "MinMaxGrad"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        cx.expect_float(0)?;
        Ok(vec![cx.input(0)?.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let x_dims = cx.input(0)?.shape().to_vec();
        let plan = ReducePlan::new(&x_dims, self.axes.as_deref()).map_err(|e| cx.wrap(e))?;
        check_reduced_len(cx, &plan, "the forward output", cx.input(1)?.shape(), &x_dims)?;
        check_reduced_len(cx, &plan, "the gradient", cx.input(2)?.shape(), &x_dims)?;
        macro_rules! run {
            ($t:ty) => {{
                let (x, y, g) = (cx.view::<$t>(0)?, cx.view::<$t>(1)?, cx.view::<$t>(2)?);
                minmax_grad_value(&x, &contiguous(&y), &contiguous(&g), &plan)
            }};
        }
        let out = match cx.input(0)?.dtype() {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            d => return Err(cx.error(format!("expected a float input, got {d}"))),
        };
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        // Linear in g: d/dg = Σ_axes gg · (indicator / count); piecewise constant in x and y.
        let Some(gg) = cx.grad(0) else { return Ok(vec![None, None, None]) };
        let (x, y) = (cx.input(0)?, cx.input(1)?);
        let ones = ones_like(s, y)?;
        let share = s.add_op1(
            ReduceMinMaxGrad { axes: self.axes.clone(), keep_dims: self.keep_dims },
            &[x, y, ones],
            "MinMaxGrad",
        )?;
        let prod = mul(s, gg, share)?;
        let gg_g = s.add_op1(
            Reduce { kind: ReduceKind::Sum, axes: self.axes.clone(), keep_dims: self.keep_dims },
            &[prod],
            "Sum",
        )?;
        Ok(vec![None, None, Some(gg_g)])
    }
}

/// The gradient of `Prod`: `g · Π_{others}`, exact with zeros (one zero: only it gets the
/// product of the rest; two or more: all zero). Inputs `[x, g]`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReduceProdGrad {
    /// The forward op's axes.
    pub axes: Option<Vec<i64>>,
    /// The forward op's `keep_dims`.
    pub keep_dims: bool,
}

fn prod_grad_value<T: Real>(x: &ArrayViewD<'_, T>, g: &[T], plan: &ReducePlan) -> Result<Value> {
    let xd = contiguous(x);
    // Per output: number of zeros and product of the nonzero elements.
    let mut zeros = vec![0usize; plan.out_len];
    let mut prods = vec![T::ONE; plan.out_len];
    walk(&plan.groups, 0, 0, &mut |xb, n, ob, red| {
        let xr = &xd[xb..xb + n];
        for (k, &v) in xr.iter().enumerate() {
            let j = if red { ob } else { ob + k };
            if v == T::ZERO {
                zeros[j] += 1;
            } else {
                prods[j] = prods[j] * v;
            }
        }
    });
    let mut out = vec![T::ZERO; xd.len()];
    expand(&plan.groups, &mut out, &|run: &mut [T], xs, ob, red| {
        for (k, o) in run.iter_mut().enumerate() {
            let j = if red { ob } else { ob + k };
            let v = xd[xs + k];
            let others = match zeros[j] {
                0 => prods[j] / v,
                1 if v == T::ZERO => prods[j],
                _ => T::ZERO,
            };
            *o = g[j] * others;
        }
    });
    Value::from_shape_vec(x.shape(), out)
}

#[typetag::serde]
impl Op for ReduceProdGrad {
    fn type_name(&self) -> &'static str {
        "ProdGrad"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        cx.expect_float(0)?;
        Ok(vec![cx.input(0)?.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let x_dims = cx.input(0)?.shape().to_vec();
        let plan = ReducePlan::new(&x_dims, self.axes.as_deref()).map_err(|e| cx.wrap(e))?;
        check_reduced_len(cx, &plan, "the gradient", cx.input(1)?.shape(), &x_dims)?;
        macro_rules! run {
            ($t:ty) => {{
                let (x, g) = (cx.view::<$t>(0)?, cx.view::<$t>(1)?);
                prod_grad_value(&x, &contiguous(&g), &plan)
            }};
        }
        let out = match cx.input(0)?.dtype() {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            d => return Err(cx.error(format!("expected a float input, got {d}"))),
        };
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
}

// ---------------------------------------------------------------------------------------------
// Builders.

fn reduce(s: &Scope, kind: ReduceKind, x: impl IntoInput, axes: Option<&[i64]>, keep_dims: bool) -> Result<Tensor> {
    let x = x.into_tensor(s, None)?;
    s.add_op1(Reduce { kind, axes: axes.map(<[i64]>::to_vec), keep_dims }, &[x], kind.type_name())
}

/// Sum over `axes`. TF1: `tf.reduce_sum(x, axis, keepdims)`.
///
/// `y = Σ_{axes} x`. `axes` may be negative (counted from the end); `None` reduces every axis;
/// an empty list reduces nothing. With `keep_dims` the reduced axes stay with size 1.
/// Integer sums wrap on overflow, as TF.
///
/// # Shapes
/// `[2, 3, 4]` over `[0, 2]` gives `[3]` (`[1, 3, 1]` with `keep_dims`); `[?, 5]` over `[0]`
/// gives `[5]`; over `None` a scalar.
///
/// # Errors
/// An axis outside `[-rank, rank)` (build error naming the shape), or a bool input.
///
/// ```
/// use ferroflow_core::Graph;
/// use ferroflow_ops::{constant, math};
/// use ferroflow_session::Session;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = constant(&s, ndarray::array![[1.0f32, 2.0], [3.0, 4.0]])?;
/// let y = math::reduce_sum(&s, x, Some(&[0]), false)?;
/// assert_eq!(Session::new(&g).run([y], &[])?[0].to_vec::<f32>()?, vec![4.0, 6.0]);
/// # Ok(()) }
/// ```
pub fn reduce_sum(s: &Scope, x: impl IntoInput, axes: Option<&[i64]>, keep_dims: bool) -> Result<Tensor> {
    reduce(s, ReduceKind::Sum, x, axes, keep_dims)
}

/// Mean over `axes`. TF1: `tf.reduce_mean(x, axis, keepdims)`.
///
/// `y = Σ_{axes} x / count`; integer means divide with truncation, as TF.
///
/// # Shapes
/// As [`reduce_sum`].
///
/// # Errors
/// As [`reduce_sum`].
pub fn reduce_mean(s: &Scope, x: impl IntoInput, axes: Option<&[i64]>, keep_dims: bool) -> Result<Tensor> {
    reduce(s, ReduceKind::Mean, x, axes, keep_dims)
}

/// Maximum over `axes`. TF1: `tf.reduce_max(x, axis, keepdims)`.
///
/// The gradient goes to the elements equal to the maximum, split evenly between ties (TF's
/// rule). NaN propagates. An empty reduction gives −∞ (the minimum for integers).
///
/// # Shapes
/// As [`reduce_sum`].
///
/// # Errors
/// As [`reduce_sum`].
pub fn reduce_max(s: &Scope, x: impl IntoInput, axes: Option<&[i64]>, keep_dims: bool) -> Result<Tensor> {
    reduce(s, ReduceKind::Max, x, axes, keep_dims)
}

/// Minimum over `axes`. TF1: `tf.reduce_min(x, axis, keepdims)`.
///
/// Gradient and edge cases mirror [`reduce_max`].
///
/// # Shapes
/// As [`reduce_sum`].
///
/// # Errors
/// As [`reduce_sum`].
pub fn reduce_min(s: &Scope, x: impl IntoInput, axes: Option<&[i64]>, keep_dims: bool) -> Result<Tensor> {
    reduce(s, ReduceKind::Min, x, axes, keep_dims)
}

/// Product over `axes`. TF1: `tf.reduce_prod(x, axis, keepdims)`.
///
/// The gradient is `g · Π(other elements)`, exact when elements are zero.
///
/// # Shapes
/// As [`reduce_sum`].
///
/// # Errors
/// As [`reduce_sum`].
pub fn reduce_prod(s: &Scope, x: impl IntoInput, axes: Option<&[i64]>, keep_dims: bool) -> Result<Tensor> {
    reduce(s, ReduceKind::Prod, x, axes, keep_dims)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plan_merges_groups() {
        let p = ReducePlan::new(&[8, 4, 4, 3], Some(&[0, 1, 2])).unwrap();
        assert_eq!(p.groups.len(), 2);
        assert_eq!((p.groups[0].n, p.groups[0].red), (128, true));
        assert_eq!((p.groups[1].n, p.groups[1].red), (3, false));
        assert_eq!(p.out_len, 3);
        assert_eq!(p.count, 128);
        let q = ReducePlan::new(&[2, 1, 3], Some(&[-1])).unwrap();
        assert_eq!(q.keep_dims, vec![2, 1, 1]);
        assert_eq!(q.drop_dims, vec![2, 1]);
        assert!(ReducePlan::new(&[2, 3], Some(&[2])).is_err());
    }

    #[test]
    fn sum_slice_matches_fold() {
        let v: Vec<f64> = (0..37).map(|i| i as f64 * 0.5).collect();
        assert_eq!(sum_slice(&v), v.iter().sum::<f64>());
    }
}
