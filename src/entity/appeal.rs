//! `appeals`: обращения, сообщения и инциденты with their deadlines, answer and feedback.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "appeals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub number: String,
    pub kind: String,
    pub channel: String,
    pub external_id: Option<String>,
    pub status: String,
    pub received_at: DateTimeUtc,
    pub registered_at: Option<DateTimeUtc>,
    pub author_name: Option<String>,
    pub author_contact: Option<String>,
    pub anonymous: bool,
    pub text: String,
    /// Stems of the text (and summary, address) for search on both backends.
    pub search_text: String,
    pub summary: Option<String>,
    pub category_id: Option<i64>,
    pub suggested_category_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// The H3 cell (resolution 9) of the coordinates, for problem points: derived from them
    /// by the store's row builder, never set on its own.
    pub h3_cell: Option<i64>,
    pub recipient_id: Option<i64>,
    pub redirected_to: Option<String>,
    pub high_priority: bool,
    /// Start of the term now running (for the due-soon share).
    pub sla_started_at: DateTimeUtc,
    /// From this instant the appeal is DUE_SOON until `due_at`.
    pub due_soon_at: DateTimeUtc,
    /// The deadline now running: registration (APPEAL before registration), first reaction
    /// (INCIDENT before it), otherwise the answer.
    pub due_at: DateTimeUtc,
    pub extension_count: i32,
    pub reacted_at: Option<DateTimeUtc>,
    /// When the term was met by an answer, a redirect, a no-answer decision or a duplicate mark.
    pub resolved_at: Option<DateTimeUtc>,
    pub answered_at: Option<DateTimeUtc>,
    pub answer_text: Option<String>,
    pub completeness: Option<String>,
    pub no_answer_reason: Option<String>,
    pub satisfaction_score: Option<i32>,
    pub satisfied: Option<bool>,
    pub feedback_code: Option<String>,
    pub feedback_expires_at: Option<DateTimeUtc>,
    pub reopen_count: i32,
    /// The first answer, kept through reopenings (see `appeal_answers`).
    pub first_answered_at: Option<DateTimeUtc>,
    /// The deadline in force when the first answer was given.
    pub first_due_at: Option<DateTimeUtc>,
    pub first_completeness: Option<String>,
    pub first_satisfied: Option<bool>,
    /// An incident's reaction term in force when it was first reacted to.
    pub reaction_due_at: Option<DateTimeUtc>,
    /// Working hours from receipt to the first reaction.
    pub reaction_hours: Option<f64>,
    pub duplicate_of_id: Option<i64>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the author's data was removed and the free text masked (retention or an erasure
    /// on request); `None` while the appeal holds them.
    pub anonymised_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
