//! The webhook delivery job, in every process that sends (`MCU_WEBHOOK_DELIVERY`): claims due
//! deliveries (a lease: no two processes send one attempt at once), posts each signed per
//! the Standard Webhooks specification, and records the outcome: delivered on a 2xx answer,
//! otherwise due again after an exponential backoff, dead after the last attempt.
//!
//! Headers: `webhook-id` (the delivery's idempotency key, the same on every attempt),
//! `webhook-timestamp` (the attempt's Unix time) and `webhook-signature`
//! (`v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}` with the webhook's secret).

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::domain::webhooks::{DeliveryStatus, after_attempt};
use crate::entity::{delivery, webhook};
use crate::error::AppResult;
use crate::state::AppState;
use crate::store::deliveries::{self, Attempt};

/// Deliveries claimed (and sent at once) per pass.
const BATCH: u64 = 16;

/// How long a claim holds: the request's timeout twice over, and time to record the outcome.
fn lease(state: &AppState) -> chrono::Duration {
    chrono::Duration::from_std(state.settings.webhook_timeout * 2 + Duration::from_secs(5))
        .unwrap_or_else(|_| chrono::Duration::minutes(1))
}

/// The longest sleep of the delivery job: what another process queued and did not announce
/// here (two processes on one SQLite file; a redelivery asked of another replica that does not
/// send) is found at the latest this late.
const IDLE: Duration = Duration::from_secs(30);

/// Runs until the process stops: sends what is due, then sleeps until the next delivery falls
/// due, a change is announced (on PostgreSQL by any process), an administrator asks for a
/// redelivery or a webhook is resumed here, or at most [`IDLE`].
/// It looks with a read first and claims only when something is due: on SQLite a claim takes
/// the database's write lock, which an idle server should not take every second.
pub async fn run(state: AppState) {
    let mut announced = state.announcements.subscribe();
    let idle = IDLE;
    loop {
        let now = state.clock.now();
        let wait = match deliveries::next_due(&state.db).await {
            Ok(Some(at)) if at <= now => match deliver_due(&state).await {
                Ok(()) => continue,
                Err(e) => {
                    tracing::warn!(error = %e.message(), "the webhook delivery job failed a pass");
                    idle
                }
            },
            Ok(Some(at)) => (at - now).to_std().unwrap_or(Duration::ZERO).min(idle),
            Ok(None) => idle,
            Err(e) => {
                tracing::warn!(error = %e.message(), "cannot read when the next webhook delivery is due");
                idle
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.announcements.deliveries_woken() => {}
            r = announced.recv() => {
                if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                    tokio::time::sleep(wait).await;
                } else {
                    // Announcements come in bursts: a dispatched batch is up to 500 rows, one
                    // announcement each, and an ingestion dispatches a batch every few hundred
                    // milliseconds. One look per burst, at most one per `BURST` (it was one
                    // read per row, about 4,000 a second during an ingestion); this process's
                    // own deliveries still wake it at once.
                    tokio::select! {
                        () = tokio::time::sleep(BURST) => {}
                        () = state.announcements.deliveries_woken() => {}
                    }
                    drain(&mut announced);
                }
            }
        }
    }
}

/// How long the job gathers announcements before it looks (see [`run`]).
const BURST: Duration = Duration::from_millis(100);

/// Drops what `rx` holds: the look that follows covers it.
fn drain<T: Clone>(rx: &mut tokio::sync::broadcast::Receiver<T>) {
    use tokio::sync::broadcast::error::TryRecvError;
    while let Ok(_) | Err(TryRecvError::Lagged(_)) = rx.try_recv() {}
}

/// Passes until a pass finds less than a full batch.
async fn deliver_due(state: &AppState) -> AppResult<()> {
    while pass(state).await? as u64 == BATCH {}
    Ok(())
}

/// One pass: claims up to a batch of due deliveries, sends them concurrently and records
/// each outcome. Returns how many were claimed.
///
/// # Errors
/// On a database failure while claiming (what was claimed falls due again after the lease).
pub async fn pass(state: &AppState) -> AppResult<usize> {
    let now = state.clock.now();
    let claimed = {
        let txn = crate::db::begin_write(&state.writer).await?;
        let rows = deliveries::claim_due_webhooks(&txn, BATCH, now, now + lease(state)).await?;
        txn.commit().await?;
        rows
    };
    if claimed.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = claimed.iter().filter_map(|d| d.webhook_id).collect();
    let hooks: HashMap<i64, webhook::Model> = webhook::Entity::find()
        .filter(webhook::Column::Id.is_in(ids))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|h| (h.id, h))
        .collect();
    let n = claimed.len();
    join_all(claimed.into_iter().map(|d| {
        let hook = d.webhook_id.and_then(|id| hooks.get(&id));
        send_one(state, d, hook)
    }))
    .await;
    Ok(n)
}

/// Sends one claimed delivery and records the outcome (failures to record are logged: the
/// delivery then falls due again when its lease ends).
async fn send_one(state: &AppState, d: delivery::Model, hook: Option<&webhook::Model>) {
    let started_at = state.clock.now();
    let outcome = match hook {
        None => None,
        Some(h) => match state.sealer.open(&h.secret_sealed) {
            None => Some(crate::webhook_client::Outcome {
                status: None,
                error: Some(
                    "the signing secret cannot be read (MCU_JWT_SECRET changed since the webhook was created?); \
                     rotate the webhook's secret"
                        .into(),
                ),
                duration: Duration::ZERO,
            }),
            Some(key) => {
                let timestamp = started_at.timestamp();
                let signature =
                    crate::crypto::webhook_signature(&key, &d.idempotency_key, timestamp, d.payload.as_bytes());
                let headers = [
                    ("webhook-id", d.idempotency_key.clone()),
                    ("webhook-timestamp", timestamp.to_string()),
                    ("webhook-signature", signature),
                ];
                Some(state.webhooks.post(&h.url, &headers, d.payload.clone()).await)
            }
        },
    };
    // The webhook was deleted after the claim: its deliveries went with it.
    let Some(outcome) = outcome else { return };
    let succeeded = outcome.error.is_none();
    let s = &state.settings;
    let after = after_attempt(
        succeeded,
        u32::try_from(d.attempts).unwrap_or(u32::MAX),
        s.webhook_max_attempts,
        s.webhook_retry_base,
        s.webhook_retry_max,
    );
    let attempt = Attempt {
        started_at,
        duration_ms: i32::try_from(outcome.duration.as_millis()).unwrap_or(i32::MAX),
        status_code: outcome.status.map(i32::from),
        error: outcome.error,
        succeeded,
    };
    let recorded = async {
        let txn = crate::db::begin_write(&state.writer).await?;
        let status = deliveries::finish_attempt(&txn, &d, &attempt, after, state.clock.now()).await?;
        txn.commit().await?;
        AppResult::Ok(status)
    }
    .await;
    match recorded {
        Ok(Some(DeliveryStatus::Dead)) => tracing::warn!(
            delivery = d.id, webhook = ?d.webhook_id, attempts = d.attempts, error = ?attempt.error,
            "a webhook delivery is dead after its last attempt"
        ),
        Ok(Some(DeliveryStatus::Pending)) => tracing::info!(
            delivery = d.id, webhook = ?d.webhook_id, attempt = d.attempts, error = ?attempt.error,
            "a webhook delivery failed; it will be retried"
        ),
        Ok(_) => tracing::debug!(delivery = d.id, "webhook delivery sent"),
        Err(e) => tracing::warn!(delivery = d.id, error = %e.message(), "cannot record a webhook attempt"),
    }
}
