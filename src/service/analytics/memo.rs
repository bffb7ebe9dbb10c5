//! The weekly analytical note to the Head of the city (аналитическая записка): the facts
//! gathered here, the recommendations and the text written by `domain::memo`.

use crate::domain::appeal::RecipientId;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use sea_orm::Condition;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::access::Scoped;
use super::growth::growth_and_before;
use super::map::top_points;
use super::query::{C2, Names, Resolved, bucket_instants, buckets_of, count_all, sum_of};
use super::rating::rating_in;
use super::summary::summary_with;
use super::{Filter, GroupBy, GrowthItem, Period, SummaryParts, VisibleAppeal};
use crate::domain::access::Principal;
use crate::domain::deadlines::SlaState;
use crate::domain::labels::UNASSIGNED;
use crate::domain::memo::{AssignmentLine, MeasureLine, MemoPoint, OverdueGroup, OverdueLine, PollLine};
use crate::entity::recipient;
use crate::entity::{appeal, appeal_open_stat};
use crate::error::{AppError, AppResult};
use crate::service::appeal_query::sla_condition;
use crate::service::rollup::Grain;
use crate::state::AppState;

/// The weekly memo with the rating's recipients as stored.
pub type Memo = crate::domain::memo::Memo<recipient::Model>;

/// Problem points named in the memo.
const MEMO_POINTS: u64 = 5;
/// Overdue appeals listed in the memo.
const MEMO_OVERDUE: u64 = 10;
/// Open assignments of meetings listed in the memo, at most (overdue ones first).
const MEMO_ASSIGNMENTS: u64 = 30;
/// Open overdue appeals listed by [`overdue_appeals`], at most.
const MEMO_OVERDUE_APPEALS: u64 = 50;

/// The weekly memo for the week starting on `week_start` (a Monday), of what `who` may read.
///
/// # Errors
/// `UNAUTHENTICATED` or `FORBIDDEN` when `who` may not read analytics; then `BAD_USER_INPUT`
/// on `weekStart` when it is not a Monday.
pub async fn weekly_memo(state: &AppState, who: &Principal, week_start: NaiveDate) -> AppResult<Memo> {
    let scoped = Scoped::of(state, who, &Filter::default()).await?;
    let scoped = &scoped;
    if week_start.weekday() != chrono::Weekday::Mon {
        return Err(AppError::bad("weekStart", "must be a Monday"));
    }
    let week = Period { from: week_start, to: week_start + Duration::days(6) };
    let names = Names::load(state).await?;
    let names = &names;
    // The parts read independently: run together, each statement on a connection of its own,
    // so the memo waits for its slowest part rather than for the sum of them (each boxed, so
    // the memo's own future stays small).
    let (
        summary,
        previous,
        (top_growth, rising_before),
        rating,
        problem_points,
        (overdue_by_recipient, overdue_oldest),
        (topic_roadmaps, overdue_measures),
        assignments,
        conflicts,
        polls,
    ) = tokio::try_join!(
        Box::pin(summary_with(state, names, scoped, week, SummaryParts::ALL)),
        Box::pin(summary_with(state, names, scoped, week.back(1), SummaryParts::ALL)),
        Box::pin(growth_and_before(state, names, scoped, week, GroupBy::Category, (5, usize::MAX))),
        Box::pin(rating_in(state, scoped, week, None, true)),
        Box::pin(top_points(state, names, scoped, week, 3, Some(MEMO_POINTS))),
        Box::pin(memo_overdue(state, names, scoped)),
        Box::pin(memo_roadmaps(state, names, scoped)),
        Box::pin(memo_assignments(state, &scoped.filter().recipient_id)),
        Box::pin(super::conflicts::conflicts_in(state, scoped, week)),
        Box::pin(super::polls::polls_in(state, scoped, week)),
    )?;
    let top_growth: Vec<GrowthItem> = top_growth.into_iter().filter(|g| g.count > 0 && g.growth > 1.0).collect();
    let rising_before: HashSet<String> = rising_before.into_iter().filter(|g| g.significant).map(|g| g.key).collect();
    let problem_points = problem_points
        .into_iter()
        .map(|p| MemoPoint {
            category: names.category(Some(p.category_id)),
            latitude: p.latitude,
            longitude: p.longitude,
            count: p.count,
        })
        .collect();
    let conflicts =
        conflicts.into_iter().map(|c| (c.recipient.name, c.flagged, c.escalation, c.repeated_reopening)).collect();
    let polls = polls
        .into_iter()
        .map(|r| PollLine {
            closed: r.closed,
            title: r.poll.title,
            verified: r.verified,
            ballots: r.ballots,
            ballots_in_week: r.ballots_in_period,
            verified_ballots: r.verified_ballots,
            top: r.top_answers.into_iter().map(|a| (a.question, a.option, a.count, a.share)).collect(),
        })
        .collect();
    let memo = Memo {
        week_start,
        week_end: week.to,
        summary,
        previous,
        top_growth,
        rising_before,
        topic_roadmaps,
        problem_points,
        overdue_by_recipient,
        overdue_oldest,
        overdue_measures,
        assignments,
        rating,
        conflicts,
        polls,
        recommendations: Vec::new(),
        markdown: String::new(),
        timezone: state.settings.timezone,
    };
    Ok(memo.written())
}

fn responsible(names: &Names, recipient: Option<i64>) -> String {
    recipient.map_or_else(|| UNASSIGNED.into(), |r| names.recipient(Some(r)))
}

/// Open appeals overdue now within the filter: per recipient, and the ones overdue longest.
async fn memo_overdue(
    state: &AppState,
    names: &Names,
    scoped: &Scoped,
) -> AppResult<(Vec<OverdueGroup>, Vec<OverdueLine>)> {
    use appeal::Column as C;
    let conn = &state.db;
    let resolved = Resolved::of(names, scoped);
    let cond = resolved.on_appeals().add(sla_condition(SlaState::Overdue, state.clock.now()));
    let groups = match resolved.on_open_due() {
        Some(open) => overdue_by_recipient(state, resolved.on_appeals(), open).await?,
        None => {
            appeal::Entity::find()
                .filter(cond.clone())
                .select_only()
                .column(C::RecipientId)
                .expr_as(count_all(), "n")
                .expr_as(Func::min(Expr::col(C::DueAt)), "oldest")
                .group_by(C::RecipientId)
                .into_tuple::<(Option<i64>, i64, DateTime<Utc>)>()
                .all(conn)
                .await?
        }
    };
    let mut groups: Vec<OverdueGroup> = groups
        .into_iter()
        .map(|(r, count, oldest_due)| OverdueGroup { recipient: responsible(names, r), count, oldest_due })
        .collect();
    groups.sort_by(|a, b| {
        b.count.cmp(&a.count).then_with(|| a.oldest_due.cmp(&b.oldest_due)).then_with(|| a.recipient.cmp(&b.recipient))
    });
    let oldest = appeal::Entity::find()
        .filter(cond)
        .order_by_asc(C::DueAt)
        .order_by_asc(C::Id)
        .limit(MEMO_OVERDUE)
        .all(conn)
        .await?
        .into_iter()
        .map(|a| OverdueLine {
            category: names.category(a.category_id),
            recipient: responsible(names, a.recipient_id),
            number: a.number,
            due_at: a.due_at,
        })
        .collect();
    Ok((groups, oldest))
}

/// The open appeals overdue now per recipient (`None`: unassigned), with the earliest
/// deadline among them, from the ledger of unresolved appeals (`open`: its cube `R` narrowed
/// as `on_appeals` narrows the appeals).
///
/// Deadlines on days before today are summed per recipient from whole months, weeks and days
/// of the ledger; those of today up to now are counted from `appeals`. The earliest deadline
/// of a recipient lies in its earliest bucket that counts any: one statement per such bucket
/// reads the minimum of its deadlines (a few thousand entries of the partial index of
/// unresolved appeals), instead of every overdue appeal (40,000 at a million appeals).
async fn overdue_by_recipient(
    state: &AppState,
    on_appeals: Condition,
    open: Condition,
) -> AppResult<Vec<(Option<i64>, i64, DateTime<Utc>)>> {
    use appeal::Column as C;
    use appeal_open_stat::Column as O;
    let conn = &state.db;
    let tz = state.settings.timezone;
    let now = state.clock.now();
    let today = now.with_timezone(&tz).date_naive();
    let (midnight, _) = Period { from: today, to: today }.instants(tz);
    let unresolved = on_appeals.add(C::ResolvedAt.is_null());
    let past = async {
        let Some(yesterday) = today.pred_opt() else { return Ok(Vec::new()) };
        let since = NaiveDate::MIN.max(today - Duration::days(365 * 200));
        appeal_open_stat::Entity::find()
            .filter(open.add(buckets_of(
                Period { from: since, to: yesterday },
                Grain::Month,
                C2::O(O::Grain),
                C2::O(O::Day),
            )))
            .select_only()
            .column(O::RecipientId)
            .column(O::Grain)
            .column(O::Day)
            .expr_as(sum_of("open"), "n")
            .group_by(O::RecipientId)
            .group_by(O::Grain)
            .group_by(O::Day)
            .into_tuple::<(Option<i64>, String, NaiveDate, i64)>()
            .all(conn)
            .await
    };
    let today_part = appeal::Entity::find()
        .filter(unresolved.clone().add(C::DueAt.gte(midnight)).add(C::DueAt.lt(now)))
        .select_only()
        .column(C::RecipientId)
        .expr_as(count_all(), "n")
        .expr_as(Func::min(Expr::col(C::DueAt)), "oldest")
        .group_by(C::RecipientId)
        .into_tuple::<(Option<i64>, i64, DateTime<Utc>)>()
        .all(conn);
    let (past, today_part) = tokio::try_join!(past, today_part)?;
    // Per recipient: the count, and its earliest bucket that counts any.
    type Bucket = (NaiveDate, Grain);
    let mut per: HashMap<Option<i64>, (i64, Option<Bucket>)> = HashMap::new();
    for (r, grain, day, n) in past {
        if n == 0 {
            continue;
        }
        let grain = Grain::of_code(&grain).ok_or_else(|| AppError::internal("an unknown grain in the ledger"))?;
        let e = per.entry(r).or_default();
        e.0 += n;
        if e.1.is_none_or(|(d, _)| day < d) {
            e.1 = Some((day, grain));
        }
    }
    let mut oldest: HashMap<Option<i64>, DateTime<Utc>> = HashMap::new();
    let buckets: HashSet<(NaiveDate, Grain)> = per.values().filter_map(|(_, b)| *b).collect();
    // One range per bucket (usually one or two): a plain range of the partial index is read
    // index-only, where an OR of ranges made PostgreSQL fetch 1,600 heap pages (8 ms).
    for (day, grain) in buckets {
        let (from, to) = bucket_instants(grain, day, tz);
        let rows = appeal::Entity::find()
            .filter(unresolved.clone().add(C::DueAt.gte(from)).add(C::DueAt.lt(to)))
            .select_only()
            .column(C::RecipientId)
            .expr_as(Func::min(Expr::col(C::DueAt)), "oldest")
            .group_by(C::RecipientId)
            .into_tuple::<(Option<i64>, DateTime<Utc>)>()
            .all(conn)
            .await?;
        for (r, first) in rows {
            if per.get(&r).and_then(|(_, b)| *b) == Some((day, grain)) {
                oldest.insert(r, first);
            }
        }
    }
    let mut out: HashMap<Option<i64>, (i64, Option<DateTime<Utc>>)> =
        per.into_iter().map(|(r, (n, _))| (r, (n, oldest.get(&r).copied()))).collect();
    for (r, n, first) in today_part {
        let e = out.entry(r).or_default();
        e.0 += n;
        e.1 = Some(e.1.map_or(first, |o| o.min(first)));
    }
    Ok(out.into_iter().filter_map(|(r, (n, first))| Some((r, n, first?))).filter(|(_, n, _)| *n > 0).collect())
}

/// Roadmaps in work by the key of their top-level topic, and the overdue measures of the
/// approved or running ones (within the caller's territory and recipient, when limited).
async fn memo_roadmaps(
    state: &AppState,
    names: &Names,
    scoped: &Scoped,
) -> AppResult<(HashMap<String, Vec<String>>, Vec<MeasureLine>)> {
    use crate::domain::roadmap::{MeasureStatus, RoadmapStatus, measure_overdue};
    use crate::entity::{roadmap, roadmap_measure};
    let conn = &state.db;
    let today = state.clock.now().with_timezone(&state.settings.timezone).date_naive();
    let territories = scoped.territories();
    let filter = scoped.filter();
    let in_work = [
        RoadmapStatus::Draft,
        RoadmapStatus::Submitted,
        RoadmapStatus::Returned,
        RoadmapStatus::Approved,
        RoadmapStatus::InProgress,
    ];
    let roadmaps: Vec<roadmap::Model> = roadmap::Entity::find()
        .filter(roadmap::Column::Status.is_in(in_work.iter().map(|s| s.as_str())))
        .order_by_asc(roadmap::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .filter(|r| territories.is_none_or(|t| r.territory_id.is_some_and(|id| t.contains(&id))))
        .collect();
    let mut topics: HashMap<String, Vec<String>> = HashMap::new();
    for r in &roadmaps {
        if let Some(c) = r.category_id {
            topics.entry(names.top(c).to_string()).or_default().push(r.title.clone());
        }
    }
    let running: HashMap<i64, &roadmap::Model> = roadmaps
        .iter()
        .filter(|r| matches!(r.status.parse(), Ok(RoadmapStatus::Approved | RoadmapStatus::InProgress)))
        .map(|r| (r.id, r))
        .collect();
    let mut measures = Vec::new();
    if !running.is_empty() {
        let rows = roadmap_measure::Entity::find()
            .filter(roadmap_measure::Column::RoadmapId.is_in(running.keys().copied()))
            .filter(roadmap_measure::Column::DueDate.lt(today))
            .order_by_asc(roadmap_measure::Column::DueDate)
            .order_by_asc(roadmap_measure::Column::Id)
            .all(conn)
            .await?;
        for m in rows {
            let Ok(status) = m.status.parse::<MeasureStatus>() else { continue };
            if !measure_overdue(status, m.due_date, today) {
                continue;
            }
            if !filter.recipient_id.is_empty()
                && !m.responsible_id.is_some_and(|r| filter.recipient_id.contains(&RecipientId(r)))
            {
                continue;
            }
            let who = match (m.responsible_id, &m.responsible_name) {
                (None, Some(name)) => name.clone(),
                (id, _) => responsible(names, id),
            };
            measures.push(MeasureLine {
                roadmap: running.get(&m.roadmap_id).map(|r| r.title.clone()).unwrap_or_default(),
                measure: m.title,
                responsible: who,
                due: m.due_date,
            });
        }
    }
    Ok((topics, measures))
}

/// Open assignments of meetings with the Head (of `recipients`, all when empty), the soonest
/// due first (so the overdue ones lead), at most [`MEMO_ASSIGNMENTS`]. Read here, not through
/// `service::meetings`, which builds on the analytics.
async fn memo_assignments(state: &AppState, recipients: &[RecipientId]) -> AppResult<Vec<AssignmentLine>> {
    use crate::domain::meeting::AssignmentStatus;
    use crate::entity::{meeting, meeting_decision};
    use meeting_decision::Column as C;
    let tz = state.settings.timezone;
    let today = state.clock.now().with_timezone(&tz).date_naive();
    let open = [AssignmentStatus::Assigned.as_str(), AssignmentStatus::InProgress.as_str()];
    let mut q = meeting_decision::Entity::find().filter(C::Status.is_in(open));
    if !recipients.is_empty() {
        q = q.filter(C::RecipientId.is_in(recipients.iter().map(|r| r.0)));
    }
    let rows = q.order_by_asc(C::DueDate).order_by_asc(C::Id).limit(MEMO_ASSIGNMENTS).all(&state.db).await?;
    let meetings: HashMap<i64, meeting::Model> = meeting::Entity::find()
        .filter(meeting::Column::Id.is_in(rows.iter().map(|d| d.meeting_id)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let names = Names::load(state).await?;
    Ok(rows
        .into_iter()
        .filter_map(|d| {
            let (r, due) = (d.recipient_id?, d.due_date?);
            let m = meetings.get(&d.meeting_id)?;
            Some(AssignmentLine {
                text: d.text,
                recipient: names.recipient(Some(r)),
                due,
                days_late: (today - due).num_days().max(0),
                meeting: m.title.clone(),
                meeting_on: m.held_at.unwrap_or(m.starts_at).with_timezone(&tz).date_naive(),
            })
        })
        .collect())
}

/// The open overdue appeals `who` may see, earliest deadline first, at most 50
/// (`WeeklyMemo.overdue`); none for tokens (they are never shown appeals here).
///
/// # Errors
/// `UNAUTHENTICATED` or `FORBIDDEN` when `who` may not read analytics.
pub async fn overdue_appeals(state: &AppState, who: &Principal) -> AppResult<Vec<VisibleAppeal>> {
    use appeal::Column as C;
    let scoped = Scoped::of(state, who, &Filter::default()).await?;
    let Some(scope) = scoped.appeals() else { return Ok(Vec::new()) };
    appeal::Entity::find()
        .filter(scope.condition())
        .filter(sla_condition(SlaState::Overdue, state.clock.now()))
        .order_by_asc(C::DueAt)
        .order_by_asc(C::Id)
        .limit(MEMO_OVERDUE_APPEALS)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|row| {
            let model = crate::domain::appeal::Appeal::try_from(row)?;
            Ok(VisibleAppeal { handles: scope.handles(&model), model })
        })
        .collect::<AppResult<Vec<_>>>()
}
