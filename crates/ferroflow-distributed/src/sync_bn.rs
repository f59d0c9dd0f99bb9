//! Cross-replica ("synchronized") batch norm: `sync_moments` (mean and variance of the global
//! batch from one fused allreduce of the local sum, sum of squares and count) with its
//! `ReducedCount` kernel, and the layer `sync_batch_normalization`. TF:
//! `tf.keras.layers.experimental.SyncBatchNormalization`; Horovod: `hvd.SyncBatchNormalization`.

use crate::collective::{HasCollective, ReduceOp};
use crate::ops::grouped_allreduce;
use ferroflow_core::typetag;
use ferroflow_core::{
    Error, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value, Variable,
    MOVING_AVERAGE_VARIABLES,
};
use ferroflow_nn::layers::{BatchNormOptions, UpdateMode};
use ferroflow_nn::Training;
use ferroflow_ops::control::identity;
use ferroflow_ops::math::{div, maximum, mul, reduce_sum, square, sub};
use ferroflow_ops::nn;
use ferroflow_ops::random::Initializer;
use ferroflow_ops::state::{assign_sub, constant, get_variable, VariableOptions};
use serde::{Deserialize, Serialize};

/// The number of elements `reduce_*(x, axes)` reduces into each output: the product of `x`'s
/// dims over `axes`, as a scalar of `x`'s dtype. No gradient flows (it depends on the shape only).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReducedCount {
    /// The reduced axes (non-negative, checked at build time).
    pub axes: Vec<usize>,
}

#[typetag::serde]
impl Op for ReducedCount {
    fn type_name(&self) -> &'static str {
        "ReducedCount"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.expect_float(0)?;
        if let Some(r) = x.shape.rank() {
            if let Some(a) = self.axes.iter().find(|&&a| a >= r) {
                return Err(cx.error(format!("axis {a} is out of range for an input of rank {r}")));
            }
        }
        Ok(vec![TensorSpec::new(x.dtype, Shape::scalar())])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let x = cx.input(0)?;
        let mut n: f64 = 1.0;
        for &a in &self.axes {
            let d = x
                .shape()
                .get(a)
                .copied()
                .ok_or_else(|| cx.error(format!("axis {a} is out of range for shape {:?}", x.shape())))?;
            n *= d as f64;
        }
        Ok(vec![Value::from(n).cast(x.dtype())])
    }
    fn gradient(&self, _s: &Scope, _cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None])
    }
    fn describe(&self) -> String {
        format!("axes={:?}", self.axes)
    }
}

fn norm_axes(s: &Scope, x: Tensor, axes: &[i64]) -> Result<Vec<usize>> {
    let x_name = x.name(s)?;
    let rank = x.shape(s)?.rank().ok_or_else(|| {
        s.build_error("sync_moments", format!("'{x_name}' has unknown rank; sync_moments needs a known rank"))
    })?;
    axes.iter()
        .map(|&a| {
            let r = if a < 0 { a + rank as i64 } else { a };
            usize::try_from(r).ok().filter(|&r| r < rank).ok_or_else(|| {
                s.build_error("sync_moments", format!("axis {a} is out of range for '{x_name}' of rank {rank}"))
            })
        })
        .collect()
}

/// Mean and variance of `x` over `axes` **and over all ranks**: the moments of the global
/// batch. One fused allreduce (Sum) of the local `Σx`, `Σx²` and element count; then
/// `mean = Σx / n`, `var = max(Σx²/n − mean², 0)`. With one rank it equals `nn::moments` up to
/// rounding (it uses the sum-of-squares form, as TF's `SyncBatchNormalization`). Gradients flow
/// through the allreduce (its gradient is the allreduce of the incoming gradient), so each rank
/// gets the gradient of the global-batch statistics.
///
/// # Shapes
/// `x` of known rank; outputs have `x`'s shape without `axes` (`keep_dims = false`).
///
/// # Errors
/// Build: unknown rank, an axis out of range, a non-float `x`.
pub fn sync_moments(s: &Scope, x: Tensor, axes: &[i64], c: &impl HasCollective) -> Result<(Tensor, Tensor)> {
    let ax = norm_axes(s, x, axes)?;
    s.name_scope("sync_moments", |s| {
        let sum = reduce_sum(s, x, Some(axes), false)?;
        let sumsq = reduce_sum(s, square(s, x)?, Some(axes), false)?;
        let count = s.add_op1(ReducedCount { axes: ax }, &[x], "count")?;
        let all = grouped_allreduce(s, &[sum, sumsq, count], ReduceOp::Sum, c)?;
        let (gsum, gsumsq, n) = match all.as_slice() {
            [a, b, n] => (*a, *b, *n),
            _ => return Err(Error::invalid("sync_moments: the fused allreduce returned the wrong number of outputs")),
        };
        let mean = div(&s.with_name("mean"), gsum, n)?;
        let ex2 = div(s, gsumsq, n)?;
        let var = maximum(
            &s.with_name("variance"),
            sub(s, ex2, square(s, mean)?)?,
            constant(s, Value::from(0.0f64).cast(x.dtype(s)?))?,
        )?;
        Ok((mean, var))
    })
}

/// Batch normalization over the last axis with the moments of the **global** batch (all
/// ranks): `layers::batch_normalization` with [`sync_moments`] in training. Same variables
/// (`…/gamma`, `…/beta`, `…/moving_mean`, `…/moving_variance`), options and `UPDATE_OPS`
/// contract; `opts.fused` is ignored (the synchronized form is the unfused one, as in TF). The
/// moving variance is updated with the global batch variance (not Bessel-corrected).
///
/// Horovod's default is local BN (each rank normalizes with its own batch); use this when the
/// per-rank batch is small or when N ranks × B/N must train like one rank × B.
///
/// # Errors
/// Input of unknown rank or channel count; momentum outside `[0, 1]`.
pub fn sync_batch_normalization(
    s: &Scope,
    x: Tensor,
    training: impl Into<Training>,
    opts: BatchNormOptions,
    c: &impl HasCollective,
) -> Result<Tensor> {
    let training = training.into();
    let shape = x.shape(s)?;
    let x_name = x.name(s)?;
    let rank = shape
        .rank()
        .ok_or_else(|| Error::invalid(format!("batch normalization needs an input of known rank, got {x_name}")))?;
    let channels = shape.dim(rank.saturating_sub(1)).filter(|_| rank >= 2).ok_or_else(|| {
        Error::invalid(format!("batch normalization needs a known channel (last) dimension, got {x_name} {shape}"))
    })?;
    if !(0.0..=1.0).contains(&opts.momentum) {
        return Err(Error::invalid(format!("momentum must be in [0, 1], got {}", opts.momentum)));
    }
    let body = |vs: &Scope| -> Result<Tensor> {
        let dtype = x.dtype(s)?;
        let vo = VariableOptions::default().dtype(dtype).trainable(opts.trainable);
        let gamma: Option<Variable> =
            if opts.scale { Some(get_variable(vs, "gamma", [channels], Initializer::Ones, vo.clone())?) } else { None };
        let beta: Option<Variable> = if opts.center {
            Some(get_variable(vs, "beta", [channels], Initializer::Zeros, vo.clone())?)
        } else {
            None
        };
        let stat_opts = VariableOptions::default().dtype(dtype).trainable(false).collection(MOVING_AVERAGE_VARIABLES);
        let moving_mean = get_variable(vs, "moving_mean", [channels], Initializer::Zeros, stat_opts.clone())?;
        let moving_var = get_variable(vs, "moving_variance", [channels], Initializer::Ones, stat_opts)?;
        let (mm, mv) = (moving_mean.value(), moving_var.value());
        let axes: Vec<i64> = (0..rank as i64 - 1).collect();
        let (mean, var) = training.select(vs, |ts| sync_moments(ts, x, &axes, c), |_| Ok((mm, mv)))?;
        let y =
            nn::batch_normalization(vs, x, mean, var, beta.map(|b| b.value()), gamma.map(|g| g.value()), opts.epsilon)?;
        if training == Training::Fixed(false) {
            return Ok(y);
        }
        let one_minus = 1.0 - opts.momentum;
        let factor = training.select(
            vs,
            |s| constant(s, Value::from(one_minus).cast(dtype)),
            |s| constant(s, Value::from(0.0f64).cast(dtype)),
        )?;
        let update = |name: &str, var: Variable, batch: Tensor| -> Result<Tensor> {
            vs.name_scope(name, |us| {
                let delta = mul(us, sub(us, var.value(), batch)?, factor)?;
                assign_sub(&us.as_op_name(), var, delta)
            })
        };
        let up_mean = update("AssignMovingAvg", moving_mean, mean)?;
        let up_var = update("AssignMovingAvg_1", moving_var, var)?;
        match &opts.updates {
            UpdateMode::Collection(key) => {
                vs.graph().add_to_collection(key, up_mean);
                vs.graph().add_to_collection(key, up_var);
                Ok(y)
            }
            UpdateMode::InPlace => vs.control_dependencies(&[up_mean.op(), up_var.op()], |s| identity(s, y)),
            #[allow(unreachable_patterns)]
            _ => Err(Error::invalid("sync_batch_normalization: unsupported update mode")),
        }
    };
    match opts.name.as_deref() {
        Some(n) => s.variable_scope(n, false, body),
        None => s.unique_variable_scope("sync_batch_normalization", body),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::Hvd;
    use ferroflow_core::{shape, DType, Graph, UPDATE_OPS};
    use ferroflow_ops::state::{global_variables_initializer, placeholder};
    use ferroflow_session::Session;
    use ferroflow_testing::{assert_close, check_gradients};

    fn data() -> Value {
        Value::from_shape_vec(&[4, 3], vec![0.5f64, -1.0, 2.0, 1.5, 0.25, -0.75, -2.0, 1.0, 0.1, 0.3, 0.9, -0.4])
            .unwrap()
    }

    #[test]
    fn one_rank_matches_nn_moments() {
        let hvd = Hvd::local();
        let g = Graph::new();
        let s = g.root();
        let x = constant(&s, data()).unwrap();
        let (m, v) = sync_moments(&s, x, &[0], &hvd).unwrap();
        let (m0, v0) = nn::moments(&s, x, &[0], false).unwrap();
        assert_eq!(m.shape(&s).unwrap(), shape![3]);
        let out = Session::new(&g).run([m, v, m0, v0], &[]).unwrap();
        assert_close(&out[0], &out[2], 1e-12, 1e-12);
        assert_close(&out[1], &out[3], 1e-12, 1e-12);
        let e = sync_moments(&s, x, &[2], &hvd).unwrap_err().to_string();
        assert!(e.contains("axis 2 is out of range"), "{e}");
    }

    #[test]
    fn gradients_numerically() {
        let h = Hvd::local().collective();
        check_gradients(
            |s, x| {
                let (m, v) = sync_moments(s, x[0], &[0], &h)?;
                ferroflow_ops::math::add(s, m, v)
            },
            &[data()],
        );
        check_gradients(
            |s, x| sync_batch_normalization(s, x[0], true, BatchNormOptions::default().scale(false).center(false), &h),
            &[data()],
        );
    }

    #[test]
    fn layer_has_bn_variables_and_update_ops() {
        let hvd = Hvd::local();
        let g = Graph::new();
        let s = g.root();
        let x = placeholder(&s, DType::F32, shape![None, 2, 2, 3]).unwrap();
        let t = placeholder(&s.with_name("is_training"), DType::Bool, shape![]).unwrap();
        let y = sync_batch_normalization(&s, x, t, BatchNormOptions::default(), &hvd).unwrap();
        let names: Vec<String> = g.global_variables().iter().map(|v| v.name(&s).unwrap()).collect();
        assert_eq!(
            names,
            [
                "sync_batch_normalization/gamma",
                "sync_batch_normalization/beta",
                "sync_batch_normalization/moving_mean",
                "sync_batch_normalization/moving_variance"
            ]
        );
        assert_eq!(g.collection_ops(&UPDATE_OPS).len(), 2);
        let sess = Session::new(&g);
        sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
        let xv = Value::from_shape_vec(&[2, 2, 2, 3], (0..24).map(|i| i as f32 * 0.1).collect()).unwrap();
        let out = sess.run([y], &[(x, xv), (t, Value::from(true))]).unwrap();
        assert_eq!(out[0].shape(), &[2, 2, 2, 3]);
    }
}
