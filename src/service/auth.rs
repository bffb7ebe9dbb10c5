//! Passwords (Argon2id), access tokens (HS256 JWT), refresh tokens (opaque, rotated, in
//! families), per-account login lockout, and resolving a bearer credential to a principal.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, Header};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QuerySelect, QueryTrait, Set,
};
use serde::{Deserialize, Serialize};

use super::{Caller, audit};
use crate::crypto::{AUDIENCE, ISSUER};
pub use crate::crypto::{JwtKeys, hex, random_hex, sha256_hex};
use crate::domain::access::{ApiScope, Principal, TokenPrincipal, UserPrincipal, parse_list};
use crate::domain::events::Topic;
use crate::domain::password;
use crate::entity::{api_token, login_failure, refresh_token, user};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::outbox::Subject;

/// Prefix of every integration token secret.
pub const API_TOKEN_PREFIX: &str = "mcu_";
const GENERIC_LOGIN_ERROR: &str = "invalid email or password";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: i64,
    iat: i64,
    /// `access` for access tokens; anything else is refused.
    typ: String,
    /// The user's session epoch when the token was issued.
    ver: i32,
    /// The refresh-token family (the sign-in) the token belongs to: ending that session
    /// (`logout`, a reused refresh token) ends its access tokens too. Absent in tokens issued
    /// before the claim existed, which the session epoch alone governs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fam: Option<String>,
}

/// A successful sign-in or refresh.
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
    pub user: user::Model,
}

/// Checks the password policy ([`password::refusal`]) for the account of `owner`.
///
/// # Errors
/// `BAD_USER_INPUT` on `path` saying why the password is refused.
pub fn check_password_policy(path: &str, candidate: &str, owner: &password::Owner<'_>) -> AppResult<()> {
    match password::refusal(candidate, owner) {
        Some(why) => Err(AppError::bad(path, why)),
        None => Ok(()),
    }
}

/// Hashes a password with Argon2id (m=19 MiB, t=2, p=1) on a blocking thread.
pub async fn hash_password(state: &AppState, password: &str) -> AppResult<String> {
    let _permit = state.hash_permits.acquire().await.map_err(AppError::internal)?;
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(AppError::internal)
    })
    .await
    .map_err(AppError::internal)?
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default().hash_password(random_hex(16).as_bytes()).map(|h| h.to_string()).unwrap_or_default()
    })
}

/// Verifies a password; with no stored hash it verifies against a dummy one so that an
/// unknown account takes as long as a wrong password.
pub async fn verify_password(state: &AppState, password: &str, stored: Option<String>) -> AppResult<bool> {
    let _permit = state.hash_permits.acquire().await.map_err(AppError::internal)?;
    let password = password.to_owned();
    let known = stored.is_some();
    tokio::task::spawn_blocking(move || {
        let hash = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let ok = Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok();
        ok && known
    })
    .await
    .map_err(AppError::internal)
}

/// Warms up the dummy hash so the first unknown-account login is not faster than the rest.
pub fn prepare() {
    let _ = dummy_hash();
}

fn access_token(
    state: &AppState,
    u: &user::Model,
    family_id: &str,
    now: DateTime<Utc>,
) -> AppResult<(String, DateTime<Utc>)> {
    let ttl = Duration::from_std(state.settings.access_ttl).map_err(AppError::internal)?;
    let expires_at = now + ttl;
    let claims = Claims {
        sub: u.id.to_string(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        exp: expires_at.timestamp(),
        iat: now.timestamp(),
        typ: "access".into(),
        ver: u.session_epoch,
        fam: Some(family_id.to_owned()),
    };
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &state.jwt.encoding)
        .map_err(AppError::internal)?;
    Ok((token, expires_at))
}

async fn issue_session(
    state: &AppState,
    conn: &impl ConnectionTrait,
    u: user::Model,
    family_id: String,
    now: DateTime<Utc>,
) -> AppResult<Session> {
    let (access, expires_at) = access_token(state, &u, &family_id, now)?;
    let refresh = random_hex(32);
    let ttl = Duration::from_std(state.settings.refresh_ttl).map_err(AppError::internal)?;
    refresh_token::ActiveModel {
        user_id: Set(u.id),
        family_id: Set(family_id),
        token_hash: Set(sha256_hex(&refresh)),
        created_at: Set(now),
        expires_at: Set(now + ttl),
        used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(Session { access_token: access, refresh_token: refresh, expires_at, user: u })
}

fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

async fn recent_failures(conn: &impl ConnectionTrait, email: &str, since: DateTime<Utc>) -> AppResult<u64> {
    Ok(login_failure::Entity::find()
        .filter(login_failure::Column::Email.eq(email))
        .filter(login_failure::Column::At.gt(since))
        .count(conn)
        .await?)
}

/// Signs a person in.
///
/// Every attempt is first recorded as a failure, counted against the lockout in the same
/// transaction under the account's lock ([`crate::db::lock_key`]), and only then is the
/// password verified: however many attempts arrive at once, at most
/// `MCU_LOGIN_MAX_FAILURES` passwords are verified for an account within the window. A
/// successful sign-in clears the account's failures, its own reservation with them.
///
/// # Errors
/// `RATE_LIMITED` while the account is locked (even with the right password),
/// `UNAUTHENTICATED` with one generic message for an unknown account, a wrong password or a
/// deactivated account.
pub async fn login(state: &AppState, caller: &Caller, email: &str, password: &str) -> AppResult<Session> {
    let email = normalize_email(email);
    let now = state.clock.now();
    let window = Duration::from_std(state.settings.login_window).map_err(AppError::internal)?;
    let max = u64::from(state.settings.login_max_failures);
    let locked = || AppError::RateLimited("too many failed sign-in attempts; try again later".into());
    // A locked account is refused after a read, without queueing for the writer.
    if recent_failures(&state.db, &email, now - window).await? >= max {
        return Err(locked());
    }
    let txn = crate::db::begin_write(&state.writer).await?;
    crate::db::lock_key(&txn, &format!("login:{email}")).await?;
    if recent_failures(&txn, &email, now - window).await? >= max {
        return Err(locked());
    }
    login_failure::ActiveModel { email: Set(email.clone()), at: Set(now), ..Default::default() }.insert(&txn).await?;
    txn.commit().await?;

    let found = user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(&state.db).await?;
    let ok = verify_password(state, password, found.as_ref().map(|u| u.password_hash.clone())).await?;
    let txn = crate::db::begin_write(&state.writer).await?;
    match found {
        Some(u) if ok && u.active => {
            login_failure::Entity::delete_many()
                .filter(login_failure::Column::Email.eq(email.as_str()))
                .exec(&txn)
                .await?;
            let mut who = caller.clone();
            who.principal = principal_of(&u);
            audit::record(&txn, &who, now, "login", Some(format!("user:{}", u.id)), None).await?;
            let session = issue_session(state, &txn, u, uuid::Uuid::new_v4().to_string(), now).await?;
            txn.commit().await?;
            Ok(session)
        }
        _ => {
            // The failure was recorded before the password was verified.
            audit::record(&txn, caller, now, "login.failed", Some(email), None).await?;
            txn.commit().await?;
            Err(AppError::Unauthenticated(GENERIC_LOGIN_ERROR.into()))
        }
    }
}

async fn revoke_family(conn: &impl ConnectionTrait, family_id: &str, now: DateTime<Utc>) -> AppResult<()> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// Exchanges a refresh token for a new pair. Each refresh token works once: presenting a
/// rotated one again revokes its whole family (it was probably stolen).
///
/// # Errors
/// `UNAUTHENTICATED` for an unknown, expired, revoked or reused token, or a deactivated user.
pub async fn refresh(state: &AppState, caller: &Caller, token: &str) -> AppResult<Session> {
    let refused = || AppError::Unauthenticated("invalid or expired refresh token".into());
    let now = state.clock.now();
    let Some(row) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(sha256_hex(token)))
        .one(&state.db)
        .await?
    else {
        return Err(refused());
    };
    let txn = crate::db::begin_write(&state.writer).await?;
    let claimed = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(row.id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    if claimed != 1 {
        revoke_family(&txn, &row.family_id, now).await?;
        audit::record(&txn, caller, now, "refresh.reuse", Some(format!("user:{}", row.user_id)), None).await?;
        announce_session_end(&txn, row.user_id, "refresh.reuse", now).await?;
        txn.commit().await?;
        sessions_changed(state);
        return Err(refused());
    }
    if row.expires_at <= now {
        return Err(refused());
    }
    let Some(u) = user::Entity::find_by_id(row.user_id).one(&txn).await?.filter(|u| u.active) else {
        return Err(refused());
    };
    let mut who = caller.clone();
    who.principal = principal_of(&u);
    audit::record(&txn, &who, now, "refresh", Some(format!("user:{}", u.id)), None).await?;
    let session = issue_session(state, &txn, u, row.family_id, now).await?;
    txn.commit().await?;
    Ok(session)
}

/// Ends the session the refresh token belongs to, if it is the caller's.
pub async fn logout(state: &AppState, caller: &Caller, token: &str) -> AppResult<bool> {
    let Some(me) = caller.principal.user() else {
        return Ok(false);
    };
    let now = state.clock.now();
    let row = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(sha256_hex(token)))
        .filter(refresh_token::Column::UserId.eq(me.id))
        .one(&state.db)
        .await?;
    let txn = crate::db::begin_write(&state.writer).await?;
    let done = if let Some(row) = row {
        revoke_family(&txn, &row.family_id, now).await?;
        announce_session_end(&txn, me.id, "logout", now).await?;
        true
    } else {
        false
    };
    audit::record(&txn, caller, now, "logout", Some(format!("user:{}", me.id)), None).await?;
    txn.commit().await?;
    if done {
        sessions_changed(state);
    }
    Ok(done)
}

/// Tells every process that a session of user `id` ended (its refresh-token family was
/// revoked): each drops the people it keeps for access tokens ([`crate::state::SessionCache`]),
/// and the person's subscriptions check their session again.
async fn announce_session_end(conn: &impl ConnectionTrait, id: i64, action: &str, now: DateTime<Utc>) -> AppResult<()> {
    let change = crate::store::outbox::Change::new(id, action, None, 0);
    crate::store::outbox::record(conn, Topic::UserChanged, Subject::User(id), &change, now).await?;
    Ok(())
}

/// After a committed change of an account or a session: this process forgets the people of
/// access tokens at once (other processes when the announcement reaches them), and the
/// dispatcher is woken to send the announcement.
pub fn sessions_changed(state: &AppState) {
    state.sessions.invalidate();
    state.announcements.wake_dispatcher();
}

/// Ends every session of a user: refresh tokens revoked, access tokens refused from now on.
pub async fn end_all_sessions(
    conn: &impl ConnectionTrait,
    u: &user::Model,
    now: DateTime<Utc>,
) -> AppResult<user::Model> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::UserId.eq(u.id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    let mut am = u.clone().into_active_model();
    am.session_epoch = Set(u.session_epoch + 1);
    am.updated_at = Set(now);
    Ok(am.update(conn).await?)
}

/// Changes the caller's password and ends all of its sessions.
///
/// # Errors
/// `BAD_USER_INPUT` on `oldPassword` when it is wrong, on `newPassword` when the policy
/// refuses it or it is the current password.
pub async fn change_password(state: &AppState, caller: &Caller, old: &str, new: &str) -> AppResult<bool> {
    let Some(me) = caller.principal.user() else {
        return Err(AppError::Forbidden("only people have passwords".into()));
    };
    let u = user::Entity::find_by_id(me.id).one(&state.db).await?.ok_or_else(|| AppError::NotFound("user".into()))?;
    check_password_policy("newPassword", new, &password::Owner { email: &u.email, full_name: &u.full_name })?;
    if !verify_password(state, old, Some(u.password_hash.clone())).await? {
        return Err(AppError::bad("oldPassword", "is not the current password"));
    }
    // `old` is the current password now.
    if new == old {
        return Err(AppError::bad("newPassword", "must differ from the current password"));
    }
    let hash = hash_password(state, new).await?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let mut am = u.clone().into_active_model();
    am.password_hash = Set(hash);
    am.version = Set(u.version + 1);
    let u = am.update(&txn).await?;
    end_all_sessions(&txn, &u, now).await?;
    audit::record(&txn, caller, now, "changePassword", Some(format!("user:{}", u.id)), None).await?;
    crate::store::outbox::announce_user(&txn, &u, "changePassword", now).await?;
    txn.commit().await?;
    sessions_changed(state);
    Ok(true)
}

/// The principal of a user row.
pub fn principal_of(u: &user::Model) -> Principal {
    Principal::User(UserPrincipal {
        id: u.id,
        email: u.email.clone(),
        roles: parse_list(&u.roles),
        channels: parse_list(&u.channels),
        recipient_id: u.recipient_id,
        territory_id: u.territory_id,
    })
}

/// Resolves `Authorization: Bearer …` to a principal.
///
/// # Errors
/// `UNAUTHENTICATED` with a reason for any credential that is not valid now.
pub async fn authenticate(state: &AppState, bearer: &str) -> AppResult<Principal> {
    let now = state.clock.now();
    if bearer.starts_with(API_TOKEN_PREFIX) {
        let Some(t) = api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(sha256_hex(bearer)))
            .one(&state.db)
            .await?
        else {
            return Err(AppError::Unauthenticated("unknown API token".into()));
        };
        if t.revoked_at.is_some() {
            return Err(AppError::Unauthenticated("the API token has been revoked".into()));
        }
        if t.expires_at.is_some_and(|e| e <= now) {
            return Err(AppError::Unauthenticated("the API token has expired".into()));
        }
        // Recording every use would turn each read into a write; a minute's precision is enough.
        if t.last_used_at.is_none_or(|at| now - at > Duration::seconds(60)) {
            api_token::Entity::update_many()
                .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
                .filter(api_token::Column::Id.eq(t.id))
                .exec(&state.db)
                .await?;
        }
        return Ok(Principal::Token(TokenPrincipal {
            id: t.id,
            name: t.name,
            scopes: parse_list::<ApiScope>(&t.scopes),
        }));
    }
    let data = jsonwebtoken::decode::<Claims>(bearer, &state.jwt.decoding, &state.jwt.validation)
        .map_err(|_| AppError::Unauthenticated("invalid or expired access token".into()))?;
    let claims = data.claims;
    if claims.typ != "access" {
        return Err(AppError::Unauthenticated("not an access token".into()));
    }
    if claims.exp <= now.timestamp() {
        return Err(AppError::Unauthenticated("invalid or expired access token".into()));
    }
    let id: i64 = claims.sub.parse().map_err(|_| AppError::Unauthenticated("invalid access token".into()))?;
    let key = crate::state::SessionKey { user: id, epoch: claims.ver, family: claims.fam.clone() };
    if let Some(principal) = state.sessions.get(&key) {
        return Ok(principal);
    }
    let generation = state.sessions.generation();
    // One read: the user, unless the token's session has been ended (its refresh-token family
    // revoked by `logout` or a reused refresh token), an index probe on
    // `ix_refresh_family_revoked` that finds nothing while the session lives.
    let mut q = user::Entity::find_by_id(id);
    if let Some(family) = &claims.fam {
        let revoked = refresh_token::Entity::find()
            .select_only()
            .column(refresh_token::Column::Id)
            .filter(refresh_token::Column::FamilyId.eq(family.as_str()))
            .filter(refresh_token::Column::RevokedAt.is_not_null())
            .into_query();
        q = q.filter(Expr::not_exists(revoked));
    }
    let Some(u) = q.one(&state.db).await? else {
        return Err(AppError::Unauthenticated("the session has ended; sign in again".into()));
    };
    if !u.active || u.session_epoch != claims.ver {
        return Err(AppError::Unauthenticated("the session has ended; sign in again".into()));
    }
    let principal = principal_of(&u);
    state.sessions.put(key, principal.clone(), generation);
    Ok(principal)
}
