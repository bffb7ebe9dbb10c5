//! The appeal list: filters, ordering, pages in both directions, and a constant number of
//! SQL statements whatever the page size.

use serde_json::json;

use crate::helpers::{TestApp, spawn_app_with};

/// The ids of every page of the list with `filter` and `order`, `size` at a time: walked
/// forward from the start with `after` cursors, and backward from the end with `before`
/// cursors (put back in order). Fails when a walk reads more than `most` rows (a page
/// repeated: the cursors do not advance).
async fn walk_pages(
    app: &TestApp,
    token: &str,
    filter: &serde_json::Value,
    order: &serde_json::Value,
    size: usize,
    most: usize,
) -> (Vec<i64>, Vec<i64>) {
    const LIST: &str = "query($f:AppealFilter,$o:AppealOrder,$first:Int,$after:String,$last:Int,$before:String){ appeals(filter:$f, orderBy:$o, first:$first, after:$after, last:$last, before:$before) { edges { node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    let ids = |page: &serde_json::Value| -> Vec<i64> {
        page["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().parse().unwrap()).collect()
    };
    let what = format!("{filter} by {order}");
    let (mut forward, mut after) = (Vec::new(), serde_json::Value::Null);
    loop {
        let r = app.gql(Some(token), LIST, json!({"f": filter, "o": order, "first": size, "after": after})).await;
        let page = &r.data()["appeals"];
        forward.extend(ids(page));
        assert!(forward.len() <= most, "{what}, forward: {forward:?}");
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let (mut backward, mut before) = (Vec::new(), serde_json::Value::Null);
    loop {
        let r = app.gql(Some(token), LIST, json!({"f": filter, "o": order, "last": size, "before": before})).await;
        let page = &r.data()["appeals"];
        let mut rows = ids(page);
        rows.extend(backward);
        backward = rows;
        assert!(backward.len() <= most, "{what}, backward: {backward:?}");
        if page["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = page["pageInfo"]["startCursor"].clone();
    }
    (forward, backward)
}

/// Walks the list with `filter` by `field` (`DUE_AT`, `RECEIVED_AT`, `NUMBER` or `UPDATED_AT`) in
/// `direction`, `size` at a time both ways ([`walk_pages`]), and fails unless both walks give
/// exactly `matching` (at least ten of them) sorted by that field and then the id.
async fn assert_walks(
    app: &TestApp,
    token: &str,
    filter: &serde_json::Value,
    (field, direction): (&str, &str),
    size: usize,
    mut matching: Vec<&mcu::entity::appeal::Model>,
) {
    // By number: the year, then the sequence as a number (the numbers here are the server's).
    let number = |a: &mcu::entity::appeal::Model| {
        let (year, seq) = a.number.split_once('-').unwrap();
        (year.parse::<i64>().unwrap(), seq.parse::<i64>().unwrap())
    };
    matching.sort_by_key(|a| {
        let key = match field {
            "DUE_AT" => a.due_at,
            "RECEIVED_AT" => a.received_at,
            "NUMBER" => chrono::DateTime::UNIX_EPOCH,
            _ => a.updated_at,
        };
        let number = if field == "NUMBER" { number(a) } else { (0, 0) };
        (key, number, a.id)
    });
    if direction == "DESC" {
        matching.reverse();
    }
    let expected: Vec<i64> = matching.iter().map(|a| a.id).collect();
    assert!(expected.len() >= 10, "{filter} matches {}", expected.len());
    let order = json!({"field": field, "direction": direction});
    let what = format!("{filter} by {field} {direction}");
    let (forward, backward) = walk_pages(app, token, filter, &order, size, expected.len()).await;
    assert_eq!(forward, expected, "{what}, forward");
    assert_eq!(backward, expected, "{what}, backward");
}

#[tokio::test]
async fn filters_order_and_pages() {
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-11-20T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let city = app.territory(&admin, "Сорск", None).await;
    let district = app.territory(&admin, "Микрорайон Северный", Some(&city)).await;
    let elsewhere = app.territory(&admin, "Другой район", None).await;
    let heating = app.category(&curator, "Отопление").await;
    let housing = app.category(&curator, "ЖКХ").await;
    let roads = app.category(&curator, "Ямы и ремонт дорог").await;
    let texts = [
        ("Холодные батареи в квартире", &heating, &district, "POS", "2026-11-18T09:00:00+07:00"),
        ("Батарея не греет", &heating, &city, "EMAIL", "2026-11-19T23:30:00+07:00"),
        ("Яма на дороге у школы", &roads, &district, "POS", "2026-11-19T00:30:00+07:00"),
        ("Огромные ямы на улице Ленина", &roads, &elsewhere, "PHONE", "2026-11-10T10:00:00+07:00"),
    ];
    for (text, cat, ter, channel, at) in texts {
        app.appeal(&curator, json!({"kind": "MESSAGE", "channel": channel, "text": text, "categoryId": cat, "territoryId": ter, "receivedAt": at})).await;
    }
    const LIST: &str = "query($f:AppealFilter,$o:AppealOrder,$first:Int,$after:String,$last:Int,$before:String){ appeals(filter:$f, orderBy:$o, first:$first, after:$after, last:$last, before:$before) { totalCount edges { cursor node { text } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    let count = |f: serde_json::Value| {
        let app = &app;
        let curator = curator.clone();
        async move {
            let r = app.gql(Some(&curator), LIST, json!({"f": f})).await;
            r.data()["appeals"]["totalCount"].as_i64().unwrap()
        }
    };
    assert_eq!(count(json!({})).await, 4);
    assert_eq!(count(json!({"categoryId": [housing]})).await, 2, "a top-level category includes its subcategories");
    assert_eq!(count(json!({"territoryId": [city]})).await, 3, "a territory includes its subtree");
    assert_eq!(count(json!({"channel": ["POS"]})).await, 2);
    assert_eq!(count(json!({"search": "батареи"})).await, 2, "word forms match: батареи ~ батарея");
    assert_eq!(count(json!({"search": "ямы дорога"})).await, 1);
    assert_eq!(count(json!({"receivedFrom": "2026-11-19", "receivedTo": "2026-11-19"})).await, 2, "local dates, UTC+7");
    assert_eq!(count(json!({"status": ["RECEIVED"], "kind": ["MESSAGE"]})).await, 4);
    assert_eq!(count(json!({"kind": ["APPEAL"]})).await, 0);
    // 10 November + 10 working days = 24 November, due soon from the last quarter of the
    // term (21 November); the others are due in December.
    app.set_now("2026-11-22T12:00:00+07:00");
    assert_eq!(count(json!({"slaState": ["ON_TIME"]})).await, 3);
    assert_eq!(count(json!({"slaState": ["DUE_SOON"]})).await, 1);
    app.set_now("2026-11-25T00:00:00+07:00");
    assert_eq!(count(json!({"slaState": ["OVERDUE"]})).await, 1);
    assert_eq!(count(json!({"dueBefore": "2026-11-25T00:00:00+07:00"})).await, 1);

    // Pages forward by receipt, oldest first, then back.
    let order = json!({"field": "RECEIVED_AT", "direction": "ASC"});
    let p1 = app.gql(Some(&curator), LIST, json!({"o": order, "first": 3})).await;
    let p1 = &p1.data()["appeals"];
    let texts: Vec<&str> =
        p1["edges"].as_array().unwrap().iter().map(|e| e["node"]["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Огромные ямы на улице Ленина", "Холодные батареи в квартире", "Яма на дороге у школы"]);
    assert_eq!(p1["pageInfo"]["hasNextPage"], true);
    let p2 = app.gql(Some(&curator), LIST, json!({"o": order, "first": 3, "after": p1["pageInfo"]["endCursor"]})).await;
    let p2 = &p2.data()["appeals"];
    assert_eq!(p2["edges"].as_array().unwrap().len(), 1);
    assert_eq!(p2["pageInfo"]["hasNextPage"], false);
    assert_eq!(p2["pageInfo"]["hasPreviousPage"], true);
    let back =
        app.gql(Some(&curator), LIST, json!({"o": order, "last": 2, "before": p2["pageInfo"]["startCursor"]})).await;
    let back: Vec<&str> = back.data()["appeals"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(back, ["Холодные батареи в квартире", "Яма на дороге у школы"]);

    assert_eq!(app.gql(Some(&curator), LIST, json!({"first": 101})).await.field_paths(), vec!["first"]);
    assert_eq!(app.gql(Some(&curator), LIST, json!({"after": "zz"})).await.field_paths(), vec!["after"]);
    assert_eq!(
        app.gql(Some(&curator), LIST, json!({"f": {"receivedFrom": "2026-13-01"}})).await.code(),
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn a_page_costs_the_same_number_of_statements_whatever_its_size() {
    let app = spawn_app_with(|_| {}).await;
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let mut recipients = Vec::new();
    for i in 0..5 {
        recipients.push(app.recipient(&admin, &format!("Отдел {i}")).await);
    }
    let territory = app.territory(&admin, "Сорск", None).await;
    let category = app.category(&curator, "Отопление").await;
    for i in 0..30 {
        let (id, _, _) = app
            .appeal(&curator, json!({"kind": "MESSAGE", "channel": "POS", "text": format!("Обращение {i}"), "categoryId": category, "territoryId": territory}))
            .await;
        app.act(&curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
        app.act(
            &curator,
            "assignAppeal",
            "AssignAppealInput",
            json!({"id": id, "version": 2, "recipientId": recipients[i % 5]}),
        )
        .await
        .data();
    }
    let query = "query($n:Int){ appeals(first:$n, filter:{status:[ASSIGNED]}, orderBy:{field:DUE_AT,direction:ASC}) { edges { node { number status slaState dueAt recipient { name } category { name parent { name } } territory { name } events { action } tasks { kind } } } } }";
    let mut costs = Vec::new();
    for n in [2, 30] {
        let before = app.sql_statements();
        let r = app.gql(Some(&curator), query, json!({"n": n})).await;
        assert_eq!(r.data()["appeals"]["edges"].as_array().unwrap().len(), n as usize);
        costs.push(app.sql_statements() - before);
    }
    assert_eq!(costs[0], costs[1], "statements for 2 rows vs 30 rows: {costs:?}");
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .bearer_auth(crate::helpers::METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let requests: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("mcu_graphql_requests_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(requests >= 2, "{metrics}");
    assert!(metrics.contains(&format!("mcu_sql_statements_total {}", app.sql_statements())), "{metrics}");
    assert!(costs[1] <= 8, "{costs:?}");

    // The benchmark's page: the names come from memory, and so does the caller's person
    // (its session is known from the requests above), so one statement in all, and they
    // are the right names.
    let bench = "{ appeals(first:50, filter:{status:[ASSIGNED, IN_PROGRESS]}, orderBy:{field:DUE_AT,direction:ASC}) { edges { node { number status kind dueAt slaState recipient { name } category { name } territory { name } } } } }";
    let before = app.sql_statements();
    let r = app.gql(Some(&curator), bench, json!({})).await;
    let cost = app.sql_statements() - before;
    assert_eq!(cost, 1, "the page; the names and the caller's person are in memory");
    let edges = r.data()["appeals"]["edges"].as_array().unwrap().clone();
    assert_eq!(edges.len(), 30);
    let mut names: Vec<String> =
        edges.iter().map(|e| e["node"]["recipient"]["name"].as_str().unwrap().to_string()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names, ["Отдел 0", "Отдел 1", "Отдел 2", "Отдел 3", "Отдел 4"]);
    assert!(
        edges.iter().all(|e| e["node"]["category"]["name"] == "Отопление" && e["node"]["territory"]["name"] == "Сорск")
    );
}

#[tokio::test]
async fn every_field_read_alone_on_a_page_or_in_the_detail_is_the_same_as_on_the_whole_appeal() {
    // A page and the detail read only the columns their fields need; each field of `Appeal`
    // asked for alone must show what the appeal read whole shows, on appeals where that field
    // is not empty.
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-11-20T12:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let recipient = app.recipient(&admin, "Управление ЖКХ").await;
    let (_, executor) = app.user_with(&admin, &["EXECUTOR"], json!({"recipientId": recipient})).await;
    let territory = app.territory(&admin, "Сорск", None).await;
    let category = app.category(&curator, "Отопление").await;
    let (answered, ..) = app
        .appeal(
            &curator,
            json!({"kind": "APPEAL", "channel": "POS", "externalId": "pos-77", "authorName": "Иван Петров",
                   "authorContact": "ivan@mail.ru", "text": "Холодные батареи", "summary": "Нет отопления",
                   "categoryId": category, "territoryId": territory, "address": "ул. Ленина, 5",
                   "latitude": 53.99, "longitude": 90.25, "receivedAt": "2026-11-19T09:00:00+07:00"}),
        )
        .await;
    let step = |m: &'static str, t: &'static str, i: serde_json::Value| {
        let (app, curator, executor) = (&app, curator.clone(), executor.clone());
        async move {
            let who = if m == "startWork" || m == "answerAppeal" { executor } else { curator };
            app.act(&who, m, t, i).await.data();
        }
    };
    step("registerAppeal", "AppealActionInput", json!({"id": answered, "version": 1})).await;
    step("assignAppeal", "AssignAppealInput", json!({"id": answered, "version": 2, "recipientId": recipient})).await;
    step("startWork", "AppealActionInput", json!({"id": answered, "version": 3})).await;
    step("extendDeadline", "ExtendDeadlineInput", json!({"id": answered, "version": 4, "days": 5, "reason": "выезд"}))
        .await;
    step("answerAppeal", "AnswerAppealInput", json!({"id": answered, "version": 5, "text": "Батареи прогреты."})).await;
    step("assessAnswer", "AssessAnswerInput", json!({"id": answered, "version": 6, "completeness": "PARTIAL"})).await;
    let file = crate::attachments::upload(
        &app,
        Some(&curator),
        &format!("appeal:{answered}"),
        None,
        "фото.pdf",
        &crate::attachments::pdf(100),
    )
    .await;
    assert!(file.get("errors").is_none(), "{file}");
    let fb = json!({"i": {"id": answered, "score": 4, "satisfied": true}});
    app.gql(Some(&curator), "mutation($i:FeedbackInput!){recordFeedback(input:$i){id}}", fb).await.data();
    let (duplicate, ..) = app.appeal(&curator, json!({"kind": "MESSAGE", "channel": "EMAIL", "text": "Холодно"})).await;
    let dup = json!({"id": duplicate, "version": 1, "originalId": answered});
    app.act(&curator, "markDuplicate", "MarkDuplicateInput", dup).await.data();
    // Its author gave a postal address only: the notice of the redirection is a task.
    let by_post = json!({"kind": "APPEAL", "channel": "POST", "text": "Жалоба", "authorName": "Пётр Сидоров",
                         "authorContact": "ул. Мира, 3, кв. 1"});
    let (redirected, ..) = app.appeal(&curator, by_post).await;
    step("registerAppeal", "AppealActionInput", json!({"id": redirected, "version": 1})).await;
    let to = json!({"id": redirected, "version": 2, "externalBody": "Прокуратура г. Сорска"});
    step("redirectAppeal", "RedirectAppealInput", to).await;
    let (anonymous, ..) =
        app.appeal(&curator, json!({"kind": "APPEAL", "channel": "POST", "text": "Без подписи"})).await;
    step("registerAppeal", "AppealActionInput", json!({"id": anonymous, "version": 1})).await;
    let why = json!({"id": anonymous, "version": 2, "reason": "ANONYMOUS"});
    step("leaveWithoutAnswer", "LeaveWithoutAnswerInput", why).await;
    // Answered, its feedback code not used yet.
    let (awaiting, ..) = app.appeal(&curator, json!({"kind": "MESSAGE", "channel": "POS", "text": "Лужа"})).await;
    step("registerAppeal", "AppealActionInput", json!({"id": awaiting, "version": 1})).await;
    step("assignAppeal", "AssignAppealInput", json!({"id": awaiting, "version": 2, "recipientId": recipient})).await;
    step("answerAppeal", "AnswerAppealInput", json!({"id": awaiting, "version": 3, "text": "Откачали."})).await;
    // A social post with words of escalation (a conflict flag).
    let (escalated, ..) = app
        .appeal(
            &curator,
            json!({"kind": "INCIDENT", "channel": "INCIDENT", "text": "Яма во дворе, напишу в прокуратуру"}),
        )
        .await;
    let ids = [answered, duplicate, redirected, anonymous, awaiting, escalated];
    // `appealByNumber` reads the appeal whole; the detail `appeal(id)`, like a page, reads
    // only the columns its fields need.
    let mut numbers = Vec::new();
    for id in &ids {
        let r = app.gql(Some(&curator), "query($id:ID!){ appeal(id:$id) { number } }", json!({"id": id})).await;
        numbers.push(r.data()["appeal"]["number"].as_str().unwrap().to_string());
    }

    let sdl = crate::sdl::Sdl::parse(&mcu::graphql::sdl());
    let fields = &sdl.objects["Appeal"];
    assert!(fields.len() >= 30, "{}", fields.len());
    let mut shown = std::collections::BTreeSet::new();
    for (name, def) in fields {
        use async_graphql::parser::types::BaseType;
        let mut base = &def.ty.base;
        while let BaseType::List(inner) = base {
            base = &inner.base;
        }
        let BaseType::Named(ty) = base else { unreachable!() };
        let selection = if sdl.objects.contains_key(ty.as_str()) { format!("{name} {{ id }}") } else { name.clone() };
        let page = app
            .gql(
                Some(&curator),
                &format!("{{ appeals(first: 10, orderBy: {{field: NUMBER, direction: ASC}}) {{ edges {{ node {{ {selection} }} }} }} }}"),
                json!({}),
            )
            .await;
        let nodes: Vec<serde_json::Value> =
            page.data()["appeals"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
        assert_eq!(nodes.len(), ids.len());
        let (mut whole, mut detail) = (Vec::new(), Vec::new());
        for (id, number) in ids.iter().zip(&numbers) {
            let q = format!("query($n:String!){{ appealByNumber(number:$n) {{ {selection} }} }}");
            whole.push(app.gql(Some(&curator), &q, json!({"n": number})).await.data()["appealByNumber"].clone());
            let q = format!("query($id:ID!){{ appeal(id:$id) {{ {selection} }} }}");
            detail.push(app.gql(Some(&curator), &q, json!({"id": id})).await.data()["appeal"].clone());
        }
        assert_eq!(nodes, whole, "field {name} on a page");
        assert_eq!(detail, whole, "field {name} in the detail");
        if nodes.iter().any(|n| !n[name.as_str()].is_null() && n[name.as_str()] != json!([])) {
            shown.insert(name.clone());
        }
    }
    // Every field was compared on an appeal where it shows something (numbers and flags count).
    let empty: Vec<&String> = fields.keys().filter(|f| !shown.contains(*f)).collect();
    assert!(empty.is_empty(), "fields never shown by these appeals: {empty:?}");
}

/// A filter with several values of one column, under an order an index gives per value, is
/// read on PostgreSQL as one run per value merged (`appeal_query::merged_statement`): walked
/// with cursors to the end, forward and backward, every such shape lists exactly the
/// matching appeals sorted by the order's key and then the id, as the single statement did
/// (many appeals share a deadline, a last change and a receipt, so the id decides between
/// them).
#[tokio::test]
async fn several_values_of_one_filter_page_through_every_match_in_order() {
    use mcu::entity::appeal;
    use sea_orm::EntityTrait;
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    let instants = ["2026-11-20T09:00:00+07:00", "2026-11-20T10:00:00+07:00", "2026-11-20T11:00:00+07:00"];
    app.set_now(instants[0]);
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let mut recipients = Vec::new();
    for i in 0..3 {
        recipients.push(app.recipient(&admin, &format!("Отдел {i}")).await);
    }
    let received = ["2026-11-18T09:00:00+07:00", "2026-11-19T09:00:00+07:00", "2026-11-19T15:00:00+07:00"];
    let channels = ["POS", "EMAIL", "PHONE"];
    let kinds = ["MESSAGE", "APPEAL", "INCIDENT"];
    for i in 0..36_usize {
        app.set_now(instants[i % 3]);
        let input = json!({"kind": kinds[(i / 2) % 3], "channel": channels[i % 3], "text": format!("Обращение {i}"), "receivedAt": received[(i / 3) % 3]});
        let (id, _, _) = app.appeal(&curator, input).await;
        if i % 4 == 0 {
            continue;
        }
        app.set_now(instants[(i / 4) % 3]);
        app.act(&curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
        if i % 4 == 1 {
            continue;
        }
        let recipient = &recipients[i % 3];
        let assign = json!({"id": id, "version": 2, "recipientId": recipient});
        app.act(&curator, "assignAppeal", "AssignAppealInput", assign).await.data();
    }
    let all = appeal::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(all.len(), 36);
    let r0: i64 = recipients[0].parse().unwrap();
    let r1: i64 = recipients[1].parse().unwrap();
    let shapes = [
        (
            json!({"status": ["RECEIVED", "REGISTERED", "ASSIGNED"]}),
            vec!["DUE_AT", "UPDATED_AT", "RECEIVED_AT", "NUMBER"],
        ),
        (json!({"channel": ["POS", "EMAIL"]}), vec!["DUE_AT", "RECEIVED_AT"]),
        (json!({"kind": ["MESSAGE", "INCIDENT"]}), vec!["DUE_AT", "NUMBER"]),
        (
            json!({"status": ["REGISTERED", "ASSIGNED"], "recipientId": [recipients[0], recipients[1]]}),
            vec!["DUE_AT", "UPDATED_AT", "RECEIVED_AT", "NUMBER"],
        ),
        (json!({"recipientId": [recipients[0], recipients[1]]}), vec!["RECEIVED_AT"]),
    ];
    for (filter, orders) in &shapes {
        let matches = |a: &appeal::Model| {
            let codes = |key: &str, v: &str| {
                filter.get(key).is_none_or(|l| l.as_array().unwrap().iter().any(|x| x.as_str() == Some(v)))
            };
            let recipient_ok = filter.get("recipientId").is_none() || [Some(r0), Some(r1)].contains(&a.recipient_id);
            codes("status", &a.status) && codes("channel", &a.channel) && codes("kind", &a.kind) && recipient_ok
        };
        for field in orders {
            for direction in ["ASC", "DESC"] {
                // Forward and backward, five at a time, end to end.
                let matching = all.iter().filter(|a| matches(a)).collect();
                assert_walks(&app, &curator, filter, (field, direction), 5, matching).await;
            }
        }
    }
}

/// A page of a receipt period ordered by deadline or by last change is read from the
/// period's first instant on, plus the appeals whose key lies before their receipt (a
/// corrected receipt keeps a term the centre set; rows written outside the application);
/// by number, within the span of numbers of the period's days (`appeal_number_days`):
/// paged with cursors to the end, forward and backward, both directions, with and without
/// another filter, every such shape lists exactly the appeals received in the period,
/// sorted by the key and then the id, including those whose deadline or last change lies
/// before the period's start (fails when the second run is left out), and those a batch
/// wrote or whose receipt was corrected into the period (fails unless every write widens
/// the span of its day).
#[tokio::test]
async fn a_receipt_period_by_deadline_last_change_or_number_pages_through_every_match_in_order() {
    use mcu::entity::appeal;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-11-21T09:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let days = ["2026-11-10", "2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"];
    let channels = ["POS", "EMAIL", "PHONE"];
    for i in 0..36_usize {
        // Created at several instants, so the last changes differ from the receipts.
        app.set_now(&format!("2026-11-{}T{:02}:00:00+07:00", 20 + i % 2, 9 + i % 5));
        let received = format!("{}T{:02}:30:00+07:00", days[i % days.len()], 8 + i % 7);
        let input = json!({"kind": "MESSAGE", "channel": channels[i % 3], "text": format!("Обращение {i}"), "receivedAt": received});
        app.appeal(&curator, input).await;
    }
    // Two appeals arrive in a batch (ingestion), with the last numbers: one received in the
    // period, one before it, whose receipt is then corrected into the period (its number
    // then lies outside the spans of its new day's other appeals).
    let ingest = app.api_token(&admin, "APPEALS_INGEST").await;
    const INGEST: &str = "mutation($i:[IngestAppealInput!]!){ingestAppeals(input:$i){created updated}}";
    let item = |id: &str, at: &str| json!({"channel": "INCIDENT", "externalId": id, "kind": "INCIDENT", "receivedAt": at, "text": format!("Сообщение {id}")});
    let batch = [item("vk-1", "2026-11-19T10:00:00+07:00"), item("vk-2", "2026-11-10T10:00:00+07:00")];
    let r = app.gql(Some(&ingest), INGEST, json!({ "i": batch })).await;
    assert_eq!(r.data()["ingestAppeals"]["created"], 2);
    let r = app.gql(Some(&ingest), INGEST, json!({"i": [item("vk-2", "2026-11-18T10:00:00+07:00")]})).await;
    assert_eq!(r.data()["ingestAppeals"]["updated"], 1);
    // Deadlines and last changes before the receipt, written outside the application: some
    // received in the period with the key before its start, one before the period.
    let all = appeal::Entity::find().all(&app.state.db).await.unwrap();
    let early = |days_back: i64| chrono::Duration::days(days_back);
    for (n, a) in all.iter().enumerate().filter(|(n, _)| n % 5 == 0) {
        let mut m = a.clone().into_active_model();
        if n % 2 == 0 {
            m.due_at = Set(a.received_at - early(3 + n as i64 % 4));
        } else {
            m.updated_at = Set(a.received_at - early(2 + n as i64 % 3));
        }
        m.update(&app.state.db).await.unwrap();
    }
    let all = appeal::Entity::find().all(&app.state.db).await.unwrap();
    let tz = app.state.settings.timezone;
    let local_day = |a: &appeal::Model| a.received_at.with_timezone(&tz).date_naive().to_string();
    let from = "2026-11-17";
    let period_start = chrono::NaiveDate::parse_from_str(from, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_local_timezone(tz);
    let period_start = period_start.unwrap().with_timezone(&chrono::Utc);
    let in_period = all.iter().filter(|a| local_day(a).as_str() >= from);
    assert!(in_period.clone().any(|a| a.due_at < period_start), "a deadline before the period's start");
    assert!(in_period.clone().any(|a| a.updated_at < period_start), "a last change before the period's start");
    assert!(all.iter().any(|a| a.external_id.as_deref() == Some("vk-2") && local_day(a) == "2026-11-18"));
    let shapes = [
        json!({"receivedFrom": from}),
        json!({"receivedFrom": from, "receivedTo": "2026-11-19"}),
        json!({"receivedTo": "2026-11-18"}),
        json!({"receivedFrom": from, "channel": ["POS", "PHONE"]}),
        // One kind: on SQLite its own index by deadline is walked.
        json!({"receivedFrom": from, "kind": ["MESSAGE"]}),
    ];
    for filter in &shapes {
        let matches = |a: &appeal::Model| {
            let day = local_day(a);
            let from_ok = filter.get("receivedFrom").is_none_or(|t| day.as_str() >= t.as_str().unwrap());
            let to_ok = filter.get("receivedTo").is_none_or(|t| day.as_str() <= t.as_str().unwrap());
            let kind_ok =
                filter.get("kind").is_none_or(|l| l.as_array().unwrap().iter().any(|x| x.as_str() == Some(&a.kind)));
            let channel_ok = filter
                .get("channel")
                .is_none_or(|l| l.as_array().unwrap().iter().any(|x| x.as_str() == Some(&a.channel)));
            from_ok && to_ok && kind_ok && channel_ok
        };
        for field in ["DUE_AT", "UPDATED_AT", "NUMBER"] {
            for direction in ["ASC", "DESC"] {
                let matching = all.iter().filter(|a| matches(a)).collect();
                assert_walks(&app, &curator, filter, (field, direction), 4, matching).await;
            }
        }
    }
}

/// The overdue appeals by deadline, where several share one instant (a deadline falls at the
/// end of a day): both directions page through exactly them in order, past the appeals
/// resolved and those not yet due. On SQLite the page walks the unresolved appeals' index by
/// deadline, `(due_at, recipient_id)`, and sorts each shared instant by id.
#[tokio::test]
async fn the_overdue_appeals_by_deadline_page_through_shared_instants_in_order() {
    use mcu::entity::appeal;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel, QueryOrder};
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-11-20T09:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    for i in 0..18 {
        let input = json!({"kind": "MESSAGE", "channel": "POS", "text": format!("Обращение {i}"), "receivedAt": "2026-11-02T10:00:00+07:00"});
        app.appeal(&curator, input).await;
    }
    // Written outside the application: twelve due at three past instants (taken in turn,
    // so each instant's ids are apart), two of those resolved, four not yet due.
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc);
    let past = [at("2026-11-16T23:59:59+07:00"), at("2026-11-12T23:59:59+07:00"), at("2026-11-18T23:59:59+07:00")];
    let all = appeal::Entity::find().order_by_asc(appeal::Column::Id).all(&app.state.db).await.unwrap();
    for (n, a) in all.iter().enumerate() {
        let mut m = a.clone().into_active_model();
        let due = if n < 14 { past[n % 3] } else { at("2026-12-01T23:59:59+07:00") };
        m.due_at = Set(due);
        m.due_soon_at = Set(due - chrono::Duration::days(2));
        if n == 4 || n == 9 {
            m.resolved_at = Set(Some(at("2026-11-10T12:00:00+07:00")));
        }
        m.update(&app.state.db).await.unwrap();
    }
    let all = appeal::Entity::find().all(&app.state.db).await.unwrap();
    let now = at("2026-11-20T09:00:00+07:00");
    let overdue: Vec<&appeal::Model> = all.iter().filter(|a| a.resolved_at.is_none() && a.due_at < now).collect();
    assert_eq!(overdue.len(), 12);
    let filter = json!({"slaState": ["OVERDUE"]});
    for direction in ["ASC", "DESC"] {
        assert_walks(&app, &curator, &filter, ("DUE_AT", direction), 4, overdue.clone()).await;
        assert_walks(&app, &curator, &filter, ("RECEIVED_AT", direction), 5, overdue.clone()).await;
    }
}

/// The on-time appeals by deadline, where many share one instant (a deadline falls at the
/// end of a day): both directions page through exactly them in order, past the appeals due
/// soon and overdue. On PostgreSQL the unresolved appeals' deadline index is `(due_at, id)`,
/// so such a page is a walk of the index, and the due-soon index carries the deadline, so
/// the on-time total is counted from the index alone (migration
/// `m20270114_000001_unresolved_deadline_order`). By receipt and number too: oldest first,
/// PostgreSQL starts where an appeal on time can start (migration
/// `m20270117_000001_unresolved_soon_lead`), here at two appeals received in September.
#[tokio::test]
async fn the_on_time_appeals_by_deadline_page_through_one_shared_instant_in_order() {
    use mcu::entity::appeal;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, IntoActiveModel, QueryOrder};
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-11-20T09:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    for i in 0..24 {
        let input = json!({"kind": "MESSAGE", "channel": "POS", "text": format!("Обращение {i}"), "receivedAt": "2026-11-19T10:00:00+07:00"});
        app.appeal(&curator, input).await;
    }
    // Written outside the application: fourteen on time at one instant, four on time at two
    // later ones, three due soon, three overdue (one of them resolved: met, not listed).
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc);
    let shared = at("2026-12-18T23:59:59+07:00");
    let all = appeal::Entity::find().order_by_asc(appeal::Column::Id).all(&app.state.db).await.unwrap();
    for (n, a) in all.iter().enumerate() {
        let (due, soon) = match n {
            0..14 => (shared, at("2026-12-15T00:00:00+07:00")),
            14..16 => (at("2026-12-01T23:59:59+07:00"), at("2026-11-27T00:00:00+07:00")),
            16..18 => (at("2027-01-11T23:59:59+07:00"), at("2027-01-06T00:00:00+07:00")),
            18..21 => (at("2026-11-21T23:59:59+07:00"), at("2026-11-19T00:00:00+07:00")),
            _ => (at("2026-11-19T23:59:59+07:00"), at("2026-11-18T00:00:00+07:00")),
        };
        let mut m = a.clone().into_active_model();
        m.due_at = Set(due);
        m.due_soon_at = Set(soon);
        // Received one hour apart, but the first two (the least numbers) in September: the
        // longest lead of the unresolved appeals, from which a page of the on-time appeals
        // oldest first by receipt or number starts on PostgreSQL.
        let received = match n {
            0..2 => at("2026-09-01T10:00:00+07:00") + chrono::Duration::hours(n as i64),
            _ => at("2026-11-18T10:00:00+07:00") + chrono::Duration::hours(n as i64),
        };
        m.received_at = Set(received);
        // Changed an hour after receipt, but two on-time appeals before it: one before where
        // the others can start (the page by last change oldest first reads it in a run of
        // its own on PostgreSQL), one after.
        m.updated_at = Set(match n {
            2 => at("2026-08-01T10:00:00+07:00"),
            3 => at("2026-10-01T10:00:00+07:00"),
            _ => received + chrono::Duration::hours(1),
        });
        if n == 23 {
            m.resolved_at = Set(Some(at("2026-11-19T12:00:00+07:00")));
        }
        m.update(&app.state.db).await.unwrap();
    }
    // Written around the store: the spans of numbers per day of receipt again, as `mcu
    // rollup verify` would ask.
    mcu::service::rollup::rebuild(&app.state.db, app.state.settings.timezone).await.unwrap();
    app.assert_rollups_agree().await;
    let all = appeal::Entity::find().all(&app.state.db).await.unwrap();
    let now = at("2026-11-20T09:00:00+07:00");
    let on_time: Vec<&appeal::Model> =
        all.iter().filter(|a| a.resolved_at.is_none() && a.due_soon_at > now && a.due_at > now).collect();
    assert_eq!(on_time.len(), 18);
    let filter = json!({"slaState": ["ON_TIME"]});
    for direction in ["ASC", "DESC"] {
        assert_walks(&app, &curator, &filter, ("DUE_AT", direction), 4, on_time.clone()).await;
        assert_walks(&app, &curator, &filter, ("RECEIVED_AT", direction), 4, on_time.clone()).await;
        assert_walks(&app, &curator, &filter, ("NUMBER", direction), 4, on_time.clone()).await;
        assert_walks(&app, &curator, &filter, ("UPDATED_AT", direction), 4, on_time.clone()).await;
    }
    let r = app
        .gql(Some(&curator), "query($f:AppealFilter){ appeals(filter:$f) { totalCount } }", json!({"f": filter}))
        .await;
    assert_eq!(r.data()["appeals"]["totalCount"], 18);
    if app.state.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        use migration::m20270114_000001_unresolved_deadline_order as m;
        for (name, definition) in
            [(m::UNRESOLVED_DUE, m::UNRESOLVED_DUE_DEF), (m::UNRESOLVED_SOON, m::UNRESOLVED_SOON_DEF)]
        {
            let sql = format!("SELECT indexdef FROM pg_indexes WHERE tablename = 'appeals' AND indexname = '{name}'");
            let row =
                app.state.db.query_one_raw(sea_orm::Statement::from_string(sea_orm::DatabaseBackend::Postgres, sql));
            let def: String = row.await.unwrap().unwrap().try_get("", "indexdef").unwrap();
            let keys = definition.split(" WHERE ").next().unwrap();
            assert!(def.contains(&format!("USING btree {keys} WHERE (resolved_at IS NULL)")), "{def}");
        }
    }
}

#[tokio::test]
async fn numbers_order_by_year_and_sequence_past_a_millionth_appeal_of_a_year() {
    use mcu::entity::appeal;
    use migration::m20270109_000001_number_order::{number_order, number_order_sql};
    use sea_orm::{
        ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, IntoActiveModel, QueryOrder, Statement,
    };
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-11-21T09:00:00+07:00");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    for i in 0..10 {
        let channel = ["POS", "EMAIL"][i % 2];
        app.appeal(&curator, json!({"kind": "MESSAGE", "channel": channel, "text": format!("Обращение {i}")})).await;
    }
    // The numbers of a year past its millionth appeal, of two years, equal sequences written
    // with more zeros (the id decides), and a number of another shape (written outside the
    // application), given in the order of the ids.
    let numbers = [
        "2026-1000000",
        "2026-999999",
        "2026-100001",
        "2026-100000",
        "B-17",
        "2025-1000001",
        "2026-000005",
        "2026-0000000000005",
        "2025-000003",
        "2026-10000000",
    ];
    let all = appeal::Entity::find().order_by_asc(appeal::Column::Id).all(&app.state.db).await.unwrap();
    assert_eq!(all.len(), numbers.len());
    let mut ids = std::collections::HashMap::new();
    for (a, number) in all.iter().zip(numbers) {
        let mut m = a.clone().into_active_model();
        m.number = Set(number.to_string());
        m.update(&app.state.db).await.unwrap();
        ids.insert(number, a.id);
    }
    let ascending = [
        "B-17",
        "2025-000003",
        "2025-1000001",
        "2026-000005",
        "2026-0000000000005",
        "2026-100000",
        "2026-100001",
        "2026-999999",
        "2026-1000000",
        "2026-10000000",
    ];
    for filter in [json!({}), json!({"channel": ["POS", "EMAIL"]}), json!({"status": ["RECEIVED", "REGISTERED"]})] {
        for direction in ["ASC", "DESC"] {
            let mut expected: Vec<i64> = ascending.iter().map(|n| ids[n]).collect();
            if direction == "DESC" {
                expected.reverse();
            }
            let order = json!({"field": "NUMBER", "direction": direction});
            let (forward, backward) = walk_pages(&app, &curator, &filter, &order, 3, expected.len()).await;
            assert_eq!(forward, expected, "{filter} by NUMBER {direction}, forward");
            assert_eq!(backward, expected, "{filter} by NUMBER {direction}, backward");
        }
    }
    // The database computes the order as the cursors do (`number_order`), on either backend.
    let postgres = app.state.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    let texts =
        ["2026-000042", "2026-1000000", "2026-9999999999999", "2026-10000000000000", "2026-", "2026-12a", "B-17"];
    let texts = texts.into_iter().chain(["20261-1", "2026-+1", "２０２６-1", "2026--1", "-2026-1", "2026-1 ", ""]);
    for text in texts {
        let key = number_order_sql(postgres, "\"appeals\".\"number\"");
        let sql = format!("SELECT {key} AS k FROM (SELECT '{text}' AS number) AS \"appeals\"");
        let row = app.state.db.query_one_raw(Statement::from_string(app.state.db.get_database_backend(), sql));
        let k: i64 = row.await.unwrap().unwrap().try_get("", "k").unwrap();
        assert_eq!(k, number_order(text), "{text:?}");
    }
    // One appeal found by its number, whatever its shape.
    for number in ["2026-1000000", "B-17"] {
        let r = app
            .gql(Some(&curator), "query($n:String!){ appealByNumber(number:$n) { id number } }", json!({"n": number}))
            .await;
        assert_eq!(r.data()["appealByNumber"]["number"], number);
    }
}
