//! Communication conflicts (issue 18, item 10; decree 1.2б, 1.2в): the flags of
//! `domain::conflicts` for many appeals in one statement, as the store keeps them
//! (`store::conflict_facts`).

pub use crate::store::conflict_facts::{Flagged, Which};

use sea_orm::DatabaseConnection;

use crate::error::AppResult;

/// The flags of the chosen appeals in ONE statement that reads only the appeals carrying
/// one (an appeal left out has none): for a period, the few entries of the partial index
/// `ix_appeals_conflicts`, whatever the number of appeals in it.
///
/// # Errors
/// On a database failure.
pub async fn flagged(conn: &DatabaseConnection, which: Which<'_>) -> AppResult<Vec<Flagged>> {
    crate::store::conflict_facts::stored(conn, which).await
}
