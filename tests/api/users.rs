//! User management by the administrator, validation, conflicts and the audit trail.

use serde_json::json;

use crate::helpers::{PASSWORD, spawn_app};

const CREATE: &str =
    "mutation($i:CreateUserInput!){createUser(input:$i){id email roles channels recipient{name} version}}";

#[tokio::test]
async fn admin_creates_a_user_of_each_role() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for role in ["ADMIN", "CURATOR", "COORDINATOR", "EXECUTOR", "HEAD"] {
        let (_, token) = app.user_with(&admin, &[role], json!({})).await;
        let me = app.gql(Some(&token), "{ me { roles channels recipient { name } } }", json!({})).await;
        assert_eq!(me.data()["me"]["roles"], json!([role]));
        if role == "EXECUTOR" {
            assert!(me.data()["me"]["recipient"]["name"].is_string());
        }
        if role == "COORDINATOR" {
            assert_eq!(me.data()["me"]["channels"], json!(["POS"]));
        }
    }
    let (_, combined) = app.user_with(&admin, &["COORDINATOR", "CURATOR"], json!({})).await;
    let me = app.gql(Some(&combined), "{ me { roles } }", json!({})).await;
    assert_eq!(me.data()["me"]["roles"].as_array().unwrap().len(), 2);
    let list = app
        .gql(
            Some(&admin),
            "{ users(first: 3) { totalCount edges { cursor } pageInfo { hasNextPage endCursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(list.data()["users"]["totalCount"], 7);
    assert_eq!(list.data()["users"]["pageInfo"]["hasNextPage"], true);
    let cursor = list.data()["users"]["pageInfo"]["endCursor"].clone();
    let rest = app
        .gql(
            Some(&admin),
            "query($c:String){ users(first: 10, after: $c) { edges { node { id } } pageInfo { hasNextPage } } }",
            json!({"c": cursor}),
        )
        .await;
    assert_eq!(rest.data()["users"]["edges"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn invalid_users_are_refused_with_every_field_named_and_nothing_written() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let r = app
        .gql(
            Some(&admin),
            CREATE,
            json!({"i": {"email": "not-an-email", "fullName": " ", "password": "short", "roles": ["EXECUTOR", "COORDINATOR"]}}),
        )
        .await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    let mut paths = r.field_paths();
    paths.sort();
    assert_eq!(paths, vec!["input.channels", "input.email", "input.fullName", "input.password", "input.recipientId"]);
    let r = app
        .gql(
            Some(&admin),
            CREATE,
            json!({"i": {"email": "a@b.ru", "fullName": "A", "password": PASSWORD, "roles": []}}),
        )
        .await;
    assert_eq!(r.field_paths(), vec!["input.roles"]);
    let r = app
        .gql(Some(&admin), CREATE, json!({"i": {"email": "a@b.ru", "fullName": "A", "password": PASSWORD, "roles": ["HEAD"], "territoryId": "999"}}))
        .await;
    assert_eq!(r.field_paths(), vec!["input.territoryId"]);
    let count = app.gql(Some(&admin), "{ users { totalCount } }", json!({})).await;
    assert_eq!(count.data()["users"]["totalCount"], 1);
    assert_eq!(app.audit_count("createUser").await, 1, "only the first administrator");
}

#[tokio::test]
async fn a_taken_email_conflicts() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let input = json!({"i": {"email": "Same@MCU.test", "fullName": "A", "password": PASSWORD, "roles": ["HEAD"]}});
    app.gql(Some(&admin), CREATE, input.clone()).await.data();
    let again = app
        .gql(
            Some(&admin),
            CREATE,
            json!({"i": {"email": "same@mcu.test ", "fullName": "B", "password": PASSWORD, "roles": ["HEAD"]}}),
        )
        .await;
    assert_eq!(again.code(), "CONFLICT");
}

#[tokio::test]
async fn a_stale_version_conflicts_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (id, _) = app.user_with(&admin, &["HEAD"], json!({})).await;
    const UPDATE: &str =
        "mutation($id:ID!,$v:Int!,$n:String){updateUser(input:{id:$id,version:$v,fullName:$n}){fullName version}}";
    let ok = app.gql(Some(&admin), UPDATE, json!({"id": id, "v": 1, "n": "Первый"})).await;
    assert_eq!(ok.data()["updateUser"]["version"], 2);
    let stale = app.gql(Some(&admin), UPDATE, json!({"id": id, "v": 1, "n": "Второй"})).await;
    assert_eq!(stale.code(), "CONFLICT");
    let missing = app.gql(Some(&admin), UPDATE, json!({"id": "424242", "v": 1, "n": "X"})).await;
    assert_eq!(missing.code(), "NOT_FOUND");
    let users = app.gql(Some(&admin), "{ users { edges { node { id fullName } } } }", json!({})).await;
    let names: Vec<_> =
        users.data()["users"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["fullName"].clone()).collect();
    assert!(names.contains(&json!("Первый")));
}

#[tokio::test]
async fn concurrent_updates_of_one_version_let_exactly_one_win() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (id, _) = app.user_with(&admin, &["HEAD"], json!({})).await;
    const UPDATE: &str = "mutation($id:ID!,$n:String){updateUser(input:{id:$id,version:1,fullName:$n}){version}}";
    let futures: Vec<_> =
        (0..8).map(|i| app.gql(Some(&admin), UPDATE, json!({"id": id, "n": format!("N{i}")}))).collect();
    let results = futures_util::future::join_all(futures).await;
    let wins = results.iter().filter(|r| r.body["errors"].is_null()).count();
    let conflicts = results.iter().filter(|r| !r.body["errors"].is_null() && r.code() == "CONFLICT").count();
    assert_eq!((wins, conflicts), (1, 7));
    assert_eq!(app.audit_count("updateUser").await, 1);
}

#[tokio::test]
async fn only_admins_manage_users_and_only_admins_and_curators_read_the_audit_log() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let input = json!({"i": {"email": "x@mcu.test", "fullName": "X", "password": PASSWORD, "roles": ["HEAD"]}});
    for role in ["CURATOR", "COORDINATOR", "EXECUTOR", "HEAD"] {
        let (_, token) = app.user_with(&admin, &[role], json!({})).await;
        assert_eq!(app.gql(Some(&token), CREATE, input.clone()).await.code(), "FORBIDDEN", "{role}");
        assert_eq!(app.gql(Some(&token), "{ users { totalCount } }", json!({})).await.code(), "FORBIDDEN", "{role}");
        let audit =
            app.gql(Some(&token), "{ auditLog { totalCount edges { node { action actor } } } }", json!({})).await;
        if role == "CURATOR" {
            assert!(audit.data()["auditLog"]["totalCount"].as_i64().unwrap() > 0);
        } else {
            assert_eq!(audit.code(), "FORBIDDEN", "{role}");
        }
    }
    let audit =
        app.gql(Some(&admin), "{ auditLog(first: 100) { edges { node { action actor ip } } } }", json!({})).await;
    let entry = audit.data()["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["action"] == "createUser" && e["node"]["actor"].as_str().unwrap().starts_with("user:1"))
        .cloned()
        .expect("createUser audited with its actor");
    assert_eq!(entry["node"]["ip"], "127.0.0.1");
}
