//! Background work: the outbox dispatcher (every process; rows are claimed so each is fanned
//! out once), the weekly memo, the webhook delivery job (every process that sends;
//! deliveries are leased so each attempt is made by one) and, on PostgreSQL, the listener that
//! brings other processes' announcements to this process's subscribers (on SQLite, the
//! refresh of the planner's statistics instead). Periodic jobs that
//! must run once across replicas take [`try_lead`] in their transaction.

pub mod attachments;
pub mod dispatcher;
pub mod mail;
pub mod memo;
pub mod reference;
pub mod retention;
pub mod statistics;
pub mod watch;
pub mod webhooks;

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use tokio::task::JoinSet;

use crate::error::AppResult;
use crate::state::{AppState, in_background};

/// A job that runs once across the processes sharing a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// The deadline watch.
    DeadlineWatch = 1,
    /// Folding the analytics ledger.
    RollupCompaction = 2,
    /// The weekly memo.
    WeeklyMemo = 3,
    /// The daily digest of notifications.
    DailyDigest = 4,
    /// The retention run (anonymising closed appeals past the retention period).
    Retention = 5,
}

/// Key space of the advisory locks (`'mcu'` in ASCII), so other applications sharing the
/// database do not collide with these locks.
const LOCK_SPACE: i64 = 0x6d63_7500_0000_0000;

/// Whether this transaction leads `job` now. On PostgreSQL a transaction-level advisory lock
/// (released at commit or rollback): another process's transaction that asks meanwhile gets
/// `false` and skips its turn. On SQLite one process serves the file, so it always leads.
///
/// # Errors
/// On a database failure.
pub async fn try_lead(txn: &impl ConnectionTrait, job: Job) -> AppResult<bool> {
    if txn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(true);
    }
    let key = LOCK_SPACE | job as i64;
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock($1) AS led",
            [key.into()],
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<bool>("", "led")).transpose()?.unwrap_or(false))
}

/// Starts the background work of a serving process, in a set the server stops (aborting each
/// job at its next await, where a transaction in flight rolls back) before it closes the
/// pool, so no job finds the pool closed under it.
pub fn spawn(state: &AppState) -> JoinSet<()> {
    let mut set = JoinSet::new();
    set.spawn(in_background(dispatcher::run(state.clone())));
    set.spawn(in_background(reference::run(state.clone())));
    set.spawn(in_background(watch::run(state.clone())));
    set.spawn(in_background(memo::run(state.clone(), state.settings.memo_check_interval)));
    set.spawn(in_background(retention::run(state.clone())));
    set.spawn(in_background(attachments::run(state.clone())));
    set.spawn(in_background(attachments::run_fetches(state.clone())));
    if state.mailer.is_some() {
        set.spawn(in_background(mail::run(state.clone())));
        set.spawn(in_background(mail::run_digest(state.clone())));
    } else {
        set.spawn(in_background(mail::warn_unsent(state.clone())));
    }
    if state.settings.webhook_delivery {
        set.spawn(in_background(webhooks::run(state.clone())));
    }
    if state.db.get_database_backend() == DatabaseBackend::Postgres {
        set.spawn(in_background(dispatcher::listen(state.clone())));
    } else {
        set.spawn(in_background(statistics::run(state.clone())));
    }
    set
}
