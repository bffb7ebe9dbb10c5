//! `appeal_alerts`: the deadline transitions of an appeal already announced, one row per
//! appeal, transition and deadline.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "appeal_alerts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub appeal_id: i64,
    /// A [`crate::domain::escalation::Transition`] name.
    pub transition: String,
    /// The deadline the transition was about (a new deadline may warn again).
    pub deadline_at: DateTimeUtc,
    pub emitted_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
