//! Import reports that tell what was committed: a status (`RUNNING`, `FINISHED`, `FAILED`,
//! `INTERRUPTED`) and a heartbeat the running import renews as its batches commit, so that a
//! report whose import was killed reads as interrupted rather than as still running.
//!
//! Reports written before this migration without an end are interrupted ones.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        m.alter_table(Table::alter().table("imports").add_column(string("status").default("FINISHED")).take()).await?;
        m.alter_table(Table::alter().table("imports").add_column(timestamp_with_time_zone_null("heartbeat_at")).take())
            .await?;
        m.get_connection()
            .execute_unprepared("UPDATE imports SET status = 'INTERRUPTED' WHERE finished_at IS NULL")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("ALTER TABLE imports DROP COLUMN heartbeat_at").await?;
        db.execute_unprepared("ALTER TABLE imports DROP COLUMN status").await?;
        Ok(())
    }
}
