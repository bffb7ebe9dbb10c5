//! Legal and customary deadlines (DOMAIN.md), counted in the municipality's time zone on
//! the production calendar.
//!
//! Day terms follow ГК РФ ст. 191 and 193: counting starts the day after the event, the
//! term ends at 23:59:59 local time of its last day, and a last day that is not a working
//! day moves to the next working day (a policy flag, on by default). APPEAL terms count from
//! registration, MESSAGE and INCIDENT terms from receipt.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::access::string_enum;
use super::calendar::WorkCalendar;

string_enum!(
    /// What kind of address it is, which decides the rules and terms.
    AppealKind {
        /// Обращение under 59-ФЗ: calendar-day terms from registration.
        Appeal => "APPEAL",
        /// Сообщение (ПОС, widgets): working-day terms from receipt.
        Message => "MESSAGE",
        /// Инцидент from social networks: working-hour first reaction, then working days.
        Incident => "INCIDENT",
    }
);

string_enum!(
    /// Where an appeal stands against its deadline.
    SlaState {
        /// Open, with more than the due-soon share of the term left.
        OnTime => "ON_TIME",
        /// Open, with less than the due-soon share of the term left.
        DueSoon => "DUE_SOON",
        /// Open past its deadline.
        Overdue => "OVERDUE",
        /// Responded to by the deadline.
        Met => "MET",
        /// Responded to after the deadline.
        Missed => "MISSED",
    }
);

/// Working hours of the administration on working days (for incident reaction terms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Default for WorkingHours {
    fn default() -> Self {
        Self {
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            end: NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default(),
        }
    }
}

/// Every number of the deadline rules; the defaults are the legal and customary ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeadlinePolicy {
    /// 59-ФЗ ст. 8 ч. 2: registration within 3 days of receipt.
    pub register_days: u32,
    /// 59-ФЗ ст. 8 ч. 3: redirect within 7 days of registration.
    pub redirect_days: u32,
    /// 59-ФЗ ст. 12 ч. 1: answer within 30 days of registration.
    pub appeal_answer_days: u32,
    /// 59-ФЗ ст. 12 ч. 2: one extension of at most 30 days.
    pub max_extension_days: u32,
    pub max_extensions: u32,
    /// ПОС messages: answer within 10 working days of receipt.
    pub message_answer_working_days: u32,
    /// A repeated review of a message: a new 10 working days.
    pub message_reopen_working_days: u32,
    /// Инцидент менеджмент: first reaction within 8 working hours (4 for high priority).
    pub incident_reaction_hours: u32,
    pub incident_reaction_hours_high: u32,
    /// Final answer within 7 working days after the first reaction.
    pub incident_final_working_days: u32,
    /// A day term whose last day is not a working day ends on the next working day.
    pub move_off_non_working: bool,
    /// DUE_SOON when less than this share of the term is left.
    pub due_soon_share: f64,
    pub working_hours: WorkingHours,
}

impl Default for DeadlinePolicy {
    fn default() -> Self {
        Self {
            register_days: 3,
            redirect_days: 7,
            appeal_answer_days: 30,
            max_extension_days: 30,
            max_extensions: 1,
            message_answer_working_days: 10,
            message_reopen_working_days: 10,
            incident_reaction_hours: 8,
            incident_reaction_hours_high: 4,
            incident_final_working_days: 7,
            move_off_non_working: true,
            due_soon_share: 0.25,
            working_hours: WorkingHours::default(),
        }
    }
}

/// Why an extension is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    #[error("only an APPEAL under 59-ФЗ can be extended")]
    NotExtendable,
    #[error("the deadline has already been extended {0} time(s), the most allowed")]
    AlreadyExtended(u32),
    #[error("an extension must be between 1 and {0} days")]
    TooLong(u32),
    #[error("an extension needs a reason")]
    NoReason,
}

impl DeadlineError {
    /// The input field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::NotExtendable | Self::AlreadyExtended(_) => "id",
            Self::TooLong(_) => "days",
            Self::NoReason => "reason",
        }
    }
}

/// Where terms are counted: the municipality's time zone and working calendar.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub tz: Tz,
    pub cal: &'a WorkCalendar,
}

impl Frame<'_> {
    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        self.tz
            .from_local_datetime(&local)
            .earliest()
            .map_or_else(|| Utc.from_utc_datetime(&local), |t| t.with_timezone(&Utc))
    }

    /// 23:59:59 local time of `d`.
    pub fn end_of_day(&self, d: NaiveDate) -> DateTime<Utc> {
        self.instant(d.and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default()))
    }
}

/// A term of `days` calendar days after `event` (ГК РФ ст. 191, 193).
pub fn day_term_end(event: DateTime<Utc>, days: u32, f: Frame<'_>, move_off_non_working: bool) -> DateTime<Utc> {
    let start = f.local_date(event);
    let mut last = start.checked_add_days(chrono::Days::new(u64::from(days))).unwrap_or(start);
    if move_off_non_working {
        last = f.cal.next_working_day_on_or_after(last);
    }
    f.end_of_day(last)
}

/// A term of `n` working days after `event`: it ends at 23:59:59 of the n-th working day
/// after the local date of the event.
pub fn working_days_term_end(event: DateTime<Utc>, n: u32, f: Frame<'_>) -> DateTime<Utc> {
    f.end_of_day(f.cal.add_working_days(f.local_date(event), n))
}

/// A term of `hours` working hours after `event`: time counts only within working hours of
/// working days; an event outside them starts counting at the next opening.
pub fn working_hours_term_end(event: DateTime<Utc>, hours: u32, f: Frame<'_>, wh: WorkingHours) -> DateTime<Utc> {
    let mut remaining = Duration::hours(i64::from(hours));
    let mut t = event.with_timezone(&f.tz).naive_local();
    // Bounded: even a calendar with long holidays reaches the end within a few hundred days.
    for _ in 0..2000 {
        let day = t.date();
        let next_open = day.succ_opt().map_or(t, |d| d.and_time(wh.start));
        if !f.cal.is_working_day(day) || t.time() >= wh.end {
            t = next_open;
            continue;
        }
        if t.time() < wh.start {
            t = day.and_time(wh.start);
        }
        let available = day.and_time(wh.end) - t;
        if remaining <= available {
            return f.instant(t + remaining);
        }
        remaining -= available;
        t = next_open;
    }
    f.instant(t)
}

/// The working hours between `from` and `to` (0 when `to` is not after `from`): the time
/// within working hours of working days, as [`working_hours_term_end`] counts it, so that a
/// reaction exactly at its term's end took exactly the term's hours.
pub fn working_hours_between(from: DateTime<Utc>, to: DateTime<Utc>, f: Frame<'_>, wh: WorkingHours) -> f64 {
    if to <= from {
        return 0.0;
    }
    let (mut t, end) = (from.with_timezone(&f.tz).naive_local(), to.with_timezone(&f.tz).naive_local());
    let mut total = Duration::zero();
    while t < end {
        let day = t.date();
        let Some(next_day) = day.succ_opt() else { break };
        if f.cal.is_working_day(day) {
            let open = t.max(day.and_time(wh.start));
            let close = end.min(day.and_time(wh.end));
            if close > open {
                total += close - open;
            }
        }
        t = next_day.and_time(NaiveTime::MIN);
    }
    total.num_seconds() as f64 / 3600.0
}

impl DeadlinePolicy {
    /// When an APPEAL received at `received` must be registered.
    pub fn registration_due(&self, received: DateTime<Utc>, f: Frame<'_>) -> DateTime<Utc> {
        day_term_end(received, self.register_days, f, self.move_off_non_working)
    }

    /// When an APPEAL registered at `registered` must be answered.
    pub fn appeal_answer_due(&self, registered: DateTime<Utc>, f: Frame<'_>) -> DateTime<Utc> {
        day_term_end(registered, self.appeal_answer_days, f, self.move_off_non_working)
    }

    /// When an APPEAL registered at `registered` must have been redirected, if it is not ours.
    pub fn redirect_due(&self, registered: DateTime<Utc>, f: Frame<'_>) -> DateTime<Utc> {
        day_term_end(registered, self.redirect_days, f, self.move_off_non_working)
    }

    /// When a MESSAGE received at `received` must be answered.
    pub fn message_answer_due(&self, received: DateTime<Utc>, f: Frame<'_>) -> DateTime<Utc> {
        working_days_term_end(received, self.message_answer_working_days, f)
    }

    /// When an INCIDENT received at `received` needs its first reaction.
    pub fn incident_reaction_due(&self, received: DateTime<Utc>, high_priority: bool, f: Frame<'_>) -> DateTime<Utc> {
        let hours = if high_priority { self.incident_reaction_hours_high } else { self.incident_reaction_hours };
        working_hours_term_end(received, hours, f, self.working_hours)
    }

    /// When an INCIDENT first reacted to at `reacted` needs its final answer.
    pub fn incident_final_due(&self, reacted: DateTime<Utc>, f: Frame<'_>) -> DateTime<Utc> {
        working_days_term_end(reacted, self.incident_final_working_days, f)
    }

    /// The first deadline of a new appeal: registration for an APPEAL, the answer for a
    /// MESSAGE, the first reaction for an INCIDENT.
    pub fn initial_due(
        &self,
        kind: AppealKind,
        received: DateTime<Utc>,
        high_priority: bool,
        f: Frame<'_>,
    ) -> DateTime<Utc> {
        match kind {
            AppealKind::Appeal => self.registration_due(received, f),
            AppealKind::Message => self.message_answer_due(received, f),
            AppealKind::Incident => self.incident_reaction_due(received, high_priority, f),
        }
    }

    /// The new answer deadline of an appeal reopened at `at` (повторное рассмотрение).
    pub fn reopen_due(&self, kind: AppealKind, at: DateTime<Utc>, f: Frame<'_>) -> DateTime<Utc> {
        match kind {
            AppealKind::Appeal => self.appeal_answer_due(at, f),
            AppealKind::Message => working_days_term_end(at, self.message_reopen_working_days, f),
            AppealKind::Incident => self.incident_final_due(at, f),
        }
    }

    /// Extends the answer deadline of an APPEAL (59-ФЗ ст. 12 ч. 2).
    ///
    /// # Errors
    /// Not an APPEAL, already extended, out of 1..=max days, or no reason.
    pub fn extend(
        &self,
        kind: AppealKind,
        current_due: DateTime<Utc>,
        days: i64,
        extensions_so_far: u32,
        reason: &str,
        f: Frame<'_>,
    ) -> Result<DateTime<Utc>, DeadlineError> {
        if kind != AppealKind::Appeal {
            return Err(DeadlineError::NotExtendable);
        }
        if extensions_so_far >= self.max_extensions {
            return Err(DeadlineError::AlreadyExtended(extensions_so_far));
        }
        if days < 1 || days > i64::from(self.max_extension_days) {
            return Err(DeadlineError::TooLong(self.max_extension_days));
        }
        if reason.trim().is_empty() {
            return Err(DeadlineError::NoReason);
        }
        Ok(day_term_end(current_due, days as u32, f, self.move_off_non_working))
    }

    /// The instant from which an open appeal is DUE_SOON: when less than `due_soon_share`
    /// of the term from `start` to `due` is left.
    pub fn due_soon_from(&self, start: DateTime<Utc>, due: DateTime<Utc>) -> DateTime<Utc> {
        let span = (due - start).num_seconds().max(0) as f64;
        due - Duration::seconds((span * self.due_soon_share.clamp(0.0, 1.0)).round() as i64)
    }
}

/// The SLA state at `now` of a term from `start` to `due`, responded to at `resolved`.
pub fn sla_state(
    now: DateTime<Utc>,
    due_soon_from: DateTime<Utc>,
    due: DateTime<Utc>,
    resolved: Option<DateTime<Utc>>,
) -> SlaState {
    match resolved {
        Some(r) if r <= due => SlaState::Met,
        Some(_) => SlaState::Missed,
        None if now > due => SlaState::Overdue,
        None if now >= due_soon_from => SlaState::DueSoon,
        None => SlaState::OnTime,
    }
}

/// The deadline rules bound to one installation: the policy, the municipality's time zone
/// and the production calendar (loaded by `service::deadlines`), for one use case.
#[derive(Debug, Clone)]
pub struct Terms {
    pub policy: DeadlinePolicy,
    pub tz: Tz,
    pub cal: WorkCalendar,
    feedback_days: i64,
}

impl Terms {
    /// The rules of `policy` in `tz` on `cal`; an author's feedback code lives `feedback_days`.
    pub fn new(policy: DeadlinePolicy, tz: Tz, cal: WorkCalendar, feedback_days: i64) -> Self {
        Self { policy, tz, cal, feedback_days }
    }

    fn frame(&self) -> Frame<'_> {
        Frame { tz: self.tz, cal: &self.cal }
    }

    /// The start and due-soon instant of a term from `start` to `due`.
    pub fn window(&self, start: DateTime<Utc>, due: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        (start, self.policy.due_soon_from(start, due))
    }

    /// The first deadline of a new appeal.
    pub fn initial(&self, kind: AppealKind, received: DateTime<Utc>, high_priority: bool) -> DateTime<Utc> {
        self.policy.initial_due(kind, received, high_priority, self.frame())
    }

    /// The answer deadline of an APPEAL registered at `registered`.
    pub fn answer_after_registration(&self, registered: DateTime<Utc>) -> DateTime<Utc> {
        self.policy.appeal_answer_due(registered, self.frame())
    }

    /// The redirect deadline of an APPEAL registered at `registered`.
    pub fn redirect_due(&self, registered: DateTime<Utc>) -> DateTime<Utc> {
        self.policy.redirect_due(registered, self.frame())
    }

    /// Working hours from `from` to `to` by the calendar and the policy's working hours.
    pub fn working_hours_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        working_hours_between(from, to, self.frame(), self.policy.working_hours)
    }

    /// The final-answer deadline of an INCIDENT first reacted to at `reacted`.
    pub fn incident_final(&self, reacted: DateTime<Utc>) -> DateTime<Utc> {
        self.policy.incident_final_due(reacted, self.frame())
    }

    /// The deadline of a repeated review starting at `at`.
    pub fn reopen_due(&self, kind: AppealKind, at: DateTime<Utc>) -> DateTime<Utc> {
        self.policy.reopen_due(kind, at, self.frame())
    }

    /// The extended deadline.
    ///
    /// # Errors
    /// As [`DeadlinePolicy::extend`].
    pub fn extend(
        &self,
        kind: AppealKind,
        due: DateTime<Utc>,
        days: i32,
        so_far: i32,
        reason: &str,
    ) -> Result<DateTime<Utc>, DeadlineError> {
        self.policy.extend(kind, due, i64::from(days), so_far.max(0) as u32, reason, self.frame())
    }

    /// How long the author's feedback code stays valid.
    pub fn feedback_validity(&self) -> Duration {
        Duration::days(self.feedback_days)
    }

    /// The local calendar year of an instant (registration numbers restart every year).
    pub fn local_year(&self, t: DateTime<Utc>) -> i32 {
        t.with_timezone(&self.tz).year()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TZ: Tz = chrono_tz::Asia::Krasnoyarsk;

    fn local(year: i32, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> DateTime<Utc> {
        TZ.with_ymd_and_hms(year, month, day, hour, min, sec).unwrap().with_timezone(&Utc)
    }

    fn end(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        local(y, m, d, 23, 59, 59)
    }

    fn frame(cal: &WorkCalendar) -> Frame<'_> {
        Frame { tz: TZ, cal }
    }

    #[test]
    fn thirty_days_into_the_new_year_holidays_move_to_the_first_working_day() {
        let cal = WorkCalendar::default();
        let p = DeadlinePolicy::default();
        // Registered 20 December 2026: the 30th day is 19 January 2027, a Tuesday.
        assert_eq!(p.appeal_answer_due(local(2026, 12, 20, 10, 0, 0), frame(&cal)), end(2027, 1, 19));
        // Registered 5 December 2026: the 30th day is 4 January 2027, a holiday; the first
        // working day after the New Year holidays is Monday 11 January.
        assert_eq!(p.appeal_answer_due(local(2026, 12, 5, 10, 0, 0), frame(&cal)), end(2027, 1, 11));
    }

    #[test]
    fn a_term_ending_on_a_saturday_moves_to_monday_unless_switched_off() {
        let cal = WorkCalendar::default();
        let p = DeadlinePolicy::default();
        // Received Wednesday 25 November 2026: 3 days later is Saturday 28 November.
        assert_eq!(p.registration_due(local(2026, 11, 25, 12, 0, 0), frame(&cal)), end(2026, 11, 30));
        assert_eq!(day_term_end(local(2026, 11, 25, 12, 0, 0), 3, frame(&cal), false), end(2026, 11, 28));
    }

    #[test]
    fn counting_starts_the_next_local_day_across_the_utc_midnight() {
        let cal = WorkCalendar::default();
        // 2026-03-01T17:30Z is already 2 March 00:30 in Krasnoyarsk: counting starts 3 March,
        // so 3 days end on 5 March (Thursday).
        let event = DateTime::parse_from_rfc3339("2026-03-01T17:30:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(day_term_end(event, 3, frame(&cal), true), end(2026, 3, 5));
        // 16:59Z is still 1 March locally: 3 days end on 4 March.
        let before = DateTime::parse_from_rfc3339("2026-03-01T16:59:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(day_term_end(before, 3, frame(&cal), true), end(2026, 3, 4));
        assert_eq!(end(2026, 3, 4).to_rfc3339(), "2026-03-04T16:59:59+00:00");
    }

    #[test]
    fn a_transferred_day_off_is_skipped() {
        let cal = WorkCalendar::default();
        // 2026: 8 March is a Sunday, so Monday 9 March is a day off. Registered 6 February
        // (Friday) + 30 days = Sunday 8 March → 9 March is off → Tuesday 10 March.
        let p = DeadlinePolicy::default();
        assert_eq!(p.appeal_answer_due(local(2026, 2, 6, 9, 0, 0), frame(&cal)), end(2026, 3, 10));
    }

    #[test]
    fn message_received_friday_evening_gets_ten_working_days() {
        let cal = WorkCalendar::default();
        let p = DeadlinePolicy::default();
        // Friday 13 November 2026, 17:30: days 16–20 and 23–27 November → Friday 27 November.
        assert_eq!(p.message_answer_due(local(2026, 11, 13, 17, 30, 0), frame(&cal)), end(2026, 11, 27));
        // Across 4 November (a holiday): received Monday 2 November → 3,5,6,9,10,11,12,13,16,17.
        assert_eq!(p.message_answer_due(local(2026, 11, 2, 10, 0, 0), frame(&cal)), end(2026, 11, 17));
    }

    #[test]
    fn working_hours_between_two_instants_follow_the_calendar_and_the_opening_hours() {
        let cal = WorkCalendar::default();
        let wh = WorkingHours::default();
        let p = DeadlinePolicy::default();
        let h = |a, b| working_hours_between(a, b, frame(&cal), wh);
        // Friday 17:30 → Monday 16:30: 0.5 h + 7.5 h, the weekend not counted.
        assert!((h(local(2026, 11, 27, 17, 30, 0), local(2026, 11, 30, 16, 30, 0)) - 8.0).abs() < 1e-9);
        // Night to the same morning: nothing yet; to 10:15: 1.25 h.
        assert!(h(local(2026, 11, 25, 2, 0, 0), local(2026, 11, 25, 8, 59, 0)).abs() < 1e-9);
        assert!((h(local(2026, 11, 25, 2, 0, 0), local(2026, 11, 25, 10, 15, 0)) - 1.25).abs() < 1e-9);
        // A holiday (4 November) counts nothing: Tuesday 3rd 17:00 → Thursday 5th 10:00 = 2 h.
        assert!((h(local(2026, 11, 3, 17, 0, 0), local(2026, 11, 5, 10, 0, 0)) - 2.0).abs() < 1e-9);
        assert!(h(local(2026, 11, 5, 10, 0, 0), local(2026, 11, 3, 17, 0, 0)).abs() < 1e-9);
        // The two rules agree: a reaction at its term's end took exactly the term.
        for (at, high) in [(local(2026, 11, 27, 17, 30, 0), false), (local(2026, 12, 30, 17, 0, 0), true)] {
            let due = p.incident_reaction_due(at, high, frame(&cal));
            let hours = if high { 4.0 } else { 8.0 };
            assert!((h(at, due) - hours).abs() < 1e-9, "{at} → {due}");
        }
    }

    #[test]
    fn incident_reaction_counts_working_hours() {
        let cal = WorkCalendar::default();
        let p = DeadlinePolicy::default();
        // Friday 27 November 17:30: 30 minutes on Friday, 7.5 hours on Monday → 16:30.
        assert_eq!(
            p.incident_reaction_due(local(2026, 11, 27, 17, 30, 0), false, frame(&cal)),
            local(2026, 11, 30, 16, 30, 0)
        );
        // High priority: 30 minutes + 3.5 hours → Monday 12:30.
        assert_eq!(
            p.incident_reaction_due(local(2026, 11, 27, 17, 30, 0), true, frame(&cal)),
            local(2026, 11, 30, 12, 30, 0)
        );
        // At night: counting starts at 09:00 → 17:00 the same day.
        assert_eq!(
            p.incident_reaction_due(local(2026, 11, 25, 2, 0, 0), false, frame(&cal)),
            local(2026, 11, 25, 17, 0, 0)
        );
        // Saturday: Monday 09:00 + 8 h.
        assert_eq!(
            p.incident_reaction_due(local(2026, 11, 28, 12, 0, 0), false, frame(&cal)),
            local(2026, 11, 30, 17, 0, 0)
        );
        // Before the New Year holidays: Wednesday 30 December 2026 17:00 → 1 h, then 11 January.
        assert_eq!(
            p.incident_reaction_due(local(2026, 12, 30, 17, 0, 0), false, frame(&cal)),
            local(2027, 1, 11, 16, 0, 0)
        );
        // Final answer: 7 working days after the reaction on Monday 30 November → 9 December.
        assert_eq!(p.incident_final_due(local(2026, 11, 30, 16, 0, 0), frame(&cal)), end(2026, 12, 9));
    }

    #[test]
    fn extension_rules() {
        let cal = WorkCalendar::default();
        let p = DeadlinePolicy::default();
        let due = end(2026, 12, 10);
        assert_eq!(p.extend(AppealKind::Appeal, due, 30, 0, "запрос в МВД", frame(&cal)), Ok(end(2027, 1, 11)));
        assert_eq!(p.extend(AppealKind::Appeal, due, 10, 0, "нужен выезд", frame(&cal)), Ok(end(2026, 12, 21)));
        assert_eq!(
            p.extend(AppealKind::Appeal, due, 10, 1, "ещё раз", frame(&cal)),
            Err(DeadlineError::AlreadyExtended(1))
        );
        assert_eq!(p.extend(AppealKind::Appeal, due, 31, 0, "долго", frame(&cal)), Err(DeadlineError::TooLong(30)));
        assert_eq!(p.extend(AppealKind::Appeal, due, 0, 0, "ноль", frame(&cal)), Err(DeadlineError::TooLong(30)));
        assert_eq!(p.extend(AppealKind::Appeal, due, 5, 0, "  ", frame(&cal)), Err(DeadlineError::NoReason));
        assert_eq!(p.extend(AppealKind::Message, due, 5, 0, "x", frame(&cal)), Err(DeadlineError::NotExtendable));
        assert_eq!(DeadlineError::TooLong(30).field(), "days");
    }

    #[test]
    fn sla_states() {
        let p = DeadlinePolicy::default();
        let start = local(2026, 11, 1, 0, 0, 0);
        let due = local(2026, 11, 11, 0, 0, 0);
        let soon = p.due_soon_from(start, due);
        assert_eq!(soon, local(2026, 11, 8, 12, 0, 0));
        assert_eq!(sla_state(local(2026, 11, 2, 0, 0, 0), soon, due, None), SlaState::OnTime);
        assert_eq!(sla_state(local(2026, 11, 9, 0, 0, 0), soon, due, None), SlaState::DueSoon);
        assert_eq!(sla_state(local(2026, 11, 12, 0, 0, 0), soon, due, None), SlaState::Overdue);
        assert_eq!(sla_state(local(2026, 11, 12, 0, 0, 0), soon, due, Some(due)), SlaState::Met);
        assert_eq!(
            sla_state(local(2026, 11, 12, 0, 0, 0), soon, due, Some(due + Duration::seconds(1))),
            SlaState::Missed
        );
    }
}
