//! The demo data generator produces a consistent, usable database.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn seed_demo_fills_a_year_of_consistent_appeals_and_can_run_twice() {
    let app = spawn_app().await;
    let report = mcu::service::seed::seed_demo(&app.state, 600, 7).await.unwrap();
    assert_eq!(report.appeals, 600);
    assert_eq!(report.users_created.len(), 5);
    let again = mcu::service::seed::seed_demo(&app.state, 50, 8).await.unwrap();
    assert!(again.users_created.is_empty(), "staff is created once");
    // The load ends with fresh statistics and, on PostgreSQL, a visibility map (VACUUM): the
    // index-only scans of analytics need not read the new rows from the table.
    {
        use sea_orm::ConnectionTrait;
        let db = &app.state.db;
        if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            let q = "SELECT relallvisible::bigint AS v, reltuples::bigint AS t FROM pg_class WHERE relname = 'appeals'";
            let row =
                db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), q)).await.unwrap().unwrap();
            let (visible, tuples): (i64, i64) = (row.try_get("", "v").unwrap(), row.try_get("", "t").unwrap());
            assert!(visible > 0 && tuples >= 650, "all-visible pages {visible}, rows {tuples}");
        }
    }

    let (curator, _) = app.login("curator@demo.mcu", mcu::service::seed::DEMO_PASSWORD).await;
    let all = app.gql(Some(&curator), "{ appeals { totalCount } }", json!({})).await;
    assert_eq!(all.data()["appeals"]["totalCount"], 650);
    for (state, at_least) in [("MET", 100), ("MISSED", 5), ("OVERDUE", 1)] {
        let r = app
            .gql(
                Some(&curator),
                "query($s:[SlaState!]){ appeals(filter:{slaState:$s}) { totalCount } }",
                json!({"s": [state]}),
            )
            .await;
        assert!(r.data()["appeals"]["totalCount"].as_i64().unwrap() >= at_least, "{state}: {}", r.body);
    }
    let r = app.gql(Some(&curator), "{ appeals(first: 100, orderBy:{field: NUMBER, direction: ASC}) { edges { node { number category { name } territory { name } events { action } } } } }", json!({})).await;
    let edges = r.data()["appeals"]["edges"].as_array().unwrap();
    assert!(
        edges
            .iter()
            .all(|e| e["node"]["category"]["name"].is_string() && e["node"]["events"][0]["action"] == "seedDemo")
    );
    let mut numbers: Vec<&str> = edges.iter().map(|e| e["node"]["number"].as_str().unwrap()).collect();
    numbers.dedup();
    assert_eq!(numbers.len(), 100, "numbers are unique");
    // The executor of the housing department sees only its own appeals.
    let (executor, _) = app.login("zhkh@demo.mcu", mcu::service::seed::DEMO_PASSWORD).await;
    let mine = app
        .gql(Some(&executor), "{ appeals(first: 100) { totalCount edges { node { recipient { name } } } } }", json!({}))
        .await;
    assert!(
        mine.data()["appeals"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["node"]["recipient"]["name"] == "Управление ЖКХ")
    );
    app.assert_rollups_agree().await;
}

/// Demo users (or any users) do not stop the start from creating the administrator of
/// MCU_ADMIN_*: it is created whenever no active ADMIN exists, once, and an account that
/// already has the configured e-mail is never changed.
#[tokio::test]
async fn the_configured_administrator_is_created_whenever_no_active_one_exists() {
    use mcu::service::users::{AdminOutcome, ensure_admin};
    use sea_orm::ConnectionTrait;

    let app = spawn_app().await;
    let settings = |email: &str, password: &str| {
        let mut s = (*app.state.settings).clone();
        s.admin_email = Some(email.into());
        s.admin_password = Some(secrecy::SecretString::from(password.to_string()));
        s
    };
    // The administrator of the first start exists: nothing is created, whatever is configured.
    let state = mcu::init_state(settings("boss@mcu.test", "amber-violin-harbor-31")).await.unwrap();
    assert_eq!(
        ensure_admin(&state).await.unwrap(),
        AdminOutcome::ActiveAdminExists { emails: vec![crate::helpers::ADMIN_EMAIL.into()] }
    );
    mcu::service::seed::seed_demo(&app.state, 20, 5).await.unwrap();
    app.state.db.execute_unprepared("UPDATE users SET active = false WHERE email = 'admin@mcu.test'").await.unwrap();

    // Only demo users are active now (none an administrator): the server creates the
    // configured one at start, and it can sign in.
    let server = mcu::build(settings("boss@mcu.test", "amber-violin-harbor-31")).await.unwrap();
    let base = format!("http://127.0.0.1:{}", server.port());
    tokio::spawn(server.run_until_stopped());
    let r = app
        .client
        .post(format!("{base}/graphql"))
        .json(&json!({"query": "mutation{login(email:\"boss@mcu.test\",password:\"amber-violin-harbor-31\"){user{roles}}}"}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(r["data"]["login"]["user"]["roles"], json!(["ADMIN"]), "{r}");
    // Once: the next start finds it.
    assert_eq!(
        ensure_admin(&state).await.unwrap(),
        AdminOutcome::ActiveAdminExists { emails: vec!["boss@mcu.test".into()] }
    );

    // No active administrator, and the configured e-mail is a demo curator's: it keeps its
    // role and password, and no administrator appears.
    app.state.db.execute_unprepared("UPDATE users SET active = false WHERE email = 'boss@mcu.test'").await.unwrap();
    let state = mcu::init_state(settings("Curator@Demo.mcu", "amber-violin-harbor-31")).await.unwrap();
    assert_eq!(
        ensure_admin(&state).await.unwrap(),
        AdminOutcome::EmailTaken { email: "curator@demo.mcu".into(), active: true, roles: "CURATOR".into() }
    );
    // A deactivated administrator's e-mail is not reactivated either.
    let state = mcu::init_state(settings("admin@mcu.test", "amber-violin-harbor-31")).await.unwrap();
    assert_eq!(
        ensure_admin(&state).await.unwrap(),
        AdminOutcome::EmailTaken { email: "admin@mcu.test".into(), active: false, roles: "ADMIN".into() }
    );
    let (curator, _) = app.login("curator@demo.mcu", mcu::service::seed::DEMO_PASSWORD).await;
    let me = app.gql(Some(&curator), "{ me { roles active } }", json!({})).await;
    assert_eq!(me.data()["me"], json!({"roles": ["CURATOR"], "active": true}));
    let admins = app
        .state
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.state.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM users WHERE roles LIKE '%ADMIN%' AND active = true",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(admins, 0);
}
