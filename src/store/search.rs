//! The search index of appeals, kept in step by the appeals' write path ([`super::appeals`],
//! and the anonymiser) in the writer's transaction, after the row is written.
//!
//! On SQLite, the FTS5 table `appeals_fts` over `appeals.search_text` (the project's own
//! stems). It takes its content from `appeals` (external content): it stores only the index,
//! and an entry is removed by giving FTS5 the text it was indexed with, which the write path
//! has (the row as read in the transaction).
//!
//! On PostgreSQL the index of the words is a generated `tsvector` column the database keeps
//! itself; written here are the words each appeal says more than once, with how many times
//! (`appeal_repeats`, read by the ranking of one word; migration
//! `m20270116_000001_repeated_words`), taken from that column, so they are the database's
//! own lexemes and counts.

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};

use crate::error::AppResult;

/// Ids per indexing statement (padded lists, see [`crate::db::in_lists`]).
const PER_STATEMENT: usize = 512;

fn sqlite(conn: &impl ConnectionTrait) -> bool {
    conn.get_database_backend() == DatabaseBackend::Sqlite
}

/// Writes the repeated words of the appeals `ids` (PostgreSQL; their rows hold none).
async fn insert_repeats(conn: &impl ConnectionTrait, ids: &[i64]) -> AppResult<()> {
    use migration::m20270116_000001_repeated_words::INSERT_REPEATS;
    for list in crate::db::in_lists(ids, PER_STATEMENT) {
        let marks: Vec<String> = (1..=list.len()).map(|i| format!("${i}")).collect();
        let sql = format!("{INSERT_REPEATS}a.id IN ({})", marks.join(", "));
        let values: Vec<Value> = list.into_iter().map(Value::from).collect();
        conn.execute_raw(Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values)).await?;
    }
    Ok(())
}

/// Indexes the stems of appeals just inserted.
///
/// # Errors
/// When the database fails.
pub async fn index_new(conn: &impl ConnectionTrait, ids: &[i64]) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    if !sqlite(conn) {
        return insert_repeats(conn, ids).await;
    }
    for list in crate::db::in_lists(ids, PER_STATEMENT) {
        let marks = vec!["?"; list.len()].join(", ");
        let sql = format!(
            "INSERT INTO appeals_fts (rowid, search_text) SELECT id, search_text FROM appeals WHERE id IN ({marks})"
        );
        let values: Vec<Value> = list.into_iter().map(Value::from).collect();
        conn.execute_raw(Statement::from_sql_and_values(DatabaseBackend::Sqlite, sql, values)).await?;
    }
    Ok(())
}

/// Replaces an appeal's entry when its stems changed (`old`: the stems it was indexed with).
///
/// # Errors
/// When the database fails.
pub async fn reindex(conn: &impl ConnectionTrait, id: i64, old: &str, new: &str) -> AppResult<()> {
    if old == new {
        return Ok(());
    }
    if !sqlite(conn) {
        conn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "DELETE FROM appeal_repeats WHERE appeal_id = $1",
            [Value::from(id)],
        ))
        .await?;
        return insert_repeats(conn, &[id]).await;
    }
    conn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Sqlite,
        "INSERT INTO appeals_fts (appeals_fts, rowid, search_text) VALUES ('delete', ?, ?)",
        [Value::from(id), Value::from(old)],
    ))
    .await?;
    conn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Sqlite,
        "INSERT INTO appeals_fts (rowid, search_text) VALUES (?, ?)",
        [Value::from(id), Value::from(new)],
    ))
    .await?;
    Ok(())
}
