//! Operator sugar (`+ - * /`, unary `-`, literals on either side): the ops land in the scope of
//! the builder that consumes the expression (cond branch, control dependencies), and build
//! errors still surface through `?` naming the node.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, DType, Graph};
use ferroflow_ops::state::{assign, assign_add, global_variables_initializer, variable, VariableOptions};
use ferroflow_ops::{cond, convert_to_tensor, math, placeholder};
use ferroflow_session::{feed_dict, RunOptions, Session};
use ndarray::arr1;

#[test]
fn operators_compute_what_the_builders_compute() {
    let g = Graph::new();
    let s = g.root();
    let a = placeholder(&s.with_name("a"), DType::F32, shape![3]).unwrap();
    let b = placeholder(&s.with_name("b"), DType::F32, shape![3]).unwrap();
    let y = convert_to_tensor(&s, (a + b) * 2.0 - a / b + (-a) + (1.0 - b) * 0.5).unwrap();
    let i = placeholder(&s.with_name("i"), DType::I64, shape![]).unwrap();
    let j = convert_to_tensor(&s, 2 * i - 1).unwrap();
    let out = Session::new(&g)
        .run([y, j], &feed_dict![a => arr1(&[1.0f32, 2.0, 3.0]), b => arr1(&[2.0f32, 4.0, 6.0]), i => 5i64])
        .unwrap();
    let want: Vec<f32> = [(1.0f32, 2.0f32), (2.0, 4.0), (3.0, 6.0)]
        .iter()
        .map(|&(a, b)| (a + b) * 2.0 - a / b + (-a) + (1.0 - b) * 0.5)
        .collect();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), want);
    assert_eq!(out[1].scalar::<i64>().unwrap(), 9);
    assert_eq!(j.dtype(&s).unwrap(), DType::I64, "an integer literal takes the tensor's dtype");
}

#[test]
fn an_expression_inside_a_cond_branch_runs_only_when_the_branch_is_taken() {
    let g = Graph::new();
    let s = g.root();
    let p = placeholder(&s.with_name("p"), DType::Bool, shape![]).unwrap();
    let a = placeholder(&s.with_name("a"), DType::F32, shape![2]).unwrap();
    let b = placeholder(&s.with_name("b"), DType::F32, shape![2]).unwrap();
    let y = cond(&s.with_name("cond"), p, |s| convert_to_tensor(&s.with_name("sum"), a + b), |s| math::sub(s, a, b))
        .unwrap();
    let sess = Session::new(&g);
    let ran_sum = |taken: bool| {
        let feeds = feed_dict![p => taken, a => arr1(&[1.0f32, 2.0]), b => arr1(&[3.0f32, 5.0])];
        let (out, meta) = sess.run_with_options([y], &feeds, RunOptions::full_trace()).unwrap();
        let names: Vec<&str> = meta.nodes.iter().map(|n| n.name.as_str()).collect();
        (out[0].to_vec::<f32>().unwrap(), names.iter().any(|n| n.ends_with("sum")))
    };
    assert_eq!(ran_sum(true), (vec![4.0, 7.0], true));
    assert_eq!(ran_sum(false), (vec![-2.0, -3.0], false), "the Add of `a + b` ran though its branch was not taken");
}

#[test]
fn an_expression_inside_control_dependencies_carries_the_control_input() {
    let g = Graph::new();
    let s = g.root();
    let v = variable(&s.with_name("v"), 0.0f32, VariableOptions::default()).unwrap();
    let inc = assign_add(&s.with_name("inc"), v, 1.0f32).unwrap();
    // Only `y` is fetched: `inc` runs only if the sugar's op carries the control input.
    let y = s.control_dependencies(&[inc.op()], |s| convert_to_tensor(s, v * 2.0)).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    assert_eq!(sess.run([y], &[]).unwrap()[0].scalar::<f32>().unwrap(), 2.0);
    assert_eq!(sess.run([y], &[]).unwrap()[0].scalar::<f32>().unwrap(), 4.0);
}

#[test]
fn the_pop_stat_update_reads_as_tf1() {
    let g = Graph::new();
    let s = g.root();
    let decay = 0.9f32;
    let pop_mean = variable(&s.with_name("pop_mean"), arr1(&[0.0f32, 10.0]), VariableOptions::default()).unwrap();
    let batch_mean = placeholder(&s.with_name("batch_mean"), DType::F32, shape![2]).unwrap();
    let up = assign(&s, pop_mean, pop_mean * decay + batch_mean * (1.0 - decay)).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let out = sess.run([up], &feed_dict![batch_mean => arr1(&[10.0f32, 0.0])]).unwrap();
    let got = out[0].to_vec::<f32>().unwrap();
    assert!((got[0] - 1.0).abs() < 1e-6 && (got[1] - 9.0).abs() < 1e-6, "{got:?}");
}

#[test]
fn a_shape_mismatch_surfaces_through_the_question_mark_naming_the_node() {
    fn build() -> ferroflow_core::Result<()> {
        let g = Graph::new();
        let s = g.root();
        let a = placeholder(&s.with_name("a"), DType::F32, shape![2, 3])?;
        let b = placeholder(&s.with_name("b"), DType::F32, shape![4])?;
        let _y = math::reduce_sum(&s.with_name("total"), a * 2.0 + b, None, false)?;
        Ok(())
    }
    let e = build().unwrap_err().to_string();
    // The builder's name stays the builder's: the sugar's own op keeps its default name.
    assert!(e.contains("Add 'Add'") && e.contains("[2, 3]") && e.contains("[4]"), "{e}");
    let g = Graph::new();
    let s = g.root();
    let a = placeholder(&s.with_name("a"), DType::F32, shape![2, 3]).unwrap();
    let c = placeholder(&s.with_name("c"), DType::F64, shape![2, 3]).unwrap();
    let p = placeholder(&s.with_name("p"), DType::Bool, shape![]).unwrap();
    let e = cond(&s.with_name("branch"), p, |s| convert_to_tensor(&s.with_name("mixed"), a - c), |_| Ok(a))
        .unwrap_err()
        .to_string();
    assert!(e.contains("mixed") && e.contains("float64"), "{e}");
}
