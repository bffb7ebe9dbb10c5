//! `meeting_decisions`: the decisions of a meeting's minutes; one that names a recipient and a
//! term is an assignment (поручение) and is tracked.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "meeting_decisions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub meeting_id: i64,
    #[sea_orm(column_type = "Text")]
    pub text: String,
    /// The recipient charged with it (an assignment), if any.
    pub recipient_id: Option<i64>,
    /// The local date it is due (set exactly when `recipient_id` is).
    pub due_date: Option<Date>,
    /// An [`crate::domain::meeting::AssignmentStatus`] (set exactly when `recipient_id` is).
    pub status: Option<String>,
    pub done_at: Option<DateTimeUtc>,
    /// When its DUE_SOON resp. OVERDUE notification was announced (each once).
    pub due_soon_notified_at: Option<DateTimeUtc>,
    pub overdue_notified_at: Option<DateTimeUtc>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
