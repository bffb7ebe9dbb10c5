//! The appeal lifecycle: creation, changes, transitions with their deadlines, answers,
//! assessment, feedback (staff and the author's one-time code), reopening, duplicates.
//!
//! Every change runs in one write transaction that checks the version, applies the
//! transition from `domain::lifecycle`, writes the event and the audit entry.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, Set,
};

use super::deadlines::Terms;
use super::scope::AppealScope;
use super::{Caller, audit};
use crate::domain::access::{Channel, Principal};
pub use crate::domain::appeal::{AppealId, MAX_TEXT, RecipientId, search_text};
use crate::domain::appeal::{check_coords, check_text, is_anonymous, trimmed};
use crate::domain::deadlines::AppealKind;
use crate::domain::lifecycle::{AppealAction, AppealStatus, transition};
use crate::domain::quality::{Completeness, NoAnswerReason, no_answer_allowed};
use crate::entity::{rate_event, recipient};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::appeals::{self as store, Appeal, Event, FreshAppeal, Stamp, Visibility};
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
    pub category_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub summary: Option<String>,
    pub high_priority: bool,
}

/// Changes to an appeal's content; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AppealChanges {
    pub text: Option<String>,
    pub summary: Option<String>,
    pub category_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// A step of the lifecycle with its input.
#[derive(Debug, Clone)]
pub enum Step {
    Update(AppealChanges),
    Register { comment: Option<String> },
    Assign { recipient_id: RecipientId, comment: Option<String> },
    Redirect { external_body: String, comment: Option<String> },
    StartWork { comment: Option<String> },
    Extend { days: i32, reason: String },
    Answer { text: String },
    Assess { completeness: Completeness, comment: Option<String> },
    LeaveWithoutAnswer { reason: NoAnswerReason, comment: Option<String> },
    Reopen { reason: String },
    MarkDuplicate { original_id: AppealId },
    Close { comment: Option<String> },
}

impl Step {
    fn action(&self) -> AppealAction {
        match self {
            Self::Update(_) => AppealAction::Update,
            Self::Register { .. } => AppealAction::Register,
            Self::Assign { .. } => AppealAction::Assign,
            Self::Redirect { .. } => AppealAction::Redirect,
            Self::StartWork { .. } => AppealAction::StartWork,
            Self::Extend { .. } => AppealAction::Extend,
            Self::Answer { .. } => AppealAction::Answer,
            Self::Assess { .. } => AppealAction::Assess,
            Self::LeaveWithoutAnswer { .. } => AppealAction::LeaveWithoutAnswer,
            Self::Reopen { .. } => AppealAction::Reopen,
            Self::MarkDuplicate { .. } => AppealAction::MarkDuplicate,
            Self::Close { .. } => AppealAction::Close,
        }
    }

    /// The mutation's name, used as the event's and the audit entry's action.
    fn name(&self) -> &'static str {
        match self {
            Self::Update(_) => "updateAppeal",
            Self::Register { .. } => "registerAppeal",
            Self::Assign { .. } => "assignAppeal",
            Self::Redirect { .. } => "redirectAppeal",
            Self::StartWork { .. } => "startWork",
            Self::Extend { .. } => "extendDeadline",
            Self::Answer { .. } => "answerAppeal",
            Self::Assess { .. } => "assessAnswer",
            Self::LeaveWithoutAnswer { .. } => "leaveWithoutAnswer",
            Self::Reopen { .. } => "reopenAppeal",
            Self::MarkDuplicate { .. } => "markDuplicate",
            Self::Close { .. } => "closeAppeal",
        }
    }

    /// Only answering and starting work are open to executors; everything else is routing.
    fn needs_routing_rights(&self) -> bool {
        !matches!(self, Self::StartWork { .. } | Self::Answer { .. })
    }
}

impl Visibility for AppealScope {
    fn sees(&self, a: &Appeal) -> bool {
        AppealScope::sees(self, a)
    }
}

/// Creates an appeal: validates, numbers it, computes its first deadline, records history.
///
/// # Errors
/// `BAD_USER_INPUT` naming every invalid field, `FORBIDDEN` for a channel the caller does not
/// coordinate, `CONFLICT` for an external id already used in the channel.
pub async fn create(state: &AppState, caller: &Caller, new: NewAppeal) -> AppResult<Appeal> {
    let scope = AppealScope::of(&state.db, &caller.principal).await?;
    let now = state.clock.now();
    let mut errors = Vec::new();
    let kind = new.kind.unwrap_or(AppealKind::Appeal);
    let channel = new.channel.unwrap_or(Channel::Other);
    check_text(&mut errors, "input.text", &new.text);
    check_coords(&mut errors, new.latitude, new.longitude);
    let received_at = new.received_at.unwrap_or(now);
    if received_at > now + Duration::minutes(5) {
        errors.push(crate::error::FieldError {
            path: "input.receivedAt".into(),
            message: "must not be in the future".into(),
        });
    }
    super::reference::check_refs(
        &state.db,
        &mut errors,
        super::reference::Refs { category_id: new.category_id, territory_id: new.territory_id, ..Default::default() },
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
            .map(|(id, _)| id),
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
        duplicate_of_id: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    // Before the insert, so the new appeal cannot find itself.
    let everything = AppealScope::for_token_reading_all();
    let likely =
        super::duplicates::find(&txn, &everything, &fresh, super::duplicates::DuplicateRules::default()).await?;
    let likely: Vec<i64> = likely.iter().take(5).map(|m| m.appeal.id).collect();
    let event = Event {
        action: "createAppeal",
        from: None,
        to: Some(AppealStatus::Received),
        comment: (!likely.is_empty()).then(|| "possible duplicates found".to_string()),
        data: Some(serde_json::json!({ "dueAt": due, "possibleDuplicates": likely, "suggestedCategoryId": suggested })),
    };
    let actor = caller.principal.label();
    let audit = audit::actor(caller);
    let stamp = Stamp { at: now, actor: &actor, audit: Some(&audit) };
    let saved = store::insert(&txn, state.settings.timezone, &fresh, &event, stamp).await?;
    txn.commit().await?;
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

/// Applies one lifecycle step to an appeal of the given version.
///
/// # Errors
/// `NOT_FOUND` when the caller cannot see it, `FORBIDDEN` when it may see but not do this,
/// `CONFLICT` on a stale version, `BAD_USER_INPUT` for a transition not allowed from the
/// current status (naming both) or invalid input.
pub async fn apply(state: &AppState, caller: &Caller, id: AppealId, version: i32, step: Step) -> AppResult<Appeal> {
    let scope = AppealScope::of(&state.db, &caller.principal).await?;
    let now = state.clock.now();
    let terms = Terms::load(state, &state.db).await?;
    let txn = crate::db::begin_write(&state.writer).await?;
    let a = store::load_visible(&txn, &scope, id).await?;
    let allowed = if step.needs_routing_rights() { scope.routes(&a) } else { scope.answers(&a) };
    if !allowed {
        return Err(AppError::Forbidden(format!("you may not {} this appeal", step.name())));
    }
    if a.version != version {
        return Err(AppError::stale("the appeal"));
    }
    let from = a.status;
    let to = transition(from, step.action()).map_err(|e| {
        AppError::bad("input.id", format!("cannot {} an appeal in status {}", step.name(), e.from.as_str()))
    })?;
    let kind = a.kind;
    let mut next = a.clone();
    let mut comment: Option<String> = None;
    let mut data = serde_json::Map::new();
    let set_term = |next: &mut Appeal, start: DateTime<Utc>, due: DateTime<Utc>| {
        let (started, soon) = terms.window(start, due);
        next.sla_started_at = started;
        next.due_soon_at = soon;
        next.due_at = due;
    };
    match step.clone() {
        Step::Update(ch) => {
            let mut errors = Vec::new();
            if let Some(t) = &ch.text {
                check_text(&mut errors, "input.text", t);
            }
            check_coords(&mut errors, ch.latitude.or(a.latitude), ch.longitude.or(a.longitude));
            super::reference::check_refs(
                &txn,
                &mut errors,
                super::reference::Refs {
                    category_id: ch.category_id,
                    territory_id: ch.territory_id,
                    ..Default::default()
                },
            )
            .await?;
            if !errors.is_empty() {
                return Err(AppError::BadInput(errors));
            }
            let mut changed = Vec::new();
            if let Some(t) = ch.text {
                next.text = t.trim().to_string();
                changed.push("text");
            }
            if let Some(s) = ch.summary {
                next.summary = trimmed(Some(s));
                changed.push("summary");
            }
            if let Some(c) = ch.category_id {
                next.category_id = Some(c);
                changed.push("categoryId");
            }
            if let Some(t) = ch.territory_id {
                next.territory_id = Some(t);
                changed.push("territoryId");
            }
            if let Some(addr) = ch.address {
                next.address = trimmed(Some(addr));
                changed.push("address");
            }
            if ch.latitude.is_some() {
                next.latitude = ch.latitude;
                next.longitude = ch.longitude.or(a.longitude);
                changed.push("coordinates");
            }
            next.search_text = search_text(&next.text, next.summary.as_deref(), next.address.as_deref());
            data.insert("changed".into(), serde_json::json!(changed));
        }
        Step::Register { comment: c } => {
            comment = trimmed(c);
            next.registered_at = Some(now);
            data.insert("registrationDue".into(), serde_json::json!(a.due_at));
            data.insert("registeredLate".into(), serde_json::json!(kind == AppealKind::Appeal && now > a.due_at));
            if kind == AppealKind::Appeal {
                let due = terms.answer_after_registration(now);
                set_term(&mut next, now, due);
                data.insert("dueAt".into(), serde_json::json!(due));
            }
        }
        Step::Assign { recipient_id, comment: c } => {
            comment = trimmed(c);
            let Some(r) = recipient::Entity::find_by_id(recipient_id.0).one(&txn).await? else {
                return Err(AppError::bad("input.recipientId", "no such recipient"));
            };
            if !r.active {
                return Err(AppError::bad("input.recipientId", "the recipient is not active"));
            }
            if r.external {
                return Err(AppError::bad(
                    "input.recipientId",
                    "an external body cannot be assigned; redirect the appeal to it instead",
                ));
            }
            next.recipient_id = Some(recipient_id);
            data.insert("recipientId".into(), serde_json::json!(recipient_id));
            data.insert("previousRecipientId".into(), serde_json::json!(a.recipient_id));
        }
        Step::Redirect { external_body, comment: c } => {
            comment = trimmed(c);
            let body = external_body.trim().to_string();
            if body.is_empty() {
                return Err(AppError::bad("input.externalBody", "must not be empty"));
            }
            next.redirected_to = Some(body.clone());
            next.resolved_at = Some(now);
            if kind == AppealKind::Appeal {
                let registered = a.registered_at.unwrap_or(a.received_at);
                let redirect_due = terms.redirect_due(registered);
                data.insert("redirectDue".into(), serde_json::json!(redirect_due));
                data.insert("redirectedLate".into(), serde_json::json!(now > redirect_due));
                set_term(&mut next, a.sla_started_at, redirect_due);
            }
            data.insert("externalBody".into(), serde_json::json!(body));
        }
        Step::StartWork { comment: c } => {
            comment = trimmed(c);
            if a.recipient_id.is_none() {
                return Err(AppError::bad("input.id", "the appeal has no recipient"));
            }
            if kind == AppealKind::Incident && a.reacted_at.is_none() {
                next.reacted_at = Some(now);
                data.insert("reactionDue".into(), serde_json::json!(a.due_at));
                data.insert("reactedLate".into(), serde_json::json!(now > a.due_at));
                let due = terms.incident_final(now);
                set_term(&mut next, now, due);
                data.insert("dueAt".into(), serde_json::json!(due));
            }
        }
        Step::Extend { days, reason } => {
            let due = terms.extend(kind, a.due_at, days, a.extension_count, &reason)?;
            next.extension_count = a.extension_count + 1;
            set_term(&mut next, a.sla_started_at, due);
            comment = Some(reason.trim().to_string());
            data.insert("days".into(), serde_json::json!(days));
            data.insert("previousDueAt".into(), serde_json::json!(a.due_at));
            data.insert("dueAt".into(), serde_json::json!(due));
        }
        Step::Answer { text } => {
            let mut errors = Vec::new();
            check_text(&mut errors, "input.text", &text);
            if !errors.is_empty() {
                return Err(AppError::BadInput(errors));
            }
            next.answer_text = Some(text.trim().to_string());
            next.answered_at = Some(now);
            next.resolved_at = Some(now);
            if kind == AppealKind::Incident && a.reacted_at.is_none() {
                next.reacted_at = Some(now);
            }
            next.completeness = None;
            next.feedback_code = Some(feedback_code());
            next.feedback_expires_at = Some(now + terms.feedback_validity());
            data.insert("onTime".into(), serde_json::json!(now <= a.due_at));
        }
        Step::Assess { completeness, comment: c } => {
            comment = trimmed(c);
            next.completeness = Some(completeness);
            data.insert("completeness".into(), serde_json::json!(completeness.as_str()));
        }
        Step::LeaveWithoutAnswer { reason, comment: c } => {
            comment = trimmed(c);
            if !no_answer_allowed(reason, a.author_name.as_deref(), a.author_contact.as_deref()) {
                return Err(AppError::bad(
                    "input.reason",
                    "ANONYMOUS applies only when the author's name or address is missing",
                ));
            }
            next.no_answer_reason = Some(reason);
            next.resolved_at = Some(now);
            data.insert("reason".into(), serde_json::json!(reason.as_str()));
        }
        Step::Reopen { reason } => {
            let reason = reason.trim().to_string();
            if reason.is_empty() {
                return Err(AppError::bad("input.reason", "must not be empty"));
            }
            comment = Some(reason);
            reopen_fields(&mut next, &a, &terms, now, &mut data);
        }
        Step::MarkDuplicate { original_id } => {
            if original_id == a.id {
                return Err(AppError::bad("input.originalId", "an appeal cannot duplicate itself"));
            }
            let original = store::load_visible(&txn, &scope, original_id)
                .await
                .map_err(|_| AppError::bad("input.originalId", "no such appeal"))?;
            // Link to the root of the cluster so analytics count it once.
            let root = original.duplicate_of_id.unwrap_or(original.id);
            if root == a.id {
                return Err(AppError::bad("input.originalId", "that appeal is itself a duplicate of this one"));
            }
            next.duplicate_of_id = Some(root);
            next.resolved_at = Some(now);
            data.insert("originalId".into(), serde_json::json!(root));
        }
        Step::Close { comment: c } => {
            comment = trimmed(c);
        }
    }
    next.status = to;
    let event = Event { action: step.name(), from: Some(from), to: Some(to), comment, data: Some(data.into()) };
    let actor = caller.principal.label();
    let audit = audit::actor(caller);
    let stamp = Stamp { at: now, actor: &actor, audit: Some(&audit) };
    let updated = store::save_change(&txn, state.settings.timezone, &a, next, &event, stamp).await?;
    txn.commit().await?;
    Ok(updated)
}

fn reopen_fields(
    next: &mut Appeal,
    a: &Appeal,
    terms: &Terms,
    now: DateTime<Utc>,
    data: &mut serde_json::Map<String, serde_json::Value>,
) {
    let due = terms.reopen_due(a.kind, now);
    let (started, soon) = terms.window(now, due);
    next.sla_started_at = started;
    next.due_soon_at = soon;
    next.due_at = due;
    next.reopen_count = a.reopen_count + 1;
    next.resolved_at = None;
    next.answered_at = None;
    next.answer_text = None;
    next.completeness = None;
    next.no_answer_reason = None;
    next.feedback_code = None;
    next.feedback_expires_at = None;
    data.insert("previousAnswer".into(), serde_json::json!(a.answer_text));
    data.insert("previousAnsweredAt".into(), serde_json::json!(a.answered_at));
    data.insert("dueAt".into(), serde_json::json!(due));
}

/// A satisfaction rating: 4 and 5 mean satisfied.
fn check_score(path: &str, score: i32) -> AppResult<()> {
    if (1..=5).contains(&score) { Ok(()) } else { Err(AppError::bad(path, "must be between 1 and 5")) }
}

/// A rating of an answer.
struct Rating {
    score: i32,
    satisfied: bool,
    comment: Option<String>,
}

async fn apply_feedback(
    txn: &DatabaseTransaction,
    state: &AppState,
    a: Appeal,
    (actor, action, audit): (&str, &'static str, &Actor),
    Rating { score, satisfied, comment }: Rating,
) -> AppResult<Appeal> {
    let now = state.clock.now();
    let from = a.status;
    let to = transition(from, AppealAction::RecordFeedback).map_err(|e| {
        AppError::bad("input.id", format!("cannot record feedback on an appeal in status {}", e.from.as_str()))
    })?;
    let mut next = a.clone();
    next.satisfaction_score = Some(score);
    next.satisfied = Some(satisfied);
    next.feedback_code = None;
    next.feedback_expires_at = None;
    next.status = to;
    let event = Event {
        action,
        from: Some(from),
        to: Some(to),
        comment: trimmed(comment),
        data: Some(serde_json::json!({ "score": score, "satisfied": satisfied })),
    };
    let stamp = Stamp { at: now, actor, audit: Some(audit) };
    let updated = store::save_change(txn, state.settings.timezone, &a, next, &event, stamp).await?;
    // A dissatisfied author of a ПОС-style message gets a repeated review automatically.
    if updated.kind == AppealKind::Message && !satisfied {
        let terms = Terms::load(state, txn).await?;
        let reopen_to = transition(to, AppealAction::Reopen).map_err(|e| AppError::internal(format!("{e:?}")))?;
        let mut next = updated.clone();
        let mut data = serde_json::Map::new();
        reopen_fields(&mut next, &updated, &terms, now, &mut data);
        next.status = reopen_to;
        let event = Event {
            action: "reopenAppeal",
            from: Some(to),
            to: Some(reopen_to),
            comment: Some("the author is not satisfied with the answer".into()),
            data: Some(data.into()),
        };
        // The feedback's audit entry covers the reopening it causes.
        let stamp = Stamp { at: now, actor: "system", audit: None };
        return store::save_change(txn, state.settings.timezone, &updated, next, &event, stamp).await;
    }
    Ok(updated)
}

/// Staff record the author's rating (e.g. from ПОС data).
pub async fn record_feedback(
    state: &AppState,
    caller: &Caller,
    id: AppealId,
    score: i32,
    satisfied: bool,
    comment: Option<String>,
) -> AppResult<Appeal> {
    check_score("input.score", score)?;
    let scope = AppealScope::of(&state.db, &caller.principal).await?;
    let txn = crate::db::begin_write(&state.writer).await?;
    let a = store::load_visible(&txn, &scope, id).await?;
    if !scope.routes(&a) {
        return Err(AppError::Forbidden("you may not record feedback on this appeal".into()));
    }
    let audit = audit::actor(caller);
    let updated = apply_feedback(
        &txn,
        state,
        a,
        (&caller.principal.label(), "recordFeedback", &audit),
        Rating { score, satisfied, comment },
    )
    .await?;
    txn.commit().await?;
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
    let audit = audit::actor(caller);
    apply_feedback(
        &txn,
        state,
        a,
        ("author", "submitFeedback", &audit),
        Rating { score, satisfied: score >= 4, comment },
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}
