//! `roadmap_measures`: the steps of a roadmap (мероприятия).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "roadmap_measures")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub roadmap_id: i64,
    pub title: String,
    pub responsible_id: Option<i64>,
    pub responsible_name: Option<String>,
    pub due_date: Date,
    pub status: String,
    pub done_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
