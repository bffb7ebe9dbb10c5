//! An anonymised appeal stays anonymised (issue 19 follow-ups): a later ingestion or file
//! import stores none of the author's personal data and masks the texts it writes, nothing
//! reopens it (staff, a dissatisfied rating, a source's status or repeated review), its
//! history's comments are masked for those who do not handle it, and the day's retention
//! run is claimed by one process only.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};
use crate::imports::upload_with;
use mcu::entity::{appeal, appeal_event, audit_log};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

const INGEST: &str = "mutation($i:[IngestAppealInput!]!){ingestAppeals(input:$i){created updated unchanged \
                      rejected{row field message} skipped{row field message}}}";
const IMPORT: &str = "mutation($f:Upload!,$fmt:ImportFormat!,$c:Boolean){ importAppeals(file:$f, format:$fmt, \
                      createMissing:$c) { rows created updated unchanged errors { row field message } \
                      skipped { row field message } } }";

/// Long-lived access tokens: the clock jumps six years.
async fn spawn_years() -> TestApp {
    spawn_app_with(|a| a.access_ttl_secs = 7 * 366 * 86_400).await
}

async fn ingest_token(app: &TestApp, admin: &str) -> String {
    let r = app
        .gql(
            Some(admin),
            "mutation{createApiToken(input:{name:\"Инцидент\",scopes:[APPEALS_INGEST]}){secret}}",
            json!({}),
        )
        .await;
    r.data()["createApiToken"]["secret"].as_str().unwrap().to_string()
}

async fn by_external(app: &TestApp, external: &str) -> appeal::Model {
    appeal::Entity::find().filter(appeal::Column::ExternalId.eq(external)).one(&app.state.db).await.unwrap().unwrap()
}

async fn history(app: &TestApp, id: i64) -> Vec<appeal_event::Model> {
    appeal_event::Entity::find()
        .filter(appeal_event::Column::AppealId.eq(id))
        .order_by_asc(appeal_event::Column::Id)
        .all(&app.state.db)
        .await
        .unwrap()
}

/// An incident from social networks as its source sends it, closed with an answer; its text
/// and answer name the author and give their phone.
fn incident(text_tail: &str, status: &str) -> Value {
    json!({
        "channel": "INCIDENT", "externalId": "vk-1", "kind": "INCIDENT",
        "receivedAt": "2021-03-01T09:00:00+07:00",
        "text": format!("Яма у дома 5. Пишет Иван Петров, тел. 8-912-345-67-89{text_tail}"),
        "authorName": "Иван Петров", "authorContact": "ivan.petrov@mail.ru",
        "status": status, "answeredAt": "2021-03-01T09:30:00+07:00",
        "answerText": "Иван Петров, яму засыпали"
    })
}

/// A ПОС register as CSV: one closed message whose text and answer name its author.
fn pos_csv(fact: &str, status: &str, reopened: &str) -> Vec<u8> {
    format!(
        "Номер;Дата поступления;Факт;Статус;ФИО заявителя;Контакты заявителя;Дата фактического завершения работ;\
         Ответ;Повторное рассмотрение\n\
         P-1;01.03.2021 09:00;{fact};{status};Анна Сидорова;+7 913 111-22-33;01.03.2021 09:30;\
         Анна Сидорова, батареи включены;{reopened}\n"
    )
    .into_bytes()
}

fn assert_no_personal_data(a: &appeal::Model, name: &str, phone: &str) {
    assert_eq!((a.author_name.as_deref(), a.author_contact.as_deref()), (None, None), "{a:?}");
    for text in [Some(&a.text), a.answer_text.as_ref()].into_iter().flatten() {
        assert!(!text.contains(name) && !text.contains(phone), "{text}");
    }
}

/// An appeal updated by its source after it was anonymised keeps no personal data: not the
/// author's fields, not in the text and answer the update writes (masked as retention masks
/// them), not in the update's history entry; the rest of the update (here the text's new
/// words, the status) is taken as for any appeal; the same item again is unchanged; the
/// appeal stays anonymised, so the next retention run has nothing to do. Through the
/// ingestion API and a ПОС file.
#[tokio::test]
async fn a_later_import_or_ingestion_does_not_bring_personal_data_back() {
    let app = spawn_years().await;
    app.set_now("2021-03-02T10:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let ingest = ingest_token(&app, &admin).await;
    let r = app.gql(Some(&ingest), INGEST, json!({"i": [incident("", "CLOSED")]})).await;
    assert_eq!(r.data()["ingestAppeals"]["created"], 1, "{r:?}");
    let r = upload_with(
        &app,
        IMPORT,
        Some(&curator),
        "pos.csv",
        pos_csv("Холодно в квартире", "Завершено", "Нет"),
        "CSV",
        false,
    )
    .await;
    assert_eq!(r["data"]["importAppeals"]["created"], 1, "{r}");
    assert_eq!(by_external(&app, "P-1").await.status, "CLOSED");

    app.set_now("2027-03-03T10:00:00+07:00");
    let run = mcu::jobs::retention::pass(&app.state, false).await.unwrap();
    assert_eq!(run.numbers.len(), 2);
    let vk = by_external(&app, "vk-1").await;
    assert_no_personal_data(&vk, "Петров", "345-67-89");

    // The source sends the appeal again with its personal data and a longer text; the
    // ingestion takes the text's new words and nothing personal.
    app.set_now("2027-03-04T10:00:00+07:00");
    let again = json!({"i": [incident(". Второй раз пишу!", "ANSWERED")]});
    let r = app.gql(Some(&ingest), INGEST, again.clone()).await;
    assert_eq!(r.data()["ingestAppeals"]["updated"], 1, "{r:?}");
    let vk = by_external(&app, "vk-1").await;
    assert_no_personal_data(&vk, "Петров", "345-67-89");
    assert!(vk.text.ends_with("Второй раз пишу!") && vk.text.contains("[удалено]"), "{}", vk.text);
    assert_eq!(vk.status, "ANSWERED", "the status is the source's, as for any appeal");
    assert_eq!(vk.anonymised_at, Some(vk.updated_at), "it stays anonymised");
    let update = history(&app, vk.id).await.into_iter().rfind(|e| e.action == "ingestUpdate").unwrap();
    let recorded = format!("{:?} {:?}", update.comment, update.data);
    assert!(!recorded.contains("Петров") && !recorded.contains("ivan.petrov"), "{recorded}");
    // Sent once more, it is unchanged: the masked text is what the update stored.
    let r = app.gql(Some(&ingest), INGEST, again).await;
    assert_eq!(r.data()["ingestAppeals"]["unchanged"], 1, "{r:?}");

    // The ПОС file again, its text and answer corrected.
    let file = pos_csv("Холодно в квартире, Анна Сидорова, звоните +7 913 111-22-33", "Завершено", "Нет");
    let r = upload_with(&app, IMPORT, Some(&curator), "pos.csv", file.clone(), "CSV", false).await;
    assert_eq!(r["data"]["importAppeals"]["updated"], 1, "{r}");
    let pos = by_external(&app, "P-1").await;
    assert_no_personal_data(&pos, "Сидорова", "111-22-33");
    assert!(pos.text.starts_with("Холодно в квартире, [удалено]"), "{}", pos.text);
    assert_eq!(pos.answer_text.as_deref(), Some("[удалено], батареи включены"));
    let r = upload_with(&app, IMPORT, Some(&curator), "pos.csv", file, "CSV", false).await;
    assert_eq!(r["data"]["importAppeals"]["unchanged"], 1, "{r}");

    // Nothing for the next retention run: both appeals are anonymised since their last change.
    app.set_now("2033-03-05T10:00:00+07:00");
    assert!(mcu::jobs::retention::pass(&app.state, true).await.unwrap().numbers.is_empty());
    app.assert_rollups_agree().await;
}

/// Nothing reopens an anonymised appeal: staff get `CONFLICT` telling them to register a new
/// appeal, and so does a dissatisfied rating of a message (which would reopen it); a source
/// whose status sends it back into work, or that counts one more repeated review, has its
/// item skipped with the reason (the ingestion's and the import report's `skipped`), and the
/// appeal stays closed and unchanged. A closed appeal that is not anonymised still reopens.
#[tokio::test]
async fn an_anonymised_appeal_is_not_reopened_by_staff_ratings_or_its_source() {
    let app = spawn_years().await;
    app.set_now("2021-03-02T10:00:00+07:00");
    let s = app.staff().await;
    let ingest = ingest_token(&app, &s.admin).await;
    app.gql(Some(&ingest), INGEST, json!({"i": [incident("", "CLOSED")]})).await.data();
    let r =
        upload_with(&app, IMPORT, Some(&s.curator), "pos.csv", pos_csv("Холодно", "Завершено", "Нет"), "CSV", false)
            .await;
    assert_eq!(r["data"]["importAppeals"]["created"], 1, "{r}");
    app.set_now("2027-03-03T10:00:00+07:00");
    assert_eq!(mcu::jobs::retention::pass(&app.state, false).await.unwrap().numbers.len(), 2);
    let (vk, pos) = (by_external(&app, "vk-1").await, by_external(&app, "P-1").await);

    // Staff.
    let reopen = json!({"id": vk.id.to_string(), "version": vk.version, "reason": "Автор пишет снова"});
    let r = app.act(&s.curator, "reopenAppeal", "ReopenAppealInput", reopen).await;
    assert_eq!(r.code(), "CONFLICT", "{r:?}");
    assert!(r.message().contains(&vk.number) && r.message().contains("new appeal"), "{}", r.message());
    // A dissatisfied rating of a message would reopen it.
    let rate = json!({"id": pos.id.to_string(), "score": 2, "satisfied": false});
    let r = app.act(&s.curator, "recordFeedback", "FeedbackInput", rate).await;
    assert_eq!(r.code(), "CONFLICT", "{r:?}");
    // Refusals come after access: the Head may not reopen at all.
    let reopen = json!({"id": vk.id.to_string(), "version": vk.version, "reason": "x"});
    assert_eq!(app.act(&s.head, "reopenAppeal", "ReopenAppealInput", reopen).await.code(), "FORBIDDEN");

    // The source: the incident back in work; the ПОС message on repeated review.
    let r = app.gql(Some(&ingest), INGEST, json!({"i": [incident("", "IN_PROGRESS")]})).await;
    let d = &r.data()["ingestAppeals"];
    assert_eq!((d["updated"].as_i64(), d["skipped"][0]["row"].as_i64()), (Some(0), Some(1)), "{r:?}");
    assert_eq!(d["skipped"][0]["field"], "status");
    assert!(d["skipped"][0]["message"].as_str().unwrap().contains("new appeal"), "{d}");
    let file = pos_csv("Холодно", "Завершено", "1");
    let r = upload_with(&app, IMPORT, Some(&s.curator), "pos.csv", file, "CSV", false).await;
    let report = &r["data"]["importAppeals"];
    assert_eq!((report["rows"].as_i64(), report["updated"].as_i64()), (Some(1), Some(0)), "{r}");
    assert_eq!(report["skipped"][0]["field"], "Повторное рассмотрение", "the column as the file heads it: {r}");
    let file = pos_csv("Холодно", "На повторном рассмотрении", "Нет");
    let r = upload_with(&app, IMPORT, Some(&s.curator), "pos.csv", file, "CSV", false).await;
    assert_eq!(r["data"]["importAppeals"]["skipped"][0]["field"], "Статус", "{r}");
    // `mcu import` prints the skipped row with its reason.
    let path = std::env::temp_dir().join(format!("mcu-reopen-{}.csv", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, pos_csv("Холодно", "Завершено", "2")).unwrap();
    let mut cli = std::process::Command::new(env!("CARGO_BIN_EXE_mcu"));
    cli.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.state.settings.database_url)
        .env("MCU_JWT_SECRET", "test-secret-that-is-long-enough-0123456789")
        .env("RUST_LOG", "warn")
        .args(["import", "--format", "csv"])
        .arg(&path);
    // Beside the runtime: the test server's dispatcher must not hold SQLite's write lock.
    let out = tokio::task::spawn_blocking(move || cli.output().unwrap()).await.unwrap();
    std::fs::remove_file(&path).ok();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("0 updated, 0 unchanged, 0 errors, 1 skipped"), "{stdout}");
    assert!(stdout.contains(&format!("skipped row 2 (Повторное рассмотрение): the appeal {}", pos.number)), "{stdout}");
    assert_eq!(by_external(&app, "vk-1").await, vk, "the refusals changed nothing");
    assert_eq!(by_external(&app, "P-1").await, pos);

    // A closed appeal that is not anonymised is reopened as before.
    let (id, v, _) = app.appeal(&s.curator, json!({"kind": "APPEAL", "channel": "EMAIL", "text": "Яма"})).await;
    app.act(&s.curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": v})).await.data();
    let assign = json!({"id": id, "version": v + 1, "recipientId": s.recipient});
    app.act(&s.curator, "assignAppeal", "AssignAppealInput", assign).await.data();
    let answer = json!({"id": id, "version": v + 2, "text": "Засыпали"});
    app.act(&s.curator, "answerAppeal", "AnswerAppealInput", answer).await.data();
    app.act(&s.curator, "closeAppeal", "AppealActionInput", json!({"id": id, "version": v + 3})).await.data();
    let reopen = json!({"id": id, "version": v + 4, "reason": "Снова яма"});
    let r = app.act(&s.curator, "reopenAppeal", "ReopenAppealInput", reopen).await;
    assert_eq!(r.data()["r"]["status"], "REOPENED", "{r:?}");
}

/// The comments of an appeal's history (and the answer a reopening cleared, in its data) are
/// masked like its texts for those who do not handle the appeal, and shown to those who do,
/// with the read audited.
#[tokio::test]
async fn history_comments_are_masked_for_those_who_do_not_handle_the_appeal() {
    let app = spawn_years().await;
    app.set_now("2026-11-20T10:00:00+07:00");
    let s = app.staff().await;
    let (id, v, _) = app.appeal(&s.curator, json!({"kind": "APPEAL", "channel": "EMAIL", "text": "Яма"})).await;
    let register = json!({"id": id, "version": v, "comment": "Звонила Петрова Анна Сергеевна, тел. 8-912-345-67-89"});
    app.act(&s.curator, "registerAppeal", "AppealActionInput", register).await.data();
    let assign = json!({"id": id, "version": v + 1, "recipientId": s.recipient});
    app.act(&s.curator, "assignAppeal", "AssignAppealInput", assign).await.data();
    let answer = json!({"id": id, "version": v + 2, "text": "Уважаемая Анна Сергеевна! Яму засыпали."});
    app.act(&s.curator, "answerAppeal", "AnswerAppealInput", answer).await.data();
    let reopen = json!({"id": id, "version": v + 3, "reason": "Анна Сергеевна звонила снова: 8-912-345-67-89"});
    app.act(&s.curator, "reopenAppeal", "ReopenAppealInput", reopen).await.data();
    let get = "query($id:ID!){appeal(id:$id){events{action comment data}}}";

    let shown = app.gql(Some(&s.head), get, json!({"id": id})).await;
    let events = shown.data()["appeal"]["events"].as_array().unwrap().clone();
    let comment = |action: &str| events.iter().find(|e| e["action"] == action).unwrap()["comment"].clone();
    assert_eq!(comment("registerAppeal"), "Звонила [ФИО], тел. [телефон]");
    assert_eq!(comment("reopenAppeal"), "[ФИО] звонила снова: [телефон]");
    let all = shown.data().to_string();
    assert!(!all.contains("345-67-89") && !all.contains("Анна Сергеевна"), "{all}");
    let before = app.audit_count("read.personalData").await;
    let token = app
        .gql(Some(&s.admin), "mutation{createApiToken(input:{name:\"r\",scopes:[APPEALS_READ]}){secret}}", json!({}))
        .await;
    let read = token.data()["createApiToken"]["secret"].as_str().unwrap().to_string();
    let by_token = app.gql(Some(&read), get, json!({"id": id})).await.data().to_string();
    assert!(!by_token.contains("345-67-89") && !by_token.contains("Анна Сергеевна"), "{by_token}");
    assert_eq!(app.audit_count("read.personalData").await, before, "masked reads are not audited");

    // The curator handles it: the originals, audited once per request.
    let handled = app.gql(Some(&s.curator), "query($id:ID!){appeal(id:$id){events{comment}}}", json!({"id": id})).await;
    assert!(handled.data().to_string().contains("Петрова Анна Сергеевна, тел. 8-912-345-67-89"));
    assert_eq!(app.audit_count("read.personalData").await, before + 1);
}

/// Two processes that check at the same moment whether the day's retention run is due: one
/// claims the day and runs it, the other skips it; one run entry in the audit log. The next
/// local day is run again.
#[tokio::test]
async fn two_processes_run_the_days_retention_once() {
    let app = spawn_years().await;
    app.set_now("2021-03-01T10:00:00+07:00");
    let s = app.staff().await;
    for i in 0..3 {
        let (id, v, _) =
            app.appeal(&s.curator, json!({"kind": "APPEAL", "channel": "EMAIL", "text": format!("Яма {i}")})).await;
        app.act(&s.curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": v})).await.data();
        let assign = json!({"id": id, "version": v + 1, "recipientId": s.recipient});
        app.act(&s.curator, "assignAppeal", "AssignAppealInput", assign).await.data();
        let answer = json!({"id": id, "version": v + 2, "text": "Засыпали"});
        app.act(&s.curator, "answerAppeal", "AnswerAppealInput", answer).await.data();
        app.act(&s.curator, "closeAppeal", "AppealActionInput", json!({"id": id, "version": v + 3})).await.data();
    }
    let other = app.second_process().await;
    app.set_now("2027-03-02T10:00:00+07:00");
    other.set_now("2027-03-02T10:00:00+07:00");
    let (a, b) = tokio::join!(mcu::jobs::retention::run_due(&app.state), mcu::jobs::retention::run_due(&other.state));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(usize::from(a.is_some()) + usize::from(b.is_some()), 1, "exactly one process runs the day");
    assert_eq!(a.or(b).unwrap().numbers.len(), 3);
    let runs = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("privacy.retain"))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "one run entry for the day");
    assert!(mcu::jobs::retention::run_due(&other.state).await.unwrap().is_none(), "the day is done");
    app.set_now("2027-03-03T00:10:00+07:00");
    assert!(mcu::jobs::retention::run_due(&app.state).await.unwrap().is_some(), "the next local day runs");
}
