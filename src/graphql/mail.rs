//! The e-mail queue as an administrator sees it: notices to authors, notifications and daily
//! digests to staff, with their attempts; the dead letters and sending one again. The body and
//! the address are never shown (an author's address and the answer are personal data the
//! administrator may not see): the recipient is named by its kind and id.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::connection::{connection, forward_window};
use super::webhooks::WebhookDeliveryAttempt;
use super::{caller, parse_id, state};
use crate::domain::notices::Envelope;
use crate::domain::webhooks::DeliveryStatus;
use crate::service::mail::{self as svc, MailWithAttempts};

/// One e-mail to send.
#[derive(SimpleObject)]
pub struct QueuedMail {
    pub id: ID,
    /// Whom it goes to: `user:<id>` (staff), `author:<appeal id>` (the author of an appeal) or
    /// `pollCode:<id>` (a one-time poll code; its address is not kept once sent).
    pub recipient: String,
    /// What it is about: the outbox event (`APPEAL_ANSWERED`, `MEMO_READY`, …) or `DIGEST`.
    pub topic: String,
    /// The subject line (appeal numbers, no personal data).
    pub subject: String,
    pub status: DeliveryStatus,
    /// Attempts of the current round (sending again starts a new one).
    pub attempt_count: i32,
    /// When the next attempt is due (pending e-mails only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed (the mail server's reply).
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Every attempt, oldest first.
    pub attempts: Vec<WebhookDeliveryAttempt>,
}

impl From<MailWithAttempts> for QueuedMail {
    fn from((d, attempts): MailWithAttempts) -> Self {
        let status = d.status.parse().unwrap_or(DeliveryStatus::Pending);
        let subject = serde_json::from_str::<Envelope>(&d.payload).map(|e| e.subject).unwrap_or_default();
        Self {
            id: ID(d.id.to_string()),
            recipient: d.target,
            topic: d.topic,
            subject,
            attempt_count: d.attempts,
            next_attempt_at: (status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
            status,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            attempts: attempts.into_iter().map(WebhookDeliveryAttempt::from).collect(),
        }
    }
}

connection!(QueuedMailConnection, QueuedMailEdge, QueuedMail);

#[derive(Default)]
pub struct MailQuery;

#[Object]
impl MailQuery {
    /// ADMIN: e-mails, newest first, with their attempts; in one status when asked
    /// (`status: DEAD` lists the dead letters).
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn mail_deliveries(
        &self,
        ctx: &Context<'_>,
        status: Option<DeliveryStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<QueuedMailConnection> {
        let (offset, limit) = forward_window(first, after.as_deref())?;
        let (rows, total) = svc::deliveries(state(ctx), caller(ctx), status, offset, limit).await?;
        Ok(QueuedMailConnection::from_offset(rows.into_iter().map(QueuedMail::from).collect(), offset, total))
    }
}

#[derive(Default)]
pub struct MailMutation;

#[Object]
impl MailMutation {
    /// ADMIN: sends a DEAD e-mail again, with a new round of attempts.
    async fn redeliver_mail(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<QueuedMail> {
        let id = parse_id("id", &id)?;
        Ok(svc::redeliver(state(ctx), caller(ctx), id).await?.into())
    }
}
