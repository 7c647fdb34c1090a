//! Spec operations of phase2-training-loop.md: the selection score, the schedule, the test sizes.
//!
//! Spec: spec/phase2-training-loop.md.

use toml::{Table, Value};

use crate::inputs::{err, floats, int};

pub fn selection_score(ex: &Table) -> Result<Value, String> {
    let r = floats(ex, "recalls")?;
    let r: [f64; 3] = r
        .try_into()
        .map_err(|_| "input `recalls` must hold 3 numbers")?;
    Ok(Value::Float(seje::phase2::train::selection_score(
        r,
        [1.0, 0.8, 0.6],
    )))
}

pub fn test_sizes(ex: &Table) -> Result<Value, String> {
    Ok(Value::Array(
        floats(ex, "pairs")?
            .into_iter()
            .map(|n| {
                Value::Array(
                    seje::phase2::train::test_sizes(n as usize)
                        .into_iter()
                        .map(|s| Value::Integer(s as i64))
                        .collect(),
                )
            })
            .collect(),
    ))
}

/// Feeds one validation score per epoch to the training loop's schedule.
pub fn schedule(ex: &Table) -> Result<Value, String> {
    use seje::phase2::config::TrainConfig;
    use seje::phase2::run_dir::TrainState;
    use seje::phase2::train::{begin_epoch, end_epoch, ScheduleStep};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("paper/configs/paper.toml");
    let sets = ["stage1_patience", "stage2_patience", "max_epochs"]
        .iter()
        .map(|k| Ok(format!("schedule.{k}={}", int(ex, k)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let cfg = TrainConfig::load(&path, &sets).map_err(err)?;
    let scores = floats(ex, "scores")?;
    let mut state = TrainState::start();
    let mut stage2_from = 0;
    let stopped = loop {
        match begin_epoch(&mut state, &cfg) {
            ScheduleStep::Stop(why) => break why,
            ScheduleStep::SwitchStage => stage2_from = state.epoch + 1,
            ScheduleStep::Continue => {}
        }
        let score = *scores
            .get(state.epoch)
            .ok_or_else(|| format!("no score for epoch {}", state.epoch + 1))?;
        end_epoch(&mut state, score);
    };
    let mut t = Table::new();
    t.insert("epochs".into(), Value::Integer(state.epoch as i64));
    t.insert(
        "stage2_from_epoch".into(),
        Value::Integer(stage2_from as i64),
    );
    t.insert(
        "best_epoch".into(),
        Value::Integer(state.best.map_or(0, |(_, e)| e as i64)),
    );
    t.insert("stopped".into(), Value::String(stopped.into()));
    Ok(Value::Table(t))
}
