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
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
