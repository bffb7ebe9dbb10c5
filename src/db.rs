//! Database connection and migrations for SQLite (embedded) and PostgreSQL.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, ExecResult,
    QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use crate::config::Settings;

/// How long a pooled connection may sit idle before it is pinged again on checkout.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Opens the pool. On SQLite: WAL, foreign keys, a busy timeout; on PostgreSQL: the
/// statement timeout, the planner's cost of a read out of order
/// (`MCU_DB_RANDOM_PAGE_COST`) and `jit = off` are set for every connection of the pool.
///
/// JIT compiles a statement whose estimated cost passes `jit_above_cost` (100,000 by
/// default) before running it. The server's statements read a page, a total or a few
/// rollup rows, but some carry branches the planner prices high and never runs (the ways of
/// a ranked page not taken, see `service::appeal_query`): on 5,000,000 appeals a ranked
/// word within a channel read 474 buffers in 2.4 ms and spent 100 ms more being compiled.
///
/// # Errors
/// When the database cannot be reached.
pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut opts = ConnectOptions::new(settings.database_url.clone());
    let timeout_ms = settings.db_statement_timeout.as_millis();
    opts.max_connections(settings.db_max_connections)
        .min_connections(settings.db_min_connections)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        // A connection is pinged before use only when it sat idle for a while (the
        // database, a proxy or a firewall may have ended it meanwhile), not on every
        // checkout: SQLx's default ping is one more round trip per statement (a one-appeal
        // detail served on one core: 20–30% more requests/s without it; README).
        .test_before_acquire_if_idle_for(PING_AFTER_IDLE)
        .sqlx_logging(false);
    if settings.is_sqlite() {
        let max_pages = settings.sqlite_max_page_count;
        opts.map_sqlx_sqlite_opts(move |o| sqlite_options(o, timeout_ms as u64, max_pages));
        opts.map_sqlx_sqlite_pool_opts(|o| o.after_release(release_outside_transaction));
    } else {
        let page_cost = settings.db_random_page_cost;
        opts.map_sqlx_postgres_opts(move |o| {
            o.options([
                ("statement_timeout", format!("{timeout_ms}")),
                ("random_page_cost", format!("{page_cost}")),
                ("jit", "off".to_owned()),
            ])
        });
    }
    Database::connect(opts).await
}

/// Refreshes the planner's statistics and, on PostgreSQL, the visibility map after a bulk
/// load: `VACUUM (ANALYZE)` on a connection of its own without the requests' statement
/// timeout (a million fresh rows take longer than a request may, and `VACUUM` cannot run in
/// a transaction, where `SET LOCAL` would lift it). Without the visibility map, index-only
/// scans read every fresh row from the table (the current overdue count of a year: 214 ms
/// before, 15 ms after, on 1,000,000 demo appeals).
///
/// # Errors
/// When the database fails.
pub async fn after_bulk_load(settings: &Settings, db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    if settings.is_sqlite() {
        db.execute_unprepared("ANALYZE").await?;
        return Ok(());
    }
    maintenance(db, "VACUUM (ANALYZE)").await
}

/// Runs one maintenance statement (`VACUUM`, which cannot run in a transaction where
/// `SET LOCAL` would lift the timeout) on PostgreSQL on a connection of its own, made with
/// the pool's own settings but without the requests' statement timeout. On SQLite it runs
/// on the pool.
///
/// # Errors
/// When the database fails.
pub async fn maintenance(db: &DatabaseConnection, sql: &'static str) -> Result<(), sea_orm::DbErr> {
    use sea_orm::sqlx::Connection as _;
    if db.get_database_backend() != DbBackend::Postgres {
        db.execute_unprepared(sql).await?;
        return Ok(());
    }
    let failed = |e: sea_orm::sqlx::Error| sea_orm::DbErr::Custom(format!("maintenance connection: {e}"));
    let mut conn = sea_orm::sqlx::postgres::PgConnection::connect_with(&untimed(db)).await.map_err(failed)?;
    let done = sea_orm::sqlx::raw_sql(sql).execute(&mut conn).await.map(|_| ()).map_err(failed);
    let _ = conn.close().await;
    done
}

/// The PostgreSQL pool's connection settings without the requests' statement timeout (a
/// later `-c` of the same setting wins over the pool's), for [`maintenance`] and
/// [`migrate`].
fn untimed(db: &DatabaseConnection) -> sea_orm::sqlx::postgres::PgConnectOptions {
    (*db.get_postgres_connection_pool().connect_options()).clone().options([("statement_timeout", "0")])
}

fn sqlite_options(
    o: sea_orm::sqlx::sqlite::SqliteConnectOptions,
    timeout_ms: u64,
    max_page_count: Option<u64>,
) -> sea_orm::sqlx::sqlite::SqliteConnectOptions {
    let o = o
        .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_millis(timeout_ms));
    match max_page_count {
        Some(pages) => o.pragma("max_page_count", pages.to_string()),
        None => o,
    }
}

/// Whether an SQLite connection given back to the pool may serve again: not when sqlx still
/// counts it inside a transaction once the rollback of a dropped transaction ran. When a
/// failure made SQLite end a transaction itself (it may on `SQLITE_FULL` or an I/O error, and
/// a failed `COMMIT` does), the `ROLLBACK` of the dropped transaction fails and sqlx's depth
/// stays at one; the next transaction on that connection is then a savepoint, and after
/// its next failure `ROLLBACK TO` the savepoint leaves SQLite inside a transaction for good:
/// every later commit only released a savepoint in it (acknowledged, never in the file) and
/// the connection kept the write lock from every other writer ("database is locked"). Such a
/// connection is closed; the pool opens a fresh one when it is needed.
fn release_outside_transaction(
    conn: &mut sea_orm::sqlx::sqlite::SqliteConnection,
    _meta: sea_orm::sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'_, Result<bool, sea_orm::sqlx::Error>> {
    use sea_orm::sqlx::Connection;
    Box::pin(async move {
        if !conn.is_in_transaction() {
            return Ok(true);
        }
        // The rollback of a dropped transaction is queued: let the connection run it first.
        conn.ping().await?;
        if conn.is_in_transaction() {
            tracing::warn!("closing a database connection left inside a failed transaction");
            return Ok(false);
        }
        Ok(true)
    })
}

/// The connection write transactions ([`begin_write`]) use.
///
/// On SQLite, which lets one writer in at a time anyway, a pool of one connection with its own
/// settings: a 32 MB page cache (2 MB by default), statement journals in memory and a WAL
/// checkpoint every 10,000 pages (1,000 by default). A batch of appeals received over a
/// year touches pages all over the indexes: with the defaults SQLite spilled dirty pages to
/// the WAL mid-transaction, wrote statement journals to a temporary file and checkpointed
/// every few batches (`perf`: ≈ 50% of an import). Readers keep the small default cache,
/// so the server's memory grows by one cache, not one per connection. On PostgreSQL, and
/// for an in-memory SQLite database (which a second pool would not share), the pool itself.
///
/// # Errors
/// When the database cannot be reached.
pub async fn connect_writer(
    settings: &Settings,
    pool: &DatabaseConnection,
) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let url = &settings.database_url;
    if !settings.is_sqlite() || url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(pool.clone());
    }
    let timeout_ms = settings.db_statement_timeout.as_millis() as u64;
    let mut opts = ConnectOptions::new(url.clone());
    opts.max_connections(1)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_millis(timeout_ms).max(Duration::from_secs(10)))
        .sqlx_logging(false);
    let max_pages = settings.sqlite_max_page_count;
    opts.map_sqlx_sqlite_opts(move |o| {
        sqlite_options(o, timeout_ms, max_pages)
            .pragma("cache_size", "-32768")
            .pragma("temp_store", "memory")
            .pragma("wal_autocheckpoint", "10000")
    });
    opts.map_sqlx_sqlite_pool_opts(|o| o.after_release(release_outside_transaction));
    Database::connect(opts).await
}

/// Migrations that write many rows of a table (the backfill of a derived column of
/// `appeals`, a new table filled from the appeals there are), with the vacuum of the table.
const BULK_FILLS: &[(&str, &str)] = &[
    ("m20270106_000001_point_cells", "VACUUM (ANALYZE) appeals"),
    ("m20270116_000001_repeated_words", "VACUUM (ANALYZE) appeal_repeats"),
];

/// Applies pending migrations. On PostgreSQL a run that applied one of [`BULK_FILLS`] then
/// vacuums and analyzes the table it filled: until then every row has an old version on
/// disk (or, in a new table, no visibility information), the table's index-only reads go
/// to the heap, and a new table has no statistics for the planner, whether or not
/// autovacuum is on yet.
///
/// On PostgreSQL the migrations run on a connection of their own without the requests'
/// statement timeout ([`without_statement_timeout`]): a new index on 5,000,000 appeals
/// takes longer than the default 10 s, and `mcu migrate` (and so the server's start after
/// an upgrade) failed there with the default settings.
///
/// # Errors
/// When a migration or the vacuum fails.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    let own = without_statement_timeout(db).await?;
    let conn = own.as_ref().unwrap_or(db);
    let mut filled: Vec<&str> = Vec::new();
    if db.get_database_backend() == DbBackend::Postgres {
        let pending = Migrator::get_pending_migrations(conn).await?;
        filled = BULK_FILLS.iter().filter(|(m, _)| pending.iter().any(|p| p.name() == *m)).map(|(_, t)| *t).collect();
    }
    let applied = Migrator::up(conn, None).await;
    if let Some(own) = own {
        let _ = own.close().await;
    }
    applied?;
    for vacuum in filled {
        maintenance(db, vacuum).await?;
    }
    refresh_planner_statistics(db).await
}

/// On PostgreSQL, a pool of one connection made with `db`'s settings but without the
/// requests' statement timeout, for work whose statements grow with the tables (the
/// migrations); `None` on SQLite, whose busy timeout only bounds the wait for the lock.
async fn without_statement_timeout(db: &DatabaseConnection) -> Result<Option<DatabaseConnection>, sea_orm::DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(None);
    }
    let own = sea_orm::sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(untimed(db))
        .await
        .map_err(|e| sea_orm::DbErr::Custom(format!("migration connection: {e}")))?;
    Ok(Some(sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(own)))
}

/// How often a serving process refreshes SQLite's planner statistics
/// ([`refresh_planner_statistics`]) besides at start.
pub const PLANNER_STATISTICS_EVERY: Duration = Duration::from_hours(6);

/// On SQLite, gathers the planner's statistics where they are missing or stale:
/// `PRAGMA optimize=0x10002` analyzes each table that has rows and an index never analyzed,
/// or that grew or shrank 25-fold since it was, within SQLite's own time limit; otherwise it
/// does nothing. Run after the migrations and every [`PLANNER_STATISTICS_EVERY`]. Without
/// it a database that grew by use was never analyzed, and SQLite planned every list by
/// defaults; and an index a migration added was judged by defaults beside measured ones:
/// on the list grid's 200,000 appeals, the two recipient indexes of
/// `m20270111_000001_recipient_order_indexes`, unanalyzed, took one recipient's pages by
/// receipt and by deadline from the number's index (0.4 → 45–73 ms). PostgreSQL's
/// autovacuum analyzes by itself (and the server vacuums after its own bulk writes).
///
/// # Errors
/// When the database fails.
pub async fn refresh_planner_statistics(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA optimize=0x10002").await?;
    }
    Ok(())
}

/// How long `/readyz` waits for the database before it answers "not ready".
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the database cannot take writes now, or `Ok` when it can (for `/readyz`; within
/// [`READY_TIMEOUT`]). On SQLite: the write lock can be taken (`BEGIN IMMEDIATE`, then
/// `ROLLBACK`), at least `MCU_DB_MIN_FREE_BYTES` are left below the page cap
/// (`max_page_count`, with the free pages inside the file) and on the file system of the
/// database file. On PostgreSQL: the database answers on a connection of the pool (it
/// exists, the server is up) and is not read-only (`transaction_read_only`, which a
/// standby or `default_transaction_read_only` turn on). The reasons name no internal detail.
pub async fn write_readiness(settings: &Settings, db: &DatabaseConnection) -> Result<(), String> {
    let check = async {
        if db.get_database_backend() == DbBackend::Postgres {
            postgres_readiness(db).await
        } else {
            sqlite_readiness(settings, db).await
        }
    };
    tokio::time::timeout(READY_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| Err(format!("the database did not answer within {} s", READY_TIMEOUT.as_secs())))
}

async fn postgres_readiness(db: &DatabaseConnection) -> Result<(), String> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SHOW transaction_read_only"))
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "readiness: the database cannot be reached");
            "the database cannot be reached".to_string()
        })?;
    let read_only = row.and_then(|r| r.try_get::<String>("", "transaction_read_only").ok());
    if read_only.as_deref() == Some("off") { Ok(()) } else { Err("the database is read-only".into()) }
}

async fn sqlite_readiness(settings: &Settings, db: &DatabaseConnection) -> Result<(), String> {
    let txn = begin_write(db).await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: the database's write lock cannot be taken");
        "the database does not take the write lock".to_string()
    })?;
    let sql = "SELECT c.page_count AS pages, m.max_page_count AS max_pages, f.freelist_count AS free_pages, \
               s.page_size AS page_size FROM pragma_page_count() c, pragma_max_page_count() m, \
               pragma_freelist_count() f, pragma_page_size() s";
    let row = txn.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql)).await;
    let rolled_back = txn.rollback().await;
    let row = row.and_then(|r| r.ok_or_else(|| sea_orm::DbErr::RecordNotFound("pragma".into()))).map_err(|e| {
        tracing::warn!(error = %e, "readiness: the database's size cannot be read");
        "the database's size cannot be read".to_string()
    })?;
    rolled_back.map_err(|_| "the database does not release the write lock".to_string())?;
    let get = |c: &str| row.try_get::<i64>("", c).map_or(0, |v| u64::try_from(v).unwrap_or(0));
    let (pages, max_pages, free_pages, page_size) =
        (get("pages"), get("max_pages"), get("free_pages"), get("page_size"));
    let room = (max_pages.saturating_sub(pages) + free_pages).saturating_mul(page_size);
    let need = settings.db_min_free_bytes;
    if room < need {
        return Err(format!("the database has {room} bytes left below its page cap, less than {need}"));
    }
    if let Some(path) = settings.sqlite_path() {
        let stat = rustix::fs::statvfs(&path).map_err(|e| {
            tracing::warn!(error = %e, "readiness: the database's file system cannot be examined");
            "the database's file system cannot be examined".to_string()
        })?;
        let free = stat.f_bavail.saturating_mul(stat.f_frsize);
        if free < need {
            return Err(format!("the database's file system has {free} bytes free, less than {need}"));
        }
    }
    Ok(())
}

/// Begins a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of one failing when
/// it upgrades a read snapshot; on PostgreSQL it is an ordinary transaction.
///
/// # Errors
/// When the database refuses to start a transaction.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, sea_orm::DbErr> {
    db.begin_with_options(TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    })
    .await
}

/// Makes the writers of one `key` (a rate-limit bucket and client, an account's sign-in
/// attempts) take turns until their transactions end, so that a count read in the
/// transaction and the row written after it cannot be interleaved with another writer's.
/// On PostgreSQL a transaction-scoped advisory lock on the key's 64-bit hash (a collision only
/// makes two keys wait for each other); on SQLite nothing more is needed: [`begin_write`]
/// already holds the database's only write lock.
///
/// # Errors
/// When the database refuses the lock (e.g. the statement timeout passes while waiting).
pub async fn lock_key(txn: &DatabaseTransaction, key: &str) -> Result<(), sea_orm::DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [key.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Row counts for the statements of a bulk write of `n` rows: as many full statements of
/// `max` rows as fit, then the rest as powers of two, largest first (999 of 1,000 → 512,
/// 256, 128, 64, 32, 4, 2, 1).
///
/// A multi-row `INSERT` or an `IN` list has another text for every row count, and the pool
/// keeps each text as a prepared statement on every connection that ran it (sqlx keeps up
/// to 100 a connection, each with its text and parameter list: 300 KB for 1,000 appeals).
/// With sizes from this fixed set a statement kind has at most a dozen texts whatever the
/// batch sizes: an import of 100,000 rows grew the process by ≈ 70 MB before, because
/// every batch wrote another number of rollup rows.
pub fn bulk_sizes(n: usize, max: usize) -> impl Iterator<Item = usize> {
    let max = max.max(1);
    let (full, rest) = (n / max, n % max);
    let powers = (0..usize::BITS).rev().map(|bit| 1_usize << bit).filter(move |p| rest & p != 0);
    std::iter::repeat_n(max, full).chain(powers)
}

/// The end of the next range of appeal ids after `after` holding at most `n` appeals (the
/// `n`-th id after it, or the last), `None` when no appeal follows: a whole-table check or
/// rewrite walks ranges of existing ids, so each statement stays under the statement
/// timeout and a gap in the ids (a sequence moved on, rows of another database merged in)
/// costs nothing, where fixed steps up to the largest id would run one empty statement per
/// step across it. A walk of the primary key, index-only where the visibility map allows.
///
/// # Errors
/// When the database fails.
pub async fn appeal_range_end(conn: &impl ConnectionTrait, after: i64, n: u64) -> Result<Option<i64>, sea_orm::DbErr> {
    let backend = conn.get_database_backend();
    let mark = if backend == DbBackend::Postgres { "$1" } else { "?" };
    let sql = format!(
        "SELECT CAST(max(id) AS BIGINT) AS m FROM (SELECT id FROM appeals WHERE id > {mark} ORDER BY id LIMIT {n}) AS r"
    );
    let row = conn.query_one_raw(Statement::from_sql_and_values(backend, sql, [after.into()])).await?;
    Ok(row.map(|r| r.try_get::<Option<i64>>("", "m")).transpose()?.flatten())
}

/// Splits `values` into `IN` lists of at most `max` values, each padded (by repeating its
/// last value, which changes no `IN`) to a power of two or to `max`, so that a lookup has a
/// few statement texts whatever the number of values (see [`bulk_sizes`]).
pub fn in_lists<T: Clone>(values: &[T], max: usize) -> Vec<Vec<T>> {
    values
        .chunks(max.max(1))
        .map(|chunk| {
            let size = chunk.len().next_power_of_two().min(max.max(1));
            let mut list = chunk.to_vec();
            if let Some(last) = chunk.last() {
                list.resize(size, last.clone());
            }
            list
        })
        .collect()
}

/// Inserts `rows` in statements of [`bulk_sizes`] rows (at most `max` a statement).
///
/// # Errors
/// When the database refuses a statement; the caller's transaction then holds what the
/// statements before it wrote, as with any failed statement.
pub async fn insert_rows<A>(conn: &impl ConnectionTrait, rows: Vec<A>, max: usize) -> Result<(), sea_orm::DbErr>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    let backend = conn.get_database_backend();
    for statement in bulk_statements(backend, rows, max, &[]) {
        conn.execute_raw(statement).await?;
    }
    Ok(())
}

/// [`insert_rows`] that returns `columns` of the rows written (`RETURNING`, on PostgreSQL and
/// SQLite alike), as `M`: no second statement to read back what was just inserted.
///
/// # Errors
/// As [`insert_rows`].
pub async fn insert_rows_returning<A, M>(
    conn: &impl ConnectionTrait,
    rows: Vec<A>,
    max: usize,
    columns: &[<A::Entity as sea_orm::EntityTrait>::Column],
) -> Result<Vec<M>, sea_orm::DbErr>
where
    A: sea_orm::ActiveModelTrait + Send,
    M: sea_orm::FromQueryResult,
{
    let backend = conn.get_database_backend();
    let returning: Vec<&str> = columns.iter().map(sea_orm::IdenStatic::as_str).collect();
    let mut out = Vec::with_capacity(rows.len());
    for statement in bulk_statements(backend, rows, max, &returning) {
        out.extend(M::find_by_statement(statement).all(conn).await?);
    }
    Ok(out)
}

/// The multi-row `INSERT` statements of a bulk write, in [`bulk_sizes`] rows each.
///
/// Written here rather than by the query builder: a bulk write of appeals binds 50,000
/// values, and building them as expressions, writing them out and dropping them again cost
/// a sixth of the server's time in an ingestion (`bench/ingest.sh`). The values go to the
/// driver as they are (no column of the project's entities is cast on its way in), in the
/// columns the first row sets; rows that set other columns than the first (none of the
/// project's bulk writes does) are written by the query builder.
/// Statement texts are kept by table, columns and row count: a few dozen in all.
fn bulk_statements<A>(backend: DbBackend, rows: Vec<A>, max: usize, returning: &[&str]) -> Vec<Statement>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    use sea_orm::{ActiveValue, EntityName, IdenStatic, Iterable};
    let Some(first) = rows.first() else { return Vec::new() };
    let all = || <A::Entity as sea_orm::EntityTrait>::Column::iter();
    let mask: Vec<bool> = all().map(|c| !first.is_not_set(c)).collect();
    let columns: Vec<_> = all().zip(&mask).filter(|(_, set)| **set).map(|(c, _)| c).collect();
    let set = |row: &A| all().zip(&mask).all(|(c, set)| row.is_not_set(c) != *set);
    if columns.is_empty() || !rows.iter().all(set) {
        return rows_by_query_builder(backend, rows, max, returning);
    }
    let table = A::Entity::default().table_name().to_owned();
    let names: Vec<&str> = columns.iter().map(IdenStatic::as_str).collect();
    let mut statements = Vec::new();
    let mut rows = rows.into_iter();
    for size in bulk_sizes(rows.len(), max) {
        let mut values = Vec::with_capacity(size * columns.len());
        for mut row in rows.by_ref().take(size) {
            for c in &columns {
                match row.take(*c) {
                    ActiveValue::Set(v) | ActiveValue::Unchanged(v) => values.push(v),
                    // `set` above: every row sets these columns.
                    ActiveValue::NotSet => unreachable!("a bulk row without a column the first row sets"),
                }
            }
        }
        let sql = insert_text(backend, &table, &names, size, returning);
        statements.push(Statement::from_sql_and_values(backend, sql.as_str(), values));
    }
    statements
}

/// The rare case of rows that set different columns: the query builder fills the gaps.
fn rows_by_query_builder<A>(backend: DbBackend, rows: Vec<A>, max: usize, returning: &[&str]) -> Vec<Statement>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    use sea_orm::sea_query::{Alias, ReturningClause};
    use sea_orm::{EntityTrait, QueryTrait};
    let mut statements = Vec::new();
    let mut rows = rows.into_iter();
    for size in bulk_sizes(rows.len(), max) {
        let part: Vec<A> = rows.by_ref().take(size).collect();
        let mut query = A::Entity::insert_many(part).into_query();
        if !returning.is_empty() {
            query.returning(ReturningClause::Columns(
                returning.iter().map(|c| sea_orm::sea_query::IntoColumnRef::into_column_ref(Alias::new(*c))).collect(),
            ));
        }
        statements.push(backend.build(&query));
    }
    statements
}

/// `INSERT INTO "t" ("a", "b") VALUES ($1, $2), ($3, $4) RETURNING "id"`, kept once made.
fn insert_text(
    backend: DbBackend,
    table: &str,
    columns: &[&str],
    rows: usize,
    returning: &[&str],
) -> std::sync::Arc<String> {
    use std::collections::HashMap;
    use std::fmt::Write;
    use std::sync::{Arc, LazyLock, Mutex};
    type Key = (bool, String, Vec<String>, usize, Vec<String>);
    static TEXTS: LazyLock<Mutex<HashMap<Key, Arc<String>>>> = LazyLock::new(Mutex::default);
    let postgres = backend == DbBackend::Postgres;
    let key: Key = (
        postgres,
        table.to_owned(),
        columns.iter().map(|c| (*c).to_owned()).collect(),
        rows,
        returning.iter().map(|c| (*c).to_owned()).collect(),
    );
    let mut texts = TEXTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(text) = texts.get(&key) {
        return text.clone();
    }
    let quoted = |names: &[&str]| names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    let mut sql = format!("INSERT INTO \"{table}\" ({}) VALUES ", quoted(columns));
    let mut n = 0;
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns.len() {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            if postgres {
                let _ = write!(sql, "${n}");
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    if !returning.is_empty() {
        let _ = write!(sql, " RETURNING {}", quoted(returning));
    }
    let text = Arc::new(sql);
    texts.insert(key, text.clone());
    text
}

/// `table.col IN (…)` with the values written into the statement instead of bound.
///
/// PostgreSQL plans a prepared statement with parameters afresh on every execution when
/// the plan made without knowing the values looks dearer than those made with them, which
/// is the case for the list (`status IN ($1, $2)` could match anything): 1.1 ms of planning
/// per page on 1,000,000 appeals, more than reading the page. The list's filters are drawn
/// from small sets (statuses, channels, kinds, ids), so each combination is its own
/// statement, planned once per connection and then reused. Only enum names and integers
/// are written this way (escaped by the query builder all the same), in a stable order.
pub fn literal_in<C, V>(col: C, values: impl IntoIterator<Item = V>) -> sea_orm::sea_query::SimpleExpr
where
    C: sea_orm::ColumnTrait,
    V: Into<sea_orm::Value> + Ord,
{
    let mut values: Vec<V> = values.into_iter().collect();
    values.sort();
    values.dedup();
    use sea_orm::sea_query::{Expr, ExprTrait};
    Expr::col((col.entity_name(), col)).is_in(values.into_iter().map(|v| Expr::Constant(v.into())))
}

/// What a statement's run is reported to (the server's statement counters).
pub type MetricCallback = Arc<dyn Fn(&sea_orm::metric::Info<'_>) + Send + Sync>;

/// The reads of requests that take one statement each (the one-appeal detail, a list page and
/// its total), run on connections handed from one read to the next on PostgreSQL.
///
/// SQLx pings a connection each time it goes back to its pool: one more round trip to the
/// database for every statement, 9% of the server's CPU on a one-appeal detail, and more of
/// PostgreSQL's (README, performance). A read that finished has left its connection as it
/// found it, so these reads keep the connection aside and the next read takes it straight
/// away. A connection goes back to the pool (and is pinged there) instead when:
/// - its read failed or was given up half-way (a client that went away): it may be in any state;
/// - it has been aside for longer than [`PING_AFTER_IDLE`] (the database may have ended it
///   meanwhile; the pool pings such a connection before its next use): a sweep every
///   [`PING_AFTER_IDLE`] gives those back, so a quiet server holds none aside;
/// - the pool has opened all the connections it may and none is idle: someone may be waiting
///   for one, and a connection aside would keep them waiting while reads went ahead;
/// - the server stops ([`Reads::close`]).
///
/// Writes, transactions and SQLite go to the pool as before.
#[derive(Clone)]
pub struct Reads {
    db: DatabaseConnection,
    aside: Option<Arc<Aside>>,
}

struct Aside {
    pool: sea_orm::sqlx::PgPool,
    kept: Mutex<Vec<(PgPooled, Instant)>>,
    metric: Option<MetricCallback>,
}

type PgPooled = sea_orm::sqlx::pool::PoolConnection<sea_orm::sqlx::Postgres>;

impl Reads {
    /// Reads on `db`'s pool, each statement reported to `metric`. Starts the sweep (needs
    /// the Tokio runtime).
    #[must_use]
    pub fn new(db: &DatabaseConnection, metric: Option<MetricCallback>) -> Self {
        if db.get_database_backend() != DbBackend::Postgres {
            return Self { db: db.clone(), aside: None };
        }
        let aside = Arc::new(Aside { pool: db.get_postgres_connection_pool().clone(), kept: Mutex::default(), metric });
        let weak = Arc::downgrade(&aside);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PING_AFTER_IDLE);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(aside) = weak.upgrade() else { return };
                drop(aside.take_stale(false));
            }
        });
        Self { db: db.clone(), aside: Some(aside) }
    }

    /// How many connections are aside now.
    #[must_use]
    pub fn kept(&self) -> usize {
        self.aside.as_ref().map_or(0, |a| a.kept.lock().map_or(0, |k| k.len()))
    }

    /// Gives every connection aside back to the pool, before the pool closes (which waits
    /// for all of its connections).
    pub fn close(&self) {
        if let Some(a) = &self.aside {
            drop(a.take_stale(true));
        }
    }
}

impl Aside {
    /// Takes out the connections aside for longer than [`PING_AFTER_IDLE`] (all of them when
    /// `all`), to be dropped (given back to the pool) outside the lock.
    fn take_stale(&self, all: bool) -> Vec<PgPooled> {
        let Ok(mut kept) = self.kept.lock() else { return Vec::new() };
        // The last one put aside is at the end: the stale ones are at the start.
        let fresh_from = if all { kept.len() } else { kept.partition_point(|(_, at)| at.elapsed() >= PING_AFTER_IDLE) };
        kept.drain(..fresh_from).map(|(c, _)| c).collect()
    }

    async fn take(&self) -> Result<PgPooled, sea_orm::DbErr> {
        let fresh = self.kept.lock().ok().and_then(|mut k| k.pop()).filter(|(_, at)| at.elapsed() < PING_AFTER_IDLE);
        match fresh {
            Some((c, _)) => Ok(c),
            None => self.pool.acquire().await.map_err(|e| match e {
                sea_orm::sqlx::Error::PoolTimedOut => {
                    sea_orm::DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)
                }
                sea_orm::sqlx::Error::PoolClosed => {
                    sea_orm::DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::ConnectionClosed)
                }
                e => sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e.into())),
            }),
        }
    }

    fn put(&self, c: PgPooled) {
        let pool = &self.pool;
        let exhausted = pool.size() >= pool.options().get_max_connections() && pool.num_idle() == 0;
        if pool.is_closed() || exhausted {
            return; // dropped: back to the pool
        }
        if let Ok(mut kept) = self.kept.lock() {
            kept.push((c, Instant::now()));
        }
    }

    async fn run<T>(
        &self,
        stmt: &Statement,
        read: impl AsyncFnOnce(
            sea_orm::sqlx::query::Query<'_, sea_orm::sqlx::Postgres, sea_query_sqlx::SqlxValues>,
            &mut sea_orm::sqlx::postgres::PgConnection,
        ) -> Result<T, sea_orm::sqlx::Error>,
    ) -> Result<T, sea_orm::DbErr> {
        let mut conn = self.take().await?;
        let start = Instant::now();
        let values = stmt.values.clone().unwrap_or(sea_orm::sea_query::Values(Vec::new()));
        let query = sea_orm::sqlx::query_with(
            sea_orm::sqlx::AssertSqlSafe(stmt.sql.as_str()),
            sea_query_sqlx::SqlxValues(values),
        );
        let res = read(query, &mut conn).await;
        if let Some(metric) = &self.metric {
            metric(&sea_orm::metric::Info { elapsed: start.elapsed(), statement: stmt, failed: res.is_err() });
        }
        match res {
            Ok(v) => {
                self.put(conn);
                Ok(v)
            }
            // A failed read's connection goes back to the pool, which pings it.
            Err(e) => Err(sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(e.into()))),
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Reads {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, sea_orm::DbErr> {
        self.db.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, sea_orm::DbErr> {
        self.db.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, sea_orm::DbErr> {
        match &self.aside {
            None => self.db.query_one_raw(stmt).await,
            Some(a) => a.run(&stmt, async |q, c| q.fetch_optional(c).await).await.map(|r| r.map(Into::into)),
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, sea_orm::DbErr> {
        match &self.aside {
            None => self.db.query_all_raw(stmt).await,
            Some(a) => {
                a.run(&stmt, async |q, c| q.fetch_all(c).await).await.map(|r| r.into_iter().map(Into::into).collect())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{bulk_sizes, bulk_statements, in_lists};
    use crate::entity::outbox;

    fn outbox_row(n: i64) -> outbox::ActiveModel {
        use sea_orm::{NotSet, Set};
        outbox::ActiveModel {
            id: NotSet,
            topic: Set(format!("t{n}")),
            subject_type: Set("appeal".into()),
            subject_id: Set(Some(n)),
            payload: Set("{}".into()),
            created_at: Set(chrono::DateTime::UNIX_EPOCH),
            dispatched_at: Set(None),
        }
    }

    #[test]
    fn a_bulk_insert_binds_each_row_in_column_order() {
        use sea_orm::{DbBackend, Value};
        let rows: Vec<outbox::ActiveModel> = (1..=3).map(outbox_row).collect();
        let statements = bulk_statements(DbBackend::Postgres, rows, 2, &["id"]);
        assert_eq!(statements.len(), 2, "2 rows, then 1");
        assert_eq!(
            statements[0].sql,
            "INSERT INTO \"outbox\" (\"topic\", \"subject_type\", \"subject_id\", \"payload\", \"created_at\", \
             \"dispatched_at\") VALUES ($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12) RETURNING \"id\""
        );
        let values = &statements[0].values.as_ref().unwrap().0;
        assert_eq!(values.len(), 12);
        assert_eq!(values[0], Value::from("t1"));
        assert_eq!(values[6], Value::from("t2"));
        assert_eq!(values[8], Value::from(Some(2_i64)));
        assert_eq!(statements[1].values.as_ref().unwrap().0[0], Value::from("t3"));
        let sqlite = bulk_statements(DbBackend::Sqlite, vec![outbox_row(1)], 10, &[]);
        assert_eq!(
            sqlite[0].sql,
            "INSERT INTO \"outbox\" (\"topic\", \"subject_type\", \"subject_id\", \"payload\", \"created_at\", \
             \"dispatched_at\") VALUES (?, ?, ?, ?, ?, ?)"
        );
        // Rows that set other columns than the first go through the query builder, which
        // fills the gaps: the same rows in the same statements.
        let mut other = outbox_row(2);
        other.dispatched_at = sea_orm::NotSet;
        let mixed = bulk_statements(DbBackend::Postgres, vec![outbox_row(1), other], 10, &[]);
        assert_eq!(mixed.len(), 1);
        assert!(mixed[0].sql.starts_with("INSERT INTO \"outbox\""), "{}", mixed[0].sql);
    }

    #[test]
    fn bulk_writes_use_a_fixed_set_of_row_counts() {
        let mut seen = std::collections::BTreeSet::new();
        for n in 0..=2_500 {
            let sizes: Vec<usize> = bulk_sizes(n, 1000).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n, "{n} rows");
            assert!(sizes.iter().all(|&s| s <= 1000));
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "largest first: {sizes:?}");
            assert!(sizes.len() <= n / 1000 + 10, "{n} rows in {} statements", sizes.len());
            seen.extend(sizes);
        }
        assert_eq!(seen.len(), 11, "1,000 and the ten powers of two below it: {seen:?}");
        assert_eq!(bulk_sizes(999, 1000).collect::<Vec<_>>(), [512, 256, 128, 64, 32, 4, 2, 1]);
        assert_eq!(bulk_sizes(2_001, 1000).collect::<Vec<_>>(), [1000, 1000, 1]);
        assert_eq!(bulk_sizes(5, 0).collect::<Vec<_>>(), [1, 1, 1, 1, 1]);
    }

    #[test]
    fn in_lists_are_padded_with_a_value_they_hold() {
        let mut seen = std::collections::BTreeSet::new();
        for n in 0..=1_200_u32 {
            let values: Vec<u32> = (0..n).collect();
            let lists = in_lists(&values, 500);
            let mut back: Vec<u32> = lists.iter().flatten().copied().collect();
            back.dedup();
            assert_eq!(back, values, "every value once, in order, padding only repeats");
            for l in &lists {
                assert!(l.len() <= 500);
                seen.insert(l.len());
            }
        }
        assert!(seen.len() <= 10, "{seen:?}");
        assert_eq!(in_lists(&["a", "b", "c"], 500), [vec!["a", "b", "c", "c"]]);
        assert!(in_lists::<u8>(&[], 500).is_empty());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod statistics_tests {
    use sea_orm::{ConnectionTrait, Database};

    async fn analyzed(db: &sea_orm::DatabaseConnection, table: &str) -> Vec<String> {
        let sql = format!("SELECT idx || ' ' || stat FROM sqlite_stat1 WHERE tbl = '{table}' ORDER BY idx");
        let rows = db.query_all_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, sql)).await.unwrap();
        rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect()
    }

    /// SQLite's statistics are gathered after the migrations and again when asked: for a
    /// table with rows that was never analyzed and for an index added later, never for an
    /// empty table (statistics of no rows would mislead the planner once rows come).
    #[tokio::test]
    async fn the_planner_statistics_are_gathered_after_migrations_and_for_new_indexes() {
        let dir = std::env::temp_dir().join(format!("mcu-statistics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = Database::connect(format!("sqlite://{}?mode=rwc", dir.join("s.db").display())).await.unwrap();
        super::migrate(&db).await.unwrap();
        assert_eq!(analyzed(&db, "appeals").await, Vec::<String>::new(), "no rows, no statistics");
        db.execute_unprepared("CREATE TABLE probe (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER)").await.unwrap();
        db.execute_unprepared("CREATE INDEX probe_a ON probe (a)").await.unwrap();
        db.execute_unprepared(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000) \
             INSERT INTO probe (a, b) SELECT x % 10, x % 100 FROM c",
        )
        .await
        .unwrap();
        assert_eq!(analyzed(&db, "probe").await, Vec::<String>::new());
        super::migrate(&db).await.unwrap();
        assert_eq!(analyzed(&db, "probe").await, ["probe_a 5000 500"]);
        db.execute_unprepared("CREATE INDEX probe_b ON probe (b)").await.unwrap();
        super::refresh_planner_statistics(&db).await.unwrap();
        assert_eq!(analyzed(&db, "probe").await, ["probe_a 5000 500", "probe_b 5000 50"]);
        db.close().await.unwrap();
        std::fs::remove_dir_all(&dir).ok();
    }
}
