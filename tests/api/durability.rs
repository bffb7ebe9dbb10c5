//! Storage that cannot write: no write is acknowledged that did not reach the database,
//! `/readyz` says so, and the server recovers once the storage is back (issue 14 item 5).
//!
//! On SQLite the database is capped with `MCU_SQLITE_MAX_PAGE_COUNT` (`PRAGMA
//! max_page_count` on every connection of the server) and a ballast table, written by a
//! connection of the test, takes all but a few pages below the cap: the server fills them,
//! then dropping the ballast gives the space back. On PostgreSQL the database is renamed
//! under the running server and renamed back.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const INGEST: &str =
    "mutation($i:[IngestAppealInput!]!){ingestAppeals(input:$i){created updated unchanged rejected{row message}}}";

/// Pages of 4 KiB the test database may hold.
const CAP_PAGES: i64 = 12_000;
/// Pages left to the server below the cap once the ballast is in.
const ROOM_PAGES: i64 = 400;
/// Free space `/readyz` asks for in the test: 160 pages, about two calls of [`batch`]'s
/// 100 appeals (each takes about 80 pages with the appeals' indexes), so a call refused for
/// want of room leaves less than that; and well below the room the test starts with.
const MIN_FREE: u64 = 160 * 4096;

async fn token(app: &TestApp, admin: &str) -> String {
    let r = app
        .gql(Some(admin), "mutation{createApiToken(input:{name:\"ЦУР\",scopes:[APPEALS_INGEST]}){secret}}", json!({}))
        .await;
    r.data()["createApiToken"]["secret"].as_str().unwrap().to_string()
}

fn batch(from: usize, n: usize) -> Value {
    let items: Vec<Value> = (from..from + n)
        .map(|i| {
            json!({"channel": "INCIDENT", "externalId": format!("disk-{i}"), "kind": "INCIDENT",
                   "receivedAt": "2026-11-20T10:00:00+07:00",
                   "text": format!("Обращение {i}: не вывозят мусор во дворе дома, контейнеры переполнены уже неделю. {}", "Подробности. ".repeat(20)),
                   "authorName": format!("Житель {i}"), "authorContact": format!("+7 900 {i:07}")})
        })
        .collect();
    Value::Array(items)
}

async fn readyz(app: &TestApp) -> (u16, String, Duration) {
    let started = Instant::now();
    let r = app.client.get(format!("{}/readyz", app.base)).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default(), started.elapsed())
}

/// `/readyz` within `limit`, polled until it answers `want` (at most 10 s).
async fn readyz_becomes(app: &TestApp, want: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body, took) = readyz(app).await;
        assert!(took < Duration::from_millis(2_500), "/readyz took {took:?}");
        if status == want {
            return body;
        }
        assert!(Instant::now() < deadline, "/readyz still answers {status} {body}, expected {want}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    let backend = db.get_database_backend();
    let row = db.query_one_raw(Statement::from_string(backend, sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// An error of a request the storage refused: a code, the request id, no database detail.
fn assert_unavailable(body: &Value) {
    let e = &body["errors"][0];
    assert_eq!(e["extensions"]["code"], "INTERNAL_SERVER_ERROR", "{body}");
    assert!(e["extensions"]["requestId"].as_str().is_some_and(|s| !s.is_empty()), "{body}");
    let message = e["message"].as_str().unwrap_or_default().to_lowercase();
    assert!(message.contains("unavailable"), "{body}");
    for leak in ["sqlite", "disk", "full", "postgres", "does not exist", "code:", "sqlx", "error returned"] {
        assert!(!message.contains(leak), "the message leaks '{leak}': {body}");
    }
}

#[tokio::test]
async fn storage_that_cannot_write_is_reported_and_no_acknowledged_write_is_lost() {
    let app = spawn_app_with(|a| {
        a.sqlite_max_page_count = Some(CAP_PAGES as u64);
        a.db_min_free_bytes = MIN_FREE;
    })
    .await;
    if app.state.db.get_database_backend() == DbBackend::Postgres {
        postgres_database_renamed_under_the_server(&app).await;
    } else {
        sqlite_page_cap_reached(&app).await;
    }
}

async fn sqlite_page_cap_reached(app: &TestApp) {
    let admin = app.admin().await;
    let ingest = token(app, &admin).await;
    // A connection of the test's own, without the cap: it lays the ballast and counts what
    // really is in the database.
    let url = app.state.settings.database_url.clone();
    let own = Database::connect(&url).await.unwrap();
    let pages = scalar(&own, "SELECT page_count FROM pragma_page_count()").await;
    assert!(pages + ROOM_PAGES < CAP_PAGES, "the fresh database already has {pages} pages");
    own.execute_unprepared("CREATE TABLE ballast (b BLOB)").await.unwrap();
    let rows = CAP_PAGES - pages - ROOM_PAGES;
    own.execute_unprepared(&format!(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {rows}) \
         INSERT INTO ballast SELECT randomblob(3000) FROM n"
    ))
    .await
    .unwrap();
    let left = CAP_PAGES - scalar(&own, "SELECT page_count FROM pragma_page_count()").await;
    assert!((200..=ROOM_PAGES).contains(&left), "{left} pages left below the cap");
    readyz_becomes(app, 200).await;

    // Fill the room until the storage refuses a call; then a few calls more.
    let mut acknowledged = 0_i64;
    let mut failed = 0;
    let mut next = 0;
    for _ in 0..60 {
        let r = app.gql(Some(&ingest), INGEST, json!({"i": batch(next, 100)})).await;
        next += 100;
        if r.body["errors"].is_null() {
            let d = &r.body["data"]["ingestAppeals"];
            assert_eq!(d["rejected"], json!([]), "{}", r.body);
            acknowledged += d["created"].as_i64().unwrap();
        } else {
            assert_unavailable(&r.body);
            assert!(r.body["data"].is_null(), "a failed call acknowledges nothing: {}", r.body);
            failed += 1;
            if failed == 4 {
                break;
            }
        }
    }
    assert_eq!(failed, 4, "the storage never refused a write ({acknowledged} appeals acknowledged)");
    assert!(acknowledged >= 100, "only {acknowledged} appeals fitted before the cap");
    let stored = scalar(&own, "SELECT count(*) FROM appeals WHERE external_id LIKE 'disk-%'").await;
    assert_eq!(stored, acknowledged, "every acknowledged appeal is in the database, and only those");
    let why = readyz_becomes(app, 503).await;
    assert!(why.contains("page cap"), "{why}");

    // Space back: the writer takes writes again, and they last.
    own.execute_unprepared("DROP TABLE ballast").await.unwrap();
    readyz_becomes(app, 200).await;
    let r = app.gql(Some(&ingest), INGEST, json!({"i": batch(next, 100)})).await;
    assert_eq!(r.data()["ingestAppeals"]["created"], 100);
    let r = app.gql(Some(&ingest), INGEST, json!({"i": batch(next + 100, 100)})).await;
    assert_eq!(r.data()["ingestAppeals"]["created"], 100);
    acknowledged += 200;
    // Another writer is not locked out (a sign-in writes its refresh token).
    app.admin().await;
    let stored = scalar(&own, "SELECT count(*) FROM appeals WHERE external_id LIKE 'disk-%'").await;
    assert_eq!(stored, acknowledged);
    own.close().await.unwrap();
}

async fn postgres_database_renamed_under_the_server(app: &TestApp) {
    let admin = app.admin().await;
    let ingest = token(app, &admin).await;
    let r = app.gql(Some(&ingest), INGEST, json!({"i": batch(0, 10)})).await;
    assert_eq!(r.data()["ingestAppeals"]["created"], 10);
    readyz_becomes(app, 200).await;

    let admin_url = std::env::var("TEST_DATABASE_URL").unwrap();
    let own = Database::connect(&admin_url).await.unwrap();
    let url = app.state.settings.database_url.clone();
    let name = url.rsplit_once('/').unwrap().1.split('?').next().unwrap().to_string();
    let away = format!("{name}_away");
    rename(&own, &name, &away).await;

    let why = readyz_becomes(app, 503).await;
    assert!(why.contains("cannot be reached"), "{why}");
    // An anonymous read and a token's write.
    let r = app.gql(None, "{ publicPoll(id: \"1\") { id } }", json!({})).await;
    assert_unavailable(&r.body);
    let r = app.gql(Some(&ingest), INGEST, json!({"i": batch(10, 10)})).await;
    assert!(r.body["data"].is_null(), "{}", r.body);
    assert!(r.body["errors"][0]["extensions"]["code"].is_string(), "{}", r.body);

    rename(&own, &away, &name).await;
    readyz_becomes(app, 200).await;
    let r = app.gql(Some(&ingest), INGEST, json!({"i": batch(10, 10)})).await;
    assert_eq!(r.data()["ingestAppeals"]["created"], 10);
    let back = Database::connect(&url).await.unwrap();
    assert_eq!(scalar(&back, "SELECT count(*)::BIGINT FROM appeals WHERE external_id LIKE 'disk-%'").await, 20);
    back.close().await.unwrap();
    own.close().await.unwrap();
}

/// Renames a database under its users: their sessions are ended until the rename wins the
/// race with the pool's reconnections.
async fn rename(admin: &DatabaseConnection, from: &str, to: &str) {
    for _ in 0..50 {
        admin
            .execute_unprepared(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{from}' AND pid <> pg_backend_pid()"
            ))
            .await
            .unwrap();
        if admin.execute_unprepared(&format!("ALTER DATABASE \"{from}\" RENAME TO \"{to}\"")).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("could not rename {from} to {to}");
}

/// A write transaction that fails so that the database ends it by itself (SQLite rolls back
/// the whole transaction on some `SQLITE_FULL` and I/O errors) must not leave the writer's
/// connection believing it is still inside it: otherwise the next failure leaves that
/// connection in an open transaction, and every later "commit" on it is a savepoint that is
/// acknowledged and never reaches the file, while it holds the write lock from everyone else.
/// Two triggers stand in for the storage faults: one ends the whole transaction
/// (`RAISE(ROLLBACK)`), one fails a statement (`RAISE(ABORT)`). On PostgreSQL one trigger
/// fails the statement the same way, and the writes after it must last there too.
#[tokio::test]
async fn a_connection_left_by_a_failed_transaction_is_not_reused() {
    let app = spawn_app_with(|_| {}).await;
    let admin = app.admin().await;
    let ingest = token(&app, &admin).await;
    let url = app.state.settings.database_url.clone();
    let own = Database::connect(&url).await.unwrap();
    let postgres = own.get_database_backend() == DbBackend::Postgres;
    if postgres {
        own.execute_unprepared(
            "CREATE FUNCTION storage_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             RAISE EXCEPTION 'storage fault'; END $$; \
             CREATE TRIGGER fault BEFORE INSERT ON appeals FOR EACH ROW \
             WHEN (NEW.external_id LIKE 'fault-%') EXECUTE FUNCTION storage_fault()",
        )
        .await
        .unwrap();
    } else {
        own.execute_unprepared(
            "CREATE TRIGGER fault_ends_transaction BEFORE INSERT ON appeals \
             WHEN NEW.external_id LIKE 'fault-rollback%' BEGIN SELECT RAISE(ROLLBACK, 'storage fault'); END; \
             CREATE TRIGGER fault_fails_statement BEFORE INSERT ON appeals \
             WHEN NEW.external_id LIKE 'fault-abort%' BEGIN SELECT RAISE(ABORT, 'storage fault'); END",
        )
        .await
        .unwrap();
    }
    let fault = |id: &str| json!([{"channel": "INCIDENT", "externalId": id, "kind": "INCIDENT", "receivedAt": "2026-11-20T10:00:00+07:00", "text": "сбой"}]);
    for id in ["fault-rollback-1", "fault-abort-1", "fault-rollback-2", "fault-abort-2"] {
        let r = app.gql(Some(&ingest), INGEST, json!({"i": fault(id)})).await;
        let refused = !r.body["errors"].is_null() || r.body["data"]["ingestAppeals"]["rejected"] != json!([]);
        assert!(refused, "{id}: {}", r.body);
    }
    let mut acknowledged = 0;
    for n in 0..3 {
        let r = app.gql(Some(&ingest), INGEST, json!({"i": batch(n * 10, 10)})).await;
        acknowledged += r.data()["ingestAppeals"]["created"].as_i64().unwrap();
    }
    assert_eq!(acknowledged, 30);
    // Another writer gets the write lock.
    let r = app.gql(Some(&admin), "mutation{createRecipient(input:{name:\"Отдел после сбоя\"}){id}}", json!({})).await;
    r.data();
    let count = if postgres { "SELECT count(*)::BIGINT FROM appeals" } else { "SELECT count(*) FROM appeals" };
    let stored = scalar(&own, &format!("{count} WHERE external_id LIKE 'disk-%'")).await;
    assert_eq!(stored, acknowledged, "acknowledged appeals that are not in the database");
    own.close().await.unwrap();
}

/// PostgreSQL may end the pool's connections while they sit idle (a restart, a proxy's or a
/// firewall's idle timeout). A connection idle for longer than a second is pinged before it
/// serves again, so the next statements get fresh connections instead of an error; busy
/// connections are not pinged on every checkout (a round trip per statement). The server's
/// own pool ([`mcu::db::connect`]) is tested alone: the server's background jobs would meet
/// the ended connections first and clear them from their pool. SQLite has no server that
/// could end a connection.
#[tokio::test]
async fn connections_the_database_ended_while_idle_are_replaced() {
    let app = spawn_app_with(|_| {}).await;
    let pool = mcu::db::connect(&app.state.settings).await.unwrap();
    if pool.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let own = Database::connect(&app.state.settings.database_url).await.unwrap();
    let statement = || Statement::from_string(DbBackend::Postgres, "SELECT pg_sleep(0.05)");
    // Several at once, so that the pool holds several connections.
    let warm = futures_util::future::join_all((0..4).map(|_| pool.execute_raw(statement()))).await;
    assert!(warm.iter().all(Result::is_ok), "{warm:?}");
    let ended = scalar(
        &own,
        "SELECT count(pg_terminate_backend(pid))::BIGINT FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await;
    assert!(ended >= 4, "the pool held {ended} connections");
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let after = futures_util::future::join_all((0..4).map(|_| pool.execute_raw(statement()))).await;
    assert!(after.iter().all(Result::is_ok), "statements after the connections were ended: {after:?}");
    pool.close().await.unwrap();
    own.close().await.unwrap();
}

/// Every connection of the server's pool on PostgreSQL plans with the configured cost of a
/// page read out of order (`MCU_DB_RANDOM_PAGE_COST`, 1.1 unless set; the server's default
/// is 4), and a value that is not a positive number is refused at start; and without JIT
/// (see `mcu::db::connect`).
#[tokio::test]
async fn connections_plan_with_the_configured_cost_of_a_read_out_of_order_and_without_jit() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1001.0] {
        let refused = mcu::config::Settings::from_args({
            let mut a = crate::helpers::test_args("sqlite://x.db".into());
            a.db_random_page_cost = bad;
            a
        });
        assert_eq!(refused.unwrap_err().setting, "MCU_DB_RANDOM_PAGE_COST", "{bad}");
    }
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        settings: mcu::config::SettingsArgs,
    }
    let cli = <Cli as clap::Parser>::try_parse_from(["mcu"]).map(|c| c.settings.db_random_page_cost);
    assert_eq!(cli.ok(), Some(1.1), "the default");
    let app = spawn_app_with(|a| a.db_random_page_cost = 2.5).await;
    if app.state.db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let cost = "SELECT (current_setting('random_page_cost')::float8 * 10)::BIGINT";
    // Several at once, so that several connections of the pool answer.
    let costs = futures_util::future::join_all((0..4).map(|_| scalar(&app.state.db, cost))).await;
    assert_eq!(costs, [25, 25, 25, 25]);
    let pool = mcu::db::connect(&app.state.settings).await.unwrap();
    assert_eq!(scalar(&pool, cost).await, 25);
    pool.close().await.unwrap();
    // No statement is compiled by JIT (the server's default database here has it on).
    let jit = "SELECT (current_setting('jit') = 'off')::int::BIGINT";
    let off = futures_util::future::join_all((0..4).map(|_| scalar(&app.state.db, jit))).await;
    assert_eq!(off, [1, 1, 1, 1]);
    let default = scalar(&app.state.db, "SELECT (boot_val = 'on')::int::BIGINT FROM pg_settings WHERE name = 'jit'");
    assert_eq!(default.await, 1, "PostgreSQL's own default is on");
}

/// The one-statement reads of requests ([`mcu::db::Reads`]) hand a finished read's connection
/// to the next read instead of giving it back to the pool (where SQLx pings it): the same
/// connection serves read after read. A connection goes back to the pool when its read
/// failed or was given up half-way, when it sat aside for longer than a second (so one that
/// PostgreSQL ended meanwhile is replaced, as in the pool), when the pool has no other
/// connection left for whoever waits, and at shutdown. SQLite reads go to the pool.
#[tokio::test]
async fn one_statement_reads_pass_their_connection_on_without_a_ping() {
    let app = spawn_app_with(|_| {}).await;
    let mut settings = (*app.state.settings).clone();
    settings.db_max_connections = 3;
    let pool = mcu::db::connect(&settings).await.unwrap();
    let reads = mcu::db::Reads::new(&pool, None);
    let postgres = pool.get_database_backend() == DbBackend::Postgres;
    let sql = |s: &str| Statement::from_string(pool.get_database_backend(), s);
    if !postgres {
        reads.query_one_raw(sql("SELECT 1")).await.unwrap().unwrap();
        assert_eq!(reads.kept(), 0, "SQLite reads keep nothing aside");
        return;
    }
    let pid = async || -> i32 {
        let row = reads.query_one_raw(sql("SELECT pg_backend_pid()")).await.unwrap().unwrap();
        row.try_get_by_index(0).unwrap()
    };
    let first = pid().await;
    assert_eq!(reads.kept(), 1);
    for _ in 0..5 {
        assert_eq!(pid().await, first, "a read did not get the connection the last read had");
    }
    let all = reads.query_all_raw(sql("SELECT pg_backend_pid() FROM generate_series(1, 3)")).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(reads.kept(), 1);

    // A failed read's connection goes back to the pool; so does one whose read was dropped.
    assert!(reads.query_one_raw(sql("SELECT 1 / (random() * 0)::INT")).await.is_err());
    assert_eq!(reads.kept(), 0, "a failed read's connection was kept aside");
    pid().await;
    assert_eq!(reads.kept(), 1);
    let cut = tokio::time::timeout(Duration::from_millis(100), reads.query_one_raw(sql("SELECT pg_sleep(0.5)"))).await;
    assert!(cut.is_err());
    assert_eq!(reads.kept(), 0, "the connection of a read given up half-way was kept aside");

    // With every connection of the pool taken, a finished read gives its connection back.
    pid().await;
    let raw = pool.get_postgres_connection_pool();
    let held = vec![raw.acquire().await.unwrap(), raw.acquire().await.unwrap()];
    assert_eq!(reads.kept(), 1);
    pid().await;
    assert_eq!(reads.kept(), 0, "the pool's last connection was kept aside");
    drop(held);

    // A connection aside for longer than a second goes back to the pool: one that PostgreSQL
    // ended meanwhile does not meet the next read.
    let own = Database::connect(&settings.database_url).await.unwrap();
    let aside = pid().await;
    assert_eq!(reads.kept(), 1);
    let ended = scalar(&own, &format!("SELECT pg_terminate_backend({aside})::INT::BIGINT")).await;
    assert_eq!(ended, 1);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(reads.kept(), 0, "a connection stayed aside for two seconds");
    assert_ne!(pid().await, aside);

    // At shutdown every connection aside goes back, and the pool closes.
    assert_eq!(reads.kept(), 1);
    reads.close();
    assert_eq!(reads.kept(), 0);
    tokio::time::timeout(Duration::from_secs(5), pool.close()).await.unwrap().unwrap();
    own.close().await.unwrap();
}
