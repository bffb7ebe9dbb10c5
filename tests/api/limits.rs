//! Abusive requests are refused quickly and the server keeps serving.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn depth_complexity_batch_body_and_page_limits() {
    let app = spawn_app().await;
    let admin = app.admin().await;

    let mut deep = String::from("id");
    for _ in 0..20 {
        deep = format!("parent {{ {deep} }}");
    }
    let r = app.gql(Some(&admin), &format!("{{ territories {{ {deep} }} }}"), json!({})).await;
    assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED");

    let aliases: String = (0..3000).map(|i| format!("a{i}: users(first: 100) {{ totalCount }} ")).collect();
    let r = app.gql(Some(&admin), &format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED");

    let batch: Vec<Value> = (0..1000).map(|_| json!({"query": "{ me { id } }"})).collect();
    let resp = app.client.post(format!("{}/graphql", app.base)).bearer_auth(&admin).json(&batch).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    let small: Vec<Value> = (0..3).map(|_| json!({"query": "{ me { id } }"})).collect();
    let resp = app.client.post(format!("{}/graphql", app.base)).bearer_auth(&admin).json(&small).send().await.unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body.as_array().unwrap().len(), 3);

    let huge = "x".repeat(50 * 1024 * 1024);
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .body(format!("{{\"query\":\"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);

    let r = app.gql(Some(&admin), "{ users(first: 100000) { totalCount } }", json!({})).await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    assert_eq!(r.field_paths(), vec!["first"]);

    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED");

    let r = app.gql(Some(&admin), "{ me { id ", json!({})).await;
    assert_eq!(r.code(), "GRAPHQL_PARSE_FAILED");
    let r = app.gql(Some(&admin), "{ me { nosuchfield } }", json!({})).await;
    assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED");
    let r = app.gql(Some(&admin), "query($f:Int){ users(first: $f) { totalCount } }", json!({"f": "many"})).await;
    assert!(r.body["errors"][0]["extensions"]["code"].is_string(), "{}", r.body);

    // Each operation of a batch stands alone: one that does not parse spoils none of the others.
    let mixed = json!([{"query": "{ me { id "}, {"query": "{ me { email } }"}, {"query": "{ me { nosuch } }"}]);
    let resp = app.client.post(format!("{}/graphql", app.base)).bearer_auth(&admin).json(&mixed).send().await.unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body[0]["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED", "{body}");
    assert_eq!(body[1]["data"]["me"]["email"], "admin@mcu.test", "{body}");
    assert_eq!(body[2]["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{body}");
    let r = app.gql(Some(&admin), "query A { me { id } } query B { me { id } }", json!({})).await;
    assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED", "no operation named: {}", r.body);

    // The same text with other variables (its parsed form is reused) answers for those.
    let (_, executor) = app.user_with(&admin, &["EXECUTOR"], json!({})).await;
    let q = "query($n:Int){ users(first: $n) { edges { node { id } } } }";
    for n in [1, 2, 1] {
        let r = app.gql(Some(&admin), q, json!({"n": n})).await;
        assert_eq!(r.data()["users"]["edges"].as_array().unwrap().len(), n, "{}", r.body);
    }

    // A refused root field leaves the others of the same operation answered.
    let r = app.gql(Some(&executor), "{ me { roles } users(first: 1) { totalCount } }", json!({})).await;
    assert_eq!(r.body["data"]["me"]["roles"], json!(["EXECUTOR"]), "{}", r.body);
    assert_eq!(r.code(), "FORBIDDEN");
    assert_eq!(r.body["errors"][0]["path"], json!(["users"]));
    assert_eq!(r.body["errors"].as_array().unwrap().len(), 1);

    // Still serving.
    assert!(app.gql(Some(&admin), "{ me { id } }", json!({})).await.data()["me"].is_object());
    let health = app.client.get(format!("{}/readyz", app.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn health_graphiql_and_request_ids() {
    let app = spawn_app().await;
    let r = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.get(format!("{}/graphql", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().to_lowercase().contains("graphiql"));
    let r = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("x-request-id").is_some());

    let closed = crate::helpers::spawn_app_with(|a| {
        a.graphiql = false;
        a.introspection = false;
    })
    .await;
    let r = closed.client.get(format!("{}/graphql", closed.base)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = closed.gql(None, "{ __schema { types { name } } }", json!({})).await;
    assert!(r.body["data"]["__schema"].is_null(), "introspection is off: {}", r.body);
    let r = app.gql(None, "{ __schema { types { name } } }", json!({})).await;
    assert!(r.body["data"]["__schema"]["types"].is_array());
}

#[tokio::test]
async fn invalid_configuration_names_the_setting() {
    let mut args = crate::helpers::test_args("postgres://x@127.0.0.1/db".into());
    args.jwt_secret = None;
    let e = mcu::config::Settings::from_args(args).unwrap_err();
    assert_eq!(e.setting, "MCU_JWT_SECRET");
    let mut args = crate::helpers::test_args("sqlite://x.db".into());
    args.timezone = "Mars/Olympus".into();
    assert_eq!(mcu::config::Settings::from_args(args).unwrap_err().setting, "MCU_TIMEZONE");
    let mut args = crate::helpers::test_args("mysql://x".into());
    args.bind = "nope".into();
    assert_eq!(mcu::config::Settings::from_args(args).unwrap_err().setting, "DATABASE_URL");
    let mut args = crate::helpers::test_args("sqlite://x.db".into());
    args.admin_password = Some("short".into());
    assert_eq!(mcu::config::Settings::from_args(args).unwrap_err().setting, "MCU_ADMIN_PASSWORD");
}
