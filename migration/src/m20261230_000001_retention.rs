//! Retention of personal data (issue 19, item 6): `appeals.anonymised_at` marks an appeal
//! whose author fields were removed and whose free text was masked, so the retention run and
//! an erasure on request are idempotent. The index serves the retention run's search for
//! closed appeals not yet anonymised, oldest change first.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table("appeals").add_column(timestamp_with_time_zone_null("anonymised_at")).take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_appeals_retention")
                .table("appeals")
                .col("status")
                .col("anonymised_at")
                .col("updated_at")
                .col("id")
                .if_not_exists()
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP INDEX IF EXISTS ix_appeals_retention").await?;
        m.alter_table(Table::alter().table("appeals").drop_column("anonymised_at").take()).await?;
        Ok(())
    }
}
