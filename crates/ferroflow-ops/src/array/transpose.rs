//! `transpose`: permutes the axes of a tensor (the output is a contiguous copy).

use crate::input::IntoInput;
use ferroflow_core::typetag;
use ferroflow_core::{with_value, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value};
use ndarray::IxDyn;
use serde::{Deserialize, Serialize};

/// `x` with its axes permuted: output axis `i` is input axis `perm[i]` (TF1 `Transpose`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Transpose {
    /// The permutation; empty reverses all axes (TF1's `perm=None`).
    pub perm: Vec<usize>,
}

/// The permutation to apply to a tensor of `rank` (empty `perm` → reversed axes).
fn resolve_perm(perm: &[usize], rank: usize) -> std::result::Result<Vec<usize>, String> {
    if perm.is_empty() {
        return Ok((0..rank).rev().collect());
    }
    if perm.len() != rank {
        return Err(format!("perm {perm:?} has {} entries for a tensor of rank {rank}", perm.len()));
    }
    let mut seen = vec![false; rank];
    for &p in perm {
        match seen.get_mut(p) {
            Some(s) if !*s => *s = true,
            _ => return Err(format!("perm {perm:?} is not a permutation of 0..{rank}")),
        }
    }
    Ok(perm.to_vec())
}

/// The inverse permutation.
fn invert(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        if let Some(slot) = inv.get_mut(p) {
            *slot = i;
        }
    }
    inv
}

/// The input dims and permutation with size-1 axes dropped and runs of axes that stay
/// adjacent merged: `[N, H, W, C]` with `[0, 3, 1, 2]` becomes `[N, H·W, C]` with `[0, 2, 1]`.
fn canonical(dims: &[usize], perm: &[usize]) -> (Vec<usize>, Vec<usize>) {
    // Drop size-1 axes (renumbering the rest).
    let keep: Vec<usize> = (0..dims.len()).filter(|&a| dims[a] != 1).collect();
    let renum = |a: usize| keep.iter().position(|&k| k == a);
    let perm: Vec<usize> = perm.iter().filter_map(|&a| renum(a)).collect();
    let dims: Vec<usize> = keep.iter().map(|&a| dims[a]).collect();
    // Group output axes whose input axes are consecutive.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &a in &perm {
        match groups.last_mut() {
            Some(g) if g.last().is_some_and(|&l| l + 1 == a) => g.push(a),
            _ => groups.push(vec![a]),
        }
    }
    // Merged input axes, in input order; each group becomes one axis.
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| groups[g][0]);
    let merged_dims: Vec<usize> = order.iter().map(|&g| groups[g].iter().map(|&a| dims[a]).product()).collect();
    let mut merged_perm = vec![0; groups.len()];
    for (pos, &g) in order.iter().enumerate() {
        merged_perm[g] = pos;
    }
    (merged_dims, merged_perm)
}

/// Blocked 2-D transpose of a row-major `[rows, cols]` into `dst` (`[cols, rows]`); rows of
/// output blocks run in parallel when the matrix is large.
fn transpose2d<T: Copy + Send + Sync>(src: &[T], dst: &mut [T], rows: usize, cols: usize) {
    const B: usize = 32;
    let block = |j0: usize, out: &mut [T]| {
        // `out` holds output rows j0..j0+B (input columns).
        let j1 = (j0 + B).min(cols);
        for i0 in (0..rows).step_by(B) {
            let i1 = (i0 + B).min(rows);
            for j in j0..j1 {
                let o = &mut out[(j - j0) * rows..(j - j0 + 1) * rows];
                for i in i0..i1 {
                    o[i] = src[i * cols + j];
                }
            }
        }
    };
    if rows * cols >= 1 << 16 {
        use rayon::prelude::*;
        dst.par_chunks_mut(B * rows).enumerate().for_each(|(b, out)| block(b * B, out));
    } else {
        for (b, out) in dst.chunks_mut(B * rows.max(1)).enumerate() {
            block(b * B, out);
        }
    }
}

/// `x` permuted by `perm` as a contiguous array. Cases that reduce to a (batched) 2-D
/// transpose use a cache-blocked kernel; a permutation that keeps the element order is a
/// reshape; anything else goes through ndarray's strided copy.
fn permute<T: ferroflow_core::Element>(
    x: ndarray::ArrayViewD<'_, T>,
    perm: &[usize],
) -> std::result::Result<Value, String> {
    let out_dims: Vec<usize> = perm.iter().map(|&a| x.shape()[a]).collect();
    let (dims, p) = canonical(x.shape(), perm);
    let src = x.as_standard_layout();
    let Some(src) = src.as_slice() else {
        return Err("internal error: a standard-layout array has no slice".into());
    };
    let n = src.len();
    let data: Vec<T> = match p.as_slice() {
        [] | [0] => src.to_vec(),
        [1, 0] => {
            let mut dst = vec![T::default(); n];
            transpose2d(src, &mut dst, dims[0], dims[1]);
            dst
        }
        [0, 2, 1] => {
            let mut dst = vec![T::default(); n];
            let m = dims[1] * dims[2];
            for (s, d) in src.chunks(m.max(1)).zip(dst.chunks_mut(m.max(1))) {
                transpose2d(s, d, dims[1], dims[2]);
            }
            dst
        }
        _ => {
            return Ok(T::into_value(x.permuted_axes(IxDyn(perm)).as_standard_layout().into_owned().into_shared()));
        }
    };
    Value::from_shape_vec(&out_dims, data).map_err(|e| e.to_string())
}

#[typetag::serde]
impl Op for Transpose {
    fn type_name(&self) -> &'static str {
        "Transpose"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.input(0)?;
        let shape = match x.shape.dims() {
            None if self.perm.is_empty() => Shape::unknown(),
            None => {
                resolve_perm(&self.perm, self.perm.len()).map_err(|m| cx.error(m))?;
                Shape::unknown_dims(self.perm.len())
            }
            Some(d) => {
                let p = resolve_perm(&self.perm, d.len()).map_err(|m| cx.error(format!("{m} (shape {})", x.shape)))?;
                Shape::from_dims(p.iter().map(|&i| d[i]).collect())
            }
        };
        Ok(vec![TensorSpec::new(x.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let x = cx.take_input(0)?;
        let p =
            resolve_perm(&self.perm, x.shape().len()).map_err(|m| cx.error(format!("{m} (shape {:?})", x.shape())))?;
        if p.iter().enumerate().all(|(i, &a)| i == a) {
            return Ok(vec![x]);
        }
        let out = with_value!(x, a => permute(a.view(), &p).map_err(|e| cx.error(format!("transpose failed: {e}")))?);
        Ok(vec![out])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = cx.grad(0) else { return Ok(vec![None]) };
        let perm = match cx.input_spec(0)?.shape.rank() {
            Some(r) => invert(&resolve_perm(&self.perm, r).map_err(|m| cx.error(m))?),
            // Unknown rank: a given perm fixes the rank; the empty one (reversal) is its own inverse.
            None => invert(&self.perm),
        };
        Ok(vec![Some(s.add_op1(Transpose { perm }, &[g], "Transpose")?)])
    }
    fn describe(&self) -> String {
        format!("perm={:?}", self.perm)
    }
}

/// `x` with its axes permuted by `perm` (output axis `i` is input axis `perm[i]`); an empty
/// `perm` reverses the axes. TF1: `tf.transpose(x, perm)`.
///
/// The output is a contiguous copy. Gradient: `transpose(g, inverse(perm))`.
///
/// # Shapes
/// `[2, 3, 4]` with perm `[2, 0, 1]` gives `[4, 2, 3]`; `[?, 3]` with `[]` gives `[3, ?]`.
///
/// # Errors
/// `perm` not a permutation of `0..rank`.
///
/// ```
/// use ferroflow_core::Graph;
/// use ferroflow_ops::{array, constant};
/// use ferroflow_session::Session;
/// let g = Graph::new();
/// let s = g.root();
/// let x = constant(&s, ndarray::array![[1i32, 2, 3], [4, 5, 6]]).unwrap();
/// let t = array::transpose(&s, x, &[1, 0]).unwrap();
/// let out = Session::new(&g).run([t], &[]).unwrap();
/// assert_eq!(out[0].shape(), &[3, 2]);
/// assert_eq!(out[0].to_vec::<i32>().unwrap(), vec![1, 4, 2, 5, 3, 6]);
/// ```
pub fn transpose(s: &Scope, x: impl IntoInput, perm: &[usize]) -> Result<Tensor> {
    let x = x.into_tensor(s, None)?;
    s.add_op1(Transpose { perm: perm.to_vec() }, &[x], "Transpose")
}
