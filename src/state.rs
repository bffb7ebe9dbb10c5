//! Shared application state: cheap to clone, no per-replica mutable data except caches.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tokio::sync::{RwLock, Semaphore};

use crate::config::Settings;
use crate::crypto::JwtKeys;
use crate::domain::classifier::TrainedModel;
use crate::entity::{category, recipient, territory};

/// The source of "now". Real time in production; tests may freeze or shift it.
#[derive(Clone)]
pub struct Clock {
    /// Offset from the system clock in milliseconds (0 in production).
    offset_ms: Arc<AtomicI64>,
    /// A frozen instant in microseconds since the epoch (the stored precision, so a test may
    /// stop the clock at an instant read from the database), or `i64::MIN` when running.
    frozen_us: Arc<AtomicI64>,
}

impl Default for Clock {
    fn default() -> Self {
        Self { offset_ms: Arc::default(), frozen_us: Arc::new(AtomicI64::new(i64::MIN)) }
    }
}

impl Clock {
    /// The current instant, in microseconds (see [`crate::domain::stored_instant`]).
    pub fn now(&self) -> DateTime<Utc> {
        let frozen = self.frozen_us.load(Ordering::Relaxed);
        if frozen != i64::MIN {
            return DateTime::from_timestamp_micros(frozen).unwrap_or_default();
        }
        crate::domain::stored_instant(
            Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed)),
        )
    }

    /// Moves this clock (and every clone of it); for tests of time-based rules.
    pub fn advance(&self, by: chrono::Duration) {
        let ms = by.num_milliseconds();
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
        let _ = self
            .frozen_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |f| (f != i64::MIN).then(|| f + ms * 1000));
    }

    /// Stops this clock at `at` (for tests that compare exact instants).
    pub fn freeze_at(&self, at: DateTime<Utc>) {
        self.frozen_us.store(crate::domain::stored_instant(at).timestamp_micros(), Ordering::Relaxed);
    }
}

/// Counters served at `/metrics` (Prometheus text format).
#[derive(Debug, Default)]
pub struct Metrics {
    pub sql_statements: std::sync::atomic::AtomicU64,
    pub sql_errors: std::sync::atomic::AtomicU64,
    pub sql_micros: std::sync::atomic::AtomicU64,
    pub graphql_requests: std::sync::atomic::AtomicU64,
    /// Statements run by background jobs (dispatcher, memo, watch), kept apart so that the
    /// per-request figures above are not blurred by work nobody asked for.
    pub background_sql_statements: std::sync::atomic::AtomicU64,
    /// Appeals read to weigh an announced change against `appealChanged` subscribers: one per
    /// change and process, however many subscribers listen.
    pub subscription_appeal_reads: std::sync::atomic::AtomicU64,
    /// WebSocket connections open at `/graphql/ws` now (capped by `MCU_WS_MAX_CONNECTIONS`).
    pub ws_connections: std::sync::atomic::AtomicU64,
}

tokio::task_local! {
    static BACKGROUND: ();
}

/// Runs `work` as background work: its SQL statements are counted apart from requests'.
pub async fn in_background<F: std::future::Future>(work: F) -> F::Output {
    BACKGROUND.scope((), work).await
}

/// Whether the current task runs background work ([`in_background`]).
pub fn is_background() -> bool {
    BACKGROUND.try_with(|()| ()).is_ok()
}

/// Everything a request needs.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// What write transactions run on ([`crate::db::connect_writer`]): the pool itself on
    /// PostgreSQL, one connection with a larger page cache on SQLite.
    pub writer: DatabaseConnection,
    /// The one-statement reads of requests on the pool of `db`, without a ping per statement
    /// on PostgreSQL ([`crate::db::Reads`]).
    pub reads: crate::db::Reads,
    pub settings: Arc<Settings>,
    pub jwt: Arc<JwtKeys>,
    /// Limits concurrent Argon2id computations (memory- and CPU-hard).
    pub hash_permits: Arc<Semaphore>,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    /// The topic classifier in memory (derived from the database; any replica may rebuild it).
    pub classifier: Arc<ClassifierCache>,
    /// Changes announced through the outbox, as this process learns of them.
    pub announcements: Announcements,
    /// Recipients, categories and territories in memory, invalidated on change.
    pub reference: Arc<ReferenceCache>,
    /// The people of recently checked access tokens, invalidated on any change of accounts
    /// or sessions.
    pub sessions: Arc<SessionCache>,
    /// The SMTP sender, when e-mail is configured.
    pub mailer: Option<Arc<crate::mailer::Mailer>>,
    /// Seals the secrets kept in the database (webhook signing keys).
    pub sealer: Arc<crate::crypto::SecretSealer>,
    /// The HTTP client of outgoing webhooks.
    pub webhooks: Arc<crate::webhook_client::WebhookClient>,
    /// Where attached files are kept.
    pub storage: Arc<crate::storage::Storage>,
    /// Spaces the folds of the analytics ledger that ingestion calls ask for.
    pub folds: Arc<FoldGate>,
}

/// The folds of the analytics ledger after ingestion calls: at most one starts per
/// [`FoldGate::SPACING`], and one always starts after the last call of a burst. Folding after
/// every call of a burst of 1,000-item calls a few hundred milliseconds apart cost about ten
/// statements and commits a call, a sixth of the database's work during an ingestion.
#[derive(Default)]
pub struct FoldGate {
    /// A fold is waiting to start: later calls are covered by it.
    scheduled: std::sync::atomic::AtomicBool,
    /// When the last fold started.
    last: std::sync::Mutex<Option<std::time::Instant>>,
    /// Held while a fold runs, so a fold does not start while the one before it still reads
    /// (nor skips the rows that one had passed already, as a "busy, skip" flag did).
    running: tokio::sync::Mutex<()>,
}

impl FoldGate {
    /// The shortest time between the starts of two folds.
    pub const SPACING: std::time::Duration = std::time::Duration::from_secs(1);

    /// Runs `fold` once every change committed before this call has been folded by it or by
    /// a fold already waiting: waits out the spacing, then folds; returns at once (`None`)
    /// when a waiting fold covers the call.
    pub async fn fold_after<F, T>(&self, fold: F) -> Option<T>
    where
        F: std::future::Future<Output = T>,
    {
        use std::sync::atomic::Ordering;
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return None;
        }
        let last = *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(wait) = last.map(|t| Self::SPACING.saturating_sub(t.elapsed())) {
            tokio::time::sleep(wait).await;
        }
        let _running = self.running.lock().await;
        // From here on a call that commits asks for the next fold: this one may have read
        // the ledger before its rows.
        *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(std::time::Instant::now());
        self.scheduled.store(false, Ordering::Release);
        Some(fold.await)
    }
}

/// The topic model in memory, with the fingerprint of its training data (kept by
/// `service::classifier`, which trains and refreshes it).
pub type ClassifierCache = RwLock<Option<Arc<TrainedModel>>>;

/// The in-process side of the outbox: the dispatcher is woken when this process commits an
/// outbox row, and every dispatched row (by this process or, on PostgreSQL, by another one,
/// through `LISTEN/NOTIFY`) is broadcast to this process's live subscribers.
#[derive(Clone)]
pub struct Announcements {
    sender: tokio::sync::broadcast::Sender<Arc<crate::entity::outbox::Model>>,
    wake: Arc<tokio::sync::Notify>,
    deliveries: Arc<tokio::sync::Notify>,
    mail: Arc<tokio::sync::Notify>,
    /// This server among those announcing on one database (random per start): its own
    /// announcements, published by its dispatcher, are skipped when its listener hears them.
    origin: Arc<str>,
}

impl Default for Announcements {
    fn default() -> Self {
        Self {
            sender: tokio::sync::broadcast::channel(4096).0,
            wake: Arc::default(),
            deliveries: Arc::default(),
            mail: Arc::default(),
            origin: format!("@{}", crate::crypto::random_hex(8)).into(),
        }
    }
}

impl Announcements {
    /// This server's mark on its announcements (`@` and random hex).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A receiver of every announcement from now on (a slow receiver misses the oldest).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<crate::entity::outbox::Model>> {
        self.sender.subscribe()
    }

    /// Hands dispatched rows to this process's subscribers.
    pub fn publish(&self, row: Arc<crate::entity::outbox::Model>) {
        // No receiver is not an error: nobody is listening in this process.
        let _ = self.sender.send(row);
    }

    /// Tells the dispatcher that an outbox row was committed (it also polls on its own).
    pub fn wake_dispatcher(&self) {
        self.wake.notify_one();
    }

    /// Waits for [`Self::wake_dispatcher`].
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Tells this process's delivery job that deliveries fell due (fanned out, or sent again
    /// by an administrator); it also looks on its own.
    pub fn wake_deliveries(&self) {
        self.deliveries.notify_one();
    }

    /// Waits for [`Self::wake_deliveries`].
    pub async fn deliveries_woken(&self) {
        self.deliveries.notified().await;
    }

    /// Tells this process's mail sender that e-mail may have been queued.
    pub fn wake_mail(&self) {
        self.mail.notify_one();
    }

    /// Waits for [`Self::wake_mail`].
    pub async fn mail_woken(&self) {
        self.mail.notified().await;
    }
}

/// Reference data in memory: every recipient, category and territory, with the category and
/// territory trees. What an appeal shows by name, and what scopes and filters expand (a
/// territory's subtree, a category's subcategories), is read from here instead of the
/// database; `service::reference::snapshot` reads it again (three statements) when stale.
#[derive(Debug, Default)]
pub struct ReferenceData {
    /// The [`ReferenceCache`] generation this data was read at (0: never read).
    pub generation: u64,
    /// When it was read.
    pub read_at: Option<std::time::Instant>,
    recipients: HashMap<i64, recipient::Model>,
    categories: HashMap<i64, category::Model>,
    territories: HashMap<i64, territory::Model>,
    /// Subcategories of each category, by name.
    category_children: HashMap<i64, Vec<i64>>,
    /// Child territories of each territory.
    territory_children: HashMap<i64, Vec<i64>>,
    /// Ids by name (the order of the reference lists).
    recipients_by_name: Vec<i64>,
    categories_by_name: Vec<i64>,
    territories_by_name: Vec<i64>,
}

impl ReferenceData {
    /// The data of these rows, read at `generation`.
    pub fn new(
        generation: u64,
        recipients: Vec<recipient::Model>,
        categories: Vec<category::Model>,
        territories: Vec<territory::Model>,
    ) -> Self {
        fn by_name<'a>(rows: impl Iterator<Item = (&'a str, i64)>) -> Vec<i64> {
            let mut v: Vec<(&str, i64)> = rows.collect();
            v.sort_unstable();
            v.into_iter().map(|(_, id)| id).collect()
        }
        let recipients_by_name = by_name(recipients.iter().map(|r| (r.name.as_str(), r.id)));
        let categories_by_name = by_name(categories.iter().map(|c| (c.name.as_str(), c.id)));
        let territories_by_name = by_name(territories.iter().map(|t| (t.name.as_str(), t.id)));
        let categories: HashMap<i64, category::Model> = categories.into_iter().map(|c| (c.id, c)).collect();
        let mut category_children: HashMap<i64, Vec<i64>> = HashMap::new();
        for id in &categories_by_name {
            if let Some(p) = categories.get(id).and_then(|c| c.parent_id) {
                category_children.entry(p).or_default().push(*id);
            }
        }
        let mut territory_children: HashMap<i64, Vec<i64>> = HashMap::new();
        for t in &territories {
            if let Some(p) = t.parent_id {
                territory_children.entry(p).or_default().push(t.id);
            }
        }
        Self {
            generation,
            read_at: Some(std::time::Instant::now()),
            recipients: recipients.into_iter().map(|r| (r.id, r)).collect(),
            categories,
            territories: territories.into_iter().map(|t| (t.id, t)).collect(),
            category_children,
            territory_children,
            recipients_by_name,
            categories_by_name,
            territories_by_name,
        }
    }

    pub fn recipient(&self, id: i64) -> Option<&recipient::Model> {
        self.recipients.get(&id)
    }

    pub fn category(&self, id: i64) -> Option<&category::Model> {
        self.categories.get(&id)
    }

    pub fn territory(&self, id: i64) -> Option<&territory::Model> {
        self.territories.get(&id)
    }

    /// Every recipient, by name.
    pub fn recipients(&self) -> impl Iterator<Item = &recipient::Model> {
        self.recipients_by_name.iter().filter_map(|id| self.recipients.get(id))
    }

    /// Every category of both levels, by name.
    pub fn categories(&self) -> impl Iterator<Item = &category::Model> {
        self.categories_by_name.iter().filter_map(|id| self.categories.get(id))
    }

    /// Every territory, by name.
    pub fn territories(&self) -> impl Iterator<Item = &territory::Model> {
        self.territories_by_name.iter().filter_map(|id| self.territories.get(id))
    }

    /// The subcategories of a category, by name.
    pub fn category_children(&self, id: i64) -> impl Iterator<Item = &category::Model> {
        self.category_children.get(&id).into_iter().flatten().filter_map(|c| self.categories.get(c))
    }

    /// All ids of the territory subtree rooted at `root` (including it, known or not).
    pub fn territory_subtree(&self, root: i64) -> HashSet<i64> {
        let mut out = HashSet::new();
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            if out.insert(id) {
                stack.extend(self.territory_children.get(&id).into_iter().flatten().copied());
            }
        }
        out
    }

    /// Whether any of these ids is missing (a row created since this data was read).
    pub fn lacks(&self, recipient: Option<i64>, category: Option<i64>, territory: Option<i64>) -> bool {
        recipient.is_some_and(|id| !self.recipients.contains_key(&id))
            || category.is_some_and(|id| !self.categories.contains_key(&id))
            || territory.is_some_and(|id| !self.territories.contains_key(&id))
    }
}

/// What identifies the session of an access token: its person, the person's session epoch
/// and the refresh-token family it was issued with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub user: i64,
    pub epoch: i32,
    pub family: Option<String>,
}

#[derive(Debug)]
struct CachedSession {
    principal: crate::domain::access::Principal,
    at: std::time::Instant,
    generation: u64,
}

/// Most sessions held; when full, the cache starts again empty.
const MAX_SESSIONS: usize = 100_000;

/// The people of access tokens checked in the last moments, so that a request does not read
/// the account row: an entry is used for at most `ttl`, and every change of an account or a
/// session (this process's at once, another's when its announcement arrives) drops them all.
/// A read that began before a change is never kept (the generation it started at is stale).
#[derive(Debug)]
pub struct SessionCache {
    entries: std::sync::Mutex<HashMap<SessionKey, CachedSession>>,
    generation: AtomicU64,
    ttl: std::time::Duration,
}

impl SessionCache {
    /// A cache whose entries live `ttl` (zero: nothing is kept).
    pub fn new(ttl: std::time::Duration) -> Self {
        Self { entries: std::sync::Mutex::default(), generation: AtomicU64::new(1), ttl }
    }

    /// The person of this session, if checked less than `ttl` ago and nothing changed since.
    pub fn get(&self, key: &SessionKey) -> Option<crate::domain::access::Principal> {
        let generation = self.generation.load(Ordering::Acquire);
        let entries = self.entries.lock().ok()?;
        let e = entries.get(key)?;
        (e.generation == generation && e.at.elapsed() < self.ttl).then(|| e.principal.clone())
    }

    /// The generation a check starting now is tagged with.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps the person of a session checked from the generation `generation`, unless
    /// something changed since that check began.
    pub fn put(&self, key: SessionKey, principal: crate::domain::access::Principal, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock()
            && generation == self.generation.load(Ordering::Acquire)
        {
            if entries.len() >= MAX_SESSIONS {
                entries.clear();
            }
            entries.insert(key, CachedSession { principal, at: std::time::Instant::now(), generation });
        }
    }

    /// Drops every entry: an account or a session changed (here or in another process).
    pub fn invalidate(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.clear();
        } else {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// The shared [`ReferenceData`] and when it is stale: every change this process makes or
/// hears of (the outbox's `REFERENCE_CHANGED`, on PostgreSQL through `LISTEN/NOTIFY` from
/// other processes) bumps the wanted generation, and data read before that is read again
/// on its next use.
#[derive(Debug)]
pub struct ReferenceCache {
    current: std::sync::RwLock<Arc<ReferenceData>>,
    wanted: AtomicU64,
    /// One reader of the database at a time.
    pub reload: tokio::sync::Mutex<()>,
}

impl Default for ReferenceCache {
    fn default() -> Self {
        Self { current: std::sync::RwLock::default(), wanted: AtomicU64::new(1), reload: tokio::sync::Mutex::new(()) }
    }
}

impl ReferenceCache {
    /// The data held now, fresh or not.
    pub fn current(&self) -> Arc<ReferenceData> {
        self.current.read().map(|c| Arc::clone(&c)).unwrap_or_default()
    }

    /// The data held now, if nothing changed since it was read.
    pub fn fresh(&self) -> Option<Arc<ReferenceData>> {
        let current = self.current();
        (current.generation == self.wanted.load(Ordering::Acquire)).then_some(current)
    }

    /// The generation a read starting now is tagged with.
    pub fn wanted(&self) -> u64 {
        self.wanted.load(Ordering::Acquire)
    }

    /// Marks the data stale: a change was committed (here or by another process).
    pub fn invalidate(&self) {
        self.wanted.fetch_add(1, Ordering::AcqRel);
    }

    /// Keeps `data` unless newer data is held already.
    pub fn install(&self, data: Arc<ReferenceData>) {
        if let Ok(mut current) = self.current.write()
            && data.generation > current.generation
        {
            *current = data;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A frozen clock reads back the instant it was stopped at, to the stored microsecond (an
    /// instant read from the database is "now" exactly, not the millisecond before it), and
    /// moves by what it is advanced.
    #[test]
    fn a_frozen_clock_keeps_the_microseconds_of_its_instant() {
        let clock = Clock::default();
        let at = DateTime::parse_from_rfc3339("2026-06-26T08:17:40.615321+00:00").unwrap().with_timezone(&Utc);
        clock.freeze_at(at);
        assert_eq!(clock.now(), at);
        clock.advance(chrono::Duration::milliseconds(1));
        assert_eq!(clock.now(), at + chrono::Duration::milliseconds(1));
        // Nanoseconds the database cannot hold are dropped, as in the running clock.
        clock.freeze_at(at + chrono::Duration::nanoseconds(999));
        assert_eq!(clock.now(), at);
    }

    /// A burst of ten calls 100 ms apart: a fold at its start, at most one a second during
    /// it, and the last fold reads after the last call committed.
    #[tokio::test]
    async fn a_burst_of_calls_folds_at_most_once_a_second_and_once_after_its_last_call() {
        let gate = Arc::new(FoldGate::default());
        let committed = Arc::new(AtomicU64::new(0));
        let folds = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            committed.fetch_add(1, Ordering::SeqCst);
            let (gate, committed, folds) = (gate.clone(), committed.clone(), folds.clone());
            tasks.push(tokio::spawn(async move {
                gate.fold_after(async {
                    let seen = committed.load(Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                    folds.lock().unwrap().push((std::time::Instant::now(), seen));
                })
                .await
            }));
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        let folds = folds.lock().unwrap().clone();
        assert!((2..=3).contains(&folds.len()), "{} folds for 10 calls in one second: {folds:?}", folds.len());
        assert_eq!(folds.last().map(|f| f.1), Some(10), "the last fold covers the last call: {folds:?}");
        for pair in folds.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= std::time::Duration::from_millis(950), "folds too close: {folds:?}");
        }
    }

    fn territory(id: i64, name: &str, parent: Option<i64>) -> territory::Model {
        territory::Model {
            id,
            name: name.into(),
            code: None,
            parent_id: parent,
            population: None,
            latitude: None,
            longitude: None,
            active: true,
            merged_into_id: None,
            version: 1,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn category(id: i64, name: &str, parent: Option<i64>) -> category::Model {
        category::Model {
            id,
            name: name.into(),
            parent_id: parent,
            default_recipient_id: None,
            active: true,
            merged_into_id: None,
            version: 1,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn reference_data_expands_trees_and_lists_by_name() {
        let territories = vec![
            territory(1, "Сорск", None),
            territory(2, "Север", Some(1)),
            territory(3, "Юг", Some(1)),
            territory(4, "Квартал", Some(2)),
            territory(5, "Другой город", None),
        ];
        let categories =
            vec![category(10, "ЖКХ", None), category(12, "Отопление", Some(10)), category(11, "Газ", Some(10))];
        let data = ReferenceData::new(1, Vec::new(), categories, territories);
        let mut subtree: Vec<i64> = data.territory_subtree(1).into_iter().collect();
        subtree.sort_unstable();
        assert_eq!(subtree, [1, 2, 3, 4]);
        assert_eq!(data.territory_subtree(4).into_iter().collect::<Vec<_>>(), [4]);
        let children: Vec<&str> = data.category_children(10).map(|c| c.name.as_str()).collect();
        assert_eq!(children, ["Газ", "Отопление"]);
        let names: Vec<&str> = data.territories().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Другой город", "Квартал", "Север", "Сорск", "Юг"]);
        assert!(data.lacks(None, Some(99), None));
        assert!(!data.lacks(None, Some(12), Some(4)));
    }

    #[test]
    fn the_cache_is_fresh_until_a_change_and_never_goes_back_to_older_data() {
        let cache = ReferenceCache::default();
        assert!(cache.fresh().is_none(), "nothing read yet");
        let first = cache.wanted();
        cache.install(Arc::new(ReferenceData::new(first, Vec::new(), Vec::new(), vec![territory(1, "A", None)])));
        assert!(cache.fresh().is_some());
        // A change committed while a reader was reading: its data is tagged with the old
        // generation, so it is stale as soon as installed.
        let reading = cache.wanted();
        cache.invalidate();
        assert!(cache.fresh().is_none());
        let newer = cache.wanted();
        cache.install(Arc::new(ReferenceData::new(newer, Vec::new(), Vec::new(), vec![territory(1, "B", None)])));
        cache.install(Arc::new(ReferenceData::new(reading, Vec::new(), Vec::new(), vec![territory(1, "A", None)])));
        let held = cache.fresh().unwrap();
        assert_eq!(held.territory(1).unwrap().name, "B", "a slow reader's older data does not replace newer data");
    }
}
