//! `Subscription.appealChanged`: changes of the appeals a subscriber may see, as it may see
//! them, pushed as they are announced (from any server process, through the outbox).
//!
//! Fan-out: a process reads each announced appeal once ([`AppealFeed`]: the row and where its
//! category and territory sit), then every subscriber decides in memory whether the change
//! concerns it (its scope, [`AppealScope::sees`], and its filter, [`Filter::matches`], the
//! same rules as the SQL of `appeals`). The masked copy of the appeal is made once per change
//! (over WebSocket every subscriber sees personal data masked); the names of its category,
//! territory and recipient come from the reference data in memory, and its history is read
//! once per change for all subscribers that show it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use async_graphql::{Context, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use futures_util::stream::StreamExt;
use tokio::sync::broadcast;

use super::appeals::{Appeal, AppealFilter};
use super::loaders::Loaders;
use super::state;
use super::subscriptions::{self, Announced, Heard};
use crate::domain::appeal::Appeal as Record;
use crate::domain::masking::{mask_contact, mask_name};
use crate::domain::pii::{mask_address, mask_text};
use crate::entity::outbox;
use crate::error::AppResult;
use crate::service::appeal_match;
use crate::service::appeal_query::AppealFilter as Filter;
use crate::service::scope::AppealScope;
use crate::state::{AppState, ReferenceData, in_background};

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

/// One announcement as the process's `appealChanged` subscribers hear it: for an appeal, the
/// appeal read once, with what is derived from it once for all of them.
pub struct Change {
    row: Arc<outbox::Model>,
    /// What happened (the payload's `action`, else the topic).
    action: String,
    /// The appeal as read once, with the reference data (category and territory trees) its
    /// filters are weighed against.
    appeal: Option<(Record, Arc<ReferenceData>)>,
    /// The appeal with the author's personal data masked: the one view every subscriber gets.
    masked: OnceLock<Arc<Record>>,
    /// Loaders of the appeal's history and duplicate, read once for every subscriber.
    loaders: OnceLock<Arc<Loaders>>,
    db: sea_orm::DatabaseConnection,
}

impl Announced for Arc<Change> {
    fn row(&self) -> &outbox::Model {
        &self.row
    }
}

impl Change {
    /// The masked view of the appeal, made by the first subscriber that needs it.
    fn masked(&self) -> Option<Arc<Record>> {
        let (a, _) = self.appeal.as_ref()?;
        Some(Arc::clone(self.masked.get_or_init(|| Arc::new(masked(a)))))
    }

    fn loaders(&self) -> Arc<Loaders> {
        Arc::clone(self.loaders.get_or_init(|| Arc::new(Loaders::new(&self.db))))
    }
}

/// The appeal as a viewer who does not handle it sees it (the author's name and contact
/// masked, personal data in its free texts and the flat of its address masked, no feedback
/// code): made once per change, shared by every subscriber.
fn masked(a: &Record) -> Record {
    let mut m = a.clone();
    m.author_name = a.author_name.as_deref().map(mask_name);
    m.author_contact = a.author_contact.as_deref().map(mask_contact);
    m.text = mask_text(&a.text);
    m.summary = a.summary.as_deref().map(mask_text);
    m.answer_text = a.answer_text.as_deref().map(mask_text);
    m.address = a.address.as_deref().map(mask_address);
    m.feedback_code = None;
    m.feedback_expires_at = None;
    m
}

/// The process's fan-out of announced changes to `appealChanged` subscribers (schema data):
/// started with the first subscriber, it reads each announced appeal once while anyone
/// listens.
#[derive(Default)]
pub struct AppealFeed(OnceLock<broadcast::Sender<Arc<Change>>>);

/// Changes kept for a subscriber that falls behind (it then misses the oldest).
const FEED_CAPACITY: usize = 4096;

impl AppealFeed {
    /// Every announcement from now on, appeals read.
    fn subscribe(&self, app: &AppState) -> broadcast::Receiver<Arc<Change>> {
        self.0
            .get_or_init(|| {
                let (tx, _) = broadcast::channel(FEED_CAPACITY);
                // Subscribed before returning, so nothing announced from now on is missed.
                let rx = app.announcements.subscribe();
                tokio::spawn(in_background(run(app.clone(), rx, tx.clone())));
                tx
            })
            .subscribe()
    }
}

/// Reads each announced appeal once and hands the change to every subscriber.
async fn run(app: AppState, mut rx: broadcast::Receiver<Arc<outbox::Model>>, tx: broadcast::Sender<Arc<Change>>) {
    loop {
        let row = match rx.recv().await {
            Ok(row) => row,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "the appeal feed fell behind the announcements");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if tx.receiver_count() == 0 {
            continue;
        }
        let appeal = match (row.subject_type.as_str(), row.subject_id) {
            ("appeal", Some(id)) => {
                app.metrics.subscription_appeal_reads.fetch_add(1, Ordering::Relaxed);
                let read = async {
                    let Some(a) = appeal_match::changed(&app.db, id).await? else { return Ok(None) };
                    let refs = crate::service::reference::snapshot(&app).await?;
                    crate::error::AppResult::Ok(Some((a, refs)))
                };
                match read.await {
                    Ok(found) => found,
                    Err(e) => {
                        tracing::warn!(error = %e.message(), appeal = id, "cannot read an announced appeal");
                        None
                    }
                }
            }
            _ => None,
        };
        let action = serde_json::from_str::<serde_json::Value>(&row.payload)
            .ok()
            .and_then(|p| p.get("action").and_then(|a| a.as_str()).map(str::to_owned))
            .unwrap_or_else(|| row.topic.clone());
        let change =
            Change { row, action, appeal, masked: OnceLock::new(), loaders: OnceLock::new(), db: app.db.clone() };
        // No receiver left is not an error: the next subscriber starts from what follows.
        let _ = tx.send(Arc::new(change));
    }
}

#[derive(Default)]
pub struct AppealChangeSubscription;

#[Subscription]
impl AppealChangeSubscription {
    /// Changes of appeals the subscriber may see and that match `filter` (the filter of
    /// `appeals`), as they happen. People who read appeals and tokens with APPEALS_READ; an
    /// executor hears only of its recipient's appeals. Over WebSocket only; when the
    /// credential expires or is revoked, or the person is deactivated, the subscription ends
    /// with `UNAUTHENTICATED` and the connection closes with 4403.
    async fn appeal_changed(
        &self,
        ctx: &Context<'_>,
        filter: Option<AppealFilter>,
    ) -> async_graphql::Result<impl Stream<Item = AppResult<AppealChange>> + use<>> {
        let (principal, who, session) = subscriptions::authorize_any(ctx, "appealChanged")?;
        let filter = filter.unwrap_or_default().into_filter()?;
        let app = state(ctx).clone();
        let scope = Arc::new(AppealScope::of(&app, principal).await?);
        crate::service::appeal_query::check_search(&scope, filter.search.as_deref())?;
        let filter = Arc::new(filter);
        let rx = ctx.data_unchecked::<AppealFeed>().subscribe(&app);
        Ok(subscriptions::heard_from(ctx, rx, who, session).filter_map(move |heard| {
            let (app, scope, filter) = (app.clone(), Arc::clone(&scope), Arc::clone(&filter));
            async move {
                let change = match heard {
                    Heard::Ended(e) => return Some(Err(e)),
                    Heard::Row(change) => change,
                };
                if !concerns(&app, &scope, &filter, &change) {
                    return None;
                }
                change_for(&change).map(Ok)
            }
        }))
    }
}

/// Whether a change concerns a subscriber: the appeal (as read once for everybody) is within
/// its scope and matches its filter at the clock's now.
fn concerns(app: &AppState, scope: &AppealScope, filter: &Filter, change: &Change) -> bool {
    let Some((a, refs)) = &change.appeal else { return false };
    scope.sees(a) && filter.matches(a, refs, app.settings.timezone, app.clock.now())
}

/// What a subscriber is sent: the shared masked view of the appeal and what happened.
fn change_for(change: &Change) -> Option<AppealChange> {
    let model = change.masked()?;
    Some(AppealChange {
        appeal: Appeal::premasked(model, change.loaders()),
        action: change.action.clone(),
        at: change.row.created_at,
    })
}
