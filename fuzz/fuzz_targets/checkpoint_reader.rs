//! Fuzzes the checkpoint reader: any bytes give an error or a checkpoint, never a panic,
//! an abort or a huge allocation.
#![no_main]

use ferroflow_train::saver::format::wrap_payload;
use ferroflow_train::saver::{decode_checkpoint, FileKind};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.ckpt");
    // As a whole file: exercises the envelope checks.
    let _ = decode_checkpoint(data, path);
    // As a payload behind a valid envelope and checksum: exercises the payload decoder.
    if let Ok(file) = wrap_payload(FileKind::Checkpoint, data) {
        let _ = decode_checkpoint(&file, path);
    }
});
