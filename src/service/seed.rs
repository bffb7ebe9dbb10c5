//! Realistic synthetic data for demos and benchmarks (`mcu seed-demo`): the town of Sorsk
//! with its districts, the administration's departments, staff, and a year of appeals over
//! every channel with answers, ratings and overdue cases. Rows go in as multi-row inserts.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};

use super::deadlines::Terms;
use super::{Caller, users};
use crate::domain::access::{Channel, Principal, Role};
use crate::domain::appeal::{CategoryId, TerritoryId, is_anonymous, search_text};
use crate::domain::deadlines::AppealKind;
use crate::domain::lifecycle::AppealStatus;
use crate::domain::quality::{Completeness, NoAnswerReason};
use crate::entity::{category, recipient, territory};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::appeals::{self as store, Arrival, BatchStamp, Event, FreshAppeal, Payload, RecipientId};
use crate::store::audit::Actor;

use super::seed_texts;

/// The demo staff's password (printed by the command).
pub const DEMO_PASSWORD: &str = "orchid-ferry-nimbus-2026";

/// What was created.
#[derive(Debug, Default)]
pub struct SeedReport {
    pub appeals: u64,
    pub users_created: Vec<String>,
}

const DISTRICTS: &[(&str, i32, f64, f64)] = &[
    ("Центральный микрорайон", 4200, 53.9995, 90.2470),
    ("Северный микрорайон", 2600, 54.0080, 90.2520),
    ("Южный микрорайон", 2100, 53.9920, 90.2400),
    ("Заречный микрорайон", 1300, 54.0010, 90.2650),
    ("Посёлок Сосновый", 800, 54.0150, 90.2300),
];

/// Departments and which top-level topics go to them; `true` marks bodies outside the administration.
const RECIPIENTS: &[(&str, bool, &[&str])] = &[
    ("Управление ЖКХ", false, &["ЖКХ"]),
    ("Управление дорожного хозяйства", false, &["Дороги", "Транспорт"]),
    ("Отдел благоустройства", false, &["Благоустройство"]),
    ("Управление образования", false, &["Образование"]),
    ("Отдел экологии", false, &["Экология и мусор"]),
    ("Отдел ГО и ЧС", false, &["Безопасность"]),
    ("Отдел архитектуры и градостроительства", false, &["Строительство и архитектура"]),
    ("Отдел культуры и спорта", false, &["Культура и спорт"]),
    ("Общий отдел", false, &["Прочее"]),
    ("Министерство здравоохранения Республики Хакасия", true, &["Здравоохранение"]),
    ("Управление социальной поддержки населения", true, &["Социальная защита"]),
];

/// Share of appeals per top-level topic, in per mille.
const TOPIC_WEIGHTS: &[(&str, u32)] = &[
    ("ЖКХ", 300),
    ("Дороги", 190),
    ("Благоустройство", 140),
    ("Экология и мусор", 100),
    ("Транспорт", 60),
    ("Образование", 50),
    ("Здравоохранение", 50),
    ("Социальная защита", 35),
    ("Безопасность", 30),
    ("Строительство и архитектура", 20),
    ("Культура и спорт", 15),
    ("Прочее", 10),
];

/// How a text mentions its address (`{a}`), when it does: after the complaint core
/// (`ATTACHED`) or as a sentence of its own (`SENTENCES`).
const ATTACHED: &[&str] = &[", {a}", " по адресу {a}", " ({a})", " — {a}", " на {a}", ", адрес: {a}"];
const SENTENCES: &[&str] =
    &["Адрес: {a}.", "Адрес {a}", "Это по адресу {a}.", "Место: {a}.", "Живу по адресу {a}.", "{a}."];
/// Joins a second complaint core to the first.
const CONNECTORS: &[&str] = &["Кроме того, ", "А ещё ", "И ещё: ", "Также ", "Плюс ко всему ", "К тому же "];

/// A citizen's complaint about subcategory `sub` (a rubricator name), composed at random from
/// its fragments (`seed_texts`) and from topic-neutral ones: short or long, formal or
/// colloquial, with or without the address, now and then in lower case without punctuation
/// or with a typo. Under 600 characters.
fn appeal_text(rng: &mut StdRng, sub: &str, address: &str) -> String {
    let topic = seed_texts::topic(sub);
    let core = *pick(rng, topic.cores);
    let mut main = String::with_capacity(160);
    // When: before the core, after it, or not at all (not with a request or a question).
    let ongoing = !["Прос", "Прош", "Нуж", "Как ", "Когда", "Где", "Хочу", "Предлага", "Благодар"]
        .iter()
        .any(|p| core.starts_with(p));
    match if ongoing { rng.random_range(0..100) } else { 100 } {
        0..15 => {
            main.push_str(&upper_first(pick::<&str>(rng, seed_texts::TIMES)));
            main.push(' ');
            main.push_str(&lower_first(core));
        }
        15..35 => {
            main.push_str(core);
            main.push_str(if rng.random_bool(0.5) { ", " } else { " " });
            main.push_str(pick::<&str>(rng, seed_texts::TIMES));
        }
        _ => main.push_str(core),
    }
    // Where: after the core, as a sentence of its own, or nowhere.
    let address_roll = rng.random_range(0..100);
    if address_roll < 30 {
        main.push_str(&pick(rng, ATTACHED).replace("{a}", address));
    }
    let mut text = if rng.random_bool(0.25) {
        // Short: the core alone (5 to 8 words with the time or address).
        main.push_str(end(rng));
        main
    } else {
        let long = rng.random_bool(0.4);
        let mut sentences: Vec<String> = Vec::with_capacity(8);
        if rng.random_bool(if long { 0.8 } else { 0.5 }) {
            sentences.push((*pick(rng, seed_texts::OPENERS)).to_string());
        }
        if (30..45).contains(&address_roll) {
            sentences.push(pick(rng, SENTENCES).replace("{a}", address));
        }
        main.push_str(end(rng));
        sentences.push(main);
        if rng.random_bool(if long { 0.9 } else { 0.6 }) {
            sentences.push(format!("{}{}", pick(rng, topic.details), end(rng)));
        }
        if long && rng.random_bool(0.6) {
            let other = *pick(rng, topic.cores);
            if other != core {
                sentences.push(format!("{}{}{}", pick(rng, CONNECTORS), lower_first(other), end(rng)));
            }
        }
        if rng.random_bool(if long { 0.6 } else { 0.2 }) {
            sentences.push(format!("{}{}", pick(rng, seed_texts::FILLERS), end(rng)));
        }
        if (45..55).contains(&address_roll) {
            sentences.push(pick(rng, SENTENCES).replace("{a}", address));
        }
        if rng.random_bool(if long { 0.8 } else { 0.45 }) {
            sentences.push((*pick(rng, seed_texts::CLOSERS)).to_string());
        }
        sentences.join(" ")
    };
    match rng.random_range(0..100) {
        // Typed on a phone in a hurry.
        0..12 => {
            text = text
                .chars()
                .filter_map(|c| {
                    if c.is_alphanumeric() {
                        Some(c.to_lowercase().next().unwrap_or(c))
                    } else if c.is_whitespace() {
                        Some(' ')
                    } else {
                        None
                    }
                })
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
        }
        12..20 => text = lower_first(&text),
        20..22 if text.len() < 200 => text = text.to_uppercase(),
        _ => {}
    }
    if rng.random_bool(0.12) {
        text = typo(rng, &text);
    }
    if text.chars().count() > 600 {
        text = text.chars().take(600).collect();
    }
    text
}

/// How a sentence ends.
fn end(rng: &mut StdRng) -> &'static str {
    match rng.random_range(0..100) {
        0..68 => ".",
        68..82 => "!",
        82..88 => "!!!",
        88..94 => "...",
        _ => "",
    }
}

/// `s` with its first letter in upper case.
fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// `s` with its first letter in lower case, unless it starts an abbreviation («УК», «ДК»).
fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match (chars.next(), chars.clone().next()) {
        (Some(first), Some(second)) if !second.is_uppercase() => first.to_lowercase().chain(chars).collect(),
        _ => s.to_string(),
    }
}

/// `text` with one letter of one longer word swapped with the next, dropped or doubled.
fn typo(rng: &mut StdRng, text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let long: Vec<usize> =
        (0..words.len()).filter(|&i| words[i].chars().filter(|c| c.is_alphabetic()).count() >= 5).collect();
    if long.is_empty() {
        return text.to_string();
    }
    let target = *pick(rng, &long);
    let mut letters: Vec<char> = words[target].chars().collect();
    // Not the first letter, and only among letters (not a trailing comma).
    let last = letters.iter().rposition(|c| c.is_alphabetic()).unwrap_or(0);
    let i = rng.random_range(1..last);
    match rng.random_range(0..3) {
        0 => letters.swap(i, i + 1),
        1 => {
            letters.remove(i);
        }
        _ => letters.insert(i, letters[i]),
    }
    let changed: String = letters.into_iter().collect();
    words.iter().enumerate().map(|(k, w)| if k == target { changed.as_str() } else { w }).collect::<Vec<_>>().join(" ")
}

const STREETS: &[&str] = &[
    "ул. Ленина",
    "ул. Кирова",
    "ул. Геологов",
    "ул. Пионерская",
    "ул. Советская",
    "ул. Дружбы",
    "ул. Октябрьская",
    "ул. Молодёжная",
    "ул. Школьная",
    "ул. Садовая",
];
const FIRST: &[&str] = &[
    "Иван",
    "Анна",
    "Сергей",
    "Ольга",
    "Николай",
    "Татьяна",
    "Алексей",
    "Елена",
    "Дмитрий",
    "Наталья",
    "Михаил",
    "Светлана",
];
const LAST: &[&str] = &[
    "Иванов",
    "Петров",
    "Сидоров",
    "Кузнецов",
    "Смирнов",
    "Попов",
    "Васильев",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
];
const ANSWERS: &[&str] = &[
    "Проблема устранена, работы выполнены.",
    "Работы включены в план на текущий сезон.",
    "Направлена бригада, неисправность устранена.",
    "Обращение рассмотрено, даны разъяснения.",
    "Вопрос передан в управляющую компанию для устранения.",
];

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

async fn ensure_territories(state: &AppState) -> AppResult<Vec<territory::Model>> {
    let db = &state.db;
    let now = state.clock.now();
    let city = match territory::Entity::find().filter(territory::Column::Code.eq("sorsk")).one(db).await? {
        Some(c) => c,
        None => {
            territory::ActiveModel {
                name: Set("г. Сорск".into()),
                code: Set(Some("sorsk".into())),
                parent_id: Set(None),
                population: Set(Some(11_000)),
                latitude: Set(Some(54.0003)),
                longitude: Set(Some(90.2550)),
                version: Set(1),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await?
        }
    };
    let mut out = Vec::new();
    for (i, (name, population, lat, lon)) in DISTRICTS.iter().enumerate() {
        let code = format!("sorsk-{i}");
        let t = match territory::Entity::find().filter(territory::Column::Code.eq(code.as_str())).one(db).await? {
            Some(t) => t,
            None => {
                territory::ActiveModel {
                    name: Set((*name).into()),
                    code: Set(Some(code)),
                    parent_id: Set(Some(city.id)),
                    population: Set(Some(*population)),
                    latitude: Set(Some(*lat)),
                    longitude: Set(Some(*lon)),
                    version: Set(1),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(db)
                .await?
            }
        };
        out.push(t);
    }
    Ok(out)
}

async fn ensure_recipients(state: &AppState) -> AppResult<HashMap<String, recipient::Model>> {
    let db = &state.db;
    let now = state.clock.now();
    let cats = category::Entity::find().all(db).await?;
    let mut by_topic = HashMap::new();
    for (name, external, topics) in RECIPIENTS {
        let r = match recipient::Entity::find().filter(recipient::Column::Name.eq(*name)).one(db).await? {
            Some(r) => r,
            None => {
                recipient::ActiveModel {
                    name: Set((*name).into()),
                    short_name: Set(None),
                    parent_id: Set(None),
                    external: Set(*external),
                    active: Set(true),
                    version: Set(1),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(db)
                .await?
            }
        };
        for topic in *topics {
            if let Some(c) = cats.iter().find(|c| c.name == *topic && c.parent_id.is_none())
                && c.default_recipient_id.is_none()
            {
                let mut am = c.clone().into_active_model();
                am.default_recipient_id = Set(Some(r.id));
                am.update(db).await?;
            }
            by_topic.insert((*topic).to_string(), r.clone());
        }
    }
    Ok(by_topic)
}

async fn ensure_staff(state: &AppState, zhkh: i64) -> AppResult<Vec<String>> {
    let caller = Caller { principal: Principal::System, request_id: Some("seed-demo".into()), ..Caller::default() };
    type Person = (&'static str, &'static str, Vec<Role>, Vec<Channel>, Option<i64>);
    let people: Vec<Person> = vec![
        ("curator@demo.mcu", "Куратор МЦУ", vec![Role::Curator], vec![], None),
        (
            "pos@demo.mcu",
            "Ответственный за ПОС",
            vec![Role::Coordinator],
            vec![Channel::Pos, Channel::Gospabliki],
            None,
        ),
        ("im@demo.mcu", "Ответственный за ИМ", vec![Role::Coordinator], vec![Channel::Incident], None),
        ("zhkh@demo.mcu", "Исполнитель ЖКХ", vec![Role::Executor], vec![], Some(zhkh)),
        ("head@demo.mcu", "Глава города", vec![Role::Head], vec![], None),
    ];
    let mut created = Vec::new();
    for (email, name, roles, channels, recipient_id) in people {
        if users::find_by_email(&state.db, email).await?.is_none() {
            let new = users::NewUser {
                email: email.into(),
                full_name: name.into(),
                password: DEMO_PASSWORD.into(),
                roles,
                channels,
                recipient_id,
                territory_id: None,
            };
            users::create(state, &caller, new).await?;
            created.push(email.to_string());
        }
    }
    Ok(created)
}

/// Fills the database with demo data and `n` appeals received during the last year.
pub async fn seed_demo(state: &AppState, n: u64, seed: u64) -> AppResult<SeedReport> {
    let districts = ensure_territories(state).await?;
    let recipients = ensure_recipients(state).await?;
    let zhkh = recipients.get("ЖКХ").map(|r| r.id).ok_or_else(|| AppError::internal("no ЖКХ recipient"))?;
    let users_created = ensure_staff(state, zhkh).await?;
    let cats = category::Entity::find().all(&state.db).await?;
    let tops: Vec<(category::Model, Vec<category::Model>, u32)> = TOPIC_WEIGHTS
        .iter()
        .filter_map(|(name, w)| {
            let top = cats.iter().find(|c| c.name == *name && c.parent_id.is_none())?.clone();
            let subs = cats.iter().filter(|c| c.parent_id == Some(top.id)).cloned().collect();
            Some((top, subs, *w))
        })
        .collect();
    let total_weight: u32 = tops.iter().map(|t| t.2).sum();
    let terms = Terms::load(state, &state.db).await?;
    let now = state.clock.now();
    let mut rng = StdRng::seed_from_u64(seed);

    // Generate receipt instants first, so numbers can be reserved per year in one go.
    let mut received: Vec<DateTime<Utc>> =
        (0..n).map(|_| now - Duration::seconds(rng.random_range(0..365 * 86_400))).collect();
    received.sort();
    let mut per_year: HashMap<i32, i64> = HashMap::new();
    for r in &received {
        *per_year.entry(terms.local_year(*r)).or_default() += 1;
    }
    let mut next_number: HashMap<i32, i64> = HashMap::new();
    let txn = crate::db::begin_write(&state.writer).await?;
    for (year, count) in &per_year {
        next_number.insert(*year, store::reserve_numbers(&txn, *year, *count).await?);
    }
    txn.commit().await?;

    // Some places gather many complaints on one topic: problem points.
    let hotspots: Vec<(usize, usize, f64, f64)> = (0..12)
        .map(|_| {
            let d = rng.random_range(0..districts.len());
            let t = rng.random_range(0..tops.len().min(4));
            let (lat, lon) = (districts[d].latitude.unwrap_or(54.0), districts[d].longitude.unwrap_or(90.25));
            (d, t, lat + rng.random_range(-0.004..0.004), lon + rng.random_range(-0.006..0.006))
        })
        .collect();

    let chunk = if state.settings.is_sqlite() { 400 } else { 1000 };
    let mut batch: Vec<Arrival> = Vec::with_capacity(chunk);
    let mut inserted = 0u64;
    for received_at in received.iter().copied() {
        let ctx = GenContext {
            tops: &tops,
            total_weight,
            districts: &districts,
            recipients: &recipients,
            hotspots: &hotspots,
            terms: &terms,
            now,
        };
        batch.push(generate(&mut rng, &ctx, received_at, &mut next_number));
        if batch.len() == chunk {
            inserted += flush(state, &mut batch, chunk).await?;
        }
    }
    inserted += flush(state, &mut batch, chunk).await?;
    // Each batch appended its own ledger rows (many per week and month key): fold them, so
    // analytics are as fast right after the load as after a compaction.
    super::rollup::compact(&state.writer, false).await?;
    // Fresh statistics (or the planner keeps estimating from an empty table) and the
    // visibility map (or index-only scans read every new row from the table).
    crate::db::after_bulk_load(&state.settings, &state.writer).await?;
    Ok(SeedReport { appeals: inserted, users_created })
}

struct GenContext<'a> {
    tops: &'a [(category::Model, Vec<category::Model>, u32)],
    total_weight: u32,
    districts: &'a [territory::Model],
    recipients: &'a HashMap<String, recipient::Model>,
    hotspots: &'a [(usize, usize, f64, f64)],
    terms: &'a Terms,
    now: DateTime<Utc>,
}

fn generate(
    rng: &mut StdRng,
    g: &GenContext<'_>,
    received_at: DateTime<Utc>,
    next_number: &mut HashMap<i32, i64>,
) -> Arrival {
    let channel = match rng.random_range(0..100) {
        0..45 => Channel::Pos,
        45..65 => Channel::Incident,
        65..75 => Channel::Gospabliki,
        75..85 => Channel::Email,
        85..90 => Channel::Post,
        90..95 => Channel::Personal,
        _ => Channel::Phone,
    };
    let kind = match channel {
        Channel::Pos if rng.random_bool(0.15) => AppealKind::Appeal,
        Channel::Pos => AppealKind::Message,
        Channel::Incident | Channel::Gospabliki => AppealKind::Incident,
        _ => AppealKind::Appeal,
    };
    let hotspot = (rng.random_bool(0.08)).then(|| *pick(rng, g.hotspots));
    let (top_idx, district_idx) = if let Some((d, t, _, _)) = hotspot {
        (t, d)
    } else {
        let mut w = rng.random_range(0..g.total_weight);
        let mut idx = 0;
        for (k, t) in g.tops.iter().enumerate() {
            if w < t.2 {
                idx = k;
                break;
            }
            w -= t.2;
        }
        (idx, rng.random_range(0..g.districts.len()))
    };
    let (top, subs, _) = &g.tops[top_idx];
    let sub = if subs.is_empty() { top } else { pick(rng, subs) };
    let district = &g.districts[district_idx];
    let address = format!("{}, д. {}", pick(rng, STREETS), rng.random_range(1..60));
    let text = appeal_text(rng, &sub.name, &address);
    let (lat, lon) = match hotspot {
        Some((_, _, lat, lon)) => (lat + rng.random_range(-0.0004..0.0004), lon + rng.random_range(-0.0006..0.0006)),
        None => (
            district.latitude.unwrap_or(54.0) + rng.random_range(-0.006..0.006),
            district.longitude.unwrap_or(90.25) + rng.random_range(-0.009..0.009),
        ),
    };
    let anonymous = rng.random_bool(0.08);
    let (author_name, author_contact) = if anonymous {
        (None, None)
    } else {
        let first = pick(rng, FIRST);
        let mut last = (*pick(rng, LAST)).to_string();
        if matches!(*first, "Анна" | "Ольга" | "Татьяна" | "Елена" | "Наталья" | "Светлана")
        {
            last.push('а');
        }
        let contact = if rng.random_bool(0.5) {
            format!("user{}@mail.ru", rng.random_range(1000..99_999))
        } else {
            format!(
                "+7 913 {:03}-{:02}-{:02}",
                rng.random_range(0..1000),
                rng.random_range(0..100),
                rng.random_range(0..100)
            )
        };
        (Some(format!("{first} {last}")), Some(contact))
    };
    let recipient = g.recipients.get(&top.name);
    let age_days = (g.now - received_at).num_days();
    let high_priority = kind == AppealKind::Incident && rng.random_bool(0.1);
    let year = g.terms.local_year(received_at);
    let seq = next_number.entry(year).or_insert(1);
    let number = store::format_number(year, *seq);
    *seq += 1;

    // Timeline: registration within a day or two, then routing, then the answer.
    let registered_at = received_at + Duration::hours(rng.random_range(1..60));
    let mut due = g.terms.initial(kind, received_at, high_priority);
    let mut started = received_at;
    if kind == AppealKind::Appeal && age_days >= 2 {
        due = g.terms.answer_after_registration(registered_at);
        started = registered_at;
    }
    let roll = rng.random_range(0..100);
    let external = recipient.is_some_and(|r| r.external);
    let status = if age_days < 1 {
        AppealStatus::Received
    } else if age_days < 3 {
        if rng.random_bool(0.5) { AppealStatus::Registered } else { AppealStatus::Assigned }
    } else if external && roll < 70 {
        AppealStatus::Redirected
    } else if age_days < 12 {
        match roll {
            0..40 => AppealStatus::InProgress,
            40..55 => AppealStatus::Assigned,
            _ => AppealStatus::Answered,
        }
    } else {
        match roll {
            0..4 => AppealStatus::InProgress,
            4..8 => AppealStatus::WithoutAnswer,
            8..11 => AppealStatus::Duplicate,
            11..60 => AppealStatus::Closed,
            _ => AppealStatus::Answered,
        }
    };
    let answered = matches!(status, AppealStatus::Answered | AppealStatus::Closed);
    let term_days = ((due - started).num_hours() as f64 / 24.0).max(1.0);
    let answered_at = answered.then(|| {
        // Most answers come in time; about one in six is late.
        let share: f64 = if rng.random_bool(0.17) { rng.random_range(1.0..1.6) } else { rng.random_range(0.2..1.0) };
        (started + Duration::hours((term_days * 24.0 * share) as i64)).min(g.now - Duration::hours(1))
    });
    let resolved_at = match status {
        AppealStatus::WithoutAnswer | AppealStatus::Duplicate | AppealStatus::Redirected => {
            Some(registered_at + Duration::hours(rng.random_range(2..100)))
        }
        _ => answered_at,
    };
    let rated = answered && rng.random_bool(0.6);
    let score = rated.then(|| match rng.random_range(0..100) {
        0..10 => 1,
        10..18 => 2,
        18..30 => 3,
        30..55 => 4,
        _ => 5,
    });
    let completeness = (answered && rng.random_bool(0.7)).then(|| match rng.random_range(0..100) {
        0..65 => Completeness::Full,
        65..85 => Completeness::Partial,
        85..95 => Completeness::Formal,
        _ => Completeness::None,
    });
    let reopen_count = i32::from(answered && score.is_some_and(|s| s <= 2) && rng.random_bool(0.5));
    let routed = !matches!(status, AppealStatus::Received | AppealStatus::Registered | AppealStatus::Redirected);
    let appeal = FreshAppeal {
        id: (),
        number: number.clone(),
        kind,
        channel,
        external_id: matches!(channel, Channel::Pos | Channel::Incident | Channel::Gospabliki)
            .then(|| format!("{}-{number}", channel.as_str().to_lowercase())),
        status,
        received_at,
        registered_at: (status != AppealStatus::Received).then_some(registered_at),
        anonymous: is_anonymous(author_name.as_deref(), author_contact.as_deref()),
        author_name,
        author_contact,
        search_text: search_text(&text, None, Some(&address)),
        text,
        summary: None,
        category_id: Some(CategoryId(sub.id)),
        suggested_category_id: None,
        territory_id: Some(TerritoryId(district.id)),
        address: Some(address),
        latitude: Some(lat),
        longitude: Some(lon),
        recipient_id: if routed && !external { recipient.map(|r| RecipientId(r.id)) } else { None },
        redirected_to: (status == AppealStatus::Redirected)
            .then(|| recipient.map(|r| r.name.clone()).unwrap_or_default()),
        high_priority,
        sla_started_at: started,
        due_soon_at: g.terms.policy.due_soon_from(started, due),
        due_at: due,
        extension_count: 0,
        reacted_at: None,
        resolved_at,
        answered_at,
        answer_text: answered.then(|| (*pick(rng, ANSWERS)).to_string()),
        completeness,
        no_answer_reason: (status == AppealStatus::WithoutAnswer).then_some(NoAnswerReason::EssenceUnclear),
        satisfaction_score: score,
        satisfied: score.map(|s| s >= 4),
        feedback_code: None,
        feedback_expires_at: None,
        reopen_count,
        first_answer: None,
        reaction: None,
        duplicate_of_id: None,
        version: 1,
        created_at: received_at,
        updated_at: resolved_at.unwrap_or(received_at),
        anonymised_at: None,
    };
    let event = Event {
        action: "seedDemo",
        from: None,
        to: Some(status),
        comment: Some("synthetic demo data".into()),
        payload: Payload::None,
    };
    Arrival { appeal, at: received_at, event }
}

/// Inserts the batch (statements of at most `max` rows) with one history entry per appeal
/// and one audit entry, in one transaction.
async fn flush(state: &AppState, batch: &mut Vec<Arrival>, max: usize) -> AppResult<u64> {
    if batch.is_empty() {
        return Ok(0);
    }
    let txn = crate::db::begin_write(&state.writer).await?;
    let system = Actor::system();
    let stamp =
        BatchStamp { at: state.clock.now(), actor: "system", audit: &system, action: "seedDemo", announce: false };
    let ids = store::insert_many(&txn, state.settings.timezone, std::mem::take(batch), stamp, max).await?;
    txn.commit().await?;
    Ok(ids.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::DEMO_PASSWORD;
    use crate::domain::password::{Owner, refusal};

    #[test]
    fn the_demo_password_passes_the_password_policy() {
        let owner = Owner { email: "curator@demo.mcu", full_name: "Куратор МЦУ" };
        assert_eq!(refusal(DEMO_PASSWORD, &owner), None);
    }
}
