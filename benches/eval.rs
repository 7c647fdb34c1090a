//! Benchmark of the evaluation protocol: 10 subsets × 10K pairs × both directions on 1024-d
//! random embeddings, against a vectorised NumPy implementation of the same protocol and the
//! authors' loop at 1K, all measured in the same run.
//!
//! Spec: spec/eval-protocol.md (speed), spec/benchmarks.md. Run: `cargo bench --bench eval`. The
//! NumPy side is `fixtures/golden/eval/reference.py bench`, run as a subprocess with
//! `SEJE_BENCH_PYTHON` (default `python3`); without NumPy it is skipped and the reason printed.

mod common;

use std::process::Command;
use std::time::Instant;

use seje::eval::{evaluate, Embeddings, EvalConfig, Protocol};

const N: usize = 12_000;
const D: usize = 1024;

/// Deterministic unit vectors from libtorch's generator (seed 1234).
fn random_unit(seed: u64) -> Vec<f32> {
    seje::runtime::seed_everything(seed, None);
    let t = tch::Tensor::randn([N as i64, D as i64], (tch::Kind::Float, tch::Device::Cpu));
    let t = seje::phase2::embedding_space::l2_normalize(&t).expect("a matrix");
    Vec::<f32>::try_from(&t.reshape([-1])).expect("float tensor")
}

fn time_seje(emb: &Embeddings, size: usize, subsets: usize) -> f64 {
    let cfg = EvalConfig {
        protocol: Protocol::Seje,
        sizes: vec![size],
        subsets,
        ..EvalConfig::default()
    };
    let t = Instant::now();
    let r = evaluate(emb, &cfg).expect("evaluation runs");
    let secs = t.elapsed().as_secs_f64();
    let s = &r.sizes[0];
    println!(
        "seje eval {subsets} x {size}: {secs:.2} s (MedR i2r {:.1}, r2i {:.1})",
        s.image_to_recipe.medr, s.recipe_to_image.medr
    );
    secs
}

/// The float32 matrix products alone that 10 subsets × 10K of the Euclidean protocol need, one
/// `[10000, 1024] · [1024, 10000]` product per subset (libtorch's GEMM on its default threads,
/// one product for the whole subset: the fastest way to form the scores), in seconds: the bound
/// an evaluation that must form every score cannot beat.
fn time_gemm(subsets: usize, size: usize) -> f64 {
    seje::runtime::seed_everything(99, None);
    let w = D as i64;
    let a = tch::Tensor::randn([size as i64, w], (tch::Kind::Float, tch::Device::Cpu));
    let b = tch::Tensor::randn([w, size as i64], (tch::Kind::Float, tch::Device::Cpu));
    let _ = a.matmul(&b); // warm-up: threads started, pages of the output mapped once
    let t = Instant::now();
    for _ in 0..subsets {
        let s = a.matmul(&b);
        assert_eq!(s.size(), [size as i64, size as i64]);
    }
    let secs = t.elapsed().as_secs_f64();
    let flop = 2.0 * (subsets * size * size) as f64 * D as f64;
    println!(
        "float32 GEMM alone, {subsets} x [{size}, {w}]·[{w}, {size}]: {secs:.2} s ({:.1} GFLOP/s)",
        flop / secs / 1e9
    );
    secs
}

fn main() {
    // As the `seje` binary does first (spec/runtime.md, Memory).
    let allocator = seje::runtime::keep_freed_memory();
    println!(
        "machine: {} CPU threads for libtorch; libtorch {}; allocator {allocator:?}",
        tch::get_num_threads(),
        seje::runtime::LIBTORCH_VERSION
    );
    let emb = Embeddings::new("bench", (N, D), random_unit(1234), random_unit(4321), None)
        .expect("finite embeddings");
    let dir = std::env::temp_dir().join(format!("seje-bench-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (a, b) = (dir.join("image.npy"), dir.join("recipe.npy"));
    seje::eval::npy::write_npy(&a, N, D, &emb.image).expect("write npy");
    seje::eval::npy::write_npy(&b, N, D, &emb.recipe).expect("write npy");

    let ours_10k = time_seje(&emb, 10_000, 10);
    let ours_1k = time_seje(&emb, 1000, 1);
    let gemm_10k = time_gemm(10, 10_000);
    println!(
        "ratio GEMM alone / seje at 10 x 10K: {:.2}",
        gemm_10k / ours_10k
    );
    common::record(&common::Row {
        bench: "eval",
        what: "evaluation, 10 subsets × 10K pairs × both directions, against the float32 GEMM its \
               scores need (the bound; target: within 1.15×, a ratio of at least 0.87)",
        ours: ours_10k,
        unit: common::Unit::Seconds,
        reference: Some((
            gemm_10k,
            "libtorch's float32 matmul alone, 10 × [10000, 1024]·[1024, 10000]",
        )),
        no_reference: None,
    });

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/golden/eval/reference.py"
    );
    let python = common::python();
    let out = Command::new(&python)
        .args([script, "bench", "--image"])
        .arg(&a)
        .arg("--recipe")
        .arg(&b)
        .args(["--sizes", "10000", "--literal-size", "1000"])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let v: serde_json::Value =
                serde_json::from_slice(&o.stdout).expect("reference.py prints json");
            let numpy = v["numpy_float32_10000"].as_f64().expect("numpy time");
            let literal = v["authors_loop_1x1000"].as_f64().expect("literal time");
            println!("numpy vectorised (float32) 10 x 10000: {numpy:.2} s");
            common::record(&common::Row {
                bench: "eval",
                what: "evaluation, 10 subsets × 10K pairs × both directions, 1024-d random unit vectors",
                ours: ours_10k,
                unit: common::Unit::Seconds,
                reference: Some((numpy, "NumPy float32, vectorised, same protocol")),
                no_reference: None,
            });
            common::record(&common::Row {
                bench: "eval",
                what: "evaluation, 1 subset × 1K pairs, both directions",
                ours: ours_1k,
                unit: common::Unit::Seconds,
                reference: Some((literal, "the authors' loop (test.py logic, Python)")),
                no_reference: None,
            });
            println!("authors' loop 1 x 1000: {literal:.2} s");
            println!("ratio numpy / seje at 10 x 10K: {:.2}", numpy / ours_10k);
            println!(
                "ratio authors' loop / seje at 1 x 1K: {:.0}",
                literal / ours_1k
            );
        }
        Ok(o) => println!(
            "numpy reference skipped: reference.py failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => println!("numpy reference skipped: cannot run {python}: {e}"),
    }
    std::fs::remove_dir_all(&dir).expect("remove temp dir");
}
