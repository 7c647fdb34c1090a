//! The `seje` command line: help texts are snapshots, `seje info` reports the pinned libtorch.
//!
//! Spec: spec/runtime.md (`seje info`).

#[path = "support/cli.rs"]
mod cli;
use cli::seje;

fn stdout(args: &[&str]) -> String {
    let out = seje().args(args).output().expect("seje runs");
    assert!(
        out.status.success(),
        "seje {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn cli_help_snapshot() {
    insta::assert_snapshot!("cli_help", stdout(&["--help"]));
}

#[test]
fn cli_info_help_snapshot() {
    insta::assert_snapshot!("cli_info_help", stdout(&["info", "--help"]));
}

#[test]
fn info_reports_the_pinned_libtorch() {
    let v: serde_json::Value = serde_json::from_str(&stdout(&["info", "--json"])).expect("json");
    assert_eq!(v["libtorch_version"], "2.11.0", "{v}");
    assert!(v["cpu_threads"].as_i64().is_some_and(|n| n >= 1), "{v}");
    // glibc's malloc keeps freed memory (spec/runtime.md, Memory), unless told not to.
    assert_eq!(v["allocator"], "keep_freed", "{v}");
    let out = seje()
        .args(["info", "--json"])
        .env("SEJE_MALLOC", "default")
        .output()
        .expect("seje runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["allocator"], "default", "{v}");
}

#[test]
fn unknown_subcommand_is_an_error_that_names_it() {
    let out = seje().arg("frobnicate").output().expect("seje runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand 'frobnicate'"));
}
