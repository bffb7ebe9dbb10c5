//! Personal data in free text (issue 19, item 5): the masker that replaces what identifies a
//! person with a mark (`[телефон]`, `[e-mail]`) for viewers who do not handle the appeal and
//! for anonymised appeals.
//!
//! This first cut finds e-mail addresses and phone numbers; the other kinds the issue lists
//! (СНИЛС, ИНН, passports, bank cards, flats in addresses, person names) build on the same
//! entry points, `mask_text` and `mask_address`.

/// The mark that replaces an e-mail address.
pub const EMAIL: &str = "[e-mail]";
/// The mark that replaces a phone number.
pub const PHONE: &str = "[телефон]";

/// `text` with every e-mail address and phone number replaced by its mark.
pub fn mask_text(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some(end) = email_at(&chars, i) {
            out.push_str(EMAIL);
            i = end;
            continue;
        }
        if let Some(end) = phone_at(&chars, i) {
            out.push_str(PHONE);
            i = end;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// An address with its flat removed (`ул. Ленина, д. 5, кв. 12` → `ул. Ленина, д. 5`) and any
/// e-mail or phone in it masked: the street and the house stay, for the map and the rollups.
pub fn mask_address(address: &str) -> String {
    let masked = mask_text(address);
    let lower = masked.to_lowercase();
    let cut = ["кв.", "кв ", "квартира", "комн.", "комната"]
        .iter()
        .filter_map(|m| lower.find(m).filter(|&at| at == 0 || !lower[..at].ends_with(char::is_alphabetic)))
        .min();
    match cut {
        Some(at) => masked[..at].trim_end_matches(|c: char| c == ',' || c == ';' || c.is_whitespace()).to_string(),
        None => masked,
    }
}

fn is_local(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._%+-".contains(c)
}

/// The end of an e-mail address that starts at `i` (and not in the middle of a word).
fn email_at(chars: &[char], i: usize) -> Option<usize> {
    if !chars[i].is_ascii_alphanumeric() || (i > 0 && is_local(chars[i - 1])) {
        return None;
    }
    let mut j = i;
    while j < chars.len() && is_local(chars[j]) {
        j += 1;
    }
    if j >= chars.len() || chars[j] != '@' {
        return None;
    }
    let domain_start = j + 1;
    let mut k = domain_start;
    let mut dot = false;
    while k < chars.len() && (chars[k].is_alphanumeric() || chars[k] == '-' || chars[k] == '.') {
        if chars[k] == '.' {
            dot = true;
        }
        k += 1;
    }
    while k > domain_start && chars[k - 1] == '.' {
        k -= 1;
    }
    (dot && k > domain_start + 2).then_some(k)
}

/// The end of a phone number that starts at `i`: `+7`/`8` and ten digits, or a local number of
/// six or seven digits written in groups (`45-67-89`), with spaces, dashes and brackets between.
fn phone_at(chars: &[char], i: usize) -> Option<usize> {
    let c = chars[i];
    if !(c.is_ascii_digit() || c == '+' || c == '(') || (i > 0 && (chars[i - 1].is_alphanumeric())) {
        return None;
    }
    let mut digits = 0;
    let mut groups = 1;
    let mut j = i;
    let mut last_digit_end = i;
    while j < chars.len() {
        let c = chars[j];
        if c.is_ascii_digit() {
            digits += 1;
            j += 1;
            last_digit_end = j;
        } else if (c == ' ' || c == '-' || c == '(' || c == ')' || (c == '+' && j == i)) && digits <= 11 {
            if c != '+' && j > i && chars[j - 1].is_ascii_digit() {
                groups += 1;
            }
            j += 1;
        } else {
            break;
        }
        if digits > 11 {
            return None;
        }
    }
    if last_digit_end < chars.len() && chars[last_digit_end].is_alphanumeric() {
        return None;
    }
    let full = digits == 11 && (c == '+' || c == '8' || c == '(' || c == '7')
        || (digits == 10 && chars[i..last_digit_end].iter().any(|&c| c == '(' || c == '-'));
    let local = (6..=7).contains(&digits)
        && groups >= 3
        && chars[i..last_digit_end].iter().all(|&c| c.is_ascii_digit() || c == '-');
    (full || local).then_some(last_digit_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_mails_and_phones_in_every_usual_form_are_masked() {
        let text = "Пишите на ivan.petrov@mail.ru или звоните +7 (912) 345-67-89, 8-912-345-67-89, 89123456789, дома 45-67-89.";
        assert_eq!(mask_text(text), "Пишите на [e-mail] или звоните [телефон], [телефон], [телефон], дома [телефон].");
    }

    #[test]
    fn numbers_that_are_not_phones_stay() {
        for text in ["Дом 15, подъезд 2", "В 2024 году 120000 рублей", "с 10-00 до 18-00", "ул. 8 Марта, д. 12"]
        {
            assert_eq!(mask_text(text), text, "{text}");
        }
    }

    #[test]
    fn an_address_keeps_street_and_house_but_not_the_flat() {
        assert_eq!(mask_address("ул. Ленина, д. 5, кв. 12"), "ул. Ленина, д. 5");
        assert_eq!(mask_address("пр. Мира 10 квартира 3"), "пр. Мира 10");
        assert_eq!(mask_address("ул. Квартальная, 7"), "ул. Квартальная, 7");
    }
}
