//! Random ops (`random_normal`, `truncated_normal`, `random_uniform`) and the variable
//! initializers (zeros, ones, constant, the random ones, glorot_uniform).
//!
//! Seeds follow TF1's rule: with a graph seed every op gets a reproducible stream (its op seed,
//! or its node index when none is given); with only an op seed the graph seed defaults to
//! TF's 87654321; with neither the session draws one. Each op keeps its stream across runs
//! of a session, so every run draws new numbers, as in TF1. The numbers themselves differ
//! from TF's (a different generator).

use crate::array::alloc::KernelAlloc;
use crate::array::fill::filled_tensor;
use crate::state::constant;
use ferroflow_core::typetag;
use ferroflow_core::{
    DType, Element, Error, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value,
};
use num_traits::Float;
use rand::distributions::uniform::SampleUniform;
use rand::distributions::Uniform;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

const DEFAULT_GRAPH_SEED: u64 = 87_654_321;

/// The effective seed of a new random op, from the graph seed and the op seed.
pub fn resolve_seed(s: &Scope, op_seed: Option<u64>) -> Option<u64> {
    let g = s.graph();
    match (g.random_seed(), op_seed) {
        (Some(gs), os) => Some(mix(gs, os.unwrap_or(g.num_nodes() as u64))),
        (None, Some(os)) => Some(mix(DEFAULT_GRAPH_SEED, os)),
        (None, None) => None,
    }
}

fn mix(a: u64, b: u64) -> u64 {
    // SplitMix64 finalizer over the pair.
    let mut z = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Which distribution a [`RandomOp`] draws from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Distr {
    /// Normal(mean, stddev).
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        stddev: f64,
    },
    /// Normal(mean, stddev) redrawn beyond two standard deviations.
    TruncatedNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        stddev: f64,
    },
    /// Uniform in `[minval, maxval)`.
    Uniform {
        /// Lower bound (inclusive).
        minval: f64,
        /// Upper bound (exclusive).
        maxval: f64,
    },
}

/// Draws a tensor of a fixed shape (TF1 `RandomStandardNormal`, `TruncatedNormal`, `RandomUniform`).
#[derive(Debug, Serialize, Deserialize)]
pub struct RandomOp {
    /// The distribution.
    pub distr: Distr,
    /// Output shape.
    pub shape: Vec<usize>,
    /// Output dtype (float).
    pub dtype: DType,
    /// Resolved seed (`None`: the session's).
    pub seed: Option<u64>,
}

#[typetag::serde]
impl Op for RandomOp {
    fn type_name(&self) -> &'static str {
        match self.distr {
            Distr::Normal { .. } => "RandomStandardNormal",
            Distr::TruncatedNormal { .. } => "TruncatedNormal",
            Distr::Uniform { .. } => "RandomUniform",
        }
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        if !self.dtype.is_float() {
            return Err(cx.error(format!("random ops produce floats, not {}", self.dtype)));
        }
        let shape = Shape::known(&self.shape);
        shape.checked_byte_size(self.dtype).map_err(|e| cx.wrap(e))?;
        Ok(vec![TensorSpec::new(self.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let out = match self.dtype {
            DType::F32 => Value::from_shape_vec(&self.shape, self.draw::<f32>(cx)?),
            DType::F64 => Value::from_shape_vec(&self.shape, self.draw::<f64>(cx)?),
            d => return Err(cx.error(format!("random ops produce floats, not {d}"))),
        };
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![])
    }
    fn is_stateful(&self) -> bool {
        true
    }
}

/// The float types random ops draw into.
trait RandomFloat: Element + Float + SampleUniform {
    fn of(x: f64) -> Self;
}
impl RandomFloat for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
}
impl RandomFloat for f64 {
    fn of(x: f64) -> Self {
        x
    }
}

impl RandomOp {
    /// Draws the output straight into one buffer of the output dtype (allocated fallibly:
    /// an unaffordable size is an error naming the node), so a random initializer costs
    /// what the variable costs. Normal draws are made in `f64` and rounded per element;
    /// uniform draws use `rand`'s `Uniform<T>`, which stays below `maxval` in `T`.
    fn draw<T: RandomFloat>(&self, cx: &KernelCtx<'_>) -> Result<Vec<T>> {
        let mut data = cx.alloc_vec::<T>(&self.shape)?;
        let n = data.capacity();
        let distr = self.distr;
        cx.runtime().with_rng(cx.op(), self.seed, &mut |rng| match distr {
            Distr::Normal { mean, stddev } => data.extend((0..n).map(|_| {
                let z: f64 = StandardNormal.sample(rng);
                T::of(mean + stddev * z)
            })),
            Distr::TruncatedNormal { mean, stddev } => data.extend((0..n).map(|_| loop {
                let z: f64 = StandardNormal.sample(rng);
                if z.abs() <= 2.0 {
                    break T::of(mean + stddev * z);
                }
            })),
            Distr::Uniform { minval, maxval } => {
                let (lo, hi) = (T::of(minval), T::of(maxval));
                if lo < hi && (hi - lo).is_finite() {
                    let u = Uniform::new(lo, hi);
                    data.extend((0..n).map(|_| u.sample(rng)));
                } else {
                    // Empty, reversed or infinite ranges: TF's formula, no panic.
                    data.extend((0..n).map(|_| T::of(minval + (maxval - minval) * rng.gen::<f64>())));
                }
            }
        });
        Ok(data)
    }
}

fn random(s: &Scope, distr: Distr, shape: &[usize], dtype: DType, seed: Option<u64>, name: &str) -> Result<Tensor> {
    let seed = resolve_seed(s, seed);
    s.add_op1(RandomOp { distr, shape: shape.to_vec(), dtype, seed }, &[], name)
}

/// Normal samples. TF1: `tf.random_normal(shape, mean, stddev, dtype, seed)`.
pub fn random_normal(
    s: &Scope,
    shape: &[usize],
    mean: f64,
    stddev: f64,
    dtype: DType,
    seed: Option<u64>,
) -> Result<Tensor> {
    random(s, Distr::Normal { mean, stddev }, shape, dtype, seed, "random_normal")
}

/// Normal samples redrawn beyond 2 stddev. TF1: `tf.truncated_normal`.
pub fn truncated_normal(
    s: &Scope,
    shape: &[usize],
    mean: f64,
    stddev: f64,
    dtype: DType,
    seed: Option<u64>,
) -> Result<Tensor> {
    random(s, Distr::TruncatedNormal { mean, stddev }, shape, dtype, seed, "truncated_normal")
}

/// Uniform samples in `[minval, maxval)`. TF1: `tf.random_uniform`.
pub fn random_uniform(
    s: &Scope,
    shape: &[usize],
    minval: f64,
    maxval: f64,
    dtype: DType,
    seed: Option<u64>,
) -> Result<Tensor> {
    random(s, Distr::Uniform { minval, maxval }, shape, dtype, seed, "random_uniform")
}

/// A variable initializer. TF1: `tf.zeros_initializer()`, `tf.glorot_uniform_initializer()`, …
#[derive(Clone, Debug, PartialEq)]
pub enum Initializer {
    /// All zeros (TF1 default for biases and `beta`).
    Zeros,
    /// All ones (TF1 default for `gamma`).
    Ones,
    /// Every element `c`.
    Constant(f64),
    /// An explicit value (its shape must match).
    Value(Value),
    /// Normal(mean, stddev).
    RandomNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        stddev: f64,
        /// Op seed.
        seed: Option<u64>,
    },
    /// Truncated normal(mean, stddev).
    TruncatedNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        stddev: f64,
        /// Op seed.
        seed: Option<u64>,
    },
    /// Uniform in `[minval, maxval)`.
    RandomUniform {
        /// Lower bound.
        minval: f64,
        /// Upper bound.
        maxval: f64,
        /// Op seed.
        seed: Option<u64>,
    },
    /// Glorot/Xavier uniform, `limit = sqrt(6 / (fan_in + fan_out))` (TF1's default for
    /// `get_variable` and layer kernels).
    GlorotUniform {
        /// Op seed.
        seed: Option<u64>,
    },
}

impl Initializer {
    /// Glorot uniform with no op seed.
    pub fn glorot_uniform() -> Self {
        Initializer::GlorotUniform { seed: None }
    }

    /// Builds the tensor producing the initial value, in `dtype` directly (no `f64` staging).
    ///
    /// Zeros, ones and constants of fewer than 1000 elements are a `Const` (`zeros`, `ones`,
    /// `Const`, as TF1); larger ones a `Fill` of that name (TF1's `tf.zeros` does the same for
    /// zeros and ones; TF1's `constant_initializer` would embed the whole value in the graph),
    /// so the value is allocated only when the initializer runs and the graph stays small.
    /// The random initializers are one op (`random_uniform`, …) that draws into the output.
    pub fn build(&self, s: &Scope, dtype: DType, shape: &[usize]) -> Result<Tensor> {
        let fill = |name: &str, c: Value| filled_tensor(s, name, shape, c.cast(dtype));
        match self {
            Initializer::Zeros => fill("zeros", Value::from(0i64)),
            Initializer::Ones => fill("ones", Value::from(1i64)),
            Initializer::Constant(c) => fill("Const", Value::from(*c)),
            Initializer::Value(v) => {
                if v.shape() != shape {
                    return Err(Error::invalid(format!(
                        "initializer value has shape {:?}, variable needs {shape:?}",
                        v.shape()
                    )));
                }
                constant(s, v.cast(dtype))
            }
            Initializer::RandomNormal { mean, stddev, seed } => random_normal(s, shape, *mean, *stddev, dtype, *seed),
            Initializer::TruncatedNormal { mean, stddev, seed } => {
                truncated_normal(s, shape, *mean, *stddev, dtype, *seed)
            }
            Initializer::RandomUniform { minval, maxval, seed } => {
                random_uniform(s, shape, *minval, *maxval, dtype, *seed)
            }
            Initializer::GlorotUniform { seed } => {
                let (fan_in, fan_out) = fans(shape);
                let limit = (6.0 / (fan_in + fan_out).max(1.0)).sqrt();
                random_uniform(s, shape, -limit, limit, dtype, *seed)
            }
        }
    }
}

/// TF's fan computation: dense `[in, out]`; conv `[h, w, in, out]` scaled by the receptive field.
/// Computed in `f64`, so no shape can overflow it.
pub fn fans(shape: &[usize]) -> (f64, f64) {
    match *shape {
        [] => (1.0, 1.0),
        [n] => (n as f64, n as f64),
        [i, o] => (i as f64, o as f64),
        [ref field @ .., i, o] => {
            let receptive: f64 = field.iter().map(|&d| d as f64).product();
            (i as f64 * receptive, o as f64 * receptive)
        }
    }
}
