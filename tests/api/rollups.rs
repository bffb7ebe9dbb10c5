//! The analytics rollups stay compact: bulk loads leave them folded, and compaction (in
//! chunks, each its own transaction) keeps every figure the ledger gave.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Every year-long analytic the server answers, as the curator reads them.
const ANALYTICS: &str = "query($p:PeriodInput!){ analytics {
  summary(period:$p) { total answered answeredOnTime onTimeRate overdueNow dueSoonNow medianResponseHours satisfiedRate fullAnswerRate reopenedRate byChannel { key count } byKind { key count } byStatus { key count } }
  heatmap(period:$p) { cells { categoryId territoryId count previousCount per1000 } }
  recipientRating(period:$p) { recipient { id } rank total onTimeRate fullAnswerRate satisfiedRate medianResponseHours score enoughData }
  byWeek: trend(period:$p, granularity:WEEK) { key points { start count } }
  byChannel: trend(period:$p, granularity:MONTH, groupBy:CHANNEL) { key points { start count } }
  growth(period:$p, groupBy:CATEGORY) { key count baseline }
  problemPoints(period:$p, minCount:2) { cell category { id } count }
} }";

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

const OPEN_KEY: &str = "cube, grain, day, channel, kind, territory_id, recipient_id, unanswered, due_day, soon_day";
const POINT_KEY: &str = "grain, day, h3_cell, category_id, territory_id";

/// Ledger rows not yet folded, and keys with more than one row, over the tables of counts
/// (and of unresolved appeals).
async fn unfolded(db: &DatabaseConnection) -> (i64, i64) {
    let stat_key = "cube, grain, day, channel, kind, status, category_id, territory_id, recipient_id, duplicate";
    let due_key = "grain, day, channel, territory_id, recipient_id";
    let rows = scalar(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM appeal_stats WHERE NOT folded").await
        + scalar(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM appeal_due_stats WHERE NOT folded").await
        + scalar(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM appeal_open_stats WHERE NOT folded").await
        + scalar(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM appeal_point_stats WHERE NOT folded").await;
    let mut split = 0;
    for (table, key) in [
        ("appeal_stats", stat_key),
        ("appeal_due_stats", due_key),
        ("appeal_open_stats", OPEN_KEY),
        ("appeal_point_stats", POINT_KEY),
    ] {
        split += scalar(
            db,
            &format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT 1 AS x FROM {table} GROUP BY {key} HAVING COUNT(*) > 1) s"
            ),
        )
        .await;
    }
    (rows, split)
}

async fn year_of_analytics(app: &TestApp, token: &str) -> Value {
    let today = app.state.clock.now().with_timezone(&app.state.settings.timezone).date_naive();
    let from = today - chrono::Days::new(366);
    let p = json!({"p": {"from": from.to_string(), "to": today.to_string()}});
    app.gql(Some(token), ANALYTICS, p).await.data()["analytics"].clone()
}

/// The year's problem points as the ledger sums them (no filter) and as the appeals count
/// them (a filter naming every channel, which the ledger does not keep): the same, and some.
async fn assert_points_agree(app: &TestApp, token: &str) {
    let today = app.state.clock.now().with_timezone(&app.state.settings.timezone).date_naive();
    let p = json!({"from": (today - chrono::Days::new(366)).to_string(), "to": today.to_string()});
    let every =
        json!({"channel": ["POS", "INCIDENT", "GOSPABLIKI", "EMAIL", "POST", "PERSONAL", "PHONE", "WEBSITE", "OTHER"]});
    let q = "query($p:PeriodInput!,$f:AnalyticsFilter){ analytics { problemPoints(period:$p, minCount:2, filter:$f) { cell category { id } count } } }";
    let ledger = app.gql(Some(token), q, json!({"p": p})).await.data()["analytics"]["problemPoints"].clone();
    let counted =
        app.gql(Some(token), q, json!({"p": p, "f": every})).await.data()["analytics"]["problemPoints"].clone();
    assert!(ledger.as_array().is_some_and(|a| a.len() > 3), "{ledger}");
    assert_eq!(ledger, counted);
}

async fn seeded(n: u64) -> (TestApp, String) {
    let app = spawn_app().await;
    mcu::service::seed::seed_demo(&app.state, n, 11).await.unwrap();
    let (curator, _) = app.login("curator@demo.mcu", mcu::service::seed::DEMO_PASSWORD).await;
    (app, curator)
}

#[tokio::test]
async fn a_demo_load_leaves_the_ledger_folded_with_one_row_per_key_and_verified() {
    let (app, curator) = seeded(900).await;
    let db = &app.state.db;
    assert_eq!(unfolded(db).await, (0, 0), "the load folded what its batches appended");
    app.assert_rollups_agree().await;
    let figures = year_of_analytics(&app, &curator).await;
    assert_eq!(figures["summary"]["total"], 900);
    assert_points_agree(&app, &curator).await;
    // A rebuild from the appeals gives the same figures.
    mcu::service::rollup::rebuild(db, app.state.settings.timezone).await.unwrap();
    assert_eq!(year_of_analytics(&app, &curator).await, figures);
    assert_eq!(mcu::service::rollup::compact(db, false).await.unwrap(), None, "nothing left to fold");
}

#[tokio::test]
async fn compaction_in_chunks_gives_the_figures_of_the_ledger() {
    let (app, curator) = seeded(700).await;
    let db = &app.state.db;
    // Split every folded row into three unfolded ones of the same sum (x + x − x), as writers
    // appending over a long time would leave them, in every chunk.
    for (table, key, counts) in [
        (
            "appeal_stats",
            "cube, grain, day, channel, kind, status, category_id, territory_id, recipient_id, duplicate",
            ["total", "answered", "answered_on_time", "satisfied", "rated", "\"full\"", "assessed", "reopened"]
                .as_slice(),
        ),
        ("appeal_due_stats", "grain, day, channel, territory_id, recipient_id", ["resolved", "met"].as_slice()),
        ("appeal_open_stats", OPEN_KEY, ["\"open\""].as_slice()),
        ("appeal_point_stats", POINT_KEY, ["points"].as_slice()),
    ] {
        let cols = counts.join(", ");
        let negated = counts.iter().map(|c| format!("-{c}")).collect::<Vec<_>>().join(", ");
        for values in [cols.clone(), negated] {
            db.execute_unprepared(&format!(
                "INSERT INTO {table} ({key}, {cols}, folded) SELECT {key}, {values}, FALSE FROM {table} WHERE folded"
            ))
            .await
            .unwrap();
        }
        db.execute_unprepared(&format!("UPDATE {table} SET folded = FALSE")).await.unwrap();
    }
    let (rows, split) = unfolded(db).await;
    assert!(rows > 0 && split > 0, "the ledger holds unfolded rows: {rows}, {split}");
    app.assert_rollups_agree().await;
    let figures = year_of_analytics(&app, &curator).await;
    assert_eq!(figures["summary"]["total"], 700);

    let left = mcu::service::rollup::compact(db, false).await.unwrap().unwrap();
    assert!(left > 0);
    assert_eq!(unfolded(db).await, (0, 0), "every chunk was folded to one row per key");
    app.assert_rollups_agree().await;
    assert_eq!(year_of_analytics(&app, &curator).await, figures);
    assert_points_agree(&app, &curator).await;

    // A write after the compaction appends unfolded rows; the next pass folds just those.
    mcu::service::seed::seed_demo(&app.state, 30, 12).await.unwrap();
    assert_eq!(unfolded(db).await, (0, 0));
    app.assert_rollups_agree().await;
    assert_eq!(year_of_analytics(&app, &curator).await["summary"]["total"], 730);
}

/// The exact median of response hours, computed here from the rows (as `f64` hours).
fn exact_median(mut hours: Vec<f64>) -> Option<f64> {
    if hours.is_empty() {
        return None;
    }
    hours.sort_by(f64::total_cmp);
    let n = hours.len();
    Some(if n % 2 == 1 { hours[n / 2] } else { f64::midpoint(hours[n / 2 - 1], hours[n / 2]) })
}

/// An answered appeal: response hours, recipient, channel, category.
type Answer = (f64, Option<i64>, String, Option<i64>);

/// (response hours, recipient, channel, category) of the answered appeals received in
/// `[from, to)` local days.
async fn answers(app: &TestApp, from: chrono::NaiveDate, to: chrono::NaiveDate) -> Vec<Answer> {
    use mcu::entity::appeal;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let tz = app.state.settings.timezone;
    let at = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0).unwrap().and_local_timezone(tz).unwrap().with_timezone(&chrono::Utc)
    };
    appeal::Entity::find()
        .filter(appeal::Column::FirstAnsweredAt.is_not_null())
        .filter(appeal::Column::ReceivedAt.gte(at(from)))
        .filter(appeal::Column::ReceivedAt.lt(at(to)))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|a| {
            let micros = (a.first_answered_at.unwrap() - a.received_at).num_microseconds().unwrap();
            (micros as f64 / 1e6 / 3600.0, a.recipient_id, a.channel, a.category_id)
        })
        .collect()
}

fn close(v: &Value, expected: Option<f64>) -> bool {
    match (v.as_f64(), expected) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * b.abs().max(1.0),
        (None, None) => v.is_null(),
        _ => false,
    }
}

const MEDIANS: &str = "query($p:PeriodInput!,$f:AnalyticsFilter,$ch:Channel){ analytics {
  summary(period:$p, filter:$f) { answered medianResponseHours }
  recipientRating(period:$p, channel:$ch) { recipient { id } medianResponseHours }
} }";

/// The histogram narrows each median to one bucket of the response-time index; what it
/// returns is the median of the rows themselves, on a random set of demo appeals, for the
/// whole city, per recipient, within a channel, a recipient and a category (no histogram
/// there), over a year, a quarter and a week, and still when the histogram disagrees with
/// the rows.
#[tokio::test]
async fn medians_from_the_histograms_equal_the_exact_medians_of_the_rows() {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 % 100_000;
    let app = spawn_app().await;
    mcu::service::seed::seed_demo(&app.state, 800, seed).await.unwrap();
    let (curator, _) = app.login("curator@demo.mcu", mcu::service::seed::DEMO_PASSWORD).await;
    let today = app.state.clock.now().with_timezone(&app.state.settings.timezone).date_naive();
    let check = |corrupted: bool| {
        let app = &app;
        let curator = curator.clone();
        async move {
            for days in [366_u64, 91, 7] {
                let from = today - chrono::Days::new(days);
                let rows = answers(app, from, today + chrono::Days::new(1)).await;
                let p = json!({"from": from.to_string(), "to": today.to_string()});
                let all =
                    |f: &dyn Fn(&Answer) -> bool| exact_median(rows.iter().filter(|r| f(r)).map(|r| r.0).collect());
                let r = app.gql(Some(&curator), MEDIANS, json!({"p": p})).await;
                let s = &r.data()["analytics"]["summary"];
                assert!(close(&s["medianResponseHours"], all(&|_| true)), "seed {seed}, {days} days, {corrupted}: {s}");
                for line in r.data()["analytics"]["recipientRating"].as_array().unwrap() {
                    let id: i64 = line["recipient"]["id"].as_str().unwrap().parse().unwrap();
                    let expected = all(&|r| r.1 == Some(id));
                    assert!(
                        close(&line["medianResponseHours"], expected),
                        "seed {seed}, {days} days, recipient {id}: {line} expected {expected:?}"
                    );
                }
                // One channel (summary filter and rating argument), one recipient, one category.
                let r = app.gql(Some(&curator), MEDIANS, json!({"p": p, "f": {"channel": ["POS"]}, "ch": "POS"})).await;
                let expected = all(&|r| r.2 == "POS");
                assert!(close(&r.data()["analytics"]["summary"]["medianResponseHours"], expected), "seed {seed}: POS");
                for line in r.data()["analytics"]["recipientRating"].as_array().unwrap() {
                    let id: i64 = line["recipient"]["id"].as_str().unwrap().parse().unwrap();
                    let expected = all(&|r| r.1 == Some(id) && r.2 == "POS");
                    assert!(close(&line["medianResponseHours"], expected), "seed {seed}, POS, {id}: {line}");
                }
                if let Some(id) = rows.iter().find_map(|r| r.1) {
                    let f = json!({"recipientId": [id.to_string()]});
                    let r = app.gql(Some(&curator), MEDIANS, json!({"p": p, "f": f})).await;
                    let expected = all(&|r| r.1 == Some(id));
                    assert!(close(&r.data()["analytics"]["summary"]["medianResponseHours"], expected), "seed {seed}");
                }
                if let Some(c) = rows.iter().find_map(|r| r.3) {
                    let f = json!({"categoryId": [c.to_string()]});
                    let r = app.gql(Some(&curator), MEDIANS, json!({"p": p, "f": f})).await;
                    let expected = all(&|r| r.3 == Some(c));
                    assert!(close(&r.data()["analytics"]["summary"]["medianResponseHours"], expected), "seed {seed}");
                }
            }
        }
    };
    check(false).await;
    // Answers written meanwhile (the histograms and the walks read one snapshot) keep it so.
    mcu::service::seed::seed_demo(&app.state, 150, seed + 1).await.unwrap();
    check(true).await;
}

/// Only what the client selects is computed: the median and the counts "now" cost
/// statements only when asked for.
#[tokio::test]
async fn a_summary_computes_only_the_selected_fields() {
    let (app, curator) = seeded(200).await;
    let today = app.state.clock.now().with_timezone(&app.state.settings.timezone).date_naive();
    let year = json!({"p": {"from": (today - chrono::Days::new(366)).to_string(), "to": today.to_string()}});
    let cost = |q: &'static str| {
        let (app, curator, vars) = (&app, curator.clone(), year.clone());
        async move {
            let before = app.sql_statements();
            let r = app.gql(Some(&curator), q, vars).await;
            (app.sql_statements() - before, r.data()["analytics"].clone())
        }
    };
    // The seed changed the reference data: the first call reads it again (three statements
    // that are not the summary's).
    cost("query($p:PeriodInput!){ analytics { summary(period:$p) { total } } }").await;
    let (only_total, first) = cost("query($p:PeriodInput!){ analytics { summary(period:$p) { total } } }").await;
    let (with_now, second) =
        cost("query($p:PeriodInput!){ analytics { summary(period:$p) { total overdueNow } } }").await;
    let (everything, third) =
        cost("query($p:PeriodInput!){ analytics { summary(period:$p) { total overdueNow medianResponseHours } } }")
            .await;
    assert_eq!(first["summary"]["total"], 200);
    assert_eq!(second["summary"]["total"], 200);
    assert!(third["summary"]["medianResponseHours"].as_f64().is_some());
    assert!(only_total < with_now && with_now < everything, "{only_total} < {with_now} < {everything}");
    // The rating reads its medians only when they are selected.
    let (bare, _) = cost("query($p:PeriodInput!){ analytics { recipientRating(period:$p) { total score } } }").await;
    let (median, r) =
        cost("query($p:PeriodInput!){ analytics { recipientRating(period:$p) { total score medianResponseHours } } }")
            .await;
    assert!(bare < median, "{bare} < {median}");
    assert!(r["recipientRating"].as_array().unwrap().iter().any(|l| l["medianResponseHours"].is_f64()));
    // All nine recipients' medians: one grouped read of the histograms and one walk statement
    // (with the snapshot's begin and commit), not a statement per recipient.
    assert!(median - bare <= 4, "{median} - {bare}");
}

/// The maintenance after a compaction or a bulk load (`VACUUM (ANALYZE)`) runs on a
/// connection of its own without the requests' statement timeout: on a ledger of millions of
/// rows it takes longer than a request may, and it failed with the timeout right after a
/// seed of 1,000,000 appeals.
#[tokio::test]
async fn maintenance_runs_without_the_requests_statement_timeout() {
    let app = crate::helpers::spawn_app_with(|a| a.db_statement_timeout_ms = 300).await;
    let db = &app.state.db;
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        let slow = "SELECT pg_sleep(1.5)";
        let cut = db.execute_unprepared(slow).await.expect_err("the pool's statements stop at 300 ms");
        assert!(cut.to_string().contains("statement timeout"), "{cut}");
        mcu::db::maintenance(db, slow).await.expect("maintenance runs past the requests' timeout");
        // The pool keeps its timeout.
        assert!(db.execute_unprepared(slow).await.is_err());
    }
    mcu::db::maintenance(db, "VACUUM").await.expect("VACUUM runs outside any transaction");
}

/// A rebuild is one transaction over every appeal; on PostgreSQL each of its statements runs
/// under the rebuild's own timeout, not the requests'. The server rebuilds at start when
/// `MCU_TIMEZONE` changes, and at 5,000,000 appeals the requests' 10 s did not hold the
/// rewrite of the ledger: here a pool whose statements stop after 1 ms stands for that.
#[tokio::test]
async fn a_rebuild_runs_under_its_own_statement_timeout_not_the_requests() {
    let (app, curator) = seeded(1500).await;
    let tz = app.state.settings.timezone;
    let figures = year_of_analytics(&app, &curator).await;
    let db = &app.state.db;
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        let mut tight_settings = (*app.state.settings).clone();
        tight_settings.db_statement_timeout = std::time::Duration::from_millis(1);
        let tight = mcu::db::connect(&tight_settings).await.unwrap();
        let cut =
            tight.execute_unprepared("SELECT pg_sleep(0.05)").await.expect_err("the pool's statements stop at 1 ms");
        assert!(cut.to_string().contains("statement timeout"), "{cut}");
        mcu::service::rollup::rebuild(&tight, tz).await.expect("a rebuild runs past the requests' timeout");
        // The timeout was the transaction's own: the pool keeps the requests'.
        assert!(tight.execute_unprepared("SELECT pg_sleep(0.05)").await.is_err());
        tight.close().await.unwrap();
    } else {
        // SQLite has no statement timeout: the rebuild in ranges gives the same figures.
        mcu::service::rollup::rebuild(db, tz).await.unwrap();
    }
    app.assert_rollups_agree().await;
    assert_eq!(year_of_analytics(&app, &curator).await, figures);
}

/// The migrations run on a connection of their own without the requests' statement timeout
/// (PostgreSQL): a new index on 5,000,000 appeals took longer than the default 10 s, and
/// `mcu migrate` (and the server's start after an upgrade) failed. Here every migration of a
/// fresh database, through a pool whose statements stop after 1 ms. SQLite has no statement
/// timeout.
#[tokio::test]
async fn migrations_run_without_the_requests_statement_timeout() {
    let admin_url = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => return,
    };
    let name = format!("test_migrate_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(&admin_url).await.unwrap();
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
    let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b);
    let mut args = crate::helpers::test_args(format!("{base}/{name}"));
    args.db_statement_timeout_ms = 1;
    let settings = mcu::config::Settings::from_args(args).unwrap();
    let db = mcu::db::connect(&settings).await.unwrap();
    let cut = db.execute_unprepared("SELECT pg_sleep(0.05)").await.expect_err("the pool's statements stop at 1 ms");
    let migrated = mcu::db::migrate(&db).await;
    db.close().await.unwrap();
    // Counted through a connection of its own: under load, even this count can take longer
    // than the pool's 1 ms (it failed so in CI once).
    let check = sea_orm::Database::connect(format!("{base}/{name}")).await.unwrap();
    let tables = check
        .query_one_raw(Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT CAST(count(*) AS BIGINT) FROM seaql_migrations",
        ))
        .await;
    check.close().await.unwrap();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await.unwrap();
    assert!(cut.to_string().contains("statement timeout"), "{cut}");
    migrated.expect("the migrations run past the requests' timeout");
    let applied: i64 = tables.unwrap().unwrap().try_get_by_index(0).unwrap();
    use migration::MigratorTrait;
    assert_eq!(applied, i64::try_from(migration::Migrator::migrations().len()).unwrap(), "every migration applied");
}

#[tokio::test]
async fn an_ingestion_burst_leaves_the_ledger_folded_after_its_last_call() {
    let app = spawn_app().await;
    app.set_now("2026-11-25T10:00:00+07:00");
    let admin = app.admin().await;
    let r = app
        .gql(
            Some(&admin),
            "mutation($s:[ApiScope!]!){createApiToken(input:{name:\"Инцидент менеджмент\",scopes:$s}){secret}}",
            json!({"s": ["APPEALS_INGEST"]}),
        )
        .await;
    let token = r.data()["createApiToken"]["secret"].as_str().unwrap().to_string();
    let ingest = "mutation($i:[IngestAppealInput!]!){ingestAppeals(input:$i){created rejected{row message}}}";
    // Three calls of 1,000 new items back to back, received over ten days of November.
    for call in 0..3 {
        let items: Vec<Value> = (0..1000)
            .map(|i| {
                let day = 10 + (call * 1000 + i) % 10;
                json!({"channel": "INCIDENT", "externalId": format!("burst-{call}-{i}"), "kind": "INCIDENT",
                       "receivedAt": format!("2026-11-{day}T10:00:00+07:00"), "text": format!("Яма на дороге, сообщение {call}-{i}")})
            })
            .collect();
        let r = app.gql(Some(&token), ingest, json!({"i": items})).await;
        assert_eq!(r.data()["ingestAppeals"]["created"], 1000, "{:?}", r.data());
    }
    // The last fold starts within about a second of the last call.
    let started = std::time::Instant::now();
    let mut left = unfolded(&app.state.db).await;
    while left != (0, 0) && started.elapsed() < std::time::Duration::from_secs(15) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = unfolded(&app.state.db).await;
    }
    assert_eq!(left, (0, 0), "unfolded ledger rows and split keys left after the burst");
    let differences = mcu::store::rollup::verify(&app.state.db, app.state.settings.timezone).await.unwrap();
    assert!(differences.is_empty(), "{differences:?}");
}

/// "Overdue now" and "due soon now" summed from the ledger of unresolved appeals (by the days
/// of their deadlines, today's read at the instant), the rating's overdue appeals per
/// recipient and the memo's overdue recipients (count and earliest deadline, from the ledger
/// by the buckets of the deadlines) are the counts over the appeals at every instant: a deadline's exact instant and a millisecond either side (the test clock's step), the start of "due
/// soon", local midnights, days later; alone and with a channel or kind filter (the ledger)
/// or a territory (the walk of the appeals); and after writes that resolve appeals.
#[tokio::test]
async fn the_counts_of_now_from_the_ledger_are_the_counts_over_the_appeals() {
    use chrono::{DateTime, Duration, Utc};
    use mcu::entity::appeal;
    use sea_orm::EntityTrait;

    const NOW: &str = "query($p:PeriodInput!,$f:AnalyticsFilter){ analytics { summary(period:$p, filter:$f) { total overdueNow dueSoonNow } } }";
    let (app, curator) = seeded(1500).await;
    let tz = app.state.settings.timezone;
    let db = &app.state.db;
    let today = app.state.clock.now().with_timezone(&tz).date_naive();
    let from = today - chrono::Days::new(200);
    let period = json!({"from": from.to_string(), "to": today.to_string()});
    let period_days = mcu::service::analytics::Period { from, to: today };
    let start = from.and_hms_opt(0, 0, 0).unwrap().and_local_timezone(tz).unwrap().with_timezone(&Utc);
    let end = (today + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_local_timezone(tz)
        .unwrap()
        .with_timezone(&Utc);
    let territory =
        app.gql(Some(&curator), "{ territories { id } }", json!({})).await.data()["territories"][0]["id"].clone();
    let check = |at: DateTime<Utc>| {
        let (app, period, territory) = (&app, period.clone(), territory.clone());
        async move {
            app.state.clock.freeze_at(at);
            // A token of that instant (the clock moves days either way).
            let (curator, _) = app.login("curator@demo.mcu", mcu::service::seed::DEMO_PASSWORD).await;
            let rows = appeal::Entity::find().all(&app.state.db).await.unwrap();
            let filters = [
                (json!(null), None, None, None),
                (json!({"channel": ["POS"]}), Some("POS"), None, None),
                (json!({"kind": ["APPEAL"]}), None, Some(["APPEAL"]), None),
                (
                    json!({"territoryId": [territory.clone()]}),
                    None,
                    None,
                    territory.as_str().map(|t| t.parse::<i64>().unwrap()),
                ),
            ];
            for (f, channel, kinds, territory) in filters {
                let mine = rows.iter().filter(|a| {
                    a.resolved_at.is_none()
                        && a.received_at >= start
                        && a.received_at < end
                        && channel.is_none_or(|c| a.channel == c)
                        && kinds.is_none_or(|k| k.contains(&a.kind.as_str()))
                        && territory.is_none_or(|t| a.territory_id == Some(t))
                });
                let overdue = mine.clone().filter(|a| a.due_at < at).count() as i64;
                let soon = mine.filter(|a| a.due_at >= at && a.due_soon_at <= at).count() as i64;
                let r = app.gql(Some(&curator), NOW, json!({"p": period, "f": f})).await;
                let s = &r.data()["analytics"]["summary"];
                assert_eq!(
                    (s["overdueNow"].as_i64(), s["dueSoonNow"].as_i64()),
                    (Some(overdue), Some(soon)),
                    "at {at} with {f}"
                );
            }
            memo_and_rating_agree(app, &rows, at, (start, end), period_days).await;
        }
    };
    let rows = appeal::Entity::find().all(db).await.unwrap();
    let open: Vec<&appeal::Model> = rows.iter().filter(|a| a.resolved_at.is_none()).collect();
    assert!(open.len() > 30, "the demo leaves appeals open: {}", open.len());
    let real_now = app.state.clock.now();
    let mut instants = vec![real_now, real_now + Duration::days(3), real_now + Duration::days(20)];
    for a in open.iter().step_by(open.len() / 6) {
        for t in [a.due_at, a.due_soon_at] {
            instants.extend([t - Duration::milliseconds(1), t, t + Duration::milliseconds(1)]);
            // The local midnight that starts the deadline's day, and the last instant before it.
            let day = t.with_timezone(&tz).date_naive();
            let midnight = day.and_hms_opt(0, 0, 0).unwrap().and_local_timezone(tz).unwrap().with_timezone(&Utc);
            instants.extend([midnight, midnight - Duration::milliseconds(1)]);
        }
    }
    for at in instants.clone() {
        check(at).await;
    }
    // Resolutions move appeals out of the ledger; the counts follow.
    app.state.clock.freeze_at(real_now);
    let original = rows.iter().find(|a| a.resolved_at.is_some()).unwrap().id.to_string();
    let (curator, _) = app.login("curator@demo.mcu", mcu::service::seed::DEMO_PASSWORD).await;
    let mut resolved = 0;
    for a in &open {
        if resolved == 10 {
            break;
        }
        let id = a.id.to_string();
        let done = match a.status.as_str() {
            "RECEIVED" | "REGISTERED" => {
                let dup = json!({"id": id, "version": a.version, "originalId": original});
                app.act(&curator, "markDuplicate", "MarkDuplicateInput", dup).await
            }
            "ASSIGNED" | "IN_PROGRESS" => {
                let answer = json!({"id": id, "version": a.version, "text": "Работы выполнены."});
                app.act(&curator, "answerAppeal", "AnswerAppealInput", answer).await
            }
            _ => continue,
        };
        assert_eq!(done.data()["r"]["slaState"].as_str().map(|s| s == "MET" || s == "MISSED"), Some(true));
        resolved += 1;
    }
    assert!(resolved >= 8, "{resolved} resolved");
    app.assert_rollups_agree().await;
    for at in instants.into_iter().step_by(3) {
        check(at).await;
    }
}

/// The memo's overdue recipients and the rating's on-time rates at `at`, against the rules
/// applied to the appeals themselves.
async fn memo_and_rating_agree(
    app: &TestApp,
    rows: &[mcu::entity::appeal::Model],
    at: chrono::DateTime<chrono::Utc>,
    (start, end): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    period: mcu::service::analytics::Period,
) {
    use std::collections::HashMap;

    use chrono::Datelike;
    use mcu::domain::access::{Principal, Role, UserPrincipal};
    use sea_orm::EntityTrait;
    let who = Principal::User(UserPrincipal {
        id: 1,
        email: "head@mcu.test".into(),
        roles: vec![Role::Head],
        channels: Vec::new(),
        recipient_id: None,
        territory_id: None,
    });
    let names: HashMap<i64, String> = mcu::entity::recipient::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    // The memo: open appeals overdue now, per recipient, with the earliest deadline.
    let local = at.with_timezone(&app.state.settings.timezone).date_naive();
    let monday = local - chrono::Days::new(u64::from(local.weekday().num_days_from_monday()));
    let memo = mcu::service::analytics::weekly_memo(&app.state, &who, monday).await.unwrap();
    let mut expected: HashMap<String, (i64, chrono::DateTime<chrono::Utc>)> = HashMap::new();
    for a in rows.iter().filter(|a| a.resolved_at.is_none() && a.due_at < at) {
        let name = a.recipient_id.map_or_else(|| mcu::domain::labels::UNASSIGNED.to_string(), |r| names[&r].clone());
        let e = expected.entry(name).or_insert((0, a.due_at));
        e.0 += 1;
        e.1 = e.1.min(a.due_at);
    }
    let got: HashMap<String, (i64, chrono::DateTime<chrono::Utc>)> =
        memo.overdue_by_recipient.iter().map(|g| (g.recipient.clone(), (g.count, g.oldest_due))).collect();
    assert_eq!(got, expected, "the memo's overdue recipients at {at}");
    // The rating: met ÷ (resolved + unanswered overdue) by the deadlines in the period.
    let rating = mcu::service::analytics::recipient_rating(&app.state, &who, period, None).await.unwrap();
    for row in rating.iter().filter(|r| r.on_time_rate.is_some()) {
        let (mut due, mut met) = (0_i64, 0_i64);
        for a in rows.iter().filter(|a| a.recipient_id == Some(row.recipient.id)) {
            let outcome = match (a.first_answered_at, a.first_due_at) {
                (Some(answered), Some(first_due)) => Some((answered, first_due)),
                _ => a.resolved_at.map(|r| (r, a.due_at)),
            };
            match outcome {
                Some((done, deadline)) if deadline >= start && deadline < end => {
                    due += 1;
                    met += i64::from(done <= deadline);
                }
                None if a.due_at >= start && a.due_at < end && a.due_at < at => due += 1,
                _ => {}
            }
        }
        let expected = met as f64 / due as f64;
        assert!(
            (row.on_time_rate.unwrap() - expected).abs() < 1e-9,
            "{}: {:?} against {met}/{due} at {at}",
            row.recipient.name,
            row.on_time_rate
        );
    }
}

/// Growth by each grouping, as the rule says over the appeals: per group the non-duplicate
/// appeals received in the period, the mean of the three periods before it as the baseline,
/// and as drivers the (sub)categories, territories and channels whose count rose most over
/// their own baseline (rounded, above zero, at most five, ties by key). The memo's two
/// growth lists (this week's, last week's rises) are the same as asked one by one.
#[tokio::test]
async fn growth_by_every_grouping_is_the_rule_over_the_appeals() {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Datelike, NaiveDate, Utc};
    use mcu::service::analytics::{Filter, GroupBy, Period};

    let (app, curator) = seeded(1500).await;
    let tz = app.state.settings.timezone;
    let db = &app.state.db;
    let today = app.state.clock.now().with_timezone(&tz).date_naive();
    let week_start = today - chrono::Days::new(u64::from(today.weekday().num_days_from_monday()) + 7);
    let week = Period { from: week_start, to: week_start + chrono::Days::new(6) };
    // A topic of three appeals a week that rose to eight the week before the memo's week: a
    // significant rise over its own three weeks before (P(X ≥ 8 | 3) ≈ 0.012), and none if
    // that week were counted in its own baseline (P(X ≥ 8 | 4.7) ≈ 0.11).
    let admin = app.admin().await;
    let create = "mutation($i:CategoryInput!){ createCategory(input:$i) { id } }";
    let topic = app.gql(Some(&admin), create, json!({"i": {"name": "Рост"}})).await.data()["createCategory"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (back, n) in [(1, 8), (2, 3), (3, 3), (4, 3)] {
        let wednesday = week.back(back).from + chrono::Days::new(2);
        for i in 0..n {
            let at = wednesday.and_hms_opt(9 + i, 0, 0).unwrap().and_local_timezone(tz).unwrap().to_rfc3339();
            let input =
                json!({"kind": "MESSAGE", "channel": "POS", "text": "Рост", "categoryId": topic, "receivedAt": at});
            app.appeal(&curator, input).await;
        }
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT a.received_at, a.category_id, c.parent_id, a.territory_id, a.channel, a.recipient_id \
             FROM appeals a LEFT JOIN categories c ON c.id = a.category_id WHERE a.duplicate_of_id IS NULL",
        ))
        .await
        .unwrap();
    struct Row {
        day: NaiveDate,
        category: Option<i64>,
        top: Option<i64>,
        territory: Option<i64>,
        channel: String,
        recipient: Option<i64>,
    }
    let rows: Vec<Row> = rows
        .iter()
        .map(|r| {
            let at: DateTime<Utc> = r.try_get("", "received_at").unwrap();
            let category: Option<i64> = r.try_get("", "category_id").unwrap();
            let parent: Option<i64> = r.try_get("", "parent_id").unwrap();
            Row {
                day: at.with_timezone(&tz).date_naive(),
                category,
                top: parent.or(category),
                territory: r.try_get("", "territory_id").unwrap(),
                channel: r.try_get("", "channel").unwrap(),
                recipient: r.try_get("", "recipient_id").unwrap(),
            }
        })
        .collect();
    // Per group: count, baseline, drivers.
    type Growth = BTreeMap<String, (i64, f64, Vec<(String, i64)>)>;
    let id = |v: Option<i64>| v.map_or_else(|| "none".to_string(), |i| i.to_string());
    // Per group: (count, baseline, drivers), by the rule.
    let expected = |by: &str, period: Period| {
        // Per group: count now, count before, and the same two per driver.
        type Counts = (i64, i64, BTreeMap<String, (i64, i64)>);
        let mut groups: BTreeMap<String, Counts> = BTreeMap::new();
        for back in 0..=3 {
            let shifted = period.back(back);
            for r in rows.iter().filter(|r| r.day >= shifted.from && r.day <= shifted.to) {
                let key = match by {
                    "CATEGORY" => id(r.top),
                    "TERRITORY" => id(r.territory),
                    "CHANNEL" => r.channel.clone(),
                    _ => id(r.recipient),
                };
                let category = format!("category:{}", id(r.category));
                let territory = format!("territory:{}", id(r.territory));
                let channel = format!("channel:{}", r.channel);
                let drivers = match by {
                    "TERRITORY" => vec![category, channel],
                    "CHANNEL" => vec![category, territory],
                    _ => vec![category, territory, channel],
                };
                let group = groups.entry(key).or_default();
                let now = back == 0;
                *(if now { &mut group.0 } else { &mut group.1 }) += 1;
                for d in drivers {
                    let e = group.2.entry(d).or_default();
                    *(if now { &mut e.0 } else { &mut e.1 }) += 1;
                }
            }
        }
        groups
            .into_iter()
            .map(|(key, (count, before, drivers))| {
                let mut top: Vec<(String, i64)> = drivers
                    .into_iter()
                    .map(|(k, (now, before))| (k, (now as f64 - before as f64 / 3.0).round() as i64))
                    .filter(|(_, delta)| *delta > 0)
                    .collect();
                top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                top.truncate(5);
                (key, (count, before as f64 / 3.0, top))
            })
            .collect::<Growth>()
    };
    const GROWTH: &str = "query($p:PeriodInput!,$by:GroupBy!){ analytics { growth(period:$p, groupBy:$by, limit:100) { key count baseline drivers { key count } } } }";
    let mut checked = 0;
    for days in [7, 30] {
        let period = Period { from: today - chrono::Days::new(days - 1), to: today };
        for by in ["CATEGORY", "TERRITORY", "CHANNEL", "RECIPIENT"] {
            let p = json!({"p": {"from": period.from.to_string(), "to": period.to.to_string()}, "by": by});
            let r = app.gql(Some(&curator), GROWTH, p).await;
            let got: Growth = r.data()["analytics"]["growth"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    let drivers = g["drivers"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| (d["key"].as_str().unwrap().to_string(), d["count"].as_i64().unwrap()))
                        .collect();
                    (
                        g["key"].as_str().unwrap().to_string(),
                        (g["count"].as_i64().unwrap(), g["baseline"].as_f64().unwrap(), drivers),
                    )
                })
                .collect();
            let want = expected(by, period);
            assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{by}, {days} days");
            for (key, (count, baseline, drivers)) in &want {
                let g = &got[key];
                assert_eq!(g.0, *count, "{by} {key}, {days} days");
                assert!((g.1 - baseline).abs() < 1e-9, "{by} {key}, {days} days: {} against {baseline}", g.1);
                assert_eq!(&g.2, drivers, "{by} {key}, {days} days");
                checked += usize::from(!drivers.is_empty());
            }
        }
    }
    assert!(checked > 10, "drivers were compared ({checked} groups had some)");
    // The memo's lists: this week's rises (the top five of growth, with a count, above one),
    // and the keys of last week's significant rises.
    let who = mcu::domain::access::Principal::User(mcu::domain::access::UserPrincipal {
        id: 1,
        email: "head@mcu.test".into(),
        roles: vec![mcu::domain::access::Role::Head],
        channels: Vec::new(),
        recipient_id: None,
        territory_id: None,
    });
    let memo = mcu::service::analytics::weekly_memo(&app.state, &who, week_start).await.unwrap();
    let growth = |p: Period, limit: usize| {
        let who = who.clone();
        let app = &app;
        async move {
            mcu::service::analytics::growth(&app.state, &who, p, GroupBy::Category, limit, &Filter::default())
                .await
                .unwrap()
        }
    };
    let top: Vec<_> = growth(week, 5).await.into_iter().filter(|g| g.count > 0 && g.growth > 1.0).collect();
    assert_eq!(memo.top_growth, top);
    let rising: std::collections::HashSet<String> =
        growth(week.back(1), usize::MAX).await.into_iter().filter(|g| g.significant).map(|g| g.key).collect();
    assert!(rising.contains(&topic), "the topic rose the week before: {rising:?}");
    assert_eq!(memo.rising_before, rising);
}

/// The list's totals, and those of resolved SLA states (`MET`, `MISSED`, both), are sums of
/// the ledger (`resolved`, `resolved_met`; the overview, topic or full cube), alone and with
/// other filters, and with `dueBefore` an instant not yet past the sums less the appeals due
/// later: the same as the appeals the list pages through (a `dueBefore` far ahead keeps the
/// same appeals, and one just past is counted over them).
#[tokio::test]
async fn totals_of_resolved_sla_states_from_the_ledger_are_the_counts_over_the_appeals() {
    let (app, curator) = seeded(600).await;
    app.assert_rollups_agree().await;
    let total = |f: Value| {
        let (app, curator) = (&app, curator.clone());
        async move {
            let q = "query($f:AppealFilter){ appeals(filter:$f, first:0) { totalCount } }";
            app.gql(Some(&curator), q, json!({ "f": f })).await.data()["appeals"]["totalCount"].as_i64().unwrap()
        }
    };
    // The rows of every page, 100 at a time: no total involved.
    let listed = |f: Value| {
        let (app, curator) = (&app, curator.clone());
        async move {
            let q = "query($f:AppealFilter,$a:String){ appeals(filter:$f, first:100, after:$a) { edges { node { id } } pageInfo { hasNextPage endCursor } } }";
            let (mut n, mut after) = (0, Value::Null);
            loop {
                let r = app.gql(Some(&curator), q, json!({ "f": f, "a": after })).await;
                let page = &r.data()["appeals"];
                n += page["edges"].as_array().unwrap().len() as i64;
                if page["pageInfo"]["hasNextPage"] != true {
                    return n;
                }
                after = page["pageInfo"]["endCursor"].clone();
            }
        }
    };
    let now = app.state.clock.now();
    let instant = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let due_soon = [instant(now + chrono::Duration::days(3)), instant(now + chrono::Duration::days(20))];
    let just_past = instant(now - chrono::Duration::seconds(1));
    let today = app.state.clock.now().with_timezone(&app.state.settings.timezone).date_naive();
    let months_ago = (today - chrono::Days::new(120)).to_string();
    // The busiest category, territory and recipient of the demo.
    let busiest = |col: &str| {
        let sql = format!(
            "SELECT {col} FROM appeals WHERE {col} IS NOT NULL GROUP BY {col} ORDER BY COUNT(*) DESC, {col} LIMIT 1"
        );
        let db = &app.state.db;
        async move { scalar(db, &sql).await.to_string() }
    };
    let (category, territory, recipient) =
        (busiest("category_id").await, busiest("territory_id").await, busiest("recipient_id").await);
    let bases = [
        json!({}),
        json!({"status": ["CLOSED", "ANSWERED"]}),
        json!({"channel": ["POS", "EMAIL"]}),
        json!({"kind": ["APPEAL"]}),
        json!({"receivedFrom": months_ago, "receivedTo": (today - chrono::Days::new(30)).to_string()}),
        // Summed from the topic cube (no status named), then from the full one.
        json!({"categoryId": [category], "territoryId": [territory]}),
        json!({"recipientId": [recipient]}),
        json!({"recipientId": [recipient], "status": ["CLOSED", "ANSWERED"]}),
    ];
    let mut due_later = 0;
    for base in bases {
        // Every appeal of the filter, from the ledger and listed.
        let mut far = base.clone();
        far["dueBefore"] = json!("2199-01-01T00:00:00Z");
        let all = total(base.clone()).await;
        assert_eq!(all, listed(base.clone()).await, "{base}");
        assert_eq!(all, total(far).await, "{base}");
        let mut sums = Vec::new();
        for states in [json!(null), json!(["MET"]), json!(["MISSED"]), json!(["MISSED", "MET"])] {
            let mut f = base.clone();
            if !states.is_null() {
                f["slaState"] = states;
            }
            let ledger = total(f.clone()).await;
            assert_eq!(ledger, listed(f.clone()).await, "{f}");
            sums.push(ledger);
            // Due before an instant not yet past: the sum less those due later; just past:
            // counted.
            for due in due_soon.iter().chain([&just_past]) {
                f["dueBefore"] = json!(due);
                let t = total(f.clone()).await;
                assert_eq!(t, listed(f.clone()).await, "{f}");
                due_later += ledger - t;
            }
        }
        assert!(sums[1] > 0 && sums[2] > 0, "{base}: {sums:?}");
        assert_eq!(sums[1] + sums[2], sums[3], "{base}");
    }
    assert!(due_later > 0, "some appeals are due later than the instants");
}
