//! The people of access tokens kept in memory (`state::SessionCache`, issue 20 goal 2): a
//! known session reads no account row, and every change of an account or a session applies
//! at once in the process that made it, in another process when its announcement arrives,
//! and at the latest after `MCU_SESSION_CACHE_MS`.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const ME: &str = "{ me { id roles } }";
const DETAIL: &str =
    "query($id:ID!){ appeal(id:$id) { number status dueAt recipient { name } category { name } territory { name } } }";
const UPDATE: &str = "mutation($id:ID!,$v:Int!,$r:[Role!],$a:Boolean){updateUser(input:{id:$id,version:$v,roles:$r,active:$a}){version}}";

fn postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty())
}

/// The statements of a request once the cache has settled: creating people is announced,
/// and on PostgreSQL a process hears its own announcements through `LISTEN` a moment later
/// and drops what it kept then; so the request is repeated (for up to five seconds) until it
/// costs `expected`, and the last cost is returned.
async fn settled_cost(app: &TestApp, token: &str, query: &str, vars: serde_json::Value, expected: u64) -> u64 {
    let started = std::time::Instant::now();
    loop {
        let c = cost(app, token, query, vars.clone()).await;
        if c == expected || started.elapsed() > Duration::from_secs(5) {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Statements the server ran for one request.
async fn cost(app: &TestApp, token: &str, query: &str, vars: serde_json::Value) -> u64 {
    let before = app.sql_statements();
    let r = app.gql(Some(token), query, vars).await;
    assert!(r.body["errors"].is_null(), "{}", r.body);
    app.sql_statements() - before
}

/// One appeal with names, on a server with or without the cache: the statements of a
/// detail once the session is known.
async fn detail_cost(cache_ms: u64) -> u64 {
    let app = spawn_app_with(|a| a.session_cache_ms = cache_ms).await;
    let s = app.staff().await;
    let category = app.category(&s.curator, "Дороги").await;
    let territory = app.territory(&s.admin, "Центральный район", None).await;
    let (id, _, _) = app
        .appeal(
            &s.curator,
            json!({"kind": "MESSAGE", "channel": "POS", "text": "Яма на дороге", "categoryId": category, "territoryId": territory}),
        )
        .await;
    cost(&app, &s.curator, DETAIL, json!({ "id": id })).await;
    settled_cost(&app, &s.curator, DETAIL, json!({ "id": id }), if cache_ms > 0 { 1 } else { 2 }).await
}

#[tokio::test]
async fn a_known_session_reads_no_account_row_so_a_detail_costs_one_statement() {
    assert_eq!(detail_cost(5000).await, 1, "the appeal itself; the person and the names are in memory");
    assert_eq!(detail_cost(0).await, 2, "without the cache every request reads the account too");
}

#[tokio::test]
async fn a_change_of_roles_or_a_deactivation_applies_to_the_next_request_despite_the_cache() {
    let app = spawn_app_with(|a| a.session_cache_ms = 600_000).await;
    let admin = app.admin().await;
    let (id, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    assert_eq!(app.gql(Some(&curator), ME, json!({})).await.data()["me"]["roles"], json!(["CURATOR"]));
    assert_eq!(settled_cost(&app, &curator, ME, json!({}), 1).await, 1, "the person kept; `me` reads its own row");

    let r = app.gql(Some(&admin), UPDATE, json!({"id": id, "v": 1, "r": ["HEAD"]})).await;
    assert_eq!(r.data()["updateUser"]["version"], 2);
    assert_eq!(app.gql(Some(&curator), ME, json!({})).await.data()["me"]["roles"], json!(["HEAD"]));

    let r = app.gql(Some(&admin), UPDATE, json!({"id": id, "v": 2, "a": false})).await;
    assert!(r.body["errors"].is_null(), "{}", r.body);
    let after = app.gql(Some(&curator), ME, json!({})).await;
    assert_eq!(after.code(), "UNAUTHENTICATED", "{}", after.body);
}

#[tokio::test]
async fn another_process_drops_an_ended_session_when_it_hears_of_it_or_after_the_bound() {
    let first = spawn_app().await;
    let admin = first.admin().await;
    let (_, executor) = first.user_with(&admin, &["CURATOR"], json!({})).await;
    let email = first.gql(Some(&executor), "{ me { email } }", json!({})).await.data()["me"]["email"]
        .as_str()
        .unwrap()
        .to_string();
    let (access, refresh) = first.login(&email, crate::helpers::PASSWORD).await;
    // On PostgreSQL every process hears every announcement (LISTEN/NOTIFY): a long bound
    // shows that the announcement, not the time, ends the session there. One SQLite file is
    // served by one process; a second one is bound by the time alone.
    let bound = if postgres() { 600_000 } else { 700 };
    let second = first.second_process_with(|a| a.session_cache_ms = bound).await;
    assert!(second.gql(Some(&access), ME, json!({})).await.body["errors"].is_null());
    assert_eq!(settled_cost(&second, &access, ME, json!({}), 1).await, 1, "the second process keeps the session");

    let r = first.gql(Some(&access), "mutation($t:String!){logout(refreshToken:$t)}", json!({"t": refresh})).await;
    assert_eq!(r.data()["logout"], true);
    assert_eq!(first.gql(Some(&access), ME, json!({})).await.code(), "UNAUTHENTICATED", "at once where it ended");
    let started = std::time::Instant::now();
    loop {
        let r = second.gql(Some(&access), ME, json!({})).await;
        if r.body["errors"].is_array() {
            assert_eq!(r.code(), "UNAUTHENTICATED");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "the second process still serves an ended session");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
