//! Keeps this process's reference data (`state::ReferenceCache`) current: every
//! `REFERENCE_CHANGED` announcement (this process's, or on PostgreSQL another's, through
//! `LISTEN/NOTIFY`; on SQLite also a CLI import's, dispatched here) marks it stale and it is
//! read again at once, so requests find it fresh. Announcements missed (a lagging receiver)
//! count as a change.

use tokio::sync::broadcast::error::RecvError;

use crate::domain::events::Topic;
use crate::state::AppState;

/// Listens until the process stops.
pub async fn run(state: AppState) {
    let mut heard = state.announcements.subscribe();
    loop {
        match heard.recv().await {
            Ok(row) if row.topic == Topic::ReferenceChanged.as_str() => {}
            Ok(_) => continue,
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        state.reference.invalidate();
        if let Err(e) = crate::service::reference::snapshot(&state).await {
            tracing::warn!(error = %e.message(), "could not read the reference data again");
        }
    }
}
