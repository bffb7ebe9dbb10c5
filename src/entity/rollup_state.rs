//! `rollup_state`: what the analytics rollups were built with.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "rollup_state")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// IANA time zone the local days were computed in.
    pub timezone: String,
    /// Rows of `appeal_stats` and `appeal_due_stats` after the last compaction or rebuild.
    pub compacted_rows: i64,
    pub built_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
