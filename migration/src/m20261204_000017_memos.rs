//! Stored weekly memos: every Monday the memo of the past week is generated once and kept as
//! an immutable snapshot (key figures as JSON, Markdown, DOCX, XLSX), so that the memo read
//! on Friday shows Monday's figures.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("memos")
                .col(big_pk_auto("id"))
                .col(date("week_start").unique_key())
                .col(timestamp_with_time_zone("created_at"))
                .col(text("figures"))
                .col(text("markdown"))
                .col(blob("docx"))
                .col(blob("xlsx"))
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("memos").take()).await?;
        Ok(())
    }
}
