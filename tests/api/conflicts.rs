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

/// The statement's REPEAT_AUTHOR check (one probe for the nearest earlier appeal of the same
/// category and folded contact) flags exactly what the domain rule flags given every appeal,
/// on a generated set with ties in receipt, gaps of exactly 30 days and of 30 days and a
/// second, contacts written with other case and spaces, appeals without a category or a
/// contact, and words of escalation in social posts and in other channels; for a list page,
/// for periods, under a recipient and a territory scope, and in the counts over HTTP.
#[tokio::test]
async fn repeat_author_probe_flags_as_the_domain_rule_on_a_generated_set() {
    use std::collections::{BTreeMap, HashSet};

    use chrono::{DateTime, Duration, TimeZone, Utc};
    use mcu::domain::conflicts::{ConflictFlag, Earlier, Facts, author_key, flags};
    use mcu::entity::appeal;
    use mcu::service::conflicts::{Which, flagged};
    use sea_orm::{ConnectionTrait, EntityTrait};

    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-12-23T10:00:00+07:00");
    let s = app.staff().await;
    let other = app.recipient(&s.admin, "Управление дорог").await;
    let t1 = app.territory(&s.admin, "Центральный", None).await;
    let t2 = app.territory(&s.admin, "Октябрьский", None).await;
    let cats = [app.category(&s.curator, "Отопление").await, app.category(&s.curator, "Ямы и ремонт дорог").await];

    // Receipts: days from 1 October (UTC) at 0 or 5 hours, so that some appeals share an
    // instant and some lie exactly 30 days (720 hours) or 30 days and a second apart.
    let base = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    let days = [0, 10, 30, 31, 40, 60, 61, 70];
    let offsets = [Duration::zero(), Duration::zero(), Duration::hours(5), Duration::seconds(1)];
    let contacts = [
        Some("anna@example.ru"),
        Some(" Anna@Example.RU "),
        Some("ANNA @EXAMPLE.RU"),
        Some("boris@example.ru"),
        Some("+7 913 123-45-67"),
        Some("+79131234567"),
        None,
    ];
    let texts = ["Не вывозят мусор", "Третий месяц ямы, пишу в прокуратуру", "Подам в суд на управляющую компанию"];
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as usize) % n
    };
    // Each edge once for sure: a tie alone, 30 days and a second, exactly 30 days apart.
    let edges = [
        ("tie@example.ru", Duration::days(5)),
        ("tie@example.ru", Duration::days(5)),
        ("over@example.ru", Duration::days(2)),
        ("Over@example.ru ", Duration::days(32) + Duration::seconds(1)),
        ("exact@example.ru", Duration::days(3)),
        ("EXACT @example.ru", Duration::days(33)),
    ];
    for (contact, after) in edges {
        let at = (base + after).to_rfc3339();
        create(&app, &s.curator, json!({"receivedAt": at, "authorContact": contact, "categoryId": cats[0]})).await;
    }
    // Social posts whose stored stems hold a word of escalation from the summary or the
    // address alone: candidates for the statement, not flagged by the rule (it reads the text).
    for (i, (summary, address)) in
        [(Some("Автор грозит прокуратурой"), None), (None, Some("ул. Судовая, у здания суда"))].into_iter().enumerate()
    {
        let mut input = json!({"kind": "INCIDENT", "channel": "INCIDENT", "externalId": format!("esc-{i}"),
                               "receivedAt": (base + Duration::days(12)).to_rfc3339(), "text": "Не вывозят мусор"});
        if let Some(v) = summary {
            input["summary"] = json!(v);
        }
        if let Some(v) = address {
            input["address"] = json!(v);
        }
        create(&app, &s.curator, input).await;
    }
    for i in 0..114 {
        let at = base + Duration::days(days[next(days.len())]) + offsets[next(offsets.len())];
        let mut input = json!({"kind": "MESSAGE", "channel": "POS", "receivedAt": at.to_rfc3339(),
                               "text": texts[next(texts.len())], "authorName": "Анна"});
        match next(4) {
            0 => {
                input["kind"] = json!("INCIDENT");
                input["channel"] = json!("INCIDENT");
                input["externalId"] = json!(format!("vk-{i}"));
            }
            1 => {
                input["kind"] = json!("INCIDENT");
                input["channel"] = json!("GOSPABLIKI");
                input["externalId"] = json!(format!("gp-{i}"));
            }
            _ => {}
        }
        if let Some(c) = contacts[next(contacts.len())] {
            input["authorContact"] = json!(c);
        }
        if let Some(c) = cats.get(next(cats.len() + 1)) {
            input["categoryId"] = json!(c);
        }
        create(&app, &s.curator, input).await;
    }
    // The recipient, territory and reopenings the rule and the counts read, set directly:
    // the workflow that sets them is not what this compares.
    let (r1, r2): (i64, i64) = (s.recipient.parse().unwrap(), other.parse().unwrap());
    let (t1, t2): (i64, i64) = (t1.parse().unwrap(), t2.parse().unwrap());
    let db = &app.state.db;
    db.execute_unprepared(&format!(
        "UPDATE appeals SET recipient_id = CASE id % 3 WHEN 0 THEN NULL WHEN 1 THEN {r1} ELSE {r2} END, \
         territory_id = CASE id % 2 WHEN 0 THEN {t1} ELSE {t2} END, reopen_count = id % 3"
    ))
    .await
    .unwrap();

    // The domain rule given every appeal as the others.
    let all = appeal::Entity::find().all(db).await.unwrap();
    assert_eq!(all.len(), 122);
    let others: Vec<Earlier> = all
        .iter()
        .filter_map(|a| {
            Some(Earlier {
                author: author_key(a.author_contact.as_deref())?,
                category_id: a.category_id?,
                received_at: a.received_at,
            })
        })
        .collect();
    let keys: Vec<Option<String>> = all.iter().map(|a| author_key(a.author_contact.as_deref())).collect();
    let expected: BTreeMap<i64, Vec<ConflictFlag>> = all
        .iter()
        .zip(&keys)
        .map(|(a, key)| {
            let facts = Facts {
                channel: a.channel.parse().unwrap(),
                reopen_count: a.reopen_count,
                text: &a.text,
                received_at: a.received_at,
                author: key.as_deref(),
                category_id: a.category_id,
            };
            (a.id, flags(&facts, &others))
        })
        .collect();
    // The set holds each case the check must tell apart.
    let with = |f: ConflictFlag| expected.values().filter(|v| v.contains(&f)).count();
    assert!(with(ConflictFlag::RepeatAuthor) >= 10, "{expected:?}");
    assert!(with(ConflictFlag::Escalation) >= 5 && with(ConflictFlag::RepeatedReopening) >= 10, "{expected:?}");
    let repeat = |a: &appeal::Model| expected[&a.id].contains(&ConflictFlag::RepeatAuthor);
    let same_author = |a: &appeal::Model, b: &appeal::Model, k: &Option<String>, l: &Option<String>| {
        k.is_some() && k == l && a.category_id.is_some() && a.category_id == b.category_id
    };
    let pairs: Vec<(&appeal::Model, &appeal::Model)> = all
        .iter()
        .zip(&keys)
        .flat_map(|(a, k)| {
            all.iter().zip(&keys).filter(move |(b, l)| same_author(a, b, k, l)).map(move |(b, _)| (a, b))
        })
        .collect();
    let spelled_apart = pairs.iter().any(|(a, b)| repeat(a) && a.author_contact != b.author_contact);
    let tie_only = all.iter().zip(&keys).any(|(a, k)| {
        !repeat(a)
            && all
                .iter()
                .zip(&keys)
                .any(|(b, l)| b.id != a.id && b.received_at == a.received_at && same_author(a, b, k, l))
    });
    let day = Duration::days(30);
    let exactly_30 = pairs.iter().any(|(a, b)| a.received_at - b.received_at == day && repeat(a));
    let just_over_30 =
        pairs.iter().any(|(a, b)| a.received_at - b.received_at == day + Duration::seconds(1) && !repeat(a));
    assert!(
        spelled_apart && tie_only && exactly_30 && just_over_30,
        "{spelled_apart} {tie_only} {exactly_30} {just_over_30}"
    );

    // The statement leaves out appeals that cannot carry a flag: compare the flagged ones.
    let as_map = |rows: Vec<mcu::service::conflicts::Flagged>| -> BTreeMap<i64, Vec<ConflictFlag>> {
        rows.into_iter().filter(|r| !r.flags.is_empty()).map(|r| (r.appeal_id, r.flags)).collect()
    };
    let expected: BTreeMap<i64, Vec<ConflictFlag>> = expected.into_iter().filter(|(_, f)| !f.is_empty()).collect();
    let flagged_of = |a: &appeal::Model| expected.get(&a.id).cloned().unwrap_or_default();
    // A list page: every appeal by id.
    let ids: Vec<i64> = all.iter().map(|a| a.id).collect();
    assert_eq!(as_map(flagged(db, Which::Ids(&ids)).await.unwrap()), expected);

    // Periods: overlapping weeks over the whole set, and each receipt instant alone.
    let mut periods: Vec<(DateTime<Utc>, DateTime<Utc>)> = (0..16)
        .map(|k| (base - Duration::days(3) + Duration::days(5 * k), Duration::days(7)))
        .map(|(f, d)| (f, f + d))
        .collect();
    let instants: HashSet<DateTime<Utc>> = all.iter().map(|a| a.received_at).collect();
    periods.extend(instants.into_iter().map(|t| (t, t + Duration::seconds(1))));
    let own: HashSet<i64> = [t1].into();
    for (from, to) in periods {
        let within = |a: &&appeal::Model| a.received_at >= from && a.received_at < to && a.recipient_id.is_some();
        let want: BTreeMap<i64, Vec<ConflictFlag>> =
            all.iter().filter(within).map(|a| (a.id, flagged_of(a))).filter(|(_, f)| !f.is_empty()).collect();
        let which = Which::Received { from, to, recipient: None, territories: None };
        assert_eq!(as_map(flagged(db, which).await.unwrap()), want, "{from}..{to}");
        let want: BTreeMap<i64, Vec<ConflictFlag>> = all
            .iter()
            .filter(within)
            .filter(|a| a.recipient_id == Some(r1) && a.territory_id == Some(t1))
            .map(|a| (a.id, flagged_of(a)))
            .filter(|(_, f)| !f.is_empty())
            .collect();
        let which = Which::Received { from, to, recipient: Some(r1), territories: Some(&own) };
        assert_eq!(as_map(flagged(db, which).await.unwrap()), want, "{from}..{to} scoped");
    }

    // The counts per recipient over HTTP, for the whole set.
    let mut want: BTreeMap<i64, [i64; 4]> = BTreeMap::new();
    for a in all.iter().filter(|a| expected.contains_key(&a.id)) {
        let Some(r) = a.recipient_id else { continue };
        let c = want.entry(r).or_default();
        c[0] += 1;
        for f in &expected[&a.id] {
            c[match f {
                ConflictFlag::RepeatedReopening => 1,
                ConflictFlag::RepeatAuthor => 2,
                ConflictFlag::Escalation => 3,
            }] += 1;
        }
    }
    let r = app.gql(Some(&s.curator), COUNTS, json!({"p": {"from": "2026-09-30", "to": "2026-12-31"}})).await;
    let got: BTreeMap<i64, [i64; 4]> = r.data()["analytics"]["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let n = |k: &str| c[k].as_i64().unwrap();
            (
                c["recipient"]["id"].as_str().unwrap().parse().unwrap(),
                [n("flagged"), n("repeatedReopening"), n("repeatAuthor"), n("escalation")],
            )
        })
        .collect();
    assert_eq!(got, want);

    // The stored flags follow every write that moves an appeal between authors' groups or
    // changes its text: a change of category (in, out, between), of receipt, a text that
    // escalates and one that no longer does, an anonymisation, a merge of categories; and a
    // rebuild recomputes them after they were spoiled behind the server's back.
    let check = |what: &'static str| {
        let db = app.state.db.clone();
        async move {
            let all = appeal::Entity::find().all(&db).await.unwrap();
            let ids: Vec<i64> = all.iter().map(|a| a.id).collect();
            let want = rule(&all);
            assert_eq!(as_map(flagged(&db, Which::Ids(&ids)).await.unwrap()), want, "stored, after {what}");
            let computed = mcu::store::conflict_facts::computed(&db, Which::Ids(&ids)).await.unwrap();
            assert_eq!(as_map(computed), want, "computed, after {what}");
            want
        }
    };
    let update = |id: i64, input: Value| {
        let (app, token) = (&app, &s.curator);
        async move {
            let mut i = input;
            i["id"] = json!(id.to_string());
            i["version"] = json!(version(app, token, &id.to_string()).await);
            let r = app.act(token, "updateAppeal", "UpdateAppealInput", i).await;
            assert!(r.body["errors"].is_null(), "{}", r.body);
        }
    };
    let with_contact: Vec<&appeal::Model> = all.iter().filter(|a| a.author_contact.is_some()).collect();
    for (n, a) in with_contact.iter().enumerate().take(12) {
        let cat = match (a.category_id, n % 3) {
            (Some(c), 0) if c == cats[0].parse::<i64>().unwrap() => cats[1].clone(),
            (_, 1) => cats[0].clone(),
            _ => cats[1].clone(),
        };
        update(a.id, json!({"categoryId": cat})).await;
    }
    check("changes of category").await;
    let social: Vec<&appeal::Model> = all.iter().filter(|a| a.channel != "POS").collect();
    for (n, a) in social.iter().enumerate().take(6) {
        let text = if n % 2 == 0 {
            "Пойду в прокуратуру, раз не чините"
        } else {
            "Спасибо, всё починили"
        };
        update(a.id, json!({"text": text})).await;
    }
    let want = check("changes of text").await;
    assert!(want.values().filter(|f| f.contains(&ConflictFlag::Escalation)).count() >= 3);
    // A batch through the ingestion (the multi-row write path), received before, among and
    // after the appeals already stored, by the same authors and by new ones.
    let items: Vec<(usize, mcu::service::intake::IngestItem)> = (0..16)
        .map(|i| {
            let item = mcu::service::intake::IngestItem {
                channel: Some(mcu::domain::access::Channel::Incident),
                external_id: format!("batch-{i}"),
                kind: Some(mcu::domain::deadlines::AppealKind::Incident),
                received_at: Some(base + Duration::days([-20, 5, 29, 45, 62, 75][i % 6]) + Duration::hours(i as i64)),
                text: if i % 4 == 0 {
                    "Пишу губернатору".into()
                } else {
                    "Не вывозят мусор".into()
                },
                author_contact: Some(["anna@example.ru", "BORIS@example.ru", "new@example.ru"][i % 3].into()),
                category_name: Some("Отопление".into()),
                ..mcu::service::intake::IngestItem::default()
            };
            (i + 1, item)
        })
        .collect();
    let caller = mcu::service::Caller { principal: mcu::domain::access::Principal::System, ..Default::default() };
    let out = mcu::service::intake::ingest(&app.state, &caller, items, mcu::service::intake::IngestOptions::default())
        .await
        .unwrap();
    assert_eq!(out.created, 16, "{:?}", out.rejected);
    check("an ingestion").await;
    // Anonymised: the contact leaves its group, the masked text may stop escalating.
    let gone: Vec<i64> = with_contact.iter().skip(12).step_by(3).take(6).map(|a| a.id).collect();
    let txn = mcu::db::begin_write(&app.state.writer).await.unwrap();
    let actor = mcu::store::audit::Actor::system();
    let how = mcu::store::privacy::Anonymisation { at: chrono::Utc::now(), actor: &actor, reason: "test" };
    let done = mcu::store::privacy::anonymise(&txn, &gone, &how).await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(done.appeals.len(), gone.len());
    check("anonymisation").await;
    let before = check("nothing").await;
    let r = app
        .gql(
            Some(&s.curator),
            "mutation($i:MergeInput!){ mergeCategories(input:$i) { appealsMoved } }",
            json!({"i": {"fromId": cats[1], "intoId": cats[0]}}),
        )
        .await;
    assert!(r.data()["mergeCategories"]["appealsMoved"].as_i64().unwrap() > 10);
    let after = check("a merge of categories").await;
    let repeats =
        |m: &BTreeMap<i64, Vec<ConflictFlag>>| m.values().filter(|f| f.contains(&ConflictFlag::RepeatAuthor)).count();
    assert!(
        repeats(&after) > repeats(&before),
        "one group now: more repeats ({} → {})",
        repeats(&before),
        repeats(&after)
    );
    app.state
        .db
        .execute_unprepared("UPDATE appeals SET author_repeat = NOT author_repeat, escalation = NOT escalation")
        .await
        .unwrap();
    // `mcu rollup verify` names every appeal whose stored facts are wrong, and nothing else.
    let tz = app.state.settings.timezone;
    // (The rollups differ too: the recipients and reopenings above were set behind their back.)
    let diffs = mcu::store::rollup::verify(&app.state.db, tz).await.unwrap();
    let diffs: Vec<String> = diffs.into_iter().filter(|d| !d.starts_with("appeal_")).collect();
    let n: i64 = {
        let sql = "SELECT COUNT(*) AS n FROM appeals";
        let row = app.state.db.query_one_raw(sea_orm::Statement::from_string(app.state.db.get_database_backend(), sql));
        row.await.unwrap().unwrap().try_get("", "n").unwrap()
    };
    assert_eq!(diffs.len() as i64, n, "every appeal has one fact flipped: {diffs:?}");
    assert!(diffs.iter().all(|d| d.starts_with("conflict facts of appeal ")), "{diffs:?}");
    mcu::service::rollup::rebuild(&app.state.db, tz).await.unwrap();
    check("a rebuild").await;
    assert_eq!(mcu::store::rollup::verify(&app.state.db, tz).await.unwrap(), Vec::<String>::new());
}

/// The conflict flags of `all` by the domain rule, given every appeal as the others; the
/// appeals with at least one.
fn rule(
    all: &[mcu::entity::appeal::Model],
) -> std::collections::BTreeMap<i64, Vec<mcu::domain::conflicts::ConflictFlag>> {
    use mcu::domain::conflicts::{Earlier, Facts, author_key, flags};
    let others: Vec<Earlier> = all
        .iter()
        .filter_map(|a| {
            Some(Earlier {
                author: author_key(a.author_contact.as_deref())?,
                category_id: a.category_id?,
                received_at: a.received_at,
            })
        })
        .collect();
    all.iter()
        .map(|a| {
            let key = author_key(a.author_contact.as_deref());
            let facts = Facts {
                channel: a.channel.parse().unwrap(),
                reopen_count: a.reopen_count,
                text: &a.text,
                received_at: a.received_at,
                author: key.as_deref(),
                category_id: a.category_id,
            };
            (a.id, flags(&facts, &others))
        })
        .filter(|(_, f)| !f.is_empty())
        .collect()
}

/// A receipt finer than the database keeps (PostgreSQL keeps microseconds) decides the repeat
/// as the stored receipt does: an ingested appeal, the earliest of its batch, is flagged when
/// it arrives, not only after a rebuild (the first appeal of a seeding batch was missed this
/// way, 4 of 1,000,000).
#[tokio::test]
async fn a_receipt_with_nanoseconds_is_flagged_as_a_repeat_on_arrival() {
    const INGEST: &str = "mutation($i:[IngestAppealInput!]!){ingestAppeals(input:$i){created rejected{message}}}";
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-12-23T10:00:00+07:00");
    let s = app.staff().await;
    let q = "mutation{createApiToken(input:{name:\"Инцидент\",scopes:[APPEALS_INGEST]}){secret}}";
    let token =
        app.gql(Some(&s.admin), q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().to_string();
    let item = |id: &str, at: &str| {
        json!({"channel": "INCIDENT", "externalId": id, "kind": "INCIDENT", "receivedAt": at, "text": "Не вывозят мусор",
               "authorContact": "anna@example.ru", "categoryName": "Отопление"})
    };
    for (id, at) in [("vk-1", "2026-11-02T10:00:00+07:00"), ("vk-2", "2026-11-03T10:00:00.000000400+07:00")] {
        let r = app.gql(Some(&token), INGEST, json!({"i": [item(id, at)]})).await;
        assert_eq!(r.data()["ingestAppeals"]["created"], 1, "{r:?}");
    }
    let later: i64 = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let m = mcu::entity::appeal::Entity::find().filter(mcu::entity::appeal::Column::ExternalId.eq("vk-2"));
        m.one(&app.state.db).await.unwrap().unwrap().id
    };
    let r = app.gql(Some(&s.coordinator), FLAGS, json!({"id": later.to_string()})).await;
    assert_eq!(r.data()["appeal"]["conflictFlags"], json!(["REPEAT_AUTHOR"]));
    app.assert_rollups_agree().await;
    // The same item again is unchanged, though the stored receipt lost its last digits.
    const AGAIN: &str = "mutation($i:[IngestAppealInput!]!){ingestAppeals(input:$i){created updated unchanged}}";
    let r = app.gql(Some(&token), AGAIN, json!({"i": [item("vk-2", "2026-11-03T10:00:00.000000400+07:00")]})).await;
    assert_eq!(r.data()["ingestAppeals"], json!({"created": 0, "updated": 0, "unchanged": 1}));
}
