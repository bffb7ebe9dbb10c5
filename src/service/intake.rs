//! Intake from every channel: items pushed by integrations (`ingestAppeals`) and rows of
//! imported files take the same path. Idempotent by (channel, external id): a known item
//! that did not change is counted unchanged, a changed one updates the appeal and leaves
//! an event saying what changed. A bad item is rejected with its row and field and costs
//! nothing else; no item is ever half-written.
//!
//! New items go in as one multi-row insert per batch (numbers reserved at once); if that
//! transaction fails, the batch falls back to one transaction per item, so one conflicting
//! item cannot take the others with it.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, NotSet,
    QueryFilter, Set, Statement,
};

use super::deadlines::Terms;
use super::{Caller, appeals, audit};
use crate::domain::access::{Channel, Principal, Role};
use crate::domain::appeal::{CategoryId, TerritoryId, is_anonymous, search_text};
use crate::domain::deadlines::AppealKind;
use crate::domain::effects::SourceChanges;
use crate::domain::lifecycle::AppealStatus;
use crate::domain::retention::{reopening_refused, reopens, scrub};
use crate::entity::{category, recipient, territory};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::appeals::{
    self as store, Appeal, Arrival, BatchStamp, Change, Event, FreshAppeal, Payload, RecipientId, Stamp,
};
use crate::store::outbox::Subject;

/// Items accepted in one `ingestAppeals` call.
pub const MAX_ITEMS: usize = 1000;

/// One appeal as an integration or a file row gives it.
#[derive(Debug, Clone, Default)]
pub struct IngestItem {
    pub channel: Option<Channel>,
    pub external_id: String,
    pub kind: Option<AppealKind>,
    pub received_at: Option<DateTime<Utc>>,
    pub text: String,
    pub author_name: Option<String>,
    pub author_contact: Option<String>,
    pub category_name: Option<String>,
    pub subcategory_name: Option<String>,
    pub territory_name: Option<String>,
    pub recipient_name: Option<String>,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub url: Option<String>,
    /// A status as the source names it (our enum names or the source's Russian words).
    pub status: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
    pub answer_text: Option<String>,
    pub satisfaction: Option<i32>,
    pub reopened: Option<i32>,
    /// The source's own deadline (ПОС «Дата планируемого завершения работ») and its verdict
    /// on it («Просрочено»): taken only where that verdict and ours disagree.
    pub source_due: Option<DateTime<Utc>>,
    pub source_overdue: Option<bool>,
    /// The source has no status of its own (VK comments, an item or a file row without one):
    /// an update from it leaves the status the centre set, unless it brings an answer the
    /// appeal did not have.
    pub status_by_centre: bool,
    /// Links to files (photos, letters) fetched in the background into the new appeal's
    /// attachments (`service::attachments::fetch_pending`).
    pub attachment_urls: Vec<String>,
}

/// Most links to files one ingested item may give.
pub const MAX_ATTACHMENT_URLS: usize = 5;

/// A rejected item: its row (1-based position or file row), the field and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowError {
    pub row: usize,
    pub field: Option<String>,
    pub message: String,
}

/// Counts of one intake.
#[derive(Debug, Clone, Default)]
pub struct IngestOutcome {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
    pub rejected: Vec<RowError>,
    /// Items not taken in though valid, with the reason: an update that would reopen an
    /// anonymised appeal.
    pub skipped: Vec<RowError>,
}

/// New appeals in one ingestion call from which its ledger rows are folded at once.
const FOLD_AFTER: u32 = 1_000;

/// Options of an intake.
#[derive(Debug, Clone, Copy, Default)]
pub struct IngestOptions {
    /// Create categories and recipients the rubricator does not know yet (else reject the row).
    pub create_missing: bool,
    /// The import report whose counters each committing transaction advances, so that a killed
    /// import's report tells what was committed.
    pub report: Option<i64>,
}

/// Adds to an import report's `created` and `updated` and renews its heartbeat, in the
/// transaction that commits those appeals.
async fn count_in_report(
    txn: &DatabaseTransaction,
    report: Option<i64>,
    created: i32,
    updated: i32,
    now: DateTime<Utc>,
) -> AppResult<()> {
    use sea_orm::sea_query::{Expr, ExprTrait};

    use crate::entity::import_report::{Column, Entity};
    let Some(id) = report else { return Ok(()) };
    Entity::update_many()
        .col_expr(Column::Created, Expr::col(Column::Created).add(created))
        .col_expr(Column::Updated, Expr::col(Column::Updated).add(updated))
        .col_expr(Column::HeartbeatAt, Expr::value(Some(now)))
        .filter(Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Why `principal` may not take in an item of `channel`, if it may not: a coordinator takes in
/// only the channels it coordinates (a curator any). Both the ingestion API and file imports
/// ask here, so a file cannot do what the API refuses.
pub fn channel_refusal(principal: &Principal, channel: Channel) -> Option<String> {
    match principal {
        Principal::User(u) if !u.channels.contains(&channel) && !u.has(Role::Curator) => {
            Some(format!("you do not coordinate the channel {channel}"))
        }
        _ => None,
    }
}

/// Whether `principal` may create the reference data an import does not know yet (categories,
/// recipients): those who may create it directly, and the command line.
pub fn may_create_reference(principal: &Principal) -> bool {
    match principal {
        Principal::User(u) => u.has_any(&[Role::Admin, Role::Curator]),
        Principal::System => true,
        Principal::Anonymous | Principal::Token(_) => false,
    }
}

pub use crate::domain::text::normalize_name;

/// Maps a source status to ours: our enum names, or the usual Russian words of ПОС and
/// «Инцидент менеджмент»; unknown words give RECEIVED (ANSWERED when an answer is given).
pub fn map_status(status: Option<&str>, answered: bool) -> AppealStatus {
    let Some(raw) = status.map(normalize_name).filter(|s| !s.is_empty()) else {
        return if answered { AppealStatus::Answered } else { AppealStatus::Received };
    };
    if let Ok(s) = raw.to_uppercase().replace(' ', "_").parse::<AppealStatus>() {
        return s;
    }
    let has = |w: &str| raw.contains(w);
    if has("заверш") || has("закрыт") {
        AppealStatus::Closed
    } else if has("ответ") && (has("отправлен") || has("дан") || has("направлен")) {
        AppealStatus::Answered
    } else if has("перенаправ") || has("по компетенции") || has("переадрес") {
        AppealStatus::Redirected
    } else if has("без ответа") || has("без рассмотрения") {
        AppealStatus::WithoutAnswer
    } else if has("в работе") || has("исполнени") || has("рассмотрени") {
        AppealStatus::InProgress
    } else if has("назначен") {
        AppealStatus::Assigned
    } else if has("зарегистр") {
        AppealStatus::Registered
    } else if answered {
        AppealStatus::Answered
    } else {
        AppealStatus::Received
    }
}

/// A territory's name without its kind and punctuation, so that «г. Сорск», «г.Сорск»,
/// «город Сорск» and «Сорск» are one place, as are «пос. Усть-Бюр» and «посёлок Усть-Бюр».
pub fn territory_key(name: &str) -> String {
    const KINDS: &[&str] = &[
        "муниципальное образование",
        "городской округ",
        "муниципальный район",
        "сельское поселение",
        "городское поселение",
        "рабочий поселок",
        "поселок городского типа",
        "город",
        "поселок",
        "село",
        "деревня",
        "станция",
        "район",
        "округ",
        "пгт",
        "рп",
        "мо",
        "го",
        "пос",
        "г",
        "п",
        "с",
        "д",
        "ст",
        "р-н",
    ];
    let lowered = normalize_name(name);
    let spaced: String = lowered.chars().map(|c| if c.is_alphanumeric() || c == '-' { c } else { ' ' }).collect();
    let mut words: Vec<&str> = spaced.split_whitespace().collect();
    // Kinds written before or after the name («Сорск г.», «Алтайский район»), one or more.
    loop {
        let joined = words.join(" ");
        let Some(kind) = KINDS.iter().find(|k| {
            (joined.starts_with(*k) && joined[k.len()..].starts_with(' '))
                || (joined.ends_with(*k) && joined[..joined.len() - k.len()].ends_with(' '))
        }) else {
            break;
        };
        let n = kind.split(' ').count();
        if joined.starts_with(kind) && joined[kind.len()..].starts_with(' ') {
            words.drain(..n);
        } else {
            words.truncate(words.len() - n);
        }
    }
    words.join(" ")
}

struct Reference {
    categories: HashMap<(Option<i64>, String), i64>,
    territories: HashMap<String, i64>,
    recipients: HashMap<String, i64>,
    /// Deactivated rows (by id): a name that resolves to one refuses its row, since nothing
    /// new is assigned or classified there. A merged row's name resolves to its successor.
    inactive_categories: HashSet<i64>,
    inactive_territories: HashSet<i64>,
    inactive_recipients: HashSet<i64>,
    /// The write transaction of the categories and recipients this intake creates, begun
    /// with the first of them and committed before any appeal is written ([`Reference::commit`]).
    creating: Option<DatabaseTransaction>,
}

impl Reference {
    async fn creating(&mut self, state: &AppState) -> AppResult<&DatabaseTransaction> {
        if self.creating.is_none() {
            self.creating = Some(crate::db::begin_write(&state.writer).await?);
        }
        self.creating.as_ref().ok_or_else(|| AppError::internal("no transaction for the new reference rows"))
    }

    /// Creates a category the rubricator does not know yet, with its audit entry.
    async fn create_category(
        &mut self,
        state: &AppState,
        caller: &Caller,
        name: String,
        parent_id: Option<i64>,
    ) -> AppResult<i64> {
        let now = state.clock.now();
        let txn = self.creating(state).await?;
        let m = category::ActiveModel {
            id: NotSet,
            name: Set(name),
            parent_id: Set(parent_id),
            default_recipient_id: Set(None),
            active: Set(true),
            merged_into_id: Set(None),
            version: Set(1),
            created_at: Set(now),
        }
        .insert(txn)
        .await?;
        let target = Some(format!("category:{}", m.id));
        audit::record(txn, caller, now, "createCategory", target, Some(serde_json::json!({ "intake": true }))).await?;
        crate::store::reference::announce(txn, Subject::Category(m.id), "createCategory", now).await?;
        Ok(m.id)
    }

    /// Creates a recipient the rubricator does not know yet, with its audit entry.
    async fn create_recipient(&mut self, state: &AppState, caller: &Caller, name: String) -> AppResult<i64> {
        let now = state.clock.now();
        let txn = self.creating(state).await?;
        let m = recipient::ActiveModel {
            id: NotSet,
            name: Set(name),
            short_name: Set(None),
            parent_id: Set(None),
            external: Set(false),
            active: Set(true),
            merged_into_id: Set(None),
            version: Set(1),
            created_at: Set(now),
        }
        .insert(txn)
        .await?;
        let target = Some(format!("recipient:{}", m.id));
        audit::record(txn, caller, now, "createRecipient", target, Some(serde_json::json!({ "intake": true }))).await?;
        crate::store::reference::announce(txn, Subject::Recipient(m.id), "createRecipient", now).await?;
        Ok(m.id)
    }

    /// Commits the reference rows created so far (all or none of them), and has this
    /// process read the reference data again.
    async fn commit(&mut self, state: &AppState) -> AppResult<()> {
        if let Some(txn) = self.creating.take() {
            txn.commit().await?;
            // The change is in the outbox: its subscribers hear of it now, not at the next poll.
            state.announcements.wake_dispatcher();
            super::reference::changed(state).await;
        }
        Ok(())
    }
}

/// Name → id of the rows a name stands for now: a merged row's name resolves to the row it
/// was merged into; where an active and an inactive row share a name, the active one wins.
fn by_name<K: std::hash::Hash + Eq>(rows: Vec<(K, i64, bool, Option<i64>)>) -> (HashMap<K, i64>, HashSet<i64>) {
    let merged: HashMap<i64, i64> = rows.iter().filter_map(|(_, id, _, m)| m.map(|m| (*id, m))).collect();
    let inactive: HashSet<i64> = rows.iter().filter(|(_, _, active, _)| !active).map(|(_, id, _, _)| *id).collect();
    let mut rows = rows;
    // Inactive first, so an active row of the same name overwrites them.
    rows.sort_by_key(|(_, _, active, _)| *active);
    let names = rows.into_iter().map(|(k, id, _, _)| (k, crate::domain::reference::successor(&merged, id))).collect();
    (names, inactive)
}

async fn load_reference(state: &AppState) -> AppResult<Reference> {
    let cats = category::Entity::find().all(&state.db).await?;
    let ters = territory::Entity::find().all(&state.db).await?;
    let recs = recipient::Entity::find().all(&state.db).await?;
    let (categories, inactive_categories) = by_name(
        cats.into_iter().map(|c| ((c.parent_id, normalize_name(&c.name)), c.id, c.active, c.merged_into_id)).collect(),
    );
    let (territories, inactive_territories) =
        by_name(ters.into_iter().map(|t| (territory_key(&t.name), t.id, t.active, t.merged_into_id)).collect());
    let (recipients, inactive_recipients) =
        by_name(recs.into_iter().map(|r| (normalize_name(&r.name), r.id, r.active, r.merged_into_id)).collect());
    Ok(Reference {
        categories,
        territories,
        recipients,
        inactive_categories,
        inactive_territories,
        inactive_recipients,
        creating: None,
    })
}

/// An item checked and resolved against the reference data.
struct Prepared {
    row: usize,
    channel: Channel,
    external_id: String,
    kind: AppealKind,
    received_at: DateTime<Utc>,
    text: String,
    item: IngestItem,
    category_id: Option<CategoryId>,
    territory_id: Option<TerritoryId>,
    recipient_id: Option<RecipientId>,
    status: AppealStatus,
}

fn clean(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

async fn resolve_category(
    state: &AppState,
    caller: &Caller,
    refs: &mut Reference,
    top: Option<&str>,
    sub: Option<&str>,
    create: bool,
) -> AppResult<Result<Option<i64>, (&'static str, String)>> {
    let Some(top) = top.map(normalize_name).filter(|s| !s.is_empty()) else {
        return Ok(Ok(None));
    };
    let parent = if let Some(id) = refs.categories.get(&(None, top.clone())) {
        *id
    } else if let Some((_, id)) = refs.categories.iter().find(|((p, n), _)| p.is_some() && *n == top) {
        // A subcategory named in the category column.
        return Ok(Ok(Some(*id)));
    } else if create {
        let id = refs.create_category(state, caller, top_display(&top), None).await?;
        refs.categories.insert((None, top.clone()), id);
        id
    } else {
        return Ok(Err(("categoryName", format!("unknown category «{top}»"))));
    };
    let Some(sub) = sub.map(normalize_name).filter(|s| !s.is_empty()) else {
        return Ok(Ok(Some(parent)));
    };
    if let Some(id) = refs.categories.get(&(Some(parent), sub.clone())) {
        return Ok(Ok(Some(*id)));
    }
    if refs.inactive_categories.contains(&parent) {
        // No new subcategory under a deactivated category.
        return Ok(Err(("categoryName", format!("the category «{top}» is deactivated"))));
    }
    if !create {
        return Ok(Err(("subcategoryName", format!("unknown subcategory «{sub}» of «{top}»"))));
    }
    let id = refs.create_category(state, caller, top_display(&sub), Some(parent)).await?;
    refs.categories.insert((Some(parent), sub), id);
    Ok(Ok(Some(id)))
}

/// A normalised (lower-case) name with its first letter capitalised, for created entries.
fn top_display(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

async fn prepare(
    state: &AppState,
    caller: &Caller,
    refs: &mut Reference,
    row: usize,
    mut item: IngestItem,
    opts: IngestOptions,
    now: DateTime<Utc>,
) -> AppResult<Result<Prepared, RowError>> {
    // At the stored precision, so that the same item sent again compares unchanged.
    item.received_at = item.received_at.map(crate::domain::stored_instant);
    item.answered_at = item.answered_at.map(crate::domain::stored_instant);
    let reject = |field: &str, message: String| Ok(Err(RowError { row, field: Some(field.to_string()), message }));
    let channel = item.channel.unwrap_or(Channel::Other);
    if let Some(why) = channel_refusal(&caller.principal, channel) {
        return reject("channel", why);
    }
    if item.attachment_urls.len() > MAX_ATTACHMENT_URLS {
        return reject("attachmentUrls", format!("at most {MAX_ATTACHMENT_URLS} links"));
    }
    for u in &item.attachment_urls {
        let ok = u.len() <= 2000
            && url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some());
        if !ok {
            return reject("attachmentUrls", "each must be an http(s) URL of at most 2000 characters".into());
        }
    }
    let external_id = item.external_id.trim().to_string();
    if external_id.is_empty() {
        return reject("externalId", "is required".into());
    }
    if external_id.chars().count() > 200 {
        return reject("externalId", "must be at most 200 characters".into());
    }
    let text = item.text.trim().to_string();
    if text.is_empty() {
        return reject("text", "must not be empty".into());
    }
    if text.chars().count() > appeals::MAX_TEXT {
        return reject("text", format!("must be at most {} characters", appeals::MAX_TEXT));
    }
    let Some(received_at) = item.received_at else {
        return reject("receivedAt", "is required".into());
    };
    if received_at > now + Duration::minutes(5) {
        return reject("receivedAt", "must not be in the future".into());
    }
    if item.latitude.is_some_and(|v| !(-90.0..=90.0).contains(&v)) {
        return reject("latitude", "must be between -90 and 90".into());
    }
    if item.longitude.is_some_and(|v| !(-180.0..=180.0).contains(&v)) {
        return reject("longitude", "must be between -180 and 180".into());
    }
    if item.satisfaction.is_some_and(|s| !(1..=5).contains(&s)) {
        return reject("satisfaction", "must be between 1 and 5".into());
    }
    if item.answered_at.is_some_and(|a| a < received_at) {
        return reject("answeredAt", "is before receivedAt".into());
    }
    // Every check that can refuse the row comes before anything is created for it, so a
    // refused row leaves no category or recipient behind.
    let territory_id = match clean(item.territory_name.as_ref()) {
        None => None,
        Some(name) => match refs.territories.get(&territory_key(&name)) {
            Some(id) if refs.inactive_territories.contains(id) => {
                return reject("territoryName", format!("the territory «{name}» is deactivated"));
            }
            Some(id) => Some(TerritoryId(*id)),
            None => return reject("territoryName", format!("unknown territory «{name}»")),
        },
    };
    let recipient_name = clean(item.recipient_name.as_ref());
    let known_recipient = recipient_name.as_ref().and_then(|n| refs.recipients.get(&normalize_name(n)).copied());
    if let Some(name) = &recipient_name
        && known_recipient.is_none()
        && !opts.create_missing
    {
        return reject("recipientName", format!("unknown recipient «{name}»"));
    }
    if let (Some(name), Some(id)) = (&recipient_name, known_recipient)
        && refs.inactive_recipients.contains(&id)
    {
        return reject("recipientName", format!("the recipient «{name}» is deactivated"));
    }
    if opts.create_missing {
        // What an import creates obeys the rules of creating it directly.
        let names = [
            ("categoryName", &item.category_name),
            ("subcategoryName", &item.subcategory_name),
            ("recipientName", &item.recipient_name),
        ];
        for (field, name) in names {
            if clean(name.as_ref()).is_some_and(|n| n.chars().count() > super::reference::MAX_NAME) {
                return reject(field, format!("must be at most {} characters", super::reference::MAX_NAME));
            }
        }
    }
    let category_id = match resolve_category(
        state,
        caller,
        refs,
        item.category_name.as_deref(),
        item.subcategory_name.as_deref(),
        opts.create_missing,
    )
    .await?
    {
        Ok(Some(c)) if refs.inactive_categories.contains(&c) => {
            let field =
                if clean(item.subcategory_name.as_ref()).is_some() { "subcategoryName" } else { "categoryName" };
            return reject(field, "the category is deactivated".into());
        }
        Ok(c) => c.map(CategoryId),
        Err((field, message)) => return reject(field, message),
    };
    let recipient_id = match (recipient_name, known_recipient) {
        (None, _) => None,
        (Some(_), Some(id)) => Some(id),
        (Some(name), None) => {
            let id = refs.create_recipient(state, caller, name.clone()).await?;
            refs.recipients.insert(normalize_name(&name), id);
            Some(id)
        }
    };
    let kind = item.kind.unwrap_or(match channel {
        Channel::Pos => AppealKind::Message,
        Channel::Incident | Channel::Gospabliki => AppealKind::Incident,
        _ => AppealKind::Appeal,
    });
    let status = map_status(item.status.as_deref(), item.answered_at.is_some());
    Ok(Ok(Prepared {
        row,
        channel,
        external_id,
        kind,
        received_at,
        text,
        item,
        category_id,
        territory_id,
        recipient_id: recipient_id.map(RecipientId),
        status,
    }))
}

/// The answer time an appeal keeps from the source: only an answered or closed appeal has
/// one (a redirected one, or one back in work, keeps none whatever the source's completion
/// date says), so a re-import compares against what the first import stored.
fn stored_answered(p: &Prepared) -> Option<DateTime<Utc>> {
    p.item.answered_at.filter(|_| matches!(p.status, AppealStatus::Answered | AppealStatus::Closed))
}

/// When an arriving appeal counts as resolved: its answer, or for one redirected, left
/// without an answer or closed, the source's completion date (else now).
fn stored_resolved(p: &Prepared, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    stored_answered(p).or_else(|| {
        matches!(p.status, AppealStatus::Redirected | AppealStatus::WithoutAnswer | AppealStatus::Closed)
            .then(|| p.item.answered_at.unwrap_or(now))
    })
}

/// Start and deadline of the answer term, as on arrival: by the rules, unless the source says
/// the appeal was (or was not) overdue where the rules' deadline says otherwise and gives
/// its own deadline that agrees with what it says: ПОС keeps extensions and its own
/// calendar that an export does not show, and the appeal's SLA state must not contradict it.
fn term(p: &Prepared, terms: &Terms, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let registered = !matches!(p.status, AppealStatus::Received);
    let due = if p.kind == AppealKind::Appeal && registered {
        terms.answer_after_registration(p.received_at)
    } else {
        terms.initial(p.kind, p.received_at, false)
    };
    let finished = stored_resolved(p, now);
    let late = |due: DateTime<Utc>| finished.unwrap_or(now) > due;
    match (p.item.source_overdue, p.item.source_due) {
        (Some(overdue), Some(theirs)) if late(due) != overdue && late(theirs) == overdue => (p.received_at, theirs),
        _ => (p.received_at, due),
    }
}

fn new_appeal(
    p: &Prepared,
    terms: &Terms,
    number: String,
    now: DateTime<Utc>,
    suggested: Option<CategoryId>,
) -> FreshAppeal {
    let item = &p.item;
    let registered = !matches!(p.status, AppealStatus::Received);
    let (start, due) = term(p, terms, now);
    let answered = stored_answered(p);
    let resolved = stored_resolved(p, now);
    let author_name = clean(item.author_name.as_ref());
    let author_contact = clean(item.author_contact.as_ref());
    let address = clean(item.address.as_ref());
    FreshAppeal {
        id: (),
        number,
        kind: p.kind,
        channel: p.channel,
        external_id: Some(p.external_id.clone()),
        status: p.status,
        received_at: p.received_at,
        registered_at: registered.then_some(p.received_at),
        anonymous: is_anonymous(author_name.as_deref(), author_contact.as_deref()),
        author_name,
        author_contact,
        search_text: search_text(&p.text, None, address.as_deref()),
        text: p.text.clone(),
        summary: None,
        category_id: p.category_id,
        suggested_category_id: suggested,
        territory_id: p.territory_id,
        address,
        latitude: item.latitude,
        longitude: item.longitude,
        recipient_id: p.recipient_id,
        redirected_to: None,
        high_priority: false,
        sla_started_at: start,
        due_soon_at: terms.policy.due_soon_from(start, due),
        due_at: due,
        extension_count: 0,
        reacted_at: None,
        resolved_at: resolved,
        answered_at: answered,
        answer_text: clean(item.answer_text.as_ref()),
        completeness: None,
        no_answer_reason: None,
        satisfaction_score: item.satisfaction,
        satisfied: item.satisfaction.map(|s| s >= 4),
        feedback_code: None,
        feedback_expires_at: None,
        reopen_count: item.reopened.unwrap_or(0).max(0),
        first_answer: None,
        reaction: None,
        duplicate_of_id: None,
        version: 1,
        created_at: now,
        updated_at: now,
        anonymised_at: None,
    }
}

/// What an update from the source would store of its texts and author: as given, or on an
/// anonymised appeal no name and no contact, and the text and answer masked as the
/// anonymiser masks them (the source's name and contact of the author removed wherever they
/// occur, then the free-text masker), so that a later import does not bring the personal
/// data back.
struct AsStored {
    text: String,
    answer: Option<String>,
    author: Option<String>,
    contact: Option<String>,
}

fn as_stored(a: &Appeal, p: &Prepared) -> AsStored {
    let author = clean(p.item.author_name.as_ref());
    let contact = clean(p.item.author_contact.as_ref());
    let answer = clean(p.item.answer_text.as_ref());
    if a.anonymised_at.is_none() {
        return AsStored { text: p.text.clone(), answer, author, contact };
    }
    let known: Vec<String> = [author, contact].into_iter().flatten().collect();
    AsStored { text: scrub(&p.text, &known), answer: answer.map(|t| scrub(&t, &known)), author: None, contact: None }
}

/// The fields an update from the source may change, with their new values.
fn changes(a: &Appeal, p: &Prepared) -> SourceChanges {
    let item = &p.item;
    let differs = |changed: bool| changed.then_some(());
    let answered = stored_answered(p);
    let AsStored { text, answer, author, contact } = as_stored(a, p);
    SourceChanges {
        text: differs(a.text != text).map(|()| text),
        received_at: differs(a.received_at != p.received_at).map(|()| p.received_at),
        status: differs(
            a.status != p.status && (!item.status_by_centre || (answered.is_some() && a.answered_at.is_none())),
        )
        .map(|()| p.status),
        category_id: p.category_id.filter(|_| a.category_id != p.category_id),
        territory_id: p.territory_id.filter(|_| a.territory_id != p.territory_id),
        recipient_id: p.recipient_id.filter(|_| a.recipient_id != p.recipient_id),
        answered_at: answered.filter(|_| a.answered_at != answered),
        author_name: author.clone().filter(|_| a.author_name != author),
        author_contact: contact.clone().filter(|_| a.author_contact != contact),
        answer_text: answer.clone().filter(|_| a.answer_text != answer),
        satisfaction: item.satisfaction.filter(|_| a.satisfaction_score != item.satisfaction),
        reopen_count: item.reopened.filter(|r| *r != a.reopen_count),
    }
}

/// Why an update from the source is not applied, if it is not: it would reopen an anonymised
/// appeal (its status back into work, or one more repeated review). The item is skipped as a
/// whole and reported with the field at fault; the appeal stays closed and anonymised.
fn refusal(a: &Appeal, changed: &SourceChanges) -> Option<RowError> {
    let to = changed.status.unwrap_or(a.status);
    let reviews = changed.reopen_count.unwrap_or(a.reopen_count);
    if a.anonymised_at.is_none() || !reopens(a.status, to, a.reopen_count, reviews) {
        return None;
    }
    let field = if a.status.is_open() || !to.is_open() { "reopened" } else { "status" };
    Some(RowError { row: 0, field: Some(field.into()), message: reopening_refused(&a.number) })
}

/// The appeal as the source now gives it, with the history entry saying what changed.
fn source_change(a: &Appeal, p: &Prepared, changed: SourceChanges, terms: &Terms, now: DateTime<Utc>) -> Change {
    let item = &p.item;
    let mut next = a.clone();
    if let Some(text) = &changed.text {
        next.text.clone_from(text);
        next.search_text = search_text(text, a.summary.as_deref(), a.address.as_deref());
    }
    if changed.status.is_some() {
        next.status = p.status;
    }
    if changed.category_id.is_some() {
        next.category_id = p.category_id;
    }
    if changed.territory_id.is_some() {
        next.territory_id = p.territory_id;
    }
    if changed.recipient_id.is_some() {
        next.recipient_id = p.recipient_id;
    }
    if changed.received_at.is_some() {
        // A corrected receipt moves the first term with it, as on arrival; a term set later
        // (an extension, a repeated review) is the centre's and stays.
        next.received_at = p.received_at;
        if a.registered_at.is_some_and(|r| r == a.received_at) {
            next.registered_at = Some(p.received_at);
        }
        if a.extension_count == 0 && a.reopen_count == 0 && a.sla_started_at == a.received_at {
            let (start, due) = term(p, terms, now);
            next.sla_started_at = start;
            next.due_at = due;
            next.due_soon_at = terms.policy.due_soon_from(start, due);
        }
    }
    if changed.answered_at.is_some() {
        next.answered_at = stored_answered(p);
        next.resolved_at = stored_answered(p);
    }
    if changed.author_name.is_some() || changed.author_contact.is_some() {
        let name = clean(item.author_name.as_ref()).or_else(|| a.author_name.clone());
        let contact = clean(item.author_contact.as_ref()).or_else(|| a.author_contact.clone());
        next.anonymous = is_anonymous(name.as_deref(), contact.as_deref());
        next.author_name = name;
        next.author_contact = contact;
    }
    if changed.answer_text.is_some() {
        next.answer_text.clone_from(&changed.answer_text);
    }
    // Anonymised since its last change, and this change stores nothing personal: it stays
    // anonymised (the next retention run has nothing to do here).
    if a.anonymised_at.is_some_and(|at| at >= a.updated_at) {
        next.anonymised_at = Some(now);
    }
    if changed.satisfaction.is_some() {
        next.satisfaction_score = item.satisfaction;
        next.satisfied = item.satisfaction.map(|s| s >= 4);
    }
    if changed.reopen_count.is_some() {
        next.reopen_count = item.reopened.unwrap_or(0).max(0);
    }
    let event = Event {
        action: "ingestUpdate",
        from: Some(a.status),
        to: Some(p.status),
        comment: Some(format!("changed in the source: {}", changed.names().join(", "))),
        payload: Payload::ChangedInSource(changed),
    };
    Change { next, event }
}

async fn suggestion(state: &AppState, p: &Prepared) -> Option<CategoryId> {
    if p.category_id.is_some() {
        return None;
    }
    let model = super::classifier::cached(state).await?;
    let (id, confidence) = model.model.predict(&p.text, 1).into_iter().next()?;
    (confidence >= state.settings.suggestion_threshold).then_some(CategoryId(id))
}

/// Rows a bulk statement writes at most: 1,000 appeals bind 42,000 values, more than
/// SQLite allows in one statement (32,766), so 300 there.
fn bulk_max(state: &AppState) -> usize {
    if state.settings.is_sqlite() { 300 } else { 1000 }
}

/// Inserts new appeals in one transaction; returns how many.
async fn insert_batch(
    state: &AppState,
    caller: &Caller,
    batch: &[&Prepared],
    terms: &Terms,
    now: DateTime<Utc>,
    report: Option<i64>,
) -> AppResult<u32> {
    if batch.is_empty() {
        return Ok(0);
    }
    let year = terms.local_year(now);
    let mut suggestions = Vec::with_capacity(batch.len());
    for p in batch {
        suggestions.push(suggestion(state, p).await);
    }
    // The records are made before the transaction: it holds the year's number counter from
    // its first statement to its commit, and another call waits for it that long.
    let mut arrivals: Vec<Arrival> = batch
        .iter()
        .zip(suggestions)
        .map(|(p, s)| {
            let appeal = new_appeal(p, terms, String::new(), now, s);
            let payload = p.item.url.clone().map_or(Payload::None, |url| Payload::Ingested { url });
            let event = Event { action: "ingestAppeal", from: None, to: Some(appeal.status), comment: None, payload };
            Arrival { appeal, at: now, event }
        })
        .collect();
    let txn = crate::db::begin_write(&state.writer).await?;
    let first = store::reserve_numbers(&txn, year, batch.len() as i64).await?;
    for (i, a) in arrivals.iter_mut().enumerate() {
        a.appeal.number = store::format_number(year, first + i as i64);
    }
    let actor = caller.principal.label();
    let audit = audit::actor(caller);
    let stamp = BatchStamp { at: now, actor: &actor, audit: &audit, action: "ingestAppeals", announce: true };
    let ids = store::insert_many(&txn, state.settings.timezone, arrivals, stamp, bulk_max(state)).await?;
    // Links to files are fetched later, outside the transaction (`attachments::fetch_pending`);
    // they are recorded with their appeals, so none is lost if the process stops.
    let links: Vec<(i64, &str)> = batch
        .iter()
        .zip(&ids)
        .flat_map(|(p, id)| p.item.attachment_urls.iter().map(move |u| (id.0, u.as_str())))
        .collect();
    super::attachments::record_links(&txn, &links, now).await?;
    count_in_report(&txn, report, ids.len() as i32, 0, state.clock.now()).await?;
    txn.commit().await?;
    // The change is in the outbox: its subscribers hear of it now, not at the next poll.
    state.announcements.wake_dispatcher();
    Ok(ids.len() as u32)
}

/// Takes in a list of items; `rows` are their positions for error reports.
pub async fn ingest(
    state: &AppState,
    caller: &Caller,
    items: Vec<(usize, IngestItem)>,
    opts: IngestOptions,
) -> AppResult<IngestOutcome> {
    let now = state.clock.now();
    let terms = Terms::load(state, &state.db).await?;
    let mut refs = load_reference(state).await?;
    let mut out = IngestOutcome::default();
    let mut prepared = Vec::with_capacity(items.len());
    for (row, item) in items {
        match prepare(state, caller, &mut refs, row, item, opts, now).await? {
            Ok(p) => prepared.push(p),
            Err(e) => out.rejected.push(e),
        }
    }
    // Before the appeals that use them, and before the writer is asked for again.
    refs.commit(state).await?;
    // Which of them exist already, in one query per channel and chunk.
    let mut existing: HashMap<(Channel, String), Appeal> = HashMap::new();
    let mut by_channel: HashMap<Channel, Vec<String>> = HashMap::new();
    for p in &prepared {
        by_channel.entry(p.channel).or_default().push(p.external_id.clone());
    }
    for (channel, ids) in by_channel {
        for r in store::by_external_ids(&state.db, channel, &ids, 500).await? {
            existing.insert((r.channel, r.external_id.clone().unwrap_or_default()), r);
        }
    }
    let mut fresh: Vec<&Prepared> = Vec::new();
    let mut later: Vec<&Prepared> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in &prepared {
        let key = (p.channel, p.external_id.clone());
        if existing.contains_key(&key) || !seen.insert(key) {
            later.push(p);
        } else {
            fresh.push(p);
        }
    }
    // One transaction for a call's new items, in statements of at most `bulk_max` rows: a
    // transaction writes each page it touched once (to SQLite's WAL), and appeals received
    // over a year touch pages all over the indexes, so 300-row transactions wrote most pages
    // three times over (a ПОС import into SQLite: 3,278 → 5,178 rows/s).
    // The whole call is one transaction (an API call brings at most `MAX_ITEMS`, an import
    // hands over `imports::CHUNK` rows at a time); only a call from elsewhere is cut at
    // `MAX_ITEMS` on PostgreSQL, where a transaction holds the year's number counter, and
    // with it every other writer of new appeals, until it commits.
    let per_transaction =
        if state.settings.is_sqlite() || opts.report.is_some() { fresh.len().max(1) } else { MAX_ITEMS };
    for part in fresh.chunks(per_transaction) {
        match insert_batch(state, caller, part, &terms, now, opts.report).await {
            Ok(n) => out.created += n,
            Err(AppError::Internal(_) | AppError::Conflict(_)) => {
                // Someone else inserted one of these meanwhile: go item by item.
                for p in part {
                    later.push(p);
                }
            }
            Err(e) => return Err(e),
        }
    }
    for p in later {
        // An item equal to the appeal the lookup above read is unchanged: no second read.
        // (A change that lands after that read is ordered after this call, as if it came later.)
        let key = (p.channel, p.external_id.clone());
        if existing.get(&key).is_some_and(|a| changes(a, p).is_empty()) {
            out.unchanged += 1;
            continue;
        }
        match ingest_one(state, caller, p, &terms, now, opts.report).await {
            Ok(Applied::Created) => out.created += 1,
            Ok(Applied::Updated) => out.updated += 1,
            Ok(Applied::Unchanged) => out.unchanged += 1,
            Ok(Applied::Skipped(why)) => out.skipped.push(RowError { row: p.row, ..why }),
            // Storage that cannot write fails the whole call: nothing is reported as done
            // (an item is idempotent, so the caller sends the call again).
            Err(e @ AppError::Unavailable(_)) => return Err(e),
            Err(e) => out.rejected.push(RowError { row: p.row, field: None, message: e.message() }),
        }
    }
    out.rejected.sort_by_key(|e| e.row);
    out.skipped.sort_by_key(|e| e.row);
    if out.created > 0 {
        refresh_statistics(state, out.created).await;
    }
    // A burst through the API folds the ledger rows it appended in the background, at most
    // once a second and once after its last call (an import folds once at its end instead).
    if opts.report.is_none() && out.created >= FOLD_AFTER {
        let writer = state.writer.clone();
        let folds = state.folds.clone();
        tokio::spawn(crate::state::in_background(async move {
            if let Some(Err(e)) = folds.fold_after(super::rollup::compact(&writer, false)).await {
                tracing::warn!(error = %e.message(), "could not fold the analytics rollups after an ingestion");
            }
        }));
    }
    Ok(out)
}

/// After a bulk load into a young table, PostgreSQL plans from statistics of a far smaller
/// table (prepared statements keep a generic plan made when it was nearly empty) until
/// autovacuum analyzes it, a minute or more later: on a fresh database the lookup of
/// existing external ids went from 1.5 ms to 440 ms in 40 batches. So when a call grew
/// the table by more than a fifth, `ANALYZE appeals` now (this also drops those plans).
async fn refresh_statistics(state: &AppState, created: u32) {
    if state.settings.is_sqlite() {
        return;
    }
    let rows = state
        .db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT CAST(reltuples AS DOUBLE PRECISION) AS n FROM pg_class WHERE oid = 'appeals'::regclass",
        ))
        .await
        .ok()
        .flatten()
        .and_then(|r| r.try_get::<f64>("", "n").ok());
    if rows.is_some_and(|n| n >= 0.0 && f64::from(created) <= n * 0.2) {
        return;
    }
    if let Err(e) = state.db.execute_unprepared("ANALYZE appeals").await {
        tracing::warn!(error = %e, "could not analyze appeals after a bulk load");
    }
}

enum Applied {
    Created,
    Updated,
    Unchanged,
    /// Not applied, with the reason (its row is the caller's to fill in).
    Skipped(RowError),
}

async fn ingest_one(
    state: &AppState,
    caller: &Caller,
    p: &Prepared,
    terms: &Terms,
    now: DateTime<Utc>,
    report: Option<i64>,
) -> AppResult<Applied> {
    match store::by_external_id(&state.db, p.channel, &p.external_id).await? {
        None => {
            insert_batch(state, caller, &[p], terms, now, report).await?;
            Ok(Applied::Created)
        }
        Some(a) => {
            let changed = changes(&a, p);
            if changed.is_empty() {
                return Ok(Applied::Unchanged);
            }
            if let Some(why) = refusal(&a, &changed) {
                return Ok(Applied::Skipped(why));
            }
            let change = source_change(&a, p, changed, terms, now);
            let actor = caller.principal.label();
            let audit = audit::actor(caller);
            let stamp = Stamp { at: now, actor: &actor, audit: Some(&audit) };
            let txn = crate::db::begin_write(&state.writer).await?;
            store::save_change(&txn, state.settings.timezone, &a, change, stamp).await?;
            count_in_report(&txn, report, 0, 1, state.clock.now()).await?;
            txn.commit().await?;
            // The change is in the outbox: its subscribers hear of it now, not at the next poll.
            state.announcements.wake_dispatcher();
            Ok(Applied::Updated)
        }
    }
}
