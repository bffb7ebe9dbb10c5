//! Masking of an author's personal data for viewers who do not handle the appeal (59-ФЗ ст. 6).

/// `Иван Петрович Сидоров` → `И*** П*** С***`.
pub fn mask_name(name: &str) -> String {
    name.split_whitespace()
        .map(|w| w.chars().next().map(|c| format!("{c}***")).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
}

/// An e-mail keeps its first letter and domain (`i***@mail.ru`); a phone number its last two
/// digits (`***-**-67`); anything else (a postal address) only its first word.
pub fn mask_contact(contact: &str) -> String {
    let contact = contact.trim();
    if let Some((local, domain)) = contact.split_once('@') {
        let first = local.chars().next().map(String::from).unwrap_or_default();
        return format!("{first}***@{domain}");
    }
    let digits: Vec<char> = contact.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 6 && contact.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)) {
        let tail: String = digits[digits.len() - 2..].iter().collect();
        return format!("***-**-{tail}");
    }
    match contact.split_whitespace().next() {
        Some(first) => format!("{first} ***"),
        None => String::new(),
    }
}

/// Which of the author's personal data a key of event data names.
#[derive(Clone, Copy)]
enum Personal {
    Name,
    Contact,
    /// A free text (`text`, `summary`, `answerText`): masked by [`crate::domain::pii::mask_text`].
    Text,
    /// An appeal's address: its flat removed by [`crate::domain::pii::mask_address`].
    Address,
    /// A link to the author's post or comment (`url`): it leads to their name, so it is
    /// replaced by [`LINK`] as a whole.
    Link,
}

/// The mark of a link to the author's post shown to those who do not handle the appeal.
pub const LINK: &str = "[ссылка]";

/// `authorName`, `author_name`, `AuthorName` → a name; `authorContact` (and an author's
/// e-mail, phone or address) → a contact; `author` → what its texts are, a name unless a key
/// inside says otherwise; free texts of the history (`text`, `summary`, `answerText`, the
/// answer a reopening cleared as `previousAnswer`, a `comment` or `reason`) → a text; `url` →
/// a link.
fn personal_key(key: &str) -> Option<Personal> {
    let k: String = key.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    match k.as_str() {
        "author" | "authorname" | "authorfullname" => Some(Personal::Name),
        "authorcontact" | "authoremail" | "authorphone" | "authoraddress" => Some(Personal::Contact),
        "text" | "summary" | "answertext" | "previousanswer" | "comment" | "reason" => Some(Personal::Text),
        "address" => Some(Personal::Address),
        "url" => Some(Personal::Link),
        _ => None,
    }
}

/// Visits every non-blank text of `value` under a key that names the author's personal data,
/// at any depth (`{"authorName": …}`, `{"before": {"authorContact": …}}`, lists of them).
fn visit(value: &mut serde_json::Value, under: Option<Personal>, found: &mut dyn FnMut(&mut String, Personal)) {
    match value {
        serde_json::Value::String(s) => {
            if let Some(kind) = under
                && !s.trim().is_empty()
            {
                found(s, kind);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                visit(item, under, found);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                let kind = match (personal_key(key), under) {
                    // Inside an `author` object its `contact`, `email`, `phone` are contacts.
                    (_, Some(Personal::Name | Personal::Contact))
                        if ["contact", "email", "phone", "address"].contains(&key.to_lowercase().as_str()) =>
                    {
                        Some(Personal::Contact)
                    }
                    (kind, under) => kind.or(under),
                };
                visit(item, kind, found);
            }
        }
        _ => {}
    }
}

/// Masks the author's personal data in the data of an appeal's event as on the appeal itself
/// ([`mask_name`], [`mask_contact`]; free texts and addresses by the free-text masker);
/// returns whether there was any.
pub fn mask_personal_data(value: &mut serde_json::Value) -> bool {
    let mut any = false;
    visit(value, None, &mut |s, kind| {
        let masked = match kind {
            Personal::Name => mask_name(s),
            Personal::Contact => mask_contact(s),
            Personal::Text => crate::domain::pii::mask_text(s),
            Personal::Address => crate::domain::pii::mask_address(s),
            Personal::Link => LINK.to_string(),
        };
        if matches!(kind, Personal::Name | Personal::Contact | Personal::Link) || masked != *s {
            any = true;
            *s = masked;
        }
    });
    any
}

/// Replaces the author's name and contact in the data of an appeal's event (under the keys
/// [`mask_personal_data`] reads them from) by `mark`, for an anonymised appeal; returns
/// whether there was any. Free texts and addresses there are the caller's to mask.
pub fn erase_personal_data(value: &mut serde_json::Value, mark: &str) -> bool {
    let mut any = false;
    visit(value, None, &mut |s, kind| {
        // Free texts and addresses are masked, not erased, and links erased, by the caller:
        // what the texts say about the matter stays.
        if matches!(kind, Personal::Name | Personal::Contact) {
            any = true;
            *s = mark.to_string();
        }
    });
    any
}

/// Whether the data of an appeal's event holds the author's personal data.
pub fn holds_personal_data(value: &serde_json::Value) -> bool {
    mask_personal_data(&mut value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_data_is_masked_under_every_key_that_holds_the_authors_data() {
        let mut data = serde_json::json!({
            "authorName": "Иван Петров",
            "authorContact": "+7 (913) 123-45-67",
            "text": "Иван Петров пишет, тел. 8 912 345-67-89",
            "address": "ул. Мира, 3, кв. 7",
            "before": {"author_name": "Анна Сидорова", "authorContact": "anna@mail.ru"},
            "changes": [{"AuthorContact": "ул. Ленина, 5, кв. 12"}],
            "author": {"name": "Пётр Иванов", "email": "petr@mail.ru"},
            "previousAnswer": "Уважаемый Иван Петрович! Звоните, тел. 45-67-89",
            "url": "https://vk.com/wall-1_1?reply=7",
            "authorNameLength": 11,
            "empty": {"authorName": null}
        });
        assert!(holds_personal_data(&data));
        assert!(mask_personal_data(&mut data));
        assert_eq!(
            data,
            serde_json::json!({
                "authorName": "И*** П***",
                "authorContact": "***-**-67",
                "text": "[ФИО] пишет, тел. [телефон]",
                "address": "ул. Мира, 3",
                "before": {"author_name": "А*** С***", "authorContact": "a***@mail.ru"},
                "changes": [{"AuthorContact": "ул. ***"}],
                "author": {"name": "П*** И***", "email": "p***@mail.ru"},
                "previousAnswer": "Уважаемый [ФИО]! Звоните, тел. [телефон]",
                "url": LINK,
                "authorNameLength": 11,
                "empty": {"authorName": null}
            })
        );
        let mut none = serde_json::json!({"url": "", "authorName": null, "authorContact": " ",
            "changes": {"text": "Яма на ул. Ленина, 5", "address": "ул. Ленина, 5"}});
        assert!(!holds_personal_data(&none));
        assert!(!mask_personal_data(&mut none));
    }

    #[test]
    fn names_keep_initials_only() {
        assert_eq!(mask_name("Иван Петров"), "И*** П***");
        assert_eq!(mask_name("  Анна  "), "А***");
        assert_eq!(mask_name(""), "");
    }

    #[test]
    fn contacts_keep_little() {
        assert_eq!(mask_contact("ivan.petrov@mail.ru"), "i***@mail.ru");
        assert_eq!(mask_contact("+7 (913) 123-45-67"), "***-**-67");
        assert_eq!(mask_contact("г. Сорск, ул. Ленина, 5"), "г. ***");
        assert!(!mask_contact("ул. Ленина, 5, кв. 12").contains("12"));
    }
}
