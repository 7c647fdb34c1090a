//! The feature store: round trips, libtorch's own safetensors reader agrees, identical inputs give
//! identical bytes, and every malformed file is refused with a message naming the problem.
//!
//! Spec: spec/data-feature-store.md.

use proptest::prelude::*;
use seje::data::feature_store::{config_sha256, Dtype, FeatureStore, FeatureWriter};

fn hash() -> String {
    config_sha256(b"[phase1]\nseed = 1234\n")
}

fn writer(ids: &[&str], f: &[f32], width: usize) -> FeatureWriter {
    let mut w = FeatureWriter::new(ids.iter().map(|s| s.to_string()).collect(), &hash()).unwrap();
    w.add_f32("f_term", &[ids.len(), width], f).unwrap();
    w.add_i64(
        "class",
        &[ids.len()],
        &(0..ids.len() as i64).map(|i| i * 7).collect::<Vec<_>>(),
    )
    .unwrap();
    w
}

#[test]
fn rows_come_back_by_id_and_libtorch_reads_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.safetensors");
    let f: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 1.0).collect();
    writer(&["0a", "0b", "0c"], &f, 4).write(&path).unwrap();
    let store = FeatureStore::open(&path).unwrap();
    assert_eq!(store.ids(), ["0a", "0b", "0c"]);
    assert_eq!(store.config_sha256(), hash());
    assert_eq!(store.row_f32("f_term", "0b").unwrap(), &f[4..8]);
    store.expect("f_term", Dtype::F32, &[4]).unwrap();
    store.expect("class", Dtype::I64, &[]).unwrap();
    let t = store.tensor("class").unwrap();
    assert_eq!(Vec::<i64>::try_from(&t).unwrap(), [0, 7, 14]);
    // libtorch's reader (tch `read_safetensors`) sees the same tensors.
    let named = tch::Tensor::read_safetensors(&path).unwrap();
    let f_term = &named.iter().find(|(n, _)| n == "f_term").unwrap().1;
    assert_eq!(f_term.size(), [3, 4]);
    assert_eq!(Vec::<f32>::try_from(f_term.flatten(0, -1)).unwrap(), f);
}

#[test]
fn a_libtorch_tensor_is_stored_with_its_kind() {
    let mut w = FeatureWriter::new(vec!["0a".into(), "0b".into()], &hash()).unwrap();
    w.add_tensor(
        "f_cat",
        &tch::Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0]).view([2, 2]),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.safetensors");
    w.write(&path).unwrap();
    let s = FeatureStore::open(&path).unwrap();
    s.expect("f_cat", Dtype::F64, &[2]).unwrap();
    let e = s.expect("f_cat", Dtype::F32, &[2]).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("feature store: tensor `f_cat`: expected F32 [2, 2], got F64 [2, 2]"),
        "{e}"
    );
}

#[test]
fn writer_checks() {
    let mut w = FeatureWriter::new(vec!["0a".into()], &hash()).unwrap();
    let e = w.add_f32("x", &[1, 3], &[1.0, 2.0]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "(writer): feature store: tensor `x`: shape [1, 3] of F32 needs 12 bytes, got 8"
    );
    let e = w.metadata("ids", "[]").unwrap_err();
    assert_eq!(
        e.to_string(),
        "(writer): feature store: metadata key `ids` is reserved"
    );
    let e = FeatureWriter::new(vec![], "abc").unwrap_err();
    assert_eq!(
        e.to_string(),
        "(writer): feature store: config hash \"abc\" is not 64 lowercase hex digits"
    );
}

fn open_bytes(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    std::fs::write(&path, bytes).unwrap();
    match FeatureStore::open(&path) {
        Ok(_) => "opened".into(),
        Err(e) => e
            .to_string()
            .replace(&path.display().to_string(), "bad.safetensors"),
    }
}

fn with_header(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn malformed_files_are_refused() {
    let h = hash();
    let meta = format!(r#""__metadata__":{{"config_sha256":"{h}","ids":"[\"0a\"]"}}"#);
    let cases = [
        (
            vec![1u8, 2],
            "file has 2 bytes, fewer than the 8-byte header length",
        ),
        (with_header("{", &[]), "header is not a json object"),
        (
            with_header(
                &format!(r#"{{{meta},"x":{{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}}}"#),
                &[0, 0],
            ),
            "tensor `x`: dtype F16 is not F32, F64, I64, I32 or U8",
        ),
        (
            with_header(
                &format!(r#"{{{meta},"x":{{"dtype":"F32","shape":[1,2],"data_offsets":[0,4]}}}}"#),
                &[0; 8],
            ),
            "tensor `x`: shape [1, 2] of F32 needs 8 bytes, offsets give [0, 4]",
        ),
        (
            with_header(
                &format!(r#"{{{meta},"x":{{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}}}"#),
                &[0; 4],
            ),
            "tensor `x`: data ends at 8 past the data section of 4 bytes",
        ),
        (
            with_header(
                &format!(
                    r#"{{{meta},"x":{{"dtype":"F32","shape":[1],"data_offsets":[0,4]}},"y":{{"dtype":"U8","shape":[1],"data_offsets":[3,4]}}}}"#
                ),
                &[0; 4],
            ),
            "tensors `x` and `y` overlap",
        ),
        (
            with_header(
                r#"{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
                &[0],
            ),
            "metadata has no `ids`",
        ),
        (
            with_header(r#"{"__metadata__":{"ids":"[\"0a\"]"}}"#, &[]),
            "metadata has no `config_sha256`",
        ),
        (
            with_header(
                &format!(r#"{{"__metadata__":{{"config_sha256":"{h}","ids":"[\"0a\",\"0a\"]"}}}}"#),
                &[],
            ),
            "recipe 0a is listed twice (rows 0 and 1)",
        ),
        (
            with_header(
                &format!(r#"{{{meta},"x":{{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}}}"#),
                &[0; 2],
            ),
            "tensor `x`: shape [2] does not have one row per id (1 ids)",
        ),
    ];
    for (bytes, want) in cases {
        let got = open_bytes(&bytes);
        assert_eq!(
            got.strip_prefix("bad.safetensors: feature store: ")
                .map(|g| g.starts_with(want)),
            Some(true),
            "got {got:?}, want {want:?}"
        );
    }
    // The well-formed header of the cases opens.
    assert_eq!(
        open_bytes(&with_header(&format!(r#"{{{meta}}}"#), &[])),
        "opened"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn identical_inputs_give_identical_bytes_and_round_trip(n in 0usize..6, width in 1usize..5, seed in any::<u32>(), extra in "[a-z]{0,8}") {
        let ids: Vec<String> = (0..n).map(|i| format!("{:x}", i * 31 + 1)).collect();
        let f: Vec<f32> = (0..n * width).map(|i| ((i as u32).wrapping_mul(seed) % 1000) as f32 / 7.0).collect();
        let build = || {
            let mut w = FeatureWriter::new(ids.clone(), &hash()).unwrap();
            // Insertion order must not matter.
            w.metadata("producer", &extra).unwrap();
            w.add_f32("f_term", &[n, width], &f).unwrap();
            w.metadata("a_first", "1").unwrap();
            w
        };
        let mut other = FeatureWriter::new(ids.clone(), &hash()).unwrap();
        other.metadata("a_first", "1").unwrap();
        other.add_f32("f_term", &[n, width], &f).unwrap();
        other.metadata("producer", &extra).unwrap();
        let bytes = build().to_bytes();
        prop_assert_eq!(&bytes, &build().to_bytes());
        prop_assert_eq!(&bytes, &other.to_bytes());
        let header = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        prop_assert_eq!(header % 8, 0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.safetensors");
        build().write(&path).unwrap();
        prop_assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let s = FeatureStore::open(&path).unwrap();
        prop_assert_eq!(s.ids(), ids.as_slice());
        for (i, id) in ids.iter().enumerate() {
            prop_assert_eq!(s.row_f32("f_term", id).unwrap(), f[i * width..(i + 1) * width].to_vec());
        }
        prop_assert_eq!(s.metadata().get("producer"), Some(&extra));
    }
}
