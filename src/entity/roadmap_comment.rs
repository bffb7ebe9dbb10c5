//! `roadmap_comments`: approval, return and cancellation comments of a roadmap.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "roadmap_comments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub roadmap_id: i64,
    pub at: DateTimeUtc,
    pub author: String,
    /// The action the comment came with (approveRoadmap, returnRoadmap, cancelRoadmap).
    pub kind: String,
    pub text: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
