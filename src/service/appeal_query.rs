//! Reading appeals: filters, ordering and keyset pagination, within the caller's scope.

use std::collections::HashSet;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QueryResult, QuerySelect, QueryTrait, Select, Statement,
};
use serde::{Deserialize, Serialize};

use super::scope::{AppealScope, territory_subtree};
use crate::db::literal_in;
use crate::domain::access::Channel;
use crate::domain::deadlines::{AppealKind, SlaState};
use crate::domain::lifecycle::AppealStatus;
use crate::entity::{appeal, category, recipient, territory};
use crate::error::{AppError, AppResult};

/// Filters of the appeal list; every present filter narrows it.
#[derive(Debug, Clone, Default)]
pub struct AppealFilter {
    pub status: Vec<AppealStatus>,
    pub kind: Vec<AppealKind>,
    pub channel: Vec<Channel>,
    /// A top-level category includes its subcategories.
    pub category_id: Vec<i64>,
    /// A territory includes its whole subtree.
    pub territory_id: Vec<i64>,
    pub recipient_id: Vec<i64>,
    pub sla_state: Vec<SlaState>,
    pub received_from: Option<NaiveDate>,
    pub received_to: Option<NaiveDate>,
    pub due_before: Option<DateTime<Utc>>,
    pub search: Option<String>,
}

/// What the list is ordered by (always with the id as the tie-breaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderField {
    #[default]
    ReceivedAt,
    DueAt,
    Number,
    UpdatedAt,
}

/// A page request: forward (`first`/`after`) or backward (`last`/`before`).
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub order: OrderField,
    pub descending: bool,
    pub limit: u64,
    pub after: Option<String>,
    pub before: Option<String>,
    pub backward: bool,
    /// The columns the caller will look at (`None`: all); see [`PageRequest::read_columns`].
    pub columns: Option<Vec<appeal::Column>>,
}

/// Columns every page reads whatever is shown: the id (cursor, history, audit) and what the
/// caller's relation to an appeal depends on (channel, territory, recipient).
const PAGE_KEY_COLUMNS: [appeal::Column; 4] =
    [appeal::Column::Id, appeal::Column::Channel, appeal::Column::TerritoryId, appeal::Column::RecipientId];

impl PageRequest {
    /// The columns a page reads, in the entity's order: all of them, or the ones asked for
    /// with the key columns and the order's. The appeals of a page read this way carry
    /// default values in the other fields, so they serve the display they were read for and
    /// nothing else (no write starts from a page).
    fn read_columns(&self) -> Vec<appeal::Column> {
        let Some(wanted) = &self.columns else { return APPEAL_COLUMNS.to_vec() };
        let mut cols: Vec<appeal::Column> = PAGE_KEY_COLUMNS.to_vec();
        cols.push(order_column(self.order));
        cols.extend(wanted.iter().copied());
        // A column's discriminant is its place in the entity (and in `APPEAL_COLUMNS`).
        cols.sort_by_key(|c| *c as usize);
        cols.dedup_by_key(|c| *c as usize);
        cols
    }
}

/// A request for one page of the list, as a client makes it.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub order: OrderField,
    pub descending: bool,
    pub limit: u64,
    pub after: Option<String>,
    pub before: Option<String>,
    pub backward: bool,
    /// The fields of `Appeal` the client selected for each listed appeal (GraphQL names,
    /// as plain data): the list reads only the columns they need ([`columns_of_field`]) and
    /// joins the names of recipients, categories and territories when they are shown.
    pub fields: Vec<String>,
}

/// A page of the list with the reference rows read with it, and the query for its total.
pub struct AppealList {
    pub page: AppealPage,
    /// The recipients, categories and territories of the page's appeals, when the client
    /// shows them (read in the page's statement).
    pub refs: Option<PageRefs>,
    pub query: ListQuery,
}

/// The list's filtered query within the caller's scope, kept for its total count.
#[derive(Debug, Clone)]
pub struct ListQuery(Select<appeal::Entity>);

impl ListQuery {
    /// How many appeals match, asked only when a client wants to know.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn count(&self, conn: &impl ConnectionTrait) -> AppResult<u64> {
        count(conn, self.0.clone()).await
    }
}

/// One page of the appeals the caller may see that match `f`, reading what `req.fields` show.
///
/// # Errors
/// `BAD_USER_INPUT` for a cursor that is not ours; when the database fails.
pub async fn list(
    conn: &impl ConnectionTrait,
    scope: &AppealScope,
    f: &AppealFilter,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
    req: ListRequest,
) -> AppResult<AppealList> {
    let query = filtered(conn, scope, f, tz, now).await?;
    let columns = columns_of_fields(&req.fields);
    let names = req.fields.iter().any(|f| matches!(f.as_str(), "recipient" | "category" | "territory"));
    let ListRequest { order, descending, limit, after, before, backward, .. } = req;
    let p = PageRequest { order, descending, limit, after, before, backward, columns };
    // The names the page shows are joined into it: one statement, where loaders under load
    // fired in several waves (up to 14 statements a page on SQLite).
    let (page, refs) = if names {
        let (page, refs) = page_with_refs(conn, query.clone(), &p).await?;
        (page, Some(refs))
    } else {
        (page(conn, query.clone(), &p).await?, None)
    };
    Ok(AppealList { page, refs, query: ListQuery(query) })
}

/// Position of a row in the order: the order key and the id.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CursorKey {
    k: String,
    id: i64,
}

/// A page of appeals with cursors and whether more exist on either side.
pub struct AppealPage {
    pub rows: Vec<(String, appeal::Model)>,
    pub has_next: bool,
    pub has_previous: bool,
}

fn key_of(order: OrderField, a: &appeal::Model) -> String {
    match order {
        OrderField::ReceivedAt => a.received_at.to_rfc3339(),
        OrderField::DueAt => a.due_at.to_rfc3339(),
        OrderField::Number => a.number.clone(),
        OrderField::UpdatedAt => a.updated_at.to_rfc3339(),
    }
}

/// The opaque cursor of a row.
fn encode_cursor(order: OrderField, a: &appeal::Model) -> String {
    let key = CursorKey { k: key_of(order, a), id: a.id };
    let json = serde_json::to_string(&key).unwrap_or_default();
    crate::crypto::hex(json.as_bytes())
}

fn decode_cursor(path: &str, c: &str) -> AppResult<CursorKey> {
    let bad = || AppError::bad(path, "is not a valid cursor");
    if !c.len().is_multiple_of(2) || c.len() > 512 {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..c.len()).step_by(2).map(|i| u8::from_str_radix(&c[i..i + 2], 16).ok()).collect();
    serde_json::from_slice(&bytes.ok_or_else(bad)?).map_err(|_| bad())
}

fn order_column(order: OrderField) -> appeal::Column {
    match order {
        OrderField::ReceivedAt => appeal::Column::ReceivedAt,
        OrderField::DueAt => appeal::Column::DueAt,
        OrderField::Number => appeal::Column::Number,
        OrderField::UpdatedAt => appeal::Column::UpdatedAt,
    }
}

/// Rows strictly after (`forward`) or before the cursor in the given direction.
fn keyset(order: OrderField, cursor: &CursorKey, ascending: bool) -> AppResult<Condition> {
    let col = order_column(order);
    let value: sea_orm::Value = match order {
        OrderField::Number => cursor.k.clone().into(),
        _ => DateTime::parse_from_rfc3339(&cursor.k)
            .map_err(|_| AppError::bad("after", "is not a valid cursor"))?
            .with_timezone(&Utc)
            .into(),
    };
    let (gt, id_gt): (SimpleExpr, SimpleExpr) = if ascending {
        (col.gt(value.clone()), appeal::Column::Id.gt(cursor.id))
    } else {
        (col.lt(value.clone()), appeal::Column::Id.lt(cursor.id))
    };
    Ok(Condition::any().add(gt).add(Condition::all().add(col.eq(value)).add(id_gt)))
}

/// Start of a local date as an instant.
pub fn local_midnight(tz: chrono_tz::Tz, d: NaiveDate) -> DateTime<Utc> {
    let naive = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&naive).earliest().map_or_else(|| Utc.from_utc_datetime(&naive), |t| t.with_timezone(&Utc))
}

/// The SQL condition of an SLA state at `now`.
pub fn sla_condition(state: SlaState, now: DateTime<Utc>) -> Condition {
    use appeal::Column as C;
    let open = Condition::all().add(C::ResolvedAt.is_null());
    match state {
        SlaState::Overdue => open.add(C::DueAt.lt(now)),
        SlaState::DueSoon => open.add(C::DueAt.gte(now)).add(C::DueSoonAt.lte(now)),
        SlaState::OnTime => open.add(C::DueSoonAt.gt(now)),
        SlaState::Met => {
            Condition::all().add(C::ResolvedAt.is_not_null()).add(Expr::col(C::ResolvedAt).lte(Expr::col(C::DueAt)))
        }
        SlaState::Missed => {
            Condition::all().add(C::ResolvedAt.is_not_null()).add(Expr::col(C::ResolvedAt).gt(Expr::col(C::DueAt)))
        }
    }
}

/// The condition of the partial index `ix_appeals_open_due`, written literally (bound
/// parameters would not match it), table-qualified for joined queries.
pub const OPEN_STATUSES_PREDICATE: &str =
    "\"appeals\".\"status\" IN ('RECEIVED', 'REGISTERED', 'ASSIGNED', 'IN_PROGRESS', 'REOPENED')";

/// The SQLite statement of `q` told to read the partial index of open appeals, when `q`
/// carries that index's condition (its status filter names open statuses only).
///
/// The bundled SQLite (3.51) does not choose that index by itself: for the work queue
/// (assigned and in progress, by deadline) it took the status index and sorted ten thousand
/// rows (16 ms on 200,000 appeals), or with the condition the channel index (120 ms); told
/// `INDEXED BY`, 0.5 ms. The hint is given only where the condition that makes the index
/// usable is in the statement, so SQLite can always follow it.
fn open_queue_hint(backend: sea_orm::DatabaseBackend, q: &Select<appeal::Entity>) -> Option<Statement> {
    if backend != sea_orm::DatabaseBackend::Sqlite {
        return None;
    }
    let mut stmt = q.build(backend);
    if !stmt.sql.contains(OPEN_STATUSES_PREDICATE) {
        return None;
    }
    let from = "FROM \"appeals\" ";
    if stmt.sql.matches(from).count() != 1 {
        return None;
    }
    stmt.sql = stmt.sql.replacen(from, "FROM \"appeals\" INDEXED BY \"ix_appeals_open_due\" ", 1);
    Some(stmt)
}

/// What the in-memory filter ([`AppealFilter::matches`]) needs to know about an appeal
/// besides its row: where its category and territory sit in their trees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppealFacts {
    /// The parent of the appeal's category (a filter by a top-level category includes its
    /// subcategories).
    pub category_parent: Option<i64>,
    /// The appeal's territory and its ancestors, nearest first (a filter by a territory
    /// includes its whole subtree).
    pub territory_path: Vec<i64>,
}

/// Reads the [`AppealFacts`] of an appeal: its category's parent and its territory's
/// ancestors (at most two statements, none when the appeal has neither).
///
/// # Errors
/// On a database failure.
pub async fn facts_of(conn: &impl ConnectionTrait, a: &appeal::Model) -> AppResult<AppealFacts> {
    let category_parent = match a.category_id {
        Some(id) => category::Entity::find_by_id(id).one(conn).await?.and_then(|c| c.parent_id),
        None => None,
    };
    let mut territory_path = Vec::new();
    if let Some(id) = a.territory_id {
        let parents: std::collections::HashMap<i64, Option<i64>> =
            territory::Entity::find().all(conn).await?.into_iter().map(|t| (t.id, t.parent_id)).collect();
        let mut next = Some(id);
        while let Some(t) = next {
            if territory_path.contains(&t) {
                break;
            }
            territory_path.push(t);
            next = parents.get(&t).copied().flatten();
        }
    }
    Ok(AppealFacts { category_parent, territory_path })
}

/// An announced appeal as it is now, with its [`AppealFacts`]: what a process reads once per
/// change to weigh it against all its subscribers in memory. `None` when it is gone.
///
/// # Errors
/// On a database failure.
pub async fn changed(conn: &impl ConnectionTrait, id: i64) -> AppResult<Option<(appeal::Model, AppealFacts)>> {
    let Some(a) = appeal::Entity::find_by_id(id).one(conn).await? else { return Ok(None) };
    let facts = facts_of(conn, &a).await?;
    Ok(Some((a, facts)))
}

/// Whether an open or resolved appeal is in an SLA state at `now`: the same rule as
/// [`sla_condition`], on a row in memory.
fn sla_holds(state: SlaState, a: &appeal::Model, now: DateTime<Utc>) -> bool {
    match (state, a.resolved_at) {
        (SlaState::Overdue, None) => a.due_at < now,
        (SlaState::DueSoon, None) => a.due_at >= now && a.due_soon_at <= now,
        (SlaState::OnTime, None) => a.due_soon_at > now,
        (SlaState::Met, Some(r)) => r <= a.due_at,
        (SlaState::Missed, Some(r)) => r > a.due_at,
        _ => false,
    }
}

/// The search stems of a filter's text as the SQL filter uses them: at most eight, with
/// `LIKE`'s wildcards and escape dropped.
fn search_stems(s: &str) -> Vec<String> {
    let stems = crate::domain::text::normalize_for_search(s);
    stems
        .split_whitespace()
        .take(8)
        .map(|stem| stem.replace(['%', '_', '\\'], ""))
        .filter(|stem| !stem.is_empty())
        .collect()
}

impl AppealFilter {
    /// Whether the appeal matches the filter: the rule of [`filtered`] evaluated on a row in
    /// memory (a subscription weighing a change against many subscribers' filters after one
    /// read), given where its category and territory sit ([`facts_of`]). A test holds the two
    /// to the same answers on a grid of filters and rows, on SQLite and PostgreSQL.
    pub fn matches(&self, a: &appeal::Model, facts: &AppealFacts, tz: chrono_tz::Tz, now: DateTime<Utc>) -> bool {
        let any_of = |set: &[&str], v: &str| set.is_empty() || set.contains(&v);
        let statuses: Vec<&str> = self.status.iter().map(|s| s.as_str()).collect();
        let kinds: Vec<&str> = self.kind.iter().map(|s| s.as_str()).collect();
        let channels: Vec<&str> = self.channel.iter().map(|s| s.as_str()).collect();
        if !any_of(&statuses, &a.status) || !any_of(&kinds, &a.kind) || !any_of(&channels, &a.channel) {
            return false;
        }
        if !self.category_id.is_empty() {
            let in_tree = |id: Option<i64>| id.is_some_and(|id| self.category_id.contains(&id));
            if a.category_id.is_none() || !(in_tree(a.category_id) || in_tree(facts.category_parent)) {
                return false;
            }
        }
        if !self.territory_id.is_empty() && !facts.territory_path.iter().any(|t| self.territory_id.contains(t)) {
            return false;
        }
        if !self.recipient_id.is_empty() && !a.recipient_id.is_some_and(|r| self.recipient_id.contains(&r)) {
            return false;
        }
        if !self.sla_state.is_empty() && !self.sla_state.iter().any(|s| sla_holds(*s, a, now)) {
            return false;
        }
        if let Some(d) = self.received_from
            && a.received_at < local_midnight(tz, d)
        {
            return false;
        }
        if let Some(d) = self.received_to
            && a.received_at >= local_midnight(tz, d.succ_opt().unwrap_or(d))
        {
            return false;
        }
        if let Some(t) = self.due_before
            && a.due_at >= t
        {
            return false;
        }
        if let Some(s) = &self.search {
            return search_stems(s).iter().all(|stem| a.search_text.contains(stem.as_str()));
        }
        true
    }
}

/// Builds the filtered query within the scope. May read the category and territory trees.
pub async fn filtered(
    conn: &impl ConnectionTrait,
    scope: &AppealScope,
    f: &AppealFilter,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> AppResult<Select<appeal::Entity>> {
    use appeal::Column as C;
    let mut q = appeal::Entity::find().filter(scope.condition());
    if !f.status.is_empty() {
        q = q.filter(literal_in(C::Status, f.status.iter().map(|s| s.as_str())));
        if f.status.iter().all(|s| s.is_open()) {
            // Redundant, but lets the planner use the partial index of open appeals
            // (PostgreSQL does by itself; SQLite is told to, see `open_queue_hint`).
            q = q.filter(Expr::cust(OPEN_STATUSES_PREDICATE));
        }
    }
    if !f.kind.is_empty() {
        q = q.filter(literal_in(C::Kind, f.kind.iter().map(|s| s.as_str())));
    }
    if !f.channel.is_empty() {
        q = q.filter(literal_in(C::Channel, f.channel.iter().map(|s| s.as_str())));
    }
    if !f.category_id.is_empty() {
        let children = category::Entity::find()
            .filter(category::Column::ParentId.is_in(f.category_id.iter().copied()))
            .all(conn)
            .await?;
        let ids: HashSet<i64> = f.category_id.iter().copied().chain(children.into_iter().map(|c| c.id)).collect();
        q = q.filter(literal_in(C::CategoryId, ids));
    }
    if !f.territory_id.is_empty() {
        let mut ids = HashSet::new();
        for root in &f.territory_id {
            ids.extend(territory_subtree(conn, *root).await?);
        }
        q = q.filter(literal_in(C::TerritoryId, ids));
    }
    if !f.recipient_id.is_empty() {
        q = q.filter(literal_in(C::RecipientId, f.recipient_id.iter().copied()));
    }
    if !f.sla_state.is_empty() {
        let mut any = Condition::any();
        for s in &f.sla_state {
            any = any.add(sla_condition(*s, now));
        }
        q = q.filter(any);
    }
    if let Some(d) = f.received_from {
        q = q.filter(C::ReceivedAt.gte(local_midnight(tz, d)));
    }
    if let Some(d) = f.received_to {
        let next = d.succ_opt().unwrap_or(d);
        q = q.filter(C::ReceivedAt.lt(local_midnight(tz, next)));
    }
    if let Some(t) = f.due_before {
        q = q.filter(C::DueAt.lt(t));
    }
    if let Some(s) = &f.search {
        for stem in search_stems(s) {
            q = q.filter(C::SearchText.like(format!("%{stem}%")));
        }
    }
    Ok(q)
}

/// One page of the list, ordered and keyset-paginated.
async fn page(conn: &impl ConnectionTrait, q: Select<appeal::Entity>, p: &PageRequest) -> AppResult<AppealPage> {
    let cols = p.read_columns();
    let q = q.select_only().columns(cols.iter().copied());
    let stmt = page_statement(conn.get_database_backend(), &page_query(q, p)?, p);
    let rows = conn.query_all_raw(stmt).await?;
    let appeals = rows.iter().map(|r| read_appeal(r, 0, &cols)).collect::<Result<Vec<_>, _>>()?;
    Ok(into_page(appeals, p))
}

/// The page of the rows read for it: the extra row dropped, in reading order, with cursors.
fn into_page(mut appeals: Vec<appeal::Model>, p: &PageRequest) -> AppealPage {
    let (has_next, has_previous) = trim(&mut appeals, p);
    let rows = appeals.into_iter().map(|a| (encode_cursor(p.order, &a), a)).collect();
    AppealPage { rows, has_next, has_previous }
}

/// The recipients, categories and territories of a page's appeals, read with the page.
#[derive(Debug, Default)]
pub struct PageRefs {
    pub recipients: Vec<recipient::Model>,
    pub categories: Vec<category::Model>,
    pub territories: Vec<territory::Model>,
}

/// Declares the columns a page selects for an entity, in the entity's order, and a reader
/// that takes any of them back by position: the listed columns from `at` on, default values
/// in the fields not read.
///
/// sea-orm's derived readers find every column by name, and for every NULL one format the
/// name into an error they then discard: a quarter of the server's time for a page of 50
/// appeals with their recipient, category and territory. The struct literal and the `match`
/// name every field (a new column is a compile error here), and a test checks the columns
/// are the entity's, in this order.
macro_rules! positional {
    ($read:ident, $columns:ident, $fields:ident, $module:ident { $($field:ident: $col:ident),* $(,)? }) => {
        const $columns: &[$module::Column] = &[$($module::Column::$col),*];
        #[cfg(test)]
        const $fields: &[&str] = &[$(stringify!($field)),*];

        fn $read(row: &QueryResult, at: usize, cols: &[$module::Column]) -> Result<$module::Model, DbErr> {
            let mut m = $module::Model { $($field: Default::default()),* };
            for (i, col) in cols.iter().enumerate() {
                match col {
                    $($module::Column::$col => m.$field = row.try_get_by_index(at + i)?,)*
                }
            }
            Ok(m)
        }
    };
}

positional!(
    read_appeal,
    APPEAL_COLUMNS,
    APPEAL_FIELDS,
    appeal {
        id: Id,
        number: Number,
        kind: Kind,
        channel: Channel,
        external_id: ExternalId,
        status: Status,
        received_at: ReceivedAt,
        registered_at: RegisteredAt,
        author_name: AuthorName,
        author_contact: AuthorContact,
        anonymous: Anonymous,
        text: Text,
        search_text: SearchText,
        summary: Summary,
        category_id: CategoryId,
        suggested_category_id: SuggestedCategoryId,
        territory_id: TerritoryId,
        address: Address,
        latitude: Latitude,
        longitude: Longitude,
        recipient_id: RecipientId,
        redirected_to: RedirectedTo,
        high_priority: HighPriority,
        sla_started_at: SlaStartedAt,
        due_soon_at: DueSoonAt,
        due_at: DueAt,
        extension_count: ExtensionCount,
        reacted_at: ReactedAt,
        resolved_at: ResolvedAt,
        answered_at: AnsweredAt,
        answer_text: AnswerText,
        completeness: Completeness,
        no_answer_reason: NoAnswerReason,
        satisfaction_score: SatisfactionScore,
        satisfied: Satisfied,
        feedback_code: FeedbackCode,
        feedback_expires_at: FeedbackExpiresAt,
        reopen_count: ReopenCount,
        duplicate_of_id: DuplicateOfId,
        version: Version,
        created_at: CreatedAt,
        updated_at: UpdatedAt,
    }
);
/// The columns each field of `Appeal` (by its GraphQL name) reads from its row, beyond the
/// key columns a page always reads ([`PAGE_KEY_COLUMNS`]); a page asked for a field not
/// listed reads every column. Kept here, beside the reader, in step with the resolvers of
/// `graphql::appeals::Appeal`: a unit test fails when a column is neither shown by a field
/// nor listed as never shown ([`NOT_SHOWN`]), another (in `graphql::appeals`) when the
/// fields listed are not exactly the schema's, and an API test reads every field alone on a
/// page and compares it with the appeal read whole.
pub const FIELD_COLUMNS: &[(&str, &[appeal::Column])] = &[
    ("__typename", &[]),
    ("id", &[]),
    ("territory", &[]),
    ("recipient", &[]),
    ("events", &[]),
    ("category", &[appeal::Column::CategoryId]),
    ("number", &[appeal::Column::Number]),
    ("kind", &[appeal::Column::Kind]),
    ("channel", &[appeal::Column::Channel]),
    ("externalId", &[appeal::Column::ExternalId]),
    ("status", &[appeal::Column::Status]),
    ("receivedAt", &[appeal::Column::ReceivedAt]),
    ("registeredAt", &[appeal::Column::RegisteredAt]),
    ("authorName", &[appeal::Column::AuthorName]),
    ("authorContact", &[appeal::Column::AuthorContact]),
    ("anonymous", &[appeal::Column::Anonymous]),
    ("text", &[appeal::Column::Text]),
    ("summary", &[appeal::Column::Summary]),
    ("address", &[appeal::Column::Address]),
    ("latitude", &[appeal::Column::Latitude]),
    ("longitude", &[appeal::Column::Longitude]),
    ("redirectedTo", &[appeal::Column::RedirectedTo]),
    ("dueAt", &[appeal::Column::DueAt]),
    ("extended", &[appeal::Column::ExtensionCount]),
    ("slaState", &[appeal::Column::DueSoonAt, appeal::Column::DueAt, appeal::Column::ResolvedAt]),
    ("answeredAt", &[appeal::Column::AnsweredAt]),
    ("answerText", &[appeal::Column::AnswerText]),
    ("completeness", &[appeal::Column::Completeness]),
    ("noAnswerReason", &[appeal::Column::NoAnswerReason]),
    ("satisfactionScore", &[appeal::Column::SatisfactionScore]),
    ("satisfied", &[appeal::Column::Satisfied]),
    ("feedbackCode", &[appeal::Column::FeedbackCode, appeal::Column::FeedbackExpiresAt]),
    ("reopenCount", &[appeal::Column::ReopenCount]),
    ("duplicateOf", &[appeal::Column::DuplicateOfId]),
    ("version", &[appeal::Column::Version]),
];

/// The columns the `Appeal` field `name` reads ([`FIELD_COLUMNS`]); `None` for a field not
/// listed.
pub fn columns_of_field(name: &str) -> Option<&'static [appeal::Column]> {
    FIELD_COLUMNS.iter().find(|(field, _)| *field == name).map(|(_, cols)| *cols)
}

/// Columns no field of `Appeal` shows (read by the services, never on a page).
#[cfg(test)]
const NOT_SHOWN: &[appeal::Column] = &[
    appeal::Column::SearchText,
    appeal::Column::SuggestedCategoryId,
    appeal::Column::HighPriority,
    appeal::Column::SlaStartedAt,
    appeal::Column::ReactedAt,
    appeal::Column::CreatedAt,
    appeal::Column::UpdatedAt,
];

/// The columns a page must read to show these fields of its appeals (`None`: all of them).
/// A page of 50 with nine fields reads 14 of 42 columns: a third of the decoding and of the
/// bytes from the database.
fn columns_of_fields(fields: &[String]) -> Option<Vec<appeal::Column>> {
    let mut cols = Vec::new();
    for f in fields {
        cols.extend_from_slice(columns_of_field(f)?);
    }
    Some(cols)
}

positional!(
    read_recipient,
    RECIPIENT_COLUMNS,
    RECIPIENT_FIELDS,
    recipient {
        id: Id,
        name: Name,
        short_name: ShortName,
        parent_id: ParentId,
        external: External,
        active: Active,
        version: Version,
        created_at: CreatedAt,
    }
);
positional!(
    read_category,
    CATEGORY_COLUMNS,
    CATEGORY_FIELDS,
    category {
        id: Id,
        name: Name,
        parent_id: ParentId,
        default_recipient_id: DefaultRecipientId,
        version: Version,
        created_at: CreatedAt,
    }
);
positional!(
    read_territory,
    TERRITORY_COLUMNS,
    TERRITORY_FIELDS,
    territory {
        id: Id,
        name: Name,
        code: Code,
        parent_id: ParentId,
        population: Population,
        latitude: Latitude,
        longitude: Longitude,
        version: Version,
        created_at: CreatedAt,
    }
);

/// Reads the joined row's reference at `at` (its id first) unless it is absent or already read.
fn read_ref<M>(
    row: &QueryResult,
    at: usize,
    seen: &mut HashSet<i64>,
    read: impl Fn(&QueryResult, usize) -> Result<M, DbErr>,
    into: &mut Vec<M>,
) -> Result<(), DbErr> {
    if let Some(id) = row.try_get_by_index::<Option<i64>>(at)?
        && seen.insert(id)
    {
        into.push(read(row, at)?);
    }
    Ok(())
}

/// [`page`] in one statement that also reads each appeal's recipient, category and territory
/// (left joins), so that a list showing their names needs no further statements. Each of
/// them is read from the first row that names it.
///
/// # Errors
/// As [`page`].
async fn page_with_refs(
    conn: &impl ConnectionTrait,
    q: Select<appeal::Entity>,
    p: &PageRequest,
) -> AppResult<(AppealPage, PageRefs)> {
    use sea_orm::JoinType;
    use sea_orm::sea_query::Alias;
    let recipient_rel: sea_orm::RelationDef = appeal::Entity::belongs_to(recipient::Entity)
        .from(appeal::Column::RecipientId)
        .to(recipient::Column::Id)
        .into();
    let category_rel: sea_orm::RelationDef =
        appeal::Entity::belongs_to(category::Entity).from(appeal::Column::CategoryId).to(category::Column::Id).into();
    let territory_rel: sea_orm::RelationDef = appeal::Entity::belongs_to(territory::Entity)
        .from(appeal::Column::TerritoryId)
        .to(territory::Column::Id)
        .into();
    let (rec, cat, ter) = (Alias::new("r"), Alias::new("c"), Alias::new("t"));
    let cols = p.read_columns();
    let mut q = q
        .select_only()
        .columns(cols.iter().copied())
        .join_as(JoinType::LeftJoin, recipient_rel, rec.clone())
        .join_as(JoinType::LeftJoin, category_rel, cat.clone())
        .join_as(JoinType::LeftJoin, territory_rel, ter.clone());
    for col in RECIPIENT_COLUMNS {
        q = q.expr(Expr::col((rec.clone(), *col)));
    }
    for col in CATEGORY_COLUMNS {
        q = q.expr(Expr::col((cat.clone(), *col)));
    }
    for col in TERRITORY_COLUMNS {
        q = q.expr(Expr::col((ter.clone(), *col)));
    }
    let stmt = page_statement(conn.get_database_backend(), &page_query(q, p)?, p);
    let rows = conn.query_all_raw(stmt).await?;
    let at_recipient = cols.len();
    let at_category = at_recipient + RECIPIENT_COLUMNS.len();
    let at_territory = at_category + CATEGORY_COLUMNS.len();
    let mut refs = PageRefs::default();
    let mut seen = [HashSet::new(), HashSet::new(), HashSet::new()];
    let mut appeals = Vec::with_capacity(rows.len());
    for row in &rows {
        appeals.push(read_appeal(row, 0, &cols)?);
        let recipient = |r: &QueryResult, at| read_recipient(r, at, RECIPIENT_COLUMNS);
        read_ref(row, at_recipient, &mut seen[0], recipient, &mut refs.recipients)?;
        let category = |r: &QueryResult, at| read_category(r, at, CATEGORY_COLUMNS);
        read_ref(row, at_category, &mut seen[1], category, &mut refs.categories)?;
        let territory = |r: &QueryResult, at| read_territory(r, at, TERRITORY_COLUMNS);
        read_ref(row, at_territory, &mut seen[2], territory, &mut refs.territories)?;
    }
    Ok((into_page(appeals, p), refs))
}

/// The statement of a page: the query (told its index on SQLite, see [`open_queue_hint`])
/// with the number of rows to read, one more than the page to tell whether more follow,
/// written into it: a bound `LIMIT` would keep PostgreSQL planning each execution anew (see
/// [`literal_in`]).
fn page_statement(backend: sea_orm::DatabaseBackend, q: &Select<appeal::Entity>, p: &PageRequest) -> Statement {
    let mut stmt = open_queue_hint(backend, q).unwrap_or_else(|| q.build(backend));
    let _ = write!(stmt.sql, " LIMIT {}", p.limit + 1);
    stmt
}

/// The query narrowed to the rows after/before the cursors, in reading order.
fn page_query(mut q: Select<appeal::Entity>, p: &PageRequest) -> AppResult<Select<appeal::Entity>> {
    if let Some(c) = &p.after {
        q = q.filter(keyset(p.order, &decode_cursor("after", c)?, !p.descending)?);
    }
    if let Some(c) = &p.before {
        q = q.filter(keyset(p.order, &decode_cursor("before", c)?, p.descending)?);
    }
    // Walking backward means reading in the opposite direction and reversing the rows.
    let dir = if p.descending == p.backward { Order::Asc } else { Order::Desc };
    Ok(q.order_by(order_column(p.order), dir.clone()).order_by(appeal::Column::Id, dir))
}

/// Drops the extra row read by [`page_query`], puts a backward read back in order, and says
/// whether more rows exist after and before the page.
fn trim<T>(rows: &mut Vec<T>, p: &PageRequest) -> (bool, bool) {
    let more = rows.len() as u64 > p.limit;
    rows.truncate(p.limit as usize);
    if p.backward {
        rows.reverse();
    }
    if p.backward { (p.before.is_some(), more) } else { (more, p.after.is_some()) }
}

/// The number of appeals matching the query.
pub async fn count(conn: &impl ConnectionTrait, q: Select<appeal::Entity>) -> AppResult<u64> {
    if let Some(stmt) = open_queue_hint(conn.get_database_backend(), &q) {
        let stmt = Statement::from_sql_and_values(
            stmt.db_backend,
            format!("SELECT COUNT(*) AS n FROM ({}) AS sub", stmt.sql),
            stmt.values.map(|v| v.0).unwrap_or_default(),
        );
        let n = conn.query_one_raw(stmt).await?.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0);
        return Ok(u64::try_from(n).unwrap_or(0));
    }
    Ok(q.count(conn).await?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_open_predicate_and_the_partial_index_name_exactly_the_open_statuses() {
        let index = migration::m20261129_000011_open_queue_index::OPEN_STATUSES_SQL;
        for s in AppealStatus::ALL {
            let quoted = format!("'{}'", s.as_str());
            assert_eq!(OPEN_STATUSES_PREDICATE.contains(&quoted), s.is_open(), "{s}");
            assert_eq!(index.contains(&quoted), s.is_open(), "{s}");
        }
        assert_eq!(OPEN_STATUSES_PREDICATE.split_once(" IN ").map(|x| x.1), index.split_once(" IN ").map(|x| x.1));
    }

    #[test]
    fn a_first_page_is_a_statement_without_parameters_so_postgresql_plans_it_once() {
        use sea_orm::DatabaseBackend::{Postgres, Sqlite};
        let scope = AppealScope::for_user(
            &crate::domain::access::UserPrincipal {
                id: 1,
                email: "c@x".into(),
                roles: vec![crate::domain::access::Role::Coordinator],
                channels: vec![Channel::Pos, Channel::Incident],
                recipient_id: None,
                territory_id: Some(3),
            },
            Some([7, 3, 5].into_iter().collect()),
        );
        let q = appeal::Entity::find()
            .filter(scope.condition())
            .filter(literal_in(appeal::Column::Status, ["IN_PROGRESS", "ASSIGNED", "ASSIGNED"]))
            .filter(literal_in(appeal::Column::CategoryId, [12_i64, 4]));
        let p = PageRequest {
            order: OrderField::DueAt,
            descending: false,
            limit: 50,
            after: None,
            before: None,
            backward: false,
            columns: None,
        };
        for backend in [Postgres, Sqlite] {
            let stmt = page_statement(backend, &page_query(q.clone(), &p).unwrap(), &p);
            assert!(stmt.values.as_ref().is_none_or(|v| v.0.is_empty()), "{backend:?}: {:?}", stmt.values);
            assert!(stmt.sql.ends_with(" LIMIT 51"), "{}", stmt.sql);
            // Sorted and without repeats, so equal filters give the same statement text.
            assert!(stmt.sql.contains(r#""appeals"."status" IN ('ASSIGNED', 'IN_PROGRESS')"#), "{}", stmt.sql);
            assert!(stmt.sql.contains(r#""appeals"."territory_id" IN (3, 5, 7)"#), "{}", stmt.sql);
            assert!(stmt.sql.contains(r#""appeals"."channel" IN ('INCIDENT', 'POS')"#), "{}", stmt.sql);
            assert!(stmt.sql.contains(r#""appeals"."category_id" IN (4, 12)"#), "{}", stmt.sql);
        }
        // A later page binds its cursor, and the limit is still written once.
        let next = PageRequest { after: Some(encode_cursor(OrderField::DueAt, &sample())), ..p };
        let stmt = page_statement(Postgres, &page_query(q, &next).unwrap(), &next);
        assert_eq!(stmt.values.map(|v| v.0.len()), Some(3));
        assert_eq!(stmt.sql.matches("LIMIT").count(), 1);
        // Whatever reaches it, the builder writes a literal, never SQL.
        let hostile =
            appeal::Entity::find().filter(literal_in(appeal::Column::Status, ["x') OR ('1' = '1"])).build(Postgres);
        assert_eq!(hostile.sql.split_once(" IN ").map(|x| x.1), Some(r"(E'x\') OR (\'1\' = \'1')"), "{}", hostile.sql);
    }

    #[test]
    fn a_page_reads_the_columns_asked_for_with_its_key_and_order_columns() {
        use appeal::Column as C;
        let mut p = PageRequest {
            order: OrderField::UpdatedAt,
            descending: true,
            limit: 50,
            after: None,
            before: None,
            backward: false,
            columns: Some(vec![C::DueAt, C::Number, C::DueSoonAt, C::ResolvedAt, C::Number, C::Id]),
        };
        use sea_orm::IdenStatic;
        let names = |p: &PageRequest| p.read_columns().iter().map(IdenStatic::as_str).collect::<Vec<_>>().join(" ");
        assert_eq!(names(&p), "id number channel territory_id recipient_id due_soon_at due_at resolved_at updated_at");
        p.columns = Some(Vec::new());
        assert_eq!(names(&p), "id channel territory_id recipient_id updated_at");
        p.columns = None;
        assert_eq!(p.read_columns().len(), APPEAL_COLUMNS.len());
    }

    fn sample() -> appeal::Model {
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        appeal::Model {
            id: 42,
            number: "2026-000042".into(),
            kind: "APPEAL".into(),
            channel: "POS".into(),
            external_id: None,
            status: "ASSIGNED".into(),
            received_at: t,
            registered_at: None,
            author_name: None,
            author_contact: None,
            anonymous: true,
            text: String::new(),
            search_text: String::new(),
            summary: None,
            category_id: None,
            suggested_category_id: None,
            territory_id: None,
            address: None,
            latitude: None,
            longitude: None,
            recipient_id: None,
            redirected_to: None,
            high_priority: false,
            sla_started_at: t,
            due_soon_at: t,
            due_at: t,
            extension_count: 0,
            reacted_at: None,
            resolved_at: None,
            answered_at: None,
            answer_text: None,
            completeness: None,
            no_answer_reason: None,
            satisfaction_score: None,
            satisfied: None,
            feedback_code: None,
            feedback_expires_at: None,
            reopen_count: 0,
            duplicate_of_id: None,
            version: 1,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn the_positional_readers_take_every_column_of_their_entity_in_order() {
        use sea_orm::{IdenStatic, Iterable};
        fn check<C: IdenStatic + Iterable>(columns: &[C], fields: &[&str]) {
            let names: Vec<&str> = columns.iter().map(IdenStatic::as_str).collect();
            assert_eq!(names, fields);
            assert_eq!(names, C::iter().map(|c| c.as_str()).collect::<Vec<_>>());
        }
        check(APPEAL_COLUMNS, APPEAL_FIELDS);
        // `read_columns` orders by discriminant: it is the place in the list.
        assert!(APPEAL_COLUMNS.iter().enumerate().all(|(i, c)| *c as usize == i));
        check(RECIPIENT_COLUMNS, RECIPIENT_FIELDS);
        check(CATEGORY_COLUMNS, CATEGORY_FIELDS);
        check(TERRITORY_COLUMNS, TERRITORY_FIELDS);
    }

    #[test]
    fn every_column_is_shown_by_a_field_or_listed_as_never_shown() {
        let shown: Vec<appeal::Column> =
            FIELD_COLUMNS.iter().flat_map(|(_, cols)| cols.iter().copied()).chain(PAGE_KEY_COLUMNS).collect();
        for col in APPEAL_COLUMNS {
            let n = |c: &appeal::Column| *c as usize;
            let listed = shown.iter().any(|c| n(c) == n(col));
            let hidden = NOT_SHOWN.iter().any(|c| n(c) == n(col));
            assert!(listed != hidden, "{col:?}: shown by a field {listed}, listed as never shown {hidden}");
        }
        assert_eq!(columns_of_fields(&["number".into(), "slaState".into()]).map(|c| c.len()), Some(4));
        assert!(columns_of_fields(&["number".into(), "somethingNew".into()]).is_none(), "unknown: read all");
    }

    #[test]
    fn sqlite_is_told_to_read_the_open_queue_index_only_where_it_can() {
        use sea_orm::DatabaseBackend::{Postgres, Sqlite};
        let open = appeal::Entity::find()
            .filter(appeal::Column::Status.is_in(["ASSIGNED", "IN_PROGRESS"]))
            .filter(Expr::cust(OPEN_STATUSES_PREDICATE))
            .order_by_asc(appeal::Column::DueAt);
        let hinted = open_queue_hint(Sqlite, &open).map(|s| s.sql).unwrap_or_default();
        assert!(hinted.contains(r#"FROM "appeals" INDEXED BY "ix_appeals_open_due" WHERE"#), "{hinted}");
        assert!(open_queue_hint(Postgres, &open).is_none());
        let any = appeal::Entity::find().filter(appeal::Column::Status.is_in(["CLOSED"]));
        assert!(open_queue_hint(Sqlite, &any).is_none());
    }
}
