//! A meeting with the Head as Word documents: its agenda (повестка: when, where, who, the
//! questions) and, once held, its minutes (протокол: the agenda heard and the decisions, each
//! assignment with its recipient, term and status).

use chrono::{DateTime, NaiveDate};

use super::docx::{Align, Column, Document, RED, Span, Style, Table, cell};
use super::memo::signature;
use super::{CENTRE, DASH, date, long_date};
use crate::domain::meeting::{AssignmentStatus, MeetingStatus, days_late};
use crate::error::AppResult;

/// One decision as the minutes show it.
#[derive(Debug, Clone)]
pub struct DecisionLine {
    pub text: String,
    /// For an assignment: the recipient, the term, the status and days late.
    pub recipient: Option<String>,
    pub due: Option<NaiveDate>,
    pub status: Option<AssignmentStatus>,
    pub days_late: Option<i64>,
    /// Titles of the best practices it draws on.
    pub practices: Vec<String>,
}

/// A meeting with what its documents name.
#[derive(Debug, Clone)]
pub struct MeetingDoc {
    pub title: String,
    pub status: MeetingStatus,
    pub starts_at: DateTime<chrono_tz::Tz>,
    pub held_on: Option<NaiveDate>,
    pub place: Option<String>,
    pub participants: Vec<String>,
    /// (title, note) in order.
    pub agenda: Vec<(String, Option<String>)>,
    pub decisions: Vec<DecisionLine>,
    pub prepared: DateTime<chrono_tz::Tz>,
}

/// How an assignment's status reads in the minutes.
pub fn status_label(s: AssignmentStatus) -> &'static str {
    match s {
        AssignmentStatus::Assigned => "Поручено",
        AssignmentStatus::InProgress => "Исполняется",
        AssignmentStatus::Done => "Исполнено",
        AssignmentStatus::Cancelled => "Отменено",
    }
}

impl DecisionLine {
    /// Days late as the minutes compute them on `today` (done: until the day it was done).
    pub fn lateness(
        status: AssignmentStatus,
        due: NaiveDate,
        done_on: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Option<i64> {
        days_late(status, due, done_on, today)
    }
}

fn columns(spec: &[(&str, u32, Align)]) -> Vec<Column> {
    spec.iter().map(|(t, w, a)| Column::new(*t, *w, *a)).collect()
}

fn head(doc: &mut Document, m: &MeetingDoc, kind: &str) {
    doc.paragraph(Style::Letterhead, &[Span::bold(CENTRE.to_uppercase())]);
    doc.paragraph(Style::Title, &[Span::new(kind)]);
    doc.paragraph(Style::Subtitle, &[Span::new(format!("совещания у Главы: {}", m.title))]);
    let mut t = Table::layout(columns(&[("", 2800, Align::Left), ("", 6555, Align::Left)]));
    t.row(vec![cell("Дата и время:"), cell(m.starts_at.format("%d.%m.%Y %H:%M").to_string())]);
    t.row(vec![cell("Место:"), cell(m.place.clone().unwrap_or_else(|| DASH.into()))]);
    let who = if m.participants.is_empty() { DASH.to_string() } else { m.participants.join(", ") };
    t.row(vec![cell("Участники:"), cell(who)]);
    doc.table(&t);
}

fn agenda(doc: &mut Document, m: &MeetingDoc) {
    if m.agenda.is_empty() {
        doc.text("Вопросы не определены.");
    }
    for (i, (title, note)) in m.agenda.iter().enumerate() {
        doc.paragraph(Style::Normal, &[Span::bold(format!("{}. {title}", i + 1))]);
        if let Some(n) = note {
            doc.paragraph(Style::Note, &[Span::new(n)]);
        }
    }
}

/// The agenda as a Word document.
///
/// # Errors
/// `INTERNAL` when the package cannot be written.
pub fn agenda_docx(m: &MeetingDoc) -> AppResult<Vec<u8>> {
    let mut doc = Document::new(format!("Повестка совещания «{}»", m.title));
    head(&mut doc, m, "Повестка");
    doc.heading(1, "Вопросы");
    agenda(&mut doc, m);
    doc.paragraph(Style::Plain, &[]);
    doc.paragraph(Style::Plain, &[Span::new(long_date(m.prepared.date_naive()))]);
    doc.finish(m.prepared.with_timezone(&chrono::Utc))
}

/// The minutes as a Word document.
///
/// # Errors
/// `INTERNAL` when the package cannot be written.
pub fn minutes_docx(m: &MeetingDoc) -> AppResult<Vec<u8>> {
    let mut doc = Document::new(format!("Протокол совещания «{}»", m.title));
    head(&mut doc, m, "Протокол");
    doc.heading(1, "1. Рассмотренные вопросы");
    agenda(&mut doc, m);
    doc.heading(1, "2. Решения");
    let (plain, assignments): (Vec<&DecisionLine>, Vec<&DecisionLine>) =
        m.decisions.iter().partition(|d| d.recipient.is_none());
    if m.decisions.is_empty() {
        doc.text("Решений не принято.");
    }
    for (i, d) in plain.iter().enumerate() {
        doc.text(format!("{}. {}", i + 1, d.text));
        if !d.practices.is_empty() {
            doc.paragraph(Style::Note, &[Span::new(format!("Лучшие практики: {}", d.practices.join("; ")))]);
        }
    }
    if !assignments.is_empty() {
        doc.heading(2, "Поручения");
        let mut t = Table::new(columns(&[
            ("№", 600, Align::Center),
            ("Поручение", 3755, Align::Left),
            ("Исполнитель", 2200, Align::Left),
            ("Срок", 1300, Align::Center),
            ("Состояние", 1500, Align::Left),
        ]));
        for (i, d) in assignments.iter().enumerate() {
            let mut text = d.text.clone();
            if !d.practices.is_empty() {
                text = format!("{text}\nЛучшие практики: {}", d.practices.join("; "));
            }
            let state = d.status.map_or_else(|| DASH.to_string(), |s| status_label(s).to_string());
            let state = match d.days_late {
                Some(n) => vec![Span::bold(format!("{state}, просрочено на {n} дн.")).color(RED)],
                None => cell(state),
            };
            t.row(vec![
                cell((i + 1).to_string()),
                cell(text),
                cell(d.recipient.clone().unwrap_or_default()),
                cell(d.due.map_or_else(|| DASH.into(), date)),
                state,
            ]);
        }
        doc.table(&t);
    }
    doc.paragraph(Style::Plain, &[]);
    doc.table(&signature("Глава муниципального образования", None));
    doc.paragraph(Style::Plain, &[Span::new(long_date(m.held_on.unwrap_or_else(|| m.starts_at.date_naive())))]);
    doc.paragraph(
        Style::Note,
        &[Span::new(format!("Сведения об исполнении поручений — на {}.", m.prepared.format("%d.%m.%Y %H:%M")))],
    );
    doc.finish(m.prepared.with_timezone(&chrono::Utc))
}
