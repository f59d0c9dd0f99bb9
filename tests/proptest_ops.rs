//! Property tests over the public op builders and `Session::run` feeds (issue 9).
//!
//! Each generated case builds one op (or a `cond` of two ops) on placeholders, constants and
//! literals of random dtypes and shapes — unknown ranks and dims, 0-sized and huge (2^40)
//! static dims — with random attributes (negative and out-of-range axes, strides, depths,
//! permutations, reshape targets), feeds values holding NaN, ±inf and extreme integers
//! (sometimes of the wrong dtype or shape, sometimes not at all, sometimes twice), optionally
//! adds the gradients of the op's float outputs, and runs the session. Two properties:
//!
//! 1. nothing panics or aborts: every build and run happens under `catch_unwind`, and a panic is
//!    a failed property reported with the generated input (proptest then shrinks it). Cases run
//!    in child processes of this test binary, so a case that aborts the process (a failed huge
//!    allocation) is reported with its input too, and the run goes on in a new child;
//! 2. every error names a node: its `Display` string contains the full scoped name of the op
//!    under test (`case/op…`) or of some node of the case's graph (`case/in0`, `case/Const`).
//!
//! Known bugs (in files other engineers own) are listed in [`KNOWN_ISSUES`] with a matcher on
//! the panic location, abort frame or error text; matching outcomes are counted and printed, not failed, so
//! the suite passes until the fix lands. Each has a minimal reproducer at the end of this file,
//! a `#[test] #[ignore = "known bug: …"]` to un-ignore with the fix (then delete its entry).
//!
//! Cases: `FERROFLOW_PROPTEST_CASES` (default 5,000 for the normal test, 100,000 for the
//! ignored long run `ops_never_panic_and_errors_name_a_node_long`); seed:
//! `FERROFLOW_PROPTEST_SEED` (a `u64`; default fixed, so a CI failure reproduces);
//! `FERROFLOW_PROPTEST_SURVEY=1` lists every distinct failure instead of stopping at the first.
//! See docs/reliability.md for figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow::nn::{LrnOptions, Padding};
use ferroflow::prelude::*;
use ferroflow_ops::IntoInput;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, Once};
use std::time::Instant;

// ---------------------------------------------------------------------------------------------
// Generated inputs

/// A huge static dim: no value of it can be fed, and shape arithmetic on it must not overflow.
const HUGE: usize = 1 << 40;

/// A concrete value to feed or to make a constant from: dtype, shape and the element pool
/// indices (mapped per dtype so floats get NaN/inf and ints get MIN/MAX).
#[derive(Clone, Debug)]
struct Val {
    dtype: DType,
    dims: Vec<usize>,
    seeds: Vec<u8>,
}

const FLOATS: [f64; 16] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    2.0,
    -3.5,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    1e30,
    -1e30,
    1e-40,
    f64::MAX,
    f64::MIN_POSITIVE,
    7.0,
];
const INTS: [i64; 16] =
    [0, 1, -1, 2, 3, -2, 5, 9, 100, -100, 1 << 31, i32::MAX as i64, i32::MIN as i64, i64::MAX, i64::MIN, 4];

impl Val {
    fn value(&self) -> Value {
        let n: usize = self.dims.iter().product();
        let pick = |i: usize| usize::from(self.seeds.get(i % self.seeds.len().max(1)).copied().unwrap_or(0)) % 16;
        let r = match self.dtype {
            DType::F32 => Value::from_shape_vec(&self.dims, (0..n).map(|i| FLOATS[pick(i)] as f32).collect()),
            DType::F64 => Value::from_shape_vec(&self.dims, (0..n).map(|i| FLOATS[pick(i)]).collect()),
            DType::I32 => Value::from_shape_vec(&self.dims, (0..n).map(|i| INTS[pick(i)] as i32).collect()),
            DType::I64 => Value::from_shape_vec(&self.dims, (0..n).map(|i| INTS[pick(i)]).collect()),
            DType::Bool => Value::from_shape_vec(&self.dims, (0..n).map(|i| pick(i) % 2 == 1).collect()),
            DType::String => Value::strings(&self.dims, (0..n).map(|i| vec![b'a'; pick(i)]).collect()),
        };
        r.expect("generated value")
    }
}

/// How a placeholder is fed.
#[derive(Clone, Debug)]
enum Feed {
    Fed(Val),
    NotFed,
    Twice(Val, Val),
}

/// One input of the op under test.
#[derive(Clone, Debug)]
enum Input {
    /// `placeholder(dtype, shape)`; `None` shape = unknown rank.
    Placeholder { dtype: DType, shape: Option<Vec<Option<usize>>>, feed: Feed },
    /// `constant(value)`.
    Const(Val),
    /// A Rust literal (becomes a constant of the other operand's dtype).
    Lit(Lit),
    /// `placeholder_with_default(constant, shape)`, optionally fed.
    WithDefault { default: Val, shape: Option<Vec<Option<usize>>>, feed: Option<Val> },
}

#[derive(Clone, Copy, Debug)]
enum Lit {
    F32(f32),
    F64(f64),
    I32(i32),
    I64(i64),
    Bool(bool),
}

/// A built input: a tensor or a literal, passed to builders through `IntoInput`.
#[derive(Clone, Copy, Debug)]
enum Arg {
    T(Tensor),
    L(Lit),
}

impl IntoInput for Arg {
    fn as_tensor(&self) -> Option<Tensor> {
        match self {
            Arg::T(t) => Some(*t),
            Arg::L(_) => None,
        }
    }
    fn into_tensor(self, s: &Scope, hint: Option<DType>) -> ferroflow::Result<Tensor> {
        match self {
            Arg::T(t) => Ok(t),
            Arg::L(Lit::F32(x)) => x.into_tensor(s, hint),
            Arg::L(Lit::F64(x)) => x.into_tensor(s, hint),
            Arg::L(Lit::I32(x)) => x.into_tensor(s, hint),
            Arg::L(Lit::I64(x)) => x.into_tensor(s, hint),
            Arg::L(Lit::Bool(x)) => x.into_tensor(s, hint),
        }
    }
}

/// The op families under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Unary(u8),
    Binary(u8),
    Compare(u8),
    LogicalAnd,
    LogicalOr,
    LogicalNot,
    Where,
    MatMul,
    AddN,
    Reduce(u8),
    ArgMax,
    ArgMin,
    Conv2d,
    MaxPool,
    AvgPool,
    BiasAdd,
    Concat,
    Reshape,
    Transpose,
    ExpandDims,
    Squeeze,
    Flatten,
    OneHot,
    Cast,
    Softmax,
    LogSoftmax,
    SoftmaxAxis,
    LogSoftmaxAxis,
    Moments,
    BatchNorm,
    FusedBatchNorm,
    SoftmaxCe,
    SoftmaxCeV2,
    SparseSoftmaxCe,
    SigmoidCe,
    L2Loss,
    InTopK,
    Lrn,
    Dropout,
    Identity,
    StopGradient,
    ZerosLike,
    OnesLike,
    Random(u8),
    Cond(u8, u8),
}

/// Every attribute any op may take; each op reads the ones it needs.
#[derive(Clone, Debug)]
struct Params {
    axis: i64,
    axes: Option<Vec<i64>>,
    keep_dims: bool,
    flag_a: bool,
    flag_b: bool,
    perm: Vec<usize>,
    new_shape: Vec<i64>,
    size: usize,
    float_a: f64,
    float_b: f64,
    dtype: DType,
    window: [usize; 4],
    strides: [usize; 4],
    dilations: [usize; 4],
    padding: Padding,
    sizes: Vec<usize>,
}

/// One generated case: the op, up to four inputs, attributes, whether to differentiate, and an
/// optional extra feed of the op's own output (TF1 allows feeding any tensor).
#[derive(Clone, Debug)]
struct Case {
    kind: Kind,
    inputs: Vec<Input>,
    params: Params,
    gradients: bool,
    feed_output: Option<Val>,
}

fn dtype() -> impl Strategy<Value = DType> {
    prop_oneof![4 => Just(DType::F32), 2 => Just(DType::F64), 2 => Just(DType::I32), 1 => Just(DType::I64), 2 => Just(DType::Bool), 1 => Just(DType::String)]
}

/// An input's dtype: mostly the case's, sometimes an index type, sometimes anything.
fn input_dtype(case_dt: DType) -> impl Strategy<Value = DType> {
    prop_oneof![12 => Just(case_dt), 3 => prop_oneof![Just(DType::I32), Just(DType::I64)], 2 => dtype()]
}

fn small_dim() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 8 => 1usize..=4]
}

fn dims() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(small_dim(), 0..=4)
}

/// The concrete shape of an input, derived from the case's base shape so that most inputs
/// fit together (equal, broadcastable, the last or first dim, a conv filter, transposed), with
/// some arbitrary shapes mixed in.
fn concrete_dims(base: Vec<usize>) -> impl Strategy<Value = Vec<usize>> {
    let last: Vec<usize> = base.last().map(|&d| vec![d]).unwrap_or_default();
    let first: Vec<usize> = base.first().map(|&d| vec![d]).unwrap_or_default();
    let mut reversed = base.clone();
    reversed.reverse();
    let b2 = base.clone();
    let b3 = base.clone();
    let filter =
        (1usize..=3, 1usize..=3, 0usize..=3).prop_map(move |(h, w, o)| vec![h, w, b2.last().copied().unwrap_or(1), o]);
    let broadcast_one = (0usize..4).prop_map(move |i| {
        let mut d = b3.clone();
        if let Some(x) = d.get_mut(i) {
            *x = 1;
        }
        d
    });
    prop_oneof![
        12 => Just(base),
        2 => Just(last),
        2 => Just(first),
        2 => Just(Vec::new()),
        2 => Just(reversed),
        2 => broadcast_one,
        2 => filter,
        3 => dims(),
    ]
}

/// A static shape that accepts `dims` (unknown rank or dims), or rarely one that does not
/// (a huge 2^40 dim, or a different size).
fn static_for(dims: Vec<usize>) -> BoxedStrategy<Option<Vec<Option<usize>>>> {
    let per_dim: Vec<BoxedStrategy<Option<usize>>> = dims
        .into_iter()
        .map(|d| {
            prop_oneof![10 => Just(None), 28 => Just(Some(d)), 1 => Just(Some(HUGE)), 1 => Just(Some(d + 1))].boxed()
        })
        .collect();
    prop_oneof![1 => Just(None), 12 => per_dim.prop_map(Some)].boxed()
}

fn val(dtype: DType, dims: Vec<usize>) -> BoxedStrategy<Val> {
    proptest::collection::vec(any::<u8>(), 1..=8)
        .prop_map(move |seeds| Val { dtype, dims: dims.clone(), seeds })
        .boxed()
}

fn any_val() -> impl Strategy<Value = Val> {
    (dtype(), dims()).prop_flat_map(|(dt, d)| val(dt, d))
}

fn feed(dt: DType, d: Vec<usize>) -> impl Strategy<Value = Feed> {
    let v = val(dt, d.clone());
    prop_oneof![
        40 => v.clone().prop_map(Feed::Fed),
        1 => Just(Feed::NotFed),
        1 => (v.clone(), v).prop_map(|(a, b)| Feed::Twice(a, b)),
        1 => dtype().prop_flat_map(move |dt| val(dt, d.clone())).prop_map(Feed::Fed),
        1 => any_val().prop_map(Feed::Fed),
    ]
}

fn lit() -> impl Strategy<Value = Lit> {
    prop_oneof![
        (0usize..16).prop_map(|i| Lit::F32(FLOATS[i] as f32)),
        (0usize..16).prop_map(|i| Lit::F64(FLOATS[i])),
        (0usize..16).prop_map(|i| Lit::I32(INTS[i] as i32)),
        (0usize..16).prop_map(|i| Lit::I64(INTS[i])),
        any::<bool>().prop_map(Lit::Bool),
    ]
}

fn input(case_dt: DType, base: Vec<usize>) -> impl Strategy<Value = Input> {
    (input_dtype(case_dt), concrete_dims(base)).prop_flat_map(|(dt, d)| {
        let placeholder = (static_for(d.clone()), feed(dt, d.clone()))
            .prop_map(move |(shape, feed)| Input::Placeholder { dtype: dt, shape, feed });
        let with_default = (val(dt, d.clone()), static_for(d.clone()), proptest::option::weighted(0.5, val(dt, d.clone())))
            .prop_map(|(default, shape, feed)| Input::WithDefault { default, shape, feed });
        prop_oneof![12 => placeholder, 4 => val(dt, d).prop_map(Input::Const), 1 => lit().prop_map(Input::Lit), 1 => with_default]
    })
}

/// A cond predicate: usually a scalar bool placeholder, fed.
fn predicate() -> impl Strategy<Value = Input> {
    let scalar_bool =
        feed(DType::Bool, vec![]).prop_map(|feed| Input::Placeholder { dtype: DType::Bool, shape: Some(vec![]), feed });
    let unknown = (dtype(), dims())
        .prop_flat_map(|(dt, d)| feed(dt, d).prop_map(move |feed| Input::Placeholder { dtype: dt, shape: None, feed }));
    prop_oneof![8 => scalar_bool, 1 => unknown, 1 => input(DType::Bool, vec![])]
}

fn axis() -> impl Strategy<Value = i64> {
    prop_oneof![8 => -5i64..=5, 1 => Just(i64::MIN), 1 => Just(i64::MAX), 1 => Just(1i64 << 40)]
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0usize..=5, 1 => Just(HUGE), 1 => Just(usize::MAX)]
}

fn window() -> impl Strategy<Value = [usize; 4]> {
    let d = prop_oneof![10 => 1usize..=3, 1 => Just(0usize), 1 => Just(HUGE)];
    [d.clone(), d.clone(), d.clone(), d]
}

fn params() -> impl Strategy<Value = Params> {
    let a = (
        axis(),
        proptest::option::of(proptest::collection::vec(axis(), 0..=3)),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(prop_oneof![10 => 0usize..=4, 1 => Just(HUGE)], 0..=5),
        proptest::collection::vec(
            prop_oneof![10 => -2i64..=6, 1 => Just(1i64 << 40), 1 => Just(i64::MAX), 1 => Just(i64::MIN)],
            0..=4,
        ),
        size(),
    );
    let b = (
        (0usize..16).prop_map(|i| FLOATS[i]),
        (0usize..16).prop_map(|i| FLOATS[i]),
        dtype(),
        window(),
        window(),
        window(),
        prop_oneof![Just(Padding::Same), Just(Padding::Valid)],
        proptest::collection::vec(prop_oneof![10 => 0usize..=4, 1 => Just(HUGE)], 0..=4),
    );
    (a, b).prop_map(
        |(
            (axis, axes, keep_dims, flag_a, flag_b, perm, new_shape, size),
            (float_a, float_b, dtype, window, strides, dilations, padding, sizes),
        )| Params {
            axis,
            axes,
            keep_dims,
            flag_a,
            flag_b,
            perm,
            new_shape,
            size,
            float_a,
            float_b,
            dtype,
            window,
            strides,
            dilations,
            padding,
            sizes,
        },
    )
}

fn simple_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (0..math::unary::UnaryKind::ALL.len() as u8).prop_map(Kind::Unary),
        (0u8..8).prop_map(Kind::Binary),
        (0u8..6).prop_map(Kind::Compare),
        Just(Kind::LogicalAnd),
        Just(Kind::LogicalOr),
        Just(Kind::LogicalNot),
        Just(Kind::Where),
        Just(Kind::MatMul),
        Just(Kind::AddN),
        (0u8..5).prop_map(Kind::Reduce),
        Just(Kind::ArgMax),
        Just(Kind::ArgMin),
        Just(Kind::Conv2d),
        Just(Kind::MaxPool),
        Just(Kind::AvgPool),
        Just(Kind::BiasAdd),
        Just(Kind::Concat),
        Just(Kind::Reshape),
        Just(Kind::Transpose),
        Just(Kind::ExpandDims),
        Just(Kind::Squeeze),
        Just(Kind::Flatten),
        Just(Kind::OneHot),
        Just(Kind::Cast),
        Just(Kind::Softmax),
        Just(Kind::LogSoftmax),
        Just(Kind::SoftmaxAxis),
        Just(Kind::LogSoftmaxAxis),
        Just(Kind::Moments),
        Just(Kind::BatchNorm),
        Just(Kind::FusedBatchNorm),
        Just(Kind::SoftmaxCe),
        Just(Kind::SoftmaxCeV2),
        Just(Kind::SparseSoftmaxCe),
        Just(Kind::SigmoidCe),
        Just(Kind::L2Loss),
        Just(Kind::InTopK),
        Just(Kind::Lrn),
        Just(Kind::Dropout),
        Just(Kind::Identity),
        Just(Kind::StopGradient),
        Just(Kind::ZerosLike),
        Just(Kind::OnesLike),
        (0u8..3).prop_map(Kind::Random),
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    // A cond's branches build two (simple) ops; encode them by index into a small list.
    prop_oneof![12 => simple_kind(), 1 => (0u8..COND_BRANCH_KINDS.len() as u8, 0u8..COND_BRANCH_KINDS.len() as u8).prop_map(|(a, b)| Kind::Cond(a, b))]
}

const COND_BRANCH_KINDS: [Kind; 10] = [
    Kind::Unary(0),
    Kind::Unary(9),
    Kind::Binary(0),
    Kind::MatMul,
    Kind::Reduce(1),
    Kind::Softmax,
    Kind::Cast,
    Kind::Identity,
    Kind::Moments,
    Kind::Concat,
];

fn case() -> impl Strategy<Value = Case> {
    let case_dt = prop_oneof![6 => Just(DType::F32), 2 => Just(DType::F64), 1 => Just(DType::I32), 1 => Just(DType::I64), 1 => Just(DType::Bool)];
    (kind(), case_dt, dims())
        .prop_flat_map(|(kind, dt, base)| {
            let first =
                if matches!(kind, Kind::Cond(..)) { predicate().boxed() } else { input(dt, base.clone()).boxed() };
            let rest = proptest::collection::vec(input(dt, base), 3);
            (Just(kind), first, rest, params(), prop::bool::weighted(0.3), proptest::option::weighted(0.02, any_val()))
        })
        .prop_map(|(kind, first, rest, params, gradients, feed_output)| {
            let mut inputs = vec![first];
            inputs.extend(rest);
            inputs.truncate(arity(kind, &params));
            Case { kind, inputs, params, gradients, feed_output }
        })
}

/// How many inputs op `kind` reads (only those are built and fed).
fn arity(kind: Kind, p: &Params) -> usize {
    match kind {
        Kind::Unary(_)
        | Kind::LogicalNot
        | Kind::Reduce(_)
        | Kind::ArgMax
        | Kind::ArgMin
        | Kind::MaxPool
        | Kind::AvgPool
        | Kind::Reshape
        | Kind::Transpose
        | Kind::ExpandDims
        | Kind::Squeeze
        | Kind::Flatten
        | Kind::OneHot
        | Kind::Cast
        | Kind::Softmax
        | Kind::LogSoftmax
        | Kind::SoftmaxAxis
        | Kind::LogSoftmaxAxis
        | Kind::Moments
        | Kind::L2Loss
        | Kind::Lrn
        | Kind::Identity
        | Kind::StopGradient
        | Kind::ZerosLike
        | Kind::OnesLike => 1,
        Kind::Random(_) => 0,
        Kind::AddN | Kind::Concat => p.size.min(4),
        Kind::Where => 3,
        Kind::BatchNorm | Kind::FusedBatchNorm | Kind::Cond(..) => 4,
        _ => 2,
    }
}

// ---------------------------------------------------------------------------------------------
// Building and running a case

fn shape_of(dims: &Option<Vec<Option<usize>>>) -> Shape {
    match dims {
        None => Shape::unknown(),
        Some(d) => Shape::from_dims(d.clone()),
    }
}

/// Builds the inputs (named `case/in0` …) and collects the feeds.
fn build_inputs(s: &Scope, inputs: &[Input], feeds: &mut Vec<(Tensor, Value)>) -> ferroflow::Result<Vec<Arg>> {
    let mut args = Vec::with_capacity(inputs.len());
    for (i, inp) in inputs.iter().enumerate() {
        let name = format!("in{i}");
        let s = s.with_name(&name);
        args.push(match inp {
            Input::Placeholder { dtype, shape, feed } => {
                let p = placeholder(&s, *dtype, shape_of(shape))?;
                match feed {
                    Feed::Fed(v) => feeds.push((p, v.value())),
                    Feed::NotFed => {}
                    Feed::Twice(a, b) => {
                        feeds.push((p, a.value()));
                        feeds.push((p, b.value()));
                    }
                }
                Arg::T(p)
            }
            Input::Const(v) => Arg::T(constant(&s, v.value())?),
            Input::Lit(l) => Arg::L(*l),
            Input::WithDefault { default, shape, feed } => {
                let d = constant(&s.with_name(&format!("{name}_default")), default.value())?;
                let p = placeholder_with_default(&s, d, shape_of(shape))?;
                if let Some(v) = feed {
                    feeds.push((p, v.value()));
                }
                Arg::T(p)
            }
        });
    }
    Ok(args)
}

fn t(s: &Scope, a: Arg) -> ferroflow::Result<Tensor> {
    a.into_tensor(s, None)
}

/// Builds op `kind` named `op` under `s` on `x`; returns its outputs.
fn build_op(s: &Scope, kind: Kind, x: &[Arg], p: &Params) -> ferroflow::Result<Vec<Tensor>> {
    let o = s.with_name("op");
    // Inputs beyond the op's arity are never read; the literal keeps the indexing total.
    let get = |i: usize| x.get(i).copied().unwrap_or(Arg::L(Lit::F32(1.0)));
    let (a, b, c, d) = (get(0), get(1), get(2), get(3));
    let axes = p.axes.as_deref();
    let one = |r: ferroflow::Result<Tensor>| r.map(|t| vec![t]);
    match kind {
        Kind::Unary(k) => one(math::unary::unary_op(
            &o,
            math::unary::UnaryKind::ALL[k as usize % math::unary::UnaryKind::ALL.len()],
            a,
        )),
        Kind::Binary(k) => one(match k {
            0 => math::add(&o, a, b),
            1 => math::sub(&o, a, b),
            2 => math::mul(&o, a, b),
            3 => math::div(&o, a, b),
            4 => math::maximum(&o, a, b),
            5 => math::minimum(&o, a, b),
            6 => math::pow(&o, a, b),
            _ => math::squared_difference(&o, a, b),
        }),
        Kind::Compare(k) => one(match k {
            0 => math::equal(&o, a, b),
            1 => math::not_equal(&o, a, b),
            2 => math::less(&o, a, b),
            3 => math::less_equal(&o, a, b),
            4 => math::greater(&o, a, b),
            _ => math::greater_equal(&o, a, b),
        }),
        Kind::LogicalAnd => one(math::logical_and(&o, a, b)),
        Kind::LogicalOr => one(math::logical_or(&o, a, b)),
        Kind::LogicalNot => one(math::logical_not(&o, a)),
        Kind::Where => one(math::where_(&o, a, b, c)),
        Kind::MatMul => one(math::matmul(&o, a, b, p.flag_a, p.flag_b)),
        Kind::AddN => {
            let xs = x.iter().map(|&v| t(s, v)).collect::<ferroflow::Result<Vec<_>>>()?;
            one(math::add_n(&o, &xs))
        }
        Kind::Reduce(k) => one(match k {
            0 => math::reduce_sum(&o, a, axes, p.keep_dims),
            1 => math::reduce_mean(&o, a, axes, p.keep_dims),
            2 => math::reduce_max(&o, a, axes, p.keep_dims),
            3 => math::reduce_min(&o, a, axes, p.keep_dims),
            _ => math::reduce_prod(&o, a, axes, p.keep_dims),
        }),
        Kind::ArgMax => one(math::argmax(&o, a, p.axis)),
        Kind::ArgMin => one(math::argmin(&o, a, p.axis)),
        Kind::Conv2d => one(nn::conv2d(&o, a, b, p.strides, p.padding, p.dilations)),
        Kind::MaxPool => one(nn::max_pool(&o, a, p.window, p.strides, p.padding)),
        Kind::AvgPool => one(nn::avg_pool(&o, a, p.window, p.strides, p.padding)),
        Kind::BiasAdd => one(nn::bias_add(&o, a, b)),
        Kind::Concat => {
            let xs = x.iter().map(|&v| t(s, v)).collect::<ferroflow::Result<Vec<_>>>()?;
            one(array::concat(&o, &xs, p.axis))
        }
        Kind::Reshape => one(array::reshape(&o, a, &p.new_shape)),
        Kind::Transpose => one(array::transpose(&o, a, &p.perm)),
        Kind::ExpandDims => one(array::expand_dims(&o, a, p.axis)),
        Kind::Squeeze => one(array::squeeze(&o, a, axes.unwrap_or(&[]))),
        Kind::Flatten => one(array::flatten(&o, a)),
        Kind::OneHot => one(array::one_hot(&o, a, p.size, p.float_a, p.float_b, p.dtype)),
        Kind::Cast => one(array::cast(&o, a, p.dtype)),
        Kind::Softmax => one(nn::softmax(&o, a)),
        Kind::LogSoftmax => one(nn::log_softmax(&o, a)),
        Kind::SoftmaxAxis => one(nn::softmax_with_axis(&o, a, p.axis)),
        Kind::LogSoftmaxAxis => one(nn::log_softmax_with_axis(&o, a, p.axis)),
        Kind::Moments => {
            let (m, v) = nn::moments(&o, a, axes.unwrap_or(&[0]), p.keep_dims)?;
            Ok(vec![m, v])
        }
        Kind::BatchNorm => {
            let offset = if p.flag_a { Some(t(s, d)?) } else { None };
            let scale = if p.flag_b { Some(t(s, d)?) } else { None };
            one(nn::batch_normalization(&o, a, b, c, offset, scale, p.float_a))
        }
        Kind::FusedBatchNorm => {
            let (mean, var) = if p.keep_dims { (Some(t(s, d)?), Some(t(s, c)?)) } else { (None, None) };
            let (y, m, v) = nn::fused_batch_norm(&o, a, b, c, mean, var, p.float_a, p.flag_a)?;
            Ok(vec![y, m, v])
        }
        Kind::SoftmaxCe => one(nn::softmax_cross_entropy_with_logits(&o, a, b)),
        Kind::SoftmaxCeV2 => one(nn::softmax_cross_entropy_with_logits_v2(&o, a, b)),
        Kind::SparseSoftmaxCe => one(nn::sparse_softmax_cross_entropy_with_logits(&o, a, b)),
        Kind::SigmoidCe => one(nn::sigmoid_cross_entropy_with_logits(&o, a, b)),
        Kind::L2Loss => one(nn::l2_loss(&o, a)),
        Kind::InTopK => one(nn::in_top_k(&o, a, b, p.size)),
        Kind::Lrn => {
            let opts = LrnOptions::default().depth_radius(p.size).bias(p.float_a).alpha(p.float_b).beta(p.float_a);
            one(nn::local_response_normalization(&o, a, opts))
        }
        Kind::Dropout => {
            let noise = if p.flag_a { Some(&p.sizes[..]) } else { None };
            one(nn::dropout(&o, a, b, noise, Some(7)))
        }
        Kind::Identity => one(identity(&o, t(s, a)?)),
        Kind::StopGradient => one(stop_gradient(&o, t(s, a)?)),
        Kind::ZerosLike => one(array::zeros_like(&o, t(s, a)?)),
        Kind::OnesLike => one(array::ones_like(&o, t(s, a)?)),
        Kind::Random(k) => one(match k {
            0 => ferroflow::random::random_normal(&o, &p.sizes, p.float_a, p.float_b, p.dtype, Some(3)),
            1 => ferroflow::random::truncated_normal(&o, &p.sizes, p.float_a, p.float_b, p.dtype, Some(3)),
            _ => ferroflow::random::random_uniform(&o, &p.sizes, p.float_a, p.float_b, p.dtype, Some(3)),
        }),
        Kind::Cond(ka, kb) => {
            // The predicate is input 0 (a placeholder of any dtype/shape, usually fed);
            // the branches build ops on inputs 1.. (in swapped order in the false branch).
            let pred = t(s, a)?;
            let (ka, kb) = (COND_BRANCH_KINDS[usize::from(ka)], COND_BRANCH_KINDS[usize::from(kb)]);
            let tx = [b, c, d];
            let fx = [c, b, d];
            cond(
                &o,
                pred,
                |s| build_op(s, ka, &tx, p).map(|mut v| v.swap_remove(0)),
                |s| build_op(s, kb, &fx, p).map(|mut v| v.swap_remove(0)),
            )
            .map(|t| vec![t])
        }
    }
}

/// What a case did.
#[derive(Debug)]
enum Outcome {
    Ok,
    /// An error whose message names a node of the case.
    NamedError,
    /// An error naming no node of the case: a failed property.
    UnnamedError(String),
    /// A panic (message and location): a failed property.
    Panic(String),
}

/// Whether an error names a node of the case: one in the graph, or one the case meant to add
/// (the op under test, `case/op`, and its inputs, `case/in0` …).
fn classify(e: &ferroflow::Error, g: &Graph) -> Outcome {
    let msg = e.to_string();
    let mut names: Vec<String> = g.operations().iter().map(|o| o.name(g).unwrap()).collect();
    names.push("case/op".to_string());
    names.extend((0..4).flat_map(|i| [format!("case/in{i}"), format!("case/in{i}_default")]));
    if names.iter().any(|n| msg.contains(n.as_str())) {
        Outcome::NamedError
    } else {
        Outcome::UnnamedError(format!("{msg}  [{e:?}]"))
    }
}

/// Runs one case: builds its graph, then runs it in a session; both under `catch_unwind`.
fn run_case(case: &Case) -> Outcome {
    let g = Graph::new();
    let root = g.root();
    let s = root.sub_scope("case");
    let mut feeds = Vec::new();
    let result = catch_panic(|| -> ferroflow::Result<()> {
        let args = build_inputs(&s, &case.inputs, &mut feeds)?;
        let outs = build_op(&s, case.kind, &args, &case.params)?;
        let mut fetches: Vec<Tensor> = outs.clone();
        if let Some(v) = &case.feed_output {
            feeds.push((outs[0], v.value()));
        }
        if case.gradients {
            let xs: Vec<Tensor> =
                args.iter().filter_map(|a| a.as_tensor()).filter(|x| x.dtype(&root).unwrap().is_float()).collect();
            let ys: Vec<Tensor> = outs.iter().copied().filter(|y| y.dtype(&root).unwrap().is_float()).collect();
            if !xs.is_empty() && !ys.is_empty() {
                let gs = gradients(&s.sub_scope("gradients"), &ys, &xs, None)?;
                fetches.extend(gs.into_iter().flatten());
            }
        }
        let sess = Session::with_options(&g, SessionOptions { seed: Some(1), ..SessionOptions::default() });
        sess.run(fetches.iter().copied(), &feeds)?;
        // Again: the cached plan takes a second path.
        sess.run(fetches.iter().copied(), &feeds)?;
        Ok(())
    });
    match result {
        Err(panic) => Outcome::Panic(panic),
        Ok(Ok(())) => Outcome::Ok,
        Ok(Err(e)) => classify(&e, &g),
    }
}

// ---------------------------------------------------------------------------------------------
// Panics: caught, with their location recorded by a quiet hook

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_case = LAST_PANIC.with(|p| p.borrow().is_some());
            if in_case {
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let loc = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
                // A panic inside std (capacity overflow, slice index) is located by the first
                // ferroflow frame of the backtrace.
                let loc = if loc.contains("crates/") {
                    loc
                } else {
                    let bt = std::backtrace::Backtrace::force_capture().to_string();
                    let frame = bt
                        .lines()
                        .map(str::trim)
                        .filter_map(|l| l.strip_prefix("at "))
                        .find(|l| l.contains("crates/ferroflow"))
                        .and_then(|l| l.rsplit_once("crates/").map(|(_, r)| format!("crates/{r}")));
                    match frame {
                        Some(f) => format!("{f} (in {loc})"),
                        None => loc,
                    }
                };
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("panicked at {loc}: {msg}")));
            } else {
                default(info);
            }
        }));
    });
}

fn catch_panic<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    install_quiet_hook();
    LAST_PANIC.with(|p| *p.borrow_mut() = Some(String::new()));
    let r = catch_unwind(AssertUnwindSafe(f));
    let msg = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_default();
    r.map_err(|_| if msg.is_empty() { "panicked (no message)".to_string() } else { msg })
}

// ---------------------------------------------------------------------------------------------
// Known bugs in files this suite does not own: counted, not failed

/// A known bug: an id for the report, and which outcomes it explains.
struct KnownIssue {
    id: &'static str,
    /// True when this outcome (panic text with its location, unnamed-error text, or
    /// `abort at <file:line>: <message>`) is this bug.
    matches: fn(&str) -> bool,
}

/// Remove an entry once its fix lands (and un-ignore its reproducer test below).
const KNOWN_ISSUES: &[KnownIssue] = &[
    // Only with overflow checks: integer kernels that add or subtract with `+`/`-` instead of
    // wrapping (TF wraps): crates/ferroflow-ops/src/math/add_n.rs:44, math/binary.rs:107
    // (squared_difference), nn/conv.rs:794 (bias_add). Repro: `integer_kernels_wrap_on_overflow`.
    KnownIssue {
        id: "integer-kernel-overflow",
        matches: |m| {
            (m.contains("attempt to add with overflow")
                || m.contains("attempt to subtract with overflow")
                || m.contains("attempt to multiply with overflow"))
                && [
                    "crates/ferroflow-ops/src/math/add_n.rs",
                    "crates/ferroflow-ops/src/math/binary.rs",
                    "crates/ferroflow-ops/src/nn/conv.rs",
                ]
                .iter()
                .any(|f| m.starts_with(&format!("panicked at {f}")))
        },
    },
];

fn known_issue(text: &str) -> Option<&'static str> {
    KNOWN_ISSUES.iter().find(|k| (k.matches)(text)).map(|k| k.id)
}

// ---------------------------------------------------------------------------------------------
// The properties

fn cases_from_env(default: u32) -> u32 {
    std::env::var("FERROFLOW_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn rng(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Outcome counts of a run (or of one child process).
#[derive(Default, Debug)]
struct Tally {
    cases: u64,
    ok: u64,
    named_errors: u64,
    known: BTreeMap<String, u64>,
    /// Survey mode: failures by signature, with a count and the first input seen.
    survey: BTreeMap<String, (u64, String)>,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.cases += o.cases;
        self.ok += o.ok;
        self.named_errors += o.named_errors;
        for (k, n) in o.known {
            *self.known.entry(k).or_default() += n;
        }
    }
    /// One line a parent can parse: `@@TALLY cases ok named [known-id=count ...]`.
    fn line(&self) -> String {
        let known: Vec<String> = self.known.iter().map(|(k, n)| format!("{k}={n}")).collect();
        format!("@@TALLY {} {} {} {}", self.cases, self.ok, self.named_errors, known.join(" "))
    }
    fn parse(line: &str) -> Option<Tally> {
        let mut it = line.split_once("@@TALLY ")?.1.split_whitespace();
        let mut t = Tally {
            cases: it.next()?.parse().ok()?,
            ok: it.next()?.parse().ok()?,
            named_errors: it.next()?.parse().ok()?,
            ..Tally::default()
        };
        for kv in it {
            let (k, n) = kv.split_once('=')?;
            t.known.insert(k.to_string(), n.parse().ok()?);
        }
        Some(t)
    }
}

/// A failure's signature: the panic location, or the error text without numbers.
fn signature(m: &str) -> String {
    match m.strip_prefix("panicked at ") {
        Some(rest) => rest.split(" (in ").next().unwrap_or(rest).split(": ").next().unwrap_or(rest).to_string(),
        None => m.chars().filter(|c| !c.is_ascii_digit()).take(90).collect(),
    }
}

fn survey_mode() -> bool {
    std::env::var("FERROFLOW_PROPTEST_SURVEY").is_ok_and(|v| v == "1")
}

/// Runs `cases` cases in this process. Before each case the counts so far and its input are
/// written to `current` (when given), so that a parent can report a case that aborted the
/// process and keep the counts of the cases before it.
fn run_property(cases: u32, seed: u64, current: Option<&std::path::Path>) -> (Tally, Result<(), String>) {
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 2048, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, rng(seed));
    let survey = survey_mode();
    let tally = Mutex::new(Tally::default());
    // One positioned write per case (no truncation): `<length>\n<counts>\n<input>`.
    let file = current.and_then(|p| std::fs::File::create(p).ok());
    let result = runner.run(&case(), |case| {
        if let Some(f) = &file {
            use std::os::unix::fs::FileExt;
            let t = tally.lock().unwrap();
            let body = format!("{}\n{case:?}", t.line());
            let _ = f.write_at(format!("{:020}\n{body}", body.len()).as_bytes(), 0);
        }
        let outcome = run_case(&case);
        let mut t = tally.lock().unwrap();
        t.cases += 1;
        match outcome {
            Outcome::Ok => t.ok += 1,
            Outcome::NamedError => t.named_errors += 1,
            Outcome::UnnamedError(m) | Outcome::Panic(m) => match known_issue(&m) {
                Some(id) => *t.known.entry(id.to_string()).or_default() += 1,
                None if survey => {
                    // Printed when first seen, so that it survives a later abort of the child.
                    let sig = signature(&m);
                    if !t.survey.contains_key(&sig) {
                        println!("@@SURVEY 1 x {sig}\n    {m}\n    {case:?}\n");
                    }
                    t.survey.entry(sig).or_insert_with(|| (0, String::new())).0 += 1;
                }
                None => return Err(TestCaseError::fail(m)),
            },
        }
        Ok(())
    });
    let result = match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(why, case)) => Err(format!("property failed: {why}\nminimal input: {case:?}")),
        Err(e) => Err(e.to_string()),
    };
    (tally.into_inner().unwrap(), result)
}

/// The child side: runs when the parent set `FERROFLOW_PROPTEST_CHILD`.
#[test]
#[ignore = "helper: runs cases in a child process for ops_never_panic_and_errors_name_a_node*"]
fn property_child() {
    let Ok(current) = std::env::var("FERROFLOW_PROPTEST_CHILD") else { return };
    let cases = cases_from_env(0);
    let seed = env_u64("FERROFLOW_PROPTEST_SEED").unwrap_or(0);
    let (tally, result) = run_property(cases, seed, Some(std::path::Path::new(&current)));
    println!("\n{}", tally.line());
    if let Err(m) = result {
        panic!("{m}");
    }
}

/// Where a process that aborted was: the first frame of a ferroflow crate in its backtrace.
fn abort_signature(stderr: &str) -> String {
    let what = stderr
        .lines()
        .find(|l| l.contains("memory allocation of") || l.contains("fatal runtime error"))
        .unwrap_or("aborted");
    let what: String = what.chars().filter(|c| !c.is_ascii_digit()).collect();
    let at = stderr
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("at "))
        .find(|l| l.contains("crates/") && !l.contains("ferroflow-session"))
        .or_else(|| stderr.lines().map(str::trim).filter_map(|l| l.strip_prefix("at ")).find(|l| l.contains("crates/")))
        .map(|l| l.rsplit_once("crates/").map(|(_, r)| format!("crates/{r}")).unwrap_or_else(|| l.to_string()))
        .unwrap_or_default();
    format!("abort at {at}: {what}")
}

/// The parent side. Cases run in child processes (this test binary, `property_child`), so
/// that a case which *aborts* the process (a failed huge allocation: catch_unwind cannot
/// catch it) is reported with its input as a failed property; the run then goes on in a new
/// child with the next seed. Each child runs under `ulimit -v` (8 GiB) so that no case can
/// take the machine's memory.
fn check_ops(default_cases: u32) {
    let cases = cases_from_env(default_cases);
    let mut seed = env_u64("FERROFLOW_PROPTEST_SEED").unwrap_or(0x5eed_f10f);
    let exe = std::env::current_exe().unwrap();
    let current = std::env::temp_dir().join(format!("ferroflow-proptest-{}-{cases}.case", std::process::id()));
    let start = Instant::now();
    let mut total = Tally::default();
    let mut children = 0u32;
    let survey = survey_mode();
    while total.cases < u64::from(cases) {
        let remaining = u64::from(cases) - total.cases;
        let _ = std::fs::remove_file(&current);
        children += 1;
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -c 0; ulimit -v 8388608; exec "$0" "$@""#)
            .arg(&exe)
            .args(["--exact", "property_child", "--ignored", "--nocapture", "--test-threads=1"])
            .env("FERROFLOW_PROPTEST_CHILD", &current)
            .env("FERROFLOW_PROPTEST_CASES", remaining.to_string())
            .env("FERROFLOW_PROPTEST_SEED", seed.to_string())
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        for block in stdout.split("@@SURVEY ").skip(1) {
            let (head, example) = block.split_once('\n').unwrap_or((block, ""));
            let (n, sig) = head.split_once(" x ").unwrap_or(("1", head));
            let example = example.split("@@").next().unwrap_or("").trim().to_string();
            total.survey.entry(sig.to_string()).or_insert((0, example)).0 += n.parse::<u64>().unwrap_or(1);
        }
        if let Some(t) = stdout.lines().find_map(Tally::parse) {
            total.add(Tally { survey: BTreeMap::new(), ..t });
            if !out.status.success() {
                let _ = std::fs::remove_file(&current);
                panic!("{stderr}");
            }
            continue;
        }
        // No tally: the child died inside a case. Report that case.
        let state = std::fs::read_to_string(&current).unwrap_or_default();
        let state = state.split_once('\n').and_then(|(n, rest)| rest.get(..n.parse::<usize>().ok()?)).unwrap_or("");
        let (counts, input) = state.split_once('\n').unwrap_or(("", "<no case recorded>"));
        let before = Tally::parse(counts).unwrap_or_default();
        let done = before.cases;
        total.add(before);
        total.cases += 1;
        let sig = abort_signature(&stderr);
        match known_issue(&sig) {
            Some(id) => *total.known.entry(id.to_string()).or_default() += 1,
            None if survey => total.survey.entry(sig).or_insert((0, input.to_string())).0 += 1,
            None => {
                let _ = std::fs::remove_file(&current);
                panic!("property failed: the process aborted ({sig}) in case {done} of child seed {seed}\ninput: {input}\n{stderr}");
            }
        }
        seed = seed.wrapping_add(1);
    }
    let _ = std::fs::remove_file(&current);
    eprintln!(
        "proptest_ops: {} cases in {:.1} s ({children} child process(es)): {} ran, {} named errors, known issues {:?}",
        total.cases,
        start.elapsed().as_secs_f64(),
        total.ok,
        total.named_errors,
        total.known
    );
    for (sig, (n, example)) in &total.survey {
        eprintln!("SURVEY {n:>6} x {sig}\n    {example}\n");
    }
    assert!(total.survey.is_empty(), "{} distinct failures (survey mode)", total.survey.len());
}

/// Runs by default: a few thousand cases, well under a minute in release.
#[test]
fn ops_never_panic_and_errors_name_a_node() {
    check_ops(5_000);
}

/// The long run: 100,000 cases (`FERROFLOW_PROPTEST_CASES` overrides).
#[test]
#[ignore = "long run (100,000 cases); cargo test --release --test proptest_ops -- --ignored --exact ops_never_panic_and_errors_name_a_node_long"]
fn ops_never_panic_and_errors_name_a_node_long() {
    check_ops(100_000);
}

/// The checker itself must be able to fail: panics are caught and located, unnamed errors
/// and aborts are told apart from named errors, and known issues match only their own bug.
#[test]
fn checker_reports_panics_unnamed_errors_and_aborts() {
    let caught = catch_panic(|| panic!("boom"));
    assert!(matches!(&caught, Err(m) if m.contains("boom") && m.contains("proptest_ops.rs")), "{caught:?}");
    assert_eq!(catch_panic(|| 3).ok(), Some(3));

    let g = Graph::new();
    let s = g.root().sub_scope("case");
    let x = placeholder(&s.with_name("in0"), DType::F32, shape![2]).unwrap();
    assert!(matches!(classify(&ferroflow::Error::invalid("shapes [2] and [3] differ"), &g), Outcome::UnnamedError(_)));
    let e = Session::new(&g).run([x], &[]).unwrap_err();
    assert!(matches!(classify(&e, &g), Outcome::NamedError), "{e}");
    let e = ferroflow::Error::build("case/op", "MatMul", "bad");
    assert!(matches!(classify(&e, &g), Outcome::NamedError));

    let stderr = "memory allocation of 4398046511104 bytes failed\nstack backtrace:\n   9: compute\n             at ./crates/ferroflow-ops/src/random.rs:95:24\n  10: execute\n             at ./crates/ferroflow-session/src/session.rs:299:44\n";
    let sig = abort_signature(stderr);
    assert_eq!(sig, "abort at crates/ferroflow-ops/src/random.rs:95:24: memory allocation of  bytes failed");
    assert_eq!(known_issue(&sig), None, "no abort is a known issue any more");
    assert_eq!(
        known_issue("abort at crates/ferroflow-ops/src/nn/conv.rs:1:1: memory allocation of  bytes failed"),
        None
    );
    assert_eq!(known_issue("panicked at crates/ferroflow-ops/src/array/one_hot.rs:55:31: index out of bounds"), None);

    let t = Tally::parse("test property_child ... @@TALLY 10 4 5 a=1").unwrap();
    assert_eq!((t.cases, t.ok, t.named_errors, t.known.get("a").copied()), (10, 4, 5, Some(1)));
}

// ---------------------------------------------------------------------------------------------
// Reproducers of the known issues (un-ignore with the fix)

/// Runs `body` in a child process (this test binary, this test) so that an abort fails the
/// test instead of killing the whole test binary.
fn isolated(test: &str, body: impl FnOnce()) {
    if std::env::var("FERROFLOW_REPRO_CHILD").as_deref() == Ok(test) {
        body();
        return;
    }
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -c 0; ulimit -v 8388608; exec "$0" "$@""#)
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--include-ignored", "--nocapture", "--test-threads=1"])
        .env("FERROFLOW_REPRO_CHILD", test)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{test} failed in its child process ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_names(e: &ferroflow::Error, name: &str) {
    assert!(e.to_string().contains(name), "error does not name '{name}': {e}");
}

#[test]
fn float_literal_error_names_the_op() {
    let g = Graph::new();
    let s = g.root();
    let n = placeholder(&s.with_name("n"), DType::I64, shape![]).unwrap();
    let e = math::add(&s.with_name("scaled"), n, 0.5f32).unwrap_err();
    assert_names(&e, "scaled");
}

#[test]
fn empty_add_n_names_the_op() {
    let g = Graph::new();
    let e = math::add_n(&g.root().with_name("total"), &[]).unwrap_err();
    assert_names(&e, "total");
}

#[test]
fn empty_concat_names_the_op() {
    let g = Graph::new();
    let e = array::concat(&g.root().with_name("joined"), &[], 0).unwrap_err();
    assert_names(&e, "joined");
}

#[test]
fn random_op_of_huge_shape_is_an_error() {
    isolated("random_op_of_huge_shape_is_an_error", || {
        let g = Graph::new();
        let s = g.root();
        let r =
            ferroflow::random::random_uniform(&s.with_name("noise"), &[2, 1 << 40, 4], 0.0, 1.0, DType::F32, Some(1));
        // A build error or a run error naming the node, but no abort.
        let e = match r {
            Err(e) => e,
            Ok(t) => Session::new(&g).run([t], &[]).unwrap_err(),
        };
        assert_names(&e, "noise");
    });
}

#[test]
fn one_hot_of_huge_depth_is_an_error() {
    isolated("one_hot_of_huge_depth_is_an_error", || {
        for depth in [1usize << 40, usize::MAX] {
            let g = Graph::new();
            let s = g.root();
            let labels = constant(&s, vec![1i32, 2]).unwrap();
            let r = catch_unwind(AssertUnwindSafe(|| {
                let y = array::one_hot(&s.with_name("onehot"), labels, depth, 1.0, 0.0, DType::F32)?;
                Session::new(&g).run([y], &[])
            }));
            let e = r.unwrap_or_else(|_| panic!("one_hot with depth {depth} panicked")).unwrap_err();
            assert_names(&e, "onehot");
        }
    });
}

#[test]
fn huge_static_shapes_do_not_overflow() {
    let g = Graph::new();
    let s = g.root();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let x = placeholder(&s.with_name("x"), DType::F32, shape![1usize << 40, 1usize << 40, 1usize << 40]).unwrap();
        // 2^120 elements cannot be reshaped to 0; the wrapped count (0) says they can.
        array::reshape(&s.with_name("flat"), x, &[0])
    }));
    let e = r.unwrap_or_else(|_| panic!("reshape of a huge static shape panicked")).unwrap_err();
    assert_names(&e, "flat");
}

#[test]
#[ignore = "known bug (overflow checks / debug builds only): add_n, squared_difference and bias_add panic on integer overflow instead of wrapping as TF"]
fn integer_kernels_wrap_on_overflow() {
    let g = Graph::new();
    let s = g.root();
    let max = constant(&s, vec![i32::MAX]).unwrap();
    let one = constant(&s, vec![1i32]).unwrap();
    let min = constant(&s, vec![i32::MIN]).unwrap();
    let sum = math::add_n(&s, &[max, one]).unwrap();
    let sq = math::squared_difference(&s, min, one).unwrap();
    let big = constant(&s, ndarray::arr2(&[[i64::MAX]])).unwrap();
    let b = nn::bias_add(&s, big, constant(&s, vec![1i64]).unwrap()).unwrap();
    let out = catch_unwind(AssertUnwindSafe(|| Session::new(&g).run([sum, sq, b], &[])))
        .unwrap_or_else(|_| panic!("an integer kernel panicked on overflow"));
    let out = out.unwrap();
    assert_eq!(out[0].to_vec::<i32>().unwrap(), vec![i32::MIN]);
    assert_eq!(out[1].to_vec::<i32>().unwrap(), vec![i32::MAX.wrapping_mul(i32::MAX)]);
    assert_eq!(out[2].to_vec::<i64>().unwrap(), vec![i64::MIN]);
}
