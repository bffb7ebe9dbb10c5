//! The transactional outbox: [`record`] writes the announcement of a change in the change's
//! own transaction; the dispatcher ([`crate::jobs::dispatcher`]) claims pending rows with
//! [`claim_pending`], fanning each out once even when several server processes share one
//! database.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, Set, Statement};
use serde::Serialize;

use crate::domain::events::Topic;
use crate::entity::outbox;
use crate::error::{AppError, AppResult};

/// What a change happened to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Appeal(i64),
    Roadmap(i64),
    Poll(i64),
    User(i64),
    Memo(i64),
    Recipient(i64),
    Category(i64),
    Territory(i64),
    /// An assignment (поручение) of a meeting.
    Assignment(i64),
}

impl Subject {
    /// The stored type name and id.
    pub fn parts(self) -> (&'static str, i64) {
        match self {
            Self::Appeal(id) => ("appeal", id),
            Self::Roadmap(id) => ("roadmap", id),
            Self::Poll(id) => ("poll", id),
            Self::User(id) => ("user", id),
            Self::Memo(id) => ("memo", id),
            Self::Recipient(id) => ("recipient", id),
            Self::Category(id) => ("category", id),
            Self::Territory(id) => ("territory", id),
            Self::Assignment(id) => ("assignment", id),
        }
    }
}

/// The data of an ordinary change as announced (and sent to webhooks as `data`): the
/// subject's id (as the API writes ids), what was done (the mutation's name), and the status
/// and version it has now. Never personal data: a receiver reads the rest through the API.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change<'a> {
    pub id: String,
    pub action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'a str>,
    pub version: i32,
}

impl<'a> Change<'a> {
    /// A change of `id` by `action`, leaving it in `status` at `version`.
    pub fn new(id: i64, action: &'a str, status: Option<&'a str>, version: i32) -> Self {
        Self { id: id.to_string(), action, status, version }
    }
}

/// Writes the announcement of a change; call it in the transaction that makes the change,
/// so a change that rolls back is never announced.
///
/// # Errors
/// When the row cannot be written (the caller's transaction then fails as a whole).
pub async fn record(
    conn: &impl ConnectionTrait,
    topic: Topic,
    subject: Subject,
    payload: &impl Serialize,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let payload = serde_json::to_string(payload).map_err(AppError::internal)?;
    Ok(outbox::Entity::insert(row(topic, subject, payload, now)).exec(conn).await?.last_insert_id)
}

/// A pending outbox row, for writers that insert many rows in one statement.
pub fn row(topic: Topic, subject: Subject, payload: String, now: DateTime<Utc>) -> outbox::ActiveModel {
    let (subject_type, subject_id) = subject.parts();
    outbox::ActiveModel {
        id: sea_orm::NotSet,
        topic: Set(topic.as_str().to_owned()),
        subject_type: Set(subject_type.to_owned()),
        subject_id: Set(Some(subject_id)),
        payload: Set(payload),
        created_at: Set(now),
        dispatched_at: Set(None),
    }
}

/// Claims up to `limit` pending rows, oldest first: marks them dispatched at `now` and
/// returns them, in one statement, so that two dispatchers never take the same row. On
/// PostgreSQL rows another dispatcher holds are skipped (`FOR UPDATE SKIP LOCKED`) rather
/// than waited for ([`super::claim_sql`]); on SQLite the statement takes the database's write
/// lock. Call it in the transaction that fans the rows out: if that rolls back, the rows are
/// pending again.
///
/// # Errors
/// On a database failure.
pub async fn claim_pending(
    conn: &impl ConnectionTrait,
    limit: u64,
    now: DateTime<Utc>,
) -> AppResult<Vec<outbox::Model>> {
    let backend = conn.get_database_backend();
    let (set, select) = match backend {
        DatabaseBackend::Postgres => {
            ("dispatched_at = $1", "SELECT id FROM outbox WHERE dispatched_at IS NULL ORDER BY id LIMIT $2")
        }
        _ => ("dispatched_at = ?", "SELECT id FROM outbox WHERE dispatched_at IS NULL ORDER BY id LIMIT ?"),
    };
    let returning = ["id", "topic", "subject_type", "subject_id", "payload", "created_at", "dispatched_at"];
    let sql = super::claim_sql(backend, "outbox", set, select, &returning);
    let stmt = Statement::from_sql_and_values(backend, sql, [now.into(), (limit as i64).into()]);
    let mut rows = outbox::Entity::find().from_raw_sql(stmt).all(conn).await?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Deletes up to `limit` rows dispatched before `before` (the walk of `ix_outbox_pending`
/// over the dispatched instants). On PostgreSQL rows another process is deleting are skipped,
/// not waited for (locked in a `MATERIALIZED` CTE, as in [`super::claim_sql`]). Returns how
/// many were deleted.
///
/// # Errors
/// On a database failure.
pub async fn prune_dispatched(conn: &impl ConnectionTrait, before: DateTime<Utc>, limit: u64) -> AppResult<u64> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "WITH pruned AS MATERIALIZED (SELECT id FROM outbox WHERE dispatched_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED) \
             DELETE FROM outbox USING pruned WHERE outbox.id = pruned.id"
        }
        _ => "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE dispatched_at < ? LIMIT ?)",
    };
    let stmt = Statement::from_sql_and_values(backend, sql, [before.into(), (limit as i64).into()]);
    Ok(conn.execute_raw(stmt).await?.rows_affected())
}

/// Whether any row waits to be dispatched: a read, so an idle dispatcher does not take
/// SQLite's write lock (an `UPDATE` takes it even when it matches nothing).
///
/// # Errors
/// On a database failure.
pub async fn any_pending(conn: &impl ConnectionTrait) -> AppResult<bool> {
    use sea_orm::QuerySelect;
    let first: Option<i64> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Id)
        .filter(outbox::Column::DispatchedAt.is_null())
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(first.is_some())
}

/// Announces a change of user `u` (`USER_CHANGED`, internal: never sent to webhooks) in the
/// change's transaction: id, action, ACTIVE or INACTIVE, version; no e-mail, name or roles.
pub async fn announce_user(
    conn: &impl ConnectionTrait,
    u: &crate::entity::user::Model,
    action: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let status = if u.active { "ACTIVE" } else { "INACTIVE" };
    let change = Change::new(u.id, action, Some(status), u.version);
    record(conn, Topic::UserChanged, Subject::User(u.id), &change, now).await?;
    Ok(())
}

/// Rows by id, in id order (a listener reading what another process dispatched).
///
/// # Errors
/// On a database failure.
pub async fn by_ids(conn: &impl ConnectionTrait, ids: &[i64]) -> AppResult<Vec<outbox::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(outbox::Entity::find()
        .filter(outbox::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(outbox::Column::Id)
        .all(conn)
        .await?)
}
