//! Run traces (`RunOptions { trace_level: Full }` → `RunMetadata`): a traced training step of the
//! founding conv20 network lists every executed node once and no pruned or untaken-branch node.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;

use ferroflow::prelude::*;
use ferroflow::Fetch;
use ndarray::{Array2, Array4};
use std::collections::HashSet;

/// True when `op` sits inside a cond branch that runs for predicate value `!taken`.
fn in_untaken_branch(g: &Graph, op: Operation, taken: bool) -> bool {
    let node = g.node(op).unwrap();
    let mut ctx = node.cond_ctx;
    while let Some(id) = ctx {
        let b = g.cond_branch(id).unwrap();
        if b.branch != taken {
            return true;
        }
        ctx = b.parent;
    }
    false
}

#[test]
fn traced_conv20_step_lists_each_executed_node_once() {
    traced_conv20_step(false);
    traced_conv20_step(true);
}

/// With the graph optimizer on, a fused step stands for its composite's nodes: it is traced
/// once under the composite's scope name, and its members are not traced.
fn traced_conv20_step(optimize: bool) {
    let g = Graph::new();
    g.set_random_seed(1);
    let s = g.root();
    let m = common::models::batchnorm_conv20(&s, 0.002).unwrap();
    let sess = Session::with_options(&g, SessionOptions::default().graph_optimizations(optimize));
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let x = Array4::<f32>::from_shape_fn((4, 28, 28, 1), |(n, i, j, _)| ((n + i * j) % 7) as f32 / 7.0);
    let y = Array2::<f32>::from_shape_fn((4, 10), |(n, k)| if k == n { 1.0 } else { 0.0 });
    let feeds = feed_dict![m.inputs => x, m.labels => y, m.is_training => true];
    let (_, meta) = sess.run_with_options([m.train_op], &feeds, RunOptions::full_trace()).unwrap();

    let names: Vec<&str> = meta.nodes.iter().map(|n| n.name.as_str()).collect();
    let unique: HashSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "a node was traced twice");

    let plan = sess.plan_for(&[Fetch::Operation(m.train_op)], &[m.inputs, m.labels, m.is_training]).unwrap();
    let steps: HashSet<String> = plan.steps().into_iter().map(|(n, _)| n).collect();
    for n in &names {
        assert!(steps.contains(*n), "traced node {n} is not a step of the plan (pruned nodes must not run)");
    }
    // Every graph op of the plan outside fused composites is traced exactly when its branch ran.
    let fused: Vec<std::ops::Range<usize>> = g.read(|st| st.composites().iter().map(|c| c.nodes.clone()).collect());
    let mut skipped = 0;
    for op in plan.ops() {
        let untaken = in_untaken_branch(&g, *op, true);
        skipped += untaken as usize;
        if steps.contains(&op.name(&s).unwrap()) {
            let traced = unique.contains(op.name(&s).unwrap().as_str());
            assert_eq!(
                traced,
                !untaken,
                "node {} ({}): traced {traced}, in an untaken branch {untaken}",
                op.name(&s).unwrap(),
                op.type_name(&s).unwrap()
            );
        } else {
            assert!(
                optimize && fused.iter().any(|r| r.contains(&op.node_index())),
                "{} is neither a step nor fused",
                op.name(&s).unwrap()
            );
        }
    }
    assert!(skipped > 0, "the inference branches of the batch norms must be skipped");
    assert_eq!(plan.num_fused() > 0, optimize);
    let fused_traced = meta.nodes.iter().filter(|n| n.op == "FusedMoments").count();
    assert_eq!(fused_traced, if optimize { 20 } else { 0 }, "one fused moments per batch norm when on");

    // Times are ordered and inside the run; the table and the Chrome trace cover every node.
    for w in meta.nodes.windows(2) {
        assert!(w[0].start_us <= w[0].end_us && w[0].end_us <= w[1].start_us + 1e-3);
    }
    assert!(meta.nodes.last().unwrap().end_us <= meta.total_us + 1e-3);
    let counted: usize = meta.op_type_stats().iter().map(|r| r.count).sum();
    assert_eq!(counted, names.len());
    assert_eq!(meta.chrome_trace().matches("\"ph\":\"X\"").count(), names.len());
    let conv = meta.nodes.iter().find(|n| n.op == "Conv2D").unwrap();
    assert_eq!(conv.output_bytes, 4 * 28 * 28 * 4 * 4, "conv1's output: [4,28,28,4] f32");
    assert!(meta.peak_live_bytes >= conv.output_bytes);
}

#[test]
fn untraced_runs_record_nothing() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![2]).unwrap();
    let y = math::add(&s, x, 1.0f32).unwrap();
    let sess = Session::new(&g);
    let (out, meta) = sess.run_with_options([y], &feed_dict![x => vec![1.0f32, 2.0]], RunOptions::default()).unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![2.0, 3.0]);
    assert!(meta.nodes.is_empty());
    let f = sess.make_callable(&[x], [y]).unwrap();
    let (_, meta) = f.call_with_options(&[vec![0.0f32, 0.0].into()], RunOptions::full_trace()).unwrap();
    assert_eq!(meta.nodes.iter().map(|n| n.op).collect::<Vec<_>>(), vec!["Const", "Add"]);
}
