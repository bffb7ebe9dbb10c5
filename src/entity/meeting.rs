//! `meetings`: meetings with the Head (совещания у Главы).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "meetings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub starts_at: DateTimeUtc,
    pub place: Option<String>,
    /// A [`crate::domain::meeting::MeetingStatus`].
    pub status: String,
    pub held_at: Option<DateTimeUtc>,
    /// Who planned it (a person's name).
    pub created_by: String,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
