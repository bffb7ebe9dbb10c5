//! Growth detection: groups whose count rose over the baseline of the three previous periods.

use std::collections::{HashMap, HashSet};

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

/// Rollup sums per category × territory × channel × recipient.
async fn grouped(conn: &impl ConnectionTrait, cond: Condition) -> AppResult<Vec<(Dims, i64)>> {
    use appeal_stat::Column as S;
    let rows = appeal_stat::Entity::find()
        .filter(cond)
        .select_only()
        .columns([S::CategoryId, S::TerritoryId, S::Channel, S::RecipientId])
        .expr_as(sum_of("total"), "n")
        .group_by(S::CategoryId)
        .group_by(S::TerritoryId)
        .group_by(S::Channel)
        .group_by(S::RecipientId)
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

/// The driver dimensions of a grouping: (key prefix, key of a row, label).
fn driver_keys(by: GroupBy, d: &Dims, names: &Names) -> Vec<(String, String)> {
    let category =
        (format!("category:{}", id_key(d.category_id)), driver_label(Driver::Category, &names.category(d.category_id)));
    let territory = (
        format!("territory:{}", id_key(d.territory_id)),
        driver_label(Driver::Territory, &names.territory(d.territory_id)),
    );
    let channel = (format!("channel:{}", d.channel), driver_label(Driver::Channel, &stored_channel_label(&d.channel)));
    match by {
        GroupBy::Category | GroupBy::Recipient => vec![category, territory, channel],
        GroupBy::Territory => vec![category, channel],
        GroupBy::Channel => vec![category, territory],
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
    let conn = &state.db;
    // Growth's drivers are categories, territories and channels: the full cube.
    let base = Resolved::of(names, scoped).on_rollup(Some(GroupBy::Category), false).add(rollup_not_duplicate());
    // Per group: count now, summed baseline count; per group and driver: the same.
    let mut now: HashMap<String, i64> = HashMap::new();
    let mut before: HashMap<String, i64> = HashMap::new();
    let mut drivers_now: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    let mut drivers_before: HashMap<String, Vec<(String, f64)>> = HashMap::new();
    let mut driver_labels: HashMap<String, String> = HashMap::new();
    for n in 0..=3 {
        for (dims, count) in grouped(conn, base.clone().add(days_in(period.back(n)))).await? {
            let key = dims.key(group_by, names);
            let drivers = driver_keys(group_by, &dims, names);
            if n == 0 {
                *now.entry(key.clone()).or_default() += count;
                let list = drivers_now.entry(key).or_default();
                for (k, label) in drivers {
                    list.push((k.clone(), count));
                    driver_labels.insert(k, label);
                }
            } else {
                *before.entry(key.clone()).or_default() += count;
                let list = drivers_before.entry(key).or_default();
                for (k, label) in drivers {
                    list.push((k.clone(), count as f64 / 3.0));
                    driver_labels.insert(k, label);
                }
            }
        }
    }
    let keys: HashSet<&String> = now.keys().chain(before.keys()).collect();
    let mut out: Vec<GrowthItem> = keys
        .into_iter()
        .map(|key| {
            let count = now.get(key).copied().unwrap_or(0);
            let baseline = before.get(key).copied().unwrap_or(0) as f64 / 3.0;
            let growth = if baseline > 0.0 { count as f64 / baseline } else { count as f64 };
            let empty_now = Vec::new();
            let empty_before = Vec::new();
            let drivers = stats::drivers(
                drivers_now.get(key).unwrap_or(&empty_now),
                drivers_before.get(key).unwrap_or(&empty_before),
                DRIVERS,
            )
            .into_iter()
            .map(|(k, delta)| CountBy {
                label: driver_labels.get(&k).cloned().unwrap_or_else(|| k.clone()),
                key: k,
                count: delta,
            })
            .collect();
            GrowthItem {
                key: key.clone(),
                label: group_label(group_by, key, names),
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
    Ok(out)
}
