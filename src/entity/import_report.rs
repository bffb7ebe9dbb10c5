//! `imports`: one report per imported file.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "imports")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub format: String,
    pub file_name: String,
    pub actor: String,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    pub rows: i32,
    pub created: i32,
    pub updated: i32,
    pub unchanged: i32,
    /// JSON list of `{row, field, message}`.
    pub errors: String,
    /// JSON list of `{row, field, message}`: rows read but not taken in, with the reason.
    pub skipped: String,
    /// `RUNNING`, `FINISHED`, `FAILED` or `INTERRUPTED` (see `service::imports::ImportStatus`).
    pub status: String,
    /// Renewed by a running import as its batches commit.
    pub heartbeat_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
