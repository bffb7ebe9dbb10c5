//! The appeal lifecycle: creation, changes, transitions with their deadlines, answers,
//! assessment, feedback (staff and the author's one-time code), reopening, duplicates.
//!
//! Every change runs in one write transaction that checks the version, applies the
//! transition from `domain::lifecycle`, writes the event and the audit entry.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, Set,
};

use super::deadlines::Terms;
use super::rollup::Facts;
use super::scope::AppealScope;
use super::{Caller, audit};
use crate::domain::access::{Channel, Principal};
use crate::domain::deadlines::AppealKind;
use crate::domain::lifecycle::{AppealAction, AppealStatus, transition};
use crate::domain::quality::{Completeness, NoAnswerReason, no_answer_allowed};
use crate::entity::{appeal, appeal_counter, appeal_event, rate_event, recipient};
use crate::error::{AppError, AppResult, FieldError};
use crate::state::AppState;

/// Longest accepted appeal text.
pub const MAX_TEXT: usize = 20_000;
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
    Assign { recipient_id: i64, comment: Option<String> },
    Redirect { external_body: String, comment: Option<String> },
    StartWork { comment: Option<String> },
    Extend { days: i32, reason: String },
    Answer { text: String },
    Assess { completeness: Completeness, comment: Option<String> },
    LeaveWithoutAnswer { reason: NoAnswerReason, comment: Option<String> },
    Reopen { reason: String },
    MarkDuplicate { original_id: i64 },
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

fn trimmed(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn kind_of(a: &appeal::Model) -> AppResult<AppealKind> {
    a.kind.parse().map_err(AppError::internal)
}

fn status_of(a: &appeal::Model) -> AppResult<AppealStatus> {
    a.status.parse().map_err(AppError::internal)
}

/// Text normalised for search: stems of the text, summary and address.
pub fn search_text(text: &str, summary: Option<&str>, address: Option<&str>) -> String {
    let all = format!("{text} {} {}", summary.unwrap_or_default(), address.unwrap_or_default());
    crate::domain::text::normalize_for_search(&all)
}

fn check_coords(errors: &mut Vec<FieldError>, lat: Option<f64>, lon: Option<f64>) {
    if lat.is_some_and(|v| !(-90.0..=90.0).contains(&v)) {
        errors.push(FieldError { path: "input.latitude".into(), message: "must be between -90 and 90".into() });
    }
    if lon.is_some_and(|v| !(-180.0..=180.0).contains(&v)) {
        errors.push(FieldError { path: "input.longitude".into(), message: "must be between -180 and 180".into() });
    }
    if lat.is_some() != lon.is_some() {
        errors.push(FieldError { path: "input.longitude".into(), message: "give both latitude and longitude".into() });
    }
}

fn check_text(errors: &mut Vec<FieldError>, path: &str, text: &str) {
    if text.trim().is_empty() {
        errors.push(FieldError { path: path.into(), message: "must not be empty".into() });
    } else if text.chars().count() > MAX_TEXT {
        errors.push(FieldError { path: path.into(), message: format!("must be at most {MAX_TEXT} characters") });
    }
}

/// Reserves `n` consecutive registration numbers of `year` and returns the first.
/// Runs inside the caller's transaction, so a rollback gives the numbers back (no gaps).
pub async fn reserve_numbers(txn: &DatabaseTransaction, year: i32, n: i64) -> AppResult<i64> {
    appeal_counter::Entity::insert(appeal_counter::ActiveModel { year: Set(year), last: Set(0) })
        .on_conflict(OnConflict::column(appeal_counter::Column::Year).do_nothing().to_owned())
        .exec_without_returning(txn)
        .await?;
    appeal_counter::Entity::update_many()
        .col_expr(appeal_counter::Column::Last, Expr::col(appeal_counter::Column::Last).add(n))
        .filter(appeal_counter::Column::Year.eq(year))
        .exec(txn)
        .await?;
    let row = appeal_counter::Entity::find_by_id(year)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::internal("the number counter vanished"))?;
    Ok(row.last - n + 1)
}

/// The registration number `2026-000123`.
pub fn format_number(year: i32, seq: i64) -> String {
    format!("{year}-{seq:06}")
}

/// One history entry of an appeal.
pub struct NewEvent<'a> {
    pub appeal_id: i64,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub from: Option<AppealStatus>,
    pub to: Option<AppealStatus>,
    pub comment: Option<String>,
    pub data: Option<serde_json::Value>,
}

/// Writes one history entry.
pub async fn add_event(conn: &impl ConnectionTrait, e: NewEvent<'_>) -> AppResult<()> {
    appeal_event::ActiveModel {
        appeal_id: Set(e.appeal_id),
        at: Set(e.at),
        actor: Set(e.actor.to_string()),
        action: Set(e.action.to_string()),
        from_status: Set(e.from.map(|s| s.as_str().to_string())),
        to_status: Set(e.to.map(|s| s.as_str().to_string())),
        comment: Set(e.comment),
        data: Set(e.data.map(|d| d.to_string())),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Creates an appeal: validates, numbers it, computes its first deadline, records history.
///
/// # Errors
/// `BAD_USER_INPUT` naming every invalid field, `FORBIDDEN` for a channel the caller does not
/// coordinate, `CONFLICT` for an external id already used in the channel.
pub async fn create(state: &AppState, caller: &Caller, new: NewAppeal) -> AppResult<appeal::Model> {
    let scope = AppealScope::of(&state.db, &caller.principal).await?;
    let now = state.clock.now();
    let mut errors = Vec::new();
    let kind = new.kind.unwrap_or(AppealKind::Appeal);
    let channel = new.channel.unwrap_or(Channel::Other);
    check_text(&mut errors, "input.text", &new.text);
    check_coords(&mut errors, new.latitude, new.longitude);
    let received_at = new.received_at.unwrap_or(now);
    if received_at > now + Duration::minutes(5) {
        errors.push(FieldError { path: "input.receivedAt".into(), message: "must not be in the future".into() });
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
        && appeal::Entity::find()
            .filter(appeal::Column::Channel.eq(channel.as_str()))
            .filter(appeal::Column::ExternalId.eq(ext.as_str()))
            .one(&txn)
            .await?
            .is_some()
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
    let seq = reserve_numbers(&txn, year, 1).await?;
    let model = appeal::ActiveModel {
        number: Set(format_number(year, seq)),
        kind: Set(kind.as_str().to_string()),
        channel: Set(channel.as_str().to_string()),
        external_id: Set(external_id),
        status: Set(AppealStatus::Received.as_str().to_string()),
        received_at: Set(received_at),
        registered_at: Set(None),
        anonymous: Set(author_name.is_none() || author_contact.is_none()),
        author_name: Set(author_name),
        author_contact: Set(author_contact),
        search_text: Set(search_text(&new.text, summary.as_deref(), address.as_deref())),
        text: Set(new.text.trim().to_string()),
        summary: Set(summary),
        category_id: Set(new.category_id),
        suggested_category_id: Set(suggested),
        territory_id: Set(new.territory_id),
        address: Set(address),
        latitude: Set(new.latitude),
        longitude: Set(new.longitude),
        recipient_id: Set(None),
        redirected_to: Set(None),
        high_priority: Set(new.high_priority),
        sla_started_at: Set(started),
        due_soon_at: Set(due_soon),
        due_at: Set(due),
        extension_count: Set(0),
        reacted_at: Set(None),
        resolved_at: Set(None),
        answered_at: Set(None),
        answer_text: Set(None),
        completeness: Set(None),
        no_answer_reason: Set(None),
        satisfaction_score: Set(None),
        satisfied: Set(None),
        feedback_code: Set(None),
        feedback_expires_at: Set(None),
        reopen_count: Set(0),
        duplicate_of_id: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    super::rollup::record(&txn, state.settings.timezone, None, Some(&Facts::from(&model))).await?;
    let actor = caller.principal.label();
    let everything = AppealScope::for_token_reading_all();
    let likely =
        super::duplicates::find(&txn, &everything, &model, super::duplicates::DuplicateRules::default()).await?;
    let likely: Vec<i64> = likely.iter().take(5).map(|m| m.appeal.id).collect();
    let event = NewEvent {
        appeal_id: model.id,
        at: now,
        actor: &actor,
        action: "createAppeal",
        from: None,
        to: Some(AppealStatus::Received),
        comment: (!likely.is_empty()).then(|| "possible duplicates found".to_string()),
        data: Some(serde_json::json!({ "dueAt": due, "possibleDuplicates": likely, "suggestedCategoryId": suggested })),
    };
    add_event(&txn, event).await?;
    audit::record(&txn, caller, now, "createAppeal", Some(format!("appeal:{}", model.id)), None).await?;
    txn.commit().await?;
    Ok(model)
}

fn feedback_code() -> String {
    let mut rng = rand::rng();
    (0..10).map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())])).collect()
}

/// Loads an appeal the caller may see, or `NOT_FOUND` (never `FORBIDDEN`, so ids cannot be probed).
pub async fn load_visible(conn: &impl ConnectionTrait, scope: &AppealScope, id: i64) -> AppResult<appeal::Model> {
    appeal::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|a| scope.sees(a))
        .ok_or_else(|| AppError::NotFound("appeal".into()))
}

/// Applies one lifecycle step to an appeal of the given version.
///
/// # Errors
/// `NOT_FOUND` when the caller cannot see it, `FORBIDDEN` when it may see but not do this,
/// `CONFLICT` on a stale version, `BAD_USER_INPUT` for a transition not allowed from the
/// current status (naming both) or invalid input.
pub async fn apply(state: &AppState, caller: &Caller, id: i64, version: i32, step: Step) -> AppResult<appeal::Model> {
    let scope = AppealScope::of(&state.db, &caller.principal).await?;
    let now = state.clock.now();
    let terms = Terms::load(state, &state.db).await?;
    let txn = crate::db::begin_write(&state.writer).await?;
    let a = load_visible(&txn, &scope, id).await?;
    let allowed = if step.needs_routing_rights() { scope.routes(&a) } else { scope.answers(&a) };
    if !allowed {
        return Err(AppError::Forbidden(format!("you may not {} this appeal", step.name())));
    }
    if a.version != version {
        return Err(AppError::stale("the appeal"));
    }
    let from = status_of(&a)?;
    let to = transition(from, step.action()).map_err(|e| {
        AppError::bad("input.id", format!("cannot {} an appeal in status {}", step.name(), e.from.as_str()))
    })?;
    let kind = kind_of(&a)?;
    let mut am = a.clone().into_active_model();
    let mut comment: Option<String> = None;
    let mut data = serde_json::Map::new();
    let set_term = |am: &mut appeal::ActiveModel, start: DateTime<Utc>, due: DateTime<Utc>| {
        let (started, soon) = terms.window(start, due);
        am.sla_started_at = Set(started);
        am.due_soon_at = Set(soon);
        am.due_at = Set(due);
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
                am.text = Set(t.trim().to_string());
                changed.push("text");
            }
            if let Some(s) = ch.summary {
                am.summary = Set(trimmed(Some(s)));
                changed.push("summary");
            }
            if let Some(c) = ch.category_id {
                am.category_id = Set(Some(c));
                changed.push("categoryId");
            }
            if let Some(t) = ch.territory_id {
                am.territory_id = Set(Some(t));
                changed.push("territoryId");
            }
            if let Some(addr) = ch.address {
                am.address = Set(trimmed(Some(addr)));
                changed.push("address");
            }
            if ch.latitude.is_some() {
                am.latitude = Set(ch.latitude);
                am.longitude = Set(ch.longitude.or(a.longitude));
                changed.push("coordinates");
            }
            let text = match &am.text {
                sea_orm::ActiveValue::Set(t) | sea_orm::ActiveValue::Unchanged(t) => t.clone(),
                sea_orm::ActiveValue::NotSet => a.text.clone(),
            };
            let summary = match &am.summary {
                sea_orm::ActiveValue::Set(s) | sea_orm::ActiveValue::Unchanged(s) => s.clone(),
                sea_orm::ActiveValue::NotSet => a.summary.clone(),
            };
            let address = match &am.address {
                sea_orm::ActiveValue::Set(s) | sea_orm::ActiveValue::Unchanged(s) => s.clone(),
                sea_orm::ActiveValue::NotSet => a.address.clone(),
            };
            am.search_text = Set(search_text(&text, summary.as_deref(), address.as_deref()));
            data.insert("changed".into(), serde_json::json!(changed));
        }
        Step::Register { comment: c } => {
            comment = trimmed(c);
            am.registered_at = Set(Some(now));
            data.insert("registrationDue".into(), serde_json::json!(a.due_at));
            data.insert("registeredLate".into(), serde_json::json!(kind == AppealKind::Appeal && now > a.due_at));
            if kind == AppealKind::Appeal {
                let due = terms.answer_after_registration(now);
                set_term(&mut am, now, due);
                data.insert("dueAt".into(), serde_json::json!(due));
            }
        }
        Step::Assign { recipient_id, comment: c } => {
            comment = trimmed(c);
            let Some(r) = recipient::Entity::find_by_id(recipient_id).one(&txn).await? else {
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
            am.recipient_id = Set(Some(recipient_id));
            data.insert("recipientId".into(), serde_json::json!(recipient_id));
            data.insert("previousRecipientId".into(), serde_json::json!(a.recipient_id));
        }
        Step::Redirect { external_body, comment: c } => {
            comment = trimmed(c);
            let body = external_body.trim().to_string();
            if body.is_empty() {
                return Err(AppError::bad("input.externalBody", "must not be empty"));
            }
            am.redirected_to = Set(Some(body.clone()));
            am.resolved_at = Set(Some(now));
            if kind == AppealKind::Appeal {
                let registered = a.registered_at.unwrap_or(a.received_at);
                let redirect_due = terms.redirect_due(registered);
                data.insert("redirectDue".into(), serde_json::json!(redirect_due));
                data.insert("redirectedLate".into(), serde_json::json!(now > redirect_due));
                set_term(&mut am, a.sla_started_at, redirect_due);
            }
            data.insert("externalBody".into(), serde_json::json!(body));
        }
        Step::StartWork { comment: c } => {
            comment = trimmed(c);
            if a.recipient_id.is_none() {
                return Err(AppError::bad("input.id", "the appeal has no recipient"));
            }
            if kind == AppealKind::Incident && a.reacted_at.is_none() {
                am.reacted_at = Set(Some(now));
                data.insert("reactionDue".into(), serde_json::json!(a.due_at));
                data.insert("reactedLate".into(), serde_json::json!(now > a.due_at));
                let due = terms.incident_final(now);
                set_term(&mut am, now, due);
                data.insert("dueAt".into(), serde_json::json!(due));
            }
        }
        Step::Extend { days, reason } => {
            let due = terms.extend(kind, a.due_at, days, a.extension_count, &reason)?;
            am.extension_count = Set(a.extension_count + 1);
            set_term(&mut am, a.sla_started_at, due);
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
            am.answer_text = Set(Some(text.trim().to_string()));
            am.answered_at = Set(Some(now));
            am.resolved_at = Set(Some(now));
            if kind == AppealKind::Incident && a.reacted_at.is_none() {
                am.reacted_at = Set(Some(now));
            }
            am.completeness = Set(None);
            am.feedback_code = Set(Some(feedback_code()));
            am.feedback_expires_at = Set(Some(now + terms.feedback_validity()));
            data.insert("onTime".into(), serde_json::json!(now <= a.due_at));
        }
        Step::Assess { completeness, comment: c } => {
            comment = trimmed(c);
            am.completeness = Set(Some(completeness.as_str().to_string()));
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
            am.no_answer_reason = Set(Some(reason.as_str().to_string()));
            am.resolved_at = Set(Some(now));
            data.insert("reason".into(), serde_json::json!(reason.as_str()));
        }
        Step::Reopen { reason } => {
            let reason = reason.trim().to_string();
            if reason.is_empty() {
                return Err(AppError::bad("input.reason", "must not be empty"));
            }
            comment = Some(reason);
            reopen_fields(&mut am, &a, &terms, kind, now, &mut data);
        }
        Step::MarkDuplicate { original_id } => {
            if original_id == a.id {
                return Err(AppError::bad("input.originalId", "an appeal cannot duplicate itself"));
            }
            let original = load_visible(&txn, &scope, original_id)
                .await
                .map_err(|_| AppError::bad("input.originalId", "no such appeal"))?;
            // Link to the root of the cluster so analytics count it once.
            let root = original.duplicate_of_id.unwrap_or(original.id);
            if root == a.id {
                return Err(AppError::bad("input.originalId", "that appeal is itself a duplicate of this one"));
            }
            am.duplicate_of_id = Set(Some(root));
            am.resolved_at = Set(Some(now));
            data.insert("originalId".into(), serde_json::json!(root));
        }
        Step::Close { comment: c } => {
            comment = trimmed(c);
        }
    }
    am.status = Set(to.as_str().to_string());
    am.version = Set(a.version + 1);
    am.updated_at = Set(now);
    let updated = save(&txn, state.settings.timezone, &a, am).await?;
    let actor = caller.principal.label();
    let event = NewEvent {
        appeal_id: a.id,
        at: now,
        actor: &actor,
        action: step.name(),
        from: Some(from),
        to: Some(to),
        comment,
        data: Some(serde_json::Value::Object(data)),
    };
    add_event(&txn, event).await?;
    audit::record(&txn, caller, now, step.name(), Some(format!("appeal:{}", a.id)), None).await?;
    txn.commit().await?;
    Ok(updated)
}

fn reopen_fields(
    am: &mut appeal::ActiveModel,
    a: &appeal::Model,
    terms: &Terms,
    kind: AppealKind,
    now: DateTime<Utc>,
    data: &mut serde_json::Map<String, serde_json::Value>,
) {
    let due = terms.reopen_due(kind, now);
    let (started, soon) = terms.window(now, due);
    am.sla_started_at = Set(started);
    am.due_soon_at = Set(soon);
    am.due_at = Set(due);
    am.reopen_count = Set(a.reopen_count + 1);
    am.resolved_at = Set(None);
    am.answered_at = Set(None);
    am.answer_text = Set(None);
    am.completeness = Set(None);
    am.no_answer_reason = Set(None);
    am.feedback_code = Set(None);
    am.feedback_expires_at = Set(None);
    data.insert("previousAnswer".into(), serde_json::json!(a.answer_text));
    data.insert("previousAnsweredAt".into(), serde_json::json!(a.answered_at));
    data.insert("dueAt".into(), serde_json::json!(due));
}

/// Writes the changes if the row still has the version of `old` (one statement, so
/// concurrent writers cannot both win), reads the row back and records the change in the
/// analytics rollups.
async fn save(
    txn: &DatabaseTransaction,
    tz: chrono_tz::Tz,
    old: &appeal::Model,
    am: appeal::ActiveModel,
) -> AppResult<appeal::Model> {
    let res = appeal::Entity::update_many()
        .set(am)
        .filter(appeal::Column::Id.eq(old.id))
        .filter(appeal::Column::Version.eq(old.version))
        .exec(txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::stale("the appeal"));
    }
    let new = appeal::Entity::find_by_id(old.id).one(txn).await?.ok_or_else(|| AppError::NotFound("appeal".into()))?;
    super::rollup::record(txn, tz, Some(&Facts::from(old)), Some(&Facts::from(&new))).await?;
    Ok(new)
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
    a: appeal::Model,
    (actor, action): (&str, &str),
    Rating { score, satisfied, comment }: Rating,
) -> AppResult<appeal::Model> {
    let now = state.clock.now();
    let from = status_of(&a)?;
    let to = transition(from, AppealAction::RecordFeedback).map_err(|e| {
        AppError::bad("input.id", format!("cannot record feedback on an appeal in status {}", e.from.as_str()))
    })?;
    let kind = kind_of(&a)?;
    let mut am = a.clone().into_active_model();
    am.satisfaction_score = Set(Some(score));
    am.satisfied = Set(Some(satisfied));
    am.feedback_code = Set(None);
    am.feedback_expires_at = Set(None);
    am.status = Set(to.as_str().to_string());
    am.version = Set(a.version + 1);
    am.updated_at = Set(now);
    let updated = save(txn, state.settings.timezone, &a, am).await?;
    let event = NewEvent {
        appeal_id: a.id,
        at: now,
        actor,
        action,
        from: Some(from),
        to: Some(to),
        comment: trimmed(comment),
        data: Some(serde_json::json!({ "score": score, "satisfied": satisfied })),
    };
    add_event(txn, event).await?;
    // A dissatisfied author of a ПОС-style message gets a repeated review automatically.
    if kind == AppealKind::Message && !satisfied {
        let terms = Terms::load(state, txn).await?;
        let reopen_to = transition(to, AppealAction::Reopen).map_err(|e| AppError::internal(format!("{e:?}")))?;
        let mut am = updated.clone().into_active_model();
        let mut data = serde_json::Map::new();
        reopen_fields(&mut am, &updated, &terms, kind, now, &mut data);
        am.status = Set(reopen_to.as_str().to_string());
        am.version = Set(updated.version + 1);
        am.updated_at = Set(now);
        let reopened = save(txn, state.settings.timezone, &updated, am).await?;
        let event = NewEvent {
            appeal_id: a.id,
            at: now,
            actor: "system",
            action: "reopenAppeal",
            from: Some(to),
            to: Some(reopen_to),
            comment: Some("the author is not satisfied with the answer".into()),
            data: Some(serde_json::Value::Object(data)),
        };
        add_event(txn, event).await?;
        return Ok(reopened);
    }
    Ok(updated)
}

/// Staff record the author's rating (e.g. from ПОС data).
pub async fn record_feedback(
    state: &AppState,
    caller: &Caller,
    id: i64,
    score: i32,
    satisfied: bool,
    comment: Option<String>,
) -> AppResult<appeal::Model> {
    check_score("input.score", score)?;
    let scope = AppealScope::of(&state.db, &caller.principal).await?;
    let txn = crate::db::begin_write(&state.writer).await?;
    let a = load_visible(&txn, &scope, id).await?;
    if !scope.routes(&a) {
        return Err(AppError::Forbidden("you may not record feedback on this appeal".into()));
    }
    let updated = apply_feedback(
        &txn,
        state,
        a,
        (&caller.principal.label(), "recordFeedback"),
        Rating { score, satisfied, comment },
    )
    .await?;
    audit::record(&txn, caller, state.clock.now(), "recordFeedback", Some(format!("appeal:{id}")), None).await?;
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
    let found = if code.is_empty() {
        None
    } else {
        appeal::Entity::find().filter(appeal::Column::FeedbackCode.eq(code.as_str())).one(&txn).await?
    };
    let Some(a) = found.filter(|a| a.feedback_expires_at.is_some_and(|e| e > now)) else {
        return Err(AppError::bad("code", "unknown, used or expired code"));
    };
    let id = a.id;
    apply_feedback(&txn, state, a, ("author", "submitFeedback"), Rating { score, satisfied: score >= 4, comment })
        .await?;
    audit::record(&txn, caller, now, "submitFeedback", Some(format!("appeal:{id}")), None).await?;
    txn.commit().await?;
    Ok(true)
}
