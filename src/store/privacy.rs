//! The anonymiser (issue 19, items 6–7): removes an appeal's personal data in the caller's
//! transaction, wherever the project keeps it — the author's name, contact and feedback code
//! on the row; its text, summary, address and answer masked ([`retention::scrub`]), with the
//! search index following; every answer given (`appeal_answers`); the history's comments and
//! data; the tasks' texts (a notice to post names the author); the e-mails to the author
//! (address and body; one not sent yet is not sent). What the analytics count (status,
//! channel, kind, category, territory, recipient, dates, deadlines, scores, coordinates) is
//! not touched, so the rollup ledger needs no entry.
//!
//! Each appeal anonymised gets a new version, one history entry and one audit entry (the
//! action and target of the entry, at the same instant), like every write of an appeal, and
//! `anonymised_at`; nothing is announced (a retention run over a million appeals would flood
//! the webhooks and subscriptions with changes nobody acts on).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, NotSet, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::audit::Actor;
use super::search;
use crate::domain::appeal::search_text;
use crate::domain::notices::Envelope;
use crate::domain::retention::{ERASED, scrub, scrub_address, scrub_event_data};
use crate::entity::{appeal, appeal_answer, appeal_event, appeal_task, attachment, audit_log, delivery};
use crate::error::AppResult;

/// The history entry's and audit entry's action of an anonymisation.
pub const ACTION: &str = "anonymiseAppeal";

/// Who anonymises and why, as the history and the audit trail record it.
#[derive(Debug, Clone, Copy)]
pub struct Anonymisation<'a> {
    pub at: DateTime<Utc>,
    /// The history entry's actor label.
    pub actor: &'a Actor,
    /// The history entry's comment and the audit entry's `reason`: the retention rule, or
    /// the reason given with a request to erase.
    pub reason: &'a str,
}

/// An appeal that was anonymised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anonymised {
    pub id: i64,
    pub number: String,
}

/// One batch anonymised: the appeals, and the rows of their attachments deleted with them,
/// whose stored files the caller removes once the transaction commits.
pub struct AnonymisedBatch {
    pub appeals: Vec<Anonymised>,
    pub files: Vec<attachment::Model>,
}

/// The rows of these appeals, locked against concurrent writers on PostgreSQL.
async fn lock(txn: &DatabaseTransaction, ids: &[i64]) -> AppResult<Vec<appeal::Model>> {
    let mut q = appeal::Entity::find().filter(appeal::Column::Id.is_in(ids.to_vec())).order_by_asc(appeal::Column::Id);
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        q = q.lock(LockType::NoKeyUpdate);
    }
    Ok(q.all(txn).await?)
}

/// Anonymises the appeals `ids` (at most a few hundred: one batch) that are not anonymised
/// since their last change, and returns those it anonymised, by id, with the attachment
/// rows it deleted (their files are the caller's to remove after the commit). Analytics are
/// left as they were.
///
/// # Errors
/// When the database fails.
pub async fn anonymise(txn: &DatabaseTransaction, ids: &[i64], how: &Anonymisation<'_>) -> AppResult<AnonymisedBatch> {
    use appeal::Column as C;
    // The contacts leave the authors' groups: the repeat flags' lock before the rows' locks.
    super::conflict_facts::lock(txn).await?;
    let rows: Vec<appeal::Model> =
        lock(txn, ids).await?.into_iter().filter(|a| a.anonymised_at.is_none_or(|at| at < a.updated_at)).collect();
    if rows.is_empty() {
        return Ok(AnonymisedBatch { appeals: Vec::new(), files: Vec::new() });
    }
    let mut done = Vec::with_capacity(rows.len());
    let mut known_of = std::collections::HashMap::new();
    let (mut calm, mut escalating) = (Vec::new(), Vec::new());
    for a in &rows {
        let known: Vec<String> = [&a.author_name, &a.author_contact].into_iter().flatten().cloned().collect();
        let text = scrub(&a.text, &known);
        let text_after = text.clone();
        let summary = a.summary.as_deref().map(|s| scrub(s, &known));
        let address = a.address.as_deref().map(|s| scrub_address(s, &known));
        let answer = a.answer_text.as_deref().map(|s| scrub(s, &known));
        let stems = search_text(&text, summary.as_deref(), address.as_deref());
        let res = appeal::Entity::update_many()
            .col_expr(C::AuthorName, Expr::value(Option::<String>::None))
            .col_expr(C::AuthorContact, Expr::value(Option::<String>::None))
            .col_expr(C::FeedbackCode, Expr::value(Option::<String>::None))
            .col_expr(C::FeedbackExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(C::Text, Expr::value(text))
            .col_expr(C::Summary, Expr::value(summary))
            .col_expr(C::Address, Expr::value(address))
            .col_expr(C::AnswerText, Expr::value(answer))
            .col_expr(C::SearchText, Expr::value(stems.clone()))
            .col_expr(C::Version, Expr::value(a.version + 1))
            .col_expr(C::UpdatedAt, Expr::value(how.at))
            .col_expr(C::AnonymisedAt, Expr::value(Some(how.at)))
            .filter(C::Id.eq(a.id))
            .filter(C::Version.eq(a.version))
            .exec(txn)
            .await?;
        if res.rows_affected != 1 {
            continue;
        }
        search::reindex(txn, a.id, &a.search_text, &stems).await?;
        // The text is masked: whether it still escalates (a masked name is no word of it).
        let channel: crate::domain::access::Channel = a.channel.parse().map_err(crate::error::AppError::internal)?;
        if super::conflict_facts::escalation_of(channel, &text_after) {
            escalating.push(a.id);
        } else {
            calm.push(a.id);
        }
        known_of.insert(a.id, known);
        done.push(Anonymised { id: a.id, number: a.number.clone() });
    }
    let ids: Vec<i64> = done.iter().map(|d| d.id).collect();
    super::conflict_facts::set_escalation(txn, &calm, false).await?;
    super::conflict_facts::set_escalation(txn, &escalating, true).await?;
    let anonymised: Vec<&appeal::Model> = rows.iter().filter(|a| ids.contains(&a.id)).collect();
    let groups: Vec<(i64, String)> =
        anonymised.iter().filter_map(|a| Some((a.category_id?, a.author_contact.clone()?))).collect();
    let instants: Vec<DateTime<Utc>> = anonymised.iter().map(|a| a.received_at).collect();
    super::conflict_facts::refresh_groups(txn, &groups, &instants, &ids).await?;
    scrub_answers(txn, &ids, &known_of).await?;
    scrub_history(txn, &ids, &known_of).await?;
    scrub_tasks(txn, &ids, &known_of).await?;
    scrub_mail(txn, &ids, &known_of, how.at).await?;
    let files = delete_attachments(txn, &ids).await?;
    record(txn, &rows, &ids, how).await?;
    Ok(AnonymisedBatch { appeals: done, files })
}

type Known = std::collections::HashMap<i64, Vec<String>>;

fn known(known: &Known, id: i64) -> &[String] {
    known.get(&id).map(Vec::as_slice).unwrap_or_default()
}

async fn scrub_answers(txn: &DatabaseTransaction, ids: &[i64], k: &Known) -> AppResult<()> {
    use appeal_answer::Column as A;
    for r in appeal_answer::Entity::find().filter(A::AppealId.is_in(ids.to_vec())).all(txn).await? {
        let text = r.text.as_deref().map(|t| scrub(t, known(k, r.appeal_id)));
        if text != r.text {
            appeal_answer::Entity::update_many()
                .col_expr(A::Text, Expr::value(text))
                .filter(A::Id.eq(r.id))
                .exec(txn)
                .await?;
        }
    }
    Ok(())
}

async fn scrub_history(txn: &DatabaseTransaction, ids: &[i64], k: &Known) -> AppResult<()> {
    use appeal_event::Column as E;
    for e in appeal_event::Entity::find().filter(E::AppealId.is_in(ids.to_vec())).all(txn).await? {
        let known = known(k, e.appeal_id);
        let comment = e.comment.as_deref().map(|c| scrub(c, known));
        let data = e.data.as_deref().map(|d| match serde_json::from_str::<serde_json::Value>(d) {
            Ok(mut v) => {
                scrub_event_data(&mut v, known);
                v.to_string()
            }
            // Not JSON (never written so): treated as free text.
            Err(_) => scrub(d, known),
        });
        if comment != e.comment || data != e.data {
            appeal_event::Entity::update_many()
                .col_expr(E::Comment, Expr::value(comment))
                .col_expr(E::Data, Expr::value(data))
                .filter(E::Id.eq(e.id))
                .exec(txn)
                .await?;
        }
    }
    Ok(())
}

async fn scrub_tasks(txn: &DatabaseTransaction, ids: &[i64], k: &Known) -> AppResult<()> {
    use appeal_task::Column as T;
    for t in appeal_task::Entity::find().filter(T::AppealId.is_in(ids.to_vec())).all(txn).await? {
        let text = scrub(&t.text, known(k, t.appeal_id));
        if text != t.text {
            appeal_task::Entity::update_many()
                .col_expr(T::Text, Expr::value(text))
                .filter(T::Id.eq(t.id))
                .exec(txn)
                .await?;
        }
    }
    Ok(())
}

/// E-mails to the author: the address and the body are removed, the subject line scrubbed;
/// one still pending is not sent.
async fn scrub_mail(txn: &DatabaseTransaction, ids: &[i64], k: &Known, at: DateTime<Utc>) -> AppResult<()> {
    use delivery::Column as D;
    let targets: Vec<String> = ids.iter().map(|id| format!("author:{id}")).collect();
    for d in delivery::Entity::find().filter(D::Target.is_in(targets)).all(txn).await? {
        let id = d.target.strip_prefix("author:").and_then(|i| i.parse::<i64>().ok()).unwrap_or_default();
        let payload = match serde_json::from_str::<Envelope>(&d.payload) {
            Ok(env) => {
                let subject = scrub(&env.subject, known(k, id));
                serde_json::to_string(&Envelope { to: ERASED.into(), subject, body: ERASED.into() }).unwrap_or_default()
            }
            Err(_) => ERASED.to_string(),
        };
        let mut q = delivery::Entity::update_many()
            .col_expr(D::Payload, Expr::value(payload))
            .col_expr(D::UpdatedAt, Expr::value(at))
            .filter(D::Id.eq(d.id));
        if d.status == "PENDING" {
            q = q.col_expr(D::Status, Expr::value("DEAD")).col_expr(D::LastError, Expr::value("personal data erased"));
        }
        q.exec(txn).await?;
    }
    Ok(())
}

/// Deletes the attachment rows of these appeals (the author's photos, the signed answer)
/// and returns them, so that their files are removed after the commit.
async fn delete_attachments(txn: &DatabaseTransaction, ids: &[i64]) -> AppResult<Vec<attachment::Model>> {
    use attachment::Column as A;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let kind = crate::domain::attachments::TargetKind::Appeal.as_str();
    let rows = attachment::Entity::find()
        .filter(A::TargetKind.eq(kind))
        .filter(A::TargetId.is_in(ids.iter().copied()))
        .all(txn)
        .await?;
    attachment::Entity::delete_many()
        .filter(A::TargetKind.eq(kind))
        .filter(A::TargetId.is_in(ids.iter().copied()))
        .exec(txn)
        .await?;
    Ok(rows)
}

/// One history entry and one audit entry per appeal anonymised, in two statements.
async fn record(
    txn: &DatabaseTransaction,
    rows: &[appeal::Model],
    ids: &[i64],
    how: &Anonymisation<'_>,
) -> AppResult<()> {
    let mut events = Vec::with_capacity(ids.len());
    let mut audit = Vec::with_capacity(ids.len());
    for a in rows.iter().filter(|a| ids.contains(&a.id)) {
        events.push(appeal_event::ActiveModel {
            id: NotSet,
            appeal_id: Set(a.id),
            at: Set(how.at),
            actor: Set(how.actor.label.clone()),
            action: Set(ACTION.into()),
            from_status: Set(Some(a.status.clone())),
            to_status: Set(Some(a.status.clone())),
            comment: Set(Some(how.reason.to_string())),
            data: Set(None),
        });
        audit.push(audit_log::ActiveModel {
            id: NotSet,
            at: Set(how.at),
            actor: Set(how.actor.label.clone()),
            actor_user_id: Set(how.actor.user_id),
            actor_token_id: Set(how.actor.token_id),
            action: Set(ACTION.into()),
            target: Set(Some(format!("appeal:{}", a.id))),
            ip: Set(how.actor.ip.clone()),
            request_id: Set(how.actor.request_id.clone()),
            data: Set(Some(serde_json::json!({ "number": a.number, "reason": how.reason }).to_string())),
        });
    }
    crate::db::insert_rows(txn, events, 500).await?;
    crate::db::insert_rows(txn, audit, 500).await?;
    Ok(())
}
