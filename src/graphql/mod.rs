//! The GraphQL schema: root objects merged per area, the access policy, limits and error codes.

pub mod analytics;
pub mod appeals;
pub mod auth;
pub mod calendar;
pub mod connection;
pub mod intake;
pub mod loaders;
pub mod policy;
pub mod polls;
pub mod reference;
pub mod roadmaps;
pub mod scalars;

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextResolve, NextValidation, ResolveInfo,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    Context, EmptySubscription, MergedObject, Schema, SchemaBuilder, ServerError, ServerResult, ValidationResult,
    Value, Variables,
};

use crate::domain::access::{Denied, Principal, Role, UserPrincipal};
use crate::error::{AppError, AppResult};
use crate::service::Caller;
use crate::state::AppState;

/// The root query: one part per area.
#[derive(MergedObject, Default)]
pub struct Query(
    auth::AuthQuery,
    reference::ReferenceQuery,
    appeals::AppealQuery,
    calendar::CalendarQuery,
    intake::IntakeQuery,
    roadmaps::RoadmapQuery,
    polls::PollQuery,
    analytics::AnalyticsQuery,
);

/// The root mutation: one part per area.
#[derive(MergedObject, Default)]
pub struct Mutation(
    auth::AuthMutation,
    reference::ReferenceMutation,
    appeals::AppealMutation,
    calendar::CalendarMutation,
    intake::IntakeMutation,
    roadmaps::RoadmapMutation,
    polls::PollMutation,
);

/// The executable schema type.
pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// The schema without data or limits: shared by the server and the SDL export.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription).extension(Guard)
}

/// The schema as SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// The schema the server runs, with state and limits from the settings.
pub fn build_schema(state: AppState) -> AppSchema {
    let s = &state.settings;
    let mut b = schema_builder()
        .limit_depth(s.max_depth)
        .limit_complexity(s.max_complexity)
        .limit_recursive_depth(32)
        .limit_directives(8);
    if !s.introspection {
        b = b.disable_introspection();
    }
    b.data(state).finish()
}

/// Enforces the access policy on every root field before its resolver runs, and gives
/// parser and validation errors their contract codes.
struct Guard;

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Guard)
    }
}

fn with_code(mut e: ServerError, code: &str) -> ServerError {
    let has_code = e.extensions.as_ref().is_some_and(|x| x.get("code").is_some());
    if !has_code {
        e.extensions.get_or_insert_with(Default::default).set("code", code);
    }
    e
}

#[async_trait::async_trait]
impl Extension for Guard {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|e| with_code(e, "GRAPHQL_PARSE_FAILED"))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx)
            .await
            .map_err(|errs| errs.into_iter().map(|e| with_code(e, "GRAPHQL_VALIDATION_FAILED")).collect())
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_none() && !info.is_for_introspection && !info.name.starts_with("__") {
            let field = format!("{}.{}", info.parent_type, info.name);
            let caller = ctx.data_opt::<Caller>().cloned().unwrap_or_default();
            let denial = match policy::rule_for(&field) {
                None => {
                    tracing::error!(%field, "root field without an access rule refused");
                    Some(AppError::Forbidden("this operation has no access rule".into()))
                }
                Some(rule) => match rule.check(&caller.principal) {
                    Ok(()) => None,
                    Err(Denied::Unauthenticated) => Some(AppError::Unauthenticated(
                        caller.credential_error.unwrap_or_else(|| "sign in to use this operation".into()),
                    )),
                    Err(Denied::Forbidden) => {
                        Some(AppError::Forbidden("you are not allowed to use this operation".into()))
                    }
                },
            };
            if let Some(e) = denial {
                let mut err = async_graphql::Error::from(e).into_server_error(async_graphql::Pos::default());
                err.locations.clear();
                err.path = vec![async_graphql::PathSegment::Field(info.name.to_string())];
                return Err(err);
            }
        }
        next.run(ctx, info).await
    }
}

/// The application state from a resolver context.
pub fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

/// The caller from a resolver context (anonymous when absent).
pub fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    static ANON: std::sync::OnceLock<Caller> = std::sync::OnceLock::new();
    ctx.data_opt::<Caller>().unwrap_or_else(|| ANON.get_or_init(Caller::default))
}

/// The signed-in person, or `UNAUTHENTICATED`.
pub fn me<'a>(ctx: &Context<'a>) -> AppResult<&'a UserPrincipal> {
    match &caller(ctx).principal {
        Principal::User(u) => Ok(u),
        Principal::Token(_) => Err(AppError::Forbidden("this operation is for people, not tokens".into())),
        Principal::Anonymous | Principal::System => {
            Err(AppError::Unauthenticated("sign in to use this operation".into()))
        }
    }
}

/// Whether the caller is a person with one of these roles.
pub fn has_role(ctx: &Context<'_>, roles: &[Role]) -> bool {
    caller(ctx).principal.user().is_some_and(|u| u.has_any(roles))
}

/// Parses a GraphQL `ID` that must be one of ours.
///
/// # Errors
/// `BAD_USER_INPUT` on `path` when it is not a positive integer id.
pub fn parse_id(path: &str, id: &async_graphql::ID) -> AppResult<i64> {
    id.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| AppError::bad(path, "is not a valid id"))
}
