//! What the analytics share: reference names for labels, and the SQL of a filter over the
//! appeals and the rollups.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, Order, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
};

use super::access::Scoped;
use super::{GroupBy, NONE_KEY, Period};
use crate::domain::labels::{NO_CATEGORY, NO_RECIPIENT, NO_TERRITORY, stored_channel_label};
use crate::entity::{appeal, appeal_due_stat, appeal_open_stat, appeal_point_stat, appeal_response_stat, appeal_stat};
use crate::error::AppResult;
use crate::service::rollup::{Cube, Grain, tile};
use crate::state::AppState;

/// Reference data for labels: categories, territories and recipients by id.
pub(super) struct Names {
    refs: std::sync::Arc<crate::state::ReferenceData>,
}

impl Names {
    /// The reference data in memory (no statement unless it changed since it was read).
    pub(super) async fn load(state: &AppState) -> AppResult<Self> {
        Ok(Self { refs: crate::service::reference::snapshot(state).await? })
    }

    /// The reference data itself: lookups by id, lists and the territory tree.
    pub(super) fn refs(&self) -> &crate::state::ReferenceData {
        &self.refs
    }

    /// The top-level category of a category.
    pub(super) fn top(&self, id: i64) -> i64 {
        self.refs.category(id).and_then(|c| c.parent_id).unwrap_or(id)
    }

    pub(super) fn category(&self, id: Option<i64>) -> String {
        id.and_then(|i| self.refs.category(i)).map_or_else(|| NO_CATEGORY.into(), |c| c.name.clone())
    }

    pub(super) fn territory(&self, id: Option<i64>) -> String {
        id.and_then(|i| self.refs.territory(i)).map_or_else(|| NO_TERRITORY.into(), |t| t.name.clone())
    }

    pub(super) fn recipient(&self, id: Option<i64>) -> String {
        id.and_then(|i| self.refs.recipient(i)).map_or_else(|| NO_RECIPIENT.into(), |r| r.name.clone())
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
    pub(super) fn of(names: &Names, scoped: &Scoped) -> Self {
        let f = scoped.filter();
        let category = (!f.category_id.is_empty()).then(|| {
            let wanted: HashSet<i64> = f.category_id.iter().map(|c| c.0).collect();
            wanted
                .iter()
                .copied()
                .chain(
                    names.refs.categories().filter(|c| c.parent_id.is_some_and(|p| wanted.contains(&p))).map(|c| c.id),
                )
                .collect()
        });
        let mut territory = Vec::new();
        if !f.territory_id.is_empty() {
            let mut ids = HashSet::new();
            for root in &f.territory_id {
                ids.extend(names.refs.territory_subtree(root.0));
            }
            territory.push(ids);
        }
        if let Some(own) = scoped.territories() {
            territory.push(own.clone());
        }
        Self {
            channel: f.channel.iter().map(|s| s.as_str().to_string()).collect(),
            kind: f.kind.iter().map(|s| s.as_str().to_string()).collect(),
            category,
            territory,
            recipient: f.recipient_id.iter().map(|r| r.0).collect(),
        }
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
    /// dimensions, `by` (none: totals, channel, kind or status only) and, when `status`, the
    /// status (the topic cube keeps every dimension but that one).
    pub(super) fn on_rollup(&self, by: Option<GroupBy>, status: bool) -> Condition {
        use appeal_stat::Column as S;
        let needs_all = self.category.is_some()
            || !self.territory.is_empty()
            || !self.recipient.is_empty()
            || matches!(by, Some(GroupBy::Category | GroupBy::Territory | GroupBy::Recipient));
        let cube = match (needs_all, status) {
            (false, _) => Cube::Overview,
            (true, true) => Cube::Full,
            (true, false) => Cube::Topic,
        };
        self.condition(S::Channel, S::Kind, S::CategoryId, S::TerritoryId, S::RecipientId).add(S::Cube.eq(cube.code()))
    }

    /// The condition over `appeal_response_stats` that counts exactly the filter's answers,
    /// when its cubes keep the filter's dimensions (channel, kind, recipient); `None` with a
    /// category or territory in the filter or the caller's reach.
    pub(super) fn on_responses(&self) -> Option<Condition> {
        use appeal_response_stat::Column as R;
        if self.category.is_some() || !self.territory.is_empty() {
            return None;
        }
        let cube = if self.recipient.is_empty() { Cube::Overview } else { Cube::Full };
        let mut c = Condition::all().add(R::Cube.eq(cube.code()));
        if !self.channel.is_empty() {
            c = c.add(R::Channel.is_in(self.channel.iter().cloned()));
        }
        if !self.kind.is_empty() {
            c = c.add(R::Kind.is_in(self.kind.iter().cloned()));
        }
        if !self.recipient.is_empty() {
            c = c.add(R::RecipientId.is_in(self.recipient.iter().copied()));
        }
        Some(c)
    }

    /// The condition over cube `O` of `appeal_open_stats` (unresolved appeals by the bucket of
    /// their receipt; it keeps channel and kind), when the filter and the caller's reach name no other dimension; `None`
    /// otherwise.
    pub(super) fn on_open(&self) -> Option<Condition> {
        use appeal_open_stat::Column as O;
        if self.category.is_some() || !self.territory.is_empty() || !self.recipient.is_empty() {
            return None;
        }
        // The category, territory and recipient columns are never named (checked above).
        let c = self.condition(O::Channel, O::Kind, O::Kind, O::TerritoryId, O::RecipientId);
        Some(c.add(O::Cube.eq(Cube::Overview.code())))
    }

    /// The condition over `appeal_point_stats` (problem points by the bucket of receipt; it
    /// keeps category and territory), when the filter and the caller's reach name no channel,
    /// kind or recipient; `None` otherwise.
    pub(super) fn on_points(&self) -> Option<Condition> {
        use appeal_point_stat::Column as P;
        if !self.channel.is_empty() || !self.kind.is_empty() || !self.recipient.is_empty() {
            return None;
        }
        let mut c = Condition::all();
        if let Some(ids) = &self.category {
            c = c.add(P::CategoryId.is_in(ids.iter().copied()));
        }
        for ids in &self.territory {
            c = c.add(P::TerritoryId.is_in(ids.iter().copied()));
        }
        Some(c)
    }

    /// The condition over cube `R` of `appeal_open_stats` (unresolved appeals by the bucket
    /// of their deadline; it keeps channel, territory and recipient), when the filter names
    /// no kind or category; `None` otherwise.
    pub(super) fn on_open_due(&self) -> Option<Condition> {
        use appeal_open_stat::Column as O;
        if self.category.is_some() || !self.kind.is_empty() {
            return None;
        }
        // The category column is never named (checked above); the cube keeps no category.
        Some(
            self.condition(O::Channel, O::Kind, O::Kind, O::TerritoryId, O::RecipientId)
                .add(O::Cube.eq(Cube::Recipient.code())),
        )
    }
}

/// The instants `[from, to)` of the bucket of `grain` starting on local day `start`.
pub(super) fn bucket_instants(grain: Grain, start: NaiveDate, tz: chrono_tz::Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    Period { from: start, to: grain.end(start) }.instants(tz)
}

/// The SQL condition of a scoped filter over `appeals` (category and territory trees expanded).
pub(super) fn filter_condition(names: &Names, scoped: &Scoped) -> Condition {
    Resolved::of(names, scoped).on_appeals()
}

/// A column of appeals or of one of the rollups, so one closure can narrow all three.
#[derive(Clone, Copy)]
pub(super) enum C2 {
    A(appeal::Column),
    S(appeal_stat::Column),
    D(appeal_due_stat::Column),
    R(appeal_response_stat::Column),
    O(appeal_open_stat::Column),
    P(appeal_point_stat::Column),
}

impl C2 {
    pub(super) fn expr(self) -> Expr {
        match self {
            Self::A(c) => Expr::col((appeal::Entity, c)),
            Self::S(c) => Expr::col((appeal_stat::Entity, c)),
            Self::D(c) => Expr::col((appeal_due_stat::Entity, c)),
            Self::R(c) => Expr::col((appeal_response_stat::Entity, c)),
            Self::O(c) => Expr::col((appeal_open_stat::Entity, c)),
            Self::P(c) => Expr::col((appeal_point_stat::Entity, c)),
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

/// `COUNT(*)`: counts rows without reading a column, so a partial index that holds the
/// condition's columns but not the id still answers alone (index-only on PostgreSQL).
pub(super) fn count_all() -> Expr {
    Expr::cust("COUNT(*)")
}

/// Hours from receipt to the first answer (the one the analytics count, kept through
/// reopenings). Date arithmetic differs per backend; the migration that indexes it holds the
/// one text of each.
pub(super) fn response_hours(backend: DatabaseBackend) -> Expr {
    use migration::m20261220_000001_appeal_answers::{FIRST_RESPONSE_HOURS_PG, FIRST_RESPONSE_HOURS_SQLITE};
    match backend {
        DatabaseBackend::Postgres => Expr::cust(FIRST_RESPONSE_HOURS_PG),
        _ => Expr::cust(FIRST_RESPONSE_HOURS_SQLITE),
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

/// The answered appeals of one median: their condition over `appeals`, how many there are
/// (from the rollup), and their response-time histogram when a rollup holds one for exactly
/// these appeals.
pub(super) struct MedianOf {
    pub(super) key: i64,
    pub(super) answered: Condition,
    pub(super) n: i64,
    pub(super) histogram: Option<BTreeMap<i32, i64>>,
}

/// One walk along `ix_appeals_first_response`: `limit` values from `offset` in the order of
/// response time, within one histogram bucket (`expect` values there) or over all answers.
struct Walk {
    key: i64,
    bucket: Option<i32>,
    offset: i64,
    limit: i64,
    expect: Option<i64>,
}

/// The 0-based ranks of the one or two middle values of `n`.
fn middle(n: i64) -> [i64; 2] {
    [(n - 1) / 2, n / 2]
}

/// Where the histograms of [`medians`] come from: a condition over `appeal_response_stats`
/// (one cube), the period, and whether they are kept per recipient (the keys of the
/// medians) or as one (key 0).
pub(super) struct HistogramsOf {
    pub(super) cond: Condition,
    pub(super) period: Period,
    pub(super) per_recipient: bool,
}

/// Exact medians of response hours, keyed as asked: one grouped read of the histograms
/// (when `from` is given; their counts then replace `n`) and ONE walk statement whatever the
/// number of medians, both in one snapshot (repeatable read on PostgreSQL, a read
/// transaction on SQLite), so the counts and the answers agree. The histogram tells which
/// bucket holds each middle value and its rank there, so each walk reads only that bucket's
/// stretch of the response-time index (without a histogram, the whole index up to the
/// middle). A walk whose bucket does not hold the number of answers the histogram says is
/// redone as a full walk.
pub(super) async fn medians(
    db: &sea_orm::DatabaseConnection,
    from: Option<HistogramsOf>,
    mut of: Vec<MedianOf>,
) -> AppResult<HashMap<i64, f64>> {
    use sea_orm::{IsolationLevel, TransactionOptions, TransactionTrait};
    let isolation_level =
        (db.get_database_backend() == DatabaseBackend::Postgres).then_some(IsolationLevel::RepeatableRead);
    let txn = db.begin_with_options(TransactionOptions { isolation_level, ..Default::default() }).await?;
    if let Some(h) = from {
        let mut all = histograms(&txn, h.cond, h.period, h.per_recipient).await?;
        for m in &mut of {
            let histogram = all.remove(&m.key).unwrap_or_default();
            m.n = histogram.values().sum();
            m.histogram = Some(histogram);
        }
    }
    let out = walk_medians(&txn, of).await?;
    txn.commit().await?;
    Ok(out)
}

async fn walk_medians(conn: &impl ConnectionTrait, of: Vec<MedianOf>) -> AppResult<HashMap<i64, f64>> {
    let backend = conn.get_database_backend();
    let hours = response_hours(backend);
    let mut walks: Vec<Walk> = Vec::new();
    for m in of.iter().filter(|m| m.n > 0) {
        let total: i64 = m.histogram.as_ref().map_or(-1, |h| h.values().sum());
        match &m.histogram {
            Some(h) if total == m.n => {
                // (bucket, first rank of the bucket, count) of the buckets holding the middle.
                let mut seen = 0_i64;
                let mut needed: Vec<(i32, i64, i64)> = Vec::new();
                for (b, c) in h.iter().filter(|(_, c)| **c > 0) {
                    if middle(m.n).iter().any(|r| *r >= seen && *r < seen + c) {
                        needed.push((*b, seen, *c));
                    }
                    seen += c;
                }
                for (b, first, c) in needed {
                    let ranks: Vec<i64> = middle(m.n).into_iter().filter(|r| *r >= first && *r < first + c).collect();
                    let (lo, hi) = (ranks[0], ranks[ranks.len() - 1]);
                    walks.push(Walk {
                        key: m.key,
                        bucket: Some(b),
                        offset: lo - first,
                        limit: hi - lo + 1,
                        expect: Some(c),
                    });
                }
            }
            _ => {
                let [lo, hi] = middle(m.n);
                walks.push(Walk { key: m.key, bucket: None, offset: lo, limit: hi - lo + 1, expect: None });
            }
        }
    }
    if walks.is_empty() {
        return Ok(HashMap::new());
    }
    let conds: HashMap<i64, &Condition> = of.iter().map(|m| (m.key, &m.answered)).collect();
    // `SELECT * FROM (walk) AS w0 UNION ALL SELECT * FROM (walk) AS w1 …`, each walk built
    // on its own and its placeholders renumbered (PostgreSQL's `$n`) to follow the ones before.
    let mut sql = String::new();
    let mut values: Vec<sea_orm::Value> = Vec::new();
    for (i, w) in walks.iter().enumerate() {
        let mut cond = conds.get(&w.key).map_or_else(Condition::all, |c| (*c).clone());
        if let Some(b) = w.bucket {
            let (from, to) = crate::service::rollup::bucket_hours(b);
            if let Some(f) = from {
                cond = cond.add(hours.clone().gte(f));
            }
            if let Some(t) = to {
                cond = cond.add(hours.clone().lt(t));
            }
        }
        let walk = appeal::Entity::find()
            .filter(cond)
            .select_only()
            .expr_as(Expr::cust(format!("CAST({i} AS BIGINT)")), "walk")
            .expr_as(hours.clone(), "hours")
            .expr_as(Expr::cust("COUNT(*) OVER ()"), "n")
            .order_by(hours.clone(), Order::Asc)
            .offset(u64::try_from(w.offset).unwrap_or(0))
            .limit(u64::try_from(w.limit).unwrap_or(1))
            .build(backend);
        let text = if backend == DatabaseBackend::Postgres { renumbered(&walk.sql, values.len()) } else { walk.sql };
        if i > 0 {
            sql.push_str(" UNION ALL ");
        }
        sql.push_str("SELECT * FROM (");
        sql.push_str(&text);
        sql.push_str(") AS w");
        sql.push_str(&i.to_string());
        values.extend(walk.values.map(|v| v.0).unwrap_or_default());
    }
    let rows = conn.query_all_raw(sea_orm::Statement::from_sql_and_values(backend, sql, values)).await?;
    // Per walk: its values in order, and the number of answers in its stretch.
    let mut got: HashMap<usize, (Vec<f64>, i64)> = HashMap::new();
    for r in rows {
        let walk: i64 = r.try_get("", "walk")?;
        let e = got.entry(usize::try_from(walk).unwrap_or(usize::MAX)).or_default();
        e.0.push(r.try_get("", "hours")?);
        e.1 = r.try_get("", "n")?;
    }
    let mut values: HashMap<i64, Vec<f64>> = HashMap::new();
    let mut redo: HashSet<i64> = HashSet::new();
    for (i, w) in walks.iter().enumerate() {
        let (mut v, n) = got.remove(&i).unwrap_or_default();
        if v.len() as i64 != w.limit || w.expect.is_some_and(|e| e != n) {
            redo.insert(w.key);
            continue;
        }
        v.sort_by(f64::total_cmp);
        values.entry(w.key).or_default().extend(v);
    }
    let mut out = HashMap::new();
    for m in &of {
        if m.n <= 0 {
            continue;
        }
        if redo.contains(&m.key) {
            if let Some(v) = median_hours(conn, m.answered.clone(), m.n).await? {
                out.insert(m.key, v);
            }
            continue;
        }
        if let Some(v) = values.get(&m.key).filter(|v| !v.is_empty()) {
            out.insert(m.key, v.iter().sum::<f64>() / v.len() as f64);
        }
    }
    Ok(out)
}

/// Response-time histograms from the rollup: answered appeals per bucket, per value of the
/// grouping column (`None`: one histogram under key 0), over the buckets of the period.
pub(super) async fn histograms(
    conn: &impl ConnectionTrait,
    cond: Condition,
    period: Period,
    per_recipient: bool,
) -> AppResult<HashMap<i64, BTreeMap<i32, i64>>> {
    use appeal_response_stat::Column as R;
    let cond = cond.add(buckets_of(period, Grain::Month, C2::R(R::Grain), C2::R(R::Day)));
    let mut q = appeal_response_stat::Entity::find().filter(cond).select_only();
    q = if per_recipient {
        q.column(R::RecipientId).group_by(R::RecipientId)
    } else {
        q.expr_as(Expr::val(0_i64), "recipient_id")
    };
    let rows = q
        .column(R::Bucket)
        .expr_as(sum_of("answered"), "n")
        .group_by(R::Bucket)
        .into_tuple::<(Option<i64>, i32, i64)>()
        .all(conn)
        .await?;
    let mut out: HashMap<i64, BTreeMap<i32, i64>> = HashMap::new();
    for (key, bucket, n) in rows {
        if n != 0 {
            *out.entry(key.unwrap_or(0)).or_default().entry(bucket).or_default() += n;
        }
    }
    Ok(out)
}

/// `$1 … $n` of a PostgreSQL statement moved up by `by`.
fn renumbered(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' {
            let mut n = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n.push(*d);
                chars.next();
            }
            match n.parse::<usize>() {
                Ok(k) => out.push_str(&(k + by).to_string()),
                Err(_) => out.push_str(&n),
            }
        }
    }
    out
}

/// An incident's first reactions of a group: how many, how many by their term, and the exact
/// median of their working hours.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct ReactionStats {
    pub(super) reacted: i64,
    pub(super) on_time: i64,
    pub(super) median_hours: Option<f64>,
}

impl ReactionStats {
    /// Reactions by their term ÷ reactions; `None` without any.
    pub(super) fn on_time_rate(&self) -> Option<f64> {
        crate::domain::rating::rate(self.on_time, self.reacted)
    }
}

/// The first reactions of the incidents matching `cond` (receipt in the period and the
/// caller's filters), per recipient (`per_recipient`) or as one (key 0), computed per period
/// from the facts in ONE statement: window functions number the reactions of each group by
/// working hours and count them and those on time, and only the one or two middle rows of
/// each group come back (index `ix_appeals_reaction` over the reacted incidents by receipt).
pub(super) async fn reaction_stats(
    conn: &impl ConnectionTrait,
    cond: Condition,
    per_recipient: bool,
) -> AppResult<HashMap<i64, ReactionStats>> {
    let backend = conn.get_database_backend();
    let key = if per_recipient { "recipient_id" } else { "CAST(0 AS BIGINT)" };
    let inner = appeal::Entity::find()
        .filter(
            cond.add(appeal::Column::Kind.eq("INCIDENT"))
                .add(appeal::Column::ReactionHours.is_not_null())
                .add(appeal::Column::ReactionDueAt.is_not_null()),
        )
        .select_only()
        .expr_as(Expr::cust(key), "k")
        .expr_as(Expr::cust("reaction_hours"), "h")
        .expr_as(Expr::cust(format!("ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY reaction_hours)")), "rn")
        .expr_as(Expr::cust(format!("COUNT(*) OVER (PARTITION BY {key})")), "n")
        .expr_as(
            Expr::cust(format!(
                "SUM(CASE WHEN reacted_at <= reaction_due_at THEN 1 ELSE 0 END) OVER (PARTITION BY {key})"
            )),
            "met",
        )
        .build(backend);
    let sql = format!(
        "SELECT k, h, CAST(rn AS BIGINT) AS rn, CAST(n AS BIGINT) AS n, CAST(met AS BIGINT) AS met \
         FROM ({}) AS w WHERE 2 * rn >= n AND 2 * rn <= n + 2",
        inner.sql
    );
    let values = inner.values.map(|v| v.0).unwrap_or_default();
    let rows = conn.query_all_raw(sea_orm::Statement::from_sql_and_values(backend, sql, values)).await?;
    let mut middle: HashMap<i64, Vec<f64>> = HashMap::new();
    let mut out: HashMap<i64, ReactionStats> = HashMap::new();
    for r in rows {
        let k: Option<i64> = r.try_get("", "k")?;
        let k = k.unwrap_or(0);
        middle.entry(k).or_default().push(r.try_get("", "h")?);
        let e = out.entry(k).or_default();
        e.reacted = r.try_get("", "n")?;
        e.on_time = r.try_get("", "met")?;
    }
    for (k, v) in middle {
        if let Some(e) = out.get_mut(&k) {
            e.median_hours = Some(v.iter().sum::<f64>() / v.len() as f64);
        }
    }
    Ok(out)
}
