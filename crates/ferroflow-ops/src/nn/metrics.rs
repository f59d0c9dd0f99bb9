//! Evaluation metrics: `in_top_k`.

use super::conv::flat;
use crate::input::IntoInput;
use ferroflow_core::typetag;
use ferroflow_core::{DType, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value};
use serde::{Deserialize, Serialize};

/// Whether each target class is among the `k` highest predictions of its row.
///
/// TF1: `tf.nn.in_top_k(predictions, targets, k)`.
///
/// `out[i] = #{j : predictions[i, j] > predictions[i, targets[i]]} < k`: ties at the boundary
/// count as in the top k (as TF). A target outside `[0, classes)` or a non-finite prediction
/// in its row gives `false`, as TF.
///
/// # Shapes
/// `predictions: [batch, classes]` (float), `targets: [batch]` (int32 or int64) → `[batch]` bool.
///
/// # Errors
/// Wrong ranks, a batch size mismatch (both shapes named), a non-float `predictions` or
/// non-integer `targets`.
///
/// ```
/// use ferroflow_core::{shape, DType, Graph};
/// use ferroflow_ops::{nn, placeholder};
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let p = placeholder(&s, DType::F32, shape![None, 10])?;
/// let t = placeholder(&s, DType::I64, shape![None])?;
/// let hit = nn::in_top_k(&s, p, t, 1)?;
/// assert_eq!((hit.dtype(&g).unwrap(), hit.shape(&g).unwrap()), (DType::Bool, shape![None]));
/// # Ok(()) }
/// ```
pub fn in_top_k(s: &Scope, predictions: impl IntoInput, targets: impl IntoInput, k: usize) -> Result<Tensor> {
    let p = predictions.into_tensor(s, None)?;
    let t = targets.into_tensor(s, None)?;
    s.add_op1(InTopK { k }, &[p, t], "in_top_k")
}

/// Top-k membership of targets (TF1 `InTopKV2`).
#[derive(Debug, Serialize, Deserialize)]
pub struct InTopK {
    /// How many top predictions count.
    pub k: usize,
}

fn row_hit<T: PartialOrd + Copy>(row: &[T], target: i64, k: usize, finite: impl Fn(T) -> bool) -> bool {
    let Some(&tv) = usize::try_from(target).ok().and_then(|t| row.get(t)) else { return false };
    if !row.iter().all(|&v| finite(v)) {
        return false;
    }
    row.iter().filter(|&&v| v > tv).count() < k
}

#[typetag::serde]
impl Op for InTopK {
    fn type_name(&self) -> &'static str {
        "InTopKV2"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let p = cx.expect_float(0)?;
        let t = cx.input(1)?;
        if !matches!(t.dtype, DType::I32 | DType::I64) {
            return Err(cx.error(format!("targets must be int32 or int64, got {}", t.dtype)));
        }
        if p.shape.rank().is_some_and(|r| r != 2) {
            return Err(cx.error(format!("predictions must be 2-D [batch, classes], got shape {}", p.shape)));
        }
        if t.shape.rank().is_some_and(|r| r != 1) {
            return Err(cx.error(format!("targets must be 1-D [batch], got shape {}", t.shape)));
        }
        if let (Some(a), Some(b)) = (p.shape.dim(0), t.shape.dim(0)) {
            if a != b {
                return Err(cx.error(format!("predictions {} and targets {} differ in batch size", p.shape, t.shape)));
            }
        }
        Ok(vec![TensorSpec::new(DType::Bool, Shape::from_dims(vec![p.shape.dim(0).or(t.shape.dim(0))]))])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let (ps, ts) = (cx.input(0)?.shape().to_vec(), cx.input(1)?.shape().to_vec());
        let ([b, c], [bt]) = (ps.as_slice(), ts.as_slice()) else {
            return Err(cx.error(format!("predictions {ps:?} must be 2-D and targets {ts:?} 1-D")));
        };
        if b != bt {
            return Err(cx.error(format!("predictions {ps:?} and targets {ts:?} differ in batch size")));
        }
        let targets: Vec<i64> = cx.input(1)?.cast(DType::I64).to_vec::<i64>().map_err(|e| cx.wrap(e))?;
        let k = self.k;
        let hits: Vec<bool> = match cx.input(0)?.dtype() {
            DType::F32 => {
                let p = flat(cx.view::<f32>(0)?);
                (0..*b).map(|i| row_hit(&p[i * c..(i + 1) * c], targets[i], k, f32::is_finite)).collect()
            }
            DType::F64 => {
                let p = flat(cx.view::<f64>(0)?);
                (0..*b).map(|i| row_hit(&p[i * c..(i + 1) * c], targets[i], k, f64::is_finite)).collect()
            }
            d => return Err(cx.error(format!("predictions must be float, got {d}"))),
        };
        Ok(vec![Value::from(hits)])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None, None])
    }
    fn describe(&self) -> String {
        format!("k={}", self.k)
    }
}
