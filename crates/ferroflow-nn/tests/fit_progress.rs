//! tflearn-style `fit` progress: plain lines when stdout is not a terminal (CI logs, pipes),
//! a report also when `max_steps` ends inside the first epoch, and a validation accuracy that
//! is computed after the last update (not left over from an earlier epoch).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::shape;
use ferroflow_nn::layers::Activation;
use ferroflow_nn::tflearn::{FitOptions, Network, Objective, Progress, TflearnOptimizer, DNN};
use ndarray::{Array2, ArrayD};

/// A small separable problem: 4 features, 2 classes.
fn data(n: usize, seed: usize) -> (ArrayD<f32>, ArrayD<f32>) {
    let x = Array2::<f32>::from_shape_fn((n, 4), |(i, j)| ((i * 7 + j * 3 + seed) % 11) as f32 / 11.0 - 0.5);
    let y = Array2::<f32>::from_shape_fn((n, 2), |(i, k)| {
        let class = usize::from(x[[i, 0]] + x[[i, 1]] > 0.0);
        if k == class {
            1.0
        } else {
            0.0
        }
    });
    (x.into_dyn(), y.into_dyn())
}

fn model() -> DNN {
    let mut net = Network::new(Some(3)).unwrap();
    let x = net.input_data(shape![None, 4], "input").unwrap();
    let h = net.fully_connected(x, 8, Activation::Tanh).unwrap();
    let out = net.fully_connected(h, 2, Activation::Softmax).unwrap();
    let head = net.regression(out, TflearnOptimizer::Adam, 0.05, Objective::CategoricalCrossentropy).unwrap();
    DNN::new(net, head).unwrap()
}

#[test]
fn max_steps_inside_the_first_epoch_still_reports_with_fresh_validation() {
    let (x, y) = data(200, 0);
    let (vx, vy) = data(60, 5);
    let m = model();
    // 200 examples / batch 10 = 20 steps per epoch; stop after 7.
    let opts = FitOptions {
        batch_size: 10,
        max_steps: Some(7),
        progress: Progress::Lines,
        log_every: 3,
        ..FitOptions::default()
    };
    let report = m.fit(&x, &y, Some((&vx, &vy)), &opts).unwrap();
    assert_eq!(report.steps, 7);
    let steps: Vec<&String> = report.lines.iter().filter(|l| l.starts_with("Training Step:")).collect();
    // Every 3 steps, and the last step.
    assert_eq!(steps.len(), 3, "{:#?}", report.lines);
    assert!(steps[0].starts_with("Training Step: 3/7 |") && steps[2].starts_with("Training Step: 7/7 |"), "{steps:?}");
    for l in &steps {
        assert!(l.contains("loss:") && l.contains("acc:") && l.contains("steps/s") && l.contains("ETA"), "{l}");
    }
    let end = report.lines.last().unwrap();
    assert!(end.starts_with("step 7 (end):") && end.contains("val_acc"), "{:#?}", report.lines);
    // Fresh: equals an evaluation after fit, i.e. of the final weights.
    let after = m.evaluate(&vx, &vy, 256).unwrap();
    assert_eq!(report.validation_accuracy, Some(after));
}

#[test]
fn epochs_and_snapshot_steps_validate_at_their_own_step() {
    let (x, y) = data(40, 1);
    let (vx, vy) = data(30, 7);
    let m = model();
    let opts = FitOptions {
        n_epoch: 3,
        batch_size: 10,
        snapshot_step: Some(6),
        progress: Progress::Lines,
        log_every: 0,
        show_metric: false,
        ..FitOptions::default()
    };
    let report = m.fit(&x, &y, Some((&vx, &vy)), &opts).unwrap();
    assert_eq!(report.steps, 12);
    let epoch_lines: Vec<&String> = report.lines.iter().filter(|l| l.starts_with("epoch")).collect();
    assert_eq!(epoch_lines.len(), 3, "{:#?}", report.lines);
    assert!(epoch_lines.iter().all(|l| l.contains("val_acc")), "{epoch_lines:?}");
    let snapshots: Vec<&String> =
        report.lines.iter().filter(|l| l.contains("val_acc") && l.starts_with("Training")).collect();
    assert_eq!(snapshots.len(), 2, "snapshot_step 6 over 12 steps: {:#?}", report.lines);
    assert!(
        report.lines.iter().filter(|l| l.starts_with("Training")).all(|l| !l.contains(" - acc: ")),
        "show_metric off"
    );
    assert_eq!(report.validation_accuracy, Some(m.evaluate(&vx, &vy, 256).unwrap()));
}

#[test]
fn progress_off_prints_nothing() {
    let (x, y) = data(20, 2);
    let m = model();
    let opts = FitOptions { n_epoch: 1, batch_size: 10, progress: Progress::Off, ..FitOptions::default() };
    let report = m.fit(&x, &y, None, &opts).unwrap();
    assert!(report.lines.is_empty(), "{:?}", report.lines);
    assert_eq!(report.validation_accuracy, None);
}
