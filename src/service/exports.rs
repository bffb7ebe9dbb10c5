//! Office files of the weekly memo: DOCX (the note as the Head reads it) and XLSX (its numbers).

use docx_rs::{Docx, Paragraph, Run, Table, TableCell, TableRow};
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::analytics::{Memo, Summary};
use crate::error::{AppError, AppResult};

/// MIME type of DOCX.
pub const DOCX_TYPE: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
/// MIME type of XLSX.
pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn text_run(text: &str) -> Run {
    Run::new().add_text(text.replace("**", ""))
}

fn table_row(line: &str) -> TableRow {
    let cells = line
        .trim()
        .trim_matches('|')
        .split('|')
        .map(|c| TableCell::new().add_paragraph(Paragraph::new().add_run(text_run(c.trim()))))
        .collect();
    TableRow::new(cells)
}

/// The memo as a Word document, laid out from its Markdown: headings, paragraphs, the table.
pub fn memo_docx(memo: &Memo) -> AppResult<Vec<u8>> {
    let mut doc = Docx::new();
    let mut rows: Vec<TableRow> = Vec::new();
    for line in memo.markdown.lines() {
        if line.starts_with('|') {
            if !line.starts_with("|---") {
                rows.push(table_row(line));
            }
            continue;
        }
        if !rows.is_empty() {
            doc = doc.add_table(Table::new(std::mem::take(&mut rows)));
        }
        if let Some(title) = line.strip_prefix("# ") {
            doc = doc.add_paragraph(Paragraph::new().add_run(text_run(title).bold().size(32)));
        } else if let Some(heading) = line.strip_prefix("## ") {
            doc = doc.add_paragraph(Paragraph::new().add_run(text_run(heading).bold().size(28)));
        } else if !line.trim().is_empty() {
            let body = line.strip_prefix("- ").map_or_else(|| line.to_string(), |b| format!("• {b}"));
            doc = doc.add_paragraph(Paragraph::new().add_run(text_run(&body)));
        }
    }
    if !rows.is_empty() {
        doc = doc.add_table(Table::new(rows));
    }
    let mut out = std::io::Cursor::new(Vec::new());
    doc.build().pack(&mut out).map_err(AppError::internal)?;
    Ok(out.into_inner())
}

fn opt(ws: &mut Worksheet, row: u32, col: u16, v: Option<f64>) -> Result<(), XlsxError> {
    if let Some(v) = v {
        ws.write_number(row, col, v)?;
    }
    Ok(())
}

fn summary_rows(s: &Summary) -> Vec<(&'static str, Option<f64>)> {
    vec![
        ("Поступило обращений", Some(s.total as f64)),
        ("Дан ответ", Some(s.answered as f64)),
        ("Дан ответ в срок", Some(s.answered_on_time as f64)),
        ("Доля ответов в срок", s.on_time_rate()),
        ("Просрочено сейчас", Some(s.overdue_now as f64)),
        ("Срок истекает", Some(s.due_soon_now as f64)),
        ("Медианное время ответа, ч", s.median_response_hours),
        ("Доля ответов по существу", s.full_answer_rate()),
        ("Доля удовлетворённых", s.satisfied_rate()),
        ("Доля повторных рассмотрений", s.reopened_rate()),
    ]
}

fn write_xlsx(memo: &Memo) -> Result<Vec<u8>, XlsxError> {
    let bold = Format::new().set_bold();
    let mut wb = Workbook::new();

    let ws = wb.add_worksheet();
    ws.set_name("Итоги")?;
    ws.set_column_width(0, 32)?;
    ws.write_string_with_format(0, 0, "Показатель", &bold)?;
    ws.write_string_with_format(0, 1, format!("Неделя с {}", memo.week_start.format("%d.%m.%Y")), &bold)?;
    ws.write_string_with_format(0, 2, "Прошлая неделя", &bold)?;
    for (i, ((name, now), (_, before))) in
        summary_rows(&memo.summary).into_iter().zip(summary_rows(&memo.previous)).enumerate()
    {
        let row = i as u32 + 1;
        ws.write_string(row, 0, name)?;
        opt(ws, row, 1, now)?;
        opt(ws, row, 2, before)?;
    }

    let ws = wb.add_worksheet();
    ws.set_name("Рост")?;
    ws.set_column_width(0, 32)?;
    for (col, h) in ["Тема", "Обращений", "Среднее за 3 недели", "Рост", "Значимый", "За счёт"].iter().enumerate()
    {
        ws.write_string_with_format(0, col as u16, *h, &bold)?;
    }
    for (i, g) in memo.top_growth.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_string(row, 0, &g.label)?;
        ws.write_number(row, 1, g.count as f64)?;
        ws.write_number(row, 2, g.baseline)?;
        ws.write_number(row, 3, g.growth)?;
        ws.write_string(row, 4, if g.significant { "да" } else { "нет" })?;
        let drivers: Vec<String> = g.drivers.iter().map(|d| format!("{} (+{})", d.label, d.count)).collect();
        ws.write_string(row, 5, drivers.join(", "))?;
    }

    let ws = wb.add_worksheet();
    ws.set_name("Рейтинг")?;
    ws.set_column_width(1, 40)?;
    let head = ["Место", "Получатель", "Обращений", "В срок", "По существу", "Удовлетворены", "Медиана, ч", "Балл"];
    for (col, h) in head.iter().enumerate() {
        ws.write_string_with_format(0, col as u16, *h, &bold)?;
    }
    for (i, r) in memo.rating.iter().enumerate() {
        let row = i as u32 + 1;
        opt(ws, row, 0, r.rank.map(f64::from))?;
        ws.write_string(row, 1, &r.recipient.name)?;
        ws.write_number(row, 2, r.total as f64)?;
        opt(ws, row, 3, r.on_time_rate)?;
        opt(ws, row, 4, r.full_answer_rate)?;
        opt(ws, row, 5, r.satisfied_rate)?;
        opt(ws, row, 6, r.median_response_hours)?;
        opt(ws, row, 7, r.score)?;
    }

    let ws = wb.add_worksheet();
    ws.set_name("Рекомендации")?;
    ws.set_column_width(0, 120)?;
    for (i, r) in memo.recommendations.iter().enumerate() {
        ws.write_string(i as u32, 0, r)?;
    }
    wb.save_to_buffer()
}

/// The memo's numbers as a workbook: totals, growth, rating, recommendations.
pub fn memo_xlsx(memo: &Memo) -> AppResult<Vec<u8>> {
    write_xlsx(memo).map_err(AppError::internal)
}

/// Rows read from the database per batch of the appeal export.
const EXPORT_BATCH: u64 = 1000;
/// Most appeals in one export file.
pub const EXPORT_MAX_ROWS: usize = 100_000;

/// An appeal export: the workbook and the appeals whose personal data it shows unmasked.
pub struct AppealExport {
    pub bytes: Vec<u8>,
    pub unmasked: Vec<i64>,
}

fn fmt_time(t: Option<chrono::DateTime<chrono::Utc>>, tz: chrono_tz::Tz) -> String {
    t.map(|t| t.with_timezone(&tz).format("%d.%m.%Y %H:%M").to_string()).unwrap_or_default()
}

/// The appeals matching `query` (already limited to the caller's scope) as a workbook, read
/// in keyset batches by id. Personal data is unmasked only where the caller handles the appeal.
pub async fn appeals_xlsx(
    conn: &impl sea_orm::ConnectionTrait,
    query: sea_orm::Select<crate::entity::appeal::Entity>,
    scope: &super::scope::AppealScope,
    tz: chrono_tz::Tz,
) -> AppResult<AppealExport> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

    use crate::domain::masking::{mask_contact, mask_name};
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
    let bold = Format::new().set_bold();
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let xl = |e: XlsxError| AppError::internal(e);
    ws.set_name("Обращения").map_err(xl)?;
    let head = [
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
    ];
    for (col, h) in head.iter().enumerate() {
        ws.write_string_with_format(0, col as u16, *h, &bold).map_err(xl)?;
    }
    let mut unmasked = Vec::new();
    let mut row: u32 = 0;
    let mut last_id = 0_i64;
    'batches: loop {
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
            if row as usize >= EXPORT_MAX_ROWS {
                break 'batches;
            }
            row += 1;
            let handles = scope.handles(&a);
            let shown = |v: Option<&str>, mask: fn(&str) -> String| {
                v.map(|v| if handles { v.to_string() } else { mask(v) }).unwrap_or_default()
            };
            if handles && (a.author_name.is_some() || a.author_contact.is_some()) {
                unmasked.push(a.id);
            }
            let label =
                |s: &str, f: fn(&str) -> Option<&'static str>| f(s).map_or_else(|| s.to_string(), str::to_string);
            let cells = [
                a.number.clone(),
                label(&a.kind, |s| s.parse().ok().map(super::analytics::kind_label)),
                label(&a.channel, |s| s.parse().ok().map(super::analytics::channel_label)),
                label(&a.status, |s| s.parse().ok().map(super::analytics::status_label)),
                fmt_time(Some(a.received_at), tz),
                fmt_time(Some(a.due_at), tz),
                fmt_time(a.resolved_at, tz),
                name(&categories, a.category_id),
                name(&territories, a.territory_id),
                name(&recipients, a.recipient_id),
                a.address.clone().unwrap_or_default(),
                shown(a.author_name.as_deref(), mask_name),
                shown(a.author_contact.as_deref(), mask_contact),
                a.text.clone(),
            ];
            for (col, v) in cells.iter().enumerate() {
                ws.write_string(row, col as u16, v).map_err(xl)?;
            }
        }
    }
    let bytes = wb.save_to_buffer().map_err(xl)?;
    Ok(AppealExport { bytes, unmasked })
}
