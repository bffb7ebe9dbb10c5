//! Sign-in, sessions, users, API tokens and the audit log.

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::connection::{connection, forward_window};
use super::reference::{Recipient, Territory};
use super::scalars::Date;
use super::{caller, me, parse_id, state};
use crate::domain::access::{ApiScope, Channel, Role, parse_list};
use crate::entity::{api_token, audit_log, user};
use crate::service::{audit_log as audit_log_service, auth, tokens, users};

/// A staff account.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct User {
    pub id: ID,
    pub email: String,
    pub full_name: String,
    pub roles: Vec<Role>,
    pub channels: Vec<Channel>,
    pub active: bool,
    pub version: i32,
    #[graphql(skip)]
    pub recipient_id: Option<i64>,
    #[graphql(skip)]
    pub territory_id: Option<i64>,
}

impl From<user::Model> for User {
    fn from(u: user::Model) -> Self {
        Self {
            id: ID(u.id.to_string()),
            email: u.email,
            full_name: u.full_name,
            roles: parse_list(&u.roles),
            channels: parse_list(&u.channels),
            active: u.active,
            version: u.version,
            recipient_id: u.recipient_id,
            territory_id: u.territory_id,
        }
    }
}

#[ComplexObject]
impl User {
    /// The recipient an EXECUTOR answers for.
    async fn recipient(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Recipient>> {
        Ok(super::reference::load_recipient(ctx, self.recipient_id).await?)
    }

    /// The territory the user is limited to, if any.
    async fn territory(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Territory>> {
        Ok(super::reference::load_territory(ctx, self.territory_id).await?)
    }
}

/// An integration token (its secret is never shown again).
#[derive(SimpleObject)]
pub struct ApiToken {
    pub id: ID,
    pub name: String,
    pub scopes: Vec<ApiScope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

impl From<api_token::Model> for ApiToken {
    fn from(t: api_token::Model) -> Self {
        Self {
            id: ID(t.id.to_string()),
            name: t.name,
            scopes: parse_list(&t.scopes),
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked: t.revoked_at.is_some(),
        }
    }
}

/// A newly created token and its secret, shown only here.
#[derive(SimpleObject)]
pub struct CreatedApiToken {
    pub token: ApiToken,
    pub secret: String,
}

/// Tokens of a successful sign-in or refresh.
#[derive(SimpleObject)]
pub struct AuthPayload {
    pub access_token: String,
    pub refresh_token: String,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

impl From<auth::Session> for AuthPayload {
    fn from(s: auth::Session) -> Self {
        Self {
            access_token: s.access_token,
            refresh_token: s.refresh_token,
            expires_at: s.expires_at,
            user: s.user.into(),
        }
    }
}

/// One entry of the audit trail.
#[derive(SimpleObject)]
pub struct AuditEntry {
    pub id: ID,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    /// Details of the action as JSON text, e.g. `{"before":["HEAD"],"after":["HEAD","CURATOR"]}`
    /// for `changeRoles`; never secrets.
    pub data: Option<String>,
}

impl From<audit_log::Model> for AuditEntry {
    fn from(a: audit_log::Model) -> Self {
        Self {
            id: ID(a.id.to_string()),
            at: a.at,
            actor: a.actor,
            action: a.action,
            target: a.target,
            ip: a.ip,
            data: a.data,
        }
    }
}

connection!(UserConnection, UserEdge, User);
connection!(AuditEntryConnection, AuditEntryEdge, AuditEntry);

/// Which audit entries to show; every given part narrows the list.
#[derive(InputObject, Default)]
pub struct AuditLogFilter {
    /// Who acted: `user:<id>` or `token:<id>`.
    pub actor: Option<String>,
    /// Any of these actions (at most 50), e.g. `["changeRoles", "read.personalData"]`.
    pub action: Option<Vec<String>>,
    /// Exactly this target, e.g. `appeal:123`.
    pub target: Option<String>,
    /// Targets that start with this, e.g. `appeal:` (not with `target`).
    pub target_prefix: Option<String>,
    /// First local date (inclusive), in the municipality's time zone.
    pub from: Option<Date>,
    /// Last local date (inclusive).
    pub to: Option<Date>,
}

impl AuditLogFilter {
    fn into_filter(self) -> crate::error::AppResult<audit_log_service::AuditFilter> {
        Ok(audit_log_service::AuditFilter {
            actor: self.actor.as_deref().map(|a| audit_log_service::ActorRef::parse("filter.actor", a)).transpose()?,
            action: self.action.unwrap_or_default(),
            target: self.target,
            target_prefix: self.target_prefix,
            from: self.from.map(|d| d.0),
            to: self.to.map(|d| d.0),
        })
    }
}

#[derive(InputObject)]
pub struct CreateUserInput {
    pub email: String,
    pub full_name: String,
    /// At least 12 characters.
    pub password: String,
    pub roles: Vec<Role>,
    /// Channels a COORDINATOR coordinates (required for that role).
    pub channels: Option<Vec<Channel>>,
    /// Required for an EXECUTOR.
    pub recipient_id: Option<ID>,
    /// Limits what the user sees to this territory and its subtree.
    pub territory_id: Option<ID>,
}

#[derive(InputObject)]
pub struct UpdateUserInput {
    pub id: ID,
    pub version: i32,
    pub full_name: Option<String>,
    pub roles: Option<Vec<Role>>,
    pub channels: Option<Vec<Channel>>,
    pub recipient_id: Option<ID>,
    pub territory_id: Option<ID>,
    /// `false` deactivates the user and ends all of its sessions at once.
    pub active: Option<bool>,
}

#[derive(InputObject)]
pub struct CreateApiTokenInput {
    pub name: String,
    pub scopes: Vec<ApiScope>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Queries about people, tokens and the audit trail.
#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The signed-in person.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let me = me(ctx)?;
        Ok(users::get(&state(ctx).db, me.id).await?.map(User::from))
    }

    /// All users (ADMIN).
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<UserConnection> {
        let (offset, limit) = forward_window(first, after.as_deref())?;
        let (rows, total) = users::list(&state(ctx).db, offset, limit).await?;
        Ok(UserConnection::from_offset(rows.into_iter().map(User::from).collect(), offset, total))
    }

    /// All integration tokens (ADMIN).
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn api_tokens(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiToken>> {
        Ok(tokens::list(state(ctx)).await?.into_iter().map(ApiToken::from).collect())
    }

    /// The audit trail, newest first, narrowed by `filter` (ADMIN, CURATOR); the same list as a
    /// workbook is `GET /exports/audit.xlsx`.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditLogFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<AuditEntryConnection> {
        let (offset, limit) = forward_window(first, after.as_deref())?;
        let filter = filter.unwrap_or_default().into_filter()?;
        let app = state(ctx);
        let (rows, total) = audit_log_service::list(&app.db, &filter, app.settings.timezone, offset, limit).await?;
        Ok(AuditEntryConnection::from_offset(rows.into_iter().map(AuditEntry::from).collect(), offset, total))
    }
}

/// Mutations about people, sessions and tokens.
#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Public.
    #[graphql(complexity = "100 + child_complexity")]
    async fn login(&self, ctx: &Context<'_>, email: String, password: String) -> async_graphql::Result<AuthPayload> {
        Ok(auth::login(state(ctx), caller(ctx), &email, &password).await?.into())
    }

    /// Public; rotates the refresh token: reusing an old one revokes the whole family.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> async_graphql::Result<AuthPayload> {
        Ok(auth::refresh(state(ctx), caller(ctx), &refresh_token).await?.into())
    }

    /// Ends the session of this refresh token (the caller's own).
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> async_graphql::Result<bool> {
        Ok(auth::logout(state(ctx), caller(ctx), &refresh_token).await?)
    }

    /// Changes the caller's password and ends all of its sessions.
    #[graphql(complexity = "100 + child_complexity")]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        old_password: String,
        new_password: String,
    ) -> async_graphql::Result<bool> {
        Ok(auth::change_password(state(ctx), caller(ctx), &old_password, &new_password).await?)
    }

    /// ADMIN.
    #[graphql(complexity = "100 + child_complexity")]
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> async_graphql::Result<User> {
        let new = users::NewUser {
            email: input.email,
            full_name: input.full_name,
            password: input.password,
            roles: input.roles,
            channels: input.channels.unwrap_or_default(),
            recipient_id: super::parse_opt_id("input.recipientId", input.recipient_id.as_ref())?,
            territory_id: super::parse_opt_id("input.territoryId", input.territory_id.as_ref())?,
        };
        Ok(users::create(state(ctx), caller(ctx), new).await?.into())
    }

    /// ADMIN.
    async fn update_user(&self, ctx: &Context<'_>, input: UpdateUserInput) -> async_graphql::Result<User> {
        let ch = users::UserChanges {
            id: parse_id("input.id", &input.id)?,
            version: input.version,
            full_name: input.full_name,
            roles: input.roles,
            channels: input.channels,
            recipient_id: super::parse_opt_id("input.recipientId", input.recipient_id.as_ref())?,
            territory_id: super::parse_opt_id("input.territoryId", input.territory_id.as_ref())?,
            active: input.active,
        };
        Ok(users::update(state(ctx), caller(ctx), ch).await?.into())
    }

    /// ADMIN. The secret is returned once, here, and stored only as a hash.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        input: CreateApiTokenInput,
    ) -> async_graphql::Result<CreatedApiToken> {
        let (t, secret) = tokens::create(state(ctx), caller(ctx), &input.name, &input.scopes, input.expires_at).await?;
        Ok(CreatedApiToken { token: t.into(), secret })
    }

    /// ADMIN.
    async fn revoke_api_token(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ApiToken> {
        let id = parse_id("id", &id)?;
        Ok(tokens::revoke(state(ctx), caller(ctx), id).await?.into())
    }
}
