//! Fuzzes the IDX (MNIST) reader, raw and gzip: any bytes give an error or a data set whose
//! sizes agree with its header, never a panic, an abort or a huge allocation.
#![no_main]

use ferroflow_data::{read_idx_images_from_bytes, read_idx_labels_from_bytes, IdxImages};
use flate2::Crc;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

/// `data` as a valid gzip file made of stored (uncompressed) deflate blocks: much cheaper per
/// execution than running a compressor, and the decoder reads it like any gzip file.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 32);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = chunk.len() as u16;
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let mut crc = Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn check_images(images: &IdxImages) {
    // A returned data set must be self-consistent: callers index pixels by these sizes.
    let n = images.count.checked_mul(images.image_len());
    assert_eq!(n, Some(images.pixels.len()), "pixel count disagrees with the header");
}

fn read_both(name: &Path, bytes: &[u8]) -> (Option<IdxImages>, Option<Vec<u8>>) {
    let images = read_idx_images_from_bytes(name, bytes).ok();
    if let Some(images) = &images {
        check_images(images);
    }
    (images, read_idx_labels_from_bytes(name, bytes).ok())
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.idx");
    // As a raw file (a leading 1f 8b makes the reader treat it as a gzip stream).
    let raw = read_both(path, data);
    // As the content of a valid gzip stream: exercises the header and payload checks behind
    // the decoder. A file that reads raw reads the same gzipped.
    let gz = read_both(path, &gzip_stored(data));
    if !data.starts_with(&[0x1f, 0x8b]) {
        assert_eq!(raw, gz, "raw and gzip readings differ");
    }
});
