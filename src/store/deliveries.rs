//! The delivery queue: what is sent on behalf of outbox rows, one row per (outbox row,
//! target), with its attempts. [`fan_out_webhooks`] fills it in the dispatcher's transaction;
//! the delivery job claims due rows with [`claim_due_webhooks`] (a lease, so two processes
//! never send the same attempt at once) and records each outcome with [`finish_attempt`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};

use crate::domain::access::parse_list;
use crate::domain::events::Topic;
use crate::domain::notices::{CHANNEL_DIGEST, CHANNEL_MAIL, DIGEST_QUEUED, DIGEST_TAKEN, Envelope};
use crate::domain::webhooks::{self, AfterAttempt, CHANNEL_WEBHOOK, DeliveryStatus};
use crate::entity::{delivery, delivery_attempt, outbox, webhook};
use crate::error::{AppError, AppResult};

/// Deliveries inserted per statement.
const INSERT_BATCH: usize = 100;

/// Creates one webhook delivery per (outbox row, active webhook subscribed to its topic), in
/// the dispatcher's transaction: if that rolls back, the rows are pending again and no
/// delivery exists. Webhooks never receive internal topics (`USER_CHANGED`). A delivery that
/// exists already (same idempotency key) is left alone. Returns how many were created.
///
/// # Errors
/// On a database failure, or an outbox payload that is not JSON.
pub async fn fan_out_webhooks(
    conn: &impl ConnectionTrait,
    rows: &[outbox::Model],
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let public: Vec<(&outbox::Model, Topic)> =
        rows.iter().filter_map(|r| r.topic.parse::<Topic>().ok().filter(|t| t.is_public()).map(|t| (r, t))).collect();
    if public.is_empty() {
        return Ok(0);
    }
    let hooks = webhook::Entity::find().filter(webhook::Column::Active.eq(true)).all(conn).await?;
    let subscribed: Vec<(i64, Vec<Topic>)> = hooks.iter().map(|h| (h.id, parse_list::<Topic>(&h.events))).collect();
    let mut new = Vec::new();
    for (row, topic) in public {
        let mut body = None;
        for (hook_id, events) in &subscribed {
            if !events.contains(&topic) {
                continue;
            }
            if body.is_none() {
                let data: serde_json::Value = serde_json::from_str(&row.payload).map_err(AppError::internal)?;
                body = Some(webhooks::event_body(topic.as_str(), row.created_at, &data));
            }
            new.push(delivery::ActiveModel {
                channel: Set(CHANNEL_WEBHOOK.to_owned()),
                target: Set(hook_id.to_string()),
                webhook_id: Set(Some(*hook_id)),
                outbox_id: Set(row.id),
                topic: Set(topic.as_str().to_owned()),
                idempotency_key: Set(webhooks::message_id(row.id, *hook_id)),
                payload: Set(body.clone().unwrap_or_default()),
                status: Set(DeliveryStatus::Pending.as_str().to_owned()),
                attempts: Set(0),
                next_attempt_at: Set(now),
                last_status: Set(None),
                last_error: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                delivered_at: Set(None),
                ..Default::default()
            });
        }
    }
    let count = new.len();
    let mut rows = new.into_iter();
    for size in crate::db::bulk_sizes(count, INSERT_BATCH) {
        let part: Vec<delivery::ActiveModel> = rows.by_ref().take(size).collect();
        delivery::Entity::insert_many(part)
            .on_conflict(OnConflict::column(delivery::Column::IdempotencyKey).do_nothing().to_owned())
            .exec_without_returning(conn)
            .await?;
    }
    Ok(count)
}

/// The subquery of active webhooks' ids.
fn active_webhooks() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(webhook::Column::Id)
        .from(webhook::Entity)
        .and_where(webhook::Column::Active.eq(true))
        .to_owned()
}

/// When the next pending webhook delivery falls due (of active webhooks), if any.
///
/// # Errors
/// On a database failure.
pub async fn next_due(conn: &impl ConnectionTrait) -> AppResult<Option<DateTime<Utc>>> {
    Ok(delivery::Entity::find()
        .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(delivery::Column::Channel.eq(CHANNEL_WEBHOOK))
        .filter(delivery::Column::WebhookId.in_subquery(active_webhooks()))
        .order_by_asc(delivery::Column::NextAttemptAt)
        .one(conn)
        .await?
        .map(|d| d.next_attempt_at))
}

/// The columns of a claimed delivery, as the entity reads them.
const DELIVERY_COLUMNS: [&str; 16] = [
    "id",
    "channel",
    "target",
    "webhook_id",
    "outbox_id",
    "topic",
    "idempotency_key",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "last_status",
    "last_error",
    "created_at",
    "updated_at",
    "delivered_at",
];

/// Claims up to `limit` webhook deliveries due at `now` (pending, of active webhooks), in one
/// statement: counts the attempt and moves `next_attempt_at` to `lease_until`, so no other
/// process takes them while this one sends; if this one dies, they fall due again when the
/// lease ends (delivered at least once). On PostgreSQL rows another sender holds are skipped
/// (`FOR UPDATE SKIP LOCKED`, see [`super::claim_sql`]); on SQLite the statement takes the
/// write lock. The returned rows carry the attempt number to pass back to
/// [`finish_attempt`].
///
/// # Errors
/// On a database failure.
pub async fn claim_due_webhooks(
    conn: &impl ConnectionTrait,
    limit: u64,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> AppResult<Vec<delivery::Model>> {
    let backend = conn.get_database_backend();
    let p = match backend {
        DatabaseBackend::Postgres => ["$1", "$2", "$3", "$4", "$5", "$6", "$7"],
        _ => ["?"; 7],
    };
    let set = format!("attempts = attempts + 1, next_attempt_at = {}, updated_at = {}", p[0], p[1]);
    let select = format!(
        "SELECT d.id FROM deliveries d WHERE d.status = {pending} AND d.channel = {channel} \
         AND d.next_attempt_at <= {due} AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id \
         AND w.active = {active}) ORDER BY d.next_attempt_at, d.id LIMIT {limit}",
        pending = p[2],
        channel = p[3],
        due = p[4],
        active = p[5],
        limit = p[6],
    );
    let sql = super::claim_sql(backend, "deliveries", &set, &select, &DELIVERY_COLUMNS);
    let stmt = Statement::from_sql_and_values(
        backend,
        sql,
        [
            lease_until.into(),
            now.into(),
            DeliveryStatus::Pending.as_str().into(),
            CHANNEL_WEBHOOK.into(),
            now.into(),
            true.into(),
            (limit as i64).into(),
        ],
    );
    let mut rows = delivery::Entity::find().from_raw_sql(stmt).all(conn).await?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// One attempt's outcome, as the sender saw it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub succeeded: bool,
}

/// Records an attempt of `claimed` (as [`claim_due_webhooks`] returned it) and what follows:
/// delivered, due again at `now + delay`, or dead. The delivery is changed only if it is still
/// the claimed attempt (a sender whose lease ran out and whose row another sender took since
/// records its attempt in the log but changes nothing else). Returns what became of it, or
/// `None` when the delivery is gone (its webhook was deleted meanwhile) or was taken over.
///
/// # Errors
/// On a database failure.
pub async fn finish_attempt(
    conn: &impl ConnectionTrait,
    claimed: &delivery::Model,
    attempt: &Attempt,
    after: AfterAttempt,
    now: DateTime<Utc>,
) -> AppResult<Option<DeliveryStatus>> {
    let (status, next, delivered_at) = match after {
        AfterAttempt::Delivered => (DeliveryStatus::Delivered, now, Some(now)),
        AfterAttempt::Retry(delay) => {
            (DeliveryStatus::Pending, now + chrono::Duration::from_std(delay).map_err(AppError::internal)?, None)
        }
        AfterAttempt::Dead => (DeliveryStatus::Dead, now, None),
    };
    let changed = delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value(status.as_str()))
        .col_expr(delivery::Column::NextAttemptAt, Expr::value(next))
        .col_expr(delivery::Column::LastStatus, Expr::value(attempt.status_code))
        .col_expr(delivery::Column::LastError, Expr::value(attempt.error.clone()))
        .col_expr(delivery::Column::DeliveredAt, Expr::value(delivered_at))
        .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
        .filter(delivery::Column::Id.eq(claimed.id))
        .filter(delivery::Column::Attempts.eq(claimed.attempts))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .exec(conn)
        .await?
        .rows_affected
        == 1;
    let logged = delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::DeliveryId.eq(claimed.id))
        .count(conn)
        .await?;
    if !changed && delivery::Entity::find_by_id(claimed.id).one(conn).await?.is_none() {
        return Ok(None);
    }
    delivery_attempt::ActiveModel {
        delivery_id: Set(claimed.id),
        number: Set(logged as i32 + 1),
        at: Set(attempt.started_at),
        duration_ms: Set(attempt.duration_ms),
        status_code: Set(attempt.status_code),
        error: Set(attempt.error.clone()),
        succeeded: Set(attempt.succeeded),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(changed.then_some(status))
}

/// A page of webhook deliveries, newest first, with the total; optionally of one webhook
/// and in one status.
///
/// # Errors
/// On a database failure.
pub async fn list_webhook_deliveries(
    conn: &impl ConnectionTrait,
    webhook_id: Option<i64>,
    status: Option<DeliveryStatus>,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<delivery::Model>, u64)> {
    let mut q = delivery::Entity::find().filter(delivery::Column::Channel.eq(CHANNEL_WEBHOOK));
    if let Some(id) = webhook_id {
        q = q.filter(delivery::Column::WebhookId.eq(id));
    }
    if let Some(s) = status {
        q = q.filter(delivery::Column::Status.eq(s.as_str()));
    }
    let total = q.clone().count(conn).await?;
    let rows = q.order_by_desc(delivery::Column::Id).offset(offset).limit(limit).all(conn).await?;
    Ok((rows, total))
}

/// The attempts of these deliveries, in order, by delivery (one statement).
///
/// # Errors
/// On a database failure.
pub async fn attempts_of(
    conn: &impl ConnectionTrait,
    delivery_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<delivery_attempt::Model>>> {
    let mut out: HashMap<i64, Vec<delivery_attempt::Model>> = HashMap::new();
    if delivery_ids.is_empty() {
        return Ok(out);
    }
    let rows = delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::DeliveryId.is_in(delivery_ids.iter().copied()))
        .order_by_asc(delivery_attempt::Column::Id)
        .all(conn)
        .await?;
    for r in rows {
        out.entry(r.delivery_id).or_default().push(r);
    }
    Ok(out)
}

/// Puts a dead delivery back in the queue, due now, with a new round of attempts. Returns it,
/// or `None` when it is not dead (any more).
///
/// # Errors
/// On a database failure.
pub async fn requeue_dead(
    conn: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> AppResult<Option<delivery::Model>> {
    let res = delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value(DeliveryStatus::Pending.as_str()))
        .col_expr(delivery::Column::Attempts, Expr::value(0))
        .col_expr(delivery::Column::NextAttemptAt, Expr::value(now))
        .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
        .filter(delivery::Column::Id.eq(id))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Dead.as_str()))
        .exec(conn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    Ok(delivery::Entity::find_by_id(id).one(conn).await?)
}

/// An e-mail to queue: to whom (`user:<id>`, `author:<appeal id>`), on behalf of which outbox
/// row and topic, under which idempotency key, and the message.
#[derive(Debug, Clone)]
pub struct NewMail {
    pub target: String,
    pub outbox_id: i64,
    pub topic: String,
    pub key: String,
    pub envelope: Envelope,
}

/// Queues e-mails (`MAIL`, pending, due `now`) or, with `channel` [`CHANNEL_DIGEST`], items
/// of the daily digest (queued); a row whose idempotency key exists already is left alone.
/// Returns how many were new.
///
/// # Errors
/// On a database failure.
pub async fn queue_mail(
    conn: &impl ConnectionTrait,
    channel: &str,
    mails: Vec<NewMail>,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    let status = if channel == CHANNEL_DIGEST { DIGEST_QUEUED } else { DeliveryStatus::Pending.as_str() };
    let mut rows = Vec::with_capacity(mails.len());
    for m in mails {
        rows.push(delivery::ActiveModel {
            channel: Set(channel.to_owned()),
            target: Set(m.target),
            webhook_id: Set(None),
            outbox_id: Set(m.outbox_id),
            topic: Set(m.topic),
            idempotency_key: Set(m.key),
            payload: Set(serde_json::to_string(&m.envelope).map_err(AppError::internal)?),
            status: Set(status.to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            last_status: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            delivered_at: Set(None),
            ..Default::default()
        });
    }
    let mut written = 0;
    let count = rows.len();
    let mut rows = rows.into_iter();
    for size in crate::db::bulk_sizes(count, INSERT_BATCH) {
        let part: Vec<delivery::ActiveModel> = rows.by_ref().take(size).collect();
        written += delivery::Entity::insert_many(part)
            .on_conflict(OnConflict::column(delivery::Column::IdempotencyKey).do_nothing().to_owned())
            .exec_without_returning(conn)
            .await?;
    }
    Ok(written)
}

/// Replaces the message of an e-mail with an empty one (the address and the text gone), for
/// messages that must not outlive their sending.
///
/// # Errors
/// On a database failure.
pub async fn blank_mail(conn: &impl ConnectionTrait, id: i64) -> AppResult<()> {
    let blank = Envelope { to: String::new(), subject: String::new(), body: String::new() };
    let payload = serde_json::to_string(&blank).map_err(AppError::internal)?;
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Payload, Expr::value(payload))
        .filter(delivery::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// When the next pending e-mail falls due, if any.
///
/// # Errors
/// On a database failure.
pub async fn next_due_mail(conn: &impl ConnectionTrait) -> AppResult<Option<DateTime<Utc>>> {
    Ok(delivery::Entity::find()
        .filter(delivery::Column::Channel.eq(CHANNEL_MAIL))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .order_by_asc(delivery::Column::NextAttemptAt)
        .one(conn)
        .await?
        .map(|d| d.next_attempt_at))
}

/// Claims up to `limit` e-mails due at `now`, as [`claim_due_webhooks`] claims webhook
/// deliveries: the attempt is counted and `next_attempt_at` moves to `lease_until` in one
/// statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so one process sends each attempt.
///
/// # Errors
/// On a database failure.
pub async fn claim_due_mail(
    conn: &impl ConnectionTrait,
    limit: u64,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> AppResult<Vec<delivery::Model>> {
    let backend = conn.get_database_backend();
    let p = match backend {
        DatabaseBackend::Postgres => ["$1", "$2", "$3", "$4", "$5", "$6"],
        _ => ["?"; 6],
    };
    let set = format!("attempts = attempts + 1, next_attempt_at = {}, updated_at = {}", p[0], p[1]);
    let select = format!(
        "SELECT d.id FROM deliveries d WHERE d.channel = {channel} AND d.status = {pending} \
         AND d.next_attempt_at <= {due} ORDER BY d.next_attempt_at, d.id LIMIT {limit}",
        channel = p[2],
        pending = p[3],
        due = p[4],
        limit = p[5],
    );
    let sql = super::claim_sql(backend, "deliveries", &set, &select, &DELIVERY_COLUMNS);
    let stmt = Statement::from_sql_and_values(
        backend,
        sql,
        [
            lease_until.into(),
            now.into(),
            CHANNEL_MAIL.into(),
            DeliveryStatus::Pending.as_str().into(),
            now.into(),
            (limit as i64).into(),
        ],
    );
    let mut rows = delivery::Entity::find().from_raw_sql(stmt).all(conn).await?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Whether any digest item queued before `before` waits (a read: an idle digest job takes no
/// write lock).
///
/// # Errors
/// On a database failure.
pub async fn any_digest_items(conn: &impl ConnectionTrait, before: DateTime<Utc>) -> AppResult<bool> {
    Ok(delivery::Entity::find()
        .filter(delivery::Column::Channel.eq(CHANNEL_DIGEST))
        .filter(delivery::Column::Status.eq(DIGEST_QUEUED))
        .filter(delivery::Column::CreatedAt.lt(before))
        .one(conn)
        .await?
        .is_some())
}

/// The digest items queued before `before`, oldest first, marked taken at `now` (call it in
/// the transaction that queues the digests, led by one process).
///
/// # Errors
/// On a database failure.
pub async fn take_digest_items(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<Vec<delivery::Model>> {
    let rows = delivery::Entity::find()
        .filter(delivery::Column::Channel.eq(CHANNEL_DIGEST))
        .filter(delivery::Column::Status.eq(DIGEST_QUEUED))
        .filter(delivery::Column::CreatedAt.lt(before))
        .order_by_asc(delivery::Column::Id)
        .all(conn)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    for list in crate::db::in_lists(&ids, 256) {
        delivery::Entity::update_many()
            .col_expr(delivery::Column::Status, Expr::value(DIGEST_TAKEN))
            .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
            .filter(delivery::Column::Id.is_in(list))
            .filter(delivery::Column::Status.eq(DIGEST_QUEUED))
            .exec(conn)
            .await?;
    }
    Ok(rows)
}

/// Whether a delivery with this idempotency key exists.
///
/// # Errors
/// On a database failure.
pub async fn key_taken(conn: &impl ConnectionTrait, key: &str) -> AppResult<bool> {
    Ok(delivery::Entity::find().filter(delivery::Column::IdempotencyKey.eq(key)).one(conn).await?.is_some())
}

/// A page of e-mails, newest first, with the total; optionally in one status.
///
/// # Errors
/// On a database failure.
pub async fn list_mail(
    conn: &impl ConnectionTrait,
    status: Option<DeliveryStatus>,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<delivery::Model>, u64)> {
    let mut q = delivery::Entity::find().filter(delivery::Column::Channel.eq(CHANNEL_MAIL));
    if let Some(s) = status {
        q = q.filter(delivery::Column::Status.eq(s.as_str()));
    }
    let total = q.clone().count(conn).await?;
    let rows = q.order_by_desc(delivery::Column::Id).offset(offset).limit(limit).all(conn).await?;
    Ok((rows, total))
}

/// Puts digest items taken by [`take_digest_items`] back in the queue (their person's digest
/// of the day exists: they wait for the next one).
///
/// # Errors
/// On a database failure.
pub async fn requeue_digest_items(conn: &impl ConnectionTrait, ids: &[i64]) -> AppResult<()> {
    for list in crate::db::in_lists(ids, 256) {
        delivery::Entity::update_many()
            .col_expr(delivery::Column::Status, Expr::value(DIGEST_QUEUED))
            .filter(delivery::Column::Id.is_in(list))
            .exec(conn)
            .await?;
    }
    Ok(())
}
