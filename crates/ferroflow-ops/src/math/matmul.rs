//! `matmul`: (batched) matrix product with optional transposes, on the SIMD, multithreaded
//! GEMM of `matrixmultiply` (through `ndarray::linalg::general_mat_mul`) for floats.

use crate::input::{pair, IntoInput};
use crate::kernels::gemm::GemmFloat;
use ferroflow_core::typetag;
use ferroflow_core::{
    DType, Dim, Element, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value,
};
use ndarray::{ArrayView2, ArrayView3, ArrayViewD, Axis, Ix3};
use num_traits::{WrappingAdd, WrappingMul, Zero};
use serde::{Deserialize, Serialize};

/// `op(a) · op(b)` where `op` transposes the last two axes when asked (TF1 `MatMul`; with
/// rank > 2, TF's `BatchMatMulV2` without batch broadcasting).
#[derive(Debug, Serialize, Deserialize)]
pub struct MatMul {
    /// Use `aᵀ`.
    pub transpose_a: bool,
    /// Use `bᵀ`.
    pub transpose_b: bool,
}

/// `(rows, cols)` of `op(x)` from the last two static dims.
fn rows_cols(d: &[Dim], t: bool) -> (Dim, Dim) {
    let n = d.len();
    let (r, c) = (d[n - 2], d[n - 1]);
    if t {
        (c, r)
    } else {
        (r, c)
    }
}

#[typetag::serde]
impl Op for MatMul {
    fn type_name(&self) -> &'static str {
        "MatMul"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let (a, b) = (cx.input(0)?, cx.input(1)?);
        let what = || {
            format!(
                "a {} {} (transpose_a={}), b {} {} (transpose_b={})",
                a.dtype, a.shape, self.transpose_a, b.dtype, b.shape, self.transpose_b
            )
        };
        if a.dtype != b.dtype {
            return Err(cx.error(format!("operands must have the same dtype: {}", what())));
        }
        if a.dtype == DType::Bool {
            return Err(cx.error(format!("matmul is not defined for bool: {}", what())));
        }
        for (name, s) in [("a", &a.shape), ("b", &b.shape)] {
            if s.rank().is_some_and(|r| r < 2) {
                return Err(
                    cx.error(format!("{name} must have rank 2 or more (a matrix or a batch of matrices): {}", what()))
                );
            }
        }
        let shape = match (a.shape.dims(), b.shape.dims()) {
            (Some(da), Some(db)) => {
                if da.len() != db.len() {
                    return Err(cx.error(format!("operands must have the same rank: {}", what())));
                }
                let n = da.len();
                let batch = Shape::from_dims(da[..n - 2].to_vec())
                    .merge(&Shape::from_dims(db[..n - 2].to_vec()))
                    .ok_or_else(|| cx.error(format!("batch dimensions differ: {}", what())))?;
                let (m, ka) = rows_cols(da, self.transpose_a);
                let (kb, nn) = rows_cols(db, self.transpose_b);
                if let (Some(x), Some(y)) = (ka, kb) {
                    if x != y {
                        return Err(cx.error(format!("inner dimensions differ ({x} vs {y}): {}", what())));
                    }
                }
                let mut out = batch.dims().map(<[Dim]>::to_vec).unwrap_or_default();
                out.push(m);
                out.push(nn);
                Shape::from_dims(out)
            }
            (Some(d), None) | (None, Some(d)) => Shape::unknown_dims(d.len()),
            (None, None) => Shape::unknown(),
        };
        shape.checked_byte_size(a.dtype).map_err(|e| cx.error(format!("the product cannot exist: {e}: {}", what())))?;
        Ok(vec![TensorSpec::new(a.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let (ta, tb) = (self.transpose_a, self.transpose_b);
        let out = match (cx.input(0)?.dtype(), cx.input(1)?.dtype()) {
            (DType::F32, DType::F32) => batched(cx, ta, tb, gemm::<f32>)?,
            (DType::F64, DType::F64) => batched(cx, ta, tb, gemm::<f64>)?,
            (DType::I32, DType::I32) => batched(cx, ta, tb, int_mm::<i32>)?,
            (DType::I64, DType::I64) => batched(cx, ta, tb, int_mm::<i64>)?,
            (a, b) => return Err(cx.error(format!("unsupported operand dtypes {a} and {b}"))),
        };
        Ok(vec![out])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = cx.grad(0) else { return Ok(vec![None, None]) };
        let (a, b) = (cx.input(0)?, cx.input(1)?);
        // TF's _MatMulGrad: each case is again one matmul, transposes folded into the GEMM.
        let (ga, gb) = match (self.transpose_a, self.transpose_b) {
            (false, false) => (matmul(s, g, b, false, true)?, matmul(s, a, g, true, false)?),
            (false, true) => (matmul(s, g, b, false, false)?, matmul(s, g, a, true, false)?),
            (true, false) => (matmul(s, b, g, false, true)?, matmul(s, a, g, false, false)?),
            (true, true) => (matmul(s, b, g, true, true)?, matmul(s, g, a, true, true)?),
        };
        Ok(vec![Some(ga), Some(gb)])
    }
    fn describe(&self) -> String {
        format!("transpose_a={} transpose_b={}", self.transpose_a, self.transpose_b)
    }
}

/// `c = op(a) · op(b)` for one pair of matrices into a zeroed `c`.
type MatKernel<T> = fn(ArrayView2<'_, T>, ArrayView2<'_, T>, &mut ndarray::ArrayViewMut2<'_, T>);

fn gemm<T: GemmFloat + ndarray::LinalgScalar>(
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    c: &mut ndarray::ArrayViewMut2<'_, T>,
) {
    crate::kernels::gemm::gemm(T::one(), &a, &b, T::zero(), c);
}

/// Integer product with wrapping arithmetic (no overflow panics), i-k-j order.
fn int_mm<T: Copy + Zero + WrappingAdd + WrappingMul>(
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    c: &mut ndarray::ArrayViewMut2<'_, T>,
) {
    for (a_row, mut c_row) in a.outer_iter().zip(c.outer_iter_mut()) {
        for (&aik, b_row) in a_row.iter().zip(b.outer_iter()) {
            c_row.zip_mut_with(&b_row, |c, &b| *c = c.wrapping_add(&aik.wrapping_mul(&b)));
        }
    }
}

/// Runs `kernel` over the (flattened) batch, checking shapes first so ndarray cannot panic.
/// The (batched) product of inputs 0 and 1, into an output buffer from the plan's pool; the
/// operands go back to the pool afterwards.
fn batched<T: Element + Zero>(cx: &mut KernelCtx<'_>, ta: bool, tb: bool, kernel: MatKernel<T>) -> Result<Value> {
    let a = cx.take_input(0)?.into_shared::<T>().map_err(|e| cx.wrap(e))?;
    let b = cx.take_input(1)?.into_shared::<T>().map_err(|e| cx.wrap(e))?;
    let (sa, sb) = (a.shape().to_vec(), b.shape().to_vec());
    let what = || format!("a {sa:?} (transpose_a={ta}) and b {sb:?} (transpose_b={tb})");
    if sa.len() < 2 || sa.len() != sb.len() {
        return Err(cx.error(format!("operands must be matrices (or batches of matrices) of one rank: {}", what())));
    }
    let n = sa.len();
    if sa[..n - 2] != sb[..n - 2] {
        return Err(cx.error(format!("batch dimensions differ: {}", what())));
    }
    let (m, k) = if ta { (sa[n - 1], sa[n - 2]) } else { (sa[n - 2], sa[n - 1]) };
    let (k2, nn) = if tb { (sb[n - 1], sb[n - 2]) } else { (sb[n - 2], sb[n - 1]) };
    if k != k2 {
        return Err(cx.error(format!("inner dimensions differ ({k} vs {k2}): {}", what())));
    }
    let batch: usize = sa[..n - 2].iter().product();
    let mut out_dims = sa[..n - 2].to_vec();
    out_dims.extend([m, nn]);
    // `[m, k] × [k, n]` can be far larger than both operands (k small): allocated fallibly.
    let mut out = cx.alloc_output::<T>(&out_dims)?;
    out.fill(T::zero());
    {
        let a3 = to3(cx, a.view(), batch, &sa[n - 2..])?;
        let b3 = to3(cx, b.view(), batch, &sb[n - 2..])?;
        let mut c = out
            .view_mut()
            .into_shape_with_order((batch, m, nn))
            .map_err(|e| cx.error(format!("internal reshape failed: {e}")))?;
        for ((ai, bi), mut ci) in a3.outer_iter().zip(b3.outer_iter()).zip(c.outer_iter_mut()) {
            let ai = if ta { ai.reversed_axes() } else { ai };
            let bi = if tb { bi.reversed_axes() } else { bi };
            kernel(ai, bi, &mut ci);
        }
    }
    cx.recycle(T::into_value(a));
    cx.recycle(T::into_value(b));
    Ok(T::into_value(out))
}

/// A `[batch, r, c]` view of a batch of matrices (copies only a non-contiguous batch of rank > 3).
fn to3<'a, T: Copy>(
    cx: &KernelCtx<'_>,
    x: ArrayViewD<'a, T>,
    batch: usize,
    rc: &[usize],
) -> Result<ndarray::CowArray<'a, T, Ix3>> {
    let err = |e: ndarray::ShapeError| cx.error(format!("internal reshape failed: {e}"));
    let dims = [batch, rc[0], rc[1]];
    match x.ndim() {
        2 => Ok(x.insert_axis(Axis(0)).into_dimensionality::<Ix3>().map_err(err)?.into()),
        3 => Ok(x.into_dimensionality::<Ix3>().map_err(err)?.into()),
        _ if x.is_standard_layout() => {
            let v: ArrayView3<'a, T> = x.into_shape_with_order(dims).map_err(err)?;
            Ok(v.into())
        }
        _ => Ok(x.as_standard_layout().into_owned().into_shape_with_order(dims).map_err(err)?.into()),
    }
}

/// The matrix product `op(a) · op(b)`, `op` transposing when asked. TF1: `tf.matmul(a, b,
/// transpose_a, transpose_b)`.
///
/// `c[i, j] = Σ_k op(a)[i, k] · op(b)[k, j]`. Rank-3 (or higher) inputs multiply matching
/// batches of matrices (`[b, m, k] × [b, k, n] → [b, m, n]`, no batch broadcasting). Floats run
/// on a SIMD, multithreaded GEMM; integers on a wrapping loop.
///
/// Gradient (TF's): for `c = a·b`, `da = g·bᵀ`, `db = aᵀ·g`; the transposed cases fold the
/// transposes into the gradient products, so each is one GEMM with no copy.
///
/// # Shapes
/// `[m, k] × [k, n] → [m, n]` (after the transposes); unknown dims stay unknown:
/// `[?, 784] × [784, 10] → [?, 10]`.
///
/// # Errors
/// Different dtypes, `bool`, rank < 2, different ranks or batch dims, or inner dimensions that
/// differ (build errors when the shapes are known, else run-time errors naming both shapes); a
/// product whose size overflows (build error) or cannot be allocated (run-time
/// `Error::Allocation` naming the node and the byte count).
///
/// ```
/// use ferroflow_core::Graph;
/// use ferroflow_ops::{constant, math};
/// use ferroflow_session::Session;
/// let g = Graph::new();
/// let s = g.root();
/// let a = constant(&s, ndarray::array![[1.0f32, 2.0], [3.0, 4.0]]).unwrap();
/// let b = constant(&s, ndarray::array![[1.0f32], [1.0]]).unwrap();
/// let c = math::matmul(&s, a, b, false, false).unwrap();
/// assert_eq!(c.shape(&g).unwrap().to_string(), "[2, 1]");
/// let out = Session::new(&g).run([c], &[]).unwrap();
/// assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![3.0, 7.0]);
/// ```
pub fn matmul(s: &Scope, a: impl IntoInput, b: impl IntoInput, transpose_a: bool, transpose_b: bool) -> Result<Tensor> {
    let (a, b) = pair(s, a, b)?;
    s.add_op1(MatMul { transpose_a, transpose_b }, &[a, b], "MatMul")
}
