//! Stored weekly memos (`Query.memos`): the memo of each past week as generated on its Monday.

use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};

use super::connection::{connection, forward_window};
use super::scalars::Json;
use super::{caller, state};
use crate::entity::memo;
use crate::error::AppResult;
use crate::service::memos;

/// The weekly memo of one week, as generated on the Monday after it (immutable).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Memo {
    pub id: ID,
    /// The Monday the week starts on.
    pub week_start: NaiveDate,
    /// When it was generated.
    pub created_at: DateTime<Utc>,
    /// The text of the memo (Markdown).
    pub markdown: String,
    #[graphql(skip)]
    row_id: i64,
    #[graphql(skip)]
    figures: String,
}

#[ComplexObject]
impl Memo {
    /// The memo as a Word document, as generated (same access rule as `memos`).
    async fn docx_url(&self) -> String {
        format!("/exports/memos/{}.docx", self.row_id)
    }

    /// The memo's tables as an Excel workbook, as generated.
    async fn xlsx_url(&self) -> String {
        format!("/exports/memos/{}.xlsx", self.row_id)
    }

    /// The key figures as they were when it was generated (summary, previous week, growing
    /// topics, overdue by recipient, rating, recommendations).
    async fn figures(&self) -> Json {
        Json(serde_json::from_str(&self.figures).unwrap_or(serde_json::Value::Null))
    }
}

impl From<memo::Model> for Memo {
    fn from(m: memo::Model) -> Self {
        Self {
            id: ID(m.id.to_string()),
            week_start: m.week_start,
            created_at: m.created_at,
            markdown: m.markdown,
            row_id: m.id,
            figures: m.figures,
        }
    }
}

connection!(MemoConnection, MemoEdge, Memo);

#[derive(Default)]
pub struct MemoQuery;

#[Object]
impl MemoQuery {
    /// Stored weekly memos, newest first (the Head and curators not limited to a territory).
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn memos(&self, ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> AppResult<MemoConnection> {
        let (offset, limit) = forward_window(first, after.as_deref())?;
        let (rows, total) = memos::list(state(ctx), caller(ctx), offset, limit).await?;
        Ok(MemoConnection::from_offset(rows.into_iter().map(Memo::from).collect(), offset, total))
    }
}
