//! TensorBoard's own reader reads ferroflow's event files (issue 13).
//!
//! Writes an event directory (scalars at several steps, a histogram at two steps, images,
//! text, the graph) and runs `tests/tensorboard/read_events.py` under the Python of
//! `FERROFLOW_TB_PYTHON` (a venv with `pip install tensorboard`, no TensorFlow; `.ci/run` makes
//! one). The script loads the directory with
//! `tensorboard.backend.event_processing.event_accumulator.EventAccumulator` and prints JSON,
//! which this test checks. Without `FERROFLOW_TB_PYTHON` the test prints why and passes,
//! unless `CI` is set: then a missing venv fails it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow::prelude::*;
use ferroflow::summary::{self, FileWriter};
use serde_json::Value as Json;
use std::path::PathBuf;
use std::process::Command;

fn python() -> Option<PathBuf> {
    match std::env::var_os("FERROFLOW_TB_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("CI").is_some() => {
            panic!("CI is set but FERROFLOW_TB_PYTHON is not: .ci/run must create the tensorboard venv and export it")
        }
        None => {
            eprintln!(
                "skipped: FERROFLOW_TB_PYTHON is not set (python3 -m venv /work/tbvenv && /work/tbvenv/bin/pip install \
                 tensorboard, then FERROFLOW_TB_PYTHON=/work/tbvenv/bin/python)"
            );
            None
        }
    }
}

/// Builds a small model, runs it and writes every kind of summary; returns the graph's node
/// names and the values written.
fn write_events(dir: &std::path::Path) -> (Vec<String>, Vec<(i64, f32)>, Vec<f32>) {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 4, 4, 1]).unwrap();
    let step_loss = placeholder(&s.with_name("loss_value"), DType::F32, shape![]).unwrap();
    let w = s
        .name_scope("layer1", |s| {
            let w = constant(&s.with_name("weights"), Value::from(vec![0.5f32, -1.0, 2.0, 0.0, 3.0]))?;
            ferroflow::math::mul(s, w, 2.0f32)
        })
        .unwrap();
    let note = constant(&s, Value::from("ferroflow **text**")).unwrap();
    let scalar = s.name_scope("train", |s| summary::scalar(s, "loss", step_loss)).unwrap();
    let hist = s.name_scope("layer1", |s| summary::histogram(s, "activations", w)).unwrap();
    assert_eq!(hist.op().name(&s).unwrap(), "layer1_1/activations", "TF1 naming: the scope name is made unique");
    let img = summary::image(&s, "input", x, 2).unwrap();
    let txt = summary::text(&s, "notes", note).unwrap();
    let merged = summary::merge(&s, &[hist, img, txt]).unwrap();
    assert_eq!(summary::merge_all(&s).unwrap().map(|t| t.op().num_outputs(&s).unwrap()), Some(1));

    let mut writer = FileWriter::new(dir, Some(&g)).unwrap();
    let sess = Session::new(&g);
    let mut scalars = Vec::new();
    for (i, step) in [0i64, 10, 20].into_iter().enumerate() {
        let v = 1.0 / (i as f32 + 1.0);
        let out = sess.run([scalar], &[(step_loss, Value::from(v))]).unwrap();
        writer.add_summary(out[0].scalar_bytes().unwrap(), step).unwrap();
        scalars.push((step, v));
    }
    let images: Vec<f32> = (0..3 * 16).map(|i| (i % 16) as f32 / 15.0).collect();
    let feed = Value::from_shape_vec(&[3, 4, 4, 1], images).unwrap();
    for step in [5, 15] {
        let out = sess.run([merged], &[(x, feed.clone())]).unwrap();
        writer.add_summary(out[0].scalar_bytes().unwrap(), step).unwrap();
    }
    let weights = sess.run([w], &[]).unwrap()[0].to_vec::<f32>().unwrap();
    writer.close().unwrap();
    let names = g.operations().into_iter().map(|o| o.name(&sess).unwrap()).collect();
    (names, scalars, weights)
}

#[test]
fn tensorboard_reads_ferroflow_event_files() {
    let Some(py) = python() else { return };
    let dir = std::env::temp_dir().join(format!("ff-tensorboard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (names, scalars, weights) = write_events(&dir);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tensorboard/read_events.py");
    let out = Command::new(&py).arg(script).arg(&dir).output().unwrap_or_else(|e| panic!("cannot run {py:?}: {e}"));
    assert!(out.status.success(), "reader failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let j: Json = serde_json::from_slice(&out.stdout).unwrap();

    // Scalars: every step and value.
    let got: Vec<(i64, f64)> = j["scalars"]["train/loss"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_i64().unwrap(), e[1].as_f64().unwrap()))
        .collect();
    assert_eq!(got.len(), scalars.len(), "{}", j["scalars"]);
    for ((s, v), (gs, gv)) in scalars.iter().zip(&got) {
        assert_eq!(s, gs);
        assert!((f64::from(*v) - gv).abs() < 1e-7, "{v} vs {gv}");
    }

    // Histogram: two steps, counts and sums of the weights (2 * [0.5, -1, 2, 0, 3]).
    let h = j["histograms"]["layer1_1/activations"].as_array().unwrap();
    assert_eq!(h.iter().map(|e| e["step"].as_i64().unwrap()).collect::<Vec<_>>(), vec![5, 15]);
    let sum: f64 = weights.iter().map(|&x| f64::from(x)).sum();
    let sq: f64 = weights.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    let e = &h[0];
    assert_eq!(e["num"].as_f64(), Some(weights.len() as f64));
    assert_eq!(e["sum"].as_f64(), Some(sum));
    assert_eq!(e["sum_squares"].as_f64(), Some(sq));
    assert_eq!(e["min"].as_f64(), Some(-2.0));
    assert_eq!(e["max"].as_f64(), Some(6.0));
    let buckets: Vec<f64> = e["bucket"].as_array().unwrap().iter().map(|b| b.as_f64().unwrap()).collect();
    let limits: Vec<f64> = e["bucket_limit"].as_array().unwrap().iter().map(|b| b.as_f64().unwrap()).collect();
    assert_eq!(buckets.iter().sum::<f64>(), weights.len() as f64);
    assert_eq!(buckets.iter().filter(|&&c| c > 0.0).count(), weights.len(), "five distinct values, five buckets");
    for &x in &weights {
        // Each value lies in the bucket [limit[i-1], limit[i]) of a nonzero count.
        let i = limits.iter().position(|&l| f64::from(x) < l).unwrap();
        assert!(buckets[i] >= 1.0, "value {x} not counted in bucket {i}");
    }

    // Images: two of the batch of three (max_outputs = 2), 4x4, at both steps.
    let tags: Vec<&str> = j["tags"]["images"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(tags, vec!["input/image/0", "input/image/1"]);
    for t in tags {
        let ims = j["images"][t].as_array().unwrap();
        assert_eq!(ims.len(), 2);
        assert_eq!((ims[0]["width"].as_i64(), ims[0]["height"].as_i64()), (Some(4), Some(4)));
        assert!(ims[0]["png_bytes"].as_i64().unwrap() > 8);
    }

    // Text.
    assert_eq!(j["text"]["notes"][0][1][0].as_str(), Some("ferroflow **text**"));

    // Graph: every node, by name, with scoped names.
    let nodes = j["graph"]["nodes"].as_array().unwrap();
    let got: Vec<&str> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(got, names.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(got.contains(&"layer1/weights") && got.contains(&"train/loss"), "{got:?}");
    let x = nodes.iter().find(|n| n["name"] == "x").unwrap();
    assert_eq!(x["op"], "Placeholder");
    assert!(x["attr"].as_array().unwrap().iter().any(|a| a == "shape"));
    let merge = nodes.iter().find(|n| n["op"] == "MergeSummary").unwrap();
    assert_eq!(merge["input"].as_array().unwrap().len(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}
