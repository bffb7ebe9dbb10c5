//! Tasks on appeals (what staff must do by hand, such as posting a notice to the author), in
//! the caller's transaction or connection.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::domain::notices::TaskKind;
use crate::entity::{appeal_event, appeal_task};
use crate::error::AppResult;

/// Adds a task to an appeal.
///
/// # Errors
/// On a database failure.
pub async fn add(
    conn: &impl ConnectionTrait,
    appeal_id: i64,
    kind: TaskKind,
    text: String,
    now: DateTime<Utc>,
) -> AppResult<appeal_task::Model> {
    Ok(appeal_task::ActiveModel {
        appeal_id: Set(appeal_id),
        kind: Set(kind.as_str().to_owned()),
        text: Set(text),
        created_at: Set(now),
        done_at: Set(None),
        done_by: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

/// The tasks of these appeals, oldest first.
///
/// # Errors
/// On a database failure.
pub async fn of_appeals(conn: &impl ConnectionTrait, appeal_ids: &[i64]) -> AppResult<Vec<appeal_task::Model>> {
    let mut out = Vec::new();
    for list in crate::db::in_lists(appeal_ids, 256) {
        out.extend(
            appeal_task::Entity::find()
                .filter(appeal_task::Column::AppealId.is_in(list))
                .order_by_asc(appeal_task::Column::Id)
                .all(conn)
                .await?,
        );
    }
    Ok(out)
}

/// The task with this id.
///
/// # Errors
/// On a database failure.
pub async fn load(conn: &impl ConnectionTrait, id: i64) -> AppResult<Option<appeal_task::Model>> {
    Ok(appeal_task::Entity::find_by_id(id).one(conn).await?)
}

/// Marks an open task done by `user_id` at `now` and writes the note of it in the appeal's
/// history (action `completeAppealTask`, the status unchanged: a note, not a write of the
/// appeal, so no version). Returns the task, or `None` when it was done already.
///
/// # Errors
/// On a database failure.
pub async fn complete(
    conn: &impl ConnectionTrait,
    task: &appeal_task::Model,
    status: &str,
    (user_id, actor): (i64, &str),
    now: DateTime<Utc>,
) -> AppResult<Option<appeal_task::Model>> {
    let changed = appeal_task::Entity::update_many()
        .col_expr(appeal_task::Column::DoneAt, Expr::value(now))
        .col_expr(appeal_task::Column::DoneBy, Expr::value(user_id))
        .filter(appeal_task::Column::Id.eq(task.id))
        .filter(appeal_task::Column::DoneAt.is_null())
        .exec(conn)
        .await?
        .rows_affected
        == 1;
    if !changed {
        return Ok(None);
    }
    appeal_event::ActiveModel {
        appeal_id: Set(task.appeal_id),
        at: Set(now),
        actor: Set(actor.to_owned()),
        action: Set("completeAppealTask".to_owned()),
        from_status: Set(Some(status.to_owned())),
        to_status: Set(Some(status.to_owned())),
        comment: Set(None),
        data: Set(Some(serde_json::json!({ "taskId": task.id.to_string(), "kind": task.kind }).to_string())),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    load(conn, task.id).await
}
