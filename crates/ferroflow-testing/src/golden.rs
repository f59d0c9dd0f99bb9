//! Running a TF golden op case through ferroflow: the one harness every op-family test uses.

use crate::fixtures::OpCase;
use ferroflow_core::{Graph, Result, Scope, Shape, Tensor, Value};
use ferroflow_ops::placeholder;
use ferroflow_session::Session;
use ferroflow_train::gradients;

/// Builds `case`'s op with `build` on placeholders fed with the case's inputs and returns the
/// outputs and the gradients of `Σₖ sum(outputs[k] · upstream[k])` w.r.t. each input — exactly
/// what the fixture generator asked TensorFlow for (`upstream` is passed as `grad_ys`).
pub fn run_op_case(
    case: &OpCase,
    build: impl Fn(&Scope, &[Tensor]) -> Result<Vec<Tensor>>,
) -> (Vec<Value>, Vec<Option<Value>>) {
    let g = Graph::new();
    let s = g.root();
    let xs: Vec<Tensor> = case
        .inputs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            placeholder(&s.with_name(&format!("in{i}")), v.dtype(), Shape::known(v.shape())).expect("placeholder")
        })
        .collect();
    let ys = build(&s, &xs).unwrap_or_else(|e| panic!("case '{}': building the op failed: {e}", case.name));
    let ups: Vec<Tensor> = case
        .upstream
        .iter()
        .enumerate()
        .map(|(i, v)| {
            placeholder(&s.with_name(&format!("up{i}")), v.dtype(), Shape::known(v.shape())).expect("placeholder")
        })
        .collect();
    let grads =
        gradients(&s, &ys, &xs, Some(&ups)).unwrap_or_else(|e| panic!("case '{}': gradients failed: {e}", case.name));
    let mut feeds: Vec<(Tensor, Value)> = xs.iter().copied().zip(case.inputs.iter().cloned()).collect();
    feeds.extend(ups.iter().copied().zip(case.upstream.iter().cloned()));
    let sess = Session::new(&g);
    let outs = sess
        .run(ys.iter().copied(), &feeds)
        .unwrap_or_else(|e| panic!("case '{}': forward run failed: {e}", case.name));
    let grads = grads
        .iter()
        .map(|gt| {
            gt.map(|t| {
                sess.run([t], &feeds)
                    .unwrap_or_else(|e| panic!("case '{}': gradient run failed: {e}", case.name))
                    .remove(0)
            })
        })
        .collect();
    (outs, grads)
}
