//! Array ops: shapes, broadcasting helpers, fills, reshapes, casts and index ops.

pub mod broadcast;
pub mod fill;

pub use broadcast::{broadcast_like, sum_to_like};
pub use fill::{ones_like, zeros_like};
