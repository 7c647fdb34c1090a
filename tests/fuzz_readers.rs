//! One fuzz target per reader of outside bytes, each run by `tests/support/fuzz.rs` in a worker
//! child under a time and memory watchdog: a short fixed-seed budget in `cargo xtask test`, long
//! runs with `cargo xtask fuzz [--target T] [--seconds N]`. Every input that ever failed is saved
//! under `fixtures/fuzz/<target>/` and replayed first.
//!
//! Spec: spec/untrusted-input.md (section "Fuzzing").

#[path = "support/fuzz.rs"]
mod fuzz;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use fuzz::{mutate_bytes, Rng, Target};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The committed files of `dir` whose names end in `suffix` and whose bytes start with `magic`.
fn files(dir: &str, suffix: &str, magic: &[u8]) -> Vec<Vec<u8>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(repo(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .filter(|b| b.starts_with(magic))
        .collect()
}

// ---- pickles -------------------------------------------------------------------------------

/// Pickle fragments a hostile writer would use: shared references, deep nesting, huge declared
/// lengths, memo traffic, calls.
fn pickle_tokens() -> Vec<Vec<u8>> {
    let mut t: Vec<Vec<u8>> = [
        &b"2\x86"[..],
        b"2\x862\x862\x862\x86",
        b"(",
        b"t",
        b"l",
        b"e",
        b"a",
        b"]",
        b"}",
        b"s",
        b"u",
        b"d",
        b")",
        b"N",
        b"2",
        b"0",
        b"1",
        b"\x85\x85\x85\x85\x85\x85\x85\x85",
        b"h\x00",
        b"q\x00",
        b"j\xff\xff\xff\xff",
        b"r\xff\xff\xff\xff",
        b"\x94",
        b"K\x01",
        b"J\xff\xff\xff\x7f",
        b"\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f",
        b"X\xff\xff\xff\x7f",
        b"\x8d\xff\xff\xff\xff\xff\xff\xff\x7f",
        b"\x8e\x00\x00\x00\x00\x00\x00\x00\x80",
        b"R",
        b"b",
        b"Q",
        b".",
        b"ctorch._utils\n_rebuild_tensor_v2\n",
        b"ccollections\nOrderedDict\n",
        b"ctorch\nFloatStorage\n",
        b"c__builtin__\nprint\n",
        b"\x95\xff\xff\xff\xff\xff\xff\xff\xff",
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect();
    t.push(b"X\x07\x00\x00\x00storage".to_vec());
    t
}

/// Hostile pickles built whole: a shared tower, deep nesting, a list that contains itself, a
/// dict whose key is a tower, a huge declared string.
fn hostile_pickles() -> Vec<Vec<u8>> {
    let mut tower = vec![0x80, 2, b'N'];
    tower.extend(b"2\x86".repeat(60));
    tower.push(b'.');
    let mut deep = vec![0x80, 2, b'N'];
    deep.extend(std::iter::repeat_n(0x85, 100_000));
    deep.push(b'.');
    let cyclic = b"\x80\x02]q\x00h\x00a.".to_vec();
    let mut key = vec![0x80, 2, b'}', b'N'];
    key.extend(b"2\x86".repeat(40));
    key.extend(b"Ns.");
    let huge = b"\x80\x02\x8d\x00\x00\x00\x00\x00\x00\x00\x01abc.".to_vec();
    let memo = b"\x80\x02]q\x00(h\x00h\x00h\x00h\x00h\x00h\x00h\x00h\x00e.".to_vec();
    vec![tower, deep, cyclic, key, huge, memo]
}

/// The records of a zip archive, in order.
fn unzip(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).ok()?;
        let mut data = Vec::new();
        entry.read_to_end(&mut data).ok()?;
        out.push((entry.name().to_string(), data));
    }
    Some(out)
}

/// A stored zip archive of `records`.
fn rezip(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, data) in records {
            // A name the mutations made twice is written once.
            if zip.start_file(name.as_str(), stored).is_ok() {
                zip.write_all(data).unwrap();
            }
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

/// `torch.save` archives whose `data.pkl` is `pkl`.
fn archive_of(pkl: &[u8]) -> Vec<u8> {
    rezip(&[
        ("archive/data.pkl".into(), pkl.to_vec()),
        ("archive/byteorder".into(), b"little".to_vec()),
    ])
}

/// Mutates one record of the archive (most often `data.pkl`, with pickle tokens), then re-zips:
/// the zip stays valid, so the pickle machine and the storage reader see the mutation.
fn mutate_archive(rng: &mut Rng, input: &[u8], target: &Target) -> Vec<u8> {
    let Some(mut records) = unzip(input) else {
        let mut out = input.to_vec();
        mutate_bytes(rng, &mut out, &target.dictionary);
        return out;
    };
    let pick = match records.iter().position(|(n, _)| n.ends_with("data.pkl")) {
        Some(pkl) if !rng.chance(4) => pkl,
        _ if !records.is_empty() => rng.below(records.len()),
        _ => return input.to_vec(),
    };
    for _ in 0..1 + rng.below(4) {
        mutate_bytes(rng, &mut records[pick].1, &target.dictionary);
    }
    if rng.chance(16) {
        // A record dropped or duplicated under another name.
        let i = rng.below(records.len());
        if rng.chance(2) {
            records.remove(i);
        } else {
            let (name, data) = records[i].clone();
            records.push((format!("{name}x"), data));
        }
    }
    rezip(&records)
}

fn torch_file(_: &[u8], path: &Path) -> Result<(), String> {
    seje::checkpoint::read_torch_file(path)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn string_list(_: &[u8], path: &Path) -> Result<(), String> {
    seje::checkpoint::read_string_list_pickle(path)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn fuzz_torch_zip() {
    fuzz::fuzz("fuzz_torch_zip", || {
        let mut seeds = files("fixtures/golden/checkpoint", "", b"PK\x03\x04");
        seeds.extend(hostile_pickles().iter().map(|p| archive_of(p)));
        Target {
            name: "torch_zip",
            seeds,
            dictionary: pickle_tokens(),
            structured: Some(mutate_archive),
            run: torch_file,
        }
    });
}

#[test]
fn fuzz_torch_legacy() {
    fuzz::fuzz("fuzz_torch_legacy", || Target {
        name: "torch_legacy",
        seeds: files("fixtures/golden/checkpoint", "", b"\x80\x02\x8a\n"),
        dictionary: pickle_tokens(),
        structured: None,
        run: torch_file,
    });
}

#[test]
fn fuzz_string_list_pickle() {
    fuzz::fuzz("fuzz_string_list_pickle", || {
        let mut seeds = files("fixtures/recipe1m-splits/keys", ".pkl", b"");
        seeds.extend(hostile_pickles());
        Target {
            name: "string_list_pickle",
            seeds,
            dictionary: pickle_tokens(),
            structured: None,
            run: string_list,
        }
    });
}

// ---- other formats -------------------------------------------------------------------------

/// Little-endian 32-bit integers a Torch7 file is made of: type tags, counts, indices.
fn t7_tokens() -> Vec<Vec<u8>> {
    let mut t: Vec<Vec<u8>> = [
        -1i32,
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        i32::MAX,
        i32::MIN,
        1 << 20,
    ]
    .iter()
    .map(|v| v.to_le_bytes().to_vec())
    .collect();
    for name in [
        "torch.FloatTensor",
        "torch.FloatStorage",
        "torch.LongStorage",
        "V 1",
    ] {
        let mut s = (name.len() as i32).to_le_bytes().to_vec();
        s.extend(name.as_bytes());
        t.push(s);
    }
    t
}

fn t7(bytes: &[u8], path: &Path) -> Result<(), String> {
    seje::data::t7::read_bytes(bytes, path)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn fuzz_t7() {
    fuzz::fuzz("fuzz_t7", || Target {
        name: "t7",
        seeds: files("fixtures/golden/t7", ".t7", b""),
        dictionary: t7_tokens(),
        structured: None,
        run: t7,
    });
}

fn npy(bytes: &[u8], path: &Path) -> Result<(), String> {
    seje::eval::npy::parse_npy(bytes, path)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn fuzz_npy() {
    fuzz::fuzz("fuzz_npy", || {
        let small = seje::eval::npy::npy_bytes(2, 3, &[0.5, -1.0, 2.0, f32::NAN, 0.0, 1.0]);
        Target {
            name: "npy",
            seeds: vec![small, read("fixtures/golden/eval/image.npy")],
            dictionary: [
                &b"'shape': (100000000000, 1024), "[..],
                b"'shape': (4611686018427387904, 1024), ",
                b"'shape': (-1, 3), ",
                b"'descr': '<f8', ",
                b"'descr': '>f4', ",
                b"'fortran_order': True, ",
                b"\x93NUMPY\x01\x00",
                b"\x93NUMPY\x02\x00",
                b"\xff\xff",
            ]
            .iter()
            .map(|b| b.to_vec())
            .collect(),
            structured: None,
            run: npy,
        }
    });
}

fn word2vec(bytes: &[u8], _: &Path) -> Result<(), String> {
    seje::phase1::word2vec::WordVectors::from_binary(bytes).map(drop)
}

#[test]
fn fuzz_word2vec_bin() {
    fuzz::fuzz("fuzz_word2vec_bin", || Target {
        name: "word2vec_bin",
        seeds: vec![read("fixtures/golden/word2vec/ours_small.bin")],
        dictionary: [
            &b"100000000000 300\n"[..],
            b"18446744073709551615 300\n",
            b"3 4611686018427387904\n",
            b"3 100000000000\n",
            b"-1 5\n",
            b" ",
            b"\n",
        ]
        .iter()
        .map(|b| b.to_vec())
        .collect(),
        structured: None,
        run: word2vec,
    });
}

// ---- feature stores ------------------------------------------------------------------------

/// Opens the store and reads every tensor, as Phase II and the index do.
fn feature_store(_: &[u8], path: &Path) -> Result<(), String> {
    let store = seje::data::feature_store::FeatureStore::open(path).map_err(|e| e.to_string())?;
    let names: Vec<String> = store.tensors().keys().cloned().collect();
    for name in names {
        drop(store.tensor(&name).map_err(|e| e.to_string())?);
    }
    Ok(())
}

#[test]
fn fuzz_feature_store() {
    fuzz::fuzz("fuzz_feature_store", || {
        let ids: Vec<String> = (0..3).map(|i| format!("r{i}")).collect();
        let mut w = seje::data::feature_store::FeatureWriter::new(ids, &"0".repeat(64)).unwrap();
        w.metadata("producer", "fuzz seed").unwrap();
        w.add_f32("x", &[3, 4], &[0.5; 12]).unwrap();
        w.add_f32("y", &[3, 2, 2], &[1.0; 12]).unwrap();
        Target {
            name: "feature_store",
            seeds: vec![w.to_bytes(), read("fixtures/golden/eval/tiny.safetensors")],
            dictionary: [
                &b"\"data_offsets\":[0,18446744073709551615]"[..],
                b"\"shape\":[4611686018427387904,4]",
                b"\"shape\":[-1]",
                b"\"dtype\":\"F64\"",
                b"\"__metadata__\":{}",
                b"\xff\xff\xff\xff\xff\xff\xff\x7f",
            ]
            .iter()
            .map(|b| b.to_vec())
            .collect(),
            structured: None,
            run: feature_store,
        }
    });
}

// ---- Recipe1M's JSON layers ----------------------------------------------------------------

/// Writes `bytes` as `name` in a folder next to the worker's input file: the layer readers take a
/// dataset root.
fn as_layer(bytes: &[u8], path: &Path, name: &str) -> PathBuf {
    let root = path.with_extension("root");
    std::fs::create_dir_all(&root).expect("the root folder");
    std::fs::write(root.join(name), bytes).expect("the layer file");
    root
}

/// The first `n` records of a committed layer file, as a JSON array.
fn first_records(rel: &str, n: usize) -> Vec<u8> {
    let all: Vec<serde_json::Value> = serde_json::from_slice(&read(rel)).expect("a JSON array");
    serde_json::to_vec(&all[..n.min(all.len())]).expect("serialises")
}

fn json_tokens() -> Vec<Vec<u8>> {
    [
        &b"{"[..],
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b"\"",
        b"\\u0000",
        b"\\ud800",
        b"null",
        b"1e999999",
        b"-0",
        b"[[[[[[[[[[[[[[[[",
        b"\"id\":",
        b"\"images\":[]",
        b"\"ingredients\":[{\"text\":\"\"}]",
        b"\"instructions\":[]",
        b"\"partition\":\"train\"",
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect()
}

fn layer1(bytes: &[u8], path: &Path) -> Result<(), String> {
    let root = as_layer(bytes, path, "layer1.json");
    seje::data::recipe1m::read_layer1(&root, |_| Ok(()))
        .map(drop)
        .map_err(|e| e.to_string())
}

fn layer2(bytes: &[u8], path: &Path) -> Result<(), String> {
    let root = as_layer(bytes, path, "layer2.json");
    seje::data::recipe1m::read_layer2(&root, |_| Ok(()))
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn fuzz_recipe1m_layer1() {
    fuzz::fuzz("fuzz_recipe1m_layer1", || Target {
        name: "recipe1m_layer1",
        seeds: vec![
            first_records("fixtures/recipe1m-mini/layer1.json", 3),
            read("fixtures/recipe1m-mini/layer1.json"),
        ],
        dictionary: json_tokens(),
        structured: None,
        run: layer1,
    });
}

#[test]
fn fuzz_recipe1m_layer2() {
    fuzz::fuzz("fuzz_recipe1m_layer2", || Target {
        name: "recipe1m_layer2",
        seeds: vec![
            first_records("fixtures/recipe1m-mini/layer2.json", 3),
            read("fixtures/recipe1m-mini/layer2.json"),
        ],
        dictionary: json_tokens(),
        structured: None,
        run: layer2,
    });
}

fn det_ingrs(bytes: &[u8], path: &Path) -> Result<(), String> {
    let root = as_layer(bytes, path, "det_ingrs.json");
    seje::data::recipe1m::read_det_ingrs(&root, |_| Ok(()))
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn fuzz_det_ingrs() {
    fuzz::fuzz("fuzz_det_ingrs", || {
        let mut dictionary = json_tokens();
        dictionary.extend(
            [
                &b"\"valid\":[true,false]"[..],
                b"\"valid\":[]",
                b"true",
                b"false",
            ]
            .iter()
            .map(|b| b.to_vec()),
        );
        Target {
            name: "det_ingrs",
            seeds: vec![
                first_records("fixtures/recipe1m-mini/det_ingrs.json", 3),
                read("fixtures/recipe1m-mini/det_ingrs.json"),
            ],
            dictionary,
            structured: None,
            run: det_ingrs,
        }
    });
}

// ---- embeddings files of `seje eval` ---------------------------------------------------------

fn eval_embeddings(_: &[u8], path: &Path) -> Result<(), String> {
    seje::eval::embeddings::Embeddings::read_safetensors(path)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn fuzz_eval_embeddings() {
    fuzz::fuzz("fuzz_eval_embeddings", || Target {
        name: "eval_embeddings",
        seeds: files("fixtures/golden/eval", ".safetensors", b""),
        dictionary: [
            &b"\"data_offsets\":[0,18446744073709551615]"[..],
            b"\"shape\":[4611686018427387904,4]",
            b"\"shape\":[2305843009213693952,2]",
            b"\"shape\":[-1,3]",
            b"\"dtype\":\"F64\"",
            b"\"ids\":\"[\\\"a\\\"]\"",
            b"\"__metadata__\":{}",
            b"\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\xff\xff\xff\xff\xff\xff\xff\x7f",
        ]
        .iter()
        .map(|b| b.to_vec())
        .collect(),
        structured: None,
        run: eval_embeddings,
    });
}

// ---- images ---------------------------------------------------------------------------------

/// Decodes the bytes and runs the paper's evaluation transform, as `seje classify` does.
fn image(bytes: &[u8], _: &Path) -> Result<(), String> {
    let img = seje::data::images::decode_bytes(bytes.to_vec())?;
    let mut rng = rand::rngs::mock::StepRng::new(0, 1);
    seje::data::transforms::geometry(
        &img,
        &seje::data::transforms::TransformConfig::paper(),
        seje::data::transforms::Mode::Eval,
        &mut rng,
    )
    .map(drop)
    .map_err(|e| e.to_string())
}

#[test]
fn fuzz_image() {
    fuzz::fuzz("fuzz_image", || {
        let seeds = vec![
            read("fixtures/recipe1m-mini/images/test/6/7/0/9/6709e31741.jpg"),
            read("fixtures/golden/images/portrait_upscale.in.png"),
            read("fixtures/golden/images/square_same.in.png"),
        ];
        Target {
            name: "image",
            seeds,
            dictionary: [
                &b"IHDR\x00\x01\x86\xa0\x00\x01\x86\xa0"[..],
                b"IHDR\x00\x00\x00\x01\x00\x00\x40\x00",
                b"\xff\xc0\x00\x11\x08\xff\xff\xff\xff",
                b"\xff\xc2",
                b"\xff\xd9",
                b"IDAT",
                b"IEND",
            ]
            .iter()
            .map(|b| b.to_vec())
            .collect(),
            structured: None,
            run: image,
        }
    });
}

// ---- .safetensors through tch ---------------------------------------------------------------

fn safetensors(_: &[u8], path: &Path) -> Result<(), String> {
    seje::checkpoint::safetensors::read_safetensors(path)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn fuzz_safetensors() {
    fuzz::fuzz("fuzz_safetensors", || Target {
        name: "safetensors",
        seeds: vec![
            read("fixtures/golden/eval/tiny.safetensors"),
            read("fixtures/golden/bert/tiny/model.safetensors"),
        ],
        dictionary: [
            &b"\"data_offsets\":[0,18446744073709551615]"[..],
            b"\"shape\":[18446744073709551615]",
            b"\"shape\":[4611686018427387904,4]",
            b"\"dtype\":\"U8\"",
            b"\"dtype\":\"BF16\"",
            b"\"dtype\":\"X9\"",
            b"\xff\xff\xff\xff\xff\xff\xff\xff",
        ]
        .iter()
        .map(|b| b.to_vec())
        .collect(),
        structured: None,
        run: safetensors,
    });
}
