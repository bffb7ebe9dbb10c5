//! The span of the registration numbers received on each UTC day (`appeal_number_days`,
//! migration `m20270112_000001_number_days`): where a page of a receipt period by number
//! starts and ends its walk of the number's order. Every write of an appeal's number or
//! receipt widens its day's span in the caller's transaction; nothing narrows a span but
//! [`rebuild`].

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use migration::m20270109_000001_number_order::number_order;
use migration::m20270112_000001_number_days::TABLE;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use crate::error::{AppError, AppResult};

/// The spans of some appeals, by UTC day of receipt: the least and greatest number order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Spans(BTreeMap<NaiveDate, (i64, i64)>);

impl Spans {
    /// Takes in an appeal received at `received_at` numbered `number`.
    pub fn add(&mut self, received_at: DateTime<Utc>, number: &str) {
        let order = number_order(number);
        self.0
            .entry(received_at.date_naive())
            .and_modify(|(first, last)| {
                *first = Ord::min(*first, order);
                *last = Ord::max(*last, order);
            })
            .or_insert((order, order));
    }

    /// Widens the stored span of each day to hold these, in one statement (days in order, so
    /// two writers lock the rows of shared days in the same order).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn write(&self, conn: &impl ConnectionTrait) -> AppResult<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        use sea_orm::sea_query::{Alias, Expr, OnConflict, Query, SimpleExpr};
        let backend = conn.get_database_backend();
        let (least, greatest) =
            if backend == DatabaseBackend::Postgres { ("LEAST", "GREATEST") } else { ("min", "max") };
        let (first, last) = (Alias::new("first_order"), Alias::new("last_order"));
        let mut insert = Query::insert();
        insert.into_table(Alias::new(TABLE)).columns([Alias::new("day"), first.clone(), last.clone()]);
        for (day, (low, high)) in &self.0 {
            let row: [SimpleExpr; 3] = [day.format("%Y-%m-%d").to_string().into(), (*low).into(), (*high).into()];
            insert.values(row).map_err(AppError::internal)?;
        }
        insert.on_conflict(
            OnConflict::column(Alias::new("day"))
                .value(first, Expr::cust(format!("{least}({TABLE}.first_order, excluded.first_order)")))
                .value(last, Expr::cust(format!("{greatest}({TABLE}.last_order, excluded.last_order)")))
                .to_owned(),
        );
        conn.execute(&insert).await?;
        Ok(())
    }
}

/// Widens the span of one appeal's day to hold it.
///
/// # Errors
/// When the database fails.
pub async fn widen(conn: &impl ConnectionTrait, received_at: DateTime<Utc>, number: &str) -> AppResult<()> {
    let mut spans = Spans::default();
    spans.add(received_at, number);
    spans.write(conn).await
}

/// Computes every day's span again from the appeals (the tightest spans), in the caller's
/// transaction: in ranges of ids ([`crate::db::appeal_range_end`]), each range's spans merged
/// into those of the ranges before it, so no statement reads more than
/// [`CHECKED_PER_STATEMENT`] appeals. One statement over 5,000,000 appeals needs longer than
/// a statement may take by default.
///
/// # Errors
/// When the database fails.
pub async fn rebuild(conn: &impl ConnectionTrait) -> AppResult<()> {
    rebuild_in_ranges(conn, CHECKED_PER_STATEMENT).await
}

async fn rebuild_in_ranges(conn: &impl ConnectionTrait, per_statement: u64) -> AppResult<()> {
    use migration::m20270109_000001_number_order::number_order_sql;
    use migration::m20270112_000001_number_days::receipt_day_sql;
    let backend = conn.get_database_backend();
    let postgres = backend == DatabaseBackend::Postgres;
    conn.execute_unprepared(&format!("DELETE FROM {TABLE}")).await?;
    let (day, order) = (receipt_day_sql(postgres), number_order_sql(postgres, "number"));
    let (from, to) = if postgres { ("$1", "$2") } else { ("?", "?") };
    let (least, greatest) = if postgres { ("LEAST", "GREATEST") } else { ("min", "max") };
    // The WHERE clause also keeps SQLite from reading `ON CONFLICT` as a join's `ON`.
    let sql = format!(
        "INSERT INTO {TABLE} (day, first_order, last_order) \
         SELECT {day}, min({order}), max({order}) FROM appeals WHERE id > {from} AND id <= {to} GROUP BY {day} \
         ON CONFLICT (day) DO UPDATE SET first_order = {least}({TABLE}.first_order, excluded.first_order), \
         last_order = {greatest}({TABLE}.last_order, excluded.last_order)"
    );
    let mut after = i64::MIN;
    while let Some(last) = crate::db::appeal_range_end(conn, after, per_statement).await? {
        conn.execute_raw(Statement::from_sql_and_values(backend, sql.clone(), [after.into(), last.into()])).await?;
        after = last;
    }
    Ok(())
}

/// Ids of appeals checked per statement by [`outside`].
const CHECKED_PER_STATEMENT: u64 = 200_000;

/// How many appeals lie outside their day's span (none, unless something wrote an appeal
/// around the store). In ranges of ids ([`crate::db::appeal_range_end`]), each under the
/// statement timeout: one statement over 5,000,000 appeals ran past the default 10 s, and
/// `mcu rollup verify` failed.
///
/// # Errors
/// When the database fails.
pub async fn outside(conn: &impl ConnectionTrait) -> AppResult<i64> {
    use migration::m20270109_000001_number_order::number_order_sql;
    use migration::m20270112_000001_number_days::receipt_day_sql;
    let backend = conn.get_database_backend();
    let postgres = backend == DatabaseBackend::Postgres;
    let order = number_order_sql(postgres, "a.number");
    let day = receipt_day_sql(postgres).replace("received_at", "a.received_at");
    let (from, to) = if postgres { ("$1", "$2") } else { ("?", "?") };
    let sql = format!(
        "SELECT CAST(count(*) AS BIGINT) AS n FROM appeals a LEFT JOIN {TABLE} d ON d.day = {day} \
         WHERE a.id > {from} AND a.id <= {to} \
         AND (d.day IS NULL OR {order} < d.first_order OR {order} > d.last_order)"
    );
    let (mut after, mut outside) = (i64::MIN, 0_i64);
    while let Some(last) = crate::db::appeal_range_end(conn, after, CHECKED_PER_STATEMENT).await? {
        let range = Statement::from_sql_and_values(backend, sql.clone(), [after.into(), last.into()]);
        let row = conn.query_one_raw(range).await?;
        outside += row.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0);
        after = last;
    }
    Ok(outside)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;
    use migration::MigratorTrait;
    use sea_orm::{ActiveModelTrait, IntoActiveModel};

    use super::*;

    async fn spans_stored(db: &sea_orm::DatabaseConnection) -> Vec<(String, i64, i64)> {
        let sql = format!("SELECT day, first_order, last_order FROM {TABLE} ORDER BY day");
        let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
        rows.iter()
            .map(|r| {
                (
                    r.try_get("", "day").unwrap(),
                    r.try_get("", "first_order").unwrap(),
                    r.try_get("", "last_order").unwrap(),
                )
            })
            .collect()
    }

    /// Spans group by the UTC day of receipt; a write widens a stored span and never narrows
    /// it; a rebuild makes them tight again; appeals outside their day's span are counted.
    #[tokio::test]
    async fn a_write_widens_the_span_of_each_day_and_never_narrows_it() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        migration::Migrator::up(&db, None).await.unwrap();
        let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap();
        let order = |seq: i64| number_order(&format!("2026-{seq:06}"));
        let mut spans = Spans::default();
        spans.add(at(2, 23), "2026-000007");
        spans.add(at(2, 1), "2026-000003");
        spans.add(at(3, 0), "2026-000005");
        spans.write(&db).await.unwrap();
        let want = vec![("2026-03-02".to_string(), order(3), order(7)), ("2026-03-03".to_string(), order(5), order(5))];
        assert_eq!(spans_stored(&db).await, want);
        // Inside the span: nothing changes; outside: it widens on that side only.
        widen(&db, at(2, 12), "2026-000004").await.unwrap();
        assert_eq!(spans_stored(&db).await, want);
        widen(&db, at(3, 5), "2026-000009").await.unwrap();
        widen(&db, at(3, 6), "2026-000001").await.unwrap();
        assert_eq!(spans_stored(&db).await[1], ("2026-03-03".to_string(), order(1), order(9)));
        // No appeals: every stored span lies wider than needed, none is missing one.
        assert_eq!(outside(&db).await.unwrap(), 0);
        for (id, number, received) in
            [(1, "2026-000004", at(2, 12)), (2, "2026-000002", at(2, 13)), (3, "2026-000011", at(4, 13))]
        {
            let sample = crate::entity::appeal::Model::from(crate::store::appeals::tests::sample());
            let model = crate::entity::appeal::Model {
                id,
                number: number.into(),
                received_at: received,
                external_id: None,
                feedback_code: None,
                category_id: None,
                suggested_category_id: None,
                territory_id: None,
                recipient_id: None,
                duplicate_of_id: None,
                ..sample
            };
            model.into_active_model().reset_all().insert(&db).await.unwrap();
        }
        // Written around the store: one below its day's span, one on a day without a span.
        assert_eq!(outside(&db).await.unwrap(), 2);
        let tight =
            vec![("2026-03-02".to_string(), order(2), order(4)), ("2026-03-04".to_string(), order(11), order(11))];
        rebuild(&db).await.unwrap();
        assert_eq!(outside(&db).await.unwrap(), 0);
        assert_eq!(spans_stored(&db).await, tight);
        // One appeal a statement: the spans of a day whose appeals lie in different ranges
        // merge to the same.
        widen(&db, at(2, 9), "2026-000001").await.unwrap();
        rebuild_in_ranges(&db, 1).await.unwrap();
        assert_eq!(spans_stored(&db).await, tight);
    }
}
