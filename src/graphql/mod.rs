//! The GraphQL schema: root objects merged per area, the access policy, limits and error codes.

pub mod analytics;
pub mod appeal_changes;
pub mod appeals;
pub mod attachments;
pub mod auth;
pub mod calendar;
pub mod connection;
pub mod cur_requests;
pub mod effect;
pub mod intake;
pub mod limits;
pub mod loaders;
pub mod mail;
pub mod meetings;
pub mod memos;
pub mod meta;
pub mod notifications;
pub mod policy;
pub mod polls;
pub mod practices;
pub mod privacy;
pub mod reference;
pub mod roadmaps;
pub mod scalars;
pub mod subscriptions;
pub mod system_reports;
pub mod webhooks;

use std::borrow::Cow;

use async_graphql::parser::types::Field;
use async_graphql::resolver_utils::ContainerType;
use async_graphql::{
    Context, ContextSelectionSet, MergedObject, ObjectType, OutputType, Positioned, Schema, SchemaBuilder, ServerError,
    ServerResult, Value,
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
    practices::PracticeQuery,
    cur_requests::CurRequestQuery,
    system_reports::SystemReportQuery,
    meetings::MeetingQuery,
    analytics::AnalyticsQuery,
    meta::MetaQuery,
    memos::MemoQuery,
    webhooks::WebhookQuery,
    notifications::NotificationQuery,
    mail::MailQuery,
    privacy::PrivacyQuery,
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
    practices::PracticeMutation,
    cur_requests::CurRequestMutation,
    system_reports::SystemReportMutation,
    meetings::MeetingMutation,
    meta::MetaMutation,
    webhooks::WebhookMutation,
    notifications::NotificationMutation,
    mail::MailMutation,
    privacy::PrivacyMutation,
    attachments::AttachmentMutation,
);

/// The root subscription (served over WebSocket at `/graphql/ws`): one part per area.
#[derive(async_graphql::MergedSubscription, Default)]
pub struct Subscription(notifications::NotificationSubscription, appeal_changes::AppealChangeSubscription);

/// The executable schema type.
pub type AppSchema = Schema<Guarded<Query>, Guarded<Mutation>, Subscription>;

/// The schema without data or limits: shared by the server and the SDL export.
pub fn schema_builder() -> SchemaBuilder<Guarded<Query>, Guarded<Mutation>, Subscription> {
    Schema::build(Guarded(Query::default()), Guarded(Mutation::default()), Subscription::default())
        .override_output_type_description::<chrono::DateTime<chrono::Utc>>(scalars::DATE_TIME)
        .override_input_type_description::<async_graphql::Upload>(scalars::UPLOAD)
}

/// The schema as SDL, as committed in `schema.graphql`: with `@specifiedBy` on the scalars
/// that have a specification.
pub fn sdl() -> String {
    schema_builder().finish().sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}

/// The schema the server runs, with state and limits from the settings.
pub fn build_schema(state: AppState) -> AppSchema {
    let s = &state.settings;
    let mut b = schema_builder()
        // Ordinary operations are held to `max_depth` by `limits::check_document`; the
        // library's limit is what introspection may reach.
        .limit_depth(s.max_depth.max(limits::INTROSPECTION_DEPTH))
        .limit_complexity(s.max_complexity)
        .limit_recursive_depth(32)
        .limit_directives(8);
    if !s.introspection {
        // "Did you mean …" would reveal the names introspection hides.
        b = b.disable_introspection().disable_suggestions();
    }
    b.data(state).data(appeal_changes::AppealFeed::default()).finish()
}

/// A root object (query or mutation) that enforces the access policy on each of its fields
/// before the field's resolver runs: a root field without a rule is refused.
///
/// The check sits in the root object rather than in a schema extension: with any extension
/// installed, the library routes every field of the response (750 for a page of 50 appeals
/// with names) through the extension chain, which cost the server a tenth of its time.
/// Introspection (`__schema`, `__type`, `__typename`) never reaches the root object.
pub struct Guarded<T>(pub T);

/// What one HTTP request has spent of the per-request caps of [`policy::request_cap`].
#[derive(Default)]
pub struct RequestBudget(std::sync::Mutex<std::collections::HashMap<&'static str, u32>>);

impl RequestBudget {
    /// Takes one call of `rule` from the budget; `false` when its cap is spent.
    fn take(&self, rule: &str) -> Result<(), (&'static str, u32)> {
        let Some((key, cap)) = policy::request_cap(rule) else { return Ok(()) };
        let Ok(mut spent) = self.0.lock() else { return Err((key, cap)) };
        let n = spent.entry(key).or_default();
        if *n >= cap {
            return Err((key, cap));
        }
        *n += 1;
        Ok(())
    }
}

fn refusal(root: &str, field: &str, caller: Option<&Caller>, budget: Option<&RequestBudget>) -> Option<ServerError> {
    let rule = format!("{root}.{field}");
    let principal = caller.map_or(&Principal::Anonymous, |c| &c.principal);
    let denial = match policy::rule_for(&rule) {
        None => {
            tracing::error!(field = %rule, "root field without an access rule refused");
            AppError::Forbidden("this operation has no access rule".into())
        }
        Some(access) => match access.check(principal) {
            Ok(()) => match budget.map_or(Ok(()), |b| b.take(&rule)) {
                Ok(()) => return None,
                Err((_, cap)) => AppError::RateLimited(format!(
                    "{field} may be called at most {cap} time(s) in one request (aliases and batches count together)"
                )),
            },
            Err(Denied::Unauthenticated) => AppError::Unauthenticated(
                caller
                    .and_then(|c| c.credential_error.clone())
                    .unwrap_or_else(|| "sign in to use this operation".into()),
            ),
            Err(Denied::Forbidden) => AppError::Forbidden("you are not allowed to use this operation".into()),
        },
    };
    let mut err = async_graphql::Error::from(denial).into_server_error(async_graphql::Pos::default());
    err.locations.clear();
    err.path = vec![async_graphql::PathSegment::Field(field.to_string())];
    Some(err)
}

impl<T: ContainerType> ContainerType for Guarded<T> {
    async fn resolve_field(&self, ctx: &Context<'_>) -> ServerResult<Option<Value>> {
        let field = ctx.item.node.name.node.as_str();
        if let Some(err) = refusal(
            &T::type_name(),
            field,
            ctx.data_opt::<Caller>(),
            ctx.data_opt::<std::sync::Arc<RequestBudget>>().map(AsRef::as_ref),
        ) {
            return Err(err);
        }
        self.0.resolve_field(ctx).await
    }

    async fn find_entity(&self, ctx: &Context<'_>, params: &Value) -> ServerResult<Option<Value>> {
        self.0.find_entity(ctx, params).await
    }
}

impl<T: ContainerType> OutputType for Guarded<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, _field: &Positioned<Field>) -> ServerResult<Value> {
        async_graphql::resolver_utils::resolve_container(ctx, self).await
    }
}

impl<T: ObjectType> ObjectType for Guarded<T> {}

/// The application state from a resolver context.
pub fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

/// The caller from a resolver context (anonymous when absent).
pub fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    static ANON: std::sync::OnceLock<Caller> = std::sync::OnceLock::new();
    ctx.data_opt::<Caller>().unwrap_or_else(|| ANON.get_or_init(Caller::default))
}

/// Whether the caller is a person of the staff, who may see the names of people and their
/// free text; an API token is not (it reads figures, not personal data).
pub fn sees_people(ctx: &Context<'_>) -> bool {
    matches!(caller(ctx).principal, Principal::User(_))
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

/// Parses an optional list of ids (none given: empty), each at `path.<index>`.
///
/// # Errors
/// `BAD_USER_INPUT` at the first id that is not valid.
pub fn parse_ids(path: &str, v: Option<Vec<async_graphql::ID>>) -> AppResult<Vec<i64>> {
    v.unwrap_or_default().iter().enumerate().map(|(i, id)| parse_id(&format!("{path}.{i}"), id)).collect()
}

/// Parses an optional id.
///
/// # Errors
/// `BAD_USER_INPUT` on `path` when it is given and not valid.
pub fn parse_opt_id(path: &str, id: Option<&async_graphql::ID>) -> AppResult<Option<i64>> {
    id.map(|i| parse_id(path, i)).transpose()
}
