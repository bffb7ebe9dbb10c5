//! Appeals as clients see them: the list with filters and pages, one appeal, the lifecycle
//! mutations and the author's public feedback.

use std::sync::Mutex;

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};

use crate::graphql::scalars::Json;
use chrono::{DateTime, Utc};

use super::connection::{DEFAULT_PAGE, MAX_PAGE, PageInfo};
use super::loaders::Loaders;
use super::reference::{Category, Recipient, Territory, load_category, load_recipient, load_territory};
use super::scalars::Date;
use super::{caller, parse_id, state};
use crate::domain::access::Channel;
use crate::domain::appeal::{Appeal as Record, CategoryId, TerritoryId};
use crate::domain::deadlines::{AppealKind, SlaState};
use crate::domain::lifecycle::AppealStatus;
use crate::domain::masking::{holds_personal_data, mask_contact, mask_name, mask_personal_data};
use crate::domain::notices::TaskKind;
use crate::domain::pii::{mask_address, mask_text};
use crate::domain::quality::{Completeness, NoAnswerReason};
use crate::entity::{appeal, appeal_event};
use crate::error::{AppError, AppResult};
use crate::service::appeal_query::{self, AppealFilter as Filter, ListQuery, ListRequest, OrderField};
use crate::service::appeals::{self, AppealChanges, AppealId, NewAppeal, RecipientId, Step};
use crate::service::scope::AppealScope;

/// Marks a request served over WebSocket: appeals are shown masked (an unmasked read there
/// could not be audited per request).
pub struct OverWebSocket;

/// The caller's appeal scope, computed once per request.
#[derive(Default)]
pub struct ScopeCache(tokio::sync::OnceCell<AppealScope>);

/// Appeals whose personal data this request showed unmasked; written to the audit log once
/// per request by the HTTP layer.
#[derive(Default)]
pub struct PersonalDataReads(pub Mutex<Vec<i64>>);

/// The caller's scope (cached for the request).
pub async fn scope<'a>(ctx: &Context<'a>) -> AppResult<&'a AppealScope> {
    let cache = ctx.data_unchecked::<ScopeCache>();
    cache.0.get_or_try_init(|| AppealScope::of(state(ctx), &caller(ctx).principal)).await
}

/// The SLA state of an appeal at `now`; the same rule as the list filter's SQL.
pub fn sla_at(a: &Record, now: DateTime<Utc>) -> SlaState {
    crate::domain::deadlines::sla_state(now, a.due_soon_at, a.due_at, a.resolved_at)
}

/// An appeal, message or incident: the typed record (enum columns parsed once, where the row
/// was read) and whether the viewer handles it.
pub struct Appeal {
    pub model: std::sync::Arc<Record>,
    pub handles: bool,
    /// The author's personal data in `model` is masked already (one masked copy shared by
    /// many subscribers).
    premasked: bool,
    /// Loaders shared by everyone shown this appeal (a change pushed to many subscribers);
    /// otherwise the request's.
    shared: Option<std::sync::Arc<Loaders>>,
}

impl Appeal {
    async fn new(ctx: &Context<'_>, model: Record) -> AppResult<Self> {
        if ctx.data_opt::<OverWebSocket>().is_some() {
            return Ok(Self::of(model, false));
        }
        let handles = scope(ctx).await?.handles(&model);
        Ok(Self::of(model, handles))
    }

    /// An appeal shown to a viewer who handles it (`handles`: unmasked) or not.
    pub fn of(model: Record, handles: bool) -> Self {
        Self { model: std::sync::Arc::new(model), handles, premasked: false, shared: None }
    }

    /// An appeal whose personal data is masked already, shown with shared loaders.
    pub fn premasked(model: std::sync::Arc<Record>, loaders: std::sync::Arc<Loaders>) -> Self {
        Self { model, handles: false, premasked: true, shared: Some(loaders) }
    }

    fn loaders<'c>(&'c self, ctx: &Context<'c>) -> &'c Loaders {
        self.shared.as_deref().unwrap_or_else(|| ctx.data_unchecked::<Loaders>())
    }

    /// The appeal of a row read whole, shown without personal data.
    ///
    /// # Errors
    /// When the row holds a name this code does not know.
    pub fn masked(row: appeal::Model) -> AppResult<Self> {
        Ok(Self::of(Record::try_from(row)?, false))
    }

    /// A free text as this viewer sees it: the original for those who handle the appeal (the
    /// read audited when the text holds personal data), masked for the others (masked once
    /// already in a shared copy). Computed only when the field is selected.
    fn free_text(&self, ctx: &Context<'_>, text: &str, mask: fn(&str) -> String) -> String {
        if self.premasked {
            return text.to_string();
        }
        let masked = mask(text);
        if !self.handles {
            return masked;
        }
        if masked != text {
            self.note_read(ctx);
        }
        text.to_string()
    }

    fn note_read(&self, ctx: &Context<'_>) {
        if let Some(reads) = ctx.data_opt::<std::sync::Arc<PersonalDataReads>>()
            && let Ok(mut v) = reads.0.lock()
            && !v.contains(&self.model.id.0)
        {
            v.push(self.model.id.0);
        }
    }
}

// Not `serial` (as `AppealEdge` and the reference objects are): each loader's field (answers,
// events, tasks, …) waits the loader's 1 ms batching delay, and an appeal's card selects
// several of them, which must wait together, not one after another.
#[Object]
impl Appeal {
    async fn id(&self) -> ID {
        ID(self.model.id.0.to_string())
    }
    /// Registration number, unique and gap-free per year: `2026-000123`.
    async fn number(&self) -> &str {
        &self.model.number
    }
    async fn kind(&self) -> AppealKind {
        self.model.kind
    }
    async fn channel(&self) -> Channel {
        self.model.channel
    }
    async fn external_id(&self) -> Option<&str> {
        self.model.external_id.as_deref()
    }
    async fn status(&self) -> AppealStatus {
        self.model.status
    }
    async fn received_at(&self) -> DateTime<Utc> {
        self.model.received_at
    }
    async fn registered_at(&self) -> Option<DateTime<Utc>> {
        self.model.registered_at
    }
    /// Masked (e.g. 'И*** П***') unless the viewer handles this appeal; every unmasked read is audited.
    async fn author_name(&self, ctx: &Context<'_>) -> Option<String> {
        let name = self.model.author_name.as_deref()?;
        if self.handles {
            self.note_read(ctx);
            Some(name.to_string())
        } else if self.premasked {
            Some(name.to_string())
        } else {
            Some(mask_name(name))
        }
    }
    /// Masked unless the viewer handles this appeal; every unmasked read is audited.
    async fn author_contact(&self, ctx: &Context<'_>) -> Option<String> {
        let contact = self.model.author_contact.as_deref()?;
        if self.handles {
            self.note_read(ctx);
            Some(contact.to_string())
        } else if self.premasked {
            Some(contact.to_string())
        } else {
            Some(mask_contact(contact))
        }
    }
    /// No surname or no address to answer to.
    async fn anonymous(&self) -> bool {
        self.model.anonymous
    }
    /// The author's text. Personal data in it (phones, e-mails, documents, flats, names) is
    /// replaced by marks (`[телефон]`, `[ФИО]`) unless the viewer handles this appeal; an
    /// unmasked read of a text holding any is audited as `authorName` is.
    async fn text(&self, ctx: &Context<'_>) -> String {
        self.free_text(ctx, &self.model.text, mask_text)
    }
    /// Shown as `text` is.
    async fn summary(&self, ctx: &Context<'_>) -> Option<String> {
        Some(self.free_text(ctx, self.model.summary.as_deref()?, mask_text))
    }
    async fn category(&self, ctx: &Context<'_>) -> AppResult<Option<Category>> {
        load_category(ctx, self.model.category_id.map(|c| c.0)).await
    }
    async fn territory(&self, ctx: &Context<'_>) -> AppResult<Option<Territory>> {
        load_territory(ctx, self.model.territory_id.map(|t| t.0)).await
    }
    /// The street and the house; the flat (and any other personal data) only for those who
    /// handle the appeal (an unmasked read of a flat is audited).
    async fn address(&self, ctx: &Context<'_>) -> Option<String> {
        Some(self.free_text(ctx, self.model.address.as_deref()?, mask_address))
    }
    async fn latitude(&self) -> Option<f64> {
        self.model.latitude
    }
    async fn longitude(&self) -> Option<f64> {
        self.model.longitude
    }
    async fn recipient(&self, ctx: &Context<'_>) -> AppResult<Option<Recipient>> {
        load_recipient(ctx, self.model.recipient_id.map(|r| r.0)).await
    }
    /// The external body the appeal was forwarded to (переадресация).
    async fn redirected_to(&self) -> Option<&str> {
        self.model.redirected_to.as_deref()
    }
    /// The deadline now running: registration (an APPEAL not yet registered), first reaction
    /// (an INCIDENT not yet reacted to), otherwise the answer.
    async fn due_at(&self) -> Option<DateTime<Utc>> {
        Some(self.model.due_at)
    }
    /// Whether the 59-ФЗ deadline was extended (at most once).
    async fn extended(&self) -> bool {
        self.model.extension_count > 0
    }
    async fn sla_state(&self, ctx: &Context<'_>) -> SlaState {
        sla_at(&self.model, state(ctx).clock.now())
    }
    async fn answered_at(&self) -> Option<DateTime<Utc>> {
        self.model.answered_at
    }
    /// Shown as `text` is.
    async fn answer_text(&self, ctx: &Context<'_>) -> Option<String> {
        Some(self.free_text(ctx, self.model.answer_text.as_deref()?, mask_text))
    }
    async fn completeness(&self) -> Option<Completeness> {
        self.model.completeness
    }
    async fn no_answer_reason(&self) -> Option<NoAnswerReason> {
        self.model.no_answer_reason
    }
    async fn satisfaction_score(&self) -> Option<i32> {
        self.model.satisfaction_score
    }
    async fn satisfied(&self) -> Option<bool> {
        self.model.satisfied
    }
    /// The one-time code for submitFeedback, visible only to those who handle the appeal, once answered and until used.
    async fn feedback_code(&self, ctx: &Context<'_>) -> Option<&str> {
        let valid = self.model.feedback_expires_at.is_some_and(|e| e > state(ctx).clock.now());
        if self.handles && valid { self.model.feedback_code.as_deref() } else { None }
    }
    async fn reopen_count(&self) -> i32 {
        self.model.reopen_count
    }
    /// The appeal this one repeats (the root of its duplicate cluster), if the viewer may see it.
    async fn duplicate_of(&self, ctx: &Context<'_>) -> AppResult<Option<Appeal>> {
        // Boxed: the future of every field of `Appeal` is as large as the largest one's,
        // and a page moves one per field of each appeal.
        Box::pin(async move {
            let Some(id) = self.model.duplicate_of_id else { return Ok(None) };
            let loaders = self.loaders(ctx);
            let Some(m) = loaders.appeals().load_one(id.0).await.map_err(std::sync::Arc::unwrap_or_clone)? else {
                return Ok(None);
            };
            let m = Record::try_from(m)?;
            if !scope(ctx).await?.sees(&m) {
                return Ok(None);
            }
            Ok(Some(Appeal::new(ctx, m).await?))
        })
        .await
    }
    /// Every answer the appeal was given, first one first: a reopening clears `answeredAt`,
    /// `answerText` and `completeness` of the appeal but keeps the answer here (the analytics
    /// count the first one). Shown as `answerText` is.
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn answers(&self, ctx: &Context<'_>) -> AppResult<Vec<AppealAnswer>> {
        // Boxed: the future of every field of `Appeal` is as large as the largest one's,
        // and a page moves one per field of each appeal.
        Box::pin(async move {
            let loaders = self.loaders(ctx);
            let rows =
                loaders.appeal_answers().load_one(self.model.id.0).await.map_err(std::sync::Arc::unwrap_or_clone)?;
            let mut answers: Vec<AppealAnswer> = rows.unwrap_or_default().into_iter().map(AppealAnswer::from).collect();
            if ctx.look_ahead().field("text").exists() {
                let mut unmasked = false;
                for text in answers.iter_mut().filter_map(|a| a.text.as_mut()) {
                    let masked = mask_text(text);
                    if self.handles {
                        unmasked |= masked != *text;
                    } else {
                        *text = masked;
                    }
                }
                if unmasked {
                    self.note_read(ctx);
                }
            }
            Ok(answers)
        })
        .await
    }
    /// Files attached to the appeal (the author's and the answer's), oldest first. Only for
    /// those who handle the appeal (the files are personal data; an empty list for others).
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn attachments(&self, ctx: &Context<'_>) -> AppResult<Vec<super::attachments::Attachment>> {
        // Boxed: the future of every field of `Appeal` is as large as the largest one's,
        // and a page moves one per field of each appeal.
        Box::pin(async move {
            if !self.handles {
                return Ok(Vec::new());
            }
            let files = super::attachments::of_with(
                self.loaders(ctx),
                crate::domain::attachments::TargetKind::Appeal,
                self.model.id.0,
            )
            .await?;
            if !files.is_empty() {
                self.note_read(ctx);
            }
            Ok(files)
        })
        .await
    }
    /// Signs of a conflict with the author (decree 1.2б, 1.2в): reopened at least twice, the
    /// same author on the same category within 30 days before, words of escalation in a
    /// social post. Loaded for a whole page in one statement; the author's key is not shown.
    async fn conflict_flags(&self, ctx: &Context<'_>) -> AppResult<Vec<crate::domain::conflicts::ConflictFlag>> {
        // Boxed: the future of every field of `Appeal` is as large as the largest one's,
        // and a page moves one per field of each appeal.
        Box::pin(async move {
            let loaders = self.loaders(ctx);
            let flags =
                loaders.conflict_flags().load_one(self.model.id.0).await.map_err(std::sync::Arc::unwrap_or_clone)?;
            Ok(flags.unwrap_or_default())
        })
        .await
    }
    /// The full history, oldest first. The author's name and contact in an event's `data`
    /// are masked as `authorName` and `authorContact` are, its free texts (`comment`, and in
    /// `data` the texts, the answer a reopening cleared, the address) as `text` is and a link
    /// to the author's post as a whole, unless the viewer handles this appeal; an unmasked
    /// read of them is audited as theirs is.
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn events(&self, ctx: &Context<'_>) -> AppResult<Vec<AppealEvent>> {
        // Boxed: the future of every field of `Appeal` is as large as the largest one's,
        // and a page moves one per field of each appeal.
        Box::pin(async move {
            let loaders = self.loaders(ctx);
            let rows =
                loaders.appeal_events().load_one(self.model.id.0).await.map_err(std::sync::Arc::unwrap_or_clone)?;
            let mut events: Vec<AppealEvent> = rows.unwrap_or_default().into_iter().map(AppealEvent::from).collect();
            let shown = ctx.look_ahead().field("data").exists();
            let comments = ctx.look_ahead().field("comment").exists();
            let mut unmasked = false;
            for comment in events.iter_mut().filter_map(|e| e.comment.as_mut()).filter(|_| comments) {
                let masked = mask_text(comment);
                if self.handles {
                    unmasked |= masked != *comment;
                } else {
                    *comment = masked;
                }
            }
            for data in events.iter_mut().filter_map(|e| e.data.as_mut()) {
                if !self.handles {
                    mask_personal_data(&mut data.0);
                } else if shown && !unmasked {
                    unmasked = holds_personal_data(&data.0);
                }
            }
            if unmasked {
                self.note_read(ctx);
            }
            Ok(events)
        })
        .await
    }
    /// What staff must still do by hand, oldest first: a notice to post to an author who gave
    /// no e-mail address («направить уведомление почтой»). Only for those who handle the
    /// appeal (the notice holds the author's personal data; an empty list for others).
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn tasks(&self, ctx: &Context<'_>) -> AppResult<Vec<AppealTask>> {
        // Boxed: the future of every field of `Appeal` is as large as the largest one's,
        // and a page moves one per field of each appeal.
        Box::pin(async move {
            if !self.handles {
                return Ok(Vec::new());
            }
            let loaders = self.loaders(ctx);
            let rows = loaders
                .appeal_tasks()
                .load_one(self.model.id.0)
                .await
                .map_err(std::sync::Arc::unwrap_or_clone)?
                .unwrap_or_default();
            if !rows.is_empty() {
                self.note_read(ctx);
            }
            Ok(rows.into_iter().map(AppealTask::from).collect())
        })
        .await
    }
    async fn version(&self) -> i32 {
        self.model.version
    }
}

/// The fields of `Appeal` selected under `node` (a list's `edges.node`, or the detail's own
/// field; fragments included), for the service to decide what to read.
fn selected_fields(node: &async_graphql::Lookahead<'_>) -> Vec<String> {
    node.selection_fields().iter().flat_map(|n| n.selection_set().map(|f| f.name().to_string())).collect()
}

/// Something staff must still do by hand about an appeal.
#[derive(SimpleObject)]
pub struct AppealTask {
    pub id: ID,
    pub kind: TaskKind,
    /// What to do, with the notice to send.
    pub text: String,
    pub created_at: DateTime<Utc>,
    /// When it was done; null while open.
    pub done_at: Option<DateTime<Utc>>,
    /// Who did it.
    pub done_by: Option<ID>,
}

impl From<crate::entity::appeal_task::Model> for AppealTask {
    fn from(t: crate::entity::appeal_task::Model) -> Self {
        Self {
            id: ID(t.id.to_string()),
            kind: t.kind.parse().unwrap_or(TaskKind::PostNotice),
            text: t.text,
            created_at: t.created_at,
            done_at: t.done_at,
            done_by: t.done_by.map(|u| ID(u.to_string())),
        }
    }
}

/// One answer an appeal was given (kept when the appeal is reopened).
#[derive(SimpleObject)]
pub struct AppealAnswer {
    /// The stored answer's id (stable: clients may cache answers by it).
    pub id: ID,
    /// 1 for the first answer, then 2, 3, … after each reopening.
    pub ordinal: i32,
    pub answered_at: DateTime<Utc>,
    /// The deadline in force when it was given.
    pub due_at: DateTime<Utc>,
    /// answeredAt ≤ dueAt.
    pub on_time: bool,
    pub text: Option<String>,
    /// Its assessment, once assessed.
    pub completeness: Option<Completeness>,
    /// The author's rating of it, once rated.
    pub satisfied: Option<bool>,
    pub satisfaction_score: Option<i32>,
    /// Who gave it, as the history names its actor.
    pub author: String,
}

impl From<crate::entity::appeal_answer::Model> for AppealAnswer {
    fn from(a: crate::entity::appeal_answer::Model) -> Self {
        Self {
            id: ID(a.id.to_string()),
            ordinal: a.ordinal,
            answered_at: a.answered_at,
            due_at: a.due_at,
            on_time: a.on_time,
            text: a.text,
            completeness: a.completeness.and_then(|c| c.parse().ok()),
            satisfied: a.satisfied,
            satisfaction_score: a.satisfaction_score,
            author: a.author,
        }
    }
}

/// One entry of an appeal's history.
#[derive(SimpleObject)]
pub struct AppealEvent {
    pub id: ID,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub from_status: Option<AppealStatus>,
    pub to_status: Option<AppealStatus>,
    pub comment: Option<String>,
    pub data: Option<Json>,
}

impl From<appeal_event::Model> for AppealEvent {
    fn from(e: appeal_event::Model) -> Self {
        Self {
            id: ID(e.id.to_string()),
            at: e.at,
            actor: e.actor,
            action: e.action,
            from_status: e.from_status.and_then(|s| s.parse().ok()),
            to_status: e.to_status.and_then(|s| s.parse().ok()),
            comment: e.comment,
            data: e.data.and_then(|d| serde_json::from_str(&d).ok()).map(Json),
        }
    }
}

/// An edge of the appeal list; its cursor is written only when asked for.
pub struct AppealEdge {
    cursor: appeal_query::PageCursor,
    node: Appeal,
}

/// An edge of the appeal list.
// Its fields are resolved one after another (`serial`): async-graphql would otherwise put them
// in a `FuturesUnordered` of their own (allocations, a waker registration per poll), for
// each of a page's 50 edges.
#[Object(serial)]
impl AppealEdge {
    async fn cursor(&self) -> String {
        self.cursor.encode(&self.node.model)
    }
    async fn node(&self) -> &Appeal {
        &self.node
    }
}

/// A page of appeals. `totalCount` is computed only when asked for.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct AppealConnection {
    pub edges: Vec<AppealEdge>,
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub query: ListQuery,
}

#[ComplexObject]
impl AppealConnection {
    /// All appeals matching the filter within the caller's scope.
    async fn total_count(&self, ctx: &Context<'_>) -> AppResult<i32> {
        let n = self.query.count(&state(ctx).reads).await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

#[derive(InputObject, Default)]
pub struct AppealFilter {
    pub status: Option<Vec<AppealStatus>>,
    pub kind: Option<Vec<AppealKind>>,
    pub channel: Option<Vec<Channel>>,
    /// A top-level category includes its subcategories.
    pub category_id: Option<Vec<ID>>,
    /// A territory includes its whole subtree.
    pub territory_id: Option<Vec<ID>>,
    pub recipient_id: Option<Vec<ID>>,
    pub sla_state: Option<Vec<SlaState>>,
    /// First local date of receipt (inclusive).
    pub received_from: Option<Date>,
    /// Last local date of receipt (inclusive).
    pub received_to: Option<Date>,
    pub due_before: Option<DateTime<Utc>>,
    /// Words to find in the text, summary and address (Russian word forms match; every word
    /// must be found). Without `orderBy` the best matches come first.
    pub search: Option<String>,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum AppealOrderField {
    ReceivedAt,
    DueAt,
    Number,
    UpdatedAt,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum OrderDirection {
    Asc,
    Desc,
}

#[derive(InputObject)]
pub struct AppealOrder {
    pub field: AppealOrderField,
    pub direction: OrderDirection,
}

fn ids<T>(path: &str, v: Option<Vec<ID>>, typed: impl Fn(i64) -> T) -> AppResult<Vec<T>> {
    v.unwrap_or_default().iter().map(|i| parse_id(path, i).map(&typed)).collect()
}

fn opt_id<T>(path: &str, id: Option<&ID>, typed: impl Fn(i64) -> T) -> AppResult<Option<T>> {
    id.map(|i| parse_id(path, i).map(typed)).transpose()
}

fn appeal_id(path: &str, id: &ID) -> AppResult<AppealId> {
    parse_id(path, id).map(AppealId)
}

impl AppealFilter {
    pub(crate) fn into_filter(self) -> AppResult<Filter> {
        if let (Some(from), Some(to)) = (self.received_from, self.received_to)
            && from > to
        {
            return Err(AppError::bad("filter.receivedTo", "must not be before receivedFrom"));
        }
        Ok(Filter {
            status: self.status.unwrap_or_default(),
            kind: self.kind.unwrap_or_default(),
            channel: self.channel.unwrap_or_default(),
            category_id: ids("filter.categoryId", self.category_id, CategoryId)?,
            territory_id: ids("filter.territoryId", self.territory_id, TerritoryId)?,
            recipient_id: ids("filter.recipientId", self.recipient_id, RecipientId)?,
            sla_state: self.sla_state.unwrap_or_default(),
            received_from: self.received_from.map(|d| d.0),
            received_to: self.received_to.map(|d| d.0),
            due_before: self.due_before,
            search: self.search.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        })
    }
}

#[derive(InputObject)]
pub struct CreateAppealInput {
    pub kind: AppealKind,
    pub channel: Channel,
    pub external_id: Option<String>,
    /// Defaults to now.
    pub received_at: Option<DateTime<Utc>>,
    pub author_name: Option<String>,
    pub author_contact: Option<String>,
    pub text: String,
    pub category_id: Option<ID>,
    pub territory_id: Option<ID>,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub summary: Option<String>,
    /// High-priority incidents get the short first-reaction term (4 working hours).
    pub high_priority: Option<bool>,
}

#[derive(InputObject)]
pub struct UpdateAppealInput {
    pub id: ID,
    pub version: i32,
    pub text: Option<String>,
    pub summary: Option<String>,
    pub category_id: Option<ID>,
    pub territory_id: Option<ID>,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[derive(InputObject)]
pub struct AppealActionInput {
    pub id: ID,
    pub version: i32,
    pub comment: Option<String>,
}

#[derive(InputObject)]
pub struct AssignAppealInput {
    pub id: ID,
    pub version: i32,
    pub recipient_id: ID,
    pub comment: Option<String>,
}

#[derive(InputObject)]
pub struct RedirectAppealInput {
    pub id: ID,
    pub version: i32,
    pub external_body: String,
    pub comment: Option<String>,
}

#[derive(InputObject)]
pub struct ExtendDeadlineInput {
    pub id: ID,
    pub version: i32,
    /// At most 30; only once, only for APPEAL (59-ФЗ ст. 12 ч. 2).
    pub days: i32,
    pub reason: String,
}

#[derive(InputObject)]
pub struct AnswerAppealInput {
    pub id: ID,
    pub version: i32,
    pub text: String,
}

#[derive(InputObject)]
pub struct AssessAnswerInput {
    pub id: ID,
    pub version: i32,
    pub completeness: Completeness,
    pub comment: Option<String>,
}

#[derive(InputObject)]
pub struct LeaveWithoutAnswerInput {
    pub id: ID,
    pub version: i32,
    pub reason: NoAnswerReason,
    pub comment: Option<String>,
}

#[derive(InputObject)]
pub struct FeedbackInput {
    pub id: ID,
    /// 1–5.
    pub score: i32,
    pub satisfied: bool,
    pub comment: Option<String>,
}

#[derive(InputObject)]
pub struct ReopenAppealInput {
    pub id: ID,
    pub version: i32,
    pub reason: String,
}

#[derive(InputObject)]
pub struct MarkDuplicateInput {
    pub id: ID,
    pub version: i32,
    pub original_id: ID,
}

/// Appeal queries.
#[derive(Default)]
pub struct AppealQuery;

#[Object]
impl AppealQuery {
    /// Appeals the caller may see, filtered, ordered (default: newest received first; a search
    /// without `orderBy`: best match first) and paged.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn appeals(
        &self,
        ctx: &Context<'_>,
        filter: Option<AppealFilter>,
        order_by: Option<AppealOrder>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<AppealConnection> {
        let backward = last.is_some() || (before.is_some() && first.is_none());
        let size = if backward { last } else { first };
        let path = if backward { "last" } else { "first" };
        let limit = match size {
            None => DEFAULT_PAGE as u64,
            Some(n) if (0..=MAX_PAGE).contains(&n) => n as u64,
            Some(_) => return Err(AppError::bad(path, format!("must be between 0 and {MAX_PAGE}"))),
        };
        if first.is_some() && last.is_some() {
            return Err(AppError::bad("last", "give either first or last, not both"));
        }
        let filter = filter.unwrap_or_default().into_filter()?;
        let (order, descending) = match order_by {
            // A search without an order: best match first.
            None if filter.search.is_some() => (OrderField::Relevance, true),
            None => (OrderField::ReceivedAt, true),
            Some(o) => (
                match o.field {
                    AppealOrderField::ReceivedAt => OrderField::ReceivedAt,
                    AppealOrderField::DueAt => OrderField::DueAt,
                    AppealOrderField::Number => OrderField::Number,
                    AppealOrderField::UpdatedAt => OrderField::UpdatedAt,
                },
                o.direction == OrderDirection::Desc,
            ),
        };
        let st = state(ctx);
        let scope = scope(ctx).await?;
        let fields = selected_fields(&ctx.look_ahead().field("edges").field("node"));
        let request = ListRequest { order, descending, limit, after, before, backward, fields };
        let refs = crate::service::reference::snapshot(st).await?;
        let list =
            appeal_query::list(&st.reads, &refs, scope, &filter, st.settings.timezone, st.clock.now(), request).await?;
        let (page, query) = (list.page, list.query);
        let edges: Vec<AppealEdge> = page
            .rows
            .into_iter()
            .map(|(cursor, model)| AppealEdge {
                cursor,
                node: {
                    let h = scope.handles(&model);
                    Appeal::of(model, h)
                },
            })
            .collect();
        let page_info = PageInfo {
            has_next_page: page.has_next,
            has_previous_page: page.has_previous,
            start_cursor: edges.first().map(|e| e.cursor.encode(&e.node.model)),
            end_cursor: edges.last().map(|e| e.cursor.encode(&e.node.model)),
        };
        Ok(AppealConnection { edges, page_info, query })
    }

    /// One appeal; `NOT_FOUND` when it does not exist or the caller may not see it.
    async fn appeal(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Appeal>> {
        let id = appeal_id("id", &id)?;
        let fields = selected_fields(&ctx.look_ahead());
        let m = appeal_query::one(&state(ctx).reads, scope(ctx).await?, id, &fields).await?;
        Ok(Some(Appeal::new(ctx, m).await?))
    }

    /// One appeal by its registration number.
    async fn appeal_by_number(&self, ctx: &Context<'_>, number: String) -> AppResult<Option<Appeal>> {
        let m = appeals::by_number(&state(ctx).reads, scope(ctx).await?, &number).await?;
        Ok(Some(Appeal::new(ctx, m).await?))
    }
}

async fn step(ctx: &Context<'_>, id: &ID, version: i32, step: Step) -> AppResult<Appeal> {
    let id = appeal_id("input.id", id)?;
    let m = appeals::apply(state(ctx), caller(ctx), scope(ctx).await?, id, version, step).await?;
    Appeal::new(ctx, m).await
}

/// Appeal mutations.
#[derive(Default)]
pub struct AppealMutation;

#[Object]
impl AppealMutation {
    /// CURATOR, or COORDINATOR in its channels.
    async fn create_appeal(&self, ctx: &Context<'_>, input: CreateAppealInput) -> AppResult<Appeal> {
        let new = NewAppeal {
            kind: Some(input.kind),
            channel: Some(input.channel),
            external_id: input.external_id,
            received_at: input.received_at,
            author_name: input.author_name,
            author_contact: input.author_contact,
            text: input.text,
            category_id: opt_id("input.categoryId", input.category_id.as_ref(), CategoryId)?,
            territory_id: opt_id("input.territoryId", input.territory_id.as_ref(), TerritoryId)?,
            address: input.address,
            latitude: input.latitude,
            longitude: input.longitude,
            summary: input.summary,
            high_priority: input.high_priority.unwrap_or(false),
        };
        let m = appeals::create(state(ctx), caller(ctx), scope(ctx).await?, new).await?;
        Appeal::new(ctx, m).await
    }

    async fn update_appeal(&self, ctx: &Context<'_>, input: UpdateAppealInput) -> AppResult<Appeal> {
        let ch = AppealChanges {
            text: input.text,
            summary: input.summary,
            category_id: opt_id("input.categoryId", input.category_id.as_ref(), CategoryId)?,
            territory_id: opt_id("input.territoryId", input.territory_id.as_ref(), TerritoryId)?,
            address: input.address,
            latitude: input.latitude,
            longitude: input.longitude,
        };
        step(ctx, &input.id, input.version, Step::Update(ch)).await
    }

    async fn register_appeal(&self, ctx: &Context<'_>, input: AppealActionInput) -> AppResult<Appeal> {
        step(ctx, &input.id, input.version, Step::Register { comment: input.comment }).await
    }

    async fn assign_appeal(&self, ctx: &Context<'_>, input: AssignAppealInput) -> AppResult<Appeal> {
        let recipient_id = RecipientId(parse_id("input.recipientId", &input.recipient_id)?);
        step(ctx, &input.id, input.version, Step::Assign { recipient_id, comment: input.comment }).await
    }

    async fn redirect_appeal(&self, ctx: &Context<'_>, input: RedirectAppealInput) -> AppResult<Appeal> {
        let s = Step::Redirect { external_body: input.external_body, comment: input.comment };
        step(ctx, &input.id, input.version, s).await
    }

    /// For an INCIDENT this is the first reaction: the 7-working-day term starts.
    async fn start_work(&self, ctx: &Context<'_>, input: AppealActionInput) -> AppResult<Appeal> {
        step(ctx, &input.id, input.version, Step::StartWork { comment: input.comment }).await
    }

    async fn extend_deadline(&self, ctx: &Context<'_>, input: ExtendDeadlineInput) -> AppResult<Appeal> {
        step(ctx, &input.id, input.version, Step::Extend { days: input.days, reason: input.reason }).await
    }

    async fn answer_appeal(&self, ctx: &Context<'_>, input: AnswerAppealInput) -> AppResult<Appeal> {
        step(ctx, &input.id, input.version, Step::Answer { text: input.text }).await
    }

    /// Marks a task of an appeal done: those who may work on the appeal (its recipient's
    /// executors, its channel's coordinators, its curators). Recorded in the appeal's history.
    async fn complete_appeal_task(&self, ctx: &Context<'_>, id: ID) -> AppResult<AppealTask> {
        let id = parse_id("id", &id)?;
        let scope = scope(ctx).await?;
        Ok(crate::service::tasks::complete(state(ctx), caller(ctx), scope, id).await?.into())
    }

    async fn assess_answer(&self, ctx: &Context<'_>, input: AssessAnswerInput) -> AppResult<Appeal> {
        let s = Step::Assess { completeness: input.completeness, comment: input.comment };
        step(ctx, &input.id, input.version, s).await
    }

    async fn leave_without_answer(&self, ctx: &Context<'_>, input: LeaveWithoutAnswerInput) -> AppResult<Appeal> {
        let s = Step::LeaveWithoutAnswer { reason: input.reason, comment: input.comment };
        step(ctx, &input.id, input.version, s).await
    }

    /// Staff record the author's rating; a dissatisfied MESSAGE is reopened with a new term
    /// (`CONFLICT` for an anonymised one, which is never reopened: register a new appeal).
    async fn record_feedback(&self, ctx: &Context<'_>, input: FeedbackInput) -> AppResult<Appeal> {
        let id = appeal_id("input.id", &input.id)?;
        let (score, satisfied, comment) = (input.score, input.satisfied, input.comment);
        let m =
            appeals::record_feedback(state(ctx), caller(ctx), scope(ctx).await?, id, score, satisfied, comment).await?;
        Appeal::new(ctx, m).await
    }

    /// Public: the author rates the answer with the one-time code given with the answer.
    async fn submit_feedback(
        &self,
        ctx: &Context<'_>,
        code: String,
        score: i32,
        comment: Option<String>,
    ) -> AppResult<bool> {
        appeals::submit_feedback(state(ctx), caller(ctx), &code, score, comment).await
    }

    /// Back into work with a new term. An anonymised appeal (its author's personal data
    /// removed) is never reopened: `CONFLICT`, register the author's new request as a new
    /// appeal.
    async fn reopen_appeal(&self, ctx: &Context<'_>, input: ReopenAppealInput) -> AppResult<Appeal> {
        step(ctx, &input.id, input.version, Step::Reopen { reason: input.reason }).await
    }

    async fn mark_duplicate(&self, ctx: &Context<'_>, input: MarkDuplicateInput) -> AppResult<Appeal> {
        let original_id = appeal_id("input.originalId", &input.original_id)?;
        step(ctx, &input.id, input.version, Step::MarkDuplicate { original_id }).await
    }

    async fn close_appeal(&self, ctx: &Context<'_>, input: AppealActionInput) -> AppResult<Appeal> {
        step(ctx, &input.id, input.version, Step::Close { comment: input.comment }).await
    }
}

#[cfg(test)]
mod tests {
    /// The fields of an object type in the SDL, in order (descriptions skipped).
    fn fields_of(sdl: &str, type_name: &str) -> Vec<String> {
        let header = format!("type {type_name} {{");
        let mut out = Vec::new();
        let mut in_description = false;
        for line in sdl.lines().skip_while(|l| !l.starts_with(&header)).skip(1).take_while(|l| *l != "}") {
            let t = line.trim();
            if t.starts_with("\"\"\"") {
                in_description = !(in_description || t.len() > 3 && t.ends_with("\"\"\""));
                continue;
            }
            if in_description || t.starts_with('"') {
                continue;
            }
            if let Some(name) = t.split([':', '(']).next() {
                out.push(name.trim().to_string());
            }
        }
        out
    }

    /// The page reads the columns a field needs from `FIELD_COLUMNS`, beside the positional
    /// reader in the service: it must name exactly the fields the schema's `Appeal` has.
    #[test]
    fn every_field_of_appeal_says_which_columns_it_reads() {
        let schema = fields_of(&crate::graphql::sdl(), "Appeal");
        assert!(schema.len() > 30, "{schema:?}");
        let mut listed: Vec<&str> = crate::service::appeal_query::FIELD_COLUMNS
            .iter()
            .map(|(f, _)| *f)
            .filter(|f| *f != "__typename")
            .collect();
        let mut in_schema: Vec<&str> = schema.iter().map(String::as_str).collect();
        listed.sort_unstable();
        in_schema.sort_unstable();
        assert_eq!(listed, in_schema, "FIELD_COLUMNS and the resolvers of Appeal");
    }
}
