//! Math ops: element-wise unary and binary (table-driven, NumPy broadcasting), comparisons and
//! logical ops, `where_`, matrix products, `argmax`/`argmin`, and the rest of TF1's `tf.math`
//! that ferroflow supports.

pub mod add_n;
pub mod binary;
pub mod compare;
pub mod index;
pub mod matmul;
pub mod reduce;
pub mod unary;

pub use add_n::add_n;
pub use binary::{add, div, floordiv, floormod, maximum, minimum, mul, pow, squared_difference, sub};
pub use compare::{
    equal, greater, greater_equal, less, less_equal, logical_and, logical_not, logical_or, not_equal, where_,
};
pub use index::{argmax, argmin};
pub use matmul::matmul;
pub use reduce::{reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_sum};
// Every unary builder (one row each in `unary.rs`'s table).
pub use unary::*;
