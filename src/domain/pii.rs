//! Personal data in free text (issue 19, item 5): the masker that replaces what identifies a
//! person with a mark (`[телефон]`, `[ФИО]`) for viewers who do not handle the appeal and for
//! anonymised appeals.
//!
//! What it finds, each with its mark ([`Kind::mark`]):
//! - e-mail addresses;
//! - numbers (a run of digit groups with spaces, dashes, brackets between), classified by their
//!   digits, their grouping and the keyword just before them (`тел.`, `СНИЛС`, `ИНН`,
//!   `паспорт`/`серия`, `карта`): phones (`+7`/`8` and ten digits, ten digits of a mobile or in
//!   brackets, local numbers in dashed groups `45-67-89`), СНИЛС (`123-456-789 01` or eleven
//!   digits after the keyword or with a valid check number), ИНН (ten or twelve digits after the
//!   keyword, or twelve with valid check digits), passports (`45 10 123456`, `4510 № 123456`),
//!   bank cards (16–19 digits passing the Luhn check). Dates, sums, years, times, house and
//!   appeal numbers and law articles (`59-ФЗ`, `ст. 12`) fit none of these shapes and stay;
//! - the flat part of an address (`кв. 12`, `квартира 45`, `комн. 3`): the street and the house
//!   stay;
//! - person names: a surname next to a first name or initials, a first name with a patronymic,
//!   in any case (`Ивановой Марии Петровны`, `Иванов И.И.`, `И. И. Иванов`, `иван петров`), or a
//!   surname after a word naming a person (`сосед Петров`). First names come from a bundled
//!   list (`pii/first_names.txt`, with diminutives), patronymics and surnames are told by
//!   their endings. A name that follows a street marker (`ул.`, `пр.`, `г.`, `им.`) is a place
//!   and stays (`ул. Николая Островского`).
//!
//! The precision and recall on the labelled corpus `tests/data/pii_corpus.txt` are printed by
//! `cargo test --lib pii::corpus -- --nocapture` and guarded by that test (README, «Personal
//! data in free text»).

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

/// What a found span is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A phone number.
    Phone,
    /// An e-mail address.
    Email,
    /// A СНИЛС (insurance number).
    Snils,
    /// An ИНН (taxpayer number).
    Inn,
    /// A passport's series and number.
    Passport,
    /// A bank card number.
    Card,
    /// The flat (or room) part of an address.
    Flat,
    /// A person's name.
    Name,
}

impl Kind {
    /// Every kind, in the order of reports.
    pub const ALL: [Kind; 8] =
        [Kind::Phone, Kind::Email, Kind::Snils, Kind::Inn, Kind::Passport, Kind::Card, Kind::Flat, Kind::Name];

    /// The mark that replaces a span of this kind.
    pub fn mark(self) -> &'static str {
        match self {
            Kind::Phone => PHONE,
            Kind::Email => EMAIL,
            Kind::Snils => "[СНИЛС]",
            Kind::Inn => "[ИНН]",
            Kind::Passport => "[паспорт]",
            Kind::Card => "[карта]",
            Kind::Flat => "[адрес]",
            Kind::Name => "[ФИО]",
        }
    }

    /// The short label of the kind in the labelled corpus (`⟦тел|…⟧`).
    pub fn label(self) -> &'static str {
        match self {
            Kind::Phone => "тел",
            Kind::Email => "email",
            Kind::Snils => "снилс",
            Kind::Inn => "инн",
            Kind::Passport => "паспорт",
            Kind::Card => "карта",
            Kind::Flat => "кв",
            Kind::Name => "фио",
        }
    }

    /// The kind of a corpus label.
    pub fn from_label(label: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.label() == label)
    }
}

/// The mark that replaces an e-mail address.
pub const EMAIL: &str = "[e-mail]";
/// The mark that replaces a phone number.
pub const PHONE: &str = "[телефон]";

/// A piece of personal data found in a text: byte offsets and kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset just past the last byte.
    pub end: usize,
    /// What it is.
    pub kind: Kind,
}

/// `text` with every piece of personal data replaced by its mark.
pub fn mask_text(text: &str) -> String {
    let spans = find(text);
    if spans.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for s in spans {
        out.push_str(&text[at..s.start]);
        out.push_str(s.kind.mark());
        at = s.end;
    }
    out.push_str(&text[at..]);
    out
}

/// An address with its flat removed (`ул. Ленина, д. 5, кв. 12` → `ул. Ленина, д. 5`) and any
/// other personal data in it masked: the street and the house stay, for the map and the rollups.
pub fn mask_address(address: &str) -> String {
    let cut = flats(address).first().map(|f| f.0).filter(|&at| at > 0);
    let kept = match cut {
        Some(at) => address[..at].trim_end_matches(|c: char| c == ',' || c == ';' || c.is_whitespace()),
        None => address,
    };
    mask_text(kept)
}

/// Every piece of personal data in `text`, in order, not overlapping.
pub fn find(text: &str) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    for m in EMAIL_RE.find_iter(text) {
        let before = text[..m.start()].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || "._%+-@".contains(c)) {
            continue;
        }
        spans.push(Span { start: m.start(), end: m.end(), kind: Kind::Email });
    }
    for (start, end) in flats(text) {
        if !overlaps(&spans, start, end) {
            spans.push(Span { start, end, kind: Kind::Flat });
        }
    }
    numbers(text, &mut spans);
    names(text, &mut spans);
    spans.sort();
    spans
}

/// The flats of `text` (`кв. 12`, `квартира 45б`), as byte ranges.
fn flats(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for m in FLAT.find_iter(text) {
        if text[..m.start()].chars().next_back().is_some_and(char::is_alphanumeric) {
            continue;
        }
        let mut end = m.end();
        let mut after = text[end..].chars();
        let (a, b) = (after.next(), after.next());
        // `в квартире 17,5 градусов`: a quantity, not a flat; `кв 12345`: not a flat number.
        if a.is_some_and(|c| c.is_ascii_digit())
            || (a.is_some_and(|c| c == ',' || c == '.') && b.is_some_and(|c| c.is_ascii_digit()))
        {
            continue;
        }
        // A letter of the flat (`12б`), when not the start of a word.
        if let Some(c) = a
            && matches!(c, 'а'..='г' | 'А'..='Г' | 'a'..='d')
            && !b.is_some_and(char::is_alphabetic)
        {
            end += c.len_utf8();
        } else if a.is_some_and(char::is_alphabetic) {
            continue;
        }
        out.push((m.start(), end));
    }
    out
}

fn overlaps(spans: &[Span], start: usize, end: usize) -> bool {
    spans.iter().any(|s| s.start < end && start < s.end)
}

static EMAIL_RE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a constant pattern, checked by the tests
    Regex::new(r"(?i)[a-z0-9][a-z0-9._%+-]*@[a-z0-9а-яё-]+(?:\.[a-z0-9а-яё-]+)*\.[a-zа-яё]{2,}").unwrap()
});

/// The flat part of an address. Word boundaries are checked by [`flats`]: a Unicode `\b` would
/// keep the regex off its fast engines on Cyrillic text.
static FLAT: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a constant pattern, checked by the tests
    Regex::new(r"(?i)(?:кв\.?|квартир(?:а|е|ы|у|ой)|комн\.?|комнат(?:а|е|ы|у))\s*№?\s*\d{1,4}").unwrap()
});

// ---------------------------------------------------------------------------------------------
// Numbers

/// The keyword nearest before a number, which decides what its digits are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hint {
    None,
    Phone,
    Snils,
    Inn,
    Passport,
    Card,
}

/// Keywords (lowercase) and what they announce; the nearest one before a number wins.
const HINTS: [(&str, Hint); 15] = [
    ("тел", Hint::Phone),
    ("моб", Hint::Phone),
    ("звон", Hint::Phone),
    ("номер", Hint::Phone),
    ("whatsapp", Hint::Phone),
    ("ватсап", Hint::Phone),
    ("вайбер", Hint::Phone),
    ("снилс", Hint::Snils),
    ("инн", Hint::Inn),
    ("паспорт", Hint::Passport),
    ("серия", Hint::Passport),
    ("серии", Hint::Passport),
    ("карт", Hint::Card),
    ("счет", Hint::Card),
    ("счёт", Hint::Card),
];

/// How far before a number (in bytes: 32 Cyrillic letters) a keyword counts.
const HINT_WINDOW: usize = 64;

/// Any of the [`HINTS`], whatever the case: one pass over the text finds them all.
static HINT_RE: LazyLock<Regex> = LazyLock::new(|| {
    let words: Vec<&str> = HINTS.iter().map(|(w, _)| *w).collect();
    #[allow(clippy::unwrap_used)] // built from constant words, checked by the tests
    Regex::new(&format!("(?i){}", words.join("|"))).unwrap()
});

/// Where each keyword of the text ends, and what it announces.
fn hints(text: &str) -> Vec<(usize, Hint)> {
    HINT_RE
        .find_iter(text)
        .filter_map(|m| {
            let word = fold(m.as_str());
            HINTS.iter().find(|(w, _)| *w == word).map(|(_, h)| (m.end(), *h))
        })
        .collect()
}

/// The keyword nearest before `at`, within the window.
fn hint_before(hints: &[(usize, Hint)], at: usize) -> Hint {
    hints
        .iter()
        .rev()
        .find(|(end, _)| *end <= at)
        .filter(|(end, _)| at - end <= HINT_WINDOW)
        .map_or(Hint::None, |(_, h)| *h)
}

/// A run of digit groups: the groups' byte ranges and the separators between them.
struct Run {
    /// Where the run starts, a leading `+` or `(` included.
    start: usize,
    groups: Vec<(usize, usize)>,
}

fn is_sep(c: char) -> bool {
    matches!(c, ' ' | '\u{a0}' | '-' | '–' | '(' | ')' | '№' | '+')
}

/// Splits `text` into runs of digit groups (outside spans found already) and classifies the
/// longest stretch of groups from each group on.
fn numbers(text: &str, spans: &mut Vec<Span>) {
    let bytes = text.as_bytes();
    if !bytes.iter().any(u8::is_ascii_digit) {
        return;
    }
    let hints = hints(text);
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A digit glued to a letter, or after a decimal point, a date's dot or a time's colon,
        // begins no number of ours.
        let prev = text[..i].chars().next_back();
        let prev2 = text[..i].chars().rev().nth(1);
        let glued = prev.is_some_and(char::is_alphabetic)
            || (prev.is_some_and(|c| ".,:/".contains(c)) && prev2.is_some_and(|c| c.is_ascii_digit()));
        let mut start = i;
        while start > 0 && (bytes[start - 1] == b'+' || bytes[start - 1] == b'(') {
            start -= 1;
        }
        let mut run = Run { start, groups: Vec::new() };
        let mut j = i;
        loop {
            let group_start = j;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            run.groups.push((group_start, j));
            // A separator: up to four separator characters, or the word «номер» between spaces.
            let mut k = j;
            let mut sep_chars = 0;
            for c in text[j..].chars() {
                if is_sep(c) && sep_chars < 4 {
                    k += c.len_utf8();
                    sep_chars += 1;
                } else {
                    break;
                }
            }
            if text[k..].starts_with("номер ") && sep_chars > 0 {
                k += "номер ".len();
            }
            if k > j && k < bytes.len() && bytes[k].is_ascii_digit() {
                j = k;
            } else {
                break;
            }
        }
        i = j;
        if glued {
            continue;
        }
        // The last group glued to a letter (`12а`, `5-й`) or continued by a decimal part is
        // not part of a number of ours.
        let after = text[j..].chars().next();
        let after2 = text[j..].chars().nth(1);
        let tail_glued = after.is_some_and(char::is_alphabetic)
            || (after.is_some_and(|c| ".,:/".contains(c)) && after2.is_some_and(|c| c.is_ascii_digit()));
        if tail_glued {
            run.groups.pop();
        }
        classify_run(text, &hints, &run, &mut found);
    }
    for s in found {
        if !overlaps(spans, s.start, s.end) {
            spans.push(s);
        }
    }
}

fn classify_run(text: &str, hints: &[(usize, Hint)], run: &Run, found: &mut Vec<Span>) {
    let g = run.groups.len();
    let mut a = 0;
    while a < g {
        let mut matched = false;
        let mut hint = None;
        for b in (a..g).rev() {
            let start = if a == 0 {
                run.start
            } else {
                let mut s = run.groups[a].0;
                while s > 0 && matches!(text.as_bytes()[s - 1], b'+' | b'(') {
                    s -= 1;
                }
                s
            };
            let end = run.groups[b].1;
            let hint = *hint.get_or_insert_with(|| hint_before(hints, start));
            if let Some(kind) = classify(text, &run.groups[a..=b], start, hint) {
                found.push(Span { start, end, kind });
                a = b + 1;
                matched = true;
                break;
            }
        }
        if !matched {
            a += 1;
        }
    }
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn snils_valid(d: &[u8]) -> bool {
    let sum: u32 = d[..9].iter().enumerate().map(|(i, &x)| u32::from(x) * (9 - i as u32)).sum();
    let check = match sum {
        s if s < 100 => s,
        100 | 101 => 0,
        s => (s % 101) % 100,
    };
    check == u32::from(d[9]) * 10 + u32::from(d[10])
}

fn inn_check(d: &[u8], weights: &[u32]) -> u8 {
    let sum: u32 = d.iter().zip(weights).map(|(&x, &w)| u32::from(x) * w).sum();
    ((sum % 11) % 10) as u8
}

fn inn_valid(d: &[u8]) -> bool {
    match d.len() {
        10 => inn_check(d, &[2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[9],
        12 => {
            inn_check(d, &[7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[10]
                && inn_check(d, &[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[11]
        }
        _ => false,
    }
}

/// What a stretch of digit groups is, if personal data.
fn classify(text: &str, groups: &[(usize, usize)], start: usize, hint: Hint) -> Option<Kind> {
    let digits: Vec<u8> = groups.iter().flat_map(|&(s, e)| text.as_bytes()[s..e].iter().map(|b| b - b'0')).collect();
    let lens: Vec<usize> = groups.iter().map(|&(s, e)| e - s).collect();
    let n = digits.len();
    let end = groups.last().map_or(start, |g| g.1);
    let body = &text[start..end];
    let seps: String = body.chars().filter(|c| !c.is_ascii_digit()).collect();
    let brackets = seps.contains('(') || seps.contains(')');
    let plus = body.starts_with('+');
    let dashes = seps.contains('-') || seps.contains('–');
    let only_spaces = seps.chars().all(|c| c == ' ' || c == '\u{a0}' || c == '№') && !seps.contains("номер");
    let first = digits.first().copied();

    if hint == Hint::Snils && n == 11 {
        return Some(Kind::Snils);
    }
    if hint == Hint::Inn && (n == 10 || n == 12) {
        return Some(Kind::Inn);
    }
    if hint == Hint::Passport && n == 10 {
        return Some(Kind::Passport);
    }
    if (16..=19).contains(&n)
        && luhn(&digits)
        && (hint == Hint::Card || lens.iter().all(|&l| l == 4) || lens.len() == 1)
    {
        return Some(Kind::Card);
    }
    if lens == [3, 3, 3, 2] && !brackets && !plus {
        return Some(Kind::Snils);
    }
    if n == 10 && !brackets && !plus && (lens == [4, 6] || lens == [2, 2, 6]) && (only_spaces || seps.contains("номер"))
    {
        return Some(Kind::Passport);
    }
    if n == 11
        && (first == Some(7) || first == Some(8))
        && !(lens.len() == 1 && snils_valid(&digits) && !plus && hint != Hint::Phone && first == Some(7))
    {
        return Some(Kind::Phone);
    }
    if n == 10 && (first == Some(9) || brackets || hint == Hint::Phone) && (lens.len() > 1 || first == Some(9)) {
        return Some(Kind::Phone);
    }
    if plus && (11..=13).contains(&n) {
        return Some(Kind::Phone);
    }
    if n == 12 && lens.len() == 1 && inn_valid(&digits) {
        return Some(Kind::Inn);
    }
    if n == 11 && lens.len() == 1 && snils_valid(&digits) {
        return Some(Kind::Snils);
    }
    if (5..=7).contains(&n) && !plus {
        let dashed = lens.len() >= 3 && lens[lens.len() - 1] == 2 && lens[lens.len() - 2] == 2 && lens[0] <= 3;
        if dashed && (dashes || hint == Hint::Phone) && !brackets {
            return Some(Kind::Phone);
        }
        if hint == Hint::Phone && lens.len() == 1 && n >= 6 {
            return Some(Kind::Phone);
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Names

/// First names in every case, lowercase with ё as е; and those that are also common words.
struct Names {
    all: HashSet<String>,
    ambiguous: HashSet<String>,
}

static NAMES: LazyLock<Names> = LazyLock::new(|| {
    let mut all = HashSet::new();
    let mut ambiguous = HashSet::new();
    for line in include_str!("pii/first_names.txt").lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, amb) = match line.strip_suffix('*') {
            Some(n) => (n, true),
            None => (line, false),
        };
        let name = fold(name);
        for form in declined(&name) {
            if amb {
                ambiguous.insert(form.clone());
            }
            all.insert(form);
        }
    }
    Names { all, ambiguous }
});

/// Lowercase, ё as е (Cyrillic and ASCII by hand, the rest through Unicode's tables).
fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        match c {
            'А'..='Я' => out.push(char::from_u32(c as u32 + 32).unwrap_or(c)),
            'ё' | 'Ё' => out.push('е'),
            'а'..='я' | 'a'..='z' | '-' => out.push(c),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// The case forms of a first name (lowercase nominative).
fn declined(name: &str) -> Vec<String> {
    let mut forms = vec![name.to_string()];
    let stem = |n: usize| name.chars().take(name.chars().count().saturating_sub(n)).collect::<String>();
    let with = |s: &str, ends: &[&str]| ends.iter().map(|e| format!("{s}{e}")).collect::<Vec<_>>();
    let last = name.chars().last();
    if name.ends_with("ия") {
        forms.extend(with(&stem(1), &["и", "ю", "ей", "ею"]));
    } else if last == Some('а') {
        forms.extend(with(&stem(1), &["ы", "и", "е", "у", "ой", "ою"]));
    } else if last == Some('я') {
        forms.extend(with(&stem(1), &["и", "е", "ю", "ей", "ею"]));
    } else if last == Some('й') {
        forms.extend(with(&stem(1), &["я", "ю", "ем", "е"]));
    } else if last == Some('ь') {
        forms.extend(with(&stem(1), &["я", "ю", "ем", "е", "и", "ью"]));
    } else if last.is_some_and(|c| !"оеиуыэю".contains(c)) {
        forms.extend(with(name, &["а", "у", "ом", "ем", "е"]));
    }
    forms
}

static PATRONYMIC: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a constant pattern, checked by the tests
    Regex::new(r"^[а-я]{2,}(?:(?:ович|евич|ьич|ыч|еич)(?:а|у|ем|е)?|(?:овн|евн|ичн)(?:а|ы|е|у|ой|ою))$").unwrap()
});

static SURNAME: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a constant pattern, checked by the tests
    Regex::new(
        r"^[а-я]{2,}(?:(?:ов|ев|ин|ын)(?:а|у|ым|ой|е|ых|ыми|ою)?|(?:ск|цк)(?:ий|ого|ому|им|ом|ая|ой|ую|ие|их|ими)|енко|ук|юк|ых|их|ман|берг|штейн|дзе|швили|ян|ая)(?:-[а-я]+)?$",
    )
    .unwrap()
});

/// Words after which a name is a place (`ул. Ленина`, `им. Гагарина`) or an organisation.
const PLACE_MARKERS: &[&str] = &[
    "ул",
    "улица",
    "улице",
    "улицы",
    "улицу",
    "улицей",
    "пр",
    "пр-т",
    "пр-кт",
    "проспект",
    "проспекта",
    "проспекте",
    "проспекту",
    "пер",
    "переулок",
    "переулке",
    "переулка",
    "пл",
    "площадь",
    "площади",
    "б-р",
    "бульвар",
    "бульвара",
    "бульваре",
    "ш",
    "шоссе",
    "г",
    "город",
    "города",
    "городе",
    "мкр",
    "мкр-н",
    "микрорайон",
    "микрорайона",
    "микрорайоне",
    "пос",
    "п",
    "поселок",
    "поселке",
    "с",
    "село",
    "селе",
    "д",
    "дер",
    "деревня",
    "деревне",
    "им",
    "имени",
    "наб",
    "набережная",
    "набережной",
    "проезд",
    "проезде",
    "проезда",
    "тракт",
    "тракте",
    "тракта",
    "р-н",
    "район",
    "района",
    "районе",
    "ост",
    "остановка",
    "остановке",
    "остановки",
    "тупик",
    "сквер",
    "сквере",
    "парк",
    "парке",
    "жк",
    "тц",
    "трц",
    "снт",
    "ст",
    "станция",
    "станции",
    "метро",
    "аллея",
    "аллее",
    "мост",
    "моста",
    "мосту",
    "памятник",
    "памятника",
    "памятнику",
];

/// Titles inside street names (`ул. Маршала Жукова`).
const TITLES: &[&str] =
    &["маршала", "генерала", "академика", "героя", "космонавта", "адмирала", "профессора", "писателя", "поэта"];

/// Words naming a person, after which a surname alone is a name (`сосед Петров`).
const PERSON_WORDS: &[&str] = &[
    "гражданин",
    "гражданина",
    "гражданка",
    "гражданки",
    "гр",
    "сосед",
    "соседа",
    "соседу",
    "соседом",
    "соседка",
    "соседки",
    "соседке",
    "соседкой",
    "мастер",
    "мастера",
    "участковый",
    "участкового",
    "инспектор",
    "инспектора",
    "председатель",
    "председателя",
    "старший",
    "старшая",
    "депутат",
    "депутата",
    "директор",
    "директора",
    "водитель",
    "водителя",
    "кондуктор",
    "начальник",
    "начальника",
    "г-н",
    "г-жа",
    "господин",
    "госпожа",
    "сотрудник",
    "сотрудника",
    "жилец",
    "жильца",
    "собственник",
    "собственника",
    "дворник",
    "дворника",
    "управляющий",
    "врач",
    "врача",
    "фамилия",
    "фамилией",
    "заявитель",
    "заявителя",
    "прораб",
    "бригадир",
    "бригадира",
    "учитель",
    "учителя",
    "диспетчер",
    "диспетчера",
    "пенсионерка",
    "пенсионер",
    "инженер",
    "инженера",
    "специалист",
    "специалиста",
    "глава",
    "главы",
    "бабушка",
    "бабушки",
    "дедушка",
    "дедушки",
    "мать",
    "отец",
    "мастеру",
    "депутату",
    "собственнику",
    "инспектору",
    "участковому",
    "водителю",
    "директору",
    "сотруднику",
    "соседу",
    "соседке",
    "гражданину",
    "гражданке",
    "начальнику",
    "председателю",
    "дворнику",
    "врачу",
    "заявителю",
];

/// Beginnings of common words that end as surnames do (`Уважаемая`, `Дорогая`).
const NOT_SURNAMES: &[&str] = &["уважаем", "дорог", "какая", "такая", "другая", "каждая", "любая"];

/// A word of the text for the name finder.
struct Token {
    start: usize,
    end: usize,
    /// Lowercase, ё as е.
    low: String,
    cap: bool,
    /// A single capital letter with its dot (`И.`).
    initial: bool,
    /// The text between the previous token and this one.
    gap_ws: bool,
}

fn tokens(text: &str) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::new();
    let mut it = text.char_indices().peekable();
    let mut prev_end = 0;
    while let Some((i, c)) = it.next() {
        if !is_cyr(c) {
            continue;
        }
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = it.peek() {
            let next_is_cyr = text[j + d.len_utf8()..].chars().next().is_some_and(is_cyr);
            if is_cyr(d) || (d == '-' && next_is_cyr) {
                end = j + d.len_utf8();
                it.next();
            } else {
                break;
            }
        }
        let word = &text[i..end];
        let cap = c.is_uppercase();
        let one = word.chars().count() == 1;
        let mut tend = end;
        let initial = one && cap && text[end..].starts_with('.');
        if initial {
            tend += 1;
            it.next();
        }
        let gap = &text[prev_end..i];
        out.push(Token {
            start: i,
            end: tend,
            low: fold(word),
            cap,
            initial,
            gap_ws: gap.chars().all(char::is_whitespace),
        });
        prev_end = tend;
    }
    out
}

fn is_cyr(c: char) -> bool {
    matches!(c, 'а'..='я' | 'А'..='Я' | 'ё' | 'Ё')
}

/// What a token may be in a name.
#[derive(Clone, Copy)]
struct Role {
    first: bool,
    /// A first name that counts only beside a patronymic or a capitalised surname.
    weak_first: bool,
    patronymic: bool,
    surname: bool,
    initial: bool,
    /// A capitalised word of two letters or more (a surname beside initials).
    capital: bool,
}

fn role(t: &Token) -> Role {
    if t.initial {
        return Role {
            first: false,
            weak_first: false,
            patronymic: false,
            surname: false,
            initial: true,
            capital: false,
        };
    }
    let known = NAMES.all.contains(&t.low);
    let ambiguous = NAMES.ambiguous.contains(&t.low);
    let long = t.low.chars().count() >= 2;
    Role {
        first: known && !ambiguous,
        weak_first: known && ambiguous && t.cap,
        patronymic: long && PATRONYMIC.is_match(&t.low),
        surname: long
            && t.low.chars().count() >= 4
            && !NOT_SURNAMES.iter().any(|w| t.low.starts_with(w))
            && SURNAME.is_match(&t.low),
        initial: false,
        capital: t.cap && long && !PLACE_MARKERS.contains(&t.low.as_str()),
    }
}

/// The number of tokens from `i` that make a name, if any.
fn name_at(toks: &[Token], roles: &[Role], i: usize) -> Option<usize> {
    let count = toks.len();
    let adj = |k: usize| k < count && toks[k].gap_ws;
    let role_of = |k: usize| roles[k];
    let cap = |k: usize| toks[k].cap;
    let first = |k: usize| role_of(k).first || role_of(k).weak_first;
    // Three tokens.
    if i + 2 < count && adj(i + 1) && adj(i + 2) {
        let (r0, r1, r2) = (role_of(i), role_of(i + 1), role_of(i + 2));
        if r0.surname && first(i + 1) && r2.patronymic {
            return Some(3);
        }
        if first(i) && r1.patronymic && (r2.surname && (cap(i + 2) || !cap(i))) {
            return Some(3);
        }
        if r0.initial && r1.initial && r2.capital {
            return Some(3);
        }
        if r0.capital && r1.initial && r2.initial {
            return Some(3);
        }
    }
    if i + 1 < count && adj(i + 1) {
        let (r0, r1) = (role_of(i), role_of(i + 1));
        if first(i) && r1.patronymic && (cap(i) == cap(i + 1)) {
            return Some(2);
        }
        if r0.surname && (r1.first || r1.weak_first && cap(i)) && (cap(i) == cap(i + 1)) {
            return Some(2);
        }
        if (r0.first || r0.weak_first && cap(i + 1)) && r1.surname && (cap(i) == cap(i + 1)) {
            return Some(2);
        }
        if r0.initial && r1.capital {
            return Some(2);
        }
        if r0.capital && r1.initial && role_of(i).surname {
            return Some(2);
        }
    }
    if i > 0 && toks[i].gap_ws && role_of(i).surname && cap(i) && PERSON_WORDS.contains(&toks[i - 1].low.as_str()) {
        return Some(1);
    }
    None
}

/// Whether the token before `i` (skipping a title) marks a place: `ул. Ленина`, `улица Ленина`;
/// a one-letter marker only with its dot (`г. Тюмень`, not `с Павлом`), a word longer than an
/// abbreviation only without one (`сквер. Лебедева` ends a sentence).
fn after_place(text: &str, toks: &[Token], i: usize) -> bool {
    let mut k = i;
    let mut next_start = toks[i].start;
    while k > 0 {
        k -= 1;
        let t = &toks[k];
        let low = t.low.as_str();
        if TITLES.contains(&low) {
            next_start = t.start;
            continue;
        }
        if t.initial || !PLACE_MARKERS.contains(&low) {
            return false;
        }
        let gap = &text[t.end..next_start];
        let dot = gap.contains('.');
        let len = low.chars().count();
        return gap.chars().all(|c| c == '.' || c.is_whitespace()) && (len > 1 || dot) && (len <= 4 || !dot);
    }
    false
}

fn names(text: &str, spans: &mut Vec<Span>) {
    let toks = tokens(text);
    let roles: Vec<Role> = toks.iter().map(role).collect();
    let mut i = 0;
    let mut found = Vec::new();
    while i < toks.len() {
        match name_at(&toks, &roles, i) {
            Some(len) if after_place(text, &toks, i) => i += len,
            Some(len) => {
                found.push(Span { start: toks[i].start, end: toks[i + len - 1].end, kind: Kind::Name });
                i += len;
            }
            None => i += 1,
        }
    }
    for s in found {
        if !overlaps(spans, s.start, s.end) {
            spans.push(s);
        }
    }
}

#[cfg(test)]
mod corpus;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_mails_and_phones_in_every_usual_form_are_masked() {
        let text = "Пишите на ivan.petrov@mail.ru или звоните +7 (912) 345-67-89, 8-912-345-67-89, 89123456789, дома 45-67-89.";
        assert_eq!(mask_text(text), "Пишите на [e-mail] или звоните [телефон], [телефон], [телефон], дома [телефон].");
    }

    #[test]
    fn numbers_that_are_not_personal_data_stay() {
        for text in [
            "Дом 15, подъезд 2",
            "В 2024 году 120000 рублей",
            "с 10-00 до 18-00",
            "ул. 8 Марта, д. 12",
            "Обращение № 2026-000123 от 12.03.2026",
            "по 59-ФЗ ст. 12 ч. 1, штраф 1 500 000 руб.",
            "в 10:30 автобус 35",
            "ГОСТ Р 52289-2019, 30 кв. м",
        ] {
            assert_eq!(mask_text(text), text, "{text}");
        }
    }

    #[test]
    fn documents_and_cards_get_their_marks() {
        assert_eq!(mask_text("СНИЛС 112-233-445 95"), "СНИЛС [СНИЛС]");
        assert_eq!(mask_text("мой ИНН 500100732259"), "мой ИНН [ИНН]");
        assert_eq!(mask_text("паспорт 45 10 123456"), "паспорт [паспорт]");
        assert_eq!(mask_text("серия 4510 номер 123456"), "серия [паспорт]");
        assert_eq!(mask_text("карта 4276 3800 1234 5679"), "карта [карта]");
        // Not a card: fails the Luhn check.
        assert_eq!(mask_text("номер 4276 3800 1234 5678"), "номер 4276 3800 1234 5678");
    }

    #[test]
    fn names_in_every_form_are_masked_and_streets_are_not() {
        assert_eq!(mask_text("жалоба Ивановой Марии Петровны"), "жалоба [ФИО]");
        assert_eq!(mask_text("Иванов И.И. и И. И. Петров"), "[ФИО] и [ФИО]");
        assert_eq!(mask_text("звонил иван петров"), "звонил [ФИО]");
        assert_eq!(mask_text("сосед Сидоров шумит"), "сосед [ФИО] шумит");
        assert_eq!(mask_text("ул. Николая Островского, 5"), "ул. Николая Островского, 5");
        assert_eq!(mask_text("на Ленина возле магазина"), "на Ленина возле магазина");
        assert_eq!(mask_text("Вера в лучшее и Надежда Сергеевна"), "Вера в лучшее и [ФИО]");
    }

    #[test]
    fn an_address_keeps_street_and_house_but_not_the_flat() {
        assert_eq!(mask_address("ул. Ленина, д. 5, кв. 12"), "ул. Ленина, д. 5");
        assert_eq!(mask_address("пр. Мира 10 квартира 3"), "пр. Мира 10");
        assert_eq!(mask_address("ул. Квартальная, 7"), "ул. Квартальная, 7");
        assert_eq!(mask_text("живу на ул. Ленина, д. 5, кв.12"), "живу на ул. Ленина, д. 5, [адрес]");
    }
}
