//! The appeal lifecycle over HTTP: deadlines on the production calendar, transitions,
//! versions, access and personal data.

use serde_json::{Value, json};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// Sessions that outlive the clock moves of a test.
async fn spawn_long() -> TestApp {
    spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await
}

/// Staff of a small city: a curator, a POS coordinator, two executors, a head.
fn field<'a>(r: &'a crate::helpers::Gql, name: &str) -> &'a Value {
    &r.data()["r"][name]
}

#[tokio::test]
async fn an_appeal_goes_from_receipt_to_a_closed_assessed_answer_with_legal_deadlines() {
    let app = spawn_long().await;
    app.set_now("2026-12-01T10:00:00+07:00");
    let s = app.staff().await;
    let (id, v, due) = app
        .appeal(
            &s.curator,
            json!({"kind": "APPEAL", "channel": "POST", "text": "Прошу отремонтировать крышу дома по ул. Ленина, 5",
                   "authorName": "Иван Петров", "authorContact": "ivan@mail.ru", "receivedAt": "2026-11-30T10:00:00+07:00"}),
        )
        .await;
    // Registration within 3 days of receipt: Thursday 3 December, 23:59:59 local.
    assert_eq!(due, "2026-12-03T16:59:59+00:00");
    let number = app.gql(Some(&s.curator), "query($id:ID!){appeal(id:$id){number status}}", json!({"id": id})).await;
    assert!(number.data()["appeal"]["number"].as_str().unwrap().starts_with("2026-0000"));
    assert_eq!(number.data()["appeal"]["status"], "RECEIVED");

    let r = app.act(&s.curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": v})).await;
    // 30 days from 1 December is 31 December 2026, a day off: the term moves to 11 January 2027.
    assert_eq!(field(&r, "dueAt"), "2027-01-11T16:59:59+00:00");
    assert_eq!(field(&r, "status"), "REGISTERED");

    let r = app
        .act(
            &s.curator,
            "assignAppeal",
            "AssignAppealInput",
            json!({"id": id, "version": 2, "recipientId": s.recipient}),
        )
        .await;
    assert_eq!(field(&r, "status"), "ASSIGNED");
    let r = app.act(&s.executor, "startWork", "AppealActionInput", json!({"id": id, "version": 3})).await;
    assert_eq!(field(&r, "status"), "IN_PROGRESS");

    let r = app
        .act(
            &s.curator,
            "extendDeadline",
            "ExtendDeadlineInput",
            json!({"id": id, "version": 4, "days": 31, "reason": "выезд"}),
        )
        .await;
    assert_eq!((r.code(), r.field_paths()), ("BAD_USER_INPUT".to_string(), vec!["input.days".to_string()]));
    let r = app
        .act(
            &s.curator,
            "extendDeadline",
            "ExtendDeadlineInput",
            json!({"id": id, "version": 4, "days": 10, "reason": "  "}),
        )
        .await;
    assert_eq!(r.field_paths(), vec!["input.reason"]);
    let r = app
        .act(
            &s.curator,
            "extendDeadline",
            "ExtendDeadlineInput",
            json!({"id": id, "version": 4, "days": 10, "reason": "запрос в подрядную организацию"}),
        )
        .await;
    assert_eq!(field(&r, "dueAt"), "2027-01-21T16:59:59+00:00");
    assert_eq!(field(&r, "extended"), true);
    let r = app
        .act(
            &s.curator,
            "extendDeadline",
            "ExtendDeadlineInput",
            json!({"id": id, "version": 5, "days": 5, "reason": "ещё раз"}),
        )
        .await;
    assert_eq!(r.code(), "BAD_USER_INPUT", "a second extension is refused");

    app.set_now("2027-01-15T12:00:00+07:00");
    let r = app
        .act(
            &s.executor,
            "answerAppeal",
            "AnswerAppealInput",
            json!({"id": id, "version": 5, "text": "Ремонт крыши включён в план на май."}),
        )
        .await;
    assert_eq!(field(&r, "status"), "ANSWERED");
    assert_eq!(field(&r, "slaState"), "MET");
    assert_eq!(field(&r, "feedbackCode").as_str().unwrap().len(), 10);
    let r = app
        .act(&s.executor, "assessAnswer", "AssessAnswerInput", json!({"id": id, "version": 6, "completeness": "FULL"}))
        .await;
    assert_eq!(r.code(), "FORBIDDEN", "executors do not assess their own answers");
    let r = app
        .act(&s.curator, "assessAnswer", "AssessAnswerInput", json!({"id": id, "version": 6, "completeness": "FULL"}))
        .await;
    assert_eq!(field(&r, "completeness"), "FULL");
    let r = app
        .gql(
            Some(&s.curator),
            "mutation($i:FeedbackInput!){ r: recordFeedback(input:$i){ status satisfied version } }",
            json!({"i": {"id": id, "score": 5, "satisfied": true}}),
        )
        .await;
    assert_eq!(field(&r, "satisfied"), true);
    let r = app.act(&s.curator, "closeAppeal", "AppealActionInput", json!({"id": id, "version": 8})).await;
    assert_eq!(field(&r, "status"), "CLOSED");

    let events = app
        .gql(
            Some(&s.curator),
            "query($id:ID!){appeal(id:$id){events{action fromStatus toStatus actor comment}}}",
            json!({"id": id}),
        )
        .await;
    let actions: Vec<&str> =
        events.data()["appeal"]["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "createAppeal",
            "registerAppeal",
            "assignAppeal",
            "startWork",
            "extendDeadline",
            "answerAppeal",
            "assessAnswer",
            "recordFeedback",
            "closeAppeal"
        ]
    );
    assert_eq!(app.audit_count("answerAppeal").await, 1);
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn a_message_gets_ten_working_days_and_a_dissatisfied_author_reopens_it() {
    let app = spawn_long().await;
    app.set_now("2026-11-13T17:30:00+07:00");
    let s = app.staff().await;
    let (id, _, due) = app
        .appeal(&s.coordinator, json!({"kind": "MESSAGE", "channel": "POS", "externalId": "POS-1", "text": "Не вывозят мусор во дворе", "authorName": "Анна", "authorContact": "+7 913 000-11-22"}))
        .await;
    // Friday 17:30 → ten working days from Monday 16 November → Friday 27 November.
    assert_eq!(due, "2026-11-27T16:59:59+00:00");
    app.act(&s.coordinator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
    app.act(
        &s.coordinator,
        "assignAppeal",
        "AssignAppealInput",
        json!({"id": id, "version": 2, "recipientId": s.recipient}),
    )
    .await
    .data();
    app.set_now("2026-11-30T10:00:00+07:00");
    let r = app
        .act(
            &s.executor,
            "answerAppeal",
            "AnswerAppealInput",
            json!({"id": id, "version": 3, "text": "Вывоз организован."}),
        )
        .await;
    assert_eq!(field(&r, "slaState"), "MISSED", "answered after the deadline");
    let code = field(&r, "feedbackCode").as_str().unwrap().to_string();

    const SUBMIT: &str = "mutation($c:String!,$s:Int!){submitFeedback(code:$c,score:$s)}";
    assert_eq!(app.gql(None, SUBMIT, json!({"c": code, "s": 9})).await.field_paths(), vec!["score"]);
    assert_eq!(app.gql(None, SUBMIT, json!({"c": "WRONGCODE1", "s": 2})).await.field_paths(), vec!["code"]);
    assert_eq!(app.gql(None, SUBMIT, json!({"c": code, "s": 2})).await.data()["submitFeedback"], true);
    assert_eq!(app.gql(None, SUBMIT, json!({"c": code, "s": 5})).await.code(), "BAD_USER_INPUT", "a code works once");

    let a = app
        .gql(
            Some(&s.coordinator),
            "query($id:ID!){appeal(id:$id){status reopenCount satisfied satisfactionScore dueAt feedbackCode}}",
            json!({"id": id}),
        )
        .await;
    let a = &a.data()["appeal"];
    assert_eq!(a["status"], "REOPENED");
    assert_eq!(a["reopenCount"], 1);
    assert_eq!(a["satisfied"], false);
    assert_eq!(a["satisfactionScore"], 2);
    assert!(a["feedbackCode"].is_null());
    // A new ten working days from Monday 30 November → Monday 14 December.
    assert_eq!(a["dueAt"], "2026-12-14T16:59:59+00:00");
    // The executor can take it up again.
    let r = app.act(&s.executor, "startWork", "AppealActionInput", json!({"id": id, "version": 6})).await;
    assert_eq!(field(&r, "status"), "IN_PROGRESS");
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn an_incident_needs_a_reaction_within_eight_working_hours_then_an_answer_in_seven_days() {
    let app = spawn_long().await;
    app.set_now("2026-11-27T17:30:00+07:00");
    let s = app.staff().await;
    let (id, _, due) = app.appeal(&s.coordinator, json!({"kind": "INCIDENT", "channel": "INCIDENT", "externalId": "vk-1", "text": "Яма на дороге у школы №3"})).await;
    assert_eq!(due, "2026-11-30T09:30:00+00:00", "Monday 16:30 local");
    let (_, _, high) = app.appeal(&s.coordinator, json!({"kind": "INCIDENT", "channel": "INCIDENT", "externalId": "vk-2", "text": "Прорыв трубы", "highPriority": true})).await;
    assert_eq!(high, "2026-11-30T05:30:00+00:00", "Monday 12:30 local");
    app.act(&s.coordinator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
    app.act(
        &s.coordinator,
        "assignAppeal",
        "AssignAppealInput",
        json!({"id": id, "version": 2, "recipientId": s.recipient}),
    )
    .await
    .data();
    app.set_now("2026-11-30T16:00:00+07:00");
    let r = app.act(&s.executor, "startWork", "AppealActionInput", json!({"id": id, "version": 3})).await;
    assert_eq!(field(&r, "dueAt"), "2026-12-09T16:59:59+00:00");
    let r = app
        .act(
            &s.curator,
            "extendDeadline",
            "ExtendDeadlineInput",
            json!({"id": id, "version": 4, "days": 5, "reason": "x"}),
        )
        .await;
    assert_eq!(r.code(), "BAD_USER_INPUT", "only 59-ФЗ appeals are extended");
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn illegal_transitions_stale_versions_and_unknown_ids_change_nothing() {
    let app = spawn_app().await;
    let s = app.staff().await;
    let (id, _, _) = app.appeal(&s.curator, json!({"kind": "APPEAL", "channel": "EMAIL", "text": "Текст"})).await;
    let r = app
        .act(&s.curator, "answerAppeal", "AnswerAppealInput", json!({"id": id, "version": 1, "text": "Ответ"}))
        .await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    assert!(r.message().contains("RECEIVED") && r.message().contains("answerAppeal"), "{}", r.message());
    let r = app
        .act(
            &s.curator,
            "assignAppeal",
            "AssignAppealInput",
            json!({"id": id, "version": 1, "recipientId": s.recipient}),
        )
        .await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    let r = app.act(&s.curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 7})).await;
    assert_eq!(r.code(), "CONFLICT");
    let r = app.act(&s.curator, "registerAppeal", "AppealActionInput", json!({"id": "999999", "version": 1})).await;
    assert_eq!(r.code(), "NOT_FOUND");
    let r = app
        .act(
            &s.curator,
            "leaveWithoutAnswer",
            "LeaveWithoutAnswerInput",
            json!({"id": id, "version": 1, "reason": "OBSCENE"}),
        )
        .await;
    assert_eq!(r.code(), "BAD_USER_INPUT", "register first");
    let a = app
        .gql(Some(&s.curator), "query($id:ID!){appeal(id:$id){status version events{action}}}", json!({"id": id}))
        .await;
    assert_eq!(a.data()["appeal"]["status"], "RECEIVED");
    assert_eq!(a.data()["appeal"]["version"], 1);
    assert_eq!(a.data()["appeal"]["events"].as_array().unwrap().len(), 1);

    let bad = app
        .gql(
            Some(&s.curator),
            "mutation($i:CreateAppealInput!){createAppeal(input:$i){id}}",
            json!({"i": {"kind": "APPEAL", "channel": "EMAIL", "text": " ", "latitude": 91.0, "categoryId": "777"}}),
        )
        .await;
    let mut paths = bad.field_paths();
    paths.sort();
    assert_eq!(paths, ["input.categoryId", "input.latitude", "input.longitude", "input.text"]);
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn anonymous_reason_only_when_the_author_is_really_unknown() {
    let app = spawn_app().await;
    let s = app.staff().await;
    let (known, _, _) = app.appeal(&s.curator, json!({"kind": "APPEAL", "channel": "EMAIL", "text": "Текст", "authorName": "Пётр Иванов", "authorContact": "p@ya.ru"})).await;
    let (anon, _, _) = app.appeal(&s.curator, json!({"kind": "APPEAL", "channel": "EMAIL", "text": "Текст"})).await;
    for id in [&known, &anon] {
        app.act(&s.curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
    }
    let r = app
        .act(
            &s.curator,
            "leaveWithoutAnswer",
            "LeaveWithoutAnswerInput",
            json!({"id": known, "version": 2, "reason": "ANONYMOUS"}),
        )
        .await;
    assert_eq!(r.field_paths(), vec!["input.reason"]);
    let r = app
        .act(
            &s.curator,
            "leaveWithoutAnswer",
            "LeaveWithoutAnswerInput",
            json!({"id": anon, "version": 2, "reason": "ANONYMOUS"}),
        )
        .await;
    assert_eq!(field(&r, "status"), "WITHOUT_ANSWER");
}

#[tokio::test]
async fn executors_see_only_their_recipient_and_probing_answers_not_found() {
    let app = spawn_app().await;
    let s = app.staff().await;
    let (id, _, _) = app.appeal(&s.curator, json!({"kind": "APPEAL", "channel": "EMAIL", "text": "Протекает крыша", "authorName": "Иван Петров", "authorContact": "ivan@mail.ru"})).await;
    app.act(&s.curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
    app.act(
        &s.curator,
        "assignAppeal",
        "AssignAppealInput",
        json!({"id": id, "version": 2, "recipientId": s.recipient}),
    )
    .await
    .data();

    const GET: &str = "query($id:ID!){appeal(id:$id){id authorName authorContact}}";
    assert_eq!(app.gql(Some(&s.other_executor), GET, json!({"id": id})).await.code(), "NOT_FOUND");
    assert_eq!(app.gql(Some(&s.other_executor), GET, json!({"id": "987654"})).await.code(), "NOT_FOUND");
    let r = app.act(&s.other_executor, "startWork", "AppealActionInput", json!({"id": id, "version": 3})).await;
    assert_eq!(r.code(), "NOT_FOUND");
    let list = app.gql(Some(&s.other_executor), "{ appeals { totalCount } }", json!({})).await;
    assert_eq!(list.data()["appeals"]["totalCount"], 0);
    // The coordinator of POS and INCIDENT does not see an e-mail appeal either.
    assert_eq!(app.gql(Some(&s.coordinator), GET, json!({"id": id})).await.code(), "NOT_FOUND");

    let before = app.audit_count("read.personalData").await;
    let mine = app.gql(Some(&s.executor), GET, json!({"id": id})).await;
    assert_eq!(mine.data()["appeal"]["authorName"], "Иван Петров");
    assert_eq!(app.audit_count("read.personalData").await, before + 1);

    // The head reads everything but masked, and changes nothing.
    let head = app.gql(Some(&s.head), GET, json!({"id": id})).await;
    assert_eq!(head.data()["appeal"]["authorName"], "И*** П***");
    assert_eq!(head.data()["appeal"]["authorContact"], "i***@mail.ru");
    assert_eq!(app.audit_count("read.personalData").await, before + 1, "masked reads are not personal data reads");
    let r = app.act(&s.head, "startWork", "AppealActionInput", json!({"id": id, "version": 3})).await;
    assert_eq!(r.code(), "FORBIDDEN");

    // An integration token with APPEALS_READ reads masked; one without it reads nothing.
    let t = app
        .gql(Some(&s.admin), "mutation{createApiToken(input:{name:\"ЦУР\",scopes:[APPEALS_READ]}){secret}}", json!({}))
        .await;
    let secret = t.data()["createApiToken"]["secret"].as_str().unwrap().to_string();
    let read = app.gql(Some(&secret), GET, json!({"id": id})).await;
    assert_eq!(read.data()["appeal"]["authorName"], "И*** П***");
    let t = app
        .gql(Some(&s.admin), "mutation{createApiToken(input:{name:\"BI\",scopes:[ANALYTICS_READ]}){secret}}", json!({}))
        .await;
    let analytics = t.data()["createApiToken"]["secret"].as_str().unwrap().to_string();
    assert_eq!(app.gql(Some(&analytics), GET, json!({"id": id})).await.code(), "FORBIDDEN");
    // The administrator manages users, not appeals.
    assert_eq!(app.gql(Some(&s.admin), GET, json!({"id": id})).await.code(), "FORBIDDEN");
    let r = app.act(&s.executor, "startWork", "AppealActionInput", json!({"id": id, "version": 3})).await;
    assert_eq!(field(&r, "status"), "IN_PROGRESS");
}

#[tokio::test]
async fn concurrent_changes_of_one_version_let_exactly_one_win() {
    let app = spawn_app().await;
    let s = app.staff().await;
    let (id, _, _) = app.appeal(&s.curator, json!({"kind": "APPEAL", "channel": "EMAIL", "text": "Текст"})).await;
    let futures: Vec<_> = (0..12)
        .map(|i| {
            app.act(
                &s.curator,
                "updateAppeal",
                "UpdateAppealInput",
                json!({"id": id, "version": 1, "summary": format!("S{i}")}),
            )
        })
        .collect();
    let results = futures_util::future::join_all(futures).await;
    let wins = results.iter().filter(|r| r.body["errors"].is_null()).count();
    let conflicts = results.iter().filter(|r| !r.body["errors"].is_null() && r.code() == "CONFLICT").count();
    assert_eq!((wins, conflicts), (1, 11));
    let a =
        app.gql(Some(&s.curator), "query($id:ID!){appeal(id:$id){version events{action}}}", json!({"id": id})).await;
    assert_eq!(a.data()["appeal"]["version"], 2);
    assert_eq!(a.data()["appeal"]["events"].as_array().unwrap().len(), 2);
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn numbers_are_unique_and_gap_free_under_concurrent_creation() {
    let app = spawn_app().await;
    let s = app.staff().await;
    let futures: Vec<_> = (0..20)
        .map(|i| app.appeal(&s.curator, json!({"kind": "MESSAGE", "channel": "PHONE", "text": format!("Звонок {i}")})))
        .collect();
    futures_util::future::join_all(futures).await;
    let r = app
        .gql(
            Some(&s.curator),
            "{ appeals(first: 100, orderBy: {field: NUMBER, direction: ASC}) { edges { node { number } } } }",
            json!({}),
        )
        .await;
    let numbers: Vec<i64> = r.data()["appeals"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["number"].as_str().unwrap()[5..].parse().unwrap())
        .collect();
    assert_eq!(numbers, (1..=20).collect::<Vec<_>>());
}

#[tokio::test]
async fn duplicates_link_to_the_root_of_their_cluster() {
    let app = spawn_app().await;
    let st = app.staff().await;
    let (first, _, _) =
        app.appeal(&st.curator, json!({"kind": "MESSAGE", "channel": "PHONE", "text": "Нет света"})).await;
    let (second, _, _) =
        app.appeal(&st.curator, json!({"kind": "MESSAGE", "channel": "PHONE", "text": "Нет света в доме"})).await;
    let (third, _, _) =
        app.appeal(&st.curator, json!({"kind": "MESSAGE", "channel": "PHONE", "text": "Света нет"})).await;
    let r = app
        .act(
            &st.curator,
            "markDuplicate",
            "MarkDuplicateInput",
            json!({"id": second, "version": 1, "originalId": second}),
        )
        .await;
    assert_eq!(r.field_paths(), vec!["input.originalId"]);
    app.act(
        &st.curator,
        "markDuplicate",
        "MarkDuplicateInput",
        json!({"id": second, "version": 1, "originalId": first}),
    )
    .await
    .data();
    app.act(
        &st.curator,
        "markDuplicate",
        "MarkDuplicateInput",
        json!({"id": third, "version": 1, "originalId": second}),
    )
    .await
    .data();
    let r = app
        .gql(Some(&st.curator), "query($id:ID!){appeal(id:$id){status duplicateOf{id}}}", json!({"id": third}))
        .await;
    assert_eq!(r.data()["appeal"]["status"], "DUPLICATE");
    assert_eq!(r.data()["appeal"]["duplicateOf"]["id"], first.as_str());
    app.assert_rollups_agree().await;
}

#[tokio::test]
async fn redirecting_to_an_external_body_resolves_the_appeal() {
    let app = spawn_app().await;
    let s = app.staff().await;
    let external = app
        .gql(Some(&s.admin), "mutation{createRecipient(input:{name:\"Прокуратура\",external:true}){id}}", json!({}))
        .await
        .data()["createRecipient"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (id, _, _) =
        app.appeal(&s.curator, json!({"kind": "APPEAL", "channel": "POST", "text": "Жалоба на решение суда"})).await;
    app.act(&s.curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
    let r = app
        .act(&s.curator, "assignAppeal", "AssignAppealInput", json!({"id": id, "version": 2, "recipientId": external}))
        .await;
    assert_eq!(r.field_paths(), vec!["input.recipientId"], "external bodies are redirected to, not assigned");
    let r = app
        .act(&s.curator, "redirectAppeal", "RedirectAppealInput", json!({"id": id, "version": 2, "externalBody": " "}))
        .await;
    assert_eq!(r.field_paths(), vec!["input.externalBody"]);
    let r = app
        .act(
            &s.curator,
            "redirectAppeal",
            "RedirectAppealInput",
            json!({"id": id, "version": 2, "externalBody": "Прокуратура г. Сорска"}),
        )
        .await;
    assert_eq!(field(&r, "status"), "REDIRECTED");
    assert_eq!(field(&r, "slaState"), "MET");
    let a = app
        .gql(Some(&s.curator), "query($id:ID!){appeal(id:$id){redirectedTo events{action data}}}", json!({"id": id}))
        .await;
    assert_eq!(a.data()["appeal"]["redirectedTo"], "Прокуратура г. Сорска");
    assert_eq!(a.data()["appeal"]["events"][2]["data"]["redirectedLate"], false);
    let r = app.act(&s.curator, "closeAppeal", "AppealActionInput", json!({"id": id, "version": 3})).await;
    assert_eq!(field(&r, "status"), "CLOSED");
    app.assert_rollups_agree().await;
}

/// The author's name and contact in an event's data (an `ingestUpdate` records the new
/// ones) are masked for those who see the appeal masked, and shown to and audited for those
/// who handle it, as the appeal's own fields are (issue 14 item 8).
#[tokio::test]
async fn personal_data_in_the_history_is_masked_and_audited_as_on_the_appeal() {
    let app = spawn_app().await;
    app.set_now("2026-11-25T10:00:00+07:00");
    let s = app.staff().await;
    let token = |scope: &'static str| {
        let admin = s.admin.clone();
        let app = &app;
        async move {
            let r = app
                .gql(
                    Some(&admin),
                    "mutation($s:[ApiScope!]!){createApiToken(input:{name:\"ЦУР\",scopes:$s}){secret}}",
                    json!({"s": [scope]}),
                )
                .await;
            r.data()["createApiToken"]["secret"].as_str().unwrap().to_string()
        }
    };
    let ingest = token("APPEALS_INGEST").await;
    let reader = token("APPEALS_READ").await;
    const INGEST: &str =
        "mutation($i:[IngestAppealInput!]!){ingestAppeals(input:$i){created updated rejected{row message}}}";
    let item = |name: &str, contact: &str| {
        json!([{"channel": "INCIDENT", "externalId": "vk-77", "kind": "INCIDENT", "receivedAt": "2026-11-20T10:00:00+07:00",
                "text": "Яма у школы", "authorName": name, "authorContact": contact}])
    };
    let r = app.gql(Some(&ingest), INGEST, json!({"i": item("Иван Петров", "ivan@mail.ru")})).await;
    assert_eq!(r.data()["ingestAppeals"]["created"], 1);
    let r = app.gql(Some(&ingest), INGEST, json!({"i": item("Анна Сидорова", "+7 (913) 123-45-67")})).await;
    assert_eq!(r.data()["ingestAppeals"]["updated"], 1);
    let list = app.gql(Some(&s.head), "{ appeals { edges { node { id } } } }", json!({})).await;
    let id = list.data()["appeals"]["edges"][0]["node"]["id"].as_str().unwrap().to_string();

    const EVENTS: &str = "query($id:ID!){appeal(id:$id){events{action data}}}";
    let update = |r: &crate::helpers::Gql| {
        r.data()["appeal"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "ingestUpdate")
            .unwrap_or_else(|| panic!("no ingestUpdate event: {}", r.body))["data"]
            .clone()
    };
    let before = app.audit_count("read.personalData").await;
    for masked_reader in [&s.head, &reader] {
        let r = app.gql(Some(masked_reader), EVENTS, json!({"id": id})).await;
        let data = update(&r);
        assert_eq!(data["authorName"], "А*** С***", "{data}");
        assert_eq!(data["authorContact"], "***-**-67", "{data}");
        assert!(!r.body.to_string().contains("Сидорова") && !r.body.to_string().contains("123-45"), "{}", r.body);
    }
    assert_eq!(app.audit_count("read.personalData").await, before, "masked reads are not personal data reads");

    // The coordinator of the channel handles the appeal: in clear, and audited.
    let r = app.gql(Some(&s.coordinator), EVENTS, json!({"id": id})).await;
    let data = update(&r);
    assert_eq!(data["authorName"], "Анна Сидорова");
    assert_eq!(data["authorContact"], "+7 (913) 123-45-67");
    assert_eq!(app.audit_count("read.personalData").await, before + 1, "the unmasked read is audited");
    let entry = mcu::entity::audit_log::Entity::find()
        .filter(mcu::entity::audit_log::Column::Action.eq("read.personalData"))
        .order_by_desc(mcu::entity::audit_log::Column::Id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.target.as_deref(), Some(format!("appeal:{id}").as_str()));
    // The history without its data shows no personal data and is not audited.
    let r = app.gql(Some(&s.coordinator), "query($id:ID!){appeal(id:$id){events{action}}}", json!({"id": id})).await;
    r.data();
    assert_eq!(app.audit_count("read.personalData").await, before + 1);
}

/// A request computes the caller's row scope once and hands it down, and the territory
/// subtree of a curator limited to a territory comes from the reference data in memory: a
/// mutation costs such a curator no statement more than one who is not limited.
#[tokio::test]
async fn a_mutation_costs_a_curator_limited_to_a_territory_no_more_statements() {
    let app = spawn_app().await;
    app.set_now("2026-12-01T10:00:00+07:00");
    let admin = app.admin().await;
    let city = app.territory(&admin, "Сорск", None).await;
    let (_, everywhere) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let (_, limited) = app.user_with(&admin, &["CURATOR"], json!({"territoryId": city})).await;
    let mut cost = Vec::new();
    for token in [&everywhere, &limited] {
        let input = json!({"kind": "APPEAL", "channel": "EMAIL", "text": "Яма у дома", "territoryId": city});
        let (id, ..) = app.appeal(token, input).await;
        let before = app.sql_statements();
        app.act(token, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
        cost.push(app.sql_statements() - before);
    }
    assert_eq!(cost[1], cost[0], "statements of registerAppeal, unlimited and limited: {cost:?}");
}
