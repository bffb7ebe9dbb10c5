//! `deliveries`: what is sent on behalf of an outbox row, one row per target, until it is
//! delivered or dead.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `WEBHOOK`, `MAIL` (an e-mail to send) or `DIGEST` (an item queued for a daily digest).
    pub channel: String,
    /// The target within the channel: the webhook's id, `user:<id>` or `author:<appeal id>`.
    pub target: String,
    pub webhook_id: Option<i64>,
    pub outbox_id: i64,
    /// The [`crate::domain::events::Topic`] name.
    pub topic: String,
    /// Unique; a webhook receiver sees it as `webhook-id`, the same on every attempt.
    #[sea_orm(unique)]
    pub idempotency_key: String,
    /// The body to send.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// `PENDING`, `DELIVERED` or `DEAD`.
    pub status: String,
    /// Attempts started in the current round (reset by a redelivery).
    pub attempts: i32,
    /// When a pending delivery is due; while one is being sent, the end of its sender's lease.
    pub next_attempt_at: DateTimeUtc,
    pub last_status: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
