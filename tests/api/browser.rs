//! GraphiQL served offline, and CORS tried in a real browser: headless Chromium (Debian's
//! `chromium`, installed by `.ci/run`) loads pages from other local origins.

use std::path::PathBuf;

use axum::response::Html;
use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, spawn_app_with};

/// Every `src="…"` and `href="…"` of a page.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attr) {
            let rest = &html[at + attr.len()..];
            found.push(rest[..rest.find('"').unwrap()].to_string());
        }
    }
    found
}

#[tokio::test]
async fn graphiql_and_every_file_it_loads_come_from_the_server() {
    let app = spawn_app_with(|_| {}).await;
    let page = app.client.get(format!("{}/graphql", app.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
    };
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    let csp = header(&page, "content-security-policy");
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self';"), "{csp}");
    assert!(!csp.contains("http"), "the policy names no other host: {csp}");
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains("<style"), "no inline script or style: {html}");
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"), "{html}");

    let refs = references(&html);
    assert!(refs.len() >= 6, "scripts and styles: {refs:?}");
    let mut assets = Vec::new();
    for r in refs {
        if r.starts_with("data:") {
            continue;
        }
        assert!(r.starts_with('/') && !r.starts_with("//"), "{r} is not on this server");
        let res = app.client.get(format!("{}{r}", app.base)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{r}");
        let expected = match r.rsplit_once('.').map(|(_, ext)| ext) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => panic!("unexpected file {r}"),
        };
        assert_eq!(header(&res, "content-type"), expected, "{r}");
        assert_eq!(header(&res, "x-content-type-options"), "nosniff", "{r}");
        let cache = header(&res, "cache-control");
        if r.contains("-18.3.1/") || r.contains("-3.8.3/") {
            assert!(cache.contains("max-age=31536000") && cache.contains("immutable"), "{r}: {cache}");
        } else {
            assert_eq!(cache, "no-cache", "{r}");
        }
        let body = res.bytes().await.unwrap();
        assert!(body.len() > 30, "{r}");
        assets.push(r);
    }
    for name in ["react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "graphiql.min.css"] {
        assert!(assets.iter().any(|a| a.ends_with(name)), "{name} in {assets:?}");
    }
    let missing = app.client.get(format!("{}/graphiql/nothing.js", app.base)).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    let closed = spawn_app_with(|a| a.graphiql = false).await;
    for path in std::iter::once("/graphql".to_string()).chain(assets) {
        let r = closed.client.get(format!("{}{path}", closed.base)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path} with MCU_GRAPHIQL=false");
    }
}

/// Debian's `chromium` on `PATH`; without it the browser tests fail, they never skip.
fn chromium() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the browser tests need Debian's `chromium` on PATH: run .ci/run (it installs it) \
                 or `apt-get install -y chromium`"
            )
        })
}

/// The DOM of `url` after its scripts ran, from headless Chromium.
async fn dump_dom(url: String) -> String {
    let browser = chromium();
    tokio::task::spawn_blocking(move || {
        let profile = std::env::temp_dir().join(format!("mcu-chromium-{}", uuid::Uuid::new_v4().simple()));
        let out = std::process::Command::new(browser)
            .args(["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--virtual-time-budget=10000", "--enable-logging=stderr", "--v=0", "--dump-dom"])
            .arg(&url)
            .output()
            .expect("chromium runs");
        std::fs::remove_dir_all(&profile).ok();
        assert!(out.status.success(), "chromium failed on {url}: {}", String::from_utf8_lossy(&out.stderr));
        // The DOM, then the browser's console (CORS refusals are reported there).
        format!("{}\n<!-- console:\n{} -->", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn graphiql_renders_in_chromium_without_internet() {
    let app = spawn_app_with(|_| {}).await;
    let dom = dump_dom(format!("{}/graphql", app.base)).await;
    // React mounted GraphiQL under the page's policy: its scripts all ran.
    assert!(dom.contains("graphiql-container"), "GraphiQL did not render: {dom}");
    assert!(dom.contains("graphiql-editor"), "{dom}");
    // The headers editor is open with a place for the token.
    assert!(dom.contains("Headers") && dom.contains("Authorization"), "{dom}");
    // Nothing was refused by the page's policy, and nothing asked for another host.
    assert!(!dom.contains("Content Security Policy") && !dom.contains("Refused to"), "{dom}");
    assert!(!dom.contains("ERR_NAME_NOT_RESOLVED") && !dom.contains("net::ERR_"), "{dom}");
}

/// A page that logs in to the API at `api` and reads `me` with the token, or shows the failure.
fn client_page(api: &str) -> String {
    let login = json!({
        "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
        "variables": { "e": ADMIN_EMAIL, "p": ADMIN_PASSWORD },
    });
    format!(
        r#"<!doctype html><html><body><p id="out">pending</p><script>
const api = {api:?} + "/graphql";
async function gql(body, token) {{
  const headers = {{ "content-type": "application/json" }};
  if (token) headers.authorization = "Bearer " + token;
  const r = await fetch(api, {{ method: "POST", headers, body: JSON.stringify(body) }});
  return r.json();
}}
(async () => {{
  const out = document.getElementById("out");
  try {{
    const login = await gql({login});
    const token = login.data.login.accessToken;
    const me = await gql({{ query: "{{ me {{ email }} }}" }}, token);
    out.textContent = "OK " + me.data.me.email;
  }} catch (e) {{
    out.textContent = "FAILED " + e;
  }}
}})();
</script></body></html>"#
    )
}

/// A second local HTTP server that serves one page, on its own port (a different origin).
async fn page_server() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    (listener, origin)
}

fn serve_page(listener: tokio::net::TcpListener, html: String) {
    let router = axum::Router::new().route("/", axum::routing::get(move || async move { Html(html) }));
    tokio::spawn(async move { axum::serve(listener, router).await });
}

#[tokio::test]
async fn a_page_from_a_configured_origin_logs_in_and_reads_in_chromium_another_is_refused() {
    let (allowed, allowed_origin) = page_server().await;
    let (other, other_origin) = page_server().await;
    let app = spawn_app_with(|a| a.cors_origins.clone_from(&allowed_origin)).await;
    serve_page(allowed, client_page(&app.base));
    serve_page(other, client_page(&app.base));

    let dom = dump_dom(format!("{allowed_origin}/")).await;
    assert!(dom.contains(&format!("OK {ADMIN_EMAIL}")), "the configured origin reads the API: {dom}");

    let dom = dump_dom(format!("{other_origin}/")).await;
    assert!(dom.contains("FAILED TypeError: Failed to fetch"), "an origin not configured is refused: {dom}");
    assert!(!dom.contains(&format!("OK {ADMIN_EMAIL}")), "{dom}");
    assert!(dom.contains(&format!("from origin '{other_origin}' has been blocked by CORS policy")), "{dom}");
}
