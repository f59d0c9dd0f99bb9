//! Compiling `(fetches, feeds)` into an execution plan: prune, order, assign value slots,
//! compute buffer lifetimes and cond guards. Built once per fetch/feed set and cached.

use crate::session::Fetch;
use ferroflow_core::{Error, GraphState, Op, Operation, Result, Tensor, TensorSpec};
use std::collections::HashMap;
use std::sync::Arc;

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
    pub output_specs: Vec<TensorSpec>,
    /// A `VariableV2` op: its output is a reference, read by each consumer when it runs.
    pub is_variable: bool,
    /// Cond guards, outermost first.
    pub guards: Vec<Guard>,
    /// Slots to free after this step.
    pub release: Vec<usize>,
}

/// A compiled `(fetches, feeds)` pair. Opaque; exposed for inspection in tests and tools.
pub struct Plan {
    pub(crate) steps: Vec<Step>,
    pub(crate) num_slots: usize,
    /// Slot of each feed, in the caller's sorted feed order.
    pub(crate) feed_slots: Vec<(Tensor, usize)>,
    /// Slot of each tensor fetch, in fetch order.
    pub(crate) fetch_slots: Vec<(Tensor, usize)>,
    pub(crate) nodes: Vec<Operation>,
    /// True when some step writes a variable (an op with a reference input, e.g. `Assign`
    /// or an optimizer's apply op): such runs hold the variable store's gate shared.
    pub(crate) writes_state: bool,
    /// True when some step runs inside a cond branch.
    pub(crate) has_guards: bool,
}

impl Plan {
    /// Number of ops this plan runs (at most).
    pub fn num_steps(&self) -> usize {
        self.steps.len()
    }
    /// The ops this plan runs, in execution order.
    pub fn ops(&self) -> &[Operation] {
        &self.nodes
    }

    pub(crate) fn build(st: &GraphState, graph_id: u32, fetches: &[Fetch], feeds: &[Tensor]) -> Result<Plan> {
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

        // Slots: feeds first, then every output of a needed node that is not fed.
        let mut slot_of: HashMap<Tensor, usize> = HashMap::new();
        let mut feed_slots = Vec::with_capacity(feeds.len());
        for t in feeds {
            let s = slot_of.len();
            slot_of.insert(*t, s);
            feed_slots.push((*t, s));
        }
        // Node index order is topological: inputs, control inputs and cond predicates are
        // always created before the nodes that use them.
        let order: Vec<usize> = (0..n).filter(|&i| needed[i]).collect();
        // Which outputs anybody reads (inputs, guards, fetches).
        let mut read: HashMap<Tensor, ()> = HashMap::new();
        for &i in &order {
            if let Some(node) = st.node_at(i) {
                for (k, t) in node.inputs.iter().enumerate() {
                    if !node.op.is_ref_input(k) {
                        read.insert(*t, ());
                    }
                }
                for ctx in st.cond_chain(node.cond_ctx) {
                    if let Some(b) = st.cond_branch(ctx) {
                        read.insert(b.pred, ());
                    }
                }
            }
        }
        for f in fetches {
            if let Fetch::Tensor(t) = f {
                read.insert(*t, ());
            }
        }
        let mut steps = Vec::with_capacity(order.len());
        for &i in &order {
            let node = st.node_at(i).ok_or_else(|| Error::invalid(format!("node {i} missing")))?;
            let op = Operation::from_raw(graph_id, i as u32);
            let mut outputs = Vec::with_capacity(node.outputs.len());
            for k in 0..node.outputs.len() {
                let t = op.output(k);
                if fed.contains_key(&t) || !read.contains_key(&t) {
                    outputs.push(None);
                } else {
                    let s = slot_of.len();
                    slot_of.insert(t, s);
                    outputs.push(Some(s));
                }
            }
            steps.push((i, outputs));
        }
        let slot = |t: &Tensor| slot_of.get(t).copied().ok_or_else(|| Error::invalid(format!("internal: no slot for {t:?}")));
        let mut built = Vec::with_capacity(steps.len());
        let mut conds = HashMap::new();
        for (i, outputs) in steps {
            let node = st.node_at(i).ok_or_else(|| Error::invalid(format!("node {i} missing")))?;
            let mut inputs = Vec::with_capacity(node.inputs.len());
            for (k, t) in node.inputs.iter().enumerate() {
                inputs.push(if node.op.is_ref_input(k) { None } else { Some((slot(t)?, false)) });
            }
            let mut guards = Vec::new();
            for ctx in st.cond_chain(node.cond_ctx).into_iter().rev() {
                if let Some(b) = st.cond_branch(ctx) {
                    let cond = conds.entry(ctx).or_insert_with(|| Arc::new((b.name.clone(), b.pred))).clone();
                    guards.push(Guard { slot: slot(&b.pred)?, branch: b.branch, cond });
                }
            }
            built.push(Step {
                op: Operation::from_raw(graph_id, i as u32),
                kernel: node.op.clone(),
                name: node.name.clone(),
                type_name: node.op.type_name(),
                inputs,
                handles: node.inputs.clone(),
                outputs,
                output_specs: node.outputs.clone(),
                is_variable: node.op.is_variable(),
                guards,
                release: Vec::new(),
            });
        }
        let mut fetch_slots = Vec::new();
        let mut fetched = vec![false; slot_of.len()];
        for f in fetches {
            if let Fetch::Tensor(t) = f {
                let s = slot(t)?;
                fetched[s] = true;
                fetch_slots.push((*t, s));
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
        let nodes = built.iter().map(|s| s.op).collect();
        let writes_state = built.iter().any(|s| (0..s.handles.len()).any(|k| s.kernel.is_ref_input(k)));
        let has_guards = built.iter().any(|s| !s.guards.is_empty());
        Ok(Plan { steps: built, num_slots: slot_of.len(), feed_slots, fetch_slots, nodes, writes_state, has_guards })
    }
}
