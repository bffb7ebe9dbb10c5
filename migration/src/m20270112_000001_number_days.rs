//! The span of the registration numbers received on each day.
//!
//! A page of a receipt period by number (`receivedFrom`/`receivedTo`, order `NUMBER`) walks
//! the index of the number's order (`ix_appeals_number_order`) and keeps the appeals of the
//! period. Numbers are given as appeals arrive, so a period's appeals lie together in that
//! order, but the walk started at the first number of all (oldest first) or the last (newest
//! first) and crossed every appeal on the way: last month's first page oldest first read most
//! of the 1M appeals of the list grid on PostgreSQL (383–531 ms).
//!
//! `appeal_number_days` holds, for each UTC day on which appeals were received, the least and
//! the greatest order of their numbers ([`number_order_sql`]); a page of a period walks from
//! the least of the period's days to their greatest. The store widens a day's span whenever
//! it writes an appeal received that day (a new appeal, a changed receipt or number); nothing
//! narrows it, so an appeal deleted leaves a span wider than it needs, never one that misses
//! an appeal. `mcu rollup rebuild` computes it again from the appeals.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20270109_000001_number_order::number_order_sql;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The table.
pub const TABLE: &str = "appeal_number_days";

/// The UTC day of `received_at` as `YYYY-MM-DD`, in PostgreSQL's dialect or SQLite's.
pub fn receipt_day_sql(postgres: bool) -> &'static str {
    if postgres { "to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')" } else { "date(received_at)" }
}

/// `INSERT … SELECT` of every day's span from the appeals, into an empty table.
pub fn fill_sql(postgres: bool) -> String {
    let day = receipt_day_sql(postgres);
    let order = number_order_sql(postgres, "number");
    format!(
        "INSERT INTO {TABLE} (day, first_order, last_order) \
         SELECT {day}, min({order}), max({order}) FROM appeals GROUP BY {day}"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(TABLE)
                .col(string("day").primary_key())
                .col(big_integer("first_order"))
                .col(big_integer("last_order"))
                .if_not_exists()
                .take(),
        )
        .await?;
        let postgres = m.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
        let db = m.get_connection();
        db.execute_unprepared(&format!("DELETE FROM {TABLE}")).await?;
        db.execute_unprepared(&fill_sql(postgres)).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(TABLE).if_exists().take()).await
    }
}
