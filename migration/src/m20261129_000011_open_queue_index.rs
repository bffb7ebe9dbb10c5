//! The work queue: open appeals by deadline.
//!
//! Staff list open appeals (received, registered, assigned, in progress, reopened) by their
//! deadline. On a large table most rows are answered or closed, so an index over every
//! deadline makes such a page read thousands of closed rows to find fifty open ones; this
//! partial index holds only the open ones. On PostgreSQL the list query repeats the index's
//! condition literally whenever its status filter names open statuses only, so the planner
//! can match it. SQLite (3.51, bundled) does not pick a partial index by cost, so the list
//! names it with `INDEXED BY` in statements that carry the condition.

use sea_orm_migration::prelude::*;

/// The statuses of the partial index, as the list query writes them.
pub const OPEN_STATUSES_SQL: &str = "status IN ('RECEIVED', 'REGISTERED', 'ASSIGNED', 'IN_PROGRESS', 'REOPENED')";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS ix_appeals_open_due ON appeals (due_at, id) WHERE {OPEN_STATUSES_SQL}"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP INDEX IF EXISTS ix_appeals_open_due").await?;
        Ok(())
    }
}
