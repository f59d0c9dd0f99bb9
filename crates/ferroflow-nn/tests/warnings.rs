//! Graph and session warnings go through the `log` crate, once per graph (or session), naming every
//! layer: a conv20-like net with 20 batch norms fixed to training mode and a train op that skips
//! UPDATE_OPS logs two warnings, not 40 lines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, DType, Graph};
use ferroflow_nn::layers::{self, BatchNormOptions, Conv2dOptions, DenseOptions};
use ferroflow_ops::math;
use ferroflow_ops::nn::{self, Padding};
use ferroflow_ops::state::{global_variables_initializer, placeholder};
use ferroflow_session::{feed_dict, Fetch, Session};
use ferroflow_train::{AdamOptimizer, Optimizer};
use std::sync::Mutex;

/// Every record logged in this test binary: (target, level, message).
static RECORDS: Mutex<Vec<(String, log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let r = (record.target().to_string(), record.level(), record.args().to_string());
        RECORDS.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

fn install() {
    let _ = log::set_logger(&CAPTURE);
    log::set_max_level(log::LevelFilter::Trace);
}

/// The records whose message contains `needle`.
fn logged(needle: &str) -> Vec<(String, log::Level, String)> {
    RECORDS.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|r| r.2.contains(needle)).cloned().collect()
}

/// 19 conv layers and one dense layer, each with `layers::batch_normalization` fixed to training
/// mode, under the scope `prefix`; a train op built without the UPDATE_OPS dependency.
fn conv20_like(prefix: &str) -> (Graph, ferroflow_core::Tensor, ferroflow_core::Operation, ferroflow_core::Tensor) {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 8, 8, 1]).unwrap();
    let (loss, train) = s
        .name_scope(prefix, |s| {
            let mut h = x;
            for i in 1..20 {
                let conv =
                    layers::conv2d(s, h, 2, (3, 3), Conv2dOptions::default().padding(Padding::Same).use_bias(false))?;
                let bn =
                    layers::batch_normalization(s, conv, true, BatchNormOptions::default().name(&format!("bn{i}")))?;
                h = nn::relu(s, bn)?;
            }
            let flat = layers::flatten(s, h)?;
            let fc = layers::dense(s, flat, 4, DenseOptions::default().use_bias(false))?;
            let fc = layers::batch_normalization(s, fc, true, BatchNormOptions::default().name("bn_fc"))?;
            let loss = math::reduce_mean(s, math::square(s, fc)?, None, false)?;
            let train = AdamOptimizer::new(1e-3).minimize(s, loss, None, None)?;
            Ok((loss, train))
        })
        .unwrap();
    (g, x, train, loss)
}

#[test]
fn conv20_warnings_are_logged_once_naming_all_20_layers() {
    install();
    let prefix = "netA";
    let (g, x, train, loss) = conv20_like(prefix);
    // Recorded on the graph: one warning for the 20 layers.
    let fixed = g.warning_list();
    assert_eq!(fixed.len(), 1, "{:?}", g.warnings());
    assert_eq!(fixed[0].subjects.len(), 20, "{:?}", fixed[0].subjects);
    assert!(
        fixed[0].subjects.contains(&format!("{prefix}/bn7")) && fixed[0].subjects.contains(&format!("{prefix}/bn_fc"))
    );
    assert!(logged(&format!("'{prefix}/bn1'")).is_empty(), "logged only when a session plans a run");

    let sess = Session::new(&g);
    let init = global_variables_initializer(&g.root()).unwrap();
    sess.run_ops(&[init], &[]).unwrap();
    let xv = ndarray::Array4::<f32>::from_shape_fn((2, 8, 8, 1), |(b, i, j, _)| (b + i * j) as f32 * 0.1).into_dyn();
    for _ in 0..3 {
        sess.run_ops(&[train], &feed_dict![x => xv.clone()]).unwrap();
    }
    // Another fetch set: a new plan, no new warning.
    sess.run([Fetch::from(loss), Fetch::from(train)], &feed_dict![x => xv.clone()]).unwrap();

    let fixed_logs = logged(&format!("'{prefix}/bn1'"));
    let fixed_logs: Vec<_> = fixed_logs.iter().filter(|r| r.2.contains("training fixed to true")).collect();
    assert_eq!(fixed_logs.len(), 1, "one log record for the 20 layers: {fixed_logs:?}");
    let (target, level, msg) = fixed_logs[0];
    assert_eq!((target.as_str(), *level), ("ferroflow", log::Level::Warn));
    assert!(msg.contains("in 20 layers"), "{msg}");
    for i in 1..20 {
        assert!(msg.contains(&format!("'{prefix}/bn{i}'")), "names layer bn{i}: {msg}");
    }
    assert!(msg.contains(&format!("'{prefix}/bn_fc'")), "{msg}");

    let update_logs: Vec<_> =
        logged("UPDATE_OPS").into_iter().filter(|r| r.2.contains(&format!("{prefix}/bn1,"))).collect();
    assert_eq!(update_logs.len(), 1, "one UPDATE_OPS record for the session: {update_logs:?}");
    assert!(update_logs[0].2.contains("of 20 layer(s)"), "{}", update_logs[0].2);
    assert_eq!(sess.warnings().len(), 1, "{:?}", sess.warnings());
}

#[test]
fn a_graph_never_run_logs_its_warnings_when_dropped() {
    install();
    let (g, _, _, _) = conv20_like("netB");
    assert!(logged("'netB/bn1'").is_empty());
    drop(g);
    let logs = logged("'netB/bn1'");
    assert_eq!(logs.len(), 1, "{logs:?}");
}
