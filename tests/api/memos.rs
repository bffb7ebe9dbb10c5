//! The weekly memo is generated once on Monday 08:00 local time, stored as it was, listed and
//! downloaded by those who may read city-wide figures.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const MEMOS: &str =
    "{ memos(first: 10) { totalCount edges { node { id weekStart createdAt markdown docxUrl xlsxUrl figures } } } }";

async fn memos(app: &TestApp, token: &str) -> Value {
    app.gql(Some(token), MEMOS, json!({})).await.data()["memos"].clone()
}

async fn wait_for_memos(app: &TestApp, token: &str, n: i64) -> Value {
    for _ in 0..60 {
        let m = memos(app, token).await;
        if m["totalCount"].as_i64() == Some(n) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    memos(app, token).await
}

async fn download(app: &TestApp, token: Option<&str>, url: &str) -> (u16, Vec<u8>) {
    let mut req = app.client.get(format!("{}{url}", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
}

fn appeal_received(at: &str) -> Value {
    json!({"kind": "APPEAL", "channel": "POST", "text": "Прошу отремонтировать крышу дома по ул. Ленина, 5",
           "authorName": "Иван Петров", "receivedAt": at})
}

#[tokio::test]
async fn the_memo_of_the_past_week_is_stored_once_on_monday_and_reads_the_same_on_friday() {
    let app = spawn_app_with(|a| {
        a.memo_check_secs = 1;
        // The clock moves days ahead: sessions outlive the moves.
        a.access_ttl_secs = 30 * 86_400;
    })
    .await;
    // Monday 7 December 2026 before 08:00 in Krasnoyarsk: last week's memo is not due yet
    // (the week before it is, and is stored then). Set before anything else, so that the
    // first check, a second after the start, never reads the real clock: on a real Monday
    // after 08:00 it would store last week's memo (empty) before the appeals below.
    app.set_now("2026-12-07T07:50:00+07:00");
    // Listening from the start.
    let mut announced = app.state.announcements.subscribe();
    let s = app.staff().await;
    for at in ["2026-12-01T10:00:00+07:00", "2026-12-02T11:00:00+07:00"] {
        app.appeal(&s.curator, appeal_received(at)).await;
    }
    let before = wait_for_memos(&app, &s.head, 1).await;
    assert_eq!(before["edges"][0]["node"]["weekStart"], "2026-11-23", "{before}");

    app.set_now("2026-12-07T08:00:30+07:00");
    let m = wait_for_memos(&app, &s.head, 2).await;
    assert_eq!(m["totalCount"], 2, "{m}");
    let node = m["edges"][0]["node"].clone();
    assert_eq!(node["weekStart"], "2026-11-30", "newest first");
    assert_eq!(node["figures"]["summary"]["total"], 2);
    let md = node["markdown"].as_str().unwrap();
    assert!(md.contains("за неделю 30.11.2026 — 06.12.2026") && md.contains("Поступило обращений: **2**"), "{md}");
    let id = node["id"].as_str().unwrap().to_owned();
    assert_eq!(node["docxUrl"], format!("/exports/memos/{id}.docx"));
    let (status, docx) = download(&app, Some(&s.head), node["docxUrl"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert!(docx.starts_with(b"PK"), "a DOCX is a ZIP");
    let (status, xlsx) = download(&app, Some(&s.curator), node["xlsxUrl"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert!(xlsx.starts_with(b"PK"));

    // Announced once as MEMO_READY.
    let mut ready = Vec::new();
    while let Ok(Ok(row)) = tokio::time::timeout(Duration::from_secs(2), announced.recv()).await {
        if row.topic == "MEMO_READY" {
            ready.push(row.subject_id);
        }
        if ready.len() == 2 {
            break;
        }
    }
    assert_eq!(ready.len(), 2, "one announcement per stored memo: {ready:?}");

    // Friday: more appeals of that week arrive late; the stored memo does not change, and no
    // second memo of the week is made however many checks run.
    app.set_now("2026-12-11T18:00:00+07:00");
    app.appeal(&s.curator, appeal_received("2026-12-03T09:00:00+07:00")).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = memos(&app, &s.head).await;
    assert_eq!(later["totalCount"], 2);
    assert_eq!(later["edges"][0]["node"], node, "the memo read on Friday is Monday's");
    let (_, docx_again) = download(&app, Some(&s.head), node["docxUrl"].as_str().unwrap()).await;
    assert_eq!(docx_again, docx, "the stored document, byte for byte");
}

#[tokio::test]
async fn stored_memos_are_for_the_head_and_the_citys_curators_only() {
    let app = spawn_app_with(|a| {
        a.memo_check_secs = 1;
        // The clock moves days ahead: sessions outlive the moves.
        a.access_ttl_secs = 30 * 86_400;
    })
    .await;
    let s = app.staff().await;
    app.set_now("2026-12-07T09:00:00+07:00");
    let m = wait_for_memos(&app, &s.head, 1).await;
    let url = m["edges"][0]["node"]["docxUrl"].as_str().unwrap().to_owned();
    let territory = app
        .gql(Some(&s.admin), "mutation{ createTerritory(input:{name:\"Центральный район\"}){ id } }", json!({}))
        .await
        .data()["createTerritory"]["id"]
        .clone();
    let (_, district_curator) = app.user_with(&s.admin, &["CURATOR"], json!({ "territoryId": territory })).await;
    for token in [&s.admin, &s.coordinator, &s.executor, &district_curator] {
        assert_eq!(app.gql(Some(token), MEMOS, json!({})).await.code(), "FORBIDDEN");
        assert_eq!(download(&app, Some(token), &url).await.0, 403);
    }
    assert_eq!(app.gql(None, MEMOS, json!({})).await.code(), "UNAUTHENTICATED");
    assert_eq!(download(&app, None, &url).await.0, 401);
    assert_eq!(download(&app, Some(&s.head), "/exports/memos/999.docx").await.0, 404);
    assert_eq!(download(&app, Some(&s.head), &url.replace(".docx", ".pdf")).await.0, 404);
}

#[tokio::test]
async fn two_processes_store_one_memo_of_a_week() {
    let first = spawn_app_with(|a| {
        a.memo_check_secs = 1;
        // The clock moves days ahead: sessions outlive the moves.
        a.access_ttl_secs = 30 * 86_400;
    })
    .await;
    first.set_now("2026-12-07T08:00:00+07:00");
    let second = first.second_process_with(|a| a.memo_check_secs = 1).await;
    second.set_now("2026-12-07T08:00:00+07:00");
    let head = first.staff().await.head;
    wait_for_memos(&first, &head, 1).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(memos(&first, &head).await["totalCount"], 1);
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let ready = mcu::entity::outbox::Entity::find()
        .filter(mcu::entity::outbox::Column::Topic.eq("MEMO_READY"))
        .count(&first.state.db)
        .await
        .unwrap();
    assert_eq!(ready, 1, "announced once");
}
