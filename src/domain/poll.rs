//! Polls: surveys, votes and public discussions (опросы, голосования, общественные обсуждения).
//!
//! A poll is drafted with its questions, published (the questions are frozen from then on)
//! and closed: DRAFT → PUBLISHED → CLOSED. This module checks the shape of questions and of
//! a ballot against them.

use std::collections::HashSet;

use super::access::string_enum;

typed_id!(
    /// The id of a poll.
    PollId
);
typed_id!(
    /// The id of a citizen's comment on a poll.
    PollCommentId
);
use crate::error::FieldError;

string_enum!(
    /// What a poll is for.
    PollKind {
        /// A questionnaire (опрос).
        Survey => "SURVEY",
        /// A choice between options (голосование).
        Vote => "VOTE",
        /// A public discussion with comments (общественное обсуждение).
        Discussion => "DISCUSSION",
    }
);

string_enum!(
    /// Where a poll is in its life.
    PollStatus {
        Draft => "DRAFT",
        Published => "PUBLISHED",
        Closed => "CLOSED",
    }
);

string_enum!(
    /// Who may answer.
    PollAccess {
        /// Anyone, one ballot per respondent key.
        Open => "OPEN",
        /// Holders of a one-time invitation code.
        Invite => "INVITE",
    }
);

string_enum!(
    /// How the respondents of an OPEN poll are verified.
    PollVerification {
        /// Not at all: any respondent key counts once, and the results say they are unverified.
        None => "NONE",
        /// A one-time code sent to the respondent's e-mail or telephone; one ballot per contact.
        ContactCode => "CONTACT_CODE",
    }
);

string_enum!(
    /// How a question is answered.
    QuestionType {
        /// Exactly one option.
        Single => "SINGLE",
        /// One or more options.
        Multiple => "MULTIPLE",
        /// A whole number from 1 to 5.
        Scale => "SCALE",
        /// Free text.
        Text => "TEXT",
    }
);

/// Longest text answer or discussion comment.
pub const MAX_TEXT: usize = 2000;
/// Lowest and highest value of a SCALE question.
pub const SCALE: std::ops::RangeInclusive<i32> = 1..=5;

/// How long a one-time code sent to a contact is valid, in minutes.
pub const CODE_TTL_MINUTES: i64 = 15;
/// Wrong codes tried against one sent code before it is void.
pub const CODE_MAX_ATTEMPTS: i32 = 5;
/// Digits of a code sent to a contact.
pub const CODE_DIGITS: usize = 6;

/// A respondent's contact, normalised: the same person always gives the same value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// An e-mail address, lower-cased.
    Email(String),
    /// A telephone number as `+` and 10 to 15 digits (a Russian `8…` or bare ten-digit `9…`
    /// number becomes `+7…`).
    Phone(String),
}

impl Contact {
    /// The normalised text (what is hashed and what the code is sent to).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Email(s) | Self::Phone(s) => s,
        }
    }
}

/// Reads a contact: an e-mail address, or a telephone number written with spaces, dashes,
/// dots or parentheses.
///
/// # Errors
/// A message for a text that is neither.
pub fn normalise_contact(text: &str) -> Result<Contact, &'static str> {
    let t = text.trim();
    if t.contains('@') {
        return crate::domain::notices::email_address(Some(t))
            .map(|e| Contact::Email(e.to_lowercase()))
            .ok_or("is not an e-mail address or a telephone number");
    }
    let (plus, body) = match t.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    if body.is_empty() || !body.chars().all(|c| c.is_ascii_digit() || " -().".contains(c)) {
        return Err("is not an e-mail address or a telephone number");
    }
    let mut digits: String = body.chars().filter(char::is_ascii_digit).collect();
    if !plus {
        if digits.len() == 11 && digits.starts_with('8') {
            digits.replace_range(0..1, "7");
        } else if digits.len() == 10 && digits.starts_with('9') {
            digits.insert(0, '7');
        }
    }
    if !(10..=15).contains(&digits.len()) {
        return Err("is not an e-mail address or a telephone number");
    }
    Ok(Contact::Phone(format!("+{digits}")))
}

/// What can be done to a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollAction {
    Publish,
    Close,
}

/// The status after `action`, or `None` when it is not allowed from `from`.
pub fn transition(from: PollStatus, action: PollAction) -> Option<PollStatus> {
    match (action, from) {
        (PollAction::Publish, PollStatus::Draft) => Some(PollStatus::Published),
        (PollAction::Close, PollStatus::Published) => Some(PollStatus::Closed),
        _ => None,
    }
}

/// A question as drafted.
#[derive(Debug, Clone)]
pub struct QuestionDraft {
    pub text: String,
    pub kind: QuestionType,
    pub options: Vec<String>,
}

fn push(errors: &mut Vec<FieldError>, path: String, message: &str) {
    errors.push(FieldError { path, message: message.into() });
}

/// Checks drafted questions: SINGLE and MULTIPLE need at least two non-empty options,
/// SCALE and TEXT take none; SURVEY and VOTE need at least one question.
pub fn check_questions(kind: PollKind, questions: &[QuestionDraft]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if questions.is_empty() && kind != PollKind::Discussion {
        push(&mut errors, "input.questions".into(), "a survey or vote needs at least one question");
    }
    for (i, q) in questions.iter().enumerate() {
        if q.text.trim().is_empty() {
            push(&mut errors, format!("input.questions.{i}.text"), "must not be empty");
        } else if q.text.chars().count() > MAX_TEXT {
            push(&mut errors, format!("input.questions.{i}.text"), "must be at most 2000 characters");
        }
        match q.kind {
            QuestionType::Single | QuestionType::Multiple => {
                if q.options.len() < 2 {
                    push(&mut errors, format!("input.questions.{i}.options"), "needs at least two options");
                }
                for (j, o) in q.options.iter().enumerate() {
                    if o.trim().is_empty() {
                        push(&mut errors, format!("input.questions.{i}.options.{j}"), "must not be empty");
                    }
                }
            }
            QuestionType::Scale | QuestionType::Text => {
                if !q.options.is_empty() {
                    push(&mut errors, format!("input.questions.{i}.options"), "this question type takes no options");
                }
            }
        }
    }
    errors
}

/// A stored question with the ids of its options.
#[derive(Debug, Clone)]
pub struct QuestionSpec {
    pub id: i64,
    pub kind: QuestionType,
    pub option_ids: Vec<i64>,
}

/// One answer of a ballot as sent (ids already parsed; `None` when not an id of ours).
#[derive(Debug, Clone, Default)]
pub struct AnswerIn {
    pub question_id: Option<i64>,
    pub option_ids: Option<Vec<Option<i64>>>,
    pub scale: Option<i32>,
    pub text: Option<String>,
}

/// One checked answer, ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chosen {
    Options(Vec<i64>),
    Scale(i32),
    Text(String),
}

/// Checks a ballot against the poll's questions: every question answered exactly once, the
/// answer fitting the question's type. Paths are `input.answers.<i>.<field>`.
///
/// # Errors
/// Every problem found, with its path.
pub fn check_ballot(questions: &[QuestionSpec], answers: &[AnswerIn]) -> Result<Vec<(i64, Chosen)>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, a) in answers.iter().enumerate() {
        let at = |f: &str| format!("input.answers.{i}.{f}");
        let Some(q) = a.question_id.and_then(|id| questions.iter().find(|q| q.id == id)) else {
            push(&mut errors, at("questionId"), "no such question in this poll");
            continue;
        };
        if !seen.insert(q.id) {
            push(&mut errors, at("questionId"), "the question is answered twice");
            continue;
        }
        match q.kind {
            QuestionType::Single | QuestionType::Multiple => {
                let ids = a.option_ids.clone().unwrap_or_default();
                let known: Option<Vec<i64>> = ids.iter().map(|o| o.filter(|id| q.option_ids.contains(id))).collect();
                let distinct: HashSet<_> = ids.iter().collect();
                match known {
                    None => push(&mut errors, at("optionIds"), "no such option of this question"),
                    Some(v) if v.is_empty() => push(&mut errors, at("optionIds"), "choose an option"),
                    Some(v) if q.kind == QuestionType::Single && v.len() > 1 => {
                        push(&mut errors, at("optionIds"), "choose exactly one option");
                    }
                    Some(v) if distinct.len() != v.len() => {
                        push(&mut errors, at("optionIds"), "an option is chosen twice");
                    }
                    Some(v) => out.push((q.id, Chosen::Options(v))),
                }
            }
            QuestionType::Scale => match a.scale {
                Some(v) if SCALE.contains(&v) => out.push((q.id, Chosen::Scale(v))),
                _ => push(&mut errors, at("scale"), "must be between 1 and 5"),
            },
            QuestionType::Text => {
                let text = a.text.as_deref().map(str::trim).unwrap_or_default();
                if text.is_empty() {
                    push(&mut errors, at("text"), "must not be empty");
                } else if text.chars().count() > MAX_TEXT {
                    push(&mut errors, at("text"), "must be at most 2000 characters");
                } else {
                    out.push((q.id, Chosen::Text(text.to_string())));
                }
            }
        }
    }
    for (i, q) in questions.iter().enumerate() {
        if !seen.contains(&q.id) && errors.is_empty() {
            push(&mut errors, "input.answers".into(), &format!("question {} is not answered", i + 1));
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec() -> Vec<QuestionSpec> {
        vec![
            QuestionSpec { id: 1, kind: QuestionType::Single, option_ids: vec![10, 11] },
            QuestionSpec { id: 2, kind: QuestionType::Multiple, option_ids: vec![20, 21, 22] },
            QuestionSpec { id: 3, kind: QuestionType::Scale, option_ids: vec![] },
            QuestionSpec { id: 4, kind: QuestionType::Text, option_ids: vec![] },
        ]
    }

    fn good() -> Vec<AnswerIn> {
        vec![
            AnswerIn { question_id: Some(1), option_ids: Some(vec![Some(10)]), ..Default::default() },
            AnswerIn { question_id: Some(2), option_ids: Some(vec![Some(20), Some(22)]), ..Default::default() },
            AnswerIn { question_id: Some(3), scale: Some(4), ..Default::default() },
            AnswerIn { question_id: Some(4), text: Some(" Хорошо ".into()), ..Default::default() },
        ]
    }

    fn paths(r: Result<Vec<(i64, Chosen)>, Vec<FieldError>>) -> Vec<String> {
        r.err().unwrap_or_default().into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn a_good_ballot_passes() {
        let out = check_ballot(&spec(), &good()).unwrap();
        assert_eq!(out[1], (2, Chosen::Options(vec![20, 22])));
        assert_eq!(out[3], (4, Chosen::Text("Хорошо".into())));
    }

    #[test]
    fn each_mistake_names_its_field() {
        type Change = Box<dyn Fn(&mut Vec<AnswerIn>)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|a| a[0].option_ids = Some(vec![Some(10), Some(11)])), "input.answers.0.optionIds"),
            (Box::new(|a| a[0].option_ids = Some(vec![Some(20)])), "input.answers.0.optionIds"),
            (Box::new(|a| a[1].option_ids = Some(vec![])), "input.answers.1.optionIds"),
            (Box::new(|a| a[1].option_ids = Some(vec![Some(20), Some(20)])), "input.answers.1.optionIds"),
            (Box::new(|a| a[2].scale = Some(6)), "input.answers.2.scale"),
            (Box::new(|a| a[2].scale = Some(0)), "input.answers.2.scale"),
            (Box::new(|a| a[3].text = Some("x".repeat(2001))), "input.answers.3.text"),
            (Box::new(|a| a[3].question_id = Some(99)), "input.answers.3.questionId"),
            (Box::new(|a| a[3].question_id = Some(1)), "input.answers.3.questionId"),
            (Box::new(|a| drop(a.pop())), "input.answers"),
        ];
        for (change, path) in cases {
            let mut a = good();
            change(&mut a);
            assert_eq!(paths(check_ballot(&spec(), &a)), vec![path.to_string()], "{path}");
        }
    }

    #[test]
    fn question_shapes() {
        let q = |kind, options: &[&str]| QuestionDraft {
            text: "Вопрос".into(),
            kind,
            options: options.iter().map(ToString::to_string).collect(),
        };
        assert!(check_questions(PollKind::Survey, &[q(QuestionType::Single, &["a", "b"])]).is_empty());
        assert!(check_questions(PollKind::Survey, &[q(QuestionType::Scale, &[])]).is_empty());
        assert_eq!(
            check_questions(PollKind::Survey, &[q(QuestionType::Single, &["a"])])[0].path,
            "input.questions.0.options"
        );
        assert_eq!(
            check_questions(PollKind::Survey, &[q(QuestionType::Text, &["a"])])[0].path,
            "input.questions.0.options"
        );
        assert_eq!(check_questions(PollKind::Vote, &[])[0].path, "input.questions");
        assert!(check_questions(PollKind::Discussion, &[]).is_empty());
    }

    #[test]
    fn contacts_are_normalised() {
        assert_eq!(normalise_contact(" Ivan@Mail.TEST "), Ok(Contact::Email("ivan@mail.test".into())));
        for phone in ["8 (913) 555-12-34", "+7 913 555 12 34", "9135551234", "+79135551234"] {
            assert_eq!(normalise_contact(phone), Ok(Contact::Phone("+79135551234".into())), "{phone}");
        }
        assert_eq!(normalise_contact("+44 20 7946 0958"), Ok(Contact::Phone("+442079460958".into())));
        for bad in ["", "ivan", "ivan@", "12345", "+7 913 ABC", "ул. Ленина, 1", "+1234567890123456"] {
            assert!(normalise_contact(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lifecycle() {
        assert_eq!(transition(PollStatus::Draft, PollAction::Publish), Some(PollStatus::Published));
        assert_eq!(transition(PollStatus::Published, PollAction::Close), Some(PollStatus::Closed));
        assert_eq!(transition(PollStatus::Draft, PollAction::Close), None);
        assert_eq!(transition(PollStatus::Closed, PollAction::Publish), None);
    }
}
