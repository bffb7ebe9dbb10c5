//! Tasks on appeals: what staff must still do by hand (post a notice to an author who gave no
//! e-mail address). Shown to those who handle the appeal; done by those who may work on it.

use crate::domain::appeal::AppealId;
use crate::entity::appeal_task;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::{appeals, tasks};

use super::scope::AppealScope;
use super::{Caller, audit};

/// The tasks of an appeal, oldest first (the caller's right to see them is the resolver's:
/// only those who handle the appeal, since the notice holds the author's personal data).
///
/// # Errors
/// On a database failure.
pub async fn of_appeal(state: &AppState, appeal_id: i64) -> AppResult<Vec<appeal_task::Model>> {
    tasks::of_appeals(&state.db, &[appeal_id]).await
}

/// Marks a task done, as a person who may work on its appeal (its recipient's executors, the
/// coordinators of its channel, its curators), with an entry in the appeal's history and the
/// audit trail.
///
/// # Errors
/// `FORBIDDEN` for a token or a person who may see but not work on the appeal (the Head);
/// `NOT_FOUND` for a task of an appeal the caller cannot see; `CONFLICT` when it is done already.
pub async fn complete(
    state: &AppState,
    caller: &Caller,
    scope: &AppealScope,
    id: i64,
) -> AppResult<appeal_task::Model> {
    let me =
        caller.principal.user().ok_or_else(|| AppError::Forbidden("tasks are done by people, not tokens".into()))?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let task = tasks::load(&txn, id).await?.ok_or_else(|| AppError::NotFound("task".into()))?;
    let a = appeals::load_visible(&txn, scope, AppealId(task.appeal_id))
        .await
        .map_err(|_| AppError::NotFound("task".into()))?;
    if !scope.answers(&a) {
        return Err(AppError::Forbidden("you may not work on this appeal".into()));
    }
    let actor = caller.principal.label();
    let done = tasks::complete(&txn, &task, a.status.as_str(), (me.id, &actor), now)
        .await?
        .ok_or_else(|| AppError::Conflict("the task is done already".into()))?;
    audit::record(
        &txn,
        caller,
        now,
        "completeAppealTask",
        Some(format!("appeal:{}", a.id.0)),
        Some(serde_json::json!({ "taskId": id.to_string() })),
    )
    .await?;
    txn.commit().await?;
    // The change is in the outbox: its subscribers hear of it now, not at the next poll.
    state.announcements.wake_dispatcher();
    Ok(done)
}
