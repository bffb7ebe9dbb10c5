//! The command line: migrate, create users and tokens, print the schema, refuse bad settings.

use std::io::Write;
use std::process::{Command, Stdio};

fn mcu(db: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mcu"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db)
        .env("MCU_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn");
    c
}

#[test]
fn users_and_tokens_from_the_command_line() {
    let path = std::env::temp_dir().join(format!("mcu-cli-{}.db", uuid::Uuid::new_v4().simple()));
    let db = format!("sqlite://{}?mode=rwc", path.display());
    let out = mcu(&db).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mut child = mcu(&db)
        .args(["user", "create", "--email", "K@City.ru", "--name", "Куратор", "--role", "curator", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"violet-anchor-pepper-58\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("k@city.ru"));

    let mut child = mcu(&db)
        .args(["user", "create", "--email", "w@city.ru", "--name", "W", "--role", "HEAD", "--password-stdin"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"password1234\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "a common password is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("input.password: is too easy to guess"));

    let out = mcu(&db)
        .args(["user", "create", "--email", "e@city.ru", "--name", "E", "--role", "EXECUTOR"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "an executor needs a recipient");
    assert!(String::from_utf8_lossy(&out.stderr).contains("recipientId"));

    let out = mcu(&db).args(["token", "create", "--name", "ЦУР", "--scope", "ANALYTICS_READ"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l.contains("secret (shown once): mcu_")), "{stdout}");

    let out = mcu(&db).arg("schema").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), mcu::graphql::sdl());

    let out = mcu(&db).env("MCU_TIMEZONE", "Nowhere/Land").arg("migrate").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    assert!(err.contains("MCU_TIMEZONE"));
    for suffix in ["", "-wal", "-shm", ".jwt-secret"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Runs `mcu healthcheck` with this MCU_BIND (off the test's runtime, which serves the app)
/// and returns its exit code and standard error.
async fn healthcheck(bind: String) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let out = mcu("sqlite::memory:").env("MCU_BIND", &bind).arg("healthcheck").output().unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "a short timeout");
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).to_string())
    })
    .await
    .unwrap()
}

/// Whether the server on 127.0.0.1:`port` answers `mcu healthcheck` within about ten seconds.
async fn ready_within_ten_seconds(port: u16) -> bool {
    for _ in 0..100 {
        if healthcheck(format!("127.0.0.1:{port}")).await.0 == 0 {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// A server on 127.0.0.1 that answers every connection with `answer` (nothing when `None`).
fn fake_server(answer: Option<&'static str>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 1024];
            let _ = std::io::Read::read(&mut stream, &mut request);
            match answer {
                Some(a) => {
                    let _ = stream.write_all(a.as_bytes());
                }
                None => std::thread::sleep(std::time::Duration::from_secs(10)),
            }
        }
    });
    port
}

#[tokio::test]
async fn healthcheck_exits_0_when_the_server_is_ready_and_1_otherwise() {
    let app = crate::helpers::spawn_app().await;
    let port = app.base.rsplit(':').next().unwrap().to_string();
    assert_eq!(healthcheck(format!("127.0.0.1:{port}")).await.0, 0);
    // The address the server binds in a container means "this host" to the probe.
    assert_eq!(healthcheck(format!("0.0.0.0:{port}")).await.0, 0);

    // Nothing listens.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (code, err) = healthcheck(format!("127.0.0.1:{free}")).await;
    assert_eq!(code, 1);
    assert!(err.starts_with("mcu: not ready:"), "{err}");
    // Something answers, but not 200 (a server whose database is gone answers 503).
    let busy = fake_server(Some("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 20\r\n\r\ndatabase unreachable"));
    let (code, err) = healthcheck(format!("127.0.0.1:{busy}")).await;
    assert_eq!(code, 1);
    assert!(err.contains("503"), "{err}");
    // Something accepts the connection and never answers: the probe gives up in time.
    let silent = fake_server(None);
    let (code, err) = healthcheck(format!("127.0.0.1:{silent}")).await;
    assert_eq!(code, 1);
    assert!(err.contains("no answer within"), "{err}");
    let (code, err) = healthcheck("not-an-address".into()).await;
    assert_eq!(code, 1);
    assert!(err.contains("MCU_BIND"), "{err}");
}

/// `docker compose` passes an unset `${MCU_ADMIN_PASSWORD:-}` as an empty string: that is
/// "not set" (a random password), not a blank password that stops the start.
#[test]
fn empty_admin_settings_mean_not_set() {
    let mut args = crate::helpers::test_args("sqlite::memory:".into());
    args.admin_password = Some(String::new());
    args.admin_email = Some(String::new());
    args.jwt_secret = Some(String::new());
    let settings = mcu::config::Settings::from_args(args).unwrap();
    assert!(settings.admin_password.is_none() && settings.admin_email.is_none() && settings.jwt_secret.is_none());
    // Spaces are not "nothing": a password of spaces is still refused.
    let mut args = crate::helpers::test_args("sqlite::memory:".into());
    args.admin_password = Some(" ".repeat(16));
    assert_eq!(mcu::config::Settings::from_args(args).unwrap_err().setting, "MCU_ADMIN_PASSWORD");

    let path = std::env::temp_dir().join(format!("mcu-cli-{}.db", uuid::Uuid::new_v4().simple()));
    let db = format!("sqlite://{}?mode=rwc", path.display());
    let out = mcu(&db).env("MCU_ADMIN_PASSWORD", "").env("MCU_ADMIN_EMAIL", "").arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for suffix in ["", "-wal", "-shm", ".jwt-secret"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// `seed-demo` creates the administrator of `--admin-email`/MCU_ADMIN_PASSWORD (its demo users
/// are no administrators), once; `serve` on that database then says why it creates none.
#[tokio::test]
async fn seed_demo_honours_the_admin_settings_and_serve_says_why_it_creates_no_admin() {
    let path = std::env::temp_dir().join(format!("mcu-cli-{}.db", uuid::Uuid::new_v4().simple()));
    let db = format!("sqlite://{}?mode=rwc", path.display());
    let seed = |db: String| {
        tokio::task::spawn_blocking(move || {
            let out = mcu(&db)
                .env("MCU_ADMIN_PASSWORD", "amber-violin-harbor-31")
                .args(["seed-demo", "--appeals", "10", "--admin-email", "Boss@City.ru"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).to_string()
        })
    };
    let first = seed(db.clone()).await.unwrap();
    assert!(first.contains("demo user curator@demo.mcu / "), "{first}");
    assert!(first.contains("administrator boss@city.ru created with MCU_ADMIN_PASSWORD"), "{first}");
    let again = seed(db.clone()).await.unwrap();
    assert!(again.contains("administrator not created: an active one exists (boss@city.ru)"), "{again}");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = mcu(&db)
        .env("RUST_LOG", "info")
        .env("MCU_BIND", format!("127.0.0.1:{port}"))
        .env("MCU_ADMIN_EMAIL", "other@city.ru")
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = ready_within_ten_seconds(port).await;
    server.kill().unwrap();
    let out = server.wait_with_output().unwrap();
    assert!(ready, "the server became ready");
    let logs = String::from_utf8_lossy(&out.stdout);
    let line = logs.lines().find(|l| l.contains("an active administrator exists")).unwrap_or_else(|| panic!("{logs}"));
    assert!(line.contains("\"level\":\"INFO\"") && line.contains("boss@city.ru"), "{line}");
    assert!(line.contains("MCU_ADMIN_EMAIL/MCU_ADMIN_PASSWORD are not used"), "{line}");
    for suffix in ["", "-wal", "-shm", ".jwt-secret"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// A reader that stops early (`mcu seed-demo | head -n 1`) ends the printing, not the work:
/// no panic, a successful exit, and the seed complete.
#[test]
fn a_closed_standard_output_does_not_break_a_command() {
    let path = std::env::temp_dir().join(format!("mcu-cli-{}.db", uuid::Uuid::new_v4().simple()));
    let db = format!("sqlite://{}?mode=rwc", path.display());
    let mut child =
        mcu(&db).args(["seed-demo", "--appeals", "300"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Close the pipe before the command writes a line.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let out = mcu(&db).args(["rollup", "verify"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(appeals_in(&path), 300, "every demo appeal was written");
    let _ = std::fs::remove_file(&path);
}

/// The number of appeals in a SQLite file.
fn appeals_in(path: &std::path::Path) -> i64 {
    let db = format!("sqlite://{}?mode=ro", path.display());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sea_orm::{ConnectionTrait, Statement};
        let c = sea_orm::Database::connect(&db).await.unwrap();
        let row = c
            .query_one_raw(Statement::from_string(c.get_database_backend(), "SELECT count(*) AS n FROM appeals"))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    })
}

/// SIGTERM stops the server cleanly: in-flight work ends, the background jobs stop before the
/// pool closes (none of them meets a closed pool and reports the database as failed), and the
/// process exits 0 with nothing above INFO in its log from then on.
#[tokio::test]
async fn sigterm_stops_the_jobs_before_the_pool_and_logs_no_failure() {
    let app = crate::helpers::spawn_app().await;
    let db = app.state.settings.database_url.clone();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = mcu(&db)
        .env("RUST_LOG", "info")
        .env("MCU_BIND", format!("127.0.0.1:{port}"))
        .env("MCU_JWT_SECRET", "sigterm-secret-sigterm-secret-sigterm-0123")
        .env("MCU_ADMIN_EMAIL", "")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = ready_within_ten_seconds(port).await;
    // Let every job reach its loop (the listener connected, the dispatcher's first pass done).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let term = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(term.success());
    let out = tokio::task::spawn_blocking(move || server.wait_with_output()).await.unwrap().unwrap();
    let logs = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(ready, "the server became ready: {logs}");
    assert!(out.status.success(), "exit 0 on SIGTERM: {:?}\n{logs}", out.status);
    assert!(logs.contains("stopping the background jobs") && logs.contains("closing the database pool"), "{logs}");
    // What the server says once it stops (at start it may warn of settings, e.g. no SMTP).
    let stopping = logs.lines().skip_while(|l| !l.contains("stopped accepting requests"));
    let loud: Vec<&str> =
        stopping.filter(|l| l.contains("\"level\":\"WARN\"") || l.contains("\"level\":\"ERROR\"")).collect();
    assert!(loud.is_empty(), "no warning or error on a clean stop: {loud:#?}");
}
