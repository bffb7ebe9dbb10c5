//! Reads of many rows by key in one statement, for the request's DataLoaders
//! (`graphql::loaders`): GraphQL batches the keys, the store writes the SQL.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::entity::{appeal, appeal_answer, appeal_event, user};
use crate::error::AppResult;

macro_rules! by_ids {
    ($fn:ident, $entity:ident) => {
        /// The rows with these ids (missing ids are left out).
        ///
        /// # Errors
        /// On a database failure.
        pub async fn $fn(conn: &impl ConnectionTrait, ids: &[i64]) -> AppResult<Vec<$entity::Model>> {
            Ok($entity::Entity::find().filter($entity::Column::Id.is_in(ids.iter().copied())).all(conn).await?)
        }
    };
}

by_ids!(users, user);
by_ids!(appeals, appeal);

/// The history entries of these appeals, in order.
///
/// # Errors
/// On a database failure.
pub async fn appeal_events(conn: &impl ConnectionTrait, appeals: &[i64]) -> AppResult<Vec<appeal_event::Model>> {
    Ok(appeal_event::Entity::find()
        .filter(appeal_event::Column::AppealId.is_in(appeals.iter().copied()))
        .order_by_asc(appeal_event::Column::Id)
        .all(conn)
        .await?)
}

/// The answers of these appeals (`appeal_answers`), per appeal in order.
///
/// # Errors
/// On a database failure.
pub async fn appeal_answers(conn: &impl ConnectionTrait, appeals: &[i64]) -> AppResult<Vec<appeal_answer::Model>> {
    Ok(appeal_answer::Entity::find()
        .filter(appeal_answer::Column::AppealId.is_in(appeals.iter().copied()))
        .order_by_asc(appeal_answer::Column::AppealId)
        .order_by_asc(appeal_answer::Column::Ordinal)
        .all(conn)
        .await?)
}
