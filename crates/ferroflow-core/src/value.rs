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
    /// `string` data (TF's `tf.string`): each element is a byte string. Build one with
    /// [`Value::from_bytes`] or [`Value::strings`], read it with [`Value::as_bytes`] or
    /// [`Value::scalar_bytes`]. Numeric kernels reject it with an error naming the node.
    String(ArcArray<Vec<u8>, IxDyn>),
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
                Value::$variant(
                    Array::from_shape_vec(IxDyn(&[n]), x)
                        .map(|a| a.into_shared())
                        .unwrap_or_else(|_| ArcArray::from_elem(IxDyn(&[0]), <$t>::default())),
                )
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

/// Runs `$body` with `$a` bound to the inner array whatever the (non-string) dtype.
///
/// The body is generic over [`Element`] (it may copy elements). A `string` value makes the
/// enclosing function return an `InvalidArgument` error (the session turns it into a kernel
/// error naming the node), so the macro can only be used in functions returning
/// [`Result`](crate::Result).
#[macro_export]
macro_rules! with_value {
    ($v:expr, $a:ident => $body:expr) => {
        match $v {
            $crate::Value::F32($a) => $body,
            $crate::Value::F64($a) => $body,
            $crate::Value::I32($a) => $body,
            $crate::Value::I64($a) => $body,
            $crate::Value::Bool($a) => $body,
            $crate::Value::String(a) => {
                return Err($crate::Error::invalid(format!(
                    "this op does not support string tensors, got a string value of shape {:?}",
                    a.shape()
                )))
            }
        }
    };
}

/// Like `with_value!` but for bodies that only need `Clone` elements (shape, len, reshape),
/// so strings are included.
macro_rules! with_any_value {
    ($v:expr, $a:ident => $body:expr) => {
        match $v {
            Value::F32($a) => $body,
            Value::F64($a) => $body,
            Value::I32($a) => $body,
            Value::I64($a) => $body,
            Value::Bool($a) => $body,
            Value::String($a) => $body,
        }
    };
}

impl From<&str> for Value {
    /// A scalar `string` value holding the UTF-8 bytes of `s`.
    fn from(s: &str) -> Value {
        Value::from_bytes(s.as_bytes())
    }
}
impl From<String> for Value {
    /// A scalar `string` value holding the UTF-8 bytes of `s`.
    fn from(s: String) -> Value {
        Value::from_bytes(s.into_bytes())
    }
}
impl<D: Dimension> From<Array<Vec<u8>, D>> for Value {
    fn from(a: Array<Vec<u8>, D>) -> Value {
        Value::String(a.into_dyn().into_shared())
    }
}
impl<D: Dimension> From<ArcArray<Vec<u8>, D>> for Value {
    fn from(a: ArcArray<Vec<u8>, D>) -> Value {
        Value::String(a.into_dyn())
    }
}

/// The one conversion table of `tf.cast` (floats truncate toward zero into ints, nonzero is
/// true): runs `$conv!(array, element_fn)` for the source dtype; `$conv` builds the output.
macro_rules! cast_by_source {
    ($v:expr, $conv:ident, $string:expr) => {
        match $v {
            Value::String(_) => $string,
            Value::F32(a) => $conv!(a, |x: f32, z| CastTo::cast_from_f64(x as f64, z)),
            Value::F64(a) => $conv!(a, |x: f64, z| CastTo::cast_from_f64(x, z)),
            Value::I32(a) => $conv!(a, |x: i32, z| CastTo::cast_from_i64(x as i64, z)),
            Value::I64(a) => $conv!(a, |x: i64, z| CastTo::cast_from_i64(x, z)),
            Value::Bool(a) => $conv!(a, |x: bool, z| CastTo::cast_from_i64(x as i64, z)),
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
            Value::String(_) => DType::String,
        }
    }

    /// The concrete shape.
    pub fn shape(&self) -> &[usize] {
        with_any_value!(self, a => a.shape())
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        with_any_value!(self, a => a.len())
    }

    /// True when the value has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A value of `dims` filled with `x`.
    ///
    /// Infallible, for sizes the program chose: it panics or aborts when `dims` is absurd or
    /// the memory cannot be had. Kernels, and anything sized by user input, use
    /// [`Value::try_filled`].
    pub fn filled<T: Element>(dims: &[usize], x: T) -> Value {
        T::into_value(ArcArray::from_elem(IxDyn(dims), x))
    }

    /// A zero value (false for bool) of the given dtype and shape. Infallible like
    /// [`Value::filled`]; see [`Value::try_zeros`].
    pub fn zeros(dtype: DType, dims: &[usize]) -> Value {
        match dtype {
            DType::F32 => Value::filled(dims, 0f32),
            DType::F64 => Value::filled(dims, 0f64),
            DType::I32 => Value::filled(dims, 0i32),
            DType::I64 => Value::filled(dims, 0i64),
            DType::Bool => Value::filled(dims, false),
            DType::String => Value::String(ArcArray::from_elem(IxDyn(dims), Vec::new())),
        }
    }

    /// A value of `dims` filled with `x`, allocated through [`try_alloc_vec`]: an element
    /// count or byte size that overflows, or memory that cannot be had, is an
    /// [`Error::Allocation`] (no panic, no abort). Costs one buffer of the output's size.
    pub fn try_filled<T: Element>(dims: &[usize], x: T) -> Result<Value> {
        let mut data = try_alloc_vec::<T>(dims)?;
        data.resize(data.capacity(), x);
        Value::from_shape_vec(dims, data)
    }

    /// A zero value (false for bool) of the given dtype and shape; fallible as
    /// [`Value::try_filled`].
    pub fn try_zeros(dtype: DType, dims: &[usize]) -> Result<Value> {
        match dtype {
            DType::F32 => Value::try_filled(dims, 0f32),
            DType::F64 => Value::try_filled(dims, 0f64),
            DType::I32 => Value::try_filled(dims, 0i32),
            DType::I64 => Value::try_filled(dims, 0i64),
            DType::Bool => Value::try_filled(dims, false),
            DType::String => {
                let n = checked_len(dims).ok_or_else(|| Error::allocation(DType::String, dims, None))?;
                let mut data: Vec<Vec<u8>> = Vec::new();
                data.try_reserve_exact(n)
                    .map_err(|_| Error::allocation(DType::String, dims, checked_bytes(DType::String, dims)))?;
                data.resize(n, Vec::new());
                Value::strings(dims, data)
            }
        }
    }

    /// A value of `dims` from the first `len(dims)` items of `items`, in row-major order,
    /// allocated through [`try_alloc_vec`]; errors when `items` runs short.
    pub fn try_from_iter<T: Element>(dims: &[usize], items: impl IntoIterator<Item = T>) -> Result<Value> {
        let mut data = try_alloc_vec::<T>(dims)?;
        let n = data.capacity();
        data.extend(items.into_iter().take(n));
        Value::from_shape_vec(dims, data)
    }

    /// A value of shape `dims` from a flat vector (row-major); errors on a length mismatch.
    pub fn from_shape_vec<T: Element>(dims: &[usize], data: Vec<T>) -> Result<Value> {
        let n = data.len();
        Array::from_shape_vec(IxDyn(dims), data)
            .map(|a| T::into_value(a.into_shared()))
            .map_err(|_| Error::invalid(format!("cannot build a value of shape {dims:?} from {n} elements")))
    }

    /// A scalar `string` value (TF's `tf.string`) holding `bytes`.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Value {
        Value::String(ArcArray::from_elem(IxDyn(&[]), bytes.into()))
    }

    /// A `string` value of shape `dims` from its byte strings in row-major order; errors on a
    /// length mismatch.
    pub fn strings(dims: &[usize], data: Vec<Vec<u8>>) -> Result<Value> {
        let n = data.len();
        Array::from_shape_vec(IxDyn(dims), data)
            .map(|a| Value::String(a.into_shared()))
            .map_err(|_| Error::invalid(format!("cannot build a string value of shape {dims:?} from {n} elements")))
    }

    /// Borrows a `string` value's byte strings; errors naming the dtype when it is not a string.
    pub fn as_bytes(&self) -> Result<ArrayViewD<'_, Vec<u8>>> {
        match self {
            Value::String(a) => Ok(a.view()),
            _ => Err(self.dtype_error(DType::String)),
        }
    }

    /// The bytes of a scalar (or one-element) `string` value, e.g. a fetched summary.
    pub fn scalar_bytes(&self) -> Result<&[u8]> {
        let Value::String(a) = self else { return Err(self.dtype_error(DType::String)) };
        if a.len() != 1 {
            return Err(Error::invalid(format!("expected a scalar string, got a value of shape {:?}", a.shape())));
        }
        a.iter().next().map(Vec::as_slice).ok_or_else(|| Error::invalid("empty value"))
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
    ///
    /// `string` does not convert (TF's `tf.cast` rejects it too, and the `Cast` op refuses it at
    /// build time): a cast from or to `string` returns the value unchanged. Use
    /// [`Value::try_cast`] to get an error instead.
    pub fn cast(&self, to: DType) -> Value {
        macro_rules! conv {
            ($a:expr, $f:expr) => {{
                match to {
                    DType::F32 => Value::F32($a.mapv(|x| $f(x, 0f32)).into_shared()),
                    DType::F64 => Value::F64($a.mapv(|x| $f(x, 0f64)).into_shared()),
                    DType::I32 => Value::I32($a.mapv(|x| $f(x, 0i32)).into_shared()),
                    DType::I64 => Value::I64($a.mapv(|x| $f(x, 0i64)).into_shared()),
                    DType::Bool => Value::Bool($a.mapv(|x| $f(x, false)).into_shared()),
                    DType::String => self.clone(),
                }
            }};
        }
        if self.dtype() == to {
            return self.clone();
        }
        cast_by_source!(self, conv, self.clone())
    }

    /// [`Value::cast`] into a buffer allocated through [`try_alloc_vec`], for kernels: a cast
    /// to a wider dtype (`bool` → `float64` takes 8× the bytes) is an [`Error::Allocation`]
    /// when the memory cannot be had, not an abort.
    pub fn try_cast(&self, to: DType) -> Result<Value> {
        let string_cast =
            || Error::invalid(format!("cannot cast {} to {to}: string tensors do not convert", self.dtype()));
        macro_rules! conv {
            ($a:expr, $f:expr) => {{
                let dims = $a.shape();
                match to {
                    DType::F32 => Value::try_from_iter(dims, $a.iter().map(|&x| $f(x, 0f32))),
                    DType::F64 => Value::try_from_iter(dims, $a.iter().map(|&x| $f(x, 0f64))),
                    DType::I32 => Value::try_from_iter(dims, $a.iter().map(|&x| $f(x, 0i32))),
                    DType::I64 => Value::try_from_iter(dims, $a.iter().map(|&x| $f(x, 0i64))),
                    DType::Bool => Value::try_from_iter(dims, $a.iter().map(|&x| $f(x, false))),
                    DType::String => Err(string_cast()),
                }
            }};
        }
        if self.dtype() == to {
            return Ok(self.clone());
        }
        cast_by_source!(self, conv, Err(string_cast()))
    }

    /// A copy with a new shape of the same element count.
    pub fn reshape(&self, dims: &[usize]) -> Result<Value> {
        let n = checked_len(dims).ok_or_else(|| {
            Error::invalid(format!(
                "cannot reshape a value of shape {:?} to {dims:?}: its element count overflows usize",
                self.shape()
            ))
        })?;
        if n != self.len() {
            return Err(Error::invalid(format!(
                "cannot reshape a value of shape {:?} ({} elements) to {dims:?} ({n} elements)",
                self.shape(),
                self.len()
            )));
        }
        Ok(with_any_value!(self, a => {
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

/// Bytes one element of `dtype` takes (`bool`: 1; `string`: the size of one element's
/// header, not counting its bytes).
pub fn dtype_size(dtype: DType) -> usize {
    match dtype {
        DType::F32 | DType::I32 => 4,
        DType::F64 | DType::I64 => 8,
        DType::Bool => 1,
        DType::String => std::mem::size_of::<Vec<u8>>(),
    }
}

/// Element count of a shape, `None` when the dims multiply past `usize::MAX`. Any zero dim
/// gives 0 (an empty tensor), whatever the other dims.
pub fn checked_len(dims: &[usize]) -> Option<usize> {
    if dims.contains(&0) {
        return Some(0);
    }
    dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Bytes of a `dtype` tensor of shape `dims`, `None` when the count overflows `usize`.
pub fn checked_bytes(dtype: DType, dims: &[usize]) -> Option<usize> {
    checked_len(dims)?.checked_mul(dtype_size(dtype))
}

/// The one fallible allocator: an empty `Vec` with room for exactly the elements of `dims`.
///
/// The element count and byte size are computed with checked arithmetic and the buffer is
/// reserved with `try_reserve_exact`, so a shape whose size overflows, exceeds `isize::MAX`
/// bytes, or cannot be had from the allocator is an [`Error::Allocation`] ("cannot allocate
/// N bytes for a float32 tensor of shape [..]") instead of a capacity-overflow panic or an
/// allocation-failure abort. Kernels attach their node with [`Error::in_node`].
///
/// On Linux with overcommit a reservation can succeed for more memory than the machine has;
/// it fails when the size exceeds what the kernel will map (with the default heuristic,
/// more than RAM + swap; always, more than the address space).
pub fn try_alloc_vec<T: Element>(dims: &[usize]) -> Result<Vec<T>> {
    let bytes = checked_len(dims).and_then(|n| n.checked_mul(std::mem::size_of::<T>()));
    let (Some(n), Some(b)) = (checked_len(dims), bytes) else {
        return Err(Error::allocation(T::DTYPE, dims, bytes));
    };
    if b > isize::MAX as usize {
        return Err(Error::allocation(T::DTYPE, dims, Some(b)));
    }
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::allocation(T::DTYPE, dims, Some(b)))?;
    Ok(v)
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
    String(Vec<usize>, Vec<Vec<u8>>),
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
            Value::String(a) => ValueRepr::String(dims, a.iter().cloned().collect()),
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
            ValueRepr::String(d, v) => Value::strings(&d, v),
        };
        r.map_err(D::Error::custom)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::F32(a) => write!(f, "Value(float32, {:?}) {a}", a.shape()),
            Value::F64(a) => write!(f, "Value(float64, {:?}) {a}", a.shape()),
            Value::I32(a) => write!(f, "Value(int32, {:?}) {a}", a.shape()),
            Value::I64(a) => write!(f, "Value(int64, {:?}) {a}", a.shape()),
            Value::Bool(a) => write!(f, "Value(bool, {:?}) {a}", a.shape()),
            Value::String(a) => {
                write!(f, "Value(string, {:?}) [", a.shape())?;
                for (i, b) in a.iter().enumerate().take(8) {
                    let sep = if i > 0 { ", " } else { "" };
                    write!(f, "{sep}{:?}", String::from_utf8_lossy(&b[..b.len().min(64)]))?;
                }
                f.write_str(if a.len() > 8 { ", …]" } else { "]" })
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
    fn string_values() {
        let v = Value::from("hello");
        assert_eq!(v.dtype(), DType::String);
        assert_eq!(v.shape(), &[] as &[usize]);
        assert_eq!(v.scalar_bytes().unwrap(), b"hello");
        assert!(v.view::<f32>().is_err());
        assert!(Value::from(1.0f32).scalar_bytes().unwrap_err().to_string().contains("expected a string value"));
        let a = Value::strings(&[2], vec![b"a".to_vec(), b"bc".to_vec()]).unwrap();
        assert_eq!(a.as_bytes().unwrap().iter().map(|b| b.len()).collect::<Vec<_>>(), vec![1, 2]);
        assert!(a.scalar_bytes().is_err());
        assert!(Value::strings(&[3], vec![]).is_err());
        assert_eq!(a.reshape(&[1, 2]).unwrap().shape(), &[1, 2]);
        assert!(a.try_cast(DType::F32).unwrap_err().to_string().contains("string tensors do not convert"));
        assert!(Value::from(1i32).try_cast(DType::String).is_err());
        assert_eq!(Value::try_zeros(DType::String, &[2, 2]).unwrap(), Value::zeros(DType::String, &[2, 2]));
        let json = format!("{a:?}");
        assert!(json.contains("\"bc\""), "{json}");
    }

    #[test]
    fn cast_truncates() {
        let v = Value::from(vec![1.7f32, -1.7, 0.0]).cast(DType::I32);
        assert_eq!(v.to_vec::<i32>().unwrap_or_default(), vec![1, -1, 0]);
        let b = Value::from(vec![1.7f32, 0.0]).cast(DType::Bool);
        assert_eq!(b.to_vec::<bool>().unwrap_or_default(), vec![true, false]);
    }

    #[test]
    fn try_cast_matches_cast() {
        let v = Value::from(ndarray::array![[1.7f32, -1.7], [0.0, 3.0]]);
        for to in [DType::F32, DType::F64, DType::I32, DType::I64, DType::Bool] {
            assert_eq!(v.try_cast(to).unwrap(), v.cast(to), "{to}");
        }
        let Value::F32(a) = v.clone() else { return };
        let t = Value::F32(a.reversed_axes());
        assert_eq!(
            t.try_cast(DType::I64).unwrap().to_vec::<i64>().unwrap(),
            vec![1, 0, -1, 3],
            "row-major order of a transposed view"
        );
    }

    #[test]
    fn fallible_allocation() {
        let v = Value::try_filled(&[2, 3], 1.5f32).unwrap();
        assert_eq!(v.shape(), &[2, 3]);
        assert_eq!(v.to_vec::<f32>().unwrap(), vec![1.5; 6]);
        assert_eq!(Value::try_zeros(DType::Bool, &[0, 1 << 40]).unwrap().shape(), &[0, 1 << 40]);
        assert_eq!(
            Value::try_from_iter(&[2, 2], 0i64..).map(|v| v.to_vec::<i64>().unwrap()).unwrap(),
            vec![0, 1, 2, 3]
        );
        assert!(Value::try_from_iter(&[2, 2], 0..3i32).is_err());
        // Element count overflows usize: no byte count.
        let e = Value::try_zeros(DType::F32, &[1 << 33, 1 << 33]).unwrap_err();
        assert!(matches!(e, Error::Allocation { bytes: None, .. }), "{e}");
        // Fits usize but not one buffer (more than isize::MAX bytes).
        let e = Value::try_zeros(DType::F32, &[1 << 61]).unwrap_err();
        assert!(matches!(e, Error::Allocation { bytes: Some(b), .. } if b == 1 << 63), "{e}");
        // 2^50 bytes: more than any machine (and the 47-bit user address space) has.
        let e = Value::try_zeros(DType::F32, &[1 << 24, 1 << 24]).unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("cannot allocate 1125899906842624 bytes (1048576.0 GiB) for a float32 tensor of shape [16777216, 16777216]"), "{m}");
        let m = e.in_node("w/Initializer/zeros", "Fill").to_string();
        assert!(
            m.starts_with("Fill 'w/Initializer/zeros' failed at run time: cannot allocate 1125899906842624 bytes"),
            "{m}"
        );
    }

    #[test]
    fn reshape_checks_count() {
        let v = Value::from(vec![1i64, 2, 3, 4, 5, 6]);
        assert_eq!(v.reshape(&[2, 3]).map(|r| r.shape().to_vec()).ok(), Some(vec![2, 3]));
        assert!(v.reshape(&[4]).is_err());
        // [2^32, 2^32] wraps to 0 elements in unchecked arithmetic.
        assert!(Value::from(Vec::<f32>::new()).reshape(&[1 << 32, 1 << 32]).is_err());
    }
}
