//! Analytics over appeals: summary KPIs, the topic × territory heat map, map cells, trends,
//! growth detection, problem points, the recipient rating and the weekly memo.
//!
//! Aggregates only, never personal data. Periods are inclusive ranges of local dates in the
//! municipality's time zone; an appeal belongs to a period by its `received_at`. Duplicates
//! (`duplicate_of_id` set) are left out of problem counts (heat map, map cells, trend, growth,
//! problem points) so that a cluster of repeated appeals counts once; the summary and the
//! rating count them, as they are work the administration did.
//!
//! Every public function takes the caller's principal and checks it itself (`access.rs`):
//! who may read analytics at all, an executor only its own recipient, a person limited to a
//! territory only its subtree, and appeals named only to people who may see them.

mod access;
mod conflicts;
mod growth;
mod map;
mod memo;
mod polls;
mod query;
mod rating;
mod summary;
mod trend;

use crate::domain::appeal::{CategoryId, RecipientId, TerritoryId};
use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::appeal_query::local_midnight;
use crate::domain::access::Channel;
use crate::domain::deadlines::AppealKind;
use crate::error::{AppError, AppResult};

pub use crate::domain::analytics::{CountBy, GrowthItem, Summary};
pub use crate::domain::labels::{channel_label, kind_label, status_label};
pub use crate::domain::memo::{AssignmentLine, MeasureLine, MemoPoint, OverdueGroup, OverdueLine};
pub use conflicts::{ConflictRow, conflicts};
pub use growth::growth;
pub use map::{
    GeoCell, HeatCell, Heatmap, PROBLEM_POINT_RESOLUTION, ProblemPoint, geo_cells, heatmap, heatmap_of, problem_points,
};
pub use memo::{Memo, overdue_appeals, weekly_memo};
pub use polls::{OptionCount as PollOptionCount, PollRow, TerritoryAnswers, TopAnswer, polls};
pub use rating::{RatingRow, recipient_rating, recipient_rating_of};
pub use summary::{summary, summary_of};
pub use trend::{TrendPoint, TrendSeries, bucket_start, buckets, trend};

/// Key of appeals without a category, territory or recipient where results are grouped.
pub const NONE_KEY: &str = "none";
/// Longest period accepted, in days (ten years).
const MAX_PERIOD_DAYS: i64 = 3660;

/// An inclusive range of local dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// Checks the range: `from ≤ to` and at most ten years long.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` on `{path}.to`.
    pub fn new(path: &str, from: NaiveDate, to: NaiveDate) -> AppResult<Self> {
        if from > to {
            return Err(AppError::bad(format!("{path}.to"), "must not be before from"));
        }
        if (to - from).num_days() >= MAX_PERIOD_DAYS {
            return Err(AppError::bad(format!("{path}.to"), "the period may be at most ten years long"));
        }
        Ok(Self { from, to })
    }

    /// Number of days in the period.
    pub fn days(self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The period of the same length `n` lengths earlier (`n = 1`: just before this one).
    #[must_use]
    pub fn back(self, n: i64) -> Self {
        let shift = Duration::days(self.days() * n);
        Self { from: self.from - shift, to: self.to - shift }
    }

    /// `[start, end)` as instants.
    pub fn instants(self, tz: chrono_tz::Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let next = self.to.succ_opt().unwrap_or(self.to);
        (local_midnight(tz, self.from), local_midnight(tz, next))
    }
}

/// Which appeals an analytic counts; every present filter narrows it.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub channel: Vec<Channel>,
    pub kind: Vec<AppealKind>,
    /// A top-level category includes its subcategories.
    pub category_id: Vec<CategoryId>,
    /// A territory includes its whole subtree.
    pub territory_id: Vec<TerritoryId>,
    /// An executor limited to its recipient may ask only for that one.
    pub recipient_id: Vec<RecipientId>,
}

/// An appeal the caller may see, named in an analytic (a problem point's sample, the memo's
/// overdue list), and whether the caller handles it (and so sees its author's personal data).
#[derive(Debug, Clone, PartialEq)]
pub struct VisibleAppeal {
    /// Read whole, typed at the row boundary.
    pub model: crate::domain::appeal::Appeal,
    pub handles: bool,
}

/// The parts of a summary a caller reads (GraphQL look-ahead); the counts are always there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryParts {
    /// `overdueNow` and `dueSoonNow` (counted from the unresolved appeals).
    pub now: bool,
    /// `medianResponseHours`.
    pub median: bool,
}

impl SummaryParts {
    pub const ALL: Self = Self { now: true, median: true };
}

/// How results are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// By top-level category (a subcategory counts for its parent).
    Category,
    Territory,
    Channel,
    Recipient,
}

/// Trend bucket length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Day,
    /// ISO weeks, Monday first.
    Week,
    Month,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn periods_and_buckets() {
        let p = Period { from: d("2026-11-09"), to: d("2026-11-15") };
        assert_eq!(p.days(), 7);
        assert_eq!(p.back(1), Period { from: d("2026-11-02"), to: d("2026-11-08") });
        assert_eq!(bucket_start(Granularity::Week, d("2026-11-15")), d("2026-11-09"));
        assert_eq!(bucket_start(Granularity::Month, d("2026-11-15")), d("2026-11-01"));
        let m = Period { from: d("2026-11-20"), to: d("2027-01-05") };
        assert_eq!(buckets(Granularity::Month, m), vec![d("2026-11-01"), d("2026-12-01"), d("2027-01-01")]);
        assert_eq!(buckets(Granularity::Week, p), vec![d("2026-11-09")]);
        assert_eq!(buckets(Granularity::Day, p).len(), 7);
        assert!(Period::new("period", d("2026-11-02"), d("2026-11-01")).is_err());
    }
}
