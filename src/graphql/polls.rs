//! Polls as clients see them: staff lists and details with results, the public view of a
//! published poll, voting, discussion comments and their moderation, suggested topics.

use crate::domain::poll::{PollCommentId, PollId};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::connection::{connection, forward_window};
use super::reference::{Category, Territory, load_category, load_territory};
use super::{caller, parse_id, state};
use crate::domain::poll::{
    AnswerIn, PollAccess, PollAction, PollKind, PollStatus, PollVerification, QuestionDraft, QuestionType,
};
use crate::entity::{poll, poll_comment};
use crate::error::{AppError, AppResult};
use crate::service::polls::{self, BallotIn, NewPoll, PollFilter as Filter};

/// Who looks at a poll, which decides what of it they see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// Staff: results always, hidden comments, moderation reasons and text answers included.
    Staff,
    /// An API token with ANALYTICS_READ (the regional centre): results always, but neither
    /// citizens' text answers (free text, personal data) nor hidden comments.
    Analytics,
    /// A citizen: results once the poll is closed, if they are public.
    Public,
}

impl Viewer {
    /// The viewer of a staff query: a person, or else an analytics token (the root field's
    /// rule admits nobody else).
    fn of(ctx: &Context<'_>) -> Self {
        if super::sees_people(ctx) { Self::Staff } else { Self::Analytics }
    }
}

/// A survey, vote or public discussion.
pub struct Poll {
    pub model: poll::Model,
    /// Who is looking.
    pub viewer: Viewer,
    /// Questions loaded with the page, when the poll came in a list.
    pub questions: Option<Vec<polls::QuestionWithOptions>>,
    /// Results loaded with the page, when the poll came in a list that asks for them.
    pub results: Option<polls::PollResults>,
}

impl Poll {
    fn new(model: poll::Model, viewer: Viewer) -> Self {
        Self { model, viewer, questions: None, results: None }
    }
}

#[Object]
impl Poll {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    async fn title(&self) -> &str {
        &self.model.title
    }
    async fn description(&self) -> Option<&str> {
        self.model.description.as_deref()
    }
    async fn kind(&self) -> AppResult<PollKind> {
        self.model.kind.parse().map_err(AppError::internal)
    }
    async fn status(&self) -> AppResult<PollStatus> {
        self.model.status.parse().map_err(AppError::internal)
    }
    async fn access(&self) -> AppResult<PollAccess> {
        self.model.access.parse().map_err(AppError::internal)
    }
    /// How respondents are verified (OPEN polls; INVITE polls are verified by their codes).
    async fn verification(&self) -> AppResult<PollVerification> {
        self.model.verification.parse().map_err(AppError::internal)
    }
    async fn opens_at(&self) -> Option<DateTime<Utc>> {
        self.model.opens_at
    }
    async fn closes_at(&self) -> Option<DateTime<Utc>> {
        self.model.closes_at
    }
    async fn territory(&self, ctx: &Context<'_>) -> AppResult<Option<Territory>> {
        load_territory(ctx, self.model.territory_id).await
    }
    async fn category(&self, ctx: &Context<'_>) -> AppResult<Option<Category>> {
        load_category(ctx, self.model.category_id).await
    }
    /// Whether the public sees the results once the poll is closed.
    async fn public_results(&self) -> bool {
        self.model.public_results
    }
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn questions(&self, ctx: &Context<'_>) -> AppResult<Vec<Question>> {
        let qs = match &self.questions {
            Some(q) => q.clone(),
            None => polls::questions(&state(ctx).db, PollId(self.model.id)).await?,
        };
        qs.into_iter()
            .map(|(q, o)| {
                Ok(Question {
                    id: ID(q.id.to_string()),
                    text: q.text.clone(),
                    r#type: polls::question_type(&q)?,
                    options: o.into_iter().map(|o| QuestionOption { id: ID(o.id.to_string()), text: o.text }).collect(),
                })
            })
            .collect()
    }
    /// Staff and analytics tokens always; the public once the poll is closed, if its
    /// results are public.
    async fn results(&self, ctx: &Context<'_>) -> AppResult<Option<PollResults>> {
        let visible = self.viewer != Viewer::Public
            || (self.model.status == PollStatus::Closed.as_str() && self.model.public_results);
        if !visible {
            return Ok(None);
        }
        let r = match &self.results {
            Some(r) => r.clone(),
            None => polls::results(&state(ctx).db, PollId(self.model.id)).await?,
        };
        let staff = self.viewer == Viewer::Staff;
        Ok(Some(PollResults {
            ballots: i32::try_from(r.ballots).unwrap_or(i32::MAX),
            verified: r.verified,
            verified_ballots: i32::try_from(r.verified_ballots).unwrap_or(i32::MAX),
            questions: r
                .questions
                .into_iter()
                .map(|q| QuestionResult {
                    question_id: ID(q.question_id.to_string()),
                    options: q
                        .options
                        .into_iter()
                        .map(|o| OptionResult {
                            option_id: ID(o.option_id.to_string()),
                            count: i32::try_from(o.count).unwrap_or(i32::MAX),
                            share: o.share,
                        })
                        .collect(),
                    average: q.average,
                    text_answers: i32::try_from(q.text_answers).unwrap_or(i32::MAX),
                    texts: staff.then_some(q.texts),
                })
                .collect(),
        }))
    }
    /// Discussion comments, oldest first; hidden ones are shown to staff only.
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn comments(&self, ctx: &Context<'_>) -> AppResult<Vec<PollComment>> {
        let staff = self.viewer == Viewer::Staff;
        let rows = ctx
            .data_unchecked::<super::loaders::Loaders>()
            .poll_comments()
            .load_one(self.model.id)
            .await
            .map_err(std::sync::Arc::unwrap_or_clone)?
            .unwrap_or_default();
        Ok(rows.into_iter().filter(|c| staff || !c.hidden).map(|c| PollComment::new(c, staff)).collect())
    }
    async fn version(&self) -> i32 {
        self.model.version
    }
}

/// A question of a poll.
#[derive(SimpleObject)]
pub struct Question {
    pub id: ID,
    pub text: String,
    pub r#type: QuestionType,
    pub options: Vec<QuestionOption>,
}

/// An option of a SINGLE or MULTIPLE question.
#[derive(SimpleObject)]
pub struct QuestionOption {
    pub id: ID,
    pub text: String,
}

/// Results of a poll.
#[derive(SimpleObject)]
pub struct PollResults {
    pub ballots: i32,
    /// Whether the poll verifies its respondents (INVITE codes, or a code sent to the contact
    /// with CONTACT_CODE). `false`: any respondent key counted once; the ballots are not
    /// counted citizens.
    pub verified: bool,
    /// Ballots whose respondent was verified.
    pub verified_ballots: i32,
    pub questions: Vec<QuestionResult>,
}

/// Results of one question.
#[derive(SimpleObject)]
pub struct QuestionResult {
    pub question_id: ID,
    pub options: Vec<OptionResult>,
    /// The mean answer of a SCALE question.
    pub average: Option<f64>,
    pub text_answers: i32,
    /// The text answers; staff only (null for the public and for API tokens).
    pub texts: Option<Vec<String>>,
}

/// How often one option was chosen.
#[derive(SimpleObject)]
pub struct OptionResult {
    pub option_id: ID,
    pub count: i32,
    /// Share of ballots that chose it.
    pub share: f64,
}

/// A citizen's comment in a public discussion.
#[derive(SimpleObject)]
pub struct PollComment {
    pub id: ID,
    pub at: DateTime<Utc>,
    pub text: String,
    pub hidden: bool,
    /// Why it was hidden (staff only).
    pub moderation_reason: Option<String>,
}

impl PollComment {
    fn new(c: poll_comment::Model, staff: bool) -> Self {
        Self {
            id: ID(c.id.to_string()),
            at: c.at,
            text: c.text,
            hidden: c.hidden,
            moderation_reason: if staff { c.moderation_reason } else { None },
        }
    }
}

/// A candidate poll topic: a category with many or growing appeals.
#[derive(SimpleObject)]
pub struct PollSuggestion {
    pub category: Category,
    /// Appeals on the topic in the last 30 days.
    pub appeals: i32,
    /// Appeals in the 30 days before.
    pub previous_appeals: i32,
    /// `appeals / previousAppeals − 1`; null when there were none before.
    pub growth: Option<f64>,
    /// A ready question to start from.
    pub question: String,
}

connection!(PollConnection, PollEdge, Poll);

#[derive(InputObject, Default)]
pub struct PollFilter {
    pub status: Option<Vec<PollStatus>>,
    pub kind: Option<Vec<PollKind>>,
}

#[derive(InputObject)]
pub struct QuestionInput {
    pub text: String,
    pub r#type: QuestionType,
    /// At least two for SINGLE and MULTIPLE; none for SCALE (1–5) and TEXT.
    pub options: Option<Vec<String>>,
}

#[derive(InputObject)]
pub struct CreatePollInput {
    pub title: String,
    pub description: Option<String>,
    pub kind: PollKind,
    pub access: PollAccess,
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    pub territory_id: Option<ID>,
    pub category_id: Option<ID>,
    pub questions: Vec<QuestionInput>,
    /// Whether the public sees the results once closed (default true).
    pub public_results: Option<bool>,
    /// How respondents of an OPEN poll are verified (default NONE: reported as unverified).
    pub verification: Option<PollVerification>,
}

#[derive(InputObject)]
pub struct AnswerInput {
    pub question_id: ID,
    pub option_ids: Option<Vec<ID>>,
    pub scale: Option<i32>,
    pub text: Option<String>,
}

#[derive(InputObject)]
pub struct CastVoteInput {
    pub poll_id: ID,
    /// OPEN polls: any stable key of the respondent (stored hashed); INVITE polls: the invitation code.
    pub respondent_key: String,
    pub answers: Vec<AnswerInput>,
    /// CONTACT_CODE polls: the code sent to the contact given as respondentKey (requestPollCode).
    pub code: Option<String>,
    /// The territory the respondent lives in; by default the poll's territory, if any.
    pub territory_id: Option<ID>,
}

fn id_opt(id: &ID) -> Option<i64> {
    id.parse::<i64>().ok().filter(|v| *v > 0)
}

/// Poll queries.
#[derive(Default)]
pub struct PollQuery;

#[Object]
impl PollQuery {
    /// Polls, newest first (staff; ANALYTICS_READ tokens see results without text answers
    /// and hidden comments).
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn polls(
        &self,
        ctx: &Context<'_>,
        filter: Option<PollFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<PollConnection> {
        let (offset, limit) = forward_window(first, after.as_deref())?;
        let f = filter.unwrap_or_default();
        let filter = Filter { status: f.status.unwrap_or_default(), kind: f.kind.unwrap_or_default() };
        let db = &state(ctx).db;
        let viewer = Viewer::of(ctx);
        let (rows, total) = polls::list(db, &filter, offset, limit).await?;
        let ids: Vec<i64> = rows.iter().map(|p| p.id).collect();
        let mut questions = polls::questions_of(db, &ids).await?;
        // The page's results in a few statements, not several per poll.
        let wants = ctx.look_ahead();
        let mut results = if wants.field("edges").field("node").field("results").exists() {
            polls::results_of(db, &rows.iter().collect::<Vec<_>>(), viewer == Viewer::Staff).await?
        } else {
            std::collections::HashMap::new()
        };
        let nodes = rows
            .into_iter()
            .map(|model| {
                let q = Some(questions.remove(&model.id).unwrap_or_default());
                let r = results.remove(&model.id);
                Poll { model, viewer, questions: q, results: r }
            })
            .collect();
        Ok(PollConnection::from_offset(nodes, offset, total))
    }

    /// Public: the polls open to everyone now (PUBLISHED, OPEN access, within their voting
    /// window), newest first; as `publicPoll` shows them (no results while open, no hidden
    /// comments, no text answers).
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn public_polls(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<PollConnection> {
        let (offset, limit) = forward_window(first, after.as_deref())?;
        let st = state(ctx);
        let (rows, total) = polls::list_public(&st.db, st.clock.now(), offset, limit).await?;
        let ids: Vec<i64> = rows.iter().map(|p| p.id).collect();
        let mut questions = polls::questions_of(&st.db, &ids).await?;
        let nodes = rows
            .into_iter()
            .map(|model| {
                let q = Some(questions.remove(&model.id).unwrap_or_default());
                Poll { model, viewer: Viewer::Public, questions: q, results: None }
            })
            .collect();
        Ok(PollConnection::from_offset(nodes, offset, total))
    }

    /// One poll with its results (staff; ANALYTICS_READ tokens as in `polls`).
    async fn poll(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Poll>> {
        let id = parse_id("id", &id)?;
        Ok(Some(Poll::new(polls::get(&state(ctx).db, PollId(id)).await?, Viewer::of(ctx))))
    }

    /// Public: a published or closed poll as citizens see it; `NOT_FOUND` otherwise.
    async fn public_poll(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Poll>> {
        let id = id_opt(&id).ok_or_else(|| AppError::NotFound("poll".into()))?;
        Ok(Some(Poll::new(polls::get_public(&state(ctx).db, PollId(id)).await?, Viewer::Public)))
    }

    /// Candidate poll topics: categories with the most appeals in the last 30 days and their
    /// growth against the 30 days before (staff; `limit` 1–20, default 5).
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn poll_suggestions(&self, ctx: &Context<'_>, limit: Option<i32>) -> AppResult<Vec<PollSuggestion>> {
        let limit = limit.unwrap_or(5);
        if !(1..=20).contains(&limit) {
            return Err(AppError::bad("limit", "must be between 1 and 20"));
        }
        let rows = polls::suggestions(state(ctx), limit as usize).await?;
        Ok(rows
            .into_iter()
            .map(|s| PollSuggestion {
                question: format!("Какие проблемы по теме «{}» для вас сейчас важнее всего?", s.category.name),
                appeals: i32::try_from(s.appeals).unwrap_or(i32::MAX),
                previous_appeals: i32::try_from(s.previous).unwrap_or(i32::MAX),
                growth: s.growth,
                category: Category::from(s.category),
            })
            .collect())
    }
}

/// Poll mutations.
#[derive(Default)]
pub struct PollMutation;

#[Object]
impl PollMutation {
    /// A new DRAFT poll with its questions.
    async fn create_poll(&self, ctx: &Context<'_>, input: CreatePollInput) -> AppResult<Poll> {
        let opt = |path: &str, id: Option<&ID>| id.map(|i| parse_id(path, i)).transpose();
        let new = NewPoll {
            title: input.title,
            description: input.description,
            kind: input.kind,
            access: input.access,
            opens_at: input.opens_at,
            closes_at: input.closes_at,
            territory_id: opt("input.territoryId", input.territory_id.as_ref())?,
            category_id: opt("input.categoryId", input.category_id.as_ref())?,
            public_results: input.public_results.unwrap_or(true),
            verification: input.verification.unwrap_or(PollVerification::None),
            questions: input
                .questions
                .into_iter()
                .map(|q| QuestionDraft { text: q.text, kind: q.r#type, options: q.options.unwrap_or_default() })
                .collect(),
        };
        Ok(Poll::new(polls::create(state(ctx), caller(ctx), new).await?, Viewer::Staff))
    }

    /// DRAFT → PUBLISHED; the questions are frozen from now on.
    async fn publish_poll(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Poll> {
        let id = parse_id("id", &id)?;
        Ok(Poll::new(
            polls::act(state(ctx), caller(ctx), PollId(id), version, PollAction::Publish).await?,
            Viewer::Staff,
        ))
    }

    /// PUBLISHED → CLOSED.
    async fn close_poll(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Poll> {
        let id = parse_id("id", &id)?;
        Ok(Poll::new(polls::act(state(ctx), caller(ctx), PollId(id), version, PollAction::Close).await?, Viewer::Staff))
    }

    /// Returns the one-time invitation codes of an INVITE poll; shown once.
    #[graphql(complexity = "100 + child_complexity")]
    async fn generate_poll_invites(&self, ctx: &Context<'_>, poll_id: ID, count: i32) -> AppResult<Vec<String>> {
        let id = parse_id("pollId", &poll_id)?;
        polls::generate_invites(state(ctx), caller(ctx), PollId(id), count).await
    }

    /// Public. OPEN polls: one ballot per respondentKey; INVITE polls: respondentKey is an
    /// invitation code, usable once.
    async fn cast_vote(&self, ctx: &Context<'_>, input: CastVoteInput) -> AppResult<bool> {
        let poll_id = id_opt(&input.poll_id).ok_or_else(|| AppError::NotFound("poll".into()))?;
        let answers: Vec<AnswerIn> = input
            .answers
            .into_iter()
            .map(|a| AnswerIn {
                question_id: id_opt(&a.question_id),
                option_ids: a.option_ids.map(|v| v.iter().map(id_opt).collect()),
                scale: a.scale,
                text: a.text,
            })
            .collect();
        let ballot = BallotIn {
            respondent_key: input.respondent_key,
            code: input.code,
            territory_id: input.territory_id.as_ref().map(id_opt),
            answers,
        };
        polls::cast_vote(state(ctx), caller(ctx), PollId(poll_id), &ballot).await
    }

    /// Public, for OPEN polls with CONTACT_CODE verification: sends a one-time code (6 digits,
    /// valid 15 minutes) to an e-mail address or, with an SMS gateway configured, a telephone
    /// number; the ballot then gives the contact as respondentKey and the code. Neither is
    /// stored in clear.
    async fn request_poll_code(&self, ctx: &Context<'_>, poll_id: ID, contact: String) -> AppResult<bool> {
        let poll_id = id_opt(&poll_id).ok_or_else(|| AppError::NotFound("poll".into()))?;
        polls::request_code(state(ctx), caller(ctx), PollId(poll_id), &contact).await
    }

    /// Public on published DISCUSSION polls.
    async fn add_poll_comment(
        &self,
        ctx: &Context<'_>,
        poll_id: ID,
        respondent_key: String,
        text: String,
    ) -> AppResult<PollComment> {
        let poll_id = id_opt(&poll_id).ok_or_else(|| AppError::NotFound("poll".into()))?;
        let c = polls::add_comment(state(ctx), caller(ctx), PollId(poll_id), &respondent_key, &text).await?;
        Ok(PollComment::new(c, false))
    }

    /// Hides or shows a discussion comment; recorded in the audit log with the reason.
    async fn moderate_poll_comment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        hidden: bool,
        reason: Option<String>,
    ) -> AppResult<PollComment> {
        let id = parse_id("id", &id)?;
        let c = polls::moderate(state(ctx), caller(ctx), PollCommentId(id), hidden, reason).await?;
        Ok(PollComment::new(c, true))
    }
}
