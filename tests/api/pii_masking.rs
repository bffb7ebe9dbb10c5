//! Personal data in free text (issue 19, item 5): `text`, `summary`, `answerText`, `answers`
//! and `address` are masked for viewers who do not handle the appeal (the Head, read tokens,
//! exports for them) and shown in clear, with the read audited, to those who do.

use serde_json::{Value, json};

use crate::analytics::xlsx_rows;
use crate::helpers::{Staff, TestApp, spawn_app};

const TEXT: &str = "Прошу проверить двор. Звоните 8 912 345-67-89, Петрова Анна Сергеевна, СНИЛС 112-233-445 95. \
                    Дом 15, в 2025 году уже писала по 59-ФЗ.";
const TEXT_MASKED: &str = "Прошу проверить двор. Звоните [телефон], [ФИО], СНИЛС [СНИЛС]. \
                           Дом 15, в 2025 году уже писала по 59-ФЗ.";
const SUMMARY: &str = "Двор, пишите anna.petrova@mail.ru";
const SUMMARY_MASKED: &str = "Двор, пишите [e-mail]";
const ADDRESS: &str = "ул. Ленина, д. 5, кв. 12";
const ADDRESS_MASKED: &str = "ул. Ленина, д. 5";
const ANSWER: &str = "Уважаемая Анна Сергеевна! Двор убран 10.12.2026, мастер Козлов, тел. 45-67-89.";
const ANSWER_MASKED: &str = "Уважаемая [ФИО]! Двор убран 10.12.2026, мастер [ФИО], тел. [телефон].";

const GET: &str = "query($id:ID!){appeal(id:$id){text summary address answerText answers{text}}}";

/// An e-mail appeal with personal data in every free text, assigned to `s.recipient` and
/// answered by its executor.
async fn answered(app: &TestApp, s: &Staff) -> String {
    let (id, v, _) = app
        .appeal(
            &s.curator,
            json!({"kind": "APPEAL", "channel": "EMAIL", "text": TEXT, "summary": SUMMARY, "address": ADDRESS}),
        )
        .await;
    app.act(&s.curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": v})).await.data();
    let assign = json!({"id": id, "version": v + 1, "recipientId": s.recipient});
    app.act(&s.curator, "assignAppeal", "AssignAppealInput", assign).await.data();
    app.act(&s.executor, "startWork", "AppealActionInput", json!({"id": id, "version": v + 2})).await.data();
    let answer = json!({"id": id, "version": v + 3, "text": ANSWER});
    app.act(&s.executor, "answerAppeal", "AnswerAppealInput", answer).await.data();
    id
}

fn assert_shown(appeal: &Value, masked: bool) {
    let (text, summary, address, answer) = if masked {
        (TEXT_MASKED, SUMMARY_MASKED, ADDRESS_MASKED, ANSWER_MASKED)
    } else {
        (TEXT, SUMMARY, ADDRESS, ANSWER)
    };
    assert_eq!(appeal["text"], text, "{appeal}");
    assert_eq!(appeal["summary"], summary, "{appeal}");
    assert_eq!(appeal["address"], address, "{appeal}");
    assert_eq!(appeal["answerText"], answer, "{appeal}");
    assert_eq!(appeal["answers"][0]["text"], answer, "{appeal}");
}

async fn token(app: &TestApp, s: &Staff, scope: &str) -> String {
    let q = format!("mutation{{createApiToken(input:{{name:\"t {scope}\",scopes:[{scope}]}}){{secret}}}}");
    app.gql(Some(&s.admin), &q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn free_texts_are_masked_for_those_who_do_not_handle_the_appeal_and_audited_for_those_who_do() {
    let app = spawn_app().await;
    let s = app.staff().await;
    let id = answered(&app, &s).await;
    let before = app.audit_count("read.personalData").await;

    // The Head and an integration token read the appeal masked; nothing is audited.
    let head = app.gql(Some(&s.head), GET, json!({"id": id})).await;
    assert_shown(&head.data()["appeal"], true);
    let read = token(&app, &s, "APPEALS_READ").await;
    assert_shown(&app.gql(Some(&read), GET, json!({"id": id})).await.data()["appeal"], true);
    // The list shows the same masked texts.
    let list = app.gql(Some(&s.head), "{ appeals { edges { node { text address } } } }", json!({})).await;
    assert_eq!(list.data()["appeals"]["edges"][0]["node"]["text"], TEXT_MASKED);
    assert_eq!(list.data()["appeals"]["edges"][0]["node"]["address"], ADDRESS_MASKED);
    assert_eq!(app.audit_count("read.personalData").await, before, "masked reads are not personal data reads");

    // The executor of another recipient does not see the appeal at all.
    assert_eq!(app.gql(Some(&s.other_executor), GET, json!({"id": id})).await.code(), "NOT_FOUND");

    // The executor who handles it and the curator see the originals; each read is audited once.
    assert_shown(&app.gql(Some(&s.executor), GET, json!({"id": id})).await.data()["appeal"], false);
    assert_eq!(app.audit_count("read.personalData").await, before + 1);
    assert_shown(&app.gql(Some(&s.curator), GET, json!({"id": id})).await.data()["appeal"], false);
    assert_eq!(app.audit_count("read.personalData").await, before + 2);

    // The history's data holds the texts too: masked for the Head.
    let history = app.gql(Some(&s.head), "query($id:ID!){appeal(id:$id){events{data}}}", json!({"id": id})).await;
    let shown = history.data()["appeal"]["events"].to_string();
    assert!(!shown.contains("345-67-89") && !shown.contains("кв. 12"), "{shown}");
    assert_eq!(app.audit_count("read.personalData").await, before + 2);
}

#[tokio::test]
async fn a_text_without_personal_data_is_shown_as_is_and_its_read_not_audited() {
    let app = spawn_app().await;
    let s = app.staff().await;
    let text = "Яма на ул. Гагарина 24 глубиной 20 см, обращение № 2026-000123 от 10.02.2026, ст. 12 59-ФЗ";
    let (id, _, _) = app.appeal(&s.coordinator, json!({"kind": "MESSAGE", "channel": "POS", "text": text})).await;
    let before = app.audit_count("read.personalData").await;
    let q = "query($id:ID!){appeal(id:$id){text}}";
    assert_eq!(app.gql(Some(&s.head), q, json!({"id": id})).await.data()["appeal"]["text"], text);
    assert_eq!(app.gql(Some(&s.coordinator), q, json!({"id": id})).await.data()["appeal"]["text"], text);
    assert_eq!(app.audit_count("read.personalData").await, before);

    // The coordinator of the channel handles a POS message: a phone in it in clear, audited.
    let text = "Не убирают снег, звоните 89123456789";
    let (id, _, _) = app.appeal(&s.coordinator, json!({"kind": "MESSAGE", "channel": "POS", "text": text})).await;
    assert_eq!(app.gql(Some(&s.coordinator), q, json!({"id": id})).await.data()["appeal"]["text"], text);
    assert_eq!(app.audit_count("read.personalData").await, before + 1);
    let head = app.gql(Some(&s.head), q, json!({"id": id})).await;
    assert_eq!(head.data()["appeal"]["text"], "Не убирают снег, звоните [телефон]");
    assert_eq!(app.audit_count("read.personalData").await, before + 1);
}

#[tokio::test]
async fn the_appeal_export_masks_free_texts_for_the_head_and_not_for_the_curator() {
    let app = spawn_app().await;
    let s = app.staff().await;
    answered(&app, &s).await;
    let get = |token: &str| app.client.get(format!("{}/exports/appeals.xlsx", app.base)).bearer_auth(token).send();
    let before = app.audit_count("read.personalData").await;
    let resp = get(&s.head).await.unwrap();
    assert_eq!(resp.status(), 200);
    let rows = xlsx_rows(&resp.bytes().await.unwrap(), "Обращения");
    assert_eq!(rows[1][10], ADDRESS_MASKED, "{rows:?}");
    assert_eq!(rows[1][13], TEXT_MASKED, "{rows:?}");
    assert_eq!(app.audit_count("read.personalData").await, before);
    let rows = xlsx_rows(&get(&s.curator).await.unwrap().bytes().await.unwrap(), "Обращения");
    assert_eq!(rows[1][10], ADDRESS, "{rows:?}");
    assert_eq!(rows[1][13], TEXT, "{rows:?}");
    assert_eq!(app.audit_count("read.personalData").await, before + 1, "the curator's unmasked export is audited");
}

#[tokio::test]
async fn the_samples_of_a_problem_point_are_masked_for_the_head() {
    let app = crate::watch::spawn_long().await;
    app.set_now("2026-11-20T12:00:00+07:00");
    let s = app.staff().await;
    let roads = app.category(&s.curator, "Ямы и ремонт дорог").await;
    let text = "Яма у дома, звоните 8 912 345-67-89, Сидоров Пётр";
    for _ in 0..3 {
        let input = json!({"kind": "MESSAGE", "channel": "POS", "text": text, "address": "ул. Мира, 3, кв. 7",
            "categoryId": roads, "latitude": 53.7001, "longitude": 91.7001, "receivedAt": "2026-11-18T10:00:00+07:00"});
        app.appeal(&s.curator, input).await;
    }
    let q = "query($p:PeriodInput!){ analytics { problemPoints(period:$p) { count sample { text address } } } }";
    let week = json!({"p": {"from": "2026-11-16", "to": "2026-11-22"}});
    let before = app.audit_count("read.personalData").await;
    let head = app.gql(Some(&s.head), q, week.clone()).await;
    let sample = head.data()["analytics"]["problemPoints"][0]["sample"].as_array().unwrap().clone();
    assert_eq!(sample.len(), 3, "{sample:?}");
    for a in &sample {
        assert_eq!(a["text"], "Яма у дома, звоните [телефон], [ФИО]", "{a}");
        assert_eq!(a["address"], "ул. Мира, 3", "{a}");
    }
    assert_eq!(app.audit_count("read.personalData").await, before);
    // The curator handles them: the originals, audited once for the request.
    let curator = app.gql(Some(&s.curator), q, week).await;
    assert_eq!(curator.data()["analytics"]["problemPoints"][0]["sample"][0]["text"], text);
    assert_eq!(app.audit_count("read.personalData").await, before + 1);
}

/// A search on the stored text would tell the Head or a read token which appeals mention a
/// person whose name and phone they are shown masked: such searches are refused to those
/// who do not handle every appeal they see (the list, the export, a subscription), while
/// searches for anything else, and any search by those who handle the appeals, work.
#[tokio::test]
async fn a_search_for_personal_data_is_refused_to_those_shown_it_masked() {
    let app = spawn_app().await;
    let s = app.staff().await;
    answered(&app, &s).await;
    let read = token(&app, &s, "APPEALS_READ").await;
    const FIND: &str = "query($q:String){ appeals(filter:{search:$q}) { edges { node { number } } } }";
    let found = |token: String, q: &'static str| {
        let app = &app;
        async move { app.gql(Some(&token), FIND, json!({"q": q})).await }
    };
    for q in ["8 912 345-67-89", "anna.petrova@mail.ru", "Петрова Анна Сергеевна", "112-233-445 95"]
    {
        for t in [s.head.clone(), read.clone()] {
            let r = found(t, q).await;
            assert_eq!(
                (r.code(), r.field_paths()),
                ("BAD_USER_INPUT".to_string(), vec!["filter.search".to_string()]),
                "{q}"
            );
        }
        for t in [s.curator.clone(), s.executor.clone()] {
            assert_eq!(found(t, q).await.data()["appeals"]["edges"].as_array().unwrap().len(), 1, "{q}");
        }
    }
    for t in [s.head.clone(), read.clone()] {
        assert_eq!(found(t, "двор").await.data()["appeals"]["edges"].as_array().unwrap().len(), 1);
    }

    // The export refuses it the same way.
    let get = |t: &str, q: &str| {
        app.client.get(format!("{}/exports/appeals.xlsx", app.base)).query(&[("search", q)]).bearer_auth(t).send()
    };
    let resp = get(&s.head, "8 912 345-67-89").await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("filter.search"));
    assert_eq!(get(&s.curator, "8 912 345-67-89").await.unwrap().status(), 200);

    // And so does a subscription filtered by it.
    let mut ws = crate::subscriptions::watching(&app, &s.head, json!({"search": "Петрова Анна"})).await;
    let m = crate::subscriptions::next(&mut ws, std::time::Duration::from_secs(5)).await.expect("an answer");
    assert!(m["type"] == "error" || m["payload"]["errors"].is_array(), "refused, not subscribed: {m}");
    assert!(m.to_string().contains("filter.search"), "{m}");
}
