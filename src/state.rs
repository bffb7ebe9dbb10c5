//! Shared application state: cheap to clone, no per-replica mutable data except caches.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tokio::sync::{RwLock, Semaphore};

use crate::config::Settings;
use crate::crypto::JwtKeys;
use crate::domain::classifier::TrainedModel;

/// The source of "now". Real time in production; tests may freeze or shift it.
#[derive(Clone)]
pub struct Clock {
    /// Offset from the system clock in milliseconds (0 in production).
    offset_ms: Arc<AtomicI64>,
    /// A frozen instant in milliseconds since the epoch, or `i64::MIN` when running.
    frozen_ms: Arc<AtomicI64>,
}

impl Default for Clock {
    fn default() -> Self {
        Self { offset_ms: Arc::default(), frozen_ms: Arc::new(AtomicI64::new(i64::MIN)) }
    }
}

impl Clock {
    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        let frozen = self.frozen_ms.load(Ordering::Relaxed);
        if frozen != i64::MIN {
            return DateTime::from_timestamp_millis(frozen).unwrap_or_default();
        }
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every clone of it); for tests of time-based rules.
    pub fn advance(&self, by: chrono::Duration) {
        let ms = by.num_milliseconds();
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
        let _ = self.frozen_ms.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |f| (f != i64::MIN).then(|| f + ms));
    }

    /// Stops this clock at `at` (for tests that compare exact instants).
    pub fn freeze_at(&self, at: DateTime<Utc>) {
        self.frozen_ms.store(at.timestamp_millis(), Ordering::Relaxed);
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
    /// The SMTP sender, when e-mail is configured.
    pub mailer: Option<Arc<crate::mailer::Mailer>>,
    /// Seals the secrets kept in the database (webhook signing keys).
    pub sealer: Arc<crate::crypto::SecretSealer>,
    /// The HTTP client of outgoing webhooks.
    pub webhooks: Arc<crate::webhook_client::WebhookClient>,
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
}

impl Default for Announcements {
    fn default() -> Self {
        Self { sender: tokio::sync::broadcast::channel(4096).0, wake: Arc::default(), deliveries: Arc::default() }
    }
}

impl Announcements {
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
}
