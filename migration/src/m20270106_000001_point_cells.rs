//! Each appeal's problem-point cell (`appeals.h3_cell`): the H3 cell of resolution 9 of its
//! coordinates, written with the coordinates by the store's one row builder.
//!
//! Problem points and the weekly memo count the non-duplicate appeals of a period per cell
//! and category. With the cell stored, the database groups and counts them (index-only on
//! PostgreSQL, through `ix_appeals_points`, rebuilt here to hold the cell) and sends one row
//! per point, instead of every appeal's coordinates for the server to place one by one (a
//! week of the million-row demo is 19,000 rows, and placing them was a fifth of the memo's
//! server time).
//!
//! Backfill: the cell of every appeal with coordinates, in batches by id, in the migration's
//! one transaction on both backends. Rewriting the rows leaves their old versions behind on
//! PostgreSQL until the next `VACUUM`.

use sea_orm_migration::sea_orm::{DatabaseBackend, Statement, Value};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Appeals read and written per backfill statement (two parameters each).
const BATCH: usize = 2_000;

/// As the application's `point_cell`, frozen here: the cell of resolution 9, `None` for
/// coordinates that are not a place.
fn cell(lat: f64, lon: f64) -> Option<i64> {
    let p = h3o::LatLng::new(lat, lon).ok()?;
    <i64 as TryFrom<u64>>::try_from(u64::from(p.to_cell(h3o::Resolution::Nine))).ok()
}

/// Sets `column` of the appeals named in `values` (the id and the column's value of each
/// appeal, one after the other) in one statement; `pg_type` is the column's type, for
/// PostgreSQL's casts of the parameters. Returns the number of appeals named. The backfills
/// of derived columns write their batches with it.
///
/// # Errors
/// When the database fails.
pub async fn set_by_id(
    db: &SchemaManagerConnection<'_>,
    column: &str,
    pg_type: &str,
    values: Vec<Value>,
) -> Result<usize, DbErr> {
    let backend = db.get_database_backend();
    let n = values.len() / 2;
    if n == 0 {
        return Ok(0);
    }
    let tuples: Vec<String> = (0..n)
        .map(|i| match backend {
            DatabaseBackend::Postgres => format!("(${}::bigint, ${}::{pg_type})", 2 * i + 1, 2 * i + 2),
            _ => "(?, ?)".into(),
        })
        .collect();
    let sql = format!(
        "WITH v (id, x) AS (VALUES {}) UPDATE appeals SET {column} = v.x FROM v WHERE appeals.id = v.id",
        tuples.join(", ")
    );
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    Ok(n)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too (sea-orm's default there is none): a process killed
    /// during the backfill must leave neither the column nor half the cells, or the next
    /// start would fail adding the column again.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("appeals").add_column(big_integer_null("h3_cell")).take()).await?;
        let db = m.get_connection();
        let backend = db.get_database_backend();
        let pg = backend == DatabaseBackend::Postgres;
        let mut after = 0_i64;
        let (mut filled, mut reported) = (0_usize, 0_usize);
        loop {
            let select = if pg {
                "SELECT id, latitude, longitude FROM appeals WHERE id > $1 \
                 AND latitude IS NOT NULL AND longitude IS NOT NULL ORDER BY id LIMIT $2"
            } else {
                "SELECT id, latitude, longitude FROM appeals WHERE id > ? \
                 AND latitude IS NOT NULL AND longitude IS NOT NULL ORDER BY id LIMIT ?"
            };
            let limit = <i64 as TryFrom<usize>>::try_from(BATCH).unwrap_or(i64::MAX);
            let rows =
                db.query_all_raw(Statement::from_sql_and_values(backend, select, [after.into(), limit.into()])).await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("", "id")?;
            let mut values: Vec<Value> = Vec::with_capacity(rows.len() * 2);
            for r in &rows {
                let (id, lat, lon): (i64, f64, f64) =
                    (r.try_get("", "id")?, r.try_get("", "latitude")?, r.try_get("", "longitude")?);
                if let Some(c) = cell(lat, lon) {
                    values.push(id.into());
                    values.push(c.into());
                }
            }
            filled += set_by_id(db, "h3_cell", "bigint", values).await?;
            if filled - reported >= 100_000 {
                reported = filled;
                tracing::info!(appeals = filled, "filling the problem-point cells of the appeals");
            }
        }
        if filled > 0 {
            tracing::info!(appeals = filled, "filled the problem-point cells of the appeals");
        }
        if pg {
            db.execute_unprepared("DROP INDEX IF EXISTS ix_appeals_points").await?;
            db.execute_unprepared(
                "CREATE INDEX ix_appeals_points ON appeals (received_at, id) \
                 INCLUDE (h3_cell, latitude, longitude, category_id, channel, kind, territory_id, recipient_id) \
                 WHERE duplicate_of_id IS NULL AND latitude IS NOT NULL AND longitude IS NOT NULL",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared("DROP INDEX IF EXISTS ix_appeals_points").await?;
            db.execute_unprepared(
                "CREATE INDEX ix_appeals_points ON appeals (received_at, id) \
                 INCLUDE (latitude, longitude, category_id, channel, kind, territory_id, recipient_id) \
                 WHERE duplicate_of_id IS NULL AND latitude IS NOT NULL AND longitude IS NOT NULL",
            )
            .await?;
        }
        m.alter_table(Table::alter().table("appeals").drop_column("h3_cell").take()).await?;
        Ok(())
    }
}
