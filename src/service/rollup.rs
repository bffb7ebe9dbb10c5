//! Rollups of appeals for analytics (tables `appeal_stats`, `appeal_due_stats`).
//!
//! An appeal contributes to one `appeal_stats` key (local day of receipt, channel, kind,
//! status, category, territory, recipient, duplicate or not) with its counts (one appeal;
//! answered; answered by the deadline; rated; rated satisfied; assessed; assessed FULL;
//! reopened), and, once resolved, to one `appeal_due_stats` key (local day of the deadline,
//! channel, territory, recipient) with resolved and met-the-deadline counts. These are the
//! same rules the raw queries apply (`Contribution::of` is their one place).
//!
//! The tables are ledgers. Every write to an appeal appends, in its own transaction, rows
//! that subtract the appeal's old contribution and add its new one ([`Ledger::change`]);
//! readers `SUM` per key. Nobody updates a shared counter row, so concurrent writers never
//! wait on each other or deadlock. [`compact`] folds the rows of each key into one,
//! [`rebuild`] recomputes everything from `appeals` (after a time-zone change, or after rows
//! were written outside the application), and [`verify`] compares the ledger with the raw
//! data.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, FromQueryResult,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entity::{appeal, appeal_due_stat, appeal_stat, rollup_state};
use crate::error::AppResult;

/// The name of the one `rollup_state` row.
const STATE: &str = "appeals";
/// Appeals read per statement by a rebuild.
const REBUILD_BATCH: u64 = 10_000;
/// Ledger rows per INSERT (18 parameters a row stays under SQLite's limit).
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
    pub resolved_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub completeness: Option<String>,
    pub satisfied: Option<bool>,
    pub reopen_count: i32,
}

/// The columns of [`Facts`], for `select_only().columns(..)`.
pub const FACT_COLUMNS: [appeal::Column; 14] = [
    appeal::Column::ReceivedAt,
    appeal::Column::Channel,
    appeal::Column::Kind,
    appeal::Column::Status,
    appeal::Column::CategoryId,
    appeal::Column::TerritoryId,
    appeal::Column::RecipientId,
    appeal::Column::DuplicateOfId,
    appeal::Column::DueAt,
    appeal::Column::ResolvedAt,
    appeal::Column::AnsweredAt,
    appeal::Column::Completeness,
    appeal::Column::Satisfied,
    appeal::Column::ReopenCount,
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
            resolved_at: a.resolved_at,
            answered_at: a.answered_at,
            completeness: a.completeness.clone(),
            satisfied: a.satisfied,
            reopen_count: a.reopen_count,
        }
    }
}

/// Key of an `appeal_stats` row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatKey {
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
/// FULL, assessed, reopened.
pub type StatCounts = [i64; 8];

/// Key of an `appeal_due_stats` row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DueKey {
    pub day: NaiveDate,
    pub channel: String,
    pub territory_id: Option<i64>,
    pub recipient_id: Option<i64>,
}

/// Counts of an `appeal_due_stats` row: resolved, met.
pub type DueCounts = [i64; 2];

/// What one appeal adds to the rollups.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    pub stat: (StatKey, StatCounts),
    pub due: Option<(DueKey, DueCounts)>,
}

impl Contribution {
    /// The contribution of an appeal whose local days are taken in `tz`.
    pub fn of(f: &Facts, tz: chrono_tz::Tz) -> Self {
        let answered = f.answered_at.is_some();
        let on_time = f.answered_at.is_some_and(|a| a <= f.due_at);
        let counts = [
            1,
            i64::from(answered),
            i64::from(on_time),
            i64::from(f.satisfied == Some(true)),
            i64::from(f.satisfied.is_some()),
            i64::from(f.completeness.as_deref() == Some("FULL")),
            i64::from(f.completeness.is_some()),
            i64::from(f.reopen_count > 0),
        ];
        let key = StatKey {
            day: f.received_at.with_timezone(&tz).date_naive(),
            channel: f.channel.clone(),
            kind: f.kind.clone(),
            status: f.status.clone(),
            category_id: f.category_id,
            territory_id: f.territory_id,
            recipient_id: f.recipient_id,
            duplicate: f.duplicate_of_id.is_some(),
        };
        let due = f.resolved_at.map(|r| {
            let key = DueKey {
                day: f.due_at.with_timezone(&tz).date_naive(),
                channel: f.channel.clone(),
                territory_id: f.territory_id,
                recipient_id: f.recipient_id,
            };
            (key, [1, i64::from(r <= f.due_at)])
        });
        Self { stat: (key, counts), due }
    }
}

/// Rows to append to the rollups (per key, zero sums left out).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ledger {
    pub stats: HashMap<StatKey, StatCounts>,
    pub due: HashMap<DueKey, DueCounts>,
}

fn add_into<const N: usize>(into: &mut [i64; N], from: &[i64; N], sign: i64) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += sign * b;
    }
}

impl Ledger {
    /// Adds (`sign` 1) or takes away (`sign` -1) an appeal's contribution.
    pub fn add(&mut self, f: &Facts, tz: chrono_tz::Tz, sign: i64) {
        let c = Contribution::of(f, tz);
        add_into(self.stats.entry(c.stat.0).or_default(), &c.stat.1, sign);
        if let Some((k, v)) = c.due {
            add_into(self.due.entry(k).or_default(), &v, sign);
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
    }

    /// Appends the non-zero rows.
    ///
    /// # Errors
    /// When the database refuses the insert.
    pub async fn write(mut self, conn: &impl ConnectionTrait) -> AppResult<()> {
        self.prune();
        let stats: Vec<appeal_stat::ActiveModel> = self
            .stats
            .into_iter()
            .map(|(k, v)| appeal_stat::ActiveModel {
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
                ..Default::default()
            })
            .collect();
        for chunk in stats.chunks(INSERT_CHUNK) {
            appeal_stat::Entity::insert_many(chunk.to_vec()).exec_without_returning(conn).await?;
        }
        let due: Vec<appeal_due_stat::ActiveModel> = self
            .due
            .into_iter()
            .map(|(k, v)| appeal_due_stat::ActiveModel {
                day: Set(k.day),
                channel: Set(k.channel),
                territory_id: Set(k.territory_id),
                recipient_id: Set(k.recipient_id),
                resolved: Set(v[0]),
                met: Set(v[1]),
                ..Default::default()
            })
            .collect();
        for chunk in due.chunks(INSERT_CHUNK) {
            appeal_due_stat::Entity::insert_many(chunk.to_vec()).exec_without_returning(conn).await?;
        }
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
    for chunk in ids.chunks(INSERT_CHUNK) {
        out.extend(
            appeal::Entity::find()
                .select_only()
                .columns(FACT_COLUMNS)
                .filter(appeal::Column::Id.is_in(chunk.iter().copied()))
                .into_model::<Facts>()
                .all(conn)
                .await?,
        );
    }
    Ok(out)
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
        for r in &rows {
            ledger.add(&r.facts, tz, 1);
        }
        last = end;
    }
    ledger.prune();
    Ok(ledger)
}

const STAT_SUMS: &str = "CAST(SUM(total) AS BIGINT) AS total, CAST(SUM(answered) AS BIGINT) AS answered, \
     CAST(SUM(answered_on_time) AS BIGINT) AS answered_on_time, CAST(SUM(satisfied) AS BIGINT) AS satisfied, \
     CAST(SUM(rated) AS BIGINT) AS rated, CAST(SUM(\"full\") AS BIGINT) AS \"full\", \
     CAST(SUM(assessed) AS BIGINT) AS assessed, CAST(SUM(reopened) AS BIGINT) AS reopened";
const STAT_KEY: &str = "day, channel, kind, status, category_id, territory_id, recipient_id, duplicate";
const DUE_SUMS: &str = "CAST(SUM(resolved) AS BIGINT) AS resolved, CAST(SUM(met) AS BIGINT) AS met";
const DUE_KEY: &str = "day, channel, territory_id, recipient_id";

/// The ledger as stored, summed per key.
async fn stored(conn: &impl ConnectionTrait) -> AppResult<Ledger> {
    let mut ledger = Ledger::default();
    #[derive(FromQueryResult)]
    struct StatRow {
        day: NaiveDate,
        channel: String,
        kind: String,
        status: String,
        category_id: Option<i64>,
        territory_id: Option<i64>,
        recipient_id: Option<i64>,
        duplicate: bool,
        total: i64,
        answered: i64,
        answered_on_time: i64,
        satisfied: i64,
        rated: i64,
        full: i64,
        assessed: i64,
        reopened: i64,
    }
    let stmt = sea_orm::Statement::from_string(
        conn.get_database_backend(),
        format!("SELECT {STAT_KEY}, {STAT_SUMS} FROM appeal_stats GROUP BY {STAT_KEY}"),
    );
    for r in StatRow::find_by_statement(stmt).all(conn).await? {
        let key = StatKey {
            day: r.day,
            channel: r.channel,
            kind: r.kind,
            status: r.status,
            category_id: r.category_id,
            territory_id: r.territory_id,
            recipient_id: r.recipient_id,
            duplicate: r.duplicate,
        };
        let v = [r.total, r.answered, r.answered_on_time, r.satisfied, r.rated, r.full, r.assessed, r.reopened];
        ledger.stats.insert(key, v);
    }
    #[derive(FromQueryResult)]
    struct DueRow {
        day: NaiveDate,
        channel: String,
        territory_id: Option<i64>,
        recipient_id: Option<i64>,
        resolved: i64,
        met: i64,
    }
    let stmt = sea_orm::Statement::from_string(
        conn.get_database_backend(),
        format!("SELECT {DUE_KEY}, {DUE_SUMS} FROM appeal_due_stats GROUP BY {DUE_KEY}"),
    );
    for r in DueRow::find_by_statement(stmt).all(conn).await? {
        let key = DueKey { day: r.day, channel: r.channel, territory_id: r.territory_id, recipient_id: r.recipient_id };
        ledger.due.insert(key, [r.resolved, r.met]);
    }
    ledger.prune();
    Ok(ledger)
}

async fn row_count(conn: &impl ConnectionTrait) -> AppResult<i64> {
    let stats = appeal_stat::Entity::find().count(conn).await?;
    let due = appeal_due_stat::Entity::find().count(conn).await?;
    Ok(i64::try_from(stats + due).unwrap_or(i64::MAX))
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
        conn.execute_unprepared("LOCK TABLE appeal_stats, appeal_due_stats IN EXCLUSIVE MODE").await?;
    }
    Ok(())
}

/// Recomputes the rollups from `appeals` in one transaction; returns the rows written.
///
/// # Errors
/// When the database fails; nothing changes then.
pub async fn rebuild(db: &DatabaseConnection, tz: chrono_tz::Tz) -> AppResult<i64> {
    let txn = crate::db::begin_write(db).await?;
    lock_ledger(&txn).await?;
    appeal_stat::Entity::delete_many().exec(&txn).await?;
    appeal_due_stat::Entity::delete_many().exec(&txn).await?;
    let ledger = from_appeals(&txn, tz).await?;
    let rows = i64::try_from(ledger.stats.len() + ledger.due.len()).unwrap_or(i64::MAX);
    ledger.write(&txn).await?;
    save_state(&txn, tz, rows, Utc::now()).await?;
    txn.commit().await?;
    Ok(rows)
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

/// Folds the ledger's rows to one per key when it has grown since the last compaction;
/// returns the rows left, or `None` when there was nothing to do.
///
/// On PostgreSQL one statement per table moves the rows it sees into their sums, so writers
/// appending meanwhile are neither blocked nor lost; on SQLite the write transaction holds
/// the database's write lock.
///
/// # Errors
/// When the database fails; nothing changes then.
pub async fn compact(db: &DatabaseConnection, force: bool) -> AppResult<Option<i64>> {
    let txn = crate::db::begin_write(db).await?;
    let state = rollup_state::Entity::find_by_id(STATE.to_string()).lock(LockType::Update).one(&txn).await?;
    let Some(state) = state else { return Ok(None) };
    let before = row_count(&txn).await?;
    if !force && before <= state.compacted_rows {
        return Ok(None);
    }
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        let stat_cols = "day, channel, kind, status, category_id, territory_id, recipient_id, duplicate, total, \
                         answered, answered_on_time, satisfied, rated, \"full\", assessed, reopened";
        txn.execute_unprepared(&format!(
            "WITH moved AS (DELETE FROM appeal_stats RETURNING {stat_cols}) \
             INSERT INTO appeal_stats ({stat_cols}) SELECT {STAT_KEY}, {STAT_SUMS} FROM moved GROUP BY {STAT_KEY} \
             HAVING SUM(total) <> 0 OR SUM(answered) <> 0 OR SUM(answered_on_time) <> 0 OR SUM(satisfied) <> 0 \
             OR SUM(rated) <> 0 OR SUM(\"full\") <> 0 OR SUM(assessed) <> 0 OR SUM(reopened) <> 0"
        ))
        .await?;
        let due_cols = "day, channel, territory_id, recipient_id, resolved, met";
        txn.execute_unprepared(&format!(
            "WITH moved AS (DELETE FROM appeal_due_stats RETURNING {due_cols}) \
             INSERT INTO appeal_due_stats ({due_cols}) SELECT {DUE_KEY}, {DUE_SUMS} FROM moved GROUP BY {DUE_KEY} \
             HAVING SUM(resolved) <> 0 OR SUM(met) <> 0"
        ))
        .await?;
    } else {
        let ledger = stored(&txn).await?;
        appeal_stat::Entity::delete_many().exec(&txn).await?;
        appeal_due_stat::Entity::delete_many().exec(&txn).await?;
        ledger.write(&txn).await?;
    }
    let after = row_count(&txn).await?;
    rollup_state::Entity::update_many()
        .col_expr(rollup_state::Column::CompactedRows, Expr::value(after))
        .filter(rollup_state::Column::Name.eq(STATE))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Some(after))
}

/// Where the stored rollups differ from what `appeals` implies (empty: they agree).
///
/// # Errors
/// When the database fails.
pub async fn verify(db: &DatabaseConnection, tz: chrono_tz::Tz) -> AppResult<Vec<String>> {
    // One snapshot for both reads where the backend offers it cheaply.
    let txn = crate::db::begin_write(db).await?;
    lock_ledger(&txn).await?;
    let expected = from_appeals(&txn, tz).await?;
    let actual = stored(&txn).await?;
    txn.rollback().await?;
    let mut out = Vec::new();
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
            resolved_at: None,
            answered_at: None,
            completeness: None,
            satisfied: None,
            reopen_count: 0,
        }
    }

    #[test]
    fn the_local_day_is_taken_in_the_municipalitys_zone() {
        // 17:30 UTC on 1 March is 00:30 on 2 March in Novosibirsk (UTC+7).
        let c = Contribution::of(&facts(), chrono_tz::Asia::Novosibirsk);
        assert_eq!(c.stat.0.day, NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
        let c = Contribution::of(&facts(), chrono_tz::UTC);
        assert_eq!(c.stat.0.day, NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        assert_eq!(c.stat.1, [1, 0, 0, 0, 0, 0, 0, 0]);
        assert!(c.due.is_none(), "an unresolved appeal has no deadline outcome yet");
    }

    #[test]
    fn counts_follow_the_answer_rating_and_deadline() {
        let mut f = facts();
        f.answered_at = Some(f.due_at);
        f.resolved_at = f.answered_at;
        f.completeness = Some("FULL".into());
        f.satisfied = Some(false);
        f.reopen_count = 1;
        let c = Contribution::of(&f, chrono_tz::UTC);
        assert_eq!(c.stat.1, [1, 1, 1, 0, 1, 1, 1, 1]);
        assert_eq!(c.due.as_ref().map(|d| d.1), Some([1, 1]), "answered exactly at the deadline meets it");
        f.answered_at = Some(f.due_at + chrono::Duration::seconds(1));
        f.resolved_at = f.answered_at;
        f.completeness = Some("FORMAL".into());
        f.satisfied = Some(true);
        let c = Contribution::of(&f, chrono_tz::UTC);
        assert_eq!(c.stat.1, [1, 1, 0, 1, 1, 0, 1, 1]);
        assert_eq!(c.due.map(|d| d.1), Some([1, 0]));
    }

    #[test]
    fn a_change_moves_the_appeal_between_keys_and_nothing_else() {
        let tz = chrono_tz::UTC;
        let old = facts();
        let mut new = old.clone();
        new.status = "ANSWERED".into();
        new.answered_at = Some(old.received_at);
        new.resolved_at = new.answered_at;
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
        assert!(same.stats.is_empty() && same.due.is_empty());
    }
}
