//! Reference data in memory (issue 20, goal 2): names, trees and scopes come from the cache,
//! a change through the API is visible at once in the process that made it and, through the
//! outbox's `NOTIFY`, in another process on the same PostgreSQL database; a detail and a list
//! page cost one statement each beside the caller's account.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const DETAIL: &str = "query($id:ID!){ appeal(id:$id) { number status recipient { name } category { name parent { name } } territory { name parent { name } } } }";

/// An assigned appeal of a territory under a city, on a subcategory, with its ids:
/// (appeal, recipient, category, territory, city).
async fn assigned_appeal(app: &TestApp, admin: &str, curator: &str) -> (String, String, String, String, String) {
    let recipient = app.recipient(admin, "Отдел благоустройства").await;
    let city = app.territory(admin, "Сорск", None).await;
    let district = app.territory(admin, "Северный район", Some(&city)).await;
    let category = app.category(curator, "Отопление").await;
    let input = json!({"kind": "MESSAGE", "channel": "POS", "text": "Холодные батареи", "categoryId": category, "territoryId": district});
    let (id, ..) = app.appeal(curator, input).await;
    app.act(curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
    app.act(curator, "assignAppeal", "AssignAppealInput", json!({"id": id, "version": 2, "recipientId": recipient}))
        .await
        .data();
    (id, recipient, category, district, city)
}

fn names(detail: &Value) -> (String, String, String) {
    let a = &detail["appeal"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (s(&a["recipient"]["name"]), s(&a["category"]["name"]), s(&a["territory"]["name"]))
}

/// Renames the three through the API (each from version 1 to 2).
async fn rename_all(app: &TestApp, token: &str, recipient: &str, category: &str, territory: &str) {
    let r = app
        .gql(
            Some(token),
            "mutation($r:ID!,$c:ID!,$t:ID!){ r: updateRecipient(input:{id:$r, version:1, name:\"Отдел ЖКХ\"}) { name version } c: updateCategory(input:{id:$c, version:1, name:\"Теплоснабжение\"}) { name version } t: updateTerritory(input:{id:$t, version:1, name:\"Северный округ\"}) { name version } }",
            json!({"r": recipient, "c": category, "t": territory}),
        )
        .await;
    let d = r.data();
    assert_eq!(
        (d["r"]["version"].as_i64(), d["c"]["version"].as_i64(), d["t"]["version"].as_i64()),
        (Some(2), Some(2), Some(2))
    );
}

#[tokio::test]
async fn a_rename_through_the_api_is_shown_at_once_by_the_process_that_made_it() {
    let app = spawn_app().await;
    let s = app.staff().await;
    let (id, recipient, category, territory, _) = assigned_appeal(&app, &s.admin, &s.curator).await;
    let before = app.gql(Some(&s.curator), DETAIL, json!({"id": id})).await;
    assert_eq!(names(before.data()), ("Отдел благоустройства".into(), "Отопление".into(), "Северный район".into()));
    assert_eq!(before.data()["appeal"]["territory"]["parent"]["name"], "Сорск");
    assert_eq!(before.data()["appeal"]["category"]["parent"]["name"], "ЖКХ");

    rename_all(&app, &s.curator, &recipient, &category, &territory).await;
    let after = app.gql(Some(&s.curator), DETAIL, json!({"id": id})).await;
    assert_eq!(names(after.data()), ("Отдел ЖКХ".into(), "Теплоснабжение".into(), "Северный округ".into()));
    // The lists and the list page read the same data.
    let page = app
        .gql(Some(&s.curator), "{ appeals(first: 5) { edges { node { recipient { name } category { name } territory { name } } } } recipients { name } territories { name } }", json!({}))
        .await;
    let d = page.data();
    assert_eq!(d["appeals"]["edges"][0]["node"]["recipient"]["name"], "Отдел ЖКХ");
    assert_eq!(d["appeals"]["edges"][0]["node"]["territory"]["name"], "Северный округ");
    assert!(d["recipients"].as_array().unwrap().iter().any(|r| r["name"] == "Отдел ЖКХ"));
    assert!(!d["territories"].as_array().unwrap().iter().any(|t| t["name"] == "Северный район"));
    assert_eq!(app.audit_count("updateRecipient").await, 1);
}

/// On PostgreSQL another process hears of the change through the outbox's `NOTIFY` and reads
/// its reference data again; on SQLite one process serves the file.
#[tokio::test]
async fn a_rename_reaches_another_process_on_the_same_database() {
    if !std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        return;
    }
    let app = spawn_app().await;
    let s = app.staff().await;
    let (id, recipient, category, territory, _) = assigned_appeal(&app, &s.admin, &s.curator).await;
    let second = app.second_process().await;
    // The second process holds the names now.
    let first = second.gql(Some(&s.curator), DETAIL, json!({"id": id})).await;
    assert_eq!(names(first.data()).0, "Отдел благоустройства");
    rename_all(&app, &s.curator, &recipient, &category, &territory).await;
    // Announced through the outbox: the dispatcher (woken by the commit) notifies, the
    // second process's listener hears it. Polled, never timed: the bound only ends a hung test.
    let mut seen = names(first.data());
    for _ in 0..600 {
        seen = names(second.gql(Some(&s.curator), DETAIL, json!({"id": id})).await.data());
        // All three: each change is announced on its own, so the second process may read
        // the first one before the others have committed.
        if seen == ("Отдел ЖКХ".into(), "Теплоснабжение".into(), "Северный округ".into())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen, ("Отдел ЖКХ".into(), "Теплоснабжение".into(), "Северный округ".into()));
}

#[tokio::test]
async fn a_detail_costs_one_statement_and_a_page_one_more_for_its_total() {
    let app = spawn_app().await;
    let s = app.staff().await;
    let (id, _, category, _, city) = assigned_appeal(&app, &s.admin, &s.curator).await;
    // A curator limited to the city: its scope is the city's subtree, from memory.
    let (_, limited) = app.user_with(&s.admin, &["CURATOR"], json!({"territoryId": city})).await;
    let warm = app.gql(Some(&limited), DETAIL, json!({"id": id})).await;
    assert_eq!(names(warm.data()).2, "Северный район");

    let cost = |before: u64| app.sql_statements() - before;
    let before = app.sql_statements();
    let r = app.gql(Some(&limited), DETAIL, json!({"id": id})).await;
    assert_eq!(names(r.data()).0, "Отдел благоустройства");
    assert_eq!(cost(before), 1, "the appeal (the caller's person is kept: its session is known)");

    let page = "query($c:[ID!],$t:[ID!]){ appeals(first: 50, filter:{categoryId:$c, territoryId:$t}, orderBy:{field:DUE_AT, direction:ASC}) { edges { node { number status dueAt slaState recipient { name } category { name } territory { name } } } } }";
    let parent = app.category(&s.curator, "ЖКХ").await;
    let vars = json!({"c": [parent], "t": [city]});
    let before = app.sql_statements();
    let r = app.gql(Some(&limited), page, vars.clone()).await;
    assert_eq!(r.data()["appeals"]["edges"].as_array().unwrap().len(), 1, "the subcategory and the district match");
    assert_eq!(cost(before), 1, "the page");

    let counted = page.replace("} } } }", "} } } totalCount }");
    let before = app.sql_statements();
    let r = app.gql(Some(&limited), &counted, vars).await;
    assert_eq!(r.data()["appeals"]["totalCount"], 1);
    assert_eq!(cost(before), 2, "the page and its total");
    // The subcategory alone finds it too.
    let r = app.gql(Some(&limited), page, json!({"c": [category], "t": null})).await;
    assert_eq!(r.data()["appeals"]["edges"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn reference_data_is_changed_by_administrators_and_curators_only_and_checked() {
    let app = spawn_app().await;
    let s = app.staff().await;
    let territory = app.territory(&s.admin, "Сорск", None).await;
    const RENAME: &str =
        "mutation($i:UpdateTerritoryInput!){ updateTerritory(input:$i) { name code population version } }";
    for token in [&s.head, &s.coordinator, &s.executor] {
        let r = app.gql(Some(token), RENAME, json!({"i": {"id": territory, "version": 1, "name": "X"}})).await;
        assert_eq!(r.code(), "FORBIDDEN");
    }
    let r = app.gql(None, RENAME, json!({"i": {"id": territory, "version": 1, "name": "X"}})).await;
    assert_eq!(r.code(), "UNAUTHENTICATED");
    // Bad input: a code per field, nothing changed.
    let r = app
        .gql(
            Some(&s.admin),
            RENAME,
            json!({"i": {"id": territory, "version": 1, "name": " ", "population": -1, "latitude": 91}}),
        )
        .await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    let mut paths = r.field_paths();
    paths.sort();
    assert_eq!(paths, ["input.latitude", "input.longitude", "input.name", "input.population"]);
    let r = app.gql(Some(&s.admin), RENAME, json!({"i": {"id": "999999", "version": 1, "name": "Y"}})).await;
    assert_eq!(r.code(), "NOT_FOUND");
    let r = app.gql(Some(&s.admin), RENAME, json!({"i": {"id": "x", "version": 1}})).await;
    assert_eq!(r.field_paths(), ["input.id"]);
    let list = app.gql(Some(&s.admin), "{ territories { name version } }", json!({})).await;
    assert_eq!(list.data()["territories"], json!([{"name": "Сорск", "version": 1}]));

    let r = app
        .gql(
            Some(&s.curator),
            RENAME,
            json!({"i": {"id": territory, "version": 1, "name": "Сорский округ", "code": "sorsk"}}),
        )
        .await;
    assert_eq!(
        r.data()["updateTerritory"],
        json!({"name": "Сорский округ", "code": "sorsk", "population": 10000, "version": 2})
    );
    let r = app.gql(Some(&s.admin), RENAME, json!({"i": {"id": territory, "version": 1, "name": "Опоздавший"}})).await;
    assert_eq!(r.code(), "CONFLICT", "a stale version");
    let other = app.territory(&s.admin, "Другой", None).await;
    let r = app.gql(Some(&s.admin), RENAME, json!({"i": {"id": other, "version": 1, "code": "sorsk"}})).await;
    assert_eq!(r.code(), "CONFLICT", "a code taken");

    // Categories: a name taken at the same level, an unknown default recipient.
    let heating = app.category(&s.curator, "Отопление").await;
    const CATEGORY: &str =
        "mutation($i:UpdateCategoryInput!){ updateCategory(input:$i) { name defaultRecipient { name } } }";
    let r =
        app.gql(Some(&s.curator), CATEGORY, json!({"i": {"id": heating, "version": 1, "name": "Газоснабжение"}})).await;
    assert_eq!(r.code(), "CONFLICT");
    let r = app
        .gql(Some(&s.curator), CATEGORY, json!({"i": {"id": heating, "version": 1, "defaultRecipientId": "999999"}}))
        .await;
    assert_eq!(r.field_paths(), ["input.defaultRecipientId"]);
    let r = app
        .gql(Some(&s.admin), CATEGORY, json!({"i": {"id": heating, "version": 1, "defaultRecipientId": s.recipient}}))
        .await;
    assert_eq!(r.data()["updateCategory"]["defaultRecipient"]["name"], "Управление ЖКХ");
    assert_eq!(
        app.gql(Some(&s.head), CATEGORY, json!({"i": {"id": heating, "version": 2, "name": "Z"}})).await.code(),
        "FORBIDDEN"
    );

    // Recipients: deactivated, shown so in the list at once.
    const RECIPIENT: &str = "mutation($i:UpdateRecipientInput!){ updateRecipient(input:$i) { name active shortName } }";
    assert_eq!(
        app.gql(Some(&s.executor), RECIPIENT, json!({"i": {"id": s.recipient, "version": 1, "active": false}}))
            .await
            .code(),
        "FORBIDDEN"
    );
    let r = app
        .gql(
            Some(&s.curator),
            RECIPIENT,
            json!({"i": {"id": s.recipient, "version": 1, "active": false, "shortName": "УЖКХ"}}),
        )
        .await;
    assert_eq!(r.data()["updateRecipient"], json!({"name": "Управление ЖКХ", "active": false, "shortName": "УЖКХ"}));
    let list = app.gql(Some(&s.head), "{ recipients { name active } }", json!({})).await;
    assert!(
        list.data()["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "Управление ЖКХ" && r["active"] == false)
    );
}

/// Twelve concurrent edits of one recipient at the same version: exactly one wins, the others
/// are told the row changed (the version is checked under a row lock on PostgreSQL and under
/// the write lock on SQLite), and the version moves by one.
#[tokio::test]
async fn concurrent_edits_at_one_version_let_exactly_one_through() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let id = app.recipient(&admin, "Управление ЖКХ").await;
    let edit = "mutation($i:UpdateRecipientInput!){ updateRecipient(input:$i) { version } }";
    let attempts = (0..12).map(|n| {
        let (app, admin, id) = (&app, admin.clone(), id.clone());
        async move {
            app.gql(Some(&admin), edit, json!({"i": {"id": id, "version": 1, "name": format!("Отдел {n}")}})).await
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let won = results.iter().filter(|r| r.body["errors"].is_null()).count();
    let lost = results.iter().filter(|r| !r.body["errors"].is_null() && r.code() == "CONFLICT").count();
    assert_eq!((won, lost), (1, 11), "{results:?}");
    let now = app.gql(Some(&admin), "{ recipients { id version } }", json!({})).await;
    let row = now.data()["recipients"].as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).unwrap().clone();
    assert_eq!(row["version"], 2);
    assert_eq!(app.audit_count("updateRecipient").await, 1);
}
