//! `memos`: the weekly memo of each past week, as generated on its Monday.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "memos")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The Monday the memo's week starts on.
    #[sea_orm(unique)]
    pub week_start: Date,
    pub created_at: DateTimeUtc,
    /// The key figures as JSON.
    #[sea_orm(column_type = "Text")]
    pub figures: String,
    #[sea_orm(column_type = "Text")]
    pub markdown: String,
    #[sea_orm(column_type = "Blob")]
    pub docx: Vec<u8>,
    #[sea_orm(column_type = "Blob")]
    pub xlsx: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
