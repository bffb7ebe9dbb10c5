//! The documents the centre hands to people who sign them: the weekly memo to the Head (DOCX and
//! its numbers as XLSX) and a roadmap (DOCX). One house style for all of them (see [`docx`]),
//! numbers written the Russian way (decimal comma, «—» for no value), charts drawn by the server
//! ([`charts`]).

pub mod charts;
pub mod docx;
pub mod meeting;
pub mod memo;
pub mod roadmap;
pub mod system_report;

use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entity::territory;
use crate::error::AppResult;

/// What a document shows where there is no value.
pub const DASH: &str = "—";
/// Letterhead of every document.
pub const CENTRE: &str = "Муниципальный центр управления";

/// `x` with `digits` decimals and a decimal comma («151,4»); never «-0,0».
pub fn decimal(x: f64, digits: usize) -> String {
    let s = format!("{x:.digits$}");
    let s = if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') { s[1..].to_string() } else { s };
    s.replace('.', ",").replacen('-', "\u{2212}", 1)
}

/// A whole number with its thousands separated by a no-break space («12 345»).
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{a0}');
        }
        out.push(c);
    }
    if n < 0 { format!("\u{2212}{out}") } else { out }
}

/// A share in `0..=1` as whole percent («86%»), or «—».
pub fn percent(rate: Option<f64>) -> String {
    rate.filter(|r| r.is_finite()).map_or_else(|| DASH.into(), |r| format!("{}%", decimal(r * 100.0, 0)))
}

/// A rating score in `0..=1` on the documents' one scale, 0–100, to one decimal.
pub fn score_100(score: Option<f64>) -> Option<f64> {
    score.filter(|s| s.is_finite()).map(|s| round(s * 100.0, 1))
}

/// `x` rounded to `digits` decimals, so that a workbook holds 1.8, not 1.7999999999999998.
pub fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

/// A date as `dd.mm.yyyy`.
pub fn date(d: NaiveDate) -> String {
    d.format("%d.%m.%Y").to_string()
}

/// A date as in a signature block: «05» декабря 2026 г.
pub fn long_date(d: NaiveDate) -> String {
    use chrono::Datelike;
    const MONTHS: [&str; 12] = [
        "января",
        "февраля",
        "марта",
        "апреля",
        "мая",
        "июня",
        "июля",
        "августа",
        "сентября",
        "октября",
        "ноября",
        "декабря",
    ];
    let month = MONTHS.get(d.month0() as usize).copied().unwrap_or_default();
    format!("«{:02}» {month} {} г.", d.day(), d.year())
}

/// Text with the decimal points of its numbers turned into commas: a run of digits with one
/// point inside («среднем 2.0») is a decimal; runs with more points (dates «09.12.2026»,
/// clause numbers «3.1.2») and points that end a sentence are left alone.
pub fn decimal_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
            i += 1;
        }
        // A trailing point belongs to the sentence, not to the number.
        let mut end = i;
        while end > start && chars[end - 1] == '.' {
            end -= 1;
        }
        let number: String = chars[start..end].iter().collect();
        let glued = start > 0 && (chars[start - 1].is_alphabetic() || chars[start - 1] == '.');
        if number.matches('.').count() == 1 && !glued {
            out.push_str(&number.replace('.', ","));
        } else {
            out.push_str(&number);
        }
        out.extend(&chars[end..i]);
    }
    out
}

/// The place named in the letterhead: the caller's own territory when it is limited to one,
/// else the municipality (the only top-level territory), else nothing.
///
/// # Errors
/// Database errors.
pub async fn place(conn: &impl ConnectionTrait, within: Option<i64>) -> AppResult<Option<String>> {
    if let Some(id) = within {
        return Ok(territory::Entity::find_by_id(id).one(conn).await?.map(|t| t.name));
    }
    let roots = territory::Entity::find().filter(territory::Column::ParentId.is_null()).all(conn).await?;
    Ok(match roots.as_slice() {
        [only] => Some(only.name.clone()),
        _ => None,
    })
}

#[cfg(test)]
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_with_a_decimal_comma() {
        assert_eq!(decimal(151.44, 1), "151,4");
        assert_eq!(decimal(2.0, 1), "2,0");
        assert_eq!(decimal(-0.04, 1), "0,0");
        assert_eq!(decimal(-12.25, 1), "\u{2212}12,2");
        assert_eq!(decimal(86.0, 0), "86");
        assert_eq!(percent(Some(0.862_069)), "86%");
        assert_eq!(percent(None), "—");
        assert_eq!(count(1_234_567), "1\u{a0}234\u{a0}567");
        assert_eq!(count(999), "999");
        assert_eq!(count(-1000), "\u{2212}1\u{a0}000");
    }

    #[test]
    fn scores_and_rounding() {
        assert_eq!(score_100(Some(0.862_069)), Some(86.2));
        assert_eq!(score_100(None), None);
        assert_eq!(round(5.4 / 3.0, 1), 1.8);
        assert_eq!(round(0.862_069, 4), 0.8621);
    }

    #[test]
    fn decimal_points_in_text_become_commas_but_dates_stay() {
        assert_eq!(
            decimal_commas("6 обращений при среднем 1.0; срок 09.12.2026, п. 3.1.2, итого 12."),
            "6 обращений при среднем 1,0; срок 09.12.2026, п. 3.1.2, итого 12."
        );
        assert_eq!(decimal_commas("рост 2.5."), "рост 2,5.");
        assert_eq!(decimal_commas("версия v1.2"), "версия v1.2", "a number glued to a word is a code");
        assert_eq!(decimal_commas("Ёлка 3.75 м"), "Ёлка 3,75 м");
    }

    #[test]
    fn long_dates_name_the_month() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap_or_default();
        assert_eq!(long_date(d), "«05» декабря 2026 г.");
        assert_eq!(date(d), "05.12.2026");
    }
}
