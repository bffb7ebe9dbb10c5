//! Communication conflicts (issue 18, item 10; decree 1.2б, 1.2в): the flags on an appeal and
//! the counts per recipient, on a fixture counted by hand.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const FLAGS: &str = "query($id:ID!){ appeal(id:$id){ conflictFlags } }";
const COUNTS: &str = "query($p:PeriodInput!){ analytics { conflicts(period:$p) { recipient { id } flagged repeatedReopening repeatAuthor escalation } } }";

async fn version(app: &TestApp, token: &str, id: &str) -> i64 {
    let r = app.gql(Some(token), "query($id:ID!){appeal(id:$id){version}}", json!({"id": id})).await;
    r.data()["appeal"]["version"].as_i64().unwrap()
}

async fn create(app: &TestApp, token: &str, input: Value) -> String {
    let mut i = json!({"kind": "MESSAGE", "channel": "POS", "text": "Не вывозят мусор"});
    if let (Some(obj), Some(extra)) = (i.as_object_mut(), input.as_object()) {
        for (k, v) in extra {
            obj.insert(k.clone(), v.clone());
        }
    }
    app.appeal(token, i).await.0
}

async fn assign(app: &TestApp, token: &str, id: &str, recipient: &str, register: bool) {
    if register {
        let v = version(app, token, id).await;
        app.act(token, "registerAppeal", "AppealActionInput", json!({"id": id, "version": v})).await.data();
    }
    let v = version(app, token, id).await;
    app.act(token, "assignAppeal", "AssignAppealInput", json!({"id": id, "version": v, "recipientId": recipient}))
        .await
        .data();
}

/// The executor answers and the author rates it 2 of 10: the appeal is reopened.
async fn answer_and_reopen(app: &TestApp, executor: &str, id: &str) {
    let v = version(app, executor, id).await;
    app.act(executor, "startWork", "AppealActionInput", json!({"id": id, "version": v})).await.data();
    let v = version(app, executor, id).await;
    let r =
        app.act(executor, "answerAppeal", "AnswerAppealInput", json!({"id": id, "version": v, "text": "Ответ"})).await;
    let code = r.data()["r"]["feedbackCode"].as_str().unwrap().to_string();
    let ok = app.gql(None, "mutation($c:String!){submitFeedback(code:$c,score:2)}", json!({"c": code})).await;
    assert_eq!(ok.data()["submitFeedback"], true);
}

#[tokio::test]
async fn conflict_flags_on_appeals_and_counts_per_recipient() {
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-12-23T10:00:00+07:00");
    let s = app.staff().await;
    let other = app.recipient(&s.admin, "Управление дорог").await;
    let (_, other_executor) = app.user_with(&s.admin, &["EXECUTOR"], json!({"recipientId": other})).await;
    let heating = app.category(&s.curator, "Отопление").await;
    let roads = app.category(&s.curator, "Ямы и ремонт дорог").await;
    let c = &s.coordinator;

    // One author (contact written differently) on heating: 2 Nov, 20 Nov (18 days later: a
    // repeat), 22 Dec (32 days after the last: none). Another category on 21 Nov: none.
    let by = |at: &str, contact: &str, cat: &str| json!({"receivedAt": at, "authorName": "Анна", "authorContact": contact, "categoryId": cat});
    let a1 = create(&app, c, by("2026-11-02T10:00:00+07:00", "anna@example.ru", &heating)).await;
    let a2 = create(&app, c, by("2026-11-20T10:00:00+07:00", " Anna@Example.RU ", &heating)).await;
    let a3 = create(&app, c, by("2026-12-22T10:00:00+07:00", "anna@example.ru", &heating)).await;
    let a4 = create(&app, c, by("2026-11-21T10:00:00+07:00", "anna@example.ru", &roads)).await;
    // Reopened twice, and once.
    let twice =
        create(&app, c, json!({"receivedAt": "2026-11-05T10:00:00+07:00", "authorContact": "b@example.ru"})).await;
    let once =
        create(&app, c, json!({"receivedAt": "2026-11-06T10:00:00+07:00", "authorContact": "c@example.ru"})).await;
    // A social post with words of escalation, and the same words in a POS message.
    let post = create(
        &app,
        c,
        json!({"kind": "INCIDENT", "channel": "INCIDENT", "externalId": "vk-1", "receivedAt": "2026-11-10T10:00:00+07:00",
               "text": "Третий месяц ямы, пишу в прокуратуру и подам в суд"}),
    )
    .await;
    let pos = create(
        &app,
        c,
        json!({"receivedAt": "2026-11-11T10:00:00+07:00", "text": "Подам в суд на управляющую компанию"}),
    )
    .await;

    for id in [&a1, &a2, &a3, &a4, &twice, &once] {
        assign(&app, c, id, &s.recipient, true).await;
    }
    assign(&app, c, &post, &other, true).await;
    assign(&app, c, &pos, &other, true).await;
    answer_and_reopen(&app, &s.executor, &twice).await;
    answer_and_reopen(&app, &s.executor, &twice).await;
    answer_and_reopen(&app, &s.executor, &once).await;

    let flags = |id: String| {
        let app = &app;
        let t = s.curator.clone();
        async move { app.gql(Some(&t), FLAGS, json!({"id": id})).await.data()["appeal"]["conflictFlags"].clone() }
    };
    assert_eq!(flags(a1.clone()).await, json!([]));
    assert_eq!(flags(a2.clone()).await, json!(["REPEAT_AUTHOR"]));
    assert_eq!(flags(a3.clone()).await, json!([]), "32 days after the last one");
    assert_eq!(flags(a4.clone()).await, json!([]), "another category");
    assert_eq!(flags(twice.clone()).await, json!(["REPEATED_REOPENING"]));
    assert_eq!(flags(once.clone()).await, json!([]));
    assert_eq!(flags(post.clone()).await, json!(["ESCALATION"]));
    assert_eq!(flags(pos.clone()).await, json!([]), "not a social post");

    // A list page: the flags of every appeal, and the author's key nowhere. (Each measured
    // request follows one that leaves the caller's session known, so neither reads it.)
    let warm = || app.gql(Some(&s.head), "{ me { id } }", json!({}));
    warm().await;
    let before = app.sql_statements();
    let r = app.gql(Some(&s.head), "{ appeals(first:20){ edges { node { id conflictFlags } } } }", json!({})).await;
    let page = r.data()["appeals"]["edges"].as_array().unwrap().clone();
    assert_eq!(page.len(), 8);
    let flagged: usize = page.iter().filter(|n| n["node"]["conflictFlags"] != json!([])).count();
    assert_eq!(flagged, 3);
    assert!(!r.data().to_string().to_lowercase().contains("anna@example"), "the author's key must not leak");
    let statements = app.sql_statements() - before;
    warm().await;
    let before = app.sql_statements();
    let r1 = app.gql(Some(&s.head), "{ appeals(first:20){ edges { node { id } } } }", json!({})).await;
    assert_eq!(r1.data()["appeals"]["edges"].as_array().unwrap().len(), 8);
    let without = app.sql_statements() - before;
    assert_eq!(statements, without + 1, "the flags of a page cost one statement");

    // Counts per recipient, recomputed from the fixture above.
    let period = json!({"from": "2026-11-01", "to": "2026-12-31"});
    let expected_own = json!({"recipient": {"id": s.recipient}, "flagged": 2, "repeatedReopening": 1, "repeatAuthor": 1, "escalation": 0});
    let expected_other =
        json!({"recipient": {"id": other}, "flagged": 1, "repeatedReopening": 0, "repeatAuthor": 0, "escalation": 1});
    let counts = |t: String, p: Value| {
        let app = &app;
        async move { app.gql(Some(&t), COUNTS, json!({"p": p})).await }
    };
    let all = counts(s.curator.clone(), period.clone()).await;
    assert_eq!(all.data()["analytics"]["conflicts"], json!([expected_own, expected_other]));
    assert_eq!(
        counts(s.head.clone(), period.clone()).await.data()["analytics"]["conflicts"],
        json!([expected_own, expected_other])
    );
    // Received in the period only: November without 22 December changes nothing here, and
    // 1–4 November holds no flagged appeal.
    let early = counts(s.curator.clone(), json!({"from": "2026-11-01", "to": "2026-11-04"})).await;
    assert_eq!(early.data()["analytics"]["conflicts"], json!([]));
    // The earlier appeal of a repeat may lie before the period (2 November, 18 days before
    // the repeat of 20 November): the statement still joins the month before the period.
    let repeat_day = counts(s.curator.clone(), json!({"from": "2026-11-20", "to": "2026-11-20"})).await;
    assert_eq!(
        repeat_day.data()["analytics"]["conflicts"],
        json!([{"recipient": {"id": s.recipient}, "flagged": 1, "repeatedReopening": 0, "repeatAuthor": 1, "escalation": 0}])
    );
    // An executor gets its own recipient only.
    assert_eq!(
        counts(s.executor.clone(), period.clone()).await.data()["analytics"]["conflicts"],
        json!([expected_own])
    );
    assert_eq!(counts(other_executor, period.clone()).await.data()["analytics"]["conflicts"], json!([expected_other]));

    // Tokens: with ANALYTICS_READ allowed, without it refused.
    let token = |scope: &str| {
        let app = &app;
        let admin = s.admin.clone();
        let q = format!("mutation{{createApiToken(input:{{name:\"{scope}\",scopes:[{scope}]}}){{secret}}}}");
        async move {
            app.gql(Some(&admin), &q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().to_string()
        }
    };
    let reader = token("ANALYTICS_READ").await;
    assert_eq!(
        counts(reader, period.clone()).await.data()["analytics"]["conflicts"],
        json!([expected_own, expected_other])
    );
    let ingest = token("APPEALS_INGEST").await;
    assert_eq!(counts(ingest, period.clone()).await.code(), "FORBIDDEN");
    assert_eq!(app.gql(None, COUNTS, json!({"p": period})).await.code(), "UNAUTHENTICATED");

    // The weekly memo recommends meeting the authors: the week of 9 November holds the
    // escalating post (other recipient), the week of 16 November the repeat author (own).
    const MEMO: &str = "query($w:Date!){ analytics { weeklyMemo(weekStart:$w) { recommendations markdown } } }";
    let memo = |t: String, w: &str| {
        let app = &app;
        let w = w.to_owned();
        async move { app.gql(Some(&t), MEMO, json!({"w": w})).await.data()["analytics"]["weeklyMemo"].clone() }
    };
    let conflict_lines = |m: &Value| -> Vec<String> {
        m["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r.as_str().filter(|r| r.contains("конфликтных обращений")).map(str::to_owned))
            .collect()
    };
    let m = memo(s.curator.clone(), "2026-11-09").await;
    assert_eq!(
        conflict_lines(&m),
        [
            "«Управление дорог»: конфликтных обращений 1 (угрозы эскалации: 1) — провести личный приём авторов или встречу, проверить ответы по существу"
        ]
    );
    assert!(m["markdown"].as_str().unwrap().contains("«Управление дорог»: конфликтных обращений 1"));
    // The memo's document carries the same line among its recommendations.
    let docx = crate::documents::download(&app, &s.curator, "/exports/memo/2026-11-09.docx").await;
    let text = crate::documents::Docx::read(&docx).text();
    assert!(
        text.contains("«Управление дорог»: конфликтных обращений 1 (угрозы эскалации: 1) — провести личный приём"),
        "{text}"
    );
    let m = memo(s.curator.clone(), "2026-11-16").await;
    assert_eq!(
        conflict_lines(&m),
        [
            "«Управление ЖКХ»: конфликтных обращений 1 — провести личный приём авторов или встречу, проверить ответы по существу"
        ]
    );
    // The executor of the own recipient does not read of the other one's conflicts.
    assert_eq!(conflict_lines(&memo(s.executor.clone(), "2026-11-09").await), Vec::<String>::new());
}
