//! Meetings with the Head (совещания у Главы, decree 2.2в) and the assignments (поручения) of
//! their minutes: the workflows, who may change an assignment, and its lateness. Pure.
//!
//! | meeting action | allowed from | to |
//! |---|---|---|
//! | edit (time, place, participants, agenda) | PLANNED | PLANNED |
//! | hold | PLANNED | HELD |
//! | cancel | PLANNED | CANCELLED |
//! | record a decision | HELD | HELD |
//!
//! | assignment action | allowed from | to | who |
//! |---|---|---|---|
//! | take into work | ASSIGNED | IN_PROGRESS | curator, Head, executor of the recipient |
//! | report done | ASSIGNED, IN_PROGRESS | DONE | curator, Head, executor of the recipient |
//! | cancel | ASSIGNED, IN_PROGRESS | CANCELLED | curator, Head |
//!
//! An assignment is overdue while open (ASSIGNED, IN_PROGRESS) after its due date (local):
//! like a roadmap measure, the due day itself is in time. It is DUE_SOON from
//! [`DUE_SOON_DAYS`] days before its due date.

use chrono::NaiveDate;

use super::access::{Role, UserPrincipal, string_enum};

string_enum!(
    /// Where a meeting is.
    MeetingStatus {
        Planned => "PLANNED",
        Held => "HELD",
        Cancelled => "CANCELLED",
    }
);

string_enum!(
    /// Where an assignment (поручение) is.
    AssignmentStatus {
        /// Given at the meeting, not yet taken up.
        Assigned => "ASSIGNED",
        InProgress => "IN_PROGRESS",
        Done => "DONE",
        Cancelled => "CANCELLED",
    }
);

string_enum!(
    /// Where an agenda question comes from.
    AgendaKind {
        /// A topic whose appeals grow fastest (analytics growth).
        GrowingTopic => "GROWING_TOPIC",
        /// A roadmap with overdue measures.
        OverdueRoadmap => "OVERDUE_ROADMAP",
        /// An overdue measure of a roadmap.
        OverdueMeasure => "OVERDUE_MEASURE",
        /// A recipient at the bottom of the rating.
        WorstRecipient => "WORST_RECIPIENT",
        /// A place where appeals of one topic cluster (problem point).
        ProblemPoint => "PROBLEM_POINT",
        /// An overdue assignment of an earlier meeting.
        OverdueAssignment => "OVERDUE_ASSIGNMENT",
        /// Put on the agenda by hand.
        Other => "OTHER",
    }
);

/// Days before its due date from which an open assignment is DUE_SOON.
pub const DUE_SOON_DAYS: i64 = 2;

impl AssignmentStatus {
    /// Still to be done.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Assigned | Self::InProgress)
    }
}

/// Whether a meeting may move from `from` to `to`.
pub fn meeting_transition(from: MeetingStatus, to: MeetingStatus) -> Result<(), &'static str> {
    match (from, to) {
        (MeetingStatus::Planned, MeetingStatus::Held | MeetingStatus::Cancelled) => Ok(()),
        _ => Err("this change of status is not allowed"),
    }
}

/// Who changes an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A curator or the Head: any change the workflow allows.
    Chair,
    /// An executor of the assignment's recipient: takes it into work and reports it done.
    Executor,
}

/// The actor `u` is for an assignment to `recipient`, or `None` when it may not change it
/// (nor see it, for an executor of another recipient).
pub fn actor(u: &UserPrincipal, recipient: i64) -> Option<Actor> {
    if u.has_any(&[Role::Curator, Role::Head]) {
        Some(Actor::Chair)
    } else if u.has(Role::Executor) && u.recipient_id == Some(recipient) {
        Some(Actor::Executor)
    } else {
        None
    }
}

/// Whether `actor` may move an assignment from `from` to `to`, or why not.
pub fn assignment_transition(actor: Actor, from: AssignmentStatus, to: AssignmentStatus) -> Result<(), &'static str> {
    use AssignmentStatus::{Assigned, Cancelled, Done, InProgress};
    match (from, to) {
        (Assigned, InProgress) | (Assigned | InProgress, Done) => Ok(()),
        (Assigned | InProgress, Cancelled) if actor == Actor::Chair => Ok(()),
        (Assigned | InProgress, Cancelled) => Err("only a curator or the Head cancels an assignment"),
        _ => Err("this change of status is not allowed"),
    }
}

/// Days past the due date: for an open assignment until `today`, for a done one until the
/// day it was done; `None` when in time or cancelled.
pub fn days_late(
    status: AssignmentStatus,
    due: NaiveDate,
    done_on: Option<NaiveDate>,
    today: NaiveDate,
) -> Option<i64> {
    let end = match status {
        AssignmentStatus::Assigned | AssignmentStatus::InProgress => today,
        AssignmentStatus::Done => done_on?,
        AssignmentStatus::Cancelled => return None,
    };
    let days = (end - due).num_days();
    (days > 0).then_some(days)
}

/// Open and past its due date.
pub fn overdue(status: AssignmentStatus, due: NaiveDate, today: NaiveDate) -> bool {
    status.is_open() && due < today
}

/// Open, not yet overdue, and due within [`DUE_SOON_DAYS`] days.
pub fn due_soon(status: AssignmentStatus, due: NaiveDate, today: NaiveDate) -> bool {
    status.is_open() && due >= today && (due - today).num_days() <= DUE_SOON_DAYS
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::AssignmentStatus::{Assigned, Cancelled, Done, InProgress};
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn user(roles: &[Role], recipient: Option<i64>) -> UserPrincipal {
        UserPrincipal {
            id: 1,
            email: "u@mcu.test".into(),
            roles: roles.to_vec(),
            channels: Vec::new(),
            recipient_id: recipient,
            territory_id: None,
        }
    }

    #[test]
    fn meetings_are_held_or_cancelled_once() {
        assert_eq!(meeting_transition(MeetingStatus::Planned, MeetingStatus::Held), Ok(()));
        assert_eq!(meeting_transition(MeetingStatus::Planned, MeetingStatus::Cancelled), Ok(()));
        assert!(meeting_transition(MeetingStatus::Held, MeetingStatus::Cancelled).is_err());
        assert!(meeting_transition(MeetingStatus::Cancelled, MeetingStatus::Held).is_err());
        assert!(meeting_transition(MeetingStatus::Planned, MeetingStatus::Planned).is_err());
    }

    #[test]
    fn who_changes_an_assignment() {
        assert_eq!(actor(&user(&[Role::Head], None), 4), Some(Actor::Chair));
        assert_eq!(actor(&user(&[Role::Curator], None), 4), Some(Actor::Chair));
        assert_eq!(actor(&user(&[Role::Executor], Some(4)), 4), Some(Actor::Executor));
        assert_eq!(actor(&user(&[Role::Executor], Some(5)), 4), None);
        assert_eq!(actor(&user(&[Role::Coordinator], None), 4), None);
        assert_eq!(actor(&user(&[Role::Admin], None), 4), None);
    }

    #[test]
    fn the_assignment_workflow() {
        assert_eq!(assignment_transition(Actor::Executor, Assigned, InProgress), Ok(()));
        assert_eq!(assignment_transition(Actor::Executor, InProgress, Done), Ok(()));
        assert!(assignment_transition(Actor::Executor, Assigned, Cancelled).is_err());
        assert_eq!(assignment_transition(Actor::Chair, InProgress, Cancelled), Ok(()));
        for to in AssignmentStatus::ALL {
            assert!(assignment_transition(Actor::Chair, Done, *to).is_err(), "DONE is final");
            assert!(assignment_transition(Actor::Chair, Cancelled, *to).is_err(), "CANCELLED is final");
        }
        assert!(assignment_transition(Actor::Chair, InProgress, Assigned).is_err());
    }

    #[test]
    fn lateness_and_the_warning_window() {
        let due = d("2026-12-10");
        assert_eq!(days_late(Assigned, due, None, d("2026-12-10")), None);
        assert_eq!(days_late(InProgress, due, None, d("2026-12-13")), Some(3));
        assert_eq!(days_late(Done, due, Some(d("2026-12-12")), d("2026-12-20")), Some(2));
        assert_eq!(days_late(Done, due, Some(d("2026-12-09")), d("2026-12-20")), None);
        assert_eq!(days_late(Cancelled, due, None, d("2026-12-20")), None);
        assert!(overdue(Assigned, due, d("2026-12-11")));
        assert!(!overdue(Assigned, due, d("2026-12-10")));
        assert!(!overdue(Done, due, d("2026-12-11")));
        assert!(due_soon(Assigned, due, d("2026-12-08")));
        assert!(due_soon(InProgress, due, d("2026-12-10")));
        assert!(!due_soon(Assigned, due, d("2026-12-07")), "three days before is not yet");
        assert!(!due_soon(Assigned, due, d("2026-12-11")), "overdue is not due soon");
        assert!(!due_soon(Done, due, d("2026-12-09")));
    }
}
