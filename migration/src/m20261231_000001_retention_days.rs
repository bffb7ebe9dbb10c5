//! The retention run's claim of a local day (issue 19 follow-up): one row per day of
//! `MCU_TIMEZONE`, inserted by the process that runs that day's retention. The primary key
//! makes the claim atomic, so two replicas that check in the same moment cannot both run it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("retention_days")
                .col(string("day").primary_key())
                .col(timestamp_with_time_zone("claimed_at"))
                .if_not_exists()
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("retention_days").if_exists().take()).await
    }
}
