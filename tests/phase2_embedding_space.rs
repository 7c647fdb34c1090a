//! The joint embedding space against NumPy goldens, and its invariants as properties.
//!
//! Spec: spec/phase2-embedding-space.md.

use approx::assert_relative_eq;
use proptest::prelude::*;
use seje::phase2::embedding_space::{
    l2_normalize, matrix_to_tensor, pairwise_distance_exact, pairwise_distance_loss_form,
    tensor_to_matrix,
};
use tch::{Kind, Tensor};

#[derive(serde::Deserialize)]
struct Golden {
    x: Vec<Vec<f64>>,
    y: Vec<Vec<f64>>,
    x_normalized: Vec<Vec<f64>>,
    y_normalized: Vec<Vec<f64>>,
    distance_exact: Vec<Vec<f64>>,
    distance_loss: Vec<Vec<f64>>,
}

fn golden() -> Golden {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/golden/embedding_space/golden.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("golden.json"))
        .expect("valid golden")
}

fn assert_matrix_eq(got: &Tensor, want: &[Vec<f64>], eps: f64) {
    let got = tensor_to_matrix(got).unwrap();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "row {i}");
        for (j, (g, w)) in g.iter().zip(w).enumerate() {
            assert!(
                (g - w).abs() <= eps,
                "[{i}][{j}]: got {g}, want {w} (eps {eps})"
            );
        }
    }
}

// Python: xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
#[test]
fn golden_normalisation_matches_numpy() {
    let g = golden();
    let x = matrix_to_tensor(&g.x, Kind::Float).unwrap();
    let y = matrix_to_tensor(&g.y, Kind::Float).unwrap();
    assert_matrix_eq(&l2_normalize(&x).unwrap(), &g.x_normalized, 1e-6);
    assert_matrix_eq(&l2_normalize(&y).unwrap(), &g.y_normalized, 1e-6);
}

// Python: np.linalg.norm(xn[:, None] - yn[None], axis=2) and the expanded form with a 1e-12 floor.
#[test]
fn golden_distances_match_numpy() {
    let g = golden();
    let xn = matrix_to_tensor(&g.x_normalized, Kind::Float).unwrap();
    let yn = matrix_to_tensor(&g.y_normalized, Kind::Float).unwrap();
    assert_matrix_eq(
        &pairwise_distance_exact(&xn, &yn).unwrap(),
        &g.distance_exact,
        1e-6,
    );
    // float32 cancellation in ‖x‖² + ‖y‖² − 2x·y costs a few more ulps than the direct form.
    assert_matrix_eq(
        &pairwise_distance_loss_form(&xn, &yn).unwrap(),
        &g.distance_loss,
        1e-5,
    );
}

/// Matrices with `n` rows of width `d`, entries in [-10, 10].
fn matrix(n: usize, d: usize) -> impl Strategy<Value = Vec<Vec<f64>>> {
    prop::collection::vec(prop::collection::vec(-10.0f64..10.0, d), n)
}

fn pair() -> impl Strategy<Value = (Vec<Vec<f64>>, Vec<Vec<f64>>)> {
    (1usize..6, 1usize..6, 1usize..9).prop_flat_map(|(n, m, d)| (matrix(n, d), matrix(m, d)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn normalised_rows_have_unit_length_unless_zero(x in matrix(4, 7)) {
        let t = matrix_to_tensor(&x, Kind::Double).unwrap();
        let n = l2_normalize(&t).unwrap();
        for (row, out) in x.iter().zip(tensor_to_matrix(&n).unwrap()) {
            let len_in = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            let len_out = out.iter().map(|v| v * v).sum::<f64>().sqrt();
            if len_in > 1e-9 {
                assert_relative_eq!(len_out, 1.0, epsilon = 1e-12);
            } else {
                prop_assert!(len_out <= 1.0);
            }
        }
    }

    #[test]
    fn normalising_twice_changes_nothing(x in matrix(3, 5)) {
        let t = matrix_to_tensor(&x, Kind::Double).unwrap();
        let once = l2_normalize(&t).unwrap();
        let twice = l2_normalize(&once).unwrap();
        prop_assert!(once.allclose(&twice, 1e-12, 1e-12, false));
    }

    #[test]
    fn exact_distance_is_a_metric((x, y) in pair()) {
        let xt = matrix_to_tensor(&x, Kind::Double).unwrap();
        let yt = matrix_to_tensor(&y, Kind::Double).unwrap();
        let dxy = tensor_to_matrix(&pairwise_distance_exact(&xt, &yt).unwrap()).unwrap();
        let dyx = tensor_to_matrix(&pairwise_distance_exact(&yt, &xt).unwrap()).unwrap();
        let dxx = tensor_to_matrix(&pairwise_distance_exact(&xt, &xt).unwrap()).unwrap();
        for i in 0..x.len() {
            prop_assert_eq!(dxx[i][i], 0.0);
            for j in 0..y.len() {
                prop_assert!(dxy[i][j] >= 0.0);
                assert_relative_eq!(dxy[i][j], dyx[j][i], epsilon = 1e-12);
                // triangle inequality through x_0
                prop_assert!(dxy[i][j] <= dxx[i][0] + dxy[0][j] + 1e-9);
            }
        }
    }

    #[test]
    fn loss_form_equals_exact_form_away_from_zero((x, y) in pair()) {
        let xt = matrix_to_tensor(&x, Kind::Double).unwrap();
        let yt = matrix_to_tensor(&y, Kind::Double).unwrap();
        let exact = tensor_to_matrix(&pairwise_distance_exact(&xt, &yt).unwrap()).unwrap();
        let loss = tensor_to_matrix(&pairwise_distance_loss_form(&xt, &yt).unwrap()).unwrap();
        for (e, l) in exact.iter().flatten().zip(loss.iter().flatten()) {
            prop_assert!(*l >= 1e-6 - 1e-18, "the floor keeps the loss form at or above 1e-6");
            if *e > 1e-3 {
                assert_relative_eq!(*e, *l, max_relative = 1e-9);
            }
        }
    }

    #[test]
    fn on_the_sphere_squared_distance_is_two_minus_twice_the_cosine((x, y) in pair()) {
        let xn = l2_normalize(&matrix_to_tensor(&x, Kind::Double).unwrap()).unwrap();
        let yn = l2_normalize(&matrix_to_tensor(&y, Kind::Double).unwrap()).unwrap();
        let d = pairwise_distance_exact(&xn, &yn).unwrap();
        let cos = xn.matmul(&yn.transpose(0, 1));
        let rhs = (cos * -2.0 + 2.0).clamp_min(0.0);
        prop_assert!(d.pow_tensor_scalar(2).allclose(&rhs, 1e-9, 1e-9, false));
    }
}
