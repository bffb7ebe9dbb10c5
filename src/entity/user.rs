//! `users`: staff accounts. Roles and channels are stored as comma-separated enum names.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub email: String,
    pub full_name: String,
    pub password_hash: String,
    pub roles: String,
    pub channels: String,
    pub recipient_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub active: bool,
    /// Bumped when all of the user's sessions must end (password change, deactivation, roles).
    pub session_epoch: i32,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
