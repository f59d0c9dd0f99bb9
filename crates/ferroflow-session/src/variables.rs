//! The variable store of a session: one cell per variable, each with its own lock, and a
//! state gate that lets `Saver` take one consistent snapshot.
//!
//! # Concurrency
//! - A cell's lock is held only to clone or swap a value handle (a reference-count bump),
//!   never while a kernel runs: a reader never waits for an update of any variable.
//! - Updates are out of place (read-copy-update): the new value is computed into a spare
//!   buffer while readers keep seeing the old one, then published with a version check.
//!   Two concurrent updates of one variable both take effect (the later one is recomputed
//!   from the earlier one's result); none is lost.
//! - Runs that write variables hold the gate shared; [`VariableStore::snapshot`] holds it
//!   exclusively while it clones the handles, so a snapshot never mixes two steps.

use ferroflow_core::{Error, Graph, Operation, Result, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

/// One variable: its current value (`None` until initialized), a version bumped by every
/// write, and a spare buffer that the next update may write into.
#[derive(Default)]
pub(crate) struct Cell {
    value: Option<Value>,
    version: u64,
    spare: Option<Value>,
}

/// A variable's cell, resolved once (when a plan is built) and then used without looking the
/// variable up again. Cells are never removed from a store, so a resolved cell stays valid.
pub(crate) type CellRef = Arc<Mutex<Cell>>;

/// The variables of one session.
#[derive(Default)]
pub(crate) struct VariableStore {
    cells: RwLock<HashMap<Operation, CellRef>>,
    gate: RwLock<()>,
}

impl VariableStore {
    fn cell(&self, var: Operation) -> Option<CellRef> {
        self.cells.read().unwrap_or_else(|e| e.into_inner()).get(&var).cloned()
    }

    /// The cell of `var`, created (uninitialized) if the variable has none yet: what a plan
    /// resolves each variable it reads or writes to.
    pub(crate) fn resolve(&self, var: Operation) -> CellRef {
        if let Some(c) = self.cell(var) {
            return c;
        }
        self.cells.write().unwrap_or_else(|e| e.into_inner()).entry(var).or_default().clone()
    }

    /// Held (shared) for the whole of a run that writes variables.
    pub(crate) fn writer_pass(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The current value (a cheap handle clone), `None` when uninitialized.
    pub(crate) fn get(&self, var: Operation) -> Option<Value> {
        get_cell(&self.cell(var)?)
    }

    /// Replaces the value. The caller has validated it.
    pub(crate) fn set(&self, var: Operation, value: Value) {
        set_cell(&self.resolve(var), value);
    }

    /// Sets several variables at once under the exclusive gate: no run sees some of them old
    /// and some new. The caller has validated every value.
    pub(crate) fn set_all(&self, values: Vec<(Operation, Value)>) {
        let _gate = self.gate.write().unwrap_or_else(|e| e.into_inner());
        for (var, value) in values {
            self.set(var, value);
        }
    }

    /// [`update_cell`] on the cell of `var`.
    /// `g` (the session's graph) names the variable in errors.
    pub(crate) fn update(
        &self,
        g: &Graph,
        var: Operation,
        f: &mut dyn FnMut(&Value, &mut Value) -> Result<()>,
    ) -> Result<Value> {
        let Some(cell) = self.cell(var) else {
            return Err(Error::UninitializedVariable { name: var.name(g)? });
        };
        update_cell(&cell, g, var, f)
    }

    /// One consistent view of `vars`: taken while no run that writes variables is in
    /// progress, so every value comes from the same point between steps. `g` (the session's
    /// graph) names an uninitialized variable in the error.
    pub(crate) fn snapshot(&self, g: &Graph, vars: &[Operation]) -> Result<Vec<Value>> {
        let _gate = self.gate.write().unwrap_or_else(|e| e.into_inner());
        vars.iter()
            .map(|&v| match self.get(v) {
                Some(value) => Ok(value),
                None => Err(Error::UninitializedVariable { name: v.name(g)? }),
            })
            .collect()
    }
}

/// The current value of a resolved cell (a handle clone under the cell's own lock).
pub(crate) fn get_cell(cell: &CellRef) -> Option<Value> {
    cell.lock().unwrap_or_else(|e| e.into_inner()).value.clone()
}

/// Replaces a resolved cell's value. The caller has validated it.
pub(crate) fn set_cell(cell: &CellRef, value: Value) {
    let mut c = cell.lock().unwrap_or_else(|e| e.into_inner());
    c.spare = c.value.replace(value);
    c.version += 1;
}

/// Computes the new value of `var` (whose cell is `cell`) out of place with `f(current, out)`
/// and publishes it; retries when another update published first. `out` has the current
/// value's dtype and shape and unspecified contents: `f` writes every element. Nothing is
/// written when `f` fails. `g` (the session's graph) names the variable in errors.
pub(crate) fn update_cell(
    cell: &CellRef,
    g: &Graph,
    var: Operation,
    f: &mut dyn FnMut(&Value, &mut Value) -> Result<()>,
) -> Result<Value> {
    loop {
        let (current, version, spare) = {
            let mut c = cell.lock().unwrap_or_else(|e| e.into_inner());
            let Some(current) = c.value.clone() else {
                return Err(Error::UninitializedVariable { name: var.name(g)? });
            };
            (current, c.version, c.spare.take())
        };
        let mut out = match spare {
            Some(s) if s.dtype() == current.dtype() && s.shape() == current.shape() => s,
            _ => Value::try_zeros(current.dtype(), current.shape())?,
        };
        f(&current, &mut out)?;
        drop(current);
        let mut c = cell.lock().unwrap_or_else(|e| e.into_inner());
        if c.version == version {
            c.spare = c.value.replace(out.clone());
            c.version += 1;
            return Ok(out);
        }
        c.spare = Some(out);
    }
}
