//! The `checkpoint` state file of a checkpoint directory: the latest checkpoint and every
//! kept one (oldest → newest), with their timestamps. TF1: `CheckpointState`.
//!
//! It is a small text file in TF1's layout, with strings quoted as JSON strings:
//!
//! ```text
//! # ferroflow checkpoint state (written by ferroflow 0.1.0)
//! model_checkpoint_path: "model-300"
//! all_model_checkpoint_paths: "model-100"
//! all_model_checkpoint_paths: "model-200"
//! all_model_checkpoint_paths: "model-300"
//! all_model_checkpoint_timestamps: 1712345678.25
//! all_model_checkpoint_timestamps: 1712345688.5
//! all_model_checkpoint_timestamps: 1712345698.75
//! last_preserved_timestamp: 1712345670
//! ```
//!
//! Paths are relative to the directory (absolute paths are accepted when reading). Unknown
//! keys are ignored, so older releases can read newer state files.

use super::format::{write_atomic, FaultTarget, WriteFault, FERROFLOW_VERSION};
use ferroflow_core::{Error, Result};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// Name of the state file inside a checkpoint directory (as TF1).
pub const STATE_FILE: &str = "checkpoint";

/// The contents of a `checkpoint` state file. TF1: `tf.train.CheckpointState`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckpointState {
    /// The latest checkpoint, as written (relative to the directory, or absolute).
    pub model_checkpoint_path: String,
    /// Every kept checkpoint, oldest first; the latest is last.
    pub all_model_checkpoint_paths: Vec<String>,
    /// Seconds since the Unix epoch at which each kept checkpoint was written.
    pub all_model_checkpoint_timestamps: Vec<f64>,
    /// When the last checkpoint kept by `keep_checkpoint_every_n_hours` was preserved.
    pub last_preserved_timestamp: f64,
}

impl CheckpointState {
    /// The text of the state file.
    pub fn to_text(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""));
        let mut out = format!("# ferroflow checkpoint state (written by ferroflow {FERROFLOW_VERSION})\n");
        let _ = writeln!(out, "model_checkpoint_path: {}", q(&self.model_checkpoint_path));
        for p in &self.all_model_checkpoint_paths {
            let _ = writeln!(out, "all_model_checkpoint_paths: {}", q(p));
        }
        for t in &self.all_model_checkpoint_timestamps {
            let _ = writeln!(out, "all_model_checkpoint_timestamps: {t}");
        }
        let _ = writeln!(out, "last_preserved_timestamp: {}", self.last_preserved_timestamp);
        out
    }

    /// Parses a state file's text; `path` names the file in errors.
    ///
    /// # Errors
    /// A line that is not `key: value`, a badly quoted path, a bad number, no
    /// `model_checkpoint_path`, or a timestamp count that differs from the path count.
    pub fn parse(text: &str, path: &Path) -> Result<CheckpointState> {
        let mut st = CheckpointState::default();
        let mut latest = None;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |what: &str| Error::format(path, format!("damaged checkpoint state file, line {}: {what}: `{line}`", i + 1));
            let (key, value) = line.split_once(':').ok_or_else(|| bad("expected `key: value`"))?;
            let value = value.trim();
            let string = || -> Result<String> {
                let s: String = serde_json::from_str(value).map_err(|_| bad("expected a quoted path"))?;
                if s.is_empty() {
                    return Err(bad("empty path"));
                }
                Ok(s)
            };
            let number = || -> Result<f64> { value.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| bad("expected a number")) };
            match key.trim() {
                "model_checkpoint_path" => latest = Some(string()?),
                "all_model_checkpoint_paths" => st.all_model_checkpoint_paths.push(string()?),
                "all_model_checkpoint_timestamps" => st.all_model_checkpoint_timestamps.push(number()?),
                "last_preserved_timestamp" => st.last_preserved_timestamp = number()?,
                _ => {}
            }
        }
        st.model_checkpoint_path = latest.ok_or_else(|| Error::format(path, "damaged checkpoint state file: it names no model_checkpoint_path"))?;
        if !st.all_model_checkpoint_timestamps.is_empty() && st.all_model_checkpoint_timestamps.len() != st.all_model_checkpoint_paths.len() {
            return Err(Error::format(
                path,
                format!(
                    "damaged checkpoint state file: {} checkpoint paths but {} timestamps",
                    st.all_model_checkpoint_paths.len(),
                    st.all_model_checkpoint_timestamps.len()
                ),
            ));
        }
        if st.all_model_checkpoint_paths.last() != Some(&st.model_checkpoint_path) {
            // TF1 keeps the latest last in the list; repair a list written by other tools.
            st.all_model_checkpoint_paths.retain(|p| *p != st.model_checkpoint_path);
            st.all_model_checkpoint_timestamps.clear();
            st.all_model_checkpoint_paths.push(st.model_checkpoint_path.clone());
        }
        Ok(st)
    }
}

/// The directory a checkpoint path lives in (`.` for a bare file name).
pub(crate) fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Resolves a state-file entry against the directory.
pub(crate) fn resolve(dir: &Path, entry: &str) -> PathBuf {
    let p = Path::new(entry);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

/// Reads `dir/checkpoint`; `Ok(None)` when the directory or file does not exist.
///
/// # Errors
/// The file cannot be read or is damaged (the error names it and the line).
pub fn read_state(dir: impl AsRef<Path>) -> Result<Option<CheckpointState>> {
    let path = dir.as_ref().join(STATE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| Error::format(&path, "damaged checkpoint state file: not UTF-8 text"))?;
            CheckpointState::parse(&text, &path).map(Some)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Atomically replaces `dir/checkpoint`.
pub(crate) fn write_state(dir: &Path, state: &CheckpointState, fault: Option<WriteFault>) -> Result<()> {
    let text = state.to_text();
    write_atomic(&dir.join(STATE_FILE), &[text.as_bytes()], FaultTarget::State, fault)
}

/// The path of the latest checkpoint recorded in `dir`'s state file. TF1:
/// `tf.train.latest_checkpoint(dir)`.
///
/// Returns `Ok(None)` when `dir` has no state file (nothing saved yet: initialize instead).
/// The path is returned even if its file has gone missing, so that `restore` reports it
/// rather than training silently starting over.
///
/// # Errors
/// The state file cannot be read or is damaged.
pub fn latest_checkpoint(dir: impl AsRef<Path>) -> Result<Option<PathBuf>> {
    let dir = dir.as_ref();
    Ok(read_state(dir)?.map(|s| resolve(dir, &s.model_checkpoint_path)))
}
