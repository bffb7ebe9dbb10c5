//! A roadmap as a Word document for signature: the approval block («УТВЕРЖДАЮ» with the curator
//! who approved it and the date), its details (status, topic, territory, owner, progress,
//! effect), the problem and the plan of measures with the overdue ones marked.

use crate::domain::roadmap::RoadmapId;
use chrono::{DateTime, NaiveDate};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::docx::{Align, Column, Document, RED, Span, Style, Table, cell};
use super::memo::signature;
use super::{CENTRE, DASH, date, decimal, long_date, place};
use crate::domain::roadmap::{Effect, MeasureStatus, RoadmapStatus, measure_overdue};
use crate::entity::{category, recipient, roadmap, roadmap_measure, territory, user};
use crate::error::{AppError, AppResult};
use crate::service::roadmaps;
use crate::state::AppState;

/// How a roadmap's status reads in the document.
pub fn status_label(s: RoadmapStatus) -> &'static str {
    match s {
        RoadmapStatus::Draft => "Проект",
        RoadmapStatus::Submitted => "На утверждении",
        RoadmapStatus::Approved => "Утверждена",
        RoadmapStatus::Returned => "Возвращена на доработку",
        RoadmapStatus::InProgress => "Исполняется",
        RoadmapStatus::Completed => "Исполнена",
        RoadmapStatus::Cancelled => "Отменена",
    }
}

/// One measure as the document shows it.
#[derive(Debug, Clone)]
pub struct MeasureLine {
    pub title: String,
    pub due: NaiveDate,
    pub responsible: String,
    pub status: MeasureStatus,
    pub done_on: Option<NaiveDate>,
    /// Days past the due date when the measure is overdue (as `Measure.overdue`).
    pub overdue_days: Option<i64>,
}

/// A roadmap with the names and figures of its document.
#[derive(Debug, Clone)]
pub struct RoadmapReport {
    pub roadmap: roadmap::Model,
    pub status: RoadmapStatus,
    /// «ЖКХ / Отопление».
    pub category: Option<String>,
    pub territory: Option<String>,
    pub owner: Option<String>,
    /// The curator who approved it, while the approval stands.
    pub approver: Option<String>,
    pub approved_on: Option<NaiveDate>,
    pub measures: Vec<MeasureLine>,
    pub appeals: usize,
    pub effect: Option<Effect>,
    /// The months before approval the effect compares with.
    pub baseline_months: u32,
    pub today: NaiveDate,
    pub place: Option<String>,
    pub prepared: DateTime<chrono_tz::Tz>,
}

/// Loads a roadmap with everything its document names.
///
/// # Errors
/// `NOT_FOUND` for an unknown roadmap; database errors.
pub async fn load(state: &AppState, id: i64) -> AppResult<RoadmapReport> {
    let db = &state.db;
    let tz = state.settings.timezone;
    let r = roadmaps::get(db, RoadmapId(id)).await?;
    let status: RoadmapStatus = r.status.parse().map_err(AppError::internal)?;
    let prepared = state.clock.now().with_timezone(&tz);
    let today = prepared.date_naive();
    let rows = roadmaps::measures(db, RoadmapId(id)).await?;
    let ids: Vec<i64> = rows.iter().filter_map(|m| m.responsible_id).collect();
    let recipients = recipient::Entity::find().filter(recipient::Column::Id.is_in(ids)).all(db).await?;
    let mut measures = Vec::with_capacity(rows.len());
    for m in &rows {
        measures.push(measure_line(m, &recipients, today, tz)?);
    }
    let category = match r.category_id {
        None => None,
        Some(id) => match category::Entity::find_by_id(id).one(db).await? {
            None => None,
            Some(c) => {
                let parent = match c.parent_id {
                    Some(p) => category::Entity::find_by_id(p).one(db).await?.map(|p| p.name),
                    None => None,
                };
                Some(parent.map_or_else(|| c.name.clone(), |p| format!("{p} / {}", c.name)))
            }
        },
    };
    let territory = match r.territory_id {
        Some(id) => territory::Entity::find_by_id(id).one(db).await?.map(|t| t.name),
        None => None,
    };
    let name = |id: Option<i64>| async move {
        match id {
            Some(id) => user::Entity::find_by_id(id).one(db).await.map(|u| u.map(|u| u.full_name)),
            None => Ok(None),
        }
    };
    let owner = name(Some(r.owner_id)).await?;
    // A returned, cancelled or not yet approved plan carries no approval, whatever an earlier
    // round recorded.
    let approved = matches!(status, RoadmapStatus::Approved | RoadmapStatus::InProgress | RoadmapStatus::Completed);
    let approver = if approved { name(r.approved_by_id).await? } else { None };
    let approved_on = r.approved_at.filter(|_| approved).map(|t| t.with_timezone(&tz).date_naive());
    Ok(RoadmapReport {
        appeals: roadmaps::appeal_ids(db, RoadmapId(id)).await?.len(),
        effect: roadmaps::effect_of(state, &r).await?,
        baseline_months: state.settings.roadmap_baseline_months,
        place: place(db, None).await?,
        roadmap: r,
        status,
        category,
        territory,
        owner,
        approver,
        approved_on,
        measures,
        today,
        prepared,
    })
}

fn measure_line(
    m: &roadmap_measure::Model,
    recipients: &[recipient::Model],
    today: NaiveDate,
    tz: chrono_tz::Tz,
) -> AppResult<MeasureLine> {
    let status = roadmaps::measure_status(m)?;
    let responsible = [
        m.responsible_id.and_then(|rid| recipients.iter().find(|x| x.id == rid)).map(|x| x.name.clone()),
        m.responsible_name.clone(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    Ok(MeasureLine {
        title: m.title.clone(),
        due: m.due_date,
        responsible,
        status,
        done_on: m.done_at.map(|t| t.with_timezone(&tz).date_naive()),
        overdue_days: measure_overdue(status, m.due_date, today).then(|| (today - m.due_date).num_days()),
    })
}

/// «дней» in the right form after `n`.
fn days(n: i64) -> String {
    let word = match (n % 10, n % 100) {
        (1, r) if r != 11 => "день",
        (2..=4, r) if !(12..=14).contains(&r) => "дня",
        _ => "дней",
    };
    format!("{n}\u{a0}{word}")
}

/// The roadmap as a Word document.
///
/// # Errors
/// `INTERNAL` when the package cannot be written.
pub fn docx(report: &RoadmapReport) -> AppResult<Vec<u8>> {
    let r = &report.roadmap;
    let mut doc = Document::new(format!("Дорожная карта «{}»", r.title));

    let mut letterhead = vec![Span::bold(CENTRE.to_uppercase())];
    if let Some(p) = &report.place {
        letterhead.push(Span::new(format!("\n{p}")));
    }
    let approval = match (&report.approver, report.approved_on) {
        (Some(who), Some(on)) => vec![
            Span::bold("УТВЕРЖДАЮ"),
            Span::new(format!("\nКуратор муниципального центра управления\n\n____________ {who}\n{}", long_date(on))),
        ],
        _ => vec![
            Span::bold("УТВЕРЖДАЮ"),
            Span::new(
                "\nКуратор муниципального центра управления\n\n____________ /________________/\n«___» ____________ 20___ г.",
            ),
        ],
    };
    let mut top = Table::layout(vec![Column::new("", 4355, Align::Center), Column::new("", 5000, Align::Left)]);
    top.row(vec![letterhead, approval]);
    doc.table(&top);

    doc.paragraph(Style::Title, &[Span::new("Дорожная карта")]);
    doc.paragraph(Style::Subtitle, &[Span::new(format!("по устранению причин обращений граждан: «{}»", r.title))]);

    let overdue = report.measures.iter().filter(|m| m.overdue_days.is_some()).count();
    let counted = report.measures.iter().filter(|m| m.status != MeasureStatus::Cancelled).count();
    let done = report.measures.iter().filter(|m| m.status == MeasureStatus::Done).count();
    let mut details = Table::new(vec![Column::new("Сведения", 3300, Align::Left), Column::new("", 6055, Align::Left)]);
    details.header = false;
    let mut status = vec![Span::new(status_label(report.status))];
    match (report.approved_on, &report.approver) {
        (Some(on), Some(who)) => status.push(Span::new(format!(", утверждена {} ({who})", date(on)))),
        _ if report.status == RoadmapStatus::Cancelled => {
            if let Some(reason) = &r.cancel_reason {
                status.push(Span::new(format!(": {reason}")));
            }
        }
        _ => status.push(Span::new(", не утверждена")),
    }
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| DASH.into());
    let mut progress = vec![Span::new(format!("выполнено {done} из {counted} мероприятий"))];
    if overdue > 0 {
        progress.push(Span::new(", "));
        progress.push(Span::bold(format!("просрочено {overdue}")).color(RED));
    }
    let rows: Vec<(&str, Vec<Span>)> = vec![
        ("Статус", status),
        ("Тематика", vec![Span::new(or_dash(&report.category))]),
        ("Территория", vec![Span::new(or_dash(&report.territory))]),
        ("Ответственный за подготовку", vec![Span::new(or_dash(&report.owner))]),
        ("Связанных обращений", vec![Span::new(report.appeals.to_string())]),
        ("Исполнение", progress),
        ("Обращений в месяц по теме", vec![Span::new(effect_text(report.effect, report.baseline_months))]),
    ];
    for (name, value) in rows {
        details.row(vec![vec![Span::bold(name)], value]);
    }
    doc.table(&details);

    doc.heading(1, "1. Описание проблемы");
    for line in r.problem.lines().filter(|l| !l.trim().is_empty()) {
        doc.text(line.trim());
    }

    doc.heading(1, "2. План мероприятий");
    if report.measures.is_empty() {
        doc.text("Мероприятия не запланированы.");
    } else {
        let mut t = Table::new(vec![
            Column::new("№", 500, Align::Center),
            Column::new("Мероприятие", 3555, Align::Left),
            Column::new("Срок", 1300, Align::Center),
            Column::new("Ответственный", 2200, Align::Left),
            Column::new("Отметка о выполнении", 1800, Align::Left),
        ]);
        for (i, m) in report.measures.iter().enumerate() {
            let due = match m.overdue_days {
                Some(_) => vec![Span::bold(date(m.due)).color(RED)],
                None => cell(date(m.due)),
            };
            let mark = match (m.status, m.overdue_days) {
                (_, Some(late)) => {
                    let state = if m.status == MeasureStatus::InProgress { "В работе, " } else { "" };
                    vec![Span::new(state), Span::bold(format!("просрочено на {}", days(late))).color(RED)]
                }
                (MeasureStatus::Done, _) => {
                    cell(m.done_on.map_or_else(|| "Выполнено".into(), |d| format!("Выполнено {}", date(d))))
                }
                (MeasureStatus::InProgress, _) => cell("В работе"),
                (MeasureStatus::Cancelled, _) => cell("Отменено"),
                (MeasureStatus::Planned, _) => cell(""),
            };
            let responsible = if m.responsible.is_empty() { DASH.to_string() } else { m.responsible.clone() };
            t.row(vec![cell((i + 1).to_string()), cell(&m.title), due, cell(responsible), mark]);
        }
        doc.table(&t);
        if overdue > 0 {
            doc.paragraph(
                Style::Note,
                &[Span::new(format!(
                    "Красным отмечены мероприятия, не выполненные в срок, на {}.",
                    date(report.today)
                ))],
            );
        }
    }

    doc.table(&signature("Ответственный за подготовку", report.owner.as_deref()));
    doc.paragraph(
        Style::Note,
        &[Span::new(format!(
            "Сформировано автоматически {} ({}).",
            report.prepared.format("%d.%m.%Y %H:%M"),
            report.prepared.timezone().name()
        ))],
    );
    doc.finish(report.prepared.with_timezone(&chrono::Utc))
}

fn effect_text(effect: Option<Effect>, months: u32) -> String {
    match effect {
        None => "считается после утверждения".into(),
        Some(e) => {
            let change = e.change.map_or_else(String::new, |c| {
                let pct = decimal(c * 100.0, 0);
                let sign = if pct.starts_with('\u{2212}') || pct == "0" { "" } else { "+" };
                format!(" ({sign}{pct}%)")
            });
            format!(
                "за {months}\u{a0}мес. до утверждения — {}, после утверждения — {}{change}",
                decimal(e.baseline_per_month, 1),
                decimal(e.current_per_month, 1)
            )
        }
    }
}

/// The roadmap `id` as a DOCX document; the document is built off the async workers.
///
/// # Errors
/// `NOT_FOUND` for an unknown roadmap; `INTERNAL` when the document cannot be built.
pub async fn export_docx(state: &AppState, id: i64) -> AppResult<Vec<u8>> {
    let report = load(state, id).await?;
    tokio::task::spawn_blocking(move || docx(&report)).await.map_err(AppError::internal)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_counts_agree_with_the_number() {
        let forms: Vec<String> = [1, 2, 5, 11, 12, 21, 22, 25, 111, 104].iter().map(|n| days(*n)).collect();
        assert_eq!(
            forms,
            ["1 день", "2 дня", "5 дней", "11 дней", "12 дней", "21 день", "22 дня", "25 дней", "111 дней", "104 дня"]
                .map(|s| s.replace(' ', "\u{a0}"))
        );
    }

    #[test]
    fn the_effect_reads_with_decimal_commas_and_a_sign() {
        let e = Effect { baseline_per_month: 9.5, current_per_month: 4.75, change: Some(-0.5) };
        assert_eq!(
            effect_text(Some(e), 6),
            "за 6\u{a0}мес. до утверждения — 9,5, после утверждения — 4,8 (\u{2212}50%)"
        );
        assert_eq!(effect_text(None, 6), "считается после утверждения");
    }
}
