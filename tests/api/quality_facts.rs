//! Honest quality metrics (issue 18, items 1–3): every answer is kept as a fact and the
//! analytics count the first one; an incident's first reaction is a fact with its own rates;
//! no volume, no score. Every expected number is counted by hand from the fixture.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

async fn spawn_long() -> TestApp {
    spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await
}

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc)
}

fn hours(from: &str, to: chrono::DateTime<chrono::Utc>) -> f64 {
    (to - at(from)).num_seconds() as f64 / 3600.0
}

fn close(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() < 1e-6)
}

async fn step(app: &TestApp, token: &str, mutation: &str, input_type: &str, input: Value) -> i64 {
    app.act(token, mutation, input_type, input).await.data()["r"]["version"].as_i64().unwrap()
}

/// A MESSAGE of the ПОС received at `received`, registered and assigned to `recipient`;
/// returns its id, version and deadline.
async fn assigned_message(app: &TestApp, token: &str, recipient: &str, received: &str) -> (String, i64, String) {
    let input = json!({"kind": "MESSAGE", "channel": "POS", "text": "Яма во дворе", "receivedAt": received,
        "authorName": "Иван Петров", "authorContact": "ivan@example.ru"});
    let (id, v, _) = app.appeal(token, input).await;
    let v = step(app, token, "registerAppeal", "AppealActionInput", json!({"id": id, "version": v})).await;
    let r = app
        .act(token, "assignAppeal", "AssignAppealInput", json!({"id": id, "version": v, "recipientId": recipient}))
        .await;
    let a = &r.data()["r"];
    (id, a["version"].as_i64().unwrap(), a["dueAt"].as_str().unwrap().to_string())
}

#[tokio::test]
#[allow(clippy::many_single_char_names)] // a and b are the fixture's two appeals, v their versions
async fn a_late_formal_answer_reopened_and_answered_well_still_counts_as_given() {
    let app = spawn_long().await;
    app.set_now("2026-11-02T11:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let r1 = app.recipient(&admin, "Управление ЖКХ").await;

    // A: answered a day after its deadline, assessed FORMAL (отписка), rated 2 (dissatisfied):
    // a MESSAGE is reopened by that rating; answered again well before the new deadline,
    // assessed FULL, rated 5.
    let a_received = "2026-11-02T10:00:00+07:00";
    let (a, v, a_due) = assigned_message(&app, &curator, &r1, a_received).await;
    let a_first = at(&a_due) + chrono::Duration::days(1);
    app.set_now(&a_first.to_rfc3339());
    let v = step(
        &app,
        &curator,
        "answerAppeal",
        "AnswerAppealInput",
        json!({"id": a, "version": v, "text": "Ваше обращение рассмотрено"}),
    )
    .await;
    let _assessed = step(
        &app,
        &curator,
        "assessAnswer",
        "AssessAnswerInput",
        json!({"id": a, "version": v, "completeness": "FORMAL"}),
    )
    .await;
    let r = app
        .gql(
            Some(&curator),
            "mutation($i:FeedbackInput!){recordFeedback(input:$i){id status reopenCount version dueAt answeredAt answerText completeness}}",
            json!({"i": {"id": a, "score": 2, "satisfied": false}}),
        )
        .await;
    let reopened = &r.data()["recordFeedback"];
    assert_eq!((reopened["status"].as_str(), reopened["reopenCount"].as_i64()), (Some("REOPENED"), Some(1)));
    assert!(reopened["answeredAt"].is_null() && reopened["answerText"].is_null() && reopened["completeness"].is_null());
    let v = reopened["version"].as_i64().unwrap();
    let a_second = a_first + chrono::Duration::hours(2);
    assert!(a_second < at(reopened["dueAt"].as_str().unwrap()));
    app.set_now(&a_second.to_rfc3339());
    let v = step(&app, &curator, "startWork", "AppealActionInput", json!({"id": a, "version": v})).await;
    let v = step(
        &app,
        &curator,
        "answerAppeal",
        "AnswerAppealInput",
        json!({"id": a, "version": v, "text": "Яма заделана 3 ноября"}),
    )
    .await;
    let v = step(
        &app,
        &curator,
        "assessAnswer",
        "AssessAnswerInput",
        json!({"id": a, "version": v, "completeness": "FULL"}),
    )
    .await;
    let fb = json!({"i": {"id": a, "score": 5, "satisfied": true}});
    app.gql(Some(&curator), "mutation($i:FeedbackInput!){recordFeedback(input:$i){id}}", fb).await.data();
    let _ = v;

    // B: answered on time, FULL, never rated nor reopened.
    app.set_now("2026-11-03T09:00:00+07:00");
    let b_received = "2026-11-03T08:00:00+07:00";
    let (b, v, b_due) = assigned_message(&app, &curator, &r1, b_received).await;
    let b_answer = at("2026-11-05T11:00:00+07:00");
    assert!(b_answer < at(&b_due));
    app.set_now(&b_answer.to_rfc3339());
    let v =
        step(&app, &curator, "answerAppeal", "AnswerAppealInput", json!({"id": b, "version": v, "text": "Сделано"}))
            .await;
    step(&app, &curator, "assessAnswer", "AssessAnswerInput", json!({"id": b, "version": v, "completeness": "FULL"}))
        .await;

    app.set_now("2026-12-20T12:00:00+07:00");
    app.assert_rollups_agree().await;

    // The appeal shows both answers, in order, as facts.
    let r = app
        .gql(
            Some(&curator),
            "query($id:ID!){ appeal(id:$id) { status answeredAt completeness answers { ordinal answeredAt dueAt onTime text completeness satisfied satisfactionScore author } } }",
            json!({"id": a}),
        )
        .await;
    let shown = &r.data()["appeal"];
    let answers = shown["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0]["ordinal"], 1);
    assert_eq!(at(answers[0]["answeredAt"].as_str().unwrap()), a_first);
    assert_eq!(at(answers[0]["dueAt"].as_str().unwrap()), at(&a_due));
    assert_eq!(answers[0]["onTime"], false);
    assert_eq!(answers[0]["text"], "Ваше обращение рассмотрено");
    assert_eq!((answers[0]["completeness"].as_str(), answers[0]["satisfied"].as_bool()), (Some("FORMAL"), Some(false)));
    assert_eq!(answers[0]["satisfactionScore"], 2);
    assert_eq!(answers[1]["ordinal"], 2);
    assert_eq!(at(answers[1]["answeredAt"].as_str().unwrap()), a_second);
    assert_eq!(answers[1]["onTime"], true);
    assert_eq!((answers[1]["completeness"].as_str(), answers[1]["satisfied"].as_bool()), (Some("FULL"), Some(true)));
    assert_eq!(answers[0]["author"], answers[1]["author"]);
    assert_eq!(shown["completeness"], "FULL", "the appeal itself shows its current answer");

    // Summary of November: by first answers. A: late, FORMAL, dissatisfied, reopened; B: on
    // time, FULL, not rated.
    let month = json!({"from": "2026-11-01", "to": "2026-11-30"});
    let r = app
        .gql(
            Some(&curator),
            "query($p:PeriodInput!){ analytics { summary(period:$p) { total answered answeredOnTime onTimeRate fullAnswerRate satisfiedRate reopenedRate medianResponseHours } } }",
            json!({"p": month}),
        )
        .await;
    let s = &r.data()["analytics"]["summary"];
    assert_eq!(
        (s["total"].as_i64(), s["answered"].as_i64(), s["answeredOnTime"].as_i64()),
        (Some(2), Some(2), Some(1))
    );
    assert!(close(&s["onTimeRate"], 1.0 / 2.0), "{s}");
    assert!(close(&s["fullAnswerRate"], 1.0 / 2.0), "{s}");
    assert!(close(&s["satisfiedRate"], 0.0 / 1.0), "{s}");
    assert!(close(&s["reopenedRate"], 1.0 / 2.0), "{s}");
    let median = f64::midpoint(hours(a_received, a_first), hours(b_received, b_answer));
    assert!(close(&s["medianResponseHours"], median), "{s} vs {median}");

    // The rating: the same for R1 (its deadlines both fell in November).
    let r = app
        .gql(
            Some(&curator),
            "query($p:PeriodInput!){ analytics { recipientRating(period:$p) { recipient { id } total onTimeRate fullAnswerRate satisfiedRate medianResponseHours reopenedRate score } } }",
            json!({"p": month}),
        )
        .await;
    let rows = r.data()["analytics"]["recipientRating"].as_array().unwrap().clone();
    let row = rows.iter().find(|x| x["recipient"]["id"] == r1.as_str()).unwrap();
    assert_eq!(row["total"], 2);
    assert!(close(&row["onTimeRate"], 0.5), "{row}");
    assert!(close(&row["fullAnswerRate"], 0.5), "{row}");
    assert!(close(&row["satisfiedRate"], 0.0), "{row}");
    assert!(close(&row["reopenedRate"], 0.5), "{row}");
    assert!(close(&row["medianResponseHours"], median), "{row}");
    assert!(close(&row["score"], 0.4 * 0.5 + 0.3 * 0.5 + 0.3 * 0.0), "{row}");

    // A rebuild from the appeals gives the same ledger (the first answer lives on the row).
    mcu::service::rollup::rebuild(&app.state.db, app.state.settings.timezone).await.unwrap();
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn answers_of_a_page_of_appeals_are_read_in_one_statement() {
    let app = spawn_long().await;
    app.set_now("2026-11-02T09:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let r1 = app.recipient(&admin, "Управление ЖКХ").await;
    let mut costs = Vec::new();
    for n in [1, 4] {
        for _ in 0..n {
            let (id, v, _) = assigned_message(&app, &curator, &r1, "2026-11-02T08:00:00+07:00").await;
            step(&app, &curator, "answerAppeal", "AnswerAppealInput", json!({"id": id, "version": v, "text": "Ответ"}))
                .await;
        }
        let q = "{ appeals(first: 50) { edges { node { id answers { ordinal text } } } } }";
        let before = app.sql_statements();
        let r = app.gql(Some(&curator), q, json!({})).await;
        costs.push(app.sql_statements() - before);
        let edges = r.data()["appeals"]["edges"].as_array().unwrap().clone();
        assert!(edges.iter().all(|e| e["node"]["answers"].as_array().unwrap().len() == 1));
    }
    assert_eq!(costs[0], costs[1], "1 appeal or 5 on the page: the same number of statements");
}

#[tokio::test]
async fn a_recipient_with_nothing_received_in_the_period_has_no_rates_no_score_and_comes_last() {
    let app = spawn_long().await;
    app.set_now("2026-10-28T09:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let busy = app.recipient(&admin, "Управление ЖКХ").await;
    let idle = app.recipient(&admin, "Управление образования").await;
    // IDLE: one appeal of October, due in November, answered on time in November: its
    // deadline falls in November, but nothing was received for it in November.
    let (old, v, old_due) = assigned_message(&app, &curator, &idle, "2026-10-28T08:00:00+07:00").await;
    assert!(old_due.starts_with("2026-11"), "{old_due}");
    app.set_now("2026-11-03T10:00:00+07:00");
    step(&app, &curator, "answerAppeal", "AnswerAppealInput", json!({"id": old, "version": v, "text": "Ответ"})).await;
    // BUSY: one appeal of November, answered late.
    let (late, v, late_due) = assigned_message(&app, &curator, &busy, "2026-11-03T09:00:00+07:00").await;
    app.set_now(&(at(&late_due) + chrono::Duration::hours(3)).to_rfc3339());
    step(&app, &curator, "answerAppeal", "AnswerAppealInput", json!({"id": late, "version": v, "text": "Ответ"})).await;

    app.set_now("2026-12-20T12:00:00+07:00");
    let q = "query($p:PeriodInput!){ analytics { recipientRating(period:$p) { recipient { id } total hasVolume onTimeRate fullAnswerRate satisfiedRate reopenedRate medianResponseHours score rank enoughData } } }";
    let r = app.gql(Some(&curator), q, json!({"p": {"from": "2026-11-01", "to": "2026-11-30"}})).await;
    let rows = r.data()["analytics"]["recipientRating"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 2, "{rows:?}");
    // BUSY first: it has volume (its rate is 0 and its score 0, but measured).
    assert_eq!(rows[0]["recipient"]["id"], busy.as_str());
    assert_eq!((rows[0]["total"].as_i64(), rows[0]["hasVolume"].as_bool()), (Some(1), Some(true)));
    assert!(close(&rows[0]["onTimeRate"], 0.0) && close(&rows[0]["score"], 0.0), "{}", rows[0]);
    // IDLE last: nothing to measure, nothing shown as 100%.
    let idle_row = &rows[1];
    assert_eq!(idle_row["recipient"]["id"], idle.as_str());
    assert_eq!((idle_row["total"].as_i64(), idle_row["hasVolume"].as_bool()), (Some(0), Some(false)));
    for field in
        ["onTimeRate", "fullAnswerRate", "satisfiedRate", "reopenedRate", "medianResponseHours", "score", "rank"]
    {
        assert!(idle_row[field].is_null(), "{field}: {idle_row}");
    }
    assert_eq!(idle_row["enoughData"], false);
    // In October IDLE has its appeal: measured there (answered after October, so no
    // deadline of October: no on-time rate, and no score from nothing).
    let r = app.gql(Some(&curator), q, json!({"p": {"from": "2026-10-01", "to": "2026-10-31"}})).await;
    let rows = r.data()["analytics"]["recipientRating"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["recipient"]["id"].as_str(), rows[0]["hasVolume"].as_bool()),
        (Some(idle.as_str()), Some(true))
    );
}

#[tokio::test]
async fn an_incidents_first_reaction_is_a_fact_with_its_rate_and_median_in_working_hours() {
    let app = spawn_long().await;
    app.set_now("2026-11-02T10:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let r1 = app.recipient(&admin, "ЕДДС").await;
    // Three incidents received Monday 2 November 10:00 (working hours 9–18):
    // I1 reacted 12:30 the same day: 2.5 h of its 8, on time;
    // I2 reacted Tuesday 11:00: 8 h on Monday + 2 h = 10 h, late (due Monday 18:00);
    // I3 high priority (4 h, due 14:00) reacted 15:00: 5 h, late.
    let mut ids = Vec::new();
    for high in [false, false, true] {
        let input = json!({"kind": "INCIDENT", "channel": "INCIDENT", "text": "Прорыв трубы", "highPriority": high,
            "receivedAt": "2026-11-02T10:00:00+07:00"});
        let (id, v, _) = app.appeal(&curator, input).await;
        let v = step(&app, &curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": v})).await;
        let v = step(
            &app,
            &curator,
            "assignAppeal",
            "AssignAppealInput",
            json!({"id": id, "version": v, "recipientId": r1}),
        )
        .await;
        ids.push((id, v));
    }
    for ((id, v), when) in
        ids.iter().zip(["2026-11-02T12:30:00+07:00", "2026-11-03T11:00:00+07:00", "2026-11-02T15:00:00+07:00"])
    {
        app.set_now(when);
        step(&app, &curator, "startWork", "AppealActionInput", json!({"id": id, "version": v})).await;
    }
    let worked = [2.5, 10.0, 5.0];
    let on_time = 1.0 / 3.0;
    let median = 5.0; // the middle of 2.5, 5 and 10
    app.set_now("2026-11-20T12:00:00+07:00");
    app.assert_rollups_agree().await;
    let stored = <mcu::entity::appeal::Entity as sea_orm::EntityTrait>::find_by_id(ids[1].0.parse::<i64>().unwrap())
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert!((stored.reaction_hours.unwrap() - worked[1]).abs() < 1e-9);
    assert_eq!(stored.reaction_due_at, Some(at("2026-11-02T18:00:00+07:00")));

    let p = json!({"from": "2026-11-01", "to": "2026-11-30"});
    let r = app
        .gql(Some(&curator), "query($p:PeriodInput!){ analytics { summary(period:$p) { total reactionOnTimeRate medianReactionHours } } }", json!({"p": p}))
        .await;
    let s = &r.data()["analytics"]["summary"];
    assert_eq!(s["total"], 3);
    assert!(close(&s["reactionOnTimeRate"], on_time), "{s}");
    assert!(close(&s["medianReactionHours"], median), "{s}");
    let q = "query($p:PeriodInput!){ analytics { recipientRating(period:$p, channel: INCIDENT) { recipient { id } reactionOnTimeRate medianReactionHours } } }";
    let r = app.gql(Some(&curator), q, json!({"p": p})).await;
    let rows = r.data()["analytics"]["recipientRating"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["recipient"]["id"], r1.as_str());
    assert!(
        close(&rows[0]["reactionOnTimeRate"], on_time) && close(&rows[0]["medianReactionHours"], median),
        "{}",
        rows[0]
    );
    // Messages have no reaction: the POS rating has none.
    let r = app.gql(Some(&curator), &q.replace("INCIDENT", "POS"), json!({"p": p})).await;
    assert!(r.data()["analytics"]["recipientRating"].as_array().unwrap().is_empty());
    // October has no incident: nothing to measure.
    let r = app
        .gql(
            Some(&curator),
            "query($p:PeriodInput!){ analytics { summary(period:$p) { reactionOnTimeRate medianReactionHours } } }",
            json!({"p": {"from": "2026-10-01", "to": "2026-10-31"}}),
        )
        .await;
    let s = &r.data()["analytics"]["summary"];
    assert!(s["reactionOnTimeRate"].is_null() && s["medianReactionHours"].is_null(), "{s}");
}

/// The first answers, the answers kept and the reaction terms of the appeals, as text in one
/// order (what the migrations under test must write back).
async fn facts(db: &sea_orm::DatabaseConnection) -> (Vec<Vec<Option<String>>>, Vec<Vec<Option<String>>>) {
    use sea_orm::{ConnectionTrait, Statement};
    let rows = |sql: &'static str, n: usize| async move {
        db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap()
            .iter()
            .map(|r| (0..n).map(|i| r.try_get_by_index::<Option<String>>(i).unwrap()).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    let appeals = rows(
        "SELECT CAST(id AS TEXT), CAST(first_answered_at AS TEXT), CAST(first_due_at AS TEXT), first_completeness, \
         CAST(first_satisfied AS TEXT), CAST(reaction_due_at AS TEXT) FROM appeals ORDER BY id",
        6,
    )
    .await;
    let answers = rows(
        "SELECT CAST(appeal_id AS TEXT), CAST(ordinal AS TEXT), CAST(answered_at AS TEXT), CAST(due_at AS TEXT), \
         CAST(on_time AS TEXT), text, completeness, author FROM appeal_answers ORDER BY appeal_id, ordinal",
        8,
    )
    .await;
    (appeals, answers)
}

/// The migrations that brought answers as facts and incident reactions fill them in for the
/// appeals a database already holds: rolled back and applied again over a fixture with an
/// answer on time and assessed, a late one, an unanswered appeal and an incident, they write
/// what the server wrote when those appeals were handled.
#[tokio::test]
async fn the_answer_and_reaction_migrations_fill_in_existing_appeals_as_the_server_records_them() {
    use migration::MigratorTrait;
    let app = spawn_long().await;
    app.set_now("2026-11-02T11:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let r1 = app.recipient(&admin, "Управление ЖКХ").await;
    let (a, v, _) = assigned_message(&app, &curator, &r1, "2026-11-02T10:00:00+07:00").await;
    let v =
        step(&app, &curator, "answerAppeal", "AnswerAppealInput", json!({"id": a, "version": v, "text": "Сделано"}))
            .await;
    step(&app, &curator, "assessAnswer", "AssessAnswerInput", json!({"id": a, "version": v, "completeness": "FULL"}))
        .await;
    let (b, v, b_due) = assigned_message(&app, &curator, &r1, "2026-11-02T10:30:00+07:00").await;
    assigned_message(&app, &curator, &r1, "2026-11-02T10:45:00+07:00").await;
    let input = json!({"kind": "INCIDENT", "channel": "INCIDENT", "text": "Прорыв трубы", "receivedAt": "2026-11-02T10:50:00+07:00"});
    let (i, iv, _) = app.appeal(&curator, input).await;
    let iv = step(&app, &curator, "registerAppeal", "AppealActionInput", json!({"id": i, "version": iv})).await;
    let iv =
        step(&app, &curator, "assignAppeal", "AssignAppealInput", json!({"id": i, "version": iv, "recipientId": r1}))
            .await;
    step(&app, &curator, "startWork", "AppealActionInput", json!({"id": i, "version": iv})).await;
    app.set_now(&(at(&b_due) + chrono::Duration::days(1)).to_rfc3339());
    step(&app, &curator, "answerAppeal", "AnswerAppealInput", json!({"id": b, "version": v, "text": "Поздно"})).await;

    let own = sea_orm::ConnectOptions::new(app.state.settings.database_url.clone()).max_connections(1).to_owned();
    let db = sea_orm::Database::connect(own).await.unwrap();
    let before = facts(&db).await;
    assert_eq!(before.0.len(), 4);
    assert_eq!(before.1.len(), 2, "two answers kept");
    assert_eq!(before.0.iter().filter(|r| r[1].is_some()).count(), 2, "two first answers");
    assert_eq!(before.0.iter().filter(|r| r[3].as_deref() == Some("FULL")).count(), 1);
    assert_eq!(before.0.iter().filter(|r| r[5].is_some()).count(), 1, "the incident's reaction term");
    let on_time: Vec<Option<String>> = before.1.iter().map(|r| r[4].clone()).collect();
    assert_ne!(on_time[0], on_time[1], "one answer on time, one late");

    let migrations = migration::Migrator::migrations();
    let first = migrations.iter().position(|m| m.name() == "m20261220_000001_appeal_answers").unwrap();
    migration::Migrator::down(&db, Some(u32::try_from(migrations.len() - first).unwrap())).await.unwrap();
    migration::Migrator::up(&db, None).await.unwrap();
    assert_eq!(facts(&db).await, before);
}
