//! The words each appeal says more than once, with how many times, in their own table
//! (`appeal_repeats`, PostgreSQL), so that a ranked search of one word walks an index in the
//! order of the rank instead of scoring every appeal that says the word.
//!
//! The list ranks a search by `ts_rank(search_tsv, query)`. `search_tsv` is
//! `to_tsvector('simple', search_text)`: every position has the default weight and the rank
//! is not normalised, so for a query of one word the rank of an appeal depends only on how
//! many positions the word has in it, and grows strictly with that number (PostgreSQL keeps
//! at most 256 positions of a word; the rank's terms stay distinct in `float4` up to there).
//! So the ranking of one word is: the appeals that say it at least twice, by that number
//! (descending) and id, and then every appeal that says it once, by id. The first group is
//! a small share of a common word's appeals (2,366 of the 61,952 that say «дорога» in the
//! demo's million) and is read from `ix_appeal_repeats_rank` (`word, times DESC,
//! appeal_id`) in that order, a row of `appeals` per entry; the second from the primary key
//! of `appeals`, which a common word fills at once, skipping the first group by the
//! table's primary key (`appeal_id, word`).
//!
//! A row holds `(appeal_id, word, times)` for each lexeme of the appeal's `search_tsv` with
//! more than one position, taken from `search_tsv` itself ([`INSERT_REPEATS`]): PostgreSQL's
//! own lexemes and counts, whatever its parser makes of a token. The store writes them with
//! `search_text` (`store::search`), in the writer's transaction. SQLite ranks with FTS5's
//! BM25 and has no such table.
//!
//! This replaces the first version's column `appeals.search_repeated` and its GIN index
//! (migration [`crate::m20270115_000001_repeated_lexemes`]), dropped here where present: the
//! GIN index only said which appeals say a word twice, and each of them was read and scored
//! to order them (5.5 ms for «дорога» on the demo's million).
//!
//! There is no foreign key to `appeals`: the store writes the rows with their appeal, in its
//! transaction, and the server deletes no appeal. The check of each row cost 10–27 ms per
//! 1,000 appeals inserted (15.6–17.4 ms for the rows themselves). A row whose appeal were
//! deleted outside the server would only be dropped by the first run's join.
//!
//! Existing appeals are filled here in ranges of ids, within the migration's transaction.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The table of repeated words.
pub const TABLE: &str = "appeal_repeats";
/// The index the ranked run walks.
pub const INDEX: &str = "ix_appeal_repeats_rank";
/// The rows of the appeals the condition appended to this names (`a` is `appeals`): each
/// lexeme of `search_tsv` with more than one position and its number of positions.
pub const INSERT_REPEATS: &str = "INSERT INTO appeal_repeats (appeal_id, word, times) \
     SELECT a.id, u.lexeme, cardinality(u.positions) FROM appeals AS a, unnest(a.search_tsv) AS u \
     WHERE cardinality(u.positions) > 1 AND ";

/// The first version's column and index.
const OLD_COLUMN: &str = "search_repeated";
const OLD_INDEX: &str = "ix_appeals_search_repeated";

/// Ids of appeals filled by one statement (the server's statement timeout holds each).
const FILL_RANGE: i64 = 50_000;

async fn fill(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    let backend = DatabaseBackend::Postgres;
    let max =
        db.query_one_raw(Statement::from_string(backend, "SELECT coalesce(max(id), 0) AS m FROM appeals")).await?;
    let max: i64 = max.map(|r| r.try_get("", "m")).transpose()?.unwrap_or(0);
    let (mut after, mut rows) = (0_i64, 0_u64);
    while after < max {
        let sql = format!("{INSERT_REPEATS}a.id > $1 AND a.id <= $2");
        let to = after.saturating_add(FILL_RANGE);
        rows += db
            .execute_raw(Statement::from_sql_and_values(backend, sql, [after.into(), to.into()]))
            .await?
            .rows_affected();
        after = to;
    }
    if rows > 0 {
        tracing::info!(words = rows, "filled the repeated words of the appeals");
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too (sea-orm's default there is none): the column is
    /// dropped whole or not at all.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() != DatabaseBackend::Postgres {
            let has = db
                .query_one_raw(Statement::from_string(
                    DatabaseBackend::Sqlite,
                    format!("SELECT count(*) AS n FROM pragma_table_info('appeals') WHERE name = '{OLD_COLUMN}'"),
                ))
                .await?;
            if has.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0) > 0 {
                db.execute_unprepared(&format!("ALTER TABLE appeals DROP COLUMN {OLD_COLUMN}")).await?;
            }
            return Ok(());
        }
        db.execute_unprepared(&format!("DROP INDEX IF EXISTS {OLD_INDEX}")).await?;
        db.execute_unprepared(&format!("ALTER TABLE appeals DROP COLUMN IF EXISTS {OLD_COLUMN}")).await?;
        db.execute_unprepared(&format!(
            "CREATE TABLE {TABLE} (appeal_id BIGINT NOT NULL, word TEXT NOT NULL, times INTEGER NOT NULL, \
             PRIMARY KEY (appeal_id, word))"
        ))
        .await?;
        fill(db).await?;
        db.execute_unprepared(&format!("CREATE INDEX {INDEX} ON {TABLE} (word, times DESC, appeal_id)")).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {TABLE}")).await?;
        }
        Ok(())
    }
}
