//! Appeals, their event history, yearly number counters, calendar overrides, rate buckets.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(name: &str, col: &'static str, to: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create().name(name).from("appeals", col).to(to, "id").on_delete(ForeignKeyAction::Restrict).take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("appeal_counters")
                .col(integer("year").primary_key())
                .col(big_integer("last").default(0))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("appeals")
                .col(big_pk_auto("id"))
                .col(string("number").unique_key())
                .col(string("kind"))
                .col(string("channel"))
                .col(string_null("external_id"))
                .col(string("status"))
                .col(timestamp_with_time_zone("received_at"))
                .col(timestamp_with_time_zone_null("registered_at"))
                .col(string_null("author_name"))
                .col(string_null("author_contact"))
                .col(boolean("anonymous").default(false))
                .col(text("text"))
                .col(text("search_text"))
                .col(text_null("summary"))
                .col(big_integer_null("category_id"))
                .col(big_integer_null("suggested_category_id"))
                .col(big_integer_null("territory_id"))
                .col(string_null("address"))
                .col(double_null("latitude"))
                .col(double_null("longitude"))
                .col(big_integer_null("recipient_id"))
                .col(string_null("redirected_to"))
                .col(boolean("high_priority").default(false))
                .col(timestamp_with_time_zone("sla_started_at"))
                .col(timestamp_with_time_zone("due_soon_at"))
                .col(timestamp_with_time_zone("due_at"))
                .col(integer("extension_count").default(0))
                .col(timestamp_with_time_zone_null("reacted_at"))
                .col(timestamp_with_time_zone_null("resolved_at"))
                .col(timestamp_with_time_zone_null("answered_at"))
                .col(text_null("answer_text"))
                .col(string_null("completeness"))
                .col(string_null("no_answer_reason"))
                .col(integer_null("satisfaction_score"))
                .col(boolean_null("satisfied"))
                .col(string_null("feedback_code"))
                .col(timestamp_with_time_zone_null("feedback_expires_at"))
                .col(integer("reopen_count").default(0))
                .col(big_integer_null("duplicate_of_id"))
                .col(integer("version").default(1))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("fk_appeals_category", "category_id", "categories"))
                .foreign_key(&mut fk("fk_appeals_suggested_category", "suggested_category_id", "categories"))
                .foreign_key(&mut fk("fk_appeals_territory", "territory_id", "territories"))
                .foreign_key(&mut fk("fk_appeals_recipient", "recipient_id", "recipients"))
                .foreign_key(&mut fk("fk_appeals_duplicate", "duplicate_of_id", "appeals"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_appeals_channel_external")
                .table("appeals")
                .col("channel")
                .col("external_id")
                .unique()
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("ux_appeals_feedback_code").table("appeals").col("feedback_code").unique().take(),
        )
        .await?;
        for (name, cols) in [
            ("ix_appeals_received", vec!["received_at", "id"]),
            ("ix_appeals_due", vec!["due_at", "id"]),
            ("ix_appeals_updated", vec!["updated_at", "id"]),
            ("ix_appeals_status", vec!["status", "received_at"]),
            ("ix_appeals_recipient", vec!["recipient_id", "received_at"]),
            ("ix_appeals_category", vec!["category_id", "received_at"]),
            ("ix_appeals_territory", vec!["territory_id", "received_at"]),
            ("ix_appeals_channel", vec!["channel", "received_at"]),
            ("ix_appeals_duplicate", vec!["duplicate_of_id"]),
        ] {
            let mut idx = Index::create().name(name).table("appeals").take();
            for c in cols {
                idx.col(c);
            }
            m.create_index(idx).await?;
        }
        m.create_table(
            Table::create()
                .table("appeal_events")
                .col(big_pk_auto("id"))
                .col(big_integer("appeal_id"))
                .col(timestamp_with_time_zone("at"))
                .col(string("actor"))
                .col(string("action"))
                .col(string_null("from_status"))
                .col(string_null("to_status"))
                .col(text_null("comment"))
                .col(text_null("data"))
                .foreign_key(
                    &mut ForeignKey::create()
                        .name("fk_events_appeal")
                        .from("appeal_events", "appeal_id")
                        .to("appeals", "id")
                        .on_delete(ForeignKeyAction::Cascade)
                        .take(),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_events_appeal").table("appeal_events").col("appeal_id").col("id").take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("calendar_overrides")
                .col(string("day").primary_key())
                .col(boolean("working"))
                .col(string_null("note"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("rate_events")
                .col(big_pk_auto("id"))
                .col(string("bucket"))
                .col(string("key"))
                .col(timestamp_with_time_zone("at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_rate_events").table("rate_events").col("bucket").col("key").col("at").take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["rate_events", "calendar_overrides", "appeal_events", "appeals", "appeal_counters"] {
            m.drop_table(Table::drop().table(t).if_exists().take()).await?;
        }
        Ok(())
    }
}
