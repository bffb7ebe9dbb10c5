//! Requests from the regional centre (запросы ЦУР, decree 3.2г): registered by the centre's
//! staff or sent by the ЦУР itself through a `CUR_REQUESTS` token, answered with materials
//! (a stored weekly memo, a roadmap, a written answer), with statuses and overdue marks from
//! `domain::cur_request`. Every change checks the version and writes an audit entry
//! (target `curRequest:<id>`).

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::{Caller, audit};
use crate::domain::access::Principal;
use crate::domain::cur_request::{CurMaterialKind, CurRequestStatus, transition};
use crate::entity::{cur_request, cur_request_material, memo, roadmap};
use crate::error::{AppError, AppResult, FieldError};
use crate::state::AppState;

const MAX_LINE: usize = 500;
const MAX_TEXT: usize = 50_000;
/// Materials one request may hold: a request is answered with a handful of documents, and
/// a cap keeps one request from growing without bound.
pub const MAX_MATERIALS: u64 = 100;

/// A new request.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub subject: String,
    pub body: String,
    /// Who at the regional centre asks; a token's request defaults to the token's name.
    pub requested_by: Option<String>,
    pub due_date: NaiveDate,
}

/// A material to attach.
#[derive(Debug, Clone)]
pub struct NewMaterial {
    pub kind: CurMaterialKind,
    pub memo_id: Option<i64>,
    pub roadmap_id: Option<i64>,
    pub report_id: Option<i64>,
    pub text: Option<String>,
}

/// A list filter; empty parts do not filter.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub status: Vec<CurRequestStatus>,
    /// Only open requests past their due date (`true`) or only the others (`false`).
    pub overdue: Option<bool>,
}

/// The status of a stored request.
pub fn status_of(r: &cur_request::Model) -> AppResult<CurRequestStatus> {
    r.status.parse().map_err(AppError::internal)
}

/// Today in the municipality.
pub fn today(state: &AppState) -> NaiveDate {
    state.clock.now().with_timezone(&state.settings.timezone).date_naive()
}

/// The local day of an instant.
pub fn local_day(state: &AppState, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&state.settings.timezone).date_naive()
}

async fn author(conn: &impl ConnectionTrait, caller: &Caller) -> AppResult<String> {
    if let Principal::User(u) = &caller.principal
        && let Some(m) = crate::entity::user::Entity::find_by_id(u.id).one(conn).await?
    {
        return Ok(m.full_name);
    }
    if let Principal::Token(t) = &caller.principal {
        return Ok(t.name.clone());
    }
    Ok(caller.principal.label())
}

/// One request, or `NOT_FOUND`.
pub async fn get(conn: &impl ConnectionTrait, id: i64) -> AppResult<cur_request::Model> {
    cur_request::Entity::find_by_id(id).one(conn).await?.ok_or_else(|| AppError::NotFound("request".into()))
}

/// A page of requests, the soonest due first, and the total count.
pub async fn list(
    state: &AppState,
    filter: &RequestFilter,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<cur_request::Model>, u64)> {
    let mut cond = Condition::all();
    if !filter.status.is_empty() {
        cond = cond.add(cur_request::Column::Status.is_in(filter.status.iter().map(|s| s.as_str())));
    }
    let open = [CurRequestStatus::New.as_str(), CurRequestStatus::InWork.as_str()];
    let late = Condition::all()
        .add(cur_request::Column::Status.is_in(open))
        .add(cur_request::Column::DueDate.lt(today(state)));
    match filter.overdue {
        Some(true) => cond = cond.add(late),
        Some(false) => cond = cond.add(late.not()),
        None => {}
    }
    let q = cur_request::Entity::find().filter(cond);
    let total = q.clone().count(&state.db).await?;
    let rows = q
        .order_by_asc(cur_request::Column::DueDate)
        .order_by_asc(cur_request::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(&state.db)
        .await?;
    Ok((rows, total))
}

/// The materials of a request, in the order they were added.
pub async fn materials(conn: &impl ConnectionTrait, request_id: i64) -> AppResult<Vec<cur_request_material::Model>> {
    Ok(cur_request_material::Entity::find()
        .filter(cur_request_material::Column::RequestId.eq(request_id))
        .order_by_asc(cur_request_material::Column::Id)
        .all(conn)
        .await?)
}

/// The materials of many requests (a page of them), oldest first within each.
///
/// # Errors
/// When the database fails.
pub async fn materials_of(
    conn: &impl ConnectionTrait,
    request_ids: &[i64],
) -> AppResult<Vec<cur_request_material::Model>> {
    let mut out = Vec::new();
    for list in crate::db::in_lists(request_ids, 256) {
        out.extend(
            cur_request_material::Entity::find()
                .filter(cur_request_material::Column::RequestId.is_in(list))
                .order_by_asc(cur_request_material::Column::Id)
                .all(conn)
                .await?,
        );
    }
    Ok(out)
}

/// One material, or `NOT_FOUND`.
pub async fn material(conn: &impl ConnectionTrait, id: i64) -> AppResult<cur_request_material::Model> {
    cur_request_material::Entity::find_by_id(id).one(conn).await?.ok_or_else(|| AppError::NotFound("material".into()))
}

/// Registers a request (NEW).
///
/// # Errors
/// `BAD_USER_INPUT` naming every invalid field.
pub async fn create(state: &AppState, caller: &Caller, new: NewRequest) -> AppResult<cur_request::Model> {
    let now = state.clock.now();
    let mut errors = Vec::new();
    FieldError::check_text(&mut errors, "input.subject", &new.subject, MAX_LINE);
    FieldError::check_text(&mut errors, "input.body", &new.body, MAX_TEXT);
    let requested_by = match (&new.requested_by, &caller.principal) {
        (Some(r), _) => {
            FieldError::check_text(&mut errors, "input.requestedBy", r, MAX_LINE);
            r.trim().to_string()
        }
        (None, Principal::Token(t)) => t.name.clone(),
        (None, _) => {
            errors.push(FieldError { path: "input.requestedBy".into(), message: "is required".into() });
            String::new()
        }
    };
    if !errors.is_empty() {
        return Err(AppError::BadInput(errors));
    }
    let txn = crate::db::begin_write(&state.writer).await?;
    let r = cur_request::ActiveModel {
        subject: Set(new.subject.trim().to_string()),
        body: Set(new.body.trim().to_string()),
        requested_by: Set(requested_by),
        due_date: Set(new.due_date),
        status: Set(CurRequestStatus::New.as_str().to_string()),
        answered_at: Set(None),
        created_by: Set(author(&txn, caller).await?),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let data = serde_json::json!({ "subject": r.subject, "dueDate": r.due_date });
    audit::record(&txn, caller, now, "createCurRequest", Some(format!("curRequest:{}", r.id)), Some(data)).await?;
    txn.commit().await?;
    Ok(r)
}

async fn bump(
    txn: &sea_orm::DatabaseTransaction,
    r: &cur_request::Model,
    am: cur_request::ActiveModel,
    now: DateTime<Utc>,
) -> AppResult<cur_request::Model> {
    let mut am = am;
    am.version = Set(r.version + 1);
    am.updated_at = Set(now);
    let res = cur_request::Entity::update_many()
        .set(am)
        .filter(cur_request::Column::Id.eq(r.id))
        .filter(cur_request::Column::Version.eq(r.version))
        .exec(txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::stale("the request"));
    }
    get(txn, r.id).await
}

async fn load(txn: &sea_orm::DatabaseTransaction, id: i64, version: i32) -> AppResult<cur_request::Model> {
    let r = get(txn, id).await?;
    if r.version != version {
        return Err(AppError::stale("the request"));
    }
    Ok(r)
}

/// Attaches a material to an open request.
///
/// # Errors
/// `CONFLICT` on a stale version; `BAD_USER_INPUT` for a closed request, a missing or
/// unknown reference, or an empty text.
pub async fn add_material(
    state: &AppState,
    caller: &Caller,
    id: i64,
    version: i32,
    m: NewMaterial,
) -> AppResult<cur_request::Model> {
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let r = load(&txn, id, version).await?;
    if !status_of(&r)?.is_open() {
        return Err(AppError::bad("input.requestId", "the request is closed"));
    }
    let held = cur_request_material::Entity::find()
        .filter(cur_request_material::Column::RequestId.eq(r.id))
        .count(&txn)
        .await?;
    if held >= MAX_MATERIALS {
        return Err(AppError::bad("input.requestId", format!("a request holds at most {MAX_MATERIALS} materials")));
    }
    let mut errors = Vec::new();
    let mut report_id = None;
    let (memo_id, roadmap_id, text) = match m.kind {
        CurMaterialKind::Memo => match m.memo_id {
            None => {
                errors.push(FieldError { path: "input.memoId".into(), message: "is required for a MEMO".into() });
                (None, None, None)
            }
            Some(mid) => {
                if memo::Entity::find_by_id(mid).one(&txn).await?.is_none() {
                    errors.push(FieldError { path: "input.memoId".into(), message: "no such memo".into() });
                }
                (Some(mid), None, None)
            }
        },
        CurMaterialKind::Roadmap => match m.roadmap_id {
            None => {
                errors.push(FieldError { path: "input.roadmapId".into(), message: "is required for a ROADMAP".into() });
                (None, None, None)
            }
            Some(rid) => {
                if roadmap::Entity::find_by_id(rid).one(&txn).await?.is_none() {
                    errors.push(FieldError { path: "input.roadmapId".into(), message: "no such roadmap".into() });
                }
                (None, Some(rid), None)
            }
        },
        CurMaterialKind::Report => {
            match m.report_id {
                None => {
                    errors
                        .push(FieldError { path: "input.reportId".into(), message: "is required for a REPORT".into() });
                }
                Some(rid) => {
                    if crate::entity::system_report::Entity::find_by_id(rid).one(&txn).await?.is_none() {
                        errors.push(FieldError { path: "input.reportId".into(), message: "no such report".into() });
                    }
                    report_id = Some(rid);
                }
            }
            (None, None, None)
        }
        CurMaterialKind::Text => {
            let t = m.text.clone().unwrap_or_default();
            FieldError::check_text(&mut errors, "input.text", &t, MAX_TEXT);
            (None, None, Some(t.trim().to_string()))
        }
    };
    if !errors.is_empty() {
        return Err(AppError::BadInput(errors));
    }
    let row = cur_request_material::ActiveModel {
        request_id: Set(r.id),
        kind: Set(m.kind.as_str().to_string()),
        memo_id: Set(memo_id),
        roadmap_id: Set(roadmap_id),
        report_id: Set(report_id),
        text: Set(text),
        added_by: Set(author(&txn, caller).await?),
        added_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let updated = bump(&txn, &r, <cur_request::ActiveModel as Default>::default(), now).await?;
    let data = serde_json::json!({ "materialId": row.id, "kind": m.kind });
    audit::record(&txn, caller, now, "addCurMaterial", Some(format!("curRequest:{id}")), Some(data)).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Moves a request to `to` (take into work, answer, cancel).
///
/// # Errors
/// `CONFLICT` on a stale version; `BAD_USER_INPUT` on `status` for a change the workflow
/// does not allow (an answer without materials included).
pub async fn set_status(
    state: &AppState,
    caller: &Caller,
    id: i64,
    version: i32,
    to: CurRequestStatus,
) -> AppResult<cur_request::Model> {
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let r = load(&txn, id, version).await?;
    let from = status_of(&r)?;
    let count =
        cur_request_material::Entity::find().filter(cur_request_material::Column::RequestId.eq(id)).count(&txn).await?;
    transition(from, to, usize::try_from(count).unwrap_or(usize::MAX))
        .map_err(|why| AppError::bad("input.status", why))?;
    let am = cur_request::ActiveModel {
        status: Set(to.as_str().to_string()),
        answered_at: Set((to == CurRequestStatus::Answered).then_some(now)),
        ..Default::default()
    };
    let updated = bump(&txn, &r, am, now).await?;
    let data = serde_json::json!({ "from": from, "to": to });
    audit::record(&txn, caller, now, "setCurRequestStatus", Some(format!("curRequest:{id}")), Some(data)).await?;
    txn.commit().await?;
    Ok(updated)
}

/// The DOCX of a material: the stored memo's document, the roadmap's as of now, or the stored
/// system report's (rendered from its stored figures).
///
/// # Errors
/// `NOT_FOUND` for an unknown material or a written answer (it has no document).
pub async fn material_docx(state: &AppState, id: i64) -> AppResult<Vec<u8>> {
    let m = material(&state.db, id).await?;
    if let Some(memo_id) = m.memo_id {
        let memo = memo::Entity::find_by_id(memo_id).one(&state.db).await?;
        return memo.map(|m| m.docx).ok_or_else(|| AppError::NotFound("memo".into()));
    }
    if let Some(roadmap_id) = m.roadmap_id {
        return super::documents::roadmap::export_docx(state, roadmap_id).await;
    }
    if let Some(report_id) = m.report_id {
        let report = super::system_reports::find(&state.db, report_id).await?;
        return super::system_reports::file(state, &report, false).await;
    }
    Err(AppError::NotFound("document".into()))
}
