//! Build-time warnings about known TF1 traps, gathered per graph: one warning per kind of trap,
//! naming every layer it concerns, logged through the `log` crate.

/// One kind of trap found in a graph, with every layer (or node) it concerns, in the order found.
///
/// The graph keeps one `GraphWarning` per `kind`; a builder that finds the trap again in another
/// layer adds that layer to the list instead of issuing another warning (see [`crate::Graph::warn_about`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphWarning {
    /// A short stable key (`"batch_norm_training_fixed"`): what tests and tools match on.
    pub kind: String,
    /// What is wrong, as a sentence fragment ("batch normalization was built with training fixed to true").
    pub summary: String,
    /// What to do about it.
    pub advice: String,
    /// The layers or nodes concerned (`"conv3/batch_normalization"`), each once, in creation order.
    pub subjects: Vec<String>,
    /// How many of `subjects` have been logged already.
    pub(crate) logged: usize,
}

impl GraphWarning {
    /// The full message: summary, the layers concerned, the advice.
    pub fn message(&self) -> String {
        render(&self.summary, &self.subjects, &self.advice)
    }

    /// The message for the layers not logged yet, if any.
    pub(crate) fn unlogged_message(&self) -> Option<String> {
        let new = self.subjects.get(self.logged..).filter(|n| !n.is_empty())?;
        Some(render(&self.summary, new, &self.advice))
    }
}

impl std::fmt::Display for GraphWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

fn render(summary: &str, subjects: &[String], advice: &str) -> String {
    if subjects.is_empty() {
        return if advice.is_empty() { summary.to_string() } else { format!("{summary}; {advice}") };
    }
    let what = if subjects.len() == 1 { "1 layer".to_string() } else { format!("{} layers", subjects.len()) };
    let list: Vec<String> = subjects.iter().map(|s| format!("'{s}'")).collect();
    let mut m = format!("{summary} in {what}: {}", list.join(", "));
    if !advice.is_empty() {
        m.push_str("; ");
        m.push_str(advice);
    }
    m
}
