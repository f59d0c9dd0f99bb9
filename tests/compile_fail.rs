//! Mistakes the API's types forbid: each file in `tests/compile_fail/` must fail to compile, with
//! the error in its `.stderr` beside it (the reason is the check, not only the failure). One test
//! function, so the cases share one build of ferroflow. Regenerate after an intended change with
//! `TRYBUILD=overwrite cargo test --release --test compile_fail` and review the diff.

#[test]
fn mistakes_the_types_forbid() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
}
