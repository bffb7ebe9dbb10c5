//! Analytics over HTTP: every expected number is counted by hand from a small fixture of
//! appeals created through the API with explicit receipt times and a frozen clock (UTC+7).

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

async fn spawn_long() -> TestApp {
    spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await
}

const SUMMARY: &str = "query($p:PeriodInput!,$f:AnalyticsFilter){ analytics { summary(period:$p, filter:$f) { total byChannel { key label count } byKind { key count } byStatus { key count } answered answeredOnTime onTimeRate overdueNow dueSoonNow medianResponseHours satisfiedRate fullAnswerRate reopenedRate } } }";

/// Creates a MESSAGE and returns its id.
async fn message(app: &TestApp, token: &str, input: Value) -> String {
    let mut i = json!({"kind": "MESSAGE", "channel": "POS", "text": "Обращение для аналитики"});
    if let (Some(obj), Some(extra)) = (i.as_object_mut(), input.as_object()) {
        for (k, v) in extra {
            obj.insert(k.clone(), v.clone());
        }
    }
    app.appeal(token, i).await.0
}

/// Registers and assigns an appeal (versions 1 → 3).
async fn assign(app: &TestApp, token: &str, id: &str, recipient: &str) {
    app.act(token, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
    app.act(token, "assignAppeal", "AssignAppealInput", json!({"id": id, "version": 2, "recipientId": recipient}))
        .await
        .data();
}

/// Assigns and answers at `at` (versions 1 → 4).
async fn answer(app: &TestApp, token: &str, id: &str, recipient: &str, at: &str) {
    assign(app, token, id, recipient).await;
    app.set_now(at);
    app.act(token, "answerAppeal", "AnswerAppealInput", json!({"id": id, "version": 3, "text": "Ответ"})).await.data();
}

async fn assess(app: &TestApp, token: &str, id: &str, version: i64, completeness: &str) {
    let input = json!({"id": id, "version": version, "completeness": completeness});
    app.act(token, "assessAnswer", "AssessAnswerInput", input).await.data();
}

fn close(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() < 1e-9)
}

fn counts(list: &Value) -> Vec<(String, i64)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"].as_str().unwrap().to_string(), c["count"].as_i64().unwrap()))
        .collect()
}

#[tokio::test]
async fn summary_heatmap_and_trend_count_by_hand() {
    let app = spawn_long().await;
    app.set_now("2026-11-16T08:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let r1 = app.recipient(&admin, "Управление ЖКХ").await;
    let r2 = app.recipient(&admin, "Управление дорожного хозяйства").await;
    let (_, executor) = app.user_with(&admin, &["EXECUTOR"], json!({"recipientId": r1})).await;
    let city = app.territory(&admin, "Сорск", None).await;
    let district = app.territory(&admin, "Микрорайон Северный", Some(&city)).await;
    let heating = app.category(&curator, "Отопление").await;
    let housing = app.category(&curator, "ЖКХ").await;
    let roads = app.category(&curator, "Ямы и ремонт дорог").await;
    let roads_top = app.category(&curator, "Дороги").await;

    // The week of 9–15 November 2026 (local dates, UTC+7).
    let heat = |at: &str| json!({"categoryId": heating, "territoryId": district, "receivedAt": at});
    let a1 = message(&app, &curator, heat("2026-11-09T10:00:00+07:00")).await;
    let a2 = message(&app, &curator, heat("2026-11-10T10:00:00+07:00")).await;
    let a3 = message(
        &app,
        &curator,
        json!({"channel": "EMAIL", "categoryId": roads, "territoryId": city, "receivedAt": "2026-11-11T09:00:00+07:00"}),
    )
    .await;
    // Sunday 23:30 local is still in the week although it is 16:30 UTC.
    let a4 = message(
        &app,
        &curator,
        json!({"channel": "PHONE", "categoryId": roads, "receivedAt": "2026-11-15T23:30:00+07:00"}),
    )
    .await;
    message(&app, &curator, json!({"territoryId": district, "receivedAt": "2026-11-12T10:00:00+07:00"})).await;
    let a6 = message(&app, &curator, heat("2026-11-13T10:00:00+07:00")).await;
    message(&app, &curator, heat("2026-11-09T12:00:00+07:00")).await;
    // The week before: Sunday 23:30 local, and a Tuesday.
    message(&app, &curator, heat("2026-11-08T23:30:00+07:00")).await;
    message(
        &app,
        &curator,
        json!({"categoryId": roads, "territoryId": city, "receivedAt": "2026-11-03T10:00:00+07:00"}),
    )
    .await;
    // Monday 00:30 local of the next week is Sunday 17:30 UTC: not in the week.
    message(&app, &curator, heat("2026-11-15T17:30:00Z")).await;

    // a1: answered in 24 h, FULL, satisfied; a2: in 60 h, FULL; a3: late (due 25 Nov), PARTIAL.
    answer(&app, &curator, &a1, &r1, "2026-11-10T10:00:00+07:00").await;
    assess(&app, &curator, &a1, 4, "FULL").await;
    let fb = json!({"id": a1, "score": 5, "satisfied": true});
    app.gql(Some(&curator), "mutation($i:FeedbackInput!){recordFeedback(input:$i){id}}", json!({"i": fb})).await.data();
    answer(&app, &curator, &a2, &r1, "2026-11-12T22:00:00+07:00").await;
    assess(&app, &curator, &a2, 4, "FULL").await;
    answer(&app, &curator, &a3, &r2, "2026-11-26T10:00:00+07:00").await;
    assess(&app, &curator, &a3, 4, "PARTIAL").await;
    assign(&app, &curator, &a4, &r2).await;
    let dup = json!({"id": a6, "version": 1, "originalId": a1});
    app.act(&curator, "markDuplicate", "MarkDuplicateInput", dup).await.data();

    app.set_now("2026-11-26T12:00:00+07:00");
    let week = json!({"from": "2026-11-09", "to": "2026-11-15"});
    let r = app.gql(Some(&curator), SUMMARY, json!({"p": week})).await;
    let s = &r.data()["analytics"]["summary"];
    assert_eq!(s["total"], 7, "duplicates count in the summary; the boundaries are local midnights");
    assert_eq!(counts(&s["byChannel"]), [("POS".into(), 5), ("EMAIL".into(), 1), ("PHONE".into(), 1)]);
    assert_eq!(s["byChannel"][0]["label"], "ПОС");
    assert_eq!(counts(&s["byKind"]), [("MESSAGE".into(), 7)]);
    assert_eq!(
        counts(&s["byStatus"]),
        [("ANSWERED".into(), 3), ("RECEIVED".into(), 2), ("ASSIGNED".into(), 1), ("DUPLICATE".into(), 1)]
    );
    assert_eq!((s["answered"].as_i64(), s["answeredOnTime"].as_i64()), (Some(3), Some(2)));
    assert!(close(&s["onTimeRate"], 2.0 / 3.0));
    assert!(close(&s["medianResponseHours"], 60.0), "median of 24, 60 and 361 hours: {s}");
    assert!(close(&s["satisfiedRate"], 1.0));
    assert!(close(&s["fullAnswerRate"], 2.0 / 3.0));
    assert!(close(&s["reopenedRate"], 0.0));
    // Open appeals of the week by their SLA state, as the appeal list reports it.
    let list = app
        .gql(
            Some(&curator),
            "query($f:AppealFilter){ appeals(filter:$f, first:100) { edges { node { slaState } } } }",
            json!({"f": {"receivedFrom": "2026-11-09", "receivedTo": "2026-11-15"}}),
        )
        .await;
    let states: Vec<String> = list.data()["appeals"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["slaState"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(states.len(), 7);
    let n = |st: &str| states.iter().filter(|s| *s == st).count() as i64;
    assert_eq!(n("OVERDUE"), 1, "the unanswered appeal of 9 November was due on 23 November");
    assert_eq!(s["overdueNow"].as_i64(), Some(n("OVERDUE")));
    assert_eq!(s["dueSoonNow"].as_i64(), Some(n("DUE_SOON")));

    // Filters: a top-level category includes its children, a territory its subtree.
    let total = |f: Value, token: String| {
        let app = &app;
        let week = week.clone();
        async move { app.gql(Some(&token), SUMMARY, json!({"p": week, "f": f})).await }
    };
    assert_eq!(
        total(json!({"categoryId": [housing]}), curator.clone()).await.data()["analytics"]["summary"]["total"],
        4
    );
    assert_eq!(total(json!({"territoryId": [city]}), curator.clone()).await.data()["analytics"]["summary"]["total"], 6);
    assert_eq!(
        total(json!({"channel": ["EMAIL", "PHONE"]}), curator.clone()).await.data()["analytics"]["summary"]["total"],
        2
    );
    // An executor sees its own recipient only, and may not ask for another one.
    assert_eq!(total(json!({}), executor.clone()).await.data()["analytics"]["summary"]["total"], 2);
    assert_eq!(total(json!({"recipientId": [r2]}), executor.clone()).await.code(), "FORBIDDEN");

    // Heat map without duplicates, with the week before and per 1000 of 10 000 inhabitants.
    let r = app
        .gql(
            Some(&curator),
            "query($p:PeriodInput!,$f:AnalyticsFilter){ analytics { heatmap(period:$p, filter:$f) { categories { id } territories { id } cells { categoryId territoryId count previousCount per1000 } } } }",
            json!({"p": week}),
        )
        .await;
    let h = &r.data()["analytics"]["heatmap"];
    let cells: Vec<(String, String, i64, i64, Option<f64>)> = h["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["categoryId"].as_str().unwrap().to_string(),
                c["territoryId"].as_str().unwrap().to_string(),
                c["count"].as_i64().unwrap(),
                c["previousCount"].as_i64().unwrap(),
                c["per1000"].as_f64(),
            )
        })
        .collect();
    let mut expected = vec![
        (heating.clone(), district.clone(), 3, 1, Some(0.3)),
        (roads.clone(), city.clone(), 1, 1, Some(0.1)),
        (roads.clone(), "none".to_string(), 1, 0, None),
        ("none".to_string(), district.clone(), 1, 0, Some(0.1)),
    ];
    let mut got = cells.clone();
    got.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    expected.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(got.len(), expected.len(), "{cells:?}");
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!((&g.0, &g.1, g.2, g.3), (&e.0, &e.1, e.2, e.3));
        assert_eq!(g.4.map(|x| (x * 1000.0).round()), e.4.map(|x: f64| (x * 1000.0).round()));
    }
    assert_eq!(cells[0].2, 3, "cells are ordered by count");
    assert_eq!(h["categories"].as_array().unwrap().len(), 2);
    assert_eq!(h["territories"].as_array().unwrap().len(), 2);

    // Trend by day (empty days present), by week and month, and by top-level category.
    const TREND: &str = "query($p:PeriodInput!,$g:Granularity!,$b:GroupBy){ analytics { trend(period:$p, granularity:$g, groupBy:$b) { key label points { start count } } } }";
    let points = |r: &crate::helpers::Gql, i: usize| -> Vec<(String, i64)> {
        r.data()["analytics"]["trend"][i]["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["start"].as_str().unwrap().to_string(), p["count"].as_i64().unwrap()))
            .collect()
    };
    let r = app.gql(Some(&curator), TREND, json!({"p": week, "g": "DAY"})).await;
    let days: Vec<i64> = points(&r, 0).into_iter().map(|p| p.1).collect();
    assert_eq!(days, [2, 1, 1, 1, 0, 0, 1]);
    assert_eq!(points(&r, 0)[6].0, "2026-11-15");
    let r = app.gql(Some(&curator), TREND, json!({"p": {"from": "2026-11-02", "to": "2026-11-15"}, "g": "WEEK"})).await;
    assert_eq!(points(&r, 0), [("2026-11-02".into(), 2), ("2026-11-09".into(), 6)]);
    let r =
        app.gql(Some(&curator), TREND, json!({"p": {"from": "2026-11-01", "to": "2026-11-30"}, "g": "MONTH"})).await;
    assert_eq!(points(&r, 0), [("2026-11-01".into(), 9)]);
    let r = app.gql(Some(&curator), TREND, json!({"p": week, "g": "WEEK", "b": "CATEGORY"})).await;
    let series: Vec<(String, String, i64)> = r.data()["analytics"]["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap().to_string(),
                s["label"].as_str().unwrap().to_string(),
                s["points"][0]["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        series,
        [
            (housing.clone(), "ЖКХ".into(), 3),
            (roads_top.clone(), "Дороги".into(), 2),
            ("none".into(), "Без категории".into(), 1)
        ]
    );

    let bad = app.gql(Some(&curator), SUMMARY, json!({"p": {"from": "2026-11-15", "to": "2026-11-09"}})).await;
    assert_eq!(bad.field_paths(), ["period.to"]);
}

#[tokio::test]
async fn growth_rating_and_the_weekly_memo() {
    let app = spawn_long().await;
    app.set_now("2026-11-21T08:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let r1 = app.recipient(&admin, "Управление ЖКХ").await;
    let r2 = app.recipient(&admin, "Управление дорожного хозяйства").await;
    let district = app.territory(&admin, "Микрорайон Северный", None).await;
    let snow = app.category(&curator, "Уборка снега и наледи").await;
    let heating = app.category(&curator, "Отопление").await;
    let roads_top = app.category(&curator, "Дороги").await;
    let housing = app.category(&curator, "ЖКХ").await;

    let snow_at = |at: &str| json!({"categoryId": snow, "territoryId": district, "receivedAt": at});
    // One snow appeal in each of the three weeks before 16 November: baseline 1.
    for at in ["2026-10-28T10:00:00+07:00", "2026-11-04T10:00:00+07:00", "2026-11-11T10:00:00+07:00"] {
        message(&app, &curator, snow_at(at)).await;
    }
    // Two heating appeals of 5 November assigned to R1, due 18 November: one met, one overdue.
    let heat = json!({"categoryId": heating, "territoryId": district, "receivedAt": "2026-11-05T10:00:00+07:00"});
    let c1 = message(&app, &curator, heat.clone()).await;
    let c2 = message(&app, &curator, heat).await;
    answer(&app, &curator, &c1, &r1, "2026-11-17T10:00:00+07:00").await;
    assign(&app, &curator, &c2, &r1).await;
    // Six snow appeals in the week of 16 November: five for R1, one for R2.
    app.set_now("2026-11-21T08:00:00+07:00");
    let mut week_appeals = Vec::new();
    for day in 16..=20 {
        week_appeals.push(message(&app, &curator, snow_at(&format!("2026-11-{day}T10:00:00+07:00"))).await);
    }
    let d1 = message(&app, &curator, snow_at("2026-11-16T12:00:00+07:00")).await;
    // R1 answers three on 20 November at 10:00 (96, 72 and 48 hours): FULL, FULL, FORMAL.
    for (id, completeness) in week_appeals.iter().take(3).zip(["FULL", "FULL", "FORMAL"]) {
        answer(&app, &curator, id, &r1, "2026-11-20T10:00:00+07:00").await;
        assess(&app, &curator, id, 4, completeness).await;
    }
    let fb = json!({"id": week_appeals[0], "score": 5, "satisfied": true});
    app.gql(Some(&curator), "mutation($i:FeedbackInput!){recordFeedback(input:$i){id}}", json!({"i": fb})).await.data();
    for id in &week_appeals[3..] {
        assign(&app, &curator, id, &r1).await;
    }
    answer(&app, &curator, &d1, &r2, "2026-11-17T12:00:00+07:00").await;
    assess(&app, &curator, &d1, 4, "FULL").await;

    app.set_now("2026-11-27T12:00:00+07:00");
    let week = json!({"from": "2026-11-16", "to": "2026-11-22"});
    let r = app
        .gql(
            Some(&curator),
            "query($p:PeriodInput!){ analytics { growth(period:$p, groupBy:CATEGORY) { key label count baseline growth significant drivers { key label count } } } }",
            json!({"p": week}),
        )
        .await;
    let g = &r.data()["analytics"]["growth"];
    assert_eq!(g[0]["key"], roads_top.as_str());
    assert_eq!(g[0]["count"], 6);
    assert!(close(&g[0]["baseline"], 1.0));
    assert!(close(&g[0]["growth"], 6.0));
    assert_eq!(g[0]["significant"], true, "P(X ≥ 6 | Poisson 1) ≈ 0.0006");
    assert_eq!(
        counts(&g[0]["drivers"]),
        [(format!("category:{snow}"), 5), ("channel:POS".into(), 5), (format!("territory:{district}"), 5)]
    );
    assert_eq!(g[1]["key"], housing.as_str());
    assert_eq!(g[1]["count"], 0);
    assert!(close(&g[1]["baseline"], 2.0 / 3.0));
    assert_eq!(g[1]["significant"], false);

    let r = app
        .gql(
            Some(&curator),
            "query($p:PeriodInput!){ analytics { recipientRating(period:$p) { recipient { id } rank total onTimeRate fullAnswerRate satisfiedRate medianResponseHours score enoughData } } }",
            json!({"p": week}),
        )
        .await;
    let rows = r.data()["analytics"]["recipientRating"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 2);
    let first = &rows[0];
    assert_eq!(
        (first["recipient"]["id"].as_str(), first["rank"].as_i64(), first["total"].as_i64()),
        (Some(r1.as_str()), Some(1), Some(5))
    );
    assert!(close(&first["onTimeRate"], 0.5), "of the two due on 18 November one was met: {first}");
    assert!(close(&first["fullAnswerRate"], 2.0 / 3.0));
    assert!(close(&first["satisfiedRate"], 1.0));
    assert!(close(&first["medianResponseHours"], 72.0));
    assert!(close(&first["score"], 0.4 * 0.5 + 0.3 * 2.0 / 3.0 + 0.3));
    assert_eq!(first["enoughData"], true);
    let second = &rows[1];
    assert_eq!(second["recipient"]["id"], r2.as_str());
    assert_eq!((second["rank"].is_null(), second["enoughData"].as_bool()), (true, Some(false)));
    assert!(second["onTimeRate"].is_null());
    assert!(close(&second["score"], 1.0), "only completeness is known: {second}");

    // A curator limited to another territory sees none of these appeals.
    let elsewhere = app.territory(&admin, "Другой район", None).await;
    let (_, local) = app.user_with(&admin, &["CURATOR"], json!({"territoryId": elsewhere})).await;
    let r = app
        .gql(
            Some(&local),
            "query($p:PeriodInput!){ analytics { recipientRating(period:$p) { total } } }",
            json!({"p": week}),
        )
        .await;
    assert_eq!(r.data()["analytics"]["recipientRating"], json!([]));
    assert_eq!(app.gql(Some(&local), SUMMARY, json!({"p": week})).await.data()["analytics"]["summary"]["total"], 0);

    const MEMO: &str = "query($w:Date!){ analytics { weeklyMemo(weekStart:$w) { weekStart weekEnd markdown summary { total } previous { total } topGrowth { key } overdue { id } rating { rank } recommendations docxUrl xlsxUrl } } }";
    let r = app.gql(Some(&curator), MEMO, json!({"w": "2026-11-16"})).await;
    let m = &r.data()["analytics"]["weeklyMemo"];
    assert_eq!((m["weekStart"].as_str(), m["weekEnd"].as_str()), (Some("2026-11-16"), Some("2026-11-22")));
    assert_eq!((m["summary"]["total"].as_i64(), m["previous"]["total"].as_i64()), (Some(6), Some(1)));
    assert_eq!(counts_keys(&m["topGrowth"]), vec![roads_top.clone()]);
    let advice: Vec<&str> = m["recommendations"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(
        advice[0],
        "Взять на контроль тему «Дороги»: значимый рост за неделю (6 обращений при среднем 1.0); если рост сохранится, подготовить дорожную карту.",
        "a first significant week: control, not yet a roadmap"
    );
    assert!(advice[1].starts_with("Обеспечить ответ по ") && advice[1].contains("Управление ЖКХ — 1"), "{advice:?}");
    assert_eq!(advice.len(), 2, "{advice:?}");
    let overdue =
        app.gql(Some(&curator), "{ appeals(filter:{slaState:[OVERDUE]}, first:100) { totalCount } }", json!({})).await;
    let ids: Vec<&str> = m["overdue"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len() as i64, overdue.data()["appeals"]["totalCount"].as_i64().unwrap());
    assert!(ids.contains(&c2.as_str()));
    let md = m["markdown"].as_str().unwrap();
    assert!(md.starts_with("# Аналитическая записка за неделю 16.11.2026 — 22.11.2026"), "{md}");
    assert!(md.contains("Поступило обращений: **6**"), "{md}");
    assert!(md.contains("Взять на контроль тему «Дороги»"));
    assert!(md.contains("| Управление ЖКХ | 1 | 19.11.2026 |"), "R1's overdue appeal, due 19 November: {md}");
    assert!(md.contains("| 2026-000005 | Отопление | Управление ЖКХ | 19.11.2026 |"), "{md}");
    assert!(md.contains("## Проблемные точки") && md.contains("Просроченных мероприятий нет."), "{md}");
    let overdue_total: i64 =
        advice[1].trim_start_matches("Обеспечить ответ по ").split(' ').next().and_then(|n| n.parse().ok()).unwrap();
    assert_eq!(overdue_total, ids.len() as i64, "the curator sees every overdue appeal");
    assert_eq!(m["docxUrl"], "/exports/memo/2026-11-16.docx");
    assert_eq!(m["xlsxUrl"], "/exports/memo/2026-11-16.xlsx");
    let r = app.gql(Some(&curator), MEMO, json!({"w": "2026-11-17"})).await;
    assert_eq!(r.field_paths(), ["weekStart"]);

    // The memo as office files, with the same authorization as analytics.
    let get = |path: &str, token: Option<String>| {
        let mut req = app.client.get(format!("{}{path}", app.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    for (ext, mime) in [
        ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ] {
        let resp = get(&format!("/exports/memo/2026-11-16.{ext}"), Some(curator.clone())).await.unwrap();
        assert_eq!(resp.status(), 200, "{ext}");
        assert_eq!(resp.headers()["content-type"], mime);
        let bytes = resp.bytes().await.unwrap();
        assert!(bytes.len() > 1000 && bytes.starts_with(b"PK"), "{ext} is a zip package");
    }
    let resp = get("/exports/memo/2026-11-16.docx", None).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Value>().await.unwrap()["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let q = "mutation{createApiToken(input:{name:\"push\",scopes:[APPEALS_INGEST]}){secret}}";
    let ingest =
        app.gql(Some(&admin), q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().to_string();
    let resp = get("/exports/memo/2026-11-16.xlsx", Some(ingest)).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.json::<Value>().await.unwrap()["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let resp = get("/exports/memo/2026-11-17.xlsx", Some(curator.clone())).await.unwrap();
    assert_eq!(resp.status(), 400, "not a Monday");
}

fn counts_keys(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn map_cells_problem_points_and_who_may_read_analytics() {
    let app = spawn_long().await;
    app.set_now("2026-11-20T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let roads = app.category(&curator, "Ямы и ремонт дорог").await;
    let heating = app.category(&curator, "Отопление").await;
    let at = "2026-11-18T10:00:00+07:00";
    let pit = |lat: f64, lon: f64| json!({"categoryId": roads, "latitude": lat, "longitude": lon, "receivedAt": at});
    for _ in 0..3 {
        message(&app, &curator, pit(53.7001, 91.7001)).await;
    }
    message(
        &app,
        &curator,
        json!({"categoryId": heating, "latitude": 53.7001, "longitude": 91.7001, "receivedAt": at}),
    )
    .await;
    message(&app, &curator, pit(53.80, 91.90)).await;
    message(&app, &curator, json!({"categoryId": roads, "receivedAt": at})).await;

    let week = json!({"from": "2026-11-16", "to": "2026-11-22"});
    const GEO: &str = "query($p:PeriodInput!,$r:Int){ analytics { geoCells(period:$p, resolution:$r) { cell latitude longitude count topCategory { id } } } }";
    let r = app.gql(Some(&curator), GEO, json!({"p": week})).await;
    let cells = r.data()["analytics"]["geoCells"].as_array().unwrap().clone();
    let cell8 = |lat: f64, lon: f64| h3o::LatLng::new(lat, lon).unwrap().to_cell(h3o::Resolution::Eight).to_string();
    assert_eq!(cells.len(), 2);
    assert_eq!(
        (cells[0]["cell"].as_str().unwrap(), cells[0]["count"].as_i64()),
        (cell8(53.7001, 91.7001).as_str(), Some(4))
    );
    assert_eq!(cells[0]["topCategory"]["id"], roads.as_str());
    assert!((cells[0]["latitude"].as_f64().unwrap() - 53.7001).abs() < 0.01, "the centre is near the point");
    assert_eq!(
        (cells[1]["cell"].as_str().unwrap(), cells[1]["count"].as_i64()),
        (cell8(53.80, 91.90).as_str(), Some(1))
    );
    assert_eq!(app.gql(Some(&curator), GEO, json!({"p": week, "r": 4})).await.field_paths(), ["resolution"]);

    const POINTS: &str =
        "query($p:PeriodInput!){ analytics { problemPoints(period:$p) { cell category { id } count sample { id } } } }";
    let r = app.gql(Some(&curator), POINTS, json!({"p": week})).await;
    let points = r.data()["analytics"]["problemPoints"].as_array().unwrap().clone();
    assert_eq!(points.len(), 1, "only the three pits share a cell and a category");
    let cell9 = h3o::LatLng::new(53.7001, 91.7001).unwrap().to_cell(h3o::Resolution::Nine).to_string();
    assert_eq!((points[0]["cell"].as_str().unwrap(), points[0]["count"].as_i64()), (cell9.as_str(), Some(3)));
    assert_eq!(points[0]["category"]["id"], roads.as_str());
    assert_eq!(points[0]["sample"].as_array().unwrap().len(), 3);

    // Tokens: ANALYTICS_READ gets numbers and no appeal samples; APPEALS_INGEST is refused.
    let token = |scope: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let q = format!("mutation{{createApiToken(input:{{name:\"{scope}\",scopes:[{scope}]}}){{secret}}}}");
            app.gql(Some(&admin), &q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().to_string()
        }
    };
    let bi = token("ANALYTICS_READ").await;
    let r = app.gql(Some(&bi), POINTS, json!({"p": week})).await;
    assert_eq!(r.data()["analytics"]["problemPoints"][0]["count"], 3);
    assert_eq!(r.data()["analytics"]["problemPoints"][0]["sample"], json!([]));
    assert_eq!(app.gql(Some(&bi), SUMMARY, json!({"p": week})).await.data()["analytics"]["summary"]["total"], 6);
    let ingest = token("APPEALS_INGEST").await;
    assert_eq!(app.gql(Some(&ingest), SUMMARY, json!({"p": week})).await.code(), "FORBIDDEN");
    assert_eq!(app.gql(None, SUMMARY, json!({"p": week})).await.code(), "UNAUTHENTICATED");
    let (_, admin_only) = app.user_with(&admin, &["ADMIN"], json!({})).await;
    assert_eq!(app.gql(Some(&admin_only), SUMMARY, json!({"p": week})).await.code(), "FORBIDDEN");
}

#[tokio::test]
async fn the_appeal_list_exports_to_xlsx_within_the_callers_scope() {
    let app = spawn_long().await;
    app.set_now("2026-11-20T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let (_, head) = app.user_with(&admin, &["HEAD"], json!({})).await;
    for n in 0..3 {
        message(&app, &curator, json!({"authorName": format!("Иван Петров {n}"), "authorContact": "ivan@mail.ru"}))
            .await;
    }
    let get = |query: &str, token: Option<String>| {
        let mut req = app.client.get(format!("{}/exports/appeals.xlsx{query}", app.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let before = app.audit_count("read.personalData").await;
    let resp = get("?status=RECEIVED&receivedFrom=2026-11-01", Some(head)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.unwrap().starts_with(b"PK"));
    assert_eq!(app.audit_count("read.personalData").await, before, "the head sees personal data masked");
    let resp = get("?channel=POS,EMAIL", Some(curator.clone())).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-total-count"], "3");
    let rows = xlsx_rows(&resp.bytes().await.unwrap(), "Обращения");
    assert_eq!(rows.len(), 4, "the header and three appeals");
    assert!(rows[1..].iter().all(|r| r[11].starts_with("Иван Петров")), "the curator handles them: {rows:?}");
    assert_eq!(app.audit_count("read.personalData").await, before + 1, "the curator's unmasked read is audited");
    let audit = last_audit(&app, "read.personalData").await;
    assert_eq!(audit["count"], 3);
    assert_eq!(audit["filter"]["channel"], "POS,EMAIL");
    let ranges = audit["appealIdRanges"].as_array().unwrap();
    let listed: i64 = ranges.iter().map(|r| r[1].as_i64().unwrap() - r[0].as_i64().unwrap() + 1).sum();
    assert_eq!(listed, 3, "every unmasked appeal is in the audited ranges: {ranges:?}");
    // Past a sheet's row limit the list goes on in the next sheet, and nobody handling the
    // appeals sees personal data masked.
    let export = {
        use mcu::service::{appeal_query, exports, scope::AppealScope};
        let scope = AppealScope::for_token_reading_all();
        let st = &app.state;
        let refs = mcu::service::reference::snapshot(st).await.unwrap();
        let q = appeal_query::filtered(
            st.db.get_database_backend(),
            &refs,
            &scope,
            &appeal_query::AppealFilter::default(),
            st.settings.timezone,
            st.clock.now(),
        )
        .unwrap();
        exports::appeals_xlsx_in_sheets(&st.db, q, &scope, st.settings.timezone, st.clock.now(), 2).await.unwrap()
    };
    assert_eq!(export.rows, 3);
    assert!(export.unmasked.is_empty());
    let bytes = {
        use std::io::Read;
        let mut b = Vec::new();
        let mut f = export.file;
        f.read_to_end(&mut b).unwrap();
        b
    };
    let first = xlsx_rows(&bytes, "Обращения");
    let second = xlsx_rows(&bytes, "Обращения 2");
    assert_eq!((first.len(), second.len()), (3, 2), "2 + 1 appeals, each sheet with its header");
    assert_eq!(second[0][0], "Номер");
    // Dates are dates (they sort and filter), the deadline column says whether it was missed,
    // and each sheet has a frozen header, an autofilter and a print setup.
    {
        use calamine::{Data, Reader, Xlsx};
        let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.clone())).unwrap();
        let range = wb.worksheet_range("Обращения").unwrap();
        assert_eq!(range.get((0, 14)), Some(&Data::String("Просрочено".into())));
        assert!(matches!(range.get((1, 4)), Some(Data::DateTime(_))), "{:?}", range.get((1, 4)));
        assert!(matches!(range.get((1, 5)), Some(Data::DateTime(_))), "{:?}", range.get((1, 5)));
        assert_eq!(range.get((1, 14)), Some(&Data::String("Нет".into())), "not yet due");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.clone())).unwrap();
        let mut xml = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(), &mut xml).unwrap();
        for part in ["<autoFilter ref=\"A1:O3\"", "state=\"frozen\"", "orientation=\"landscape\"", "fitToPage=\"1\""] {
            assert!(xml.contains(part), "{part} in {xml}");
        }
        // Half a year later the same unanswered appeals are overdue.
        use mcu::service::{appeal_query, exports, scope::AppealScope};
        let scope = AppealScope::for_token_reading_all();
        let st = &app.state;
        let later = chrono::DateTime::parse_from_rfc3339("2027-06-01T12:00:00+07:00").unwrap().to_utc();
        let refs = mcu::service::reference::snapshot(st).await.unwrap();
        let q = appeal_query::filtered(
            st.db.get_database_backend(),
            &refs,
            &scope,
            &appeal_query::AppealFilter::default(),
            st.settings.timezone,
            later,
        )
        .unwrap();
        let mut f = exports::appeals_xlsx(&st.db, q, &scope, st.settings.timezone, later).await.unwrap().file;
        let mut late = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut late).unwrap();
        let rows = xlsx_rows(&late, "Обращения");
        assert!(rows[1..].iter().all(|r| r[14] == "Да"), "{rows:?}");
    }
    assert!(second[1][11].contains('*') && !second[1][11].contains("Петров"), "masked: {:?}", second[1]);
    let resp = get("?status=SOMETIMES", Some(curator)).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(get("", None).await.unwrap().status(), 401);
    let q = "mutation{createApiToken(input:{name:\"bi\",scopes:[ANALYTICS_READ]}){secret}}";
    let bi = app.gql(Some(&admin), q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().to_string();
    assert_eq!(get("", Some(bi)).await.unwrap().status(), 403);
}

/// The cells of one sheet of a workbook as strings.
pub(crate) fn xlsx_rows(bytes: &[u8], sheet: &str) -> Vec<Vec<String>> {
    use calamine::{Reader, Xlsx};
    let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let range = wb.worksheet_range(sheet).unwrap();
    range.rows().map(|r| r.iter().map(ToString::to_string).collect()).collect()
}

/// The data of the newest audit entry of an action.
async fn last_audit(app: &TestApp, action: &str) -> Value {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let row = mcu::entity::audit_log::Entity::find()
        .filter(mcu::entity::audit_log::Column::Action.eq(action))
        .order_by_desc(mcu::entity::audit_log::Column::Id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    row.data.map_or(Value::Null, |d| serde_json::from_str(&d).unwrap())
}

#[tokio::test]
async fn the_memo_asks_for_a_roadmap_after_two_significant_weeks_and_then_follows_it() {
    let app = spawn_long().await;
    app.set_now("2026-11-21T08:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({})).await;
    let roads = app.recipient(&admin, "Управление дорожного хозяйства").await;
    let pits = app.category(&curator, "Ямы и ремонт дорог").await;
    // Nothing before 9 November; six pothole appeals that week, seven the next.
    for day in ["09", "10", "11", "12", "13", "13", "16", "17", "18", "19", "20", "20", "20"] {
        message(&app, &curator, json!({"categoryId": pits, "receivedAt": format!("2026-11-{day}T10:00:00+07:00")}))
            .await;
    }
    const MEMO: &str = "query($w:Date!){ analytics { weeklyMemo(weekStart:$w) { markdown recommendations topGrowth { key count } } } }";
    let memo = |token: String| {
        let app = &app;
        async move {
            app.gql(Some(&token), MEMO, json!({"w": "2026-11-16"})).await.data()["analytics"]["weeklyMemo"].clone()
        }
    };
    let m = memo(curator.clone()).await;
    assert_eq!(
        m["recommendations"][0],
        "Подготовить дорожную карту по теме «Дороги»: значимый рост вторую неделю подряд (7 обращений за неделю при среднем 2.0).",
        "{m}"
    );

    // A roadmap on the topic (its subcategory counts for it), approved, with a measure due on
    // 25 November that is not done by the 27th.
    let q = "mutation($i:CreateRoadmapInput!){ createRoadmap(input:$i) { id version } }";
    let r = app
        .gql(Some(&coordinator), q, json!({"i": {"title": "Ремонт дорог", "problem": "Ямы", "categoryId": pits}}))
        .await;
    let id = r.data()["createRoadmap"]["id"].as_str().unwrap().to_string();
    let q = "mutation($i:MeasureInput!){ addMeasure(input:$i) { version } }";
    let input = json!({"roadmapId": id, "version": 1, "title": "Ямочный ремонт ул. Ленина", "responsibleId": roads, "dueDate": "2026-11-25"});
    let v = app.gql(Some(&coordinator), q, json!({"i": input})).await.data()["addMeasure"]["version"].as_i64().unwrap();
    let q = "mutation($id:ID!,$v:Int!){ submitRoadmap(id:$id, version:$v) { version } }";
    let v = app.gql(Some(&coordinator), q, json!({"id": id, "v": v})).await.data()["submitRoadmap"]["version"].clone();
    let q = "mutation($id:ID!,$v:Int!){ approveRoadmap(id:$id, version:$v) { status } }";
    assert_eq!(
        app.gql(Some(&curator), q, json!({"id": id, "v": v})).await.data()["approveRoadmap"]["status"],
        "APPROVED"
    );
    app.set_now("2026-11-27T09:00:00+07:00");
    let m = memo(curator.clone()).await;
    let advice: Vec<&str> = m["recommendations"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(
        advice[0],
        "Проверить исполнение дорожной карты «Ремонт дорог»: рост по теме «Дороги» продолжается вторую неделю (7 обращений при среднем 2.0)."
    );
    assert!(!advice.iter().any(|a| a.starts_with("Подготовить дорожную карту")), "{advice:?}");
    assert_eq!(
        advice[1],
        "Заслушать ответственных за просроченные мероприятия дорожных карт (1): Управление дорожного хозяйства."
    );
    let md = m["markdown"].as_str().unwrap();
    assert!(
        md.contains("| Ремонт дорог | Ямочный ремонт ул. Ленина | Управление дорожного хозяйства | 25.11.2026 |"),
        "{md}"
    );
    // The same in the workbook.
    let resp = app.client.get(format!("{}/exports/memo/2026-11-16.xlsx", app.base)).bearer_auth(&curator).send().await;
    let rows = xlsx_rows(&resp.unwrap().bytes().await.unwrap(), "Мероприятия");
    assert_eq!(rows[1][..3], ["Ремонт дорог", "Ямочный ремонт ул. Ленина", "Управление дорожного хозяйства"]);
}

#[tokio::test]
async fn the_rollups_agree_with_the_appeals_through_compaction_rebuild_and_a_new_time_zone() {
    use mcu::service::rollup;
    use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
    let app = spawn_long().await;
    app.set_now("2026-11-16T08:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let r1 = app.recipient(&admin, "Управление ЖКХ").await;
    let mut ids = Vec::new();
    // The last one arrives at 02:00 local time: still the 11th in London.
    for at in ["09T10", "10T10", "11T10", "12T02"] {
        ids.push(message(&app, &curator, json!({"receivedAt": format!("2026-11-{at}:00:00+07:00")})).await);
    }
    answer(&app, &curator, &ids[0], &r1, "2026-11-13T10:00:00+07:00").await;
    assess(&app, &curator, &ids[0], 4, "FULL").await;
    answer(&app, &curator, &ids[1], &r1, "2026-11-14T10:00:00+07:00").await;
    let dup = json!({"id": ids[3], "version": 1, "originalId": ids[2]});
    app.act(&curator, "markDuplicate", "MarkDuplicateInput", dup).await.data();
    let week = json!({"p": {"from": "2026-11-09", "to": "2026-11-15"}});
    let before = app.gql(Some(&curator), SUMMARY, week.clone()).await.data()["analytics"]["summary"].clone();
    assert_eq!(before["total"], 4);
    assert_eq!(before["answered"], 2);
    app.assert_rollups_agree().await;

    // Every write appended ledger rows; compaction folds them to one per key, same sums.
    let db = &app.state.db;
    let rows = || async { mcu::entity::appeal_stat::Entity::find().count(db).await.unwrap() };
    let appended = rows().await;
    let left = rollup::compact(db, true).await.unwrap().unwrap();
    assert!(rows().await < appended, "{appended} ledger rows were not folded");
    assert!(left > 0);
    app.assert_rollups_agree().await;
    assert_eq!(app.gql(Some(&curator), SUMMARY, week.clone()).await.data()["analytics"]["summary"], before);
    assert_eq!(rollup::compact(db, false).await.unwrap(), None, "nothing new to fold");

    // Rows lost (or written behind the server's back) show up in verify; rebuild repairs them.
    db.execute_unprepared("DELETE FROM appeal_stats WHERE status = 'ANSWERED'").await.unwrap();
    let tz = app.state.settings.timezone;
    assert!(!rollup::verify(db, tz).await.unwrap().is_empty(), "verify must notice missing rows");
    assert_ne!(app.gql(Some(&curator), SUMMARY, week.clone()).await.data()["analytics"]["summary"], before);
    rollup::rebuild(db, tz).await.unwrap();
    app.assert_rollups_agree().await;
    assert_eq!(app.gql(Some(&curator), SUMMARY, week.clone()).await.data()["analytics"]["summary"], before);

    // Local days depend on the zone: a start in another zone rebuilds, the same zone does not.
    assert!(!rollup::ensure(db, tz).await.unwrap());
    let london = chrono_tz::Europe::London;
    assert!(rollup::ensure(db, london).await.unwrap());
    assert!(rollup::verify(db, london).await.unwrap().is_empty());
    assert!(!rollup::verify(db, tz).await.unwrap().is_empty(), "an appeal moved to another day");
    assert!(rollup::ensure(db, tz).await.unwrap());
    app.assert_rollups_agree().await;
}

/// What each analytics use case answers `who` (an error code, or OK), called directly as a
/// new caller (a job, another endpoint) would, with no resolver or export check before it.
async fn answers(
    state: &mcu::state::AppState,
    who: &mcu::domain::access::Principal,
    filter: &mcu::service::analytics::Filter,
) -> Vec<(&'static str, &'static str)> {
    use mcu::service::analytics as a;
    fn code(r: mcu::error::AppResult<()>) -> &'static str {
        r.err().map_or("OK", |e| e.code())
    }
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let (monday, sunday) = (day("2026-11-16"), day("2026-11-22"));
    let p = a::Period::new("period", monday, sunday).unwrap();
    vec![
        ("summary", code(a::summary(state, who, p, filter).await.map(drop))),
        ("heatmap", code(a::heatmap(state, who, p, filter).await.map(drop))),
        ("geoCells", code(a::geo_cells(state, who, p, 8, filter).await.map(drop))),
        ("trend", code(a::trend(state, who, p, a::Granularity::Day, None, filter).await.map(drop))),
        ("growth", code(a::growth(state, who, p, a::GroupBy::Category, 10, filter).await.map(drop))),
        ("problemPoints", code(a::problem_points(state, who, p, 3, filter, true).await.map(drop))),
        ("recipientRating", code(a::recipient_rating(state, who, p, None).await.map(drop))),
        ("weeklyMemo", code(a::weekly_memo(state, who, monday).await.map(drop))),
        ("overdueAppeals", code(a::overdue_appeals(state, who).await.map(drop))),
    ]
}

#[tokio::test]
async fn every_analytics_use_case_checks_its_caller_itself() {
    use mcu::domain::access::{ApiScope, Principal, Role, TokenPrincipal, UserPrincipal};
    use mcu::service::analytics::Filter;
    let app = spawn_long().await;
    let admin = app.admin().await;
    let r1: i64 = app.recipient(&admin, "Управление ЖКХ").await.parse().unwrap();
    let r2: i64 = app.recipient(&admin, "Управление дорожного хозяйства").await.parse().unwrap();
    let person = |roles: &[Role], recipient_id: Option<i64>| {
        Principal::User(UserPrincipal {
            id: 1000,
            email: "direct@mcu.test".into(),
            roles: roles.to_vec(),
            channels: Vec::new(),
            recipient_id,
            territory_id: None,
        })
    };
    let token =
        |scopes: &[ApiScope]| Principal::Token(TokenPrincipal { id: 1000, name: "t".into(), scopes: scopes.to_vec() });
    let every = |code: &'static str| -> Vec<&'static str> { vec![code; 9] };
    let codes = |v: Vec<(&'static str, &'static str)>| -> Vec<&'static str> { v.into_iter().map(|(_, c)| c).collect() };
    let none = Filter::default();

    assert_eq!(codes(answers(&app.state, &Principal::Anonymous, &none).await), every("UNAUTHENTICATED"));
    // The server itself (the weekly memo job) reads the whole city.
    assert_eq!(codes(answers(&app.state, &Principal::System, &none).await), every("OK"));
    for who in [
        person(&[Role::Admin], None),
        person(&[], None),
        person(&[Role::Executor], None),
        token(&[ApiScope::AppealsRead, ApiScope::AppealsIngest]),
    ] {
        assert_eq!(codes(answers(&app.state, &who, &none).await), every("FORBIDDEN"), "{who:?}");
    }
    // An executor may not ask for another recipient; the use cases without a filter give it
    // its own share.
    let executor = person(&[Role::Executor], Some(r1));
    let other = Filter { recipient_id: vec![mcu::domain::appeal::RecipientId(r2)], ..Filter::default() };
    let got = answers(&app.state, &executor, &other).await;
    let expected: Vec<(&str, &str)> = got
        .iter()
        .map(|(name, _)| {
            let filtered = !matches!(*name, "recipientRating" | "weeklyMemo" | "overdueAppeals");
            (*name, if filtered { "FORBIDDEN" } else { "OK" })
        })
        .collect();
    assert_eq!(got, expected);
    let own = Filter { recipient_id: vec![mcu::domain::appeal::RecipientId(r1)], ..Filter::default() };
    assert_eq!(codes(answers(&app.state, &executor, &own).await), every("OK"));
    for who in
        [person(&[Role::Head], None), person(&[Role::Executor, Role::Curator], None), token(&[ApiScope::AnalyticsRead])]
    {
        assert_eq!(codes(answers(&app.state, &who, &other).await), every("OK"), "{who:?}");
    }
}

#[tokio::test]
async fn an_executor_and_a_local_curator_get_their_share_of_every_analytic() {
    let app = spawn_long().await;
    app.set_now("2026-11-20T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let r1 = app.recipient(&admin, "Управление ЖКХ").await;
    let r2 = app.recipient(&admin, "Управление дорожного хозяйства").await;
    let north = app.territory(&admin, "Северный район", None).await;
    let south = app.territory(&admin, "Южный район", None).await;
    let (_, executor) = app.user_with(&admin, &["EXECUTOR"], json!({"recipientId": r1})).await;
    let (_, local) = app.user_with(&admin, &["CURATOR"], json!({"territoryId": north})).await;
    let pits = app.category(&curator, "Ямы и ремонт дорог").await;

    // Three pits in the north for R1 and three in the south for R2 this week, each trio in
    // one H3 cell; one appeal of 2 November of each, due 16 November and overdue now.
    let mut north_ids = Vec::new();
    let mut overdue = Vec::new();
    for (territory, recipient, lat, lon) in [(&north, &r1, 53.7001, 91.7001), (&south, &r2, 53.80, 91.90)] {
        let mut ids = Vec::new();
        for at in [
            "2026-11-02T10:00:00+07:00",
            "2026-11-17T10:00:00+07:00",
            "2026-11-17T11:00:00+07:00",
            "2026-11-18T10:00:00+07:00",
        ] {
            let input = json!({"categoryId": pits, "territoryId": territory, "latitude": lat, "longitude": lon, "receivedAt": at});
            let id = message(&app, &curator, input).await;
            assign(&app, &curator, &id, recipient).await;
            ids.push(id);
        }
        overdue.push(ids.remove(0));
        if territory == &north {
            north_ids = ids;
        }
    }
    let week = json!({"from": "2026-11-16", "to": "2026-11-22"});
    let gql = |token: &str, query: &str, vars: Value| {
        let app = &app;
        let token = token.to_string();
        let query = query.to_string();
        async move { app.gql(Some(&token), &query, vars).await }
    };

    // Every analytic: the curator counts six, the executor and the local curator three.
    const ALL: &str = "query($p:PeriodInput!,$f:AnalyticsFilter){ analytics {
        summary(period:$p, filter:$f) { total }
        heatmap(period:$p, filter:$f) { cells { count } }
        trend(period:$p, granularity:WEEK, filter:$f) { points { count } }
        growth(period:$p, groupBy:CATEGORY, filter:$f) { count }
        geoCells(period:$p, filter:$f) { count }
        problemPoints(period:$p, filter:$f) { count sample { id } }
        recipientRating(period:$p) { recipient { id } }
    } }";
    let sum = |list: &Value, f: &dyn Fn(&Value) -> i64| list.as_array().unwrap().iter().map(f).sum::<i64>();
    let shares = |a: &Value| {
        vec![
            a["summary"]["total"].as_i64().unwrap(),
            sum(&a["heatmap"]["cells"], &|c| c["count"].as_i64().unwrap()),
            sum(&a["trend"][0]["points"], &|p| p["count"].as_i64().unwrap()),
            sum(&a["growth"], &|g| g["count"].as_i64().unwrap()),
            sum(&a["geoCells"], &|c| c["count"].as_i64().unwrap()),
            sum(&a["problemPoints"], &|p| p["count"].as_i64().unwrap()),
        ]
    };
    let r = gql(&curator, ALL, json!({"p": week})).await;
    let a = &r.data()["analytics"];
    assert_eq!(shares(a), [6; 6]);
    assert_eq!(a["recipientRating"].as_array().unwrap().len(), 2);
    for (who, token) in [("executor", &executor), ("local curator", &local)] {
        let r = gql(token, ALL, json!({"p": week})).await;
        let a = &r.data()["analytics"];
        assert_eq!(shares(a), [3; 6], "{who}: {a}");
        let mut sample: Vec<String> = a["problemPoints"][0]["sample"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect();
        sample.sort();
        let mut own = north_ids.clone();
        own.sort();
        assert_eq!(sample, own, "{who} is shown its own appeals only");
        let rating: Vec<&str> =
            a["recipientRating"].as_array().unwrap().iter().map(|r| r["recipient"]["id"].as_str().unwrap()).collect();
        assert_eq!(
            rating,
            [r1.as_str()],
            "{who}: its own row only (an executor), the north's only recipient (the local curator)"
        );
    }
    for field in [
        "summary(period:$p, filter:$f) { total }",
        "heatmap(period:$p, filter:$f) { cells { count } }",
        "trend(period:$p, granularity:DAY, filter:$f) { key }",
        "growth(period:$p, groupBy:CHANNEL, filter:$f) { key }",
        "geoCells(period:$p, filter:$f) { cell }",
        "problemPoints(period:$p, filter:$f) { cell }",
    ] {
        let q = format!("query($p:PeriodInput!,$f:AnalyticsFilter){{ analytics {{ {field} }} }}");
        let r = gql(&executor, &q, json!({"p": week, "f": {"recipientId": [r2]}})).await;
        assert_eq!(r.code(), "FORBIDDEN", "{field}");
    }

    // The memo, in GraphQL and as files, is of the same share; tokens are shown no appeals.
    const MEMO: &str = "query($w:Date!){ analytics { weeklyMemo(weekStart:$w) { markdown summary { total } overdue { id } rating { recipient { id } } } } }";
    let q = "mutation{createApiToken(input:{name:\"bi\",scopes:[ANALYTICS_READ]}){secret}}";
    let bi = app.gql(Some(&admin), q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().to_string();
    for (who, token, total, overdue_ids, roads_named) in [
        ("curator", &curator, 6, overdue.clone(), true),
        ("executor", &executor, 3, vec![overdue[0].clone()], false),
        ("local curator", &local, 3, vec![overdue[0].clone()], false),
        ("token", &bi, 6, Vec::new(), true),
    ] {
        let r = gql(token, MEMO, json!({"w": "2026-11-16"})).await;
        let m = &r.data()["analytics"]["weeklyMemo"];
        assert_eq!(m["summary"]["total"], total, "{who}");
        let ids: Vec<&str> = m["overdue"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
        assert_eq!(ids, overdue_ids, "{who}");
        let md = m["markdown"].as_str().unwrap();
        assert_eq!(md.contains("Управление дорожного хозяйства"), roads_named, "{who}: {md}");
        let resp = app
            .client
            .get(format!("{}/exports/memo/2026-11-16.xlsx", app.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{who}");
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(xlsx_rows(&bytes, "Итоги")[1][1], total.to_string(), "{who}");
        let rating: Vec<String> = xlsx_rows(&bytes, "Рейтинг")[1..].iter().map(|r| r[1].clone()).collect();
        assert_eq!(rating.contains(&"Управление дорожного хозяйства".to_string()), roads_named, "{who}: {rating:?}");
    }
}

/// Problem points count each appeal in the H3 cell stored with its coordinates: written with
/// them, moved with them, filled in for the appeals that were there before the column. The
/// weekly memo names the first five of the same points, counted by the database.
#[tokio::test]
async fn problem_points_follow_the_stored_cells_and_the_memo_names_the_first_five() {
    use std::collections::BTreeMap;

    use migration::MigratorTrait;
    let app = spawn_long().await;
    app.set_now("2026-11-20T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let mut categories = Vec::new();
    for name in ["Ямы и ремонт дорог", "Отопление", "Уборка снега и наледи", "Уличное освещение"]
    {
        categories.push(app.category(&curator, name).await);
    }
    let (px, py, pz, pw) = ((53.70, 91.70), (53.72, 91.72), (53.74, 91.74), (53.76, 91.76));
    // (category, place, how many): six points of three or more once one pit has moved.
    let plan = [(0, px, 4), (1, px, 3), (0, py, 3), (2, pz, 3), (0, pw, 2), (1, py, 3), (2, pw, 3), (3, pz, 3)];
    let mut appeals: Vec<(String, (f64, f64), usize, u32)> = Vec::new();
    let mut minute = 0;
    for (category, place, n) in plan {
        for _ in 0..n {
            minute += 7;
            let at = format!("2026-11-17T{:02}:{:02}:00+07:00", 8 + minute / 60, minute % 60);
            let input = json!({"categoryId": categories[category], "latitude": place.0, "longitude": place.1, "receivedAt": at});
            appeals.push((message(&app, &curator, input).await, place, category, minute));
        }
    }
    // Not counted: no category; received the week before.
    message(&app, &curator, json!({"latitude": px.0, "longitude": px.1, "receivedAt": "2026-11-17T10:00:00+07:00"}))
        .await;
    let before = json!({"categoryId": categories[0], "latitude": px.0, "longitude": px.1, "receivedAt": "2026-11-12T10:00:00+07:00"});
    message(&app, &curator, before).await;
    // A pit on Y moves to X: its cell moves with it.
    let moved = appeals.iter().position(|a| a.1 == py && a.2 == 0).unwrap();
    let input = json!({"id": appeals[moved].0, "version": 1, "latitude": px.0 + 0.0001, "longitude": px.1});
    app.act(&curator, "updateAppeal", "UpdateAppealInput", input).await.data();
    appeals[moved].1 = (px.0 + 0.0001, px.1);

    // The rule, applied to the fixture: per cell and category, at least three, most first,
    // then by cell and category id; the three newest appeals.
    let cell = |(lat, lon): (f64, f64)| h3o::LatLng::new(lat, lon).unwrap().to_cell(h3o::Resolution::Nine).to_string();
    let mut groups: BTreeMap<(String, i64), Vec<(u32, String)>> = BTreeMap::new();
    for (id, place, category, minute) in &appeals {
        let key = (cell(*place), categories[*category].parse::<i64>().unwrap());
        groups.entry(key).or_default().push((*minute, id.clone()));
    }
    let mut expected: Vec<Value> = groups
        .into_iter()
        .filter(|(_, v)| v.len() >= 3)
        .map(|((cell, category), mut v)| {
            v.sort_by_key(|a| std::cmp::Reverse(a.0));
            let sample: Vec<&str> = v.iter().take(3).map(|(_, id)| id.as_str()).collect();
            json!({"cell": cell, "category": category.to_string(), "count": v.len(), "sample": sample})
        })
        .collect();
    expected.sort_by(|a, b| {
        let key = |p: &Value| {
            (p["cell"].as_str().unwrap().to_string(), p["category"].as_str().unwrap().parse::<i64>().unwrap())
        };
        b["count"].as_i64().cmp(&a["count"].as_i64()).then_with(|| key(a).cmp(&key(b)))
    });
    assert_eq!(expected.len(), 6, "the fixture has six points");
    assert_eq!(expected[0]["count"], 5, "the moved pit joined X");

    const POINTS: &str = "query($p:PeriodInput!){ analytics { problemPoints(period:$p) { cell latitude longitude category { id } count sample { id } } } }";
    let week = json!({"from": "2026-11-16", "to": "2026-11-22"});
    let app = &app;
    let points = || {
        let curator = curator.clone();
        let week = week.clone();
        async move {
            let r = app.gql(Some(&curator), POINTS, json!({"p": week})).await;
            let points = r.data()["analytics"]["problemPoints"].as_array().unwrap().clone();
            points
                .iter()
                .map(|p| {
                    let sample: Vec<&str> =
                        p["sample"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
                    json!({"cell": p["cell"], "category": p["category"]["id"], "count": p["count"], "sample": sample})
                })
                .collect::<Vec<Value>>()
        }
    };
    assert_eq!(points().await, expected);
    // Without `sample` in the query the database counts the points (`GROUP BY`): the same.
    let counted = || async {
        const COUNTS: &str =
            "query($p:PeriodInput!){ analytics { problemPoints(period:$p) { cell category { id } count } } }";
        let r = app.gql(Some(&curator), COUNTS, json!({"p": week})).await;
        let points = r.data()["analytics"]["problemPoints"].as_array().unwrap().clone();
        points.iter().map(|p| json!([p["cell"], p["category"]["id"], p["count"]])).collect::<Vec<Value>>()
    };
    let without_samples: Vec<Value> = expected.iter().map(|p| json!([p["cell"], p["category"], p["count"]])).collect();
    assert_eq!(counted().await, without_samples);
    // Those counts are sums of the points ledger, which followed the move; so are those of
    // one category. A filter by channel counts the appeals instead: the same.
    app.assert_rollups_agree().await;
    let filtered = |f: Value| {
        let (curator, week) = (curator.clone(), week.clone());
        async move {
            const COUNTS: &str = "query($p:PeriodInput!,$f:AnalyticsFilter){ analytics { problemPoints(period:$p, filter:$f) { cell category { id } count } } }";
            let r = app.gql(Some(&curator), COUNTS, json!({"p": week, "f": f})).await;
            let points = r.data()["analytics"]["problemPoints"].as_array().unwrap().clone();
            points.iter().map(|p| json!([p["cell"], p["category"]["id"], p["count"]])).collect::<Vec<Value>>()
        }
    };
    let pits: Vec<Value> = without_samples.iter().filter(|p| p[1] == categories[0].as_str()).cloned().collect();
    assert_eq!(pits.len(), 1, "X of the pits; Y lost one to the move");
    assert_eq!(filtered(json!({"categoryId": [categories[0]]})).await, pits);
    let channels =
        json!({"channel": ["POS", "INCIDENT", "GOSPABLIKI", "EMAIL", "POST", "PERSONAL", "PHONE", "WEBSITE", "OTHER"]});
    assert_eq!(filtered(channels).await, without_samples);

    // The memo: the first five of the same points, with their cells' centres (to a
    // billionth of a degree: JSON may round the last digit).
    #[allow(clippy::cast_possible_truncation)]
    let nano = |v: f64| (v * 1e9).round() as i64;
    let memo_points = || async move {
        let monday = chrono::NaiveDate::from_ymd_opt(2026, 11, 16).unwrap();
        let memo = mcu::service::analytics::weekly_memo(&app.state, &mcu::domain::access::Principal::System, monday);
        memo.await
            .unwrap()
            .problem_points
            .iter()
            .map(|p| (p.count, nano(p.latitude), nano(p.longitude)))
            .collect::<Vec<_>>()
    };
    let r = app.gql(Some(&curator), POINTS, json!({"p": week})).await;
    let listed: Vec<(i64, i64, i64)> = r.data()["analytics"]["problemPoints"]
        .as_array()
        .unwrap()
        .iter()
        .take(5)
        .map(|p| {
            (
                p["count"].as_i64().unwrap(),
                nano(p["latitude"].as_f64().unwrap()),
                nano(p["longitude"].as_f64().unwrap()),
            )
        })
        .collect();
    assert_eq!(memo_points().await, listed);

    // The appeals stored before the column get their cells from the migration.
    let db = &app.state.db;
    let all = migration::Migrator::migrations();
    let at = all.iter().position(|m| m.name() == "m20270106_000001_point_cells").unwrap();
    migration::Migrator::down(db, Some(u32::try_from(all.len() - at).unwrap())).await.unwrap();
    let column = sea_orm::Statement::from_string(db.get_database_backend(), "SELECT h3_cell FROM appeals");
    assert!(sea_orm::ConnectionTrait::query_one_raw(db, column).await.is_err(), "the column is gone");
    let vacuums = || async {
        let sql = "SELECT vacuum_count AS n FROM pg_stat_user_tables WHERE relname = 'appeals'";
        let row = sea_orm::ConnectionTrait::query_one_raw(
            db,
            sea_orm::Statement::from_string(db.get_database_backend(), sql),
        );
        row.await.unwrap().unwrap().try_get::<i64>("", "n").unwrap()
    };
    let postgres = db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    // A backfill that fails half-way (here a trigger refuses the last appeal's update, as a
    // killed process or a full disk would stop it) leaves nothing: no column, so the next
    // run adds it again and succeeds.
    let run = |sql: String| async move { sea_orm::ConnectionTrait::execute_unprepared(db, &sql).await.unwrap() };
    let last = appeals.last().unwrap().0.clone();
    if postgres {
        run(format!(
            "CREATE FUNCTION refuse_cell() RETURNS trigger AS $$ BEGIN IF NEW.id = {last} THEN \
             RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
        ))
        .await;
        run("CREATE TRIGGER refuse_cell BEFORE UPDATE ON appeals FOR EACH ROW EXECUTE FUNCTION refuse_cell()".into())
            .await;
    } else {
        run(format!(
            "CREATE TRIGGER refuse_cell BEFORE UPDATE ON appeals WHEN NEW.id = {last} \
             BEGIN SELECT RAISE(ABORT, 'refused'); END"
        ))
        .await;
    }
    assert!(mcu::db::migrate(db).await.is_err(), "the refused update fails the migration");
    let column = sea_orm::Statement::from_string(db.get_database_backend(), "SELECT h3_cell FROM appeals");
    assert!(sea_orm::ConnectionTrait::query_one_raw(db, column).await.is_err(), "the column was not left behind");
    run(if postgres { "DROP TRIGGER refuse_cell ON appeals" } else { "DROP TRIGGER refuse_cell" }.into()).await;
    let before = if postgres { vacuums().await } else { 0 };
    mcu::db::migrate(db).await.unwrap();
    if postgres {
        assert_eq!(vacuums().await, before + 1, "the rewritten table is vacuumed after the migration");
    }
    // The ledgers were made again empty: the next start rebuilds them.
    assert!(mcu::service::rollup::ensure(db, app.state.settings.timezone).await.unwrap());
    assert_eq!(points().await, expected, "the same points after the backfill");
    assert_eq!(counted().await, without_samples);
    assert_eq!(memo_points().await, listed);
}
