//! Comments under the administration's official pages (Госпаблики) as the VK API gives them:
//! the JSON of `wall.getComments` (with `extended=1` its `profiles` and `groups` name the
//! authors), or an export of it. Pure: bytes in, one `Result` per comment out.
//!
//! # Shapes accepted
//! - `{"response": {"items": [...], "profiles": [...], "groups": [...]}}` (the API's answer);
//! - the same without `response`, or a list of such pages (one per post, as a script that
//!   walks the page's posts writes them), or a bare list of comments;
//! - a page may carry the `owner_id` and `post_id` of its post when its comments do not.
//!
//! Each comment is an item with `id`, `from_id`, `date` (Unix time), `text`, `post_id` and
//! `owner_id`; its replies are in `thread.items`, nested to any depth within the limit. The
//! external id is the post and the comment, `wall{owner_id}_{post_id}?reply={id}`, the same
//! as a table's post link and comment id give, so a JSON and a table of the same comments
//! are one set of messages. A comment marked `deleted`, one without text, and one written by
//! the page itself are skipped with the reason; a reply of the page in a comment's thread is
//! that comment's answer (its text and date).
//!
//! # Limits
//! Before anything is parsed the bytes are scanned once: at most [`MAX_JSON_BYTES`] (and the
//! unpacked-size setting), nesting at most [`MAX_JSON_DEPTH`] deep, no number longer than
//! [`MAX_NUMBER_CHARS`] characters; the comments are counted against the row limit before any
//! row is built. Rows are numbered in document order (a comment, then its replies), from 1;
//! a row's error names the JSON path of the field (`response.items[2].thread.items[0].date`).

use std::collections::HashMap;

use chrono::{DateTime, Datelike, FixedOffset};
use serde_json::Value;

use super::{FileError, ImportRow, RowError};
use crate::domain::xlsx_guard::{ImportLimits, size_text};

/// Largest JSON file (or `MCU_IMPORT_MAX_UNPACKED_BYTES`, when smaller): the parsed document
/// is held whole, a few times the size of its text.
pub const MAX_JSON_BYTES: u64 = 64 << 20;
/// Deepest nesting of objects and arrays (a VK answer with replies and attachments is about
/// twelve deep).
pub const MAX_JSON_DEPTH: usize = 32;
/// Longest number literal: a VK id or a Unix time has at most 20 digits.
pub const MAX_NUMBER_CHARS: usize = 32;

/// The channel of every comment.
pub const CHANNEL: &str = "GOSPABLIKI";
/// Comments under the official pages are messages (DOMAIN.md, «Госпаблики»).
pub const KIND: &str = "MESSAGE";
/// Reason of a skipped deleted comment.
pub const DELETED: &str = "комментарий удалён";
/// Reason of a skipped comment without text.
pub const EMPTY: &str = "комментарий без текста";
/// Reason of a skipped comment of the page itself.
pub const OWN: &str = "комментарий самой страницы (ответ администрации)";

/// Whether the bytes are JSON (after a byte-order mark and whitespace, `{` or `[`).
pub fn looks_like_json(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| matches!(b, b'{' | b'['))
}

/// The external id of a comment: `wall-123_45?reply=67`.
pub fn external_id(owner: i64, post: i64, comment: i64) -> String {
    format!("wall{owner}_{post}?reply={comment}")
}

/// The link to a comment (with its thread for a reply).
pub fn comment_link(owner: i64, post: i64, comment: i64, thread: Option<i64>) -> String {
    match thread {
        Some(t) => format!("https://vk.com/wall{owner}_{post}?reply={comment}&thread={t}"),
        None => format!("https://vk.com/wall{owner}_{post}?reply={comment}"),
    }
}

/// The profile link of an author: a person (`id…`) or a community (`club…`).
pub fn profile_link(from_id: i64) -> String {
    if from_id < 0 {
        format!("https://vk.com/club{}", from_id.unsigned_abs())
    } else {
        format!("https://vk.com/id{from_id}")
    }
}

/// The wall owner and post of a post link: `https://vk.com/wall-123_45`,
/// `vk.com/sorsk?w=wall-123_45`, `https://m.vk.com/wall-123_45?reply=6`, or `wall-123_45`.
pub fn post_of_link(link: &str) -> Option<(i64, i64)> {
    let at = link.find("wall")?;
    let rest = &link[at + 4..];
    let owner_end = rest.find('_')?;
    let owner: i64 = rest[..owner_end].parse().ok()?;
    let digits: String = rest[owner_end + 1..].chars().take_while(char::is_ascii_digit).collect();
    let post: i64 = digits.parse().ok()?;
    (owner != 0 && post > 0).then_some((owner, post))
}

/// A comment id as a table writes it: a positive integer (`67`, `67.0` from a number cell,
/// or a comment link ending in `reply=67`).
pub fn comment_id_of(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let raw = raw.rsplit_once("reply=").map_or(raw, |(_, id)| id.split('&').next().unwrap_or(id));
    let raw = raw.strip_suffix(".0").unwrap_or(raw);
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

/// The author's VK id from a table cell: a number (`123`, `-456` for a community) or a profile
/// link (`https://vk.com/id123`, `vk.com/club456`, `vk.com/public456`).
pub fn author_id_of(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(id) = raw.strip_suffix(".0").unwrap_or(raw).parse::<i64>() {
        return Some(id);
    }
    let tail = raw.rsplit('/').next()?;
    let number = |prefix: &str| tail.strip_prefix(prefix).and_then(|n| n.parse::<i64>().ok());
    number("id").or_else(|| number("club").or_else(|| number("public")).map(|n| -n))
}

/// Checks the raw bytes against the limits before they are parsed, in one pass with constant
/// memory: size, depth of nesting, length of number literals.
fn guard(bytes: &[u8], limits: &ImportLimits) -> Result<(), FileError> {
    let max = MAX_JSON_BYTES.min(limits.max_unpacked_bytes);
    if bytes.len() as u64 > max {
        return Err(FileError::Limit(format!(
            "файл JSON больше {} (MCU_IMPORT_MAX_UNPACKED_BYTES, не больше {})",
            size_text(max),
            size_text(MAX_JSON_BYTES)
        )));
    }
    let (mut depth, mut in_string, mut escaped, mut number) = (0usize, false, false, 0usize);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
            number += 1;
            if number > MAX_NUMBER_CHARS {
                return Err(FileError::Limit(format!("в файле есть число длиннее {MAX_NUMBER_CHARS} знаков")));
            }
            continue;
        }
        number = 0;
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(FileError::Limit(format!("вложенность JSON глубже {MAX_JSON_DEPTH} уровней")));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses a JSON export of VK comments. `Err` for a file-level problem (nothing is imported),
/// otherwise one entry per comment, replies included, in document order.
///
/// # Errors
/// A limit, JSON that cannot be parsed, an error answer of the API, no list of comments, or
/// more comments than the row limit.
pub fn parse_json(bytes: &[u8], limits: &ImportLimits) -> Result<Vec<Result<ImportRow, RowError>>, FileError> {
    guard(bytes, limits)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| FileError::Corrupted(format!("JSON: {e}")))?;
    let mut pages = Vec::new();
    collect_pages(&doc, String::new(), Post::default(), &mut pages)?;
    if pages.is_empty() {
        return Err(FileError::NotVkExport("нет списка комментариев (items)".into()));
    }
    let total: usize = pages.iter().map(|p| count(p.items)).sum();
    if total > limits.max_rows {
        return Err(FileError::TooManyRows(limits.max_rows));
    }
    let mut out = Vec::with_capacity(total);
    for page in &pages {
        let authors = Authors::of(page.holder);
        for (i, item) in page.items.iter().enumerate() {
            let path = format!("{}[{i}]", page.path);
            walk(item, &path, page.post, None, &authors, &mut out);
        }
    }
    Ok(out)
}

/// The post a comment belongs to, as far as its enclosing objects tell.
#[derive(Clone, Copy, Default)]
struct Post {
    owner: Option<i64>,
    post: Option<i64>,
}

impl Post {
    /// This object's `owner_id` and `post_id` over the enclosing ones.
    fn within(self, object: &Value) -> Self {
        Self {
            owner: integer(object.get("owner_id")).or(self.owner),
            post: integer(object.get("post_id")).or(self.post),
        }
    }
}

/// One list of comments with the object that holds it (its `profiles` and `groups`).
struct Page<'a> {
    holder: &'a Value,
    items: &'a [Value],
    /// The JSON path of the list (`response.items`; empty for a bare list).
    path: String,
    post: Post,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else if key.starts_with('[') {
        format!("{path}{key}")
    } else {
        format!("{path}.{key}")
    }
}

fn collect_pages<'a>(doc: &'a Value, path: String, post: Post, out: &mut Vec<Page<'a>>) -> Result<(), FileError> {
    match doc {
        Value::Object(map) => {
            if let Some(error) = map.get("error") {
                let code = error.get("error_code").map(Value::to_string).unwrap_or_default();
                let message = error.get("error_msg").and_then(Value::as_str).unwrap_or("");
                return Err(FileError::NotVkExport(format!("ответ VK API с ошибкой {code}: {message}")));
            }
            let post = post.within(doc);
            if let Some(response) = map.get("response") {
                return collect_pages(response, join(&path, "response"), post, out);
            }
            match map.get("items") {
                Some(Value::Array(items)) => {
                    out.push(Page { holder: doc, items, path: join(&path, "items"), post });
                    Ok(())
                }
                _ => Err(FileError::NotVkExport(format!(
                    "нет списка комментариев (items) в «{}»",
                    if path.is_empty() { "$" } else { &path }
                ))),
            }
        }
        Value::Array(list) => {
            let pages = list.iter().any(|v| v.get("items").is_some() || v.get("response").is_some());
            if pages {
                for (i, page) in list.iter().enumerate() {
                    collect_pages(page, join(&path, &format!("[{i}]")), post, out)?;
                }
            } else {
                out.push(Page { holder: doc, items: list, path, post });
            }
            Ok(())
        }
        _ => Err(FileError::NotVkExport("ожидался объект или список".into())),
    }
}

/// Comments in a list, replies included.
fn count(items: &[Value]) -> usize {
    items.iter().map(|item| 1 + replies(item).map_or(0, count)).sum()
}

fn replies(item: &Value) -> Option<&[Value]> {
    item.get("thread")?.get("items")?.as_array().map(Vec::as_slice)
}

/// An integer, also written as a string or as a float without a fraction.
fn integer(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64))
        }
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Names of the authors an extended answer carries.
struct Authors {
    names: HashMap<i64, String>,
}

impl Authors {
    fn of(page: &Value) -> Self {
        let mut names = HashMap::new();
        for p in page.get("profiles").and_then(Value::as_array).into_iter().flatten() {
            let part = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").trim().to_string();
            let name = format!("{} {}", part("first_name"), part("last_name")).trim().to_string();
            if let (Some(id), false) = (integer(p.get("id")), name.is_empty()) {
                names.insert(id, name);
            }
        }
        for g in page.get("groups").and_then(Value::as_array).into_iter().flatten() {
            if let (Some(id), Some(name)) = (integer(g.get("id")), g.get("name").and_then(Value::as_str)) {
                names.insert(-id.abs(), name.trim().to_string());
            }
        }
        Self { names }
    }
}

/// A comment's date: Unix seconds within 1990–2100.
fn date_of(item: &Value) -> Option<chrono::NaiveDateTime> {
    let at = DateTime::from_timestamp(integer(item.get("date"))?, 0)?;
    (1990..=2100).contains(&at.year()).then(|| at.naive_utc())
}

fn is_deleted(item: &Value) -> bool {
    matches!(item.get("deleted"), Some(Value::Bool(true))) || integer(item.get("deleted")) == Some(1)
}

fn text_of(item: &Value) -> Option<String> {
    item.get("text").and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty()).map(str::to_string)
}

/// One comment and its replies, in document order, to `out`; `parent` is the comment whose
/// thread this is.
fn walk(
    item: &Value,
    path: &str,
    post: Post,
    parent: Option<i64>,
    authors: &Authors,
    out: &mut Vec<Result<ImportRow, RowError>>,
) {
    let row = out.len() + 1;
    let error = |field: &str, message: String| Err(RowError { row, field: Some(join(path, field)), message });
    let post = if item.is_object() { post.within(item) } else { post };
    let built = (|| {
        if !item.is_object() {
            return Err(RowError {
                row, field: Some(path.to_string()), message: "ожидался объект комментария".into()
            });
        }
        let Some(id) = integer(item.get("id")).filter(|id| *id > 0) else {
            return error("id", "нет номера комментария (целое число больше 0)".into());
        };
        let Some(owner) = post.owner.filter(|o| *o != 0) else {
            return error("owner_id", "нет владельца стены (owner_id) ни у комментария, ни у его поста".into());
        };
        let Some(post_id) = post.post.filter(|p| *p > 0) else {
            return error("post_id", "нет номера поста (post_id) ни у комментария, ни у его страницы".into());
        };
        let external = external_id(owner, post_id, id);
        let skipped = |reason: &str| {
            let mut r = ImportRow::skip(row, external.clone(), CHANNEL, KIND, reason.to_string());
            r.source_path = Some(path.to_string());
            Ok(r)
        };
        if is_deleted(item) {
            return skipped(DELETED);
        }
        let from = integer(item.get("from_id"));
        if from == Some(owner) && owner < 0 {
            return skipped(OWN);
        }
        let Some(text) = text_of(item) else { return skipped(EMPTY) };
        let Some(received_at) = date_of(item) else {
            let written = item.get("date").map(Value::to_string).unwrap_or_default();
            return error("date", format!("ожидалось время Unix (секунды) в 1990–2100 годах, а не {written}"));
        };
        // The page's first reply in this comment's thread is its answer.
        let answer = replies(item).into_iter().flatten().find_map(|reply| {
            let by_page = integer(reply.get("from_id")) == Some(owner) && owner < 0 && !is_deleted(reply);
            let at = date_of(reply).filter(|at| *at >= received_at);
            by_page.then_some(()).and(at).zip(text_of(reply))
        });
        let utc = FixedOffset::east_opt(0);
        Ok(ImportRow {
            text,
            received_at,
            received_offset: utc,
            author_name: from.and_then(|f| authors.names.get(&f).cloned()),
            author_contact: from.map(profile_link),
            url: Some(comment_link(owner, post_id, id, parent)),
            source: Some("ВКонтакте".into()),
            answered_at: answer.as_ref().map(|(at, _)| *at),
            answered_offset: answer.as_ref().and(utc),
            answer_text: answer.map(|(_, text)| text),
            skipped: None,
            source_path: Some(path.to_string()),
            ..ImportRow::skip(row, external, CHANNEL, KIND, String::new())
        })
    })();
    let id = built.as_ref().ok().and(integer(item.get("id")));
    out.push(built);
    for (i, reply) in replies(item).into_iter().flatten().enumerate() {
        walk(reply, &join(path, &format!("thread.items[{i}]")), post, parent.or(id), authors, out);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn limits() -> ImportLimits {
        ImportLimits::rows(100)
    }

    #[test]
    fn links_and_ids() {
        assert_eq!(post_of_link("https://vk.com/wall-123_45"), Some((-123, 45)));
        assert_eq!(post_of_link("https://vk.com/sorsk?w=wall-123_45"), Some((-123, 45)));
        assert_eq!(post_of_link("https://m.vk.com/wall-123_45?reply=6"), Some((-123, 45)));
        assert_eq!(post_of_link("wall77_8"), Some((77, 8)));
        assert_eq!(post_of_link("https://vk.com/sorsk"), None);
        assert_eq!(comment_id_of("67"), Some(67));
        assert_eq!(comment_id_of("67.0"), Some(67));
        assert_eq!(comment_id_of("https://vk.com/wall-1_2?reply=67&thread=5"), Some(67));
        assert_eq!(comment_id_of("x"), None);
        assert_eq!(author_id_of("https://vk.com/id42"), Some(42));
        assert_eq!(author_id_of("vk.com/club7"), Some(-7));
        assert_eq!(author_id_of("-7"), Some(-7));
        assert_eq!(external_id(-1, 2, 3), "wall-1_2?reply=3");
    }

    #[test]
    fn the_api_answer_with_threads_deleted_and_the_pages_reply() {
        let json = r#"{"response":{"count":2,"items":[
            {"id":10,"from_id":5,"post_id":7,"owner_id":-100,"date":1764554400,"text":"Когда починят дорогу?",
             "thread":{"count":2,"items":[
                {"id":11,"from_id":-100,"post_id":7,"owner_id":-100,"date":1764558000,"text":"Ремонт в мае."},
                {"id":12,"from_id":6,"post_id":7,"owner_id":-100,"date":1764561600,"text":"Спасибо"}]}},
            {"id":13,"deleted":true,"post_id":7,"owner_id":-100,"date":1764554400,"text":""},
            {"id":14,"from_id":6,"post_id":7,"owner_id":-100,"date":1764554400,"text":"  "}],
          "profiles":[{"id":5,"first_name":"Иван","last_name":"Петров"}],
          "groups":[{"id":100,"name":"Администрация Сорска"}]}}"#;
        let rows = parse_json(json.as_bytes(), &limits()).unwrap();
        assert_eq!(rows.len(), 5);
        let first = rows[0].as_ref().unwrap();
        assert_eq!(first.external_id, "wall-100_7?reply=10");
        assert_eq!((first.channel, first.kind), ("GOSPABLIKI", "MESSAGE"));
        assert_eq!(first.author_name.as_deref(), Some("Иван Петров"));
        assert_eq!(first.answer_text.as_deref(), Some("Ремонт в мае."));
        assert_eq!(first.received_offset, FixedOffset::east_opt(0));
        assert_eq!(rows[1].as_ref().unwrap().skipped.as_deref(), Some(OWN));
        let reply = rows[2].as_ref().unwrap();
        assert_eq!(reply.url.as_deref(), Some("https://vk.com/wall-100_7?reply=12&thread=10"));
        assert_eq!(rows[3].as_ref().unwrap().skipped.as_deref(), Some(DELETED));
        assert_eq!(rows[4].as_ref().unwrap().skipped.as_deref(), Some(EMPTY));
    }

    #[test]
    fn pages_lists_and_bad_rows() {
        let json = r#"[{"owner_id":-1,"post_id":2,"items":[{"id":1,"from_id":3,"date":1764554400,"text":"А"},
                       {"id":2,"from_id":3,"date":"вчера","text":"Б"}]},
                      {"items":[{"id":3,"from_id":3,"date":1764554400,"text":"В"}]}]"#;
        let rows = parse_json(json.as_bytes(), &limits()).unwrap();
        assert_eq!(rows[0].as_ref().unwrap().external_id, "wall-1_2?reply=1");
        assert_eq!(rows[1].as_ref().unwrap_err().field.as_deref(), Some("[0].items[1].date"));
        assert_eq!(rows[2].as_ref().unwrap_err().field.as_deref(), Some("[1].items[0].owner_id"));
        let bare = r#"[{"id":1,"owner_id":-1,"post_id":2,"date":1764554400,"text":"А"}]"#;
        assert_eq!(parse_json(bare.as_bytes(), &limits()).unwrap().len(), 1);
    }

    #[test]
    fn hostile_and_wrong_files_are_refused() {
        let deep = format!("{}{}", "[".repeat(MAX_JSON_DEPTH + 1), "]".repeat(MAX_JSON_DEPTH + 1));
        assert!(matches!(parse_json(deep.as_bytes(), &limits()), Err(FileError::Limit(m)) if m.contains("32")));
        let fits = format!("{}{}", "[".repeat(MAX_JSON_DEPTH), "]".repeat(MAX_JSON_DEPTH));
        assert!(!matches!(parse_json(fits.as_bytes(), &limits()), Err(FileError::Limit(_))));
        let huge = format!(r#"{{"items":[{{"id":1{}}}]}}"#, "0".repeat(400));
        assert!(matches!(parse_json(huge.as_bytes(), &limits()), Err(FileError::Limit(m)) if m.contains("число")));
        let in_text = format!(
            r#"{{"items":[{{"id":1,"owner_id":-1,"post_id":2,"date":1764554400,"text":"{}"}}]}}"#,
            "9".repeat(400)
        );
        assert_eq!(parse_json(in_text.as_bytes(), &limits()).unwrap().len(), 1, "digits in a string are text");
        let error = r#"{"error":{"error_code":15,"error_msg":"Access denied"}}"#;
        assert!(matches!(parse_json(error.as_bytes(), &limits()), Err(FileError::NotVkExport(m)) if m.contains("15")));
        assert!(matches!(parse_json(b"{\"a\":1}", &limits()), Err(FileError::NotVkExport(_))));
        assert!(matches!(parse_json(b"{\"items\":[", &limits()), Err(FileError::Corrupted(_))));
        let many = format!(r#"{{"items":[{}]}}"#, vec![r#"{"id":1}"#; 101].join(","));
        assert_eq!(parse_json(many.as_bytes(), &limits()), Err(FileError::TooManyRows(100)));
        let small = ImportLimits { max_rows: 10, max_unpacked_bytes: 8 };
        assert!(
            matches!(parse_json(b"{\"items\":[]}", &small), Err(FileError::Limit(m)) if m.contains("MCU_IMPORT_MAX_UNPACKED_BYTES"))
        );
    }
}
