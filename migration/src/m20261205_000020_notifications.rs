//! The deadline watch and in-app notifications: `appeal_alerts` remembers which deadline
//! transitions of an appeal were announced (once per appeal, transition and deadline, so a new
//! deadline after an extension or a reopening can warn again); `notifications` are what a
//! person finds in the application; `notification_settings` say, per person and kind, whether
//! it is shown in the application and how it goes by e-mail.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(table: &str, col: &'static str, to: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{col}"))
        .from(table.to_string(), col)
        .to(to, "id")
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

async fn index(
    m: &SchemaManager<'_>,
    name: &str,
    table: &str,
    cols: &[&'static str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut idx = Index::create().name(name).table(table.to_string()).take();
    for c in cols {
        idx.col(*c);
    }
    if unique {
        idx.unique();
    }
    m.create_index(idx).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("appeal_alerts")
                .col(big_pk_auto("id"))
                .col(big_integer("appeal_id"))
                .col(string("transition"))
                .col(timestamp_with_time_zone("deadline_at"))
                .col(timestamp_with_time_zone("emitted_at"))
                .foreign_key(&mut fk("appeal_alerts", "appeal_id", "appeals"))
                .take(),
        )
        .await?;
        // Exactly once per appeal, transition and deadline, whatever the number of watchers.
        index(m, "ux_appeal_alerts", "appeal_alerts", &["appeal_id", "transition", "deadline_at"], true).await?;
        m.create_table(
            Table::create()
                .table("notifications")
                .col(big_pk_auto("id"))
                .col(big_integer("user_id"))
                .col(string("kind"))
                .col(big_integer_null("appeal_id"))
                .col(big_integer_null("outbox_id"))
                .col(text("text"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("read_at"))
                .foreign_key(&mut fk("notifications", "user_id", "users"))
                .foreign_key(&mut fk("notifications", "appeal_id", "appeals"))
                .take(),
        )
        .await?;
        // A person's list, newest first, and its unread part.
        index(m, "ix_notifications_user", "notifications", &["user_id", "id"], false).await?;
        index(m, "ix_notifications_unread", "notifications", &["user_id", "read_at", "id"], false).await?;
        // One notification per person and announced change, should a row be fanned out again.
        index(m, "ux_notifications_outbox", "notifications", &["outbox_id", "user_id"], true).await?;
        m.create_table(
            Table::create()
                .table("notification_settings")
                .col(big_integer("user_id"))
                .col(string("kind"))
                .col(boolean("in_app"))
                .col(string("email"))
                .col(timestamp_with_time_zone("updated_at"))
                .primary_key(Index::create().col("user_id").col("kind"))
                .foreign_key(&mut fk("notification_settings", "user_id", "users"))
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["notification_settings", "notifications", "appeal_alerts"] {
            m.drop_table(Table::drop().table(t).if_exists().take()).await?;
        }
        Ok(())
    }
}
