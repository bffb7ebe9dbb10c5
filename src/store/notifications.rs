//! In-app notifications and notification settings, in the caller's transaction or
//! connection.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::entity::{notification, notification_setting};
use crate::error::AppResult;

/// Rows inserted per statement, at most.
const CHUNK: usize = 512;
/// Values of an `IN` list, at most (lists are padded to a power of two: few statement texts).
const LIST: usize = 256;

/// A notification to write.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub user_id: i64,
    pub kind: String,
    pub appeal_id: Option<i64>,
    pub outbox_id: Option<i64>,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// Writes notifications, in statements of [`crate::db::bulk_sizes`] rows; one already made from
/// the same outbox row for the same person is left as it is. Returns how many were written.
///
/// # Errors
/// On a database failure.
pub async fn insert(conn: &impl ConnectionTrait, rows: Vec<NewNotification>) -> AppResult<u64> {
    let mut written = 0;
    let sizes: Vec<usize> = crate::db::bulk_sizes(rows.len(), CHUNK).collect();
    let mut rows = rows.into_iter();
    for size in sizes {
        let chunk: Vec<notification::ActiveModel> = rows
            .by_ref()
            .take(size)
            .map(|n| notification::ActiveModel {
                user_id: Set(n.user_id),
                kind: Set(n.kind),
                appeal_id: Set(n.appeal_id),
                outbox_id: Set(n.outbox_id),
                text: Set(n.text),
                created_at: Set(n.created_at),
                read_at: Set(None),
                ..Default::default()
            })
            .collect();
        written += notification::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([notification::Column::OutboxId, notification::Column::UserId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(written)
}

/// A person's notifications, newest first, from `offset`, at most `limit`, with the count
/// of all that match.
///
/// # Errors
/// On a database failure.
pub async fn page(
    conn: &impl ConnectionTrait,
    user_id: i64,
    unread_only: bool,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<notification::Model>, u64)> {
    let mut q = notification::Entity::find().filter(notification::Column::UserId.eq(user_id));
    if unread_only {
        q = q.filter(notification::Column::ReadAt.is_null());
    }
    let total = q.clone().count(conn).await?;
    let rows = q.order_by_desc(notification::Column::Id).offset(offset).limit(limit).all(conn).await?;
    Ok((rows, total))
}

/// The notification a person got from an outbox row, if any.
///
/// # Errors
/// On a database failure.
pub async fn from_outbox(
    conn: &impl ConnectionTrait,
    user_id: i64,
    outbox_id: i64,
) -> AppResult<Option<notification::Model>> {
    Ok(notification::Entity::find()
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::OutboxId.eq(outbox_id))
        .one(conn)
        .await?)
}

/// Marks the person's unread notifications among `ids` read at `now`; returns how many
/// changed (others' notifications and those read already are left alone).
///
/// # Errors
/// On a database failure.
pub async fn mark_read(conn: &impl ConnectionTrait, user_id: i64, ids: &[i64], now: DateTime<Utc>) -> AppResult<u64> {
    let mut marked = 0;
    for list in crate::db::in_lists(ids, LIST) {
        let res = notification::Entity::update_many()
            .col_expr(notification::Column::ReadAt, Expr::value(now))
            .filter(notification::Column::UserId.eq(user_id))
            .filter(notification::Column::Id.is_in(list))
            .filter(notification::Column::ReadAt.is_null())
            .exec(conn)
            .await?;
        marked += res.rows_affected;
    }
    Ok(marked)
}

/// The stored settings of these people, by person and kind (a kind without a row has the
/// defaults).
///
/// # Errors
/// On a database failure.
pub async fn settings(
    conn: &impl ConnectionTrait,
    user_ids: &[i64],
) -> AppResult<HashMap<(i64, String), notification_setting::Model>> {
    let mut out = HashMap::new();
    for list in crate::db::in_lists(user_ids, LIST) {
        let rows = notification_setting::Entity::find()
            .filter(notification_setting::Column::UserId.is_in(list))
            .all(conn)
            .await?;
        out.extend(rows.into_iter().map(|r| ((r.user_id, r.kind.clone()), r)));
    }
    Ok(out)
}

/// Stores one person's setting of one kind.
///
/// # Errors
/// On a database failure.
pub async fn save_setting(
    conn: &impl ConnectionTrait,
    user_id: i64,
    kind: &str,
    in_app: bool,
    email: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    use notification_setting::Column as C;
    let row = notification_setting::ActiveModel {
        user_id: Set(user_id),
        kind: Set(kind.to_owned()),
        in_app: Set(in_app),
        email: Set(email.to_owned()),
        updated_at: Set(now),
    };
    notification_setting::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([C::UserId, C::Kind]).update_columns([C::InApp, C::Email, C::UpdatedAt]).to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}
