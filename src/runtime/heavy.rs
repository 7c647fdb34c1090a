//! Heavy work announced: before a job sized for a GPU (the paper's categoriser, the paper's
//! Phase II configuration) runs on the CPU, one batch of it is timed and the estimate of the
//! whole job is put before the person who started it, with a lighter alternative; the job goes
//! on only if they asked for the CPU explicitly.
//!
//! Spec: spec/cli.md (heavy work announced).

use std::time::Duration;

use crate::error::{Error, Result};

/// What one timed batch says about a whole job.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The job, in words (`training the categoriser wide_resnet50_2 at 224 px`).
    pub job: String,
    /// Wall time of one batch (forward, backward and update), timed or extrapolated from timed
    /// smaller ones.
    pub per_batch: Duration,
    /// Batches the job would run, when known.
    pub batches: Option<u64>,
    /// The process's peak resident memory for one batch (`VmHWM`, measured or extrapolated),
    /// when readable.
    pub peak_memory_bytes: Option<u64>,
}

impl Estimate {
    /// The whole job's time at the timed batch's pace, when its batches are known.
    pub fn total(&self) -> Option<Duration> {
        self.batches.map(|b| self.per_batch.mul_f64(b as f64))
    }

    /// One sentence: the batch's time, the whole job's, the peak memory.
    pub fn describe(&self) -> String {
        let mut s = format!("one batch takes about {}", human(self.per_batch));
        if let (Some(b), Some(t)) = (self.batches, self.total()) {
            s.push_str(&format!(
                ", so its {b} batches would take about {}",
                human(t)
            ));
        }
        if let Some(m) = self.peak_memory_bytes {
            s.push_str(&format!(
                ", at about {:.1} GiB of memory",
                m as f64 / (1u64 << 30) as f64
            ));
        }
        s
    }
}

/// A duration as people read it: seconds, minutes, hours or days.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} days", s / 86_400.0)
    }
}

/// The process's peak resident memory (`VmHWM` of `/proc/self/status`), in bytes.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Logs `estimate` and, when `explicit` is false (the person did not ask for the CPU), refuses
/// with [`Error::HeavyOnCpu`], which carries the estimate and `lighter`, the lighter alternative.
pub fn announce(estimate: &Estimate, explicit: bool, lighter: &str) -> Result<()> {
    tracing::warn!(
        job = %estimate.job,
        estimate = %estimate.describe(),
        "a job sized for a GPU, on the CPU"
    );
    if explicit {
        return Ok(());
    }
    Err(Error::HeavyOnCpu {
        job: estimate.job.clone(),
        estimate: estimate.describe(),
        lighter: lighter.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_reads_as_a_sentence_and_only_an_explicit_cpu_goes_on() {
        let e = Estimate {
            job: "training X".into(),
            per_batch: Duration::from_secs(70),
            batches: Some(20),
            peak_memory_bytes: Some(16 << 30),
        };
        assert_eq!(
            e.describe(),
            "one batch takes about 70.0 s, so its 20 batches would take about 23 min, at about \
             16.0 GiB of memory"
        );
        assert!(announce(&e, true, "lighter").is_ok());
        let err = announce(&e, false, "the tiny one").unwrap_err().to_string();
        assert!(
            err.starts_with("training X is sized for a GPU and would run on this CPU: one batch")
                && err.contains("Lighter: the tiny one")
                && err.ends_with("pass --device cpu"),
            "{err}"
        );
        assert_eq!(human(Duration::from_secs(3 * 86_400)), "3.0 days");
    }
}
