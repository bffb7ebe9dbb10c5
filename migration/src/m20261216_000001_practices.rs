//! Best practices (лучшие практики, decree 1.2г and 3.2в(3)): what was done against a problem,
//! where and with what effect, searchable and linked from roadmaps.

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
                .table("practices")
                .col(big_pk_auto("id"))
                .col(string("title"))
                .col(text("problem"))
                .col(text("action_taken"))
                .col(string_null("place"))
                .col(text_null("source"))
                .col(big_integer_null("category_id"))
                .col(big_integer_null("territory_id"))
                .col(date_null("applied_on"))
                .col(text("search_text"))
                .col(big_integer("created_by_id"))
                .col(integer("version").default(1))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("practices", "category_id", "categories", false))
                .foreign_key(&mut fk("practices", "territory_id", "territories", false))
                .foreign_key(&mut fk("practices", "created_by_id", "users", false))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("roadmap_practices")
                .col(big_pk_auto("id"))
                .col(big_integer("roadmap_id"))
                .col(big_integer("practice_id"))
                .foreign_key(&mut fk("roadmap_practices", "roadmap_id", "roadmaps", true))
                .foreign_key(&mut fk("roadmap_practices", "practice_id", "practices", true))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_roadmap_practices")
                .table("roadmap_practices")
                .col("roadmap_id")
                .col("practice_id")
                .unique()
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_roadmap_practices_practice").table("roadmap_practices").col("practice_id").take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("roadmap_practices").to_owned()).await?;
        m.drop_table(Table::drop().table("practices").to_owned()).await
    }
}
