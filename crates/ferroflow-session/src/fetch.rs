//! Typed fetches: `let (loss, acc): (f32, f32) = sess.fetch((loss, acc), &feeds)?`.
//!
//! [`Session::fetch`] takes one handle or a tuple of handles and converts each fetched value to
//! the type the caller names: a scalar (`f32`, `i64`, `bool`, …), an array (`Array2<f32>`,
//! `ArrayD<i32>`, …), a `Vec<T>`, the raw [`Value`], or `()` for an op fetched for its effect
//! (TF1's `None`). A failed conversion names the fetch, the expected type and what it is.

use crate::session::{Fetch, Session};
use ferroflow_core::{Element, Error, Graph, Operation, Result, Tensor, Value, Variable};
use ndarray::{Array, Dimension};

/// A Rust type one fetched value converts into (see [`Session::fetch`]).
pub trait FromFetch: Sized {
    /// Converts the value fetched for `fetch` (a handle of `g`, which names it in errors);
    /// `value` is `None` for an op fetch.
    ///
    /// # Errors
    /// The value does not have this type's dtype or rank, or an op was fetched into a type
    /// that needs a value.
    fn from_fetch(g: &Graph, fetch: Fetch, value: Option<Value>) -> Result<Self>;
}

/// What [`Session::fetch`] takes: one fetch handle, or a tuple of up to 8, each converted into
/// the matching element of `Out`.
pub trait Fetches<Out> {
    /// The fetch list, in order.
    fn fetch_list(self) -> Vec<Fetch>;
    /// Converts the values fetched for `fetches` (handles of `g`; `None` at op positions).
    ///
    /// # Errors
    /// A value does not convert (see [`FromFetch`]).
    fn convert(g: &Graph, fetches: &[Fetch], values: Vec<Option<Value>>) -> Result<Out>;
}

/// The fetch's name in `g` (its ids when it is not of `g`, which the session has ruled out).
fn fetch_name(g: &Graph, f: Fetch) -> String {
    match f {
        Fetch::Tensor(t) => t.name(g).map_or_else(|_| format!("{t:?}"), |n| format!("tensor '{n}'")),
        Fetch::Operation(o) => o.name(g).map_or_else(|_| format!("{o:?}"), |n| format!("op '{n}'")),
    }
}

/// The value of a tensor fetch, or an error saying an op has none.
fn needs_value(g: &Graph, fetch: Fetch, value: Option<Value>, what: &str) -> Result<Value> {
    value.ok_or_else(|| {
        Error::invalid(format!(
            "fetch {} is an op (run for its effect) and has no value, but it is fetched as {what}; fetch it as `()`",
            fetch_name(g, fetch)
        ))
    })
}

/// Prefixes a conversion error with the fetch's name.
fn named(g: &Graph, fetch: Fetch, what: &str, e: Error) -> Error {
    Error::invalid(format!("fetch {} as {what}: {e}", fetch_name(g, fetch)))
}

impl FromFetch for () {
    fn from_fetch(_: &Graph, _: Fetch, _: Option<Value>) -> Result<()> {
        Ok(())
    }
}

impl FromFetch for Value {
    fn from_fetch(g: &Graph, fetch: Fetch, value: Option<Value>) -> Result<Value> {
        needs_value(g, fetch, value, "a Value")
    }
}

macro_rules! scalar_from_fetch {
    ($($t:ty),*) => {$(
        impl FromFetch for $t {
            fn from_fetch(g: &Graph, fetch: Fetch, value: Option<Value>) -> Result<$t> {
                let what = concat!("`", stringify!($t), "`");
                needs_value(g, fetch, value, what)?.to_scalar::<$t>().map_err(|e| named(g, fetch, what, e))
            }
        }
    )*};
}
scalar_from_fetch!(f32, f64, i32, i64, bool);

impl<T: Element> FromFetch for Vec<T> {
    fn from_fetch(g: &Graph, fetch: Fetch, value: Option<Value>) -> Result<Vec<T>> {
        let what = format!("`Vec<{}>`", T::DTYPE);
        needs_value(g, fetch, value, &what)?.to_vec::<T>().map_err(|e| named(g, fetch, &what, e))
    }
}

impl<T: Element, D: Dimension> FromFetch for Array<T, D> {
    fn from_fetch(g: &Graph, fetch: Fetch, value: Option<Value>) -> Result<Array<T, D>> {
        let what = match D::NDIM {
            Some(r) => format!("an array of {} and rank {r}", T::DTYPE),
            None => format!("an `ArrayD` of {}", T::DTYPE),
        };
        Array::<T, D>::try_from(needs_value(g, fetch, value, &what)?).map_err(|e| named(g, fetch, &what, e))
    }
}

macro_rules! single_fetch {
    ($($h:ty),*) => {$(
        impl<O: FromFetch> Fetches<O> for $h {
            fn fetch_list(self) -> Vec<Fetch> {
                vec![Fetch::from(self)]
            }
            fn convert(g: &Graph, fetches: &[Fetch], values: Vec<Option<Value>>) -> Result<O> {
                let (Some(f), Some(v)) = (fetches.first(), values.into_iter().next()) else {
                    return Err(Error::invalid("a single fetch returned no value"));
                };
                O::from_fetch(g, *f, v)
            }
        }
    )*};
}
single_fetch!(Tensor, Operation, Variable, Fetch);

macro_rules! tuple_fetch {
    ($(($h:ident, $o:ident)),+) => {
        impl<$($h: Into<Fetch>,)+ $($o: FromFetch,)+> Fetches<($($o,)+)> for ($($h,)+) {
            #[allow(non_snake_case)]
            fn fetch_list(self) -> Vec<Fetch> {
                let ($($h,)+) = self;
                vec![$($h.into()),+]
            }
            fn convert(g: &Graph, fetches: &[Fetch], values: Vec<Option<Value>>) -> Result<($($o,)+)> {
                let mut pairs = fetches.iter().copied().zip(values);
                Ok(($({
                    let Some((f, v)) = pairs.next() else {
                        return Err(Error::invalid("a tuple fetch returned fewer values than it has fetches"));
                    };
                    $o::from_fetch(g, f, v)?
                },)+))
            }
        }
    };
}
tuple_fetch!((A, OA));
tuple_fetch!((A, OA), (B, OB));
tuple_fetch!((A, OA), (B, OB), (C, OC));
tuple_fetch!((A, OA), (B, OB), (C, OC), (D, OD));
tuple_fetch!((A, OA), (B, OB), (C, OC), (D, OD), (E, OE));
tuple_fetch!((A, OA), (B, OB), (C, OC), (D, OD), (E, OE), (F, OF));
tuple_fetch!((A, OA), (B, OB), (C, OC), (D, OD), (E, OE), (F, OF), (G, OG));
tuple_fetch!((A, OA), (B, OB), (C, OC), (D, OD), (E, OE), (F, OF), (G, OG), (H, OH));

impl Session {
    /// [`Session::run`] with typed results: fetch one handle or a tuple of handles, and name
    /// the Rust type of each result. TF1: `loss, acc = sess.run([loss, acc], feed_dict)`, with
    /// `_` (here `()`) for an op such as a train op.
    ///
    /// Each element converts into a scalar (`f32`, `f64`, `i32`, `i64`, `bool`; one element),
    /// an array (`Array1<f32>`, `Array2<f32>`, `ArrayD<i64>`, …), a `Vec<T>`, the [`Value`],
    /// or `()` (anything, e.g. an op fetched for its effect).
    ///
    /// ```
    /// use ferroflow_core::{DType, Graph, shape};
    /// use ferroflow_ops::{math, state};
    /// use ferroflow_session::{feed_dict, Session};
    /// # fn main() -> ferroflow_core::Result<()> {
    /// let g = Graph::new();
    /// let s = g.root();
    /// let x = state::placeholder(&s.with_name("x"), DType::F32, shape![None, 2])?;
    /// let y = math::mul(&s, x, 2.0f32)?;
    /// let total = math::reduce_sum(&s, y, None, false)?;
    /// let sess = Session::new(&g);
    /// let feeds = feed_dict![x => ndarray::arr2(&[[1.0f32, 2.0]])];
    /// let (sum, doubled): (f32, ndarray::Array2<f32>) = sess.fetch((total, y), &feeds)?;
    /// assert_eq!(sum, 6.0);
    /// assert_eq!(doubled, ndarray::arr2(&[[2.0, 4.0]]));
    /// let only: f32 = sess.fetch(total, &feeds)?;
    /// assert_eq!(only, 6.0);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Every error of [`Session::run`]; a value that does not convert (naming the fetch, the
    /// expected dtype/rank and the actual dtype and shape); an op fetched as anything but `()`.
    pub fn fetch<Out, F: Fetches<Out>>(&self, fetches: F, feeds: &[(Tensor, Value)]) -> Result<Out> {
        let list = fetches.fetch_list();
        let values = self.run(list.iter().copied(), feeds)?;
        let values =
            list.iter().zip(values).map(|(f, v)| matches!(f, Fetch::Tensor(_)).then_some(v)).collect::<Vec<_>>();
        F::convert(self.graph(), &list, values)
    }
}
