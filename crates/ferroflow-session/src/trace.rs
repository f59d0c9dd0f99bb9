//! Run traces: what each node of one `run` cost. TF1: `tf.RunOptions(trace_level=FULL_TRACE)`
//! and `tf.RunMetadata` (`step_stats`), read with `timeline.Timeline(...).generate_chrome_trace_format()`
//! or tfprof's per-op-type view.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

/// How much a run records. TF1: `RunOptions.TraceLevel`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TraceLevel {
    /// Record nothing (the default; a traced run costs two clock reads per node).
    #[default]
    None,
    /// Record every executed node: start, end, thread, output bytes.
    Full,
}

/// Options of one run. TF1: `tf.RunOptions`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// What to record into the returned [`RunMetadata`].
    pub trace_level: TraceLevel,
}

impl RunOptions {
    /// Options that record a full trace.
    pub fn full_trace() -> RunOptions {
        RunOptions { trace_level: TraceLevel::Full }
    }
}

/// One executed node of a traced run. TF1: `NodeExecStats`.
#[derive(Clone, Debug)]
pub struct NodeTrace {
    /// Full scoped node name.
    pub name: String,
    /// Op type (`Conv2D`, `Mean`, ...).
    pub op: &'static str,
    /// Start, in microseconds since the run began.
    pub start_us: f64,
    /// End, in microseconds since the run began.
    pub end_us: f64,
    /// The thread that ran the node's kernel (kernels may fan out to the thread pool inside).
    pub thread: u64,
    /// Bytes of the outputs the node produced.
    pub output_bytes: usize,
}

impl NodeTrace {
    /// Wall time of the node in microseconds.
    pub fn duration_us(&self) -> f64 {
        self.end_us - self.start_us
    }
}

/// Per-op-type totals of a traced run (tfprof's `-order_by micros` view).
#[derive(Clone, Debug, PartialEq)]
pub struct OpTypeStats {
    /// Op type.
    pub op: &'static str,
    /// Executed nodes of this type.
    pub count: usize,
    /// Summed wall time in milliseconds.
    pub total_ms: f64,
    /// Share of the summed node time of the run, in percent.
    pub percent: f64,
}

/// What a traced run recorded. TF1: `tf.RunMetadata`.
#[derive(Clone, Debug, Default)]
pub struct RunMetadata {
    /// Executed nodes in execution order (pruned nodes and nodes of untaken `cond` branches are
    /// absent).
    pub nodes: Vec<NodeTrace>,
    /// Wall time of the whole run in microseconds.
    pub total_us: f64,
    /// Peak bytes of intermediate values alive at once (values the plan holds between nodes;
    /// kernels' own scratch buffers and variables are not counted).
    pub peak_live_bytes: usize,
}

impl RunMetadata {
    /// Totals per op type, most expensive first.
    pub fn op_type_stats(&self) -> Vec<OpTypeStats> {
        let mut by: HashMap<&'static str, (usize, f64)> = HashMap::new();
        for n in &self.nodes {
            let e = by.entry(n.op).or_default();
            e.0 += 1;
            e.1 += n.duration_us();
        }
        let sum: f64 = by.values().map(|(_, us)| us).sum::<f64>().max(f64::MIN_POSITIVE);
        let mut out: Vec<OpTypeStats> = by
            .into_iter()
            .map(|(op, (count, us))| OpTypeStats { op, count, total_ms: us / 1e3, percent: 100.0 * us / sum })
            .collect();
        out.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms).then(a.op.cmp(b.op)));
        out
    }

    /// [`RunMetadata::op_type_stats`] as a text table.
    pub fn op_type_table(&self) -> String {
        let mut s = format!("{:<28} {:>6} {:>10} {:>7}\n", "op type", "count", "total ms", "%");
        for r in self.op_type_stats() {
            let _ = writeln!(s, "{:<28} {:>6} {:>10.3} {:>6.1}%", r.op, r.count, r.total_ms, r.percent);
        }
        let _ = writeln!(
            s,
            "{} nodes, run {:.3} ms, peak live {:.1} MiB",
            self.nodes.len(),
            self.total_us / 1e3,
            self.peak_live_bytes as f64 / (1 << 20) as f64
        );
        s
    }

    /// The trace in Chrome's trace-event JSON (open in `chrome://tracing` or ui.perfetto.dev).
    /// TF1: `timeline.Timeline(run_metadata.step_stats).generate_chrome_trace_format()`.
    pub fn chrome_trace(&self) -> String {
        let mut s = String::from("{\"traceEvents\":[");
        for (i, n) in self.nodes.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                "{{\"name\":{},\"cat\":{},\"ph\":\"X\",\"ts\":{:.3},\"dur\":{:.3},\"pid\":0,\"tid\":{},\"args\":{{\"name\":{},\"op\":{},\"output_bytes\":{}}}}}",
                json_string(n.op),
                json_string(n.op),
                n.start_us,
                n.duration_us(),
                n.thread,
                json_string(&n.name),
                json_string(n.op),
                n.output_bytes
            );
        }
        s.push_str("],\"displayTimeUnit\":\"ms\"}");
        s
    }
}

/// A JSON string literal.
fn json_string(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Records a run while the executor walks it.
pub(crate) struct Tracer {
    start: Instant,
    thread: u64,
    live_bytes: usize,
    pub(crate) meta: RunMetadata,
}

impl Tracer {
    pub(crate) fn new() -> Tracer {
        Tracer { start: Instant::now(), thread: current_thread_number(), live_bytes: 0, meta: RunMetadata::default() }
    }

    /// Microseconds since the run began.
    pub(crate) fn now_us(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1e6
    }

    pub(crate) fn record(&mut self, name: &str, op: &'static str, start_us: f64, output_bytes: usize) {
        let end_us = self.now_us();
        self.meta.nodes.push(NodeTrace {
            name: name.to_string(),
            op,
            start_us,
            end_us,
            thread: self.thread,
            output_bytes,
        });
    }

    /// Values of `bytes` started or stopped being held by the plan.
    pub(crate) fn hold(&mut self, bytes: usize) {
        self.live_bytes += bytes;
        self.meta.peak_live_bytes = self.meta.peak_live_bytes.max(self.live_bytes);
    }
    pub(crate) fn drop_bytes(&mut self, bytes: usize) {
        self.live_bytes = self.live_bytes.saturating_sub(bytes);
    }

    pub(crate) fn finish(mut self) -> RunMetadata {
        self.meta.total_us = self.now_us();
        self.meta
    }
}

/// A small stable number for the current thread (the digits of its `ThreadId`).
fn current_thread_number() -> u64 {
    let id = format!("{:?}", std::thread::current().id());
    id.chars().filter(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, op: &'static str, start: f64, end: f64) -> NodeTrace {
        NodeTrace { name: name.into(), op, start_us: start, end_us: end, thread: 1, output_bytes: 4 }
    }

    #[test]
    fn op_type_stats_sum_per_type_most_expensive_first() {
        let m = RunMetadata {
            nodes: vec![node("a", "Add", 0.0, 10.0), node("b", "Conv2D", 10.0, 70.0), node("c", "Add", 70.0, 100.0)],
            total_us: 100.0,
            peak_live_bytes: 8,
        };
        let st = m.op_type_stats();
        assert_eq!(st.len(), 2);
        assert_eq!((st[0].op, st[0].count), ("Conv2D", 1));
        assert_eq!((st[1].op, st[1].count), ("Add", 2));
        assert!((st[1].total_ms - 0.04).abs() < 1e-12);
        assert!((st[0].percent - 60.0).abs() < 1e-9);
        assert!(m.op_type_table().contains("Conv2D"));
    }

    #[test]
    fn chrome_trace_escapes_names_and_has_one_event_per_node() {
        let m = RunMetadata {
            nodes: vec![node("a\"b\\c", "Add", 0.0, 1.5), node("d", "Mul", 2.0, 3.0)],
            total_us: 3.0,
            peak_live_bytes: 0,
        };
        let j = m.chrome_trace();
        assert_eq!(j.matches("\"ph\":\"X\"").count(), 2);
        assert!(j.contains(r#""name":"a\"b\\c""#), "{j}");
        assert!(j.contains("\"dur\":1.500"), "{j}");
    }
}
