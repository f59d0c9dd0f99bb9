//! Short end-to-end runs of every example binary (`cargo test` builds them first).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/<name>`, next to this test binary's `deps/` folder.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap().join("examples");
    dir.join(name)
}

fn run(name: &str, args: &[&str]) -> String {
    let path = example(name);
    assert!(path.exists(), "{} was not built; run through `cargo test`, which builds examples", path.display());
    let out = Command::new(&path).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{name} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn value(stdout: &str, prefix: &str) -> f64 {
    let line =
        stdout.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no line '{prefix}' in:\n{stdout}"));
    line[prefix.len()..].trim().parse().unwrap()
}

fn check_founding_output(stdout: &str, steps: usize) {
    assert!(stdout.contains("Batch:  0: Validation loss: "), "{stdout}");
    if steps > 25 {
        assert!(stdout.contains("Batch: 25: Training loss: "), "{stdout}");
        let line = stdout.lines().find(|l| l.starts_with("Batch: 25: Training loss: ")).unwrap_or_default();
        assert!(line.contains(" steps/s, ETA "), "training lines carry the pace: {line}");
    }
    let v = value(stdout, "Final validation accuracy: ");
    let t = value(stdout, "Final test accuracy: ");
    let a = value(stdout, "Accuracy on 100 samples: ");
    for x in [v, t, a] {
        assert!((0.0..=1.0).contains(&x), "{stdout}");
    }
    // Scoring test images one at a time in inference mode agrees with batch inference.
    assert!(stdout.contains("Single-image predictions match batch predictions: true"), "{stdout}");
}

/// The bytes of the one event file `--logdir dir` wrote (tests/tensorboard.rs checks the format
/// with TensorBoard's reader; here: it exists and holds the expected tags).
fn event_file(dir: &std::path::Path) -> Vec<u8> {
    let files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].file_name().unwrap().to_string_lossy().starts_with("events.out.tfevents."), "{files:?}");
    std::fs::read(&files[0]).unwrap()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn batchnorm_conv20_runs() {
    let dir = std::env::temp_dir().join(format!("ff-examples-conv20-logdir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = run("batchnorm_conv20", &["--steps", "30", "--batch-size", "32", "--logdir", dir.to_str().unwrap()]);
    check_founding_output(&out, 30);
    let ev = event_file(&dir);
    for tag in
        ["brain.Event:2", "summaries/train/loss", "summaries/validation/accuracy", "pop_variance", "input/image/2"]
    {
        assert!(contains(&ev, tag), "no '{tag}' in the event file");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn batchnorm_layers_runs() {
    let out = run("batchnorm_layers", &["--steps", "30", "--batch-size", "32"]);
    check_founding_output(&out, 30);
}

#[test]
fn batchnorm_mlp_runs_and_learns() {
    let out = run("batchnorm_mlp", &["--steps", "100"]);
    check_founding_output(&out, 100);
    assert!(value(&out, "Final test accuracy: ") > 0.8, "{out}");
}

#[test]
fn batchnorm_mlp_as_written_scores_lower_without_batch_norm() {
    // The founding note's program as written scores validation without its batch-norm layers:
    // the same weights do clearly worse than through the batch-norm model.
    let out = run("batchnorm_mlp_as_written", &["--steps", "100"]);
    let without = value(&out, "Final validation accuracy: ");
    let with = value(&out, "Validation accuracy with batch norm: ");
    assert!(without > 0.3 && with > without + 0.05, "{out}");
    assert!((0.0..=1.0).contains(&value(&out, "Final test accuracy: ")), "{out}");
}

#[test]
fn readme_program_runs() {
    run("readme", &[]);
}

#[test]
fn tflearn_convnet_runs() {
    let dir = std::env::temp_dir().join(format!("ff-examples-tflearn-logdir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = run("tflearn_convnet", &["--steps", "20", "--batch-size", "32", "--logdir", dir.to_str().unwrap()]);
    let t = value(&out, "Final test accuracy: ");
    assert!((0.0..=1.0).contains(&t), "{out}");
    let ev = event_file(&dir);
    for tag in ["summaries/train/loss", "summaries/test/accuracy", "summaries/input/image/0"] {
        assert!(contains(&ev, tag), "no '{tag}' in the event file");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoint_resume_then_serve() {
    let dir = std::env::temp_dir().join(format!("ff-example-ckpt-{}", std::process::id()));
    let out = run(
        "checkpoint_resume",
        &["--steps", "3", "--more", "2", "--batch-size", "16", "--dir", dir.to_str().unwrap()],
    );
    assert!(out.contains("inference outputs bit-identical after restore: true"), "{out}");
    assert!(out.contains("resumed training matches uninterrupted training: true"), "{out}");
    let out = run("serve", &["--model", dir.to_str().unwrap(), "--indices", "0,1,2"]);
    assert_eq!(out.lines().filter(|l| l.contains("predicted label")).count(), 3, "{out}");
    assert!(out.contains("optimize_for_inference:") && out.contains("batch norms folded"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn readme_program_is_the_readme_example() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let start = readme.find("```rust\n").unwrap() + "```rust\n".len();
    let code = &readme[start..start + readme[start..].find("```").unwrap()];
    let example = std::fs::read_to_string(format!("{root}/examples/readme.rs")).unwrap();
    assert!(example.ends_with(code), "examples/readme.rs must end with the README's program; copy it over");
}
