//! The full cube of the rollup ledger by territory and status.
//!
//! A total of the list filtered by status and territory (the appeals in progress in a
//! district's subtree) is summed from the full cube of `appeal_stats`, the only cube that
//! keeps both keys. Its territory index, `(cube, territory_id, grain, day)`, read every row of
//! the subtree's territories, of every status, and tested the status on the row: 82,000 rows
//! for 13,000 summed, 23–33 ms on the list grid's 1M appeals on PostgreSQL and 23 ms on
//! SQLite's 200,000. This index, partial to that cube (the other cubes keep no status, so
//! the status would not narrow them), reads only the status's rows of each territory: 4–6
//! ms and 3–4 ms. The territory index stays as it is: the analytics read a territory's
//! rows of a period from it, which a status between the two keys would turn into a scan of
//! every period.

use sea_orm_migration::prelude::*;

use crate::m20270109_000001_number_order::drop_indexes;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The full cube's rows by territory and status.
pub const INDEX: &str = "ix_appeal_stats_territory_status";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {INDEX} ON appeal_stats (territory_id, status, grain, day) WHERE cube = 'F'"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(m, &[INDEX]).await
    }
}
