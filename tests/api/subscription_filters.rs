//! The in-memory appeal filter of `appealChanged`'s fan-out (`AppealFilter::matches` with the
//! scope's `sees`) against the SQL filter of `appeals` (`appeal_query::filtered` with the
//! scope's condition): the same answers on a grid of filters, scopes and rows, on SQLite and
//! PostgreSQL.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use mcu::domain::access::{ApiScope, Channel, Principal, Role, TokenPrincipal, UserPrincipal};
use mcu::domain::appeal::{CategoryId, RecipientId, TerritoryId};
use mcu::domain::deadlines::{AppealKind, SlaState};
use mcu::domain::lifecycle::AppealStatus;
use mcu::entity::{appeal, category, recipient, territory};
use mcu::service::appeal_match;
use mcu::service::appeal_query::{self, AppealFilter};
use mcu::service::scope::AppealScope;
use sea_orm::{ActiveModelTrait, ActiveValue::NotSet, EntityTrait, IntoActiveModel};

use crate::helpers::spawn_app;

fn at(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap() + Duration::minutes(h * 37) + Duration::milliseconds(h * 113)
}

async fn insert_territory(db: &sea_orm::DatabaseConnection, name: &str, parent: Option<i64>) -> i64 {
    let m = territory::Model {
        id: 0,
        name: name.into(),
        code: None,
        parent_id: parent,
        population: None,
        latitude: None,
        longitude: None,
        active: true,
        merged_into_id: None,
        version: 1,
        created_at: at(0),
    };
    let mut am = m.into_active_model();
    am.id = NotSet;
    am.insert(db).await.unwrap().id
}

async fn insert_category(db: &sea_orm::DatabaseConnection, name: &str, parent: Option<i64>) -> i64 {
    let m = category::Model {
        id: 0,
        name: name.into(),
        parent_id: parent,
        default_recipient_id: None,
        active: true,
        merged_into_id: None,
        version: 1,
        created_at: at(0),
    };
    let mut am = m.into_active_model();
    am.id = NotSet;
    am.insert(db).await.unwrap().id
}

async fn insert_recipient(db: &sea_orm::DatabaseConnection, name: &str) -> i64 {
    let m = recipient::Model {
        id: 0,
        name: name.into(),
        short_name: None,
        parent_id: None,
        external: false,
        active: true,
        merged_into_id: None,
        version: 1,
        created_at: at(0),
    };
    let mut am = m.into_active_model();
    am.id = NotSet;
    am.insert(db).await.unwrap().id
}

#[allow(clippy::too_many_lines)]
#[tokio::test]
async fn the_in_memory_filter_and_the_sql_filter_agree_on_a_grid_of_filters_scopes_and_rows() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let tz = app.state.settings.timezone;
    let now = at(40);

    // Trees: territory A ⊃ A1 ⊃ A1a, B; categories P1 ⊃ C11, C12, P2 ⊃ C21.
    let ta = insert_territory(db, "A", None).await;
    let ta1 = insert_territory(db, "A1", Some(ta)).await;
    let ta1a = insert_territory(db, "A1a", Some(ta1)).await;
    let tb = insert_territory(db, "B", None).await;
    let p1 = insert_category(db, "P1", None).await;
    let c11 = insert_category(db, "C11", Some(p1)).await;
    let c12 = insert_category(db, "C12", Some(p1)).await;
    let p2 = insert_category(db, "P2", None).await;
    let c21 = insert_category(db, "C21", Some(p2)).await;
    let r1 = insert_recipient(db, "R1").await;
    let r2 = insert_recipient(db, "R2").await;

    let territories = [None, Some(ta), Some(ta1), Some(ta1a), Some(tb)];
    let categories = [None, Some(p1), Some(c11), Some(c12), Some(p2), Some(c21)];
    let recipients = [None, Some(r1), Some(r2)];
    let statuses = ["RECEIVED", "ASSIGNED", "IN_PROGRESS", "ANSWERED", "CLOSED", "REDIRECTED"];
    let channels = ["POS", "INCIDENT", "EMAIL", "GOSPABLIKI"];
    let kinds = ["APPEAL", "MESSAGE", "INCIDENT"];
    let texts = [
        "Яма на дороге во дворе дома",
        "Снег не убран с тротуара",
        "Нет освещения на улице у двора",
        "Мусорные контейнеры переполнены",
    ];
    let mut rows = Vec::new();
    for i in 0..60_i64 {
        let u = usize::try_from(i).unwrap();
        let received = at(i - 30);
        let due = at(10 + (i * 7) % 60);
        let resolved = match i % 4 {
            0 => Some(at(20 + (i * 11) % 60)),
            1 if i % 3 == 0 => Some(due),
            _ => None,
        };
        let m = appeal::Model {
            id: 0,
            number: format!("2026-{:06}", i + 1),
            kind: kinds[u % kinds.len()].into(),
            channel: channels[u % channels.len()].into(),
            external_id: None,
            status: statuses[(u * 7) % statuses.len()].into(),
            received_at: received,
            registered_at: None,
            author_name: Some("Иван Петров".into()),
            author_contact: None,
            anonymous: false,
            text: texts[u % texts.len()].into(),
            search_text: mcu::domain::text::normalize_for_search(texts[u % texts.len()]),
            summary: None,
            category_id: categories[u % categories.len()],
            suggested_category_id: None,
            territory_id: territories[(u / 2) % territories.len()],
            address: None,
            latitude: None,
            longitude: None,
            h3_cell: None,
            recipient_id: recipients[(u / 3) % recipients.len()],
            redirected_to: None,
            high_priority: false,
            sla_started_at: received,
            due_soon_at: due - Duration::hours(if i % 5 == 0 { 0 } else { 6 }),
            due_at: due,
            extension_count: 0,
            reacted_at: None,
            resolved_at: resolved,
            answered_at: None,
            answer_text: None,
            completeness: None,
            no_answer_reason: None,
            satisfaction_score: None,
            satisfied: None,
            feedback_code: None,
            feedback_expires_at: None,
            reopen_count: 0,
            first_answered_at: None,
            first_due_at: None,
            first_completeness: None,
            first_satisfied: None,
            reaction_due_at: None,
            reaction_hours: None,
            duplicate_of_id: None,
            version: 1,
            created_at: received,
            updated_at: received,
            anonymised_at: None,
        };
        let mut am = m.into_active_model();
        am.id = NotSet;
        let id = am.insert(db).await.unwrap().id;
        // Written behind the store's back: index its words as the store would (SQLite FTS5).
        mcu::store::search::index_new(db, &[id]).await.unwrap();
    }
    // The reference rows were written behind the cache's back: it reads them again.
    app.state.reference.invalidate();
    let refs = mcu::service::reference::snapshot(&app.state).await.unwrap();
    // Rows as the database gives them back (what the fan-out reads), typed.
    for a in appeal::Entity::find().all(db).await.unwrap() {
        let read = appeal_match::changed(db, a.id).await.unwrap().unwrap();
        assert_eq!(read.id.0, a.id);
        rows.push(read);
    }
    assert_eq!(rows.len(), 60);

    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
    let mut filters = vec![AppealFilter::default()];
    for s in [
        vec![AppealStatus::Assigned],
        vec![AppealStatus::Assigned, AppealStatus::InProgress],
        vec![AppealStatus::Closed, AppealStatus::Redirected],
    ] {
        filters.push(AppealFilter { status: s, ..Default::default() });
    }
    filters.push(AppealFilter { kind: vec![AppealKind::Incident], ..Default::default() });
    filters.push(AppealFilter { kind: vec![AppealKind::Appeal, AppealKind::Message], ..Default::default() });
    filters.push(AppealFilter { channel: vec![Channel::Pos], ..Default::default() });
    filters.push(AppealFilter { channel: vec![Channel::Incident, Channel::Gospabliki], ..Default::default() });
    for c in [vec![p1], vec![c11], vec![p2, c12], vec![c21, 999_999]] {
        let c = c.into_iter().map(CategoryId).collect();
        filters.push(AppealFilter { category_id: c, ..Default::default() });
    }
    for t in [vec![ta], vec![ta1], vec![ta1a], vec![tb, ta1a], vec![999_999]] {
        let t = t.into_iter().map(TerritoryId).collect();
        filters.push(AppealFilter { territory_id: t, ..Default::default() });
    }
    for r in [vec![r1], vec![r1, r2]] {
        let r = r.into_iter().map(RecipientId).collect();
        filters.push(AppealFilter { recipient_id: r, ..Default::default() });
    }
    for s in [SlaState::Overdue, SlaState::DueSoon, SlaState::OnTime, SlaState::Met, SlaState::Missed] {
        filters.push(AppealFilter { sla_state: vec![s], ..Default::default() });
    }
    filters.push(AppealFilter { sla_state: vec![SlaState::Overdue, SlaState::Met], ..Default::default() });
    filters.push(AppealFilter { received_from: Some(day(6)), ..Default::default() });
    filters.push(AppealFilter { received_to: Some(day(6)), ..Default::default() });
    filters.push(AppealFilter { received_from: Some(day(7)), received_to: Some(day(7)), ..Default::default() });
    filters.push(AppealFilter { due_before: Some(at(40)), ..Default::default() });
    filters.push(AppealFilter { due_before: Some(at(25) + Duration::milliseconds(1)), ..Default::default() });
    // «осве» is a prefix of a stem but no stem: a substring match would find it, the index does not.
    for q in ["двор", "Двор яма", "ямы во дворах", "снег%", "нет такого", "улиц_", "осве", "и на у"]
    {
        filters.push(AppealFilter { search: Some(q.into()), ..Default::default() });
    }
    filters.push(AppealFilter {
        status: vec![AppealStatus::Assigned, AppealStatus::InProgress, AppealStatus::Received],
        channel: vec![Channel::Pos, Channel::Email],
        territory_id: vec![TerritoryId(ta)],
        sla_state: vec![SlaState::Overdue, SlaState::OnTime],
        ..Default::default()
    });
    filters.push(AppealFilter {
        category_id: vec![CategoryId(p1)],
        recipient_id: vec![RecipientId(r1)],
        received_from: Some(day(6)),
        due_before: Some(at(60)),
        search: Some("двор".into()),
        ..Default::default()
    });

    let user = |roles: Vec<Role>, channels: Vec<Channel>, recipient: Option<i64>, territory: Option<i64>| {
        Principal::User(UserPrincipal {
            id: 1,
            email: "x@city.ru".into(),
            roles,
            channels,
            recipient_id: recipient,
            territory_id: territory,
        })
    };
    let principals = [
        Principal::Token(TokenPrincipal { id: 1, name: "portal".into(), scopes: vec![ApiScope::AppealsRead] }),
        user(vec![Role::Curator], vec![], None, None),
        user(vec![Role::Head], vec![], None, Some(ta1)),
        user(vec![Role::Coordinator], vec![Channel::Pos, Channel::Incident], None, Some(ta)),
        user(vec![Role::Executor], vec![], Some(r1), None),
        user(vec![Role::Executor, Role::Coordinator], vec![Channel::Email], Some(r2), Some(tb)),
    ];

    let mut checked = 0;
    let mut matched = 0;
    for p in &principals {
        let scope = AppealScope::of(&app.state, p).await.unwrap();
        for f in &filters {
            let sql: BTreeSet<i64> = appeal_query::filtered(db.get_database_backend(), &refs, &scope, f, tz, now)
                .unwrap()
                .all(db)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.id)
                .collect();
            let memory: BTreeSet<i64> =
                rows.iter().filter(|a| scope.sees(*a) && f.matches(a, &refs, tz, now)).map(|a| a.id.0).collect();
            assert_eq!(memory, sql, "filter {f:?}, principal {p:?}");
            checked += rows.len();
            matched += sql.len();
        }
    }
    // The grid is not trivial: some rows match, most filters leave some out.
    assert!(matched > 0 && matched < checked, "{matched} of {checked}");
    let distinct: HashSet<usize> =
        filters.iter().map(|f| rows.iter().filter(|a| f.matches(a, &refs, tz, now)).count()).collect();
    assert!(distinct.len() > 8, "{distinct:?}");
    // Word forms meet through the stems, whole stems only: «Двор яма» and «ямы во дворах»
    // find the pits in yards, the prefix «осве» finds nothing although «освещ…» holds it.
    let found = |q: &str| {
        let f = AppealFilter { search: Some(q.into()), ..Default::default() };
        rows.iter().filter(|a| f.matches(a, &refs, tz, now)).count()
    };
    let pits = rows.iter().filter(|a| a.text.starts_with("Яма")).count();
    assert!(pits > 0);
    assert_eq!(found("Двор яма"), pits);
    assert_eq!(found("ямы во дворах"), pits);
    assert_eq!(found("осве"), 0);
}
