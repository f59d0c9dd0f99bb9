//! `optimize_for_inference` on the four founding networks: after a few training steps (so the
//! population statistics, gamma and beta are no longer 0/1), the frozen, pruned, BN-folded graph
//! gives the original graph's inference-mode outputs, for a batch and for single images.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;

use ferroflow::prelude::*;
use ferroflow::train::{optimize_for_inference, InferenceGraph};
use ndarray::{Array2, Array4, ArrayD};

/// Deterministic images in [0, 1) and one-hot labels.
fn batch(n: usize, seed: usize) -> (Array4<f32>, Array2<f32>) {
    let x = Array4::<f32>::from_shape_fn((n, 28, 28, 1), |(b, i, j, _)| {
        (((b + seed) * 31 + i * 7 + j * 13) % 97) as f32 / 97.0
    });
    let y = Array2::<f32>::from_shape_fn((n, 10), |(b, k)| if k == (b + seed) % 10 { 1.0 } else { 0.0 });
    (x, y)
}

fn images(x: &Array4<f32>, flat: bool) -> ArrayD<f32> {
    let n = x.shape()[0];
    if flat {
        x.clone().into_shape_with_order((n, 784)).unwrap().into_dyn()
    } else {
        x.clone().into_dyn()
    }
}

/// Largest |a - b| relative to max(1, max |a|).
fn rel_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    let scale = a.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

fn op_types(g: &Graph) -> Vec<&'static str> {
    g.operations().into_iter().map(|op| op.type_name(g).unwrap()).collect()
}

/// The optimized graph holds no variable, no assign, no cond and no training-only op.
fn assert_serving_only(served: &InferenceGraph) {
    let types = op_types(&served.graph);
    for banned in ["VariableV2", "Assign", "AssignSub", "AssignAdd", "Merge", "Dropout", "FusedMoments", "Mean"] {
        assert!(!types.contains(&banned), "the optimized graph still has a {banned} op: {types:?}");
    }
}

/// Compares original and optimized outputs on a batch of 16 and on 3 single images.
fn compare(sess: &Session, inputs: Tensor, output: Tensor, fixed: &[(Tensor, Value)], flat: bool) -> InferenceGraph {
    let served = optimize_for_inference(sess, &[inputs], &[output], fixed).unwrap();
    assert_serving_only(&served);
    assert_eq!(served.inputs[0].name(&served.graph).unwrap(), inputs.name(sess).unwrap(), "the input keeps its name");
    assert_eq!(served.outputs[0].name(&served.graph).unwrap(), output.name(sess).unwrap(), "the output keeps its name");
    let served_sess = Session::new(&served.graph);
    let (x, _) = batch(16, 99);
    let mut feeds: Vec<(Tensor, Value)> = fixed.to_vec();
    feeds.push((inputs, Value::from(images(&x, flat))));
    let want = sess.run([output], &feeds).unwrap()[0].to_array::<f32>().unwrap();
    let got = served_sess.run([served.outputs[0]], &[(served.inputs[0], Value::from(images(&x, flat)))]).unwrap()[0]
        .to_array::<f32>()
        .unwrap();
    let d = rel_diff(&want, &got);
    assert!(d <= 1e-5, "batch of 16: optimized output differs by {d:e} (relative)");
    for i in 0..3 {
        let xi = x.slice(ndarray::s![i..i + 1, .., .., ..]).to_owned();
        let mut feeds: Vec<(Tensor, Value)> = fixed.to_vec();
        feeds.push((inputs, Value::from(images(&xi, flat))));
        let want = sess.run([output], &feeds).unwrap()[0].to_array::<f32>().unwrap();
        let got = served_sess.run([served.outputs[0]], &[(served.inputs[0], Value::from(images(&xi, flat)))]).unwrap()
            [0]
        .to_array::<f32>()
        .unwrap();
        let d = rel_diff(&want, &got);
        assert!(d <= 1e-5, "image {i}: optimized output differs by {d:e} (relative)");
    }
    served
}

/// Builds a founding model, trains it 3 steps and checks the optimized graph against it.
fn founding(build: impl Fn(&Scope) -> Result<common::Model>) -> InferenceGraph {
    let g = Graph::new();
    g.set_random_seed(7);
    let s = g.root();
    let m = build(&s).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let flat = !m.image_input;
    for step in 0..3 {
        let (x, y) = batch(16, step);
        let feeds = feed_dict![m.inputs => images(&x, flat), m.labels => y, m.is_training => true];
        sess.run_ops(&[m.train_op], &feeds).unwrap();
    }
    compare(&sess, m.inputs, m.logits, &feed_dict![m.is_training => false], flat)
}

#[test]
fn conv20_low_level_bn_folds_every_batch_norm() {
    let served = founding(|s| common::models::batchnorm_conv20(s, 0.002));
    // 19 convs and the dense 100 layer, each followed by the low-level batch norm.
    assert_eq!(served.stats.folded_batch_norms, 20, "{:?}", served.stats);
    assert_eq!(served.stats.pruned_conds, 20, "{:?}", served.stats);
    let types = op_types(&served.graph);
    assert!(!types.contains(&"Rsqrt"), "rsqrt(var + eps) must be frozen: {types:?}");
    assert_eq!(types.iter().filter(|t| **t == "Mul").count(), 0, "every BN scale folds into its filter: {types:?}");
}

#[test]
fn layers_bn_net_folds_every_fused_batch_norm() {
    let served = founding(|s| common::models::batchnorm_layers(s, 0.002, true));
    assert_eq!(served.stats.folded_batch_norms, 20, "{:?}", served.stats);
    let types = op_types(&served.graph);
    assert!(!types.contains(&"FusedBatchNormV3"), "{types:?}");
}

#[test]
fn bn_mlp_is_frozen_and_pruned() {
    // Its batch norms follow the input and a ReLU: nothing to fold into, but the training
    // branch, the moments and the assigns are gone and the statistics are constants.
    let served = founding(|s| common::models::batchnorm_mlp(s, 0.5));
    assert_eq!(served.stats.folded_batch_norms, 0, "{:?}", served.stats);
    assert!(served.stats.pruned_conds >= 2, "{:?}", served.stats);
}

#[test]
fn tflearn_convnet_drops_dropout() {
    let (net, x, head) = common::models::tflearn_convnet(3, 0.01).unwrap();
    let is_training = net.is_training();
    let dnn = ferroflow::tflearn::DNN::new(net, head).unwrap();
    let sess = dnn.session();
    for step in 0..2 {
        let (xb, yb) = batch(16, step);
        sess.run_ops(&[head.train_op], &feed_dict![x => xb, head.target => yb, is_training => true]).unwrap();
    }
    // tflearn's is_training is a placeholder_with_default(false): no fix needed.
    compare(sess, x, head.output, &[], false);
}

#[test]
fn unfed_placeholder_and_other_graph_are_clear_errors() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 2]).unwrap();
    let scale = placeholder(&s.with_name("scale"), DType::F32, shape![]).unwrap();
    let y = math::mul(&s.with_name("y"), x, scale).unwrap();
    let sess = Session::new(&g);
    let err = optimize_for_inference(&sess, &[x], &[y], &[]).err().expect("scale is neither input nor fixed");
    let msg = err.to_string();
    assert!(msg.contains("'scale:0'") && msg.contains("inputs") && msg.contains("fixed"), "{msg}");
    let err = optimize_for_inference(&sess, &[x], &[y], &feed_dict![x => 1.0f32]).err().unwrap();
    assert!(err.to_string().contains("both an input and fixed"), "{err}");
    let other = Graph::new();
    let z = placeholder(&other.root(), DType::F32, shape![]).unwrap();
    assert!(optimize_for_inference(&sess, &[x], &[z], &[]).is_err());
    // With the scale fixed, the multiply stays (x is an input) and the result is right.
    let served = optimize_for_inference(&sess, &[x], &[y], &feed_dict![scale => 3.0f32]).unwrap();
    let out = Session::new(&served.graph)
        .run([served.outputs[0]], &[(served.inputs[0], Value::from(ndarray::arr2(&[[1.0f32, 2.0]]).into_dyn()))])
        .unwrap();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![3.0, 6.0]);
}

#[test]
fn a_cond_on_an_input_stays_a_cond() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None]).unwrap();
    let p = placeholder(&s.with_name("p"), DType::Bool, shape![]).unwrap();
    let w = variable(&s.with_name("w"), ndarray::arr1(&[2.0f32]), VariableOptions::default()).unwrap();
    let y = cond(&s, p, |s| math::mul(s, x, w.value()), |s| math::neg(s, x)).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[w.initializer()], &[]).unwrap();
    let served = optimize_for_inference(&sess, &[x, p], &[y], &[]).unwrap();
    assert!(op_types(&served.graph).contains(&"Merge"));
    let ss = Session::new(&served.graph);
    for (pv, want) in [(true, vec![2.0f32, 4.0]), (false, vec![-1.0, -2.0])] {
        let out = ss
            .run(
                [served.outputs[0]],
                &[(served.inputs[0], Value::from(vec![1.0f32, 2.0])), (served.inputs[1], Value::from(pv))],
            )
            .unwrap();
        assert_eq!(out[0].to_vec::<f32>().unwrap(), want, "p = {pv}");
    }
}

#[test]
fn folding_keeps_the_rank_a_constant_broadcasts_to() {
    // (x·W + b)·c with b [1, 3] and c [1, 1, 3]: the product is rank 3, and must stay so.
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 2]).unwrap();
    let w =
        variable(&s.with_name("w"), ndarray::arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]), VariableOptions::default())
            .unwrap();
    let b = constant(&s, ndarray::arr2(&[[0.5f32, -1.0, 2.0]]).into_dyn()).unwrap();
    let c = constant(&s, ndarray::Array3::<f32>::from_shape_vec((1, 1, 3), vec![2.0, 3.0, -1.0]).unwrap().into_dyn())
        .unwrap();
    let h = math::add(&s, math::matmul(&s, x, w.value(), false, false).unwrap(), b).unwrap();
    let y = math::mul(&s.with_name("y"), h, c).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[w.initializer()], &[]).unwrap();
    let xv = Value::from(ndarray::arr2(&[[1.0f32, -2.0], [0.5, 3.0]]).into_dyn());
    let want = sess.run([y], &[(x, xv.clone())]).unwrap()[0].to_array::<f32>().unwrap();
    let served = optimize_for_inference(&sess, &[x], &[y], &[]).unwrap();
    let got = Session::new(&served.graph).run([served.outputs[0]], &[(served.inputs[0], xv)]).unwrap()[0]
        .to_array::<f32>()
        .unwrap();
    assert_eq!(got.shape(), want.shape());
    assert!(rel_diff(&want, &got) <= 1e-6);
}
