//! `appeal_due_stats`: the ledger of resolved appeals per local day of their deadline.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "appeal_due_stats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `D`, `W` or `M`: the row counts the local day, the ISO week or the month starting at
    /// `day`.
    pub grain: String,
    /// First local date of the bucket; for `D` the date (municipality's time zone) of the deadline now running.
    pub day: Date,
    pub channel: String,
    pub territory_id: Option<i64>,
    pub recipient_id: Option<i64>,
    pub resolved: i64,
    /// Resolved by the deadline.
    pub met: i64,
    /// The one row of its key written by a compaction or a rebuild (writers append `false`).
    pub folded: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
