//! Requests from the regional centre (запросы ЦУР) and the materials sent in answer.

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
                .table("cur_requests")
                .col(big_pk_auto("id"))
                .col(string("subject"))
                .col(text("body"))
                .col(string("requested_by"))
                .col(date("due_date"))
                .col(string("status"))
                .col(timestamp_with_time_zone_null("answered_at"))
                .col(string("created_by"))
                .col(integer("version").default(1))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_cur_requests_status_due")
                .table("cur_requests")
                .col("status")
                .col("due_date")
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("cur_request_materials")
                .col(big_pk_auto("id"))
                .col(big_integer("request_id"))
                .col(string("kind"))
                .col(big_integer_null("memo_id"))
                .col(big_integer_null("roadmap_id"))
                .col(text_null("text"))
                .col(string("added_by"))
                .col(timestamp_with_time_zone("added_at"))
                .foreign_key(&mut fk("cur_request_materials", "request_id", "cur_requests", true))
                .foreign_key(&mut fk("cur_request_materials", "memo_id", "memos", false))
                .foreign_key(&mut fk("cur_request_materials", "roadmap_id", "roadmaps", false))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_cur_request_materials_request")
                .table("cur_request_materials")
                .col("request_id")
                .col("id")
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("cur_request_materials").to_owned()).await?;
        m.drop_table(Table::drop().table("cur_requests").to_owned()).await
    }
}
