//! The recipient rating (рейтингование).

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, Condition, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};

use super::access::Scoped;
use super::query::{
    C2, HistogramsOf, MedianOf, Names, buckets_of, count_all, days_in, medians, reaction_stats, received_in, sum_of,
};
use super::{Filter, Period};
use crate::domain::access::{Channel, Principal};
use crate::domain::analytics::Named;
use crate::domain::rating::rate;
use crate::entity::{appeal, appeal_due_stat, appeal_open_stat, appeal_response_stat, appeal_stat, recipient};
use crate::error::{AppError, AppResult};
use crate::service::rollup::{Cube, Grain};
use crate::state::AppState;

/// One recipient's line of the rating, with the recipient as stored.
pub type RatingRow = crate::domain::analytics::RatingRow<recipient::Model>;

impl Named for recipient::Model {
    fn name(&self) -> &str {
        &self.name
    }
}

#[derive(Debug, FromQueryResult)]
struct RecipientTotals {
    recipient_id: i64,
    total: i64,
    answered: i64,
    satisfied: i64,
    rated: i64,
    full: i64,
    assessed: i64,
    reopened: i64,
}

/// The recipient rating for the period, optionally within one channel.
///
/// Per recipient: `total` = appeals assigned to it received in the period; `onTimeRate` =
/// resolved by the deadline ÷ appeals whose deadline fell in the period and that are resolved
/// or already overdue; `fullAnswerRate` = FULL ÷ assessed and `satisfiedRate` = satisfied ÷
/// rated among the appeals received in the period; the score weights the three rates
/// (settings, default 40/30/30) re-weighting missing ones; only recipients with at least the
/// minimum volume are ranked, by score. A recipient with no appeals received in the period
/// (only deadlines of older ones falling in it) has no rates and no score (`has_volume`
/// false) and comes last. A person limited to a territory gets its subtree's
/// appeals; an executor limited to its recipient gets its own row only (ranked among all).
///
/// # Errors
/// `UNAUTHENTICATED` or `FORBIDDEN` when `who` may not read analytics.
pub async fn recipient_rating(
    state: &AppState,
    who: &Principal,
    period: Period,
    channel: Option<Channel>,
) -> AppResult<Vec<RatingRow>> {
    recipient_rating_of(state, who, period, channel, true).await
}

/// [`recipient_rating`], with the medians only when `with_median` (what the client selected;
/// `medianResponseHours` is `None` otherwise).
///
/// # Errors
/// As [`recipient_rating`].
pub async fn recipient_rating_of(
    state: &AppState,
    who: &Principal,
    period: Period,
    channel: Option<Channel>,
    with_median: bool,
) -> AppResult<Vec<RatingRow>> {
    let scoped = Scoped::of(state, who, &Filter::default()).await?;
    rating_in(state, &scoped, period, channel, with_median).await
}

/// [`recipient_rating`] of an already scoped call.
pub(super) async fn rating_in(
    state: &AppState,
    scoped: &Scoped,
    period: Period,
    channel: Option<Channel>,
    with_median: bool,
) -> AppResult<Vec<RatingRow>> {
    use appeal::Column as C;
    use appeal_due_stat::Column as D;
    use appeal_stat::Column as S;
    let conn = &state.db;
    let names = Names::load(state).await?;
    let (start, end) = period.instants(state.settings.timezone);
    let now = state.clock.now();
    let territories = scoped.territories();
    // The same narrowing over appeals, the receipt rollup and the deadline rollup.
    let narrow = |c: Condition, channel_col: C2, territory_col: C2, recipient_col: C2| {
        let mut c = c.add(recipient_col.is_not_null());
        if let Some(ch) = channel {
            c = c.add(channel_col.eq(ch.as_str()));
        }
        if let Some(t) = territories {
            c = c.add(territory_col.is_in(t.iter().copied()));
        }
        c
    };
    let base = narrow(Condition::all(), C2::A(C::Channel), C2::A(C::TerritoryId), C2::A(C::RecipientId));
    let mut q = appeal_stat::Entity::find()
        .filter(
            narrow(
                Condition::all().add(days_in(period)),
                C2::S(S::Channel),
                C2::S(S::TerritoryId),
                C2::S(S::RecipientId),
            )
            .add(S::Cube.eq(Cube::Topic.code())),
        )
        .select_only()
        .column(S::RecipientId)
        .group_by(S::RecipientId);
    for col in ["total", "answered", "satisfied", "rated", "full", "assessed", "reopened"] {
        q = q.expr_as(sum_of(col), col);
    }
    // Deadlines in the period: resolved ones from the rollup, unresolved overdue ones (which
    // change with "now") from the few unresolved appeals.
    let resolved =
        appeal_due_stat::Entity::find()
            .filter(
                narrow(Condition::all(), C2::D(D::Channel), C2::D(D::TerritoryId), C2::D(D::RecipientId))
                    .add(buckets_of(period, Grain::Month, C2::D(D::Grain), C2::D(D::Day))),
            )
            .select_only()
            .column(D::RecipientId)
            .expr_as(sum_of("resolved"), "n")
            .expr_as(sum_of("met"), "met")
            .group_by(D::RecipientId)
            .into_tuple::<(i64, i64, i64)>();
    // Never answered, unresolved, due in the period before now: the ledger's days before
    // today, and today's up to now from `ix_appeals_unanswered_due`, which holds exactly these.
    let tz = state.settings.timezone;
    let today = now.with_timezone(&tz).date_naive();
    let (midnight, _) = Period { from: today, to: today }.instants(tz);
    let overdue_past = async {
        use appeal_open_stat::Column as O;
        let to = period.to.min(today.pred_opt().unwrap_or(today));
        if to < period.from {
            return Ok(Vec::new());
        }
        appeal_open_stat::Entity::find()
            .filter(
                narrow(
                    Condition::all().add(O::Cube.eq(Cube::Recipient.code())).add(O::Unanswered.eq(true)),
                    C2::O(O::Channel),
                    C2::O(O::TerritoryId),
                    C2::O(O::RecipientId),
                )
                .add(buckets_of(
                    Period { from: period.from, to },
                    Grain::Month,
                    C2::O(O::Grain),
                    C2::O(O::Day),
                )),
            )
            .select_only()
            .column(O::RecipientId)
            .expr_as(sum_of("open"), "n")
            .group_by(O::RecipientId)
            .into_tuple::<(i64, i64)>()
            .all(conn)
            .await
    };
    let overdue_today = appeal::Entity::find()
        .filter(
            base.clone()
                .add(C::ResolvedAt.is_null())
                // A reopened appeal was judged by its first answer already.
                .add(C::FirstAnsweredAt.is_null())
                .add(C::DueAt.gte(start.max(midnight)))
                .add(C::DueAt.lt(end))
                .add(C::DueAt.lt(now)),
        )
        .select_only()
        .column(C::RecipientId)
        .expr_as(count_all(), "n")
        .group_by(C::RecipientId)
        .into_tuple::<(i64, i64)>();
    let received = base.clone().add(received_in(start, end)).add(C::FirstAnsweredAt.is_not_null());
    let answered_by = |id: i64| received.clone().add(C::RecipientId.eq(id));
    // Every recipient's median in one grouped read of the histograms and one walk statement.
    // The histograms count each recipient's answers themselves, so the medians are read
    // alongside the totals; they keep no territory, so a caller limited to one walks without
    // them, after the totals, which then give the number of answers.
    let histograms = (with_median && territories.is_none()).then(|| {
        use appeal_response_stat::Column as R;
        // All channels: the recipient cube; one channel: the full cube, which keeps it.
        let mut cond = Condition::all().add(R::RecipientId.is_not_null());
        cond = match channel {
            None => cond.add(R::Cube.eq(Cube::Recipient.code())),
            Some(ch) => cond.add(R::Cube.eq(Cube::Full.code())).add(R::Channel.eq(ch.as_str())),
        };
        HistogramsOf { cond, period, per_recipient: true }
    });
    let early_medians = async {
        match histograms {
            Some(from) => {
                let of = names
                    .refs()
                    .recipients()
                    .map(|r| MedianOf { key: r.id, answered: answered_by(r.id), n: 0, histogram: None })
                    .collect();
                medians(conn, Some(from), of).await.map(Some)
            }
            None => Ok(None),
        }
    };
    let (totals, resolved, overdue_past, overdue_today, reactions, early_medians) = tokio::try_join!(
        async { q.into_model::<RecipientTotals>().all(conn).await.map_err(AppError::from) },
        async { resolved.all(conn).await.map_err(AppError::from) },
        async { overdue_past.await.map_err(AppError::from) },
        async { overdue_today.all(conn).await.map_err(AppError::from) },
        reaction_stats(conn, base.clone().add(received_in(start, end)), true),
        early_medians,
    )?;
    let mut due: HashMap<i64, (i64, i64)> = HashMap::new();
    for (r, n, met) in resolved {
        let e = due.entry(r).or_default();
        e.0 += n;
        e.1 += met;
    }
    for (r, n) in overdue_past.into_iter().chain(overdue_today) {
        due.entry(r).or_default().0 += n;
    }
    due.retain(|_, (n, _)| *n != 0);
    let medians = match early_medians {
        Some(m) => m,
        None if with_median => {
            let of = totals
                .iter()
                .filter(|t| t.answered > 0)
                .map(|t| MedianOf {
                    key: t.recipient_id,
                    answered: answered_by(t.recipient_id),
                    n: t.answered,
                    histogram: None,
                })
                .collect();
            medians(conn, None, of).await?
        }
        None => HashMap::new(),
    };
    let totals: HashMap<i64, RecipientTotals> =
        totals.into_iter().filter(|t| t.total != 0).map(|t| (t.recipient_id, t)).collect();
    let ids: HashSet<i64> = totals.keys().chain(due.keys()).copied().collect();
    let weights = state.settings.rating_weights;
    let min_volume = i64::from(state.settings.rating_min_volume);
    let mut rows: Vec<RatingRow> = ids
        .into_iter()
        .filter_map(|id| {
            let recipient = names.refs().recipient(id)?.clone();
            let t = totals.get(&id);
            let total = t.map_or(0, |t| t.total);
            let (due_n, met) = due.get(&id).copied().unwrap_or((0, 0));
            // No volume, no score: a recipient with no appeals received in the period has
            // nothing to be measured on (deadlines of older appeals falling in the period
            // alone would read «в срок 100%, балл 100»).
            let has_volume = total > 0;
            let on_time_rate = rate(met, due_n).filter(|_| has_volume);
            let full_answer_rate = t.and_then(|t| rate(t.full, t.assessed));
            let satisfied_rate = t.and_then(|t| rate(t.satisfied, t.rated));
            let reopened_rate = t.and_then(|t| rate(t.reopened, t.total));
            let median_response_hours = medians.get(&id).copied();
            let reaction = reactions.get(&id).copied().unwrap_or_default();
            Some(RatingRow {
                recipient,
                rank: None,
                total,
                has_volume,
                on_time_rate,
                full_answer_rate,
                satisfied_rate,
                reopened_rate,
                reaction_on_time_rate: reaction.on_time_rate(),
                median_reaction_hours: reaction.median_hours,
                median_response_hours,
                score: weights.score(on_time_rate, full_answer_rate, satisfied_rate).filter(|_| has_volume),
                enough_data: has_volume && total >= min_volume,
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        let ranked = |r: &RatingRow| r.enough_data && r.score.is_some();
        ranked(b)
            .cmp(&ranked(a))
            .then_with(|| b.has_volume.cmp(&a.has_volume))
            .then_with(|| b.score.unwrap_or(-1.0).total_cmp(&a.score.unwrap_or(-1.0)))
            .then_with(|| b.total.cmp(&a.total))
            .then_with(|| a.recipient.name.cmp(&b.recipient.name))
    });
    let mut rank = 0;
    for r in &mut rows {
        if r.enough_data && r.score.is_some() {
            rank += 1;
            r.rank = Some(rank);
        }
    }
    if let Some(own) = scoped.recipient() {
        rows.retain(|r| r.recipient.id == own);
    }
    Ok(rows)
}
