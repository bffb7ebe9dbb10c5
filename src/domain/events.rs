//! What the centre announces: the topics of outbox rows, which are also the events a
//! webhook subscribes to.

use super::access::string_enum;

string_enum!(
    /// A kind of change announced through the outbox (and the events a webhook may take).
    #[graphql(name = "WebhookEvent")]
    Topic {
        /// An appeal was registered (by hand, ingestion or import).
        AppealCreated => "APPEAL_CREATED",
        /// An appeal changed in any other way (a step of its lifecycle, an edit).
        AppealChanged => "APPEAL_CHANGED",
        /// An appeal was assigned to a recipient.
        AppealAssigned => "APPEAL_ASSIGNED",
        /// An appeal's running deadline came within the warning window.
        AppealDueSoon => "APPEAL_DUE_SOON",
        /// An appeal's running deadline passed.
        AppealOverdue => "APPEAL_OVERDUE",
        /// An appeal was answered.
        AppealAnswered => "APPEAL_ANSWERED",
        /// An overdue appeal was escalated past its grace period.
        AppealEscalated => "APPEAL_ESCALATED",
        /// A roadmap or one of its measures changed.
        RoadmapChanged => "ROADMAP_CHANGED",
        /// A poll changed (created, edited, opened).
        PollChanged => "POLL_CHANGED",
        /// A poll was closed: its results are final.
        PollClosed => "POLL_CLOSED",
        /// A user was created, changed or deactivated.
        UserChanged => "USER_CHANGED",
        /// The weekly memo was generated.
        MemoReady => "MEMO_READY",
        /// An assignment (поручение) of a meeting comes within its warning window (internal:
        /// told to the people concerned).
        AssignmentDueSoon => "ASSIGNMENT_DUE_SOON",
        /// An assignment of a meeting passed its due date (internal).
        AssignmentOverdue => "ASSIGNMENT_OVERDUE",
        /// A recipient, category or territory was created or changed (internal: every
        /// process reads its reference data again).
        ReferenceChanged => "REFERENCE_CHANGED",
    }
);

impl Topic {
    /// Whether an outside integration may subscribe to it (staff accounts and the reference
    /// data's invalidation are internal).
    pub fn is_public(self) -> bool {
        !matches!(self, Self::UserChanged | Self::ReferenceChanged | Self::AssignmentDueSoon | Self::AssignmentOverdue)
    }
}

#[cfg(test)]
mod tests {
    use super::Topic;

    #[test]
    fn topics_read_back_from_their_stored_names() {
        for t in Topic::ALL {
            assert_eq!(t.as_str().parse::<Topic>(), Ok(*t));
        }
        assert!("APPEAL_DELETED".parse::<Topic>().is_err());
        assert!(!Topic::UserChanged.is_public());
        assert!(!Topic::ReferenceChanged.is_public());
        assert!(Topic::AppealOverdue.is_public());
    }
}
