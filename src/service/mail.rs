//! E-mail that staff ask for directly: the administrator's check of the mail settings.
//! (Notices and notifications are sent by the delivery job from outbox rows.)

use crate::domain::access::Role;
use crate::domain::notices::{Template, render};
use crate::error::{AppError, AppResult, FieldError};
use crate::mailer::MailError;
use crate::state::AppState;

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
