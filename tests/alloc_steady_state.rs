//! Steady-state allocations per step (issue "lean executor", `alloc/steady_state`): a counting
//! global allocator (`stats_alloc`) measures W1 (the founding conv20 network) serving one image
//! per `Callable` call and W1 training steps. The test fails when a step allocates more than
//! its budget (the measured count plus a margin, `docs/benchmarks.md`) or when memory grows
//! from one block of steps to the next (a leak).
//!
//! One `#[test]` in its own binary: the counters are process-wide, so no other test may run
//! beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;

use ferroflow::prelude::*;
use ndarray::{Array2, Array4};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations per W1 batch-1 inference call: measured 395 with the plan's buffer pool
/// (542 before it, 2026-12-07), budget +20%.
const INFER_BUDGET: usize = 474;
/// Allocations per W1 training step, batch 32: measured 4,011 with the pool (4,948 before),
/// budget +20%.
const TRAIN_BUDGET: usize = 4_813;

/// `(allocations per step, net bytes kept per step)` over `n` steps of `f`.
fn measure(n: usize, f: &mut dyn FnMut()) -> (usize, isize) {
    let reg = Region::new(GLOBAL);
    for _ in 0..n {
        f();
    }
    let c = reg.change();
    (c.allocations / n, (c.bytes_allocated as isize - c.bytes_deallocated as isize) / n as isize)
}

#[test]
fn w1_steps_allocate_within_budget_and_do_not_grow() {
    let g = Graph::new();
    g.set_random_seed(1);
    let s = g.root();
    let m = common::models::batchnorm_conv20(&s, 0.002).unwrap();
    // The budgets are for the optimized plan (fused batch norms), whatever
    // FERROFLOW_GRAPH_OPTIMIZATIONS says; unfused, batch-1 inference makes 1,302 allocations.
    let sess = Session::with_options(&g, SessionOptions::default().graph_optimizations(true));
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();

    // Serving: one image per call.
    let f = sess.make_callable(&[m.inputs, m.is_training], [m.logits]).unwrap();
    let x = Value::from(Array4::<f32>::from_shape_fn((1, 28, 28, 1), |(_, i, j, _)| ((i * j) % 5) as f32 / 5.0));
    let feeds = [x, Value::from(false)];
    let mut infer = || {
        f.call(&feeds).unwrap();
    };
    measure(20, &mut infer);
    let (a1, kept1) = measure(100, &mut infer);
    let (a2, kept2) = measure(100, &mut infer);
    eprintln!("W1 batch-1 inference: {a1} / {a2} allocations per call, {kept1} / {kept2} bytes kept per call");
    assert!(
        a1 <= INFER_BUDGET && a2 <= INFER_BUDGET,
        "inference allocates {a1} / {a2} per call (budget {INFER_BUDGET})"
    );
    assert!(a2 <= a1 + a1 / 10, "inference allocations grow: {a1} then {a2} per call");
    assert!(kept2 <= 64, "inference keeps {kept2} bytes per call: a leak");

    // Training: batch 32.
    let xb = Array4::<f32>::from_shape_fn((32, 28, 28, 1), |(n, i, j, _)| ((n + i * j) % 7) as f32 / 7.0);
    let yb = Array2::<f32>::from_shape_fn((32, 10), |(n, k)| if k == n % 10 { 1.0 } else { 0.0 });
    let train_feeds = feed_dict![m.inputs => xb, m.labels => yb, m.is_training => true];
    let mut train = || {
        sess.run_ops(&[m.train_op], &train_feeds).unwrap();
    };
    measure(3, &mut train);
    let (t1, tk1) = measure(5, &mut train);
    let (t2, tk2) = measure(5, &mut train);
    eprintln!("W1 training step (batch 32): {t1} / {t2} allocations per step, {tk1} / {tk2} bytes kept per step");
    assert!(
        t1 <= TRAIN_BUDGET && t2 <= TRAIN_BUDGET,
        "training allocates {t1} / {t2} per step (budget {TRAIN_BUDGET})"
    );
    assert!(t2 <= t1 + t1 / 10, "training allocations grow: {t1} then {t2} per step");
    assert!(tk2 <= 4096, "training keeps {tk2} bytes per step: a leak");
}
