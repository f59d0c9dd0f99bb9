//! Array ops: shapes, broadcasting helpers, fills (`fill`, `zeros`, `ones`), reshapes,
//! transposes, concatenation, casts and one-hot encoding. `alloc` holds the fallible output
//! allocation that every kernel sized by user input uses.

pub(crate) mod alloc;
pub mod broadcast;
pub mod cast;
pub mod concat;
pub mod fill;
pub mod one_hot;
pub mod reshape;
pub mod transpose;

pub use broadcast::{broadcast_like, sum_to_like};
pub use cast::cast;
pub use concat::concat;
pub use fill::{fill, ones, ones_like, zeros, zeros_like};
pub use one_hot::one_hot;
pub use reshape::{expand_dims, flatten, reshape, reshape_like, squeeze};
pub use transpose::transpose;
