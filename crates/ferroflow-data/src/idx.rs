//! IDX file reader (the MNIST format), raw or gzip-compressed, that never panics on bad input.
//!
//! An IDX file is a 4-byte magic number `00 00 TT DD` (TT = element type, DD = number of
//! dimensions), DD big-endian `u32` dimension sizes, then the elements in row-major order.
//! Only unsigned-byte files are read: `0x00000803` (images: count, rows, cols) and
//! `0x00000801` (labels: count). Gzip is detected by the magic bytes `1f 8b`, not by the
//! file name. The payload length must match the header exactly.

use ferroflow_core::{Error, Result};
use flate2::read::MultiGzDecoder;
use std::io::{ErrorKind, Read};
use std::path::Path;

/// Magic number of an IDX file of unsigned-byte images (3 dimensions).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels (1 dimension).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Largest buffer reserved up front; bigger payloads grow as they are read, so a lying header
/// cannot make us allocate gigabytes.
const MAX_PREALLOC: usize = 1 << 24;

/// The images of an IDX image file: `count` greyscale images of `rows` x `cols` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Height of each image.
    pub rows: usize,
    /// Width of each image.
    pub cols: usize,
    /// `count * rows * cols` pixels, image after image, row-major, 0 = background.
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// Pixels per image (`rows * cols`).
    pub fn image_len(&self) -> usize {
        self.rows * self.cols
    }
}

/// Reads an IDX image file (`0x00000803`), raw or gzip-compressed.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Format`] naming the file if the magic
/// number, the dimensions or the payload length are wrong, or the gzip stream is damaged.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<IdxImages> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    read_idx_images_from_bytes(path, &bytes)
}

/// Reads an IDX label file (`0x00000801`), raw or gzip-compressed.
///
/// # Errors
/// As [`read_idx_images`].
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    read_idx_labels_from_bytes(path, &bytes)
}

/// Parses IDX image bytes (raw or gzip); `name` is used in error messages.
///
/// # Errors
/// [`Error::Format`] naming `name` for any malformed input.
pub fn read_idx_images_from_bytes(name: impl AsRef<Path>, bytes: &[u8]) -> Result<IdxImages> {
    let name = name.as_ref();
    let (dims, pixels) = parse(name, bytes, Kind::Images)?;
    match dims[..] {
        [count, rows, cols] => {
            if rows == 0 || cols == 0 {
                return Err(Error::format(
                    name,
                    format!("the header describes {count} images of {rows}x{cols} pixels; an image needs at least one row and one column"),
                ));
            }
            Ok(IdxImages { count, rows, cols, pixels })
        }
        _ => Err(Error::format(name, format!("expected 3 dimensions, found {}", dims.len()))),
    }
}

/// Parses IDX label bytes (raw or gzip); `name` is used in error messages.
///
/// # Errors
/// [`Error::Format`] naming `name` for any malformed input.
pub fn read_idx_labels_from_bytes(name: impl AsRef<Path>, bytes: &[u8]) -> Result<Vec<u8>> {
    let (_, labels) = parse(name.as_ref(), bytes, Kind::Labels)?;
    Ok(labels)
}

/// Which of the two supported IDX layouts is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Images,
    Labels,
}

impl Kind {
    fn magic(self) -> u32 {
        match self {
            Kind::Images => IDX_IMAGES_MAGIC,
            Kind::Labels => IDX_LABELS_MAGIC,
        }
    }

    fn dims(self) -> u8 {
        match self {
            Kind::Images => 3,
            Kind::Labels => 1,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Images => "images (count, rows, cols)",
            Kind::Labels => "labels (count)",
        }
    }
}

/// Name of an IDX element type code, for error messages.
fn type_name(code: u8) -> &'static str {
    match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => "unknown type",
    }
}

/// Decompresses if gzip, then checks header and payload; returns the dimensions and the data.
fn parse(name: &Path, bytes: &[u8], kind: Kind) -> Result<(Vec<usize>, Vec<u8>)> {
    if bytes.starts_with(&GZIP_MAGIC) {
        parse_stream(name, &mut MultiGzDecoder::new(bytes), kind, true)
    } else {
        let mut raw = bytes;
        parse_stream(name, &mut raw, kind, false)
    }
}

fn parse_stream(name: &Path, r: &mut impl Read, kind: Kind, gz: bool) -> Result<(Vec<usize>, Vec<u8>)> {
    let damaged = |e: std::io::Error| {
        let what = if gz { "the gzip stream is damaged or truncated" } else { "read failed" };
        Error::format(name, format!("{what}: {e}"))
    };
    let data = if gz { "decompressed data" } else { "file" };
    let expected_magic = kind.magic();
    let header_len = 4 + 4 * usize::from(kind.dims());

    let mut magic = [0u8; 4];
    let got = read_up_to(r, &mut magic).map_err(damaged)?;
    if got < magic.len() {
        return Err(Error::format(
            name,
            format!(
                "{data} is only {got} bytes, too short for an IDX header of {} ({header_len} bytes expected)",
                kind.what()
            ),
        ));
    }
    let found = u32::from_be_bytes(magic);
    let [z0, z1, code, ndims] = magic;
    if z0 != 0 || z1 != 0 {
        return Err(Error::format(
            name,
            format!(
                "not an IDX file: magic number is 0x{found:08x}, expected 0x{expected_magic:08x} for {}",
                kind.what()
            ),
        ));
    }
    if code != 0x08 {
        return Err(Error::format(
            name,
            format!(
                "IDX element type 0x{code:02x} ({}) is not supported: magic number is 0x{found:08x}, expected 0x{expected_magic:08x} (unsigned-byte {})",
                type_name(code),
                kind.what()
            ),
        ));
    }
    if ndims != kind.dims() {
        let hint = match (kind, ndims) {
            (Kind::Images, 1) => "; this looks like a label file",
            (Kind::Labels, 3) => "; this looks like an image file",
            _ => "",
        };
        return Err(Error::format(
            name,
            format!(
                "IDX file has {ndims} dimension(s), expected {} for {}: magic number is 0x{found:08x}, expected 0x{expected_magic:08x}{hint}",
                kind.dims(),
                kind.what()
            ),
        ));
    }

    let mut raw_dims = vec![0u8; 4 * usize::from(ndims)];
    let got = read_up_to(r, &mut raw_dims).map_err(damaged)?;
    if got < raw_dims.len() {
        return Err(Error::format(
            name,
            format!(
                "truncated IDX header: expected {} bytes of dimension sizes after the magic number, got {got}",
                raw_dims.len()
            ),
        ));
    }
    let mut dims = Vec::with_capacity(usize::from(ndims));
    for chunk in raw_dims.chunks_exact(4) {
        let mut be = [0u8; 4];
        be.copy_from_slice(chunk);
        let d = usize::try_from(u32::from_be_bytes(be))
            .map_err(|_| Error::format(name, "a dimension size does not fit in usize on this platform"))?;
        dims.push(d);
    }
    let describe = match dims[..] {
        [count, rows, cols] => format!("{count} images of {rows}x{cols} pixels"),
        [count] => format!("{count} labels"),
        _ => format!("dimensions {dims:?}"),
    };
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| {
        Error::format(name, format!("the header describes {describe}, more bytes than this platform can address"))
    })?;

    let mut payload = Vec::with_capacity(expected.min(MAX_PREALLOC));
    let got = r.by_ref().take(expected as u64).read_to_end(&mut payload).map_err(damaged)?;
    if got < expected {
        return Err(Error::format(
            name,
            format!(
                "truncated: the header promises {describe} = {expected} bytes of data, but only {got} bytes follow"
            ),
        ));
    }
    let trailing = std::io::copy(r, &mut std::io::sink()).map_err(damaged)?;
    if trailing > 0 {
        return Err(Error::format(
            name,
            format!("{trailing} unexpected trailing bytes after the {expected}-byte payload ({describe}); the header or the file is wrong"),
        ));
    }
    Ok((dims, payload))
}

/// Fills `buf` as far as the reader allows; returns how many bytes were read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match r.read(rest) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::io::Write;

    fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn images(count: u32, rows: u32, cols: u32) -> Vec<u8> {
        let n = (count * rows * cols) as usize;
        let payload: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        idx(IDX_IMAGES_MAGIC, &[count, rows, cols], &payload)
    }

    fn err_images(bytes: &[u8]) -> String {
        read_idx_images_from_bytes("train-images-idx3-ubyte", bytes).unwrap_err().to_string()
    }

    #[test]
    fn reads_valid_images_and_labels() {
        let img = read_idx_images_from_bytes("x", &images(3, 2, 4)).unwrap();
        assert_eq!((img.count, img.rows, img.cols, img.image_len()), (3, 2, 4, 8));
        assert_eq!(img.pixels.len(), 24);
        assert_eq!(img.pixels[23], 23);
        let labels = read_idx_labels_from_bytes("y", &idx(IDX_LABELS_MAGIC, &[4], &[1, 2, 3, 9])).unwrap();
        assert_eq!(labels, vec![1, 2, 3, 9]);
    }

    #[test]
    fn gzip_and_raw_give_the_same_result() {
        let raw = images(5, 3, 3);
        let a = read_idx_images_from_bytes("raw", &raw).unwrap();
        let b = read_idx_images_from_bytes("gz", &gz(&raw)).unwrap();
        assert_eq!(a, b);
        let lab = idx(IDX_LABELS_MAGIC, &[3], &[7, 8, 9]);
        assert_eq!(read_idx_labels_from_bytes("r", &lab).unwrap(), read_idx_labels_from_bytes("g", &gz(&lab)).unwrap());
    }

    #[test]
    fn wrong_magic_is_rejected() {
        let mut bad = images(1, 2, 2);
        bad[0] = 0x12;
        let e = err_images(&bad);
        assert!(
            e.contains("train-images-idx3-ubyte") && e.contains("not an IDX file") && e.contains("0x00000803"),
            "{e}"
        );

        let e = err_images(&idx(0x0000_0D03, &[1, 1, 1], &[0, 0, 0, 0]));
        assert!(e.contains("0x0d") && e.contains("f32") && e.contains("not supported"), "{e}");
    }

    #[test]
    fn wrong_dims_are_rejected() {
        let labels = idx(IDX_LABELS_MAGIC, &[2], &[1, 2]);
        let e = err_images(&labels);
        assert!(e.contains("1 dimension(s), expected 3") && e.contains("label file"), "{e}");
        let e = read_idx_labels_from_bytes("l", &images(1, 1, 1)).unwrap_err().to_string();
        assert!(e.contains("3 dimension(s), expected 1") && e.contains("image file"), "{e}");
        let e = err_images(&idx(0x0000_0802, &[1, 1], &[0]));
        assert!(e.contains("2 dimension(s)"), "{e}");
        let e = err_images(&idx(IDX_IMAGES_MAGIC, &[1, 0, 28], &[]));
        assert!(e.contains("0x28"), "{e}");
    }

    #[test]
    fn truncated_payload_names_file_and_sizes() {
        let mut bytes = images(2, 2, 2);
        bytes.truncate(bytes.len() - 3);
        let e = err_images(&bytes);
        assert!(e.starts_with("train-images-idx3-ubyte:"), "{e}");
        assert!(e.contains("truncated") && e.contains("8 bytes") && e.contains("only 5 bytes"), "{e}");
        // Same through gzip.
        let e = err_images(&gz(&bytes));
        assert!(e.contains("8 bytes") && e.contains("only 5 bytes"), "{e}");
        // Header cut short.
        let e = err_images(&bytes[..6]);
        assert!(e.contains("truncated IDX header") && e.contains("expected 12") && e.contains("got 2"), "{e}");
        let e = err_images(&bytes[..2]);
        assert!(e.contains("only 2 bytes"), "{e}");
        let e = err_images(&[]);
        assert!(e.contains("only 0 bytes"), "{e}");
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = images(2, 2, 2);
        bytes.extend_from_slice(&[1, 2, 3]);
        let e = err_images(&bytes);
        assert!(e.contains("3 unexpected trailing bytes") && e.contains("8-byte payload"), "{e}");
        let e = err_images(&gz(&bytes));
        assert!(e.contains("3 unexpected trailing bytes"), "{e}");
    }

    #[test]
    fn damaged_gzip_is_a_format_error() {
        let mut z = gz(&images(4, 5, 5));
        let mid = z.len() / 2;
        z[mid] ^= 0xff;
        z[mid + 1] ^= 0x55;
        match read_idx_images_from_bytes("d.gz", &z) {
            Err(Error::Format { path, .. }) => assert_eq!(path, Path::new("d.gz")),
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn huge_header_does_not_allocate_or_overflow() {
        let e = err_images(&idx(IDX_IMAGES_MAGIC, &[u32::MAX, u32::MAX, u32::MAX], &[]));
        assert!(e.contains("more bytes than this platform can address") || e.contains("truncated"), "{e}");
        let e = err_images(&idx(IDX_IMAGES_MAGIC, &[60_000, 28, 28], &[0; 10]));
        assert!(e.contains("47040000 bytes") && e.contains("only 10 bytes"), "{e}");
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let e = read_idx_labels("/nonexistent/ferroflow/labels").unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
        assert!(e.to_string().contains("/nonexistent/ferroflow/labels"));
    }

    #[test]
    fn random_and_truncated_bytes_never_panic() {
        let mut rng = StdRng::seed_from_u64(7);
        let valid = images(3, 4, 4);
        let valid_gz = gz(&valid);
        // Every prefix of a valid file, raw and compressed.
        for cut in 0..valid.len() {
            assert!(read_idx_images_from_bytes("p", &valid[..cut]).is_err());
        }
        for cut in 0..valid_gz.len() {
            assert!(read_idx_images_from_bytes("p.gz", &valid_gz[..cut]).is_err());
        }
        for _ in 0..2000 {
            let len = rng.gen_range(0..64);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            match rng.gen_range(0..4) {
                // Plausible header with random dims.
                0 if bytes.len() >= 4 => bytes[..4].copy_from_slice(&[0, 0, 8, rng.gen_range(0..5)]),
                1 => bytes = gz(&bytes),
                2 => {
                    let mut z = valid_gz.clone();
                    let i = rng.gen_range(0..z.len());
                    z[i] = rng.gen();
                    bytes = z;
                }
                _ => {}
            }
            let _ = read_idx_images_from_bytes("r", &bytes);
            let _ = read_idx_labels_from_bytes("r", &bytes);
        }
    }
}
