//! The words an appeal says more than once, indexed (PostgreSQL), so that a search of one
//! word is ranked without scoring every appeal that says it.
//!
//! The list ranks a search by `ts_rank(search_tsv, query)`. `search_tsv` is
//! `to_tsvector('simple', search_text)`: every position has the default weight, and the
//! rank is not normalised. For a query of one word the rank of an appeal then depends only
//! on how many positions the word has in it, and grows with that number. So the ranking of
//! one word is: the appeals that say it at least twice, by rank, and then every appeal that
//! says it once, all ranked alike, by id. The first group is a small share of a common word's
//! appeals; the second is read in the id's order from the primary key, which a common word
//! fills at once. Without this, a word found in 50,000 of a million appeals had all 50,000
//! scored and sorted for a page of 50.
//!
//! `mcu_repeated_lexemes(tsvector)` keeps the lexemes of a `tsvector` that have more than one
//! position; the GIN index `ix_appeals_search_repeated` indexes it over `search_tsv`. SQLite
//! ranks with FTS5's BM25 and needs neither.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The function the index and the list's ranked statement call.
pub const FUNCTION: &str = "mcu_repeated_lexemes";
/// The index of the words an appeal says more than once.
pub const INDEX: &str = "ix_appeals_search_repeated";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        // Only `pg_catalog` is referred to, so the function means the same whatever the
        // caller's `search_path` (a restore runs with an empty one).
        db.execute_unprepared(&format!(
            "CREATE OR REPLACE FUNCTION {FUNCTION}(v tsvector) RETURNS tsvector \
             LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ \
             SELECT coalesce(pg_catalog.array_to_tsvector(pg_catalog.array_agg(u.lexeme)), ''::pg_catalog.tsvector) \
             FROM pg_catalog.unnest(v) AS u WHERE pg_catalog.cardinality(u.positions) > 1 $$"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "CREATE INDEX IF NOT EXISTS {INDEX} ON appeals USING gin ({FUNCTION}(search_tsv))"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        db.execute_unprepared(&format!("DROP INDEX IF EXISTS {INDEX}")).await?;
        db.execute_unprepared(&format!("DROP FUNCTION IF EXISTS {FUNCTION}(tsvector)")).await?;
        Ok(())
    }
}
