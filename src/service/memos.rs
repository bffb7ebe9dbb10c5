//! Stored weekly memos: generated once per week by the job (`jobs::memo`), listed and
//! downloaded as they were made.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::{Value, json};

use super::Caller;
use super::analytics::{Memo, Summary};
use crate::domain::access::Role;
use crate::entity::memo;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Who may read stored memos: they are city-wide figures, so the Head and curators who are
/// not limited to a territory.
///
/// # Errors
/// `FORBIDDEN` for anyone else.
pub fn check_reader(caller: &Caller) -> AppResult<()> {
    let may = caller
        .principal
        .user()
        .is_some_and(|u| u.has(Role::Head) || (u.has(Role::Curator) && u.territory_id.is_none()));
    if may { Ok(()) } else { Err(AppError::Forbidden("stored memos are for the Head and the city's curators".into())) }
}

/// Stored memos, newest week first, and how many there are.
///
/// # Errors
/// `FORBIDDEN` per [`check_reader`]; a database failure.
pub async fn list(state: &AppState, caller: &Caller, offset: u64, limit: u64) -> AppResult<(Vec<memo::Model>, u64)> {
    check_reader(caller)?;
    let total = memo::Entity::find().count(&state.db).await?;
    let rows =
        memo::Entity::find().order_by_desc(memo::Column::WeekStart).offset(offset).limit(limit).all(&state.db).await?;
    Ok((rows, total))
}

/// One stored memo.
///
/// # Errors
/// `FORBIDDEN` per [`check_reader`]; `NOT_FOUND`.
pub async fn get(state: &AppState, caller: &Caller, id: i64) -> AppResult<memo::Model> {
    check_reader(caller)?;
    memo::Entity::find_by_id(id).one(&state.db).await?.ok_or_else(|| AppError::NotFound("memo".into()))
}

/// Whether the memo of the week starting on `week_start` is stored.
///
/// # Errors
/// On a database failure.
pub async fn exists(conn: &impl ConnectionTrait, week_start: NaiveDate) -> AppResult<bool> {
    Ok(memo::Entity::find().filter(memo::Column::WeekStart.eq(week_start)).count(conn).await? > 0)
}

/// Stores a generated memo (in the caller's transaction).
///
/// # Errors
/// On a database failure (a second memo of the same week violates the unique key).
pub async fn save(
    conn: &impl ConnectionTrait,
    m: &Memo,
    docx: Vec<u8>,
    xlsx: Vec<u8>,
    now: DateTime<Utc>,
) -> AppResult<memo::Model> {
    let row = memo::ActiveModel {
        id: sea_orm::NotSet,
        week_start: Set(m.week_start),
        created_at: Set(now),
        figures: Set(figures(m).to_string()),
        markdown: Set(m.markdown.clone()),
        docx: Set(docx),
        xlsx: Set(xlsx),
    };
    Ok(memo::Entity::insert(row).exec_with_returning(conn).await?)
}

fn summary_figures(s: &Summary) -> Value {
    json!({
        "total": s.total,
        "answered": s.answered,
        "answeredOnTime": s.answered_on_time,
        "onTimeRate": s.on_time_rate(),
        "overdueNow": s.overdue_now,
        "dueSoonNow": s.due_soon_now,
        "medianResponseHours": s.median_response_hours,
        "satisfiedRate": s.satisfied_rate(),
        "fullAnswerRate": s.full_answer_rate(),
        "reopened": s.reopened,
        "byChannel": s.by_channel.iter().map(|c| json!({ "key": c.key, "count": c.count })).collect::<Vec<_>>(),
    })
}

/// The memo's key figures as they were when it was generated.
pub fn figures(m: &Memo) -> Value {
    json!({
        "weekStart": m.week_start,
        "weekEnd": m.week_end,
        "summary": summary_figures(&m.summary),
        "previous": summary_figures(&m.previous),
        "topGrowth": m.top_growth.iter().map(|g| json!({
            "key": g.key, "label": g.label, "count": g.count, "baseline": g.baseline, "growth": g.growth,
            "significant": g.significant,
        })).collect::<Vec<_>>(),
        "overdueByRecipient": m.overdue_by_recipient.iter().map(|o| json!({
            "recipient": o.recipient, "count": o.count, "oldestDue": o.oldest_due,
        })).collect::<Vec<_>>(),
        "rating": m.rating.iter().map(|r| json!({
            "recipient": r.recipient.name, "rank": r.rank, "total": r.total, "score": r.score,
            "onTimeRate": r.on_time_rate, "enoughData": r.enough_data,
        })).collect::<Vec<_>>(),
        "recommendations": m.recommendations,
    })
}
