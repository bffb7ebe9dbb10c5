//! The deadline watch's records: which appeals have reached a deadline transition not yet
//! announced, the claim of one transition (once per appeal, transition and deadline), and the
//! escalation's entry in the appeal's history. All in the caller's transaction.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::domain::escalation::{Alert, Group, Transition};
use crate::entity::{appeal, appeal_alert, appeal_event};
use crate::error::{AppError, AppResult};

/// Open appeals that may have reached `t` at `now` and have no alert of `t` for their current
/// deadline, in deadline order after `after` (the last `(due_at, id)` of the previous batch),
/// at most `limit`. For ESCALATED the caller still decides with the exact grace period: this
/// reads the appeals overdue for longer than `shortest_grace`. A read: run it outside the
/// writing transaction (on SQLite that would hold the database's write lock for the scan),
/// then [`lock`] what is to be announced.
///
/// # Errors
/// On a database failure.
pub async fn candidates(
    conn: &impl ConnectionTrait,
    t: Transition,
    now: DateTime<Utc>,
    shortest_grace: Duration,
    after: Option<(DateTime<Utc>, i64)>,
    limit: u64,
) -> AppResult<Vec<appeal::Model>> {
    use appeal::Column as C;
    let alerted = Query::select()
        .expr(Expr::val(1))
        .from(appeal_alert::Entity)
        .and_where(Expr::col((appeal_alert::Entity, appeal_alert::Column::AppealId)).equals((appeal::Entity, C::Id)))
        .and_where(Expr::col((appeal_alert::Entity, appeal_alert::Column::Transition)).eq(t.as_str()))
        .and_where(
            Expr::col((appeal_alert::Entity, appeal_alert::Column::DeadlineAt)).equals((appeal::Entity, C::DueAt)),
        )
        .to_owned();
    let mut q = appeal::Entity::find().filter(C::ResolvedAt.is_null()).filter(Expr::not_exists(alerted));
    q = match t {
        Transition::DueSoon => q.filter(C::DueSoonAt.lte(now)).filter(C::DueAt.gte(now)),
        Transition::Overdue => q.filter(C::DueAt.lt(now)),
        Transition::Escalated => q.filter(C::DueAt.lt(now - shortest_grace)),
    };
    if let Some((due, id)) = after {
        q = q.filter(
            Condition::any().add(C::DueAt.gt(due)).add(Condition::all().add(C::DueAt.eq(due)).add(C::Id.gt(id))),
        );
    }
    Ok(q.order_by_asc(C::DueAt).order_by_asc(C::Id).limit(limit).all(conn).await?)
}

/// The open appeals among `ids` as they are now, in the caller's transaction. On PostgreSQL
/// the rows are locked (`FOR UPDATE SKIP LOCKED`) so that a change committed meanwhile (an
/// extension, an answer) cannot be announced with the old deadline; a row being changed right
/// now is skipped and seen on the next pass. On SQLite the writing transaction already
/// excludes every other writer.
///
/// # Errors
/// On a database failure.
pub async fn lock(conn: &impl ConnectionTrait, ids: &[i64]) -> AppResult<Vec<appeal::Model>> {
    use appeal::Column as C;
    let mut out = Vec::with_capacity(ids.len());
    // Lists padded to a power of two: a few statement texts whatever the batch.
    for list in crate::db::in_lists(ids, 256) {
        let mut q = appeal::Entity::find()
            .filter(C::Id.is_in(list))
            .filter(C::ResolvedAt.is_null())
            .order_by_asc(C::DueAt)
            .order_by_asc(C::Id);
        if conn.get_database_backend() == DatabaseBackend::Postgres {
            // NO KEY UPDATE: rows inserted meanwhile that refer to the appeal (history,
            // notifications: their foreign keys take KEY SHARE) neither block nor hide it.
            q = q.lock_with_behavior(LockType::NoKeyUpdate, LockBehavior::SkipLocked);
        }
        out.extend(q.all(conn).await?);
    }
    Ok(out)
}

/// Claims transition `t` of the appeal for `deadline`: `true` when this call recorded it,
/// `false` when it was recorded already (by an earlier pass or another process), in which
/// case nothing may be announced.
///
/// # Errors
/// On a database failure.
pub async fn claim(
    conn: &impl ConnectionTrait,
    appeal_id: i64,
    t: Transition,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    use appeal_alert::Column as C;
    let row = appeal_alert::ActiveModel {
        appeal_id: Set(appeal_id),
        transition: Set(t.as_str().to_owned()),
        deadline_at: Set(deadline),
        emitted_at: Set(now),
        ..Default::default()
    };
    let inserted = appeal_alert::Entity::insert(row)
        .on_conflict(OnConflict::columns([C::AppealId, C::Transition, C::DeadlineAt]).do_nothing().to_owned())
        .exec_without_returning(conn)
        .await?;
    Ok(inserted == 1)
}

/// The escalation's entry in the appeal's history: action `escalate`, by `system`, the status
/// unchanged, the level reached and the groups told in `data` (the shape of every other
/// history entry).
///
/// # Errors
/// On a database failure.
pub async fn record_escalation(
    conn: &impl ConnectionTrait,
    a: &appeal::Model,
    alert: &Alert,
    groups: &[Group],
    now: DateTime<Utc>,
) -> AppResult<()> {
    let comment = match alert.transition.parse::<Transition>() {
        Ok(Transition::Escalated) => "overdue past the grace period",
        _ => "the deadline passed",
    };
    let data = serde_json::json!({
        "level": alert.transition,
        "term": alert.term,
        "dueAt": alert.due_at,
        "escalationAt": alert.escalation_at,
        "notify": groups,
    });
    appeal_event::ActiveModel {
        appeal_id: Set(a.id),
        at: Set(now),
        actor: Set("system".to_owned()),
        action: Set("escalate".to_owned()),
        from_status: Set(Some(a.status.clone())),
        to_status: Set(Some(a.status.clone())),
        comment: Set(Some(comment.to_owned())),
        data: Set(Some(serde_json::to_string(&data).map_err(AppError::internal)?)),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}
