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

#[cfg(test)]
mod tests {
    use super::*;

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
