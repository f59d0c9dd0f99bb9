//! Every error variant, triggered through the public API, with its message checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow::prelude::*;

fn init(sess: &Session, s: &Scope) {
    sess.run_ops(&[global_variables_initializer(s).unwrap()], &[]).unwrap();
}

#[test]
fn build_error_names_node_and_shapes() {
    let g = Graph::new();
    let s = g.root();
    let a = placeholder(&s.with_name("a"), DType::F32, shape![None, 3]).unwrap();
    let b = placeholder(&s.with_name("b"), DType::F32, shape![2, 3]).unwrap();
    let e = math::matmul(&s.with_name("mm"), a, b, false, false).unwrap_err();
    assert!(matches!(e, Error::Build { .. }), "{e}");
    let m = e.to_string();
    assert!(m.contains("'mm'") && m.contains("[2, 3]") && m.contains("[?, 3]"), "{m}");
}

#[test]
fn kernel_error_names_node() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::I32, shape![None]).unwrap();
    let y = math::div(&s.with_name("ratio"), 10i32, x).unwrap();
    let e = Session::new(&g).run([y], &feed_dict![x => vec![1i32, 0]]).unwrap_err();
    assert!(matches!(e, Error::Kernel { .. }), "{e}");
    assert!(e.to_string().contains("'ratio' failed at run time: integer division by zero"), "{e}");
}

#[test]
fn placeholder_not_fed() {
    let g = Graph::new();
    let s = g.root();
    let p = placeholder(&s.with_name("is_training"), DType::Bool, shape![]).unwrap();
    let e = Session::new(&g).run([p], &[]).unwrap_err();
    assert!(matches!(e, Error::PlaceholderNotFed { .. }));
    assert_eq!(e.to_string(), "placeholder 'is_training' (bool, []) was not fed; add it to the feeds of this run");
}

#[test]
fn feed_mismatch() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 28, 28, 1]).unwrap();
    let e = Session::new(&g).run([x], &feed_dict![x => ndarray::Array2::<f32>::zeros((2, 784))]).unwrap_err();
    assert!(matches!(e, Error::FeedMismatch { .. }));
    assert_eq!(e.to_string(), "cannot feed a float32 value of shape [2, 784] to Placeholder 'x:0', which is float32 [?, 28, 28, 1]; feed a value of that dtype and shape");
}

#[test]
fn uninitialized_variable() {
    let g = Graph::new();
    let s = g.root();
    let v = s.name_scope("bn", |s| variable(&s.with_name("pop_mean"), 0.0f32, VariableOptions::default())).unwrap();
    let e = Session::new(&g).run([v], &[]).unwrap_err();
    assert!(matches!(e, Error::UninitializedVariable { .. }));
    assert!(e.to_string().starts_with("variable 'bn/pop_mean' was read before it was initialized"), "{e}");
}

#[test]
fn graph_mismatch() {
    let (g1, g2) = (Graph::new(), Graph::new());
    let t = constant(&g2.root(), 1.0f32).unwrap();
    let e = Session::new(&g1).run([t], &[]).unwrap_err();
    assert!(matches!(e, Error::GraphMismatch { .. }));
    assert!(e.to_string().contains("handles cannot be mixed across graphs"), "{e}");
}

#[test]
fn handle_accessors_take_the_graph_and_name_both_graphs() {
    let (g1, g2) = (Graph::new(), Graph::new());
    let t = constant(&g2.root().with_name("c"), 1.0f32).unwrap();
    assert_eq!(t.name(&g2).unwrap(), "c:0");
    let e = t.shape(&g1).unwrap_err();
    assert!(matches!(e, Error::GraphMismatch { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&format!("built in graph #{}", g2.id())), "{msg}");
    assert!(msg.contains(&format!("uses graph #{}", g1.id())), "{msg}");
    let forged = ferroflow_core::Tensor::from_raw(g1.id(), 99, 0);
    let e = forged.dtype(&g1.root()).unwrap_err();
    assert!(matches!(e, Error::HandleOutOfRange { nodes: 0, .. }), "{e}");
    assert!(e.to_string().contains(&format!("graph #{} does not have", g1.id())), "{e}");
}

#[test]
fn cond_mismatch() {
    let g = Graph::new();
    let s = g.root();
    let p = placeholder(&s, DType::Bool, shape![]).unwrap();
    let x = placeholder(&s, DType::F32, shape![]).unwrap();
    let y = placeholder(&s, DType::I32, shape![]).unwrap();
    let e = cond(&s, p, |_| Ok(x), |_| Ok(y)).unwrap_err();
    assert!(matches!(e, Error::CondMismatch { .. }));
    assert!(
        e.to_string().contains("output 0 is float32 [] in the true branch but int32 [] in the false branch"),
        "{e}"
    );
}

#[test]
fn dead_fetch() {
    let g = Graph::new();
    let s = g.root();
    let p = placeholder(&s, DType::Bool, shape![]).unwrap();
    let mut inner = None;
    cond(
        &s,
        p,
        |s| {
            let t = constant(&s.with_name("only_if_true"), 1.0f32)?;
            inner = Some(t);
            Ok(t)
        },
        |s| constant(s, 0.0f32),
    )
    .unwrap();
    let e = Session::new(&g).run([inner.unwrap()], &feed_dict![p => false]).unwrap_err();
    assert!(matches!(e, Error::DeadFetch { .. }));
    assert!(e.to_string().contains("'cond/only_if_true:0'"), "{e}");
}

#[test]
fn not_found() {
    let g = Graph::new();
    let s = g.root();
    s.name_scope("dense", |s| constant(&s.with_name("bias"), 1.0f32)).unwrap();
    let e = g.tensor_by_name("dense/biass:0").unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }));
    assert_eq!(e.to_string(), "the graph has no tensor named 'dense/biass:0'");
    let e = g.operation_by_name("bias").unwrap_err();
    assert!(e.to_string().contains("did you mean 'dense/bias'"), "{e}");
}

#[test]
fn no_gradient() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![3]).unwrap();
    let y = math::tanh(&s, x).unwrap();
    let dy = gradients(&s, &[y], &[x], None).unwrap()[0].unwrap();
    let e = gradients(&s, &[dy], &[x], None).unwrap_err();
    assert!(matches!(e, Error::NoGradient { .. }));
    assert!(e.to_string().starts_with("no gradient is defined for UnaryGrad 'gradients/Tanh_grad/TanhGrad'"), "{e}");
}

#[test]
fn variable_scope_errors() {
    let g = Graph::new();
    let s = g.root();
    let mk = |s: &Scope| get_variable(s, "kernel", [2, 2], Initializer::Zeros, VariableOptions::default());
    s.variable_scope("dense", false, mk).unwrap();
    let e = s.variable_scope("dense", false, mk).unwrap_err();
    assert!(matches!(e, Error::Variable { .. }));
    assert_eq!(e.to_string(), "variable 'dense/kernel': already exists; to share it, open the variable scope with reuse = true (TF1: reuse=True)");
    let e = s.variable_scope("other", true, mk).unwrap_err();
    assert!(e.to_string().contains("does not exist, so it cannot be reused"), "{e}");
    let shared = s.variable_scope("dense", true, mk).unwrap();
    assert_eq!(shared.name(&s).unwrap(), "dense/kernel");
}

#[test]
fn io_and_format_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("ff-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e = ferroflow::data::read_idx_images(dir.join("missing.idx")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    assert!(e.to_string().contains("missing.idx"), "{e}");
    let bad = dir.join("bad.idx");
    std::fs::write(&bad, [0u8, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3]).unwrap();
    let e = ferroflow::data::read_idx_images(&bad).unwrap_err();
    assert!(matches!(e, Error::Format { .. }), "{e}");
    assert!(e.to_string().contains("bad.idx"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn invalid_argument_from_values() {
    let e = Value::from(vec![1.0f32, 2.0, 3.0]).reshape(&[2, 2]).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)));
    assert!(e.to_string().contains("cannot reshape a value of shape [3]"), "{e}");
    let g = Graph::new();
    let s = g.root();
    let x = constant(&s, 1.0f32).unwrap();
    let sess = Session::new(&g);
    init(&sess, &s);
    assert!(sess.run([x], &feed_dict![x => 1.0f32, x => 2.0f32]).is_err());
}

#[test]
fn training_errors_name_the_loss() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![3]).unwrap();
    let loss = math::reduce_sum(&s.with_name("loss"), math::square(&s, x).unwrap(), None, false).unwrap();
    let e = ferroflow::train::GradientDescentOptimizer::new(0.1).minimize(&s, loss, None, None).unwrap_err();
    assert!(matches!(e, Error::Training(_)), "{e}");
    assert!(e.to_string().contains("loss"), "{e}");
    let v = variable(&s.with_name("unrelated"), 1.0f32, VariableOptions::default()).unwrap();
    let e = ferroflow::train::GradientDescentOptimizer::new(0.1).minimize(&s, loss, Some(&[v]), None).unwrap_err();
    assert!(matches!(e, Error::Training(_)), "{e}");
    assert!(e.to_string().contains("unrelated"), "{e}");
}

#[test]
fn damaged_checkpoint_is_a_format_error() {
    let dir = std::env::temp_dir().join(format!("ff-errors-ckpt-{}", std::process::id()));
    let g = Graph::new();
    let s = g.root();
    let v = variable(&s.with_name("w"), vec![1.0f32, 2.0], VariableOptions::default()).unwrap();
    let sess = Session::new(&g);
    init(&sess, &s);
    let saver = ferroflow::train::Saver::new(&g, ferroflow::train::saver::VarList::All).unwrap();
    let path = saver.save(&sess, dir.join("model"), 1).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let e = saver.restore(&sess, &path).unwrap_err();
    assert!(matches!(e, Error::Format { .. }), "{e}");
    assert!(e.to_string().contains("model-1"), "{e}");
    assert_eq!(
        sess.variable_value(v).unwrap().to_vec::<f32>().unwrap(),
        vec![1.0, 2.0],
        "a failed restore changes nothing"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn fed_twice_names_the_tensor() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![]).unwrap();
    let e = Session::new(&g).run([x], &feed_dict![x => 1.0f32, x => 2.0f32]).unwrap_err();
    assert!(matches!(e, Error::FedTwice { .. }), "{e}");
    assert_eq!(e.to_string(), "tensor 'x:0' was fed twice in one run; give each tensor one value in the feed list");
}

#[test]
fn cond_predicate_of_wrong_shape_names_the_cond() {
    let g = Graph::new();
    let s = g.root();
    let p = placeholder(&s.with_name("is_training"), DType::Bool, Shape::unknown()).unwrap();
    let y = cond(&s, p, |s| constant(s, 1.0f32), |s| constant(s, 2.0f32)).unwrap();
    let e = Session::new(&g).run([y], &feed_dict![p => vec![true, false]]).unwrap_err();
    match &e {
        Error::CondPredicate { cond, predicate, shape, .. } => {
            assert_eq!((cond.as_str(), predicate.as_str(), shape.as_slice()), ("cond", "is_training:0", &[2usize][..]));
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(e.to_string().contains("feed a scalar bool"), "{e}");
}

#[test]
fn bad_axis_names_node_shape_and_range() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("logits"), DType::F32, shape![None, 10]).unwrap();
    let e = math::argmax(&s.with_name("pred"), x, 2).unwrap_err();
    match &e {
        Error::Build { node, inputs, .. } => {
            assert_eq!(node, "pred");
            assert_eq!(inputs[0].shape, shape![None, 10]);
        }
        other => panic!("wrong error: {other}"),
    }
    let m = e.to_string();
    assert!(m.contains("valid axes are -2 to 1") && m.contains("[?, 10]"), "{m}");
}

#[test]
fn kernel_errors_carry_input_shapes() {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::I32, shape![None]).unwrap();
    let y = math::div(&s.with_name("ratio"), 10i32, x).unwrap();
    let e = Session::new(&g).run([y], &feed_dict![x => vec![1i32, 0]]).unwrap_err();
    match &e {
        Error::Kernel { inputs, .. } => {
            assert!(inputs.iter().flatten().any(|(d, dims)| *d == DType::I32 && dims == &[2]))
        }
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn allocation_names_the_node_and_the_byte_count() {
    // 2^24 × 2^24 float32 = 2^50 bytes: more than any machine's address space, so this fails
    // cleanly whatever the overcommit setting.
    let g = Graph::new();
    let s = g.root();
    let w = get_variable(&s, "w", [1usize << 24, 1 << 24], Initializer::Zeros, VariableOptions::default()).unwrap();
    let sess = Session::new(&g);
    let e = sess.run_ops(&[w.initializer()], &[]).unwrap_err();
    assert!(
        matches!(&e, Error::Allocation { node, op, bytes: Some(b), dtype: DType::F32, shape }
        if node == "w/Initializer/zeros" && op == "Fill" && *b == 1 << 50 && shape == &[1 << 24, 1 << 24]),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "Fill 'w/Initializer/zeros' failed at run time: cannot allocate 1125899906842624 bytes (1048576.0 GiB) for a \
         float32 tensor of shape [16777216, 16777216]; the shape is probably wrong (check the dims or attributes that \
         produced it), else the machine is out of memory"
    );
    // A shape whose element count overflows is a build error naming the variable instead.
    let e = get_variable(&s, "v", [1usize << 33, 1 << 33], Initializer::Zeros, VariableOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Variable { .. }), "{e}");
    assert!(
        e.to_string().starts_with("variable 'v': shape [8589934592, 8589934592] has more elements than fit in usize"),
        "{e}"
    );
}
