//! Roadmaps as clients see them: the list, one roadmap with measures, comments, progress,
//! effect and history, and the workflow mutations.

use crate::domain::roadmap::{MeasureId, RoadmapId};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::auth::User;
use super::connection::{connection, forward_window};
use super::effect::RoadmapEffect;
use super::loaders::Loaders;
use super::reference::{Category, Recipient, Territory, load_category, load_recipient, load_territory};
use super::scalars::Date;
use super::{caller, parse_id, sees_people, state};
use crate::domain::roadmap::{MeasureStatus, RoadmapAction, RoadmapStatus, measure_overdue, progress};
use crate::entity::{roadmap, roadmap_comment, roadmap_measure};
use crate::error::{AppError, AppResult};
use crate::service::roadmaps::{self, MeasureChanges, NewMeasure, NewRoadmap, RoadmapChanges, RoadmapFilter as Filter};

/// A plan of measures against the root cause of appeals (дорожная карта).
pub struct Roadmap {
    pub model: roadmap::Model,
    /// Measures loaded with the page, when the roadmap came in a list.
    pub measures: Option<Vec<roadmap_measure::Model>>,
    /// Comments loaded with the page, when the roadmap came in a list.
    pub comments: Option<Vec<roadmap_comment::Model>>,
}

impl Roadmap {
    fn new(model: roadmap::Model) -> Self {
        Self { model, measures: None, comments: None }
    }

    async fn measure_rows(&self, ctx: &Context<'_>) -> AppResult<Vec<roadmap_measure::Model>> {
        match &self.measures {
            Some(m) => Ok(m.clone()),
            None => roadmaps::measures(&state(ctx).db, RoadmapId(self.model.id)).await,
        }
    }
}

#[Object]
impl Roadmap {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    async fn title(&self) -> &str {
        &self.model.title
    }
    /// The relative URL of the roadmap as a Word document (`/exports/roadmaps/{id}.docx`):
    /// fetch it with the same `Authorization: Bearer` header as GraphQL requests.
    async fn docx_url(&self) -> String {
        format!("/exports/roadmaps/{}.docx", self.model.id)
    }
    /// The problem the roadmap removes (the root cause of appeals).
    async fn problem(&self) -> &str {
        &self.model.problem
    }
    async fn status(&self) -> AppResult<RoadmapStatus> {
        self.model.status.parse().map_err(AppError::internal)
    }
    async fn category(&self, ctx: &Context<'_>) -> AppResult<Option<Category>> {
        load_category(ctx, self.model.category_id).await
    }
    async fn territory(&self, ctx: &Context<'_>) -> AppResult<Option<Territory>> {
        load_territory(ctx, self.model.territory_id).await
    }
    /// The person who drafted it (null for API tokens: personal data).
    async fn owner(&self, ctx: &Context<'_>) -> AppResult<Option<User>> {
        load_user(ctx, Some(self.model.owner_id)).await
    }
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn measures(&self, ctx: &Context<'_>) -> AppResult<Vec<Measure>> {
        let today = today(ctx);
        Ok(self.measure_rows(ctx).await?.into_iter().map(|m| Measure { model: m, today }).collect())
    }
    /// Done measures among those not cancelled (0 to 1; 0 when there are none).
    async fn progress(&self, ctx: &Context<'_>) -> AppResult<f64> {
        let rows = self.measure_rows(ctx).await?;
        let statuses: Vec<MeasureStatus> = rows.iter().map(roadmaps::measure_status).collect::<AppResult<_>>()?;
        Ok(progress(&statuses))
    }
    /// Null for API tokens (personal data).
    async fn approved_by(&self, ctx: &Context<'_>) -> AppResult<Option<User>> {
        load_user(ctx, self.model.approved_by_id).await
    }
    /// The first approval (the effect counts from it); `approvedBy` is the latest approver.
    async fn approved_at(&self) -> Option<DateTime<Utc>> {
        self.model.approved_at
    }
    /// Appeals per month on the roadmap's topic (with subcategories) and territory (with its
    /// subtree), duplicates excluded: the baseline months before approval versus since
    /// approval (at least one month counted). Null before approval.
    async fn effect(&self, ctx: &Context<'_>) -> AppResult<Option<RoadmapEffect>> {
        let e = roadmaps::effect_of(state(ctx), &self.model).await?;
        Ok(e.map(RoadmapEffect::from))
    }
    /// Approval, return and cancellation comments, oldest first. People only: `FORBIDDEN`
    /// for API tokens (names and free text of staff).
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn comments(&self, ctx: &Context<'_>) -> AppResult<Vec<RoadmapComment>> {
        people_only(ctx, "comments")?;
        let rows = match &self.comments {
            Some(c) => c.clone(),
            None => roadmaps::comments(&state(ctx).db, RoadmapId(self.model.id)).await?,
        };
        Ok(rows.into_iter().map(RoadmapComment::from).collect())
    }
    /// The appeals the roadmap answers to.
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn appeal_ids(&self, ctx: &Context<'_>) -> AppResult<Vec<ID>> {
        let ids = roadmaps::appeal_ids(&state(ctx).db, RoadmapId(self.model.id)).await?;
        Ok(ids.into_iter().map(|i| ID(i.to_string())).collect())
    }
    /// Files attached to the roadmap, oldest first (for people; empty for tokens).
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn attachments(&self, ctx: &Context<'_>) -> AppResult<Vec<super::attachments::Attachment>> {
        super::attachments::of(ctx, crate::domain::attachments::TargetKind::Roadmap, self.model.id).await
    }
    /// The best practices it draws on, in the order they were linked.
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn practices(&self, ctx: &Context<'_>) -> AppResult<Vec<super::practices::Practice>> {
        let rows = ctx
            .data_unchecked::<super::loaders::Loaders>()
            .roadmap_practices()
            .load_one(self.model.id)
            .await
            .map_err(std::sync::Arc::unwrap_or_clone)?
            .unwrap_or_default();
        Ok(rows.into_iter().map(super::practices::Practice).collect())
    }
    /// Why it was cancelled.
    async fn cancel_reason(&self) -> Option<&str> {
        self.model.cancel_reason.as_deref()
    }
    /// Every change, oldest first (from the audit trail). People only: `FORBIDDEN` for API
    /// tokens.
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn history(&self, ctx: &Context<'_>) -> AppResult<Vec<RoadmapEvent>> {
        people_only(ctx, "history")?;
        let rows = roadmaps::history(&state(ctx).db, RoadmapId(self.model.id)).await?;
        Ok(rows
            .into_iter()
            .map(|a| RoadmapEvent {
                id: ID::from(a.id),
                at: a.at,
                actor: a.actor,
                action: a.action,
                data: a.data.and_then(|d| serde_json::from_str(&d).ok()).map(crate::graphql::scalars::Json),
            })
            .collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    async fn version(&self) -> i32 {
        self.model.version
    }
}

/// `FORBIDDEN` unless the caller is a person (a field with names or staff's free text).
fn people_only(ctx: &Context<'_>, field: &str) -> AppResult<()> {
    if sees_people(ctx) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!("`{field}` holds personal data and is not given to API tokens")))
    }
}

/// A person by id; none for a caller who may not see people's names (an API token).
async fn load_user(ctx: &Context<'_>, id: Option<i64>) -> AppResult<Option<User>> {
    let Some(id) = id else { return Ok(None) };
    if !sees_people(ctx) {
        return Ok(None);
    }
    let loaders = ctx.data_unchecked::<Loaders>();
    Ok(loaders.users().load_one(id).await.map_err(std::sync::Arc::unwrap_or_clone)?.map(User::from))
}

fn today(ctx: &Context<'_>) -> chrono::NaiveDate {
    let st = state(ctx);
    st.clock.now().with_timezone(&st.settings.timezone).date_naive()
}

/// One step of a roadmap (мероприятие).
pub struct Measure {
    model: roadmap_measure::Model,
    today: chrono::NaiveDate,
}

#[Object]
impl Measure {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    async fn title(&self) -> &str {
        &self.model.title
    }
    /// The responsible recipient, if one is named.
    async fn responsible(&self, ctx: &Context<'_>) -> AppResult<Option<Recipient>> {
        load_recipient(ctx, self.model.responsible_id).await
    }
    /// The responsible official, if one is named (null for API tokens: personal data).
    async fn responsible_name(&self, ctx: &Context<'_>) -> Option<&str> {
        if !sees_people(ctx) {
            return None;
        }
        self.model.responsible_name.as_deref()
    }
    async fn due_date(&self) -> Date {
        Date(self.model.due_date)
    }
    async fn status(&self) -> AppResult<MeasureStatus> {
        roadmaps::measure_status(&self.model)
    }
    async fn done_at(&self) -> Option<DateTime<Utc>> {
        self.model.done_at
    }
    /// Neither done nor cancelled, and the due date is before today (local).
    async fn overdue(&self) -> AppResult<bool> {
        Ok(measure_overdue(roadmaps::measure_status(&self.model)?, self.model.due_date, self.today))
    }
}

/// A comment of the approval round.
#[derive(SimpleObject)]
pub struct RoadmapComment {
    pub id: ID,
    pub at: DateTime<Utc>,
    pub author: String,
    pub text: String,
    /// The action it came with: approveRoadmap, returnRoadmap or cancelRoadmap.
    pub action: String,
}

impl From<roadmap_comment::Model> for RoadmapComment {
    fn from(c: roadmap_comment::Model) -> Self {
        Self { id: ID(c.id.to_string()), at: c.at, author: c.author, text: c.text, action: c.kind }
    }
}

/// One entry of a roadmap's history.
#[derive(SimpleObject)]
pub struct RoadmapEvent {
    /// The entry's id (stable: a client cache can key on it).
    pub id: ID,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub data: Option<crate::graphql::scalars::Json>,
}

connection!(RoadmapConnection, RoadmapEdge, Roadmap);

#[derive(InputObject, Default)]
pub struct RoadmapFilter {
    pub status: Option<Vec<RoadmapStatus>>,
    pub category_id: Option<Vec<ID>>,
    pub territory_id: Option<Vec<ID>>,
}

#[derive(InputObject)]
pub struct CreateRoadmapInput {
    pub title: String,
    pub problem: String,
    pub category_id: Option<ID>,
    pub territory_id: Option<ID>,
    /// Appeals the roadmap answers to; each must exist.
    pub appeal_ids: Option<Vec<ID>>,
}

#[derive(InputObject)]
pub struct UpdateRoadmapInput {
    pub id: ID,
    pub version: i32,
    pub title: Option<String>,
    pub problem: Option<String>,
    pub category_id: Option<ID>,
    pub territory_id: Option<ID>,
}

#[derive(InputObject)]
pub struct MeasureInput {
    pub roadmap_id: ID,
    pub version: i32,
    pub title: String,
    pub responsible_id: Option<ID>,
    pub responsible_name: Option<String>,
    pub due_date: Date,
}

#[derive(InputObject)]
pub struct UpdateMeasureInput {
    pub roadmap_id: ID,
    pub version: i32,
    pub measure_id: ID,
    pub title: Option<String>,
    pub due_date: Option<Date>,
    pub status: Option<MeasureStatus>,
}

/// Roadmap queries.
#[derive(Default)]
pub struct RoadmapQuery;

#[Object]
impl RoadmapQuery {
    /// Roadmaps, newest first.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn roadmaps(
        &self,
        ctx: &Context<'_>,
        filter: Option<RoadmapFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<RoadmapConnection> {
        let (offset, limit) = forward_window(first, after.as_deref())?;
        let f = filter.unwrap_or_default();
        let filter = Filter {
            status: f.status.unwrap_or_default(),
            category_id: super::parse_ids("filter.categoryId", f.category_id)?,
            territory_id: super::parse_ids("filter.territoryId", f.territory_id)?,
        };
        let (rows, total) = roadmaps::list_with_details(&state(ctx).db, &filter, offset, limit).await?;
        let nodes = rows
            .into_iter()
            .map(|r| Roadmap { model: r.roadmap, measures: Some(r.measures), comments: Some(r.comments) })
            .collect();
        Ok(RoadmapConnection::from_offset(nodes, offset, total))
    }

    /// One roadmap; `NOT_FOUND` when it does not exist.
    async fn roadmap(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Roadmap>> {
        let id = parse_id("id", &id)?;
        Ok(Some(Roadmap::new(roadmaps::get(&state(ctx).db, RoadmapId(id)).await?)))
    }
}

async fn act(
    ctx: &Context<'_>,
    id: &ID,
    version: i32,
    action: RoadmapAction,
    comment: Option<String>,
) -> AppResult<Roadmap> {
    let id = parse_id("id", id)?;
    let m = roadmaps::act(state(ctx), caller(ctx), RoadmapId(id), version, action, comment).await?;
    Ok(Roadmap::new(m))
}

/// Roadmap mutations.
#[derive(Default)]
pub struct RoadmapMutation;

#[Object]
impl RoadmapMutation {
    /// Links a best practice to a roadmap that draws on it (idempotent; in the history).
    async fn link_practice(&self, ctx: &Context<'_>, roadmap_id: ID, practice_id: ID) -> AppResult<Roadmap> {
        let (r, p) = (parse_id("roadmapId", &roadmap_id)?, parse_id("practiceId", &practice_id)?);
        Ok(Roadmap::new(crate::service::practices::set_link(state(ctx), caller(ctx), r, p, true).await?))
    }

    /// Removes the link between a roadmap and a best practice (idempotent).
    async fn unlink_practice(&self, ctx: &Context<'_>, roadmap_id: ID, practice_id: ID) -> AppResult<Roadmap> {
        let (r, p) = (parse_id("roadmapId", &roadmap_id)?, parse_id("practiceId", &practice_id)?);
        Ok(Roadmap::new(crate::service::practices::set_link(state(ctx), caller(ctx), r, p, false).await?))
    }

    /// A new DRAFT owned by the caller.
    async fn create_roadmap(&self, ctx: &Context<'_>, input: CreateRoadmapInput) -> AppResult<Roadmap> {
        let new = NewRoadmap {
            title: input.title,
            problem: input.problem,
            category_id: super::parse_opt_id("input.categoryId", input.category_id.as_ref())?,
            territory_id: super::parse_opt_id("input.territoryId", input.territory_id.as_ref())?,
            appeal_ids: super::parse_ids("input.appealIds", input.appeal_ids)?,
        };
        Ok(Roadmap::new(roadmaps::create(state(ctx), caller(ctx), new).await?))
    }

    /// Edits a DRAFT or RETURNED roadmap.
    async fn update_roadmap(&self, ctx: &Context<'_>, input: UpdateRoadmapInput) -> AppResult<Roadmap> {
        let id = parse_id("input.id", &input.id)?;
        let ch = RoadmapChanges {
            title: input.title,
            problem: input.problem,
            category_id: super::parse_opt_id("input.categoryId", input.category_id.as_ref())?,
            territory_id: super::parse_opt_id("input.territoryId", input.territory_id.as_ref())?,
        };
        Ok(Roadmap::new(roadmaps::update(state(ctx), caller(ctx), RoadmapId(id), input.version, ch).await?))
    }

    /// Adds a measure to a DRAFT or RETURNED roadmap.
    async fn add_measure(&self, ctx: &Context<'_>, input: MeasureInput) -> AppResult<Roadmap> {
        let id = parse_id("input.roadmapId", &input.roadmap_id)?;
        let m = NewMeasure {
            title: input.title,
            responsible_id: super::parse_opt_id("input.responsibleId", input.responsible_id.as_ref())?,
            responsible_name: input.responsible_name,
            due_date: input.due_date.0,
        };
        Ok(Roadmap::new(roadmaps::add_measure(state(ctx), caller(ctx), RoadmapId(id), input.version, m).await?))
    }

    /// Title and due date while the roadmap is edited; status progress once approved. An
    /// EXECUTOR may only move the status of its recipient's measures.
    async fn update_measure(&self, ctx: &Context<'_>, input: UpdateMeasureInput) -> AppResult<Roadmap> {
        let id = parse_id("input.roadmapId", &input.roadmap_id)?;
        let measure_id = parse_id("input.measureId", &input.measure_id)?;
        let ch = MeasureChanges { title: input.title, due_date: input.due_date.map(|d| d.0), status: input.status };
        Ok(Roadmap::new(
            roadmaps::update_measure(state(ctx), caller(ctx), RoadmapId(id), input.version, MeasureId(measure_id), ch)
                .await?,
        ))
    }

    async fn submit_roadmap(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Roadmap> {
        act(ctx, &id, version, RoadmapAction::Submit, None).await
    }

    /// CURATOR only.
    async fn approve_roadmap(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        comment: Option<String>,
    ) -> AppResult<Roadmap> {
        act(ctx, &id, version, RoadmapAction::Approve, comment).await
    }

    /// CURATOR only; the comment is required. Also returns an APPROVED or IN_PROGRESS roadmap
    /// for a new round, when its plan must change.
    async fn return_roadmap(&self, ctx: &Context<'_>, id: ID, version: i32, comment: String) -> AppResult<Roadmap> {
        act(ctx, &id, version, RoadmapAction::Return, Some(comment)).await
    }

    async fn start_roadmap(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Roadmap> {
        act(ctx, &id, version, RoadmapAction::Start, None).await
    }

    async fn complete_roadmap(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Roadmap> {
        act(ctx, &id, version, RoadmapAction::Complete, None).await
    }

    /// Cancels an open roadmap; the reason is required and kept as a comment.
    async fn cancel_roadmap(&self, ctx: &Context<'_>, id: ID, version: i32, reason: String) -> AppResult<Roadmap> {
        act(ctx, &id, version, RoadmapAction::Cancel, Some(reason)).await
    }
}
