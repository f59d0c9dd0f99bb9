//! `FileWriter`: TensorBoard event files (`events.out.tfevents.<secs>.<host>`) in TFRecord framing.

use crate::graph_def::graph_def_bytes;
use crate::proto::{event::What, Event, Summary};
use ferroflow_core::{Error, Graph, Result};
use prost::Message;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// TFRecord's CRC mask: `((crc >> 15) | (crc << 17)) + 0xa282ead8` over CRC-32C (Castagnoli).
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One TFRecord: `u64` LE length, masked CRC-32C of those 8 bytes, the payload, masked CRC-32C
/// of the payload.
pub fn tfrecord(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(payload.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&masked_crc32c(payload).to_le_bytes());
    out
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Writes summaries and graphs for TensorBoard. TF1: `tf.summary.FileWriter`.
///
/// `FileWriter::new(logdir, graph)` creates `logdir` (and parents) and a new event file
/// `events.out.tfevents.<secs>.<hostname>` in it (with a `.1`, `.2`, … suffix if that name is
/// taken), writes the `brain.Event:2` version event and, when given, the graph. Events are
/// buffered; [`FileWriter::flush`] writes them out, and dropping the writer flushes (errors
/// on drop are ignored: call [`FileWriter::close`] to see them).
///
/// ```no_run
/// # fn main() -> ferroflow_core::Result<()> {
/// # let g = ferroflow_core::Graph::new();
/// # let summary_bytes: Vec<u8> = Vec::new();
/// let mut w = ferroflow_summary::FileWriter::new("runs/exp1", Some(&g))?;
/// w.add_summary(&summary_bytes, 100)?;
/// w.close()?;
/// # Ok(()) }
/// ```
pub struct FileWriter {
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl FileWriter {
    /// A writer with a new event file in `logdir`; writes `graph` too when given.
    ///
    /// # Errors
    /// The directory or file cannot be created (an [`Error::Io`]-style message naming the path).
    pub fn new(logdir: impl AsRef<Path>, graph: Option<&Graph>) -> Result<FileWriter> {
        let dir = logdir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, "create the log directory", &e))?;
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let host = if host.is_empty() { "localhost".to_string() } else { host };
        let base = format!("events.out.tfevents.{secs:010}.{host}");
        let mut n = 0u32;
        let (path, file) = loop {
            let name = if n == 0 { base.clone() } else { format!("{base}.{n}") };
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => break (path, f),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 10_000 => n += 1,
                Err(e) => return Err(io_error(&path, "create the event file", &e)),
            }
        };
        let mut w = FileWriter { path, out: Some(BufWriter::new(file)) };
        w.add_event(&Event { wall_time: now(), step: 0, what: Some(What::FileVersion("brain.Event:2".into())) })?;
        if let Some(g) = graph {
            w.add_graph(g)?;
        }
        Ok(w)
    }

    /// The event file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a serialized `Summary` (a summary op's fetched output, see
    /// [`Value::scalar_bytes`](ferroflow_core::Value::scalar_bytes)) at `global_step`.
    ///
    /// # Errors
    /// The bytes are not a `Summary` protobuf, the writer is closed, or the write fails.
    pub fn add_summary(&mut self, summary: &[u8], global_step: i64) -> Result<()> {
        let s = Summary::decode(summary).map_err(|e| {
            Error::invalid(format!("add_summary got {} bytes that are not a serialized Summary: {e}", summary.len()))
        })?;
        self.add_event(&Event { wall_time: now(), step: global_step, what: Some(What::Summary(s)) })
    }

    /// Writes `graph` as a `GraphDef` event (TensorBoard's graph tab).
    ///
    /// # Errors
    /// The writer is closed or the write fails.
    pub fn add_graph(&mut self, graph: &Graph) -> Result<()> {
        self.add_event(&Event { wall_time: now(), step: 0, what: Some(What::GraphDef(graph_def_bytes(graph))) })
    }

    /// Writes one event as a TFRecord.
    ///
    /// # Errors
    /// The writer is closed or the write fails.
    pub fn add_event(&mut self, event: &Event) -> Result<()> {
        let path = self.path.clone();
        let out = self.out.as_mut().ok_or_else(|| closed(&path))?;
        out.write_all(&tfrecord(&event.encode_to_vec())).map_err(|e| io_error(&path, "write to", &e))
    }

    /// Writes buffered events to the file.
    ///
    /// # Errors
    /// The writer is closed or the write fails.
    pub fn flush(&mut self) -> Result<()> {
        let path = self.path.clone();
        let out = self.out.as_mut().ok_or_else(|| closed(&path))?;
        out.flush().map_err(|e| io_error(&path, "flush", &e))
    }

    /// Flushes and closes the file; later writes are errors. Closing twice is fine.
    ///
    /// # Errors
    /// The final flush fails.
    pub fn close(&mut self) -> Result<()> {
        match self.out.take() {
            Some(mut out) => out.flush().map_err(|e| io_error(&self.path, "flush", &e)),
            None => Ok(()),
        }
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn io_error(path: &Path, what: &str, e: &io::Error) -> Error {
    Error::invalid(format!("FileWriter: cannot {what} '{}': {e}", path.display()))
}

fn closed(path: &Path) -> Error {
    Error::invalid(format!("FileWriter for '{}' is closed; create a new one to write more", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn crc_and_framing_match_known_values() {
        // CRC-32C check value of "123456789" (RFC 3720 / iSCSI).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        // Masked CRCs of an 8-byte zero length and of "brain.Event:2", as TensorBoard's own
        // `masked_crc32c` computes them (tensorboard.compat.tensorflow_stub).
        assert_eq!(masked_crc32c(&0u64.to_le_bytes()), 0x0798_0329);
        assert_eq!(masked_crc32c(b"brain.Event:2"), 0x7c06_01ee);
        assert_eq!(masked_crc32c(b"abc"), 0x21f1_576e);
        let r = tfrecord(b"abc");
        assert_eq!(r.len(), 8 + 4 + 3 + 4);
        assert_eq!(&r[..8], &3u64.to_le_bytes());
        assert_eq!(&r[12..15], b"abc");
        assert_eq!(u32::from_le_bytes(r[15..19].try_into().unwrap()), masked_crc32c(b"abc"));
    }

    #[test]
    fn writes_version_event_first_and_closes() {
        let dir = std::env::temp_dir().join(format!("ff-summary-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut w = FileWriter::new(&dir, None).unwrap();
        let w2 = FileWriter::new(&dir, None).unwrap();
        assert_ne!(w.path(), w2.path(), "a second writer in the same second gets its own file");
        let name = w.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("events.out.tfevents."), "{name}");
        assert!(w.add_summary(b"\xff\xff", 1).unwrap_err().to_string().contains("not a serialized Summary"));
        w.add_summary(&Summary::default().encode_to_vec(), 7).unwrap();
        w.close().unwrap();
        assert!(w.flush().unwrap_err().to_string().contains("is closed"));
        let bytes = std::fs::read(w.path()).unwrap();
        let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), masked_crc32c(&bytes[..8]));
        let first = Event::decode(&bytes[12..12 + len]).unwrap();
        assert_eq!(first.what, Some(What::FileVersion("brain.Event:2".into())));
        assert!(first.wall_time > 1.0e9);
        let rest = &bytes[16 + len..];
        let len2 = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
        let second = Event::decode(&rest[12..12 + len2]).unwrap();
        assert_eq!(second.step, 7);
        drop(w2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
