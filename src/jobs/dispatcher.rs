//! The outbox dispatcher: claims pending outbox rows, fans each out (the in-app notifications
//! of deadline alerts, [`crate::service::notify::fan_out`]; a webhook delivery per subscribed
//! webhook, [`crate::store::deliveries`]), marks it dispatched and announces it, all in one
//! transaction (a crash before the commit leaves the rows pending, so they are fanned out
//! after a restart: at least once, never for a rolled-back change).
//!
//! Announcing reaches every process's live subscribers: on PostgreSQL by `NOTIFY
//! mcu_outbox, '<ids>'` sent inside the dispatching transaction (PostgreSQL delivers it only
//! if that transaction commits) to every process's [`listen`]er; on SQLite, which one
//! process serves, by publishing in process after the commit.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use crate::error::AppResult;
use crate::state::AppState;
use crate::store::{deliveries, outbox};

/// Rows claimed per transaction.
const BATCH: u64 = 500;
/// On SQLite, the pause between two full batches: the dispatcher holds the database's only
/// write lock while it dispatches, and another process (an `mcu import` beside the server)
/// waiting on its busy timeout retries at intervals of up to 100 ms; a backlog of a big
/// import dispatched back to back would otherwise starve it.
const SQLITE_YIELD: Duration = Duration::from_millis(150);
/// The PostgreSQL channel of dispatched outbox ids.
pub const CHANNEL: &str = "mcu_outbox";

/// Rows this process dispatched (or pruned) on PostgreSQL before it vacuums the outbox once
/// it is idle. Each dispatched row leaves a dead version behind, and the idle dispatcher's
/// look for pending rows (every interval, on every replica) reads them all until a vacuum
/// removes them: on a database whose autovacuum is off (as on the CI machines here), 81,000
/// dispatched rows made that look cost 16 ms each time instead of a few microseconds.
pub const VACUUM_AFTER: u64 = 10_000;
/// Rows dispatched after which the outbox is vacuumed even though the dispatcher was never
/// idle (a steady stream of changes): the dead versions stay bounded.
pub const VACUUM_BUSY_AFTER: u64 = 10 * VACUUM_AFTER;
/// How long a dispatched row is kept. Nothing reads it after its announcement (another
/// process's listener reads it by id at once; webhook deliveries and notifications are rows
/// of their own, with copies of what they send), so older ones are deleted: without that
/// the outbox grew by every change ever made.
pub const KEEP_DISPATCHED: chrono::Duration = chrono::Duration::days(1);
/// Time between two prunes of a process.
const PRUNE_EVERY: Duration = Duration::from_hours(1);
/// Time before a prune that failed is tried again.
const PRUNE_RETRY: Duration = Duration::from_secs(5);
/// Rows deleted per statement by a prune.
const PRUNE_CHUNK: u64 = 10_000;

/// Runs passes until the process stops: after each interval, or sooner when this process
/// committed an outbox row, and at once again while a full batch was found.
///
/// Housekeeping waits until the dispatcher is idle (woken by its interval, nothing pending),
/// so a bulk load (an ingestion burst, an import beside the server) is not slowed by it:
/// then, at most once every [`PRUNE_EVERY`], the rows dispatched more than
/// [`KEEP_DISPATCHED`] ago are deleted ([`prune`]); and on PostgreSQL the outbox is vacuumed
/// after the first idle pass (what earlier processes dispatched: an idle server on a database
/// with 81,000 dispatched rows spent 6% of a core on its looks) and once [`VACUUM_AFTER`]
/// rows were dispatched or pruned since the last vacuum; or, never idle, after
/// [`VACUUM_BUSY_AFTER`].
pub async fn run(state: AppState) {
    let mut since_vacuum = VACUUM_AFTER;
    let mut next_prune = tokio::time::Instant::now();
    loop {
        let timer = tokio::select! {
            () = tokio::time::sleep(state.settings.dispatch_interval) => true,
            () = state.announcements.woken() => false,
        };
        let sqlite = state.writer.get_database_backend() == DatabaseBackend::Sqlite;
        let mut idle = false;
        loop {
            match pass(&state).await {
                Ok(n) if n as u64 == BATCH => {
                    since_vacuum += BATCH;
                    if sqlite {
                        tokio::time::sleep(SQLITE_YIELD).await;
                    }
                }
                Ok(n) => {
                    since_vacuum += n as u64;
                    idle = timer && n == 0;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e.message(), "the outbox dispatcher failed a pass");
                    break;
                }
            }
        }
        if idle && tokio::time::Instant::now() >= next_prune {
            next_prune = tokio::time::Instant::now() + PRUNE_EVERY;
            match prune(&state).await {
                Ok(n) => {
                    since_vacuum += n;
                    if n > 0 {
                        tracing::info!(rows = n, "pruned dispatched outbox rows");
                    }
                }
                Err(e) => {
                    // A failed prune (a timeout on a busy database) is tried again soon,
                    // not an hour later.
                    next_prune = tokio::time::Instant::now() + PRUNE_RETRY;
                    tracing::warn!(error = %e.message(), "could not prune the outbox");
                }
            }
        }
        if !sqlite && ((idle && since_vacuum >= VACUUM_AFTER) || since_vacuum >= VACUUM_BUSY_AFTER) {
            since_vacuum = 0;
            // Beside the dispatching, on a connection of its own without the statement timeout.
            let db = state.db.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::db::maintenance(&db, "VACUUM (ANALYZE) outbox").await {
                    tracing::warn!(error = %e, "could not vacuum the outbox");
                }
            });
        }
    }
}

/// Deletes the outbox rows dispatched more than [`KEEP_DISPATCHED`] before the clock's now,
/// [`PRUNE_CHUNK`] per statement (each its own transaction, so the writer is never held
/// long). Pending rows and recently dispatched ones stay. Returns how many were deleted.
///
/// # Errors
/// On a database failure (chunks deleted before it stay deleted).
pub async fn prune(state: &AppState) -> AppResult<u64> {
    let before = state.clock.now() - KEEP_DISPATCHED;
    let mut total = 0;
    loop {
        let n = outbox::prune_dispatched(&state.writer, before, PRUNE_CHUNK).await?;
        total += n;
        // Until a statement finds nothing: on PostgreSQL a short chunk may only mean that
        // another process's prune held the rest locked (`SKIP LOCKED`).
        if n == 0 {
            return Ok(total);
        }
    }
}

/// One pass: claims up to a batch of pending rows and dispatches them. Returns how many.
///
/// # Errors
/// On a database failure (the claimed rows stay pending).
pub async fn pass(state: &AppState) -> AppResult<usize> {
    // Look before taking the write lock: on SQLite an idle dispatcher must not hold the one
    // writer (nor a second process's) every interval.
    if !outbox::any_pending(&state.db).await? {
        return Ok(0);
    }
    let txn = crate::db::begin_write(&state.writer).await?;
    let rows = outbox::claim_pending(&txn, BATCH, state.clock.now()).await?;
    if rows.is_empty() {
        txn.commit().await?;
        return Ok(0);
    }
    crate::service::notify::fan_out(&txn, state, &rows).await?;
    // The deliveries that must arrive (webhooks) are rows of this same transaction: created
    // exactly when the outbox rows are marked dispatched, never for a rolled-back change.
    let fanned_out = deliveries::fan_out_webhooks(&txn, &rows, state.clock.now()).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let postgres = txn.get_database_backend() == DatabaseBackend::Postgres;
    if postgres {
        let mut list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        list.push(',');
        // The last element marks this server (`1,2,3,@<origin>`; a listener that parses ids
        // only skips it), so its own listener skips what its dispatcher publishes itself.
        list.push_str(state.announcements.origin());
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), list.into()],
        ))
        .await?;
    }
    txn.commit().await?;
    if fanned_out > 0 {
        state.announcements.wake_deliveries();
    }
    // The fan-out may have queued e-mail, and the changes themselves notices to authors.
    state.announcements.wake_mail();
    // This process's subscribers hear its own changes at once, on PostgreSQL too: waiting
    // for its listener lost what was committed before the listener was connected (right
    // after a start) or while it reconnected.
    for row in rows.iter().cloned() {
        heard(state, row);
    }
    tracing::debug!(rows = rows.len(), "dispatched outbox rows");
    Ok(rows.len())
}

/// PostgreSQL: receives the ids the other processes' dispatchers announce and publishes the
/// rows to this process's subscribers (its own dispatcher publishes its rows itself).
/// Reconnects after a lost connection; what was announced meanwhile is not replayed to live
/// subscribers (deliveries that must
/// arrive, such as e-mail and webhooks, are rows of their own and do not depend on this).
pub async fn listen(state: AppState) {
    use sea_orm::sqlx::postgres::PgListener;
    loop {
        let pool = state.db.get_postgres_connection_pool();
        let mut listener = match PgListener::connect_with(pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for outbox announcements; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "cannot listen for outbox announcements; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // What was announced while this process was not listening is lost: the reference
        // data, accounts and sessions may have changed meanwhile.
        state.reference.invalidate();
        state.sessions.invalidate();
        loop {
            match listener.recv().await {
                Ok(note) => {
                    if note.payload().rsplit(',').next() == Some(state.announcements.origin()) {
                        continue; // published by this process's dispatcher already
                    }
                    let ids: Vec<i64> = note.payload().split(',').filter_map(|s| s.parse().ok()).collect();
                    match outbox::by_ids(&state.db, &ids).await {
                        Ok(rows) => rows.into_iter().for_each(|r| heard(&state, r)),
                        Err(e) => tracing::warn!(error = %e.message(), "cannot read announced outbox rows"),
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lost the outbox announcements; reconnecting");
                    break;
                }
            }
        }
    }
}

/// An announcement this process hears: a change of an account or a session (or a merge that
/// moves people) first drops the people kept for access tokens (so a subscriber's check that
/// follows reads the account), then the row goes to this process's subscribers.
fn heard(state: &AppState, row: crate::entity::outbox::Model) {
    use crate::domain::events::Topic;
    // A merge of reference data moves people to the surviving recipient or territory.
    let merge = row.topic == Topic::ReferenceChanged.as_str()
        && serde_json::from_str::<serde_json::Value>(&row.payload)
            .is_ok_and(|p| p["action"].as_str().is_some_and(|a| a.starts_with("merge")));
    if merge || row.topic == Topic::UserChanged.as_str() {
        state.sessions.invalidate();
    }
    state.announcements.publish(Arc::new(row));
}
