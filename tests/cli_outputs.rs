//! Outputs checked before work (issue 28): a command that writes creates the missing folders of
//! its output, or refuses at once, naming the output, when it cannot write there, instead of
//! failing after its work is done.
//!
//! Spec: spec/cli.md (outputs).

#[path = "support/cli.rs"]
mod cli;
#[path = "support/fixtures.rs"]
mod fixtures;

use std::time::{Duration, Instant};

use cli::seje;

#[test]
fn missing_output_folders_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("not/yet/there/vectors.bin");
    let corpus = dir.path().join("corpus.txt");
    std::fs::write(&corpus, "a b c a b c a b\n".repeat(50)).unwrap();
    let o = seje()
        .args(["--log", "warn", "word2vec", "--corpus"])
        .arg(&corpus)
        .args(["--size", "8", "--min-count", "1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.is_file(),
        "the vectors were written into the new folders"
    );
}

#[test]
fn an_output_that_cannot_be_written_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where a folder of the output should be.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"a file").unwrap();
    let file_out = blocker.join("x.index");
    let dir_out = blocker.join("features");
    let run_dir = fixtures::repo().join("no/such/run");
    let cases: Vec<(Vec<String>, &std::path::Path)> = vec![
        // `seje index` used to build the whole index first (13 s on the synthetic test split).
        (
            vec![
                "index".into(),
                "--run-dir".into(),
                run_dir.display().to_string(),
                "--split".into(),
                "test".into(),
                "--out".into(),
                file_out.display().to_string(),
            ],
            &file_out,
        ),
        (
            vec![
                "features".into(),
                "stand-in".into(),
                "--root".into(),
                fixtures::recipe1m_mini().display().to_string(),
                "--out".into(),
                dir_out.display().to_string(),
            ],
            &dir_out,
        ),
        (
            vec![
                "synth".into(),
                "--recipes".into(),
                "100".into(),
                "--out".into(),
                dir_out.display().to_string(),
            ],
            &dir_out,
        ),
    ];
    for (args, named) in cases {
        let started = Instant::now();
        let o = seje()
            .arg("--log")
            .arg("warn")
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            err.contains(&*named.display().to_string()),
            "{args:?}: the error names the output: {err}"
        );
        // One line, the operating system's words once (they are the message's and its source's).
        assert_eq!(err.matches("(os error").count(), 1, "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{args:?}: refused before any work, took {:?}",
            started.elapsed()
        );
    }
}
