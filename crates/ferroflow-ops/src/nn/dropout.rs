//! Dropout with inverted scaling, and its gradient kernel (`DropoutGrad`).
//!
//! One stateful op draws the keep mask and outputs both `x / keep_prob · mask` and the mask
//! itself; the gradient reads that second output, so it always uses the very mask the forward
//! pass drew in the same `Session::run` (a node runs at most once per run).

use super::conv::{by_float, flat, NnFloat};
use crate::input::IntoInput;
use crate::random::resolve_seed;
use crate::state::Const;
use ferroflow_core::typetag;
use ferroflow_core::{DType, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value};
use ndarray::{ArrayViewD, IxDyn, Zip};
use num_traits::{One, Zero};
use rand::RngCore;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Randomly zeroes elements, scaling the kept ones by `1 / keep_prob`.
///
/// TF1: `tf.nn.dropout(x, keep_prob, noise_shape=None, seed=None)`.
///
/// `mask ~ Bernoulli(keep_prob)` of shape `noise_shape` (default: `x`'s shape), broadcast
/// against `x`; `y = x / keep_prob · mask`, so `E[y] = x`. The gradient is
/// `dy · mask / keep_prob` with the same mask. `keep_prob` is a scalar tensor (usually a
/// placeholder fed 1.0 at test time) or a literal; a literal 1 returns `x` itself, as TF1.
/// Seeds follow [`crate::random`]: with a graph or op seed the masks are reproducible; each
/// run draws a new mask. No gradient flows to `keep_prob`.
///
/// # Shapes
/// `x: any`, `keep_prob: []`, `noise_shape`: broadcastable to `x` (each dim 1 or equal to
/// `x`'s, aligned to the right; e.g. `[n, 1, 1, c]` drops whole feature maps) → shape of `x`.
///
/// # Errors
/// At build time: a literal (constant) `keep_prob` outside `(0, 1]`, a non-scalar or
/// non-float `keep_prob`, a `keep_prob` dtype differing from `x`, a `noise_shape` that does not
/// broadcast to `x`. At run time: a fed `keep_prob` outside `(0, 1]`, a `noise_shape` that does
/// not broadcast to the fed `x`.
///
/// ```
/// use ferroflow_core::{shape, DType, Graph};
/// use ferroflow_ops::{nn, placeholder};
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = placeholder(&s, DType::F32, shape![None, 10])?;
/// let y = nn::dropout(&s, x, 0.8f32, None, Some(1))?;
/// assert_eq!(y.shape(&g).unwrap(), shape![None, 10]);
/// assert!(nn::dropout(&s, x, 1.5f32, None, None).is_err());
/// # Ok(()) }
/// ```
pub fn dropout(
    s: &Scope,
    x: impl IntoInput,
    keep_prob: impl IntoInput,
    noise_shape: Option<&[usize]>,
    seed: Option<u64>,
) -> Result<Tensor> {
    let x = x.into_tensor(s, None)?;
    let kp = keep_prob.into_tensor(s, Some(x.dtype(s)?))?;
    let literal = constant_scalar(s, kp);
    if literal == Some(1.0) {
        return Ok(x);
    }
    let seed = resolve_seed(s, seed);
    let op = Dropout { seed, noise_shape: noise_shape.map(<[usize]>::to_vec), literal_keep_prob: literal };
    s.add_op1(op, &[x, kp], "dropout")
}

/// The value of `t` when it is a one-element constant.
fn constant_scalar(s: &Scope, t: Tensor) -> Option<f64> {
    let node = s.graph().node(t.op()).ok()?;
    let c = node.op.downcast_ref::<Const>()?;
    if c.value.len() != 1 || !c.value.dtype().is_float() {
        return None;
    }
    c.value.cast(DType::F64).scalar::<f64>().ok()
}

fn check_keep_prob(kp: f64) -> std::result::Result<(), String> {
    if kp > 0.0 && kp <= 1.0 {
        Ok(())
    } else {
        Err(format!("keep_prob must be in (0, 1], got {kp}"))
    }
}

/// Checks that `noise` broadcasts to `x` without growing it.
fn check_noise_shape(noise: &[usize], x: &Shape) -> std::result::Result<(), String> {
    let Some(xd) = x.dims() else { return Ok(()) };
    let bad = || {
        format!("noise_shape {noise:?} does not broadcast to the input shape {x} (each dim must be 1 or equal, aligned right)")
    };
    if noise.len() > xd.len() {
        return Err(bad());
    }
    let off = xd.len() - noise.len();
    for (i, &n) in noise.iter().enumerate() {
        match xd.get(off + i).copied().flatten() {
            Some(d) if n != 1 && n != d => return Err(bad()),
            _ => {}
        }
    }
    Ok(())
}

/// Dropout: outputs `[x / keep_prob · mask, mask]` (inputs `[x, keep_prob]`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Dropout {
    /// Resolved seed (`None`: the session's).
    pub seed: Option<u64>,
    /// Shape of the mask, broadcast against `x` (`None`: `x`'s shape).
    pub noise_shape: Option<Vec<usize>>,
    /// `keep_prob` when it is a constant, checked at build time.
    pub literal_keep_prob: Option<f64>,
}

#[typetag::serde]
impl Op for Dropout {
    fn type_name(&self) -> &'static str {
        "Dropout"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.expect_float(0)?;
        let kp = cx.input(1)?;
        if kp.dtype != x.dtype {
            return Err(cx.error(format!("keep_prob must have the dtype of x ({}), got {}", x.dtype, kp.dtype)));
        }
        if kp.shape.num_elements().is_some_and(|n| n != 1) {
            return Err(cx.error(format!("keep_prob must be a scalar, got shape {}", kp.shape)));
        }
        if let Some(k) = self.literal_keep_prob {
            check_keep_prob(k).map_err(|m| cx.error(m))?;
        }
        let mask = match &self.noise_shape {
            Some(ns) => {
                check_noise_shape(ns, &x.shape).map_err(|m| cx.error(m))?;
                Shape::known(ns)
            }
            None => x.shape.clone(),
        };
        Ok(vec![x.clone(), TensorSpec::new(x.dtype, mask)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let kp = keep_prob(cx, 1)?;
        let x = cx.take_input(0)?;
        let xs = x.shape().to_vec();
        let ms = match &self.noise_shape {
            Some(ns) => {
                check_noise_shape(ns, &Shape::known(&xs)).map_err(|m| cx.error(m))?;
                ns.clone()
            }
            None => xs.clone(),
        };
        let n: usize = ms.iter().product();
        // Keep iff a uniform u32 falls below keep_prob · 2³² (always for keep_prob = 1).
        let threshold = kp * 4_294_967_296.0;
        let mut bits = Vec::with_capacity(n);
        cx.runtime().with_rng(cx.op(), self.seed, &mut |rng| {
            bits.extend((0..n).map(|_| (rng.next_u32() as f64) < threshold));
        });
        let (y, mask) = by_float!(x.dtype(), cx, T => {
            let mask: Vec<T> = bits.iter().map(|&b| if b { T::one() } else { T::zero() }).collect();
            let y = apply_mask::<T>(x, &mask, &ms, kp).map_err(|m| cx.error(m))?;
            (y, Value::from_shape_vec(&ms, mask).map_err(|e| cx.wrap(e))?)
        });
        Ok(vec![y, mask])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = cx.grad(0) else { return Ok(vec![None, None]) };
        let dx = s.add_op1(DropoutGrad, &[g, cx.output(1), cx.input(1)?], "DropoutGrad")?;
        Ok(vec![Some(dx), None])
    }
    fn is_stateful(&self) -> bool {
        true
    }
    fn describe(&self) -> String {
        match &self.noise_shape {
            Some(ns) => format!("noise_shape={ns:?}"),
            None => String::new(),
        }
    }
}

/// Reads and checks the scalar `keep_prob` input `i`.
fn keep_prob(cx: &KernelCtx<'_>, i: usize) -> Result<f64> {
    let v = cx.input(i)?;
    if v.len() != 1 {
        return Err(cx.error(format!("keep_prob must be a scalar, got shape {:?}", v.shape())));
    }
    let kp = v.cast(DType::F64).scalar::<f64>().map_err(|e| cx.wrap(e))?;
    check_keep_prob(kp).map_err(|m| cx.error(format!("{m} (fed or computed value)")))?;
    Ok(kp)
}

/// `x / kp · mask` with `mask` (shape `ms`) broadcast against `x`, in place when `x` is unshared.
fn apply_mask<T: NnFloat>(x: Value, mask: &[T], ms: &[usize], kp: f64) -> std::result::Result<Value, String> {
    let mut a = x.into_shared::<T>().map_err(|e| e.to_string())?;
    let k = T::from(kp).unwrap_or_else(T::one);
    let xs = a.shape().to_vec();
    if ms == xs.as_slice() {
        if !a.is_standard_layout() {
            a = a.as_standard_layout().into_owned().into_shared();
        }
        let s = a.as_slice_mut().ok_or("internal: value is not contiguous")?;
        s.par_chunks_mut(1 << 14).zip(mask.par_chunks(1 << 14)).for_each(|(v, m)| {
            for (v, &m) in v.iter_mut().zip(m) {
                *v = *v / k * m;
            }
        });
    } else {
        let mv = ArrayViewD::from_shape(IxDyn(ms), mask).map_err(|e| e.to_string())?;
        let mb = mv.broadcast(IxDyn(&xs)).ok_or_else(|| format!("mask {ms:?} does not broadcast to {xs:?}"))?;
        Zip::from(&mut a.view_mut()).and(&mb).for_each(|v, &m| *v = *v / k * m);
    }
    Ok(T::into_value(a))
}

/// `dy · mask / keep_prob` (inputs `[dy, mask, keep_prob]`): the gradient of [`Dropout`].
#[derive(Debug, Serialize, Deserialize)]
pub struct DropoutGrad;

#[typetag::serde]
impl Op for DropoutGrad {
    fn type_name(&self) -> &'static str {
        "DropoutGrad"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let g = cx.expect_float(0)?;
        cx.expect_same_dtype(0, 1)?;
        cx.expect_same_dtype(0, 2)?;
        Ok(vec![g.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let kp = keep_prob(cx, 2)?;
        let ms = cx.input(1)?.shape().to_vec();
        let g = cx.take_input(0)?;
        let out = by_float!(g.dtype(), cx, T => {
            let mask = flat(cx.view::<T>(1)?).into_owned();
            apply_mask::<T>(g, &mask, &ms, kp).map_err(|m| cx.error(m))?
        });
        Ok(vec![out])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        // Linear in dy with the same mask.
        let Some(gg) = cx.grad(0) else { return Ok(vec![None, None, None]) };
        let d = s.add_op1(DropoutGrad, &[gg, cx.input(1)?, cx.input(2)?], "DropoutGrad")?;
        Ok(vec![Some(d), None, None])
    }
}
