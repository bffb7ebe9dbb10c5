//! `mcu`: the back end of a municipal control centre (Муниципальный центр управления).
//!
//! [`build`] wires settings, database, schema and router into an [`App`] that `main` runs
//! and the integration tests spawn on port 0.

pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod entity;
pub mod error;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod mailer;
pub mod service;
pub mod state;
pub mod storage;
pub mod store;
pub mod telemetry;
pub mod webhook_client;

use std::net::SocketAddr;
use std::sync::Arc;

use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::state::{AppState, Clock};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] error::ConfigError),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{}", .0.message())]
    App(error::AppError),
}

impl From<error::AppError> for StartError {
    fn from(e: error::AppError) -> Self {
        Self::App(e)
    }
}

/// A built server, bound to its port but not yet serving.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    /// The separate `/metrics` listener (`MCU_METRICS_BIND`), if any.
    metrics: Option<(TcpListener, axum::Router)>,
    state: AppState,
    /// The background jobs ([`jobs::spawn`] and the rollup compaction), stopped before the
    /// pool closes.
    jobs: tokio::task::JoinSet<()>,
}

impl App {
    /// The port it is bound to (useful with port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    /// The port of the separate `/metrics` listener, if one is configured.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().and_then(|(l, _)| l.local_addr().ok()).map(|a| a.port())
    }

    /// The shared state (tests use it to move the clock).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT/SIGTERM, lets in-flight requests finish, stops the background jobs,
    /// then closes the pool.
    pub async fn run_until_stopped(self) -> Result<(), StartError> {
        if let Some((listener, router)) = self.metrics {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
        }
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service).with_graceful_shutdown(shutdown_signal()).await?;
        tracing::info!("stopped accepting requests; stopping the background jobs");
        // Before the pool closes, so no job meets a closed pool (which it would report as a
        // failure of the database) on its way out.
        let mut jobs = self.jobs;
        jobs.shutdown().await;
        tracing::info!("closing the database pool");
        self.state.reads.close();
        self.state.db.close().await?;
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}

/// The JWT secret: configured, or (embedded database only) generated once and kept beside
/// the database file so that restarts keep sessions valid.
fn jwt_secret(settings: &Settings) -> Result<SecretString, StartError> {
    if let Some(s) = &settings.jwt_secret {
        return Ok(s.clone());
    }
    let Some(path) = settings.jwt_secret_file() else {
        return Ok(SecretString::from(crypto::random_hex(48)));
    };
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        if existing.len() >= 32 {
            return Ok(SecretString::from(existing));
        }
    }
    let secret = crypto::random_hex(48);
    write_private(&path, &secret)?;
    tracing::info!(path = %path.display(), "generated a JWT secret for the embedded database");
    Ok(SecretString::from(secret))
}

fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(content.as_bytes())
}

/// Connects, migrates and prepares the shared state (no HTTP).
pub async fn init_state(settings: Settings) -> Result<AppState, StartError> {
    let secret = jwt_secret(&settings)?;
    let mut db = db::connect(&settings).await?;
    let metrics = Arc::new(state::Metrics::default());
    let count = |counters: Arc<state::Metrics>| {
        move |info: &sea_orm::metric::Info<'_>| {
            use std::sync::atomic::Ordering::Relaxed;
            if state::is_background() {
                counters.background_sql_statements.fetch_add(1, Relaxed);
            } else {
                counters.sql_statements.fetch_add(1, Relaxed);
            }
            tracing::trace!(target: "mcu::sql", elapsed_us = info.elapsed.as_micros() as u64, sql = %info.statement.sql);
            counters.sql_micros.fetch_add(info.elapsed.as_micros() as u64, Relaxed);
            if info.failed {
                counters.sql_errors.fetch_add(1, Relaxed);
            }
        }
    };
    let metric: db::MetricCallback = Arc::new(count(Arc::clone(&metrics)));
    db.set_metric_callback({
        let metric = Arc::clone(&metric);
        move |info| metric(info)
    });
    let reads = db::Reads::new(&db, Some(metric));
    let mut writer = db::connect_writer(&settings, &db).await?;
    writer.set_metric_callback(count(Arc::clone(&metrics)));
    db::migrate(&db).await?;
    service::rollup::ensure(&db, settings.timezone).await?;
    service::auth::prepare();
    let mailer = mailer::Mailer::from_settings(&settings)
        .map_err(|e| StartError::Config(error::ConfigError { setting: "MCU_SMTP_URL", why: e.to_string() }))?
        .map(Arc::new);
    let webhooks = webhook_client::WebhookClient::from_settings(&settings)
        .map_err(|why| StartError::Config(error::ConfigError { setting: "MCU_WEBHOOK_TIMEOUT_MS", why }))?;
    let storage = storage::Storage::from_settings(&settings)?;
    tracing::info!(storage = %storage.describe, "attached files are kept here");
    Ok(AppState {
        storage: Arc::new(storage),
        db,
        writer,
        reads,
        jwt: Arc::new(crypto::JwtKeys::new(&secret)?),
        sealer: Arc::new(crypto::SecretSealer::new(&secret)?),
        webhooks: Arc::new(webhooks),
        hash_permits: Arc::new(tokio::sync::Semaphore::new(settings.hash_concurrency)),
        sessions: Arc::new(state::SessionCache::new(settings.session_cache)),
        settings: Arc::new(settings),
        clock: Clock::default(),
        metrics,
        classifier: Arc::default(),
        announcements: state::Announcements::default(),
        reference: Arc::default(),
        folds: Arc::default(),
        mailer,
    })
}

/// Folds the analytics rollups' ledger rows now and then. Every process ticks; the
/// compaction locks the rollup state row, so a second process finds nothing left to fold.
async fn compact_now_and_then(state: AppState) {
    let mut tick = tokio::time::interval(state.settings.rollup_compact_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        match service::rollup::compact(&state.writer, false).await {
            Ok(Some(rows)) => tracing::debug!(rows, "compacted the analytics rollups"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e.message(), "could not compact the analytics rollups"),
        }
    }
}

/// Builds the whole server: state, first administrator, schema, router, listener.
pub async fn build(settings: Settings) -> Result<App, StartError> {
    let state = init_state(settings).await?;
    // Imports that were running when a server went away read as interrupted from now on.
    match service::imports::mark_interrupted(&state).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(reports = n, "imports interrupted by a stop were marked INTERRUPTED"),
        Err(e) => tracing::warn!(error = %e.message(), "could not mark interrupted imports"),
    }
    let outcome = service::users::ensure_admin(&state).await?;
    service::users::log_admin_outcome(&outcome);
    // Load or retrain the topic classifier in the background; suggestions wait for it only
    // when asked for explicitly.
    let warm = state.clone();
    tokio::spawn(async move {
        if let Err(e) = service::classifier::current(&warm).await {
            tracing::warn!(error = %e.message(), "could not prepare the topic classifier");
        }
    });
    // The outbox dispatcher, the periodic jobs, on PostgreSQL the listener of other
    // processes' announcements, and the compaction of the rollups.
    let mut jobs = jobs::spawn(&state);
    jobs.spawn(state::in_background(compact_now_and_then(state.clone())));
    let schema = graphql::build_schema(state.clone());
    let router = http::router(http::Http { app: Arc::new(state.clone()), schema, documents: Arc::default() });
    let listener = TcpListener::bind(state.settings.bind).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let metrics = match state.settings.metrics_bind {
        None => None,
        Some(addr) => {
            let l = TcpListener::bind(addr).await?;
            tracing::info!(addr = %l.local_addr()?, "serving /metrics");
            Some((l, http::metrics_router(state.clone())))
        }
    };
    Ok(App { listener, router, metrics, state, jobs })
}
