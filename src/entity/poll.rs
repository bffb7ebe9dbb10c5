//! `polls`: surveys, votes and public discussions.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "polls")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub description: Option<String>,
    pub kind: String,
    pub status: String,
    pub access: String,
    pub opens_at: Option<DateTimeUtc>,
    pub closes_at: Option<DateTimeUtc>,
    pub territory_id: Option<i64>,
    pub category_id: Option<i64>,
    pub public_results: bool,
    /// `NONE` or `CONTACT_CODE` (a one-time code sent to the respondent's contact).
    pub verification: String,
    /// When it was closed.
    pub closed_at: Option<DateTimeUtc>,
    pub created_by_id: Option<i64>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
