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

/// The subcommands a help text lists under `Commands:` (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(String::from)
        .collect()
}

/// Every command's `--help`, found by walking the `Commands:` lists from the top: a refactoring
/// of the command line must leave all of them as they are (issue 25), and a new command shows
/// up here until its help is reviewed.
#[test]
fn every_command_help_snapshot() {
    let mut pending: Vec<Vec<String>> = vec![Vec::new()];
    let mut all = String::new();
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = stdout(&args);
        for sub in subcommands(&help).into_iter().rev() {
            let mut next = path.clone();
            next.push(sub);
            pending.push(next);
        }
        all.push_str(&format!("===== seje {}\n{help}\n", path.join(" ")));
    }
    assert!(all.matches("===== seje").count() >= 23, "{all}");
    insta::assert_snapshot!("every_command_help", all);
}

/// A command that groups subcommands names every one of them in its description (in backticks),
/// so that `seje X --help` tells what X can do (issue 28: `seje features --help` described two of
/// its five).
#[test]
fn every_command_group_describes_all_its_subcommands() {
    let mut pending: Vec<Vec<String>> = vec![Vec::new()];
    let mut missing = Vec::new();
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = stdout(&args);
        let about = help.split("\n\nUsage:").next().unwrap_or("");
        for sub in subcommands(&help) {
            if !path.is_empty() && !about.contains(&format!("`{sub}`")) {
                missing.push(format!("seje {} does not describe `{sub}`", path.join(" ")));
            }
            let mut next = path.clone();
            next.push(sub);
            pending.push(next);
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn the_command_walk_reads_the_commands_list() {
    let help =
        "About\n\nCommands:\n  info   Show\n  data   Datasets\n  help   Print\n\nOptions:\n  -h\n";
    assert_eq!(subcommands(help), ["info", "data"]);
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
