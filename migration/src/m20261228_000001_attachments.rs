//! Files attached to appeals (the author's and the answer's), roadmaps, meetings and requests
//! of the regional centre. The bytes are in the file storage under `object_key`; the row is
//! written only once they are stored.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("attachments")
                .col(big_pk_auto("id"))
                .col(string("target_kind"))
                .col(big_integer("target_id"))
                .col(string("role"))
                .col(string("file_name"))
                .col(string("content_type"))
                .col(big_integer("size"))
                .col(string("object_key").unique_key())
                .col(string_null("thumbnail_key"))
                .col(string("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_attachments_target")
                .table("attachments")
                .col("target_kind")
                .col("target_id")
                .col("id")
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("attachments").to_owned()).await
    }
}
