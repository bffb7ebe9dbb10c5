//! Deadline alerts and escalation (эскалация): which transitions of an open appeal's running
//! deadline are announced, who is told at each level, and the Russian text of the
//! notification. The SLA states themselves are [`super::deadlines::sla_state`]'s.
//!
//! Defaults: DUE_SOON → the executors of the appeal's recipient; OVERDUE → plus the
//! coordinators of its channel; overdue for longer than a grace period (1 working day; 2
//! working hours for incidents) → ESCALATED, plus the curators. An appeal without a recipient
//! yet (to be registered or assigned) has no executors: the coordinators of its channel take
//! their place, since the next step is theirs.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::access::{Channel, Role, string_enum};
use super::deadlines::{AppealKind, Frame, SlaState, WorkingHours, working_days_term_end, working_hours_term_end};
use super::events::Topic;

string_enum!(
    /// A transition of an appeal's running deadline that the deadline watch announces once
    /// per appeal and deadline.
    Transition {
        /// Less than the due-soon share of the term is left.
        DueSoon => "DUE_SOON",
        /// The deadline passed.
        Overdue => "OVERDUE",
        /// Overdue for longer than the grace period: raised to the curator.
        Escalated => "ESCALATED",
    }
);

impl Transition {
    /// The outbox topic that announces it.
    pub fn topic(self) -> Topic {
        match self {
            Self::DueSoon => Topic::AppealDueSoon,
            Self::Overdue => Topic::AppealOverdue,
            Self::Escalated => Topic::AppealEscalated,
        }
    }

    /// Whether it raises the appeal to another level and so belongs in the appeal's history
    /// (a due-soon warning is a reminder, not an escalation).
    pub fn is_escalation(self) -> bool {
        !matches!(self, Self::DueSoon)
    }
}

string_enum!(
    /// What a notification is about; each kind has its own settings.
    NotificationKind {
        /// An appeal's deadline is near.
        AppealDueSoon => "APPEAL_DUE_SOON",
        /// An appeal's deadline passed.
        AppealOverdue => "APPEAL_OVERDUE",
        /// An appeal is overdue past the grace period and raised to the curator.
        AppealEscalated => "APPEAL_ESCALATED",
        /// The weekly memo was generated (told to every Head).
        MemoReady => "MEMO_READY",
        /// An assignment of a meeting is due within two days (told to the executors of its
        /// recipient).
        AssignmentDueSoon => "ASSIGNMENT_DUE_SOON",
        /// An assignment of a meeting passed its due date (told to the executors of its
        /// recipient, the curators and the Head).
        AssignmentOverdue => "ASSIGNMENT_OVERDUE",
    }
);

impl NotificationKind {
    /// The kind of notification an outbox topic makes, if any.
    pub fn of_topic(topic: Topic) -> Option<Self> {
        match topic {
            Topic::AppealDueSoon => Some(Self::AppealDueSoon),
            Topic::AppealOverdue => Some(Self::AppealOverdue),
            Topic::AppealEscalated => Some(Self::AppealEscalated),
            Topic::MemoReady => Some(Self::MemoReady),
            Topic::AssignmentDueSoon => Some(Self::AssignmentDueSoon),
            Topic::AssignmentOverdue => Some(Self::AssignmentOverdue),
            _ => None,
        }
    }

    /// The deadline transition it tells of, if it is a deadline alert.
    pub fn transition(self) -> Option<Transition> {
        match self {
            Self::AppealDueSoon => Some(Transition::DueSoon),
            Self::AppealOverdue => Some(Transition::Overdue),
            Self::AppealEscalated => Some(Transition::Escalated),
            Self::MemoReady | Self::AssignmentDueSoon | Self::AssignmentOverdue => None,
        }
    }

    /// The setting of a person who chose nothing: in the application, and the weekly memo
    /// also by e-mail at once (it goes to Heads, who may not open the application weekly).
    pub fn default_preference(self) -> Preference {
        match self {
            Self::MemoReady => Preference { in_app: true, email: MailDelivery::Immediate },
            _ => Preference::default(),
        }
    }

    /// The subject line of its e-mail (after «МЦУ: »), for the appeal `number`.
    pub fn headline(self, number: &str) -> String {
        match self {
            Self::AppealDueSoon => format!("истекает срок по обращению № {number}"),
            Self::AppealOverdue => format!("просрочено обращение № {number}"),
            Self::AppealEscalated => format!("эскалация: обращение № {number} просрочено"),
            Self::MemoReady => "еженедельная записка готова".to_owned(),
            Self::AssignmentDueSoon => "истекает срок поручения".to_owned(),
            Self::AssignmentOverdue => "просрочено поручение".to_owned(),
        }
    }
}

string_enum!(
    /// How a kind of notification goes by e-mail.
    MailDelivery {
        /// Not by e-mail.
        None => "NONE",
        /// One message per notification.
        Immediate => "IMMEDIATE",
        /// Collected into one daily digest instead of single messages.
        DailyDigest => "DAILY_DIGEST",
    }
);

/// One person's choice for one kind of notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preference {
    pub in_app: bool,
    pub email: MailDelivery,
}

impl Default for Preference {
    /// Shown in the application, not sent by e-mail.
    fn default() -> Self {
        Self { in_app: true, email: MailDelivery::None }
    }
}

/// A group of staff an alert may go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Group {
    /// The executors of the appeal's recipient (without a recipient: the channel's coordinators).
    Executors,
    /// The coordinators of the appeal's channel (within their territory, if limited to one).
    Coordinators,
    /// The curators whose territory holds the appeal (all curators not limited to a territory).
    Curators,
}

/// Who is told at each level and when an overdue appeal is escalated; `MCU_ESCALATION`
/// overrides any of it as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EscalationPolicy {
    /// Told when the deadline comes within the due-soon share of the term.
    pub due_soon: Vec<Group>,
    /// Told when the deadline passes.
    pub overdue: Vec<Group>,
    /// Told when the appeal is overdue for longer than the grace period.
    pub escalated: Vec<Group>,
    /// Grace period of appeals and messages, in working days after the deadline.
    pub grace_working_days: u32,
    /// Grace period of incidents, in working hours after the deadline.
    pub incident_grace_working_hours: u32,
}

impl Default for EscalationPolicy {
    fn default() -> Self {
        Self {
            due_soon: vec![Group::Executors],
            overdue: vec![Group::Executors, Group::Coordinators],
            escalated: vec![Group::Executors, Group::Coordinators, Group::Curators],
            grace_working_days: 1,
            incident_grace_working_hours: 2,
        }
    }
}

impl EscalationPolicy {
    /// The groups told of a transition.
    pub fn groups(&self, t: Transition) -> &[Group] {
        match t {
            Transition::DueSoon => &self.due_soon,
            Transition::Overdue => &self.overdue,
            Transition::Escalated => &self.escalated,
        }
    }

    /// When an appeal of `kind` overdue since `due` is escalated: `grace_working_days`
    /// working days after the deadline's day (23:59:59 of that working day), or for an
    /// incident `incident_grace_working_hours` working hours after the deadline.
    pub fn escalation_at(&self, kind: AppealKind, due: DateTime<Utc>, f: Frame<'_>, wh: WorkingHours) -> DateTime<Utc> {
        match kind {
            AppealKind::Incident => working_hours_term_end(due, self.incident_grace_working_hours, f, wh),
            AppealKind::Appeal | AppealKind::Message => working_days_term_end(due, self.grace_working_days, f),
        }
    }

    /// The shortest time any escalation can take after a deadline (a working hour lasts at
    /// least an hour, a working-day grace at least a day): the watch reads only appeals
    /// overdue for longer than this.
    pub fn shortest_grace(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.incident_grace_working_hours))
            .min(chrono::Duration::days(i64::from(self.grace_working_days)))
    }

    /// The grace period of `kind` in words, in the genitive after «более»: «1 рабочего дня»,
    /// «2 рабочих часов».
    pub fn grace_words(&self, kind: AppealKind) -> String {
        let (n, one, many) = match kind {
            AppealKind::Incident => (self.incident_grace_working_hours, "рабочего часа", "рабочих часов"),
            AppealKind::Appeal | AppealKind::Message => (self.grace_working_days, "рабочего дня", "рабочих дней"),
        };
        let singular = n % 10 == 1 && n % 100 != 11;
        format!("{n} {}", if singular { one } else { many })
    }
}

/// The transitions an open appeal has reached at `now`, lowest first: DUE_SOON while it is
/// due soon; OVERDUE once its deadline passed, with ESCALATED from `escalation_at` on. A
/// deadline already passed is not "due soon" any more, so DUE_SOON is not announced late.
pub fn reached(
    now: DateTime<Utc>,
    due_soon_from: DateTime<Utc>,
    due: DateTime<Utc>,
    resolved: Option<DateTime<Utc>>,
    escalation_at: DateTime<Utc>,
) -> Vec<Transition> {
    match super::deadlines::sla_state(now, due_soon_from, due, resolved) {
        SlaState::DueSoon => vec![Transition::DueSoon],
        SlaState::Overdue if now >= escalation_at => vec![Transition::Overdue, Transition::Escalated],
        SlaState::Overdue => vec![Transition::Overdue],
        SlaState::OnTime | SlaState::Met | SlaState::Missed => Vec::new(),
    }
}

/// A member of staff as the rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: i64,
    pub roles: Vec<Role>,
    pub channels: Vec<Channel>,
    pub recipient_id: Option<i64>,
    /// The subtree of the territory it is limited to, if limited.
    pub territories: Option<HashSet<i64>>,
}

impl Person {
    fn covers(&self, territory: Option<i64>) -> bool {
        match &self.territories {
            None => true,
            Some(set) => territory.is_some_and(|t| set.contains(&t)),
        }
    }
}

/// What the rule needs to know of an appeal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addressee {
    pub channel: Option<Channel>,
    pub recipient_id: Option<i64>,
    pub territory_id: Option<i64>,
}

/// The ids of the people (of `staff`, active ones only) that `groups` name for the appeal,
/// ascending and each once.
pub fn audience(groups: &[Group], a: &Addressee, staff: &[Person]) -> Vec<i64> {
    let coordinates =
        |p: &Person| p.roles.contains(&Role::Coordinator) && a.channel.is_some_and(|c| p.channels.contains(&c));
    let mut ids: Vec<i64> = staff
        .iter()
        .filter(|p| {
            groups.iter().any(|g| match g {
                Group::Executors => match a.recipient_id {
                    Some(r) => p.roles.contains(&Role::Executor) && p.recipient_id == Some(r),
                    None => coordinates(p) && p.covers(a.territory_id),
                },
                Group::Coordinators => coordinates(p) && p.covers(a.territory_id),
                Group::Curators => p.roles.contains(&Role::Curator) && p.covers(a.territory_id),
            })
        })
        .map(|p| p.id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

string_enum!(
    /// Which deadline of an appeal is running.
    Term {
        /// Registration of an APPEAL (59-ФЗ ст. 8 ч. 2).
        Registration => "REGISTRATION",
        /// The first reaction to an INCIDENT.
        Reaction => "REACTION",
        /// The answer.
        Answer => "ANSWER",
    }
);

impl Term {
    /// The running term of an appeal of `kind`: registration before an APPEAL is
    /// registered, the first reaction before an INCIDENT is reacted to, else the answer.
    pub fn of(kind: AppealKind, registered: bool, reacted: bool) -> Self {
        match kind {
            AppealKind::Appeal if !registered => Self::Registration,
            AppealKind::Incident if !reacted => Self::Reaction,
            _ => Self::Answer,
        }
    }

    fn genitive(self) -> &'static str {
        match self {
            Self::Registration => "регистрации",
            Self::Reaction => "реакции",
            Self::Answer => "ответа",
        }
    }
}

/// What the deadline watch announces (the outbox row's payload; no personal data, so
/// webhooks may carry it as it is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub appeal_id: i64,
    pub number: String,
    pub kind: String,
    pub channel: String,
    pub transition: String,
    pub term: String,
    pub due_at: DateTime<Utc>,
    /// When an overdue appeal is (or was) escalated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_at: Option<DateTime<Utc>>,
}

/// The Russian text of a notification about `alert`, times in `tz`; `grace` is
/// [`EscalationPolicy::grace_words`] for the appeal's kind.
pub fn notification_text(alert: &Alert, tz: Tz, grace: &str) -> String {
    let (noun, late) = match alert.kind.parse::<AppealKind>() {
        Ok(AppealKind::Message) => ("Сообщение", "просрочено"),
        Ok(AppealKind::Incident) => ("Инцидент", "просрочен"),
        Ok(AppealKind::Appeal) | Err(_) => ("Обращение", "просрочено"),
    };
    let term = alert.term.parse::<Term>().unwrap_or(Term::Answer).genitive();
    let due = alert.due_at.with_timezone(&tz).format("%d.%m.%Y в %H:%M");
    let number = &alert.number;
    match alert.transition.parse::<Transition>() {
        Ok(Transition::DueSoon) => format!("{noun} № {number}: срок {term} истекает {due}"),
        Ok(Transition::Overdue) | Err(_) => format!("{noun} № {number}: срок {term} истёк {due}"),
        Ok(Transition::Escalated) => {
            format!("{noun} № {number} {late} более {grace} (срок {term} истёк {due}): эскалация куратору")
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::calendar::WorkCalendar;
    use chrono::TimeZone;

    const TZ: Tz = chrono_tz::Asia::Krasnoyarsk;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        TZ.with_ymd_and_hms(y, m, d, h, min, 0).unwrap().with_timezone(&Utc)
    }

    fn person(id: i64, roles: &[Role]) -> Person {
        Person { id, roles: roles.to_vec(), channels: Vec::new(), recipient_id: None, territories: None }
    }

    #[test]
    fn an_appeal_goes_due_soon_then_overdue_then_escalated() {
        let (soon, due, esc) = (local(2026, 12, 1, 9, 0), local(2026, 12, 3, 23, 59), local(2026, 12, 4, 23, 59));
        assert!(reached(local(2026, 11, 30, 9, 0), soon, due, None, esc).is_empty());
        assert_eq!(reached(local(2026, 12, 2, 9, 0), soon, due, None, esc), vec![Transition::DueSoon]);
        assert_eq!(reached(local(2026, 12, 4, 9, 0), soon, due, None, esc), vec![Transition::Overdue]);
        assert_eq!(
            reached(local(2026, 12, 5, 0, 0), soon, due, None, esc),
            vec![Transition::Overdue, Transition::Escalated]
        );
        // Answered: nothing more to say, even when late.
        assert!(reached(local(2026, 12, 5, 0, 0), soon, due, Some(local(2026, 12, 4, 10, 0)), esc).is_empty());
    }

    #[test]
    fn the_grace_period_counts_working_days_and_for_incidents_working_hours() {
        let cal = WorkCalendar::default();
        let f = Frame { tz: TZ, cal: &cal };
        let p = EscalationPolicy::default();
        let wh = WorkingHours::default();
        // Due Friday 4 December 2026 23:59:59: one working day later is Monday 7 December.
        let due = TZ.with_ymd_and_hms(2026, 12, 4, 23, 59, 59).unwrap().with_timezone(&Utc);
        let end = TZ.with_ymd_and_hms(2026, 12, 7, 23, 59, 59).unwrap().with_timezone(&Utc);
        assert_eq!(p.escalation_at(AppealKind::Appeal, due, f, wh), end);
        assert_eq!(p.escalation_at(AppealKind::Message, due, f, wh), end);
        // An incident reaction due Friday 17:00: one hour on Friday, one on Monday → 10:00.
        assert_eq!(p.escalation_at(AppealKind::Incident, local(2026, 12, 4, 17, 0), f, wh), local(2026, 12, 7, 10, 0));
        assert!(p.shortest_grace() <= chrono::Duration::hours(2));
    }

    #[test]
    fn executors_of_the_recipient_then_coordinators_of_the_channel_then_curators_of_the_territory() {
        let p = EscalationPolicy::default();
        let mut exec = person(1, &[Role::Executor]);
        exec.recipient_id = Some(10);
        let mut other_exec = person(2, &[Role::Executor]);
        other_exec.recipient_id = Some(11);
        let mut pos = person(3, &[Role::Coordinator]);
        pos.channels = vec![Channel::Pos];
        let mut im = person(4, &[Role::Coordinator]);
        im.channels = vec![Channel::Incident];
        let curator = person(5, &[Role::Curator]);
        let mut far_curator = person(6, &[Role::Curator]);
        far_curator.territories = Some(HashSet::from([99]));
        let head = person(7, &[Role::Head, Role::Admin]);
        let staff = [exec, other_exec, pos, im, curator, far_curator, head];
        let a = Addressee { channel: Some(Channel::Pos), recipient_id: Some(10), territory_id: Some(1) };
        assert_eq!(audience(p.groups(Transition::DueSoon), &a, &staff), vec![1]);
        assert_eq!(audience(p.groups(Transition::Overdue), &a, &staff), vec![1, 3]);
        assert_eq!(audience(p.groups(Transition::Escalated), &a, &staff), vec![1, 3, 5]);
        // Without a recipient the channel's coordinators take the executors' place.
        let unassigned = Addressee { recipient_id: None, ..a };
        assert_eq!(audience(p.groups(Transition::DueSoon), &unassigned, &staff), vec![3]);
    }

    #[test]
    fn the_policy_reads_from_json_and_refuses_unknown_keys() {
        let p: EscalationPolicy =
            serde_json::from_str(r#"{"overdue": ["CURATORS"], "grace_working_days": 2}"#).unwrap();
        assert_eq!(p.overdue, vec![Group::Curators]);
        assert_eq!(p.due_soon, vec![Group::Executors]);
        assert_eq!(p.grace_words(AppealKind::Appeal), "2 рабочих дней");
        assert_eq!(EscalationPolicy::default().grace_words(AppealKind::Appeal), "1 рабочего дня");
        assert_eq!(EscalationPolicy::default().grace_words(AppealKind::Incident), "2 рабочих часов");
        assert!(serde_json::from_str::<EscalationPolicy>(r#"{"grace_days": 2}"#).is_err());
        assert!(serde_json::from_str::<EscalationPolicy>(r#"{"overdue": ["BOSSES"]}"#).is_err());
    }

    #[test]
    fn texts_name_the_kind_the_number_the_term_and_the_local_time() {
        let mut alert = Alert {
            appeal_id: 1,
            number: "2026-000042".into(),
            kind: "APPEAL".into(),
            channel: "POS".into(),
            transition: "DUE_SOON".into(),
            term: "ANSWER".into(),
            due_at: TZ.with_ymd_and_hms(2026, 12, 4, 23, 59, 59).unwrap().with_timezone(&Utc),
            escalation_at: None,
        };
        assert_eq!(
            notification_text(&alert, TZ, "1 рабочего дня"),
            "Обращение № 2026-000042: срок ответа истекает 04.12.2026 в 23:59"
        );
        alert.transition = "OVERDUE".into();
        alert.kind = "INCIDENT".into();
        alert.term = "REACTION".into();
        assert_eq!(
            notification_text(&alert, TZ, "2 рабочих часов"),
            "Инцидент № 2026-000042: срок реакции истёк 04.12.2026 в 23:59"
        );
        alert.transition = "ESCALATED".into();
        alert.kind = "MESSAGE".into();
        alert.term = "ANSWER".into();
        assert_eq!(
            notification_text(&alert, TZ, "1 рабочего дня"),
            "Сообщение № 2026-000042 просрочено более 1 рабочего дня (срок ответа истёк 04.12.2026 в 23:59): эскалация куратору"
        );
        assert_eq!(Term::of(AppealKind::Appeal, false, false), Term::Registration);
        assert_eq!(Term::of(AppealKind::Incident, true, false), Term::Reaction);
        assert_eq!(Term::of(AppealKind::Message, false, false), Term::Answer);
    }
}
