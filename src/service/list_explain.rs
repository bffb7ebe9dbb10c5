//! `mcu explain-list`: how the database runs the statements of one shape of the appeal list
//! (its first page and its total), built by the list's own query builder
//! ([`appeal_query::list_statements`]), so the benchmark explains the SQL the server sends.
//!
//! PostgreSQL: `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`; the execution time (planning left
//! out: the list's statements are planned once per connection) and the shared buffers the
//! page touched. SQLite: `EXPLAIN QUERY PLAN` and the wall time of running the statement.
//! Each statement runs `runs` times; the median is reported (the first run warms the cache).

use std::time::Instant;

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde::Serialize;

use super::appeal_query::{self, AppealFilter, ListRequest};
use super::scope::AppealScope;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// How one statement ran.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// The plan's nodes, outermost first (`Limit > Index Scan ix_appeals_status_due`).
    pub plan: String,
    /// Median time in the database (PostgreSQL: execution time; SQLite: wall time), ms.
    pub ms: f64,
    /// Shared buffers hit and read (PostgreSQL).
    pub buffers: Option<i64>,
    /// Rows returned.
    pub rows: i64,
}

/// A shape of the list as `explain-list` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    pub page: Measured,
    /// `rollup` or `appeals`: what `totalCount` reads.
    pub count_source: &'static str,
    /// `None` when not asked for (the total does not depend on the order).
    pub count: Option<Measured>,
    /// The plain count over `appeals`, for comparison, when the total comes from the rollups.
    pub direct_count: Option<Measured>,
}

/// Explains the first page of `req` and (`with_count`) its total for a caller that sees
/// every appeal.
///
/// # Errors
/// When the filter is refused or the database fails.
pub async fn explain(
    state: &AppState,
    f: &AppealFilter,
    req: ListRequest,
    runs: usize,
    with_count: bool,
) -> AppResult<Explained> {
    let scope = AppealScope::for_token_reading_all();
    let conn = &state.db;
    let backend = conn.get_database_backend();
    let refs = super::reference::snapshot(state).await?;
    let (tz, now) = (state.settings.timezone, state.clock.now());
    let (page_stmt, list) = appeal_query::list_statements(backend, &refs, &scope, f, tz, now, req)?;
    let page = measure(conn, &page_stmt, runs).await?;
    let (count_stmt, source) = list.count_statement(backend);
    let (count, direct_count) = if with_count {
        let count = measure(conn, &count_stmt, runs).await?;
        let direct = if source == "appeals" {
            None
        } else {
            Some(measure(conn, &list.direct_count_statement(backend), runs).await?)
        };
        (Some(count), direct)
    } else {
        (None, None)
    };
    Ok(Explained { page, count_source: source, count, direct_count })
}

async fn measure(conn: &impl ConnectionTrait, stmt: &Statement, runs: usize) -> AppResult<Measured> {
    let runs = runs.max(1);
    let values = stmt.values.clone().map(|v| v.0).unwrap_or_default();
    match conn.get_database_backend() {
        DatabaseBackend::Postgres => {
            let sql = format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {}", stmt.sql);
            let mut times = Vec::with_capacity(runs);
            let mut last = serde_json::Value::Null;
            for _ in 0..runs {
                let row = conn
                    .query_one_raw(Statement::from_sql_and_values(
                        DatabaseBackend::Postgres,
                        sql.clone(),
                        values.clone(),
                    ))
                    .await?
                    .ok_or_else(|| AppError::internal("EXPLAIN returned nothing"))?;
                let json: serde_json::Value = match row.try_get_by_index::<serde_json::Value>(0) {
                    Ok(v) => v,
                    Err(_) => serde_json::from_str(&row.try_get_by_index::<String>(0)?).map_err(AppError::internal)?,
                };
                let top = json.get(0).cloned().unwrap_or_default();
                times.push(top["Execution Time"].as_f64().unwrap_or(f64::NAN));
                last = top;
            }
            let plan = &last["Plan"];
            let mut nodes = Vec::new();
            describe(plan, &mut nodes);
            let buffers =
                plan["Shared Hit Blocks"].as_i64().unwrap_or(0) + plan["Shared Read Blocks"].as_i64().unwrap_or(0);
            Ok(Measured {
                plan: nodes.join(" > "),
                ms: median(times),
                buffers: Some(buffers),
                rows: plan["Actual Rows"].as_i64().unwrap_or(0),
            })
        }
        backend => {
            let rows = conn
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    format!("EXPLAIN QUERY PLAN {}", stmt.sql),
                    values.clone(),
                ))
                .await?;
            let plan: Vec<String> = rows.iter().filter_map(|r| r.try_get_by_index::<String>(3).ok()).collect();
            let mut times = Vec::with_capacity(runs);
            let mut n = 0;
            for _ in 0..runs {
                let started = Instant::now();
                n = conn.query_all_raw(stmt.clone()).await?.len();
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            Ok(Measured { plan: plan.join("; "), ms: median(times), buffers: None, rows: n as i64 })
        }
    }
}

/// The plan's node types (with their index, or a relation when there is no index),
/// depth first.
fn describe(node: &serde_json::Value, out: &mut Vec<String>) {
    let Some(kind) = node["Node Type"].as_str() else { return };
    let on =
        node["Index Name"].as_str().or_else(|| node["Relation Name"].as_str()).or_else(|| node["CTE Name"].as_str());
    let mut said = match on {
        Some(on) => format!("{kind} {on}"),
        None => kind.to_string(),
    };
    // The top node of a common table or subquery says which (`CTE run0`).
    if let Some(name) = node["Subplan Name"].as_str() {
        said = format!("[{name}] {said}");
    }
    // A node of a branch the statement did not need (a `LIMIT 0` above it).
    if node["Actual Loops"].as_i64() == Some(0) {
        said.push_str(" (never executed)");
    }
    out.push(said);
    if let Some(children) = node["Plans"].as_array() {
        for c in children {
            describe(c, out);
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
