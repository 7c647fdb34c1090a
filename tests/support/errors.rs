//! An error as one line: its message, then each source's, joined by `: `, as the command line
//! prints it.
//!
//! Spec: spec/README.md (section "Other kinds of tests").

#![allow(dead_code)]

/// `e` and its chain of sources, one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
