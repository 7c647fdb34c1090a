//! The checkpoint reader against what PyTorch's `torch.load` reads from the same files, and the
//! errors it returns for files it must refuse.
//!
//! Spec: spec/checkpoint-format.md. Golden data: fixtures/golden/checkpoint/ (generate.py, PyTorch
//! 2.11.0).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use seje::checkpoint::{self, Value};
use seje::Error;
use serde::Deserialize;
use tch::{Kind, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden/checkpoint")
        .join(name)
}

#[derive(Deserialize)]
struct Golden {
    files: serde_json::Map<String, serde_json::Value>,
}

/// One tensor as `describe()` in generate.py wrote it.
#[derive(Deserialize)]
struct GoldenTensor {
    #[serde(default)]
    name: String,
    dtype: String,
    shape: Vec<i64>,
    stride: Vec<i64>,
    offset: i64,
    values: Vec<serde_json::Value>,
}

fn golden_file(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("golden.json")).expect("golden.json");
    let golden: Golden = serde_json::from_str(&text).expect("golden.json parses");
    golden.files[name].clone()
}

fn golden_tensors(v: &serde_json::Value) -> Vec<GoldenTensor> {
    serde_json::from_value(v.clone()).expect("tensor list")
}

/// Asserts dtype, shape, values and (when `view` is set) the saved stride; tch has no
/// `storage_offset`, so offsets are checked through data pointers in `views_of_one_storage_share_it`.
fn check_tensor(what: &str, got: &Tensor, want: &GoldenTensor, view: bool) {
    assert_eq!(
        checkpoint::torch_dtype_name(got.kind()),
        want.dtype,
        "{what}: dtype"
    );
    assert_eq!(got.size(), want.shape, "{what}: shape");
    if view {
        assert_eq!(got.stride(), want.stride, "{what}: stride");
    } else {
        assert!(got.is_contiguous(), "{what}: contiguous");
    }
    let flat = got.reshape([-1]);
    match got.kind() {
        Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16 => {
            let got: Vec<f64> = Vec::try_from(flat.to_kind(Kind::Double)).expect("f64 values");
            let want: Vec<f64> = want
                .values
                .iter()
                .map(|v| v.as_f64().expect("f64"))
                .collect();
            assert_eq!(got, want, "{what}: values");
        }
        _ => {
            let got: Vec<i64> = Vec::try_from(flat.to_kind(Kind::Int64)).expect("i64 values");
            let want: Vec<i64> = want
                .values
                .iter()
                .map(|v| v.as_i64().expect("i64"))
                .collect();
            assert_eq!(got, want, "{what}: values");
        }
    }
}

fn dict_keys(d: &checkpoint::Dict) -> Vec<String> {
    d.entries
        .iter()
        .map(|(k, _)| k.as_str().expect("str key").to_string())
        .collect()
}

// Python: torch.load("dtypes.pt") -> per tensor dtype, shape, stride(), storage_offset(), values
#[test]
fn every_dtype_and_view_equals_torch_load() {
    let golden = golden_tensors(&golden_file("dtypes.pt")["tensors"]);
    let root = checkpoint::read_torch_file(fixture("dtypes.pt")).expect("dtypes.pt reads");
    let dict = root.as_dict().expect("a dict");
    let names: Vec<&str> = golden.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(dict_keys(dict), names);
    for want in &golden {
        let got = dict
            .get(&want.name)
            .and_then(Value::as_tensor)
            .expect("a tensor");
        check_tensor(&want.name, got, want, true);
    }
    // The same tensors through read_state_dict: same values, contiguous.
    let state = checkpoint::read_state_dict(fixture("dtypes.pt"), None).expect("state dict");
    assert_eq!(state.len(), golden.len());
    for ((name, got), want) in state.iter().zip(&golden) {
        assert_eq!(name, &want.name);
        check_tensor(name, got, want, false);
    }
}

// Python: base = torch.arange(12.) / 4; head = base[:4]; tail = base[6:].view(2, 3)
#[test]
fn views_of_one_storage_share_it() {
    let golden = golden_tensors(&golden_file("dtypes.pt")["tensors"]);
    let offset = |name: &str| golden.iter().find(|t| t.name == name).expect(name).offset;
    let (head_at, tail_at) = (offset("shared.head"), offset("shared.tail"));
    assert_eq!((head_at, tail_at), (0, 6), "torch.load's storage offsets");
    let root = checkpoint::read_torch_file(fixture("dtypes.pt")).expect("dtypes.pt reads");
    let head = root
        .get("shared.head")
        .and_then(Value::as_tensor)
        .expect("head");
    let tail = root
        .get("shared.tail")
        .and_then(Value::as_tensor)
        .expect("tail");
    // One storage: the tail starts (6 - 0) float32 elements after the head.
    let gap = tail.data_ptr() as usize - head.data_ptr() as usize;
    assert_eq!(gap, (tail_at - head_at) as usize * 4);
}

// Python: model.state_dict() of Tiny in generate.py, and its _metadata
#[test]
fn a_model_state_dict_with_metadata_equals_torch_load() {
    let file = golden_file("tiny_model.pt");
    let golden = golden_tensors(&file["tensors"]);
    let state = checkpoint::read_state_dict(fixture("tiny_model.pt"), None).expect("reads");
    let names: Vec<&str> = state.iter().map(|(n, _)| n.as_str()).collect();
    let want_names: Vec<&str> = golden.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, want_names);
    assert!(names.contains(&"bn1.num_batches_tracked"));
    for ((name, got), want) in state.iter().zip(&golden) {
        check_tensor(name, got, want, false);
    }
    let root = checkpoint::read_torch_file(fixture("tiny_model.pt")).expect("reads");
    let meta = root
        .as_dict()
        .and_then(|d| d.attribute("_metadata"))
        .and_then(Value::as_dict)
        .expect("_metadata attribute");
    let want: Vec<(String, i64)> =
        serde_json::from_value(file["metadata"].clone()).expect("[prefix, version] pairs");
    let prefixes: Vec<String> = want.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(dict_keys(meta), prefixes, "module prefixes in order");
    for (prefix, version) in &want {
        let got = meta.get(prefix).and_then(|v| v.get("version"));
        assert_eq!(
            got.and_then(Value::as_int),
            Some(*version),
            "_metadata[{prefix:?}]"
        );
    }
}

// Python: torch.load("seje_checkpoint.pth.tar", map_location="cpu"): the authors' layout, its
// storages tagged `cuda:0` as if saved from a GPU
#[test]
fn the_authors_checkpoint_layout_equals_torch_load() {
    let file = golden_file("seje_checkpoint.pth.tar");
    let path = fixture("seje_checkpoint.pth.tar");
    let root = checkpoint::read_torch_file(&path).expect("reads");
    let top = root.as_dict().expect("dict");
    let want_keys: Vec<String> = serde_json::from_value(file["top_level_keys"].clone()).unwrap();
    assert_eq!(dict_keys(top), want_keys);
    assert_eq!(
        top.get("epoch").and_then(Value::as_int),
        file["epoch"].as_i64()
    );
    assert_eq!(
        top.get("best_epoch_medr").and_then(Value::as_float),
        file["best_epoch_medr"].as_f64()
    );
    assert_eq!(
        top.get("best_sum_recall").and_then(Value::as_float),
        file["best_sum_recall"].as_f64()
    );
    let i2t = top
        .get("best_val_i2t")
        .and_then(Value::as_dict)
        .expect("dict");
    for (k, v) in file["best_val_i2t"].as_object().unwrap() {
        let k: i64 = k.parse().unwrap();
        assert_eq!(
            i2t.get_int(k).and_then(Value::as_float),
            v.as_f64(),
            "R@{k}"
        );
    }

    let golden = golden_tensors(&file["tensors"]);
    let state = checkpoint::read_state_dict(&path, Some("state_dict")).expect("state dict");
    assert_eq!(state.len(), golden.len());
    assert_eq!(state[0].0, "visionMLP.module.0.weight");
    for ((name, got), want) in state.iter().zip(&golden) {
        assert_eq!(name, &want.name);
        check_tensor(name, got, want, false);
    }

    let optimizer = top.get("optimizer").expect("optimizer");
    let opt_state = optimizer
        .get("state")
        .and_then(Value::as_dict)
        .expect("state");
    let want_state = golden_tensors(&file["optimizer_state"]);
    let want_params: Vec<i64> = serde_json::from_value(
        file["optimizer_state"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["param"].clone())
            .collect(),
    )
    .unwrap();
    for (want, param) in want_state.iter().zip(want_params) {
        let per_param = opt_state.get_int(param).expect("param state");
        let got = per_param
            .get(&want.name)
            .and_then(Value::as_tensor)
            .expect("tensor");
        check_tensor(&format!("state[{param}].{}", want.name), got, want, true);
    }
    let groups = optimizer
        .get("param_groups")
        .and_then(Value::as_seq)
        .expect("list");
    let want_groups = file["param_groups"].as_array().unwrap();
    assert_eq!(groups.len(), want_groups.len());
    let group = groups[0].as_dict().expect("dict");
    let want = want_groups[0].as_object().unwrap();
    let want_keys: Vec<String> = serde_json::from_value(file["param_group_keys"].clone()).unwrap();
    assert_eq!(dict_keys(group), want_keys);
    assert_eq!(
        group.get("lr").and_then(Value::as_float),
        want["lr"].as_f64()
    );
    assert_eq!(
        group.get("eps").and_then(Value::as_float),
        want["eps"].as_f64()
    );
    assert!(matches!(group.get("amsgrad"), Some(Value::Bool(false))));
    assert!(matches!(group.get("fused"), Some(Value::None)));
    let betas = group.get("betas").and_then(Value::as_seq).expect("tuple");
    let betas: Vec<f64> = betas.iter().filter_map(Value::as_float).collect();
    assert_eq!(betas, [0.9, 0.999]);
    let params = group.get("params").and_then(Value::as_seq).expect("list");
    let params: Vec<i64> = params.iter().filter_map(Value::as_int).collect();
    let want: Vec<i64> = serde_json::from_value(want["params"].clone()).unwrap();
    assert_eq!(params, want);
}

/// Python's `repr` of the plain values `values.pt` holds.
fn repr(v: &Value) -> String {
    let join = |items: &[Value]| items.iter().map(repr).collect::<Vec<_>>().join(", ");
    match v {
        Value::None => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Str(s) => format!("'{s}'"),
        Value::Bytes(b) => {
            let body: String = b
                .iter()
                .map(|&c| match c {
                    0x20..=0x7e => (c as char).to_string(),
                    _ => format!("\\x{c:02x}"),
                })
                .collect();
            format!("b'{body}'")
        }
        Value::Tuple(items) if items.len() == 1 => format!("({},)", repr(&items[0])),
        Value::Tuple(items) => format!("({})", join(items)),
        Value::List(items) => format!("[{}]", join(items)),
        Value::Dict(d) => format!(
            "{{{}}}",
            d.entries
                .iter()
                .map(|(k, v)| format!("{}: {}", repr(k), repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Tensor(t) => format!("tensor{:?}", t.size()),
    }
}

// Python: repr(torch.load("values.pt"))
#[test]
fn plain_python_values_equal_torch_load() {
    let file = golden_file("values.pt");
    let root = checkpoint::read_torch_file(fixture("values.pt")).expect("reads");
    assert_eq!(repr(&root), file["repr"].as_str().unwrap());
}

// ---- files the reader refuses -----------------------------------------------------------------

fn scratch(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("checkpoint-{name}"))
}

/// Copies `src` to a new zip, replacing the record whose name ends with `suffix` by `bytes`.
fn rewrite_record(src: &Path, suffix: &str, bytes: &[u8], out: &Path) {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(src).unwrap()).unwrap();
    let mut writer = zip::ZipWriter::new(std::fs::File::create(out).unwrap());
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut replaced = false;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        if name.ends_with(suffix) {
            data = bytes.to_vec();
            replaced = true;
        }
        writer.start_file(name, options).unwrap();
        writer.write_all(&data).unwrap();
    }
    writer.finish().unwrap();
    assert!(replaced, "no record ending in {suffix}");
}

#[test]
fn a_global_outside_the_allow_list_is_refused_not_called() {
    let err = checkpoint::read_torch_file(fixture("disallowed_global.pt")).unwrap_err();
    match &err {
        Error::PickleGlobal {
            file,
            record,
            module,
            name,
            offset,
        } => {
            assert!(file.ends_with("disallowed_global.pt"));
            assert_eq!(record, "disallowed_global/data.pkl");
            assert_eq!((module.as_str(), name.as_str()), ("__builtin__", "print"));
            assert_eq!(*offset, 175, "byte offset of the GLOBAL (pickletools.dis)");
        }
        other => panic!("expected a refused global, got {other:?}"),
    }
    assert!(err.to_string().contains("`__builtin__.print`"), "{err}");
}

#[test]
fn a_truncated_file_is_an_incomplete_zip() {
    let bytes = std::fs::read(fixture("tiny_model.pt")).unwrap();
    let path = scratch("truncated.pt");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = checkpoint::read_torch_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { file, expected, .. }
            if file == &path && expected == "a complete zip archive"),
        "{err:?}"
    );
}

#[test]
fn a_file_that_is_not_a_zip_is_named() {
    let path = scratch("not-a-zip.pt");
    std::fs::write(&path, b"hello, world").unwrap();
    let err = checkpoint::read_torch_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { file, expected, found }
            if file == &path && expected.contains("torch.save zip archive")
                && found.contains("68, 65, 6c, 6c")),
        "{err:?}"
    );
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let path = scratch("does-not-exist.pt");
    let err = checkpoint::read_torch_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path: p, source }
            if p == &path && source.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
    // The operating system's error stays reachable as the source.
    let source = std::error::Error::source(&err).expect("a source");
    assert!(
        source.downcast_ref::<std::io::Error>().is_some(),
        "{source:?}"
    );
    assert!(
        err.to_string()
            .ends_with("does-not-exist.pt: no such file or directory (os error 2)"),
        "{err}"
    );
}

#[test]
fn a_big_endian_archive_is_refused() {
    let path = scratch("big-endian.pt");
    rewrite_record(&fixture("tiny_model.pt"), "/byteorder", b"big", &path);
    let err = checkpoint::read_torch_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { expected, found, .. }
            if expected.contains("only little-endian") && found == "\"big\""),
        "{err:?}"
    );
}

#[test]
fn an_unsupported_opcode_is_named_with_its_offset() {
    let path = scratch("bytearray.pt");
    // PROTO 5, then BYTEARRAY8 (protocol 5), which torch.save never writes.
    rewrite_record(
        &fixture("values.pt"),
        "/data.pkl",
        b"\x80\x04\x96\x00\x00\x00\x00\x00\x00\x00\x00.",
        &path,
    );
    let err = checkpoint::read_torch_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::PickleOpcode { opcode: 0x96, name: "BYTEARRAY8", offset: 2, record, .. }
            if record == "values/data.pkl"),
        "{err:?}"
    );
}

#[test]
fn a_pickle_without_stop_is_malformed() {
    let path = scratch("no-stop.pt");
    rewrite_record(&fixture("values.pt"), "/data.pkl", b"\x80\x02}", &path);
    let err = checkpoint::read_torch_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { expected, .. } if expected.contains("STOP")),
        "{err:?}"
    );
}

#[test]
fn a_storage_record_of_the_wrong_size_is_refused() {
    let path = scratch("short-storage.pt");
    // tiny_model.pt's storage 0 is conv1.weight: 4·3·3·3 float32.
    rewrite_record(&fixture("tiny_model.pt"), "/data/0", &[0u8; 12], &path);
    let err = checkpoint::read_torch_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { found, .. }
            if found.contains("of 108 Float elements, found 12 bytes")),
        "{err:?}"
    );
}

#[test]
fn a_state_dict_must_hold_tensors_under_the_key() {
    let err = checkpoint::read_state_dict(fixture("values.pt"), None).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { expected, found, .. }
            if expected == "a tensor under `ints`" && found == "a list"),
        "{err:?}"
    );
    let err =
        checkpoint::read_state_dict(fixture("seje_checkpoint.pth.tar"), Some("model")).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { expected, found, .. }
            if expected == "a key `model`" && found.contains("\"state_dict\"")),
        "{err:?}"
    );
}

// Why the reader exists: libtorch's own loader (torch::jit pickle_load behind tch's `loadz_multi`)
// cannot rebuild the collections.OrderedDict that model.state_dict() pickles. If a libtorch
// upgrade makes this pass, spec/checkpoint-format.md's "Why not libtorch's loader" needs revisiting.
#[test]
fn libtorch_own_loader_refuses_a_real_state_dict() {
    let err = Tensor::loadz_multi(fixture("tiny_model.pt")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("Expected GenericDict but got None"), "{msg}");
}

// Python: torch.load("numpy_scalars.pt", weights_only=False): [(v.dtype.str, v.item()), ...]
#[test]
fn numpy_scalars_become_plain_numbers() {
    let file = golden_file("numpy_scalars.pt");
    let root = checkpoint::read_torch_file(fixture("numpy_scalars.pt")).expect("reads");
    assert_eq!(
        root.get("medr").and_then(Value::as_float),
        file["medr"].as_f64()
    );
    let got = root.get("values").and_then(Value::as_seq).expect("a list");
    let want: Vec<(String, serde_json::Value)> =
        serde_json::from_value(file["values"].clone()).expect("[dtype, value] pairs");
    assert_eq!(got.len(), want.len());
    for (got, (dtype, want)) in got.iter().zip(&want) {
        match (got, want) {
            (Value::Float(g), w) if dtype.contains('f') => {
                assert_eq!(Some(*g), w.as_f64(), "{dtype}")
            }
            (Value::Int(g), w) if dtype.contains(['i', 'u']) => {
                assert_eq!(Some(*g), w.as_i64(), "{dtype}")
            }
            (Value::Bool(g), w) => assert_eq!(Some(*g), w.as_bool(), "{dtype}"),
            (g, w) => panic!("{dtype}: got {g:?}, want {w}"),
        }
    }
}

#[test]
fn a_big_endian_numpy_scalar_is_refused() {
    // Python (protocol 2): {'x': numpy._core.multiarray.scalar(numpy.dtype('f8') with
    // byte order '>', b'?\xf0\0\0\0\0\0\0')}, written by hand.
    let mut pkl = b"\x80\x02}X\x01\x00\x00\x00xcnumpy._core.multiarray\nscalar\n".to_vec();
    pkl.extend_from_slice(b"cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R");
    pkl.extend_from_slice(b"(K\x03X\x01\x00\x00\x00>NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb");
    pkl.extend_from_slice(b"C\x08?\xf0\x00\x00\x00\x00\x00\x00\x86Rs.");
    let path = scratch("big-endian-numpy.pt");
    rewrite_record(&fixture("values.pt"), "/data.pkl", &pkl, &path);
    let err = checkpoint::read_torch_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { found, .. }
            if found == "a little-endian numpy scalar, got dtype >f8"),
        "{err:?}"
    );
}

// ---- the legacy (pre-1.6) stream ----------------------------------------------------------------

/// Asserts that two value trees are equal: keys in order, plain values, and tensors with the same
/// dtype, shape, stride and values.
fn assert_same(what: &str, a: &Value, b: &Value) {
    match (a, b) {
        (Value::Tensor(x), Value::Tensor(y)) => {
            assert_eq!(x.kind(), y.kind(), "{what}: dtype");
            assert_eq!(x.size(), y.size(), "{what}: shape");
            assert_eq!(x.stride(), y.stride(), "{what}: stride");
            assert!(x.equal(y), "{what}: values");
        }
        (Value::Dict(x), Value::Dict(y)) => {
            assert_eq!(x.entries.len(), y.entries.len(), "{what}: dict length");
            for ((kx, vx), (ky, vy)) in x.entries.iter().zip(&y.entries) {
                let key = repr(kx);
                assert_eq!(key, repr(ky), "{what}: key order");
                assert_same(&format!("{what}[{key}]"), vx, vy);
            }
            assert_eq!(x.attributes.len(), y.attributes.len(), "{what}: attributes");
            for ((nx, vx), (ny, vy)) in x.attributes.iter().zip(&y.attributes) {
                assert_eq!(nx, ny, "{what}: attribute names");
                assert_same(&format!("{what}.{nx}"), vx, vy);
            }
        }
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            assert_eq!(x.len(), y.len(), "{what}: length");
            for (i, (vx, vy)) in x.iter().zip(y).enumerate() {
                assert_same(&format!("{what}[{i}]"), vx, vy);
            }
        }
        (x, y) => assert_eq!(repr(x), repr(y), "{what}"),
    }
}

// Python (generate.py): torch.load("legacy_<f>") equals torch.load("<f>") exactly
#[test]
fn legacy_files_equal_their_zip_twins() {
    for zipped in ["dtypes.pt", "tiny_model.pt", "seje_checkpoint.pth.tar"] {
        let legacy = format!("legacy_{zipped}");
        let a = checkpoint::read_torch_file(fixture(zipped)).expect("zip file reads");
        let b = checkpoint::read_torch_file(fixture(&legacy)).expect("legacy file reads");
        assert_same(&legacy, &a, &b);
    }
    // And against torch.load's golden values directly.
    let golden = golden_tensors(&golden_file("dtypes.pt")["tensors"]);
    let root = checkpoint::read_torch_file(fixture("legacy_dtypes.pt")).expect("reads");
    for want in &golden {
        let got = root
            .get(&want.name)
            .and_then(Value::as_tensor)
            .expect("a tensor");
        check_tensor(&want.name, got, want, true);
    }
    let golden = golden_tensors(&golden_file("seje_checkpoint.pth.tar")["tensors"]);
    let state = checkpoint::read_state_dict(
        fixture("legacy_seje_checkpoint.pth.tar"),
        Some("state_dict"),
    )
    .expect("state dict");
    assert_eq!(state.len(), golden.len());
    for ((name, got), want) in state.iter().zip(&golden) {
        assert_eq!(name, &want.name);
        check_tensor(name, got, want, false);
    }
    let golden = golden_tensors(&golden_file("legacy.pt")["tensors"]);
    let state = checkpoint::read_state_dict(fixture("legacy.pt"), None).expect("legacy.pt");
    assert_eq!(state.len(), 1);
    check_tensor("w", &state[0].1, &golden[0], false);
}

// Python: base[:4] and base[6:] of one storage stay one storage in the legacy stream too
#[test]
fn legacy_views_of_one_storage_share_it() {
    let root = checkpoint::read_torch_file(fixture("legacy_dtypes.pt")).expect("reads");
    let ptr = |name: &str| {
        root.get(name)
            .and_then(Value::as_tensor)
            .expect(name)
            .data_ptr() as usize
    };
    assert_eq!(ptr("shared.tail") - ptr("shared.head"), 6 * 4);
}

/// The byte offset of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

#[test]
fn a_big_endian_legacy_stream_is_refused() {
    let mut bytes = std::fs::read(fixture("legacy_tiny_model.pt")).unwrap();
    // sys_info: BINUNICODE "little_endian", BINPUT k, NEWTRUE (0x88) -> NEWFALSE (0x89)
    let at = find(&bytes, b"little_endian") + b"little_endian".len();
    assert_eq!(
        &bytes[at..at + 3],
        [b'q', 2, 0x88],
        "pickletools.dis of the sys_info pickle"
    );
    let at = at + 2;
    bytes[at] = 0x89;
    let path = scratch("legacy-big-endian.pt");
    std::fs::write(&path, &bytes).unwrap();
    let err = checkpoint::read_torch_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { file, expected, found }
            if file == &path && expected.contains("only little-endian")
                && found == "little_endian = False"),
        "{err:?}"
    );
}

#[test]
fn a_truncated_legacy_stream_names_the_storage_cut_short() {
    let bytes = std::fs::read(fixture("legacy_tiny_model.pt")).unwrap();
    let path = scratch("legacy-truncated.pt");
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let err = checkpoint::read_torch_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { file, expected, found }
            if file == &path && expected.contains("bytes of storage `")
                && found.contains("the end of the file after") && found.contains("(truncated?)")),
        "{err:?}"
    );
    // Cut inside the object pickle: the pickle machine runs out of bytes.
    std::fs::write(&path, &bytes[..200]).unwrap();
    let err = checkpoint::read_torch_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { expected, found, .. }
            if expected.contains("of the legacy stream") && found.contains("end of the record")),
        "{err:?}"
    );
    // Trailing bytes after the last storage are refused too.
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"xyz");
    std::fs::write(&path, &longer).unwrap();
    let err = checkpoint::read_torch_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { found, .. } if found == "3 more bytes"),
        "{err:?}"
    );
}

#[test]
fn a_legacy_stream_with_a_disallowed_global_is_refused_not_called() {
    let bytes = std::fs::read(fixture("legacy.pt")).unwrap();
    let global = b"ctorch._utils\n_rebuild_tensor_v2\n";
    let at = find(&bytes, global);
    let mut edited = bytes[..at].to_vec();
    edited.extend_from_slice(b"cposix\nsystem\n");
    edited.extend_from_slice(&bytes[at + global.len()..]);
    let path = scratch("legacy-system.pt");
    std::fs::write(&path, &edited).unwrap();
    let err = checkpoint::read_torch_file(&path).unwrap_err();
    match &err {
        Error::PickleGlobal {
            record,
            module,
            name,
            offset,
            ..
        } => {
            assert_eq!(record, "the legacy stream");
            assert_eq!((module.as_str(), name.as_str()), ("posix", "system"));
            assert_eq!(*offset, at, "file offset of the GLOBAL");
        }
        other => panic!("expected a refused global, got {other:?}"),
    }
}

#[test]
fn a_pickle_that_is_not_a_torch_stream_is_named() {
    // Python: pickle.dumps({}, protocol=2)
    let path = scratch("plain-pickle.pt");
    std::fs::write(&path, b"\x80\x02}q\x00.").unwrap();
    let err = checkpoint::read_torch_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { expected, found, .. }
            if expected.contains("magic number 0x1950a86a20f9469cfc6c")
                && found.contains("80, 02, 7d")),
        "{err:?}"
    );
}

/// A legacy stream written by hand: the magic number, protocol 1001, a little-endian sys_info,
/// `object` (one pickle) and an empty storage key list.
fn hand_written_legacy(object: &[u8]) -> Vec<u8> {
    // Python: pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2), pickle.dumps(1001, protocol=2)
    let mut bytes = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e".to_vec();
    bytes.extend_from_slice(b"\x80\x02M\xe9\x03.");
    // {'little_endian': True}
    bytes.extend_from_slice(b"\x80\x02}X\x0d\x00\x00\x00little_endian\x88s.");
    bytes.extend_from_slice(object);
    // []
    bytes.extend_from_slice(b"\x80\x02].");
    bytes
}

#[test]
fn a_legacy_object_pickle_longer_than_the_first_read_is_read_whole() {
    // A 3 MiB str: the reader reads 1 MiB, then 2, then 4 (the whole file) before it ends.
    let text = "seje".repeat(3 << 18);
    let mut object = b"\x80\x02X".to_vec();
    object.extend_from_slice(&(text.len() as u32).to_le_bytes());
    object.extend_from_slice(text.as_bytes());
    object.push(b'.');
    let path = scratch("legacy-long-pickle.pt");
    std::fs::write(&path, hand_written_legacy(&object)).unwrap();
    let root = checkpoint::read_torch_file(&path).expect("reads");
    assert_eq!(root.as_str(), Some(text.as_str()));

    // The same stream with a wrong protocol version is refused.
    let mut bytes = hand_written_legacy(b"\x80\x02N.");
    let at = find(&bytes, b"M\xe9\x03");
    bytes[at + 1] = 0xea;
    std::fs::write(&path, &bytes).unwrap();
    let err = checkpoint::read_torch_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { expected, found, .. }
            if expected.contains("protocol version 1001") && found == "1002"),
        "{err:?}"
    );
}
