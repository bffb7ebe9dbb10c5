//! The recipient rating (рейтингование): a weighted score of timeliness, completeness and
//! satisfaction, with missing components re-weighted so that a recipient nobody has rated
//! yet is scored on what is known.

use serde::Deserialize;

/// Weights of the score's components; they need not sum to 1 (they are normalised).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RatingWeights {
    /// Share of answers given on time.
    pub timeliness: f64,
    /// Share of assessed answers that were full answers on the merits.
    pub completeness: f64,
    /// Share of rated answers the author was satisfied with.
    pub satisfaction: f64,
}

impl Default for RatingWeights {
    fn default() -> Self {
        Self { timeliness: 0.4, completeness: 0.3, satisfaction: 0.3 }
    }
}

impl RatingWeights {
    /// Whether every weight is finite and non-negative and at least one is positive.
    pub fn is_valid(&self) -> bool {
        let all = [self.timeliness, self.completeness, self.satisfaction];
        all.iter().all(|w| w.is_finite() && *w >= 0.0) && all.iter().any(|w| *w > 0.0)
    }

    /// The score in `0..=1` from the component rates (each in `0..=1`, `None` when unknown):
    /// `Σ wᵢ·xᵢ / Σ wᵢ` over the known components; `None` when none is known.
    pub fn score(&self, timeliness: Option<f64>, completeness: Option<f64>, satisfaction: Option<f64>) -> Option<f64> {
        let parts =
            [(self.timeliness, timeliness), (self.completeness, completeness), (self.satisfaction, satisfaction)];
        let (sum, weight) = parts
            .iter()
            .filter_map(|(w, x)| x.map(|x| (w * x, *w)))
            .fold((0.0, 0.0), |(s, t), (wx, w)| (s + wx, t + w));
        (weight > 0.0).then(|| sum / weight)
    }
}

/// `part / whole`, or `None` when `whole` is zero.
pub fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn full_score_is_the_weighted_mean() {
        let w = RatingWeights::default();
        assert!(close(w.score(Some(1.0), Some(0.5), Some(0.0)), 0.4 + 0.15));
    }

    #[test]
    fn missing_components_are_reweighted() {
        let w = RatingWeights::default();
        // Only timeliness and completeness known: (0.4·1 + 0.3·0.5) / 0.7.
        assert!(close(w.score(Some(1.0), Some(0.5), None), 0.55 / 0.7));
        assert!(close(w.score(None, None, Some(0.25)), 0.25));
        assert_eq!(w.score(None, None, None), None);
        let zero = RatingWeights { timeliness: 0.0, completeness: 1.0, satisfaction: 0.0 };
        assert_eq!(zero.score(Some(1.0), None, None), None);
    }

    #[test]
    fn weights_and_rates() {
        assert!(RatingWeights::default().is_valid());
        assert!(!RatingWeights { timeliness: -1.0, ..RatingWeights::default() }.is_valid());
        assert!(!RatingWeights { timeliness: 0.0, completeness: 0.0, satisfaction: 0.0 }.is_valid());
        assert_eq!(rate(1, 0), None);
        assert!(close(rate(1, 4), 0.25));
    }
}
