//! Database connection and migrations for SQLite (embedded) and PostgreSQL.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
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
        opts.map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_millis(timeout_ms as u64))
        });
    } else {
        opts.map_sqlx_postgres_opts(move |o| o.options([("statement_timeout", format!("{timeout_ms}"))]));
    }
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
