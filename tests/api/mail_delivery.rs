//! E-mail that the centre sends on its own, over a real SMTP server (tests/smtp_sink.py):
//! notifications to staff at once or in the daily digest, the notices 59-ФЗ requires to the
//! author (or a task to post them), the weekly memo to the Head; retries, dead letters, and
//! nothing for a change that rolled back.

use std::time::Duration;

use mcu::jobs::{dispatcher, mail, watch};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::{Staff, TestApp, spawn_app_with};
use crate::smtp::SmtpSink;
use crate::watch::assigned_message;

const WAIT: Duration = Duration::from_secs(10);

async fn mail_app(sink: &SmtpSink, change: impl FnOnce(&mut mcu::config::SettingsArgs)) -> TestApp {
    let url = sink.url();
    spawn_app_with(|a| {
        a.smtp_url = Some(url);
        a.mail_from = Some("МЦУ <mcu@city.test>".into());
        a.access_ttl_secs = 400 * 86_400;
        change(a);
    })
    .await
}

async fn email_of(app: &TestApp, token: &str) -> String {
    app.gql(Some(token), "{ me { email } }", json!({})).await.data()["me"]["email"].as_str().unwrap().to_string()
}

async fn set_mail(app: &TestApp, token: &str, kind: &str, email: &str) {
    let q = "mutation($i:[NotificationSettingInput!]!){ updateNotificationSettings(input:$i){ kind email } }";
    app.gql(Some(token), q, json!({"i": [{"kind": kind, "email": email}]})).await.data();
}

fn to_of(m: &Value) -> String {
    m["to"][0].as_str().unwrap().to_string()
}

/// Mail rows in the queue (any status), read directly.
async fn mail_rows(conn: &impl sea_orm::ConnectionTrait) -> u64 {
    use mcu::entity::delivery;
    delivery::Entity::find().filter(delivery::Column::Channel.eq("MAIL")).count(conn).await.unwrap()
}

#[tokio::test]
async fn staff_get_notifications_by_email_at_once_or_once_a_day_in_the_digest() {
    let sink = SmtpSink::start(0);
    let app = mail_app(&sink, |_| {}).await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    let id = assigned_message(&app, &s, json!({"authorName": "Иван Петров"})).await;
    let number = app
        .gql(Some(&s.coordinator), "query($id:ID!){appeal(id:$id){number}}", json!({"id": id}))
        .await
        .data()["appeal"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let (executor, coordinator) = (email_of(&app, &s.executor).await, email_of(&app, &s.coordinator).await);
    let other_executor = email_of(&app, &s.other_executor).await;
    set_mail(&app, &s.executor, "APPEAL_DUE_SOON", "IMMEDIATE").await;
    set_mail(&app, &s.other_executor, "APPEAL_DUE_SOON", "IMMEDIATE").await;
    set_mail(&app, &s.coordinator, "APPEAL_OVERDUE", "DAILY_DIGEST").await;
    set_mail(&app, &s.executor, "APPEAL_OVERDUE", "DAILY_DIGEST").await;

    // Due soon: the executor of the recipient, who asked for it at once, gets one e-mail.
    app.set_now("2026-12-21T10:00:00+07:00");
    assert_eq!(watch::pass(&app.state).await.unwrap().due_soon, 1);
    dispatcher::pass(&app.state).await.unwrap();
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(to_of(m), executor);
    assert_eq!(m["subject"], format!("МЦУ: истекает срок по обращению № {number}"));
    let body = m["body"].as_str().unwrap();
    assert!(body.contains(&format!("Сообщение № {number}: срок ответа истекает 21.12.2026 в 23:59")), "{body}");
    assert!(!body.contains("Иван"), "no personal data in a notification: {body}");

    // Overdue: both chose the digest, so nothing is sent now.
    app.set_now("2026-12-22T10:00:00+07:00");
    assert_eq!(watch::pass(&app.state).await.unwrap().overdue, 1);
    dispatcher::pass(&app.state).await.unwrap();
    // Before the digest's time nothing is due.
    assert_eq!(mail::digest_pass(&app.state).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1, "no single e-mail for a kind sent in the digest");

    // 08:00 the next morning: one digest each for the two, made once.
    app.set_now("2026-12-23T08:00:00+07:00");
    let second = app.second_process().await;
    assert_eq!(mail::digest_pass(&app.state).await.unwrap(), 2);
    assert_eq!(mail::digest_pass(&second.state).await.unwrap(), 0, "another process makes no second digest");
    assert_eq!(mail::digest_pass(&app.state).await.unwrap(), 0);
    let got = sink.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3, "{got:?}");
    let mut digests: Vec<&Value> = got[1..].iter().collect();
    digests.sort_by_key(|m| to_of(m));
    let mut expected = vec![executor.clone(), coordinator.clone()];
    expected.sort();
    assert_eq!(digests.iter().map(|m| to_of(m)).collect::<Vec<_>>(), expected);
    for d in &digests {
        assert_eq!(d["subject"], "МЦУ: сводка уведомлений за 22.12.2026 (1)");
        let body = d["body"].as_str().unwrap();
        assert!(body.contains(&format!("Сообщение № {number}: срок ответа истёк 21.12.2026 в 23:59")), "{body}");
        assert!(body.contains("22.12.2026 10:00"), "{body}");
    }
    assert!(got.iter().all(|m| to_of(m) != other_executor), "another recipient's executor is told nothing");
    // A day with nothing new: no digest.
    app.set_now("2026-12-24T08:00:00+07:00");
    assert_eq!(mail::digest_pass(&app.state).await.unwrap(), 0);
}

/// An APPEAL under 59-ФЗ by a known author, registered and assigned to the staff's recipient;
/// returns its id, version and number.
async fn assigned_appeal(app: &TestApp, s: &Staff, contact: &str) -> (String, i64, String) {
    let input = json!({"kind": "APPEAL", "channel": "POS", "text": "Прошу отремонтировать крышу дома по ул. Ленина, 5",
                       "authorName": "Иван Петров", "authorContact": contact});
    let (id, v, _) = app.appeal(&s.coordinator, input).await;
    app.act(&s.coordinator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": v})).await.data();
    let assign = json!({"id": id, "version": v + 1, "recipientId": s.recipient});
    app.act(&s.coordinator, "assignAppeal", "AssignAppealInput", assign).await.data();
    let read = app.gql(Some(&s.coordinator), "query($id:ID!){appeal(id:$id){number version}}", json!({"id": id})).await;
    let appeal = &read.data()["appeal"];
    (id, appeal["version"].as_i64().unwrap(), appeal["number"].as_str().unwrap().to_string())
}

const TASKS: &str = "query($id:ID!){appeal(id:$id){tasks{id kind text createdAt doneAt doneBy} events{action actor}}}";
const COMPLETE: &str = "mutation($id:ID!){completeAppealTask(id:$id){id doneAt doneBy}}";

#[tokio::test]
async fn the_author_is_told_of_an_extension_an_answer_and_a_redirection_by_email() {
    let sink = SmtpSink::start(0);
    let app = mail_app(&sink, |_| {}).await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    let (id, v, number) = assigned_appeal(&app, &s, " ivan.petrov@example.ru ").await;
    let ext = json!({"id": id, "version": v, "days": 10, "reason": "нужна экспертиза кровли"});
    app.act(&s.coordinator, "extendDeadline", "ExtendDeadlineInput", ext).await.data();
    let answer = "Кровля дома отремонтирована 10.12.2026.";
    app.act(&s.executor, "answerAppeal", "AnswerAppealInput", json!({"id": id, "version": v + 1, "text": answer}))
        .await
        .data();
    let (other, other_version, other_number) = assigned_appeal(&app, &s, "petrov@example.ru").await;
    let redirect = json!({"id": other, "version": other_version, "externalBody": "Министерство строительства края"});
    app.act(&s.coordinator, "redirectAppeal", "RedirectAppealInput", redirect).await.data();

    let got = sink.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3, "{got:?}");
    let find =
        |subject: &str| got.iter().find(|m| m["subject"] == subject).unwrap_or_else(|| panic!("{subject}: {got:?}"));
    let extended = find(&format!("Срок рассмотрения обращения № {number} продлён"));
    assert_eq!(to_of(extended), "ivan.petrov@example.ru");
    let body = extended["body"].as_str().unwrap();
    assert!(body.contains("Уважаемый(ая) Иван Петров!") && body.contains("частью 2 статьи 12"), "{body}");
    assert!(body.contains("от 07.12.2026") && body.contains("нужна экспертиза кровли"), "{body}");
    let answered = find(&format!("Ответ на обращение № {number}"));
    assert!(answered["body"].as_str().unwrap().contains(answer), "{answered}");
    let redirected = find(&format!("Ваше обращение № {other_number} направлено по компетенции"));
    assert_eq!(to_of(redirected), "petrov@example.ru");
    assert!(redirected["body"].as_str().unwrap().contains("Министерство строительства края"));
    assert_eq!(redirected["header_from"], "МЦУ <mcu@city.test>");
    // No task when the e-mail went out.
    let read = app.gql(Some(&s.coordinator), TASKS, json!({"id": id})).await;
    assert_eq!(read.data()["appeal"]["tasks"], json!([]));

    // A change that rolls back queues nothing and sends nothing.
    let (third, _, _) = assigned_appeal(&app, &s, "anna@example.ru").await;
    let before = mail_rows(&app.state.db).await;
    {
        use mcu::domain::effects::{Lookups, Step, effects};
        use mcu::store::appeals::{self as store, AppealId, Stamp};
        let st = &app.state;
        let txn = st.writer.begin().await.unwrap();
        let a = store::load(&txn, AppealId(third.parse().unwrap())).await.unwrap().unwrap();
        let terms = mcu::service::deadlines::Terms::load(st, &txn).await.unwrap();
        let step = Step::Extend { days: 5, reason: "проверка".into() };
        let change = effects(&step, &a, &Lookups::default(), &terms, st.clock.now()).unwrap();
        let stamp = Stamp { at: st.clock.now(), actor: "test", audit: None };
        store::save_change(&txn, st.settings.timezone, &a, change, stamp).await.unwrap();
        assert_eq!(mail_rows(&txn).await, before + 1, "the notice is queued in the change's transaction");
        txn.rollback().await.unwrap();
    }
    assert_eq!(mail_rows(&app.state.db).await, before);
    dispatcher::pass(&app.state).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 3, "nothing for the rolled-back change");
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn without_an_email_address_the_notice_becomes_a_task_done_by_those_who_work_on_the_appeal() {
    let sink = SmtpSink::start(0);
    let app = mail_app(&sink, |_| {}).await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    let (id, v, number) = assigned_appeal(&app, &s, "+7 913 555-12-34, ул. Ленина, 5, кв. 7").await;
    let ext = json!({"id": id, "version": v, "days": 10, "reason": "нужна экспертиза кровли"});
    app.act(&s.coordinator, "extendDeadline", "ExtendDeadlineInput", ext).await.data();
    dispatcher::pass(&app.state).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sink.messages().is_empty(), "no address, no e-mail");

    let r = app.gql(Some(&s.executor), TASKS, json!({"id": id})).await;
    let tasks = r.data()["appeal"]["tasks"].as_array().unwrap().clone();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let task = &tasks[0];
    assert_eq!(task["kind"], "POST_NOTICE");
    assert_eq!(task["doneAt"], Value::Null);
    let text = task["text"].as_str().unwrap();
    assert!(text.starts_with("Направить уведомление почтой"), "{text}");
    assert!(text.contains("ул. Ленина, 5, кв. 7") && text.contains(&format!("обращения № {number} продлён")), "{text}");
    // The Head reads the appeal masked and sees no task (it holds personal data).
    let r = app.gql(Some(&s.head), TASKS, json!({"id": id})).await;
    assert_eq!(r.data()["appeal"]["tasks"], json!([]));

    let task_id = task["id"].as_str().unwrap();
    // Who may see but not work on the appeal is refused, another recipient's executor finds
    // nothing, and a token or the anonymous caller cannot do it.
    assert_eq!(app.gql(Some(&s.head), COMPLETE, json!({"id": task_id})).await.code(), "FORBIDDEN");
    assert_eq!(app.gql(Some(&s.other_executor), COMPLETE, json!({"id": task_id})).await.code(), "NOT_FOUND");
    assert_eq!(app.gql(Some(&s.admin), COMPLETE, json!({"id": task_id})).await.code(), "FORBIDDEN");
    assert_eq!(app.gql(None, COMPLETE, json!({"id": task_id})).await.code(), "UNAUTHENTICATED");
    let r = app.gql(Some(&s.executor), COMPLETE, json!({"id": "x"})).await;
    assert_eq!((r.code(), r.field_paths()), ("BAD_USER_INPUT".to_string(), vec!["id".to_string()]));
    let r = app.gql(Some(&s.executor), TASKS, json!({"id": id})).await;
    assert_eq!(r.data()["appeal"]["tasks"][0]["doneAt"], Value::Null, "refusals changed nothing");

    // The executor of the appeal's recipient does it, once.
    let done = app.gql(Some(&s.executor), COMPLETE, json!({"id": task_id})).await;
    assert!(done.data()["completeAppealTask"]["doneAt"].is_string(), "{}", done.body);
    assert!(done.data()["completeAppealTask"]["doneBy"].is_string());
    assert_eq!(app.gql(Some(&s.executor), COMPLETE, json!({"id": task_id})).await.code(), "CONFLICT");
    let r = app.gql(Some(&s.coordinator), TASKS, json!({"id": id})).await;
    let events = r.data()["appeal"]["events"].as_array().unwrap();
    assert_eq!(events.last().unwrap()["action"], "completeAppealTask", "{events:?}");
    assert_eq!(app.audit_count("completeAppealTask").await, 1);
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn a_refused_email_is_sent_again_and_after_the_last_attempt_is_a_dead_letter_for_the_administrator() {
    const LIST: &str = "query($s:DeliveryStatus){ mailDeliveries(status:$s, first: 10) { totalCount edges { node {
        id recipient topic subject status attemptCount lastError attempts { number succeeded error } } } } }";
    // The first message is refused with 451: the second attempt delivers it.
    let sink = SmtpSink::start(1);
    let app = mail_app(&sink, |_| {}).await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    let (id, v, number) = assigned_appeal(&app, &s, "ivan@example.ru").await;
    let ext = json!({"id": id, "version": v, "days": 10, "reason": "экспертиза"});
    app.act(&s.coordinator, "extendDeadline", "ExtendDeadlineInput", ext).await.data();
    // The retry is due 200 ms after the refusal: let the frozen clock move on.
    let mut got = Vec::new();
    for _ in 0..100 {
        got = sink.messages();
        if !got.is_empty() {
            break;
        }
        app.state.clock.advance(chrono::Duration::milliseconds(500));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["subject"], format!("Срок рассмотрения обращения № {number} продлён"));
    // The sink has the message before the server hears its reply: wait until it is recorded.
    let mut r = app.gql(Some(&s.admin), LIST, json!({"s": "DELIVERED"})).await;
    for _ in 0..100 {
        if r.data()["mailDeliveries"]["totalCount"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        r = app.gql(Some(&s.admin), LIST, json!({"s": "DELIVERED"})).await;
    }
    let node = &r.data()["mailDeliveries"]["edges"][0]["node"];
    assert_eq!(node["recipient"], format!("author:{id}"));
    assert_eq!(node["topic"], "APPEAL_CHANGED");
    assert_eq!(node["attemptCount"], 2);
    assert_eq!(node["attempts"][0]["succeeded"], false);
    assert!(node["attempts"][0]["error"].as_str().unwrap().contains("451"), "{node}");
    assert_eq!(node["attempts"][1]["succeeded"], true);
    assert!(!r.body.to_string().contains("ivan@example.ru"), "the administrator never sees the author's address");

    // A server that refuses every time: dead after the third attempt, listed, sent again on request.
    let sink = SmtpSink::start(100);
    let app = mail_app(&sink, |_| {}).await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    let (id, v, _) = assigned_appeal(&app, &s, "ivan@example.ru").await;
    let ext = json!({"id": id, "version": v, "days": 10, "reason": "экспертиза"});
    app.act(&s.coordinator, "extendDeadline", "ExtendDeadlineInput", ext).await.data();
    let mut dead = json!(null);
    for _ in 0..100 {
        let r = app.gql(Some(&s.admin), LIST, json!({"s": "DEAD"})).await;
        if r.data()["mailDeliveries"]["totalCount"] == 1 {
            dead = r.data()["mailDeliveries"]["edges"][0]["node"].clone();
            break;
        }
        app.state.clock.advance(chrono::Duration::milliseconds(1500));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead["attemptCount"], 3, "{dead}");
    assert!(sink.messages().is_empty());
    for who in [&s.curator, &s.coordinator, &s.executor, &s.head] {
        assert_eq!(app.gql(Some(who), LIST, json!({})).await.code(), "FORBIDDEN");
        let r = app.gql(Some(who), "mutation($id:ID!){redeliverMail(id:$id){status}}", json!({"id": dead["id"]})).await;
        assert_eq!(r.code(), "FORBIDDEN");
    }
    let r = app
        .gql(Some(&s.admin), "mutation($id:ID!){redeliverMail(id:$id){status attemptCount}}", json!({"id": dead["id"]}))
        .await;
    assert_eq!(r.data()["redeliverMail"]["status"], "PENDING");
    assert_eq!(app.audit_count("redeliverMail").await, 1);
}

#[tokio::test]
async fn a_notice_queued_by_a_server_that_could_not_send_it_is_sent_after_a_restart() {
    // The first server has no mail settings (as if it stopped before sending): the notice
    // waits in the queue, and the next server that can send delivers it.
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-12-07T10:00:00+07:00");
    let s = app.staff().await;
    let (id, v, number) = assigned_appeal(&app, &s, "ivan@example.ru").await;
    let ext = json!({"id": id, "version": v, "days": 10, "reason": "экспертиза"});
    app.act(&s.coordinator, "extendDeadline", "ExtendDeadlineInput", ext).await.data();
    assert_eq!(mail_rows(&app.state.db).await, 1);

    let sink = SmtpSink::start(0);
    let url = sink.url();
    let restarted = app
        .second_process_with(|a| {
            a.smtp_url = Some(url);
            a.mail_from = Some("mcu@city.test".into());
        })
        .await;
    // The restarted server's clock is the first one's (the notice is due from then on).
    restarted.set_now("2026-12-07T10:00:05+07:00");
    mail::pass(&restarted.state).await.unwrap();
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(to_of(&got[0]), "ivan@example.ru");
    assert_eq!(got[0]["subject"], format!("Срок рассмотрения обращения № {number} продлён"));
    drop(restarted);
}

#[tokio::test]
async fn every_active_head_is_told_of_the_weekly_memo_in_the_application_and_by_email_with_its_links() {
    let sink = SmtpSink::start(0);
    let app = mail_app(&sink, |a| a.public_url = Some("https://mcu.city.test/".into())).await;
    app.set_now("2026-12-07T09:00:00+07:00");
    let s = app.staff().await;
    let admin = &s.admin;
    let (_, second_head) = app.user_with(admin, &["HEAD"], json!({})).await;
    let (gone, _) = app.user_with(admin, &["HEAD"], json!({})).await;
    let q = "mutation($i:UpdateUserInput!){updateUser(input:$i){active}}";
    app.gql(Some(admin), q, json!({"i": {"id": gone, "version": 1, "active": false}})).await.data();
    // The second Head wants it only in the application.
    set_mail(&app, &second_head, "MEMO_READY", "NONE").await;

    let id = mcu::jobs::memo::pass(&app.state).await.unwrap().expect("the memo of last week is made");
    dispatcher::pass(&app.state).await.unwrap();
    sink.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = sink.messages();
    assert_eq!(got.len(), 1, "only the Head who keeps e-mail gets it: {got:?}");
    assert_eq!(to_of(&got[0]), email_of(&app, &s.head).await);
    assert_eq!(got[0]["subject"], "МЦУ: еженедельная записка готова");
    let body = got[0]["body"].as_str().unwrap();
    assert!(body.contains("Еженедельная аналитическая записка за неделю с 30.11.2026 готова"), "{body}");
    assert!(body.contains(&format!("https://mcu.city.test/exports/memos/{id}.docx")), "{body}");
    assert!(body.contains(&format!("https://mcu.city.test/exports/memos/{id}.xlsx")), "{body}");

    let q = "{ notifications(first: 5) { totalCount edges { node { kind text appeal { id } } } } }";
    for head in [&s.head, &second_head] {
        let r = app.gql(Some(head), q, json!({})).await;
        let n = &r.data()["notifications"];
        assert_eq!(n["totalCount"], 1, "{n}");
        assert_eq!(n["edges"][0]["node"]["kind"], "MEMO_READY");
        assert_eq!(n["edges"][0]["node"]["appeal"], Value::Null);
    }
    for other in [&s.curator, &s.coordinator, &s.executor] {
        let r = app.gql(Some(other), q, json!({})).await;
        assert_eq!(r.data()["notifications"]["totalCount"], 0);
    }
    let r = app.gql(Some(&s.head), "{ notificationSettings { kind inApp email } }", json!({})).await;
    let memo = r.data()["notificationSettings"].as_array().unwrap().iter().find(|k| k["kind"] == "MEMO_READY").cloned();
    assert_eq!(memo, Some(json!({"kind": "MEMO_READY", "inApp": true, "email": "IMMEDIATE"})));
}

#[test]
fn the_digest_time_and_the_public_address_are_checked() {
    use mcu::config::Settings;
    let with = |change: &dyn Fn(&mut mcu::config::SettingsArgs)| {
        let mut a = crate::helpers::test_args("sqlite::memory:".into());
        change(&mut a);
        Settings::from_args(a)
    };
    assert_eq!(with(&|a| a.digest_time = "25:00".into()).err().unwrap().setting, "MCU_DIGEST_TIME");
    assert_eq!(with(&|a| a.digest_time = "8".into()).err().unwrap().setting, "MCU_DIGEST_TIME");
    let ok = with(&|a| a.digest_time = "07:30".into()).unwrap();
    assert_eq!(ok.digest_time, chrono::NaiveTime::from_hms_opt(7, 30, 0).unwrap());
    assert_eq!(with(&|a| a.public_url = Some("mcu.city.test".into())).err().unwrap().setting, "MCU_PUBLIC_URL");
    let ok = with(&|a| a.public_url = Some("https://mcu.city.test/".into())).unwrap();
    assert_eq!(ok.public_url.as_deref(), Some("https://mcu.city.test"));
    assert_eq!(with(&|a| a.mail_retry_max_ms = 1).err().unwrap().setting, "MCU_MAIL_RETRY_MAX_MS");
}
