//! `poll_answers`: one row per chosen option, scale value or text of a ballot.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "poll_answers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ballot_id: i64,
    pub poll_id: i64,
    pub question_id: i64,
    pub option_id: Option<i64>,
    pub scale: Option<i32>,
    pub text: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The ballot the answer belongs to (for counts by the ballot's territory).
    #[sea_orm(
        belongs_to = "super::poll_ballot::Entity",
        from = "Column::BallotId",
        to = "super::poll_ballot::Column::Id"
    )]
    Ballot,
}

impl ActiveModelBehavior for ActiveModel {}
