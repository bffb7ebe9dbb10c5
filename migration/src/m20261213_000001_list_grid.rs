//! Every list shape fast, and full-text search.
//!
//! The indexes were chosen from the list-shape grid (`bench/list-grid.sh`: every filter of
//! `AppealFilter` alone and in common pairs, under each order, on 1,000,000 appeals), not
//! from one query. Low-selectivity equality filters (status, channel, recipient) under an
//! order that their `(column, received_at)` index does not give get an index leading with
//! the equality column, then the order column, then the id (the keyset's tie-breaker), so a
//! first page is a walk of 51 index entries. Unresolved appeals by deadline (the SLA states
//! overdue, due soon and on time) get a partial index of their own.
//!
//! Search: on PostgreSQL a stored generated `tsvector` (configuration `russian`) over the
//! project's stems of the text, summary and address (`search_text`), with a GIN index;
//! on SQLite an FTS5 table over `appeals.search_text` (the project's own stems, see
//! `domain::text::normalize_for_search`) as external content, which the store's write path
//! keeps in step (`store::appeals`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// The list indexes of this migration: name and key (created on both backends).
pub const LIST_INDEXES: &[(&str, &str)] = &[
    ("ix_appeals_status_due", "status, due_at, id"),
    ("ix_appeals_status_updated", "status, updated_at, id"),
    ("ix_appeals_channel_due", "channel, due_at, id"),
    ("ix_appeals_recipient_due", "recipient_id, due_at, id"),
];

/// Indexes of the rollup ledger for totals of the list filtered by category, territory or
/// recipient (the full cube): the rows of the filter's ids, not every row of the period.
pub const LEDGER_INDEXES: &[(&str, &str)] = &[
    ("ix_appeal_stats_category", "cube, category_id, grain, day"),
    ("ix_appeal_stats_territory", "cube, territory_id, grain, day"),
    ("ix_appeal_stats_recipient", "cube, recipient_id, grain, day"),
];

/// The partial index of unresolved appeals by deadline (SLA states of open appeals).
pub const UNRESOLVED_DUE_SQL: &str =
    "CREATE INDEX IF NOT EXISTS ix_appeals_unresolved_due ON appeals (due_at, id) WHERE resolved_at IS NULL";

/// What PostgreSQL searches: the project's stems of the text, summary and address
/// (`search_text`, the same stems as SQLite's), under the `russian` configuration. PostgreSQL's
/// own Snowball gives «батареи» and «батарея» different stems; the query is stemmed the same
/// way (`appeal_query::Search`), so both backends find the same appeals.
pub const SEARCH_TSV_PG: &str = "to_tsvector('russian'::regconfig, search_text)";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for (name, key) in LIST_INDEXES {
            db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {name} ON appeals ({key})")).await?;
        }
        db.execute_unprepared(UNRESOLVED_DUE_SQL).await?;
        for (name, key) in LEDGER_INDEXES {
            db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {name} ON appeal_stats ({key})")).await?;
        }
        if db.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared(&format!(
                "ALTER TABLE appeals ADD COLUMN IF NOT EXISTS search_tsv tsvector \
                 GENERATED ALWAYS AS ({SEARCH_TSV_PG}) STORED"
            ))
            .await?;
            db.execute_unprepared("CREATE INDEX IF NOT EXISTS ix_appeals_search ON appeals USING gin (search_tsv)")
                .await?;
        } else {
            // `remove_diacritics 0`: «й» is a letter of its own, not «и» with a mark.
            db.execute_unprepared(
                "CREATE VIRTUAL TABLE IF NOT EXISTS appeals_fts USING fts5(search_text, content='appeals', \
                 content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
            )
            .await?;
            db.execute_unprepared("INSERT INTO appeals_fts(appeals_fts) VALUES ('rebuild')").await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for (name, _) in LIST_INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}")).await?;
        }
        db.execute_unprepared("DROP INDEX IF EXISTS ix_appeals_unresolved_due").await?;
        for (name, _) in LEDGER_INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}")).await?;
        }
        if db.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared("DROP INDEX IF EXISTS ix_appeals_search").await?;
            db.execute_unprepared("ALTER TABLE appeals DROP COLUMN IF EXISTS search_tsv").await?;
        } else {
            db.execute_unprepared("DROP TABLE IF EXISTS appeals_fts").await?;
        }
        Ok(())
    }
}
