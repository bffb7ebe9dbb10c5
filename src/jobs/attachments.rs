//! The sweep of stored files without an attachment row (a process that died between storing
//! a file and writing its row leaves one). Every process may sweep: deleting is idempotent,
//! and only files older than the grace period (`MCU_ATTACHMENT_SWEEP_GRACE_SECS`) are touched.

use crate::state::AppState;

/// Sweeps every `MCU_ATTACHMENT_SWEEP_SECS` (the first time one interval after the start),
/// until the process stops.
pub async fn run(state: AppState) {
    loop {
        tokio::time::sleep(state.settings.attachment_sweep_interval).await;
        // The storage stamps files with the real time, not the server's (test) clock.
        match crate::service::attachments::sweep(&state, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "swept stored files that had no attachment row"),
            Err(e) => tracing::warn!(error = %e.message(), "the sweep of stored files failed; it will try again"),
        }
    }
}

/// Fetches links given with ingested appeals every `MCU_ATTACHMENT_FETCH_MS`, until the
/// process stops (every process may: a link is claimed before it is fetched).
pub async fn run_fetches(state: AppState) {
    loop {
        tokio::time::sleep(state.settings.attachment_fetch_interval).await;
        match crate::service::attachments::fetch_pending(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "fetched files of ingested appeals"),
            Err(e) => {
                tracing::warn!(error = %e.message(), "fetching files of ingested appeals failed; it will try again");
            }
        }
    }
}
