//! Compaction in bounded chunks: which ledger rows are already folded.
//!
//! A compaction replaces the rows of one chunk of keys (cube, grain, bucket day and channel)
//! by one row per key, marked `folded`. Writers append rows with `folded` false, so the
//! chunks that need folding are found by a few probes of a small partial index instead of a
//! pass over the whole ledger, and each chunk is folded in its own short transaction.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["appeal_stats", "appeal_due_stats"] {
            m.alter_table(
                Table::alter()
                    .table(table)
                    .add_column(ColumnDef::new("folded").boolean().not_null().default(false))
                    .take(),
            )
            .await?;
        }
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS ix_appeal_stats_unfolded ON appeal_stats (cube, grain, day, channel) \
             WHERE NOT folded",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS ix_appeal_due_stats_unfolded ON appeal_due_stats (grain, day, channel) \
             WHERE NOT folded",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS ix_appeal_stats_unfolded").await?;
        db.execute_unprepared("DROP INDEX IF EXISTS ix_appeal_due_stats_unfolded").await?;
        for table in ["appeal_stats", "appeal_due_stats"] {
            m.alter_table(Table::alter().table(table).drop_column("folded").take()).await?;
        }
        Ok(())
    }
}
