//! Math ops: element-wise unary and binary (table-driven, NumPy broadcasting), and the rest
//! of TF1's `tf.math` that ferroflow supports.

pub mod add_n;
pub mod binary;
pub mod reduce;
pub mod unary;

pub use add_n::add_n;
pub use reduce::{reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_sum};
pub use binary::{add, div, maximum, minimum, mul, pow, squared_difference, sub};
pub use unary::{abs, exp, log, log1p, neg, reciprocal, relu, rsqrt, sigmoid, sign, softplus, sqrt, square, tanh};
