//! The unresolved appeals' deadline and due-soon indexes, shaped for the on-time appeals
//! (PostgreSQL).
//!
//! - `ix_appeals_unresolved_due` was `(due_at) INCLUDE (…)`: the list grid's migration
//!   meant `(due_at, id)`, but its `IF NOT EXISTS` found the rollups' index of that name
//!   already there. A page orders by the deadline and then the id, and deadlines fall at
//!   the end of a day, so thousands of appeals share one instant (2,909 of the list grid's
//!   1M at the latest deadline). A page by deadline read that whole instant and sorted it.
//!   It is now `(due_at, id)`, with the same included columns for the index-only totals of
//!   the overdue and due-soon appeals.
//! - `ix_appeals_unresolved_soon` was `(due_soon_at)`: the total of the on-time appeals
//!   (`due_soon_at > now AND due_at > now`) read each of them from the table (9,700 pages,
//!   19 ms on the 1M). With the deadline included it is counted from the index alone
//!   (60 pages, 2 ms).
//!
//! SQLite keeps its own shapes, `(due_at, recipient_id)` and `(due_soon_at)` (covering
//! without `INCLUDE`, each entry ending with the rowid, the id); this migration changes
//! nothing there.

use sea_orm_migration::prelude::*;

use crate::m20270109_000001_number_order::drop_indexes;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The unresolved appeals by deadline and id.
pub const UNRESOLVED_DUE: &str = "ix_appeals_unresolved_due";
/// Its definition (PostgreSQL).
pub const UNRESOLVED_DUE_DEF: &str =
    "(due_at, id) INCLUDE (recipient_id, channel, territory_id) WHERE resolved_at IS NULL";
/// The unresolved appeals by their due-soon instant.
pub const UNRESOLVED_SOON: &str = "ix_appeals_unresolved_soon";
/// Its definition (PostgreSQL).
pub const UNRESOLVED_SOON_DEF: &str = "(due_soon_at) INCLUDE (due_at) WHERE resolved_at IS NULL";

async fn replace(m: &SchemaManager<'_>, indexes: [(&str, &str); 2]) -> Result<(), DbErr> {
    let db = m.get_connection();
    if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    for (name, definition) in indexes {
        drop_indexes(m, &[name]).await?;
        db.execute_unprepared(&format!("CREATE INDEX {name} ON appeals {definition}")).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        replace(m, [(UNRESOLVED_DUE, UNRESOLVED_DUE_DEF), (UNRESOLVED_SOON, UNRESOLVED_SOON_DEF)]).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        replace(
            m,
            [
                (UNRESOLVED_DUE, "(due_at) INCLUDE (recipient_id, channel, territory_id) WHERE resolved_at IS NULL"),
                (UNRESOLVED_SOON, "(due_soon_at) WHERE resolved_at IS NULL"),
            ],
        )
        .await
    }
}
