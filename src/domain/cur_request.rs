//! Requests from the regional centre (запросы ЦУР, decree 3.2г): what is asked, by when and
//! by whom, and the materials sent in answer.
//!
//! | action | allowed from | to |
//! |---|---|---|
//! | take into work | NEW | IN_WORK |
//! | answer (at least one material attached) | NEW, IN_WORK | ANSWERED |
//! | cancel | NEW, IN_WORK | CANCELLED |
//! | add a material | NEW, IN_WORK | unchanged |
//!
//! A request is overdue while it is open (NEW, IN_WORK) after its due date (local), and
//! stays marked as answered late when the answer came after it.

use chrono::NaiveDate;

use super::access::string_enum;

string_enum!(
    /// Where a request of the regional centre is.
    CurRequestStatus {
        /// Received, nobody works on it yet.
        New => "NEW",
        InWork => "IN_WORK",
        /// The materials were sent.
        Answered => "ANSWERED",
        Cancelled => "CANCELLED",
    }
);

string_enum!(
    /// What a material sent to the regional centre is.
    CurMaterialKind {
        /// A stored weekly memo (its DOCX).
        Memo => "MEMO",
        /// A roadmap (its DOCX as of the download).
        Roadmap => "ROADMAP",
        /// A written answer.
        Text => "TEXT",
        /// A stored system report (ПОС, «Инцидент менеджмент»; its DOCX as generated).
        Report => "REPORT",
    }
);

impl CurRequestStatus {
    /// Still waiting for an answer.
    pub fn is_open(self) -> bool {
        matches!(self, Self::New | Self::InWork)
    }
}

/// The status after moving a request from `from` to `to`, or why not. `materials` is how many
/// materials the request has.
pub fn transition(from: CurRequestStatus, to: CurRequestStatus, materials: usize) -> Result<(), &'static str> {
    use CurRequestStatus::{Answered, Cancelled, InWork, New};
    match (from, to) {
        (New, InWork) => Ok(()),
        (New | InWork, Answered) if materials == 0 => Err("attach at least one material before answering"),
        (New | InWork, Answered | Cancelled) => Ok(()),
        _ => Err("this change of status is not allowed"),
    }
}

/// Days past the due date: for an open request, until `today`; for an answered one, until
/// the day of the answer. `None` when not late (or cancelled).
pub fn days_late(
    status: CurRequestStatus,
    due: NaiveDate,
    answered_on: Option<NaiveDate>,
    today: NaiveDate,
) -> Option<i64> {
    let end = match status {
        CurRequestStatus::New | CurRequestStatus::InWork => today,
        CurRequestStatus::Answered => answered_on?,
        CurRequestStatus::Cancelled => return None,
    };
    let days = (end - due).num_days();
    (days > 0).then_some(days)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::CurRequestStatus::{Answered, Cancelled, InWork, New};
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_workflow() {
        assert_eq!(transition(New, InWork, 0), Ok(()));
        assert!(transition(New, Answered, 0).is_err(), "no answer without a material");
        assert_eq!(transition(InWork, Answered, 1), Ok(()));
        assert_eq!(transition(New, Cancelled, 0), Ok(()));
        for from in [Answered, Cancelled] {
            for to in CurRequestStatus::ALL {
                assert!(transition(from, *to, 3).is_err(), "{from} is final");
            }
        }
        assert!(transition(InWork, New, 0).is_err());
        assert!(transition(InWork, InWork, 0).is_err());
    }

    #[test]
    fn lateness_counts_to_today_while_open_and_to_the_answer_after() {
        let due = d("2026-12-10");
        assert_eq!(days_late(New, due, None, d("2026-12-10")), None, "the due day itself is in time");
        assert_eq!(days_late(InWork, due, None, d("2026-12-13")), Some(3));
        assert_eq!(days_late(Answered, due, Some(d("2026-12-11")), d("2026-12-20")), Some(1));
        assert_eq!(days_late(Answered, due, Some(d("2026-12-09")), d("2026-12-20")), None);
        assert_eq!(days_late(Cancelled, due, None, d("2026-12-20")), None);
    }
}
