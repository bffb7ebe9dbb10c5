//! Hostile and oversized files: import bombs refused with the limit they broke while the server
//! stays up, reports that tell what a killed import committed, the channel scope and
//! `createMissing` on the file path, and exports of texts longer than an Excel cell.

use serde_json::{Value, json};

use crate::bombs;
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const IMPORT: &str = "mutation($f:Upload!,$fmt:ImportFormat!,$c:Boolean){ importAppeals(file:$f, format:$fmt, createMissing:$c) { id status rows created updated unchanged finishedAt heartbeatAt errors { row field message } } }";

async fn upload(app: &TestApp, token: &str, name: &str, bytes: Vec<u8>, format: &str, create: bool) -> Value {
    crate::imports::upload_with(app, IMPORT, Some(token), name, bytes, format, create).await
}

async fn appeal_count(app: &TestApp) -> u64 {
    use sea_orm::{EntityTrait, PaginatorTrait};
    mcu::entity::appeal::Entity::find().count(&app.state.db).await.unwrap()
}

/// Asserts the upload was refused as bad input on `file` with a message containing `needle`.
fn assert_refused(r: &Value, needle: &str) {
    let error = &r["errors"][0];
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{r}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "the message names the limit «{needle}»: {message}");
    assert_eq!(error["extensions"]["fields"][0]["path"], "file", "{r}");
    assert!(r["data"].is_null() || r["data"]["importAppeals"].is_null(), "{r}");
}

#[tokio::test]
async fn import_bombs_are_refused_naming_the_limit_and_the_server_stays_up() {
    let app = spawn_app().await;
    app.set_now("2026-11-29T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["POS"]})).await;
    let up = || async {
        let r = app.gql(Some(&coordinator), "{ imports(first: 1) { totalCount } }", json!({})).await;
        r.data()["imports"]["totalCount"].as_i64().unwrap()
    };

    // The control: a workbook of the same make goes in.
    let r = upload(&app, &coordinator, "ok.xlsx", bombs::harmless(), "POS_XLSX", false).await;
    assert_eq!(r["data"]["importAppeals"]["created"], 1, "{r}");

    let padded = bombs::whitespace_padded(1 << 30);
    assert!(padded.len() < 4 << 20, "1 GiB of whitespace packs small: {} bytes", padded.len());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("shared strings claim 10^13", bombs::shared_strings_claim(), "1500000"),
        ("a cell at XFD1048576", bombs::far_right_cell(), "MCU_IMPORT_MAX_ROWS"),
        ("1 GiB of whitespace", padded, "256 МиБ"),
        ("one 300 MB cell", bombs::single_cell(300_000_000), "1 МиБ"),
        ("1001 parts", bombs::too_many_parts(1001), "1000"),
    ];
    for (what, bytes, needle) in cases {
        let started = std::time::Instant::now();
        let r = upload(&app, &coordinator, "bomb.xlsx", bytes, "POS_XLSX", false).await;
        assert_refused(&r, needle);
        assert!(started.elapsed() < std::time::Duration::from_mins(1), "{what} took {:?}", started.elapsed());
        assert_eq!(up().await, 1, "after {what} the server answers and wrote no report");
    }
    assert_eq!(appeal_count(&app).await, 1);
    // A cell longer than Excel allows, in a small file.
    let long = format!("Номер;Дата поступления;Факт\nL-1;20.11.2026;{}\n", "я".repeat(32_768));
    let r = upload(&app, &coordinator, "long.csv", long.into_bytes(), "CSV", false).await;
    assert_refused(&r, "32767");
    let record = format!("Номер;Дата поступления;Факт\nL-1;20.11.2026;\"{}\"\n", "ab\n".repeat(400_000));
    let r = upload(&app, &coordinator, "long.csv", record.into_bytes(), "CSV", false).await;
    assert_refused(&r, "1 МиБ");
    // And the server still imports.
    let r = upload(&app, &coordinator, "ok.xlsx", bombs::harmless(), "POS_XLSX", false).await;
    assert_eq!(r["data"]["importAppeals"]["unchanged"], 1, "{r}");
}

#[tokio::test]
async fn the_unpacked_size_of_a_workbook_is_capped_by_its_setting() {
    let app = spawn_app_with(|a| a.import_max_unpacked_bytes = 4 << 20).await;
    let admin = app.admin().await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["POS"]})).await;
    let r = upload(&app, &coordinator, "padded.xlsx", bombs::whitespace_padded(5 << 20), "POS_XLSX", false).await;
    assert_refused(&r, "MCU_IMPORT_MAX_UNPACKED_BYTES");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("4 МиБ"), "{r}");
    let csv = format!("Номер;Дата поступления;Факт\n{}", "C-1;20.11.2026;Яма\n".repeat(250_000));
    let r = upload(&app, &coordinator, "big.csv", csv.into_bytes(), "CSV", false).await;
    assert_refused(&r, "MCU_IMPORT_MAX_UNPACKED_BYTES");
    let r = upload(&app, &coordinator, "ok.xlsx", bombs::harmless(), "POS_XLSX", false).await;
    assert_eq!(r["data"]["importAppeals"]["created"], 1, "{r}");
}

#[tokio::test]
async fn the_command_line_import_refuses_a_bomb_with_the_message_and_a_failure_status() {
    let app = spawn_app().await;
    let path = std::env::temp_dir().join(format!("mcu-bomb-{}.xlsx", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, bombs::shared_strings_claim()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcu"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.state.settings.database_url)
        .env("MCU_JWT_SECRET", "test-secret-that-is-long-enough-0123456789")
        .env("RUST_LOG", "warn")
        .args(["import", "--format", "pos-xlsx"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(!out.status.success(), "a refused file is a failure");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("file") && stderr.contains("1500000"), "{stderr}");
    assert_eq!(appeal_count(&app).await, 0);
}

/// A ПОС export of `n` rows, all valid.
fn big_pos_xlsx(n: u32) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["Номер", "Дата поступления", "Категория", "Подкатегория", "Факт", "Стадия"].iter().enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for r in 1..=n {
        ws.write_string(r, 0, format!("K-{r}")).unwrap();
        ws.write_string(r, 1, "20.11.2026 10:00").unwrap();
        ws.write_string(r, 2, "ЖКХ").unwrap();
        ws.write_string(r, 3, "Отопление").unwrap();
        ws.write_string(r, 4, format!("Холодные батареи, сообщение {r}")).unwrap();
        ws.write_string(r, 5, "В работе").unwrap();
    }
    wb.save_to_buffer().unwrap()
}

const REPORTS: &str =
    "{ imports(first: 10) { edges { node { id status rows created updated finishedAt heartbeatAt } } } }";

#[tokio::test]
async fn a_killed_import_reports_what_it_committed_and_reads_as_interrupted() {
    use sea_orm::EntityTrait;
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["POS"]})).await;
    let rows = 30_000;
    let path = std::env::temp_dir().join(format!("mcu-killed-{}.xlsx", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, big_pos_xlsx(rows)).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mcu"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.state.settings.database_url)
        .env("MCU_JWT_SECRET", "test-secret-that-is-long-enough-0123456789")
        .env("RUST_LOG", "warn")
        .args(["import", "--format", "pos-xlsx"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(2);
    while appeal_count(&app).await == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL: no chance to write anything more
    child.wait().unwrap();
    let _ = std::fs::remove_file(&path);
    let committed = appeal_count(&app).await;
    assert!(committed > 0 && committed < u64::from(rows), "the kill landed half-way: {committed} of {rows}");

    // Right after the kill the heartbeat is fresh: the report still reads as running, with
    // what was committed.
    let r = app.gql(Some(&coordinator), REPORTS, json!({})).await;
    let report = r.data()["imports"]["edges"][0]["node"].clone();
    assert_eq!(report["status"], "RUNNING", "{report}");
    assert_eq!(report["rows"], rows);
    assert_eq!(report["created"].as_u64(), Some(committed), "the counters are the committed appeals");
    assert!(report["finishedAt"].is_null() && !report["heartbeatAt"].is_null());

    // Past the heartbeat threshold it reads as interrupted, with the same counts.
    let later = chrono::Utc::now() + chrono::TimeDelta::minutes(6);
    app.set_now(&later.to_rfc3339());
    let r = app.gql(Some(&coordinator), REPORTS, json!({})).await;
    let report = r.data()["imports"]["edges"][0]["node"].clone();
    assert_eq!(report["status"], "INTERRUPTED", "{report}");
    assert_eq!(report["created"].as_u64(), Some(committed));

    // What a server does at start: the stored status becomes INTERRUPTED.
    assert_eq!(mcu::service::imports::mark_interrupted(&app.state).await.unwrap(), 1);
    let stored = mcu::entity::import_report::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(stored[0].status, "INTERRUPTED");
}

#[tokio::test]
async fn a_running_report_reads_as_running_until_its_heartbeat_goes_stale() {
    use sea_orm::{ActiveModelTrait, Set};
    let app = spawn_app().await;
    app.set_now("2026-11-29T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["POS"]})).await;
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc);
    for (beat, created) in [("2026-11-29T11:58:00+07:00", 10), ("2026-11-29T11:50:00+07:00", 1234)] {
        mcu::entity::import_report::ActiveModel {
            format: Set("POS_XLSX".into()),
            file_name: Set(format!("{created}.xlsx")),
            actor: Set("system".into()),
            started_at: Set(at("2026-11-29T11:00:00+07:00")),
            finished_at: Set(None),
            rows: Set(5000),
            created: Set(created),
            updated: Set(7),
            unchanged: Set(0),
            errors: Set("[]".into()),
            status: Set("RUNNING".into()),
            heartbeat_at: Set(Some(at(beat))),
            ..Default::default()
        }
        .insert(&app.state.db)
        .await
        .unwrap();
    }
    let r = app.gql(Some(&coordinator), REPORTS, json!({})).await;
    let nodes: Vec<(String, i64, i64)> = r.data()["imports"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let n = &e["node"];
            (n["status"].as_str().unwrap().to_string(), n["created"].as_i64().unwrap(), n["updated"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(nodes, [("INTERRUPTED".to_string(), 1234, 7), ("RUNNING".to_string(), 10, 7)]);
    assert_eq!(mcu::service::imports::mark_interrupted(&app.state).await.unwrap(), 1, "only the stale one");
    // A finished import says so.
    let r = upload(&app, &coordinator, "ok.xlsx", bombs::harmless(), "POS_XLSX", false).await;
    assert_eq!(r["data"]["importAppeals"]["status"], "FINISHED", "{r}");
    assert_eq!(r["data"]["importAppeals"]["created"], 1);
}

const INGEST: &str =
    "mutation($i:[IngestAppealInput!]!){ ingestAppeals(input:$i) { created updated rejected { row field message } } }";

#[tokio::test]
async fn a_coordinator_imports_only_the_channels_it_coordinates() {
    let app = spawn_app().await;
    app.set_now("2026-11-29T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["POS"]})).await;
    // An incident the coordinator does not handle, taken in by the curator.
    let incident = json!([{"channel": "INCIDENT", "externalId": "I-1", "kind": "INCIDENT", "receivedAt": "2026-11-20T03:00:00Z", "text": "Яма"}]);
    let r = app.gql(Some(&curator), INGEST, json!({"i": incident})).await;
    assert_eq!(r.data()["ingestAppeals"]["created"], 1);
    // The API refuses the coordinator's change to it…
    let mut changed = incident.clone();
    changed[0]["text"] = json!("Переписано");
    let r = app.gql(Some(&coordinator), INGEST, json!({"i": changed})).await;
    assert_eq!(r.data()["ingestAppeals"]["rejected"][0]["field"], "channel", "{}", r.body);

    // …and so does a file: neither the new incident nor the change goes in, the ПОС row does.
    let csv = "Номер;Дата поступления;Факт;Канал\n\
               I-1;20.11.2026 10:00;Переписано;Инцидент менеджмент\n\
               I-2;20.11.2026 10:00;Новый инцидент;Инцидент менеджмент\n\
               P-1;20.11.2026 10:00;Сообщение ПОС;ПОС\n";
    let r = upload(&app, &coordinator, "mixed.csv", csv.as_bytes().to_vec(), "CSV", false).await;
    let report = &r["data"]["importAppeals"];
    assert_eq!((report["created"].as_i64(), report["updated"].as_i64()), (Some(1), Some(0)), "{r}");
    let errors: Vec<(i64, &str, &str)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap(), e["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        errors,
        [
            (2, "Канал", "you do not coordinate the channel INCIDENT"),
            (3, "Канал", "you do not coordinate the channel INCIDENT")
        ]
    );
    // An «Инцидент менеджмент» export: every row is refused.
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, v) in ["ID инцидента", "Дата", "Текст", "I-3", "20.11.2026 10:00", "Пост"].iter().enumerate()
    {
        ws.write_string((c / 3) as u32, (c % 3) as u16, *v).unwrap();
    }
    let r = upload(&app, &coordinator, "im.xlsx", wb.save_to_buffer().unwrap(), "INCIDENT_XLSX", false).await;
    assert_eq!(r["data"]["importAppeals"]["created"], 0, "{r}");
    assert_eq!(r["data"]["importAppeals"]["errors"][0]["message"], "you do not coordinate the channel INCIDENT");

    let list = app.gql(Some(&curator), "{ appeals { edges { node { externalId channel text } } } }", json!({})).await;
    let mut seen: Vec<(String, String, String)> = list.data()["appeals"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let n = &e["node"];
            (
                n["externalId"].as_str().unwrap().into(),
                n["channel"].as_str().unwrap().into(),
                n["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("I-1".to_string(), "INCIDENT".to_string(), "Яма".to_string()),
            ("P-1".to_string(), "POS".to_string(), "Сообщение ПОС".to_string())
        ]
    );
    // The curator may import incidents.
    let r = upload(&app, &curator, "mixed.csv", csv.as_bytes().to_vec(), "CSV", false).await;
    assert_eq!(
        (r["data"]["importAppeals"]["created"].as_i64(), r["data"]["importAppeals"]["updated"].as_i64()),
        (Some(1), Some(1)),
        "{r}"
    );
}

#[tokio::test]
async fn create_missing_is_for_those_who_may_create_reference_data_and_keeps_its_limits() {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let app = spawn_app().await;
    app.set_now("2026-11-29T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["POS"]})).await;
    let categories = || async { mcu::entity::category::Entity::find().count(&app.state.db).await.unwrap() };
    let before = categories().await;
    let csv = "Номер;Дата поступления;Факт;Категория;Организация\nM-1;20.11.2026;Текст;Новая тема;Новая организация\n";
    let r = upload(&app, &coordinator, "new.csv", csv.as_bytes().to_vec(), "CSV", true).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "FORBIDDEN", "{r}");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("createMissing"), "{r}");
    let r = app.gql(Some(&coordinator), "{ imports { totalCount } }", json!({})).await;
    assert_eq!(r.data()["imports"]["totalCount"], 0, "nothing was imported");
    assert_eq!((categories().await, appeal_count(&app).await), (before, 0));
    // Without createMissing the coordinator's rows are checked against what exists.
    let r = upload(&app, &coordinator, "new.csv", csv.as_bytes().to_vec(), "CSV", false).await;
    assert_eq!(r["data"]["importAppeals"]["errors"][0]["field"], "Организация", "{r}");

    // A curator may, within the limits of creating reference data directly.
    let long = "Т".repeat(501);
    let bad = format!(
        "Номер;Дата поступления;Факт;Категория;Организация\nM-2;20.11.2026;Текст;{long};Орг\nM-3;20.11.2026;Текст;Тема;{long}\n"
    );
    let r = upload(&app, &curator, "long.csv", bad.into_bytes(), "CSV", true).await;
    let report = &r["data"]["importAppeals"];
    assert_eq!(report["created"], 0, "{r}");
    let errors: Vec<(&str, &str)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        errors,
        [("Категория", "must be at most 500 characters"), ("Организация", "must be at most 500 characters")]
    );
    assert_eq!(categories().await, before, "a refused row creates nothing");
    let r = upload(&app, &curator, "new.csv", csv.as_bytes().to_vec(), "CSV", true).await;
    assert_eq!(r["data"]["importAppeals"]["created"], 1, "{r}");
    assert_eq!(categories().await, before + 1);
}

#[tokio::test]
async fn an_xlsx_export_cuts_a_text_longer_than_a_cell_with_a_visible_mark() {
    use calamine::{Reader, Xlsx};
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
    let app = spawn_app().await;
    app.set_now("2026-11-29T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let one = json!([{"channel": "POS", "externalId": "X-1", "kind": "MESSAGE", "receivedAt": "2026-11-20T03:00:00Z", "text": "Яма", "authorName": "Иван", "authorContact": "+79990000000"}]);
    assert_eq!(app.gql(Some(&curator), INGEST, json!({"i": one})).await.data()["ingestAppeals"]["created"], 1);
    // Planted past the API's own limits, as an old row or another writer could have it.
    let a = mcu::entity::appeal::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    let mut am = a.into_active_model();
    am.address = Set(Some("ул. ".to_string() + &"Длинная ".repeat(5_000)));
    am.author_name = Set(Some("Ё".repeat(40_000)));
    am.update(&app.state.db).await.unwrap();

    let resp = app.client.get(format!("{}/exports/appeals.xlsx", app.base)).bearer_auth(&curator).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.unwrap().to_vec();
    let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let range = wb.worksheet_range("Обращения").unwrap();
    let row: Vec<String> = range.rows().nth(1).unwrap().iter().map(ToString::to_string).collect();
    for (col, start) in [(10, "ул. Длинная"), (11, "ЁЁЁ")] {
        let cell = &row[col];
        assert!(
            cell.starts_with(start) && cell.ends_with("… [обрезано]"),
            "column {col}: …{}",
            &cell[cell.len() - 40..]
        );
        assert!(cell.encode_utf16().count() <= 32_767, "{}", cell.encode_utf16().count());
    }
    assert_eq!(row[13], "Яма", "short texts are whole");
}
