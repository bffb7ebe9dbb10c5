//! An appeal as the rules see it: typed ids, the typed record of every stored column (enum
//! columns parsed once, where the row is read), and the checks of its content.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::access::Channel;
use super::deadlines::AppealKind;
use super::lifecycle::AppealStatus;
use super::quality::{Completeness, NoAnswerReason};
use crate::error::FieldError;

/// Longest accepted appeal text.
pub const MAX_TEXT: usize = 20_000;

/// The id of a stored appeal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AppealId(pub i64);

/// The id of a recipient (a department or an external body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RecipientId(pub i64);

/// The id of a category of the rubricator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CategoryId(pub i64);

/// The id of a territory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TerritoryId(pub i64);

impl std::fmt::Display for AppealId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for RecipientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The id of an appeal record: [`AppealId`] once stored, `()` before (the database assigns it).
pub trait RecordId: Clone + std::fmt::Debug {
    /// The stored id, if any.
    fn stored(&self) -> Option<AppealId>;
}

impl RecordId for AppealId {
    fn stored(&self) -> Option<AppealId> {
        Some(*self)
    }
}

impl RecordId for () {
    fn stored(&self) -> Option<AppealId> {
        None
    }
}

/// An appeal, message or incident with every stored column, typed.
///
/// Deliberately without `Default`: whoever builds one names every field, so a new column is
/// a compile error at every writer.
#[derive(Debug, Clone, PartialEq)]
pub struct Appeal<Id: RecordId = AppealId> {
    pub id: Id,
    /// Registration number, unique and gap-free per year: `2026-000123`.
    pub number: String,
    pub kind: AppealKind,
    pub channel: Channel,
    pub external_id: Option<String>,
    pub status: AppealStatus,
    pub received_at: DateTime<Utc>,
    pub registered_at: Option<DateTime<Utc>>,
    pub author_name: Option<String>,
    pub author_contact: Option<String>,
    /// No surname or no address to answer to ([`is_anonymous`]).
    pub anonymous: bool,
    pub text: String,
    /// Stems of the text, summary and address ([`search_text`]).
    pub search_text: String,
    pub summary: Option<String>,
    pub category_id: Option<CategoryId>,
    pub suggested_category_id: Option<CategoryId>,
    pub territory_id: Option<TerritoryId>,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub recipient_id: Option<RecipientId>,
    pub redirected_to: Option<String>,
    pub high_priority: bool,
    /// Start of the term now running.
    pub sla_started_at: DateTime<Utc>,
    /// From this instant the appeal is DUE_SOON until `due_at`.
    pub due_soon_at: DateTime<Utc>,
    /// The deadline now running.
    pub due_at: DateTime<Utc>,
    pub extension_count: i32,
    pub reacted_at: Option<DateTime<Utc>>,
    /// When the term was met by an answer, a redirect, a no-answer decision or a duplicate mark.
    pub resolved_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub answer_text: Option<String>,
    pub completeness: Option<Completeness>,
    pub no_answer_reason: Option<NoAnswerReason>,
    pub satisfaction_score: Option<i32>,
    pub satisfied: Option<bool>,
    pub feedback_code: Option<String>,
    pub feedback_expires_at: Option<DateTime<Utc>>,
    pub reopen_count: i32,
    /// The first answer ever given, kept through reopenings: what the analytics count.
    pub first_answer: Option<FirstAnswer>,
    /// An incident's first reaction as a fact: its term and the working hours it took.
    pub reaction: Option<ReactionFact>,
    pub duplicate_of_id: Option<AppealId>,
    /// Counts the writes: each one checks it and adds one (optimistic locking).
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When its author's personal data were removed (retention or a request to erase); an
    /// appeal changed after that instant is anonymised again by the next retention run.
    pub anonymised_at: Option<DateTime<Utc>>,
}

/// An appeal not stored yet.
pub type FreshAppeal = Appeal<()>;

/// The first answer of an appeal, as the analytics count it (issue 18: a reopening does not
/// erase it): when it was given, the deadline in force then, its assessment and the author's
/// rating of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstAnswer {
    pub answered_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub completeness: Option<Completeness>,
    pub satisfied: Option<bool>,
}

/// An incident's first reaction (issue 18, item 2): the reaction term in force (8 working
/// hours from receipt, 4 for high priority) and the working hours from receipt to the
/// reaction, by the calendar and the working hours of the deadline policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReactionFact {
    pub due_at: DateTime<Utc>,
    pub working_hours: f64,
}

impl FirstAnswer {
    /// Whether the first answer met the deadline in force when it was given.
    pub fn on_time(&self) -> bool {
        self.answered_at <= self.due_at
    }
}

impl<Id: RecordId> Appeal<Id> {
    /// Keeps the first answer after a change: the first time the appeal holds an answer it
    /// becomes the first answer, with the deadline in force; while the current answer is
    /// still that first one, its assessment and rating follow the current columns; a later
    /// answer (after a reopening) leaves it alone.
    pub fn keep_first_answer(&mut self) {
        match &mut self.first_answer {
            None => {
                if let Some(at) = self.answered_at {
                    self.first_answer = Some(FirstAnswer {
                        answered_at: at,
                        due_at: self.due_at,
                        completeness: self.completeness,
                        satisfied: self.satisfied,
                    });
                }
            }
            Some(first) => {
                if self.answered_at == Some(first.answered_at) {
                    first.completeness = self.completeness;
                    first.satisfied = self.satisfied;
                }
            }
        }
    }
}

/// Where an appeal sits for the row scope (who sees and handles it): its channel, territory
/// and recipient.
pub trait Placed {
    /// The channel, if it is one we know.
    fn channel(&self) -> Option<Channel>;
    fn territory_id(&self) -> Option<i64>;
    fn recipient_id(&self) -> Option<i64>;
}

impl<Id: RecordId> Placed for Appeal<Id> {
    fn channel(&self) -> Option<Channel> {
        Some(self.channel)
    }
    fn territory_id(&self) -> Option<i64> {
        self.territory_id.map(|t| t.0)
    }
    fn recipient_id(&self) -> Option<i64> {
        self.recipient_id.map(|r| r.0)
    }
}

/// No surname or no address to answer to.
pub fn is_anonymous(author_name: Option<&str>, author_contact: Option<&str>) -> bool {
    author_name.is_none() || author_contact.is_none()
}

/// Text normalised for search: stems of the text, summary and address.
pub fn search_text(text: &str, summary: Option<&str>, address: Option<&str>) -> String {
    let all = format!("{text} {} {}", summary.unwrap_or_default(), address.unwrap_or_default());
    super::text::normalize_for_search(&all)
}

/// The value trimmed, or `None` when nothing is left.
pub fn trimmed(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Checks coordinates: in range, and both or neither.
pub fn check_coords(errors: &mut Vec<FieldError>, lat: Option<f64>, lon: Option<f64>) {
    if lat.is_some_and(|v| !(-90.0..=90.0).contains(&v)) {
        errors.push(FieldError { path: "input.latitude".into(), message: "must be between -90 and 90".into() });
    }
    if lon.is_some_and(|v| !(-180.0..=180.0).contains(&v)) {
        errors.push(FieldError { path: "input.longitude".into(), message: "must be between -180 and 180".into() });
    }
    if lat.is_some() != lon.is_some() {
        errors.push(FieldError { path: "input.longitude".into(), message: "give both latitude and longitude".into() });
    }
}

/// H3 resolution of problem points (cells of about 0.1 km²).
pub const PROBLEM_POINT_RESOLUTION: h3o::Resolution = h3o::Resolution::Nine;

/// The problem-point cell (H3, [`PROBLEM_POINT_RESOLUTION`]) of an appeal's coordinates, as
/// stored in `appeals.h3_cell`: `None` without both coordinates or with coordinates that are
/// not a place (not finite). An H3 index keeps its top bit clear, so it fits an `i64` as is,
/// and cells of one resolution order the same as numbers and as their hex names.
pub fn point_cell(lat: Option<f64>, lon: Option<f64>) -> Option<i64> {
    let p = h3o::LatLng::new(lat?, lon?).ok()?;
    i64::try_from(u64::from(p.to_cell(PROBLEM_POINT_RESOLUTION))).ok()
}

/// Checks an appeal's or an answer's text: not blank, at most [`MAX_TEXT`] characters.
pub fn check_text(errors: &mut Vec<FieldError>, path: &str, text: &str) {
    FieldError::check_text(errors, path, text, MAX_TEXT);
}
