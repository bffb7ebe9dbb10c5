//! Requests an attacker would send (issue 14): each was seen to crash the server, stall it
//! or leak something; each is now refused with a code and the server keeps serving.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, METRICS_TOKEN, TestApp, spawn_app, spawn_app_with};

/// Documents that nest values deeper than the parser may recurse.
pub fn deep_documents() -> Vec<String> {
    vec![
        format!("{{ __typename @include(if: {}true{}) }}", "[".repeat(2000), "]".repeat(2000)),
        format!("{{ appeals(filter: {}) {{ totalCount }} }}", format!("{}{}", "{a:".repeat(1500), "}".repeat(1500))),
        format!("query($x: [Int] = {}1{}) {{ __typename }}", "[".repeat(2000), "]".repeat(2000)),
    ]
}

/// Eight levels of fragments, each spreading the next ten times: 10^8 fields once expanded,
/// in 730 bytes.
pub fn fragment_fan_out() -> String {
    let mut text = String::from("query { ...F0 }\n");
    for level in 0..8 {
        let spreads = (0..10).map(|_| format!("...F{}", level + 1)).collect::<Vec<_>>().join(" ");
        text.push_str("fragment F");
        text.push_str(&level.to_string());
        text.push_str(" on Query { ");
        text.push_str(&spreads);
        text.push_str(" }\n");
    }
    text.push_str("fragment F8 on Query { __typename }\n");
    text
}

async fn post(app: &TestApp, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = app.client.post(format!("{}/graphql", app.base)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

async fn still_serving(app: &TestApp) {
    let r = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.gql(None, "{ __typename }", json!({})).await;
    assert_eq!(r.data()["__typename"], "Query");
}

#[tokio::test]
async fn deeply_nested_values_are_refused_on_every_path_that_parses() {
    let app = spawn_app().await;
    for doc in deep_documents() {
        assert!(doc.len() < 10_000);
        // A JSON body.
        let r = app.gql(None, &doc, json!({})).await;
        assert_eq!(r.code(), "GRAPHQL_PARSE_FAILED", "{}", r.body);
        assert!(r.message().contains("nested deeper than 40"), "{}", r.body);
        // An item of a batch: the others are answered.
        let (_, body) = post(&app, None, &json!([{ "query": doc }, { "query": "{ __typename }" }])).await;
        assert_eq!(body[0]["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED", "{body}");
        assert_eq!(body[1]["data"]["__typename"], "Query", "{body}");
        // The `operations` of a multipart request.
        let form = reqwest::multipart::Form::new()
            .text("operations", json!({ "query": doc, "variables": {} }).to_string())
            .text("map", "{}");
        let resp = app.client.post(format!("{}/graphql", app.base)).multipart(form).send().await.unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED", "{body}");
        still_serving(&app).await;
    }
    // Deeply nested JSON variables are refused by the JSON reader.
    let nested = format!("{}1{}", "[".repeat(3000), "]".repeat(3000));
    let text = format!("{{\"query\":\"query($x:[Int]){{ __typename }}\",\"variables\":{{\"x\":{nested}}}}}");
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED");
    // Nesting within the limit still parses: the introspection query nests 15 levels.
    let mut ok = String::from("id");
    for _ in 0..10 {
        ok = format!("parent {{ {ok} }}");
    }
    let admin = app.admin().await;
    app.gql(Some(&admin), &format!("{{ territories {{ {ok} }} }}"), json!({})).await.data();
    still_serving(&app).await;
}

#[tokio::test]
async fn fragment_fan_out_is_refused_before_validation_expands_it() {
    let app = spawn_app().await;
    let doc = fragment_fan_out();
    assert!(doc.len() < 1000);
    let mut waiting = Vec::new();
    for _ in 0..4 {
        let app_base = app.base.clone();
        let client = app.client.clone();
        let doc = doc.clone();
        waiting.push(tokio::spawn(async move {
            let resp = client.post(format!("{app_base}/graphql")).json(&json!({ "query": doc })).send().await.unwrap();
            resp.json::<Value>().await.unwrap()
        }));
    }
    for w in waiting {
        let body = w.await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("MCU_MAX_FIELDS"), "{body}");
    }
    // Spreads are counted with their size: many small spreads of one fragment add up.
    let spreads = (0..300).map(|_| "...A").collect::<Vec<_>>().join(" ");
    let r = app.gql(None, &format!("{{ {spreads} }} fragment A on Query {{ a: __typename b: __typename c: __typename d: __typename e: __typename f: __typename g: __typename }}"), json!({})).await;
    assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED");
    let r = app.gql(None, "{ ...A ...A } fragment A on Query { __typename }", json!({})).await;
    assert_eq!(r.data()["__typename"], "Query");
    still_serving(&app).await;
}

#[tokio::test]
async fn cost_counts_page_sizes_and_expensive_fields_have_a_cap() {
    let app = spawn_app().await;
    let root = app.admin().await;
    let (_, admin) = app.user_with(&root, &["CURATOR"], json!({})).await;
    let pages = |first: u32, n: u32| {
        let aliases: String =
            (0..n).map(|i| format!("a{i}: appeals(first: {first}) {{ edges {{ node {{ id }} }} }} ")).collect();
        format!("{{ {aliases} }}")
    };
    // 40 pages of 100 appeals cost 40 × 100 × 3: refused before any runs.
    let r = app.gql(Some(&admin), &pages(100, 40), json!({})).await;
    assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED", "{}", r.body);
    assert!(r.message().contains("complex"), "{}", r.body);
    // The same through a variable, and without `first` (the default page of 20 counts).
    let r = app
        .gql(Some(&admin), "query($n: Int) { a: appeals(first: $n) { edges { node { id } } } }", json!({"n": 100}))
        .await;
    r.data();
    let aliases: String = (0..200).map(|i| format!("a{i}: appeals {{ edges {{ node {{ id }} }} }} ")).collect();
    let r = app.gql(Some(&admin), &format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED", "{}", r.body);
    // Small pages pass.
    app.gql(Some(&admin), &pages(5, 40), json!({})).await.data();

    // 200 aliased logins: refused by their cost, no password is checked.
    let logins: String = (0..200)
        .map(|i| format!("l{i}: login(email: \"{ADMIN_EMAIL}\", password: \"wrong password {i}\") {{ accessToken }} "))
        .collect();
    let r = app.gql(None, &format!("mutation {{ {logins} }}"), json!({})).await;
    assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED", "{}", r.body);
    // Two aliased logins: the first is checked, the second refused without a check.
    let r = app
        .gql(
            None,
            &format!(
                "mutation {{ a: login(email: \"{ADMIN_EMAIL}\", password: \"wrong password a\") {{ accessToken }} \
                 b: login(email: \"{ADMIN_EMAIL}\", password: \"wrong password b\") {{ accessToken }} }}"
            ),
            json!({}),
        )
        .await;
    let errors = r.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{}", r.body);
    let codes: Vec<&str> = errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"RATE_LIMITED"), "{}", r.body);
    // The cap spans the operations of a batch.
    let op = json!({"query": format!("mutation {{ login(email: \"{ADMIN_EMAIL}\", password: \"wrong password c\") {{ accessToken }} }}")});
    let (_, body) = post(&app, None, &json!([op, op])).await;
    assert_eq!(body[1]["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{body}");
    // Only the checked attempts count against the account.
    let failures = app
        .gql(Some(&root), "{ auditLog(first: 100) { edges { node { action } } } }", json!({}))
        .await
        .data()["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["action"] == "login.failed")
        .count();
    assert_eq!(failures, 2);
    // Analytics, the memo and suggestions have their own cost.
    let memo: String =
        (0..11).map(|i| format!("m{i}: weeklyMemo(weekStart: \"2026-11-30\") {{ weekStart }} ")).collect();
    let r = app.gql(Some(&admin), &format!("{{ analytics {{ {memo} }} }}"), json!({})).await;
    assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED", "{}", r.body);
    still_serving(&app).await;
}

#[tokio::test]
async fn no_suggestions_when_introspection_is_off() {
    let open = spawn_app().await;
    let r = open.gql(None, "{ apeals { totalCount } }", json!({})).await;
    assert!(r.message().contains("Did you mean"), "suggestions are on with introspection: {}", r.body);
    let closed = spawn_app_with(|a| a.introspection = false).await;
    for doc in ["{ apeals { totalCount } }", "mutation { logn { accessToken } }", "{ me { emai } }"] {
        let r = closed.gql(None, doc, json!({})).await;
        assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED");
        assert!(!r.message().contains("Did you mean"), "{}", r.body);
        assert!(!r.body.to_string().contains("appeals"), "{}", r.body);
    }
}

#[tokio::test]
async fn include_and_skip_take_a_boolean() {
    let app = spawn_app().await;
    for doc in ["{ __typename @include(if: [true]) }", "{ __typename @skip(if: \"yes\") }", "{ __typename @include }"] {
        let r = app.gql(None, doc, json!({})).await;
        assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED", "{doc}: {}", r.body);
        assert!(r.body["data"].is_null());
    }
    let r = app
        .gql(
            None,
            "query($v: Boolean!) { a: __typename publicPoll(id: \"1\") @include(if: $v) { id } }",
            json!({"v": false}),
        )
        .await;
    assert_eq!(r.data()["a"], "Query", "{}", r.body);
}

#[tokio::test]
async fn metrics_need_the_token_or_their_own_address() {
    let app = spawn_app_with(|a| a.metrics_bind = Some("127.0.0.1:0".into())).await;
    let url = format!("{}/metrics", app.base);
    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(!r.text().await.unwrap().contains("mcu_"));
    let r = app.client.get(&url).bearer_auth("metrics-token-for-tests-0124").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app.client.get(&url).bearer_auth(METRICS_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("mcu_graphql_requests_total"));
    // The separate listener serves metrics only, without a token.
    let port = app.metrics_port.unwrap();
    let r = app.client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("mcu_sql_statements_total"));
    let r = app
        .client
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Without a token configured, the API's address has no metrics at all.
    let plain = spawn_app_with(|a| a.metrics_token = None).await;
    let r = plain.client.get(format!("{}/metrics", plain.base)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(plain.metrics_port.is_none());
}

#[tokio::test]
async fn internal_errors_while_checking_credentials_carry_the_request_id() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    app.state.db.execute_unprepared("ALTER TABLE api_tokens RENAME TO api_tokens_away").await.unwrap();
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth("mcu_0123456789abcdef")
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let id = resp.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL_SERVER_ERROR");
    assert_eq!(body["errors"][0]["extensions"]["requestId"], id.as_str(), "{body}");
    assert!(!body.to_string().contains("api_tokens"), "no internal detail: {body}");
    let resp = app
        .client
        .get(format!("{}/exports/appeals.xlsx", app.base))
        .bearer_auth("mcu_0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let id = resp.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["requestId"], id.as_str(), "{body}");
    app.state.db.execute_unprepared("ALTER TABLE api_tokens_away RENAME TO api_tokens").await.unwrap();
    still_serving(&app).await;
}

async fn failed_login_ip(app: &TestApp, forwarded: Option<&str>) -> String {
    let mut req = app.client.post(format!("{}/graphql", app.base)).json(&json!({
        "query": format!("mutation {{ login(email: \"{ADMIN_EMAIL}\", password: \"not the password at all\") {{ accessToken }} }}")
    }));
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.unwrap();
    let admin = app.admin().await;
    // Newest first: the admin's login, then this failure.
    let all = app.gql(Some(&admin), "{ auditLog(first: 5) { edges { node { action ip } } } }", json!({})).await;
    all.data()["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["action"] == "login.failed")
        .map(|e| e["node"]["ip"].as_str().unwrap_or_default().to_string())
        .unwrap()
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let direct = spawn_app().await;
    assert_eq!(failed_login_ip(&direct, Some("203.0.113.7")).await, "127.0.0.1", "not a trusted proxy");
    let proxied = spawn_app_with(|a| a.trusted_proxies = "10.0.0.0/8, 127.0.0.1".into()).await;
    assert_eq!(failed_login_ip(&proxied, Some("203.0.113.7")).await, "203.0.113.7");
    // A client cannot choose its address by sending its own header: the nearest untrusted hop counts.
    assert_eq!(failed_login_ip(&proxied, Some("198.51.100.1, 203.0.113.9, 10.1.2.3")).await, "203.0.113.9");
    assert_eq!(failed_login_ip(&proxied, Some("garbage")).await, "127.0.0.1");
    assert_eq!(failed_login_ip(&proxied, None).await, "127.0.0.1");
    let bad = mcu::config::Settings::from_args({
        let mut a = crate::helpers::test_args("sqlite://x.db".into());
        a.trusted_proxies = "10.0.0.0/33".into();
        a
    });
    assert_eq!(bad.unwrap_err().setting, "MCU_TRUSTED_PROXIES");
}
