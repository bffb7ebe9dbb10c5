//! The weekly analytical note to the Head of the city (аналитическая записка).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::growth::growth_with;
use super::query::{Names, count_all, filter_condition};
use super::summary::summary_with;
use super::{Filter, GroupBy, GrowthItem, Period, RatingRow, Summary, problem_points, recipient_rating};
use crate::domain::deadlines::SlaState;
use crate::entity::appeal;
use crate::error::{AppError, AppResult};
use crate::service::appeal_query::sla_condition;
use crate::service::scope::territory_subtree;
use crate::state::AppState;

/// The weekly analytical note to the Head of the city.
#[derive(Debug, Clone)]
pub struct Memo {
    pub week_start: NaiveDate,
    pub week_end: NaiveDate,
    pub summary: Summary,
    pub previous: Summary,
    pub top_growth: Vec<GrowthItem>,
    /// Keys of the topics whose rise was significant the week before too.
    pub rising_before: HashSet<String>,
    /// Roadmaps not completed or cancelled, by the key of their top-level topic (titles).
    pub topic_roadmaps: HashMap<String, Vec<String>>,
    pub problem_points: Vec<MemoPoint>,
    /// Open overdue appeals now, per responsible recipient, most first.
    pub overdue_by_recipient: Vec<OverdueGroup>,
    /// The open appeals overdue longest (numbers and topics only, no personal data).
    pub overdue_oldest: Vec<OverdueLine>,
    /// Unfinished measures of approved or running roadmaps past their due date.
    pub overdue_measures: Vec<MeasureLine>,
    pub rating: Vec<RatingRow>,
    pub recommendations: Vec<String>,
    pub markdown: String,
    /// The municipality's time zone, for the dates in the text.
    pub timezone: chrono_tz::Tz,
}

/// A problem point as the memo names it.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoPoint {
    pub category: String,
    pub latitude: f64,
    pub longitude: f64,
    pub count: i64,
}

/// Open overdue appeals of one responsible recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct OverdueGroup {
    pub recipient: String,
    pub count: i64,
    pub oldest_due: DateTime<Utc>,
}

/// One overdue appeal in the memo.
#[derive(Debug, Clone, PartialEq)]
pub struct OverdueLine {
    pub number: String,
    pub category: String,
    pub recipient: String,
    pub due_at: DateTime<Utc>,
}

/// One overdue roadmap measure.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasureLine {
    pub roadmap: String,
    pub measure: String,
    pub responsible: String,
    pub due: NaiveDate,
}

/// Problem points named in the memo.
const MEMO_POINTS: usize = 5;
/// Overdue appeals listed in the memo.
const MEMO_OVERDUE: u64 = 10;

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), |v| format!("{:.0}%", v * 100.0))
}

/// Recommendations from the memo's rules, in this order:
///
/// 1. a topic whose rise is significant this week and was the week before, with no roadmap in
///    work on it → prepare a roadmap;
/// 2. the same with a roadmap in work → check that roadmap, its measures are not working;
/// 3. a significant rise this week only → keep the topic under control (a roadmap if it goes on);
/// 4. overdue roadmap measures → hear those responsible;
/// 5. on-time rate below 80% → review the overdue answers with the recipients;
/// 6. the lowest-scored ranked recipient (with at least two ranked) → hear its head;
/// 7. open overdue appeals → get them answered, naming the recipient with most of them;
/// 8. answers on the merits below 70% → tighten quality control.
pub fn recommendations(m: &Memo) -> Vec<String> {
    let mut out = Vec::new();
    let summary = &m.summary;
    for g in m.top_growth.iter().filter(|g| g.significant) {
        let roadmaps = m.topic_roadmaps.get(&g.key).filter(|r| !r.is_empty());
        if m.rising_before.contains(&g.key) {
            match roadmaps {
                None => out.push(format!(
                    "Подготовить дорожную карту по теме «{}»: значимый рост вторую неделю подряд ({} обращений за неделю при среднем {:.1}).",
                    g.label, g.count, g.baseline
                )),
                Some(r) => out.push(format!(
                    "Проверить исполнение дорожной карты «{}»: рост по теме «{}» продолжается вторую неделю ({} обращений при среднем {:.1}).",
                    r.join("», «"),
                    g.label,
                    g.count,
                    g.baseline
                )),
            }
        } else {
            out.push(format!(
                "Взять на контроль тему «{}»: значимый рост за неделю ({} обращений при среднем {:.1}); если рост сохранится, подготовить дорожную карту.",
                g.label, g.count, g.baseline
            ));
        }
    }
    if !m.overdue_measures.is_empty() {
        let mut who: Vec<&str> = m.overdue_measures.iter().map(|x| x.responsible.as_str()).collect();
        who.sort_unstable();
        who.dedup();
        out.push(format!(
            "Заслушать ответственных за просроченные мероприятия дорожных карт ({}): {}.",
            m.overdue_measures.len(),
            who.join(", ")
        ));
    }
    if let Some(r) = summary.on_time_rate().filter(|r| *r < 0.8) {
        out.push(format!(
            "Своевременность ответов {} (ниже 80%): провести разбор просрочек с ответственными получателями.",
            percent(Some(r))
        ));
    }
    let ranked: Vec<&RatingRow> = m.rating.iter().filter(|r| r.rank.is_some()).collect();
    if ranked.len() >= 2
        && let Some(last) = ranked.last()
    {
        out.push(format!(
            "Заслушать руководителя «{}» на планёрке: наименьший рейтинг ({:.0} из 100).",
            last.recipient.name,
            last.score.unwrap_or(0.0) * 100.0
        ));
    }
    let overdue: i64 = m.overdue_by_recipient.iter().map(|g| g.count).sum();
    if overdue > 0 {
        let top: Vec<String> =
            m.overdue_by_recipient.iter().take(3).map(|g| format!("{} — {}", g.recipient, g.count)).collect();
        out.push(format!("Обеспечить ответ по {overdue} просроченным обращениям: {}.", top.join(", ")));
    }
    if let Some(r) = summary.full_answer_rate().filter(|r| *r < 0.7) {
        out.push(format!("Усилить контроль качества ответов: ответов по существу {}.", percent(Some(r))));
    }
    if out.is_empty() {
        out.push("Существенных отклонений не выявлено.".into());
    }
    out
}

fn change(now: i64, before: i64) -> String {
    if before == 0 {
        return String::new();
    }
    let pct = (now - before) as f64 * 100.0 / before as f64;
    format!(" ({pct:+.0}% к прошлой неделе)")
}

/// The memo as Markdown in Russian.
pub fn memo_markdown(m: &Memo) -> String {
    let d = |x: NaiveDate| x.format("%d.%m.%Y").to_string();
    let s = &m.summary;
    let mut md = String::new();
    let _ = writeln!(md, "# Аналитическая записка за неделю {} — {}\n", d(m.week_start), d(m.week_end));
    let _ = writeln!(md, "## Итоги недели\n");
    let _ = writeln!(md, "- Поступило обращений: **{}**{}", s.total, change(s.total, m.previous.total));
    let _ = writeln!(
        md,
        "- Дан ответ: {}, из них в срок: {} ({})",
        s.answered,
        s.answered_on_time,
        percent(s.on_time_rate())
    );
    let _ = writeln!(md, "- Просрочено сейчас: {}; срок истекает: {}", s.overdue_now, s.due_soon_now);
    let _ = writeln!(
        md,
        "- Медианное время ответа: {}",
        s.median_response_hours.map_or_else(|| "—".into(), |h| format!("{h:.1} ч"))
    );
    let _ = writeln!(
        md,
        "- Ответы по существу: {}; удовлетворённость: {}",
        percent(s.full_answer_rate()),
        percent(s.satisfied_rate())
    );
    if !s.by_channel.is_empty() {
        let channels: Vec<String> = s.by_channel.iter().map(|c| format!("{} — {}", c.label, c.count)).collect();
        let _ = writeln!(md, "- По каналам: {}", channels.join(", "));
    }
    let _ = writeln!(md, "\n## Рост по темам\n");
    if m.top_growth.is_empty() {
        let _ = writeln!(md, "Роста не выявлено.");
    }
    for g in &m.top_growth {
        let mark = if g.significant { " — **значимый рост**" } else { "" };
        let drivers: Vec<String> = g.drivers.iter().map(|x| format!("{} (+{})", x.label, x.count)).collect();
        let _ = write!(md, "- {}: {} при среднем {:.1}{}", g.label, g.count, g.baseline, mark);
        if drivers.is_empty() {
            let _ = writeln!(md);
        } else {
            let _ = writeln!(md, "; за счёт: {}", drivers.join(", "));
        }
    }
    let _ = writeln!(md, "\n## Проблемные точки\n");
    if m.problem_points.is_empty() {
        let _ = writeln!(md, "Скоплений однотипных обращений не выявлено.");
    } else {
        let _ = writeln!(md, "| Тема | Обращений | Координаты центра |");
        let _ = writeln!(md, "|---|---|---|");
        for p in &m.problem_points {
            let _ = writeln!(md, "| {} | {} | {:.5}, {:.5} |", p.category, p.count, p.latitude, p.longitude);
        }
    }
    let _ = writeln!(md, "\n## Просроченные обращения\n");
    if m.overdue_by_recipient.is_empty() {
        let _ = writeln!(md, "Просроченных обращений нет.");
    } else {
        let local = |t: DateTime<Utc>| t.with_timezone(&m.timezone).format("%d.%m.%Y").to_string();
        let _ = writeln!(md, "| Ответственный | Просрочено | Самый ранний срок |");
        let _ = writeln!(md, "|---|---|---|");
        for g in &m.overdue_by_recipient {
            let _ = writeln!(md, "| {} | {} | {} |", g.recipient, g.count, local(g.oldest_due));
        }
        let _ = writeln!(md, "\nДольше всех без ответа:\n");
        let _ = writeln!(md, "| Номер | Тема | Ответственный | Срок |");
        let _ = writeln!(md, "|---|---|---|---|");
        for a in &m.overdue_oldest {
            let _ = writeln!(md, "| {} | {} | {} | {} |", a.number, a.category, a.recipient, local(a.due_at));
        }
    }
    let _ = writeln!(md, "\n## Дорожные карты: просроченные мероприятия\n");
    if m.overdue_measures.is_empty() {
        let _ = writeln!(md, "Просроченных мероприятий нет.");
    } else {
        let _ = writeln!(md, "| Дорожная карта | Мероприятие | Ответственный | Срок |");
        let _ = writeln!(md, "|---|---|---|---|");
        for x in &m.overdue_measures {
            let _ = writeln!(md, "| {} | {} | {} | {} |", x.roadmap, x.measure, x.responsible, d(x.due));
        }
    }
    let _ = writeln!(md, "\n## Рейтинг ответственных получателей\n");
    let _ = writeln!(md, "| Место | Получатель | Обращений | В срок | По существу | Удовлетворены | Балл |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for r in &m.rating {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.rank.map_or_else(|| "—".into(), |x| x.to_string()),
            r.recipient.name,
            r.total,
            percent(r.on_time_rate),
            percent(r.full_answer_rate),
            percent(r.satisfied_rate),
            r.score.map_or_else(|| "—".into(), |x| format!("{:.0}", x * 100.0)),
        );
    }
    let _ = writeln!(md, "\n## Рекомендации\n");
    for (i, r) in m.recommendations.iter().enumerate() {
        let _ = writeln!(md, "{}. {}", i + 1, r);
    }
    md
}

/// The weekly memo for the week starting on `week_start` (a Monday).
///
/// # Errors
/// `BAD_USER_INPUT` on `weekStart` when it is not a Monday.
pub async fn weekly_memo(state: &AppState, week_start: NaiveDate, filter: &Filter) -> AppResult<Memo> {
    if week_start.weekday() != chrono::Weekday::Mon {
        return Err(AppError::bad("weekStart", "must be a Monday"));
    }
    let week = Period { from: week_start, to: week_start + Duration::days(6) };
    let names = Names::load(&state.db).await?;
    let summary = summary_with(state, &names, week, filter).await?;
    let previous = summary_with(state, &names, week.back(1), filter).await?;
    let top_growth: Vec<GrowthItem> = growth_with(state, &names, week, GroupBy::Category, 5, filter)
        .await?
        .into_iter()
        .filter(|g| g.count > 0 && g.growth > 1.0)
        .collect();
    let rising_before: HashSet<String> =
        growth_with(state, &names, week.back(1), GroupBy::Category, usize::MAX, filter)
            .await?
            .into_iter()
            .filter(|g| g.significant)
            .map(|g| g.key)
            .collect();
    let mut rating = recipient_rating(state, week, None, filter.within_territory).await?;
    if !filter.recipient_id.is_empty() {
        rating.retain(|r| filter.recipient_id.contains(&r.recipient.id));
    }
    let problem_points = problem_points(state, week, 3, filter)
        .await?
        .into_iter()
        .take(MEMO_POINTS)
        .map(|p| MemoPoint {
            category: names.category(Some(p.category_id)),
            latitude: p.latitude,
            longitude: p.longitude,
            count: p.count,
        })
        .collect();
    let (overdue_by_recipient, overdue_oldest) = memo_overdue(state, &names, filter).await?;
    let (topic_roadmaps, overdue_measures) = memo_roadmaps(state, &names, filter).await?;
    let mut memo = Memo {
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
        rating,
        recommendations: Vec::new(),
        markdown: String::new(),
        timezone: state.settings.timezone,
    };
    memo.recommendations = recommendations(&memo);
    memo.markdown = memo_markdown(&memo);
    Ok(memo)
}

fn responsible(names: &Names, recipient: Option<i64>) -> String {
    recipient.map_or_else(|| "Исполнитель не назначен".into(), |r| names.recipient(Some(r)))
}

/// Open appeals overdue now within the filter: per recipient, and the ones overdue longest.
async fn memo_overdue(
    state: &AppState,
    names: &Names,
    filter: &Filter,
) -> AppResult<(Vec<OverdueGroup>, Vec<OverdueLine>)> {
    use appeal::Column as C;
    let conn = &state.db;
    let cond = filter_condition(conn, names, filter).await?.add(sla_condition(SlaState::Overdue, state.clock.now()));
    let groups = appeal::Entity::find()
        .filter(cond.clone())
        .select_only()
        .column(C::RecipientId)
        .expr_as(count_all(), "n")
        .expr_as(Func::min(Expr::col(C::DueAt)), "oldest")
        .group_by(C::RecipientId)
        .into_tuple::<(Option<i64>, i64, DateTime<Utc>)>()
        .all(conn)
        .await?;
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

/// Roadmaps in work by the key of their top-level topic, and the overdue measures of the
/// approved or running ones (within the caller's territory and recipient, when limited).
async fn memo_roadmaps(
    state: &AppState,
    names: &Names,
    filter: &Filter,
) -> AppResult<(HashMap<String, Vec<String>>, Vec<MeasureLine>)> {
    use crate::domain::roadmap::{MeasureStatus, RoadmapStatus, measure_overdue};
    use crate::entity::{roadmap, roadmap_measure};
    let conn = &state.db;
    let today = state.clock.now().with_timezone(&state.settings.timezone).date_naive();
    let territories = match filter.within_territory {
        Some(root) => Some(territory_subtree(conn, root).await?),
        None => None,
    };
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
        .filter(|r| territories.as_ref().is_none_or(|t| r.territory_id.is_some_and(|id| t.contains(&id))))
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
            if !filter.recipient_id.is_empty() && !m.responsible_id.is_some_and(|r| filter.recipient_id.contains(&r)) {
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
