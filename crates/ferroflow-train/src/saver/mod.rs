//! Checkpoints and meta graphs: `Saver` (save, restore, keep the last N), the `checkpoint`
//! state file, `latest_checkpoint`, and `export_meta_graph` / `import_meta_graph`.
//!
//! TF1: `tf.train.Saver`, `tf.train.latest_checkpoint`, `tf.train.import_meta_graph`.
//! Unlike TF1 the Saver adds no ops to the graph: `save` and `restore` read and write the
//! session's variable store directly (see `docs/decisions/saver.md`).
//!
//! ```
//! use ferroflow_core::Graph;
//! use ferroflow_ops::state::{global_variables_initializer, variable, VariableOptions};
//! use ferroflow_session::Session;
//! use ferroflow_train::saver::{latest_checkpoint, Saver, VarList};
//! # fn main() -> ferroflow_core::Result<()> {
//! let dir = std::env::temp_dir().join(format!("ff-saver-doc-{}", std::process::id()));
//! let g = Graph::new();
//! let s = g.root();
//! let w = variable(&s.with_name("w"), vec![1.0f32, 2.0], VariableOptions::default())?;
//! let init = global_variables_initializer(&s)?;
//! let saver = Saver::new(&g, VarList::All)?;
//!
//! let sess = Session::new(&g);
//! sess.run_ops(&[init], &[])?;
//! let path = saver.save(&sess, dir.join("model"), 100)?;
//! assert!(path.ends_with("model-100"));
//!
//! let fresh = Session::new(&g);
//! saver.restore(&fresh, latest_checkpoint(&dir)?.expect("saved above"))?;
//! assert_eq!(fresh.variable_value(w)?.to_vec::<f32>()?, vec![1.0, 2.0]);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(()) }
//! ```

pub mod format;
pub mod meta_graph;
pub mod state;

pub use format::{decode_checkpoint, Checkpoint, FileInfo, FileKind, FERROFLOW_VERSION, FORMAT_VERSION};
#[doc(hidden)]
pub use format::{FaultTarget, WriteFault};
pub use meta_graph::{export_meta_graph, import_meta_graph, MetaGraph};
pub use state::{latest_checkpoint, read_state, CheckpointState, STATE_FILE, STATE_VERSION};

use ferroflow_core::{Error, Graph, Operation, Result, Value, Variable};
use ferroflow_session::Session;
use format::{encode_checkpoint, read_file, stage, sync_dir, Staged};
use state::{
    canonical_entry, canonical_set, checkpoint_files, dir_of, orphans, remove_stale_temps, resolve, stage_state, Prefix,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Which variables a [`Saver`] saves and restores, and under which checkpoint names.
#[derive(Clone, Debug, Default)]
pub enum VarList {
    /// Every variable in `GLOBAL_VARIABLES` when the Saver is created (TF1 `var_list=None`):
    /// weights, moving statistics, optimizer slots, `beta1_power`/`beta2_power`, `global_step`.
    #[default]
    All,
    /// These variables, each under its own name.
    List(Vec<Variable>),
    /// Checkpoint name → variable: restores a variable from a checkpoint that saved it under
    /// another name (TF1 `var_list` as a dict).
    Map(Vec<(String, Variable)>),
}

impl From<Vec<Variable>> for VarList {
    fn from(v: Vec<Variable>) -> Self {
        VarList::List(v)
    }
}
impl From<&[Variable]> for VarList {
    fn from(v: &[Variable]) -> Self {
        VarList::List(v.to_vec())
    }
}
impl<const N: usize> From<[Variable; N]> for VarList {
    fn from(v: [Variable; N]) -> Self {
        VarList::List(v.to_vec())
    }
}
impl From<Vec<(String, Variable)>> for VarList {
    fn from(v: Vec<(String, Variable)>) -> Self {
        VarList::Map(v)
    }
}
impl From<Vec<(&str, Variable)>> for VarList {
    fn from(v: Vec<(&str, Variable)>) -> Self {
        VarList::Map(v.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}
impl<const N: usize> From<[(&str, Variable); N]> for VarList {
    fn from(v: [(&str, Variable); N]) -> Self {
        VarList::Map(v.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}
impl From<BTreeMap<String, Variable>> for VarList {
    fn from(v: BTreeMap<String, Variable>) -> Self {
        VarList::Map(v.into_iter().collect())
    }
}
impl From<HashMap<String, Variable>> for VarList {
    fn from(v: HashMap<String, Variable>) -> Self {
        VarList::Map(v.into_iter().collect())
    }
}

/// The step appended to a checkpoint's prefix (`model-1000`). TF1: `global_step=` of `save`.
#[derive(Clone, Copy, Debug)]
pub enum GlobalStep {
    /// No suffix: the checkpoint is written at the prefix itself.
    None,
    /// A step number.
    Step(i64),
    /// The current value of an integer scalar variable (e.g. `global_step`).
    Variable(Variable),
}

impl From<i64> for GlobalStep {
    fn from(s: i64) -> Self {
        GlobalStep::Step(s)
    }
}
impl From<i32> for GlobalStep {
    fn from(s: i32) -> Self {
        GlobalStep::Step(i64::from(s))
    }
}
impl From<u32> for GlobalStep {
    fn from(s: u32) -> Self {
        GlobalStep::Step(i64::from(s))
    }
}
impl From<usize> for GlobalStep {
    fn from(s: usize) -> Self {
        GlobalStep::Step(i64::try_from(s).unwrap_or(i64::MAX))
    }
}
impl From<u64> for GlobalStep {
    fn from(s: u64) -> Self {
        GlobalStep::Step(i64::try_from(s).unwrap_or(i64::MAX))
    }
}
impl From<Variable> for GlobalStep {
    fn from(v: Variable) -> Self {
        GlobalStep::Variable(v)
    }
}
impl<T: Into<GlobalStep>> From<Option<T>> for GlobalStep {
    fn from(s: Option<T>) -> Self {
        s.map(Into::into).unwrap_or(GlobalStep::None)
    }
}

type Clock = Arc<dyn Fn() -> f64 + Send + Sync>;

/// What the Saver remembers between saves (TF1 `_last_checkpoints`).
#[derive(Default)]
struct Kept {
    /// Kept checkpoints, oldest first, with their timestamps.
    checkpoints: Vec<(PathBuf, f64)>,
    /// Checkpoints that stay on disk for good: preserved by `keep_checkpoint_every_n_hours`,
    /// or found in a directory whose state file did not account for them (see
    /// `Saver::take_over_dir`). Listed in the state file, never deleted by this Saver.
    preserved: Vec<PathBuf>,
    /// When `keep_checkpoint_every_n_hours` last preserved a checkpoint (initially: when the
    /// Saver was created); the next one is preserved `n` hours later.
    last_preserved: f64,
    /// Whether a state file's kept list was taken over (once, on the first save).
    adopted: bool,
    /// Directories this Saver has saved into (canonical) whose state file and checkpoint
    /// files it has examined (on the first save there): only in these are orphans removed.
    dirs: HashSet<PathBuf>,
}

/// The files one save has written so far. Dropped before `done`, it undoes the save: removes
/// the data and `.meta` files it created (not files it replaced: re-saving an existing path)
/// and, through `Staged`'s drop, the temporary files. With `crash` (a simulated crash) it
/// leaves everything as a killed process would.
struct SaveTxn {
    staged: Vec<Staged>,
    created: Vec<PathBuf>,
    crash: bool,
    done: bool,
}

impl Drop for SaveTxn {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.crash {
            self.staged.iter_mut().for_each(Staged::leave);
            return;
        }
        for p in &self.created {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Saves and restores variables. TF1: `tf.train.Saver`.
///
/// `save` writes `prefix-STEP` (and `prefix-STEP.meta`, the meta graph, unless turned off)
/// and updates the `checkpoint` state file in the same directory; the last `max_to_keep`
/// checkpoints are kept and older ones deleted. Files are written atomically and the state
/// file is updated only once the new files are durable: a crash or a full disk during a
/// save leaves the previous checkpoint and state file intact, and the next save removes
/// what a crash left behind (see `docs/checkpoints.md`, "Crashes and full disks").
/// `restore` checks the file and every variable before it changes anything in the session.
pub struct Saver {
    graph: Graph,
    /// (checkpoint name, variable), sorted by name.
    vars: Vec<(String, Variable)>,
    all_globals: bool,
    max_to_keep: usize,
    keep_every_n_hours: Option<f64>,
    write_meta_graph: bool,
    kept: Mutex<Kept>,
    warnings: Mutex<Vec<String>>,
    warned: Mutex<HashSet<String>>,
    clock: Clock,
    fault: Mutex<Option<WriteFault>>,
    /// Encoded ops of the graph's nodes, reused by every meta-graph write of this Saver.
    pub(crate) op_cache: Mutex<meta_graph::OpCache>,
}

impl std::fmt::Debug for Saver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Saver")
            .field("vars", &self.vars.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .field("max_to_keep", &self.max_to_keep)
            .field("keep_checkpoint_every_n_hours", &self.keep_every_n_hours)
            .field("write_meta_graph", &self.write_meta_graph)
            .finish()
    }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Saver {
    /// A Saver over `var_list` of `graph`: [`VarList::All`] (every global variable, the
    /// default), a list of variables, or a map checkpoint name → variable.
    ///
    /// Defaults as TF1: `max_to_keep` 5, no `keep_checkpoint_every_n_hours`, and the meta
    /// graph is written with each checkpoint. When the var list leaves out non-trainable
    /// state (moving statistics, optimizer slots, `global_step`) a warning names them once
    /// (stderr and [`Saver::warnings`]).
    ///
    /// # Errors
    /// No variables, a variable of another graph, or two variables under one checkpoint name.
    pub fn new(graph: &Graph, var_list: impl Into<VarList>) -> Result<Saver> {
        let var_list = var_list.into();
        let all_globals = matches!(var_list, VarList::All);
        let mut vars: Vec<(String, Variable)> = match var_list {
            VarList::All => {
                graph.global_variables().into_iter().map(|v| Ok((v.name(graph)?, v))).collect::<Result<_>>()?
            }
            VarList::List(vs) => vs.into_iter().map(|v| Ok((v.name(graph)?, v))).collect::<Result<_>>()?,
            VarList::Map(m) => m,
        };
        if vars.is_empty() {
            return Err(Error::invalid(
                "Saver: there are no variables to save; create the Saver after the model's variables (TF1: \"No variables to save\")",
            ));
        }
        for (name, v) in &vars {
            graph.check_graph(v.op().graph_id(), || format!("variable '{name}' of the Saver's var_list"))?;
        }
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        // Same variable listed twice under one name (e.g. in GLOBAL_VARIABLES twice): keep one.
        vars.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        if let Some(w) = vars.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::Variable {
                name: w[0].0.clone(),
                message: format!(
                    "two variables ('{}' and '{}') would be saved under this checkpoint name; give them distinct names in the var_list",
                    w[0].1.name(graph)?,
                    w[1].1.name(graph)?
                ),
            });
        }
        let saver = Saver {
            graph: graph.clone(),
            vars,
            all_globals,
            max_to_keep: 5,
            keep_every_n_hours: None,
            write_meta_graph: true,
            kept: Mutex::new(Kept::default()),
            warnings: Mutex::new(Vec::new()),
            warned: Mutex::new(HashSet::new()),
            clock: Arc::new(now),
            fault: Mutex::new(None),
            op_cache: Mutex::new(Vec::new()),
        };
        saver.reset_preserve_clock();
        saver.check_completeness();
        Ok(saver)
    }

    /// How many recent checkpoints to keep (TF1 default 5); `0` or `None` keeps all.
    pub fn max_to_keep(mut self, n: impl Into<Option<usize>>) -> Self {
        self.max_to_keep = n.into().unwrap_or(0);
        self
    }

    /// Additionally keeps one checkpoint every `hours` among those trimmed by `max_to_keep`
    /// (TF1 `keep_checkpoint_every_n_hours`, default 10000, i.e. never).
    pub fn keep_checkpoint_every_n_hours(mut self, hours: f64) -> Self {
        self.keep_every_n_hours = (hours.is_finite() && hours >= 0.0).then_some(hours);
        self
    }

    /// Whether `save` also writes the meta graph to `<checkpoint>.meta` (TF1 default true).
    pub fn write_meta_graph(mut self, yes: bool) -> Self {
        self.write_meta_graph = yes;
        self
    }

    /// Replaces the clock (seconds since the epoch) used for timestamps (tests).
    #[doc(hidden)]
    pub fn with_clock(mut self, clock: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self.reset_preserve_clock();
        self
    }

    /// Makes the next saves fail as described (tests of crash safety); `None` clears it.
    #[doc(hidden)]
    pub fn inject_write_fault(&self, fault: Option<WriteFault>) {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }

    fn reset_preserve_clock(&self) {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).last_preserved = (self.clock)();
    }

    /// The graph this Saver belongs to.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Checkpoint name and variable of everything this Saver saves, sorted by name.
    pub fn var_list(&self) -> &[(String, Variable)] {
        &self.vars
    }

    /// The kept checkpoints, oldest first. TF1: `saver.last_checkpoints`.
    pub fn last_checkpoints(&self) -> Vec<PathBuf> {
        self.kept.lock().map(|k| k.checkpoints.iter().map(|(p, _)| p.clone()).collect()).unwrap_or_default()
    }

    /// Warnings this Saver has emitted (also logged with `log::warn!`, target `ferroflow`), e.g. an incomplete var list.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// Settings carried by a meta graph: (max_to_keep, keep hours, write meta graph).
    pub(crate) fn settings(&self) -> (usize, Option<f64>, bool) {
        (self.max_to_keep, self.keep_every_n_hours, self.write_meta_graph)
    }

    fn warn(&self, msg: String) {
        log::warn!(target: "ferroflow", "{msg}");
        self.warnings.lock().unwrap_or_else(|e| e.into_inner()).push(msg);
    }

    /// Warns (once per variable) about global variables this Saver leaves out that a restored
    /// model needs: non-trainable state (moving statistics, slots, powers, global step), and,
    /// for `VarList::All`, variables created after the Saver.
    fn check_completeness(&self) {
        let listed: HashSet<Operation> = self.vars.iter().map(|(_, v)| v.op()).collect();
        let trainable: HashSet<Operation> = self.graph.trainable_variables().into_iter().map(|v| v.op()).collect();
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = Vec::new();
        let mut late = Vec::new();
        for v in self.graph.global_variables() {
            if listed.contains(&v.op()) {
                continue;
            }
            let Ok(name) = v.name(&self.graph) else { continue };
            if warned.contains(&name) {
                continue;
            }
            if !trainable.contains(&v.op()) {
                state.push(name);
            } else if self.all_globals {
                late.push(name);
            }
        }
        state.dedup();
        late.dedup();
        warned.extend(state.iter().cloned());
        warned.extend(late.iter().cloned());
        drop(warned);
        if !state.is_empty() {
            let hint = if self.all_globals {
                "they were created after this Saver; create the Saver after the model and the optimizer"
            } else {
                "save every global variable (VarList::All, the default) or add them to the var_list"
            };
            self.warn(format!(
                "ferroflow warning: this Saver does not save {} non-trainable variable(s) that inference or resumed training needs: {}. A model restored from its checkpoints would lack their values (TF1 users lose batch-norm moving statistics this way); {hint}.",
                state.len(),
                state.join(", ")
            ));
        }
        if !late.is_empty() {
            self.warn(format!(
                "ferroflow warning: {} trainable variable(s) were created after this Saver and are not saved: {}; create the Saver after the whole model is built.",
                late.len(),
                late.join(", ")
            ));
        }
    }

    fn check_session(&self, sess: &Session) -> Result<()> {
        self.graph.check_graph(sess.graph().id(), || "the session passed to the Saver".to_string())
    }

    /// Saves the variables' current values to `prefix-STEP` (or `prefix` with
    /// [`GlobalStep::None`]) and returns that path. TF1: `saver.save(sess, prefix, global_step)`.
    ///
    /// Also writes `prefix-STEP.meta` (unless [`Saver::write_meta_graph`] is off), and the
    /// `checkpoint` state file listing the latest and all kept checkpoints (oldest → newest);
    /// checkpoints beyond `max_to_keep` are deleted. The directory is created if needed. On
    /// the first save into a directory whose state file lists checkpoints of the same prefix
    /// (an earlier run), those are adopted, so trimming goes on across restarts. Entries of
    /// other prefixes in the state file are kept as they are.
    ///
    /// Order: every file is first written to a temporary name and fsynced; then the data and
    /// `.meta` files are renamed into place and the directory is fsynced; only then is the
    /// state file renamed into place. When a save fails (full disk, IO error), it removes
    /// what it wrote and the previous checkpoint and state file stay intact and loadable.
    /// After a successful save it removes what crashed saves of this prefix left in the
    /// directory: temporary files whose writer is gone, and checkpoint files of this prefix
    /// that the state file does not name (see `docs/checkpoints.md`).
    ///
    /// # Errors
    /// A session of another graph, an uninitialized variable (named), a non-integer step
    /// variable, or an IO error naming the file (the save then changed nothing).
    pub fn save(
        &self,
        sess: &Session,
        prefix: impl AsRef<Path>,
        global_step: impl Into<GlobalStep>,
    ) -> Result<PathBuf> {
        self.check_session(sess)?;
        self.check_completeness();
        let prefix = prefix.as_ref();
        let step = match global_step.into() {
            GlobalStep::None => None,
            GlobalStep::Step(s) => Some(s),
            GlobalStep::Variable(v) => Some(step_value(sess, v)?),
        };
        let path = match step {
            Some(s) => {
                let mut os = prefix.as_os_str().to_owned();
                os.push(format!("-{s}"));
                PathBuf::from(os)
            }
            None => prefix.to_path_buf(),
        };
        if path.file_name().is_none() {
            return Err(Error::invalid(format!("Saver::save: '{}' does not name a file", prefix.display())));
        }
        // One consistent view: no training step is half-applied in a checkpoint.
        let vars: Vec<Variable> = self.vars.iter().map(|(_, v)| *v).collect();
        let snapshot = sess.snapshot_variables(&vars)?;
        let values: Vec<(String, Value)> = self.vars.iter().map(|(n, _)| n.clone()).zip(snapshot).collect();
        let (head, payload) = encode_checkpoint(&values)?;
        drop(values);
        let dir = dir_of(&path);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let fault = *self.fault.lock().unwrap_or_else(|e| e.into_inner());
        let own = Prefix::of_save(prefix);

        // One save at a time per Saver: the state file is read, merged and written under it.
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        self.take_over_dir(&mut kept, &dir, own.as_ref());
        if let Some(own) = &own {
            // Before writing: what a killed save left may be the space this one needs.
            let (_, issues) = remove_stale_temps(&dir, own);
            self.warn_cleanup(&issues);
        }

        let stamp = (self.clock)();
        let mut list = kept.checkpoints.clone();
        list.retain(|(p, _)| p != &path);
        list.push((path.clone(), stamp));
        let mut preserved = kept.preserved.clone();
        preserved.retain(|p| p != &path);
        let mut last_preserved = kept.last_preserved;
        let mut delete = Vec::new();
        if self.max_to_keep > 0 {
            while list.len() > self.max_to_keep {
                let (old, ts) = list.remove(0);
                match self.keep_every_n_hours {
                    // TF1: keep it when it is more than n hours after the last preserved one.
                    Some(h) if ts > last_preserved + h * 3600.0 => {
                        last_preserved += h * 3600.0;
                        preserved.push(old);
                    }
                    _ => delete.push(old),
                }
            }
        }
        let rel = |p: &Path| -> String {
            if dir_of(p) == dir {
                p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
            } else {
                // Saved by this Saver into another directory: only an absolute path resolves.
                std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).to_string_lossy().into_owned()
            }
        };
        // Entries of other prefixes (other Savers sharing the directory) stay in the file.
        let managed: HashSet<PathBuf> =
            list.iter().map(|(p, _)| p).chain(&preserved).chain(&delete).filter_map(|p| canonical_entry(p)).collect();
        let (other_kept, other_preserved) = other_entries(&dir, own.as_ref(), &managed);
        let state = CheckpointState {
            model_checkpoint_path: rel(&path),
            all_model_checkpoint_paths: other_kept
                .iter()
                .map(|(p, _)| p.clone())
                .chain(list.iter().map(|(p, _)| rel(p)))
                .collect(),
            all_model_checkpoint_timestamps: other_kept
                .iter()
                .map(|(_, t)| *t)
                .chain(list.iter().map(|(_, t)| *t))
                .collect(),
            last_preserved_timestamp: last_preserved,
            preserved_checkpoint_paths: other_preserved.into_iter().chain(preserved.iter().map(|p| rel(p))).collect(),
            state_version: STATE_VERSION,
        };

        // 1. Everything to temporary files, fsynced. A failure here leaves no trace.
        let crash = fault.is_some_and(|f| {
            f.leave_temp && matches!(f.target, FaultTarget::Checkpoint | FaultTarget::MetaGraph | FaultTarget::State)
        });
        let mut txn = SaveTxn { staged: Vec::with_capacity(3), created: Vec::new(), crash, done: false };
        txn.staged.push(stage(&path, &[&head, &payload], FaultTarget::Checkpoint, fault)?);
        drop(payload);
        if self.write_meta_graph {
            let bytes = MetaGraph::from_graph(&self.graph, Some(self))?.to_bytes()?;
            txn.staged.push(stage(&meta_path(&path), &[&bytes], FaultTarget::MetaGraph, fault)?);
        }
        txn.staged.push(stage_state(&dir, &state, fault)?);

        // 2. Data and meta graph into place, made durable before the state file names them.
        let n_files = txn.staged.len() - 1;
        for s in txn.staged.iter_mut().take(n_files) {
            let existed = std::fs::symlink_metadata(s.path()).is_ok();
            s.commit()?;
            if !existed {
                txn.created.push(s.path().to_path_buf());
            }
        }
        self.sync(&dir, FaultTarget::SyncData, fault).map_err(|e| {
            let msg = format!(
                "could not make the new checkpoint {} durable: the directory fsync failed ({e}); this save's files were removed and the state file still names the previous checkpoint",
                path.display()
            );
            Error::io(&dir, io::Error::new(e.kind(), msg))
        })?;

        // 3. The state file: from here on the new checkpoint is the latest.
        if let Some(s) = txn.staged.last_mut() {
            s.commit()?;
        }
        txn.done = true;
        let durable = match self.sync(&dir, FaultTarget::SyncState, fault) {
            Ok(()) => true,
            Err(e) => {
                // The new state file is in place and the files it names are durable, but a power
                // loss may bring back the previous state file: keep what it names (nothing is
                // deleted now; a later save removes it as orphans).
                self.warn(format!(
                    "ferroflow warning: saved {}, but the directory {} could not be synced after the state file update ({e}); old checkpoints were not deleted this time",
                    path.display(),
                    dir.display()
                ));
                false
            }
        };
        kept.checkpoints = list;
        kept.preserved = preserved;
        kept.last_preserved = last_preserved;

        // 4. Trim, then remove orphans of this prefix (files the state file does not name).
        if durable {
            let mut issues = Vec::new();
            for old in delete {
                for f in [old.clone(), meta_path(&old)] {
                    if let Err(e) = std::fs::remove_file(&f) {
                        if e.kind() != io::ErrorKind::NotFound {
                            issues.push((f, e));
                        }
                    }
                }
            }
            let vouched = kept.dirs.contains(&canonical_dir(&dir));
            if let Some(own) = own.as_ref().filter(|_| vouched) {
                let named = canonical_set(&dir, state.named());
                match orphans(&dir, own, &named) {
                    Ok(files) => {
                        for f in files {
                            if let Err(e) = std::fs::remove_file(&f) {
                                if e.kind() != io::ErrorKind::NotFound {
                                    issues.push((f, e));
                                }
                            }
                        }
                    }
                    Err(e) => issues.push((dir.clone(), e)),
                }
            }
            self.warn_cleanup(&issues);
        }
        drop(kept);
        Ok(path)
    }

    /// The directory fsync of a save (with the test hook for its failure).
    fn sync(&self, dir: &Path, target: FaultTarget, fault: Option<WriteFault>) -> io::Result<()> {
        if fault.is_some_and(|f| f.target == target) {
            return Err(io::Error::other("simulated fsync failure"));
        }
        sync_dir(dir)
    }

    fn warn_cleanup(&self, issues: &[(PathBuf, io::Error)]) {
        for (f, e) in issues {
            self.warn(format!(
                "ferroflow warning: could not delete {} (an old checkpoint or what a crashed save left): {e}",
                f.display()
            ));
        }
    }

    /// On the first save into `dir`: take over what its state file and files say.
    ///
    /// - On the Saver's first save at all, the kept list of an earlier run with the same
    ///   prefix (entries whose files still exist), so trimming goes on across restarts. In a
    ///   later directory, those entries become preserved instead (one kept list per Saver).
    /// - Preserved checkpoints of the prefix listed there.
    /// - When the state file is missing, damaged or of version 1 (it may not list preserved
    ///   checkpoints), every checkpoint of the prefix it does not name is taken as preserved,
    ///   with a warning: only files that appear unnamed next to a version-2 state file are
    ///   ever deleted as orphans.
    fn take_over_dir(&self, kept: &mut Kept, dir: &Path, own: Option<&Prefix>) {
        let key = canonical_dir(dir);
        if !kept.dirs.insert(key.clone()) {
            return;
        }
        let first = !std::mem::replace(&mut kept.adopted, true);
        let Some(own) = own else { return };
        let st = match read_state(dir) {
            Ok(st) => st,
            Err(e) => {
                self.warn(format!(
                    "ferroflow warning: ignoring the damaged checkpoint state file; it will be rewritten: {e}"
                ));
                None
            }
        };
        // An entry of this prefix whose checkpoint (or, for preserved ones, at least its
        // `.meta`) still exists.
        let mine = |entry: &str, or_meta: bool| {
            let p = resolve(dir, entry);
            let exists = p.is_file() || (or_meta && meta_path(&p).is_file());
            (p.file_name().and_then(|f| f.to_str()).is_some_and(|n| own.names(n)) && exists).then_some(p)
        };
        if let Some(st) = &st {
            for (i, entry) in st.all_model_checkpoint_paths.iter().enumerate() {
                let Some(p) = mine(entry, false) else { continue };
                if first {
                    let ts = st.all_model_checkpoint_timestamps.get(i).copied().unwrap_or(0.0);
                    kept.checkpoints.push((p, ts));
                } else if !kept.preserved.contains(&p) && !kept.checkpoints.iter().any(|(k, _)| k == &p) {
                    kept.preserved.push(p);
                }
            }
            for entry in &st.preserved_checkpoint_paths {
                if let Some(p) = mine(entry, true) {
                    if !kept.preserved.contains(&p) {
                        kept.preserved.push(p);
                    }
                }
            }
            if first && st.last_preserved_timestamp > 0.0 {
                kept.last_preserved = st.last_preserved_timestamp;
            }
        }
        if st.as_ref().is_some_and(|s| s.state_version >= STATE_VERSION) {
            return;
        }
        let named = canonical_set(dir, st.iter().flat_map(|s| s.named()));
        let ours: HashSet<PathBuf> =
            kept.checkpoints.iter().map(|(p, _)| p).chain(&kept.preserved).filter_map(|p| canonical_entry(p)).collect();
        let found = match checkpoint_files(dir, own) {
            Ok(found) => found,
            Err(e) => {
                // Cannot tell what is there: no orphan removal in this directory until a later
                // save can look (see `vouched`).
                self.warn(format!("ferroflow warning: could not list the checkpoint directory {}: {e}", dir.display()));
                kept.dirs.remove(&key);
                return;
            }
        };
        let mut taken = Vec::new();
        for (ckpt, _) in found {
            let p = dir.join(&ckpt);
            let canon = canonical_entry(&p);
            if canon.as_ref().is_some_and(|c| !ours.contains(c) && !named.contains(c)) {
                kept.preserved.push(p);
                taken.push(ckpt);
            }
        }
        if !taken.is_empty() {
            self.warn(format!(
                "ferroflow warning: the checkpoint state file of {} does not account for {} checkpoint(s) of this prefix: {} (it is missing, damaged, or from an older ferroflow); they are kept as preserved checkpoints and never deleted automatically",
                dir.display(),
                taken.len(),
                taken.join(", ")
            ));
        }
    }

    /// Restores the saved variables from the checkpoint at `path` (restoring counts as
    /// initialization). TF1: `saver.restore(sess, path)`.
    ///
    /// Everything is checked before anything changes: when restore fails the session is
    /// exactly as before. After reading the file it removes, silently and as far as it can,
    /// temporary files of that checkpoint's prefix left in its directory by crashed saves
    /// (never a file a live writer holds, never a checkpoint).
    ///
    /// # Errors
    /// - [`Error::Io`]: the file is missing or unreadable;
    /// - [`Error::Format`]: not a ferroflow checkpoint, truncated, checksum mismatch, or a
    ///   format version from the future (naming the ferroflow release that wrote it);
    /// - [`Error::Variable`]: a variable missing from the checkpoint (with the names it holds),
    ///   or a dtype or shape mismatch (both named);
    /// - a session of another graph.
    pub fn restore(&self, sess: &Session, path: impl AsRef<Path>) -> Result<()> {
        self.check_session(sess)?;
        let path = path.as_ref();
        let ckpt = load_checkpoint(path)?;
        // Best effort, silent (the directory may be read-only): temporary files of this
        // checkpoint's prefix whose writer is gone.
        if let Some(p) = Prefix::of_checkpoint(path) {
            let _ = remove_stale_temps(&dir_of(path), &p);
        }
        let mut tensors = ckpt.into_tensors();
        let missing: Vec<&(String, Variable)> = self.vars.iter().filter(|(n, _)| !tensors.contains_key(n)).collect();
        if let Some((name, var)) = missing.first() {
            let also = if missing.len() > 1 {
                let rest: Vec<&str> = missing.iter().skip(1).take(8).map(|(n, _)| n.as_str()).collect();
                format!(
                    " ({} more are missing too: {}{})",
                    missing.len() - 1,
                    rest.join(", "),
                    if missing.len() > 9 { ", …" } else { "" }
                )
            } else {
                String::new()
            };
            let under = if *name != var.name(sess)? { format!(" under the name '{name}'") } else { String::new() };
            return Err(Error::Variable {
                name: var.name(sess)?,
                message: format!(
                    "not found{under} in checkpoint {}{also}; it holds {}. Either restore only what it holds \
                     (a Saver with a var_list of those variables, or a map from their saved names) and initialize the \
                     rest with variables_initializer(&rest), or, if the variable was renamed, map the old name to it",
                    path.display(),
                    describe_names(tensors.keys().map(String::as_str).collect(), name)
                ),
            });
        }
        let mut values = Vec::with_capacity(self.vars.len());
        for (name, var) in &self.vars {
            let Some(val) = tensors.remove(name) else { continue };
            let spec = self.graph.spec(var.value())?;
            let from = if *name != var.name(sess)? { format!(" (saved as '{name}')") } else { String::new() };
            if spec.dtype != val.dtype() {
                return Err(Error::Variable {
                    name: var.name(sess)?,
                    message: format!(
                        "dtype mismatch: the variable is {} but checkpoint {} holds {}{from}",
                        spec.dtype,
                        path.display(),
                        val.dtype()
                    ),
                });
            }
            if !spec.shape.accepts(val.shape()) {
                return Err(Error::Variable {
                    name: var.name(sess)?,
                    message: format!(
                        "shape mismatch: the variable has shape {} but checkpoint {} holds shape {:?}{from}",
                        spec.shape,
                        path.display(),
                        val.shape()
                    ),
                });
            }
            values.push((*var, val));
        }
        sess.set_variable_values(values)?;
        self.warn_uninitialized_rest(sess);
        Ok(())
    }

    /// After a restore of a partial var list: name the graph's global variables that are still
    /// uninitialized (the next run reading them would fail), and say how to initialize them.
    fn warn_uninitialized_rest(&self, sess: &Session) {
        let rest: Vec<String> = self
            .graph
            .global_variables()
            .into_iter()
            .filter(|v| !sess.is_initialized(*v))
            .filter_map(|v| v.name(&self.graph).ok())
            .collect();
        if rest.is_empty() {
            return;
        }
        let shown: Vec<&str> = rest.iter().take(8).map(String::as_str).collect();
        self.warn(format!(
            "ferroflow warning: the checkpoint restored this Saver's variables, but {} global variable(s) of the graph are still uninitialized ({}{}); run variables_initializer(&[…]) on them before a run reads them",
            rest.len(),
            shown.join(", "),
            if rest.len() > 8 { ", …" } else { "" }
        ));
    }

    /// Writes this Saver's graph, with the Saver's variable list and settings, as a meta
    /// graph. TF1: `saver.export_meta_graph(path)`.
    ///
    /// # Errors
    /// An op that cannot be serialized (named), or an IO error.
    pub fn export_meta_graph(&self, path: impl AsRef<Path>) -> Result<()> {
        let fault = *self.fault.lock().unwrap_or_else(|e| e.into_inner());
        MetaGraph::from_graph(&self.graph, Some(self))?.write(path.as_ref(), fault)
    }

    /// A Saver rebuilt from a meta graph (no completeness warning of its own beyond the usual).
    pub(crate) fn from_parts(
        graph: &Graph,
        vars: Vec<(String, Variable)>,
        max_to_keep: usize,
        keep_hours: Option<f64>,
        write_meta_graph: bool,
    ) -> Result<Saver> {
        let mut s = Saver::new(graph, VarList::Map(vars))?.max_to_keep(max_to_keep).write_meta_graph(write_meta_graph);
        if let Some(h) = keep_hours {
            s = s.keep_checkpoint_every_n_hours(h);
        }
        Ok(s)
    }
}

/// The state-file entries of `dir` that belong to other prefixes than `own` and that this
/// Saver does not manage itself (`managed`, canonical paths; one Saver may save under
/// several prefixes): kept ones with their timestamps, and preserved ones. Without a usable
/// prefix nothing is merged.
fn other_entries(dir: &Path, own: Option<&Prefix>, managed: &HashSet<PathBuf>) -> (Vec<(String, f64)>, Vec<String>) {
    let (Some(own), Ok(Some(st))) = (own, read_state(dir)) else { return Default::default() };
    let theirs = |e: &String| {
        let p = resolve(dir, e);
        !p.file_name().and_then(|f| f.to_str()).is_some_and(|n| own.names(n))
            && !canonical_entry(&p).is_some_and(|c| managed.contains(&c))
    };
    let kept = st
        .all_model_checkpoint_paths
        .iter()
        .enumerate()
        .filter(|(_, e)| theirs(e))
        .map(|(i, e)| (e.clone(), st.all_model_checkpoint_timestamps.get(i).copied().unwrap_or(0.0)))
        .collect();
    let preserved = st.preserved_checkpoint_paths.iter().filter(|e| theirs(e)).cloned().collect();
    (kept, preserved)
}

/// The key of a directory in `Kept::dirs`.
fn canonical_dir(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// `ckpt` → `ckpt.meta`.
pub(crate) fn meta_path(ckpt: &Path) -> PathBuf {
    let mut os = ckpt.as_os_str().to_owned();
    os.push(".meta");
    PathBuf::from(os)
}

fn step_value(sess: &Session, v: Variable) -> Result<i64> {
    let val = sess.variable_value(v)?;
    let name = v.name(sess)?;
    let bad = || Error::Variable {
        name: name.clone(),
        message: format!(
            "cannot be used as the global step: it is {} {:?}, not an integer scalar",
            val.dtype(),
            val.shape()
        ),
    };
    match &val {
        Value::I64(_) => val.scalar::<i64>().map_err(|_| bad()),
        Value::I32(_) => val.scalar::<i32>().map(i64::from).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// "the 3 names a, b, c; closest: 'x'" for error messages.
fn describe_names(mut names: Vec<&str>, wanted: &str) -> String {
    names.sort_unstable();
    if names.is_empty() {
        return "no variables".into();
    }
    let leaf = wanted.rsplit('/').next().unwrap_or(wanted);
    let close = names.iter().find(|n| n.rsplit('/').next() == Some(leaf) || n.contains(wanted) || wanted.contains(**n));
    let shown: Vec<&str> = names.iter().take(10).copied().collect();
    let more = if names.len() > 10 { format!(", … ({} in all)", names.len()) } else { String::new() };
    let hint = close.map(|c| format!("; did you mean '{c}'?")).unwrap_or_default();
    format!("{} variable(s): {}{more}{hint}", names.len(), shown.join(", "))
}

/// Reads and checks a whole checkpoint file. TF1: `tf.train.load_checkpoint(path)`.
///
/// # Errors
/// As [`Saver::restore`]'s file errors.
pub fn load_checkpoint(path: impl AsRef<Path>) -> Result<Checkpoint> {
    let path = path.as_ref();
    let bytes = read_file(path, FileKind::Checkpoint)?;
    decode_checkpoint(&bytes, path)
}

/// Name, dtype and shape of every tensor in a checkpoint. TF1: `tf.train.list_variables`.
pub fn list_variables(path: impl AsRef<Path>) -> Result<Vec<(String, ferroflow_core::DType, Vec<usize>)>> {
    Ok(load_checkpoint(path)?.list())
}
