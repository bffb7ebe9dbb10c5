//! Reference data that lives (issue 18, item 12): deactivation refuses new assignments and
//! classification everywhere (API, ingestion) and leaves history alone; a merge moves the
//! appeals and everything that follows a recipient, category or territory, keeps the old
//! name in the appeals' history, and keeps the rollups equal to the raw data.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const MERGE_RECIPIENTS: &str = "mutation($i:MergeInput!){ mergeRecipients(input:$i) { from { id name active mergedIntoId } into { id name active } appealsMoved othersMoved } }";
const RATING: &str = "query($p:PeriodInput!){ analytics { recipientRating(period:$p) { recipient { id } total } } }";
const INGEST: &str = "mutation($i:[IngestAppealInput!]!){ingestAppeals(input:$i){created updated unchanged rejected{row field message}}}";

/// Creates a MESSAGE in POS (received now) and returns its id.
async fn message(app: &TestApp, token: &str, extra: Value) -> String {
    let mut i = json!({"kind": "MESSAGE", "channel": "POS", "text": "Не вывозят мусор"});
    if let (Some(obj), Some(extra)) = (i.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            obj.insert(k.clone(), v.clone());
        }
    }
    app.appeal(token, i).await.0
}

/// Registers and assigns an appeal (versions 1 → 3).
async fn assign(app: &TestApp, token: &str, id: &str, recipient: &str) {
    app.act(token, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
    app.act(token, "assignAppeal", "AssignAppealInput", json!({"id": id, "version": 2, "recipientId": recipient}))
        .await
        .data();
}

/// Rating rows as (recipient id, total).
async fn rating(app: &TestApp, token: &str) -> Vec<(String, i64)> {
    let r = app.gql(Some(token), RATING, json!({"p": {"from": "2026-12-01", "to": "2026-12-31"}})).await;
    let mut rows: Vec<(String, i64)> = r.data()["analytics"]["recipientRating"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["recipient"]["id"].as_str().unwrap().to_string(), row["total"].as_i64().unwrap()))
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn merging_recipients_moves_appeals_users_and_rollups_and_keeps_the_old_name_in_history() {
    let app = spawn_app().await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    let old = s.recipient.clone(); // «Управление ЖКХ», whose executor is `s.executor`.
    let new = app.recipient(&s.admin, "Департамент городского хозяйства").await;
    // A child department of the old one, and a category routed to it by default.
    let r = app
        .gql(
            Some(&s.admin),
            "mutation($p:ID!){createRecipient(input:{name:\"Отдел лифтов\",parentId:$p}){id}}",
            json!({"p": old}),
        )
        .await;
    let child = r.data()["createRecipient"]["id"].as_str().unwrap().to_string();
    let r = app
        .gql(
            Some(&s.admin),
            "mutation($r:ID!){createCategory(input:{name:\"Лифты\",defaultRecipientId:$r}){id}}",
            json!({"r": old}),
        )
        .await;
    let lifts = r.data()["createCategory"]["id"].as_str().unwrap().to_string();

    // Two appeals to the old department, one to the new one.
    let a1 = message(&app, &s.curator, json!({})).await;
    let a2 = message(&app, &s.curator, json!({})).await;
    let b1 = message(&app, &s.curator, json!({})).await;
    assign(&app, &s.curator, &a1, &old).await;
    assign(&app, &s.curator, &a2, &old).await;
    assign(&app, &s.curator, &b1, &new).await;
    let mut before = vec![(old.clone(), 2), (new.clone(), 1)];
    before.sort();
    let rated: Vec<(String, i64)> =
        rating(&app, &s.curator).await.into_iter().filter(|(id, _)| *id == old || *id == new).collect();
    assert_eq!(rated, before);
    let count = |token: String| {
        let app = &app;
        async move {
            app.gql(Some(&token), "{ appeals { totalCount } }", json!({})).await.data()["appeals"]["totalCount"].clone()
        }
    };
    assert_eq!(count(s.executor.clone()).await, 2, "the old department's executor sees its two");

    // Only administrators and curators merge.
    for token in [&s.coordinator, &s.executor, &s.head] {
        let r = app.gql(Some(token), MERGE_RECIPIENTS, json!({"i": {"fromId": old, "intoId": new}})).await;
        assert_eq!(r.code(), "FORBIDDEN");
    }
    // Bad merges are refused with the field, and nothing moves.
    let r = app.gql(Some(&s.curator), MERGE_RECIPIENTS, json!({"i": {"fromId": old, "intoId": old}})).await;
    assert_eq!((r.code(), r.field_paths()), ("BAD_USER_INPUT".to_string(), vec!["input.intoId".to_string()]));
    let r = app.gql(Some(&s.curator), MERGE_RECIPIENTS, json!({"i": {"fromId": "999999", "intoId": new}})).await;
    assert_eq!(r.field_paths(), vec!["input.fromId"]);
    let r = app.gql(Some(&s.curator), MERGE_RECIPIENTS, json!({"i": {"fromId": old, "intoId": child}})).await;
    assert_eq!(r.field_paths(), vec!["input.intoId"], "not into its own child department");

    let r = app.gql(Some(&s.curator), MERGE_RECIPIENTS, json!({"i": {"fromId": old, "intoId": new}})).await;
    let m = &r.data()["mergeRecipients"];
    assert_eq!(m["appealsMoved"], 2);
    // The executor, the child department and the category's default recipient followed.
    assert_eq!(m["othersMoved"], 3);
    assert_eq!(m["from"]["name"], "Управление ЖКХ", "the merged row keeps its name");
    assert_eq!(m["from"]["active"], false);
    assert_eq!(m["from"]["mergedIntoId"], new.as_str());
    assert_eq!(m["into"]["active"], true);

    // Analytics per recipient moved with the appeals (2 + 1 now under the new one), and the
    // rollups still equal the raw data (what `mcu rollup verify` checks).
    let rated: Vec<(String, i64)> =
        rating(&app, &s.curator).await.into_iter().filter(|(id, _)| *id == old || *id == new).collect();
    assert_eq!(rated, vec![(new.clone(), 3)]);
    app.assert_rollups_agree().await;

    // The executor now works for the new department and sees all three.
    assert_eq!(count(s.executor.clone()).await, 3);
    let r = app
        .gql(
            Some(&s.curator),
            "query($c:ID!){ recipients { id parent { id } } categories { id defaultRecipient { id } } appeal(id:$c) { version recipient { id } events { action fromStatus toStatus data } } }",
            json!({"c": a1}),
        )
        .await;
    let d = r.data();
    let kid = d["recipients"].as_array().unwrap().iter().find(|x| x["id"] == child.as_str()).unwrap();
    assert_eq!(kid["parent"]["id"], new.as_str());
    let cat = d["categories"].as_array().unwrap().iter().find(|x| x["id"] == lifts.as_str()).unwrap();
    assert_eq!(cat["defaultRecipient"]["id"], new.as_str());
    // The appeal's history keeps both names as they were, and the merge counts as a write.
    assert_eq!(d["appeal"]["recipient"]["id"], new.as_str());
    assert_eq!(d["appeal"]["version"], 4);
    let last = d["appeal"]["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "mergeRecipients");
    assert_eq!((last["fromStatus"].as_str(), last["toStatus"].as_str()), (Some("ASSIGNED"), Some("ASSIGNED")));
    assert_eq!(last["data"]["from"]["name"], "Управление ЖКХ");
    assert_eq!(last["data"]["into"]["name"], "Департамент городского хозяйства");
    // One audit entry for the merge, one per moved appeal.
    assert_eq!(app.audit_count("mergeRecipients").await, 3);

    // No new assignment to the merged one, and it cannot be merged again or reactivated.
    let r = app
        .act(&s.curator, "assignAppeal", "AssignAppealInput", json!({"id": b1, "version": 3, "recipientId": old}))
        .await;
    assert_eq!(r.field_paths(), vec!["input.recipientId"]);
    let r = app.gql(Some(&s.admin), MERGE_RECIPIENTS, json!({"i": {"fromId": old, "intoId": child}})).await;
    assert_eq!(r.field_paths(), vec!["input.fromId"]);
    let r = app
        .gql(
            Some(&s.admin),
            "mutation($i:UpdateRecipientInput!){updateRecipient(input:$i){id}}",
            json!({"i": {"id": old, "version": 2, "active": true}}),
        )
        .await;
    assert_eq!(r.field_paths(), vec!["input.active"]);
}

#[tokio::test]
async fn deactivated_categories_and_territories_take_nothing_new_but_keep_their_history() {
    let app = spawn_app().await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    let city = app.territory(&s.admin, "Сорск", None).await;
    let north = app.territory(&s.admin, "Северный", Some(&city)).await;
    let roads = app.category(&s.admin, "Ямы и ремонт дорог").await;
    let a = message(&app, &s.curator, json!({"categoryId": roads, "territoryId": north})).await;

    const CAT: &str = "mutation($i:UpdateCategoryInput!){updateCategory(input:$i){id active version}}";
    const TER: &str = "mutation($i:UpdateTerritoryInput!){updateTerritory(input:$i){id active version}}";
    for token in [&s.coordinator, &s.executor, &s.head] {
        let r = app.gql(Some(token), CAT, json!({"i": {"id": roads, "version": 1, "active": false}})).await;
        assert_eq!(r.code(), "FORBIDDEN");
    }
    let r = app.gql(Some(&s.curator), CAT, json!({"i": {"id": roads, "version": 1, "active": false}})).await;
    assert_eq!(r.data()["updateCategory"]["active"], false);
    let r = app.gql(Some(&s.admin), TER, json!({"i": {"id": north, "version": 1, "active": false}})).await;
    assert_eq!(r.data()["updateTerritory"]["active"], false);
    assert_eq!(app.audit_count("updateCategory").await, 1);

    // New appeals and reclassification refuse them, naming the fields.
    let r = app
        .gql(
            Some(&s.curator),
            "mutation($i:CreateAppealInput!){createAppeal(input:$i){id}}",
            json!({"i": {"kind": "MESSAGE", "channel": "POS", "text": "Яма", "categoryId": roads, "territoryId": north}}),
        )
        .await;
    let mut paths = r.field_paths();
    paths.sort();
    assert_eq!(paths, ["input.categoryId", "input.territoryId"]);
    // The old appeal keeps both (history unchanged).
    let r = app
        .gql(
            Some(&s.curator),
            "query($id:ID!){appeal(id:$id){category{id active} territory{id active}}}",
            json!({"id": a}),
        )
        .await;
    assert_eq!(r.data()["appeal"]["category"]["id"], roads.as_str());
    assert_eq!(r.data()["appeal"]["category"]["active"], false);
    assert_eq!(r.data()["appeal"]["territory"]["id"], north.as_str());
    // A user cannot be placed in a deactivated territory.
    let r = app
        .gql(
            Some(&s.admin),
            "mutation($i:CreateUserInput!){createUser(input:$i){id}}",
            json!({"i": {"email": "t@mcu.test", "fullName": "T", "password": "correct horse battery", "roles": ["CURATOR"], "territoryId": north}}),
        )
        .await;
    assert_eq!(r.field_paths(), vec!["input.territoryId"]);

    // Ingestion refuses the rows that name them; a merged territory's name finds its successor.
    let south = app.territory(&s.admin, "Южный", Some(&city)).await;
    let old_south = app.territory(&s.admin, "Заречный", Some(&city)).await;
    let r = app
        .gql(
            Some(&s.admin),
            "mutation($i:MergeInput!){ mergeTerritories(input:$i) { appealsMoved into { id } } }",
            json!({"i": {"fromId": old_south, "intoId": south}}),
        )
        .await;
    assert_eq!(r.data()["mergeTerritories"]["appealsMoved"], 0);
    let item = |id: &str, extra: Value| {
        let mut i = json!({"channel": "POS", "externalId": id, "kind": "MESSAGE", "receivedAt": "2026-12-06T10:00:00+07:00", "text": "Сообщение"});
        for (k, v) in extra.as_object().unwrap() {
            i[k] = v.clone();
        }
        i
    };
    let items = json!([
        item("p-1", json!({"categoryName": "Ямы и ремонт дорог"})),
        item("p-2", json!({"territoryName": "Северный"})),
        item("p-3", json!({"territoryName": "Заречный"})),
        item("p-4", json!({})),
    ]);
    let r = app
        .gql(
            Some(&s.admin),
            "mutation{createApiToken(input:{name:\"ПОС\",scopes:[APPEALS_INGEST]}){secret}}",
            json!({}),
        )
        .await;
    let ingest = r.data()["createApiToken"]["secret"].as_str().unwrap().to_string();
    let r = app.gql(Some(&ingest), INGEST, json!({"i": items})).await;
    let d = &r.data()["ingestAppeals"];
    assert_eq!(d["created"], 2);
    let rejected: Vec<(i64, String)> = d["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["row"].as_i64().unwrap(), x["field"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(rejected, vec![(1, "categoryName".to_string()), (2, "territoryName".to_string())]);
    let r = app
        .gql(Some(&s.curator), "{ appeals(first: 50) { edges { node { externalId territory { id } } } } }", json!({}))
        .await;
    let edges = r.data()["appeals"]["edges"].as_array().unwrap().clone();
    let p3 = edges.iter().find(|e| e["node"]["externalId"] == "p-3").unwrap();
    assert_eq!(p3["node"]["territory"]["id"], south.as_str());

    // Reactivated, it takes appeals again.
    let r = app.gql(Some(&s.curator), CAT, json!({"i": {"id": roads, "version": 2, "active": true}})).await;
    assert_eq!(r.data()["updateCategory"]["active"], true);
    message(&app, &s.curator, json!({"categoryId": roads})).await;
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn merging_categories_and_territories_keeps_the_rollups_and_moves_children() {
    let app = spawn_app().await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    let city = app.territory(&s.admin, "Сорск", None).await;
    let east = app.territory(&s.admin, "Восточный", Some(&city)).await;
    let west = app.territory(&s.admin, "Западный", Some(&city)).await;
    let street = app.territory(&s.admin, "мкр. Западный-2", Some(&west)).await;
    const CREATE: &str = "mutation($n:String!,$p:ID){createCategory(input:{name:$n,parentId:$p}){id}}";
    let mk = |name: &'static str, parent: Option<String>| {
        let app = &app;
        let admin = s.admin.clone();
        async move {
            let r = app.gql(Some(&admin), CREATE, json!({"n": name, "p": parent})).await;
            r.data()["createCategory"]["id"].as_str().unwrap().to_string()
        }
    };
    let green = mk("Озеленение", None).await;
    let parks = mk("Парки", None).await;
    let trees = mk("Деревья", Some(green.clone())).await;
    let lawns = mk("Газоны", Some(parks.clone())).await;
    // 3 appeals: west/trees, street/trees, east/lawns.
    message(&app, &s.curator, json!({"categoryId": trees, "territoryId": west})).await;
    message(&app, &s.curator, json!({"categoryId": trees, "territoryId": street})).await;
    message(&app, &s.curator, json!({"categoryId": lawns, "territoryId": east})).await;

    const MC: &str = "mutation($i:MergeInput!){ mergeCategories(input:$i) { appealsMoved othersMoved } }";
    const MT: &str = "mutation($i:MergeInput!){ mergeTerritories(input:$i) { appealsMoved othersMoved } }";
    // A top-level category merges only into a top-level one.
    let r = app.gql(Some(&s.admin), MC, json!({"i": {"fromId": green, "intoId": lawns}})).await;
    assert_eq!(r.field_paths(), vec!["input.intoId"]);
    // A territory not into its own child.
    let r = app.gql(Some(&s.admin), MT, json!({"i": {"fromId": west, "intoId": street}})).await;
    assert_eq!(r.field_paths(), vec!["input.intoId"]);
    for token in [&s.coordinator, &s.executor, &s.head] {
        assert_eq!(app.gql(Some(token), MT, json!({"i": {"fromId": west, "intoId": east}})).await.code(), "FORBIDDEN");
    }

    // Озеленение into Парки: no appeal is on the top level, its subcategory «Деревья» follows.
    let r = app.gql(Some(&s.curator), MC, json!({"i": {"fromId": green, "intoId": parks}})).await;
    assert_eq!(r.data()["mergeCategories"], json!({"appealsMoved": 0, "othersMoved": 1}));
    // Западный into Восточный: one appeal (the other is in the child, which moves under east).
    let r = app.gql(Some(&s.curator), MT, json!({"i": {"fromId": west, "intoId": east}})).await;
    assert_eq!(r.data()["mergeTerritories"], json!({"appealsMoved": 1, "othersMoved": 1}));
    // Деревья into Газоны: two appeals.
    let r = app.gql(Some(&s.curator), MC, json!({"i": {"fromId": trees, "intoId": lawns}})).await;
    assert_eq!(r.data()["mergeCategories"], json!({"appealsMoved": 2, "othersMoved": 0}));
    app.assert_rollups_agree().await;

    // By category: all three under «Газоны»; by territory: east 2 (own + moved), street 1
    // under east now.
    let r = app
        .gql(
            Some(&s.curator),
            "query($c:[ID!],$t:[ID!]){ c: appeals(filter:{categoryId:$c}) { totalCount } t: appeals(filter:{territoryId:$t}) { totalCount } territories { id parent { id } } }",
            json!({"c": [lawns], "t": [east]}),
        )
        .await;
    let d = r.data();
    assert_eq!(d["c"]["totalCount"], 3);
    assert_eq!(d["t"]["totalCount"], 3, "east's subtree now holds the street");
    let st = d["territories"].as_array().unwrap().iter().find(|x| x["id"] == street.as_str()).unwrap();
    assert_eq!(st["parent"]["id"], east.as_str());
}
