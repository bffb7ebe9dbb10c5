//! Reports per system (ПОС, «Инцидент менеджмент») as clients see them: generated on demand,
//! listed, read with their figures, downloaded as DOCX and XLSX.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::connection::{connection, forward_window};
use super::scalars::Date;
use super::{caller, parse_id, sees_people, state};
use crate::domain::system_report::{Counted, Figures, RecipientFigures, ReportSystem};
use crate::entity::system_report;
use crate::error::AppResult;
use crate::service::system_reports;

fn int(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A count under a key (a status or a category id) with a Russian label.
#[derive(SimpleObject)]
pub struct ReportCount {
    pub key: String,
    pub label: String,
    pub count: i32,
}

impl From<&Counted> for ReportCount {
    fn from(c: &Counted) -> Self {
        Self { key: c.key.clone(), label: c.label.clone(), count: int(c.count) }
    }
}

/// One recipient's line of a system report: its rating within the system's channel.
#[derive(SimpleObject)]
pub struct ReportRecipient {
    pub recipient_id: ID,
    pub name: String,
    /// Place in the rating; null below the minimum volume.
    pub rank: Option<i32>,
    pub total: i32,
    pub on_time_rate: Option<f64>,
    pub full_answer_rate: Option<f64>,
    pub satisfied_rate: Option<f64>,
    /// 0..1.
    pub score: Option<f64>,
}

impl From<&RecipientFigures> for ReportRecipient {
    fn from(r: &RecipientFigures) -> Self {
        Self {
            recipient_id: ID(r.recipient_id.to_string()),
            name: r.name.clone(),
            rank: r.rank,
            total: int(r.total),
            on_time_rate: r.on_time_rate,
            full_answer_rate: r.full_answer_rate,
            satisfied_rate: r.satisfied_rate,
            score: r.score,
        }
    }
}

/// A stored report of one system for a period: the figures as generated.
pub struct SystemReport {
    row: system_report::Model,
    f: Figures,
}

impl SystemReport {
    fn of(row: system_report::Model) -> AppResult<Self> {
        let f = system_reports::figures_of(&row)?;
        Ok(Self { row, f })
    }
}

#[Object]
impl SystemReport {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    async fn system(&self) -> ReportSystem {
        self.f.system
    }
    async fn from(&self) -> Date {
        Date(self.f.from)
    }
    async fn to(&self) -> Date {
        Date(self.f.to)
    }
    /// Appeals received in the period by the system's channel (duplicates included).
    async fn total(&self) -> i32 {
        int(self.f.total)
    }
    async fn by_status(&self) -> Vec<ReportCount> {
        self.f.by_status.iter().map(ReportCount::from).collect()
    }
    async fn answered(&self) -> i32 {
        int(self.f.answered)
    }
    /// Answered by the deadline (terms met).
    async fn answered_on_time(&self) -> i32 {
        int(self.f.answered_on_time)
    }
    /// answeredOnTime / answered.
    async fn on_time_rate(&self) -> Option<f64> {
        self.f.on_time_rate()
    }
    /// Open past the deadline when the report was generated.
    async fn overdue_now(&self) -> i32 {
        int(self.f.overdue_now)
    }
    async fn median_response_hours(&self) -> Option<f64> {
        self.f.median_response_hours
    }
    /// Answers on the merits (FULL) / answers assessed: the quality of answers.
    async fn full_answer_rate(&self) -> Option<f64> {
        self.f.full_answer_rate()
    }
    /// Satisfied / rated.
    async fn satisfied_rate(&self) -> Option<f64> {
        self.f.satisfied_rate()
    }
    async fn reopened(&self) -> i32 {
        int(self.f.reopened)
    }
    /// Top-level topics with most appeals (duplicates left out), at most 10.
    async fn top_topics(&self) -> Vec<ReportCount> {
        self.f.top_topics.iter().map(ReportCount::from).collect()
    }
    /// Recipients with appeals of the channel in the period, by rating.
    async fn by_recipient(&self) -> Vec<ReportRecipient> {
        self.f.by_recipient.iter().map(ReportRecipient::from).collect()
    }
    /// Who generated it; null for API tokens.
    async fn generated_by(&self, ctx: &Context<'_>) -> Option<&str> {
        sees_people(ctx).then_some(self.row.generated_by.as_str())
    }
    async fn generated_at(&self) -> DateTime<Utc> {
        self.row.generated_at
    }
    /// `/exports/system-reports/{id}.docx`, fetched with the same bearer token.
    async fn docx_url(&self) -> String {
        format!("/exports/system-reports/{}.docx", self.row.id)
    }
    /// `/exports/system-reports/{id}.xlsx`.
    async fn xlsx_url(&self) -> String {
        format!("/exports/system-reports/{}.xlsx", self.row.id)
    }
}

connection!(SystemReportConnection, SystemReportEdge, SystemReport);

/// What report to generate.
#[derive(InputObject)]
pub struct GenerateSystemReportInput {
    pub system: ReportSystem,
    /// First local day of the period.
    pub from: Date,
    /// Last local day of the period (inclusive; at most ten years after `from`).
    pub to: Date,
}

/// Queries of the system reports.
#[derive(Default)]
pub struct SystemReportQuery;

#[Object]
impl SystemReportQuery {
    /// Stored system reports, the newest first; of one system when given.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn system_reports(
        &self,
        ctx: &Context<'_>,
        system: Option<ReportSystem>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<SystemReportConnection> {
        let (offset, limit) = forward_window(first, after.as_deref())?;
        let (rows, total) = system_reports::list(state(ctx), caller(ctx), system, offset, limit).await?;
        let nodes = rows.into_iter().map(SystemReport::of).collect::<AppResult<Vec<_>>>()?;
        Ok(SystemReportConnection::from_offset(nodes, offset, total))
    }

    /// One stored report; `NOT_FOUND` when it does not exist.
    async fn system_report(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<SystemReport>> {
        let id = parse_id("id", &id)?;
        Ok(Some(SystemReport::of(system_reports::get(state(ctx), caller(ctx), id).await?)?))
    }
}

/// Mutations of the system reports.
#[derive(Default)]
pub struct SystemReportMutation;

#[Object]
impl SystemReportMutation {
    /// Generates the report of a system for a period from the analytics and stores it.
    async fn generate_system_report(
        &self,
        ctx: &Context<'_>,
        input: GenerateSystemReportInput,
    ) -> AppResult<SystemReport> {
        let row = system_reports::generate(state(ctx), caller(ctx), input.system, input.from.0, input.to.0).await?;
        SystemReport::of(row)
    }
}
