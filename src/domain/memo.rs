//! The weekly analytical note to the Head of the city (аналитическая записка): its
//! recommendations from stated rules and its text in Russian, written from the facts the
//! service gathered. No I/O and no clock: the dates are in the facts.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};

use super::analytics::{GrowthItem, Named, RatingRow, Summary};

/// The weekly analytical note to the Head of the city: the facts the service gathered, then
/// the recommendations and the text written from them ([`Memo::written`]).
#[derive(Debug, Clone)]
pub struct Memo<R> {
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
    /// Open assignments (поручения) of meetings with the Head, overdue ones first.
    pub assignments: Vec<AssignmentLine>,
    pub rating: Vec<RatingRow<R>>,
    /// Communication conflicts of the week per recipient: `(name, flagged appeals, of them
    /// escalations, repeated reopenings)`, most flagged first.
    pub conflicts: Vec<(String, i64, i64, i64)>,
    /// Polls open to voting in the week (closed in it or still open), newest first.
    pub polls: Vec<PollLine>,
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

/// An open assignment of a meeting with the Head.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignmentLine {
    pub text: String,
    pub recipient: String,
    pub due: NaiveDate,
    /// Days past the due date; 0 when not overdue.
    pub days_late: i64,
    pub meeting: String,
    pub meeting_on: NaiveDate,
}

/// A poll of the week: participation and the most chosen answers.
#[derive(Debug, Clone, PartialEq)]
pub struct PollLine {
    pub title: String,
    /// Closed (by the end of the week) or still open.
    pub closed: bool,
    /// Whether the poll verifies its respondents.
    pub verified: bool,
    /// Ballots cast by the end of the week.
    pub ballots: i64,
    /// Of them, cast in the week.
    pub ballots_in_week: i64,
    pub verified_ballots: i64,
    /// `(question, option, count, share of ballots)` of each SINGLE or MULTIPLE question.
    pub top: Vec<(String, String, i64, f64)>,
}

impl PollLine {
    /// «идёт» or «завершён», and «без проверки участников» for an unverified poll.
    pub fn state(&self) -> String {
        let state = if self.closed { "завершён" } else { "идёт" };
        if self.verified { state.to_string() } else { format!("{state}, без проверки участников") }
    }

    /// The top answers as one line: «Вопрос — Вариант (n, p%)»; «—» without any.
    pub fn top_line(&self) -> String {
        if self.top.is_empty() {
            return "—".into();
        }
        self.top
            .iter()
            .map(|(q, o, n, share)| format!("{q} — {o} ({n}, {:.0}%)", share * 100.0))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl<R: Named> Memo<R> {
    /// The memo with its recommendations and its Markdown written from its facts.
    #[must_use]
    pub fn written(mut self) -> Self {
        self.recommendations = recommendations(&self);
        self.markdown = markdown(&self);
        self
    }
}

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), |v| format!("{:.0}%", v * 100.0))
}

/// Flagged appeals of a recipient in the week from which the memo recommends a meeting
/// with the authors (each conflict is worth one: decree 1.2б, 1.2в).
pub const MEMO_CONFLICTS_MIN: i64 = 1;

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
/// 8. a recipient with conflict-flagged appeals in the week → meet the authors (one line each);
/// 9. answers on the merits below 70% → tighten quality control.
pub fn recommendations<R: Named>(m: &Memo<R>) -> Vec<String> {
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
    let ranked: Vec<&RatingRow<R>> = m.rating.iter().filter(|r| r.rank.is_some()).collect();
    if ranked.len() >= 2
        && let Some(last) = ranked.last()
    {
        out.push(format!(
            "Заслушать руководителя «{}» на планёрке: наименьший рейтинг ({:.0} из 100).",
            last.recipient.name(),
            last.score.unwrap_or(0.0) * 100.0
        ));
    }
    let overdue: i64 = m.overdue_by_recipient.iter().map(|g| g.count).sum();
    if overdue > 0 {
        let top: Vec<String> =
            m.overdue_by_recipient.iter().take(3).map(|g| format!("{} — {}", g.recipient, g.count)).collect();
        out.push(format!("Обеспечить ответ по {overdue} просроченным обращениям: {}.", top.join(", ")));
    }
    out.extend(crate::domain::conflicts::recommendations(&m.conflicts, MEMO_CONFLICTS_MIN));
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
pub fn markdown<R: Named>(m: &Memo<R>) -> String {
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
    if s.reacted > 0 {
        let _ = writeln!(
            md,
            "- Инциденты: первая реакция в срок — {} ({} из {}); медианное время реакции: {}",
            percent(s.reaction_on_time_rate()),
            s.reacted_on_time,
            s.reacted,
            s.median_reaction_hours.map_or_else(|| "—".into(), |h| format!("{h:.1} раб. ч"))
        );
    }
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
    let _ = writeln!(md, "\n## Поручения совещаний у Главы\n");
    if m.assignments.is_empty() {
        let _ = writeln!(md, "Неисполненных поручений нет.");
    } else {
        let late = m.assignments.iter().filter(|a| a.days_late > 0).count();
        let _ = writeln!(md, "Неисполненных поручений: {}, из них просрочено: {late}.\n", m.assignments.len());
        let _ = writeln!(md, "| Поручение | Исполнитель | Срок | Просрочено, дн. | Совещание |");
        let _ = writeln!(md, "|---|---|---|---|---|");
        for a in &m.assignments {
            let late = if a.days_late > 0 { format!("**{}**", a.days_late) } else { "—".into() };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} ({}) |",
                a.text.replace('|', "/").replace('\n', " "),
                a.recipient,
                d(a.due),
                late,
                a.meeting.replace('|', "/"),
                d(a.meeting_on)
            );
        }
    }
    let _ = writeln!(md, "\n## Опросы и голосования жителей\n");
    if m.polls.is_empty() {
        let _ = writeln!(md, "Опросов за неделю не проводилось.");
    } else {
        let _ = writeln!(md, "| Опрос | Состояние | Участников | За неделю | Проверено | Главные ответы |");
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        for p in &m.polls {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                p.title.replace('|', "/"),
                p.state(),
                p.ballots,
                p.ballots_in_week,
                p.verified_ballots,
                p.top_line().replace('|', "/"),
            );
        }
        if m.polls.iter().any(|p| !p.verified) {
            let _ = writeln!(
                md,
                "\nОпросы без проверки участников считают голоса по любому ключу респондента: это не число подтверждённых жителей."
            );
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
            r.recipient.name(),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::analytics::CountBy;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A week with nothing to say.
    fn quiet() -> Memo<String> {
        Memo {
            week_start: day("2026-11-16"),
            week_end: day("2026-11-22"),
            summary: Summary::default(),
            previous: Summary::default(),
            top_growth: Vec::new(),
            rising_before: HashSet::new(),
            topic_roadmaps: HashMap::new(),
            problem_points: Vec::new(),
            overdue_by_recipient: Vec::new(),
            overdue_oldest: Vec::new(),
            overdue_measures: Vec::new(),
            assignments: Vec::new(),
            conflicts: Vec::new(),
            polls: Vec::new(),
            rating: Vec::new(),
            recommendations: Vec::new(),
            markdown: String::new(),
            timezone: chrono_tz::Asia::Krasnoyarsk,
        }
    }

    fn rising(key: &str, label: &str, count: i64, baseline: f64, significant: bool) -> GrowthItem {
        GrowthItem {
            key: key.into(),
            label: label.into(),
            count,
            baseline,
            growth: count as f64 / baseline,
            significant,
            drivers: Vec::new(),
        }
    }

    fn ranked(name: &str, rank: Option<i32>, score: Option<f64>) -> RatingRow<String> {
        RatingRow {
            recipient: name.into(),
            rank,
            total: 10,
            has_volume: true,
            on_time_rate: Some(0.5),
            full_answer_rate: None,
            satisfied_rate: Some(1.0),
            reopened_rate: None,
            reaction_on_time_rate: None,
            median_reaction_hours: None,
            median_response_hours: Some(12.0),
            score,
            enough_data: rank.is_some(),
        }
    }

    fn measure(responsible: &str) -> MeasureLine {
        MeasureLine {
            roadmap: "Ремонт дорог".into(),
            measure: "Ямочный ремонт".into(),
            responsible: responsible.into(),
            due: day("2026-11-20"),
        }
    }

    #[test]
    fn a_quiet_week_has_nothing_to_recommend() {
        let m = quiet().written();
        assert_eq!(m.recommendations, ["Существенных отклонений не выявлено."]);
        let md = &m.markdown;
        assert!(md.starts_with("# Аналитическая записка за неделю 16.11.2026 — 22.11.2026\n"), "{md}");
        assert!(md.contains("- Поступило обращений: **0**\n"), "no change against an empty week: {md}");
        assert!(md.contains("- Дан ответ: 0, из них в срок: 0 (—)"), "{md}");
        assert!(md.contains("- Медианное время ответа: —"), "{md}");
        assert!(!md.contains("По каналам"), "{md}");
        for empty in [
            "Роста не выявлено.",
            "Скоплений однотипных обращений не выявлено.",
            "Просроченных обращений нет.",
            "Просроченных мероприятий нет.",
        ] {
            assert!(md.contains(empty), "{empty}: {md}");
        }
        assert!(md.ends_with("## Рекомендации\n\n1. Существенных отклонений не выявлено.\n"), "{md}");
    }

    #[test]
    fn a_rising_topic_is_watched_then_gets_a_roadmap_then_the_roadmap_is_checked() {
        let mut m = quiet();
        m.top_growth = vec![rising("7", "Дороги", 6, 1.0, true), rising("9", "Отопление", 3, 2.0, false)];
        assert_eq!(
            recommendations(&m),
            [
                "Взять на контроль тему «Дороги»: значимый рост за неделю (6 обращений при среднем 1.0); если рост сохранится, подготовить дорожную карту."
            ],
            "a rise that is not significant asks for nothing"
        );
        m.rising_before.insert("7".into());
        assert_eq!(
            recommendations(&m),
            [
                "Подготовить дорожную карту по теме «Дороги»: значимый рост вторую неделю подряд (6 обращений за неделю при среднем 1.0)."
            ]
        );
        m.topic_roadmaps.insert("7".into(), Vec::new());
        assert!(recommendations(&m)[0].starts_with("Подготовить"), "a topic with an empty list has no roadmap");
        m.topic_roadmaps.insert("7".into(), vec!["Ремонт дорог".into(), "Ливнёвки".into()]);
        assert_eq!(
            recommendations(&m),
            [
                "Проверить исполнение дорожной карты «Ремонт дорог», «Ливнёвки»: рост по теме «Дороги» продолжается вторую неделю (6 обращений при среднем 1.0)."
            ]
        );
    }

    #[test]
    fn the_rules_speak_in_their_order() {
        let mut m = quiet();
        m.top_growth = vec![rising("7", "Дороги", 6, 1.0, true)];
        m.overdue_measures = vec![measure("УДХ"), measure("Управление ЖКХ"), measure("УДХ")];
        m.summary = Summary { answered: 4, answered_on_time: 3, assessed: 10, full: 6, ..Summary::default() };
        m.rating = vec![ranked("Управление ЖКХ", Some(1), Some(0.9)), ranked("УДХ", Some(2), Some(0.4))];
        let due = at("2026-11-18T20:00:00Z");
        m.overdue_by_recipient = ["А", "Б", "В", "Г"]
            .iter()
            .zip([4, 3, 2, 1])
            .map(|(r, count)| OverdueGroup { recipient: (*r).into(), count, oldest_due: due })
            .collect();
        assert_eq!(
            recommendations(&m),
            [
                "Взять на контроль тему «Дороги»: значимый рост за неделю (6 обращений при среднем 1.0); если рост сохранится, подготовить дорожную карту.",
                "Заслушать ответственных за просроченные мероприятия дорожных карт (3): УДХ, Управление ЖКХ.",
                "Своевременность ответов 75% (ниже 80%): провести разбор просрочек с ответственными получателями.",
                "Заслушать руководителя «УДХ» на планёрке: наименьший рейтинг (40 из 100).",
                "Обеспечить ответ по 10 просроченным обращениям: А — 4, Б — 3, В — 2.",
                "Усилить контроль качества ответов: ответов по существу 60%.",
            ]
        );
    }

    #[test]
    fn thresholds_and_a_lone_ranked_recipient_ask_for_nothing() {
        let mut m = quiet();
        m.summary = Summary { answered: 5, answered_on_time: 4, assessed: 10, full: 7, ..Summary::default() };
        m.rating = vec![ranked("Управление ЖКХ", Some(1), Some(0.2)), ranked("УДХ", None, Some(0.1))];
        assert_eq!(
            recommendations(&m),
            ["Существенных отклонений не выявлено."],
            "80% on time and 70% full are enough"
        );
    }

    #[test]
    fn the_text_shows_changes_local_dates_and_the_rating() {
        let mut m = quiet();
        m.summary = Summary {
            total: 6,
            answered: 4,
            answered_on_time: 2,
            median_response_hours: Some(72.0),
            by_channel: vec![CountBy { key: "POS".into(), label: "ПОС".into(), count: 5 }],
            ..Summary::default()
        };
        m.previous.total = 4;
        let mut g = rising("7", "Дороги", 6, 1.0, true);
        g.drivers = vec![CountBy { key: "category:8".into(), label: "Тема: Ямы".into(), count: 5 }];
        m.top_growth = vec![g];
        m.problem_points = vec![MemoPoint { category: "Ямы".into(), latitude: 53.7, longitude: 91.7, count: 3 }];
        // 20:00 UTC on 18 November is already 19 November in Krasnoyarsk (UTC+7).
        let due = at("2026-11-18T20:00:00Z");
        m.overdue_by_recipient =
            vec![OverdueGroup { recipient: "Управление ЖКХ".into(), count: 1, oldest_due: due }];
        m.overdue_oldest = vec![OverdueLine {
            number: "2026-000005".into(),
            category: "Отопление".into(),
            recipient: "Управление ЖКХ".into(),
            due_at: due,
        }];
        m.overdue_measures = vec![measure("УДХ")];
        m.rating = vec![ranked("Управление ЖКХ", Some(1), Some(0.75)), ranked("УДХ", None, None)];
        let md = m.written().markdown;
        for line in [
            "- Поступило обращений: **6** (+50% к прошлой неделе)\n",
            "- Дан ответ: 4, из них в срок: 2 (50%)\n",
            "- Медианное время ответа: 72.0 ч\n",
            "- По каналам: ПОС — 5\n",
            "- Дороги: 6 при среднем 1.0 — **значимый рост**; за счёт: Тема: Ямы (+5)\n",
            "| Ямы | 3 | 53.70000, 91.70000 |\n",
            "| Управление ЖКХ | 1 | 19.11.2026 |\n",
            "| 2026-000005 | Отопление | Управление ЖКХ | 19.11.2026 |\n",
            "| Ремонт дорог | Ямочный ремонт | УДХ | 20.11.2026 |\n",
            "| 1 | Управление ЖКХ | 10 | 50% | — | 100% | 75 |\n",
            "| — | УДХ | 10 | 50% | — | 100% | — |\n",
        ] {
            assert!(md.contains(line), "{line}: {md}");
        }
    }
}
