//! TF1 session semantics: pruning, feeds, variables, assign, control deps, cond.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, DType, Error, Graph, Operation, Value};
use ferroflow_ops::state::{assign, assign_add, assign_sub, global_variables_initializer, variable, VariableOptions};
use ferroflow_ops::{cond, group, math, placeholder};
use ferroflow_session::{feed_dict, Fetch, Session};

fn scalar(v: &Value) -> f32 {
    v.scalar::<f32>().unwrap()
}

#[test]
fn assign_ops_return_new_value_and_persist() {
    let g = Graph::new();
    let s = g.root();
    let v = variable(&s.with_name("v"), 1.0f32, VariableOptions::default()).unwrap();
    let a = assign(&s, v, 5.0f32).unwrap();
    let b = assign_add(&s, v, 2.0f32).unwrap();
    let c = assign_sub(&s, v, 4.0f32).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    assert_eq!(scalar(&sess.run([a], &[]).unwrap()[0]), 5.0);
    assert_eq!(scalar(&sess.run([b], &[]).unwrap()[0]), 7.0);
    assert_eq!(scalar(&sess.run([c], &[]).unwrap()[0]), 3.0);
    assert_eq!(scalar(&sess.run([v], &[]).unwrap()[0]), 3.0);
}

#[test]
fn uninitialized_variable_error_names_it() {
    let g = Graph::new();
    let s = g.root();
    let v = variable(&s.with_name("gamma"), 1.0f32, VariableOptions::default()).unwrap();
    let sess = Session::new(&g);
    let e = sess.run([v], &[]).unwrap_err();
    assert!(matches!(e, Error::UninitializedVariable { .. }));
    assert!(e.to_string().contains("'gamma'"), "{e}");
}

#[test]
fn unfed_placeholder_and_bad_feed() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("is_training"), DType::Bool, shape![]).unwrap();
    let y = placeholder(&s.with_name("x"), DType::F32, shape![None, 5]).unwrap();
    let z = math::mul(&s, y, 2.0f32).unwrap();
    let sess = Session::new(&g);
    let e = sess.run([x], &[]).unwrap_err().to_string();
    assert_eq!(e, "placeholder 'is_training' (bool, []) was not fed; add it to the feeds of this run");
    let e = sess.run([z], &feed_dict![y => ndarray::Array2::<f32>::zeros((2, 4))]).unwrap_err().to_string();
    assert!(e.contains("'x:0'") && e.contains("[?, 5]") && e.contains("[2, 4]"), "{e}");
    let e = sess.run([z], &feed_dict![y => ndarray::Array2::<i32>::zeros((2, 5))]).unwrap_err().to_string();
    assert!(e.contains("int32") && e.contains("float32"), "{e}");
}

#[test]
fn feeding_an_intermediate_tensor_skips_its_producer() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![]).unwrap();
    let y = math::mul(&s, x, 3.0f32).unwrap();
    let z = math::add(&s, y, 1.0f32).unwrap();
    let sess = Session::new(&g);
    // x is not fed, but y is: x's placeholder must not run.
    let out = sess.run([z], &feed_dict![y => 10.0f32]).unwrap();
    assert_eq!(scalar(&out[0]), 11.0);
}

#[test]
fn each_node_runs_once_per_run_and_fetch_order_kept() {
    let g = Graph::new();
    let s = g.root();
    let v = variable(&s.with_name("counter"), 0.0f32, VariableOptions::default()).unwrap();
    let inc = assign_add(&s, v, 1.0f32).unwrap();
    let a = math::mul(&s, inc, 1.0f32).unwrap();
    let b = math::mul(&s, inc, 2.0f32).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let out = sess.run([Fetch::from(b), inc.op().into(), a.into()], &[]).unwrap();
    // One value per fetch, op fetches included: an op fetch never shifts the positions after it.
    assert_eq!(out.len(), 3);
    assert_eq!(scalar(&out[0]), 2.0);
    assert!(out[1].is_empty(), "an op fetch holds an empty value, got {:?}", out[1].shape());
    assert_eq!(scalar(&out[2]), 1.0);
    assert_eq!(scalar(&sess.run([v], &[]).unwrap()[0]), 1.0);
    assert_eq!(sess.num_cached_plans(), 3);
}

#[test]
fn control_dependencies_order_and_accumulate() {
    let g = Graph::new();
    let s = g.root();
    let v = variable(&s.with_name("v"), 1.0f32, VariableOptions::default()).unwrap();
    let w = variable(&s.with_name("w"), 0.0f32, VariableOptions::default()).unwrap();
    let set_v = assign(&s, v, 10.0f32).unwrap();
    let copy = s
        .control_dependencies(&[set_v.op()], |s| {
            let inner = s.control_dependencies(&[], |s| assign(s, w, 1.0f32))?;
            assert_eq!(g.node(inner.op()).unwrap().control_inputs, vec![set_v.op()]);
            let read = ferroflow_ops::identity(s, v.value())?;
            assign(s, w, read)
        })
        .unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    // The identity of v is created inside the block, so it runs after set_v and (variables are
    // read when their consumer runs, as TF1's reference variables) sees 10: w becomes 10, not 1.
    let out = sess.run([copy], &[]).unwrap();
    assert_eq!(scalar(&out[0]), 10.0);
    assert_eq!(scalar(&sess.run([w], &[]).unwrap()[0]), 10.0);
    let cleared = s.with_control_dependencies(&[set_v.op()]).without_control_dependencies();
    assert!(cleared.control_deps().is_empty());
}

#[test]
fn cond_runs_inside_ops_only_when_taken() {
    let g = Graph::new();
    let s = g.root();
    let p = placeholder(&s.with_name("p"), DType::Bool, shape![]).unwrap();
    let inside = variable(&s.with_name("inside"), 0.0f32, VariableOptions::default()).unwrap();
    let outside = variable(&s.with_name("outside"), 0.0f32, VariableOptions::default()).unwrap();
    let out_inc = assign_add(&s, outside, 1.0f32).unwrap();
    let y = cond(
        &s,
        p,
        |s| {
            let a = assign_add(s, inside, 1.0f32)?;
            math::add(s, a, out_inc)
        },
        |s| math::mul(s, out_inc, -1.0f32),
    )
    .unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let r = sess.run([y], &feed_dict![p => true]).unwrap();
    assert_eq!(scalar(&r[0]), 2.0);
    let r = sess.run([y], &feed_dict![p => false]).unwrap();
    assert_eq!(scalar(&r[0]), -2.0);
    let vals = sess.run([inside, outside], &[]).unwrap();
    assert_eq!(scalar(&vals[0]), 1.0, "inside op runs only in the taken branch");
    assert_eq!(scalar(&vals[1]), 2.0, "outside op runs either way");
}

#[test]
fn nested_cond_and_structures() {
    let g = Graph::new();
    let s = g.root();
    let p = placeholder(&s, DType::Bool, shape![]).unwrap();
    let q = placeholder(&s, DType::Bool, shape![]).unwrap();
    let x = placeholder(&s, DType::F32, shape![]).unwrap();
    let (a, b) = cond(
        &s,
        p,
        |s| {
            let inner = cond(s, q, |s| math::add(s, x, 1.0f32), |s| math::add(s, x, 2.0f32))?;
            Ok((inner, math::mul(s, x, 10.0f32)?))
        },
        |s| Ok((math::add(s, x, 3.0f32)?, x)),
    )
    .unwrap();
    let sess = Session::new(&g);
    for (pv, qv, ea, eb) in [(true, true, 2.0, 10.0), (true, false, 3.0, 10.0), (false, true, 4.0, 1.0)] {
        let r = sess.run([a, b], &feed_dict![p => pv, q => qv, x => 1.0f32]).unwrap();
        assert_eq!((scalar(&r[0]), scalar(&r[1])), (ea, eb), "p={pv} q={qv}");
    }
}

#[test]
fn cond_branch_mismatch_and_leak_are_build_errors() {
    let g = Graph::new();
    let s = g.root();
    let p = placeholder(&s, DType::Bool, shape![]).unwrap();
    let x = placeholder(&s, DType::F32, shape![]).unwrap();
    let e = cond(&s, p, |s| Ok(vec![math::add(s, x, 1.0f32)?]), |_| Ok(vec![x, x])).unwrap_err();
    assert!(matches!(e, Error::CondMismatch { .. }), "{e}");
    assert!(e.to_string().contains("returns 1 tensor(s) but the false branch returns 2"), "{e}");
    let xi = placeholder(&s, DType::I32, shape![]).unwrap();
    let e = cond(&s, p, |_| Ok(x), |_| Ok(xi)).unwrap_err().to_string();
    assert!(e.contains("float32") && e.contains("int32"), "{e}");
    let mut leaked = None;
    cond(
        &s,
        p,
        |s| {
            let t = math::add(s, x, 1.0f32)?;
            leaked = Some(t);
            Ok(t)
        },
        |_| Ok(x),
    )
    .unwrap();
    let e = math::add(&s, leaked.unwrap(), 1.0f32).unwrap_err().to_string();
    assert!(e.contains("inside the true branch"), "{e}");
    let e = cond(&s, x, |_| Ok(x), |_| Ok(x)).unwrap_err().to_string();
    assert!(e.contains("must be a scalar bool"), "{e}");
}

#[test]
fn dead_fetch_and_graph_mismatch() {
    let g = Graph::new();
    let s = g.root();
    let p = placeholder(&s, DType::Bool, shape![]).unwrap();
    let mut inner = None;
    cond(
        &s,
        p,
        |s| {
            let t = ferroflow_ops::constant(s, 1.0f32)?;
            inner = Some(t);
            Ok(t)
        },
        |s| ferroflow_ops::constant(s, 2.0f32),
    )
    .unwrap();
    let sess = Session::new(&g);
    let e = sess.run([inner.unwrap()], &feed_dict![p => false]).unwrap_err();
    assert!(matches!(e, Error::DeadFetch { .. }), "{e}");
    let g2 = Graph::new();
    let other = ferroflow_ops::constant(&g2.root(), 1.0f32).unwrap();
    let e = sess.run([other], &[]).unwrap_err();
    assert!(matches!(e, Error::GraphMismatch { .. }), "{e}");
    let e = math::add(&s, other, p).unwrap_err();
    assert!(matches!(e, Error::GraphMismatch { .. }), "{e}");
}

#[test]
fn shape_mismatch_is_a_build_error_naming_both() {
    let g = Graph::new();
    let s = g.root();
    let a = placeholder(&s.with_name("a"), DType::F32, shape![None, 3]).unwrap();
    let b = placeholder(&s.with_name("b"), DType::F32, shape![4]).unwrap();
    let e = math::add(&s.with_name("sum"), a, b).unwrap_err().to_string();
    assert_eq!(e, "Add 'sum': incompatible shapes [?, 3] and [4] cannot be broadcast together (inputs: float32 [?, 3], float32 [4])");
}

#[test]
fn run_from_many_threads() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![None]).unwrap();
    let v = variable(&s, 2.0f32, VariableOptions::default()).unwrap();
    let y = math::mul(&s, x, v).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    std::thread::scope(|sc| {
        for i in 0..4 {
            let sess = &sess;
            sc.spawn(move || {
                for _ in 0..50 {
                    let r = sess.run([y], &feed_dict![x => vec![i as f32; 3]]).unwrap();
                    assert_eq!(r[0].to_vec::<f32>().unwrap(), vec![2.0 * i as f32; 3]);
                }
            });
        }
    });
}

#[test]
fn unique_names_and_lookup() {
    let g = Graph::new();
    let s = g.root();
    let a = math::add(&s, 1.0f32, 2.0f32).unwrap();
    let b = math::add(&s, 1.0f32, 2.0f32).unwrap();
    assert_eq!(a.name(&s).unwrap(), "Add:0");
    assert_eq!(b.name(&s).unwrap(), "Add_1:0");
    let inner = s.name_scope("dense", |s| math::add(s, a, b)).unwrap();
    let inner2 = s.name_scope("dense", |s| math::add(s, a, b)).unwrap();
    assert_eq!(inner.name(&s).unwrap(), "dense/Add:0");
    assert_eq!(inner2.name(&s).unwrap(), "dense_1/Add:0");
    assert_eq!(g.tensor_by_name("dense_1/Add:0").unwrap(), inner2);
    let e = g.tensor_by_name("dense_2/Add:0").unwrap_err().to_string();
    assert!(e.contains("no tensor named 'dense_2/Add:0'"), "{e}");
    let _: Vec<Operation> = g.operations();
    let grp = group(&s, &[a.op(), b.op()]).unwrap();
    assert_eq!(g.node(grp).unwrap().control_inputs.len(), 2);
    let dot = g.to_dot();
    assert!(dot.contains("style=dashed"));
}

#[test]
fn a_control_input_added_after_a_run_is_honoured() {
    // The plan cache is keyed on the graph version: the plan cached before the new control
    // input must not run again.
    let g = Graph::new();
    let s = g.root();
    let v = variable(&s.with_name("v"), 0.0f32, VariableOptions::default()).unwrap();
    let bump = assign_add(&s, v, 1.0f32).unwrap();
    let five = ferroflow_ops::state::constant(&s, 5.0f32).unwrap();
    let y = ferroflow_ops::identity(&s.with_name("y"), five).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    sess.run([y], &[]).unwrap();
    assert_eq!(scalar(&sess.variable_value(v).unwrap()), 0.0);
    g.add_control_input(y.op(), bump.op()).unwrap();
    sess.run([y], &[]).unwrap();
    assert_eq!(scalar(&sess.variable_value(v).unwrap()), 1.0, "the stale plan ran without the new control input");
}

#[test]
fn callable_matches_run_checks_feeds_and_follows_graph_changes() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None]).unwrap();
    let k = placeholder(&s.with_name("k"), DType::F32, shape![]).unwrap();
    let v = variable(&s.with_name("v"), 0.0f32, VariableOptions::default()).unwrap();
    let y = math::mul(&s, x, k).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    // Feeds in the caller's order (k before x), not the plan's.
    let f = sess.make_callable(&[k, x], [Fetch::from(y)]).unwrap();
    let out = f.call(&[Value::from(2.0f32), Value::from(vec![1.0f32, 3.0])]).unwrap();
    let want = sess.run([y], &feed_dict![x => vec![1.0f32, 3.0], k => 2.0f32]).unwrap();
    assert_eq!(out, want);

    let e = f.call(&[Value::from(2.0f32)]).unwrap_err();
    assert!(e.to_string().contains("takes 2 feed value(s) (for k:0, x:0), got 1"), "{e}");
    let e = f.call(&[Value::from(vec![2.0f32]), Value::from(vec![1.0f32])]).unwrap_err();
    assert!(matches!(&e, Error::FeedMismatch { name, .. } if name == "k:0"), "{e}");
    let e = sess.make_callable(&[x, x], [y]).unwrap_err();
    assert!(matches!(e, Error::FedTwice { .. }), "{e}");

    // Many threads on one callable give the serial result.
    std::thread::scope(|t| {
        for i in 0..4 {
            let f = &f;
            t.spawn(move || {
                for _ in 0..50 {
                    let out = f.call(&[Value::from(i as f32), Value::from(vec![1.0f32, 3.0])]).unwrap();
                    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![i as f32, 3.0 * i as f32]);
                }
            });
        }
    });

    // A control input added after the callable was made runs with it.
    let bump = assign_add(&s, v, 1.0f32).unwrap();
    let y2 = ferroflow_ops::identity(&s, y).unwrap();
    let f2 = sess.make_callable(&[k, x], [y2]).unwrap();
    f2.call(&[Value::from(1.0f32), Value::from(vec![1.0f32])]).unwrap();
    g.add_control_input(y2.op(), bump.op()).unwrap();
    f2.call(&[Value::from(1.0f32), Value::from(vec![1.0f32])]).unwrap();
    assert_eq!(scalar(&sess.variable_value(v).unwrap()), 1.0);
}
