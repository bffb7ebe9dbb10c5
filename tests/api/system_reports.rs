//! Reports per system (decree 2.4г, 2.5г): the ПОС and «Инцидент менеджмент» reports of a
//! period, generated from a hand-countable fixture, stored, listed, downloaded as DOCX and
//! XLSX, sent to the regional centre as a material, and refused to those who may not read them.

use std::collections::HashMap;
use std::io::Read;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const R1: &str = "Управление ЖКХ";
const R2: &str = "Управление дорожного хозяйства";

const FIELDS: &str = "id system from to total byStatus { key label count } answered answeredOnTime onTimeRate \
    overdueNow fullAnswerRate satisfiedRate reopened topTopics { key label count } \
    byRecipient { recipientId name rank total onTimeRate fullAnswerRate } generatedBy generatedAt docxUrl xlsxUrl";

async fn token(app: &TestApp, admin: &str, scope: &str) -> String {
    let q = format!("mutation{{createApiToken(input:{{name:\"BI {scope}\",scopes:[{scope}]}}){{secret}}}}");
    app.gql(Some(admin), &q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().to_string()
}

async fn message(app: &TestApp, token: &str, channel: &str, category: &str, at: &str) -> String {
    let input = json!({"kind": "MESSAGE", "channel": channel, "text": "Обращение для отчёта", "categoryId": category, "receivedAt": at});
    app.appeal(token, input).await.0
}

async fn assign(app: &TestApp, token: &str, id: &str, recipient: &str) {
    app.act(token, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
    app.act(token, "assignAppeal", "AssignAppealInput", json!({"id": id, "version": 2, "recipientId": recipient}))
        .await
        .data();
}

async fn answer(app: &TestApp, token: &str, id: &str, recipient: &str, at: &str, completeness: &str) {
    assign(app, token, id, recipient).await;
    app.set_now(at);
    app.act(token, "answerAppeal", "AnswerAppealInput", json!({"id": id, "version": 3, "text": "Ответ"})).await.data();
    let input = json!({"id": id, "version": 4, "completeness": completeness});
    app.act(token, "assessAnswer", "AssessAnswerInput", input).await.data();
}

/// The top-level category of a seeded category: (id, name).
async fn top_of(app: &TestApp, token: &str, name: &str) -> (String, String, String) {
    let r = app.gql(Some(token), "{ categories { id name parent { id name } } }", json!({})).await;
    let c = r.data()["categories"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
    let (top_id, top_name) = match c["parent"].as_object() {
        Some(p) => (p["id"].as_str().unwrap().to_string(), p["name"].as_str().unwrap().to_string()),
        None => (c["id"].as_str().unwrap().to_string(), name.to_string()),
    };
    (c["id"].as_str().unwrap().to_string(), top_id, top_name)
}

struct Fixture {
    app: TestApp,
    admin: String,
    curator: String,
    r1: String,
    r2: String,
    snow_top: (String, String),
    heat_top: (String, String),
    heating: String,
}

/// The week of 16–22 November 2026, seen on 27 November. By POS: p1 and p2 (snow) answered by
/// R1 on the next day, p1 FULL and rated satisfied, p2 PARTIAL; p3 (heating) assigned to R2,
/// open past its term. By INCIDENT: i1 (heating) answered by R2 on the next day, FULL. Outside
/// the reports: an EMAIL appeal in the week and a POS appeal of the week before.
async fn fixture() -> Fixture {
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-11-21T08:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let r1 = app.recipient(&admin, R1).await;
    let r2 = app.recipient(&admin, R2).await;
    let (snow, snow_top_id, snow_top) = top_of(&app, &curator, "Уборка снега и наледи").await;
    let (heating, heat_top_id, heat_top) = top_of(&app, &curator, "Отопление").await;
    assert_ne!(snow_top_id, heat_top_id, "the fixture needs two topics");
    message(&app, &curator, "POS", &snow, "2026-11-10T10:00:00+07:00").await;
    let p1 = message(&app, &curator, "POS", &snow, "2026-11-16T10:00:00+07:00").await;
    let p2 = message(&app, &curator, "POS", &snow, "2026-11-17T10:00:00+07:00").await;
    let p3 = message(&app, &curator, "POS", &heating, "2026-11-17T11:00:00+07:00").await;
    let i1 = message(&app, &curator, "INCIDENT", &heating, "2026-11-18T10:00:00+07:00").await;
    message(&app, &curator, "EMAIL", &heating, "2026-11-18T11:00:00+07:00").await;
    answer(&app, &curator, &p1, &r1, "2026-11-17T10:00:00+07:00", "FULL").await;
    let fb = json!({"id": p1, "score": 5, "satisfied": true});
    app.gql(Some(&curator), "mutation($i:FeedbackInput!){recordFeedback(input:$i){id}}", json!({"i": fb})).await.data();
    answer(&app, &curator, &p2, &r1, "2026-11-18T10:00:00+07:00", "PARTIAL").await;
    assign(&app, &curator, &p3, &r2).await;
    answer(&app, &curator, &i1, &r2, "2026-11-19T10:00:00+07:00", "FULL").await;
    app.set_now("2026-11-27T12:00:00+07:00");
    Fixture {
        app,
        admin,
        curator,
        r1,
        r2,
        snow_top: (snow_top_id, snow_top),
        heat_top: (heat_top_id, heat_top),
        heating,
    }
}

async fn generate(app: &TestApp, token: &str, system: &str, from: &str, to: &str) -> crate::helpers::Gql {
    let q = format!("mutation($i:GenerateSystemReportInput!){{ r: generateSystemReport(input:$i) {{ {FIELDS} }} }}");
    app.gql(Some(token), &q, json!({"i": {"system": system, "from": from, "to": to}})).await
}

fn count_of(list: &Value, key: &str) -> i64 {
    list.as_array().unwrap().iter().find(|c| c["key"] == key).map_or(0, |c| c["count"].as_i64().unwrap())
}

#[tokio::test]
async fn the_pos_and_incident_reports_count_their_channel_only() {
    let f = fixture().await;
    let r = generate(&f.app, &f.curator, "POS", "2026-11-16", "2026-11-22").await;
    let pos = r.data()["r"].clone();
    assert_eq!(pos["system"], "POS");
    // p1, p2, p3: the EMAIL appeal, the INCIDENT one and the one of the week before are not in it.
    assert_eq!(pos["total"], 3);
    let statuses: i64 = pos["byStatus"].as_array().unwrap().iter().map(|c| c["count"].as_i64().unwrap()).sum();
    assert_eq!(statuses, 3);
    assert_eq!(count_of(&pos["byStatus"], "ASSIGNED"), 1, "p3");
    assert_eq!(pos["answered"], 2, "p1, p2");
    assert_eq!(pos["answeredOnTime"], 2, "both on the next day");
    assert_eq!(pos["onTimeRate"], 1.0);
    assert_eq!(pos["overdueNow"], 0, "p3 is open but still in its term on 27 November");
    assert_eq!(pos["fullAnswerRate"], 0.5, "p1 FULL of p1 and p2 assessed");
    assert_eq!(pos["satisfiedRate"], 1.0, "p1, the one rated");
    assert_eq!(pos["topTopics"][0], json!({"key": f.snow_top.0, "label": f.snow_top.1, "count": 2}));
    assert_eq!(pos["topTopics"][1], json!({"key": f.heat_top.0, "label": f.heat_top.1, "count": 1}));
    assert_eq!(pos["topTopics"].as_array().unwrap().len(), 2);
    let rows = pos["byRecipient"].as_array().unwrap();
    let row = |id: &str| rows.iter().find(|x| x["recipientId"] == id).unwrap().clone();
    assert_eq!(rows.len(), 2);
    assert_eq!((row(&f.r1)["name"].clone(), row(&f.r1)["total"].clone()), (json!(R1), json!(2)));
    assert_eq!(row(&f.r1)["fullAnswerRate"], 0.5);
    assert_eq!((row(&f.r2)["name"].clone(), row(&f.r2)["total"].clone()), (json!(R2), json!(1)));
    assert!(pos["generatedBy"].as_str().unwrap().starts_with("User "));

    let r = generate(&f.app, &f.curator, "INCIDENT", "2026-11-16", "2026-11-22").await;
    let inc = r.data()["r"].clone();
    assert_eq!(
        (inc["system"].clone(), inc["total"].clone(), inc["answered"].clone()),
        (json!("INCIDENT"), json!(1), json!(1))
    );
    assert_eq!(inc["fullAnswerRate"], 1.0);
    assert_eq!(inc["satisfiedRate"], Value::Null, "nobody rated i1");
    assert_eq!(inc["topTopics"], json!([{"key": f.heat_top.0, "label": f.heat_top.1, "count": 1}]));
    assert_eq!(inc["byRecipient"].as_array().unwrap().len(), 1);
    assert_eq!(inc["byRecipient"][0]["recipientId"], json!(f.r2));
    assert_eq!(f.app.audit_count("generateSystemReport").await, 2);
    // Ten working days after 17 November p3 is past its term.
    f.app.set_now("2026-12-10T12:00:00+07:00");
    let later = generate(&f.app, &f.curator, "POS", "2026-11-16", "2026-11-22").await.data()["r"].clone();
    assert_eq!((later["total"].clone(), later["overdueNow"].clone()), (json!(3), json!(1)));
}

#[tokio::test]
async fn reports_are_stored_as_generated_and_listed_newest_first() {
    let f = fixture().await;
    let first = generate(&f.app, &f.curator, "POS", "2026-11-16", "2026-11-22").await.data()["r"].clone();
    // A late-registered appeal of the week changes what a new report counts, not the stored one.
    f.app.set_now("2026-11-27T13:00:00+07:00");
    message(&f.app, &f.curator, "POS", &f.heating, "2026-11-20T10:00:00+07:00").await;
    let second = generate(&f.app, &f.curator, "POS", "2026-11-16", "2026-11-22").await.data()["r"].clone();
    assert_eq!((first["total"].clone(), second["total"].clone()), (json!(3), json!(4)));
    generate(&f.app, &f.curator, "INCIDENT", "2026-11-16", "2026-11-22").await.data();
    let q = format!(
        "query($s:ReportSystem){{ systemReports(system:$s) {{ totalCount edges {{ node {{ {FIELDS} }} }} }} }}"
    );
    let list = f.app.gql(Some(&f.curator), &q, json!({"s": "POS"})).await.data()["systemReports"].clone();
    assert_eq!(list["totalCount"], 2);
    assert_eq!(list["edges"][0]["node"]["id"], second["id"]);
    assert_eq!(list["edges"][1]["node"], first, "the stored report reads back as generated");
    let all = f.app.gql(Some(&f.curator), &q, json!({})).await.data()["systemReports"]["totalCount"].clone();
    assert_eq!(all, 3);
    let one = f
        .app
        .gql(Some(&f.curator), "query($id:ID!){ systemReport(id:$id) { total } }", json!({"id": first["id"]}))
        .await;
    assert_eq!(one.data()["systemReport"]["total"], 3);
    let missing = f.app.gql(Some(&f.curator), "{ systemReport(id:\"999\") { total } }", json!({})).await;
    assert_eq!(missing.code(), "NOT_FOUND");
}

#[tokio::test]
async fn who_may_generate_and_read_reports() {
    let f = fixture().await;
    let app = &f.app;
    let (_, head) = app.user_with(&f.admin, &["HEAD"], json!({})).await;
    let (_, coordinator) = app.user_with(&f.admin, &["COORDINATOR"], json!({})).await;
    let (_, executor) = app.user_with(&f.admin, &["EXECUTOR"], json!({"recipientId": f.r1})).await;
    let city = app.territory(&f.admin, "г. Сорск", None).await;
    let (_, local) = app.user_with(&f.admin, &["CURATOR"], json!({"territoryId": city})).await;
    let bi = token(app, &f.admin, "ANALYTICS_READ").await;
    let reader = token(app, &f.admin, "APPEALS_READ").await;
    for who in [&head, &coordinator, &bi] {
        let r = generate(app, who, "POS", "2026-11-16", "2026-11-22").await;
        assert_eq!(r.data()["r"]["total"], 3);
    }
    let by_token = generate(app, &bi, "INCIDENT", "2026-11-16", "2026-11-22").await.data()["r"].clone();
    assert_eq!(by_token["generatedBy"], Value::Null, "a token reads no names of people");
    for (who, code) in
        [(&executor, "FORBIDDEN"), (&f.admin, "FORBIDDEN"), (&reader, "FORBIDDEN"), (&local, "FORBIDDEN")]
    {
        assert_eq!(generate(app, who, "POS", "2026-11-16", "2026-11-22").await.code(), code);
        let r = app.gql(Some(who), "{ systemReports { totalCount } }", json!({})).await;
        assert_eq!(r.code(), code);
    }
    assert_eq!(generate(app, "not-a-token", "POS", "2026-11-16", "2026-11-22").await.code(), "UNAUTHENTICATED");
    assert_eq!(app.audit_count("generateSystemReport").await, 4, "only the allowed ones were generated");
    let id = by_token["id"].as_str().unwrap();
    for (who, status) in [(&bi, 200), (&head, 200), (&executor, 403), (&reader, 403)] {
        let resp = app
            .client
            .get(format!("{}/exports/system-reports/{id}.xlsx", app.base))
            .bearer_auth(who)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status);
    }
}

#[tokio::test]
async fn a_bad_period_or_system_is_refused_with_its_field() {
    let f = fixture().await;
    let r = generate(&f.app, &f.curator, "POS", "2026-11-22", "2026-11-16").await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    assert_eq!(r.field_paths(), ["input.to"]);
    let r = generate(&f.app, &f.curator, "POS", "2016-01-01", "2026-11-16").await;
    assert_eq!(r.field_paths(), ["input.to"], "at most ten years");
    let r = generate(&f.app, &f.curator, "EMAIL", "2026-11-16", "2026-11-22").await;
    assert!(r.body["errors"].is_array(), "only POS and INCIDENT have reports");
    assert_eq!(f.app.audit_count("generateSystemReport").await, 0);
    let count = f.app.gql(Some(&f.curator), "{ systemReports { totalCount } }", json!({})).await;
    assert_eq!(count.data()["systemReports"]["totalCount"], 0, "nothing stored");
}

fn unzip(bytes: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut parts = HashMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut data = Vec::new();
        file.read_to_end(&mut data).unwrap();
        parts.insert(file.name().to_string(), data);
    }
    parts
}

/// The text of a DOCX's body, runs joined.
pub fn docx_text(bytes: &[u8]) -> String {
    use quick_xml::events::Event;
    let parts = unzip(bytes);
    let mut reader = quick_xml::Reader::from_reader(parts["word/document.xml"].as_slice());
    let mut out = String::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).unwrap() {
            Event::Text(t) => out.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => out.push(match r.as_ref() {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                _ => r.resolve_char_ref().unwrap().unwrap(),
            }),
            Event::End(e) if e.name().as_ref() == "w:p" => out.push('\n'),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    out
}

async fn download(app: &TestApp, token: &str, path: &str) -> Vec<u8> {
    let resp = app.client.get(format!("{}{path}", app.base)).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn the_report_downloads_as_docx_and_xlsx_with_its_figures() {
    use calamine::{Data, Reader, Xlsx};
    let f = fixture().await;
    let r = generate(&f.app, &f.curator, "POS", "2026-11-16", "2026-11-22").await.data()["r"].clone();
    let text = docx_text(&download(&f.app, &f.curator, r["docxUrl"].as_str().unwrap()).await);
    assert!(text.contains("Отчёт по Платформе обратной связи (ПОС)"), "{text}");
    assert!(text.contains("за период с 16.11.2026 по 22.11.2026"), "{text}");
    assert!(text.contains("Поступило обращений\n3\n"), "{text}");
    assert!(text.contains("Доля ответов по существу\n50%\n"), "{text}");
    assert!(text.contains(&format!("{}\n2\n", f.snow_top.1)), "{text}");
    assert!(text.contains(R1) && text.contains(R2), "{text}");
    let bytes = download(&f.app, &f.curator, r["xlsxUrl"].as_str().unwrap()).await;
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(wb.sheet_names(), ["Итоги", "Статусы", "Темы", "Получатели"]);
    let totals = wb.worksheet_range("Итоги").unwrap();
    assert_eq!(totals.get((1, 0)), Some(&Data::String("Поступило обращений".into())));
    assert_eq!(totals.get((1, 1)), Some(&Data::Float(3.0)));
    assert_eq!(totals.get((2, 1)), Some(&Data::Float(2.0)), "answered");
    let topics = wb.worksheet_range("Темы").unwrap();
    assert_eq!(topics.get((1, 0)), Some(&Data::String(f.snow_top.1.clone())));
    assert_eq!(topics.get((1, 1)), Some(&Data::Float(2.0)));
    let recipients = wb.worksheet_range("Получатели").unwrap();
    assert_eq!(recipients.height(), 3, "a header and two recipients");
    let bad = f.app.client.get(format!("{}/exports/system-reports/1.pdf", f.app.base)).bearer_auth(&f.curator).send();
    assert_eq!(bad.await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_report_is_sent_to_the_regional_centre_as_a_material() {
    let f = fixture().await;
    let report = generate(&f.app, &f.curator, "INCIDENT", "2026-11-16", "2026-11-22").await.data()["r"].clone();
    let q = "mutation($i:CreateCurRequestInput!){ r: createCurRequest(input:$i) { id version } }";
    let input = json!({"subject": "Отчёт по инцидентам", "body": "Прошу направить", "requestedBy": "ЦУР", "dueDate": "2026-12-01"});
    let req = f.app.gql(Some(&f.curator), q, json!({"i": input})).await.data()["r"].clone();
    let add = "mutation($i:AddCurMaterialInput!){ r: addCurMaterial(input:$i) { version materials { kind reportId docxUrl } } }";
    let bad = json!({"requestId": req["id"], "version": 1, "kind": "REPORT", "reportId": "999"});
    let r = f.app.gql(Some(&f.curator), add, json!({"i": bad})).await;
    assert_eq!((r.code(), r.field_paths()), ("BAD_USER_INPUT".to_string(), vec!["input.reportId".to_string()]));
    let none = json!({"requestId": req["id"], "version": 1, "kind": "REPORT"});
    assert_eq!(f.app.gql(Some(&f.curator), add, json!({"i": none})).await.field_paths(), ["input.reportId"]);
    let ok = json!({"requestId": req["id"], "version": 1, "kind": "REPORT", "reportId": report["id"]});
    let r = f.app.gql(Some(&f.curator), add, json!({"i": ok})).await.data()["r"].clone();
    let m = &r["materials"][0];
    assert_eq!((m["kind"].clone(), m["reportId"].clone()), (json!("REPORT"), report["id"].clone()));
    let text = docx_text(&download(&f.app, &f.curator, m["docxUrl"].as_str().unwrap()).await);
    assert!(text.contains("Отчёт по системе «Инцидент менеджмент»"), "{text}");
    assert!(text.contains("Поступило обращений\n1\n"), "{text}");
}

/// LibreOffice on `PATH`; the test fails without it (tests/run.sh installs it).
fn soffice() -> std::path::PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("soffice")).find(|p| p.is_file()))
        .unwrap_or_else(|| panic!("this test renders documents with LibreOffice: run tests/run.sh (it installs it)"))
}

/// Pages of a PDF as LibreOffice writes it (page objects are not compressed).
fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.match_indices("/Type")
        .filter(|(i, _)| {
            let rest = text[i + 5..].trim_start();
            rest.starts_with("/Page") && !rest.starts_with("/Pages")
        })
        .count()
}

#[tokio::test]
async fn libreoffice_renders_the_report_docx_and_xlsx_and_the_minutes() {
    let soffice = soffice();
    let dir = tempfile::tempdir().unwrap();
    let f = fixture().await;
    let r = generate(&f.app, &f.curator, "POS", "2026-11-16", "2026-11-22").await.data()["r"].clone();
    let docx = dir.path().join("report.docx");
    let xlsx = dir.path().join("workbook.xlsx");
    std::fs::write(&docx, download(&f.app, &f.curator, r["docxUrl"].as_str().unwrap()).await).unwrap();
    std::fs::write(&xlsx, download(&f.app, &f.curator, r["xlsxUrl"].as_str().unwrap()).await).unwrap();
    // The minutes of a held meeting with a plain decision and an assignment.
    let (_, head) = f.app.user_with(&f.admin, &["HEAD"], json!({})).await;
    let q = "mutation($i:CreateMeetingInput!){ r: createMeeting(input:$i) { id } }";
    let input = json!({"title": "Совещание", "startsAt": "2026-11-27T03:00:00Z", "participantIds": [], "agenda": [{"title": "Отчёт ПОС"}]});
    let id = f.app.gql(Some(&head), q, json!({"i": input})).await.data()["r"]["id"].as_str().unwrap().to_string();
    let q = "mutation($i:SetMeetingStatusInput!){ r: setMeetingStatus(input:$i) { version } }";
    f.app.gql(Some(&head), q, json!({"i": {"id": id, "version": 1, "status": "HELD"}})).await.data();
    let q = "mutation($i:RecordDecisionInput!){ r: recordDecision(input:$i) { id } }";
    let d = json!({"meetingId": id, "version": 2, "text": "Сократить сроки ответов", "recipientId": f.r1, "dueDate": "2026-12-15"});
    f.app.gql(Some(&head), q, json!({"i": d})).await.data();
    let minutes = dir.path().join("minutes.docx");
    std::fs::write(&minutes, download(&f.app, &head, &format!("/exports/meetings/{id}-minutes.docx")).await).unwrap();
    let profile = format!("-env:UserInstallation=file://{}", dir.path().join("profile").display());
    let outdir = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(soffice)
            .args(["--headless", &profile, "--convert-to", "pdf", "--outdir"])
            .arg(outdir)
            .args([&docx, &xlsx, &minutes])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(out.status.success(), "soffice failed: {}", String::from_utf8_lossy(&out.stderr));
    for (name, pages) in [("report.pdf", 1..=3), ("workbook.pdf", 4..=8), ("minutes.pdf", 1..=3)] {
        let pdf = std::fs::read(dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name} was not written ({e}): {}", String::from_utf8_lossy(&out.stdout)));
        assert!(pdf.starts_with(b"%PDF-"), "{name}");
        assert!(pages.contains(&pdf_pages(&pdf)), "{name}: {} pages", pdf_pages(&pdf));
    }
}
