//! The command line's one progress helper: a bar on stderr, hidden when stderr is not a terminal,
//! driven by the library's progress reports (`(stage, done)` callbacks).
//!
//! Spec: spec/README.md (commands; "the library never prints": it reports, the command line
//! draws).

use std::sync::Mutex;

use anyhow::Result;

/// A progress bar that starts over whenever the library reports a new stage `S` (the library's
/// stage type of the command: an epoch of training, the encoding, …).
pub struct Bar<S = ()> {
    bar: indicatif::ProgressBar,
    stage: Mutex<Option<S>>,
}

/// The stage-and-count template of most commands.
pub const STAGES: &str = "{spinner} {msg}: {pos}/{len} ({per_sec}, eta {eta})";

impl<S: PartialEq + Copy> Bar<S> {
    /// A bar drawn with `template` (indicatif's syntax) on stderr.
    pub fn new(template: &str) -> Result<Self> {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(indicatif::ProgressStyle::with_template(template)?);
        Ok(Bar {
            bar,
            stage: Mutex::new(None),
        })
    }

    /// A bar that draws nothing (`--no-progress`).
    pub fn hidden() -> Self {
        Bar {
            bar: indicatif::ProgressBar::hidden(),
            stage: Mutex::new(None),
        }
    }

    /// Reports `done` units of `stage`. A stage other than the last one starts the bar over
    /// with the message and length (`None`: unknown) that `describe` gives it.
    pub fn report(&self, stage: S, done: u64, describe: impl FnOnce(S) -> (String, Option<u64>)) {
        let mut current = self.stage.lock().unwrap_or_else(|e| e.into_inner());
        if *current != Some(stage) {
            let (message, length) = describe(stage);
            self.bar.reset();
            match length {
                Some(n) => self.bar.set_length(n),
                None => self.bar.unset_length(),
            }
            self.bar.set_message(message);
            *current = Some(stage);
        }
        self.bar.set_position(done);
    }

    /// Reports `done` units with no stage (one-stage commands).
    pub fn set_position(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// Sets the length of a one-stage bar.
    pub fn set_length(&self, length: u64) {
        self.bar.set_length(length);
    }

    /// Counts one more unit.
    pub fn inc(&self) {
        self.bar.inc(1);
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
