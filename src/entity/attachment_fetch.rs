//! `attachment_fetches`: a link to a file given with an ingested appeal, fetched in the
//! background into an attachment.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attachment_fetches")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub appeal_id: i64,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    /// PENDING, FETCHING, DONE or FAILED.
    pub status: String,
    pub attempts: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub attachment_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
