//! The working calendar: administrator overrides of the production calendar.

use async_graphql::{Context, Object, SimpleObject};

use super::scalars::Date;
use super::{caller, state};
use crate::domain::calendar::WorkCalendar;
use crate::entity::calendar_override;
use crate::error::{AppError, AppResult};
use crate::service::calendar;

/// A day declared working or non-working by an administrator.
#[derive(SimpleObject)]
pub struct CalendarDay {
    pub date: Date,
    pub working: bool,
    pub note: Option<String>,
}

impl TryFrom<calendar_override::Model> for CalendarDay {
    type Error = AppError;

    fn try_from(m: calendar_override::Model) -> AppResult<Self> {
        let date = chrono::NaiveDate::parse_from_str(&m.day, "%Y-%m-%d").map_err(AppError::internal)?;
        Ok(Self { date: Date(date), working: m.working, note: m.note })
    }
}

/// Calendar queries.
#[derive(Default)]
pub struct CalendarQuery;

#[Object]
impl CalendarQuery {
    /// Overrides of the production calendar. Official data is built in through
    /// `lastOfficialCalendarYear`; later years need overrides for their transfers.
    #[graphql(complexity = "crate::graphql::connection::LIST_COST * child_complexity")]
    async fn calendar_overrides(&self, ctx: &Context<'_>) -> AppResult<Vec<CalendarDay>> {
        calendar::list(state(ctx)).await?.into_iter().map(CalendarDay::try_from).collect()
    }

    /// The last year for which the official production calendar is built in.
    async fn last_official_calendar_year(&self) -> i32 {
        (2020..2200).take_while(|y| WorkCalendar::knows_year(*y)).last().unwrap_or(2027)
    }
}

/// Calendar mutations (ADMIN).
#[derive(Default)]
pub struct CalendarMutation;

#[Object]
impl CalendarMutation {
    /// Declares a day working or non-working; deadlines computed from now on follow it.
    async fn set_calendar_day(
        &self,
        ctx: &Context<'_>,
        date: Date,
        working: bool,
        note: Option<String>,
    ) -> AppResult<CalendarDay> {
        calendar::set(state(ctx), caller(ctx), date.0, working, note).await?.try_into()
    }

    /// Removes an override; the production calendar decides that day again.
    async fn remove_calendar_day(&self, ctx: &Context<'_>, date: Date) -> AppResult<bool> {
        calendar::remove(state(ctx), caller(ctx), date.0).await
    }
}
