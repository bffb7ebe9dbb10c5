//! `poll_ballots`: one per respondent and poll; the respondent is a hash of its key or code.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "poll_ballots")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub poll_id: i64,
    pub respondent_hash: String,
    pub at: DateTimeUtc,
    /// Whether the respondent was verified (an invitation code or a code sent to its contact).
    pub verified: bool,
    /// The territory the ballot counts for: the one the respondent named, else the poll's.
    pub territory_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
