//! Polls: surveys, votes and public discussions; one-time invitations; public voting that
//! counts each respondent exactly once; results; moderated comments; suggested topics.
//!
//! A ballot is counted once because two guards sit in one write transaction with its insert:
//! the UNIQUE index on `(poll_id, respondent_hash)` and, for invitations, an
//! `UPDATE poll_invites SET used_at = … WHERE code_hash = … AND used_at IS NULL` whose
//! affected row count decides. Keys and codes are stored only as SHA-256 hashes.
//!
//! OPEN polls with `CONTACT_CODE` verification take one ballot per contact: the citizen asks
//! for a code ([`request_code`]: six digits, valid 15 minutes, five wrong tries, sent by e-mail
//! through the mail queue or by SMS through `MCU_SMS_GATEWAY_URL`), then votes with the
//! contact as its respondent key and the code; the code row's `used_at` is set in the ballot's
//! transaction, so a code counts once. Neither the contact nor the code is stored in clear
//! (the queued e-mail holds the address until it is sent, then it is blanked).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::appeals::rate_limit;
use super::auth::sha256_hex;
use super::{Caller, audit};
use crate::domain::access::Principal;
use crate::domain::events::Topic;
use crate::domain::lifecycle::AppealStatus;
use crate::domain::notices::{CHANNEL_MAIL, Envelope};
use crate::domain::poll::{
    AnswerIn, CODE_DIGITS, CODE_MAX_ATTEMPTS, CODE_TTL_MINUTES, Chosen, Contact, MAX_TEXT, PollAccess, PollAction,
    PollKind, PollStatus, PollVerification, QuestionDraft, QuestionSpec, QuestionType, check_ballot, check_questions,
    normalise_contact, transition,
};
use crate::domain::poll::{PollCommentId, PollId};
use crate::entity::{
    appeal, category, poll, poll_answer, poll_ballot, poll_code, poll_comment, poll_invite, poll_option, poll_question,
    territory,
};
use crate::error::{AppError, AppResult, FieldError};
use crate::state::AppState;
use crate::store::deliveries::{self, NewMail};
use crate::store::outbox::{self, Change, Subject};

/// Most invitation codes generated at once.
pub const MAX_INVITES: i32 = 1000;
/// The topic of a queued e-mail with a poll code (its payload is blanked once sent).
pub const POLL_CODE_TOPIC: &str = "POLL_CODE";
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A new poll with its questions.
#[derive(Debug, Clone)]
pub struct NewPoll {
    pub title: String,
    pub description: Option<String>,
    pub kind: PollKind,
    pub access: PollAccess,
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    pub territory_id: Option<i64>,
    pub category_id: Option<i64>,
    pub public_results: bool,
    /// How respondents of an OPEN poll are verified.
    pub verification: PollVerification,
    pub questions: Vec<QuestionDraft>,
}

/// A list filter; empty lists do not filter.
#[derive(Debug, Clone, Default)]
pub struct PollFilter {
    pub status: Vec<PollStatus>,
    pub kind: Vec<PollKind>,
}

/// A question with its options, in order.
pub type QuestionWithOptions = (poll_question::Model, Vec<poll_option::Model>);

/// Counts of one option.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionCount {
    pub option_id: i64,
    pub count: u64,
    /// Share of ballots that chose it (0 when there are no ballots).
    pub share: f64,
}

/// Results of one question.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionResults {
    pub question_id: i64,
    pub options: Vec<OptionCount>,
    /// Mean of a SCALE question's answers.
    pub average: Option<f64>,
    pub text_answers: u64,
    /// The text answers (shown to staff only).
    pub texts: Vec<String>,
}

/// Results of a poll.
#[derive(Debug, Clone, PartialEq)]
pub struct PollResults {
    pub ballots: u64,
    /// Whether the poll verifies its respondents (an invitation code or a code sent to the
    /// contact); `false`: any respondent key counted, the figures are not of counted citizens.
    pub verified: bool,
    /// Ballots whose respondent was verified.
    pub verified_ballots: u64,
    pub questions: Vec<QuestionResults>,
}

/// A candidate topic for a poll: a category with many or growing appeals.
#[derive(Debug, Clone)]
pub struct Suggestion {
    pub category: category::Model,
    pub appeals: u64,
    pub previous: u64,
    /// `appeals / previous − 1`; `None` when there were none before.
    pub growth: Option<f64>,
}

fn status_of(p: &poll::Model) -> AppResult<PollStatus> {
    p.status.parse().map_err(AppError::internal)
}

/// The question type of a stored question.
pub fn question_type(q: &poll_question::Model) -> AppResult<QuestionType> {
    q.question_type.parse().map_err(AppError::internal)
}

fn respondent_hash(poll_id: i64, key: &str) -> String {
    sha256_hex(&format!("poll:{poll_id}:{}", key.trim()))
}

fn code_hash(code: &str) -> String {
    sha256_hex(&format!("invite:{}", code.trim().to_uppercase()))
}

/// The poll-scoped hash of a normalised contact: the respondent hash of its ballot.
fn contact_hash(poll_id: i64, contact: &Contact) -> String {
    sha256_hex(&format!("poll:{poll_id}:contact:{}", contact.as_str()))
}

fn sent_code_hash(contact_hash: &str, code: &str) -> String {
    sha256_hex(&format!("pollcode:{contact_hash}:{}", code.trim()))
}

fn contact_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_DIGITS).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
}

/// Whether a poll verifies its respondents: INVITE polls by their codes, OPEN polls with
/// `CONTACT_CODE` by a code sent to the contact.
pub fn verifies(p: &poll::Model) -> bool {
    p.access == PollAccess::Invite.as_str() || p.verification == PollVerification::ContactCode.as_str()
}

fn invite_code() -> String {
    let mut rng = rand::rng();
    (0..12).map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())])).collect()
}

/// One poll, or `NOT_FOUND`.
pub async fn get(conn: &impl ConnectionTrait, id: PollId) -> AppResult<poll::Model> {
    let id = id.0;
    poll::Entity::find_by_id(id).one(conn).await?.ok_or_else(|| AppError::NotFound("poll".into()))
}

/// A poll as the public may see it: published or closed, otherwise `NOT_FOUND`.
pub async fn get_public(conn: &impl ConnectionTrait, id: PollId) -> AppResult<poll::Model> {
    let id = id.0;
    let p = get(conn, PollId(id)).await?;
    if status_of(&p)? == PollStatus::Draft { Err(AppError::NotFound("poll".into())) } else { Ok(p) }
}

/// A page of polls, newest first, and the total count.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: &PollFilter,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<poll::Model>, u64)> {
    let mut cond = Condition::all();
    if !filter.status.is_empty() {
        cond = cond.add(poll::Column::Status.is_in(filter.status.iter().map(|s| s.as_str())));
    }
    if !filter.kind.is_empty() {
        cond = cond.add(poll::Column::Kind.is_in(filter.kind.iter().map(|s| s.as_str())));
    }
    let query = poll::Entity::find().filter(cond);
    let total = query.clone().count(conn).await?;
    let rows = query.order_by_desc(poll::Column::Id).offset(offset).limit(limit).all(conn).await?;
    Ok((rows, total))
}

/// A page of the polls open to everyone now (PUBLISHED, OPEN access, within their voting
/// window), newest first, and their total count.
pub async fn list_public(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<poll::Model>, u64)> {
    let cond = Condition::all()
        .add(poll::Column::Status.eq(PollStatus::Published.as_str()))
        .add(poll::Column::Access.eq(PollAccess::Open.as_str()))
        .add(Condition::any().add(poll::Column::OpensAt.is_null()).add(poll::Column::OpensAt.lte(now)))
        .add(Condition::any().add(poll::Column::ClosesAt.is_null()).add(poll::Column::ClosesAt.gt(now)));
    let query = poll::Entity::find().filter(cond);
    let total = query.clone().count(conn).await?;
    let rows = query.order_by_desc(poll::Column::Id).offset(offset).limit(limit).all(conn).await?;
    Ok((rows, total))
}

/// The questions of a poll with their options, in order.
pub async fn questions(conn: &impl ConnectionTrait, poll_id: PollId) -> AppResult<Vec<QuestionWithOptions>> {
    let poll_id = poll_id.0;
    Ok(questions_of(conn, &[poll_id]).await?.remove(&poll_id).unwrap_or_default())
}

/// The questions of many polls with their options, in two statements whatever their number.
pub async fn questions_of(
    conn: &impl ConnectionTrait,
    poll_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<QuestionWithOptions>>> {
    let qs = poll_question::Entity::find()
        .filter(poll_question::Column::PollId.is_in(poll_ids.iter().copied()))
        .order_by_asc(poll_question::Column::Position)
        .all(conn)
        .await?;
    let mut options: HashMap<i64, Vec<poll_option::Model>> = HashMap::new();
    for o in poll_option::Entity::find()
        .filter(poll_option::Column::PollId.is_in(poll_ids.iter().copied()))
        .order_by_asc(poll_option::Column::Position)
        .all(conn)
        .await?
    {
        options.entry(o.question_id).or_default().push(o);
    }
    let mut out: HashMap<i64, Vec<QuestionWithOptions>> = HashMap::new();
    for q in qs {
        let o = options.remove(&q.id).unwrap_or_default();
        out.entry(q.poll_id).or_default().push((q, o));
    }
    Ok(out)
}

/// The comments of a poll, oldest first; hidden ones only when `include_hidden`.
pub async fn comments(
    conn: &impl ConnectionTrait,
    poll_id: PollId,
    include_hidden: bool,
) -> AppResult<Vec<poll_comment::Model>> {
    let poll_id = poll_id.0;
    let mut q = poll_comment::Entity::find().filter(poll_comment::Column::PollId.eq(poll_id));
    if !include_hidden {
        q = q.filter(poll_comment::Column::Hidden.eq(false));
    }
    Ok(q.order_by_asc(poll_comment::Column::Id).all(conn).await?)
}

/// The comments of many polls, hidden ones included, oldest first, in one statement.
pub async fn comments_of(conn: &impl ConnectionTrait, poll_ids: &[i64]) -> AppResult<Vec<poll_comment::Model>> {
    Ok(poll_comment::Entity::find()
        .filter(poll_comment::Column::PollId.is_in(poll_ids.iter().copied()))
        .order_by_asc(poll_comment::Column::Id)
        .all(conn)
        .await?)
}

/// Creates a DRAFT poll with its questions.
///
/// # Errors
/// `BAD_USER_INPUT` naming every invalid field.
pub async fn create(state: &AppState, caller: &Caller, new: NewPoll) -> AppResult<poll::Model> {
    let now = state.clock.now();
    let mut errors = Vec::new();
    let title = new.title.trim().to_string();
    if title.is_empty() || title.chars().count() > 500 {
        errors.push(FieldError { path: "input.title".into(), message: "must be 1 to 500 characters".into() });
    }
    if let (Some(o), Some(c)) = (new.opens_at, new.closes_at)
        && o >= c
    {
        errors.push(FieldError { path: "input.closesAt".into(), message: "must be after opensAt".into() });
    }
    errors.extend(check_questions(new.kind, &new.questions));
    if new.verification == PollVerification::ContactCode && new.access != PollAccess::Open {
        errors.push(FieldError {
            path: "input.verification".into(),
            message: "INVITE polls are verified by their invitation codes; CONTACT_CODE is for OPEN polls".into(),
        });
    }
    let txn = crate::db::begin_write(&state.writer).await?;
    if let Some(id) = new.category_id
        && category::Entity::find_by_id(id).one(&txn).await?.is_none()
    {
        errors.push(FieldError { path: "input.categoryId".into(), message: "no such category".into() });
    }
    if let Some(id) = new.territory_id
        && territory::Entity::find_by_id(id).one(&txn).await?.is_none()
    {
        errors.push(FieldError { path: "input.territoryId".into(), message: "no such territory".into() });
    }
    FieldError::finish(errors)?;
    let created_by = match &caller.principal {
        Principal::User(u) => Some(u.id),
        _ => None,
    };
    let p = poll::ActiveModel {
        title: Set(title),
        description: Set(new.description.map(|d| d.trim().to_string()).filter(|d| !d.is_empty())),
        kind: Set(new.kind.as_str().to_string()),
        status: Set(PollStatus::Draft.as_str().to_string()),
        access: Set(new.access.as_str().to_string()),
        opens_at: Set(new.opens_at),
        closes_at: Set(new.closes_at),
        territory_id: Set(new.territory_id),
        category_id: Set(new.category_id),
        public_results: Set(new.public_results),
        verification: Set(new.verification.as_str().to_string()),
        closed_at: Set(None),
        created_by_id: Set(created_by),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    for (i, q) in new.questions.iter().enumerate() {
        let question = poll_question::ActiveModel {
            poll_id: Set(p.id),
            position: Set(i as i32),
            text: Set(q.text.trim().to_string()),
            question_type: Set(q.kind.as_str().to_string()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        for (j, o) in q.options.iter().enumerate() {
            poll_option::ActiveModel {
                poll_id: Set(p.id),
                question_id: Set(question.id),
                position: Set(j as i32),
                text: Set(o.trim().to_string()),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
    }
    audit::record(&txn, caller, now, "createPoll", Some(format!("poll:{}", p.id)), None).await?;
    let change = Change::new(p.id, "createPoll", Some(p.status.as_str()), p.version);
    outbox::record(&txn, Topic::PollChanged, Subject::Poll(p.id), &change, now).await?;
    txn.commit().await?;
    state.announcements.wake_dispatcher();
    Ok(p)
}

/// Publishes or closes a poll of the given version.
///
/// # Errors
/// `CONFLICT` on a stale version; `BAD_USER_INPUT` for a step not allowed from the status.
pub async fn act(
    state: &AppState,
    caller: &Caller,
    id: PollId,
    version: i32,
    action: PollAction,
) -> AppResult<poll::Model> {
    let id = id.0;
    let now = state.clock.now();
    let name = match action {
        PollAction::Publish => "publishPoll",
        PollAction::Close => "closePoll",
    };
    let txn = crate::db::begin_write(&state.writer).await?;
    let p = get(&txn, PollId(id)).await?;
    if p.version != version {
        return Err(AppError::stale("the poll"));
    }
    let from = status_of(&p)?;
    let to = transition(from, action)
        .ok_or_else(|| AppError::bad("id", format!("{name} is not allowed for a poll in status {}", from.as_str())))?;
    let mut am = p.clone().into_active_model();
    am.status = Set(to.as_str().to_string());
    am.version = Set(p.version + 1);
    am.updated_at = Set(now);
    if to == PollStatus::Closed {
        am.closed_at = Set(Some(now));
    }
    let res = poll::Entity::update_many()
        .set(am)
        .filter(poll::Column::Id.eq(id))
        .filter(poll::Column::Version.eq(version))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::stale("the poll"));
    }
    let data = serde_json::json!({ "from": from.as_str(), "to": to.as_str() });
    audit::record(&txn, caller, now, name, Some(format!("poll:{id}")), Some(data)).await?;
    let updated = get(&txn, PollId(id)).await?;
    // Closing makes the results final: its own event, which integrations may take alone.
    let topic = if to == PollStatus::Closed { Topic::PollClosed } else { Topic::PollChanged };
    let change = Change::new(id, name, Some(updated.status.as_str()), updated.version);
    outbox::record(&txn, topic, Subject::Poll(id), &change, now).await?;
    txn.commit().await?;
    state.announcements.wake_dispatcher();
    Ok(updated)
}

/// Generates `count` one-time invitation codes for an INVITE poll that is not closed. The codes
/// are returned once and stored only as hashes.
///
/// # Errors
/// `BAD_USER_INPUT` for a count outside 1–1000, an OPEN or a closed poll.
pub async fn generate_invites(
    state: &AppState,
    caller: &Caller,
    poll_id: PollId,
    count: i32,
) -> AppResult<Vec<String>> {
    let poll_id = poll_id.0;
    if !(1..=MAX_INVITES).contains(&count) {
        return Err(AppError::bad("count", format!("must be between 1 and {MAX_INVITES}")));
    }
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.writer).await?;
    let p = get(&txn, PollId(poll_id)).await?;
    if p.access != PollAccess::Invite.as_str() {
        return Err(AppError::bad("pollId", "the poll is open to everyone; invitations are for INVITE polls"));
    }
    if status_of(&p)? == PollStatus::Closed {
        return Err(AppError::bad("pollId", "the poll is closed"));
    }
    let codes: Vec<String> = (0..count).map(|_| invite_code()).collect();
    let rows: Vec<_> = codes
        .iter()
        .map(|c| poll_invite::ActiveModel {
            poll_id: Set(poll_id),
            code_hash: Set(code_hash(c)),
            used_at: Set(None),
            created_at: Set(now),
            ..Default::default()
        })
        .collect();
    crate::db::insert_rows(&txn, rows, 1000).await?;
    let data = serde_json::json!({ "count": count });
    audit::record(&txn, caller, now, "generatePollInvites", Some(format!("poll:{poll_id}")), Some(data)).await?;
    txn.commit().await?;
    Ok(codes)
}

fn check_window(p: &poll::Model, now: DateTime<Utc>, path: &str) -> AppResult<()> {
    match status_of(p)? {
        PollStatus::Draft => return Err(AppError::NotFound("poll".into())),
        PollStatus::Closed => return Err(AppError::bad(path, "the poll is closed")),
        PollStatus::Published => {}
    }
    if p.opens_at.is_some_and(|o| now < o) {
        return Err(AppError::bad(path, "the poll is not open yet"));
    }
    if p.closes_at.is_some_and(|c| now >= c) {
        return Err(AppError::bad(path, "the poll has ended"));
    }
    Ok(())
}

fn client_key(caller: &Caller) -> String {
    caller.ip.clone().unwrap_or_else(|| "unknown".into())
}

/// A ballot as sent by a citizen.
#[derive(Debug, Clone, Default)]
pub struct BallotIn {
    /// OPEN polls without verification: any stable key; with `CONTACT_CODE`: the contact the
    /// code was sent to; INVITE polls: the invitation code.
    pub respondent_key: String,
    /// The code sent to the contact (`CONTACT_CODE` polls).
    pub code: Option<String>,
    /// The territory the respondent names (already parsed; `None` when not an id of ours).
    pub territory_id: Option<Option<i64>>,
    pub answers: Vec<AnswerIn>,
}

/// The sent code that a `CONTACT_CODE` ballot presents, checked: the newest unused, unexpired
/// code of the contact with tries left must match. A wrong code counts a try (committed).
async fn check_sent_code(
    state: &AppState,
    poll_id: i64,
    respondent: &str,
    code: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let code = code.map(str::trim).unwrap_or_default();
    if code.is_empty() {
        return Err(AppError::bad("input.code", "this poll needs the code sent to the contact (requestPollCode)"));
    }
    let sent = poll_code::Entity::find()
        .filter(poll_code::Column::PollId.eq(poll_id))
        .filter(poll_code::Column::ContactHash.eq(respondent))
        .filter(poll_code::Column::UsedAt.is_null())
        .filter(poll_code::Column::ExpiresAt.gt(now))
        .filter(poll_code::Column::Attempts.lt(CODE_MAX_ATTEMPTS))
        .order_by_desc(poll_code::Column::Id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::bad("input.code", "no valid code for this contact: ask for a new one"))?;
    if sent.code_hash != sent_code_hash(respondent, code) {
        let txn = crate::db::begin_write(&state.writer).await?;
        poll_code::Entity::update_many()
            .col_expr(poll_code::Column::Attempts, Expr::col(poll_code::Column::Attempts).add(1))
            .filter(poll_code::Column::Id.eq(sent.id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        return Err(AppError::bad("input.code", "wrong code"));
    }
    Ok(sent.id)
}

/// Public: casts one ballot. OPEN polls take one ballot per respondent key (per contact with
/// `CONTACT_CODE`, which also needs the code sent to it), INVITE polls one per invitation code.
///
/// # Errors
/// `RATE_LIMITED` past the per-client limit; `NOT_FOUND` for an unknown or unpublished poll;
/// `BAD_USER_INPUT` outside the voting window, for an invalid ballot (with paths like
/// `input.answers.0.optionIds`), an unknown or used invitation code, a contact that is not
/// one, a missing, wrong, expired or used sent code (`input.code`) or an unknown territory;
/// `CONFLICT` when the respondent has already voted.
pub async fn cast_vote(state: &AppState, caller: &Caller, poll_id: PollId, ballot: &BallotIn) -> AppResult<bool> {
    let poll_id = poll_id.0;
    let window = Duration::minutes(10);
    rate_limit(state, "poll-vote", &client_key(caller), state.settings.poll_rate_limit, window).await?;
    let now = state.clock.now();
    let p = get_public(&state.db, PollId(poll_id)).await?;
    check_window(&p, now, "input.pollId")?;
    let key = ballot.respondent_key.trim();
    if key.is_empty() || key.chars().count() > 200 {
        return Err(AppError::bad("input.respondentKey", "must be 1 to 200 characters"));
    }
    let qs = questions(&state.db, PollId(poll_id)).await?;
    let specs: Vec<QuestionSpec> = qs
        .iter()
        .map(|(q, o)| {
            Ok(QuestionSpec { id: q.id, kind: question_type(q)?, option_ids: o.iter().map(|o| o.id).collect() })
        })
        .collect::<AppResult<_>>()?;
    let chosen = check_ballot(&specs, &ballot.answers).map_err(AppError::BadInput)?;
    let territory_id = match ballot.territory_id {
        None => p.territory_id,
        Some(None) => return Err(AppError::bad("input.territoryId", "no such territory")),
        Some(Some(id)) => {
            territory::Entity::find_by_id(id)
                .filter(territory::Column::Active.eq(true))
                .one(&state.db)
                .await?
                .ok_or_else(|| AppError::bad("input.territoryId", "no such territory"))?;
            Some(id)
        }
    };
    let invite = p.access == PollAccess::Invite.as_str();
    let by_code = !invite && p.verification == PollVerification::ContactCode.as_str();
    let respondent = if invite {
        code_hash(key)
    } else if by_code {
        let contact = normalise_contact(key).map_err(|m| AppError::bad("input.respondentKey", m))?;
        contact_hash(poll_id, &contact)
    } else {
        respondent_hash(poll_id, key)
    };
    let sent_code = if by_code {
        Some(check_sent_code(state, poll_id, &respondent, ballot.code.as_deref(), now).await?)
    } else {
        None
    };
    let txn = crate::db::begin_write(&state.writer).await?;
    if invite {
        let used = poll_invite::Entity::update_many()
            .col_expr(poll_invite::Column::UsedAt, Expr::value(now))
            .filter(poll_invite::Column::PollId.eq(poll_id))
            .filter(poll_invite::Column::CodeHash.eq(respondent.as_str()))
            .filter(poll_invite::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        if used.rows_affected != 1 {
            return Err(AppError::bad("input.respondentKey", "unknown or already used invitation code"));
        }
    }
    if let Some(id) = sent_code {
        let used = poll_code::Entity::update_many()
            .col_expr(poll_code::Column::UsedAt, Expr::value(now))
            .filter(poll_code::Column::Id.eq(id))
            .filter(poll_code::Column::UsedAt.is_null())
            .filter(poll_code::Column::Attempts.lt(CODE_MAX_ATTEMPTS))
            .exec(&txn)
            .await?;
        if used.rows_affected != 1 {
            return Err(AppError::bad("input.code", "the code was used already: ask for a new one"));
        }
    }
    let ballot = poll_ballot::ActiveModel {
        poll_id: Set(poll_id),
        respondent_hash: Set(respondent),
        at: Set(now),
        verified: Set(invite || by_code),
        territory_id: Set(territory_id),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| match AppError::from(e) {
        AppError::Conflict(_) => AppError::Conflict("this respondent has already voted".into()),
        other => other,
    })?;
    let mut rows = Vec::new();
    for (question_id, c) in chosen {
        let base = poll_answer::ActiveModel {
            ballot_id: Set(ballot.id),
            poll_id: Set(poll_id),
            question_id: Set(question_id),
            option_id: Set(None),
            scale: Set(None),
            text: Set(None),
            ..Default::default()
        };
        match c {
            Chosen::Options(ids) => {
                for id in ids {
                    let mut a = base.clone();
                    a.option_id = Set(Some(id));
                    rows.push(a);
                }
            }
            Chosen::Scale(v) => {
                let mut a = base;
                a.scale = Set(Some(v));
                rows.push(a);
            }
            Chosen::Text(t) => {
                let mut a = base;
                a.text = Set(Some(t));
                rows.push(a);
            }
        }
    }
    if !rows.is_empty() {
        crate::db::insert_rows(&txn, rows, 1000).await?;
    }
    audit::record(&txn, caller, now, "castVote", Some(format!("poll:{poll_id}")), None).await?;
    txn.commit().await?;
    Ok(true)
}

/// Public: sends a one-time code for a ballot in an OPEN poll with `CONTACT_CODE`
/// verification to `contact`: an e-mail address (queued for the mail sender) or a telephone
/// number (posted to `MCU_SMS_GATEWAY_URL` at once). Only hashes of the contact and the code
/// are stored; a new code does not void an earlier one that is still valid. A contact that
/// has voted already gets a message saying so instead of a code (its row is stored used), and
/// the caller the same answer as for any other contact: whether someone voted is told only to
/// that someone.
///
/// # Errors
/// `RATE_LIMITED` past the per-address or per-contact limit (within an hour); `NOT_FOUND`
/// for an unknown or unpublished poll; `BAD_USER_INPUT` on `pollId` outside the voting window
/// or for a poll without code verification, on `contact` for a text that is neither an
/// e-mail address nor a telephone number or one that cannot be served (no e-mail configured,
/// no SMS gateway); `CONFLICT` when the SMS gateway did not take the message.
pub async fn request_code(state: &AppState, caller: &Caller, poll_id: PollId, contact: &str) -> AppResult<bool> {
    let poll_id = poll_id.0;
    let hour = Duration::hours(1);
    let limits = (state.settings.poll_code_address_limit, state.settings.poll_code_contact_limit);
    rate_limit(state, "poll-code-address", &client_key(caller), limits.0, hour).await?;
    let now = state.clock.now();
    let p = get_public(&state.db, PollId(poll_id)).await?;
    check_window(&p, now, "pollId")?;
    if p.access != PollAccess::Open.as_str() || p.verification != PollVerification::ContactCode.as_str() {
        return Err(AppError::bad("pollId", "this poll does not verify respondents by a code"));
    }
    let contact = normalise_contact(contact).map_err(|m| AppError::bad("contact", m))?;
    let sms = match &contact {
        Contact::Email(_) if state.mailer.is_none() => {
            return Err(AppError::bad("contact", "codes cannot be sent by e-mail: e-mail is not configured"));
        }
        Contact::Email(_) => None,
        Contact::Phone(_) => Some(state.settings.sms_gateway_url.clone().ok_or_else(|| {
            AppError::bad("contact", "codes are not sent to telephones (no SMS gateway); give an e-mail address")
        })?),
    };
    let respondent = contact_hash(poll_id, &contact);
    let voted = poll_ballot::Entity::find()
        .filter(poll_ballot::Column::PollId.eq(poll_id))
        .filter(poll_ballot::Column::RespondentHash.eq(respondent.as_str()))
        .count(&state.db)
        .await?
        > 0;
    rate_limit(state, "poll-code-contact", &respondent, limits.1, hour).await?;
    let code = contact_code();
    let text = if voted {
        format!(
            "По этому контакту уже принят голос в опросе «{}»; повторно проголосовать нельзя. Если голосовали не вы, сообщите в муниципальный центр управления.",
            p.title
        )
    } else {
        format!(
            "Код для участия в опросе «{}»: {code}. Код действует {CODE_TTL_MINUTES} минут. Если вы не запрашивали код, не отвечайте на это сообщение.",
            p.title
        )
    };
    if let Some(url) = &sms {
        let body = serde_json::json!({ "to": contact.as_str(), "text": text }).to_string();
        let outcome = state.webhooks.post(url, &[], body).await;
        if let Some(error) = outcome.error {
            tracing::warn!(poll = poll_id, error = %error, "the SMS gateway did not take a poll code");
            return Err(AppError::Conflict("the SMS gateway did not take the message; try again later".into()));
        }
    }
    let txn = crate::db::begin_write(&state.writer).await?;
    let row = poll_code::ActiveModel {
        poll_id: Set(poll_id),
        code_hash: Set(sent_code_hash(&respondent, &code)),
        contact_hash: Set(respondent),
        attempts: Set(0),
        expires_at: Set(now + Duration::minutes(CODE_TTL_MINUTES)),
        // Nothing to vote with when the contact has voted: the row is born used.
        used_at: Set(voted.then_some(now)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    if let Contact::Email(to) = &contact {
        // Not on behalf of an outbox row (outbox_id 0, which has no foreign key): the code is
        // for this citizen only and announced to nobody.
        let mail = NewMail {
            target: format!("pollCode:{}", row.id),
            outbox_id: 0,
            topic: POLL_CODE_TOPIC.to_owned(),
            key: format!("pollcode:{}", row.id),
            envelope: Envelope {
                to: to.clone(),
                subject: if voted {
                    format!("Голос в опросе «{}» уже принят", p.title)
                } else {
                    format!("Код для участия в опросе «{}»", p.title)
                },
                body: text,
            },
        };
        deliveries::queue_mail(&txn, CHANNEL_MAIL, vec![mail], now).await?;
    }
    let channel = if sms.is_some() { "SMS" } else { "EMAIL" };
    let data = serde_json::json!({ "channel": channel });
    audit::record(&txn, caller, now, "requestPollCode", Some(format!("poll:{poll_id}")), Some(data)).await?;
    txn.commit().await?;
    if sms.is_none() {
        state.announcements.wake_mail();
    }
    Ok(true)
}

/// The results of a poll: ballots, per-option counts and shares, scale averages, text answers.
pub async fn results(conn: &impl ConnectionTrait, poll_id: PollId) -> AppResult<PollResults> {
    let p = get(conn, poll_id).await?;
    results_of(conn, &[&p], true).await?.remove(&p.id).ok_or_else(|| AppError::internal("poll results"))
}

/// Answers of one option or scale value: (poll, question, option, scale value, answers).
type AnswerGroup = (i64, i64, Option<i64>, Option<i32>, i64);

/// The results of many polls (a page of the staff list) in four statements whatever their
/// number (three without the text answers): the ballots, the questions and options (two),
/// the answers grouped by option and scale value, and the text answers when `with_texts`
/// (only staff see them).
///
/// # Errors
/// When the database fails.
pub async fn results_of(
    conn: &impl ConnectionTrait,
    polls: &[&poll::Model],
    with_texts: bool,
) -> AppResult<HashMap<i64, PollResults>> {
    let ids: Vec<i64> = polls.iter().map(|p| p.id).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let counts: Vec<(i64, i64, Option<i64>)> = poll_ballot::Entity::find()
        .select_only()
        .column(poll_ballot::Column::PollId)
        .column_as(Expr::col(poll_ballot::Column::Id).count(), "n")
        .column_as(
            Expr::expr(Expr::case(Expr::col(poll_ballot::Column::Verified).eq(true), 1).finally(0)).sum(),
            "verified",
        )
        .filter(poll_ballot::Column::PollId.is_in(ids.iter().copied()))
        .group_by(poll_ballot::Column::PollId)
        .into_tuple()
        .all(conn)
        .await?;
    let mut questions = questions_of(conn, &ids).await?;
    let grouped: Vec<AnswerGroup> = poll_answer::Entity::find()
        .select_only()
        .column(poll_answer::Column::PollId)
        .column(poll_answer::Column::QuestionId)
        .column(poll_answer::Column::OptionId)
        .column(poll_answer::Column::Scale)
        .column_as(Expr::col(poll_answer::Column::Id).count(), "n")
        .filter(poll_answer::Column::PollId.is_in(ids.iter().copied()))
        .filter(poll_answer::Column::Text.is_null())
        .group_by(poll_answer::Column::PollId)
        .group_by(poll_answer::Column::QuestionId)
        .group_by(poll_answer::Column::OptionId)
        .group_by(poll_answer::Column::Scale)
        .into_tuple()
        .all(conn)
        .await?;
    // Text answers are counted for everybody and listed for staff only.
    let mut texts: HashMap<i64, Vec<String>> = HashMap::new();
    let mut text_counts: HashMap<i64, u64> = HashMap::new();
    if with_texts {
        let rows: Vec<(i64, Option<String>)> = poll_answer::Entity::find()
            .select_only()
            .column(poll_answer::Column::QuestionId)
            .column(poll_answer::Column::Text)
            .filter(poll_answer::Column::PollId.is_in(ids.iter().copied()))
            .filter(poll_answer::Column::Text.is_not_null())
            .order_by_asc(poll_answer::Column::Id)
            .into_tuple()
            .all(conn)
            .await?;
        for (q, t) in rows {
            *text_counts.entry(q).or_default() += 1;
            texts.entry(q).or_default().extend(t);
        }
    } else {
        let rows: Vec<(i64, i64)> = poll_answer::Entity::find()
            .select_only()
            .column(poll_answer::Column::QuestionId)
            .column_as(Expr::col(poll_answer::Column::Id).count(), "n")
            .filter(poll_answer::Column::PollId.is_in(ids.iter().copied()))
            .filter(poll_answer::Column::Text.is_not_null())
            .group_by(poll_answer::Column::QuestionId)
            .into_tuple()
            .all(conn)
            .await?;
        for (q, n) in rows {
            text_counts.insert(q, u64::try_from(n).unwrap_or(0));
        }
    }
    let mut out = HashMap::with_capacity(polls.len());
    for p in polls {
        let (ballots, verified_ballots) = counts
            .iter()
            .find(|c| c.0 == p.id)
            .map_or((0, 0), |c| (u64::try_from(c.1).unwrap_or(0), u64::try_from(c.2.unwrap_or(0)).unwrap_or(0)));
        let share = |n: u64| if ballots == 0 { 0.0 } else { n as f64 / ballots as f64 };
        let mut qs_out = Vec::new();
        for (q, options) in questions.remove(&p.id).unwrap_or_default() {
            let of_question = || grouped.iter().filter(|g| g.0 == p.id && g.1 == q.id);
            let count_of =
                |o: i64| of_question().filter(|g| g.2 == Some(o)).map(|g| u64::try_from(g.4).unwrap_or(0)).sum::<u64>();
            let (mut sum, mut n) = (0i64, 0i64);
            for g in of_question() {
                if let Some(v) = g.3 {
                    sum += i64::from(v) * g.4;
                    n += g.4;
                }
            }
            qs_out.push(QuestionResults {
                question_id: q.id,
                options: options
                    .iter()
                    .map(|o| {
                        let c = count_of(o.id);
                        OptionCount { option_id: o.id, count: c, share: share(c) }
                    })
                    .collect(),
                average: (n > 0).then(|| sum as f64 / n as f64),
                text_answers: text_counts.get(&q.id).copied().unwrap_or(0),
                texts: texts.remove(&q.id).unwrap_or_default(),
            });
        }
        out.insert(p.id, PollResults { ballots, verified: verifies(p), verified_ballots, questions: qs_out });
    }
    Ok(out)
}

fn check_comment(text: &str) -> AppResult<String> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > MAX_TEXT {
        return Err(AppError::bad("text", format!("must be 1 to {MAX_TEXT} characters")));
    }
    Ok(t.to_string())
}

/// Public: adds a comment to a published DISCUSSION poll.
///
/// # Errors
/// `RATE_LIMITED` past the per-client limit; `NOT_FOUND` for an unknown or unpublished poll;
/// `BAD_USER_INPUT` for a poll that is not a discussion, is closed, or a text outside 1–2000.
pub async fn add_comment(
    state: &AppState,
    caller: &Caller,
    poll_id: PollId,
    respondent_key: &str,
    text: &str,
) -> AppResult<poll_comment::Model> {
    let poll_id = poll_id.0;
    rate_limit(state, "poll-comment", &client_key(caller), state.settings.poll_rate_limit, Duration::minutes(10))
        .await?;
    let text = check_comment(text)?;
    let key = respondent_key.trim();
    if key.is_empty() || key.chars().count() > 200 {
        return Err(AppError::bad("respondentKey", "must be 1 to 200 characters"));
    }
    let now = state.clock.now();
    let p = get_public(&state.db, PollId(poll_id)).await?;
    if p.kind != PollKind::Discussion.as_str() {
        return Err(AppError::bad("pollId", "comments are open on discussions only"));
    }
    if status_of(&p)? != PollStatus::Published || p.closes_at.is_some_and(|c| now >= c) {
        return Err(AppError::bad("pollId", "the discussion is closed"));
    }
    let txn = crate::db::begin_write(&state.writer).await?;
    let c = poll_comment::ActiveModel {
        poll_id: Set(poll_id),
        respondent_hash: Set(respondent_hash(poll_id, key)),
        at: Set(now),
        text: Set(text),
        hidden: Set(false),
        moderation_reason: Set(None),
        version: Set(1),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        caller,
        now,
        "addPollComment",
        Some(format!("poll:{poll_id}")),
        Some(serde_json::json!({ "commentId": c.id })),
    )
    .await?;
    txn.commit().await?;
    Ok(c)
}

/// Hides or shows a comment; the decision and its reason go to the audit log.
///
/// # Errors
/// `NOT_FOUND` for an unknown comment.
pub async fn moderate(
    state: &AppState,
    caller: &Caller,
    id: PollCommentId,
    hidden: bool,
    reason: Option<String>,
) -> AppResult<poll_comment::Model> {
    let id = id.0;
    let now = state.clock.now();
    let reason = reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    let txn = crate::db::begin_write(&state.writer).await?;
    let c =
        poll_comment::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| AppError::NotFound("comment".into()))?;
    let mut am = c.clone().into_active_model();
    am.hidden = Set(hidden);
    am.moderation_reason = Set(reason.clone());
    am.version = Set(c.version + 1);
    let updated = am.update(&txn).await?;
    let data = serde_json::json!({ "hidden": hidden, "reason": reason, "pollId": c.poll_id });
    audit::record(&txn, caller, now, "moderatePollComment", Some(format!("pollComment:{id}")), Some(data)).await?;
    txn.commit().await?;
    Ok(updated)
}

async fn counts_by_category(
    conn: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<HashMap<i64, u64>> {
    let rows: Vec<(Option<i64>, i64)> = appeal::Entity::find()
        .select_only()
        .column(appeal::Column::CategoryId)
        .column_as(Expr::col(appeal::Column::Id).count(), "n")
        .filter(appeal::Column::ReceivedAt.gte(from))
        .filter(appeal::Column::ReceivedAt.lt(to))
        .filter(appeal::Column::CategoryId.is_not_null())
        .filter(appeal::Column::DuplicateOfId.is_null())
        .filter(appeal::Column::Status.ne(AppealStatus::Duplicate.as_str()))
        .group_by(appeal::Column::CategoryId)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().filter_map(|(c, n)| c.map(|c| (c, u64::try_from(n).unwrap_or(0)))).collect())
}

/// Candidate poll topics: the categories with the most appeals in the last 30 days, with their
/// growth against the 30 days before (ties broken by growth, then by name).
pub async fn suggestions(state: &AppState, limit: usize) -> AppResult<Vec<Suggestion>> {
    let now = state.clock.now();
    let month = Duration::days(30);
    let current = counts_by_category(&state.db, now - month, now).await?;
    let previous = counts_by_category(&state.db, now - month - month, now - month).await?;
    let cats =
        category::Entity::find().filter(category::Column::Id.is_in(current.keys().copied())).all(&state.db).await?;
    let mut out: Vec<Suggestion> = cats
        .into_iter()
        .map(|c| {
            let appeals = current.get(&c.id).copied().unwrap_or(0);
            let prev = previous.get(&c.id).copied().unwrap_or(0);
            let growth = (prev > 0).then(|| appeals as f64 / prev as f64 - 1.0);
            Suggestion { category: c, appeals, previous: prev, growth }
        })
        .collect();
    out.sort_by(|a, b| {
        b.appeals
            .cmp(&a.appeals)
            .then_with(|| b.growth.unwrap_or(f64::MAX).total_cmp(&a.growth.unwrap_or(f64::MAX)))
            .then_with(|| a.category.name.cmp(&b.category.name))
    });
    out.truncate(limit);
    Ok(out)
}
