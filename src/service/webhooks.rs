//! Webhooks for integrations (ЦУР, the city's portal), managed by administrators: an endpoint
//! URL, the events it takes and a signing secret shown once; the deliveries made to it with
//! their attempts; sending a dead delivery again.
//!
//! A URL must be `http(s)` and must not point to a private or local address (checked here by
//! resolving it, and again at every delivery by the client's resolver) unless
//! `MCU_WEBHOOK_ALLOW_PRIVATE` is set.

use std::collections::HashMap;

use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};

use super::{Caller, audit};
use crate::domain::access::{Role, UserPrincipal, format_list, parse_list};
use crate::domain::events::Topic;
use crate::domain::webhooks::{CHANNEL_WEBHOOK, DeliveryStatus, MAX_DESCRIPTION, check_url};
use crate::entity::{delivery, delivery_attempt, webhook};
use crate::error::{AppError, AppResult, FieldError};
use crate::state::AppState;
use crate::store::deliveries;

/// A new webhook.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<Topic>,
    pub description: Option<String>,
}

/// Changes to a webhook; `None` leaves a field as it is (an empty description removes it).
#[derive(Debug, Clone, Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<Vec<Topic>>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

/// A delivery with its attempts, oldest first.
pub type DeliveryWithAttempts = (delivery::Model, Vec<delivery_attempt::Model>);

fn admin(caller: &Caller) -> AppResult<&UserPrincipal> {
    caller
        .principal
        .user()
        .filter(|u| u.has(Role::Admin))
        .ok_or_else(|| AppError::Forbidden("only an administrator manages webhooks".into()))
}

/// Checks the URL (form and where it points); the URL to store, or an error on `input.url`.
async fn checked_url(state: &AppState, raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let url = match check_url(raw) {
        Ok(u) => u,
        Err(why) => {
            errors.push(FieldError { path: "input.url".into(), message: why });
            return None;
        }
    };
    if let Err(why) = state.webhooks.check_target(&url).await {
        errors.push(FieldError { path: "input.url".into(), message: why.to_string() });
        return None;
    }
    Some(url.to_string())
}

/// The events, deduplicated in declaration order; errors on `input.events`.
fn checked_events(events: &[Topic], errors: &mut Vec<FieldError>) -> Vec<Topic> {
    if events.is_empty() {
        errors.push(FieldError { path: "input.events".into(), message: "at least one event is required".into() });
    }
    for (i, t) in events.iter().enumerate() {
        if !t.is_public() {
            errors.push(FieldError {
                path: format!("input.events.{i}"),
                message: format!("{t} is internal to the centre and is not sent to webhooks"),
            });
        }
    }
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    events
}

fn checked_description(d: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let d = d.map(str::trim).filter(|d| !d.is_empty())?;
    if d.chars().count() > MAX_DESCRIPTION {
        errors.push(FieldError {
            path: "input.description".into(),
            message: format!("must be at most {MAX_DESCRIPTION} characters"),
        });
    }
    Some(d.to_owned())
}

/// What the audit keeps of a URL: its origin (the path or query may hold a token).
fn origin(url: &str) -> String {
    url::Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
}

/// Creates a webhook and returns it with its signing secret (`whsec_…`), which is shown only
/// here: the server keeps it sealed to sign deliveries and never returns it again.
///
/// # Errors
/// `FORBIDDEN` for anyone but an administrator; `BAD_USER_INPUT` naming every invalid field
/// (`input.url`, `input.events.<i>`, `input.description`), nothing written.
pub async fn create(state: &AppState, caller: &Caller, new: NewWebhook) -> AppResult<(webhook::Model, String)> {
    let me = admin(caller)?;
    let mut errors = Vec::new();
    let url = checked_url(state, &new.url, &mut errors).await;
    let events = checked_events(&new.events, &mut errors);
    let description = checked_description(new.description.as_deref(), &mut errors);
    FieldError::finish(errors)?;
    let url = url.unwrap_or_default();
    let (key, secret) = crate::crypto::new_webhook_secret();
    let sealed = state.sealer.seal(&key)?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let hook = webhook::ActiveModel {
        url: Set(url),
        events: Set(format_list(&events)),
        description: Set(description),
        secret_sealed: Set(sealed),
        active: Set(true),
        version: Set(1),
        created_by: Set(Some(me.id)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let data = serde_json::json!({ "origin": origin(&hook.url), "events": hook.events });
    audit::record(&txn, caller, now, "createWebhook", Some(format!("webhook:{}", hook.id)), Some(data)).await?;
    txn.commit().await?;
    Ok((hook, secret))
}

async fn load(conn: &impl ConnectionTrait, id: i64) -> AppResult<webhook::Model> {
    webhook::Entity::find_by_id(id).one(conn).await?.ok_or_else(|| AppError::NotFound("webhook".into()))
}

/// Writes `am` if the webhook still has `version` (one statement) and bumps the version.
async fn save(
    conn: &impl ConnectionTrait,
    hook: &webhook::Model,
    mut am: webhook::ActiveModel,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<webhook::Model> {
    am.version = Set(hook.version + 1);
    am.updated_at = Set(now);
    let res = webhook::Entity::update_many()
        .set(am)
        .filter(webhook::Column::Id.eq(hook.id))
        .filter(webhook::Column::Version.eq(hook.version))
        .exec(conn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::stale("the webhook"));
    }
    load(conn, hook.id).await
}

/// Changes a webhook's URL, events, description or activity. Deactivating pauses it: nothing
/// new is queued for it and its pending deliveries wait until it is active again. Pending
/// deliveries go to the URL the webhook has when they are sent.
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`, `CONFLICT` on a stale version, `BAD_USER_INPUT` as for [`create`].
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: i64,
    version: i32,
    ch: WebhookChanges,
) -> AppResult<webhook::Model> {
    admin(caller)?;
    let mut errors = Vec::new();
    let url = match &ch.url {
        Some(u) => checked_url(state, u, &mut errors).await,
        None => None,
    };
    let events = ch.events.as_deref().map(|e| checked_events(e, &mut errors));
    let description = ch.description.as_deref().map(|d| checked_description(Some(d), &mut errors));
    FieldError::finish(errors)?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let hook = load(&txn, id).await?;
    if hook.version != version {
        return Err(AppError::stale("the webhook"));
    }
    let mut am = hook.clone().into_active_model();
    if let Some(u) = url {
        am.url = Set(u);
    }
    if let Some(e) = &events {
        am.events = Set(format_list(e));
    }
    if let Some(d) = description {
        am.description = Set(d);
    }
    if let Some(a) = ch.active {
        am.active = Set(a);
    }
    let updated = save(&txn, &hook, am, now).await?;
    let data =
        serde_json::json!({ "origin": origin(&updated.url), "events": updated.events, "active": updated.active });
    audit::record(&txn, caller, now, "updateWebhook", Some(format!("webhook:{id}")), Some(data)).await?;
    txn.commit().await?;
    if updated.active && !hook.active {
        state.announcements.wake_deliveries();
    }
    Ok(updated)
}

/// Replaces a webhook's signing secret and returns the new one, shown only here; deliveries
/// are signed with it from their next attempt on.
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`, `CONFLICT` on a stale version.
pub async fn rotate_secret(
    state: &AppState,
    caller: &Caller,
    id: i64,
    version: i32,
) -> AppResult<(webhook::Model, String)> {
    admin(caller)?;
    let (key, secret) = crate::crypto::new_webhook_secret();
    let sealed = state.sealer.seal(&key)?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let hook = load(&txn, id).await?;
    if hook.version != version {
        return Err(AppError::stale("the webhook"));
    }
    let mut am = hook.clone().into_active_model();
    am.secret_sealed = Set(sealed);
    let updated = save(&txn, &hook, am, now).await?;
    audit::record(&txn, caller, now, "rotateWebhookSecret", Some(format!("webhook:{id}")), None).await?;
    txn.commit().await?;
    Ok((updated, secret))
}

/// Deletes a webhook with its deliveries and their attempts (the audit trail keeps that it
/// existed).
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`.
pub async fn delete(state: &AppState, caller: &Caller, id: i64) -> AppResult<()> {
    admin(caller)?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let hook = load(&txn, id).await?;
    let of_hook = Query::select()
        .column(delivery::Column::Id)
        .from(delivery::Entity)
        .and_where(delivery::Column::WebhookId.eq(id))
        .to_owned();
    delivery_attempt::Entity::delete_many()
        .filter(delivery_attempt::Column::DeliveryId.in_subquery(of_hook))
        .exec(&txn)
        .await?;
    delivery::Entity::delete_many().filter(delivery::Column::WebhookId.eq(id)).exec(&txn).await?;
    webhook::Entity::delete_by_id(id).exec(&txn).await?;
    let data = serde_json::json!({ "origin": origin(&hook.url), "events": hook.events });
    audit::record(&txn, caller, now, "deleteWebhook", Some(format!("webhook:{id}")), Some(data)).await?;
    txn.commit().await?;
    Ok(())
}

/// Every webhook, oldest first.
///
/// # Errors
/// `FORBIDDEN` for anyone but an administrator.
pub async fn list(state: &AppState, caller: &Caller) -> AppResult<Vec<webhook::Model>> {
    admin(caller)?;
    Ok(webhook::Entity::find().order_by_asc(webhook::Column::Id).all(&state.db).await?)
}

/// The events a stored webhook takes.
pub fn events_of(hook: &webhook::Model) -> Vec<Topic> {
    parse_list(&hook.events)
}

/// A page of webhook deliveries, newest first, each with its attempts (two statements and
/// the count, whatever the page size), and the total.
///
/// # Errors
/// `FORBIDDEN`; `NOT_FOUND` for an unknown webhook.
pub async fn deliveries(
    state: &AppState,
    caller: &Caller,
    webhook_id: Option<i64>,
    status: Option<DeliveryStatus>,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<DeliveryWithAttempts>, u64)> {
    admin(caller)?;
    if let Some(id) = webhook_id {
        load(&state.db, id).await?;
    }
    let (rows, total) = deliveries::list_webhook_deliveries(&state.db, webhook_id, status, offset, limit).await?;
    let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
    let mut attempts: HashMap<i64, Vec<delivery_attempt::Model>> = deliveries::attempts_of(&state.db, &ids).await?;
    let page = rows
        .into_iter()
        .map(|d| {
            let a = attempts.remove(&d.id).unwrap_or_default();
            (d, a)
        })
        .collect();
    Ok((page, total))
}

/// Sends a dead webhook delivery again: due now, with a new round of attempts (the log keeps
/// the earlier ones). A delivery of an inactive webhook waits until it is active again.
///
/// # Errors
/// `FORBIDDEN`; `NOT_FOUND`; `BAD_USER_INPUT` on `id` when the delivery is not dead.
pub async fn redeliver(state: &AppState, caller: &Caller, id: i64) -> AppResult<DeliveryWithAttempts> {
    admin(caller)?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let d = delivery::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .filter(|d| d.channel == CHANNEL_WEBHOOK)
        .ok_or_else(|| AppError::NotFound("webhook delivery".into()))?;
    if d.status != DeliveryStatus::Dead.as_str() {
        return Err(AppError::bad("id", format!("only a DEAD delivery is sent again; this one is {}", d.status)));
    }
    let d = deliveries::requeue_dead(&txn, id, now).await?.ok_or_else(|| AppError::stale("the delivery"))?;
    audit::record(
        &txn,
        caller,
        now,
        "redeliverWebhookDelivery",
        Some(format!("webhookDelivery:{id}")),
        Some(serde_json::json!({ "webhookId": d.webhook_id, "idempotencyKey": d.idempotency_key })),
    )
    .await?;
    let attempts = deliveries::attempts_of(&txn, &[id]).await?.remove(&id).unwrap_or_default();
    txn.commit().await?;
    state.announcements.wake_deliveries();
    Ok((d, attempts))
}
