//! `appeal_answers`: every answer an appeal was given, in order, kept through reopenings.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "appeal_answers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub appeal_id: i64,
    /// 1 for the first answer, then 2, 3, … after each reopening.
    pub ordinal: i32,
    pub answered_at: DateTimeUtc,
    /// The deadline in force when it was given.
    pub due_at: DateTimeUtc,
    pub on_time: bool,
    #[sea_orm(column_type = "Text", nullable)]
    pub text: Option<String>,
    /// Its assessment (`FULL`, `PARTIAL`, `FORMAL`).
    pub completeness: Option<String>,
    /// The author's rating of it.
    pub satisfied: Option<bool>,
    pub satisfaction_score: Option<i32>,
    /// Who gave it: the history's actor label (`system` for an answer taken from a source).
    pub author: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
