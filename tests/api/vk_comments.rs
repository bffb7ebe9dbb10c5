//! Госпаблики intake (issue 18, item 11): comments under the administration's VK pages,
//! imported with `importAppeals(format: VK_COMMENTS)` from the JSON of `wall.getComments` or
//! from a table, with the guarantees of the ПОС import.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const IMPORT: &str = "mutation($f:Upload!,$fmt:ImportFormat!,$c:Boolean){ importAppeals(file:$f, format:$fmt, createMissing:$c) { id format rows created updated unchanged errors { row field message } skipped { row field message } } }";

async fn upload(app: &TestApp, token: &str, name: &str, bytes: Vec<u8>) -> Value {
    crate::imports::upload_with(app, IMPORT, Some(token), name, bytes, "VK_COMMENTS", false).await
}

/// 2026-12-01 09:00 at +07:00 (02:00 UTC), as Unix time, and `hours` later.
fn at(hours: i64) -> i64 {
    1_796_090_400 + hours * 3600
}

/// The API's answer for one post of the page -100: comment 10 by Иван with the page's reply
/// (11) and a reply of Пётр (12) in its thread, a deleted comment (13), one without text
/// (14) and one with a date that is not Unix time (15). `edited` is the text of comment 12.
fn answer(edited: &str) -> Vec<u8> {
    json!({"response": {
        "count": 4,
        "items": [
            {"id": 10, "from_id": 5, "post_id": 7, "owner_id": -100, "date": at(0), "text": "Когда починят дорогу на Лесной?",
             "thread": {"count": 2, "items": [
                {"id": 11, "from_id": -100, "post_id": 7, "owner_id": -100, "date": at(2), "text": "Ремонт запланирован на май."},
                {"id": 12, "from_id": 6, "post_id": 7, "owner_id": -100, "date": at(3), "text": edited}]}},
            {"id": 13, "deleted": true, "post_id": 7, "owner_id": -100, "date": at(1), "text": ""},
            {"id": 14, "from_id": 6, "post_id": 7, "owner_id": -100, "date": at(1), "text": "",
             "attachments": [{"type": "photo"}]},
            {"id": 15, "from_id": 6, "post_id": 7, "owner_id": -100, "date": "вчера", "text": "Фонари не горят"}
        ],
        "profiles": [{"id": 5, "first_name": "Иван", "last_name": "Петров"}, {"id": 6, "first_name": "Пётр", "last_name": "Сидоров"}],
        "groups": [{"id": 100, "name": "Администрация города Сорска"}]
    }})
    .to_string()
    .into_bytes()
}

fn report(r: &Value) -> &Value {
    &r["data"]["importAppeals"]
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or(-1)
}

/// The rows of a report add up: every row is created, updated, unchanged, an error or skipped.
fn assert_rows_add_up(r: &Value) {
    let rep = report(r);
    let accounted = n(&rep["created"])
        + n(&rep["updated"])
        + n(&rep["unchanged"])
        + rep["errors"].as_array().unwrap().len() as i64
        + rep["skipped"].as_array().unwrap().len() as i64;
    assert_eq!(n(&rep["rows"]), accounted, "{r}");
}

const APPEALS: &str = "{ appeals(orderBy:{field:RECEIVED_AT,direction:ASC}) { totalCount edges { node { externalId channel kind status text authorName authorContact answerText answeredAt receivedAt events { action } } } } }";

#[tokio::test]
async fn vk_comments_become_messages_of_gospabliki_and_a_reimport_changes_nothing() {
    let app = spawn_app().await;
    app.set_now("2026-12-02T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["GOSPABLIKI"]})).await;
    let audited = app.audit_count("importAppeals").await;

    // The fixture: 6 comments in all (4 in the list, 2 replies); 10 and 12 are citizens'
    // comments with text and a date; 11 is the page's (the answer to 10), 13 deleted, 14
    // without text; 15 has a bad date.
    let r = upload(&app, &coordinator, "comments.json", answer("Поддерживаю, яма глубокая")).await;
    let rep = report(&r);
    assert_eq!(rep["format"], "VK_COMMENTS", "{r}");
    assert_eq!((n(&rep["rows"]), n(&rep["created"]), n(&rep["updated"]), n(&rep["unchanged"])), (6, 2, 0, 0), "{r}");
    let errors: Vec<(i64, &str)> =
        rep["errors"].as_array().unwrap().iter().map(|e| (n(&e["row"]), e["field"].as_str().unwrap_or(""))).collect();
    assert_eq!(errors, [(6, "response.items[3].date")], "document order: 10, 11, 12, 13, 14, 15");
    let skipped: Vec<(i64, &str, &str)> = rep["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (n(&e["row"]), e["field"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        skipped,
        [
            (2, "response.items[0].thread.items[0]", mcu::domain::vk_comments::OWN),
            (4, "response.items[1]", mcu::domain::vk_comments::DELETED),
            (5, "response.items[2]", mcu::domain::vk_comments::EMPTY),
        ]
    );
    assert_rows_add_up(&r);
    assert_eq!(app.audit_count("importAppeals").await, audited + 1);

    let list = app.gql(Some(&coordinator), APPEALS, json!({})).await;
    assert_eq!(list.data()["appeals"]["totalCount"], 2, "{}", list.body);
    let nodes: Vec<Value> =
        list.data()["appeals"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
    let first = &nodes[0];
    assert_eq!(first["externalId"], "wall-100_7?reply=10");
    assert_eq!((first["channel"].as_str(), first["kind"].as_str()), (Some("GOSPABLIKI"), Some("MESSAGE")));
    assert_eq!(first["authorName"], "Иван Петров");
    assert_eq!(first["authorContact"], "https://vk.com/id5");
    assert_eq!(first["receivedAt"], "2026-12-01T02:00:00+00:00", "Unix time is an instant");
    // The page's reply in the thread is the comment's answer.
    assert_eq!(first["answerText"], "Ремонт запланирован на май.");
    assert_eq!(first["answeredAt"], "2026-12-01T04:00:00+00:00");
    assert_eq!(first["status"], "ANSWERED");
    assert_eq!(nodes[1]["externalId"], "wall-100_7?reply=12");
    assert_eq!(nodes[1]["status"], "RECEIVED");

    // The same export again: nothing changes.
    let again = upload(&app, &coordinator, "comments.json", answer("Поддерживаю, яма глубокая")).await;
    let rep = report(&again);
    assert_eq!(
        (n(&rep["rows"]), n(&rep["created"]), n(&rep["updated"]), n(&rep["unchanged"])),
        (6, 0, 0, 2),
        "{again}"
    );
    assert_eq!((rep["errors"].as_array().unwrap().len(), rep["skipped"].as_array().unwrap().len()), (1, 3));
    assert_rows_add_up(&again);

    // Пётр edited his comment: the message is updated, with an event naming the change.
    let edited = upload(&app, &coordinator, "comments.json", answer("Поддерживаю, яма глубокая, колесо пробил")).await;
    let rep = report(&edited);
    assert_eq!((n(&rep["created"]), n(&rep["updated"]), n(&rep["unchanged"])), (0, 1, 1), "{edited}");
    assert_rows_add_up(&edited);
    let list = app.gql(Some(&coordinator), APPEALS, json!({})).await;
    let second = &list.data()["appeals"]["edges"][1]["node"];
    assert_eq!(second["text"], "Поддерживаю, яма глубокая, колесо пробил");
    let actions: Vec<&str> = second["events"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"ingestUpdate"), "{actions:?}");

    // A table of the same comments (Russian headers) is the same set of messages: 10 and 12
    // are unchanged (10 keeps its answer and status: a table has none to say otherwise), 16 is new.
    let table = "Ссылка на пост;ID комментария;Автор;ID автора;Текст комментария;Дата\n\
                 https://vk.com/wall-100_7;10;Иван Петров;5;Когда починят дорогу на Лесной?;1796090400\n\
                 https://vk.com/wall-100_7;12;Пётр Сидоров;6;Поддерживаю, яма глубокая, колесо пробил;1796101200\n\
                 https://vk.com/sorsk?w=wall-100_7;16;Анна;https://vk.com/id8;И у школы тоже;01.12.2026 15:00\n";
    let r = upload(&app, &coordinator, "comments.csv", table.as_bytes().to_vec()).await;
    let rep = report(&r);
    assert_eq!((n(&rep["rows"]), n(&rep["created"]), n(&rep["updated"]), n(&rep["unchanged"])), (3, 1, 0, 2), "{r}");
    assert_rows_add_up(&r);
    let list = app.gql(Some(&coordinator), APPEALS, json!({})).await;
    assert_eq!(list.data()["appeals"]["totalCount"], 3);
    assert_eq!(list.data()["appeals"]["edges"][0]["node"]["status"], "ANSWERED");
    let reports = app
        .gql(Some(&coordinator), "{ imports { totalCount edges { node { format skipped { row } } } } }", json!({}))
        .await;
    assert_eq!(reports.data()["imports"]["totalCount"], 4);
    assert_eq!(reports.data()["imports"]["edges"][0]["node"]["format"], "VK_COMMENTS");
    app.assert_rollups_agree().await;
}

/// An XLSX table with English headers: a bad post link and a bad comment id are reported
/// with their row and column; a deleted comment is skipped.
#[tokio::test]
async fn a_vk_table_reports_bad_rows_with_their_column() {
    let app = spawn_app().await;
    app.set_now("2026-12-02T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let rows: [[&str; 6]; 4] = [
        ["https://vk.com/wall-100_7", "21", "Anna", "Broken bench in the park", "2026-12-01T10:00:00+07:00", "no"],
        ["https://vk.com/sorsk", "22", "Anna", "Text", "2026-12-01T10:00:00+07:00", "no"],
        ["https://vk.com/wall-100_7", "twenty", "Anna", "Text", "2026-12-01T10:00:00+07:00", "no"],
        ["https://vk.com/wall-100_7", "24", "Anna", "", "2026-12-01T10:00:00+07:00", "yes"],
    ];
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["Post link", "Comment ID", "Author", "Comment", "Date", "Deleted"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32 + 1, c as u16, *v).unwrap();
        }
    }
    let r = upload(&app, &curator, "comments.xlsx", wb.save_to_buffer().unwrap()).await;
    let rep = report(&r);
    assert_eq!((n(&rep["rows"]), n(&rep["created"])), (4, 1), "{r}");
    let errors: Vec<(i64, &str)> =
        rep["errors"].as_array().unwrap().iter().map(|e| (n(&e["row"]), e["field"].as_str().unwrap_or(""))).collect();
    assert_eq!(errors, [(3, "Post link"), (4, "Comment ID")], "{r}");
    let skipped: Vec<i64> = rep["skipped"].as_array().unwrap().iter().map(|e| n(&e["row"])).collect();
    assert_eq!(skipped, [5]);
    assert_rows_add_up(&r);
}

/// Access is the channel's: a coordinator of another channel is refused before anything is
/// read or written; HEAD and anonymous callers as for any import.
#[tokio::test]
async fn only_those_who_take_in_gospabliki_import_vk_comments() {
    let app = spawn_app().await;
    app.set_now("2026-12-02T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, pos) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["POS"]})).await;
    let (_, head) = app.user_with(&admin, &["HEAD"], json!({})).await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    for token in [&pos, &head] {
        let r = upload(&app, token, "comments.json", answer("Текст")).await;
        assert_eq!(r["errors"][0]["extensions"]["code"], "FORBIDDEN", "{r}");
    }
    let r =
        crate::imports::upload_with(&app, IMPORT, None, "comments.json", answer("Текст"), "VK_COMMENTS", false).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{r}");
    let counts = app.gql(Some(&curator), "{ imports { totalCount } appeals { totalCount } }", json!({})).await;
    assert_eq!(counts.data()["imports"]["totalCount"], 0, "no report written");
    assert_eq!(counts.data()["appeals"]["totalCount"], 0);
    // A curator takes in every channel.
    let r = upload(&app, &curator, "comments.json", answer("Текст")).await;
    assert_eq!(n(&report(&r)["created"]), 2, "{r}");
}

/// Hostile or broken JSON is refused as a whole, naming the limit, and writes nothing.
#[tokio::test]
async fn hostile_json_is_refused_with_its_limit_and_writes_nothing() {
    let app = spawn_app().await;
    app.set_now("2026-12-02T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["GOSPABLIKI"]})).await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = format!(
        r#"{{"response":{{"items":[{{"id":1{},"post_id":7,"owner_id":-100,"date":1764554400,"text":"Яма"}}]}}}}"#,
        "0".repeat(100_000)
    );
    let full = String::from_utf8(answer("Текст")).unwrap();
    let truncated = full[..full.len() / 2].to_string();
    let cases: [(&str, String, &str); 5] = [
        ("deep nesting", deep, "32"),
        ("a number of 100,000 digits", huge, "32 знаков"),
        ("truncated", truncated, "JSON"),
        ("an error answer of the API", r#"{"error":{"error_code":15,"error_msg":"Access denied"}}"#.into(), "15"),
        ("no comments", r#"{"response":{"count":0}}"#.into(), "items"),
    ];
    for (what, body, needle) in cases {
        let r = upload(&app, &coordinator, "comments.json", body.into_bytes()).await;
        let error = &r["errors"][0];
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{what}: {r}");
        assert_eq!(error["extensions"]["fields"][0]["path"], "file", "{what}: {r}");
        assert!(error["message"].as_str().unwrap_or("").contains(needle), "{what}: {r}");
    }
    let counts = app.gql(Some(&coordinator), "{ imports { totalCount } appeals { totalCount } }", json!({})).await;
    assert_eq!(counts.data()["imports"]["totalCount"], 0, "nothing written");
    assert_eq!(counts.data()["appeals"]["totalCount"], 0);
    // More comments than the row limit.
    let app = crate::helpers::spawn_app_with(|a| a.import_max_rows = 3).await;
    let admin = app.admin().await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["GOSPABLIKI"]})).await;
    let r = upload(&app, &coordinator, "comments.json", answer("Текст")).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{r}");
    assert!(r["errors"][0]["message"].as_str().unwrap_or("").contains('3'), "{r}");
    let counts = app.gql(Some(&coordinator), "{ imports { totalCount } }", json!({})).await;
    assert_eq!(counts.data()["imports"]["totalCount"], 0);
}

/// `mcu import --format vk-comments` takes the same file.
#[tokio::test]
async fn the_command_line_imports_vk_comments() {
    let app = spawn_app().await;
    let path = std::env::temp_dir().join(format!("mcu-vk-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, answer("Текст")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcu"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.state.settings.database_url)
        .env("MCU_JWT_SECRET", "test-secret-that-is-long-enough-0123456789")
        .env("RUST_LOG", "warn")
        .args(["import", "--format", "vk-comments"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("6 rows, 2 created"), "{stdout}");
}

/// The migration that gives reports their skipped rows rolls back (the column goes) and
/// applies again; a report whose skipped rows went with the column reads as skipping nothing.
#[tokio::test]
async fn the_import_skipped_migration_rolls_back_and_reapplies() {
    use migration::MigratorTrait;
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let db = &app.state.db;
    let read = || async {
        let sql = "SELECT skipped FROM imports";
        db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await
    };
    assert!(read().await.is_ok());
    // A report with skipped rows, written before the rollback.
    let r = upload(&app, &curator, "old.json", answer("Текст")).await;
    assert_eq!(report(&r)["skipped"].as_array().map(Vec::len), Some(3), "{r}");
    let migrations = migration::Migrator::migrations();
    let at = migrations.iter().position(|m| m.name() == "m20261227_000001_import_skipped").unwrap();
    // This migration and every later one, newest first.
    migration::Migrator::down(db, Some(u32::try_from(migrations.len() - at).unwrap())).await.unwrap();
    assert!(read().await.is_err(), "the column is gone after down");
    migration::Migrator::up(db, None).await.unwrap();
    let r = app.gql(Some(&curator), "{ imports { edges { node { fileName skipped { row } } } } }", json!({})).await;
    let node = &r.data()["imports"]["edges"][0]["node"];
    assert_eq!(
        (node["fileName"].as_str(), node["skipped"].as_array().map(Vec::len)),
        (Some("old.json"), Some(0)),
        "{}",
        r.body
    );
}
