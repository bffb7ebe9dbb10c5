//! The retention run (issue 19, item 6): once a local day, closed appeals whose closing (or
//! last change after it) lies `MCU_RETENTION_YEARS` back are anonymised
//! ([`crate::store::privacy`]), in transactions of `MCU_RETENTION_BATCH` appeals, each leading
//! [`Job::Retention`] (another process's batch waits for its turn; the anonymiser skips
//! appeals anonymised meanwhile, so two processes never anonymise one appeal twice). One audit
//! entry per run (`privacy.retain`, by `system`: cutoff, years, appeals, batches) besides each
//! appeal's own entry. The server runs it once a local day, claimed atomically
//! ([`run_due`]). `mcu privacy retain [--dry-run]` runs the same pass.

use chrono::{DateTime, Utc};

use super::{Job, try_lead};
use crate::domain::retention::cutoff;
use crate::error::AppResult;
use crate::service::privacy::{
    RETAIN_ACTION, claim_retention_day, release_retention_day, retention_candidates, retention_ran_since,
};
use crate::state::AppState;
use crate::store::audit::{self, Actor};
use crate::store::privacy::{self, Anonymisation};

/// What one run did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Appeals last changed before this instant were due.
    pub cutoff: DateTime<Utc>,
    pub dry_run: bool,
    /// Numbers of the appeals anonymised (or due), by id.
    pub numbers: Vec<String>,
    /// Transactions committed.
    pub batches: usize,
    /// Attached files deleted with the appeals.
    pub files: u64,
    /// Whether another process led a batch and this run stopped early.
    pub skipped: bool,
}

/// Checks every `MCU_RETENTION_CHECK_SECS` whether today's run (local day) is due, and runs
/// it when this process claims it ([`run_due`]), until the process stops.
pub async fn run(state: AppState) {
    loop {
        tokio::time::sleep(state.settings.retention_check_interval).await;
        match run_due(&state).await {
            Ok(Some(o)) => tracing::info!(appeals = o.numbers.len(), batches = o.batches, "retention run"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e.message(), "the retention run failed; it will try again"),
        }
    }
}

/// Today's run (local day of `MCU_TIMEZONE`) if it is due: not recorded yet (a run from the
/// command line counts) and claimed by this process ([`claim_retention_day`], atomic across
/// replicas, so a second process that checks in the same moment skips it). A run that fails
/// gives its claim back and is tried again at the next check; a process that stops in the
/// middle of a run leaves the day claimed, and the next day's run takes what it left.
///
/// # Errors
/// On a database failure (batches committed before it stay anonymised).
pub async fn run_due(state: &AppState) -> AppResult<Option<Outcome>> {
    let tz = state.settings.timezone;
    let now = state.clock.now();
    if retention_ran_since(&state.db, cutoff(now, tz, 0)).await? {
        return Ok(None);
    }
    let day = now.with_timezone(&tz).date_naive().format("%Y-%m-%d").to_string();
    if !claim_retention_day(state, &day, now).await? {
        return Ok(None);
    }
    match pass(state, false).await {
        Ok(o) => Ok(Some(o)),
        Err(e) => {
            if let Err(r) = release_retention_day(state, &day).await {
                tracing::warn!(error = %r.message(), day, "could not give back the claim of a failed retention run");
            }
            Err(e)
        }
    }
}

/// One run at the clock's now: anonymises every closed appeal due (or, with `dry_run`, only
/// lists them and changes nothing, the audit trail included).
///
/// # Errors
/// On a database failure (batches committed before it stay anonymised; the next run goes on).
pub async fn pass(state: &AppState, dry_run: bool) -> AppResult<Outcome> {
    let now = state.clock.now();
    let years = state.settings.retention_years;
    let before = cutoff(now, state.settings.timezone, years);
    let batch = u64::from(state.settings.retention_batch.max(1));
    let mut out = Outcome { cutoff: before, dry_run, ..Outcome::default() };
    let actor = Actor::system();
    let reason = format!("срок хранения {years} лет истёк");
    let how = Anonymisation { at: now, actor: &actor, reason: &reason };
    let mut after = 0_i64;
    loop {
        let due = retention_candidates(&state.db, before, after, batch).await?;
        let Some(last) = due.last() else { break };
        after = last.0;
        let full = due.len() as u64 == batch;
        if dry_run {
            out.numbers.extend(due.into_iter().map(|(_, n)| n));
        } else {
            let txn = crate::db::begin_write(&state.writer).await?;
            if !try_lead(&txn, Job::Retention).await? {
                txn.rollback().await?;
                out.skipped = true;
                break;
            }
            let ids: Vec<i64> = due.iter().map(|(id, _)| *id).collect();
            let done = privacy::anonymise(&txn, &ids, &how).await?;
            txn.commit().await?;
            crate::service::attachments::remove_files(state, &done.files).await;
            out.batches += 1;
            out.files += done.files.len() as u64;
            out.numbers.extend(done.appeals.into_iter().map(|a| a.number));
        }
        if !full {
            break;
        }
    }
    if !dry_run {
        let data = serde_json::json!({
            "cutoff": before,
            "years": years,
            "appeals": out.numbers.len(),
            "batches": out.batches,
            "files": out.files,
            "skipped": out.skipped,
        });
        audit::write(&state.writer, &actor, now, RETAIN_ACTION, None, Some(data)).await?;
    }
    Ok(out)
}
