//! Webhooks and the delivery queue (issue 17). `webhooks` are the integrations' endpoints
//! with the events they take and their signing secret, sealed (the server must sign with it,
//! so it is kept, but never in the clear and never shown again). `deliveries` is the queue of
//! everything sent on behalf of an outbox row, one row per (outbox row, target): a channel
//! (`WEBHOOK` now, `EMAIL` later) and a target, an idempotency key that is unique (and is the
//! receiver's `webhook-id`), a status `PENDING` → `DELIVERED` or `DEAD`, the attempts made and
//! when the next one is due (also the lease of the process that sends it), the last outcome,
//! and the body to send (a copy: outbox rows may be pruned once dispatched, so `outbox_id`
//! has no foreign key). `delivery_attempts` logs every attempt with its outcome.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(table: &str, col: &'static str, to: &'static str, action: ForeignKeyAction) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{col}"))
        .from(table.to_string(), col)
        .to(to, "id")
        .on_delete(action)
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
                .table("webhooks")
                .col(big_pk_auto("id"))
                .col(text("url"))
                .col(text("events"))
                .col(text_null("description"))
                .col(text("secret_sealed"))
                .col(boolean("active").default(true))
                .col(integer("version").default(1))
                .col(big_integer_null("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("webhooks", "created_by", "users", ForeignKeyAction::SetNull))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("deliveries")
                .col(big_pk_auto("id"))
                .col(string("channel"))
                .col(string("target"))
                .col(big_integer_null("webhook_id"))
                .col(big_integer("outbox_id"))
                .col(string("topic"))
                .col(string("idempotency_key").unique_key())
                .col(text("payload"))
                .col(string("status"))
                .col(integer("attempts").default(0))
                .col(timestamp_with_time_zone("next_attempt_at"))
                .col(integer_null("last_status"))
                .col(text_null("last_error"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(timestamp_with_time_zone_null("delivered_at"))
                .foreign_key(&mut fk("deliveries", "webhook_id", "webhooks", ForeignKeyAction::Cascade))
                .take(),
        )
        .await?;
        // The senders' queue: pending rows by due time.
        index(m, "ix_deliveries_due", "deliveries", &["status", "next_attempt_at", "id"], false).await?;
        // A webhook's deliveries, newest first.
        index(m, "ix_deliveries_webhook", "deliveries", &["webhook_id", "id"], false).await?;
        m.create_table(
            Table::create()
                .table("delivery_attempts")
                .col(big_pk_auto("id"))
                .col(big_integer("delivery_id"))
                .col(integer("number"))
                .col(timestamp_with_time_zone("at"))
                .col(integer("duration_ms"))
                .col(integer_null("status_code"))
                .col(text_null("error"))
                .col(boolean("succeeded"))
                .foreign_key(&mut fk("delivery_attempts", "delivery_id", "deliveries", ForeignKeyAction::Cascade))
                .take(),
        )
        .await?;
        index(m, "ix_delivery_attempts", "delivery_attempts", &["delivery_id", "id"], false).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["delivery_attempts", "deliveries", "webhooks"] {
            m.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}
