//! The Torch7 reader against the `torchfile` goldens, the skip-instructions files, their
//! conversion to `sentences.safetensors` (read back by Phase II), refused files and properties.
//!
//! Spec: spec/data-t7.md.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use proptest::prelude::*;
use seje::data::feature_store::{Dtype as StoreDtype, FeatureStore};
use seje::data::skip_instruction_vectors::{self as siv, SkipInstructionVectors};
use seje::data::t7::{self, Value};
use serde_json::{json, Value as Json};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/t7")
}

fn sample() -> PathBuf {
    golden_dir().join("encs_sample.t7")
}

/// Our value in the format of `golden.json` (see `fixtures/golden/t7/generate.py`).
fn dump(v: &Value) -> Json {
    match v {
        Value::Nil => Json::Null,
        Value::Bool(b) => json!(b),
        Value::Number(x) => json!({ "number": x }),
        Value::String(s) => {
            json!({ "string_hex": s.iter().map(|b| format!("{b:02x}")).collect::<String>() })
        }
        Value::Table(pairs) => json!({
            "table": pairs.iter().map(|(k, v)| json!([dump(k), dump(v)])).collect::<Vec<_>>()
        }),
        Value::Tensor(t) => json!({
            "tensor": t.dtype.name(),
            "shape": t.shape,
            "data": t.to_f64_vec(),
        }),
        Value::Storage(s) => json!({ "storage": s.dtype().name(), "len": s.len() }),
    }
}

fn golden() -> serde_json::Map<String, Json> {
    let text = std::fs::read_to_string(golden_dir().join("golden.json")).expect("golden.json");
    match serde_json::from_str(&text).expect("golden.json parses") {
        Json::Object(m) => m,
        _ => panic!("golden.json is an object"),
    }
}

#[test]
fn every_golden_file_reads_as_torchfile_reads_it() {
    let golden = golden();
    assert_eq!(golden.len(), 6, "golden.json covers the six files");
    for (name, want) in &golden {
        let path = golden_dir().join(name);
        let v = t7::read_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            dump(&v),
            want["value"],
            "{name}: value differs from torchfile's"
        );
        for pair in want["shared"].as_array().expect("shared is a list") {
            let (a, b) = (pair[0].as_str().expect("a"), pair[1].as_str().expect("b"));
            let same = match (v.get(a), v.get(b)) {
                (Some(Value::Table(x)), Some(Value::Table(y))) => Rc::ptr_eq(x, y),
                (Some(Value::Tensor(x)), Some(Value::Tensor(y))) => Rc::ptr_eq(x, y),
                _ => false,
            };
            assert!(same, "{name}: `{a}` and `{b}` are one object in the file");
        }
    }
}

#[test]
fn strided_views_share_their_storage() {
    let v = t7::read_file(&golden_dir().join("strided.t7")).expect("strided.t7");
    let (Some(Value::Tensor(a)), Some(Value::Tensor(b))) = (v.get("transposed"), v.get("narrowed"))
    else {
        panic!("two tensors");
    };
    let (sa, sb) = (
        a.storage.as_ref().expect("a"),
        b.storage.as_ref().expect("b"),
    );
    assert!(Rc::ptr_eq(sa, sb), "the storage is read once");
    assert!(!a.is_contiguous() && a.contiguous_f32().is_none());
    assert_eq!(b.offset, 5, "the 1-based offset 6 becomes 5");
    // storage[i] = 0.5 i − 2; narrowed = rows of 4 from element 5.
    assert_eq!(b.to_f32_vec(), vec![0.5, 1.0, 2.5, 3.0]);
}

#[test]
fn the_sample_exposes_each_recipe_s_sentences() {
    let s = SkipInstructionVectors::open(&sample()).expect("sample");
    assert_eq!(
        s.ids(),
        [
            "0a1b2c3d4e",
            "1f2e3d4c5b",
            "2b3c4d5e6f",
            "3c4d5e6f70",
            "4d5e6f7081"
        ]
    );
    assert_eq!((s.len(), s.dim(), s.rows()), (5, 8, 12));
    assert_eq!(s.sha256().len(), 64);
    let root = t7::read_file(&sample()).expect("read");
    let Some(Value::Tensor(encs)) = root.get("encs") else {
        panic!("encs")
    };
    let all = encs.contiguous_f32().expect("contiguous encs");
    let mut row = 0;
    for (i, want) in [3, 1, 4, 2, 2].into_iter().enumerate() {
        assert_eq!(s.sentence_count(i), want);
        assert_eq!(
            s.sentences(i),
            &all[row * 8..(row + want) * 8],
            "recipe {i}"
        );
        row += want;
    }
    let t = SkipInstructionVectors::open(&golden_dir().join("encs_table_ids.t7")).expect("table");
    assert_eq!(t.ids(), s.ids(), "ids from a list of strings, NULs trimmed");
    for i in 0..5 {
        assert_eq!(t.sentences(i), s.sentences(i));
    }
}

#[test]
fn conversion_pads_truncates_and_counts() {
    let s = SkipInstructionVectors::open(&sample()).expect("sample");
    let dir = tempfile::tempdir().expect("temp dir");
    let ids: Vec<String> = ["0a1b2c3d4e", "2b3c4d5e6f", "4d5e6f7081"]
        .map(String::from)
        .to_vec();
    let summary =
        siv::write_sentence_store(std::slice::from_ref(&s), &ids, 3, dir.path()).expect("converts");
    assert_eq!(
        (
            summary.recipes,
            summary.dim,
            summary.truncated,
            summary.empty
        ),
        (3, 8, 1, 0)
    );
    let store = FeatureStore::open(&dir.path().join(siv::SENTENCES_FILE)).expect("store");
    assert_eq!(store.ids(), ids.as_slice());
    store
        .expect("f_sent", StoreDtype::F32, &[3, 8])
        .expect("f_sent shape");
    store
        .expect("lengths", StoreDtype::I64, &[])
        .expect("lengths shape");
    let lengths: Vec<i64> = store
        .bytes("lengths")
        .expect("lengths")
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8")))
        .collect();
    assert_eq!(lengths, vec![3, 3, 2], "4 sentences truncated to 3");
    for (r, (id, n)) in ids.iter().zip([3usize, 3, 2]).enumerate() {
        let row = store.row_f32("f_sent", id).expect("row");
        let i = s.index_of(id).expect("in the file");
        assert_eq!(&row[..n * 8], &s.sentences(i)[..n * 8], "row {r}");
        assert!(
            row[n * 8..].iter().all(|&x| x == 0.0),
            "row {r} zero-padded"
        );
    }
    let meta = store.metadata();
    assert_eq!(
        meta.get("producer").map(String::as_str),
        Some(siv::PRODUCER)
    );
    assert_eq!(
        store.config_sha256(),
        seje::data::feature_store::config_sha256(meta["t7_config"].as_bytes())
    );
    assert!(meta["t7_config"].contains("encs_sample.t7"));

    let again = tempfile::tempdir().expect("temp dir");
    siv::write_sentence_store(std::slice::from_ref(&s), &ids, 3, again.path()).expect("again");
    let read = |d: &Path| std::fs::read(d.join(siv::SENTENCES_FILE)).expect("bytes");
    assert_eq!(
        read(dir.path()),
        read(again.path()),
        "byte-identical reruns"
    );

    let e = siv::write_sentence_store(&[s], &["ffffffffff".to_string()], 20, dir.path())
        .expect_err("unknown recipe");
    assert!(e.to_string().contains("recipe ffffffffff"), "{e}");
}

/// A tiny Torch7 writer for the tests (the Python generator has its own).
#[derive(Default)]
struct W {
    out: Vec<u8>,
    next: i32,
}

impl W {
    fn i32(&mut self, x: i32) -> &mut Self {
        self.out.extend_from_slice(&x.to_le_bytes());
        self
    }
    fn i64(&mut self, x: i64) -> &mut Self {
        self.out.extend_from_slice(&x.to_le_bytes());
        self
    }
    fn raw_string(&mut self, s: &[u8]) -> &mut Self {
        self.i32(s.len() as i32);
        self.out.extend_from_slice(s);
        self
    }
    fn string(&mut self, s: &str) -> &mut Self {
        self.i32(t7::TYPE_STRING).raw_string(s.as_bytes())
    }
    fn number(&mut self, x: f64) -> &mut Self {
        self.i32(t7::TYPE_NUMBER);
        self.out.extend_from_slice(&x.to_le_bytes());
        self
    }
    fn table(&mut self, n: i32) -> &mut Self {
        self.next += 1;
        let i = self.next;
        self.i32(t7::TYPE_TABLE).i32(i).i32(n)
    }
    fn torch(&mut self, class: &str) -> &mut Self {
        self.next += 1;
        let i = self.next;
        self.i32(t7::TYPE_TORCH)
            .i32(i)
            .raw_string(b"V 1")
            .raw_string(class.as_bytes())
    }
    /// A contiguous tensor header and its storage header; element bytes follow via `bytes`.
    fn tensor(&mut self, dtype: &str, shape: &[i64]) -> &mut Self {
        self.torch(&format!("torch.{dtype}Tensor"))
            .i32(shape.len() as i32);
        for &n in shape {
            self.i64(n);
        }
        let mut stride = 1;
        let mut strides = vec![0; shape.len()];
        for (d, &n) in shape.iter().enumerate().rev() {
            strides[d] = stride;
            stride *= n;
        }
        for s in strides {
            self.i64(s);
        }
        self.i64(1)
            .torch(&format!("torch.{dtype}Storage"))
            .i64(stride)
    }
    fn f32s(&mut self, xs: &[f32]) -> &mut Self {
        for x in xs {
            self.out.extend_from_slice(&x.to_le_bytes());
        }
        self
    }
    fn i64s(&mut self, xs: &[i64]) -> &mut Self {
        for &x in xs {
            self.i64(x);
        }
        self
    }
}

/// An im2recipe-layout file: `ids` CharTensor [n, 10], `rlens`/`rbps` LongTensor, `encs` [Σ, dim].
fn encs_file(ids: &[String], rlens: &[i64], dim: usize, value: impl Fn(usize) -> f32) -> Vec<u8> {
    let rows: i64 = rlens.iter().sum();
    let mut rbps = vec![1i64];
    for l in &rlens[..rlens.len().saturating_sub(1)] {
        rbps.push(rbps.last().copied().unwrap_or(1) + l);
    }
    let enc: Vec<f32> = (0..rows as usize * dim).map(value).collect();
    let mut w = W::default();
    w.table(4)
        .string("encs")
        .tensor("Float", &[rows, dim as i64])
        .f32s(&enc);
    w.string("ids").tensor("Char", &[ids.len() as i64, 10]);
    for id in ids {
        let mut b = id.as_bytes().to_vec();
        b.resize(10, 0);
        w.out.extend_from_slice(&b);
    }
    w.string("rlens")
        .tensor("Long", &[rlens.len() as i64])
        .i64s(rlens);
    w.string("rbps")
        .tensor("Long", &[rbps.len() as i64])
        .i64s(&rbps);
    w.out
}

#[test]
fn phase_two_reads_the_converted_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mini = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/recipe1m-mini");
    let stand_in = seje::phase1::stand_in::StandInConfig {
        sentence_dim: 16,
        ..Default::default()
    };
    seje::phase1::stand_in::write_features(&mini, dir.path(), &stand_in).expect("stand-in");
    let ids = FeatureStore::open(&dir.path().join("term.safetensors"))
        .expect("term store")
        .ids()
        .to_vec();
    // Recipe k has k % 23 + 1 sentences: some beyond 20, truncated.
    let rlens: Vec<i64> = (0..ids.len() as i64).map(|k| k % 23 + 1).collect();
    let src = dir.path().join("encs_test_1024.t7");
    std::fs::write(&src, encs_file(&ids, &rlens, 16, |i| i as f32 * 1e-3)).expect("write");
    let s = SkipInstructionVectors::open(&src).expect("opens");
    let summary = siv::write_sentence_store(&[s], &ids, siv::MAX_SENTENCES, dir.path())
        .expect("converts over the stand-in's sentences");
    assert_eq!(summary.truncated, rlens.iter().filter(|&&l| l > 20).count());
    let cfg = seje::phase2::config::TrainConfig::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("paper/configs/fixture-mini.toml"),
        &["model.sentence=16".to_string()],
    )
    .expect("config parses");
    let inputs = seje::phase2::inputs::PhaseTwoInputs::open(dir.path(), &cfg.model)
        .expect("Phase II opens the converted store");
    let pick = vec![ids[2].clone(), ids[21].clone()];
    let b = inputs
        .batch(&pick, &[0, 0], tch::Device::Cpu)
        .expect("a batch");
    assert_eq!(b.sentences.size(), vec![2, 20, 16]);
    assert_eq!(
        Vec::<i64>::try_from(&b.lengths).expect("lengths"),
        vec![3, 20]
    );
    // Recipe 2 starts at row 1 + 2 = 3 (rows 0..1 are recipe 0, row 1..3 recipe 1).
    let first = f32::try_from(b.sentences.get(0).get(0).get(0)).expect("scalar");
    assert_eq!(first, (3 * 16) as f32 * 1e-3);
    let pad = f64::try_from(
        b.sentences
            .get(0)
            .narrow(0, 3, 17)
            .abs()
            .sum(tch::Kind::Double),
    )
    .expect("scalar");
    assert_eq!(pad, 0.0, "rows after the third are zero");
}

fn write_tmp(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn read_err(path: &Path) -> String {
    match t7::read_file(path) {
        Ok(v) => panic!("{}: read as {}", path.display(), v.kind()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn truncated_files_fail_naming_the_file_and_offset() {
    let bytes = std::fs::read(sample()).expect("sample");
    let dir = tempfile::tempdir().expect("temp dir");
    for cut in [0, 3, 4, 30, 100, bytes.len() / 2, bytes.len() - 1] {
        let p = write_tmp(dir.path(), &format!("cut{cut}.t7"), &bytes[..cut]);
        let e = read_err(&p);
        assert!(e.contains(&format!("cut{cut}.t7")), "{e}");
        assert!(e.contains("byte ") && e.contains("end of the file"), "{e}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let e = read_err(&write_tmp(dir.path(), "longer.t7", &longer));
    assert!(
        e.contains(&format!("byte {}", bytes.len())) && e.contains("1 more bytes"),
        "{e}"
    );
}

#[test]
fn corrupt_files_fail_saying_what_was_expected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let check = |name: &str, bytes: &[u8], want: &[&str]| {
        let e = read_err(&write_tmp(dir.path(), name, bytes));
        assert!(e.contains(name), "{e}");
        for w in want {
            assert!(e.contains(w), "{name}: {e} lacks {w:?}");
        }
    };
    check(
        "tag.t7",
        &W::default().i32(42).out,
        &["byte 0", "type tag", "42"],
    );
    check(
        "function.t7",
        &W::default().i32(t7::TYPE_FUNCTION).i32(1).out,
        &["byte 0", "Lua function"],
    );
    check(
        "class.t7",
        &W::default().torch("nn.Linear").out,
        &["byte 15", "class \"nn.Linear\""],
    );
    check(
        "negative.t7",
        &W::default().table(-1).out,
        &["byte 8", "negative size -1"],
    );
    check(
        "storage.t7",
        &W::default().torch("torch.FloatStorage").i64(-5).out,
        &["byte 37", "negative size -5"],
    );
    // A table whose value refers back to the table itself.
    let mut w = W::default();
    w.table(1).string("self").i32(t7::TYPE_TABLE).i32(1);
    check(
        "cycle.t7",
        &w.out,
        &["reference to object 1 while it is being read"],
    );
    // A view reaching past its storage.
    let mut w = W::default();
    w.torch("torch.FloatTensor").i32(1).i64(3).i64(1).i64(2);
    w.torch("torch.FloatStorage").i64(3).f32s(&[1.0, 2.0, 3.0]);
    check("view.t7", &w.out, &["inside its storage of 3", "offset 2"]);

    // Inconsistent im2recipe fields name the recipe.
    let ids: Vec<String> = ["aaaaaaaaaa", "bbbbbbbbbb"].map(String::from).to_vec();
    let mut bytes = encs_file(&ids, &[2, 1], 4, |_| 0.5);
    // The last 8 bytes are rbps[1] = 3: point it past the 3 rows.
    let n = bytes.len();
    bytes[n - 8..].copy_from_slice(&4i64.to_le_bytes());
    let p = write_tmp(dir.path(), "rows.t7", &bytes);
    let e = SkipInstructionVectors::open(&p)
        .expect_err("rows")
        .to_string();
    assert!(
        e.contains("rows.t7")
            && e.contains("recipe 1 (bbbbbbbbbb)")
            && e.contains("exceed the 3 rows"),
        "{e}"
    );
    let p = write_tmp(
        dir.path(),
        "dup.t7",
        &encs_file(&[ids[0].clone(), ids[0].clone()], &[1, 1], 4, |_| 0.0),
    );
    let e = SkipInstructionVectors::open(&p)
        .expect_err("dup")
        .to_string();
    assert!(
        e.contains("recipe 1 (aaaaaaaaaa): id also at recipe 0"),
        "{e}"
    );
    let e = SkipInstructionVectors::open(&golden_dir().join("double.t7"))
        .expect_err("not a table")
        .to_string();
    assert!(e.contains("double.t7") && e.contains("field `encs`"), "{e}");
}

#[test]
fn every_prefix_of_a_file_is_refused() {
    for name in ["encs_sample.t7", "mixed.t7", "strided.t7", "backref.t7"] {
        let bytes = std::fs::read(golden_dir().join(name)).expect("file");
        for cut in 0..bytes.len() {
            let e = t7::read_bytes(&bytes[..cut], Path::new(name)).expect_err("prefix");
            assert!(e.to_string().starts_with(name), "{e}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn written_tensors_read_back(
        shape in prop::collection::vec(1i64..4, 1..4),
        seed in any::<u32>(),
    ) {
        let n: i64 = shape.iter().product();
        let xs: Vec<f32> = (0..n).map(|i| ((i as u32).wrapping_mul(2654435761) ^ seed) as f32 / 7.0).collect();
        let mut w = W::default();
        w.table(2).string("t").tensor("Float", &shape).f32s(&xs);
        w.number(1.0).number(-0.25);
        let v = t7::read_bytes(&w.out, Path::new("prop.t7")).expect("reads");
        let Some(Value::Tensor(t)) = v.get("t") else { panic!("a tensor") };
        prop_assert_eq!(t.shape.iter().map(|&d| d as i64).collect::<Vec<_>>(), shape);
        prop_assert_eq!(t.contiguous_f32().expect("contiguous"), xs.as_slice());
        prop_assert_eq!(v.as_list(), None);
    }

    #[test]
    fn flipped_bytes_never_panic(at in 0usize..1223, byte in any::<u8>()) {
        let mut bytes = std::fs::read(sample()).expect("sample");
        let at = at % bytes.len();
        bytes[at] = byte;
        // Either reads (a changed float) or fails with a message naming the file.
        if let Err(e) = t7::read_bytes(&bytes, Path::new("flipped.t7")) {
            prop_assert!(e.to_string().starts_with("flipped.t7: torch7 file, byte "), "{}", e);
        }
    }
}
