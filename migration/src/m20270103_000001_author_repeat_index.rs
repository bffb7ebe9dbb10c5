//! The earlier appeals of an author on a topic, by receipt.
//!
//! A conflict flag (REPEAT_AUTHOR) marks an appeal whose author wrote on the same category
//! within 30 days before. The nearest strictly earlier appeal of the same category and folded
//! contact decides it, so with this index each appeal's check is one backward probe instead
//! of a join of the period's appeals to every appeal of the month before it (the weekly
//! memo's conflicts section read and sorted about 100,000 rows for a week of a million-row
//! year). Only appeals with a contact are held. The key is the contact folded as the
//! statements fold it ([`folded_contact`]), which both backends match by expression; on
//! PostgreSQL the folded key compares bytewise (`COLLATE "C"`: the same equality, as the
//! database's collation is deterministic, without locale-aware comparisons in each descent).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// A contact column folded for comparison in SQL (spaces removed, case folded), written the
/// same in the index and in the statements that probe it.
pub fn folded_contact(column: &str, backend: DatabaseBackend) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("(LOWER(REPLACE({column}, ' ', '')) COLLATE \"C\")"),
        _ => format!("LOWER(REPLACE({column}, ' ', ''))"),
    }
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let key = folded_contact("author_contact", db.get_database_backend());
        db.execute_unprepared(&format!(
            "CREATE INDEX IF NOT EXISTS ix_appeals_author_repeat ON appeals (category_id, {key}, received_at) \
             WHERE author_contact IS NOT NULL"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP INDEX IF EXISTS ix_appeals_author_repeat").await?;
        Ok(())
    }
}
