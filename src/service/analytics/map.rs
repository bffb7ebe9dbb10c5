//! Where: the topic × territory heat map, appeals per H3 cell and problem points.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::TryStreamExt;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect};

use super::access::Scoped;
use super::query::{
    C2, Names, Resolved, buckets_of, days_in, filter_condition, not_duplicate, received_in, rollup_not_duplicate,
    sum_of,
};
use super::{Filter, GroupBy, Period, VisibleAppeal};
use crate::domain::access::Principal;
use crate::entity::{appeal, appeal_point_stat, appeal_stat, category, territory};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub use crate::domain::appeal::PROBLEM_POINT_RESOLUTION;

/// One cell of the heat map.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatCell {
    pub category_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub count: i64,
    pub previous_count: i64,
    pub per1000: Option<f64>,
}

/// The heat map: cells and the categories and territories that occur in them.
#[derive(Debug, Clone, Default)]
pub struct Heatmap {
    pub categories: Vec<category::Model>,
    pub territories: Vec<territory::Model>,
    pub cells: Vec<HeatCell>,
}

/// One H3 cell of the map.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoCell {
    pub cell: String,
    pub latitude: f64,
    pub longitude: f64,
    pub count: i64,
    pub top_category_id: Option<i64>,
}

/// Many appeals on one topic in one small place.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemPoint {
    pub cell: String,
    pub latitude: f64,
    pub longitude: f64,
    pub category_id: i64,
    pub count: i64,
    /// Up to three appeals of the point, newest first, only those the caller may see.
    pub sample: Vec<VisibleAppeal>,
}

async fn cell_counts(
    conn: &impl ConnectionTrait,
    cond: Condition,
) -> AppResult<HashMap<(Option<i64>, Option<i64>), i64>> {
    use appeal_stat::Column as S;
    let rows = appeal_stat::Entity::find()
        .filter(cond)
        .select_only()
        .column(S::CategoryId)
        .column(S::TerritoryId)
        .expr_as(sum_of("total"), "n")
        .group_by(S::CategoryId)
        .group_by(S::TerritoryId)
        .into_tuple::<(Option<i64>, Option<i64>, i64)>()
        .all(conn)
        .await?;
    Ok(rows.into_iter().filter(|r| r.2 != 0).map(|(c, t, n)| ((c, t), n)).collect())
}

/// Category × territory counts of non-duplicate appeals in the period, with the count of
/// the same-length period just before and the count per 1000 inhabitants.
///
/// # Errors
/// `UNAUTHENTICATED` or `FORBIDDEN` when `who` may not read analytics or asks for a recipient
/// it may not see.
pub async fn heatmap(state: &AppState, who: &Principal, period: Period, filter: &Filter) -> AppResult<Heatmap> {
    heatmap_of(state, who, period, filter, true).await
}

/// [`heatmap`], with the previous period's counts only when `previous` (what the client
/// selected; `previousCount` reads 0 otherwise).
///
/// # Errors
/// As [`heatmap`].
pub async fn heatmap_of(
    state: &AppState,
    who: &Principal,
    period: Period,
    filter: &Filter,
    previous: bool,
) -> AppResult<Heatmap> {
    let conn = &state.db;
    let scoped = Scoped::of(state, who, filter).await?;
    let names = Names::load(state).await?;
    let base = Resolved::of(&names, &scoped).on_rollup(Some(GroupBy::Category), false).add(rollup_not_duplicate());
    let current = cell_counts(conn, base.clone().add(days_in(period))).await?;
    let previous = if previous { cell_counts(conn, base.add(days_in(period.back(1)))).await? } else { HashMap::new() };
    let keys: HashSet<(Option<i64>, Option<i64>)> = current.keys().chain(previous.keys()).copied().collect();
    let mut cells: Vec<HeatCell> = keys
        .into_iter()
        .map(|(c, t)| {
            let count = current.get(&(c, t)).copied().unwrap_or(0);
            let population = t.and_then(|t| names.refs().territory(t)).and_then(|t| t.population).filter(|p| *p > 0);
            HeatCell {
                category_id: c,
                territory_id: t,
                count,
                previous_count: previous.get(&(c, t)).copied().unwrap_or(0),
                per1000: population.map(|p| count as f64 * 1000.0 / f64::from(p)),
            }
        })
        .collect();
    cells.sort_by(|a, b| {
        b.count.cmp(&a.count).then_with(|| (a.category_id, a.territory_id).cmp(&(b.category_id, b.territory_id)))
    });
    let used_c: HashSet<i64> = cells.iter().filter_map(|c| c.category_id).collect();
    let used_t: HashSet<i64> = cells.iter().filter_map(|c| c.territory_id).collect();
    let mut categories: Vec<category::Model> =
        names.refs().categories().filter(|c| used_c.contains(&c.id)).cloned().collect();
    categories.sort_by_key(|c| c.id);
    let mut territories: Vec<territory::Model> =
        names.refs().territories().filter(|t| used_t.contains(&t.id)).cloned().collect();
    territories.sort_by_key(|t| t.id);
    Ok(Heatmap { categories, territories, cells })
}

fn h3_resolution(path: &str, resolution: u8) -> AppResult<h3o::Resolution> {
    h3o::Resolution::try_from(resolution).map_err(|_| AppError::bad(path, "is not an H3 resolution"))
}

fn cell_of(lat: f64, lon: f64, res: h3o::Resolution) -> Option<h3o::CellIndex> {
    h3o::LatLng::new(lat, lon).ok().map(|p| p.to_cell(res))
}

fn centre(cell: h3o::CellIndex) -> (f64, f64) {
    let p = h3o::LatLng::from(cell);
    (p.lat(), p.lng())
}

/// Non-duplicate appeals with coordinates in the period, counted per H3 cell at `resolution`
/// (5..=10), with the cell's centre and its most frequent category.
///
/// # Errors
/// `BAD_USER_INPUT` on `resolution`; `UNAUTHENTICATED` or `FORBIDDEN` when `who` may not read
/// analytics or asks for a recipient it may not see.
pub async fn geo_cells(
    state: &AppState,
    who: &Principal,
    period: Period,
    resolution: u8,
    filter: &Filter,
) -> AppResult<Vec<GeoCell>> {
    use appeal::Column as C;
    let scoped = Scoped::of(state, who, filter).await?;
    if !(5..=10).contains(&resolution) {
        return Err(AppError::bad("resolution", "must be between 5 and 10"));
    }
    let res = h3_resolution("resolution", resolution)?;
    let conn = &state.db;
    let names = Names::load(state).await?;
    let (start, end) = period.instants(state.settings.timezone);
    let cond = filter_condition(&names, &scoped)
        .add(not_duplicate())
        .add(received_in(start, end))
        .add(C::Latitude.is_not_null())
        .add(C::Longitude.is_not_null());
    let mut rows = appeal::Entity::find()
        .filter(cond)
        .select_only()
        .column(C::Latitude)
        .column(C::Longitude)
        .column(C::CategoryId)
        .into_tuple::<(f64, f64, Option<i64>)>()
        .stream(conn)
        .await?;
    // Each row's cell is computed as it arrives, while the database still sends the rest.
    let mut cells: HashMap<h3o::CellIndex, (i64, BTreeMap<i64, i64>)> = HashMap::new();
    while let Some((lat, lon, category)) = rows.try_next().await? {
        let Some(cell) = cell_of(lat, lon, res) else { continue };
        let entry = cells.entry(cell).or_default();
        entry.0 += 1;
        if let Some(c) = category {
            *entry.1.entry(c).or_default() += 1;
        }
    }
    let mut out: Vec<GeoCell> = cells
        .into_iter()
        .map(|(cell, (count, cats))| {
            let (latitude, longitude) = centre(cell);
            // The most frequent category; the smallest id on a tie (the map is ordered by id).
            let top = cats.iter().fold(None::<(i64, i64)>, |best, (id, n)| match best {
                Some((_, bn)) if bn >= *n => best,
                _ => Some((*id, *n)),
            });
            GeoCell { cell: cell.to_string(), latitude, longitude, count, top_category_id: top.map(|t| t.0) }
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.cell.cmp(&b.cell)));
    Ok(out)
}

/// Places where at least `min_count` non-duplicate appeals of one category were received in
/// the period within one H3 cell of resolution 9, most appeals first, each with up to three of
/// its appeals, newest first, that `who` may see (none for tokens, and none read unless
/// `samples`).
///
/// # Errors
/// `UNAUTHENTICATED` or `FORBIDDEN` when `who` may not read analytics or asks for a recipient
/// it may not see.
pub async fn problem_points(
    state: &AppState,
    who: &Principal,
    period: Period,
    min_count: i64,
    filter: &Filter,
    samples: bool,
) -> AppResult<Vec<ProblemPoint>> {
    use appeal::Column as C;
    let conn = &state.db;
    let scoped = Scoped::of(state, who, filter).await?;
    let names = Names::load(state).await?;
    if !samples || !scoped.shows_appeals() {
        return top_points(state, &names, &scoped, period, min_count, None).await;
    }
    // The samples are each point's newest appeals: the period's appeals newest first (the
    // order of `ix_appeals_points`, read backwards without a sort), the first three of each
    // cell and category kept, every one counted. A window in SQL (`ROW_NUMBER() OVER
    // (PARTITION BY …)`) sorted them all and was slower (32 against 23 ms for a week of the
    // million-row demo).
    let mut rows = appeal::Entity::find()
        .filter(points_condition(state, &names, &scoped, period))
        .select_only()
        .column(C::Id)
        .column(C::H3Cell)
        .column(C::CategoryId)
        .order_by(C::ReceivedAt, Order::Desc)
        .order_by(C::Id, Order::Desc)
        .into_tuple::<(i64, i64, i64)>()
        .stream(conn)
        .await?;
    let mut counted: HashMap<(i64, i64), (i64, Vec<i64>)> = HashMap::new();
    while let Some((id, cell, category)) = rows.try_next().await? {
        let entry = counted.entry((cell, category)).or_default();
        entry.0 += 1;
        if entry.1.len() < 3 {
            entry.1.push(id);
        }
    }
    drop(rows);
    let mut points: Vec<(ProblemPoint, Vec<i64>)> = counted
        .into_iter()
        .filter(|(_, (n, _))| *n >= min_count)
        .filter_map(|((cell, category), (n, ids))| Some((point(cell, category, n)?, ids)))
        .collect();
    points.sort_by(|(a, _), (b, _)| by_count(a, b));
    let shown = scoped.shown(conn, points.iter().flat_map(|(_, ids)| ids.iter().copied()).collect()).await?;
    Ok(points
        .into_iter()
        .map(|(point, ids)| ProblemPoint {
            sample: ids.iter().filter_map(|id| shown.get(id).cloned()).collect(),
            ..point
        })
        .collect())
}

/// The appeals problem points count: not duplicates, received in the period, with a cell
/// and a category, and with coordinates (so that PostgreSQL reads them from the partial
/// index `ix_appeals_points`, whose condition this implies).
fn points_condition(state: &AppState, names: &Names, scoped: &Scoped, period: Period) -> Condition {
    use appeal::Column as C;
    let (start, end) = period.instants(state.settings.timezone);
    filter_condition(names, scoped)
        .add(not_duplicate())
        .add(received_in(start, end))
        .add(C::Latitude.is_not_null())
        .add(C::Longitude.is_not_null())
        .add(C::H3Cell.is_not_null())
        .add(C::CategoryId.is_not_null())
}

/// A point without samples; `None` for a stored value that is no H3 cell.
fn point(cell: i64, category_id: i64, count: i64) -> Option<ProblemPoint> {
    let index = h3o::CellIndex::try_from(u64::try_from(cell).ok()?).ok()?;
    let (latitude, longitude) = centre(index);
    Some(ProblemPoint { cell: index.to_string(), latitude, longitude, category_id, count, sample: Vec::new() })
}

/// Most appeals first; then by cell and category.
fn by_count(a: &ProblemPoint, b: &ProblemPoint) -> std::cmp::Ordering {
    b.count.cmp(&a.count).then_with(|| (&a.cell, a.category_id).cmp(&(&b.cell, b.category_id)))
}

/// The problem points without samples (the first `limit` of them), as [`problem_points`]
/// orders them: the database counts the appeals per cell and category and sends only the
/// points, summed from the ledger `appeal_point_stats` when the filter and the caller's reach
/// allow ([`Resolved::on_points`]: the period's whole months, weeks and days, a few thousand
/// rows a week for a town whatever the number of its appeals), else counted over the period's
/// appeals (`ix_appeals_points`). The same points and counts either way.
pub(super) async fn top_points(
    state: &AppState,
    names: &Names,
    scoped: &Scoped,
    period: Period,
    min_count: i64,
    limit: Option<u64>,
) -> AppResult<Vec<ProblemPoint>> {
    use appeal::Column as C;
    use appeal_point_stat::Column as P;
    use sea_orm::sea_query::Expr;
    let rows = if let Some(points) = Resolved::of(names, scoped).on_points() {
        let buckets = buckets_of(period, crate::service::rollup::Grain::Month, C2::P(P::Grain), C2::P(P::Day));
        let q = appeal_point_stat::Entity::find().filter(points.add(buckets));
        grouped(state, q, P::H3Cell, P::CategoryId, || sum_of("points"), min_count, limit).await?
    } else {
        let q = appeal::Entity::find().filter(points_condition(state, names, scoped, period));
        grouped(state, q, C::H3Cell, C::CategoryId, || Expr::cust("COUNT(*)"), min_count, limit).await?
    };
    let mut out: Vec<ProblemPoint> =
        rows.into_iter().filter_map(|(cell, category, n)| point(cell, category, n)).collect();
    out.sort_by(by_count);
    Ok(out)
}

/// (cell, category, count) of the rows of `q` grouped by `cell` and `category`, the groups
/// counting at least `min_count` (and one: a ledger key whose appeals all moved away sums to
/// zero), most first, then by cell and category (cells of one resolution order as their
/// names do, see `point_cell`), the first `limit`.
async fn grouped<E: EntityTrait>(
    state: &AppState,
    q: sea_orm::Select<E>,
    cell: E::Column,
    category: E::Column,
    count: impl Fn() -> sea_orm::sea_query::Expr,
    min_count: i64,
    limit: Option<u64>,
) -> AppResult<Vec<(i64, i64, i64)>> {
    Ok(q.select_only()
        .column(cell)
        .column(category)
        .column_as(count(), "n")
        .group_by(cell)
        .group_by(category)
        .having(sea_orm::sea_query::ExprTrait::gte(count(), min_count.max(1)))
        .order_by(count(), Order::Desc)
        .order_by(cell, Order::Asc)
        .order_by(category, Order::Asc)
        .limit(limit)
        .into_tuple()
        .all(&state.db)
        .await?)
}
