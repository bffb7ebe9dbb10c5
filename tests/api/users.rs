//! User management by the administrator, validation, conflicts and the audit trail.

use serde_json::{Value, json};

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

const SET_ROLES: &str =
    "mutation($id:ID!,$v:Int!,$r:[Role!]){updateUser(input:{id:$id,version:$v,roles:$r}){roles version}}";
const MY_ACCOUNT: &str = "{ me { id roles channels version } }";
const ROLE_CHANGES: &str = "{ auditLog(first: 100) { edges { node { action actor target data } } } }";

/// The `changeRoles` audit entries of a user, oldest first, as (actor, before, after).
async fn role_changes(app: &crate::helpers::TestApp, admin: &str, user_id: &str) -> Vec<(String, Value, Value)> {
    let log = app.gql(Some(admin), ROLE_CHANGES, json!({})).await;
    let mut found: Vec<_> = log.data()["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["action"] == "changeRoles" && n["target"] == format!("user:{user_id}"))
        .map(|n| {
            let data: Value = serde_json::from_str(n["data"].as_str().unwrap()).unwrap();
            (n["actor"].as_str().unwrap().to_string(), data["before"].clone(), data["after"].clone())
        })
        .collect();
    found.reverse();
    found
}

#[tokio::test]
async fn an_administrator_cannot_change_its_own_access_another_can_and_every_role_change_is_audited() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let me = app.gql(Some(&admin), MY_ACCOUNT, json!({})).await.data()["me"].clone();
    let my_id = me["id"].as_str().unwrap().to_string();
    let version = me["version"].as_i64().unwrap();

    let grant = app.gql(Some(&admin), SET_ROLES, json!({"id": my_id, "v": version, "r": ["ADMIN", "CURATOR"]})).await;
    assert_eq!(grant.code(), "FORBIDDEN", "an administrator cannot grant itself CURATOR");
    let channels = app
        .gql(
            Some(&admin),
            "mutation($id:ID!,$v:Int!){updateUser(input:{id:$id,version:$v,channels:[POS]}){version}}",
            json!({"id": my_id, "v": version}),
        )
        .await;
    assert_eq!(channels.code(), "FORBIDDEN", "nor change what its roles are bound to");
    assert_eq!(app.gql(Some(&admin), MY_ACCOUNT, json!({})).await.data()["me"], me, "nothing changed");

    // Its own name it may change, and the same roles again are no change.
    let renamed = app
        .gql(
            Some(&admin),
            "mutation($id:ID!,$v:Int!){updateUser(input:{id:$id,version:$v,fullName:\"Главный\",roles:[ADMIN]}){version}}",
            json!({"id": my_id, "v": version}),
        )
        .await;
    assert_eq!(renamed.data()["updateUser"]["version"], version + 1);

    // Another administrator can, and the change is in the audit log with its author.
    let (other_id, other) = app.user_with(&admin, &["ADMIN"], json!({})).await;
    let granted = app
        .gql(Some(&other), SET_ROLES, json!({"id": my_id, "v": version + 1, "r": ["CURATOR", "ADMIN", "CURATOR"]}))
        .await;
    assert_eq!(granted.data()["updateUser"]["roles"], json!(["ADMIN", "CURATOR"]));
    let changes = role_changes(&app, &admin, &my_id).await;
    assert_eq!(changes.len(), 2, "the first administrator's creation and the grant: {changes:?}");
    assert_eq!((changes[0].1.clone(), changes[0].2.clone()), (json!([]), json!(["ADMIN"])));
    assert!(changes[1].0.starts_with(&format!("user:{other_id} ")), "{changes:?}");
    assert_eq!((changes[1].1.clone(), changes[1].2.clone()), (json!(["ADMIN"]), json!(["ADMIN", "CURATOR"])));

    // A user created with roles is audited as a change from none; a rename is not a role change.
    assert_eq!(role_changes(&app, &admin, &other_id).await.len(), 1);
    let withdrawn = app.gql(Some(&admin), SET_ROLES, json!({"id": other_id, "v": 1, "r": ["HEAD"]})).await;
    assert_eq!(withdrawn.data()["updateUser"]["roles"], json!(["HEAD"]));
    let changes = role_changes(&app, &admin, &other_id).await;
    assert_eq!((changes[1].1.clone(), changes[1].2.clone()), (json!(["ADMIN"]), json!(["HEAD"])));
    assert_eq!(role_changes(&app, &admin, &my_id).await.len(), 2);
}

#[tokio::test]
async fn weak_and_context_specific_passwords_are_refused_and_nothing_is_created() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let cases = [
        (" ".repeat(12), "must not be only spaces"),
        ("\0".repeat(12), "must not contain control characters"),
        ("123456789012".to_string(), "is too easy to guess"),
        ("password1234".to_string(), "is too easy to guess"),
        ("Olga.Smirnova-1987".to_string(), "must not contain your e-mail address or name"),
        ("смирнова навсегда".to_string(), "must not contain your e-mail address or name"),
        ("my-mcu-account-key".to_string(), "must not contain the service's name"),
    ];
    for (password, why) in cases {
        let input = json!({"email": "olga.smirnova@city.ru", "fullName": "Ольга Смирнова", "password": password, "roles": ["HEAD"]});
        let r = app.gql(Some(&admin), CREATE, json!({"i": input})).await;
        assert_eq!(r.code(), "BAD_USER_INPUT", "{password:?}");
        assert_eq!(r.field_paths(), vec!["input.password"], "{password:?}");
        let message = r.body["errors"][0]["extensions"]["fields"][0]["message"].as_str().unwrap().to_string();
        assert!(message.starts_with(why), "{password:?}: {message}");
    }
    let count = app.gql(Some(&admin), "{ users { totalCount } }", json!({})).await;
    assert_eq!(count.data()["users"]["totalCount"], 1, "nothing was created");
    let ok = json!({"email": "olga.smirnova@city.ru", "fullName": "Ольга Смирнова", "password": PASSWORD, "roles": ["HEAD"]});
    assert!(app.gql(Some(&admin), CREATE, json!({"i": ok})).await.data()["createUser"].is_object());
}
