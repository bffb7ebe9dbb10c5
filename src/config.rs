//! Typed settings: defaults < environment (`MCU_*`, `DATABASE_URL`) < command-line flags.
//!
//! Every setting is declared once, as a clap argument with an `env` name and a default, so the
//! precedence is enforced by clap and `--help` documents the whole configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;
use clap::Args;
use secrecy::SecretString;

use crate::error::ConfigError;

/// The name of the first administrator.
pub const FIRST_ADMIN_NAME: &str = "Administrator";
/// The e-mail of the first administrator when `MCU_ADMIN_EMAIL` is not set.
pub const FIRST_ADMIN_EMAIL: &str = "admin@localhost";

/// Raw settings as given on the command line or in the environment.
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// Database URL: `sqlite://FILE?mode=rwc` (embedded) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://mcu.db?mode=rwc", global = true)]
    pub database_url: String,
    /// Address the HTTP server listens on.
    #[arg(long, env = "MCU_BIND", default_value = "127.0.0.1:8080", global = true)]
    pub bind: String,
    /// HS256 secret for access tokens (at least 32 bytes). Required on PostgreSQL; with the
    /// embedded SQLite database it is generated once and kept beside the database file.
    #[arg(long, env = "MCU_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,
    /// E-mail of the administrator created at start whenever no active administrator exists
    /// (an existing account with this e-mail is never changed). Empty means not set.
    #[arg(long, env = "MCU_ADMIN_EMAIL", global = true)]
    pub admin_email: Option<String>,
    /// Password of that administrator (random and logged once if absent or empty).
    #[arg(long, env = "MCU_ADMIN_PASSWORD", hide_env_values = true, global = true)]
    pub admin_password: Option<String>,
    /// The municipality's time zone (IANA name).
    #[arg(long, env = "MCU_TIMEZONE", default_value = "Asia/Krasnoyarsk", global = true)]
    pub timezone: String,
    /// Log format: `text` or `json`.
    #[arg(long, env = "MCU_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: String,
    /// Serve GraphiQL on `GET /graphql`.
    #[arg(long, env = "MCU_GRAPHIQL", default_value = "true", global = true, action = clap::ArgAction::Set)]
    pub graphiql: bool,
    /// Allow schema introspection (switch off in production if the schema is not public).
    #[arg(long, env = "MCU_INTROSPECTION", default_value = "true", global = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// Access token lifetime in seconds.
    #[arg(long, env = "MCU_ACCESS_TTL_SECS", default_value = "900", global = true)]
    pub access_ttl_secs: u64,
    /// Refresh token lifetime in seconds.
    #[arg(long, env = "MCU_REFRESH_TTL_SECS", default_value = "2592000", global = true)]
    pub refresh_ttl_secs: u64,
    /// Maximum database connections.
    #[arg(long, env = "MCU_DB_MAX_CONNECTIONS", default_value = "16", global = true)]
    pub db_max_connections: u32,
    /// Minimum idle database connections.
    #[arg(long, env = "MCU_DB_MIN_CONNECTIONS", default_value = "1", global = true)]
    pub db_min_connections: u32,
    /// Largest SQLite database in pages (4 KiB each by default; `PRAGMA max_page_count` on every
    /// connection), a quota below the file system's free space; absent: no cap but SQLite's.
    #[arg(long, env = "MCU_SQLITE_MAX_PAGE_COUNT", global = true)]
    pub sqlite_max_page_count: Option<u64>,
    /// Free space the database needs for `/readyz` to answer ready, in bytes: on the file
    /// system of an SQLite database and below its page cap.
    #[arg(long, env = "MCU_DB_MIN_FREE_BYTES", default_value = "16777216", global = true)]
    pub db_min_free_bytes: u64,
    /// Statement timeout in milliseconds (PostgreSQL `statement_timeout`, SQLite busy timeout).
    #[arg(long, env = "MCU_DB_STATEMENT_TIMEOUT_MS", default_value = "10000", global = true)]
    pub db_statement_timeout_ms: u64,
    /// PostgreSQL's planner cost of reading a page out of order (`random_page_cost`), set for
    /// every connection of the server: 1.1, as for data on SSD or in memory. The server's
    /// default, 4, is for spinning disks; with it the planner walks a table-wide index and
    /// filters instead of the index of the filtered column (one status by receipt: 6,148
    /// buffers instead of 19 on 1M appeals). It always overrides the database's own setting;
    /// 4 is PostgreSQL's default, for data on spinning disks.
    #[arg(long, env = "MCU_DB_RANDOM_PAGE_COST", default_value = "1.1", global = true)]
    pub db_random_page_cost: f64,
    /// Request timeout in milliseconds.
    #[arg(long, env = "MCU_REQUEST_TIMEOUT_MS", default_value = "30000", global = true)]
    pub request_timeout_ms: u64,
    /// Timeout of a file export (`/exports/…`) in milliseconds: a million-row appeal list
    /// takes minutes to write.
    #[arg(long, env = "MCU_EXPORT_TIMEOUT_MS", default_value = "900000", global = true)]
    pub export_timeout_ms: u64,
    /// Seconds between compactions of the analytics rollups (rows of one key folded into one).
    #[arg(long, env = "MCU_ROLLUP_COMPACT_SECS", default_value = "300", global = true)]
    pub rollup_compact_secs: u64,
    /// Milliseconds between passes of the outbox dispatcher (a local change wakes it sooner).
    #[arg(long, env = "MCU_DISPATCH_INTERVAL_MS", default_value = "250", global = true)]
    pub dispatch_interval_ms: u64,
    /// Seconds between checks whether the weekly memo is due (Monday 08:00 local time).
    #[arg(long, env = "MCU_MEMO_CHECK_SECS", default_value = "60", global = true)]
    pub memo_check_secs: u64,
    /// Let webhooks target private, loopback, link-local and other local addresses (refused
    /// otherwise, at creation and at every delivery: a webhook must not reach the server's own
    /// network). For tests and for receivers on a trusted internal network.
    #[arg(long, env = "MCU_WEBHOOK_ALLOW_PRIVATE", default_value = "false", global = true, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
    /// Send webhook deliveries from this process (every process fans changes out to the
    /// delivery queue either way; `false` leaves the sending to the other processes).
    #[arg(long, env = "MCU_WEBHOOK_DELIVERY", default_value = "true", global = true, action = clap::ArgAction::Set)]
    pub webhook_delivery: bool,
    /// Attempts of a webhook delivery before it is dead (the dead letter).
    #[arg(long, env = "MCU_WEBHOOK_MAX_ATTEMPTS", default_value = "12", global = true)]
    pub webhook_max_attempts: u32,
    /// Delay before the second attempt in milliseconds; it doubles with each failure.
    #[arg(long, env = "MCU_WEBHOOK_RETRY_BASE_MS", default_value = "60000", global = true)]
    pub webhook_retry_base_ms: u64,
    /// Longest delay between two attempts in milliseconds.
    #[arg(long, env = "MCU_WEBHOOK_RETRY_MAX_MS", default_value = "21600000", global = true)]
    pub webhook_retry_max_ms: u64,
    /// Timeout of one webhook request in milliseconds (connecting, sending, the answer).
    #[arg(long, env = "MCU_WEBHOOK_TIMEOUT_MS", default_value = "10000", global = true)]
    pub webhook_timeout_ms: u64,
    /// Seconds between passes of the deadline watch (DUE_SOON, OVERDUE and escalation alerts).
    #[arg(long, env = "MCU_WATCH_INTERVAL_SECS", default_value = "60", global = true)]
    pub watch_interval_secs: u64,
    /// Escalation rules as JSON overriding the defaults, e.g. `{"grace_working_days": 2}` (keys:
    /// due_soon, overdue, escalated — lists of EXECUTORS, COORDINATORS, CURATORS —,
    /// grace_working_days, incident_grace_working_hours).
    #[arg(long, env = "MCU_ESCALATION", default_value = "{}", global = true)]
    pub escalation: String,
    /// Seconds between checks of a WebSocket subscriber's session (an expired access token, an
    /// ended session or a deactivated person ends its subscriptions).
    #[arg(long, env = "MCU_SUBSCRIPTION_CHECK_SECS", default_value = "30", global = true)]
    pub subscription_check_secs: u64,
    /// Milliseconds a checked access token's person is kept in memory, so that a request
    /// reads no account row (0: every request reads it). A change of the account or the end
    /// of a session made by this process applies at once, one made by another process when
    /// its announcement arrives, and at the latest after this time.
    #[arg(long, env = "MCU_SESSION_CACHE_MS", default_value = "5000", global = true)]
    pub session_cache_ms: u64,
    /// Seconds a WebSocket connection may stay open without `connection_init` (then it is
    /// closed with 4408).
    #[arg(long, env = "MCU_WS_INIT_TIMEOUT_SECS", default_value = "10", global = true)]
    pub ws_init_timeout_secs: u64,
    /// Most WebSocket connections one server process holds at once (more are closed with 1013
    /// Try Again Later).
    #[arg(long, env = "MCU_WS_MAX_CONNECTIONS", default_value = "10000", global = true)]
    pub ws_max_connections: u64,
    /// Most subscriptions running at once on one WebSocket connection (more are refused with
    /// an `error` message, code RATE_LIMITED).
    #[arg(long, env = "MCU_WS_MAX_SUBSCRIPTIONS", default_value = "20", global = true)]
    pub ws_max_subscriptions: u64,
    /// Largest accepted JSON request body in bytes.
    #[arg(long, env = "MCU_MAX_BODY_BYTES", default_value = "1048576", global = true)]
    pub max_body_bytes: usize,
    /// Largest accepted multipart (file upload) request body in bytes.
    #[arg(long, env = "MCU_MAX_UPLOAD_BYTES", default_value = "67108864", global = true)]
    pub max_upload_bytes: usize,
    /// Maximum query depth.
    #[arg(long, env = "MCU_MAX_DEPTH", default_value = "12", global = true)]
    pub max_depth: usize,
    /// Maximum query complexity (each field counts 1, lists multiply by their page size).
    #[arg(long, env = "MCU_MAX_COMPLEXITY", default_value = "10000", global = true)]
    pub max_complexity: usize,
    /// Maximum number of operations in one batched request.
    #[arg(long, env = "MCU_MAX_BATCH", default_value = "10", global = true)]
    pub max_batch: usize,
    /// Maximum number of fields one document selects once its fragments are expanded
    /// (checked before validation, which would otherwise expand them).
    #[arg(long, env = "MCU_MAX_FIELDS", default_value = "2000", global = true)]
    pub max_fields: usize,
    /// Bearer token that `/metrics` requires. Without it (and without `MCU_METRICS_BIND`)
    /// `/metrics` is not served.
    #[arg(long, env = "MCU_METRICS_TOKEN", hide_env_values = true, global = true)]
    pub metrics_token: Option<String>,
    /// SMTP server for e-mail: `smtps://user:pass@host:465` (TLS), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS required), `smtp://host:25` (plain, for a relay on the same network). Unset: no e-mail.
    #[arg(long, env = "MCU_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,
    /// The sender of e-mail, e.g. `МЦУ <mcu@city.example>`; required with `MCU_SMTP_URL`.
    #[arg(long, env = "MCU_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,
    /// Attempts to send an e-mail before it is dead (listed to administrators by `mailDeliveries`).
    #[arg(long, env = "MCU_MAIL_MAX_ATTEMPTS", default_value = "8", global = true)]
    pub mail_max_attempts: u32,
    /// Delay before the second attempt to send an e-mail in milliseconds; it doubles with each failure.
    #[arg(long, env = "MCU_MAIL_RETRY_BASE_MS", default_value = "60000", global = true)]
    pub mail_retry_base_ms: u64,
    /// Longest delay between two attempts to send an e-mail in milliseconds.
    #[arg(long, env = "MCU_MAIL_RETRY_MAX_MS", default_value = "3600000", global = true)]
    pub mail_retry_max_ms: u64,
    /// Local time (`MCU_TIMEZONE`, `HH:MM`) of the daily digest of notifications.
    #[arg(long, env = "MCU_DIGEST_TIME", default_value = "08:00", global = true)]
    pub digest_time: String,
    /// The address staff reach the server at (`https://mcu.city.example`), for links in e-mail
    /// (the weekly memo's documents). Unset: the links are paths on the server.
    #[arg(long, env = "MCU_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// A separate address (e.g. `127.0.0.1:9090`) serving only `/metrics`, without a token,
    /// for a scraper on an internal network.
    #[arg(long, env = "MCU_METRICS_BIND", global = true)]
    pub metrics_bind: Option<String>,
    /// Origins (exact, comma-separated, e.g. `https://mcu.example.ru`) whose browser pages may
    /// call the API (CORS). Empty: same origin only.
    #[arg(long, env = "MCU_CORS_ORIGINS", default_value = "", global = true)]
    pub cors_origins: String,
    /// Reverse proxies (IP addresses or CIDR networks, comma-separated) whose
    /// `X-Forwarded-For` gives the client address used for rate limits and the audit. Empty:
    /// the socket peer is the client.
    #[arg(long, env = "MCU_TRUSTED_PROXIES", default_value = "", global = true)]
    pub trusted_proxies: String,
    /// Failed logins per account within the lockout window that lock the account.
    #[arg(long, env = "MCU_LOGIN_MAX_FAILURES", default_value = "10", global = true)]
    pub login_max_failures: u32,
    /// Lockout window in seconds.
    #[arg(long, env = "MCU_LOGIN_WINDOW_SECS", default_value = "900", global = true)]
    pub login_window_secs: u64,
    /// Deadline rules as JSON overriding the defaults, e.g. `{"message_answer_working_days": 5}`
    /// (keys: register_days, redirect_days, appeal_answer_days, max_extension_days,
    /// max_extensions, message_answer_working_days, message_reopen_working_days,
    /// incident_reaction_hours, incident_reaction_hours_high, incident_final_working_days,
    /// move_off_non_working, due_soon_share, working_hours {start, end}).
    #[arg(long, env = "MCU_DEADLINES", default_value = "{}", global = true)]
    pub deadlines: String,
    /// Days an author's feedback code stays valid after the answer.
    #[arg(long, env = "MCU_FEEDBACK_CODE_DAYS", default_value = "30", global = true)]
    pub feedback_code_days: u32,
    /// Feedback submissions per client address within 10 minutes.
    #[arg(long, env = "MCU_FEEDBACK_RATE_LIMIT", default_value = "20", global = true)]
    pub feedback_rate_limit: u64,
    /// Confidence from which a topic suggestion is stored on an appeal that arrives without one.
    #[arg(long, env = "MCU_SUGGESTION_THRESHOLD", default_value = "0.6", global = true)]
    pub suggestion_threshold: f64,
    /// Largest number of data rows in one imported file.
    #[arg(long, env = "MCU_IMPORT_MAX_ROWS", default_value = "200000", global = true)]
    pub import_max_rows: usize,
    /// Largest unpacked size of an imported XLSX (all its parts) and largest CSV, in bytes.
    #[arg(long, env = "MCU_IMPORT_MAX_UNPACKED_BYTES", default_value = "536870912", global = true)]
    pub import_max_unpacked_bytes: u64,
    /// Password hashes computed at once (each Argon2id hash takes 19 MiB and a core).
    #[arg(long, env = "MCU_HASH_CONCURRENCY", default_value = "2", global = true)]
    pub hash_concurrency: usize,
    /// Let a curator approve or return its own roadmap even when another active curator exists.
    #[arg(long, env = "MCU_ROADMAP_SELF_APPROVAL", default_value = "false", global = true, action = clap::ArgAction::Set)]
    pub roadmap_self_approval: bool,
    /// Months before a roadmap's approval that make the baseline of its effect.
    #[arg(long, env = "MCU_ROADMAP_BASELINE_MONTHS", default_value = "6", global = true)]
    pub roadmap_baseline_months: u32,
    /// Public poll actions (votes, comments) per client address within 10 minutes.
    #[arg(long, env = "MCU_POLL_RATE_LIMIT", default_value = "30", global = true)]
    pub poll_rate_limit: u64,
    /// One-time poll codes sent to one contact within an hour.
    #[arg(long, env = "MCU_POLL_CODE_CONTACT_LIMIT", default_value = "3", global = true)]
    pub poll_code_contact_limit: u64,
    /// One-time poll codes asked for from one client address within an hour.
    #[arg(long, env = "MCU_POLL_CODE_ADDRESS_LIMIT", default_value = "10", global = true)]
    pub poll_code_address_limit: u64,
    /// The SMS gateway: an HTTP(S) endpoint that takes `POST {"to": "+7…", "text": "…"}` (JSON)
    /// and answers 2xx when it took the message. Sent through the webhook client, under its
    /// rules on private addresses. Without it, poll codes go to e-mail addresses only.
    #[arg(long, env = "MCU_SMS_GATEWAY_URL", global = true)]
    pub sms_gateway_url: Option<String>,
    /// Weights of the recipient rating as JSON, e.g. `{"timeliness": 0.5, "completeness": 0.25,
    /// "satisfaction": 0.25}` (defaults 0.4 / 0.3 / 0.3; missing keys keep their default).
    #[arg(long, env = "MCU_RATING_WEIGHTS", default_value = "{}", global = true)]
    pub rating_weights: String,
    /// Appeals a recipient needs in a period to be ranked in the rating.
    #[arg(long, env = "MCU_RATING_MIN_VOLUME", default_value = "5", global = true)]
    pub rating_min_volume: u32,
    /// Years a closed appeal keeps its personal data (counted in local days from its closing,
    /// or its last change after it); then the retention run anonymises it.
    #[arg(long, env = "MCU_RETENTION_YEARS", default_value = "5", global = true)]
    pub retention_years: u32,
    /// Seconds between checks whether today's retention run is due (it runs once a local day).
    #[arg(long, env = "MCU_RETENTION_CHECK_SECS", default_value = "3600", global = true)]
    pub retention_check_secs: u64,
    /// Appeals anonymised per transaction by the retention run.
    #[arg(long, env = "MCU_RETENTION_BATCH", default_value = "200", global = true)]
    pub retention_batch: u32,
    /// Where attached files are kept: `file:///path/to/dir` or `s3://bucket/prefix` (credentials,
    /// region and endpoint from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`…). Unset: the directory `<database file>.files`
    /// beside an embedded database, `./files` with PostgreSQL. S3 options may also be given in
    /// the query (`?endpoint=http://127.0.0.1:9000&allow_http=true`, `object_store`'s names).
    #[arg(long, env = "MCU_STORAGE_URL", hide_env_values = true, global = true)]
    pub storage_url: Option<String>,
    /// Largest attached file in bytes.
    #[arg(long, env = "MCU_ATTACHMENT_MAX_BYTES", default_value = "52428800", global = true)]
    pub attachment_max_bytes: u64,
    /// Largest total of the files attached to one object (an appeal, a roadmap…) in bytes.
    #[arg(long, env = "MCU_ATTACHMENT_MAX_OBJECT_BYTES", default_value = "209715200", global = true)]
    pub attachment_max_object_bytes: u64,
    /// Seconds between sweeps of stored files that have no attachment row (left by a crash
    /// between storing a file and writing its row).
    #[arg(long, env = "MCU_ATTACHMENT_SWEEP_SECS", default_value = "3600", global = true)]
    pub attachment_sweep_secs: u64,
    /// Age in seconds from which a stored file without a row is swept (an upload in progress
    /// is younger).
    #[arg(long, env = "MCU_ATTACHMENT_SWEEP_GRACE_SECS", default_value = "86400", global = true)]
    pub attachment_sweep_grace_secs: u64,
    /// Milliseconds between passes that fetch the files linked from ingested appeals.
    #[arg(long, env = "MCU_ATTACHMENT_FETCH_MS", default_value = "5000", global = true)]
    pub attachment_fetch_ms: u64,
    /// Longest download of an attached file (`/files/…`) in milliseconds: a client that reads
    /// slower is cut off.
    #[arg(long, env = "MCU_DOWNLOAD_TIMEOUT_MS", default_value = "900000", global = true)]
    pub download_timeout_ms: u64,
}

/// Validated settings the application runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub bind: SocketAddr,
    pub jwt_secret: Option<SecretString>,
    pub admin_email: Option<String>,
    pub admin_password: Option<SecretString>,
    pub timezone: Tz,
    pub json_logs: bool,
    pub graphiql: bool,
    pub introspection: bool,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub db_max_connections: u32,
    pub db_min_connections: u32,
    pub sqlite_max_page_count: Option<u64>,
    pub db_min_free_bytes: u64,
    pub db_statement_timeout: Duration,
    pub db_random_page_cost: f64,
    pub request_timeout: Duration,
    pub export_timeout: Duration,
    pub rollup_compact_interval: Duration,
    pub dispatch_interval: Duration,
    pub memo_check_interval: Duration,
    pub webhook_allow_private: bool,
    pub webhook_delivery: bool,
    pub webhook_max_attempts: u32,
    pub webhook_retry_base: Duration,
    pub webhook_retry_max: Duration,
    pub webhook_timeout: Duration,
    pub watch_interval: Duration,
    pub escalation: crate::domain::escalation::EscalationPolicy,
    pub subscription_check_interval: Duration,
    /// How long a checked session's person is kept in memory ([`crate::state::SessionCache`]).
    pub session_cache: Duration,
    pub ws_init_timeout: Duration,
    pub ws_max_connections: u64,
    pub ws_max_subscriptions: usize,
    pub max_body_bytes: usize,
    pub max_upload_bytes: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_batch: usize,
    pub max_fields: usize,
    pub metrics_token: Option<SecretString>,
    /// SMTP server URL (may carry a password) and sender; both or neither.
    pub smtp: Option<(SecretString, String)>,
    pub mail_max_attempts: u32,
    pub mail_retry_base: Duration,
    pub mail_retry_max: Duration,
    /// Local time of the daily digest.
    pub digest_time: chrono::NaiveTime,
    /// `MCU_PUBLIC_URL` without a trailing slash.
    pub public_url: Option<String>,
    pub metrics_bind: Option<SocketAddr>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub cors_origins: Vec<String>,
    pub login_max_failures: u32,
    pub login_window: Duration,
    pub hash_concurrency: usize,
    pub deadlines: crate::domain::deadlines::DeadlinePolicy,
    pub feedback_code_days: u32,
    pub feedback_rate_limit: u64,
    pub suggestion_threshold: f64,
    pub import_max_rows: usize,
    pub import_max_unpacked_bytes: u64,
    pub roadmap_self_approval: bool,
    pub roadmap_baseline_months: u32,
    pub poll_rate_limit: u64,
    pub poll_code_contact_limit: u64,
    pub poll_code_address_limit: u64,
    /// `MCU_SMS_GATEWAY_URL`, checked to be an HTTP(S) URL.
    pub sms_gateway_url: Option<String>,
    pub rating_weights: crate::domain::rating::RatingWeights,
    pub rating_min_volume: u32,
    /// Years a closed appeal keeps its personal data (`MCU_RETENTION_YEARS`).
    pub retention_years: u32,
    /// How often the server checks whether today's retention run is due.
    pub retention_check_interval: Duration,
    /// Appeals per transaction of the retention run.
    pub retention_batch: u32,
    /// `MCU_STORAGE_URL`, if set.
    pub storage_url: Option<String>,
    pub attachment_max_bytes: u64,
    pub attachment_max_object_bytes: u64,
    pub attachment_sweep_interval: Duration,
    pub attachment_sweep_grace: Duration,
    pub download_timeout: Duration,
    pub attachment_fetch_interval: Duration,
}

impl Settings {
    /// Checks the raw settings and turns them into typed ones.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting and why it is wrong.
    pub fn from_args(mut a: SettingsArgs) -> Result<Self, ConfigError> {
        // An empty value means "not set": `docker compose` passes `${VAR:-}` as an empty string,
        // and an empty secret or e-mail is never meant literally. A value of spaces is kept
        // (and a password of spaces refused): someone typed it.
        for optional in [
            &mut a.admin_email,
            &mut a.admin_password,
            &mut a.jwt_secret,
            &mut a.metrics_token,
            &mut a.smtp_url,
            &mut a.mail_from,
            &mut a.public_url,
            &mut a.storage_url,
        ] {
            if optional.as_deref().is_some_and(str::is_empty) {
                *optional = None;
            }
        }
        let bad = |setting: &'static str, why: String| ConfigError { setting, why };
        let is_sqlite = a.database_url.starts_with("sqlite:");
        if !is_sqlite && !a.database_url.starts_with("postgres://") && !a.database_url.starts_with("postgresql://") {
            return Err(bad("DATABASE_URL", "must start with sqlite:, postgres:// or postgresql://".into()));
        }
        let bind = a
            .bind
            .parse::<SocketAddr>()
            .map_err(|e| bad("MCU_BIND", format!("'{}' is not a socket address ({e})", a.bind)))?;
        let timezone = a
            .timezone
            .parse::<Tz>()
            .map_err(|_| bad("MCU_TIMEZONE", format!("'{}' is not an IANA time zone", a.timezone)))?;
        let json_logs = match a.log_format.as_str() {
            "json" => true,
            "text" => false,
            other => {
                return Err(bad("MCU_LOG_FORMAT", format!("'{other}' is neither text nor json")));
            }
        };
        if let Some(s) = &a.jwt_secret {
            if s.len() < 32 {
                return Err(bad("MCU_JWT_SECRET", "must be at least 32 bytes long".into()));
            }
        } else if !is_sqlite {
            return Err(bad(
                "MCU_JWT_SECRET",
                "is required with PostgreSQL (generate one with: openssl rand -base64 48)".into(),
            ));
        }
        if let Some(p) = &a.admin_password {
            let email = a.admin_email.as_deref().unwrap_or(FIRST_ADMIN_EMAIL);
            let owner = crate::domain::password::Owner { email, full_name: FIRST_ADMIN_NAME };
            if let Some(why) = crate::domain::password::refusal(p, &owner) {
                return Err(bad("MCU_ADMIN_PASSWORD", why));
            }
        }
        let positive = |setting: &'static str, v: u64| {
            if v == 0 { Err(bad(setting, "must be greater than zero".into())) } else { Ok(v) }
        };
        positive("MCU_ACCESS_TTL_SECS", a.access_ttl_secs)?;
        positive("MCU_REFRESH_TTL_SECS", a.refresh_ttl_secs)?;
        positive("MCU_DB_MAX_CONNECTIONS", u64::from(a.db_max_connections))?;
        positive("MCU_REQUEST_TIMEOUT_MS", a.request_timeout_ms)?;
        positive("MCU_EXPORT_TIMEOUT_MS", a.export_timeout_ms)?;
        positive("MCU_ROLLUP_COMPACT_SECS", a.rollup_compact_secs)?;
        positive("MCU_DISPATCH_INTERVAL_MS", a.dispatch_interval_ms)?;
        positive("MCU_MEMO_CHECK_SECS", a.memo_check_secs)?;
        positive("MCU_WATCH_INTERVAL_SECS", a.watch_interval_secs)?;
        positive("MCU_SUBSCRIPTION_CHECK_SECS", a.subscription_check_secs)?;
        positive("MCU_WS_INIT_TIMEOUT_SECS", a.ws_init_timeout_secs)?;
        positive("MCU_WS_MAX_CONNECTIONS", a.ws_max_connections)?;
        positive("MCU_WS_MAX_SUBSCRIPTIONS", a.ws_max_subscriptions)?;
        let escalation: crate::domain::escalation::EscalationPolicy = serde_json::from_str(&a.escalation)
            .map_err(|e| bad("MCU_ESCALATION", format!("is not valid escalation JSON ({e})")))?;
        positive("MCU_DB_STATEMENT_TIMEOUT_MS", a.db_statement_timeout_ms)?;
        if !(a.db_random_page_cost.is_finite() && a.db_random_page_cost > 0.0 && a.db_random_page_cost <= 1000.0) {
            return Err(bad("MCU_DB_RANDOM_PAGE_COST", "must be a number above 0 and at most 1000".into()));
        }
        positive("MCU_WEBHOOK_MAX_ATTEMPTS", u64::from(a.webhook_max_attempts))?;
        positive("MCU_WEBHOOK_RETRY_BASE_MS", a.webhook_retry_base_ms)?;
        positive("MCU_WEBHOOK_TIMEOUT_MS", a.webhook_timeout_ms)?;
        if a.webhook_retry_max_ms < a.webhook_retry_base_ms {
            return Err(bad("MCU_WEBHOOK_RETRY_MAX_MS", "must not be less than MCU_WEBHOOK_RETRY_BASE_MS".into()));
        }
        if let Some(pages) = a.sqlite_max_page_count {
            positive("MCU_SQLITE_MAX_PAGE_COUNT", pages)?;
        }
        positive("MCU_MAX_BODY_BYTES", a.max_body_bytes as u64)?;
        positive("MCU_MAX_UPLOAD_BYTES", a.max_upload_bytes as u64)?;
        positive("MCU_MAX_DEPTH", a.max_depth as u64)?;
        positive("MCU_MAX_COMPLEXITY", a.max_complexity as u64)?;
        positive("MCU_MAX_BATCH", a.max_batch as u64)?;
        positive("MCU_MAX_FIELDS", a.max_fields as u64)?;
        let smtp = match (a.smtp_url.take(), a.mail_from.take()) {
            (None, None) => None,
            (Some(_), None) => return Err(bad("MCU_MAIL_FROM", "is required with MCU_SMTP_URL".into())),
            (None, Some(_)) => return Err(bad("MCU_SMTP_URL", "is required with MCU_MAIL_FROM".into())),
            (Some(url), Some(from)) => {
                if lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&url).is_err() {
                    // The URL may hold a password: say what is expected, never echo it.
                    return Err(bad(
                        "MCU_SMTP_URL",
                        "must be smtps://[user:pass@]host[:port] or smtp://[user:pass@]host[:port][?tls=required]"
                            .into(),
                    ));
                }
                if let Err(e) = from.parse::<lettre::message::Mailbox>() {
                    return Err(bad("MCU_MAIL_FROM", format!("is not a mailbox: {e}")));
                }
                Some((SecretString::from(url), from))
            }
        };
        positive("MCU_MAIL_MAX_ATTEMPTS", u64::from(a.mail_max_attempts))?;
        positive("MCU_MAIL_RETRY_BASE_MS", a.mail_retry_base_ms)?;
        if a.mail_retry_max_ms < a.mail_retry_base_ms {
            return Err(bad("MCU_MAIL_RETRY_MAX_MS", "must not be less than MCU_MAIL_RETRY_BASE_MS".into()));
        }
        let digest_time = chrono::NaiveTime::parse_from_str(a.digest_time.trim(), "%H:%M")
            .map_err(|_| bad("MCU_DIGEST_TIME", format!("'{}' is not a time HH:MM", a.digest_time)))?;
        let public_url = match a.public_url.take() {
            None => None,
            Some(u) => {
                let u = u.trim().trim_end_matches('/').to_owned();
                let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://"));
                if !rest.is_some_and(|r| !r.is_empty() && !r.contains(['?', '#', ' ', '@'])) {
                    return Err(bad("MCU_PUBLIC_URL", format!("'{u}' is not an http(s) address without a query")));
                }
                Some(u)
            }
        };
        if a.metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(bad("MCU_METRICS_TOKEN", "must be at least 16 characters long".into()));
        }
        let metrics_bind = match &a.metrics_bind {
            None => None,
            Some(b) => Some(
                b.parse::<SocketAddr>()
                    .map_err(|e| bad("MCU_METRICS_BIND", format!("'{b}' is not a socket address ({e})")))?,
            ),
        };
        let cors_origins = a
            .cors_origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| {
                let rest = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://"));
                let valid = rest.is_some_and(|r| !r.is_empty() && !r.contains('/'))
                    && axum::http::HeaderValue::from_str(o).is_ok();
                if valid {
                    Ok(o.to_string())
                } else {
                    Err(bad(
                        "MCU_CORS_ORIGINS",
                        format!("'{o}' is not an origin (scheme://host[:port], without a path or a trailing slash)"),
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let trusted_proxies = a
            .trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<ipnet::IpNet>().or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)).map_err(
                    |_| bad("MCU_TRUSTED_PROXIES", format!("'{p}' is neither an IP address nor a CIDR network")),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        positive("MCU_LOGIN_MAX_FAILURES", u64::from(a.login_max_failures))?;
        positive("MCU_HASH_CONCURRENCY", a.hash_concurrency as u64)?;
        if a.db_min_connections > a.db_max_connections {
            return Err(bad("MCU_DB_MIN_CONNECTIONS", "must not exceed MCU_DB_MAX_CONNECTIONS".into()));
        }
        let deadlines: crate::domain::deadlines::DeadlinePolicy = serde_json::from_str(&a.deadlines)
            .map_err(|e| bad("MCU_DEADLINES", format!("is not valid deadline JSON ({e})")))?;
        if !(0.0..=1.0).contains(&deadlines.due_soon_share) {
            return Err(bad("MCU_DEADLINES", "due_soon_share must be between 0 and 1".into()));
        }
        if deadlines.working_hours.start >= deadlines.working_hours.end {
            return Err(bad("MCU_DEADLINES", "working_hours.start must be before working_hours.end".into()));
        }
        positive("MCU_FEEDBACK_CODE_DAYS", u64::from(a.feedback_code_days))?;
        positive("MCU_FEEDBACK_RATE_LIMIT", a.feedback_rate_limit)?;
        if !(0.0..=1.0).contains(&a.suggestion_threshold) {
            return Err(bad("MCU_SUGGESTION_THRESHOLD", "must be between 0 and 1".into()));
        }
        positive("MCU_IMPORT_MAX_ROWS", a.import_max_rows as u64)?;
        positive("MCU_IMPORT_MAX_UNPACKED_BYTES", a.import_max_unpacked_bytes)?;
        positive("MCU_ROADMAP_BASELINE_MONTHS", u64::from(a.roadmap_baseline_months))?;
        positive("MCU_POLL_RATE_LIMIT", a.poll_rate_limit)?;
        positive("MCU_RETENTION_YEARS", u64::from(a.retention_years))?;
        positive("MCU_RETENTION_CHECK_SECS", a.retention_check_secs)?;
        positive("MCU_RETENTION_BATCH", u64::from(a.retention_batch))?;
        if a.retention_years > 100 {
            return Err(bad("MCU_RETENTION_YEARS", "must be at most 100".into()));
        }
        positive("MCU_POLL_CODE_CONTACT_LIMIT", a.poll_code_contact_limit)?;
        positive("MCU_POLL_CODE_ADDRESS_LIMIT", a.poll_code_address_limit)?;
        let sms_gateway_url = match a.sms_gateway_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            None => None,
            Some(u) => match url::Url::parse(u) {
                Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => Some(u.to_string()),
                _ => return Err(bad("MCU_SMS_GATEWAY_URL", "must be an http:// or https:// URL".into())),
            },
        };
        let rating_weights: crate::domain::rating::RatingWeights = serde_json::from_str(&a.rating_weights)
            .map_err(|e| bad("MCU_RATING_WEIGHTS", format!("is not valid rating weights JSON ({e})")))?;
        if !rating_weights.is_valid() {
            return Err(bad("MCU_RATING_WEIGHTS", "weights must be non-negative and not all zero".into()));
        }
        positive("MCU_ATTACHMENT_MAX_BYTES", a.attachment_max_bytes)?;
        positive("MCU_ATTACHMENT_MAX_OBJECT_BYTES", a.attachment_max_object_bytes)?;
        positive("MCU_ATTACHMENT_SWEEP_SECS", a.attachment_sweep_secs)?;
        positive("MCU_DOWNLOAD_TIMEOUT_MS", a.download_timeout_ms)?;
        positive("MCU_ATTACHMENT_FETCH_MS", a.attachment_fetch_ms)?;
        if let Some(u) = &a.storage_url
            && !u.starts_with("file://")
            && !u.starts_with("s3://")
        {
            return Err(bad("MCU_STORAGE_URL", "must be file:///path/to/dir or s3://bucket/prefix".into()));
        }
        Ok(Self {
            storage_url: a.storage_url,
            attachment_max_bytes: a.attachment_max_bytes,
            attachment_max_object_bytes: a.attachment_max_object_bytes,
            attachment_sweep_interval: Duration::from_secs(a.attachment_sweep_secs),
            attachment_sweep_grace: Duration::from_secs(a.attachment_sweep_grace_secs),
            download_timeout: Duration::from_millis(a.download_timeout_ms),
            attachment_fetch_interval: Duration::from_millis(a.attachment_fetch_ms),
            suggestion_threshold: a.suggestion_threshold,
            import_max_rows: a.import_max_rows,
            import_max_unpacked_bytes: a.import_max_unpacked_bytes,
            rating_weights,
            rating_min_volume: a.rating_min_volume,
            retention_years: a.retention_years,
            retention_check_interval: Duration::from_secs(a.retention_check_secs),
            retention_batch: a.retention_batch.min(5000),
            deadlines,
            feedback_code_days: a.feedback_code_days,
            feedback_rate_limit: a.feedback_rate_limit,
            database_url: a.database_url,
            bind,
            jwt_secret: a.jwt_secret.map(SecretString::from),
            admin_email: a.admin_email.map(|e| e.trim().to_lowercase()),
            admin_password: a.admin_password.map(SecretString::from),
            timezone,
            json_logs,
            graphiql: a.graphiql,
            introspection: a.introspection,
            access_ttl: Duration::from_secs(a.access_ttl_secs),
            refresh_ttl: Duration::from_secs(a.refresh_ttl_secs),
            db_max_connections: a.db_max_connections,
            db_min_connections: a.db_min_connections,
            sqlite_max_page_count: a.sqlite_max_page_count,
            db_min_free_bytes: a.db_min_free_bytes,
            db_statement_timeout: Duration::from_millis(a.db_statement_timeout_ms),
            db_random_page_cost: a.db_random_page_cost,
            request_timeout: Duration::from_millis(a.request_timeout_ms),
            export_timeout: Duration::from_millis(a.export_timeout_ms),
            rollup_compact_interval: Duration::from_secs(a.rollup_compact_secs),
            dispatch_interval: Duration::from_millis(a.dispatch_interval_ms),
            memo_check_interval: Duration::from_secs(a.memo_check_secs),
            webhook_allow_private: a.webhook_allow_private,
            webhook_delivery: a.webhook_delivery,
            webhook_max_attempts: a.webhook_max_attempts,
            webhook_retry_base: Duration::from_millis(a.webhook_retry_base_ms),
            webhook_retry_max: Duration::from_millis(a.webhook_retry_max_ms),
            webhook_timeout: Duration::from_millis(a.webhook_timeout_ms),
            watch_interval: Duration::from_secs(a.watch_interval_secs),
            escalation,
            subscription_check_interval: Duration::from_secs(a.subscription_check_secs),
            session_cache: Duration::from_millis(a.session_cache_ms),
            ws_init_timeout: Duration::from_secs(a.ws_init_timeout_secs),
            ws_max_connections: a.ws_max_connections,
            ws_max_subscriptions: usize::try_from(a.ws_max_subscriptions).unwrap_or(usize::MAX),
            max_body_bytes: a.max_body_bytes,
            max_upload_bytes: a.max_upload_bytes,
            max_depth: a.max_depth,
            max_complexity: a.max_complexity,
            max_batch: a.max_batch,
            max_fields: a.max_fields,
            metrics_token: a.metrics_token.map(SecretString::from),
            smtp,
            mail_max_attempts: a.mail_max_attempts,
            mail_retry_base: Duration::from_millis(a.mail_retry_base_ms),
            mail_retry_max: Duration::from_millis(a.mail_retry_max_ms),
            digest_time,
            public_url,
            metrics_bind,
            trusted_proxies,
            cors_origins,
            login_max_failures: a.login_max_failures,
            login_window: Duration::from_secs(a.login_window_secs),
            hash_concurrency: a.hash_concurrency,
            roadmap_self_approval: a.roadmap_self_approval,
            roadmap_baseline_months: a.roadmap_baseline_months,
            poll_rate_limit: a.poll_rate_limit,
            poll_code_contact_limit: a.poll_code_contact_limit,
            poll_code_address_limit: a.poll_code_address_limit,
            sms_gateway_url,
        })
    }

    /// Whether the embedded SQLite database is used.
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// The file of the SQLite database, if it is one (not in memory).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self.database_url.strip_prefix("sqlite:")?;
        let rest = rest.trim_start_matches("//");
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" || rest.contains("mode=memory") {
            return None;
        }
        Some(PathBuf::from(path))
    }

    /// The file that keeps the generated JWT secret beside the SQLite database, if any.
    pub fn jwt_secret_file(&self) -> Option<PathBuf> {
        let path = self.sqlite_path()?;
        Some(PathBuf::from(format!("{}.jwt-secret", path.display())))
    }
}
