//! Keeps SQLite's planner statistics current while the server runs
//! ([`crate::db::refresh_planner_statistics`], every
//! [`crate::db::PLANNER_STATISTICS_EVERY`]; at start the migrations' step has run it). Not
//! started on PostgreSQL, whose autovacuum analyzes.

use crate::state::AppState;

/// Refreshes until the process stops.
pub async fn run(state: AppState) {
    let mut tick = tokio::time::interval(crate::db::PLANNER_STATISTICS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once, and the start has just refreshed them.
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = crate::db::refresh_planner_statistics(&state.writer).await {
            tracing::warn!(error = %e, "could not refresh the planner's statistics");
        }
    }
}
