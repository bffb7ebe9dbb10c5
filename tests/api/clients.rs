//! What real clients need (issue 15): the standard introspection queries at the default
//! limits, CORS, `serverInfo` and described scalars, GraphQL over HTTP (media types, GET,
//! persisted queries), stable ids for a normalising cache, one log line per request.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// `getIntrospectionQuery()` of graphql-js 16 with its defaults (what codegen, GraphiQL and
/// Apollo's tools send).
const GRAPHQL_JS: &str = r"
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}";

/// The same with every option on and the nine levels of `ofType` of graphql-js 17 and
/// graphql-core (`gql`'s `fetch_schema_from_transport`).
const ALL_OPTIONS: &str = r"
query IntrospectionQuery {
  __schema {
    description
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description isRepeatable locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } } }
}";

#[tokio::test]
async fn standard_introspection_passes_at_the_default_limits() {
    let app = spawn_app().await;
    let defaults = mcu::config::Settings::from_args(crate::helpers::test_args("sqlite://x.db".into())).unwrap();
    assert_eq!(defaults.max_depth, 12);
    for q in [GRAPHQL_JS, ALL_OPTIONS] {
        let r = app.gql(None, q, json!({})).await;
        let types = r.data()["__schema"]["types"].as_array().unwrap();
        assert!(types.iter().any(|t| t["name"] == "Appeal"), "{}", r.body);
    }
    // Ordinary operations keep the depth limit, through fragments too.
    let admin = app.admin().await;
    let mut deep = String::from("id");
    for _ in 0..12 {
        deep = format!("parent {{ {deep} }}");
    }
    let r = app.gql(Some(&admin), &format!("{{ territories {{ {deep} }} }}"), json!({})).await;
    assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED");
    let r = app
        .gql(Some(&admin), &format!("{{ ...T }} fragment T on Query {{ territories {{ {deep} }} }}"), json!({}))
        .await;
    assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED");
    // Deep nesting hidden under an introspection field name is still the library's 20 levels.
    let mut hidden = String::from("name");
    for _ in 0..25 {
        hidden = format!("ofType {{ {hidden} }}");
    }
    let r = app.gql(None, &format!("{{ __type(name: \"Appeal\") {{ {hidden} }} }}"), json!({})).await;
    assert_eq!(r.code(), "GRAPHQL_VALIDATION_FAILED");
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_admits_only_the_configured_origins() {
    let app = spawn_app_with(|a| a.cors_origins = "http://127.0.0.1:5173, https://mcu.example.ru".into()).await;
    let r = preflight(&app, "http://127.0.0.1:5173").await;
    assert!(r.status().is_success(), "{}", r.status());
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "http://127.0.0.1:5173");
    let allowed = h["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{allowed}");
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    let r = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("origin", "https://mcu.example.ru")
        .json(&json!({"query": "{ serverInfo { timeZone } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://mcu.example.ru");
    let exposed = r.headers()["access-control-expose-headers"].to_str().unwrap().to_lowercase();
    assert!(exposed.contains("x-request-id") && exposed.contains("content-disposition"), "{exposed}");
    let r = app
        .client
        .get(format!("{}/exports/appeals.xlsx", app.base))
        .header("origin", "https://mcu.example.ru")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://mcu.example.ru", "exports too");
    // Another origin, a look-alike, and a server without the setting: no CORS headers.
    for origin in ["http://evil.example", "https://mcu.example.ru.evil.example", "http://127.0.0.1:5174"] {
        let r = preflight(&app, origin).await;
        assert!(r.headers().get("access-control-allow-origin").is_none(), "{origin}");
    }
    let closed = spawn_app().await;
    let r = preflight(&closed, "http://127.0.0.1:5173").await;
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let bad = mcu::config::Settings::from_args({
        let mut a = crate::helpers::test_args("sqlite://x.db".into());
        a.cors_origins = "https://mcu.example.ru/".into();
        a
    });
    assert_eq!(bad.unwrap_err().setting, "MCU_CORS_ORIGINS");
}

#[tokio::test]
async fn server_info_and_described_scalars() {
    let app = spawn_app_with(|a| a.timezone = "Europe/Moscow".into()).await;
    let r = app.gql(None, "{ serverInfo { timeZone version } }", json!({})).await;
    assert_eq!(r.data()["serverInfo"]["timeZone"], "Europe/Moscow");
    assert_eq!(r.data()["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
    for (scalar, spec) in [("DateTime", "rfc3339"), ("Date", "rfc3339"), ("JSON", "rfc8259"), ("Upload", "multipart")] {
        let r = app
            .gql(None, "query($n: String!) { __type(name: $n) { description specifiedByURL } }", json!({"n": scalar}))
            .await;
        let t = &r.data()["__type"];
        assert!(t["specifiedByURL"].as_str().unwrap().contains(spec), "{scalar}: {t}");
        let d = t["description"].as_str().unwrap();
        assert!(!d.contains("Implement") && !d.contains("<Utc>"), "{scalar}: {d}");
    }
    let sdl = mcu::graphql::sdl();
    assert!(sdl.contains("scalar DateTime @specifiedBy(url: \"https://datatracker.ietf.org/doc/html/rfc3339\")"));
}

async fn raw(app: &TestApp, req: reqwest::RequestBuilder) -> (u16, String, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let _ = app;
    (status, ct, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn graphql_over_http_media_types_get_and_persisted_queries() {
    let app = spawn_app().await;
    let url = format!("{}/graphql", app.base);
    let gr = "application/graphql-response+json";
    // application/graphql-response+json: 4xx when the request fails before execution.
    let (status, ct, body) =
        raw(&app, app.client.post(&url).header("accept", gr).json(&json!({"query": "{ serverInfo { "}))).await;
    assert_eq!((status, ct.starts_with(gr)), (400, true), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED");
    let (status, _, body) =
        raw(&app, app.client.post(&url).header("accept", gr).json(&json!({"query": "{ nosuch }"}))).await;
    assert_eq!(status, 400, "{body}");
    let (status, ct, body) =
        raw(&app, app.client.post(&url).header("accept", gr).json(&json!({"query": "{ serverInfo { timeZone } }"})))
            .await;
    assert_eq!((status, ct.starts_with(gr)), (200, true));
    assert_eq!(body["data"]["serverInfo"]["timeZone"], "Asia/Krasnoyarsk");
    // A field error is execution: 200 with data.
    let (status, _, body) = raw(
        &app,
        app.client.post(&url).header("accept", gr).json(&json!({"query": "{ serverInfo { timeZone } me { id } }"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // application/json: 200 for any well-formed request, as before.
    let (status, ct, _) =
        raw(&app, app.client.post(&url).header("accept", "application/json").json(&json!({"query": "{ nosuch }"})))
            .await;
    assert_eq!((status, ct.starts_with("application/json")), (200, true));
    let (status, _, _) = raw(
        &app,
        app.client.post(&url).header("accept", "text/html").json(&json!({"query": "{ serverInfo { version } }"})),
    )
    .await;
    assert_eq!(status, 406);

    // GET runs queries, never mutations.
    let (status, _, body) = raw(
        &app,
        app.client.get(&url).query(&[
            ("query", "query Info($x: Boolean!) { serverInfo @include(if: $x) { timeZone } }"),
            ("variables", "{\"x\": true}"),
            ("operationName", "Info"),
        ]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["serverInfo"]["timeZone"], "Asia/Krasnoyarsk", "{body}");
    let (status, _, body) =
        raw(&app, app.client.get(&url).query(&[("query", "mutation { logout(refreshToken: \"x\") }")])).await;
    assert_eq!(status, 405, "{body}");
    let page = app.client.get(&url).header("accept", "text/html").send().await.unwrap();
    assert!(page.text().await.unwrap().to_lowercase().contains("graphiql"), "GET without a query is GraphiQL");

    // Automatic persisted queries: the hash alone, then hash and text, then the hash alone.
    let text = "{ serverInfo { version } }";
    let hash = {
        use sha2::{Digest, Sha256};
        Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let ext = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
    let (_, _, body) = raw(&app, app.client.post(&url).json(&json!({"extensions": ext}))).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND", "{body}");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    let (_, _, body) = raw(&app, app.client.post(&url).json(&json!({"query": text, "extensions": ext}))).await;
    assert_eq!(body["data"]["serverInfo"]["version"], env!("CARGO_PKG_VERSION"), "{body}");
    let (_, _, body) = raw(&app, app.client.post(&url).json(&json!({"extensions": ext}))).await;
    assert_eq!(body["data"]["serverInfo"]["version"], env!("CARGO_PKG_VERSION"), "{body}");
    let (_, _, body) = raw(&app, app.client.get(&url).query(&[("extensions", ext.to_string())])).await;
    assert_eq!(body["data"]["serverInfo"]["version"], env!("CARGO_PKG_VERSION"), "{body}");
    let wrong = json!({"persistedQuery": {"version": 1, "sha256Hash": "0".repeat(64)}});
    let (_, _, body) = raw(&app, app.client.post(&url).json(&json!({"query": text, "extensions": wrong}))).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn objects_a_normalising_cache_keys_on_have_ids() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (_, head) = app.user_with(&admin, &["HEAD"], json!({})).await;
    let r = app.gql(Some(&head), "{ analytics { id } }", json!({})).await;
    assert_eq!(r.data()["analytics"]["id"], "analytics");
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let r = app
        .gql(
            Some(&curator),
            "mutation { createRoadmap(input: {title: \"Дороги\", problem: \"Ямы на дорогах\"}) { id history { id action } } }",
            json!({}),
        )
        .await;
    let history = r.data()["createRoadmap"]["history"].as_array().unwrap();
    assert!(!history.is_empty());
    assert!(history.iter().all(|e| e["id"].is_string()), "{history:?}");
}

#[test]
fn one_log_line_per_request_without_colour() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let path = std::env::temp_dir().join(format!("mcu-log-{}.db", uuid::Uuid::new_v4().simple()));
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcu"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", format!("sqlite://{}?mode=rwc", path.display()))
        .env("MCU_BIND", format!("127.0.0.1:{port}"))
        .env("MCU_ADMIN_PASSWORD", crate::helpers::ADMIN_PASSWORD)
        .env("MCU_LOG_FORMAT", "text")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = std::sync::Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let client = reqwest::Client::new();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let id = rt.block_on(async {
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if client.get(format!("{url}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let r = client
            .post(format!("{url}/graphql"))
            .json(&json!({"query": "query DashboardInfo { serverInfo { timeZone } }"}))
            .send()
            .await
            .unwrap();
        r.headers()["x-request-id"].to_str().unwrap().to_string()
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    for suffix in ["", "-wal", "-shm", ".jwt-secret"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let lines = lines.lock().unwrap();
    let mine: Vec<&String> = lines.iter().filter(|l| l.contains(&id)).collect();
    assert_eq!(mine.len(), 1, "one line for the request: {lines:#?}");
    let line = mine[0];
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains("DashboardInfo") && line.contains("200") && line.contains("ms"), "{line}");
    assert!(!lines.iter().any(|l| l.contains('\u{1b}')), "no colour codes when not a terminal: {lines:#?}");
}
