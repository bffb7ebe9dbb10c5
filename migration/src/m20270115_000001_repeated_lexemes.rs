//! The words an appeal says more than once (`appeals.search_repeated`), indexed on
//! PostgreSQL, so that a search of one word is ranked without scoring every appeal that
//! says it.
//!
//! The list ranks a search by `ts_rank(search_tsv, query)`. `search_tsv` is
//! `to_tsvector('simple', search_text)`: every position has the default weight, and the
//! rank is not normalised. For a query of one word the rank of an appeal then depends only
//! on how many positions the word has in it, and grows with that number. So the ranking of
//! one word is: the appeals that say it at least twice, by rank, and then every appeal that
//! says it once, all ranked alike, by id. The first group is a small share of a common word's
//! appeals (2,366 of the 61,952 that say «дорога» in the demo's million); the second is read
//! in the id's order from the primary key, which a common word fills at once.
//!
//! `search_repeated` holds the stems of `search_text` that occur in it more than once, each
//! once, separated by spaces ([`repeated_words`]); the store writes it with `search_text`.
//! PostgreSQL indexes `to_tsvector('simple', search_repeated)` with GIN
//! (`ix_appeals_search_repeated`). A text column written by the application, not an
//! expression over `search_tsv`: an SQL function that keeps the repeated lexemes of a
//! `tsvector` costs 5.9 µs a row, and ingestion, which writes each appeal several times,
//! lost 10% to it (9,457–9,886 items/s against 10,703–10,990); `to_tsvector` of the short
//! column costs 0.6 µs. SQLite ranks with FTS5's BM25 and has the column unindexed.
//!
//! Existing rows are filled here from `search_text`, in batches within the migration's one
//! transaction on both backends (the demo's million appeals
//! on PostgreSQL: 559,399 of them say some word more than once; `mcu migrate` took 1 min
//! 28 s with the index, 5.3 MB, and the `VACUUM` of `appeals` that follows a rewrite).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};

use crate::m20270106_000001_point_cells::set_by_id;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The column of the repeated words.
pub const COLUMN: &str = "search_repeated";
/// The index of the words an appeal says more than once (PostgreSQL).
pub const INDEX: &str = "ix_appeals_search_repeated";
/// The indexed expression; the list's ranked statement writes the same.
pub const REPEATED_TSV_PG: &str = "to_tsvector('simple'::regconfig, search_repeated)";

/// The words of `search_text` (stems separated by white space) that occur more than once,
/// each once, in the order of their first occurrence, separated by one space.
pub fn repeated_words(search_text: &str) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut twice = std::collections::HashSet::new();
    let mut out: Vec<&str> = Vec::new();
    for w in search_text.split_whitespace() {
        if !seen.insert(w) && twice.insert(w) {
            out.push(w);
        }
    }
    out.join(" ")
}

/// Appeals read at once by the fill.
const FILL_BATCH: i64 = 5_000;

/// Fills `search_repeated` of the rows there are, in batches by id (each statement short, as
/// the server's statement timeout requires: one `UPDATE` of the million demo appeals ran
/// past its default 10 s).
async fn fill(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let pg = backend == DatabaseBackend::Postgres;
    let select = if pg {
        "SELECT id, search_text FROM appeals WHERE id > $1 ORDER BY id LIMIT $2"
    } else {
        "SELECT id, search_text FROM appeals WHERE id > ? ORDER BY id LIMIT ?"
    };
    let (mut after, mut filled) = (0_i64, 0_usize);
    loop {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(backend, select, [after.into(), FILL_BATCH.into()]))
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get_by_index(0)?;
        let mut values: Vec<Value> = Vec::new();
        for r in &rows {
            let (id, text): (i64, String) = (r.try_get_by_index(0)?, r.try_get_by_index(1)?);
            let words = repeated_words(&text);
            if !words.is_empty() {
                values.push(id.into());
                values.push(words.into());
            }
        }
        filled += set_by_id(db, COLUMN, "text", values).await?;
    }
    if filled > 0 {
        tracing::info!(appeals = filled, "filled the repeated words of the appeals");
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too (sea-orm's default there is none): a process killed
    /// during the fill must leave neither the column nor half the rows, or the next start
    /// would fail adding the column again.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared(&format!("ALTER TABLE appeals ADD COLUMN {COLUMN} TEXT NOT NULL DEFAULT ''")).await?;
        fill(db).await?;
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {INDEX} ON appeals USING gin ({REPEATED_TSV_PG})"))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {INDEX}")).await?;
        }
        db.execute_unprepared(&format!("ALTER TABLE appeals DROP COLUMN {COLUMN}")).await?;
        Ok(())
    }
}
