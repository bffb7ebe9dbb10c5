//! Russian text normalisation shared by search, classification and
//! near-duplicate detection.
//!
//! Every text-based feature of the control centre (full-text search columns,
//! the topic classifier, duplicate detection) must see the same tokens, so the
//! pipeline lives in one place: lower-case, `ё` → `е`, split on anything that
//! is not a letter or digit, drop very short tokens and stop words, then reduce
//! Cyrillic words to their Snowball stem so that «батарея», «батареи» and
//! «батарей» become one feature.

use std::collections::HashSet;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

/// Words that carry no topic information in citizens' appeals: the common
/// Russian function words plus the politeness formulas that open most letters
/// («здравствуйте», «прошу», «пожалуйста»). Stored after `ё` → `е`.
pub const STOP_WORDS: &[&str] = &[
    "и",
    "в",
    "во",
    "не",
    "что",
    "он",
    "на",
    "я",
    "с",
    "со",
    "как",
    "а",
    "то",
    "все",
    "она",
    "так",
    "его",
    "но",
    "да",
    "ты",
    "к",
    "у",
    "же",
    "вы",
    "за",
    "бы",
    "по",
    "только",
    "ее",
    "мне",
    "было",
    "вот",
    "от",
    "меня",
    "еще",
    "нет",
    "о",
    "из",
    "ему",
    "теперь",
    "когда",
    "даже",
    "ну",
    "ли",
    "если",
    "уже",
    "или",
    "ни",
    "быть",
    "был",
    "него",
    "до",
    "вас",
    "нибудь",
    "опять",
    "уж",
    "вам",
    "ведь",
    "там",
    "потом",
    "себя",
    "ничего",
    "ей",
    "может",
    "они",
    "тут",
    "где",
    "есть",
    "надо",
    "ней",
    "для",
    "мы",
    "тебя",
    "их",
    "чем",
    "была",
    "сам",
    "чтоб",
    "без",
    "будто",
    "чего",
    "раз",
    "тоже",
    "себе",
    "под",
    "будет",
    "ж",
    "тогда",
    "кто",
    "этот",
    "того",
    "потому",
    "этого",
    "какой",
    "совсем",
    "ним",
    "здесь",
    "этом",
    "один",
    "почти",
    "мой",
    "тем",
    "чтобы",
    "нее",
    "были",
    "куда",
    "зачем",
    "всех",
    "никогда",
    "можно",
    "при",
    "наконец",
    "два",
    "об",
    "другой",
    "хоть",
    "после",
    "над",
    "больше",
    "тот",
    "через",
    "эти",
    "нас",
    "про",
    "всего",
    "них",
    "какая",
    "много",
    "разве",
    "три",
    "эту",
    "моя",
    "впрочем",
    "хорошо",
    "свою",
    "этой",
    "перед",
    "иногда",
    "лучше",
    "чуть",
    "том",
    "нельзя",
    "такой",
    "им",
    "более",
    "всегда",
    "конечно",
    "всю",
    "между",
    "просим",
    "прошу",
    "пожалуйста",
    "здравствуйте",
    "добрый",
    "день",
];

/// Minimum token length in characters; shorter tokens (single letters,
/// single digits) are noise for every consumer.
pub const MIN_TOKEN_CHARS: usize = 2;

fn stop_words() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| STOP_WORDS.iter().copied().collect())
}

fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::Russian))
}

/// Whether `word` (already lower-cased, `ё` replaced by `е`) is a stop word.
pub fn is_stop_word(word: &str) -> bool {
    stop_words().contains(word)
}

fn is_cyrillic(c: char) -> bool {
    matches!(c, '\u{0400}'..='\u{04FF}')
}

/// Reduces one normalised word to the form used as a feature: Cyrillic words
/// go through the Snowball Russian stemmer, anything containing Latin letters
/// or digits (street numbers, «ЖКХ-2», e-mail fragments) is kept verbatim,
/// because the Russian stemmer would only mangle it.
///
/// Snowball removes only one ending, so nouns in `-ея`/`-ей` split into two
/// stems («батарея», «батарею» → `батаре`, but «батарей», «батареи» →
/// `батар`; likewise «аллея», «музей», «идея»). A stem-final `е` left by
/// Snowball is therefore dropped as well when at least two characters remain.
pub fn stem_word(word: &str) -> String {
    if word.is_empty() || !word.chars().all(is_cyrillic) {
        return word.to_owned();
    }
    let mut stem = stemmer().stem(word).into_owned();
    if stem.ends_with('е') && stem.chars().count() >= 3 {
        stem.pop();
    }
    stem
}

/// Appends `c` lower-cased with `ё` → `е`: `char::to_lowercase`, with the Russian and ASCII
/// letters (nearly all of an appeal's text) mapped directly instead of through Unicode tables.
fn push_lower(out: &mut String, c: char) {
    match c {
        'А'..='Я' => out.push(char::from_u32(u32::from(c) + 0x20).unwrap_or(c)),
        'а'..='я' | '0'..='9' | 'a'..='z' | ' ' => out.push(c),
        'ё' | 'Ё' => out.push('е'),
        'A'..='Z' => out.push(c.to_ascii_lowercase()),
        _ => out.extend(c.to_lowercase().map(|c| if c == 'ё' { 'е' } else { c })),
    }
}

/// `text` lower-cased with `ё` → `е`, as [`tokens`] reads it before splitting. A token's stem
/// is a prefix of its word (the stemmer only cuts endings), so a stem that is not a substring
/// of this is no token of `text`.
pub fn lowered(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_lower(&mut out, c);
    }
    out
}

/// `char::is_alphanumeric`, answered without Unicode tables for Russian and ASCII.
fn is_word_char(c: char) -> bool {
    match c {
        'а'..='я' | 'А'..='Я' | 'ё' | 'Ё' | '0'..='9' | 'a'..='z' | 'A'..='Z' => true,
        _ if c.is_ascii() => false,
        _ => c.is_alphanumeric(),
    }
}

/// Splits `text` into normalised, stemmed tokens in their original order.
///
/// Steps: lower-case, `ё` → `е`, split on every non-alphanumeric character,
/// drop tokens shorter than [`MIN_TOKEN_CHARS`] and [`STOP_WORDS`], stem.
/// Order is preserved so callers can build n-grams.
pub fn tokens(text: &str) -> Vec<String> {
    lowered(text)
        .split(|c: char| !is_word_char(c))
        .filter(|w| w.chars().count() >= MIN_TOKEN_CHARS && !is_stop_word(w))
        .map(stem_word)
        .collect()
}

/// The stems of `text` joined by single spaces: a stable, inflection-free form
/// to store in full-text search columns and to match search queries against
/// (apply the same function to the query).
pub fn normalize_for_search(text: &str) -> String {
    tokens(text).join(" ")
}

/// Folds case, `ё` and spacing so names from exports match the rubricator.
pub fn normalize_name(s: &str) -> String {
    s.to_lowercase().replace('ё', "е").split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_paths_agree_with_unicode() {
        for c in (0..0x3000).filter_map(char::from_u32) {
            let mut fast = String::new();
            push_lower(&mut fast, c);
            let slow: String = c.to_lowercase().map(|c| if c == 'ё' { 'е' } else { c }).collect();
            assert_eq!(fast, slow, "lower case of {c:?}");
            assert_eq!(is_word_char(c), c.is_alphanumeric(), "{c:?}");
        }
    }

    #[test]
    fn word_forms_share_a_stem() {
        let forms = ["батарея", "батареи", "батарей", "Батареям", "БАТАРЕЮ"];
        let stems: HashSet<String> = forms.iter().flat_map(|w| tokens(w)).collect();
        assert_eq!(stems.len(), 1, "{stems:?}");
    }

    #[test]
    fn ея_nouns_are_merged() {
        for forms in [["аллея", "аллей", "аллеи"], ["музей", "музея", "музеем"]] {
            let stems: HashSet<String> = forms.iter().map(|w| stem_word(w)).collect();
            assert_eq!(stems.len(), 1, "{stems:?}");
        }
    }

    #[test]
    fn lowercases_replaces_yo_and_drops_stop_words() {
        let t = tokens("Здравствуйте! Прошу ЕЩЁ раз: во дворе ёлка и мусор, я жду.");
        assert!(!t.iter().any(|w| w == "еще" || w == "и" || w == "я"));
        assert!(t.contains(&stem_word("елка")));
        assert!(t.contains(&stem_word("мусор")));
        assert!(t.contains(&stem_word("двор")));
        assert!(!t.iter().any(|w| w.contains('ё')));
    }

    #[test]
    fn latin_and_numbers_are_kept_verbatim() {
        let t = tokens("Дом 15а, WiFi не работает; код 7 и PDF-файл");
        assert!(t.contains(&"15а".to_owned()));
        assert!(t.contains(&"wifi".to_owned()));
        assert!(t.contains(&"pdf".to_owned()));
        // Single-character tokens are dropped.
        assert!(!t.contains(&"7".to_owned()));
    }

    #[test]
    fn splits_on_punctuation_and_keeps_order() {
        let t = tokens("яма—на-дороге;асфальт");
        assert_eq!(t, vec![stem_word("яма"), stem_word("дороге"), stem_word("асфальт")]);
    }

    #[test]
    fn normalize_for_search_joins_stems() {
        assert_eq!(normalize_for_search(""), "");
        assert_eq!(normalize_for_search("и в на"), "");
        let a = normalize_for_search("Холодные батареи в квартире");
        let b = normalize_for_search("холодная батарея, квартира!");
        assert_eq!(a, b);
        assert!(!a.contains("  "));
    }
}
