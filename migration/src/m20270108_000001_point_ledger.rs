//! The fifth rollup ledger: problem points, the appeals per H3 cell and category by the bucket
//! of their receipt.
//!
//! `problemPoints` and the weekly memo's five points counted the period's appeals through
//! `ix_appeals_points` (index-only, `GROUP BY` cell and category): every appeal of the period
//! read once per request, so a week took 12–14 ms at one million appeals and 39–42 ms at five
//! million. Appeals of one district share a few dozen cells, so a week of a town holds a few
//! thousand cell × category pairs whatever the number of appeals: this ledger keeps, per local
//! day (ISO week, month) of receipt, H3 cell, category and territory, how many appeals count
//! as points (not duplicates, with coordinates, a cell and a category), and the points become
//! a sum over the period's buckets. It keeps the territory so that a filter by territory and a
//! caller limited to a district are answered too; a filter by channel, kind or recipient
//! still counts the appeals. The rollups are rebuilt at the next start (the state row is
//! removed), which fills the ledger from the appeals.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("appeal_point_stats")
                .col(big_pk_auto("id"))
                .col(string_len("grain", 1))
                .col(date("day"))
                .col(big_integer("h3_cell"))
                .col(big_integer("category_id"))
                .col(big_integer_null("territory_id"))
                .col(big_integer("points"))
                .col(boolean("folded").default(false))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_appeal_point_stats_day")
                .table("appeal_point_stats")
                .col("grain")
                .col("day")
                .take(),
        )
        .await?;
        let db = m.get_connection();
        for sql in [
            "CREATE INDEX IF NOT EXISTS ix_appeal_point_stats_unfolded ON appeal_point_stats (grain, day) \
             WHERE NOT folded",
            // The ledger is empty: the next start rebuilds every rollup from the appeals.
            "DELETE FROM rollup_state",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("appeal_point_stats").take()).await
    }
}
