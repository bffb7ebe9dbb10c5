//! What each lifecycle step does to an appeal: the state machine's transition, the checks of
//! the step's input, the new deadlines, and the history entry with its typed payload. Pure:
//! what the step needs from the database is looked up by the service first ([`Lookups`]),
//! and the time is passed in.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::appeal::{
    Appeal, AppealId, CategoryId, ReactionFact, RecipientId, TerritoryId, check_coords, check_text, search_text,
    trimmed,
};
use super::deadlines::{AppealKind, Terms};
use super::lifecycle::{AppealAction, AppealStatus, transition};
use super::quality::{Completeness, NoAnswerReason, no_answer_allowed};
use crate::error::FieldError;

/// Changes to an appeal's content; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppealChanges {
    pub text: Option<String>,
    pub summary: Option<String>,
    pub category_id: Option<CategoryId>,
    pub territory_id: Option<TerritoryId>,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// A step of the lifecycle with its input.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Update(AppealChanges),
    Register {
        comment: Option<String>,
    },
    Assign {
        recipient_id: RecipientId,
        comment: Option<String>,
    },
    Redirect {
        external_body: String,
        comment: Option<String>,
    },
    StartWork {
        comment: Option<String>,
    },
    Extend {
        days: i32,
        reason: String,
    },
    Answer {
        text: String,
    },
    Assess {
        completeness: Completeness,
        comment: Option<String>,
    },
    LeaveWithoutAnswer {
        reason: NoAnswerReason,
        comment: Option<String>,
    },
    Reopen {
        reason: String,
    },
    MarkDuplicate {
        original_id: AppealId,
    },
    Close {
        comment: Option<String>,
    },
    /// The author's rating of the answer: recorded by staff, or given by the author with the
    /// one-time code (`by_author`).
    Rate {
        score: i32,
        satisfied: bool,
        comment: Option<String>,
        by_author: bool,
    },
}

impl Step {
    /// The state machine's action.
    pub fn action(&self) -> AppealAction {
        match self {
            Self::Update(_) => AppealAction::Update,
            Self::Register { .. } => AppealAction::Register,
            Self::Assign { .. } => AppealAction::Assign,
            Self::Redirect { .. } => AppealAction::Redirect,
            Self::StartWork { .. } => AppealAction::StartWork,
            Self::Extend { .. } => AppealAction::Extend,
            Self::Answer { .. } => AppealAction::Answer,
            Self::Assess { .. } => AppealAction::Assess,
            Self::LeaveWithoutAnswer { .. } => AppealAction::LeaveWithoutAnswer,
            Self::Reopen { .. } => AppealAction::Reopen,
            Self::MarkDuplicate { .. } => AppealAction::MarkDuplicate,
            Self::Close { .. } => AppealAction::Close,
            Self::Rate { .. } => AppealAction::RecordFeedback,
        }
    }

    /// The mutation's name, used as the event's and the audit entry's action.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Update(_) => "updateAppeal",
            Self::Register { .. } => "registerAppeal",
            Self::Assign { .. } => "assignAppeal",
            Self::Redirect { .. } => "redirectAppeal",
            Self::StartWork { .. } => "startWork",
            Self::Extend { .. } => "extendDeadline",
            Self::Answer { .. } => "answerAppeal",
            Self::Assess { .. } => "assessAnswer",
            Self::LeaveWithoutAnswer { .. } => "leaveWithoutAnswer",
            Self::Reopen { .. } => "reopenAppeal",
            Self::MarkDuplicate { .. } => "markDuplicate",
            Self::Close { .. } => "closeAppeal",
            Self::Rate { by_author: false, .. } => "recordFeedback",
            Self::Rate { by_author: true, .. } => "submitFeedback",
        }
    }

    /// Only answering and starting work are open to executors; everything else is routing.
    pub fn needs_routing_rights(&self) -> bool {
        !matches!(self, Self::StartWork { .. } | Self::Answer { .. })
    }
}

/// A recipient as assigning needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecipientStanding {
    pub active: bool,
    /// A body outside the administration: redirected to, never assigned.
    pub external: bool,
}

/// The appeal another one is marked a duplicate of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Original {
    pub id: AppealId,
    /// The root of its own cluster, if it is a duplicate itself.
    pub duplicate_of_id: Option<AppealId>,
}

/// What the service looked up for a step (the rules do no I/O).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookups {
    /// `Assign`: the recipient named, if it exists.
    pub recipient: Option<RecipientStanding>,
    /// `MarkDuplicate`: the original named, if the caller may see it.
    pub original: Option<Original>,
    /// `Update`: what is wrong with the category and territory it names.
    pub reference_errors: Vec<FieldError>,
    /// `Answer`: the author's new one-time feedback code.
    pub feedback_code: Option<String>,
}

/// The start of a term and its deadline when a step sets a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectTerm {
    pub redirect_due: DateTime<Utc>,
    pub redirected_late: bool,
}

/// An incident's first reaction and the answer term it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reaction {
    pub reaction_due: DateTime<Utc>,
    pub reacted_late: bool,
    pub due_at: DateTime<Utc>,
}

/// The fields a source (an integration, an imported file) changed, with their new values.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<AppealStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_id: Option<CategoryId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub territory_id: Option<TerritoryId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<RecipientId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_contact: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub satisfaction: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reopen_count: Option<i32>,
}

impl SourceChanges {
    /// The names of the changed fields, in this order.
    pub fn names(&self) -> Vec<&'static str> {
        [
            ("text", self.text.is_some()),
            ("receivedAt", self.received_at.is_some()),
            ("status", self.status.is_some()),
            ("categoryId", self.category_id.is_some()),
            ("territoryId", self.territory_id.is_some()),
            ("recipientId", self.recipient_id.is_some()),
            ("answeredAt", self.answered_at.is_some()),
            ("authorName", self.author_name.is_some()),
            ("authorContact", self.author_contact.is_some()),
            ("answerText", self.answer_text.is_some()),
            ("satisfaction", self.satisfaction.is_some()),
            ("reopenCount", self.reopen_count.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The data of a history entry, one shape per kind of entry, serialised once (as the JSON
/// object of the entry's `data`, keys in alphabetical order).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged, rename_all_fields = "camelCase")]
pub enum Payload {
    /// No data.
    None,
    Created {
        due_at: DateTime<Utc>,
        possible_duplicates: Vec<AppealId>,
        suggested_category_id: Option<CategoryId>,
    },
    Ingested {
        url: String,
    },
    ChangedInSource(SourceChanges),
    Updated {
        changed: Vec<&'static str>,
    },
    Registered {
        registration_due: DateTime<Utc>,
        registered_late: bool,
        /// The answer term of an APPEAL, counted from registration.
        #[serde(skip_serializing_if = "Option::is_none")]
        due_at: Option<DateTime<Utc>>,
    },
    Assigned {
        recipient_id: RecipientId,
        previous_recipient_id: Option<RecipientId>,
    },
    Redirected {
        /// The redirect term of an APPEAL.
        #[serde(flatten)]
        term: Option<RedirectTerm>,
        external_body: String,
    },
    WorkStarted {
        /// An incident's first reaction.
        #[serde(flatten)]
        reaction: Option<Reaction>,
    },
    Extended {
        days: i32,
        previous_due_at: DateTime<Utc>,
        due_at: DateTime<Utc>,
    },
    Answered {
        on_time: bool,
    },
    Assessed {
        completeness: Completeness,
    },
    LeftWithoutAnswer {
        reason: NoAnswerReason,
    },
    Reopened {
        previous_answer: Option<String>,
        previous_answered_at: Option<DateTime<Utc>>,
        due_at: DateTime<Utc>,
    },
    MarkedDuplicate {
        original_id: AppealId,
    },
    Closed {},
    Rated {
        score: i32,
        satisfied: bool,
    },
}

impl Payload {
    /// The JSON of the entry's `data`, `None` for no data.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        match self {
            Self::None => None,
            // Through `Value`, whose objects keep their keys sorted: the text stored before
            // payloads were typed, byte for byte.
            other => serde_json::to_value(other).ok(),
        }
    }
}

/// A history entry of an appeal about to be written (who and when are the writer's).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The mutation's name (`assignAppeal`), also the audit entry's action.
    pub action: &'static str,
    pub from: Option<AppealStatus>,
    pub to: Option<AppealStatus>,
    pub comment: Option<String>,
    pub payload: Payload,
}

/// A step's effect: the appeal after it (the store sets the version and `updated_at`) and
/// its history entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub next: Appeal,
    pub event: Event,
}

/// Why the author's dissatisfaction reopens a message.
pub const DISSATISFIED: &str = "the author is not satisfied with the answer";

fn bad(path: &str, message: impl Into<String>) -> Vec<FieldError> {
    vec![FieldError { path: path.into(), message: message.into() }]
}

/// An incident's first reaction at `now`: the reaction term then running, and the working
/// hours since receipt.
fn reaction_fact(a: &Appeal, terms: &Terms, now: DateTime<Utc>) -> ReactionFact {
    ReactionFact { due_at: a.due_at, working_hours: terms.working_hours_between(a.received_at, now) }
}

/// Sets the term now running: from `start` to `due`, due soon by the policy's share.
fn set_term(next: &mut Appeal, terms: &Terms, start: DateTime<Utc>, due: DateTime<Utc>) {
    let (started, soon) = terms.window(start, due);
    next.sla_started_at = started;
    next.due_soon_at = soon;
    next.due_at = due;
}

/// The effect of `step` on `a` at `now`.
///
/// # Errors
/// The fields at fault (`BAD_USER_INPUT`): a transition the state machine does not allow
/// (`input.id`, naming the status), or the step's invalid input.
pub fn effects(
    step: &Step,
    a: &Appeal,
    found: &Lookups,
    terms: &Terms,
    now: DateTime<Utc>,
) -> Result<Change, Vec<FieldError>> {
    let from = a.status;
    let to = transition(from, step.action()).map_err(|e| {
        let what = match step {
            Step::Rate { .. } => "record feedback on".to_string(),
            other => other.name().to_string(),
        };
        bad("input.id", format!("cannot {what} an appeal in status {}", e.from.as_str()))
    })?;
    let kind = a.kind;
    let mut next = a.clone();
    let mut comment = None;
    let payload = match step {
        Step::Update(ch) => {
            let mut errors = Vec::new();
            if let Some(t) = &ch.text {
                check_text(&mut errors, "input.text", t);
            }
            check_coords(&mut errors, ch.latitude.or(a.latitude), ch.longitude.or(a.longitude));
            errors.extend(found.reference_errors.iter().cloned());
            if !errors.is_empty() {
                return Err(errors);
            }
            let mut changed = Vec::new();
            if let Some(t) = &ch.text {
                next.text = t.trim().to_string();
                changed.push("text");
            }
            if let Some(s) = &ch.summary {
                next.summary = trimmed(Some(s.clone()));
                changed.push("summary");
            }
            if let Some(c) = ch.category_id {
                next.category_id = Some(c);
                changed.push("categoryId");
            }
            if let Some(t) = ch.territory_id {
                next.territory_id = Some(t);
                changed.push("territoryId");
            }
            if let Some(addr) = &ch.address {
                next.address = trimmed(Some(addr.clone()));
                changed.push("address");
            }
            if ch.latitude.is_some() {
                next.latitude = ch.latitude;
                next.longitude = ch.longitude.or(a.longitude);
                changed.push("coordinates");
            }
            next.search_text = search_text(&next.text, next.summary.as_deref(), next.address.as_deref());
            Payload::Updated { changed }
        }
        Step::Register { comment: c } => {
            comment = trimmed(c.clone());
            next.registered_at = Some(now);
            let due_at = (kind == AppealKind::Appeal).then(|| terms.answer_after_registration(now));
            if let Some(due) = due_at {
                set_term(&mut next, terms, now, due);
            }
            Payload::Registered {
                registration_due: a.due_at,
                registered_late: kind == AppealKind::Appeal && now > a.due_at,
                due_at,
            }
        }
        Step::Assign { recipient_id, comment: c } => {
            comment = trimmed(c.clone());
            let Some(r) = found.recipient else {
                return Err(bad("input.recipientId", "no such recipient"));
            };
            if !r.active {
                return Err(bad("input.recipientId", "the recipient is not active"));
            }
            if r.external {
                return Err(bad(
                    "input.recipientId",
                    "an external body cannot be assigned; redirect the appeal to it instead",
                ));
            }
            next.recipient_id = Some(*recipient_id);
            Payload::Assigned { recipient_id: *recipient_id, previous_recipient_id: a.recipient_id }
        }
        Step::Redirect { external_body, comment: c } => {
            comment = trimmed(c.clone());
            let body = external_body.trim().to_string();
            if body.is_empty() {
                return Err(bad("input.externalBody", "must not be empty"));
            }
            next.redirected_to = Some(body.clone());
            next.resolved_at = Some(now);
            let term = (kind == AppealKind::Appeal).then(|| {
                let redirect_due = terms.redirect_due(a.registered_at.unwrap_or(a.received_at));
                set_term(&mut next, terms, a.sla_started_at, redirect_due);
                RedirectTerm { redirect_due, redirected_late: now > redirect_due }
            });
            Payload::Redirected { term, external_body: body }
        }
        Step::StartWork { comment: c } => {
            comment = trimmed(c.clone());
            if a.recipient_id.is_none() {
                return Err(bad("input.id", "the appeal has no recipient"));
            }
            let reaction = (kind == AppealKind::Incident && a.reacted_at.is_none()).then(|| {
                next.reacted_at = Some(now);
                next.reaction = Some(reaction_fact(a, terms, now));
                let due = terms.incident_final(now);
                set_term(&mut next, terms, now, due);
                Reaction { reaction_due: a.due_at, reacted_late: now > a.due_at, due_at: due }
            });
            Payload::WorkStarted { reaction }
        }
        Step::Extend { days, reason } => {
            let due = terms
                .extend(kind, a.due_at, *days, a.extension_count, reason)
                .map_err(|e| bad(&format!("input.{}", e.field()), e.to_string()))?;
            next.extension_count = a.extension_count + 1;
            set_term(&mut next, terms, a.sla_started_at, due);
            comment = Some(reason.trim().to_string());
            Payload::Extended { days: *days, previous_due_at: a.due_at, due_at: due }
        }
        Step::Answer { text } => {
            let mut errors = Vec::new();
            check_text(&mut errors, "input.text", text);
            if !errors.is_empty() {
                return Err(errors);
            }
            next.answer_text = Some(text.trim().to_string());
            next.answered_at = Some(now);
            next.resolved_at = Some(now);
            if kind == AppealKind::Incident && a.reacted_at.is_none() {
                next.reacted_at = Some(now);
                next.reaction = Some(reaction_fact(a, terms, now));
            }
            next.completeness = None;
            next.feedback_code.clone_from(&found.feedback_code);
            next.feedback_expires_at = Some(now + terms.feedback_validity());
            Payload::Answered { on_time: now <= a.due_at }
        }
        Step::Assess { completeness, comment: c } => {
            comment = trimmed(c.clone());
            next.completeness = Some(*completeness);
            Payload::Assessed { completeness: *completeness }
        }
        Step::LeaveWithoutAnswer { reason, comment: c } => {
            comment = trimmed(c.clone());
            if !no_answer_allowed(*reason, a.author_name.as_deref(), a.author_contact.as_deref()) {
                return Err(bad("input.reason", "ANONYMOUS applies only when the author's name or address is missing"));
            }
            next.no_answer_reason = Some(*reason);
            next.resolved_at = Some(now);
            Payload::LeftWithoutAnswer { reason: *reason }
        }
        Step::Reopen { reason } => {
            let reason = reason.trim().to_string();
            if reason.is_empty() {
                return Err(bad("input.reason", "must not be empty"));
            }
            comment = Some(reason);
            let due = terms.reopen_due(kind, now);
            set_term(&mut next, terms, now, due);
            next.reopen_count = a.reopen_count + 1;
            next.resolved_at = None;
            next.answered_at = None;
            next.answer_text = None;
            next.completeness = None;
            next.no_answer_reason = None;
            next.feedback_code = None;
            next.feedback_expires_at = None;
            Payload::Reopened {
                previous_answer: a.answer_text.clone(),
                previous_answered_at: a.answered_at,
                due_at: due,
            }
        }
        Step::MarkDuplicate { original_id } => {
            if *original_id == a.id {
                return Err(bad("input.originalId", "an appeal cannot duplicate itself"));
            }
            let Some(original) = found.original else {
                return Err(bad("input.originalId", "no such appeal"));
            };
            // Link to the root of the cluster so analytics count it once.
            let root = original.duplicate_of_id.unwrap_or(original.id);
            if root == a.id {
                return Err(bad("input.originalId", "that appeal is itself a duplicate of this one"));
            }
            next.duplicate_of_id = Some(root);
            next.resolved_at = Some(now);
            Payload::MarkedDuplicate { original_id: root }
        }
        Step::Close { comment: c } => {
            comment = trimmed(c.clone());
            Payload::Closed {}
        }
        Step::Rate { score, satisfied, comment: c, by_author } => {
            if !(1..=5).contains(score) {
                return Err(bad(if *by_author { "score" } else { "input.score" }, "must be between 1 and 5"));
            }
            comment = trimmed(c.clone());
            next.satisfaction_score = Some(*score);
            next.satisfied = Some(*satisfied);
            next.feedback_code = None;
            next.feedback_expires_at = None;
            Payload::Rated { score: *score, satisfied: *satisfied }
        }
    };
    next.status = to;
    next.keep_first_answer();
    Ok(Change { next, event: Event { action: step.name(), from: Some(from), to: Some(to), comment, payload } })
}

/// What follows a rating on its own: a dissatisfied author of a ПОС-style MESSAGE gets a
/// repeated review ([`Step::Reopen`] for [`DISSATISFIED`]).
pub fn after_rating(rated: &Appeal, satisfied: bool) -> Option<Step> {
    (rated.kind == AppealKind::Message && !satisfied).then(|| Step::Reopen { reason: DISSATISFIED.into() })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::domain::access::Channel;
    use crate::domain::appeal::FirstAnswer;
    use crate::domain::calendar::WorkCalendar;
    use crate::domain::deadlines::DeadlinePolicy;

    const TZ: chrono_tz::Tz = chrono_tz::Asia::Krasnoyarsk;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        TZ.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap().with_timezone(&Utc)
    }

    fn terms() -> Terms {
        Terms::new(DeadlinePolicy::default(), TZ, WorkCalendar::default(), 30)
    }

    /// An APPEAL received on Monday 2 November 2026 at 10:00, registration due in 3 days.
    fn appeal(status: AppealStatus) -> Appeal {
        let received = at(2, 10);
        let t = terms();
        let due = t.initial(AppealKind::Appeal, received, false);
        let (start, soon) = t.window(received, due);
        Appeal {
            id: AppealId(10),
            number: "2026-000010".into(),
            kind: AppealKind::Appeal,
            channel: Channel::Email,
            external_id: None,
            status,
            received_at: received,
            registered_at: None,
            author_name: Some("Анна Сидорова".into()),
            author_contact: Some("a@b.ru".into()),
            anonymous: false,
            text: "Яма у дома".into(),
            search_text: search_text("Яма у дома", None, None),
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
            sla_started_at: start,
            due_soon_at: soon,
            due_at: due,
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
            version: 1,
            created_at: received,
            updated_at: received,
            anonymised_at: None,
        }
    }

    fn run(step: &Step, a: &Appeal, found: &Lookups, now: DateTime<Utc>) -> Result<Change, Vec<FieldError>> {
        effects(step, a, found, &terms(), now)
    }

    fn ok(step: &Step, a: &Appeal, now: DateTime<Utc>) -> Change {
        run(step, a, &Lookups::default(), now).unwrap()
    }

    fn paths(e: &[FieldError]) -> Vec<&str> {
        e.iter().map(|f| f.path.as_str()).collect()
    }

    fn data(c: &Change) -> serde_json::Value {
        c.event.payload.to_json().unwrap()
    }

    #[test]
    fn a_step_the_state_machine_refuses_names_the_status_and_changes_nothing() {
        let a = appeal(AppealStatus::Received);
        let e = run(&Step::Close { comment: None }, &a, &Lookups::default(), at(3, 9)).unwrap_err();
        assert_eq!(e[0].path, "input.id");
        assert_eq!(e[0].message, "cannot closeAppeal an appeal in status RECEIVED");
        let rate = Step::Rate { score: 5, satisfied: true, comment: None, by_author: true };
        let e = run(&rate, &a, &Lookups::default(), at(3, 9)).unwrap_err();
        assert_eq!(e[0].message, "cannot record feedback on an appeal in status RECEIVED");
    }

    #[test]
    fn update_changes_the_content_and_its_search_text_and_lists_what_changed() {
        let a = appeal(AppealStatus::Registered);
        let ch = AppealChanges {
            text: Some("  Яма на дороге ".into()),
            address: Some("ул. Ленина, 5".into()),
            latitude: Some(54.0),
            longitude: Some(90.2),
            ..AppealChanges::default()
        };
        let c = ok(&Step::Update(ch), &a, at(3, 9));
        assert_eq!(c.next.text, "Яма на дороге");
        assert_eq!(c.next.search_text, search_text("Яма на дороге", None, Some("ул. Ленина, 5")));
        assert_eq!((c.next.latitude, c.next.longitude), (Some(54.0), Some(90.2)));
        assert_eq!(c.next.status, AppealStatus::Registered);
        assert_eq!(data(&c), json!({"changed": ["text", "address", "coordinates"]}));
        // Every invalid field at once, the references' problems (looked up by the service) last.
        let bad = AppealChanges { text: Some(" ".into()), latitude: Some(91.0), ..AppealChanges::default() };
        let found = Lookups {
            reference_errors: vec![FieldError { path: "input.categoryId".into(), message: "no such category".into() }],
            ..Lookups::default()
        };
        let e = run(&Step::Update(bad), &a, &found, at(3, 9)).unwrap_err();
        assert_eq!(paths(&e), ["input.text", "input.latitude", "input.longitude", "input.categoryId"]);
    }

    #[test]
    fn registering_an_appeal_starts_its_answer_term_from_registration() {
        let a = appeal(AppealStatus::Received);
        let now = at(3, 9);
        let c = ok(&Step::Register { comment: Some("  ".into()) }, &a, now);
        let due = terms().answer_after_registration(now);
        assert_eq!((c.next.registered_at, c.next.due_at, c.next.sla_started_at), (Some(now), due, now));
        assert_eq!(c.next.status, AppealStatus::Registered);
        assert_eq!(c.event.comment, None);
        assert_eq!(data(&c), json!({"registrationDue": a.due_at, "registeredLate": false, "dueAt": due}));
        // A message's term runs from receipt: registering it leaves the term alone.
        let m = Appeal { kind: AppealKind::Message, ..appeal(AppealStatus::Received) };
        let c = ok(&Step::Register { comment: None }, &m, at(20, 9));
        assert_eq!(c.next.due_at, m.due_at);
        assert_eq!(data(&c), json!({"registrationDue": m.due_at, "registeredLate": false}));
    }

    #[test]
    fn assigning_needs_an_active_recipient_inside_the_administration() {
        let a = appeal(AppealStatus::Registered);
        let step = Step::Assign { recipient_id: RecipientId(6), comment: Some(" срочно ".into()) };
        let with = |active, external| Lookups {
            recipient: Some(RecipientStanding { active, external }),
            ..Lookups::default()
        };
        let msg = |found: &Lookups| run(&step, &a, found, at(3, 9)).unwrap_err()[0].message.clone();
        assert_eq!(msg(&Lookups::default()), "no such recipient");
        assert_eq!(msg(&with(false, false)), "the recipient is not active");
        assert!(msg(&with(true, true)).starts_with("an external body cannot be assigned"));
        let c = run(&step, &a, &with(true, false), at(3, 9)).unwrap();
        assert_eq!((c.next.recipient_id, c.next.status), (Some(RecipientId(6)), AppealStatus::Assigned));
        assert_eq!(c.event.comment.as_deref(), Some("срочно"));
        assert_eq!(c.event.payload.to_json().unwrap().to_string(), r#"{"previousRecipientId":null,"recipientId":6}"#);
    }

    #[test]
    fn redirecting_resolves_the_appeal_and_an_appeal_gets_its_redirect_term() {
        let a = appeal(AppealStatus::Registered);
        let e = run(&Step::Redirect { external_body: " ".into(), comment: None }, &a, &Lookups::default(), at(3, 9));
        assert_eq!(paths(&e.unwrap_err()), ["input.externalBody"]);
        let now = at(3, 9);
        let c = ok(&Step::Redirect { external_body: " Минздрав ".into(), comment: None }, &a, now);
        let due = terms().redirect_due(a.received_at);
        assert_eq!((c.next.redirected_to.as_deref(), c.next.resolved_at), (Some("Минздрав"), Some(now)));
        assert_eq!((c.next.due_at, c.next.sla_started_at), (due, a.sla_started_at));
        assert_eq!(data(&c), json!({"redirectDue": due, "redirectedLate": false, "externalBody": "Минздрав"}));
        let m = Appeal { kind: AppealKind::Message, ..a };
        let c = ok(&Step::Redirect { external_body: "Минздрав".into(), comment: None }, &m, now);
        assert_eq!(c.next.due_at, m.due_at);
        assert_eq!(data(&c), json!({"externalBody": "Минздрав"}));
    }

    #[test]
    fn starting_work_is_an_incidents_first_reaction() {
        let a = appeal(AppealStatus::Assigned);
        let e = run(&Step::StartWork { comment: None }, &a, &Lookups::default(), at(3, 9)).unwrap_err();
        assert_eq!(e[0].message, "the appeal has no recipient");
        let a = Appeal { recipient_id: Some(RecipientId(6)), ..a };
        let c = ok(&Step::StartWork { comment: None }, &a, at(3, 9));
        assert_eq!((c.next.status, c.next.reacted_at, c.next.due_at), (AppealStatus::InProgress, None, a.due_at));
        assert_eq!(c.event.payload.to_json().unwrap().to_string(), "{}");
        let i = Appeal { kind: AppealKind::Incident, ..a };
        let now = at(3, 9);
        let c = ok(&Step::StartWork { comment: None }, &i, now);
        let due = terms().incident_final(now);
        assert_eq!((c.next.reacted_at, c.next.due_at, c.next.sla_started_at), (Some(now), due, now));
        assert_eq!(data(&c), json!({"reactionDue": i.due_at, "reactedLate": now > i.due_at, "dueAt": due}));
        let fact = c.next.reaction.unwrap();
        assert_eq!(fact.due_at, i.due_at);
        assert!((fact.working_hours - terms().working_hours_between(i.received_at, now)).abs() < 1e-9);
        // Received Monday 2 November 10:00, reacted Tuesday 3 November 09:00: 8 working hours.
        assert!((fact.working_hours - 8.0).abs() < 1e-9);
        // A second start of work is no reaction.
        let again = Appeal { status: AppealStatus::Assigned, ..c.next.clone() };
        assert_eq!(ok(&Step::StartWork { comment: None }, &again, at(5, 9)).next.reaction, Some(fact));
    }

    #[test]
    fn extending_an_appeal_moves_its_deadline_once() {
        let a = appeal(AppealStatus::InProgress);
        let step = Step::Extend { days: 10, reason: " нужна экспертиза ".into() };
        let c = ok(&step, &a, at(3, 9));
        assert_eq!(c.next.extension_count, 1);
        assert!(c.next.due_at > a.due_at);
        assert_eq!(c.event.comment.as_deref(), Some("нужна экспертиза"));
        assert_eq!(data(&c), json!({"days": 10, "previousDueAt": a.due_at, "dueAt": c.next.due_at}));
        let e = run(&step, &c.next, &Lookups::default(), at(3, 9)).unwrap_err();
        assert_eq!(paths(&e), ["input.id"], "only once");
        let e = run(&Step::Extend { days: 31, reason: "x".into() }, &a, &Lookups::default(), at(3, 9)).unwrap_err();
        assert_eq!(paths(&e), ["input.days"]);
    }

    #[test]
    fn an_answer_resolves_the_appeal_and_gives_the_author_a_feedback_code() {
        let a = appeal(AppealStatus::InProgress);
        let e = run(&Step::Answer { text: "  ".into() }, &a, &Lookups::default(), at(3, 9)).unwrap_err();
        assert_eq!(paths(&e), ["input.text"]);
        let now = at(3, 9);
        let found = Lookups { feedback_code: Some("ABCDEFGHJK".into()), ..Lookups::default() };
        let c = run(&Step::Answer { text: " Отремонтировано ".into() }, &a, &found, now).unwrap();
        assert_eq!(c.next.answer_text.as_deref(), Some("Отремонтировано"));
        assert_eq!((c.next.answered_at, c.next.resolved_at, c.next.reacted_at), (Some(now), Some(now), None));
        assert_eq!(c.next.feedback_code.as_deref(), Some("ABCDEFGHJK"));
        assert_eq!(c.next.feedback_expires_at, Some(now + chrono::Duration::days(30)));
        assert_eq!(data(&c), json!({"onTime": true}));
    }

    #[test]
    fn assessing_an_answer_records_its_completeness() {
        let a = appeal(AppealStatus::Answered);
        let c = ok(&Step::Assess { completeness: Completeness::Formal, comment: None }, &a, at(3, 9));
        assert_eq!((c.next.completeness, c.next.status), (Some(Completeness::Formal), AppealStatus::Answered));
        assert_eq!(data(&c), json!({"completeness": "FORMAL"}));
    }

    #[test]
    fn leaving_without_an_answer_as_anonymous_needs_a_missing_name_or_address() {
        let a = appeal(AppealStatus::Registered);
        let anonymous = Step::LeaveWithoutAnswer { reason: NoAnswerReason::Anonymous, comment: None };
        let e = run(&anonymous, &a, &Lookups::default(), at(3, 9)).unwrap_err();
        assert_eq!(paths(&e), ["input.reason"]);
        let c = ok(&anonymous, &Appeal { author_contact: None, ..a }, at(3, 9));
        assert_eq!((c.next.no_answer_reason, c.next.resolved_at), (Some(NoAnswerReason::Anonymous), Some(at(3, 9))));
        assert_eq!((c.next.status, data(&c)), (AppealStatus::WithoutAnswer, json!({"reason": "ANONYMOUS"})));
    }

    #[test]
    fn reopening_clears_the_answer_and_starts_a_new_term() {
        let answered = Appeal {
            answer_text: Some("Ответ".into()),
            answered_at: Some(at(4, 9)),
            resolved_at: Some(at(4, 9)),
            completeness: Some(Completeness::Full),
            feedback_code: Some("X".into()),
            feedback_expires_at: Some(at(30, 9)),
            ..appeal(AppealStatus::Answered)
        };
        let e = run(&Step::Reopen { reason: " ".into() }, &answered, &Lookups::default(), at(5, 9)).unwrap_err();
        assert_eq!(paths(&e), ["input.reason"]);
        let now = at(5, 9);
        let c = ok(&Step::Reopen { reason: " неполный ответ ".into() }, &answered, now);
        let due = terms().reopen_due(AppealKind::Appeal, now);
        assert_eq!((c.next.status, c.next.reopen_count, c.next.due_at), (AppealStatus::Reopened, 1, due));
        assert_eq!((c.next.answer_text.clone(), c.next.answered_at, c.next.resolved_at), (None, None, None));
        assert_eq!((c.next.completeness, c.next.feedback_code.clone()), (None, None));
        assert_eq!(c.event.comment.as_deref(), Some("неполный ответ"));
        assert_eq!(data(&c), json!({"previousAnswer": "Ответ", "previousAnsweredAt": at(4, 9), "dueAt": due}));
    }

    #[test]
    fn a_reopening_keeps_the_first_answer_and_a_second_answer_does_not_replace_it() {
        let a = appeal(AppealStatus::InProgress);
        let late = a.due_at + chrono::Duration::hours(5);
        let first = ok(&Step::Answer { text: "Ответ дан".into() }, &a, late).next;
        let expected = FirstAnswer { answered_at: late, due_at: a.due_at, completeness: None, satisfied: None };
        assert_eq!(first.first_answer, Some(expected));
        assert!(!expected.on_time());
        let assessed = ok(&Step::Assess { completeness: Completeness::Formal, comment: None }, &first, late).next;
        let formal = FirstAnswer { completeness: Some(Completeness::Formal), ..expected };
        assert_eq!(assessed.first_answer, Some(formal));
        let rated =
            ok(&Step::Rate { score: 1, satisfied: false, comment: None, by_author: true }, &assessed, late).next;
        let rated_first = FirstAnswer { satisfied: Some(false), ..formal };
        assert_eq!(rated.first_answer, Some(rated_first));
        let reopened_at = late + chrono::Duration::hours(1);
        let reopened = ok(&Step::Reopen { reason: "отписка".into() }, &rated, reopened_at).next;
        assert_eq!((reopened.answered_at, reopened.completeness), (None, None), "the current answer is cleared");
        assert_eq!(reopened.first_answer, Some(rated_first), "the first one is kept");
        let good = reopened_at + chrono::Duration::hours(2);
        let working = Appeal { recipient_id: Some(RecipientId(6)), ..reopened };
        let working = ok(&Step::StartWork { comment: None }, &working, good).next;
        assert_eq!(working.first_answer, Some(rated_first));
        let second = ok(&Step::Answer { text: "Отремонтировано".into() }, &working, good).next;
        let full = ok(&Step::Assess { completeness: Completeness::Full, comment: None }, &second, good).next;
        let happy = ok(&Step::Rate { score: 5, satisfied: true, comment: None, by_author: true }, &full, good).next;
        assert_eq!((happy.completeness, happy.satisfied), (Some(Completeness::Full), Some(true)));
        assert_eq!(happy.first_answer, Some(rated_first), "a later answer leaves the first alone");
    }

    #[test]
    fn a_duplicate_links_to_the_root_of_its_cluster_and_never_to_itself() {
        let a = appeal(AppealStatus::Registered);
        let step = Step::MarkDuplicate { original_id: AppealId(7) };
        let msg = |step: &Step, found: &Lookups| run(step, &a, found, at(3, 9)).unwrap_err()[0].message.clone();
        assert_eq!(
            msg(&Step::MarkDuplicate { original_id: a.id }, &Lookups::default()),
            "an appeal cannot duplicate itself"
        );
        assert_eq!(msg(&step, &Lookups::default()), "no such appeal");
        let original =
            |dup| Lookups { original: Some(Original { id: AppealId(7), duplicate_of_id: dup }), ..Lookups::default() };
        assert_eq!(msg(&step, &original(Some(a.id))), "that appeal is itself a duplicate of this one");
        let c = run(&step, &a, &original(Some(AppealId(3))), at(3, 9)).unwrap();
        assert_eq!((c.next.duplicate_of_id, c.next.status), (Some(AppealId(3)), AppealStatus::Duplicate));
        assert_eq!(data(&c), json!({"originalId": 3}));
    }

    #[test]
    fn closing_keeps_everything_but_the_status() {
        let a = appeal(AppealStatus::Answered);
        let c = ok(&Step::Close { comment: Some(" готово ".into()) }, &a, at(3, 9));
        assert_eq!(c.next, Appeal { status: AppealStatus::Closed, ..a });
        assert_eq!(c.event.comment.as_deref(), Some("готово"));
        assert_eq!(c.event.payload.to_json().unwrap().to_string(), "{}");
    }

    #[test]
    fn a_rating_uses_up_the_code_and_a_dissatisfied_message_is_reviewed_again() {
        let a = Appeal { feedback_code: Some("X".into()), ..appeal(AppealStatus::Answered) };
        let rate = Step::Rate { score: 2, satisfied: false, comment: Some(" плохо ".into()), by_author: true };
        let c = ok(&rate, &a, at(3, 9));
        assert_eq!(
            (c.next.satisfaction_score, c.next.satisfied, c.next.feedback_code.clone()),
            (Some(2), Some(false), None)
        );
        assert_eq!((c.event.action, c.event.comment.as_deref()), ("submitFeedback", Some("плохо")));
        assert_eq!(data(&c), json!({"score": 2, "satisfied": false}));
        assert_eq!(after_rating(&c.next, false), None, "an APPEAL is not reopened by itself");
        let six = Step::Rate { score: 6, satisfied: true, comment: None, by_author: false };
        assert_eq!(paths(&run(&six, &a, &Lookups::default(), at(3, 9)).unwrap_err()), ["input.score"]);
        let m = Appeal { kind: AppealKind::Message, ..c.next };
        assert_eq!(after_rating(&m, true), None);
        assert_eq!(after_rating(&m, false), Some(Step::Reopen { reason: DISSATISFIED.into() }));
    }

    #[test]
    fn payloads_serialise_to_the_json_history_always_had() {
        let t = at(3, 9);
        let created =
            Payload::Created { due_at: t, possible_duplicates: vec![AppealId(4)], suggested_category_id: None };
        assert_eq!(
            created.to_json().unwrap().to_string(),
            json!({ "dueAt": t, "possibleDuplicates": [4], "suggestedCategoryId": null }).to_string()
        );
        assert_eq!(Payload::None.to_json(), None);
        assert_eq!(Payload::Ingested { url: "https://x".into() }.to_json(), Some(json!({"url": "https://x"})));
        let source = SourceChanges {
            status: Some(AppealStatus::Closed),
            recipient_id: Some(RecipientId(5)),
            reopen_count: Some(1),
            ..SourceChanges::default()
        };
        assert_eq!(source.names(), ["status", "recipientId", "reopenCount"]);
        assert_eq!(
            Payload::ChangedInSource(source).to_json().unwrap().to_string(),
            r#"{"recipientId":5,"reopenCount":1,"status":"CLOSED"}"#
        );
        assert!(SourceChanges::default().is_empty());
    }
}
