//! The appeal lifecycle: creation, changes, transitions with their deadlines, answers,
//! assessment, feedback (staff and the author's one-time code), reopening, duplicates.
//!
//! Every change runs in one write transaction: the service loads the appeal, checks access
//! and the version, looks up what the step needs, takes the step's effect from
//! `domain::effects` (pure) and hands it to `store::appeals::save_change`, which writes the
//! row, the rollup ledger, the history entry and the audit entry.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, Set,
};

use super::deadlines::Terms;
use super::scope::AppealScope;
use super::{Caller, audit};
use crate::domain::access::{Channel, Principal};
pub use crate::domain::appeal::{AppealId, CategoryId, MAX_TEXT, RecipientId, TerritoryId};
use crate::domain::appeal::{check_coords, check_text, is_anonymous, search_text, trimmed};
use crate::domain::deadlines::AppealKind;
pub use crate::domain::effects::{AppealChanges, Step};
use crate::domain::effects::{Lookups, Original, RecipientStanding, after_rating, effects};
use crate::domain::lifecycle::AppealStatus;
use crate::domain::retention::reopening_refused;
use crate::entity::{rate_event, recipient};
use crate::error::{AppError, AppResult, FieldError};
use crate::state::AppState;
use crate::store::appeals::{self as store, Appeal, Event, FreshAppeal, Payload, Stamp, Visibility};
use crate::store::audit::Actor;

const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A new appeal typed in by staff or pushed by an integration.
#[derive(Debug, Clone, Default)]
pub struct NewAppeal {
    pub kind: Option<AppealKind>,
    pub channel: Option<Channel>,
    pub external_id: Option<String>,
    pub received_at: Option<DateTime<Utc>>,
    pub author_name: Option<String>,
    pub author_contact: Option<String>,
    pub text: String,
    pub category_id: Option<CategoryId>,
    pub territory_id: Option<TerritoryId>,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub summary: Option<String>,
    pub high_priority: bool,
}

impl Visibility for AppealScope {
    fn sees(&self, a: &Appeal) -> bool {
        AppealScope::sees(self, a)
    }
}

/// Creates an appeal: validates, numbers it, computes its first deadline, records history.
/// `scope` is the caller's ([`AppealScope::of`], computed once per request).
///
/// # Errors
/// `BAD_USER_INPUT` naming every invalid field, `FORBIDDEN` for a channel the caller does not
/// coordinate, `CONFLICT` for an external id already used in the channel.
pub async fn create(state: &AppState, caller: &Caller, scope: &AppealScope, new: NewAppeal) -> AppResult<Appeal> {
    let now = state.clock.now();
    let mut errors = Vec::new();
    let kind = new.kind.unwrap_or(AppealKind::Appeal);
    let channel = new.channel.unwrap_or(Channel::Other);
    check_text(&mut errors, "input.text", &new.text);
    check_coords(&mut errors, new.latitude, new.longitude);
    let received_at = new.received_at.map_or(now, crate::domain::stored_instant);
    if received_at > now + Duration::minutes(5) {
        errors.push(FieldError { path: "input.receivedAt".into(), message: "must not be in the future".into() });
    }
    super::reference::check_refs(
        &state.db,
        &mut errors,
        super::reference::Refs {
            category_id: new.category_id.map(|c| c.0),
            territory_id: new.territory_id.map(|t| t.0),
            ..Default::default()
        },
    )
    .await?;
    if !errors.is_empty() {
        return Err(AppError::BadInput(errors));
    }
    if matches!(caller.principal, Principal::User(_)) && !scope.creates_in(channel) {
        return Err(AppError::Forbidden(format!("you do not coordinate the channel {channel}")));
    }
    let external_id = trimmed(new.external_id);
    let author_name = trimmed(new.author_name);
    let author_contact = trimmed(new.author_contact);
    let summary = trimmed(new.summary);
    let address = trimmed(new.address);
    let terms = Terms::load(state, &state.db).await?;
    let due = terms.initial(kind, received_at, new.high_priority);
    let (started, due_soon) = terms.window(received_at, due);
    let txn = crate::db::begin_write(&state.writer).await?;
    if let Some(ext) = &external_id
        && store::by_external_id(&txn, channel, ext).await?.is_some()
    {
        return Err(AppError::Conflict(format!("an appeal with external id {ext} already exists in {channel}")));
    }
    let suggested = match (new.category_id, super::classifier::cached(state).await) {
        (None, Some(model)) => model
            .model
            .predict(&new.text, 1)
            .into_iter()
            .next()
            .filter(|(_, p)| *p >= state.settings.suggestion_threshold)
            .map(|(id, _)| CategoryId(id)),
        _ => None,
    };
    let year = terms.local_year(now);
    let seq = store::reserve_numbers(&txn, year, 1).await?;
    let fresh = FreshAppeal {
        id: (),
        number: store::format_number(year, seq),
        kind,
        channel,
        external_id,
        status: AppealStatus::Received,
        received_at,
        registered_at: None,
        anonymous: is_anonymous(author_name.as_deref(), author_contact.as_deref()),
        author_name,
        author_contact,
        search_text: search_text(&new.text, summary.as_deref(), address.as_deref()),
        text: new.text.trim().to_string(),
        summary,
        category_id: new.category_id,
        suggested_category_id: suggested,
        territory_id: new.territory_id,
        address,
        latitude: new.latitude,
        longitude: new.longitude,
        recipient_id: None,
        redirected_to: None,
        high_priority: new.high_priority,
        sla_started_at: started,
        due_soon_at: due_soon,
        due_at: due,
        extension_count: 0,
        reacted_at: None,
        resolved_at: None,
        answered_at: None,
        answer_text: None,
        completeness: None,
        no_answer_reason: None,
        satisfaction_score: None,
        satisfied: None,
        feedback_code: None,
        feedback_expires_at: None,
        reopen_count: 0,
        first_answer: None,
        reaction: None,
        duplicate_of_id: None,
        version: 1,
        created_at: now,
        updated_at: now,
        anonymised_at: None,
    };
    // Before the insert, so the new appeal cannot find itself.
    let everything = AppealScope::for_token_reading_all();
    let likely =
        super::duplicates::find(&txn, &everything, &fresh, super::duplicates::DuplicateRules::default()).await?;
    let likely: Vec<AppealId> = likely.iter().take(5).map(|m| m.appeal.id).collect();
    let event = Event {
        action: "createAppeal",
        from: None,
        to: Some(AppealStatus::Received),
        comment: (!likely.is_empty()).then(|| "possible duplicates found".to_string()),
        payload: Payload::Created { due_at: due, possible_duplicates: likely, suggested_category_id: suggested },
    };
    let actor = caller.principal.label();
    let audit = audit::actor(caller);
    let stamp = Stamp { at: now, actor: &actor, audit: Some(&audit) };
    let saved = store::insert(&txn, state.settings.timezone, &fresh, &event, stamp).await?;
    txn.commit().await?;
    // The change is in the outbox: its subscribers hear of it now, not at the next poll.
    state.announcements.wake_dispatcher();
    Ok(saved)
}

fn feedback_code() -> String {
    let mut rng = rand::rng();
    (0..10).map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())])).collect()
}

/// Loads an appeal the caller may see, or `NOT_FOUND` (never `FORBIDDEN`, so ids cannot be probed).
pub async fn load_visible(conn: &impl ConnectionTrait, scope: &AppealScope, id: AppealId) -> AppResult<Appeal> {
    store::load_visible(conn, scope, id).await
}

/// What `step` needs from the database, looked up in the write transaction.
async fn look_up(txn: &DatabaseTransaction, scope: &AppealScope, a: &Appeal, step: &Step) -> AppResult<Lookups> {
    let mut found = Lookups::default();
    match step {
        Step::Update(ch) => {
            let refs = super::reference::Refs {
                category_id: ch.category_id.map(|c| c.0),
                territory_id: ch.territory_id.map(|t| t.0),
                ..Default::default()
            };
            super::reference::check_refs(txn, &mut found.reference_errors, refs).await?;
        }
        Step::Assign { recipient_id, .. } => {
            found.recipient = recipient::Entity::find_by_id(recipient_id.0)
                .one(txn)
                .await?
                .map(|r| RecipientStanding { active: r.active, external: r.external });
        }
        Step::MarkDuplicate { original_id } if *original_id != a.id => {
            found.original = store::load_visible(txn, scope, *original_id)
                .await
                .ok()
                .map(|o| Original { id: o.id, duplicate_of_id: o.duplicate_of_id });
        }
        Step::Answer { .. } => found.feedback_code = Some(feedback_code()),
        _ => {}
    }
    Ok(found)
}

/// The appeal with this registration number if the caller may see it, or `NOT_FOUND`.
pub async fn by_number(conn: &impl ConnectionTrait, scope: &AppealScope, number: &str) -> AppResult<Appeal> {
    store::by_number(conn, scope, number).await
}

/// Applies one lifecycle step to an appeal of the given version, as `caller` whose scope is
/// `scope` ([`AppealScope::of`], computed once per request).
///
/// # Errors
/// `NOT_FOUND` when the caller cannot see it, `FORBIDDEN` when it may see but not do this,
/// `CONFLICT` on a stale version, `BAD_USER_INPUT` for a transition not allowed from the
/// current status (naming both) or invalid input.
pub async fn apply(
    state: &AppState,
    caller: &Caller,
    scope: &AppealScope,
    id: AppealId,
    version: i32,
    step: Step,
) -> AppResult<Appeal> {
    let now = state.clock.now();
    let terms = Terms::load(state, &state.db).await?;
    let txn = crate::db::begin_write(&state.writer).await?;
    let a = store::load_visible(&txn, scope, id).await?;
    let allowed = if step.needs_routing_rights() { scope.routes(&a) } else { scope.answers(&a) };
    if !allowed {
        return Err(AppError::Forbidden(format!("you may not {} this appeal", step.name())));
    }
    if a.version != version {
        return Err(AppError::stale("the appeal"));
    }
    if matches!(step, Step::Reopen { .. }) && a.anonymised_at.is_some() {
        return Err(AppError::Conflict(reopening_refused(&a.number)));
    }
    let found = look_up(&txn, scope, &a, &step).await?;
    let change = effects(&step, &a, &found, &terms, now).map_err(AppError::BadInput)?;
    let actor = caller.principal.label();
    let audit = audit::actor(caller);
    let stamp = Stamp { at: now, actor: &actor, audit: Some(&audit) };
    let updated = store::save_change(&txn, state.settings.timezone, &a, change, stamp).await?;
    txn.commit().await?;
    // The change is in the outbox: its subscribers hear of it now, not at the next poll.
    state.announcements.wake_dispatcher();
    Ok(updated)
}

/// A satisfaction rating: 4 and 5 mean satisfied.
fn check_score(path: &str, score: i32) -> AppResult<()> {
    if (1..=5).contains(&score) { Ok(()) } else { Err(AppError::bad(path, "must be between 1 and 5")) }
}

/// Records a rating (`Step::Rate`) and what follows from it on its own, in `txn`.
async fn rate(
    txn: &DatabaseTransaction,
    state: &AppState,
    a: &Appeal,
    step: &Step,
    (actor, audit): (&str, &Actor),
) -> AppResult<Appeal> {
    let now = state.clock.now();
    let terms = Terms::load(state, txn).await?;
    let change = effects(step, a, &Lookups::default(), &terms, now).map_err(AppError::BadInput)?;
    let satisfied = change.next.satisfied.unwrap_or(true);
    // A dissatisfied rating that would reopen an anonymised appeal is refused as a whole.
    if a.anonymised_at.is_some() && after_rating(&change.next, satisfied).is_some() {
        return Err(AppError::Conflict(reopening_refused(&a.number)));
    }
    let stamp = Stamp { at: now, actor, audit: Some(audit) };
    let rated = store::save_change(txn, state.settings.timezone, a, change, stamp).await?;
    let Some(follow) = after_rating(&rated, satisfied) else { return Ok(rated) };
    let change = effects(&follow, &rated, &Lookups::default(), &terms, now).map_err(AppError::BadInput)?;
    // The rating's audit entry covers the reopening it causes.
    let stamp = Stamp { at: now, actor: "system", audit: None };
    store::save_change(txn, state.settings.timezone, &rated, change, stamp).await
}

/// Staff record the author's rating (e.g. from ПОС data).
pub async fn record_feedback(
    state: &AppState,
    caller: &Caller,
    scope: &AppealScope,
    id: AppealId,
    score: i32,
    satisfied: bool,
    comment: Option<String>,
) -> AppResult<Appeal> {
    check_score("input.score", score)?;
    let txn = crate::db::begin_write(&state.writer).await?;
    let a = store::load_visible(&txn, scope, id).await?;
    if !scope.routes(&a) {
        return Err(AppError::Forbidden("you may not record feedback on this appeal".into()));
    }
    let step = Step::Rate { score, satisfied, comment, by_author: false };
    let updated = rate(&txn, state, &a, &step, (&caller.principal.label(), &audit::actor(caller))).await?;
    txn.commit().await?;
    // The change is in the outbox: its subscribers hear of it now, not at the next poll.
    state.announcements.wake_dispatcher();
    Ok(updated)
}

/// Counts an attempt of a public operation and refuses when the client made too many.
///
/// The count and the attempt's row are written in one transaction that holds the key's lock
/// ([`crate::db::lock_key`]), so concurrent attempts are counted one after another and at most
/// `limit` get through within `window`, however many arrive at once. A client already over the
/// limit is refused after a read, without queueing for the writer.
///
/// # Errors
/// `RATE_LIMITED` past `limit` attempts within `window`.
pub async fn rate_limit(state: &AppState, bucket: &str, key: &str, limit: u64, window: Duration) -> AppResult<()> {
    let now = state.clock.now();
    let refused = || AppError::RateLimited("too many attempts; try again later".into());
    if recent_attempts(&state.db, bucket, key, now - window).await? >= limit {
        return Err(refused());
    }
    let txn = crate::db::begin_write(&state.writer).await?;
    crate::db::lock_key(&txn, &format!("rate:{bucket}:{key}")).await?;
    if recent_attempts(&txn, bucket, key, now - window).await? >= limit {
        return Err(refused());
    }
    rate_event::Entity::delete_many()
        .filter(rate_event::Column::Bucket.eq(bucket))
        .filter(rate_event::Column::At.lt(now - window))
        .exec(&txn)
        .await?;
    rate_event::ActiveModel {
        bucket: Set(bucket.to_string()),
        key: Set(key.to_string()),
        at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    // The change is in the outbox: its subscribers hear of it now, not at the next poll.
    state.announcements.wake_dispatcher();
    Ok(())
}

async fn recent_attempts(
    conn: &impl ConnectionTrait,
    bucket: &str,
    key: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> AppResult<u64> {
    Ok(rate_event::Entity::find()
        .filter(rate_event::Column::Bucket.eq(bucket))
        .filter(rate_event::Column::Key.eq(key))
        .filter(rate_event::Column::At.gt(since))
        .count(conn)
        .await?)
}

/// The author rates the answer with the one-time code given with it.
///
/// # Errors
/// `RATE_LIMITED` past the per-client limit; `BAD_USER_INPUT` for an unknown, used or
/// expired code (one message for all three) or a score outside 1–5.
pub async fn submit_feedback(
    state: &AppState,
    caller: &Caller,
    code: &str,
    score: i32,
    comment: Option<String>,
) -> AppResult<bool> {
    let key = caller.ip.clone().unwrap_or_else(|| "unknown".into());
    rate_limit(state, "feedback", &key, state.settings.feedback_rate_limit, Duration::minutes(10)).await?;
    check_score("score", score)?;
    if comment.as_ref().is_some_and(|c| c.chars().count() > 2000) {
        return Err(AppError::bad("comment", "must be at most 2000 characters"));
    }
    let code = code.trim().to_uppercase();
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let found = if code.is_empty() { None } else { store::by_feedback_code(&txn, &code).await? };
    let Some(a) = found.filter(|a| a.feedback_expires_at.is_some_and(|e| e > now)) else {
        return Err(AppError::bad("code", "unknown, used or expired code"));
    };
    let step = Step::Rate { score, satisfied: score >= 4, comment, by_author: true };
    rate(&txn, state, &a, &step, ("author", &audit::actor(caller))).await?;
    txn.commit().await?;
    // The change is in the outbox: its subscribers hear of it now, not at the next poll.
    state.announcements.wake_dispatcher();
    Ok(true)
}
