//! `roadmaps`: plans of measures against the root cause of appeals (дорожные карты).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "roadmaps")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub problem: String,
    pub status: String,
    pub category_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub owner_id: i64,
    pub approved_by_id: Option<i64>,
    pub approved_at: Option<DateTimeUtc>,
    pub cancel_reason: Option<String>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
