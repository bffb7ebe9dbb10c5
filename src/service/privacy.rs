//! Personal data over its whole life (issue 19, items 6–7): the retention run's candidates and
//! its record, and the subject's rights (152-ФЗ ст. 14, 21) — finding everything about one
//! person by contact or name, exporting it (JSON, DOCX) and erasing it on request.
//!
//! Who: a CURATOR not limited to a territory (the request concerns the whole operator, and a
//! partial answer would mislead); ADMIN holds no appeals (59-ФЗ ст. 6), every other role and
//! every token is refused. The service checks it itself.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::{Caller, audit};
use crate::domain::access::{Principal, Role};
use crate::domain::retention::{Contact, name_key};
use crate::entity::{appeal, appeal_answer, appeal_event, audit_log, retention_day, user};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::privacy::{self, Anonymisation};

/// The audit action of a retention run (one entry per run, with its counts).
pub const RETAIN_ACTION: &str = "privacy.retain";
/// The audit action of an erasure on request.
pub const ERASE_ACTION: &str = "erasePersonalData";
/// At most this many appeals answer one subject request: more means the request names too
/// many people (a common name alone); give the contact as well.
pub const MAX_SUBJECT_APPEALS: usize = 500;
/// At most this many characters in the reason of an erasure.
pub const MAX_REASON: usize = 1000;
/// Rows read per statement while looking for a subject's appeals.
const SCAN_BATCH: u64 = 5000;

/// Closed appeals due for anonymisation (not anonymised since their last change, last
/// changed before `cutoff`), by id after `after`: ids and numbers.
///
/// # Errors
/// When the database fails.
pub async fn retention_candidates(
    conn: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
    after: i64,
    limit: u64,
) -> AppResult<Vec<(i64, String)>> {
    use appeal::Column as C;
    let rows: Vec<(i64, String)> = appeal::Entity::find()
        .select_only()
        .column(C::Id)
        .column(C::Number)
        .filter(C::Status.eq("CLOSED"))
        .filter(
            Condition::any().add(C::AnonymisedAt.is_null()).add(Expr::col(C::AnonymisedAt).lt(Expr::col(C::UpdatedAt))),
        )
        .filter(C::UpdatedAt.lt(cutoff))
        .filter(C::Id.gt(after))
        .order_by_asc(C::Id)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows)
}

/// Whether a retention run was recorded at or after `since`.
///
/// # Errors
/// When the database fails.
pub async fn retention_ran_since(conn: &impl ConnectionTrait, since: DateTime<Utc>) -> AppResult<bool> {
    let n = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq(RETAIN_ACTION))
        .filter(audit_log::Column::At.gte(since))
        .count(conn)
        .await?;
    Ok(n > 0)
}

/// Claims the retention run of the local `day` (`YYYY-MM-DD`) for this process: `true` when
/// no process claimed it before. One row per day whose key makes the claim atomic, so of two
/// replicas checking in the same moment exactly one runs the day's retention.
///
/// # Errors
/// When the database fails.
pub async fn claim_retention_day(state: &AppState, day: &str, at: DateTime<Utc>) -> AppResult<bool> {
    use sea_orm::sea_query::OnConflict;
    let txn = crate::db::begin_write(&state.writer).await?;
    let claim = retention_day::ActiveModel { day: Set(day.to_string()), claimed_at: Set(at) };
    let inserted = retention_day::Entity::insert(claim)
        .on_conflict(OnConflict::column(retention_day::Column::Day).do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(inserted == 1)
}

/// Gives back the claim of a day whose run failed, so that the next check runs it again.
///
/// # Errors
/// When the database fails.
pub async fn release_retention_day(state: &AppState, day: &str) -> AppResult<()> {
    let txn = crate::db::begin_write(&state.writer).await?;
    retention_day::Entity::delete_by_id(day.to_string()).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Whom a subject request is about: a contact, a name, or both (then an appeal must hold
/// both).
#[derive(Debug, Clone, Default)]
pub struct SubjectQuery {
    pub contact: Option<String>,
    pub name: Option<String>,
}

struct Matcher {
    contact: Option<Contact>,
    name: Option<Vec<String>>,
}

impl SubjectQuery {
    /// # Errors
    /// `BAD_USER_INPUT` at `contact`/`name` (under `prefix`) when neither is given, a contact
    /// is neither an e-mail address nor a phone number, or a name has no word.
    fn matcher(&self, prefix: &str) -> AppResult<Matcher> {
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let (contact, name) = (given(&self.contact), given(&self.name));
        if contact.is_none() && name.is_none() {
            return Err(AppError::bad(format!("{prefix}contact"), "give the person's contact, name or both"));
        }
        let contact = contact
            .map(|c| {
                Contact::parse(&c).ok_or_else(|| {
                    AppError::bad(format!("{prefix}contact"), "is neither an e-mail address nor a phone number")
                })
            })
            .transpose()?;
        let name = name.map(|n| name_key(&n));
        if name.as_ref().is_some_and(Vec::is_empty) {
            return Err(AppError::bad(format!("{prefix}name"), "has no word"));
        }
        Ok(Matcher { contact, name })
    }
}

impl Matcher {
    fn matches(&self, name: Option<&str>, contact: Option<&str>) -> bool {
        let contact_ok = self.contact.as_ref().is_none_or(|c| contact.is_some_and(|s| c.found_in(s)));
        let name_ok = self.name.as_ref().is_none_or(|n| name.is_some_and(|s| name_key(s) == *n));
        contact_ok && name_ok
    }
}

/// Everything the project holds about one person.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Their appeals, oldest first, as stored (unmasked).
    pub appeals: Vec<appeal::Model>,
    /// Every answer those appeals were given.
    pub answers: Vec<appeal_answer::Model>,
    /// The history of those appeals.
    pub history: Vec<appeal_event::Model>,
    /// Poll ballots linked to the person: always 0, since a ballot holds only a hash of its
    /// one-time key or code, never a contact.
    pub poll_ballots: u64,
    /// Staff accounts whose e-mail is the contact (an administrator handles accounts).
    pub staff_accounts: u64,
}

/// The caller may exercise subject rights: a CURATOR not limited to a territory.
fn check(caller: &Caller) -> AppResult<()> {
    match &caller.principal {
        Principal::Anonymous => Err(AppError::Unauthenticated("sign in to use this operation".into())),
        Principal::User(u) if u.has(Role::Curator) && u.territory_id.is_none() => Ok(()),
        Principal::User(u) if u.has(Role::Curator) => {
            Err(AppError::Forbidden("subject requests are handled by a curator of the whole municipality".into()))
        }
        _ => Err(AppError::Forbidden("you are not allowed to use this operation".into())),
    }
}

/// The ids of the appeals whose author fields match, scanning only the two columns.
async fn matching_ids(conn: &impl ConnectionTrait, m: &Matcher, prefix: &str) -> AppResult<Vec<i64>> {
    use appeal::Column as C;
    let mut out = Vec::new();
    let mut after = 0_i64;
    loop {
        let rows: Vec<(i64, Option<String>, Option<String>)> = appeal::Entity::find()
            .select_only()
            .column(C::Id)
            .column(C::AuthorName)
            .column(C::AuthorContact)
            .filter(Condition::any().add(C::AuthorName.is_not_null()).add(C::AuthorContact.is_not_null()))
            .filter(C::Id.gt(after))
            .order_by_asc(C::Id)
            .limit(SCAN_BATCH)
            .into_tuple()
            .all(conn)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        let full = rows.len() as u64 == SCAN_BATCH;
        out.extend(rows.into_iter().filter(|(_, n, c)| m.matches(n.as_deref(), c.as_deref())).map(|(id, _, _)| id));
        if out.len() > MAX_SUBJECT_APPEALS {
            return Err(AppError::bad(
                format!("{prefix}contact"),
                format!("more than {MAX_SUBJECT_APPEALS} appeals match: give both the contact and the name"),
            ));
        }
        if !full {
            break;
        }
    }
    Ok(out)
}

async fn load(conn: &impl ConnectionTrait, m: &Matcher, ids: Vec<i64>) -> AppResult<Subject> {
    let appeals = appeal::Entity::find()
        .filter(appeal::Column::Id.is_in(ids.clone()))
        .order_by_asc(appeal::Column::Id)
        .all(conn)
        .await?;
    let answers = appeal_answer::Entity::find()
        .filter(appeal_answer::Column::AppealId.is_in(ids.clone()))
        .order_by_asc(appeal_answer::Column::AppealId)
        .order_by_asc(appeal_answer::Column::Ordinal)
        .all(conn)
        .await?;
    let history = appeal_event::Entity::find()
        .filter(appeal_event::Column::AppealId.is_in(ids))
        .order_by_asc(appeal_event::Column::AppealId)
        .order_by_asc(appeal_event::Column::Id)
        .all(conn)
        .await?;
    let staff_accounts = match &m.contact {
        Some(Contact::Email(e)) => user::Entity::find().filter(user::Column::Email.eq(e.clone())).count(conn).await?,
        _ => 0,
    };
    Ok(Subject { appeals, answers, history, poll_ballots: 0, staff_accounts })
}

/// Everything about one person, for a subject's request (ст. 14). The read shows personal
/// data unmasked, so it is audited (`read.personalData`, the appeals' ids; the contact and
/// name asked for are not written to the audit trail).
///
/// # Errors
/// `UNAUTHENTICATED`/`FORBIDDEN` for callers other than a curator of the whole municipality;
/// `BAD_USER_INPUT` for a query without a usable contact or name, or one that matches too
/// many appeals; database errors.
pub async fn find(state: &AppState, caller: &Caller, q: &SubjectQuery, via: &str) -> AppResult<Subject> {
    check(caller)?;
    let m = q.matcher("")?;
    let ids = matching_ids(&state.db, &m, "").await?;
    let subject = load(&state.db, &m, ids).await?;
    if !subject.appeals.is_empty() {
        let ids: Vec<i64> = subject.appeals.iter().map(|a| a.id).collect();
        let data = serde_json::json!({ "subjectRequest": via, "count": ids.len(), "appealIds": ids });
        audit::record(&state.db, caller, state.clock.now(), "read.personalData", Some("subject".into()), Some(data))
            .await?;
    }
    Ok(subject)
}

/// What an erasure did.
#[derive(Debug, Clone, Default)]
pub struct Erasure {
    /// Numbers of the appeals anonymised.
    pub numbers: Vec<String>,
}

/// Erases one person's personal data on request (ст. 21): every appeal of theirs is
/// anonymised as by the retention run, at once, in one transaction, with one audit entry
/// (`erasePersonalData`: who, when, the reason, the appeals) besides each appeal's. An appeal
/// still being handled cannot lose its author's contact silently: when any of the person's
/// appeals is not CLOSED, nothing changes and the answer is `CONFLICT` naming them (erase
/// after they are closed). A second request finds nothing left to erase.
///
/// # Errors
/// As [`find`]; `BAD_USER_INPUT` at `input.reason` for a blank or overlong reason;
/// `CONFLICT` for appeals not closed.
pub async fn erase(state: &AppState, caller: &Caller, q: &SubjectQuery, reason: &str) -> AppResult<Erasure> {
    check(caller)?;
    let m = q.matcher("input.")?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(AppError::bad("input.reason", format!("must be 1 to {MAX_REASON} characters")));
    }
    // The scan reads every appeal's author columns: done before the write transaction (on
    // SQLite it would hold the only writer meanwhile); the rows found are read again in it.
    let found = matching_ids(&state.db, &m, "input.").await?;
    let txn = crate::db::begin_write(&state.writer).await?;
    let rows: Vec<(i64, String, String)> = appeal::Entity::find()
        .select_only()
        .column(appeal::Column::Id)
        .column(appeal::Column::Number)
        .column(appeal::Column::Status)
        .column(appeal::Column::AuthorName)
        .column(appeal::Column::AuthorContact)
        .filter(appeal::Column::Id.is_in(found))
        .order_by_asc(appeal::Column::Id)
        .into_tuple::<(i64, String, String, Option<String>, Option<String>)>()
        .all(&txn)
        .await?
        .into_iter()
        .filter(|(_, _, _, name, contact)| m.matches(name.as_deref(), contact.as_deref()))
        .map(|(id, number, status, _, _)| (id, number, status))
        .collect();
    let ids: Vec<i64> = rows.iter().map(|(id, _, _)| *id).collect();
    let open: Vec<&str> = rows.iter().filter(|(_, _, s)| s != "CLOSED").map(|(_, n, _)| n.as_str()).collect();
    if !open.is_empty() {
        return Err(AppError::Conflict(format!(
            "appeals {} are not closed: their author's contact is still needed; erase after they are closed",
            open.join(", ")
        )));
    }
    let now = state.clock.now();
    let actor = audit::actor(caller);
    let how = Anonymisation { at: now, actor: &actor, reason };
    let (mut numbers, mut files) = (Vec::new(), Vec::new());
    for chunk in ids.chunks(200) {
        let batch = privacy::anonymise(&txn, chunk, &how).await?;
        numbers.extend(batch.appeals.into_iter().map(|a| a.number));
        files.extend(batch.files);
    }
    let data =
        serde_json::json!({ "reason": reason, "count": numbers.len(), "numbers": numbers, "files": files.len() });
    audit::record(&txn, caller, now, ERASE_ACTION, Some("subject".into()), Some(data)).await?;
    txn.commit().await?;
    super::attachments::remove_files(state, &files).await;
    Ok(Erasure { numbers })
}

/// The subject's data as the JSON document handed to them.
pub fn to_json(s: &Subject, now: DateTime<Utc>) -> serde_json::Value {
    let appeals: Vec<serde_json::Value> = s
        .appeals
        .iter()
        .map(|a| {
            let answers: Vec<serde_json::Value> = s
                .answers
                .iter()
                .filter(|r| r.appeal_id == a.id)
                .map(|r| serde_json::json!({ "answeredAt": r.answered_at, "text": r.text }))
                .collect();
            let history: Vec<serde_json::Value> = s
                .history
                .iter()
                .filter(|e| e.appeal_id == a.id)
                .map(|e| serde_json::json!({ "at": e.at, "action": e.action, "status": e.to_status, "comment": e.comment }))
                .collect();
            serde_json::json!({
                "number": a.number,
                "kind": a.kind,
                "channel": a.channel,
                "status": a.status,
                "receivedAt": a.received_at,
                "authorName": a.author_name,
                "authorContact": a.author_contact,
                "text": a.text,
                "summary": a.summary,
                "address": a.address,
                "answers": answers,
                "history": history,
            })
        })
        .collect();
    serde_json::json!({
        "generatedAt": now,
        "appeals": appeals,
        "pollBallots": s.poll_ballots,
        "staffAccounts": s.staff_accounts,
    })
}

/// The subject's data as a Word document (the house style of `documents::docx`).
///
/// # Errors
/// `INTERNAL` when the document cannot be assembled.
pub fn to_docx(s: &Subject, now: DateTime<Utc>, tz: chrono_tz::Tz) -> AppResult<Vec<u8>> {
    use super::documents::docx::{Align, Column, Document, Span, Style, Table, cell};
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%d.%m.%Y %H:%M").to_string();
    let mut doc = Document::new("Сведения о персональных данных субъекта");
    doc.paragraph(Style::Title, &[Span::new("Сведения о персональных данных субъекта")]);
    doc.paragraph(Style::Subtitle, &[Span::new(format!("по состоянию на {} (152-ФЗ, ст. 14)", local(now)))]);
    doc.text(format!(
        "Обращений: {}. Бюллетеней опросов, связанных с контактом: {}. Учётных записей сотрудников с этим адресом: {}.",
        s.appeals.len(),
        s.poll_ballots,
        s.staff_accounts
    ));
    for a in &s.appeals {
        doc.heading(2, format!("Обращение № {} от {}", a.number, local(a.received_at)));
        let mut t = Table::layout(vec![Column::new("", 3000, Align::Left), Column::new("", 6600, Align::Left)]);
        let rows = [
            ("Канал", Some(a.channel.clone())),
            ("Статус", Some(a.status.clone())),
            ("Автор", a.author_name.clone()),
            ("Контакт", a.author_contact.clone()),
            ("Адрес", a.address.clone()),
            ("Текст", Some(a.text.clone())),
            ("Кратко", a.summary.clone()),
        ];
        for (k, v) in rows {
            if let Some(v) = v {
                t.row(vec![cell(k), cell(v)]);
            }
        }
        for r in s.answers.iter().filter(|r| r.appeal_id == a.id) {
            t.row(vec![cell(format!("Ответ от {}", local(r.answered_at))), cell(r.text.clone().unwrap_or_default())]);
        }
        doc.table(&t);
    }
    doc.finish(now)
}
