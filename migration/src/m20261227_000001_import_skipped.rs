//! Import reports that tell which rows were read but not taken in, and why (a deleted or
//! empty VK comment, a comment of the page itself): a JSON list like `errors`. Reports
//! written before this migration skipped nothing.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("imports").add_column(text("skipped").default("[]")).take()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("ALTER TABLE imports DROP COLUMN skipped").await?;
        Ok(())
    }
}
