//! The appeal state machine.
//!
//! | action | allowed from | to |
//! |---|---|---|
//! | register | RECEIVED | REGISTERED |
//! | assign | REGISTERED, ASSIGNED (reassign), REOPENED | ASSIGNED |
//! | redirect | RECEIVED, REGISTERED, ASSIGNED | REDIRECTED |
//! | startWork | ASSIGNED, REOPENED | IN_PROGRESS |
//! | extend | REGISTERED, ASSIGNED, IN_PROGRESS, REOPENED | unchanged |
//! | answer | ASSIGNED, IN_PROGRESS | ANSWERED |
//! | assess, recordFeedback | ANSWERED, CLOSED | unchanged |
//! | leaveWithoutAnswer | REGISTERED, ASSIGNED, IN_PROGRESS | WITHOUT_ANSWER |
//! | reopen | ANSWERED, CLOSED, WITHOUT_ANSWER | REOPENED |
//! | markDuplicate | RECEIVED, REGISTERED, ASSIGNED | DUPLICATE |
//! | close | ANSWERED, WITHOUT_ANSWER, REDIRECTED, DUPLICATE | CLOSED |
//! | update | any but CLOSED, REDIRECTED, DUPLICATE | unchanged |

use super::access::string_enum;

string_enum!(
    /// Where an appeal is in its lifecycle.
    AppealStatus {
        Received => "RECEIVED",
        Registered => "REGISTERED",
        Assigned => "ASSIGNED",
        InProgress => "IN_PROGRESS",
        Answered => "ANSWERED",
        Closed => "CLOSED",
        /// Forwarded to the competent body (переадресация).
        Redirected => "REDIRECTED",
        /// Left without an answer on the merits (59-ФЗ ст. 11).
        WithoutAnswer => "WITHOUT_ANSWER",
        /// Reviewed again after the author was not satisfied (повторное рассмотрение).
        Reopened => "REOPENED",
        Duplicate => "DUPLICATE",
    }
);

/// What can be done to an appeal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppealAction {
    Register,
    Assign,
    Redirect,
    StartWork,
    Extend,
    Answer,
    Assess,
    LeaveWithoutAnswer,
    RecordFeedback,
    Reopen,
    MarkDuplicate,
    Close,
    Update,
}

impl AppealAction {
    /// Every action.
    pub const ALL: &'static [Self] = &[
        Self::Register,
        Self::Assign,
        Self::Redirect,
        Self::StartWork,
        Self::Extend,
        Self::Answer,
        Self::Assess,
        Self::LeaveWithoutAnswer,
        Self::RecordFeedback,
        Self::Reopen,
        Self::MarkDuplicate,
        Self::Close,
        Self::Update,
    ];
}

/// A transition that the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionError {
    pub from: AppealStatus,
    pub action: AppealAction,
}

impl AppealStatus {
    /// Still waiting for a response on the merits or a routing decision.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Received | Self::Registered | Self::Assigned | Self::InProgress | Self::Reopened)
    }

    /// Nothing more happens to it (only reopening brings it back).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Closed | Self::Duplicate | Self::Redirected)
    }
}

/// The status after `action`, or why it is not allowed from `from`.
pub fn transition(from: AppealStatus, action: AppealAction) -> Result<AppealStatus, TransitionError> {
    use AppealAction as A;
    use AppealStatus as S;
    let to = match (action, from) {
        (A::Register, S::Received) => S::Registered,
        (A::Assign, S::Registered | S::Assigned | S::Reopened) => S::Assigned,
        (A::Redirect, S::Received | S::Registered | S::Assigned) => S::Redirected,
        (A::StartWork, S::Assigned | S::Reopened) => S::InProgress,
        (A::Extend, S::Registered | S::Assigned | S::InProgress | S::Reopened)
        | (A::Assess | A::RecordFeedback, S::Answered | S::Closed) => from,
        (A::Answer, S::Assigned | S::InProgress) => S::Answered,
        (A::LeaveWithoutAnswer, S::Registered | S::Assigned | S::InProgress) => S::WithoutAnswer,
        (A::Reopen, S::Answered | S::Closed | S::WithoutAnswer) => S::Reopened,
        (A::MarkDuplicate, S::Received | S::Registered | S::Assigned) => S::Duplicate,
        (A::Close, S::Answered | S::WithoutAnswer | S::Redirected | S::Duplicate) => S::Closed,
        (A::Update, s) if !matches!(s, S::Closed | S::Redirected | S::Duplicate) => s,
        _ => return Err(TransitionError { from, action }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AppealAction as A;
    use AppealStatus as S;

    /// The allowed (action, from) pairs written out independently of `transition`.
    fn expected(action: AppealAction) -> &'static [AppealStatus] {
        match action {
            A::Register => &[S::Received],
            A::Assign => &[S::Registered, S::Assigned, S::Reopened],
            A::Redirect | A::MarkDuplicate => &[S::Received, S::Registered, S::Assigned],
            A::StartWork => &[S::Assigned, S::Reopened],
            A::Extend => &[S::Registered, S::Assigned, S::InProgress, S::Reopened],
            A::Answer => &[S::Assigned, S::InProgress],
            A::Assess | A::RecordFeedback => &[S::Answered, S::Closed],
            A::LeaveWithoutAnswer => &[S::Registered, S::Assigned, S::InProgress],
            A::Reopen => &[S::Answered, S::Closed, S::WithoutAnswer],
            A::Close => &[S::Answered, S::WithoutAnswer, S::Redirected, S::Duplicate],
            A::Update => {
                &[S::Received, S::Registered, S::Assigned, S::InProgress, S::Answered, S::WithoutAnswer, S::Reopened]
            }
        }
    }

    #[test]
    fn every_pair_of_status_and_action() {
        for action in A::ALL {
            for status in S::ALL {
                let allowed = expected(*action).contains(status);
                assert_eq!(transition(*status, *action).is_ok(), allowed, "{action:?} from {status:?}");
            }
        }
    }

    #[test]
    fn targets() {
        assert_eq!(transition(S::Received, A::Register), Ok(S::Registered));
        assert_eq!(transition(S::InProgress, A::Answer), Ok(S::Answered));
        assert_eq!(transition(S::Closed, A::Reopen), Ok(S::Reopened));
        assert_eq!(transition(S::Reopened, A::StartWork), Ok(S::InProgress));
        assert_eq!(transition(S::Assigned, A::Extend), Ok(S::Assigned));
        assert_eq!(transition(S::Received, A::Answer), Err(TransitionError { from: S::Received, action: A::Answer }));
    }

    #[test]
    fn open_and_final() {
        assert!(S::Reopened.is_open() && !S::Reopened.is_final());
        assert!(S::Closed.is_final() && !S::Answered.is_open());
    }
}
