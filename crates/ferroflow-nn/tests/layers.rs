//! tf.layers / contrib layers: TF's variable names, UPDATE_OPS behaviour, both flag types, and
//! values against the `layers` golden fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, DType, Graph, Value, GLOBAL_VARIABLES, TRAINABLE_VARIABLES, UPDATE_OPS};
use ferroflow_nn::contrib::{self, ContribBatchNormOptions};
use ferroflow_nn::layers::{self, Activation, BatchNormOptions, DenseOptions};
use ferroflow_nn::Training;
use ferroflow_ops::random::Initializer;
use ferroflow_ops::state::{global_variables_initializer, placeholder};
use ferroflow_session::{feed_dict, Session};
use ferroflow_testing::{assert_close, load};

fn names(g: &ferroflow_core::Graph, vars: Vec<ferroflow_core::Variable>) -> Vec<String> {
    let mut n: Vec<String> = vars.into_iter().map(|v| v.name(g).unwrap()).collect();
    n.sort();
    n
}

fn bn_fixture(case: &str) {
    let f = load("layers");
    let p = f.program(case);
    let x_val = p.value("x").clone();
    let rank = x_val.shape().len();
    let g = Graph::new();
    let s = g.root();
    let mut dims: Vec<Option<usize>> = x_val.shape().iter().map(|&d| Some(d)).collect();
    dims[0] = None;
    let x = placeholder(&s.with_name("x"), DType::F32, ferroflow_core::Shape::from_dims(dims)).unwrap();
    let training = placeholder(&s.with_name("training"), DType::Bool, shape![]).unwrap();
    let y = layers::batch_normalization(&s, x, training, BatchNormOptions::default()).unwrap();
    let y2 = layers::batch_normalization(&s, x, training, BatchNormOptions::default()).unwrap();

    // Names and shapes as TF creates them.
    assert_eq!(names(&g, g.global_variables()), p.strings("global_variables"));
    assert_eq!(names(&g, g.trainable_variables()), p.strings("trainable_variables"));
    for v in g.global_variables() {
        assert_eq!(v.shape(&s).unwrap().as_known().unwrap(), p.shape(&v.name(&s).unwrap()), "{}", v.name(&s).unwrap());
    }
    let updates = g.collection_ops(&UPDATE_OPS);
    assert_eq!(updates.len(), 4);
    if rank == 4 {
        let got: Vec<String> = updates.iter().map(|o| o.name(&s).unwrap()).collect();
        assert_eq!(got, p.strings("update_ops"));
    }

    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let mm = g.variable_by_name("batch_normalization/moving_mean").unwrap();
    let mv = g.variable_by_name("batch_normalization/moving_variance").unwrap();
    // Fetching only the output leaves the moving stats untouched.
    let out = sess.run([y], &feed_dict![x => x_val.clone(), training => true]).unwrap();
    assert_close(&out[0], p.value("y_train_output_only"), 1e-4, 1e-5);
    let stats = sess.run([mm, mv], &[]).unwrap();
    assert_close(&stats[0], p.value("moving_mean_after_output_only"), 1e-6, 1e-7);
    assert_close(&stats[1], p.value("moving_variance_after_output_only"), 1e-6, 1e-7);
    // Running the first layer's two update ops updates them once.
    let mut fetches: Vec<ferroflow_session::Fetch> = vec![y.into()];
    fetches.extend(updates[..2].iter().map(|o| ferroflow_session::Fetch::from(*o)));
    let out = sess.run(fetches, &feed_dict![x => x_val.clone(), training => true]).unwrap();
    assert_close(&out[0], p.value("y_train_with_updates"), 1e-4, 1e-5);
    let stats = sess.run([mm, mv], &[]).unwrap();
    assert_close(&stats[0], p.value("moving_mean_after_update"), 1e-5, 1e-6);
    assert_close(&stats[1], p.value("moving_variance_after_update"), 1e-5, 1e-6);
    // Inference uses the moving stats and changes nothing, even with update ops fetched.
    let xi = p.value("x_infer").clone();
    let mut fetches: Vec<ferroflow_session::Fetch> = vec![y.into(), y2.into()];
    fetches.extend(updates.iter().map(|o| ferroflow_session::Fetch::from(*o)));
    let out = sess.run(fetches, &feed_dict![x => xi, training => false]).unwrap();
    assert_close(&out[0], p.value("y_infer"), 1e-4, 1e-5);
    assert_close(&out[1], p.value("y2_infer"), 1e-4, 1e-5);
    let stats = sess.run([mm, mv], &[]).unwrap();
    assert_close(&stats[0], p.value("moving_mean_after_infer"), 1e-5, 1e-6);
    assert_close(&stats[1], p.value("moving_variance_after_infer"), 1e-5, 1e-6);
}

#[test]
fn batch_normalization_2d_matches_tf() {
    bn_fixture("batch_normalization_2d");
}

#[test]
fn batch_normalization_nhwc_uses_fused_path_and_corrected_variance() {
    bn_fixture("batch_normalization_nhwc");
}

#[test]
fn batch_normalization_with_fixed_flags() {
    let f = load("layers");
    let p = f.program("batch_normalization_python_bool");
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 3]).unwrap();
    let y_train = layers::batch_normalization(&s, x, true, BatchNormOptions::default()).unwrap();
    let y_infer = layers::batch_normalization(&s, x, false, BatchNormOptions::default()).unwrap();
    assert_eq!(names(&g, g.global_variables()), p.strings("global_variables"));
    let updates: Vec<String> = g.collection_ops(&UPDATE_OPS).iter().map(|o| o.name(&s).unwrap()).collect();
    assert_eq!(updates, p.strings("update_ops"));
    // The fixed-true trap is announced.
    assert!(
        g.warnings().iter().any(|w| w.contains("built with training fixed to true in 1 layer: 'batch_normalization'")),
        "{:?}",
        g.warnings()
    );
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let xv = p.value("x").clone();
    let out = sess.run([y_train, y_infer], &feed_dict![x => xv.clone()]).unwrap();
    assert_close(&out[0], p.value("y_train"), 1e-4, 1e-5);
    assert_close(&out[1], p.value("y_infer"), 1e-4, 1e-5);
    sess.run_ops(&g.collection_ops(&UPDATE_OPS), &feed_dict![x => xv]).unwrap();
    let mm = g.variable_by_name("batch_normalization/moving_mean").unwrap();
    let mv = g.variable_by_name("batch_normalization/moving_variance").unwrap();
    let stats = sess.run([mm, mv], &[]).unwrap();
    assert_close(&stats[0], p.value("moving_mean_after_update"), 1e-5, 1e-6);
    assert_close(&stats[1], p.value("moving_variance_after_update"), 1e-5, 1e-6);
}

#[test]
fn dense_names_and_values_match_tf() {
    let f = load("layers");
    let p = f.program("dense_names");
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 3]).unwrap();
    let init = |k: &str| Initializer::Value(p.value(k).clone());
    let h = layers::dense(
        &s,
        x,
        4,
        DenseOptions::default().activation(Activation::Relu).kernel_initializer(init("dense_kernel")),
    )
    .unwrap();
    let mut o = DenseOptions::default().kernel_initializer(init("dense_1_kernel"));
    o.bias_initializer = Initializer::Zeros;
    let out = layers::dense(&s, h, 2, o).unwrap();
    let logits = layers::dense(&s, x, 2, DenseOptions::default().use_bias(false).name("logits")).unwrap();
    assert_eq!(names(&g, g.collection_variables(&GLOBAL_VARIABLES)), p.strings("global_variables"));
    assert_eq!(names(&g, g.collection_variables(&TRAINABLE_VARIABLES)), p.strings("trainable_variables"));
    assert_eq!(logits.name(&s).unwrap(), "logits/MatMul:0");
    assert_eq!(h.op().name(&s).unwrap().split('/').next(), Some("dense"));
    // TF's dense bias in this case was a constant initializer: set it through a restore-like write.
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let bias = g.variable_by_name("dense/bias").unwrap();
    sess.set_variable_values(vec![(bias, p.value("dense_bias").clone())]).unwrap();
    let r = sess.run([h, out], &feed_dict![x => p.value("x").clone()]).unwrap();
    assert_close(&r[0], p.value("h"), 1e-5, 1e-6);
    assert_close(&r[1], p.value("out"), 1e-5, 1e-6);
}

#[test]
fn contrib_batch_norm_defaults_and_in_place_updates() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 2]).unwrap();
    let t = placeholder(&s.with_name("is_training"), DType::Bool, shape![]).unwrap();
    let y = contrib::batch_norm(&s, x, t, ContribBatchNormOptions::default()).unwrap();
    // scale=false by default: no gamma.
    assert_eq!(
        names(&g, g.global_variables()),
        vec!["BatchNorm/beta", "BatchNorm/moving_mean", "BatchNorm/moving_variance"]
    );
    assert_eq!(g.collection_ops(&UPDATE_OPS).len(), 2);
    // updates_collections=None: the updates run with the output.
    let y2 = contrib::batch_norm(&s, x, t, ContribBatchNormOptions { updates_collections: None, ..Default::default() })
        .unwrap();
    assert_eq!(g.collection_ops(&UPDATE_OPS).len(), 2);
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let xv = Value::from(ndarray::arr2(&[[1.0f32, 2.0], [3.0, 6.0]]));
    sess.run([y, y2], &feed_dict![x => xv, t => true]).unwrap();
    let m1 = g.variable_by_name("BatchNorm/moving_mean").unwrap();
    let m2 = g.variable_by_name("BatchNorm_1/moving_mean").unwrap();
    let r = sess.run([m1, m2], &[]).unwrap();
    assert_eq!(r[0].to_vec::<f32>().unwrap(), vec![0.0, 0.0], "collection updates do not run by themselves");
    let m2v = r[1].to_vec::<f32>().unwrap();
    // decay 0.999: moving = 0.001 * batch mean.
    assert!((m2v[0] - 0.002).abs() < 1e-6 && (m2v[1] - 0.004).abs() < 1e-6, "{m2v:?}");
}

#[test]
fn contrib_fully_connected_names_and_training_select() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 3]).unwrap();
    contrib::fully_connected(&s, x, 4, contrib::FullyConnectedOptions::default()).unwrap();
    assert_eq!(names(&g, g.global_variables()), vec!["fully_connected/biases", "fully_connected/weights"]);
    assert_eq!(Training::from(true).fixed(), Some(true));
    assert!(layers::dense(&s, placeholder(&s, DType::F32, shape![None]).unwrap(), 2, DenseOptions::default()).is_err());
}

#[test]
fn contrib_fully_connected_default_is_relu_and_none_is_linear() {
    // TF1: activation_fn defaults to relu; activation_fn=None is linear.
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 2]).unwrap();
    let w = ferroflow_ops::random::Initializer::Value(ndarray::arr2(&[[1.0f32], [-1.0]]).into_dyn().into());
    let opts = || contrib::FullyConnectedOptions::default().weights_initializer(w.clone());
    let relu = contrib::fully_connected(&s, x, 1, opts()).unwrap();
    let linear = contrib::fully_connected(&s, x, 1, opts().activation_fn(None)).unwrap();
    let tanh = contrib::fully_connected(
        &s,
        x,
        1,
        opts().activation_fn(Some(Activation::Tanh)).biases_initializer(None).scope("fc_tanh"),
    )
    .unwrap();
    assert!(names(&g, g.global_variables()).contains(&"fc_tanh/weights".to_string()));
    assert!(!names(&g, g.global_variables()).contains(&"fc_tanh/biases".to_string()));
    let sess = Session::new(&g);
    sess.run_ops(&[ferroflow_ops::state::global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let out = sess.run([relu, linear, tanh], &feed_dict![x => ndarray::arr2(&[[0.0f32, 2.0]])]).unwrap();
    let v: Vec<f32> = out.iter().map(|o| o.to_vec::<f32>().unwrap()[0]).collect();
    assert_eq!(v[0], 0.0, "default must be relu");
    assert_eq!(v[1], -2.0, "activation_fn(None) must be linear");
    assert!((v[2] - (-2.0f32).tanh()).abs() < 1e-6);
}

/// A weights initializer with fixed values (so a layer's output sign is known).
fn fixed(v: ndarray::ArrayD<f32>) -> Initializer {
    Initializer::Value(v.into())
}

#[test]
fn layers_dense_and_conv2d_default_to_linear_as_tf1() {
    // TF1: tf.layers.dense / tf.layers.conv2d have activation=None (linear) by default, unlike
    // tf.contrib.layers.fully_connected: a negative pre-activation must come out negative.
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 2]).unwrap();
    let w = fixed(ndarray::arr2(&[[1.0f32], [-1.0]]).into_dyn());
    let dense = layers::dense(&s, x, 1, DenseOptions::default().kernel_initializer(w.clone())).unwrap();
    let relu =
        layers::dense(&s, x, 1, DenseOptions::default().kernel_initializer(w).activation(Activation::Relu)).unwrap();
    let img = placeholder(&s.with_name("img"), DType::F32, shape![None, 1, 1, 1]).unwrap();
    let k = fixed(ndarray::Array4::from_elem((1, 1, 1, 1), -1.0f32).into_dyn());
    let conv =
        layers::conv2d(&s, img, 1, (1, 1), layers::Conv2dOptions::default().kernel_initializer(k).name("c1")).unwrap();
    assert!(names(&g, g.global_variables()).contains(&"c1/kernel".to_string()), "Conv2dOptions::name sets the scope");
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let out = sess
        .run(
            [dense, relu, conv],
            &feed_dict![x => ndarray::arr2(&[[0.0f32, 2.0]]), img => ndarray::Array4::from_elem((1, 1, 1, 1), 3.0f32)],
        )
        .unwrap();
    let v: Vec<f32> = out.iter().map(|o| o.to_vec::<f32>().unwrap()[0]).collect();
    assert_eq!(v, vec![-2.0, 0.0, -3.0]);
}

#[test]
fn contrib_batch_norm_setters_scope_and_in_place_updates() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 2]).unwrap();
    let t = placeholder(&s.with_name("is_training"), DType::Bool, shape![]).unwrap();
    let opts = ContribBatchNormOptions::default().decay(0.9).scale(true).epsilon(0.0).updates_collections(None);
    let y = contrib::batch_norm(&s, x, t, opts.scope("bn1")).unwrap();
    assert_eq!(
        names(&g, g.global_variables()),
        vec!["bn1/beta", "bn1/gamma", "bn1/moving_mean", "bn1/moving_variance"],
        "scope(...) names the variables; scale(true) adds gamma"
    );
    assert!(g.collection_ops(&UPDATE_OPS).is_empty(), "updates_collections(None) leaves UPDATE_OPS empty");
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let xv = Value::from(ndarray::arr2(&[[1.0f32, 2.0], [3.0, 6.0]]));
    let out = sess.run([y], &feed_dict![x => xv.clone(), t => true]).unwrap();
    // epsilon 0: each column normalizes to [-1, 1].
    assert_close(&out[0], &Value::from(ndarray::arr2(&[[-1.0f32, -1.0], [1.0, 1.0]])), 1e-5, 1e-6);
    let mm = g.variable_by_name("bn1/moving_mean").unwrap();
    // decay 0.9, in place: moving = 0.1 * batch mean after the one run that fetched only y.
    let m = sess.run([mm], &[]).unwrap()[0].to_vec::<f32>().unwrap();
    assert!((m[0] - 0.2).abs() < 1e-6 && (m[1] - 0.4).abs() < 1e-6, "{m:?}");
    // Not training: the in-place updates are no-ops.
    sess.run([y], &feed_dict![x => xv, t => false]).unwrap();
    let m = sess.run([mm], &[]).unwrap()[0].to_vec::<f32>().unwrap();
    assert!((m[0] - 0.2).abs() < 1e-6 && (m[1] - 0.4).abs() < 1e-6, "{m:?}");
}

#[test]
fn is_training_of_unknown_shape_fed_a_vector_names_the_cond_and_predicate() {
    // The founding bug report: an is_training placeholder of unknown shape fed a non-scalar
    // must be reported against the cond and its predicate, not an op inside a branch.
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 2]).unwrap();
    let t = placeholder(&s.with_name("is_training"), DType::Bool, ferroflow_core::Shape::unknown()).unwrap();
    let y = contrib::batch_norm(&s, x, t, ContribBatchNormOptions::default()).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let xv = Value::from(ndarray::arr2(&[[1.0f32, 2.0], [3.0, 6.0]]));
    let e = sess.run([y], &feed_dict![x => xv, t => vec![true, false]]).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ferroflow_core::Error::CondPredicate { .. }), "{msg}");
    assert!(msg.starts_with("cond 'BatchNorm/cond"), "{msg}");
    assert!(msg.contains("'is_training:0'") && msg.contains("bool [2]"), "{msg}");
    // A known non-scalar shape is rejected when the layer is built, naming cond and predicate.
    let v = placeholder(&s.with_name("flags"), DType::Bool, shape![2]).unwrap();
    let e = contrib::batch_norm(&s, x, v, ContribBatchNormOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("BatchNorm_1/cond") && msg.contains("'flags:0'") && msg.contains("bool [2]"), "{msg}");
}

#[test]
fn nn_batch_normalization_takes_variables_as_tf1() {
    // The docs/tf1-users.md row: tf.nn.batch_normalization(x, m, v, beta, gamma, 1e-3) with
    // beta and gamma variables.
    use ferroflow_ops::state::{variable, VariableOptions};
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 2]).unwrap();
    let (m, v) = ferroflow_ops::nn::moments(&s, x, &[0], false).unwrap();
    let beta = variable(&s.with_name("beta"), vec![1.0f32, -1.0], VariableOptions::default()).unwrap();
    let gamma = variable(&s.with_name("gamma"), vec![2.0f32, 3.0], VariableOptions::default()).unwrap();
    let y = ferroflow_ops::nn::batch_normalization(&s, x, m, v, beta, gamma, 0.0).unwrap();
    let y_ref = ferroflow_ops::nn::batch_normalization(&s, x, m, v, beta.value(), Some(gamma.value()), 0.0).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let xv = Value::from(ndarray::arr2(&[[1.0f32, 2.0], [3.0, 6.0]]));
    let out = sess.run([y, y_ref], &feed_dict![x => xv]).unwrap();
    let want = Value::from(ndarray::arr2(&[[-1.0f32, -4.0], [3.0, 2.0]]));
    assert_close(&out[0], &want, 1e-5, 1e-6);
    assert_close(&out[1], &want, 1e-5, 1e-6);
}
