//! `transpose`: permutes the axes of a tensor (the output is a contiguous copy).

use crate::input::IntoInput;
use ferroflow_core::typetag;
use ferroflow_core::{with_value, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value};
use ndarray::IxDyn;
use serde::{Deserialize, Serialize};
use std::any::Any;

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
        let p = resolve_perm(&self.perm, x.shape().len()).map_err(|m| cx.error(format!("{m} (shape {:?})", x.shape())))?;
        if p.iter().enumerate().all(|(i, &a)| i == a) {
            return Ok(vec![x]);
        }
        let out = with_value!(x, a => Value::from(a.view().permuted_axes(IxDyn(&p)).as_standard_layout().into_owned()));
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
    fn as_any(&self) -> &dyn Any {
        self
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
