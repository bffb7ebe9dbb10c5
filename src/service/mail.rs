//! E-mail that staff ask for directly: the administrator's check of the mail settings, and
//! the administrator's view of the e-mail queue (dead letters, sending one again). Notices
//! and notifications are queued by the write path and the dispatcher, sent by `jobs::mail`.

use sea_orm::EntityTrait;

use crate::domain::access::Role;
use crate::domain::notices::{CHANNEL_MAIL, Template, render};
use crate::domain::webhooks::DeliveryStatus;
use crate::error::{AppError, AppResult, FieldError};
use crate::mailer::MailError;
use crate::state::AppState;
use crate::store::deliveries as store;

use super::{Caller, audit};

/// Sends the test message of [`Template::Test`] to `to`, as an ADMIN, to check `MCU_SMTP_URL`
/// and `MCU_MAIL_FROM`. Audited.
///
/// # Errors
/// `FORBIDDEN` for anyone but an ADMIN; `BAD_USER_INPUT` on `to` for an address that is not
/// one; `CONFLICT` when e-mail is not configured or the mail server did not take the message.
pub async fn send_test(state: &AppState, caller: &Caller, to: &str) -> AppResult<()> {
    let admin = caller
        .principal
        .user()
        .filter(|u| u.has(Role::Admin))
        .ok_or_else(|| AppError::Forbidden("only an administrator checks the mail settings".into()))?;
    let to = to.trim();
    if to.len() > 254 || to.parse::<lettre::Address>().is_err() {
        return Err(AppError::BadInput(vec![FieldError {
            path: "to".into(),
            message: "is not an e-mail address".into(),
        }]));
    }
    let Some(mailer) = &state.mailer else {
        return Err(AppError::Conflict("e-mail is not configured (MCU_SMTP_URL and MCU_MAIL_FROM)".into()));
    };
    let now = state.clock.now();
    let sent_at = now.with_timezone(&state.settings.timezone).format("%d.%m.%Y %H:%M").to_string();
    let server = format!("mcu {}", env!("CARGO_PKG_VERSION"));
    let mail = render(Template::Test, &[("server", &server), ("admin", &admin.email), ("sent_at", &sent_at)]);
    let outcome = mailer.send(to, &mail.subject, &mail.body).await;
    audit::record(
        &state.db,
        caller,
        now,
        "mail.test",
        Some(to.to_owned()),
        Some(serde_json::json!({ "sent": outcome.is_ok() })),
    )
    .await?;
    match outcome {
        Ok(()) => Ok(()),
        Err(MailError::Address(_)) => {
            Err(AppError::BadInput(vec![FieldError { path: "to".into(), message: "is not an e-mail address".into() }]))
        }
        Err(MailError::Transport(why)) => {
            tracing::warn!(error = %why, "the test e-mail was not sent");
            Err(AppError::Conflict("the mail server did not take the message; see the server log".into()))
        }
    }
}

/// An e-mail in the queue with its attempts.
pub type MailWithAttempts = (crate::entity::delivery::Model, Vec<crate::entity::delivery_attempt::Model>);

fn admin(caller: &Caller) -> AppResult<()> {
    match caller.principal.user() {
        Some(u) if u.has(Role::Admin) => Ok(()),
        _ => Err(AppError::Forbidden("only an administrator reads the e-mail queue".into())),
    }
}

/// ADMIN: e-mails, newest first, with their attempts; in one status when asked (`DEAD`: the
/// dead letters).
///
/// # Errors
/// `FORBIDDEN` for anyone but an ADMIN; a database failure.
pub async fn deliveries(
    state: &AppState,
    caller: &Caller,
    status: Option<DeliveryStatus>,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<MailWithAttempts>, u64)> {
    admin(caller)?;
    let (rows, total) = store::list_mail(&state.db, status, offset, limit).await?;
    let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
    let mut attempts = store::attempts_of(&state.db, &ids).await?;
    let page = rows
        .into_iter()
        .map(|d| {
            let a = attempts.remove(&d.id).unwrap_or_default();
            (d, a)
        })
        .collect();
    Ok((page, total))
}

/// ADMIN: sends a dead e-mail again, due now, with a new round of attempts. Audited.
///
/// # Errors
/// `FORBIDDEN`; `NOT_FOUND`; `BAD_USER_INPUT` on `id` when the e-mail is not dead.
pub async fn redeliver(state: &AppState, caller: &Caller, id: i64) -> AppResult<MailWithAttempts> {
    admin(caller)?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let d = crate::entity::delivery::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .filter(|d| d.channel == CHANNEL_MAIL)
        .ok_or_else(|| AppError::NotFound("e-mail".into()))?;
    if d.status != DeliveryStatus::Dead.as_str() {
        return Err(AppError::bad("id", format!("only a DEAD e-mail is sent again; this one is {}", d.status)));
    }
    let d = store::requeue_dead(&txn, id, now).await?.ok_or_else(|| AppError::stale("the e-mail"))?;
    audit::record(&txn, caller, now, "redeliverMail", Some(format!("mail:{id}")), None).await?;
    let attempts = store::attempts_of(&txn, &[id]).await?.remove(&id).unwrap_or_default();
    txn.commit().await?;
    state.announcements.wake_mail();
    Ok((d, attempts))
}
