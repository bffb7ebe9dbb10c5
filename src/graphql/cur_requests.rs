//! Requests from the regional centre (запросы ЦУР) as clients see them: the list with overdue
//! marks, one request with its materials, and the centre's answers.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};

use super::connection::{connection, forward_window};
use super::scalars::Date;
use super::{caller, parse_id, sees_people, state};
use crate::domain::cur_request::{CurMaterialKind, CurRequestStatus, days_late};
use crate::entity::{cur_request, cur_request_material};
use crate::error::{AppError, AppResult};
use crate::service::cur_requests::{self, NewMaterial, NewRequest, RequestFilter};

/// A request of the regional centre (ЦУР): what is asked, by whom, by when, and what was
/// sent in answer.
pub struct CurRequest(pub cur_request::Model);

#[Object]
impl CurRequest {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// Who at the regional centre asks.
    async fn requested_by(&self) -> &str {
        &self.0.requested_by
    }
    /// The local date the answer is due.
    async fn due_date(&self) -> Date {
        Date(self.0.due_date)
    }
    async fn status(&self) -> AppResult<CurRequestStatus> {
        cur_requests::status_of(&self.0)
    }
    async fn answered_at(&self) -> Option<DateTime<Utc>> {
        self.0.answered_at
    }
    /// Open after its due date.
    async fn overdue(&self, ctx: &Context<'_>) -> AppResult<bool> {
        let status = cur_requests::status_of(&self.0)?;
        Ok(status.is_open() && days_late(status, self.0.due_date, None, cur_requests::today(state(ctx))).is_some())
    }
    /// Days past the due date: until today while open, until the answer once answered; null
    /// when in time.
    async fn days_late(&self, ctx: &Context<'_>) -> AppResult<Option<i32>> {
        let st = state(ctx);
        let answered = self.0.answered_at.map(|a| cur_requests::local_day(st, a));
        let days = days_late(cur_requests::status_of(&self.0)?, self.0.due_date, answered, cur_requests::today(st));
        Ok(days.map(|d| i32::try_from(d).unwrap_or(i32::MAX)))
    }
    /// Files attached to the request, oldest first.
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn attachments(&self, ctx: &Context<'_>) -> AppResult<Vec<super::attachments::Attachment>> {
        super::attachments::of(ctx, crate::domain::attachments::TargetKind::CurRequest, self.0.id).await
    }
    /// What was sent in answer, in the order it was added.
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn materials(&self, ctx: &Context<'_>) -> AppResult<Vec<CurMaterial>> {
        let rows = ctx
            .data_unchecked::<super::loaders::Loaders>()
            .cur_materials()
            .load_one(self.0.id)
            .await
            .map_err(std::sync::Arc::unwrap_or_clone)?
            .unwrap_or_default();
        Ok(rows.into_iter().map(CurMaterial).collect())
    }
    /// Who registered it (a member of staff or the token that sent it); null for API tokens.
    async fn created_by(&self, ctx: &Context<'_>) -> Option<&str> {
        sees_people(ctx).then_some(self.0.created_by.as_str())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// A material sent to the regional centre.
pub struct CurMaterial(pub cur_request_material::Model);

#[Object]
impl CurMaterial {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> AppResult<CurMaterialKind> {
        self.0.kind.parse().map_err(AppError::internal)
    }
    /// The written answer (TEXT).
    async fn text(&self) -> Option<&str> {
        self.0.text.as_deref()
    }
    async fn memo_id(&self) -> Option<ID> {
        self.0.memo_id.map(|i| ID(i.to_string()))
    }
    async fn roadmap_id(&self) -> Option<ID> {
        self.0.roadmap_id.map(|i| ID(i.to_string()))
    }
    /// The stored system report (REPORT).
    async fn report_id(&self) -> Option<ID> {
        self.0.report_id.map(|i| ID(i.to_string()))
    }
    /// The document (MEMO, ROADMAP, REPORT) under the request's own access rule:
    /// `/exports/cur-materials/{id}.docx`, fetched with the same bearer token.
    async fn docx_url(&self) -> Option<String> {
        (self.0.memo_id.is_some() || self.0.roadmap_id.is_some() || self.0.report_id.is_some())
            .then(|| format!("/exports/cur-materials/{}.docx", self.0.id))
    }
    async fn added_at(&self) -> DateTime<Utc> {
        self.0.added_at
    }
}

connection!(CurRequestConnection, CurRequestEdge, CurRequest);

/// Which requests to list.
#[derive(InputObject, Default)]
pub struct CurRequestFilter {
    pub status: Option<Vec<CurRequestStatus>>,
    /// Only open requests past their due date (`true`), or all the others (`false`).
    pub overdue: Option<bool>,
}

/// A new request.
#[derive(InputObject)]
pub struct CreateCurRequestInput {
    pub subject: String,
    pub body: String,
    /// Who asks; for a token's own request, the token's name when left out.
    pub requested_by: Option<String>,
    pub due_date: Date,
}

/// A material to send: a stored memo, a roadmap, or a written answer.
#[derive(InputObject)]
pub struct AddCurMaterialInput {
    pub request_id: ID,
    pub version: i32,
    pub kind: CurMaterialKind,
    pub memo_id: Option<ID>,
    pub roadmap_id: Option<ID>,
    /// A stored system report (`generateSystemReport`), for REPORT.
    pub report_id: Option<ID>,
    pub text: Option<String>,
}

/// A change of a request's status.
#[derive(InputObject)]
pub struct SetCurRequestStatusInput {
    pub id: ID,
    pub version: i32,
    pub status: CurRequestStatus,
}

/// Queries of the requests of the regional centre.
#[derive(Default)]
pub struct CurRequestQuery;

#[Object]
impl CurRequestQuery {
    /// Requests of the regional centre, the soonest due first.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn cur_requests(
        &self,
        ctx: &Context<'_>,
        filter: Option<CurRequestFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<CurRequestConnection> {
        let (offset, limit) = forward_window(first, after.as_deref())?;
        let f = filter.unwrap_or_default();
        let filter = RequestFilter { status: f.status.unwrap_or_default(), overdue: f.overdue };
        let (rows, total) = cur_requests::list(state(ctx), &filter, offset, limit).await?;
        Ok(CurRequestConnection::from_offset(rows.into_iter().map(CurRequest).collect(), offset, total))
    }

    /// One request; `NOT_FOUND` when it does not exist.
    async fn cur_request(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<CurRequest>> {
        let id = parse_id("id", &id)?;
        Ok(Some(CurRequest(cur_requests::get(&state(ctx).db, id).await?)))
    }
}

/// Mutations of the requests of the regional centre.
#[derive(Default)]
pub struct CurRequestMutation;

#[Object]
impl CurRequestMutation {
    /// Registers a request (NEW): staff, or the regional centre with a CUR_REQUESTS token.
    async fn create_cur_request(&self, ctx: &Context<'_>, input: CreateCurRequestInput) -> AppResult<CurRequest> {
        let new = NewRequest {
            subject: input.subject,
            body: input.body,
            requested_by: input.requested_by,
            due_date: input.due_date.0,
        };
        Ok(CurRequest(cur_requests::create(state(ctx), caller(ctx), new).await?))
    }

    /// Attaches a material to an open request.
    async fn add_cur_material(&self, ctx: &Context<'_>, input: AddCurMaterialInput) -> AppResult<CurRequest> {
        let id = parse_id("input.requestId", &input.request_id)?;
        let m = NewMaterial {
            kind: input.kind,
            memo_id: input.memo_id.as_ref().map(|i| parse_id("input.memoId", i)).transpose()?,
            roadmap_id: input.roadmap_id.as_ref().map(|i| parse_id("input.roadmapId", i)).transpose()?,
            report_id: input.report_id.as_ref().map(|i| parse_id("input.reportId", i)).transpose()?,
            text: input.text,
        };
        Ok(CurRequest(cur_requests::add_material(state(ctx), caller(ctx), id, input.version, m).await?))
    }

    /// Takes a request into work, answers it (with at least one material) or cancels it.
    async fn set_cur_request_status(
        &self,
        ctx: &Context<'_>,
        input: SetCurRequestStatusInput,
    ) -> AppResult<CurRequest> {
        let id = parse_id("input.id", &input.id)?;
        Ok(CurRequest(cur_requests::set_status(state(ctx), caller(ctx), id, input.version, input.status).await?))
    }
}
