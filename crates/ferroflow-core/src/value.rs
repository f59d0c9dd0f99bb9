//! `Value`: a concrete n-d array of one dtype, what `Session::run` takes and returns.

use crate::dtype::DType;
use crate::error::{Error, Result};
use ndarray::{ArcArray, Array, ArrayD, ArrayViewD, ArrayViewMutD, Dimension, IxDyn};
use std::fmt;

/// A concrete tensor value: a shared (copy-on-write) ndarray of one of ferroflow's dtypes.
///
/// This is what TF1's `session.run` returns as a NumPy array. Cloning is cheap (reference
/// counted); mutation copies only when the buffer is shared.
#[derive(Clone, PartialEq)]
pub enum Value {
    /// `float32` data.
    F32(ArcArray<f32, IxDyn>),
    /// `float64` data.
    F64(ArcArray<f64, IxDyn>),
    /// `int32` data.
    I32(ArcArray<i32, IxDyn>),
    /// `int64` data.
    I64(ArcArray<i64, IxDyn>),
    /// `bool` data.
    Bool(ArcArray<bool, IxDyn>),
}

/// A Rust scalar type that is a ferroflow dtype (`f32`, `f64`, `i32`, `i64`, `bool`).
pub trait Element: Copy + Default + Send + Sync + PartialEq + fmt::Debug + 'static {
    /// The dtype of this scalar type.
    const DTYPE: DType;
    /// Wraps an array into a [`Value`].
    fn into_value(a: ArcArray<Self, IxDyn>) -> Value;
    /// Borrows the array when the value has this dtype.
    fn view(v: &Value) -> Option<ArrayViewD<'_, Self>>;
    /// Takes the shared array out when the value has this dtype.
    fn take(v: Value) -> std::result::Result<ArcArray<Self, IxDyn>, Value>;
    /// Mutable access (copying if shared) when the value has this dtype.
    fn view_mut(v: &mut Value) -> Option<ArrayViewMutD<'_, Self>>;
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn into_value(a: ArcArray<Self, IxDyn>) -> Value {
                Value::$variant(a)
            }
            fn view(v: &Value) -> Option<ArrayViewD<'_, Self>> {
                match v {
                    Value::$variant(a) => Some(a.view()),
                    _ => None,
                }
            }
            fn take(v: Value) -> std::result::Result<ArcArray<Self, IxDyn>, Value> {
                match v {
                    Value::$variant(a) => Ok(a),
                    other => Err(other),
                }
            }
            fn view_mut(v: &mut Value) -> Option<ArrayViewMutD<'_, Self>> {
                match v {
                    Value::$variant(a) => Some(a.view_mut()),
                    _ => None,
                }
            }
        }
        impl From<$t> for Value {
            fn from(x: $t) -> Value {
                Value::$variant(ArcArray::from_elem(IxDyn(&[]), x))
            }
        }
        impl From<Vec<$t>> for Value {
            fn from(x: Vec<$t>) -> Value {
                let n = x.len();
                Value::$variant(Array::from_shape_vec(IxDyn(&[n]), x).map(|a| a.into_shared()).unwrap_or_else(|_| ArcArray::from_elem(IxDyn(&[0]), <$t>::default())))
            }
        }
        impl<D: Dimension> From<Array<$t, D>> for Value {
            fn from(a: Array<$t, D>) -> Value {
                Value::$variant(a.into_dyn().into_shared())
            }
        }
        impl<D: Dimension> From<ArcArray<$t, D>> for Value {
            fn from(a: ArcArray<$t, D>) -> Value {
                Value::$variant(a.into_dyn())
            }
        }
    };
}
element!(f32, F32);
element!(f64, F64);
element!(i32, I32);
element!(i64, I64);
element!(bool, Bool);

/// Runs `$body` with `$a` bound to the inner array whatever the dtype.
#[macro_export]
macro_rules! with_value {
    ($v:expr, $a:ident => $body:expr) => {
        match $v {
            $crate::Value::F32($a) => $body,
            $crate::Value::F64($a) => $body,
            $crate::Value::I32($a) => $body,
            $crate::Value::I64($a) => $body,
            $crate::Value::Bool($a) => $body,
        }
    };
}

impl Value {
    /// The dtype of this value.
    pub fn dtype(&self) -> DType {
        match self {
            Value::F32(_) => DType::F32,
            Value::F64(_) => DType::F64,
            Value::I32(_) => DType::I32,
            Value::I64(_) => DType::I64,
            Value::Bool(_) => DType::Bool,
        }
    }

    /// The concrete shape.
    pub fn shape(&self) -> &[usize] {
        with_value!(self, a => a.shape())
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        with_value!(self, a => a.len())
    }

    /// True when the value has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A value of `dims` filled with `x`.
    pub fn filled<T: Element>(dims: &[usize], x: T) -> Value {
        T::into_value(ArcArray::from_elem(IxDyn(dims), x))
    }

    /// A zero value (false for bool) of the given dtype and shape.
    pub fn zeros(dtype: DType, dims: &[usize]) -> Value {
        match dtype {
            DType::F32 => Value::filled(dims, 0f32),
            DType::F64 => Value::filled(dims, 0f64),
            DType::I32 => Value::filled(dims, 0i32),
            DType::I64 => Value::filled(dims, 0i64),
            DType::Bool => Value::filled(dims, false),
        }
    }

    /// A value of shape `dims` from a flat vector (row-major); errors on a length mismatch.
    pub fn from_shape_vec<T: Element>(dims: &[usize], data: Vec<T>) -> Result<Value> {
        let n = data.len();
        Array::from_shape_vec(IxDyn(dims), data)
            .map(|a| T::into_value(a.into_shared()))
            .map_err(|_| Error::invalid(format!("cannot build a value of shape {dims:?} from {n} elements")))
    }

    /// Borrows the data as an array of `T`; errors when the dtype differs.
    pub fn view<T: Element>(&self) -> Result<ArrayViewD<'_, T>> {
        T::view(self).ok_or_else(|| self.dtype_error(T::DTYPE))
    }

    /// Copies the data out as an owned array of `T`.
    pub fn to_array<T: Element>(&self) -> Result<ArrayD<T>> {
        self.view::<T>().map(|v| v.to_owned())
    }

    /// Takes the shared array out without copying.
    pub fn into_shared<T: Element>(self) -> Result<ArcArray<T, IxDyn>> {
        T::take(self).map_err(|v| v.dtype_error(T::DTYPE))
    }

    /// Mutable access; copies first when the buffer is shared.
    pub fn view_mut<T: Element>(&mut self) -> Result<ArrayViewMutD<'_, T>> {
        let dt = self.dtype();
        T::view_mut(self).ok_or_else(|| Error::invalid(format!("expected a {} value, got {dt}", T::DTYPE)))
    }

    /// The data as a flat row-major vector of `T`.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        self.view::<T>().map(|v| v.iter().copied().collect())
    }

    /// The single element of a scalar (or one-element) value.
    pub fn scalar<T: Element>(&self) -> Result<T> {
        let v = self.view::<T>()?;
        if v.len() != 1 {
            return Err(Error::invalid(format!("expected a scalar, got a value of shape {:?}", v.shape())));
        }
        v.iter().next().copied().ok_or_else(|| Error::invalid("empty value"))
    }

    /// Converts to another dtype (as `tf.cast`: floats truncate toward zero into ints, nonzero is true).
    pub fn cast(&self, to: DType) -> Value {
        macro_rules! conv {
            ($a:expr, $f:expr) => {{
                match to {
                    DType::F32 => Value::F32($a.mapv(|x| $f(x, 0f32)).into_shared()),
                    DType::F64 => Value::F64($a.mapv(|x| $f(x, 0f64)).into_shared()),
                    DType::I32 => Value::I32($a.mapv(|x| $f(x, 0i32)).into_shared()),
                    DType::I64 => Value::I64($a.mapv(|x| $f(x, 0i64)).into_shared()),
                    DType::Bool => Value::Bool($a.mapv(|x| $f(x, false)).into_shared()),
                }
            }};
        }
        if self.dtype() == to {
            return self.clone();
        }
        match self {
            Value::F32(a) => conv!(a, |x: f32, z| CastTo::cast_from_f64(x as f64, z)),
            Value::F64(a) => conv!(a, |x: f64, z| CastTo::cast_from_f64(x, z)),
            Value::I32(a) => conv!(a, |x: i32, z| CastTo::cast_from_i64(x as i64, z)),
            Value::I64(a) => conv!(a, |x: i64, z| CastTo::cast_from_i64(x, z)),
            Value::Bool(a) => conv!(a, |x: bool, z| CastTo::cast_from_i64(x as i64, z)),
        }
    }

    /// A copy with a new shape of the same element count.
    pub fn reshape(&self, dims: &[usize]) -> Result<Value> {
        let n: usize = dims.iter().product();
        if n != self.len() {
            return Err(Error::invalid(format!(
                "cannot reshape a value of shape {:?} ({} elements) to {dims:?} ({n} elements)",
                self.shape(),
                self.len()
            )));
        }
        Ok(with_value!(self, a => {
            let a = if a.is_standard_layout() { a.clone() } else { a.as_standard_layout().into_owned().into_shared() };
            a.into_shape_with_order(IxDyn(dims))
                .map(Into::into)
                .map_err(|e| Error::invalid(format!("reshape failed: {e}")))?
        }))
    }

    fn dtype_error(&self, want: DType) -> Error {
        Error::invalid(format!("expected a {want} value, got {} of shape {:?}", self.dtype(), self.shape()))
    }
}

/// Element conversion used by [`Value::cast`]; the second argument only selects the target type.
trait CastTo: Sized {
    fn cast_from_f64(x: f64, _: Self) -> Self;
    fn cast_from_i64(x: i64, _: Self) -> Self;
}
macro_rules! cast_to {
    ($($t:ty),*) => {$(
        impl CastTo for $t {
            fn cast_from_f64(x: f64, _: Self) -> Self { x as $t }
            fn cast_from_i64(x: i64, _: Self) -> Self { x as $t }
        }
    )*};
}
cast_to!(f32, f64, i32, i64);
impl CastTo for bool {
    fn cast_from_f64(x: f64, _: Self) -> Self {
        x != 0.0
    }
    fn cast_from_i64(x: i64, _: Self) -> Self {
        x != 0
    }
}

/// Serialized form of a [`Value`]: dtype, shape and flat row-major data.
#[derive(serde::Serialize, serde::Deserialize)]
enum ValueRepr {
    F32(Vec<usize>, Vec<f32>),
    F64(Vec<usize>, Vec<f64>),
    I32(Vec<usize>, Vec<i32>),
    I64(Vec<usize>, Vec<i64>),
    Bool(Vec<usize>, Vec<bool>),
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        let dims = self.shape().to_vec();
        let repr = match self {
            Value::F32(a) => ValueRepr::F32(dims, a.iter().copied().collect()),
            Value::F64(a) => ValueRepr::F64(dims, a.iter().copied().collect()),
            Value::I32(a) => ValueRepr::I32(dims, a.iter().copied().collect()),
            Value::I64(a) => ValueRepr::I64(dims, a.iter().copied().collect()),
            Value::Bool(a) => ValueRepr::Bool(dims, a.iter().copied().collect()),
        };
        repr.serialize(ser)
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> std::result::Result<Value, D::Error> {
        use serde::de::Error as _;
        let r = match ValueRepr::deserialize(de)? {
            ValueRepr::F32(d, v) => Value::from_shape_vec(&d, v),
            ValueRepr::F64(d, v) => Value::from_shape_vec(&d, v),
            ValueRepr::I32(d, v) => Value::from_shape_vec(&d, v),
            ValueRepr::I64(d, v) => Value::from_shape_vec(&d, v),
            ValueRepr::Bool(d, v) => Value::from_shape_vec(&d, v),
        };
        r.map_err(D::Error::custom)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        with_value!(self, a => write!(f, "Value({}, {:?}) {a}", self.dtype(), a.shape()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn conversions_round_trip() {
        let v = Value::from(array![[1.0f32, 2.0], [3.0, 4.0]]);
        assert_eq!(v.dtype(), DType::F32);
        assert_eq!(v.shape(), &[2, 2]);
        assert_eq!(v.to_vec::<f32>().unwrap_or_default(), vec![1.0, 2.0, 3.0, 4.0]);
        assert!(v.view::<i32>().is_err());
        assert_eq!(Value::from(true).scalar::<bool>().ok(), Some(true));
    }

    #[test]
    fn cast_truncates() {
        let v = Value::from(vec![1.7f32, -1.7, 0.0]).cast(DType::I32);
        assert_eq!(v.to_vec::<i32>().unwrap_or_default(), vec![1, -1, 0]);
        let b = Value::from(vec![1.7f32, 0.0]).cast(DType::Bool);
        assert_eq!(b.to_vec::<bool>().unwrap_or_default(), vec![true, false]);
    }

    #[test]
    fn reshape_checks_count() {
        let v = Value::from(vec![1i64, 2, 3, 4, 5, 6]);
        assert_eq!(v.reshape(&[2, 3]).map(|r| r.shape().to_vec()).ok(), Some(vec![2, 3]));
        assert!(v.reshape(&[4]).is_err());
    }
}
