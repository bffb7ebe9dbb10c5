//! Roadmaps (дорожные карты): drafting, the curator's approval round, measure progress,
//! comments and the effect on the number of appeals (its DOCX document is in
//! `service::documents::roadmap`).
//!
//! Every change runs in one write transaction that checks the roadmap's version inside the
//! UPDATE, applies the workflow from `domain::roadmap` and writes the audit entry
//! (target `roadmap:<id>`), which is also the roadmap's history, and the outbox row
//! (`ROADMAP_CHANGED`: id, action, status, version) that webhooks and notifications hear of.

use std::collections::HashSet;

use chrono::{DateTime, Months, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::{Caller, audit};
use crate::domain::access::{Principal, Role, UserPrincipal, parse_list};
use crate::domain::events::Topic;
use crate::domain::lifecycle::AppealStatus;
use crate::domain::roadmap::{
    Effect, MeasureStatus, RoadmapAction, RoadmapStatus, effect, measure_step_allowed, transition,
};
use crate::domain::roadmap::{MeasureId, RoadmapId};
use crate::entity::{appeal, audit_log, recipient, roadmap, roadmap_appeal, roadmap_comment, roadmap_measure, user};
use crate::error::{AppError, AppResult, FieldError};
use crate::state::AppState;
use crate::store::outbox::{self, Change, Subject};

/// Longest title of a roadmap or a measure.
const MAX_TITLE: usize = 500;
/// Longest problem statement or comment.
const MAX_TEXT: usize = 20_000;

/// A new roadmap.
#[derive(Debug, Clone, Default)]
pub struct NewRoadmap {
    pub title: String,
    pub problem: String,
    pub category_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub appeal_ids: Vec<i64>,
}

/// Changes to a roadmap; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RoadmapChanges {
    pub title: Option<String>,
    pub problem: Option<String>,
    pub category_id: Option<i64>,
    pub territory_id: Option<i64>,
}

/// A new measure.
#[derive(Debug, Clone)]
pub struct NewMeasure {
    pub title: String,
    pub responsible_id: Option<i64>,
    pub responsible_name: Option<String>,
    pub due_date: NaiveDate,
}

/// Changes to a measure; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct MeasureChanges {
    pub title: Option<String>,
    pub due_date: Option<NaiveDate>,
    pub status: Option<MeasureStatus>,
}

/// A list filter; empty lists do not filter.
#[derive(Debug, Clone, Default)]
pub struct RoadmapFilter {
    pub status: Vec<RoadmapStatus>,
    pub category_id: Vec<i64>,
    pub territory_id: Vec<i64>,
}

fn status_of(r: &roadmap::Model) -> AppResult<RoadmapStatus> {
    r.status.parse().map_err(AppError::internal)
}

/// The status of a stored measure.
pub fn measure_status(m: &roadmap_measure::Model) -> AppResult<MeasureStatus> {
    m.status.parse().map_err(AppError::internal)
}

fn person(caller: &Caller) -> AppResult<&UserPrincipal> {
    caller.principal.user().ok_or_else(|| AppError::Forbidden("roadmaps are handled by people".into()))
}

/// Announces a change of roadmap `r` (`ROADMAP_CHANGED`) in the change's transaction.
async fn announce(txn: &DatabaseTransaction, r: &roadmap::Model, action: &str, now: DateTime<Utc>) -> AppResult<()> {
    let change = Change::new(r.id, action, Some(r.status.as_str()), r.version);
    outbox::record(txn, Topic::RoadmapChanged, Subject::Roadmap(r.id), &change, now).await?;
    Ok(())
}

/// One roadmap, or `NOT_FOUND`.
pub async fn get(conn: &impl ConnectionTrait, id: RoadmapId) -> AppResult<roadmap::Model> {
    let id = id.0;
    roadmap::Entity::find_by_id(id).one(conn).await?.ok_or_else(|| AppError::NotFound("roadmap".into()))
}

/// A page of roadmaps, newest first, and the total count.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: &RoadmapFilter,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<roadmap::Model>, u64)> {
    let mut cond = Condition::all();
    if !filter.status.is_empty() {
        cond = cond.add(roadmap::Column::Status.is_in(filter.status.iter().map(|s| s.as_str())));
    }
    if !filter.category_id.is_empty() {
        cond = cond.add(roadmap::Column::CategoryId.is_in(filter.category_id.iter().copied()));
    }
    if !filter.territory_id.is_empty() {
        cond = cond.add(roadmap::Column::TerritoryId.is_in(filter.territory_id.iter().copied()));
    }
    let query = roadmap::Entity::find().filter(cond);
    let total = query.clone().count(conn).await?;
    let rows = query.order_by_desc(roadmap::Column::Id).offset(offset).limit(limit).all(conn).await?;
    Ok((rows, total))
}

/// A roadmap of a list page with its measures and comments, each in the order they were added.
#[derive(Debug, Clone)]
pub struct ListedRoadmap {
    pub roadmap: roadmap::Model,
    pub measures: Vec<roadmap_measure::Model>,
    pub comments: Vec<roadmap_comment::Model>,
}

/// A page of roadmaps as [`list`] gives it, each with its measures and comments: three
/// statements whatever the page size, and the total count.
pub async fn list_with_details(
    conn: &impl ConnectionTrait,
    filter: &RoadmapFilter,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<ListedRoadmap>, u64)> {
    let (rows, total) = list(conn, filter, offset, limit).await?;
    use std::collections::HashMap;
    let mut measures: HashMap<i64, Vec<roadmap_measure::Model>> = HashMap::new();
    for m in roadmap_measure::Entity::find()
        .filter(roadmap_measure::Column::RoadmapId.is_in(rows.iter().map(|r| r.id)))
        .order_by_asc(roadmap_measure::Column::Id)
        .all(conn)
        .await?
    {
        measures.entry(m.roadmap_id).or_default().push(m);
    }
    let mut comments: HashMap<i64, Vec<roadmap_comment::Model>> = HashMap::new();
    for c in roadmap_comment::Entity::find()
        .filter(roadmap_comment::Column::RoadmapId.is_in(rows.iter().map(|r| r.id)))
        .order_by_asc(roadmap_comment::Column::Id)
        .all(conn)
        .await?
    {
        comments.entry(c.roadmap_id).or_default().push(c);
    }
    let listed = rows
        .into_iter()
        .map(|r| ListedRoadmap {
            measures: measures.remove(&r.id).unwrap_or_default(),
            comments: comments.remove(&r.id).unwrap_or_default(),
            roadmap: r,
        })
        .collect();
    Ok((listed, total))
}

/// The measures of a roadmap in the order they were added.
pub async fn measures(conn: &impl ConnectionTrait, roadmap_id: RoadmapId) -> AppResult<Vec<roadmap_measure::Model>> {
    let roadmap_id = roadmap_id.0;
    Ok(roadmap_measure::Entity::find()
        .filter(roadmap_measure::Column::RoadmapId.eq(roadmap_id))
        .order_by_asc(roadmap_measure::Column::Id)
        .all(conn)
        .await?)
}

/// The comments of a roadmap, oldest first.
pub async fn comments(conn: &impl ConnectionTrait, roadmap_id: RoadmapId) -> AppResult<Vec<roadmap_comment::Model>> {
    let roadmap_id = roadmap_id.0;
    Ok(roadmap_comment::Entity::find()
        .filter(roadmap_comment::Column::RoadmapId.eq(roadmap_id))
        .order_by_asc(roadmap_comment::Column::Id)
        .all(conn)
        .await?)
}

/// The ids of the appeals linked to a roadmap.
pub async fn appeal_ids(conn: &impl ConnectionTrait, roadmap_id: RoadmapId) -> AppResult<Vec<i64>> {
    let roadmap_id = roadmap_id.0;
    let rows = roadmap_appeal::Entity::find()
        .filter(roadmap_appeal::Column::RoadmapId.eq(roadmap_id))
        .order_by_asc(roadmap_appeal::Column::AppealId)
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|r| r.appeal_id).collect())
}

/// The full history of a roadmap: its audit entries, oldest first.
pub async fn history(conn: &impl ConnectionTrait, roadmap_id: RoadmapId) -> AppResult<Vec<audit_log::Model>> {
    let roadmap_id = roadmap_id.0;
    Ok(audit_log::Entity::find()
        .filter(audit_log::Column::Target.eq(format!("roadmap:{roadmap_id}")))
        .order_by_asc(audit_log::Column::Id)
        .all(conn)
        .await?)
}

async fn author_name(conn: &impl ConnectionTrait, caller: &Caller) -> AppResult<String> {
    if let Principal::User(u) = &caller.principal
        && let Some(m) = user::Entity::find_by_id(u.id).one(conn).await?
    {
        return Ok(m.full_name);
    }
    Ok(caller.principal.label())
}

async fn add_comment(
    txn: &DatabaseTransaction,
    caller: &Caller,
    roadmap_id: i64,
    at: DateTime<Utc>,
    kind: &str,
    text: String,
) -> AppResult<()> {
    roadmap_comment::ActiveModel {
        roadmap_id: Set(roadmap_id),
        at: Set(at),
        author: Set(author_name(txn, caller).await?),
        kind: Set(kind.to_string()),
        text: Set(text),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Writes the changes if the roadmap still has `version` (one statement) and bumps the version.
async fn save(
    txn: &DatabaseTransaction,
    r: &roadmap::Model,
    mut am: roadmap::ActiveModel,
    now: DateTime<Utc>,
) -> AppResult<roadmap::Model> {
    am.version = Set(r.version + 1);
    am.updated_at = Set(now);
    let res = roadmap::Entity::update_many()
        .set(am)
        .filter(roadmap::Column::Id.eq(r.id))
        .filter(roadmap::Column::Version.eq(r.version))
        .exec(txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::stale("the roadmap"));
    }
    get(txn, RoadmapId(r.id)).await
}

/// Loads the roadmap for a change: checks the version and that `action` is allowed now.
async fn load_for(
    txn: &DatabaseTransaction,
    id: i64,
    version: i32,
    action: RoadmapAction,
) -> AppResult<(roadmap::Model, RoadmapStatus, RoadmapStatus)> {
    let r = get(txn, RoadmapId(id)).await?;
    if r.version != version {
        return Err(AppError::stale("the roadmap"));
    }
    let from = status_of(&r)?;
    let Some(to) = transition(from, action) else {
        return Err(AppError::bad(
            "id",
            format!("{} is not allowed for a roadmap in status {}", action.name(), from.as_str()),
        ));
    };
    Ok((r, from, to))
}

/// Creates a roadmap in DRAFT owned by the caller, linked to existing appeals.
///
/// # Errors
/// `BAD_USER_INPUT` naming every invalid field (unknown appeals on `input.appealIds.<i>`).
pub async fn create(state: &AppState, caller: &Caller, new: NewRoadmap) -> AppResult<roadmap::Model> {
    let me = person(caller)?;
    let now = state.clock.now();
    let mut errors = Vec::new();
    FieldError::check_text(&mut errors, "input.title", &new.title, MAX_TITLE);
    FieldError::check_text(&mut errors, "input.problem", &new.problem, MAX_TEXT);
    let txn = crate::db::begin_write(&state.writer).await?;
    super::reference::check_refs(
        &txn,
        &mut errors,
        super::reference::Refs { category_id: new.category_id, territory_id: new.territory_id, ..Default::default() },
    )
    .await?;
    let mut linked = Vec::new();
    for (i, id) in new.appeal_ids.iter().enumerate() {
        if appeal::Entity::find_by_id(*id).one(&txn).await?.is_none() {
            errors.push(FieldError { path: format!("input.appealIds.{i}"), message: "no such appeal".into() });
        } else if !linked.contains(id) {
            linked.push(*id);
        }
    }
    FieldError::finish(errors)?;
    let r = roadmap::ActiveModel {
        title: Set(new.title.trim().to_string()),
        problem: Set(new.problem.trim().to_string()),
        status: Set(RoadmapStatus::Draft.as_str().to_string()),
        category_id: Set(new.category_id),
        territory_id: Set(new.territory_id),
        owner_id: Set(me.id),
        approved_by_id: Set(None),
        approved_at: Set(None),
        cancel_reason: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    for appeal_id in &linked {
        roadmap_appeal::ActiveModel { roadmap_id: Set(r.id), appeal_id: Set(*appeal_id), ..Default::default() }
            .insert(&txn)
            .await?;
    }
    let data = serde_json::json!({ "title": r.title, "appealIds": linked });
    audit::record(&txn, caller, now, "createRoadmap", Some(format!("roadmap:{}", r.id)), Some(data)).await?;
    announce(&txn, &r, "createRoadmap", now).await?;
    txn.commit().await?;
    state.announcements.wake_dispatcher();
    Ok(r)
}

/// Edits a roadmap in DRAFT or RETURNED.
///
/// # Errors
/// `CONFLICT` on a stale version; `BAD_USER_INPUT` for invalid fields or another status.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: RoadmapId,
    version: i32,
    ch: RoadmapChanges,
) -> AppResult<roadmap::Model> {
    let id = id.0;
    person(caller)?;
    let now = state.clock.now();
    let mut errors = Vec::new();
    if let Some(t) = &ch.title {
        FieldError::check_text(&mut errors, "input.title", t, MAX_TITLE);
    }
    if let Some(p) = &ch.problem {
        FieldError::check_text(&mut errors, "input.problem", p, MAX_TEXT);
    }
    let txn = crate::db::begin_write(&state.writer).await?;
    let (r, _, _) = load_for(&txn, id, version, RoadmapAction::Edit).await?;
    super::reference::check_refs(
        &txn,
        &mut errors,
        super::reference::Refs { category_id: ch.category_id, territory_id: ch.territory_id, ..Default::default() },
    )
    .await?;
    FieldError::finish(errors)?;
    let mut am = r.clone().into_active_model();
    if let Some(t) = &ch.title {
        am.title = Set(t.trim().to_string());
    }
    if let Some(p) = &ch.problem {
        am.problem = Set(p.trim().to_string());
    }
    if ch.category_id.is_some() {
        am.category_id = Set(ch.category_id);
    }
    if ch.territory_id.is_some() {
        am.territory_id = Set(ch.territory_id);
    }
    let updated = save(&txn, &r, am, now).await?;
    audit::record(&txn, caller, now, "updateRoadmap", Some(format!("roadmap:{id}")), None).await?;
    announce(&txn, &updated, "updateRoadmap", now).await?;
    txn.commit().await?;
    state.announcements.wake_dispatcher();
    Ok(updated)
}

/// Adds a measure to a roadmap in DRAFT or RETURNED (an approved plan changes only through a
/// new round: the curator returns it).
///
/// # Errors
/// `CONFLICT` on a stale version; `BAD_USER_INPUT` for invalid fields or another status.
pub async fn add_measure(
    state: &AppState,
    caller: &Caller,
    roadmap_id: RoadmapId,
    version: i32,
    m: NewMeasure,
) -> AppResult<roadmap::Model> {
    let roadmap_id = roadmap_id.0;
    person(caller)?;
    let now = state.clock.now();
    let mut errors = Vec::new();
    FieldError::check_text(&mut errors, "input.title", &m.title, MAX_TITLE);
    let name = m.responsible_name.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let txn = crate::db::begin_write(&state.writer).await?;
    let (r, _, _) = load_for(&txn, roadmap_id, version, RoadmapAction::Edit).await?;
    if let Some(rid) = m.responsible_id
        && recipient::Entity::find_by_id(rid).one(&txn).await?.is_none()
    {
        errors.push(FieldError { path: "input.responsibleId".into(), message: "no such recipient".into() });
    }
    if m.responsible_id.is_none() && name.is_none() {
        errors.push(FieldError {
            path: "input.responsibleId".into(),
            message: "name a responsible recipient or official".into(),
        });
    }
    FieldError::finish(errors)?;
    let measure = roadmap_measure::ActiveModel {
        roadmap_id: Set(r.id),
        title: Set(m.title.trim().to_string()),
        responsible_id: Set(m.responsible_id),
        responsible_name: Set(name),
        due_date: Set(m.due_date),
        status: Set(MeasureStatus::Planned.as_str().to_string()),
        done_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let updated = save(&txn, &r, r.clone().into_active_model(), now).await?;
    let data = serde_json::json!({ "measureId": measure.id, "title": measure.title, "dueDate": measure.due_date });
    audit::record(&txn, caller, now, "addMeasure", Some(format!("roadmap:{roadmap_id}")), Some(data)).await?;
    announce(&txn, &updated, "addMeasure", now).await?;
    txn.commit().await?;
    state.announcements.wake_dispatcher();
    Ok(updated)
}

/// Changes a measure. Title and due date change only while the roadmap is edited (DRAFT,
/// RETURNED); the status moves forward only once it is approved (APPROVED, IN_PROGRESS).
/// An executor may only move the status of a measure its recipient is responsible for.
///
/// # Errors
/// `FORBIDDEN` for an executor outside that rule; `CONFLICT` on a stale version;
/// `BAD_USER_INPUT` for a change the roadmap's status does not allow.
pub async fn update_measure(
    state: &AppState,
    caller: &Caller,
    roadmap_id: RoadmapId,
    version: i32,
    measure_id: MeasureId,
    ch: MeasureChanges,
) -> AppResult<roadmap::Model> {
    let roadmap_id = roadmap_id.0;
    let measure_id = measure_id.0;
    let me = person(caller)?;
    if ch.title.is_none() && ch.due_date.is_none() && ch.status.is_none() {
        return Err(AppError::bad("input", "give a title, a due date or a status"));
    }
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let r = get(&txn, RoadmapId(roadmap_id)).await?;
    let m = roadmap_measure::Entity::find_by_id(measure_id)
        .one(&txn)
        .await?
        .filter(|m| m.roadmap_id == roadmap_id)
        .ok_or_else(|| AppError::NotFound("measure".into()))?;
    if !me.has_any(&[Role::Curator, Role::Coordinator]) {
        let own = me.has(Role::Executor) && me.recipient_id.is_some() && m.responsible_id == me.recipient_id;
        if !own || ch.title.is_some() || ch.due_date.is_some() {
            return Err(AppError::Forbidden(
                "an executor may only mark the progress of its own recipient's measures".into(),
            ));
        }
    }
    if r.version != version {
        return Err(AppError::stale("the roadmap"));
    }
    let status = status_of(&r)?;
    let mut errors = Vec::new();
    let mut am = m.clone().into_active_model();
    let mut data = serde_json::Map::new();
    data.insert("measureId".into(), serde_json::json!(measure_id));
    if ch.title.is_some() || ch.due_date.is_some() {
        if transition(status, RoadmapAction::Edit).is_none() {
            let path = if ch.title.is_some() { "input.title" } else { "input.dueDate" };
            errors.push(FieldError {
                path: path.into(),
                message: format!(
                    "the plan of a roadmap in status {} is frozen; it changes only after the curator returns it",
                    status.as_str()
                ),
            });
        }
        if let Some(t) = &ch.title {
            FieldError::check_text(&mut errors, "input.title", t, MAX_TITLE);
            am.title = Set(t.trim().to_string());
            data.insert("title".into(), serde_json::json!(t.trim()));
        }
        if let Some(d) = ch.due_date {
            am.due_date = Set(d);
            data.insert("dueDate".into(), serde_json::json!(d));
        }
    }
    if let Some(to) = ch.status {
        let from = measure_status(&m)?;
        if transition(status, RoadmapAction::ProgressMeasure).is_none() {
            errors.push(FieldError {
                path: "input.status".into(),
                message: format!("measures progress only on an approved roadmap, this one is {}", status.as_str()),
            });
        } else if !measure_step_allowed(from, to) {
            errors.push(FieldError {
                path: "input.status".into(),
                message: format!("a measure cannot go from {} to {}", from.as_str(), to.as_str()),
            });
        }
        am.status = Set(to.as_str().to_string());
        if to == MeasureStatus::Done {
            am.done_at = Set(Some(now));
        }
        data.insert("from".into(), serde_json::json!(from.as_str()));
        data.insert("to".into(), serde_json::json!(to.as_str()));
    }
    FieldError::finish(errors)?;
    am.update(&txn).await?;
    let updated = save(&txn, &r, r.clone().into_active_model(), now).await?;
    let data = Some(serde_json::Value::Object(data));
    audit::record(&txn, caller, now, "updateMeasure", Some(format!("roadmap:{roadmap_id}")), data).await?;
    announce(&txn, &updated, "updateMeasure", now).await?;
    txn.commit().await?;
    state.announcements.wake_dispatcher();
    Ok(updated)
}

/// Whether another active curator could take the decision instead of the owner.
async fn another_curator(conn: &impl ConnectionTrait, me: i64) -> AppResult<bool> {
    let rows = user::Entity::find()
        .filter(user::Column::Active.eq(true))
        .filter(user::Column::Id.ne(me))
        .filter(user::Column::Roles.contains("CURATOR"))
        .all(conn)
        .await?;
    Ok(rows.iter().any(|u| parse_list::<Role>(&u.roles).contains(&Role::Curator)))
}

/// Moves a roadmap through its workflow: submit, approve, return, start, complete, cancel.
/// Approval and return are the curator's, and not of its own roadmap while another active
/// curator exists (unless `MCU_ROADMAP_SELF_APPROVAL`); a return needs a comment, a
/// cancellation a reason; both, and an approval comment, are kept as roadmap comments.
///
/// # Errors
/// `FORBIDDEN` for a decision the caller may not take; `CONFLICT` on a stale version;
/// `BAD_USER_INPUT` for a missing comment or an action not allowed from the current status.
pub async fn act(
    state: &AppState,
    caller: &Caller,
    id: RoadmapId,
    version: i32,
    action: RoadmapAction,
    comment: Option<String>,
) -> AppResult<roadmap::Model> {
    let id = id.0;
    let me = person(caller)?;
    let now = state.clock.now();
    let comment = comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    match action {
        RoadmapAction::Return if comment.is_none() => return Err(AppError::bad("comment", "must not be empty")),
        RoadmapAction::Cancel if comment.is_none() => return Err(AppError::bad("reason", "must not be empty")),
        _ => {}
    }
    if comment.as_ref().is_some_and(|c| c.chars().count() > MAX_TEXT) {
        let path = if action == RoadmapAction::Cancel { "reason" } else { "comment" };
        return Err(AppError::bad(path, format!("must be at most {MAX_TEXT} characters")));
    }
    let txn = crate::db::begin_write(&state.writer).await?;
    let decision = matches!(action, RoadmapAction::Approve | RoadmapAction::Return);
    if decision {
        if !me.has(Role::Curator) {
            return Err(AppError::Forbidden("only a curator approves or returns a roadmap".into()));
        }
        let r = get(&txn, RoadmapId(id)).await?;
        if r.owner_id == me.id && !state.settings.roadmap_self_approval && another_curator(&txn, me.id).await? {
            return Err(AppError::Forbidden(
                "another curator must decide on a roadmap you own (MCU_ROADMAP_SELF_APPROVAL is off)".into(),
            ));
        }
    }
    let (r, from, to) = load_for(&txn, id, version, action).await?;
    let mut am = r.clone().into_active_model();
    am.status = Set(to.as_str().to_string());
    match action {
        RoadmapAction::Approve => {
            am.approved_by_id = Set(Some(me.id));
            // The effect counts from the first approval; a later round does not restart it.
            am.approved_at = Set(Some(r.approved_at.unwrap_or(now)));
        }
        RoadmapAction::Cancel => am.cancel_reason = Set(comment.clone()),
        _ => {}
    }
    let updated = save(&txn, &r, am, now).await?;
    if let Some(text) = &comment {
        add_comment(&txn, caller, id, now, action.name(), text.clone()).await?;
    }
    let data = serde_json::json!({ "from": from.as_str(), "to": to.as_str(), "comment": comment });
    audit::record(&txn, caller, now, action.name(), Some(format!("roadmap:{id}")), Some(data)).await?;
    announce(&txn, &updated, action.name(), now).await?;
    txn.commit().await?;
    state.announcements.wake_dispatcher();
    Ok(updated)
}

/// Counts non-duplicate appeals of the roadmap's topic (with subcategories) and territory
/// (with its subtree) received in `[from, to)`.
async fn count_appeals(
    conn: &impl ConnectionTrait,
    categories: Option<&HashSet<i64>>,
    territories: Option<&HashSet<i64>>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<u64> {
    let mut q = appeal::Entity::find()
        .filter(appeal::Column::ReceivedAt.gte(from))
        .filter(appeal::Column::ReceivedAt.lt(to))
        .filter(appeal::Column::DuplicateOfId.is_null())
        .filter(appeal::Column::Status.ne(AppealStatus::Duplicate.as_str()));
    if let Some(c) = categories {
        q = q.filter(appeal::Column::CategoryId.is_in(c.iter().copied()));
    }
    if let Some(t) = territories {
        q = q.filter(appeal::Column::TerritoryId.is_in(t.iter().copied()));
    }
    Ok(q.count(conn).await?)
}

/// The effect of an approved roadmap at `now`, `None` before approval. See
/// [`crate::domain::roadmap::effect`] for the formula.
pub async fn effect_of(state: &AppState, r: &roadmap::Model) -> AppResult<Option<Effect>> {
    let Some(approved_at) = r.approved_at else { return Ok(None) };
    Ok(Some(effect_since(state, r.category_id, r.territory_id, approved_at).await?))
}

/// Appeals per month on a topic (with its subcategories) and territory (with its subtree),
/// duplicates excluded: the baseline months before `since` against the time after it. The
/// measure of a roadmap (from its approval) and of a best practice (from the day it was
/// applied).
pub async fn effect_since(
    state: &AppState,
    category_id: Option<i64>,
    territory_id: Option<i64>,
    since: DateTime<Utc>,
) -> AppResult<Effect> {
    let conn = &state.db;
    let refs = crate::service::reference::snapshot_with(state, None, category_id, territory_id).await?;
    let categories = category_id.map(|id| {
        let mut set: HashSet<i64> = refs.category_children(id).map(|c| c.id).collect();
        set.insert(id);
        set
    });
    let territories = territory_id.map(|id| refs.territory_subtree(id));
    let months = state.settings.roadmap_baseline_months;
    let start = since.checked_sub_months(Months::new(months)).unwrap_or(since);
    let now = state.clock.now().max(since);
    let baseline = count_appeals(conn, categories.as_ref(), territories.as_ref(), start, since).await?;
    let current = count_appeals(conn, categories.as_ref(), territories.as_ref(), since, now).await?;
    Ok(effect(baseline, months, current, since, now))
}
