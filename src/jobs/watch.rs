//! The deadline watch: every `MCU_WATCH_INTERVAL_SECS` it finds open appeals whose running
//! deadline entered DUE_SOON, passed (OVERDUE) or stayed passed beyond the grace period
//! (ESCALATED), and announces each transition once per appeal and deadline: an `appeal_alerts`
//! row (unique per appeal, transition and deadline), the outbox row, and for escalations an
//! entry in the appeal's history, all in one transaction. The dispatcher then tells the people
//! the escalation rule names ([`crate::service::notify::fan_out`]).
//!
//! On the same beat it announces the meetings' assignments (поручения) that entered DUE_SOON
//! or OVERDUE ([`crate::service::meetings::watch`]).
//!
//! The appeals are found by a read (no lock held while scanning); what is to be announced is
//! claimed in a writing transaction that leads [`Job::DeadlineWatch`] (an advisory lock on
//! PostgreSQL; another process skips its turn meanwhile), reads those appeals again `FOR
//! UPDATE SKIP LOCKED`, and claims each transition with an insert the unique key lets through
//! only once, so even two leaders in turn cannot announce a transition twice.

use chrono::{DateTime, Utc};

use super::{Job, try_lead};
use crate::domain::deadlines::{AppealKind, Frame};
use crate::domain::escalation::{Alert, EscalationPolicy, Term, Transition, reached};
use crate::entity::appeal;
use crate::error::{AppError, AppResult};
use crate::service::deadlines::Terms;
use crate::state::AppState;
use crate::store::alerts;
use crate::store::outbox::{self, Subject};

/// Appeals read per transaction.
const BATCH: u64 = 200;

/// What one pass announced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub due_soon: usize,
    pub overdue: usize,
    pub escalated: usize,
    /// Whether another process led the watch and this pass stopped early.
    pub skipped: bool,
}

impl Outcome {
    fn add(&mut self, t: Transition, n: usize) {
        match t {
            Transition::DueSoon => self.due_soon += n,
            Transition::Overdue => self.overdue += n,
            Transition::Escalated => self.escalated += n,
        }
    }

    /// Transitions announced.
    pub fn total(&self) -> usize {
        self.due_soon + self.overdue + self.escalated
    }
}

/// Runs a pass every `MCU_WATCH_INTERVAL_SECS` until the process stops (the first one an
/// interval after the start).
pub async fn run(state: AppState) {
    let mut tick = tokio::time::interval(state.settings.watch_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        match pass(&state).await {
            Ok(o) if o.total() > 0 => {
                tracing::info!(due_soon = o.due_soon, overdue = o.overdue, escalated = o.escalated, "deadline alerts");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e.message(), "the deadline watch failed a pass"),
        }
        // The assignments of meetings are watched on the same beat.
        match crate::service::meetings::watch(&state).await {
            Ok(o) if o.due_soon + o.overdue > 0 => {
                tracing::info!(due_soon = o.due_soon, overdue = o.overdue, "assignment alerts");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e.message(), "the assignment watch failed a pass"),
        }
    }
}

/// One pass at the clock's now: announces every transition reached and not yet announced.
///
/// # Errors
/// On a database failure (what was committed by earlier batches stays announced; the rest
/// is found by the next pass).
pub async fn pass(state: &AppState) -> AppResult<Outcome> {
    let now = state.clock.now();
    let terms = Terms::load(state, &state.db).await?;
    let policy = &state.settings.escalation;
    let mut out = Outcome::default();
    for t in Transition::ALL.iter().copied() {
        let mut after: Option<(DateTime<Utc>, i64)> = None;
        loop {
            // Found by a read, so that the scan holds no lock; claimed in a writing transaction.
            let batch = alerts::candidates(&state.db, t, now, policy.shortest_grace(), after, BATCH).await?;
            let mut due = Vec::new();
            for a in &batch {
                if alert_of(a, t, now, &terms, policy)?.is_some() {
                    due.push(a.id);
                }
            }
            if !due.is_empty() {
                let Some(n) = announce(state, t, &due, now, &terms).await? else {
                    out.skipped = true;
                    return Ok(out);
                };
                out.add(t, n);
            }
            match batch.last() {
                Some(last) if batch.len() as u64 == BATCH => after = Some((last.due_at, last.id)),
                _ => break,
            }
        }
    }
    Ok(out)
}

/// Announces transition `t` of the appeals `ids` that still reach it, in one transaction that
/// leads the watch; `None` when another process leads it now.
async fn announce(
    state: &AppState,
    t: Transition,
    ids: &[i64],
    now: DateTime<Utc>,
    terms: &Terms,
) -> AppResult<Option<usize>> {
    let policy = &state.settings.escalation;
    let txn = crate::db::begin_write(&state.writer).await?;
    if !try_lead(&txn, Job::DeadlineWatch).await? {
        txn.rollback().await?;
        return Ok(None);
    }
    let mut announced = 0;
    for a in alerts::lock(&txn, ids).await? {
        let Some(alert) = alert_of(&a, t, now, terms, policy)? else { continue };
        if !alerts::claim(&txn, a.id, t, a.due_at, now).await? {
            continue;
        }
        outbox::record(&txn, t.topic(), Subject::Appeal(a.id), &alert, now).await?;
        if t.is_escalation() {
            alerts::record_escalation(&txn, &a, &alert, policy.groups(t), now).await?;
        }
        announced += 1;
    }
    txn.commit().await?;
    if announced > 0 {
        state.announcements.wake_dispatcher();
    }
    Ok(Some(announced))
}

/// The alert of transition `t` for the appeal, if the deadline rules say it has reached it.
fn alert_of(
    a: &appeal::Model,
    t: Transition,
    now: DateTime<Utc>,
    terms: &Terms,
    policy: &EscalationPolicy,
) -> AppResult<Option<Alert>> {
    let kind: AppealKind = a.kind.parse().map_err(AppError::internal)?;
    let frame = Frame { tz: terms.tz, cal: &terms.cal };
    let escalation_at = policy.escalation_at(kind, a.due_at, frame, terms.policy.working_hours);
    if !reached(now, a.due_soon_at, a.due_at, a.resolved_at, escalation_at).contains(&t) {
        return Ok(None);
    }
    Ok(Some(Alert {
        appeal_id: a.id,
        number: a.number.clone(),
        kind: a.kind.clone(),
        channel: a.channel.clone(),
        transition: t.as_str().to_owned(),
        term: Term::of(kind, a.registered_at.is_some(), a.reacted_at.is_some()).as_str().to_owned(),
        due_at: a.due_at,
        escalation_at: (t != Transition::DueSoon).then_some(escalation_at),
    }))
}
