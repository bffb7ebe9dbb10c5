//! `spawn_app()` and a small typed GraphQL client.

use std::sync::atomic::{AtomicUsize, Ordering};

use mcu::config::{Settings, SettingsArgs};
use mcu::state::AppState;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

pub const ADMIN_EMAIL: &str = "admin@mcu.test";
pub const ADMIN_PASSWORD: &str = "quartz-lantern-meadow-97";
pub const METRICS_TOKEN: &str = "metrics-token-for-tests-0123";
pub const PASSWORD: &str = "correct horse battery";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Sends the servers' logs to the test's captured output (shown when a test fails), so an
/// internal error's cause appears beside its request id. `RUST_LOG` filters; the servers'
/// errors only by default (a hostile request's warnings are expected).
fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().with_ansi(false).try_init();
    });
}

/// Settings for a test server: fast, explicit, independent of the environment.
pub fn test_args(database_url: String) -> SettingsArgs {
    SettingsArgs {
        database_url,
        bind: "127.0.0.1:0".into(),
        jwt_secret: Some("test-secret-that-is-long-enough-0123456789".into()),
        admin_email: Some(ADMIN_EMAIL.into()),
        admin_password: Some(ADMIN_PASSWORD.into()),
        timezone: "Asia/Krasnoyarsk".into(),
        log_format: "text".into(),
        graphiql: true,
        introspection: true,
        access_ttl_secs: 900,
        refresh_ttl_secs: 2_592_000,
        db_max_connections: 8,
        db_min_connections: 1,
        sqlite_max_page_count: None,
        db_min_free_bytes: 16 * 1_048_576,
        db_statement_timeout_ms: 10_000,
        db_random_page_cost: 1.1,
        request_timeout_ms: 30_000,
        export_timeout_ms: 600_000,
        rollup_compact_secs: 300,
        dispatch_interval_ms: 100,
        memo_check_secs: 3600,
        // The webhook receivers of the tests listen on 127.0.0.1; retries come fast.
        webhook_allow_private: true,
        webhook_delivery: true,
        webhook_max_attempts: 3,
        webhook_retry_base_ms: 200,
        webhook_retry_max_ms: 1000,
        webhook_timeout_ms: 2000,
        watch_interval_secs: 3600,
        escalation: "{}".into(),
        subscription_check_secs: 1,
        // Long, so that a change that forgot to drop the kept people fails a test instead of
        // being hidden by the time running out (and statement counts do not depend on speed).
        session_cache_ms: 600_000,
        ws_init_timeout_secs: 10,
        ws_max_connections: 10_000,
        ws_max_subscriptions: 20,
        max_body_bytes: 1_048_576,
        max_upload_bytes: 16 * 1_048_576,
        max_depth: 12,
        max_complexity: 10_000,
        max_batch: 10,
        max_fields: 2000,
        metrics_token: Some(METRICS_TOKEN.into()),
        metrics_bind: None,
        smtp_url: None,
        mail_from: None,
        // A refused e-mail is tried again soon.
        mail_max_attempts: 3,
        mail_retry_base_ms: 200,
        mail_retry_max_ms: 1000,
        digest_time: "08:00".into(),
        public_url: None,
        trusted_proxies: String::new(),
        cors_origins: String::new(),
        login_max_failures: 10,
        login_window_secs: 900,
        hash_concurrency: 2,
        deadlines: "{}".into(),
        feedback_code_days: 30,
        feedback_rate_limit: 20,
        suggestion_threshold: 0.6,
        import_max_rows: 200_000,
        import_max_unpacked_bytes: 512 << 20,
        roadmap_self_approval: false,
        roadmap_baseline_months: 6,
        poll_rate_limit: 30,
        poll_code_contact_limit: 3,
        poll_code_address_limit: 10,
        sms_gateway_url: None,
        rating_weights: "{}".into(),
        rating_min_volume: 5,
        retention_years: 5,
        retention_check_secs: 3600,
        retention_batch: 200,
        // Set per test by `spawn_app_with` (a directory of its own).
        storage_url: None,
        attachment_max_bytes: 50 << 20,
        attachment_max_object_bytes: 200 << 20,
        attachment_sweep_secs: 3600,
        attachment_sweep_grace_secs: 86_400,
        download_timeout_ms: 60_000,
        attachment_fetch_ms: 200,
    }
}

/// A running test server.
pub struct TestApp {
    pub base: String,
    /// The port of the separate `/metrics` listener, when `metrics_bind` is set.
    #[allow(dead_code)]
    pub metrics_port: Option<u16>,
    pub client: reqwest::Client,
    pub state: AppState,
    cleanup: Cleanup,
    /// The directory of attached files of this test (removed with it).
    files: Option<std::path::PathBuf>,
}

enum Cleanup {
    /// Another process on the database of a [`TestApp`] that cleans up itself.
    Shared,
    File(std::path::PathBuf),
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(dir) = &self.files {
            let _ = std::fs::remove_dir_all(dir);
        }
        match &self.cleanup {
            Cleanup::Shared => {}
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime: use a thread with its own runtime.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(async {
                        if let Ok(db) = Database::connect(&admin_url).await {
                            let _ = db
                                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                                .await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// Starts the real server on port 0 with a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with changed settings.
pub async fn spawn_app_with(change: impl FnOnce(&mut SettingsArgs)) -> TestApp {
    capture_logs();
    let id = format!("{}_{}", uuid::Uuid::new_v4().simple(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let (url, cleanup) = match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("test_{id}");
            let admin = Database::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
            admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
            admin.close().await.ok();
            let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b).to_string();
            (format!("{base}/{name}"), Cleanup::Postgres { admin_url, name })
        }
        _ => {
            let path = std::env::temp_dir().join(format!("mcu-test-{id}.db"));
            (format!("sqlite://{}?mode=rwc", path.display()), Cleanup::File(path))
        }
    };
    let mut args = test_args(url);
    let files = std::env::temp_dir().join(format!("mcu-test-{id}-files"));
    args.storage_url = Some(format!("file://{}", files.display()));
    change(&mut args);
    let settings = Settings::from_args(args).expect("valid test settings");
    let app = mcu::build(settings).await.expect("server builds");
    let port = app.port();
    let metrics_port = app.metrics_port();
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        metrics_port,
        client: reqwest::Client::new(),
        state,
        cleanup,
        files: Some(files),
    }
}

impl TestApp {
    /// A second server process on this one's database (what a second replica would be).
    pub async fn second_process(&self) -> TestApp {
        self.second_process_with(|_| {}).await
    }

    /// Like [`Self::second_process`], with changed settings.
    pub async fn second_process_with(&self, change: impl FnOnce(&mut SettingsArgs)) -> TestApp {
        let mut args = test_args(self.state.settings.database_url.clone());
        args.admin_password = None;
        args.storage_url.clone_from(&self.state.settings.storage_url);
        change(&mut args);
        let settings = Settings::from_args(args).expect("valid test settings");
        let app = mcu::build(settings).await.expect("second server builds");
        let port = app.port();
        let state = app.state().clone();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            metrics_port: None,
            client: reqwest::Client::new(),
            state,
            cleanup: Cleanup::Shared,
            files: None,
        }
    }
}

/// A GraphQL response.
#[derive(Debug)]
pub struct Gql {
    #[allow(dead_code)]
    pub status: u16,
    pub body: Value,
}

impl Gql {
    /// `data`, asserting there were no errors.
    pub fn data(&self) -> &Value {
        assert!(self.body.get("errors").is_none_or(Value::is_null), "unexpected errors: {}", self.body);
        &self.body["data"]
    }

    /// The code of the first error, asserting there is one.
    pub fn code(&self) -> String {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error with a code, got {}", self.body))
            .to_string()
    }

    /// The first error's message.
    pub fn message(&self) -> String {
        self.body["errors"][0]["message"].as_str().unwrap_or_default().to_string()
    }

    /// The field paths of the first error's `extensions.fields`.
    pub fn field_paths(&self) -> Vec<String> {
        self.body["errors"][0]["extensions"]["fields"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f["path"].as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }
}

impl TestApp {
    /// Fails when a write path left out part of what every write of an appeal records: the
    /// analytics rollups must agree with the appeals, and the history and the audit trail
    /// must account for every write ([`Self::assert_writes_recorded`]).
    pub async fn assert_rollups_agree(&self) {
        let diffs = mcu::service::rollup::verify(&self.state.db, self.state.settings.timezone).await.unwrap();
        assert!(diffs.is_empty(), "the rollups differ from the appeals:\n{}", diffs.join("\n"));
        self.assert_writes_recorded().await;
    }

    /// Fails unless every write of every appeal left its history entry and its audit entry:
    /// an appeal's version counts its writes, so it has exactly `version` history entries, the
    /// first one its arrival and the last one naming its status; each entry has the audit
    /// entry of the same action, target and instant (a reopening that follows from a rating
    /// shares the rating's), and the arrivals of a batch are counted by its one audit entry.
    /// The deadline watch's escalation notes (`escalate`, by `system`) write nothing of the
    /// appeal: they count no version and have no audit entry. A task done on the appeal
    /// (`completeAppealTask`) is a note too (no version), with its audit entry.
    pub async fn assert_writes_recorded(&self) {
        use std::collections::HashMap;

        use mcu::entity::{appeal, appeal_event, audit_log};
        use sea_orm::{EntityTrait, QueryOrder};
        let db = &self.state.db;
        let appeals = appeal::Entity::find().all(db).await.unwrap();
        let (notes, events): (Vec<_>, Vec<_>) = appeal_event::Entity::find()
            .order_by_asc(appeal_event::Column::Id)
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .partition(|e| (e.action == "escalate" && e.actor == "system") || e.action == "completeAppealTask");
        for n in &notes {
            assert!(appeals.iter().any(|a| a.id == n.appeal_id), "a note of a missing appeal");
            assert_eq!(n.from_status, n.to_status, "a note changes no status");
        }
        let audit = audit_log::Entity::find().all(db).await.unwrap();
        let mut history: HashMap<i64, Vec<&appeal_event::Model>> = HashMap::new();
        for e in &events {
            history.entry(e.appeal_id).or_default().push(e);
        }
        const ARRIVALS: [&str; 3] = ["createAppeal", "ingestAppeal", "seedDemo"];
        for a in &appeals {
            let h = history.get(&a.id).map(Vec::as_slice).unwrap_or_default();
            let actions: Vec<&str> = h.iter().map(|e| e.action.as_str()).collect();
            assert_eq!(h.len(), a.version as usize, "appeal {} at version {}: history {actions:?}", a.id, a.version);
            assert!(ARRIVALS.contains(&actions[0]) && h[0].from_status.is_none(), "appeal {}: {actions:?}", a.id);
            assert!(h[1..].iter().all(|e| !ARRIVALS.contains(&e.action.as_str())), "appeal {}: {actions:?}", a.id);
            assert_eq!(h[h.len() - 1].to_status.as_deref(), Some(a.status.as_str()), "appeal {}: {actions:?}", a.id);
        }
        assert_eq!(history.len(), appeals.len(), "history entries of appeals that do not exist");
        let key = |action: &str, target: String, at| (action.to_string(), target, at);
        let mut audited: HashMap<(String, String, chrono::DateTime<chrono::Utc>), usize> = HashMap::new();
        let mut batches: HashMap<&str, i64> = HashMap::new();
        for entry in &audit {
            let target = entry.target.clone().unwrap_or_default();
            *audited.entry(key(&entry.action, target, entry.at)).or_default() += 1;
            if matches!(entry.action.as_str(), "ingestAppeals" | "seedDemo") {
                let data: Value = serde_json::from_str(entry.data.as_deref().unwrap_or("{}")).unwrap();
                *batches.entry(entry.action.as_str()).or_default() += data["created"].as_i64().unwrap();
            }
        }
        let mut expected: HashMap<(String, String, chrono::DateTime<chrono::Utc>), usize> = HashMap::new();
        let mut arrived: HashMap<&str, i64> = HashMap::new();
        for e in &events {
            let target = format!("appeal:{}", e.appeal_id);
            match e.action.as_str() {
                "ingestAppeal" => *arrived.entry("ingestAppeals").or_default() += 1,
                "seedDemo" => *arrived.entry("seedDemo").or_default() += 1,
                "reopenAppeal" if e.actor == "system" => {
                    let rated = ["recordFeedback", "submitFeedback"]
                        .iter()
                        .any(|rating| audited.contains_key(&key(rating, target.clone(), e.at)));
                    assert!(rated, "the automatic reopening of {target} at {} follows no audited rating", e.at);
                }
                action => *expected.entry(key(action, target, e.at)).or_default() += 1,
            }
        }
        // A task done is a note with the audit entry of the person who did it.
        for n in notes.iter().filter(|n| n.action == "completeAppealTask") {
            *expected.entry(key(&n.action, format!("appeal:{}", n.appeal_id), n.at)).or_default() += 1;
        }
        for (k, n) in &expected {
            assert_eq!(audited.get(k).copied().unwrap_or_default(), *n, "audit entries of {k:?}");
        }
        assert_eq!(batches, arrived, "appeals counted by the batches' audit entries and their arrivals");
    }

    /// Posts a GraphQL operation, with a bearer token when given.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Gql {
        let mut req =
            self.client.post(format!("{}/graphql", self.base)).json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        Gql { status, body }
    }

    /// Signs in and returns (access token, refresh token).
    pub async fn login(&self, email: &str, password: &str) -> (String, String) {
        let r = self
            .gql(
                None,
                "mutation($e:String!,$p:String!){login(email:$e,password:$p){accessToken refreshToken}}",
                json!({ "e": email, "p": password }),
            )
            .await;
        let d = r.data();
        (
            d["login"]["accessToken"].as_str().unwrap().to_string(),
            d["login"]["refreshToken"].as_str().unwrap().to_string(),
        )
    }

    /// The first administrator's access token.
    pub async fn admin(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.0
    }

    /// Creates a user with these roles (and what the roles need) and returns its id and access token.
    pub async fn user_with(&self, admin: &str, roles: &[&str], extra: Value) -> (String, String) {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let email = format!("user{n}@mcu.test");
        let mut input =
            json!({ "email": email, "fullName": format!("User {n}"), "password": PASSWORD, "roles": roles });
        if roles.contains(&"COORDINATOR") {
            input["channels"] = json!(["POS"]);
        }
        if roles.contains(&"EXECUTOR") && extra.get("recipientId").is_none() {
            let r = self
                .gql(
                    Some(admin),
                    "mutation($n:String!){createRecipient(input:{name:$n}){id}}",
                    json!({ "n": format!("Отдел {n}") }),
                )
                .await;
            input["recipientId"] = r.data()["createRecipient"]["id"].clone();
        }
        if let (Some(obj), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        let r = self
            .gql(Some(admin), "mutation($i:CreateUserInput!){createUser(input:$i){id}}", json!({ "i": input }))
            .await;
        let id = r.data()["createUser"]["id"].as_str().unwrap().to_string();
        let (token, _) = self.login(&email, PASSWORD).await;
        (id, token)
    }

    /// The secret of a new API token named after its one `scope` (an `ApiScope` name),
    /// created by `admin`.
    pub async fn api_token(&self, admin: &str, scope: &str) -> String {
        let q = format!("mutation{{createApiToken(input:{{name:\"{scope}\",scopes:[{scope}]}}){{secret}}}}");
        self.gql(Some(admin), &q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().to_string()
    }

    /// Counts audit entries with this action (read directly from the database).
    pub async fn audit_count(&self, action: &str) -> u64 {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        mcu::entity::audit_log::Entity::find()
            .filter(mcu::entity::audit_log::Column::Action.eq(action))
            .count(&self.state.db)
            .await
            .unwrap()
    }
}

impl TestApp {
    /// Freezes the server's clock at `rfc3339`.
    pub fn set_now(&self, rfc3339: &str) {
        let target = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&chrono::Utc);
        self.state.clock.freeze_at(target);
    }

    /// SQL statements executed so far by the server.
    pub fn sql_statements(&self) -> u64 {
        self.state.metrics.sql_statements.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Creates a recipient and returns its id.
    pub async fn recipient(&self, admin: &str, name: &str) -> String {
        let r = self
            .gql(Some(admin), "mutation($n:String!){createRecipient(input:{name:$n}){id}}", json!({ "n": name }))
            .await;
        r.data()["createRecipient"]["id"].as_str().unwrap().to_string()
    }

    /// Creates a territory (optionally under a parent) and returns its id.
    pub async fn territory(&self, admin: &str, name: &str, parent: Option<&str>) -> String {
        let r = self
            .gql(
                Some(admin),
                "mutation($n:String!,$p:ID){createTerritory(input:{name:$n,parentId:$p,population:10000}){id}}",
                json!({ "n": name, "p": parent }),
            )
            .await;
        r.data()["createTerritory"]["id"].as_str().unwrap().to_string()
    }

    /// The id of a seeded category by name.
    pub async fn category(&self, token: &str, name: &str) -> String {
        let r = self.gql(Some(token), "{ categories { id name } }", json!({})).await;
        r.data()["categories"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no category {name}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates an appeal and returns (id, version, dueAt).
    pub async fn appeal(&self, token: &str, input: Value) -> (String, i64, String) {
        let r = self
            .gql(
                Some(token),
                "mutation($i:CreateAppealInput!){createAppeal(input:$i){id version dueAt}}",
                json!({ "i": input }),
            )
            .await;
        let a = &r.data()["createAppeal"];
        (
            a["id"].as_str().unwrap().to_string(),
            a["version"].as_i64().unwrap(),
            a["dueAt"].as_str().unwrap().to_string(),
        )
    }

    /// Runs an appeal mutation taking `input` and returns the appeal's selected fields.
    pub async fn act(&self, token: &str, mutation: &str, input_type: &str, input: Value) -> Gql {
        let q = format!(
            "mutation($i:{input_type}!){{ r: {mutation}(input:$i) {{ id status version dueAt slaState extended feedbackCode reopenCount completeness satisfied }} }}"
        );
        self.gql(Some(token), &q, json!({ "i": input })).await
    }
}

/// The usual cast of a test: every role once, two recipients and executors of each.
pub struct Staff {
    pub admin: String,
    pub curator: String,
    pub curator_id: String,
    pub other_curator: String,
    /// Coordinates the POS and INCIDENT channels.
    pub coordinator: String,
    /// Executor of `recipient`.
    pub executor: String,
    /// Executor of another recipient.
    pub other_executor: String,
    pub head: String,
    pub recipient: String,
}

impl TestApp {
    /// Creates [`Staff`]: an administrator, two curators, a coordinator, two executors of two
    /// recipients and the Head, each signed in.
    pub async fn staff(&self) -> Staff {
        let admin = self.admin().await;
        let recipient = self.recipient(&admin, "Управление ЖКХ").await;
        let other = self.recipient(&admin, "Управление образования").await;
        let (curator_id, curator) = self.user_with(&admin, &["CURATOR"], json!({})).await;
        let (_, other_curator) = self.user_with(&admin, &["CURATOR"], json!({})).await;
        let (_, coordinator) = self.user_with(&admin, &["COORDINATOR"], json!({"channels": ["POS", "INCIDENT"]})).await;
        let (_, executor) = self.user_with(&admin, &["EXECUTOR"], json!({"recipientId": recipient})).await;
        let (_, other_executor) = self.user_with(&admin, &["EXECUTOR"], json!({"recipientId": other})).await;
        let (_, head) = self.user_with(&admin, &["HEAD"], json!({})).await;
        self.settle().await;
        Staff { admin, curator, curator_id, other_curator, coordinator, executor, other_executor, head, recipient }
    }

    /// Waits until every announcement written so far has been dispatched, and a moment more
    /// for this process to hear it (on PostgreSQL through `LISTEN`): a person's creation
    /// heard late drops the people kept for access tokens, and a test that counts statements
    /// would count that account's read again.
    pub async fn settle(&self) {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(10) {
            let waiting = mcu::entity::outbox::Entity::find()
                .filter(mcu::entity::outbox::Column::DispatchedAt.is_null())
                .count(&self.state.db)
                .await
                .unwrap();
            if waiting == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
