//! A system report (ПОС, «Инцидент менеджмент») as office files, rendered from the figures
//! stored with the report: a Word document (totals, statuses, topics, recipients) and a
//! workbook with the same numbers, one sheet per table.

use chrono::{DateTime, Utc};
use rust_xlsxwriter::{Workbook, XlsxError};

use super::docx::{Align, Column, Document, Span, Style, Table, cell};
use super::memo::{Formats, Sheet, signature};
use super::{CENTRE, DASH, count, date, decimal, long_date, percent, score_100};
use crate::domain::system_report::Figures;
use crate::error::{AppError, AppResult};

/// A stored report with what its documents show besides its figures.
#[derive(Debug, Clone)]
pub struct ReportDoc {
    pub id: i64,
    pub figures: Figures,
    pub generated_by: String,
    pub generated_at: DateTime<chrono_tz::Tz>,
}

fn columns(spec: &[(&str, u32, Align)]) -> Vec<Column> {
    spec.iter().map(|(t, w, a)| Column::new(*t, *w, *a)).collect()
}

/// The lines of the totals table: name and value as shown.
pub fn totals(f: &Figures) -> Vec<(&'static str, String)> {
    vec![
        ("Поступило обращений", count(f.total)),
        ("Дан ответ", count(f.answered)),
        ("Из них в срок", count(f.answered_on_time)),
        ("Доля ответов в срок", percent(f.on_time_rate())),
        ("Просрочено на момент формирования", count(f.overdue_now)),
        ("Медианное время ответа, ч", f.median_response_hours.map_or_else(|| DASH.into(), |h| decimal(h, 1))),
        ("Доля ответов по существу", percent(f.full_answer_rate())),
        ("Доля удовлетворённых ответом", percent(f.satisfied_rate())),
        ("Повторно рассмотрено", count(f.reopened)),
    ]
}

fn period(f: &Figures) -> String {
    format!("с {} по {}", date(f.from), date(f.to))
}

/// The report as a Word document.
///
/// # Errors
/// `INTERNAL` when the package cannot be written.
pub fn docx(r: &ReportDoc) -> AppResult<Vec<u8>> {
    let f = &r.figures;
    let mut doc = Document::new(format!("{} {}", f.system.title(), period(f)));
    doc.paragraph(Style::Letterhead, &[Span::bold(CENTRE.to_uppercase())]);
    doc.paragraph(Style::Title, &[Span::new(f.system.title())]);
    doc.paragraph(Style::Subtitle, &[Span::new(format!("за период {}", period(f)))]);

    doc.heading(1, "1. Итоги периода");
    let mut t = Table::new(columns(&[("Показатель", 6355, Align::Left), ("Значение", 3000, Align::Right)]));
    for (name, value) in totals(f) {
        t.row(vec![cell(name), cell(value)]);
    }
    doc.table(&t);

    doc.heading(1, "2. Обращения по статусам");
    if f.by_status.is_empty() {
        doc.text("Обращений за период не поступало.");
    } else {
        let mut t = Table::new(columns(&[("Статус", 6355, Align::Left), ("Обращений", 3000, Align::Right)]));
        for c in &f.by_status {
            t.row(vec![cell(&c.label), cell(count(c.count))]);
        }
        doc.table(&t);
    }

    doc.heading(1, "3. Основные темы");
    if f.top_topics.is_empty() {
        doc.text("Обращений по темам за период не поступало.");
    } else {
        let mut t = Table::new(columns(&[("Тема", 6355, Align::Left), ("Обращений", 3000, Align::Right)]));
        for c in &f.top_topics {
            t.row(vec![cell(&c.label), cell(count(c.count))]);
        }
        doc.table(&t);
        doc.paragraph(Style::Note, &[Span::new("Повторные (дубликаты) обращения в темах не учитываются.")]);
    }

    doc.heading(1, "4. По ответственным получателям");
    if f.by_recipient.is_empty() {
        doc.text("Обращений, назначенных получателям, за период не было.");
    } else {
        let mut t = Table::new(columns(&[
            ("Место", 850, Align::Center),
            ("Получатель", 3005, Align::Left),
            ("Обраще\u{ad}ний", 1200, Align::Right),
            ("В срок", 1000, Align::Right),
            ("По существу", 1200, Align::Right),
            ("Удовлет\u{ad}ворены", 1300, Align::Right),
            ("Балл", 800, Align::Right),
        ]));
        for x in &f.by_recipient {
            t.row(vec![
                cell(x.rank.map_or_else(|| DASH.into(), |r| r.to_string())),
                cell(&x.name),
                cell(count(x.total)),
                cell(percent(x.on_time_rate)),
                cell(percent(x.full_answer_rate)),
                cell(percent(x.satisfied_rate)),
                cell(score_100(x.score).map_or_else(|| DASH.into(), |s| decimal(s, 0))),
            ]);
        }
        doc.table(&t);
    }

    doc.paragraph(Style::Plain, &[]);
    doc.table(&signature("Руководитель\nмуниципального центра управления", None));
    doc.paragraph(Style::Plain, &[Span::new(long_date(r.generated_at.date_naive()))]);
    doc.paragraph(
        Style::Note,
        &[Span::new(format!(
            "Отчёт № {} сформирован {} ({}): {}.",
            r.id,
            r.generated_at.format("%d.%m.%Y %H:%M"),
            r.generated_at.timezone().name(),
            r.generated_by
        ))],
    );
    doc.finish(r.generated_at.with_timezone(&Utc))
}

fn write_xlsx(r: &ReportDoc) -> Result<Vec<u8>, XlsxError> {
    let f = &r.figures;
    let formats = Formats::new();
    let mut wb = Workbook::new();
    let props = rust_xlsxwriter::DocProperties::new()
        .set_title(format!("{} {}", f.system.title(), period(f)))
        .set_author(CENTRE);
    wb.set_properties(&props);

    let mut sh = Sheet::new(&mut wb, &formats, "Итоги", &["Показатель", &format!("Период {}", period(f))])?;
    let counts = [
        ("Поступило обращений", f.total),
        ("Дан ответ", f.answered),
        ("Из них в срок", f.answered_on_time),
        ("Просрочено на момент формирования", f.overdue_now),
        ("Повторно рассмотрено", f.reopened),
    ];
    let mut row = 1;
    for (name, n) in counts {
        sh.text(row, 0, name)?;
        sh.int(row, 1, n)?;
        row += 1;
    }
    for (name, x) in [
        ("Доля ответов в срок", f.on_time_rate()),
        ("Доля ответов по существу", f.full_answer_rate()),
        ("Доля удовлетворённых ответом", f.satisfied_rate()),
    ] {
        sh.text(row, 0, name)?;
        sh.rate(row, 1, x)?;
        row += 1;
    }
    sh.text(row, 0, "Медианное время ответа, ч")?;
    sh.one(row, 1, f.median_response_hours)?;
    sh.finish()?;

    for (name, list) in [("Статусы", &f.by_status), ("Темы", &f.top_topics)] {
        let mut sh =
            Sheet::new(&mut wb, &formats, name, &[if name == "Темы" { "Тема" } else { "Статус" }, "Обращений"])?;
        for (i, c) in list.iter().enumerate() {
            let row = i as u32 + 1;
            sh.text(row, 0, &c.label)?;
            sh.int(row, 1, c.count)?;
        }
        sh.finish()?;
    }

    let head = ["Место", "Получатель", "Обращений", "В срок", "По существу", "Удовлетворены", "Балл (0–100)"];
    let mut sh = Sheet::new(&mut wb, &formats, "Получатели", &head)?;
    for (i, x) in f.by_recipient.iter().enumerate() {
        let row = i as u32 + 1;
        match x.rank {
            Some(rank) => sh.int(row, 0, i64::from(rank))?,
            None => sh.dash(row, 0)?,
        }
        sh.text(row, 1, &x.name)?;
        sh.int(row, 2, x.total)?;
        sh.rate(row, 3, x.on_time_rate)?;
        sh.rate(row, 4, x.full_answer_rate)?;
        sh.rate(row, 5, x.satisfied_rate)?;
        sh.one(row, 6, score_100(x.score))?;
    }
    sh.finish()?;
    wb.save_to_buffer()
}

/// The report's numbers as a workbook: totals, statuses, topics and recipients.
///
/// # Errors
/// `INTERNAL` when the workbook cannot be written.
pub fn xlsx(r: &ReportDoc) -> AppResult<Vec<u8>> {
    write_xlsx(r).map_err(AppError::internal)
}
