//! The `seje` binary as the integration tests run it: the test build of the command, with the
//! caller's `SEJE_LOG` removed (help texts show its value, and logs must not depend on the shell).
//!
//! Spec: spec/README.md (section "Other kinds of tests").

#![allow(dead_code)]

use assert_cmd::Command;

/// The `seje` binary with `SEJE_LOG` unset (the default log level).
pub fn seje() -> Command {
    let mut cmd =
        Command::cargo_bin("seje").expect("the seje binary is built for integration tests");
    cmd.env_remove("SEJE_LOG");
    cmd
}

/// The `seje` binary logging at `level` (`warn`, `off`, …).
pub fn seje_logging(level: &str) -> Command {
    let mut cmd = seje();
    cmd.env("SEJE_LOG", level);
    cmd
}
