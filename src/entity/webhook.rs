//! `webhooks`: integration endpoints (ЦУР, the city's portal) and the events they take.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    /// Comma-separated [`crate::domain::events::Topic`] names.
    #[sea_orm(column_type = "Text")]
    pub events: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// The signing key, sealed by [`crate::crypto::SecretSealer`]; never shown again.
    #[sea_orm(column_type = "Text")]
    pub secret_sealed: String,
    pub active: bool,
    pub version: i32,
    pub created_by: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
