//! Parsing of appeal exports: the ПОС register (XLSX), «Инцидент менеджмент» (XLSX) and CSV.
//!
//! Pure: the caller hands over the file (its bytes, or for XLSX any seekable reader), gets
//! back one `Result` per data row.
//! Columns are found by header name (see [`normalize_header`]): order, case, ё/е, spacing,
//! punctuation and extra columns do not matter; a header that matches nothing as written is
//! tried again without a trailing bracketed hint («Просрочено (да/нет)», «Оценка (1-5)»).
//! When several columns fit one field, the earlier alias in the table wins (so «Номер» beats
//! «№», and «Номер ЕПГУ» is the id only when no other id column is there). The header row is
//! the first of the first ten rows that holds all required headers, so a title row above it is
//! fine; an XLSX is read from its first sheet (in workbook order) that has such a row, so a
//! cover sheet before the data is fine.
//!
//! The accepted headers are the tables `POS` and `INCIDENT` below; README «Accepted columns»
//! lists the same (a test keeps the two equal). Required: ПОС id, date of receipt, and the
//! text («Факт») or, instead, the category; incident id, date and text.
//!
//! # CSV
//! UTF-8 (BOM optional), UTF-16 with BOM, otherwise Windows-1251; delimiter `;`, `,` or tab,
//! chosen by which one yields a recognisable header. When a header row fits both the ПОС and
//! the incident headers, the set matching more columns wins (then the one whose aliases fit
//! best, then ПОС). Rows with ПОС headers are `MESSAGE`/`APPEAL`, rows with incident headers
//! are `INCIDENT`. The channel comes from «Канал», else «Источник»/«Соцсеть» (see
//! [`channel_code`]); the default is `POS` (`INCIDENT` for incident headers). A CSV row number
//! is the line on which the record starts.
//!
//! # Values
//! Dates are local time of the municipality as written: `31.12.2026 14:05[:33[.000]]`,
//! `31.12.26 14:05`, `31/12/2026 14:05`, `31.12.2026 14.05`, `31.12.2026[ г.]`,
//! `31 декабря 2026 г.[ 14:05]`, `2026-12-31[T| ]14:05[:00[.000]]`, `2026-12-31`, Excel date
//! cells and serial numbers (also written as text, `46328.385`). A value with an explicit offset
//! (`…Z`, `…+03:00`, `… UTC`) keeps its wall time in the `*_at` field and the offset in the
//! matching `*_offset` field: it is an instant, not local time (see [`ImportRow::received_utc`]).
//! A year outside 1990–2100 is a row error. Ratings 1–5 (`5`, `5 - отлично`, «Отлично» …
//! «Очень плохо»; `-`, `0`, «Не оценено» are no rating); yes/no as «Да»/«Нет», `1`/`0`, `+`/`-`,
//! Excel booleans, and for «Просрочено» also «Просрочен», «Не просрочено», «В срок».

use std::fmt;
use std::io::{Cursor, Read, Seek, SeekFrom};

use calamine::{Data, Reader, Xlsx, XlsxError};

use super::xlsx_guard::{self, ImportLimits, MAX_CELL_CHARS, Refusal};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};

pub mod vk_comments;

/// Which kind of export the bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// ПОС register export (XLSX).
    PosXlsx,
    /// «Инцидент менеджмент» export (XLSX).
    IncidentXlsx,
    /// CSV with ПОС or incident headers.
    Csv,
    /// Comments under the administration's official pages (Госпаблики): the JSON of VK API
    /// `wall.getComments` or an export of it (see [`crate::domain::vk_comments`]), or an XLSX
    /// or CSV with the post link, comment id, author, text and date (the `VK` headers below).
    /// Which of the three it is, the bytes say (a ZIP is XLSX, `{` or `[` first is JSON).
    VkComments,
}

/// One source row, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    /// 1-based row number as a person sees it (header row of a headed file is counted).
    pub row: usize,
    /// ПОС «Номер» / incident id.
    pub external_id: String,
    /// Channel code: `POS`, `INCIDENT`, `GOSPABLIKI`, `EMAIL`, `POST`, `PERSONAL`, `PHONE`, `WEBSITE`.
    pub channel: &'static str,
    /// `APPEAL`, `MESSAGE` or `INCIDENT`.
    pub kind: &'static str,
    /// Local time of the municipality as written in the file; when `received_offset` is set,
    /// the wall time at that offset instead. Use [`ImportRow::received_utc`] for the instant.
    pub received_at: NaiveDateTime,
    /// The UTC offset written with the date of receipt (`2026-11-02T02:15:00Z` → `+00:00`,
    /// `…+03:00` → `+03:00`): `received_at` is then an absolute instant at that offset, not the
    /// municipality's local time. `None` for a local value (the usual case).
    pub received_offset: Option<FixedOffset>,
    /// ПОС «Факт» (fallback: category and subcategory) / incident text.
    pub text: String,
    /// Category (first level).
    pub category: Option<String>,
    /// Subcategory (second level).
    pub subcategory: Option<String>,
    /// ПОС organisation: the current one, else the one that received the message.
    pub organisation: Option<String>,
    /// Incident municipality / territory.
    pub territory: Option<String>,
    /// Author's name.
    pub author_name: Option<String>,
    /// Author's contact (phone, e-mail, profile).
    pub author_contact: Option<String>,
    /// Incident link.
    pub url: Option<String>,
    /// Raw source: ПОС «Источник», incident «Соцсеть».
    pub source: Option<String>,
    /// Raw status text.
    pub status: Option<String>,
    /// Raw ПОС «Стадия».
    pub stage: Option<String>,
    /// Planned completion / answer deadline (local, or at `planned_offset`).
    pub planned_at: Option<NaiveDateTime>,
    /// The UTC offset written with `planned_at`, as for `received_offset`.
    pub planned_offset: Option<FixedOffset>,
    /// When the answer was given (work completed); local, or at `answered_offset`. Use
    /// [`ImportRow::answered_utc`] for the instant.
    pub answered_at: Option<NaiveDateTime>,
    /// The UTC offset written with `answered_at`, as for `received_offset`.
    pub answered_offset: Option<FixedOffset>,
    /// Answer text, if the export carries it.
    pub answer_text: Option<String>,
    /// «Просрочено».
    pub overdue: Option<bool>,
    /// «Оценка ответа заявителем», 1..=5.
    pub satisfaction: Option<i32>,
    /// «Повторное рассмотрение»: Да → 1, Нет → 0, or the number given.
    pub reopened: Option<i32>,
    /// «Тип решения».
    pub decision: Option<String>,
    /// Why the row is not taken in although it is no error (a deleted or empty VK comment,
    /// a comment of the page itself): reported as skipped with this reason.
    pub skipped: Option<String>,
    /// Where the row is in a JSON file (`response.items[3]`), so that a refusal after parsing
    /// names the JSON path of its field; `None` for XLSX and CSV rows.
    pub source_path: Option<String>,
}

impl ImportRow {
    /// The date of receipt as an instant: with its written offset when it has one, else as
    /// local time in `tz` (the earliest of an ambiguous hour; `None` for a time skipped by a
    /// clock change).
    pub fn received_utc<Tz: TimeZone>(&self, tz: &Tz) -> Option<DateTime<Utc>> {
        to_utc(self.received_at, self.received_offset, tz)
    }

    /// The planned completion as an instant, as [`ImportRow::received_utc`].
    pub fn planned_utc<Tz: TimeZone>(&self, tz: &Tz) -> Option<DateTime<Utc>> {
        self.planned_at.and_then(|t| to_utc(t, self.planned_offset, tz))
    }

    /// The answer's date as an instant, as [`ImportRow::received_utc`].
    pub fn answered_utc<Tz: TimeZone>(&self, tz: &Tz) -> Option<DateTime<Utc>> {
        self.answered_at.and_then(|t| to_utc(t, self.answered_offset, tz))
    }
}

/// A wall time from an export as an instant: at `offset` when the value was written with one,
/// else local time in `tz` (the earliest of an ambiguous hour; `None` for a skipped one).
pub fn to_utc<Tz: TimeZone>(at: NaiveDateTime, offset: Option<FixedOffset>, tz: &Tz) -> Option<DateTime<Utc>> {
    match offset {
        Some(offset) => offset.from_local_datetime(&at).single().map(|t| t.with_timezone(&Utc)),
        None => tz.from_local_datetime(&at).earliest().map(|t| t.with_timezone(&Utc)),
    }
}

/// A problem with one row; other rows are unaffected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based row number as a person sees it.
    pub row: usize,
    /// Column header as written in the file, when the problem is in one cell.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "строка {}, «{}»: {}", self.row, field, self.message),
            None => write!(f, "строка {}: {}", self.row, self.message),
        }
    }
}

impl std::error::Error for RowError {}

/// A problem with the whole file; nothing was imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// No bytes, or nothing but whitespace.
    #[error("файл пуст")]
    Empty,
    /// Not an XLSX workbook at all.
    #[error("файл не является книгой Excel (XLSX)")]
    NotXlsx,
    /// Looks like XLSX/CSV but cannot be read.
    #[error("файл повреждён: {0}")]
    Corrupted(String),
    /// No recognisable header row in the first 10 rows.
    #[error("не найдена строка заголовков (в первых 10 строках)")]
    NoHeader,
    /// Header row found, but required columns are absent.
    #[error("нет обязательных столбцов: {}", .0.join(", "))]
    MissingColumns(Vec<String>),
    /// More data rows than allowed; the number is the limit.
    #[error("слишком много строк: больше {0}")]
    TooManyRows(usize),
    /// Text encoding not recognised (binary data or unsupported encoding).
    #[error("не удалось определить кодировку файла")]
    Encoding,
    /// The file exceeds a limit (see [`crate::domain::xlsx_guard`]); the text names it.
    #[error("файл отклонён: {0}")]
    Limit(String),
    /// Readable, but not the export its format says (a JSON without comments, an error
    /// answer of the VK API); the text says what it is.
    #[error("это не выгрузка комментариев VK: {0}")]
    NotVkExport(String),
}

impl From<Refusal> for FileError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Limit(m) => Self::Limit(m),
            Refusal::Corrupted(m) => Self::Corrupted(m),
        }
    }
}

/// Longest CSV record (a line, or several when a quoted cell spans lines), in bytes.
pub const MAX_CSV_RECORD_BYTES: usize = 1 << 20;

impl ImportRow {
    /// A row that is read but not taken in, with the reason (see [`ImportRow::skipped`]).
    pub fn skip(row: usize, external_id: String, channel: &'static str, kind: &'static str, reason: String) -> Self {
        Self {
            row,
            external_id,
            channel,
            kind,
            received_at: NaiveDateTime::default(),
            received_offset: None,
            text: String::new(),
            category: None,
            subcategory: None,
            organisation: None,
            territory: None,
            author_name: None,
            author_contact: None,
            url: None,
            source: None,
            status: None,
            stage: None,
            planned_at: None,
            planned_offset: None,
            answered_at: None,
            answered_offset: None,
            answer_text: None,
            overdue: None,
            satisfaction: None,
            reopened: None,
            decision: None,
            skipped: Some(reason),
            source_path: None,
        }
    }
}

/// Parses an export. `Err` for a file-level problem, otherwise one entry per non-empty data row.
pub fn parse(format: FileFormat, bytes: &[u8], max_rows: usize) -> Result<Vec<Result<ImportRow, RowError>>, FileError> {
    parse_with(format, bytes, &ImportLimits::rows(max_rows))
}

/// [`parse`] with all the limits of an import (the fuzz target's entry point too).
///
/// # Errors
/// The file-level problem.
pub fn parse_with(
    format: FileFormat,
    bytes: &[u8],
    limits: &ImportLimits,
) -> Result<Vec<Result<ImportRow, RowError>>, FileError> {
    let max_rows = limits.max_rows;
    let xlsx = match format {
        FileFormat::PosXlsx | FileFormat::IncidentXlsx => true,
        FileFormat::VkComments if vk_comments::looks_like_json(bytes) => {
            return vk_comments::parse_json(bytes, limits);
        }
        FileFormat::VkComments => starts_as_zip(bytes),
        FileFormat::Csv => false,
    };
    if xlsx {
        let layout = scan_xlsx(format, Cursor::new(bytes), limits)?;
        let mut out = Vec::with_capacity(layout.rows);
        stream_xlsx(Cursor::new(bytes), &layout, |r| {
            out.push(r);
            true
        })?;
        Ok(out)
    } else {
        if bytes.len() as u64 > limits.max_unpacked_bytes {
            return Err(csv_too_large(limits));
        }
        let text = decode_text(bytes)?;
        let layout = scan_csv_as(format, &text, max_rows)?;
        let mut out = Vec::with_capacity(layout.rows);
        stream_csv(&text, &layout, |r| {
            out.push(r);
            true
        })?;
        Ok(out)
    }
}

/// Whether bytes start as a ZIP archive (an XLSX workbook).
pub fn starts_as_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// Where a CSV export's data is: found in its first rows, checked over all of them.
pub struct CsvLayout {
    delimiter: u8,
    layout: Layout,
    /// Non-empty data rows.
    pub rows: usize,
}

/// The refusal of a CSV file larger than the unpacked-size limit.
pub fn csv_too_large(limits: &ImportLimits) -> FileError {
    FileError::Limit(format!(
        "файл CSV больше {} (MCU_IMPORT_MAX_UNPACKED_BYTES)",
        crate::domain::xlsx_guard::size_text(limits.max_unpacked_bytes)
    ))
}

/// Checks that no record of a CSV text is longer than [`MAX_CSV_RECORD_BYTES`] (nor has more
/// columns than Excel), with a fixed buffer, before the reader that keeps records reads it.
fn check_csv_records(text: &str, delimiter: u8) -> Result<(), FileError> {
    use csv_core::ReadRecordResult;
    // Which quotes open a quoted cell (and so where a record ends) depends on the delimiter.
    let mut reader = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let mut out = vec![0u8; MAX_CSV_RECORD_BYTES];
    let mut ends = vec![0usize; crate::domain::xlsx_guard::EXCEL_COLUMNS as usize + 1];
    let mut input = text.as_bytes();
    let mut used = 0usize;
    let mut record = 1usize;
    loop {
        let (result, read, written, _) = reader.read_record(input, &mut out[used..], &mut ends);
        input = &input[read..];
        used += written;
        match result {
            ReadRecordResult::InputEmpty => {}
            ReadRecordResult::OutputFull => {
                return Err(FileError::Limit(format!(
                    "запись {record} длиннее {}",
                    crate::domain::xlsx_guard::size_text(MAX_CSV_RECORD_BYTES as u64)
                )));
            }
            ReadRecordResult::OutputEndsFull => {
                return Err(FileError::Limit(format!(
                    "в записи {record} больше {} столбцов",
                    crate::domain::xlsx_guard::EXCEL_COLUMNS
                )));
            }
            ReadRecordResult::Record => {
                used = 0;
                record += 1;
            }
            ReadRecordResult::End => return Ok(()),
        }
    }
}

/// First pass over a CSV export's text: finds the delimiter and the header in the first ten
/// records, then reads every record (a malformed file is refused before anything is
/// written) and counts the data rows, keeping none of them. A record longer than
/// [`MAX_CSV_RECORD_BYTES`] or a cell longer than [`MAX_CELL_CHARS`] refuses the file.
///
/// # Errors
/// The file-level problem, as [`parse`] reports it.
pub fn scan_csv(text: &str, max_rows: usize) -> Result<CsvLayout, FileError> {
    scan_csv_as(FileFormat::Csv, text, max_rows)
}

/// [`scan_csv`] for a CSV imported as `format`: a `VkComments` CSV is read with the VK
/// headers only, any other with the ПОС and incident ones.
///
/// # Errors
/// The file-level problem, as [`parse`] reports it.
pub fn scan_csv_as(format: FileFormat, text: &str, max_rows: usize) -> Result<CsvLayout, FileError> {
    let schemas: &[&'static Schema] = if format == FileFormat::VkComments { &[&VK] } else { &[&POS, &INCIDENT] };
    let mut best: Option<(usize, FileError)> = None;
    let mut too_long: Option<FileError> = None;
    for delimiter in [b';', b',', b'\t'] {
        if let Err(e) = check_csv_records(text, delimiter) {
            too_long.get_or_insert(e);
            continue;
        }
        let mut head: Table = Vec::new();
        stream_csv_rows(text, delimiter, |line, cells| {
            head.push((line, cells));
            head.len() < 10
        })?;
        match find_header(&head, schemas) {
            Ok(layout) => {
                let (mut index, mut rows) = (0usize, 0usize);
                stream_csv_rows(text, delimiter, |_, cells| {
                    if index > layout.header_index && !cells.iter().all(Cell::is_blank) {
                        rows += 1;
                    }
                    index += 1;
                    true
                })?;
                if rows > max_rows {
                    return Err(FileError::TooManyRows(max_rows));
                }
                return Ok(CsvLayout { delimiter, layout, rows });
            }
            Err(err) => {
                let score = header_score(&head, schemas);
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    best = Some((score, err));
                }
            }
        }
    }
    Err(too_long.or(best.map(|(_, err)| err)).unwrap_or(FileError::NoHeader))
}

/// Second pass: each data row of a CSV export, in order, to `each` (which returns `false`
/// to stop), never more than one row at a time.
///
/// # Errors
/// A file-level problem (not expected after [`scan_csv`] accepted the same text).
pub fn stream_csv(
    text: &str,
    layout: &CsvLayout,
    mut each: impl FnMut(Result<ImportRow, RowError>) -> bool,
) -> Result<(), FileError> {
    let mut index = 0usize;
    stream_csv_rows(text, layout.delimiter, |line, cells| {
        let header_or_before = index <= layout.layout.header_index;
        index += 1;
        if header_or_before || cells.iter().all(Cell::is_blank) {
            return true;
        }
        each(RowReader { row: line, cells: &cells, layout: &layout.layout }.build(None))
    })
}

/// Maps a ПОС / «Инцидент менеджмент» status and stage to a status code:
/// `RECEIVED`, `REGISTERED`, `ASSIGNED`, `IN_PROGRESS`, `ANSWERED`, `CLOSED`, `REDIRECTED`,
/// `WITHOUT_ANSWER` or `REOPENED`. A finished stage («Завершено») gives `CLOSED` unless the
/// status says the appeal was redirected or left without an answer. The status wins over the
/// stage otherwise. A prepared answer («Ответ подготовлен») is not sent yet: `IN_PROGRESS`.
/// Unknown → `RECEIVED`, or `ANSWERED` when `answered`.
pub fn status_code(status: Option<&str>, stage: Option<&str>, answered: bool) -> &'static str {
    let by_status = status.and_then(classify_status);
    let by_stage = stage.and_then(classify_status);
    if by_stage == Some("CLOSED") && !matches!(by_status, Some("REDIRECTED" | "WITHOUT_ANSWER")) {
        return "CLOSED";
    }
    by_status.or(by_stage).unwrap_or(if answered { "ANSWERED" } else { "RECEIVED" })
}

/// Normalises a column header: lower case, ё → е, whitespace collapsed to one space, trimmed,
/// trailing punctuation and asterisks removed.
pub fn normalize_header(h: &str) -> String {
    let lowered: String = h.chars().flat_map(char::to_lowercase).map(|c| if c == 'ё' { 'е' } else { c }).collect();
    let collapsed = lowered.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed
        .trim_end_matches(|c: char| c.is_whitespace() || ".,:;*!?".contains(c))
        .trim_start_matches(|c: char| c.is_whitespace() || c == '*')
        .to_string()
}

/// Maps a free-text channel / source value to a channel code; `None` when empty.
/// Unknown values are taken as ПОС sources (`POS`).
pub fn channel_code(value: &str) -> Option<&'static str> {
    let v = normalize_header(value);
    if v.is_empty() {
        return None;
    }
    let words: Vec<&str> = v.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let has_word = |list: &[&str]| words.iter().any(|w| list.contains(w));
    let code = if v.contains("госпаблик") {
        "GOSPABLIKI"
    } else if v.contains("инцидент")
        || v.contains("вконтакте")
        || v.contains("одноклассники")
        || v.contains("телеграм")
        || v.contains("соцсет")
        || v.contains("социальн")
        || has_word(&["им", "vk", "вк", "ok", "ок", "telegram", "tg", "дзен", "max"])
    {
        "INCIDENT"
    } else if v.contains("mail") || v.contains("электронн") || v.contains("эл. почт") {
        "EMAIL"
    } else if v.contains("почт") || v.contains("письм") {
        "POST"
    } else if v.contains("прием") || v.contains("личн") {
        "PERSONAL"
    } else if v.contains("телефон") || v.contains("звонок") || v.contains("горячая линия") {
        "PHONE"
    } else if v.contains("сайт") || v.contains("интернет-приемн") {
        "WEBSITE"
    } else {
        "POS"
    };
    Some(code)
}

fn classify_status(raw: &str) -> Option<&'static str> {
    let s = normalize_header(raw);
    if s.is_empty() {
        return None;
    }
    let any = |list: &[&str]| list.iter().any(|p| s.contains(p));
    // The order matters: «не требует ответа» is not an answer, «отказ в повторном
    // рассмотрении» is a refusal, «на повторном рассмотрении» is not just «рассмотрение»,
    // «ответ подготовлен» is not «ответ» (it is not sent yet).
    let code = if any(&["не требует ответа", "ответ не требуется", "не требуется ответ"])
    {
        "CLOSED"
    } else if any(&["без ответа", "без рассмотрения", "не подлежит рассмотрению", "отклонен", "отказ"])
    {
        "WITHOUT_ANSWER"
    } else if any(&["перенаправ", "переадрес", "по компетенции", "по подведомственности"])
    {
        "REDIRECTED"
    } else if any(&["повторн", "переоткрыт", "возобновлен"]) {
        "REOPENED"
    } else if any(&[
        "в работе",
        "в работу",
        "на исполнении",
        "исполняется",
        "на рассмотрении",
        "рассматривается",
        "подготовк",
        "на согласовании",
        "доработк",
        "промежуточн",
        "продлен",
        "в процессе",
        "рассмотрени",
        "исполнени",
        "ожидает ответа",
    ]) || (s.contains("подготовлен") && !any(&["отправлен", "направлен", "опубликован"]))
    {
        "IN_PROGRESS"
    } else if any(&["ответ", "отвечено", "решено", "исполнено", "выполнено", "отработано", "отработан"])
    {
        "ANSWERED"
    } else if any(&["назначен", "распредел", "передано исполнителю", "передан исполнителю"])
    {
        "ASSIGNED"
    } else if s.contains("зарегистрир") {
        "REGISTERED"
    } else if any(&["заверш", "закрыт", "архив", "снято с контроля"]) {
        "CLOSED"
    } else if s.starts_with("нов")
        || s == "регистрация"
        || any(&["поступил", "получен", "принят", "модерац", "черновик"])
    {
        "RECEIVED"
    } else {
        return None;
    };
    Some(code)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Received,
    Text,
    Category,
    Subcategory,
    Channel,
    Source,
    OrgCurrent,
    OrgReceived,
    Territory,
    Author,
    Contact,
    Url,
    Status,
    Stage,
    Planned,
    Answered,
    AnswerText,
    Overdue,
    Fz,
    Chose59,
    Decision,
    Satisfaction,
    Reopened,
    Deleted,
}

/// Which export a set of headers is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Pos,
    Incident,
    Vk,
}

struct Schema {
    family: Family,
    columns: &'static [(Field, &'static [&'static str])],
    /// Each group needs at least one column; the label is what is reported when missing.
    required: &'static [(&'static str, &'static [Field])],
}

const POS: Schema = Schema {
    family: Family::Pos,
    columns: &[
        (
            Field::Id,
            &[
                "Номер",
                "№",
                "Номер сообщения",
                "№ сообщения",
                "Номер обращения",
                "ID сообщения",
                "Рег. номер",
                "Регистрационный номер",
                "ID",
                "Идентификатор",
                // The federal number: the id only when the file has no other id column
                // (the last alias loses to any other, see `match_header`).
                "Номер ЕПГУ",
            ],
        ),
        (
            Field::Received,
            &[
                "Дата поступления",
                "Дата создания",
                "Дата регистрации",
                "Дата и время поступления",
                "Дата поступления сообщения",
                "Дата подачи",
                "Дата создания сообщения",
                "Дата и время создания",
            ],
        ),
        (Field::Text, &["Факт", "Текст", "Текст сообщения", "Описание", "Суть сообщения", "Содержание"]),
        (Field::Category, &["Категория", "Категория сообщения", "Тема", "Тематика", "Рубрика"]),
        (Field::Subcategory, &["Подкатегория", "Подтема"]),
        (Field::Channel, &["Канал", "Канал поступления"]),
        (Field::Source, &["Источник"]),
        (
            Field::OrgCurrent,
            &[
                "Организация (текущая)",
                "Организация текущая",
                "Текущая организация",
                "Ответственная организация",
                "Исполнитель",
                "Организация-исполнитель",
            ],
        ),
        (
            Field::OrgReceived,
            &[
                "Организация (получившая)",
                "Организация получившая",
                "Организация (поступившая)",
                "Организация, получившая сообщение",
                "Получившая организация",
                "Организация",
            ],
        ),
        (Field::Author, &["ФИО заявителя", "Заявитель", "Автор", "ФИО автора"]),
        (
            Field::Contact,
            &["Контакты заявителя", "Контакт заявителя", "Телефон заявителя", "Телефон", "E-mail", "Электронная почта"],
        ),
        (Field::Status, &["Статус", "Статус сообщения", "Текущий статус"]),
        (Field::Stage, &["Стадия"]),
        (
            Field::Planned,
            &[
                "Дата планируемого завершения работ",
                "Дата планируемого завершения",
                "Плановая дата",
                "Плановая дата завершения",
                "Срок",
                "Срок исполнения",
            ],
        ),
        (
            Field::Answered,
            &[
                "Дата фактического завершения работ",
                "Дата фактического завершения",
                "Дата ответа",
                "Дата завершения",
                "Дата отправки ответа",
            ],
        ),
        (Field::AnswerText, &["Ответ", "Текст ответа"]),
        (Field::Overdue, &["Просрочено", "Просрочен", "Просрочка"]),
        (Field::Fz, &["ФЗ"]),
        (Field::Chose59, &["Заявитель выбрал подачу по 59-ФЗ", "Заявитель выбрал подачу по 59 ФЗ"]),
        (Field::Decision, &["Тип решения"]),
        (
            Field::Satisfaction,
            &["Оценка ответа заявителем", "Оценка ответа", "Оценка", "Оценка заявителя", "Оценка заявителем"],
        ),
        (Field::Reopened, &["Повторное рассмотрение"]),
    ],
    required: &[
        ("Номер", &[Field::Id]),
        ("Дата поступления", &[Field::Received]),
        ("Факт или Категория", &[Field::Text, Field::Category]),
    ],
};

const INCIDENT: Schema = Schema {
    family: Family::Incident,
    columns: &[
        (
            Field::Id,
            &[
                "ID инцидента",
                "ID",
                "Номер",
                "№",
                "Номер инцидента",
                "Идентификатор",
                "Идентификатор инцидента",
                "№ инцидента",
                "Код инцидента",
                "ИД",
            ],
        ),
        (
            Field::Received,
            &[
                "Дата",
                "Дата создания",
                "Дата публикации",
                "Дата поступления",
                "Дата и время",
                "Дата создания инцидента",
                "Дата обнаружения",
                "Дата регистрации",
                "Дата и время публикации",
                "Дата публикации поста",
                "Дата/время",
            ],
        ),
        (
            Field::Text,
            &[
                "Текст",
                "Текст сообщения",
                "Текст инцидента",
                "Сообщение",
                "Содержание",
                "Текст публикации",
                "Текст поста",
                "Суть инцидента",
                "Описание",
                "Содержание публикации",
                "Текст комментария",
            ],
        ),
        (Field::Category, &["Категория", "Тема", "Рубрика", "Тематика", "Категория инцидента"]),
        (Field::Subcategory, &["Подкатегория", "Подтема"]),
        (Field::Channel, &["Канал"]),
        (Field::Source, &["Соцсеть", "Социальная сеть", "Источник", "Площадка"]),
        (Field::OrgCurrent, &["Ответственный", "Исполнитель", "Организация"]),
        (
            Field::Territory,
            &[
                "Муниципалитет",
                "Территория",
                "Муниципальное образование",
                "Район",
                "МО",
                "Городской округ",
                "Населённый пункт",
            ],
        ),
        (Field::Author, &["Автор", "Имя автора", "Автор сообщения", "Автор публикации", "ФИО автора"]),
        (Field::Contact, &["Контакт автора", "Профиль автора", "Ссылка на автора"]),
        (
            Field::Url,
            &[
                "Ссылка",
                "URL",
                "Ссылка на пост",
                "Ссылка на сообщение",
                "Ссылка на публикацию",
                "Ссылка на инцидент",
                "Ссылка на источник",
                "URL публикации",
            ],
        ),
        (Field::Status, &["Статус", "Статус инцидента", "Состояние"]),
        (Field::Planned, &["Срок ответа", "Срок"]),
        // Not «Дата реакции»: the first reaction is not the final answer.
        (Field::Answered, &["Дата ответа", "Дата окончательного ответа"]),
        (Field::AnswerText, &["Ответ", "Текст ответа", "Ответ ОМСУ", "Финальный ответ"]),
        (Field::Overdue, &["Просрочено", "Просрочен"]),
    ],
    required: &[("ID инцидента", &[Field::Id]), ("Дата", &[Field::Received]), ("Текст", &[Field::Text])],
};

/// A table of VK comments (Госпаблики), with Russian or English headers (`comment_id` and
/// «Comment ID» are one header). The author column may hold a name; «ID автора» (`from_id`)
/// a VK id or a profile link.
const VK: Schema = Schema {
    family: Family::Vk,
    columns: &[
        (
            Field::Url,
            &[
                "Ссылка на пост",
                "Ссылка на запись",
                "Пост",
                "Запись",
                "Ссылка",
                "Post link",
                "Post URL",
                "Post",
                "Link",
                "URL",
            ],
        ),
        (Field::Id, &["ID комментария", "Номер комментария", "Комментарий ID", "Comment ID", "ID"]),
        (Field::Author, &["Автор", "Имя автора", "Автор комментария", "Author", "Author name", "From name"]),
        (
            Field::Contact,
            &["ID автора", "Ссылка на автора", "Профиль автора", "Author ID", "Author link", "From ID", "User ID"],
        ),
        (Field::Text, &["Текст", "Текст комментария", "Комментарий", "Text", "Comment", "Comment text", "Message"]),
        (
            Field::Received,
            &["Дата", "Дата комментария", "Дата и время", "Дата публикации", "Date", "Created", "Created at"],
        ),
        (Field::Deleted, &["Удалён", "Удален", "Deleted"]),
    ],
    required: &[
        ("Ссылка на пост", &[Field::Url]),
        ("ID комментария", &[Field::Id]),
        ("Текст", &[Field::Text]),
        ("Дата", &[Field::Received]),
    ],
};

#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Empty,
    Text(String),
    Number(f64),
    Date(NaiveDateTime),
    Bool(bool),
}

impl Cell {
    fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }
}

/// Rows with their 1-based number as a person sees it.
type Table = Vec<(usize, Vec<Cell>)>;

struct Layout {
    schema: &'static Schema,
    header_index: usize,
    /// Field → (column, header as written).
    columns: Vec<(Field, usize, String)>,
}

fn header_key(h: &str) -> String {
    normalize_header(h).chars().filter(|c| c.is_alphanumeric() || *c == '№').collect()
}

/// The field a header names in `schema`, with the alias's rank (its place in the field's list).
fn lookup(schema: &'static Schema, key: &str) -> Option<(Field, usize)> {
    schema
        .columns
        .iter()
        .find_map(|(field, aliases)| aliases.iter().position(|a| header_key(a) == key).map(|rank| (*field, rank)))
}

/// The field a header cell names: as written, else without a trailing bracketed hint
/// («Просрочено (да/нет)» → «Просрочено»), so an alias with brackets of its own
/// («Организация (текущая)») still matches as a whole first.
fn lookup_header(schema: &'static Schema, raw: &str) -> Option<(Field, usize)> {
    let key = header_key(raw);
    if key.is_empty() {
        return None;
    }
    lookup(schema, &key).or_else(|| {
        let h = normalize_header(raw);
        let (open, close) = if h.ends_with(')') {
            ('(', ')')
        } else if h.ends_with(']') {
            ('[', ']')
        } else {
            return None;
        };
        let inner = h.strip_suffix(close)?;
        let stem = &inner[..inner.rfind(open)?];
        let key = header_key(stem);
        (!key.is_empty()).then(|| lookup(schema, &key)).flatten()
    })
}

/// Maps header cells to fields with the rank of the alias that matched; when several columns
/// fit one field, the earlier alias wins (so «Номер» beats «№», and any id alias beats the
/// last one, «Номер ЕПГУ»), then the leftmost column.
fn match_header_ranked(schema: &'static Schema, cells: &[Cell]) -> Vec<(Field, usize, usize, String)> {
    let mut found: Vec<(Field, usize, usize, String)> = Vec::new();
    for (col, cell) in cells.iter().enumerate() {
        let Cell::Text(raw) = cell else { continue };
        let Some((field, rank)) = lookup_header(schema, raw) else { continue };
        match found.iter_mut().find(|(f, ..)| *f == field) {
            Some(slot) if rank < slot.1 => *slot = (field, rank, col, raw.trim().to_string()),
            Some(_) => {}
            None => found.push((field, rank, col, raw.trim().to_string())),
        }
    }
    found
}

/// [`match_header_ranked`] without the ranks: field → (column, header as written).
fn match_header(schema: &'static Schema, cells: &[Cell]) -> Vec<(Field, usize, String)> {
    match_header_ranked(schema, cells).into_iter().map(|(field, _, col, header)| (field, col, header)).collect()
}

fn missing(schema: &Schema, columns: &[(Field, usize, String)]) -> Vec<String> {
    schema
        .required
        .iter()
        .filter(|(_, group)| !group.iter().any(|f| columns.iter().any(|(c, _, _)| c == f)))
        .map(|(label, _)| (*label).to_string())
        .collect()
}

fn header_score(table: &Table, schemas: &[&'static Schema]) -> usize {
    table
        .iter()
        .take(10)
        .flat_map(|(_, cells)| schemas.iter().map(|schema| match_header(schema, cells).len()))
        .max()
        .unwrap_or(0)
}

/// Finds the first row (of the first ten) holding all required headers of one of `schemas`;
/// otherwise reports the best partial match as missing columns.
fn find_header(table: &Table, schemas: &[&'static Schema]) -> Result<Layout, FileError> {
    find_header_scored(table, schemas).map_err(|(_, err)| err)
}

/// [`find_header`], with the number of columns of the best partial match on failure (0 when
/// nothing looked like a header). When a row is complete for several schemas, the one
/// matching more columns wins, then the one whose aliases rank better, then the first.
fn find_header_scored(table: &Table, schemas: &[&'static Schema]) -> Result<Layout, (usize, FileError)> {
    let mut best: Option<(usize, Vec<String>)> = None;
    for (index, (_, cells)) in table.iter().take(10).enumerate() {
        let mut complete: Option<(usize, usize, Layout)> = None;
        for schema in schemas {
            let ranked = match_header_ranked(schema, cells);
            let rank_sum: usize = ranked.iter().map(|(_, rank, ..)| rank).sum();
            let columns: Vec<(Field, usize, String)> =
                ranked.into_iter().map(|(field, _, col, header)| (field, col, header)).collect();
            let absent = missing(schema, &columns);
            if absent.is_empty() {
                let better = complete
                    .as_ref()
                    .is_none_or(|(n, r, _)| columns.len() > *n || (columns.len() == *n && rank_sum < *r));
                if better {
                    complete = Some((columns.len(), rank_sum, Layout { schema, header_index: index, columns }));
                }
            } else if columns.len() >= 2 && best.as_ref().is_none_or(|(n, _)| columns.len() > *n) {
                best = Some((columns.len(), absent));
            }
        }
        if let Some((_, _, layout)) = complete {
            return Ok(layout);
        }
    }
    match best {
        Some((n, absent)) => Err((n, FileError::MissingColumns(absent))),
        None => Err((0, FileError::NoHeader)),
    }
}

/// Opens an XLSX workbook read from the start of `file` (after checking that it is a ZIP at
/// all) and hands it to `work`; a panic of the reader on a malformed file is `Corrupted`.
fn with_workbook<R: Read + Seek, T>(
    mut file: R,
    work: impl FnOnce(&mut Xlsx<R>) -> Result<T, FileError>,
) -> Result<T, FileError> {
    if !is_zip(&mut file)? {
        return Err(FileError::NotXlsx);
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<T, FileError> {
        let mut workbook = Xlsx::new(file).map_err(xlsx_error)?;
        work(&mut workbook)
    }));
    result.unwrap_or_else(|_| Err(FileError::Corrupted("не удалось прочитать книгу".to_string())))
}

/// Whether the file starts as a ZIP archive; leaves it at its start. `Empty` for no bytes.
fn is_zip<R: Read + Seek>(file: &mut R) -> Result<bool, FileError> {
    let unreadable = |e: std::io::Error| FileError::Corrupted(format!("файл не читается: {e}"));
    file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let mut magic = Vec::with_capacity(4);
    file.by_ref().take(4).read_to_end(&mut magic).map_err(unreadable)?;
    if magic.is_empty() {
        return Err(FileError::Empty);
    }
    file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    Ok(magic.starts_with(b"PK\x03\x04") || magic.starts_with(b"PK\x05\x06"))
}

/// Streams one sheet of a workbook row by row (blank rows between used ones included, as in
/// a sheet's range), without holding the sheet: `each` gets the 1-based row number and the
/// cells, and returns `false` to stop.
fn stream_sheet<R: Read + Seek>(
    workbook: &mut Xlsx<R>,
    name: &str,
    mut each: impl FnMut(usize, Vec<Cell>) -> bool,
) -> Result<(), FileError> {
    let mut reader = workbook.worksheet_cells_reader(name).map_err(xlsx_error)?;
    let mut current: Option<(u32, Vec<Cell>)> = None;
    let mut last_row: Option<u32> = None;
    let mut emit = |row: u32, cells: Vec<Cell>, last_row: &mut Option<u32>| -> bool {
        // Blank rows between used ones, as a sheet's range has them.
        if let Some(prev) = *last_row {
            for blank in prev + 1..row {
                if !each(blank as usize + 1, Vec::new()) {
                    return false;
                }
            }
        }
        *last_row = Some(row);
        each(row as usize + 1, cells)
    };
    while let Some(cell) = reader.next_cell().map_err(xlsx_error)? {
        let (row, col) = cell.get_position();
        let value = xlsx_cell(&Data::from(cell.get_value().clone()));
        match &mut current {
            Some((r, cells)) if *r == row => {
                let col = col as usize;
                if cells.len() <= col {
                    cells.resize(col + 1, Cell::Empty);
                }
                cells[col] = value;
            }
            _ => {
                if let Some((r, cells)) = current.take()
                    && !emit(r, cells, &mut last_row)
                {
                    return Ok(());
                }
                let mut cells = vec![Cell::Empty; col as usize + 1];
                cells[col as usize] = value;
                current = Some((row, cells));
            }
        }
    }
    if let Some((r, cells)) = current.take() {
        emit(r, cells, &mut last_row);
    }
    Ok(())
}

/// The header of a streamed XLSX export: where it is and what each column holds.
pub struct XlsxLayout {
    /// The sheet that holds the data: the first, in workbook order, with a header row.
    sheet: String,
    layout: Layout,
    /// Row number of the header row.
    header_row: usize,
    fixed_channel: &'static str,
    /// Non-empty data rows.
    pub rows: usize,
}

/// The ingestion API's field names a refused row may carry, with the columns behind them
/// (the first present one names the field: `categoryName` is the subcategory's column when
/// the file has no category column).
const API_FIELDS: &[(&str, &[Field])] = &[
    ("externalId", &[Field::Id]),
    ("channel", &[Field::Channel, Field::Source]),
    ("receivedAt", &[Field::Received]),
    ("text", &[Field::Text, Field::Category]),
    ("categoryName", &[Field::Category, Field::Subcategory]),
    ("subcategoryName", &[Field::Subcategory]),
    ("territoryName", &[Field::Territory]),
    ("recipientName", &[Field::OrgCurrent, Field::OrgReceived]),
    ("answeredAt", &[Field::Answered]),
    ("answerText", &[Field::AnswerText]),
    ("satisfaction", &[Field::Satisfaction]),
    ("reopened", &[Field::Reopened]),
    ("status", &[Field::Status, Field::Stage]),
    ("authorName", &[Field::Author]),
    ("authorContact", &[Field::Contact]),
    ("url", &[Field::Url]),
];

/// Ingestion field name → the header, as written in the file, of its column, so that a row
/// refused after parsing names the column the person sees.
pub type ApiHeaders = std::collections::HashMap<&'static str, String>;

impl Layout {
    fn api_headers(&self) -> ApiHeaders {
        API_FIELDS
            .iter()
            .filter_map(|(name, fields)| {
                fields
                    .iter()
                    .find_map(|f| self.columns.iter().find(|(c, _, _)| c == f))
                    .map(|(_, _, header)| (*name, header.clone()))
            })
            .collect()
    }
}

impl XlsxLayout {
    /// See [`ApiHeaders`].
    pub fn api_headers(&self) -> ApiHeaders {
        self.layout.api_headers()
    }
}

impl CsvLayout {
    /// See [`ApiHeaders`].
    pub fn api_headers(&self) -> ApiHeaders {
        self.layout.api_headers()
    }
}

fn xlsx_schema(format: FileFormat) -> (&'static Schema, &'static str) {
    match format {
        FileFormat::IncidentXlsx => (&INCIDENT, "INCIDENT"),
        FileFormat::VkComments => (&VK, "GOSPABLIKI"),
        _ => (&POS, "POS"),
    }
}

/// One sheet's header (its layout and row number) and number of non-empty data rows, or the
/// best partial match's score and the error to report when the sheet has no header.
type SheetScan = Result<(Layout, usize, usize), (usize, FileError)>;

/// Looks for the header in a sheet's first ten rows; when found, reads the rest of the sheet
/// (streamed) to count the data rows. `Err` is a problem with the file itself.
fn scan_sheet<R: Read + Seek>(
    workbook: &mut Xlsx<R>,
    name: &str,
    schema: &'static Schema,
) -> Result<SheetScan, FileError> {
    let mut head: Table = Vec::new();
    let mut found: Option<(Layout, usize)> = None;
    let mut rows = 0usize;
    let mut failure: Option<(usize, FileError)> = None;
    let data_rows = |head: &Table, header_row: usize| {
        head.iter().filter(|(r, c)| *r > header_row && !c.iter().all(Cell::is_blank)).count()
    };
    stream_sheet(workbook, name, |row, cells| {
        if let Some((_, header_row)) = &found {
            if row > *header_row && !cells.iter().all(Cell::is_blank) {
                rows += 1;
            }
            return true;
        }
        head.push((row, cells));
        if head.len() == 10 {
            match find_header_scored(&head, &[schema]) {
                Ok(layout) => {
                    let header_row = head[layout.header_index].0;
                    rows = data_rows(&head, header_row);
                    found = Some((layout, header_row));
                }
                Err(e) => {
                    failure = Some(e);
                    return false;
                }
            }
        }
        true
    })?;
    if let Some(e) = failure {
        return Ok(Err(e));
    }
    Ok(match found {
        Some((layout, header_row)) => Ok((layout, header_row, rows)),
        // Fewer than ten rows in all: look for the header in what there is.
        None => find_header_scored(&head, &[schema]).map(|layout| {
            let header_row = head[layout.header_index].0;
            let rows = data_rows(&head, header_row);
            (layout, header_row, rows)
        }),
    })
}

/// First pass over an XLSX export: finds the data sheet (the first, in workbook order, whose
/// first ten rows hold a header row) and counts its data rows, reading the whole sheet (so a
/// damaged file is refused before anything is written) without keeping it. With no such sheet,
/// the error is the best partial header of any sheet (missing columns), else `NoHeader`.
///
/// # Errors
/// The file-level problem, as [`parse`] reports it.
pub fn scan_xlsx<R: Read + Seek>(
    format: FileFormat,
    mut file: R,
    limits: &ImportLimits,
) -> Result<XlsxLayout, FileError> {
    let max_rows = limits.max_rows;
    let (schema, channel) = xlsx_schema(format);
    if is_zip(&mut file)? {
        // Before calamine allocates anything from what the file declares.
        xlsx_guard::check(&mut file, limits)?;
    }
    with_workbook(file, |workbook| {
        let names = workbook.sheet_names();
        if names.is_empty() {
            return Err(FileError::Corrupted("в книге нет листов".to_string()));
        }
        let mut best: Option<(usize, FileError)> = None;
        for sheet in names {
            match scan_sheet(workbook, &sheet, schema)? {
                Ok((layout, header_row, rows)) => {
                    if rows > max_rows {
                        return Err(FileError::TooManyRows(max_rows));
                    }
                    return Ok(XlsxLayout { sheet, layout, header_row, fixed_channel: channel, rows });
                }
                Err((score, err)) => {
                    if best.as_ref().is_none_or(|(s, _)| score > *s) {
                        best = Some((score, err));
                    }
                }
            }
        }
        Err(best.map_or(FileError::NoHeader, |(_, err)| err))
    })
}

/// Second pass: each data row of the export's data sheet (the one [`scan_xlsx`] chose), in
/// order, to `each` (which returns `false` to stop), never more than one row in memory.
///
/// # Errors
/// A file-level problem (not expected after [`scan_xlsx`] accepted the same file).
pub fn stream_xlsx<R: Read + Seek>(
    file: R,
    layout: &XlsxLayout,
    mut each: impl FnMut(Result<ImportRow, RowError>) -> bool,
) -> Result<(), FileError> {
    with_workbook(file, |workbook| {
        stream_sheet(workbook, &layout.sheet, |row, cells| {
            if row <= layout.header_row || cells.iter().all(Cell::is_blank) {
                return true;
            }
            each(RowReader { row, cells: &cells, layout: &layout.layout }.build(Some(layout.fixed_channel)))
        })
    })
}

fn xlsx_error(err: XlsxError) -> FileError {
    match err {
        XlsxError::FileNotFound(_) | XlsxError::RelationshipNotFound => FileError::NotXlsx,
        other => FileError::Corrupted(other.to_string()),
    }
}

fn xlsx_cell(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Text(s.clone()),
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
            NaiveDate::from_ymd_opt(i32::from(y), u32::from(mo), u32::from(d))
                .and_then(|date| date.and_hms_milli_opt(u32::from(h), u32::from(mi), u32::from(s), u32::from(ms)))
                .map_or(Cell::Number(dt.as_f64()), Cell::Date)
        }
        Data::DateTime(dt) => Cell::Number(dt.as_f64()),
        Data::Error(e) => Cell::Text(format!("#{e}")),
    }
}

/// The text of a CSV file: UTF-8, UTF-16 or UTF-8 with a byte-order mark, else Windows-1251.
///
/// # Errors
/// `Empty` for nothing but whitespace, `Encoding` for binary data.
pub fn decode_text(bytes: &[u8]) -> Result<String, FileError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FileError::Empty);
    }
    let text = if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = encoding.decode_without_bom_handling(&bytes[bom..]);
        if had_errors {
            return Err(FileError::Encoding);
        }
        text.into_owned()
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        text.to_string()
    } else {
        let (text, _) = encoding_rs::WINDOWS_1251.decode_without_bom_handling(bytes);
        text.into_owned()
    };
    if text.contains('\0') {
        return Err(FileError::Encoding);
    }
    if text.trim().is_empty() {
        return Err(FileError::Empty);
    }
    Ok(text)
}

/// Each record of a CSV text with its 1-based line number to `each` (which returns `false` to
/// stop).
fn stream_csv_rows(text: &str, delimiter: u8, mut each: impl FnMut(usize, Vec<Cell>) -> bool) -> Result<(), FileError> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(text.as_bytes());
    let bytes = text.as_bytes();
    let (mut cursor, mut line) = (0usize, 1usize);
    for record in reader.records() {
        let record = record.map_err(|e| FileError::Corrupted(e.to_string()))?;
        if record.iter().any(|f| f.len() > MAX_CELL_CHARS && f.chars().count() > MAX_CELL_CHARS) {
            return Err(FileError::Limit(format!("в файле есть ячейка длиннее {MAX_CELL_CHARS} символов")));
        }
        let mut start = record.position().map_or(cursor, |p| p.byte() as usize).clamp(cursor, bytes.len());
        while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        line += text.get(cursor..start).map_or(0, |t| t.matches('\n').count());
        cursor = start;
        let cells =
            record.iter().map(|f| if f.trim().is_empty() { Cell::Empty } else { Cell::Text(f.to_string()) }).collect();
        if !each(line, cells) {
            break;
        }
    }
    Ok(())
}

struct RowReader<'a> {
    row: usize,
    cells: &'a [Cell],
    layout: &'a Layout,
}

impl RowReader<'_> {
    fn cell(&self, field: Field) -> Option<(&Cell, &str)> {
        let (_, col, header) = self.layout.columns.iter().find(|(f, _, _)| *f == field)?;
        let cell = self.cells.get(*col).unwrap_or(&Cell::Empty);
        Some((cell, header.as_str()))
    }

    fn header(&self, field: Field) -> Option<String> {
        self.cell(field).map(|(_, h)| h.to_string())
    }

    fn error(&self, field: Option<String>, message: impl Into<String>) -> RowError {
        RowError { row: self.row, field, message: message.into() }
    }

    fn text(&self, field: Field) -> Option<String> {
        let (cell, _) = self.cell(field)?;
        let s = match cell {
            Cell::Empty => return None,
            Cell::Text(s) => s.trim().to_string(),
            Cell::Number(n) => format_number(*n),
            Cell::Date(d) => d.format("%d.%m.%Y %H:%M").to_string(),
            Cell::Bool(b) => if *b { "Да" } else { "Нет" }.to_string(),
        };
        (!s.is_empty()).then_some(s)
    }

    /// A date cell: its wall time and, when the text names one, its UTC offset. A year
    /// outside 1990–2100 is an error, not a date.
    fn date(&self, field: Field) -> Result<Option<Stamp>, RowError> {
        let Some((cell, header)) = self.cell(field) else {
            return Ok(None);
        };
        let parsed = match cell {
            Cell::Empty => return Ok(None),
            Cell::Text(s) if s.trim().is_empty() => return Ok(None),
            Cell::Text(s) => parse_date_text(s),
            Cell::Number(n) => excel_serial(*n).map(|d| (d, None)),
            Cell::Date(d) => Some((*d, None)),
            Cell::Bool(_) => None,
        };
        let written = || self.text(field).unwrap_or_default();
        match parsed {
            Some((at, offset)) if (MIN_YEAR..=MAX_YEAR).contains(&at.year()) => Ok(Some((at, offset))),
            Some((at, _)) => Err(self.error(
                Some(header.to_string()),
                format!("год {} вне допустимого диапазона {MIN_YEAR}–{MAX_YEAR} («{}»)", at.year(), written()),
            )),
            None => Err(self.error(Some(header.to_string()), format!("не удалось распознать дату «{}»", written()))),
        }
    }

    fn yes_no(&self, field: Field) -> Result<Option<bool>, RowError> {
        self.flag(field, parse_yes_no)
    }

    fn flag(&self, field: Field, parse: fn(&str) -> Option<bool>) -> Result<Option<bool>, RowError> {
        let Some((cell, header)) = self.cell(field) else {
            return Ok(None);
        };
        if let Cell::Bool(b) = cell {
            return Ok(Some(*b));
        }
        let Some(raw) = self.text(field) else {
            return Ok(None);
        };
        parse(&raw)
            .map(Some)
            .ok_or_else(|| self.error(Some(header.to_string()), format!("ожидалось «Да» или «Нет», а не «{raw}»")))
    }

    /// «Оценка ответа заявителем»: 1..=5, `None` when the author gave no rating.
    fn satisfaction(&self) -> Result<Option<i32>, RowError> {
        let Some((cell, header)) = self.cell(Field::Satisfaction) else {
            return Ok(None);
        };
        let Some(raw) = self.text(Field::Satisfaction) else {
            return Ok(None);
        };
        let parsed = match cell {
            Cell::Number(n) if *n == 0.0 => Ok(None),
            Cell::Number(n) if n.fract() == 0.0 && (1.0..=5.0).contains(n) => Ok(Some(*n as i32)),
            Cell::Number(_) | Cell::Bool(_) | Cell::Date(_) => Err(()),
            Cell::Empty | Cell::Text(_) => parse_satisfaction(&raw),
        };
        parsed.map_err(|()| {
            self.error(Some(header.to_string()), format!("ожидалась оценка от 1 до 5 (или «Не оценено»), а не «{raw}»"))
        })
    }

    fn integer(&self, field: Field, range: std::ops::RangeInclusive<i32>) -> Result<Option<i32>, RowError> {
        let Some((cell, header)) = self.cell(field) else {
            return Ok(None);
        };
        let Some(raw) = self.text(field) else {
            return Ok(None);
        };
        let value = match cell {
            Cell::Number(n) if n.fract() == 0.0 => Some(*n as i32),
            _ => parse_integer(&raw),
        };
        match value {
            Some(v) if range.contains(&v) => Ok(Some(v)),
            _ => Err(self.error(
                Some(header.to_string()),
                format!("ожидалось целое число от {} до {}, а не «{raw}»", range.start(), range.end()),
            )),
        }
    }

    fn reopened(&self) -> Result<Option<i32>, RowError> {
        let Some((cell, _)) = self.cell(Field::Reopened) else {
            return Ok(None);
        };
        if let Cell::Bool(b) = cell {
            return Ok(Some(i32::from(*b)));
        }
        if let Some(b) = self.text(Field::Reopened).as_deref().and_then(parse_yes_no) {
            return Ok(Some(i32::from(b)));
        }
        self.integer(Field::Reopened, 0..=i32::MAX)
    }

    fn build(&self, fixed_channel: Option<&'static str>) -> Result<ImportRow, RowError> {
        let incident = match self.layout.schema.family {
            Family::Vk => return self.build_vk(),
            Family::Incident => true,
            Family::Pos => false,
        };
        let external_id = self.text(Field::Id).ok_or_else(|| self.error(self.header(Field::Id), "не указан номер"))?;
        let (received_at, received_offset) = self
            .date(Field::Received)?
            .ok_or_else(|| self.error(self.header(Field::Received), "не указана дата поступления"))?;
        let category = self.text(Field::Category);
        let subcategory = self.text(Field::Subcategory);
        let text = match self.text(Field::Text) {
            Some(t) => t,
            None if !incident && (category.is_some() || subcategory.is_some()) => {
                [category.as_deref(), subcategory.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" / ")
            }
            None => {
                let field = self.header(Field::Text).or_else(|| self.header(Field::Category));
                return Err(self.error(field, "нет текста сообщения"));
            }
        };
        let source = self.text(Field::Source);
        let channel = fixed_channel.unwrap_or_else(|| {
            self.text(Field::Channel)
                .or_else(|| source.clone())
                .as_deref()
                .and_then(channel_code)
                .unwrap_or(if incident { "INCIDENT" } else { "POS" })
        });
        let kind = if incident {
            "INCIDENT"
        } else {
            let fz = self.text(Field::Fz).is_some_and(|f| f.replace(' ', "").contains("59"));
            if fz || self.yes_no(Field::Chose59)? == Some(true) { "APPEAL" } else { "MESSAGE" }
        };
        let (planned_at, planned_offset) = self.date(Field::Planned)?.unzip();
        let (answered_at, answered_offset) = self.date(Field::Answered)?.unzip();
        Ok(ImportRow {
            row: self.row,
            external_id,
            channel,
            kind,
            received_at,
            received_offset,
            text,
            category,
            subcategory,
            organisation: self.text(Field::OrgCurrent).or_else(|| self.text(Field::OrgReceived)),
            territory: self.text(Field::Territory),
            author_name: self.text(Field::Author),
            author_contact: self.text(Field::Contact),
            url: self.text(Field::Url),
            source,
            status: self.text(Field::Status),
            stage: self.text(Field::Stage),
            planned_at,
            planned_offset: planned_offset.flatten(),
            answered_at,
            answered_offset: answered_offset.flatten(),
            answer_text: self.text(Field::AnswerText),
            overdue: self.flag(Field::Overdue, parse_overdue)?,
            satisfaction: self.satisfaction()?,
            reopened: self.reopened()?,
            decision: self.text(Field::Decision),
            skipped: None,
            source_path: None,
        })
    }

    /// A row of a VK comments table: the post link and the comment id make the external id
    /// (as the JSON's `owner_id`, `post_id` and `id` do); a deleted or empty comment, or one
    /// the page wrote itself, is skipped with the reason.
    fn build_vk(&self) -> Result<ImportRow, RowError> {
        use vk_comments as vk;
        let link_header = self.header(Field::Url);
        let link = self.text(Field::Url).ok_or_else(|| self.error(link_header.clone(), "не указана ссылка на пост"))?;
        let (owner, post) = vk::post_of_link(&link).ok_or_else(|| {
            self.error(
                link_header,
                format!("не удалось распознать ссылку на пост «{link}» (ожидалась вида https://vk.com/wall-123_45)"),
            )
        })?;
        let id_header = self.header(Field::Id);
        let raw_id =
            self.text(Field::Id).ok_or_else(|| self.error(id_header.clone(), "не указан номер комментария"))?;
        let comment = vk::comment_id_of(&raw_id).ok_or_else(|| {
            self.error(id_header, format!("ожидался номер комментария (целое число), а не «{raw_id}»"))
        })?;
        let external_id = vk::external_id(owner, post, comment);
        let skip = |reason: &str| {
            Ok(ImportRow::skip(self.row, external_id.clone(), vk::CHANNEL, vk::KIND, reason.to_string()))
        };
        if self.yes_no(Field::Deleted)? == Some(true) {
            return skip(vk::DELETED);
        }
        let author = self.text(Field::Contact);
        let author_id = author.as_deref().and_then(vk::author_id_of);
        if author_id == Some(owner) {
            return skip(vk::OWN);
        }
        let Some(text) = self.text(Field::Text) else { return skip(vk::EMPTY) };
        let (received_at, received_offset) = match self.unix_time(Field::Received) {
            Some(at) => (at, FixedOffset::east_opt(0)),
            None => self
                .date(Field::Received)?
                .ok_or_else(|| self.error(self.header(Field::Received), "не указана дата комментария"))?,
        };
        Ok(ImportRow {
            text,
            received_at,
            received_offset,
            author_name: self.text(Field::Author),
            author_contact: author_id.map(vk::profile_link).or(author),
            url: Some(vk::comment_link(owner, post, comment, None)),
            skipped: None,
            ..ImportRow::skip(self.row, external_id, vk::CHANNEL, vk::KIND, String::new())
        })
    }

    /// A date written as Unix time (seconds, as the VK API gives it): nine to eleven digits,
    /// taken as UTC; `None` for anything else (a date as text, an Excel date).
    fn unix_time(&self, field: Field) -> Option<NaiveDateTime> {
        let (cell, _) = self.cell(field)?;
        let seconds = match cell {
            Cell::Number(n) if n.fract() == 0.0 && *n >= 1e8 && *n < 1e11 => *n as i64,
            Cell::Text(s) if (9..=11).contains(&s.trim().len()) && s.trim().chars().all(|c| c.is_ascii_digit()) => {
                s.trim().parse().ok()?
            }
            _ => return None,
        };
        DateTime::from_timestamp(seconds, 0).map(|t| t.naive_utc())
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { n.to_string() }
}

fn parse_yes_no(raw: &str) -> Option<bool> {
    match normalize_header(raw).as_str() {
        "да" | "yes" | "true" | "1" | "+" | "истина" | "y" | "д" => Some(true),
        "нет" | "no" | "false" | "0" | "-" | "ложь" | "n" | "н" => Some(false),
        _ => None,
    }
}

/// «Просрочено»: yes/no, or the words of the exports («Просрочен», «Не просрочено»,
/// «В срок», «Нет просрочки»).
fn parse_overdue(raw: &str) -> Option<bool> {
    let v = normalize_header(raw);
    let starts = |list: &[&str]| list.iter().any(|p| v.starts_with(p));
    if starts(&["не просроч", "нет просроч", "без просроч", "в срок", "своевремен", "в пределах срока"])
    {
        Some(false)
    } else if starts(&["просроч", "да, просроч", "с просрочк"]) {
        Some(true)
    } else {
        parse_yes_no(&v)
    }
}

/// «Оценка ответа заявителем» as text: `Ok(Some(1..=5))` for a rating (`5`, `5 - отлично`,
/// `5 (отлично)`, «Отлично» … «Очень плохо»), `Ok(None)` for no rating (empty, `-`, `0`,
/// «Не оценено», «Нет оценки», «Без оценки»), `Err` for anything else.
fn parse_satisfaction(raw: &str) -> Result<Option<i32>, ()> {
    let v = normalize_header(raw);
    let none = ["", "-", "—", "–", "0", "нет", "нет оценки", "без оценки", "оценки нет", "оценка не выставлена"];
    if none.contains(&v.as_str()) || v.starts_with("не оцен") {
        return Ok(None);
    }
    let word = match v.as_str() {
        "отлично" => Some(5),
        "хорошо" => Some(4),
        "удовлетворительно" => Some(3),
        "неудовлетворительно" | "плохо" => Some(2),
        "очень плохо" => Some(1),
        _ => None,
    };
    let number = word.or_else(|| parse_integer(&v)).or_else(|| {
        // A leading number with a gloss: «5 - отлично», «5 (отлично)», «4 — хорошо», «5 баллов».
        let digits = v.find(|c: char| !c.is_ascii_digit()).filter(|&i| i > 0)?;
        let glossed = v[digits..].starts_with(' ') || v[digits..].starts_with(['-', '—', '–', '(']);
        glossed.then(|| v[..digits].parse().ok())?
    });
    match number {
        Some(0) => Ok(None),
        Some(n @ 1..=5) => Ok(Some(n)),
        _ => Err(()),
    }
}

fn parse_integer(raw: &str) -> Option<i32> {
    let t = raw.trim();
    if let Ok(v) = t.parse::<i32>() {
        return Some(v);
    }
    let f = t.replace(',', ".").parse::<f64>().ok()?;
    (f.fract() == 0.0 && f.abs() < f64::from(i32::MAX)).then_some(f as i32)
}

/// A date as written: the wall time, and the UTC offset when the text names one.
type Stamp = (NaiveDateTime, Option<FixedOffset>);

/// Dates outside these years are typing or format errors, not dates of appeals.
const MIN_YEAR: i32 = 1990;
const MAX_YEAR: i32 = 2100;

/// Parses a date written as text (see the module documentation for the forms). The year is
/// not checked here: a two-digit year is 19xx for 69–99, else 20xx.
fn parse_date_text(raw: &str) -> Option<Stamp> {
    let s = raw.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let s = s.trim_matches(|c: char| c == ',' || c == ';' || c.is_whitespace());
    if s.is_empty() {
        return None;
    }
    // An Excel serial number stored as text: `46328.385`.
    let whole = s.split(['.', ',']).next().unwrap_or(s);
    if whole.len() == 5
        && s.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',')
        && s.matches(['.', ',']).count() <= 1
    {
        return excel_serial(s.replace(',', ".").parse().ok()?).map(|d| (d, None));
    }
    let (s, offset) = split_offset(s);
    // ISO `2026-11-02t09:15` → `2026-11-02 09:15`.
    let s = match s.find('t') {
        Some(i) if i > 0 && s[..i].ends_with(|c: char| c.is_ascii_digit()) => format!("{} {}", &s[..i], &s[i + 1..]),
        _ => s.to_string(),
    };
    let mut tokens: Vec<&str> = Vec::new();
    for token in s.split(' ') {
        let token = token.trim_end_matches(',');
        let token = match token.strip_suffix("г.").or_else(|| token.strip_suffix('г')) {
            Some(year) if year.ends_with(|c: char| c.is_ascii_digit()) => year,
            _ => token,
        };
        if !matches!(token, "" | "г." | "г" | "года" | "в") {
            tokens.push(token);
        }
    }
    let (date, time) = match tokens.as_slice() {
        [day, month, year, rest @ ..] if month.starts_with(char::is_alphabetic) => {
            let date = NaiveDate::from_ymd_opt(parse_year(year)?, month_number(month)?, day.parse().ok()?)?;
            (date, rest)
        }
        [date, rest @ ..] => (parse_numeric_date(date)?, rest),
        [] => return None,
    };
    let time = match time {
        [] => NaiveTime::MIN,
        [time] => parse_time(time)?,
        _ => return None,
    };
    Some((date.and_time(time), offset))
}

/// Splits a trailing UTC offset (`z`, `+03:00`, `+0300`, `-05`, ` utc`, ` gmt`) off a
/// lower-cased date text. A sign counts as an offset only after a time (`hh:mm`), so the
/// dashes of `2026-11-02` are not taken for one.
fn split_offset(s: &str) -> (&str, Option<FixedOffset>) {
    let utc = FixedOffset::east_opt(0);
    for suffix in [" utc", " gmt", "utc", "gmt"] {
        if let Some(rest) = s.strip_suffix(suffix) {
            return (rest.trim_end(), utc);
        }
    }
    if let Some(rest) = s.strip_suffix('z')
        && rest.ends_with(|c: char| c.is_ascii_digit())
    {
        return (rest, utc);
    }
    let Some(i) = s.rfind(['+', '-']) else { return (s, None) };
    let (head, tail) = (s[..i].trim_end(), &s[i + 1..]);
    if !head.contains(':') || !tail.chars().all(|c| c.is_ascii_digit() || c == ':') {
        return (s, None);
    }
    let digits: String = tail.chars().filter(char::is_ascii_digit).collect();
    let (hours, minutes) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok(), Some(0)),
        4 => (digits[..2].parse::<i32>().ok(), digits[2..].parse::<i32>().ok()),
        _ => (None, None),
    };
    let seconds = match (hours, minutes) {
        (Some(h), Some(m)) if h <= 23 && m <= 59 => (h * 60 + m) * 60,
        _ => return (s, None),
    };
    let seconds = if s[i..].starts_with('-') { -seconds } else { seconds };
    (head, FixedOffset::east_opt(seconds))
}

/// `31.12.2026`, `31.12.26`, `31/12/2026`, `31-12-2026`, `2026-12-31`, `2026.12.31`.
fn parse_numeric_date(s: &str) -> Option<NaiveDate> {
    let separator = s.chars().find(|c| matches!(c, '.' | '/' | '-'))?;
    let parts: Vec<&str> = s.split(separator).collect();
    let [a, b, c] = parts.as_slice() else { return None };
    if ![a, b, c].iter().all(|p| !p.is_empty() && p.chars().all(|ch| ch.is_ascii_digit())) {
        return None;
    }
    let (year, month, day) = if a.len() == 4 && b.len() <= 2 && c.len() <= 2 {
        (a.parse().ok()?, b, c)
    } else if a.len() <= 2 && b.len() <= 2 {
        (parse_year(c)?, b, a)
    } else {
        return None;
    };
    NaiveDate::from_ymd_opt(year, month.parse().ok()?, day.parse().ok()?)
}

/// A four-digit year, or a two-digit one (69–99 → 19xx, else 20xx).
fn parse_year(s: &str) -> Option<i32> {
    if !s.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let year: i32 = s.parse().ok()?;
    match s.len() {
        4 => Some(year),
        2 if year >= 69 => Some(1900 + year),
        2 => Some(2000 + year),
        _ => None,
    }
}

/// A Russian month name in the genitive («ноября»), the nominative or abbreviated («нояб.»).
fn month_number(word: &str) -> Option<u32> {
    const MONTHS: &[(&str, u32)] = &[
        ("янв", 1),
        ("фев", 2),
        ("мар", 3),
        ("апр", 4),
        ("мая", 5),
        ("май", 5),
        ("июн", 6),
        ("июл", 7),
        ("авг", 8),
        ("сен", 9),
        ("окт", 10),
        ("ноя", 11),
        ("дек", 12),
    ];
    let word = word.trim_end_matches('.');
    if word.chars().count() < 3 || !word.chars().all(char::is_alphabetic) {
        return None;
    }
    MONTHS.iter().find(|(prefix, _)| word.starts_with(prefix)).map(|(_, n)| *n)
}

/// `9:05`, `09:05:33`, `09:05:33.250` (or `,250`), `09.05`, `09.05.33`.
fn parse_time(s: &str) -> Option<NaiveTime> {
    let number = |p: &str| -> Option<u32> {
        (!p.is_empty() && p.len() <= 2 && p.chars().all(|c| c.is_ascii_digit())).then(|| p.parse().ok())?
    };
    let (parts, fraction): (Vec<&str>, &str) = if s.contains(':') {
        let (main, fraction) = s.split_once(['.', ',']).unwrap_or((s, ""));
        (main.split(':').collect(), fraction)
    } else {
        (s.split('.').collect(), "")
    };
    let nanos = if fraction.is_empty() {
        0
    } else if fraction.len() <= 9 && fraction.chars().all(|c| c.is_ascii_digit()) {
        format!("{fraction:0<9}").parse().ok()?
    } else {
        return None;
    };
    match parts.as_slice() {
        [h, m] if fraction.is_empty() => NaiveTime::from_hms_opt(number(h)?, number(m)?, 0),
        [h, m, sec] => NaiveTime::from_hms_nano_opt(number(h)?, number(m)?, number(sec)?, nanos),
        _ => None,
    }
}

/// Excel 1900-system serial number (days since 1899-12-30, fraction = time of day).
fn excel_serial(value: f64) -> Option<NaiveDateTime> {
    if !value.is_finite() || !(1.0..2_958_466.0).contains(&value) {
        return None;
    }
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30)?.and_hms_opt(0, 0, 0)?;
    let millis = (value * 86_400_000.0).round() as i64;
    epoch.checked_add_signed(TimeDelta::try_milliseconds(millis)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rust_xlsxwriter::{Format, Workbook};

    fn dt(s: &str) -> NaiveDateTime {
        parse_date_text(s).unwrap().0
    }

    /// A cell value for the test workbook builder.
    enum V<'a> {
        S(&'a str),
        N(f64),
        D(f64),
        B(bool),
        E,
    }

    fn xlsx(rows: &[Vec<V<'_>>]) -> Vec<u8> {
        xlsx_sheets(&[("Лист1", rows)])
    }

    /// A workbook with the given sheets, in order.
    fn xlsx_sheets(sheets: &[(&str, &[Vec<V<'_>>])]) -> Vec<u8> {
        let mut wb = Workbook::new();
        let date_fmt = Format::new().set_num_format("dd.mm.yyyy hh:mm");
        for (name, rows) in sheets {
            let ws = wb.add_worksheet().set_name(*name).unwrap();
            for (r, row) in rows.iter().enumerate() {
                for (c, v) in row.iter().enumerate() {
                    let (r, c) = (r as u32, c as u16);
                    match v {
                        V::S(s) => {
                            ws.write_string(r, c, *s).unwrap();
                        }
                        V::N(n) => {
                            ws.write_number(r, c, *n).unwrap();
                        }
                        V::D(n) => {
                            ws.write_number_with_format(r, c, *n, &date_fmt).unwrap();
                        }
                        V::B(b) => {
                            ws.write_boolean(r, c, *b).unwrap();
                        }
                        V::E => {}
                    }
                }
            }
        }
        wb.save_to_buffer().unwrap()
    }

    fn ok_rows(rows: &[Result<ImportRow, RowError>]) -> Vec<&ImportRow> {
        rows.iter().filter_map(|r| r.as_ref().ok()).collect()
    }

    // 2026-12-31 14:05 as an Excel serial.
    const SERIAL: f64 = 46_387.0 + (14.0 * 60.0 + 5.0) / 1440.0;

    fn pos_sample() -> Vec<u8> {
        use V::{B, D, E, N, S};
        xlsx(&[
            vec![S("Реестр сообщений ПОС за декабрь 2026")],
            vec![],
            vec![
                S("Дата поступления"),
                S("Факт"),
                S("№"),
                S("Лишний столбец"),
                S("Категория"),
                S("Подкатегория"),
                S("Организация (получившая)"),
                S("Текущая организация"),
                S("Стадия"),
                S("Статус"),
                S("Просрочено"),
                S("ФЗ"),
                S("Заявитель выбрал подачу по 59-ФЗ"),
                S("Оценка ответа заявителем"),
                S("Повторное рассмотрение"),
                S("Тип решения"),
                S("Дата фактического завершения работ"),
                S("Источник"),
            ],
            vec![
                D(SERIAL),
                S("Яма на дороге"),
                N(1001.0),
                S("x"),
                S("Дороги"),
                S("Ямы"),
                S("Администрация"),
                S("УЖКХ"),
                S("Завершено"),
                S("Отправлен ответ заявителю"),
                S("Нет"),
                S("Обычное сообщение"),
                S("Нет"),
                N(5.0),
                S("Да"),
                S("Решено"),
                S("05.01.2027 10:00"),
                S("ЕПГУ"),
            ],
            vec![
                S("31.12.2026 14:05:33"),
                E,
                S("1002"),
                E,
                S("Медицина"),
                S("Медицинская карта"),
                S("Администрация"),
                E,
                S("В работе"),
                S("На исполнении"),
                B(true),
                S("Обращение по 59-ФЗ"),
                E,
                E,
                N(2.0),
            ],
            vec![S("32.13.2026"), S("Плохая дата"), S("1003")],
            vec![],
            vec![N(SERIAL), S("Мусор"), S("1004"), E, E, E, E, E, E, E, S("да"), E, S("Да"), S("7")],
            vec![S("2026-12-31T14:05:00"), S("Свет"), S("1005"), E, E, E, E, E, E, E, E, E, E, E, E, E, S("вчера")],
            vec![S("2026-12-31 14:05"), S("Снег"), S("1006")],
        ])
    }

    #[test]
    fn pos_xlsx_full() {
        let rows = parse(FileFormat::PosXlsx, &pos_sample(), 100).unwrap();
        assert_eq!(rows.len(), 6, "empty row skipped");
        let expected = dt("31.12.2026 14:05");

        let first = rows[0].as_ref().unwrap();
        assert_eq!(first.row, 4);
        assert_eq!(first.external_id, "1001");
        assert_eq!(first.channel, "POS");
        assert_eq!(first.kind, "MESSAGE");
        assert_eq!(first.received_at, expected);
        assert_eq!(first.text, "Яма на дороге");
        assert_eq!(first.category.as_deref(), Some("Дороги"));
        assert_eq!(first.subcategory.as_deref(), Some("Ямы"));
        assert_eq!(first.organisation.as_deref(), Some("УЖКХ"));
        assert_eq!(first.stage.as_deref(), Some("Завершено"));
        assert_eq!(first.status.as_deref(), Some("Отправлен ответ заявителю"));
        assert_eq!(first.overdue, Some(false));
        assert_eq!(first.satisfaction, Some(5));
        assert_eq!(first.reopened, Some(1));
        assert_eq!(first.decision.as_deref(), Some("Решено"));
        assert_eq!(first.answered_at, Some(dt("05.01.2027 10:00")));
        assert_eq!(first.source.as_deref(), Some("ЕПГУ"));

        let second = rows[1].as_ref().unwrap();
        assert_eq!(second.row, 5);
        assert_eq!(second.received_at, dt("31.12.2026 14:05:33"));
        assert_eq!(second.text, "Медицина / Медицинская карта");
        assert_eq!(second.organisation.as_deref(), Some("Администрация"));
        assert_eq!(second.kind, "APPEAL");
        assert_eq!(second.overdue, Some(true));
        assert_eq!(second.reopened, Some(2));

        let bad_date = rows[2].as_ref().unwrap_err();
        assert_eq!(bad_date.row, 6);
        assert_eq!(bad_date.field.as_deref(), Some("Дата поступления"));

        let bad_score = rows[3].as_ref().unwrap_err();
        assert_eq!(bad_score.row, 8);
        assert_eq!(bad_score.field.as_deref(), Some("Оценка ответа заявителем"));

        let bad_answer = rows[4].as_ref().unwrap_err();
        assert_eq!(bad_answer.row, 9);
        assert_eq!(bad_answer.field.as_deref(), Some("Дата фактического завершения работ"));

        let last = rows[5].as_ref().unwrap();
        assert_eq!((last.row, last.received_at), (10, expected));
    }

    #[test]
    fn pos_plain_serial_and_59fz_flag() {
        use V::{N, S};
        let bytes = xlsx(&[
            vec![
                S("НОМЕР СООБЩЕНИЯ"),
                S("  Дата   создания: "),
                S("Категория*"),
                S("Заявитель выбрал подачу по 59-ФЗ"),
                S("Организация текущая"),
            ],
            vec![N(7.0), N(SERIAL), S("Дороги"), S("Да"), S("ЖКХ")],
        ]);
        let rows = parse(FileFormat::PosXlsx, &bytes, 10).unwrap();
        let r = rows[0].as_ref().unwrap();
        assert_eq!(r.external_id, "7");
        assert_eq!(r.received_at, dt("31.12.2026 14:05"));
        assert_eq!(r.kind, "APPEAL");
        assert_eq!(r.text, "Дороги");
        assert_eq!(r.organisation.as_deref(), Some("ЖКХ"));
    }

    #[test]
    fn incident_xlsx() {
        use V::{D, E, S};
        let bytes = xlsx(&[
            vec![
                S("ID инцидента"),
                S("Соцсеть"),
                S("Дата создания"),
                S("Ссылка"),
                S("Автор"),
                S("Текст сообщения"),
                S("Категория"),
                S("Муниципалитет"),
                S("Статус"),
                S("Дата ответа"),
                S("Ответ"),
            ],
            vec![
                S("INC-1"),
                S("VK"),
                D(SERIAL),
                S("https://vk.com/wall-1_2"),
                S("Иван Петров"),
                S("Не вывозят мусор"),
                S("ЖКХ"),
                S("г. Сорск"),
                S("Ответ дан"),
                S("01.01.2027 09:30"),
                S("Вывезли"),
            ],
            vec![S("INC-2"), S("ОК"), S("31.12.2026"), E, E, E],
        ]);
        let rows = parse(FileFormat::IncidentXlsx, &bytes, 10).unwrap();
        let r = rows[0].as_ref().unwrap();
        assert_eq!((r.channel, r.kind), ("INCIDENT", "INCIDENT"));
        assert_eq!(r.external_id, "INC-1");
        assert_eq!(r.received_at, dt("31.12.2026 14:05"));
        assert_eq!(r.url.as_deref(), Some("https://vk.com/wall-1_2"));
        assert_eq!(r.author_name.as_deref(), Some("Иван Петров"));
        assert_eq!(r.territory.as_deref(), Some("г. Сорск"));
        assert_eq!(r.answer_text.as_deref(), Some("Вывезли"));
        assert_eq!(r.answered_at, Some(dt("01.01.2027 09:30")));
        assert_eq!(status_code(r.status.as_deref(), None, true), "ANSWERED");
        let e = rows[1].as_ref().unwrap_err();
        assert_eq!((e.row, e.field.as_deref()), (3, Some("Текст сообщения")));

        let err = parse(FileFormat::PosXlsx, &bytes, 10).unwrap_err();
        assert!(matches!(err, FileError::MissingColumns(_)), "{err:?}");
    }

    #[test]
    fn csv_utf8_comma() {
        let text = "\u{feff}Номер,Дата поступления,Факт,Канал,Просрочено\n\
                    1,31.12.2026 14:05,\"Текст, с запятой\",Госпаблики,Нет\n\
                    ,,,,\n\
                    2,2026-12-31T14:05:00,\"Многострочный\nтекст\",e-mail,\n\
                    3,31.12.2026,Ещё,,\n";
        let rows = parse(FileFormat::Csv, text.as_bytes(), 10).unwrap();
        let ok = ok_rows(&rows);
        assert_eq!(ok.len(), 3);
        assert_eq!(ok[0].text, "Текст, с запятой");
        assert_eq!(ok[0].channel, "GOSPABLIKI");
        assert_eq!(ok[0].row, 2);
        assert_eq!(ok[1].channel, "EMAIL");
        assert_eq!(ok[1].row, 4);
        assert_eq!(ok[1].text, "Многострочный\nтекст");
        assert_eq!(ok[2].channel, "POS");
        assert_eq!(ok[2].received_at, dt("31.12.2026 00:00"));
    }

    #[test]
    fn csv_is_scanned_then_streamed_row_by_row() {
        let text = "Выгрузка ПОС\n\
                    Номер;Дата поступления;Факт\n\
                    1;31.12.2026 14:05;\"Первая; строка\"\n\
                    ;;\n\
                    2;31.12.2026 14:06;\"Две\nстроки\"\n\
                    3;31.12.2026 14:07;Третья\n";
        let layout = scan_csv(text, 10).unwrap();
        assert_eq!(layout.rows, 3, "the title, the header and the blank record are not data");
        let mut rows = Vec::new();
        stream_csv(text, &layout, |r| {
            rows.push(r.unwrap());
            rows.len() < 2
        })
        .unwrap();
        assert_eq!(rows.len(), 2, "stops when asked");
        assert_eq!((rows[0].row, rows[0].text.as_str()), (3, "Первая; строка"));
        assert_eq!((rows[1].row, rows[1].text.as_str()), (5, "Две\nстроки"));
        assert!(matches!(scan_csv(text, 2), Err(FileError::TooManyRows(2))));
    }

    #[test]
    fn csv_cp1251_semicolon() {
        let text = "Выгрузка; от 01.01.2027\r\n\
                    Номер;Дата поступления;Категория;Подкатегория;Источник;Статус\r\n\
                    10;31.12.2026 14:05;Дороги;Ямы;Инцидент менеджмент;Зарегистрировано\r\n\
                    11;31.12.2026 14:05;Дороги;;;\r\n";
        let (bytes, _, had_errors) = encoding_rs::WINDOWS_1251.encode(text);
        assert!(!had_errors);
        assert!(std::str::from_utf8(&bytes).is_err());
        let rows = parse(FileFormat::Csv, &bytes, 10).unwrap();
        let ok = ok_rows(&rows);
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].external_id, "10");
        assert_eq!(ok[0].row, 3);
        assert_eq!(ok[0].text, "Дороги / Ямы");
        assert_eq!(ok[0].channel, "INCIDENT");
        assert_eq!(ok[0].kind, "MESSAGE");
        assert_eq!(ok[0].status.as_deref(), Some("Зарегистрировано"));
        assert_eq!(ok[1].channel, "POS");
    }

    #[test]
    fn csv_incident_headers() {
        let text = "ID;Дата;Текст;Соцсеть;Территория\n5;31.12.2026 14:05;Пост;VK;Сорск\n";
        let rows = parse(FileFormat::Csv, text.as_bytes(), 10).unwrap();
        let r = rows[0].as_ref().unwrap();
        assert_eq!((r.kind, r.channel), ("INCIDENT", "INCIDENT"));
        assert_eq!(r.territory.as_deref(), Some("Сорск"));
    }

    #[test]
    fn file_errors() {
        assert_eq!(parse(FileFormat::PosXlsx, &[], 10), Err(FileError::Empty));
        assert_eq!(parse(FileFormat::Csv, b"", 10), Err(FileError::Empty));
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(parse(FileFormat::PosXlsx, png, 10), Err(FileError::NotXlsx));
        assert_eq!(parse(FileFormat::Csv, png, 10), Err(FileError::Encoding));

        let full = pos_sample();
        let half = &full[..full.len() / 2];
        assert!(matches!(parse(FileFormat::PosXlsx, half, 10), Err(FileError::Corrupted(_))));
        for cut in [4, 30, 100, full.len() - 1] {
            assert!(parse(FileFormat::IncidentXlsx, &full[..cut], 10).is_err());
        }

        let no_date = xlsx(&[vec![V::S("Номер"), V::S("Факт"), V::S("Статус")]]);
        assert_eq!(
            parse(FileFormat::PosXlsx, &no_date, 10),
            Err(FileError::MissingColumns(vec!["Дата поступления".into()]))
        );
        let nothing = xlsx(&[vec![V::S("a"), V::S("b")], vec![V::N(1.0)]]);
        assert_eq!(parse(FileFormat::PosXlsx, &nothing, 10), Err(FileError::NoHeader));
        assert_eq!(parse(FileFormat::Csv, b"a;b\n1;2\n", 10), Err(FileError::NoHeader));

        assert_eq!(parse(FileFormat::PosXlsx, &pos_sample(), 5), Err(FileError::TooManyRows(5)));
        assert_eq!(parse(FileFormat::PosXlsx, &pos_sample(), 6).unwrap().len(), 6);
    }

    #[test]
    fn number_column_beats_row_counter() {
        let text = "№;Номер;Дата поступления;Факт\n1;555;31.12.2026 14:05;Текст\n";
        let rows = parse(FileFormat::Csv, text.as_bytes(), 10).unwrap();
        assert_eq!(rows[0].as_ref().unwrap().external_id, "555");
    }

    #[test]
    fn csv_utf16_tab_and_missing_columns() {
        let text = "Номер\tДата создания\tФакт\n42\t31.12.2026 14:05\tТекст\n";
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let rows = parse(FileFormat::Csv, &bytes, 10).unwrap();
        assert_eq!(rows[0].as_ref().unwrap().external_id, "42");

        let no_id = "Дата поступления;Факт;Статус\n31.12.2026;x;y\n";
        assert_eq!(parse(FileFormat::Csv, no_id.as_bytes(), 10), Err(FileError::MissingColumns(vec!["Номер".into()])));
    }

    #[test]
    fn statuses() {
        let cases: &[(Option<&str>, Option<&str>, bool, &str)] = &[
            (Some("Отправлен ответ заявителю"), Some("Завершено"), true, "CLOSED"),
            (Some("Отправлен ответ заявителю"), None, true, "ANSWERED"),
            (Some("В работе"), None, false, "IN_PROGRESS"),
            (Some("На исполнении"), Some("Исполнение"), false, "IN_PROGRESS"),
            (Some("Назначен исполнитель"), None, false, "ASSIGNED"),
            (Some("Зарегистрировано"), None, false, "REGISTERED"),
            (Some("Новое"), None, false, "RECEIVED"),
            (Some("Перенаправлено"), Some("Завершено"), false, "REDIRECTED"),
            (Some("Передано по компетенции"), None, false, "REDIRECTED"),
            (Some("Оставлено без ответа"), Some("Завершено"), false, "WITHOUT_ANSWER"),
            (Some("Подготовка ответа"), None, false, "IN_PROGRESS"),
            (None, Some("Завершено"), false, "CLOSED"),
            (Some("???"), None, false, "RECEIVED"),
            (None, None, true, "ANSWERED"),
            (Some("Ожидает ответа"), None, false, "IN_PROGRESS"),
            (None, Some("Рассмотрение"), false, "IN_PROGRESS"),
            (None, Some("Модерация"), false, "RECEIVED"),
            (Some("Отклонено модератором"), None, false, "WITHOUT_ANSWER"),
            // Acceptance findings: work taken, returned for rework, a prepared (unsent) answer,
            // no answer needed, a repeated review.
            (Some("Принято в работу"), None, false, "IN_PROGRESS"),
            (Some("Возвращено на доработку"), None, true, "IN_PROGRESS"),
            (Some("Ответ подготовлен"), Some("Рассмотрение"), true, "IN_PROGRESS"),
            (Some("Ответ подготовлен"), Some("Исполнение"), false, "IN_PROGRESS"),
            (Some("Ответ подготовлен"), None, false, "IN_PROGRESS"),
            (Some("Отправлен ответ заявителю"), Some("Рассмотрение"), true, "ANSWERED"),
            (Some("Не требует ответа"), None, false, "CLOSED"),
            (Some("Не требует ответа"), Some("Рассмотрение"), false, "CLOSED"),
            (Some("Повторное рассмотрение"), None, false, "REOPENED"),
            (Some("На повторном рассмотрении"), Some("Рассмотрение"), false, "REOPENED"),
            (None, Some("Повторное рассмотрение"), false, "REOPENED"),
            (Some("Отказано в повторном рассмотрении"), None, false, "WITHOUT_ANSWER"),
        ];
        for (status, stage, answered, code) in cases {
            assert_eq!(status_code(*status, *stage, *answered), *code, "{status:?} {stage:?}");
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(normalize_header("  Организация   (Текущая)*: "), "организация (текущая)");
        assert_eq!(normalize_header("Заявитель выбрал подачу по 59-ФЗ"), "заявитель выбрал подачу по 59-фз");
        assert_eq!(normalize_header("Ёмкость\u{a0}данных"), "емкость данных");
        assert_eq!(channel_code("ПОС"), Some("POS"));
        assert_eq!(channel_code("ИМ"), Some("INCIDENT"));
        assert_eq!(channel_code("ВКонтакте"), Some("INCIDENT"));
        assert_eq!(channel_code("Телефон"), Some("PHONE"));
        assert_eq!(channel_code(" "), None);
        assert_eq!(dt("2026-12-31T14:05:00+07:00"), dt("31.12.2026 14:05"));
        assert_eq!(excel_serial(SERIAL), Some(dt("31.12.2026 14:05")));
        assert_eq!(excel_serial(-1.0), None);
        assert_eq!(dt("1.2.2026 9:05"), dt("01.02.2026 09:05"));
        assert_eq!(dt(" 2026-02-01  09:05:00 "), dt("01.02.2026 09:05"));
        assert!(parse_date_text("2026-02-30").is_none());
        assert_eq!(parse_yes_no(" НЕТ "), Some(false));
        assert_eq!(parse_yes_no("может быть"), None);
    }
    /// The field one header cell maps to in `schema`, if any.
    fn field_of(schema: &'static Schema, header: &str) -> Option<Field> {
        match_header(schema, &[Cell::Text(header.to_string())]).first().map(|(field, ..)| *field)
    }

    #[test]
    fn incident_header_aliases() {
        use Field::*;
        let cases: &[(Field, &[&str])] = &[
            (Id, &["Идентификатор инцидента", "№ инцидента", "Код инцидента", "ИД"]),
            (
                Received,
                &[
                    "Дата создания инцидента",
                    "Дата обнаружения",
                    "Дата регистрации",
                    "Дата и время публикации",
                    "Дата публикации поста",
                    "Дата/время",
                ],
            ),
            (
                Text,
                &[
                    "Текст публикации",
                    "Текст поста",
                    "Суть инцидента",
                    "Описание",
                    "Содержание публикации",
                    "Текст комментария",
                ],
            ),
            (Url, &["Ссылка на публикацию", "Ссылка на инцидент", "Ссылка на источник", "URL публикации"]),
            (Author, &["Автор публикации", "ФИО автора"]),
            (Category, &["Тематика", "Категория инцидента"]),
            (Territory, &["МО", "Городской округ", "Населённый пункт", "Населенный пункт"]),
            (Status, &["Статус инцидента", "Состояние"]),
            (Answered, &["Дата окончательного ответа"]),
            (AnswerText, &["Ответ ОМСУ", "Финальный ответ"]),
        ];
        for (field, headers) in cases {
            for header in *headers {
                assert_eq!(field_of(&INCIDENT, header), Some(*field), "{header}");
            }
        }
        // The first reaction is not the final answer.
        assert_eq!(field_of(&INCIDENT, "Дата реакции"), None);

        use V::S;
        let bytes = xlsx(&[
            vec![
                S("Код инцидента"),
                S("Дата/время"),
                S("Текст публикации"),
                S("URL публикации"),
                S("МО"),
                S("Состояние"),
                S("Дата реакции"),
                S("Дата окончательного ответа"),
                S("Финальный ответ"),
            ],
            vec![
                S("INC-9"),
                S("02.11.2026 09:15"),
                S("Яма во дворе"),
                S("https://vk.com/wall-1_9"),
                S("г. Сорск"),
                S("Ответ дан"),
                S("02.11.2026 10:00"),
                S("03.11.2026 12:00"),
                S("Засыпали"),
            ],
        ]);
        let rows = parse(FileFormat::IncidentXlsx, &bytes, 10).unwrap();
        let r = rows[0].as_ref().unwrap();
        assert_eq!((r.external_id.as_str(), r.text.as_str()), ("INC-9", "Яма во дворе"));
        assert_eq!(r.url.as_deref(), Some("https://vk.com/wall-1_9"));
        assert_eq!(r.territory.as_deref(), Some("г. Сорск"));
        assert_eq!(r.status.as_deref(), Some("Ответ дан"));
        assert_eq!(r.answered_at, Some(dt("03.11.2026 12:00")), "not the reaction");
        assert_eq!(r.answer_text.as_deref(), Some("Засыпали"));
    }

    #[test]
    fn pos_header_aliases() {
        use Field::*;
        let cases: &[(Field, &[&str])] = &[
            (Id, &["Рег. номер", "Регистрационный номер", "ID", "Идентификатор", "Номер ЕПГУ"]),
            (Received, &["Дата подачи", "Дата создания сообщения", "Дата и время создания"]),
            (Category, &["Тема", "Тематика", "Рубрика"]),
            (Subcategory, &["Подтема"]),
            (OrgCurrent, &["Ответственная организация", "Исполнитель", "Организация-исполнитель"]),
            (Status, &["Текущий статус"]),
            (Answered, &["Дата завершения", "Дата отправки ответа"]),
            (Satisfaction, &["Оценка заявителя", "Оценка заявителем"]),
        ];
        for (field, headers) in cases {
            for header in *headers {
                assert_eq!(field_of(&POS, header), Some(*field), "{header}");
            }
        }
    }

    #[test]
    fn epgu_number_is_the_id_only_without_another_id_column() {
        let both = "Номер ЕПГУ;Рег. номер;Дата подачи;Тема\n9000123;R-1;02.11.2026 09:15;Дороги\n";
        let rows = parse(FileFormat::Csv, both.as_bytes(), 10).unwrap();
        assert_eq!(rows[0].as_ref().unwrap().external_id, "R-1", "a later column with a better alias wins");
        let only = "Дата подачи;Номер ЕПГУ;Тема\n02.11.2026 09:15;9000123;Дороги\n";
        let rows = parse(FileFormat::Csv, only.as_bytes(), 10).unwrap();
        assert_eq!(rows[0].as_ref().unwrap().external_id, "9000123");
    }

    #[test]
    fn bracketed_header_hints() {
        assert_eq!(field_of(&POS, "Повторное рассмотрение (да/нет)"), Some(Field::Reopened));
        assert_eq!(field_of(&POS, "Просрочено (да/нет)"), Some(Field::Overdue));
        assert_eq!(field_of(&POS, "Оценка (1-5):"), Some(Field::Satisfaction));
        assert_eq!(field_of(&POS, "Дата поступления [МСК]"), Some(Field::Received));
        assert_eq!(field_of(&POS, "Организация (текущая)"), Some(Field::OrgCurrent), "an alias as a whole");
        assert_eq!(field_of(&POS, "Организация (получившая)"), Some(Field::OrgReceived));
        assert_eq!(field_of(&POS, "(да/нет)"), None);

        let text = "Номер;Дата поступления;Факт;Просрочено (да/нет);Оценка (1-5);Повторное рассмотрение (да/нет)\n\
                    1;02.11.2026 09:15;Яма;да;4;нет\n";
        let rows = parse(FileFormat::Csv, text.as_bytes(), 10).unwrap();
        let r = rows[0].as_ref().unwrap();
        assert_eq!((r.overdue, r.satisfaction, r.reopened), (Some(true), Some(4), Some(0)));
    }

    #[test]
    fn aliases_are_unambiguous() {
        for schema in [&POS, &INCIDENT, &VK] {
            let mut seen: Vec<(String, Field)> = Vec::new();
            for (field, aliases) in schema.columns {
                for alias in *aliases {
                    let key = header_key(alias);
                    if let Some((_, other)) = seen.iter().find(|(k, f)| *k == key && f != field) {
                        panic!("«{alias}» is both {other:?} and {field:?}");
                    }
                    seen.push((key, *field));
                }
            }
        }
    }

    #[test]
    fn csv_header_fitting_both_sets_goes_to_the_better_fit() {
        // «ID» is a ПОС alias too now; an incident export must stay an incident export.
        let text = "ID;Дата создания;Текст\n5;02.11.2026 09:15;Пост\n";
        let rows = parse(FileFormat::Csv, text.as_bytes(), 10).unwrap();
        assert_eq!(rows[0].as_ref().unwrap().kind, "INCIDENT");
        let text = "ID;Дата создания;Текст;Категория;Стадия\n5;02.11.2026 09:15;Текст;Дороги;Завершено\n";
        let rows = parse(FileFormat::Csv, text.as_bytes(), 10).unwrap();
        assert_eq!(rows[0].as_ref().unwrap().kind, "MESSAGE", "more ПОС columns");
    }

    #[test]
    fn date_forms() {
        let at = dt("02.11.2026 09:15");
        assert_eq!(at, NaiveDate::from_ymd_opt(2026, 11, 2).unwrap().and_hms_opt(9, 15, 0).unwrap());
        let midnight = dt("02.11.2026");
        for s in [
            "02.11.26 09:15",
            "02/11/2026 09:15",
            "02.11.2026 09.15",
            "2 ноября 2026 г. 09:15",
            "2 ноября 2026 г., 09:15",
            "2026-11-02 09:15:00.000",
            "2026-11-02T09:15:00,000",
            "2.11.2026, 9:15",
        ] {
            assert_eq!(parse_date_text(s), Some((at, None)), "{s}");
        }
        for s in ["02.11.26", "02.11.2026г.", "02.11.2026 г.", "2 ноября 2026 г.", "2 ноября 2026", "02-11-2026"]
        {
            assert_eq!(parse_date_text(s), Some((midnight, None)), "{s}");
        }
        assert_eq!(dt("2026-11-02 09:15:00.250"), at + TimeDelta::milliseconds(250));
        assert_eq!(dt("1 мая 2026"), dt("01.05.2026"));
        assert_eq!(dt("31.12.99"), dt("31.12.1999"));
        // An Excel serial written as text: 46328 is 2026-11-02, .385 of a day is 09:14:24.
        assert_eq!(dt("46328.385"), at - TimeDelta::seconds(36));
        assert_eq!(dt("46328,385"), dt("46328.385"));
        for bad in ["32.11.2026", "02.13.26", "2 брюмера 2026", "2026", "02.11.2026 25:00", "09:15"] {
            assert_eq!(parse_date_text(bad), None, "{bad}");
        }

        // An explicit offset: the wall time and the offset, never local time.
        let utc = FixedOffset::east_opt(0);
        let plus3 = FixedOffset::east_opt(3 * 3600);
        assert_eq!(parse_date_text("2026-11-02T02:15:00Z"), Some((dt("02.11.2026 02:15"), utc)));
        assert_eq!(parse_date_text("2026-11-02 02:15 UTC"), Some((dt("02.11.2026 02:15"), utc)));
        assert_eq!(parse_date_text("2026-11-02T05:15:00+03:00"), Some((dt("02.11.2026 05:15"), plus3)));
        assert_eq!(parse_date_text("2026-11-02T05:15:00+0300"), Some((dt("02.11.2026 05:15"), plus3)));
        assert_eq!(
            parse_date_text("2026-11-01T21:15:00-05:00"),
            Some((dt("01.11.2026 21:15"), FixedOffset::west_opt(5 * 3600)))
        );
    }

    #[test]
    fn dates_in_rows_years_and_offsets() {
        let text = "Номер;Дата поступления;Факт;Дата ответа\n\
                    1;02.11.26 09:15;А;\n\
                    2;02.11.0026 09:15;Б;\n\
                    3;02.11.2026 09:15;В;02.11.2202\n\
                    4;2026-11-02T02:15:00Z;Г;2026-11-03T10:00:00+07:00\n\
                    5;01.01.1900;Д;\n";
        let rows = parse(FileFormat::Csv, text.as_bytes(), 10).unwrap();
        let first = rows[0].as_ref().unwrap();
        assert_eq!((first.received_at, first.received_offset), (dt("02.11.2026 09:15"), None));
        assert_eq!(first.received_at.year(), 2026);
        let old = rows[1].as_ref().unwrap_err();
        assert_eq!(old.field.as_deref(), Some("Дата поступления"));
        assert!(old.message.contains("1990"), "{}", old.message);
        assert_eq!(rows[2].as_ref().unwrap_err().field.as_deref(), Some("Дата ответа"));
        assert!(rows[4].is_err(), "year 1900");

        // Absolute values: the caller converts with the offset, local ones with its zone.
        let r = rows[3].as_ref().unwrap();
        assert_eq!((r.received_at, r.received_offset), (dt("02.11.2026 02:15"), FixedOffset::east_opt(0)));
        assert_eq!(r.answered_offset, FixedOffset::east_opt(7 * 3600));
        let krasnoyarsk = FixedOffset::east_opt(7 * 3600).unwrap();
        let instant = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(r.received_utc(&krasnoyarsk), Some(instant("2026-11-02T02:15:00Z")));
        assert_eq!(r.answered_utc(&krasnoyarsk), Some(instant("2026-11-03T03:00:00Z")));
        assert_eq!(first.received_utc(&krasnoyarsk), Some(instant("2026-11-02T02:15:00Z")), "local at +07:00");
        assert_eq!(first.answered_utc(&krasnoyarsk), None);
        assert_eq!(first.planned_utc(&krasnoyarsk), None);
        let moscow: chrono_tz::Tz = "Europe/Moscow".parse().unwrap();
        assert_eq!(r.received_utc(&moscow), Some(instant("2026-11-02T02:15:00Z")), "the zone is not used");
        assert_eq!(first.received_utc(&moscow), Some(instant("2026-11-02T06:15:00Z")));
    }

    #[test]
    fn satisfaction_values() {
        for (raw, expected) in [
            ("5", Some(5)),
            ("5 - отлично", Some(5)),
            ("5 (отлично)", Some(5)),
            ("4 — хорошо", Some(4)),
            ("4,0", Some(4)),
            ("Отлично", Some(5)),
            ("Хорошо", Some(4)),
            ("удовлетворительно", Some(3)),
            ("Плохо", Some(2)),
            ("Очень плохо", Some(1)),
            ("-", None),
            ("—", None),
            ("Не оценено", None),
            ("Нет оценки", None),
            ("Без оценки", None),
            ("0", None),
        ] {
            assert_eq!(parse_satisfaction(raw), Ok(expected), "{raw}");
        }
        for bad in ["7", "abc", "4.5", "5abc", "-3"] {
            assert_eq!(parse_satisfaction(bad), Err(()), "{bad}");
        }

        let text = "Номер;Дата поступления;Факт;Оценка ответа заявителем\n\
                    1;02.11.2026;А;Не оценено\n\
                    2;02.11.2026;Б;5 - отлично\n\
                    3;02.11.2026;В;-\n\
                    4;02.11.2026;Г;\n\
                    5;02.11.2026;Д;7\n\
                    6;02.11.2026;Е;abc\n";
        let rows = parse(FileFormat::Csv, text.as_bytes(), 10).unwrap();
        let scores: Vec<Option<i32>> = rows[..4].iter().map(|r| r.as_ref().unwrap().satisfaction).collect();
        assert_eq!(scores, [None, Some(5), None, None]);
        for bad in &rows[4..] {
            assert_eq!(bad.as_ref().unwrap_err().field.as_deref(), Some("Оценка ответа заявителем"));
        }
        let bytes = xlsx(&[
            vec![V::S("Номер"), V::S("Дата поступления"), V::S("Факт"), V::S("Оценка")],
            vec![V::N(1.0), V::S("02.11.2026"), V::S("А"), V::N(0.0)],
            vec![V::N(2.0), V::S("02.11.2026"), V::S("Б"), V::N(3.0)],
        ]);
        let rows = parse(FileFormat::PosXlsx, &bytes, 10).unwrap();
        assert_eq!(rows[0].as_ref().unwrap().satisfaction, None, "a 0 cell is no rating");
        assert_eq!(rows[1].as_ref().unwrap().satisfaction, Some(3));
    }

    #[test]
    fn overdue_values() {
        for (raw, expected) in [
            ("Просрочен", true),
            ("Просрочено", true),
            ("ПРОСРОЧЕНА", true),
            ("Да", true),
            ("Не просрочен", false),
            ("Не просрочено", false),
            ("В срок", false),
            ("Нет просрочки", false),
            ("Нет", false),
            ("0", false),
        ] {
            assert_eq!(parse_overdue(raw), Some(expected), "{raw}");
        }
        assert_eq!(parse_overdue("может быть"), None);
        let text = "Номер;Дата поступления;Факт;Просрочено\n1;02.11.2026;А;Просрочен\n2;02.11.2026;Б;В срок\n";
        let rows = parse(FileFormat::Csv, text.as_bytes(), 10).unwrap();
        assert_eq!(rows[0].as_ref().unwrap().overdue, Some(true));
        assert_eq!(rows[1].as_ref().unwrap().overdue, Some(false));
    }

    #[test]
    fn data_sheet_after_a_cover_sheet() {
        use V::{E, N, S};
        let cover: &[Vec<V<'_>>] = &[
            vec![S("Реестр сообщений ПОС")],
            vec![S("Период"), S("ноябрь 2026")],
            vec![S("Номер"), E, S("выгрузки 17")],
        ];
        let empty: &[Vec<V<'_>>] = &[];
        let data: &[Vec<V<'_>>] = &[
            vec![S("Выгрузка")],
            vec![S("Номер"), S("Дата поступления"), S("Факт")],
            vec![N(1.0), S("02.11.2026 09:15"), S("Первое")],
            vec![],
            vec![N(2.0), S("02.11.2026 09:16"), S("Второе")],
        ];
        let other: &[Vec<V<'_>>] = &[vec![S("Номер"), S("Дата поступления"), S("Факт")], vec![N(99.0)]];
        let bytes = xlsx_sheets(&[("Титул", cover), ("Пустой", empty), ("Данные", data), ("Ещё", other)]);
        let layout = scan_xlsx(FileFormat::PosXlsx, Cursor::new(&bytes), &ImportLimits::rows(10)).unwrap();
        assert_eq!((layout.sheet.as_str(), layout.rows), ("Данные", 2));
        let mut rows = Vec::new();
        stream_xlsx(Cursor::new(&bytes), &layout, |r| {
            rows.push(r.unwrap());
            true
        })
        .unwrap();
        let got: Vec<(usize, &str)> = rows.iter().map(|r| (r.row, r.text.as_str())).collect();
        assert_eq!(got, [(3, "Первое"), (5, "Второе")]);

        // No sheet with a full header: the best partial one is reported.
        let partial: &[Vec<V<'_>>] = &[vec![S("Номер"), S("Факт")]];
        let bytes = xlsx_sheets(&[("Титул", cover), ("Данные", partial)]);
        assert_eq!(
            parse(FileFormat::PosXlsx, &bytes, 10),
            Err(FileError::MissingColumns(vec!["Дата поступления".into()]))
        );
        let bytes = xlsx_sheets(&[("Титул", cover), ("Пустой", empty)]);
        assert_eq!(parse(FileFormat::PosXlsx, &bytes, 10), Err(FileError::NoHeader));
    }

    #[test]
    fn csv_limits() {
        let head = "Номер;Дата поступления;Факт\n";
        let fits = format!("{head}1;02.11.2026;{}\n", "я".repeat(MAX_CELL_CHARS));
        assert_eq!(parse(FileFormat::Csv, fits.as_bytes(), 10).unwrap().len(), 1);
        let long_cell = format!("{head}1;02.11.2026;{}\n", "я".repeat(MAX_CELL_CHARS + 1));
        let refused = parse(FileFormat::Csv, long_cell.as_bytes(), 10);
        assert!(matches!(&refused, Err(FileError::Limit(m)) if m.contains("32767")), "{refused:?}");
        // A quoted cell over many short lines is one record.
        let long_record = format!("{head}1;02.11.2026;\"{}\"\n", "ab\n".repeat(MAX_CSV_RECORD_BYTES / 3 + 1));
        let refused = parse(FileFormat::Csv, long_record.as_bytes(), 10);
        assert!(matches!(&refused, Err(FileError::Limit(m)) if m.contains("1 МиБ")), "{refused:?}");
        let small = ImportLimits { max_rows: 10, max_unpacked_bytes: 16 };
        let refused = parse_with(FileFormat::Csv, fits.as_bytes(), &small);
        assert!(matches!(&refused, Err(FileError::Limit(m)) if m.contains("MCU_IMPORT_MAX_UNPACKED_BYTES")));
    }

    #[test]
    fn vk_comment_tables_in_russian_and_english() {
        let ru = "Ссылка на пост;ID комментария;Автор;ID автора;Текст комментария;Дата\n\
                  https://vk.com/wall-100_7;10;Иван Петров;5;Когда починят дорогу?;01.12.2026 09:00\n\
                  https://vk.com/wall-100_7;11;Администрация;-100;Ремонт в мае;01.12.2026 10:00\n\
                  https://vk.com/wall-100_7;12;Пётр;https://vk.com/id6;;01.12.2026 11:00\n\
                  https://vk.com/sorsk;13;Анна;7;Текст;01.12.2026 11:00\n";
        let rows = parse(FileFormat::VkComments, ru.as_bytes(), 10).unwrap();
        let first = rows[0].as_ref().unwrap();
        assert_eq!(first.external_id, "wall-100_7?reply=10");
        assert_eq!((first.channel, first.kind), ("GOSPABLIKI", "MESSAGE"));
        assert_eq!(first.author_contact.as_deref(), Some("https://vk.com/id5"));
        assert_eq!(first.url.as_deref(), Some("https://vk.com/wall-100_7?reply=10"));
        assert_eq!((first.received_at, first.received_offset), (dt("01.12.2026 09:00"), None));
        assert_eq!(rows[1].as_ref().unwrap().skipped.as_deref(), Some(vk_comments::OWN));
        assert_eq!(rows[2].as_ref().unwrap().skipped.as_deref(), Some(vk_comments::EMPTY));
        assert_eq!(rows[3].as_ref().unwrap_err().field.as_deref(), Some("Ссылка на пост"));

        let en = "Post link,Comment ID,Author,Text,Date,Deleted\n\
                  https://vk.com/wall-100_7,https://vk.com/wall-100_7?reply=10,Ivan,Road,1764554400,no\n\
                  https://vk.com/wall-100_7,14,Anna,,1764554400,yes\n";
        let rows = parse(FileFormat::VkComments, en.as_bytes(), 10).unwrap();
        let first = rows[0].as_ref().unwrap();
        assert_eq!(first.external_id, "wall-100_7?reply=10", "the same comment as the Russian table's");
        assert_eq!(first.received_utc(&Utc), DateTime::from_timestamp(1_764_554_400, 0));
        assert_eq!(rows[1].as_ref().unwrap().skipped.as_deref(), Some(vk_comments::DELETED));
        // A ПОС header is not a VK table.
        let pos = "Номер;Дата поступления;Факт\n1;02.11.2026;Яма\n";
        assert!(matches!(
            parse(FileFormat::VkComments, pos.as_bytes(), 10),
            Err(FileError::NoHeader | FileError::MissingColumns(_))
        ));
    }

    /// The README's «Accepted columns» tables are what clients read: every header the
    /// importer accepts must be listed there under its format, and nothing else.
    #[test]
    fn readme_lists_every_accepted_header() {
        let readme = include_str!("../../README.md");
        let section = |title: &str| {
            let start = readme.find(title).unwrap_or_else(|| panic!("README has no «{title}» table"));
            let rest = &readme[start..];
            let end = rest[title.len()..]
                .find("\n**`")
                .map_or_else(|| rest.find("\n## ").unwrap_or(rest.len()), |i| i + title.len());
            rest[..end].to_string()
        };
        for (title, schema) in
            [("**`POS_XLSX`**", &POS), ("**`INCIDENT_XLSX`**", &INCIDENT), ("**`VK_COMMENTS`**", &VK)]
        {
            let table = section(title);
            let mut listed: Vec<String> =
                table.split('«').skip(1).filter_map(|s| s.split('»').next()).map(header_key).collect();
            let mut accepted: Vec<String> =
                schema.columns.iter().flat_map(|(_, aliases)| aliases.iter().map(|a| header_key(a))).collect();
            listed.sort();
            listed.dedup();
            accepted.sort();
            accepted.dedup();
            assert_eq!(listed, accepted, "README's {title} table against the importer's headers");
        }
    }
}
