//! Retention and the subject's rights (issue 19, items 6–7; 152-ФЗ ст. 5 ч. 7, ст. 14, 21):
//! when a closed appeal's personal data is due for removal, how a person is recognised by a
//! contact or a name, and how free text loses what identifies them. Pure rules: time and
//! data are passed in.

use chrono::{DateTime, Months, NaiveDate, TimeZone, Utc};

use super::lifecycle::AppealStatus;
use super::{masking, pii};

/// The mark that replaces removed personal data in free text and in history data.
pub const ERASED: &str = "[удалено]";

/// Keys of history data that hold free text written by or about the author.
const TEXT_KEYS: &[&str] = &["text", "answerText", "previousAnswer", "summary", "comment", "reason"];
/// Keys of history data that identify the author outright (a link to their post).
const ERASED_KEYS: &[&str] = &["url"];

/// The instant before which an appeal must have been closed (its last change made) to be
/// anonymised at `now`: local midnight of today minus `years` in the municipality's zone.
/// An appeal closed on 31 December 2021 (local) is kept through 31 December 2026 and
/// anonymised from 1 January 2027, local time, whatever the UTC date. A 29 February counts
/// to the 28th in a year without one.
pub fn cutoff(now: DateTime<Utc>, tz: chrono_tz::Tz, years: u32) -> DateTime<Utc> {
    let today = now.with_timezone(&tz).date_naive();
    let day = today.checked_sub_months(Months::new(years.saturating_mul(12))).unwrap_or(NaiveDate::MIN);
    let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&naive).earliest().map_or_else(|| Utc.from_utc_datetime(&naive), |t| t.with_timezone(&Utc))
}

/// A person's contact as given in a request, normalised: an e-mail address in lower case, or
/// a phone number as its digits without the country code or trunk prefix (`+7 (912)
/// 345-67-89`, `8-912-345-67-89` and `9123456789` are one number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    Email(String),
    Phone(String),
}

impl Contact {
    /// The contact of `s`, or `None` when it is neither an e-mail address nor a number of six
    /// or more digits (only digits, spaces, `+ - ( )`).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Some((local, domain)) = s.split_once('@') {
            let ok = !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace);
            return ok.then(|| Self::Email(s.to_lowercase()));
        }
        if !s.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)) {
            return None;
        }
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        (digits.len() >= 6).then(|| Self::Phone(phone_key(&digits)))
    }

    /// Whether a stored contact (free text: `ivan@mail.ru, +7 912 …`) holds this contact.
    pub fn found_in(&self, stored: &str) -> bool {
        match self {
            Self::Email(e) => stored
                .split(|c: char| c.is_whitespace() || ",;<>()".contains(c))
                .any(|w| w.trim_matches(|c: char| c == '.' || c == ':').to_lowercase() == *e),
            Self::Phone(p) => {
                // Runs of digits with the usual separators, each compared whole.
                let mut digits = String::new();
                let mut runs = Vec::new();
                for c in stored.chars().chain(std::iter::once(';')) {
                    if c.is_ascii_digit() {
                        digits.push(c);
                    } else if !" +-()".contains(c) && !digits.is_empty() {
                        runs.push(std::mem::take(&mut digits));
                    }
                }
                runs.iter().any(|r| r.len() >= 6 && phone_key(r) == *p)
            }
        }
    }
}

/// A number as compared: eleven digits starting with 7 or 8 lose that prefix (the country
/// code and the trunk prefix dial the same number); any other run of digits is itself.
fn phone_key(digits: &str) -> String {
    if digits.len() == 11 && (digits.starts_with('7') || digits.starts_with('8')) {
        digits[1..].to_string()
    } else {
        digits.to_string()
    }
}

/// Whether a change of an appeal's status (`from` → `to`) and of its count of repeated
/// reviews (`reviews_before` → `reviews_after`) reopens it: an appeal that was answered,
/// closed, left without an answer, redirected or marked duplicate goes back into work, or its
/// source counts one more repeated review.
pub fn reopens(from: AppealStatus, to: AppealStatus, reviews_before: i32, reviews_after: i32) -> bool {
    (!from.is_open() && to.is_open()) || reviews_after > reviews_before
}

/// Why an anonymised appeal is not reopened (by staff, by the author's rating, by its
/// source): its author's name and contact are gone, so nobody could be answered, and the
/// matter the author raises again is a new appeal with their data as they give them now.
pub fn reopening_refused(number: &str) -> String {
    format!(
        "the appeal {number} is anonymised (its author's personal data were removed after the retention term or on \
         request) and cannot be reopened; register the author's new request as a new appeal"
    )
}

/// The words of a name, normalised (lower case, `ё` as `е`), sorted: «Иванов Иван» and «иван
/// ИВАНОВ» are the same person's name.
pub fn name_key(name: &str) -> Vec<String> {
    let mut words: Vec<String> = name
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .map(|w| w.to_lowercase().replace('ё', "е"))
        .collect();
    words.sort();
    words
}

/// `text` with every occurrence of the `known` values (the author's name and contact as
/// stored, compared without regard to case) replaced by [`ERASED`], then masked by the
/// free-text masker ([`pii::mask_text`]).
pub fn scrub(text: &str, known: &[String]) -> String {
    pii::mask_text(&replace_known(text, known))
}

/// An address with the known values removed, its flat cut and e-mails and phones masked
/// ([`pii::mask_address`]): the street and the house stay, for the map.
pub fn scrub_address(address: &str, known: &[String]) -> String {
    pii::mask_address(&replace_known(address, known))
}

fn replace_known(text: &str, known: &[String]) -> String {
    let mut out: Vec<char> = text.chars().collect();
    for k in known {
        let k: Vec<char> = k.trim().chars().flat_map(char::to_lowercase).collect();
        // Short values (an initial) would cut ordinary words.
        if k.len() < 3 {
            continue;
        }
        let mut i = 0;
        let mut next = Vec::with_capacity(out.len());
        while i < out.len() {
            let hit = i + k.len() <= out.len()
                && out[i..i + k.len()].iter().zip(&k).all(|(a, b)| a.to_lowercase().eq(std::iter::once(*b)));
            if hit {
                next.extend(ERASED.chars());
                i += k.len();
            } else {
                next.push(out[i]);
                i += 1;
            }
        }
        out = next;
    }
    out.into_iter().collect()
}

/// Removes personal data from the data of an appeal's history entry: the author's fields
/// (under any key [`masking`] knows, at any depth) and links to their posts become
/// [`ERASED`], free text is [`scrub`]bed, addresses lose their flat. Returns whether anything
/// changed.
pub fn scrub_event_data(value: &mut serde_json::Value, known: &[String]) -> bool {
    let before = value.clone();
    masking::erase_personal_data(value, ERASED);
    walk(value, known);
    *value != before
}

fn walk(value: &mut serde_json::Value, known: &[String]) {
    match value {
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| walk(v, known)),
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    serde_json::Value::String(s) if ERASED_KEYS.contains(&key.as_str()) && !s.is_empty() => {
                        *s = ERASED.to_string();
                    }
                    serde_json::Value::String(s) if TEXT_KEYS.contains(&key.as_str()) => *s = scrub(s, known),
                    serde_json::Value::String(s) if key == "address" => *s = scrub_address(s, known),
                    other => walk(other, known),
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn the_cutoff_is_local_midnight_years_ago_in_the_municipalitys_zone() {
        let tz = chrono_tz::Asia::Krasnoyarsk;
        // 1 January 2027 00:30 local is still 31 December in UTC.
        assert_eq!(cutoff(at("2027-01-01T00:30:00+07:00"), tz, 5), at("2022-01-01T00:00:00+07:00"));
        assert_eq!(cutoff(at("2026-12-31T23:30:00+07:00"), tz, 5), at("2021-12-31T00:00:00+07:00"));
        assert_eq!(cutoff(at("2029-02-28T12:00:00+07:00"), tz, 1), at("2028-02-28T00:00:00+07:00"));
    }

    #[test]
    fn contacts_are_normalised_and_found_in_free_text() {
        let phone = Contact::parse("+7 (912) 345-67-89");
        assert_eq!(phone, Some(Contact::Phone("9123456789".into())));
        let phone = phone.unwrap_or(Contact::Phone(String::new()));
        for stored in ["8-912-345-67-89", "89123456789", "тел. 8 912 345 67 89, вечером", "a@b.ru; +79123456789"]
        {
            assert!(phone.found_in(stored), "{stored}");
        }
        assert!(!phone.found_in("8-912-345-67-80"));
        assert!(!phone.found_in("189123456789 0"), "a longer number is another one");
        let mail = Contact::parse(" Ivan.Petrov@Mail.RU ").unwrap_or(Contact::Phone(String::new()));
        assert!(mail.found_in("ivan.petrov@mail.ru"));
        assert!(mail.found_in("e-mail: IVAN.PETROV@mail.ru, тел. 45-67-89"));
        assert!(!mail.found_in("xivan.petrov@mail.ru"));
        assert_eq!(Contact::parse("ул. Ленина, 5"), None);
        assert_eq!(Contact::parse("12-34"), None);
    }

    #[test]
    fn going_back_into_work_or_one_more_review_reopens() {
        use AppealStatus as S;
        assert!(reopens(S::Closed, S::Reopened, 0, 0));
        assert!(reopens(S::Closed, S::InProgress, 0, 0));
        assert!(reopens(S::Answered, S::Received, 1, 1));
        assert!(reopens(S::Closed, S::Closed, 0, 1), "the source counts a repeated review");
        assert!(!reopens(S::Closed, S::Answered, 1, 1), "an answer status is not work again");
        assert!(!reopens(S::Closed, S::Closed, 2, 1));
        assert!(!reopens(S::InProgress, S::Assigned, 0, 0), "an open appeal is not reopened");
        assert!(reopening_refused("2021-000001").contains("2021-000001"));
        assert!(reopening_refused("2021-000001").contains("new appeal"));
    }

    #[test]
    fn names_match_in_any_order_case_and_yo() {
        assert_eq!(name_key("Семён  Иванов"), name_key("иванов СЕМЕН"));
        assert_ne!(name_key("Иван Иванов"), name_key("Иван Иванович Иванов"));
    }

    #[test]
    fn known_values_and_contacts_are_removed_from_free_text() {
        let known = vec!["Иван Петров".to_string(), "ivan@mail.ru".to_string()];
        assert_eq!(
            scrub("Я, иван петров, пишу: ivan@mail.ru, тел. 8-912-345-67-89", &known),
            "Я, [удалено], пишу: [удалено], тел. [телефон]"
        );
        assert_eq!(scrub_address("ул. Ленина, д. 5, кв. 12", &known), "ул. Ленина, д. 5");
    }

    #[test]
    fn history_data_loses_the_authors_fields_links_and_free_text() {
        let known = vec!["Анна Сидорова".to_string()];
        let mut data = serde_json::json!({
            "authorName": "Анна Сидорова",
            "authorContact": "anna@mail.ru",
            "url": "https://vk.com/wall-1_1",
            "text": "Пишет Анна Сидорова, 8-912-345-67-89",
            "previousAnswer": "Уважаемая Анна Сидорова!",
            "dueAt": "2026-11-25T10:00:00Z",
            "recipientId": 3
        });
        assert!(scrub_event_data(&mut data, &known));
        assert_eq!(
            data,
            serde_json::json!({
                "authorName": ERASED,
                "authorContact": ERASED,
                "url": ERASED,
                "text": "Пишет [удалено], [телефон]",
                "previousAnswer": "Уважаемая [удалено]!",
                "dueAt": "2026-11-25T10:00:00Z",
                "recipientId": 3
            })
        );
        let mut plain = serde_json::json!({"dueAt": "2026-11-25T10:00:00Z", "number": "2026-000123"});
        assert!(!scrub_event_data(&mut plain, &known));
    }
}
