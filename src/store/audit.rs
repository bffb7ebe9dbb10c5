//! Rows of the audit trail: one entry per mutation, written in the mutation's transaction.

use sea_orm::{ActiveModelTrait, ConnectionTrait, NotSet, Set};

use crate::entity::audit_log;
use crate::error::AppResult;

/// Who did something, as the audit trail records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// `user:7 <a@b>`, `token:3 (name)`, `anonymous` or `system`.
    pub label: String,
    pub user_id: Option<i64>,
    pub token_id: Option<i64>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    /// The server acting on its own (the command line, demo data).
    pub fn system() -> Self {
        Self { label: "system".into(), ..Self::default() }
    }
}

/// Writes one audit entry. `data` must never contain secrets or passwords.
///
/// # Errors
/// When the database fails.
pub async fn write(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    at: chrono::DateTime<chrono::Utc>,
    action: &str,
    target: Option<String>,
    data: Option<serde_json::Value>,
) -> AppResult<()> {
    audit_log::ActiveModel {
        id: NotSet,
        at: Set(at),
        actor: Set(actor.label.clone()),
        actor_user_id: Set(actor.user_id),
        actor_token_id: Set(actor.token_id),
        action: Set(action.to_string()),
        target: Set(target),
        ip: Set(actor.ip.clone()),
        request_id: Set(actor.request_id.clone()),
        data: Set(data.map(|d| d.to_string())),
    }
    .insert(conn)
    .await?;
    Ok(())
}
