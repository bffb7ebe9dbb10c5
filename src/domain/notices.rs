//! The texts of e-mail: notices the law requires to an appeal's author and notifications to
//! staff, from the templates in `templates/mail/` (a first line `Тема: …`, a blank line, the
//! body; `{name}` marks a value). Rendering is pure: the caller passes every value.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::access::string_enum;
use super::appeal::Appeal;
use super::deadlines::AppealKind;
use super::effects::{Event, Payload};

/// The delivery channel of an e-mail to send (`deliveries.channel`).
pub const CHANNEL_MAIL: &str = "MAIL";
/// The delivery channel of a notification waiting for its person's daily digest.
pub const CHANNEL_DIGEST: &str = "DIGEST";
/// A digest item not yet collected into a digest.
pub const DIGEST_QUEUED: &str = "QUEUED";
/// A digest item collected into a digest.
pub const DIGEST_TAKEN: &str = "DIGESTED";

string_enum!(
    /// What staff must still do by hand about an appeal.
    TaskKind {
        /// Send a notice the law requires to the author by post (no e-mail address given).
        PostNotice => "POST_NOTICE",
    }
);

/// An e-mail as queued in `deliveries.payload`: the address and the rendered text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// The e-mail address in an author's contact, if the contact is one: a single
/// `local@domain.tld` with no spaces (a telephone number or a postal address is not).
pub fn email_address(contact: Option<&str>) -> Option<String> {
    let c = contact?.trim();
    if c.len() > 254 || c.chars().any(|ch| ch.is_whitespace() || ch == ',' || ch == ';' || ch == '<' || ch == '>') {
        return None;
    }
    let (local, domain) = c.split_once('@')?;
    let labels_ok = domain.split('.').all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    (!local.is_empty() && !domain.contains('@') && domain.contains('.') && labels_ok).then(|| c.to_owned())
}

/// The notice the law requires to the author after a change, if any: a redirection to another
/// body (59-ФЗ ст. 8 ч. 3), an extension of the term (ст. 12 ч. 2) or the answer (ст. 10 ч. 4),
/// of an appeal under 59-ФЗ (`kind: APPEAL`; messages and incidents are answered where they
/// came from) whose author is known (an anonymous appeal is not answered, ст. 11 ч. 1).
/// `a` is the appeal after the change, times are shown in `tz`.
pub fn author_notice(a: &Appeal, e: &Event, at: DateTime<Utc>, tz: Tz) -> Option<Mail> {
    if a.kind != AppealKind::Appeal || a.anonymous {
        return None;
    }
    let day = |t: DateTime<Utc>| t.with_timezone(&tz).format("%d.%m.%Y").to_string();
    let author = a.author_name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or("заявитель");
    let received = day(a.received_at);
    let number = a.number.as_str();
    let mut values: Vec<(&str, String)> =
        vec![("number", number.to_owned()), ("author", author.to_owned()), ("received", received)];
    let template = match &e.payload {
        Payload::Redirected { external_body, .. } => {
            values.push(("redirected_at", day(at)));
            values.push(("recipient", external_body.clone()));
            Template::Redirected
        }
        Payload::Extended { due_at, .. } => {
            values.push(("due", day(*due_at)));
            values.push(("reason", e.comment.clone().unwrap_or_default()));
            Template::Extended
        }
        Payload::Answered { .. } => {
            values.push(("answered_at", day(at)));
            values.push(("answer", a.answer_text.clone().unwrap_or_default()));
            Template::Answered
        }
        _ => return None,
    };
    let refs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Some(render(template, &refs))
}

/// The text of the task «направить уведомление почтой»: to whom, and the notice to print.
pub fn post_task_text(a: &Appeal, notice: &Mail) -> String {
    let name = a.author_name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or("не указан");
    let contact = a.author_contact.as_deref().map(str::trim).filter(|c| !c.is_empty()).unwrap_or("не указан");
    format!(
        "Направить уведомление почтой: у автора нет адреса электронной почты.\nАвтор: {name}\nКонтакт: {contact}\n\n{}\n\n{}",
        notice.subject, notice.body
    )
}

/// A template of an e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// An administrator checks the mail settings.
    Test,
    /// The appeal was sent to another body (59-ФЗ ст. 8 ч. 3).
    Redirected,
    /// The term of consideration was extended (59-ФЗ ст. 12 ч. 2).
    Extended,
    /// The answer, as an electronic document (59-ФЗ ст. 10 ч. 4).
    Answered,
    /// One notification to a member of staff.
    Notification,
    /// A day's notifications in one message.
    Digest,
}

impl Template {
    /// Every template.
    pub const ALL: [Self; 6] =
        [Self::Test, Self::Redirected, Self::Extended, Self::Answered, Self::Notification, Self::Digest];

    fn source(self) -> &'static str {
        match self {
            Self::Test => include_str!("../../templates/mail/test.txt"),
            Self::Redirected => include_str!("../../templates/mail/redirected.txt"),
            Self::Extended => include_str!("../../templates/mail/extended.txt"),
            Self::Answered => include_str!("../../templates/mail/answered.txt"),
            Self::Notification => include_str!("../../templates/mail/notification.txt"),
            Self::Digest => include_str!("../../templates/mail/digest.txt"),
        }
    }

    /// The names of the values the template uses, in order of first use.
    pub fn placeholders(self) -> Vec<&'static str> {
        let mut names = Vec::new();
        let mut rest = self.source();
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else { break };
            let name = &after[..close];
            if !names.contains(&name) {
                names.push(name);
            }
            rest = &after[close + 1..];
        }
        names
    }
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub subject: String,
    pub body: String,
}

/// Renders a template with `values` (`(name, value)`); a value is inserted as it is (the
/// message is plain text). A placeholder without a value is left visible as `{name}`, which
/// the templates' test forbids.
pub fn render(template: Template, values: &[(&str, &str)]) -> Mail {
    let (first, body) = template.source().split_once('\n').unwrap_or((template.source(), ""));
    // A subject is one line: a value with a line break cannot split it into headers.
    let subject = substitute(first.trim_start_matches("Тема:").trim(), values).replace(['\r', '\n'], " ");
    Mail { subject, body: substitute(body.trim_start_matches('\n'), values) }
}

fn substitute(source: &str, values: &[(&str, &str)]) -> String {
    let mut text = String::with_capacity(source.len() + 256);
    let mut rest = source;
    while let Some(open) = rest.find('{') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            text.push('{');
            rest = after;
            continue;
        };
        let name = &after[..close];
        if let Some((_, v)) = values.iter().find(|(k, _)| *k == name) {
            text.push_str(v);
        } else {
            text.push('{');
            text.push_str(name);
            text.push('}');
        }
        rest = &after[close + 1..];
    }
    text.push_str(rest);
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_template_has_a_subject_line_and_renders_without_leftover_placeholders() {
        for t in Template::ALL {
            assert!(t.source().starts_with("Тема: "), "{t:?} starts with its subject");
            let names = t.placeholders();
            let values: Vec<(&str, &str)> = names.iter().map(|n| (*n, "ЗНАЧЕНИЕ")).collect();
            let mail = render(t, &values);
            assert!(!mail.subject.is_empty() && !mail.body.is_empty(), "{t:?}");
            assert!(!mail.body.contains('{') && !mail.subject.contains('{'), "{t:?}: {mail:?}");
        }
    }

    #[test]
    fn the_redirection_notice_names_the_law_the_number_and_the_new_recipient() {
        let mail = render(
            Template::Redirected,
            &[
                ("number", "МЦУ-2026-000042"),
                ("author", "Иван Петров"),
                ("received", "01.12.2026"),
                ("redirected_at", "03.12.2026"),
                ("recipient", "Министерство транспорта Красноярского края"),
            ],
        );
        assert_eq!(mail.subject, "Ваше обращение № МЦУ-2026-000042 направлено по компетенции");
        assert!(mail.body.contains("Уважаемый(ая) Иван Петров!"));
        assert!(mail.body.contains("частью 3 статьи 8"));
        assert!(mail.body.contains("Министерство транспорта Красноярского края"));
    }

    #[test]
    fn only_a_single_plain_email_address_counts_as_one() {
        assert_eq!(email_address(Some(" ivan@example.ru ")).as_deref(), Some("ivan@example.ru"));
        assert_eq!(
            email_address(Some("i.petrov+mcu@mail.example.ru")).as_deref(),
            Some("i.petrov+mcu@mail.example.ru")
        );
        for not in [
            "+7 913 555-12-34",
            "ул. Ленина, 5",
            "ivan@",
            "@example.ru",
            "ivan@localhost",
            "a@b.ru, c@d.ru",
            "Иван <ivan@example.ru>",
            "a@@b.ru",
            "a@b..ru",
            "",
        ] {
            assert_eq!(email_address(Some(not)), None, "{not}");
        }
        assert_eq!(email_address(None), None);
    }

    fn sample(kind: AppealKind) -> Appeal {
        use crate::domain::access::Channel;
        use crate::domain::appeal::AppealId;
        use crate::domain::lifecycle::AppealStatus;
        let t = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 7, 3, 0, 0).unwrap();
        Appeal {
            id: AppealId(1),
            number: "2026-000001".into(),
            kind,
            channel: Channel::Email,
            external_id: None,
            status: AppealStatus::Answered,
            received_at: t,
            registered_at: Some(t),
            author_name: Some("Иван Петров".into()),
            author_contact: Some("ivan@example.ru".into()),
            anonymous: false,
            text: "Яма".into(),
            search_text: "ям".into(),
            summary: None,
            category_id: None,
            suggested_category_id: None,
            territory_id: None,
            address: None,
            latitude: None,
            longitude: None,
            recipient_id: None,
            redirected_to: None,
            high_priority: false,
            sla_started_at: t,
            due_soon_at: t,
            due_at: t,
            extension_count: 0,
            reacted_at: None,
            resolved_at: Some(t),
            answered_at: Some(t),
            answer_text: Some("Яма заделана.".into()),
            completeness: None,
            no_answer_reason: None,
            satisfaction_score: None,
            satisfied: None,
            feedback_code: None,
            feedback_expires_at: None,
            reopen_count: 0,
            first_answer: None,
            reaction: None,
            duplicate_of_id: None,
            version: 5,
            created_at: t,
            updated_at: t,
            anonymised_at: None,
        }
    }

    #[test]
    fn the_law_s_notices_go_to_known_authors_of_appeals_only() {
        let tz = chrono_tz::Asia::Krasnoyarsk;
        let at = sample(AppealKind::Appeal).received_at;
        let answered = Event {
            action: "answerAppeal",
            from: None,
            to: None,
            comment: None,
            payload: Payload::Answered { on_time: true },
        };
        let mail = author_notice(&sample(AppealKind::Appeal), &answered, at, tz).unwrap();
        assert_eq!(mail.subject, "Ответ на обращение № 2026-000001");
        assert!(mail.body.contains("Яма заделана.") && mail.body.contains("от 07.12.2026"), "{}", mail.body);
        let extended = Event {
            action: "extendDeadline",
            from: None,
            to: None,
            comment: Some("экспертиза".into()),
            payload: Payload::Extended { days: 10, previous_due_at: at, due_at: at + chrono::Duration::days(10) },
        };
        let mail = author_notice(&sample(AppealKind::Appeal), &extended, at, tz).unwrap();
        assert!(mail.body.contains("продлён до 17.12.2026") && mail.body.contains("Причина продления: экспертиза"));
        // Messages and incidents are answered on their platforms; anonymous appeals not at all;
        // other steps need no notice.
        assert!(author_notice(&sample(AppealKind::Message), &answered, at, tz).is_none());
        assert!(author_notice(&sample(AppealKind::Incident), &answered, at, tz).is_none());
        let anonymous = Appeal { anonymous: true, ..sample(AppealKind::Appeal) };
        assert!(author_notice(&anonymous, &answered, at, tz).is_none());
        let closed = Event { action: "closeAppeal", from: None, to: None, comment: None, payload: Payload::Closed {} };
        assert!(author_notice(&sample(AppealKind::Appeal), &closed, at, tz).is_none());
        // Without an address the notice is a task with what the post needs.
        let no_mail = Appeal { author_contact: Some("ул. Ленина, 5".into()), ..sample(AppealKind::Appeal) };
        let notice = author_notice(&no_mail, &answered, at, tz).unwrap();
        let text = post_task_text(&no_mail, &notice);
        assert!(text.starts_with("Направить уведомление почтой") && text.contains("Контакт: ул. Ленина, 5"), "{text}");
    }

    #[test]
    fn a_value_cannot_break_the_subject_into_headers_and_a_missing_value_stays_visible() {
        let mail = render(Template::Notification, &[("headline", "срок\r\nBcc: x@y.z"), ("text", "т")]);
        assert_eq!(mail.subject, "МЦУ: срок  Bcc: x@y.z");
        assert!(mail.body.contains("{link}"));
    }
}
