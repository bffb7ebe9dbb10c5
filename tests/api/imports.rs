//! File imports over the GraphQL multipart request spec: ПОС XLSX, CSV, refusals.

use rust_xlsxwriter::Workbook;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const IMPORT: &str = "mutation($f:Upload!,$fmt:ImportFormat!,$c:Boolean){ importAppeals(file:$f, format:$fmt, createMissing:$c) { id format fileName rows created updated unchanged errors { row field message } } }";

async fn upload(app: &TestApp, token: Option<&str>, name: &str, bytes: Vec<u8>, format: &str, create: bool) -> Value {
    upload_with(app, IMPORT, token, name, bytes, format, create).await
}

/// `importAppeals` with `query` (variables `$f`, `$fmt`, `$c`) over the multipart request spec.
pub async fn upload_with(
    app: &TestApp,
    query: &str,
    token: Option<&str>,
    name: &str,
    bytes: Vec<u8>,
    format: &str,
    create: bool,
) -> Value {
    let operations = json!({"query": query, "variables": {"f": null, "fmt": format, "c": create}});
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({"0": ["variables.f"]}).to_string())
        .part("0", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()));
    let mut req = app.client.post(format!("{}/graphql", app.base)).multipart(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().json::<Value>().await.unwrap()
}

/// A ПОС export with a title row, its own column order, an extra column and a bad row.
fn pos_xlsx(rows: &[[&str; 9]]) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "Реестр сообщений ПОС за ноябрь").unwrap();
    let headers = [
        "Факт",
        "Номер",
        "Лишняя колонка",
        "Дата поступления",
        "Категория",
        "Подкатегория",
        "Организация (текущая)",
        "Стадия",
        "Оценка ответа заявителем",
    ];
    for (c, h) in headers.iter().enumerate() {
        ws.write_string(1, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if c == 3 && v.parse::<f64>().is_ok() {
                ws.write_number(r as u32 + 2, c as u16, v.parse::<f64>().unwrap()).unwrap();
            } else {
                ws.write_string(r as u32 + 2, c as u16, *v).unwrap();
            }
        }
    }
    wb.save_to_buffer().unwrap()
}

fn sample() -> Vec<u8> {
    pos_xlsx(&[
        ["Холодные батареи", "P-1", "x", "20.11.2026 14:05", "ЖКХ", "Отопление", "Управление ЖКХ", "Завершено", "5"],
        ["Яма у дома", "P-2", "x", "not a date", "Дороги", "Ямы и ремонт дорог", "", "В работе", ""],
        ["Не вывозят мусор", "P-3", "x", "46345.5", "Экология и мусор", "Вывоз мусора (ТКО)", "", "На исполнении", ""],
        ["Сломаны качели", "P-4", "x", "21.11.2026", "Благоустройство", "Нет такой", "", "", ""],
    ])
}

#[tokio::test]
async fn a_pos_export_imported_twice_creates_once_and_reports_bad_rows() {
    let app = spawn_app().await;
    app.set_now("2026-11-29T12:00:00+07:00");
    let admin = app.admin().await;
    app.recipient(&admin, "Управление ЖКХ").await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["POS"]})).await;
    let r = upload(&app, Some(&coordinator), "pos.xlsx", sample(), "POS_XLSX", false).await;
    let report = &r["data"]["importAppeals"];
    assert_eq!(report["rows"], 4, "{r}");
    assert_eq!(report["created"], 2);
    let errors: Vec<(i64, &str)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(errors, [(4, "Дата поступления"), (6, "Подкатегория")], "{report}");
    {
        // The import ended with PostgreSQL's statistics of the table it grew (`reltuples` is
        // -1 until a table is first analyzed).
        use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
        let db = &app.state.db;
        if db.get_database_backend() == DatabaseBackend::Postgres {
            let sql = "SELECT CAST(reltuples AS BIGINT) AS n FROM pg_class WHERE oid = 'appeals'::regclass";
            let row = db.query_one_raw(Statement::from_string(DatabaseBackend::Postgres, sql)).await.unwrap().unwrap();
            assert_eq!(row.try_get::<i64>("", "n").unwrap(), 2);
        }
    }

    let again = upload(&app, Some(&coordinator), "pos.xlsx", sample(), "POS_XLSX", false).await;
    assert_eq!(again["data"]["importAppeals"]["unchanged"], 2, "{again}");
    assert_eq!(again["data"]["importAppeals"]["created"], 0);

    let list = app.gql(Some(&coordinator), "{ appeals(orderBy:{field:RECEIVED_AT,direction:ASC}) { totalCount edges { node { externalId kind status receivedAt satisfactionScore recipient { name } category { name } } } } }", json!({})).await;
    let edges = list.data()["appeals"]["edges"].as_array().unwrap();
    assert_eq!(list.data()["appeals"]["totalCount"], 2);
    let by_id = |id: &str| edges.iter().map(|e| &e["node"]).find(|n| n["externalId"] == id).unwrap().clone();
    let p1 = by_id("P-1");
    assert_eq!(
        (p1["externalId"].as_str(), p1["kind"].as_str(), p1["status"].as_str()),
        (Some("P-1"), Some("MESSAGE"), Some("CLOSED"))
    );
    assert_eq!(p1["receivedAt"], "2026-11-20T07:05:00+00:00", "local time of the municipality");
    assert_eq!(p1["satisfactionScore"], 5);
    assert_eq!(p1["recipient"]["name"], "Управление ЖКХ");
    let p3 = by_id("P-3");
    assert_eq!(p3["receivedAt"], "2026-11-19T05:00:00+00:00", "Excel serial 46345.5 is 19.11.2026 12:00");
    assert_eq!(p3["status"], "IN_PROGRESS");

    // With createMissing (a curator's: it may create reference data) the unknown subcategory
    // is created and the row goes in.
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let audited = app.audit_count("createCategory").await;
    let created = upload(&app, Some(&curator), "pos.xlsx", sample(), "POS_XLSX", true).await;
    assert_eq!(created["data"]["importAppeals"]["created"], 1, "{created}");
    // The subcategory it created is in the audit trail as one created directly would be.
    assert_eq!(app.audit_count("createCategory").await, audited + 1);
    let reports = app
        .gql(Some(&coordinator), "{ imports { totalCount edges { node { fileName format created } } } }", json!({}))
        .await;
    assert_eq!(reports.data()["imports"]["totalCount"], 3);
    assert_eq!(reports.data()["imports"]["edges"][0]["node"]["format"], "POS_XLSX");
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn files_that_are_not_what_they_claim_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["POS"]})).await;
    let png = [0x89u8, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13].to_vec();
    let full = sample();
    let truncated = full[..full.len() / 2].to_vec();
    for (name, bytes) in [("empty.xlsx", Vec::new()), ("picture.xlsx", png), ("broken.xlsx", truncated)] {
        let r = upload(&app, Some(&coordinator), name, bytes, "POS_XLSX", false).await;
        assert_eq!(r["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{name}: {r}");
        assert_eq!(r["errors"][0]["extensions"]["fields"][0]["path"], "file");
    }
    let counts = app.gql(Some(&coordinator), "{ imports { totalCount } appeals { totalCount } }", json!({})).await;
    assert_eq!(counts.data()["imports"]["totalCount"], 0);
    assert_eq!(counts.data()["appeals"]["totalCount"], 0);

    let r = upload(&app, None, "pos.xlsx", sample(), "POS_XLSX", false).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let (_, head) = app.user_with(&admin, &["HEAD"], json!({})).await;
    let r = upload(&app, Some(&head), "pos.xlsx", sample(), "POS_XLSX", false).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "FORBIDDEN");
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn a_windows_1251_csv_is_imported() {
    let app = spawn_app().await;
    app.set_now("2026-11-29T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["POS"]})).await;
    let text = "Номер;Дата поступления;Категория;Подкатегория;Факт;Статус\r\nC-1;25.11.2026 09:30;ЖКХ;Отопление;\"Холодно; батареи ледяные\";Отправлен ответ заявителю\r\nC-2;26.11.2026;Дороги;Тротуары;Нет тротуара;Новое\r\n";
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(text);
    let r = upload(&app, Some(&coordinator), "export.csv", bytes.to_vec(), "CSV", false).await;
    assert_eq!(r["data"]["importAppeals"]["created"], 2, "{r}");
    let list = app
        .gql(
            Some(&coordinator),
            "{ appeals(orderBy:{field:RECEIVED_AT,direction:ASC}) { edges { node { text status } } } }",
            json!({}),
        )
        .await;
    assert_eq!(list.data()["appeals"]["edges"][0]["node"]["text"], "Холодно; батареи ледяные");
    assert_eq!(list.data()["appeals"]["edges"][0]["node"]["status"], "ANSWERED");
    app.assert_rollups_agree().await;
}

/// Rows the ingestion refuses after parsing name the column as the file heads it; a row
/// refused for its territory creates nothing, even when the caller asked to create what is
/// missing; a territory is found however its kind is written.
#[tokio::test]
async fn a_refused_row_names_its_column_and_creates_nothing() {
    let app = spawn_app().await;
    app.set_now("2026-11-29T12:00:00+07:00");
    let admin = app.admin().await;
    app.territory(&admin, "г. Сорск", None).await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let categories =
        app.gql(Some(&admin), "{ categories { id } }", json!({})).await.data()["categories"].as_array().unwrap().len();
    let text = "ID инцидента;Дата публикации;Текст поста;Тематика;МО\n\
                I-1;25.11.2026 09:30;Яма на дороге;Совсем новая тема;Нигдешнинск\n\
                I-2;25.12.2026 09:30;Яма во дворе;Дороги;город Сорск\n\
                I-3;26.11.2026 10:00;Не горят фонари;Благоустройство;Сорск\n";
    let r = upload(&app, Some(&curator), "incidents.csv", text.as_bytes().to_vec(), "CSV", true).await;
    let report = &r["data"]["importAppeals"];
    assert_eq!((report["rows"].as_i64(), report["created"].as_i64()), (Some(3), Some(1)), "{r}");
    let errors: Vec<(i64, &str)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(errors, [(2, "МО"), (3, "Дата публикации")], "{report}");
    let after =
        app.gql(Some(&admin), "{ categories { id } }", json!({})).await.data()["categories"].as_array().unwrap().len();
    assert_eq!(after, categories, "the refused row created its category");
    app.assert_rollups_agree().await;
}

/// ПОС's verdict «Просрочено» with its planned date decides the SLA state where our rules'
/// deadline disagrees; where they agree, or the file gives no date, the rules' deadline
/// stays; importing the file again changes nothing.
#[tokio::test]
async fn the_sources_overdue_verdict_is_kept_where_the_rules_disagree() {
    let app = spawn_app().await;
    app.set_now("2026-11-29T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let text = "Номер;Дата поступления;Факт;Статус;Дата фактического завершения работ;\
                Дата планируемого завершения работ;Просрочено\n\
                S-1;02.11.2026 10:00;Яма;Отправлен ответ заявителю;13.11.2026 12:00;05.11.2026 18:00;Да\n\
                S-2;02.11.2026 10:00;Яма;Отправлен ответ заявителю;13.11.2026 12:00;05.11.2026 18:00;Нет\n\
                S-3;02.11.2026 10:00;Яма;Отправлен ответ заявителю;13.11.2026 12:00;;Да\n\
                S-4;20.11.2026 10:00;Яма;В работе;;24.11.2026 18:00;Да\n";
    for round in 0..2 {
        let r = upload(&app, Some(&curator), "pos.csv", text.as_bytes().to_vec(), "CSV", false).await;
        let report = &r["data"]["importAppeals"];
        let counts = (report["created"].as_i64(), report["unchanged"].as_i64());
        assert_eq!(counts, if round == 0 { (Some(4), Some(0)) } else { (Some(0), Some(4)) }, "{r}");
    }
    let list = app
        .gql(Some(&curator), "{ appeals(first: 10) { edges { node { externalId slaState dueAt } } } }", json!({}))
        .await;
    let state = |id: &str| {
        let edges = list.data()["appeals"]["edges"].as_array().unwrap().clone();
        let node = edges.iter().map(|e| e["node"].clone()).find(|n| n["externalId"] == id).unwrap();
        (node["slaState"].as_str().unwrap().to_string(), node["dueAt"].as_str().unwrap().to_string())
    };
    assert_eq!(state("S-1"), ("MISSED".to_string(), "2026-11-05T11:00:00+00:00".to_string()));
    // Ten working days from 2 November (4 November is a holiday): 17 November, 23:59:59.
    assert_eq!(state("S-2"), ("MET".to_string(), "2026-11-17T16:59:59+00:00".to_string()));
    assert_eq!(state("S-3").0, "MET", "no date of the source's: the rules' deadline stays");
    assert_eq!(state("S-4").0, "OVERDUE");
    app.assert_rollups_agree().await;
}

/// A ПОС export of `n` rows, all valid.
fn big_pos_xlsx(n: u32) -> Vec<u8> {
    let mut wb = Workbook::new();
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

#[tokio::test]
async fn an_import_killed_half_way_and_run_again_ends_with_exactly_the_right_appeals() {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let app = spawn_app().await;
    let rows = 30_000;
    let path = std::env::temp_dir().join(format!("mcu-kill-{}.xlsx", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, big_pos_xlsx(rows)).unwrap();
    let import = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_mcu"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &app.state.settings.database_url)
            .env("MCU_JWT_SECRET", "test-secret-that-is-long-enough-0123456789")
            .env("RUST_LOG", "warn")
            .args(["import", "--format", "pos-xlsx"])
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    let count = || async { mcu::entity::appeal::Entity::find().count(&app.state.db).await.unwrap() };
    let mut child = import().spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(2);
    while count().await == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = count().await;
    assert!(partial > 0 && partial < u64::from(rows), "the kill landed half-way: {partial} of {rows}");

    // Run beside the runtime, not on it: the test server lives on this (single-threaded)
    // runtime, and a dispatcher frozen mid-transaction would hold SQLite's write lock.
    let run = |mut c: std::process::Command| tokio::task::spawn_blocking(move || c.status().unwrap());
    let status = run(import()).await.unwrap();
    assert!(status.success());
    assert_eq!(count().await, u64::from(rows), "exactly the rows of the file, no duplicates");
    let again = run(import()).await.unwrap();
    assert!(again.success());
    assert_eq!(count().await, u64::from(rows));
    let _ = std::fs::remove_file(&path);
    app.assert_rollups_agree().await;
}

/// Sends a multipart body in chunks, with no declared length, and returns the status line.
async fn post_chunked(app: &TestApp, token: &str, boundary: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8 * 1024) {
        // The server may answer and close before the body ends.
        if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.is_err()
            || s.write_all(chunk).await.is_err()
            || s.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn an_upload_streams_and_one_over_the_limit_without_a_declared_length_is_refused() {
    let app = crate::helpers::spawn_app_with(|a| a.max_upload_bytes = 64 * 1024).await;
    let admin = app.admin().await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["POS"]})).await;
    let boundary = "mcu-test-boundary";
    let part = |operations: &str, file: &[u8]| {
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{\"0\": [\"variables.f\"]}}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"pos.xlsx\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        body
    };
    let operations = json!({"query": IMPORT, "variables": {"f": null, "fmt": "POS_XLSX", "c": false}}).to_string();
    // Within the limit, streamed: imported.
    let status = post_chunked(&app, &coordinator, boundary, &part(&operations, &sample())).await;
    assert!(status.contains(" 200"), "{status}");
    // The file alone is under the limit, the body is not (a long operations field): refused
    // while it streams, nothing written.
    let padded = format!("{operations}{}", " ".repeat(20 * 1024));
    let file = vec![b'x'; 50 * 1024];
    let status = post_chunked(&app, &coordinator, boundary, &part(&padded, &file)).await;
    assert!(status.contains(" 413"), "{status}");
    let r = app.gql(Some(&coordinator), "{ imports(first: 10) { totalCount } }", json!({})).await;
    assert_eq!(r.data()["imports"]["totalCount"], 1, "only the first upload was imported");
}

#[tokio::test]
async fn an_import_the_storage_stops_reads_as_failed_and_tells_what_was_committed() {
    use sea_orm::{ConnectionTrait, Database, DbBackend};
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let own = Database::connect(&app.state.settings.database_url).await.unwrap();
    let postgres = own.get_database_backend() == DbBackend::Postgres;
    // Every new appeal fails to be written. On PostgreSQL as on a full disk (SQLSTATE 53100,
    // a storage failure: the import fails as a whole); SQLite has no way for a trigger to
    // raise one, so there the fault is an ordinary error of each row, reported per row.
    if postgres {
        own.execute_unprepared(
            "CREATE FUNCTION storage_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             RAISE EXCEPTION 'storage fault' USING ERRCODE = 'disk_full'; END $$; \
             CREATE TRIGGER fault BEFORE INSERT ON appeals FOR EACH ROW EXECUTE FUNCTION storage_fault()",
        )
        .await
        .unwrap();
    } else {
        own.execute_unprepared(
            "CREATE TRIGGER fault BEFORE INSERT ON appeals BEGIN SELECT RAISE(ABORT, 'storage fault'); END",
        )
        .await
        .unwrap();
    }
    let r = upload(&app, Some(&curator), "pos.xlsx", sample(), "POS_XLSX", true).await;
    assert!(!r.to_string().contains("storage fault"), "no internal detail: {r}");
    if postgres {
        assert_eq!(r["errors"][0]["extensions"]["code"], "INTERNAL_SERVER_ERROR", "the call fails: {r}");
        own.execute_unprepared("DROP TRIGGER fault ON appeals").await.unwrap();
    } else {
        assert_eq!(r["data"]["importAppeals"]["created"], 0, "{r}");
        own.execute_unprepared("DROP TRIGGER fault").await.unwrap();
    }
    let list = app
        .gql(
            Some(&curator),
            "{ imports(first: 5) { edges { node { status finishedAt created updated } } } }",
            json!({}),
        )
        .await;
    let report = &list.data()["imports"]["edges"][0]["node"];
    assert_eq!(report["status"], if postgres { "FAILED" } else { "FINISHED" }, "{report}");
    assert!(report["finishedAt"].is_string(), "{report}");
    assert_eq!((report["created"].as_i64(), report["updated"].as_i64()), (Some(0), Some(0)), "{report}");
    let count = app.gql(Some(&curator), "{ appeals { totalCount } }", json!({})).await;
    assert_eq!(count.data()["appeals"]["totalCount"], 0, "nothing was written");
}
