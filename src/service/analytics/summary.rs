//! Summary KPIs of a period.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use sea_orm::{ColumnTrait, Condition, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};

use super::access::Scoped;
use super::query::{
    C2, HistogramsOf, MedianOf, Names, Resolved, buckets_of, count_if, days_in, medians, reaction_stats, received_in,
    sum_of,
};
use super::{Filter, Period, SummaryParts};
use crate::domain::access::Principal;
use crate::domain::analytics::{CountBy, Summary};
use crate::domain::labels::{channel_label, kind_label, status_label};
use crate::entity::{appeal, appeal_open_stat, appeal_stat};
use crate::error::{AppError, AppResult};
use crate::service::rollup::Grain;
use crate::state::AppState;

fn count_by<T: std::str::FromStr + Copy>(rows: Vec<(String, i64)>, label: fn(T) -> &'static str) -> Vec<CountBy> {
    let mut out: Vec<CountBy> = rows
        .into_iter()
        .map(|(key, count)| {
            let label = key.parse::<T>().map_or_else(|_| key.clone(), |v| label(v).to_string());
            CountBy { key, label, count }
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    out
}

#[derive(Debug, FromQueryResult)]
struct Totals {
    channel: String,
    kind: String,
    status: String,
    total: i64,
    answered: i64,
    answered_on_time: i64,
    satisfied: i64,
    rated: i64,
    full: i64,
    assessed: i64,
    reopened: i64,
}

/// Summary KPIs of the appeals received in the period (duplicates included).
///
/// # Errors
/// `UNAUTHENTICATED` or `FORBIDDEN` when `who` may not read analytics or asks for a recipient
/// it may not see.
pub async fn summary(state: &AppState, who: &Principal, period: Period, filter: &Filter) -> AppResult<Summary> {
    summary_of(state, who, period, filter, SummaryParts::ALL).await
}

/// [`summary`] computing only `parts` (what the client selected); the parts left out read
/// 0 (`overdueNow`, `dueSoonNow`) or `None` (the median).
///
/// # Errors
/// As [`summary`].
pub async fn summary_of(
    state: &AppState,
    who: &Principal,
    period: Period,
    filter: &Filter,
    parts: SummaryParts,
) -> AppResult<Summary> {
    let scoped = Scoped::of(state, who, filter).await?;
    let names = Names::load(state).await?;
    summary_with(state, &names, &scoped, period, parts).await
}

/// [`summary`] of an already scoped call, with the reference names loaded.
pub(super) async fn summary_with(
    state: &AppState,
    names: &Names,
    scoped: &Scoped,
    period: Period,
    parts: SummaryParts,
) -> AppResult<Summary> {
    use appeal::Column as C;
    use appeal_stat::Column as S;
    let conn = &state.db;
    let (start, end) = period.instants(state.settings.timezone);
    let resolved = Resolved::of(names, scoped);
    let cond = resolved.on_appeals().add(received_in(start, end));
    // The rollup grouped by channel × kind × status gives the totals and the three breakdowns.
    let mut q = appeal_stat::Entity::find()
        .filter(resolved.on_rollup(None, true).add(days_in(period)))
        .select_only()
        .columns([S::Channel, S::Kind, S::Status])
        .group_by(S::Channel)
        .group_by(S::Kind)
        .group_by(S::Status);
    for col in crate::service::rollup::STAT_COUNTS {
        q = q.expr_as(sum_of(col), col);
    }
    // "Now" changes by the minute: summed from the ledger of unresolved appeals by the days
    // of their deadlines, with today's read at the instant.
    let now_counts = async {
        if !parts.now {
            return Ok((0, 0));
        }
        now_counts(state, &resolved, period, cond.clone()).await
    };
    let answered = cond.clone().add(C::FirstAnsweredAt.is_not_null());
    // With histograms for exactly these answers the median needs nothing of the totals
    // (they count the answers themselves), so it is read alongside them.
    let histograms = resolved.on_responses().filter(|_| parts.median);
    let early_median = async {
        match &histograms {
            Some(cond) => {
                let from = Some(HistogramsOf { cond: cond.clone(), period, per_recipient: false });
                let of = MedianOf { key: 0, answered: answered.clone(), n: 0, histogram: None };
                medians(conn, from, vec![of]).await.map(|mut m| m.remove(&0))
            }
            None => Ok(None),
        }
    };
    // Incidents' first reactions, from the facts of the period (one statement).
    let (groups, (overdue, due_soon), mut reactions, early_median) = tokio::try_join!(
        async { q.into_model::<Totals>().all(conn).await.map_err(AppError::from) },
        now_counts,
        reaction_stats(conn, cond.clone(), false),
        early_median,
    )?;
    let mut s = Summary::default();
    let (mut channels, mut kinds, mut statuses) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for g in groups {
        s.total += g.total;
        s.answered += g.answered;
        s.answered_on_time += g.answered_on_time;
        s.satisfied += g.satisfied;
        s.rated += g.rated;
        s.full += g.full;
        s.assessed += g.assessed;
        s.reopened += g.reopened;
        *channels.entry(g.channel).or_default() += g.total;
        *kinds.entry(g.kind).or_default() += g.total;
        *statuses.entry(g.status).or_default() += g.total;
    }
    channels.retain(|_, n: &mut i64| *n != 0);
    kinds.retain(|_, n: &mut i64| *n != 0);
    statuses.retain(|_, n: &mut i64| *n != 0);
    s.by_channel = count_by(channels.into_iter().collect(), channel_label);
    s.by_kind = count_by(kinds.into_iter().collect(), kind_label);
    s.by_status = count_by(statuses.into_iter().collect(), status_label);
    s.overdue_now = overdue;
    s.due_soon_now = due_soon;
    let reactions = reactions.remove(&0).unwrap_or_default();
    s.reacted = reactions.reacted;
    s.reacted_on_time = reactions.on_time;
    s.median_reaction_hours = reactions.median_hours;
    s.median_response_hours = early_median;
    if parts.median && histograms.is_none() && s.answered > 0 {
        // A category or territory in the filter: no histogram keeps them, so the walk counts
        // on the totals' number of answers.
        let of = MedianOf { key: 0, answered, n: s.answered, histogram: None };
        s.median_response_hours = medians(conn, None, vec![of]).await?.remove(&0);
    }
    Ok(s)
}

/// "Overdue now" and "due soon now" among the unresolved appeals of `cond` (the filter and the
/// period over `appeals`).
///
/// With a filter of channel and kind at most: the ledger of unresolved appeals received in
/// the period summed by the days of their deadlines and due-soon starts other than today (a
/// day before today is past, a day after it to come), plus the appeals whose deadline or
/// due-soon start falls today, read at the instant over two small partial indexes. A year of
/// a region is a few thousand ledger rows (2,506 for the million-row demo's year, the same at
/// five million), whatever the number of appeals. With a category,
/// territory or recipient the appeals are walked (`ix_appeals_unresolved`).
async fn now_counts(state: &AppState, resolved: &Resolved, period: Period, cond: Condition) -> AppResult<(i64, i64)> {
    use appeal::Column as C;
    use appeal_open_stat::Column as O;
    let conn = &state.db;
    let now = state.clock.now();
    let overdue = Condition::all().add(C::DueAt.lt(now));
    let due_soon = Condition::all().add(C::DueAt.gte(now)).add(C::DueSoonAt.lte(now));
    let counted = |cond: Condition| {
        appeal::Entity::find()
            .filter(cond.add(C::ResolvedAt.is_null()))
            .select_only()
            .expr_as(count_if(overdue.clone()), "overdue")
            .expr_as(count_if(due_soon.clone()), "due_soon")
            .into_tuple::<(Option<i64>, Option<i64>)>()
    };
    let Some(open) = resolved.on_open() else {
        // Written without `resolved_at` (the WHERE holds it), so `ix_appeals_unresolved`
        // answers alone: index-only.
        let (o, s) = counted(cond).one(conn).await?.unwrap_or_default();
        return Ok((o.unwrap_or(0), s.unwrap_or(0)));
    };
    let today = now.with_timezone(&state.settings.timezone).date_naive();
    let (d0, d1) = Period { from: today, to: today }.instants(state.settings.timezone);
    let ledger = appeal_open_stat::Entity::find()
        .filter(
            open.add(buckets_of(period, Grain::Month, C2::O(O::Grain), C2::O(O::Day)))
                .add(O::DueDay.ne(today))
                .add(O::SoonDay.ne(today)),
        )
        .select_only()
        .column(O::DueDay)
        .column(O::SoonDay)
        .expr_as(sum_of("open"), "n")
        .group_by(O::DueDay)
        .group_by(O::SoonDay)
        .into_tuple::<(NaiveDate, NaiveDate, i64)>();
    let today_cond = Condition::any()
        .add(Condition::all().add(C::DueAt.gte(d0)).add(C::DueAt.lt(d1)))
        .add(Condition::all().add(C::DueSoonAt.gte(d0)).add(C::DueSoonAt.lt(d1)));
    let (rows, exact) = tokio::try_join!(ledger.all(conn), counted(cond.add(today_cond)).one(conn))?;
    let (o, s) = exact.unwrap_or_default();
    let (mut overdue, mut due_soon) = (o.unwrap_or(0), s.unwrap_or(0));
    for (due_day, soon_day, n) in rows {
        if due_day < today {
            overdue += n;
        } else if soon_day < today {
            due_soon += n;
        }
    }
    Ok((overdue, due_soon))
}
