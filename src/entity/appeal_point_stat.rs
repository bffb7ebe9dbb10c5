//! `appeal_point_stats`: the ledger of problem points, appeals per H3 cell and category by
//! the bucket of their receipt (`store::rollup::PointKey`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "appeal_point_stats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `D`, `W` or `M`: the row counts the local day, the ISO week or the month starting at
    /// `day`.
    pub grain: String,
    /// First local date of the bucket of receipt.
    pub day: Date,
    /// The H3 cell (resolution 9) of the appeals' coordinates, as stored in `appeals.h3_cell`.
    pub h3_cell: i64,
    pub category_id: i64,
    pub territory_id: Option<i64>,
    /// Appeals that count as problem points: not duplicates, with coordinates.
    pub points: i64,
    /// The one row of its key written by a compaction or a rebuild (writers append `false`).
    pub folded: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
