//! Notifications as a person sees them: its list (all or unread), marking read, and its
//! settings per kind (in the application; by e-mail one by one or in a daily digest).

use async_graphql::{Context, ID, InputObject, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use super::appeals::{Appeal, OverWebSocket, ScopeCache, scope};
use super::connection::{connection, forward_window};
use super::loaders::Loaders;
use super::subscriptions::{self, Heard};
use super::{caller, parse_id, state};
use crate::domain::escalation::{MailDelivery, NotificationKind, Preference};
use crate::domain::events::Topic;
use crate::entity::notification;
use crate::error::{AppError, AppResult};
use crate::service::notify::{self, SettingChange};
use crate::service::scope::AppealScope;

/// Something a person is told: a deadline coming near, passed, or escalated; the weekly memo.
pub struct Notification {
    pub model: notification::Model,
}

#[Object]
impl Notification {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    /// What it is about: `APPEAL_DUE_SOON`, `APPEAL_OVERDUE`, `APPEAL_ESCALATED`, `MEMO_READY`
    /// (the kinds of `notificationSettings`).
    async fn kind(&self) -> &str {
        &self.model.kind
    }
    /// The text, in Russian: «Обращение № 2026-000123: срок ответа истекает 04.12.2026 в 23:59».
    async fn text(&self) -> &str {
        &self.model.text
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    /// When it was marked read; null while unread.
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.model.read_at
    }
    /// The appeal it is about, if any and if the caller may see it now (an appeal assigned
    /// elsewhere since is null). Over a subscription the author's personal data is masked:
    /// read the appeal with a query to see it (audited).
    async fn appeal(&self, ctx: &Context<'_>) -> AppResult<Option<Appeal>> {
        let Some(id) = self.model.appeal_id else { return Ok(None) };
        if ctx.data_opt::<OverWebSocket>().is_none()
            && let (Some(loaders), Some(_)) = (ctx.data_opt::<Loaders>(), ctx.data_opt::<ScopeCache>())
        {
            let model = loaders.appeals().load_one(id).await.map_err(std::sync::Arc::unwrap_or_clone)?;
            let scope = scope(ctx).await?;
            let Some(model) = model.filter(|a| scope.sees(a)) else { return Ok(None) };
            let model = crate::domain::appeal::Appeal::try_from(model)?;
            let handles = scope.handles(&model);
            return Ok(Some(Appeal::of(model, handles)));
        }
        let st = state(ctx);
        let scope = AppealScope::of(st, &caller(ctx).principal).await?;
        let model = notify::visible_appeal(&st.db, &scope, id).await?;
        model.map(Appeal::masked).transpose()
    }
}

connection!(NotificationConnection, NotificationEdge, Notification);

/// One kind's setting.
#[derive(SimpleObject)]
pub struct NotificationSetting {
    pub kind: NotificationKind,
    /// Shown in the application (`notifications`, `notificationAdded`).
    pub in_app: bool,
    /// How it goes by e-mail: not at all, one message each, or in the daily digest.
    pub email: MailDelivery,
}

impl From<(NotificationKind, Preference)> for NotificationSetting {
    fn from((kind, p): (NotificationKind, Preference)) -> Self {
        Self { kind, in_app: p.in_app, email: p.email }
    }
}

/// A change of one kind's setting; an absent field stays as it is.
#[derive(InputObject)]
pub struct NotificationSettingInput {
    pub kind: NotificationKind,
    pub in_app: Option<bool>,
    pub email: Option<MailDelivery>,
}

#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// The caller's notifications, newest first.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first) * child_complexity")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(desc = "Only those not marked read yet.")] unread_only: Option<bool>,
    ) -> AppResult<NotificationConnection> {
        let (offset, limit) = forward_window(first, after.as_deref())?;
        let page = notify::list(state(ctx), caller(ctx), offset, limit, unread_only.unwrap_or(false)).await?;
        let nodes = page.rows.into_iter().map(|model| Notification { model }).collect();
        Ok(NotificationConnection::from_offset(nodes, page.offset, page.total))
    }

    /// The caller's setting for every kind of notification (defaults: in the application,
    /// not by e-mail).
    async fn notification_settings(&self, ctx: &Context<'_>) -> AppResult<Vec<NotificationSetting>> {
        Ok(notify::settings(state(ctx), caller(ctx)).await?.into_iter().map(NotificationSetting::from).collect())
    }
}

#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Marks the caller's notifications read; returns how many were unread. Ids that are not
    /// the caller's notifications are ignored.
    async fn mark_notifications_read(&self, ctx: &Context<'_>, ids: Vec<ID>) -> AppResult<i32> {
        if ids.len() > notify::MAX_MARK {
            return Err(AppError::bad("ids", format!("at most {} ids at once", notify::MAX_MARK)));
        }
        let ids =
            ids.iter().enumerate().map(|(i, id)| parse_id(&format!("ids.{i}"), id)).collect::<AppResult<Vec<_>>>()?;
        let n = notify::mark_read(state(ctx), caller(ctx), &ids).await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }

    /// Changes the caller's notification settings; returns all of them.
    async fn update_notification_settings(
        &self,
        ctx: &Context<'_>,
        input: Vec<NotificationSettingInput>,
    ) -> AppResult<Vec<NotificationSetting>> {
        let changes: Vec<SettingChange> =
            input.into_iter().map(|i| SettingChange { kind: i.kind, in_app: i.in_app, email: i.email }).collect();
        Ok(notify::update_settings(state(ctx), caller(ctx), &changes)
            .await?
            .into_iter()
            .map(NotificationSetting::from)
            .collect())
    }
}

#[derive(Default)]
pub struct NotificationSubscription;

#[Subscription]
impl NotificationSubscription {
    /// The caller's notifications as they are made (what `notifications` lists). Over
    /// WebSocket only; ends with an `UNAUTHENTICATED` error when the access token expires,
    /// the session ends or the person is deactivated.
    #[allow(clippy::unused_async)] // the macro takes subscription fields as `async fn`s
    async fn notification_added(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = AppResult<Notification>> + use<>> {
        let (me, session) = subscriptions::authorize(ctx, "notificationAdded")?;
        let me = me.id;
        let app = state(ctx).clone();
        Ok(subscriptions::heard(ctx, subscriptions::Subscriber::Person(me), session).filter_map(move |heard| {
            let app = app.clone();
            async move {
                match heard {
                    Heard::Ended(e) => Some(Err(e)),
                    Heard::Row(row) => {
                        // Only the rows the fan-out makes notifications of cost a read.
                        NotificationKind::of_topic(row.topic.parse::<Topic>().ok()?)?;
                        notify::from_outbox(&app, me, row.id)
                            .await
                            .transpose()
                            .map(|n| n.map(|model| Notification { model }))
                    }
                }
            }
        }))
    }
}
