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
