//! E-mail of issue 17: `appeal_tasks` are what staff must still do by hand about an appeal,
//! such as sending a notice the law requires by post when the author gave no e-mail address
//! («направить уведомление почтой»): a kind, the text (the notice to send), when it was made,
//! and when and by whom it was done. A due index lets the mail sender find e-mail deliveries
//! (`deliveries.channel = 'MAIL'`) and the digest its queued items by channel.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("appeal_tasks")
                .col(big_pk_auto("id"))
                .col(big_integer("appeal_id"))
                .col(string("kind"))
                .col(text("text"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("done_at"))
                .col(big_integer_null("done_by"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_appeal_tasks_appeal_id")
                        .from("appeal_tasks", "appeal_id")
                        .to("appeals", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_appeal_tasks_done_by")
                        .from("appeal_tasks", "done_by")
                        .to("users", "id")
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_appeal_tasks_appeal").table("appeal_tasks").col("appeal_id").col("id").take(),
        )
        .await?;
        // The senders of e-mail and the digest read the queue by channel.
        m.create_index(
            Index::create()
                .name("ix_deliveries_channel_due")
                .table("deliveries")
                .col("channel")
                .col("status")
                .col("next_attempt_at")
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_deliveries_channel_due").table("deliveries").to_owned()).await?;
        m.drop_table(Table::drop().table("appeal_tasks").take()).await?;
        Ok(())
    }
}
