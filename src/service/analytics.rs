//! Analytics over appeals: summary KPIs, the topic × territory heat map, map cells, trends,
//! growth detection, problem points, the recipient rating and the weekly memo.
//!
//! Aggregates only, never personal data. Periods are inclusive ranges of local dates in the
//! municipality's time zone; an appeal belongs to a period by its `received_at`. Duplicates
//! (`duplicate_of_id` set) are left out of problem counts (heat map, map cells, trend, growth,
//! problem points) so that a cluster of repeated appeals counts once; the summary and the
//! rating count them, as they are work the administration did.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, Order, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::appeal_query::{local_midnight, sla_condition};
use super::rollup::{Cube, Grain, tile};
use super::scope::territory_subtree;
use crate::domain::access::Channel;
use crate::domain::deadlines::{AppealKind, SlaState};
use crate::domain::lifecycle::AppealStatus;
use crate::domain::rating::rate;
use crate::domain::stats;
use crate::entity::{appeal, appeal_due_stat, appeal_stat, category, recipient, territory};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Key of appeals without a category, territory or recipient where results are grouped.
pub const NONE_KEY: &str = "none";
/// One-sided significance level of the growth test.
const GROWTH_ALPHA: f64 = 0.05;
/// A group needs at least this many appeals in the period to be a significant rise.
const GROWTH_MIN_COUNT: u64 = 5;
/// Drivers listed per growth item.
const DRIVERS: usize = 5;
/// Longest period accepted, in days (ten years).
const MAX_PERIOD_DAYS: i64 = 3660;
/// H3 resolution of problem points (cells of about 0.1 km²).
pub const PROBLEM_POINT_RESOLUTION: u8 = 9;

/// An inclusive range of local dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// Checks the range: `from ≤ to` and at most ten years long.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` on `{path}.to`.
    pub fn new(path: &str, from: NaiveDate, to: NaiveDate) -> AppResult<Self> {
        if from > to {
            return Err(AppError::bad(format!("{path}.to"), "must not be before from"));
        }
        if (to - from).num_days() >= MAX_PERIOD_DAYS {
            return Err(AppError::bad(format!("{path}.to"), "the period may be at most ten years long"));
        }
        Ok(Self { from, to })
    }

    /// Number of days in the period.
    pub fn days(self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The period of the same length `n` lengths earlier (`n = 1`: just before this one).
    #[must_use]
    pub fn back(self, n: i64) -> Self {
        let shift = Duration::days(self.days() * n);
        Self { from: self.from - shift, to: self.to - shift }
    }

    /// `[start, end)` as instants.
    pub fn instants(self, tz: chrono_tz::Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let next = self.to.succ_opt().unwrap_or(self.to);
        (local_midnight(tz, self.from), local_midnight(tz, next))
    }
}

/// Which appeals an analytic counts; every present filter narrows it.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub channel: Vec<Channel>,
    pub kind: Vec<AppealKind>,
    /// A top-level category includes its subcategories.
    pub category_id: Vec<i64>,
    /// A territory includes its whole subtree.
    pub territory_id: Vec<i64>,
    pub recipient_id: Vec<i64>,
    /// The caller's own territory (a user limited to a territory sees its subtree only).
    pub within_territory: Option<i64>,
}

/// How results are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// By top-level category (a subcategory counts for its parent).
    Category,
    Territory,
    Channel,
    Recipient,
}

/// Trend bucket length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Day,
    /// ISO weeks, Monday first.
    Week,
    Month,
}

/// A count under a key with a Russian label.
#[derive(Debug, Clone, PartialEq)]
pub struct CountBy {
    pub key: String,
    pub label: String,
    pub count: i64,
}

/// Summary KPIs of a period.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub total: i64,
    pub by_channel: Vec<CountBy>,
    pub by_kind: Vec<CountBy>,
    pub by_status: Vec<CountBy>,
    pub answered: i64,
    pub answered_on_time: i64,
    pub overdue_now: i64,
    pub due_soon_now: i64,
    pub median_response_hours: Option<f64>,
    pub satisfied: i64,
    pub rated: i64,
    pub full: i64,
    pub assessed: i64,
    pub reopened: i64,
}

impl Summary {
    /// answeredOnTime / answered.
    pub fn on_time_rate(&self) -> Option<f64> {
        rate(self.answered_on_time, self.answered)
    }
    /// satisfied / rated.
    pub fn satisfied_rate(&self) -> Option<f64> {
        rate(self.satisfied, self.rated)
    }
    /// FULL / assessed.
    pub fn full_answer_rate(&self) -> Option<f64> {
        rate(self.full, self.assessed)
    }
    /// reopened at least once / total.
    pub fn reopened_rate(&self) -> Option<f64> {
        rate(self.reopened, self.total)
    }
}

/// One cell of the heat map.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatCell {
    pub category_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub count: i64,
    pub previous_count: i64,
    pub per1000: Option<f64>,
}

/// The heat map: cells and the categories and territories that occur in them.
#[derive(Debug, Clone, Default)]
pub struct Heatmap {
    pub categories: Vec<category::Model>,
    pub territories: Vec<territory::Model>,
    pub cells: Vec<HeatCell>,
}

/// One H3 cell of the map.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoCell {
    pub cell: String,
    pub latitude: f64,
    pub longitude: f64,
    pub count: i64,
    pub top_category_id: Option<i64>,
}

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

/// Growth of one group over its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowthItem {
    pub key: String,
    pub label: String,
    pub count: i64,
    pub baseline: f64,
    pub growth: f64,
    pub significant: bool,
    pub drivers: Vec<CountBy>,
}

/// Many appeals on one topic in one small place.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemPoint {
    pub cell: String,
    pub latitude: f64,
    pub longitude: f64,
    pub category_id: i64,
    pub count: i64,
    /// Up to three appeals of the point, newest first (callers filter them by their scope).
    pub sample_ids: Vec<i64>,
}

/// One recipient's line of the rating.
#[derive(Debug, Clone, PartialEq)]
pub struct RatingRow {
    pub recipient: recipient::Model,
    pub rank: Option<i32>,
    pub total: i64,
    pub on_time_rate: Option<f64>,
    pub full_answer_rate: Option<f64>,
    pub satisfied_rate: Option<f64>,
    pub median_response_hours: Option<f64>,
    pub score: Option<f64>,
    pub enough_data: bool,
}

/// The weekly analytical note to the Head of the city.
#[derive(Debug, Clone)]
pub struct Memo {
    pub week_start: NaiveDate,
    pub week_end: NaiveDate,
    pub summary: Summary,
    pub previous: Summary,
    pub top_growth: Vec<GrowthItem>,
    /// Keys of the topics whose rise was significant the week before too.
    pub rising_before: HashSet<String>,
    /// Roadmaps not completed or cancelled, by the key of their top-level topic (titles).
    pub topic_roadmaps: HashMap<String, Vec<String>>,
    pub problem_points: Vec<MemoPoint>,
    /// Open overdue appeals now, per responsible recipient, most first.
    pub overdue_by_recipient: Vec<OverdueGroup>,
    /// The open appeals overdue longest (numbers and topics only, no personal data).
    pub overdue_oldest: Vec<OverdueLine>,
    /// Unfinished measures of approved or running roadmaps past their due date.
    pub overdue_measures: Vec<MeasureLine>,
    pub rating: Vec<RatingRow>,
    pub recommendations: Vec<String>,
    pub markdown: String,
    /// The municipality's time zone, for the dates in the text.
    pub timezone: chrono_tz::Tz,
}

/// A problem point as the memo names it.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoPoint {
    pub category: String,
    pub latitude: f64,
    pub longitude: f64,
    pub count: i64,
}

/// Open overdue appeals of one responsible recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct OverdueGroup {
    pub recipient: String,
    pub count: i64,
    pub oldest_due: DateTime<Utc>,
}

/// One overdue appeal in the memo.
#[derive(Debug, Clone, PartialEq)]
pub struct OverdueLine {
    pub number: String,
    pub category: String,
    pub recipient: String,
    pub due_at: DateTime<Utc>,
}

/// One overdue roadmap measure.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasureLine {
    pub roadmap: String,
    pub measure: String,
    pub responsible: String,
    pub due: NaiveDate,
}

/// Problem points named in the memo.
const MEMO_POINTS: usize = 5;
/// Overdue appeals listed in the memo.
const MEMO_OVERDUE: u64 = 10;

/// Russian label of a channel.
pub fn channel_label(c: Channel) -> &'static str {
    match c {
        Channel::Pos => "ПОС",
        Channel::Incident => "Инцидент менеджмент",
        Channel::Gospabliki => "Госпаблики",
        Channel::Email => "Электронная почта",
        Channel::Post => "Почта",
        Channel::Personal => "Личный приём",
        Channel::Phone => "Телефон",
        Channel::Website => "Сайт",
        Channel::Other => "Другое",
    }
}

/// Russian label of a kind.
pub fn kind_label(k: AppealKind) -> &'static str {
    match k {
        AppealKind::Appeal => "Обращение (59-ФЗ)",
        AppealKind::Message => "Сообщение",
        AppealKind::Incident => "Инцидент",
    }
}

/// Russian label of a status.
pub fn status_label(s: AppealStatus) -> &'static str {
    match s {
        AppealStatus::Received => "Поступило",
        AppealStatus::Registered => "Зарегистрировано",
        AppealStatus::Assigned => "Передано исполнителю",
        AppealStatus::InProgress => "В работе",
        AppealStatus::Answered => "Дан ответ",
        AppealStatus::Closed => "Закрыто",
        AppealStatus::Redirected => "Переадресовано",
        AppealStatus::WithoutAnswer => "Оставлено без ответа",
        AppealStatus::Reopened => "Повторное рассмотрение",
        AppealStatus::Duplicate => "Дубликат",
    }
}

/// Reference data for labels: categories, territories and recipients by id.
struct Names {
    categories: HashMap<i64, category::Model>,
    territories: HashMap<i64, territory::Model>,
    recipients: HashMap<i64, recipient::Model>,
}

impl Names {
    async fn load(conn: &impl ConnectionTrait) -> AppResult<Self> {
        let categories = category::Entity::find().all(conn).await?.into_iter().map(|c| (c.id, c)).collect();
        let territories = territory::Entity::find().all(conn).await?.into_iter().map(|t| (t.id, t)).collect();
        let recipients = recipient::Entity::find().all(conn).await?.into_iter().map(|r| (r.id, r)).collect();
        Ok(Self { categories, territories, recipients })
    }

    /// The top-level category of a category.
    fn top(&self, id: i64) -> i64 {
        self.categories.get(&id).and_then(|c| c.parent_id).unwrap_or(id)
    }

    fn category(&self, id: Option<i64>) -> String {
        id.and_then(|i| self.categories.get(&i)).map_or_else(|| "Без категории".into(), |c| c.name.clone())
    }

    fn territory(&self, id: Option<i64>) -> String {
        id.and_then(|i| self.territories.get(&i)).map_or_else(|| "Без территории".into(), |t| t.name.clone())
    }

    fn recipient(&self, id: Option<i64>) -> String {
        id.and_then(|i| self.recipients.get(&i)).map_or_else(|| "Без получателя".into(), |r| r.name.clone())
    }
}

fn id_key(id: Option<i64>) -> String {
    id.map_or_else(|| NONE_KEY.to_string(), |i| i.to_string())
}

/// The dimensions an appeal is grouped by.
#[derive(Debug, Clone, FromQueryResult)]
struct Dims {
    category_id: Option<i64>,
    territory_id: Option<i64>,
    channel: String,
    recipient_id: Option<i64>,
}

impl Dims {
    fn key(&self, by: GroupBy, names: &Names) -> String {
        match by {
            GroupBy::Category => id_key(self.category_id.map(|c| names.top(c))),
            GroupBy::Territory => id_key(self.territory_id),
            GroupBy::Channel => self.channel.clone(),
            GroupBy::Recipient => id_key(self.recipient_id),
        }
    }
}

fn group_label(by: GroupBy, key: &str, names: &Names) -> String {
    let id = key.parse::<i64>().ok();
    match by {
        GroupBy::Category => names.category(id),
        GroupBy::Territory => names.territory(id),
        GroupBy::Channel => key.parse::<Channel>().map_or_else(|_| key.to_string(), |c| channel_label(c).to_string()),
        GroupBy::Recipient => names.recipient(id),
    }
}

/// A filter with its category and territory trees expanded to ids.
struct Resolved {
    channel: Vec<String>,
    kind: Vec<String>,
    category: Option<HashSet<i64>>,
    /// Each set narrows (the filter's territories, then the caller's own subtree).
    territory: Vec<HashSet<i64>>,
    recipient: Vec<i64>,
}

impl Resolved {
    async fn of(conn: &impl ConnectionTrait, names: &Names, f: &Filter) -> AppResult<Self> {
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
        if let Some(root) = f.within_territory {
            territory.push(territory_subtree(conn, root).await?.into_iter().collect());
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
    fn condition<C: ColumnTrait>(&self, channel: C, kind: C, category: C, territory: C, recipient: C) -> Condition {
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

    fn on_appeals(&self) -> Condition {
        use appeal::Column as C;
        self.condition(C::Channel, C::Kind, C::CategoryId, C::TerritoryId, C::RecipientId)
    }

    /// The condition over `appeal_stats`, on the smallest cube that holds the filter's
    /// dimensions and `by` (none: totals, channel, kind or status only).
    fn on_rollup(&self, by: Option<GroupBy>) -> Condition {
        use appeal_stat::Column as S;
        let needs_all = self.category.is_some()
            || !self.territory.is_empty()
            || !self.recipient.is_empty()
            || matches!(by, Some(GroupBy::Category | GroupBy::Territory | GroupBy::Recipient));
        let cube = if needs_all { Cube::Full } else { Cube::Overview };
        self.condition(S::Channel, S::Kind, S::CategoryId, S::TerritoryId, S::RecipientId).add(S::Cube.eq(cube.code()))
    }
}

/// The SQL condition of a filter over `appeals` (category and territory trees expanded).
async fn filter_condition(conn: &impl ConnectionTrait, names: &Names, f: &Filter) -> AppResult<Condition> {
    Ok(Resolved::of(conn, names, f).await?.on_appeals())
}

/// A column of appeals or of one of the rollups, so one closure can narrow all three.
#[derive(Clone, Copy)]
enum C2 {
    A(appeal::Column),
    S(appeal_stat::Column),
    D(appeal_due_stat::Column),
}

impl C2 {
    fn expr(self) -> Expr {
        match self {
            Self::A(c) => Expr::col((appeal::Entity, c)),
            Self::S(c) => Expr::col((appeal_stat::Entity, c)),
            Self::D(c) => Expr::col((appeal_due_stat::Entity, c)),
        }
    }

    fn is_not_null(self) -> Condition {
        Condition::all().add(self.expr().is_not_null())
    }

    fn eq(self, v: &str) -> Condition {
        Condition::all().add(self.expr().eq(v))
    }

    fn is_in(self, v: impl IntoIterator<Item = i64>) -> Condition {
        Condition::all().add(self.expr().is_in(v))
    }
}

/// The rollup rows that together count the local days of a period once: whole months,
/// then whole weeks, then single days, none coarser than `coarsest`.
fn buckets_of(period: Period, coarsest: Grain, grain: C2, day: C2) -> Condition {
    let mut any = Condition::any();
    for (g, first, last) in tile(period.from, period.to, coarsest) {
        any = any
            .add(Condition::all().add(grain.expr().eq(g.code())).add(day.expr().gte(first)).add(day.expr().lte(last)));
    }
    any
}

/// [`buckets_of`] over `appeal_stats`, with months as the coarsest grain.
fn days_in(period: Period) -> Condition {
    buckets_of(period, Grain::Month, C2::S(appeal_stat::Column::Grain), C2::S(appeal_stat::Column::Day))
}

/// Rollup rows of appeals that are not duplicates.
fn rollup_not_duplicate() -> Condition {
    Condition::all().add(appeal_stat::Column::Duplicate.eq(false))
}

/// The rollup's `CAST(SUM(col) AS BIGINT)`.
fn sum_of(col: &str) -> Expr {
    Expr::cust(super::rollup::sum_of(col))
}

fn received_in(start: DateTime<Utc>, end: DateTime<Utc>) -> Condition {
    Condition::all().add(appeal::Column::ReceivedAt.gte(start)).add(appeal::Column::ReceivedAt.lt(end))
}

fn not_duplicate() -> Condition {
    Condition::all().add(appeal::Column::DuplicateOfId.is_null())
}

/// `SUM(CASE WHEN cond THEN 1 ELSE 0 END)`: how many rows meet `cond`.
fn count_if(cond: Condition) -> Expr {
    Func::sum(Expr::case(cond, Expr::cust("1")).finally(Expr::cust("0"))).into()
}

fn count_all() -> Expr {
    Func::count(Expr::col(appeal::Column::Id)).into()
}

/// Hours from receipt to answer. Date arithmetic differs per backend; the migration that
/// indexes it holds the one text of each.
fn response_hours(backend: DatabaseBackend) -> Expr {
    use migration::m20261129_000012_appeal_rollups::{RESPONSE_HOURS_PG, RESPONSE_HOURS_SQLITE};
    match backend {
        DatabaseBackend::Postgres => Expr::cust(RESPONSE_HOURS_PG),
        _ => Expr::cust(RESPONSE_HOURS_SQLITE),
    }
}

/// The exact median response hours of the `n` answered appeals matching `answered` (`n`
/// comes from the rollup): the middle one or two values of a walk along the response-time
/// index, so nothing sorts all answers.
async fn median_hours(conn: &impl ConnectionTrait, answered: Condition, n: i64) -> AppResult<Option<f64>> {
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
pub async fn summary(state: &AppState, period: Period, filter: &Filter) -> AppResult<Summary> {
    let conn = &state.db;
    let names = Names::load(conn).await?;
    summary_with(state, &names, period, filter).await
}

async fn summary_with(state: &AppState, names: &Names, period: Period, filter: &Filter) -> AppResult<Summary> {
    use appeal::Column as C;
    use appeal_stat::Column as S;
    let conn = &state.db;
    let (start, end) = period.instants(state.settings.timezone);
    let resolved = Resolved::of(conn, names, filter).await?;
    let cond = resolved.on_appeals().add(received_in(start, end));
    let now = state.clock.now();
    // The rollup grouped by channel × kind × status gives the totals and the three breakdowns.
    let mut q = appeal_stat::Entity::find()
        .filter(resolved.on_rollup(None).add(days_in(period)))
        .select_only()
        .columns([S::Channel, S::Kind, S::Status])
        .group_by(S::Channel)
        .group_by(S::Kind)
        .group_by(S::Status);
    for col in super::rollup::STAT_COUNTS {
        q = q.expr_as(sum_of(col), col);
    }
    let groups = q.into_model::<Totals>().all(conn).await?;
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
    // "Now" changes by the minute, so these come from the few unresolved appeals.
    let (overdue, due_soon) = appeal::Entity::find()
        .filter(cond.clone().add(C::ResolvedAt.is_null()))
        .select_only()
        .expr_as(count_if(sla_condition(SlaState::Overdue, now)), "overdue")
        .expr_as(count_if(sla_condition(SlaState::DueSoon, now)), "due_soon")
        .into_tuple::<(Option<i64>, Option<i64>)>()
        .one(conn)
        .await?
        .unwrap_or_default();
    s.overdue_now = overdue.unwrap_or(0);
    s.due_soon_now = due_soon.unwrap_or(0);
    if s.answered > 0 {
        s.median_response_hours = median_hours(conn, cond.add(C::AnsweredAt.is_not_null()), s.answered).await?;
    }
    Ok(s)
}

async fn cell_counts(
    conn: &impl ConnectionTrait,
    cond: Condition,
) -> AppResult<HashMap<(Option<i64>, Option<i64>), i64>> {
    use appeal_stat::Column as S;
    let rows = appeal_stat::Entity::find()
        .filter(cond)
        .select_only()
        .column(S::CategoryId)
        .column(S::TerritoryId)
        .expr_as(sum_of("total"), "n")
        .group_by(S::CategoryId)
        .group_by(S::TerritoryId)
        .into_tuple::<(Option<i64>, Option<i64>, i64)>()
        .all(conn)
        .await?;
    Ok(rows.into_iter().filter(|r| r.2 != 0).map(|(c, t, n)| ((c, t), n)).collect())
}

/// Category × territory counts of non-duplicate appeals in the period, with the count of
/// the same-length period just before and the count per 1000 inhabitants.
pub async fn heatmap(state: &AppState, period: Period, filter: &Filter) -> AppResult<Heatmap> {
    let conn = &state.db;
    let names = Names::load(conn).await?;
    let base = Resolved::of(conn, &names, filter).await?.on_rollup(Some(GroupBy::Category)).add(rollup_not_duplicate());
    let current = cell_counts(conn, base.clone().add(days_in(period))).await?;
    let previous = cell_counts(conn, base.add(days_in(period.back(1)))).await?;
    let keys: HashSet<(Option<i64>, Option<i64>)> = current.keys().chain(previous.keys()).copied().collect();
    let mut cells: Vec<HeatCell> = keys
        .into_iter()
        .map(|(c, t)| {
            let count = current.get(&(c, t)).copied().unwrap_or(0);
            let population = t.and_then(|t| names.territories.get(&t)).and_then(|t| t.population).filter(|p| *p > 0);
            HeatCell {
                category_id: c,
                territory_id: t,
                count,
                previous_count: previous.get(&(c, t)).copied().unwrap_or(0),
                per1000: population.map(|p| count as f64 * 1000.0 / f64::from(p)),
            }
        })
        .collect();
    cells.sort_by(|a, b| {
        b.count.cmp(&a.count).then_with(|| (a.category_id, a.territory_id).cmp(&(b.category_id, b.territory_id)))
    });
    let used_c: HashSet<i64> = cells.iter().filter_map(|c| c.category_id).collect();
    let used_t: HashSet<i64> = cells.iter().filter_map(|c| c.territory_id).collect();
    let mut categories: Vec<category::Model> =
        names.categories.values().filter(|c| used_c.contains(&c.id)).cloned().collect();
    categories.sort_by_key(|c| c.id);
    let mut territories: Vec<territory::Model> =
        names.territories.values().filter(|t| used_t.contains(&t.id)).cloned().collect();
    territories.sort_by_key(|t| t.id);
    Ok(Heatmap { categories, territories, cells })
}

fn h3_resolution(path: &str, resolution: u8) -> AppResult<h3o::Resolution> {
    h3o::Resolution::try_from(resolution).map_err(|_| AppError::bad(path, "is not an H3 resolution"))
}

fn cell_of(lat: f64, lon: f64, res: h3o::Resolution) -> Option<h3o::CellIndex> {
    h3o::LatLng::new(lat, lon).ok().map(|p| p.to_cell(res))
}

fn centre(cell: h3o::CellIndex) -> (f64, f64) {
    let p = h3o::LatLng::from(cell);
    (p.lat(), p.lng())
}

/// Non-duplicate appeals with coordinates in the period, counted per H3 cell at `resolution`
/// (5..=10), with the cell's centre and its most frequent category.
pub async fn geo_cells(state: &AppState, period: Period, resolution: u8, filter: &Filter) -> AppResult<Vec<GeoCell>> {
    use appeal::Column as C;
    if !(5..=10).contains(&resolution) {
        return Err(AppError::bad("resolution", "must be between 5 and 10"));
    }
    let res = h3_resolution("resolution", resolution)?;
    let conn = &state.db;
    let names = Names::load(conn).await?;
    let (start, end) = period.instants(state.settings.timezone);
    let cond = filter_condition(conn, &names, filter)
        .await?
        .add(not_duplicate())
        .add(received_in(start, end))
        .add(C::Latitude.is_not_null())
        .add(C::Longitude.is_not_null());
    let rows = appeal::Entity::find()
        .filter(cond)
        .select_only()
        .column(C::Latitude)
        .column(C::Longitude)
        .column(C::CategoryId)
        .into_tuple::<(f64, f64, Option<i64>)>()
        .all(conn)
        .await?;
    let mut cells: HashMap<h3o::CellIndex, (i64, BTreeMap<i64, i64>)> = HashMap::new();
    for (lat, lon, category) in rows {
        let Some(cell) = cell_of(lat, lon, res) else { continue };
        let entry = cells.entry(cell).or_default();
        entry.0 += 1;
        if let Some(c) = category {
            *entry.1.entry(c).or_default() += 1;
        }
    }
    let mut out: Vec<GeoCell> = cells
        .into_iter()
        .map(|(cell, (count, cats))| {
            let (latitude, longitude) = centre(cell);
            // The most frequent category; the smallest id on a tie (the map is ordered by id).
            let top = cats.iter().fold(None::<(i64, i64)>, |best, (id, n)| match best {
                Some((_, bn)) if bn >= *n => best,
                _ => Some((*id, *n)),
            });
            GeoCell { cell: cell.to_string(), latitude, longitude, count, top_category_id: top.map(|t| t.0) }
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.cell.cmp(&b.cell)));
    Ok(out)
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

/// Rollup sums per local day and per value of `by` (the key of [`Dims::key`]).
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
pub async fn trend(
    state: &AppState,
    period: Period,
    granularity: Granularity,
    group_by: Option<GroupBy>,
    filter: &Filter,
) -> AppResult<Vec<TrendSeries>> {
    let conn = &state.db;
    let names = Names::load(conn).await?;
    let coarsest = match granularity {
        Granularity::Day => Grain::Day,
        Granularity::Week => Grain::Week,
        Granularity::Month => Grain::Month,
    };
    let cond = Resolved::of(conn, &names, filter)
        .await?
        .on_rollup(group_by)
        .add(rollup_not_duplicate())
        .add(buckets_of(period, coarsest, C2::S(appeal_stat::Column::Grain), C2::S(appeal_stat::Column::Day)));
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
            label: group_by.map_or_else(|| "Все обращения".to_string(), |g| group_label(g, &key, &names)),
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
    let category = (format!("category:{}", id_key(d.category_id)), format!("Тема: {}", names.category(d.category_id)));
    let territory =
        (format!("territory:{}", id_key(d.territory_id)), format!("Территория: {}", names.territory(d.territory_id)));
    let channel = (
        format!("channel:{}", d.channel),
        format!(
            "Канал: {}",
            d.channel.parse::<Channel>().map_or_else(|_| d.channel.clone(), |c| channel_label(c).to_string())
        ),
    );
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
pub async fn growth(
    state: &AppState,
    period: Period,
    group_by: GroupBy,
    limit: usize,
    filter: &Filter,
) -> AppResult<Vec<GrowthItem>> {
    let conn = &state.db;
    let names = Names::load(conn).await?;
    growth_with(state, &names, period, group_by, limit, filter).await
}

async fn growth_with(
    state: &AppState,
    names: &Names,
    period: Period,
    group_by: GroupBy,
    limit: usize,
    filter: &Filter,
) -> AppResult<Vec<GrowthItem>> {
    let conn = &state.db;
    // Growth's drivers are categories, territories and channels: the full cube.
    let base = Resolved::of(conn, names, filter).await?.on_rollup(Some(GroupBy::Category)).add(rollup_not_duplicate());
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

/// Places where at least `min_count` non-duplicate appeals of one category were received in
/// the period within one H3 cell of resolution 9, most appeals first.
pub async fn problem_points(
    state: &AppState,
    period: Period,
    min_count: i64,
    filter: &Filter,
) -> AppResult<Vec<ProblemPoint>> {
    use appeal::Column as C;
    let conn = &state.db;
    let names = Names::load(conn).await?;
    let res = h3_resolution("resolution", PROBLEM_POINT_RESOLUTION)?;
    let (start, end) = period.instants(state.settings.timezone);
    let cond = filter_condition(conn, &names, filter)
        .await?
        .add(not_duplicate())
        .add(received_in(start, end))
        .add(C::Latitude.is_not_null())
        .add(C::Longitude.is_not_null())
        .add(C::CategoryId.is_not_null());
    let rows = appeal::Entity::find()
        .filter(cond)
        .select_only()
        .column(C::Id)
        .column(C::Latitude)
        .column(C::Longitude)
        .column(C::CategoryId)
        .order_by(C::ReceivedAt, Order::Desc)
        .order_by(C::Id, Order::Desc)
        .into_tuple::<(i64, f64, f64, i64)>()
        .all(conn)
        .await?;
    let mut points: HashMap<(h3o::CellIndex, i64), (i64, Vec<i64>)> = HashMap::new();
    for (id, lat, lon, category) in rows {
        let Some(cell) = cell_of(lat, lon, res) else { continue };
        let entry = points.entry((cell, category)).or_default();
        entry.0 += 1;
        if entry.1.len() < 3 {
            entry.1.push(id);
        }
    }
    let mut out: Vec<ProblemPoint> = points
        .into_iter()
        .filter(|(_, (n, _))| *n >= min_count)
        .map(|((cell, category_id), (count, sample_ids))| {
            let (latitude, longitude) = centre(cell);
            ProblemPoint { cell: cell.to_string(), latitude, longitude, category_id, count, sample_ids }
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| (&a.cell, a.category_id).cmp(&(&b.cell, b.category_id))));
    Ok(out)
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
}

/// The recipient rating for the period, optionally within one channel.
///
/// Per recipient: `total` = appeals assigned to it received in the period; `onTimeRate` =
/// resolved by the deadline ÷ appeals whose deadline fell in the period and that are resolved
/// or already overdue; `fullAnswerRate` = FULL ÷ assessed and `satisfiedRate` = satisfied ÷
/// rated among the appeals received in the period; the score weights the three rates
/// (settings, default 40/30/30) re-weighting missing ones; only recipients with at least the
/// minimum volume are ranked, by score. `within_territory` limits it to a territory's subtree.
pub async fn recipient_rating(
    state: &AppState,
    period: Period,
    channel: Option<Channel>,
    within_territory: Option<i64>,
) -> AppResult<Vec<RatingRow>> {
    use appeal::Column as C;
    use appeal_due_stat::Column as D;
    use appeal_stat::Column as S;
    let conn = &state.db;
    let names = Names::load(conn).await?;
    let (start, end) = period.instants(state.settings.timezone);
    let now = state.clock.now();
    let territories = match within_territory {
        Some(root) => Some(territory_subtree(conn, root).await?),
        None => None,
    };
    // The same narrowing over appeals, the receipt rollup and the deadline rollup.
    let narrow = |c: Condition, channel_col: C2, territory_col: C2, recipient_col: C2| {
        let mut c = c.add(recipient_col.is_not_null());
        if let Some(ch) = channel {
            c = c.add(channel_col.eq(ch.as_str()));
        }
        if let Some(t) = &territories {
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
            .add(S::Cube.eq(Cube::Full.code())),
        )
        .select_only()
        .column(S::RecipientId)
        .group_by(S::RecipientId);
    for col in ["total", "answered", "satisfied", "rated", "full", "assessed"] {
        q = q.expr_as(sum_of(col), col);
    }
    let totals = q.into_model::<RecipientTotals>().all(conn).await?;
    // Deadlines in the period: resolved ones from the rollup, unresolved overdue ones (which
    // change with "now") from the few unresolved appeals.
    let mut due: HashMap<i64, (i64, i64)> = HashMap::new();
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
            .into_tuple::<(i64, i64, i64)>()
            .all(conn)
            .await?;
    for (r, n, met) in resolved {
        let e = due.entry(r).or_default();
        e.0 += n;
        e.1 += met;
    }
    let overdue = appeal::Entity::find()
        .filter(
            base.clone()
                .add(C::ResolvedAt.is_null())
                .add(C::DueAt.gte(start))
                .add(C::DueAt.lt(end))
                .add(C::DueAt.lt(now)),
        )
        .select_only()
        .column(C::RecipientId)
        .expr_as(count_all(), "n")
        .group_by(C::RecipientId)
        .into_tuple::<(i64, i64)>()
        .all(conn)
        .await?;
    for (r, n) in overdue {
        due.entry(r).or_default().0 += n;
    }
    due.retain(|_, (n, _)| *n != 0);
    let received = base.add(received_in(start, end)).add(C::AnsweredAt.is_not_null());
    let mut medians = HashMap::new();
    for t in totals.iter().filter(|t| t.answered > 0) {
        let answered = received.clone().add(C::RecipientId.eq(t.recipient_id));
        if let Some(m) = median_hours(conn, answered, t.answered).await? {
            medians.insert(t.recipient_id, m);
        }
    }
    let totals: HashMap<i64, RecipientTotals> =
        totals.into_iter().filter(|t| t.total != 0).map(|t| (t.recipient_id, t)).collect();
    let ids: HashSet<i64> = totals.keys().chain(due.keys()).copied().collect();
    let weights = state.settings.rating_weights;
    let min_volume = i64::from(state.settings.rating_min_volume);
    let mut rows: Vec<RatingRow> = ids
        .into_iter()
        .filter_map(|id| {
            let recipient = names.recipients.get(&id)?.clone();
            let t = totals.get(&id);
            let total = t.map_or(0, |t| t.total);
            let (due_n, met) = due.get(&id).copied().unwrap_or((0, 0));
            let on_time_rate = rate(met, due_n);
            let full_answer_rate = t.and_then(|t| rate(t.full, t.assessed));
            let satisfied_rate = t.and_then(|t| rate(t.satisfied, t.rated));
            let median_response_hours = medians.get(&id).copied();
            Some(RatingRow {
                recipient,
                rank: None,
                total,
                on_time_rate,
                full_answer_rate,
                satisfied_rate,
                median_response_hours,
                score: weights.score(on_time_rate, full_answer_rate, satisfied_rate),
                enough_data: total >= min_volume,
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        let ranked = |r: &RatingRow| r.enough_data && r.score.is_some();
        ranked(b)
            .cmp(&ranked(a))
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
    Ok(rows)
}

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), |v| format!("{:.0}%", v * 100.0))
}

/// Recommendations from the memo's rules, in this order:
///
/// 1. a topic whose rise is significant this week and was the week before, with no roadmap in
///    work on it → prepare a roadmap;
/// 2. the same with a roadmap in work → check that roadmap, its measures are not working;
/// 3. a significant rise this week only → keep the topic under control (a roadmap if it goes on);
/// 4. overdue roadmap measures → hear those responsible;
/// 5. on-time rate below 80% → review the overdue answers with the recipients;
/// 6. the lowest-scored ranked recipient (with at least two ranked) → hear its head;
/// 7. open overdue appeals → get them answered, naming the recipient with most of them;
/// 8. answers on the merits below 70% → tighten quality control.
pub fn recommendations(m: &Memo) -> Vec<String> {
    let mut out = Vec::new();
    let summary = &m.summary;
    for g in m.top_growth.iter().filter(|g| g.significant) {
        let roadmaps = m.topic_roadmaps.get(&g.key).filter(|r| !r.is_empty());
        if m.rising_before.contains(&g.key) {
            match roadmaps {
                None => out.push(format!(
                    "Подготовить дорожную карту по теме «{}»: значимый рост вторую неделю подряд ({} обращений за неделю при среднем {:.1}).",
                    g.label, g.count, g.baseline
                )),
                Some(r) => out.push(format!(
                    "Проверить исполнение дорожной карты «{}»: рост по теме «{}» продолжается вторую неделю ({} обращений при среднем {:.1}).",
                    r.join("», «"),
                    g.label,
                    g.count,
                    g.baseline
                )),
            }
        } else {
            out.push(format!(
                "Взять на контроль тему «{}»: значимый рост за неделю ({} обращений при среднем {:.1}); если рост сохранится, подготовить дорожную карту.",
                g.label, g.count, g.baseline
            ));
        }
    }
    if !m.overdue_measures.is_empty() {
        let mut who: Vec<&str> = m.overdue_measures.iter().map(|x| x.responsible.as_str()).collect();
        who.sort_unstable();
        who.dedup();
        out.push(format!(
            "Заслушать ответственных за просроченные мероприятия дорожных карт ({}): {}.",
            m.overdue_measures.len(),
            who.join(", ")
        ));
    }
    if let Some(r) = summary.on_time_rate().filter(|r| *r < 0.8) {
        out.push(format!(
            "Своевременность ответов {} (ниже 80%): провести разбор просрочек с ответственными получателями.",
            percent(Some(r))
        ));
    }
    let ranked: Vec<&RatingRow> = m.rating.iter().filter(|r| r.rank.is_some()).collect();
    if ranked.len() >= 2
        && let Some(last) = ranked.last()
    {
        out.push(format!(
            "Заслушать руководителя «{}» на планёрке: наименьший рейтинг ({:.0} из 100).",
            last.recipient.name,
            last.score.unwrap_or(0.0) * 100.0
        ));
    }
    let overdue: i64 = m.overdue_by_recipient.iter().map(|g| g.count).sum();
    if overdue > 0 {
        let top: Vec<String> =
            m.overdue_by_recipient.iter().take(3).map(|g| format!("{} — {}", g.recipient, g.count)).collect();
        out.push(format!("Обеспечить ответ по {overdue} просроченным обращениям: {}.", top.join(", ")));
    }
    if let Some(r) = summary.full_answer_rate().filter(|r| *r < 0.7) {
        out.push(format!("Усилить контроль качества ответов: ответов по существу {}.", percent(Some(r))));
    }
    if out.is_empty() {
        out.push("Существенных отклонений не выявлено.".into());
    }
    out
}

fn change(now: i64, before: i64) -> String {
    if before == 0 {
        return String::new();
    }
    let pct = (now - before) as f64 * 100.0 / before as f64;
    format!(" ({pct:+.0}% к прошлой неделе)")
}

/// The memo as Markdown in Russian.
pub fn memo_markdown(m: &Memo) -> String {
    let d = |x: NaiveDate| x.format("%d.%m.%Y").to_string();
    let s = &m.summary;
    let mut md = String::new();
    let _ = writeln!(md, "# Аналитическая записка за неделю {} — {}\n", d(m.week_start), d(m.week_end));
    let _ = writeln!(md, "## Итоги недели\n");
    let _ = writeln!(md, "- Поступило обращений: **{}**{}", s.total, change(s.total, m.previous.total));
    let _ = writeln!(
        md,
        "- Дан ответ: {}, из них в срок: {} ({})",
        s.answered,
        s.answered_on_time,
        percent(s.on_time_rate())
    );
    let _ = writeln!(md, "- Просрочено сейчас: {}; срок истекает: {}", s.overdue_now, s.due_soon_now);
    let _ = writeln!(
        md,
        "- Медианное время ответа: {}",
        s.median_response_hours.map_or_else(|| "—".into(), |h| format!("{h:.1} ч"))
    );
    let _ = writeln!(
        md,
        "- Ответы по существу: {}; удовлетворённость: {}",
        percent(s.full_answer_rate()),
        percent(s.satisfied_rate())
    );
    if !s.by_channel.is_empty() {
        let channels: Vec<String> = s.by_channel.iter().map(|c| format!("{} — {}", c.label, c.count)).collect();
        let _ = writeln!(md, "- По каналам: {}", channels.join(", "));
    }
    let _ = writeln!(md, "\n## Рост по темам\n");
    if m.top_growth.is_empty() {
        let _ = writeln!(md, "Роста не выявлено.");
    }
    for g in &m.top_growth {
        let mark = if g.significant { " — **значимый рост**" } else { "" };
        let drivers: Vec<String> = g.drivers.iter().map(|x| format!("{} (+{})", x.label, x.count)).collect();
        let _ = write!(md, "- {}: {} при среднем {:.1}{}", g.label, g.count, g.baseline, mark);
        if drivers.is_empty() {
            let _ = writeln!(md);
        } else {
            let _ = writeln!(md, "; за счёт: {}", drivers.join(", "));
        }
    }
    let _ = writeln!(md, "\n## Проблемные точки\n");
    if m.problem_points.is_empty() {
        let _ = writeln!(md, "Скоплений однотипных обращений не выявлено.");
    } else {
        let _ = writeln!(md, "| Тема | Обращений | Координаты центра |");
        let _ = writeln!(md, "|---|---|---|");
        for p in &m.problem_points {
            let _ = writeln!(md, "| {} | {} | {:.5}, {:.5} |", p.category, p.count, p.latitude, p.longitude);
        }
    }
    let _ = writeln!(md, "\n## Просроченные обращения\n");
    if m.overdue_by_recipient.is_empty() {
        let _ = writeln!(md, "Просроченных обращений нет.");
    } else {
        let local = |t: DateTime<Utc>| t.with_timezone(&m.timezone).format("%d.%m.%Y").to_string();
        let _ = writeln!(md, "| Ответственный | Просрочено | Самый ранний срок |");
        let _ = writeln!(md, "|---|---|---|");
        for g in &m.overdue_by_recipient {
            let _ = writeln!(md, "| {} | {} | {} |", g.recipient, g.count, local(g.oldest_due));
        }
        let _ = writeln!(md, "\nДольше всех без ответа:\n");
        let _ = writeln!(md, "| Номер | Тема | Ответственный | Срок |");
        let _ = writeln!(md, "|---|---|---|---|");
        for a in &m.overdue_oldest {
            let _ = writeln!(md, "| {} | {} | {} | {} |", a.number, a.category, a.recipient, local(a.due_at));
        }
    }
    let _ = writeln!(md, "\n## Дорожные карты: просроченные мероприятия\n");
    if m.overdue_measures.is_empty() {
        let _ = writeln!(md, "Просроченных мероприятий нет.");
    } else {
        let _ = writeln!(md, "| Дорожная карта | Мероприятие | Ответственный | Срок |");
        let _ = writeln!(md, "|---|---|---|---|");
        for x in &m.overdue_measures {
            let _ = writeln!(md, "| {} | {} | {} | {} |", x.roadmap, x.measure, x.responsible, d(x.due));
        }
    }
    let _ = writeln!(md, "\n## Рейтинг ответственных получателей\n");
    let _ = writeln!(md, "| Место | Получатель | Обращений | В срок | По существу | Удовлетворены | Балл |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for r in &m.rating {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.rank.map_or_else(|| "—".into(), |x| x.to_string()),
            r.recipient.name,
            r.total,
            percent(r.on_time_rate),
            percent(r.full_answer_rate),
            percent(r.satisfied_rate),
            r.score.map_or_else(|| "—".into(), |x| format!("{:.0}", x * 100.0)),
        );
    }
    let _ = writeln!(md, "\n## Рекомендации\n");
    for (i, r) in m.recommendations.iter().enumerate() {
        let _ = writeln!(md, "{}. {}", i + 1, r);
    }
    md
}

/// The weekly memo for the week starting on `week_start` (a Monday).
///
/// # Errors
/// `BAD_USER_INPUT` on `weekStart` when it is not a Monday.
pub async fn weekly_memo(state: &AppState, week_start: NaiveDate, filter: &Filter) -> AppResult<Memo> {
    if week_start.weekday() != chrono::Weekday::Mon {
        return Err(AppError::bad("weekStart", "must be a Monday"));
    }
    let week = Period { from: week_start, to: week_start + Duration::days(6) };
    let names = Names::load(&state.db).await?;
    let summary = summary_with(state, &names, week, filter).await?;
    let previous = summary_with(state, &names, week.back(1), filter).await?;
    let top_growth: Vec<GrowthItem> = growth_with(state, &names, week, GroupBy::Category, 5, filter)
        .await?
        .into_iter()
        .filter(|g| g.count > 0 && g.growth > 1.0)
        .collect();
    let rising_before: HashSet<String> =
        growth_with(state, &names, week.back(1), GroupBy::Category, usize::MAX, filter)
            .await?
            .into_iter()
            .filter(|g| g.significant)
            .map(|g| g.key)
            .collect();
    let mut rating = recipient_rating(state, week, None, filter.within_territory).await?;
    if !filter.recipient_id.is_empty() {
        rating.retain(|r| filter.recipient_id.contains(&r.recipient.id));
    }
    let problem_points = problem_points(state, week, 3, filter)
        .await?
        .into_iter()
        .take(MEMO_POINTS)
        .map(|p| MemoPoint {
            category: names.category(Some(p.category_id)),
            latitude: p.latitude,
            longitude: p.longitude,
            count: p.count,
        })
        .collect();
    let (overdue_by_recipient, overdue_oldest) = memo_overdue(state, &names, filter).await?;
    let (topic_roadmaps, overdue_measures) = memo_roadmaps(state, &names, filter).await?;
    let mut memo = Memo {
        week_start,
        week_end: week.to,
        summary,
        previous,
        top_growth,
        rising_before,
        topic_roadmaps,
        problem_points,
        overdue_by_recipient,
        overdue_oldest,
        overdue_measures,
        rating,
        recommendations: Vec::new(),
        markdown: String::new(),
        timezone: state.settings.timezone,
    };
    memo.recommendations = recommendations(&memo);
    memo.markdown = memo_markdown(&memo);
    Ok(memo)
}

fn responsible(names: &Names, recipient: Option<i64>) -> String {
    recipient.map_or_else(|| "Исполнитель не назначен".into(), |r| names.recipient(Some(r)))
}

/// Open appeals overdue now within the filter: per recipient, and the ones overdue longest.
async fn memo_overdue(
    state: &AppState,
    names: &Names,
    filter: &Filter,
) -> AppResult<(Vec<OverdueGroup>, Vec<OverdueLine>)> {
    use appeal::Column as C;
    let conn = &state.db;
    let cond = filter_condition(conn, names, filter).await?.add(sla_condition(SlaState::Overdue, state.clock.now()));
    let groups = appeal::Entity::find()
        .filter(cond.clone())
        .select_only()
        .column(C::RecipientId)
        .expr_as(count_all(), "n")
        .expr_as(Func::min(Expr::col(C::DueAt)), "oldest")
        .group_by(C::RecipientId)
        .into_tuple::<(Option<i64>, i64, DateTime<Utc>)>()
        .all(conn)
        .await?;
    let mut groups: Vec<OverdueGroup> = groups
        .into_iter()
        .map(|(r, count, oldest_due)| OverdueGroup { recipient: responsible(names, r), count, oldest_due })
        .collect();
    groups.sort_by(|a, b| {
        b.count.cmp(&a.count).then_with(|| a.oldest_due.cmp(&b.oldest_due)).then_with(|| a.recipient.cmp(&b.recipient))
    });
    let oldest = appeal::Entity::find()
        .filter(cond)
        .order_by_asc(C::DueAt)
        .order_by_asc(C::Id)
        .limit(MEMO_OVERDUE)
        .all(conn)
        .await?
        .into_iter()
        .map(|a| OverdueLine {
            category: names.category(a.category_id),
            recipient: responsible(names, a.recipient_id),
            number: a.number,
            due_at: a.due_at,
        })
        .collect();
    Ok((groups, oldest))
}

/// Roadmaps in work by the key of their top-level topic, and the overdue measures of the
/// approved or running ones (within the caller's territory and recipient, when limited).
async fn memo_roadmaps(
    state: &AppState,
    names: &Names,
    filter: &Filter,
) -> AppResult<(HashMap<String, Vec<String>>, Vec<MeasureLine>)> {
    use crate::domain::roadmap::{MeasureStatus, RoadmapStatus, measure_overdue};
    use crate::entity::{roadmap, roadmap_measure};
    let conn = &state.db;
    let today = state.clock.now().with_timezone(&state.settings.timezone).date_naive();
    let territories = match filter.within_territory {
        Some(root) => Some(territory_subtree(conn, root).await?),
        None => None,
    };
    let in_work = [
        RoadmapStatus::Draft,
        RoadmapStatus::Submitted,
        RoadmapStatus::Returned,
        RoadmapStatus::Approved,
        RoadmapStatus::InProgress,
    ];
    let roadmaps: Vec<roadmap::Model> = roadmap::Entity::find()
        .filter(roadmap::Column::Status.is_in(in_work.iter().map(|s| s.as_str())))
        .order_by_asc(roadmap::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .filter(|r| territories.as_ref().is_none_or(|t| r.territory_id.is_some_and(|id| t.contains(&id))))
        .collect();
    let mut topics: HashMap<String, Vec<String>> = HashMap::new();
    for r in &roadmaps {
        if let Some(c) = r.category_id {
            topics.entry(names.top(c).to_string()).or_default().push(r.title.clone());
        }
    }
    let running: HashMap<i64, &roadmap::Model> = roadmaps
        .iter()
        .filter(|r| matches!(r.status.parse(), Ok(RoadmapStatus::Approved | RoadmapStatus::InProgress)))
        .map(|r| (r.id, r))
        .collect();
    let mut measures = Vec::new();
    if !running.is_empty() {
        let rows = roadmap_measure::Entity::find()
            .filter(roadmap_measure::Column::RoadmapId.is_in(running.keys().copied()))
            .filter(roadmap_measure::Column::DueDate.lt(today))
            .order_by_asc(roadmap_measure::Column::DueDate)
            .order_by_asc(roadmap_measure::Column::Id)
            .all(conn)
            .await?;
        for m in rows {
            let Ok(status) = m.status.parse::<MeasureStatus>() else { continue };
            if !measure_overdue(status, m.due_date, today) {
                continue;
            }
            if !filter.recipient_id.is_empty() && !m.responsible_id.is_some_and(|r| filter.recipient_id.contains(&r)) {
                continue;
            }
            let who = match (m.responsible_id, &m.responsible_name) {
                (None, Some(name)) => name.clone(),
                (id, _) => responsible(names, id),
            };
            measures.push(MeasureLine {
                roadmap: running.get(&m.roadmap_id).map(|r| r.title.clone()).unwrap_or_default(),
                measure: m.title,
                responsible: who,
                due: m.due_date,
            });
        }
    }
    Ok((topics, measures))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn periods_and_buckets() {
        let p = Period { from: d("2026-11-09"), to: d("2026-11-15") };
        assert_eq!(p.days(), 7);
        assert_eq!(p.back(1), Period { from: d("2026-11-02"), to: d("2026-11-08") });
        assert_eq!(bucket_start(Granularity::Week, d("2026-11-15")), d("2026-11-09"));
        assert_eq!(bucket_start(Granularity::Month, d("2026-11-15")), d("2026-11-01"));
        let m = Period { from: d("2026-11-20"), to: d("2027-01-05") };
        assert_eq!(buckets(Granularity::Month, m), vec![d("2026-11-01"), d("2026-12-01"), d("2027-01-01")]);
        assert_eq!(buckets(Granularity::Week, p), vec![d("2026-11-09")]);
        assert_eq!(buckets(Granularity::Day, p).len(), 7);
        assert!(Period::new("period", d("2026-11-02"), d("2026-11-01")).is_err());
    }
}
