//! Roadmaps (дорожные карты): the workflow, measure progress and the effect on appeals.
//!
//! | action | allowed from | to |
//! |---|---|---|
//! | edit (roadmap and measures) | DRAFT, RETURNED | unchanged |
//! | submit | DRAFT, RETURNED | SUBMITTED |
//! | approve | SUBMITTED | APPROVED |
//! | return (a new round: the plan may change again) | SUBMITTED, APPROVED, IN_PROGRESS | RETURNED |
//! | start | APPROVED | IN_PROGRESS |
//! | complete | IN_PROGRESS | COMPLETED |
//! | cancel | DRAFT, SUBMITTED, RETURNED, APPROVED, IN_PROGRESS | CANCELLED |
//! | progress a measure | APPROVED, IN_PROGRESS | unchanged |

use chrono::{DateTime, NaiveDate, Utc};

use super::access::string_enum;

typed_id!(
    /// The id of a roadmap.
    RoadmapId
);
typed_id!(
    /// The id of a measure of a roadmap.
    MeasureId
);

string_enum!(
    /// Where a roadmap is in its workflow.
    RoadmapStatus {
        Draft => "DRAFT",
        /// Waiting for the curator's decision.
        Submitted => "SUBMITTED",
        Approved => "APPROVED",
        /// Sent back by the curator with a comment; edited and submitted again.
        Returned => "RETURNED",
        InProgress => "IN_PROGRESS",
        Completed => "COMPLETED",
        Cancelled => "CANCELLED",
    }
);

string_enum!(
    /// Where one measure (мероприятие) is.
    MeasureStatus {
        Planned => "PLANNED",
        InProgress => "IN_PROGRESS",
        Done => "DONE",
        Cancelled => "CANCELLED",
    }
);

/// What can be done to a roadmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoadmapAction {
    /// Change the title, problem, topic, territory or the measures' content.
    Edit,
    Submit,
    Approve,
    Return,
    Start,
    Complete,
    Cancel,
    /// Move a measure's status forward (the plan itself is frozen).
    ProgressMeasure,
}

impl RoadmapAction {
    /// Every action.
    pub const ALL: &'static [Self] = &[
        Self::Edit,
        Self::Submit,
        Self::Approve,
        Self::Return,
        Self::Start,
        Self::Complete,
        Self::Cancel,
        Self::ProgressMeasure,
    ];

    /// The mutation's name, used in the audit trail.
    pub fn name(self) -> &'static str {
        match self {
            Self::Edit => "updateRoadmap",
            Self::Submit => "submitRoadmap",
            Self::Approve => "approveRoadmap",
            Self::Return => "returnRoadmap",
            Self::Start => "startRoadmap",
            Self::Complete => "completeRoadmap",
            Self::Cancel => "cancelRoadmap",
            Self::ProgressMeasure => "updateMeasure",
        }
    }
}

/// The status after `action`, or `None` when it is not allowed from `from`.
pub fn transition(from: RoadmapStatus, action: RoadmapAction) -> Option<RoadmapStatus> {
    use RoadmapAction as A;
    use RoadmapStatus as S;
    Some(match (action, from) {
        (A::Edit, S::Draft | S::Returned) | (A::ProgressMeasure, S::Approved | S::InProgress) => from,
        (A::Submit, S::Draft | S::Returned) => S::Submitted,
        (A::Approve, S::Submitted) => S::Approved,
        (A::Return, S::Submitted | S::Approved | S::InProgress) => S::Returned,
        (A::Start, S::Approved) => S::InProgress,
        (A::Complete, S::InProgress) => S::Completed,
        (A::Cancel, S::Draft | S::Submitted | S::Returned | S::Approved | S::InProgress) => S::Cancelled,
        _ => return None,
    })
}

/// Whether a measure may move from `from` to `to`: forward only, never out of DONE or CANCELLED.
pub fn measure_step_allowed(from: MeasureStatus, to: MeasureStatus) -> bool {
    use MeasureStatus as M;
    matches!((from, to), (M::Planned, M::InProgress | M::Done | M::Cancelled) | (M::InProgress, M::Done | M::Cancelled))
}

/// A measure is overdue when it is neither done nor cancelled and its due date is before today (local).
pub fn measure_overdue(status: MeasureStatus, due: NaiveDate, today: NaiveDate) -> bool {
    !matches!(status, MeasureStatus::Done | MeasureStatus::Cancelled) && due < today
}

/// Share of measures done among those not cancelled; 0 when there are none.
pub fn progress(statuses: &[MeasureStatus]) -> f64 {
    let counted = statuses.iter().filter(|s| **s != MeasureStatus::Cancelled).count();
    let done = statuses.iter().filter(|s| **s == MeasureStatus::Done).count();
    if counted == 0 { 0.0 } else { done as f64 / counted as f64 }
}

/// The average length of a month in days (365.25 / 12), for fractional months elapsed.
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// Appeals per month before the approval versus since.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effect {
    pub baseline_per_month: f64,
    pub current_per_month: f64,
    /// `current / baseline − 1`; `None` when the baseline is zero.
    pub change: Option<f64>,
}

/// Computes the effect from the counts.
///
/// `baseline_count` appeals fell in the `baseline_months` before the approval, `current_count`
/// since the approval. The time since approval counts in fractional months of
/// [`DAYS_PER_MONTH`] days, but at least one month: otherwise three appeals on the day after
/// approval would read as ninety a month.
pub fn effect(
    baseline_count: u64,
    baseline_months: u32,
    current_count: u64,
    approved_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Effect {
    let baseline_per_month = baseline_count as f64 / f64::from(baseline_months.max(1));
    let elapsed_days = (now - approved_at).num_seconds() as f64 / 86_400.0;
    let months = (elapsed_days / DAYS_PER_MONTH).max(1.0);
    let current_per_month = current_count as f64 / months;
    let change = (baseline_per_month > 0.0).then(|| current_per_month / baseline_per_month - 1.0);
    Effect { baseline_per_month, current_per_month, change }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use MeasureStatus as M;
    use RoadmapAction as A;
    use RoadmapStatus as S;

    /// The allowed (action, from) pairs written out independently of `transition`.
    fn expected(action: RoadmapAction) -> &'static [RoadmapStatus] {
        match action {
            A::Edit | A::Submit => &[S::Draft, S::Returned],
            A::Approve => &[S::Submitted],
            A::Return => &[S::Submitted, S::Approved, S::InProgress],
            A::Start => &[S::Approved],
            A::Complete => &[S::InProgress],
            A::Cancel => &[S::Draft, S::Submitted, S::Returned, S::Approved, S::InProgress],
            A::ProgressMeasure => &[S::Approved, S::InProgress],
        }
    }

    #[test]
    fn every_pair_of_status_and_action() {
        for action in A::ALL {
            for status in S::ALL {
                let allowed = expected(*action).contains(status);
                assert_eq!(transition(*status, *action).is_some(), allowed, "{action:?} from {status:?}");
            }
        }
    }

    #[test]
    fn targets() {
        assert_eq!(transition(S::Draft, A::Submit), Some(S::Submitted));
        assert_eq!(transition(S::Submitted, A::Approve), Some(S::Approved));
        assert_eq!(transition(S::Submitted, A::Return), Some(S::Returned));
        assert_eq!(transition(S::InProgress, A::Return), Some(S::Returned));
        assert_eq!(transition(S::Returned, A::Submit), Some(S::Submitted));
        assert_eq!(transition(S::Approved, A::Start), Some(S::InProgress));
        assert_eq!(transition(S::InProgress, A::Complete), Some(S::Completed));
        assert_eq!(transition(S::Approved, A::Cancel), Some(S::Cancelled));
        assert_eq!(transition(S::Completed, A::Cancel), None);
    }

    #[test]
    fn measures_move_forward_only() {
        let table = [
            (M::Planned, M::InProgress, true),
            (M::Planned, M::Done, true),
            (M::Planned, M::Cancelled, true),
            (M::InProgress, M::Done, true),
            (M::InProgress, M::Cancelled, true),
            (M::InProgress, M::Planned, false),
            (M::Done, M::InProgress, false),
            (M::Done, M::Cancelled, false),
            (M::Cancelled, M::Planned, false),
            (M::Planned, M::Planned, false),
        ];
        for (from, to, ok) in table {
            assert_eq!(measure_step_allowed(from, to), ok, "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn overdue_and_progress() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(measure_overdue(M::Planned, d("2026-01-01"), d("2026-01-02")));
        assert!(!measure_overdue(M::Planned, d("2026-01-02"), d("2026-01-02")));
        assert!(!measure_overdue(M::Done, d("2026-01-01"), d("2026-01-02")));
        assert!(!measure_overdue(M::Cancelled, d("2026-01-01"), d("2026-01-02")));
        assert!((progress(&[]) - 0.0).abs() < f64::EPSILON);
        assert!((progress(&[M::Cancelled]) - 0.0).abs() < f64::EPSILON);
        assert!((progress(&[M::Done, M::Planned, M::Cancelled]) - 0.5).abs() < 1e-9);
        assert!((progress(&[M::Done, M::Done]) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn effect_numbers() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let approved = at("2026-01-01T00:00:00Z");
        // 12 before over 6 months = 2 a month; 3 in the first week counts as one month.
        let e = effect(12, 6, 3, approved, at("2026-01-08T00:00:00Z"));
        assert!((e.baseline_per_month - 2.0).abs() < 1e-9);
        assert!((e.current_per_month - 3.0).abs() < 1e-9);
        assert!((e.change.unwrap() - 0.5).abs() < 1e-9);
        // Two months of 30.4375 days later, 2 appeals = 1 a month, −50 %.
        let later = approved + chrono::Duration::seconds((2.0 * DAYS_PER_MONTH * 86_400.0) as i64);
        let e = effect(12, 6, 2, approved, later);
        assert!((e.current_per_month - 1.0).abs() < 1e-6);
        assert!((e.change.unwrap() + 0.5).abs() < 1e-6);
        assert_eq!(effect(0, 6, 5, approved, later).change, None);
    }
}
