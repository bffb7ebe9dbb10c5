//! Integration tokens: created with scopes, shown once, stored as a hash, revocable.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, QueryOrder, Set};

use super::{Caller, audit, auth};
use crate::domain::access::{ApiScope, Principal, format_list};
use crate::entity::api_token;
use crate::error::{AppError, AppResult, FieldError};
use crate::state::AppState;

/// Creates a token and returns it with its secret (`mcu_…`), which is not stored anywhere.
///
/// # Errors
/// `BAD_USER_INPUT` for an empty name, no scopes, or an expiry in the past.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    name: &str,
    scopes: &[ApiScope],
    expires_at: Option<DateTime<Utc>>,
) -> AppResult<(api_token::Model, String)> {
    let now = state.clock.now();
    let mut errors = Vec::new();
    if name.trim().is_empty() {
        errors.push(FieldError { path: "input.name".into(), message: "must not be empty".into() });
    }
    if scopes.is_empty() {
        errors.push(FieldError { path: "input.scopes".into(), message: "at least one scope is required".into() });
    }
    if expires_at.is_some_and(|e| e <= now) {
        errors.push(FieldError { path: "input.expiresAt".into(), message: "must be in the future".into() });
    }
    if !errors.is_empty() {
        return Err(AppError::BadInput(errors));
    }
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    let secret = format!("{}{}", auth::API_TOKEN_PREFIX, auth::random_hex(24));
    let created_by = match &caller.principal {
        Principal::User(u) => Some(u.id),
        _ => None,
    };
    let txn = crate::db::begin_write(&state.writer).await?;
    let t = api_token::ActiveModel {
        name: Set(name.trim().to_string()),
        token_hash: Set(auth::sha256_hex(&secret)),
        scopes: Set(format_list(&scopes)),
        created_by: Set(created_by),
        created_at: Set(now),
        expires_at: Set(expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        caller,
        now,
        "createApiToken",
        Some(format!("token:{}", t.id)),
        Some(serde_json::json!({ "name": t.name, "scopes": t.scopes })),
    )
    .await?;
    txn.commit().await?;
    Ok((t, secret))
}

/// Revokes a token; it is refused from the next request on.
pub async fn revoke(state: &AppState, caller: &Caller, id: i64) -> AppResult<api_token::Model> {
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let t = api_token::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| AppError::NotFound("API token".into()))?;
    let t = if t.revoked_at.is_none() {
        let mut am = t.into_active_model();
        am.revoked_at = Set(Some(now));
        am.update(&txn).await?
    } else {
        t
    };
    audit::record(&txn, caller, now, "revokeApiToken", Some(format!("token:{}", t.id)), None).await?;
    txn.commit().await?;
    Ok(t)
}

/// All tokens, newest first.
pub async fn list(state: &AppState) -> AppResult<Vec<api_token::Model>> {
    Ok(api_token::Entity::find().order_by_desc(api_token::Column::Id).all(&state.db).await?)
}
