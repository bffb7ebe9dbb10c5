//! PostgreSQL's search column indexes the project's own stems as they are (`simple`
//! configuration) instead of stemming them a second time with `russian`.
//!
//! `appeals.search_text` already holds the stems of the project's stemmer with its stop words
//! removed. Under `russian`, PostgreSQL stemmed those stems again and dropped its own stop
//! words, so a search could match on PostgreSQL what it did not match on SQLite (whose FTS5
//! index takes the tokens as they are) or in the subscriptions' in-memory matcher. With
//! `simple`, a word matches a row on every path exactly when it is one of the row's stems.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// The generated column's expression.
pub const SEARCH_TSV_PG: &str = "to_tsvector('simple'::regconfig, search_text)";
const OLD_SEARCH_TSV_PG: &str = "to_tsvector('russian'::regconfig, search_text)";

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn rebuild(db: &SchemaManagerConnection<'_>, expr: &str) -> Result<(), DbErr> {
    db.execute_unprepared("DROP INDEX IF EXISTS ix_appeals_search").await?;
    db.execute_unprepared("ALTER TABLE appeals DROP COLUMN IF EXISTS search_tsv").await?;
    db.execute_unprepared(&format!(
        "ALTER TABLE appeals ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS ({expr}) STORED"
    ))
    .await?;
    db.execute_unprepared("CREATE INDEX ix_appeals_search ON appeals USING gin (search_tsv)").await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() == DatabaseBackend::Postgres {
            rebuild(db, SEARCH_TSV_PG).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() == DatabaseBackend::Postgres {
            rebuild(db, OLD_SEARCH_TSV_PG).await?;
        }
        Ok(())
    }
}
