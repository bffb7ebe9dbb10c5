//! The unresolved appeals in the orders of the list that had no index of their own.
//!
//! A page of the overdue appeals ordered by last change walked `ix_appeals_updated` from the
//! newest change: the newest changes are mostly resolutions, so PostgreSQL read 15,000
//! heap pages of the million-row demo (15 ms) for 50 overdue appeals, and 18,700 (18 ms) for
//! one recipient's. The unresolved appeals are a few percent of all, so an index of them in
//! that order (and in the number's, for the same pages by number) is small, and a page of an
//! SLA state of open appeals walks only open appeals. The unresolved ones by receipt and by
//! deadline have their indexes already (`ix_appeals_unresolved`, `ix_appeals_unresolved_due`).

use sea_orm_migration::prelude::*;

use crate::m20270109_000001_number_order::number_order_sql;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The unresolved appeals by last change.
pub const UPDATED: &str = "ix_appeals_unresolved_updated";
/// The unresolved appeals by number (the order of `ix_appeals_number_order`).
pub const NUMBER: &str = "ix_appeals_unresolved_number";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let postgres = m.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
        let key = number_order_sql(postgres, "number");
        let db = m.get_connection();
        db.execute_unprepared(&format!(
            "CREATE INDEX IF NOT EXISTS {UPDATED} ON appeals (updated_at, id) WHERE resolved_at IS NULL"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "CREATE INDEX IF NOT EXISTS {NUMBER} ON appeals ({key}, id) WHERE resolved_at IS NULL"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for index in [UPDATED, NUMBER] {
            m.get_connection().execute_unprepared(&format!("DROP INDEX IF EXISTS {index}")).await?;
        }
        Ok(())
    }
}
