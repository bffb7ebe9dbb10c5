//! The deadline rules bound to this installation: the configured policy, the municipality's
//! time zone and the production calendar with the administrators' overrides.

use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::domain::calendar::WorkCalendar;
pub use crate::domain::deadlines::Terms;
use crate::entity::calendar_override;
use crate::error::AppResult;
use crate::state::AppState;

impl Terms {
    /// Loads the calendar overrides (a small table) and binds the settings.
    pub async fn load(state: &AppState, conn: &impl ConnectionTrait) -> AppResult<Self> {
        let overrides = calendar_override::Entity::find().all(conn).await?;
        let cal = WorkCalendar::new(
            overrides
                .into_iter()
                .filter_map(|o| NaiveDate::parse_from_str(&o.day, "%Y-%m-%d").ok().map(|d| (d, o.working))),
        );
        Ok(Self::new(
            state.settings.deadlines.clone(),
            state.settings.timezone,
            cal,
            i64::from(state.settings.feedback_code_days),
        ))
    }
}
