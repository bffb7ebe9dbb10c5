//! The deadline watch: DUE_SOON, OVERDUE and escalation of an appeal, each announced once
//! whatever the number of passes and processes; a new deadline warns again; escalations in the
//! appeal's history.

use mcu::jobs::watch;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::{Staff, TestApp, spawn_app_with};

/// A server whose sessions outlive the clock moves of a test.
pub async fn spawn_long() -> TestApp {
    spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await
}

/// A POS message received Monday 7 December 2026, 10:00 local, registered and assigned to
/// the staff's recipient: its answer is due 21 December 23:59:59 (10 working days).
pub async fn assigned_message(app: &TestApp, s: &Staff, extra: Value) -> String {
    let mut input =
        json!({"kind": "MESSAGE", "channel": "POS", "text": "Во дворе дома 5 по ул. Ленина не убирают снег"});
    if let (Some(i), Some(e)) = (input.as_object_mut(), extra.as_object()) {
        i.extend(e.clone());
    }
    let (id, v, due) = app.appeal(&s.coordinator, input).await;
    assert_eq!(due, "2026-12-21T16:59:59+00:00");
    app.act(&s.coordinator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": v})).await.data();
    app.act(
        &s.coordinator,
        "assignAppeal",
        "AssignAppealInput",
        json!({"id": id, "version": v + 1, "recipientId": s.recipient}),
    )
    .await
    .data();
    id
}

/// The topics of the outbox rows about an appeal, in order.
pub async fn topics(app: &TestApp, appeal: &str) -> Vec<String> {
    use mcu::entity::outbox;
    outbox::Entity::find()
        .filter(outbox::Column::SubjectType.eq("appeal"))
        .filter(outbox::Column::SubjectId.eq(appeal.parse::<i64>().unwrap()))
        .order_by_asc(outbox::Column::Id)
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.topic)
        .filter(|t| t.starts_with("APPEAL_DUE") || t == "APPEAL_OVERDUE" || t == "APPEAL_ESCALATED")
        .collect()
}

async fn history(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let r = app
        .gql(
            Some(token),
            "query($id:ID!){appeal(id:$id){events{actor action fromStatus toStatus comment data}}}",
            json!({"id": id}),
        )
        .await;
    r.data()["appeal"]["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_appeal_goes_due_soon_then_overdue_then_escalated_each_announced_once() {
    let app = spawn_long().await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    let id = assigned_message(&app, &s, json!({})).await;

    let quiet = watch::pass(&app.state).await.unwrap();
    assert_eq!(quiet.total(), 0, "on time: nothing to say");

    // Less than a quarter of the term left.
    app.set_now("2026-12-21T10:00:00+07:00");
    let r = app.gql(Some(&s.coordinator), "query($id:ID!){appeal(id:$id){slaState}}", json!({"id": id})).await;
    assert_eq!(r.data()["appeal"]["slaState"], "DUE_SOON");
    let o = watch::pass(&app.state).await.unwrap();
    assert_eq!((o.due_soon, o.overdue, o.escalated), (1, 0, 0));
    for _ in 0..3 {
        assert_eq!(watch::pass(&app.state).await.unwrap().total(), 0, "announced once");
    }

    // Past the deadline, within the grace period (1 working day: until Tuesday 22 December ends).
    app.set_now("2026-12-22T09:00:00+07:00");
    let o = watch::pass(&app.state).await.unwrap();
    assert_eq!((o.due_soon, o.overdue, o.escalated), (0, 1, 0));
    assert_eq!(watch::pass(&app.state).await.unwrap().total(), 0);
    app.set_now("2026-12-22T23:59:00+07:00");
    assert_eq!(watch::pass(&app.state).await.unwrap().total(), 0, "still within the grace period");

    // Past the grace period.
    app.set_now("2026-12-23T00:30:00+07:00");
    let o = watch::pass(&app.state).await.unwrap();
    assert_eq!((o.due_soon, o.overdue, o.escalated), (0, 0, 1));
    for _ in 0..3 {
        assert_eq!(watch::pass(&app.state).await.unwrap().total(), 0);
    }
    assert_eq!(topics(&app, &id).await, ["APPEAL_DUE_SOON", "APPEAL_OVERDUE", "APPEAL_ESCALATED"]);

    // The outbox row carries what an integration needs, and no personal data.
    use mcu::entity::outbox;
    let row = outbox::Entity::find()
        .filter(outbox::Column::Topic.eq("APPEAL_ESCALATED"))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let payload: Value = serde_json::from_str(&row.payload).unwrap();
    assert_eq!(payload["appealId"], json!(id.parse::<i64>().unwrap()));
    assert_eq!(payload["term"], "ANSWER");
    assert_eq!(payload["dueAt"], "2026-12-21T16:59:59Z");
    assert_eq!(payload["escalationAt"], "2026-12-22T16:59:59Z");

    // The history shows both escalations: to the coordinators, then to the curator.
    let events = history(&app, &s.coordinator, &id).await;
    let escalations: Vec<&Value> = events.iter().filter(|e| e["action"] == "escalate").collect();
    assert_eq!(escalations.len(), 2, "{events:?}");
    assert_eq!(escalations[0]["actor"], "system");
    assert_eq!(escalations[0]["fromStatus"], "ASSIGNED");
    assert_eq!(escalations[0]["toStatus"], "ASSIGNED");
    assert_eq!(escalations[0]["data"]["level"], "OVERDUE");
    assert_eq!(escalations[0]["data"]["notify"], json!(["EXECUTORS", "COORDINATORS"]));
    assert_eq!(escalations[1]["data"]["level"], "ESCALATED");
    assert_eq!(escalations[1]["data"]["notify"], json!(["EXECUTORS", "COORDINATORS", "CURATORS"]));
    assert_eq!(escalations[1]["data"]["dueAt"], "2026-12-21T16:59:59Z");
    // Notes, not writes: the appeal's version, rollups and audit trail are untouched.
    let r = app.gql(Some(&s.coordinator), "query($id:ID!){appeal(id:$id){version}}", json!({"id": id})).await;
    assert_eq!(r.data()["appeal"]["version"], 3);
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn an_answered_appeal_is_not_announced_and_a_new_deadline_warns_again() {
    let app = spawn_long().await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    let answered = assigned_message(&app, &s, json!({})).await;
    app.act(
        &s.executor,
        "answerAppeal",
        "AnswerAppealInput",
        json!({"id": answered, "version": 3, "text": "Снег убран"}),
    )
    .await
    .data();
    // An APPEAL under 59-ФЗ registered on 7 December: the answer is due 30 days later,
    // Wednesday 6 January 2027 being a holiday → Monday 11 January.
    let (id, v, _) = app
        .appeal(&s.curator, json!({"kind": "APPEAL", "channel": "POST", "text": "Прошу отремонтировать крышу дома 7"}))
        .await;
    let r = app.act(&s.curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": v})).await;
    assert_eq!(r.data()["r"]["dueAt"], "2027-01-11T16:59:59+00:00");

    app.set_now("2027-01-12T10:00:00+07:00");
    let o = watch::pass(&app.state).await.unwrap();
    assert_eq!((o.due_soon, o.overdue), (0, 1), "overdue when first seen: no late due-soon warning");
    assert!(topics(&app, &answered).await.is_empty(), "an answered appeal is never announced");

    // An extension gives a new deadline (21 January), which warns and passes again.
    let r = app
        .act(
            &s.curator,
            "extendDeadline",
            "ExtendDeadlineInput",
            json!({"id": id, "version": v + 1, "days": 10, "reason": "выезд на место"}),
        )
        .await;
    assert_eq!(r.data()["r"]["dueAt"], "2027-01-21T16:59:59+00:00");
    // The term still counts from registration (45 days now), so less than a quarter is left.
    assert_eq!(watch::pass(&app.state).await.unwrap().due_soon, 1);
    app.set_now("2027-01-21T12:00:00+07:00");
    assert_eq!(watch::pass(&app.state).await.unwrap().total(), 0);
    app.set_now("2027-01-22T12:00:00+07:00");
    assert_eq!(watch::pass(&app.state).await.unwrap().overdue, 1);
    assert_eq!(watch::pass(&app.state).await.unwrap().total(), 0);
    assert_eq!(topics(&app, &id).await, ["APPEAL_OVERDUE", "APPEAL_DUE_SOON", "APPEAL_OVERDUE"]);
}

#[tokio::test]
async fn two_processes_watching_one_database_announce_each_transition_once() {
    let first = spawn_long().await;
    first.set_now("2026-12-07T10:00:00+07:00");
    let s = first.staff().await;
    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(assigned_message(&first, &s, json!({"externalId": format!("pos-{n}")})).await);
    }
    let postgres = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    let second = if postgres { Some(first.second_process().await) } else { None };
    for (at, expected) in [
        ("2026-12-21T10:00:00+07:00", "APPEAL_DUE_SOON"),
        ("2026-12-22T09:00:00+07:00", "APPEAL_OVERDUE"),
        ("2026-12-23T09:00:00+07:00", "APPEAL_ESCALATED"),
    ] {
        first.set_now(at);
        let mut total = 0;
        // Several passes of both processes at once, then again.
        for _ in 0..3 {
            if let Some(second) = &second {
                second.set_now(at);
                let passes = tokio::join!(
                    watch::pass(&first.state),
                    watch::pass(&second.state),
                    watch::pass(&first.state),
                    watch::pass(&second.state)
                );
                for o in [passes.0, passes.1, passes.2, passes.3] {
                    total += o.unwrap().total();
                }
            } else {
                let passes = tokio::join!(watch::pass(&first.state), watch::pass(&first.state));
                total += passes.0.unwrap().total() + passes.1.unwrap().total();
            }
        }
        // A pass skipped while the other process led may leave work for the next one.
        total += watch::pass(&first.state).await.unwrap().total();
        assert_eq!(total, ids.len(), "{expected}: one announcement per appeal");
        for id in &ids {
            let t = topics(&first, id).await;
            assert_eq!(t.iter().filter(|t| *t == expected).count(), 1, "{expected} of {id}: {t:?}");
        }
    }
}

#[tokio::test]
async fn an_incidents_reaction_term_is_watched_in_working_hours_with_two_hours_of_grace() {
    let app = spawn_long().await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    // Received Monday 10:00: the first reaction is due 8 working hours later, 18:00.
    let (id, _, due) = app
        .appeal(&s.coordinator, json!({"kind": "INCIDENT", "channel": "INCIDENT", "text": "Яма на дороге у школы № 3"}))
        .await;
    assert_eq!(due, "2026-12-07T11:00:00+00:00");
    assert_eq!(pass_at(&app, "2026-12-07T15:00:00+07:00").await.total(), 0);
    assert_eq!(pass_at(&app, "2026-12-07T16:30:00+07:00").await.due_soon, 1, "a quarter of the term left");
    assert_eq!(pass_at(&app, "2026-12-07T18:30:00+07:00").await.overdue, 1);
    // Grace: 2 working hours after 18:00 is Tuesday 11:00.
    assert_eq!(pass_at(&app, "2026-12-08T10:59:00+07:00").await.total(), 0);
    assert_eq!(pass_at(&app, "2026-12-08T11:00:00+07:00").await.escalated, 1);
    assert_eq!(topics(&app, &id).await, ["APPEAL_DUE_SOON", "APPEAL_OVERDUE", "APPEAL_ESCALATED"]);
    let events = history(&app, &s.coordinator, &id).await;
    let last = events.last().unwrap();
    assert_eq!((&last["action"], &last["data"]["term"]), (&json!("escalate"), &json!("REACTION")));
    assert_eq!(last["data"]["escalationAt"], "2026-12-08T04:00:00Z");
    // Not assigned yet: the channel's coordinator is told in the executors' place.
    let r = app.gql(Some(&s.coordinator), "{notifications{edges{node{kind text}}}}", json!({})).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut r = r;
    while r.data()["notifications"]["edges"].as_array().unwrap().len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "{}", r.body);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        r = app.gql(Some(&s.coordinator), "{notifications{edges{node{kind text}}}}", json!({})).await;
    }
    let texts: Vec<&str> = r.data()["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["text"].as_str().unwrap())
        .collect();
    let number = app.gql(Some(&s.coordinator), "query($id:ID!){appeal(id:$id){number}}", json!({"id": id})).await;
    let number = number.data()["appeal"]["number"].as_str().unwrap().to_string();
    assert_eq!(
        texts,
        [
            format!(
                "Инцидент № {number} просрочен более 2 рабочих часов (срок реакции истёк 07.12.2026 в 18:00): эскалация куратору"
            ),
            format!("Инцидент № {number}: срок реакции истёк 07.12.2026 в 18:00"),
            format!("Инцидент № {number}: срок реакции истекает 07.12.2026 в 18:00"),
        ]
    );
}

/// The watch's passes at `at`: a pass may leave an appeal that another transaction holds at
/// that moment to the next pass (rows are claimed with SKIP LOCKED), so up to three passes
/// run until one finds something; their outcomes are added up (each transition still counts
/// once).
async fn pass_at(app: &TestApp, at: &str) -> watch::Outcome {
    app.set_now(at);
    let mut sum = watch::Outcome::default();
    for _ in 0..3 {
        let o = watch::pass(&app.state).await.unwrap();
        let found = o.total() > 0;
        sum.due_soon += o.due_soon;
        sum.overdue += o.overdue;
        sum.escalated += o.escalated;
        if found {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    sum
}

#[test]
fn escalation_settings_are_checked_at_start() {
    let bad = |change: &dyn Fn(&mut mcu::config::SettingsArgs)| {
        let mut args = crate::helpers::test_args("sqlite://x.db".into());
        change(&mut args);
        mcu::config::Settings::from_args(args).unwrap_err()
    };
    let e = bad(&|a| a.escalation = r#"{"overdue": ["BOSSES"]}"#.into());
    assert_eq!(e.setting, "MCU_ESCALATION");
    assert!(e.why.contains("BOSSES"), "{}", e.why);
    assert_eq!(bad(&|a| a.escalation = r#"{"grace_days": 2}"#.into()).setting, "MCU_ESCALATION");
    assert_eq!(bad(&|a| a.watch_interval_secs = 0).setting, "MCU_WATCH_INTERVAL_SECS");
    assert_eq!(bad(&|a| a.subscription_check_secs = 0).setting, "MCU_SUBSCRIPTION_CHECK_SECS");
    assert_eq!(bad(&|a| a.ws_init_timeout_secs = 0).setting, "MCU_WS_INIT_TIMEOUT_SECS");
    assert_eq!(bad(&|a| a.ws_max_connections = 0).setting, "MCU_WS_MAX_CONNECTIONS");
    assert_eq!(bad(&|a| a.ws_max_subscriptions = 0).setting, "MCU_WS_MAX_SUBSCRIPTIONS");
    let mut args = crate::helpers::test_args("sqlite://x.db".into());
    args.escalation = r#"{"grace_working_days": 2, "overdue": ["EXECUTORS"]}"#.into();
    let s = mcu::config::Settings::from_args(args).unwrap();
    assert_eq!(s.escalation.grace_working_days, 2);
    assert_eq!(s.escalation.incident_grace_working_hours, 2, "the other keys keep their defaults");
}

#[tokio::test]
async fn the_server_runs_the_watch_every_interval_on_its_own() {
    let app = spawn_app_with(|a| {
        a.access_ttl_secs = 400 * 86_400;
        a.watch_interval_secs = 1;
    })
    .await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    let id = assigned_message(&app, &s, json!({})).await;
    app.set_now("2026-12-22T09:00:00+07:00");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while topics(&app, &id).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the watch did not run");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(topics(&app, &id).await, ["APPEAL_OVERDUE"], "already past the deadline: no late due-soon warning");
}
