//! File imports: the ПОС register export, the «Инцидент менеджмент» export and CSV go
//! through the ingestion path row by row, in chunks, each chunk committed on its own; an
//! import killed half-way and run again ends with exactly the right appeals, because every
//! row is idempotent by (channel, external id).

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::intake::{self, IngestItem, IngestOptions, RowError};
use super::{Caller, audit};
use crate::domain::access::Channel;
use crate::domain::deadlines::AppealKind;
use crate::domain::import_format::{self, FileFormat, ImportRow};
use crate::domain::vk_comments;
use crate::domain::xlsx_guard::ImportLimits;
use crate::entity::import_report;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Rows handed to the ingestion at a time; each batch's new appeals are committed together.
/// On SQLite a transaction writes every page it dirtied to the WAL once, and rows received
/// over a year dirty pages all over a dozen indexes: 1,000-row batches rewrote most index
/// pages at every commit as the table grew. On PostgreSQL the analytics ledger is what
/// grows: a transaction appends its own rows for each day, recipient and answer time, and
/// rows of a file that spans a year share few of them within 1,000 (five response-time rows
/// an answered appeal), which the fold at the end then reads back: a ПОС file of 100,000
/// rows took 31 s with 1,000, 23 s with 10,000. The cost is that a batch holds the year's
/// number counter about two seconds, and a new appeal from elsewhere waits for it.
const CHUNK: usize = 10_000;

/// The stored name of a format.
pub fn format_name(f: FileFormat) -> &'static str {
    match f {
        FileFormat::PosXlsx => "POS_XLSX",
        FileFormat::IncidentXlsx => "INCIDENT_XLSX",
        FileFormat::Csv => "CSV",
        FileFormat::VkComments => "VK_COMMENTS",
    }
}

fn to_item(state: &AppState, r: ImportRow) -> IngestItem {
    let tz = state.settings.timezone;
    // Local time of the municipality as written, unless the file gave an offset.
    let received = r.received_utc(&tz);
    let answered = r.answered_utc(&tz);
    let source_due = r.planned_utc(&tz);
    let status =
        Some(import_format::status_code(r.status.as_deref(), r.stage.as_deref(), answered.is_some()).to_string());
    IngestItem {
        channel: r.channel.parse::<Channel>().ok(),
        external_id: r.external_id,
        kind: r.kind.parse::<AppealKind>().ok(),
        received_at: received,
        text: r.text,
        author_name: r.author_name,
        author_contact: r.author_contact,
        category_name: r.category,
        subcategory_name: r.subcategory,
        territory_name: r.territory,
        recipient_name: r.organisation,
        address: None,
        latitude: None,
        longitude: None,
        url: r.url,
        status,
        answered_at: answered,
        answer_text: r.answer_text,
        satisfaction: r.satisfaction,
        reopened: r.reopened,
        source_due,
        source_overdue: r.overdue,
        // A row without a status of its own (every VK comment; a file without the status
        // column): the centre's work on its appeal is not undone by a re-import.
        status_by_centre: r.status.is_none() && r.stage.is_none(),
        attachment_urls: Vec::new(),
    }
}

/// Where an import's rows come from: the file (XLSX), its decoded text (CSV), or the rows
/// parsed already (a JSON export of VK comments, parsed whole within its limits).
enum Source {
    Xlsx(import_format::XlsxLayout),
    Csv(String, import_format::CsvLayout),
    Rows(Vec<Result<ImportRow, import_format::RowError>>),
}

/// Whether an open file starts as a ZIP archive (an XLSX workbook); leaves it at its start
/// (the handles of one open file share its position).
fn file_is_zip(mut file: &std::fs::File) -> AppResult<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut magic = Vec::with_capacity(4);
    file.seek(SeekFrom::Start(0)).map_err(AppError::internal)?;
    file.take(4).read_to_end(&mut magic).map_err(AppError::internal)?;
    file.seek(SeekFrom::Start(0)).map_err(AppError::internal)?;
    Ok(import_format::starts_as_zip(&magic))
}

/// Reads the uploaded file off the async threads; a file that cannot be read is
/// `BAD_USER_INPUT` at `file`.
async fn read_file<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, import_format::FileError> + Send + 'static,
) -> AppResult<T> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(AppError::internal)?
        .map_err(|e| AppError::bad("file", e.to_string()))
}

/// Another buffered handle on the same open file (an XLSX is read through two of them).
fn reader(file: &std::fs::File) -> AppResult<std::io::BufReader<std::fs::File>> {
    file.try_clone().map(|f| std::io::BufReader::with_capacity(1 << 16, f)).map_err(AppError::internal)
}

/// Imports a file (the CLI's file, or the upload's temporary file) and returns its report.
///
/// # Errors
/// `BAD_USER_INPUT` on `file` when the file is not what its format says (nothing is written).
pub async fn run(
    state: &AppState,
    caller: &Caller,
    format: FileFormat,
    file_name: &str,
    file: std::fs::File,
    create_missing: bool,
) -> AppResult<import_report::Model> {
    if create_missing && !intake::may_create_reference(&caller.principal) {
        return Err(AppError::Forbidden(
            "createMissing: only an administrator or a curator may create categories and recipients".into(),
        ));
    }
    // Every comment of a VK export is a Госпаблики message: a caller who may not take those
    // in is refused before the file is read (`channel_refusal` would refuse each row anyway).
    if format == FileFormat::VkComments
        && let Some(why) = intake::channel_refusal(&caller.principal, Channel::Gospabliki)
    {
        return Err(AppError::Forbidden(why));
    }
    let max_rows = state.settings.import_max_rows;
    let limits = ImportLimits { max_rows, max_unpacked_bytes: state.settings.import_max_unpacked_bytes };
    // XLSX is read twice as a stream from the file: a first pass checks the whole file and
    // counts its rows (a damaged file is refused before anything is written), the second
    // hands the rows over as they are read, so neither the file nor the sheet is held in
    // memory. CSV is decoded to text at once (its encoding is a property of the whole file),
    // then read twice the same way.
    let xlsx = match format {
        FileFormat::PosXlsx | FileFormat::IncidentXlsx => true,
        FileFormat::VkComments => file_is_zip(&file)?,
        FileFormat::Csv => false,
    };
    let source = if xlsx {
        let first = reader(&file)?;
        Source::Xlsx(read_file(move || import_format::scan_xlsx(format, first, &limits)).await?)
    } else {
        let mut input = reader(&file)?;
        let read = read_file(move || {
            use std::io::Read;
            let mut bytes = Vec::new();
            // At most one byte over the limit is read, whatever the file's size.
            input
                .by_ref()
                .take(limits.max_unpacked_bytes.saturating_add(1))
                .read_to_end(&mut bytes)
                .map_err(|e| import_format::FileError::Corrupted(format!("файл не читается: {e}")))?;
            if bytes.len() as u64 > limits.max_unpacked_bytes {
                return Err(import_format::csv_too_large(&limits));
            }
            if format == FileFormat::VkComments && vk_comments::looks_like_json(&bytes) {
                return vk_comments::parse_json(&bytes, &limits).map(Source::Rows);
            }
            let text = import_format::decode_text(&bytes)?;
            drop(bytes);
            let layout = import_format::scan_csv_as(format, &text, max_rows)?;
            Ok(Source::Csv(text, layout))
        });
        read.await?
    };
    let total = match &source {
        Source::Xlsx(layout) => layout.rows,
        Source::Csv(_, layout) => layout.rows,
        Source::Rows(rows) => rows.len(),
    };
    // A row the ingestion refuses names the column as the file heads it, not the API field
    // (a JSON row: its path, see `json_field`).
    let headers = match &source {
        Source::Xlsx(layout) => layout.api_headers(),
        Source::Csv(_, layout) => layout.api_headers(),
        Source::Rows(_) => import_format::ApiHeaders::new(),
    };
    let now = state.clock.now();
    let report = import_report::ActiveModel {
        format: Set(format_name(format).into()),
        file_name: Set(file_name.chars().take(255).collect()),
        actor: Set(caller.principal.label()),
        started_at: Set(now),
        finished_at: Set(None),
        rows: Set(i32::try_from(total).unwrap_or(i32::MAX)),
        created: Set(0),
        updated: Set(0),
        unchanged: Set(0),
        errors: Set("[]".into()),
        skipped: Set("[]".into()),
        status: Set(ImportStatus::Running.as_str().into()),
        heartbeat_at: Set(Some(now)),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    let mut tally = Tally::default();
    let ingested = ingest_rows(state, caller, &file, source, &headers, report.id, create_missing, &mut tally).await;
    tally.errors.sort_by_key(|e| e.row);
    let status = if ingested.is_ok() { ImportStatus::Finished } else { ImportStatus::Failed };
    let txn = crate::db::begin_write(&state.writer).await?;
    // `created` and `updated` were counted by the transactions that committed them; the
    // final figures are read back rather than overwritten.
    let mut am = import_report::Entity::find_by_id(report.id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::internal("the import report vanished"))?
        .into_active_model();
    am.finished_at = Set(Some(state.clock.now()));
    am.heartbeat_at = Set(Some(state.clock.now()));
    am.status = Set(status.as_str().into());
    am.unchanged = Set(tally.unchanged as i32);
    am.errors = Set(serde_json::to_string(&tally.errors).map_err(AppError::internal)?);
    am.skipped = Set(serde_json::to_string(&tally.skipped).map_err(AppError::internal)?);
    let report = am.update(&txn).await?;
    audit::record(
        &txn,
        caller,
        state.clock.now(),
        "importAppeals",
        Some(format!("import:{}", report.id)),
        Some(serde_json::json!({ "file": report.file_name, "status": report.status, "created": report.created, "updated": report.updated, "unchanged": tally.unchanged, "errors": tally.errors.len(), "skipped": tally.skipped.len() })),
    )
    .await?;
    txn.commit().await?;
    // The change is in the outbox: its subscribers hear of it now, not at the next poll.
    state.announcements.wake_dispatcher();
    ingested?;
    // The import's chunks appended ledger rows all over the year: fold them now, so analytics
    // are as fast after the import as after a compaction.
    if report.created + report.updated > 0 {
        super::rollup::compact(&state.writer, false).await?;
    }
    Ok(report)
}

/// What an import counted besides what its transactions committed.
#[derive(Default)]
struct Tally {
    unchanged: u32,
    errors: Vec<RowError>,
    /// Rows read but not taken in, with the reason (deleted or empty VK comments; an update
    /// that would reopen an anonymised appeal).
    skipped: Vec<RowError>,
}

/// The JSON path of an ingestion field in a VK comment at `path` (`response.items[2]` →
/// `response.items[2].date` for `receivedAt`).
fn json_field(path: &str, field: &str) -> String {
    let key = match field {
        "externalId" => "id",
        "receivedAt" => "date",
        "authorName" | "authorContact" => "from_id",
        "answeredAt" | "answerText" => "thread",
        "url" => "post_id",
        "channel" => return path.to_string(),
        other => other,
    };
    format!("{path}.{key}")
}

/// Hands the file's rows to the ingestion in chunks; each committed chunk advances the report
/// (see [`IngestOptions::report`]) and the heartbeat is renewed after every chunk.
#[allow(clippy::too_many_arguments)]
async fn ingest_rows(
    state: &AppState,
    caller: &Caller,
    file: &std::fs::File,
    source: Source,
    headers: &import_format::ApiHeaders,
    report: i64,
    create_missing: bool,
    tally: &mut Tally,
) -> AppResult<()> {
    let chunk = CHUNK;
    let mut items = Vec::with_capacity(chunk);
    let opts = IngestOptions { create_missing, report: Some(report) };
    // The next batch is read while one is written: a batch's rows fit in the channel.
    let (tx, mut rx) = tokio::sync::mpsc::channel(chunk);
    let producer = match source {
        Source::Xlsx(layout) => {
            let second = reader(file)?;
            tokio::task::spawn_blocking(move || {
                import_format::stream_xlsx(second, &layout, |row| tx.blocking_send(row).is_ok())
            })
        }
        Source::Csv(text, layout) => tokio::task::spawn_blocking(move || {
            import_format::stream_csv(&text, &layout, |row| tx.blocking_send(row).is_ok())
        }),
        Source::Rows(rows) => tokio::task::spawn_blocking(move || {
            for row in rows {
                if tx.blocking_send(row).is_err() {
                    break;
                }
            }
            Ok(())
        }),
    };
    // A JSON row refused by the ingestion names the path of its field.
    let mut paths: std::collections::HashMap<usize, String> = std::collections::HashMap::new();
    let mut done = false;
    while !done {
        match rx.recv().await {
            Some(Ok(r)) if r.skipped.is_some() => tally.skipped.push(RowError {
                row: r.row,
                field: r.source_path.clone(),
                message: r.skipped.unwrap_or_default(),
            }),
            Some(Ok(mut r)) => {
                if let Some(path) = r.source_path.take() {
                    paths.insert(r.row, path);
                }
                items.push((r.row, to_item(state, r)));
            }
            Some(Err(e)) => tally.errors.push(RowError { row: e.row, field: e.field, message: e.message }),
            None => done = true,
        }
        if items.len() == chunk || (done && !items.is_empty()) {
            let out = intake::ingest(state, caller, std::mem::take(&mut items), opts).await?;
            tally.unchanged += out.unchanged;
            // A row refused or skipped by the ingestion names its column as the file heads it,
            // or in JSON the path of its field.
            let in_file = |mut e: RowError| {
                if let Some(path) = paths.get(&e.row) {
                    e.field = Some(e.field.as_deref().map_or_else(|| path.clone(), |f| json_field(path, f)));
                } else if let Some(h) = e.field.as_deref().and_then(|f| headers.get(f)) {
                    e.field = Some(h.clone());
                }
                e
            };
            tally.errors.extend(out.rejected.into_iter().map(in_file));
            tally.skipped.extend(out.skipped.into_iter().map(in_file));
            paths.clear();
            heartbeat(state, report, tally.unchanged).await?;
        }
    }
    if let Err(e) = producer.await.map_err(AppError::internal)? {
        // The first pass read these very bytes without fault; say so if the second did not.
        tally.errors.push(RowError {
            row: 0,
            field: None,
            message: format!("the file could not be read to its end: {e}"),
        });
    }
    Ok(())
}

/// Renews a running import's heartbeat (and its count of unchanged rows, which no
/// transaction commits).
async fn heartbeat(state: &AppState, report: i64, unchanged: u32) -> AppResult<()> {
    use sea_orm::sea_query::Expr;
    let txn = crate::db::begin_write(&state.writer).await?;
    import_report::Entity::update_many()
        .col_expr(import_report::Column::HeartbeatAt, Expr::value(Some(state.clock.now())))
        .col_expr(import_report::Column::Unchanged, Expr::value(unchanged as i32))
        .filter(import_report::Column::Id.eq(report))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    // The change is in the outbox: its subscribers hear of it now, not at the next poll.
    state.announcements.wake_dispatcher();
    Ok(())
}

/// Where an import stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStatus {
    /// Being imported: its heartbeat is renewed as batches commit.
    Running,
    /// Every row was taken in or reported.
    Finished,
    /// Stopped by an error; the counters tell what was committed before it.
    Failed,
    /// Its process went away (killed, crashed, restarted) while it ran; the counters tell
    /// what was committed.
    Interrupted,
}

impl ImportStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Finished => "FINISHED",
            Self::Failed => "FAILED",
            Self::Interrupted => "INTERRUPTED",
        }
    }

    /// A report's status as of `now`: a running one whose heartbeat is older than
    /// [`HEARTBEAT_STALE`] was interrupted.
    pub fn of(report: &import_report::Model, now: chrono::DateTime<chrono::Utc>) -> Self {
        match report.status.as_str() {
            "RUNNING" => {
                let beat = report.heartbeat_at.unwrap_or(report.started_at);
                if now - beat > HEARTBEAT_STALE { Self::Interrupted } else { Self::Running }
            }
            "FAILED" => Self::Failed,
            "INTERRUPTED" => Self::Interrupted,
            _ => Self::Finished,
        }
    }
}

/// A running import renews its heartbeat after each chunk (seconds apart); one silent this
/// long is no longer running.
pub const HEARTBEAT_STALE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Marks running reports whose heartbeat is stale as interrupted (at server start); returns
/// how many.
///
/// # Errors
/// Database errors.
pub async fn mark_interrupted(state: &AppState) -> AppResult<u64> {
    use sea_orm::sea_query::Expr;
    let stale = state.clock.now() - HEARTBEAT_STALE;
    let txn = crate::db::begin_write(&state.writer).await?;
    let res = import_report::Entity::update_many()
        .col_expr(import_report::Column::Status, Expr::value(ImportStatus::Interrupted.as_str()))
        .filter(import_report::Column::Status.eq(ImportStatus::Running.as_str()))
        .filter(import_report::Column::HeartbeatAt.lt(stale))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    // The change is in the outbox: its subscribers hear of it now, not at the next poll.
    state.announcements.wake_dispatcher();
    Ok(res.rows_affected)
}

/// A page of import reports, newest first, and the total.
pub async fn list(conn: &impl ConnectionTrait, offset: u64, limit: u64) -> AppResult<(Vec<import_report::Model>, u64)> {
    let total = import_report::Entity::find().count(conn).await?;
    let rows = import_report::Entity::find()
        .order_by_desc(import_report::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(conn)
        .await?;
    Ok((rows, total))
}
