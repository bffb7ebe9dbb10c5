//! Poll results in analytics (issue 18, item 9; decree 1.2б): per poll of a period, the
//! participation (ballots, verified ballots) and the answers by the respondents' territory.
//!
//! A poll belongs to a period when it was open to voting in it: published (not a draft), its
//! window (`opensAt`, else its creation) starting before the period ends and, if closed (or
//! past `closesAt`), closed on or after the period's first day. Figures count the ballots cast
//! before the period's end. The territory of a ballot is the one the respondent named when
//! voting, else the poll's own territory, else none («Не указана»).

use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect, RelationTrait};

use super::access::Scoped;
use super::query::Names;
use super::{Filter, Period};
use crate::domain::access::Principal;
use crate::domain::poll::{PollStatus, QuestionType};
use crate::entity::{poll, poll_answer, poll_ballot};
use crate::error::{AppError, AppResult};
use crate::service::polls::{questions_of, verifies};
use crate::state::AppState;

/// How many options of one territory's answers are counted, per option.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionCount {
    pub question_id: i64,
    pub option_id: i64,
    pub count: i64,
}

/// The ballots and answers of one territory in a poll.
#[derive(Debug, Clone, PartialEq)]
pub struct TerritoryAnswers {
    /// `None`: the respondents named none and the poll has none.
    pub territory_id: Option<i64>,
    pub label: String,
    pub ballots: i64,
    pub options: Vec<OptionCount>,
}

/// The most chosen option of a SINGLE or MULTIPLE question.
#[derive(Debug, Clone, PartialEq)]
pub struct TopAnswer {
    pub question: String,
    pub option: String,
    pub count: i64,
    /// Share of the poll's ballots.
    pub share: f64,
}

/// One poll of a period.
#[derive(Debug, Clone)]
pub struct PollRow {
    pub poll: poll::Model,
    /// Whether its voting had ended by the period's end (closed, or past `closesAt`).
    pub closed: bool,
    /// Whether the poll verifies its respondents.
    pub verified: bool,
    /// Ballots cast before the period's end.
    pub ballots: i64,
    /// Of them, cast within the period.
    pub ballots_in_period: i64,
    /// Of them, with a verified respondent.
    pub verified_ballots: i64,
    pub by_territory: Vec<TerritoryAnswers>,
    pub top_answers: Vec<TopAnswer>,
}

impl PollRow {
    /// Verified ballots over all ballots; `None` without ballots.
    pub fn verified_share(&self) -> Option<f64> {
        (self.ballots > 0).then(|| self.verified_ballots as f64 / self.ballots as f64)
    }
}

/// The polls open to voting in `period`, newest first, with their participation and answers
/// by territory. A person limited to a territory sees the polls of its subtree only.
///
/// # Errors
/// `UNAUTHENTICATED` or `FORBIDDEN` when `who` may not read analytics; `FORBIDDEN` for an
/// executor limited to its recipient (polls are not per recipient).
pub async fn polls(state: &AppState, who: &Principal, period: Period) -> AppResult<Vec<PollRow>> {
    let scoped = Scoped::of(state, who, &Filter::default()).await?;
    if scoped.recipient().is_some() {
        return Err(AppError::Forbidden("poll results are not kept per recipient".into()));
    }
    polls_in(state, &scoped, period).await
}

pub(super) async fn polls_in(state: &AppState, scoped: &Scoped, period: Period) -> AppResult<Vec<PollRow>> {
    if scoped.recipient().is_some() {
        return Ok(Vec::new());
    }
    let conn = &state.db;
    let (start, end) = period.instants(state.settings.timezone);
    let candidates = poll::Entity::find()
        .filter(poll::Column::Status.is_in([PollStatus::Published.as_str(), PollStatus::Closed.as_str()]))
        .order_by_desc(poll::Column::Id)
        .all(conn)
        .await?;
    let polls: Vec<poll::Model> = candidates
        .into_iter()
        .filter(|p| p.opens_at.unwrap_or(p.created_at) < end)
        .filter(|p| {
            let ended = match (p.closed_at, p.closes_at) {
                (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
                (a, b) => a.or(b),
            };
            ended.is_none_or(|e| e >= start)
        })
        .filter(|p| match scoped.territories() {
            Some(ts) => p.territory_id.is_some_and(|t| ts.contains(&t)),
            None => true,
        })
        .collect();
    if polls.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = polls.iter().map(|p| p.id).collect();
    let ballots: Vec<(i64, Option<i64>, bool, i64)> = poll_ballot::Entity::find()
        .select_only()
        .column(poll_ballot::Column::PollId)
        .column(poll_ballot::Column::TerritoryId)
        .column(poll_ballot::Column::Verified)
        .column_as(Expr::col(poll_ballot::Column::Id).count(), "n")
        .filter(poll_ballot::Column::PollId.is_in(ids.clone()))
        .filter(poll_ballot::Column::At.lt(end))
        .group_by(poll_ballot::Column::PollId)
        .group_by(poll_ballot::Column::TerritoryId)
        .group_by(poll_ballot::Column::Verified)
        .into_tuple()
        .all(conn)
        .await?;
    let in_period: Vec<(i64, i64)> = poll_ballot::Entity::find()
        .select_only()
        .column(poll_ballot::Column::PollId)
        .column_as(Expr::col(poll_ballot::Column::Id).count(), "n")
        .filter(poll_ballot::Column::PollId.is_in(ids.clone()))
        .filter(poll_ballot::Column::At.gte(start))
        .filter(poll_ballot::Column::At.lt(end))
        .group_by(poll_ballot::Column::PollId)
        .into_tuple()
        .all(conn)
        .await?;
    let answers: Vec<(i64, Option<i64>, i64, i64, i64)> = poll_answer::Entity::find()
        .select_only()
        .column(poll_answer::Column::PollId)
        .column(poll_ballot::Column::TerritoryId)
        .column(poll_answer::Column::QuestionId)
        .column_as(poll_answer::Column::OptionId, "option_id")
        .column_as(Expr::col((poll_answer::Entity, poll_answer::Column::Id)).count(), "n")
        .join(JoinType::InnerJoin, poll_answer::Relation::Ballot.def())
        .filter(poll_answer::Column::PollId.is_in(ids.clone()))
        .filter(poll_answer::Column::OptionId.is_not_null())
        .filter(poll_ballot::Column::At.lt(end))
        .group_by(poll_answer::Column::PollId)
        .group_by(poll_ballot::Column::TerritoryId)
        .group_by(poll_answer::Column::QuestionId)
        .group_by(poll_answer::Column::OptionId)
        .into_tuple()
        .all(conn)
        .await?;
    let mut questions = questions_of(conn, &ids).await?;
    let names = Names::load(state).await?;
    let period_counts: HashMap<i64, i64> = in_period.into_iter().collect();
    let mut out = Vec::with_capacity(polls.len());
    for p in polls {
        let mut by_territory: BTreeMap<Option<i64>, TerritoryAnswers> = BTreeMap::new();
        let (mut total, mut verified) = (0, 0);
        for (_, t, v, n) in ballots.iter().filter(|b| b.0 == p.id) {
            total += n;
            if *v {
                verified += n;
            }
            by_territory
                .entry(*t)
                .or_insert_with(|| TerritoryAnswers {
                    territory_id: *t,
                    label: names.territory(*t),
                    ballots: 0,
                    options: Vec::new(),
                })
                .ballots += n;
        }
        let mut totals: HashMap<i64, i64> = HashMap::new();
        for (_, t, q, o, n) in answers.iter().filter(|a| a.0 == p.id) {
            *totals.entry(*o).or_default() += n;
            if let Some(row) = by_territory.get_mut(t) {
                row.options.push(OptionCount { question_id: *q, option_id: *o, count: *n });
            }
        }
        let mut top_answers = Vec::new();
        for (q, options) in questions.remove(&p.id).unwrap_or_default() {
            if !matches!(q.question_type.parse(), Ok(QuestionType::Single | QuestionType::Multiple)) {
                continue;
            }
            let best = options
                .iter()
                .map(|o| (o, totals.get(&o.id).copied().unwrap_or(0)))
                .filter(|(_, n)| *n > 0)
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.position.cmp(&a.0.position)));
            if let Some((o, n)) = best {
                top_answers.push(TopAnswer {
                    question: q.text.clone(),
                    option: o.text.clone(),
                    count: n,
                    share: if total > 0 { n as f64 / total as f64 } else { 0.0 },
                });
            }
        }
        let mut by_territory: Vec<TerritoryAnswers> = by_territory.into_values().collect();
        for t in &mut by_territory {
            t.options.sort_by_key(|o| (o.question_id, o.option_id));
        }
        by_territory.sort_by(|a, b| b.ballots.cmp(&a.ballots).then_with(|| a.label.cmp(&b.label)));
        out.push(PollRow {
            closed: p.closed_at.is_some_and(|c| c < end) || p.closes_at.is_some_and(|c| c <= end),
            verified: verifies(&p),
            ballots_in_period: period_counts.get(&p.id).copied().unwrap_or(0),
            ballots: total,
            verified_ballots: verified,
            by_territory,
            top_answers,
            poll: p,
        });
    }
    Ok(out)
}
