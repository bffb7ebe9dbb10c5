//! The indexes a fresh database has after every migration, as the database itself reports
//! them, against the committed lists `migration/indexes.postgres.txt` and
//! `migration/indexes.sqlite.txt` (one line per index: table, name, definition).
//!
//! Why: list speed rests on the exact shape of each index, and a migration that writes
//! `CREATE INDEX IF NOT EXISTS` keeps an older index of the same name without a word. That
//! happened once (`ix_appeals_unresolved_due` stayed `(due_at) INCLUDE (…)` on PostgreSQL for
//! a month, see `m20270114_000001_unresolved_deadline_order`). With the list committed, every
//! change of an index shows in review as a changed line, and a shape that a migration meant
//! but did not get fails here. After a deliberate change, rewrite the list with
//! `MCU_UPDATE_INDEX_LISTS=1 cargo test --test api indexes::` (and again with
//! `TEST_DATABASE_URL` set for PostgreSQL), then read the diff. The PostgreSQL list is
//! PostgreSQL 15's wording of each definition (`pg_get_indexdef`); another major version may
//! word a cast differently, and then the list is rewritten on it and the diff read the same way.

use crate::helpers::spawn_app;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

/// Every index of the database, one line each, sorted: `table name definition` with runs of
/// white space made one space (SQLite keeps the text of the `CREATE INDEX` as written).
async fn live_indexes(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "SELECT tablename AS t, indexname AS n, indexdef AS d FROM pg_indexes \
             WHERE schemaname = current_schema() ORDER BY tablename, indexname"
        }
        // SQLite's own automatic indexes (primary keys, UNIQUE constraints) have no text;
        // they follow from the tables.
        _ => {
            "SELECT tbl_name AS t, name AS n, sql AS d FROM sqlite_master \
             WHERE type = 'index' AND sql IS NOT NULL ORDER BY tbl_name, name"
        }
    };
    let rows = db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap();
    let mut lines: Vec<String> = rows
        .iter()
        .map(|r| {
            let (t, n, d): (String, String, String) =
                (r.try_get("", "t").unwrap(), r.try_get("", "n").unwrap(), r.try_get("", "d").unwrap());
            format!("{t} {n} {}", d.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn a_fresh_database_has_exactly_the_committed_indexes() {
    let app = spawn_app().await;
    let backend = app.state.db.get_database_backend();
    let name = if backend == DatabaseBackend::Postgres { "postgres" } else { "sqlite" };
    let version_sql =
        if backend == DatabaseBackend::Postgres { "SHOW server_version" } else { "SELECT sqlite_version()" };
    let version = app.state.db.query_one_raw(Statement::from_string(backend, version_sql)).await.unwrap().unwrap();
    let version: String = version.try_get_by_index(0).unwrap();
    let path = format!("{}/migration/indexes.{name}.txt", env!("CARGO_MANIFEST_DIR"));
    let live = live_indexes(&app.state.db).await;
    assert!(live.len() > 20, "too few indexes read: {live:?}");
    if std::env::var("MCU_UPDATE_INDEX_LISTS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, live.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let committed: Vec<&str> = committed.lines().filter(|l| !l.trim().is_empty()).collect();
    let missing: Vec<&str> = committed.iter().copied().filter(|l| !live.iter().any(|x| x == l)).collect();
    let unexpected: Vec<&str> = live.iter().map(String::as_str).filter(|l| !committed.contains(l)).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "the migrated {name} indexes ({name} {version}) differ from {path}\n\
         in the list, not in the database:\n  {}\n\
         in the database, not in the list:\n  {}\n\
         after a deliberate change: MCU_UPDATE_INDEX_LISTS=1 cargo test --test api indexes::",
        missing.join("\n  "),
        unexpected.join("\n  "),
    );
}
