//! Fills: `fill` (TF1 `Fill`), `zeros` / `ones` (a `Const` when small, a `Fill` otherwise, as
//! TF1), and `zeros_like` / `ones_like`.

use crate::array::alloc::KernelAlloc;
use crate::input::IntoInput;
use crate::math::reduce_sum;
use crate::state::{constant, Const};
use ferroflow_core::typetag;
use ferroflow_core::value::checked_len;
use ferroflow_core::{
    with_value, DType, Error, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value,
};
use serde::{Deserialize, Serialize};

/// Below this many elements `zeros`/`ones`/the fill initializers give a `Const` (TF1's
/// `_constant_if_small`); from it on, a `Fill` that allocates when the session runs it.
pub const CONSTANT_IF_SMALL: usize = 1000;

/// A tensor of the run-time shape `dims` with every element `value` (TF1 `Fill`).
///
/// Inputs: `dims` (1-D `int32`/`int64`), `value` (a scalar, which gives the dtype).
#[derive(Debug, Serialize, Deserialize)]
pub struct Fill {
    /// The value of `dims` when the builder could read it (a constant), so the static shape
    /// is known at build time; `None` when `dims` is only known at run time.
    pub dims: Option<Vec<i64>>,
}

/// `dims` as sizes; `Err` names the first negative entry.
fn to_sizes(dims: &[i64]) -> std::result::Result<Vec<usize>, String> {
    dims.iter().map(|&d| usize::try_from(d).map_err(|_| format!("dims must be non-negative, got {dims:?}"))).collect()
}

#[typetag::serde]
impl Op for Fill {
    fn type_name(&self) -> &'static str {
        "Fill"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let (d, v) = (cx.input(0)?, cx.input(1)?);
        if !matches!(d.dtype, DType::I32 | DType::I64) || d.shape.rank().is_some_and(|r| r != 1) {
            return Err(cx.error(format!("dims must be a 1-D int32 or int64 tensor, got {} {}", d.dtype, d.shape)));
        }
        if v.shape.rank().is_some_and(|r| r != 0) {
            return Err(cx.error(format!("value must be a scalar, got {} {}", v.dtype, v.shape)));
        }
        let shape = match &self.dims {
            Some(dims) => Shape::known(&to_sizes(dims).map_err(|m| cx.error(m))?),
            None => d.shape.dim(0).map_or_else(Shape::unknown, Shape::unknown_dims),
        };
        shape.checked_byte_size(v.dtype).map_err(|e| cx.wrap(e))?;
        Ok(vec![TensorSpec::new(v.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let dims: Vec<i64> = match cx.input(0)? {
            Value::I32(a) => a.iter().map(|&x| i64::from(x)).collect(),
            Value::I64(a) => a.iter().copied().collect(),
            other => return Err(cx.error(format!("dims must be int32 or int64, got {}", other.dtype()))),
        };
        if cx.input(0)?.shape().len() != 1 {
            return Err(cx.error(format!("dims must be 1-D, got shape {:?}", cx.input(0)?.shape())));
        }
        let dims = to_sizes(&dims).map_err(|m| cx.error(m))?;
        let v = cx.input(1)?;
        if v.len() != 1 || !v.shape().is_empty() {
            return Err(cx.error(format!("value must be a scalar, got shape {:?}", v.shape())));
        }
        let out = with_value!(v, a => {
            let x = a.iter().next().copied().ok_or_else(|| cx.error("value is empty"))?;
            cx.alloc_filled(&dims, x)?
        });
        Ok(vec![out])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        // TF's _FillGrad: nothing for dims, the sum of g for the value.
        let Some(g) = cx.grad(0) else { return Ok(vec![None, None]) };
        Ok(vec![None, Some(reduce_sum(s, g, None, false)?)])
    }
    fn describe(&self) -> String {
        self.dims.as_ref().map(|d| format!("dims={d:?}")).unwrap_or_default()
    }
}

/// The value of a constant 1-D integer tensor, when `t` is one.
fn constant_dims(s: &Scope, t: Tensor) -> Option<Vec<i64>> {
    let node = s.graph().node(t.op()).ok()?;
    let c = node.op.downcast_ref::<Const>()?;
    if c.value.shape().len() != 1 {
        return None;
    }
    match &c.value {
        Value::I32(a) => Some(a.iter().map(|&x| i64::from(x)).collect()),
        Value::I64(a) => Some(a.iter().copied().collect()),
        _ => None,
    }
}

/// A tensor of shape `dims` filled with the scalar `value`. TF1: `tf.fill(dims, value)`.
///
/// The output is allocated when the session runs the op, in the value's dtype (no staging).
/// When `dims` is a constant its value gives the static shape; otherwise the dims are unknown
/// (of `dims`' length) until run time.
///
/// # Shapes
/// `dims` 1-D `int32`/`int64`, `value` scalar → the shape `dims` holds.
///
/// # Errors
/// Build time: `dims` not a 1-D integer tensor, `value` not a scalar, a negative constant
/// dim, or a size that cannot exist (element count or bytes overflowing). Run time: a
/// negative dim, or an allocation that fails (`Error::Allocation` naming the node and the
/// byte count).
///
/// ```
/// use ferroflow_core::{Graph, Value};
/// use ferroflow_ops::{array, constant};
/// use ferroflow_session::Session;
/// let g = Graph::new();
/// let s = g.root();
/// let t = array::fill(&s, Value::from(vec![2i32, 3]), 7i64).unwrap();
/// assert_eq!(t.shape(&g).unwrap().to_string(), "[2, 3]");
/// let out = Session::new(&g).run([t], &[]).unwrap();
/// assert_eq!(out[0].to_vec::<i64>().unwrap(), vec![7; 6]);
/// ```
pub fn fill(s: &Scope, dims: impl IntoInput, value: impl IntoInput) -> Result<Tensor> {
    // As TF's op wrappers: literal inputs become constants inside the op's name scope
    // (`f/dims`, `f/Const`), and the op takes the scope's name (`f`).
    s.op_scope("Fill", |fs| {
        let d = dims.into_tensor(&fs.with_name("dims"), None)?;
        let v = value.into_tensor(&fs.with_name("value"), None)?;
        let known = constant_dims(fs, d);
        fs.as_op_name().add_op1(Fill { dims: known }, &[d, v], "Fill")
    })
}

/// A tensor of the static shape `dims` filled with the scalar `value`, named `name`, as TF1's
/// `tf.zeros`/`tf.ones` build it: fewer than [`CONSTANT_IF_SMALL`] elements give a `Const`;
/// more give a `Fill` named `name` with inputs `name/shape_as_tensor` and `name/Const`, which
/// allocates only when it runs.
pub(crate) fn filled_tensor(s: &Scope, name: &str, dims: &[usize], value: Value) -> Result<Tensor> {
    let dtype = value.dtype();
    let build_error = |message: String| {
        let node = if s.name_prefix().is_empty() { name.to_string() } else { format!("{}/{name}", s.name_prefix()) };
        Error::build(node, "Fill", message)
    };
    Shape::known(dims).checked_byte_size(dtype).map_err(|e| build_error(e.to_string()))?;
    let dims64: Vec<i64> = dims
        .iter()
        .map(|&d| i64::try_from(d).map_err(|_| build_error(format!("dim {d} of shape {dims:?} does not fit in int64"))))
        .collect::<Result<_>>()?;
    if checked_len(dims).is_some_and(|n| n < CONSTANT_IF_SMALL) {
        let full = with_value!(&value, a => {
            let x = a.iter().next().copied().ok_or_else(|| Error::invalid("fill value is empty"))?;
            Value::filled(dims, x)
        });
        return constant(&s.with_name(name), full);
    }
    let shape_value = match dims.iter().map(|&d| i32::try_from(d).ok()).collect::<Option<Vec<i32>>>() {
        Some(v) => Value::from(v),
        None => Value::from(dims64.clone()),
    };
    s.name_scope(name, |fs| {
        let d = constant(&fs.with_name("shape_as_tensor"), shape_value)?;
        let v = constant(&fs.with_name("Const"), value)?;
        fs.as_op_name().add_op1(Fill { dims: Some(dims64) }, &[d, v], "Fill")
    })
}

/// A tensor of zeros. TF1: `tf.zeros(shape, dtype)`.
///
/// As TF1: fewer than 1000 elements give a `Const` named `zeros`; more, a `Fill` named `zeros`
/// (inputs `zeros/shape_as_tensor`, `zeros/Const`) that allocates when it runs.
///
/// # Errors
/// A shape whose element count or byte size overflows (build error).
///
/// ```
/// use ferroflow_core::{DType, Graph};
/// use ferroflow_ops::array;
/// let g = Graph::new();
/// let z = array::zeros(&g.root(), &[1000, 1000], DType::F32).unwrap();
/// assert_eq!((z.op().type_name(&g).unwrap(), z.op().name(&g).unwrap().as_str()), ("Fill", "zeros"));
/// ```
pub fn zeros(s: &Scope, dims: &[usize], dtype: DType) -> Result<Tensor> {
    filled_tensor(s, s.explicit_name().unwrap_or("zeros"), dims, Value::zeros(dtype, &[]))
}

/// A tensor of ones. TF1: `tf.ones(shape, dtype)`; built as [`zeros`].
pub fn ones(s: &Scope, dims: &[usize], dtype: DType) -> Result<Tensor> {
    filled_tensor(s, s.explicit_name().unwrap_or("ones"), dims, Value::from(1i64).cast(dtype))
}

/// A tensor of `x`'s shape and dtype filled with 0 or 1 (TF1 `ZerosLike`, `OnesLike`).
#[derive(Debug, Serialize, Deserialize)]
pub struct FillLike {
    /// 0 or 1.
    pub one: bool,
}

#[typetag::serde]
impl Op for FillLike {
    fn type_name(&self) -> &'static str {
        if self.one {
            "OnesLike"
        } else {
            "ZerosLike"
        }
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        Ok(vec![cx.input(0)?.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let x = cx.input(0)?;
        let (dtype, dims) = (x.dtype(), x.shape().to_vec());
        let out = if self.one {
            match dtype {
                DType::F32 => cx.alloc_filled(&dims, 1f32)?,
                DType::F64 => cx.alloc_filled(&dims, 1f64)?,
                DType::I32 => cx.alloc_filled(&dims, 1i32)?,
                DType::I64 => cx.alloc_filled(&dims, 1i64)?,
                DType::Bool => cx.alloc_filled(&dims, true)?,
                DType::String => return Err(cx.error("ones_like of a string tensor is not defined")),
            }
        } else {
            cx.alloc_zeros(dtype, &dims)?
        };
        Ok(vec![out])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None])
    }
}

/// Zeros shaped like `x`. TF1: `tf.zeros_like`.
pub fn zeros_like(s: &Scope, x: Tensor) -> Result<Tensor> {
    s.add_op1(FillLike { one: false }, &[x], "zeros_like")
}

/// Ones shaped like `x`. TF1: `tf.ones_like`.
pub fn ones_like(s: &Scope, x: Tensor) -> Result<Tensor> {
    s.add_op1(FillLike { one: true }, &[x], "ones_like")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ferroflow_core::Graph;

    #[test]
    fn zeros_is_a_const_when_small_and_a_fill_when_large() {
        let g = Graph::new();
        let s = g.root();
        let small = zeros(&s, &[999], DType::F32).unwrap();
        assert_eq!((small.op().type_name(&s).unwrap(), small.op().name(&s).unwrap().as_str()), ("Const", "zeros"));
        let big = ones(&s, &[10, 100], DType::I32).unwrap();
        assert_eq!((big.op().type_name(&s).unwrap(), big.op().name(&s).unwrap().as_str()), ("Fill", "ones"));
        assert_eq!(big.shape(&s).unwrap(), Shape::from([10, 100]));
        assert_eq!(big.dtype(&s).unwrap(), DType::I32);
        let names: Vec<String> = g.operations().iter().map(|o| o.name(&s).unwrap()).collect();
        assert!(
            names.contains(&"ones/shape_as_tensor".to_string()) && names.contains(&"ones/Const".to_string()),
            "{names:?}"
        );
    }

    #[test]
    fn fill_names_its_literal_inputs_under_its_own_name() {
        let g = Graph::new();
        let s = g.root();
        let f = fill(&s.with_name("f"), Value::from(vec![2i32]), 1f32).unwrap();
        assert_eq!(f.op().name(&s).unwrap(), "f");
        let names: Vec<String> = g.operations().iter().map(|o| o.name(&s).unwrap()).collect();
        assert_eq!(names, ["f/dims", "f/Const", "f"]);
        assert_eq!(fill(&s, Value::from(vec![2i32]), 1f32).unwrap().op().name(&s).unwrap(), "Fill");
    }

    #[test]
    fn fill_shape_rule() {
        let g = Graph::new();
        let s = g.root();
        let d = crate::placeholder(&s, DType::I64, Shape::from([3])).unwrap();
        assert_eq!(fill(&s, d, 1.5f32).unwrap().shape(&s).unwrap().to_string(), "[?, ?, ?]");
        let e = fill(&s.with_name("neg"), Value::from(vec![2i32, -1]), 0f32).unwrap_err().to_string();
        assert!(e.contains("'neg'") && e.contains("non-negative"), "{e}");
        assert!(fill(&s, Value::from(vec![2.0f32]), 0f32).is_err(), "float dims");
        assert!(fill(&s, Value::from(vec![2i32]), Value::from(vec![1f32, 2.0])).is_err(), "vector value");
        let big = 1i64 << 33;
        let e = fill(&s.with_name("huge"), Value::from(vec![big, big]), 0f32).unwrap_err().to_string();
        assert!(e.contains("'huge'") && e.contains("more elements than fit"), "{e}");
    }
}
