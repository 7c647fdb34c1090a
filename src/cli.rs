//! The command line's modules, one per command group; each holds its commands' arguments and a
//! `run` that calls the library and prints what it returns. `main.rs` only parses and
//! dispatches; only these modules print or draw.
//!
//! Spec: spec/README.md (commands; architecture rules), spec/cli.md (one line per error).

pub mod args;
pub mod bench;
pub mod data;
pub mod eval;
pub mod features;
pub mod progress;
pub mod retrieval;
pub mod train;

/// The error and its causes joined by `: `, leaving out a cause the line already says (the
/// library's messages quote the operating system's error, which is also kept as their source).
pub fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.to_lowercase().contains(&text.to_lowercase()) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
