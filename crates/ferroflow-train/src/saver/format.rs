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
            return Err(Error::format(
                path,
                format!("the file is empty, not a ferroflow {what} (a crash or a full disk can leave such a file)"),
            ));
        }
        let other = kind.other().magic();
        if head == &other[..head.len()] && head.len() == 8 {
            let hint = match kind {
                FileKind::Checkpoint => {
                    "pass the checkpoint path (without `.meta`) to restore, and the `.meta` file to import_meta_graph"
                }
                FileKind::MetaGraph => {
                    "pass the `.meta` file to import_meta_graph, and the checkpoint path to Saver::restore"
                }
            };
            return Err(Error::format(
                path,
                format!("this is a ferroflow {}, not a {what}; {hint}", kind.other().what()),
            ));
        }
        return Err(Error::format(
            path,
            format!("not a ferroflow {what}: the file does not start with the ferroflow {what} magic bytes"),
        ));
    }
    if bytes.len() < PREFIX_LEN {
        return Err(Error::format(
            path,
            format!(
                "truncated ferroflow {what}: only {} bytes, fewer than its fixed {PREFIX_LEN}-byte prefix",
                bytes.len()
            ),
        ));
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
        return Err(Error::format(
            path,
            format!("damaged {what} header: it announces {h_len} header bytes (at most {MAX_HEADER_LEN} are valid)"),
        ));
    }
    let h_end = PREFIX_LEN + h_len;
    let Some(stored_hcrc) = le_u32(bytes, h_end) else {
        return Err(Error::format(
            path,
            format!(
                "truncated {what}: the file ends inside its header ({} bytes, the header needs {})",
                bytes.len(),
                h_end + 4
            ),
        ));
    };
    let h_bytes = bytes.get(..h_end).unwrap_or_default();
    if crc32fast::hash(h_bytes) != stored_hcrc {
        return Err(Error::format(
            path,
            format!("damaged {what} header: its checksum does not match (the file was modified or corrupted)"),
        ));
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
            format!(
                "damaged {what}: {} unexpected bytes after the {}-byte payload",
                available - header.payload_len,
                header.payload_len
            ),
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
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|e| Error::invalid(format!("encoding failed: {e}")))
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
        // Never stored (encode_checkpoint refuses string values); 0 makes any data a mismatch.
        DType::String => 0,
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
        Value::String(_) => {}
    }
    out
}

fn bytes_value(dtype: DType, dims: &[usize], data: &[u8]) -> std::result::Result<Value, String> {
    let n = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("its shape has more elements than memory can hold")?;
    let want = n.checked_mul(dtype_size(dtype)).ok_or("its shape has more elements than memory can hold")?;
    if data.len() != want {
        return Err(format!("its shape {dims:?} needs {want} bytes of {dtype} data but {} are stored", data.len()));
    }
    macro_rules! num {
        ($t:ty, $k:expr) => {
            Value::from_shape_vec(
                dims,
                data.chunks_exact($k).map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or([0; $k]))).collect(),
            )
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
        DType::String => return Err("checkpoints do not store string tensors".into()),
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
            return Err(Error::invalid(format!(
                "two variables would be saved under the same checkpoint name '{name}'"
            )));
        }
        if v.dtype() == DType::String {
            return Err(Error::invalid(format!(
                "'{name}' is a string tensor {:?}; checkpoints store only numeric and bool tensors \
                 (keep string variables out of the Saver's var_list)",
                v.shape()
            )));
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
    let p: CheckpointPayload =
        decode(payload).map_err(|m| Error::format(path, format!("damaged checkpoint payload: {m}")))?;
    let mut tensors = BTreeMap::new();
    for r in p.tensors {
        let dtype = dtype_from_name(&r.dtype)
            .ok_or_else(|| Error::format(path, format!("tensor '{}' has the unknown dtype '{}'", r.name, r.dtype)))?;
        let dims: Vec<usize> =
            r.shape.iter().map(|&d| usize::try_from(d)).collect::<std::result::Result<_, _>>().map_err(|_| {
                Error::format(path, format!("tensor '{}' has a dimension too large for this machine", r.name))
            })?;
        let v = bytes_value(dtype, &dims, &r.data.0)
            .map_err(|m| Error::format(path, format!("tensor '{}': {m}", r.name)))?;
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
        let msg = if e.kind() == io::ErrorKind::NotFound {
            format!("no such {} file ({e})", kind.what())
        } else {
            e.to_string()
        };
        Error::io(path, io::Error::new(e.kind(), msg))
    })
}

// ---------------------------------------------------------------------------------------
// Atomic writes
// ---------------------------------------------------------------------------------------

/// Which step of a save a [`WriteFault`] hits.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultTarget {
    /// Writing or renaming the checkpoint data file.
    Checkpoint,
    /// Writing or renaming the `.meta` file.
    MetaGraph,
    /// Writing or renaming the `checkpoint` state file.
    State,
    /// The fsync of the directory after the data and `.meta` renames (before the state file).
    SyncData,
    /// The fsync of the directory after the state file's rename.
    SyncState,
}

/// A simulated failure of the writer (tests): the write fails after `after_bytes` bytes
/// (`ErrorKind::StorageFull`, as a full disk), or, with `None`, after the data was written and
/// synced but before the rename. `leave_temp` simulates a crash: the temporary files of the
/// save stay and nothing it already renamed is rolled back. For [`FaultTarget::SyncData`] and
/// [`FaultTarget::SyncState`] the directory fsync fails (`ErrorKind::Other`); the other fields
/// are ignored.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct WriteFault {
    /// Which file or step.
    pub target: FaultTarget,
    /// Fail after this many bytes; `None`: fail just before the rename.
    pub after_bytes: Option<u64>,
    /// Leave the temporary file behind, as a crash would.
    pub leave_temp: bool,
}

/// Makes temporary names unique within the process (with the pid: across processes).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `.model-1000.tmp-<pid>-<n>`: the temporary name under which `file_name` is written.
fn temp_name(file_name: &str, pid: u32, n: u64) -> String {
    format!(".{file_name}{TEMP_MARK}{pid}-{n}")
}

const TEMP_MARK: &str = ".tmp-";

/// The final file name a temporary name of [`temp_name`]'s form stands for
/// (`.model-1000.tmp-41-0` → `model-1000`); `None` for any other name.
pub(crate) fn temp_target(name: &str) -> Option<&str> {
    let rest = name.strip_prefix('.')?;
    let at = rest.rfind(TEMP_MARK)?;
    let (target, tail) = (rest.get(..at)?, rest.get(at + TEMP_MARK.len()..)?);
    let (pid, n) = tail.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (!target.is_empty() && digits(pid) && digits(n)).then_some(target)
}

/// A file written to a temporary name next to its final path and fsynced, waiting for
/// [`Staged::commit`] to rename it over the final path. Dropping it uncommitted removes the
/// temporary file. While it exists its temporary file is locked (`flock`, exclusive), which
/// tells [`remove_if_stale`] in any process that a live writer owns it; the lock goes away
/// with the writer, also when it is killed.
pub(crate) struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    /// Open while staged: holds the lock.
    file: Option<File>,
    fault: Option<WriteFault>,
    /// Committed, or left behind on purpose (a simulated crash): nothing to remove.
    done: bool,
}

impl Staged {
    /// The final path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temporary file over the final path (atomic: the final path has its old
    /// content or the new one, never a mix). Does not sync the directory.
    pub(crate) fn commit(&mut self) -> Result<()> {
        if let Some(f) = self.fault.filter(|f| f.after_bytes.is_none()) {
            self.done = f.leave_temp;
            return Err(write_error(&self.path, io::Error::other("simulated failure before the rename")));
        }
        fs::rename(&self.tmp, &self.path).map_err(|e| write_error(&self.path, e))?;
        self.done = true;
        self.file = None;
        Ok(())
    }

    /// Leaves the temporary file where it is (a simulated crash).
    pub(crate) fn leave(&mut self) {
        self.done = true;
        self.file = None;
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

fn write_error(path: &Path, e: io::Error) -> Error {
    let msg = format!("could not write the file ({e}); nothing was replaced");
    Error::io(path, io::Error::new(e.kind(), msg))
}

/// Writes `parts` to a new temporary file next to `path` and fsyncs it (see [`Staged`]).
/// On failure the temporary file is removed (unless the fault simulates a crash) and the
/// error names `path`.
pub(crate) fn stage(path: &Path, parts: &[&[u8]], target: FaultTarget, fault: Option<WriteFault>) -> Result<Staged> {
    let fault = fault.filter(|f| f.target == target);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(file_name) = path.file_name().map(|f| f.to_string_lossy().into_owned()) else {
        return Err(Error::invalid(format!("'{}' does not name a file", path.display())));
    };
    let (tmp, file) = create_temp(&dir, &file_name).map_err(|e| write_error(path, e))?;
    let mut staged = Staged { tmp, path: path.to_path_buf(), file: None, fault, done: false };
    let written = (|| {
        let mut w = FaultyWriter { inner: &file, written: 0, fail_after: fault.and_then(|f| f.after_bytes) };
        for p in parts {
            w.write_all(p)?;
        }
        w.flush()?;
        file.sync_all()
    })();
    staged.file = Some(file);
    if let Err(e) = written {
        if fault.is_some_and(|f| f.leave_temp) {
            staged.leave();
        }
        return Err(write_error(path, e));
    }
    Ok(staged)
}

/// Creates and locks a fresh temporary file for `file_name` in `dir`.
fn create_temp(dir: &Path, file_name: &str) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    let mut last = io::Error::other("could not create a temporary file");
    for _ in 0..16 {
        let tmp = dir.join(temp_name(file_name, pid, TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => {
                if lock_new_temp(&file, &tmp)? {
                    return Ok((tmp, file));
                }
                last = io::Error::other("the temporary file was removed by a concurrent cleanup");
            }
            // A leftover of an earlier process with the same pid: take the next name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Locks a just-created temporary file. `false` when a cleaner got to it between its creation
/// and the lock (it is deleting it; take another name). Where the filesystem has no locks the
/// file is used unlocked (and cleaners never delete it, see [`remove_if_stale`]).
fn lock_new_temp(file: &File, tmp: &Path) -> io::Result<bool> {
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return Ok(false),
        Err(fs::TryLockError::Error(_)) => return Ok(true),
    }
    // Locked; is the name still ours (a cleaner may have locked, unlinked and released it)?
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mine = file.metadata()?;
        match fs::symlink_metadata(tmp) {
            Ok(m) => Ok(m.dev() == mine.dev() && m.ino() == mine.ino()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        Ok(tmp.exists())
    }
}

/// Removes the temporary file `path` if no live writer holds it (its lock can be taken):
/// `Ok(true)` when it was removed. Files that are not regular files, files another process
/// has locked, and files on filesystems without locks are left alone.
pub(crate) fn remove_if_stale(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => {}
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if file.try_lock().is_err() {
        return Ok(false);
    }
    // Removed while locked: a writer that created it just now cannot lock it any more and
    // notices that its name is gone (see `lock_new_temp`).
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `parts` to `path` atomically: to a temporary file in the same directory, fsynced,
/// renamed over `path`, then the directory is fsynced. On failure `path` keeps its old
/// contents (or stays absent) and the temporary file is removed.
///
/// # Errors
/// The write, fsync or rename failed (nothing was replaced), or the directory fsync failed
/// after the rename (the file is in place but may not survive a power loss; the error says so).
pub(crate) fn write_atomic(path: &Path, parts: &[&[u8]], target: FaultTarget, fault: Option<WriteFault>) -> Result<()> {
    let mut staged = stage(path, parts, target, fault)?;
    staged.commit()?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    sync_dir(&dir).map_err(|e| {
        let msg = format!(
            "{} was written, but the directory could not be synced ({e}); the file may not survive a power loss",
            path.display()
        );
        Error::io(&dir, io::Error::new(e.kind(), msg))
    })
}

struct FaultyWriter<'a> {
    inner: &'a File,
    written: u64,
    fail_after: Option<u64>,
}

impl Write for FaultyWriter<'_> {
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

/// Makes the renames in `dir` durable (fsync of the directory). A filesystem that cannot sync
/// a directory (`EINVAL`, unsupported) counts as success: there is nothing more a program can
/// do there. Other errors (`EIO`…) are returned: the caller decides (see `Saver::save`). On
/// non-Unix platforms this does nothing (a directory cannot be opened as a file there).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let d = File::open(dir)?;
        match d.sync_all() {
            Err(e) if matches!(e.kind(), io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported) => Ok(()),
            other => other,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn string_tensors_are_refused() {
        let e = encode_checkpoint(&[("note".into(), Value::from("hi"))]).unwrap_err().to_string();
        assert!(e.contains("'note' is a string tensor") && e.contains("checkpoints store only"), "{e}");
        assert!(bytes_value(DType::String, &[], b"").is_err());
    }

    #[test]
    fn temp_names_parse_back() {
        assert_eq!(temp_target(&temp_name("model-1000", 41, 7)), Some("model-1000"));
        assert_eq!(temp_target(&temp_name("model-10.meta", 1, 0)), Some("model-10.meta"));
        assert_eq!(temp_target(&temp_name("checkpoint", 9, 12)), Some("checkpoint"));
        assert_eq!(temp_target(&temp_name("a.tmp-1-2", 3, 4)), Some("a.tmp-1-2"));
        for bad in [
            "model-1000",
            ".model-1000",
            ".model.tmp-",
            ".model.tmp-1",
            ".model.tmp-1-",
            ".model.tmp-x-1",
            ".model.tmp-1-2x",
            "..tmp-1-2",
            "model.tmp-1-2",
        ] {
            assert_eq!(temp_target(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_staged_file_is_locked_until_committed_or_dropped() {
        let dir = std::env::temp_dir().join(format!("ff-format-lock-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let mut s = stage(&path, &[b"abc"], FaultTarget::Checkpoint, None).unwrap();
        let tmp = s.tmp.clone();
        assert!(!remove_if_stale(&tmp).unwrap(), "a live writer's temporary file must not be removed");
        assert!(tmp.exists());
        s.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"abc");
        assert!(!tmp.exists());
        // A left-behind (crashed) temporary file is unlocked and removed.
        let fault = WriteFault { target: FaultTarget::Checkpoint, after_bytes: Some(1), leave_temp: true };
        assert!(stage(&path, &[b"xyz"], FaultTarget::Checkpoint, Some(fault)).is_err());
        let left: Vec<PathBuf> =
            fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p != &path).collect();
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(remove_if_stale(&left[0]).unwrap());
        assert!(!left[0].exists());
        assert_eq!(fs::read(&path).unwrap(), b"abc");
        fs::remove_dir_all(&dir).unwrap();
    }
}
