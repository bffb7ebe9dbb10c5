//! Small statistics for growth analytics: is this week's number of appeals
//! on a topic/district an unusual rise over its baseline, and which
//! sub-groups drive the rise.
//!
//! Appeal counts per period are modelled as Poisson with the baseline mean as
//! rate. Tail probabilities are summed term by term in relative form starting
//! from a log-space probability mass, always on the tail that is the smaller
//! one, so they stay accurate for rates and counts up to about 10^6 (and
//! beyond, at a cost of O(√λ) steps) without overflow or cancellation.

use std::collections::BTreeMap;
use std::f64::consts::PI;

/// Terms smaller than this fraction of the running sum end a tail summation.
const TAIL_EPS: f64 = 1e-17;

/// `ln n! − (n ln n − n + ½ ln 2πn)`: the Stirling-series remainder.
fn stirling_correction(n: u64) -> f64 {
    if n < 20 {
        let ln_fact: f64 = (2..=n).map(|i| (i as f64).ln()).sum();
        let x = n as f64;
        return ln_fact - (x * x.ln() - x + 0.5 * (2.0 * PI * x).ln());
    }
    let x = n as f64;
    let x2 = x * x;
    (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - 1.0 / (1680.0 * x2)) / x2) / x2) / x
}

/// `ln P(X = j)` for `X ~ Poisson(λ)`, `λ > 0`, written as
/// `−(j ln(j/λ) + λ − j) − ½ ln 2πj − stirling(j)` so that the big terms
/// cancel analytically rather than in floating point when `j ≈ λ`.
fn ln_pmf(j: u64, lambda: f64) -> f64 {
    if j == 0 {
        return -lambda;
    }
    let x = j as f64;
    let deviance = x * ((x - lambda) / lambda).ln_1p() + lambda - x;
    -deviance - 0.5 * (2.0 * PI * x).ln() - stirling_correction(j)
}

/// `P(X ≥ k)` for `k > λ`, summing upwards from `k`.
fn upper_tail(k: u64, lambda: f64) -> f64 {
    let (mut sum, mut term, mut j) = (1.0_f64, 1.0_f64, k);
    loop {
        j += 1;
        term *= lambda / j as f64;
        sum += term;
        if term < sum * TAIL_EPS {
            break;
        }
    }
    (ln_pmf(k, lambda) + sum.ln()).exp().min(1.0)
}

/// `P(X ≤ k)` for `k < λ`, summing downwards from `k`.
fn lower_tail(k: u64, lambda: f64) -> f64 {
    let (mut sum, mut term) = (1.0_f64, 1.0_f64);
    for j in (1..=k).rev() {
        term *= j as f64 / lambda;
        sum += term;
        if term < sum * TAIL_EPS {
            break;
        }
    }
    (ln_pmf(k, lambda) + sum.ln()).exp().min(1.0)
}

fn valid_rate(lambda: f64) -> bool {
    lambda.is_finite() && lambda >= 0.0
}

/// `P(X ≤ k)` for `X ~ Poisson(lambda)`. NaN if `lambda` is negative or not
/// finite.
pub fn poisson_cdf(k: u64, lambda: f64) -> f64 {
    if !valid_rate(lambda) {
        return f64::NAN;
    }
    if lambda == 0.0 {
        return 1.0;
    }
    if (k as f64) < lambda { lower_tail(k, lambda) } else { (1.0 - upper_tail(k + 1, lambda)).max(0.0) }
}

/// `P(X ≥ k)` for `X ~ Poisson(lambda)` (survival function including `k`,
/// the p-value of a one-sided test for an increase). `P(X ≥ 0) = 1`. NaN if
/// `lambda` is negative or not finite. Results below ~1e-308 underflow to 0.
pub fn poisson_sf(k: u64, lambda: f64) -> f64 {
    if !valid_rate(lambda) {
        return f64::NAN;
    }
    if k == 0 {
        return 1.0;
    }
    if lambda == 0.0 {
        return 0.0;
    }
    if (k as f64) > lambda { upper_tail(k, lambda) } else { (1.0 - lower_tail(k - 1, lambda)).max(0.0) }
}

/// Whether `count` appeals in the current period are a significant rise over
/// a Poisson baseline with mean `baseline_mean` (one-sided test
/// `P(X ≥ count) < alpha`), and at least `min_count` so that a jump from 0
/// to 2 is not an alert. A baseline of 0 (or negative/NaN, i.e. no history)
/// makes any `count ≥ min_count` significant; an infinite one, none.
pub fn growth_significant(count: u64, baseline_mean: f64, alpha: f64, min_count: u64) -> bool {
    if count < min_count {
        return false;
    }
    if baseline_mean.is_nan() || baseline_mean <= 0.0 {
        return true;
    }
    if baseline_mean.is_infinite() {
        return false;
    }
    poisson_sf(count, baseline_mean) < alpha
}

/// Median of `values` (reorders the slice; O(n)). Mean of the two middle
/// values for an even length, `None` when empty. NaNs are ordered by
/// `f64::total_cmp` (after +∞ when positive); filter them out beforehand.
pub fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (left, upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return Some(upper);
    }
    let lower = left.iter().copied().max_by(f64::total_cmp).unwrap_or(upper);
    Some(lower / 2.0 + upper / 2.0)
}

/// The sub-groups (districts, topics, …) that drive an increase: for each
/// key, `delta = current − previous` rounded to an integer (missing keys
/// count as 0, repeated keys are summed), keeping only positive deltas,
/// sorted by delta descending then key ascending, at most `top` of them.
/// `previous` is typically a per-period baseline mean, hence `f64`.
pub fn drivers(current: &[(String, i64)], previous: &[(String, f64)], top: usize) -> Vec<(String, i64)> {
    let mut by_key: BTreeMap<&str, (i64, f64)> = BTreeMap::new();
    for (key, n) in current {
        by_key.entry(key).or_default().0 += n;
    }
    for (key, n) in previous {
        by_key.entry(key).or_default().1 += n;
    }
    let mut out: Vec<(String, i64)> = by_key
        .into_iter()
        .map(|(key, (cur, prev))| (key.to_owned(), (cur as f64 - prev).round() as i64))
        .filter(|(_, delta)| *delta > 0)
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.truncate(top);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(f64::MIN_POSITIVE)
    }

    /// Direct summation of the PMF, valid for small λ.
    fn naive_cdf(k: u64, lambda: f64) -> f64 {
        let mut term = (-lambda).exp();
        let mut sum = term;
        for j in 1..=k {
            term *= lambda / j as f64;
            sum += term;
        }
        sum
    }

    #[test]
    fn hand_computed_values() {
        // 1 − Σ_{j<10} e^{-3} 3^j / j! = 0.0011024881301…
        assert!(close(poisson_sf(10, 3.0), 0.001_102_488_130_115_4, 1e-10));
        assert!((poisson_sf(0, 3.0) - 1.0).abs() < 1e-15);
        assert!((poisson_sf(0, 1e6) - 1.0).abs() < 1e-15);
        // P(X ≤ 0) = e^{-λ}; P(X ≥ 1) = 1 − e^{-λ}.
        assert!(close(poisson_cdf(0, 2.0), (-2.0_f64).exp(), 1e-13));
        assert!(close(poisson_sf(1, 2.0), 1.0 - (-2.0_f64).exp(), 1e-13));
        // P(X ≤ 2 | λ = 1) = e^{-1}(1 + 1 + 1/2).
        assert!(close(poisson_cdf(2, 1.0), 2.5 * (-1.0_f64).exp(), 1e-13));
    }

    #[test]
    fn matches_naive_summation_for_small_rates() {
        for &lambda in &[0.1, 0.5, 1.0, 3.0, 7.5, 20.0, 45.0] {
            for k in 0..80_u64 {
                let cdf = naive_cdf(k, lambda);
                assert!(close(poisson_cdf(k, lambda), cdf, 1e-11), "cdf {k} {lambda}");
                let sf = poisson_sf(k, lambda);
                let expected = if k == 0 { 1.0 } else { 1.0 - naive_cdf(k - 1, lambda) };
                if expected > 1e-6 {
                    assert!(close(sf, expected, 1e-9), "sf {k} {lambda}: {sf} vs {expected}");
                }
                assert!(k == 0 || (poisson_cdf(k - 1, lambda) + sf - 1.0).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn large_rates_are_stable() {
        let lambda = 1e6;
        // Near the mean the distribution is close to N(λ, λ).
        let at_mean = poisson_sf(1_000_000, lambda);
        assert!((at_mean - 0.5).abs() < 0.01, "{at_mean}");
        // Reference values from mpmath's regularised incomplete gamma.
        assert!(close(at_mean, 0.500_132_980_760_872_6, 1e-9), "{at_mean}");
        let three_sigma = poisson_sf(1_003_000, lambda);
        assert!(close(three_sigma, 1.358_035_272_683_128e-3, 1e-7), "{three_sigma}");
        let three_below = poisson_cdf(997_000, lambda);
        assert!(close(three_below, 1.346_203_718_241_105e-3, 1e-7), "{three_below}");
        let far = poisson_sf(1_010_000, lambda);
        assert!(close(far, 9.039_206_398_099_658e-24, 1e-7), "{far}");
        assert!(poisson_sf(1_010_001, lambda) < far);
        assert!(poisson_sf(2_000_000, lambda) < 1e-300);
        assert!((poisson_cdf(2_000_000, lambda) - 1.0).abs() < 1e-15);
        assert!((poisson_sf(10, lambda) - 1.0).abs() < 1e-15);
        // Large k with small λ: deep tail without underflow to 0.
        let v = poisson_sf(150, 1.0);
        assert!(close(v, 6.481_830_476_248_712e-264, 1e-9), "{v}");
        assert!(poisson_sf(1000, 1.0) >= 0.0);
    }

    #[test]
    fn edge_rates() {
        assert!((poisson_cdf(0, 0.0) - 1.0).abs() < 1e-15);
        assert!(poisson_sf(1, 0.0).abs() < 1e-15);
        assert!((poisson_sf(0, 0.0) - 1.0).abs() < 1e-15);
        assert!(poisson_sf(3, -1.0).is_nan());
        assert!(poisson_cdf(3, f64::NAN).is_nan());
        assert!(poisson_cdf(3, f64::INFINITY).is_nan());
    }

    #[test]
    fn growth_test() {
        // P(X ≥ 10 | 3) ≈ 0.0011.
        assert!(growth_significant(10, 3.0, 0.01, 5));
        assert!(!growth_significant(10, 3.0, 0.001, 5));
        assert!(!growth_significant(10, 3.0, 0.01, 11));
        assert!(!growth_significant(4, 3.0, 0.05, 1));
        assert!(growth_significant(5, 0.0, 0.05, 5));
        assert!(!growth_significant(4, 0.0, 0.05, 5));
        assert!(!growth_significant(100, f64::INFINITY, 0.05, 1));
        assert!(growth_significant(1_005_000, 1e6, 1e-3, 10));
        assert!(!growth_significant(1_001_000, 1e6, 1e-3, 10));
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [4.0]), Some(4.0));
        assert_eq!(median(&mut [5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut [7.0, 7.0, 1.0, 9.0, 9.0, 2.0]), Some(7.0));
        assert_eq!(median(&mut [-1.0, 1.0]), Some(0.0));
    }

    #[test]
    fn drivers_of_growth() {
        let s = |k: &str| k.to_owned();
        let current =
            vec![(s("Центральный"), 30), (s("Северный"), 12), (s("Южный"), 8), (s("Западный"), 5), (s("Восточный"), 9)];
        let previous = vec![
            (s("Центральный"), 10.0),
            (s("Северный"), 4.0),
            (s("Южный"), 10.0),
            (s("Восточный"), 1.0),
            (s("Старый"), 3.0),
        ];
        assert_eq!(
            drivers(&current, &previous, 10),
            vec![(s("Центральный"), 20), (s("Восточный"), 8), (s("Северный"), 8), (s("Западный"), 5),]
        );
        assert_eq!(drivers(&current, &previous, 1), vec![(s("Центральный"), 20)]);
        assert!(drivers(&current, &previous, 0).is_empty());
        // Repeated keys are summed; fractional baselines are rounded.
        let dup = vec![(s("a"), 2), (s("a"), 3)];
        assert_eq!(drivers(&dup, &[(s("a"), 1.6)], 5), vec![(s("a"), 3)]);
    }
}
