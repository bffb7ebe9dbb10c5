//! A real SMTP server for the tests: `tests/smtp_sink.py` (aiosmtpd) in a child process,
//! writing what it takes to a file the test reads.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A running SMTP sink; stopped when dropped.
pub struct SmtpSink {
    pub port: u16,
    out: std::path::PathBuf,
    child: Child,
}

impl SmtpSink {
    /// Starts the sink; with `refuse_first` it answers that many messages with 451 first.
    pub fn start(refuse_first: u32) -> SmtpSink {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let out = std::env::temp_dir().join(format!("mcu-smtp-{}.jsonl", uuid::Uuid::new_v4().simple()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py");
        let mut child = Command::new("python3")
            .args([script, &port.to_string(), &out.display().to_string(), "--refuse-first", &refuse_first.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs tests/smtp_sink.py (tests/run.sh installs aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP sink did not start (is aiosmtpd installed? tests/run.sh installs it)"
        );
        SmtpSink { port, out, child }
    }

    /// `smtp://127.0.0.1:PORT` (plain: a sink on the loopback).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages taken so far.
    pub fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits up to `wait` until at least `n` messages arrived; returns them.
    pub async fn wait_for(&self, n: usize, wait: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let got = self.messages();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
    }
}
