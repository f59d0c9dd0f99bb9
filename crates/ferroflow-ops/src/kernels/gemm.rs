//! The one GEMM entry point of the kernels: `c = alpha·a·b + beta·c` on ndarray views, run by
//! `faer` (run-time SIMD dispatch: AVX-512, AVX2+FMA or scalar, chosen on the machine it runs
//! on) on the process's one rayon pool. Measured against `matrixmultiply` and the `gemm`
//! crate on the founding networks' shapes: `docs/decisions.md`.

use faer::{Accum, MatMut, MatRef, Par};
use ndarray::{ArrayView2, ArrayViewMut2};

/// Products below this many multiply-adds (2^21, ~20 µs on one core) run on the calling thread:
/// dispatching them to the pool costs more than it gains. At 2^18, W1's batch-1 convolutions
/// went to the pool and one image took 0.25–0.34 ms at 2 threads against 0.14 ms at 1 thread;
/// at 2^21 it is 0.14 ms at both (`infer/w1_batch1`, docs/benchmarks.md).
pub(crate) const PAR_MIN_FLOPS: usize = 1 << 21;

/// A float faer multiplies.
pub(crate) trait GemmFloat: Copy + Send + Sync + num_traits::Float + 'static {
    /// `c ← alpha·a·b + (c if accumulate)` with faer.
    fn faer_matmul(
        c: MatMut<'_, Self>,
        accumulate: bool,
        a: MatRef<'_, Self>,
        b: MatRef<'_, Self>,
        alpha: Self,
        par: Par,
    );
}

macro_rules! gemm_float {
    ($t:ty) => {
        impl GemmFloat for $t {
            fn faer_matmul(
                c: MatMut<'_, Self>,
                accumulate: bool,
                a: MatRef<'_, Self>,
                b: MatRef<'_, Self>,
                alpha: Self,
                par: Par,
            ) {
                let accum = if accumulate { Accum::Add } else { Accum::Replace };
                faer::linalg::matmul::matmul(c, accum, a, b, alpha, par);
                // faer's micro-kernels leave the AVX upper state dirty on every thread they
                // ran on; clean it there, or our SSE code runs several times slower.
                super::simd::clear_upper_vector_state();
                if par != Par::Seq {
                    rayon::broadcast(|_| super::simd::clear_upper_vector_state());
                }
            }
        }
    };
}
gemm_float!(f32);
gemm_float!(f64);

/// `c = alpha·a·b + beta·c`, with `beta` 0 or 1 (what the kernels use; other values scale `c`
/// first). Drop-in for `ndarray::linalg::general_mat_mul`; falls back to it for layouts faer
/// cannot view without a copy.
pub(crate) fn gemm<T: GemmFloat + ndarray::LinalgScalar>(
    alpha: T,
    a: &ArrayView2<'_, T>,
    b: &ArrayView2<'_, T>,
    beta: T,
    c: &mut ArrayViewMut2<'_, T>,
) {
    let (m, k) = a.dim();
    let n = b.dim().1;
    let flops = m.saturating_mul(k).saturating_mul(n);
    let par = if flops >= PAR_MIN_FLOPS && rayon::current_num_threads() > 1 { Par::rayon(0) } else { Par::Seq };
    let (Some(fa), Some(fb)) = (view(a), view(b)) else {
        ndarray::linalg::general_mat_mul(alpha, a, b, beta, c);
        return;
    };
    if beta != T::zero() && beta != T::one() {
        c.mapv_inplace(|v| v * beta);
    }
    let accumulate = beta != T::zero();
    let (rows, cols) = c.dim();
    match c.as_slice_mut() {
        Some(slice) => {
            T::faer_matmul(MatMut::from_row_major_slice_mut(slice, rows, cols), accumulate, fa, fb, alpha, par)
        }
        None => ndarray::linalg::general_mat_mul(alpha, a, b, if accumulate { T::one() } else { T::zero() }, c),
    }
}

/// A faer view of `a` when it is row-major or column-major and contiguous.
fn view<'a, T>(a: &'a ArrayView2<'_, T>) -> Option<MatRef<'a, T>> {
    let (rows, cols) = a.dim();
    if let Some(slice) = a.as_slice() {
        return Some(MatRef::from_row_major_slice(slice, rows, cols));
    }
    let t = a.view().reversed_axes();
    let slice = t.to_slice()?;
    Some(MatRef::from_column_major_slice(slice, rows, cols))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn naive(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
        let (m, k) = a.dim();
        let n = b.dim().1;
        Array2::from_shape_fn((m, n), |(i, j)| (0..k).map(|p| a[[i, p]] * b[[p, j]]).sum())
    }

    #[test]
    fn gemm_matches_a_naive_product_for_every_layout_and_beta() {
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (64, 9, 4), (17, 33, 2), (0, 3, 4), (5, 0, 3)] {
            let a = Array2::from_shape_fn((m, k), |(i, j)| (i * 7 + j * 3) as f64 % 5.0 - 2.0);
            let b = Array2::from_shape_fn((k, n), |(i, j)| (i * 2 + j * 5) as f64 % 7.0 - 3.0);
            let at = a.t().to_owned(); // [k, m], so at.t() is a column-major view of a
            let want = naive(&a, &b);
            for (beta, start) in [(0.0, 9.0), (1.0, 0.5)] {
                let mut c = Array2::from_elem((m, n), start);
                gemm(2.0, &a.view(), &b.view(), beta, &mut c.view_mut());
                let mut c2 = Array2::from_elem((m, n), start);
                gemm(2.0, &at.t(), &b.view(), beta, &mut c2.view_mut());
                for (x, y) in [(&c, &c2)] {
                    for ((i, j), v) in x.indexed_iter() {
                        let w = 2.0 * want[[i, j]] + beta * start;
                        assert!(
                            (v - w).abs() < 1e-9 && (y[[i, j]] - w).abs() < 1e-9,
                            "{m}x{k}x{n} beta {beta} at ({i},{j}): {v} / {} vs {w}",
                            y[[i, j]]
                        );
                    }
                }
            }
        }
    }
}
