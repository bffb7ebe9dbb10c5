//! The fourth rollup ledger: the unresolved appeals by the local days of their deadlines.
//!
//! "Overdue now" and "due soon now" change with the clock, so they were counted from the
//! unresolved appeals at every request: a walk of `ix_appeals_unresolved` over every
//! unresolved appeal of the period (18 ms for a year of the million-row demo, 191 ms at five
//! million), and of every overdue appeal for the weekly memo's overdue recipients. Those
//! walks grow with the region. This ledger keeps, per key, how many appeals are unresolved
//! with their deadline (and the start of "due soon") on each local day, so a count "now" is
//! a sum over the days other than today plus the few appeals whose deadline or due-soon start
//! falls today, read exactly from `appeals` (`ix_appeals_unresolved_due` and the partial
//! index on `due_soon_at` made here).
//!
//! Cubes: `O` per local day (week, month) of receipt, channel and kind, with the days of the
//! deadline and of the start of "due soon": what the summary of a region, a channel or a kind
//! needs (a filter by category, territory or recipient still walks the appeals); `R` per
//! local day (week, month) of the deadline itself, channel, territory, recipient and whether
//! the appeal was never answered: the overdue appeals per recipient of the rating and of the
//! weekly memo. The rollups are rebuilt at the next start (the state row is removed), which
//! fills the ledger from the appeals.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("appeal_open_stats")
                .col(big_pk_auto("id"))
                .col(string_len("cube", 1))
                .col(string_len("grain", 1))
                .col(date("day"))
                .col(string("channel"))
                .col(string("kind"))
                .col(big_integer_null("territory_id"))
                .col(big_integer_null("recipient_id"))
                .col(boolean("unanswered"))
                .col(date("due_day"))
                .col(date("soon_day"))
                .col(big_integer("open"))
                .col(boolean("folded").default(false))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_appeal_open_stats_day")
                .table("appeal_open_stats")
                .col("cube")
                .col("grain")
                .col("day")
                .take(),
        )
        .await?;
        let db = m.get_connection();
        for sql in [
            "CREATE INDEX IF NOT EXISTS ix_appeal_open_stats_unfolded ON appeal_open_stats \
             (cube, grain, day, channel) WHERE NOT folded",
            // The appeals whose "due soon" starts today, read exactly.
            "CREATE INDEX IF NOT EXISTS ix_appeals_unresolved_soon ON appeals (due_soon_at) \
             WHERE resolved_at IS NULL",
            // The ledger is empty: the next start rebuilds every rollup from the appeals.
            "DELETE FROM rollup_state",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP INDEX IF EXISTS ix_appeals_unresolved_soon").await?;
        m.drop_table(Table::drop().table("appeal_open_stats").take()).await
    }
}
