//! Composites: a run of nodes that one builder call made (e.g. `nn::moments`) together with a
//! fused op computing the same outputs from the same inputs. The graph keeps the primitive
//! nodes (TF1's graph, names and fetchable intermediates); a session's graph optimizer may run
//! the fused op in their place when nobody else reads the intermediates
//! (`docs/graph-optimizer.md`).

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::handles::Tensor;
use crate::op::Op;
use std::ops::Range;
use std::sync::Arc;

/// A recorded composite.
#[derive(Clone, Debug)]
pub struct Composite {
    /// The builder's name scope (`"conv2/cond/moments"`), used to name the fused step.
    pub name: String,
    /// Node indices the builder created, contiguous: `[start, end)`.
    pub nodes: Range<usize>,
    /// Inputs of the fused op, in its order; all made before `nodes.start`.
    pub inputs: Vec<Tensor>,
    /// For each output of the fused op, the member tensor it stands for (`None`: not used).
    pub outputs: Vec<Option<Tensor>>,
    /// Computes `outputs` from `inputs` in one kernel.
    pub fused: Arc<dyn Op>,
}

impl Graph {
    /// Records that nodes `[start, current end)` form one composite that `fused` can replace.
    ///
    /// # Errors
    /// An empty range, an input made inside the range, or an output not made inside it
    /// (programming errors of a builder, reported rather than recorded).
    pub fn add_composite(
        &self,
        name: &str,
        start: usize,
        inputs: Vec<Tensor>,
        outputs: Vec<Option<Tensor>>,
        fused: Arc<dyn Op>,
    ) -> Result<()> {
        let end = self.num_nodes();
        let nodes = start..end;
        if nodes.is_empty() {
            return Err(Error::invalid(format!("composite '{name}' has no nodes")));
        }
        for t in &inputs {
            self.check_graph(t.graph_id(), || format!("an input of composite '{name}'"))?;
            if t.op().node_index() >= start {
                return Err(Error::invalid(format!("composite '{name}': input '{}' is made inside it", t.name(self)?)));
            }
        }
        for t in outputs.iter().flatten() {
            if !nodes.contains(&t.op().node_index()) {
                return Err(Error::invalid(format!(
                    "composite '{name}': output '{}' is not made inside it",
                    t.name(self)?
                )));
            }
        }
        let c = Composite { name: name.to_string(), nodes, inputs, outputs, fused };
        self.write().composites.push(c);
        Ok(())
    }
}
