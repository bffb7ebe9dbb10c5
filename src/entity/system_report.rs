//! `system_reports`: a report of one system (ПОС, «Инцидент менеджмент») for a period, as
//! generated.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "system_reports")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// A [`crate::domain::system_report::ReportSystem`].
    pub system: String,
    pub period_from: Date,
    pub period_to: Date,
    /// The figures as generated: a [`crate::domain::system_report::Figures`] as JSON.
    #[sea_orm(column_type = "Text")]
    pub figures: String,
    /// Who generated it: a person's name or a token's label.
    pub generated_by: String,
    pub generated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
