//! The appeal list as a workbook, streamed from temporary files whatever its length, and what
//! every office file shares: MIME types and the cut of texts longer than a cell. The memo and
//! roadmap documents are in `service::documents`.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::error::{AppError, AppResult};

/// Excel's limit on the text of one cell, in UTF-16 code units (what rust_xlsxwriter checks
/// before it refuses a string).
pub const EXCEL_CELL_UNITS: usize = 32_767;
/// Appended to a text cut to fit a cell.
pub const CUT_MARK: &str = "… [обрезано]";

/// `text` as it fits in one Excel cell: unchanged when it fits, else cut at a character
/// boundary and marked with [`CUT_MARK`], at most [`EXCEL_CELL_UNITS`] UTF-16 units in all.
pub fn excel_text(text: &str) -> std::borrow::Cow<'_, str> {
    // A string has at least as many UTF-8 bytes as UTF-16 units.
    if text.len() <= EXCEL_CELL_UNITS || text.encode_utf16().count() <= EXCEL_CELL_UNITS {
        return std::borrow::Cow::Borrowed(text);
    }
    let budget = EXCEL_CELL_UNITS - CUT_MARK.encode_utf16().count();
    let (mut units, mut end) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        if units + c.len_utf16() > budget {
            break;
        }
        units += c.len_utf16();
        end = i + c.len_utf8();
    }
    std::borrow::Cow::Owned(format!("{}{CUT_MARK}", &text[..end]))
}

/// MIME type of DOCX.
pub const DOCX_TYPE: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
/// MIME type of XLSX.
pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Rows read from the database per batch of an export.
pub const EXPORT_BATCH: u64 = 1000;
/// Data rows per worksheet: Excel's 1,048,576 rows less the header. Longer exports continue
/// on further sheets.
pub const SHEET_ROWS: u32 = 1_048_575;

/// One table as a constant-memory workbook (rows go to temporary files as they are written):
/// a bold header that stays in view and on every printed A4 landscape page, an autofilter, and
/// a new sheet (`<title> 2`, …) every `sheet_rows` rows.
pub struct TableWorkbook {
    wb: Workbook,
    title: &'static str,
    head: &'static [&'static str],
    widths: &'static [f64],
    sheet_rows: u32,
    sheet: usize,
    row: u32,
    /// Data rows written so far.
    pub rows: u64,
}

impl TableWorkbook {
    /// A workbook with its first sheet; `sheet_rows` is clamped to Excel's limit.
    ///
    /// # Errors
    /// `INTERNAL` when the sheet cannot be started.
    pub fn new(
        title: &'static str,
        head: &'static [&'static str],
        widths: &'static [f64],
        sheet_rows: u32,
    ) -> AppResult<Self> {
        let mut t = Self {
            wb: Workbook::new(),
            title,
            head,
            widths,
            sheet_rows: sheet_rows.clamp(1, SHEET_ROWS),
            sheet: 0,
            row: 0,
            rows: 0,
        };
        t.start_sheet(0).map_err(AppError::internal)?;
        Ok(t)
    }

    fn start_sheet(&mut self, n: usize) -> Result<(), XlsxError> {
        let bold = Format::new().set_bold();
        let ws = self.wb.add_worksheet_with_constant_memory()?;
        ws.set_name(if n == 0 { self.title.to_string() } else { format!("{} {}", self.title, n + 1) })?;
        ws.set_freeze_panes(1, 0)?;
        ws.set_repeat_rows(0, 0)?;
        ws.set_landscape().set_paper_size(9).set_print_fit_to_pages(1, 0);
        for (col, width) in self.widths.iter().enumerate() {
            ws.set_column_width(col as u16, *width)?;
        }
        for (col, h) in self.head.iter().enumerate() {
            ws.write_string_with_format(0, col as u16, *h, &bold)?;
        }
        self.sheet = n;
        self.row = 0;
        Ok(())
    }

    fn close_sheet(&mut self) -> Result<(), XlsxError> {
        let last_col = (self.head.len() - 1) as u16;
        let row = self.row;
        self.wb.worksheet_from_index(self.sheet)?.autofilter(0, 0, row, last_col)?;
        Ok(())
    }

    /// The sheet and the row index of the next data row (going on in a new sheet when this
    /// one is full).
    ///
    /// # Errors
    /// `INTERNAL` when a sheet cannot be finished or started.
    pub fn next_row(&mut self) -> AppResult<(&mut rust_xlsxwriter::Worksheet, u32)> {
        if self.row == self.sheet_rows {
            self.close_sheet().map_err(AppError::internal)?;
            self.start_sheet(self.sheet + 1).map_err(AppError::internal)?;
        }
        self.row += 1;
        self.rows += 1;
        let row = self.row;
        Ok((self.wb.worksheet_from_index(self.sheet).map_err(AppError::internal)?, row))
    }

    /// The finished workbook in an anonymous temporary file, rewound; zipping the sheets is
    /// CPU and file work, so it runs off the async workers.
    ///
    /// # Errors
    /// `INTERNAL` when the file cannot be written.
    pub async fn finish(mut self) -> AppResult<std::fs::File> {
        self.close_sheet().map_err(AppError::internal)?;
        let mut wb = self.wb;
        tokio::task::spawn_blocking(move || -> AppResult<std::fs::File> {
            use std::io::Seek;
            let mut file = tempfile::tempfile().map_err(AppError::internal)?;
            wb.save_to_writer(&mut file).map_err(AppError::internal)?;
            file.rewind().map_err(AppError::internal)?;
            Ok(file)
        })
        .await
        .map_err(AppError::internal)?
    }
}

/// An appeal export: the finished workbook in an anonymous temporary file (removed when it is
/// dropped), how many appeals it holds, and the ids of the appeals whose personal data it
/// shows unmasked, as ascending inclusive ranges.
pub struct AppealExport {
    pub file: std::fs::File,
    pub rows: u64,
    pub unmasked: IdRanges,
}

/// Ascending ids kept as inclusive ranges, so that an export of a million appeals audits
/// which ones it showed without a million-element list.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IdRanges(pub Vec<(i64, i64)>);

impl IdRanges {
    /// Adds an id greater than every id added before.
    pub fn push(&mut self, id: i64) {
        match self.0.last_mut() {
            Some((_, end)) if *end + 1 == id => *end = id,
            _ => self.0.push((id, id)),
        }
    }

    /// How many ids the ranges hold.
    pub fn count(&self) -> i64 {
        self.0.iter().map(|(a, b)| b - a + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An instant as an Excel date-time in the municipality's zone (a number with a date format,
/// so the column sorts and filters as dates).
pub fn excel_time(
    t: chrono::DateTime<chrono::Utc>,
    tz: chrono_tz::Tz,
) -> Result<rust_xlsxwriter::ExcelDateTime, XlsxError> {
    use chrono::{Datelike, Timelike};
    let l = t.with_timezone(&tz);
    rust_xlsxwriter::ExcelDateTime::from_ymd(l.year() as u16, l.month() as u8, l.day() as u8)?.and_hms(
        l.hour() as u16,
        l.minute() as u8,
        l.second(),
    )
}

/// Columns of the appeal list: the last says whether the deadline was missed.
const APPEAL_HEAD: [&str; 15] = [
    "Номер",
    "Вид",
    "Канал",
    "Статус",
    "Поступило",
    "Срок",
    "Решено",
    "Категория",
    "Территория",
    "Получатель",
    "Адрес",
    "Автор",
    "Контакт",
    "Текст",
    "Просрочено",
];

/// Columns of [`APPEAL_HEAD`] that hold date-times.
const TIME_COLUMNS: [usize; 3] = [4, 5, 6];

/// Widths of the columns of [`APPEAL_HEAD`].
const APPEAL_WIDTHS: [f64; 15] =
    [12.0, 16.0, 18.0, 20.0, 16.0, 16.0, 16.0, 28.0, 20.0, 28.0, 30.0, 20.0, 20.0, 60.0, 12.0];

/// The appeals matching `query` (already limited to the caller's scope) as a workbook, read
/// in keyset batches by id and written row by row to temporary files, so that memory does not
/// grow with the number of rows. Personal data is unmasked only where the caller handles the
/// appeal.
///
/// # Errors
/// Database errors, and `INTERNAL` when the temporary files cannot be written.
pub async fn appeals_xlsx(
    conn: &impl sea_orm::ConnectionTrait,
    query: sea_orm::Select<crate::entity::appeal::Entity>,
    scope: &super::scope::AppealScope,
    tz: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<AppealExport> {
    appeals_xlsx_in_sheets(conn, query, scope, tz, now, SHEET_ROWS).await
}

/// [`appeals_xlsx`] with at most `sheet_rows` appeals a sheet (Excel's limit in production;
/// tests pass a small number to see the list go on in the next sheet).
///
/// # Errors
/// As [`appeals_xlsx`].
pub async fn appeals_xlsx_in_sheets(
    conn: &impl sea_orm::ConnectionTrait,
    query: sea_orm::Select<crate::entity::appeal::Entity>,
    scope: &super::scope::AppealScope,
    tz: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
    sheet_rows: u32,
) -> AppResult<AppealExport> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

    use crate::domain::masking::{mask_contact, mask_name};
    use crate::domain::pii::{mask_address, mask_text};
    use crate::entity::{appeal, category, recipient, territory};

    let categories: std::collections::HashMap<i64, String> =
        category::Entity::find().all(conn).await?.into_iter().map(|c| (c.id, c.name)).collect();
    let territories: std::collections::HashMap<i64, String> =
        territory::Entity::find().all(conn).await?.into_iter().map(|t| (t.id, t.name)).collect();
    let recipients: std::collections::HashMap<i64, String> =
        recipient::Entity::find().all(conn).await?.into_iter().map(|r| (r.id, r.name)).collect();
    let name = |m: &std::collections::HashMap<i64, String>, id: Option<i64>| {
        id.and_then(|i| m.get(&i)).cloned().unwrap_or_default()
    };
    let xl = |e: XlsxError| AppError::internal(e);
    let mut book = TableWorkbook::new("Обращения", &APPEAL_HEAD, &APPEAL_WIDTHS, sheet_rows)?;
    let time_format = rust_xlsxwriter::Format::new().set_num_format("dd.mm.yyyy hh:mm");
    let mut unmasked = IdRanges::default();
    let mut last_id = 0_i64;
    loop {
        let batch = query
            .clone()
            .filter(appeal::Column::Id.gt(last_id))
            .order_by_asc(appeal::Column::Id)
            .limit(EXPORT_BATCH)
            .all(conn)
            .await?;
        let Some(last) = batch.last() else { break };
        last_id = last.id;
        for a in batch {
            let handles = scope.handles(&a);
            let shown = |v: Option<&str>, mask: fn(&str) -> String| {
                v.map(|v| if handles { v.to_string() } else { mask(v) }).unwrap_or_default()
            };
            // Free texts: masked for those who do not handle the appeal; for those who do, the
            // original, its read audited when it holds personal data.
            let text = mask_text(&a.text);
            let address = a.address.as_deref().map(mask_address).unwrap_or_default();
            let free_pii = text != a.text || a.address.as_deref().is_some_and(|x| x != address);
            if handles && (a.author_name.is_some() || a.author_contact.is_some() || free_pii) {
                unmasked.push(a.id);
            }
            let (text, address) =
                if handles { (a.text.clone(), a.address.clone().unwrap_or_default()) } else { (text, address) };
            let label =
                |s: &str, f: fn(&str) -> Option<&'static str>| f(s).map_or_else(|| s.to_string(), str::to_string);
            let cells = [
                a.number.clone(),
                label(&a.kind, |s| s.parse().ok().map(super::analytics::kind_label)),
                label(&a.channel, |s| s.parse().ok().map(super::analytics::channel_label)),
                label(&a.status, |s| s.parse().ok().map(super::analytics::status_label)),
                // Written as date-times below.
                String::new(),
                String::new(),
                String::new(),
                name(&categories, a.category_id),
                name(&territories, a.territory_id),
                name(&recipients, a.recipient_id),
                address,
                shown(a.author_name.as_deref(), mask_name),
                shown(a.author_contact.as_deref(), mask_contact),
                text,
                if a.resolved_at.unwrap_or(now) > a.due_at { "Да" } else { "Нет" }.to_string(),
            ];
            let times = [Some(a.received_at), Some(a.due_at), a.resolved_at];
            let (ws, row) = book.next_row()?;
            for (col, v) in cells.iter().enumerate() {
                match TIME_COLUMNS.iter().position(|c| *c == col).and_then(|i| times[i]) {
                    Some(t) => {
                        ws.write_datetime_with_format(row, col as u16, excel_time(t, tz).map_err(xl)?, &time_format)
                            .map_err(xl)?;
                    }
                    None if TIME_COLUMNS.contains(&col) => {}
                    None => {
                        ws.write_string(row, col as u16, excel_text(v)).map_err(xl)?;
                    }
                }
            }
        }
    }
    let rows = book.rows;
    let file = book.finish().await?;
    Ok(AppealExport { file, rows, unmasked })
}

#[cfg(test)]
mod tests {
    use super::{CUT_MARK, EXCEL_CELL_UNITS, IdRanges, excel_text};

    #[test]
    fn texts_longer_than_a_cell_are_cut_with_a_mark() {
        assert_eq!(excel_text("коротко"), "коротко");
        let exact = "я".repeat(EXCEL_CELL_UNITS);
        assert_eq!(excel_text(&exact), exact.as_str(), "a full cell is not cut");
        for long in ["я".repeat(40_000), "😀".repeat(20_000), format!("a{}", "😀".repeat(16_384))] {
            let cut = excel_text(&long);
            assert!(cut.ends_with(CUT_MARK));
            let units = cut.encode_utf16().count();
            assert!((EXCEL_CELL_UNITS - 1..=EXCEL_CELL_UNITS).contains(&units), "{units}");
            assert!(long.starts_with(cut.trim_end_matches(CUT_MARK)));
        }
    }

    #[test]
    fn id_ranges_merge_consecutive_ids() {
        let mut r = IdRanges::default();
        for id in [1, 2, 3, 7, 9, 10] {
            r.push(id);
        }
        assert_eq!(r.0, vec![(1, 3), (7, 7), (9, 10)]);
        assert_eq!(r.count(), 6);
        assert!(!r.is_empty());
    }
}
