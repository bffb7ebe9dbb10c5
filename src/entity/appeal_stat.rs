//! `appeal_stats`: the ledger of appeal counts per local day of receipt and dimensions.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "appeal_stats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `F`: all dimensions; `O`: channel, kind, status and duplicate only (the others NULL).
    pub cube: String,
    /// `D`, `W` or `M`: the row counts the local day, the ISO week or the month starting at
    /// `day`.
    pub grain: String,
    /// First local date of the bucket; for `D` the date (municipality's time zone) the appeals were received on.
    pub day: Date,
    pub channel: String,
    pub kind: String,
    pub status: String,
    pub category_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub recipient_id: Option<i64>,
    pub duplicate: bool,
    pub total: i64,
    pub answered: i64,
    pub answered_on_time: i64,
    pub satisfied: i64,
    pub rated: i64,
    pub full: i64,
    pub assessed: i64,
    pub reopened: i64,
    /// Resolved appeals (`resolved_at` set).
    pub resolved: i64,
    /// Resolved by the running deadline (`resolved_at <= due_at`): the list's `slaState: MET`.
    pub resolved_met: i64,
    /// The one row of its key written by a compaction or a rebuild (writers append `false`).
    pub folded: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
