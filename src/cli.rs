//! The command line: `serve` (default), `migrate`, `user create`, `token create`, `schema`,
//! `healthcheck`, `seed-demo`, `import`, `rollup`, `classifier`, `explain-list`.

use std::io::BufRead;

use clap::{Parser, Subcommand};

/// Whether standard output was closed by its reader (`mcu seed-demo | head -n 1`): the
/// command then finishes its work without printing instead of failing half-way.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes one line to standard output; a reader that went away ends the printing, not the work.
fn say_line(args: std::fmt::Arguments<'_>) {
    emit(args, true);
}

/// Writes to standard output, with a line end or not; see [`say_line`].
fn emit(args: std::fmt::Arguments<'_>, line_end: bool) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) =
        out.write_fmt(args).and_then(|()| out.write_all(if line_end { b"\n" } else { b"" })).and_then(|()| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

macro_rules! say {
    ($($arg:tt)*) => { say_line(format_args!($($arg)*)) };
}

use crate::config::{Settings, SettingsArgs};
use crate::domain::access::{ApiScope, Channel, Principal, Role};
use crate::service::intake::RowError;
use crate::service::{Caller, tokens, users};
use crate::{StartError, graphql};

/// Skipped rows of an import that `mcu import` prints with their reason.
const SKIPPED_SHOWN: usize = 20;

/// Municipal control centre back end (МЦУ).
#[derive(Debug, Parser)]
#[command(name = "mcu", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do; `serve` when absent.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations and serve the API.
    Serve,
    /// Apply migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage integration tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print the GraphQL schema (SDL), as committed in schema.graphql.
    Schema,
    /// Ask the server at MCU_BIND (0.0.0.0 and :: meaning this host) whether it is ready:
    /// exits 0 when `GET /readyz` answers 200 within two seconds, 1 otherwise. For container
    /// health checks; needs neither the database nor a shell.
    Healthcheck,
    /// Import a ПОС, «Инцидент менеджмент» or VK comments export (same code path as
    /// `importAppeals`).
    Import {
        /// pos-xlsx, incident-xlsx, csv or vk-comments (JSON, XLSX or CSV).
        #[arg(long)]
        format: String,
        /// Create unknown categories and organisations instead of reporting them.
        #[arg(long)]
        create_missing: bool,
        file: std::path::PathBuf,
    },
    /// Maintain the analytics rollups.
    #[command(subcommand)]
    Rollup(RollupCommand),
    /// The topic classifier.
    #[command(subcommand)]
    Classifier(ClassifierCommand),
    /// Personal data: the retention run.
    #[command(subcommand)]
    Privacy(PrivacyCommand),
    /// Fill the database with realistic synthetic data of a small city (demo and benchmarks),
    /// then create the administrator of MCU_ADMIN_EMAIL/MCU_ADMIN_PASSWORD if no active one
    /// exists, as `serve` does.
    SeedDemo {
        /// Number of appeals spread over the last year.
        #[arg(long, default_value = "5000")]
        appeals: u64,
        /// Random seed (the same seed gives the same data).
        #[arg(long, default_value = "2026")]
        seed: u64,
    },
    /// Explain shapes of the appeal list (first page and total) as the server builds them,
    /// for a caller that sees every appeal: PostgreSQL `EXPLAIN (ANALYZE, BUFFERS)`, SQLite
    /// `EXPLAIN QUERY PLAN` and timing. Prints a Markdown table (`bench/list-grid.sh`).
    ExplainList {
        /// A file of shapes, one JSON object a line:
        /// `{"name": "…", "filter": {AppealFilter}, "order": "DUE_AT", "direction": "ASC"}`
        /// (without `order`: the API's default, best match first for a search; with
        /// `"count": false` the total is not explained).
        #[arg(long)]
        shapes: Option<std::path::PathBuf>,
        /// One shape given here instead: the filter as GraphQL's `AppealFilter` in JSON.
        #[arg(long)]
        filter: Option<String>,
        /// With `--filter`: RECEIVED_AT, DUE_AT, NUMBER or UPDATED_AT.
        #[arg(long)]
        order: Option<String>,
        /// With `--filter` and `--order`: descending.
        #[arg(long)]
        desc: bool,
        /// Runs of each statement; the median is reported.
        #[arg(long, default_value = "3")]
        runs: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClassifierCommand {
    /// Train on the database's categorised appeals (every fifth held out for evaluation, as
    /// the server does), store the model, print top-1/top-3 accuracy and how confident the
    /// right and wrong first suggestions were; with `--texts`, also on those labelled texts.
    Evaluate {
        /// A JSON array of {"category": "<name as in the rubricator>", "text": "…"}.
        #[arg(long)]
        texts: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Anonymise the closed appeals past MCU_RETENTION_YEARS, as the server's daily run does,
    /// and print how many and which; with --dry-run only list them and change nothing.
    Retain {
        /// List what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Run as at this instant (RFC 3339) instead of now: to check what a date will bring.
        #[arg(long)]
        now: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RollupCommand {
    /// Recompute the rollups from the appeals (after rows were written outside the server).
    Rebuild,
    /// Compare the rollups with the appeals; exits with an error when they differ.
    Verify,
    /// Fold the rollups' rows to one per key.
    Compact,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from standard input with --password-stdin,
    /// otherwise a random one is generated and printed once.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Role(s): ADMIN, CURATOR, COORDINATOR, EXECUTOR, HEAD.
        #[arg(long = "role", required = true, value_parser = parse_enum::<Role>)]
        roles: Vec<Role>,
        /// Channel(s) a COORDINATOR coordinates: POS, INCIDENT, GOSPABLIKI, ...
        #[arg(long = "channel", value_parser = parse_enum::<Channel>)]
        channels: Vec<Channel>,
        /// Recipient id an EXECUTOR answers for.
        #[arg(long)]
        recipient_id: Option<i64>,
        /// Territory id the user is limited to.
        #[arg(long)]
        territory_id: Option<i64>,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print its secret once.
    Create {
        #[arg(long)]
        name: String,
        /// Scope(s): ANALYTICS_READ, APPEALS_INGEST, APPEALS_READ, CUR_REQUESTS.
        #[arg(long = "scope", required = true, value_parser = parse_enum::<ApiScope>)]
        scopes: Vec<ApiScope>,
        /// Days until the token expires (never when absent).
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
}

fn parse_enum<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T, String> {
    s.trim().to_uppercase().replace('-', "_").parse()
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), StartError> {
    let command = cli.command.unwrap_or(Command::Serve);
    if matches!(command, Command::Schema) {
        emit(format_args!("{}", graphql::sdl()), false);
        return Ok(());
    }
    if matches!(command, Command::Healthcheck) {
        // Only the address matters: the probe runs beside the server with its environment,
        // and must not fail on (or spend time checking) settings it does not use.
        return match healthcheck(&cli.settings.bind, std::time::Duration::from_secs(2)).await {
            Ok(()) => {
                say!("ready");
                Ok(())
            }
            Err(why) => Err(StartError::Io(std::io::Error::other(format!("not ready: {why}")))),
        };
    }
    let settings = Settings::from_args(cli.settings)?;
    crate::telemetry::init(settings.json_logs);
    match command {
        Command::Serve => crate::build(settings).await?.run_until_stopped().await,
        Command::Migrate => {
            let state = crate::init_state(settings).await?;
            state.reads.close();
            state.db.close().await?;
            say!("migrations applied");
            Ok(())
        }
        Command::User(UserCommand::Create {
            email,
            name,
            roles,
            channels,
            recipient_id,
            territory_id,
            password_stdin,
        }) => {
            let state = crate::init_state(settings).await?;
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                (line.trim_end_matches(['\r', '\n']).to_string(), false)
            } else {
                (crate::crypto::random_hex(12), true)
            };
            let caller = Caller { request_id: Some("cli".into()), ..Caller::default() };
            let new = users::NewUser {
                email,
                full_name: name,
                password: password.clone(),
                roles,
                channels,
                recipient_id,
                territory_id,
            };
            let u = users::create(&state, &caller, new).await.map_err(cli_error)?;
            say!("created user {} <{}>", u.id, u.email);
            if generated {
                say!("password (shown once): {password}");
            }
            Ok(())
        }
        Command::Token(TokenCommand::Create { name, scopes, expires_in_days }) => {
            let state = crate::init_state(settings).await?;
            let expires_at = expires_in_days.map(|d| state.clock.now() + chrono::Duration::days(d));
            let caller = Caller { request_id: Some("cli".into()), ..Caller::default() };
            let (t, secret) = tokens::create(&state, &caller, &name, &scopes, expires_at).await.map_err(cli_error)?;
            say!("created token {} ({})", t.id, t.name);
            say!("secret (shown once): {secret}");
            Ok(())
        }
        Command::SeedDemo { appeals, seed } => {
            let state = crate::init_state(settings).await?;
            let started = std::time::Instant::now();
            let report = crate::service::seed::seed_demo(&state, appeals, seed).await.map_err(cli_error)?;
            let secs = started.elapsed().as_secs_f64();
            say!(
                "seeded {} appeals in {secs:.1} s ({:.0} rows/s)",
                report.appeals,
                report.appeals as f64 / secs.max(0.001)
            );
            for email in report.users_created {
                say!("demo user {email} / {}", crate::service::seed::DEMO_PASSWORD);
            }
            match users::ensure_admin(&state).await.map_err(cli_error)? {
                users::AdminOutcome::Created { email, generated_password: Some(password) } => {
                    say!("administrator {email} / {password} (random, shown once)");
                }
                users::AdminOutcome::Created { email, generated_password: None } => {
                    say!("administrator {email} created with MCU_ADMIN_PASSWORD");
                }
                users::AdminOutcome::ActiveAdminExists { emails } => {
                    say!("administrator not created: an active one exists ({})", emails.join(", "));
                }
                outcome @ users::AdminOutcome::EmailTaken { .. } => users::log_admin_outcome(&outcome),
            }
            Ok(())
        }
        Command::Import { format, create_missing, file } => {
            use crate::domain::import_format::FileFormat;
            let format = match format.to_lowercase().replace('_', "-").as_str() {
                "pos-xlsx" => FileFormat::PosXlsx,
                "incident-xlsx" => FileFormat::IncidentXlsx,
                "csv" => FileFormat::Csv,
                "vk-comments" => FileFormat::VkComments,
                other => return Err(StartError::Io(std::io::Error::other(format!("unknown format {other}")))),
            };
            let opened = std::fs::File::open(&file)?;
            let state = crate::init_state(settings).await?;
            let caller = Caller { principal: Principal::System, request_id: Some("cli".into()), ..Caller::default() };
            let started = std::time::Instant::now();
            let name = file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let report = Box::pin(crate::service::imports::run(&state, &caller, format, &name, opened, create_missing))
                .await
                .map_err(cli_error)?;
            let secs = started.elapsed().as_secs_f64();
            let skipped = serde_json::from_str::<Vec<RowError>>(&report.skipped).unwrap_or_default();
            say!(
                "import {}: {} rows, {} created, {} updated, {} unchanged, {} errors, {} skipped in {secs:.1} s ({:.0} rows/s)",
                report.id,
                report.rows,
                report.created,
                report.updated,
                report.unchanged,
                serde_json::from_str::<Vec<serde_json::Value>>(&report.errors).map_or(0, |e| e.len()),
                skipped.len(),
                f64::from(report.rows) / secs.max(0.001)
            );
            // The first skipped rows with their reason (one that would reopen an anonymised
            // appeal asks the operator to register a new appeal); the report holds them all.
            let more = skipped.len().saturating_sub(SKIPPED_SHOWN);
            for r in skipped.into_iter().take(SKIPPED_SHOWN) {
                say!("skipped row {} ({}): {}", r.row, r.field.unwrap_or_default(), r.message);
            }
            if more > 0 {
                say!("… and {more} more skipped rows (importReports)");
            }
            Ok(())
        }
        Command::Rollup(cmd) => {
            use crate::service::rollup;
            let state = crate::init_state(settings).await?;
            let tz = state.settings.timezone;
            let started = std::time::Instant::now();
            match cmd {
                RollupCommand::Rebuild => {
                    let rows = rollup::rebuild(&state.writer, tz).await.map_err(cli_error)?;
                    say!("rebuilt the rollups: {rows} rows in {:.1} s", started.elapsed().as_secs_f64());
                }
                RollupCommand::Compact => {
                    let rows = rollup::compact(&state.writer, true).await.map_err(cli_error)?;
                    say!(
                        "compacted the rollups: {} rows in the folded chunks, {:.1} s",
                        rows.unwrap_or(0),
                        started.elapsed().as_secs_f64()
                    );
                }
                RollupCommand::Verify => {
                    let diffs = rollup::verify(&state.db, tz).await.map_err(cli_error)?;
                    for d in diffs.iter().take(50) {
                        say!("{d}");
                    }
                    if !diffs.is_empty() {
                        return Err(StartError::Io(std::io::Error::other(format!(
                            "{} rollup keys or appeals' conflict facts differ from the appeals; run `mcu rollup rebuild`",
                            diffs.len()
                        ))));
                    }
                    say!("the rollups agree with the appeals");
                }
            }
            Ok(())
        }
        Command::Privacy(PrivacyCommand::Retain { dry_run, now }) => {
            let state = crate::init_state(settings).await?;
            if let Some(now) = now {
                let at = chrono::DateTime::parse_from_rfc3339(&now)
                    .map_err(|_| StartError::Io(std::io::Error::other("--now: is not an RFC 3339 instant")))?;
                state.clock.freeze_at(at.with_timezone(&chrono::Utc));
            }
            let o = crate::jobs::retention::pass(&state, dry_run).await.map_err(cli_error)?;
            let cutoff = o.cutoff.with_timezone(&state.settings.timezone);
            if dry_run {
                say!(
                    "would anonymise {} closed appeals last changed before {cutoff} (dry run: nothing changed)",
                    o.numbers.len()
                );
            } else {
                say!(
                    "anonymised {} closed appeals last changed before {cutoff} in {} batches",
                    o.numbers.len(),
                    o.batches
                );
            }
            for n in &o.numbers {
                say!("{n}");
            }
            Ok(())
        }
        Command::Classifier(ClassifierCommand::Evaluate { texts }) => {
            use crate::service::classifier;
            let labelled: Vec<classifier::LabelledText> = match texts {
                Some(path) => serde_json::from_slice(&std::fs::read(&path)?)
                    .map_err(|e| StartError::Io(std::io::Error::other(format!("{}: {e}", path.display()))))?,
                None => Vec::new(),
            };
            let state = crate::init_state(settings).await?;
            let started = std::time::Instant::now();
            let trained = classifier::train(&state).await.map_err(cli_error)?;
            say!(
                "trained on {} appeals in {:.1} s: {} features, {} categories, temperature {}",
                trained.documents,
                started.elapsed().as_secs_f64(),
                trained.model.vocabulary_size(),
                trained.model.labels().len(),
                trained.model.temperature()
            );
            let line = |what: &str, e: &crate::domain::classifier::Evaluation| {
                say!(
                    "{what}: {} texts, top-1 {:.1}%, top-3 {:.1}%, mean confidence {:.2} when right, {:.2} when wrong",
                    e.count,
                    e.top1 * 100.0,
                    e.top3 * 100.0,
                    e.confidence_right,
                    e.confidence_wrong
                );
            };
            match &trained.evaluation {
                Some(e) => line("held out (every fifth appeal)", e),
                None => say!("too few categorised appeals to hold any out"),
            }
            if !labelled.is_empty() {
                let (e, misses) =
                    classifier::evaluate_texts(&state, &trained.model, &labelled).await.map_err(cli_error)?;
                line("labelled texts", &e);
                for (text, expected, got, p) in misses {
                    let short: String = text.chars().take(70).collect();
                    say!("  miss: «{short}» expected {expected}, got {got} ({p:.2})");
                }
            }
            Ok(())
        }
        Command::ExplainList { shapes, filter, order, desc, runs } => {
            let mut list: Vec<serde_json::Value> = Vec::new();
            if let Some(path) = shapes {
                for line in std::fs::read_to_string(&path)?.lines().filter(|l| !l.trim().is_empty()) {
                    list.push(serde_json::from_str(line).map_err(|e| {
                        StartError::Io(std::io::Error::other(format!("{}: {e}: {line}", path.display())))
                    })?);
                }
            }
            if let Some(f) = filter {
                let f: serde_json::Value = serde_json::from_str(&f)
                    .map_err(|e| StartError::Io(std::io::Error::other(format!("--filter: {e}"))))?;
                let direction = if desc { "DESC" } else { "ASC" };
                list.push(serde_json::json!({"name": "--filter", "filter": f, "order": order, "direction": direction}));
            }
            let state = crate::init_state(settings).await?;
            say!(
                "| shape | order | page ms | page buffers | page plan | total from | total ms | total buffers | count over appeals ms |"
            );
            say!("|---|---|---|---|---|---|---|---|---|");
            for shape in list {
                let (filter, req, order) = explain_shape(&shape)?;
                let e = crate::service::list_explain::explain(
                    &state,
                    &filter,
                    req,
                    runs,
                    shape["count"] != serde_json::json!(false),
                )
                .await
                .map_err(cli_error)?;
                let buffers = |b: Option<i64>| b.map_or_else(|| "–".to_string(), |b| b.to_string());
                let (source, count_ms, count_buffers) = match &e.count {
                    Some(c) => (e.count_source, format!("{:.2}", c.ms), buffers(c.buffers)),
                    None => ("", String::new(), String::new()),
                };
                say!(
                    "| {} | {order} | {:.2} | {} | {} | {source} | {count_ms} | {count_buffers} | {} |",
                    shape["name"].as_str().unwrap_or("?"),
                    e.page.ms,
                    buffers(e.page.buffers),
                    e.page.plan.replace('|', "/"),
                    e.direct_count.map_or_else(String::new, |d| format!("{:.2}", d.ms)),
                );
            }
            Ok(())
        }
        Command::Schema | Command::Healthcheck => Ok(()),
    }
}

/// `GET /readyz` over a plain TCP connection with a minimal HTTP/1.0 request, reading no
/// more than the status line: `Ok` when the status is 200.
///
/// # Errors
/// Why the server is not ready: a bad address, no connection, a timeout, another status.
pub async fn healthcheck(bind: &str, timeout: std::time::Duration) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut addr: std::net::SocketAddr =
        bind.parse().map_err(|e| format!("MCU_BIND '{bind}' is not a socket address ({e})"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("{addr}: {e}"))?;
        let request = format!("GET /readyz HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: mcu-healthcheck\r\n\r\n");
        stream.write_all(request.as_bytes()).await.map_err(|e| format!("{addr}: {e}"))?;
        // The status line is all that matters: read until it is complete (or the answer ends).
        let mut answer = Vec::with_capacity(512);
        let mut chunk = [0u8; 512];
        while !answer.windows(2).any(|w| w == b"\r\n") && answer.len() < 4096 {
            let n = stream.read(&mut chunk).await.map_err(|e| format!("{addr}: {e}"))?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&answer);
        let status_line = text.lines().next().unwrap_or_default().to_string();
        let status = status_line.split_whitespace().nth(1).unwrap_or_default();
        if status == "200" { Ok(()) } else { Err(format!("/readyz answered '{status_line}'")) }
    };
    tokio::time::timeout(timeout, probe).await.map_err(|_| format!("{addr}: no answer within {timeout:?}"))?
}

/// The filter and page request of an `explain-list` shape, parsed as the API parses them
/// (the GraphQL input type and its checks), and the order's label.
fn explain_shape(
    shape: &serde_json::Value,
) -> Result<(crate::service::appeal_query::AppealFilter, crate::service::appeal_query::ListRequest, String), StartError>
{
    use crate::service::appeal_query::{ListRequest, OrderField};
    let bad = |why: String| StartError::Io(std::io::Error::other(format!("shape {shape}: {why}")));
    let value = async_graphql::Value::from_json(shape["filter"].clone()).map_err(|e| bad(e.to_string()))?;
    let filter = <graphql::appeals::AppealFilter as async_graphql::InputType>::parse(Some(value))
        .map_err(|e| bad(e.into_server_error(async_graphql::Pos::default()).message))?
        .into_filter()
        .map_err(|e| bad(format!("{e:?}")))?;
    let descending = shape["direction"].as_str() == Some("DESC");
    let (order, descending, label) = match shape["order"].as_str() {
        None if filter.search.is_some() => (OrderField::Relevance, true, "RELEVANCE".to_string()),
        None => (OrderField::ReceivedAt, true, "RECEIVED_AT DESC".to_string()),
        Some(o) => {
            let field = match o {
                "RECEIVED_AT" => OrderField::ReceivedAt,
                "DUE_AT" => OrderField::DueAt,
                "NUMBER" => OrderField::Number,
                "UPDATED_AT" => OrderField::UpdatedAt,
                other => return Err(bad(format!("unknown order {other}"))),
            };
            (field, descending, format!("{o} {}", if descending { "DESC" } else { "ASC" }))
        }
    };
    // The fields of the benchmark's page (names joined, as the server reads them).
    let fields = ["id", "number", "status", "kind", "dueAt", "slaState", "recipient", "category", "territory"];
    let req = ListRequest {
        order,
        descending,
        limit: 50,
        fields: fields.iter().map(ToString::to_string).collect(),
        ..ListRequest::default()
    };
    Ok((filter, req, label))
}

fn cli_error(e: crate::error::AppError) -> StartError {
    match e {
        crate::error::AppError::BadInput(fields) => StartError::Io(std::io::Error::other(
            fields.iter().map(|f| format!("{}: {}", f.path, f.message)).collect::<Vec<_>>().join("; "),
        )),
        other => StartError::App(other),
    }
}
