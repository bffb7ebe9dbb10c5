//! `cur_request_materials`: what was sent to the regional centre in answer to a request.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cur_request_materials")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub request_id: i64,
    /// A [`crate::domain::cur_request::CurMaterialKind`].
    pub kind: String,
    pub memo_id: Option<i64>,
    pub roadmap_id: Option<i64>,
    /// A stored system report (REPORT).
    pub report_id: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub text: Option<String>,
    pub added_by: String,
    pub added_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
