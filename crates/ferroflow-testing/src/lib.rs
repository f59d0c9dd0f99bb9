//! ferroflow-testing: the test-support crate (`publish = false`) that every ferroflow crate's
//! tests build on. [`fixtures`] loads the golden values that real TensorFlow produced
//! (`tests/fixtures/<family>.json`, written by `tools/fixtures/gen_fixtures.py`; CI needs no
//! TensorFlow), turning each recorded tensor into a [`ferroflow_core::Value`]; [`close`] compares
//! values with `numpy.allclose`-style tolerances and, on failure, names the worst element, both
//! values and the shapes. Everything here panics on failure: that is how tests report.

#![forbid(unsafe_code)]
// Test support: a panic with a clear message is the intended failure mode of every helper here.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
#![warn(missing_docs)]

pub mod close;
pub mod fixtures;
pub mod golden;
pub mod gradcheck;

pub use close::{assert_close, assert_close_f32, assert_close_named, check_close};
pub use fixtures::{load, Case, Fixtures, OpCase, ProgramCase};
pub use golden::run_op_case;
pub use gradcheck::{check_gradients, check_gradients_with, GradCheck};
