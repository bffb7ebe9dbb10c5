//! Persistence of appeals: the one row constructor, reads that give the typed record (enum
//! columns parsed once, here), registration numbers, and the write path every writer takes
//! (lifecycle steps, creation, ingestion and imports, demo data): the row, its search entry
//! (SQLite), the rollup ledger, the history entry and the audit entry, in the caller's
//! transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, NotSet,
    QueryFilter, QuerySelect, Set, Statement, Value,
};

use super::audit::{self, Actor};
use super::outbox::{self, Subject};
use super::rollup::{self, Facts};
use super::{conflict_facts, deliveries, number_days, search, tasks};
use crate::domain::access::Channel;
pub use crate::domain::appeal::{
    Appeal, AppealId, CategoryId, FirstAnswer, FreshAppeal, Placed, ReactionFact, RecipientId, RecordId, TerritoryId,
};
use crate::domain::deadlines::AppealKind;
pub use crate::domain::effects::{Change, Event, Payload};
use crate::domain::events::Topic;
use crate::domain::lifecycle::AppealStatus;
use crate::domain::notices;
use crate::domain::quality::{Completeness, NoAnswerReason};
use crate::entity::{appeal, appeal_answer, appeal_event};
use crate::error::{AppError, AppResult};

/// Whether a caller may see an appeal (the services' row scope).
pub trait Visibility {
    /// `true` when the appeal is within the caller's scope.
    fn sees(&self, a: &Appeal) -> bool;
}

fn parse<T: std::str::FromStr<Err = String>>(s: &str) -> AppResult<T> {
    s.parse().map_err(AppError::internal)
}

impl TryFrom<appeal::Model> for Appeal {
    type Error = AppError;

    /// The typed record of a row read whole: every enum column parsed (an unknown name is an
    /// internal error, since only this code writes them).
    fn try_from(m: appeal::Model) -> AppResult<Self> {
        let appeal::Model {
            id,
            number,
            kind,
            channel,
            external_id,
            status,
            received_at,
            registered_at,
            author_name,
            author_contact,
            anonymous,
            text,
            search_text,
            summary,
            category_id,
            suggested_category_id,
            territory_id,
            address,
            latitude,
            longitude,
            // Derived from the coordinates (see `row`).
            h3_cell: _,
            recipient_id,
            redirected_to,
            high_priority,
            sla_started_at,
            due_soon_at,
            due_at,
            extension_count,
            reacted_at,
            resolved_at,
            answered_at,
            answer_text,
            completeness,
            no_answer_reason,
            satisfaction_score,
            satisfied,
            feedback_code,
            feedback_expires_at,
            reopen_count,
            first_answered_at,
            first_due_at,
            first_completeness,
            first_satisfied,
            reaction_due_at,
            reaction_hours,
            duplicate_of_id,
            version,
            created_at,
            updated_at,
            anonymised_at,
        } = m;
        let first_answer = match (first_answered_at, first_due_at) {
            (Some(answered_at), Some(due_at)) => Some(FirstAnswer {
                answered_at,
                due_at,
                completeness: first_completeness.as_deref().map(parse).transpose()?,
                satisfied: first_satisfied,
            }),
            _ => None,
        };
        Ok(Self {
            id: AppealId(id),
            number,
            kind: parse(&kind)?,
            channel: parse(&channel)?,
            external_id,
            status: parse(&status)?,
            received_at,
            registered_at,
            author_name,
            author_contact,
            anonymous,
            text,
            search_text,
            summary,
            category_id: category_id.map(CategoryId),
            suggested_category_id: suggested_category_id.map(CategoryId),
            territory_id: territory_id.map(TerritoryId),
            address,
            latitude,
            longitude,
            recipient_id: recipient_id.map(RecipientId),
            redirected_to,
            high_priority,
            sla_started_at,
            due_soon_at,
            due_at,
            extension_count,
            reacted_at,
            resolved_at,
            answered_at,
            answer_text,
            completeness: completeness.as_deref().map(parse).transpose()?,
            no_answer_reason: no_answer_reason.as_deref().map(parse).transpose()?,
            satisfaction_score,
            satisfied,
            feedback_code,
            feedback_expires_at,
            reopen_count,
            first_answer,
            reaction: reaction_due_at
                .zip(reaction_hours)
                .map(|(due_at, working_hours)| ReactionFact { due_at, working_hours }),
            duplicate_of_id: duplicate_of_id.map(AppealId),
            version,
            created_at,
            updated_at,
            anonymised_at,
        })
    }
}

impl From<Appeal> for appeal::Model {
    /// The row of a typed record (for views that show rows, such as the GraphQL `Appeal`).
    fn from(a: Appeal) -> Self {
        Self {
            id: a.id.0,
            number: a.number,
            kind: a.kind.as_str().to_string(),
            channel: a.channel.as_str().to_string(),
            external_id: a.external_id,
            status: a.status.as_str().to_string(),
            received_at: a.received_at,
            registered_at: a.registered_at,
            author_name: a.author_name,
            author_contact: a.author_contact,
            anonymous: a.anonymous,
            text: a.text,
            search_text: a.search_text,
            summary: a.summary,
            category_id: a.category_id.map(|c| c.0),
            suggested_category_id: a.suggested_category_id.map(|c| c.0),
            territory_id: a.territory_id.map(|t| t.0),
            address: a.address,
            latitude: a.latitude,
            longitude: a.longitude,
            h3_cell: crate::domain::appeal::point_cell(a.latitude, a.longitude),
            recipient_id: a.recipient_id.map(|r| r.0),
            redirected_to: a.redirected_to,
            high_priority: a.high_priority,
            sla_started_at: a.sla_started_at,
            due_soon_at: a.due_soon_at,
            due_at: a.due_at,
            extension_count: a.extension_count,
            reacted_at: a.reacted_at,
            resolved_at: a.resolved_at,
            answered_at: a.answered_at,
            answer_text: a.answer_text,
            completeness: a.completeness.map(|c| c.as_str().to_string()),
            no_answer_reason: a.no_answer_reason.map(|r| r.as_str().to_string()),
            satisfaction_score: a.satisfaction_score,
            satisfied: a.satisfied,
            feedback_code: a.feedback_code,
            feedback_expires_at: a.feedback_expires_at,
            reopen_count: a.reopen_count,
            first_answered_at: a.first_answer.map(|f| f.answered_at),
            first_due_at: a.first_answer.map(|f| f.due_at),
            first_completeness: a.first_answer.and_then(|f| f.completeness).map(|c| c.as_str().to_string()),
            first_satisfied: a.first_answer.and_then(|f| f.satisfied),
            reaction_due_at: a.reaction.map(|r| r.due_at),
            reaction_hours: a.reaction.map(|r| r.working_hours),
            duplicate_of_id: a.duplicate_of_id.map(|d| d.0),
            version: a.version,
            created_at: a.created_at,
            updated_at: a.updated_at,
            anonymised_at: a.anonymised_at,
        }
    }
}

/// The one place an appeal row is built. Every column is named, so a new column is a
/// compile error here (and, through [`Appeal`], at every writer). The id is left to the
/// database on insert and to the statement's filter on update. Given the row as it was
/// (`before`), only the columns whose value changed are set: an update writes what changed
/// and leaves the other columns, and their indexes, alone.
fn row<Id: RecordId>(a: &Appeal<Id>, before: Option<&Appeal>) -> appeal::ActiveModel {
    macro_rules! col {
        ($field:ident) => {
            col!($field, |v: &_| Clone::clone(v))
        };
        ($field:ident, $into:expr) => {
            if before.is_some_and(|b| b.$field == a.$field) { NotSet } else { Set(($into)(&a.$field)) }
        };
    }
    macro_rules! reaction {
        ($part:expr) => {{
            let part = $part;
            let now = a.reaction.as_ref().and_then(part);
            if before.is_some_and(|b| b.reaction.as_ref().and_then(part) == now) { NotSet } else { Set(now) }
        }};
    }
    // The first answer's columns, each from its part of `first_answer` (NULL without one).
    macro_rules! first {
        ($part:expr) => {{
            let part = $part;
            let now = a.first_answer.as_ref().and_then(part);
            if before.is_some_and(|b| b.first_answer.as_ref().and_then(part) == now) { NotSet } else { Set(now) }
        }};
    }
    appeal::ActiveModel {
        id: NotSet,
        number: col!(number),
        kind: col!(kind, |k: &AppealKind| k.as_str().to_string()),
        channel: col!(channel, |c: &Channel| c.as_str().to_string()),
        external_id: col!(external_id),
        status: col!(status, |s: &AppealStatus| s.as_str().to_string()),
        received_at: col!(received_at),
        registered_at: col!(registered_at),
        author_name: col!(author_name),
        author_contact: col!(author_contact),
        anonymous: col!(anonymous),
        text: col!(text),
        search_text: col!(search_text),
        summary: col!(summary),
        category_id: col!(category_id, |c: &Option<CategoryId>| c.map(|c| c.0)),
        suggested_category_id: col!(suggested_category_id, |c: &Option<CategoryId>| c.map(|c| c.0)),
        territory_id: col!(territory_id, |t: &Option<TerritoryId>| t.map(|t| t.0)),
        address: col!(address),
        latitude: col!(latitude),
        longitude: col!(longitude),
        h3_cell: if before.is_some_and(|b| (b.latitude, b.longitude) == (a.latitude, a.longitude)) {
            NotSet
        } else {
            Set(crate::domain::appeal::point_cell(a.latitude, a.longitude))
        },
        recipient_id: col!(recipient_id, |r: &Option<RecipientId>| r.map(|r| r.0)),
        redirected_to: col!(redirected_to),
        high_priority: col!(high_priority),
        sla_started_at: col!(sla_started_at),
        due_soon_at: col!(due_soon_at),
        due_at: col!(due_at),
        extension_count: col!(extension_count),
        reacted_at: col!(reacted_at),
        resolved_at: col!(resolved_at),
        answered_at: col!(answered_at),
        answer_text: col!(answer_text),
        completeness: col!(completeness, |c: &Option<Completeness>| c.map(|c| c.as_str().to_string())),
        no_answer_reason: col!(no_answer_reason, |r: &Option<NoAnswerReason>| r.map(|r| r.as_str().to_string())),
        satisfaction_score: col!(satisfaction_score),
        satisfied: col!(satisfied),
        feedback_code: col!(feedback_code),
        feedback_expires_at: col!(feedback_expires_at),
        reopen_count: col!(reopen_count),
        first_answered_at: first!(|f: &FirstAnswer| Some(f.answered_at)),
        first_due_at: first!(|f: &FirstAnswer| Some(f.due_at)),
        first_completeness: first!(|f: &FirstAnswer| f.completeness.map(|c| c.as_str().to_string())),
        first_satisfied: first!(|f: &FirstAnswer| f.satisfied),
        reaction_due_at: reaction!(|r: &ReactionFact| Some(r.due_at)),
        reaction_hours: reaction!(|r: &ReactionFact| Some(r.working_hours)),
        duplicate_of_id: col!(duplicate_of_id, |d: &Option<AppealId>| d.map(|d| d.0)),
        version: col!(version),
        created_at: col!(created_at),
        updated_at: col!(updated_at),
        // Set by the anonymiser (`store::privacy`), and kept by an update from a source that
        // stores nothing personal on an anonymised appeal (`service::intake`).
        anonymised_at: col!(anonymised_at),
    }
}

impl Placed for appeal::Model {
    fn channel(&self) -> Option<Channel> {
        self.channel.parse().ok()
    }
    fn territory_id(&self) -> Option<i64> {
        self.territory_id
    }
    fn recipient_id(&self) -> Option<i64> {
        self.recipient_id
    }
}

/// The rollup facts of a record as the database holds them once it is written (instants at
/// the stored precision), so a batch insert need not return and decode them again.
impl<Id: RecordId> From<&Appeal<Id>> for Facts {
    fn from(a: &Appeal<Id>) -> Self {
        let at = crate::domain::stored_instant;
        Self {
            received_at: at(a.received_at),
            channel: a.channel.as_str().to_string(),
            kind: a.kind.as_str().to_string(),
            status: a.status.as_str().to_string(),
            category_id: a.category_id.map(|c| c.0),
            territory_id: a.territory_id.map(|t| t.0),
            recipient_id: a.recipient_id.map(|r| r.0),
            duplicate_of_id: a.duplicate_of_id.map(|d| d.0),
            due_at: at(a.due_at),
            due_soon_at: at(a.due_soon_at),
            resolved_at: a.resolved_at.map(at),
            first_answered_at: a.first_answer.map(|f| at(f.answered_at)),
            first_due_at: a.first_answer.map(|f| at(f.due_at)),
            first_completeness: a.first_answer.and_then(|f| f.completeness).map(|c| c.as_str().to_string()),
            first_satisfied: a.first_answer.and_then(|f| f.satisfied),
            reopen_count: a.reopen_count,
            h3_cell: crate::domain::appeal::point_cell(a.latitude, a.longitude),
            latitude: a.latitude,
            longitude: a.longitude,
        }
    }
}

fn typed(m: Option<appeal::Model>) -> AppResult<Option<Appeal>> {
    m.map(Appeal::try_from).transpose()
}

/// The appeal with this id, whoever may see it.
///
/// # Errors
/// When the database fails or the row holds a name this code does not know.
pub async fn load(conn: &impl ConnectionTrait, id: AppealId) -> AppResult<Option<Appeal>> {
    typed(appeal::Entity::find_by_id(id.0).one(conn).await?)
}

/// The appeal if the caller may see it, else `NOT_FOUND` (never `FORBIDDEN`, so ids cannot
/// be probed).
///
/// # Errors
/// `NOT_FOUND`, or when the database fails.
pub async fn load_visible(conn: &impl ConnectionTrait, scope: &impl Visibility, id: AppealId) -> AppResult<Appeal> {
    load(conn, id).await?.filter(|a| scope.sees(a)).ok_or_else(|| AppError::NotFound("appeal".into()))
}

/// The appeal with this registration number, if the caller may see it, else `NOT_FOUND`.
///
/// # Errors
/// `NOT_FOUND`, or when the database fails.
pub async fn by_number(conn: &impl ConnectionTrait, scope: &impl Visibility, number: &str) -> AppResult<Appeal> {
    let found = appeal::Entity::find().filter(appeal::Column::Number.eq(number.trim())).one(conn).await?;
    typed(found)?.filter(|a| scope.sees(a)).ok_or_else(|| AppError::NotFound("appeal".into()))
}

/// The appeal of a channel with this external id (the source's own id), if any.
///
/// # Errors
/// When the database fails.
pub async fn by_external_id(
    conn: &impl ConnectionTrait,
    channel: Channel,
    external_id: &str,
) -> AppResult<Option<Appeal>> {
    let found = appeal::Entity::find()
        .filter(appeal::Column::Channel.eq(channel.as_str()))
        .filter(appeal::Column::ExternalId.eq(external_id))
        .one(conn)
        .await?;
    typed(found)
}

/// The appeals of a channel with these external ids, in statements of at most `per_statement`
/// ids (padded, so that there are few statement texts; see [`crate::db::in_lists`]).
///
/// # Errors
/// When the database fails.
pub async fn by_external_ids(
    conn: &impl ConnectionTrait,
    channel: Channel,
    external_ids: &[String],
    per_statement: usize,
) -> AppResult<Vec<Appeal>> {
    let mut out = Vec::new();
    for list in crate::db::in_lists(external_ids, per_statement) {
        let rows = appeal::Entity::find()
            .filter(appeal::Column::Channel.eq(channel.as_str()))
            .filter(appeal::Column::ExternalId.is_in(list))
            .all(conn)
            .await?;
        for r in rows {
            out.push(Appeal::try_from(r)?);
        }
    }
    Ok(out)
}

/// The appeal whose author was given this feedback code, if any.
///
/// # Errors
/// When the database fails.
pub async fn by_feedback_code(conn: &impl ConnectionTrait, code: &str) -> AppResult<Option<Appeal>> {
    typed(appeal::Entity::find().filter(appeal::Column::FeedbackCode.eq(code)).one(conn).await?)
}

/// Reserves `n` consecutive registration numbers of `year` and returns the first.
/// Runs inside the caller's transaction, so a rollback gives the numbers back (no gaps).
///
/// # Errors
/// When the database fails.
pub async fn reserve_numbers(txn: &DatabaseTransaction, year: i32, n: i64) -> AppResult<i64> {
    // One statement: the year's row is created or moved on by `n`, and locked until the
    // caller's transaction ends (three statements before).
    let backend = txn.get_database_backend();
    let (y, k) = match backend {
        DatabaseBackend::Postgres => ("$1", "$2"),
        _ => ("?", "?"),
    };
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "INSERT INTO appeal_counters (year, last) VALUES ({y}, {k}) ON CONFLICT (year) \
                 DO UPDATE SET last = appeal_counters.last + excluded.last RETURNING last"
            ),
            [Value::from(year), Value::from(n)],
        ))
        .await?
        .ok_or_else(|| AppError::internal("the number counter returned no row"))?;
    let last: i64 = row.try_get("", "last")?;
    Ok(last - n + 1)
}

/// The registration number `2026-000123`.
pub fn format_number(year: i32, seq: i64) -> String {
    format!("{year}-{seq:06}")
}

/// Who writes a change and when, as its history entry and its audit entry record them.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    pub at: DateTime<Utc>,
    /// The history entry's actor: the caller's label, `author` or `system`.
    pub actor: &'a str,
    /// The caller, for the audit entry; `None` for a change that follows from another one
    /// in the same transaction (whose audit entry covers it).
    pub audit: Option<&'a Actor>,
}

fn event_row(appeal_id: AppealId, at: DateTime<Utc>, actor: &str, e: &Event) -> appeal_event::ActiveModel {
    appeal_event::ActiveModel {
        id: NotSet,
        appeal_id: Set(appeal_id.0),
        at: Set(at),
        actor: Set(actor.to_string()),
        action: Set(e.action.to_string()),
        from_status: Set(e.from.map(|s| s.as_str().to_string())),
        to_status: Set(e.to.map(|s| s.as_str().to_string())),
        comment: Set(e.comment.clone()),
        data: Set(e.payload.to_json().map(|d| d.to_string())),
    }
}

/// The topic an appeal's change is announced under.
fn topic_of(e: &Event, created: bool) -> Topic {
    if created {
        return Topic::AppealCreated;
    }
    match e.action {
        "assignAppeal" | "redirectAppeal" => Topic::AppealAssigned,
        "answerAppeal" => Topic::AppealAnswered,
        _ => Topic::AppealChanged,
    }
}

/// The announcement of a change: what happened and where the appeal stands, without any
/// personal data (a subscriber or an integration reads the appeal itself under its rules).
fn announcement(appeal: &Appeal, e: &Event) -> serde_json::Value {
    serde_json::json!({
        "appealId": appeal.id.0,
        "number": appeal.number,
        "action": e.action,
        "from": e.from.map(AppealStatus::as_str),
        "to": e.to.map(AppealStatus::as_str),
        "status": appeal.status.as_str(),
        "channel": appeal.channel.as_str(),
        "kind": appeal.kind.as_str(),
        "recipientId": appeal.recipient_id.map(|r| r.0),
        "categoryId": appeal.category_id,
        "territoryId": appeal.territory_id,
        "version": appeal.version,
        "dueAt": appeal.due_at,
    })
}

/// Writes what is recorded about one change of an appeal: its history entry, for a caller's
/// mutation the audit entry, and the outbox row that announces it (subscriptions,
/// notifications, webhooks) — all in the change's transaction, so a change that rolls back
/// is never announced.
async fn record(
    txn: &DatabaseTransaction,
    appeal: &Appeal,
    e: &Event,
    stamp: Stamp<'_>,
    created: bool,
) -> AppResult<i64> {
    let id = appeal.id;
    appeal_event::Entity::insert(event_row(id, stamp.at, stamp.actor, e)).exec_without_returning(txn).await?;
    if let Some(actor) = stamp.audit {
        audit::write(txn, actor, stamp.at, e.action, Some(format!("appeal:{id}")), None).await?;
    }
    let topic = topic_of(e, created);
    let outbox_id = outbox::record(txn, topic, Subject::Appeal(id.0), &announcement(appeal, e), stamp.at).await?;
    Ok(outbox_id)
}

/// The notice the law requires to the author after this change, if any
/// ([`notices::author_notice`]): an e-mail queued in this transaction when the author's
/// contact is an e-mail address, else the task «направить уведомление почтой» on the appeal.
/// In the change's transaction, so every writer gets it and a change that rolls back sends
/// nothing.
async fn notify_author(
    txn: &DatabaseTransaction,
    tz: chrono_tz::Tz,
    saved: &Appeal,
    e: &Event,
    at: DateTime<Utc>,
    outbox_id: i64,
) -> AppResult<()> {
    let Some(notice) = notices::author_notice(saved, e, at, tz) else { return Ok(()) };
    if let Some(to) = notices::email_address(saved.author_contact.as_deref()) {
        let mail = deliveries::NewMail {
            target: format!("author:{}", saved.id.0),
            outbox_id,
            topic: topic_of(e, false).as_str().to_owned(),
            key: format!("mail:{outbox_id}:author"),
            envelope: notices::Envelope { to, subject: notice.subject, body: notice.body },
        };
        deliveries::queue_mail(txn, notices::CHANNEL_MAIL, vec![mail], at).await?;
    } else {
        let text = notices::post_task_text(saved, &notice);
        tasks::add(txn, saved.id.0, notices::TaskKind::PostNotice, text, at).await?;
    }
    Ok(())
}

/// The answer row of the answer `a` holds now, numbered `ordinal`.
fn answer_row<Id: RecordId>(
    appeal_id: AppealId,
    a: &Appeal<Id>,
    ordinal: i32,
    author: &str,
) -> Option<appeal_answer::ActiveModel> {
    let at = a.answered_at?;
    Some(appeal_answer::ActiveModel {
        id: NotSet,
        appeal_id: Set(appeal_id.0),
        ordinal: Set(ordinal),
        answered_at: Set(at),
        due_at: Set(a.due_at),
        on_time: Set(at <= a.due_at),
        text: Set(a.answer_text.clone()),
        completeness: Set(a.completeness.map(|c| c.as_str().to_string())),
        satisfied: Set(a.satisfied),
        satisfaction_score: Set(a.satisfaction_score),
        author: Set(author.to_string()),
    })
}

/// Keeps the answers of an appeal as facts (`appeal_answers`): a new answer (one the appeal
/// did not hold before this write) is added after the ones before it; an assessment, a
/// rating or a corrected text of the answer it holds updates that answer's row. A reopening
/// clears the appeal's answer columns and leaves the rows alone.
async fn record_answer(txn: &DatabaseTransaction, old: Option<&Appeal>, saved: &Appeal, actor: &str) -> AppResult<()> {
    use appeal_answer::Column as A;
    let Some(at) = saved.answered_at else { return Ok(()) };
    let before = old.and_then(|o| o.answered_at);
    if before != Some(at) {
        let given = appeal_answer::Entity::find()
            .filter(A::AppealId.eq(saved.id.0))
            .select_only()
            .expr(Expr::col(A::Ordinal).max())
            .into_tuple::<Option<i32>>()
            .one(txn)
            .await?
            .flatten()
            .unwrap_or(0);
        if let Some(r) = answer_row(saved.id, saved, given + 1, actor) {
            appeal_answer::Entity::insert(r).exec_without_returning(txn).await?;
        }
        return Ok(());
    }
    let Some(o) = old else { return Ok(()) };
    if (o.completeness, o.satisfied, o.satisfaction_score, &o.answer_text)
        != (saved.completeness, saved.satisfied, saved.satisfaction_score, &saved.answer_text)
    {
        appeal_answer::Entity::update_many()
            .col_expr(A::Completeness, Expr::value(saved.completeness.map(|c| c.as_str().to_string())))
            .col_expr(A::Satisfied, Expr::value(saved.satisfied))
            .col_expr(A::SatisfactionScore, Expr::value(saved.satisfaction_score))
            .col_expr(A::Text, Expr::value(saved.answer_text.clone()))
            .filter(A::AppealId.eq(saved.id.0))
            .filter(A::AnsweredAt.eq(at))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// The author's group of an appeal for the repeat flag: its category and contact, when it
/// has both.
fn group_of(a: &Appeal) -> Option<(i64, String)> {
    Some((a.category_id?.0, a.author_contact.clone()?))
}

/// Stores a change of `old` (as read in this transaction): writes the changed columns if the
/// row still has `old`'s version (one statement, so concurrent writers cannot both win),
/// reads the row back, and records the change in the rollup ledger, the history and the
/// audit trail. The store sets the new version and `updated_at`.
///
/// # Errors
/// `CONFLICT` when the version moved on meanwhile; when the database fails.
pub async fn save_change(
    txn: &DatabaseTransaction,
    tz: chrono_tz::Tz,
    old: &Appeal,
    change: Change,
    stamp: Stamp<'_>,
) -> AppResult<Appeal> {
    let Change { mut next, event } = change;
    next.keep_first_answer();
    next.id = old.id;
    next.version = old.version + 1;
    next.updated_at = stamp.at;
    // A move between authors' groups (category, contact, receipt) refreshes the stored
    // repeat flags around both places; the lock comes before this write's row lock.
    let regroups = (old.category_id, &old.author_contact, old.received_at)
        != (next.category_id, &next.author_contact, next.received_at);
    if regroups {
        conflict_facts::lock(txn).await?;
    }
    let res = appeal::Entity::update_many()
        .set(row(&next, Some(old)))
        .filter(appeal::Column::Id.eq(old.id.0))
        .filter(appeal::Column::Version.eq(old.version))
        .exec(txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::stale("the appeal"));
    }
    let saved = load(txn, old.id).await?.ok_or_else(|| AppError::NotFound("appeal".into()))?;
    if (old.received_at, &old.number) != (saved.received_at, &saved.number) {
        number_days::widen(txn, saved.received_at, &saved.number).await?;
    }
    search::reindex(txn, saved.id.0, &old.search_text, &saved.search_text).await?;
    if regroups {
        let groups: Vec<(i64, String)> = [old, &saved].iter().filter_map(|a| group_of(a)).collect();
        let leaving: Vec<i64> = group_of(&saved).is_none().then_some(saved.id.0).into_iter().collect();
        conflict_facts::refresh_groups(txn, &groups, &[old.received_at, saved.received_at], &leaving).await?;
    }
    let escalation = conflict_facts::escalation_of(saved.channel, &saved.text);
    if escalation != conflict_facts::escalation_of(old.channel, &old.text) {
        conflict_facts::set_escalation(txn, &[saved.id.0], escalation).await?;
    }
    rollup::record(txn, tz, Some(&Facts::from(old)), Some(&Facts::from(&saved))).await?;
    record_answer(txn, Some(old), &saved, stamp.actor).await?;
    let outbox_id = record(txn, &saved, &event, stamp, false).await?;
    notify_author(txn, tz, &saved, &event, stamp.at, outbox_id).await?;
    Ok(saved)
}

/// Stores a new appeal and records its arrival (rollup ledger, history, audit trail).
///
/// # Errors
/// When the database fails (`CONFLICT` for a number or external id already taken).
pub async fn insert(
    txn: &DatabaseTransaction,
    tz: chrono_tz::Tz,
    fresh: &FreshAppeal,
    event: &Event,
    stamp: Stamp<'_>,
) -> AppResult<Appeal> {
    let mut fresh = fresh.clone();
    fresh.keep_first_answer();
    let joins = fresh.category_id.is_some() && fresh.author_contact.is_some();
    if joins {
        conflict_facts::lock(txn).await?;
    }
    let saved = Appeal::try_from(row(&fresh, None).insert(txn).await?)?;
    number_days::widen(txn, saved.received_at, &saved.number).await?;
    search::index_new(txn, &[saved.id.0]).await?;
    if joins {
        conflict_facts::refresh_inserted(txn, saved.id.0, saved.id.0, &[saved.received_at]).await?;
    }
    if conflict_facts::escalation_of(saved.channel, &saved.text) {
        conflict_facts::set_escalation(txn, &[saved.id.0], true).await?;
    }
    rollup::record(txn, tz, None, Some(&Facts::from(&saved))).await?;
    record_answer(txn, None, &saved, stamp.actor).await?;
    record(txn, &saved, event, stamp, true).await?;
    Ok(saved)
}

/// A new appeal with the history entry of its arrival, for [`insert_many`].
#[derive(Debug, Clone)]
pub struct Arrival {
    pub appeal: FreshAppeal,
    /// When the history says it arrived.
    pub at: DateTime<Utc>,
    pub event: Event,
}

/// Who writes a batch of new appeals: the history entries' actor, and the one audit entry
/// of the batch (`appeals:<n>`, `{"created": n}`).
#[derive(Debug, Clone, Copy)]
pub struct BatchStamp<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub audit: &'a Actor,
    /// The audit entry's action (`ingestAppeals`, `seedDemo`).
    pub action: &'a str,
    /// Whether each new appeal is announced (`APPEAL_CREATED` outbox rows); demo data is not.
    pub announce: bool,
}

/// An appeal's id and number, as a bulk insert returns them.
#[derive(sea_orm::FromQueryResult)]
struct NumberedId {
    id: i64,
    number: String,
}

/// Stores new appeals in multi-row statements of at most `max` rows (see
/// [`crate::db::insert_rows`]) and records them: the rollup ledger, one history entry each,
/// one audit entry for the batch. Returns their ids, in the order of `arrivals`.
///
/// # Errors
/// When the database fails (`CONFLICT` for a number or external id already taken).
pub async fn insert_many(
    txn: &DatabaseTransaction,
    tz: chrono_tz::Tz,
    arrivals: Vec<Arrival>,
    stamp: BatchStamp<'_>,
    max: usize,
) -> AppResult<Vec<AppealId>> {
    if arrivals.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = Vec::with_capacity(arrivals.len());
    let mut numbers = Vec::with_capacity(arrivals.len());
    let mut events = HashMap::with_capacity(arrivals.len());
    let mut answers = HashMap::new();
    // Receipts of the arrivals that join an author's group, and the numbers of the social
    // posts with words of escalation.
    let mut joining = Vec::new();
    let mut escalating = std::collections::HashSet::new();
    for a in &arrivals {
        if a.appeal.category_id.is_some() && a.appeal.author_contact.is_some() {
            joining.push(a.appeal.received_at);
        }
        if conflict_facts::escalation_of(a.appeal.channel, &a.appeal.text) {
            escalating.insert(a.appeal.number.clone());
        }
    }
    if !joining.is_empty() {
        conflict_facts::lock(txn).await?;
    }
    let mut facts = Vec::with_capacity(arrivals.len());
    let mut spans = number_days::Spans::default();
    for mut a in arrivals {
        a.appeal.keep_first_answer();
        spans.add(a.appeal.received_at, &a.appeal.number);
        if a.appeal.answered_at.is_some() {
            answers.insert(a.appeal.number.clone(), a.appeal.clone());
        }
        rows.push(row(&a.appeal, None));
        facts.push(Facts::from(&a.appeal));
        numbers.push(a.appeal.number.clone());
        events.insert(a.appeal.number, (a.at, a.event));
    }
    // The insert returns the ids only; the facts are those just written.
    let returned: Vec<NumberedId> =
        crate::db::insert_rows_returning(txn, rows, max, &[appeal::Column::Id, appeal::Column::Number]).await?;
    let mut ids_of: HashMap<String, i64> = returned.into_iter().map(|r| (r.number, r.id)).collect();
    // In the arrivals' order (callers pair the ids with their items), whatever order
    // `RETURNING` gave them in.
    let inserted: Vec<rollup::Inserted> = numbers
        .into_iter()
        .zip(facts)
        .map(|(number, facts)| {
            let id = ids_of
                .remove(&number)
                .ok_or_else(|| AppError::internal("the insert did not return every new appeal"))?;
            Ok(rollup::Inserted { id, number, facts })
        })
        .collect::<AppResult<_>>()?;
    rollup::record_inserted(txn, tz, &inserted).await?;
    spans.write(txn).await?;
    let ids: Vec<AppealId> = inserted.iter().map(|i| AppealId(i.id)).collect();
    search::index_new(txn, &inserted.iter().map(|i| i.id).collect::<Vec<_>>()).await?;
    if let (Some(first), Some(last)) = (ids.iter().map(|i| i.0).min(), ids.iter().map(|i| i.0).max())
        && !joining.is_empty()
    {
        conflict_facts::refresh_inserted(txn, first, last, &joining).await?;
    }
    let escalated: Vec<i64> = inserted.iter().filter(|i| escalating.contains(&i.number)).map(|i| i.id).collect();
    conflict_facts::set_escalation(txn, &escalated, true).await?;
    let event_rows: Vec<appeal_event::ActiveModel> = inserted
        .iter()
        .filter_map(|i| events.get(&i.number).map(|(at, e)| event_row(AppealId(i.id), *at, stamp.actor, e)))
        .collect();
    crate::db::insert_rows(txn, event_rows, max).await?;
    let answer_rows: Vec<appeal_answer::ActiveModel> = inserted
        .iter()
        .filter_map(|i| answers.get(&i.number).and_then(|a| answer_row(AppealId(i.id), a, 1, stamp.actor)))
        .collect();
    crate::db::insert_rows(txn, answer_rows, max).await?;
    let n = ids.len();
    audit::write(
        txn,
        stamp.audit,
        stamp.at,
        stamp.action,
        Some(format!("appeals:{n}")),
        Some(serde_json::json!({ "created": n })),
    )
    .await?;
    if stamp.announce {
        let announcements: Vec<crate::entity::outbox::ActiveModel> = inserted
            .iter()
            .filter_map(|i| {
                let (_, e) = events.get(&i.number)?;
                let data = serde_json::json!({
                    "appealId": i.id, "number": i.number, "action": e.action, "to": e.to.map(AppealStatus::as_str),
                });
                Some(outbox::row(Topic::AppealCreated, Subject::Appeal(i.id), data.to_string(), stamp.at))
            })
            .collect();
        crate::db::insert_rows(txn, announcements, max).await?;
    }
    Ok(ids)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use chrono::TimeZone;
    use sea_orm::{ActiveValue, Iterable};

    use super::*;

    /// An appeal with every optional column filled, so that a column the conversions forget
    /// shows up as a difference.
    pub(crate) fn sample() -> Appeal {
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        Appeal {
            id: AppealId(42),
            number: "2026-000042".into(),
            kind: AppealKind::Message,
            channel: Channel::Pos,
            external_id: Some("pos-1".into()),
            status: AppealStatus::Answered,
            received_at: t,
            registered_at: Some(t),
            author_name: Some("Анна".into()),
            author_contact: Some("a@b.ru".into()),
            anonymous: false,
            text: "Яма".into(),
            search_text: "ям".into(),
            summary: Some("яма".into()),
            category_id: Some(CategoryId(3)),
            suggested_category_id: Some(CategoryId(4)),
            territory_id: Some(TerritoryId(5)),
            address: Some("ул. Ленина, 1".into()),
            latitude: Some(54.0),
            longitude: Some(90.2),
            recipient_id: Some(RecipientId(6)),
            redirected_to: Some("Минздрав".into()),
            high_priority: true,
            sla_started_at: t,
            due_soon_at: t,
            due_at: t,
            extension_count: 1,
            reacted_at: Some(t),
            resolved_at: Some(t),
            answered_at: Some(t),
            answer_text: Some("Отремонтировано".into()),
            completeness: Some(Completeness::Partial),
            no_answer_reason: Some(NoAnswerReason::Obscene),
            satisfaction_score: Some(4),
            satisfied: Some(true),
            feedback_code: Some("ABCDEF2345".into()),
            feedback_expires_at: Some(t),
            reopen_count: 2,
            first_answer: Some(FirstAnswer {
                answered_at: t - chrono::Duration::days(3),
                due_at: t - chrono::Duration::days(4),
                completeness: Some(Completeness::Formal),
                satisfied: Some(false),
            }),
            reaction: Some(ReactionFact { due_at: t, working_hours: 2.5 }),
            duplicate_of_id: Some(AppealId(7)),
            version: 3,
            created_at: t,
            updated_at: t,
            anonymised_at: Some(t),
        }
    }

    #[test]
    fn the_facts_of_a_new_record_are_those_its_row_is_read_back_with() {
        use chrono::Timelike;
        let a = sample();
        assert_eq!(Facts::from(&a), Facts::from(&appeal::Model::from(a.clone())));
        let unanswered = Appeal { first_answer: None, resolved_at: None, duplicate_of_id: None, ..a.clone() };
        assert_eq!(Facts::from(&unanswered), Facts::from(&appeal::Model::from(unanswered.clone())));
        // Instants as the database keeps them: whole microseconds.
        let fine = Appeal { received_at: a.received_at.with_nanosecond(123_456_789).unwrap(), ..a };
        assert_eq!(Facts::from(&fine).received_at.nanosecond(), 123_456_000);
    }

    #[test]
    fn a_row_and_its_typed_record_convert_both_ways_unchanged() {
        let a = sample();
        let row = appeal::Model::from(a.clone());
        assert_eq!(row.status, "ANSWERED");
        assert_eq!(row.completeness.as_deref(), Some("PARTIAL"));
        assert_eq!(Appeal::try_from(row).unwrap(), a);
        let broken = appeal::Model { channel: "FAX".into(), ..appeal::Model::from(a) };
        assert!(Appeal::try_from(broken).is_err(), "an unknown name is refused at the boundary");
    }

    #[test]
    fn a_new_row_sets_every_column_but_the_id_and_an_update_only_what_changed() {
        let a = sample();
        let fresh = row(&a, None);
        for col in appeal::Column::iter() {
            let set = matches!(fresh.get(col), ActiveValue::Set(_));
            assert_eq!(set, !matches!(col, appeal::Column::Id), "{col:?}");
        }
        let same = row(&a, Some(&a));
        assert!(appeal::Column::iter().all(|c| matches!(same.get(c), ActiveValue::NotSet)));
        let mut next = a.clone();
        next.status = AppealStatus::Closed;
        next.version += 1;
        next.completeness = None;
        let update = row(&next, Some(&a));
        let set: Vec<String> = appeal::Column::iter()
            .filter(|c| matches!(update.get(*c), ActiveValue::Set(_)))
            .map(|c| format!("{c:?}"))
            .collect();
        assert_eq!(set, ["Status", "Completeness", "Version"]);
        assert_eq!(update.get(appeal::Column::Status), ActiveValue::Set("CLOSED".into()));
    }
}
