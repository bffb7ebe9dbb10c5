//! E-mail over a real SMTP server: the administrator's test message.

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};
use crate::smtp::SmtpSink;

const SEND: &str = "mutation($to:String!){ sendTestEmail(to:$to) }";

#[tokio::test]
async fn an_administrator_checks_the_mail_settings_with_a_russian_test_message() {
    let sink = SmtpSink::start(0);
    let url = sink.url();
    let app = spawn_app_with(|a| {
        a.smtp_url = Some(url);
        a.mail_from = Some("МЦУ <mcu@city.test>".into());
    })
    .await;
    let s = app.staff().await;

    let r = app.gql(Some(&s.admin), SEND, json!({ "to": "ops@city.test" })).await;
    assert_eq!(r.data()["sendTestEmail"], true);
    let got = sink.wait_for(1, std::time::Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["from"], "mcu@city.test");
    assert_eq!(m["to"], json!(["ops@city.test"]));
    assert_eq!(m["header_from"], "МЦУ <mcu@city.test>");
    assert_eq!(m["subject"], "Проверка почты МЦУ");
    assert_eq!(m["content_type"], "text/plain");
    assert_eq!(m["charset"], "utf-8");
    let body = m["body"].as_str().unwrap();
    assert!(body.contains("Это проверочное письмо") && body.contains("admin@mcu.test"), "{body}");
    assert!(!body.contains('{'), "every value filled in: {body}");

    // Every other role, a token and the anonymous caller are refused, and nothing is sent.
    for token in [&s.curator, &s.coordinator, &s.executor, &s.head] {
        let r = app.gql(Some(token), SEND, json!({ "to": "ops@city.test" })).await;
        assert_eq!(r.code(), "FORBIDDEN");
    }
    assert_eq!(app.gql(None, SEND, json!({ "to": "ops@city.test" })).await.code(), "UNAUTHENTICATED");
    // A bad address is the caller's mistake, with the field named.
    let r = app.gql(Some(&s.admin), SEND, json!({ "to": "not an address" })).await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    assert_eq!(r.field_paths(), vec!["to"]);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1, "nothing more was sent");
}

#[tokio::test]
async fn without_mail_settings_or_with_a_refusing_server_the_answer_says_so() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let r = app.gql(Some(&admin), SEND, json!({ "to": "ops@city.test" })).await;
    assert_eq!(r.code(), "CONFLICT");
    assert!(r.message().contains("not configured"), "{}", r.message());

    let sink = SmtpSink::start(5);
    let url = sink.url();
    let app = spawn_app_with(|a| {
        a.smtp_url = Some(url);
        a.mail_from = Some("mcu@city.test".into());
    })
    .await;
    let admin = app.admin().await;
    let r = app.gql(Some(&admin), SEND, json!({ "to": "ops@city.test" })).await;
    assert_eq!(r.code(), "CONFLICT");
    assert!(!r.message().contains("451"), "the server's reply stays in the log: {}", r.message());
    assert!(sink.messages().is_empty());
}

#[test]
fn mail_settings_come_in_pairs_and_a_bad_url_is_refused_without_echoing_it() {
    use mcu::config::Settings;
    let with = |url: Option<&str>, from: Option<&str>| {
        let mut a = crate::helpers::test_args("sqlite::memory:".into());
        a.smtp_url = url.map(str::to_owned);
        a.mail_from = from.map(str::to_owned);
        Settings::from_args(a)
    };
    assert_eq!(with(Some("smtp://127.0.0.1:25"), None).err().unwrap().setting, "MCU_MAIL_FROM");
    assert_eq!(with(None, Some("mcu@city.test")).err().unwrap().setting, "MCU_SMTP_URL");
    let e = with(Some("http://user:s3cret@host"), Some("mcu@city.test")).err().unwrap();
    assert_eq!(e.setting, "MCU_SMTP_URL");
    assert!(!e.why.contains("s3cret"), "{}", e.why);
    assert_eq!(with(Some("smtps://u:p@mail.city.test"), Some("not a mailbox")).err().unwrap().setting, "MCU_MAIL_FROM");
    assert!(with(Some("smtp://mail.city.test:587?tls=required"), Some("МЦУ <mcu@city.test>")).is_ok());
    assert!(with(Some(""), Some("")).is_ok(), "empty means unset");
}
