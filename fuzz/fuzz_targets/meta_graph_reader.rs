//! Fuzzes the meta-graph reader and importer: any bytes give an error or a graph, never a
//! panic, an abort or a huge allocation.
#![no_main]

use ferroflow_train::saver::format::wrap_payload;
use ferroflow_train::saver::{FileKind, MetaGraph};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

// Keep the ops crate linked: its op types must be registered for decoding.
use ferroflow_ops as _;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.meta");
    if let Ok(mg) = MetaGraph::from_bytes(data, path) {
        let _ = mg.import(path);
    }
    // As a payload behind a valid envelope and checksum: reaches op decoding and import.
    if let Ok(file) = wrap_payload(FileKind::MetaGraph, data) {
        if let Ok(mg) = MetaGraph::from_bytes(&file, path) {
            let _ = mg.import(path);
        }
    }
});
