//! The audit log's filters (actor, action, target, period) and its XLSX export, under the
//! rule of `Query.auditLog` (ADMIN, CURATOR).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const LOG: &str = "query($f:AuditLogFilter,$first:Int,$after:String){ auditLog(filter:$f, first:$first, after:$after) { totalCount edges { cursor node { id at actor action target } } pageInfo { hasNextPage endCursor } } }";

/// One planted entry: actor, action, target, instant.
struct Entry {
    actor: Actor,
    action: &'static str,
    target: &'static str,
    at: &'static str,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Actor {
    User,
    Token,
}

/// The user and the token of the fixture (ids no setup step uses).
const USER: i64 = 9001;
const TOKEN: i64 = 9002;
/// A target Excel would run as a formula if it were written as one.
const FORMULA: &str = "=HYPERLINK(\"http://evil.test\",\"x\")";

/// Seven entries by two actors in October 2026; the server's zone is Asia/Krasnoyarsk (+7),
/// so 2026-10-01T18:30Z is local 2 October.
fn fixture() -> Vec<Entry> {
    use Actor::{Token, User};
    let e = |actor, action, target, at| Entry { actor, action, target, at };
    vec![
        e(User, "changeRoles", "user:5", "2026-10-01T09:00:00Z"),
        e(User, "read.personalData", "appeal:12", "2026-10-01T18:30:00Z"),
        e(Token, "ingestAppeals", "appeal:1234", "2026-10-02T10:00:00Z"),
        e(User, "updateAppeal", "appeal:123", "2026-10-03T10:00:00Z"),
        e(Token, "read.personalData", "appeal:123", "2026-10-04T10:00:00Z"),
        e(Token, "createWebhook", "webhook:1", "2026-10-05T10:00:00Z"),
        e(User, "changeRoles", FORMULA, "2026-10-05T12:00:00Z"),
    ]
}

fn at(e: &Entry) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(e.at).unwrap().with_timezone(&Utc)
}

fn local_day(app: &TestApp, e: &Entry) -> NaiveDate {
    at(e).with_timezone(&app.state.settings.timezone).date_naive()
}

/// Writes the fixture and returns the ids of its entries, in fixture order.
async fn plant(app: &TestApp) -> Vec<i64> {
    use mcu::entity::audit_log;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    for e in fixture() {
        let actor = match e.actor {
            Actor::User => mcu::store::audit::Actor {
                label: format!("user:{USER} <auditor@mcu.test>"),
                user_id: Some(USER),
                ip: Some("10.0.0.1".into()),
                ..Default::default()
            },
            Actor::Token => mcu::store::audit::Actor {
                label: format!("token:{TOKEN} (ЦУР)"),
                token_id: Some(TOKEN),
                ..Default::default()
            },
        };
        mcu::store::audit::write(&app.state.db, &actor, at(&e), e.action, Some(e.target.to_string()), None)
            .await
            .unwrap();
    }
    let rows = audit_log::Entity::find()
        .filter(audit_log::Column::At.lt(DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap()))
        .order_by_asc(audit_log::Column::Id)
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), fixture().len(), "only the fixture is dated October");
    rows.into_iter().map(|r| r.id).collect()
}

/// Which fixture entries a filter should keep.
type Keep = Box<dyn Fn(&Entry) -> bool>;

/// The ids of the fixture entries for which `keep` holds, newest (largest id) first.
fn expected(ids: &[i64], keep: impl Fn(&Entry) -> bool) -> Vec<i64> {
    let mut v: Vec<i64> = fixture().iter().zip(ids).filter(|(e, _)| keep(e)).map(|(_, id)| *id).collect();
    v.reverse();
    v
}

async fn listed(app: &TestApp, token: &str, filter: Value) -> (Vec<i64>, i64) {
    let r = app.gql(Some(token), LOG, json!({"f": filter, "first": 100})).await;
    let log = &r.data()["auditLog"];
    let ids =
        log["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().parse().unwrap()).collect();
    (ids, log["totalCount"].as_i64().unwrap())
}

#[tokio::test]
async fn each_filter_and_their_combination_narrow_the_audit_log() {
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-12-01T10:00:00Z");
    let admin = app.admin().await;
    let ids = plant(&app).await;
    let oct = |mut f: Value| {
        f["from"] = json!("2026-09-01");
        f["to"] = json!("2026-10-31");
        f
    };
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let cases: Vec<(Value, Keep)> = vec![
        (json!({"actor": format!("user:{USER}")}), Box::new(|e: &Entry| e.actor == Actor::User)),
        (json!({"actor": format!("token:{TOKEN}")}), Box::new(|e: &Entry| e.actor == Actor::Token)),
        (oct(json!({"action": ["read.personalData"]})), Box::new(|e: &Entry| e.action == "read.personalData")),
        (
            oct(json!({"action": ["changeRoles", "createWebhook"]})),
            Box::new(|e: &Entry| ["changeRoles", "createWebhook"].contains(&e.action)),
        ),
        (oct(json!({"target": "appeal:123"})), Box::new(|e: &Entry| e.target == "appeal:123")),
        (oct(json!({"targetPrefix": "appeal:123"})), Box::new(|e: &Entry| e.target.starts_with("appeal:123"))),
        (oct(json!({"targetPrefix": "appeal:"})), Box::new(|e: &Entry| e.target.starts_with("appeal:"))),
        (oct(json!({"targetPrefix": "APPEAL:"})), Box::new(|_: &Entry| false)),
        (oct(json!({"targetPrefix": "appeal:1%"})), Box::new(|e: &Entry| e.target.starts_with("appeal:1%"))),
        (oct(json!({"targetPrefix": "=HYPER"})), Box::new(|e: &Entry| e.target.starts_with("=HYPER"))),
    ];
    for (filter, keep) in &cases {
        let want = expected(&ids, keep);
        assert_eq!(listed(&app, &admin, filter.clone()).await, (want.clone(), want.len() as i64), "{filter}");
    }
    // The period is in local days: 2026-10-01T18:30Z is already 2 October in Krasnoyarsk.
    let app_ref = &app;
    let in_days = |from: &str, to: &str| {
        let (from, to) = (day(from), day(to));
        move |e: &Entry| (from..=to).contains(&local_day(app_ref, e))
    };
    for (from, to) in [("2026-10-02", "2026-10-03"), ("2026-10-01", "2026-10-01"), ("2026-10-05", "2026-10-05")] {
        let want = expected(&ids, in_days(from, to));
        assert_eq!(listed(&app, &admin, json!({"from": from, "to": to})).await.0, want, "{from}..{to}");
    }
    assert_eq!(expected(&ids, in_days("2026-10-02", "2026-10-03")).len(), 3, "the fixture puts 3 entries there");
    // All at once.
    let f = json!({"actor": format!("user:{USER}"), "action": ["read.personalData", "updateAppeal"], "targetPrefix": "appeal:", "from": "2026-10-02", "to": "2026-10-04"});
    let keep = |e: &Entry| {
        e.actor == Actor::User
            && ["read.personalData", "updateAppeal"].contains(&e.action)
            && e.target.starts_with("appeal:")
            && in_days("2026-10-02", "2026-10-04")(e)
    };
    let want = expected(&ids, keep);
    assert_eq!(want.len(), 2, "the entries at local 2 and 3 October");
    assert_eq!(listed(&app, &admin, f.clone()).await, (want.clone(), 2));

    // Paging keeps the filter: two pages of the user's four entries.
    let user = json!({"actor": format!("user:{USER}")});
    let r = app.gql(Some(&admin), LOG, json!({"f": user, "first": 3})).await;
    let page = &r.data()["auditLog"];
    assert_eq!(page["totalCount"], 4);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let after = page["pageInfo"]["endCursor"].as_str().unwrap().to_string();
    let r = app.gql(Some(&admin), LOG, json!({"f": user, "first": 3, "after": after})).await;
    let rest: Vec<i64> = r.data()["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(rest, vec![expected(&ids, |e| e.actor == Actor::User)[3]]);
    assert_eq!(r.data()["auditLog"]["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn bad_audit_filters_are_refused_with_a_field_path() {
    let app = spawn_app_with(|_| {}).await;
    let admin = app.admin().await;
    let cases = [
        (json!({"actor": "boss:1"}), "filter.actor"),
        (json!({"actor": "user:0"}), "filter.actor"),
        (json!({"action": vec!["x"; 51]}), "filter.action"),
        (json!({"action": ["ok", ""]}), "filter.action.1"),
        (json!({"target": "t".repeat(201)}), "filter.target"),
        (json!({"target": "a", "targetPrefix": "a"}), "filter.targetPrefix"),
        (json!({"from": "2026-10-02", "to": "2026-10-01"}), "filter.to"),
    ];
    for (f, path) in cases {
        let r = app.gql(Some(&admin), LOG, json!({"f": f})).await;
        assert_eq!((r.code(), r.field_paths()), ("BAD_USER_INPUT".to_string(), vec![path.to_string()]), "{f}");
    }
    let get = |q: &str| app.client.get(format!("{}/exports/audit.xlsx?{q}", app.base)).bearer_auth(&admin).send();
    for (q, path) in [
        ("actor=nobody", "filter.actor"),
        ("from=1.10.2026", "filter.from"),
        ("from=2026-10-02&to=2026-10-01", "filter.to"),
    ] {
        let resp = get(q).await.unwrap();
        assert_eq!(resp.status(), 400, "{q}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{q}: {body}");
        assert!(body.to_string().contains(path), "{q}: {body}");
    }
}

#[tokio::test]
async fn only_admins_and_curators_read_or_export_the_audit_log() {
    let app = spawn_app_with(|_| {}).await;
    let admin = app.admin().await;
    let staff = app.staff().await;
    let (_, admin_only) = app.user_with(&admin, &["ADMIN"], json!({})).await;
    let get = |token: Option<&str>| {
        let mut req = app.client.get(format!("{}/exports/audit.xlsx", app.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    for allowed in [&admin_only, &staff.curator] {
        assert!(app.gql(Some(allowed), LOG, json!({})).await.body["errors"].is_null());
        assert_eq!(get(Some(allowed)).await.unwrap().status(), 200);
    }
    let mut refused = vec![staff.coordinator.clone(), staff.executor.clone(), staff.head.clone()];
    let r = app.gql(None, "{ __type(name:\"ApiScope\") { enumValues { name } } }", json!({})).await;
    let scopes: Vec<String> = r.data()["__type"]["enumValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    assert!(scopes.len() >= 4, "{scopes:?}");
    for scope in &scopes {
        let q = format!("mutation{{createApiToken(input:{{name:\"{scope}\",scopes:[{scope}]}}){{secret}}}}");
        refused.push(
            app.gql(Some(&admin), &q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().into(),
        );
    }
    let q = format!("mutation{{createApiToken(input:{{name:\"all\",scopes:[{}]}}){{secret}}}}", scopes.join(","));
    refused
        .push(app.gql(Some(&admin), &q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().into());
    for token in &refused {
        assert_eq!(app.gql(Some(token), LOG, json!({})).await.code(), "FORBIDDEN");
        assert_eq!(get(Some(token)).await.unwrap().status(), 403);
    }
    assert_eq!(app.gql(None, LOG, json!({})).await.code(), "UNAUTHENTICATED");
    assert_eq!(get(None).await.unwrap().status(), 401);
}

#[tokio::test]
async fn the_filtered_audit_log_exports_to_xlsx_with_formulas_kept_as_text() {
    use calamine::{Data, DataType, Reader, Xlsx};
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-12-01T10:00:00Z");
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let ids = plant(&app).await;
    let resp = app
        .client
        .get(format!("{}/exports/audit.xlsx?actor=user:{USER}&action=changeRoles,read.personalData", app.base))
        .bearer_auth(&curator)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let keep = |e: &Entry| e.actor == Actor::User && ["changeRoles", "read.personalData"].contains(&e.action);
    let want = expected(&ids, keep);
    assert_eq!(resp.headers()["x-total-count"], want.len().to_string().as_str());
    let bytes = resp.bytes().await.unwrap().to_vec();
    let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let range = wb.worksheet_range("Журнал").unwrap();
    let rows: Vec<Vec<Data>> = range.rows().map(<[Data]>::to_vec).collect();
    let head: Vec<String> = rows[0].iter().map(ToString::to_string).collect();
    assert_eq!(head, ["№", "Время", "Кто", "Действие", "Объект", "IP-адрес", "Запрос", "Подробности"]);
    assert_eq!(rows.len() - 1, want.len());
    let fixture = fixture();
    for (row, id) in rows[1..].iter().zip(&want) {
        let e = &fixture[ids.iter().position(|i| i == id).unwrap()];
        assert_eq!(row[0], Data::Float(*id as f64));
        // The time in the municipality's zone, to the second.
        let local = at(e).with_timezone(&app.state.settings.timezone).naive_local();
        let cell = row[1].get_datetime().unwrap_or_else(|| panic!("{:?}", row[1])).as_f64();
        let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).unwrap().and_hms_opt(0, 0, 0).unwrap();
        let serial = (local - epoch).num_seconds() as f64 / 86_400.0;
        assert!((cell - serial).abs() < 1e-6, "{cell} vs {serial} ({local})");
        assert_eq!(row[2].to_string(), format!("user:{USER} <auditor@mcu.test>"));
        assert_eq!(row[3].to_string(), e.action);
        assert_eq!(row[4], Data::String(e.target.to_string()), "written as text, never as a formula");
        assert_eq!(row[5].to_string(), "10.0.0.1");
    }
    assert!(rows[1..].iter().any(|r| r[4] == Data::String(FORMULA.into())), "the fixture's formula-like target is in");
    let formulas = wb.worksheet_formula("Журнал").unwrap();
    assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()), "no cell is a formula");
    // Taking the trail out is itself in the trail: who, with which filter, how many entries.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let taken = mcu::entity::audit_log::Entity::find()
        .filter(mcu::entity::audit_log::Column::Action.eq("export.auditLog"))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1, "{taken:?}");
    let data: Value = serde_json::from_str(taken[0].data.as_deref().unwrap()).unwrap();
    assert_eq!(data["count"], want.len());
    assert_eq!(data["filter"]["action"], "changeRoles,read.personalData");
    assert!(!taken[0].actor.starts_with(&format!("user:{USER} ")), "the curator, not the fixture's actor");
}
