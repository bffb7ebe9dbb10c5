//! `practices`: the library of best practices.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "practices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub title: String,
    /// The problem it answered.
    #[sea_orm(column_type = "Text")]
    pub problem: String,
    /// What was done.
    #[sea_orm(column_type = "Text")]
    pub action_taken: String,
    /// Where it was done, in words (another town, a district).
    pub place: Option<String>,
    /// Where it comes from: a report, a link, the centre's own experience.
    #[sea_orm(column_type = "Text", nullable)]
    pub source: Option<String>,
    pub category_id: Option<i64>,
    /// The territory of this municipality where it was applied (its effect is counted there).
    pub territory_id: Option<i64>,
    /// When it was applied here: the effect counts from this day.
    pub applied_on: Option<Date>,
    /// Stems of title, problem, what was done and place (`domain::text::normalize_for_search`).
    #[sea_orm(column_type = "Text")]
    pub search_text: String,
    pub created_by_id: i64,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
