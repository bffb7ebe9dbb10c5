//! Polls over HTTP: drafting and publishing, public voting counted exactly once (also under
//! 200 concurrent attempts with one invitation), results against an independent tally,
//! validation, discussions with moderation and suggested topics.

use std::collections::HashMap;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Gql, TestApp, spawn_app, spawn_app_with};

const POLL: &str = "id status version access publicResults questions { id type options { id text } } \
    results { ballots questions { questionId average textAnswers texts options { optionId count share } } } \
    comments { id text hidden }";

async fn create_poll(app: &TestApp, token: &str, input: Value) -> Gql {
    let q = format!("mutation($i:CreatePollInput!){{ r: createPoll(input:$i) {{ {POLL} }} }}");
    app.gql(Some(token), &q, json!({ "i": input })).await
}

async fn poll_step(app: &TestApp, token: &str, mutation: &str, id: &str, version: i64) -> Gql {
    let q = format!("mutation($id:ID!,$v:Int!){{ r: {mutation}(id:$id, version:$v) {{ {POLL} }} }}");
    app.gql(Some(token), &q, json!({ "id": id, "v": version })).await
}

async fn staff_view(app: &TestApp, token: &str, id: &str) -> Gql {
    app.gql(Some(token), &format!("query($id:ID!){{ r: poll(id:$id) {{ {POLL} }} }}"), json!({ "id": id })).await
}

async fn public_view(app: &TestApp, id: &str) -> Gql {
    app.gql(None, &format!("query($id:ID!){{ r: publicPoll(id:$id) {{ {POLL} }} }}"), json!({ "id": id })).await
}

async fn vote(app: &TestApp, poll: &str, key: &str, answers: Value) -> Gql {
    app.gql(
        None,
        "mutation($i:CastVoteInput!){ castVote(input:$i) }",
        json!({ "i": { "pollId": poll, "respondentKey": key, "answers": answers } }),
    )
    .await
}

fn survey(access: &str) -> Value {
    json!({
        "title": "Благоустройство двора", "kind": "SURVEY", "access": access,
        "questions": [
            {"text": "Что сделать первым?", "type": "SINGLE", "options": ["Площадка", "Освещение", "Парковка"]},
            {"text": "Что ещё важно?", "type": "MULTIPLE", "options": ["Скамейки", "Урны", "Деревья"]},
            {"text": "Оцените двор", "type": "SCALE"},
            {"text": "Ваши предложения", "type": "TEXT"}
        ]
    })
}

/// Ids of the questions and their options: `(question ids, option ids per question)`.
fn ids(r: &Gql) -> (Vec<String>, Vec<Vec<String>>) {
    let qs = r.data()["r"]["questions"].as_array().unwrap();
    let q = qs.iter().map(|q| q["id"].as_str().unwrap().to_string()).collect();
    let o = qs
        .iter()
        .map(|q| q["options"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_string()).collect())
        .collect();
    (q, o)
}

/// One ballot: option index of Q1, option indexes of Q2, scale of Q3, text of Q4.
type Ballot = (usize, Vec<usize>, i64, &'static str);

fn answers(q: &[String], o: &[Vec<String>], b: &Ballot) -> Value {
    json!([
        {"questionId": q[0], "optionIds": [o[0][b.0]]},
        {"questionId": q[1], "optionIds": b.1.iter().map(|i| o[1][*i].clone()).collect::<Vec<_>>()},
        {"questionId": q[2], "scale": b.2},
        {"questionId": q[3], "text": b.3}
    ])
}

/// Checks `results` against a tally of `ballots` made here.
fn assert_results(results: &Value, q: &[String], o: &[Vec<String>], ballots: &[Ballot], staff: bool) {
    let n = ballots.len();
    assert_eq!(results["ballots"], n);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for b in ballots {
        *counts.entry(o[0][b.0].clone()).or_default() += 1;
        for i in &b.1 {
            *counts.entry(o[1][*i].clone()).or_default() += 1;
        }
    }
    for (qi, qr) in results["questions"].as_array().unwrap().iter().enumerate() {
        assert_eq!(qr["questionId"], q[qi].as_str());
        for opt in qr["options"].as_array().unwrap() {
            let expected = counts.get(opt["optionId"].as_str().unwrap()).copied().unwrap_or(0);
            assert_eq!(opt["count"], expected, "{opt}");
            assert!((opt["share"].as_f64().unwrap() - expected as f64 / n as f64).abs() < 1e-9);
        }
    }
    let avg = ballots.iter().map(|b| b.2 as f64).sum::<f64>() / n as f64;
    assert!((results["questions"][2]["average"].as_f64().unwrap() - avg).abs() < 1e-9);
    assert!(results["questions"][0]["average"].is_null());
    assert_eq!(results["questions"][3]["textAnswers"], n);
    if staff {
        assert_eq!(results["questions"][3]["texts"].as_array().unwrap().len(), n);
    } else {
        assert!(results["questions"][3]["texts"].is_null());
    }
}

#[tokio::test]
async fn an_open_survey_counts_each_respondent_once_and_shows_exact_results() {
    let app = spawn_app().await;
    let st = app.staff().await;
    assert_eq!(create_poll(&app, &st.executor, survey("OPEN")).await.code(), "FORBIDDEN");
    assert_eq!(create_poll(&app, &st.head, survey("OPEN")).await.code(), "FORBIDDEN");
    let mut bad = survey("OPEN");
    bad["questions"][0]["options"] = json!(["Одна"]);
    bad["questions"][2]["options"] = json!(["1", "2"]);
    let r = create_poll(&app, &st.coordinator, bad).await;
    assert_eq!(r.field_paths(), vec!["input.questions.0.options", "input.questions.2.options"]);

    let r = create_poll(&app, &st.coordinator, survey("OPEN")).await;
    let id = r.data()["r"]["id"].as_str().unwrap().to_string();
    let (q, o) = ids(&r);
    let good: Ballot = (0, vec![0, 2], 4, "Больше света");
    // Unpublished: the public does not see it.
    assert_eq!(public_view(&app, &id).await.code(), "NOT_FOUND");
    assert_eq!(vote(&app, &id, "k0", answers(&q, &o, &good)).await.code(), "NOT_FOUND");
    assert_eq!(vote(&app, "999999", "k0", answers(&q, &o, &good)).await.code(), "NOT_FOUND");
    // Staff read it; executors do not.
    assert_eq!(staff_view(&app, &st.head, &id).await.data()["r"]["status"], "DRAFT");
    assert_eq!(staff_view(&app, &st.executor, &id).await.code(), "FORBIDDEN");
    assert_eq!(poll_step(&app, &st.head, "publishPoll", &id, 1).await.code(), "FORBIDDEN");

    let r = poll_step(&app, &st.coordinator, "publishPoll", &id, 1).await;
    assert_eq!(r.data()["r"]["status"], "PUBLISHED");
    assert_eq!(poll_step(&app, &st.coordinator, "closePoll", &id, 1).await.code(), "CONFLICT");
    let public = public_view(&app, &id).await;
    assert!(public.data()["r"]["results"].is_null());
    assert_eq!(public.data()["r"]["questions"].as_array().unwrap().len(), 4);

    // Validation, each with its path.
    let two = json!([{"questionId": q[0], "optionIds": [o[0][0], o[0][1]]}, {"questionId": q[1], "optionIds": [o[1][0]]},
                     {"questionId": q[2], "scale": 3}, {"questionId": q[3], "text": "x"}]);
    assert_eq!(vote(&app, &id, "v", two).await.field_paths(), vec!["input.answers.0.optionIds"]);
    let mut wrong = answers(&q, &o, &good);
    wrong[0]["optionIds"] = json!([o[1][0]]);
    assert_eq!(vote(&app, &id, "v", wrong).await.field_paths(), vec!["input.answers.0.optionIds"]);
    let mut scale = answers(&q, &o, &good);
    scale[2]["scale"] = json!(6);
    assert_eq!(vote(&app, &id, "v", scale).await.field_paths(), vec!["input.answers.2.scale"]);
    let mut long = answers(&q, &o, &good);
    long[3]["text"] = json!("я".repeat(2001));
    assert_eq!(vote(&app, &id, "v", long).await.field_paths(), vec!["input.answers.3.text"]);
    let mut unknown = answers(&q, &o, &good);
    unknown[3]["questionId"] = json!("999999");
    assert_eq!(vote(&app, &id, "v", unknown).await.field_paths(), vec!["input.answers.3.questionId"]);
    let mut missing = answers(&q, &o, &good);
    missing.as_array_mut().unwrap().pop();
    let r = vote(&app, &id, "v", missing).await;
    assert_eq!((r.code(), r.field_paths()), ("BAD_USER_INPUT".into(), vec!["input.answers".to_string()]));

    let ballots: Vec<Ballot> = vec![
        (0, vec![0, 2], 4, "Больше света"),
        (1, vec![1], 2, "Скамейки у подъезда"),
        (0, vec![0, 1, 2], 5, "Всё хорошо"),
        (2, vec![2], 1, "Парковка нужна"),
        (0, vec![1], 3, "Урны"),
    ];
    for (i, b) in ballots.iter().enumerate() {
        assert_eq!(vote(&app, &id, &format!("resident-{i}"), answers(&q, &o, b)).await.data()["castVote"], true);
    }
    // The same respondent again.
    assert_eq!(vote(&app, &id, "resident-0", answers(&q, &o, &good)).await.code(), "CONFLICT");
    let r = staff_view(&app, &st.coordinator, &id).await;
    assert_results(&r.data()["r"]["results"], &q, &o, &ballots, true);
    assert_eq!(app.audit_count("castVote").await, ballots.len() as u64);

    let version = r.data()["r"]["version"].as_i64().unwrap();
    poll_step(&app, &st.coordinator, "closePoll", &id, version).await.data();
    let r = vote(&app, &id, "late", answers(&q, &o, &good)).await;
    assert_eq!((r.code(), r.field_paths()), ("BAD_USER_INPUT".into(), vec!["input.pollId".to_string()]));
    let public = public_view(&app, &id).await;
    assert_results(&public.data()["r"]["results"], &q, &o, &ballots, false);

    // A poll whose results stay internal.
    let mut private = survey("OPEN");
    private["publicResults"] = json!(false);
    let r = create_poll(&app, &st.coordinator, private).await;
    let pid = r.data()["r"]["id"].as_str().unwrap().to_string();
    poll_step(&app, &st.coordinator, "publishPoll", &pid, 1).await.data();
    poll_step(&app, &st.coordinator, "closePoll", &pid, 2).await.data();
    assert!(public_view(&app, &pid).await.data()["r"]["results"].is_null());
    assert_eq!(staff_view(&app, &st.head, &pid).await.data()["r"]["results"]["ballots"], 0);

    // The staff list filters by status and kind.
    let list = "query($s:[PollStatus!]){ polls(filter:{status:$s, kind:[SURVEY]}) { totalCount edges { node { id questions { id } } } } }";
    let r = app.gql(Some(&st.head), list, json!({"s": ["CLOSED"]})).await;
    assert_eq!(r.data()["polls"]["totalCount"], 2);
    assert_eq!(r.data()["polls"]["edges"][1]["node"]["questions"].as_array().unwrap().len(), 4);
    assert_eq!(app.gql(Some(&st.head), list, json!({"s": ["DRAFT"]})).await.data()["polls"]["totalCount"], 0);
    assert_eq!(app.gql(Some(&st.executor), list, json!({"s": ["DRAFT"]})).await.code(), "FORBIDDEN");
}

#[tokio::test]
async fn votes_outside_the_window_are_refused() {
    let app = spawn_app().await;
    app.set_now("2026-12-01T10:00:00+07:00");
    let st = app.staff().await;
    let mut input = survey("OPEN");
    input["opensAt"] = json!("2026-12-02T00:00:00+07:00");
    input["closesAt"] = json!("2026-12-03T00:00:00+07:00");
    let r = create_poll(&app, &st.coordinator, input).await;
    let id = r.data()["r"]["id"].as_str().unwrap().to_string();
    let (q, o) = ids(&r);
    poll_step(&app, &st.coordinator, "publishPoll", &id, 1).await.data();
    let b: Ballot = (0, vec![0], 3, "x");
    assert_eq!(vote(&app, &id, "a", answers(&q, &o, &b)).await.field_paths(), vec!["input.pollId"]);
    app.set_now("2026-12-02T10:00:00+07:00");
    vote(&app, &id, "a", answers(&q, &o, &b)).await.data();
    app.set_now("2026-12-03T10:00:00+07:00");
    assert_eq!(vote(&app, &id, "b", answers(&q, &o, &b)).await.field_paths(), vec!["input.pollId"]);
}

#[tokio::test]
async fn two_hundred_concurrent_votes_with_one_invitation_count_one_ballot() {
    let app = spawn_app_with(|a| a.poll_rate_limit = 10_000).await;
    let st = app.staff().await;
    let r = create_poll(&app, &st.coordinator, survey("INVITE")).await;
    let id = r.data()["r"]["id"].as_str().unwrap().to_string();
    let (q, o) = ids(&r);
    let invites = "mutation($p:ID!,$n:Int!){ generatePollInvites(pollId:$p, count:$n) }";
    assert_eq!(app.gql(Some(&st.head), invites, json!({"p": id, "n": 2})).await.code(), "FORBIDDEN");
    assert_eq!(app.gql(Some(&st.coordinator), invites, json!({"p": id, "n": 1001})).await.field_paths(), vec!["count"]);
    let codes: Vec<String> =
        app.gql(Some(&st.coordinator), invites, json!({"p": id, "n": 3})).await.data()["generatePollInvites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
    assert_eq!(codes.len(), 3);
    poll_step(&app, &st.coordinator, "publishPoll", &id, 1).await.data();

    let b: Ballot = (1, vec![0, 1], 5, "Спасибо");
    let attempts = (0..200).map(|_| vote(&app, &id, &codes[0], answers(&q, &o, &b)));
    let results = join_all(attempts).await;
    let accepted = results.iter().filter(|r| r.body["data"]["castVote"] == true).count();
    assert_eq!(accepted, 1, "exactly one attempt is counted");
    for r in results.iter().filter(|r| r.body["data"]["castVote"] != true) {
        assert!(["BAD_USER_INPUT", "CONFLICT"].contains(&r.code().as_str()), "{}", r.body);
    }
    let staff_results = staff_view(&app, &st.coordinator, &id).await;
    assert_results(&staff_results.data()["r"]["results"], &q, &o, std::slice::from_ref(&b), true);

    // Another code still works once; an unknown one never.
    vote(&app, &id, &codes[1].to_lowercase(), answers(&q, &o, &b)).await.data();
    assert_eq!(vote(&app, &id, &codes[1], answers(&q, &o, &b)).await.field_paths(), vec!["input.respondentKey"]);
    assert_eq!(vote(&app, &id, "NOTACODE", answers(&q, &o, &b)).await.field_paths(), vec!["input.respondentKey"]);
    assert_eq!(staff_view(&app, &st.head, &id).await.data()["r"]["results"]["ballots"], 2);
}

#[tokio::test]
async fn public_actions_are_rate_limited_per_client() {
    let app = spawn_app_with(|a| a.poll_rate_limit = 2).await;
    let st = app.staff().await;
    let r = create_poll(&app, &st.coordinator, survey("OPEN")).await;
    let id = r.data()["r"]["id"].as_str().unwrap().to_string();
    let (q, o) = ids(&r);
    poll_step(&app, &st.coordinator, "publishPoll", &id, 1).await.data();
    let b: Ballot = (0, vec![0], 3, "x");
    vote(&app, &id, "a", answers(&q, &o, &b)).await.data();
    vote(&app, &id, "b", answers(&q, &o, &b)).await.data();
    assert_eq!(vote(&app, &id, "c", answers(&q, &o, &b)).await.code(), "RATE_LIMITED");
}

#[tokio::test]
async fn discussions_take_public_comments_and_moderation_hides_them() {
    let app = spawn_app().await;
    let st = app.staff().await;
    let r = create_poll(
        &app,
        &st.coordinator,
        json!({"title": "Новый сквер", "kind": "DISCUSSION", "access": "OPEN", "questions": []}),
    )
    .await;
    let id = r.data()["r"]["id"].as_str().unwrap().to_string();
    let comment = "mutation($p:ID!,$k:String!,$t:String!){ addPollComment(pollId:$p, respondentKey:$k, text:$t) { id text hidden } }";
    assert_eq!(app.gql(None, comment, json!({"p": id, "k": "a", "t": "Хорошо"})).await.code(), "NOT_FOUND");
    poll_step(&app, &st.coordinator, "publishPoll", &id, 1).await.data();
    let first = app.gql(None, comment, json!({"p": id, "k": "a", "t": "Нужны скамейки"})).await;
    let first_id = first.data()["addPollComment"]["id"].as_str().unwrap().to_string();
    app.gql(None, comment, json!({"p": id, "k": "b", "t": "Спам спам"})).await.data();
    let spam_id = app
        .gql(Some(&st.head), &format!("query($id:ID!){{ r: poll(id:$id) {{ {POLL} }} }}"), json!({"id": id}))
        .await
        .data()["r"]["comments"][1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for text in [String::new(), "я".repeat(2001)] {
        assert_eq!(app.gql(None, comment, json!({"p": id, "k": "a", "t": text})).await.field_paths(), vec!["text"]);
    }
    // Comments are for discussions only.
    let r = create_poll(&app, &st.coordinator, survey("OPEN")).await;
    let sid = r.data()["r"]["id"].as_str().unwrap().to_string();
    poll_step(&app, &st.coordinator, "publishPoll", &sid, 1).await.data();
    assert_eq!(app.gql(None, comment, json!({"p": sid, "k": "a", "t": "x"})).await.field_paths(), vec!["pollId"]);

    let moderate =
        "mutation($id:ID!,$h:Boolean!){ moderatePollComment(id:$id, hidden:$h, reason:\"спам\") { id hidden } }";
    assert_eq!(app.gql(Some(&st.head), moderate, json!({"id": spam_id, "h": true})).await.code(), "FORBIDDEN");
    assert_eq!(app.gql(None, moderate, json!({"id": spam_id, "h": true})).await.code(), "UNAUTHENTICATED");
    let r = app.gql(Some(&st.coordinator), moderate, json!({"id": spam_id, "h": true})).await;
    assert_eq!(r.data()["moderatePollComment"]["hidden"], true);
    assert_eq!(app.audit_count("moderatePollComment").await, 1);
    let public = public_view(&app, &id).await;
    let texts: Vec<&str> =
        public.data()["r"]["comments"].as_array().unwrap().iter().map(|c| c["text"].as_str().unwrap()).collect();
    assert_eq!(texts, vec!["Нужны скамейки"]);
    let staff = staff_view(&app, &st.coordinator, &id).await;
    assert_eq!(staff.data()["r"]["comments"].as_array().unwrap().len(), 2);
    assert_eq!(staff.data()["r"]["comments"][1]["hidden"], true);
    assert_eq!(staff.data()["r"]["comments"][0]["id"], first_id.as_str());
}

#[tokio::test]
async fn suggestions_rank_categories_by_recent_appeals_with_growth() {
    let app = spawn_app().await;
    app.set_now("2026-12-01T10:00:00+07:00");
    let st = app.staff().await;
    let (_, curator) = app.user_with(&st.admin, &["CURATOR"], json!({})).await;
    let heating = app.category(&curator, "Отопление").await;
    let snow = app.category(&curator, "Уборка снега и наледи").await;
    let mk = |cat: &str, at: &str| json!({"kind": "MESSAGE", "channel": "PHONE", "text": "Жалоба", "categoryId": cat, "receivedAt": at});
    for at in ["2026-11-20T10:00:00+07:00", "2026-11-25T10:00:00+07:00", "2026-11-30T10:00:00+07:00"] {
        app.appeal(&curator, mk(&heating, at)).await;
    }
    app.appeal(&curator, mk(&heating, "2026-10-20T10:00:00+07:00")).await;
    for at in ["2026-11-21T10:00:00+07:00", "2026-11-22T10:00:00+07:00"] {
        app.appeal(&curator, mk(&snow, at)).await;
    }
    let q = "{ pollSuggestions(limit: 5) { category { id } appeals previousAppeals growth question } }";
    assert_eq!(app.gql(Some(&st.executor), q, json!({})).await.code(), "FORBIDDEN");
    let r = app.gql(Some(&st.head), q, json!({})).await;
    let s = r.data()["pollSuggestions"].as_array().unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0]["category"]["id"], heating.as_str());
    assert_eq!((s[0]["appeals"].as_i64(), s[0]["previousAppeals"].as_i64()), (Some(3), Some(1)));
    assert!((s[0]["growth"].as_f64().unwrap() - 2.0).abs() < 1e-9);
    assert_eq!(s[1]["category"]["id"], snow.as_str());
    assert!(s[1]["growth"].is_null());
    assert!(s[0]["question"].as_str().unwrap().contains("Отопление"));
}

#[tokio::test]
async fn analytics_tokens_read_poll_results_without_citizens_free_text() {
    let app = spawn_app().await;
    let st = app.staff().await;
    let token = |scope: &'static str| {
        let (app, admin) = (&app, st.admin.clone());
        async move {
            let q = format!("mutation{{createApiToken(input:{{name:\"{scope}\",scopes:[{scope}]}}){{secret}}}}");
            app.gql(Some(&admin), &q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().to_string()
        }
    };
    let bi = token("ANALYTICS_READ").await;
    let r = create_poll(&app, &st.coordinator, survey("OPEN")).await;
    let id = r.data()["r"]["id"].as_str().unwrap().to_string();
    let (q, o) = ids(&r);
    poll_step(&app, &st.coordinator, "publishPoll", &id, 1).await.data();
    let ballots: Vec<Ballot> = vec![(0, vec![1], 5, "Звоните Ивановой, 8 999 123-45-67"), (2, vec![0, 2], 3, "Свет")];
    for (i, b) in ballots.iter().enumerate() {
        assert_eq!(vote(&app, &id, &format!("k{i}"), answers(&q, &o, b)).await.data()["castVote"], true);
    }
    // While the poll is open the public sees no results; the regional centre does, without
    // the text answers.
    assert!(public_view(&app, &id).await.data()["r"]["results"].is_null());
    let r = staff_view(&app, &bi, &id).await;
    assert_results(&r.data()["r"]["results"], &q, &o, &ballots, false);
    assert!(!r.body.to_string().contains("Ивановой"));
    let list =
        app.gql(Some(&bi), "{ polls { totalCount edges { node { id results { ballots } } } } }", json!({})).await;
    assert_eq!(list.data()["polls"]["edges"][0]["node"]["results"]["ballots"], 2);
    assert_results(&staff_view(&app, &st.head, &id).await.data()["r"]["results"], &q, &o, &ballots, true);

    // A discussion: tokens see what the public sees, never the hidden comments.
    let r = create_poll(
        &app,
        &st.coordinator,
        json!({"title": "Сквер", "kind": "DISCUSSION", "access": "OPEN", "questions": []}),
    )
    .await;
    let did = r.data()["r"]["id"].as_str().unwrap().to_string();
    poll_step(&app, &st.coordinator, "publishPoll", &did, 1).await.data();
    let comment =
        "mutation($p:ID!,$k:String!,$t:String!){ addPollComment(pollId:$p, respondentKey:$k, text:$t) { id } }";
    app.gql(None, comment, json!({"p": did, "k": "a", "t": "Нужны скамейки"})).await.data();
    let spam = app.gql(None, comment, json!({"p": did, "k": "b", "t": "Спам Петрова"})).await.data()["addPollComment"]
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let moderate = "mutation($id:ID!){ moderatePollComment(id:$id, hidden:true, reason:\"спам\") { id } }";
    app.gql(Some(&st.coordinator), moderate, json!({"id": spam})).await.data();
    let r = app
        .gql(
            Some(&bi),
            "query($id:ID!){ poll(id:$id) { comments { text hidden moderationReason } } }",
            json!({"id": did}),
        )
        .await;
    assert_eq!(
        r.data()["poll"]["comments"],
        json!([{"text": "Нужны скамейки", "hidden": false, "moderationReason": null}])
    );

    // Tokens only read: suggestions, drafting and moderation stay with staff; other scopes see nothing.
    assert_eq!(app.gql(Some(&bi), "{ pollSuggestions { appeals } }", json!({})).await.code(), "FORBIDDEN");
    assert_eq!(create_poll(&app, &bi, survey("OPEN")).await.code(), "FORBIDDEN");
    assert_eq!(app.gql(Some(&bi), moderate, json!({"id": spam})).await.code(), "FORBIDDEN");
    for scope in ["APPEALS_READ", "APPEALS_INGEST"] {
        let t = token(scope).await;
        assert_eq!(staff_view(&app, &t, &id).await.code(), "FORBIDDEN", "{scope}");
    }
}

/// The staff list of polls with their results: each poll's results in the list are those of
/// the poll alone (text answers to staff only), and a page costs the same number of
/// statements whatever the number of polls on it (it cost six more per poll).
#[tokio::test]
async fn a_page_of_polls_with_results_costs_the_same_statements_for_two_or_six_polls() {
    let app = spawn_app().await;
    let st = app.staff().await;
    let list = format!("{{ polls(first: 20) {{ totalCount edges {{ node {{ {POLL} }} }} }} }}");
    let mut polls = Vec::new();
    async fn add(app: &TestApp, coordinator: &str, n: usize) -> (String, Vec<String>, Vec<Vec<String>>, Vec<Ballot>) {
        let r = create_poll(app, coordinator, survey("OPEN")).await;
        let id = r.data()["r"]["id"].as_str().unwrap().to_string();
        let (q, o) = ids(&r);
        poll_step(app, coordinator, "publishPoll", &id, 1).await.data();
        let ballots: Vec<Ballot> = (0..n).map(|i| (i % 3, vec![(i + 1) % 3], (i % 5) as i64 + 1, "Скамейки")).collect();
        for (i, b) in ballots.iter().enumerate() {
            assert_eq!(vote(app, &id, &format!("{id}-{i}"), answers(&q, &o, b)).await.data()["castVote"], true);
        }
        (id, q, o, ballots)
    }
    async fn statements(app: &TestApp, token: &str, list: &str) -> (u64, Gql) {
        app.settle().await;
        let before = app.sql_statements();
        let r = app.gql(Some(token), list, json!({})).await;
        (app.sql_statements() - before, r)
    }
    for n in [2, 3] {
        polls.push(add(&app, &st.coordinator, n).await);
    }
    let (two, _) = statements(&app, &st.coordinator, &list).await;
    for n in [1, 4, 0, 5] {
        polls.push(add(&app, &st.coordinator, n).await);
    }
    let (six, r) = statements(&app, &st.coordinator, &list).await;
    assert_eq!(two, six, "a page of two polls cost {two} statements, of six {six}");
    let edges = r.data()["polls"]["edges"].as_array().unwrap().clone();
    assert_eq!(edges.len(), 6);
    for (id, q, o, ballots) in &polls {
        let node = &edges.iter().find(|e| e["node"]["id"] == id.as_str()).unwrap()["node"];
        assert_eq!(node["results"], staff_view(&app, &st.coordinator, id).await.data()["r"]["results"]);
        if ballots.is_empty() {
            assert_eq!(node["results"]["ballots"], 0);
        } else {
            assert_results(&node["results"], q, o, ballots, true);
        }
    }
    // An analytics token reads the same list without the citizens' text answers.
    let q = "mutation{createApiToken(input:{name:\"bi\",scopes:[ANALYTICS_READ]}){secret}}";
    let bi =
        app.gql(Some(&st.admin), q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().to_string();
    let r = app.gql(Some(&bi), &list.replace(" comments { id text hidden }", ""), json!({})).await;
    for e in r.data()["polls"]["edges"].as_array().unwrap() {
        let qs = e["node"]["results"]["questions"].as_array().unwrap();
        assert!(qs[3]["texts"].is_null());
        let own = polls.iter().find(|p| p.0 == e["node"]["id"].as_str().unwrap()).unwrap();
        assert_eq!(qs[3]["textAnswers"], own.3.len());
    }
}
