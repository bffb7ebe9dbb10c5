//! Intake over GraphQL: the ingestion API, file imports and their reports, topic
//! suggestions and likely duplicates.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::appeals::{Appeal, scope};
use super::connection::{connection, forward_window};
use super::reference::{Category, Recipient, load_category, load_recipient};
use super::{caller, parse_id, state};
use crate::domain::access::Channel;
use crate::domain::deadlines::AppealKind;
use crate::domain::import_format::FileFormat;
use crate::entity::import_report;
use crate::error::{AppError, AppResult};
use crate::service::intake::{self, IngestItem, IngestOptions, RowError as ServiceRowError};
use crate::service::{appeals, classifier, duplicates, imports};

/// An item of `ingestAppeals`.
#[derive(InputObject)]
pub struct IngestAppealInput {
    pub channel: Channel,
    /// Unique within the channel; the same item sent again changes nothing.
    pub external_id: String,
    pub kind: AppealKind,
    pub received_at: DateTime<Utc>,
    pub text: String,
    pub author_name: Option<String>,
    pub author_contact: Option<String>,
    /// A category or subcategory name of the rubricator (case and ё/е do not matter).
    pub category_name: Option<String>,
    pub territory_name: Option<String>,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub url: Option<String>,
    /// Our status name or the source's words («Отправлен ответ заявителю», «В работе», …).
    pub status: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
    pub answer_text: Option<String>,
    /// Links (http/https, at most 5) to the item's files — photos of the post, a letter —
    /// fetched in the background into the new appeal's attachments (type and size limits as
    /// for uploads; no private or local addresses). Ignored for an item already known.
    pub attachment_urls: Option<Vec<String>>,
}

/// A rejected item or row: its position (1-based), the field and why.
#[derive(SimpleObject, Clone)]
pub struct RowError {
    pub row: i32,
    pub field: Option<String>,
    pub message: String,
}

impl From<ServiceRowError> for RowError {
    fn from(e: ServiceRowError) -> Self {
        Self { row: i32::try_from(e.row).unwrap_or(i32::MAX), field: e.field, message: e.message }
    }
}

/// What an ingestion did.
#[derive(SimpleObject)]
pub struct IngestResult {
    pub created: i32,
    pub updated: i32,
    pub unchanged: i32,
    pub rejected: Vec<RowError>,
    /// Valid items not taken in, with the reason: an update that would reopen an anonymised
    /// appeal (its status back into work, or one more repeated review) is skipped, and the
    /// appeal stays closed; the matter is a new appeal.
    pub skipped: Vec<RowError>,
}

/// The format of an imported file.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// The ПОС register export (XLSX).
    PosXlsx,
    /// The «Инцидент менеджмент» export (XLSX).
    IncidentXlsx,
    /// CSV in UTF-8 or Windows-1251, `;` or `,` separated, with ПОС or incident headers.
    Csv,
    /// Comments under the administration's official VK pages (Госпаблики): the JSON of
    /// `wall.getComments` or an export of it, or an XLSX/CSV with post link, comment id,
    /// author, text and date. Every comment is a `MESSAGE` of the channel `GOSPABLIKI`.
    VkComments,
}

impl ImportFormat {
    fn file_format(self) -> FileFormat {
        match self {
            Self::PosXlsx => FileFormat::PosXlsx,
            Self::IncidentXlsx => FileFormat::IncidentXlsx,
            Self::Csv => FileFormat::Csv,
            Self::VkComments => FileFormat::VkComments,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Self::PosXlsx, Self::IncidentXlsx, Self::Csv, Self::VkComments]
            .into_iter()
            .find(|f| imports::format_name(f.file_format()) == name)
    }
}

/// Where an import stands.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
pub enum ImportStatus {
    /// Being imported; `heartbeatAt` is renewed as its batches commit.
    Running,
    /// Every row was taken in or reported.
    Finished,
    /// Stopped by an error; the counters tell what was committed before it.
    Failed,
    /// Its process went away while it ran (no heartbeat for 5 minutes); the counters tell
    /// what was committed.
    Interrupted,
}

impl From<imports::ImportStatus> for ImportStatus {
    fn from(s: imports::ImportStatus) -> Self {
        match s {
            imports::ImportStatus::Running => Self::Running,
            imports::ImportStatus::Finished => Self::Finished,
            imports::ImportStatus::Failed => Self::Failed,
            imports::ImportStatus::Interrupted => Self::Interrupted,
        }
    }
}

/// The report of one imported file. `created` and `updated` count what was committed, also
/// while the import runs and after it was interrupted.
#[derive(SimpleObject)]
pub struct ImportReport {
    pub id: ID,
    pub format: ImportFormat,
    pub file_name: String,
    pub status: ImportStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Last sign of life of the import (renewed as batches commit).
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub rows: i32,
    pub created: i32,
    pub updated: i32,
    pub unchanged: i32,
    pub errors: Vec<RowError>,
    /// Rows read but not taken in, no errors: a deleted or empty VK comment, a comment of the
    /// page itself, an update that would reopen an anonymised appeal (`message` is the
    /// reason). `rows` = created + updated + unchanged + errors
    /// + skipped.
    pub skipped: Vec<RowError>,
}

impl ImportReport {
    /// The report as of `now` (a running import without a recent heartbeat is interrupted).
    fn at(m: import_report::Model, now: DateTime<Utc>) -> AppResult<Self> {
        let errors: Vec<ServiceRowError> = serde_json::from_str(&m.errors).map_err(AppError::internal)?;
        let skipped: Vec<ServiceRowError> = serde_json::from_str(&m.skipped).map_err(AppError::internal)?;
        Ok(Self {
            id: ID(m.id.to_string()),
            format: ImportFormat::from_name(&m.format).ok_or_else(|| AppError::internal("unknown import format"))?,
            status: imports::ImportStatus::of(&m, now).into(),
            file_name: m.file_name,
            started_at: m.started_at,
            finished_at: m.finished_at,
            heartbeat_at: m.heartbeat_at,
            rows: m.rows,
            created: m.created,
            updated: m.updated,
            unchanged: m.unchanged,
            errors: errors.into_iter().map(RowError::from).collect(),
            skipped: skipped.into_iter().map(RowError::from).collect(),
        })
    }
}

connection!(ImportReportConnection, ImportReportEdge, ImportReport);

/// A suggested topic with its calibrated probability.
pub struct CategorySuggestion {
    category_id: i64,
    confidence: f64,
}

#[Object]
impl CategorySuggestion {
    async fn category(&self, ctx: &Context<'_>) -> AppResult<Category> {
        load_category(ctx, Some(self.category_id)).await?.ok_or_else(|| AppError::NotFound("category".into()))
    }
    /// The category's default recipient, or its parent's.
    async fn recipient(&self, ctx: &Context<'_>) -> AppResult<Option<Recipient>> {
        let Some(c) = load_category(ctx, Some(self.category_id)).await? else { return Ok(None) };
        if c.default_recipient_id.is_some() {
            return load_recipient(ctx, c.default_recipient_id).await;
        }
        let parent = load_category(ctx, c.parent_id).await?;
        load_recipient(ctx, parent.and_then(|p| p.default_recipient_id)).await
    }
    /// Probability from 0 to 1 (naive Bayes posterior over all categories).
    async fn confidence(&self) -> f64 {
        self.confidence
    }
}

/// A likely duplicate of an appeal.
#[derive(SimpleObject)]
pub struct AppealMatch {
    pub appeal: Appeal,
    /// Estimated Jaccard similarity of the texts' word shingles (0–1).
    pub similarity: f64,
    /// Distance between the two places, when both have coordinates.
    pub distance_meters: Option<f64>,
}

/// The classifier's state.
#[derive(SimpleObject)]
pub struct ClassifierInfo {
    pub documents: i32,
    pub vocabulary: i32,
    pub categories: i32,
    /// Share of held-out appeals (every fifth) whose category came first.
    pub top1_accuracy: Option<f64>,
    /// Share of held-out appeals whose category was among the first three.
    pub top3_accuracy: Option<f64>,
}

impl From<&crate::domain::classifier::TrainedModel> for ClassifierInfo {
    fn from(m: &crate::domain::classifier::TrainedModel) -> Self {
        Self {
            documents: m.documents as i32,
            vocabulary: m.model.vocabulary_size() as i32,
            categories: m.model.labels().len() as i32,
            top1_accuracy: m.top1,
            top3_accuracy: m.top3,
        }
    }
}

/// Intake queries.
#[derive(Default)]
pub struct IntakeQuery;

#[Object]
impl IntakeQuery {
    /// The most likely topics of a text, trained on the database's own categorised appeals.
    #[graphql(complexity = "100 + 10 * child_complexity")]
    async fn suggest_category(&self, ctx: &Context<'_>, text: String) -> AppResult<Vec<CategorySuggestion>> {
        if text.chars().count() > appeals::MAX_TEXT {
            return Err(AppError::bad("text", "is too long"));
        }
        let top = classifier::suggest(state(ctx), &text, 3).await?;
        Ok(top.into_iter().map(|(category_id, confidence)| CategorySuggestion { category_id, confidence }).collect())
    }

    /// Appeals that probably report the same problem: similar text, or the same topic within
    /// 150 m, received within 30 days of it.
    #[graphql(complexity = "100 + 10 * child_complexity")]
    async fn possible_duplicates(&self, ctx: &Context<'_>, appeal_id: ID) -> AppResult<Vec<AppealMatch>> {
        let id = appeals::AppealId(parse_id("appealId", &appeal_id)?);
        let st = state(ctx);
        let scope = scope(ctx).await?;
        let a = appeals::load_visible(&st.db, scope, id).await?;
        let found = duplicates::find(&st.db, scope, &a, duplicates::DuplicateRules::default()).await?;
        Ok(found
            .into_iter()
            .map(|m| AppealMatch {
                appeal: {
                    let h = scope.handles(&m.appeal);
                    Appeal::of(m.appeal, h)
                },
                similarity: m.similarity,
                distance_meters: m.distance_m,
            })
            .collect())
    }

    /// Import reports, newest first.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn imports(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<ImportReportConnection> {
        let (offset, limit) = forward_window(first, after.as_deref())?;
        let (rows, total) = imports::list(&state(ctx).db, offset, limit).await?;
        let now = state(ctx).clock.now();
        let nodes = rows.into_iter().map(|m| ImportReport::at(m, now)).collect::<AppResult<Vec<_>>>()?;
        Ok(ImportReportConnection::from_offset(nodes, offset, total))
    }

    /// The topic classifier: how much it learned from and how accurate it is.
    async fn classifier_info(&self, ctx: &Context<'_>) -> AppResult<ClassifierInfo> {
        Ok(ClassifierInfo::from(classifier::current(state(ctx)).await?.as_ref()))
    }
}

/// Intake mutations.
#[derive(Default)]
pub struct IntakeMutation;

#[Object]
impl IntakeMutation {
    /// Integration (scope APPEALS_INGEST) or COORDINATOR: idempotent by (channel, externalId).
    /// At most 1000 items; each is accepted or rejected on its own.
    async fn ingest_appeals(&self, ctx: &Context<'_>, input: Vec<IngestAppealInput>) -> AppResult<IngestResult> {
        if input.len() > intake::MAX_ITEMS {
            return Err(AppError::bad("input", format!("at most {} items per call", intake::MAX_ITEMS)));
        }
        let who = caller(ctx);
        let mut items = Vec::with_capacity(input.len());
        for (i, it) in input.into_iter().enumerate() {
            let row = i + 1;
            // The channel scope is the service's (`intake::channel_refusal`), as for files.
            items.push((
                row,
                IngestItem {
                    channel: Some(it.channel),
                    external_id: it.external_id,
                    kind: Some(it.kind),
                    received_at: Some(it.received_at),
                    text: it.text,
                    author_name: it.author_name,
                    author_contact: it.author_contact,
                    category_name: it.category_name,
                    subcategory_name: None,
                    territory_name: it.territory_name,
                    recipient_name: None,
                    address: it.address,
                    latitude: it.latitude,
                    longitude: it.longitude,
                    url: it.url,
                    // An item without a status of its own leaves the centre's work as it is.
                    status_by_centre: it.status.is_none(),
                    status: it.status,
                    answered_at: it.answered_at,
                    answer_text: it.answer_text,
                    satisfaction: None,
                    reopened: None,
                    source_due: None,
                    source_overdue: None,
                    attachment_urls: it.attachment_urls.unwrap_or_default(),
                },
            ));
        }
        let out = intake::ingest(state(ctx), who, items, IngestOptions::default()).await?;
        let rejected: Vec<RowError> = out.rejected.into_iter().map(RowError::from).collect();
        Ok(IngestResult {
            created: out.created as i32,
            updated: out.updated as i32,
            unchanged: out.unchanged as i32,
            rejected,
            skipped: out.skipped.into_iter().map(RowError::from).collect(),
        })
    }

    /// Multipart upload (GraphQL multipart request spec). Idempotent by (channel, externalId):
    /// importing the same file twice changes nothing. A file that is not what its format says
    /// is refused and changes nothing; a bad row is reported and skipped. `VK_COMMENTS` is for
    /// those who take in the channel `GOSPABLIKI` (a coordinator of another channel is
    /// `FORBIDDEN` before the file is read). With `createMissing`,
    /// categories and organisations the rubricator does not know are created instead of
    /// reported.
    async fn import_appeals(
        &self,
        ctx: &Context<'_>,
        file: async_graphql::Upload,
        format: ImportFormat,
        create_missing: Option<bool>,
    ) -> AppResult<ImportReport> {
        // The multipart layer wrote the upload to a temporary file: it is read from there.
        let upload = file.value(ctx).map_err(|_| AppError::bad("file", "the upload could not be read"))?;
        let report = imports::run(
            state(ctx),
            caller(ctx),
            format.file_format(),
            &upload.filename,
            upload.content,
            create_missing.unwrap_or(false),
        )
        .await?;
        ImportReport::at(report, state(ctx).clock.now())
    }

    /// Retrains the topic classifier on the current data now.
    async fn retrain_classifier(&self, ctx: &Context<'_>) -> AppResult<ClassifierInfo> {
        Ok(ClassifierInfo::from(classifier::train(state(ctx)).await?.as_ref()))
    }
}
