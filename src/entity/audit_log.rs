//! `audit_log`: one row per mutation and per read of unmasked personal data.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    pub actor: String,
    pub actor_user_id: Option<i64>,
    pub actor_token_id: Option<i64>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub data: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
