//! Small helpers of the SVG charts the tables draw (`tables`: MedR against the test-set size;
//! `ablations`: the ablations over seeds): axis steps and tick labels.
//!
//! Spec: spec/reproduce.md (section "Tables").

/// 1, 2 or 5 times a power of ten, at least `x`.
pub fn nice_step(x: f64) -> f64 {
    let p = 10f64.powf(x.max(1e-9).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= x)
        .unwrap_or(10.0 * p)
}

pub fn trim_number(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(1.0), 1.0);
        assert_eq!(nice_step(11.0), 20.0);
        assert_eq!(nice_step(36.0), 50.0);
        assert_eq!(trim_number(2.50), "2.5");
        assert_eq!(trim_number(20.0), "20");
    }
}
