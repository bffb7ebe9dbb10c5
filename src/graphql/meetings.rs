//! Meetings with the Head and their assignments (поручения) as clients see them: the agenda
//! proposed from the data, meetings with participants, agenda and minutes, assignments with
//! their overdue marks, and the documents of the agenda and the minutes.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::connection::{connection, forward_window};
use super::practices::Practice;
use super::reference::{Recipient, load_recipient};
use super::scalars::Date;
use super::{caller, parse_id, state};
use crate::domain::meeting::{AgendaKind, AssignmentStatus, MeetingStatus, days_late, overdue};
use crate::entity::{meeting, meeting_agenda_item, meeting_decision, practice, user};
use crate::error::{AppError, AppResult};
use crate::service::analytics::Period;
use crate::service::meetings::{
    self, AssignmentFilter as AFilter, Details, MeetingFilter as MFilter, NewAgendaItem, NewDecision, NewMeeting,
};

/// A member of staff taking part in a meeting.
#[derive(SimpleObject)]
pub struct MeetingParticipant {
    pub id: ID,
    pub full_name: String,
}

impl From<&user::Model> for MeetingParticipant {
    fn from(u: &user::Model) -> Self {
        Self { id: ID(u.id.to_string()), full_name: u.full_name.clone() }
    }
}

/// A question of a meeting's agenda.
pub struct AgendaItem(meeting_agenda_item::Model);

#[Object]
impl AgendaItem {
    /// 1, 2, … in the order of the agenda.
    async fn position(&self) -> i32 {
        self.0.position
    }
    async fn kind(&self) -> AppResult<AgendaKind> {
        self.0.kind.parse().map_err(AppError::internal)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
}

/// A question proposed for the agenda from the data (`proposedAgenda`).
#[derive(SimpleObject)]
pub struct ProposedAgendaItem {
    pub kind: AgendaKind,
    pub title: String,
    pub note: String,
    /// The number behind it: appeals, overdue measures or days late.
    pub count: i32,
}

/// A decision of a meeting's minutes; one with a recipient and a due date is an assignment
/// (поручение) and carries a status, an overdue mark and days late.
pub struct Decision {
    row: meeting_decision::Model,
    practices: Vec<practice::Model>,
}

#[Object]
impl Decision {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    async fn meeting_id(&self) -> ID {
        ID(self.row.meeting_id.to_string())
    }
    async fn text(&self) -> &str {
        &self.row.text
    }
    /// Whether it is an assignment (names a recipient and a term).
    async fn is_assignment(&self) -> bool {
        self.row.recipient_id.is_some()
    }
    async fn recipient(&self, ctx: &Context<'_>) -> AppResult<Option<Recipient>> {
        load_recipient(ctx, self.row.recipient_id).await
    }
    /// The local date it is due.
    async fn due_date(&self) -> Option<Date> {
        self.row.due_date.map(Date)
    }
    async fn status(&self) -> AppResult<Option<AssignmentStatus>> {
        meetings::assignment_status(&self.row)
    }
    async fn done_at(&self) -> Option<DateTime<Utc>> {
        self.row.done_at
    }
    /// Open after its due date.
    async fn overdue(&self, ctx: &Context<'_>) -> AppResult<bool> {
        let (Some(s), Some(due)) = (meetings::assignment_status(&self.row)?, self.row.due_date) else {
            return Ok(false);
        };
        Ok(overdue(s, due, meetings::today(state(ctx))))
    }
    /// Days past the due date: until today while open, until it was done after; null when in
    /// time (or not an assignment).
    async fn days_late(&self, ctx: &Context<'_>) -> AppResult<Option<i32>> {
        let (Some(s), Some(due)) = (meetings::assignment_status(&self.row)?, self.row.due_date) else {
            return Ok(None);
        };
        let st = state(ctx);
        let done = self.row.done_at.map(|t| t.with_timezone(&st.settings.timezone).date_naive());
        Ok(days_late(s, due, done, meetings::today(st)).map(|d| i32::try_from(d).unwrap_or(i32::MAX)))
    }
    /// The best practices it draws on.
    async fn practices(&self) -> Vec<Practice> {
        self.practices.iter().cloned().map(Practice).collect()
    }
    async fn version(&self) -> i32 {
        self.row.version
    }
}

/// A meeting with the Head: when, who, the agenda and the minutes.
pub struct Meeting {
    row: meeting::Model,
    details: Arc<Details>,
}

#[Object]
impl Meeting {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    /// Files attached to the meeting (materials, the signed minutes), oldest first.
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn attachments(&self, ctx: &Context<'_>) -> AppResult<Vec<super::attachments::Attachment>> {
        super::attachments::of(ctx, crate::domain::attachments::TargetKind::Meeting, self.row.id).await
    }
    async fn title(&self) -> &str {
        &self.row.title
    }
    async fn starts_at(&self) -> DateTime<Utc> {
        self.row.starts_at
    }
    async fn place(&self) -> Option<&str> {
        self.row.place.as_deref()
    }
    async fn status(&self) -> AppResult<MeetingStatus> {
        meetings::status_of(&self.row)
    }
    async fn held_at(&self) -> Option<DateTime<Utc>> {
        self.row.held_at
    }
    async fn participants(&self) -> Vec<MeetingParticipant> {
        self.details.participants.get(&self.row.id).map_or_else(Vec::new, |l| l.iter().map(Into::into).collect())
    }
    async fn agenda(&self) -> Vec<AgendaItem> {
        self.details.agenda.get(&self.row.id).map_or_else(Vec::new, |l| l.iter().cloned().map(AgendaItem).collect())
    }
    /// The decisions of the minutes, in the order they were recorded.
    async fn decisions(&self) -> Vec<Decision> {
        self.details.decisions.get(&self.row.id).map_or_else(Vec::new, |l| {
            l.iter()
                .map(|d| Decision {
                    row: d.clone(),
                    practices: self.details.practices.get(&d.id).cloned().unwrap_or_default(),
                })
                .collect()
        })
    }
    /// Who planned it.
    async fn created_by(&self) -> &str {
        &self.row.created_by
    }
    /// `/exports/meetings/{id}-agenda.docx`, fetched with the same bearer token.
    async fn agenda_docx_url(&self) -> String {
        format!("/exports/meetings/{}-agenda.docx", self.row.id)
    }
    /// `/exports/meetings/{id}-minutes.docx` (a held meeting).
    async fn minutes_docx_url(&self) -> Option<String> {
        (self.row.status == MeetingStatus::Held.as_str())
            .then(|| format!("/exports/meetings/{}-minutes.docx", self.row.id))
    }
    async fn version(&self) -> i32 {
        self.row.version
    }
}

connection!(MeetingConnection, MeetingEdge, Meeting);
connection!(AssignmentConnection, AssignmentEdge, Decision);

/// An agenda question as given.
#[derive(InputObject)]
pub struct AgendaItemInput {
    /// Where it comes from (`proposedAgenda` gives it); OTHER when left out.
    pub kind: Option<AgendaKind>,
    pub title: String,
    pub note: Option<String>,
}

/// A meeting to plan.
#[derive(InputObject)]
pub struct CreateMeetingInput {
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub place: Option<String>,
    /// Active users, at most 100.
    pub participant_ids: Vec<ID>,
    /// At most 50 questions.
    pub agenda: Vec<AgendaItemInput>,
}

/// A planned meeting changed: everything given replaces what it had.
#[derive(InputObject)]
pub struct UpdateMeetingInput {
    pub id: ID,
    pub version: i32,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub place: Option<String>,
    pub participant_ids: Vec<ID>,
    pub agenda: Vec<AgendaItemInput>,
}

/// Holding or cancelling a planned meeting.
#[derive(InputObject)]
pub struct SetMeetingStatusInput {
    pub id: ID,
    pub version: i32,
    pub status: MeetingStatus,
}

/// A decision for the minutes of a held meeting; with a recipient and a due date, an
/// assignment.
#[derive(InputObject)]
pub struct RecordDecisionInput {
    pub meeting_id: ID,
    /// The meeting's version.
    pub version: i32,
    pub text: String,
    pub recipient_id: Option<ID>,
    pub due_date: Option<Date>,
    /// Best practices it draws on, at most 20.
    pub practice_ids: Option<Vec<ID>>,
}

/// A change of an assignment's status.
#[derive(InputObject)]
pub struct SetAssignmentStatusInput {
    pub id: ID,
    pub version: i32,
    pub status: AssignmentStatus,
}

/// Which meetings to list.
#[derive(InputObject, Default)]
pub struct MeetingFilter {
    pub status: Option<Vec<MeetingStatus>>,
}

/// Which assignments to list.
#[derive(InputObject, Default)]
pub struct AssignmentFilter {
    pub status: Option<Vec<AssignmentStatus>>,
    /// Only open ones past their due date (`true`), or all the others (`false`).
    pub overdue: Option<bool>,
    pub recipient_id: Option<Vec<ID>>,
    pub meeting_id: Option<ID>,
}

fn ids(path: &str, list: &[ID]) -> AppResult<Vec<i64>> {
    list.iter().enumerate().map(|(i, id)| parse_id(&format!("{path}.{i}"), id)).collect()
}

fn agenda(items: Vec<AgendaItemInput>) -> Vec<NewAgendaItem> {
    items
        .into_iter()
        .map(|a| NewAgendaItem { kind: a.kind.unwrap_or(AgendaKind::Other), title: a.title, note: a.note })
        .collect()
}

async fn with_details(ctx: &Context<'_>, rows: Vec<meeting::Model>) -> AppResult<Vec<Meeting>> {
    let ids: Vec<i64> = rows.iter().map(|m| m.id).collect();
    let details = Arc::new(meetings::details(&state(ctx).db, &ids).await?);
    Ok(rows.into_iter().map(|row| Meeting { row, details: details.clone() }).collect())
}

async fn decisions(ctx: &Context<'_>, rows: Vec<meeting_decision::Model>) -> AppResult<Vec<Decision>> {
    let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
    let mut practices: HashMap<i64, Vec<practice::Model>> = meetings::practices_of(&state(ctx).db, &ids).await?;
    Ok(rows.into_iter().map(|row| Decision { practices: practices.remove(&row.id).unwrap_or_default(), row }).collect())
}

/// Queries of meetings and assignments.
#[derive(Default)]
pub struct MeetingQuery;

#[Object]
impl MeetingQuery {
    /// The agenda the data proposes for a meeting about the period: fastest-growing topics,
    /// roadmaps with overdue measures and those measures, the recipients at the bottom of the
    /// rating, problem points, overdue assignments of earlier meetings.
    async fn proposed_agenda(&self, ctx: &Context<'_>, from: Date, to: Date) -> AppResult<Vec<ProposedAgendaItem>> {
        let period = Period::new("period", from.0, to.0)?;
        let items = meetings::proposed_agenda(state(ctx), caller(ctx), period).await?;
        Ok(items
            .into_iter()
            .map(|p| ProposedAgendaItem {
                kind: p.kind,
                title: p.title,
                note: p.note,
                count: i32::try_from(p.count).unwrap_or(i32::MAX),
            })
            .collect())
    }

    /// Meetings, the latest first.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn meetings(
        &self,
        ctx: &Context<'_>,
        filter: Option<MeetingFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<MeetingConnection> {
        let (offset, limit) = forward_window(first, after.as_deref())?;
        let f = MFilter { status: filter.and_then(|f| f.status).unwrap_or_default() };
        let (rows, total) = meetings::list(state(ctx), caller(ctx), &f, offset, limit).await?;
        Ok(MeetingConnection::from_offset(with_details(ctx, rows).await?, offset, total))
    }

    /// One meeting; `NOT_FOUND` when it does not exist.
    async fn meeting(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Meeting>> {
        let id = parse_id("id", &id)?;
        let row = meetings::get(state(ctx), caller(ctx), id).await?;
        Ok(with_details(ctx, vec![row]).await?.pop())
    }

    /// Assignments (поручения), the soonest due first: all for curators, the Head and
    /// coordinators; an executor's own recipient's only.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn assignments(
        &self,
        ctx: &Context<'_>,
        filter: Option<AssignmentFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<AssignmentConnection> {
        let (offset, limit) = forward_window(first, after.as_deref())?;
        let f = filter.unwrap_or_default();
        let f = AFilter {
            status: f.status.unwrap_or_default(),
            overdue: f.overdue,
            recipient_id: ids("filter.recipientId", &f.recipient_id.unwrap_or_default())?,
            meeting_id: f.meeting_id.as_ref().map(|m| parse_id("filter.meetingId", m)).transpose()?,
        };
        let (rows, total) = meetings::assignments(state(ctx), caller(ctx), &f, offset, limit).await?;
        Ok(AssignmentConnection::from_offset(decisions(ctx, rows).await?, offset, total))
    }

    /// One assignment; `NOT_FOUND` when it does not exist or the caller may not see it.
    async fn assignment(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Decision>> {
        let id = parse_id("id", &id)?;
        let row = meetings::assignment(state(ctx), caller(ctx), id).await?;
        Ok(decisions(ctx, vec![row]).await?.pop())
    }
}

/// Mutations of meetings and assignments.
#[derive(Default)]
pub struct MeetingMutation;

#[Object]
impl MeetingMutation {
    /// Plans a meeting (PLANNED).
    async fn create_meeting(&self, ctx: &Context<'_>, input: CreateMeetingInput) -> AppResult<Meeting> {
        let new = NewMeeting {
            participant_ids: ids("input.participantIds", &input.participant_ids)?,
            title: input.title,
            starts_at: input.starts_at,
            place: input.place,
            agenda: agenda(input.agenda),
        };
        let row = meetings::create(state(ctx), caller(ctx), new).await?;
        Ok(with_details(ctx, vec![row]).await?.remove(0))
    }

    /// Changes a planned meeting (its participants and agenda replaced).
    async fn update_meeting(&self, ctx: &Context<'_>, input: UpdateMeetingInput) -> AppResult<Meeting> {
        let id = parse_id("input.id", &input.id)?;
        let new = NewMeeting {
            participant_ids: ids("input.participantIds", &input.participant_ids)?,
            title: input.title,
            starts_at: input.starts_at,
            place: input.place,
            agenda: agenda(input.agenda),
        };
        let row = meetings::update(state(ctx), caller(ctx), id, input.version, new).await?;
        Ok(with_details(ctx, vec![row]).await?.remove(0))
    }

    /// Holds (HELD) or cancels (CANCELLED) a planned meeting.
    async fn set_meeting_status(&self, ctx: &Context<'_>, input: SetMeetingStatusInput) -> AppResult<Meeting> {
        let id = parse_id("input.id", &input.id)?;
        let row = meetings::set_status(state(ctx), caller(ctx), id, input.version, input.status).await?;
        Ok(with_details(ctx, vec![row]).await?.remove(0))
    }

    /// Records a decision in the minutes of a held meeting; with a recipient and a due date
    /// it is an assignment.
    async fn record_decision(&self, ctx: &Context<'_>, input: RecordDecisionInput) -> AppResult<Decision> {
        let meeting_id = parse_id("input.meetingId", &input.meeting_id)?;
        let d = NewDecision {
            text: input.text,
            recipient_id: input.recipient_id.as_ref().map(|r| parse_id("input.recipientId", r)).transpose()?,
            due_date: input.due_date.map(|d| d.0),
            practice_ids: ids("input.practiceIds", &input.practice_ids.unwrap_or_default())?,
        };
        let row = meetings::add_decision(state(ctx), caller(ctx), meeting_id, input.version, d).await?;
        Ok(decisions(ctx, vec![row]).await?.remove(0))
    }

    /// Moves an assignment: into work, done, or (curators and the Head) cancelled.
    async fn set_assignment_status(&self, ctx: &Context<'_>, input: SetAssignmentStatusInput) -> AppResult<Decision> {
        let id = parse_id("input.id", &input.id)?;
        let row = meetings::set_assignment_status(state(ctx), caller(ctx), id, input.version, input.status).await?;
        Ok(decisions(ctx, vec![row]).await?.remove(0))
    }
}
