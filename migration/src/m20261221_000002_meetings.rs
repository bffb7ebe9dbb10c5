//! Meetings with the Head (decree 2.2в): the meeting, its participants and agenda, the
//! decisions of its minutes — each decision an assignment (поручение) to a recipient with a
//! term when it names one — and the best practices a decision draws on.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(table: &str, col: &'static str, to: &'static str, cascade: bool) -> ForeignKeyCreateStatement {
    let action = if cascade { ForeignKeyAction::Cascade } else { ForeignKeyAction::Restrict };
    ForeignKey::create()
        .name(format!("fk_{table}_{col}"))
        .from(table.to_string(), col)
        .to(to, "id")
        .on_delete(action)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("meetings")
                .col(big_pk_auto("id"))
                .col(string("title"))
                .col(timestamp_with_time_zone("starts_at"))
                .col(string_null("place"))
                .col(string("status"))
                .col(timestamp_with_time_zone_null("held_at"))
                .col(string("created_by"))
                .col(integer("version").default(1))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(Index::create().name("ix_meetings_starts").table("meetings").col("starts_at").col("id").take())
            .await?;
        m.create_table(
            Table::create()
                .table("meeting_participants")
                .col(big_pk_auto("id"))
                .col(big_integer("meeting_id"))
                .col(big_integer("user_id"))
                .foreign_key(&mut fk("meeting_participants", "meeting_id", "meetings", true))
                .foreign_key(&mut fk("meeting_participants", "user_id", "users", false))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_meeting_participants")
                .table("meeting_participants")
                .col("meeting_id")
                .col("user_id")
                .unique()
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("meeting_agenda_items")
                .col(big_pk_auto("id"))
                .col(big_integer("meeting_id"))
                .col(integer("position"))
                .col(string("kind"))
                .col(string("title"))
                .col(text_null("note"))
                .foreign_key(&mut fk("meeting_agenda_items", "meeting_id", "meetings", true))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_meeting_agenda_items_meeting")
                .table("meeting_agenda_items")
                .col("meeting_id")
                .col("position")
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("meeting_decisions")
                .col(big_pk_auto("id"))
                .col(big_integer("meeting_id"))
                .col(text("text"))
                .col(big_integer_null("recipient_id"))
                .col(date_null("due_date"))
                .col(string_null("status"))
                .col(timestamp_with_time_zone_null("done_at"))
                .col(timestamp_with_time_zone_null("due_soon_notified_at"))
                .col(timestamp_with_time_zone_null("overdue_notified_at"))
                .col(integer("version").default(1))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("meeting_decisions", "meeting_id", "meetings", true))
                .foreign_key(&mut fk("meeting_decisions", "recipient_id", "recipients", false))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_meeting_decisions_meeting")
                .table("meeting_decisions")
                .col("meeting_id")
                .col("id")
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_meeting_decisions_open")
                .table("meeting_decisions")
                .col("status")
                .col("due_date")
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("decision_practices")
                .col(big_pk_auto("id"))
                .col(big_integer("decision_id"))
                .col(big_integer("practice_id"))
                .foreign_key(&mut fk("decision_practices", "decision_id", "meeting_decisions", true))
                .foreign_key(&mut fk("decision_practices", "practice_id", "practices", false))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_decision_practices")
                .table("decision_practices")
                .col("decision_id")
                .col("practice_id")
                .unique()
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["decision_practices", "meeting_decisions", "meeting_agenda_items", "meeting_participants", "meetings"]
        {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
