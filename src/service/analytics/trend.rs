//! Appeals over time: buckets of days, ISO weeks or months.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Duration, NaiveDate};
use sea_orm::{Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::access::Scoped;
use super::query::{C2, Names, Resolved, buckets_of, group_label, id_key, rollup_not_duplicate, sum_of};
use super::{Filter, Granularity, GroupBy, Period};
use crate::domain::access::Principal;
use crate::domain::labels::ALL_APPEALS;
use crate::entity::appeal_stat;
use crate::error::AppResult;
use crate::service::rollup::Grain;
use crate::state::AppState;

/// One bucket of a trend series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrendPoint {
    pub start: NaiveDate,
    pub count: i64,
}

/// A trend series: all appeals, or one group.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendSeries {
    pub key: String,
    pub label: String,
    pub points: Vec<TrendPoint>,
}

/// The start of the bucket a date falls in.
pub fn bucket_start(g: Granularity, d: NaiveDate) -> NaiveDate {
    match g {
        Granularity::Day => d,
        Granularity::Week => d - Duration::days(i64::from(d.weekday().num_days_from_monday())),
        Granularity::Month => d.with_day(1).unwrap_or(d),
    }
}

fn next_bucket(g: Granularity, d: NaiveDate) -> NaiveDate {
    match g {
        Granularity::Day => d + Duration::days(1),
        Granularity::Week => d + Duration::days(7),
        Granularity::Month => d.checked_add_months(chrono::Months::new(1)).unwrap_or(d + Duration::days(31)),
    }
}

/// Bucket starts from the one holding `from` to the one holding `to`.
pub fn buckets(g: Granularity, period: Period) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut b = bucket_start(g, period.from);
    while b <= period.to {
        out.push(b);
        b = next_bucket(g, b);
    }
    out
}

/// Rollup sums per local day and per value of `by` (the group keys of growth: an id, or a channel).
async fn day_counts(
    conn: &impl ConnectionTrait,
    cond: Condition,
    by: Option<GroupBy>,
    names: &Names,
) -> AppResult<Vec<(NaiveDate, String, i64)>> {
    use appeal_stat::Column as S;
    let q = appeal_stat::Entity::find().filter(cond).select_only().column(S::Day).group_by(S::Day);
    let n = sum_of("total");
    let id_rows = |rows: Vec<(NaiveDate, Option<i64>, i64)>, key: &dyn Fn(Option<i64>) -> String| {
        rows.into_iter().map(|(d, id, n)| (d, key(id), n)).collect::<Vec<_>>()
    };
    Ok(match by {
        None => {
            let rows = q.expr_as(n, "n").into_tuple::<(NaiveDate, i64)>().all(conn).await?;
            rows.into_iter().map(|(d, n)| (d, "all".to_string(), n)).collect()
        }
        Some(GroupBy::Channel) => {
            let rows = q.column(S::Channel).group_by(S::Channel).expr_as(n, "n");
            rows.into_tuple::<(NaiveDate, String, i64)>().all(conn).await?
        }
        Some(by) => {
            let col = match by {
                GroupBy::Category => S::CategoryId,
                GroupBy::Territory => S::TerritoryId,
                _ => S::RecipientId,
            };
            let rows = q.column(col).group_by(col).expr_as(n, "n").into_tuple().all(conn).await?;
            match by {
                GroupBy::Category => id_rows(rows, &|c| id_key(c.map(|c| names.top(c)))),
                _ => id_rows(rows, &id_key),
            }
        }
    })
}

/// Non-duplicate appeals per bucket of local dates (empty buckets present as zeros): one
/// series `all`, or one per group that has appeals in the period.
///
/// # Errors
/// `UNAUTHENTICATED` or `FORBIDDEN` when `who` may not read analytics or asks for a recipient
/// it may not see.
pub async fn trend(
    state: &AppState,
    who: &Principal,
    period: Period,
    granularity: Granularity,
    group_by: Option<GroupBy>,
    filter: &Filter,
) -> AppResult<Vec<TrendSeries>> {
    let conn = &state.db;
    let scoped = Scoped::of(state, who, filter).await?;
    let names = Names::load(state).await?;
    let coarsest = match granularity {
        Granularity::Day => Grain::Day,
        Granularity::Week => Grain::Week,
        Granularity::Month => Grain::Month,
    };
    let cond = Resolved::of(&names, &scoped).on_rollup(group_by, false).add(rollup_not_duplicate()).add(buckets_of(
        period,
        coarsest,
        C2::S(appeal_stat::Column::Grain),
        C2::S(appeal_stat::Column::Day),
    ));
    let starts = buckets(granularity, period);
    let index: HashMap<NaiveDate, usize> = starts.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let mut series: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    if group_by.is_none() {
        series.insert("all".into(), vec![0; starts.len()]);
    }
    for (day, key, n) in day_counts(conn, cond, group_by, &names).await? {
        let Some(i) = index.get(&bucket_start(granularity, day)).copied() else { continue };
        series.entry(key).or_insert_with(|| vec![0; starts.len()])[i] += n;
    }
    series.retain(|key, counts| group_by.is_none() && key == "all" || counts.iter().any(|n| *n != 0));
    let mut out: Vec<TrendSeries> = series
        .into_iter()
        .map(|(key, counts)| TrendSeries {
            label: group_by.map_or_else(|| ALL_APPEALS.to_string(), |g| group_label(g, &key, &names)),
            points: starts.iter().zip(counts).map(|(d, count)| TrendPoint { start: *d, count }).collect(),
            key,
        })
        .collect();
    out.sort_by(|a, b| {
        let total = |s: &TrendSeries| s.points.iter().map(|p| p.count).sum::<i64>();
        total(b).cmp(&total(a)).then_with(|| a.key.cmp(&b.key))
    });
    Ok(out)
}
