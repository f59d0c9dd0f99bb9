//! The checkpoint directory: the `checkpoint` state file (the latest checkpoint and every
//! kept one, oldest → newest, with their timestamps; TF1: `CheckpointState`), and which other
//! files of the directory belong to a Saver's prefix (its checkpoints, its temporary files).
//!
//! The state file is a small text file in TF1's layout, with strings quoted as JSON strings:
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
//! preserved_checkpoint_paths: "model-20"
//! state_version: 2
//! ```
//!
//! Paths are relative to the directory (absolute paths are accepted when reading). Unknown
//! keys are ignored, so older releases can read newer state files. `preserved_checkpoint_paths`
//! and `state_version` are ferroflow's additions (see [`CheckpointState`]).

use super::format::{remove_if_stale, stage, temp_target, FaultTarget, Staged, WriteFault, FERROFLOW_VERSION};
use ferroflow_core::{Error, Result};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// Name of the state file inside a checkpoint directory (as TF1).
pub const STATE_FILE: &str = "checkpoint";

/// The `state_version` ferroflow writes. Version 2 lists the checkpoints preserved by
/// `keep_checkpoint_every_n_hours` too, so a file of a Saver's prefix that such a state file
/// does not name is garbage (left by a crash) and may be deleted. A file without the key
/// (TF1, earlier ferroflow) is version 1.
pub const STATE_VERSION: u32 = 2;

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
    /// Checkpoints preserved by `keep_checkpoint_every_n_hours` (no longer subject to
    /// `max_to_keep`; never deleted by a Saver). Not in TF1, which forgets them.
    pub preserved_checkpoint_paths: Vec<String>,
    /// 1 for state files without the key (TF1, earlier ferroflow), [`STATE_VERSION`] for
    /// those ferroflow writes now.
    pub state_version: u32,
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
        for p in &self.preserved_checkpoint_paths {
            let _ = writeln!(out, "preserved_checkpoint_paths: {}", q(p));
        }
        if self.state_version >= 2 {
            let _ = writeln!(out, "state_version: {}", self.state_version);
        }
        out
    }

    /// Parses a state file's text; `path` names the file in errors.
    ///
    /// # Errors
    /// A line that is not `key: value`, a badly quoted path, a bad number, no
    /// `model_checkpoint_path`, or a timestamp count that differs from the path count.
    pub fn parse(text: &str, path: &Path) -> Result<CheckpointState> {
        let mut st = CheckpointState { state_version: 1, ..CheckpointState::default() };
        let mut latest = None;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |what: &str| {
                Error::format(path, format!("damaged checkpoint state file, line {}: {what}: `{line}`", i + 1))
            };
            let (key, value) = line.split_once(':').ok_or_else(|| bad("expected `key: value`"))?;
            let value = value.trim();
            let string = || -> Result<String> {
                let s: String = serde_json::from_str(value).map_err(|_| bad("expected a quoted path"))?;
                if s.is_empty() {
                    return Err(bad("empty path"));
                }
                Ok(s)
            };
            let number = || -> Result<f64> {
                value.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| bad("expected a number"))
            };
            match key.trim() {
                "model_checkpoint_path" => latest = Some(string()?),
                "all_model_checkpoint_paths" => st.all_model_checkpoint_paths.push(string()?),
                "all_model_checkpoint_timestamps" => st.all_model_checkpoint_timestamps.push(number()?),
                "last_preserved_timestamp" => st.last_preserved_timestamp = number()?,
                "preserved_checkpoint_paths" => st.preserved_checkpoint_paths.push(string()?),
                "state_version" => {
                    st.state_version = value.parse::<u32>().map_err(|_| bad("expected a version number"))?
                }
                _ => {}
            }
        }
        st.model_checkpoint_path = latest
            .ok_or_else(|| Error::format(path, "damaged checkpoint state file: it names no model_checkpoint_path"))?;
        if !st.all_model_checkpoint_timestamps.is_empty()
            && st.all_model_checkpoint_timestamps.len() != st.all_model_checkpoint_paths.len()
        {
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

    /// Every checkpoint the file names: kept (latest included) and preserved.
    pub fn named(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.model_checkpoint_path.as_str())
            .chain(self.all_model_checkpoint_paths.iter().map(String::as_str))
            .chain(self.preserved_checkpoint_paths.iter().map(String::as_str))
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
            let text = String::from_utf8(bytes)
                .map_err(|_| Error::format(&path, "damaged checkpoint state file: not UTF-8 text"))?;
            CheckpointState::parse(&text, &path).map(Some)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Writes the new `dir/checkpoint` to its temporary file (renamed by the caller).
pub(crate) fn stage_state(dir: &Path, state: &CheckpointState, fault: Option<WriteFault>) -> Result<Staged> {
    let text = state.to_text();
    stage(&dir.join(STATE_FILE), &[text.as_bytes()], FaultTarget::State, fault)
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

// ---------------------------------------------------------------------------------------
// Which files of a directory belong to a prefix
// ---------------------------------------------------------------------------------------

/// The last component of a Saver's save prefix (`model` for `ckpt/model`) and the names it
/// writes: checkpoints `model` (no step) and `model-<step>` (the step as `i64` prints it),
/// each with a `.meta`, and their temporary files `.<name>.tmp-<pid>-<n>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Prefix {
    stem: String,
}

impl Prefix {
    /// The prefix of `save(.., prefix, ..)`; `None` when its last component is missing or not
    /// UTF-8 (then no file is ever cleaned up for it).
    pub(crate) fn of_save(prefix: &Path) -> Option<Prefix> {
        let stem = prefix.file_name()?.to_str()?;
        (!stem.is_empty()).then(|| Prefix { stem: stem.to_string() })
    }

    /// The prefix a checkpoint path was most likely saved with: `model-1000` → `model`
    /// (a path without a step suffix is its own prefix).
    pub(crate) fn of_checkpoint(path: &Path) -> Option<Prefix> {
        let name = path.file_name()?.to_str()?;
        let stem = match name.rsplit_once('-') {
            Some((stem, step)) if !stem.is_empty() && canonical_step(step) => stem,
            _ => name,
        };
        Some(Prefix { stem: stem.to_string() })
    }

    /// The step of a checkpoint name `stem-<step>`.
    fn step_of<'a>(&self, name: &'a str) -> Option<&'a str> {
        let step = name.strip_prefix(self.stem.as_str())?.strip_prefix('-')?;
        canonical_step(step).then_some(step)
    }

    /// Whether `name` is a checkpoint name this prefix writes (`stem` or `stem-<step>`).
    pub(crate) fn names(&self, name: &str) -> bool {
        name == self.stem || self.step_of(name).is_some()
    }

    /// For a file `stem-<step>` or `stem-<step>.meta`: the checkpoint name `stem-<step>`.
    /// Files at the bare prefix (`stem`, `stem.meta`) are not included: a save without a
    /// step rewrites them in place, and a user's own `model.meta` export may sit there.
    fn stepped_checkpoint<'a>(&self, file_name: &'a str) -> Option<&'a str> {
        let ckpt = file_name.strip_suffix(".meta").unwrap_or(file_name);
        self.step_of(ckpt).map(|_| ckpt)
    }

    /// Whether the temporary file `name` is one a save with this prefix writes: of one of its
    /// checkpoint or `.meta` names, or of the shared state file.
    fn owns_temp(&self, name: &str) -> bool {
        temp_target(name).is_some_and(|t| t == STATE_FILE || self.names(t.strip_suffix(".meta").unwrap_or(t)))
    }
}

/// `s` is a step as `format!("{i64}")` writes it (no sign `+`, no leading zeros).
fn canonical_step(s: &str) -> bool {
    s.parse::<i64>().is_ok_and(|n| n.to_string() == s)
}

/// A problem met while cleaning up (reported as a warning, never an error of the save).
pub(crate) type CleanupIssue = (PathBuf, io::Error);

/// Removes the temporary files of `prefix` (and of the state file) in `dir` whose writer is
/// gone (see `format::remove_if_stale`); returns what was removed and what could not be.
pub(crate) fn remove_stale_temps(dir: &Path, prefix: &Prefix) -> (Vec<PathBuf>, Vec<CleanupIssue>) {
    let (mut removed, mut issues) = (Vec::new(), Vec::new());
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (removed, issues),
        Err(e) => {
            issues.push((dir.to_path_buf(), e));
            return (removed, issues);
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !prefix.owns_temp(name) {
            continue;
        }
        let p = dir.join(name);
        match remove_if_stale(&p) {
            Ok(true) => removed.push(p),
            Ok(false) => {}
            Err(e) => issues.push((p, e)),
        }
    }
    (removed, issues)
}

/// `dir/name` with the directory canonicalized (so `ckpt`, `./ckpt` and `/abs/ckpt` compare
/// equal); `None` when the directory does not exist.
pub(crate) fn canonical_entry(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    Some(std::fs::canonicalize(dir_of(path)).ok()?.join(name))
}

/// The canonical paths of the checkpoints `named` (state-file entries, resolved against `dir`).
pub(crate) fn canonical_set<'a>(dir: &Path, named: impl Iterator<Item = &'a str>) -> HashSet<PathBuf> {
    named.filter_map(|e| canonical_entry(&resolve(dir, e))).collect()
}

/// Checkpoint names (`stem-<step>`) of `prefix` that have a data or `.meta` file in `dir`,
/// each with the files found, sorted by name.
pub(crate) fn checkpoint_files(dir: &Path, prefix: &Prefix) -> io::Result<Vec<(String, Vec<PathBuf>)>> {
    let mut found: std::collections::BTreeMap<String, Vec<PathBuf>> = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // Regular files only: never a directory or a symlink someone put there.
        if !entry.file_type()?.is_file() {
            continue;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(ckpt) = prefix.stepped_checkpoint(name) {
            found.entry(ckpt.to_string()).or_default().push(dir.join(name));
        }
    }
    Ok(found.into_iter().collect())
}

/// The files of `prefix` in `dir` that belong to no checkpoint in `named` (canonical paths,
/// see [`canonical_set`]): data and `.meta` files left by a crash or an interrupted trim.
pub(crate) fn orphans(dir: &Path, prefix: &Prefix, named: &HashSet<PathBuf>) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (ckpt, files) in checkpoint_files(dir, prefix)? {
        match canonical_entry(&dir.join(&ckpt)) {
            Some(c) if !named.contains(&c) => out.extend(files),
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn which_names_a_prefix_owns() {
        let p = Prefix::of_save(Path::new("ckpt/model")).unwrap();
        for yes in ["model", "model-0", "model-12", "model--3", "model-9223372036854775807"] {
            assert!(p.names(yes), "{yes}");
        }
        for no in [
            "model-",
            "model-01",
            "model-+1",
            "model-1-2",
            "model-1.meta",
            "model_1",
            "modelx-1",
            "other-1",
            "model-99999999999999999999",
        ] {
            assert!(!p.names(no), "{no}");
        }
        assert_eq!(p.stepped_checkpoint("model-5.meta"), Some("model-5"));
        assert_eq!(p.stepped_checkpoint("model-5"), Some("model-5"));
        assert_eq!(p.stepped_checkpoint("model"), None);
        assert_eq!(p.stepped_checkpoint("model.meta"), None);
        assert_eq!(p.stepped_checkpoint("model-5.meta.meta"), None);
        assert!(
            p.owns_temp(".model-5.tmp-12-0") && p.owns_temp(".model-5.meta.tmp-12-3") && p.owns_temp(".model.tmp-1-1")
        );
        assert!(p.owns_temp(".checkpoint.tmp-7-2"));
        assert!(
            !p.owns_temp(".other-5.tmp-12-0") && !p.owns_temp("model-5.tmp-12-0") && !p.owns_temp(".model-5.tmp-x")
        );
        // A different prefix in the same directory owns none of these.
        let q = Prefix::of_save(Path::new("ckpt/model-best")).unwrap();
        assert!(!q.names("model-5") && q.names("model-best-5") && !p.names("model-best-5"));
        assert_eq!(Prefix::of_checkpoint(Path::new("d/model-300")), Some(p.clone()));
        assert_eq!(Prefix::of_checkpoint(Path::new("d/model")), Some(p));
    }

    #[test]
    fn new_keys_round_trip_and_old_files_are_version_1() {
        let st = CheckpointState {
            model_checkpoint_path: "m-3".into(),
            all_model_checkpoint_paths: vec!["m-2".into(), "m-3".into()],
            all_model_checkpoint_timestamps: vec![1.5, 2.5],
            last_preserved_timestamp: 0.5,
            preserved_checkpoint_paths: vec!["m-1".into()],
            state_version: STATE_VERSION,
        };
        assert_eq!(CheckpointState::parse(&st.to_text(), Path::new("c")).unwrap(), st);
        let old = CheckpointState::parse("model_checkpoint_path: \"m-3\"\n", Path::new("c")).unwrap();
        assert_eq!(old.state_version, 1);
        assert_eq!(old.named().collect::<Vec<_>>(), ["m-3", "m-3"]);
    }
}
