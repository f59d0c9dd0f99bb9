//! Compiling `(fetches, feeds)` into an execution plan: prune, order, assign value slots,
//! compute buffer lifetimes and cond guards. Built once per fetch/feed set and cached.

use crate::session::Fetch;
use crate::variables::{CellRef, VariableStore};
use ferroflow_core::{BufferPool, CondCtxId, Error, GraphState, Op, Operation, Result, Tensor, TensorSpec, Value};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// At most this many idle per-call scratch sets (slot vector, input list, buffer pool) are
/// kept per plan: one per thread that calls the plan at the same time, up to this bound.
const MAX_IDLE_SCRATCH: usize = 8;

/// What one value slot holds during a run.
#[derive(Clone)]
pub(crate) enum Slot {
    Empty,
    Dead,
    Live(Value),
    /// A variable's output: read when a consumer runs (TF1 reference semantics), through the
    /// cell of the variable step with this index.
    Ref(usize),
}

/// The per-call state of one run of a plan, reused by the next run: the slot vector, the
/// predicate cache, the kernel input list and the buffer pool. A run checks one out of its
/// plan (a fresh one when every set is in use by another thread) and returns it after.
pub(crate) struct Scratch {
    pub slots: Vec<Slot>,
    pub predicates: Vec<Option<bool>>,
    pub inputs: Vec<Option<Value>>,
    pub pool: BufferPool,
}

/// A cond branch a step runs in: it runs only when the predicate has the branch's value.
pub(crate) struct Guard {
    /// Slot of the predicate.
    pub slot: usize,
    /// Which predicate value selects the branch.
    pub branch: bool,
    /// The cond and its predicate, for errors.
    pub cond: Arc<(String, Tensor)>,
}

/// One node to execute.
pub(crate) struct Step {
    pub op: Operation,
    pub kernel: Arc<dyn Op>,
    pub name: String,
    pub type_name: &'static str,
    /// Slot of each input and whether this read may take (move) the value; `None` for
    /// reference inputs, which are not read.
    pub inputs: Vec<Option<(usize, bool)>>,
    pub handles: Vec<Tensor>,
    /// Slot of each output, `None` when it is fed or unused.
    pub outputs: Vec<Option<usize>>,
    /// The static spec each output must meet (`None`: unchecked, an unused fused output).
    pub output_specs: Vec<Option<TensorSpec>>,
    /// A `VariableV2` op: its output is a reference, read by each consumer when it runs.
    pub is_variable: bool,
    /// Cond guards, outermost first.
    pub guards: Vec<Guard>,
    /// A variable step: the variable's cell in the session's store, resolved at plan time.
    pub cell: Option<CellRef>,
    /// Slots to free after this step.
    pub release: Vec<usize>,
    /// For a fused step: the graph nodes it stands for.
    pub fused: Option<Range<usize>>,
}

/// A compiled `(fetches, feeds)` pair. Opaque; exposed for inspection in tests and tools.
pub struct Plan {
    pub(crate) steps: Vec<Step>,
    pub(crate) num_slots: usize,
    /// Slot of each feed, in the caller's sorted feed order.
    pub(crate) feed_slots: Vec<(Tensor, usize)>,
    /// Slot of each tensor fetch, in fetch order; `None` at an op fetch's position.
    pub(crate) fetch_slots: Vec<Option<(Tensor, usize)>>,
    pub(crate) nodes: Vec<Operation>,
    /// True when some step writes a variable (an op with a reference input, e.g. `Assign`
    /// or an optimizer's apply op): such runs hold the variable store's gate shared.
    pub(crate) writes_state: bool,
    /// True when some step runs inside a cond branch.
    pub(crate) has_guards: bool,
    /// Every variable the plan reads or writes with its cell, sorted by op: kernels (assign,
    /// optimizer updates) find their variable here without a store lookup.
    pub(crate) var_cells: Vec<(Operation, CellRef)>,
    /// Idle per-call scratch sets (see [`Scratch`]).
    scratch: Mutex<Vec<Scratch>>,
}

impl Plan {
    /// Number of steps this plan runs (at most); a fused step counts once.
    pub fn num_steps(&self) -> usize {
        self.steps.len()
    }
    /// The graph ops this plan computes, in graph order (the members of a fused step
    /// included: they are computed, by one kernel).
    pub fn ops(&self) -> &[Operation] {
        &self.nodes
    }
    /// Each step's name and op type, in execution order: what runs after the graph optimizer
    /// (a fused step is named after its composite's scope, e.g. `conv2/cond/moments`, with the
    /// fused op's type, e.g. `FusedMoments`).
    pub fn steps(&self) -> Vec<(String, &'static str)> {
        self.steps.iter().map(|s| (s.name.clone(), s.type_name)).collect()
    }
    /// Number of fused steps (composites the graph optimizer replaced).
    pub fn num_fused(&self) -> usize {
        self.steps.iter().filter(|s| s.fused.is_some()).count()
    }
    /// Buffers and bytes held by the plan's idle buffer pools (recycled outputs waiting for
    /// the next run).
    pub fn pooled(&self) -> (usize, usize) {
        let idle = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        idle.iter().fold((0, 0), |(n, b), s| (n + s.pool.len(), b + s.pool.bytes()))
    }

    /// Resolves every variable the plan reads or writes to its cell in `store` (done once,
    /// when the plan is built for a session).
    pub(crate) fn resolve_variables(&mut self, store: &VariableStore) {
        let mut cells: Vec<(Operation, CellRef)> = Vec::new();
        for step in &mut self.steps {
            if step.is_variable {
                let c = store.resolve(step.op);
                cells.push((step.op, c.clone()));
                step.cell = Some(c);
            }
            for (k, t) in step.handles.iter().enumerate() {
                if step.kernel.is_ref_input(k) {
                    cells.push((t.op(), store.resolve(t.op())));
                }
            }
        }
        cells.sort_by_key(|(op, _)| *op);
        cells.dedup_by_key(|(op, _)| *op);
        self.var_cells = cells;
    }

    /// The resolved cell of a variable this plan uses.
    pub(crate) fn cell_of(&self, var: Operation) -> Option<&CellRef> {
        self.var_cells
            .binary_search_by_key(&var, |(op, _)| *op)
            .ok()
            .and_then(|i| self.var_cells.get(i))
            .map(|(_, c)| c)
    }

    /// A scratch set for one run: an idle one, or a fresh one when all are in use.
    pub(crate) fn checkout(&self) -> Scratch {
        let idle = self.scratch.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut s = idle.unwrap_or_else(|| Scratch {
            slots: Vec::new(),
            predicates: Vec::new(),
            inputs: Vec::new(),
            pool: BufferPool::new(),
        });
        s.slots.clear();
        s.slots.resize(self.num_slots, Slot::Empty);
        s.predicates.clear();
        s.predicates.resize(if self.has_guards { self.num_slots } else { 0 }, None);
        s
    }

    /// Returns a scratch set after a run: values still in slots go to its pool (when
    /// nothing else, e.g. a fetched result, holds them).
    pub(crate) fn checkin(&self, mut s: Scratch) {
        for slot in s.slots.iter_mut() {
            if let Slot::Live(v) = std::mem::replace(slot, Slot::Empty) {
                s.pool.put(v);
            }
        }
        for v in s.inputs.drain(..).flatten() {
            s.pool.put(v);
        }
        s.pool.trim();
        let mut idle = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_SCRATCH {
            idle.push(s);
        }
    }

    pub(crate) fn build(
        st: &GraphState,
        graph_id: u32,
        fetches: &[Fetch],
        feeds: &[Tensor],
        optimize: bool,
    ) -> Result<Plan> {
        let n = st.len();
        let fed: HashMap<Tensor, ()> = feeds.iter().map(|t| (*t, ())).collect();
        let mut needed = vec![false; n];
        let mut stack: Vec<usize> = Vec::new();
        let want = |t: Tensor, needed: &mut Vec<bool>, stack: &mut Vec<usize>| {
            if !fed.contains_key(&t) && !needed[t.op().node_index()] {
                needed[t.op().node_index()] = true;
                stack.push(t.op().node_index());
            }
        };
        for f in fetches {
            match *f {
                Fetch::Tensor(t) => {
                    st.spec(t)?;
                    want(t, &mut needed, &mut stack);
                }
                Fetch::Operation(o) => {
                    st.node(o)?;
                    if !needed[o.node_index()] {
                        needed[o.node_index()] = true;
                        stack.push(o.node_index());
                    }
                }
            }
        }
        while let Some(i) = stack.pop() {
            let node = st.node_at(i).ok_or_else(|| Error::invalid(format!("node {i} missing")))?;
            for (k, t) in node.inputs.iter().enumerate() {
                if !node.op.is_ref_input(k) {
                    want(*t, &mut needed, &mut stack);
                }
            }
            for c in &node.control_inputs {
                if !needed[c.node_index()] {
                    needed[c.node_index()] = true;
                    stack.push(c.node_index());
                }
            }
            for ctx in st.cond_chain(node.cond_ctx) {
                if let Some(b) = st.cond_branch(ctx) {
                    want(b.pred, &mut needed, &mut stack);
                }
            }
        }

        // Node index order is topological: inputs, control inputs and cond predicates are
        // always created before the nodes that use them.
        let order: Vec<usize> = (0..n).filter(|&i| needed[i]).collect();
        let units = units(st, graph_id, &order, &fed, fetches, optimize)?;

        // Slots: feeds first, then every output of a unit that somebody reads.
        let mut slot_of: HashMap<Tensor, usize> = HashMap::new();
        let mut feed_slots = Vec::with_capacity(feeds.len());
        for t in feeds {
            let s = slot_of.len();
            slot_of.insert(*t, s);
            feed_slots.push((*t, s));
        }
        // Which outputs anybody reads (inputs, guards, fetches).
        let mut read: HashMap<Tensor, ()> = HashMap::new();
        for u in &units {
            for (t, is_ref) in &u.inputs {
                if !is_ref {
                    read.insert(*t, ());
                }
            }
            for ctx in st.cond_chain(u.cond_ctx) {
                if let Some(b) = st.cond_branch(ctx) {
                    read.insert(b.pred, ());
                }
            }
        }
        for f in fetches {
            if let Fetch::Tensor(t) = f {
                read.insert(*t, ());
            }
        }
        let mut unit_outputs = Vec::with_capacity(units.len());
        for u in &units {
            let mut outputs = Vec::with_capacity(u.outputs.len());
            for t in &u.outputs {
                match t {
                    Some(t) if !fed.contains_key(t) && read.contains_key(t) => {
                        let s = slot_of.len();
                        slot_of.insert(*t, s);
                        outputs.push(Some(s));
                    }
                    _ => outputs.push(None),
                }
            }
            unit_outputs.push(outputs);
        }
        let slot =
            |t: &Tensor| slot_of.get(t).copied().ok_or_else(|| Error::invalid(format!("internal: no slot for {t:?}")));
        let mut built = Vec::with_capacity(units.len());
        let mut conds = HashMap::new();
        for (u, outputs) in units.into_iter().zip(unit_outputs) {
            let mut inputs = Vec::with_capacity(u.inputs.len());
            for (t, is_ref) in &u.inputs {
                inputs.push(if *is_ref { None } else { Some((slot(t)?, false)) });
            }
            let mut guards = Vec::new();
            for ctx in st.cond_chain(u.cond_ctx).into_iter().rev() {
                if let Some(b) = st.cond_branch(ctx) {
                    let cond = conds.entry(ctx).or_insert_with(|| Arc::new((b.name.clone(), b.pred))).clone();
                    guards.push(Guard { slot: slot(&b.pred)?, branch: b.branch, cond });
                }
            }
            built.push(Step {
                op: u.op,
                type_name: u.kernel.type_name(),
                is_variable: u.kernel.is_variable(),
                kernel: u.kernel,
                name: u.name,
                inputs,
                handles: u.inputs.iter().map(|(t, _)| *t).collect(),
                outputs,
                output_specs: u.output_specs,
                guards,
                cell: None,
                release: Vec::new(),
                fused: u.fused,
            });
        }
        let mut fetch_slots = Vec::new();
        let mut fetched = vec![false; slot_of.len()];
        for f in fetches {
            match f {
                Fetch::Tensor(t) => {
                    let s = slot(t)?;
                    fetched[s] = true;
                    fetch_slots.push(Some((*t, s)));
                }
                Fetch::Operation(_) => fetch_slots.push(None),
            }
        }
        // Buffer lifetimes: free each slot after its last reader; let that reader move it.
        let mut last_use: Vec<Option<(usize, usize)>> = vec![None; slot_of.len()];
        for (k, step) in built.iter().enumerate() {
            for (p, inp) in step.inputs.iter().enumerate() {
                if let Some((s, _)) = inp {
                    last_use[*s] = Some((k, p));
                }
            }
            for Guard { slot: s, .. } in &step.guards {
                if last_use[*s].is_none_or(|(lk, _)| lk <= k) {
                    last_use[*s] = Some((k, usize::MAX));
                }
            }
        }
        for (s, lu) in last_use.iter().enumerate() {
            if fetched[s] {
                continue;
            }
            if let Some((k, p)) = *lu {
                if let Some(step) = built.get_mut(k) {
                    if let Some(Some(inp)) = step.inputs.get_mut(p) {
                        inp.1 = true;
                    }
                    step.release.push(s);
                }
            }
        }
        let nodes = order.iter().map(|&i| Operation::from_raw(graph_id, i as u32)).collect();
        let writes_state = built.iter().any(|s| (0..s.handles.len()).any(|k| s.kernel.is_ref_input(k)));
        let has_guards = built.iter().any(|s| !s.guards.is_empty());
        Ok(Plan {
            steps: built,
            num_slots: slot_of.len(),
            feed_slots,
            fetch_slots,
            nodes,
            writes_state,
            has_guards,
            var_cells: Vec::new(),
            scratch: Mutex::new(Vec::new()),
        })
    }
}

/// One step before slots are assigned: a graph node, or a composite run by its fused op.
struct Unit {
    op: Operation,
    kernel: Arc<dyn Op>,
    name: String,
    /// Input tensors and whether each is a reference input (not read).
    inputs: Vec<(Tensor, bool)>,
    /// The tensor each kernel output stands for.
    outputs: Vec<Option<Tensor>>,
    output_specs: Vec<Option<TensorSpec>>,
    cond_ctx: Option<CondCtxId>,
    fused: Option<Range<usize>>,
}

/// The steps of a plan in execution order: the needed nodes, with each composite whose
/// intermediates nobody else reads replaced by one fused step (when `optimize`).
fn units(
    st: &GraphState,
    graph_id: u32,
    order: &[usize],
    fed: &HashMap<Tensor, ()>,
    fetches: &[Fetch],
    optimize: bool,
) -> Result<Vec<Unit>> {
    let n = st.len();
    let accepted = if optimize { fusable_composites(st, order, fed, fetches) } else { Vec::new() };
    // member_of[i]: the accepted composite node i belongs to; last[c]: its last needed member.
    let mut member_of: Vec<Option<usize>> = vec![None; n];
    let mut last: HashMap<usize, usize> = HashMap::new();
    let needed: Vec<bool> = {
        let mut v = vec![false; n];
        order.iter().for_each(|&i| v[i] = true);
        v
    };
    for &c in &accepted {
        for i in st.composites()[c].nodes.clone() {
            if needed[i] {
                member_of[i] = Some(c);
                last.insert(c, i);
            }
        }
    }
    let mut out = Vec::with_capacity(order.len());
    for &i in order {
        let node = st.node_at(i).ok_or_else(|| Error::invalid(format!("node {i} missing")))?;
        let op = Operation::from_raw(graph_id, i as u32);
        match member_of[i] {
            None => out.push(Unit {
                op,
                kernel: node.op.clone(),
                name: node.name.clone(),
                inputs: node.inputs.iter().enumerate().map(|(k, t)| (*t, node.op.is_ref_input(k))).collect(),
                outputs: (0..node.outputs.len()).map(|k| Some(op.output(k))).collect(),
                output_specs: node.outputs.iter().cloned().map(Some).collect(),
                cond_ctx: node.cond_ctx,
                fused: None,
            }),
            Some(c) if last.get(&c) == Some(&i) => {
                let comp = &st.composites()[c];
                let output_specs = comp.outputs.iter().map(|t| t.and_then(|t| st.spec(t).ok().cloned())).collect();
                out.push(Unit {
                    op,
                    kernel: comp.fused.clone(),
                    name: comp.name.clone(),
                    inputs: comp.inputs.iter().map(|t| (*t, false)).collect(),
                    outputs: comp.outputs.clone(),
                    output_specs,
                    cond_ctx: node.cond_ctx,
                    fused: Some(comp.nodes.clone()),
                });
            }
            Some(_) => {}
        }
    }
    Ok(out)
}

/// The composites a plan may run fused: every needed member in one cond context, nothing fed
/// inside, every input available, at least one output needed, and no intermediate (a member
/// output that is not a composite output) read by a node that still runs or fetched.
/// Iterated to a fixed point, because replacing one composite removes its members' reads.
fn fusable_composites(st: &GraphState, order: &[usize], fed: &HashMap<Tensor, ()>, fetches: &[Fetch]) -> Vec<usize> {
    let n = st.len();
    let mut needed = vec![false; n];
    order.iter().for_each(|&i| needed[i] = true);
    let comps = st.composites();
    let mut ok: Vec<bool> = vec![false; comps.len()];
    let mut taken = vec![false; n];
    for (ci, c) in comps.iter().enumerate() {
        if c.nodes.end > n || c.nodes.clone().any(|i| taken[i]) {
            continue;
        }
        let members: Vec<usize> = c.nodes.clone().filter(|&i| needed[i]).collect();
        let Some(first) = members.first().and_then(|&i| st.node_at(i)) else { continue };
        let one_ctx = members.iter().all(|&i| st.node_at(i).is_some_and(|m| m.cond_ctx == first.cond_ctx));
        let nothing_fed = fed.keys().all(|t| !c.nodes.contains(&t.op().node_index()));
        let inputs_ready = c.inputs.iter().all(|t| fed.contains_key(t) || needed[t.op().node_index()]);
        let output_needed = c.outputs.iter().flatten().any(|t| needed[t.op().node_index()]);
        if one_ctx && nothing_fed && inputs_ready && output_needed {
            ok[ci] = true;
            c.nodes.clone().for_each(|i| taken[i] = true);
        }
    }
    loop {
        let mut member_of: Vec<Option<usize>> = vec![None; n];
        for (ci, c) in comps.iter().enumerate() {
            if ok[ci] {
                c.nodes.clone().for_each(|i| member_of[i] = Some(ci));
            }
        }
        // Tensors read by what still runs: unreplaced nodes, guards, fused steps, fetches.
        let mut read: Vec<Tensor> = Vec::new();
        for &i in order {
            let Some(node) = st.node_at(i) else { continue };
            if member_of[i].is_none() {
                read.extend(node.inputs.iter().enumerate().filter(|(k, _)| !node.op.is_ref_input(*k)).map(|(_, t)| *t));
            }
            for ctx in st.cond_chain(node.cond_ctx) {
                if let Some(b) = st.cond_branch(ctx) {
                    read.push(b.pred);
                }
            }
        }
        for (ci, c) in comps.iter().enumerate() {
            if ok[ci] {
                read.extend(c.inputs.iter().copied());
            }
        }
        read.extend(fetches.iter().filter_map(|f| if let Fetch::Tensor(t) = f { Some(*t) } else { None }));
        let mut changed = false;
        for t in read {
            if let Some(ci) = member_of[t.op().node_index()] {
                if !comps[ci].outputs.contains(&Some(t)) {
                    ok[ci] = false;
                    changed = true;
                }
            }
        }
        if !changed {
            return (0..comps.len()).filter(|&c| ok[c]).collect();
        }
    }
}
