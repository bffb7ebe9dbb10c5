//! Polls in the picture (issue 18, item 9; decree 1.2б): the public list of open polls, ballots
//! verified by a one-time code sent to an e-mail (through the real SMTP sink) or a telephone
//! (through an SMS gateway stood in for here), unverified polls marked as such, and poll
//! results in analytics (by territory) and in the weekly memo.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Statement};
use serde_json::{Value, json};

use crate::helpers::{Gql, TestApp, spawn_app, spawn_app_with};
use crate::smtp::SmtpSink;

const WAIT: Duration = Duration::from_secs(10);

async fn create(app: &TestApp, token: &str, input: Value) -> Gql {
    let q = "mutation($i:CreatePollInput!){ r: createPoll(input:$i) { id version questions { id options { id } } } }";
    app.gql(Some(token), q, json!({ "i": input })).await
}

/// Creates and publishes a poll; returns its id, its first question and that question's options.
async fn published(app: &TestApp, token: &str, input: Value) -> (String, String, Vec<String>) {
    let r = create(app, token, input).await;
    let p = &r.data()["r"];
    let id = p["id"].as_str().unwrap().to_string();
    let q = p["questions"][0]["id"].as_str().unwrap_or_default().to_string();
    let o = p["questions"][0]["options"]
        .as_array()
        .map(|a| a.iter().map(|o| o["id"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    let r =
        app.gql(Some(token), "mutation($id:ID!){ publishPoll(id:$id, version:1) { id } }", json!({ "id": id })).await;
    r.data();
    (id, q, o)
}

async fn close(app: &TestApp, token: &str, id: &str) {
    app.gql(Some(token), "mutation($id:ID!){ closePoll(id:$id, version:2) { id } }", json!({ "id": id })).await.data();
}

fn vote_input(title: &str, access: &str, verification: &str) -> Value {
    json!({
        "title": title, "kind": "VOTE", "access": access, "verification": verification,
        "questions": [{"text": "Что сделать первым?", "type": "SINGLE", "options": ["Площадка", "Освещение", "Парковка"]}]
    })
}

async fn vote(app: &TestApp, input: Value) -> Gql {
    app.gql(None, "mutation($i:CastVoteInput!){ castVote(input:$i) }", json!({ "i": input })).await
}

fn ballot(poll: &str, key: &str, q: &str, option: &str) -> Value {
    json!({ "pollId": poll, "respondentKey": key, "answers": [{"questionId": q, "optionIds": [option]}] })
}

async fn request_code(app: &TestApp, poll: &str, contact: &str) -> Gql {
    let q = "mutation($p:ID!,$c:String!){ requestPollCode(pollId:$p, contact:$c) }";
    app.gql(None, q, json!({ "p": poll, "c": contact })).await
}

async fn results(app: &TestApp, token: &str, poll: &str) -> Value {
    let q = "query($id:ID!){ poll(id:$id) { results { ballots verified verifiedBallots } } }";
    app.gql(Some(token), q, json!({ "id": poll })).await.data()["poll"]["results"].clone()
}

/// The six-digit code in a message.
fn code_in(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(6)
        .enumerate()
        .find(|(i, w)| {
            w.iter().all(char::is_ascii_digit)
                && (*i == 0 || !chars[i - 1].is_ascii_digit())
                && chars.get(i + 6).is_none_or(|c| !c.is_ascii_digit())
        })
        .map_or_else(|| panic!("no code in {text}"), |(_, w)| w.iter().collect())
}

/// A code that is not `code`.
fn other_than(code: &str) -> String {
    if code == "000000" { "111111".into() } else { "000000".into() }
}

#[tokio::test]
async fn public_polls_lists_only_open_public_polls_and_only_their_public_fields() {
    let app = spawn_app().await;
    let st = app.staff().await;
    app.set_now("2026-11-24T10:00:00+07:00");
    let (open_a, _, _) = published(&app, &st.coordinator, vote_input("Открытое голосование", "OPEN", "NONE")).await;
    published(&app, &st.coordinator, vote_input("По приглашениям", "INVITE", "NONE")).await;
    create(&app, &st.coordinator, vote_input("Черновик", "OPEN", "NONE")).await.data();
    let (closed, _, _) = published(&app, &st.coordinator, vote_input("Закрытое", "OPEN", "NONE")).await;
    close(&app, &st.coordinator, &closed).await;
    let mut later = vote_input("Ещё не началось", "OPEN", "NONE");
    later["opensAt"] = json!("2026-12-01T00:00:00+07:00");
    published(&app, &st.coordinator, later).await;
    let mut ended = vote_input("Срок вышел", "OPEN", "NONE");
    ended["closesAt"] = json!("2026-11-24T09:00:00+07:00");
    published(&app, &st.coordinator, ended).await;
    let discussion = json!({"title": "Обсуждение сквера", "kind": "DISCUSSION", "access": "OPEN", "questions": []});
    let (talk, _, _) = published(&app, &st.coordinator, discussion).await;
    let add = "mutation($p:ID!,$t:String!){ addPollComment(pollId:$p, respondentKey:\"k\", text:$t) { id } }";
    app.gql(None, add, json!({"p": talk, "t": "Нужны скамейки"})).await.data();
    let hidden = app.gql(None, add, json!({"p": talk, "t": "Оскорбление"})).await.data()["addPollComment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let m = "mutation($id:ID!){ moderatePollComment(id:$id, hidden:true, reason:\"оскорбление\") { id } }";
    app.gql(Some(&st.coordinator), m, json!({"id": hidden})).await.data();

    let list = "query($f:Int,$a:String){ publicPolls(first:$f, after:$a) { totalCount pageInfo { hasNextPage endCursor } \
        edges { node { id title access verification results { ballots } comments { text hidden } } } } }";
    let r = app.gql(None, list, json!({})).await;
    let page = &r.data()["publicPolls"];
    assert_eq!(page["totalCount"], 2, "{page}");
    let nodes: Vec<&Value> = page["edges"].as_array().unwrap().iter().map(|e| &e["node"]).collect();
    let ids: Vec<&str> = nodes.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![talk.as_str(), open_a.as_str()], "newest first, open and public only");
    assert!(nodes.iter().all(|n| n["results"].is_null() && n["access"] == "OPEN" && n["verification"] == "NONE"));
    assert_eq!(nodes[0]["comments"], json!([{"text": "Нужны скамейки", "hidden": false}]));

    // Pages of one.
    let r = app.gql(None, list, json!({"f": 1})).await;
    let first = &r.data()["publicPolls"];
    assert_eq!(first["edges"].as_array().unwrap().len(), 1);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let r = app.gql(None, list, json!({"f": 1, "a": first["pageInfo"]["endCursor"]})).await;
    assert_eq!(r.data()["publicPolls"]["edges"][0]["node"]["id"], open_a.as_str());
    assert_eq!(app.gql(None, list, json!({"f": 101})).await.code(), "BAD_USER_INPUT");

    // Staff-only fields stay closed to the public: text answers and moderation reasons are
    // not in the schema of a public comment, and texts are null.
    let r = app.gql(None, "{ publicPolls { edges { node { comments { moderationReason } } } } }", json!({})).await;
    assert!(r.data()["publicPolls"]["edges"][0]["node"]["comments"][0]["moderationReason"].is_null());
}

#[tokio::test]
async fn a_page_of_public_polls_costs_the_same_statements_whatever_its_size() {
    let app = spawn_app().await;
    let st = app.staff().await;
    let add = "mutation($p:ID!){ addPollComment(pollId:$p, respondentKey:\"k\", text:\"Согласен\") { id } }";
    for i in 0..6 {
        let input =
            json!({"title": format!("Обсуждение {i}"), "kind": "DISCUSSION", "access": "OPEN", "questions": []});
        let (id, _, _) = published(&app, &st.coordinator, input).await;
        app.gql(None, add, json!({"p": id})).await.data();
        published(&app, &st.coordinator, vote_input(&format!("Голосование {i}"), "OPEN", "NONE")).await;
    }
    let list = "query($f:Int){ publicPolls(first:$f) { totalCount edges { node { id title territory { id } \
        category { id } questions { id options { id } } results { ballots } comments { text } } } } }";
    let mut cost = Vec::new();
    for first in [2, 12] {
        let before = app.sql_statements();
        let r = app.gql(None, list, json!({"f": first})).await;
        assert_eq!(r.data()["publicPolls"]["edges"].as_array().unwrap().len(), first);
        cost.push(app.sql_statements() - before);
    }
    assert_eq!(cost[0], cost[1], "statements for 2 and for 12 polls: {cost:?}");
}

fn mail_settings(sink: &SmtpSink) -> impl FnOnce(&mut mcu::config::SettingsArgs) {
    let url = sink.url();
    move |a| {
        a.smtp_url = Some(url);
        a.mail_from = Some("МЦУ <mcu@city.test>".into());
    }
}

#[tokio::test]
async fn an_emailed_code_verifies_one_ballot_per_contact_and_nothing_else_counts() {
    let sink = SmtpSink::start(0);
    let mail = mail_settings(&sink);
    let app = spawn_app_with(move |a| {
        mail(a);
        a.poll_code_address_limit = 100;
    })
    .await;
    let st = app.staff().await;
    app.set_now("2026-11-24T10:00:00+07:00");
    // CONTACT_CODE is for OPEN polls; INVITE polls have their own codes.
    let r = create(&app, &st.coordinator, vote_input("x", "INVITE", "CONTACT_CODE")).await;
    assert_eq!(r.field_paths(), vec!["input.verification"]);
    let (poll, q, o) = published(&app, &st.coordinator, vote_input("Двор на Лесной", "OPEN", "CONTACT_CODE")).await;
    let (plain, _, _) = published(&app, &st.coordinator, vote_input("Без проверки", "OPEN", "NONE")).await;

    assert_eq!(request_code(&app, &plain, "ivan@mail.test").await.field_paths(), vec!["pollId"]);
    assert_eq!(request_code(&app, &poll, "ул. Лесная, 5").await.field_paths(), vec!["contact"]);
    assert_eq!(request_code(&app, "999999", "ivan@mail.test").await.code(), "NOT_FOUND");

    assert_eq!(request_code(&app, &poll, " Ivan@Mail.TEST ").await.data()["requestPollCode"], true);
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["to"], json!(["ivan@mail.test"]));
    assert_eq!(got[0]["subject"], "Код для участия в опросе «Двор на Лесной»");
    let code = code_in(got[0]["body"].as_str().unwrap());

    // No code, a wrong code, an unknown contact: refused, nothing counted.
    let mut b = ballot(&poll, "ivan@mail.test", &q, &o[0]);
    assert_eq!(vote(&app, b.clone()).await.field_paths(), vec!["input.code"]);
    b["code"] = json!(other_than(&code));
    assert_eq!(vote(&app, b.clone()).await.field_paths(), vec!["input.code"]);
    let mut stranger = ballot(&poll, "petr@mail.test", &q, &o[0]);
    stranger["code"] = json!(code);
    assert_eq!(vote(&app, stranger).await.field_paths(), vec!["input.code"]);
    assert_eq!(results(&app, &st.head, &poll).await["ballots"], 0);

    // The code, with the contact written differently: one verified ballot.
    let mut b = ballot(&poll, "IVAN@mail.test", &q, &o[0]);
    b["code"] = json!(code);
    assert_eq!(vote(&app, b.clone()).await.data()["castVote"], true);
    assert_eq!(results(&app, &st.head, &poll).await, json!({"ballots": 1, "verified": true, "verifiedBallots": 1}));
    // The code is used: no second ballot. Asking again tells the contact (not the caller)
    // that it has voted, and gives no code.
    assert_eq!(vote(&app, b).await.field_paths(), vec!["input.code"]);
    assert_eq!(request_code(&app, &poll, "ivan@mail.test").await.data()["requestPollCode"], true);
    let got = sink.wait_for(2, WAIT).await;
    assert_eq!(got[1]["to"], json!(["ivan@mail.test"]));
    assert_eq!(got[1]["subject"], "Голос в опросе «Двор на Лесной» уже принят");
    let body = got[1]["body"].as_str().unwrap();
    assert!(body.contains("уже принят голос") && !body.chars().any(|c| c.is_ascii_digit()), "{body}");

    // An expired code is refused.
    request_code(&app, &poll, "petr@mail.test").await.data();
    let got = sink.wait_for(3, WAIT).await;
    let petr = code_in(got[2]["body"].as_str().unwrap());
    app.set_now("2026-11-24T10:16:00+07:00");
    let mut b = ballot(&poll, "petr@mail.test", &q, &o[1]);
    b["code"] = json!(petr);
    assert_eq!(vote(&app, b).await.field_paths(), vec!["input.code"]);

    // Five wrong tries void a code: the right one is refused after them.
    request_code(&app, &poll, "anna@mail.test").await.data();
    let got = sink.wait_for(4, WAIT).await;
    let anna = code_in(got[3]["body"].as_str().unwrap());
    let mut b = ballot(&poll, "anna@mail.test", &q, &o[1]);
    for _ in 0..5 {
        b["code"] = json!(other_than(&anna));
        assert_eq!(vote(&app, b.clone()).await.field_paths(), vec!["input.code"]);
    }
    b["code"] = json!(anna);
    assert_eq!(vote(&app, b).await.field_paths(), vec!["input.code"]);
    assert_eq!(results(&app, &st.head, &poll).await["ballots"], 1);

    // Three codes per contact an hour (the test settings), then RATE_LIMITED.
    for _ in 0..3 {
        assert_eq!(request_code(&app, &poll, "olga@mail.test").await.data()["requestPollCode"], true);
    }
    assert_eq!(request_code(&app, &poll, "olga@mail.test").await.code(), "RATE_LIMITED");
    assert_eq!(app.audit_count("requestPollCode").await, 7);

    // Neither the contact nor the code in clear: the code rows hold hashes, and a sent e-mail
    // is blanked.
    let db = &app.state.db;
    let codes = mcu::entity::poll_code::Entity::find().all(db).await.unwrap();
    assert_eq!(codes.len(), 7);
    assert!(
        codes.iter().all(|c| !c.contact_hash.contains('@') && c.code_hash.len() == 64 && !c.code_hash.contains(&code))
    );
    sink.wait_for(7, WAIT).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rows = mcu::entity::delivery::Entity::find()
            .filter(mcu::entity::delivery::Column::Topic.eq("POLL_CODE"))
            .all(db)
            .await
            .unwrap();
        assert_eq!(rows.len(), 7);
        if rows.iter().all(|d| !d.payload.contains("mail.test")) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "sent poll codes keep the address: {rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An SMS gateway standing in for the real one: logs each body, answers `status`.
#[derive(Clone)]
struct Gateway {
    url: String,
    got: Arc<Mutex<Vec<Value>>>,
}

async fn gateway(status: u16) -> Gateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}/sms", listener.local_addr().unwrap().port());
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let log = got.clone();
    let router = axum::Router::new().fallback(move |body: String| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(serde_json::from_str(&body).unwrap_or(Value::Null));
            axum::http::StatusCode::from_u16(status).unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    Gateway { url, got }
}

#[tokio::test]
async fn phone_codes_go_through_the_sms_gateway_and_are_refused_without_one() {
    // Without a gateway (and without e-mail) no code can be sent.
    let app = spawn_app_with(|a| a.poll_code_address_limit = 3).await;
    let st = app.staff().await;
    let (poll, _, _) = published(&app, &st.coordinator, vote_input("Остановка", "OPEN", "CONTACT_CODE")).await;
    let r = request_code(&app, &poll, "8 913 555-12-34").await;
    assert_eq!(r.field_paths(), vec!["contact"]);
    assert!(r.message().contains("SMS gateway"), "{}", r.message());
    assert_eq!(request_code(&app, &poll, "ivan@mail.test").await.field_paths(), vec!["contact"]);
    // Every request from one address counts against its limit (3 an hour here).
    assert_eq!(request_code(&app, &poll, "ivan@mail.test").await.field_paths(), vec!["contact"]);
    assert_eq!(request_code(&app, &poll, "ivan@mail.test").await.code(), "RATE_LIMITED");

    let sms = gateway(200).await;
    let url = sms.url.clone();
    let app = spawn_app_with(move |a| a.sms_gateway_url = Some(url)).await;
    let st = app.staff().await;
    let (poll, q, o) = published(&app, &st.coordinator, vote_input("Остановка", "OPEN", "CONTACT_CODE")).await;
    assert_eq!(request_code(&app, &poll, "8 (913) 555-12-34").await.data()["requestPollCode"], true);
    let got = sms.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["to"], "+79135551234");
    let code = code_in(got[0]["text"].as_str().unwrap());
    let mut b = ballot(&poll, "+7 913 555 12 34", &q, &o[2]);
    b["code"] = json!(code);
    assert_eq!(vote(&app, b).await.data()["castVote"], true);
    assert_eq!(results(&app, &st.head, &poll).await, json!({"ballots": 1, "verified": true, "verifiedBallots": 1}));

    // A gateway that refuses: CONFLICT, and no code is kept.
    let down = gateway(503).await;
    let url = down.url.clone();
    let app = spawn_app_with(move |a| a.sms_gateway_url = Some(url)).await;
    let st = app.staff().await;
    let (poll, _, _) = published(&app, &st.coordinator, vote_input("Остановка", "OPEN", "CONTACT_CODE")).await;
    assert_eq!(request_code(&app, &poll, "+79135551234").await.code(), "CONFLICT");
    assert_eq!(down.got.lock().unwrap().len(), 1);
    assert_eq!(mcu::entity::poll_code::Entity::find().count(&app.state.db).await.unwrap(), 0);
}

#[tokio::test]
async fn one_code_counts_once_under_concurrent_ballots() {
    let sms = gateway(200).await;
    let url = sms.url.clone();
    let app = spawn_app_with(move |a| {
        a.sms_gateway_url = Some(url);
        a.poll_rate_limit = 1000;
    })
    .await;
    let st = app.staff().await;
    let (poll, question, options) =
        published(&app, &st.coordinator, vote_input("Остановка", "OPEN", "CONTACT_CODE")).await;
    request_code(&app, &poll, "+79135551234").await.data();
    let code = code_in(sms.got.lock().unwrap()[0]["text"].as_str().unwrap());
    let attempts = (0..20).map(|i| {
        let mut b = ballot(&poll, "+79135551234", &question, &options[i % 3]);
        b["code"] = json!(code);
        let app = &app;
        async move { vote(app, b).await }
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let accepted = outcomes.iter().filter(|r| r.body["data"]["castVote"] == true).count();
    assert_eq!(accepted, 1, "{:?}", outcomes.iter().map(|r| r.body.to_string()).collect::<Vec<_>>());
    assert!(outcomes.iter().filter(|r| r.body["data"]["castVote"] != true).all(|r| {
        let code = r.code();
        code == "CONFLICT" || (code == "BAD_USER_INPUT" && r.field_paths() == vec!["input.code"])
    }));
    assert_eq!(results(&app, &st.head, &poll).await["ballots"], 1);
    let answers = mcu::entity::poll_answer::Entity::find().count(&app.state.db).await.unwrap();
    assert_eq!(answers, 1, "the refused ballots left no answers");
}

async fn analytics_polls(app: &TestApp, token: Option<&str>) -> Gql {
    let q = "{ analytics { polls(period:{from:\"2026-11-23\", to:\"2026-11-29\"}) { pollId title status verified \
        ballots ballotsInPeriod verifiedBallots verifiedShare byTerritory { territoryId label ballots \
        options { questionId optionId count } } topAnswers { question option count share } } } }";
    app.gql(token, q, json!({})).await
}

#[tokio::test]
async fn poll_results_by_territory_in_analytics_and_in_the_memo() {
    let app = spawn_app().await;
    let st = app.staff().await;
    let north = app.territory(&st.admin, "Северный район", None).await;
    let south = app.territory(&st.admin, "Южный район", None).await;
    // Closed the week before: not in the week.
    app.set_now("2026-11-17T10:00:00+07:00");
    let (old, _, _) = published(&app, &st.coordinator, vote_input("Прошлое", "OPEN", "NONE")).await;
    close(&app, &st.coordinator, &old).await;
    // A ballot cast the week before in a poll still open counts in its total, not in the week.
    let mut input = vote_input("Двор", "OPEN", "NONE");
    input["territoryId"] = json!(north);
    let (yard, question, options) = published(&app, &st.coordinator, input).await;
    let mut first = ballot(&yard, "k0", &question, &options[0]);
    first["territoryId"] = json!(south);
    vote(&app, first).await.data();

    app.set_now("2026-11-24T10:00:00+07:00");
    // (respondent territory named, option): the poll's territory is the north.
    let fixture: [(Option<&str>, usize); 4] =
        [(Some(south.as_str()), 0), (None, 1), (Some(south.as_str()), 0), (Some(north.as_str()), 0)];
    for (i, (t, opt)) in fixture.iter().enumerate() {
        let mut b = ballot(&yard, &format!("k{}", i + 1), &question, &options[*opt]);
        if let Some(t) = t {
            b["territoryId"] = json!(t);
        }
        assert_eq!(vote(&app, b).await.data()["castVote"], true);
    }
    // An unknown territory and a deactivated one are refused.
    let closed_down = app.territory(&st.admin, "Упразднённый район", None).await;
    let off = "mutation($id:ID!){ updateTerritory(input:{id:$id, version:1, active:false}) { active } }";
    app.gql(Some(&st.admin), off, json!({"id": closed_down})).await.data();
    for t in ["999999", closed_down.as_str()] {
        let mut bad = ballot(&yard, "k9", &question, &options[0]);
        bad["territoryId"] = json!(t);
        assert_eq!(vote(&app, bad).await.field_paths(), vec!["input.territoryId"]);
    }
    // An INVITE poll without a territory: verified ballots.
    let (invite, iq, io) = published(&app, &st.coordinator, vote_input("Совет дома", "INVITE", "NONE")).await;
    let invites = "mutation($p:ID!){ generatePollInvites(pollId:$p, count:2) }";
    let codes =
        app.gql(Some(&st.coordinator), invites, json!({"p": invite})).await.data()["generatePollInvites"].clone();
    for (i, c) in codes.as_array().unwrap().iter().enumerate() {
        vote(&app, ballot(&invite, c.as_str().unwrap(), &iq, &io[i])).await.data();
    }
    create(&app, &st.coordinator, vote_input("Черновик", "OPEN", "NONE")).await.data();

    // The tally of the fixture: 1 ballot before the week + 4 in it.
    let yard_ballots = 1 + fixture.len() as i64;
    let south_ballots = 1 + fixture.iter().filter(|(t, _)| *t == Some(south.as_str())).count() as i64;
    let north_ballots = yard_ballots - south_ballots;
    let count_of = |territory: &str, opt: usize| {
        let before = i64::from(territory == south && opt == 0);
        before + fixture.iter().filter(|(t, x)| t.unwrap_or(north.as_str()) == territory && *x == opt).count() as i64
    };
    let a_total = count_of(&south, 0) + count_of(&north, 0);

    // The poll object says whether it is verified.
    assert_eq!(
        results(&app, &st.head, &yard).await,
        json!({"ballots": yard_ballots, "verified": false, "verifiedBallots": 0})
    );
    assert_eq!(results(&app, &st.head, &invite).await, json!({"ballots": 2, "verified": true, "verifiedBallots": 2}));

    let answer = analytics_polls(&app, Some(&st.head)).await;
    let rows = answer.data()["analytics"]["polls"].as_array().unwrap().clone();
    let titles: Vec<&str> = rows.iter().map(|r| r["title"].as_str().unwrap()).collect();
    assert_eq!(titles, vec!["Совет дома", "Двор"], "open in the week, newest first; no draft, nothing closed before");
    let y = &rows[1];
    assert_eq!(y["pollId"], yard.as_str());
    assert_eq!(y["verified"], false);
    assert_eq!(y["ballots"], yard_ballots);
    assert_eq!(y["ballotsInPeriod"], fixture.len());
    assert_eq!(y["verifiedBallots"], 0);
    assert_eq!(y["verifiedShare"], 0.0);
    let by: Vec<(String, i64)> = y["byTerritory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["territoryId"].as_str().unwrap().to_string(), t["ballots"].as_i64().unwrap()))
        .collect();
    let mut expected = [(south.clone(), south_ballots), (north.clone(), north_ballots)];
    expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    assert_eq!(by.iter().map(|x| x.1).collect::<Vec<_>>(), expected.iter().map(|x| x.1).collect::<Vec<_>>());
    for t in y["byTerritory"].as_array().unwrap() {
        let id = t["territoryId"].as_str().unwrap();
        for opt in t["options"].as_array().unwrap() {
            let i = options.iter().position(|x| x == opt["optionId"].as_str().unwrap()).unwrap();
            assert_eq!(opt["count"], count_of(id, i), "{t}");
        }
        let listed: i64 = t["options"].as_array().unwrap().iter().map(|x| x["count"].as_i64().unwrap()).sum();
        assert_eq!(listed, t["ballots"].as_i64().unwrap(), "one option per ballot: {t}");
    }
    assert_eq!(
        y["topAnswers"],
        json!([{"question": "Что сделать первым?", "option": "Площадка", "count": a_total,
                "share": a_total as f64 / yard_ballots as f64}])
    );
    let inv = &rows[0];
    assert_eq!(
        (inv["verified"].clone(), inv["ballots"].clone(), inv["verifiedShare"].clone()),
        (json!(true), json!(2), json!(1.0))
    );
    assert_eq!(
        inv["byTerritory"],
        json!([{"territoryId": "none", "label": inv["byTerritory"][0]["label"], "ballots": 2,
        "options": [{"questionId": iq, "optionId": io[0], "count": 1}, {"questionId": iq, "optionId": io[1], "count": 1}]}])
    );

    // Access: analytics readers and ANALYTICS_READ tokens; not an executor, an admin or the public.
    let token_q = "mutation{createApiToken(input:{name:\"bi\",scopes:[ANALYTICS_READ]}){secret}}";
    let bi = app.gql(Some(&st.admin), token_q, json!({})).await.data()["createApiToken"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let as_token = analytics_polls(&app, Some(&bi)).await;
    assert_eq!(as_token.data()["analytics"]["polls"].as_array().unwrap().len(), 2);
    assert_eq!(
        analytics_polls(&app, Some(&st.curator)).await.data()["analytics"]["polls"].as_array().unwrap().len(),
        2
    );
    // A curator limited to the south sees no poll: «Двор» is the north's, «Совет дома» the city's.
    let (_, south_curator) = app.user_with(&st.admin, &["CURATOR"], json!({"territoryId": south})).await;
    let limited = analytics_polls(&app, Some(&south_curator)).await;
    assert_eq!(limited.data()["analytics"]["polls"], json!([]));
    let (_, north_curator) = app.user_with(&st.admin, &["CURATOR"], json!({"territoryId": north})).await;
    let limited = analytics_polls(&app, Some(&north_curator)).await;
    let titles: Vec<&str> =
        limited.data()["analytics"]["polls"].as_array().unwrap().iter().map(|r| r["title"].as_str().unwrap()).collect();
    assert_eq!(titles, vec!["Двор"]);
    assert_eq!(analytics_polls(&app, Some(&st.executor)).await.code(), "FORBIDDEN");
    assert_eq!(analytics_polls(&app, Some(&st.admin)).await.code(), "FORBIDDEN");
    assert_eq!(analytics_polls(&app, None).await.code(), "UNAUTHENTICATED");

    // The weekly memo: markdown, DOCX and the XLSX sheet.
    let memo_q = "{ analytics { weeklyMemo(weekStart:\"2026-11-23\") { markdown } } }";
    let md = app.gql(Some(&st.head), memo_q, json!({})).await.data()["analytics"]["weeklyMemo"]["markdown"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(md.contains("## Опросы и голосования жителей"), "{md}");
    let pct = (a_total as f64 * 100.0 / yard_ballots as f64).round();
    let line = format!(
        "| Двор | идёт, без проверки участников | {yard_ballots} | {} | 0 | Что сделать первым? — Площадка ({a_total}, {pct:.0}%) |",
        fixture.len()
    );
    assert!(md.contains(&line), "{line}\n{md}");
    assert!(md.contains("| Совет дома | идёт | 2 | 2 | 2 |"), "{md}");
    assert!(md.contains("это не число подтверждённых жителей"), "{md}");
    assert!(!md.contains("Прошлое") && !md.contains("Черновик"), "{md}");
    let get = |path: &'static str| {
        let req = app.client.get(format!("{}{path}", app.base)).bearer_auth(&st.head);
        async move { req.send().await.unwrap().bytes().await.unwrap().to_vec() }
    };
    let text = crate::system_reports::docx_text(&get("/exports/memo/2026-11-23.docx").await);
    assert!(text.contains("8. Опросы и голосования жителей"), "{text}");
    assert!(text.contains("Двор\nидёт, без проверки участников\n"), "{text}");
    assert!(text.contains("9. Рекомендации"), "{text}");
    let xlsx = get("/exports/memo/2026-11-23.xlsx").await;
    use calamine::{Reader, Xlsx};
    let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(xlsx)).unwrap();
    let sheet = wb.worksheet_range("Опросы").unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(ToString::to_string).collect()).collect();
    assert_eq!(rows[0], vec!["Опрос", "Состояние", "Участников", "За неделю", "Проверено", "Главные ответы"]);
    assert_eq!(rows[2][0], "Двор");
    assert_eq!(rows[2][2], yard_ballots.to_string());
    assert_eq!(rows[2][3], fixture.len().to_string());
}

#[tokio::test]
async fn the_poll_verification_migration_rolls_back_and_reapplies() {
    use migration::MigratorTrait;
    let app = spawn_app().await;
    let st = app.staff().await;
    let (invite, question, options) =
        published(&app, &st.coordinator, vote_input("Совет дома", "INVITE", "NONE")).await;
    let invites = "mutation($p:ID!){ generatePollInvites(pollId:$p, count:1) }";
    let codes =
        app.gql(Some(&st.coordinator), invites, json!({"p": invite})).await.data()["generatePollInvites"].clone();
    vote(&app, ballot(&invite, codes[0].as_str().unwrap(), &question, &options[0])).await.data();
    close(&app, &st.coordinator, &invite).await;
    let db = &app.state.db;
    let sql = |s: &str| Statement::from_string(db.get_database_backend(), s.to_string());
    let all = migration::Migrator::migrations();
    let at = all.iter().position(|m| m.name() == "m20261226_000001_poll_verification").unwrap();
    let later = u32::try_from(all.len() - at).unwrap();
    migration::Migrator::down(db, Some(later)).await.unwrap();
    assert!(db.query_one_raw(sql("SELECT COUNT(*) AS n FROM poll_codes")).await.is_err(), "poll_codes is gone");
    assert!(db.query_one_raw(sql("SELECT verified FROM poll_ballots")).await.is_err());
    assert!(db.query_one_raw(sql("SELECT closed_at FROM polls")).await.is_err());
    assert!(db.query_one_raw(sql("SELECT COUNT(*) AS n FROM poll_ballots")).await.is_ok(), "the ballots stay");
    migration::Migrator::up(db, None).await.unwrap();
    // The backfill: the invitation's ballot was verified, the closed poll has its closing time.
    let row = mcu::entity::poll_ballot::Entity::find().one(db).await.unwrap().unwrap();
    assert!(row.verified);
    let p = mcu::entity::poll::Entity::find().filter(mcu::entity::poll::Column::Title.eq("Совет дома")).one(db).await;
    let p = p.unwrap().unwrap();
    assert_eq!(p.closed_at, Some(p.updated_at));
    assert_eq!(p.verification, "NONE");
}
