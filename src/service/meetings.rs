//! Meetings with the Head (совещания у Главы, decree 2.2в): planned with participants and an
//! agenda — proposed from the data by [`proposed_agenda`] — held, and minuted with decisions;
//! a decision that names a recipient and a term is an assignment (поручение), tracked like a
//! roadmap measure (status, overdue mark, days late), announced DUE_SOON and OVERDUE through
//! the outbox ([`watch`]) and listed in the weekly memo. Workflows in `domain::meeting`.
//!
//! Access: curators and the Head plan, hold and minute meetings; coordinators read them; an
//! executor sees and moves only the assignments of its own recipient; API tokens are refused
//! (meetings name people, and their minutes are internal). Every change checks the version and
//! writes an audit entry (targets `meeting:<id>`, `assignment:<id>`).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::analytics::{self, Filter, GroupBy, Period};
use super::documents::meeting::{DecisionLine, MeetingDoc};
use super::{Caller, audit};
use crate::domain::access::{Principal, Role, UserPrincipal};
use crate::domain::events::Topic;
use crate::domain::meeting::{
    Actor, AgendaKind, AssignmentStatus, MeetingStatus, actor, assignment_transition, due_soon, meeting_transition,
    overdue,
};
use crate::entity::{
    decision_practice, meeting, meeting_agenda_item, meeting_decision, meeting_participant, practice, recipient, user,
};
use crate::error::{AppError, AppResult, FieldError};
use crate::state::AppState;
use crate::store::outbox::{self, Subject};

const MAX_LINE: usize = 500;
const MAX_TEXT: usize = 5000;
/// Most participants of a meeting.
pub const MAX_PARTICIPANTS: usize = 100;
/// Most agenda questions of a meeting.
pub const MAX_AGENDA: usize = 50;
/// Most practices a decision links.
pub const MAX_PRACTICES: usize = 20;
/// Questions of each source in a proposed agenda.
const PROPOSED_PER_KIND: usize = 5;
/// A problem point needs this many appeals to be proposed.
const PROPOSED_POINT_MIN: i64 = 3;

/// The people who plan, hold and minute meetings.
const CHAIRS: &[Role] = &[Role::Curator, Role::Head];
/// The people who read meetings.
const READERS: &[Role] = &[Role::Curator, Role::Head, Role::Coordinator];

fn person(caller: &Caller) -> AppResult<&UserPrincipal> {
    match &caller.principal {
        Principal::User(u) => Ok(u),
        Principal::Anonymous => Err(AppError::Unauthenticated("sign in to use this operation".into())),
        _ => Err(AppError::Forbidden("meetings are for people, not tokens".into())),
    }
}

fn chair(caller: &Caller) -> AppResult<&UserPrincipal> {
    let u = person(caller)?;
    if u.has_any(CHAIRS) { Ok(u) } else { Err(AppError::Forbidden("curators and the Head hold meetings".into())) }
}

fn reader(caller: &Caller) -> AppResult<&UserPrincipal> {
    let u = person(caller)?;
    if u.has_any(READERS) { Ok(u) } else { Err(AppError::Forbidden("you are not allowed to read meetings".into())) }
}

fn optional(errors: &mut Vec<FieldError>, path: &str, text: Option<&String>, max: usize) -> Option<String> {
    let t = text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())?;
    if t.chars().count() > max {
        errors.push(FieldError { path: path.into(), message: format!("must be at most {max} characters") });
    }
    Some(t)
}

/// Today in the municipality.
pub fn today(state: &AppState) -> NaiveDate {
    state.clock.now().with_timezone(&state.settings.timezone).date_naive()
}

/// The status of a stored meeting.
pub fn status_of(m: &meeting::Model) -> AppResult<MeetingStatus> {
    m.status.parse().map_err(AppError::internal)
}

/// The status of a stored assignment; `None` for a decision that is not one.
pub fn assignment_status(d: &meeting_decision::Model) -> AppResult<Option<AssignmentStatus>> {
    d.status.as_deref().map(|s| s.parse().map_err(AppError::internal)).transpose()
}

/// An agenda question as given.
#[derive(Debug, Clone)]
pub struct NewAgendaItem {
    pub kind: AgendaKind,
    pub title: String,
    pub note: Option<String>,
}

/// A meeting as planned.
#[derive(Debug, Clone)]
pub struct NewMeeting {
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub place: Option<String>,
    pub participant_ids: Vec<i64>,
    pub agenda: Vec<NewAgendaItem>,
}

/// A decision of the minutes; with a recipient and a due date, an assignment.
#[derive(Debug, Clone)]
pub struct NewDecision {
    pub text: String,
    pub recipient_id: Option<i64>,
    pub due_date: Option<NaiveDate>,
    pub practice_ids: Vec<i64>,
}

/// What was checked of a planned meeting.
struct Checked {
    title: String,
    place: Option<String>,
    agenda: Vec<(AgendaKind, String, Option<String>)>,
}

async fn check_meeting(conn: &impl ConnectionTrait, new: &NewMeeting) -> AppResult<Checked> {
    let mut errors = Vec::new();
    FieldError::check_text(&mut errors, "input.title", &new.title, MAX_LINE);
    let place = optional(&mut errors, "input.place", new.place.as_ref(), MAX_LINE);
    if new.participant_ids.len() > MAX_PARTICIPANTS {
        errors.push(FieldError {
            path: "input.participantIds".into(),
            message: format!("at most {MAX_PARTICIPANTS} participants"),
        });
    } else {
        let mut seen = HashSet::new();
        for (i, id) in new.participant_ids.iter().enumerate() {
            if !seen.insert(*id) {
                errors.push(FieldError { path: format!("input.participantIds.{i}"), message: "is given twice".into() });
            }
        }
        let found: HashSet<i64> = user::Entity::find()
            .filter(user::Column::Id.is_in(seen.iter().copied()))
            .filter(user::Column::Active.eq(true))
            .all(conn)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect();
        for (i, id) in new.participant_ids.iter().enumerate() {
            if !found.contains(id) {
                errors.push(FieldError {
                    path: format!("input.participantIds.{i}"),
                    message: "no such active user".into(),
                });
            }
        }
    }
    let mut agenda = Vec::new();
    if new.agenda.len() > MAX_AGENDA {
        errors.push(FieldError { path: "input.agenda".into(), message: format!("at most {MAX_AGENDA} questions") });
    } else {
        for (i, a) in new.agenda.iter().enumerate() {
            FieldError::check_text(&mut errors, &format!("input.agenda.{i}.title"), &a.title, MAX_LINE);
            let note = optional(&mut errors, &format!("input.agenda.{i}.note"), a.note.as_ref(), MAX_TEXT);
            agenda.push((a.kind, a.title.trim().to_string(), note));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::BadInput(errors));
    }
    Ok(Checked { title: new.title.trim().to_string(), place, agenda })
}

async fn author(conn: &impl ConnectionTrait, u: &UserPrincipal) -> AppResult<String> {
    Ok(user::Entity::find_by_id(u.id).one(conn).await?.map_or_else(|| u.email.clone(), |m| m.full_name))
}

async fn write_parts(
    txn: &sea_orm::DatabaseTransaction,
    meeting_id: i64,
    participants: &[i64],
    checked: Checked,
) -> AppResult<()> {
    meeting_participant::Entity::delete_many()
        .filter(meeting_participant::Column::MeetingId.eq(meeting_id))
        .exec(txn)
        .await?;
    meeting_agenda_item::Entity::delete_many()
        .filter(meeting_agenda_item::Column::MeetingId.eq(meeting_id))
        .exec(txn)
        .await?;
    if !participants.is_empty() {
        meeting_participant::Entity::insert_many(participants.iter().map(|u| meeting_participant::ActiveModel {
            meeting_id: Set(meeting_id),
            user_id: Set(*u),
            ..Default::default()
        }))
        .exec(txn)
        .await?;
    }
    if !checked.agenda.is_empty() {
        meeting_agenda_item::Entity::insert_many(checked.agenda.into_iter().enumerate().map(
            |(i, (kind, title, note))| meeting_agenda_item::ActiveModel {
                meeting_id: Set(meeting_id),
                position: Set(i as i32 + 1),
                kind: Set(kind.as_str().to_string()),
                title: Set(title),
                note: Set(note),
                ..Default::default()
            },
        ))
        .exec(txn)
        .await?;
    }
    Ok(())
}

/// Plans a meeting (PLANNED).
///
/// # Errors
/// `FORBIDDEN` for anyone but a curator or the Head; `BAD_USER_INPUT` naming every invalid
/// field (nothing is written then).
pub async fn create(state: &AppState, caller: &Caller, new: NewMeeting) -> AppResult<meeting::Model> {
    let u = chair(caller)?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let checked = check_meeting(&txn, &new).await?;
    let m = meeting::ActiveModel {
        title: Set(checked.title.clone()),
        starts_at: Set(new.starts_at),
        place: Set(checked.place.clone()),
        status: Set(MeetingStatus::Planned.as_str().to_string()),
        held_at: Set(None),
        created_by: Set(author(&txn, u).await?),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let agenda = checked.agenda.len();
    write_parts(&txn, m.id, &new.participant_ids, checked).await?;
    let data = serde_json::json!({
        "title": m.title, "startsAt": m.starts_at, "participants": new.participant_ids.len(), "agenda": agenda,
    });
    audit::record(&txn, caller, now, "createMeeting", Some(format!("meeting:{}", m.id)), Some(data)).await?;
    txn.commit().await?;
    Ok(m)
}

async fn bump(
    txn: &sea_orm::DatabaseTransaction,
    m: &meeting::Model,
    am: meeting::ActiveModel,
    now: DateTime<Utc>,
) -> AppResult<meeting::Model> {
    let mut am = am;
    am.version = Set(m.version + 1);
    am.updated_at = Set(now);
    let res = meeting::Entity::update_many()
        .set(am)
        .filter(meeting::Column::Id.eq(m.id))
        .filter(meeting::Column::Version.eq(m.version))
        .exec(txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::stale("the meeting"));
    }
    find(txn, m.id).await
}

/// One meeting, without an access check.
///
/// # Errors
/// `NOT_FOUND`.
pub async fn find(conn: &impl ConnectionTrait, id: i64) -> AppResult<meeting::Model> {
    meeting::Entity::find_by_id(id).one(conn).await?.ok_or_else(|| AppError::NotFound("meeting".into()))
}

async fn load(txn: &sea_orm::DatabaseTransaction, id: i64, version: i32) -> AppResult<meeting::Model> {
    let m = find(txn, id).await?;
    if m.version != version {
        return Err(AppError::stale("the meeting"));
    }
    Ok(m)
}

/// Changes a planned meeting: title, time, place, participants and agenda, all replaced.
///
/// # Errors
/// `FORBIDDEN` as [`create`]; `CONFLICT` on a stale version; `BAD_USER_INPUT` for a meeting
/// that is not PLANNED or for invalid fields.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: i64,
    version: i32,
    new: NewMeeting,
) -> AppResult<meeting::Model> {
    chair(caller)?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let m = load(&txn, id, version).await?;
    if status_of(&m)? != MeetingStatus::Planned {
        return Err(AppError::bad("input.id", "only a planned meeting can be changed"));
    }
    let checked = check_meeting(&txn, &new).await?;
    let am = meeting::ActiveModel {
        title: Set(checked.title.clone()),
        starts_at: Set(new.starts_at),
        place: Set(checked.place.clone()),
        ..Default::default()
    };
    let agenda = checked.agenda.len();
    write_parts(&txn, id, &new.participant_ids, checked).await?;
    let updated = bump(&txn, &m, am, now).await?;
    let data = serde_json::json!({ "participants": new.participant_ids.len(), "agenda": agenda });
    audit::record(&txn, caller, now, "updateMeeting", Some(format!("meeting:{id}")), Some(data)).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Holds (HELD) or cancels (CANCELLED) a planned meeting.
///
/// # Errors
/// `FORBIDDEN` as [`create`]; `CONFLICT` on a stale version; `BAD_USER_INPUT` on
/// `input.status` for a change the workflow does not allow.
pub async fn set_status(
    state: &AppState,
    caller: &Caller,
    id: i64,
    version: i32,
    to: MeetingStatus,
) -> AppResult<meeting::Model> {
    chair(caller)?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let m = load(&txn, id, version).await?;
    let from = status_of(&m)?;
    meeting_transition(from, to).map_err(|why| AppError::bad("input.status", why))?;
    let am = meeting::ActiveModel {
        status: Set(to.as_str().to_string()),
        held_at: Set((to == MeetingStatus::Held).then_some(now)),
        ..Default::default()
    };
    let updated = bump(&txn, &m, am, now).await?;
    let data = serde_json::json!({ "from": from, "to": to });
    audit::record(&txn, caller, now, "setMeetingStatus", Some(format!("meeting:{id}")), Some(data)).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Records a decision in the minutes of a held meeting; with a recipient and a due date it is
/// an assignment (ASSIGNED). Bumps the meeting's version.
///
/// # Errors
/// `FORBIDDEN` as [`create`]; `CONFLICT` on a stale version of the meeting; `BAD_USER_INPUT`
/// for a meeting not HELD, a recipient without a due date or the reverse, an unknown or
/// inactive recipient, a due date before the meeting, unknown or repeated practices.
pub async fn add_decision(
    state: &AppState,
    caller: &Caller,
    meeting_id: i64,
    version: i32,
    d: NewDecision,
) -> AppResult<meeting_decision::Model> {
    chair(caller)?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let m = load(&txn, meeting_id, version).await?;
    if status_of(&m)? != MeetingStatus::Held {
        return Err(AppError::bad("input.meetingId", "decisions are recorded for a held meeting"));
    }
    let mut errors = Vec::new();
    FieldError::check_text(&mut errors, "input.text", &d.text, MAX_TEXT);
    match (d.recipient_id, d.due_date) {
        (Some(r), Some(due)) => {
            let found = recipient::Entity::find_by_id(r).one(&txn).await?;
            if !found.is_some_and(|x| x.active) {
                errors
                    .push(FieldError { path: "input.recipientId".into(), message: "no such active recipient".into() });
            }
            let held_on = m.held_at.unwrap_or(now).with_timezone(&state.settings.timezone).date_naive();
            if due < held_on {
                errors.push(FieldError {
                    path: "input.dueDate".into(),
                    message: "must not be before the day of the meeting".into(),
                });
            }
        }
        (Some(_), None) => {
            errors.push(FieldError { path: "input.dueDate".into(), message: "is required for an assignment".into() });
        }
        (None, Some(_)) => {
            errors.push(FieldError {
                path: "input.recipientId".into(),
                message: "is required with a due date (an assignment names its recipient)".into(),
            });
        }
        (None, None) => {}
    }
    if d.practice_ids.len() > MAX_PRACTICES {
        errors.push(FieldError { path: "input.practiceIds".into(), message: format!("at most {MAX_PRACTICES}") });
    } else if !d.practice_ids.is_empty() {
        let found: HashSet<i64> = practice::Entity::find()
            .filter(practice::Column::Id.is_in(d.practice_ids.iter().copied()))
            .all(&txn)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect();
        let mut seen = HashSet::new();
        for (i, p) in d.practice_ids.iter().enumerate() {
            if !seen.insert(*p) {
                errors.push(FieldError { path: format!("input.practiceIds.{i}"), message: "is given twice".into() });
            } else if !found.contains(p) {
                errors.push(FieldError { path: format!("input.practiceIds.{i}"), message: "no such practice".into() });
            }
        }
    }
    if !errors.is_empty() {
        return Err(AppError::BadInput(errors));
    }
    let assignment = d.recipient_id.is_some();
    let row = meeting_decision::ActiveModel {
        meeting_id: Set(meeting_id),
        text: Set(d.text.trim().to_string()),
        recipient_id: Set(d.recipient_id),
        due_date: Set(d.due_date),
        status: Set(assignment.then(|| AssignmentStatus::Assigned.as_str().to_string())),
        done_at: Set(None),
        due_soon_notified_at: Set(None),
        overdue_notified_at: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    if !d.practice_ids.is_empty() {
        decision_practice::Entity::insert_many(d.practice_ids.iter().map(|p| decision_practice::ActiveModel {
            decision_id: Set(row.id),
            practice_id: Set(*p),
            ..Default::default()
        }))
        .exec(&txn)
        .await?;
    }
    bump(&txn, &m, <meeting::ActiveModel as Default>::default(), now).await?;
    let data = serde_json::json!({
        "decisionId": row.id, "recipientId": d.recipient_id, "dueDate": d.due_date, "practices": d.practice_ids,
    });
    audit::record(&txn, caller, now, "recordDecision", Some(format!("meeting:{meeting_id}")), Some(data)).await?;
    txn.commit().await?;
    Ok(row)
}

/// Moves an assignment to `to`: a curator or the Head any way the workflow allows, an
/// executor of its recipient into work and to done.
///
/// # Errors
/// `NOT_FOUND` for an unknown assignment or one an executor may not see; `FORBIDDEN` for a
/// coordinator or a token; `CONFLICT` on a stale version; `BAD_USER_INPUT` on `input.status`.
pub async fn set_assignment_status(
    state: &AppState,
    caller: &Caller,
    id: i64,
    version: i32,
    to: AssignmentStatus,
) -> AppResult<meeting_decision::Model> {
    let u = person(caller)?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let d = meeting_decision::Entity::find_by_id(id).one(&txn).await?;
    let (Some(d), Some(from)) = (d.clone(), d.as_ref().map(assignment_status).transpose()?.flatten()) else {
        return Err(AppError::NotFound("assignment".into()));
    };
    let Some(who) = d.recipient_id.and_then(|r| actor(u, r)) else {
        if u.has_any(READERS) {
            return Err(AppError::Forbidden(
                "curators, the Head and the recipient's executors move assignments".into(),
            ));
        }
        return Err(AppError::NotFound("assignment".into()));
    };
    if d.version != version {
        return Err(AppError::stale("the assignment"));
    }
    assignment_transition(who, from, to).map_err(|why| AppError::bad("input.status", why))?;
    let am = meeting_decision::ActiveModel {
        status: Set(Some(to.as_str().to_string())),
        done_at: Set((to == AssignmentStatus::Done).then_some(now)),
        version: Set(d.version + 1),
        updated_at: Set(now),
        ..Default::default()
    };
    let res = meeting_decision::Entity::update_many()
        .set(am)
        .filter(meeting_decision::Column::Id.eq(id))
        .filter(meeting_decision::Column::Version.eq(version))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::stale("the assignment"));
    }
    let data =
        serde_json::json!({ "from": from, "to": to, "by": if who == Actor::Chair { "chair" } else { "executor" } });
    audit::record(&txn, caller, now, "setAssignmentStatus", Some(format!("assignment:{id}")), Some(data)).await?;
    let updated = meeting_decision::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound("assignment".into()))?;
    txn.commit().await?;
    Ok(updated)
}

/// A list filter of meetings; empty parts do not filter.
#[derive(Debug, Clone, Default)]
pub struct MeetingFilter {
    pub status: Vec<MeetingStatus>,
}

/// A page of meetings, the latest first, and the total count.
///
/// # Errors
/// `FORBIDDEN` for anyone but curators, the Head and coordinators.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    filter: &MeetingFilter,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<meeting::Model>, u64)> {
    reader(caller)?;
    let mut q = meeting::Entity::find();
    if !filter.status.is_empty() {
        q = q.filter(meeting::Column::Status.is_in(filter.status.iter().map(|s| s.as_str())));
    }
    let total = q.clone().count(&state.db).await?;
    let rows = q
        .order_by_desc(meeting::Column::StartsAt)
        .order_by_desc(meeting::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(&state.db)
        .await?;
    Ok((rows, total))
}

/// One meeting.
///
/// # Errors
/// `FORBIDDEN` as [`list`]; `NOT_FOUND`.
pub async fn get(state: &AppState, caller: &Caller, id: i64) -> AppResult<meeting::Model> {
    reader(caller)?;
    find(&state.db, id).await
}

/// What the meetings of a page hold besides their rows, read in one statement per table.
#[derive(Debug, Clone, Default)]
pub struct Details {
    pub participants: HashMap<i64, Vec<user::Model>>,
    pub agenda: HashMap<i64, Vec<meeting_agenda_item::Model>>,
    pub decisions: HashMap<i64, Vec<meeting_decision::Model>>,
    /// The practices of each decision.
    pub practices: HashMap<i64, Vec<practice::Model>>,
}

/// The participants, agenda, decisions and linked practices of `meeting_ids`.
///
/// # Errors
/// On a database failure.
pub async fn details(conn: &impl ConnectionTrait, meeting_ids: &[i64]) -> AppResult<Details> {
    let mut out = Details::default();
    if meeting_ids.is_empty() {
        return Ok(out);
    }
    let links = meeting_participant::Entity::find()
        .filter(meeting_participant::Column::MeetingId.is_in(meeting_ids.iter().copied()))
        .order_by_asc(meeting_participant::Column::Id)
        .all(conn)
        .await?;
    let users: HashMap<i64, user::Model> = user::Entity::find()
        .filter(user::Column::Id.is_in(links.iter().map(|l| l.user_id)))
        .all(conn)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    for l in links {
        if let Some(u) = users.get(&l.user_id) {
            out.participants.entry(l.meeting_id).or_default().push(u.clone());
        }
    }
    for a in meeting_agenda_item::Entity::find()
        .filter(meeting_agenda_item::Column::MeetingId.is_in(meeting_ids.iter().copied()))
        .order_by_asc(meeting_agenda_item::Column::Position)
        .all(conn)
        .await?
    {
        out.agenda.entry(a.meeting_id).or_default().push(a);
    }
    let decisions = meeting_decision::Entity::find()
        .filter(meeting_decision::Column::MeetingId.is_in(meeting_ids.iter().copied()))
        .order_by_asc(meeting_decision::Column::Id)
        .all(conn)
        .await?;
    out.practices = practices_of(conn, &decisions.iter().map(|d| d.id).collect::<Vec<_>>()).await?;
    for d in decisions {
        out.decisions.entry(d.meeting_id).or_default().push(d);
    }
    Ok(out)
}

/// The practices linked from each of `decision_ids`.
///
/// # Errors
/// On a database failure.
pub async fn practices_of(
    conn: &impl ConnectionTrait,
    decision_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<practice::Model>>> {
    let mut out: HashMap<i64, Vec<practice::Model>> = HashMap::new();
    if decision_ids.is_empty() {
        return Ok(out);
    }
    let links = decision_practice::Entity::find()
        .filter(decision_practice::Column::DecisionId.is_in(decision_ids.iter().copied()))
        .order_by_asc(decision_practice::Column::Id)
        .all(conn)
        .await?;
    if links.is_empty() {
        return Ok(out);
    }
    let practices: HashMap<i64, practice::Model> = practice::Entity::find()
        .filter(practice::Column::Id.is_in(links.iter().map(|l| l.practice_id)))
        .all(conn)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    for l in links {
        if let Some(p) = practices.get(&l.practice_id) {
            out.entry(l.decision_id).or_default().push(p.clone());
        }
    }
    Ok(out)
}

/// A list filter of assignments; empty parts do not filter.
#[derive(Debug, Clone, Default)]
pub struct AssignmentFilter {
    pub status: Vec<AssignmentStatus>,
    /// Only open assignments past their due date (`true`) or only the others (`false`).
    pub overdue: Option<bool>,
    pub recipient_id: Vec<i64>,
    pub meeting_id: Option<i64>,
}

/// A page of assignments, the soonest due first, and the total count: all of them for
/// curators, the Head and coordinators, those of its own recipient for an executor.
///
/// # Errors
/// `FORBIDDEN` for anyone else (and an executor without a recipient).
pub async fn assignments(
    state: &AppState,
    caller: &Caller,
    filter: &AssignmentFilter,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<meeting_decision::Model>, u64)> {
    use meeting_decision::Column as C;
    let u = person(caller)?;
    let mut cond = Condition::all().add(C::RecipientId.is_not_null());
    if !u.has_any(READERS) {
        let own = u
            .recipient_id
            .filter(|_| u.has(Role::Executor))
            .ok_or_else(|| AppError::Forbidden("you are not allowed to read assignments".into()))?;
        cond = cond.add(C::RecipientId.eq(own));
    }
    if !filter.status.is_empty() {
        cond = cond.add(C::Status.is_in(filter.status.iter().map(|s| s.as_str())));
    }
    if !filter.recipient_id.is_empty() {
        cond = cond.add(C::RecipientId.is_in(filter.recipient_id.iter().copied()));
    }
    if let Some(m) = filter.meeting_id {
        cond = cond.add(C::MeetingId.eq(m));
    }
    let open = [AssignmentStatus::Assigned.as_str(), AssignmentStatus::InProgress.as_str()];
    let late = Condition::all().add(C::Status.is_in(open)).add(C::DueDate.lt(today(state)));
    match filter.overdue {
        Some(true) => cond = cond.add(late),
        Some(false) => cond = cond.add(late.not()),
        None => {}
    }
    let q = meeting_decision::Entity::find().filter(cond);
    let total = q.clone().count(&state.db).await?;
    let rows = q.order_by_asc(C::DueDate).order_by_asc(C::Id).offset(offset).limit(limit).all(&state.db).await?;
    Ok((rows, total))
}

/// One assignment as [`assignments`] shows it.
///
/// # Errors
/// `NOT_FOUND` for an unknown one or one of another recipient (for an executor);
/// `FORBIDDEN` for those who read no assignments.
pub async fn assignment(state: &AppState, caller: &Caller, id: i64) -> AppResult<meeting_decision::Model> {
    let u = person(caller)?;
    let d = meeting_decision::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|d| d.recipient_id.is_some())
        .ok_or_else(|| AppError::NotFound("assignment".into()))?;
    if u.has_any(READERS) {
        return Ok(d);
    }
    if !u.has(Role::Executor) || u.recipient_id.is_none() {
        return Err(AppError::Forbidden("you are not allowed to read assignments".into()));
    }
    if d.recipient_id == u.recipient_id { Ok(d) } else { Err(AppError::NotFound("assignment".into())) }
}

/// A question proposed for the agenda, from the data.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposed {
    pub kind: AgendaKind,
    pub title: String,
    pub note: String,
    /// A number behind it (appeals, overdue measures, days late), for ordering and display.
    pub count: i64,
}

/// The agenda proposed for a meeting about `period`: the topics growing fastest (analytics
/// growth: significant rises, else rises, at most five), running roadmaps with overdue
/// measures and those measures, the recipients at the bottom of the rating (ranked, at most
/// five, lowest score first), problem points (analytics problem points of at least three
/// appeals) and overdue assignments of earlier meetings.
///
/// # Errors
/// `FORBIDDEN` as [`list`]; `BAD_USER_INPUT` for a bad period; as the analytics service.
pub async fn proposed_agenda(state: &AppState, caller: &Caller, period: Period) -> AppResult<Vec<Proposed>> {
    use crate::domain::roadmap::{MeasureStatus, RoadmapStatus, measure_overdue};
    use crate::entity::{roadmap, roadmap_measure};
    reader(caller)?;
    let who = &caller.principal;
    let today = today(state);
    let refs = super::reference::snapshot(state).await?;
    let mut out = Vec::new();
    let growth = analytics::growth(state, who, period, GroupBy::Category, usize::MAX, &Filter::default()).await?;
    for g in growth.into_iter().filter(|g| g.count > 0 && g.growth > 1.0).take(PROPOSED_PER_KIND) {
        let mark = if g.significant { "значимый рост" } else { "рост" };
        out.push(Proposed {
            kind: AgendaKind::GrowingTopic,
            title: format!("Рост обращений по теме «{}»", g.label),
            note: format!("{} обращений при среднем {:.1} ({mark})", g.count, g.baseline),
            count: g.count,
        });
    }
    let running = [RoadmapStatus::Approved.as_str(), RoadmapStatus::InProgress.as_str()];
    let roadmaps: HashMap<i64, roadmap::Model> = roadmap::Entity::find()
        .filter(roadmap::Column::Status.is_in(running))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    if !roadmaps.is_empty() {
        let measures = roadmap_measure::Entity::find()
            .filter(roadmap_measure::Column::RoadmapId.is_in(roadmaps.keys().copied()))
            .filter(roadmap_measure::Column::DueDate.lt(today))
            .order_by_asc(roadmap_measure::Column::DueDate)
            .order_by_asc(roadmap_measure::Column::Id)
            .all(&state.db)
            .await?;
        let late: Vec<roadmap_measure::Model> = measures
            .into_iter()
            .filter(|m| m.status.parse::<MeasureStatus>().is_ok_and(|s| measure_overdue(s, m.due_date, today)))
            .collect();
        let mut per_roadmap: Vec<(i64, i64)> = Vec::new();
        for m in &late {
            match per_roadmap.iter_mut().find(|(r, _)| *r == m.roadmap_id) {
                Some((_, n)) => *n += 1,
                None => per_roadmap.push((m.roadmap_id, 1)),
            }
        }
        per_roadmap.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for (rid, n) in per_roadmap.into_iter().take(PROPOSED_PER_KIND) {
            let title = roadmaps.get(&rid).map(|r| r.title.clone()).unwrap_or_default();
            out.push(Proposed {
                kind: AgendaKind::OverdueRoadmap,
                title: format!("Исполнение дорожной карты «{title}»"),
                note: format!("просрочено мероприятий: {n}"),
                count: n,
            });
        }
        for m in late.iter().take(PROPOSED_PER_KIND) {
            let who = match (m.responsible_id, &m.responsible_name) {
                (Some(r), _) => refs.recipient(r).map(|x| x.name.clone()).unwrap_or_default(),
                (None, Some(n)) => n.clone(),
                (None, None) => String::new(),
            };
            let days = (today - m.due_date).num_days();
            out.push(Proposed {
                kind: AgendaKind::OverdueMeasure,
                title: format!("Просроченное мероприятие «{}»", m.title),
                note: format!(
                    "дорожная карта «{}»; ответственный: {who}; срок {}, просрочено на {days} дн.",
                    roadmaps.get(&m.roadmap_id).map(|r| r.title.as_str()).unwrap_or_default(),
                    m.due_date.format("%d.%m.%Y")
                ),
                count: days,
            });
        }
    }
    let mut rating: Vec<analytics::RatingRow> = analytics::recipient_rating(state, who, period, None)
        .await?
        .into_iter()
        .filter(|r| r.rank.is_some() && r.score.is_some())
        .collect();
    rating.sort_by(|a, b| a.score.unwrap_or(0.0).total_cmp(&b.score.unwrap_or(0.0)).then_with(|| b.rank.cmp(&a.rank)));
    // The bottom of the rating is worth a question only where there is a rating to be at the
    // bottom of: two ranked recipients at least.
    if rating.len() >= 2 {
        for r in rating.iter().take(PROPOSED_PER_KIND.min(rating.len() - 1)) {
            let pct = |x: Option<f64>| x.map_or_else(|| "—".into(), |v| format!("{:.0}%", v * 100.0));
            out.push(Proposed {
                kind: AgendaKind::WorstRecipient,
                title: format!("Работа получателя «{}» с обращениями", r.recipient.name),
                note: format!(
                    "место {} из {}; балл {:.0}; в срок {}; по существу {}; обращений {}",
                    r.rank.unwrap_or_default(),
                    rating.len(),
                    r.score.unwrap_or(0.0) * 100.0,
                    pct(r.on_time_rate),
                    pct(r.full_answer_rate),
                    r.total
                ),
                count: r.total,
            });
        }
    }
    let points = analytics::problem_points(state, who, period, PROPOSED_POINT_MIN, &Filter::default(), false).await?;
    for p in points.into_iter().take(PROPOSED_PER_KIND) {
        let topic = refs.category(p.category_id).map(|c| c.name.clone()).unwrap_or_default();
        out.push(Proposed {
            kind: AgendaKind::ProblemPoint,
            title: format!("Проблемная точка: «{topic}»"),
            note: format!("{} обращений в одном месте ({:.5}, {:.5})", p.count, p.latitude, p.longitude),
            count: p.count,
        });
    }
    let open = [AssignmentStatus::Assigned.as_str(), AssignmentStatus::InProgress.as_str()];
    let late = meeting_decision::Entity::find()
        .filter(meeting_decision::Column::Status.is_in(open))
        .filter(meeting_decision::Column::DueDate.lt(today))
        .order_by_asc(meeting_decision::Column::DueDate)
        .order_by_asc(meeting_decision::Column::Id)
        .limit(PROPOSED_PER_KIND as u64)
        .all(&state.db)
        .await?;
    for d in late {
        let (Some(r), Some(due)) = (d.recipient_id, d.due_date) else { continue };
        let days = (today - due).num_days();
        out.push(Proposed {
            kind: AgendaKind::OverdueAssignment,
            title: format!("Неисполненное поручение: {}", short(&d.text)),
            note: format!(
                "исполнитель: {}; срок {}, просрочено на {days} дн.",
                refs.recipient(r).map(|x| x.name.as_str()).unwrap_or_default(),
                due.format("%d.%m.%Y")
            ),
            count: days,
        });
    }
    Ok(out)
}

fn short(text: &str) -> String {
    const MAX: usize = 120;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

/// The notification of an assignment's deadline, as announced through the outbox.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentAlert {
    pub assignment_id: i64,
    pub meeting_id: i64,
    pub recipient_id: i64,
    pub due_date: NaiveDate,
    /// DUE_SOON or OVERDUE.
    pub transition: String,
    pub text: String,
}

/// What one watch pass over assignments announced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchOutcome {
    pub due_soon: usize,
    pub overdue: usize,
}

/// The assignments' part of the deadline watch: every open assignment that entered its
/// warning window (DUE_SOON) or passed its due date (OVERDUE) is announced once — claimed by
/// a conditional update of its `*_notified_at` column in the transaction that writes the
/// outbox row, so two passes (or two processes) never announce it twice. An assignment first
/// seen already overdue is announced OVERDUE only.
///
/// # Errors
/// On a database failure.
pub async fn watch(state: &AppState) -> AppResult<WatchOutcome> {
    use meeting_decision::Column as C;
    let now = state.clock.now();
    let today = today(state);
    let horizon = today + chrono::Duration::days(crate::domain::meeting::DUE_SOON_DAYS);
    let open = [AssignmentStatus::Assigned.as_str(), AssignmentStatus::InProgress.as_str()];
    let candidates = meeting_decision::Entity::find()
        .filter(C::Status.is_in(open))
        .filter(C::DueDate.lte(horizon))
        .filter(Condition::any().add(C::DueSoonNotifiedAt.is_null()).add(C::OverdueNotifiedAt.is_null()))
        .order_by_asc(C::Id)
        .all(&state.db)
        .await?;
    let mut out = WatchOutcome::default();
    if candidates.is_empty() {
        return Ok(out);
    }
    let txn = crate::db::begin_write(&state.writer).await?;
    for d in candidates {
        let (Some(status), Some(due), Some(recipient_id)) = (assignment_status(&d)?, d.due_date, d.recipient_id) else {
            continue;
        };
        let (topic, column) = if overdue(status, due, today) && d.overdue_notified_at.is_none() {
            (Topic::AssignmentOverdue, C::OverdueNotifiedAt)
        } else if due_soon(status, due, today) && d.due_soon_notified_at.is_none() {
            (Topic::AssignmentDueSoon, C::DueSoonNotifiedAt)
        } else {
            continue;
        };
        let mut claim = meeting_decision::Entity::update_many()
            .col_expr(column, sea_orm::sea_query::Expr::value(now))
            .filter(C::Id.eq(d.id))
            .filter(column.is_null())
            .filter(C::Status.is_in(open));
        if topic == Topic::AssignmentOverdue {
            // Overdue first seen: the warning is past, it is not sent any more.
            let kept = sea_orm::sea_query::Func::coalesce([
                sea_orm::sea_query::Expr::col(C::DueSoonNotifiedAt),
                sea_orm::sea_query::Expr::value(now),
            ]);
            claim = claim.col_expr(C::DueSoonNotifiedAt, kept.into());
        }
        if claim.exec(&txn).await?.rows_affected != 1 {
            continue;
        }
        let alert = AssignmentAlert {
            assignment_id: d.id,
            meeting_id: d.meeting_id,
            recipient_id,
            due_date: due,
            transition: if topic == Topic::AssignmentOverdue { "OVERDUE" } else { "DUE_SOON" }.into(),
            text: short(&d.text),
        };
        outbox::record(&txn, topic, Subject::Assignment(d.id), &alert, now).await?;
        if topic == Topic::AssignmentOverdue {
            out.overdue += 1;
        } else {
            out.due_soon += 1;
        }
    }
    txn.commit().await?;
    if out.due_soon + out.overdue > 0 {
        state.announcements.wake_dispatcher();
    }
    Ok(out)
}

/// A meeting with everything its documents name, under the rule of [`get`].
///
/// # Errors
/// As [`get`].
pub async fn document(state: &AppState, caller: &Caller, id: i64) -> AppResult<MeetingDoc> {
    let m = get(state, caller, id).await?;
    let tz = state.settings.timezone;
    let today = today(state);
    let mut details = details(&state.db, &[id]).await?;
    let refs = super::reference::snapshot(state).await?;
    let decisions = details
        .decisions
        .remove(&id)
        .unwrap_or_default()
        .into_iter()
        .map(|d| {
            let status = assignment_status(&d)?;
            let done_on = d.done_at.map(|t| t.with_timezone(&tz).date_naive());
            Ok(DecisionLine {
                recipient: d.recipient_id.map(|r| refs.recipient(r).map(|x| x.name.clone()).unwrap_or_default()),
                due: d.due_date,
                status,
                days_late: match (status, d.due_date) {
                    (Some(s), Some(due)) => DecisionLine::lateness(s, due, done_on, today),
                    _ => None,
                },
                practices: details
                    .practices
                    .get(&d.id)
                    .map_or_else(Vec::new, |l| l.iter().map(|p| p.title.clone()).collect()),
                text: d.text,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(MeetingDoc {
        title: m.title.clone(),
        status: status_of(&m)?,
        starts_at: m.starts_at.with_timezone(&tz),
        held_on: m.held_at.map(|t| t.with_timezone(&tz).date_naive()),
        place: m.place.clone(),
        participants: details.participants.remove(&id).unwrap_or_default().into_iter().map(|u| u.full_name).collect(),
        agenda: details.agenda.remove(&id).unwrap_or_default().into_iter().map(|a| (a.title, a.note)).collect(),
        decisions,
        prepared: state.clock.now().with_timezone(&tz),
    })
}
