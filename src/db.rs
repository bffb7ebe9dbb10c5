//! Database connection and migrations for SQLite (embedded) and PostgreSQL.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use crate::config::Settings;

/// Opens the pool. On SQLite: WAL, foreign keys, a busy timeout; on PostgreSQL: the
/// statement timeout is set for every connection of the pool.
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
        .sqlx_logging(false);
    if settings.is_sqlite() {
        opts.map_sqlx_sqlite_opts(move |o| sqlite_options(o, timeout_ms as u64));
    } else {
        opts.map_sqlx_postgres_opts(move |o| o.options([("statement_timeout", format!("{timeout_ms}"))]));
    }
    Database::connect(opts).await
}

fn sqlite_options(
    o: sea_orm::sqlx::sqlite::SqliteConnectOptions,
    timeout_ms: u64,
) -> sea_orm::sqlx::sqlite::SqliteConnectOptions {
    o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_millis(timeout_ms))
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
    opts.map_sqlx_sqlite_opts(move |o| {
        sqlite_options(o, timeout_ms)
            .pragma("cache_size", "-32768")
            .pragma("temp_store", "memory")
            .pragma("wal_autocheckpoint", "10000")
    });
    Database::connect(opts).await
}

/// Applies pending migrations.
///
/// # Errors
/// When a migration fails.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    Migrator::up(db, None).await
}

/// Whether the database answers (for `/readyz`).
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.execute_unprepared("SELECT 1").await.is_ok()
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
    use sea_orm::EntityTrait;
    let mut rows = rows.into_iter();
    for size in bulk_sizes(rows.len(), max) {
        let part: Vec<A> = rows.by_ref().take(size).collect();
        A::Entity::insert_many(part).exec_without_returning(conn).await?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{bulk_sizes, in_lists};

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
