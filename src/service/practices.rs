//! Best practices (лучшие практики, decree 1.2г, 3.2в(3)): a library of what was done against
//! a problem, where, from which source and with what measured effect, searchable by word
//! forms and linked from roadmaps.
//!
//! The effect is the roadmap's measure (`roadmaps::effect_since`): appeals per month on the
//! practice's topic and territory before the day it was applied here against after it.
//! Every change writes an audit entry (target `practice:<id>`); editing checks the version.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::{Caller, audit};
use crate::domain::access::UserPrincipal;
use crate::domain::roadmap::Effect;
use crate::domain::text::normalize_for_search;
use crate::entity::{practice, roadmap, roadmap_practice};
use crate::error::{AppError, AppResult, FieldError};
use crate::state::AppState;

/// Longest title.
const MAX_TITLE: usize = 500;
/// Longest problem, account of what was done, or source.
const MAX_TEXT: usize = 20_000;
/// Longest place.
const MAX_PLACE: usize = 300;
/// Search words used at most.
const MAX_SEARCH_WORDS: usize = 8;

/// A new practice, or the fields of an edit (`None` leaves a field as it is).
#[derive(Debug, Clone, Default)]
pub struct PracticeFields {
    pub title: Option<String>,
    pub problem: Option<String>,
    pub action_taken: Option<String>,
    pub place: Option<String>,
    pub source: Option<String>,
    pub category_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub applied_on: Option<NaiveDate>,
}

/// A list filter; empty parts do not filter.
#[derive(Debug, Clone, Default)]
pub struct PracticeFilter {
    /// Words, matched in every form (stems) against title, problem, what was done and place.
    pub search: Option<String>,
    pub category_id: Vec<i64>,
    pub territory_id: Vec<i64>,
}

fn person(caller: &Caller) -> AppResult<&UserPrincipal> {
    caller.principal.user().ok_or_else(|| AppError::Forbidden("practices are written by people".into()))
}

fn check(errors: &mut Vec<FieldError>, path: &str, text: Option<&str>, max: usize, required: bool) {
    match text.map(str::trim) {
        None if required => errors.push(FieldError { path: path.into(), message: "is required".into() }),
        Some("") if required => errors.push(FieldError { path: path.into(), message: "must not be empty".into() }),
        Some(t) if t.chars().count() > max => {
            errors.push(FieldError { path: path.into(), message: format!("must be at most {max} characters") });
        }
        _ => {}
    }
}

fn validate(f: &PracticeFields, creating: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check(&mut errors, "input.title", f.title.as_deref(), MAX_TITLE, creating || f.title.is_some());
    check(&mut errors, "input.problem", f.problem.as_deref(), MAX_TEXT, creating || f.problem.is_some());
    check(&mut errors, "input.actionTaken", f.action_taken.as_deref(), MAX_TEXT, creating || f.action_taken.is_some());
    check(&mut errors, "input.place", f.place.as_deref(), MAX_PLACE, false);
    check(&mut errors, "input.source", f.source.as_deref(), MAX_TEXT, false);
    errors
}

fn blank_to_none(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn search_text(p: &practice::Model) -> String {
    let all = format!("{} {} {} {}", p.title, p.problem, p.action_taken, p.place.as_deref().unwrap_or_default());
    normalize_for_search(&all)
}

/// One practice, or `NOT_FOUND`.
pub async fn get(conn: &impl ConnectionTrait, id: i64) -> AppResult<practice::Model> {
    practice::Entity::find_by_id(id).one(conn).await?.ok_or_else(|| AppError::NotFound("practice".into()))
}

/// A page of practices, newest first, and the total count.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: &PracticeFilter,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<practice::Model>, u64)> {
    let mut cond = Condition::all();
    if let Some(s) = &filter.search {
        for stem in normalize_for_search(s).split_whitespace().take(MAX_SEARCH_WORDS) {
            let stem = stem.replace(['%', '_', '\\'], "");
            if !stem.is_empty() {
                cond = cond.add(practice::Column::SearchText.like(format!("%{stem}%")));
            }
        }
    }
    if !filter.category_id.is_empty() {
        cond = cond.add(practice::Column::CategoryId.is_in(filter.category_id.iter().copied()));
    }
    if !filter.territory_id.is_empty() {
        cond = cond.add(practice::Column::TerritoryId.is_in(filter.territory_id.iter().copied()));
    }
    let q = practice::Entity::find().filter(cond);
    let total = q.clone().count(conn).await?;
    let rows = q.order_by_desc(practice::Column::Id).offset(offset).limit(limit).all(conn).await?;
    Ok((rows, total))
}

/// Adds a practice to the library.
///
/// # Errors
/// `BAD_USER_INPUT` naming every invalid field.
pub async fn create(state: &AppState, caller: &Caller, f: PracticeFields) -> AppResult<practice::Model> {
    let me = person(caller)?;
    let now = state.clock.now();
    let mut errors = validate(&f, true);
    let txn = crate::db::begin_write(&state.writer).await?;
    let refs = super::reference::Refs { category_id: f.category_id, territory_id: f.territory_id, recipient_id: None };
    super::reference::check_refs(&txn, &mut errors, refs).await?;
    if !errors.is_empty() {
        return Err(AppError::BadInput(errors));
    }
    let mut model = practice::Model {
        id: 0,
        title: f.title.unwrap_or_default().trim().to_string(),
        problem: f.problem.unwrap_or_default().trim().to_string(),
        action_taken: f.action_taken.unwrap_or_default().trim().to_string(),
        place: blank_to_none(f.place),
        source: blank_to_none(f.source),
        category_id: f.category_id,
        territory_id: f.territory_id,
        applied_on: f.applied_on,
        search_text: String::new(),
        created_by_id: me.id,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    model.search_text = search_text(&model);
    let mut am = model.into_active_model();
    am.id = sea_orm::ActiveValue::NotSet;
    let p = am.insert(&txn).await?;
    let data = serde_json::json!({ "title": p.title });
    audit::record(&txn, caller, now, "createPractice", Some(format!("practice:{}", p.id)), Some(data)).await?;
    txn.commit().await?;
    Ok(p)
}

/// Edits a practice that still has `version`.
///
/// # Errors
/// `CONFLICT` on a stale version; `BAD_USER_INPUT` for invalid fields; `NOT_FOUND`.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: i64,
    version: i32,
    f: PracticeFields,
) -> AppResult<practice::Model> {
    person(caller)?;
    let now = state.clock.now();
    let mut errors = validate(&f, false);
    let txn = crate::db::begin_write(&state.writer).await?;
    let old = get(&txn, id).await?;
    if old.version != version {
        return Err(AppError::stale("the practice"));
    }
    let refs = super::reference::Refs { category_id: f.category_id, territory_id: f.territory_id, recipient_id: None };
    super::reference::check_refs(&txn, &mut errors, refs).await?;
    if !errors.is_empty() {
        return Err(AppError::BadInput(errors));
    }
    let mut new = old.clone();
    if let Some(t) = f.title {
        new.title = t.trim().to_string();
    }
    if let Some(t) = f.problem {
        new.problem = t.trim().to_string();
    }
    if let Some(t) = f.action_taken {
        new.action_taken = t.trim().to_string();
    }
    if f.place.is_some() {
        new.place = blank_to_none(f.place);
    }
    if f.source.is_some() {
        new.source = blank_to_none(f.source);
    }
    if f.category_id.is_some() {
        new.category_id = f.category_id;
    }
    if f.territory_id.is_some() {
        new.territory_id = f.territory_id;
    }
    if f.applied_on.is_some() {
        new.applied_on = f.applied_on;
    }
    new.search_text = search_text(&new);
    new.version = old.version + 1;
    new.updated_at = now;
    let am = practice::ActiveModel {
        title: Set(new.title.clone()),
        problem: Set(new.problem.clone()),
        action_taken: Set(new.action_taken.clone()),
        place: Set(new.place.clone()),
        source: Set(new.source.clone()),
        category_id: Set(new.category_id),
        territory_id: Set(new.territory_id),
        applied_on: Set(new.applied_on),
        search_text: Set(new.search_text.clone()),
        version: Set(new.version),
        updated_at: Set(now),
        ..Default::default()
    };
    let res = practice::Entity::update_many()
        .set(am)
        .filter(practice::Column::Id.eq(id))
        .filter(practice::Column::Version.eq(version))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::stale("the practice"));
    }
    audit::record(&txn, caller, now, "updatePractice", Some(format!("practice:{id}")), None).await?;
    txn.commit().await?;
    Ok(new)
}

/// Links a practice to a roadmap (`link`) or removes the link; idempotent either way.
///
/// # Errors
/// `NOT_FOUND` for a roadmap or practice that does not exist.
pub async fn set_link(
    state: &AppState,
    caller: &Caller,
    roadmap_id: i64,
    practice_id: i64,
    link: bool,
) -> AppResult<roadmap::Model> {
    person(caller)?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let r = super::roadmaps::get(&txn, crate::domain::roadmap::RoadmapId(roadmap_id)).await?;
    get(&txn, practice_id).await?;
    let existing = roadmap_practice::Entity::find()
        .filter(roadmap_practice::Column::RoadmapId.eq(roadmap_id))
        .filter(roadmap_practice::Column::PracticeId.eq(practice_id))
        .one(&txn)
        .await?;
    let changed = match (link, existing) {
        (true, None) => {
            roadmap_practice::ActiveModel {
                roadmap_id: Set(roadmap_id),
                practice_id: Set(practice_id),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            true
        }
        (false, Some(row)) => {
            roadmap_practice::Entity::delete_by_id(row.id).exec(&txn).await?;
            true
        }
        _ => false,
    };
    if changed {
        let action = if link { "linkPractice" } else { "unlinkPractice" };
        let data = serde_json::json!({ "practiceId": practice_id });
        audit::record(&txn, caller, now, action, Some(format!("roadmap:{roadmap_id}")), Some(data)).await?;
    }
    txn.commit().await?;
    Ok(r)
}

/// The practices linked to each of `roadmap_ids` (two statements whatever their number),
/// oldest link first.
pub async fn of_roadmaps(conn: &impl ConnectionTrait, roadmap_ids: &[i64]) -> AppResult<Vec<(i64, practice::Model)>> {
    if roadmap_ids.is_empty() {
        return Ok(Vec::new());
    }
    let links = roadmap_practice::Entity::find()
        .filter(roadmap_practice::Column::RoadmapId.is_in(roadmap_ids.iter().copied()))
        .order_by_asc(roadmap_practice::Column::Id)
        .all(conn)
        .await?;
    if links.is_empty() {
        return Ok(Vec::new());
    }
    let practices: std::collections::HashMap<i64, practice::Model> = practice::Entity::find()
        .filter(practice::Column::Id.is_in(links.iter().map(|l| l.practice_id)))
        .all(conn)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(links.into_iter().filter_map(|l| practices.get(&l.practice_id).map(|p| (l.roadmap_id, p.clone()))).collect())
}

/// The ids of the roadmaps that draw on a practice.
pub async fn roadmap_ids(conn: &impl ConnectionTrait, practice_id: i64) -> AppResult<Vec<i64>> {
    Ok(roadmap_practice::Entity::find()
        .filter(roadmap_practice::Column::PracticeId.eq(practice_id))
        .order_by_asc(roadmap_practice::Column::RoadmapId)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| r.roadmap_id)
        .collect())
}

/// The measured effect of a practice applied here, `None` without a date of application.
pub async fn effect_of(state: &AppState, p: &practice::Model) -> AppResult<Option<Effect>> {
    let Some(day) = p.applied_on else { return Ok(None) };
    let since = start_of(state.settings.timezone, day);
    Ok(Some(super::roadmaps::effect_since(state, p.category_id, p.territory_id, since).await?))
}

/// The first instant of a local day.
fn start_of(tz: chrono_tz::Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    tz.from_local_datetime(&midnight).earliest().map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}
