//! Growth detection: groups whose count rose over the baseline of the three previous periods.

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::access::Scoped;
use super::query::{Dims, Names, Resolved, days_in, group_label, id_key, rollup_not_duplicate, sum_of};
use super::{Filter, GroupBy, Period};
use crate::domain::access::Principal;
use crate::domain::analytics::{CountBy, GrowthItem};
use crate::domain::labels::{Driver, driver_label, stored_channel_label};
use crate::domain::stats;
use crate::entity::appeal_stat;
use crate::error::AppResult;
use crate::state::AppState;

/// One-sided significance level of the growth test.
const GROWTH_ALPHA: f64 = 0.05;
/// A group needs at least this many appeals in the period to be a significant rise.
const GROWTH_MIN_COUNT: u64 = 5;
/// Drivers listed per growth item.
const DRIVERS: usize = 5;

/// Rollup sums per category × territory × channel (× recipient when `recipient`: only a
/// grouping by recipient needs it, and without it a week has about half as many groups).
async fn grouped(conn: &impl ConnectionTrait, cond: Condition, recipient: bool) -> AppResult<Vec<(Dims, i64)>> {
    use appeal_stat::Column as S;
    let mut q = appeal_stat::Entity::find()
        .filter(cond)
        .select_only()
        .columns([S::CategoryId, S::TerritoryId, S::Channel])
        .group_by(S::CategoryId)
        .group_by(S::TerritoryId)
        .group_by(S::Channel);
    q = if recipient {
        q.column(S::RecipientId).group_by(S::RecipientId)
    } else {
        q.expr_as(Expr::cust("CAST(NULL AS BIGINT)"), "recipient_id")
    };
    let rows = q
        .expr_as(sum_of("total"), "n")
        .into_tuple::<(Option<i64>, Option<i64>, String, Option<i64>, i64)>()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.4 != 0)
        .map(|(category_id, territory_id, channel, recipient_id, n)| {
            (Dims { category_id, territory_id, channel, recipient_id }, n)
        })
        .collect())
}

/// A group of growth: a top-level category, a territory, a channel or a recipient, kept
/// unformatted while rows are summed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Group {
    Id(Option<i64>),
    Channel(String),
}

impl Group {
    fn of(by: GroupBy, d: &Dims, names: &Names) -> Self {
        match by {
            GroupBy::Category => Self::Id(d.category_id.map(|c| names.top(c))),
            GroupBy::Territory => Self::Id(d.territory_id),
            GroupBy::Channel => Self::Channel(d.channel.clone()),
            GroupBy::Recipient => Self::Id(d.recipient_id),
        }
    }

    fn key(&self) -> String {
        match self {
            Self::Id(id) => id_key(*id),
            Self::Channel(c) => c.clone(),
        }
    }
}

/// A driver of a group: a (sub)category, a territory or a channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum DriverOf {
    Category(Option<i64>),
    Territory(Option<i64>),
    Channel(String),
}

impl DriverOf {
    /// The driver dimensions of a grouping.
    fn all(by: GroupBy, d: &Dims) -> Vec<Self> {
        let category = Self::Category(d.category_id);
        let territory = Self::Territory(d.territory_id);
        let channel = Self::Channel(d.channel.clone());
        match by {
            GroupBy::Category | GroupBy::Recipient => vec![category, territory, channel],
            GroupBy::Territory => vec![category, channel],
            GroupBy::Channel => vec![category, territory],
        }
    }

    /// Its key (`category:12`) and label.
    fn key_and_label(&self, names: &Names) -> (String, String) {
        match self {
            Self::Category(id) => {
                (format!("category:{}", id_key(*id)), driver_label(Driver::Category, &names.category(*id)))
            }
            Self::Territory(id) => {
                (format!("territory:{}", id_key(*id)), driver_label(Driver::Territory, &names.territory(*id)))
            }
            Self::Channel(c) => (format!("channel:{c}"), driver_label(Driver::Channel, &stored_channel_label(c))),
        }
    }
}

/// Growth of each group: the count of non-duplicate appeals in the period against the
/// baseline, the mean count of the three previous periods of the same length. `growth` is
/// count ÷ baseline (count ÷ 1 when the baseline is 0); a rise is significant when
/// `P(X ≥ count) < 0.05` for `X ~ Poisson(baseline)` and count ≥ 5. Drivers are the
/// subcategories, territories and channels whose count rose most over their own baseline.
///
/// # Errors
/// `UNAUTHENTICATED` or `FORBIDDEN` when `who` may not read analytics or asks for a recipient
/// it may not see.
pub async fn growth(
    state: &AppState,
    who: &Principal,
    period: Period,
    group_by: GroupBy,
    limit: usize,
    filter: &Filter,
) -> AppResult<Vec<GrowthItem>> {
    let scoped = Scoped::of(state, who, filter).await?;
    let names = Names::load(state).await?;
    growth_with(state, &names, &scoped, period, group_by, limit).await
}

/// [`growth`] of an already scoped call, with the reference names loaded.
pub(super) async fn growth_with(
    state: &AppState,
    names: &Names,
    scoped: &Scoped,
    period: Period,
    group_by: GroupBy,
    limit: usize,
) -> AppResult<Vec<GrowthItem>> {
    let rows = periods(state, names, scoped, period, group_by, 4).await?;
    Ok(growth_of(names, group_by, &rows[0], &rows[1..4], limit))
}

/// [`growth_with`] of `period` and of the period before it (what the memo compares), from
/// five reads of the rollup instead of eight: the two share three baseline periods.
pub(super) async fn growth_and_before(
    state: &AppState,
    names: &Names,
    scoped: &Scoped,
    period: Period,
    group_by: GroupBy,
    limits: (usize, usize),
) -> AppResult<(Vec<GrowthItem>, Vec<GrowthItem>)> {
    let rows = periods(state, names, scoped, period, group_by, 5).await?;
    Ok((
        growth_of(names, group_by, &rows[0], &rows[1..4], limits.0),
        growth_of(names, group_by, &rows[1], &rows[2..5], limits.1),
    ))
}

/// The rollup's groups of `period` and of the `n - 1` periods of the same length before it.
async fn periods(
    state: &AppState,
    names: &Names,
    scoped: &Scoped,
    period: Period,
    group_by: GroupBy,
    n: i64,
) -> AppResult<Vec<Vec<(Dims, i64)>>> {
    // Growth's drivers are categories, territories and channels: the full cube.
    let base = Resolved::of(names, scoped).on_rollup(Some(GroupBy::Category), false).add(rollup_not_duplicate());
    let mut out = Vec::new();
    for back in 0..n {
        let cond = base.clone().add(days_in(period.back(back)));
        out.push(grouped(&state.db, cond, group_by == GroupBy::Recipient).await?);
    }
    Ok(out)
}

/// Growth of each group of `now` over the baseline, the mean of the three `before` periods
/// (rows summed with unformatted keys; only each group's distinct drivers are named).
fn growth_of(
    names: &Names,
    group_by: GroupBy,
    now: &[(Dims, i64)],
    before: &[Vec<(Dims, i64)>],
    limit: usize,
) -> Vec<GrowthItem> {
    // Per group: count now, summed baseline count; per group and driver: the same two.
    let mut counts: HashMap<Group, (i64, i64)> = HashMap::new();
    let mut drivers: HashMap<Group, HashMap<DriverOf, (i64, i64)>> = HashMap::new();
    let periods = std::iter::once((true, now)).chain(before.iter().map(|rows| (false, rows.as_slice())));
    for (current, rows) in periods {
        for (dims, count) in rows {
            let group = Group::of(group_by, dims, names);
            let entry = counts.entry(group.clone()).or_default();
            let of = drivers.entry(group).or_default();
            let add = |e: &mut (i64, i64)| {
                if current {
                    e.0 += count;
                } else {
                    e.1 += count;
                }
            };
            add(entry);
            for d in DriverOf::all(group_by, dims) {
                add(of.entry(d).or_default());
            }
        }
    }
    let mut out: Vec<GrowthItem> = counts
        .into_iter()
        .map(|(group, (count, before_sum))| {
            let baseline = before_sum as f64 / 3.0;
            let growth = if baseline > 0.0 { count as f64 / baseline } else { count as f64 };
            let mut labels: HashMap<String, String> = HashMap::new();
            let mut now_list = Vec::new();
            let mut before_list = Vec::new();
            for (d, (cur, prev)) in drivers.remove(&group).unwrap_or_default() {
                let (k, label) = d.key_and_label(names);
                now_list.push((k.clone(), cur));
                before_list.push((k.clone(), prev as f64 / 3.0));
                labels.insert(k, label);
            }
            let drivers = stats::drivers(&now_list, &before_list, DRIVERS)
                .into_iter()
                .map(|(k, delta)| CountBy {
                    label: labels.get(&k).cloned().unwrap_or_else(|| k.clone()),
                    key: k,
                    count: delta,
                })
                .collect();
            let key = group.key();
            GrowthItem {
                label: group_label(group_by, &key, names),
                key,
                count,
                baseline,
                growth,
                significant: stats::growth_significant(count as u64, baseline, GROWTH_ALPHA, GROWTH_MIN_COUNT),
                drivers,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.significant
            .cmp(&a.significant)
            .then_with(|| b.growth.total_cmp(&a.growth))
            .then_with(|| b.count.cmp(&a.count))
            .then_with(|| a.key.cmp(&b.key))
    });
    out.truncate(limit);
    out
}
