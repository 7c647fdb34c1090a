//! The seeded generator against PyTorch's own draws.
//!
//! Spec: spec/runtime.md.

use std::collections::BTreeMap;

#[derive(serde::Deserialize)]
struct Golden {
    draws: BTreeMap<String, Vec<f64>>,
}

// Python (PyTorch 2.11.0): torch.manual_seed(seed); torch.rand(n).tolist()
#[test]
fn golden_seeded_uniform_equals_pytorch_bit_for_bit() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/golden/runtime/golden.json"
    );
    let golden: Golden =
        serde_json::from_str(&std::fs::read_to_string(path).expect("golden.json")).expect("json");
    assert_eq!(golden.draws.len(), 3);
    for (seed, want) in golden.draws {
        let got = seje::runtime::seeded_uniform(seed.parse().expect("seed"), want.len());
        let got: Vec<f64> = got.into_iter().map(f64::from).collect();
        assert_eq!(got, want, "seed {seed}");
    }
}
