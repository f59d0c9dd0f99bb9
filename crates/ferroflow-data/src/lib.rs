//! ferroflow-data: the data side of training, in the style of TF1's `input_data`.
//!
//! It reads IDX files (the MNIST / Fashion-MNIST format, raw or gzip) without ever panicking on
//! damaged input, turns them into [`DataSet`]s with TF-style shuffled `next_batch` epochs, splits
//! train/validation/test like `read_data_sets`, and embeds an 8,000/2,000-digit MNIST subset so
//! examples and tests run on a machine with no data files.
//!
//! ```
//! use ferroflow_data::{DataOptions, Datasets};
//! # fn main() -> ferroflow_core::Result<()> {
//! // `Datasets::load(Some(dir), ..)` reads an MNIST-layout directory instead.
//! let mut mnist = Datasets::load(None, DataOptions { seed: 7, ..DataOptions::default() })?;
//! let (x, y) = mnist.train.next_batch(100);
//! assert_eq!((x.dim(), y.dim()), ((100, 784), (100, 10)));
//! assert_eq!(mnist.validation.num_examples(), 800); // 10% of the 8,000 embedded training digits
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![warn(missing_docs)]

pub mod dataset;
#[cfg(feature = "mnist")]
mod from_mnist;
pub mod idx;

/// The `mnist` crate (cargo feature `mnist`), the version [`Datasets::from_mnist`] takes.
#[cfg(feature = "mnist")]
pub use mnist;

pub use dataset::{read_data_sets, DataOptions, DataSet, Datasets, MNIST_FILES, NUM_CLASSES};
pub use idx::{
    read_idx_images, read_idx_images_from_bytes, read_idx_labels, read_idx_labels_from_bytes, IdxImages,
    IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC,
};
