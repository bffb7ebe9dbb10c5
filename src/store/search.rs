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

/// Appeals rebuilt or verified per statement (the statement timeout holds each).
const RANGE: u64 = 50_000;

/// The ranges of ids `(after, to]` [`rebuild`] and [`differences`] take one by one: ranges of
/// [`RANGE`] appeals ([`crate::db::appeal_range_end`]), then the rest of the ids, where only
/// entries left over from appeals no longer there can be.
async fn next_range(conn: &impl ConnectionTrait, after: i64) -> AppResult<(i64, bool)> {
    Ok(match crate::db::appeal_range_end(conn, after, RANGE).await? {
        Some(to) => (to, false),
        None => (i64::MAX, true),
    })
}

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

/// Rewrites the search index from `appeals`, for rows written around the store (`mcu
/// rollup rebuild`, in its transaction): on SQLite the FTS5 index (`rebuild`), on
/// PostgreSQL the repeated words, in ranges of ids ([`next_range`]).
///
/// # Errors
/// When the database fails.
pub async fn rebuild(conn: &impl ConnectionTrait) -> AppResult<()> {
    use migration::m20270116_000001_repeated_words::INSERT_REPEATS;
    if sqlite(conn) {
        conn.execute_unprepared("INSERT INTO appeals_fts (appeals_fts) VALUES ('rebuild')").await?;
        return Ok(());
    }
    let mut after = i64::MIN;
    loop {
        let (to, last) = next_range(conn, after).await?;
        let range = [Value::from(after), Value::from(to)];
        let delete = "DELETE FROM appeal_repeats WHERE appeal_id > $1 AND appeal_id <= $2";
        conn.execute_raw(Statement::from_sql_and_values(DatabaseBackend::Postgres, delete, range.clone())).await?;
        let insert = format!("{INSERT_REPEATS}a.id > $1 AND a.id <= $2");
        conn.execute_raw(Statement::from_sql_and_values(DatabaseBackend::Postgres, insert, range)).await?;
        if last {
            return Ok(());
        }
        after = to;
    }
}

/// Where the search index differs from `appeals` (`mcu rollup verify`; `None`: it agrees).
/// On PostgreSQL, the repeated-word entries missing, left over or with another count than
/// the appeals' `search_tsv` holds; on SQLite, FTS5's own check of the index against the
/// appeals' `search_text` (`integrity-check` with rank 1).
///
/// # Errors
/// When the database fails (on SQLite, otherwise than by the check).
pub async fn differences(conn: &impl ConnectionTrait) -> AppResult<Option<String>> {
    if sqlite(conn) {
        let check = "INSERT INTO appeals_fts (appeals_fts, rank) VALUES ('integrity-check', 1)";
        return Ok(match conn.execute_unprepared(check).await {
            Ok(_) => None,
            Err(e) if e.to_string().contains("malformed") || e.to_string().contains("corrupt") => {
                Some("appeals_fts: the search index differs from the appeals' words".to_owned())
            }
            Err(e) => return Err(e.into()),
        });
    }
    let (mut after, mut differ) = (i64::MIN, 0_i64);
    loop {
        let (to, last) = next_range(conn, after).await?;
        let sql = "SELECT count(*) AS n FROM \
             (SELECT a.id AS appeal_id, u.lexeme AS word, cardinality(u.positions) AS times \
              FROM appeals AS a, unnest(a.search_tsv) AS u \
              WHERE cardinality(u.positions) > 1 AND a.id > $1 AND a.id <= $2) AS e \
             FULL JOIN (SELECT appeal_id, word, times FROM appeal_repeats WHERE appeal_id > $1 AND appeal_id <= $2) AS s \
             USING (appeal_id, word) WHERE e.times IS DISTINCT FROM s.times";
        let values = [Value::from(after), Value::from(to)];
        let row = conn.query_one_raw(Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values)).await?;
        differ += row.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0);
        if last {
            break;
        }
        after = to;
    }
    Ok((differ > 0).then(|| format!("appeal_repeats: {differ} entries differ from the appeals' words")))
}
