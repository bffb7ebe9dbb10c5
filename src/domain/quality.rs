//! Answer quality: completeness of an answer and the 59-ФЗ ст. 11 reasons to leave an appeal
//! without an answer on the merits.

use super::access::string_enum;

string_enum!(
    /// How completely an answer addresses the appeal (оценка ответа координатором).
    Completeness {
        /// Answered on the merits, every question addressed.
        Full => "FULL",
        /// Some questions left unanswered.
        Partial => "PARTIAL",
        /// A formal non-answer (отписка).
        Formal => "FORMAL",
        /// No answer to the point at all.
        None => "NONE",
    }
);

string_enum!(
    /// Why an appeal is left without an answer on the merits (59-ФЗ ст. 11).
    NoAnswerReason {
        /// No surname or no postal/e-mail address to answer to.
        Anonymous => "ANONYMOUS",
        /// Obscene or offensive language, threats.
        Obscene => "OBSCENE",
        /// The text cannot be read.
        Unreadable => "UNREADABLE",
        /// The essence of the appeal cannot be determined.
        EssenceUnclear => "ESSENCE_UNCLEAR",
        /// The same question was already answered and the appeal brings no new arguments.
        Repeated => "REPEATED",
        /// It challenges a court decision (returned within 7 days).
        CourtDecision => "COURT_DECISION",
        /// The answer has already been published (the author gets the link).
        PublishedAnswer => "PUBLISHED_ANSWER",
    }
);

/// Whether an appeal may be left without an answer for `reason` given what it contains.
/// ANONYMOUS is allowed only when the author's name or contact is really missing.
pub fn no_answer_allowed(reason: NoAnswerReason, author_name: Option<&str>, author_contact: Option<&str>) -> bool {
    match reason {
        NoAnswerReason::Anonymous => {
            let blank = |v: Option<&str>| v.is_none_or(|s| s.trim().is_empty());
            blank(author_name) || blank(author_contact)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_only_without_name_or_contact() {
        assert!(!no_answer_allowed(NoAnswerReason::Anonymous, Some("Иван Петров"), Some("a@b.ru")));
        assert!(no_answer_allowed(NoAnswerReason::Anonymous, None, Some("a@b.ru")));
        assert!(no_answer_allowed(NoAnswerReason::Anonymous, Some("Иван"), Some("  ")));
        assert!(no_answer_allowed(NoAnswerReason::Obscene, Some("Иван"), Some("a@b.ru")));
    }
}
