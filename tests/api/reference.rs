//! Reference data and the working calendar.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_fresh_database_has_an_editable_two_level_rubricator() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let r = app.gql(Some(&admin), "{ categories { id name parent { name } children { name } } }", json!({})).await;
    let cats = r.data()["categories"].as_array().unwrap().clone();
    let housing = cats.iter().find(|c| c["name"] == "ЖКХ").expect("ЖКХ is seeded");
    assert!(housing["children"].as_array().unwrap().iter().any(|c| c["name"] == "Отопление"));
    let heating = cats.iter().find(|c| c["name"] == "Отопление").unwrap();
    assert_eq!(heating["parent"]["name"], "ЖКХ");

    let dept = app.recipient(&admin, "Управление ЖКХ").await;
    const CREATE: &str =
        "mutation($i:CategoryInput!){createCategory(input:$i){id name parent{name} defaultRecipient{name}}}";
    let r = app
        .gql(
            Some(&admin),
            CREATE,
            json!({"i": {"name": "Лифты", "parentId": housing["id"], "defaultRecipientId": dept}}),
        )
        .await;
    assert_eq!(r.data()["createCategory"]["defaultRecipient"]["name"], "Управление ЖКХ");
    let r = app.gql(Some(&admin), CREATE, json!({"i": {"name": "Третий уровень", "parentId": heating["id"]}})).await;
    assert_eq!(r.field_paths(), vec!["input.parentId"]);
    let r = app.gql(Some(&admin), CREATE, json!({"i": {"name": "Лифты", "parentId": housing["id"]}})).await;
    assert_eq!(r.code(), "CONFLICT");

    let (_, head) = app.user_with(&admin, &["HEAD"], json!({})).await;
    assert_eq!(app.gql(Some(&head), CREATE, json!({"i": {"name": "X"}})).await.code(), "FORBIDDEN");
    let r = app.gql(Some(&admin), "mutation{createTerritory(input:{name:\" \",latitude:100}){id}}", json!({})).await;
    let mut paths = r.field_paths();
    paths.sort();
    assert_eq!(paths, ["input.latitude", "input.longitude", "input.name"]);
}

#[tokio::test]
async fn administrator_overrides_move_deadlines() {
    let app = spawn_app().await;
    app.set_now("2026-11-27T10:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    // Friday 27 November + 3 days = Monday 30 November.
    let (_, _, due) = app.appeal(&curator, json!({"kind": "APPEAL", "channel": "POST", "text": "Письмо"})).await;
    assert_eq!(due, "2026-11-30T16:59:59+00:00");
    const SET: &str =
        "mutation($d:Date!,$w:Boolean!){setCalendarDay(date:$d,working:$w,note:\"местный праздник\"){date working}}";
    assert_eq!(app.gql(Some(&curator), SET, json!({"d": "2026-11-30", "w": false})).await.code(), "FORBIDDEN");
    let r = app.gql(Some(&admin), SET, json!({"d": "2026-11-30", "w": false})).await;
    assert_eq!(r.data()["setCalendarDay"]["working"], false);
    let (_, _, due) = app.appeal(&curator, json!({"kind": "APPEAL", "channel": "POST", "text": "Письмо"})).await;
    assert_eq!(due, "2026-12-01T16:59:59+00:00");
    let list = app
        .gql(Some(&curator), "{ calendarOverrides { date working note } lastOfficialCalendarYear }", json!({}))
        .await;
    assert_eq!(list.data()["calendarOverrides"][0]["date"], "2026-11-30");
    assert!(list.data()["lastOfficialCalendarYear"].as_i64().unwrap() >= 2027);
    let r = app.gql(Some(&admin), "mutation{removeCalendarDay(date:\"2026-11-30\")}", json!({})).await;
    assert_eq!(r.data()["removeCalendarDay"], true);
    let (_, _, due) = app.appeal(&curator, json!({"kind": "APPEAL", "channel": "POST", "text": "Письмо"})).await;
    assert_eq!(due, "2026-11-30T16:59:59+00:00");
}
