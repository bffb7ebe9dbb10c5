//! Best practices as clients see them: the searchable library, one practice with its
//! measured effect and the roadmaps that draw on it, and the links from roadmaps.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};

use super::connection::{connection, forward_window};
use super::effect::RoadmapEffect;
use super::reference::{Category, Territory, load_category, load_territory};
use super::scalars::Date;
use super::{caller, parse_id, state};
use crate::entity::practice;
use crate::error::AppResult;
use crate::service::practices::{self, PracticeFields, PracticeFilter as Filter};

/// A best practice (лучшая практика): what was done against a problem, where, from which
/// source, and its effect on appeals where it was applied here.
pub struct Practice(pub practice::Model);

#[Object]
impl Practice {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// The problem it answered.
    async fn problem(&self) -> &str {
        &self.0.problem
    }
    /// What was done.
    async fn action_taken(&self) -> &str {
        &self.0.action_taken
    }
    /// Where it was done, in words.
    async fn place(&self) -> Option<&str> {
        self.0.place.as_deref()
    }
    /// Where it comes from (a report, a link, the centre's own experience).
    async fn source(&self) -> Option<&str> {
        self.0.source.as_deref()
    }
    async fn category(&self, ctx: &Context<'_>) -> AppResult<Option<Category>> {
        load_category(ctx, self.0.category_id).await
    }
    /// The territory here where it was applied.
    async fn territory(&self, ctx: &Context<'_>) -> AppResult<Option<Territory>> {
        load_territory(ctx, self.0.territory_id).await
    }
    /// The day it was applied here; the effect counts from it.
    async fn applied_on(&self) -> Option<Date> {
        self.0.applied_on.map(Date)
    }
    /// Appeals per month on its topic (with subcategories) and territory (with its subtree),
    /// duplicates excluded: the baseline months before `appliedOn` against the time since,
    /// as a roadmap's effect. Null without `appliedOn`.
    async fn effect(&self, ctx: &Context<'_>) -> AppResult<Option<RoadmapEffect>> {
        let e = practices::effect_of(state(ctx), &self.0).await?;
        Ok(e.map(RoadmapEffect::from))
    }
    /// The roadmaps that draw on it.
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn roadmap_ids(&self, ctx: &Context<'_>) -> AppResult<Vec<ID>> {
        let ids = practices::roadmap_ids(&state(ctx).db, self.0.id).await?;
        Ok(ids.into_iter().map(|i| ID(i.to_string())).collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

connection!(PracticeConnection, PracticeEdge, Practice);

/// Which practices to list; parts left out do not filter.
#[derive(InputObject, Default)]
pub struct PracticeFilter {
    /// Words matched in any form against the title, problem, what was done and the place.
    pub search: Option<String>,
    pub category_id: Option<Vec<ID>>,
    pub territory_id: Option<Vec<ID>>,
}

/// A new practice.
#[derive(InputObject)]
pub struct CreatePracticeInput {
    pub title: String,
    pub problem: String,
    pub action_taken: String,
    pub place: Option<String>,
    pub source: Option<String>,
    pub category_id: Option<ID>,
    pub territory_id: Option<ID>,
    pub applied_on: Option<Date>,
}

/// Changes to a practice; fields left out stay as they are (an empty `place` or `source`
/// clears it).
#[derive(InputObject)]
pub struct UpdatePracticeInput {
    pub id: ID,
    pub version: i32,
    pub title: Option<String>,
    pub problem: Option<String>,
    pub action_taken: Option<String>,
    pub place: Option<String>,
    pub source: Option<String>,
    pub category_id: Option<ID>,
    pub territory_id: Option<ID>,
    pub applied_on: Option<Date>,
}

/// Best-practice queries.
#[derive(Default)]
pub struct PracticeQuery;

#[Object]
impl PracticeQuery {
    /// The library of best practices, newest first.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn practices(
        &self,
        ctx: &Context<'_>,
        filter: Option<PracticeFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<PracticeConnection> {
        let (offset, limit) = forward_window(first, after.as_deref())?;
        let f = filter.unwrap_or_default();
        let filter = Filter {
            search: f.search.filter(|s| !s.trim().is_empty()),
            category_id: super::parse_ids("filter.categoryId", f.category_id)?,
            territory_id: super::parse_ids("filter.territoryId", f.territory_id)?,
        };
        let (rows, total) = practices::list(&state(ctx).db, &filter, offset, limit).await?;
        Ok(PracticeConnection::from_offset(rows.into_iter().map(Practice).collect(), offset, total))
    }

    /// One practice; `NOT_FOUND` when it does not exist.
    async fn practice(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Practice>> {
        let id = parse_id("id", &id)?;
        Ok(Some(Practice(practices::get(&state(ctx).db, id).await?)))
    }
}

/// Best-practice mutations.
#[derive(Default)]
pub struct PracticeMutation;

#[Object]
impl PracticeMutation {
    /// Adds a practice to the library.
    async fn create_practice(&self, ctx: &Context<'_>, input: CreatePracticeInput) -> AppResult<Practice> {
        let fields = PracticeFields {
            title: Some(input.title),
            problem: Some(input.problem),
            action_taken: Some(input.action_taken),
            place: input.place,
            source: input.source,
            category_id: super::parse_opt_id("input.categoryId", input.category_id.as_ref())?,
            territory_id: super::parse_opt_id("input.territoryId", input.territory_id.as_ref())?,
            applied_on: input.applied_on.map(|d| d.0),
        };
        Ok(Practice(practices::create(state(ctx), caller(ctx), fields).await?))
    }

    /// Edits a practice; `CONFLICT` when `version` is stale.
    async fn update_practice(&self, ctx: &Context<'_>, input: UpdatePracticeInput) -> AppResult<Practice> {
        let id = parse_id("input.id", &input.id)?;
        let fields = PracticeFields {
            title: input.title,
            problem: input.problem,
            action_taken: input.action_taken,
            place: input.place,
            source: input.source,
            category_id: super::parse_opt_id("input.categoryId", input.category_id.as_ref())?,
            territory_id: super::parse_opt_id("input.territoryId", input.territory_id.as_ref())?,
            applied_on: input.applied_on.map(|d| d.0),
        };
        Ok(Practice(practices::update(state(ctx), caller(ctx), id, input.version, fields).await?))
    }
}
