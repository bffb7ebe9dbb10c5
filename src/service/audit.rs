//! The audit trail: one entry per mutation, written in the mutation's transaction.

use sea_orm::ConnectionTrait;

use super::Caller;
use crate::domain::access::Principal;
use crate::error::AppResult;
use crate::store::audit::Actor;

/// The caller as the audit trail records it.
pub fn actor(caller: &Caller) -> Actor {
    let (user_id, token_id) = match &caller.principal {
        Principal::User(u) => (Some(u.id), None),
        Principal::Token(t) => (None, Some(t.id)),
        Principal::Anonymous | Principal::System => (None, None),
    };
    Actor {
        label: caller.principal.label(),
        user_id,
        token_id,
        ip: caller.ip.clone(),
        request_id: caller.request_id.clone(),
    }
}

/// Writes one audit entry. `data` must never contain secrets or passwords.
pub async fn record(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    at: chrono::DateTime<chrono::Utc>,
    action: &str,
    target: Option<String>,
    data: Option<serde_json::Value>,
) -> AppResult<()> {
    crate::store::audit::write(conn, &actor(caller), at, action, target, data).await
}
