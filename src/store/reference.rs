//! Persistence side of the reference data (recipients, categories, territories): the whole
//! of it read for the in-memory cache (`state::ReferenceCache`), and the announcement of a
//! change, written in the change's transaction, that tells every process to read it again.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QuerySelect,
};

use super::audit::Actor;
use super::outbox::{self, Subject};
use super::rollup;
use crate::domain::events::Topic;
use crate::entity::{appeal, appeal_event, audit_log, category, recipient, territory};
use crate::error::AppResult;
use crate::state::ReferenceData;

/// Every recipient, category and territory (three statements), tagged with `generation`.
///
/// # Errors
/// On a database failure.
pub async fn load_all(conn: &impl ConnectionTrait, generation: u64) -> AppResult<ReferenceData> {
    let recipients = recipient::Entity::find().all(conn).await?;
    let categories = category::Entity::find().all(conn).await?;
    let territories = territory::Entity::find().all(conn).await?;
    Ok(ReferenceData::new(generation, recipients, categories, territories))
}

/// Announces that a reference row was created or changed (`REFERENCE_CHANGED`, internal),
/// in the change's transaction: each process that hears of it marks its reference data
/// stale.
///
/// # Errors
/// When the row cannot be written.
pub async fn announce(
    conn: &impl ConnectionTrait,
    subject: Subject,
    action: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let (_, id) = subject.parts();
    let change = outbox::Change::new(id, action, None, 0);
    outbox::record(conn, Topic::ReferenceChanged, subject, &change, now).await?;
    Ok(())
}

/// Which column of `appeals` a merge moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppealRef {
    Recipient,
    Category,
    Territory,
}

impl AppealRef {
    fn column(self) -> appeal::Column {
        match self {
            Self::Recipient => appeal::Column::RecipientId,
            Self::Category => appeal::Column::CategoryId,
            Self::Territory => appeal::Column::TerritoryId,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Self::Recipient => "recipientId",
            Self::Category => "categoryId",
            Self::Territory => "territoryId",
        }
    }
}

/// One side of a merge as the appeals' history records it: id and name at the time.
#[derive(Debug, Clone)]
pub struct Named {
    pub id: i64,
    pub name: String,
}

/// Who merges and when, as the moved appeals' history and audit entries record it.
#[derive(Debug, Clone, Copy)]
pub struct MergeStamp<'a> {
    /// The mutation (`mergeRecipients`, …): the history entries' and audit entries' action.
    pub action: &'a str,
    /// The history entries' actor.
    pub actor: &'a str,
    pub audit: &'a Actor,
    pub at: DateTime<Utc>,
}

/// Moves every appeal that refers to `from` (in `what`) to `into`, in the caller's
/// transaction: their version moves on, each gets a history entry `action` that keeps both
/// names as they were, and the rollups get the appeals' old contributions taken away and
/// the new ones added (so the analytics per recipient, category and territory follow).
/// Returns how many appeals moved.
///
/// # Errors
/// On a database failure.
pub async fn move_appeals(
    txn: &DatabaseTransaction,
    tz: chrono_tz::Tz,
    what: AppealRef,
    from: &Named,
    into: &Named,
    stamp: MergeStamp<'_>,
) -> AppResult<u64> {
    let MergeStamp { action, actor, audit, at } = stamp;
    let column = what.column();
    // A category's appeals change authors' groups (category, contact): the repeat flags are
    // refreshed in both, under their lock taken before the rows' locks.
    let regrouped: Vec<(String, DateTime<Utc>)> = if what == AppealRef::Category {
        super::conflict_facts::lock(txn).await?;
        appeal::Entity::find()
            .select_only()
            .column(appeal::Column::AuthorContact)
            .column(appeal::Column::ReceivedAt)
            .filter(column.eq(from.id))
            .filter(appeal::Column::AuthorContact.is_not_null())
            .into_tuple()
            .all(txn)
            .await?
    } else {
        Vec::new()
    };
    let ids: Vec<(i64, String)> = appeal::Entity::find()
        .select_only()
        .column(appeal::Column::Id)
        .column(appeal::Column::Status)
        .filter(column.eq(from.id))
        .into_tuple()
        .all(txn)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let old = rollup::facts_of(txn, ids.iter().map(|(id, _)| *id)).await?;
    let mut ledger = rollup::Ledger::default();
    for f in &old {
        let mut moved = f.clone();
        match what {
            AppealRef::Recipient => moved.recipient_id = Some(into.id),
            AppealRef::Category => moved.category_id = Some(into.id),
            AppealRef::Territory => moved.territory_id = Some(into.id),
        }
        ledger.change(Some(f), Some(&moved), tz);
    }
    appeal::Entity::update_many()
        .col_expr(column, Expr::value(into.id))
        .col_expr(appeal::Column::Version, Expr::col(appeal::Column::Version).add(1))
        .col_expr(appeal::Column::UpdatedAt, Expr::value(at))
        .filter(column.eq(from.id))
        .exec(txn)
        .await?;
    if !regrouped.is_empty() {
        let groups: Vec<(i64, String)> =
            regrouped.iter().flat_map(|(c, _)| [(from.id, c.clone()), (into.id, c.clone())]).collect();
        let instants: Vec<DateTime<Utc>> = regrouped.iter().map(|(_, t)| *t).collect();
        super::conflict_facts::refresh_groups(txn, &groups, &instants, &[]).await?;
    }
    ledger.write(txn).await?;
    let data = serde_json::json!({
        "field": what.key(),
        "from": { "id": from.id, "name": from.name },
        "into": { "id": into.id, "name": into.name },
    })
    .to_string();
    // Each moved appeal has its history entry (the status stays) and, like every write of an
    // appeal, its audit entry.
    let events: Vec<appeal_event::ActiveModel> = ids
        .iter()
        .map(|(id, status)| appeal_event::ActiveModel {
            id: NotSet,
            appeal_id: Set(*id),
            at: Set(at),
            actor: Set(actor.to_string()),
            action: Set(action.to_string()),
            from_status: Set(Some(status.clone())),
            to_status: Set(Some(status.clone())),
            comment: Set(None),
            data: Set(Some(data.clone())),
        })
        .collect();
    crate::db::insert_rows(txn, events, 1_000).await?;
    let audits: Vec<audit_log::ActiveModel> = ids
        .iter()
        .map(|(id, _)| audit_log::ActiveModel {
            id: NotSet,
            at: Set(at),
            actor: Set(audit.label.clone()),
            actor_user_id: Set(audit.user_id),
            actor_token_id: Set(audit.token_id),
            action: Set(action.to_string()),
            target: Set(Some(format!("appeal:{id}"))),
            ip: Set(audit.ip.clone()),
            request_id: Set(audit.request_id.clone()),
            data: Set(None),
        })
        .collect();
    crate::db::insert_rows(txn, audits, 1_000).await?;
    Ok(ids.len() as u64)
}

/// Points `column` of `table` at `into` wherever it points at `from` (the rows that follow
/// a merged reference row: users, roadmaps, polls, practices, children); returns how many.
///
/// # Errors
/// On a database failure.
pub async fn repoint(txn: &DatabaseTransaction, table: &str, column: &str, from: i64, into: i64) -> AppResult<u64> {
    let stmt = Query::update()
        .table(Alias::new(table))
        .value(Alias::new(column), into)
        .and_where(Expr::col(Alias::new(column)).eq(from))
        .to_owned();
    let res = txn.execute(&stmt).await?;
    Ok(res.rows_affected())
}
