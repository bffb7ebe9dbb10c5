//! Requests of the regional centre (ЦУР) over HTTP: sent by its token or registered by staff,
//! answered with materials, overdue marks, and who may do what.

use serde_json::{Value, json};

use crate::helpers::{Gql, TestApp, spawn_app, spawn_app_with};

const FIELDS: &str = "id subject requestedBy dueDate status answeredAt overdue daysLate version createdBy \
    materials { id kind text roadmapId memoId docxUrl }";

async fn create(app: &TestApp, token: &str, input: Value) -> Gql {
    let q = format!("mutation($i:CreateCurRequestInput!){{ r: createCurRequest(input:$i) {{ {FIELDS} }} }}");
    app.gql(Some(token), &q, json!({ "i": input })).await
}

async fn add(app: &TestApp, token: &str, input: Value) -> Gql {
    let q = format!("mutation($i:AddCurMaterialInput!){{ r: addCurMaterial(input:$i) {{ {FIELDS} }} }}");
    app.gql(Some(token), &q, json!({ "i": input })).await
}

async fn status(app: &TestApp, token: &str, id: &str, version: i64, status: &str) -> Gql {
    let q = format!("mutation($i:SetCurRequestStatusInput!){{ r: setCurRequestStatus(input:$i) {{ {FIELDS} }} }}");
    app.gql(Some(token), &q, json!({ "i": {"id": id, "version": version, "status": status} })).await
}

async fn read(app: &TestApp, token: &str, id: &str) -> Gql {
    app.gql(Some(token), &format!("query($id:ID!){{ r: curRequest(id:$id) {{ {FIELDS} }} }}"), json!({"id": id})).await
}

async fn api_token(app: &TestApp, admin: &str, scope: &str) -> String {
    let q = format!("mutation{{createApiToken(input:{{name:\"ЦУР {scope}\",scopes:[{scope}]}}){{secret}}}}");
    app.gql(Some(admin), &q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_regional_centre_sends_a_request_and_reads_the_answer_with_its_materials() {
    let app = spawn_app_with(|a| a.access_ttl_secs = 30 * 86_400).await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let st = app.staff().await;
    let cur = api_token(&app, &st.admin, "CUR_REQUESTS").await;
    let input = json!({"subject": "Сведения о подтоплениях", "body": "Направьте справку и планы мероприятий",
        "dueDate": "2026-12-09"});

    // Who sends: the ЦУР's token and the centre's routers; no one else.
    for t in [&st.executor, &st.head] {
        assert_eq!(create(&app, t, input.clone()).await.code(), "FORBIDDEN");
    }
    for scope in ["ANALYTICS_READ", "APPEALS_READ"] {
        let t = api_token(&app, &st.admin, scope).await;
        assert_eq!(create(&app, &t, input.clone()).await.code(), "FORBIDDEN", "{scope}");
        assert_eq!(app.gql(Some(&t), "{ curRequests { totalCount } }", json!({})).await.code(), "FORBIDDEN");
    }
    let bad = create(&app, &cur, json!({"subject": " ", "body": "", "dueDate": "2026-12-09"})).await;
    assert_eq!(bad.field_paths(), vec!["input.subject", "input.body"]);
    let staff_without_author = create(&app, &st.coordinator, input.clone()).await;
    assert_eq!(staff_without_author.field_paths(), vec!["input.requestedBy"]);
    assert_eq!(app.audit_count("createCurRequest").await, 0);

    let r = create(&app, &cur, input).await;
    let id = r.data()["r"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.data()["r"]["status"], "NEW");
    assert_eq!(r.data()["r"]["requestedBy"], "ЦУР CUR_REQUESTS", "a token's request is from the token");
    assert_eq!(r.data()["r"]["createdBy"], Value::Null, "tokens see no names");
    assert_eq!(read(&app, &st.curator, &id).await.data()["r"]["createdBy"], "ЦУР CUR_REQUESTS");

    // The centre takes it into work; an answer needs a material first.
    assert_eq!(status(&app, &cur, &id, 1, "IN_WORK").await.code(), "FORBIDDEN", "the ЦУР does not answer itself");
    assert_eq!(status(&app, &st.head, &id, 1, "IN_WORK").await.code(), "FORBIDDEN");
    let r = status(&app, &st.coordinator, &id, 1, "IN_WORK").await;
    assert_eq!(r.data()["r"]["status"], "IN_WORK");
    let r = status(&app, &st.coordinator, &id, 2, "ANSWERED").await;
    assert_eq!(r.field_paths(), vec!["input.status"]);
    assert_eq!(status(&app, &st.coordinator, &id, 1, "CANCELLED").await.code(), "CONFLICT");

    // Materials: a roadmap and a written answer; bad references are named.
    let rm = app
        .gql(
            Some(&st.coordinator),
            "mutation{ createRoadmap(input:{title:\"Ливнёвка\", problem:\"Подтопления\"}) { id } }",
            json!({}),
        )
        .await;
    let roadmap = rm.data()["createRoadmap"]["id"].as_str().unwrap().to_string();
    let r = add(&app, &st.coordinator, json!({"requestId": id, "version": 2, "kind": "MEMO"})).await;
    assert_eq!(r.field_paths(), vec!["input.memoId"]);
    let r =
        add(&app, &st.coordinator, json!({"requestId": id, "version": 2, "kind": "ROADMAP", "roadmapId": "999999"}))
            .await;
    assert_eq!(r.field_paths(), vec!["input.roadmapId"]);
    assert_eq!(
        add(&app, &cur, json!({"requestId": id, "version": 2, "kind": "TEXT", "text": "x"})).await.code(),
        "FORBIDDEN"
    );
    let r = add(&app, &st.coordinator, json!({"requestId": id, "version": 2, "kind": "ROADMAP", "roadmapId": roadmap}))
        .await;
    assert_eq!(r.data()["r"]["version"], 3);
    let r = add(
        &app,
        &st.curator,
        json!({"requestId": id, "version": 3, "kind": "TEXT", "text": "Справка: 12 подтоплений за ноябрь"}),
    )
    .await;
    let materials = r.data()["r"]["materials"].as_array().unwrap().clone();
    assert_eq!(materials.len(), 2);
    assert_eq!(materials[1]["docxUrl"], Value::Null);

    // Two days late: open and overdue until the answer, then answered late by the same days.
    app.set_now("2026-12-11T10:00:00+07:00");
    let late = app
        .gql(
            Some(&cur),
            "{ curRequests(filter:{overdue:true}) { totalCount edges { node { id daysLate } } } }",
            json!({}),
        )
        .await;
    assert_eq!(late.data()["curRequests"]["edges"][0]["node"]["daysLate"], 2);
    let r = status(&app, &st.curator, &id, 4, "ANSWERED").await;
    assert_eq!((r.data()["r"]["status"].clone(), r.data()["r"]["overdue"].clone()), (json!("ANSWERED"), json!(false)));
    assert_eq!(r.data()["r"]["daysLate"], 2);
    assert_eq!(
        add(&app, &st.curator, json!({"requestId": id, "version": 5, "kind": "TEXT", "text": "ещё"}))
            .await
            .field_paths(),
        vec!["input.requestId"]
    );
    assert_eq!(status(&app, &st.curator, &id, 5, "CANCELLED").await.field_paths(), vec!["input.status"]);
    app.set_now("2026-12-20T10:00:00+07:00");
    assert_eq!(read(&app, &cur, &id).await.data()["r"]["daysLate"], 2, "lateness stops at the answer");
    let none = app.gql(Some(&cur), "{ curRequests(filter:{overdue:true}) { totalCount } }", json!({})).await;
    assert_eq!(none.data()["curRequests"]["totalCount"], 0);

    // The ЦУР downloads the roadmap sent to it; others without the rule cannot.
    let url = materials[0]["docxUrl"].as_str().unwrap().to_string();
    let get = |token: String| {
        let (app, url) = (&app, url.clone());
        async move { app.client.get(format!("{}{url}", app.base)).bearer_auth(token).send().await.unwrap() }
    };
    let resp = get(cur.clone()).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.bytes().await.unwrap().starts_with(b"PK"), "a DOCX (zip)");
    assert_eq!(get(st.executor.clone()).await.status().as_u16(), 403);
    let text_url = format!("{}/exports/cur-materials/{}.docx", app.base, materials[1]["id"].as_str().unwrap());
    assert_eq!(app.client.get(text_url).bearer_auth(&cur).send().await.unwrap().status().as_u16(), 404);
    assert_eq!(app.audit_count("setCurRequestStatus").await, 2);
    assert_eq!(app.audit_count("addCurMaterial").await, 2);
}

/// A page of requests reads the materials of all its requests at once.
#[tokio::test]
async fn a_page_of_requests_reads_their_materials_at_once() {
    let app = spawn_app().await;
    let st = app.staff().await;
    let cur = api_token(&app, &st.admin, "CUR_REQUESTS").await;
    for i in 0..6 {
        let r =
            create(&app, &cur, json!({"subject": format!("Запрос {i}"), "body": "Справка", "dueDate": "2026-12-20"}))
                .await;
        let id = r.data()["r"]["id"].as_str().unwrap().to_string();
        add(&app, &st.curator, json!({"requestId": id, "version": 1, "kind": "TEXT", "text": format!("Ответ {i}")}))
            .await
            .data();
    }
    let q = "query($n:Int){ curRequests(first:$n) { edges { node { materials { id } } } } }";
    let mut costs = Vec::new();
    for n in [2, 6] {
        let before = app.sql_statements();
        let r = app.gql(Some(&st.curator), q, json!({"n": n})).await;
        let edges = r.data()["curRequests"]["edges"].as_array().unwrap().clone();
        assert_eq!(edges.len(), n);
        assert!(edges.iter().all(|e| e["node"]["materials"].as_array().unwrap().len() == 1), "{edges:?}");
        costs.push(app.sql_statements() - before);
    }
    assert_eq!(costs[0], costs[1], "statements for 2 requests vs 6: {costs:?}");
}

/// A request holds at most `MAX_MATERIALS` materials; one more is refused with its path and
/// changes nothing.
#[tokio::test]
async fn a_request_holds_a_bounded_number_of_materials() {
    let app = spawn_app().await;
    let st = app.staff().await;
    let cur = api_token(&app, &st.admin, "CUR_REQUESTS").await;
    let r = create(&app, &cur, json!({"subject": "Справки", "body": "Все справки", "dueDate": "2026-12-20"})).await;
    let id = r.data()["r"]["id"].as_str().unwrap().to_string();
    let cap = i64::try_from(mcu::service::cur_requests::MAX_MATERIALS).unwrap();
    for v in 1..=cap {
        add(&app, &st.curator, json!({"requestId": id, "version": v, "kind": "TEXT", "text": format!("Справка {v}")}))
            .await
            .data();
    }
    let over =
        add(&app, &st.curator, json!({"requestId": id, "version": cap + 1, "kind": "TEXT", "text": "ещё"})).await;
    assert_eq!(over.field_paths(), vec!["input.requestId"]);
    let r = read(&app, &st.curator, &id).await;
    assert_eq!(r.data()["r"]["materials"].as_array().unwrap().len(), usize::try_from(cap).unwrap());
    assert_eq!(r.data()["r"]["version"], cap + 1);
}
