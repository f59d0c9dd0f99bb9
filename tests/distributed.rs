//! The distributed example under MPI (feature `mpi`): the job of `examples/distributed_conv20`
//! trains on 2 ranks, and a rank whose `main` fails (a missing `--data` directory, launched
//! with `mpirun` MPMD) ends the whole job with a non-zero exit instead of a hang.
//!
//! Build the example with the feature first (`.ci/run` does):
//! `cargo build --release --features mpi --example distributed_conv20`, then
//! `cargo test --release --features mpi --test distributed`.
#![cfg(feature = "mpi")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const FLAGS: &[&str] = &[
    "--allow-run-as-root",
    "--oversubscribe",
    "--mca",
    "btl",
    "self,vader,tcp",
    "--mca",
    "btl_tcp_if_include",
    "lo",
    "--mca",
    "oob_tcp_if_include",
    "lo",
];

fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().and_then(|d| d.parent()).unwrap().join("examples").join("distributed_conv20");
    assert!(
        p.exists(),
        "{} is missing: cargo build --release --features mpi --example distributed_conv20",
        p.display()
    );
    p
}

fn mpirun(secs: u64, args: &[&str]) -> (Output, Duration) {
    let t0 = Instant::now();
    let out = Command::new("timeout")
        .args(["-s", "KILL", &secs.to_string(), "mpirun"])
        .args(FLAGS)
        .args(args)
        .output()
        .unwrap();
    (out, t0.elapsed())
}

fn text(o: &Output) -> String {
    format!("--- stdout\n{}\n--- stderr\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn example_trains_on_two_ranks() {
    let ex = example();
    let ex = ex.to_str().unwrap();
    let (out, _) = mpirun(300, &["-np", "2", ex, "--steps", "12", "--log-every", "4", "--sync-bn"]);
    let o = text(&out);
    assert!(out.status.success(), "{o}");
    assert!(
        o.contains("[0/2] 2 ranks x batch 32 (global 64), cross-replica BN, 1 fusion bucket(s) per step"),
        "not one job of 2 ranks:\n{o}"
    );
    assert!(o.contains("[0/2] Final test accuracy: "), "{o}");
    assert!(!o.contains("[1/2] Final test accuracy"), "only the chief reports:\n{o}");
}

#[test]
fn a_rank_with_a_missing_data_directory_aborts_the_job() {
    let ex = example();
    let ex = ex.to_str().unwrap();
    // MPMD: rank 0 trains (and waits in the first collective), rank 1 cannot load its data.
    let (out, took) = mpirun(60, &["-np", "1", ex, "--steps", "100000", ":", "-np", "1", ex, "--data", "/missing"]);
    let o = text(&out);
    println!("missing --data on rank 1: job ended in {took:.2?}, exit {:?}", out.status.code());
    assert!(!out.status.success(), "{o}");
    assert!(took < Duration::from_secs(59), "the job hung until the timeout:\n{o}");
    assert!(o.contains("[1/2] error: ") && o.contains("/missing"), "the error names the rank and the directory:\n{o}");
    if std::env::var("FERROFLOW_MPI_STRICT_TIMING").is_ok_and(|v| v == "1") {
        assert!(took < Duration::from_secs(5), "took {took:.2?} (target < 5 s):\n{o}");
    }
}
