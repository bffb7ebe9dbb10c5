//! The figures analytics compute, as plain values: what the service returns, GraphQL shows
//! and the memo's text reads.

use super::rating::rate;

/// A count under a key with a Russian label.
#[derive(Debug, Clone, PartialEq)]
pub struct CountBy {
    pub key: String,
    pub label: String,
    pub count: i64,
}

/// Summary KPIs of a period.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub total: i64,
    pub by_channel: Vec<CountBy>,
    pub by_kind: Vec<CountBy>,
    pub by_status: Vec<CountBy>,
    pub answered: i64,
    pub answered_on_time: i64,
    pub overdue_now: i64,
    pub due_soon_now: i64,
    pub median_response_hours: Option<f64>,
    pub satisfied: i64,
    pub rated: i64,
    pub full: i64,
    pub assessed: i64,
    pub reopened: i64,
}

impl Summary {
    /// answeredOnTime / answered.
    pub fn on_time_rate(&self) -> Option<f64> {
        rate(self.answered_on_time, self.answered)
    }
    /// satisfied / rated.
    pub fn satisfied_rate(&self) -> Option<f64> {
        rate(self.satisfied, self.rated)
    }
    /// FULL / assessed.
    pub fn full_answer_rate(&self) -> Option<f64> {
        rate(self.full, self.assessed)
    }
    /// reopened at least once / total.
    pub fn reopened_rate(&self) -> Option<f64> {
        rate(self.reopened, self.total)
    }
}

/// Growth of one group over its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowthItem {
    pub key: String,
    pub label: String,
    pub count: i64,
    pub baseline: f64,
    pub growth: f64,
    pub significant: bool,
    pub drivers: Vec<CountBy>,
}

/// Something shown by its name (a recipient in the rating).
pub trait Named {
    /// The name as people read it.
    fn name(&self) -> &str;
}

impl Named for String {
    fn name(&self) -> &str {
        self
    }
}

/// One recipient's line of the rating. `R` is the recipient as the caller holds it: the
/// service its stored row, a unit test just a name.
#[derive(Debug, Clone, PartialEq)]
pub struct RatingRow<R> {
    pub recipient: R,
    pub rank: Option<i32>,
    pub total: i64,
    pub on_time_rate: Option<f64>,
    pub full_answer_rate: Option<f64>,
    pub satisfied_rate: Option<f64>,
    pub median_response_hours: Option<f64>,
    pub score: Option<f64>,
    pub enough_data: bool,
}
