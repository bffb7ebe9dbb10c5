//! The ingestion API, topic suggestions and likely duplicates.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const INGEST: &str = "mutation($i:[IngestAppealInput!]!){ingestAppeals(input:$i){created updated unchanged rejected{row field message}}}";

async fn token(app: &TestApp, admin: &str, scope: &str) -> String {
    let r = app
        .gql(
            Some(admin),
            "mutation($s:[ApiScope!]!){createApiToken(input:{name:\"ЦУР\",scopes:$s}){secret}}",
            json!({"s": [scope]}),
        )
        .await;
    r.data()["createApiToken"]["secret"].as_str().unwrap().to_string()
}

fn item(id: &str, text: &str) -> Value {
    json!({"channel": "INCIDENT", "externalId": id, "kind": "INCIDENT", "receivedAt": "2026-11-20T10:00:00+07:00", "text": text,
           "categoryName": "ямы и ремонт дорог", "url": format!("https://vk.com/wall-1_{id}")})
}

#[tokio::test]
async fn ingestion_is_idempotent_reports_bad_items_and_records_changes() {
    let app = spawn_app().await;
    app.set_now("2026-11-25T10:00:00+07:00");
    let admin = app.admin().await;
    let ingest = token(&app, &admin, "APPEALS_INGEST").await;
    let items = json!([
        item("vk-1", "Яма у школы"),
        item("vk-2", "Разбита дорога на Ленина"),
        {"channel": "INCIDENT", "externalId": " ", "kind": "INCIDENT", "receivedAt": "2026-11-20T10:00:00+07:00", "text": "без id"},
        {"channel": "INCIDENT", "externalId": "vk-4", "kind": "INCIDENT", "receivedAt": "2026-11-20T10:00:00+07:00", "text": "x", "categoryName": "Нет такой"},
        {"channel": "INCIDENT", "externalId": "vk-5", "kind": "INCIDENT", "receivedAt": "2027-11-20T10:00:00+07:00", "text": "из будущего"},
        item("vk-6", "Нет освещения"),
    ]);
    let r = app.gql(Some(&ingest), INGEST, json!({"i": items})).await;
    let d = &r.data()["ingestAppeals"];
    assert_eq!((d["created"].as_i64(), d["updated"].as_i64(), d["unchanged"].as_i64()), (Some(3), Some(0), Some(0)));
    let rejected: Vec<(i64, &str)> = d["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(rejected, [(3, "externalId"), (4, "categoryName"), (5, "receivedAt")]);
    {
        // A load that grew the table by more than a fifth refreshed PostgreSQL's statistics
        // (`reltuples` is -1 until a table is first analyzed).
        use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
        let db = &app.state.db;
        if db.get_database_backend() == DatabaseBackend::Postgres {
            let sql = "SELECT CAST(reltuples AS DOUBLE PRECISION) AS n FROM pg_class WHERE oid = 'appeals'::regclass";
            let row = db.query_one_raw(Statement::from_string(DatabaseBackend::Postgres, sql)).await.unwrap().unwrap();
            assert!(row.try_get::<f64>("", "n").unwrap() >= 3.0);
        }
    }

    // The same items again change nothing.
    let again = app.gql(Some(&ingest), INGEST, json!({"i": items})).await;
    assert_eq!(again.data()["ingestAppeals"]["unchanged"], 3);
    assert_eq!(again.data()["ingestAppeals"]["created"], 0);

    // A changed item updates the appeal and says what changed.
    let mut changed = item("vk-1", "Яма у школы стала больше");
    changed["status"] = json!("Отправлен ответ заявителю");
    changed["answeredAt"] = json!("2026-11-24T10:00:00+07:00");
    changed["answerText"] = json!("Яма засыпана");
    let r = app.gql(Some(&ingest), INGEST, json!({"i": [changed]})).await;
    assert_eq!(r.data()["ingestAppeals"]["updated"], 1);
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let list = app.gql(Some(&curator), "{ appeals(filter:{channel:[INCIDENT]}, orderBy:{field:NUMBER,direction:ASC}) { totalCount edges { node { externalId status text category { name } events { action data comment } } } } }", json!({})).await;
    let edges = list.data()["appeals"]["edges"].as_array().unwrap();
    assert_eq!(list.data()["appeals"]["totalCount"], 3);
    let first = &edges[0]["node"];
    assert_eq!(first["externalId"], "vk-1");
    assert_eq!(first["status"], "ANSWERED");
    assert_eq!(first["category"]["name"], "Ямы и ремонт дорог");
    let events: Vec<&str> = first["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(events, ["ingestAppeal", "ingestUpdate"]);
    assert!(first["events"][1]["comment"].as_str().unwrap().contains("text"));
    assert_eq!(first["events"][0]["data"]["url"], "https://vk.com/wall-1_vk-1");
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn only_ingest_tokens_and_coordinators_of_the_channel_may_ingest() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let analytics = token(&app, &admin, "ANALYTICS_READ").await;
    assert_eq!(app.gql(Some(&analytics), INGEST, json!({"i": [item("a", "b")]})).await.code(), "FORBIDDEN");
    assert_eq!(app.gql(None, INGEST, json!({"i": [item("a", "b")]})).await.code(), "UNAUTHENTICATED");
    let (_, head) = app.user_with(&admin, &["HEAD"], json!({})).await;
    assert_eq!(app.gql(Some(&head), INGEST, json!({"i": [item("a", "b")]})).await.code(), "FORBIDDEN");
    let (_, pos) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["POS"]})).await;
    let r = app.gql(Some(&pos), INGEST, json!({"i": [item("a", "b")]})).await;
    assert_eq!(r.data()["ingestAppeals"]["rejected"][0]["field"], "channel");
    let (_, im) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["INCIDENT"]})).await;
    assert_eq!(app.gql(Some(&im), INGEST, json!({"i": [item("a", "b")]})).await.data()["ingestAppeals"]["created"], 1);
    let many: Vec<Value> = (0..1001).map(|i| item(&format!("x{i}"), "t")).collect();
    assert_eq!(app.gql(Some(&im), INGEST, json!({"i": many})).await.field_paths(), vec!["input"]);
}

#[tokio::test]
async fn concurrent_ingestion_of_the_same_items_creates_each_once() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ingest = token(&app, &admin, "APPEALS_INGEST").await;
    let items: Vec<Value> = (0..40).map(|i| item(&format!("c{i}"), &format!("Текст {i}"))).collect();
    let calls: Vec<_> = (0..4).map(|_| app.gql(Some(&ingest), INGEST, json!({"i": items}))).collect();
    let results = futures_util::future::join_all(calls).await;
    let created: i64 = results.iter().map(|r| r.data()["ingestAppeals"]["created"].as_i64().unwrap()).sum();
    let unchanged: i64 = results.iter().map(|r| r.data()["ingestAppeals"]["unchanged"].as_i64().unwrap()).sum();
    assert_eq!((created, unchanged), (40, 120));
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn topics_are_suggested_from_the_databases_own_appeals() {
    let app = spawn_app().await;
    mcu::service::seed::seed_demo(&app.state, 1500, 3).await.unwrap();
    let (curator, _) = app.login("curator@demo.mcu", mcu::service::seed::DEMO_PASSWORD).await;
    let info = app
        .gql(
            Some(&curator),
            "mutation { retrainClassifier { documents vocabulary categories top1Accuracy top3Accuracy } }",
            json!({}),
        )
        .await;
    let info = &info.data()["retrainClassifier"];
    assert!(info["documents"].as_i64().unwrap() >= 1400);
    assert!(info["top3Accuracy"].as_f64().unwrap() > 0.8, "{info}");
    const SUGGEST: &str =
        "query($t:String!){ suggestCategory(text:$t) { category { name } recipient { name } confidence } }";
    for (text, expected) in [
        ("Третий день холодные батареи, в квартире +15", "Отопление"),
        ("Во дворе контейнеры переполнены, мусор не забирают", "Вывоз мусора (ТКО)"),
        ("На дороге глубокая яма, пробил колесо", "Ямы и ремонт дорог"),
    ] {
        let r = app.gql(Some(&curator), SUGGEST, json!({"t": text})).await;
        let top = &r.data()["suggestCategory"][0];
        assert_eq!(top["category"]["name"], expected, "{text}: {}", r.body);
        assert!(top["confidence"].as_f64().unwrap() > 0.0);
    }
    let r = app.gql(Some(&curator), SUGGEST, json!({"t": "Холодные батареи"})).await;
    assert_eq!(r.data()["suggestCategory"][0]["recipient"]["name"], "Управление ЖКХ");
    // A new appeal without a topic gets the suggestion stored (not as its category).
    let (_, _, _) = app
        .appeal(
            &curator,
            json!({"kind": "MESSAGE", "channel": "PHONE", "text": "Батареи в квартире холодные уже неделю"}),
        )
        .await;
    let stored: Option<i64> = {
        use sea_orm::{EntityTrait, QueryOrder};
        mcu::entity::appeal::Entity::find()
            .order_by_desc(mcu::entity::appeal::Column::Id)
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap()
            .suggested_category_id
    };
    assert!(stored.is_some());
}

#[tokio::test]
async fn likely_duplicates_by_text_and_by_place() {
    let app = spawn_app().await;
    app.set_now("2026-11-25T10:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let pits = app.category(&curator, "Ямы и ремонт дорог").await;
    let light = app.category(&curator, "Уличное освещение").await;
    let base = json!({"kind": "MESSAGE", "channel": "PHONE", "categoryId": pits, "latitude": 54.0, "longitude": 90.25});
    let with = |text: &str, extra: Value| {
        let mut v = base.clone();
        v["text"] = json!(text);
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    let (original, _, _) =
        app.appeal(&curator, with("Огромная яма на дороге у школы номер три на улице Ленина", json!({}))).await;
    let (reordered, _, _) = app
        .appeal(&curator, with("На улице Ленина у школы номер три огромная яма на дороге", json!({"latitude": 54.01})))
        .await;
    let (nearby, _, _) = app.appeal(&curator, with("Провал асфальта", json!({"latitude": 54.0009}))).await;
    let (far, _, _) = app.appeal(&curator, with("Провал асфальта", json!({"latitude": 54.05}))).await;
    let (other, _, _) = app.appeal(&curator, with("Не горят фонари", json!({"categoryId": light}))).await;
    let r = app
        .gql(
            Some(&curator),
            "query($id:ID!){ possibleDuplicates(appealId:$id) { appeal { id } similarity distanceMeters } }",
            json!({"id": original}),
        )
        .await;
    let found: Vec<&str> = r.data()["possibleDuplicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["appeal"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(found.first().copied(), Some(reordered.as_str()), "{}", r.body);
    assert!(found.contains(&nearby.as_str()), "same topic within 100 m");
    assert!(!found.contains(&far.as_str()) && !found.contains(&other.as_str()));
    let events =
        app.gql(Some(&curator), "query($id:ID!){appeal(id:$id){events{data}}}", json!({"id": reordered})).await;
    assert_eq!(events.data()["appeal"]["events"][0]["data"]["possibleDuplicates"][0], original.parse::<i64>().unwrap());
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn bulk_writes_keep_a_fixed_set_of_statement_texts_whatever_the_batch_sizes() {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    use mcu::domain::access::{Channel, Principal};
    use mcu::domain::deadlines::AppealKind;
    use mcu::service::Caller;
    use mcu::service::intake::{IngestItem, IngestOptions, ingest};

    let app = spawn_app().await;
    app.set_now("2026-11-25T10:00:00+07:00");
    let admin = app.admin().await;
    // The pool keeps every statement text as a prepared statement on each connection: a
    // multi-row INSERT or IN list with another text for each batch size made an import grow
    // the process by tens of megabytes. Watch the texts this service call sends.
    let texts: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let statements = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut state = app.state.clone();
    let watch = || {
        let (seen, sent) = (Arc::clone(&texts), Arc::clone(&statements));
        move |info: &sea_orm::metric::Info<'_>| {
            seen.lock().unwrap().insert(info.statement.sql.clone());
            sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    };
    state.db.set_metric_callback(watch());
    state.writer.set_metric_callback(watch());
    let caller = Caller { principal: Principal::System, ..Caller::default() };
    let received = chrono::DateTime::parse_from_rfc3339("2026-11-20T10:00:00+07:00").unwrap().to_utc();
    let mut next = 0;
    let mut last = Vec::new();
    for size in 1..=40 {
        let items: Vec<(usize, IngestItem)> = (0..size)
            .map(|i| {
                next += 1;
                let item = IngestItem {
                    channel: Some(Channel::Incident),
                    external_id: format!("bulk-{next}"),
                    kind: Some(AppealKind::Incident),
                    received_at: Some(received),
                    text: format!("Яма на дороге у дома {next}"),
                    category_name: Some("ямы и ремонт дорог".into()),
                    ..IngestItem::default()
                };
                (i + 1, item)
            })
            .collect();
        last.clone_from(&items);
        let out = ingest(&state, &caller, items, IngestOptions::default()).await.unwrap();
        assert_eq!((out.created as usize, out.rejected.len()), (size, 0), "batch of {size}");
    }
    // The last batch again: all unchanged, found by the one lookup (no read per item).
    let before = statements.load(std::sync::atomic::Ordering::Relaxed);
    let out = ingest(&state, &caller, last, IngestOptions::default()).await.unwrap();
    assert_eq!((out.created, out.updated, out.unchanged), (0, 0, 40));
    let sent = statements.load(std::sync::atomic::Ordering::Relaxed) - before;
    assert!(sent <= 8, "{sent} statements to find 40 unchanged items");
    let texts = texts.lock().unwrap().clone();
    let count = |prefix: &str| texts.iter().filter(|t| t.starts_with(prefix)).count();
    // 40 batch sizes, written in statements of 1, 2, 4, 8, 16 and 32 rows.
    assert_eq!(count("INSERT INTO \"appeals\""), 6);
    assert_eq!(count("INSERT INTO \"appeal_events\""), 6);
    assert!(count("INSERT INTO \"appeal_stats\"") <= 9, "{}", count("INSERT INTO \"appeal_stats\""));
    let lookups = texts.iter().filter(|t| t.starts_with("SELECT") && t.contains("\"external_id\" IN")).count();
    // Padded to 1, 2, 4, …, 64 values.
    assert_eq!(lookups, 7, "texts for the lookup of existing external ids");
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let r = app.gql(Some(&curator), "{ appeals(filter: {channel: [INCIDENT]}) { totalCount } }", json!({})).await;
    assert_eq!(r.data()["appeals"]["totalCount"], 820);
    app.assert_rollups_agree().await;
}

/// What a re-import of the same rows must leave alone, and what a corrected row must change:
/// a completion date on a row that is not answered (redirected, back in work) is not an
/// answer, so the second run is all unchanged; a corrected receipt moves the first term;
/// a territory is found whatever its kind is written as.
#[tokio::test]
async fn reimports_are_unchanged_and_corrections_move_what_they_should() {
    let app = spawn_app().await;
    app.set_now("2026-11-25T10:00:00+07:00");
    let admin = app.admin().await;
    app.territory(&admin, "г. Сорск", None).await;
    app.territory(&admin, "Усть-Абаканский район", None).await;
    let ingest = token(&app, &admin, "APPEALS_INGEST").await;
    let row = |id: &str, status: &str, territory: &str| {
        json!({"channel": "POS", "externalId": id, "kind": "MESSAGE", "receivedAt": "2026-11-16T10:00:00+07:00",
               "text": "Не вывозят мусор", "status": status, "answeredAt": "2026-11-20T10:00:00+07:00",
               "territoryName": territory, "authorName": "Иванов И. И.", "authorContact": "+7 900 000-00-00"})
    };
    let items = json!([
        row("p-1", "Перенаправлено по компетенции", "Сорск"),
        row("p-2", "На рассмотрении", "город Сорск"),
        row("p-3", "Отправлен ответ заявителю", "г.Сорск"),
        row("p-4", "Отправлен ответ заявителю", "Усть-Абаканский р-н"),
    ]);
    let first = app.gql(Some(&ingest), INGEST, json!({"i": items})).await;
    assert_eq!(first.data()["ingestAppeals"]["created"], 4, "{first:?}");
    let again = app.gql(Some(&ingest), INGEST, json!({"i": items})).await;
    let d = &again.data()["ingestAppeals"];
    assert_eq!((d["created"].as_i64(), d["updated"].as_i64(), d["unchanged"].as_i64()), (Some(0), Some(0), Some(4)));

    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let read = |id: &'static str| {
        let app = &app;
        let curator = curator.clone();
        async move {
            let q = "{ appeals(first: 10) { edges { node { externalId receivedAt dueAt answeredAt authorName territory { name } events { action comment } } } } }";
            let r = app.gql(Some(&curator), q, json!({})).await;
            r.data()["appeals"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone())
                .find(|n| n["externalId"] == id)
                .unwrap()
        }
    };
    let before = read("p-3").await;
    assert_eq!(before["territory"]["name"], "г. Сорск");
    assert_eq!(read("p-4").await["territory"]["name"], "Усть-Абаканский район");
    assert!(read("p-1").await["answeredAt"].is_null());

    // The source corrects the receipt date and the author's contact of p-3.
    let mut fixed = row("p-3", "Отправлен ответ заявителю", "Сорск");
    fixed["receivedAt"] = json!("2026-11-09T10:00:00+07:00");
    fixed["authorContact"] = json!("ivanov@mail.ru");
    let r = app.gql(Some(&ingest), INGEST, json!({"i": [fixed]})).await;
    assert_eq!(r.data()["ingestAppeals"]["updated"], 1, "{r:?}");
    let after = read("p-3").await;
    assert_ne!(after["receivedAt"], before["receivedAt"]);
    assert_ne!(after["dueAt"], before["dueAt"], "the first term moves with the receipt");
    let comment = after["events"].as_array().unwrap().last().unwrap()["comment"].as_str().unwrap().to_string();
    assert!(comment.contains("receivedAt") && comment.contains("authorContact"), "{comment}");

    app.assert_rollups_agree().await;
}

/// A source that gives no status (an item without `status`) does not undo the centre's work
/// when it sends the item again with a correction; one that brings the answer moves it on.
#[tokio::test]
async fn an_item_sent_again_without_a_status_keeps_the_status_the_centre_set() {
    let app = spawn_app().await;
    app.set_now("2026-11-25T10:00:00+07:00");
    let admin = app.admin().await;
    let ingest = token(&app, &admin, "APPEALS_INGEST").await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let r = app.gql(Some(&ingest), INGEST, json!({"i": [item("vk-1", "Яма у школы")]})).await;
    assert_eq!(r.data()["ingestAppeals"]["created"], 1);
    let q = "{ appeals { edges { node { id version status text } } } }";
    let node = app.gql(Some(&curator), q, json!({})).await.data()["appeals"]["edges"][0]["node"].clone();
    assert_eq!(node["status"], "RECEIVED");
    let v = node["version"].as_i64().unwrap();
    app.act(&curator, "registerAppeal", "AppealActionInput", json!({"id": node["id"], "version": v})).await.data();

    let r = app.gql(Some(&ingest), INGEST, json!({"i": [item("vk-1", "Яма у школы стала больше")]})).await;
    assert_eq!(r.data()["ingestAppeals"]["updated"], 1);
    let node = app.gql(Some(&curator), q, json!({})).await.data()["appeals"]["edges"][0]["node"].clone();
    assert_eq!(
        (node["status"].as_str(), node["text"].as_str()),
        (Some("REGISTERED"), Some("Яма у школы стала больше"))
    );

    let mut answered = item("vk-1", "Яма у школы стала больше");
    answered["answeredAt"] = json!("2026-11-25T09:00:00+07:00");
    answered["answerText"] = json!("Яма засыпана");
    let r = app.gql(Some(&ingest), INGEST, json!({"i": [answered]})).await;
    assert_eq!(r.data()["ingestAppeals"]["updated"], 1);
    let node = app.gql(Some(&curator), q, json!({})).await.data()["appeals"]["edges"][0]["node"].clone();
    assert_eq!(node["status"], "ANSWERED", "the source's answer moves it on");
    app.assert_rollups_agree().await;
}
