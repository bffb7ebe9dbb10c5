//! Subscription load: N WebSocket subscribers of `appealChanged` on one running server
//! (90% executors, each seeing its recipient's appeals; 10% wall screens with an
//! `APPEALS_READ` token seeing everything), while appeals change through `updateAppeal` over
//! HTTP at a fixed rate. Prints the delivery latency (from the mutation's request and from its
//! response to each subscriber's receipt), deliveries against the expected ones, and the
//! server's resident memory before connecting, with the subscribers connected and idle, and
//! under load. Stops by itself; talks only to the URL given (127.0.0.1 in `bench/ws.sh`).
//!
//! Needs a database filled by `mcu seed-demo` (its curator) and the administrator's e-mail
//! and password. Run by `bench/ws.sh`:
//!
//! ```sh
//! cargo run --release --example ws_bench -- URL SERVER_PID ADMIN_EMAIL ADMIN_PASSWORD [SUBSCRIBERS] [INTERVAL_MS] [SECONDS]
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::many_single_char_names
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const CURATOR: (&str, &str) = ("curator@demo.mcu", "orchid-ferry-nimbus-2026");
const EXECUTOR_PASSWORD: &str = "lantern-quartz-meadow-2026";
/// Recipients whose executors subscribe, and appeals changed per recipient.
const RECIPIENTS: usize = 10;
const APPEALS_PER_RECIPIENT: usize = 5;
const SUBSCRIPTION: &str = "subscription { appealChanged { action at appeal { id version status authorName } } }";

struct Api {
    client: reqwest::Client,
    url: String,
}

impl Api {
    async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        self.try_gql(token, query, variables).await.unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    /// The data of a request, or its errors.
    async fn try_gql(&self, token: Option<&str>, query: &str, variables: Value) -> Result<Value, String> {
        let mut req =
            self.client.post(format!("{}/graphql", self.url)).json(&json!({"query": query, "variables": variables}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let body: Value = req.send().await.map_err(|e| e.to_string())?.json().await.map_err(|e| e.to_string())?;
        if body["errors"].is_null() { Ok(body["data"].clone()) } else { Err(body["errors"].to_string()) }
    }

    async fn login(&self, email: &str, password: &str) -> String {
        let q = "mutation($e:String!,$p:String!){login(email:$e,password:$p){accessToken}}";
        let d = self.gql(None, q, json!({"e": email, "p": password})).await;
        d["login"]["accessToken"].as_str().unwrap().to_owned()
    }
}

/// The server's resident set in KiB (`VmRSS`).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A change made: when its request left, when its response came, who should hear it.
#[derive(Clone, Copy)]
struct Made {
    sent: Instant,
    answered: Instant,
    recipient: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// One subscriber: signs in, subscribes, and records what it hears (appeal id, version, when)
/// until told to stop.
async fn subscriber(
    url: String,
    token: String,
    ready: tokio::sync::mpsc::Sender<()>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<(i64, i64, Instant)> {
    let mut req = format!("{}/graphql/ws", url.replace("http://", "ws://")).into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("connect");
    let init = json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}});
    ws.send(Message::Text(init.to_string().into())).await.unwrap();
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("connection_ack") => break,
            Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("no connection_ack: {other:?}"),
        }
    }
    let sub = json!({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}});
    ws.send(Message::Text(sub.to_string().into())).await.unwrap();
    ready.send(()).await.unwrap();
    let mut heard = Vec::new();
    let mut stop = stop;
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let at = Instant::now();
                    let v: Value = serde_json::from_str(&t).unwrap();
                    let a = &v["payload"]["data"]["appealChanged"]["appeal"];
                    match (a["id"].as_str().and_then(|i| i.parse().ok()), a["version"].as_i64()) {
                        (Some(id), Some(version)) => heard.push((id, version, at)),
                        _ => panic!("unexpected message: {t}"),
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("the connection ended: {other:?}"),
            },
            _ = stop.changed() => break,
        }
    }
    let _ = ws.close(None).await;
    heard
}

#[allow(clippy::too_many_lines)]
#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() >= 5,
        "usage: ws_bench URL SERVER_PID ADMIN_EMAIL ADMIN_PASSWORD [SUBSCRIBERS] [INTERVAL_MS] [SECONDS]"
    );
    let url = args[1].clone();
    assert!(url.starts_with("http://127.0.0.1:"), "the benchmark talks to 127.0.0.1 only");
    let pid: u32 = args[2].parse().unwrap();
    let subscribers: usize = args.get(5).map_or(1000, |a| a.parse().unwrap());
    let interval = Duration::from_millis(args.get(6).map_or(10, |a| a.parse().unwrap()));
    let seconds: u64 = args.get(7).map_or(30, |a| a.parse().unwrap());
    let api = Arc::new(Api { client: reqwest::Client::new(), url: url.clone() });

    // Staff: the administrator makes one executor per recipient and a wall-screen token.
    let admin = api.login(&args[3], &args[4]).await;
    let curator = api.login(CURATOR.0, CURATOR.1).await;
    let recipients = api.gql(Some(&curator), "{recipients{id name external}}", json!({})).await;
    let q = "query($r:[ID!]){appeals(first:5,filter:{recipientId:$r,status:[ASSIGNED,IN_PROGRESS]}){edges{node{id version}}}}";
    let mut executors = Vec::new();
    // (appeal id, version, recipient index)
    let mut appeals: Vec<(String, i64, usize)> = Vec::new();
    for r in recipients["recipients"].as_array().unwrap() {
        if executors.len() == RECIPIENTS || r["external"] == true {
            continue;
        }
        let rid = r["id"].as_str().unwrap();
        let found = api.gql(Some(&curator), q, json!({"r": [rid]})).await;
        let edges = found["appeals"]["edges"].as_array().unwrap();
        if edges.len() < APPEALS_PER_RECIPIENT {
            continue;
        }
        let index = executors.len();
        for e in edges.iter().take(APPEALS_PER_RECIPIENT) {
            appeals.push((e["node"]["id"].as_str().unwrap().to_owned(), e["node"]["version"].as_i64().unwrap(), index));
        }
        let email = format!("bench-executor-{rid}-{}@bench.test", std::process::id());
        let create = "mutation($i:CreateUserInput!){createUser(input:$i){id}}";
        let input = json!({"email": email, "fullName": format!("Исполнитель {rid}"), "password": EXECUTOR_PASSWORD,
            "roles": ["EXECUTOR"], "recipientId": rid});
        api.gql(Some(&admin), create, json!({"i": input})).await;
        executors.push(api.login(&email, EXECUTOR_PASSWORD).await);
    }
    assert!(!executors.is_empty(), "no recipient with {APPEALS_PER_RECIPIENT} assigned appeals; seed more appeals");
    let q = "mutation{createApiToken(input:{name:\"wall screen\",scopes:[APPEALS_READ]}){secret}}";
    let screen = api.gql(Some(&admin), q, json!({})).await["createApiToken"]["secret"].as_str().unwrap().to_owned();

    // Subscribers: 90% executors spread over the recipients, 10% wall screens.
    let screens = subscribers / 10;
    let rss_before = rss_kib(pid);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(subscribers);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    // Who each subscriber is: Some(recipient index) for an executor, None for a screen.
    let mut whom = Vec::new();
    let connect_started = Instant::now();
    for i in 0..subscribers {
        let (token, who) = if i < screens {
            (screen.clone(), None)
        } else {
            let k = i % executors.len();
            (executors[k].clone(), Some(k))
        };
        whom.push(who);
        tasks.push(tokio::spawn(subscriber(url.clone(), token, ready_tx.clone(), stop_rx.clone())));
        // Connect in waves of 50, so the server's accept queue is not what is measured.
        if i % 50 == 49 {
            for _ in 0..50 {
                ready_rx.recv().await.unwrap();
            }
        }
    }
    for _ in 0..subscribers % 50 {
        ready_rx.recv().await.unwrap();
    }
    let connect_took = connect_started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = rss_kib(pid);

    // Load: one updateAppeal every `interval`, round-robin over the appeals; an appeal whose
    // last change has not been answered yet lets its turn pass (counted).
    let made: Arc<Mutex<HashMap<(i64, i64), Made>>> = Arc::default();
    let versions: Vec<Arc<tokio::sync::Mutex<i64>>> =
        appeals.iter().map(|(_, v, _)| Arc::new(tokio::sync::Mutex::new(*v))).collect();
    let appeals = Arc::new(appeals);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let load_started = Instant::now();
    let mut rss_peak = rss_idle;
    let mut last_sample = Instant::now();
    let mut skipped = 0_u64;
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut inflight = Vec::new();
    let mut n = 0_usize;
    while load_started.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        let k = n % appeals.len();
        n += 1;
        let Ok(mut version) = Arc::clone(&versions[k]).try_lock_owned() else {
            skipped += 1;
            continue;
        };
        let (api, made, appeals, curator) =
            (Arc::clone(&api), Arc::clone(&made), Arc::clone(&appeals), curator.clone());
        let failed = Arc::clone(&failed);
        let summary = format!("нагрузка {n}");
        inflight.push(tokio::spawn(async move {
            let (id, _, recipient) = &appeals[k];
            let q = "mutation($i:UpdateAppealInput!){updateAppeal(input:$i){version}}";
            let input = json!({"id": id, "version": *version, "summary": summary});
            let sent = Instant::now();
            let Ok(d) = api.try_gql(Some(&curator), q, json!({"i": input})).await else {
                // Nothing was saved (e.g. the database was busy): counted, not a change.
                failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return;
            };
            let answered = Instant::now();
            let v = d["updateAppeal"]["version"].as_i64().unwrap();
            *version = v;
            made.lock().unwrap().insert((id.parse().unwrap(), v), Made { sent, answered, recipient: *recipient });
        }));
        if last_sample.elapsed() >= Duration::from_secs(1) {
            rss_peak = rss_peak.max(rss_kib(pid));
            last_sample = Instant::now();
        }
    }
    for t in inflight {
        t.await.unwrap();
    }
    let load_took = load_started.elapsed();
    rss_peak = rss_peak.max(rss_kib(pid));
    // Let the last deliveries arrive, then end every connection.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_tx.send(true).unwrap();
    let mut heard = Vec::new();
    for t in tasks {
        heard.push(t.await.unwrap());
    }

    let made = made.lock().unwrap().clone();
    let mut from_request = Vec::new();
    let mut from_response = Vec::new();
    let mut received = 0_u64;
    let mut stray = 0_u64;
    for (who, h) in whom.iter().zip(&heard) {
        for (id, version, at) in h {
            let Some(m) = made.get(&(*id, *version)) else {
                stray += 1;
                continue;
            };
            if who.is_some_and(|r| r != m.recipient) {
                stray += 1;
                continue;
            }
            received += 1;
            from_request.push(at.saturating_duration_since(m.sent).as_secs_f64() * 1000.0);
            from_response.push(at.saturating_duration_since(m.answered).as_secs_f64() * 1000.0);
        }
    }
    let executors_of = |r: usize| whom.iter().filter(|w| **w == Some(r)).count() as u64;
    let expected: u64 = made.values().map(|m| screens as u64 + executors_of(m.recipient)).sum();
    from_request.sort_by(f64::total_cmp);
    from_response.sort_by(f64::total_cmp);
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "subscribers            {subscribers} ({} executors of {} recipients, {screens} wall screens), connected in {:.1} s",
        subscribers - screens,
        executors.len(),
        connect_took.as_secs_f64()
    );
    println!(
        "changes                {} in {:.1} s (one per {} ms asked; {skipped} turns passed while the appeal's last change was unanswered; {} mutations failed)",
        made.len(),
        load_took.as_secs_f64(),
        interval.as_millis(),
        failed.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!("deliveries             {received} of {expected} expected ({stray} not expected)");
    println!(
        "latency from request   p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&from_request, 50.0),
        percentile(&from_request, 99.0),
        from_request.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "latency from response  p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&from_response, 50.0),
        percentile(&from_response, 99.0),
        from_response.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "server RSS             before {:.1} MiB, {subscribers} connected idle {:.1} MiB, under load (peak of 1 s samples) {:.1} MiB",
        mib(rss_before),
        mib(rss_idle),
        mib(rss_peak)
    );
    println!(
        "memory per connection  {:.1} KiB idle, {:.1} KiB under load",
        (rss_idle.saturating_sub(rss_before)) as f64 / subscribers as f64,
        (rss_peak.saturating_sub(rss_before)) as f64 / subscribers as f64
    );
}
