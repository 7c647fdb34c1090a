//! The splits as im2recipe built them: its rule on the hand-made set `fixtures/recipe1m-splits/`
//! (every clause), our valid-count rule beside it, im2recipe's key files winning when present,
//! the comparison with a published id list, and the reader of Python 2 pickles of a list of
//! strings.
//!
//! Spec: spec/data-recipe1m.md ("Which recipes are pairs").

#[path = "support/cli.rs"]
mod cli;

use std::path::{Path, PathBuf};

use seje::data::pairs;
use seje::data::splits::Partition;
use seje::data::splits::{self, IngredientVocab, RemoveList, SplitRule};
use serde_json::Value;

fn set() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/recipe1m-splits")
}

fn seje() -> assert_cmd::Command {
    cli::seje_logging("warn")
}

/// The output of `seje data check --root ROOT ARGS…` (the command must succeed).
fn check_output(root: &Path, args: &[&std::ffi::OsStr]) -> Vec<u8> {
    seje()
        .args(["data", "check", "--root"])
        .arg(root)
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone()
}

/// `seje data check --root ROOT`'s table.
fn check_table(root: &Path) -> String {
    String::from_utf8(check_output(root, &[])).unwrap()
}

/// `seje data check --root ROOT --vocab (the set's vocab.txt) --keys OUT --json`'s report.
fn check_json_with_vocab(root: &Path, out: &Path) -> Value {
    let vocab = set().join("vocab.txt");
    let json = check_output(
        root,
        &[
            "--vocab".as_ref(),
            vocab.as_os_str(),
            "--keys".as_ref(),
            out.as_os_str(),
            "--json".as_ref(),
        ],
    );
    serde_json::from_slice(&json).unwrap()
}

fn read_keys(dir: &Path) -> [Vec<String>; 3] {
    ["train", "val", "test"].map(|s| {
        std::fs::read_to_string(dir.join(format!("{s}_keys.txt")))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    })
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The keys spec/data-recipe1m.md derives by hand for the im2recipe rule.
fn im2recipe_keys() -> [Vec<String>; 3] {
    [
        ids(&["0000000001", "0000000003", "000000000a"]),
        ids(&["0000000006"]),
        ids(&["0000000007", "0000000008", "000000000d"]),
    ]
}

#[test]
fn the_im2recipe_rule_writes_the_keys_the_spec_derives() {
    let out = tempfile::tempdir().unwrap();
    let report = check_json_with_vocab(&set(), out.path());
    assert_eq!(read_keys(out.path()), im2recipe_keys());
    let source = &report["join"]["source"];
    assert_eq!(source["kind"], "rule");
    assert_eq!(source["rule"], "im2recipe");
    assert_eq!(source["vocab"][1], 24, "{source}");
    for (split, pairs) in [("train", 3), ("val", 1), ("test", 3)] {
        assert_eq!(report["join"][split]["pairs"], pairs, "{split}");
    }
}

#[test]
fn the_valid_count_rule_parts_where_the_spec_says() {
    let out = tempfile::tempdir().unwrap();
    let text = seje()
        .args(["data", "check", "--root"])
        .arg(set())
        .arg("--keys")
        .arg(out.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        read_keys(out.path()),
        [
            ids(&["0000000001", "0000000003"]),
            ids(&["0000000004", "000000000c"]),
            ids(&["0000000008", "000000000d"]),
        ]
    );
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("splits: the valid-count rule\n"), "{text}");
}

#[test]
fn a_word2vec_vocabulary_gives_the_same_splits_as_its_word_list() {
    let dir = tempfile::tempdir().unwrap();
    let words: Vec<String> = std::fs::read_to_string(set().join("vocab.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let n = words.len();
    let vectors = seje::phase1::word2vec::WordVectors::new(words, 2, vec![0.5; n * 2]).unwrap();
    let bin = dir.path().join("vocab.bin");
    vectors.write_binary(&bin).unwrap();
    let out = dir.path().join("keys");
    seje()
        .args(["data", "check", "--root"])
        .arg(set())
        .arg("--vocab")
        .arg(&bin)
        .arg("--keys")
        .arg(&out)
        .assert()
        .success();
    assert_eq!(read_keys(&out), im2recipe_keys());
}

/// The hand-made set with im2recipe's key files (and the published list) next to layer1.json.
fn with_key_files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let copy = |from: &Path, to: &Path| std::fs::copy(from, to).unwrap();
    for f in [
        "layer1.json",
        "layer2.json",
        "det_ingrs.json",
        "remove1M.txt",
    ] {
        copy(&set().join(f), &dir.path().join(f));
    }
    std::fs::create_dir(dir.path().join("images")).unwrap();
    for e in std::fs::read_dir(set().join("images")).unwrap() {
        let e = e.unwrap();
        copy(&e.path(), &dir.path().join("images").join(e.file_name()));
    }
    for f in [
        "train_keys.pkl",
        "val_keys.pkl",
        "test_keys.pkl",
        "test_ids.pkl",
    ] {
        copy(&set().join("keys").join(f), &dir.path().join(f));
    }
    dir
}

#[test]
fn key_files_win_with_their_membership_and_their_order() {
    let root = with_key_files();
    let out = tempfile::tempdir().unwrap();
    // Even with a rule asked for, the key files define the splits.
    let report = check_json_with_vocab(root.path(), out.path());
    let mut expected = im2recipe_keys();
    expected[2] = ids(&["000000000d", "0000000008", "0000000007"]); // the file's order
    assert_eq!(read_keys(out.path()), expected);
    assert_eq!(report["join"]["source"]["kind"], "key files");
    assert_eq!(
        report["join"]["source"]["key_files"],
        serde_json::json!(["train_keys.pkl", "val_keys.pkl", "test_keys.pkl"])
    );
    assert_eq!(report["join"]["val"]["excluded"]["not_in_key_files"], 3);

    // The published-list comparison: one id missing from the list, one extra.
    let lists = report["published_lists"].as_array().unwrap();
    assert_eq!(lists.len(), 1);
    let c = &lists[0];
    assert_eq!(
        (c["file"].as_str(), c["split"].as_str()),
        (Some("test_ids.pkl"), Some("test"))
    );
    assert_eq!(
        (
            c["ours"].as_u64(),
            c["theirs"].as_u64(),
            c["common"].as_u64()
        ),
        (Some(3), Some(3), Some(2))
    );
    assert_eq!(c["first_only_ours"], serde_json::json!(["0000000008"]));
    assert_eq!(c["first_only_theirs"], serde_json::json!(["00000000ff"]));
    let text = check_table(root.path());
    assert!(
        text.contains(
            "published list test_ids.pkl (test): ours 3, theirs 3, common 2; only ours 1 \
             (first 0000000008), only theirs 1 (first 00000000ff)"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "splits: im2recipe's key files (train_keys.pkl, val_keys.pkl, test_keys.pkl)"
        ),
        "{text}"
    );
}

#[test]
fn an_equal_published_list_says_so() {
    let root = with_key_files();
    // Our own test split, as a sorted Python 2 unicode list.
    let mut test = ids(&["0000000007", "0000000008", "000000000d"]);
    test.sort();
    let mut bytes = b"(lp0\n".to_vec();
    for (i, id) in test.iter().enumerate() {
        bytes.extend(format!("V{id}\np{}\na", i + 1).as_bytes());
    }
    bytes.push(b'.');
    std::fs::write(root.path().join("test_ids.pkl"), bytes).unwrap();
    let text = check_table(root.path());
    assert!(
        text.contains("published list test_ids.pkl (test): equal, 3 ids"),
        "{text}"
    );
}

#[test]
fn bad_key_files_are_named() {
    let check = |edit: &dyn Fn(&Path)| -> String {
        let root = with_key_files();
        edit(root.path());
        let out = seje()
            .args(["data", "check", "--root"])
            .arg(root.path())
            .assert()
            .failure()
            .get_output()
            .stderr
            .clone();
        String::from_utf8(out).unwrap()
    };
    let py2 = |ids: &[&str]| {
        let mut b = b"(lp0\n".to_vec();
        for (i, id) in ids.iter().enumerate() {
            b.extend(format!("S'{id}'\np{}\na", i + 1).as_bytes());
        }
        b.push(b'.');
        b
    };
    let e = check(&|r| std::fs::write(r.join("val_keys.pkl"), py2(&["00000000ee"])).unwrap());
    assert!(
        e.contains("val_keys.pkl: recipe 00000000ee: is not in layer1.json"),
        "{e}"
    );
    let e = check(&|r| std::fs::write(r.join("val_keys.pkl"), py2(&["0000000002"])).unwrap());
    assert!(
        e.contains(
            "val_keys.pkl: recipe 0000000002: is a train recipe in layer1.json, listed for val"
        ),
        "{e}"
    );
    let e = check(&|r| {
        std::fs::write(r.join("val_keys.pkl"), py2(&["0000000006", "0000000006"])).unwrap()
    });
    assert!(
        e.contains("val_keys.pkl: recipe 0000000006: is listed twice in the key files"),
        "{e}"
    );
    let e = check(&|r| std::fs::write(r.join("test_keys.pkl"), py2(&["0000000009"])).unwrap());
    assert!(
        e.contains("test_keys.pkl: recipe 0000000009: has no image in layer2.json"),
        "{e}"
    );
}

#[test]
fn a_partial_set_of_key_files_defines_its_splits_and_the_rule_the_others() {
    // Only im2recipe's test.tar downloaded (to evaluate a released model): the test split is
    // test_keys.pkl's, in its order; train and val are made by the rule.
    let root = with_key_files();
    for f in ["train_keys.pkl", "val_keys.pkl"] {
        std::fs::remove_file(root.path().join(f)).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let report = check_json_with_vocab(root.path(), out.path());
    let mut expected = im2recipe_keys();
    expected[2] = ids(&["000000000d", "0000000008", "0000000007"]);
    assert_eq!(read_keys(out.path()), expected);
    let source = &report["join"]["source"];
    assert_eq!(source["kind"], "key files and rule", "{source}");
    assert_eq!(source["key_files"], serde_json::json!(["test_keys.pkl"]));
    assert_eq!(source["rule"], "im2recipe");
    // Excluded by the rule in train (remove1M's second line, 20 instructions), by the key file
    // in test.
    assert_eq!(
        report["join"]["train"]["excluded"]["removed"], 1,
        "{report}"
    );
    assert_eq!(report["join"]["test"]["excluded"]["not_in_key_files"], 1);
    let text = String::from_utf8(check_output(
        root.path(),
        &["--vocab".as_ref(), set().join("vocab.txt").as_os_str()],
    ))
    .unwrap();
    assert!(
        text.contains(
            "splits: im2recipe's key files (test_keys.pkl); the other splits by the im2recipe \
             rule, vocabulary"
        ),
        "{text}"
    );
}

#[test]
fn python_2_pickles_of_a_list_of_strings_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let read = |bytes: &[u8]| {
        let p = dir.path().join("k.pkl");
        std::fs::write(&p, bytes).unwrap();
        splits::read_key_file(&p)
    };
    // Python 2, pickle.dump(['a1', 'b2'], f): protocol 0, `str`.
    assert_eq!(
        read(b"(lp0\nS'a1'\np1\naS'b2'\np2\na.").unwrap(),
        ["a1", "b2"]
    );
    // Python 2 `unicode` (ids read from JSON), protocol 0, with an escape.
    assert_eq!(
        read(b"(lp0\nVa1\np1\naV\\u00e9\np2\na.").unwrap(),
        ["a1", "\u{e9}"]
    );
    // Python 2, protocol 2: SHORT_BINSTRING, BINPUT, APPENDS; and a memo GET of a repeated id.
    assert_eq!(
        read(b"\x80\x02]q\x00(U\x02a1q\x01U\x02b2q\x02h\x01e.").unwrap(),
        ["a1", "b2", "a1"]
    );
    // Escapes of a Python 2 repr.
    assert_eq!(read(b"(lp0\nS'a\\'b\\x41\\n'\np1\na.").unwrap(), ["a'bA\n"]);
    // The committed fixtures.
    assert_eq!(
        splits::read_key_file(&set().join("keys/test_keys.pkl")).unwrap(),
        ["000000000d", "0000000008", "0000000007"]
    );
    // Refusals name what is wrong.
    let e = read(b"(dp0\nS'a'\np1\nI1\ns.").unwrap_err().to_string();
    assert!(
        e.contains("expected a list of strings, found a dict"),
        "{e}"
    );
    let e = read(b"(lp0\nS'a'\np1\naI7\na.").unwrap_err().to_string();
    assert!(e.contains("item 1 is a int"), "{e}");
    let e = read(b"(lp0\nS'a'\np1\na").unwrap_err().to_string();
    assert!(e.contains("STOP"), "{e}");
    let e = read(b"cos\nsystem\n(S'echo hi'\ntR.")
        .unwrap_err()
        .to_string();
    assert!(e.contains("os") && e.contains("system"), "{e}");
    let e = read(b"(lp0\nS'unterminated\np1\na.")
        .unwrap_err()
        .to_string();
    assert!(e.contains("quoted string"), "{e}");
}

#[test]
fn im2recipe_counts_distinct_vocabulary_names_plus_one() {
    let vocab = IngredientVocab::from_words(ids(&["salt", "olive_oil"]), "test");
    let n = |names: &[&str]| splits::im2recipe_detections(&ids(names), &vocab);
    assert_eq!(n(&[]), 1, "never 0: the </i> token");
    assert_eq!(
        n(&["salt", "salt", "Salt"]),
        2,
        "distinct and case-sensitive"
    );
    assert_eq!(
        n(&["olive oil", ""]),
        2,
        "spaces become underscores; empty names skipped"
    );
    assert_eq!(
        n(&["pepper"]),
        1,
        "names outside the vocabulary do not count"
    );
}

#[test]
fn the_first_line_of_the_removal_list_is_never_removed() {
    let r = RemoveList::from_lines([(0, "a0".to_string()), (1, "a1".to_string())]);
    assert!(!r.removes_as_im2recipe("a0") && r.contains("a0"));
    assert!(r.removes_as_im2recipe("a1"));
    // A repeated id keeps the index of its last line, as a dict comprehension does.
    let r = RemoveList::from_lines([(0, "a0".to_string()), (5, "a0".to_string())]);
    assert!(r.removes_as_im2recipe("a0"));
}

#[test]
fn the_library_and_the_command_agree() {
    let vocab = IngredientVocab::read_txt(&set().join("vocab.txt")).unwrap();
    assert_eq!(vocab.len(), 24);
    let (ds, report) = pairs::open_with(&set(), &SplitRule::Im2recipe(vocab)).unwrap();
    let got: Vec<Vec<String>> = Partition::ALL
        .iter()
        .map(|&p| ds.split(p).iter().map(|q| q.recipe_id.clone()).collect())
        .collect();
    assert_eq!(got, im2recipe_keys().to_vec());
    assert_eq!(report.source.rule, "im2recipe");
}

#[test]
fn im2recipe_without_a_vocabulary_is_refused_with_what_to_give() {
    let e = seje()
        .args(["data", "check", "--rule", "im2recipe", "--root"])
        .arg(set())
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let e = String::from_utf8(e).unwrap();
    assert!(
        e.contains("--rule: the im2recipe rule needs the word2vec vocabulary"),
        "{e}"
    );
}

/// The recipe ids of a feature store, sorted, and its `splits` metadata.
fn store_rows(path: &Path) -> (Vec<String>, Value) {
    let store = seje::data::feature_store::FeatureStore::open(path).unwrap();
    let mut ids = store.ids().to_vec();
    ids.sort();
    let splits = serde_json::from_str(&store.metadata()["splits"]).unwrap();
    (ids, splits)
}

fn sorted_union(keys: [Vec<String>; 3]) -> Vec<String> {
    let mut all: Vec<String> = keys.into_iter().flatten().collect();
    all.sort();
    all
}

/// The vectors file of the set's vocab.txt words (two dimensions each).
fn vocab_bin(dir: &Path) -> PathBuf {
    let words: Vec<String> = std::fs::read_to_string(set().join("vocab.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let n = words.len();
    let vectors = seje::phase1::word2vec::WordVectors::new(words, 2, vec![0.5; n * 2]).unwrap();
    let bin = dir.join("vocab.bin");
    vectors.write_binary(&bin).unwrap();
    bin
}

#[test]
fn the_text_stage_chooses_im2recipe_pairs_with_the_vectors_it_trains() {
    // im2recipe's order: word2vec on the training text, then the splits with its vocabulary.
    // The store's rows are the pairs `seje data check` finds with that vocab.bin.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("text");
    seje()
        .args(["features", "text", "--split-rule", "im2recipe", "--root"])
        .arg(set())
        .arg("--out")
        .arg(&out)
        .args(["--size", "4", "--iter", "1", "--min-count", "1"])
        .assert()
        .success();
    let keys = dir.path().join("keys");
    check_output(
        &set(),
        &[
            "--vocab".as_ref(),
            out.join("vocab.bin").as_os_str(),
            "--keys".as_ref(),
            keys.as_os_str(),
        ],
    );
    let (rows, splits) = store_rows(&out.join("term.safetensors"));
    assert_eq!(rows, sorted_union(read_keys(&keys)));
    assert_eq!(splits["rule"], "im2recipe", "{splits}");
    let words = seje::phase1::split_vocabulary::ingredient_vocab(&out.join("vocab.bin")).unwrap();
    assert_eq!(splits["vocab_sha256"], words.sha256(), "{splits}");
    // Not the valid-count rows (remove1M.txt's first line and an all-invalid recipe differ).
    let valid = dir.path().join("valid");
    check_output(&set(), &["--keys".as_ref(), valid.as_os_str()]);
    assert_ne!(rows, sorted_union(read_keys(&valid)));
}

#[test]
fn the_text_stage_drops_candidates_the_loaded_vectors_exclude() {
    // With vectors that hold every ingredient name of the set, the 19- and 20-name recipes are
    // rated as candidates and then dropped: the rows are the keys the spec page derives.
    let dir = tempfile::tempdir().unwrap();
    let bin = vocab_bin(dir.path());
    let out = dir.path().join("text");
    seje()
        .args(["features", "text", "--split-rule", "im2recipe", "--root"])
        .arg(set())
        .arg("--out")
        .arg(&out)
        .arg("--vectors")
        .arg(&bin)
        .assert()
        .success();
    let (rows, _) = store_rows(&out.join("term.safetensors"));
    assert_eq!(rows, sorted_union(im2recipe_keys()));
    // The same with the vocabulary given to the rule explicitly.
    let out2 = dir.path().join("text2");
    seje()
        .args(["features", "text", "--split-vocab"])
        .arg(set().join("vocab.txt"))
        .arg("--root")
        .arg(set())
        .arg("--out")
        .arg(&out2)
        .arg("--vectors")
        .arg(&bin)
        .assert()
        .success();
    let (rows2, splits2) = store_rows(&out2.join("term.safetensors"));
    assert_eq!(rows2, rows);
    let (_, splits) = store_rows(&out.join("term.safetensors"));
    assert_eq!(
        splits["vocab_sha256"], splits2["vocab_sha256"],
        "vocab.bin and the vocab.txt of its words are one vocabulary"
    );
}

#[test]
fn a_vocabulary_is_refused_by_the_valid_count_rule() {
    let e = seje()
        .args([
            "features",
            "stand-in",
            "--split-rule",
            "valid-count",
            "--split-vocab",
        ])
        .arg(set().join("vocab.txt"))
        .arg("--root")
        .arg(set())
        .arg("--out")
        .arg(tempfile::tempdir().unwrap().path())
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let e = String::from_utf8(e).unwrap();
    assert!(
        e.contains("the valid-count rule reads no vocabulary"),
        "{e}"
    );
}

#[test]
fn key_files_are_recorded_by_their_bytes_and_need_no_vocabulary() {
    let dir = with_key_files();
    let (_, report) = pairs::open(dir.path()).unwrap();
    let ours = report.source;
    let mut bytes = Vec::new();
    for f in ["train_keys.pkl", "val_keys.pkl", "test_keys.pkl"] {
        bytes.extend(std::fs::read(dir.path().join(f)).unwrap());
    }
    let expected = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    assert_eq!(ours.key_files_sha256.as_deref(), Some(expected.as_str()));
    assert_eq!(ours.difference(&ours.clone()), None);
    // Key files of the same names but other contents (another root's) are other splits.
    let other = splits::SplitSource {
        key_files_sha256: Some("0".repeat(64)),
        ..ours.clone()
    };
    let d = ours.difference(&other).expect("other key files differ");
    assert!(d.contains("key files train_keys.pkl"), "{d}");

    // With the key files present the im2recipe rule's vocabulary is not read.
    let out = tempfile::tempdir().unwrap();
    seje()
        .args([
            "features",
            "stand-in",
            "--split-rule",
            "im2recipe",
            "--root",
        ])
        .arg(dir.path())
        .arg("--split-vocab")
        .arg(dir.path().join("no-such-vocab.bin"))
        .arg("--out")
        .arg(out.path())
        .assert()
        .success();
}
