//! `appeal_open_stats`: the ledger of unresolved appeals by the local days of their deadlines
//! (`store::rollup::OpenKey`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "appeal_open_stats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `O`: per bucket of receipt, channel and kind, with `due_day` and `soon_day`; `R`: per
    /// bucket of the deadline, channel, territory, recipient and `unanswered`.
    pub cube: String,
    /// `D`, `W` or `M`: the row counts the local day, the ISO week or the month starting at
    /// `day`.
    pub grain: String,
    /// First local date of the bucket: of receipt (`O`), of the deadline (`R`).
    pub day: Date,
    pub channel: String,
    /// Empty in cube `R`.
    pub kind: String,
    /// NULL in cube `O`.
    pub territory_id: Option<i64>,
    /// NULL in cube `O`.
    pub recipient_id: Option<i64>,
    /// Never answered (cube `R`; `false` in cube `O`).
    pub unanswered: bool,
    /// Local date of the running deadline (cube `R`: `day`).
    pub due_day: Date,
    /// Local date "due soon" starts (cube `R`: `day`).
    pub soon_day: Date,
    /// Unresolved appeals.
    pub open: i64,
    /// The one row of its key written by a compaction or a rebuild (writers append `false`).
    pub folded: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
