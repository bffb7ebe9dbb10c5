//! Roadmaps over HTTP: the approval round by every role, versions, frozen plans, executors
//! marking their own measures, the effect on appeals and the DOCX export.

use serde_json::{Value, json};

use crate::helpers::{Gql, TestApp, spawn_app, spawn_app_with};

const FIELDS: &str = "id status version progress approvedAt approvedBy { id } owner { id } \
    measures { id title status dueDate doneAt overdue responsible { id } responsibleName } \
    comments { author text } effect { baselinePerMonth currentPerMonth change } history { action }";

/// Staff: two curators, a coordinator, two executors of different recipients, a head.
async fn create(app: &TestApp, token: &str, input: Value) -> Gql {
    let q = format!("mutation($i:CreateRoadmapInput!){{ r: createRoadmap(input:$i) {{ {FIELDS} }} }}");
    app.gql(Some(token), &q, json!({ "i": input })).await
}

async fn mutate(app: &TestApp, token: &str, mutation: &str, input_type: &str, input: Value) -> Gql {
    let q = format!("mutation($i:{input_type}!){{ r: {mutation}(input:$i) {{ {FIELDS} }} }}");
    app.gql(Some(token), &q, json!({ "i": input })).await
}

async fn step(app: &TestApp, token: &str, mutation: &str, id: &str, version: i64, extra: &str) -> Gql {
    let q = format!("mutation($id:ID!,$v:Int!){{ r: {mutation}(id:$id, version:$v{extra}) {{ {FIELDS} }} }}");
    app.gql(Some(token), &q, json!({ "id": id, "v": version })).await
}

async fn read(app: &TestApp, token: &str, id: &str) -> Gql {
    let q = format!("query($id:ID!){{ r: roadmap(id:$id) {{ {FIELDS} }} }}");
    app.gql(Some(token), &q, json!({ "id": id })).await
}

fn v(r: &Gql) -> i64 {
    r.data()["r"]["version"].as_i64().unwrap()
}

fn s(r: &Gql, field: &str) -> String {
    r.data()["r"][field].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn the_roadmap_workflow_by_every_role() {
    let app = spawn_app().await;
    let st = app.staff().await;
    let (appeal, _, _) =
        app.appeal(&st.curator, json!({"kind": "MESSAGE", "channel": "PHONE", "text": "Нет отопления"})).await;
    let input = json!({"title": "Отопление в Северном", "problem": "Повторные жалобы на холодные батареи",
                       "appealIds": [appeal]});

    // Who may draft.
    assert_eq!(create(&app, &st.executor, input.clone()).await.code(), "FORBIDDEN");
    assert_eq!(create(&app, &st.head, input.clone()).await.code(), "FORBIDDEN");
    let bad =
        create(&app, &st.coordinator, json!({"title": " ", "problem": "x", "appealIds": [appeal, "999999"]})).await;
    assert_eq!(bad.field_paths(), vec!["input.title", "input.appealIds.1"]);
    let r = create(&app, &st.coordinator, input).await;
    assert_eq!(s(&r, "status"), "DRAFT");
    let id = s(&r, "id");
    assert_eq!(
        app.gql(Some(&st.coordinator), "query($id:ID!){roadmap(id:$id){appealIds}}", json!({"id": id})).await.data()["roadmap"]
            ["appealIds"],
        json!([appeal])
    );

    // Measures: one for a recipient, one for a named official.
    let r = mutate(&app, &st.coordinator, "addMeasure", "MeasureInput",
        json!({"roadmapId": id, "version": 1, "title": "Промыть систему", "responsibleId": st.recipient, "dueDate": "2030-10-01"})).await;
    assert_eq!(v(&r), 2);
    let r = mutate(&app, &st.coordinator, "addMeasure", "MeasureInput",
        json!({"roadmapId": id, "version": 2, "title": "Заменить трубы", "responsibleName": "Иванов И. И.", "dueDate": "2030-11-01"})).await;
    let measures = r.data()["r"]["measures"].as_array().unwrap().clone();
    let (own, named) =
        (measures[0]["id"].as_str().unwrap().to_string(), measures[1]["id"].as_str().unwrap().to_string());
    assert_eq!(measures[1]["responsibleName"], "Иванов И. И.");
    let none = mutate(
        &app,
        &st.coordinator,
        "addMeasure",
        "MeasureInput",
        json!({"roadmapId": id, "version": 3, "title": "Без ответственного", "dueDate": "2030-11-01"}),
    )
    .await;
    assert_eq!(none.field_paths(), vec!["input.responsibleId"]);

    // Everyone who reads sees it.
    for t in [&st.head, &st.executor, &st.curator] {
        assert_eq!(s(&read(&app, t, &id).await, "status"), "DRAFT");
    }
    // A stale version.
    let stale = mutate(
        &app,
        &st.coordinator,
        "updateRoadmap",
        "UpdateRoadmapInput",
        json!({"id": id, "version": 1, "title": "Новое"}),
    )
    .await;
    assert_eq!(stale.code(), "CONFLICT");

    for t in [&st.executor, &st.head] {
        assert_eq!(step(&app, t, "submitRoadmap", &id, 3, "").await.code(), "FORBIDDEN");
        for m in ["startRoadmap", "completeRoadmap"] {
            assert_eq!(step(&app, t, m, &id, 3, "").await.code(), "FORBIDDEN");
        }
        assert_eq!(step(&app, t, "cancelRoadmap", &id, 3, ", reason: \"x\"").await.code(), "FORBIDDEN");
    }
    let r = step(&app, &st.coordinator, "submitRoadmap", &id, 3, "").await;
    assert_eq!(s(&r, "status"), "SUBMITTED");
    assert_eq!(step(&app, &st.curator, "approveRoadmap", &id, 3, "").await.code(), "CONFLICT");
    // Only the curator decides, and a return needs a comment.
    for t in [&st.coordinator, &st.executor, &st.head] {
        assert_eq!(step(&app, t, "approveRoadmap", &id, 4, "").await.code(), "FORBIDDEN");
        assert_eq!(step(&app, t, "returnRoadmap", &id, 4, ", comment: \"нет\"").await.code(), "FORBIDDEN");
    }
    let r = step(&app, &st.curator, "returnRoadmap", &id, 4, ", comment: \"  \"").await;
    assert_eq!((r.code(), r.field_paths()), ("BAD_USER_INPUT".to_string(), vec!["comment".to_string()]));
    let r = step(&app, &st.curator, "returnRoadmap", &id, 4, ", comment: \"Уточните сроки\"").await;
    assert_eq!(s(&r, "status"), "RETURNED");
    assert_eq!(r.data()["r"]["comments"][0]["text"], "Уточните сроки");

    // A new round: the plan may change again.
    let r = mutate(&app, &st.coordinator, "updateMeasure", "UpdateMeasureInput",
        json!({"roadmapId": id, "version": 5, "measureId": own, "title": "Промыть и опрессовать", "dueDate": "2030-09-15"})).await;
    assert_eq!(r.data()["r"]["measures"][0]["dueDate"], "2030-09-15");
    let r = step(&app, &st.coordinator, "submitRoadmap", &id, 6, "").await;
    let r = step(&app, &st.curator, "approveRoadmap", &id, v(&r), ", comment: \"Согласовано\"").await;
    assert_eq!(s(&r, "status"), "APPROVED");
    assert!(r.data()["r"]["approvedAt"].is_string());
    assert_eq!(r.data()["r"]["approvedBy"]["id"], st.curator_id.as_str());
    assert_eq!(r.data()["r"]["comments"].as_array().unwrap().len(), 2);
    assert!(r.data()["r"]["effect"].is_object());
    let version = v(&r);

    // The approved plan is frozen.
    let add = mutate(&app, &st.coordinator, "addMeasure", "MeasureInput",
        json!({"roadmapId": id, "version": version, "title": "Ещё", "responsibleName": "Петров", "dueDate": "2030-11-01"})).await;
    assert_eq!(add.code(), "BAD_USER_INPUT");
    for (field, value) in [("title", json!("Другое")), ("dueDate", json!("2031-01-01"))] {
        let r = mutate(
            &app,
            &st.curator,
            "updateMeasure",
            "UpdateMeasureInput",
            json!({"roadmapId": id, "version": version, "measureId": own, field: value}),
        )
        .await;
        assert_eq!(r.field_paths(), vec![format!("input.{field}")]);
    }
    let upd = mutate(
        &app,
        &st.coordinator,
        "updateRoadmap",
        "UpdateRoadmapInput",
        json!({"id": id, "version": version, "title": "Новое"}),
    )
    .await;
    assert_eq!(upd.code(), "BAD_USER_INPUT");

    // Executors: only their own recipient's measure, only its status.
    let mark = |token: &str, measure: &str, version: i64, extra: Value| {
        let mut i = json!({"roadmapId": id, "version": version, "measureId": measure, "status": "IN_PROGRESS"});
        for (k, v) in extra.as_object().unwrap() {
            i[k] = v.clone();
        }
        let token = token.to_string();
        let app = &app;
        async move { mutate(app, &token, "updateMeasure", "UpdateMeasureInput", i).await }
    };
    assert_eq!(mark(&st.executor, &named, version, json!({})).await.code(), "FORBIDDEN");
    assert_eq!(mark(&st.other_executor, &own, version, json!({})).await.code(), "FORBIDDEN");
    assert_eq!(mark(&st.executor, &own, version, json!({"title": "Моё"})).await.code(), "FORBIDDEN");
    assert_eq!(mark(&st.head, &own, version, json!({})).await.code(), "FORBIDDEN");
    let r = mark(&st.executor, &own, version, json!({})).await;
    assert_eq!(r.data()["r"]["measures"][0]["status"], "IN_PROGRESS");
    let nothing = mutate(
        &app,
        &st.coordinator,
        "updateMeasure",
        "UpdateMeasureInput",
        json!({"roadmapId": id, "version": v(&r), "measureId": own}),
    )
    .await;
    assert_eq!(nothing.field_paths(), vec!["input"]);
    let r = step(&app, &st.coordinator, "startRoadmap", &id, v(&r), "").await;
    assert_eq!(s(&r, "status"), "IN_PROGRESS");
    let r = mark(&st.executor, &own, v(&r), json!({"status": "DONE"})).await;
    assert!(r.data()["r"]["measures"][0]["doneAt"].is_string());
    assert!((r.data()["r"]["progress"].as_f64().unwrap() - 0.5).abs() < 1e-9);
    let back = mark(&st.executor, &own, v(&r), json!({"status": "PLANNED"})).await;
    assert_eq!(back.field_paths(), vec!["input.status"]);
    let r = mark(&st.coordinator, &named, v(&r), json!({"status": "CANCELLED"})).await;
    assert!((r.data()["r"]["progress"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    // A new round: the curator returns the running roadmap, the plan changes, it is approved again.
    let approved_at = r.data()["r"]["approvedAt"].clone();
    let r = step(&app, &st.curator, "returnRoadmap", &id, v(&r), ", comment: \"Добавьте мероприятие\"").await;
    assert_eq!(s(&r, "status"), "RETURNED");
    let r = mutate(&app, &st.coordinator, "addMeasure", "MeasureInput",
        json!({"roadmapId": id, "version": v(&r), "title": "Утеплить подвал", "responsibleName": "Петров", "dueDate": "2030-12-01"})).await;
    assert!((r.data()["r"]["progress"].as_f64().unwrap() - 0.5).abs() < 1e-9);
    let r = step(&app, &st.coordinator, "submitRoadmap", &id, v(&r), "").await;
    let r = step(&app, &st.curator, "approveRoadmap", &id, v(&r), "").await;
    assert_eq!(r.data()["r"]["approvedAt"], approved_at);
    let r = step(&app, &st.coordinator, "startRoadmap", &id, v(&r), "").await;
    let third = r.data()["r"]["measures"][2]["id"].as_str().unwrap().to_string();
    let r = mark(&st.coordinator, &third, v(&r), json!({"status": "DONE"})).await;
    let r = step(&app, &st.coordinator, "completeRoadmap", &id, v(&r), "").await;
    assert_eq!(s(&r, "status"), "COMPLETED");
    let cancel = step(&app, &st.coordinator, "cancelRoadmap", &id, v(&r), ", reason: \"поздно\"").await;
    assert_eq!(cancel.code(), "BAD_USER_INPUT");

    // The history holds every change.
    let actions: Vec<String> = r.data()["r"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap().to_string())
        .collect();
    for a in [
        "createRoadmap",
        "addMeasure",
        "submitRoadmap",
        "returnRoadmap",
        "updateMeasure",
        "approveRoadmap",
        "startRoadmap",
        "completeRoadmap",
    ] {
        assert!(actions.contains(&a.to_string()), "{a} missing from {actions:?}");
    }
    assert_eq!(app.audit_count("approveRoadmap").await, 2);

    // The list filters by status.
    let list = app
        .gql(
            Some(&st.head),
            "{ roadmaps(filter:{status:[COMPLETED]}) { totalCount edges { node { id progress } } } }",
            json!({}),
        )
        .await;
    assert_eq!(list.data()["roadmaps"]["totalCount"], 1);
    let none = app.gql(Some(&st.head), "{ roadmaps(filter:{status:[DRAFT]}) { totalCount } }", json!({})).await;
    assert_eq!(none.data()["roadmaps"]["totalCount"], 0);
}

#[tokio::test]
async fn a_curator_does_not_approve_its_own_roadmap_while_another_curator_exists() {
    let app = spawn_app().await;
    let st = app.staff().await;
    let r = create(&app, &st.curator, json!({"title": "Свалки", "problem": "Свалки у реки"})).await;
    let id = s(&r, "id");
    let r = step(&app, &st.curator, "submitRoadmap", &id, 1, "").await;
    assert_eq!(step(&app, &st.curator, "approveRoadmap", &id, v(&r), "").await.code(), "FORBIDDEN");
    assert_eq!(step(&app, &st.curator, "returnRoadmap", &id, v(&r), ", comment: \"x\"").await.code(), "FORBIDDEN");
    let r = step(&app, &st.other_curator, "approveRoadmap", &id, v(&r), "").await;
    assert_eq!(s(&r, "status"), "APPROVED");
    assert!(r.data()["r"]["comments"].as_array().unwrap().is_empty());

    // Cancelling needs a reason, which is kept as a comment.
    let c = step(&app, &st.coordinator, "cancelRoadmap", &id, v(&r), ", reason: \"\"").await;
    assert_eq!(c.field_paths(), vec!["reason"]);
    let c = step(&app, &st.coordinator, "cancelRoadmap", &id, v(&r), ", reason: \"Передано региону\"").await;
    assert_eq!(s(&c, "status"), "CANCELLED");
    assert_eq!(c.data()["r"]["comments"][0]["text"], "Передано региону");

    // With the setting on, the owner may decide.
    let app = spawn_app_with(|a| a.roadmap_self_approval = true).await;
    let st = app.staff().await;
    let r = create(&app, &st.curator, json!({"title": "Свалки", "problem": "Свалки у реки"})).await;
    let id = s(&r, "id");
    let r = step(&app, &st.curator, "submitRoadmap", &id, 1, "").await;
    assert_eq!(s(&step(&app, &st.curator, "approveRoadmap", &id, v(&r), "").await, "status"), "APPROVED");
}

#[tokio::test]
async fn overdue_measures_and_the_docx_export() {
    let app = spawn_app().await;
    app.set_now("2026-12-10T10:00:00+07:00");
    let st = app.staff().await;
    let r = create(&app, &st.coordinator, json!({"title": "Освещение", "problem": "Темно на улицах"})).await;
    let id = s(&r, "id");
    let r = mutate(&app, &st.coordinator, "addMeasure", "MeasureInput",
        json!({"roadmapId": id, "version": 1, "title": "Заменить лампы", "responsibleId": st.recipient, "dueDate": "2026-12-09"})).await;
    let r = mutate(&app, &st.coordinator, "addMeasure", "MeasureInput",
        json!({"roadmapId": id, "version": v(&r), "title": "Проверить опоры", "responsibleName": "Сидоров", "dueDate": "2026-12-10"})).await;
    assert_eq!(r.data()["r"]["measures"][0]["overdue"], true);
    assert_eq!(r.data()["r"]["measures"][1]["overdue"], false);
    assert!(r.data()["r"]["effect"].is_null());

    let url = format!("{}/exports/roadmaps/{id}.docx", app.base);
    let anon = app.client.get(&url).send().await.unwrap();
    assert_eq!(anon.status().as_u16(), 401);
    let api = app.client.get(&url).bearer_auth(&st.admin).send().await.unwrap();
    assert_eq!(api.status().as_u16(), 403);
    let missing = app
        .client
        .get(format!("{}/exports/roadmaps/999999.docx", app.base))
        .bearer_auth(&st.head)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let resp = app.client.get(&url).bearer_auth(&st.head).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().contains("wordprocessingml"));
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"PK", "a DOCX is a ZIP archive");
    let text = unzip_document(&bytes);
    for needle in ["Мероприятие", "Отметка о выполнении", "Заменить лампы", "09.12.2026", "Управление ЖКХ", "Сидоров"]
    {
        assert!(text.contains(needle), "{needle} missing from the document");
    }
}

/// The text of `word/document.xml` in a DOCX (stored or deflated ZIP entry).
fn unzip_document(bytes: &[u8]) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut file = archive.by_name("word/document.xml").unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut file, &mut out).unwrap();
    out
}

/// Appeals per month in the months around an approval, counted independently.
#[tokio::test]
async fn the_effect_compares_appeals_per_month_before_and_after_approval() {
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-07-01T10:00:00+07:00");
    let st = app.staff().await;
    let heating = app.category(&st.curator, "Отопление").await;
    let top = app.category(&st.curator, "ЖКХ").await;
    let roads = app.category(&st.curator, "Тротуары").await;
    let city = app.territory(&st.admin, "Сорск", None).await;
    let north = app.territory(&st.admin, "Северный", Some(&city)).await;
    let other = app.territory(&st.admin, "Другой", None).await;
    let appeal = |received: &str, category: &str, territory: &str| {
        json!({"kind": "MESSAGE", "channel": "PHONE", "text": "Холодно", "receivedAt": received,
               "categoryId": category, "territoryId": territory})
    };
    // Before approval (the 6 months from 2026-01-01T10:00+07:00): 9 match through the
    // subcategory and the subtree; others are off topic, elsewhere, too early or duplicates.
    let mut originals = Vec::new();
    for m in 1..=6 {
        let (id, _, _) =
            app.appeal(&st.curator, appeal(&format!("2026-0{m}-15T12:00:00+07:00"), &heating, &north)).await;
        originals.push(id);
    }
    for m in [2, 4, 6] {
        app.appeal(&st.curator, appeal(&format!("2026-0{m}-20T12:00:00+07:00"), &top, &city)).await;
    }
    app.appeal(&st.curator, appeal("2026-03-01T12:00:00+07:00", &roads, &north)).await;
    app.appeal(&st.curator, appeal("2026-03-01T12:00:00+07:00", &heating, &other)).await;
    app.appeal(&st.curator, appeal("2025-12-20T12:00:00+07:00", &heating, &north)).await;
    app.appeal(&st.curator, appeal("2026-01-01T09:00:00+07:00", &heating, &north)).await;
    let (dup, _, _) = app.appeal(&st.curator, appeal("2026-05-05T12:00:00+07:00", &heating, &north)).await;
    app.act(
        &st.curator,
        "markDuplicate",
        "MarkDuplicateInput",
        json!({"id": dup, "version": 1, "originalId": originals[0]}),
    )
    .await
    .data();

    let r = create(
        &app,
        &st.coordinator,
        json!({"title": "Отопление", "problem": "Холодно", "categoryId": top, "territoryId": city}),
    )
    .await;
    let id = s(&r, "id");
    let r = step(&app, &st.coordinator, "submitRoadmap", &id, 1, "").await;
    let r = step(&app, &st.curator, "approveRoadmap", &id, v(&r), "").await;
    let e = &r.data()["r"]["effect"];
    assert!((e["baselinePerMonth"].as_f64().unwrap() - 9.0 / 6.0).abs() < 1e-9, "{e}");
    // Nothing since approval, and at least a month is counted.
    assert!(e["currentPerMonth"].as_f64().unwrap().abs() < 1e-9);
    assert!((e["change"].as_f64().unwrap() + 1.0).abs() < 1e-9);

    // Two months and a day later, 4 matching appeals and one elsewhere.
    app.set_now("2026-09-02T10:00:00+07:00");
    for d in ["2026-07-10", "2026-08-01", "2026-08-15", "2026-09-01"] {
        app.appeal(&st.curator, appeal(&format!("{d}T12:00:00+07:00"), &heating, &north)).await;
    }
    app.appeal(&st.curator, appeal("2026-08-15T12:00:00+07:00", &heating, &other)).await;
    let r = read(&app, &st.head, &id).await;
    let e = &r.data()["r"]["effect"];
    let months = 63.0 / 30.4375;
    let current = 4.0 / months;
    assert!((e["currentPerMonth"].as_f64().unwrap() - current).abs() < 1e-9, "{e}");
    assert!((e["change"].as_f64().unwrap() - (current / 1.5 - 1.0)).abs() < 1e-9, "{e}");
}

#[tokio::test]
async fn the_roadmaps_and_polls_migration_rolls_back_and_reapplies() {
    use migration::MigratorTrait;
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app().await;
    // One connection of its own: the server's pool also serves its background jobs, and a
    // pooled SQLite connection still holding a read snapshot from before the `down` would
    // prepare the `up`'s statements against the schema of that snapshot.
    let own = sea_orm::ConnectOptions::new(app.state.settings.database_url.clone()).max_connections(1).to_owned();
    let db = &sea_orm::Database::connect(own).await.unwrap();
    let count = || async {
        let sql = "SELECT COUNT(*) AS n FROM roadmaps";
        db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await
    };
    assert!(count().await.is_ok());
    // Roadmaps and polls (the fifth migration) and every later one, newest first.
    let later = u32::try_from(migration::Migrator::migrations().len() - 4).unwrap();
    migration::Migrator::down(db, Some(later)).await.unwrap();
    assert!(count().await.is_err(), "the tables are gone after down");
    migration::Migrator::up(db, None).await.unwrap();
    assert!(count().await.is_ok());
    // The rollups come back empty; a rebuild fills them again.
    mcu::service::rollup::rebuild(db, app.state.settings.timezone).await.unwrap();
    app.assert_rollups_agree().await;
}

/// `Roadmap.docxUrl` is the relative URL of the export: with the caller's token it downloads
/// that roadmap's document; without one it is refused.
#[tokio::test]
async fn the_docx_url_of_a_roadmap_downloads_it_with_the_callers_token() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({})).await;
    let (_, head) = app.user_with(&admin, &["HEAD"], json!({})).await;
    let r = create(&app, &coordinator, json!({"title": "Ливнёвка на Лесной", "problem": "Подтопления"})).await;
    let id = s(&r, "id");
    let q = app.gql(Some(&head), "query($id:ID!){ roadmap(id:$id) { docxUrl } }", json!({ "id": id })).await;
    let url = q.data()["roadmap"]["docxUrl"].as_str().unwrap().to_string();
    assert_eq!(url, format!("/exports/roadmaps/{id}.docx"));
    for token in [&head, &coordinator] {
        let resp = app.client.get(format!("{}{url}", app.base)).bearer_auth(token).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(
            resp.headers()["content-disposition"].to_str().unwrap(),
            format!("attachment; filename=\"roadmap-{id}.docx\"")
        );
        let text = unzip_document(&resp.bytes().await.unwrap());
        assert!(text.contains("Ливнёвка на Лесной"), "the document of this roadmap");
    }
    let anon = app.client.get(format!("{}{url}", app.base)).send().await.unwrap();
    assert_eq!(anon.status().as_u16(), 401);
}

/// A token of `scope` made by `admin`.
#[tokio::test]
async fn analytics_tokens_read_roadmaps_progress_and_effect_without_personal_data() {
    let app = spawn_app().await;
    let st = app.staff().await;
    let (appeal, _, _) =
        app.appeal(&st.curator, json!({"kind": "MESSAGE", "channel": "PHONE", "text": "Нет отопления"})).await;
    let r =
        create(&app, &st.coordinator, json!({"title": "Отопление", "problem": "Холодно", "appealIds": [appeal]})).await;
    let id = s(&r, "id");
    let r = mutate(&app, &st.coordinator, "addMeasure", "MeasureInput",
        json!({"roadmapId": id, "version": 1, "title": "Заменить трубы", "responsibleName": "Иванов И. И.", "dueDate": "2030-11-01"})).await;
    let r = step(&app, &st.coordinator, "submitRoadmap", &id, v(&r), "").await;
    step(&app, &st.curator, "approveRoadmap", &id, v(&r), ", comment: \"Согласовано Петровым\"").await.data();

    let bi = app.api_token(&st.admin, "ANALYTICS_READ").await;
    let figures = "id title status progress approvedAt appealIds owner { id } approvedBy { id } \
        measures { title status overdue responsibleName } effect { baselinePerMonth currentPerMonth change }";
    let list = app
        .gql(Some(&bi), &format!("{{ roadmaps {{ totalCount edges {{ node {{ {figures} }} }} }} }}"), json!({}))
        .await;
    let node = &list.data()["roadmaps"]["edges"][0]["node"];
    assert_eq!(list.data()["roadmaps"]["totalCount"], 1);
    assert_eq!(node["status"], "APPROVED");
    assert_eq!(node["progress"], 0.0);
    assert!(node["effect"].is_object() && node["approvedAt"].is_string());
    assert_eq!(node["appealIds"], json!([appeal]));
    // No names: the owner, the approver and the named official are left out.
    assert_eq!((&node["owner"], &node["approvedBy"]), (&Value::Null, &Value::Null));
    assert_eq!(node["measures"][0]["title"], "Заменить трубы");
    assert_eq!(node["measures"][0]["responsibleName"], Value::Null);
    let one =
        app.gql(Some(&bi), &format!("query($id:ID!){{ r: roadmap(id:$id) {{ {figures} }} }}"), json!({"id": id})).await;
    assert_eq!(one.data()["r"]["owner"], Value::Null);
    // Comments and history carry names and staff's free text: refused, with the field named.
    for field in ["comments { author text }", "history { actor }"] {
        let r = app
            .gql(Some(&bi), &format!("query($id:ID!){{ roadmap(id:$id) {{ id {field} }} }}"), json!({"id": id}))
            .await;
        assert_eq!(r.code(), "FORBIDDEN", "{field}");
        assert!(!r.body.to_string().contains("Петров"), "{field}: {}", r.body);
    }
    // People still see the names; other token scopes and mutations stay refused.
    let staff = app
        .gql(Some(&st.head), &format!("query($id:ID!){{ r: roadmap(id:$id) {{ {figures} }} }}"), json!({"id": id}))
        .await;
    assert_eq!(staff.data()["r"]["measures"][0]["responsibleName"], "Иванов И. И.");
    assert!(staff.data()["r"]["owner"]["id"].is_string());
    for scope in ["APPEALS_READ", "APPEALS_INGEST"] {
        let t = app.api_token(&st.admin, scope).await;
        assert_eq!(app.gql(Some(&t), "{ roadmaps { totalCount } }", json!({})).await.code(), "FORBIDDEN", "{scope}");
    }
    assert_eq!(step(&app, &bi, "startRoadmap", &id, 4, "").await.code(), "FORBIDDEN");
    // The Word document names people: the token that reads the figures cannot fetch it.
    let docx =
        app.client.get(format!("{}/exports/roadmaps/{id}.docx", app.base)).bearer_auth(&bi).send().await.unwrap();
    assert_eq!(docx.status().as_u16(), 403);
    let docx =
        app.client.get(format!("{}/exports/roadmaps/{id}.docx", app.base)).bearer_auth(&st.head).send().await.unwrap();
    assert_eq!(docx.status().as_u16(), 200);
}
