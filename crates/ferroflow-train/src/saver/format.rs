//! The on-disk format shared by checkpoints and meta graphs (an envelope with magic, format
//! version, ferroflow version and CRC-32 checksums around a bincode payload), the checkpoint
//! payload itself, and the atomic file writer.
//!
//! Layout (all integers little-endian):
//!
//! | bytes             | content                                                          |
//! |-------------------|------------------------------------------------------------------|
//! | `0..8`            | magic: `\x89FFCKPT\n` (checkpoint) or `\x89FFMETA\n` (meta graph) |
//! | `8..12`           | format version, `u32`                                            |
//! | `12..16`          | header length `H`, `u32`                                         |
//! | `16..16+H`        | header (bincode): ferroflow version, payload length, payload CRC |
//! | `16+H..20+H`      | CRC-32 of bytes `0..16+H`                                        |
//! | `20+H..`          | payload (bincode), exactly the announced length                  |
//!
//! The first header field is the ferroflow version string in every format version, so a
//! reader can name the release that wrote a file from the future.

use ferroflow_core::{DType, Error, Result, Value};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The newest format version this ferroflow writes and reads (checkpoints and meta graphs).
pub const FORMAT_VERSION: u32 = 1;

/// The ferroflow release that writes files (recorded in every header).
pub const FERROFLOW_VERSION: &str = env!("CARGO_PKG_VERSION");

const CHECKPOINT_MAGIC: [u8; 8] = *b"\x89FFCKPT\n";
const META_GRAPH_MAGIC: [u8; 8] = *b"\x89FFMETA\n";
/// Headers are tiny; anything larger is damage, not data.
const MAX_HEADER_LEN: usize = 64 * 1024;
const PREFIX_LEN: usize = 16;

/// Which kind of ferroflow file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// Variable values (`Saver::save`).
    Checkpoint,
    /// A serialized graph (`export_meta_graph`).
    MetaGraph,
}

impl FileKind {
    fn magic(self) -> [u8; 8] {
        match self {
            FileKind::Checkpoint => CHECKPOINT_MAGIC,
            FileKind::MetaGraph => META_GRAPH_MAGIC,
        }
    }
    fn what(self) -> &'static str {
        match self {
            FileKind::Checkpoint => "checkpoint",
            FileKind::MetaGraph => "meta graph",
        }
    }
    fn other(self) -> FileKind {
        match self {
            FileKind::Checkpoint => FileKind::MetaGraph,
            FileKind::MetaGraph => FileKind::Checkpoint,
        }
    }
}

/// What a file's header says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Format version of the file.
    pub format_version: u32,
    /// ferroflow release that wrote it.
    pub ferroflow_version: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    ferroflow_version: String,
    payload_len: u64,
    payload_crc32: u32,
}

/// The bytes that precede a payload: prefix, header and header checksum.
pub(crate) fn envelope(kind: FileKind, payload: &[u8]) -> Result<Vec<u8>> {
    let header = Header {
        ferroflow_version: FERROFLOW_VERSION.to_string(),
        payload_len: payload.len() as u64,
        payload_crc32: crc32fast::hash(payload),
    };
    let h = encode(&header)?;
    let h_len = u32::try_from(h.len()).map_err(|_| Error::invalid("checkpoint header too large"))?;
    let mut out = Vec::with_capacity(PREFIX_LEN + h.len() + 4);
    out.extend_from_slice(&kind.magic());
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&h_len.to_le_bytes());
    out.extend_from_slice(&h);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Checks the envelope of a file of `kind` and returns its header info and payload.
///
/// Every check names what is wrong: not a ferroflow file (or the other kind), a format
/// version from the future, truncation, a damaged header, trailing bytes, a checksum mismatch.
pub(crate) fn open_envelope<'a>(kind: FileKind, bytes: &'a [u8], path: &Path) -> Result<(FileInfo, &'a [u8])> {
    let what = kind.what();
    let magic = kind.magic();
    let head = bytes.get(..8).unwrap_or(bytes);
    if head != &magic[..head.len()] || bytes.is_empty() {
        if bytes.is_empty() {
            return Err(Error::format(path, format!("the file is empty, not a ferroflow {what} (a crash or a full disk can leave such a file)")));
        }
        let other = kind.other().magic();
        if head == &other[..head.len()] && head.len() == 8 {
            let hint = match kind {
                FileKind::Checkpoint => "pass the checkpoint path (without `.meta`) to restore, and the `.meta` file to import_meta_graph",
                FileKind::MetaGraph => "pass the `.meta` file to import_meta_graph, and the checkpoint path to Saver::restore",
            };
            return Err(Error::format(path, format!("this is a ferroflow {}, not a {what}; {hint}", kind.other().what())));
        }
        return Err(Error::format(path, format!("not a ferroflow {what}: the file does not start with the ferroflow {what} magic bytes")));
    }
    if bytes.len() < PREFIX_LEN {
        return Err(Error::format(path, format!("truncated ferroflow {what}: only {} bytes, fewer than its fixed {PREFIX_LEN}-byte prefix", bytes.len())));
    }
    let version = le_u32(bytes, 8).unwrap_or(0);
    if version > FORMAT_VERSION {
        let by = future_writer(bytes).map(|v| format!(" by ferroflow {v}")).unwrap_or_default();
        return Err(Error::format(
            path,
            format!(
                "this {what} was written{by} in format version {version}, which is newer than this ferroflow ({FERROFLOW_VERSION}) can read (up to version {FORMAT_VERSION}); upgrade ferroflow to load it"
            ),
        ));
    }
    if version == 0 {
        return Err(Error::format(path, format!("damaged {what}: format version 0 does not exist")));
    }
    let h_len = le_u32(bytes, 12).unwrap_or(0) as usize;
    if h_len > MAX_HEADER_LEN {
        return Err(Error::format(path, format!("damaged {what} header: it announces {h_len} header bytes (at most {MAX_HEADER_LEN} are valid)")));
    }
    let h_end = PREFIX_LEN + h_len;
    let Some(stored_hcrc) = le_u32(bytes, h_end) else {
        return Err(Error::format(
            path,
            format!("truncated {what}: the file ends inside its header ({} bytes, the header needs {})", bytes.len(), h_end + 4),
        ));
    };
    let h_bytes = bytes.get(..h_end).unwrap_or_default();
    if crc32fast::hash(h_bytes) != stored_hcrc {
        return Err(Error::format(path, format!("damaged {what} header: its checksum does not match (the file was modified or corrupted)")));
    }
    let header: Header = decode(bytes.get(PREFIX_LEN..h_end).unwrap_or_default())
        .map_err(|m| Error::format(path, format!("damaged {what} header: {m}")))?;
    let info = FileInfo { format_version: version, ferroflow_version: header.ferroflow_version };
    let start = h_end + 4;
    let available = (bytes.len() - start) as u64;
    if available < header.payload_len {
        return Err(Error::format(
            path,
            format!(
                "truncated {what}: the header announces {} payload bytes but only {available} are present (a crash or a full disk can cut a file short)",
                header.payload_len
            ),
        ));
    }
    if available > header.payload_len {
        return Err(Error::format(
            path,
            format!("damaged {what}: {} unexpected bytes after the {}-byte payload", available - header.payload_len, header.payload_len),
        ));
    }
    let payload = bytes.get(start..).unwrap_or_default();
    let crc = crc32fast::hash(payload);
    if crc != header.payload_crc32 {
        return Err(Error::format(
            path,
            format!("checksum mismatch: the {what} payload's CRC-32 is {crc:08x} but the header recorded {:08x}; the file is corrupted", header.payload_crc32),
        ));
    }
    Ok((info, payload))
}

/// Best effort: the ferroflow version recorded by a file of a newer format (its header's
/// first field is the version string in every format version).
fn future_writer(bytes: &[u8]) -> Option<String> {
    let rest = bytes.get(PREFIX_LEN..)?;
    let cfg = bincode::config::standard().with_limit::<256>();
    let (s, _): (String, usize) = bincode::serde::decode_from_slice(rest, cfg).ok()?;
    (s.len() < 64 && s.chars().all(|c| c.is_ascii_graphic())).then_some(s)
}

/// Encodes with the format's bincode configuration.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(|e| Error::invalid(format!("encoding failed: {e}")))
}

fn decode_limited<T: DeserializeOwned, const LIMIT: usize>(bytes: &[u8]) -> std::result::Result<T, String> {
    let cfg = bincode::config::standard().with_limit::<LIMIT>();
    let (v, used) = bincode::serde::decode_from_slice::<T, _>(bytes, cfg).map_err(|e| e.to_string())?;
    if used != bytes.len() {
        return Err(format!("{} unexpected bytes after the data", bytes.len() - used));
    }
    Ok(v)
}

/// Decodes exactly `bytes` (trailing bytes are an error). Container lengths read from the
/// data are capped at a small multiple of the input size, so damaged length fields cannot
/// make the reader allocate more than the file could hold.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String> {
    let n = bytes.len();
    if n <= 1 << 16 {
        decode_limited::<T, { 1 << 18 }>(bytes)
    } else if n <= 1 << 20 {
        decode_limited::<T, { 1 << 22 }>(bytes)
    } else if n <= 1 << 24 {
        decode_limited::<T, { 1 << 26 }>(bytes)
    } else if n <= 1 << 28 {
        decode_limited::<T, { 1 << 30 }>(bytes)
    } else {
        decode_large(bytes)
    }
}

#[cfg(target_pointer_width = "64")]
fn decode_large<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String> {
    let n = bytes.len() as u64;
    if n <= 1 << 32 {
        decode_limited::<T, { 1 << 34 }>(bytes)
    } else if n <= 1 << 36 {
        decode_limited::<T, { 1 << 38 }>(bytes)
    } else {
        decode_limited::<T, { 1 << 42 }>(bytes)
    }
}

#[cfg(not(target_pointer_width = "64"))]
fn decode_large<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String> {
    decode_limited::<T, { usize::MAX }>(bytes)
}

/// A byte buffer that bincode stores as one length-prefixed run (not element by element).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Bytes, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte buffer")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> std::result::Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> std::result::Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Bytes, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(Bytes(out))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

// ---------------------------------------------------------------------------------------
// Checkpoint payload
// ---------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct CheckpointPayload {
    tensors: Vec<TensorRecord>,
}

/// One saved tensor: its checkpoint name, dtype (TF spelling), shape and little-endian data.
#[derive(Serialize, Deserialize)]
struct TensorRecord {
    name: String,
    dtype: String,
    shape: Vec<u64>,
    data: Bytes,
}

/// The contents of a checkpoint file: named values and the header info.
///
/// TF1: what `tf.train.load_checkpoint` / `NewCheckpointReader` give.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    info: FileInfo,
    tensors: BTreeMap<String, Value>,
}

impl Checkpoint {
    /// Format version and the ferroflow release that wrote the file.
    pub fn info(&self) -> &FileInfo {
        &self.info
    }
    /// The saved names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.tensors.keys().cloned().collect()
    }
    /// The value saved under `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.tensors.get(name)
    }
    /// Number of saved tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }
    /// True when nothing was saved.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }
    /// Name, dtype and shape of every saved tensor, sorted by name. TF1: `tf.train.list_variables`.
    pub fn list(&self) -> Vec<(String, DType, Vec<usize>)> {
        self.tensors.iter().map(|(n, v)| (n.clone(), v.dtype(), v.shape().to_vec())).collect()
    }
    /// All saved values by name.
    pub fn tensors(&self) -> &BTreeMap<String, Value> {
        &self.tensors
    }
    /// Takes the values out.
    pub fn into_tensors(self) -> BTreeMap<String, Value> {
        self.tensors
    }
}

fn dtype_from_name(s: &str) -> Option<DType> {
    [DType::F32, DType::F64, DType::I32, DType::I64, DType::Bool].into_iter().find(|d| d.tf_name() == s)
}

fn dtype_size(d: DType) -> usize {
    match d {
        DType::F32 | DType::I32 => 4,
        DType::F64 | DType::I64 => 8,
        DType::Bool => 1,
    }
}

fn value_bytes(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * dtype_size(v.dtype()));
    match v {
        Value::F32(a) => a.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Value::F64(a) => a.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Value::I32(a) => a.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Value::I64(a) => a.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Value::Bool(a) => a.iter().for_each(|&x| out.push(u8::from(x))),
    }
    out
}

fn bytes_value(dtype: DType, dims: &[usize], data: &[u8]) -> std::result::Result<Value, String> {
    let n = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or("its shape has more elements than memory can hold")?;
    let want = n.checked_mul(dtype_size(dtype)).ok_or("its shape has more elements than memory can hold")?;
    if data.len() != want {
        return Err(format!("its shape {dims:?} needs {want} bytes of {dtype} data but {} are stored", data.len()));
    }
    macro_rules! num {
        ($t:ty, $k:expr) => {
            Value::from_shape_vec(dims, data.chunks_exact($k).map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or([0; $k]))).collect())
        };
    }
    let v = match dtype {
        DType::F32 => num!(f32, 4),
        DType::F64 => num!(f64, 8),
        DType::I32 => num!(i32, 4),
        DType::I64 => num!(i64, 8),
        DType::Bool => {
            if let Some(b) = data.iter().find(|&&b| b > 1) {
                return Err(format!("its bool data holds the byte {b}, which is neither 0 nor 1"));
            }
            Value::from_shape_vec(dims, data.iter().map(|&b| b == 1).collect())
        }
    };
    v.map_err(|e| e.to_string())
}

/// Encodes named values as a complete checkpoint file (envelope + payload), as two parts.
///
/// # Errors
/// Two values with the same name.
pub fn encode_checkpoint(tensors: &[(String, Value)]) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut seen = std::collections::HashSet::new();
    let mut records = Vec::with_capacity(tensors.len());
    for (name, v) in tensors {
        if !seen.insert(name.as_str()) {
            return Err(Error::invalid(format!("two variables would be saved under the same checkpoint name '{name}'")));
        }
        records.push(TensorRecord {
            name: name.clone(),
            dtype: v.dtype().tf_name().to_string(),
            shape: v.shape().iter().map(|&d| d as u64).collect(),
            data: Bytes(value_bytes(v)),
        });
    }
    let payload = encode(&CheckpointPayload { tensors: records })?;
    let head = envelope(FileKind::Checkpoint, &payload)?;
    Ok((head, payload))
}

/// Reads a checkpoint from its bytes; `path` is only used in error messages.
///
/// Never panics, whatever the bytes: every damage gives an [`Error::Format`] naming the
/// path and what is wrong.
pub fn decode_checkpoint(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    let (info, payload) = open_envelope(FileKind::Checkpoint, bytes, path)?;
    decode_checkpoint_payload(info, payload, path)
}

/// Decodes a checkpoint payload whose envelope was already checked (fuzzing entry point).
#[doc(hidden)]
pub fn decode_checkpoint_payload(info: FileInfo, payload: &[u8], path: &Path) -> Result<Checkpoint> {
    let p: CheckpointPayload = decode(payload).map_err(|m| Error::format(path, format!("damaged checkpoint payload: {m}")))?;
    let mut tensors = BTreeMap::new();
    for r in p.tensors {
        let dtype = dtype_from_name(&r.dtype)
            .ok_or_else(|| Error::format(path, format!("tensor '{}' has the unknown dtype '{}'", r.name, r.dtype)))?;
        let dims: Vec<usize> = r
            .shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| Error::format(path, format!("tensor '{}' has a dimension too large for this machine", r.name)))?;
        let v = bytes_value(dtype, &dims, &r.data.0).map_err(|m| Error::format(path, format!("tensor '{}': {m}", r.name)))?;
        if tensors.insert(r.name.clone(), v).is_some() {
            return Err(Error::format(path, format!("the name '{}' appears twice", r.name)));
        }
    }
    Ok(Checkpoint { info, tensors })
}

/// Wraps `payload` in a valid envelope (fuzzing and tests: reach the payload decoder with
/// arbitrary bytes).
#[doc(hidden)]
pub fn wrap_payload(kind: FileKind, payload: &[u8]) -> Result<Vec<u8>> {
    let mut out = envelope(kind, payload)?;
    out.extend_from_slice(payload);
    Ok(out)
}

/// Reads a whole file, mapping IO errors to [`Error::Io`] naming it.
pub(crate) fn read_file(path: &Path, kind: FileKind) -> Result<Vec<u8>> {
    if path.is_dir() {
        let hint = match kind {
            FileKind::Checkpoint => "pass a checkpoint file, e.g. latest_checkpoint(dir)",
            FileKind::MetaGraph => "pass a `.meta` file",
        };
        return Err(Error::format(path, format!("is a directory, not a {}; {hint}", kind.what())));
    }
    fs::read(path).map_err(|e| {
        let msg = if e.kind() == io::ErrorKind::NotFound { format!("no such {} file ({e})", kind.what()) } else { e.to_string() };
        Error::io(path, io::Error::new(e.kind(), msg))
    })
}

// ---------------------------------------------------------------------------------------
// Atomic writes
// ---------------------------------------------------------------------------------------

/// Which file of a save a [`WriteFault`] hits.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultTarget {
    /// The checkpoint data file.
    Checkpoint,
    /// The `.meta` file.
    MetaGraph,
    /// The `checkpoint` state file.
    State,
}

/// A simulated failure of the writer (tests): the write fails after `after_bytes` bytes
/// (`ErrorKind::StorageFull`, as a full disk), or, with `None`, after the data was written and
/// synced but before the rename. `leave_temp` simulates a crash: the temporary file stays.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct WriteFault {
    /// Which file.
    pub target: FaultTarget,
    /// Fail after this many bytes; `None`: fail just before the rename.
    pub after_bytes: Option<u64>,
    /// Leave the temporary file behind, as a crash would.
    pub leave_temp: bool,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `parts` to `path` atomically: to a temporary file in the same directory, fsynced,
/// renamed over `path`, then the directory is fsynced. On failure `path` keeps its old
/// contents (or stays absent) and the temporary file is removed.
pub(crate) fn write_atomic(path: &Path, parts: &[&[u8]], target: FaultTarget, fault: Option<WriteFault>) -> Result<()> {
    let fault = fault.filter(|f| f.target == target);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(file_name) = path.file_name().map(|f| f.to_string_lossy().into_owned()) else {
        return Err(Error::invalid(format!("'{}' does not name a file", path.display())));
    };
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{file_name}.tmp-{}-{n}", std::process::id()));
    let result = write_and_rename(&tmp, path, parts, fault);
    if let Err(e) = result {
        if !fault.is_some_and(|f| f.leave_temp) {
            let _ = fs::remove_file(&tmp);
        }
        let msg = format!("could not write the file ({e}); nothing was replaced");
        return Err(Error::io(path, io::Error::new(e.kind(), msg)));
    }
    sync_dir(&dir);
    Ok(())
}

fn write_and_rename(tmp: &Path, path: &Path, parts: &[&[u8]], fault: Option<WriteFault>) -> io::Result<()> {
    let file = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    let mut w = FaultyWriter { inner: file, written: 0, fail_after: fault.and_then(|f| f.after_bytes) };
    for p in parts {
        w.write_all(p)?;
    }
    w.flush()?;
    w.inner.sync_all()?;
    drop(w);
    if fault.is_some_and(|f| f.after_bytes.is_none()) {
        return Err(io::Error::other("simulated failure before the rename"));
    }
    fs::rename(tmp, path)
}

struct FaultyWriter {
    inner: File,
    written: u64,
    fail_after: Option<u64>,
}

impl Write for FaultyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut buf = buf;
        if let Some(limit) = self.fail_after {
            let room = limit.saturating_sub(self.written);
            if room == 0 {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "no space left on device (simulated)"));
            }
            buf = buf.get(..(room.min(buf.len() as u64) as usize)).unwrap_or(buf);
        }
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Makes a rename durable (best effort: not every platform can sync a directory).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
