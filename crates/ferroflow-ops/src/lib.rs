//! ferroflow-ops: every op, one file per family.
//!
//! Each family file holds the public builders (named as in TF1 Python: `math::add`,
//! `nn::moments`), the op structs with their shape rule (`infer`), kernel (`compute`) and
//! gradient, and the gradient kernels. Element-wise families are table-driven. Adding an op
//! is one new file (or one table row) and one `mod` line; the graph and session know no
//! concrete op.

#![deny(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod array;
pub mod control;
pub mod input;
mod kernels;
pub mod math;
pub mod nn;
pub mod random;
pub mod state;
pub(crate) mod util;

pub use control::{cond, group, identity, no_op, stop_gradient};
pub use input::{convert_to_tensor, IntoInput, OptionalInput};
pub use state::{constant, placeholder, variable};
