//! `Session`: the variable store, random streams, plan cache and the executor.

use crate::plan::{Plan, Scratch, Slot};
use crate::trace::{RunMetadata, RunOptions, TraceLevel, Tracer};
use crate::variables::{get_cell, set_cell, update_cell, VariableStore};
use ferroflow_core::{
    Error, Graph, KernelCtx, Operation, Result, Runtime, Tensor, Value, Variable, TRAIN_OP, UPDATE_OPS,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

/// Something to fetch: a tensor (its value is returned) or an op (run for its effect).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fetch {
    /// Return this tensor's value.
    Tensor(Tensor),
    /// Run this op; nothing is returned for it.
    Operation(Operation),
}

impl From<Tensor> for Fetch {
    fn from(t: Tensor) -> Self {
        Fetch::Tensor(t)
    }
}
impl From<&Tensor> for Fetch {
    fn from(t: &Tensor) -> Self {
        Fetch::Tensor(*t)
    }
}
impl From<Operation> for Fetch {
    fn from(o: Operation) -> Self {
        Fetch::Operation(o)
    }
}
impl From<&Operation> for Fetch {
    fn from(o: &Operation) -> Self {
        Fetch::Operation(*o)
    }
}
impl From<ferroflow_core::Variable> for Fetch {
    fn from(v: ferroflow_core::Variable) -> Self {
        Fetch::Tensor(v.value())
    }
}

/// Session settings.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Warn (once per fetch set) when a train op runs while ops in `UPDATE_OPS` do not run with
    /// it: the TF1 trap that leaves batch-norm moving statistics at their initial values.
    /// Default `true`.
    pub warn_unrun_update_ops: bool,
    /// Seed for random ops that have neither a graph nor an op seed. `None` (default) draws
    /// one from the OS, as TF1 does.
    pub seed: Option<u64>,
    /// Run the graph optimizer when a plan is built (TF1: Grappler, on by default): composites
    /// such as `moments` and `batch_normalization` run as one fused kernel when nobody reads
    /// their intermediates (`docs/graph-optimizer.md`). Default `true`, or `false` when the
    /// environment variable `FERROFLOW_GRAPH_OPTIMIZATIONS` is `0` or `off`.
    pub graph_optimizations: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        let env_off =
            std::env::var("FERROFLOW_GRAPH_OPTIMIZATIONS").is_ok_and(|v| matches!(v.trim(), "0" | "off" | "false"));
        SessionOptions { warn_unrun_update_ops: true, seed: None, graph_optimizations: !env_off }
    }
}

impl SessionOptions {
    /// These options with the graph optimizer on or off. TF1:
    /// `ConfigProto(graph_options=GraphOptions(rewrite_options=...))`.
    pub fn graph_optimizations(mut self, on: bool) -> SessionOptions {
        self.graph_optimizations = on;
        self
    }
}

type PlanKey = (Vec<Fetch>, Vec<Tensor>);

/// Runs a graph. TF1: `tf.Session`.
///
/// ```
/// use ferroflow_core::{DType, Graph, shape};
/// use ferroflow_ops::{math, state};
/// use ferroflow_session::{feed_dict, Session};
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = state::placeholder(&s.with_name("x"), DType::F32, shape![None])?;
/// let y = math::mul(&s, x, 2.0f32)?;
/// let sess = Session::new(&g);
/// let out = sess.run([y], &feed_dict![x => vec![1.0f32, 2.0]])?;
/// assert_eq!(out[0].to_vec::<f32>()?, vec![2.0, 4.0]);
/// # Ok(()) }
/// ```
pub struct Session {
    graph: Graph,
    options: SessionOptions,
    session_seed: u64,
    variables: VariableStore,
    rngs: Mutex<HashMap<Operation, StdRng>>,
    /// Cached plans with the graph version they were built at.
    plans: RwLock<HashMap<PlanKey, (u64, Arc<Plan>)>>,
    warnings: Mutex<Vec<String>>,
    /// Layers the UPDATE_OPS warning has named already (it names each once per session).
    warned_update_layers: Mutex<Vec<String>>,
}

impl Session {
    /// A session on `graph` with default options.
    pub fn new(graph: &Graph) -> Session {
        Session::with_options(graph, SessionOptions::default())
    }

    /// A session with explicit options.
    pub fn with_options(graph: &Graph, options: SessionOptions) -> Session {
        let session_seed = options.seed.unwrap_or_else(rand::random);
        Session {
            graph: graph.clone(),
            options,
            session_seed,
            variables: VariableStore::default(),
            rngs: Mutex::new(HashMap::new()),
            plans: RwLock::new(HashMap::new()),
            warnings: Mutex::new(Vec::new()),
            warned_update_layers: Mutex::new(Vec::new()),
        }
    }

    /// The graph this session runs.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Runs the subgraph needed for `fetches`, with `feeds` replacing tensors' values.
    /// Returns one value per fetch, in fetch order. An op fetch (run for its effect, TF1
    /// returns `None` for it) holds an empty `f32` value of shape `[0]`, so it never shifts
    /// the positions of the fetches after it: `sess.run([Fetch::from(train_op), loss.into()],
    /// feeds)?[1]` is the loss. For typed results (`(f32, f32)`, arrays, `()` for ops) see
    /// [`Session::fetch`].
    ///
    /// Each node runs at most once per call. A fed tensor is not computed. Ops created inside
    /// a cond branch run only when it is taken.
    ///
    /// # Errors
    /// A fetch or feed from another graph, a fed value of the wrong dtype/shape, an unfed
    /// placeholder, an uninitialized variable, a kernel failure (naming the node), or a fetch
    /// inside a cond branch that did not run.
    pub fn run<I, F>(&self, fetches: I, feeds: &[(Tensor, Value)]) -> Result<Vec<Value>>
    where
        I: IntoIterator<Item = F>,
        F: Into<Fetch>,
    {
        self.run_with_options(fetches, feeds, RunOptions::default()).map(|(v, _)| v)
    }

    /// [`Session::run`] with run options; returns the fetched values and what the run recorded
    /// (empty unless `options.trace_level` is [`TraceLevel::Full`]). TF1:
    /// `sess.run(fetches, feed_dict, options=run_options, run_metadata=run_metadata)`.
    ///
    /// ```
    /// use ferroflow_core::{DType, Graph, shape};
    /// use ferroflow_ops::{math, state};
    /// use ferroflow_session::{feed_dict, RunOptions, Session};
    /// # fn main() -> ferroflow_core::Result<()> {
    /// let g = Graph::new();
    /// let s = g.root();
    /// let x = state::placeholder(&s.with_name("x"), DType::F32, shape![None])?;
    /// let y = math::mul(&s.with_name("double"), x, 2.0f32)?;
    /// let (_, meta) = Session::new(&g).run_with_options([y], &feed_dict![x => vec![1.0f32]], RunOptions::full_trace())?;
    /// assert!(meta.nodes.iter().any(|n| n.name == "double"));
    /// println!("{}", meta.op_type_table());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Session::run`].
    pub fn run_with_options<I, F>(
        &self,
        fetches: I,
        feeds: &[(Tensor, Value)],
        options: RunOptions,
    ) -> Result<(Vec<Value>, RunMetadata)>
    where
        I: IntoIterator<Item = F>,
        F: Into<Fetch>,
    {
        let fetches: Vec<Fetch> = fetches.into_iter().map(Into::into).collect();
        self.check_request(&fetches, feeds.iter().map(|(t, _)| t))?;
        let mut feed_order: Vec<usize> = (0..feeds.len()).collect();
        feed_order.sort_by_key(|&i| feeds[i].0);
        let feed_keys: Vec<Tensor> = feed_order.iter().map(|&i| feeds[i].0).collect();
        if let Some(w) = feed_keys.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::FedTwice { name: w[0].name(&self.graph)? });
        }
        // Validate feeds against the static specs.
        self.graph.read(|st| -> Result<()> {
            for (t, v) in feeds {
                let spec = st.spec(*t)?;
                if spec.dtype != v.dtype() || !spec.shape.accepts(v.shape()) {
                    let node = st.node(t.op())?;
                    return Err(Error::FeedMismatch {
                        name: format!("{}:{}", node.name, t.index()),
                        op: node.op.type_name().to_string(),
                        expected_dtype: spec.dtype,
                        expected_shape: spec.shape.clone(),
                        got_dtype: v.dtype(),
                        got_shape: v.shape().to_vec(),
                    });
                }
            }
            Ok(())
        })?;
        let plan = self.plan(fetches, feed_keys)?;
        let sorted_values: Vec<&Value> = feed_order.iter().map(|&i| &feeds[i].1).collect();
        self.execute_with(&plan, &sorted_values, options)
    }

    /// Every fetch and feed handle belongs to this session's graph.
    pub(crate) fn check_request<'t>(&self, fetches: &[Fetch], feeds: impl Iterator<Item = &'t Tensor>) -> Result<()> {
        for f in fetches {
            let (g, what) = match f {
                Fetch::Tensor(t) => (t.graph_id(), format!("fetch {t:?}")),
                Fetch::Operation(o) => (o.graph_id(), format!("fetch {o:?}")),
            };
            self.graph.check_graph(g, || what)?;
        }
        for t in feeds {
            self.graph.check_graph(t.graph_id(), || format!("feed {t:?}"))?;
        }
        Ok(())
    }

    /// Runs ops for their effect only (e.g. an initializer or a train op).
    pub fn run_ops(&self, ops: &[Operation], feeds: &[(Tensor, Value)]) -> Result<()> {
        self.run(ops.iter().copied(), feeds).map(|_| ())
    }

    /// The compiled plan for these fetches and feed keys (cached).
    pub fn plan_for(&self, fetches: &[Fetch], feeds: &[Tensor]) -> Result<Arc<Plan>> {
        let mut keys = feeds.to_vec();
        keys.sort();
        self.plan(fetches.to_vec(), keys)
    }

    /// Number of cached plans (one per distinct fetch/feed set).
    pub fn num_cached_plans(&self) -> usize {
        self.plans.read().map(|p| p.len()).unwrap_or(0)
    }

    /// The cached plan for `(fetches, feeds)`, rebuilt when the graph changed since it was
    /// built (a control input added to an existing op), so a stale plan never runs.
    fn plan(&self, fetches: Vec<Fetch>, feed_keys: Vec<Tensor>) -> Result<Arc<Plan>> {
        self.plan_at_version(fetches, feed_keys).map(|(_, p)| p)
    }

    /// [`Session::plan`] with the graph version the plan was built at.
    pub(crate) fn plan_at_version(&self, fetches: Vec<Fetch>, feed_keys: Vec<Tensor>) -> Result<(u64, Arc<Plan>)> {
        let key = (fetches, feed_keys);
        let version = self.graph.read(|st| st.version());
        if let Some((v, p)) = self.plans.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            if *v == version {
                return Ok((version, p.clone()));
            }
        }
        let gid = self.graph.id();
        let (version, plan) = self.graph.read(|st| {
            Plan::build(st, gid, &key.0, &key.1, self.options.graph_optimizations).map(|mut p| {
                p.resolve_variables(&self.variables);
                (st.version(), Arc::new(p))
            })
        })?;
        if self.options.warn_unrun_update_ops {
            self.check_update_ops(&plan);
        }
        self.graph.log_warnings();
        let mut plans = self.plans.write().unwrap_or_else(|e| e.into_inner());
        plans.retain(|_, (v, _)| *v == version);
        plans.insert(key, (version, plan.clone()));
        Ok((version, plan))
    }

    /// The UPDATE_OPS trap: a train op runs but the update ops do not.
    fn check_update_ops(&self, plan: &Plan) {
        let train_ops: HashSet<Operation> = self.graph.collection_ops(&TRAIN_OP).into_iter().collect();
        let ran: HashSet<Operation> = plan.ops().iter().copied().collect();
        if !train_ops.iter().any(|t| ran.contains(t)) {
            return;
        }
        let missing: Vec<String> = self
            .graph
            .collection_ops(&UPDATE_OPS)
            .into_iter()
            .filter(|u| !ran.contains(u))
            .filter_map(|u| u.name(&self.graph).ok())
            .collect();
        if missing.is_empty() {
            return;
        }
        let mut layers: Vec<String> = Vec::new();
        for n in &missing {
            let layer = n.rsplit_once('/').map(|(p, _)| p.to_string()).unwrap_or_else(|| n.clone());
            if !layers.contains(&layer) {
                layers.push(layer);
            }
        }
        // Once per session: a later fetch set warns only about layers not named before.
        let mut warned = self.warned_update_layers.lock().unwrap_or_else(|e| e.into_inner());
        layers.retain(|l| !warned.contains(l));
        if layers.is_empty() {
            return;
        }
        warned.extend(layers.iter().cloned());
        let msg = format!(
            "ferroflow warning: a train op runs but the UPDATE_OPS of {} layer(s) do not run with it, so their moving statistics will never update and inference will use their initial values: {}. Build the train op inside `s.control_dependencies(&g.collection_ops(&UPDATE_OPS), ...)` (TF1 pattern), fetch the update ops too, or turn this off with SessionOptions::warn_unrun_update_ops = false.",
            layers.len(),
            layers.join(", ")
        );
        log::warn!(target: "ferroflow", "{msg}");
        self.warnings.lock().unwrap_or_else(|e| e.into_inner()).push(msg);
    }

    /// Warnings this session has emitted (also logged with `log::warn!`, target `ferroflow`).
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// Executes `plan`, tracing it when the options ask for it.
    pub(crate) fn execute_with(
        &self,
        plan: &Plan,
        feeds: &[&Value],
        options: RunOptions,
    ) -> Result<(Vec<Value>, RunMetadata)> {
        match options.trace_level {
            TraceLevel::None => self.execute(plan, feeds, None).map(|v| (v, RunMetadata::default())),
            TraceLevel::Full => {
                let mut tracer = Tracer::new();
                let values = self.execute(plan, feeds, Some(&mut tracer))?;
                Ok((values, tracer.finish()))
            }
        }
    }

    pub(crate) fn execute(&self, plan: &Plan, feeds: &[&Value], tracer: Option<&mut Tracer>) -> Result<Vec<Value>> {
        // A run that writes variables holds the store's gate shared, so a snapshot (Saver)
        // falls between two such runs, never inside one.
        let _pass = plan.writes_state.then(|| self.variables.writer_pass());
        let mut scratch = plan.checkout();
        let out = self.execute_in(plan, feeds, tracer, &mut scratch);
        plan.checkin(scratch);
        out
    }

    /// One run of `plan` in `scratch` (slots, input list and buffer pool reused across runs).
    fn execute_in(
        &self,
        plan: &Plan,
        feeds: &[&Value],
        mut tracer: Option<&mut Tracer>,
        scratch: &mut Scratch,
    ) -> Result<Vec<Value>> {
        let runtime = PlanRuntime { session: self, plan };
        let Scratch { slots, predicates, inputs: input_buf, pool } = scratch;
        let read_ref = |k: usize| -> Result<Value> {
            let step = plan.steps.get(k).ok_or_else(|| Error::invalid(format!("internal: no step {k}")))?;
            match &step.cell {
                Some(c) => match get_cell(c) {
                    Some(v) => Ok(v),
                    None => Err(Error::UninitializedVariable { name: step.op.name(&self.graph)? }),
                },
                None => self.read_variable(step.op),
            }
        };
        let read = |slot: &Slot| -> Result<Option<Value>> {
            match slot {
                Slot::Live(v) => Ok(Some(v.clone())),
                Slot::Ref(k) => read_ref(*k).map(Some),
                _ => Ok(None),
            }
        };
        for ((_, s), v) in plan.feed_slots.iter().zip(feeds) {
            if let Some(t) = tracer.as_deref_mut() {
                t.hold(value_bytes(v));
            }
            slots[*s] = Slot::Live((*v).clone());
        }
        // Each cond predicate is read once per run, not once per guarded node.
        for (index, step) in plan.steps.iter().enumerate() {
            let mut alive = true;
            for guard in &step.guards {
                let known = predicates.get(guard.slot).copied().flatten();
                let value = match known {
                    Some(p) => Some(p),
                    None => match read(&slots[guard.slot])? {
                        Some(v) => {
                            let p = v.scalar::<bool>().map_err(|_| Error::CondPredicate {
                                cond: guard.cond.0.clone(),
                                predicate: guard
                                    .cond
                                    .1
                                    .name(&self.graph)
                                    .unwrap_or_else(|_| format!("{:?}", guard.cond.1)),
                                dtype: v.dtype(),
                                shape: v.shape().to_vec(),
                            })?;
                            if let Some(c) = predicates.get_mut(guard.slot) {
                                *c = Some(p);
                            }
                            Some(p)
                        }
                        None => None,
                    },
                };
                match value {
                    Some(p) => {
                        if p != guard.branch {
                            alive = false;
                            break;
                        }
                    }
                    None => {
                        alive = false;
                        break;
                    }
                }
            }
            if alive && step.is_variable {
                for s in step.outputs.iter().flatten() {
                    slots[*s] = Slot::Ref(index);
                }
                if let Some(t) = tracer.as_deref_mut() {
                    let now = t.now_us();
                    t.record(&step.name, step.type_name, now, 0);
                }
            } else if alive {
                let mut inputs = std::mem::take(input_buf);
                inputs.clear();
                for inp in &step.inputs {
                    let Some((s, take)) = inp else {
                        inputs.push(None);
                        continue;
                    };
                    let v = if *take {
                        match std::mem::replace(&mut slots[*s], Slot::Empty) {
                            Slot::Live(v) => {
                                if let Some(t) = tracer.as_deref_mut() {
                                    t.drop_bytes(value_bytes(&v));
                                }
                                Some(v)
                            }
                            Slot::Ref(k) => Some(read_ref(k)?),
                            _ => None,
                        }
                    } else {
                        read(&slots[*s])?
                    };
                    if v.is_none() && !step.kernel.accepts_dead_inputs() {
                        alive = false;
                    }
                    inputs.push(v);
                }
                if alive {
                    let started = tracer.as_ref().map(|t| t.now_us());
                    let mut cx = KernelCtx::new(step.op, &step.name, step.type_name, inputs, &step.handles, &runtime)
                        .with_pool(pool);
                    let outs = step.kernel.compute(&mut cx).map_err(|e| cx.wrap(e))?;
                    if let (Some(t), Some(start)) = (tracer.as_deref_mut(), started) {
                        let bytes: usize = outs.iter().map(value_bytes).sum();
                        let held: usize = outs
                            .iter()
                            .zip(&step.outputs)
                            .filter(|(_, s)| s.is_some())
                            .map(|(v, _)| value_bytes(v))
                            .sum();
                        t.record(&step.name, step.type_name, start, bytes);
                        t.hold(held);
                    }
                    if outs.len() != step.outputs.len() {
                        return Err(cx.error(format!(
                            "kernel returned {} outputs, expected {}",
                            outs.len(),
                            step.outputs.len()
                        )));
                    }
                    for (k, (v, slot)) in outs.into_iter().zip(&step.outputs).enumerate() {
                        if let Some(Some(spec)) = step.output_specs.get(k) {
                            if spec.dtype != v.dtype() || !spec.shape.accepts(v.shape()) {
                                return Err(cx.error(format!(
                                    "output {k} is {} {:?}, but its static spec is {}",
                                    v.dtype(),
                                    v.shape(),
                                    spec
                                )));
                            }
                        }
                        match slot {
                            Some(s) => slots[*s] = Slot::Live(v),
                            // An output nobody reads goes straight back to the pool.
                            None => {
                                cx.recycle(v);
                            }
                        }
                    }
                    inputs = cx.into_inputs();
                }
                // Inputs the kernel did not take (or a partial list when a dead input
                // stopped the step): recycle what nothing else holds.
                for v in inputs.drain(..).flatten() {
                    pool.put(v);
                }
                *input_buf = inputs;
            }
            if !alive {
                for s in step.outputs.iter().flatten() {
                    slots[*s] = Slot::Dead;
                }
            }
            for s in &step.release {
                if let Slot::Live(v) = std::mem::replace(&mut slots[*s], Slot::Empty) {
                    if let Some(t) = tracer.as_deref_mut() {
                        t.drop_bytes(value_bytes(&v));
                    }
                    pool.put(v);
                }
            }
        }
        let mut out = Vec::with_capacity(plan.fetch_slots.len());
        for fetch in &plan.fetch_slots {
            let Some((t, s)) = fetch else {
                out.push(op_fetch_value());
                continue;
            };
            match read(&slots[*s])? {
                Some(v) => out.push(v),
                None => return Err(Error::DeadFetch { name: t.name(&self.graph)? }),
            }
        }
        Ok(out)
    }

    /// The current value of a variable, without running the graph.
    pub fn variable_value(&self, v: Variable) -> Result<Value> {
        self.read_variable(v.op())
    }

    /// True when the variable holds a value.
    pub fn is_initialized(&self, v: Variable) -> bool {
        self.variables.get(v.op()).is_some()
    }

    /// The values of `vars` from one consistent point: taken between runs that write
    /// variables, never in the middle of one, so no snapshot mixes two training steps. Runs
    /// that only read (inference) go on meanwhile. Used by `Saver::save`.
    ///
    /// # Errors
    /// A variable of another graph, or an uninitialized variable (named).
    pub fn snapshot_variables(&self, vars: &[Variable]) -> Result<Vec<Value>> {
        for v in vars {
            self.graph.check_graph(v.op().graph_id(), || format!("variable {v:?}"))?;
        }
        let ops: Vec<Operation> = vars.iter().map(|v| v.op()).collect();
        self.variables.snapshot(&self.graph, &ops)
    }

    /// Sets variables directly, all or nothing: every value is checked against its variable's
    /// dtype and static shape before any is stored. Used by `Saver::restore`.
    pub fn set_variable_values(&self, values: Vec<(Variable, Value)>) -> Result<()> {
        for (v, val) in &values {
            self.graph.check_graph(v.op().graph_id(), || format!("variable {v:?}"))?;
            let spec = self.graph.spec(v.value())?;
            if spec.dtype != val.dtype() || !spec.shape.accepts(val.shape()) {
                return Err(Error::Variable {
                    name: v.name(&self.graph)?,
                    message: format!(
                        "cannot set it to a {} value of shape {:?}; it is {}",
                        val.dtype(),
                        val.shape(),
                        spec
                    ),
                });
            }
        }
        self.variables.set_all(values.into_iter().map(|(v, val)| (v.op(), val)).collect());
        Ok(())
    }
}

/// What an op fetch's position holds in [`Session::run`]'s result: an empty `f32` value of
/// shape `[0]` (TF1 returns `None` there). It keeps the positions of the later fetches.
pub(crate) fn op_fetch_value() -> Value {
    Value::from(Vec::<f32>::new())
}

/// Bytes of a value's elements.
fn value_bytes(v: &Value) -> usize {
    v.len() * ferroflow_core::value::dtype_size(v.dtype())
}

/// The runtime kernels of one plan see: variables the plan resolved are reached through
/// their cells (no store lookup), anything else through the session.
struct PlanRuntime<'s> {
    session: &'s Session,
    plan: &'s Plan,
}

impl Runtime for PlanRuntime<'_> {
    fn read_variable(&self, var: Operation) -> Result<Value> {
        match self.plan.cell_of(var) {
            Some(c) => match get_cell(c) {
                Some(v) => Ok(v),
                None => Err(Error::UninitializedVariable { name: var.name(&self.session.graph)? }),
            },
            None => self.session.read_variable(var),
        }
    }

    fn write_variable(&self, var: Operation, value: Value) -> Result<()> {
        match self.plan.cell_of(var) {
            Some(c) => {
                set_cell(c, value);
                Ok(())
            }
            None => self.session.write_variable(var, value),
        }
    }

    fn update_variable(&self, var: Operation, f: &mut dyn FnMut(&Value, &mut Value) -> Result<()>) -> Result<Value> {
        match self.plan.cell_of(var) {
            Some(c) => update_cell(c, &self.session.graph, var, f),
            None => self.session.update_variable(var, f),
        }
    }

    fn node_name(&self, var: Operation) -> String {
        Runtime::node_name(self.session, var)
    }

    fn with_rng(&self, node: Operation, seed: Option<u64>, f: &mut dyn FnMut(&mut StdRng)) {
        self.session.with_rng(node, seed, f)
    }
}

impl AsRef<Graph> for Session {
    /// A session reads handles through its graph: `t.shape(&sess)?`.
    fn as_ref(&self) -> &Graph {
        &self.graph
    }
}

impl Runtime for Session {
    fn read_variable(&self, var: Operation) -> Result<Value> {
        match self.variables.get(var) {
            Some(v) => Ok(v),
            None => Err(Error::UninitializedVariable { name: var.name(&self.graph)? }),
        }
    }

    fn write_variable(&self, var: Operation, value: Value) -> Result<()> {
        self.variables.set(var, value);
        Ok(())
    }

    fn update_variable(&self, var: Operation, f: &mut dyn FnMut(&Value, &mut Value) -> Result<()>) -> Result<Value> {
        self.variables.update(&self.graph, var, f)
    }

    fn node_name(&self, var: Operation) -> String {
        var.name(&self.graph).unwrap_or_else(|_| format!("{var:?}"))
    }

    fn with_rng(&self, node: Operation, seed: Option<u64>, f: &mut dyn FnMut(&mut StdRng)) {
        let mut rngs = self.rngs.lock().unwrap_or_else(|e| e.into_inner());
        let rng = rngs.entry(node).or_insert_with(|| {
            let s = seed
                .unwrap_or_else(|| self.session_seed ^ (node.node_index() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            StdRng::seed_from_u64(s)
        });
        f(rng)
    }
}
