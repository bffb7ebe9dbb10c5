//! The transactional outbox: announced only when the change commits, dispatched once across
//! processes, announced to every process's subscribers.

use std::collections::BTreeMap;
use std::time::Duration;

use mcu::domain::events::Topic;
use mcu::store::outbox::{self, Subject};
use sea_orm::TransactionTrait;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

/// Collects announced outbox ids of the rows these tests record (`ROADMAP_CHANGED`; the
/// server announces its own changes too, such as the first administrator's creation) until
/// `want` arrived or `wait` passed.
async fn collect(
    rx: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<mcu::entity::outbox::Model>>,
    want: usize,
    wait: Duration,
) -> Vec<i64> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while got.len() < want {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(row)) if row.topic == Topic::RoadmapChanged.as_str() => got.push(row.id),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("announcements lost: {e}"),
            Err(_) => break,
        }
    }
    got
}

async fn record(app: &TestApp, n: i64, commit: bool) -> Vec<i64> {
    let txn = app.state.writer.begin().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let id = outbox::record(
            &txn,
            Topic::RoadmapChanged,
            Subject::Roadmap(i + 1),
            &json!({ "n": i }),
            app.state.clock.now(),
        )
        .await
        .unwrap();
        ids.push(id);
    }
    if commit {
        txn.commit().await.unwrap();
    } else {
        txn.rollback().await.unwrap();
    }
    app.state.announcements.wake_dispatcher();
    ids
}

#[tokio::test]
async fn a_change_that_rolls_back_is_never_announced_and_one_that_commits_is_announced_once() {
    let app = spawn_app().await;
    let mut rx = app.state.announcements.subscribe();
    let lost = record(&app, 3, false).await;
    let kept = record(&app, 2, true).await;
    // Returns as soon as both arrive; the bound only has to outlast a CI machine loaded by the
    // other tests (5 s was once too short for the dispatcher's turn on PostgreSQL there).
    let got = collect(&mut rx, 2, Duration::from_secs(30)).await;
    assert_eq!(got, kept, "only the committed rows, in order");
    // Nothing more arrives, the rolled-back ids never.
    let more = collect(&mut rx, 1, Duration::from_millis(600)).await;
    assert!(more.is_empty(), "announced again or rolled back: {more:?} (rolled back: {lost:?})");
    // Only this test's rows: the server's own jobs may commit rows of their own meanwhile,
    // which its dispatcher has not reached yet.
    let rows = outbox::by_ids(&app.state.db, &kept).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), kept, "the committed rows are stored");
    assert!(rows.iter().all(|r| r.dispatched_at.is_some()), "everything committed was dispatched: {rows:?}");
}

#[tokio::test]
async fn two_processes_on_one_database_dispatch_every_row_once_and_both_hear_of_it() {
    let first = spawn_app().await;
    let second = first.second_process().await;
    let mut rx1 = first.state.announcements.subscribe();
    let mut rx2 = second.state.announcements.subscribe();
    let postgres = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    if postgres {
        // What another process announces before this one LISTENs is not replayed to it: wait
        // until both listeners are connected (a process hears its own rows without its
        // listener, so hearing a row proves nothing about it).
        use sea_orm::ConnectionTrait;
        let db = &first.state.db;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let sql = "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM pg_stat_activity \
                       WHERE datname = current_database() AND query ILIKE 'LISTEN%mcu_outbox%'";
            let row = db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await;
            let n: i64 = row.unwrap().unwrap().try_get("", "n").unwrap();
            if n >= 2 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the processes never listened: {n}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Several batches, committed while both dispatchers run.
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.extend(record(&first, 60, true).await);
        second.state.announcements.wake_dispatcher();
    }
    let counts = |got: &[i64]| {
        let mut c = BTreeMap::new();
        for id in got {
            *c.entry(*id).or_insert(0) += 1;
        }
        c
    };
    if postgres {
        // Every process hears of every row through LISTEN/NOTIFY, each exactly once.
        for rx in [&mut rx1, &mut rx2] {
            let got = collect(rx, ids.len(), Duration::from_secs(10)).await;
            let c = counts(&got);
            assert_eq!(c.len(), ids.len(), "every row announced to every process");
            assert!(c.values().all(|n| *n == 1), "a row announced twice: dispatched twice?");
        }
    } else {
        // One file, no NOTIFY: each process announces what it dispatched; together, each row once.
        let mut got = collect(&mut rx1, ids.len(), Duration::from_secs(3)).await;
        got.extend(collect(&mut rx2, ids.len() - got.len().min(ids.len()), Duration::from_secs(3)).await);
        let c = counts(&got);
        assert_eq!(c.len(), ids.len(), "every row dispatched");
        assert!(c.values().all(|n| *n == 1), "a row dispatched twice");
    }
}

#[tokio::test]
async fn a_periodic_job_is_led_by_one_process_at_a_time() {
    use mcu::jobs::{Job, try_lead};
    let first = spawn_app().await;
    let second = first.second_process().await;
    let postgres = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    let a = first.state.db.begin().await.unwrap();
    assert!(try_lead(&a, Job::DeadlineWatch).await.unwrap());
    let b = second.state.db.begin().await.unwrap();
    if postgres {
        assert!(!try_lead(&b, Job::DeadlineWatch).await.unwrap(), "the other process leads now");
        assert!(try_lead(&b, Job::WeeklyMemo).await.unwrap(), "another job is free");
        a.commit().await.unwrap();
        b.rollback().await.unwrap();
        let c = second.state.db.begin().await.unwrap();
        assert!(try_lead(&c, Job::DeadlineWatch).await.unwrap(), "free again after the leader's commit");
    } else {
        // One process serves an SQLite file: it always leads.
        assert!(try_lead(&b, Job::DeadlineWatch).await.unwrap());
    }
}

/// Each dispatched row leaves a dead version behind, which the idle dispatcher's look for
/// pending rows reads until a vacuum removes it. Autovacuum may be off (it is on the CI
/// machines here), so on PostgreSQL the server vacuums the outbox itself once its dispatcher
/// is idle: after it starts (what earlier processes dispatched), and after each backlog of
/// `VACUUM_AFTER` rows it dispatched (SQLite keeps no dead versions).
#[tokio::test]
async fn a_dispatched_backlog_is_vacuumed_by_the_server() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    let app = spawn_app().await;
    let db = &app.state.db;
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    let vacuums = || async {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT vacuum_count AS n FROM pg_stat_user_tables WHERE relname = 'outbox'",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    };
    // The vacuum runs beside the dispatcher; its statistics arrive when its connection closes.
    let wait_for = |more_than: i64, what: &'static str| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_mins(1);
        loop {
            let n = vacuums().await;
            if n > more_than {
                return n;
            }
            assert!(tokio::time::Instant::now() < deadline, "the outbox was not vacuumed {what}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let after_start = if postgres { wait_for(0, "after the server started").await } else { 0 };

    let n = usize::try_from(mcu::jobs::dispatcher::VACUUM_AFTER).unwrap();
    let now = app.state.clock.now();
    let rows: Vec<_> = (0..n)
        .map(|i| outbox::row(Topic::RoadmapChanged, Subject::Roadmap(1), json!({ "n": i }).to_string(), now))
        .collect();
    let txn = mcu::db::begin_write(&app.state.writer).await.unwrap();
    mcu::db::insert_rows(&txn, rows, 1000).await.unwrap();
    txn.commit().await.unwrap();
    app.state.announcements.wake_dispatcher();
    let deadline = tokio::time::Instant::now() + Duration::from_mins(2);
    while outbox::any_pending(db).await.unwrap() {
        assert!(tokio::time::Instant::now() < deadline, "the backlog was not dispatched");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if postgres {
        wait_for(after_start, "after the dispatched backlog").await;
    }
}

/// A process deletes the outbox rows dispatched more than `KEEP_DISPATCHED` ago once its
/// dispatcher is idle (the outbox grew by every change ever made); pending rows and those
/// dispatched since stay, and a pending row is still dispatched.
#[tokio::test]
async fn an_idle_process_prunes_the_rows_dispatched_before_the_kept_day() {
    use mcu::entity::outbox as row;
    use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

    let first = spawn_app().await;
    let db = &first.state.db;
    let now = first.state.clock.now();
    let keep = mcu::jobs::dispatcher::KEEP_DISPATCHED;
    let at = |dispatched: Option<chrono::DateTime<chrono::Utc>>, n: i64| {
        let mut r =
            outbox::row(Topic::RoadmapChanged, Subject::Roadmap(n), json!({ "n": n }).to_string(), now - keep * 2);
        r.dispatched_at = Set(dispatched);
        r
    };
    // More than a chunk of old rows, so the prune goes on after a full chunk.
    let old: Vec<_> = (0..10_050).map(|n| at(Some(now - keep - chrono::Duration::minutes(1)), n)).collect();
    // The old rows last: they hold the highest ids, which must not be given out again (an
    // outbox id keys e-mail deliveries and notifications).
    let txn = mcu::db::begin_write(&first.state.writer).await.unwrap();
    let recent = row::Entity::insert(at(Some(now - keep + chrono::Duration::minutes(1)), 1)).exec(&txn).await.unwrap();
    let pending = row::Entity::insert(at(None, 2)).exec(&txn).await.unwrap();
    mcu::db::insert_rows(&txn, old, 1000).await.unwrap();
    // Counted before the commit: the running process may prune as soon as they are there.
    let highest = row::Entity::find().all(&txn).await.unwrap().iter().map(|r| r.id).max().unwrap();
    let old_rows = row::Entity::find().filter(row::Column::DispatchedAt.lt(now - keep)).all(&txn).await.unwrap();
    assert_eq!(old_rows.len(), 10_050);
    txn.commit().await.unwrap();
    let old_left =
        || async { row::Entity::find().filter(row::Column::DispatchedAt.lt(now - keep)).all(db).await.unwrap().len() };

    // A process prunes at its first idle pass: the running one if it was not idle yet, else
    // one that starts now (the running one waits its hour).
    let second = first.second_process().await;
    let deadline = tokio::time::Instant::now() + Duration::from_mins(1);
    while old_left().await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the old dispatched rows were not pruned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kept = |id: i64| async move { row::Entity::find_by_id(id).one(db).await.unwrap() };
    assert!(kept(recent.last_insert_id).await.is_some(), "a row dispatched within the kept day was pruned");
    // It was pending, so it is dispatched now (by either process), not before. One process
    // may still be dispatching it while the other, which skipped the locked row, found
    // nothing pending and pruned: wait for it.
    let pending = loop {
        let row = kept(pending.last_insert_id).await.expect("a pending row was pruned");
        if row.dispatched_at.is_some() || tokio::time::Instant::now() >= deadline {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(pending.dispatched_at.is_some_and(|d| d >= now), "{pending:?}");

    // Called again, nothing is left to prune.
    assert_eq!(mcu::jobs::dispatcher::prune(&second.state).await.unwrap(), 0);
    // A new row gets an id never given before, though the highest ones were deleted.
    let id = outbox::record(db, Topic::RoadmapChanged, Subject::Roadmap(3), &json!({}), now).await.unwrap();
    assert!(id > highest, "outbox id {id} given again (highest before the prune {highest})");
}

/// A prune that failed (here a trigger refuses the delete; in production, a timeout on a
/// busy database) is tried again within seconds, not at the next hourly prune.
#[tokio::test]
async fn a_failed_prune_is_tried_again_soon() {
    use mcu::entity::outbox as row;
    use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter};

    let first = spawn_app().await;
    let db = &first.state.db;
    let now = first.state.clock.now();
    let keep = mcu::jobs::dispatcher::KEEP_DISPATCHED;
    let refuse = match db.get_database_backend() {
        DbBackend::Postgres => vec![
            "CREATE TABLE prune_refused (x INT)",
            "CREATE FUNCTION refuse_prune() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF EXISTS (SELECT 1 FROM prune_refused) THEN RAISE EXCEPTION 'refused'; END IF; RETURN OLD; END $$",
            "CREATE TRIGGER refuse_prune BEFORE DELETE ON outbox FOR EACH ROW EXECUTE FUNCTION refuse_prune()",
        ],
        _ => vec![
            "CREATE TABLE prune_refused (x INT)",
            "CREATE TRIGGER refuse_prune BEFORE DELETE ON outbox WHEN EXISTS (SELECT 1 FROM prune_refused) \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        ],
    };
    for sql in refuse.into_iter().chain(["INSERT INTO prune_refused VALUES (1)"]) {
        db.execute_unprepared(sql).await.unwrap();
    }
    let old: Vec<_> = (0..20)
        .map(|n| {
            let mut r = outbox::row(Topic::RoadmapChanged, Subject::Roadmap(n), json!({ "n": n }).to_string(), now);
            r.dispatched_at = Set(Some(now - keep - chrono::Duration::minutes(1)));
            r
        })
        .collect();
    let txn = mcu::db::begin_write(&first.state.writer).await.unwrap();
    mcu::db::insert_rows(&txn, old, 1000).await.unwrap();
    txn.commit().await.unwrap();
    let old_left =
        || async { row::Entity::find().filter(row::Column::DispatchedAt.lt(now - keep)).all(db).await.unwrap().len() };
    // A process that starts now prunes at its first idle pass, and is refused.
    let _second = first.second_process().await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(old_left().await, 20, "the prune was refused");
    db.execute_unprepared("DELETE FROM prune_refused").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while old_left().await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the refused prune was not tried again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
