//! Static shapes with partially known dimensions (`[?, 28, 28, 1]`).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::value::{checked_bytes, checked_len};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One dimension of a static shape: `Some(n)` when known, `None` when unknown (`?`).
pub type Dim = Option<usize>;

/// A static shape as TF1's `TensorShape`: unknown rank, or a list of known/unknown dims.
///
/// Build one from a fixed array (`Shape::from([2, 3])`), from dims (`shape![None, 784]`), or
/// `Shape::unknown()`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shape(Option<Vec<Dim>>);

/// Builds a [`Shape`] from dims that are integers or `None`: `shape![None, 28, 28, 1]`.
#[macro_export]
macro_rules! shape {
    () => { $crate::Shape::scalar() };
    ($($d:expr),+ $(,)?) => { $crate::Shape::from_dims(vec![$($crate::shape::IntoDim::into_dim($d)),+]) };
}

/// Conversion used by the [`shape!`] macro: integers are known dims, `None` is unknown.
pub trait IntoDim {
    /// The dim this value stands for.
    fn into_dim(self) -> Dim;
}
impl IntoDim for usize {
    fn into_dim(self) -> Dim {
        Some(self)
    }
}
impl IntoDim for i32 {
    fn into_dim(self) -> Dim {
        usize::try_from(self).ok()
    }
}
impl IntoDim for Option<usize> {
    fn into_dim(self) -> Dim {
        self
    }
}

impl Shape {
    /// A shape of unknown rank.
    pub fn unknown() -> Self {
        Shape(None)
    }
    /// The shape of a scalar, `[]`.
    pub fn scalar() -> Self {
        Shape(Some(Vec::new()))
    }
    /// A shape with the given dims.
    pub fn from_dims(dims: Vec<Dim>) -> Self {
        Shape(Some(dims))
    }
    /// A fully known shape.
    pub fn known(dims: &[usize]) -> Self {
        Shape(Some(dims.iter().map(|&d| Some(d)).collect()))
    }
    /// A shape of known rank whose dims are all unknown.
    pub fn unknown_dims(rank: usize) -> Self {
        Shape(Some(vec![None; rank]))
    }
    /// The dims, or `None` for unknown rank.
    pub fn dims(&self) -> Option<&[Dim]> {
        self.0.as_deref()
    }
    /// The rank, or `None` when unknown.
    pub fn rank(&self) -> Option<usize> {
        self.0.as_ref().map(Vec::len)
    }
    /// Dim `i`, `None` when unknown or out of range.
    pub fn dim(&self, i: usize) -> Dim {
        self.0.as_ref().and_then(|d| d.get(i).copied().flatten())
    }
    /// All dims when every one is known.
    pub fn as_known(&self) -> Option<Vec<usize>> {
        self.0.as_ref()?.iter().copied().collect()
    }
    /// True when rank and all dims are known.
    pub fn is_fully_defined(&self) -> bool {
        self.as_known().is_some()
    }
    /// Number of elements when fully known; `None` when a dim is unknown *or* when the dims
    /// multiply past `usize::MAX` ([`Shape::checked_num_elements`] tells the two apart).
    pub fn num_elements(&self) -> Option<usize> {
        self.checked_num_elements().ok().flatten()
    }

    /// Number of elements: `Ok(None)` when the rank or a dim is unknown, an error when the
    /// dims multiply past `usize::MAX` (any zero dim gives 0, as TF's `TensorShape`).
    pub fn checked_num_elements(&self) -> Result<Option<usize>> {
        match self.as_known() {
            None => Ok(None),
            Some(d) => checked_len(&d).map(Some).ok_or_else(|| {
                Error::invalid(format!("shape {self} has more elements than fit in usize (at most {})", usize::MAX))
            }),
        }
    }

    /// Checks that a `dtype` tensor of this shape could exist: when the shape is fully known,
    /// its element count and byte size must not overflow and must fit in one buffer (at most
    /// `isize::MAX` bytes, Rust's limit). Returns the byte size when known.
    ///
    /// Builders call this on the shapes they create, so an absurd shape is a build error
    /// naming the node instead of a panic or an abort when the tensor is allocated.
    pub fn checked_byte_size(&self, dtype: DType) -> Result<Option<usize>> {
        let (Some(n), Some(dims)) = (self.checked_num_elements()?, self.as_known()) else { return Ok(None) };
        match checked_bytes(dtype, &dims) {
            Some(b) if b <= isize::MAX as usize => Ok(Some(b)),
            _ => Err(Error::invalid(format!(
                "a {dtype} tensor of shape {self} ({n} elements) would take more than {} bytes, the most one buffer can hold",
                isize::MAX
            ))),
        }
    }
    /// True when a concrete shape `dims` fits this static shape.
    pub fn accepts(&self, dims: &[usize]) -> bool {
        match &self.0 {
            None => true,
            Some(s) => s.len() == dims.len() && s.iter().zip(dims).all(|(a, b)| a.is_none_or(|a| a == *b)),
        }
    }
    /// True when the two shapes could describe the same tensor.
    pub fn is_compatible_with(&self, other: &Shape) -> bool {
        self.merge(other).is_some()
    }
    /// The most specific shape compatible with both, or `None` when they conflict.
    pub fn merge(&self, other: &Shape) -> Option<Shape> {
        match (&self.0, &other.0) {
            (None, _) => Some(other.clone()),
            (_, None) => Some(self.clone()),
            (Some(a), Some(b)) => {
                if a.len() != b.len() {
                    return None;
                }
                let mut out = Vec::with_capacity(a.len());
                for (x, y) in a.iter().zip(b) {
                    out.push(match (x, y) {
                        (Some(x), Some(y)) if x != y => return None,
                        (Some(x), _) | (None, Some(x)) => Some(*x),
                        (None, None) => None,
                    });
                }
                Some(Shape(Some(out)))
            }
        }
    }
    /// The least specific shape covering both (unknown where they differ); used for cond outputs.
    pub fn most_specific_common(&self, other: &Shape) -> Shape {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) if a.len() == b.len() => {
                Shape(Some(a.iter().zip(b).map(|(x, y)| if x == y { *x } else { None }).collect()))
            }
            _ => Shape::unknown(),
        }
    }

    /// NumPy broadcasting of two static shapes; `Err(())` when they cannot broadcast.
    #[allow(clippy::result_unit_err)]
    pub fn broadcast(&self, other: &Shape) -> std::result::Result<Shape, ()> {
        let (Some(a), Some(b)) = (&self.0, &other.0) else {
            return Ok(Shape::unknown());
        };
        let n = a.len().max(b.len());
        let mut out = vec![None; n];
        for (i, slot) in out.iter_mut().enumerate() {
            let da = if i + a.len() >= n { a[i + a.len() - n] } else { Some(1) };
            let db = if i + b.len() >= n { b[i + b.len() - n] } else { Some(1) };
            *slot = match (da, db) {
                (Some(1), d) | (d, Some(1)) => d,
                (Some(x), Some(y)) if x == y => Some(x),
                (Some(_), Some(_)) => return Err(()),
                (Some(x), None) | (None, Some(x)) => Some(x),
                (None, None) => None,
            };
        }
        Ok(Shape(Some(out)))
    }

    /// Normalizes a possibly negative axis against this shape's rank.
    pub fn normalize_axis(&self, axis: i64) -> Option<usize> {
        let r = self.rank()? as i64;
        let a = if axis < 0 { axis + r } else { axis };
        (0..r).contains(&a).then_some(a as usize)
    }
}

/// NumPy broadcasting of two concrete shapes; used by kernels. Errors when the shapes do not
/// broadcast or when the result's element count overflows `usize` (`[2^33, 1]` with `[1, 2^33]`).
pub fn broadcast_dims(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let dims = Shape::known(a)
        .broadcast(&Shape::known(b))
        .ok()
        .and_then(|s| s.as_known())
        .ok_or_else(|| Error::invalid(format!("shapes {a:?} and {b:?} cannot be broadcast together")))?;
    if checked_len(&dims).is_none() {
        return Err(Error::invalid(format!(
            "broadcasting shapes {a:?} and {b:?} gives {dims:?}, whose element count overflows usize"
        )));
    }
    Ok(dims)
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(d: [usize; N]) -> Self {
        Shape::known(&d)
    }
}
impl From<&[usize]> for Shape {
    fn from(d: &[usize]) -> Self {
        Shape::known(d)
    }
}
impl From<Vec<usize>> for Shape {
    fn from(d: Vec<usize>) -> Self {
        Shape::known(&d)
    }
}
impl From<Vec<Dim>> for Shape {
    fn from(d: Vec<Dim>) -> Self {
        Shape::from_dims(d)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("<unknown>"),
            Some(d) => {
                f.write_str("[")?;
                for (i, x) in d.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match x {
                        Some(n) => write!(f, "{n}")?,
                        None => f.write_str("?")?,
                    }
                }
                f.write_str("]")
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn display_and_accepts() {
        let s = shape![None, 28, 28, 1];
        assert_eq!(s.to_string(), "[?, 28, 28, 1]");
        assert!(s.accepts(&[5, 28, 28, 1]));
        assert!(!s.accepts(&[5, 28, 28]));
        assert!(!s.accepts(&[5, 28, 27, 1]));
    }

    #[test]
    fn broadcast_rules() {
        let a = Shape::from([2, 1, 3]);
        let b = shape![None, 3];
        assert_eq!(a.broadcast(&b).unwrap_or_else(|_| Shape::unknown()).to_string(), "[2, ?, 3]");
        assert!(Shape::from([2, 3]).broadcast(&Shape::from([4])).is_err());
    }

    #[test]
    fn element_counts_are_checked() {
        let big = 1usize << 33;
        assert_eq!(Shape::from([big, 3]).num_elements(), Some(3 * big));
        assert_eq!(Shape::from([big, big]).num_elements(), None);
        assert!(Shape::from([big, big]).checked_num_elements().is_err());
        assert_eq!(Shape::from([big, big, 0]).checked_num_elements().ok(), Some(Some(0)));
        assert_eq!(shape![None, 3].checked_num_elements().ok(), Some(None));
        assert_eq!(Shape::from([2, 3]).checked_byte_size(DType::F64).ok(), Some(Some(48)));
        // 2^61 f32 elements fit in usize, but 2^63 bytes do not fit in one buffer.
        let e = Shape::from([1usize << 61]).checked_byte_size(DType::F32).unwrap_err().to_string();
        assert!(e.contains("float32") && e.contains("[2305843009213693952]"), "{e}");
        assert!(Shape::from([big, big]).checked_byte_size(DType::Bool).is_err());
        assert!(broadcast_dims(&[big, 1], &[1, big]).is_err());
        assert_eq!(broadcast_dims(&[big, 1], &[1, 2]).ok(), Some(vec![big, 2]));
    }

    #[test]
    fn merge_conflict() {
        assert!(Shape::from([2, 3]).merge(&shape![None, 4]).is_none());
        assert_eq!(Shape::from([2, 3]).merge(&shape![None, 3]), Some(Shape::from([2, 3])));
    }
}
