//! `outbox`: changes to announce, written in the transaction of the change.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What happened: a [`crate::domain::events::Topic`] name.
    pub topic: String,
    /// What it happened to: `appeal`, `roadmap`, `poll`, `user`, `memo`.
    pub subject_type: String,
    pub subject_id: Option<i64>,
    /// The event's data as JSON (masked like the subject's history).
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub created_at: DateTimeUtc,
    /// When the dispatcher fanned it out; `None` while pending.
    pub dispatched_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
