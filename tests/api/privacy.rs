//! Personal data over its whole life (issue 19, items 6–7): the retention run across a year
//! boundary in the municipality's zone (UTC+7) with a frozen clock, its dry run, its second
//! run, analytics before and after, open appeals, and the subject's rights (find, export,
//! erase) with their refusals and audit entries.

use serde_json::{Value, json};

use crate::helpers::{Staff, TestApp, spawn_app, spawn_app_with};
use mcu::entity::{appeal, appeal_answer, appeal_event, audit_log};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

/// Long-lived access tokens: the clock jumps five years.
async fn spawn_years(change: impl FnOnce(&mut mcu::config::SettingsArgs)) -> TestApp {
    spawn_app_with(|a| {
        a.access_ttl_secs = 7 * 366 * 86_400;
        change(a);
    })
    .await
}

/// Creates an appeal now, registers, assigns and answers it, then closes it at `close_at`
/// (versions 1 → 5) with `comment`. Returns its id and number.
async fn closed(
    app: &TestApp,
    s: &Staff,
    input: Value,
    answer: &str,
    close_at: &str,
    comment: &str,
) -> (String, String) {
    let mut i = json!({"kind": "APPEAL", "channel": "EMAIL"});
    for (k, v) in input.as_object().unwrap() {
        i[k] = v.clone();
    }
    let (id, _, _) = app.appeal(&s.curator, i).await;
    app.act(&s.curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
    let assign = json!({"id": id, "version": 2, "recipientId": s.recipient});
    app.act(&s.curator, "assignAppeal", "AssignAppealInput", assign).await.data();
    app.act(&s.curator, "answerAppeal", "AnswerAppealInput", json!({"id": id, "version": 3, "text": answer}))
        .await
        .data();
    app.set_now(close_at);
    let close = json!({"id": id, "version": 4, "comment": comment});
    app.act(&s.curator, "closeAppeal", "AppealActionInput", close).await.data();
    (id.clone(), number(app, &id).await)
}

async fn number(app: &TestApp, id: &str) -> String {
    row(app, id).await.number
}

async fn row(app: &TestApp, id: &str) -> appeal::Model {
    appeal::Entity::find_by_id(id.parse::<i64>().unwrap()).one(&app.state.db).await.unwrap().unwrap()
}

async fn all_rows(app: &TestApp) -> Vec<appeal::Model> {
    appeal::Entity::find().order_by_asc(appeal::Column::Id).all(&app.state.db).await.unwrap()
}

async fn audit(app: &TestApp, action: &str) -> Vec<audit_log::Model> {
    audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq(action))
        .order_by_asc(audit_log::Column::Id)
        .all(&app.state.db)
        .await
        .unwrap()
}

const ANALYTICS: &str = "query($p:PeriodInput!){ analytics {
  summary(period:$p) { total byChannel { key count } byKind { key count } byStatus { key count } answered answeredOnTime onTimeRate medianResponseHours satisfiedRate fullAnswerRate reopenedRate }
  recipientRating(period:$p) { recipient { id } rank total hasVolume onTimeRate fullAnswerRate satisfiedRate reopenedRate medianResponseHours score enoughData }
  geoCells(period:$p) { cell count topCategory { id } }
} }";

async fn search(app: &TestApp, token: &str, words: &str) -> Vec<String> {
    let r = app
        .gql(
            Some(token),
            "query($s:String!){ appeals(first:50, filter:{search:$s}) { edges { node { id } } } }",
            json!({"s": words}),
        )
        .await;
    r.data()["appeals"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
#[allow(clippy::many_single_char_names)]
async fn retention_keeps_an_appeal_through_its_last_local_day_and_anonymises_it_on_the_next() {
    // One appeal per transaction: the runs below take two and one batches.
    let app = spawn_years(|a| a.retention_batch = 1).await;
    app.set_now("2021-03-01T10:00:00+07:00");
    let s = app.staff().await;
    let district = app.territory(&s.admin, "Сорск", None).await;
    let lights = app.category(&s.curator, "ЖКХ").await;
    let place = |extra: Value| {
        let mut v = json!({"categoryId": lights, "territoryId": district, "latitude": 56.0101, "longitude": 92.8701});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    // F: closed 1 March 2021, no author; a phone in its text.
    let (f, _) = closed(
        &app,
        &s,
        place(json!({"text": "Не горит фонарь, звоните 8-913-000-11-22"})),
        "Фонарь заменён",
        "2021-03-01T12:00:00+07:00",
        "Закрыто",
    )
    .await;
    // E: closed 1 June 2021.
    app.set_now("2021-06-01T09:00:00+07:00");
    let (e, _) = closed(
        &app,
        &s,
        place(json!({"text": "Яма во дворе", "authorName": "Пётр Иванов", "authorContact": "petr@mail.ru"})),
        "Яму засыпали",
        "2021-06-01T12:00:00+07:00",
        "Закрыто",
    )
    .await;
    // A: closed 31 December 2021, 20:00 local (13:00 UTC).
    app.set_now("2021-12-31T09:00:00+07:00");
    let (a, a_number) = closed(
        &app,
        &s,
        place(json!({
            "text": "Я, Иван Петров, прошу починить фонарь. Тел. 8-912-345-67-89",
            "authorName": "Иван Петров",
            "authorContact": "ivan.petrov@mail.ru",
            "address": "ул. Ленина, д. 5, кв. 12",
            "summary": "Фонарь, заявитель Иван Петров"
        })),
        "Уважаемый Иван Петров! Фонарь починим.",
        "2021-12-31T20:00:00+07:00",
        "Звонил Иван Петров, тел. 8-912-345-67-89",
    )
    .await;
    // B: closed 1 January 2022, 01:00 local — still 31 December in UTC.
    app.set_now("2021-12-31T21:00:00+07:00");
    let (b, _) = closed(
        &app,
        &s,
        place(json!({"text": "Шумят соседи", "authorName": "Анна Сидорова", "authorContact": "+7 913 111-22-33"})),
        "Направлено участковому",
        "2022-01-01T01:00:00+07:00",
        "Закрыто",
    )
    .await;
    // C: open since 2021, never closed.
    app.set_now("2021-02-01T10:00:00+07:00");
    let (c, _, _) = app
        .appeal(&s.curator, place(json!({"kind": "APPEAL", "channel": "POST", "text": "Ответьте, Иван Петров", "authorName": "Иван Петров", "authorContact": "ivan.petrov@mail.ru"})))
        .await;
    app.act(&s.curator, "registerAppeal", "AppealActionInput", json!({"id": c, "version": 1})).await.data();

    app.set_now("2026-12-31T23:30:00+07:00");
    let period = json!({"p": {"from": "2021-01-01", "to": "2022-12-31"}});
    let before = app.gql(Some(&s.curator), ANALYTICS, period.clone()).await.data().clone();
    // Counted by hand: five appeals received in 2021, four of them answered.
    assert_eq!(before["analytics"]["summary"]["total"], 5, "{before}");
    assert_eq!(before["analytics"]["summary"]["answered"], 4, "{before}");
    let mut found = search(&app, &s.curator, "Петров").await;
    found.sort();
    let mut a_and_c = vec![a.clone(), c.clone()];
    a_and_c.sort();
    assert_eq!(found, a_and_c);

    // The dry run lists and changes nothing, the audit trail included.
    let rows = all_rows(&app).await;
    let audit_before = audit_log::Entity::find().all(&app.state.db).await.unwrap().len();
    let dry = mcu::jobs::retention::pass(&app.state, true).await.unwrap();
    assert_eq!(dry.numbers, vec![number(&app, &f).await, number(&app, &e).await], "on 31 December only F and E");
    app.set_now("2027-01-01T00:30:00+07:00");
    let dry = mcu::jobs::retention::pass(&app.state, true).await.unwrap();
    assert_eq!(dry.numbers, vec![number(&app, &f).await, number(&app, &e).await, a_number.clone()]);
    // The command line's dry run says the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcu"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.state.settings.database_url)
        .env("MCU_JWT_SECRET", "test-secret-that-is-long-enough-0123456789")
        .env("RUST_LOG", "warn")
        .args(["privacy", "retain", "--dry-run", "--now", "2027-01-01T00:30:00+07:00"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("would anonymise 3 closed appeals"), "{stdout}");
    assert!(stdout.lines().any(|l| l == a_number), "{stdout}");
    assert_eq!(all_rows(&app).await, rows, "a dry run changes no appeal");
    assert_eq!(audit_log::Entity::find().all(&app.state.db).await.unwrap().len(), audit_before, "nor the audit trail");

    // 31 December 2026, 23:30 local: A (closed 31 December 2021) is kept through this day.
    app.set_now("2026-12-31T23:30:00+07:00");
    let run = mcu::jobs::retention::pass(&app.state, false).await.unwrap();
    assert_eq!(run.numbers.len(), 2);
    assert_eq!(run.batches, 2, "one appeal per transaction");
    assert!(row(&app, &a).await.author_name.is_some());
    assert!(row(&app, &e).await.author_name.is_none());
    assert!(row(&app, &f).await.anonymised_at.is_some());

    // 1 January 2027, 00:30 local (still 31 December in UTC): A goes, B (closed 1 January
    // 2022 local, 31 December in UTC) stays.
    app.set_now("2027-01-01T00:30:00+07:00");
    let c_before = row(&app, &c).await;
    let run = mcu::jobs::retention::pass(&app.state, false).await.unwrap();
    assert_eq!(run.numbers, vec![a_number.clone()]);
    let ra = row(&app, &a).await;
    assert_eq!((ra.author_name.as_deref(), ra.author_contact.as_deref()), (None, None));
    assert_eq!(ra.text, "Я, [удалено], прошу починить фонарь. Тел. [телефон]");
    assert_eq!(ra.address.as_deref(), Some("ул. Ленина, д. 5"), "street and house stay, the flat goes");
    assert_eq!(ra.summary.as_deref(), Some("Фонарь, заявитель [удалено]"));
    assert_eq!(ra.answer_text.as_deref(), Some("Уважаемый [удалено]! Фонарь починим."));
    assert_eq!((ra.version, ra.status.as_str()), (6, "CLOSED"));
    assert!(ra.anonymised_at.is_some());
    assert_eq!(
        (ra.latitude, ra.longitude, ra.category_id),
        (Some(56.0101), Some(92.8701), Some(lights.parse().unwrap()))
    );
    let answers = appeal_answer::Entity::find()
        .filter(appeal_answer::Column::AppealId.eq(ra.id))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].text.as_deref(), Some("Уважаемый [удалено]! Фонарь починим."));
    let history = appeal_event::Entity::find()
        .filter(appeal_event::Column::AppealId.eq(ra.id))
        .order_by_asc(appeal_event::Column::Id)
        .all(&app.state.db)
        .await
        .unwrap();
    let close = history.iter().find(|h| h.action == "closeAppeal").unwrap();
    assert_eq!(close.comment.as_deref(), Some("Звонил [удалено], тел. [телефон]"));
    let last = history.last().unwrap();
    assert_eq!((last.action.as_str(), last.actor.as_str()), ("anonymiseAppeal", "system"));
    assert!(row(&app, &b).await.author_name.is_some(), "B is kept until 1 January 2027 ends");
    assert_eq!(row(&app, &c).await, c_before, "an open appeal is never touched");

    // Idempotent: a second run finds nothing and changes nothing.
    let rows = all_rows(&app).await;
    let run = mcu::jobs::retention::pass(&app.state, false).await.unwrap();
    assert!(run.numbers.is_empty());
    assert_eq!(all_rows(&app).await, rows);

    // Analytics unchanged; the search index follows the text.
    let after = app.gql(Some(&s.curator), ANALYTICS, period).await.data().clone();
    assert_eq!(after, before);
    assert_eq!(search(&app, &s.curator, "Петров").await, vec![c.clone()]);
    assert_eq!(search(&app, &s.curator, "фонарь").await.len(), 2, "what is not personal is still found");
    let shown = app
        .gql(Some(&s.curator), "query($id:ID!){appeal(id:$id){authorName authorContact text}}", json!({"id": a}))
        .await;
    assert_eq!(shown.data()["appeal"]["authorName"], Value::Null);

    // Audited: one entry per run (three real runs) with its counts, one per appeal.
    let runs = audit(&app, "privacy.retain").await;
    let counts: Vec<i64> = runs
        .iter()
        .map(|r| serde_json::from_str::<Value>(r.data.as_deref().unwrap()).unwrap()["appeals"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, vec![2, 1, 0]);
    assert!(runs.iter().all(|r| r.actor == "system"));
    let per_appeal: Vec<String> = audit(&app, "anonymiseAppeal").await.into_iter().filter_map(|r| r.target).collect();
    assert_eq!(per_appeal, vec![format!("appeal:{f}"), format!("appeal:{e}"), format!("appeal:{a}")]);
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn the_server_runs_retention_once_a_local_day() {
    let app = spawn_years(|a| a.retention_check_secs = 1).await;
    app.set_now("2027-01-01T10:00:00+07:00");
    let wait_for = |n: usize| {
        let app = &app;
        async move {
            for _ in 0..50 {
                if audit(app, "privacy.retain").await.len() >= n {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("no retention run {n}");
        }
    };
    wait_for(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(audit(&app, "privacy.retain").await.len(), 1, "once a day");
    app.set_now("2027-01-02T00:10:00+07:00");
    wait_for(2).await;
}

/// The subject's appeals: two of Иван Петров (one still open), one of Анна Сидорова.
async fn subject_fixture(app: &TestApp, s: &Staff) -> (String, String, String) {
    app.set_now("2026-11-02T10:00:00+07:00");
    let (x1, _) = closed(
        app,
        s,
        json!({"text": "Прошу убрать мусор", "authorName": "Иван Петров", "authorContact": "Ivan.Petrov@mail.ru"}),
        "Убрали",
        "2026-11-03T10:00:00+07:00",
        "Закрыто",
    )
    .await;
    let (x2, _, _) = app
        .appeal(&s.curator, json!({"kind": "APPEAL", "channel": "POST", "text": "Снова мусор", "authorName": "петров  Иван", "authorContact": "ivan.petrov@mail.ru, 8 (912) 345-67-89"}))
        .await;
    app.act(&s.curator, "registerAppeal", "AppealActionInput", json!({"id": x2, "version": 1})).await.data();
    let (y, _) = closed(
        app,
        s,
        json!({"text": "Шумят соседи", "authorName": "Анна Сидорова", "authorContact": "+7 913 111-22-33"}),
        "Направлено участковому",
        "2026-11-04T10:00:00+07:00",
        "Закрыто",
    )
    .await;
    (x1, x2, y)
}

const FIND: &str = "query($c:String,$n:String){ personalDataSubject(contact:$c, name:$n) { appealCount appeals { id number authorName authorContact text answers } pollBallots staffAccounts jsonUrl docxUrl } }";
const ERASE: &str = "mutation($i:ErasePersonalDataInput!){ erasePersonalData(input:$i) { appealsAnonymised numbers } }";

fn ids(r: &Value) -> Vec<String> {
    let mut v: Vec<String> = r["personalDataSubject"]["appeals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_subject_is_found_exported_and_erased_on_request() {
    let app = spawn_years(|_| {}).await;
    app.set_now("2026-11-02T10:00:00+07:00");
    let s = app.staff().await;
    let (x1, x2, y) = subject_fixture(&app, &s).await;
    app.set_now("2026-12-01T10:00:00+07:00");
    let mut both = vec![x1.clone(), x2.clone()];
    both.sort();

    // Found by contact (case), by phone (digits), by name (order, case), by both.
    let reads = app.audit_count("read.personalData").await;
    let r = app.gql(Some(&s.curator), FIND, json!({"c": " IVAN.petrov@MAIL.ru "})).await;
    assert_eq!(ids(r.data()), both);
    assert_eq!(r.data()["personalDataSubject"]["appealCount"], 2);
    assert_eq!(r.data()["personalDataSubject"]["pollBallots"], 0);
    assert_eq!(app.audit_count("read.personalData").await, reads + 1, "the read is audited");
    let r = app.gql(Some(&s.curator), FIND, json!({"c": "+7 912 345 67 89"})).await;
    assert_eq!(ids(r.data()), vec![x2.clone()]);
    let r = app.gql(Some(&s.curator), FIND, json!({"n": "ИВАН петров"})).await;
    assert_eq!(ids(r.data()), both);
    let r = app.gql(Some(&s.curator), FIND, json!({"c": "8-913-111-22-33", "n": "Анна Сидорова"})).await;
    assert_eq!(ids(r.data()), vec![y.clone()]);
    let r = app.gql(Some(&s.curator), FIND, json!({"c": "ivan.petrov@mail.ru", "n": "Анна Сидорова"})).await;
    assert_eq!(ids(r.data()), Vec::<String>::new(), "both given: an appeal must hold both");
    let audit_entry = audit(&app, "read.personalData").await.pop().unwrap();
    assert!(!audit_entry.data.unwrap_or_default().contains("ivan"), "the audit trail does not keep the query");

    // Bad requests name their field.
    for (vars, path) in [(json!({}), "contact"), (json!({"c": "Ленина, 5"}), "contact"), (json!({"n": " - "}), "name")]
    {
        let r = app.gql(Some(&s.curator), FIND, vars).await;
        assert_eq!((r.code(), r.field_paths()), ("BAD_USER_INPUT".to_string(), vec![path.to_string()]));
    }

    // Exports, with the caller's token.
    let r = app.gql(Some(&s.curator), FIND, json!({"c": "ivan.petrov@mail.ru"})).await;
    let urls = r.data()["personalDataSubject"].clone();
    assert_eq!(urls["jsonUrl"], "/exports/subject.json?contact=ivan.petrov%40mail.ru");
    let resp = app
        .client
        .get(format!("{}{}", app.base, urls["jsonUrl"].as_str().unwrap()))
        .bearer_auth(&s.curator)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["appeals"].as_array().unwrap().len(), 2);
    assert_eq!(doc["appeals"][0]["authorContact"], "Ivan.Petrov@mail.ru");
    assert_eq!(doc["appeals"][0]["answers"][0]["text"], "Убрали");
    let resp = app
        .client
        .get(format!("{}{}", app.base, urls["docxUrl"].as_str().unwrap()))
        .bearer_auth(&s.curator)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    );
    let bytes = resp.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("word/document.xml").unwrap(), &mut xml).unwrap();
    assert!(xml.contains("Прошу убрать мусор") && xml.contains("Снова мусор"));

    // Erasure: refused while an appeal is open, and nothing changes.
    let erase = |reason: &str| json!({"i": {"contact": "ivan.petrov@mail.ru", "reason": reason}});
    let rows = all_rows(&app).await;
    let r = app.gql(Some(&s.curator), ERASE, erase("Заявление от 01.12.2026 № 15")).await;
    assert_eq!(r.code(), "CONFLICT");
    assert!(r.message().contains(&number(&app, &x2).await), "{}", r.message());
    assert_eq!(all_rows(&app).await, rows);
    let r = app.gql(Some(&s.curator), ERASE, erase("  ")).await;
    assert_eq!(r.field_paths(), vec!["input.reason"]);
    let r = app.gql(Some(&s.curator), ERASE, json!({"i": {"reason": "x"}})).await;
    assert_eq!(r.field_paths(), vec!["input.contact"]);

    // Once closed, both are anonymised; the other person's appeal is not.
    app.act(
        &s.curator,
        "redirectAppeal",
        "RedirectAppealInput",
        json!({"id": x2, "version": 2, "externalBody": "Прокуратура"}),
    )
    .await
    .data();
    app.act(&s.curator, "closeAppeal", "AppealActionInput", json!({"id": x2, "version": 3})).await.data();
    let y_before = row(&app, &y).await;
    let r = app.gql(Some(&s.curator), ERASE, erase("Заявление от 01.12.2026 № 15")).await;
    assert_eq!(r.data()["erasePersonalData"]["appealsAnonymised"], 2);
    for id in [&x1, &x2] {
        let a = row(&app, id).await;
        assert!(a.author_name.is_none() && a.author_contact.is_none() && a.anonymised_at.is_some(), "{a:?}");
    }
    assert_eq!(row(&app, &y).await, y_before);
    let mails = mcu::entity::delivery::Entity::find()
        .filter(mcu::entity::delivery::Column::Target.eq(format!("author:{x1}")))
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(!mails.is_empty(), "the answer was mailed to the author");
    assert!(
        mails
            .iter()
            .all(|m| !m.payload.to_lowercase().contains("ivan") && !m.payload.to_lowercase().contains("петров")),
        "{mails:?}"
    );
    let entry = audit(&app, "erasePersonalData").await.pop().unwrap();
    assert!(entry.actor.starts_with(&format!("user:{}", s.curator_id)), "{}", entry.actor);
    let data: Value = serde_json::from_str(entry.data.as_deref().unwrap()).unwrap();
    assert_eq!(data["reason"], "Заявление от 01.12.2026 № 15");
    assert_eq!(data["count"], 2);
    assert_eq!(entry.at.to_rfc3339(), "2026-12-01T03:00:00+00:00");
    assert_eq!(audit(&app, "anonymiseAppeal").await.len(), 2);

    // Nothing is left to find or to erase.
    let r = app.gql(Some(&s.curator), FIND, json!({"c": "ivan.petrov@mail.ru"})).await;
    assert_eq!(r.data()["personalDataSubject"]["appealCount"], 0);
    let r = app.gql(Some(&s.curator), ERASE, erase("Повторное заявление")).await;
    assert_eq!(r.data()["erasePersonalData"]["appealsAnonymised"], 0);
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn subject_rights_are_refused_to_every_other_role_and_token() {
    let app = spawn_app().await;
    let s = app.staff().await;
    let city = app.territory(&s.admin, "Сорск", None).await;
    let (_, local_curator) = app.user_with(&s.admin, &["CURATOR"], json!({"territoryId": city})).await;
    let mut tokens = Vec::new();
    for scope in ["ANALYTICS_READ", "APPEALS_INGEST", "APPEALS_READ", "CUR_REQUESTS"] {
        let q = format!("mutation{{createApiToken(input:{{name:\"{scope}\",scopes:[{scope}]}}){{secret}}}}");
        tokens.push(
            app.gql(Some(&s.admin), &q, json!({})).await.data()["createApiToken"]["secret"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let find = json!({"c": "ivan@mail.ru"});
    let erase = json!({"i": {"contact": "ivan@mail.ru", "reason": "Заявление"}});
    let mut refused = vec![&s.admin, &s.coordinator, &s.executor, &s.head, &local_curator];
    refused.extend(tokens.iter());
    for token in refused {
        assert_eq!(app.gql(Some(token), FIND, find.clone()).await.code(), "FORBIDDEN");
        assert_eq!(app.gql(Some(token), ERASE, erase.clone()).await.code(), "FORBIDDEN");
        let resp = app
            .client
            .get(format!("{}/exports/subject.json?contact=ivan%40mail.ru", app.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 403);
    }
    assert_eq!(app.gql(None, FIND, find).await.code(), "UNAUTHENTICATED");
    assert_eq!(app.gql(None, ERASE, erase).await.code(), "UNAUTHENTICATED");
    let resp =
        app.client.get(format!("{}/exports/subject.docx?contact=ivan%40mail.ru", app.base)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(app.audit_count("erasePersonalData").await, 0);
    assert_eq!(
        app.gql(Some(&s.curator), FIND, json!({"c": "ivan@mail.ru"})).await.data()["personalDataSubject"]["appealCount"],
        0
    );
}

#[tokio::test]
async fn the_retention_migration_rolls_back_and_reapplies() {
    use migration::MigratorTrait;
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app().await;
    let db = &app.state.db;
    let marker = || async {
        db.query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT anonymised_at FROM appeals")).await
    };
    assert!(marker().await.is_ok());
    // This migration and any later one.
    let migrations = migration::Migrator::migrations();
    let n = migrations.iter().rev().position(|m| m.name() == "m20261230_000001_retention").unwrap() + 1;
    migration::Migrator::down(db, Some(u32::try_from(n).unwrap())).await.unwrap();
    assert!(marker().await.is_err(), "the column is gone after down");
    migration::Migrator::up(db, None).await.unwrap();
    assert!(marker().await.is_ok());
}

/// Retention deletes what was attached to an appeal with its personal data: the author's
/// photo and the answer's letter, rows and stored files (issue 19: "attachments deleted").
#[tokio::test]
async fn retention_deletes_the_files_attached_to_an_anonymised_appeal() {
    let app = spawn_years(|_| {}).await;
    app.set_now("2020-06-01T10:00:00+07:00");
    let s = app.staff().await;
    let (id, _, _) = app
        .appeal(
            &s.curator,
            json!({"kind": "APPEAL", "channel": "EMAIL", "text": "Фото ямы во вложении", "authorName": "Иван Петров"}),
        )
        .await;
    app.act(&s.curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
    let assign = json!({"id": id, "version": 2, "recipientId": s.recipient});
    app.act(&s.curator, "assignAppeal", "AssignAppealInput", assign).await.data();
    let target = format!("appeal:{id}");
    for (role, name) in [(None, "Фото.pdf"), (Some("ANSWER"), "Ответ за подписью.pdf")] {
        let r = crate::attachments::upload(&app, Some(&s.curator), &target, role, name, &crate::attachments::pdf(500))
            .await;
        assert!(r.get("errors").is_none(), "{r}");
    }
    assert_eq!(crate::attachments::stored_files(&app).await, 2);
    let v = app
        .act(
            &s.curator,
            "answerAppeal",
            "AnswerAppealInput",
            json!({"id": id, "version": 3, "text": "Отремонтировано"}),
        )
        .await
        .data()["r"]["version"]
        .as_i64()
        .unwrap();
    app.set_now("2020-06-10T12:00:00+07:00");
    app.act(&s.curator, "closeAppeal", "AppealActionInput", json!({"id": id, "version": v})).await.data();
    let files = |app: &TestApp| {
        let db = app.state.db.clone();
        async move { mcu::entity::attachment::Entity::find().all(&db).await.unwrap().len() }
    };
    assert_eq!(files(&app).await, 2);

    // Five years later the run keeps them (the last local day of the term)...
    app.set_now("2025-06-10T23:00:00+07:00");
    let kept = mcu::jobs::retention::pass(&app.state, false).await.unwrap();
    assert_eq!((kept.numbers.len(), kept.files), (0, 0));
    assert_eq!(files(&app).await, 2);
    // ...and the next day deletes the rows and the stored files with the personal data.
    app.set_now("2025-06-11T00:30:00+07:00");
    let done = mcu::jobs::retention::pass(&app.state, false).await.unwrap();
    assert_eq!((done.numbers.len(), done.files), (1, 2));
    assert_eq!(files(&app).await, 0);
    assert_eq!(crate::attachments::stored_files(&app).await, 0, "the files are gone from the storage too");
    let listed = app.gql(Some(&s.curator), "query($id:ID!){appeal(id:$id){attachments{id}}}", json!({"id": id})).await;
    assert_eq!(listed.data()["appeal"]["attachments"], json!([]));
}

/// The subject export takes the person in a POST body (JSON or a form), so the contact stays
/// out of URLs and proxy logs: the same files, the same rule and audit as `GET`; a body of
/// another media type or shape is `BAD_USER_INPUT` naming `body`; a refused caller is refused
/// before the body is read.
#[tokio::test]
async fn the_subject_export_takes_the_person_in_a_post_body() {
    let app = spawn_years(|_| {}).await;
    let s = app.staff().await;
    subject_fixture(&app, &s).await;
    let before = app.audit_count("read.personalData").await;
    let post = |file: &str, token: Option<&str>, kind: &str, body: String| {
        let mut req =
            app.client.post(format!("{}/exports/{file}", app.base)).header("content-type", kind.to_string()).body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };

    let resp = post(
        "subject.json",
        Some(&s.curator),
        "application/json",
        json!({"contact": "ivan.petrov@mail.ru"}).to_string(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["appeals"].as_array().unwrap().len(), 2, "{doc}");
    let form = "contact=ivan.petrov%40mail.ru&name=%D0%98%D0%B2%D0%B0%D0%BD+%D0%9F%D0%B5%D1%82%D1%80%D0%BE%D0%B2";
    let resp = post("subject.docx", Some(&s.curator), "application/x-www-form-urlencoded; charset=utf-8", form.into())
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    );
    assert_eq!(app.audit_count("read.personalData").await, before + 2, "each export is a read of personal data");

    for (kind, body) in [
        ("text/plain", "contact=ivan.petrov@mail.ru".to_string()),
        ("application/json", json!({"contact": 5}).to_string()),
        ("application/json", "[".to_string()),
        ("application/json", json!({"contact": "x".repeat(20_000)}).to_string()),
    ] {
        let resp = post("subject.json", Some(&s.curator), kind, body).await.unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{kind}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        assert!(err["errors"][0]["message"].as_str().unwrap().contains("body"), "{err}");
    }
    // Neither contact nor name: the service's own refusal.
    let resp = post("subject.json", Some(&s.curator), "application/json", "{}".into()).await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    // Refused callers, whatever the body.
    let body = json!({"contact": "ivan.petrov@mail.ru"}).to_string();
    for token in [&s.head, &s.admin, &s.coordinator] {
        let resp = post("subject.json", Some(token), "text/plain", body.clone()).await.unwrap();
        assert_eq!(resp.status().as_u16(), 403);
    }
    assert_eq!(post("subject.json", None, "application/json", body).await.unwrap().status().as_u16(), 401);
    assert_eq!(app.audit_count("read.personalData").await, before + 2);
}
