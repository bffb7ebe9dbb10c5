//! Reports per system (decree 2.4г, 2.5г): the ПОС report and the «Инцидент менеджмент»
//! report of a period, generated on demand from the analytics service (the same functions as
//! `Query.analytics`, so there is one way of counting), stored with who generated them and
//! when, listed, and downloaded as DOCX and XLSX rendered from the stored figures.
//!
//! Who: curators, coordinators and the Head who are not limited to a territory (the figures
//! are city-wide), and API tokens with ANALYTICS_READ (the figures hold no personal data).
//! Generating one is audited (target `systemReport:<id>`).

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use super::analytics::{self, Filter, GroupBy, Period, SummaryParts};
use super::documents::system_report::ReportDoc;
use super::{Caller, audit};
use crate::domain::access::{ApiScope, Principal, Role};
use crate::domain::system_report::{Counted, Figures, RecipientFigures, ReportSystem, TOP_TOPICS, top};
use crate::entity::system_report;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Who may generate and read system reports: curators, coordinators and the Head not limited
/// to a territory, and tokens with ANALYTICS_READ.
///
/// # Errors
/// `FORBIDDEN` for anyone else.
pub fn check_reader(caller: &Caller) -> AppResult<()> {
    let may = match &caller.principal {
        Principal::User(u) => u.has_any(&[Role::Curator, Role::Coordinator, Role::Head]) && u.territory_id.is_none(),
        Principal::Token(t) => t.scopes.contains(&ApiScope::AnalyticsRead),
        _ => false,
    };
    if may {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "system reports are city-wide: for curators, coordinators and the Head of the whole city".into(),
        ))
    }
}

/// The figures of `system` over `period`, as `who` counts them through the analytics service.
///
/// # Errors
/// As the analytics service.
pub async fn figures(state: &AppState, who: &Principal, system: ReportSystem, period: Period) -> AppResult<Figures> {
    let filter = Filter { channel: vec![system.channel()], ..Filter::default() };
    let s = analytics::summary_of(state, who, period, &filter, SummaryParts::ALL).await?;
    let topics = analytics::growth(state, who, period, GroupBy::Category, usize::MAX, &filter).await?;
    let topics =
        top(topics.into_iter().map(|g| Counted { key: g.key, label: g.label, count: g.count }).collect(), TOP_TOPICS);
    let rating = analytics::recipient_rating(state, who, period, Some(system.channel())).await?;
    let by_recipient = rating
        .into_iter()
        .filter(|r| r.total > 0)
        .map(|r| RecipientFigures {
            recipient_id: r.recipient.id,
            name: r.recipient.name,
            rank: r.rank,
            total: r.total,
            on_time_rate: r.on_time_rate,
            full_answer_rate: r.full_answer_rate,
            satisfied_rate: r.satisfied_rate,
            score: r.score,
        })
        .collect();
    Ok(Figures {
        system,
        from: period.from,
        to: period.to,
        total: s.total,
        by_status: s.by_status.into_iter().map(|c| Counted { key: c.key, label: c.label, count: c.count }).collect(),
        answered: s.answered,
        answered_on_time: s.answered_on_time,
        overdue_now: s.overdue_now,
        median_response_hours: s.median_response_hours,
        full: s.full,
        assessed: s.assessed,
        satisfied: s.satisfied,
        rated: s.rated,
        reopened: s.reopened,
        top_topics: topics,
        by_recipient,
    })
}

/// The stored figures of a report.
///
/// # Errors
/// `INTERNAL` when the stored JSON does not read back.
pub fn figures_of(r: &system_report::Model) -> AppResult<Figures> {
    serde_json::from_str(&r.figures).map_err(AppError::internal)
}

async fn author(conn: &impl ConnectionTrait, caller: &Caller) -> AppResult<String> {
    match &caller.principal {
        Principal::User(u) => Ok(crate::entity::user::Entity::find_by_id(u.id)
            .one(conn)
            .await?
            .map_or_else(|| u.email.clone(), |m| m.full_name)),
        Principal::Token(t) => Ok(t.name.clone()),
        other => Ok(other.label()),
    }
}

/// Generates the report of `system` for `from..=to` and stores it.
///
/// # Errors
/// `FORBIDDEN` per [`check_reader`]; `BAD_USER_INPUT` on `input.to` for a bad period.
pub async fn generate(
    state: &AppState,
    caller: &Caller,
    system: ReportSystem,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> AppResult<system_report::Model> {
    check_reader(caller)?;
    let period = Period::new("input", from, to)?;
    // The analytics are read before the write transaction, which then only stores them.
    let figures = figures(state, &caller.principal, system, period).await?;
    let json = serde_json::to_string(&figures).map_err(AppError::internal)?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let row = system_report::ActiveModel {
        system: Set(system.as_str().to_string()),
        period_from: Set(from),
        period_to: Set(to),
        figures: Set(json),
        generated_by: Set(author(&txn, caller).await?),
        generated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let data = serde_json::json!({ "system": system, "from": from, "to": to, "total": figures.total });
    audit::record(&txn, caller, now, "generateSystemReport", Some(format!("systemReport:{}", row.id)), Some(data))
        .await?;
    txn.commit().await?;
    Ok(row)
}

/// Stored reports, newest first (of one system when given), and how many there are.
///
/// # Errors
/// `FORBIDDEN` per [`check_reader`].
pub async fn list(
    state: &AppState,
    caller: &Caller,
    system: Option<ReportSystem>,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<system_report::Model>, u64)> {
    check_reader(caller)?;
    let mut q = system_report::Entity::find();
    if let Some(s) = system {
        q = q.filter(system_report::Column::System.eq(s.as_str()));
    }
    let total = q.clone().count(&state.db).await?;
    let rows = q
        .order_by_desc(system_report::Column::GeneratedAt)
        .order_by_desc(system_report::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(&state.db)
        .await?;
    Ok((rows, total))
}

/// One stored report.
///
/// # Errors
/// `FORBIDDEN` per [`check_reader`]; `NOT_FOUND`.
pub async fn get(state: &AppState, caller: &Caller, id: i64) -> AppResult<system_report::Model> {
    check_reader(caller)?;
    find(&state.db, id).await
}

/// One stored report, without an access check (for a material already sent).
///
/// # Errors
/// `NOT_FOUND`.
pub async fn find(conn: &impl ConnectionTrait, id: i64) -> AppResult<system_report::Model> {
    system_report::Entity::find_by_id(id).one(conn).await?.ok_or_else(|| AppError::NotFound("report".into()))
}

/// A stored report with what its documents need.
///
/// # Errors
/// `INTERNAL` when the stored figures do not read back.
pub fn document(state: &AppState, r: &system_report::Model) -> AppResult<ReportDoc> {
    Ok(ReportDoc {
        id: r.id,
        figures: figures_of(r)?,
        generated_by: r.generated_by.clone(),
        generated_at: r.generated_at.with_timezone(&state.settings.timezone),
    })
}

/// The file of a stored report: DOCX (`xlsx == false`) or XLSX, rendered off the async
/// workers.
///
/// # Errors
/// `INTERNAL` when the document cannot be written.
pub async fn file(state: &AppState, r: &system_report::Model, xlsx: bool) -> AppResult<Vec<u8>> {
    let doc = document(state, r)?;
    tokio::task::spawn_blocking(move || {
        if xlsx { super::documents::system_report::xlsx(&doc) } else { super::documents::system_report::docx(&doc) }
    })
    .await
    .map_err(AppError::internal)?
}
