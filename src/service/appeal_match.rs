//! The appeal filter evaluated in memory: what `appealChanged`'s fan-out weighs a change
//! against, for many subscribers, after reading the appeal once. The same rule as the SQL of
//! [`filtered`](super::appeal_query::filtered) (a test holds the two to the same answers on a
//! grid of filters and rows, on SQLite and PostgreSQL); the category and territory trees come
//! from the reference data in memory, as they do for the SQL filter.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, EntityTrait};

use super::appeal_query::{AppealFilter, local_midnight};
use crate::domain::appeal::Appeal;
use crate::domain::deadlines::SlaState;
use crate::entity::appeal;
use crate::error::AppResult;
use crate::state::ReferenceData;

/// An announced appeal as it is now, typed: what a process reads once per change to weigh it
/// against all its subscribers in memory (one statement). `None` when it is gone.
///
/// # Errors
/// On a database failure, or when the row holds a name this code does not know.
pub async fn changed(conn: &impl ConnectionTrait, id: i64) -> AppResult<Option<Appeal>> {
    let Some(row) = appeal::Entity::find_by_id(id).one(conn).await? else { return Ok(None) };
    Ok(Some(Appeal::try_from(row)?))
}

/// Whether an appeal is in an SLA state at `now`: the rule of
/// [`sla_condition`](super::appeal_query::sla_condition), on a row in memory.
fn sla_holds(state: SlaState, a: &Appeal, now: DateTime<Utc>) -> bool {
    match (state, a.resolved_at) {
        (SlaState::Overdue, None) => a.due_at < now,
        (SlaState::DueSoon, None) => a.due_at >= now && a.due_soon_at <= now,
        (SlaState::OnTime, None) => a.due_soon_at > now,
        (SlaState::Met, Some(r)) => r <= a.due_at,
        (SlaState::Missed, Some(r)) => r > a.due_at,
        _ => false,
    }
}

/// The search stems of a filter's text as the list's full-text search takes them: the
/// project's stems, at most eight (stop words only: none, and the filter admits every row).
fn search_stems(s: &str) -> Vec<String> {
    crate::domain::text::normalize_for_search(s).split_whitespace().take(8).map(str::to_owned).collect()
}

/// Whether `search_text` (a row's stems joined by spaces) holds every one of `stems` as a
/// whole token: the rule of the full-text indexes (FTS5 on SQLite, a `simple` tsvector on
/// PostgreSQL), so «ям» does not match a row whose only stem is «ямк».
fn holds_all(search_text: &str, stems: &[String]) -> bool {
    stems.iter().all(|stem| search_text.split_whitespace().any(|token| token == stem))
}

/// Whether the territory `id` is one of `roots` or lies under one of them (walking up the
/// tree in memory; a cycle ends the walk).
fn under_any(refs: &ReferenceData, id: i64, roots: &[i64]) -> bool {
    let mut seen = Vec::new();
    let mut next = Some(id);
    while let Some(t) = next {
        if roots.contains(&t) {
            return true;
        }
        if seen.contains(&t) {
            return false;
        }
        seen.push(t);
        next = refs.territory(t).and_then(|row| row.parent_id);
    }
    false
}

impl AppealFilter {
    /// Whether the appeal matches the filter: the rule of
    /// [`filtered`](super::appeal_query::filtered) evaluated on a typed appeal in memory, with
    /// the category and territory trees of `refs` (a category includes its subcategories, a
    /// territory its whole subtree).
    pub fn matches(&self, a: &Appeal, refs: &ReferenceData, tz: chrono_tz::Tz, now: DateTime<Utc>) -> bool {
        if !self.status.is_empty() && !self.status.contains(&a.status) {
            return false;
        }
        if !self.kind.is_empty() && !self.kind.contains(&a.kind) {
            return false;
        }
        if !self.channel.is_empty() && !self.channel.contains(&a.channel) {
            return false;
        }
        if !self.category_id.is_empty() {
            let Some(c) = a.category_id else { return false };
            let parent = refs.category(c.0).and_then(|row| row.parent_id);
            let listed = |id: i64| self.category_id.iter().any(|f| f.0 == id);
            if !(listed(c.0) || parent.is_some_and(listed)) {
                return false;
            }
        }
        if !self.territory_id.is_empty() {
            let roots: Vec<i64> = self.territory_id.iter().map(|t| t.0).collect();
            if !a.territory_id.is_some_and(|t| under_any(refs, t.0, &roots)) {
                return false;
            }
        }
        if !self.recipient_id.is_empty() && !a.recipient_id.is_some_and(|r| self.recipient_id.contains(&r)) {
            return false;
        }
        if !self.sla_state.is_empty() && !self.sla_state.iter().any(|s| sla_holds(*s, a, now)) {
            return false;
        }
        if let Some(d) = self.received_from
            && a.received_at < local_midnight(tz, d)
        {
            return false;
        }
        if let Some(d) = self.received_to
            && a.received_at >= local_midnight(tz, d.succ_opt().unwrap_or(d))
        {
            return false;
        }
        if let Some(t) = self.due_before
            && a.due_at >= t
        {
            return false;
        }
        if let Some(s) = &self.search {
            return holds_all(&a.search_text, &search_stems(s));
        }
        true
    }
}
