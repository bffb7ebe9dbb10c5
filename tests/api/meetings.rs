//! Meetings with the Head (decree 2.2в) over HTTP: the agenda proposed from a hand-countable
//! fixture, the meeting workflow and its minutes, assignments (поручения) by every role, their
//! overdue marks and DUE_SOON/OVERDUE notifications, the open ones in the weekly memo, and the
//! DOCX of the agenda and of the minutes.

use std::time::Duration;

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::helpers::{Gql, Staff, TestApp, spawn_app_with};

const MEETING: &str = "id title startsAt place status heldAt version agendaDocxUrl minutesDocxUrl \
    participants { id fullName } agenda { position kind title note } \
    decisions { id text isAssignment dueDate status overdue daysLate recipient { id } practices { id } }";
const ASSIGNMENT: &str = "id meetingId text status dueDate overdue daysLate version recipient { id name }";

async fn spawn() -> TestApp {
    spawn_app_with(|a| {
        a.access_ttl_secs = 400 * 86_400;
        a.rating_min_volume = 1;
    })
    .await
}

async fn create(app: &TestApp, token: &str, input: Value) -> Gql {
    let q = format!("mutation($i:CreateMeetingInput!){{ r: createMeeting(input:$i) {{ {MEETING} }} }}");
    app.gql(Some(token), &q, json!({"i": input})).await
}

async fn set_status(app: &TestApp, token: &str, id: &str, version: i64, status: &str) -> Gql {
    let q = format!("mutation($i:SetMeetingStatusInput!){{ r: setMeetingStatus(input:$i) {{ {MEETING} }} }}");
    app.gql(Some(token), &q, json!({"i": {"id": id, "version": version, "status": status}})).await
}

async fn decide(app: &TestApp, token: &str, input: Value) -> Gql {
    let q = "mutation($i:RecordDecisionInput!){ r: recordDecision(input:$i) { id text isAssignment status dueDate version practices { id } } }";
    app.gql(Some(token), q, json!({"i": input})).await
}

async fn move_to(app: &TestApp, token: &str, id: &str, version: i64, status: &str) -> Gql {
    let q = format!("mutation($i:SetAssignmentStatusInput!){{ r: setAssignmentStatus(input:$i) {{ {ASSIGNMENT} }} }}");
    app.gql(Some(token), &q, json!({"i": {"id": id, "version": version, "status": status}})).await
}

async fn assignments(app: &TestApp, token: &str, filter: Value) -> Gql {
    let q = format!(
        "query($f:AssignmentFilter){{ assignments(filter:$f) {{ totalCount edges {{ node {{ {ASSIGNMENT} }} }} }} }}"
    );
    app.gql(Some(token), &q, json!({"f": filter})).await
}

async fn token(app: &TestApp, admin: &str, scope: &str) -> String {
    let q = format!("mutation{{createApiToken(input:{{name:\"T {scope}\",scopes:[{scope}]}}){{secret}}}}");
    app.gql(Some(admin), &q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().to_string()
}

/// A held meeting (held on 20 November 2026) with one assignment to the staff's recipient due
/// on `due`: (meeting id, meeting version, assignment id).
async fn held_with_assignment(app: &TestApp, st: &Staff, due: &str) -> (String, i64, String) {
    app.set_now("2026-11-20T10:00:00+07:00");
    let input = json!({"title": "Совещание по ЖКХ", "startsAt": "2026-11-20T03:00:00Z", "participantIds": [st.curator_id], "agenda": [{"title": "Отопление"}]});
    let m = create(app, &st.head, input).await.data()["r"].clone();
    let id = m["id"].as_str().unwrap().to_string();
    let held = set_status(app, &st.head, &id, 1, "HELD").await.data()["r"].clone();
    let d = decide(app, &st.head, json!({"meetingId": id, "version": held["version"], "text": "Устранить перебои отопления", "recipientId": st.recipient, "dueDate": due})).await;
    let a = d.data()["r"]["id"].as_str().unwrap().to_string();
    (id, held["version"].as_i64().unwrap() + 1, a)
}

#[tokio::test]
async fn the_meeting_workflow_with_its_minutes_and_checks() {
    let app = spawn().await;
    let st = app.staff().await;
    app.set_now("2026-11-20T10:00:00+07:00");
    let me = app.gql(Some(&st.head), "{ me { id } }", json!({})).await;
    let head_id = me.data()["me"]["id"].as_str().unwrap().to_string();
    // Every invalid field is named; nothing is written.
    let bad = json!({"title": " ", "startsAt": "2026-11-25T03:00:00Z", "participantIds": [st.curator_id, "999999", st.curator_id],
                     "agenda": [{"title": "Вопрос"}, {"title": "x".repeat(501)}]});
    let r = create(&app, &st.curator, bad).await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    assert_eq!(
        r.field_paths(),
        ["input.title", "input.participantIds.2", "input.participantIds.1", "input.agenda.1.title"]
    );
    let many: Vec<String> = (0..51).map(|i| format!("{{\"title\":\"В{i}\"}}")).collect();
    let many: Value = serde_json::from_str(&format!("[{}]", many.join(","))).unwrap();
    let r = create(
        &app,
        &st.curator,
        json!({"title": "Т", "startsAt": "2026-11-25T03:00:00Z", "participantIds": [], "agenda": many}),
    )
    .await;
    assert_eq!(r.field_paths(), ["input.agenda"]);
    assert_eq!(app.audit_count("createMeeting").await, 0);

    let input = json!({"title": "Совещание у Главы", "startsAt": "2026-11-25T03:00:00Z", "place": "Зал заседаний",
                       "participantIds": [st.curator_id, head_id],
                       "agenda": [{"kind": "GROWING_TOPIC", "title": "Рост жалоб на отопление", "note": "3 обращения"}, {"title": "Разное"}]});
    let m = create(&app, &st.curator, input).await.data()["r"].clone();
    assert_eq!((m["status"].clone(), m["version"].clone()), (json!("PLANNED"), json!(1)));
    assert_eq!(m["participants"].as_array().unwrap().len(), 2);
    assert_eq!(m["agenda"][1], json!({"position": 2, "kind": "OTHER", "title": "Разное", "note": null}));
    assert_eq!(m["minutesDocxUrl"], Value::Null, "no minutes before the meeting is held");
    let id = m["id"].as_str().unwrap().to_string();

    // Decisions only for a held meeting.
    let early = json!({"meetingId": id, "version": 1, "text": "Принять к сведению"});
    assert_eq!(decide(&app, &st.curator, early).await.field_paths(), ["input.meetingId"]);
    // Changed while planned; a stale version is a conflict.
    let update_q = format!("mutation($i:UpdateMeetingInput!){{ r: updateMeeting(input:$i) {{ {MEETING} }} }}");
    let upd = json!({"id": id, "version": 1, "title": "Совещание у Главы", "startsAt": "2026-11-26T03:00:00Z",
                     "participantIds": [head_id], "agenda": [{"title": "Отопление"}]});
    let m = app.gql(Some(&st.head), &update_q, json!({"i": upd.clone()})).await.data()["r"].clone();
    assert_eq!((m["version"].clone(), m["participants"].as_array().unwrap().len()), (json!(2), 1));
    assert_eq!(m["agenda"].as_array().unwrap().len(), 1);
    assert_eq!(app.gql(Some(&st.head), &update_q, json!({"i": upd})).await.code(), "CONFLICT");
    let held = set_status(&app, &st.head, &id, 2, "HELD").await.data()["r"].clone();
    assert_eq!((held["status"].clone(), held["heldAt"].is_string()), (json!("HELD"), true));
    assert_eq!(set_status(&app, &st.head, &id, 3, "CANCELLED").await.field_paths(), ["input.status"]);

    // A practice to link.
    let made = app
        .gql(
            Some(&st.curator),
            "mutation($i:CreatePracticeInput!){ r: createPractice(input:$i) { id } }",
            json!({"i": {"title": "Промывка систем", "problem": "Холодные батареи", "actionTaken": "Промыли систему"}}),
        )
        .await;
    let practice = made.data()["r"]["id"].as_str().unwrap().to_string();
    let bad = json!({"meetingId": id, "version": 3, "text": " ", "recipientId": st.recipient, "practiceIds": [practice, practice, "999999"]});
    let r = decide(&app, &st.head, bad).await;
    assert_eq!(r.field_paths(), ["input.text", "input.dueDate", "input.practiceIds.1", "input.practiceIds.2"]);
    let r =
        decide(&app, &st.head, json!({"meetingId": id, "version": 3, "text": "Поручение", "dueDate": "2026-12-01"}))
            .await;
    assert_eq!(r.field_paths(), ["input.recipientId"]);
    let r = decide(&app, &st.head, json!({"meetingId": id, "version": 3, "text": "Поручение", "recipientId": st.recipient, "dueDate": "2026-11-19"})).await;
    assert_eq!(r.field_paths(), ["input.dueDate"], "before the meeting");
    assert_eq!(app.audit_count("recordDecision").await, 0);
    let plain =
        decide(&app, &st.head, json!({"meetingId": id, "version": 3, "text": "Принять информацию к сведению"})).await;
    assert_eq!(
        (plain.data()["r"]["isAssignment"].clone(), plain.data()["r"]["status"].clone()),
        (json!(false), Value::Null)
    );
    let assigned = decide(&app, &st.curator, json!({"meetingId": id, "version": 4, "text": "Промыть системы отопления", "recipientId": st.recipient, "dueDate": "2026-12-01", "practiceIds": [practice]})).await;
    assert_eq!(assigned.data()["r"]["status"], "ASSIGNED");
    assert_eq!(assigned.data()["r"]["practices"], json!([{"id": practice}]));
    assert_eq!(
        decide(&app, &st.coordinator, json!({"meetingId": id, "version": 5, "text": "x"})).await.code(),
        "FORBIDDEN"
    );
    let r = app
        .gql(Some(&st.coordinator), &format!("query($id:ID!){{ meeting(id:$id) {{ {MEETING} }} }}"), json!({"id": id}))
        .await;
    let m = r.data()["meeting"].clone();
    assert_eq!(m["decisions"].as_array().unwrap().len(), 2);
    assert_eq!(m["version"], 5);
    assert!(m["minutesDocxUrl"].is_string());
    for (action, n) in [("createMeeting", 1), ("updateMeeting", 1), ("setMeetingStatus", 1), ("recordDecision", 2)] {
        assert_eq!(app.audit_count(action).await, n, "{action}");
    }
    let list = app.gql(Some(&st.coordinator), "{ meetings(filter:{status:[HELD]}) { totalCount } }", json!({})).await;
    assert_eq!(list.data()["meetings"]["totalCount"], 1);
}

#[tokio::test]
async fn who_may_do_what_with_meetings_and_assignments() {
    let app = spawn().await;
    let st = app.staff().await;
    let (meeting, _, a) = held_with_assignment(&app, &st, "2026-12-01").await;
    app.set_now("2026-11-25T10:00:00+07:00");
    let bi = token(&app, &st.admin, "ANALYTICS_READ").await;
    let reader = token(&app, &st.admin, "APPEALS_READ").await;
    let input = json!({"title": "Т", "startsAt": "2026-11-25T03:00:00Z", "participantIds": [], "agenda": []});
    for who in [&st.coordinator, &st.executor, &st.admin, &bi] {
        assert_eq!(create(&app, who, input.clone()).await.code(), "FORBIDDEN");
    }
    let q = "query($id:ID!){ meeting(id:$id) { id } }";
    for who in [&st.executor, &st.admin, &bi, &reader] {
        assert_eq!(app.gql(Some(who), q, json!({"id": meeting})).await.code(), "FORBIDDEN");
        assert_eq!(
            app.gql(Some(who), "{ proposedAgenda(from:\"2026-11-16\", to:\"2026-11-22\") { title } }", json!({}))
                .await
                .code(),
            "FORBIDDEN"
        );
    }
    for who in [&bi, &reader, &st.admin] {
        assert_eq!(assignments(&app, who, json!({})).await.code(), "FORBIDDEN");
    }
    // Executors: the own recipient's assignments only.
    let own = assignments(&app, &st.executor, json!({})).await;
    assert_eq!(own.data()["assignments"]["totalCount"], 1);
    let other = assignments(&app, &st.other_executor, json!({})).await;
    assert_eq!(other.data()["assignments"]["totalCount"], 0);
    let one = format!("query($id:ID!){{ assignment(id:$id) {{ {ASSIGNMENT} }} }}");
    assert_eq!(app.gql(Some(&st.other_executor), &one, json!({"id": a})).await.code(), "NOT_FOUND");
    assert_eq!(move_to(&app, &st.other_executor, &a, 1, "IN_PROGRESS").await.code(), "NOT_FOUND");
    assert_eq!(move_to(&app, &st.coordinator, &a, 1, "IN_PROGRESS").await.code(), "FORBIDDEN");
    assert_eq!(move_to(&app, &st.executor, &a, 1, "CANCELLED").await.field_paths(), ["input.status"]);
    let r = move_to(&app, &st.executor, &a, 1, "IN_PROGRESS").await.data()["r"].clone();
    assert_eq!((r["status"].clone(), r["version"].clone()), (json!("IN_PROGRESS"), json!(2)));
    assert_eq!(move_to(&app, &st.executor, &a, 1, "DONE").await.code(), "CONFLICT");
    assert_eq!(app.audit_count("setAssignmentStatus").await, 1);
    // The coordinator reads them all.
    let all = assignments(&app, &st.coordinator, json!({"status": ["IN_PROGRESS"]})).await;
    assert_eq!(all.data()["assignments"]["totalCount"], 1);
    // Done three days late: the mark stays with it.
    app.set_now("2026-12-04T10:00:00+07:00");
    let late = assignments(&app, &st.curator, json!({"overdue": true})).await.data()["assignments"].clone();
    assert_eq!(late["totalCount"], 1);
    assert_eq!(
        (late["edges"][0]["node"]["overdue"].clone(), late["edges"][0]["node"]["daysLate"].clone()),
        (json!(true), json!(3))
    );
    let done = move_to(&app, &st.executor, &a, 2, "DONE").await.data()["r"].clone();
    assert_eq!((done["overdue"].clone(), done["daysLate"].clone()), (json!(false), json!(3)));
    app.set_now("2026-12-10T10:00:00+07:00");
    let r = app.gql(Some(&st.head), &one, json!({"id": a})).await.data()["assignment"].clone();
    assert_eq!(r["daysLate"], 3, "counted to the day it was done");
    assert_eq!(assignments(&app, &st.curator, json!({"overdue": true})).await.data()["assignments"]["totalCount"], 0);
    assert_eq!(move_to(&app, &st.head, &a, 3, "CANCELLED").await.field_paths(), ["input.status"], "DONE is final");
}

/// Waits until the dispatcher has made `n` notifications in all.
async fn wait_for(app: &TestApp, n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let have = mcu::entity::notification::Entity::find().count(&app.state.db).await.unwrap();
        if have >= n {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let have = mcu::entity::notification::Entity::find().count(&app.state.db).await.unwrap();
            assert_eq!(have, n, "more notifications than expected");
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {have} of {n} notifications were made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn kinds(app: &TestApp, token: &str) -> Vec<String> {
    let r = app.gql(Some(token), "{ notifications(first: 50) { edges { node { kind text } } } }", json!({})).await;
    r.data()["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn assignments_are_announced_due_soon_then_overdue_once_each() {
    let app = spawn().await;
    let st = app.staff().await;
    let (_, _, a) = held_with_assignment(&app, &st, "2026-12-01").await;
    let watch = |at: &'static str| {
        let app = &app;
        async move {
            app.set_now(at);
            mcu::service::meetings::watch(&app.state).await.unwrap()
        }
    };
    // Three days before: nothing yet.
    let o = watch("2026-11-28T10:00:00+07:00").await;
    assert_eq!((o.due_soon, o.overdue), (0, 0));
    // Two days before: DUE_SOON to the executor of the recipient only; once.
    let o = watch("2026-11-29T10:00:00+07:00").await;
    assert_eq!((o.due_soon, o.overdue), (1, 0));
    wait_for(&app, 1).await;
    assert_eq!(kinds(&app, &st.executor).await, ["ASSIGNMENT_DUE_SOON"]);
    assert!(kinds(&app, &st.other_executor).await.is_empty());
    assert_eq!(watch("2026-11-30T10:00:00+07:00").await.due_soon, 0);
    // The due day itself is in time; the day after it is overdue: the executor, the two
    // curators and the Head are told.
    assert_eq!(watch("2026-12-01T20:00:00+07:00").await.overdue, 0);
    let o = watch("2026-12-02T09:00:00+07:00").await;
    assert_eq!((o.due_soon, o.overdue), (0, 1));
    wait_for(&app, 5).await;
    assert_eq!(kinds(&app, &st.executor).await, ["ASSIGNMENT_OVERDUE", "ASSIGNMENT_DUE_SOON"]);
    assert_eq!(kinds(&app, &st.head).await, ["ASSIGNMENT_OVERDUE"]);
    assert_eq!(kinds(&app, &st.curator).await, ["ASSIGNMENT_OVERDUE"]);
    assert!(kinds(&app, &st.coordinator).await.is_empty());
    assert_eq!(watch("2026-12-03T09:00:00+07:00").await.overdue, 0, "announced once");
    // Done assignments are not announced; one first seen overdue is announced OVERDUE only.
    move_to(&app, &st.executor, &a, 1, "DONE").await.data();
    let (_, _, b) = held_with_assignment(&app, &st, "2026-11-21").await;
    let o = watch("2026-12-05T09:00:00+07:00").await;
    assert_eq!((o.due_soon, o.overdue), (0, 1));
    wait_for(&app, 9).await;
    assert_eq!(watch("2026-12-06T09:00:00+07:00").await.due_soon, 0, "{b}: no warning after the fact");
}

async fn category(app: &TestApp, token: &str, name: &str) -> (String, String) {
    let r = app.gql(Some(token), "{ categories { id name parent { id name } } }", json!({})).await;
    let c = r.data()["categories"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
    let top = c["parent"]["name"].as_str().map_or_else(|| name.to_string(), str::to_string);
    (c["id"].as_str().unwrap().to_string(), top)
}

#[tokio::test]
async fn the_agenda_is_proposed_from_the_data() {
    let app = spawn().await;
    let st = app.staff().await;
    let other = {
        let r = app.gql(Some(&st.curator), "{ recipients { id name } }", json!({})).await;
        r.data()["recipients"].as_array().unwrap().iter().find(|x| x["name"] == "Управление образования").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // An earlier meeting's assignment, due 28 November: 3 days late on 1 December.
    held_with_assignment(&app, &st, "2026-11-28").await;
    // A running roadmap with a measure due 25 November: 6 days late on 1 December.
    let q = "mutation($i:CreateRoadmapInput!){ r: createRoadmap(input:$i) { id version } }";
    let (appeal, _, _) = app.appeal(&st.curator, json!({"kind": "MESSAGE", "channel": "PHONE", "text": "Нет отопления", "receivedAt": "2026-11-02T10:00:00+07:00"})).await;
    let r = app
        .gql(
            Some(&st.coordinator),
            q,
            json!({"i": {"title": "Отопление в Северном", "problem": "Холодно", "appealIds": [appeal]}}),
        )
        .await;
    let roadmap = r.data()["r"]["id"].as_str().unwrap().to_string();
    let q = "mutation($i:MeasureInput!){ r: addMeasure(input:$i) { version } }";
    let m = json!({"roadmapId": roadmap, "version": 1, "title": "Промыть систему", "responsibleId": st.recipient, "dueDate": "2026-11-25"});
    app.gql(Some(&st.coordinator), q, json!({"i": m})).await.data();
    for (who, step, version) in [
        (&st.coordinator, "submitRoadmap", 2),
        (&st.curator, "approveRoadmap", 3),
        (&st.coordinator, "startRoadmap", 4),
    ] {
        let q = format!("mutation($id:ID!,$v:Int!){{ r: {step}(id:$id, version:$v) {{ version }} }}");
        app.gql(Some(who), &q, json!({"id": roadmap, "v": version})).await.data();
    }
    // Three heating appeals at one place in the week of 23–29 November (none before): a
    // growing topic and a problem point; R1 answers one FULL, R2 one PARTIAL (the bottom).
    let (heating, top) = category(&app, &st.curator, "Отопление").await;
    app.set_now("2026-11-26T09:00:00+07:00");
    let mut ids = Vec::new();
    for day in ["23", "24", "25"] {
        let input = json!({"kind": "MESSAGE", "channel": "PHONE", "text": "Холодные батареи", "categoryId": heating,
                           "latitude": 53.7001, "longitude": 91.7001, "receivedAt": format!("2026-11-{day}T10:00:00+07:00")});
        ids.push(app.appeal(&st.curator, input).await.0);
    }
    for (id, recipient, completeness) in [(&ids[0], &st.recipient, "FULL"), (&ids[1], &other, "PARTIAL")] {
        app.set_now("2026-11-25T12:00:00+07:00");
        app.act(&st.curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
        app.act(
            &st.curator,
            "assignAppeal",
            "AssignAppealInput",
            json!({"id": id, "version": 2, "recipientId": recipient}),
        )
        .await
        .data();
        app.act(&st.curator, "answerAppeal", "AnswerAppealInput", json!({"id": id, "version": 3, "text": "Ответ"}))
            .await
            .data();
        app.act(
            &st.curator,
            "assessAnswer",
            "AssessAnswerInput",
            json!({"id": id, "version": 4, "completeness": completeness}),
        )
        .await
        .data();
    }
    app.set_now("2026-12-01T09:00:00+07:00");
    let q = "{ proposedAgenda(from:\"2026-11-23\", to:\"2026-11-29\") { kind title note count } }";
    let items = app.gql(Some(&st.head), q, json!({})).await.data()["proposedAgenda"].clone();
    let got: Vec<(String, i64)> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["kind"].as_str().unwrap().to_string(), i["count"].as_i64().unwrap()))
        .collect();
    let want: Vec<(String, i64)> = [
        ("GROWING_TOPIC", 3),
        ("OVERDUE_ROADMAP", 1),
        ("OVERDUE_MEASURE", 6),
        ("WORST_RECIPIENT", 1),
        ("PROBLEM_POINT", 3),
        ("OVERDUE_ASSIGNMENT", 3),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(got, want, "{items}");
    assert_eq!(items[0]["title"], format!("Рост обращений по теме «{top}»"));
    assert_eq!(items[1]["title"], "Исполнение дорожной карты «Отопление в Северном»");
    assert_eq!(items[3]["title"], "Работа получателя «Управление образования» с обращениями");
    assert!(items[5]["note"].as_str().unwrap().contains("Управление ЖКХ"));
    // Tokens and executors get no agenda; a bad period is named.
    let r =
        app.gql(Some(&st.head), "{ proposedAgenda(from:\"2026-11-29\", to:\"2026-11-23\") { kind } }", json!({})).await;
    assert_eq!(r.field_paths(), ["period.to"]);
}

async fn download(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client.get(format!("{}{path}", app.base)).bearer_auth(token).send().await.unwrap()
}

#[tokio::test]
async fn agenda_and_minutes_as_documents_and_open_assignments_in_the_memo() {
    let app = spawn().await;
    let st = app.staff().await;
    let (meeting, _, _) = held_with_assignment(&app, &st, "2026-11-28").await;
    app.set_now("2026-12-01T09:00:00+07:00");
    let agenda = download(&app, &st.coordinator, &format!("/exports/meetings/{meeting}-agenda.docx")).await;
    assert_eq!(agenda.status(), 200);
    let text = crate::system_reports::docx_text(&agenda.bytes().await.unwrap());
    assert!(text.contains("Повестка") && text.contains("1. Отопление"), "{text}");
    assert!(text.contains("Участники:\nUser "), "{text}");
    let minutes = download(&app, &st.head, &format!("/exports/meetings/{meeting}-minutes.docx")).await;
    assert_eq!(minutes.status(), 200);
    let text = crate::system_reports::docx_text(&minutes.bytes().await.unwrap());
    assert!(text.contains("Протокол"), "{text}");
    assert!(text.contains("Устранить перебои отопления"), "{text}");
    assert!(text.contains("Управление ЖКХ\n28.11.2026\nПоручено, просрочено на 3 дн."), "{text}");
    for (who, status) in [(&st.executor, 403), (&st.admin, 403)] {
        assert_eq!(download(&app, who, &format!("/exports/meetings/{meeting}-minutes.docx")).await.status(), status);
    }
    let planned = create(
        &app,
        &st.head,
        json!({"title": "Следующее", "startsAt": "2026-12-10T03:00:00Z", "participantIds": [], "agenda": []}),
    )
    .await;
    let planned = planned.data()["r"]["id"].as_str().unwrap().to_string();
    assert_eq!(download(&app, &st.head, &format!("/exports/meetings/{planned}-minutes.docx")).await.status(), 404);
    assert_eq!(download(&app, &st.head, &format!("/exports/meetings/{planned}-agenda.docx")).await.status(), 200);

    // The weekly memo lists the open assignment, 3 days overdue on 1 December.
    let q = "{ analytics { weeklyMemo(weekStart:\"2026-11-23\") { markdown } } }";
    let md = app.gql(Some(&st.head), q, json!({})).await.data()["analytics"]["weeklyMemo"]["markdown"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(md.contains("## Поручения совещаний у Главы"), "{md}");
    assert!(md.contains("Неисполненных поручений: 1, из них просрочено: 1."), "{md}");
    assert!(
        md.contains(
            "| Устранить перебои отопления | Управление ЖКХ | 28.11.2026 | **3** | Совещание по ЖКХ (20.11.2026) |"
        ),
        "{md}"
    );
    let docx = download(&app, &st.head, "/exports/memo/2026-11-23.docx").await;
    let text = crate::system_reports::docx_text(&docx.bytes().await.unwrap());
    assert!(text.contains("7. Поручения совещаний у Главы"), "{text}");
    assert!(text.contains("Устранить перебои отопления"), "{text}");
}
