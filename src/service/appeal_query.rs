//! Reading appeals: filters, ordering and keyset pagination, within the caller's scope.

use std::collections::HashSet;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder, QueryResult, QuerySelect,
    QueryTrait, Select, Statement,
};
use serde::{Deserialize, Serialize};

use super::scope::AppealScope;
use crate::db::literal_in;
use crate::domain::access::Channel;
use crate::domain::appeal::{Appeal, AppealId, CategoryId, RecipientId, TerritoryId};
use crate::domain::deadlines::{AppealKind, SlaState};
use crate::domain::lifecycle::AppealStatus;
use crate::entity::{appeal, appeal_stat};
use crate::error::{AppError, AppResult};
use crate::state::ReferenceData;
use crate::store::rollup;
use migration::m20270109_000001_number_order::{number_order, number_order_sql};

/// Filters of the appeal list; every present filter narrows it.
#[derive(Debug, Clone, Default)]
pub struct AppealFilter {
    pub status: Vec<AppealStatus>,
    pub kind: Vec<AppealKind>,
    pub channel: Vec<Channel>,
    /// A top-level category includes its subcategories.
    pub category_id: Vec<CategoryId>,
    /// A territory includes its whole subtree.
    pub territory_id: Vec<TerritoryId>,
    pub recipient_id: Vec<RecipientId>,
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
    /// Best match of the search first (no client asks for it by name: it is the order of a
    /// search given no `orderBy`). Pages by position: a cursor is the row's place in the
    /// ranking.
    Relevance,
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
    /// The search ranking the rows, when the order is [`OrderField::Relevance`].
    pub relevance: Option<Search>,
    /// What the filter tells the database's choice of index ([`order_walk_hint`]).
    pub hints: WalkHints,
}

/// What a filter says about the share of the appeals a page is drawn from, for SQLite, which
/// cannot see it, and for PostgreSQL where it misjudges it (see [`order_walk_hint`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkHints {
    /// Statuses of work in hand only (open ones, a small share of the appeals).
    pub work_in_hand: bool,
    /// The overdue appeals only (unresolved ones, a small share too).
    pub overdue: bool,
    /// `receivedFrom` or `receivedTo`.
    pub receipt_period: bool,
    /// The appeals on time only (unresolved ones before their due-soon instant).
    pub on_time: bool,
    /// Categories or recipients, whose values have an index of their own by number.
    pub numbered_by_value: bool,
    /// A search of one word that many appeals hold (SQLite; set in the walking branch of a
    /// [`counted_walk`] only).
    pub common_search: bool,
    /// Categories (with their subcategories) that many appeals are of (SQLite; likewise).
    pub common_category: bool,
    /// A category, territory, recipient or search: a share of the appeals, maybe a small
    /// one, that no index of the unresolved appeals holds.
    pub narrowed: bool,
}

impl WalkHints {
    fn of(f: &AppealFilter) -> Self {
        Self {
            work_in_hand: !f.status.is_empty() && f.status.iter().all(|s| s.is_open()),
            overdue: f.sla_state == [SlaState::Overdue],
            receipt_period: f.received_from.is_some() || f.received_to.is_some(),
            on_time: f.sla_state == [SlaState::OnTime],
            numbered_by_value: !f.category_id.is_empty() || !f.recipient_id.is_empty(),
            common_search: false,
            common_category: false,
            narrowed: !f.category_id.is_empty()
                || !f.territory_id.is_empty()
                || !f.recipient_id.is_empty()
                || f.search.as_deref().and_then(Search::parse).is_some(),
        }
    }
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
        with_key_columns(std::iter::once(order_column(self.order)).chain(wanted.iter().copied()))
    }
}

/// The key columns ([`PAGE_KEY_COLUMNS`]) and `wanted`, each once, in the entity's order.
fn with_key_columns(wanted: impl IntoIterator<Item = appeal::Column>) -> Vec<appeal::Column> {
    let mut cols: Vec<appeal::Column> = PAGE_KEY_COLUMNS.to_vec();
    cols.extend(wanted);
    // A column's discriminant is its place in the entity (and in `APPEAL_COLUMNS`).
    cols.sort_by_key(|c| *c as usize);
    cols.dedup_by_key(|c| *c as usize);
    cols
}

/// One appeal the caller may see, read for the columns its selected `fields` show (GraphQL
/// names of `Appeal`; with the key columns that decide who sees it), like a list page's: the
/// detail a client asks for (9 of 50 columns for the benchmark's card). `NOT_FOUND` when it
/// does not exist or the caller may not see it (never `FORBIDDEN`, so ids cannot be probed).
/// The appeal read this way serves that display and nothing else: no write starts from it.
///
/// # Errors
/// `NOT_FOUND`; when the database fails or the row holds a name this code does not know.
pub async fn one(
    conn: &impl ConnectionTrait,
    scope: &AppealScope,
    id: AppealId,
    fields: &[String],
) -> AppResult<Appeal> {
    let cols = columns_of_fields(fields).map_or_else(|| APPEAL_COLUMNS.to_vec(), with_key_columns);
    // Built directly: `Entity::find_by_id` lists every column first, only for
    // `select_only` to drop them (3% of a detail's CPU).
    let mut q = sea_orm::sea_query::Query::select();
    q.columns(cols.iter().copied()).from(appeal::Entity).and_where(appeal::Column::Id.eq(id.0));
    let row = conn.query_one_raw(conn.get_database_backend().build(&q)).await?;
    let found = row.map(|r| read_appeal(&r, &cols)).transpose()?;
    found.filter(|a| scope.sees(a)).ok_or_else(|| AppError::NotFound("appeal".into()))
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
    /// as plain data): the list reads only the columns they need ([`columns_of_field`]).
    pub fields: Vec<String>,
}

/// A page of the list and the query for its total.
pub struct AppealList {
    pub page: AppealPage,
    pub query: ListQuery,
}

/// The list's filtered query within the caller's scope, kept for its total count.
#[derive(Debug, Clone)]
pub struct ListQuery {
    query: Select<appeal::Entity>,
    /// The same filter over the rollups, when it names only what their keys hold.
    rollup: Option<RollupCount>,
    /// On SQLite, a search with no other condition: its FTS5 query, counted in the index
    /// alone ([`ListQuery::index_count_statement`]).
    index_only: Option<String>,
}

impl ListQuery {
    /// How many appeals match, asked only when a client wants to know: summed from the
    /// rollups when the filter allows (see [`RollupCount`]), else counted.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn count(&self, conn: &impl ConnectionTrait) -> AppResult<u64> {
        match (&self.rollup, &self.index_only) {
            (Some(r), _) => r.count(conn).await,
            (None, Some(fts)) => {
                let stmt = Self::index_count_statement(fts);
                let n = conn.query_one_raw(stmt).await?.map(|r| r.try_get_by_index::<i64>(0)).transpose()?;
                Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
            }
            (None, None) => count(conn, self.query.clone()).await,
        }
    }

    /// The statement [`Self::count`] runs (for `mcu explain-list`), and what it reads:
    /// `rollup`, `search index` or `appeals`.
    pub fn count_statement(&self, backend: sea_orm::DatabaseBackend) -> (Statement, &'static str) {
        match (&self.rollup, &self.index_only) {
            (Some(r), _) => (r.statement(backend), "rollup"),
            (None, Some(fts)) => (Self::index_count_statement(fts), "search index"),
            (None, None) => (count_statement(backend, &self.query), "appeals"),
        }
    }

    /// The list's total of a search and nothing else on SQLite, counted in the FTS5 index
    /// without reading `appeals`: the store writes every appeal into the index with its row,
    /// and replaces its entry when its stems change ([`crate::store::search`]); FTS5 keeps
    /// one entry per rowid (a newer one supersedes), and the server deletes no appeal. So the
    /// index's matches are the appeals that match, as the page's `IN (SELECT rowid …)` reads
    /// them. Read through `appeals`, each match was a lookup of its row (25–42 ms for a
    /// common word on 200,000 appeals).
    fn index_count_statement(fts: &str) -> Statement {
        Statement::from_string(
            sea_orm::DatabaseBackend::Sqlite,
            format!("SELECT COUNT(*) AS n FROM appeals_fts WHERE appeals_fts MATCH '{fts}'"),
        )
    }

    fn of(backend: sea_orm::DatabaseBackend, f: &AppealFilter, parts: Parts) -> Self {
        let index_only = f
            .search
            .as_deref()
            .and_then(Search::parse)
            .filter(|_| backend == sea_orm::DatabaseBackend::Sqlite && matches_all(backend, &parts.unsearched))
            .map(|s| s.fts);
        Self { query: parts.query, rollup: parts.rollup, index_only }
    }

    /// The plain count over `appeals` (for `mcu explain-list`, to compare with the rollups').
    pub fn direct_count_statement(&self, backend: sea_orm::DatabaseBackend) -> Statement {
        count_statement(backend, &self.query)
    }
}

/// A total summed from the `appeal_stats` ledger: possible when every condition of the
/// filter and of the caller's scope is on a column the ledger keys hold under the same name
/// (status, kind, channel, category, territory, recipient) and the receipt dates are local
/// days (the ledger's days, in the municipality's time zone). The conditions are applied to
/// the ledger read under the alias `appeals`, so they are the list's own conditions, written
/// once. Whole months, then weeks, then days cover the dates ([`rollup::tile`]); the overview
/// cube (a few rows a month) serves filters that name no category, territory or recipient.
#[derive(Debug, Clone)]
pub struct RollupCount {
    condition: Condition,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    measure: Measure,
    /// With `dueBefore`: the filter's appeals due at or after that instant, counted over
    /// `appeals` and taken from the sum in the same statement (one snapshot, so the total
    /// is exact). "Due within 3 days" on 1M appeals: 36,000 such appeals of the million
    /// (97–122 ms counted directly).
    due_later: Option<Select<appeal::Entity>>,
}

/// What a total sums over the ledger: every appeal, or the resolved ones of the filter's SLA
/// states (`MET`: resolved by the running deadline, `MISSED`: after it; the ledger's
/// `resolved` and `resolved_met`, the same rule as [`sla_condition`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measure {
    All,
    Met,
    Missed,
    Resolved,
}

impl Measure {
    /// The measure of a filter's SLA states, when the ledger holds it (none: all appeals;
    /// only resolved states); `None` for the states of unresolved appeals, which change with
    /// the clock.
    fn of(states: &[SlaState]) -> Option<Self> {
        let met = states.contains(&SlaState::Met);
        let missed = states.contains(&SlaState::Missed);
        if states.iter().any(|s| !matches!(s, SlaState::Met | SlaState::Missed)) {
            return None;
        }
        Some(match (met, missed) {
            (false, false) => Self::All,
            (true, false) => Self::Met,
            (false, true) => Self::Missed,
            (true, true) => Self::Resolved,
        })
    }

    /// The sum over the ledger read as `appeals`.
    fn sum(self) -> &'static str {
        match self {
            Self::All => "SUM(\"appeals\".\"total\")",
            Self::Met => "SUM(\"appeals\".\"resolved_met\")",
            Self::Missed => "SUM(\"appeals\".\"resolved\" - \"appeals\".\"resolved_met\")",
            Self::Resolved => "SUM(\"appeals\".\"resolved\")",
        }
    }
}

impl RollupCount {
    fn statement(&self, backend: sea_orm::DatabaseBackend) -> Statement {
        let (sql, values) = match backend {
            sea_orm::DatabaseBackend::Postgres => self.select(backend).build(sea_orm::sea_query::PostgresQueryBuilder),
            _ => self.select(backend).build(sea_orm::sea_query::SqliteQueryBuilder),
        };
        Statement::from_sql_and_values(backend, sql, values)
    }

    /// The PostgreSQL statement with its values written in, to be part of a statement that
    /// binds its own.
    fn postgres_sql(&self) -> String {
        self.select(sea_orm::DatabaseBackend::Postgres).to_string(sea_orm::sea_query::PostgresQueryBuilder)
    }

    fn select(&self, backend: sea_orm::DatabaseBackend) -> sea_orm::sea_query::SelectStatement {
        use sea_orm::sea_query::{Alias, Query};
        let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default();
        let latest = NaiveDate::from_ymd_opt(2199, 12, 31).unwrap_or_default();
        let from = Ord::max(self.from.unwrap_or(earliest), earliest);
        let to = Ord::min(self.to.unwrap_or(latest), latest);
        let mut buckets = Condition::any();
        // Written into the statement (codes and ISO dates), like the list's own filters, so
        // that PostgreSQL plans each shape once per connection.
        for (grain, first, last) in rollup::tile(from, to, rollup::Grain::Month) {
            let (g, first, last) = (grain.code(), first.format("%Y-%m-%d"), last.format("%Y-%m-%d"));
            buckets = buckets.add(Expr::cust(format!(
                "(\"appeals\".\"grain\" = '{g}' AND \"appeals\".\"day\" BETWEEN '{first}' AND '{last}')"
            )));
        }
        if from > to {
            buckets = buckets.add(Expr::cust("1 = 0"));
        }
        let mut q = Query::select();
        q.expr(Expr::cust(format!("CAST(COALESCE({}, 0) AS BIGINT)", self.measure.sum())))
            .from_as(appeal_stat::Entity, Alias::new("appeals"))
            .cond_where(self.condition.clone());
        // The overview cube leaves category, territory and recipient out of its keys; the
        // topic cube keeps them but not the status (a tenth of the full cube's rows: a
        // district's subtree summed 23 ms from the full cube on the 1M demo).
        let probe = appeal::Entity::find().filter(self.condition.clone()).build(backend).sql;
        let probe = probe.split_once(" WHERE ").map_or("", |w| w.1);
        let names = |c: &str| probe.contains(&format!("\"{c}\""));
        let cube = if !["category_id", "territory_id", "recipient_id"].into_iter().any(names) {
            rollup::Cube::Overview
        } else if names("status") {
            rollup::Cube::Full
        } else {
            rollup::Cube::Topic
        };
        q.and_where(Expr::cust(format!("\"appeals\".\"cube\" = '{}'", cube.code())));
        q.cond_where(buckets);
        if let Some(later) = &self.due_later {
            let ids = later.clone().select_only().column(appeal::Column::Id).into_query();
            let mut counted = Query::select();
            counted.expr(Expr::cust("COUNT(*)")).from_subquery(ids, Alias::new("due_later"));
            let difference = SimpleExpr::SubQuery(None, Box::new(q.into()))
                .sub(SimpleExpr::SubQuery(None, Box::new(counted.into())));
            q = Query::select();
            // BIGINT less BIGINT (`COUNT`) is BIGINT on PostgreSQL.
            q.expr(difference);
        }
        q
    }

    async fn count(&self, conn: &impl ConnectionTrait) -> AppResult<u64> {
        let row = conn.query_one_raw(self.statement(conn.get_database_backend())).await?;
        let n = row.map(|r| r.try_get_by_index::<i64>(0)).transpose()?.unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// One page of the appeals the caller may see that match `f`, reading what `req.fields` show.
///
/// # Errors
/// `BAD_USER_INPUT` for a cursor that is not ours; when the database fails.
pub async fn list(
    conn: &impl ConnectionTrait,
    refs: &ReferenceData,
    scope: &AppealScope,
    f: &AppealFilter,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
    req: ListRequest,
) -> AppResult<AppealList> {
    check_search(scope, f.search.as_deref())?;
    let backend = conn.get_database_backend();
    let parts = filtered_parts(backend, refs, scope, f, tz, now);
    let p = page_request(f, req);
    let stmt = list_page_statement(backend, refs, scope, f, tz, now, &parts, &p)?;
    // The names the page shows come from the reference data in memory: one statement.
    let page = page(conn, stmt, &p).await?;
    Ok(AppealList { page, query: ListQuery::of(backend, f, parts) })
}

/// The page a client asked for, read for the columns its fields show; a search without an
/// order ([`OrderField::Relevance`]) ranks by it, or takes the default order when the
/// search has no word to rank by (stop words only).
fn page_request(f: &AppealFilter, req: ListRequest) -> PageRequest {
    let columns = columns_of_fields(&req.fields);
    let ListRequest { order, descending, limit, after, before, backward, .. } = req;
    let relevance = f.search.as_deref().and_then(Search::parse);
    let (order, descending) = match (order, &relevance) {
        (OrderField::Relevance, None) => (OrderField::ReceivedAt, true),
        (o, _) => (o, descending),
    };
    let relevance = relevance.filter(|_| order == OrderField::Relevance);
    PageRequest { order, descending, limit, after, before, backward, columns, relevance, hints: WalkHints::of(f) }
}

/// The statements of a list page and its total, as [`list`] builds them (for `mcu explain-list`: the benchmark explains the SQL the server sends).
///
/// # Errors
/// As [`list`].
pub fn list_statements(
    backend: sea_orm::DatabaseBackend,
    refs: &ReferenceData,
    scope: &AppealScope,
    f: &AppealFilter,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
    req: ListRequest,
) -> AppResult<(Statement, ListQuery)> {
    let parts = filtered_parts(backend, refs, scope, f, tz, now);
    let p = page_request(f, req);
    let stmt = list_page_statement(backend, refs, scope, f, tz, now, &parts, &p)?;
    Ok((stmt, ListQuery::of(backend, f, parts)))
}

/// A search as both backends run it. The words are reduced to letters and digits (so they
/// can be written into the statement, which PostgreSQL then plans once per text like the
/// other filters); at most eight count. Whether there is anything to search for is decided
/// by the project's stemmer and stop words on both backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// The stems, for PostgreSQL's `plainto_tsquery('simple', …)`: the column indexes the
    /// row's stems as they are (`simple`), so a word matches exactly the rows holding it as a
    /// stem, as in SQLite's FTS5 index and the subscriptions' in-memory matcher.
    words: String,
    /// The project's stems as an FTS5 query (`"stem" "stem"`: all of them), for SQLite.
    fts: String,
}

impl Search {
    /// `None` when the text has no word to search for (stop words only, punctuation).
    pub fn parse(text: &str) -> Option<Self> {
        let clean = |w: &str| w.chars().all(char::is_alphanumeric) && !w.is_empty();
        let normalized = crate::domain::text::normalize_for_search(text);
        // Each stem once: two forms of one word search for that word (and rank as it).
        let mut seen = HashSet::new();
        let stems: Vec<String> = normalized
            .split_whitespace()
            .filter(|w| clean(w) && seen.insert(*w))
            .take(8)
            .map(|w| format!("\"{w}\""))
            .collect();
        if stems.is_empty() {
            return None;
        }
        let words: Vec<&str> = stems.iter().map(|s| s.trim_matches('"')).collect();
        Some(Self { words: words.join(" "), fts: stems.join(" ") })
    }

    /// Whether the search has one word (its forms count once).
    fn one_word(&self) -> bool {
        !self.words.contains(' ')
    }

    /// The word of a search of one word (its forms count once) that PostgreSQL's parser
    /// reads as one lexeme, itself: Russian or Latin letters only (lower case, as the stems
    /// are), or digits only. Such a search is ranked from the index of repeated words
    /// ([`ranked_by_repeats`]); another by the one statement: a stem with other letters, or
    /// mixing letters and digits, which the parser may split («12e3x» is `'12e3' & 'x'` to
    /// it, a number in exponent notation and a word).
    fn ranked_word(&self) -> Option<&str> {
        let letters = |w: &str| w.chars().all(|c| matches!(c, 'а'..='я' | 'a'..='z'));
        let digits = |w: &str| w.chars().all(|c| c.is_ascii_digit());
        Some(self.words.as_str()).filter(|w| self.one_word() && (letters(w) || digits(w)))
    }

    fn tsquery(&self) -> String {
        format!("plainto_tsquery('simple', '{}')", self.words)
    }

    /// The rows that hold every word (in some form).
    fn condition(&self, backend: sea_orm::DatabaseBackend) -> SimpleExpr {
        match backend {
            sea_orm::DatabaseBackend::Postgres => {
                Expr::cust(format!("\"appeals\".\"search_tsv\" @@ {}", self.tsquery()))
            }
            _ => Expr::cust(format!(
                "\"appeals\".\"id\" IN (SELECT rowid FROM appeals_fts WHERE appeals_fts MATCH '{}')",
                self.fts
            )),
        }
    }

    /// Orders `q` best match first (`ts_rank` on PostgreSQL; BM25 on SQLite, whose ranking
    /// is joined in as a subquery of the index), then by id.
    fn order(&self, backend: sea_orm::DatabaseBackend, mut q: Select<appeal::Entity>) -> Select<appeal::Entity> {
        use sea_orm::sea_query::{Alias, Query};
        if backend == sea_orm::DatabaseBackend::Postgres {
            return q
                .order_by(Expr::cust(format!("ts_rank(\"appeals\".\"search_tsv\", {})", self.tsquery())), Order::Desc)
                .order_by(appeal::Column::Id, Order::Asc);
        }
        let mut ranked = Query::select();
        ranked
            .expr_as(Expr::cust("rowid"), Alias::new("fts_id"))
            .expr_as(Expr::cust("rank"), Alias::new("fts_rank"))
            .from(Alias::new("appeals_fts"))
            .and_where(Expr::cust(format!("appeals_fts MATCH '{}'", self.fts)))
            // Ranked once, in FTS5 (`ORDER BY rank`); the limit keeps SQLite from
            // flattening the subquery into a lookup of the index per appeal (300 ms
            // instead of 2 ms for 3,000 appeals).
            .order_by_expr(Expr::cust("rank"), Order::Asc)
            .limit(u64::from(u32::MAX));
        QuerySelect::query(&mut q).join_subquery(
            sea_orm::JoinType::InnerJoin,
            ranked,
            Alias::new("fts"),
            Expr::col((Alias::new("fts"), Alias::new("fts_id"))).equals((appeal::Entity, appeal::Column::Id)),
        );
        q.order_by(Expr::col((Alias::new("fts"), Alias::new("fts_rank"))), Order::Asc)
            .order_by(appeal::Column::Id, Order::Asc)
    }
}

/// Position of a row in the order: the order key and the id.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CursorKey {
    k: String,
    id: i64,
}

/// A page of appeals with cursors and whether more exist on either side.
pub struct AppealPage {
    /// Each appeal with its cursor, typed; only the columns the request shows are read.
    pub rows: Vec<(PageCursor, Appeal)>,
    pub has_next: bool,
    pub has_previous: bool,
}

fn key_of(order: OrderField, a: &Appeal) -> String {
    match order {
        OrderField::ReceivedAt => a.received_at.to_rfc3339(),
        OrderField::DueAt => a.due_at.to_rfc3339(),
        OrderField::Number => a.number.clone(),
        OrderField::UpdatedAt => a.updated_at.to_rfc3339(),
        OrderField::Relevance => RANKED.to_string(),
    }
}

/// The key of a cursor that is a place in a ranking (its `id` is the place, from 0).
const RANKED: &str = "@rank";

/// The last place a ranking's cursor may hold (2^40, over a trillion rows): a forged cursor
/// beyond it is refused, where `start + read` times [`RANKED_WALK_ENTRIES`] overflowed.
const MAX_RANKED_PLACE: u64 = 1 << 40;

/// The cursor of a row of a page, written only when a client asks for it (a page of 50 whose
/// cursors nobody reads spent 4% of its server time writing them).
#[derive(Debug, Clone, Copy)]
pub struct PageCursor(Place);

#[derive(Debug, Clone, Copy)]
enum Place {
    /// The row's key in the page's order, and its id.
    Order(OrderField),
    /// A place in a ranking, from 0.
    Ranked(i64),
}

impl PageCursor {
    /// The opaque cursor of `a`, the row it was made for.
    pub fn encode(&self, a: &Appeal) -> String {
        match self.0 {
            Place::Order(order) => encode_cursor(order, a),
            Place::Ranked(place) => encode_key(&CursorKey { k: RANKED.to_string(), id: place }),
        }
    }
}

/// The opaque cursor of a row.
fn encode_cursor(order: OrderField, a: &Appeal) -> String {
    encode_key(&CursorKey { k: key_of(order, a), id: a.id.0 })
}

fn encode_key(key: &CursorKey) -> String {
    let json = serde_json::to_string(key).unwrap_or_default();
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
        OrderField::Relevance => appeal::Column::Id,
    }
}

/// What a page is ordered by: the order's column, or for `NUMBER` the year and sequence of
/// the number as one integer (migration `m20270109_000001_number_order`: as text,
/// `2026-1000000` came between `2026-100000` and `2026-100001`).
fn order_expr(backend: sea_orm::DatabaseBackend, order: OrderField) -> SimpleExpr {
    Expr::cust(order_sql(backend, order))
}

/// [`order_expr`] as SQL, over the columns of `"appeals"`.
fn order_sql(backend: sea_orm::DatabaseBackend, order: OrderField) -> String {
    use sea_orm::IdenStatic;
    match order {
        OrderField::Number => number_order_sql(backend == sea_orm::DatabaseBackend::Postgres, "\"appeals\".\"number\""),
        _ => format!("\"appeals\".\"{}\"", order_column(order).as_str()),
    }
}

/// Rows strictly after (`forward`) or before the cursor in the given direction.
fn keyset(
    backend: sea_orm::DatabaseBackend,
    order: OrderField,
    cursor: &CursorKey,
    ascending: bool,
) -> AppResult<Condition> {
    let value: sea_orm::Value = match order {
        // The cursor holds the number itself, as before the order was numeric.
        OrderField::Number => number_order(&cursor.k).into(),
        _ => DateTime::parse_from_rfc3339(&cursor.k)
            .map_err(|_| AppError::bad("after", "is not a valid cursor"))?
            .with_timezone(&Utc)
            .into(),
    };
    let key = || Expr::expr(order_expr(backend, order));
    let (from, gt, id_gt): (SimpleExpr, SimpleExpr, SimpleExpr) = if ascending {
        (key().gte(value.clone()), key().gt(value.clone()), appeal::Column::Id.gt(cursor.id))
    } else {
        (key().lte(value.clone()), key().lt(value.clone()), appeal::Column::Id.lt(cursor.id))
    };
    // The first bound is implied by the other two; said alone, it starts the index walk at
    // the cursor (PostgreSQL does not use the `OR` as an index condition).
    let after = Condition::any().add(gt).add(Condition::all().add(key().eq(value)).add(id_gt));
    Ok(Condition::all().add(from).add(after))
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
        // Due soon comes before the deadline (`deadlines::due_soon_from`), so an appeal on
        // time is also before its deadline: said here, the deadline index starts at `now`
        // instead of walking every overdue appeal first (259 ms → 2 ms on 1M appeals).
        SlaState::OnTime => open.add(C::DueSoonAt.gt(now)).add(C::DueAt.gt(now)),
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
/// usable is in the statement, so SQLite can always follow it. Totals are told so; pages are
/// not any more (see [`page_statement`]): one run a status gives the queue in its order.
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

/// Code columns with an index of their own whose every value is a large share of the appeals
/// (a channel a twentieth to a half, a kind about a third), so a page of them is found
/// soonest by walking the index of the page's order and skipping the other values.
const WALKED_CODES: [appeal::Column; 2] = [appeal::Column::Channel, appeal::Column::Kind];

/// The other key columns, not walked when the statuses of work in hand are.
const KEYED_IDS: [appeal::Column; 3] =
    [appeal::Column::CategoryId, appeal::Column::TerritoryId, appeal::Column::RecipientId];

/// Tells SQLite which index to walk for a page, with the unary `+` that keeps it from using
/// an index for a condition and changes nothing else (both sides are of the column's type).
/// SQLite keeps one average of rows per value of an index's first column, not the share of
/// each value, and PostgreSQL's per-value statistics choose these walks by themselves:
/// - a channel or a kind without an index of its own in the page's order (see
///   [`MERGE_INDEXES`]): the order's index, skipping the other values, instead of reading
///   every appeal of that value and sorting them. SQLite 3.51 read the 90,000 appeals of one
///   channel out of 200,000 for a page by number (144 ms; 1 ms walking
///   `ix_appeals_number_order`). A channel not with a receipt period: the channel's index by
///   receipt then reads the period's appeals of that channel, fewer than the order's walk
///   would pass (a month of one channel by number: 4.4 ms, 8.6 ms told to walk). The kind
///   has no index by receipt, so it is walked past within a period too;
/// - statuses of work in hand only: the status's index in the order (every order has one),
///   past the appeals of other channels, categories, territories and recipients. These
///   statuses are a small share of the appeals, so the walk stays short, where SQLite took a
///   recipient's index (a tenth of the appeals) and walked its closed appeals first: 34 ms
///   against 0.7 ms for an executor's queue by deadline;
/// - the overdue appeals by another order than the deadline: the unresolved appeals' index
///   in that order (`ix_appeals_unresolved`, `…_updated`, `…_number`), past the appeals
///   still on time, instead of reading every overdue appeal by deadline and sorting them;
/// - a search that many appeals match, and categories many appeals are of, in the walking
///   branch of a [`counted_walk`]: the index of the order (or another filter's), each appeal
///   tested against the search's matches read once into a set, instead of every match read
///   by its id and sorted.
///
/// PostgreSQL is told one walk, the same way with what its planner cannot see through: the
/// on-time appeals by another order than the deadline, read newest first. It estimates them
/// as the product of the shares of their three conditions (unresolved, due soon later,
/// deadline later), which hold together: 75 rows for 16,039 of the 1M demo appeals. So it read
/// them all by the due-soon index and sorted them (19–44 ms) rather than walk the unresolved
/// appeals' index of the order from the newest, where more than a quarter are on time
/// (0.05–0.2 ms). Written `+ INTERVAL '0 s'`, those two conditions are judged by a default
/// share and keep no index. Read oldest first, the walk would pass every overdue appeal
/// first (100–165 ms), so those pages are left to the planner, but where the statement
/// starts the walk where the on-time appeals can start (by receipt and by number,
/// [`on_time_since`]; by last change, [`receipt_bounded_runs`]), past about a thousand
/// overdue appeals of the 1M (9,788 → about 1,000 pages). By
/// deadline, in either direction, only the due-soon condition is so written: the
/// unresolved appeals' deadline index (`ix_appeals_unresolved_due`, `(due_at, id)`) is then
/// walked from now, past the appeals due soon, or back from the latest deadline, where
/// every appeal is on time (17–27 ms → 1.9 and 0.1 ms on the list grid's 1M).
fn order_walk_hint(backend: sea_orm::DatabaseBackend, p: &PageRequest, sql: &mut String) {
    use sea_orm::IdenStatic;
    if p.order == OrderField::Relevance {
        return;
    }
    if backend == sea_orm::DatabaseBackend::Postgres {
        let newest_first = p.descending != p.backward;
        let judged_by_default = match p.order {
            _ if !p.hints.on_time => &[][..],
            OrderField::DueAt => &["due_soon_at"][..],
            // Oldest first, where the walk starts from where the on-time appeals can start:
            // by receipt or number ([`on_time_since`]), by last change in two runs
            // ([`receipt_bounded_runs`]).
            _ if newest_first || sql.contains(ON_TIME_LEAD) => &["due_soon_at", "due_at"][..],
            _ => &[][..],
        };
        for column in judged_by_default {
            let condition = format!("\"appeals\".\"{column}\" > ");
            *sql = sql.replace(&condition, &format!("\"appeals\".\"{column}\" + INTERVAL '0 s' > "));
        }
        if p.order == OrderField::Number && p.hints.receipt_period && p.hints.numbered_by_value {
            receipt_judged_by_default(sql);
        }
        before_receipt_run_hint(sql);
        return;
    }
    let mut hint = |condition: String| {
        if sql.contains(&condition) && !sql.contains(&format!("+{condition}")) {
            *sql = sql.replace(&condition, &format!("+{condition}"));
        }
    };
    for col in WALKED_CODES.into_iter().chain(KEYED_IDS) {
        if walked_past(p, col) {
            hint(format!("\"appeals\".\"{}\" IN (", col.as_str()));
        }
    }
    if p.hints.overdue && p.order != OrderField::DueAt {
        hint(r#""appeals"."due_at" < "#.to_owned());
    }
    if p.hints.common_search {
        hint(r#""appeals"."id" IN (SELECT rowid FROM appeals_fts "#.to_owned());
    }
    before_receipt_hint(sql);
    if p.hints.on_time && matches!(p.order, OrderField::Number | OrderField::UpdatedAt) && p.descending == p.backward {
        unresolved_soon_hint(sql);
    }
    if p.hints.on_time && p.order == OrderField::ReceivedAt && !p.hints.narrowed {
        unresolved_index_hint(sql, "ix_appeals_unresolved");
    }
    if p.hints.overdue && p.order == OrderField::DueAt && !p.hints.narrowed {
        unresolved_index_hint(sql, "ix_appeals_unresolved_due");
    }
}

/// SQLite told to walk a partial index of the unresolved appeals (`index`), where it holds
/// what the page's state is judged by, so appeals not of that state are passed within the
/// index:
/// - the on-time appeals by receipt: `ix_appeals_unresolved`, `(received_at, due_at,
///   due_soon_at) WHERE resolved_at IS NULL`. SQLite read every on-time appeal from the
///   due-soon index and sorted them instead (2,929 of the list grid's 200,000 appeals:
///   3.3 ms newest first, 4.7 ms oldest first, by hand; walked 0.33 and 1.3 ms, past the
///   overdue ones oldest first; 0.64 ms to walk all 11,239 unresolved when none is on time);
/// - the overdue appeals by deadline: `ix_appeals_unresolved_due`, `(due_at, recipient_id)
///   WHERE resolved_at IS NULL`, every entry before now overdue. SQLite walked the deadline
///   index of all appeals past the resolved ones (2.1 ms newest first, 2.6 ms oldest first,
///   by hand; 0.5 and 1.6 ms told, the second sorting the 98 appeals of the earliest
///   deadline by id).
///
/// Not with a category, territory, recipient or search (a recipient's unresolved appeals
/// have their own index by deadline), which these indexes do not hold: each appeal passed
/// would be read from the table. Only where the statement carries the index's condition
/// and no other index is told.
fn unresolved_index_hint(sql: &mut String, index: &str) {
    let from = r#"FROM "appeals" "#;
    let predicate = r#""appeals"."resolved_at" IS NULL"#;
    if sql.contains(predicate) && !sql.contains("INDEXED BY") && sql.matches(from).count() == 1 {
        *sql = sql.replacen(from, &format!(r#"FROM "appeals" INDEXED BY "{index}" "#), 1);
    }
}

/// A receipt period of categories or recipients by number, on PostgreSQL: the period's
/// conditions written `+ INTERVAL '0 s'`, judged by a default share and kept from the
/// receipt indexes, so the page walks the value's own index by number
/// (`ix_appeals_category_number_order`, `ix_appeals_recipient_number_order`) within the
/// period's span of numbers ([`number_span`]). The planner took the span's bounds, which
/// it cannot know before the statement runs, for a two-sided range of a default half a
/// percent, and expected 15 of a category's 2,909 appeals that month: it read them all
/// through the category's receipt index and sorted them (2,902 pages, 10–16 ms on the list
/// grid's 1M appeals; 375 ms at 5M, where the copies' numbers widen each day's span). The
/// walk: 0.75–1 ms.
fn receipt_judged_by_default(sql: &mut String) {
    for op in [">=", "<"] {
        let condition = format!("\"appeals\".\"received_at\" {op} ");
        *sql = sql.replace(&condition, &format!("\"appeals\".\"received_at\" + INTERVAL '0 s' {op} "));
    }
}

/// The on-time appeals read oldest first by number or last change, told on SQLite to read
/// the partial index of unresolved appeals by their due-soon instant and sort them: SQLite
/// walked the unresolved appeals' index of the order from the oldest, past every overdue
/// appeal (15–19 ms on the list grid's 200,000 appeals), where by receipt it chooses that
/// index by itself (2–5 ms). Newest first the walk is short and stays. Only where the
/// statement carries the index's condition and no other index is told, so SQLite can always
/// follow it.
fn unresolved_soon_hint(sql: &mut String) {
    let from = r#"FROM "appeals" "#;
    let predicate = r#""appeals"."resolved_at" IS NULL"#;
    let key = r#""appeals"."due_soon_at" > "#;
    if sql.contains(predicate) && sql.contains(key) && !sql.contains("INDEXED BY") && sql.matches(from).count() == 1 {
        *sql = sql.replacen(from, r#"FROM "appeals" INDEXED BY "ix_appeals_unresolved_soon" "#, 1);
    }
}

/// The run of a page whose key lies before the receipt ([`receipt_bounded_runs`]) on
/// PostgreSQL, with the unresolved appeals only: their condition written `+ INTERVAL '0 s'`,
/// so that no partial index of the unresolved appeals can answer it, and the run reads the
/// almost empty partial index of its own condition. For the on-time appeals by last change
/// it walked the unresolved appeals' index by last change instead, up to the instant where
/// the first run starts, past every overdue appeal (33,503 rows, 130–660 ms on the list
/// grid's 1M appeals; 0.1 ms told).
fn before_receipt_run_hint(sql: &mut String) {
    use migration::m20270107_000001_before_receipt_indexes::INDEXES;
    let unresolved = r#""appeals"."resolved_at" IS NULL"#;
    let before_receipt = INDEXES.iter().any(|(_, key, _)| {
        let column = key.split(',').next().unwrap_or_default();
        sql.contains(&format!(r#""appeals"."{column}" < "appeals"."received_at""#))
    });
    if before_receipt {
        *sql = sql.replace(unresolved, r#"("appeals"."resolved_at" + INTERVAL '0 s') IS NULL"#);
    }
}

/// The run of a receipt period's page whose key lies before the receipt
/// ([`receipt_bounded_runs`]) told, on SQLite, to read the almost empty partial index of
/// that condition: its statement carries the index's predicate, so SQLite can always follow.
/// Once `ANALYZE` had recorded those indexes as empty (as the bundled SQLite does: `0 0 0`),
/// SQLite stopped choosing them and read, for a month of one channel by deadline, every
/// appeal of the channel due before the month (95–123 ms on the list grid's 200,000
/// appeals; 10–12 ms told).
fn before_receipt_hint(sql: &mut String) {
    use migration::m20270107_000001_before_receipt_indexes::INDEXES;
    let from = r#"FROM "appeals" "#;
    for (index, key, _) in INDEXES {
        let column = key.split(',').next().unwrap_or_default();
        let term = format!(r#""appeals"."{column}" < "appeals"."received_at""#);
        if sql.contains(&term) && !sql.contains(&format!("+{term}")) && sql.matches(from).count() == 1 {
            *sql = sql.replacen(from, &format!(r#"FROM "appeals" INDEXED BY "{index}" "#), 1);
            return;
        }
    }
}

/// Whether SQLite is told to walk past the values of `col` ([`order_walk_hint`]) rather than
/// read them from its index. Such a column is not split into runs either ([`merge_split`]):
/// every run would walk the same index from its start, once a value (the appeals in progress
/// in a district's subtree by receipt on 200,000 appeals: 17–26 ms as runs, 0.61–0.99 ms as
/// one walk).
fn walked_past(p: &PageRequest, col: appeal::Column) -> bool {
    if p.order == OrderField::Relevance
        || !WALKED_CODES.into_iter().chain(KEYED_IDS).any(|c| c as usize == col as usize)
    {
        return false;
    }
    let overdue = p.hints.overdue && p.order != OrderField::DueAt;
    // A channel's index by receipt reads a period's appeals of the channel; the kind's only
    // index is by deadline, so a kind is walked past within a period too.
    let walked_code = WALKED_CODES.iter().any(|c| *c as usize == col as usize)
        && (!p.hints.receipt_period || col as usize == appeal::Column::Kind as usize);
    let own_index = MERGE_INDEXES.iter().any(|(c, o, _)| *c as usize == col as usize && *o == p.order);
    let common = p.hints.common_category && col as usize == appeal::Column::CategoryId as usize;
    p.hints.work_in_hand || overdue || walked_code && !own_index || common
}

/// The appeal `id` when it is within the scope and matches the filter (a subscription
/// deciding whether a change concerns its subscriber), else `None`.
///
/// # Errors
/// On a database failure.
pub async fn matching(
    conn: &impl ConnectionTrait,
    refs: &ReferenceData,
    scope: &AppealScope,
    f: &AppealFilter,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
    id: i64,
) -> AppResult<Option<Appeal>> {
    let found = filtered(conn.get_database_backend(), refs, scope, f, tz, now)?
        .filter(appeal::Column::Id.eq(id))
        .one(conn)
        .await?;
    found.map(Appeal::try_from).transpose()
}

/// Refuses a search for personal data (a phone, an e-mail, a name, a document number: what
/// the free-text masker would hide) from a caller who does not handle every appeal it sees:
/// such a caller is shown masked texts, and a search on the stored text would tell it which
/// appeals mention that person (59-ФЗ ст. 6). Searches for anything else work as for all.
///
/// # Errors
/// `BAD_USER_INPUT` on `filter.search`.
pub fn check_search(scope: &AppealScope, search: Option<&str>) -> AppResult<()> {
    match search {
        Some(s) if !scope.handles_all_it_sees() && crate::domain::pii::mask_text(s) != s => Err(AppError::bad(
            "filter.search",
            "names, contacts and document numbers are searched for only by those who handle the appeals",
        )),
        _ => Ok(()),
    }
}

/// Builds the filtered query within the scope, for `backend` (a search is written in its
/// full-text index's terms); the category and territory trees come from the reference data
/// in memory.
///
/// # Errors
/// `BAD_USER_INPUT` as [`check_search`].
pub fn filtered(
    backend: sea_orm::DatabaseBackend,
    refs: &ReferenceData,
    scope: &AppealScope,
    f: &AppealFilter,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> AppResult<Select<appeal::Entity>> {
    check_search(scope, f.search.as_deref())?;
    Ok(filtered_parts(backend, refs, scope, f, tz, now).query)
}

/// The values of a filter on one column of `appeals`, as the list writes them (sorted,
/// without repeats; a category or territory expanded to its tree).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Values {
    Codes(Vec<&'static str>),
    Ids(Vec<i64>),
}

impl Values {
    fn codes(v: impl IntoIterator<Item = &'static str>) -> Self {
        let mut v: Vec<_> = v.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        Self::Codes(v)
    }

    fn ids(v: impl IntoIterator<Item = i64>) -> Self {
        let mut v: Vec<_> = v.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        Self::Ids(v)
    }

    fn len(&self) -> usize {
        match self {
            Self::Codes(v) => v.len(),
            Self::Ids(v) => v.len(),
        }
    }

    /// `col IN (…)` of these values, or of the `only`-th alone.
    fn condition(&self, col: appeal::Column, only: Option<usize>) -> SimpleExpr {
        let pick = |i: usize| only.is_none_or(|o| o == i);
        match self {
            Self::Codes(v) => literal_in(col, v.iter().enumerate().filter(|(i, _)| pick(*i)).map(|(_, c)| *c)),
            Self::Ids(v) => literal_in(col, v.iter().enumerate().filter(|(i, _)| pick(*i)).map(|(_, c)| *c)),
        }
    }
}

/// The filter's lists of values on the key columns (status, kind, channel, category,
/// territory, recipient), in the order the list writes them; an empty filter is left out.
fn value_lists(refs: &ReferenceData, f: &AppealFilter) -> Vec<(appeal::Column, Values)> {
    use appeal::Column as C;
    let mut lists = Vec::new();
    if !f.status.is_empty() {
        lists.push((C::Status, Values::codes(f.status.iter().map(|s| s.as_str()))));
    }
    if !f.kind.is_empty() {
        lists.push((C::Kind, Values::codes(f.kind.iter().map(|s| s.as_str()))));
    }
    if !f.channel.is_empty() {
        lists.push((C::Channel, Values::codes(f.channel.iter().map(|s| s.as_str()))));
    }
    if !f.category_id.is_empty() {
        let children = f.category_id.iter().flat_map(|p| refs.category_children(p.0).map(|c| c.id));
        lists.push((C::CategoryId, Values::ids(f.category_id.iter().map(|c| c.0).chain(children))));
    }
    if !f.territory_id.is_empty() {
        let mut ids = HashSet::new();
        for root in &f.territory_id {
            ids.extend(refs.territory_subtree(root.0));
        }
        lists.push((C::TerritoryId, Values::ids(ids)));
    }
    if !f.recipient_id.is_empty() {
        lists.push((C::RecipientId, Values::ids(f.recipient_id.iter().map(|r| r.0))));
    }
    lists
}

/// [`filtered`], with the same filter over the rollups when it can be counted there.
fn filtered_parts(
    backend: sea_orm::DatabaseBackend,
    refs: &ReferenceData,
    scope: &AppealScope,
    f: &AppealFilter,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Parts {
    filtered_split(backend, refs, scope, f, tz, now, None)
}

/// [`filtered_parts`] with the filter on column `split.0` narrowed to its `split.1`-th value
/// (one run of a merged page, see [`merge_split`]).
fn filtered_split(
    backend: sea_orm::DatabaseBackend,
    refs: &ReferenceData,
    scope: &AppealScope,
    f: &AppealFilter,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
    split: Option<(appeal::Column, usize)>,
) -> Parts {
    use appeal::Column as C;
    // The conditions on columns the rollup keys hold, as the list writes them.
    let mut keyed = Condition::all().add(scope.condition());
    for (col, values) in value_lists(refs, f) {
        let only = split.filter(|(c, _)| *c as usize == col as usize).map(|(_, i)| i);
        keyed = keyed.add(values.condition(col, only));
        if col as usize == C::Status as usize
            && f.status.iter().all(|s| s.is_open())
            && backend == sea_orm::DatabaseBackend::Sqlite
        {
            // Redundant, but lets SQLite use the partial index of open appeals (it is told
            // to, see `open_queue_hint`). PostgreSQL proves the index's condition from the
            // statuses by itself, and counts the redundant condition as a second filter:
            // it expected 1,711 of 44,723 appeals in progress in a district and sorted
            // them all for a page by number (212 ms instead of 1 ms on 1M appeals).
            keyed = keyed.add(Expr::cust(OPEN_STATUSES_PREDICATE));
        }
    }
    let mut q = appeal::Entity::find().filter(keyed.clone());
    let search = f.search.as_deref().and_then(Search::parse);
    let keyed_counts = counted_without_search(f, now);
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
    let unsearched_rollup = keyed_counts.then(|| RollupCount {
        condition: keyed,
        from: f.received_from,
        to: f.received_to,
        measure: Measure::of(&f.sla_state).unwrap_or(Measure::All),
        due_later: f.due_before.map(|t| q.clone().filter(C::DueAt.gte(t))),
    });
    let rollup = unsearched_rollup.clone().filter(|_| counted_from_rollups(f, now));
    if let Some(t) = f.due_before {
        q = q.filter(C::DueAt.lt(t));
    }
    let unsearched = q.clone();
    if let Some(s) = &search {
        q = q.filter(s.condition(backend));
    }
    let from = f.received_from.map(|d| local_midnight(tz, d));
    let to = f.received_to.map(|d| local_midnight(tz, d.succ_opt().unwrap_or(d)));
    let on_time_since =
        (backend == sea_orm::DatabaseBackend::Postgres && f.sla_state == [SlaState::OnTime]).then_some(now);
    Parts {
        query: q,
        rollup,
        unsearched,
        unsearched_rollup,
        number_span: number_span(backend, from, to),
        on_time_since,
    }
}

/// Where a page of the on-time appeals oldest first starts (PostgreSQL), by receipt or by
/// number; `None` in another order.
///
/// An appeal on time at `now` has its due-soon instant after `now`, so it was received after
/// `now` less the longest lead from receipt to due-soon instant of any unresolved appeal
/// (read from the last entry of `ix_appeals_unresolved_soon_lead`, migration
/// `m20270117_000001_unresolved_soon_lead`). By number: at or after the least number
/// received on that UTC day or later (`appeal_number_days`, which holds every appeal's
/// number within its day's span, see [`number_span`]). Redundant for the rows (and read in
/// the same snapshot as them), the bound tells the page where to start its walk of the
/// unresolved appeals' index of the order, instead of reading every on-time appeal and
/// sorting them (9,788 pages, 17–28 ms on the list grid's 1M appeals; 130–190 ms at 5M).
/// With no unresolved appeal the bound is NULL and keeps nothing, as nothing is on time.
fn on_time_since(order: OrderField, now: DateTime<Utc>) -> Option<SimpleExpr> {
    use migration::m20270112_000001_number_days::TABLE;
    match order {
        OrderField::ReceivedAt => {
            Some(Expr::cust_with_values(format!(r#""appeals"."received_at" > $1 - {ON_TIME_LEAD}"#), [now]))
        }
        OrderField::Number => Some(Expr::cust_with_values(
            format!(
                r#"{} >= (SELECT min("first_order") FROM "{TABLE}" WHERE "day" >= to_char(($1 - {ON_TIME_LEAD}) AT TIME ZONE 'UTC', 'YYYY-MM-DD'))"#,
                order_sql(sea_orm::DatabaseBackend::Postgres, OrderField::Number)
            ),
            [now],
        )),
        _ => None,
    }
}

/// The longest lead from receipt to the due-soon instant of any unresolved appeal, read from
/// the last entry of `ix_appeals_unresolved_soon_lead` (PostgreSQL; [`on_time_since`]).
const ON_TIME_LEAD: &str = r#"(SELECT max("due_soon_at" - "received_at") FROM "appeals" WHERE "resolved_at" IS NULL)"#;

/// Indexes that lead with a filter's column and then give an order with its tie-breaker,
/// the id: under that order the appeals of one value of the filter are one ordered run of
/// the index. PostgreSQL 15 does not merge the runs of several values (`status IN (a, b)`
/// with a recipient by deadline reads every match and sorts), so a page of such a filter
/// is written as one ordered, limited read per value merged by [`merged_statement`]. Each
/// pair names its index (migrations `m20261213_000001_list_grid`, by receipt
/// `m20270102_000001_receipt_indexes`, by number `m20270109_000001_number_order`, and a
/// recipient's by last change and number `m20270111_000001_recipient_order_indexes`, a
/// kind's by deadline `m20270113_000001_kind_due_index`, a category's by number
/// `m20270117_000002_category_number_index`). The receipt indexes ended without the id
/// before that migration: a run whose first rows share one instant (100,000 appeals of one import) then
/// sorted all of them (0.5 → 157 ms for the open statuses by receipt, ascending, on the 1M
/// database), so receipt was not merged until the id was added.
const MERGE_INDEXES: &[(appeal::Column, OrderField, &str)] = &[
    (appeal::Column::RecipientId, OrderField::DueAt, "ix_appeals_recipient_due"),
    (appeal::Column::Status, OrderField::DueAt, "ix_appeals_status_due"),
    (appeal::Column::RecipientId, OrderField::UpdatedAt, "ix_appeals_recipient_updated"),
    (appeal::Column::Status, OrderField::UpdatedAt, "ix_appeals_status_updated"),
    (appeal::Column::RecipientId, OrderField::Number, "ix_appeals_recipient_number_order"),
    (appeal::Column::Status, OrderField::Number, "ix_appeals_status_number_order"),
    (appeal::Column::CategoryId, OrderField::Number, "ix_appeals_category_number_order"),
    (appeal::Column::Channel, OrderField::DueAt, "ix_appeals_channel_due"),
    (appeal::Column::Kind, OrderField::DueAt, "ix_appeals_kind_due"),
    (appeal::Column::RecipientId, OrderField::ReceivedAt, "ix_appeals_recipient_received"),
    (appeal::Column::Status, OrderField::ReceivedAt, "ix_appeals_status_received"),
    (appeal::Column::Channel, OrderField::ReceivedAt, "ix_appeals_channel_received"),
    (appeal::Column::CategoryId, OrderField::ReceivedAt, "ix_appeals_category_received"),
    (appeal::Column::TerritoryId, OrderField::ReceivedAt, "ix_appeals_territory_received"),
];

/// Most values of one filter a page merges (one read of `limit + 1` rows each).
const MERGE_MAX_VALUES: usize = 8;

/// The column whose values a page reads as one run each, and how many values it has: on
/// The first of [`MERGE_INDEXES`] for the page's order whose column the filter gives 2 to
/// [`MERGE_MAX_VALUES`] values; `None` (the single statement) otherwise. SQLite merges the
/// runs too (a compound `UNION ALL` of ordered runs): given the statuses of an executor's
/// queue and the recipient in one statement, it read the recipient's appeals and sorted
/// them (30 ms on 200,000 appeals by last change, 14 ms told the open queue's index); one run
/// a status, 1.3 ms.
fn merge_split(
    backend: sea_orm::DatabaseBackend,
    lists: &[(appeal::Column, Values)],
    p: &PageRequest,
) -> Option<(appeal::Column, usize)> {
    if p.order == OrderField::Relevance {
        return None;
    }
    let sqlite = backend == sea_orm::DatabaseBackend::Sqlite;
    MERGE_INDEXES.iter().filter(|(col, order, _)| *order == p.order && !(sqlite && walked_past(p, *col))).find_map(
        |(col, _, _)| {
            lists
                .iter()
                .find(|(c, v)| *c as usize == *col as usize && (2..=MERGE_MAX_VALUES).contains(&v.len()))
                .map(|(c, v)| (*c, v.len()))
        },
    )
}

/// The statement of a page of the list: on SQLite, for a common search or category, both
/// ways of reading it, one chosen by a count within the statement ([`counted_walk`]);
/// otherwise [`read_page_statement`].
#[allow(clippy::too_many_arguments)]
fn list_page_statement(
    backend: sea_orm::DatabaseBackend,
    refs: &ReferenceData,
    scope: &AppealScope,
    f: &AppealFilter,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
    parts: &Parts,
    p: &PageRequest,
) -> AppResult<Statement> {
    let read = read_page_statement(backend, refs, scope, f, tz, now, parts, p)?;
    let Some((matched, hints)) = counted_walk(backend, refs, p, f) else {
        return budgeted_walk(backend, refs, f, tz, parts, p, read, WALK_BUDGET_PER_ROW * (p.limit + 1));
    };
    let walking = PageRequest { hints, ..p.clone() };
    let walked = read_page_statement(backend, refs, scope, f, tz, now, parts, &walking)?;
    Ok(counted_choice(&matched, p.limit + 1, read, walked, p))
}

/// Rows of the order's index a [`budgeted_walk`] reads per row of the page.
const WALK_BUDGET_PER_ROW: u64 = 80;

/// On SQLite, a receipt period's page by deadline or last change as one statement that
/// first walks the order's index from the page's start for at most `budget` appeals,
/// keeping those of the page's filter, and reads the page as `read` does (the period's
/// appeals read and sorted) only when that walk did not find the whole page. A walk that
/// found `limit + 1` appeals found the first ones in the order, so the page is the same
/// either way. The order's keys follow receipt (numbers are given in order, deadlines and
/// changes come after receipt), so a period near the end the page starts from is found
/// within a few thousand appeals: last month newest first, on the list grid's 200,000
/// appeals, lies past 3,091 appeals of this month, where reading and sorting the month's
/// 16,448 took 10–25 ms (2.4–6 ms walked).
///
/// Oldest first the walk starts at the period's first instant (not at the earliest key of
/// all), past the appeals received before the period whose key lies in it; the period's
/// appeals whose key lies before that instant lie before their receipt and are the second
/// run of [`receipt_bounded_runs`], read beside the walk (whose keys are all at or after
/// the instant, so the two never hold one appeal twice) and before it in the order. Last
/// month by deadline or last change, oldest first: 9.8–11.9 → 1.9–2.6 ms on the list grid
/// (175 and 520 appeals walked: the month's incidents are due within hours). With one value
/// of a column that has an index by the order (a channel by deadline, a status by last
/// change), the walk keeps to that value's entries of its index (one channel's month by
/// deadline, newest first, 3.1 → 1.6 ms; oldest first it passes 3,422 of the channel's
/// appeals received before the month, due in it, and costs what reading the month does).
///
/// A walk that falls short costs its budget on top of the page read and sorted (7–10 ms
/// measured), so it is tried only when the rest of the filter keeps a large share of the
/// appeals: no category, territory or recipient, not the statuses of work in hand, not an
/// SLA state of the unresolved (a category's month walked newest first fell short: 1–1.5
/// → 3.6–6 ms). The branch of `read` is skipped when the walk suffices, as in
/// [`counted_choice`]. Other pages: `read` itself; by number too, since a period's page
/// by number walks the span of its numbers ([`number_span`]) without a budget (last month
/// newest first on SQLite: 5.7–6.4 ms walked within the budget, 0.9–1.1 ms within the span).
#[allow(clippy::too_many_arguments)]
fn budgeted_walk(
    backend: sea_orm::DatabaseBackend,
    refs: &ReferenceData,
    f: &AppealFilter,
    tz: chrono_tz::Tz,
    parts: &Parts,
    p: &PageRequest,
    read: Statement,
    budget: u64,
) -> AppResult<Statement> {
    use appeal::Column as C;
    // Not by number: a period's page keeps to the span of its numbers ([`number_span`]),
    // which `read` walks.
    let key = match p.order {
        OrderField::DueAt => C::DueAt,
        OrderField::UpdatedAt => C::UpdatedAt,
        _ => return Ok(read),
    };
    let newest_first = p.descending != p.backward;
    let narrow = !f.category_id.is_empty()
        || !f.territory_id.is_empty()
        || !f.recipient_id.is_empty()
        || p.hints.work_in_hand
        || p.hints.overdue
        || p.hints.on_time;
    if backend != sea_orm::DatabaseBackend::Sqlite || !p.hints.receipt_period || narrow {
        return Ok(read);
    }
    // Oldest first the walk starts at the period's first instant, and the appeals of the
    // period whose key lies before it are the second of `read`'s runs.
    let start = match (newest_first, f.received_from) {
        (true, _) => None,
        (false, Some(d)) => Some(local_midnight(tz, d)),
        (false, None) => return Ok(read),
    };
    let before_start = match start {
        Some(_) => match receipt_bounded_runs(backend, f, tz, parts, p) {
            Some([_, before]) => Some(before),
            None => return Ok(read),
        },
        None => None,
    };
    let cols = p.read_columns();
    let page = parts.page_query(backend, p).select_only().columns(cols.iter().copied());
    let page = page_statement(backend, &page_query(backend, page, p)?, p)?;
    let from = r#"FROM "appeals" "#;
    if page.sql.matches(from).count() != 1 {
        return Ok(read);
    }
    // The walk: every appeal from the page's start in the order, `budget` of them at most.
    let mut all = appeal::Entity::find().select_only().expr(Expr::cust(r#""appeals".*"#));
    if let Some(start) = start {
        all = all.filter(key.gte(start));
    }
    // One value of a column with an index by the order (a channel by deadline): the walk
    // keeps to that value's entries of its index, which hold every row of the page.
    let lists = value_lists(refs, f);
    let own = MERGE_INDEXES.iter().filter(|(_, order, _)| *order == p.order).find_map(|(col, _, index)| {
        let (_, values) = lists.iter().find(|(c, v)| *c as usize == *col as usize && v.len() == 1)?;
        Some((values.condition(*col, None), *index))
    });
    if let Some((condition, _)) = &own {
        all = all.filter(condition.clone());
    }
    let mut walk = page_query(backend, all, p)?.build(backend);
    if let Some((_, index)) = own {
        walk.sql = walk.sql.replacen(from, &format!(r#"FROM "appeals" INDEXED BY "{index}" "#), 1);
    }
    let _ = write!(walk.sql, " LIMIT {budget}");
    let walked = page.sql.replacen(from, &format!(r#"FROM ({}) AS "appeals" "#, walk.sql), 1);
    let mut values = walk.values.map(|v| v.0).unwrap_or_default();
    values.extend(page.values.map(|v| v.0).unwrap_or_default());
    let n = p.limit;
    let found = Statement::from_string(
        backend,
        format!(r#"SELECT * FROM "walked" WHERE (SELECT count(*) FROM "walked") > {n}"#),
    );
    // A branch read only when the walk found the page (`when_found`) or only when it did not.
    let branch = |stmt: Statement, when_found: bool| {
        let (found, short) = if when_found { (n + 1, 0) } else { (0, n + 1) };
        let sql = format!(
            r#"SELECT * FROM ({}) AS "branch" LIMIT (SELECT CASE WHEN count(*) > {n} THEN {found} ELSE {short} END FROM "walked")"#,
            stmt.sql
        );
        Statement::from_sql_and_values(backend, sql, stmt.values.map(|v| v.0).unwrap_or_default())
    };
    let mut branches = vec![found];
    if let Some(before) = before_start {
        let before = before.select_only().columns(cols.iter().copied());
        branches.push(branch(page_statement(backend, &page_query(backend, before, p)?, p)?, true));
    }
    branches.push(branch(read, false));
    let union = union_statement(backend, branches, p);
    values.extend(union.values.map(|v| v.0).unwrap_or_default());
    let sql = format!(r#"WITH "walked" AS MATERIALIZED ({walked}) {}"#, union.sql);
    Ok(Statement::from_sql_and_values(backend, sql, values))
}

/// The statement of a page read one way: one run per value of the column [`merge_split`]
/// picks, merged, or the list's single statement.
#[allow(clippy::too_many_arguments)]
fn read_page_statement(
    backend: sea_orm::DatabaseBackend,
    refs: &ReferenceData,
    scope: &AppealScope,
    f: &AppealFilter,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
    parts: &Parts,
    p: &PageRequest,
) -> AppResult<Statement> {
    if let Some((col, n)) = merge_split(backend, &value_lists(refs, f), p) {
        let runs =
            (0..n).map(|i| filtered_split(backend, refs, scope, f, tz, now, Some((col, i))).page_query(backend, p));
        return merged_statement(backend, runs, p);
    }
    if let Some(runs) = receipt_bounded_runs(backend, f, tz, parts, p) {
        return merged_statement(backend, runs, p);
    }
    if let Some((search, word)) = p
        .relevance
        .as_ref()
        .filter(|_| backend == sea_orm::DatabaseBackend::Postgres)
        .and_then(|s| Some((s, s.ranked_word()?)))
    {
        return ranked_by_repeats(backend, parts, p, word, search);
    }
    let q = parts.page_query(backend, p).select_only().columns(p.read_columns());
    page_statement(backend, &page_query(backend, q, p)?, p)
}

/// A ranked page of a search of one word on PostgreSQL. Unfiltered, as two runs: the appeals that say
/// the word more than once, in the order of how many times (walked from the index of their
/// repeated words, `appeal_repeats`, migration `m20270116_000001_repeated_words`, a row of
/// `appeals` per entry), and the others that say it, by id. Every position of `search_tsv`
/// has the default weight and the rank is not normalised, so the rank of one word grows
/// strictly with the number of its positions, which `appeal_repeats.times` holds, and is the
/// same for every appeal that says it once, and the lowest there is: the first
/// `start + read` rows of each run hold the page of the one statement ordered by rank and
/// id, and the page is taken from them in that order (`tests/api/search.rs` compares them).
/// The runs are complementary (the second keeps the appeals without an entry for the word),
/// so every match is in exactly one, and the second is read only when the first has fewer
/// rows than the page needs. A word in 61,952 of the demo's million appeals had all of them
/// scored and sorted for a page of 50 (190 ms); with a GIN index of the repeated words, the
/// 2,366 that say it twice were read and scored (5.5 ms); now the first run reads as many
/// entries as the page needs.
///
/// A filtered page tests an appeal per entry in the first run, and the second walks the
/// primary key until it has found the page: a filter that keeps few appeals, or few of the
/// word's (a category of another topic), made the first walk all the word's entries and the
/// second cross the table (category 8 with «дорога» on the 1M demo: 855 ms; the one
/// statement, which intersects the filter with the word's matches before it reads them,
/// 17 ms). A filtered page therefore walks at most [`RANKED_WALK_ENTRIES`] entries per row it
/// reads, in two parts (the first [`RANKED_WALK_PROBE`] per row, then the rest only when the
/// first found a quarter of the page); when they hold the page it is taken from them, else
/// from the one statement, whose matches are then few (under one in [`RANKED_WALK_PROBE`]
/// or [`RANKED_WALK_ENTRIES`] of the word's). A filter the rollups sum to too few appeals
/// for the word's entries to hold the page does not walk at all ([`ranked_walks`]). The ways
/// are common tables of the one statement (`probe` and `rest`, the two parts of the walk;
/// `whole`, the one statement; `run0` and `run1`, the runs), under `LIMIT`s that are 0 for a
/// way not taken: PostgreSQL does not start those (`EXPLAIN ANALYZE`: "never executed").
fn ranked_by_repeats(
    backend: sea_orm::DatabaseBackend,
    parts: &Parts,
    p: &PageRequest,
    word: &str,
    search: &Search,
) -> AppResult<Statement> {
    use sea_orm::IdenStatic;
    use sea_orm::sea_query::Alias;
    let (start, read) = p.window()?;
    let runs = start + read;
    let cols = p.read_columns();
    let rank = format!(r#"ts_rank("appeals"."search_tsv", {})"#, search.tsquery());
    let read_from = |q: Select<appeal::Entity>| {
        q.select_only().columns(cols.iter().copied()).expr_as(Expr::cust(rank.clone()), "fts_rank")
    };
    let filtered = !matches_all(backend, &parts.unsearched);
    // `word` is letters and digits only (see `Search::ranked_word`).
    let entry = format!(r#""appeal_repeats"."appeal_id" = "appeals"."id" AND "appeal_repeats"."word" = '{word}'"#);
    // Without the search's own condition, which an entry implies: PostgreSQL would intersect
    // the indexes and read all of a common word's matches.
    let mut repeated = read_from(parts.unsearched.clone());
    QuerySelect::query(&mut repeated).join(
        sea_orm::JoinType::InnerJoin,
        Alias::new("appeal_repeats"),
        Expr::cust(entry.clone()),
    );
    let repeated = repeated
        .order_by(Expr::cust(r#""appeal_repeats"."times""#), Order::Desc)
        .order_by(appeal::Column::Id, Order::Asc)
        .build(backend);
    // A filtered page walks the word's entries in two parts: the first
    // `RANKED_WALK_PROBE` per row, then the rest up to `RANKED_WALK_ENTRIES` per row (each
    // a `LIMIT … OFFSET …` of the entries, written into the statement: a bound `LIMIT`
    // would take a placeholder the other ways do not have).
    let join = r#"INNER JOIN "appeal_repeats" ON"#;
    let walk_part = |offset: u64, limit: u64| -> AppResult<String> {
        if repeated.sql.matches(join).count() != 1 {
            return Err(AppError::internal("a ranked page's walk joins its entries more than once"));
        }
        let entries = format!(
            r#"INNER JOIN (SELECT * FROM "appeal_repeats" WHERE "word" = '{word}' ORDER BY "times" DESC, "appeal_id" ASC LIMIT {limit} OFFSET {offset}) AS "appeal_repeats" ON"#
        );
        Ok(repeated.sql.replacen(join, &entries, 1))
    };
    let mut with = Vec::new();
    let mut branches = Vec::new();
    if filtered {
        let whole = page_query(backend, read_from(parts.page_query(backend, p)), p)?.build(backend);
        if whole.values != repeated.values {
            return Err(AppError::internal("the ways of a ranked page bind different values"));
        }
        let walks = match &parts.unsearched_rollup {
            Some(r) => {
                with.push(format!(
                    r#""ranked_choice" AS MATERIALIZED (SELECT {} AS "walks")"#,
                    ranked_walks(r, word, runs)
                ));
                r#"(SELECT "walks" FROM "ranked_choice")"#
            }
            None => "TRUE",
        };
        let probe = RANKED_WALK_PROBE * runs;
        with.push(format!(r#""probe" AS MATERIALIZED ({} LIMIT {runs})"#, walk_part(0, probe)?));
        let rest = walk_part(probe, (RANKED_WALK_ENTRIES - RANKED_WALK_PROBE) * runs)?;
        // The rest stops at the rows the probe did not find.
        with.push(format!(
            r#""rest" AS MATERIALIZED (SELECT * FROM ({rest} LIMIT {runs}) AS "part" LIMIT ({runs} - (SELECT count(*) FROM "probe")))"#
        ));
        with.push(format!(r#""whole" AS MATERIALIZED ({} LIMIT {runs})"#, whole.sql));
        // The rest is walked only when the probe found at least a quarter of the rows
        // (expected to find the others); the page is walked when the probe, or both parts,
        // found all its rows. `OR` and `AND` stop at their first decisive term, so a part
        // not needed is never started.
        let found = r#"(SELECT count(*) FROM "probe")"#;
        let walked = format!(
            r#"{walks} AND ({found} >= {runs} OR ({found} * 4 >= {runs} AND {found} + (SELECT count(*) FROM "rest") >= {runs}))"#
        );
        branches.push(format!(r#"(SELECT * FROM "probe" LIMIT CASE WHEN {walked} THEN {runs} ELSE 0 END)"#));
        branches.push(format!(
            r#"(SELECT * FROM "rest" LIMIT CASE WHEN {walked} AND {found} < {runs} THEN {runs} ELSE 0 END)"#
        ));
        branches.push(format!(r#"(SELECT * FROM "whole" LIMIT CASE WHEN {walked} THEN 0 ELSE {runs} END)"#));
    } else {
        let once = read_from(parts.page_query(backend, p))
            .filter(Expr::cust(format!(r#"NOT EXISTS (SELECT 1 FROM "appeal_repeats" WHERE {entry})"#)))
            .order_by(appeal::Column::Id, Order::Asc)
            .build(backend);
        if repeated.values != once.values {
            return Err(AppError::internal("the runs of a ranked page bind different values"));
        }
        with.push(format!(r#""run0" AS MATERIALIZED ({} LIMIT {runs})"#, repeated.sql));
        with.push(format!(r#""run1" AS MATERIALIZED ({} LIMIT {runs})"#, once.sql));
        branches.push(r#"(SELECT * FROM "run0")"#.to_string());
        branches.push(format!(
            r#"(SELECT * FROM "run1" LIMIT CASE WHEN (SELECT count(*) FROM "run0") < {runs} THEN {runs} ELSE 0 END)"#
        ));
    }
    let list: Vec<String> = cols.iter().map(|c| format!("\"appeals\".\"{}\"", c.as_str())).collect();
    let sql = format!(
        "WITH {} SELECT {} FROM ({}) AS \"appeals\" ORDER BY \"appeals\".\"fts_rank\" DESC, \"appeals\".\"id\" ASC \
         LIMIT {read} OFFSET {start}",
        with.join(", "),
        list.join(", "),
        branches.join(" UNION ALL "),
    );
    Ok(Statement::from_sql_and_values(backend, sql, repeated.values.map(|v| v.0).unwrap_or_default()))
}

/// Entries of the word a filtered ranked page ([`ranked_by_repeats`]) tests for each row it
/// reads before it takes the one statement: 1,632 for a first page of 50, about 9 ms on the
/// 1M demo (5.6 µs an entry), where a filter that keeps one in 32 of the word's appeals
/// found the page (the four open statuses with «дорога»: 4.1–8.0 ms; their one statement
/// 20–48 ms). Measured by `bench/ranked-ways.py` (see the README).
const RANKED_WALK_ENTRIES: u64 = 32;

/// Entries of the word per row a filtered ranked page walks first ([`ranked_by_repeats`]):
/// when they hold less than a quarter of the page, the rest of the walk is not expected to
/// find the page, and the one statement is read after 408 entries for a page of 50 instead
/// of 1,632.
const RANKED_WALK_PROBE: u64 = 8;

/// The test, in SQL, of whether a ranked page of `word` walks its entries
/// ([`ranked_by_repeats`]): when the entries it may test (the word's, at most
/// [`RANKED_WALK_ENTRIES`] per row) are expected to hold at least half the `runs` rows it
/// reads, at the share of the appeals the filter keeps (summed from the rollups by `r`; the
/// largest id stands for the number of appeals). Otherwise the walk seldom finds the page and
/// the one statement is read at once: the three statuses under 0.6% of the demo's appeals
/// with «дорога» (2,366 entries) took 10–12 ms by it and 12–18 ms after the walk; categories
/// of other topics with «свет» (664 entries, walked whole in 7 ms) 5–7 ms by it and 11–12 ms
/// after the walk.
fn ranked_walks(r: &RollupCount, word: &str, runs: u64) -> String {
    let budget = RANKED_WALK_ENTRIES * runs;
    let entries = format!(
        r#"(SELECT count(*) FROM (SELECT 1 FROM "appeal_repeats" WHERE "word" = '{word}' LIMIT {budget}) AS "entries")"#
    );
    format!(r#"2 * ({}) * {entries} >= (SELECT coalesce(max("id"), 0) FROM "appeals") * {runs}"#, r.postgres_sql())
}

/// Whether `q` has no condition (a scope that sees everything is `TRUE`).
fn matches_all(backend: sea_orm::DatabaseBackend, q: &Select<appeal::Entity>) -> bool {
    let sql = q.clone().build(backend).sql;
    sql.split_once(" WHERE ").is_none_or(|(_, w)| w.trim() == "TRUE")
}

/// A page of a receipt period (`receivedFrom`) ordered by deadline or last change, read
/// upwards, as two runs: the appeals whose key is at or after the period's first instant
/// (the walk of `ix_appeals_due` / `ix_appeals_updated` starts there instead of at the
/// earliest key of all, which belongs to appeals before the period: a month of a million
/// appeals read most of the table for one page), and those whose key lies before it. An
/// appeal received in the period with its key before the period's start has the key before
/// its receipt, so the second run also says so, and the almost empty partial indexes of
/// migration `m20270107_000001_before_receipt_indexes` answer it. Together exactly the rows
/// of the one statement, in the same order.
///
/// The on-time appeals by last change, oldest first, on PostgreSQL are read so too, from
/// where they can start: an on-time appeal was received after now less the longest lead of
/// the unresolved appeals ([`on_time_since`]), so its last change, unless it lies before its
/// receipt, is after that instant as well. The walk of the unresolved appeals' index by last
/// change (`ix_appeals_unresolved_updated`) starts there instead of passing every overdue
/// appeal first (15–17 ms on the list grid's 1M appeals, 140 ms at 5M). With a period too,
/// the later of the two instants. `None` for other pages.
fn receipt_bounded_runs(
    backend: sea_orm::DatabaseBackend,
    f: &AppealFilter,
    tz: chrono_tz::Tz,
    parts: &Parts,
    p: &PageRequest,
) -> Option<[Select<appeal::Entity>; 2]> {
    use appeal::Column as C;
    let key = match p.order {
        OrderField::DueAt => C::DueAt,
        OrderField::UpdatedAt => C::UpdatedAt,
        _ => return None,
    };
    // Read downwards, the walk starts at the latest key, and the bound does not help.
    if p.descending != p.backward {
        return None;
    }
    let from = f.received_from.map(|d| local_midnight(tz, d));
    let on_time_since = parts.on_time_since.filter(|_| p.order == OrderField::UpdatedAt);
    let q = parts.page_query(backend, p);
    let before_receipt = Expr::col((appeal::Entity, key)).lt(Expr::col((appeal::Entity, C::ReceivedAt)));
    let (at_or_after, before) = match (from, on_time_since) {
        (Some(from), None) => (key.gte(from), key.lt(from)),
        (from, Some(now)) => {
            let since = match from {
                Some(from) => Expr::cust_with_values(format!("GREATEST($1, $2 - {ON_TIME_LEAD})"), [from, now]),
                None => Expr::cust_with_values(format!("$1 - {ON_TIME_LEAD}"), [now]),
            };
            let key = Expr::col((appeal::Entity, key));
            (key.clone().gte(since.clone()), key.lt(since))
        }
        (None, None) => return None,
    };
    Some([q.clone().filter(at_or_after), q.filter(before_receipt).filter(before)])
}

/// On SQLite, what decides whether a page walks the index of its order rather than read
/// every appeal that matches and sort them: the matches of the filter that are counted
/// (SQL, one row a match) and the hints the walking branch is built with. From
/// `√(appeals × (limit + 1))` matches on, walking the index of the order passes fewer
/// appeals than there are matches (for matches spread over the table), so the page walks
/// it and tests each appeal:
/// - a search of one word (its matches counted in the FTS5 index, then read once into a
///   set): one held by 6% of the 200,000 appeals of the list grid, alone or with a status or
///   a channel, took 25.7–45.5 ms read and sorted, 3.1–3.8 ms in this statement (the count
///   and the branch not chosen included). Not a search of several words: counting their
///   matches intersects the words' lists, which costs as much as the page, and appeals
///   holding every word are seldom many;
/// - otherwise categories, by another order than receipt (which `(category_id, received_at,
///   id)` gives) and without a receipt period (that index then reads the period's appeals
///   of the category): one with 3.7% of the appeals took 15.5–26.7 ms read and sorted,
///   1.4–4.1 ms in this statement.
///
/// A rare word or a small category keeps the plan SQLite chooses: the walk would cross the
/// table. Nothing is counted on PostgreSQL, whose per-value statistics see these shares,
/// nor for a ranked page. `None` when the page has nothing to count.
fn counted_walk(
    backend: sea_orm::DatabaseBackend,
    refs: &ReferenceData,
    p: &PageRequest,
    f: &AppealFilter,
) -> Option<(String, WalkHints)> {
    use sea_orm::sea_query::{Query, SqliteQueryBuilder};
    if backend != sea_orm::DatabaseBackend::Sqlite || p.order == OrderField::Relevance {
        return None;
    }
    if let Some(search) = f.search.as_deref().and_then(Search::parse).filter(Search::one_word) {
        let matched = format!("SELECT rowid FROM appeals_fts WHERE appeals_fts MATCH '{}'", search.fts);
        return Some((matched, WalkHints { common_search: true, ..p.hints }));
    }
    if p.order == OrderField::ReceivedAt || p.hints.receipt_period || walked_past(p, appeal::Column::CategoryId) {
        return None;
    }
    let (col, values) =
        value_lists(refs, f).into_iter().find(|(c, _)| *c as usize == appeal::Column::CategoryId as usize)?;
    let mut matched = Query::select();
    matched.expr(Expr::val(1)).from(appeal::Entity).and_where(values.condition(col, None));
    Some((matched.to_string(SqliteQueryBuilder), WalkHints { common_category: true, ..p.hints }))
}

/// One SQLite statement holding both ways of reading a page ([`counted_walk`]): `read` and
/// `walked`, each under a `LIMIT` of the row count it may give, `read + 1` or 0, decided
/// once by counting the `matched` rows up to the first power of two whose square reaches
/// `appeals × read` (SQLite is built without `sqrt`). A branch whose `LIMIT` is 0 ends
/// before it reads anything: SQLite tests the limit before the loop (a condition holding a
/// subquery would be tested row by row instead). A page is still one statement, and its
/// rows are those of either branch, in the order.
fn counted_choice(matched: &str, read: u64, rows_read: Statement, walked: Statement, p: &PageRequest) -> Statement {
    let with = walk_decision(matched, read);
    let branch = |stmt: Statement, walks: bool| {
        let (when, otherwise) = if walks { (read, 0) } else { (0, read) };
        let sql = format!(
            r#"SELECT * FROM ({}) AS "branch" LIMIT (SELECT CASE WHEN "common" THEN {when} ELSE {otherwise} END FROM "walk")"#,
            stmt.sql
        );
        Statement::from_sql_and_values(stmt.db_backend, sql, stmt.values.map(|v| v.0).unwrap_or_default())
    };
    let mut stmt =
        union_statement(sea_orm::DatabaseBackend::Sqlite, vec![branch(rows_read, false), branch(walked, true)], p);
    stmt.sql.insert_str(0, &with);
    stmt
}

/// The `WITH` clause of [`counted_choice`]: `"walk"("common")`, one row saying whether
/// `matched` has at least `√(appeals × read)` rows, counted up to the first power of two at
/// least that (`"walk_bound"`).
fn walk_decision(matched: &str, read: u64) -> String {
    let appeals = r#"coalesce((SELECT max("id") FROM "appeals"), 0)"#;
    format!(
        r#"WITH RECURSIVE "walk_bound"("n") AS (SELECT 1 UNION ALL SELECT "n" * 2 FROM "walk_bound" WHERE "n" * "n" < {appeals} * {read}), "walk"("common") AS MATERIALIZED (SELECT count(*) * count(*) >= {appeals} * {read} FROM ({matched} LIMIT (SELECT max("n") FROM "walk_bound")) AS "matched") "#
    )
}

/// `SELECT … FROM (run UNION ALL run …) ORDER BY … LIMIT n + 1` of the runs, each the page's
/// own statement (its keyset, order and `LIMIT n + 1`) for one value: PostgreSQL reads each
/// run from its index and merges them (Merge Append), about `n + 1` rows a value, where the
/// single statement read every match and sorted. The same rows in the same order, with the
/// same cursors. On PostgreSQL the runs bind the same values in the same order (those of one
/// filter differ only in the value written into them; those of [`receipt_bounded_runs`]
/// bind the period's first instant at the same place), so they share `$1`…; on SQLite, whose
/// placeholders are positional, each run binds its own.
fn merged_statement(
    backend: sea_orm::DatabaseBackend,
    runs: impl IntoIterator<Item = Select<appeal::Entity>>,
    p: &PageRequest,
) -> AppResult<Statement> {
    let cols = p.read_columns();
    let mut statements = Vec::new();
    for q in runs {
        let q = q.select_only().columns(cols.iter().copied());
        statements.push(page_statement(backend, &page_query(backend, q, p)?, p)?);
    }
    if backend == sea_orm::DatabaseBackend::Postgres {
        let values = |s: &Statement| s.values.as_ref().map(|v| v.0.clone()).unwrap_or_default();
        if statements.windows(2).any(|w| values(&w[0]) != values(&w[1])) {
            return Err(AppError::internal("the runs of a merged page bind different values"));
        }
    }
    Ok(union_statement(backend, statements, p))
}

/// The runs' rows in the page's order, the first `limit + 1`: on PostgreSQL the runs share
/// their values (`$1`…: the first run's are bound), on SQLite each binds its own.
fn union_statement(backend: sea_orm::DatabaseBackend, runs: Vec<Statement>, p: &PageRequest) -> Statement {
    use sea_orm::IdenStatic;
    let cols = p.read_columns();
    let mut union = String::new();
    let mut values: Option<Vec<sea_orm::Value>> = None;
    for (i, run) in runs.into_iter().enumerate() {
        let v = run.values.map(|v| v.0).unwrap_or_default();
        match &mut values {
            None => values = Some(v),
            // SQLite's placeholders are positional: each run binds its own.
            Some(all) if backend == sea_orm::DatabaseBackend::Sqlite => all.extend(v),
            Some(_) => {}
        }
        if i > 0 {
            union.push_str(" UNION ALL ");
        }
        let _ = write!(union, "SELECT * FROM ({}) AS \"run{i}\"", run.sql);
    }
    let dir = if p.descending == p.backward { "ASC" } else { "DESC" };
    let list: Vec<String> = cols.iter().map(|c| format!("\"appeals\".\"{}\"", c.as_str())).collect();
    // The runs are named `appeals` outside too, so the order's expression reads their columns.
    let key = order_sql(backend, p.order);
    let sql = format!(
        "SELECT {} FROM ({union}) AS \"appeals\" ORDER BY {key} {dir}, \"appeals\".\"id\" {dir} LIMIT {}",
        list.join(", "),
        p.limit + 1
    );
    Statement::from_sql_and_values(backend, sql, values.unwrap_or_default())
}

/// Whether the total of a filter can be summed from the rollups: the SLA states of
/// unresolved appeals (they change with the clock) and searches are on what their keys do not
/// hold. Deadlines neither, but `dueBefore` an instant not yet past is the sum less the
/// appeals due at or after it, which are few (only appeals received within the longest term
/// can be due in the future), and are counted (see [`RollupCount::due_later`]); a past instant
/// is counted over `appeals`.
fn counted_from_rollups(f: &AppealFilter, now: DateTime<Utc>) -> bool {
    counted_without_search(f, now) && f.search.as_deref().and_then(Search::parse).is_none()
}

/// Whether the total of a filter without its search can be summed from the rollups (see
/// [`counted_from_rollups`]).
fn counted_without_search(f: &AppealFilter, now: DateTime<Utc>) -> bool {
    Measure::of(&f.sla_state).is_some() && f.due_before.is_none_or(|t| t >= now)
}

/// The list's query, how to count it from the rollups, and the query without its search
/// condition (for SQLite's ranked page, which joins the search index instead).
struct Parts {
    query: Select<appeal::Entity>,
    rollup: Option<RollupCount>,
    unsearched: Select<appeal::Entity>,
    /// The total of `unsearched` over the rollups, when they can sum it: how many appeals a
    /// ranked page's filter keeps ([`ranked_by_repeats`]).
    unsearched_rollup: Option<RollupCount>,
    /// For a receipt period: the span of number orders its appeals lie in ([`number_span`]).
    number_span: Option<Condition>,
    /// For the on-time appeals on PostgreSQL: the instant they are on time at, from which a
    /// page oldest first by receipt or number knows where to start ([`on_time_since`]).
    on_time_since: Option<DateTime<Utc>>,
}

impl Parts {
    /// The query a page reads from; by number, held to the span of the period's numbers.
    fn page_query(&self, backend: sea_orm::DatabaseBackend, p: &PageRequest) -> Select<appeal::Entity> {
        let q = if p.relevance.is_some() && backend == sea_orm::DatabaseBackend::Sqlite {
            self.unsearched.clone()
        } else {
            self.query.clone()
        };
        let oldest_first = p.descending == p.backward;
        let q = match self.on_time_since.filter(|_| oldest_first).and_then(|now| on_time_since(p.order, now)) {
            Some(since) => q.filter(since),
            None => q,
        };
        match &self.number_span {
            Some(span) if p.order == OrderField::Number => q.filter(span.clone()),
            _ => q,
        }
    }
}

/// The span of number orders the appeals received in `[from, to)` lie in: at least the least
/// and at most the greatest of the spans of their UTC days (`appeal_number_days`), which the
/// store widens with every appeal it writes. Redundant for the rows, it tells a page by
/// number where its walk of the number's order starts and ends: last month's first page
/// oldest first crossed every earlier appeal of the 1M database on PostgreSQL (477–529 ms;
/// 1.0–1.4 ms within the span).
/// A bound is left out where the period is open on that side; `None` without a period.
fn number_span(
    backend: sea_orm::DatabaseBackend,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Option<Condition> {
    use migration::m20270112_000001_number_days::TABLE;
    use sea_orm::sea_query::{Alias, Query};
    if from.is_none() && to.is_none() {
        return None;
    }
    let day = |t: DateTime<Utc>| t.date_naive().format("%Y-%m-%d").to_string();
    // The UTC days the period touches: from the day of its first instant to that of its
    // last (the instant before its exclusive end).
    let days = |least: bool| {
        let mut q = Query::select();
        if least {
            q.expr(Expr::col(Alias::new("first_order")).min());
        } else {
            q.expr(Expr::col(Alias::new("last_order")).max());
        }
        q.from(Alias::new(TABLE));
        if let Some(t) = from {
            q.and_where(Expr::col(Alias::new("day")).gte(day(t)));
        }
        if let Some(t) = to {
            let last = t.checked_sub_signed(chrono::Duration::nanoseconds(1)).unwrap_or(t);
            q.and_where(Expr::col(Alias::new("day")).lte(day(last)));
        }
        SimpleExpr::SubQuery(None, Box::new(q.into()))
    };
    let order = || Expr::expr(order_expr(backend, OrderField::Number));
    let mut span = Condition::all();
    if from.is_some() {
        span = span.add(order().gte(days(true)));
    }
    if to.is_some() {
        span = span.add(order().lte(days(false)));
    }
    Some(span)
}

/// One page of the list, ordered and keyset-paginated.
async fn page(conn: &impl ConnectionTrait, stmt: Statement, p: &PageRequest) -> AppResult<AppealPage> {
    let cols = p.read_columns();
    let rows = conn.query_all_raw(stmt).await?;
    let appeals = rows.iter().map(|r| read_appeal(r, &cols)).collect::<AppResult<Vec<_>>>()?;
    into_page(appeals, p)
}

/// The page of the rows read for it: the extra row dropped, in reading order, with cursors.
fn into_page(mut appeals: Vec<Appeal>, p: &PageRequest) -> AppResult<AppealPage> {
    if p.order == OrderField::Relevance {
        let (start, read) = p.window()?;
        let shown = Ord::min(p.limit, read);
        let more = appeals.len() as u64 > shown;
        appeals.truncate(shown as usize);
        let place = |i: usize| i64::try_from(start + i as u64).unwrap_or(i64::MAX);
        let rows = appeals.into_iter().enumerate().map(|(i, a)| (PageCursor(Place::Ranked(place(i))), a)).collect();
        let has_next = if p.backward { true } else { more };
        return Ok(AppealPage { rows, has_next, has_previous: start > 0 });
    }
    let (has_next, has_previous) = trim(&mut appeals, p);
    let rows = appeals.into_iter().map(|a| (PageCursor(Place::Order(p.order)), a)).collect();
    Ok(AppealPage { rows, has_next, has_previous })
}

impl PageRequest {
    /// The rows of a ranked page: the place of its first row and how many to read (one more
    /// than the page going forward, to tell whether more follow).
    fn window(&self) -> AppResult<(u64, u64)> {
        let place = |path: &str, c: &str| -> AppResult<u64> {
            let key = decode_cursor(path, c)?;
            if key.k != RANKED {
                return Err(AppError::bad(path, "is not a cursor of this order"));
            }
            // A place past any ranking there can be: the page's bounds (and the walk's, a
            // multiple of them) must stay within PostgreSQL's `bigint`.
            u64::try_from(key.id)
                .ok()
                .filter(|place| *place <= MAX_RANKED_PLACE)
                .ok_or_else(|| AppError::bad(path, "is not a valid cursor"))
        };
        if self.backward {
            let Some(before) = &self.before else {
                return Err(AppError::bad(
                    "last",
                    "search results by relevance are paged forward; give orderBy to page from the end",
                ));
            };
            let end = place("before", before)?;
            let start = end.saturating_sub(self.limit);
            return Ok((start, end - start));
        }
        let start = match &self.after {
            Some(c) => place("after", c)? + 1,
            None => 0,
        };
        Ok((start, self.limit + 1))
    }
}

/// Every column of `appeals`, in the entity's order (a column's discriminant is its place).
const APPEAL_COLUMNS: &[appeal::Column] = &[
    appeal::Column::Id,
    appeal::Column::Number,
    appeal::Column::Kind,
    appeal::Column::Channel,
    appeal::Column::ExternalId,
    appeal::Column::Status,
    appeal::Column::ReceivedAt,
    appeal::Column::RegisteredAt,
    appeal::Column::AuthorName,
    appeal::Column::AuthorContact,
    appeal::Column::Anonymous,
    appeal::Column::Text,
    appeal::Column::SearchText,
    appeal::Column::Summary,
    appeal::Column::CategoryId,
    appeal::Column::SuggestedCategoryId,
    appeal::Column::TerritoryId,
    appeal::Column::Address,
    appeal::Column::Latitude,
    appeal::Column::Longitude,
    appeal::Column::H3Cell,
    appeal::Column::RecipientId,
    appeal::Column::RedirectedTo,
    appeal::Column::HighPriority,
    appeal::Column::SlaStartedAt,
    appeal::Column::DueSoonAt,
    appeal::Column::DueAt,
    appeal::Column::ExtensionCount,
    appeal::Column::ReactedAt,
    appeal::Column::ResolvedAt,
    appeal::Column::AnsweredAt,
    appeal::Column::AnswerText,
    appeal::Column::Completeness,
    appeal::Column::NoAnswerReason,
    appeal::Column::SatisfactionScore,
    appeal::Column::Satisfied,
    appeal::Column::FeedbackCode,
    appeal::Column::FeedbackExpiresAt,
    appeal::Column::ReopenCount,
    appeal::Column::FirstAnsweredAt,
    appeal::Column::FirstDueAt,
    appeal::Column::FirstCompleteness,
    appeal::Column::FirstSatisfied,
    appeal::Column::ReactionDueAt,
    appeal::Column::ReactionHours,
    appeal::Column::DuplicateOfId,
    appeal::Column::Version,
    appeal::Column::CreatedAt,
    appeal::Column::UpdatedAt,
    appeal::Column::AnonymisedAt,
];

/// An appeal of a page before its columns are read: every field holds a placeholder. Names
/// every field, so a new column is a compile error here.
fn unread() -> Appeal {
    let t = DateTime::<Utc>::UNIX_EPOCH;
    Appeal {
        id: AppealId(0),
        number: String::new(),
        kind: AppealKind::ALL[0],
        channel: Channel::ALL[0],
        external_id: None,
        status: AppealStatus::ALL[0],
        received_at: t,
        registered_at: None,
        author_name: None,
        author_contact: None,
        anonymous: false,
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
        first_answer: None,
        reaction: None,
        duplicate_of_id: None,
        version: 0,
        created_at: t,
        updated_at: t,
        anonymised_at: None,
    }
}

fn parsed<T: std::str::FromStr<Err = String>>(row: &QueryResult, i: usize) -> AppResult<T> {
    row.try_get_by_index::<String>(i)?.parse().map_err(AppError::internal)
}

fn parsed_opt<T: std::str::FromStr<Err = String>>(row: &QueryResult, i: usize) -> AppResult<Option<T>> {
    row.try_get_by_index::<Option<String>>(i)?.map(|s| s.parse().map_err(AppError::internal)).transpose()
}

/// The typed appeal of a page's row holding the columns `cols`, in that order: each column
/// read by position (sea-orm's derived readers find every column by name, and for every NULL
/// format the name into an error they then discard: a quarter of the server's time for a
/// page of 50), enum columns parsed here, once. The columns not read keep placeholders
/// ([`unread`]): such an appeal serves the display it was read for and nothing else (no
/// write starts from a page). The `match` names every column, so a new one is a compile
/// error here.
fn read_appeal(row: &QueryResult, cols: &[appeal::Column]) -> AppResult<Appeal> {
    use appeal::Column as C;
    let mut a = unread();
    for (i, col) in cols.iter().enumerate() {
        macro_rules! get {
            () => {
                row.try_get_by_index(i)?
            };
            ($t:ty) => {
                row.try_get_by_index::<$t>(i)?
            };
        }
        match col {
            C::Id => a.id = AppealId(get!()),
            C::Number => a.number = get!(),
            C::Kind => a.kind = parsed(row, i)?,
            C::Channel => a.channel = parsed(row, i)?,
            C::ExternalId => a.external_id = get!(),
            C::Status => a.status = parsed(row, i)?,
            C::ReceivedAt => a.received_at = get!(),
            C::RegisteredAt => a.registered_at = get!(),
            C::AuthorName => a.author_name = get!(),
            C::AuthorContact => a.author_contact = get!(),
            C::Anonymous => a.anonymous = get!(),
            C::Text => a.text = get!(),
            C::SearchText => a.search_text = get!(),
            C::Summary => a.summary = get!(),
            C::CategoryId => a.category_id = get!(Option<i64>).map(CategoryId),
            C::SuggestedCategoryId => a.suggested_category_id = get!(Option<i64>).map(CategoryId),
            C::TerritoryId => a.territory_id = get!(Option<i64>).map(TerritoryId),
            C::Address => a.address = get!(),
            C::Latitude => a.latitude = get!(),
            C::Longitude => a.longitude = get!(),
            // Derived from the coordinates; the record has no place for it.
            C::H3Cell => {}
            C::RecipientId => a.recipient_id = get!(Option<i64>).map(RecipientId),
            C::RedirectedTo => a.redirected_to = get!(),
            C::HighPriority => a.high_priority = get!(),
            C::SlaStartedAt => a.sla_started_at = get!(),
            C::DueSoonAt => a.due_soon_at = get!(),
            C::DueAt => a.due_at = get!(),
            C::ExtensionCount => a.extension_count = get!(),
            C::ReactedAt => a.reacted_at = get!(),
            C::ResolvedAt => a.resolved_at = get!(),
            C::AnsweredAt => a.answered_at = get!(),
            C::AnswerText => a.answer_text = get!(),
            C::Completeness => a.completeness = parsed_opt(row, i)?,
            C::NoAnswerReason => a.no_answer_reason = parsed_opt(row, i)?,
            C::SatisfactionScore => a.satisfaction_score = get!(),
            C::Satisfied => a.satisfied = get!(),
            C::FeedbackCode => a.feedback_code = get!(),
            C::FeedbackExpiresAt => a.feedback_expires_at = get!(),
            C::ReopenCount => a.reopen_count = get!(),
            // The first answer is the analytics' (the list shows `answers` through a loader).
            C::FirstAnsweredAt
            | C::FirstDueAt
            | C::FirstCompleteness
            | C::FirstSatisfied
            | C::ReactionDueAt
            | C::ReactionHours => {}
            C::DuplicateOfId => a.duplicate_of_id = get!(Option<i64>).map(AppealId),
            C::Version => a.version = get!(),
            C::CreatedAt => a.created_at = get!(),
            C::UpdatedAt => a.updated_at = get!(),
            // The retention marker: read by the anonymiser, not shown on a page.
            C::AnonymisedAt => a.anonymised_at = get!(),
        }
    }
    Ok(a)
}

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
    ("answers", &[]),
    ("tasks", &[]),
    ("conflictFlags", &[]),
    ("attachments", &[]),
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
    // Derived from the coordinates, for problem points; no field shows it.
    appeal::Column::H3Cell,
    appeal::Column::SuggestedCategoryId,
    appeal::Column::HighPriority,
    appeal::Column::SlaStartedAt,
    appeal::Column::ReactedAt,
    appeal::Column::FirstAnsweredAt,
    appeal::Column::FirstDueAt,
    appeal::Column::FirstCompleteness,
    appeal::Column::FirstSatisfied,
    appeal::Column::ReactionDueAt,
    appeal::Column::ReactionHours,
    appeal::Column::CreatedAt,
    appeal::Column::UpdatedAt,
    appeal::Column::AnonymisedAt,
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

/// The statement of a page: the query (on SQLite with [`order_walk_hint`])
/// with the number of rows to read, one more than the page to tell whether more follow,
/// written into it: a bound `LIMIT` would keep PostgreSQL planning each execution anew (see
/// [`literal_in`]).
fn page_statement(
    backend: sea_orm::DatabaseBackend,
    q: &Select<appeal::Entity>,
    p: &PageRequest,
) -> AppResult<Statement> {
    // Not told the open queue's index (totals are): by another order than the deadline SQLite
    // read every open appeal from it and sorted them (12–18 ms on 200,000 appeals), and by
    // deadline one status's index gives the page without the other open statuses, while
    // several statuses are merged, one run each (see `merge_split`).
    let mut stmt = q.build(backend);
    order_walk_hint(backend, p, &mut stmt.sql);
    if p.order == OrderField::Relevance {
        let (start, read) = p.window()?;
        let _ = write!(stmt.sql, " LIMIT {read} OFFSET {start}");
    } else {
        let _ = write!(stmt.sql, " LIMIT {}", p.limit + 1);
    }
    Ok(stmt)
}

/// The query narrowed to the rows after/before the cursors, in reading order.
fn page_query(
    backend: sea_orm::DatabaseBackend,
    mut q: Select<appeal::Entity>,
    p: &PageRequest,
) -> AppResult<Select<appeal::Entity>> {
    if p.order == OrderField::Relevance {
        let search = p.relevance.as_ref().ok_or_else(|| AppError::internal("a ranked page without its search"))?;
        return Ok(search.order(backend, q));
    }
    if let Some(c) = &p.after {
        q = q.filter(keyset(backend, p.order, &decode_cursor("after", c)?, !p.descending)?);
    }
    if let Some(c) = &p.before {
        q = q.filter(keyset(backend, p.order, &decode_cursor("before", c)?, p.descending)?);
    }
    // Walking backward means reading in the opposite direction and reversing the rows.
    let dir = if p.descending == p.backward { Order::Asc } else { Order::Desc };
    Ok(q.order_by(order_expr(backend, p.order), dir.clone()).order_by(appeal::Column::Id, dir))
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
    let stmt = count_statement(conn.get_database_backend(), &q);
    let n = conn.query_one_raw(stmt).await?.map(|r| r.try_get_by_index::<i64>(0)).transpose()?.unwrap_or(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// `SELECT COUNT(*)` of the query (told its index on SQLite, see [`open_queue_hint`]).
fn count_statement(backend: sea_orm::DatabaseBackend, q: &Select<appeal::Entity>) -> Statement {
    let q = q.clone().select_only().column(appeal::Column::Id);
    let stmt = open_queue_hint(backend, &q).unwrap_or_else(|| q.build(backend));
    Statement::from_sql_and_values(
        stmt.db_backend,
        format!("SELECT COUNT(*) AS n FROM ({}) AS sub", stmt.sql),
        stmt.values.map(|v| v.0).unwrap_or_default(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The page statement [`list`] sends for `f` and `r`, for a caller that reads every appeal,
    /// on 20 November 2026 in Krasnoyarsk.
    fn page_sql(backend: sea_orm::DatabaseBackend, f: &AppealFilter, r: ListRequest) -> Statement {
        let refs = ReferenceData::default();
        let scope = AppealScope::for_token_reading_all();
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        list_statements(backend, &refs, &scope, f, chrono_tz::Asia::Krasnoyarsk, now, r).map(|(s, _)| s).unwrap()
    }

    /// The first page of 50 in `order`, every column read.
    fn first_page(order: OrderField, descending: bool) -> PageRequest {
        PageRequest {
            order,
            descending,
            limit: 50,
            after: None,
            before: None,
            backward: false,
            columns: None,
            relevance: None,
            hints: WalkHints::default(),
        }
    }

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
        let p = first_page(OrderField::DueAt, false);
        for backend in [Postgres, Sqlite] {
            let stmt = page_statement(backend, &page_query(backend, q.clone(), &p).unwrap(), &p).unwrap();
            assert!(stmt.values.as_ref().is_none_or(|v| v.0.is_empty()), "{backend:?}: {:?}", stmt.values);
            assert!(stmt.sql.ends_with(" LIMIT 51"), "{}", stmt.sql);
            // Sorted and without repeats, so equal filters give the same statement text.
            assert!(stmt.sql.contains(r#""appeals"."status" IN ('ASSIGNED', 'IN_PROGRESS')"#), "{}", stmt.sql);
            assert!(stmt.sql.contains(r#""appeals"."territory_id" IN (3, 5, 7)"#), "{}", stmt.sql);
            assert!(stmt.sql.contains(r#""appeals"."channel" IN ('INCIDENT', 'POS')"#), "{}", stmt.sql);
            assert!(stmt.sql.contains(r#""appeals"."category_id" IN (4, 12)"#), "{}", stmt.sql);
        }
        // A later page binds its cursor, and the limit is still written once.
        let next =
            PageRequest { after: Some(encode_cursor(OrderField::DueAt, &Appeal::try_from(sample()).unwrap())), ..p };
        let stmt = page_statement(Postgres, &page_query(Postgres, q, &next).unwrap(), &next).unwrap();
        assert_eq!(stmt.values.map(|v| v.0.len()), Some(4));
        assert_eq!(stmt.sql.matches("LIMIT").count(), 1);
        // Whatever reaches it, the builder writes a literal, never SQL.
        let hostile =
            appeal::Entity::find().filter(literal_in(appeal::Column::Status, ["x') OR ('1' = '1"])).build(Postgres);
        assert_eq!(hostile.sql.split_once(" IN ").map(|x| x.1), Some(r"(E'x\') OR (\'1\' = \'1')"), "{}", hostile.sql);
    }

    #[test]
    fn several_values_of_a_filter_under_an_order_their_index_gives_are_read_as_merged_runs() {
        use sea_orm::DatabaseBackend::{Postgres, Sqlite};
        let f = AppealFilter {
            status: vec![AppealStatus::InProgress, AppealStatus::Assigned],
            recipient_id: vec![RecipientId(5)],
            ..AppealFilter::default()
        };
        let req = |order, after: Option<String>| ListRequest {
            order,
            descending: true,
            limit: 50,
            after,
            fields: vec!["number".into()],
            ..ListRequest::default()
        };
        let sql = page_sql;
        let merged = sql(Postgres, &f, req(OrderField::DueAt, None));
        assert!(merged.values.as_ref().is_none_or(|v| v.0.is_empty()), "{:?}", merged.values);
        let s = &merged.sql;
        assert_eq!(s.matches(" UNION ALL ").count(), 1, "{s}");
        assert!(s.contains(r#""appeals"."status" IN ('ASSIGNED') AND "#), "{s}");
        assert!(s.contains(r#""appeals"."status" IN ('IN_PROGRESS') AND "#), "{s}");
        assert_eq!(s.matches(r#""appeals"."recipient_id" IN (5)"#).count(), 2, "{s}");
        assert_eq!(s.matches(r#"ORDER BY "appeals"."due_at" DESC, "appeals"."id" DESC LIMIT 51"#).count(), 3, "{s}");
        assert!(s.starts_with(r#"SELECT "appeals"."id", "appeals"."number", "#), "{s}");
        assert!(
            s.ends_with(r#") AS "run1") AS "appeals" ORDER BY "appeals"."due_at" DESC, "appeals"."id" DESC LIMIT 51"#),
            "{s}"
        );
        // A later page: every run binds the same cursor, once for the whole statement.
        let cursor = encode_cursor(OrderField::DueAt, &Appeal::try_from(sample()).unwrap());
        let next = sql(Postgres, &f, req(OrderField::DueAt, Some(cursor)));
        assert_eq!(next.values.map(|v| v.0.len()), Some(4));
        assert_eq!(next.sql.matches("$1 ").count(), 2, "{}", next.sql);
        assert_eq!(next.sql.matches("$4)").count(), 2, "{}", next.sql);
        assert!(!next.sql.contains("$5"), "{}", next.sql);
        // By receipt too, since its indexes end with the id.
        let by_receipt = sql(Postgres, &f, req(OrderField::ReceivedAt, None)).sql;
        assert_eq!(by_receipt.matches(" UNION ALL ").count(), 1, "{by_receipt}");
        assert_eq!(
            by_receipt.matches(r#"ORDER BY "appeals"."received_at" DESC, "appeals"."id" DESC LIMIT 51"#).count(),
            3,
            "{by_receipt}"
        );
        // By number per status, since `ix_appeals_status_number_order`; the runs are ordered
        // outside by the same expression.
        let by_number = sql(Postgres, &f, req(OrderField::Number, None)).sql;
        assert_eq!(by_number.matches(" UNION ALL ").count(), 1, "{by_number}");
        let outside = format!(
            r#") AS "run1") AS "appeals" ORDER BY {} DESC, "appeals"."id" DESC LIMIT 51"#,
            order_sql(Postgres, OrderField::Number)
        );
        assert!(by_number.ends_with(&outside), "{by_number}");
        // SQLite merges the same runs, each binding its own values (positional placeholders).
        let lite = sql(Sqlite, &f, req(OrderField::DueAt, None)).sql;
        assert_eq!(lite.matches(" UNION ALL ").count(), 1, "{lite}");
        assert!(!lite.contains("INDEXED BY"), "{lite}");
        let cursor = encode_cursor(OrderField::DueAt, &Appeal::try_from(sample()).unwrap());
        assert_eq!(sql(Sqlite, &f, req(OrderField::DueAt, Some(cursor))).values.map(|v| v.0.len()), Some(8));
        // The same statement as before: one value (one recipient by number); one value;
        // more values than merged.
        let single = |backend, f: &AppealFilter, order| {
            let s = sql(backend, f, req(order, None)).sql;
            assert!(!s.contains("UNION"), "{s}");
            assert!(s.starts_with(r#"SELECT "appeals"."id", "appeals"."number", "#), "{s}");
            assert!(s.ends_with(" LIMIT 51"), "{s}");
        };
        single(Postgres, &AppealFilter { status: vec![], ..f.clone() }, OrderField::Number);
        single(Sqlite, &AppealFilter { status: vec![AppealStatus::Assigned], ..f.clone() }, OrderField::DueAt);
        single(Postgres, &AppealFilter { status: vec![AppealStatus::Assigned], ..f.clone() }, OrderField::DueAt);
        let nine = AppealFilter { status: AppealStatus::ALL.to_vec(), ..f.clone() };
        assert!(AppealStatus::ALL.len() > MERGE_MAX_VALUES);
        single(Postgres, &nine, OrderField::DueAt);
        // Two kinds by deadline: one run a kind, on both backends.
        let kinds = AppealFilter { kind: vec![AppealKind::Message, AppealKind::Incident], ..AppealFilter::default() };
        for backend in [Postgres, Sqlite] {
            let s = sql(backend, &kinds, req(OrderField::DueAt, None)).sql;
            assert_eq!(s.matches(" UNION ALL ").count(), 1, "{s}");
            assert!(s.contains(r#""appeals"."kind" IN ('INCIDENT')"#), "{s}");
            assert!(s.contains(r#""appeals"."kind" IN ('MESSAGE')"#), "{s}");
        }
        // The column first in the list of indexes is split: two recipients by deadline.
        let two = AppealFilter { recipient_id: vec![RecipientId(5), RecipientId(6)], ..f };
        let s = sql(Postgres, &two, req(OrderField::DueAt, None)).sql;
        assert!(
            s.contains(r#""appeals"."recipient_id" IN (6)"#)
                && s.contains(r#""appeals"."status" IN ('ASSIGNED', 'IN_PROGRESS')"#),
            "{s}"
        );
    }

    /// PostgreSQL: a receipt period of categories or recipients by number keeps the period's
    /// conditions from the receipt indexes (judged by a default share), so the value's index
    /// by number is walked within the period's span; not another order, not another filter,
    /// not SQLite.
    #[test]
    fn a_period_of_a_category_by_number_walks_its_index_by_number_on_postgres() {
        use sea_orm::DatabaseBackend::{Postgres, Sqlite};
        let month = |f: AppealFilter| AppealFilter {
            received_from: NaiveDate::from_ymd_opt(2026, 10, 1),
            received_to: NaiveDate::from_ymd_opt(2026, 10, 31),
            ..f
        };
        let told = r#""appeals"."received_at" + INTERVAL '0 s' >= "#;
        let told_end = r#""appeals"."received_at" + INTERVAL '0 s' < "#;
        let by = |order| ListRequest { order, limit: 50, ..ListRequest::default() };
        for f in [
            month(AppealFilter { category_id: vec![CategoryId(7)], ..Default::default() }),
            month(AppealFilter { recipient_id: vec![RecipientId(3)], ..Default::default() }),
        ] {
            for descending in [false, true] {
                let s = page_sql(Postgres, &f, ListRequest { descending, ..by(OrderField::Number) }).sql;
                assert!(s.contains(told) && s.contains(told_end), "{s}");
                assert!(!s.contains(r#""appeals"."received_at" >= "#), "{s}");
            }
            assert!(!page_sql(Sqlite, &f, by(OrderField::Number)).sql.contains("INTERVAL"));
            assert!(!page_sql(Postgres, &f, by(OrderField::ReceivedAt)).sql.contains("INTERVAL"));
            assert!(!page_sql(Postgres, &f, by(OrderField::DueAt)).sql.contains("INTERVAL"));
        }
        let channel = month(AppealFilter { channel: vec![Channel::Pos], ..Default::default() });
        assert!(!page_sql(Postgres, &channel, by(OrderField::Number)).sql.contains("INTERVAL"));
        let category = AppealFilter { category_id: vec![CategoryId(7)], ..Default::default() };
        assert!(!page_sql(Postgres, &category, by(OrderField::Number)).sql.contains("INTERVAL"));
    }

    #[test]
    fn the_merged_orders_name_indexes_that_exist_with_the_id_last() {
        use migration::m20270109_000001_number_order::STATUS_INDEX;
        use sea_orm::IdenStatic;
        let lists = [
            migration::m20261213_000001_list_grid::LIST_INDEXES,
            migration::m20270102_000001_receipt_indexes::RECEIPT_INDEXES,
        ];
        use migration::m20270111_000001_recipient_order_indexes as by_recipient;
        use migration::m20270113_000001_kind_due_index as by_kind;
        let later = [(by_recipient::UPDATED, by_recipient::UPDATED_KEY), (by_kind::KIND_DUE, by_kind::KIND_DUE_KEY)];
        for (col, order, index) in MERGE_INDEXES {
            if *order == OrderField::Number {
                // An index on the order's expression (`order_expr`).
                let expected = match col {
                    appeal::Column::Status => STATUS_INDEX,
                    appeal::Column::RecipientId => by_recipient::NUMBER,
                    appeal::Column::CategoryId => migration::m20270117_000002_category_number_index::NUMBER,
                    _ => "no index by number",
                };
                assert_eq!(*index, expected);
                continue;
            }
            let key = format!("{}, {}, id", col.as_str(), order_column(*order).as_str());
            assert!(
                lists.iter().chain([&later.as_slice()]).any(|l| l.contains(&(*index, key.as_str()))),
                "{index} ({key}) is not a list index"
            );
        }
    }

    #[test]
    fn a_page_reads_the_columns_asked_for_with_its_key_and_order_columns() {
        use appeal::Column as C;
        let mut p = PageRequest {
            columns: Some(vec![C::DueAt, C::Number, C::DueSoonAt, C::ResolvedAt, C::Number, C::Id]),
            ..first_page(OrderField::UpdatedAt, true)
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
            h3_cell: None,
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
            first_answered_at: None,
            first_due_at: None,
            first_completeness: None,
            first_satisfied: None,
            reaction_due_at: None,
            reaction_hours: None,
            reopen_count: 0,
            duplicate_of_id: None,
            version: 1,
            created_at: t,
            updated_at: t,
            anonymised_at: None,
        }
    }

    /// A receipt period's page by deadline or last change, read upwards, on a real SQLite
    /// database: the run before the receipt is told its partial index, SQLite follows it, and
    /// the page holds the period's appeals in the order.
    #[tokio::test]
    async fn the_run_before_the_receipt_reads_its_partial_index_on_sqlite() {
        let db = fifty_appeals().await;
        let refs = ReferenceData::default();
        let scope = AppealScope::for_token_reading_all();
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        let tz = chrono_tz::Asia::Krasnoyarsk;
        for (from, expected) in [(2, (1..=25_i64).map(|i| i * 2).collect::<Vec<_>>()), (3, Vec::new())] {
            let march = AppealFilter {
                category_id: vec![CategoryId(9001)],
                received_from: NaiveDate::from_ymd_opt(2026, 3, from),
                ..Default::default()
            };
            for order in [OrderField::DueAt, OrderField::UpdatedAt] {
                let r = ListRequest { order, limit: 50, ..ListRequest::default() };
                let (stmt, _) =
                    list_statements(sea_orm::DatabaseBackend::Sqlite, &refs, &scope, &march, tz, now, r.clone())
                        .unwrap();
                assert_eq!(stmt.sql.matches(" INDEXED BY ").count(), 1, "{}", stmt.sql);
                assert!(stmt.sql.contains("_before_receipt"), "{}", stmt.sql);
                let page = list(&db, &refs, &scope, &march, tz, now, r).await.unwrap();
                // One deadline and one last change for all: by id.
                assert_eq!(page.page.rows.iter().map(|(_, a)| a.id.0).collect::<Vec<_>>(), expected, "{order:?}");
            }
        }
        // Read downwards, or by receipt, there is no such run.
        let march = AppealFilter { received_from: NaiveDate::from_ymd_opt(2026, 3, 2), ..Default::default() };
        for (order, descending) in [(OrderField::DueAt, true), (OrderField::ReceivedAt, false)] {
            let r = ListRequest { order, descending, limit: 50, ..ListRequest::default() };
            let (stmt, _) =
                list_statements(sea_orm::DatabaseBackend::Sqlite, &refs, &scope, &march, tz, now, r).unwrap();
            assert!(!stmt.sql.contains("INDEXED BY"), "{}", stmt.sql);
        }
    }

    /// SQLite's plan of `stmt` on `db`: the detail of each step of `EXPLAIN QUERY PLAN`.
    async fn query_plan(db: &sea_orm::DatabaseConnection, stmt: Statement) -> String {
        let explain = Statement { sql: format!("EXPLAIN QUERY PLAN {}", stmt.sql), ..stmt };
        let rows = db.query_all_raw(explain).await.unwrap();
        rows.iter().map(|r| r.try_get_by_index::<String>(3).unwrap()).collect::<Vec<_>>().join("; ")
    }

    /// One kind by deadline on a real SQLite database: the page reads the kind's own index
    /// by deadline (`m20270113_000001_kind_due_index`), two kinds are two runs of it merged,
    /// and by another order the kind is walked past (the order's index), so that index is
    /// not taken for the kind alone.
    #[tokio::test]
    async fn one_kind_by_deadline_reads_the_kinds_index_and_several_kinds_are_merged() {
        let db = fifty_appeals().await;
        // Odd ids are messages due before every appeal, the earlier the larger the id; even
        // ids stay appeals, due later the larger the id.
        db.execute_unprepared(
            "UPDATE appeals SET kind = 'MESSAGE', due_at = strftime('%Y-%m-%dT%H:%M:%S+00:00', '2026-03-01', '-' || id || ' minutes') WHERE id % 2 = 1",
        )
        .await
        .unwrap();
        db.execute_unprepared(
            "UPDATE appeals SET due_at = strftime('%Y-%m-%dT%H:%M:%S+00:00', '2026-04-01', '+' || id || ' minutes') WHERE id % 2 = 0",
        )
        .await
        .unwrap();
        let refs = ReferenceData::default();
        let scope = AppealScope::for_token_reading_all();
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        let tz = chrono_tz::Asia::Krasnoyarsk;
        let sqlite = sea_orm::DatabaseBackend::Sqlite;
        let appeals = AppealFilter { kind: vec![AppealKind::Appeal], ..Default::default() };
        let r = ListRequest { order: OrderField::DueAt, limit: 5, ..ListRequest::default() };
        let (stmt, _) = list_statements(sqlite, &refs, &scope, &appeals, tz, now, r.clone()).unwrap();
        let read = query_plan(&db, stmt).await;
        assert!(read.contains("ix_appeals_kind_due") && !read.contains("TEMP B-TREE"), "{read}");
        let page = list(&db, &refs, &scope, &appeals, tz, now, r).await.unwrap();
        assert_eq!(page.page.rows.iter().map(|(_, a)| a.id.0).collect::<Vec<_>>(), [2, 4, 6, 8, 10]);
        // Both kinds, latest deadline first: one run a kind, merged in the order.
        let both = AppealFilter { kind: vec![AppealKind::Message, AppealKind::Appeal], ..Default::default() };
        let r = ListRequest { order: OrderField::DueAt, descending: true, limit: 30, ..ListRequest::default() };
        let (stmt, _) = list_statements(sqlite, &refs, &scope, &both, tz, now, r.clone()).unwrap();
        assert_eq!(stmt.sql.matches(" UNION ALL ").count(), 1, "{}", stmt.sql);
        assert!(query_plan(&db, stmt).await.contains("ix_appeals_kind_due"));
        let page = list(&db, &refs, &scope, &both, tz, now, r).await.unwrap();
        let expected = (1..=25).rev().map(|i| i * 2).chain([1, 3, 5, 7, 9]).collect::<Vec<_>>();
        assert_eq!(page.page.rows.iter().map(|(_, a)| a.id.0).collect::<Vec<_>>(), expected);
        // By number the kind is walked past: the number's index, not the kind's.
        let r = ListRequest { order: OrderField::Number, limit: 5, ..ListRequest::default() };
        let (stmt, _) = list_statements(sqlite, &refs, &scope, &appeals, tz, now, r.clone()).unwrap();
        let read = query_plan(&db, stmt).await;
        assert!(!read.contains("ix_appeals_kind_due"), "{read}");
        let page = list(&db, &refs, &scope, &appeals, tz, now, r).await.unwrap();
        assert_eq!(page.page.rows.iter().map(|(_, a)| a.id.0).collect::<Vec<_>>(), [2, 4, 6, 8, 10]);
    }

    /// A total by status and territory on a real SQLite database: summed from the full cube
    /// through its index by territory and status (`m20270113_000002_stats_territory_status_index`,
    /// partial to that cube, so the statement must name the cube as the index does), and
    /// equal to the appeals counted.
    #[tokio::test]
    async fn a_total_by_status_and_territory_reads_the_full_cube_by_both() {
        use migration::m20270113_000002_stats_territory_status_index::INDEX;
        let db = fifty_appeals().await;
        db.execute_unprepared(
            "INSERT INTO territories (id, name, version, created_at) VALUES (7, 'Район', 1, '2026-01-01T00:00:00Z')",
        )
        .await
        .unwrap();
        db.execute_unprepared("UPDATE appeals SET territory_id = 7 WHERE id % 3 = 0").await.unwrap();
        db.execute_unprepared("UPDATE appeals SET status = 'IN_PROGRESS' WHERE id % 4 = 0").await.unwrap();
        let tz = chrono_tz::Asia::Krasnoyarsk;
        crate::store::rollup::rebuild(&db, tz).await.unwrap();
        let refs = ReferenceData::default();
        let scope = AppealScope::for_token_reading_all();
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        let sqlite = sea_orm::DatabaseBackend::Sqlite;
        for (status, expected) in [(AppealStatus::InProgress, 4), (AppealStatus::Assigned, 12)] {
            let f = AppealFilter { status: vec![status], territory_id: vec![TerritoryId(7)], ..Default::default() };
            let r = ListRequest { order: OrderField::ReceivedAt, limit: 5, ..ListRequest::default() };
            let (_, query) = list_statements(sqlite, &refs, &scope, &f, tz, now, r).unwrap();
            let (stmt, from_rollups) = query.count_statement(sqlite);
            assert_eq!(from_rollups, "rollup", "{}", stmt.sql);
            let plan = query_plan(&db, stmt).await;
            assert!(plan.contains(INDEX), "{plan}");
            assert_eq!(query.count(&db).await.unwrap(), expected, "{status:?}");
            assert_eq!(count(&db, query.query.clone()).await.unwrap(), expected, "{status:?}");
        }
    }

    /// One recipient's overdue appeals on a real SQLite database: the total is a range of
    /// the recipient's unresolved appeals by deadline
    /// (`m20270113_000003_recipient_unresolved_due`), and so is a page by deadline, with
    /// the appeals counted and listed exactly (resolved and other recipients' left out).
    #[tokio::test]
    async fn one_recipients_overdue_appeals_are_counted_and_listed_from_its_unresolved_ones() {
        use migration::m20270113_000003_recipient_unresolved_due::INDEX;
        let db = fifty_appeals().await;
        for id in [5, 6] {
            db.execute_unprepared(&format!(
                "INSERT INTO recipients (id, name, version, created_at) VALUES ({id}, 'Отдел {id}', 1, '2026-01-01T00:00:00Z')"
            ))
            .await
            .unwrap();
        }
        // Recipient 5 has the even ids, 6 the odd ones; every fifth is resolved; the deadline
        // is the id's minute of 2 March, so at 09:40 ids below 40 are past it.
        db.execute_unprepared(
            "UPDATE appeals SET recipient_id = 5 + id % 2, due_at = strftime('%Y-%m-%dT%H:%M:%S+00:00', '2026-03-02 09:00', '+' || id || ' minutes')",
        )
        .await
        .unwrap();
        db.execute_unprepared("UPDATE appeals SET resolved_at = '2026-03-02T08:00:00Z' WHERE id % 5 = 0")
            .await
            .unwrap();
        let refs = ReferenceData::default();
        let scope = AppealScope::for_token_reading_all();
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 40, 0).unwrap();
        let tz = chrono_tz::Asia::Krasnoyarsk;
        let sqlite = sea_orm::DatabaseBackend::Sqlite;
        let overdue = AppealFilter {
            recipient_id: vec![RecipientId(5)],
            sla_state: vec![SlaState::Overdue],
            ..Default::default()
        };
        let expected: Vec<i64> = (1..40).filter(|i| i % 2 == 0 && i % 5 != 0).collect();
        let r = ListRequest { order: OrderField::DueAt, limit: 50, ..ListRequest::default() };
        let (stmt, query) = list_statements(sqlite, &refs, &scope, &overdue, tz, now, r.clone()).unwrap();
        let (total, from_rollups) = query.count_statement(sqlite);
        assert_eq!(from_rollups, "appeals");
        let counted = query_plan(&db, total).await;
        assert!(counted.contains(INDEX), "{counted}");
        assert_eq!(query.count(&db).await.unwrap(), expected.len() as u64);
        let read = query_plan(&db, stmt).await;
        assert!(read.contains(INDEX) && !read.contains("TEMP B-TREE"), "{read}");
        let page = list(&db, &refs, &scope, &overdue, tz, now, r).await.unwrap();
        assert_eq!(page.page.rows.iter().map(|(_, a)| a.id.0).collect::<Vec<_>>(), expected);
    }

    #[test]
    fn a_search_and_nothing_else_is_counted_in_the_search_index_on_sqlite_only() {
        let refs = ReferenceData::default();
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        let tz = chrono_tz::Asia::Krasnoyarsk;
        let source = |backend, scope: &AppealScope, f: &AppealFilter| {
            let r = ListRequest { order: OrderField::ReceivedAt, limit: 50, ..ListRequest::default() };
            let (_, list) = list_statements(backend, &refs, scope, f, tz, now, r).unwrap();
            let (stmt, source) = list.count_statement(backend);
            (source, stmt.sql)
        };
        let (sqlite, postgres) = (sea_orm::DatabaseBackend::Sqlite, sea_orm::DatabaseBackend::Postgres);
        let all = AppealScope::for_token_reading_all();
        let word = AppealFilter { search: Some("фонари во дворе".into()), ..Default::default() };
        let (from, sql) = source(sqlite, &all, &word);
        assert_eq!(from, "search index");
        assert_eq!(sql, r#"SELECT COUNT(*) AS n FROM appeals_fts WHERE appeals_fts MATCH '"фонар" "двор"'"#);
        assert_eq!(source(postgres, &all, &word).0, "appeals");
        // Any other condition, or a scope that narrows, is counted through `appeals`.
        let user = crate::domain::access::UserPrincipal {
            id: 1,
            email: "c@x".into(),
            roles: vec![crate::domain::access::Role::Curator],
            channels: Vec::new(),
            recipient_id: None,
            territory_id: Some(7),
        };
        let district = AppealScope::for_user(&user, Some(HashSet::from([7])));
        let filtered = [
            AppealFilter { status: vec![AppealStatus::Closed], ..word.clone() },
            AppealFilter { received_from: NaiveDate::from_ymd_opt(2026, 11, 1), ..word.clone() },
            AppealFilter { sla_state: vec![SlaState::Overdue], ..word.clone() },
        ];
        for f in &filtered {
            assert_eq!(source(sqlite, &all, f).0, "appeals", "{f:?}");
        }
        assert_eq!(source(sqlite, &district, &word).0, "appeals");
        // A search without a word (stop words only) is no search: summed from the rollups.
        let stop = AppealFilter { search: Some("и на".into()), ..Default::default() };
        assert_eq!(source(sqlite, &all, &stop).0, "rollup");
    }

    #[test]
    fn a_common_search_or_category_is_counted_in_the_page_statement_on_sqlite_only() {
        let refs = ReferenceData::default();
        let scope = AppealScope::for_token_reading_all();
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        let tz = chrono_tz::Asia::Krasnoyarsk;
        let sql = |backend, f: &AppealFilter, order, search_order: bool| {
            let order = if search_order { OrderField::Relevance } else { order };
            let r = ListRequest { order, limit: 50, ..ListRequest::default() };
            list_statements(backend, &refs, &scope, f, tz, now, r).unwrap().0.sql
        };
        let sqlite = sea_orm::DatabaseBackend::Sqlite;
        let walks = r#"+"appeals"."id" IN (SELECT rowid FROM appeals_fts WHERE appeals_fts MATCH"#;
        let word = AppealFilter { search: Some("фонари".into()), ..Default::default() };
        let counted = sql(sqlite, &word, OrderField::ReceivedAt, false);
        assert!(counted.starts_with(r#"WITH RECURSIVE "walk_bound""#), "{counted}");
        assert_eq!(counted.matches(walks).count(), 1, "{counted}");
        assert!(counted.contains(r#"("appeals"."id" IN (SELECT rowid FROM appeals_fts"#), "the read branch: {counted}");
        for (f, order, ranked) in [
            (&word, OrderField::ReceivedAt, true),
            (&AppealFilter { search: Some("фонари во дворе".into()), ..Default::default() }, OrderField::DueAt, false),
        ] {
            assert!(!sql(sqlite, f, order, ranked).contains("walk_bound"), "{f:?} {order:?}");
        }
        let forms = AppealFilter { search: Some("фонари фонарь".into()), ..Default::default() };
        assert!(sql(sqlite, &forms, OrderField::Number, false).contains(walks), "one word in two forms");
        let roads = AppealFilter { category_id: vec![CategoryId(9001)], ..Default::default() };
        let by_due = sql(sqlite, &roads, OrderField::DueAt, false);
        assert!(
            by_due.contains(r#"SELECT 1 FROM "appeals" WHERE "appeals"."category_id" IN (9001) LIMIT"#),
            "{by_due}"
        );
        assert!(by_due.contains(r#"+"appeals"."category_id" IN (9001)"#), "{by_due}");
        let month = AppealFilter { received_from: NaiveDate::from_ymd_opt(2026, 3, 1), ..roads.clone() };
        assert!(!sql(sqlite, &roads, OrderField::ReceivedAt, false).contains("walk_bound"), "its own index");
        assert!(!sql(sqlite, &month, OrderField::DueAt, false).contains("walk_bound"), "within a period");
        let postgres = sea_orm::DatabaseBackend::Postgres;
        for (f, order) in [(&word, OrderField::ReceivedAt), (&roads, OrderField::DueAt)] {
            let pg = sql(postgres, f, order, false);
            assert!(!pg.contains("walk") && !pg.contains('+'), "{pg}");
        }
    }

    /// Fifty appeals on an SQLite database in memory, migrated: received a few minutes
    /// apart in an order unlike their ids' (after the sample's deadline and last change, most
    /// of them: the partial indexes of keys before the receipt hold those), the even ones of
    /// category 9001, every fifth holding the word «фонарь», all «двор».
    async fn fifty_appeals() -> sea_orm::DatabaseConnection {
        use migration::MigratorTrait;
        use sea_orm::{ActiveModelTrait, IntoActiveModel};
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        migration::Migrator::up(&db, None).await.unwrap();
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        db.execute_unprepared(
            "INSERT INTO categories (id, name, active, version, created_at) VALUES (9001, 'Проба', true, 1, '2026-01-01T00:00:00Z')",
        )
        .await
        .unwrap();
        for id in 1..=50_i64 {
            let received = t + chrono::Duration::minutes((id * 37) % 50);
            let category_id = (id % 2 == 0).then_some(9001);
            let model =
                appeal::Model { id, number: format!("2026-{id:06}"), received_at: received, category_id, ..sample() };
            model.into_active_model().reset_all().insert(&db).await.unwrap();
            let text = if id % 5 == 0 { "фонар двор" } else { "двор" };
            db.execute_unprepared(&format!("INSERT INTO appeals_fts (rowid, search_text) VALUES ({id}, '{text}')"))
                .await
                .unwrap();
        }
        // Written around the store: the spans of numbers the store would have widened.
        crate::store::number_days::rebuild(&db).await.unwrap();
        db
    }

    /// The count deciding a page's branch, on a real SQLite database: from
    /// `√(appeals × (limit + 1))` matches on, the page walks.
    #[tokio::test]
    async fn a_page_walks_from_the_square_root_of_the_appeals_and_the_page() {
        let db = fifty_appeals().await;
        let decided = |matched: &'static str, read: u64| {
            let db = &db;
            async move {
                let sql = format!(r#"{}SELECT "common" FROM "walk""#, walk_decision(matched, read));
                let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
                row.unwrap().try_get_by_index::<bool>(0).unwrap()
            }
        };
        let word = r#"SELECT rowid FROM appeals_fts WHERE appeals_fts MATCH '"фонар"'"#;
        // 10 matches of 50 appeals: walked for a page of 1 (√(50 × 2) = 10), not of 2.
        assert!(decided(word, 2).await);
        assert!(!decided(word, 3).await);
        assert!(decided(r#"SELECT rowid FROM appeals_fts WHERE appeals_fts MATCH '"двор"'"#, 11).await);
        assert!(!decided(r#"SELECT rowid FROM appeals_fts WHERE appeals_fts MATCH '"нет"'"#, 1).await);
        // 25 of the 50 in the category: walked for a page of 10 (√(50 × 11) = 24), not of
        // 20 (√(50 × 21) = 33).
        let category = r#"SELECT 1 FROM "appeals" WHERE "appeals"."category_id" IN (9001)"#;
        assert!(decided(category, 11).await);
        assert!(!decided(category, 21).await);
        // Counted up to a power of two at least the bound, not every match.
        let bound = format!(r#"{}SELECT max("n") FROM "walk_bound""#, walk_decision(word, 51));
        let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), bound)).await.unwrap();
        assert_eq!(row.unwrap().try_get_by_index::<i64>(0).unwrap(), 64, "√(50 × 51) = 50.5");
    }

    /// The branch not chosen never runs, on a real SQLite database: poisoned with a condition
    /// that fails when evaluated, it does not fail the page; the chosen one does.
    #[tokio::test]
    async fn the_branch_not_chosen_is_not_read() {
        let db = fifty_appeals().await;
        let f = AppealFilter { search: Some("двор".into()), ..Default::default() };
        let p = page_request(&f, ListRequest { order: OrderField::DueAt, limit: 5, ..ListRequest::default() });
        let refs = ReferenceData::default();
        let scope = AppealScope::for_token_reading_all();
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        let tz = chrono_tz::Asia::Krasnoyarsk;
        let backend = sea_orm::DatabaseBackend::Sqlite;
        let parts = filtered_parts(backend, &refs, &scope, &f, tz, now);
        let (matched, hints) = counted_walk(backend, &refs, &p, &f).unwrap();
        let walking = PageRequest { hints, ..p.clone() };
        let statement = |p: &PageRequest, poisoned: bool| {
            let mut stmt = read_page_statement(backend, &refs, &scope, &f, tz, now, &parts, p).unwrap();
            if poisoned {
                stmt.sql = stmt.sql.replacen(" WHERE ", " WHERE json('not json') IS NOT NULL AND ", 1);
            }
            stmt
        };
        // Every appeal holds «двор»: the page walks.
        for (read_poisoned, walk_poisoned, fails) in [(false, false, false), (true, false, false), (false, true, true)]
        {
            let stmt = counted_choice(
                &matched,
                p.limit + 1,
                statement(&p, read_poisoned),
                statement(&walking, walk_poisoned),
                &p,
            );
            let rows = db.query_all_raw(stmt).await;
            assert_eq!(rows.is_err(), fails, "read poisoned {read_poisoned}, walk poisoned {walk_poisoned}");
            if let Ok(rows) = rows {
                assert_eq!(rows.len(), 6);
            }
        }
    }

    /// A page of a search that many appeals match, or of a category many appeals are of, on
    /// a real SQLite database, read whichever way the count decides: the rows in the order,
    /// page after page.
    #[tokio::test]
    async fn a_common_search_or_category_is_paged_in_order_either_way_on_sqlite() {
        let db = fifty_appeals().await;
        let refs = ReferenceData::default();
        let scope = AppealScope::for_token_reading_all();
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        let tz = chrono_tz::Asia::Krasnoyarsk;
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let all_pages = |f: AppealFilter, req: ListRequest| {
            let (db, refs, scope) = (&db, &refs, &scope);
            async move {
                let (mut read, mut after) = (Vec::new(), None);
                loop {
                    let r = ListRequest { after: after.clone(), ..req.clone() };
                    let list = list(db, refs, scope, &f, tz, now, r).await.unwrap();
                    read.extend(list.page.rows.iter().map(|(_, a)| a.id.0));
                    if !list.page.has_next {
                        break read;
                    }
                    after = list.page.rows.last().map(|(c, a)| c.encode(a));
                }
            }
        };
        let mut expected: Vec<(DateTime<Utc>, i64)> = (1..=50_i64)
            .filter(|id| id % 5 == 0)
            .map(|id| (t + chrono::Duration::minutes((id * 37) % 50), id))
            .collect();
        expected.sort();
        let expected: Vec<i64> = expected.iter().map(|(_, id)| *id).collect();
        let f = AppealFilter { search: Some("фонари".into()), ..Default::default() };
        // Pages of 1 walk (10 matches of 50), pages of 2 and more read the matches.
        for limit in [1, 2, 4] {
            let req = ListRequest { order: OrderField::ReceivedAt, limit, ..ListRequest::default() };
            assert_eq!(all_pages(f.clone(), req).await, expected, "pages of {limit}");
        }
        // The category by deadline, newest first (all share one deadline: by id): pages of
        // 10 walk, of 20 read.
        let roads = AppealFilter { category_id: vec![CategoryId(9001)], ..Default::default() };
        for limit in [10, 20] {
            let req = ListRequest { order: OrderField::DueAt, descending: true, limit, ..ListRequest::default() };
            let want: Vec<i64> = (1..=25_i64).rev().map(|i| i * 2).collect();
            assert_eq!(all_pages(roads.clone(), req).await, want, "pages of {limit}");
        }
    }

    /// A receipt period's page newest first on a real SQLite database, within the walk's
    /// budget and past it: the same rows as the page read and sorted, in every order it
    /// applies to, from the start and after a cursor; the page read and sorted runs only when
    /// the walk fell short.
    #[tokio::test]
    async fn a_budgeted_walk_gives_the_page_read_and_sorted_and_reads_it_only_when_short() {
        let db = fifty_appeals().await;
        let refs = ReferenceData::default();
        let scope = AppealScope::for_token_reading_all();
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        let tz = chrono_tz::Asia::Krasnoyarsk;
        let backend = sea_orm::DatabaseBackend::Sqlite;
        // Every fifth appeal (10 of 50), all received in the period.
        let f = AppealFilter {
            search: Some("фонари во дворе".into()),
            received_from: NaiveDate::from_ymd_opt(2026, 3, 1),
            ..Default::default()
        };
        let parts = filtered_parts(backend, &refs, &scope, &f, tz, now);
        let ids = |rows: Vec<QueryResult>| -> Vec<i64> {
            rows.iter().map(|r| r.try_get_by_index::<i64>(0).unwrap()).collect()
        };
        for order in [OrderField::DueAt, OrderField::UpdatedAt] {
            let req = ListRequest { order, descending: true, limit: 2, ..ListRequest::default() };
            let first = page_request(&f, req.clone());
            let rows = list(&db, &refs, &scope, &f, tz, now, req.clone()).await.unwrap();
            assert_eq!(rows.page.rows.iter().map(|(_, a)| a.id.0).collect::<Vec<_>>(), [50, 45], "{order:?}");
            let after = rows.page.rows.last().map(|(c, a)| c.encode(a));
            let next = page_request(&f, ListRequest { after, ..req });
            for (p, want) in [(&first, [50, 45, 40]), (&next, [40, 35, 30])] {
                let read = read_page_statement(backend, &refs, &scope, &f, tz, now, &parts, p).unwrap();
                assert_eq!(ids(db.query_all_raw(read.clone()).await.unwrap()), want);
                // 6 appeals walked hold 1 or 2 of the filter's: short; 20 hold 4: enough.
                for budget in [6, 20, 1000] {
                    let stmt = budgeted_walk(backend, &refs, &f, tz, &parts, p, read.clone(), budget).unwrap();
                    assert!(stmt.sql.starts_with(r#"WITH "walked" AS MATERIALIZED"#), "{}", stmt.sql);
                    assert_eq!(ids(db.query_all_raw(stmt).await.unwrap()), want, "{order:?} budget {budget}");
                }
                let mut poisoned = read.clone();
                poisoned.sql = poisoned.sql.replacen(" WHERE ", " WHERE json('not json') IS NOT NULL AND ", 1);
                let short = budgeted_walk(backend, &refs, &f, tz, &parts, p, poisoned.clone(), 6).unwrap();
                assert!(db.query_all_raw(short).await.is_err(), "short of the page, it is read and sorted");
                let enough = budgeted_walk(backend, &refs, &f, tz, &parts, p, poisoned, 20).unwrap();
                assert_eq!(ids(db.query_all_raw(enough).await.unwrap()), want, "found, nothing else is read");
            }
        }
        // By number, either way: the page read within the period's span of numbers, with
        // no walk within a budget.
        for (descending, after, want) in [
            (false, None, vec![5, 10, 15]),
            (false, Some(15), vec![20, 25, 30]),
            (true, None, vec![50, 45, 40]),
            (true, Some(40), vec![35, 30, 25]),
        ] {
            let req = ListRequest { order: OrderField::Number, descending, limit: 2, ..ListRequest::default() };
            let mut p = page_request(&f, req);
            p.after = after.map(|id| encode_key(&CursorKey { k: format!("2026-{id:06}"), id }));
            let read = read_page_statement(backend, &refs, &scope, &f, tz, now, &parts, &p).unwrap();
            assert!(read.sql.contains("appeal_number_days"), "{}", read.sql);
            assert_eq!(ids(db.query_all_raw(read.clone()).await.unwrap()), want);
            assert_eq!(budgeted_walk(backend, &refs, &f, tz, &parts, &p, read.clone(), 20).unwrap().sql, read.sql);
        }
        // Not by receipt nor number, not without a period (oldest first, not without its
        // first day), not for a narrow filter, not on PostgreSQL.
        let plain = |f: &AppealFilter, order, descending, backend| {
            let p = page_request(f, ListRequest { order, descending, limit: 5, ..ListRequest::default() });
            let parts = filtered_parts(backend, &refs, &scope, f, tz, now);
            let read = read_page_statement(backend, &refs, &scope, f, tz, now, &parts, &p).unwrap();
            budgeted_walk(backend, &refs, f, tz, &parts, &p, read.clone(), 100).unwrap().sql == read.sql
        };
        assert!(!plain(&f, OrderField::DueAt, true, backend));
        assert!(plain(&f, OrderField::Number, true, backend));
        assert!(plain(&f, OrderField::ReceivedAt, true, backend));
        assert!(!plain(&f, OrderField::DueAt, false, backend));
        assert!(!plain(&f, OrderField::UpdatedAt, false, backend));
        assert!(plain(&AppealFilter { received_from: None, ..f.clone() }, OrderField::DueAt, true, backend));
        let until = AppealFilter { received_from: None, received_to: NaiveDate::from_ymd_opt(2026, 4, 1), ..f.clone() };
        assert!(!plain(&until, OrderField::DueAt, true, backend));
        assert!(plain(&until, OrderField::DueAt, false, backend));
        let roads = AppealFilter { category_id: vec![CategoryId(9001)], ..f.clone() };
        assert!(plain(&roads, OrderField::DueAt, true, backend));
        let open = AppealFilter { status: vec![AppealStatus::InProgress], ..f.clone() };
        assert!(plain(&open, OrderField::DueAt, true, backend));
        assert!(plain(&f, OrderField::DueAt, true, sea_orm::DatabaseBackend::Postgres));
    }

    /// A receipt period's page oldest first by deadline or last change on a real SQLite
    /// database: the walk starts at the period's first instant, past appeals received before
    /// the period whose keys lie after it, and the period's appeals keyed before that instant
    /// (before their receipt) come first from the second run; every page, within the budget
    /// and past it, is the page read and sorted.
    #[tokio::test]
    async fn an_oldest_first_walk_starts_at_the_period_and_keeps_the_appeals_keyed_before_it() {
        use sea_orm::{ActiveModelTrait, IntoActiveModel};
        let db = fifty_appeals().await;
        let refs = ReferenceData::default();
        let scope = AppealScope::for_token_reading_all();
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        let tz = chrono_tz::Asia::Krasnoyarsk;
        let backend = sea_orm::DatabaseBackend::Sqlite;
        let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, d / 100, d % 100, h, 0, 0).unwrap();
        let mut keys = std::collections::BTreeMap::new();
        for id in 1..=50_i64 {
            let a = appeal::Entity::find_by_id(id).one(&db).await.unwrap().unwrap();
            let (due, updated) = match id {
                // Before its receipt and before the period (2026-03-01 in Krasnoyarsk,
                // 2026-02-28 17:00 UTC): only the second run finds it.
                5 => (at(201, 0), at(201, 0)),
                // Before its receipt, after the period's start: walked.
                10 => (at(301, 12), at(301, 12)),
                _ => (
                    a.received_at + chrono::Duration::hours((id * 7) % 50),
                    a.received_at + chrono::Duration::minutes((id * 11) % 50),
                ),
            };
            keys.insert(id, (due, updated));
            let mut m = a.into_active_model();
            m.due_at = sea_orm::Set(due);
            m.updated_at = sea_orm::Set(updated);
            m.update(&db).await.unwrap();
        }
        // Received before the period, keyed after its start and before all of its appeals
        // (51 to 60: a walk from the start passes them); received and keyed in January (61
        // to 85: a walk from the first key of all would pass them before any appeal of the
        // period, and 30 would hold none).
        for (ids, received, key) in [(51..=60_i64, at(220, 9), at(301, 0)), (61..=85, at(110, 9), at(120, 0))] {
            for id in ids {
                let number = format!("2026-{id:06}");
                let model =
                    appeal::Model { id, number, received_at: received, due_at: key, updated_at: key, ..sample() };
                model.into_active_model().reset_all().insert(&db).await.unwrap();
                let fts = format!("INSERT INTO appeals_fts (rowid, search_text) VALUES ({id}, 'фонар двор')");
                db.execute_unprepared(&fts).await.unwrap();
            }
        }
        let period = AppealFilter {
            search: Some("фонари во дворе".into()),
            received_from: NaiveDate::from_ymd_opt(2026, 3, 1),
            ..Default::default()
        };
        let ids = |rows: Vec<QueryResult>| -> Vec<i64> {
            rows.iter().map(|r| r.try_get_by_index::<i64>(0).unwrap()).collect()
        };
        // The period alone, and one channel (by deadline, its own index is walked).
        let cases = [(period.clone(), OrderField::DueAt), (period.clone(), OrderField::UpdatedAt)];
        let pos = AppealFilter { channel: vec![Channel::Pos], ..period.clone() };
        let cases = cases.into_iter().chain([(pos.clone(), OrderField::DueAt), (pos, OrderField::UpdatedAt)]);
        for (f, order) in cases {
            let parts = filtered_parts(backend, &refs, &scope, &f, tz, now);
            let own_index = !f.channel.is_empty() && order == OrderField::DueAt;
            let key = |id: &i64| if order == OrderField::DueAt { keys[id].0 } else { keys[id].1 };
            let mut expected: Vec<i64> = (1..=50).filter(|id| id % 5 == 0).collect();
            expected.sort_by_key(|id| (key(id), *id));
            assert_eq!(&expected[..2], [5, 10], "{order:?}");
            let req = ListRequest { order, limit: 2, ..ListRequest::default() };
            let (mut seen, mut after) = (Vec::new(), None);
            loop {
                let p = page_request(&f, ListRequest { after: after.clone(), ..req.clone() });
                let read = read_page_statement(backend, &refs, &scope, &f, tz, now, &parts, &p).unwrap();
                let want = ids(db.query_all_raw(read.clone()).await.unwrap());
                // 4 appeals walked from the start are the ten received before the period
                // (short of the page); 30 hold it.
                for budget in [4, 30, 1000] {
                    let stmt = budgeted_walk(backend, &refs, &f, tz, &parts, &p, read.clone(), budget).unwrap();
                    assert!(stmt.sql.starts_with(r#"WITH "walked" AS MATERIALIZED"#), "{}", stmt.sql);
                    assert_eq!(stmt.sql.contains(r#"INDEXED BY "ix_appeals_channel_due""#), own_index, "{}", stmt.sql);
                    assert_eq!(ids(db.query_all_raw(stmt).await.unwrap()), want, "{order:?} budget {budget}");
                }
                if want.len() == 3 {
                    let mut poisoned = read.clone();
                    poisoned.sql = poisoned.sql.replace(" WHERE ", " WHERE json('not json') IS NOT NULL AND ");
                    let short = budgeted_walk(backend, &refs, &f, tz, &parts, &p, poisoned.clone(), 4).unwrap();
                    assert!(db.query_all_raw(short).await.is_err(), "short of the page, it is read and sorted");
                    let enough = budgeted_walk(backend, &refs, &f, tz, &parts, &p, poisoned, 30).unwrap();
                    assert_eq!(ids(db.query_all_raw(enough).await.unwrap()), want, "found, nothing else is read");
                }
                let list = list(&db, &refs, &scope, &f, tz, now, ListRequest { after, ..req.clone() }).await.unwrap();
                let got: Vec<i64> = list.page.rows.iter().map(|(_, a)| a.id.0).collect();
                assert_eq!(got[..], want[..Ord::min(want.len(), 2)], "{order:?}");
                seen.extend(got);
                if !list.page.has_next {
                    break;
                }
                after = list.page.rows.last().map(|(c, a)| c.encode(a));
            }
            assert_eq!(seen, expected, "{order:?}");
        }
    }

    /// A page of a receipt period by number, and only by number, keeps to the span of the
    /// numbers of the UTC days the period touches, on either backend; the bounds are left
    /// out on a side the period leaves open.
    #[test]
    fn a_receipt_period_by_number_keeps_to_the_span_of_the_numbers_of_its_days() {
        use sea_orm::DatabaseBackend::{Postgres, Sqlite};
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let march = AppealFilter { received_from: d("2026-03-01"), received_to: d("2026-03-31"), ..Default::default() };
        for backend in [Postgres, Sqlite] {
            let by = |f: &AppealFilter, order, descending| {
                page_sql(backend, f, ListRequest { order, descending, limit: 50, ..ListRequest::default() })
            };
            for descending in [false, true] {
                let stmt = by(&march, OrderField::Number, descending);
                assert_eq!(stmt.sql.matches("appeal_number_days").count(), 2, "{}", stmt.sql);
                assert!(stmt.sql.contains(r#"MIN("first_order")"#) || stmt.sql.contains(r#"min("first_order")"#));
                // Local midnight in Krasnoyarsk (UTC+7): from 28 February 17:00 UTC to the
                // instant before 31 March 17:00 UTC.
                let values = stmt.values.clone().map(|v| v.0).unwrap_or_default();
                let days: Vec<String> = values
                    .iter()
                    .filter_map(|v| match v {
                        sea_orm::Value::String(Some(s)) if s.len() == 10 => Some(s.clone()),
                        _ => None,
                    })
                    .collect();
                assert_eq!(days, ["2026-02-28", "2026-03-31", "2026-02-28", "2026-03-31"], "{backend:?}");
            }
            for order in [OrderField::ReceivedAt, OrderField::DueAt, OrderField::UpdatedAt] {
                assert!(!by(&march, order, false).sql.contains("appeal_number_days"), "{order:?}");
            }
            assert!(!by(&AppealFilter::default(), OrderField::Number, false).sql.contains("appeal_number_days"));
            let from = AppealFilter { received_to: None, ..march.clone() };
            let sql = by(&from, OrderField::Number, false).sql;
            assert_eq!((sql.matches("first_order").count(), sql.matches("last_order").count()), (1, 0), "{sql}");
            let to = AppealFilter { received_from: None, ..march.clone() };
            let sql = by(&to, OrderField::Number, true).sql;
            assert_eq!((sql.matches("first_order").count(), sql.matches("last_order").count()), (0, 1), "{sql}");
        }
    }

    /// SQLite: the on-time appeals oldest first by number or last change read the partial
    /// index of unresolved appeals by due-soon instant, told so only there (newest first, by
    /// receipt or deadline, with another state and on PostgreSQL it is not), and the told
    /// statement runs on a real database with the rows of the untold one.
    #[tokio::test]
    async fn the_on_time_appeals_oldest_first_are_read_from_their_due_soon_index_on_sqlite() {
        use sea_orm::DatabaseBackend::{Postgres, Sqlite};
        let on_time = AppealFilter { sla_state: vec![SlaState::OnTime], ..Default::default() };
        let told = r#"FROM "appeals" INDEXED BY "ix_appeals_unresolved_soon" "#;
        let sql = |backend, f: &AppealFilter, order, descending| {
            page_sql(backend, f, ListRequest { order, descending, limit: 2, ..ListRequest::default() })
        };
        for order in [OrderField::Number, OrderField::UpdatedAt] {
            assert!(sql(Sqlite, &on_time, order, false).sql.contains(told), "{order:?}");
            assert!(!sql(Sqlite, &on_time, order, true).sql.contains(told), "{order:?} newest first");
            assert!(!sql(Postgres, &on_time, order, false).sql.contains("INDEXED BY"), "{order:?}");
        }
        for order in [OrderField::ReceivedAt, OrderField::DueAt] {
            assert!(!sql(Sqlite, &on_time, order, false).sql.contains(told), "{order:?}");
        }
        // By receipt, either way: the unresolved appeals' index by receipt, which holds the
        // due-soon instant; not for a category, territory, recipient or search, nor on
        // PostgreSQL.
        let by_receipt = r#"FROM "appeals" INDEXED BY "ix_appeals_unresolved" "#;
        for descending in [false, true] {
            assert!(sql(Sqlite, &on_time, OrderField::ReceivedAt, descending).sql.contains(by_receipt));
            assert!(!sql(Postgres, &on_time, OrderField::ReceivedAt, descending).sql.contains("INDEXED BY"));
            for narrowed in [
                AppealFilter { category_id: vec![CategoryId(9001)], ..on_time.clone() },
                AppealFilter { territory_id: vec![TerritoryId(7)], ..on_time.clone() },
                AppealFilter { recipient_id: vec![RecipientId(5)], ..on_time.clone() },
                AppealFilter { search: Some("фонари".into()), ..on_time.clone() },
            ] {
                let s = sql(Sqlite, &narrowed, OrderField::ReceivedAt, descending).sql;
                assert!(!s.contains(r#"INDEXED BY "ix_appeals_unresolved" "#), "{s}");
            }
            for order in [OrderField::DueAt, OrderField::Number, OrderField::UpdatedAt] {
                assert!(!sql(Sqlite, &on_time, order, descending).sql.contains(by_receipt), "{order:?}");
            }
        }
        let overdue = AppealFilter { sla_state: vec![SlaState::Overdue], ..Default::default() };
        assert!(!sql(Sqlite, &overdue, OrderField::ReceivedAt, true).sql.contains(by_receipt));
        // The overdue appeals by deadline, either way: the unresolved appeals' index by
        // deadline; not when narrowed, by another order, or on PostgreSQL.
        let by_deadline = r#"FROM "appeals" INDEXED BY "ix_appeals_unresolved_due" "#;
        for descending in [false, true] {
            assert!(sql(Sqlite, &overdue, OrderField::DueAt, descending).sql.contains(by_deadline));
            assert!(!sql(Postgres, &overdue, OrderField::DueAt, descending).sql.contains("INDEXED BY"));
            let mine = AppealFilter { recipient_id: vec![RecipientId(5)], ..overdue.clone() };
            assert!(!sql(Sqlite, &mine, OrderField::DueAt, descending).sql.contains(by_deadline));
            for order in [OrderField::ReceivedAt, OrderField::Number, OrderField::UpdatedAt] {
                assert!(!sql(Sqlite, &overdue, order, descending).sql.contains(by_deadline), "{order:?}");
            }
            assert!(!sql(Sqlite, &on_time, OrderField::DueAt, descending).sql.contains(by_deadline));
        }
        let soon = AppealFilter { sla_state: vec![SlaState::OnTime, SlaState::DueSoon], ..Default::default() };
        assert!(!sql(Sqlite, &soon, OrderField::Number, false).sql.contains(told));
        // On a real database: the fifty appeals unresolved, a third of them not yet due soon.
        let db = fifty_appeals().await;
        db.execute_unprepared(
            "UPDATE appeals SET resolved_at = NULL, due_soon_at = CASE WHEN id % 3 = 0 \
             THEN '2026-12-01T00:00:00+00:00' ELSE '2026-11-01T00:00:00+00:00' END, due_at = '2026-12-05T00:00:00+00:00'",
        )
        .await
        .unwrap();
        let ids = |rows: Vec<QueryResult>| -> Vec<i64> {
            rows.iter().map(|r| r.try_get_by_index::<i64>(0).unwrap()).collect()
        };
        let stmt = sql(Sqlite, &on_time, OrderField::Number, false);
        let mut untold = stmt.clone();
        untold.sql = untold.sql.replace(told, r#"FROM "appeals" "#);
        assert_eq!(ids(db.query_all_raw(stmt).await.unwrap()), [3, 6, 9]);
        assert_eq!(ids(db.query_all_raw(untold).await.unwrap()), [3, 6, 9]);
        // By receipt: each appeal received at minute (id × 37) mod 50 past 09:00.
        for (descending, want) in [(false, [42, 15, 30]), (true, [27, 12, 39])] {
            let stmt = sql(Sqlite, &on_time, OrderField::ReceivedAt, descending);
            let mut untold = stmt.clone();
            untold.sql = untold.sql.replace(by_receipt, r#"FROM "appeals" "#);
            assert_ne!(stmt.sql, untold.sql);
            assert_eq!(ids(db.query_all_raw(untold).await.unwrap()), want, "descending {descending}");
            assert_eq!(ids(db.query_all_raw(stmt).await.unwrap()), want, "descending {descending}");
        }
        // Overdue by deadline: ids 1 to 20 due on 2026-11-01 at minute (id × 7) mod 20, so
        // several share one instant, the rest after now.
        db.execute_unprepared(
            "UPDATE appeals SET due_at = CASE WHEN id <= 20 THEN strftime('%Y-%m-%dT%H:%M:00+00:00', \
             '2026-11-01T00:00:00', '+' || ((id * 7) % 20 / 4) || ' minutes') ELSE '2026-12-05T00:00:00+00:00' END",
        )
        .await
        .unwrap();
        for (descending, want) in [(false, [3, 6, 9]), (true, [17, 14, 11])] {
            let stmt = sql(Sqlite, &overdue, OrderField::DueAt, descending);
            let mut untold = stmt.clone();
            untold.sql = untold.sql.replace(by_deadline, r#"FROM "appeals" "#);
            assert_ne!(stmt.sql, untold.sql);
            assert_eq!(ids(db.query_all_raw(untold).await.unwrap()), want, "descending {descending}");
            assert_eq!(ids(db.query_all_raw(stmt).await.unwrap()), want, "descending {descending}");
        }
    }

    #[test]
    fn the_page_reads_every_column_of_the_entity_in_order() {
        use sea_orm::{IdenStatic, Iterable};
        let names: Vec<&str> = APPEAL_COLUMNS.iter().map(IdenStatic::as_str).collect();
        assert_eq!(names, appeal::Column::iter().map(|c| c.as_str()).collect::<Vec<_>>());
        // `read_columns` orders by discriminant: it is the place in the list.
        assert!(APPEAL_COLUMNS.iter().enumerate().all(|(i, c)| *c as usize == i));
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
    fn totals_are_summed_from_the_rollups_only_for_filters_on_their_keys() {
        use sea_orm::DatabaseBackend::{Postgres, Sqlite};
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let now = Utc::now();
        let keyed = AppealFilter {
            status: vec![AppealStatus::Closed],
            kind: vec![AppealKind::Appeal],
            channel: vec![Channel::Pos],
            category_id: vec![CategoryId(1)],
            territory_id: vec![TerritoryId(2)],
            recipient_id: vec![RecipientId(3)],
            received_from: Some(d("2026-01-15")),
            received_to: Some(d("2026-03-31")),
            ..AppealFilter::default()
        };
        assert!(counted_from_rollups(&keyed, now));
        assert!(counted_from_rollups(&AppealFilter { search: Some("и на".into()), ..keyed.clone() }, now), "no words");
        for resolved in [vec![SlaState::Met], vec![SlaState::Missed], vec![SlaState::Missed, SlaState::Met]] {
            assert!(counted_from_rollups(&AppealFilter { sla_state: resolved, ..keyed.clone() }, now));
        }
        for other in [
            AppealFilter { sla_state: vec![SlaState::Overdue], ..keyed.clone() },
            AppealFilter { sla_state: vec![SlaState::Met, SlaState::OnTime], ..keyed.clone() },
            AppealFilter { due_before: Some(now - chrono::Duration::seconds(1)), ..keyed.clone() },
            AppealFilter { search: Some("дорога".into()), ..keyed.clone() },
        ] {
            assert!(!counted_from_rollups(&other, now), "{other:?}");
        }
        // Due before an instant not yet past: the sum less those due later, one statement.
        for due in [now, now + chrono::Duration::days(3)] {
            assert!(counted_from_rollups(&AppealFilter { due_before: Some(due), ..keyed.clone() }, now));
        }
        // The list's own conditions over the ledger read as `appeals`; whole months, then
        // weeks and days; the overview cube unless a category, territory or recipient is named.
        let status = Condition::all().add(literal_in(appeal::Column::Status, ["CLOSED"]));
        let r = RollupCount {
            condition: status.clone(),
            from: Some(d("2026-01-15")),
            to: Some(d("2026-03-31")),
            measure: Measure::All,
            due_later: None,
        };
        for backend in [Postgres, Sqlite] {
            let stmt = r.statement(backend);
            assert!(stmt.values.as_ref().is_none_or(|v| v.0.is_empty()), "written into the statement");
            let sql = stmt.sql;
            assert!(sql.contains(r#"FROM "appeal_stats" AS "appeals""#), "{sql}");
            assert!(sql.contains(r#""appeals"."status" IN ('CLOSED')"#), "{sql}");
            assert!(sql.contains(r#""appeals"."cube" = 'O'"#), "{sql}");
            assert!(
                sql.contains(r#""grain" = 'M' AND "appeals"."day" BETWEEN '2026-02-01' AND '2026-03-01'"#),
                "{sql}"
            );
            assert!(
                sql.contains(r#""grain" = 'D' AND "appeals"."day" BETWEEN '2026-01-15' AND '2026-01-18'"#),
                "{sql}"
            );
            assert!(
                sql.contains(r#""grain" = 'W' AND "appeals"."day" BETWEEN '2026-01-19' AND '2026-01-19'"#),
                "{sql}"
            );
            assert!(
                sql.contains(r#""grain" = 'D' AND "appeals"."day" BETWEEN '2026-01-26' AND '2026-01-31'"#),
                "{sql}"
            );
        }
        let placed = RollupCount {
            condition: status.add(literal_in(appeal::Column::RecipientId, [7_i64])),
            from: None,
            to: None,
            measure: Measure::Missed,
            due_later: None,
        };
        assert!(placed.statement(Postgres).sql.contains(r#""appeals"."cube" = 'F'"#));
        let anyhow = RollupCount {
            condition: Condition::all().add(literal_in(appeal::Column::TerritoryId, [7_i64, 8])),
            from: None,
            to: None,
            measure: Measure::All,
            due_later: None,
        };
        assert!(anyhow.statement(Postgres).sql.contains(r#""appeals"."cube" = 'T'"#), "no status: the topic cube");
        assert!(placed.statement(Sqlite).sql.contains(r#"SUM("appeals"."resolved" - "appeals"."resolved_met")"#));
    }

    #[test]
    fn a_search_is_written_as_letters_and_digits_only() {
        let s = Search::parse("Яма' OR 1=1; -- «дорога»").unwrap();
        assert!(s.words.split(' ').all(|w| w.chars().all(char::is_alphanumeric)), "{}", s.words);
        assert!(s.fts.split(' ').all(|w| w.starts_with('"') && w.ends_with('"')), "{}", s.fts);
        assert!(!s.fts.contains('\''), "{}", s.fts);
        assert!(Search::parse("и на, по").is_none(), "stop words only: nothing to search for");
        assert!(Search::parse("' % _").is_none());
    }

    #[test]
    fn a_ranked_word_is_one_stem_of_russian_or_latin_letters_or_of_digits() {
        let word = |t: &str| Search::parse(t).unwrap().ranked_word().map(str::to_owned);
        assert_eq!(word("Дороги").as_deref(), Some("дорог"));
        assert_eq!(word("дороги, дорогу!").as_deref(), Some("дорог"), "two forms are one word");
        assert_eq!(word("ЖКХ").as_deref(), Some("жкх"));
        assert_eq!(word("route").as_deref(), Some("route"));
        assert_eq!(word("007").as_deref(), Some("007"));
        assert_eq!(word("12e3x"), None, "letters and digits: PostgreSQL may read two lexemes");
        assert_eq!(word("ЖКХ2"), None);
        assert_eq!(word("дорога школа"), None, "two words: the one statement");
        assert_eq!(word("straße"), None, "a letter PostgreSQL's parser may read otherwise");
        assert_eq!(word("x²"), None);
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
        // A page is never told so: by another order than the deadline the status's index of
        // that order gives the page without a sort, and by deadline the status's own.
        let queue = appeal::Entity::find()
            .filter(literal_in(appeal::Column::Status, ["ASSIGNED", "IN_PROGRESS"]))
            .filter(Expr::cust(OPEN_STATUSES_PREDICATE));
        for order in [OrderField::DueAt, OrderField::ReceivedAt, OrderField::Number, OrderField::UpdatedAt] {
            let p = first_page(order, true);
            let sql = page_statement(Sqlite, &page_query(Sqlite, queue.clone(), &p).unwrap(), &p).unwrap().sql;
            assert!(!sql.contains("INDEXED BY"), "{order:?}: {sql}");
        }
    }

    #[test]
    fn sqlite_is_told_which_index_to_walk_where_a_filter_says_how_large_its_share_is() {
        use sea_orm::DatabaseBackend::{Postgres, Sqlite};
        let sql = |backend, f: &AppealFilter, order| {
            page_sql(backend, f, ListRequest { order, descending: true, limit: 50, ..ListRequest::default() }).sql
        };
        let closed = AppealFilter {
            channel: vec![Channel::Pos],
            kind: vec![AppealKind::Appeal],
            status: vec![AppealStatus::Closed],
            recipient_id: vec![RecipientId(5)],
            ..AppealFilter::default()
        };
        // A channel where no index of the channel gives the order: walk the order's index.
        let by_number = sql(Sqlite, &closed, OrderField::Number);
        assert!(by_number.contains(r#"+"appeals"."channel" IN ('POS')"#), "{by_number}");
        assert!(by_number.contains(r#"+"appeals"."kind" IN ('APPEAL')"#), "{by_number}");
        assert!(!by_number.contains(r#"+"appeals"."status""#), "{by_number}");
        assert!(!by_number.contains(r#"+"appeals"."recipient_id""#), "a recipient may be tiny: {by_number}");
        // `(channel, due_at, id)` and `(kind, due_at, id)` give the order themselves;
        // PostgreSQL is never told.
        assert!(!sql(Sqlite, &closed, OrderField::DueAt).contains(r#"+"appeals""#));
        assert!(!sql(Postgres, &closed, OrderField::Number).contains(r#"+"appeals""#));
        // Nor the channel within a receipt period, which the channel's index by receipt
        // reads directly; the kind has no such index and is walked past there too.
        let month = AppealFilter { received_from: NaiveDate::from_ymd_opt(2026, 10, 1), ..closed.clone() };
        let month_by_number = sql(Sqlite, &month, OrderField::Number);
        assert!(!month_by_number.contains(r#"+"appeals"."channel""#), "{month_by_number}");
        assert!(month_by_number.contains(r#"+"appeals"."kind" IN ('APPEAL')"#), "{month_by_number}");
        assert!(!sql(Sqlite, &month, OrderField::DueAt).contains(r#"+"appeals""#));
        // Statuses of work in hand: every other key column, in every order.
        let queue = AppealFilter { status: vec![AppealStatus::Assigned], ..closed.clone() };
        for order in [OrderField::DueAt, OrderField::ReceivedAt, OrderField::Number, OrderField::UpdatedAt] {
            let s = sql(Sqlite, &queue, order);
            assert!(s.contains(r#"+"appeals"."recipient_id" IN (5)"#), "{order:?}: {s}");
            assert!(s.contains(r#"+"appeals"."channel" IN ('POS')"#), "{order:?}: {s}");
            assert!(!s.contains(r#"+"appeals"."status""#), "{order:?}: {s}");
        }
        // The overdue appeals by another order than the deadline: the deadline's condition
        // and the key columns, so the unresolved appeals' index of the order is walked.
        let overdue = AppealFilter {
            sla_state: vec![SlaState::Overdue],
            recipient_id: vec![RecipientId(5)],
            ..Default::default()
        };
        let s = sql(Sqlite, &overdue, OrderField::UpdatedAt);
        assert!(s.contains(r#"+"appeals"."due_at" < ?"#), "{s}");
        assert!(s.contains(r#"+"appeals"."recipient_id" IN (5)"#), "{s}");
        assert!(!sql(Sqlite, &overdue, OrderField::DueAt).contains(r#"+"appeals""#));
        let either = AppealFilter { sla_state: vec![SlaState::Overdue, SlaState::Met], ..overdue.clone() };
        assert!(!sql(Sqlite, &either, OrderField::UpdatedAt).contains(r#"+"appeals""#));
        // A column walked past is not split into runs on SQLite (each run would walk the
        // same index from its start): the appeals in progress in two districts by receipt.
        // PostgreSQL, never told, reads one run a district.
        let districts = AppealFilter {
            status: vec![AppealStatus::InProgress],
            territory_id: vec![TerritoryId(7), TerritoryId(3)],
            ..Default::default()
        };
        let lite = sql(Sqlite, &districts, OrderField::ReceivedAt);
        assert!(!lite.contains("UNION"), "{lite}");
        assert!(lite.contains(r#"+"appeals"."territory_id" IN (3, 7)"#), "{lite}");
        assert_eq!(sql(Postgres, &districts, OrderField::ReceivedAt).matches(" UNION ALL ").count(), 1);
        // Two statuses of work in hand and two recipients: the runs are the statuses'.
        let queues = AppealFilter {
            status: vec![AppealStatus::Assigned, AppealStatus::InProgress],
            recipient_id: vec![RecipientId(5), RecipientId(6)],
            ..Default::default()
        };
        let lite = sql(Sqlite, &queues, OrderField::UpdatedAt);
        assert_eq!(lite.matches(" UNION ALL ").count(), 1, "{lite}");
        assert!(lite.contains(r#""appeals"."status" IN ('ASSIGNED')"#), "{lite}");
        assert_eq!(lite.matches(r#"+"appeals"."recipient_id" IN (5, 6)"#).count(), 2, "{lite}");
        // Not walked past, two recipients are two runs of the recipient's index on both.
        let recipients = AppealFilter { status: vec![AppealStatus::Closed], ..queues.clone() };
        for backend in [Sqlite, Postgres] {
            for order in [OrderField::UpdatedAt, OrderField::Number] {
                let s = sql(backend, &recipients, order);
                assert_eq!(s.matches(" UNION ALL ").count(), 1, "{backend:?} {order:?}: {s}");
                assert!(s.contains(r#""appeals"."recipient_id" IN (6)"#), "{backend:?} {order:?}: {s}");
                assert!(!s.contains(r#"+"appeals""#), "{backend:?} {order:?}: {s}");
            }
        }
        // PostgreSQL: the on-time appeals read newest first by another order than the
        // deadline keep their time conditions from the due-soon index; not oldest first,
        // not on SQLite, not with another state, and never the total. By deadline only the
        // due-soon condition is kept from it (below).
        let on_time = AppealFilter { sla_state: vec![SlaState::OnTime], ..Default::default() };
        let told = r#""appeals"."due_soon_at" + INTERVAL '0 s' > "#;
        let since = r#"(SELECT max("due_soon_at" - "received_at") FROM "appeals" WHERE "resolved_at" IS NULL)"#;
        for order in [OrderField::UpdatedAt, OrderField::ReceivedAt, OrderField::Number] {
            let s = sql(Postgres, &on_time, order);
            assert!(s.contains(told) && s.contains(r#""appeals"."due_at" + INTERVAL '0 s' > "#), "{order:?}: {s}");
            assert!(!s.contains(r#""appeals"."resolved_at" + "#), "{s}");
            assert!(!s.contains(since), "newest first: {order:?}: {s}");
            // Oldest first: from where the on-time appeals can start; by last change in two
            // runs, the second of the appeals changed before their receipt.
            let oldest = page_sql(Postgres, &on_time, ListRequest { order, limit: 50, ..ListRequest::default() });
            assert!(oldest.sql.contains(told) && oldest.sql.contains(since), "{}", oldest.sql);
            let runs = usize::from(order == OrderField::UpdatedAt);
            assert_eq!(oldest.sql.matches(" UNION ALL ").count(), runs, "{order:?}: {}", oldest.sql);
            let before_receipt = r#""appeals"."updated_at" < "appeals"."received_at""#;
            assert_eq!(oldest.sql.matches(before_receipt).count(), runs, "{order:?}: {}", oldest.sql);
            // The second run is kept from the unresolved appeals' indexes: its own is read.
            let unresolved_told = r#"("appeals"."resolved_at" + INTERVAL '0 s') IS NULL"#;
            assert_eq!(oldest.sql.matches(unresolved_told).count(), runs, "{order:?}: {}", oldest.sql);
            assert_eq!(oldest.sql.matches(r#""appeals"."resolved_at" IS NULL"#).count(), 1, "{}", oldest.sql);
            let sqlite = page_sql(Sqlite, &on_time, ListRequest { order, limit: 50, ..ListRequest::default() });
            assert!(!sqlite.sql.contains(since) && !sqlite.sql.contains("UNION"), "{}", sqlite.sql);
        }
        // With a period, by last change, from the later of its start and that instant.
        let month = AppealFilter { received_from: NaiveDate::from_ymd_opt(2026, 11, 1), ..on_time.clone() };
        let r = ListRequest { order: OrderField::UpdatedAt, limit: 50, ..ListRequest::default() };
        let s = page_sql(Postgres, &month, r.clone()).sql;
        assert_eq!(s.matches(&format!(r#""appeals"."updated_at" >= (GREATEST($4, $5 - {since}))"#)).count(), 1, "{s}");
        assert_eq!(s.matches(&format!(r#""appeals"."updated_at" < (GREATEST($4, $5 - {since}))"#)).count(), 1, "{s}");
        assert!(s.contains(told), "{s}");
        // Merged one run per recipient, there is no such start, and no walk is told.
        let recipients = AppealFilter { recipient_id: vec![RecipientId(5), RecipientId(6)], ..on_time.clone() };
        let s = page_sql(Postgres, &recipients, r).sql;
        assert!(!s.contains(since) && !s.contains("INTERVAL"), "{s}");
        // By deadline, both directions: the due-soon condition only.
        for descending in [true, false] {
            let r = ListRequest { order: OrderField::DueAt, descending, limit: 50, ..ListRequest::default() };
            let s = page_sql(Postgres, &on_time, r).sql;
            assert!(s.contains(told), "{descending}: {s}");
            assert!(s.contains(r#""appeals"."due_at" > "#) && !s.contains(r#""appeals"."due_at" + "#), "{s}");
        }
        let overdue = AppealFilter { sla_state: vec![SlaState::Overdue], ..Default::default() };
        assert!(!sql(Postgres, &overdue, OrderField::DueAt).contains("INTERVAL"));
        let due_soon = AppealFilter { sla_state: vec![SlaState::DueSoon], ..Default::default() };
        assert!(!sql(Postgres, &due_soon, OrderField::DueAt).contains("INTERVAL"));
        assert!(!sql(Sqlite, &on_time, OrderField::UpdatedAt).contains('+'));
        let soon = AppealFilter { sla_state: vec![SlaState::OnTime, SlaState::DueSoon], ..Default::default() };
        assert!(!sql(Postgres, &soon, OrderField::UpdatedAt).contains("INTERVAL"));
        let refs = ReferenceData::default();
        let scope = AppealScope::for_token_reading_all();
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        let total = filtered(Postgres, &refs, &scope, &on_time, chrono_tz::Asia::Krasnoyarsk, now).unwrap();
        assert!(!count_statement(Postgres, &total).sql.contains("INTERVAL"));
        assert!(!count_statement(Postgres, &total).sql.contains(since));
        // Said twice, a hint is not doubled.
        let p = PageRequest { hints: WalkHints::of(&closed), ..first_page(OrderField::Number, true) };
        let mut twice = by_number.clone();
        order_walk_hint(Sqlite, &p, &mut twice);
        assert_eq!(twice, by_number);
    }

    #[test]
    fn numbers_order_by_year_then_sequence_and_other_text_first() {
        assert!(number_order("2026-999999") < number_order("2026-1000000"));
        assert!(number_order("2025-9999999") < number_order("2026-000001"));
        assert_eq!(number_order("2026-000042"), number_order("2026-42"));
        assert_eq!(number_order("2026-000042"), 2026 * 10_000_000_000_000 + 42);
        assert_eq!(number_order("2026-9999999999999"), 2026 * 10_000_000_000_000 + 9_999_999_999_999);
        for other in
            ["", "2026", "2026-", "B-17", "2026-12a", "20261-1", "2026-10000000000000", "２０２６-1", "2026-+1"]
        {
            assert_eq!(number_order(other), 0, "{other}");
        }
    }
}
