//! `one_hot`: integer indices to one-hot rows along a new last axis.

use crate::array::alloc::KernelAlloc;
use crate::input::IntoInput;
use ferroflow_core::typetag;
use ferroflow_core::{DType, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value};
use serde::{Deserialize, Serialize};

/// `out[..., j] = on if indices[...] == j else off`, a new last axis of size `depth`
/// (TF1 `OneHot` with `axis = -1`).
#[derive(Debug, Serialize, Deserialize)]
pub struct OneHot {
    /// Size of the new axis.
    pub depth: usize,
    /// Value at the index.
    pub on: f64,
    /// Value elsewhere.
    pub off: f64,
    /// Output dtype.
    pub dtype: DType,
}

#[typetag::serde]
impl Op for OneHot {
    fn type_name(&self) -> &'static str {
        "OneHot"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.input(0)?;
        if !matches!(x.dtype, DType::I32 | DType::I64) {
            return Err(
                cx.error(format!("indices must be int32 or int64, got {} {}; cast them first", x.dtype, x.shape))
            );
        }
        let shape = match x.shape.dims() {
            None => Shape::unknown(),
            Some(d) => {
                let mut out = d.to_vec();
                out.push(Some(self.depth));
                Shape::from_dims(out)
            }
        };
        shape.checked_byte_size(self.dtype).map_err(|e| {
            cx.error(format!("depth {} is too large for indices of shape {}: {e}", self.depth, x.shape))
        })?;
        Ok(vec![TensorSpec::new(self.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let x = cx.input(0)?;
        let idx: Vec<i64> = match x {
            Value::I32(a) => a.iter().map(|&i| i64::from(i)).collect(),
            Value::I64(a) => a.iter().copied().collect(),
            other => return Err(cx.error(format!("indices must be int32 or int64, got {}", other.dtype()))),
        };
        let mut dims = x.shape().to_vec();
        dims.push(self.depth);
        let depth = self.depth;
        macro_rules! fill {
            ($on:expr, $off:expr) => {{
                let mut out = cx.alloc_filled_vec(&dims, $off)?;
                for (row, &i) in out.chunks_exact_mut(depth.max(1)).zip(&idx) {
                    // Indices outside [0, depth) give a row of `off`, as in TF.
                    if let Some(slot) = usize::try_from(i).ok().and_then(|i| row.get_mut(i)) {
                        *slot = $on;
                    }
                }
                Value::from_shape_vec(&dims, out).map_err(|e| cx.wrap(e))?
            }};
        }
        let (on, off) = (self.on, self.off);
        Ok(vec![match self.dtype {
            DType::F32 => fill!(on as f32, off as f32),
            DType::F64 => fill!(on, off),
            DType::I32 => fill!(on as i32, off as i32),
            DType::I64 => fill!(on as i64, off as i64),
            DType::Bool => fill!(on != 0.0, off != 0.0),
            DType::String => return Err(cx.error("one_hot cannot produce string tensors")),
        }])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None])
    }
    fn describe(&self) -> String {
        format!("depth={} on={} off={} dtype={}", self.depth, self.on, self.off, self.dtype)
    }
}

/// One-hot rows: `out[..., j] = on` where `indices[...] == j`, else `off`. TF1:
/// `tf.one_hot(indices, depth, on_value, off_value, axis=-1, dtype)`.
///
/// Indices outside `[0, depth)` (negative included) give a row of `off`. No gradient.
///
/// # Shapes
/// `indices` shape plus `[depth]`: `[?]` with depth 10 gives `[?, 10]`.
///
/// # Errors
/// Indices that are not `int32`/`int64`, or a `depth` that makes the output's size overflow
/// (build errors); an output that cannot be allocated (run-time `Error::Allocation` naming
/// the node and the byte count).
///
/// ```
/// use ferroflow_core::{DType, Graph};
/// use ferroflow_ops::{array, constant};
/// use ferroflow_session::Session;
/// let g = Graph::new();
/// let s = g.root();
/// let labels = constant(&s, vec![2i32, 0, 5]).unwrap();
/// let y = array::one_hot(&s, labels, 3, 1.0, 0.0, DType::F32).unwrap();
/// let out = Session::new(&g).run([y], &[]).unwrap();
/// assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![0., 0., 1., 1., 0., 0., 0., 0., 0.]);
/// ```
pub fn one_hot(s: &Scope, indices: impl IntoInput, depth: usize, on: f64, off: f64, dtype: DType) -> Result<Tensor> {
    let x = indices.into_tensor(s, None)?;
    s.add_op1(OneHot { depth, on, off, dtype }, &[x], "one_hot")
}
