//! Reports per system (decree 2.4г, 2.5г): the ПОС and «Инцидент менеджмент» reports of a
//! period, stored as generated (the figures as JSON, who and when), and a report as a material
//! sent to the regional centre.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("system_reports")
                .col(big_pk_auto("id"))
                .col(string("system"))
                .col(date("period_from"))
                .col(date("period_to"))
                .col(text("figures"))
                .col(string("generated_by"))
                .col(timestamp_with_time_zone("generated_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_system_reports_system_generated")
                .table("system_reports")
                .col("system")
                .col("generated_at")
                .take(),
        )
        .await?;
        // A plain column: SQLite cannot add a foreign key to an existing table; the service
        // checks the report exists, and reports are never deleted.
        m.alter_table(Table::alter().table("cur_request_materials").add_column(big_integer_null("report_id")).take())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("cur_request_materials").drop_column("report_id").take()).await?;
        m.drop_table(Table::drop().table("system_reports").to_owned()).await
    }
}
