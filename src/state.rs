//! Shared application state: cheap to clone, no per-replica mutable data except caches.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tokio::sync::Semaphore;

use crate::config::Settings;
use crate::service::auth::JwtKeys;

/// The source of "now". Real time in production; tests may pin or shift it.
#[derive(Clone, Default)]
pub struct Clock {
    /// Offset from the system clock in milliseconds (0 in production).
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every clone of it) forward; for tests of time-based rules.
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms.fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}

/// Everything a request needs.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub jwt: Arc<JwtKeys>,
    /// Limits concurrent Argon2id computations (memory- and CPU-hard).
    pub hash_permits: Arc<Semaphore>,
    pub clock: Clock,
}
