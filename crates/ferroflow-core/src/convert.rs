//! `Value` into typed ndarrays and scalars: `value.to_array2::<f32>()?`, `Array2::<f32>::try_from(value)?`.
//!
//! Every conversion checks the dtype and the rank and says which was expected and what the
//! value is, instead of panicking in ndarray.

use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::value::{Element, Value};
use ndarray::{Array, Array0, Array1, Array2, Array3, Array4, Dimension};

impl Value {
    /// Copies the data out as an array of `T` with the static dimension `D` (`Ix2`, `IxDyn`, …).
    ///
    /// ```
    /// use ferroflow_core::Value;
    /// use ndarray::{arr2, Ix2};
    /// # fn main() -> ferroflow_core::Result<()> {
    /// let v = Value::from(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]));
    /// assert_eq!(v.to_array_dim::<f32, Ix2>()?, arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// assert!(v.to_array_dim::<f32, ndarray::Ix1>().is_err()); // rank 2, not 1
    /// assert!(v.to_array_dim::<f64, Ix2>().is_err()); // f32, not f64
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The value's dtype is not `T`, or its rank is not `D`'s (the message names both).
    pub fn to_array_dim<T: Element, D: Dimension>(&self) -> Result<Array<T, D>> {
        let wrong = || self.conversion_error::<T>(D::NDIM);
        let view = T::view(self).ok_or_else(wrong)?;
        view.to_owned().into_dimensionality::<D>().map_err(|_| wrong())
    }

    /// The data as a rank-0 array of `T`; see [`Value::to_array_dim`].
    ///
    /// # Errors
    /// A dtype other than `T` or a rank other than 0.
    pub fn to_array0<T: Element>(&self) -> Result<Array0<T>> {
        self.to_array_dim()
    }

    /// The data as a rank-1 array of `T`; see [`Value::to_array_dim`].
    ///
    /// # Errors
    /// A dtype other than `T` or a rank other than 1.
    pub fn to_array1<T: Element>(&self) -> Result<Array1<T>> {
        self.to_array_dim()
    }

    /// The data as a rank-2 array of `T` (e.g. logits `[batch, classes]`); see [`Value::to_array_dim`].
    ///
    /// # Errors
    /// A dtype other than `T` or a rank other than 2.
    pub fn to_array2<T: Element>(&self) -> Result<Array2<T>> {
        self.to_array_dim()
    }

    /// The data as a rank-3 array of `T`; see [`Value::to_array_dim`].
    ///
    /// # Errors
    /// A dtype other than `T` or a rank other than 3.
    pub fn to_array3<T: Element>(&self) -> Result<Array3<T>> {
        self.to_array_dim()
    }

    /// The data as a rank-4 array of `T` (e.g. NHWC images); see [`Value::to_array_dim`].
    ///
    /// # Errors
    /// A dtype other than `T` or a rank other than 4.
    pub fn to_array4<T: Element>(&self) -> Result<Array4<T>> {
        self.to_array_dim()
    }

    /// "expected float32 of rank 2, got float64 of shape [3] (rank 1)".
    pub(crate) fn conversion_error<T: Element>(&self, rank: Option<usize>) -> Error {
        conversion_error::<T>(self.dtype(), self.shape(), rank)
    }
}

/// The error of a failed conversion of a `dtype` value of shape `dims` into `T` of `rank`.
fn conversion_error<T: Element>(dtype: crate::DType, dims: &[usize], rank: Option<usize>) -> Error {
    let want = match rank {
        Some(0) => format!("{} scalar (rank 0)", T::DTYPE),
        Some(r) => format!("{} of rank {r}", T::DTYPE),
        None => format!("{}", T::DTYPE),
    };
    Error::invalid(format!("expected {want}, got {dtype} of shape {} (rank {})", Shape::known(dims), dims.len()))
}

impl<T: Element, D: Dimension> TryFrom<Value> for Array<T, D> {
    type Error = Error;
    /// As [`Value::to_array_dim`], without a copy when the buffer is not shared.
    fn try_from(v: Value) -> Result<Self> {
        if v.dtype() != T::DTYPE || D::NDIM.is_some_and(|r| r != v.shape().len()) {
            return Err(v.conversion_error::<T>(D::NDIM));
        }
        let (dtype, dims) = (v.dtype(), v.shape().to_vec());
        let err = || conversion_error::<T>(dtype, &dims, D::NDIM);
        let shared = T::take(v).map_err(|_| err())?;
        shared.into_owned().into_dimensionality::<D>().map_err(|_| err())
    }
}

macro_rules! scalar_try_from {
    ($($t:ty),*) => {$(
        impl TryFrom<Value> for $t {
            type Error = Error;
            /// The single element of a scalar value; errors on another dtype or more than one element.
            fn try_from(v: Value) -> Result<Self> {
                v.to_scalar()
            }
        }
    )*};
}
scalar_try_from!(f32, f64, i32, i64, bool);

impl Value {
    /// The single element of a scalar (or one-element) value, with an error that names the
    /// expected and the actual dtype and shape.
    ///
    /// # Errors
    /// A dtype other than `T`, or a value with other than one element.
    pub fn to_scalar<T: Element>(&self) -> Result<T> {
        match T::view(self) {
            Some(a) if a.len() == 1 => a.iter().next().copied().ok_or_else(|| self.conversion_error::<T>(Some(0))),
            _ => Err(self.conversion_error::<T>(Some(0))),
        }
    }
}
