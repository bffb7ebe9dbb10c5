//! The transactional outbox: every change that someone may have to hear about (an appeal's
//! step, a deadline transition, a roadmap, a poll, a user) writes one `outbox` row in the
//! same transaction as the change, so a change that rolls back is never announced. The
//! dispatcher claims pending rows (`dispatched_at IS NULL`), fans each out to its deliveries
//! and marks it dispatched, in one transaction.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("outbox")
                .col(big_pk_auto("id"))
                .col(string("topic"))
                .col(string("subject_type"))
                .col(big_integer_null("subject_id"))
                .col(text("payload"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("dispatched_at"))
                .take(),
        )
        .await?;
        // The dispatcher's queue: pending rows in order.
        m.create_index(Index::create().name("ix_outbox_pending").table("outbox").col("dispatched_at").col("id").take())
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("outbox").take()).await?;
        Ok(())
    }
}
