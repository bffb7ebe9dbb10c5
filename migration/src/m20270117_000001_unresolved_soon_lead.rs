//! The longest lead from receipt to the due-soon instant among the unresolved appeals, read
//! from an index (PostgreSQL).
//!
//! A page of the on-time appeals oldest first by receipt read every on-time appeal through
//! the due-soon index and sorted them: 9,788 pages, 17–28 ms on the list grid's 1M appeals,
//! 130–190 ms at 5M, growing with the appeals open at once. An appeal on time has its
//! due-soon instant after now, so it was received after now less the longest lead
//! (`due_soon_at - received_at`) of any unresolved appeal. With that bound the page walks the
//! unresolved appeals' index by receipt (`ix_appeals_unresolved`) from there, past the
//! appeals received since then that are already overdue (about a thousand of the 1M). This
//! index gives the longest lead from its last entry.
//!
//! SQLite keeps its own way (it reads the due-soon index and sorts, 2–5 ms on 200,000
//! appeals); nothing changes there.

use sea_orm_migration::prelude::*;

use crate::m20270109_000001_number_order::{create_appeal_indexes, drop_indexes};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The unresolved appeals by their lead from receipt to the due-soon instant.
pub const INDEX: &str = "ix_appeals_unresolved_soon_lead";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        create_appeal_indexes(m, &[(INDEX, "(due_soon_at - received_at)", "resolved_at IS NULL")]).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(m, &[INDEX]).await
    }
}
