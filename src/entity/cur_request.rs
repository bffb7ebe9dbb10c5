//! `cur_requests`: requests from the regional centre (ЦУР).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cur_requests")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What is asked, in a line.
    pub subject: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    /// Who at the regional centre asks.
    pub requested_by: String,
    /// The local date by which the answer is due.
    pub due_date: Date,
    /// A [`crate::domain::cur_request::CurRequestStatus`].
    pub status: String,
    pub answered_at: Option<DateTimeUtc>,
    /// Who registered it: a person's name or a token's label.
    pub created_by: String,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
