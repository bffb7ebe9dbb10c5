//! Analytics as clients see them: thin views over `service::analytics`, which applies the
//! caller's restrictions itself (an executor sees its own recipient only; a user limited to a
//! territory sees its subtree only; appeals are named only to people who may see them).

use crate::domain::appeal::{CategoryId, RecipientId, TerritoryId};
use std::collections::HashMap;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};

use super::appeals::Appeal;
use super::reference::{Category, Recipient, Territory};
use super::scalars::Date;
use super::{caller, parse_id, state};
use crate::domain::access::{Channel, Principal};
use crate::domain::deadlines::AppealKind;
use crate::entity::category;
use crate::error::{AppError, AppResult};
use crate::service::analytics::{self as svc, Filter, NONE_KEY, Period, VisibleAppeal};
use crate::service::reference;

fn int(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn opt_id(id: Option<i64>) -> ID {
    ID(id.map_or_else(|| NONE_KEY.to_string(), |i| i.to_string()))
}

/// An inclusive range of local dates in the municipality's time zone.
#[derive(InputObject, Clone, Copy)]
pub struct PeriodInput {
    pub from: Date,
    pub to: Date,
}

impl PeriodInput {
    fn period(self) -> AppResult<Period> {
        Period::new("period", self.from.0, self.to.0)
    }
}

/// Which appeals to count; every present filter narrows the set.
#[derive(InputObject, Default)]
pub struct AnalyticsFilter {
    pub channel: Option<Vec<Channel>>,
    pub kind: Option<Vec<AppealKind>>,
    /// A top-level category includes its subcategories.
    pub category_id: Option<Vec<ID>>,
    /// A territory includes its whole subtree.
    pub territory_id: Option<Vec<ID>>,
    /// An EXECUTOR may ask only for its own recipient (and gets it when it asks for none).
    pub recipient_id: Option<Vec<ID>>,
}

fn ids(path: &str, v: Option<Vec<ID>>) -> AppResult<Vec<i64>> {
    v.unwrap_or_default().iter().map(|i| parse_id(path, i)).collect()
}

/// The service filter as the client asked for it; the service narrows it to the caller.
fn parsed(f: Option<AnalyticsFilter>) -> AppResult<Filter> {
    let f = f.unwrap_or_default();
    Ok(Filter {
        channel: f.channel.unwrap_or_default(),
        kind: f.kind.unwrap_or_default(),
        category_id: ids("filter.categoryId", f.category_id)?.into_iter().map(CategoryId).collect(),
        territory_id: ids("filter.territoryId", f.territory_id)?.into_iter().map(TerritoryId).collect(),
        recipient_id: ids("filter.recipientId", f.recipient_id)?.into_iter().map(RecipientId).collect(),
    })
}

fn who<'a>(ctx: &Context<'a>) -> &'a Principal {
    &caller(ctx).principal
}

fn appeal(v: VisibleAppeal) -> Appeal {
    Appeal::of(v.model, v.handles)
}

/// Trend bucket length.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Day,
    /// ISO week, Monday first.
    Week,
    Month,
}

/// How results are grouped.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// By top-level category: a subcategory counts for its parent.
    Category,
    Territory,
    Channel,
    Recipient,
}

impl From<GroupBy> for svc::GroupBy {
    fn from(g: GroupBy) -> Self {
        match g {
            GroupBy::Category => Self::Category,
            GroupBy::Territory => Self::Territory,
            GroupBy::Channel => Self::Channel,
            GroupBy::Recipient => Self::Recipient,
        }
    }
}

/// A count under a key (an enum name or an id; `none` for a missing one) with a Russian label.
#[derive(SimpleObject, Clone)]
pub struct CountBy {
    pub key: String,
    pub label: String,
    pub count: i32,
}

impl From<svc::CountBy> for CountBy {
    fn from(c: svc::CountBy) -> Self {
        Self { key: c.key, label: c.label, count: int(c.count) }
    }
}

/// KPIs of the appeals received in the period (duplicates included: they were work too).
#[derive(SimpleObject)]
pub struct Summary {
    /// Appeals received in the period.
    pub total: i32,
    /// Appeals received in the period per channel.
    pub by_channel: Vec<CountBy>,
    /// Appeals received in the period per kind.
    pub by_kind: Vec<CountBy>,
    /// Appeals received in the period per current status.
    pub by_status: Vec<CountBy>,
    /// Of `total`: those answered (a first answer given; a reopening does not take it back).
    pub answered: i32,
    /// Of `answered`: first answered no later than the deadline in force then.
    pub answered_on_time: i32,
    /// answeredOnTime ÷ answered; null when nothing was answered.
    pub on_time_rate: Option<f64>,
    /// Of `total`: unresolved with the deadline already passed, at the moment of the request.
    pub overdue_now: i32,
    /// Of `total`: unresolved and in the last share of the term (DUE_SOON), at the moment of the request.
    pub due_soon_now: i32,
    /// Median of (answeredAt − receivedAt) in hours over `answered`; null when nothing was answered.
    pub median_response_hours: Option<f64>,
    /// Satisfied authors ÷ authors who rated the answer; null when nobody rated.
    pub satisfied_rate: Option<f64>,
    /// Answers assessed FULL (on the merits) ÷ assessed answers; null when none was assessed.
    pub full_answer_rate: Option<f64>,
    /// Appeals reopened at least once ÷ total; null when total is 0.
    pub reopened_rate: Option<f64>,
    /// Incidents first reacted to by the reaction term (8 working hours from receipt, 4 for
    /// high priority) ÷ incidents first reacted to; null when none was.
    pub reaction_on_time_rate: Option<f64>,
    /// Median working hours (production calendar, working hours of the deadline policy) from
    /// receipt to the first reaction of the incidents; exact; null when none was reacted to.
    pub median_reaction_hours: Option<f64>,
}

impl From<svc::Summary> for Summary {
    fn from(s: svc::Summary) -> Self {
        Self {
            total: int(s.total),
            on_time_rate: s.on_time_rate(),
            satisfied_rate: s.satisfied_rate(),
            full_answer_rate: s.full_answer_rate(),
            reopened_rate: s.reopened_rate(),
            reaction_on_time_rate: s.reaction_on_time_rate(),
            median_reaction_hours: s.median_reaction_hours,
            by_channel: s.by_channel.into_iter().map(CountBy::from).collect(),
            by_kind: s.by_kind.into_iter().map(CountBy::from).collect(),
            by_status: s.by_status.into_iter().map(CountBy::from).collect(),
            answered: int(s.answered),
            answered_on_time: int(s.answered_on_time),
            overdue_now: int(s.overdue_now),
            due_soon_now: int(s.due_soon_now),
            median_response_hours: s.median_response_hours,
        }
    }
}

/// Non-duplicate appeals of one category in one territory (`none` for a missing one).
#[derive(SimpleObject)]
pub struct HeatCell {
    pub category_id: ID,
    pub territory_id: ID,
    /// Non-duplicate appeals received in the period.
    pub count: i32,
    /// count × 1000 ÷ the territory's population; null when the population is unknown.
    pub per1000: Option<f64>,
    /// The same count for the period of the same length just before.
    pub previous_count: i32,
}

/// The topic × territory heat map; duplicates are left out so that a cluster counts once.
#[derive(SimpleObject)]
pub struct Heatmap {
    /// Categories occurring in the cells.
    pub categories: Vec<Category>,
    /// Territories occurring in the cells.
    pub territories: Vec<Territory>,
    pub cells: Vec<HeatCell>,
}

/// Non-duplicate appeals with coordinates in one H3 cell.
#[derive(SimpleObject)]
pub struct GeoCell {
    /// The H3 index (hexadecimal).
    pub cell: String,
    /// Latitude of the cell's centre.
    pub latitude: f64,
    /// Longitude of the cell's centre.
    pub longitude: f64,
    pub count: i32,
    /// The most frequent category in the cell.
    pub top_category: Option<Category>,
}

/// A bucket of a trend.
#[derive(SimpleObject)]
pub struct TrendPoint {
    /// First local date of the bucket (a Monday for weeks, the 1st for months).
    pub start: Date,
    /// Non-duplicate appeals received in the bucket.
    pub count: i32,
}

/// One series of a trend: `all`, or a group key (`none` for a missing one).
#[derive(SimpleObject)]
pub struct TrendSeries {
    pub key: String,
    pub label: String,
    pub points: Vec<TrendPoint>,
}

/// Growth of one group over its baseline (non-duplicate appeals).
#[derive(SimpleObject)]
pub struct GrowthItem {
    pub key: String,
    pub label: String,
    /// Appeals in the period.
    pub count: i32,
    /// Mean count of the three previous periods of the same length.
    pub baseline: f64,
    /// count ÷ baseline (count ÷ 1 when the baseline is 0).
    pub growth: f64,
    /// P(X ≥ count) < 0.05 for X ~ Poisson(baseline), and count ≥ 5.
    pub significant: bool,
    /// Subcategories, territories and channels whose count rose most over their own baseline;
    /// `count` is the rise (rounded).
    pub drivers: Vec<CountBy>,
}

impl From<svc::GrowthItem> for GrowthItem {
    fn from(g: svc::GrowthItem) -> Self {
        Self {
            key: g.key,
            label: g.label,
            count: int(g.count),
            baseline: g.baseline,
            growth: g.growth,
            significant: g.significant,
            drivers: g.drivers.into_iter().map(CountBy::from).collect(),
        }
    }
}

/// Many non-duplicate appeals of one category in one H3 cell of resolution 9.
#[derive(SimpleObject)]
pub struct ProblemPoint {
    pub cell: String,
    pub latitude: f64,
    pub longitude: f64,
    pub category: Category,
    pub count: i32,
    /// Up to three of its appeals, newest first, only those the caller may see (none for tokens).
    pub sample: Vec<Appeal>,
}

/// One recipient in the rating.
#[derive(SimpleObject)]
pub struct RecipientRatingRow {
    pub recipient: Recipient,
    /// 1 for the best score; null when there is too little data or no score.
    pub rank: Option<i32>,
    /// Appeals assigned to the recipient received in the period.
    pub total: i32,
    /// Whether `total` is above zero. Without volume there is nothing to measure: every
    /// rate, the median and the score are null, and the row comes last.
    pub has_volume: bool,
    /// Resolved by the deadline ÷ appeals whose deadline fell in the period and that are
    /// resolved or already overdue; null when there are none.
    pub on_time_rate: Option<f64>,
    /// FULL ÷ assessed answers, of appeals received in the period.
    pub full_answer_rate: Option<f64>,
    /// Satisfied ÷ rated answers, of appeals received in the period.
    pub satisfied_rate: Option<f64>,
    /// Appeals reopened at least once ÷ total: reopenings counted against the recipient.
    pub reopened_rate: Option<f64>,
    /// Its incidents received in the period: first reactions by the reaction term (8 working
    /// hours, 4 for high priority) ÷ first reactions; null without any.
    pub reaction_on_time_rate: Option<f64>,
    /// Its incidents: median working hours from receipt to the first reaction (exact).
    pub median_reaction_hours: Option<f64>,
    /// Median hours from receipt to answer, of appeals received in the period.
    pub median_response_hours: Option<f64>,
    /// 0..1: weighted mean of onTimeRate, fullAnswerRate and satisfiedRate (weights from the
    /// settings, default 0.4 / 0.3 / 0.3), missing rates left out and the rest re-weighted.
    pub score: Option<f64>,
    /// Whether `total` reaches the minimum volume for ranking (setting, default 5).
    pub enough_data: bool,
}

impl From<svc::RatingRow> for RecipientRatingRow {
    fn from(r: svc::RatingRow) -> Self {
        Self {
            recipient: r.recipient.into(),
            rank: r.rank,
            total: int(r.total),
            has_volume: r.has_volume,
            on_time_rate: r.on_time_rate,
            full_answer_rate: r.full_answer_rate,
            satisfied_rate: r.satisfied_rate,
            reopened_rate: r.reopened_rate,
            reaction_on_time_rate: r.reaction_on_time_rate,
            median_reaction_hours: r.median_reaction_hours,
            median_response_hours: r.median_response_hours,
            score: r.score,
            enough_data: r.enough_data,
        }
    }
}

/// One recipient's communication conflicts over a period (decree 1.2б, 1.2в).
#[derive(SimpleObject)]
pub struct RecipientConflictsRow {
    pub recipient: Recipient,
    /// Appeals received in the period with at least one flag.
    pub flagged: i32,
    /// Of them reopened at least twice.
    pub repeated_reopening: i32,
    /// Of them from an author who wrote on the same category within 30 days before.
    pub repeat_author: i32,
    /// Of them social posts with words of escalation.
    pub escalation: i32,
}

impl From<svc::ConflictRow> for RecipientConflictsRow {
    fn from(r: svc::ConflictRow) -> Self {
        Self {
            recipient: r.recipient.into(),
            flagged: int(r.flagged),
            repeated_reopening: int(r.repeated_reopening),
            repeat_author: int(r.repeat_author),
            escalation: int(r.escalation),
        }
    }
}

/// How often an option was chosen by the respondents of one territory.
#[derive(SimpleObject)]
pub struct PollOptionCount {
    pub question_id: ID,
    pub option_id: ID,
    pub count: i32,
}

/// The ballots and answers of one territory in a poll: the territory the respondent named,
/// else the poll's own; `territoryId` "none" when neither.
#[derive(SimpleObject)]
pub struct PollTerritoryAnswers {
    pub territory_id: ID,
    pub label: String,
    pub ballots: i32,
    /// Options of SINGLE and MULTIPLE questions chosen at least once.
    pub options: Vec<PollOptionCount>,
}

/// The most chosen option of a SINGLE or MULTIPLE question.
#[derive(SimpleObject)]
pub struct PollTopAnswer {
    pub question: String,
    pub option: String,
    pub count: i32,
    /// Share of the poll's ballots.
    pub share: f64,
}

/// One poll of a period: participation and answers by territory (decree 1.2б).
#[derive(SimpleObject)]
pub struct PollAnalyticsRow {
    pub poll_id: ID,
    pub title: String,
    pub status: crate::domain::poll::PollStatus,
    pub access: crate::domain::poll::PollAccess,
    pub verification: crate::domain::poll::PollVerification,
    /// Whether the poll verifies its respondents; `false`: the ballots are not counted citizens.
    pub verified: bool,
    /// Ballots cast before the period's end.
    pub ballots: i32,
    /// Of them, cast within the period.
    pub ballots_in_period: i32,
    /// Of them, with a verified respondent.
    pub verified_ballots: i32,
    /// `verifiedBallots / ballots`; null without ballots.
    pub verified_share: Option<f64>,
    /// Most ballots first.
    pub by_territory: Vec<PollTerritoryAnswers>,
    /// Per SINGLE or MULTIPLE question, in order.
    pub top_answers: Vec<PollTopAnswer>,
}

impl TryFrom<svc::PollRow> for PollAnalyticsRow {
    type Error = AppError;
    fn try_from(r: svc::PollRow) -> AppResult<Self> {
        Ok(Self {
            poll_id: ID(r.poll.id.to_string()),
            verified_share: r.verified_share(),
            status: r.poll.status.parse().map_err(AppError::internal)?,
            access: r.poll.access.parse().map_err(AppError::internal)?,
            verification: r.poll.verification.parse().map_err(AppError::internal)?,
            title: r.poll.title,
            verified: r.verified,
            ballots: int(r.ballots),
            ballots_in_period: int(r.ballots_in_period),
            verified_ballots: int(r.verified_ballots),
            by_territory: r
                .by_territory
                .into_iter()
                .map(|t| PollTerritoryAnswers {
                    territory_id: opt_id(t.territory_id),
                    label: t.label,
                    ballots: int(t.ballots),
                    options: t
                        .options
                        .into_iter()
                        .map(|o| PollOptionCount {
                            question_id: ID(o.question_id.to_string()),
                            option_id: ID(o.option_id.to_string()),
                            count: int(o.count),
                        })
                        .collect(),
                })
                .collect(),
            top_answers: r
                .top_answers
                .into_iter()
                .map(|a| PollTopAnswer { question: a.question, option: a.option, count: int(a.count), share: a.share })
                .collect(),
        })
    }
}

/// The weekly analytical note to the Head of the city (аналитическая записка).
#[derive(SimpleObject)]
pub struct WeeklyMemo {
    pub week_start: Date,
    pub week_end: Date,
    /// The note in Russian, as Markdown.
    pub markdown: String,
    pub summary: Summary,
    /// The week before.
    pub previous: Summary,
    /// Categories that grew over their baseline, significant first.
    pub top_growth: Vec<GrowthItem>,
    /// Open overdue appeals the caller may see (none for tokens), earliest deadline first.
    pub overdue: Vec<Appeal>,
    pub rating: Vec<RecipientRatingRow>,
    /// What to do, from stated rules: a significant rise on a topic, on-time rate below 80%,
    /// the lowest-scored recipient, overdue appeals, few answers on the merits.
    pub recommendations: Vec<String>,
    /// `GET` with the same Bearer authorization.
    pub docx_url: String,
    /// `GET` with the same Bearer authorization.
    pub xlsx_url: String,
}

/// Aggregates only: no personal data. Readable by CURATOR, COORDINATOR, HEAD, EXECUTOR (its
/// own recipient only) and tokens with ANALYTICS_READ. Periods are inclusive local dates.
/// Duplicates are left out of problem counts (heatmap, geoCells, trend, growth, problemPoints)
/// so that a cluster of repeated appeals counts once.
#[derive(Default)]
pub struct Analytics;

fn categories_by_id(rows: Vec<category::Model>) -> HashMap<i64, category::Model> {
    rows.into_iter().map(|c| (c.id, c)).collect()
}

#[Object]
impl Analytics {
    /// Always `analytics`: one object, so a normalising client cache (Apollo, urql) merges
    /// the fields of several dashboard queries (kept apart by their arguments) instead of
    /// overwriting one with another.
    async fn id(&self) -> async_graphql::ID {
        async_graphql::ID::from("analytics")
    }

    /// KPIs of the appeals received in the period.
    #[graphql(complexity = "250 + child_complexity")]
    async fn summary(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        filter: Option<AnalyticsFilter>,
    ) -> AppResult<Summary> {
        let (period, filter) = (period.period()?, parsed(filter)?);
        // Only what the client selected is computed (look-ahead).
        let wants = ctx.look_ahead();
        let parts = svc::SummaryParts {
            now: wants.field("overdueNow").exists() || wants.field("dueSoonNow").exists(),
            median: wants.field("medianResponseHours").exists(),
        };
        Ok(svc::summary_of(state(ctx), who(ctx), period, &filter, parts).await?.into())
    }

    /// Topic × territory counts with the previous period and per 1000 inhabitants.
    #[graphql(complexity = "250 + 10 * child_complexity")]
    async fn heatmap(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        filter: Option<AnalyticsFilter>,
    ) -> AppResult<Heatmap> {
        let (period, filter) = (period.period()?, parsed(filter)?);
        let previous = ctx.look_ahead().field("cells").field("previousCount").exists();
        let h = svc::heatmap_of(state(ctx), who(ctx), period, &filter, previous).await?;
        Ok(Heatmap {
            categories: h.categories.into_iter().map(Category::from).collect(),
            territories: h.territories.into_iter().map(Territory::from).collect(),
            cells: h
                .cells
                .into_iter()
                .map(|c| HeatCell {
                    category_id: opt_id(c.category_id),
                    territory_id: opt_id(c.territory_id),
                    count: int(c.count),
                    per1000: c.per1000,
                    previous_count: int(c.previous_count),
                })
                .collect(),
        })
    }

    /// Non-duplicate appeals with coordinates per H3 cell; `resolution` 5..=10, default 8.
    #[graphql(complexity = "250 + 10 * child_complexity")]
    async fn geo_cells(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        resolution: Option<i32>,
        filter: Option<AnalyticsFilter>,
    ) -> AppResult<Vec<GeoCell>> {
        let resolution = resolution.unwrap_or(8);
        let res = u8::try_from(resolution)
            .ok()
            .filter(|r| (5..=10).contains(r))
            .ok_or_else(|| AppError::bad("resolution", "must be between 5 and 10"))?;
        let (period, filter) = (period.period()?, parsed(filter)?);
        let st = state(ctx);
        let cells = svc::geo_cells(st, who(ctx), period, res, &filter).await?;
        let categories = categories_by_id(reference::categories(st).await?);
        Ok(cells
            .into_iter()
            .map(|c| GeoCell {
                cell: c.cell,
                latitude: c.latitude,
                longitude: c.longitude,
                count: int(c.count),
                top_category: c.top_category_id.and_then(|id| categories.get(&id)).cloned().map(Category::from),
            })
            .collect())
    }

    /// Non-duplicate appeals per day, ISO week or month (empty buckets included), as one
    /// series or one per group.
    #[graphql(complexity = "250 + 10 * child_complexity")]
    async fn trend(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        granularity: Granularity,
        group_by: Option<GroupBy>,
        filter: Option<AnalyticsFilter>,
    ) -> AppResult<Vec<TrendSeries>> {
        let (period, filter) = (period.period()?, parsed(filter)?);
        let g = match granularity {
            Granularity::Day => svc::Granularity::Day,
            Granularity::Week => svc::Granularity::Week,
            Granularity::Month => svc::Granularity::Month,
        };
        let series = svc::trend(state(ctx), who(ctx), period, g, group_by.map(Into::into), &filter).await?;
        Ok(series
            .into_iter()
            .map(|s| TrendSeries {
                key: s.key,
                label: s.label,
                points: s
                    .points
                    .into_iter()
                    .map(|p| TrendPoint { start: Date(p.start), count: int(p.count) })
                    .collect(),
            })
            .collect())
    }

    /// Groups whose count of non-duplicate appeals rose over the baseline (the mean of the
    /// three previous periods of the same length), significant first, then by growth;
    /// `limit` 1..=100, default 10. Significance: one-sided Poisson test at 5% with at least
    /// 5 appeals. Drivers: the subcategories (for CATEGORY; otherwise categories), territories
    /// and channels with the largest rise over their own baseline.
    #[graphql(complexity = "250 + 10 * child_complexity")]
    async fn growth(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        group_by: GroupBy,
        limit: Option<i32>,
        filter: Option<AnalyticsFilter>,
    ) -> AppResult<Vec<GrowthItem>> {
        let limit = limit.unwrap_or(10);
        if !(1..=100).contains(&limit) {
            return Err(AppError::bad("limit", "must be between 1 and 100"));
        }
        let (period, filter) = (period.period()?, parsed(filter)?);
        let items = svc::growth(state(ctx), who(ctx), period, group_by.into(), limit as usize, &filter).await?;
        Ok(items.into_iter().map(GrowthItem::from).collect())
    }

    /// Places (H3 cells of resolution 9) with at least `minCount` (default 3, at least 2)
    /// non-duplicate appeals of one category in the period.
    #[graphql(complexity = "250 + 10 * child_complexity")]
    async fn problem_points(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        min_count: Option<i32>,
        filter: Option<AnalyticsFilter>,
    ) -> AppResult<Vec<ProblemPoint>> {
        let min_count = min_count.unwrap_or(3);
        if min_count < 2 {
            return Err(AppError::bad("minCount", "must be at least 2"));
        }
        let (period, filter) = (period.period()?, parsed(filter)?);
        let st = state(ctx);
        // Samples are read only when the query selects them.
        let samples = ctx.look_ahead().field("sample").exists();
        let points = svc::problem_points(st, who(ctx), period, i64::from(min_count), &filter, samples).await?;
        let categories = categories_by_id(reference::categories(st).await?);
        Ok(points
            .into_iter()
            .filter_map(|p| {
                let category = categories.get(&p.category_id).cloned().map(Category::from)?;
                let sample = p.sample.into_iter().map(appeal).collect();
                Some(ProblemPoint {
                    cell: p.cell,
                    latitude: p.latitude,
                    longitude: p.longitude,
                    category,
                    count: int(p.count),
                    sample,
                })
            })
            .collect())
    }

    /// Recipients ranked by score over the period, optionally within one channel. An
    /// EXECUTOR gets its own row only; a user limited to a territory, its subtree's appeals.
    #[graphql(complexity = "250 + 10 * child_complexity")]
    async fn recipient_rating(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        channel: Option<Channel>,
    ) -> AppResult<Vec<RecipientRatingRow>> {
        let period = period.period()?;
        let with_median = ctx.look_ahead().field("medianResponseHours").exists();
        let rows = svc::recipient_rating_of(state(ctx), who(ctx), period, channel, with_median).await?;
        Ok(rows.into_iter().map(RecipientRatingRow::from).collect())
    }

    /// Communication conflicts per recipient: appeals received in the period with each
    /// conflict flag (see `Appeal.conflictFlags`); recipients without any are left out. The
    /// rating's access rule: an EXECUTOR gets its own row only; a user limited to a
    /// territory, its subtree's appeals.
    #[graphql(complexity = "250 + 10 * child_complexity")]
    async fn conflicts(&self, ctx: &Context<'_>, period: PeriodInput) -> AppResult<Vec<RecipientConflictsRow>> {
        let period = period.period()?;
        let rows = svc::conflicts(state(ctx), who(ctx), period).await?;
        Ok(rows.into_iter().map(RecipientConflictsRow::from).collect())
    }

    /// Poll results of the period (decree 1.2б): the polls open to voting in it, newest
    /// first, with participation (ballots, verified share) and answers by the respondents'
    /// territory. A user limited to a territory gets the polls of its subtree; an EXECUTOR
    /// limited to its recipient is refused (polls are not per recipient).
    #[graphql(complexity = "250 + 10 * child_complexity")]
    async fn polls(&self, ctx: &Context<'_>, period: PeriodInput) -> AppResult<Vec<PollAnalyticsRow>> {
        let period = period.period()?;
        let rows = svc::polls(state(ctx), who(ctx), period).await?;
        rows.into_iter().map(PollAnalyticsRow::try_from).collect()
    }

    /// The weekly memo for the week starting on `weekStart` (must be a Monday).
    #[graphql(complexity = "1000 + child_complexity")]
    async fn weekly_memo(&self, ctx: &Context<'_>, week_start: Date) -> AppResult<WeeklyMemo> {
        let st = state(ctx);
        let memo = svc::weekly_memo(st, who(ctx), week_start.0).await?;
        let overdue = svc::overdue_appeals(st, who(ctx)).await?.into_iter().map(appeal).collect();
        let day = memo.week_start.format("%Y-%m-%d").to_string();
        Ok(WeeklyMemo {
            week_start: Date(memo.week_start),
            week_end: Date(memo.week_end),
            markdown: memo.markdown,
            summary: memo.summary.into(),
            previous: memo.previous.into(),
            top_growth: memo.top_growth.into_iter().map(GrowthItem::from).collect(),
            overdue,
            rating: memo.rating.into_iter().map(RecipientRatingRow::from).collect(),
            recommendations: memo.recommendations,
            docx_url: format!("/exports/memo/{day}.docx"),
            xlsx_url: format!("/exports/memo/{day}.xlsx"),
        })
    }
}

/// Analytics queries.
#[derive(Default)]
pub struct AnalyticsQuery;

#[Object]
impl AnalyticsQuery {
    /// Aggregated analytics (no personal data).
    async fn analytics(&self) -> Analytics {
        Analytics
    }
}
