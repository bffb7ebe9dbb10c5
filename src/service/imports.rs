//! File imports: the ПОС register export, the «Инцидент менеджмент» export and CSV go
//! through the ingestion path row by row, in chunks, each chunk committed on its own; an
//! import killed half-way and run again ends with exactly the right appeals, because every
//! row is idempotent by (channel, external id).

use chrono::TimeZone;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryOrder, QuerySelect, Set,
};

use super::intake::{self, IngestItem, IngestOptions, RowError};
use super::{Caller, audit};
use crate::domain::access::Channel;
use crate::domain::deadlines::AppealKind;
use crate::domain::import_format::{self, FileFormat, ImportRow};
use crate::entity::import_report;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Rows ingested per transaction batch.
const CHUNK: usize = 1000;

/// The stored name of a format.
pub fn format_name(f: FileFormat) -> &'static str {
    match f {
        FileFormat::PosXlsx => "POS_XLSX",
        FileFormat::IncidentXlsx => "INCIDENT_XLSX",
        FileFormat::Csv => "CSV",
    }
}

fn to_item(state: &AppState, r: ImportRow) -> IngestItem {
    let tz = state.settings.timezone;
    let utc = |t: chrono::NaiveDateTime| tz.from_local_datetime(&t).earliest().map(|l| l.with_timezone(&chrono::Utc));
    let answered = r.answered_at.and_then(utc);
    let status =
        Some(import_format::status_code(r.status.as_deref(), r.stage.as_deref(), answered.is_some()).to_string());
    IngestItem {
        channel: r.channel.parse::<Channel>().ok(),
        external_id: r.external_id,
        kind: r.kind.parse::<AppealKind>().ok(),
        received_at: utc(r.received_at),
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
    }
}

/// Imports a file and returns its report.
///
/// # Errors
/// `BAD_USER_INPUT` on `file` when the file is not what its format says (nothing is written).
pub async fn run(
    state: &AppState,
    caller: &Caller,
    format: FileFormat,
    file_name: &str,
    bytes: Vec<u8>,
    create_missing: bool,
) -> AppResult<import_report::Model> {
    let max_rows = state.settings.import_max_rows;
    let parsed = tokio::task::spawn_blocking(move || import_format::parse(format, &bytes, max_rows))
        .await
        .map_err(AppError::internal)?
        .map_err(|e| AppError::bad("file", e.to_string()))?;
    let now = state.clock.now();
    let report = import_report::ActiveModel {
        format: Set(format_name(format).into()),
        file_name: Set(file_name.chars().take(255).collect()),
        actor: Set(caller.principal.label()),
        started_at: Set(now),
        finished_at: Set(None),
        rows: Set(parsed.len() as i32),
        created: Set(0),
        updated: Set(0),
        unchanged: Set(0),
        errors: Set("[]".into()),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    let (mut created, mut updated, mut unchanged) = (0u32, 0u32, 0u32);
    let mut errors: Vec<RowError> = Vec::new();
    let mut items = Vec::with_capacity(CHUNK);
    let opts = IngestOptions { create_missing };
    let total = parsed.len();
    for (i, row) in parsed.into_iter().enumerate() {
        match row {
            Ok(r) => items.push((r.row, to_item(state, r))),
            Err(e) => errors.push(RowError { row: e.row, field: e.field, message: e.message }),
        }
        if items.len() == CHUNK || i + 1 == total {
            let out = intake::ingest(state, caller, std::mem::take(&mut items), opts).await?;
            created += out.created;
            updated += out.updated;
            unchanged += out.unchanged;
            errors.extend(out.rejected);
        }
    }
    errors.sort_by_key(|e| e.row);
    let txn = crate::db::begin_write(&state.db).await?;
    let mut am = report.into_active_model();
    am.finished_at = Set(Some(state.clock.now()));
    am.created = Set(created as i32);
    am.updated = Set(updated as i32);
    am.unchanged = Set(unchanged as i32);
    am.errors = Set(serde_json::to_string(&errors).map_err(AppError::internal)?);
    let report = am.update(&txn).await?;
    audit::record(
        &txn,
        caller,
        state.clock.now(),
        "importAppeals",
        Some(format!("import:{}", report.id)),
        Some(serde_json::json!({ "file": report.file_name, "created": created, "updated": updated, "unchanged": unchanged, "errors": errors.len() })),
    )
    .await?;
    txn.commit().await?;
    Ok(report)
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
