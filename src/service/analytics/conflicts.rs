//! Communication conflicts per recipient (issue 18, item 10; decree 1.2б, 1.2в): how many
//! appeals received in the period carry each flag, under the rating's access rule.

use std::collections::BTreeMap;

use super::access::Scoped;
use super::query::Names;
use super::{Filter, Period};
use crate::domain::access::Principal;
use crate::domain::conflicts::ConflictFlag;
use crate::entity::recipient;
use crate::error::AppResult;
use crate::service::conflicts::{Which, flagged};
use crate::state::AppState;

/// One recipient's conflict counts.
#[derive(Debug, Clone)]
pub struct ConflictRow {
    pub recipient: recipient::Model,
    /// Appeals with at least one flag.
    pub flagged: i64,
    pub repeated_reopening: i64,
    pub repeat_author: i64,
    pub escalation: i64,
}

/// Per recipient, the appeals received in `period` with each conflict flag; recipients with
/// no flagged appeal are left out; most flagged first, then by name. An executor gets its own
/// recipient only; a user limited to a territory, its subtree's appeals.
///
/// # Errors
/// `UNAUTHENTICATED` or `FORBIDDEN` when `who` may not read analytics (as the rating).
pub async fn conflicts(state: &AppState, who: &Principal, period: Period) -> AppResult<Vec<ConflictRow>> {
    let scoped = Scoped::of(state, who, &Filter::default()).await?;
    conflicts_in(state, &scoped, period).await
}

pub(super) async fn conflicts_in(state: &AppState, scoped: &Scoped, period: Period) -> AppResult<Vec<ConflictRow>> {
    let conn = &state.db;
    let (start, end) = period.instants(state.settings.timezone);
    let which =
        Which::Received { from: start, to: end, recipient: scoped.recipient(), territories: scoped.territories() };
    let rows = flagged(conn, which).await?;
    let mut counts: BTreeMap<i64, [i64; 4]> = BTreeMap::new();
    for r in rows.into_iter().filter(|r| !r.flags.is_empty()) {
        let Some(rid) = r.recipient_id else { continue };
        let c = counts.entry(rid).or_default();
        c[0] += 1;
        for f in &r.flags {
            match f {
                ConflictFlag::RepeatedReopening => c[1] += 1,
                ConflictFlag::RepeatAuthor => c[2] += 1,
                ConflictFlag::Escalation => c[3] += 1,
            }
        }
    }
    let names = Names::load(state).await?;
    let mut out: Vec<ConflictRow> = counts
        .into_iter()
        .filter_map(|(rid, c)| {
            names.refs().recipient(rid).map(|r| ConflictRow {
                recipient: r.clone(),
                flagged: c[0],
                repeated_reopening: c[1],
                repeat_author: c[2],
                escalation: c[3],
            })
        })
        .collect();
    out.sort_by(|a, b| b.flagged.cmp(&a.flagged).then_with(|| a.recipient.name.cmp(&b.recipient.name)));
    Ok(out)
}
