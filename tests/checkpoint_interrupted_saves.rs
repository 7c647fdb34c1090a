//! Checkpoint folders replaced with a kill at every step: `files::replace_dir`, which both the run
//! directory's checkpoints (`last`, `best`) and Phase I's epoch checkpoints go through, is stopped
//! at each of its renames and removals (a removal stopped half-way, as a kill inside
//! `remove_dir_all` would leave it), from every state an earlier kill can leave; a complete folder,
//! the old one or the new one, is always found, and the next save recovers.
//!
//! Spec: spec/untrusted-input.md (section "Writers on a full disk or killed"),
//! spec/phase2-run-directory.md.

use std::path::Path;

use seje::files::{current_dir, replace_dir, replace_dir_by, DirStep};

const FILES: [&str; 3] = ["model.safetensors", "optim.safetensors", "state.json"];

/// A complete checkpoint folder whose every file says `tag`.
fn make(dir: &Path, tag: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for f in FILES {
        std::fs::write(dir.join(f), tag).unwrap();
    }
}

/// The tag of a complete folder; panics on a folder with a file missing or files that disagree.
fn tag(dir: &Path) -> String {
    let tags: Vec<String> = FILES
        .iter()
        .map(|f| {
            std::fs::read_to_string(dir.join(f))
                .unwrap_or_else(|e| panic!("{}/{f}: {e} (an incomplete checkpoint)", dir.display()))
        })
        .collect();
    assert!(
        tags.iter().all(|t| *t == tags[0]),
        "{}: files of different saves {tags:?}",
        dir.display()
    );
    tags[0].clone()
}

/// Sets up a state an earlier save left, given the checkpoint's path.
type Setup = fn(&Path);

/// The states an earlier save can leave (a kill at some step of it), before the next save.
fn earlier_states() -> Vec<(&'static str, Setup)> {
    vec![
        ("no checkpoint yet", |_| {}),
        ("a checkpoint", |t| make(t, "A")),
        ("only `.last.old` (killed between the renames)", |t| {
            make(&t.with_file_name(".last.old"), "A")
        }),
        ("a checkpoint and half-removed `.last.old`", |t| {
            make(t, "A");
            let old = t.with_file_name(".last.old");
            make(&old, "Z");
            std::fs::remove_file(old.join(FILES[0])).unwrap();
        }),
    ]
}

/// Runs `replace_dir_by` and stops at step `kill` (none if past the end): a rename is not done, a
/// removal is done half-way. Returns how many steps there were.
fn save_killed_at(tmp: &Path, target: &Path, kill: usize) -> usize {
    let mut n = 0;
    let r = replace_dir_by(tmp, target, &mut |step| {
        let i = n;
        n += 1;
        if i != kill {
            return step.run();
        }
        if let DirStep::Remove(dir) = step {
            std::fs::remove_file(dir.join(FILES[1])).ok();
        }
        Err(std::io::Error::other("killed"))
    });
    assert_eq!(r.is_err(), kill < n, "stopped at step {kill} of {n}");
    n
}

#[test]
fn a_kill_at_any_step_leaves_a_complete_checkpoint_and_the_next_save_recovers() {
    let mut cases = 0;
    for (what, setup) in earlier_states() {
        // How many steps a save from this state has.
        let steps = {
            let dir = tempfile::tempdir().unwrap();
            let (tmp, target) = (dir.path().join(".last.partial"), dir.path().join("last"));
            setup(&target);
            make(&tmp, "B");
            save_killed_at(&tmp, &target, usize::MAX)
        };
        for kill in 0..=steps {
            let dir = tempfile::tempdir().unwrap();
            let (tmp, target) = (dir.path().join(".last.partial"), dir.path().join("last"));
            setup(&target);
            let before = current_dir(&target).map(|d| tag(&d));
            make(&tmp, "B");
            save_killed_at(&tmp, &target, kill);
            let after = current_dir(&target).map(|d| tag(&d));
            let expected: &[Option<&str>] = if kill == steps {
                &[Some("B")]
            } else {
                &[before.as_deref(), Some("B")]
            };
            assert!(
                expected.contains(&after.as_deref()),
                "{what}, killed at step {kill} of {steps}: found {after:?}, expected one of \
                 {expected:?}"
            );
            // The next save (after a resume) goes through and leaves only the new checkpoint.
            std::fs::remove_dir_all(&tmp).ok();
            make(&tmp, "C");
            replace_dir(&tmp, &target).unwrap();
            assert_eq!(tag(&target), "C", "{what}, killed at step {kill}");
            assert!(!target.with_file_name(".last.old").exists());
            assert!(!tmp.exists());
            cases += 1;
        }
    }
    assert!(cases >= 14, "{cases} cases");
}
