//! E-mail: the sender, in every process with `MCU_SMTP_URL` (claims due `MAIL` deliveries
//! with a lease, so each attempt is made by one process, sends them, and records the outcome:
//! delivered, due again after an exponential backoff on a temporary failure, dead after the
//! last attempt or at once for an address that cannot receive mail), and the daily digest
//! (from `MCU_DIGEST_TIME` local time, one e-mail per person with the notifications queued for
//! it since the last digest; made once across processes).

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{Job, try_lead};
use crate::domain::notices::{self, CHANNEL_MAIL, Envelope, Template};
use crate::domain::schedule::digest_due;
use crate::domain::webhooks::{AfterAttempt, DeliveryStatus, after_attempt};
use crate::entity::{delivery, user};
use crate::error::{AppError, AppResult};
use crate::mailer::{MailError, Mailer};
use crate::state::AppState;
use crate::store::deliveries::{self, Attempt, NewMail};

/// E-mails claimed (and sent at once) per pass.
const BATCH: u64 = 8;
/// The longest sleep of the sender (what another process queued is found this late at most).
const IDLE: Duration = Duration::from_secs(30);
/// Seconds between checks whether the digest is due.
const DIGEST_CHECK: Duration = Duration::from_mins(1);

/// How long a claim holds: the mailer's timeout twice over and time to record the outcome.
fn lease() -> chrono::Duration {
    chrono::Duration::seconds(45)
}

/// Sends what is due until the process stops; sleeps until the next e-mail falls due, the
/// dispatcher queued something, or at most [`IDLE`].
pub async fn run(state: AppState) {
    let Some(mailer) = state.mailer.clone() else { return };
    loop {
        let now = state.clock.now();
        let wait = match deliveries::next_due_mail(&state.db).await {
            Ok(Some(at)) if at <= now => match pass_with(&state, &mailer).await {
                Ok(n) if n as u64 == BATCH => continue,
                Ok(_) => Duration::ZERO,
                Err(e) => {
                    tracing::warn!(error = %e.message(), "the mail sender failed a pass");
                    IDLE
                }
            },
            Ok(Some(at)) => (at - now).to_std().unwrap_or(Duration::ZERO).min(IDLE),
            Ok(None) => IDLE,
            Err(e) => {
                tracing::warn!(error = %e.message(), "cannot read when the next e-mail is due");
                IDLE
            }
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.announcements.mail_woken() => {}
        }
    }
}

/// One pass of the sender: claims up to a batch of due e-mails, sends them and records each
/// outcome. Returns how many were claimed (0 without `MCU_SMTP_URL`).
///
/// # Errors
/// On a database failure while claiming (what was claimed falls due again after the lease).
pub async fn pass(state: &AppState) -> AppResult<usize> {
    match state.mailer.clone() {
        Some(m) => pass_with(state, &m).await,
        None => Ok(0),
    }
}

async fn pass_with(state: &AppState, mailer: &Mailer) -> AppResult<usize> {
    let now = state.clock.now();
    let claimed = {
        let txn = crate::db::begin_write(&state.writer).await?;
        let rows = deliveries::claim_due_mail(&txn, BATCH, now, now + lease()).await?;
        txn.commit().await?;
        rows
    };
    let n = claimed.len();
    join_all(claimed.into_iter().map(|d| send_one(state, mailer, d))).await;
    Ok(n)
}

async fn send_one(state: &AppState, mailer: &Mailer, d: delivery::Model) {
    let started_at = state.clock.now();
    let clock = std::time::Instant::now();
    let outcome = match serde_json::from_str::<Envelope>(&d.payload) {
        Ok(e) => mailer.send(&e.to, &e.subject, &e.body).await,
        Err(e) => Err(MailError::Address(format!("unreadable message: {e}"))),
    };
    let s = &state.settings;
    let made = u32::try_from(d.attempts).unwrap_or(u32::MAX);
    let after = match &outcome {
        Ok(()) => AfterAttempt::Delivered,
        Err(e) if e.is_transient() => {
            after_attempt(false, made, s.mail_max_attempts, s.mail_retry_base, s.mail_retry_max)
        }
        Err(_) => AfterAttempt::Dead,
    };
    let attempt = Attempt {
        started_at,
        duration_ms: i32::try_from(clock.elapsed().as_millis()).unwrap_or(i32::MAX),
        status_code: None,
        error: outcome.as_ref().err().map(ToString::to_string),
        succeeded: outcome.is_ok(),
    };
    let recorded = async {
        let txn = crate::db::begin_write(&state.writer).await?;
        let status = deliveries::finish_attempt(&txn, &d, &attempt, after, state.clock.now()).await?;
        // A poll code's e-mail holds a citizen's address: blanked once it is sent or dead.
        if d.topic == crate::service::polls::POLL_CODE_TOPIC && status != Some(DeliveryStatus::Pending) {
            deliveries::blank_mail(&txn, d.id).await?;
        }
        txn.commit().await?;
        AppResult::Ok(status)
    }
    .await;
    match recorded {
        Ok(Some(DeliveryStatus::Dead)) => tracing::warn!(
            delivery = d.id, target = %d.target, attempts = d.attempts, error = ?attempt.error,
            "an e-mail is dead after its last attempt (listed by mailDeliveries)"
        ),
        Ok(Some(DeliveryStatus::Pending)) => tracing::info!(
            delivery = d.id, target = %d.target, attempt = d.attempts, error = ?attempt.error,
            "an e-mail was not taken; it will be sent again"
        ),
        Ok(_) => tracing::debug!(delivery = d.id, "e-mail sent"),
        Err(e) => tracing::warn!(delivery = d.id, error = %e.message(), "cannot record an e-mail attempt"),
    }
}

/// Checks every minute whether the daily digest is due, until the process stops.
pub async fn run_digest(state: AppState) {
    loop {
        tokio::time::sleep(DIGEST_CHECK).await;
        match digest_pass(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(digests = n, "queued the daily digests"),
            Err(e) => tracing::warn!(error = %e.message(), "the daily digest failed; it will try again"),
        }
    }
}

/// Makes the daily digests that are due: at the latest `MCU_DIGEST_TIME` passed, every item
/// queued before it is taken and each person gets one e-mail listing its items (none for a
/// person with nothing). Led by one process ([`Job::DailyDigest`]); the e-mail's idempotency
/// key (person and day) makes a second digest of the same day impossible, so a person whose
/// digest of the day exists keeps its later items for the next one. Returns how many digests
/// were queued.
///
/// # Errors
/// On a database failure (nothing is taken then).
pub async fn digest_pass(state: &AppState) -> AppResult<usize> {
    let now = state.clock.now();
    let tz = state.settings.timezone;
    let due = digest_due(now, tz, state.settings.digest_time);
    if !deliveries::any_digest_items(&state.db, due).await? {
        return Ok(0);
    }
    let txn = crate::db::begin_write(&state.writer).await?;
    if !try_lead(&txn, Job::DailyDigest).await? {
        txn.rollback().await?;
        return Ok(0);
    }
    let day = due.with_timezone(&tz).date_naive();
    let items = deliveries::take_digest_items(&txn, due, now).await?;
    let mut by_person: BTreeMap<i64, Vec<(delivery::Model, Envelope)>> = BTreeMap::new();
    for item in items {
        let Some(id) = item.target.strip_prefix("user:").and_then(|s| s.parse::<i64>().ok()) else { continue };
        let Ok(env) = serde_json::from_str::<Envelope>(&item.payload) else { continue };
        by_person.entry(id).or_default().push((item, env));
    }
    let ids: Vec<i64> = by_person.keys().copied().collect();
    let active: std::collections::HashMap<i64, user::Model> = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .filter(user::Column::Active.eq(true))
        .all(&txn)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let mut digests = Vec::new();
    let mut left = Vec::new();
    for (id, items) in by_person {
        let Some(u) = active.get(&id) else { continue };
        let Some(to) = notices::email_address(Some(&u.email)) else { continue };
        let key = format!("digest:{id}:{day}");
        if deliveries::key_taken(&txn, &key).await? {
            // Today's digest went out already: these wait for tomorrow's.
            left.extend(items.iter().map(|(i, _)| i.id));
            continue;
        }
        let list: Vec<String> = items
            .iter()
            .map(|(i, e)| {
                let at = i.created_at.with_timezone(&tz).format("%d.%m.%Y %H:%M");
                format!("• {at} — {}", e.body.replace('\n', "\n  "))
            })
            .collect();
        let count = items.len().to_string();
        let label = (day - chrono::Duration::days(1)).format("%d.%m.%Y").to_string();
        let mail =
            notices::render(Template::Digest, &[("day", &label), ("count", &count), ("items", &list.join("\n"))]);
        let last = items.last().map_or(0, |(i, _)| i.outbox_id);
        digests.push(NewMail {
            target: format!("user:{id}"),
            outbox_id: last,
            topic: "DIGEST".into(),
            key,
            envelope: Envelope { to, subject: mail.subject, body: mail.body },
        });
    }
    deliveries::requeue_digest_items(&txn, &left).await?;
    let n = digests.len();
    deliveries::queue_mail(&txn, CHANNEL_MAIL, digests, now).await?;
    txn.commit().await.map_err(AppError::from)?;
    state.announcements.wake_mail();
    Ok(n)
}

/// Without `MCU_SMTP_URL`: says once at the start how many e-mails wait (notices to authors
/// are queued whatever this process's settings; a process with mail settings sends them).
pub async fn warn_unsent(state: AppState) {
    match deliveries::next_due_mail(&state.db).await {
        Ok(Some(_)) => tracing::warn!(
            "e-mails to send wait in the queue, but MCU_SMTP_URL is not set: this process sends none \
             (notices to authors stay queued until a process with mail settings runs)"
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e.message(), "cannot read the e-mail queue"),
    }
}
