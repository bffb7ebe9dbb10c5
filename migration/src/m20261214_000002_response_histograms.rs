//! Response-time histograms: the third rollup ledger.
//!
//! Per local day (week, month) of receipt, channel, kind and recipient (cube `F`; cube `O`
//! without the recipient), the number of answered appeals whose response time falls in each
//! bucket: `b ≥ 0` holds `[b²/8 hours + ½ s, (b+1)²/8 hours + ½ s)` from receipt to answer,
//! -1 everything shorter (see `store::rollup::response_bucket`). A median reads the counts to find its bucket and its rank in it, then only
//! that bucket's stretch of `ix_appeals_response`. The rollups are rebuilt at the next start
//! (the state row is removed), which fills the histograms from the appeals.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("appeal_response_stats")
                .col(big_pk_auto("id"))
                .col(string_len("cube", 1))
                .col(string_len("grain", 1))
                .col(date("day"))
                .col(string("channel"))
                .col(string("kind"))
                .col(big_integer_null("recipient_id"))
                .col(integer("bucket"))
                .col(big_integer("answered"))
                .col(boolean("folded").default(false))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_appeal_response_stats_day")
                .table("appeal_response_stats")
                .col("cube")
                .col("grain")
                .col("day")
                .take(),
        )
        .await?;
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS ix_appeal_response_stats_unfolded ON appeal_response_stats \
             (cube, grain, day, channel) WHERE NOT folded",
        )
        .await?;
        // The histograms are empty: the next start rebuilds every rollup from the appeals.
        db.execute_unprepared("DELETE FROM rollup_state").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("appeal_response_stats").take()).await
    }
}
