//! Parsing of appeal exports: the ПОС register (XLSX), «Инцидент менеджмент» (XLSX) and CSV.
//!
//! Pure: the caller hands over the file (its bytes, or for XLSX any seekable reader), gets
//! back one `Result` per data row.
//! Columns are found by header name (see [`normalize_header`]): order, case, ё/е, spacing,
//! punctuation and extra columns do not matter. The header row is the first of the first
//! ten rows that holds all required headers, so a title row above it is fine.
//!
//! # ПОС headers (required marked *)
//! - * «Номер» / «№» / «Номер сообщения» / «Номер обращения»
//! - * «Дата поступления» / «Дата создания» / «Дата регистрации»
//! - * «Факт» / «Текст» / «Текст сообщения» / «Описание» — or, instead, «Категория»
//! - «Категория», «Подкатегория», «Источник», «Канал» / «Канал поступления» (CSV only)
//! - «Организация (текущая)» / «Организация текущая» / «Текущая организация»;
//!   «Организация (получившая)» / «Организация получившая» / «Организация» (fallback)
//! - «Дата планируемого завершения работ» / «Плановая дата» / «Срок»
//! - «Дата фактического завершения работ» / «Дата ответа», «Ответ» / «Текст ответа»
//! - «Стадия», «Статус», «Просрочено», «ФЗ», «Заявитель выбрал подачу по 59-ФЗ»,
//!   «Тип решения», «Оценка ответа заявителем» / «Оценка», «Повторное рассмотрение»
//! - «ФИО заявителя» / «Заявитель» / «Автор», «Контакты заявителя» / «Телефон» / «E-mail»
//!
//! # Incident headers (required marked *)
//! - * «ID инцидента» / «ID» / «Номер» / «№» / «Номер инцидента»
//! - * «Дата» / «Дата создания» / «Дата публикации» / «Дата поступления»
//! - * «Текст» / «Текст сообщения» / «Текст инцидента» / «Сообщение»
//! - «Соцсеть» / «Социальная сеть» / «Источник» / «Площадка», «Ссылка» / «URL»,
//!   «Автор» / «Имя автора», «Контакт автора» / «Профиль автора»,
//!   «Категория» / «Тема», «Подкатегория», «Муниципалитет» / «Территория» /
//!   «Муниципальное образование», «Ответственный» / «Исполнитель» / «Организация»,
//!   «Статус», «Срок ответа», «Дата ответа», «Ответ» / «Текст ответа», «Просрочено»
//!
//! # CSV
//! UTF-8 (BOM optional), UTF-16 with BOM, otherwise Windows-1251; delimiter `;`, `,` or tab,
//! chosen by which one yields a recognisable header. ПОС headers are tried first, then
//! incident headers. Rows with ПОС headers are `MESSAGE`/`APPEAL`, rows with incident headers
//! are `INCIDENT`. The channel comes from «Канал», else «Источник»/«Соцсеть» (see
//! [`channel_code`]); the default is `POS` (`INCIDENT` for incident headers). A CSV row number
//! is the line on which the record starts.
//!
//! Dates are local time as written: `31.12.2026 14:05[:33]`, `31.12.2026`,
//! `2026-12-31T14:05:00`, `2026-12-31 14:05[:00]`, `2026-12-31`, RFC 3339 with an offset (the
//! offset is ignored) and Excel serial numbers / date cells.

use std::fmt;
use std::io::{Cursor, Read, Seek, SeekFrom};

use calamine::{Data, Reader, Xlsx, XlsxError};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

/// Which kind of export the bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// ПОС register export (XLSX).
    PosXlsx,
    /// «Инцидент менеджмент» export (XLSX).
    IncidentXlsx,
    /// CSV with ПОС or incident headers.
    Csv,
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
    /// Local time of the municipality as written in the file.
    pub received_at: NaiveDateTime,
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
    /// Planned completion / answer deadline.
    pub planned_at: Option<NaiveDateTime>,
    /// When the answer was given (work completed).
    pub answered_at: Option<NaiveDateTime>,
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
}

/// Parses an export. `Err` for a file-level problem, otherwise one entry per non-empty data row.
pub fn parse(format: FileFormat, bytes: &[u8], max_rows: usize) -> Result<Vec<Result<ImportRow, RowError>>, FileError> {
    match format {
        FileFormat::PosXlsx | FileFormat::IncidentXlsx => {
            let layout = scan_xlsx(format, Cursor::new(bytes), max_rows)?;
            let mut out = Vec::with_capacity(layout.rows);
            stream_xlsx(Cursor::new(bytes), &layout, |r| {
                out.push(r);
                true
            })?;
            Ok(out)
        }
        FileFormat::Csv => {
            let text = decode_text(bytes)?;
            let layout = scan_csv(&text, max_rows)?;
            let mut out = Vec::with_capacity(layout.rows);
            stream_csv(&text, &layout, |r| {
                out.push(r);
                true
            })?;
            Ok(out)
        }
    }
}

/// Where a CSV export's data is: found in its first rows, checked over all of them.
pub struct CsvLayout {
    delimiter: u8,
    layout: Layout,
    /// Non-empty data rows.
    pub rows: usize,
}

/// First pass over a CSV export's text: finds the delimiter and the header in the first ten
/// records, then reads every record (a malformed file is refused before anything is
/// written) and counts the data rows, keeping none of them.
///
/// # Errors
/// The file-level problem, as [`parse`] reports it.
pub fn scan_csv(text: &str, max_rows: usize) -> Result<CsvLayout, FileError> {
    let mut best: Option<(usize, FileError)> = None;
    for delimiter in [b';', b',', b'\t'] {
        let mut head: Table = Vec::new();
        stream_csv_rows(text, delimiter, |line, cells| {
            head.push((line, cells));
            head.len() < 10
        })?;
        match find_header(&head, &[&POS, &INCIDENT]) {
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
                let score = header_score(&head);
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    best = Some((score, err));
                }
            }
        }
    }
    Err(best.map_or(FileError::NoHeader, |(_, err)| err))
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
/// `RECEIVED`, `REGISTERED`, `ASSIGNED`, `IN_PROGRESS`, `ANSWERED`, `CLOSED`, `REDIRECTED`
/// or `WITHOUT_ANSWER`. A finished stage («Завершено») gives `CLOSED` unless the status says
/// the appeal was redirected or left without an answer. Unknown → `RECEIVED`, or `ANSWERED`
/// when `answered`.
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
    let code = if any(&["без ответа", "без рассмотрения", "не подлежит рассмотрению", "отклонен", "отказ"])
    {
        "WITHOUT_ANSWER"
    } else if any(&["перенаправ", "переадрес", "по компетенции", "по подведомственности"])
    {
        "REDIRECTED"
    } else if any(&[
        "в работе",
        "на исполнении",
        "исполняется",
        "на рассмотрении",
        "рассматривается",
        "подготовк",
        "на согласовании",
        "на доработке",
        "промежуточн",
        "продлен",
        "в процессе",
        "рассмотрени",
        "исполнени",
        "ожидает ответа",
    ]) {
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
}

struct Schema {
    incident: bool,
    columns: &'static [(Field, &'static [&'static str])],
    /// Each group needs at least one column; the label is what is reported when missing.
    required: &'static [(&'static str, &'static [Field])],
}

const POS: Schema = Schema {
    incident: false,
    columns: &[
        (Field::Id, &["Номер", "№", "Номер сообщения", "№ сообщения", "Номер обращения", "ID сообщения"]),
        (
            Field::Received,
            &[
                "Дата поступления",
                "Дата создания",
                "Дата регистрации",
                "Дата и время поступления",
                "Дата поступления сообщения",
            ],
        ),
        (Field::Text, &["Факт", "Текст", "Текст сообщения", "Описание", "Суть сообщения", "Содержание"]),
        (Field::Category, &["Категория", "Категория сообщения"]),
        (Field::Subcategory, &["Подкатегория"]),
        (Field::Channel, &["Канал", "Канал поступления"]),
        (Field::Source, &["Источник"]),
        (Field::OrgCurrent, &["Организация (текущая)", "Организация текущая", "Текущая организация"]),
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
        (Field::Status, &["Статус", "Статус сообщения"]),
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
        (Field::Answered, &["Дата фактического завершения работ", "Дата фактического завершения", "Дата ответа"]),
        (Field::AnswerText, &["Ответ", "Текст ответа"]),
        (Field::Overdue, &["Просрочено", "Просрочен", "Просрочка"]),
        (Field::Fz, &["ФЗ"]),
        (Field::Chose59, &["Заявитель выбрал подачу по 59-ФЗ", "Заявитель выбрал подачу по 59 ФЗ"]),
        (Field::Decision, &["Тип решения"]),
        (Field::Satisfaction, &["Оценка ответа заявителем", "Оценка ответа", "Оценка"]),
        (Field::Reopened, &["Повторное рассмотрение"]),
    ],
    required: &[
        ("Номер", &[Field::Id]),
        ("Дата поступления", &[Field::Received]),
        ("Факт или Категория", &[Field::Text, Field::Category]),
    ],
};

const INCIDENT: Schema = Schema {
    incident: true,
    columns: &[
        (Field::Id, &["ID инцидента", "ID", "Номер", "№", "Номер инцидента", "Идентификатор"]),
        (Field::Received, &["Дата", "Дата создания", "Дата публикации", "Дата поступления", "Дата и время"]),
        (Field::Text, &["Текст", "Текст сообщения", "Текст инцидента", "Сообщение", "Содержание"]),
        (Field::Category, &["Категория", "Тема", "Рубрика"]),
        (Field::Subcategory, &["Подкатегория", "Подтема"]),
        (Field::Channel, &["Канал"]),
        (Field::Source, &["Соцсеть", "Социальная сеть", "Источник", "Площадка"]),
        (Field::OrgCurrent, &["Ответственный", "Исполнитель", "Организация"]),
        (Field::Territory, &["Муниципалитет", "Территория", "Муниципальное образование", "Район"]),
        (Field::Author, &["Автор", "Имя автора", "Автор сообщения"]),
        (Field::Contact, &["Контакт автора", "Профиль автора", "Ссылка на автора"]),
        (Field::Url, &["Ссылка", "URL", "Ссылка на пост", "Ссылка на сообщение"]),
        (Field::Status, &["Статус"]),
        (Field::Planned, &["Срок ответа", "Срок"]),
        (Field::Answered, &["Дата ответа"]),
        (Field::AnswerText, &["Ответ", "Текст ответа"]),
        (Field::Overdue, &["Просрочено", "Просрочен"]),
    ],
    required: &[("ID инцидента", &[Field::Id]), ("Дата", &[Field::Received]), ("Текст", &[Field::Text])],
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

/// Maps header cells to fields; when several columns fit one field, the earlier alias wins
/// (so «Номер» beats «№»), then the leftmost column.
fn match_header(schema: &'static Schema, cells: &[Cell]) -> Vec<(Field, usize, String)> {
    let mut found: Vec<(Field, usize, usize, String)> = Vec::new();
    for (col, cell) in cells.iter().enumerate() {
        let Cell::Text(raw) = cell else { continue };
        let key = header_key(raw);
        if key.is_empty() {
            continue;
        }
        let hit = schema
            .columns
            .iter()
            .find_map(|(field, aliases)| aliases.iter().position(|a| header_key(a) == key).map(|rank| (*field, rank)));
        let Some((field, rank)) = hit else { continue };
        match found.iter_mut().find(|(f, ..)| *f == field) {
            Some(slot) if rank < slot.1 => *slot = (field, rank, col, raw.trim().to_string()),
            Some(_) => {}
            None => found.push((field, rank, col, raw.trim().to_string())),
        }
    }
    found.into_iter().map(|(field, _, col, header)| (field, col, header)).collect()
}

fn missing(schema: &Schema, columns: &[(Field, usize, String)]) -> Vec<String> {
    schema
        .required
        .iter()
        .filter(|(_, group)| !group.iter().any(|f| columns.iter().any(|(c, _, _)| c == f)))
        .map(|(label, _)| (*label).to_string())
        .collect()
}

fn header_score(table: &Table) -> usize {
    table
        .iter()
        .take(10)
        .flat_map(|(_, cells)| [match_header(&POS, cells).len(), match_header(&INCIDENT, cells).len()])
        .max()
        .unwrap_or(0)
}

/// Finds the first row (of the first ten) holding all required headers of one of `schemas`;
/// otherwise reports the best partial match as missing columns.
fn find_header(table: &Table, schemas: &[&'static Schema]) -> Result<Layout, FileError> {
    let mut best: Option<(usize, Vec<String>)> = None;
    for (index, (_, cells)) in table.iter().take(10).enumerate() {
        for schema in schemas {
            let columns = match_header(schema, cells);
            let absent = missing(schema, &columns);
            if absent.is_empty() {
                return Ok(Layout { schema, header_index: index, columns });
            }
            if columns.len() >= 2 && best.as_ref().is_none_or(|(n, _)| columns.len() > *n) {
                best = Some((columns.len(), absent));
            }
        }
    }
    match best {
        Some((_, absent)) => Err(FileError::MissingColumns(absent)),
        None => Err(FileError::NoHeader),
    }
}

/// Streams the first sheet of an XLSX row by row (blank rows between used ones included,
/// as in a sheet's range), without holding the sheet or the file: `each` gets the 1-based row
/// number and the cells, and returns `false` to stop. The file is read from its start.
fn stream_xlsx_rows<R: Read + Seek>(
    mut file: R,
    mut each: impl FnMut(usize, Vec<Cell>) -> bool,
) -> Result<(), FileError> {
    let unreadable = |e: std::io::Error| FileError::Corrupted(format!("файл не читается: {e}"));
    file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let mut magic = Vec::with_capacity(4);
    file.by_ref().take(4).read_to_end(&mut magic).map_err(unreadable)?;
    if magic.is_empty() {
        return Err(FileError::Empty);
    }
    if !magic.starts_with(b"PK\x03\x04") && !magic.starts_with(b"PK\x05\x06") {
        return Err(FileError::NotXlsx);
    }
    file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<(), FileError> {
        let mut workbook = Xlsx::new(file).map_err(xlsx_error)?;
        let name = workbook
            .sheet_names()
            .first()
            .cloned()
            .ok_or_else(|| FileError::Corrupted("в книге нет листов".to_string()))?;
        let mut reader = workbook.worksheet_cells_reader(&name).map_err(xlsx_error)?;
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
    }));
    result.unwrap_or_else(|_| Err(FileError::Corrupted("не удалось прочитать книгу".to_string())))
}

/// The header of a streamed XLSX export: where it is and what each column holds.
pub struct XlsxLayout {
    layout: Layout,
    /// Row number of the header row.
    header_row: usize,
    fixed_channel: &'static str,
    /// Non-empty data rows.
    pub rows: usize,
}

fn xlsx_schema(format: FileFormat) -> (&'static Schema, &'static str) {
    match format {
        FileFormat::IncidentXlsx => (&INCIDENT, "INCIDENT"),
        _ => (&POS, "POS"),
    }
}

/// First pass over an XLSX export: finds the header and counts the data rows, reading the
/// whole sheet (so a damaged file is refused before anything is written) without keeping it.
///
/// # Errors
/// The file-level problem, as [`parse`] reports it.
pub fn scan_xlsx<R: Read + Seek>(format: FileFormat, file: R, max_rows: usize) -> Result<XlsxLayout, FileError> {
    let (schema, channel) = xlsx_schema(format);
    let mut head: Table = Vec::new();
    let mut found: Option<(Layout, usize)> = None;
    let mut rows = 0usize;
    let mut failure: Option<FileError> = None;
    stream_xlsx_rows(file, |row, cells| {
        if let Some((_, header_row)) = &found {
            if row > *header_row && !cells.iter().all(Cell::is_blank) {
                rows += 1;
            }
            return true;
        }
        head.push((row, cells));
        if head.len() == 10 {
            match find_header(&head, &[schema]) {
                Ok(layout) => {
                    let header_row = head[layout.header_index].0;
                    rows = head.iter().filter(|(r, c)| *r > header_row && !c.iter().all(Cell::is_blank)).count();
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
        return Err(e);
    }
    let (layout, header_row) = if let Some(f) = found {
        f
    } else {
        // Fewer than ten rows in all: look for the header in what there is.
        let layout = find_header(&head, &[schema])?;
        let header_row = head[layout.header_index].0;
        rows = head.iter().filter(|(r, c)| *r > header_row && !c.iter().all(Cell::is_blank)).count();
        (layout, header_row)
    };
    if rows > max_rows {
        return Err(FileError::TooManyRows(max_rows));
    }
    Ok(XlsxLayout { layout, header_row, fixed_channel: channel, rows })
}

/// Second pass: each data row of the export, in order, to `each` (which returns `false` to
/// stop), never more than one row in memory.
///
/// # Errors
/// A file-level problem (not expected after [`scan_xlsx`] accepted the same file).
pub fn stream_xlsx<R: Read + Seek>(
    file: R,
    layout: &XlsxLayout,
    mut each: impl FnMut(Result<ImportRow, RowError>) -> bool,
) -> Result<(), FileError> {
    stream_xlsx_rows(file, |row, cells| {
        if row <= layout.header_row || cells.iter().all(Cell::is_blank) {
            return true;
        }
        each(RowReader { row, cells: &cells, layout: &layout.layout }.build(Some(layout.fixed_channel)))
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

    fn date(&self, field: Field) -> Result<Option<NaiveDateTime>, RowError> {
        let Some((cell, header)) = self.cell(field) else {
            return Ok(None);
        };
        let parsed = match cell {
            Cell::Empty => return Ok(None),
            Cell::Text(s) if s.trim().is_empty() => return Ok(None),
            Cell::Text(s) => parse_date_text(s),
            Cell::Number(n) => excel_serial(*n),
            Cell::Date(d) => Some(*d),
            Cell::Bool(_) => None,
        };
        parsed.map(Some).ok_or_else(|| {
            self.error(
                Some(header.to_string()),
                format!("не удалось распознать дату «{}»", self.text(field).unwrap_or_default()),
            )
        })
    }

    fn yes_no(&self, field: Field) -> Result<Option<bool>, RowError> {
        let Some((cell, header)) = self.cell(field) else {
            return Ok(None);
        };
        if let Cell::Bool(b) = cell {
            return Ok(Some(*b));
        }
        let Some(raw) = self.text(field) else {
            return Ok(None);
        };
        parse_yes_no(&raw)
            .map(Some)
            .ok_or_else(|| self.error(Some(header.to_string()), format!("ожидалось «Да» или «Нет», а не «{raw}»")))
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
        let incident = self.layout.schema.incident;
        let external_id = self.text(Field::Id).ok_or_else(|| self.error(self.header(Field::Id), "не указан номер"))?;
        let received_at = self
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
        Ok(ImportRow {
            row: self.row,
            external_id,
            channel,
            kind,
            received_at,
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
            planned_at: self.date(Field::Planned)?,
            answered_at: self.date(Field::Answered)?,
            answer_text: self.text(Field::AnswerText),
            overdue: self.yes_no(Field::Overdue)?,
            satisfaction: self.integer(Field::Satisfaction, 1..=5)?,
            reopened: self.reopened()?,
            decision: self.text(Field::Decision),
        })
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { n.to_string() }
}

fn parse_yes_no(raw: &str) -> Option<bool> {
    match normalize_header(raw).as_str() {
        "да" | "yes" | "true" | "1" | "+" | "истина" | "y" | "д" | "просрочено" => Some(true),
        "нет" | "no" | "false" | "0" | "-" | "ложь" | "n" | "н" | "не просрочено" => Some(false),
        _ => None,
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

const DATE_TIME_FORMATS: &[&str] = &[
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y, %H:%M:%S",
    "%d.%m.%Y, %H:%M",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
];

const DATE_FORMATS: &[&str] = &["%d.%m.%Y", "%Y-%m-%d", "%d.%m.%y"];

fn parse_date_text(raw: &str) -> Option<NaiveDateTime> {
    let s = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let s = s.trim_end_matches(" г.").trim_end_matches('г').trim();
    DATE_TIME_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| {
            DATE_FORMATS.iter().find_map(|f| NaiveDate::parse_from_str(s, f).ok()).and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .or_else(|| chrono::DateTime::parse_from_rfc3339(s).ok().map(|d| d.naive_local()))
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
        parse_date_text(s).unwrap()
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
        let mut wb = Workbook::new();
        let date_fmt = Format::new().set_num_format("dd.mm.yyyy hh:mm");
        let ws = wb.add_worksheet();
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
}
