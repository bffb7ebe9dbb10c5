//! Best practices over HTTP: the library by role, validation with paths, versions, search by
//! word forms, links from roadmaps and the effect measured from appeals.

use serde_json::{Value, json};

use crate::helpers::{Gql, TestApp, spawn_app, spawn_app_with};

const FIELDS: &str = "id title problem actionTaken place source appliedOn version roadmapIds \
    category { id } territory { id } effect { baselinePerMonth currentPerMonth change }";

async fn create(app: &TestApp, token: &str, input: Value) -> Gql {
    let q = format!("mutation($i:CreatePracticeInput!){{ p: createPractice(input:$i) {{ {FIELDS} }} }}");
    app.gql(Some(token), &q, json!({ "i": input })).await
}

async fn update(app: &TestApp, token: &str, input: Value) -> Gql {
    let q = format!("mutation($i:UpdatePracticeInput!){{ p: updatePractice(input:$i) {{ {FIELDS} }} }}");
    app.gql(Some(token), &q, json!({ "i": input })).await
}

async fn search(app: &TestApp, token: &str, filter: Value) -> Vec<String> {
    let q = "query($f:PracticeFilter){ practices(filter:$f) { totalCount edges { node { title } } } }";
    let r = app.gql(Some(token), q, json!({ "f": filter })).await;
    let edges = r.data()["practices"]["edges"].as_array().unwrap().clone();
    assert_eq!(r.data()["practices"]["totalCount"], edges.len());
    edges.iter().map(|e| e["node"]["title"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_library_of_practices_by_role_with_search_versions_and_links() {
    let app = spawn_app().await;
    let st = app.staff().await;
    let roads = app.category(&st.curator, "Тротуары").await;
    let pits = json!({"title": "Ямочный ремонт по заявкам жителей", "problem": "Жалобы на ямы на дорогах",
        "actionTaken": "Карта ям от жителей и ремонт за 3 дня", "place": "Тюмень", "source": "Доклад ЦУР, 2025",
        "categoryId": roads});

    // Who writes: curators and coordinators; not executors, the Head or tokens.
    let bi = app.api_token(&st.admin, "ANALYTICS_READ").await;
    for t in [&st.executor, &st.head, &bi] {
        assert_eq!(create(&app, t, pits.clone()).await.code(), "FORBIDDEN");
    }
    assert_eq!(app.gql(None, "{ practices { totalCount } }", json!({})).await.code(), "UNAUTHENTICATED");
    // Every invalid field, with its path, and nothing written.
    let bad = create(
        &app,
        &st.coordinator,
        json!({"title": " ", "problem": "x", "actionTaken": "я".repeat(20_001),
        "categoryId": "999999"}),
    )
    .await;
    assert_eq!(bad.field_paths(), vec!["input.title", "input.actionTaken", "input.categoryId"]);
    assert_eq!(app.audit_count("createPractice").await, 0);

    let p = create(&app, &st.coordinator, pits).await;
    let id = p.data()["p"]["id"].as_str().unwrap().to_string();
    assert_eq!(p.data()["p"]["version"], 1);
    assert_eq!(p.data()["p"]["effect"], Value::Null, "no effect without a day of application");
    create(
        &app,
        &st.curator,
        json!({"title": "Освещение дворов", "problem": "Темно во дворах",
        "actionTaken": "Фонари на солнечных батареях"}),
    )
    .await
    .data();
    assert_eq!(app.audit_count("createPractice").await, 2);

    // Search finds word forms, every word must match; filters narrow; readers and tokens read.
    for (words, expected) in [
        ("дорога", vec!["Ямочный ремонт по заявкам жителей"]),
        ("ремонтом ям", vec!["Ямочный ремонт по заявкам жителей"]),
        ("ЯМА двор", vec![]),
        ("тюмени", vec!["Ямочный ремонт по заявкам жителей"]),
        ("фонарь", vec!["Освещение дворов"]),
    ] {
        assert_eq!(search(&app, &st.executor, json!({"search": words})).await, expected, "{words}");
    }
    assert_eq!(search(&app, &bi, json!({"categoryId": [roads]})).await, vec!["Ямочный ремонт по заявкам жителей"]);
    assert_eq!(search(&app, &st.head, json!({})).await.len(), 2);
    let other = app.api_token(&st.admin, "APPEALS_INGEST").await;
    assert_eq!(app.gql(Some(&other), "{ practices { totalCount } }", json!({})).await.code(), "FORBIDDEN");

    // Edits check the version; a stale one changes nothing.
    let r = update(&app, &st.curator, json!({"id": id, "version": 1, "place": "", "title": "Ямочный ремонт за 3 дня"}))
        .await;
    assert_eq!((r.data()["p"]["version"].clone(), r.data()["p"]["place"].clone()), (json!(2), Value::Null));
    let stale = update(&app, &st.curator, json!({"id": id, "version": 1, "title": "Другое"})).await;
    assert_eq!(stale.code(), "CONFLICT");
    assert_eq!(search(&app, &st.curator, json!({"search": "другое"})).await, Vec::<String>::new());
    assert_eq!(update(&app, &st.executor, json!({"id": id, "version": 2, "title": "x"})).await.code(), "FORBIDDEN");
    let r = update(&app, &st.curator, json!({"id": id, "version": 2, "title": " "})).await;
    assert_eq!(r.field_paths(), vec!["input.title"]);
    assert_eq!(update(&app, &st.curator, json!({"id": "999999", "version": 1})).await.code(), "NOT_FOUND");

    // A roadmap draws on it: linked once however often, shown both ways, in the history.
    let r = app
        .gql(
            Some(&st.coordinator),
            "mutation{ createRoadmap(input:{title:\"Дороги\", problem:\"Ямы\"}) { id } }",
            json!({}),
        )
        .await;
    let roadmap = r.data()["createRoadmap"]["id"].as_str().unwrap().to_string();
    let link = "mutation($r:ID!,$p:ID!){ linkPractice(roadmapId:$r, practiceId:$p) { id practices { id title } } }";
    for t in [&st.executor, &st.head, &bi] {
        assert_eq!(app.gql(Some(t), link, json!({"r": roadmap, "p": id})).await.code(), "FORBIDDEN");
    }
    assert_eq!(app.gql(Some(&st.coordinator), link, json!({"r": roadmap, "p": "999999"})).await.code(), "NOT_FOUND");
    for _ in 0..2 {
        app.gql(Some(&st.coordinator), link, json!({"r": roadmap, "p": id})).await.data();
    }
    let q = "query($r:ID!){ roadmap(id:$r) { practices { id } history { action } } }";
    let r = app.gql(Some(&st.head), q, json!({"r": roadmap})).await;
    assert_eq!(r.data()["roadmap"]["practices"], json!([{"id": id}]));
    let actions: Vec<&str> =
        r.data()["roadmap"]["history"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["createRoadmap", "linkPractice"]);
    let p = app.gql(Some(&bi), "query($id:ID!){ practice(id:$id) { roadmapIds } }", json!({"id": id})).await;
    assert_eq!(p.data()["practice"]["roadmapIds"], json!([roadmap]));
    let unlink = "mutation($r:ID!,$p:ID!){ unlinkPractice(roadmapId:$r, practiceId:$p) { practices { id } } }";
    let r = app.gql(Some(&st.curator), unlink, json!({"r": roadmap, "p": id})).await;
    assert_eq!(r.data()["unlinkPractice"]["practices"], json!([]));
}

/// The effect where a practice was applied here: appeals per month before and after the day.
#[tokio::test]
async fn the_effect_of_a_practice_counts_from_the_day_it_was_applied() {
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-09-02T10:00:00+07:00");
    let st = app.staff().await;
    let heating = app.category(&st.curator, "Отопление").await;
    let city = app.territory(&st.admin, "Сорск", None).await;
    let north = app.territory(&st.admin, "Северный", Some(&city)).await;
    let appeal = |received: &str, territory: &str| {
        json!({"kind": "MESSAGE", "channel": "PHONE", "text": "Холодно", "receivedAt": received,
               "categoryId": heating, "territoryId": territory})
    };
    // The six months before 2026-07-01 (local): 6 in the subtree, one before them, one elsewhere.
    for m in 1..=6 {
        app.appeal(&st.curator, appeal(&format!("2026-0{m}-15T12:00:00+07:00"), &north)).await;
    }
    app.appeal(&st.curator, appeal("2025-12-20T12:00:00+07:00", &north)).await;
    let other = app.territory(&st.admin, "Другой", None).await;
    app.appeal(&st.curator, appeal("2026-03-01T12:00:00+07:00", &other)).await;
    // Since: 2, one of them on the day itself (local midnight starts it).
    app.appeal(&st.curator, appeal("2026-07-01T00:30:00+07:00", &north)).await;
    app.appeal(&st.curator, appeal("2026-08-15T12:00:00+07:00", &north)).await;
    let r = create(&app, &st.curator, json!({"title": "Промывка систем", "problem": "Холодно",
        "actionTaken": "Промывка до начала сезона", "categoryId": heating, "territoryId": city, "appliedOn": "2026-07-01"}))
    .await;
    let e = &r.data()["p"]["effect"];
    assert!((e["baselinePerMonth"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{e}");
    // From 2026-07-01T00:00+07:00 to 2026-09-02T10:00+07:00.
    let months = (63.0 + 10.0 / 24.0) / 30.4375;
    assert!((e["currentPerMonth"].as_f64().unwrap() - 2.0 / months).abs() < 1e-9, "{e}");
    assert!((e["change"].as_f64().unwrap() - (2.0 / months - 1.0)).abs() < 1e-9, "{e}");
}

/// A page of roadmaps reads the practices of all its roadmaps at once: the statements of a
/// request do not grow with the page.
#[tokio::test]
async fn a_page_of_roadmaps_reads_their_practices_at_once() {
    let app = spawn_app().await;
    let st = app.staff().await;
    let p = create(&app, &st.curator, json!({"title": "Двор", "problem": "Темно", "actionTaken": "Фонари"})).await;
    let practice = p.data()["p"]["id"].as_str().unwrap().to_string();
    for i in 0..6 {
        let q = format!("mutation{{ createRoadmap(input:{{title:\"Карта {i}\", problem:\"Ямы\"}}) {{ id }} }}");
        let r = app.gql(Some(&st.curator), &q, json!({})).await;
        let roadmap = r.data()["createRoadmap"]["id"].as_str().unwrap().to_string();
        let link = "mutation($r:ID!,$p:ID!){ linkPractice(roadmapId:$r, practiceId:$p) { id } }";
        app.gql(Some(&st.curator), link, json!({"r": roadmap, "p": practice})).await.data();
    }
    let q = "query($n:Int){ roadmaps(first:$n) { edges { node { practices { id } } } } }";
    let mut costs = Vec::new();
    for n in [2, 6] {
        let before = app.sql_statements();
        let r = app.gql(Some(&st.curator), q, json!({"n": n})).await;
        let edges = r.data()["roadmaps"]["edges"].as_array().unwrap().clone();
        assert_eq!(edges.len(), n);
        assert!(edges.iter().all(|e| e["node"]["practices"] == json!([{"id": practice}])), "{edges:?}");
        costs.push(app.sql_statements() - before);
    }
    assert_eq!(costs[0], costs[1], "statements for 2 roadmaps vs 6: {costs:?}");
}
