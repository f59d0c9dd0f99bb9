//! `DataSet` with TF-style `next_batch`, and `read_data_sets` for MNIST-layout directories.

use crate::idx::{read_idx_images, read_idx_images_from_bytes, read_idx_labels, read_idx_labels_from_bytes, IdxImages};
use ferroflow_core::{Error, Result};
use ndarray::{Array1, Array2, Array4, ArrayView4, Axis};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use std::path::{Path, PathBuf};

/// Number of classes of MNIST and Fashion-MNIST; the width of the one-hot labels.
pub const NUM_CLASSES: usize = 10;

/// The four files a data directory must hold, each raw or with a `.gz` suffix.
pub const MNIST_FILES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

/// Training-set size from which TF holds out 5,000 validation records instead of 10%.
const FULL_TRAIN_SIZE: usize = 60_000;
const FULL_VALIDATION_SIZE: usize = 5_000;

/// One split of a data set: images scaled to `[0, 1]`, integer and one-hot labels, and a
/// shuffling batch cursor.
///
/// TF1: `mnist.train` (a `tensorflow.contrib.learn` `DataSet`). Unlike TF, the arrays are
/// never reordered: [`images`](Self::images) and [`labels`](Self::labels) stay in file order
/// and batches are drawn through a shuffled index.
#[derive(Debug, Clone)]
pub struct DataSet {
    images: Array2<f32>,
    labels: Vec<u8>,
    one_hot: Array2<f32>,
    rows: usize,
    cols: usize,
    one_hot_batches: bool,
    shuffle: bool,
    order: Vec<usize>,
    started: bool,
    index_in_epoch: usize,
    epochs_completed: usize,
    rng: StdRng,
}

impl DataSet {
    /// Builds a data set from `(n, rows * cols)` images and `n` labels in `0..10`; `seed` drives
    /// the reshuffle at each epoch.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the row counts differ, the image width is not
    /// `rows * cols`, or a label is 10 or more.
    pub fn new(images: Array2<f32>, labels: Vec<u8>, (rows, cols): (usize, usize), seed: u64) -> Result<DataSet> {
        let n = labels.len();
        if images.nrows() != n {
            return Err(Error::invalid(format!("DataSet: {} images but {n} labels", images.nrows())));
        }
        if rows.checked_mul(cols) != Some(images.ncols()) {
            return Err(Error::invalid(format!(
                "DataSet: images have {} values each, which is not {rows}x{cols}",
                images.ncols()
            )));
        }
        if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| usize::from(l) >= NUM_CLASSES) {
            return Err(Error::invalid(format!("DataSet: label {l} of record {i} is not a class in 0..{NUM_CLASSES}")));
        }
        let images = if images.is_standard_layout() { images } else { images.as_standard_layout().into_owned() };
        let mut one_hot = Array2::zeros((n, NUM_CLASSES));
        for (mut row, &l) in one_hot.rows_mut().into_iter().zip(&labels) {
            if let Some(x) = row.get_mut(usize::from(l)) {
                *x = 1.0;
            }
        }
        Ok(DataSet {
            images,
            labels,
            one_hot,
            rows,
            cols,
            one_hot_batches: true,
            shuffle: true,
            order: (0..n).collect(),
            started: false,
            index_in_epoch: 0,
            epochs_completed: 0,
            rng: StdRng::seed_from_u64(seed),
        })
    }

    /// Builds a data set from IDX images (bytes scaled by `1/255` in `f32`, as TF does) and labels;
    /// `source` names the label file in errors.
    ///
    /// # Errors
    /// [`Error::Format`] naming `source` if the counts differ or a label is not in `0..10`.
    pub fn from_idx(images: &IdxImages, labels: Vec<u8>, seed: u64, source: impl AsRef<Path>) -> Result<DataSet> {
        let source = source.as_ref();
        check_labels(source, &labels, images.count)?;
        let pixels = images.pixels.get(..images.count.saturating_mul(images.image_len())).unwrap_or(&[]);
        let arr = to_f32(source, pixels, labels.len(), images.image_len())?;
        DataSet::new(arr, labels, (images.rows, images.cols), seed).map_err(|e| Error::format(source, e.to_string()))
    }

    /// Whether [`next_batch`](Self::next_batch) returns one-hot labels `(n, 10)` (the default)
    /// or class ids as `(n, 1)` floats.
    pub fn with_one_hot(mut self, one_hot: bool) -> DataSet {
        self.one_hot_batches = one_hot;
        self
    }

    /// Whether epochs are shuffled (default `true`, TF1's `shuffle=True`); with `false` batches
    /// walk the records in file order.
    pub fn with_shuffle(mut self, shuffle: bool) -> DataSet {
        self.shuffle = shuffle;
        self
    }

    /// This rank's shard for data-parallel training: the records `i` with
    /// `i % size == rank` (file order), so the `size` shards are disjoint and cover the set, and
    /// every epoch of a shard is a disjoint part of a global epoch. The shard keeps the
    /// one-hot and shuffle settings; its shuffle stream is derived from this set's stream and
    /// `rank`, so ranks shuffle differently but reproducibly. TF1: `tf.data.Dataset.shard(size,
    /// rank)`; Horovod's examples shard with it.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `size` is 0, `rank >= size`, or the shard would be empty
    /// (fewer records than ranks).
    pub fn shard(&self, rank: usize, size: usize) -> Result<DataSet> {
        if size == 0 || rank >= size {
            return Err(Error::invalid(format!(
                "DataSet::shard: rank {rank} is not in 0..{size}; pass this process's rank and the job size"
            )));
        }
        let idx: Vec<usize> = (rank..self.num_examples()).step_by(size).collect();
        if idx.is_empty() {
            return Err(Error::invalid(format!(
                "DataSet::shard: {} records cannot give each of {size} ranks a non-empty shard (rank {rank} gets none)",
                self.num_examples()
            )));
        }
        let images = self.images.select(Axis(0), &idx);
        let labels: Vec<u8> = idx.iter().map(|&i| self.labels.get(i).copied().unwrap_or_default()).collect();
        let seed = self.rng.clone().next_u64() ^ (rank as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Ok(DataSet::new(images, labels, (self.rows, self.cols), seed)?
            .with_one_hot(self.one_hot_batches)
            .with_shuffle(self.shuffle))
    }

    /// Number of records.
    pub fn num_examples(&self) -> usize {
        self.labels.len()
    }

    /// Epochs finished so far. As in TF1, an epoch counts as finished when a batch asks for
    /// records past its end, not when its last record is handed out.
    pub fn epochs_completed(&self) -> usize {
        self.epochs_completed
    }

    /// Image height and width.
    pub fn image_shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// All images, `(n, rows * cols)`, values in `[0, 1]`, file order.
    pub fn images(&self) -> &Array2<f32> {
        &self.images
    }

    /// All images as NHWC, `(n, rows, cols, 1)`, sharing the storage of [`images`](Self::images).
    ///
    /// # Errors
    /// None in practice: the storage is kept in standard layout with the matching length.
    pub fn images_nhwc(&self) -> Result<ArrayView4<'_, f32>> {
        self.images
            .view()
            .into_shape_with_order((self.num_examples(), self.rows, self.cols, 1))
            .map_err(|e| Error::invalid(format!("DataSet::images_nhwc: {e}")))
    }

    /// Class ids in `0..10`, file order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// One-hot labels, `(n, 10)`, file order.
    pub fn one_hot(&self) -> &Array2<f32> {
        &self.one_hot
    }

    /// The next `batch_size` images `(batch_size, rows * cols)` and labels, one-hot
    /// `(batch_size, 10)` or class ids `(batch_size, 1)` (see [`with_one_hot`](Self::with_one_hot)).
    ///
    /// TF1: `mnist.train.next_batch(batch_size)`. The first epoch is shuffled on the first call;
    /// a batch that runs past the end of an epoch takes the rest of it, reshuffles, and fills
    /// up from the start of the new epoch. A batch larger than the data set spans several
    /// epochs; an empty data set gives empty batches.
    pub fn next_batch(&mut self, batch_size: usize) -> (Array2<f32>, Array2<f32>) {
        let idx = self.next_indices(batch_size);
        let labels = if self.one_hot_batches {
            self.one_hot.select(Axis(0), &idx)
        } else {
            self.gather_labels(&idx).mapv(f32::from).insert_axis(Axis(1))
        };
        (self.images.select(Axis(0), &idx), labels)
    }

    /// Like [`next_batch`](Self::next_batch) but with the images as NHWC `(batch_size, rows,
    /// cols, 1)`, ready for `conv2d` (TF1: `mnist.train.next_batch(b)` then
    /// `np.reshape(x, [-1, 28, 28, 1])`). Draws the same batches as `next_batch` would.
    ///
    /// ```
    /// use ferroflow_data::{DataOptions, Datasets};
    /// # fn main() -> ferroflow_core::Result<()> {
    /// let mut data = Datasets::embedded_mnist(DataOptions::default())?;
    /// let (x, y) = data.train.next_batch_nhwc(8)?;
    /// assert_eq!((x.dim(), y.dim()), ((8, 28, 28, 1), (8, 10)));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// None in practice: a batch always has `rows * cols` values per image.
    pub fn next_batch_nhwc(&mut self, batch_size: usize) -> Result<(Array4<f32>, Array2<f32>)> {
        let (images, labels) = self.next_batch(batch_size);
        let n = images.nrows();
        let images = images
            .into_shape_with_order((n, self.rows, self.cols, 1))
            .map_err(|e| Error::invalid(format!("DataSet::next_batch_nhwc: {e}")))?;
        Ok((images, labels))
    }

    /// Like [`next_batch`](Self::next_batch) but with the labels as class ids, for sparse losses.
    pub fn next_batch_labels(&mut self, batch_size: usize) -> (Array2<f32>, Vec<u8>) {
        let idx = self.next_indices(batch_size);
        (self.images.select(Axis(0), &idx), self.gather_labels(&idx).to_vec())
    }

    fn gather_labels(&self, idx: &[usize]) -> Array1<u8> {
        idx.iter().map(|&i| self.labels.get(i).copied().unwrap_or_default()).collect()
    }

    /// Record indices of the next batch, advancing the epoch cursor (TF1's `next_batch` logic).
    fn next_indices(&mut self, batch_size: usize) -> Vec<usize> {
        let n = self.num_examples();
        let mut idx = Vec::with_capacity(batch_size);
        if n == 0 || batch_size == 0 {
            return idx;
        }
        if !self.started {
            self.started = true;
            if self.shuffle {
                self.order.shuffle(&mut self.rng);
            }
        }
        let mut need = batch_size;
        while need > 0 {
            let start = self.index_in_epoch;
            if start + need > n {
                idx.extend_from_slice(self.order.get(start..).unwrap_or(&[]));
                need -= n - start;
                self.epochs_completed += 1;
                if self.shuffle {
                    self.order.shuffle(&mut self.rng);
                }
                self.index_in_epoch = 0;
            } else {
                idx.extend_from_slice(self.order.get(start..start + need).unwrap_or(&[]));
                self.index_in_epoch += need;
                need = 0;
            }
        }
        idx
    }
}

/// How [`read_data_sets`] splits and batches the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataOptions {
    /// Records held out of the training file (its first ones) as the validation set.
    /// `None` (default) = TF's rule: 5,000 for a full-size training file (60,000 records or
    /// more), 10% of it otherwise.
    pub validation_size: Option<usize>,
    /// Seed of the per-epoch shuffle (default 0; TF1 leaves it to NumPy's global state).
    pub seed: u64,
    /// Whether `next_batch` returns one-hot labels (default `true`; TF1's default is `false`).
    pub one_hot: bool,
}

impl Default for DataOptions {
    fn default() -> Self {
        DataOptions { validation_size: None, seed: 0, one_hot: true }
    }
}

impl DataOptions {
    /// Sets [`validation_size`](Self::validation_size).
    pub fn validation_size(mut self, size: usize) -> Self {
        self.validation_size = Some(size);
        self
    }

    /// Sets [`seed`](Self::seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`one_hot`](Self::one_hot).
    pub fn one_hot(mut self, one_hot: bool) -> Self {
        self.one_hot = one_hot;
        self
    }
}

/// The three splits of a data set. TF1: the result of `input_data.read_data_sets`.
#[derive(Debug, Clone)]
pub struct Datasets {
    /// Training records (the training file minus the validation records).
    pub train: DataSet,
    /// The first `validation_size` records of the training file.
    pub validation: DataSet,
    /// The `t10k` files.
    pub test: DataSet,
}

const EMBEDDED_TRAIN_IMAGES: &[u8] = include_bytes!("../../../data/mnist-10k/train-images-idx3-ubyte.gz");
const EMBEDDED_TRAIN_LABELS: &[u8] = include_bytes!("../../../data/mnist-10k/train-labels-idx1-ubyte.gz");
const EMBEDDED_TEST_IMAGES: &[u8] = include_bytes!("../../../data/mnist-10k/t10k-images-idx3-ubyte.gz");
const EMBEDDED_TEST_LABELS: &[u8] = include_bytes!("../../../data/mnist-10k/t10k-labels-idx1-ubyte.gz");

impl Datasets {
    /// The MNIST subset built into the crate (8,000 training and 2,000 test digits, see
    /// `data/mnist-10k/PROVENANCE.md`); needs no files.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `validation_size` exceeds 8,000.
    pub fn embedded_mnist(opts: DataOptions) -> Result<Datasets> {
        let dir = Path::new("<embedded mnist-10k>");
        let [ti, tl, vi, vl] = MNIST_FILES.map(|f| dir.join(format!("{f}.gz")));
        let train_images = read_idx_images_from_bytes(&ti, EMBEDDED_TRAIN_IMAGES)?;
        let train_labels = read_idx_labels_from_bytes(&tl, EMBEDDED_TRAIN_LABELS)?;
        let test_images = read_idx_images_from_bytes(&vi, EMBEDDED_TEST_IMAGES)?;
        let test_labels = read_idx_labels_from_bytes(&vl, EMBEDDED_TEST_LABELS)?;
        build(opts, (&ti, train_images), (&tl, train_labels), (&vi, test_images), (&vl, test_labels))
    }

    /// This rank's share for data-parallel training: the training split sharded with
    /// [`DataSet::shard`]; validation and test stay whole (the chief evaluates them, or each
    /// rank can shard them itself). Horovod examples: `dataset.shard(hvd.size(), hvd.rank())`.
    ///
    /// # Errors
    /// As [`DataSet::shard`].
    pub fn shard(self, rank: usize, size: usize) -> Result<Datasets> {
        let train = self.train.shard(rank, size)?;
        Ok(Datasets { train, ..self })
    }

    /// Reads `dir` with [`read_data_sets`] when given, else the [embedded](Self::embedded_mnist) set.
    ///
    /// # Errors
    /// As [`read_data_sets`].
    pub fn load(data: Option<&Path>, opts: DataOptions) -> Result<Datasets> {
        match data {
            Some(dir) => read_data_sets(dir, opts),
            None => Datasets::embedded_mnist(opts),
        }
    }
}

/// Reads an MNIST-layout directory (MNIST, Fashion-MNIST) into train/validation/test splits.
///
/// TF1: `tensorflow.examples.tutorials.mnist.input_data.read_data_sets(dir)`. `dir` must hold
/// the four [`MNIST_FILES`], each raw or gzip-compressed (`.gz`). The validation set is the
/// first `validation_size` records of the training file; test is the `t10k` files.
///
/// # Errors
/// [`Error::Io`] naming the directory and the expected names if a file is missing;
/// [`Error::Format`] naming the file if it is damaged, image and label counts differ, or a
/// label is not in `0..10`; [`Error::InvalidArgument`] if `validation_size` exceeds the
/// training file.
pub fn read_data_sets(dir: impl AsRef<Path>, opts: DataOptions) -> Result<Datasets> {
    let dir = dir.as_ref();
    let mut found = Vec::with_capacity(MNIST_FILES.len());
    let mut missing = Vec::new();
    for name in MNIST_FILES {
        let raw = dir.join(name);
        let gz = dir.join(format!("{name}.gz"));
        if raw.is_file() {
            found.push(raw);
        } else if gz.is_file() {
            found.push(gz);
        } else {
            missing.push(format!("{name}[.gz]"));
        }
    }
    let [ti, tl, vi, vl]: [PathBuf; 4] = match found.try_into() {
        Ok(paths) if missing.is_empty() => paths,
        _ => {
            let msg = format!(
                "missing {}; a data directory must hold {} (each raw or .gz)",
                missing.join(", "),
                MNIST_FILES.join(", ")
            );
            return Err(Error::io(dir, std::io::Error::new(std::io::ErrorKind::NotFound, msg)));
        }
    };
    let train_images = read_idx_images(&ti)?;
    let train_labels = read_idx_labels(&tl)?;
    let test_images = read_idx_images(&vi)?;
    let test_labels = read_idx_labels(&vl)?;
    build(opts, (&ti, train_images), (&tl, train_labels), (&vi, test_images), (&vl, test_labels))
}

/// Checks counts and shapes, splits off validation and builds the three data sets.
pub(crate) fn build(
    opts: DataOptions,
    (train_images_path, train_images): (&Path, IdxImages),
    (train_labels_path, train_labels): (&Path, Vec<u8>),
    (test_images_path, test_images): (&Path, IdxImages),
    (test_labels_path, test_labels): (&Path, Vec<u8>),
) -> Result<Datasets> {
    check_counts(train_images_path, &train_images, train_labels_path, &train_labels)?;
    check_counts(test_images_path, &test_images, test_labels_path, &test_labels)?;
    check_labels(train_labels_path, &train_labels, train_images.count)?;
    check_labels(test_labels_path, &test_labels, test_images.count)?;
    if (test_images.rows, test_images.cols) != (train_images.rows, train_images.cols) {
        return Err(Error::format(
            test_images_path,
            format!(
                "test images are {}x{} but the training images in {} are {}x{}",
                test_images.rows,
                test_images.cols,
                train_images_path.display(),
                train_images.rows,
                train_images.cols
            ),
        ));
    }
    let n = train_images.count;
    let validation_size = match opts.validation_size {
        Some(v) if v > n => {
            return Err(Error::invalid(format!(
                "validation_size {v} is larger than the {n} records of {}; it must be between 0 and {n}",
                train_images_path.display()
            )))
        }
        Some(v) => v,
        None if n >= FULL_TRAIN_SIZE => FULL_VALIDATION_SIZE,
        None => n / 10,
    };
    let len = train_images.image_len();
    let shape = (train_images.rows, train_images.cols);
    let (val_px, train_px) = split(train_images_path, &train_images.pixels, validation_size * len)?;
    let (val_lab, train_lab) = split(train_labels_path, &train_labels, validation_size)?;
    let make = |path: &Path, px: &[u8], labels: &[u8], seed: u64| -> Result<DataSet> {
        let arr = to_f32(path, px, labels.len(), len)?;
        let ds = DataSet::new(arr, labels.to_vec(), shape, seed).map_err(|e| Error::format(path, e.to_string()))?;
        Ok(ds.with_one_hot(opts.one_hot))
    };
    // Different streams per split, all fixed by the one seed.
    Ok(Datasets {
        train: make(train_images_path, train_px, train_lab, opts.seed)?,
        validation: make(train_images_path, val_px, val_lab, opts.seed.wrapping_add(1))?,
        test: make(test_images_path, &test_images.pixels, &test_labels, opts.seed.wrapping_add(2))?,
    })
}

fn check_counts(images_path: &Path, images: &IdxImages, labels_path: &Path, labels: &[u8]) -> Result<()> {
    if images.count == labels.len() {
        return Ok(());
    }
    Err(Error::format(
        labels_path,
        format!(
            "holds {} labels but {} holds {} images; the two files must match",
            labels.len(),
            images_path.display(),
            images.count
        ),
    ))
}

fn check_labels(path: &Path, labels: &[u8], images: usize) -> Result<()> {
    if labels.len() != images {
        return Err(Error::format(path, format!("holds {} labels for {images} images", labels.len())));
    }
    match labels.iter().enumerate().find(|(_, &l)| usize::from(l) >= NUM_CLASSES) {
        Some((i, l)) => Err(Error::format(path, format!("label {l} of record {i} is not a class in 0..{NUM_CLASSES}"))),
        None => Ok(()),
    }
}

fn split<'a>(path: &Path, data: &'a [u8], mid: usize) -> Result<(&'a [u8], &'a [u8])> {
    match (data.get(..mid), data.get(mid..)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(Error::format(path, format!("cannot split {} bytes at {mid}", data.len()))),
    }
}

/// Bytes to `(n, len)` floats in `[0, 1]`, computed as TF does (`f32(x) * f32(1/255)`).
fn to_f32(path: &Path, pixels: &[u8], n: usize, len: usize) -> Result<Array2<f32>> {
    let scale = 1.0f32 / 255.0;
    let data: Vec<f32> = pixels.iter().map(|&p| f32::from(p) * scale).collect();
    Array2::from_shape_vec((n, len), data)
        .map_err(|e| Error::format(path, format!("image data does not match {n} images of {len} pixels: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// `n` one-pixel images whose value is the record index, labels `i % 10`.
    fn tiny(n: usize, seed: u64) -> DataSet {
        let images = Array2::from_shape_fn((n, 1), |(i, _)| i as f32);
        DataSet::new(images, (0..n).map(|i| (i % 10) as u8).collect(), (1, 1), seed).unwrap()
    }

    fn ids(batch: &Array2<f32>) -> Vec<usize> {
        batch.column(0).iter().map(|&x| x as usize).collect()
    }

    #[test]
    fn nhwc_batches_are_the_flat_batches_reshaped() {
        let images = Array2::from_shape_fn((5, 6), |(i, j)| (i * 6 + j) as f32);
        let labels: Vec<u8> = (0..5).collect();
        let mut flat = DataSet::new(images.clone(), labels.clone(), (2, 3), 7).unwrap();
        let mut nhwc = DataSet::new(images, labels, (2, 3), 7).unwrap();
        for _ in 0..3 {
            let (xf, yf) = flat.next_batch(3);
            let (xn, yn) = nhwc.next_batch_nhwc(3).unwrap();
            assert_eq!(xn.dim(), (3, 2, 3, 1));
            assert_eq!(xn.iter().copied().collect::<Vec<_>>(), xf.iter().copied().collect::<Vec<_>>());
            assert_eq!(xn[[1, 1, 2, 0]], xf[[1, 5]]);
            assert_eq!(yn, yf);
        }
    }

    #[test]
    fn shards_are_disjoint_cover_the_set_and_each_epoch_stays_in_the_shard() {
        let ds = tiny(11, 3);
        let mut seen = Vec::new();
        for rank in 0..3 {
            let mut sh = ds.shard(rank, 3).unwrap();
            let mine: Vec<usize> = (rank..11).step_by(3).collect();
            assert_eq!(sh.num_examples(), mine.len());
            assert_eq!(sh.labels(), mine.iter().map(|&i| (i % 10) as u8).collect::<Vec<_>>().as_slice());
            // Two epochs of batches: every record drawn is in this shard, each once per epoch.
            let (x, _) = sh.next_batch(mine.len());
            let mut epoch = ids(&x);
            epoch.sort_unstable();
            assert_eq!(epoch, mine);
            let (x, _) = sh.next_batch(mine.len());
            assert!(ids(&x).iter().all(|i| mine.contains(i)));
            seen.extend(mine);
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..11).collect::<Vec<_>>());
        let e = ds.shard(3, 3).unwrap_err().to_string();
        assert!(e.contains("rank 3 is not in 0..3"), "{e}");
        assert!(ds.shard(0, 0).is_err());
        let e = tiny(2, 0).shard(2, 3).unwrap_err().to_string();
        assert!(e.contains("rank 2 gets none"), "{e}");
    }

    #[test]
    fn datasets_shard_splits_train_only() {
        let d = Datasets { train: tiny(10, 1), validation: tiny(4, 2), test: tiny(6, 3) };
        let s = d.shard(1, 2).unwrap();
        assert_eq!((s.train.num_examples(), s.validation.num_examples(), s.test.num_examples()), (5, 4, 6));
    }

    #[test]
    fn next_batch_walks_epochs_like_tf() {
        let mut ds = tiny(10, 1);
        let mut first_epoch = Vec::new();
        for _ in 0..3 {
            let (x, y) = ds.next_batch(3);
            assert_eq!((x.dim(), y.dim()), ((3, 1), (3, 10)));
            first_epoch.extend(ids(&x));
            assert_eq!(ds.epochs_completed(), 0);
        }
        // Crosses the boundary: 1 record left of epoch 0, then 2 of the reshuffled epoch 1.
        let (x, _) = ds.next_batch(3);
        let x = ids(&x);
        first_epoch.push(x[0]);
        assert_eq!(ds.epochs_completed(), 1);
        let mut sorted = first_epoch.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>(), "an epoch visits every record once");
        assert_ne!(first_epoch, (0..10).collect::<Vec<_>>(), "the first epoch is shuffled");
        // The rest of epoch 1 completes a permutation too.
        let mut second: Vec<usize> = x[1..].to_vec();
        let (x, _) = ds.next_batch(8);
        second.extend(ids(&x));
        assert_eq!(second.iter().copied().collect::<HashSet<_>>().len(), 10);
        assert_eq!(ds.epochs_completed(), 1);
    }

    #[test]
    fn epoch_counts_only_when_a_batch_runs_past_the_end() {
        let mut ds = tiny(10, 3);
        ds.next_batch(5);
        ds.next_batch(5);
        assert_eq!(ds.epochs_completed(), 0, "TF counts the epoch on the next call");
        let (x, _) = ds.next_batch(5);
        assert_eq!(x.nrows(), 5);
        assert_eq!(ds.epochs_completed(), 1);
    }

    #[test]
    fn odd_batch_sizes_do_not_panic() {
        let mut ds = tiny(4, 0);
        let (x, y) = ds.next_batch(0);
        assert_eq!((x.dim(), y.dim()), ((0, 1), (0, 10)));
        let (x, _) = ds.next_batch(11);
        assert_eq!(x.nrows(), 11);
        assert_eq!(ds.epochs_completed(), 2);
        let mut empty = tiny(0, 0);
        let (x, y) = empty.next_batch(5);
        assert_eq!((x.dim(), y.dim()), ((0, 1), (0, 10)));
    }

    #[test]
    fn seeds_make_batches_reproducible() {
        let run = |seed| {
            let mut ds = tiny(50, seed);
            (0..20).flat_map(|_| ids(&ds.next_batch(7).0)).collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn no_shuffle_keeps_file_order_and_sparse_labels() {
        let mut ds = tiny(5, 0).with_shuffle(false).with_one_hot(false);
        let (x, y) = ds.next_batch(7);
        assert_eq!(ids(&x), vec![0, 1, 2, 3, 4, 0, 1]);
        assert_eq!(y.dim(), (7, 1));
        assert_eq!(y.column(0).to_vec(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0]);
        let (_, labels) = ds.next_batch_labels(3);
        assert_eq!(labels, vec![2, 3, 4]);
    }

    #[test]
    fn one_hot_matches_labels() {
        let mut ds = tiny(23, 5);
        for (row, &l) in ds.one_hot().rows().into_iter().zip(ds.labels()) {
            assert_eq!(row.sum(), 1.0);
            assert_eq!(row[usize::from(l)], 1.0);
        }
        let (x, y) = ds.next_batch(23);
        for (i, row) in ids(&x).into_iter().zip(y.rows()) {
            assert_eq!(row.iter().position(|&v| v == 1.0), Some(i % 10));
        }
    }

    #[test]
    fn new_rejects_bad_input() {
        let e = DataSet::new(Array2::zeros((3, 4)), vec![1, 2], (2, 2), 0).unwrap_err().to_string();
        assert!(e.contains("3 images but 2 labels"), "{e}");
        let e = DataSet::new(Array2::zeros((2, 4)), vec![1, 2], (2, 3), 0).unwrap_err().to_string();
        assert!(e.contains("not 2x3"), "{e}");
        let e = DataSet::new(Array2::zeros((2, 4)), vec![1, 10], (2, 2), 0).unwrap_err().to_string();
        assert!(e.contains("label 10 of record 1"), "{e}");
    }

    #[test]
    fn embedded_mnist_loads_with_tf_split() {
        let d = Datasets::embedded_mnist(DataOptions::default()).unwrap();
        assert_eq!(d.train.num_examples(), 7200);
        assert_eq!(d.validation.num_examples(), 800);
        assert_eq!(d.test.num_examples(), 2000);
        assert_eq!(d.train.images().dim(), (7200, 784));
        assert_eq!(d.train.one_hot().dim(), (7200, 10));
        assert_eq!(d.test.images_nhwc().unwrap().dim(), (2000, 28, 28, 1));
        let (lo, hi) = d.train.images().iter().fold((f32::MAX, f32::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        assert_eq!((lo, hi), (0.0, 1.0));
        // Every digit occurs.
        let classes: HashSet<u8> = d.test.labels().iter().copied().collect();
        assert_eq!(classes.len(), 10);

        let all = Datasets::load(None, DataOptions::default().validation_size(0)).unwrap();
        assert_eq!((all.train.num_examples(), all.validation.num_examples(), all.test.num_examples()), (8000, 0, 2000));
        // Validation is the head of the training file, train the tail.
        assert_eq!(all.train.labels()[..800], d.validation.labels()[..]);
        assert_eq!(all.train.labels()[800..], d.train.labels()[..]);
        assert_eq!(all.train.images().row(800), d.train.images().row(0));

        let custom = Datasets::embedded_mnist(DataOptions::default().validation_size(1000)).unwrap();
        assert_eq!((custom.train.num_examples(), custom.validation.num_examples()), (7000, 1000));
        let e = Datasets::embedded_mnist(DataOptions::default().validation_size(8001)).unwrap_err().to_string();
        assert!(e.contains("validation_size 8001") && e.contains("8000"), "{e}");
    }

    #[test]
    fn data_sets_reproducible_from_seed() {
        let mut a = Datasets::embedded_mnist(DataOptions::default().seed(9)).unwrap();
        let mut b = Datasets::embedded_mnist(DataOptions::default().seed(9)).unwrap();
        for _ in 0..3 {
            assert_eq!(a.train.next_batch(100), b.train.next_batch(100));
        }
    }

    fn write_dir(name: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ferroflow-data-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (f, bytes) in files {
            std::fs::write(dir.join(f), bytes).unwrap();
        }
        dir
    }

    fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn directory_with_raw_and_gz_files() {
        let imgs = |n: u32| idx(0x803, &[n, 28, 28], &vec![255; n as usize * 784]);
        let labs = |n: u32| idx(0x801, &[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>());
        let dir = write_dir(
            "ok",
            &[
                ("train-images-idx3-ubyte", &imgs(20)),
                ("train-labels-idx1-ubyte.gz", EMBEDDED_TRAIN_LABELS),
                ("t10k-images-idx3-ubyte", &imgs(5)),
                ("t10k-labels-idx1-ubyte", &labs(5)),
            ],
        );
        // Train labels are the embedded 8000: count mismatch names both files.
        let e = read_data_sets(&dir, DataOptions::default()).unwrap_err().to_string();
        assert!(
            e.contains("train-labels-idx1-ubyte.gz") && e.contains("8000 labels") && e.contains("20 images"),
            "{e}"
        );

        std::fs::remove_file(dir.join("train-labels-idx1-ubyte.gz")).unwrap();
        std::fs::write(dir.join("train-labels-idx1-ubyte"), labs(20)).unwrap();
        let d = read_data_sets(&dir, DataOptions::default()).unwrap();
        assert_eq!((d.train.num_examples(), d.validation.num_examples(), d.test.num_examples()), (18, 2, 5));
        assert!(d.train.images().iter().all(|&x| x == 1.0));
        assert_eq!(d.validation.labels(), &[0, 1]);

        std::fs::remove_file(dir.join("t10k-images-idx3-ubyte")).unwrap();
        std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte")).unwrap();
        let e = read_data_sets(&dir, DataOptions::default()).unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
        let e = e.to_string();
        assert!(e.contains(&dir.display().to_string()), "{e}");
        assert!(e.contains("missing t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]"), "{e}");
        assert!(e.contains("train-images-idx3-ubyte, train-labels-idx1-ubyte"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_label_value_names_the_file() {
        let dir = write_dir(
            "badlabel",
            &[
                ("train-images-idx3-ubyte", &idx(0x803, &[2, 1, 1], &[0, 0])),
                ("train-labels-idx1-ubyte", &idx(0x801, &[2], &[3, 11])),
                ("t10k-images-idx3-ubyte", &idx(0x803, &[1, 1, 1], &[0])),
                ("t10k-labels-idx1-ubyte", &idx(0x801, &[1], &[0])),
            ],
        );
        let e = read_data_sets(&dir, DataOptions::default()).unwrap_err().to_string();
        assert!(e.contains("train-labels-idx1-ubyte") && e.contains("label 11 of record 1"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn fashion_mnist_if_installed() {
        let dir = Path::new("/usr/share/datasets/fashion-mnist");
        if !dir.is_dir() {
            return;
        }
        let d = read_data_sets(dir, DataOptions::default()).unwrap();
        assert_eq!(
            (d.train.num_examples(), d.validation.num_examples(), d.test.num_examples()),
            (55_000, 5_000, 10_000)
        );
        assert_eq!(d.train.image_shape(), (28, 28));
    }
}
