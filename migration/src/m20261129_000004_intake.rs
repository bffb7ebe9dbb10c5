//! Import reports and the persisted topic classifier.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("imports")
                .col(big_pk_auto("id"))
                .col(string("format"))
                .col(string("file_name"))
                .col(string("actor"))
                .col(timestamp_with_time_zone("started_at"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .col(integer("rows").default(0))
                .col(integer("created").default(0))
                .col(integer("updated").default(0))
                .col(integer("unchanged").default(0))
                .col(text("errors"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("classifier_models")
                .col(big_pk_auto("id"))
                .col(big_integer("fingerprint"))
                .col(integer("documents"))
                .col(double_null("top1"))
                .col(double_null("top3"))
                .col(text("model"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("classifier_models").if_exists().take()).await?;
        m.drop_table(Table::drop().table("imports").if_exists().take()).await
    }
}
