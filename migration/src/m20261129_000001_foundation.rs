//! Reference data (recipients, territories, categories), users, sessions, API tokens, audit.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(
    name: &str,
    from: (&'static str, &'static str),
    to: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create().name(name).from(from.0, from.1).to(to, "id").on_delete(on_delete).take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("recipients")
                .col(big_pk_auto("id"))
                .col(string("name"))
                .col(string_null("short_name"))
                .col(big_integer_null("parent_id"))
                .col(boolean("external").default(false))
                .col(boolean("active").default(true))
                .col(integer("version").default(1))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk(
                    "fk_recipients_parent",
                    ("recipients", "parent_id"),
                    "recipients",
                    ForeignKeyAction::Restrict,
                ))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("territories")
                .col(big_pk_auto("id"))
                .col(string("name"))
                .col(string_null("code").unique_key())
                .col(big_integer_null("parent_id"))
                .col(integer_null("population"))
                .col(double_null("latitude"))
                .col(double_null("longitude"))
                .col(integer("version").default(1))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk(
                    "fk_territories_parent",
                    ("territories", "parent_id"),
                    "territories",
                    ForeignKeyAction::Restrict,
                ))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("categories")
                .col(big_pk_auto("id"))
                .col(string("name"))
                .col(big_integer_null("parent_id"))
                .col(big_integer_null("default_recipient_id"))
                .col(integer("version").default(1))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk(
                    "fk_categories_parent",
                    ("categories", "parent_id"),
                    "categories",
                    ForeignKeyAction::Restrict,
                ))
                .foreign_key(&mut fk(
                    "fk_categories_recipient",
                    ("categories", "default_recipient_id"),
                    "recipients",
                    ForeignKeyAction::SetNull,
                ))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("users")
                .col(big_pk_auto("id"))
                .col(string("email").unique_key())
                .col(string("full_name"))
                .col(string("password_hash"))
                .col(string("roles"))
                .col(string("channels").default(""))
                .col(big_integer_null("recipient_id"))
                .col(big_integer_null("territory_id"))
                .col(boolean("active").default(true))
                .col(integer("session_epoch").default(0))
                .col(integer("version").default(1))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk(
                    "fk_users_recipient",
                    ("users", "recipient_id"),
                    "recipients",
                    ForeignKeyAction::Restrict,
                ))
                .foreign_key(&mut fk(
                    "fk_users_territory",
                    ("users", "territory_id"),
                    "territories",
                    ForeignKeyAction::Restrict,
                ))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("refresh_tokens")
                .col(big_pk_auto("id"))
                .col(big_integer("user_id"))
                .col(string("family_id"))
                .col(string("token_hash").unique_key())
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone_null("used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .foreign_key(&mut fk(
                    "fk_refresh_user",
                    ("refresh_tokens", "user_id"),
                    "users",
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        )
        .await?;
        m.create_index(Index::create().name("ix_refresh_family").table("refresh_tokens").col("family_id").take())
            .await?;
        m.create_index(Index::create().name("ix_refresh_user").table("refresh_tokens").col("user_id").take()).await?;
        m.create_table(
            Table::create()
                .table("api_tokens")
                .col(big_pk_auto("id"))
                .col(string("name"))
                .col(string("token_hash").unique_key())
                .col(string("scopes"))
                .col(big_integer_null("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("expires_at"))
                .col(timestamp_with_time_zone_null("last_used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .foreign_key(&mut fk(
                    "fk_api_tokens_user",
                    ("api_tokens", "created_by"),
                    "users",
                    ForeignKeyAction::SetNull,
                ))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("audit_log")
                .col(big_pk_auto("id"))
                .col(timestamp_with_time_zone("at"))
                .col(string("actor"))
                .col(big_integer_null("actor_user_id"))
                .col(big_integer_null("actor_token_id"))
                .col(string("action"))
                .col(string_null("target"))
                .col(string_null("ip"))
                .col(string_null("request_id"))
                .col(text_null("data"))
                .take(),
        )
        .await?;
        m.create_index(Index::create().name("ix_audit_at").table("audit_log").col("at").take()).await?;
        m.create_table(
            Table::create()
                .table("login_failures")
                .col(big_pk_auto("id"))
                .col(string("email"))
                .col(timestamp_with_time_zone("at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_login_failures_email_at").table("login_failures").col("email").col("at").take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "login_failures",
            "audit_log",
            "api_tokens",
            "refresh_tokens",
            "users",
            "categories",
            "territories",
            "recipients",
        ] {
            m.drop_table(Table::drop().table(t).if_exists().take()).await?;
        }
        Ok(())
    }
}
