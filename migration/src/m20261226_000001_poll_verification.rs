//! Polls in the picture (issue 18, item 9; decree 1.2б): a per-poll `verification` (`NONE` or
//! `CONTACT_CODE`) and the time a poll was closed (`closed_at`, for the analytics of a
//! period); on each ballot whether its respondent was verified (an invitation or a one-time
//! code) and the territory it counts for; and `poll_codes`, the one-time codes sent to a
//! citizen's contact, stored only as hashes (the contact too).
//!
//! Backfill: closed polls take their last change as `closed_at`; ballots of INVITE polls were
//! verified by their invitation code.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut verification = string("verification").default("NONE").to_owned();
        m.alter_table(Table::alter().table("polls").add_column(&mut verification).take()).await?;
        let mut closed = timestamp_with_time_zone_null("closed_at");
        m.alter_table(Table::alter().table("polls").add_column(&mut closed).take()).await?;
        let mut verified = boolean("verified").default(false).to_owned();
        m.alter_table(Table::alter().table("poll_ballots").add_column(&mut verified).take()).await?;
        let mut territory = big_integer_null("territory_id");
        m.alter_table(Table::alter().table("poll_ballots").add_column(&mut territory).take()).await?;
        let db = m.get_connection();
        db.execute_unprepared("UPDATE polls SET closed_at = updated_at WHERE status = 'CLOSED'").await?;
        db.execute_unprepared(
            "UPDATE poll_ballots SET verified = TRUE WHERE poll_id IN (SELECT id FROM polls WHERE access = 'INVITE')",
        )
        .await?;
        m.create_table(
            Table::create()
                .table("poll_codes")
                .col(big_pk_auto("id"))
                .col(big_integer("poll_id"))
                .col(string("contact_hash"))
                .col(string("code_hash"))
                .col(integer("attempts").default(0))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone_null("used_at"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_poll_codes_poll_id")
                        .from("poll_codes", "poll_id")
                        .to("polls", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_poll_codes_contact").table("poll_codes").col("poll_id").col("contact_hash").take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("poll_codes").if_exists().take()).await?;
        for col in ["verified", "territory_id"] {
            m.alter_table(Table::alter().table("poll_ballots").drop_column(col).take()).await?;
        }
        for col in ["verification", "closed_at"] {
            m.alter_table(Table::alter().table("polls").drop_column(col).take()).await?;
        }
        Ok(())
    }
}
