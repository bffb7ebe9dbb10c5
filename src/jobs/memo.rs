//! The weekly memo: from Monday 08:00 local time, the memo of the past week is generated once
//! (one process across replicas), stored as an immutable snapshot and announced
//! (`MEMO_READY`). A server that was down on Monday makes it when it comes back that week.

use std::time::Duration;

use super::{Job, try_lead};
use crate::domain::access::Principal;
use crate::domain::events::Topic;
use crate::domain::schedule::memo_week_due;
use crate::error::AppResult;
use crate::service::{analytics, exports, memos};
use crate::state::AppState;
use crate::store::outbox::{self, Subject};

/// Checks every `interval` (the first time one interval after the start) whether a memo is
/// due, until the process stops.
pub async fn run(state: AppState, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        if let Err(e) = pass(&state).await {
            tracing::warn!(error = %e.message(), "the weekly memo job failed; it will try again");
        }
    }
}

/// Generates and stores the memo that is due, unless it exists. Returns its id when this
/// call stored it.
///
/// # Errors
/// On a database failure or when the documents cannot be built.
pub async fn pass(state: &AppState) -> AppResult<Option<i64>> {
    let week = memo_week_due(state.clock.now(), state.settings.timezone);
    if memos::exists(&state.db, week).await? {
        return Ok(None);
    }
    // The memo reads a week of analytics: made before the write transaction, which then only
    // stores it (another process may have made it meanwhile: then this one is dropped).
    let memo = analytics::weekly_memo(state, &Principal::System, week).await?;
    let docx = exports::memo_docx(&memo)?;
    let xlsx = exports::memo_xlsx(&memo)?;
    let txn = crate::db::begin_write(&state.writer).await?;
    if !try_lead(&txn, Job::WeeklyMemo).await? || memos::exists(&txn, week).await? {
        txn.rollback().await?;
        return Ok(None);
    }
    let now = state.clock.now();
    let row = memos::save(&txn, &memo, docx, xlsx, now).await?;
    outbox::record(&txn, Topic::MemoReady, Subject::Memo(row.id), &serde_json::json!({ "weekStart": week }), now)
        .await?;
    txn.commit().await?;
    state.announcements.wake_dispatcher();
    tracing::info!(week_start = %week, id = row.id, "stored the weekly memo");
    Ok(Some(row.id))
}
