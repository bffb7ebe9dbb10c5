//! What the analytics share: reference names for labels, and the SQL of a filter over the
//! appeals and the rollups.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, Order, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::access::Scoped;
use super::{GroupBy, NONE_KEY, Period};
use crate::domain::labels::{NO_CATEGORY, NO_RECIPIENT, NO_TERRITORY, stored_channel_label};
use crate::entity::{appeal, appeal_due_stat, appeal_stat, category, recipient, territory};
use crate::error::AppResult;
use crate::service::rollup::{Cube, Grain, tile};
use crate::service::scope::territory_subtree;

/// Reference data for labels: categories, territories and recipients by id.
pub(super) struct Names {
    pub(super) categories: HashMap<i64, category::Model>,
    pub(super) territories: HashMap<i64, territory::Model>,
    pub(super) recipients: HashMap<i64, recipient::Model>,
}

impl Names {
    pub(super) async fn load(conn: &impl ConnectionTrait) -> AppResult<Self> {
        let categories = category::Entity::find().all(conn).await?.into_iter().map(|c| (c.id, c)).collect();
        let territories = territory::Entity::find().all(conn).await?.into_iter().map(|t| (t.id, t)).collect();
        let recipients = recipient::Entity::find().all(conn).await?.into_iter().map(|r| (r.id, r)).collect();
        Ok(Self { categories, territories, recipients })
    }

    /// The top-level category of a category.
    pub(super) fn top(&self, id: i64) -> i64 {
        self.categories.get(&id).and_then(|c| c.parent_id).unwrap_or(id)
    }

    pub(super) fn category(&self, id: Option<i64>) -> String {
        id.and_then(|i| self.categories.get(&i)).map_or_else(|| NO_CATEGORY.into(), |c| c.name.clone())
    }

    pub(super) fn territory(&self, id: Option<i64>) -> String {
        id.and_then(|i| self.territories.get(&i)).map_or_else(|| NO_TERRITORY.into(), |t| t.name.clone())
    }

    pub(super) fn recipient(&self, id: Option<i64>) -> String {
        id.and_then(|i| self.recipients.get(&i)).map_or_else(|| NO_RECIPIENT.into(), |r| r.name.clone())
    }
}

pub(super) fn id_key(id: Option<i64>) -> String {
    id.map_or_else(|| NONE_KEY.to_string(), |i| i.to_string())
}

/// The dimensions an appeal is grouped by.
#[derive(Debug, Clone, FromQueryResult)]
pub(super) struct Dims {
    pub(super) category_id: Option<i64>,
    pub(super) territory_id: Option<i64>,
    pub(super) channel: String,
    pub(super) recipient_id: Option<i64>,
}

impl Dims {
    pub(super) fn key(&self, by: GroupBy, names: &Names) -> String {
        match by {
            GroupBy::Category => id_key(self.category_id.map(|c| names.top(c))),
            GroupBy::Territory => id_key(self.territory_id),
            GroupBy::Channel => self.channel.clone(),
            GroupBy::Recipient => id_key(self.recipient_id),
        }
    }
}

pub(super) fn group_label(by: GroupBy, key: &str, names: &Names) -> String {
    let id = key.parse::<i64>().ok();
    match by {
        GroupBy::Category => names.category(id),
        GroupBy::Territory => names.territory(id),
        GroupBy::Channel => stored_channel_label(key),
        GroupBy::Recipient => names.recipient(id),
    }
}

/// A filter with its category and territory trees expanded to ids.
pub(super) struct Resolved {
    channel: Vec<String>,
    kind: Vec<String>,
    category: Option<HashSet<i64>>,
    /// Each set narrows (the filter's territories, then the caller's own subtree).
    territory: Vec<HashSet<i64>>,
    recipient: Vec<i64>,
}

impl Resolved {
    pub(super) async fn of(conn: &impl ConnectionTrait, names: &Names, scoped: &Scoped) -> AppResult<Self> {
        let f = scoped.filter();
        let category = (!f.category_id.is_empty()).then(|| {
            let wanted: HashSet<i64> = f.category_id.iter().copied().collect();
            wanted
                .iter()
                .copied()
                .chain(
                    names
                        .categories
                        .values()
                        .filter(|c| c.parent_id.is_some_and(|p| wanted.contains(&p)))
                        .map(|c| c.id),
                )
                .collect()
        });
        let mut territory = Vec::new();
        if !f.territory_id.is_empty() {
            let mut ids = HashSet::new();
            for root in &f.territory_id {
                ids.extend(territory_subtree(conn, *root).await?);
            }
            territory.push(ids);
        }
        if let Some(own) = scoped.territories() {
            territory.push(own.clone());
        }
        Ok(Self {
            channel: f.channel.iter().map(|s| s.as_str().to_string()).collect(),
            kind: f.kind.iter().map(|s| s.as_str().to_string()).collect(),
            category,
            territory,
            recipient: f.recipient_id.clone(),
        })
    }

    /// The condition over columns of one table (appeals or the rollup).
    pub(super) fn condition<C: ColumnTrait>(
        &self,
        channel: C,
        kind: C,
        category: C,
        territory: C,
        recipient: C,
    ) -> Condition {
        let mut c = Condition::all();
        if !self.channel.is_empty() {
            c = c.add(channel.is_in(self.channel.iter().cloned()));
        }
        if !self.kind.is_empty() {
            c = c.add(kind.is_in(self.kind.iter().cloned()));
        }
        if let Some(ids) = &self.category {
            c = c.add(category.is_in(ids.iter().copied()));
        }
        for ids in &self.territory {
            c = c.add(territory.is_in(ids.iter().copied()));
        }
        if !self.recipient.is_empty() {
            c = c.add(recipient.is_in(self.recipient.iter().copied()));
        }
        c
    }

    pub(super) fn on_appeals(&self) -> Condition {
        use appeal::Column as C;
        self.condition(C::Channel, C::Kind, C::CategoryId, C::TerritoryId, C::RecipientId)
    }

    /// The condition over `appeal_stats`, on the smallest cube that holds the filter's
    /// dimensions and `by` (none: totals, channel, kind or status only).
    pub(super) fn on_rollup(&self, by: Option<GroupBy>) -> Condition {
        use appeal_stat::Column as S;
        let needs_all = self.category.is_some()
            || !self.territory.is_empty()
            || !self.recipient.is_empty()
            || matches!(by, Some(GroupBy::Category | GroupBy::Territory | GroupBy::Recipient));
        let cube = if needs_all { Cube::Full } else { Cube::Overview };
        self.condition(S::Channel, S::Kind, S::CategoryId, S::TerritoryId, S::RecipientId).add(S::Cube.eq(cube.code()))
    }
}

/// The SQL condition of a scoped filter over `appeals` (category and territory trees expanded).
pub(super) async fn filter_condition(
    conn: &impl ConnectionTrait,
    names: &Names,
    scoped: &Scoped,
) -> AppResult<Condition> {
    Ok(Resolved::of(conn, names, scoped).await?.on_appeals())
}

/// A column of appeals or of one of the rollups, so one closure can narrow all three.
#[derive(Clone, Copy)]
pub(super) enum C2 {
    A(appeal::Column),
    S(appeal_stat::Column),
    D(appeal_due_stat::Column),
}

impl C2 {
    pub(super) fn expr(self) -> Expr {
        match self {
            Self::A(c) => Expr::col((appeal::Entity, c)),
            Self::S(c) => Expr::col((appeal_stat::Entity, c)),
            Self::D(c) => Expr::col((appeal_due_stat::Entity, c)),
        }
    }

    pub(super) fn is_not_null(self) -> Condition {
        Condition::all().add(self.expr().is_not_null())
    }

    pub(super) fn eq(self, v: &str) -> Condition {
        Condition::all().add(self.expr().eq(v))
    }

    pub(super) fn is_in(self, v: impl IntoIterator<Item = i64>) -> Condition {
        Condition::all().add(self.expr().is_in(v))
    }
}

/// The rollup rows that together count the local days of a period once: whole months,
/// then whole weeks, then single days, none coarser than `coarsest`.
pub(super) fn buckets_of(period: Period, coarsest: Grain, grain: C2, day: C2) -> Condition {
    let mut any = Condition::any();
    for (g, first, last) in tile(period.from, period.to, coarsest) {
        any = any
            .add(Condition::all().add(grain.expr().eq(g.code())).add(day.expr().gte(first)).add(day.expr().lte(last)));
    }
    any
}

/// [`buckets_of`] over `appeal_stats`, with months as the coarsest grain.
pub(super) fn days_in(period: Period) -> Condition {
    buckets_of(period, Grain::Month, C2::S(appeal_stat::Column::Grain), C2::S(appeal_stat::Column::Day))
}

/// Rollup rows of appeals that are not duplicates.
pub(super) fn rollup_not_duplicate() -> Condition {
    Condition::all().add(appeal_stat::Column::Duplicate.eq(false))
}

/// The rollup's `CAST(SUM(col) AS BIGINT)`.
pub(super) fn sum_of(col: &str) -> Expr {
    Expr::cust(crate::service::rollup::sum_of(col))
}

pub(super) fn received_in(start: DateTime<Utc>, end: DateTime<Utc>) -> Condition {
    Condition::all().add(appeal::Column::ReceivedAt.gte(start)).add(appeal::Column::ReceivedAt.lt(end))
}

pub(super) fn not_duplicate() -> Condition {
    Condition::all().add(appeal::Column::DuplicateOfId.is_null())
}

/// `SUM(CASE WHEN cond THEN 1 ELSE 0 END)`: how many rows meet `cond`.
pub(super) fn count_if(cond: Condition) -> Expr {
    Func::sum(Expr::case(cond, Expr::cust("1")).finally(Expr::cust("0"))).into()
}

pub(super) fn count_all() -> Expr {
    Func::count(Expr::col(appeal::Column::Id)).into()
}

/// Hours from receipt to answer. Date arithmetic differs per backend; the migration that
/// indexes it holds the one text of each.
pub(super) fn response_hours(backend: DatabaseBackend) -> Expr {
    use migration::m20261129_000012_appeal_rollups::{RESPONSE_HOURS_PG, RESPONSE_HOURS_SQLITE};
    match backend {
        DatabaseBackend::Postgres => Expr::cust(RESPONSE_HOURS_PG),
        _ => Expr::cust(RESPONSE_HOURS_SQLITE),
    }
}

/// The exact median response hours of the `n` answered appeals matching `answered` (`n`
/// comes from the rollup): the middle one or two values of a walk along the response-time
/// index, so nothing sorts all answers.
pub(super) async fn median_hours(conn: &impl ConnectionTrait, answered: Condition, n: i64) -> AppResult<Option<f64>> {
    if n <= 0 {
        return Ok(None);
    }
    let hours = response_hours(conn.get_database_backend());
    let middle: Vec<f64> = appeal::Entity::find()
        .filter(answered)
        .select_only()
        .expr_as(hours.clone(), "hours")
        .order_by(hours, Order::Asc)
        .offset(((n - 1) / 2) as u64)
        .limit(if n % 2 == 0 { 2 } else { 1 })
        .into_tuple::<f64>()
        .all(conn)
        .await?;
    Ok((!middle.is_empty()).then(|| middle.iter().sum::<f64>() / middle.len() as f64))
}
