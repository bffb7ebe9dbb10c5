//! `Subscription.appealChanged`: changes of the appeals a subscriber may see, as it may see
//! them, pushed as they are announced (from any server process, through the outbox).

use async_graphql::{Context, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use futures_util::stream::StreamExt;

use super::appeals::{Appeal, AppealFilter};
use super::state;
use super::subscriptions::{self, Heard};
use crate::error::AppResult;
use crate::service::appeal_query;
use crate::service::scope::AppealScope;

/// A change of an appeal.
#[derive(SimpleObject)]
pub struct AppealChange {
    /// The appeal as the subscriber may see it now (personal data masked: over WebSocket an
    /// unmasked read could not be audited per request; read it with `appeal(id)` to see more).
    pub appeal: Appeal,
    /// What happened: the mutation (`assignAppeal`, `answerAppeal`, …), `createAppeal` /
    /// `ingestAppeal` / `importAppeals` for an arrival, or a deadline transition
    /// (`APPEAL_DUE_SOON`, `APPEAL_OVERDUE`, `APPEAL_ESCALATED`).
    pub action: String,
    /// When it was announced.
    pub at: DateTime<Utc>,
}

#[derive(Default)]
pub struct AppealChangeSubscription;

#[Subscription]
impl AppealChangeSubscription {
    /// Changes of appeals the subscriber may see and that match `filter` (the filter of
    /// `appeals`), as they happen. People who read appeals and tokens with APPEALS_READ; an
    /// executor hears only of its recipient's appeals. Over WebSocket only; ends with
    /// `UNAUTHENTICATED` when the credential expires or is revoked, or the person is
    /// deactivated.
    #[allow(clippy::unused_async)] // the macro takes subscription fields as `async fn`s
    async fn appeal_changed(
        &self,
        ctx: &Context<'_>,
        filter: Option<AppealFilter>,
    ) -> async_graphql::Result<impl Stream<Item = AppResult<AppealChange>> + use<>> {
        let (principal, who, session) = subscriptions::authorize_any(ctx, "appealChanged")?;
        let filter = filter.unwrap_or_default().into_filter()?;
        let app = state(ctx).clone();
        let scope = std::sync::Arc::new(AppealScope::of(&app, principal).await?);
        let filter = std::sync::Arc::new(filter);
        Ok(subscriptions::heard(ctx, who, session).filter_map(move |heard| {
            let (app, scope, filter) = (app.clone(), scope.clone(), filter.clone());
            async move {
                let row = match heard {
                    Heard::Ended(e) => return Some(Err(e)),
                    Heard::Row(row) => row,
                };
                if row.subject_type != "appeal" {
                    return None;
                }
                let id = row.subject_id?;
                let now = app.clock.now();
                let refs = match crate::service::reference::snapshot(&app).await {
                    Ok(r) => r,
                    Err(e) => return Some(Err(e)),
                };
                let tz = app.settings.timezone;
                let found = appeal_query::matching(&app.db, &refs, &scope, &filter, tz, now, id).await;
                let model = match found {
                    Ok(m) => m?,
                    Err(e) => return Some(Err(e)),
                };
                let action = serde_json::from_str::<serde_json::Value>(&row.payload)
                    .ok()
                    .and_then(|p| p.get("action").and_then(|a| a.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| row.topic.clone());
                Some(Ok(AppealChange { appeal: Appeal { model, handles: false }, action, at: row.created_at }))
            }
        }))
    }
}
