//! Links to files given with ingested appeals, fetched in the background into attachments.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("attachment_fetches")
                .col(big_pk_auto("id"))
                .col(big_integer("appeal_id"))
                .col(text("url"))
                .col(string("status"))
                .col(integer("attempts").default(0))
                .col(text_null("error"))
                .col(big_integer_null("attachment_id"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_attachment_fetches_appeal_id")
                        .from("attachment_fetches", "appeal_id")
                        .to("appeals", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_attachment_fetches_status")
                .table("attachment_fetches")
                .col("status")
                .col("id")
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("attachment_fetches").to_owned()).await
    }
}
