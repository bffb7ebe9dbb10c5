//! Sign-in, sessions, lockout, token validation and API tokens.

use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, spawn_app};

const ME: &str = "{ me { email roles } }";
const LOGIN: &str = "mutation($e:String!,$p:String!){login(email:$e,password:$p){accessToken}}";

#[tokio::test]
async fn first_admin_logs_in_and_reads_me() {
    let app = spawn_app().await;
    let token = app.admin().await;
    let r = app.gql(Some(&token), ME, json!({})).await;
    assert_eq!(r.data()["me"]["email"], ADMIN_EMAIL);
    assert_eq!(r.data()["me"]["roles"], json!(["ADMIN"]));
    assert_eq!(app.audit_count("login").await, 1);
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    let unknown = app.gql(None, LOGIN, json!({"e": "nobody@mcu.test", "p": "whatever-password"})).await;
    let wrong = app.gql(None, LOGIN, json!({"e": ADMIN_EMAIL, "p": "wrong-password-1"})).await;
    assert_eq!(unknown.code(), "UNAUTHENTICATED");
    assert_eq!(wrong.code(), "UNAUTHENTICATED");
    assert_eq!(unknown.message(), wrong.message());
}

#[tokio::test]
async fn eleventh_wrong_password_is_rate_limited_and_the_right_one_refused_until_the_window_ends() {
    let app = spawn_app().await;
    for _ in 0..10 {
        let r = app.gql(None, LOGIN, json!({"e": ADMIN_EMAIL, "p": "wrong-password-1"})).await;
        assert_eq!(r.code(), "UNAUTHENTICATED");
    }
    let r = app.gql(None, LOGIN, json!({"e": ADMIN_EMAIL, "p": "wrong-password-1"})).await;
    assert_eq!(r.code(), "RATE_LIMITED");
    let r = app.gql(None, LOGIN, json!({"e": ADMIN_EMAIL.to_uppercase(), "p": ADMIN_PASSWORD})).await;
    assert_eq!(r.code(), "RATE_LIMITED", "the right password is refused during the lockout");
    app.state.clock.advance(chrono::Duration::minutes(16));
    let r = app.gql(None, LOGIN, json!({"e": ADMIN_EMAIL, "p": ADMIN_PASSWORD})).await;
    assert!(r.data()["login"]["accessToken"].is_string());
}

#[tokio::test]
async fn expired_tampered_and_unsigned_access_tokens_are_refused() {
    let app = spawn_app().await;
    let token = app.admin().await;

    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let last = parts[2].pop().unwrap();
    parts[2].push(if last == 'A' { 'B' } else { 'A' });
    let tampered = parts.join(".");
    assert_eq!(app.gql(Some(&tampered), ME, json!({})).await.code(), "UNAUTHENTICATED");

    // alg: none with the same claims and no signature.
    use base64_like::encode;
    let header = encode(br#"{"alg":"none","typ":"JWT"}"#);
    let none = format!("{header}.{}.", token.split('.').nth(1).unwrap());
    assert_eq!(app.gql(Some(&none), ME, json!({})).await.code(), "UNAUTHENTICATED");

    // A token signed with another secret.
    let forged = format!(
        "{}.{}.{}",
        token.split('.').next().unwrap(),
        token.split('.').nth(1).unwrap(),
        encode(b"not-the-signature-at-all-0123456789")
    );
    assert_eq!(app.gql(Some(&forged), ME, json!({})).await.code(), "UNAUTHENTICATED");

    assert_eq!(app.gql(Some("garbage"), ME, json!({})).await.code(), "UNAUTHENTICATED");

    assert!(app.gql(Some(&token), ME, json!({})).await.data()["me"].is_object());
    app.state.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(app.gql(Some(&token), ME, json!({})).await.code(), "UNAUTHENTICATED");
}

/// Minimal base64url without padding, enough to forge test tokens.
mod base64_like {
    pub fn encode(bytes: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}

const REFRESH: &str = "mutation($t:String!){refreshToken(refreshToken:$t){accessToken refreshToken}}";

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    let (_, r1) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let first = app.gql(None, REFRESH, json!({"t": r1})).await;
    let r2 = first.data()["refreshToken"]["refreshToken"].as_str().unwrap().to_string();
    let access2 = first.data()["refreshToken"]["accessToken"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    assert!(app.gql(Some(&access2), ME, json!({})).await.data()["me"].is_object());

    // The old token again: refused, and the whole family with it.
    assert_eq!(app.gql(None, REFRESH, json!({"t": r1})).await.code(), "UNAUTHENTICATED");
    assert_eq!(app.gql(None, REFRESH, json!({"t": r2})).await.code(), "UNAUTHENTICATED");
    assert_eq!(app.audit_count("refresh.reuse").await, 2, "both attempts are recorded");

    // Another session is not affected.
    let (_, other) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(app.gql(None, REFRESH, json!({"t": other})).await.data()["refreshToken"].is_object());
}

#[tokio::test]
async fn an_access_token_is_not_a_refresh_token_and_vice_versa() {
    let app = spawn_app().await;
    let (access, refresh) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(app.gql(None, REFRESH, json!({"t": access})).await.code(), "UNAUTHENTICATED");
    assert_eq!(app.gql(Some(&refresh), ME, json!({})).await.code(), "UNAUTHENTICATED");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let (access, refresh) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let r = app.gql(Some(&access), "mutation($t:String!){logout(refreshToken:$t)}", json!({"t": refresh})).await;
    assert_eq!(r.data()["logout"], true);
    assert_eq!(app.gql(None, REFRESH, json!({"t": refresh})).await.code(), "UNAUTHENTICATED");
}

#[tokio::test]
async fn change_password_ends_every_session() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (_, token) = app.user_with(&admin, &["HEAD"], json!({})).await;
    let email = app.gql(Some(&token), ME, json!({})).await.data()["me"]["email"].as_str().unwrap().to_string();
    let (access2, refresh2) = app.login(&email, PASSWORD).await;

    const CHANGE: &str = "mutation($o:String!,$n:String!){changePassword(oldPassword:$o,newPassword:$n)}";
    let short = app.gql(Some(&token), CHANGE, json!({"o": PASSWORD, "n": "short"})).await;
    assert_eq!(short.code(), "BAD_USER_INPUT");
    assert_eq!(short.field_paths(), vec!["newPassword"]);
    let wrong = app.gql(Some(&token), CHANGE, json!({"o": "not-my-password", "n": "plum orbit kettle saga 7"})).await;
    assert_eq!(wrong.field_paths(), vec!["oldPassword"]);

    let ok = app.gql(Some(&token), CHANGE, json!({"o": PASSWORD, "n": "plum orbit kettle saga 7"})).await;
    assert_eq!(ok.data()["changePassword"], true);
    assert_eq!(app.gql(Some(&token), ME, json!({})).await.code(), "UNAUTHENTICATED");
    assert_eq!(app.gql(Some(&access2), ME, json!({})).await.code(), "UNAUTHENTICATED");
    assert_eq!(app.gql(None, REFRESH, json!({"t": refresh2})).await.code(), "UNAUTHENTICATED");
    assert_eq!(app.gql(None, LOGIN, json!({"e": email, "p": PASSWORD})).await.code(), "UNAUTHENTICATED");
    app.login(&email, "plum orbit kettle saga 7").await;
}

#[tokio::test]
async fn a_deactivated_user_cannot_sign_in_and_its_tokens_stop_working() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (id, token) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let r = app
        .gql(
            Some(&admin),
            "mutation($id:ID!){updateUser(input:{id:$id,version:1,active:false}){active version}}",
            json!({"id": id}),
        )
        .await;
    assert_eq!(r.data()["updateUser"]["active"], false);
    assert_eq!(app.gql(Some(&token), ME, json!({})).await.code(), "UNAUTHENTICATED");
    let users = app.gql(Some(&admin), "{ users(first: 100) { edges { node { id email } } } }", json!({})).await;
    let email = users.data()["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["id"] == id.as_str())
        .unwrap()["node"]["email"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.gql(None, LOGIN, json!({"e": email, "p": PASSWORD})).await.code(), "UNAUTHENTICATED");
}

const CREATE_TOKEN: &str =
    "mutation($i:CreateApiTokenInput!){createApiToken(input:$i){secret token{id name scopes revoked lastUsedAt}}}";

#[tokio::test]
async fn api_tokens_are_shown_once_limited_to_their_scopes_and_revocable() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let r = app.gql(Some(&admin), CREATE_TOKEN, json!({"i": {"name": "ЦУР", "scopes": ["ANALYTICS_READ"]}})).await;
    let secret = r.data()["createApiToken"]["secret"].as_str().unwrap().to_string();
    let id = r.data()["createApiToken"]["token"]["id"].as_str().unwrap().to_string();
    assert!(secret.starts_with("mcu_"));

    // The secret is not stored: the listing has no such field and the database holds a hash.
    let stored = mcu::entity::api_token::Entity::find_by_id(id.parse::<i64>().unwrap());
    use sea_orm::EntityTrait;
    let row = stored.one(&app.state.db).await.unwrap().unwrap();
    assert_ne!(row.token_hash, secret);
    assert!(!row.token_hash.contains(&secret[4..]));

    // Reference data is readable with any scope; creating users needs a person's role.
    let read = app.gql(Some(&secret), "{ recipients { id } }", json!({})).await;
    assert!(read.data()["recipients"].is_array());
    let create = app
        .gql(Some(&secret), "mutation{createUser(input:{email:\"x@y.z\",fullName:\"X\",password:\"long-enough-password\",roles:[HEAD]}){id}}", json!({}))
        .await;
    assert_eq!(create.code(), "FORBIDDEN");
    assert_eq!(app.gql(Some(&secret), ME, json!({})).await.code(), "FORBIDDEN");

    let listed = app.gql(Some(&admin), "{ apiTokens { id lastUsedAt revoked } }", json!({})).await;
    assert!(listed.data()["apiTokens"][0]["lastUsedAt"].is_string());

    let revoked = app.gql(Some(&admin), "mutation($id:ID!){revokeApiToken(id:$id){revoked}}", json!({"id": id})).await;
    assert_eq!(revoked.data()["revokeApiToken"]["revoked"], true);
    assert_eq!(app.gql(Some(&secret), "{ recipients { id } }", json!({})).await.code(), "UNAUTHENTICATED");
}

#[tokio::test]
async fn an_expired_api_token_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let expires = (app.state.clock.now() + chrono::Duration::hours(1)).to_rfc3339();
    let r = app
        .gql(
            Some(&admin),
            CREATE_TOKEN,
            json!({"i": {"name": "short", "scopes": ["APPEALS_READ"], "expiresAt": expires}}),
        )
        .await;
    let secret = r.data()["createApiToken"]["secret"].as_str().unwrap().to_string();
    assert!(app.gql(Some(&secret), "{ territories { id } }", json!({})).await.data()["territories"].is_array());
    app.state.clock.advance(chrono::Duration::hours(2));
    assert_eq!(app.gql(Some(&secret), "{ territories { id } }", json!({})).await.code(), "UNAUTHENTICATED");
    let admin = app.admin().await;
    let past = app
        .gql(
            Some(&admin),
            CREATE_TOKEN,
            json!({"i": {"name": "old", "scopes": ["APPEALS_READ"], "expiresAt": "2020-01-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(past.field_paths(), vec!["input.expiresAt"]);
}

#[tokio::test]
async fn secrets_never_reach_the_audit_log() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.user_with(&admin, &["HEAD"], json!({})).await;
    let r = app.gql(Some(&admin), CREATE_TOKEN, json!({"i": {"name": "t", "scopes": ["APPEALS_READ"]}})).await;
    let secret = r.data()["createApiToken"]["secret"].as_str().unwrap().to_string();
    use sea_orm::EntityTrait;
    let rows = mcu::entity::audit_log::Entity::find().all(&app.state.db).await.unwrap();
    assert!(rows.len() >= 3);
    for row in rows {
        let text = format!("{row:?}");
        assert!(!text.contains(PASSWORD) && !text.contains(ADMIN_PASSWORD) && !text.contains(&secret), "{text}");
    }
}

/// Codes of the answers to `n` copies of one request sent at once.
async fn codes_of_parallel(
    app: &crate::helpers::TestApp,
    n: usize,
    query: &str,
    variables: serde_json::Value,
) -> Vec<String> {
    let requests = (0..n).map(|_| app.gql(None, query, variables.clone()));
    futures_util::future::join_all(requests)
        .await
        .iter()
        .map(|r| if r.body["errors"].is_array() { r.code() } else { "OK".to_string() })
        .collect()
}

fn count(codes: &[String], code: &str) -> usize {
    codes.iter().filter(|c| c.as_str() == code).count()
}

#[tokio::test]
async fn parallel_wrong_passwords_verify_at_most_the_limit_and_the_lockout_holds() {
    let app = spawn_app().await;
    let codes = codes_of_parallel(&app, 16, LOGIN, json!({"e": ADMIN_EMAIL, "p": "wrong-password-1"})).await;
    assert_eq!(count(&codes, "UNAUTHENTICATED"), 10, "ten passwords verified, no more: {codes:?}");
    assert_eq!(count(&codes, "RATE_LIMITED"), 6, "{codes:?}");
    let r = app.gql(None, LOGIN, json!({"e": ADMIN_EMAIL, "p": ADMIN_PASSWORD})).await;
    assert_eq!(r.code(), "RATE_LIMITED", "the right password is refused while the account is locked");
    app.state.clock.advance(chrono::Duration::minutes(16));
    assert!(app.gql(None, LOGIN, json!({"e": ADMIN_EMAIL, "p": ADMIN_PASSWORD})).await.data()["login"].is_object());
}

#[tokio::test]
async fn parallel_feedback_attempts_get_exactly_the_limit_through() {
    let app = spawn_app().await;
    const SUBMIT: &str = "mutation($c:String!,$s:Int!){submitFeedback(code:$c,score:$s)}";
    let codes = codes_of_parallel(&app, 25, SUBMIT, json!({"c": "NO-SUCH-CODE", "s": 5})).await;
    assert_eq!(count(&codes, "BAD_USER_INPUT"), 20, "twenty attempts checked, no more: {codes:?}");
    assert_eq!(count(&codes, "RATE_LIMITED"), 5, "{codes:?}");
}

const ME_ID: &str = "{ me { id } }";

#[tokio::test]
async fn logout_stops_that_sessions_access_token_at_once_and_no_other() {
    let app = spawn_app().await;
    let (access, refresh) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (other_access, other_refresh) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(app.gql(Some(&access), ME_ID, json!({})).await.data()["me"].is_object());
    let r = app.gql(Some(&access), "mutation($t:String!){logout(refreshToken:$t)}", json!({"t": refresh})).await;
    assert_eq!(r.data()["logout"], true);
    let after = app.gql(Some(&access), ME_ID, json!({})).await;
    assert_eq!(after.code(), "UNAUTHENTICATED", "the logged-out access token is refused on the next request");
    assert_eq!(after.message(), "the session has ended; sign in again");
    assert!(app.gql(Some(&other_access), ME_ID, json!({})).await.data()["me"].is_object(), "the other session lives");
    assert!(app.gql(None, REFRESH, json!({"t": other_refresh})).await.data()["refreshToken"].is_object());
}

#[tokio::test]
async fn a_reused_refresh_token_stops_every_access_token_of_its_family() {
    let app = spawn_app().await;
    let (access1, r1) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (other_access, _) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let rotated = app.gql(None, REFRESH, json!({"t": r1})).await;
    let access2 = rotated.data()["refreshToken"]["accessToken"].as_str().unwrap().to_string();
    assert!(app.gql(Some(&access1), ME_ID, json!({})).await.data()["me"].is_object(), "rotation alone ends nothing");
    assert!(app.gql(Some(&access2), ME_ID, json!({})).await.data()["me"].is_object());

    // The rotated token again: taken as theft, the family is revoked with its access tokens.
    assert_eq!(app.gql(None, REFRESH, json!({"t": r1})).await.code(), "UNAUTHENTICATED");
    assert_eq!(app.gql(Some(&access1), ME_ID, json!({})).await.code(), "UNAUTHENTICATED");
    assert_eq!(app.gql(Some(&access2), ME_ID, json!({})).await.code(), "UNAUTHENTICATED");
    assert!(app.gql(Some(&other_access), ME_ID, json!({})).await.data()["me"].is_object(), "another sign-in lives");
}

#[tokio::test]
async fn change_password_refuses_the_same_a_common_or_a_blank_password_and_keeps_the_old_one() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (_, token) = app.user_with(&admin, &["HEAD"], json!({})).await;
    const CHANGE: &str = "mutation($o:String!,$n:String!){changePassword(oldPassword:$o,newPassword:$n)}";
    for (new, why) in [
        (PASSWORD.to_string(), "must differ from the current password"),
        ("password1234".to_string(), "is too easy to guess"),
        (" ".repeat(12), "must not be only spaces"),
        ("\0".repeat(12), "must not contain control characters"),
    ] {
        let r = app.gql(Some(&token), CHANGE, json!({"o": PASSWORD, "n": new})).await;
        assert_eq!(r.code(), "BAD_USER_INPUT", "{new:?}");
        assert_eq!(r.field_paths(), vec!["newPassword"], "{new:?}");
        let message = r.body["errors"][0]["extensions"]["fields"][0]["message"].as_str().unwrap().to_string();
        assert!(message.starts_with(why), "{new:?}: {message}");
    }
    assert!(app.gql(Some(&token), ME, json!({})).await.data()["me"].is_object(), "the session was not ended");
}

#[test]
fn a_weak_first_administrator_password_is_refused_at_start() {
    for weak in ["password1234", "123456789012", "admin@mcu.test-1", "            "] {
        let mut args = crate::helpers::test_args("sqlite://x.db".into());
        args.admin_password = Some(weak.into());
        let e = mcu::config::Settings::from_args(args).unwrap_err();
        assert_eq!(e.setting, "MCU_ADMIN_PASSWORD", "{weak:?}");
    }
    let mut args = crate::helpers::test_args("sqlite://x.db".into());
    args.admin_password = Some(ADMIN_PASSWORD.into());
    assert!(mcu::config::Settings::from_args(args).is_ok());
}
