//! `Datasets::from_mnist`: the `mnist` crate's `Mnist` struct as an input path (cargo feature `mnist`).
//!
//! The crate's loader panics on a missing or damaged file and reads only uncompressed files (its
//! `download` feature aside), so [`Datasets::load`] / [`read_data_sets`](crate::read_data_sets)
//! stay the default; this is for programs that already have an `Mnist` in hand. Its vectors are
//! checked here (lengths against counts, label format, label values) and every mismatch is an
//! error naming the field, never a panic.

use crate::dataset::{build, DataOptions, Datasets};
use crate::idx::IdxImages;
use crate::NUM_CLASSES;
use ferroflow_core::{Error, Result};
use std::path::Path;

/// The `mnist` crate's fixed image size (it asserts 28x28 when it reads the files).
const SIDE: usize = 28;
const IMAGE_LEN: usize = SIDE * SIDE;

impl Datasets {
    /// The train/validation/test splits of a [`mnist::Mnist`] (the `mnist` crate's
    /// `MnistBuilder::finalize()` result). Needs the cargo feature `mnist`.
    ///
    /// Images are the crate's raw bytes (28x28, one byte per pixel), scaled by `1/255` as
    /// [`read_data_sets`](crate::read_data_sets) does. Labels may be in either of the crate's
    /// formats: digits (one byte per image) or one-hot (ten bytes per image). When the crate's
    /// validation set is empty (its default, `validation_set_length(0)`), `opts` splits it off
    /// the training records as TF does (see [`DataOptions::validation_size`]); otherwise the
    /// crate's validation set is used as it is, and `opts.validation_size` must be `None` or
    /// its size.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the field (`trn_img`, `val_lbl`, …) if an image vector
    /// is not a whole number of 28x28 images, a label vector's length is neither the image
    /// count nor ten times it, a one-hot row is not one-hot, a label is not in `0..10`, the
    /// training or test set is empty, or `opts.validation_size` contradicts the crate's
    /// validation set or exceeds the training set.
    ///
    /// ```
    /// use ferroflow_data::{DataOptions, Datasets};
    /// # fn main() -> ferroflow_core::Result<()> {
    /// // As `mnist::MnistBuilder::new().finalize()` returns it; here 20 + 5 blank digits.
    /// let m = mnist::Mnist {
    ///     trn_img: vec![0; 20 * 784],
    ///     trn_lbl: (0..20).map(|i| i % 10).collect(),
    ///     val_img: vec![],
    ///     val_lbl: vec![],
    ///     tst_img: vec![255; 5 * 784],
    ///     tst_lbl: vec![7; 5],
    /// };
    /// let mut data = Datasets::from_mnist(m, DataOptions::default().validation_size(4))?;
    /// assert_eq!((data.train.num_examples(), data.validation.num_examples()), (16, 4));
    /// let (x, y) = data.test.next_batch(5);
    /// assert_eq!((x.dim(), y.dim(), x[[0, 0]]), ((5, 784), (5, 10), 1.0));
    /// # Ok(()) }
    /// ```
    pub fn from_mnist(m: mnist::Mnist, opts: DataOptions) -> Result<Datasets> {
        let trn_n = image_count("trn_img", &m.trn_img)?;
        let val_n = image_count("val_img", &m.val_img)?;
        let tst_n = image_count("tst_img", &m.tst_img)?;
        let trn_lbl = digits("trn_lbl", m.trn_lbl, trn_n)?;
        let val_lbl = digits("val_lbl", m.val_lbl, val_n)?;
        let tst_lbl = digits("tst_lbl", m.tst_lbl, tst_n)?;
        if trn_n == 0 || tst_n == 0 {
            return Err(Error::invalid(format!(
                "Datasets::from_mnist: the training set has {trn_n} images and the test set {tst_n}; both need at \
                 least one (check the MnistBuilder's training_set_length / test_set_length)"
            )));
        }
        let (images, labels, opts) = if val_n == 0 {
            (m.trn_img, trn_lbl, opts)
        } else {
            if let Some(v) = opts.validation_size.filter(|&v| v != val_n) {
                return Err(Error::invalid(format!(
                    "Datasets::from_mnist: DataOptions::validation_size is {v} but the Mnist struct already holds \
                     {val_n} validation images; leave validation_size unset, or build the Mnist with \
                     validation_set_length(0) and let validation_size split the training set"
                )));
            }
            // As read_data_sets lays it out: the validation records first, then training.
            let mut images = m.val_img;
            images.extend_from_slice(&m.trn_img);
            let mut labels = val_lbl;
            labels.extend_from_slice(&trn_lbl);
            (images, labels, DataOptions { validation_size: Some(val_n), ..opts })
        };
        let train_path = Path::new("<mnist crate: trn_img>");
        let test_path = Path::new("<mnist crate: tst_img>");
        let train = IdxImages { count: trn_n + val_n, rows: SIDE, cols: SIDE, pixels: images };
        let test = IdxImages { count: tst_n, rows: SIDE, cols: SIDE, pixels: m.tst_img };
        build(opts, (train_path, train), (train_path, labels), (test_path, test), (test_path, tst_lbl))
    }
}

/// The number of 28x28 images in `pixels`.
fn image_count(field: &str, pixels: &[u8]) -> Result<usize> {
    if !pixels.len().is_multiple_of(IMAGE_LEN) {
        return Err(Error::invalid(format!(
            "Datasets::from_mnist: {field} has {} bytes, which is not a whole number of {SIDE}x{SIDE} images \
             ({IMAGE_LEN} bytes each)",
            pixels.len()
        )));
    }
    Ok(pixels.len() / IMAGE_LEN)
}

/// Class ids from digit labels (`n` bytes) or one-hot labels (`10 n` bytes), checked.
fn digits(field: &str, labels: Vec<u8>, n: usize) -> Result<Vec<u8>> {
    let digits = if labels.len() == n {
        labels
    } else if Some(labels.len()) == n.checked_mul(NUM_CLASSES) {
        let mut out = Vec::with_capacity(n);
        for (i, row) in labels.chunks_exact(NUM_CLASSES).enumerate() {
            let ones: Vec<usize> = row.iter().enumerate().filter(|(_, &b)| b != 0).map(|(k, _)| k).collect();
            match (ones.as_slice(), row.iter().all(|&b| b <= 1)) {
                ([k], true) => out.push(*k as u8),
                _ => {
                    return Err(Error::invalid(format!(
                        "Datasets::from_mnist: {field} row {i} is {row:?}, not a one-hot vector (one 1, nine 0s)"
                    )))
                }
            }
        }
        out
    } else {
        return Err(Error::invalid(format!(
            "Datasets::from_mnist: {field} has {} bytes for {n} images; expected {n} (digit labels) or {} \
             (one-hot labels)",
            labels.len(),
            n.saturating_mul(NUM_CLASSES)
        )));
    };
    match digits.iter().enumerate().find(|(_, &l)| usize::from(l) >= NUM_CLASSES) {
        Some((i, l)) => Err(Error::invalid(format!(
            "Datasets::from_mnist: {field} label {l} of record {i} is not a class in 0..{NUM_CLASSES}"
        ))),
        None => Ok(digits),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// `n` images whose every pixel is `i` (the record index), labels `i % 10`.
    fn part(n: usize, offset: usize) -> (Vec<u8>, Vec<u8>) {
        let img = (0..n).flat_map(|i| std::iter::repeat_n((offset + i) as u8, IMAGE_LEN)).collect();
        (img, (0..n).map(|i| ((offset + i) % 10) as u8).collect())
    }

    fn mnist(trn: usize, val: usize, tst: usize) -> mnist::Mnist {
        let (trn_img, trn_lbl) = part(trn, 0);
        let (val_img, val_lbl) = part(val, 100);
        let (tst_img, tst_lbl) = part(tst, 200);
        mnist::Mnist { trn_img, trn_lbl, val_img, val_lbl, tst_img, tst_lbl }
    }

    fn one_hot(labels: &[u8]) -> Vec<u8> {
        labels.iter().flat_map(|&l| (0..10u8).map(move |k| u8::from(k == l))).collect()
    }

    fn first_pixels(ds: &crate::DataSet) -> Vec<u8> {
        ds.images().column(0).iter().map(|&x| (x * 255.0).round() as u8).collect()
    }

    #[test]
    fn empty_crate_validation_splits_the_training_records_like_read_data_sets() {
        let d = Datasets::from_mnist(mnist(30, 0, 7), DataOptions::default()).unwrap();
        // TF's rule for a small training file: 10% held out, the first records.
        assert_eq!(first_pixels(&d.validation), vec![0, 1, 2]);
        assert_eq!(first_pixels(&d.train), (3..30).collect::<Vec<u8>>());
        assert_eq!(first_pixels(&d.test), (200..207).collect::<Vec<u8>>());
        assert_eq!(d.train.labels(), (3..30).map(|i| (i % 10) as u8).collect::<Vec<u8>>());
        assert_eq!(d.test.image_shape(), (28, 28));
    }

    #[test]
    fn crate_validation_set_is_kept_as_it_is() {
        let d = Datasets::from_mnist(mnist(12, 4, 3), DataOptions::default()).unwrap();
        assert_eq!(first_pixels(&d.validation), vec![100, 101, 102, 103]);
        assert_eq!(d.validation.labels(), &[0, 1, 2, 3]);
        assert_eq!(first_pixels(&d.train), (0..12).collect::<Vec<u8>>());
        // Its own size is fine, another one is an error.
        assert!(Datasets::from_mnist(mnist(12, 4, 3), DataOptions::default().validation_size(4)).is_ok());
        let e = Datasets::from_mnist(mnist(12, 4, 3), DataOptions::default().validation_size(2)).unwrap_err();
        assert!(e.to_string().contains("validation_size is 2") && e.to_string().contains("4 validation"), "{e}");
    }

    #[test]
    fn one_hot_labels_are_read_as_digits() {
        let mut m = mnist(10, 2, 3);
        m.trn_lbl = one_hot(&m.trn_lbl);
        m.val_lbl = one_hot(&m.val_lbl);
        m.tst_lbl = one_hot(&m.tst_lbl);
        let d = Datasets::from_mnist(m, DataOptions::default()).unwrap();
        assert_eq!(d.train.labels(), (0..10).collect::<Vec<u8>>());
        assert_eq!(d.test.labels(), &[0, 1, 2]);
        assert_eq!(d.test.one_hot().row(2).to_vec(), vec![0., 0., 1., 0., 0., 0., 0., 0., 0., 0.]);
    }

    #[test]
    fn inconsistent_vectors_are_errors_naming_the_field() {
        type Damage = Box<dyn Fn(&mut mnist::Mnist)>;
        let cases: Vec<(&str, Damage)> = vec![
            ("trn_img has 7839 bytes", Box::new(|m| m.trn_img.truncate(7839))),
            ("tst_lbl has 2 bytes for 3 images", Box::new(|m| m.tst_lbl.truncate(2))),
            ("val_lbl label 12 of record 1", Box::new(|m| m.val_lbl[1] = 12)),
            (
                "trn_lbl row 4 is [0, 0, 0, 0, 1, 1, 0, 0, 0, 0]",
                Box::new(|m| {
                    m.trn_lbl = one_hot(&m.trn_lbl);
                    m.trn_lbl[45] = 1;
                }),
            ),
            (
                "val_lbl row 1 is [0, 2,",
                Box::new(|m| m.val_lbl = vec![1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]),
            ),
            ("training set has 0 images", Box::new(|m| (m.trn_img, m.trn_lbl) = (vec![], vec![]))),
            ("test set 0", Box::new(|m| (m.tst_img, m.tst_lbl) = (vec![], vec![]))),
        ];
        for (want, damage) in cases {
            let mut m = mnist(10, 2, 3);
            damage(&mut m);
            let e = Datasets::from_mnist(m, DataOptions::default()).unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{want}: {e:?}");
            assert!(e.to_string().contains(want), "want {want:?} in {e}");
        }
        let e = Datasets::from_mnist(mnist(10, 0, 3), DataOptions::default().validation_size(11)).unwrap_err();
        assert!(e.to_string().contains("validation_size 11 is larger than the 10 records"), "{e}");
    }
}
