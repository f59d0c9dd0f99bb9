//! `examples/distributed_conv20` without `mpirun`: one process (the Local backend, or an MPI
//! singleton when built with the `mpi` feature) trains, reports and saves on rank 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn distributed_example_runs_as_one_process() {
    let exe = std::env::current_exe().unwrap();
    let ex = exe.parent().and_then(|d| d.parent()).unwrap().join("examples").join("distributed_conv20");
    assert!(ex.exists(), "{} was not built; run through `cargo test`, which builds examples", ex.display());
    let dir = std::env::temp_dir().join(format!("ff-dist-local-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("model");
    let out = Command::new(&ex).args(["--steps", "6", "--log-every", "3", "--save"]).arg(&prefix).output().unwrap();
    let o = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{o}");
    assert!(o.contains("[0/1] 1 ranks x batch 32 (global 32), local BN, 1 fusion bucket(s) per step"), "{o}");
    assert!(o.contains("[0/1] step    3: training loss"), "{o}");
    assert!(o.contains("[0/1] Final test accuracy: ") && o.contains("[0/1] saved "), "{o}");
    // An error in main exits non-zero with the rank-prefixed message.
    let out = Command::new(&ex).args(["--data", "/missing"]).output().unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && e.contains("[0/1] error: ") && e.contains("/missing"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
