//! Webhooks for integrations (ADMIN): endpoints, their signing secrets (shown once) and the
//! deliveries made to them with every attempt.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::connection::{connection, forward_window};
use super::scalars::Json;
use super::{caller, parse_id, state};
use crate::domain::events::Topic;
use crate::domain::webhooks::DeliveryStatus;
use crate::entity::{delivery, delivery_attempt, webhook};
use crate::service::webhooks as svc;

/// An integration's endpoint and the events it takes.
#[derive(SimpleObject)]
pub struct Webhook {
    pub id: ID,
    pub url: String,
    pub events: Vec<Topic>,
    /// `false`: paused; nothing new is queued and pending deliveries wait.
    pub active: bool,
    pub description: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<webhook::Model> for Webhook {
    fn from(h: webhook::Model) -> Self {
        Self {
            id: ID(h.id.to_string()),
            events: svc::events_of(&h),
            url: h.url,
            active: h.active,
            description: h.description,
            version: h.version,
            created_at: h.created_at,
            updated_at: h.updated_at,
        }
    }
}

/// A webhook with its signing secret (`whsec_…`), shown only in this answer.
#[derive(SimpleObject)]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    /// The Standard Webhooks signing secret: `whsec_` and the base64 of the HMAC-SHA256 key.
    pub secret: String,
}

/// One attempt to send a delivery.
#[derive(SimpleObject)]
pub struct WebhookDeliveryAttempt {
    /// 1 for the first attempt; numbering goes on across redeliveries.
    pub number: i32,
    /// When it started.
    pub at: DateTime<Utc>,
    pub duration_ms: i32,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i32>,
    /// Why it failed: the status and the start of the answer, or what went wrong before one.
    pub error: Option<String>,
    pub succeeded: bool,
}

impl From<delivery_attempt::Model> for WebhookDeliveryAttempt {
    fn from(a: delivery_attempt::Model) -> Self {
        Self {
            number: a.number,
            at: a.at,
            duration_ms: a.duration_ms,
            status_code: a.status_code,
            error: a.error,
            succeeded: a.succeeded,
        }
    }
}

/// The delivery of one event to one webhook.
#[derive(SimpleObject)]
pub struct WebhookDelivery {
    pub id: ID,
    pub webhook_id: ID,
    pub event: Topic,
    /// The receiver's `webhook-id` header: the same on every attempt, so repeats can be dropped.
    pub idempotency_key: String,
    pub status: DeliveryStatus,
    /// Attempts of the current round (a redelivery starts a new one).
    pub attempt_count: i32,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's status at the last attempt, if it answered.
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    /// The body sent: `{type, timestamp, data}`.
    pub payload: Json,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Every attempt, oldest first.
    pub attempts: Vec<WebhookDeliveryAttempt>,
}

impl From<svc::DeliveryWithAttempts> for WebhookDelivery {
    fn from((d, attempts): (delivery::Model, Vec<delivery_attempt::Model>)) -> Self {
        let status = d.status.parse().unwrap_or(DeliveryStatus::Pending);
        Self {
            id: ID(d.id.to_string()),
            webhook_id: ID(d.webhook_id.map(|id| id.to_string()).unwrap_or_default()),
            event: d.topic.parse().unwrap_or(Topic::AppealChanged),
            idempotency_key: d.idempotency_key,
            attempt_count: d.attempts,
            next_attempt_at: (status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
            status,
            last_status: d.last_status,
            last_error: d.last_error,
            payload: Json(serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null)),
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            attempts: attempts.into_iter().map(WebhookDeliveryAttempt::from).collect(),
        }
    }
}

connection!(WebhookDeliveryConnection, WebhookDeliveryEdge, WebhookDelivery);

/// A new webhook.
#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// `http(s)://…`; no user name or password; not a private or local address.
    pub url: String,
    /// At least one; `USER_CHANGED` is internal and refused.
    pub events: Vec<Topic>,
    pub description: Option<String>,
}

/// Changes to a webhook; absent fields stay as they are.
#[derive(InputObject)]
pub struct UpdateWebhookInput {
    pub id: ID,
    pub version: i32,
    pub url: Option<String>,
    pub events: Option<Vec<Topic>>,
    /// An empty text removes the description.
    pub description: Option<String>,
    /// `false` pauses the webhook.
    pub active: Option<bool>,
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// ADMIN: every webhook.
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn webhooks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Webhook>> {
        Ok(svc::list(state(ctx), caller(ctx)).await?.into_iter().map(Webhook::from).collect())
    }

    /// ADMIN: deliveries, newest first, with their attempts; of one webhook and in one status
    /// when asked (`status: DEAD` lists the dead letters).
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        webhook_id: Option<ID>,
        status: Option<DeliveryStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<WebhookDeliveryConnection> {
        let webhook_id = webhook_id.as_ref().map(|id| parse_id("webhookId", id)).transpose()?;
        let (offset, limit) = forward_window(first, after.as_deref())?;
        let (rows, total) = svc::deliveries(state(ctx), caller(ctx), webhook_id, status, offset, limit).await?;
        Ok(WebhookDeliveryConnection::from_offset(rows.into_iter().map(WebhookDelivery::from).collect(), offset, total))
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// ADMIN: creates a webhook; the signing secret is in this answer only.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookInput,
    ) -> async_graphql::Result<CreatedWebhook> {
        let new = svc::NewWebhook { url: input.url, events: input.events, description: input.description };
        let (hook, secret) = svc::create(state(ctx), caller(ctx), new).await?;
        Ok(CreatedWebhook { webhook: hook.into(), secret })
    }

    /// ADMIN: changes a webhook (`CONFLICT` on a stale version).
    async fn update_webhook(&self, ctx: &Context<'_>, input: UpdateWebhookInput) -> async_graphql::Result<Webhook> {
        let id = parse_id("input.id", &input.id)?;
        let ch = svc::WebhookChanges {
            url: input.url,
            events: input.events,
            description: input.description,
            active: input.active,
        };
        Ok(svc::update(state(ctx), caller(ctx), id, input.version, ch).await?.into())
    }

    /// ADMIN: a new signing secret, in this answer only; the old one stops signing at once.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
    ) -> async_graphql::Result<CreatedWebhook> {
        let id = parse_id("id", &id)?;
        let (hook, secret) = svc::rotate_secret(state(ctx), caller(ctx), id, version).await?;
        Ok(CreatedWebhook { webhook: hook.into(), secret })
    }

    /// ADMIN: deletes a webhook with its deliveries.
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let id = parse_id("id", &id)?;
        svc::delete(state(ctx), caller(ctx), id).await?;
        Ok(true)
    }

    /// ADMIN: sends a DEAD delivery again, with a new round of attempts.
    async fn redeliver_webhook_delivery(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<WebhookDelivery> {
        let id = parse_id("id", &id)?;
        Ok(svc::redeliver(state(ctx), caller(ctx), id).await?.into())
    }
}
