//! The search index of appeals on SQLite: the FTS5 table `appeals_fts` over
//! `appeals.search_text` (the project's own stems), kept in step by the appeals' write path
//! ([`super::appeals`]) in the writer's transaction. On PostgreSQL the index is a generated
//! `tsvector` column the database keeps itself, so these are no-ops there.
//!
//! The FTS5 table takes its content from `appeals` (external content): it stores only the
//! index, and an entry is removed by giving FTS5 the text it was indexed with, which the
//! write path has (the row as read in the transaction).

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};

use crate::error::AppResult;

/// Ids per indexing statement (padded lists, see [`crate::db::in_lists`]).
const PER_STATEMENT: usize = 512;

fn sqlite(conn: &impl ConnectionTrait) -> bool {
    conn.get_database_backend() == DatabaseBackend::Sqlite
}

/// Indexes the stems of appeals just inserted.
///
/// # Errors
/// When the database fails.
pub async fn index_new(conn: &impl ConnectionTrait, ids: &[i64]) -> AppResult<()> {
    if !sqlite(conn) || ids.is_empty() {
        return Ok(());
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
    if !sqlite(conn) || old == new {
        return Ok(());
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
