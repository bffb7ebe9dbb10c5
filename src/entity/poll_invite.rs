//! `poll_invites`: one-time invitation codes of an INVITE poll, stored as SHA-256 hashes.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "poll_invites")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub poll_id: i64,
    #[sea_orm(unique)]
    pub code_hash: String,
    pub used_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
