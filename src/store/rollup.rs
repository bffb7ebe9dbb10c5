//! Rollups of appeals for analytics (tables `appeal_stats`, `appeal_due_stats`,
//! `appeal_response_stats`, `appeal_open_stats`, `appeal_point_stats`).
//!
//! An appeal contributes to one `appeal_stats` key (local day of receipt, channel, kind,
//! status, category, territory, recipient, duplicate or not) with its counts (one appeal;
//! answered; answered by the deadline; rated; rated satisfied; assessed; assessed FULL;
//! reopened), and, once resolved, to one `appeal_due_stats` key (local day of the deadline,
//! channel, territory, recipient) with resolved and met-the-deadline counts; while it is
//! unresolved, to `appeal_open_stats` by the local days of its deadline and of the start of
//! "due soon" ([`OpenKey`]), from which the counts "now" are summed; as a problem point (not a
//! duplicate, with coordinates, a cell and a category), to `appeal_point_stats` by the day
//! of receipt, cell, category and territory ([`PointKey`]). These are the same rules
//! the raw queries apply (`Contribution::of` is their one place).
//!
//! The tables are ledgers. Every write to an appeal appends, in its own transaction, rows
//! that subtract the appeal's old contribution and add its new one ([`Ledger::change`]);
//! readers `SUM` per key. Nobody updates a shared counter row, so concurrent writers never
//! wait on each other or deadlock. [`compact`] folds the rows of each key into one,
//! [`rebuild`] recomputes everything from `appeals` (after a time-zone change, or after rows
//! were written outside the application), and [`verify`] compares the ledger with the raw
//! data.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, FromQueryResult,
    IsolationLevel, QueryFilter, QueryOrder, QuerySelect, TransactionOptions, TransactionTrait,
};

use crate::entity::{
    appeal, appeal_due_stat, appeal_open_stat, appeal_point_stat, appeal_response_stat, appeal_stat, rollup_state,
};
use crate::error::AppResult;

/// The name of the one `rollup_state` row.
const STATE: &str = "appeals";
/// Appeals read per statement by a rebuild.
const REBUILD_BATCH: u64 = 10_000;
/// Appeals between two progress lines of a rebuild or a verify.
const PROGRESS_EVERY: usize = 200_000;
/// Ledger rows per INSERT (at most 21 parameters a row: under SQLite's limit of 32,766 a
/// statement).
const INSERT_CHUNK: usize = 1_000;

/// The columns of an appeal the rollups depend on.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct Facts {
    pub received_at: DateTime<Utc>,
    pub channel: String,
    pub kind: String,
    pub status: String,
    pub category_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub recipient_id: Option<i64>,
    pub duplicate_of_id: Option<i64>,
    pub due_at: DateTime<Utc>,
    /// When "due soon" starts (before the deadline).
    pub due_soon_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The first answer (kept through reopenings): the analytics count first answers.
    pub first_answered_at: Option<DateTime<Utc>>,
    /// The deadline in force when the first answer was given.
    pub first_due_at: Option<DateTime<Utc>>,
    pub first_completeness: Option<String>,
    pub first_satisfied: Option<bool>,
    pub reopen_count: i32,
    /// The problem-point cell as stored (`crate::domain::appeal::point_cell`).
    pub h3_cell: Option<i64>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// The columns of [`Facts`], for `select_only().columns(..)`.
pub const FACT_COLUMNS: [appeal::Column; 19] = [
    appeal::Column::ReceivedAt,
    appeal::Column::Channel,
    appeal::Column::Kind,
    appeal::Column::Status,
    appeal::Column::CategoryId,
    appeal::Column::TerritoryId,
    appeal::Column::RecipientId,
    appeal::Column::DuplicateOfId,
    appeal::Column::DueAt,
    appeal::Column::DueSoonAt,
    appeal::Column::ResolvedAt,
    appeal::Column::FirstAnsweredAt,
    appeal::Column::FirstDueAt,
    appeal::Column::FirstCompleteness,
    appeal::Column::FirstSatisfied,
    appeal::Column::ReopenCount,
    appeal::Column::H3Cell,
    appeal::Column::Latitude,
    appeal::Column::Longitude,
];

impl From<&appeal::Model> for Facts {
    fn from(a: &appeal::Model) -> Self {
        Self {
            received_at: a.received_at,
            channel: a.channel.clone(),
            kind: a.kind.clone(),
            status: a.status.clone(),
            category_id: a.category_id,
            territory_id: a.territory_id,
            recipient_id: a.recipient_id,
            duplicate_of_id: a.duplicate_of_id,
            due_at: a.due_at,
            due_soon_at: a.due_soon_at,
            resolved_at: a.resolved_at,
            first_answered_at: a.first_answered_at,
            first_due_at: a.first_due_at,
            first_completeness: a.first_completeness.clone(),
            first_satisfied: a.first_satisfied,
            reopen_count: a.reopen_count,
            h3_cell: a.h3_cell,
            latitude: a.latitude,
            longitude: a.longitude,
        }
    }
}

/// Key of an `appeal_stats` row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatKey {
    pub cube: Cube,
    pub grain: Grain,
    pub day: NaiveDate,
    pub channel: String,
    pub kind: String,
    pub status: String,
    pub category_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub recipient_id: Option<i64>,
    pub duplicate: bool,
}

/// Counts of an `appeal_stats` row: total, answered, answered on time, satisfied, rated,
/// FULL, assessed, reopened, resolved, resolved by the running deadline.
pub type StatCounts = [i64; 10];

/// Key of an `appeal_due_stats` row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DueKey {
    pub grain: Grain,
    pub day: NaiveDate,
    pub channel: String,
    pub territory_id: Option<i64>,
    pub recipient_id: Option<i64>,
}

/// Counts of an `appeal_due_stats` row: resolved, met.
pub type DueCounts = [i64; 2];

/// Key of an `appeal_open_stats` row: unresolved appeals.
///
/// `Cube::Overview` keeps the bucket of receipt (every grain), channel and kind, and the local
/// days of the deadline and of the start of "due soon": an appeal is overdue now when its
/// deadline's day is before today, due soon when that day is after today and "due soon"
/// started before today; the appeals with either day today are read from `appeals` at the
/// instant. `Cube::Recipient` keeps the bucket of the deadline's day (every grain; `due_day`
/// and `soon_day` are the bucket's first day), channel, territory, recipient and whether the
/// appeal was never answered (kind empty): the overdue appeals per recipient.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpenKey {
    pub cube: Cube,
    pub grain: Grain,
    pub day: NaiveDate,
    pub channel: String,
    pub kind: String,
    pub territory_id: Option<i64>,
    pub recipient_id: Option<i64>,
    pub unanswered: bool,
    pub due_day: NaiveDate,
    pub soon_day: NaiveDate,
}

/// Key of an `appeal_response_stats` row: answered appeals of one response-time bucket.
/// `Cube::Full` keeps channel, kind and recipient; `Cube::Overview` leaves the recipient
/// NULL; `Cube::Recipient` keeps the recipient only (channel and kind [`NO_STATUS`], empty),
/// so the rating's histograms of all channels read a tenth of the full cube's rows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RespKey {
    pub cube: Cube,
    pub grain: Grain,
    pub day: NaiveDate,
    pub channel: String,
    pub kind: String,
    pub recipient_id: Option<i64>,
    pub bucket: i32,
}

/// Key of an `appeal_point_stats` row: the appeals that count as problem points, per bucket
/// of receipt, H3 cell, category and territory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PointKey {
    pub grain: Grain,
    pub day: NaiveDate,
    pub h3_cell: i64,
    pub category_id: i64,
    pub territory_id: Option<i64>,
}

/// The response-time bucket of an answer: bucket `b ≥ 0` holds the times in
/// `[b²/8 hours + ½ s, (b+1)²/8 hours + ½ s)` (7.5 minutes wide at first, about 17 hours wide
/// after a year), bucket -1 everything below half a second (an answer dated before its
/// receipt included). The half second keeps every edge away from times in whole seconds (and
/// from the rounding of SQLite's day fractions), so the rollup and the SQL over `appeals`
/// put a time in the same bucket. Computed from whole microseconds, exactly.
pub fn response_bucket(received: DateTime<Utc>, answered: DateTime<Utc>) -> i32 {
    let micros = (answered - received).num_microseconds().unwrap_or(i64::MAX);
    let Some(past_edge) = micros.checked_sub(EDGE_MICROS).filter(|m| *m >= 0) else { return -1 };
    // ⌊√x⌋ = ⌊√⌊x⌋⌋ for x ≥ 0, with x = 8 × hours.
    let eighths = u64::try_from(i128::from(past_edge) * 8 / 3_600_000_000).unwrap_or(u64::MAX);
    i32::try_from(eighths.isqrt()).unwrap_or(i32::MAX)
}

/// Where bucket edges sit past whole eighths of squared hours: half a second.
const EDGE_MICROS: i64 = 500_000;

/// The response hours bucket `b` holds: `[from, to)` (`None`: unbounded), as the hours
/// expression over `appeals` computes them (seconds as a double, then ÷ 3600).
pub fn bucket_hours(b: i32) -> (Option<f64>, Option<f64>) {
    let edge = |b: i32| {
        let micros = i64::from(b) * i64::from(b) * 450_000_000 + EDGE_MICROS;
        micros as f64 / 1e6 / 3600.0
    };
    if b < 0 { (None, Some(edge(0))) } else { (Some(edge(b)), Some(edge(b + 1))) }
}

/// The length of the bucket a ledger row counts: a local day, an ISO week (Monday first)
/// or a calendar month. Every appeal is counted once at each grain, so a period is summed
/// from whole months, whole weeks and the days left over ([`tile`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    Day,
    Week,
    Month,
}

impl Grain {
    pub const ALL: [Grain; 3] = [Grain::Day, Grain::Week, Grain::Month];

    /// The value of the `grain` column.
    pub fn code(self) -> &'static str {
        match self {
            Self::Day => "D",
            Self::Week => "W",
            Self::Month => "M",
        }
    }

    /// The first day of the bucket holding `d` (the `day` of its ledger rows).
    pub fn start(self, d: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => d,
            Self::Week => d - Days::new(u64::from(d.weekday().num_days_from_monday())),
            Self::Month => d.with_day(1).unwrap_or(d),
        }
    }

    /// The grain of a `grain` column's value.
    pub fn of_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.code() == code)
    }

    /// The last day of the bucket starting at `start`.
    pub fn end(self, start: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => start,
            Self::Week => start + Days::new(6),
            Self::Month => start.checked_add_months(Months::new(1)).and_then(|d| d.pred_opt()).unwrap_or(start),
        }
    }
}

/// Covers the inclusive range `from..=to` with as few ledger buckets as it can, using no
/// grain coarser than `coarsest`: `(grain, first bucket start, last bucket start)` ranges.
/// Whole months first, then whole weeks in what is left, then days.
pub fn tile(from: NaiveDate, to: NaiveDate, coarsest: Grain) -> Vec<(Grain, NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    tile_into(from, to, coarsest, &mut out);
    out
}

fn tile_into(from: NaiveDate, to: NaiveDate, coarsest: Grain, out: &mut Vec<(Grain, NaiveDate, NaiveDate)>) {
    if from > to {
        return;
    }
    if coarsest == Grain::Day {
        out.push((Grain::Day, from, to));
        return;
    }
    let g = coarsest;
    let first = if g.start(from) == from { from } else { g.end(g.start(from)).succ_opt().unwrap_or(to) };
    let last = if g.end(g.start(to)) == to { g.start(to) } else { g.start(to).pred_opt().map_or(from, |d| g.start(d)) };
    let finer = if g == Grain::Month { Grain::Week } else { Grain::Day };
    if first <= to && last >= first && g.end(last) <= to {
        out.push((g, first, last));
        tile_into(from, first.pred_opt().unwrap_or(from), finer, out);
        if let Some(after) = g.end(last).succ_opt() {
            tile_into(after, to, finer, out);
        }
    } else {
        tile_into(from, to, finer, out);
    }
}

/// Which dimensions an `appeal_stats` row keeps (column `cube`). `Full` keeps them all;
/// `Overview` keeps channel, kind, status and duplicate only (category, territory and
/// recipient are NULL there), so a region-wide summary or trend sums a few rows per bucket;
/// `Topic` keeps every dimension but the status (`status` is [`NO_STATUS`] there), for what
/// never looks at the status: the heat map, growth, trends by group and the rating's counts
/// read a tenth of the full cube's rows. `Recipient` is a cube of `appeal_response_stats`
/// only (see [`RespKey`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cube {
    Full,
    Overview,
    Topic,
    Recipient,
}

impl Cube {
    /// The cubes of `appeal_stats`.
    pub const STATS: [Cube; 3] = [Cube::Full, Cube::Overview, Cube::Topic];
    /// The cubes of `appeal_response_stats`.
    pub const RESPONSES: [Cube; 3] = [Cube::Full, Cube::Overview, Cube::Recipient];
    /// The cubes of `appeal_open_stats`.
    pub const OPEN: [Cube; 2] = [Cube::Overview, Cube::Recipient];

    /// The value of the `cube` column.
    pub fn code(self) -> &'static str {
        match self {
            Self::Full => "F",
            Self::Overview => "O",
            Self::Topic => "T",
            Self::Recipient => "R",
        }
    }
}

/// The `status` of `Cube::Topic` rows, which keep no status (and the channel and kind of
/// `Cube::Recipient` response rows).
pub const NO_STATUS: &str = "";

/// What one appeal adds to the rollups.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Contribution {
    pub stat: (StatKey, StatCounts),
    pub due: Option<(DueKey, DueCounts)>,
    /// The response-time bucket of an answered appeal.
    pub response: Option<i32>,
    /// An unresolved appeal's key in `appeal_open_stats` (cube `Overview`, grain `Day`; the
    /// other keys follow from it).
    pub open: Option<OpenKey>,
    /// A problem point's key in `appeal_point_stats` (grain `Day`).
    pub point: Option<PointKey>,
}

impl Contribution {
    /// The contribution of an appeal whose local days are taken in `tz`.
    pub fn of(f: &Facts, tz: chrono_tz::Tz) -> Self {
        // The first answer counts, whatever happened after it (a reopening, a better answer).
        let first = f.first_answered_at.zip(f.first_due_at);
        let answered = first.is_some();
        let on_time = first.is_some_and(|(a, due)| a <= due);
        let counts = [
            1,
            i64::from(answered),
            i64::from(on_time),
            i64::from(f.first_satisfied == Some(true)),
            i64::from(f.first_satisfied.is_some()),
            i64::from(f.first_completeness.as_deref() == Some("FULL")),
            i64::from(f.first_completeness.is_some()),
            i64::from(f.reopen_count > 0),
            // The list's SLA states of resolved appeals: by the running deadline.
            i64::from(f.resolved_at.is_some()),
            i64::from(f.resolved_at.is_some_and(|r| r <= f.due_at)),
        ];
        let key = StatKey {
            cube: Cube::Full,
            grain: Grain::Day,
            day: f.received_at.with_timezone(&tz).date_naive(),
            channel: f.channel.clone(),
            kind: f.kind.clone(),
            status: f.status.clone(),
            category_id: f.category_id,
            territory_id: f.territory_id,
            recipient_id: f.recipient_id,
            duplicate: f.duplicate_of_id.is_some(),
        };
        // Timeliness by the deadline: a first answer by the deadline in force then (a later
        // reopening does not take it back), else the resolution (a redirect, no answer, a
        // duplicate mark) by the running deadline.
        let resolution = match first {
            Some((a, due)) => Some((a, due)),
            None => f.resolved_at.map(|r| (r, f.due_at)),
        };
        let due = resolution.map(|(r, due_at)| {
            let key = DueKey {
                grain: Grain::Day,
                day: due_at.with_timezone(&tz).date_naive(),
                channel: f.channel.clone(),
                territory_id: f.territory_id,
                recipient_id: f.recipient_id,
            };
            (key, [1, i64::from(r <= due_at)])
        });
        let response = f.first_answered_at.map(|a| response_bucket(f.received_at, a));
        let open = f.resolved_at.is_none().then(|| OpenKey {
            cube: Cube::Overview,
            grain: Grain::Day,
            day: key.day,
            channel: f.channel.clone(),
            kind: f.kind.clone(),
            territory_id: f.territory_id,
            recipient_id: f.recipient_id,
            unanswered: f.first_answered_at.is_none(),
            due_day: f.due_at.with_timezone(&tz).date_naive(),
            soon_day: f.due_soon_at.with_timezone(&tz).date_naive(),
        });
        // What `problemPoints` counts over the appeals (`ix_appeals_points`): not a duplicate,
        // with both coordinates, a cell and a category.
        let point = match (f.duplicate_of_id, f.latitude, f.longitude, f.h3_cell, f.category_id) {
            (None, Some(_), Some(_), Some(h3_cell), Some(category_id)) => {
                Some(PointKey { grain: Grain::Day, day: key.day, h3_cell, category_id, territory_id: f.territory_id })
            }
            _ => None,
        };
        Self { stat: (key, counts), due, response, open, point }
    }
}

/// Rows to append to the rollups (per key, zero sums left out).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ledger {
    pub stats: HashMap<StatKey, StatCounts>,
    pub due: HashMap<DueKey, DueCounts>,
    pub response: HashMap<RespKey, i64>,
    pub open: HashMap<OpenKey, i64>,
    pub points: HashMap<PointKey, i64>,
}

fn add_into<const N: usize>(into: &mut [i64; N], from: &[i64; N], sign: i64) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += sign * b;
    }
}

impl Ledger {
    /// Adds (`sign` 1) or takes away (`sign` -1) an appeal's contribution.
    pub fn add(&mut self, f: &Facts, tz: chrono_tz::Tz, sign: i64) {
        self.add_contribution(&Contribution::of(f, tz), sign);
    }

    /// Adds the contributions of many appeals. Appeals of one day and the same keys add
    /// the same rows, so equal contributions are counted first and each is spread over its
    /// rows once, with its count: a batch of 1,000 new appeals spread 24,000 map updates
    /// before (7% of the server's time in an ingestion), a few hundred now.
    pub fn add_all<'a>(&mut self, facts: impl IntoIterator<Item = &'a Facts>, tz: chrono_tz::Tz) {
        let mut counted: HashMap<Contribution, i64> = HashMap::new();
        for f in facts {
            *counted.entry(Contribution::of(f, tz)).or_default() += 1;
        }
        for (c, n) in &counted {
            self.add_contribution(c, *n);
        }
    }

    /// Adds a contribution `times` times (negative: takes it away).
    fn add_contribution(&mut self, c: &Contribution, times: i64) {
        for g in Grain::ALL {
            if let Some(k) = &c.point {
                *self.points.entry(PointKey { grain: g, day: g.start(k.day), ..k.clone() }).or_default() += times;
            }
            if let Some(k) = &c.open {
                let overview = OpenKey {
                    grain: g,
                    day: g.start(k.day),
                    territory_id: None,
                    recipient_id: None,
                    unanswered: false,
                    ..k.clone()
                };
                *self.open.entry(overview).or_default() += times;
                let due = g.start(k.due_day);
                let recipient = OpenKey {
                    cube: Cube::Recipient,
                    grain: g,
                    day: due,
                    kind: NO_STATUS.to_string(),
                    due_day: due,
                    soon_day: due,
                    ..k.clone()
                };
                *self.open.entry(recipient).or_default() += times;
            }
            let key = StatKey { grain: g, day: g.start(c.stat.0.day), ..c.stat.0.clone() };
            let overview = StatKey {
                cube: Cube::Overview,
                category_id: None,
                territory_id: None,
                recipient_id: None,
                ..key.clone()
            };
            let topic = StatKey { cube: Cube::Topic, status: NO_STATUS.to_string(), ..key.clone() };
            add_into(self.stats.entry(key).or_default(), &c.stat.1, times);
            add_into(self.stats.entry(overview).or_default(), &c.stat.1, times);
            add_into(self.stats.entry(topic).or_default(), &c.stat.1, times);
            if let Some((k, v)) = &c.due {
                let key = DueKey { grain: g, day: g.start(k.day), ..k.clone() };
                add_into(self.due.entry(key).or_default(), v, times);
            }
            if let Some(bucket) = c.response {
                let s = &c.stat.0;
                for (cube, recipient_id) in [(Cube::Full, s.recipient_id), (Cube::Overview, None)] {
                    let key = RespKey {
                        cube,
                        grain: g,
                        day: g.start(s.day),
                        channel: s.channel.clone(),
                        kind: s.kind.clone(),
                        recipient_id,
                        bucket,
                    };
                    *self.response.entry(key).or_default() += times;
                }
                if s.recipient_id.is_some() {
                    let key = RespKey {
                        cube: Cube::Recipient,
                        grain: g,
                        day: g.start(s.day),
                        channel: NO_STATUS.to_string(),
                        kind: NO_STATUS.to_string(),
                        recipient_id: s.recipient_id,
                        bucket,
                    };
                    *self.response.entry(key).or_default() += times;
                }
            }
        }
    }

    /// The change from `old` (none: a new appeal) to `new` (none: a deleted one).
    pub fn change(&mut self, old: Option<&Facts>, new: Option<&Facts>, tz: chrono_tz::Tz) {
        if let Some(o) = old {
            self.add(o, tz, -1);
        }
        if let Some(n) = new {
            self.add(n, tz, 1);
        }
    }

    fn prune(&mut self) {
        self.stats.retain(|_, v| v.iter().any(|x| *x != 0));
        self.due.retain(|_, v| v.iter().any(|x| *x != 0));
        self.response.retain(|_, v| *v != 0);
        self.open.retain(|_, v| *v != 0);
        self.points.retain(|_, v| *v != 0);
    }

    /// Appends the non-zero rows (as a writer: not folded).
    ///
    /// # Errors
    /// When the database refuses the insert.
    pub async fn write(self, conn: &impl ConnectionTrait) -> AppResult<()> {
        self.write_as(conn, false).await
    }

    /// Appends the non-zero rows; `folded` when they are the only rows of their keys (a
    /// rebuild).
    async fn write_as(mut self, conn: &impl ConnectionTrait, folded: bool) -> AppResult<()> {
        self.prune();
        // In key order, so the rows of one cube and grain lie together on disk after a
        // rebuild or a compaction.
        let mut stats: Vec<(StatKey, StatCounts)> = self.stats.into_iter().collect();
        stats.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut due: Vec<(DueKey, DueCounts)> = self.due.into_iter().collect();
        due.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let stats: Vec<appeal_stat::ActiveModel> = stats
            .into_iter()
            .map(|(k, v)| appeal_stat::ActiveModel {
                cube: Set(k.cube.code().to_string()),
                grain: Set(k.grain.code().to_string()),
                day: Set(k.day),
                channel: Set(k.channel),
                kind: Set(k.kind),
                status: Set(k.status),
                category_id: Set(k.category_id),
                territory_id: Set(k.territory_id),
                recipient_id: Set(k.recipient_id),
                duplicate: Set(k.duplicate),
                total: Set(v[0]),
                answered: Set(v[1]),
                answered_on_time: Set(v[2]),
                satisfied: Set(v[3]),
                rated: Set(v[4]),
                full: Set(v[5]),
                assessed: Set(v[6]),
                reopened: Set(v[7]),
                resolved: Set(v[8]),
                resolved_met: Set(v[9]),
                folded: Set(folded),
                ..Default::default()
            })
            .collect();
        crate::db::insert_rows(conn, stats, INSERT_CHUNK).await?;
        let due: Vec<appeal_due_stat::ActiveModel> = due
            .into_iter()
            .map(|(k, v)| appeal_due_stat::ActiveModel {
                grain: Set(k.grain.code().to_string()),
                day: Set(k.day),
                channel: Set(k.channel),
                territory_id: Set(k.territory_id),
                recipient_id: Set(k.recipient_id),
                resolved: Set(v[0]),
                met: Set(v[1]),
                folded: Set(folded),
                ..Default::default()
            })
            .collect();
        crate::db::insert_rows(conn, due, INSERT_CHUNK).await?;
        let mut response: Vec<(RespKey, i64)> = self.response.into_iter().collect();
        response.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let response: Vec<appeal_response_stat::ActiveModel> = response
            .into_iter()
            .map(|(k, v)| appeal_response_stat::ActiveModel {
                cube: Set(k.cube.code().to_string()),
                grain: Set(k.grain.code().to_string()),
                day: Set(k.day),
                channel: Set(k.channel),
                kind: Set(k.kind),
                recipient_id: Set(k.recipient_id),
                bucket: Set(k.bucket),
                answered: Set(v),
                folded: Set(folded),
                ..Default::default()
            })
            .collect();
        crate::db::insert_rows(conn, response, INSERT_CHUNK).await?;
        let mut open: Vec<(OpenKey, i64)> = self.open.into_iter().collect();
        open.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let open: Vec<appeal_open_stat::ActiveModel> = open
            .into_iter()
            .map(|(k, v)| appeal_open_stat::ActiveModel {
                cube: Set(k.cube.code().to_string()),
                grain: Set(k.grain.code().to_string()),
                day: Set(k.day),
                channel: Set(k.channel),
                kind: Set(k.kind),
                territory_id: Set(k.territory_id),
                recipient_id: Set(k.recipient_id),
                unanswered: Set(k.unanswered),
                due_day: Set(k.due_day),
                soon_day: Set(k.soon_day),
                open: Set(v),
                folded: Set(folded),
                ..Default::default()
            })
            .collect();
        crate::db::insert_rows(conn, open, INSERT_CHUNK).await?;
        let mut points: Vec<(PointKey, i64)> = self.points.into_iter().collect();
        points.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let points: Vec<appeal_point_stat::ActiveModel> = points
            .into_iter()
            .map(|(k, v)| appeal_point_stat::ActiveModel {
                grain: Set(k.grain.code().to_string()),
                day: Set(k.day),
                h3_cell: Set(k.h3_cell),
                category_id: Set(k.category_id),
                territory_id: Set(k.territory_id),
                points: Set(v),
                folded: Set(folded),
                ..Default::default()
            })
            .collect();
        crate::db::insert_rows(conn, points, INSERT_CHUNK).await?;
        Ok(())
    }
}

/// Records one appeal's change in the rollups, in the caller's transaction.
///
/// # Errors
/// When the database refuses the insert.
pub async fn record(
    conn: &impl ConnectionTrait,
    tz: chrono_tz::Tz,
    old: Option<&Facts>,
    new: Option<&Facts>,
) -> AppResult<()> {
    let mut l = Ledger::default();
    l.change(old, new, tz);
    l.write(conn).await
}

/// The facts of the appeals with these ids (as the transaction sees them).
///
/// # Errors
/// When the query fails.
pub async fn facts_of(conn: &impl ConnectionTrait, ids: impl IntoIterator<Item = i64>) -> AppResult<Vec<Facts>> {
    let ids: Vec<i64> = ids.into_iter().collect();
    let mut out = Vec::with_capacity(ids.len());
    for list in crate::db::in_lists(&ids, INSERT_CHUNK) {
        out.extend(
            appeal::Entity::find()
                .select_only()
                .columns(FACT_COLUMNS)
                .filter(appeal::Column::Id.is_in(list))
                .into_model::<Facts>()
                .all(conn)
                .await?,
        );
    }
    Ok(out)
}

/// An appeal just inserted: its id and number as the insert returned them, and the facts
/// it was written with.
pub struct Inserted {
    pub id: i64,
    pub number: String,
    pub facts: Facts,
}

/// Records the appeals a batch insert just wrote in the rollups, in the caller's
/// transaction.
///
/// # Errors
/// When the database fails.
pub async fn record_inserted(conn: &impl ConnectionTrait, tz: chrono_tz::Tz, rows: &[Inserted]) -> AppResult<()> {
    let mut ledger = Ledger::default();
    ledger.add_all(rows.iter().map(|r| &r.facts), tz);
    ledger.write(conn).await?;
    Ok(())
}

/// The ledger the raw `appeals` table implies, read in keyset batches.
async fn from_appeals(conn: &impl ConnectionTrait, tz: chrono_tz::Tz) -> AppResult<Ledger> {
    struct Row {
        id: i64,
        facts: Facts,
    }
    impl FromQueryResult for Row {
        fn from_query_result(res: &sea_orm::QueryResult, pre: &str) -> Result<Self, sea_orm::DbErr> {
            Ok(Self { id: res.try_get(pre, "id")?, facts: Facts::from_query_result(res, pre)? })
        }
    }
    let mut ledger = Ledger::default();
    let mut last = 0_i64;
    let mut read = 0_usize;
    loop {
        let rows = appeal::Entity::find()
            .select_only()
            .column(appeal::Column::Id)
            .columns(FACT_COLUMNS)
            .filter(appeal::Column::Id.gt(last))
            .order_by_asc(appeal::Column::Id)
            .limit(REBUILD_BATCH)
            .into_model::<Row>()
            .all(conn)
            .await?;
        let Some(end) = rows.last().map(|r| r.id) else { break };
        ledger.add_all(rows.iter().map(|r| &r.facts), tz);
        last = end;
        read += rows.len();
        // Minutes on millions of appeals (a rebuild at the first start of a new version, a
        // verify): say how far it is.
        if read % PROGRESS_EVERY < rows.len() {
            tracing::info!(appeals = read, "read the appeals for the rollups");
        }
    }
    ledger.prune();
    Ok(ledger)
}

/// The count columns of `appeal_stats`, in the order of [`StatCounts`].
pub const STAT_COUNTS: [&str; 10] = [
    "total",
    "answered",
    "answered_on_time",
    "satisfied",
    "rated",
    "full",
    "assessed",
    "reopened",
    "resolved",
    "resolved_met",
];
/// The count columns of `appeal_due_stats`, in the order of [`DueCounts`].
const DUE_COUNTS: [&str; 2] = ["resolved", "met"];

/// `CAST(SUM(col) AS BIGINT)`: PostgreSQL sums BIGINT to NUMERIC otherwise.
pub fn sum_of(col: &str) -> String {
    format!("CAST(SUM(\"{col}\") AS BIGINT)")
}

/// `sum AS col, …` for each column.
fn sums(cols: &[&str]) -> String {
    cols.iter().map(|c| format!("{} AS \"{c}\"", sum_of(c))).collect::<Vec<_>>().join(", ")
}

/// `SUM(col) <> 0 OR …`: a folded key that still counts something.
fn any_nonzero(cols: &[&str]) -> String {
    cols.iter().map(|c| format!("SUM(\"{c}\") <> 0")).collect::<Vec<_>>().join(" OR ")
}

const STAT_KEY: &str = "cube, grain, day, channel, kind, status, category_id, territory_id, recipient_id, duplicate";
const DUE_KEY: &str = "grain, day, channel, territory_id, recipient_id";
const RESP_KEY: &str = "cube, grain, day, channel, kind, recipient_id, bucket";
/// The count column of `appeal_response_stats`.
const RESP_COUNTS: [&str; 1] = ["answered"];
const OPEN_KEY: &str = "cube, grain, day, channel, kind, territory_id, recipient_id, unanswered, due_day, soon_day";
/// The count column of `appeal_open_stats`.
const OPEN_COUNTS: [&str; 1] = ["open"];
const POINT_KEY: &str = "grain, day, h3_cell, category_id, territory_id";
/// The count column of `appeal_point_stats`.
pub const POINT_COUNTS: [&str; 1] = ["points"];

/// The ledger as stored, summed per key, read a cube, a grain and a few months of bucket
/// days at a time (each statement bounded, whatever the size of the ledger).
async fn stored(conn: &impl ConnectionTrait) -> AppResult<Ledger> {
    let mut ledger = Ledger::default();
    for cube in Cube::STATS {
        for grain in Grain::ALL {
            for (from, to) in day_windows(conn, "appeal_stats", &format!("cube = '{}' AND", cube.code()), grain).await?
            {
                let stmt = sea_orm::Statement::from_string(
                    conn.get_database_backend(),
                    format!(
                        "SELECT CAST(0 AS BIGINT) AS id, {STAT_KEY}, {}, FALSE AS folded FROM appeal_stats \
                         WHERE cube = '{}' AND grain = '{}' AND day >= '{from}' AND day < '{to}' GROUP BY {STAT_KEY}",
                        sums(&STAT_COUNTS),
                        cube.code(),
                        grain.code(),
                    ),
                );
                for r in appeal_stat::Model::find_by_statement(stmt).all(conn).await? {
                    let key = StatKey {
                        cube,
                        grain,
                        day: r.day,
                        channel: r.channel,
                        kind: r.kind,
                        status: r.status,
                        category_id: r.category_id,
                        territory_id: r.territory_id,
                        recipient_id: r.recipient_id,
                        duplicate: r.duplicate,
                    };
                    let v = [
                        r.total,
                        r.answered,
                        r.answered_on_time,
                        r.satisfied,
                        r.rated,
                        r.full,
                        r.assessed,
                        r.reopened,
                        r.resolved,
                        r.resolved_met,
                    ];
                    ledger.stats.insert(key, v);
                }
            }
        }
    }
    for grain in Grain::ALL {
        for (from, to) in day_windows(conn, "appeal_due_stats", "", grain).await? {
            let stmt = sea_orm::Statement::from_string(
                conn.get_database_backend(),
                format!(
                    "SELECT CAST(0 AS BIGINT) AS id, {DUE_KEY}, {}, FALSE AS folded FROM appeal_due_stats \
                     WHERE grain = '{}' AND day >= '{from}' AND day < '{to}' GROUP BY {DUE_KEY}",
                    sums(&DUE_COUNTS),
                    grain.code(),
                ),
            );
            for r in appeal_due_stat::Model::find_by_statement(stmt).all(conn).await? {
                let key = DueKey {
                    grain,
                    day: r.day,
                    channel: r.channel,
                    territory_id: r.territory_id,
                    recipient_id: r.recipient_id,
                };
                ledger.due.insert(key, [r.resolved, r.met]);
            }
        }
    }
    for cube in Cube::RESPONSES {
        for grain in Grain::ALL {
            let and = format!("cube = '{}' AND", cube.code());
            for (from, to) in day_windows(conn, "appeal_response_stats", &and, grain).await? {
                let stmt = sea_orm::Statement::from_string(
                    conn.get_database_backend(),
                    format!(
                        "SELECT CAST(0 AS BIGINT) AS id, {RESP_KEY}, {}, FALSE AS folded FROM appeal_response_stats \
                         WHERE cube = '{}' AND grain = '{}' AND day >= '{from}' AND day < '{to}' GROUP BY {RESP_KEY}",
                        sums(&RESP_COUNTS),
                        cube.code(),
                        grain.code(),
                    ),
                );
                for r in appeal_response_stat::Model::find_by_statement(stmt).all(conn).await? {
                    let key = RespKey {
                        cube,
                        grain,
                        day: r.day,
                        channel: r.channel,
                        kind: r.kind,
                        recipient_id: r.recipient_id,
                        bucket: r.bucket,
                    };
                    ledger.response.insert(key, r.answered);
                }
            }
        }
    }
    for cube in Cube::OPEN {
        for grain in Grain::ALL {
            let and = format!("cube = '{}' AND", cube.code());
            for (from, to) in day_windows(conn, "appeal_open_stats", &and, grain).await? {
                let stmt = sea_orm::Statement::from_string(
                    conn.get_database_backend(),
                    format!(
                        "SELECT CAST(0 AS BIGINT) AS id, {OPEN_KEY}, {}, FALSE AS folded FROM appeal_open_stats \
                         WHERE cube = '{}' AND grain = '{}' AND day >= '{from}' AND day < '{to}' GROUP BY {OPEN_KEY}",
                        sums(&OPEN_COUNTS),
                        cube.code(),
                        grain.code(),
                    ),
                );
                for r in appeal_open_stat::Model::find_by_statement(stmt).all(conn).await? {
                    let key = OpenKey {
                        cube,
                        grain,
                        day: r.day,
                        channel: r.channel,
                        kind: r.kind,
                        territory_id: r.territory_id,
                        recipient_id: r.recipient_id,
                        unanswered: r.unanswered,
                        due_day: r.due_day,
                        soon_day: r.soon_day,
                    };
                    ledger.open.insert(key, r.open);
                }
            }
        }
    }
    for grain in Grain::ALL {
        for (from, to) in day_windows(conn, "appeal_point_stats", "", grain).await? {
            let stmt = sea_orm::Statement::from_string(
                conn.get_database_backend(),
                format!(
                    "SELECT CAST(0 AS BIGINT) AS id, {POINT_KEY}, {}, FALSE AS folded FROM appeal_point_stats \
                     WHERE grain = '{}' AND day >= '{from}' AND day < '{to}' GROUP BY {POINT_KEY}",
                    sums(&POINT_COUNTS),
                    grain.code(),
                ),
            );
            for r in appeal_point_stat::Model::find_by_statement(stmt).all(conn).await? {
                let key = PointKey {
                    grain,
                    day: r.day,
                    h3_cell: r.h3_cell,
                    category_id: r.category_id,
                    territory_id: r.territory_id,
                };
                ledger.points.insert(key, r.points);
            }
        }
    }
    ledger.prune();
    Ok(ledger)
}

/// Bucket days read per statement by [`stored`].
const STORED_WINDOW_DAYS: u64 = 92;

/// `[from, to)` windows of bucket days covering the rows of one grain (`and` narrows further,
/// e.g. `cube = 'F' AND`); the first and last day come from two index probes.
async fn day_windows(
    conn: &impl ConnectionTrait,
    table: &str,
    and: &str,
    grain: Grain,
) -> AppResult<Vec<(NaiveDate, NaiveDate)>> {
    let backend = conn.get_database_backend();
    let mut ends = Vec::new();
    for order in ["ASC", "DESC"] {
        let stmt = sea_orm::Statement::from_string(
            backend,
            format!("SELECT day FROM {table} WHERE {and} grain = '{}' ORDER BY day {order} LIMIT 1", grain.code()),
        );
        match conn.query_one_raw(stmt).await? {
            Some(r) => ends.push(r.try_get::<NaiveDate>("", "day")?),
            None => return Ok(Vec::new()),
        }
    }
    let (first, last) = (ends[0], ends[1]);
    let mut out = Vec::new();
    let mut from = first;
    while from <= last {
        let to = from + Days::new(STORED_WINDOW_DAYS);
        out.push((from, to));
        from = to;
    }
    Ok(out)
}

async fn save_state(conn: &impl ConnectionTrait, tz: chrono_tz::Tz, rows: i64, now: DateTime<Utc>) -> AppResult<()> {
    rollup_state::Entity::delete_many().filter(rollup_state::Column::Name.eq(STATE)).exec(conn).await?;
    rollup_state::Entity::insert(rollup_state::ActiveModel {
        name: Set(STATE.into()),
        timezone: Set(tz.name().into()),
        compacted_rows: Set(rows),
        built_at: Set(now),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Keeps writers out of the ledger for the rest of the transaction (PostgreSQL; SQLite's
/// write transaction already holds the database's only write lock).
async fn lock_ledger(conn: &impl ConnectionTrait) -> AppResult<()> {
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        conn.execute_unprepared(
            "LOCK TABLE appeal_stats, appeal_due_stats, appeal_response_stats, appeal_open_stats, appeal_point_stats \
             IN EXCLUSIVE MODE",
        )
        .await?;
    }
    Ok(())
}

/// Each statement's own timeout in a rebuild (PostgreSQL), whatever the requests' default.
/// A rebuild is one transaction over every appeal (8 minutes at 5,000,000); its reads and
/// rewrites go in ranges of ids, but the deletes of the old ledger rows and the writes of
/// the new ones grow with the ledger, and at 5M appeals the requests' 10 s did not hold
/// them. The server rebuilds at start when `MCU_TIMEZONE` changes, so a default timeout would
/// keep a large database's server from starting.
pub const REBUILD_STATEMENT_TIMEOUT_MS: u64 = 600_000;

/// Recomputes the rollups (and the stored conflict facts, `store::conflict_facts`) from
/// `appeals` in one transaction; returns the rollup rows written.
///
/// # Errors
/// When the database fails; nothing changes then.
pub async fn rebuild(db: &DatabaseConnection, tz: chrono_tz::Tz) -> AppResult<i64> {
    let txn = crate::db::begin_write(db).await?;
    if db.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared(&format!("SET LOCAL statement_timeout = {REBUILD_STATEMENT_TIMEOUT_MS}")).await?;
    }
    // The conflict facts' lock first: a writer holding it may be about to append to the
    // ledger, which the ledger's lock would make it wait for.
    super::conflict_facts::lock(&txn).await?;
    lock_ledger(&txn).await?;
    appeal_stat::Entity::delete_many().exec(&txn).await?;
    appeal_due_stat::Entity::delete_many().exec(&txn).await?;
    appeal_response_stat::Entity::delete_many().exec(&txn).await?;
    appeal_open_stat::Entity::delete_many().exec(&txn).await?;
    appeal_point_stat::Entity::delete_many().exec(&txn).await?;
    let ledger = from_appeals(&txn, tz).await?;
    let rows = i64::try_from(
        ledger.stats.len() + ledger.due.len() + ledger.response.len() + ledger.open.len() + ledger.points.len(),
    )
    .unwrap_or(i64::MAX);
    tracing::info!(rows, "writing the rollups");
    ledger.write_as(&txn, true).await?;
    // The other facts derived from more than one appeal: the conflict flags.
    tracing::info!("recomputing the conflict facts");
    let flagged = super::conflict_facts::refresh_all(&txn).await?;
    tracing::info!(flagged, "recomputed the conflict facts");
    // And the spans of numbers a page of a receipt period by number walks.
    super::number_days::rebuild(&txn).await?;
    // And the search index (SQLite) or its repeated words (PostgreSQL).
    tracing::info!("rebuilding the search index");
    super::search::rebuild(&txn).await?;
    save_state(&txn, tz, rows, Utc::now()).await?;
    txn.commit().await?;
    tidy(db).await;
    // The flags just set are statistics the planner has not seen (autovacuum may be off):
    // without them it takes the partial index of flagged appeals for large (at 5M appeals,
    // 67,646 rows expected against 1,290 for a week: a parallel plan, 44 ms instead of 1).
    if db.get_database_backend() == DatabaseBackend::Postgres
        && let Err(e) = crate::db::maintenance(db, "ANALYZE appeals").await
    {
        tracing::warn!(error = %e, "could not analyze the appeals; run ANALYZE appeals, or autovacuum will if it is on");
    }
    // The repeated words were all written again: free the old rows, count the new ones.
    if db.get_database_backend() == DatabaseBackend::Postgres
        && let Err(e) = crate::db::maintenance(db, "VACUUM (ANALYZE) appeal_repeats").await
    {
        tracing::warn!(error = %e, "could not vacuum the repeated words; autovacuum will if it is on");
    }
    Ok(rows)
}

/// On PostgreSQL: frees the rows a rebuild or compaction replaced (so the next one writes
/// into that space, in key order) and refreshes the planner's statistics. The work is done
/// without it (autovacuum does the same later), so a failure is only logged. All three
/// ledgers: with the response histograms left out, a rebuild that added a cube left the
/// planner believing it empty (an index scan of every row of that cube for the rating's
/// medians: 86 ms instead of a few). It runs on a connection of its own without the requests'
/// statement timeout: on a ledger of millions of rows right after a seed, on a busy machine,
/// it took longer than the 10 s a request may.
async fn tidy(db: &DatabaseConnection) {
    if db.get_database_backend() == DatabaseBackend::Postgres
        && let Err(e) = crate::db::maintenance(
            db,
            "VACUUM (ANALYZE) appeal_stats, appeal_due_stats, appeal_response_stats, appeal_open_stats, \
             appeal_point_stats",
        )
        .await
    {
        tracing::warn!(error = %e, "could not vacuum the analytics rollups; autovacuum will");
    }
}

/// Rebuilds the rollups when they were never built or were built in another time zone;
/// returns whether it did.
///
/// # Errors
/// When the database fails.
pub async fn ensure(db: &DatabaseConnection, tz: chrono_tz::Tz) -> AppResult<bool> {
    let state = rollup_state::Entity::find_by_id(STATE.to_string()).one(db).await?;
    if state.is_some_and(|s| s.timezone == tz.name()) {
        return Ok(false);
    }
    let rows = rebuild(db, tz).await?;
    tracing::info!(rows, timezone = tz.name(), "rebuilt the analytics rollups");
    Ok(true)
}

/// One ledger table as compaction sees it: its key, its counts, and the columns of a chunk
/// (the columns of the partial index over its unfolded rows).
struct Table {
    name: &'static str,
    key: &'static str,
    counts: &'static [&'static str],
    chunk: &'static [&'static str],
}

const TABLES: [Table; 5] = [
    Table { name: "appeal_stats", key: STAT_KEY, counts: &STAT_COUNTS, chunk: &["cube", "grain", "day", "channel"] },
    Table { name: "appeal_due_stats", key: DUE_KEY, counts: &DUE_COUNTS, chunk: &["grain", "day", "channel"] },
    Table {
        name: "appeal_response_stats",
        key: RESP_KEY,
        counts: &RESP_COUNTS,
        chunk: &["cube", "grain", "day", "channel"],
    },
    Table {
        name: "appeal_open_stats",
        key: OPEN_KEY,
        counts: &OPEN_COUNTS,
        chunk: &["cube", "grain", "day", "channel"],
    },
    Table { name: "appeal_point_stats", key: POINT_KEY, counts: &POINT_COUNTS, chunk: &["grain", "day"] },
];

/// Each chunk's own statement timeout (PostgreSQL), whatever the server's default: a chunk
/// holds the rows of one bucket of one cube and channel, far below this.
const CHUNK_TIMEOUT_MS: u64 = 120_000;

/// One chunk: the values of [`Table::chunk`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Chunk {
    cube: Option<String>,
    grain: String,
    day: NaiveDate,
    channel: Option<String>,
}

impl Chunk {
    fn values(&self) -> Vec<sea_orm::Value> {
        let mut v: Vec<sea_orm::Value> = Vec::new();
        if let Some(c) = &self.cube {
            v.push(c.clone().into());
        }
        v.push(self.grain.clone().into());
        v.push(self.day.into());
        if let Some(c) = &self.channel {
            v.push(c.clone().into());
        }
        v
    }
}

/// `$from, …` (n of them) on PostgreSQL, `?, ?, …` on SQLite.
fn placeholders(backend: DatabaseBackend, from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| if backend == DatabaseBackend::Postgres { format!("${i}") } else { "?".into() }).collect()
}

/// Chunks one probe finds: two batches of day buckets, so a fold of a year's days costs a
/// dozen round trips rather than one a chunk (an import of 100,000 appeals left about 3,000).
const PROBE: u64 = 64;

/// The next chunks after `after` (in index order) that hold an unfolded row, at most
/// [`PROBE`], in one statement. On PostgreSQL a recursive walk that takes one step of the
/// partial index per chunk (as the probe of one chunk did), so the statement's work does not
/// grow with the rows a chunk holds; on SQLite, whose ledgers are a small city's, the
/// distinct keys of the index, which reads the unfolded rows of those chunks.
async fn next_chunks(conn: &impl ConnectionTrait, t: &Table, after: Option<&Chunk>) -> AppResult<Vec<Chunk>> {
    let backend = conn.get_database_backend();
    let cols = t.chunk.join(", ");
    let (cond, values) = match after {
        Some(c) => (format!("AND ({cols}) > ({})", placeholders(backend, 1, t.chunk.len()).join(", ")), c.values()),
        None => (String::new(), Vec::new()),
    };
    let table = t.name;
    let sql = if backend == DatabaseBackend::Postgres {
        let previous = t.chunk.iter().map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ");
        format!(
            "WITH RECURSIVE probe AS (\
             (SELECT 1 AS n, {cols} FROM {table} WHERE NOT folded {cond} ORDER BY {cols} LIMIT 1) \
             UNION ALL \
             (SELECT p.n + 1, x.* FROM probe p CROSS JOIN LATERAL (SELECT {cols} FROM {table} \
             WHERE NOT folded AND ({cols}) > ({previous}) ORDER BY {cols} LIMIT 1) x WHERE p.n < {PROBE})) \
             SELECT {cols} FROM probe ORDER BY n"
        )
    } else {
        format!("SELECT DISTINCT {cols} FROM {table} WHERE NOT folded {cond} ORDER BY {cols} LIMIT {PROBE}")
    };
    let rows = conn.query_all_raw(sea_orm::Statement::from_sql_and_values(backend, sql, values)).await?;
    rows.into_iter()
        .map(|r| {
            Ok(Chunk {
                cube: if t.chunk[0] == "cube" { Some(r.try_get("", "cube")?) } else { None },
                grain: r.try_get("", "grain")?,
                day: r.try_get("", "day")?,
                channel: if t.chunk.contains(&"channel") { Some(r.try_get("", "channel")?) } else { None },
            })
        })
        .collect()
}

/// Chunks folded together in one transaction: many small day buckets, fewer weeks, one month.
fn batch_of(grain: &str) -> usize {
    match grain {
        "D" => 32,
        "W" => 8,
        _ => 1,
    }
}

/// Folds a few chunks to one row per key in its own transaction; returns the rows it wrote.
///
/// On PostgreSQL one statement moves the rows it sees into their sums, so writers appending
/// meanwhile are neither blocked nor lost (their rows stay unfolded for the next pass); on
/// SQLite the write transaction holds the database's write lock.
async fn fold_chunks(db: &DatabaseConnection, t: &Table, chunks: &[Chunk]) -> AppResult<u64> {
    let backend = db.get_database_backend();
    let mut at = Vec::new();
    let mut values = Vec::new();
    for c in chunks {
        let p = placeholders(backend, values.len() + 1, t.chunk.len());
        at.push(format!(
            "({})",
            t.chunk.iter().zip(&p).map(|(col, p)| format!("{col} = {p}")).collect::<Vec<_>>().join(" AND ")
        ));
        values.extend(c.values());
    }
    let at = format!("({})", at.join(" OR "));
    let counts = t.counts.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
    let cols = format!("{}, {counts}", t.key);
    let (table, key) = (t.name, t.key);
    let (sums, nonzero) = (sums(t.counts), any_nonzero(t.counts));
    let txn = crate::db::begin_write(db).await?;
    let written = if backend == DatabaseBackend::Postgres {
        txn.execute_unprepared(&format!("SET LOCAL statement_timeout = {CHUNK_TIMEOUT_MS}")).await?;
        let sql = format!(
            "WITH moved AS (DELETE FROM {table} WHERE {at} RETURNING {cols}) \
             INSERT INTO {table} ({cols}, folded) SELECT {key}, {sums}, TRUE FROM moved GROUP BY {key} \
             HAVING {nonzero} ORDER BY {key}"
        );
        txn.execute_raw(sea_orm::Statement::from_sql_and_values(backend, sql, values)).await?.rows_affected()
    } else {
        let last = txn
            .query_one_raw(sea_orm::Statement::from_string(backend, format!("SELECT MAX(id) AS id FROM {table}")))
            .await?
            .and_then(|r| r.try_get::<Option<i64>>("", "id").ok().flatten())
            .unwrap_or(0);
        let sql = format!(
            "INSERT INTO {table} ({cols}, folded) SELECT {key}, {sums}, TRUE FROM {table} WHERE {at} \
             GROUP BY {key} HAVING {nonzero} ORDER BY {key}"
        );
        let n = txn
            .execute_raw(sea_orm::Statement::from_sql_and_values(backend, sql, values.clone()))
            .await?
            .rows_affected();
        values.push(last.into());
        let sql = format!("DELETE FROM {table} WHERE {at} AND id <= ?");
        txn.execute_raw(sea_orm::Statement::from_sql_and_values(backend, sql, values)).await?;
        n
    };
    txn.commit().await?;
    Ok(written)
}

/// Folds the ledger's unfolded rows to one row per key, a few chunks (a cube, grain, bucket
/// day and channel each; of the points, a grain and bucket day) per transaction, so no
/// statement grows with the ledger and a writer waits for one short transaction at most;
/// returns the rows the folded chunks hold now, or
/// `None` when nothing was unfolded. `force` refreshes the planner's statistics even then.
///
/// # Errors
/// When the database fails; the chunks folded before stay folded (each one is complete).
pub async fn compact(db: &DatabaseConnection, force: bool) -> AppResult<Option<i64>> {
    let mut written = 0_u64;
    let mut chunks = 0_u64;
    for t in &TABLES {
        let mut after: Option<Chunk> = None;
        let mut batch: Vec<Chunk> = Vec::new();
        let mut probed = std::collections::VecDeque::new();
        loop {
            if probed.is_empty() {
                probed.extend(next_chunks(db, t, after.as_ref()).await?);
            }
            let next = probed.pop_front();
            let full = batch.first().is_some_and(|b| {
                batch.len() >= batch_of(&b.grain) || next.as_ref().is_some_and(|n| n.grain != b.grain)
            });
            if !batch.is_empty() && (next.is_none() || full) {
                written += fold_chunks(db, t, &batch).await?;
                chunks += batch.len() as u64;
                batch.clear();
            }
            let Some(c) = next else { break };
            after = Some(c.clone());
            batch.push(c);
        }
    }
    if chunks == 0 && !force {
        return Ok(None);
    }
    tidy(db).await;
    Ok((chunks > 0).then(|| i64::try_from(written).unwrap_or(i64::MAX)))
}

/// Where the stored rollups, and the appeals' stored conflict facts, differ from what
/// `appeals` implies (empty: they agree).
///
/// # Errors
/// When the database fails.
pub async fn verify(db: &DatabaseConnection, tz: chrono_tz::Tz) -> AppResult<Vec<String>> {
    // Both reads from one snapshot, without keeping writers out: a repeatable-read
    // transaction on PostgreSQL, a read transaction on SQLite (WAL).
    let isolation_level =
        (db.get_database_backend() == DatabaseBackend::Postgres).then_some(IsolationLevel::RepeatableRead);
    let txn = db.begin_with_options(TransactionOptions { isolation_level, ..Default::default() }).await?;
    let expected = from_appeals(&txn, tz).await?;
    let actual = stored(&txn).await?;
    // The stored conflict facts are derived data of the same rebuild.
    let conflicts = super::conflict_facts::differences(&txn).await?;
    let outside = super::number_days::outside(&txn).await?;
    let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
    let mut search = if postgres { super::search::differences(&txn).await? } else { None };
    txn.rollback().await?;
    let mut out = conflicts;
    if outside > 0 {
        out.push(format!("appeal_number_days: {outside} appeals lie outside their day's span of numbers"));
    }
    // SQLite's check writes (an `INSERT` command of FTS5), so it runs after the read
    // transaction, under the write lock: no writer changes the index while it reads it.
    if !postgres {
        search = super::search::differences(db).await?;
    }
    out.extend(search);
    let mut keys: Vec<&StatKey> = expected.stats.keys().chain(actual.stats.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (e, a) =
            (expected.stats.get(k).copied().unwrap_or_default(), actual.stats.get(k).copied().unwrap_or_default());
        if e != a {
            out.push(format!("appeal_stats {k:?}: appeals say {e:?}, the rollup says {a:?}"));
        }
    }
    let mut keys: Vec<&DueKey> = expected.due.keys().chain(actual.due.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (e, a) = (expected.due.get(k).copied().unwrap_or_default(), actual.due.get(k).copied().unwrap_or_default());
        if e != a {
            out.push(format!("appeal_due_stats {k:?}: appeals say {e:?}, the rollup says {a:?}"));
        }
    }
    let mut keys: Vec<&RespKey> = expected.response.keys().chain(actual.response.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (e, a) = (expected.response.get(k).copied().unwrap_or(0), actual.response.get(k).copied().unwrap_or(0));
        if e != a {
            out.push(format!("appeal_response_stats {k:?}: appeals say {e}, the rollup says {a}"));
        }
    }
    let mut keys: Vec<&OpenKey> = expected.open.keys().chain(actual.open.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (e, a) = (expected.open.get(k).copied().unwrap_or(0), actual.open.get(k).copied().unwrap_or(0));
        if e != a {
            out.push(format!("appeal_open_stats {k:?}: appeals say {e}, the rollup says {a}"));
        }
    }
    let mut keys: Vec<&PointKey> = expected.points.keys().chain(actual.points.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (e, a) = (expected.points.get(k).copied().unwrap_or(0), actual.points.get(k).copied().unwrap_or(0));
        if e != a {
            out.push(format!("appeal_point_stats {k:?}: appeals say {e}, the rollup says {a}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn facts() -> Facts {
        Facts {
            received_at: Utc.with_ymd_and_hms(2026, 3, 1, 17, 30, 0).unwrap(),
            channel: "POS".into(),
            kind: "MESSAGE".into(),
            status: "ASSIGNED".into(),
            category_id: Some(3),
            territory_id: Some(4),
            recipient_id: Some(5),
            duplicate_of_id: None,
            due_at: Utc.with_ymd_and_hms(2026, 3, 10, 16, 59, 59).unwrap(),
            due_soon_at: Utc.with_ymd_and_hms(2026, 3, 6, 16, 59, 59).unwrap(),
            resolved_at: None,
            first_answered_at: None,
            first_due_at: None,
            first_completeness: None,
            first_satisfied: None,
            reopen_count: 0,
            h3_cell: Some(0x0089_1f1d_4887_ffff),
            latitude: Some(54.0),
            longitude: Some(90.25),
        }
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_period_is_tiled_by_whole_months_then_whole_weeks_then_days() {
        use Grain::{Day, Month, Week};
        // 2026: 1 January is a Thursday; 5 January a Monday; 28 December a Monday.
        let year = tile(d("2026-01-01"), d("2026-12-31"), Month);
        assert_eq!(year, vec![(Month, d("2026-01-01"), d("2026-12-01"))]);
        let odd = tile(d("2025-12-20"), d("2026-02-17"), Month);
        assert_eq!(
            odd,
            vec![
                (Month, d("2026-01-01"), d("2026-01-01")),
                (Week, d("2025-12-22"), d("2025-12-22")),
                (Day, d("2025-12-20"), d("2025-12-21")),
                (Day, d("2025-12-29"), d("2025-12-31")),
                (Week, d("2026-02-02"), d("2026-02-09")),
                (Day, d("2026-02-01"), d("2026-02-01")),
                (Day, d("2026-02-16"), d("2026-02-17")),
            ]
        );
        // A week trend may not use months; a day trend uses days only.
        assert_eq!(
            tile(d("2026-01-01"), d("2026-01-31"), Week),
            vec![
                (Week, d("2026-01-05"), d("2026-01-19")),
                (Day, d("2026-01-01"), d("2026-01-04")),
                (Day, d("2026-01-26"), d("2026-01-31")),
            ]
        );
        assert_eq!(tile(d("2026-01-01"), d("2026-01-31"), Day), vec![(Day, d("2026-01-01"), d("2026-01-31"))]);
        assert_eq!(tile(d("2026-01-06"), d("2026-01-08"), Month), vec![(Day, d("2026-01-06"), d("2026-01-08"))]);
        assert!(tile(d("2026-01-08"), d("2026-01-06"), Month).is_empty());
        // Every day of any period is covered exactly once.
        let mut from = d("2025-11-25");
        while from < d("2026-03-10") {
            for len in [0_u64, 1, 6, 7, 13, 30, 31, 45, 90] {
                let to = from + Days::new(len);
                for coarsest in Grain::ALL {
                    let mut covered = Vec::new();
                    for (g, a, b) in tile(from, to, coarsest) {
                        assert!(g <= coarsest);
                        let mut s = a;
                        while s <= b {
                            let mut x = s;
                            while x <= g.end(s) {
                                covered.push(x);
                                x = x.succ_opt().unwrap();
                            }
                            s = g.end(s).succ_opt().unwrap();
                        }
                    }
                    covered.sort();
                    let expected: Vec<NaiveDate> = from.iter_days().take_while(|x| *x <= to).collect();
                    assert_eq!(covered, expected, "{from}..{to} by {coarsest:?}");
                }
            }
            from = from.succ_opt().unwrap();
        }
    }

    #[test]
    fn many_appeals_added_at_once_make_the_ledger_one_by_one_would() {
        // Equal contributions (same day and keys), an answered one, a resolved duplicate,
        // another day and another recipient: counted together or one by one, the same rows.
        let answered = Facts {
            first_answered_at: Some(Utc.with_ymd_and_hms(2026, 3, 3, 9, 0, 0).unwrap()),
            first_due_at: Some(Utc.with_ymd_and_hms(2026, 3, 10, 16, 59, 59).unwrap()),
            first_completeness: Some("FULL".into()),
            first_satisfied: Some(true),
            status: "ANSWERED".into(),
            resolved_at: Some(Utc.with_ymd_and_hms(2026, 3, 3, 9, 0, 0).unwrap()),
            ..facts()
        };
        let duplicate = Facts {
            duplicate_of_id: Some(9),
            resolved_at: Some(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()),
            ..facts()
        };
        let later = Facts { received_at: Utc.with_ymd_and_hms(2026, 4, 9, 8, 0, 0).unwrap(), ..facts() };
        let elsewhere = Facts { recipient_id: Some(6), reopen_count: 1, ..answered.clone() };
        let all = [facts(), facts(), answered.clone(), facts(), duplicate, answered, later, elsewhere];
        let tz = chrono_tz::Asia::Novosibirsk;
        let mut one_by_one = Ledger::default();
        for f in &all {
            one_by_one.add(f, tz, 1);
        }
        let mut together = Ledger::default();
        together.add_all(&all, tz);
        assert_eq!(together, one_by_one);
        let overview_total: i64 = together
            .stats
            .iter()
            .filter(|(k, _)| k.cube == Cube::Overview && k.grain == Grain::Day)
            .map(|(_, v)| v[0])
            .sum();
        assert_eq!(overview_total, 8);
    }

    #[test]
    fn the_local_day_is_taken_in_the_municipalitys_zone() {
        // 17:30 UTC on 1 March is 00:30 on 2 March in Novosibirsk (UTC+7).
        let c = Contribution::of(&facts(), chrono_tz::Asia::Novosibirsk);
        assert_eq!(c.stat.0.day, d("2026-03-02"));
        let c = Contribution::of(&facts(), chrono_tz::UTC);
        assert_eq!(c.stat.0.day, d("2026-03-01"));
        // Each grain counts it once, in the bucket holding that day (a Sunday).
        let mut l = Ledger::default();
        l.add(&facts(), chrono_tz::UTC, 1);
        assert!(
            l.stats
                .keys()
                .filter(|k| k.cube == Cube::Overview)
                .all(|k| k.category_id.is_none() && k.territory_id.is_none() && k.recipient_id.is_none())
        );
        let mut keys: Vec<(Grain, NaiveDate)> =
            l.stats.keys().filter(|k| k.cube == Cube::Full).map(|k| (k.grain, k.day)).collect();
        keys.sort();
        assert_eq!(
            keys,
            vec![(Grain::Day, d("2026-03-01")), (Grain::Week, d("2026-02-23")), (Grain::Month, d("2026-03-01"))]
        );
        assert_eq!(c.stat.1, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(c.due.is_none(), "an unresolved appeal has no deadline outcome yet");
    }

    #[test]
    fn counts_follow_the_first_answer_rating_and_deadline() {
        let mut f = facts();
        f.first_answered_at = Some(f.due_at);
        f.first_due_at = Some(f.due_at);
        f.resolved_at = f.first_answered_at;
        f.first_completeness = Some("FULL".into());
        f.first_satisfied = Some(false);
        f.reopen_count = 1;
        let c = Contribution::of(&f, chrono_tz::UTC);
        assert_eq!(c.stat.1, [1, 1, 1, 0, 1, 1, 1, 1, 1, 1], "resolved at the deadline: MET");
        assert_eq!(c.due.as_ref().map(|d| d.1), Some([1, 1]), "answered exactly at the deadline meets it");
        f.first_answered_at = Some(f.due_at + chrono::Duration::seconds(1));
        f.resolved_at = f.first_answered_at;
        f.first_completeness = Some("FORMAL".into());
        f.first_satisfied = Some(true);
        let c = Contribution::of(&f, chrono_tz::UTC);
        assert_eq!(c.stat.1, [1, 1, 0, 1, 1, 0, 1, 1, 1, 0], "a second late: MISSED");
        assert_eq!(c.due.map(|d| d.1), Some([1, 0]));
    }

    #[test]
    fn a_reopened_appeal_keeps_counting_its_first_late_answer() {
        // First answered a day late (deadline 10 March), reopened: the current answer is
        // gone, the running deadline moved on, the appeal is unresolved.
        let mut f = facts();
        let first_due = f.due_at;
        f.first_answered_at = Some(first_due + chrono::Duration::days(1));
        f.first_due_at = Some(first_due);
        f.first_completeness = Some("FORMAL".into());
        f.reopen_count = 1;
        f.status = "REOPENED".into();
        f.due_at = first_due + chrono::Duration::days(20);
        let c = Contribution::of(&f, chrono_tz::UTC);
        assert_eq!(c.stat.1, [1, 1, 0, 0, 0, 0, 1, 1, 0, 0], "answered, late, assessed not FULL, reopened, unresolved");
        let (key, counts) = c.due.unwrap();
        assert_eq!((key.day, counts), (d("2026-03-10"), [1, 0]), "late against the first deadline");
        assert_eq!(c.response, Some(response_bucket(f.received_at, first_due + chrono::Duration::days(1))));
        // A second, timely and FULL answer changes nothing of that.
        f.resolved_at = Some(f.due_at - chrono::Duration::days(1));
        f.status = "ANSWERED".into();
        let again = Contribution::of(&f, chrono_tz::UTC);
        assert_eq!((&again.stat.1[..8], again.due, again.response), (&c.stat.1[..8], Some((key, counts)), c.response));
        // The list's SLA state follows the resolution and the running deadline: MET now.
        assert_eq!(again.stat.1[8..], [1, 1]);
    }

    #[test]
    fn response_buckets_hold_the_times_between_their_edges() {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let bucket = |micros: i64| response_bucket(at, at + chrono::Duration::microseconds(micros));
        let hours = |micros: i64| micros as f64 / 1e6 / 3600.0;
        assert_eq!(bucket(-1), -1);
        assert_eq!(bucket(499_999), -1);
        assert_eq!(bucket(500_000), 0);
        // 2 hours = 16/8: bucket 4 starts half a second later.
        assert_eq!(bucket(7_200_000_000), 3);
        assert_eq!(bucket(7_200_500_000), 4);
        let mut previous = -1;
        let mut m = -3_600_000_000_i64;
        while m < 400 * 24 * 3_600_000_000 {
            let b = bucket(m);
            assert!(b >= previous, "buckets grow with the time");
            previous = b;
            let (from, to) = bucket_hours(b);
            assert!(from.is_none_or(|f| hours(m) >= f) && to.is_none_or(|t| hours(m) < t), "{m} µs in {b}");
            // Edges exactly, and one microsecond either side.
            let (e, _) = bucket_hours(b.max(0));
            let edge = (e.unwrap() * 3600.0 * 1e6).round() as i64;
            assert_eq!(bucket(edge), b.max(0));
            assert_eq!(bucket(edge - 1), b.max(0) - 1);
            m += 7_777_777 + m.abs() / 50;
        }
        assert!(previous > 250 && previous < 300, "a year and a month in {previous} buckets");
    }

    #[test]
    fn a_change_moves_the_appeal_between_keys_and_nothing_else() {
        let tz = chrono_tz::UTC;
        let old = facts();
        let mut new = old.clone();
        new.status = "ANSWERED".into();
        new.first_answered_at = Some(old.received_at);
        new.first_due_at = Some(old.due_at);
        new.resolved_at = new.first_answered_at;
        let mut l = Ledger::default();
        l.change(None, Some(&old), tz);
        l.change(Some(&old), Some(&new), tz);
        l.prune();
        let mut only = Ledger::default();
        only.change(None, Some(&new), tz);
        assert_eq!(l, only);
        // An unchanged appeal leaves nothing to write.
        let mut same = Ledger::default();
        same.change(Some(&new), Some(&new), tz);
        same.prune();
        assert!(same.stats.is_empty() && same.due.is_empty() && same.response.is_empty() && same.open.is_empty());
    }

    #[test]
    fn an_unresolved_appeal_counts_by_its_receipt_and_by_its_deadline_until_resolved() {
        let tz = chrono_tz::Asia::Novosibirsk;
        let mut l = Ledger::default();
        l.add(&facts(), tz, 1);
        // Received 2 March local (a Monday), due 10 March 23:59:59, due soon from 6 March.
        let mut overview: Vec<(Grain, NaiveDate, NaiveDate, NaiveDate)> = l
            .open
            .keys()
            .filter(|k| k.cube == Cube::Overview)
            .map(|k| {
                assert_eq!(
                    (k.territory_id, k.recipient_id, k.unanswered, k.kind.as_str()),
                    (None, None, false, "MESSAGE")
                );
                (k.grain, k.day, k.due_day, k.soon_day)
            })
            .collect();
        overview.sort();
        let (due, soon) = (d("2026-03-10"), d("2026-03-06"));
        assert_eq!(
            overview,
            vec![
                (Grain::Day, d("2026-03-02"), due, soon),
                (Grain::Week, d("2026-03-02"), due, soon),
                (Grain::Month, d("2026-03-01"), due, soon)
            ]
        );
        let mut by_deadline: Vec<(Grain, NaiveDate)> = l
            .open
            .keys()
            .filter(|k| k.cube == Cube::Recipient)
            .map(|k| {
                assert_eq!(
                    (k.territory_id, k.recipient_id, k.unanswered, k.kind.as_str()),
                    (Some(4), Some(5), true, "")
                );
                assert_eq!((k.due_day, k.soon_day), (k.day, k.day));
                (k.grain, k.day)
            })
            .collect();
        by_deadline.sort();
        assert_eq!(
            by_deadline,
            vec![(Grain::Day, due), (Grain::Week, d("2026-03-09")), (Grain::Month, d("2026-03-01"))]
        );
        assert!(l.open.values().all(|n| *n == 1));
        // Resolved: it leaves the ledger of unresolved appeals.
        let mut resolved = facts();
        resolved.resolved_at = Some(resolved.due_at);
        l.change(Some(&facts()), Some(&resolved), tz);
        l.prune();
        assert!(l.open.is_empty());
        assert!(Contribution::of(&resolved, tz).open.is_none());
    }
}
