//! The deadline rules bound to this installation: the configured policy, the municipality's
//! time zone and the production calendar with the administrators' overrides.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::domain::calendar::WorkCalendar;
use crate::domain::deadlines::{AppealKind, DeadlinePolicy, Frame};
use crate::entity::calendar_override;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Policy, time zone and calendar, loaded for one use case.
pub struct Terms {
    pub policy: DeadlinePolicy,
    pub tz: Tz,
    pub cal: WorkCalendar,
    feedback_days: i64,
}

impl Terms {
    /// Loads the calendar overrides (a small table) and binds the settings.
    pub async fn load(state: &AppState, conn: &impl ConnectionTrait) -> AppResult<Self> {
        let overrides = calendar_override::Entity::find().all(conn).await?;
        let cal = WorkCalendar::new(
            overrides
                .into_iter()
                .filter_map(|o| NaiveDate::parse_from_str(&o.day, "%Y-%m-%d").ok().map(|d| (d, o.working))),
        );
        Ok(Self {
            policy: state.settings.deadlines.clone(),
            tz: state.settings.timezone,
            cal,
            feedback_days: i64::from(state.settings.feedback_code_days),
        })
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

    /// The final-answer deadline of an INCIDENT first reacted to at `reacted`.
    pub fn incident_final(&self, reacted: DateTime<Utc>) -> DateTime<Utc> {
        self.policy.incident_final_due(reacted, self.frame())
    }

    /// The deadline of a repeated review starting at `at`.
    pub fn reopen_due(&self, kind: AppealKind, at: DateTime<Utc>) -> DateTime<Utc> {
        self.policy.reopen_due(kind, at, self.frame())
    }

    /// The extended deadline, or `BAD_USER_INPUT` on the field at fault.
    pub fn extend(
        &self,
        kind: AppealKind,
        due: DateTime<Utc>,
        days: i32,
        so_far: i32,
        reason: &str,
    ) -> AppResult<DateTime<Utc>> {
        self.policy
            .extend(kind, due, i64::from(days), so_far.max(0) as u32, reason, self.frame())
            .map_err(|e| AppError::bad(format!("input.{}", e.field()), e.to_string()))
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
