//! The authors' released Phase I pickles, converted by `xtask/import/authors_pickles.py` (what
//! `cargo xtask import` runs), read back with the package's feature-store reader: ids, shapes and
//! every value as `fixtures/golden/authors_release/generate.py` (real NumPy) wrote them, the bytes
//! the Rust writer gives for the same tensors, and the refusals (missing file, wrong shape,
//! non-finite value, a pickle that would run code).
//!
//! Spec: spec/data-authors-release.md. Needs `python3` (3.8 or newer) on the PATH.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use seje::data::feature_store::{self, Dtype, FeatureStore, FeatureWriter, CONFIG_KEY, IDS_KEY};
use serde_json::Value;

const DIM: usize = 8;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    root().join("fixtures/authors-release")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json parses")
}

/// The three inputs of fixture set `set`.
fn inputs(set: &str) -> [PathBuf; 3] {
    let d = fixtures().join(set);
    [
        d.join("id2tfidf_vec.pkl"),
        d.join("id2img_101_cls_vec.pkl"),
        d.join("id2class_1005.pkl"),
    ]
}

/// Runs the converter in `cwd` (where a malicious payload would drop its marker).
fn convert(files: &[PathBuf; 3], out: &Path, cwd: &Path) -> Output {
    Command::new("python3")
        .arg(root().join("xtask/import/authors_pickles.py"))
        .arg("--term")
        .arg(&files[0])
        .arg("--categories")
        .arg(&files[1])
        .arg("--classes")
        .arg(&files[2])
        .arg("--out")
        .arg(out)
        .args(["--dim", &DIM.to_string()])
        .current_dir(cwd)
        .output()
        .expect("python3 runs (the importer needs Python 3.8 or newer on the PATH)")
}

fn convert_ok(files: &[PathBuf; 3], out: &Path) -> String {
    let o = convert(files, out, out.parent().expect("parent"));
    assert!(
        o.status.success(),
        "importer failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8")
}

fn convert_err(files: &[PathBuf; 3], cwd: &Path) -> String {
    let o = convert(files, &cwd.join("out"), cwd);
    assert!(!o.status.success(), "the importer accepted a bad input");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        !cwd.join("out/term.safetensors").exists()
            && !cwd.join("out/categories.safetensors").exists(),
        "no store is written for a refused input"
    );
    String::from_utf8(o.stderr).expect("utf-8")
}

fn f32s(v: &Value) -> Vec<f32> {
    fn walk(v: &Value, out: &mut Vec<f32>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            x => out.push(x.as_f64().expect("a number") as f32),
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_str().expect("string").to_string())
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The same ids, metadata and tensors written by `FeatureWriter`.
fn rewritten(store: &FeatureStore) -> Vec<u8> {
    let mut w = FeatureWriter::new(store.ids().to_vec(), store.config_sha256()).expect("writer");
    for (k, v) in store.metadata() {
        if k != IDS_KEY && k != CONFIG_KEY {
            w.metadata(k, v).expect("metadata");
        }
    }
    for (name, info) in store.tensors() {
        w.add_bytes(
            name,
            info.dtype,
            &info.shape,
            store.bytes(name).expect("bytes").to_vec(),
        )
        .expect("tensor");
    }
    w.to_bytes()
}

fn check_set(set: &str) {
    let exp = &expected()["sets"][set];
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("features");
    let stdout = convert_ok(&inputs(set), &out);
    assert!(
        stdout.contains("imported 5 recipes") && stdout.contains("--from-t7"),
        "{stdout}"
    );

    let term = FeatureStore::open(&out.join("term.safetensors")).expect("term store");
    let cats = FeatureStore::open(&out.join("categories.safetensors")).expect("categories store");
    let ids = strings(&exp["ids"]);
    assert_eq!(term.ids(), ids.as_slice(), "{set}: ids, sorted");
    assert_eq!(cats.ids(), ids.as_slice());
    term.expect("f_term", Dtype::F32, &[DIM]).expect("f_term");
    cats.expect("f_cat", Dtype::F32, &[5, DIM]).expect("f_cat");
    cats.expect("classes", Dtype::I64, &[]).expect("classes");
    assert_eq!(term.tensors().len(), 1);
    assert_eq!(cats.tensors().len(), 2);

    let want_term = exp["f_term"].as_array().expect("rows");
    let want_cat = exp["f_cat"].as_array().expect("rows");
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            bits(&term.row_f32("f_term", id).expect("row")),
            bits(&f32s(&want_term[i])),
            "{set}: f_term of {id}"
        );
        assert_eq!(
            bits(&cats.row_f32("f_cat", id).expect("row")),
            bits(&f32s(&want_cat[i])),
            "{set}: f_cat of {id}"
        );
    }
    let classes: Vec<i64> = cats
        .bytes("classes")
        .expect("classes")
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let want: Vec<i64> = exp["classes"]
        .as_array()
        .expect("classes")
        .iter()
        .map(|c| c.as_i64().expect("int"))
        .collect();
    assert_eq!(classes, want, "{set}: classes");
    // Rows after a recipe's images are zero (write_categories_store's layout).
    for (i, n) in exp["images"].as_array().expect("images").iter().enumerate() {
        let n = n.as_u64().expect("count") as usize;
        let row = cats.row_f32("f_cat", &ids[i]).expect("row");
        assert!(row[..n * DIM].iter().any(|&x| x != 0.0));
        assert!(
            row[n * DIM..].iter().all(|&x| x == 0.0),
            "{set}: padding of {}",
            ids[i]
        );
    }

    // The bytes are what the Rust writer produces for the same tensors and metadata.
    for (store, file) in [
        (&term, "term.safetensors"),
        (&cats, "categories.safetensors"),
    ] {
        let on_disk = std::fs::read(out.join(file)).expect("read");
        assert_eq!(
            rewritten(store),
            on_disk,
            "{set}: {file} differs from FeatureWriter's bytes"
        );
    }

    // config_sha256: the SHA-256 of the recorded description, which names each input's SHA-256.
    assert_eq!(term.config_sha256(), cats.config_sha256());
    let config = &term.metadata()["import_config"];
    assert_eq!(cats.metadata()["import_config"], *config);
    assert_eq!(
        feature_store::config_sha256(config.as_bytes()),
        term.config_sha256()
    );
    let config: Value = serde_json::from_str(config).expect("json");
    for (role, file) in ["term", "categories", "classes"].iter().zip(inputs(set)) {
        let bytes = std::fs::read(&file).expect("pickle");
        assert_eq!(
            config["inputs"][role]["sha256"].as_str(),
            Some(feature_store::config_sha256(&bytes).as_str()),
            "{set}: {role}"
        );
    }
    assert_eq!(cats.metadata()["classes"], "1005");

    // The report: dropped ids and float64 conversions.
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("authors-import.json")).expect("report"),
    )
    .expect("json");
    assert_eq!(report["rows"], 5);
    for k in ["term", "categories", "classes"] {
        assert_eq!(
            report["dropped"][k]["first"], exp["dropped"][k],
            "{set}: dropped {k}"
        );
    }
    let f64s = exp["float64_vectors"].as_u64().expect("count");
    assert_eq!(
        report["float64_converted"]["id2tfidf_vec.pkl"]
            .as_u64()
            .unwrap_or(0),
        f64s
    );
    if f64s > 0 {
        assert!(
            stdout.contains("float64 vectors rounded to float32"),
            "{stdout}"
        );
    }

    // Same inputs, same bytes.
    let again = dir.path().join("again");
    convert_ok(&inputs(set), &again);
    for file in ["term.safetensors", "categories.safetensors"] {
        assert_eq!(
            std::fs::read(out.join(file)).expect("a"),
            std::fs::read(again.join(file)).expect("b")
        );
    }
}

#[test]
fn protocol_2_float32_numpy_int64_classes_and_a_bytes_key() {
    check_set("p2");
}

#[test]
fn protocol_4_float64_terms_plain_int_classes_and_a_fortran_array() {
    check_set("p4");
}

#[test]
fn protocol_5_numpy_frombuffer_and_2d_image_arrays() {
    check_set("p5");
}

#[test]
fn python_2_opcodes_str_ids_and_raw_data() {
    check_set("py2");
}

#[test]
fn phase_two_opens_the_imported_stores_next_to_sentence_features() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("features");
    let mini = root().join("fixtures/recipe1m-mini");
    let stand_in = seje::phase1::stand_in::StandInConfig {
        term_dim: DIM,
        category_dim: DIM,
        ..Default::default()
    };
    seje::phase1::stand_in::write_features(&mini, &out, &stand_in).expect("stand-in");
    convert_ok(&inputs("p2"), &out);
    let cfg = seje::phase2::config::TrainConfig::load(
        &root().join("paper/configs/fixture-mini.toml"),
        &[
            format!("model.term={DIM}"),
            format!("model.category_feature={DIM}"),
            "model.classes=1005".to_string(),
        ],
    )
    .expect("config parses");
    let phase2 = seje::phase2::inputs::PhaseTwoInputs::open(&out, &cfg.model)
        .expect("Phase II opens the imported term and category stores");
    let exp = &expected()["sets"]["p2"];
    let ids = strings(&exp["ids"]);
    // The last image of the five-image recipe, the first of the others.
    let images: Vec<usize> = exp["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|n| n.as_u64().expect("count") as usize - 1)
        .collect();
    let batch = phase2
        .batch(&ids, &images, tch::Device::Cpu)
        .expect("a batch of the imported recipes");
    let term: Vec<f32> = Vec::try_from(batch.term.flatten(0, -1)).expect("term");
    assert_eq!(bits(&term), bits(&f32s(&exp["f_term"])));
    let category: Vec<f32> = Vec::try_from(batch.category.flatten(0, -1)).expect("category");
    let want: Vec<f32> = exp["f_cat"]
        .as_array()
        .expect("rows")
        .iter()
        .zip(&images)
        .flat_map(|(r, &k)| f32s(&r[k]))
        .collect();
    assert_eq!(bits(&category), bits(&want));
    let classes: Vec<i64> = Vec::try_from(&batch.classes).expect("classes");
    let want: Vec<i64> = (0..ids.len())
        .map(|i| exp["classes"][i].as_i64().expect("int"))
        .collect();
    assert_eq!(classes, want);
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = inputs("p2");
    files[2] = fixtures().join("p2/no_such_file.pkl");
    let err = convert_err(&files, dir.path());
    assert!(err.contains("no_such_file.pkl: no such file"), "{err}");
}

#[test]
fn a_wrong_shape_names_the_recipe_and_the_file() {
    let bad = &expected()["bad"]["term_wrong_shape"];
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = inputs("p2");
    files[0] = fixtures().join("bad/term_wrong_shape.pkl");
    let err = convert_err(&files, dir.path());
    let recipe = bad["recipe"].as_str().expect("id");
    assert!(
        err.contains("term_wrong_shape.pkl: recipe ")
            && err.contains(recipe)
            && err.contains(&format!(
                "has shape {}, expected ({DIM},)",
                bad["shape"].as_str().expect("shape")
            )),
        "{err}"
    );
}

#[test]
fn a_non_finite_value_is_refused() {
    let bad = &expected()["bad"]["cat_nonfinite"];
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = inputs("p2");
    files[1] = fixtures().join("bad/cat_nonfinite.pkl");
    let err = convert_err(&files, dir.path());
    assert!(
        err.contains(&format!(
            "cat_nonfinite.pkl: recipe {}: {} is nan (not finite)",
            bad["recipe"].as_str().expect("id"),
            bad["what"].as_str().expect("what")
        )),
        "{err}"
    );
}

#[test]
fn an_object_array_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = inputs("p2");
    files[0] = fixtures().join("bad/term_object_array.pkl");
    let err = convert_err(&files, dir.path());
    assert!(
        err.contains("term_object_array.pkl: not a readable pickle of the authors' kind")
            && err.contains("object arrays (dtype O8) are refused"),
        "{err}"
    );
}

#[test]
fn a_pickle_that_would_run_code_is_refused_without_running_it() {
    let bad = &expected()["bad"]["malicious"];
    let marker = bad["marker"].as_str().expect("marker");
    let malicious = fixtures().join("bad/malicious.pkl");

    // The payload is live: Python's own pickle.load runs it and the marker appears.
    let plain = tempfile::tempdir().expect("temp dir");
    let o = Command::new("python3")
        .args([
            "-c",
            "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))",
        ])
        .arg(&malicious)
        .current_dir(plain.path())
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        plain.path().join(marker).exists(),
        "the fixture's payload runs under pickle.load"
    );

    for slot in 0..3 {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut files = inputs("p2");
        files[slot] = malicious.clone();
        let err = convert_err(&files, dir.path());
        assert!(
            err.contains(&format!(
                "malicious.pkl: refused global {}",
                bad["global"].as_str().expect("global")
            )),
            "{err}"
        );
        assert!(
            !dir.path().join(marker).exists(),
            "the importer ran the payload"
        );
    }
}

#[test]
fn arrays_sharing_one_memoised_string_are_refused_within_the_file_size() {
    // fixtures/golden/authors_release/hostile.py: 2,000 arrays take their data from one 64 KiB
    // string; unpacked one by one they would hold 1.3 GB of Python floats (measured before the
    // allowance existed: 3 s, 1.3 GB peak, from this 318 KB file).
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = inputs("p2");
    files[0] = fixtures().join("bad/term_shared_bytes.pkl");
    let started = std::time::Instant::now();
    let err = convert_err(&files, dir.path());
    assert!(
        err.contains("term_shared_bytes.pkl: not a readable pickle of the authors' kind")
            && err.contains("more than the file holds")
            && err.contains("memo references"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
