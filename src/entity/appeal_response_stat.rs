//! `appeal_response_stats`: the ledger of answered appeals per response-time bucket.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "appeal_response_stats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `F`: channel, kind and recipient; `O`: channel and kind only (`recipient_id` NULL).
    pub cube: String,
    /// `D`, `W` or `M`, as in `appeal_stats`.
    pub grain: String,
    /// First local date of the bucket of receipt days.
    pub day: Date,
    pub channel: String,
    pub kind: String,
    pub recipient_id: Option<i64>,
    /// Bucket `b ≥ 0`: response times in `[b²/8 h + ½ s, (b+1)²/8 h + ½ s)`; -1: shorter.
    pub bucket: i32,
    pub answered: i64,
    /// The one row of its key written by a compaction or a rebuild (writers append `false`).
    pub folded: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
