//! In-app notifications: who is told of a deadline alert by the escalation rule, the list,
//! unread ones, marking read, settings per kind, the appeal scope, and who may ask.

use std::time::Duration;

use mcu::jobs::watch;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::helpers::{Staff, TestApp};
use crate::watch::{assigned_message, spawn_long};

const LIST: &str = "query($f:Int,$a:String,$u:Boolean){notifications(first:$f,after:$a,unreadOnly:$u){totalCount \
                    pageInfo{hasNextPage endCursor} edges{cursor node{id kind text createdAt readAt appeal{id number}}}}}";

/// The caller's notifications (all, or unread only).
async fn list(app: &TestApp, token: &str, unread: bool) -> Value {
    let r = app.gql(Some(token), LIST, json!({"f": 100, "u": unread})).await;
    r.data()["notifications"].clone()
}

/// Waits until the dispatcher has made `n` notifications in all (it runs in the background).
async fn wait_for(app: &TestApp, n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let have = mcu::entity::notification::Entity::find().count(&app.state.db).await.unwrap();
        if have >= n {
            assert_eq!(have, n, "more notifications than expected");
            // Let a wrong extra one show up, should there be one.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let have = mcu::entity::notification::Entity::find().count(&app.state.db).await.unwrap();
            assert_eq!(have, n, "more notifications than expected");
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {have} of {n} notifications were made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Moves the clock to `at` and runs a watch pass.
async fn pass_at(app: &TestApp, at: &str) -> watch::Outcome {
    app.set_now(at);
    watch::pass(&app.state).await.unwrap()
}

fn kinds(list: &Value) -> Vec<String> {
    list["edges"].as_array().unwrap().iter().map(|e| e["node"]["kind"].as_str().unwrap().to_string()).collect()
}

fn total(list: &Value) -> i64 {
    list["totalCount"].as_i64().unwrap()
}

/// A message taken through DUE_SOON, OVERDUE and escalation, with the notifications of each
/// step made: `expected` notifications in all after each step.
async fn through_escalation(app: &TestApp, expected: [u64; 3]) {
    assert_eq!(pass_at(app, "2026-12-21T10:00:00+07:00").await.due_soon, 1);
    wait_for(app, expected[0]).await;
    assert_eq!(pass_at(app, "2026-12-22T09:00:00+07:00").await.overdue, 1);
    wait_for(app, expected[1]).await;
    assert_eq!(pass_at(app, "2026-12-23T09:00:00+07:00").await.escalated, 1);
    wait_for(app, expected[2]).await;
}

async fn number(app: &TestApp, s: &Staff, id: &str) -> String {
    let r = app.gql(Some(&s.curator), "query($id:ID!){appeal(id:$id){number}}", json!({"id": id})).await;
    r.data()["appeal"]["number"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn executors_then_coordinators_of_the_channel_then_curators_of_the_territory_are_told() {
    let app = spawn_long().await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    let here = app.territory(&s.admin, "Сорск", None).await;
    let there = app.territory(&s.admin, "Абаза", None).await;
    let (_, gospabliki) = app.user_with(&s.admin, &["COORDINATOR"], json!({"channels": ["GOSPABLIKI"]})).await;
    let (_, far_curator) = app.user_with(&s.admin, &["CURATOR"], json!({"territoryId": there})).await;
    let (_, near_curator) = app.user_with(&s.admin, &["CURATOR"], json!({"territoryId": here})).await;
    let id = assigned_message(&app, &s, json!({"territoryId": here})).await;
    let number = number(&app, &s, &id).await;

    // DUE_SOON: the executors of the recipient only.
    assert_eq!(pass_at(&app, "2026-12-21T10:00:00+07:00").await.due_soon, 1);
    wait_for(&app, 1).await;
    let mine = list(&app, &s.executor, false).await;
    assert_eq!(kinds(&mine), ["APPEAL_DUE_SOON"]);
    let node = &mine["edges"][0]["node"];
    assert_eq!(node["text"], format!("Сообщение № {number}: срок ответа истекает 21.12.2026 в 23:59"));
    assert_eq!(node["appeal"]["id"], id.as_str());
    assert!(node["readAt"].is_null());
    for other in [&s.other_executor, &s.coordinator, &s.curator] {
        assert_eq!(total(&list(&app, other, false).await), 0);
    }

    // OVERDUE: plus the coordinators of the channel (POS), not those of another channel.
    assert_eq!(pass_at(&app, "2026-12-22T09:00:00+07:00").await.overdue, 1);
    wait_for(&app, 3).await;
    assert_eq!(kinds(&list(&app, &s.executor, false).await), ["APPEAL_OVERDUE", "APPEAL_DUE_SOON"]);
    let coordinator = list(&app, &s.coordinator, false).await;
    assert_eq!(kinds(&coordinator), ["APPEAL_OVERDUE"]);
    assert_eq!(
        coordinator["edges"][0]["node"]["text"],
        format!("Сообщение № {number}: срок ответа истёк 21.12.2026 в 23:59")
    );
    assert_eq!(total(&list(&app, &gospabliki, false).await), 0);
    assert_eq!(total(&list(&app, &s.curator, false).await), 0, "the curator is told after the grace period");

    // After the grace period: plus the curators whose territory holds the appeal.
    assert_eq!(pass_at(&app, "2026-12-23T09:00:00+07:00").await.escalated, 1);
    // executor 3, coordinator 2, the two curators without a territory and the one of «Сорск» 1 each.
    wait_for(&app, 8).await;
    assert_eq!(kinds(&list(&app, &s.executor, false).await), ["APPEAL_ESCALATED", "APPEAL_OVERDUE", "APPEAL_DUE_SOON"]);
    for curator in [&s.curator, &s.other_curator, &near_curator] {
        let l = list(&app, curator, false).await;
        assert_eq!(kinds(&l), ["APPEAL_ESCALATED"]);
        assert_eq!(
            l["edges"][0]["node"]["text"],
            format!(
                "Сообщение № {number} просрочено более 1 рабочего дня (срок ответа истёк 21.12.2026 в 23:59): эскалация куратору"
            )
        );
    }
    assert_eq!(total(&list(&app, &far_curator, false).await), 0, "a curator of another territory is not told");
    assert_eq!(total(&list(&app, &s.other_executor, false).await), 0, "nor the executor of another recipient");
    assert_eq!(total(&list(&app, &gospabliki, false).await), 0);
}

#[tokio::test]
async fn a_person_lists_its_notifications_newest_first_and_marks_them_read() {
    let app = spawn_long().await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    assigned_message(&app, &s, json!({})).await;
    // executor 1; + executor, coordinator; + executor, coordinator, two curators.
    through_escalation(&app, [1, 3, 7]).await;

    let r = app.gql(Some(&s.executor), LIST, json!({"f": 2})).await;
    let page = &r.data()["notifications"];
    assert_eq!(total(page), 3);
    assert_eq!(kinds(page), ["APPEAL_ESCALATED", "APPEAL_OVERDUE"]);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let r = app.gql(Some(&s.executor), LIST, json!({"f": 2, "a": page["pageInfo"]["endCursor"]})).await;
    let rest = &r.data()["notifications"];
    assert_eq!(kinds(rest), ["APPEAL_DUE_SOON"]);
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);

    let mine = list(&app, &s.executor, true).await;
    assert_eq!(total(&mine), 3, "all unread");
    let first = mine["edges"][0]["node"]["id"].as_str().unwrap().to_string();
    let theirs = list(&app, &s.coordinator, false).await["edges"][0]["node"]["id"].as_str().unwrap().to_string();
    let mark = "mutation($ids:[ID!]!){markNotificationsRead(ids:$ids)}";
    let r = app.gql(Some(&s.executor), mark, json!({"ids": [first, theirs]})).await;
    assert_eq!(r.data()["markNotificationsRead"], 1, "only the caller's own, unread ones");
    let unread = list(&app, &s.executor, true).await;
    assert_eq!(total(&unread), 2);
    assert!(unread["edges"].as_array().unwrap().iter().all(|e| e["node"]["id"] != first.as_str()));
    let all = list(&app, &s.executor, false).await;
    assert!(all["edges"][0]["node"]["readAt"].is_string());
    let r = app.gql(Some(&s.executor), mark, json!({"ids": [first]})).await;
    assert_eq!(r.data()["markNotificationsRead"], 0, "already read");
    assert_eq!(total(&list(&app, &s.coordinator, true).await), 2, "another person's stay unread");
    assert!(app.audit_count("markNotificationsRead").await >= 2);

    let r = app.gql(Some(&s.executor), mark, json!({"ids": ["1", "x"]})).await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    assert_eq!(r.field_paths(), ["ids.1"]);
    let r = app.gql(Some(&s.executor), LIST, json!({"f": 101})).await;
    assert_eq!((r.code(), r.field_paths()), ("BAD_USER_INPUT".to_string(), vec!["first".to_string()]));
}

const SETTINGS: &str = "{notificationSettings{kind inApp email}}";
const UPDATE: &str =
    "mutation($i:[NotificationSettingInput!]!){updateNotificationSettings(input:$i){kind inApp email}}";

#[tokio::test]
async fn settings_per_kind_are_kept_and_respected() {
    let app = spawn_long().await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    let r = app.gql(Some(&s.coordinator), SETTINGS, json!({})).await;
    assert_eq!(
        r.data()["notificationSettings"],
        json!([
            {"kind": "APPEAL_DUE_SOON", "inApp": true, "email": "NONE"},
            {"kind": "APPEAL_OVERDUE", "inApp": true, "email": "NONE"},
            {"kind": "APPEAL_ESCALATED", "inApp": true, "email": "NONE"},
            {"kind": "MEMO_READY", "inApp": true, "email": "IMMEDIATE"},
            {"kind": "ASSIGNMENT_DUE_SOON", "inApp": true, "email": "NONE"},
            {"kind": "ASSIGNMENT_OVERDUE", "inApp": true, "email": "NONE"},
        ])
    );
    let r = app
        .gql(
            Some(&s.coordinator),
            UPDATE,
            json!({"i": [{"kind": "APPEAL_OVERDUE", "inApp": false}, {"kind": "APPEAL_ESCALATED", "email": "DAILY_DIGEST"}]}),
        )
        .await;
    let expected = json!([
        {"kind": "APPEAL_DUE_SOON", "inApp": true, "email": "NONE"},
        {"kind": "APPEAL_OVERDUE", "inApp": false, "email": "NONE"},
        {"kind": "APPEAL_ESCALATED", "inApp": true, "email": "DAILY_DIGEST"},
        {"kind": "MEMO_READY", "inApp": true, "email": "IMMEDIATE"},
        {"kind": "ASSIGNMENT_DUE_SOON", "inApp": true, "email": "NONE"},
        {"kind": "ASSIGNMENT_OVERDUE", "inApp": true, "email": "NONE"},
    ]);
    assert_eq!(r.data()["updateNotificationSettings"], expected);
    // A later change keeps what it does not name.
    let r =
        app.gql(Some(&s.coordinator), UPDATE, json!({"i": [{"kind": "APPEAL_OVERDUE", "email": "IMMEDIATE"}]})).await;
    assert_eq!(
        r.data()["updateNotificationSettings"][1],
        json!({"kind": "APPEAL_OVERDUE", "inApp": false, "email": "IMMEDIATE"})
    );
    let r = app.gql(Some(&s.coordinator), SETTINGS, json!({})).await;
    assert_eq!(r.data()["notificationSettings"][2], expected[2]);
    assert_eq!(app.audit_count("updateNotificationSettings").await, 2);
    let r = app
        .gql(
            Some(&s.coordinator),
            UPDATE,
            json!({"i": [{"kind": "APPEAL_OVERDUE"}, {"kind": "APPEAL_OVERDUE", "inApp": true}]}),
        )
        .await;
    assert_eq!((r.code(), r.field_paths()), ("BAD_USER_INPUT".to_string(), vec!["input.1.kind".to_string()]));
    // An unknown delivery is a type error of the variables, refused before anything runs.
    let r = app.gql(Some(&s.coordinator), UPDATE, json!({"i": [{"kind": "APPEAL_OVERDUE", "email": "WEEKLY"}]})).await;
    assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED");
    assert!(r.message().contains("WEEKLY"), "{}", r.message());
    // Another person's settings are its own.
    let r = app.gql(Some(&s.executor), SETTINGS, json!({})).await;
    assert_eq!(r.data()["notificationSettings"][1]["inApp"], true);

    assigned_message(&app, &s, json!({})).await;
    // The coordinator does not want overdue notices in the application: only the escalation.
    through_escalation(&app, [1, 2, 6]).await;
    assert_eq!(kinds(&list(&app, &s.coordinator, false).await), ["APPEAL_ESCALATED"]);
    assert_eq!(total(&list(&app, &s.executor, false).await), 3);
}

#[tokio::test]
async fn a_notifications_appeal_shows_only_while_the_reader_may_see_it() {
    let app = spawn_long().await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    let id = assigned_message(&app, &s, json!({"authorName": "Иван Петров"})).await;
    assert_eq!(pass_at(&app, "2026-12-21T10:00:00+07:00").await.due_soon, 1);
    wait_for(&app, 1).await;
    let q = "{notifications{edges{node{text appeal{id authorName}}}}}";
    let r = app.gql(Some(&s.executor), q, json!({})).await;
    let node = &r.data()["notifications"]["edges"][0]["node"];
    assert_eq!(node["appeal"]["id"], id.as_str());
    assert_eq!(node["appeal"]["authorName"], "Иван Петров", "the executor handles it");

    // Reassigned to another department: the executor keeps the notification, not the appeal.
    let elsewhere = app.recipient(&s.admin, "Управление благоустройства").await;
    let v = app.gql(Some(&s.coordinator), "query($id:ID!){appeal(id:$id){version}}", json!({"id": id})).await.data()["appeal"]
        ["version"]
        .clone();
    app.act(
        &s.coordinator,
        "assignAppeal",
        "AssignAppealInput",
        json!({"id": id, "version": v, "recipientId": elsewhere}),
    )
    .await
    .data();
    let r = app.gql(Some(&s.executor), q, json!({})).await;
    let node = &r.data()["notifications"]["edges"][0]["node"];
    assert!(node["text"].as_str().unwrap().contains("срок ответа истекает"));
    assert!(node["appeal"].is_null(), "outside the executor's scope now: {node}");
    let r = app.gql(Some(&s.executor), "query($id:ID!){appeal(id:$id){id}}", json!({"id": id})).await;
    assert_eq!(r.code(), "NOT_FOUND");
}

#[tokio::test]
async fn notifications_are_for_the_people_the_rule_can_name_and_the_head() {
    let app = spawn_long().await;
    let s = app.staff().await;
    let token = app
        .gql(
            Some(&s.admin),
            "mutation{createApiToken(input:{name:\"read\",scopes:[APPEALS_READ,ANALYTICS_READ]}){secret}}",
            json!({}),
        )
        .await
        .data()["createApiToken"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let operations = [
        ("{notifications{totalCount}}", json!({})),
        (SETTINGS, json!({})),
        ("mutation{markNotificationsRead(ids:[\"1\"])}", json!({})),
        (UPDATE, json!({"i": [{"kind": "APPEAL_OVERDUE", "inApp": false}]})),
    ];
    for (q, vars) in &operations {
        for who in [&s.admin, &token] {
            let r = app.gql(Some(who), q, vars.clone()).await;
            assert_eq!(r.code(), "FORBIDDEN", "{q}: {}", r.body);
        }
        let r = app.gql(None, q, vars.clone()).await;
        assert_eq!(r.code(), "UNAUTHENTICATED", "{q}");
        // The Head is told of the weekly memo (MEMO_READY).
        for who in [&s.executor, &s.coordinator, &s.curator, &s.head] {
            app.gql(Some(who), q, vars.clone()).await.data();
        }
    }
}

/// The notification part of the second wave's contract (`api-contract-wave2.graphql`).
const CONTRACT: &str = r"
type Query { notifications(first: Int, after: String, unreadOnly: Boolean): NotificationConnection! }
type Mutation { markNotificationsRead(ids: [ID!]!): Int! }
type Subscription { notificationAdded: Notification! }
type Notification { id: ID! kind: String! text: String! createdAt: DateTime! readAt: DateTime appeal: Appeal }
type NotificationEdge { cursor: String! node: Notification! }
type NotificationConnection { edges: [NotificationEdge!]! pageInfo: PageInfo! totalCount: Int! }
";

#[test]
fn the_schema_has_the_notifications_of_the_contract() {
    use crate::sdl::{Sdl, output_compatible};
    let contract = Sdl::parse(CONTRACT);
    let ours = Sdl::parse(&mcu::graphql::sdl());
    for (name, fields) in &contract.objects {
        let Some(our_fields) = ours.objects.get(name) else { panic!("type {name} is missing") };
        for (field, c) in fields {
            let o = our_fields.get(field).unwrap_or_else(|| panic!("{name}.{field} is missing"));
            assert!(output_compatible(&c.ty, &o.ty), "{name}.{field}: {} in the contract, {} here", c.ty, o.ty);
            for (arg, t) in &c.args {
                assert_eq!(o.args.get(arg).map(ToString::to_string), Some(t.to_string()), "{name}.{field}({arg})");
            }
        }
    }
}
