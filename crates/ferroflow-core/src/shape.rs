//! Static shapes with partially known dimensions (`[?, 28, 28, 1]`).

use crate::error::{Error, Result};
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
    /// Number of elements when fully known.
    pub fn num_elements(&self) -> Option<usize> {
        self.as_known().map(|d| d.iter().product())
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

/// NumPy broadcasting of two concrete shapes; used by kernels.
pub fn broadcast_dims(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    Shape::known(a)
        .broadcast(&Shape::known(b))
        .ok()
        .and_then(|s| s.as_known())
        .ok_or_else(|| Error::invalid(format!("shapes {a:?} and {b:?} cannot be broadcast together")))
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
    fn merge_conflict() {
        assert!(Shape::from([2, 3]).merge(&shape![None, 4]).is_none());
        assert_eq!(Shape::from([2, 3]).merge(&shape![None, 3]), Some(Shape::from([2, 3])));
    }
}
