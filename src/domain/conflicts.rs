//! Communication conflicts (issue 18, item 10; decree 1.2б, 1.2в): signs on an appeal that
//! the conversation with its author has gone wrong, computed from the appeal's own facts and
//! from the author's earlier appeals. Pure: the callers read the facts.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};

use super::access::string_enum;

use super::access::Channel;
use super::text::{lowered, stem_word, tokens};

/// Reopenings from which an appeal counts as reopened again and again. (Written as `2` in
/// the predicate of the partial index `ix_appeals_conflicts`: a change needs a migration.)
pub const REPEATED_REOPENINGS: i32 = 2;
/// Days within which the same author on the same topic counts as a repeat.
pub const REPEAT_WINDOW_DAYS: i64 = 30;

/// Words of escalation in a social post: the author threatens to go above the
/// administration (prosecutor, court, governor, the press, …). Matched by stem.
pub const ESCALATION_WORDS: &[&str] = &[
    "прокуратура",
    "прокурор",
    "суд",
    "губернатор",
    "СМИ",
    "журналист",
    "телевидение",
    "президент",
    "следственный",
    "Госдума",
    "депутат",
];

string_enum!(
    /// A sign of a conflict with the author.
    ConflictFlag {
        /// Reopened at least twice (the author is not satisfied again and again).
        RepeatedReopening => "REPEATED_REOPENING",
        /// The same author wrote on the same topic within 30 days before.
        RepeatAuthor => "REPEAT_AUTHOR",
        /// A social post (Инцидент менеджмент, Госпаблики) with words of escalation.
        Escalation => "ESCALATION",
    }
);

/// The stems of [`ESCALATION_WORDS`], as the search text stores words.
pub fn escalation_stems() -> Vec<String> {
    ESCALATION_WORDS.iter().map(|w| stem_word(&w.to_lowercase())).collect()
}

/// A social post: an incident from the monitoring system or a comment on the official pages.
pub fn is_social(channel: Channel) -> bool {
    matches!(channel, Channel::Incident | Channel::Gospabliki)
}

/// Whether `text` has a word of escalation (by stem, so «в прокуратуру», «до суда», «губернатору»).
/// A text with none of the stems anywhere in it (the most) is let go without stemming its
/// words: a token's stem is a prefix of its word in [`lowered`] text.
pub fn escalates(text: &str) -> bool {
    static STEMS: OnceLock<Vec<String>> = OnceLock::new();
    let stems = STEMS.get_or_init(escalation_stems);
    let low = lowered(text);
    stems.iter().any(|s| low.contains(s.as_str())) && tokens(text).iter().any(|t| stems.contains(t))
}

/// What the rules need of one appeal.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub channel: Channel,
    pub reopen_count: i32,
    pub text: &'a str,
    pub received_at: DateTime<Utc>,
    /// The author's key (normalised contact), if known.
    pub author: Option<&'a str>,
    pub category_id: Option<i64>,
}

/// An earlier appeal of some author: key, topic, receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earlier {
    pub author: String,
    pub category_id: i64,
    pub received_at: DateTime<Utc>,
}

/// The author's key: contact folded for comparison (case, spaces), none when empty.
pub fn author_key(contact: Option<&str>) -> Option<String> {
    let k: String = contact?.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect();
    (!k.is_empty()).then_some(k)
}

/// The flags of an appeal; `others` are other appeals (any order; the appeal itself may be
/// among them, as it is never earlier than itself).
pub fn flags(a: &Facts<'_>, others: &[Earlier]) -> Vec<ConflictFlag> {
    let mut out = Vec::new();
    if a.reopen_count >= REPEATED_REOPENINGS {
        out.push(ConflictFlag::RepeatedReopening);
    }
    if let (Some(author), Some(cat)) = (a.author, a.category_id) {
        let from = a.received_at - Duration::days(REPEAT_WINDOW_DAYS);
        if others.iter().any(|e| {
            e.author == author && e.category_id == cat && e.received_at < a.received_at && e.received_at >= from
        }) {
            out.push(ConflictFlag::RepeatAuthor);
        }
    }
    if is_social(a.channel) && escalates(a.text) {
        out.push(ConflictFlag::Escalation);
    }
    out
}

/// Memo recommendations from conflict counts per recipient: `(recipient name, appeals with a
/// flag, of them escalations, repeated reopenings)`; a recipient with at least `min` flagged
/// appeals gets one line.
pub fn recommendations(rows: &[(String, i64, i64, i64)], min: i64) -> Vec<String> {
    rows.iter()
        .filter(|(_, n, _, _)| *n >= min)
        .map(|(name, n, esc, reopen)| {
            let mut why = Vec::new();
            if *esc > 0 {
                why.push(format!("угрозы эскалации: {esc}"));
            }
            if *reopen > 0 {
                why.push(format!("повторные переоткрытия: {reopen}"));
            }
            let why = if why.is_empty() { String::new() } else { format!(" ({})", why.join(", ")) };
            format!(
                "«{name}»: конфликтных обращений {n}{why} — провести личный приём авторов или встречу, проверить ответы по существу"
            )
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, 3, 0, 0).unwrap()
    }

    fn facts(text: &str) -> Facts<'_> {
        Facts {
            channel: Channel::Incident,
            reopen_count: 0,
            text,
            received_at: at(31),
            author: Some("a@b.ru"),
            category_id: Some(7),
        }
    }

    #[test]
    fn escalation_words_match_by_stem_in_social_posts_only() {
        assert!(escalates("Буду писать в прокуратуру и губернатору"));
        assert!(escalates("дойду до суда"));
        assert!(escalates("обращусь в СМИ"));
        assert!(!escalates("Судно на реке, сударь")); // neither «суд» by stem
        assert_eq!(flags(&facts("пойду в суд"), &[]), vec![ConflictFlag::Escalation]);
        let email = Facts { channel: Channel::Email, ..facts("пойду в суд") };
        assert!(flags(&email, &[]).is_empty(), "an e-mail is not a social post");
    }

    #[test]
    fn the_substring_shortcut_agrees_with_stemming_every_word() {
        let stems = escalation_stems();
        let endings = [
            "", "а", "у", "ом", "е", "ы", "и", "ов", "ам", "ами", "ах", "ой", "ую", "ые", "ых", "ого", "ему", "ий",
            "ей", "ью", "ю", "ия", "ии", "ием", "ё", "ёй", "ьи",
        ];
        let mut n = 0;
        for w in ESCALATION_WORDS.iter().chain(&["Судно", "сударь", "СУДЬЯ", "Прокурорский", "губерния", "Дума"])
        {
            let cut: String = w.chars().take(w.chars().count() - 1).collect();
            for base in [w.to_string(), cut, w.to_uppercase()] {
                for e in endings {
                    let text = format!("Пишу: {base}{e}!");
                    let full = tokens(&text).iter().any(|t| stems.contains(t));
                    assert_eq!(escalates(&text), full, "{text}");
                    n += usize::from(full);
                }
            }
        }
        assert!(n > 100, "{n}");
    }

    #[test]
    fn two_reopenings_and_a_repeat_within_thirty_days_on_the_same_topic() {
        let twice = Facts { reopen_count: 2, ..facts("яма") };
        assert_eq!(flags(&twice, &[]), vec![ConflictFlag::RepeatedReopening]);
        assert!(flags(&Facts { reopen_count: 1, ..facts("яма") }, &[]).is_empty());
        let earlier = |day, cat| Earlier { author: "a@b.ru".into(), category_id: cat, received_at: at(day) };
        // 31 − 30 = 1 December is inside the window, the same topic.
        assert_eq!(flags(&facts("яма"), &[earlier(1, 7)]), vec![ConflictFlag::RepeatAuthor]);
        assert!(flags(&facts("яма"), &[earlier(1, 8)]).is_empty(), "another topic");
        let later = Facts { received_at: at(31) + Duration::days(1), ..facts("яма") };
        assert!(flags(&later, &[earlier(1, 7)]).is_empty(), "31 days before is outside");
        assert!(flags(&facts("яма"), &[Earlier { received_at: at(31), ..earlier(1, 7) }]).is_empty(), "itself");
        assert_eq!(author_key(Some(" A@B.ru ")).as_deref(), Some("a@b.ru"));
        assert_eq!(author_key(Some("  ")), None);
    }

    #[test]
    fn recommendations_name_recipients_over_the_threshold() {
        let rows = vec![("ЖКХ".to_string(), 3, 1, 2), ("Дороги".to_string(), 1, 0, 1)];
        let r = recommendations(&rows, 2);
        assert_eq!(r.len(), 1);
        assert!(r[0].contains("«ЖКХ»") && r[0].contains("эскалации: 1") && r[0].contains("переоткрытия: 2"));
    }
}
