//! The subscription root (served over WebSocket at `/graphql/ws`) and what every
//! subscription shares: the access rule of its field and the session it lives in, which ends
//! the subscription when the access token expires, the session is ended or the person is
//! deactivated.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::Context;
use futures_util::Stream;
use futures_util::stream::{self, StreamExt};

use super::{caller, policy, state};
use crate::domain::access::{Denied, Principal, UserPrincipal};
use crate::domain::events::Topic;
use crate::entity::outbox;
use crate::error::{AppError, AppResult};
use crate::service::auth;
use crate::state::AppState;

/// Who a subscription serves: a person, or an integration's API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscriber {
    Person(i64),
    Token(i64),
}

/// The credential a WebSocket connection was opened with (from its `connection_init`),
/// checked again while its subscriptions run, and how to end the connection when it fails.
#[derive(Clone)]
pub struct Session {
    pub bearer: String,
    pub closing: Arc<Closing>,
}

/// A request to close a WebSocket connection (with a `graphql-transport-ws` close code),
/// made by a subscription whose session ended and carried out by the connection.
#[derive(Default)]
pub struct Closing {
    why: std::sync::Mutex<Option<(u16, String)>>,
    notify: tokio::sync::Notify,
}

/// `4403 Forbidden`: the connection's credential no longer admits the subscriber (a person
/// deactivated, a session ended, an access token expired, an API token revoked or expired).
pub const CLOSE_FORBIDDEN: u16 = 4403;

impl Closing {
    /// Asks the connection to close with `code` and `reason` (the first request wins).
    pub fn close(&self, code: u16, reason: &str) {
        if let Ok(mut why) = self.why.lock()
            && why.is_none()
        {
            *why = Some((code, reason.to_owned()));
        }
        self.notify.notify_one();
    }

    /// The close asked for, if any.
    pub fn requested(&self) -> Option<(u16, String)> {
        self.why.lock().ok().and_then(|w| w.clone())
    }

    /// Waits until a close is asked for.
    pub async fn wait(&self) -> (u16, String) {
        loop {
            if let Some(why) = self.requested() {
                return why;
            }
            self.notify.notified().await;
        }
    }
}

/// Checks the access rule of `Subscription.<field>` for the caller (a person or a token) and
/// returns it with its session.
///
/// # Errors
/// `UNAUTHENTICATED` without a session, `FORBIDDEN` for a caller the rule does not name.
pub fn authorize_any<'a>(ctx: &Context<'a>, field: &str) -> AppResult<(&'a Principal, Subscriber, Session)> {
    let principal = &caller(ctx).principal;
    let rule = policy::rule_for(&format!("Subscription.{field}"))
        .ok_or_else(|| AppError::Forbidden("this operation has no access rule".into()))?;
    match rule.check(principal) {
        Ok(()) => {}
        Err(Denied::Unauthenticated) => {
            return Err(AppError::Unauthenticated(
                "send {\"authorization\": \"Bearer <access token>\"} in connection_init".into(),
            ));
        }
        Err(Denied::Forbidden) => return Err(AppError::Forbidden("you are not allowed to use this operation".into())),
    }
    let who = match principal {
        Principal::User(u) => Subscriber::Person(u.id),
        Principal::Token(t) => Subscriber::Token(t.id),
        Principal::Anonymous | Principal::System => {
            return Err(AppError::Forbidden("you are not allowed to use this operation".into()));
        }
    };
    let session = ctx
        .data_opt::<Session>()
        .cloned()
        .ok_or_else(|| AppError::Unauthenticated("subscriptions are served over WebSocket at /graphql/ws".into()))?;
    Ok((principal, who, session))
}

/// Checks the access rule of `Subscription.<field>` for the caller and returns the person.
///
/// # Errors
/// `UNAUTHENTICATED` without a session, `FORBIDDEN` for a token or a role the rule does not
/// name.
pub fn authorize<'a>(ctx: &Context<'a>, field: &str) -> AppResult<(&'a UserPrincipal, Session)> {
    let principal = &caller(ctx).principal;
    let rule = policy::rule_for(&format!("Subscription.{field}"))
        .ok_or_else(|| AppError::Forbidden("this operation has no access rule".into()))?;
    match rule.check(principal) {
        Ok(()) => {}
        Err(Denied::Unauthenticated) => {
            return Err(AppError::Unauthenticated(
                "send {\"authorization\": \"Bearer <access token>\"} in connection_init".into(),
            ));
        }
        Err(Denied::Forbidden) => return Err(AppError::Forbidden("you are not allowed to use this operation".into())),
    }
    let person =
        principal.user().ok_or_else(|| AppError::Forbidden("subscriptions are for people, not tokens".into()))?;
    let session = ctx
        .data_opt::<Session>()
        .cloned()
        .ok_or_else(|| AppError::Unauthenticated("subscriptions are served over WebSocket at /graphql/ws".into()))?;
    Ok((person, session))
}

/// An announcement as a subscription's feed hears it: the outbox row itself, or something
/// made of it once per process for all subscribers (an appeal change read once).
pub trait Announced: Clone + Send + Sync + 'static {
    /// The announced outbox row.
    fn row(&self) -> &outbox::Model;
}

impl Announced for Arc<outbox::Model> {
    fn row(&self) -> &outbox::Model {
        self
    }
}

/// What a subscription's feed is told: an announcement, or that the session ended.
pub enum Heard<T = Arc<outbox::Model>> {
    Row(T),
    Ended(AppError),
}

/// The outbox rows announced to this process from now on, for as long as the session lives:
/// the session is checked again every `MCU_SUBSCRIPTION_CHECK_SECS` and whenever the person's
/// account changes; once it fails the feed says why ([`Heard::Ended`]) and ends, and the
/// connection is closed with `4403 Forbidden`.
pub fn heard(ctx: &Context<'_>, who: Subscriber, session: Session) -> impl Stream<Item = Heard> + Send + use<> {
    heard_from(ctx, state(ctx).announcements.subscribe(), who, session)
}

/// [`heard`] from another receiver of every announcement (in the order announced).
pub fn heard_from<T: Announced>(
    ctx: &Context<'_>,
    rx: tokio::sync::broadcast::Receiver<T>,
    who: Subscriber,
    session: Session,
) -> impl Stream<Item = Heard<T>> + Send + use<T> {
    let app = state(ctx).clone();
    let every = app.settings.subscription_check_interval;
    let feed = Feed { rx, app, who, session, tick: interval(every), ended: false };
    stream::unfold(feed, |mut f| async move {
        if f.ended {
            return None;
        }
        loop {
            let check = tokio::select! {
                heard = f.rx.recv() => match heard {
                    Ok(item) => {
                        let row = item.row();
                        let about_me = row.topic == Topic::UserChanged.as_str()
                            && row.subject_type == "user"
                            && row.subject_id.is_some_and(|id| f.who == Subscriber::Person(id));
                        if !about_me {
                            return Some((Heard::Row(item), f));
                        }
                        true
                    }
                    // A slow subscriber misses the oldest announcements; what they made is in
                    // the database (`notifications`).
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => false,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                },
                _ = f.tick.tick() => true,
            };
            if check && let Err(e) = still_valid(&f.app, &f.session, f.who).await {
                f.ended = true;
                // The connection's credential is spent for every subscription on it.
                f.session.closing.close(CLOSE_FORBIDDEN, &e.message());
                return Some((Heard::Ended(e), f));
            }
        }
    })
    .boxed()
}

struct Feed<T> {
    app: AppState,
    rx: tokio::sync::broadcast::Receiver<T>,
    who: Subscriber,
    session: Session,
    tick: tokio::time::Interval,
    ended: bool,
}

fn interval(every: Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// The session's credential still names the same person (active, with the session alive) or
/// the same token (not revoked, not expired).
async fn still_valid(app: &AppState, session: &Session, who: Subscriber) -> AppResult<()> {
    match auth::authenticate(app, &session.bearer).await {
        Ok(Principal::User(u)) if who == Subscriber::Person(u.id) => Ok(()),
        Ok(Principal::Token(t)) if who == Subscriber::Token(t.id) => Ok(()),
        Ok(_) => Err(AppError::Unauthenticated("the session has ended; sign in again".into())),
        Err(e @ AppError::Unauthenticated(_)) => Err(e),
        // A failing database is not a reason to drop the subscriber: try again next time.
        Err(e) => {
            tracing::warn!(error = %e.message(), "could not check a subscriber's session");
            Ok(())
        }
    }
}

/// The fields of `Subscription` (a test holds this list to the schema).
pub const FIELDS: [&str; 2] = ["notificationAdded", "appealChanged"];

/// Whether the access rule of any subscription field admits the caller (a connection whose
/// credential admits none is refused at `connection_init`).
pub fn admits_any(principal: &Principal) -> bool {
    FIELDS.iter().any(|f| policy::rule_for(&format!("Subscription.{f}")).is_some_and(|r| r.check(principal).is_ok()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_subscription_fields_are_the_schemas() {
        let sdl = crate::graphql::sdl();
        let body = sdl.split("type Subscription {").nth(1).and_then(|b| b.split('}').next()).unwrap_or_default();
        let mut fields: Vec<&str> = body
            .lines()
            .map(str::trim)
            .filter(|l| l.contains(':'))
            .filter_map(|l| l.split(['(', ':']).next())
            .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()))
            .collect();
        fields.sort_unstable();
        let mut expected = super::FIELDS.to_vec();
        expected.sort_unstable();
        assert_eq!(fields, expected, "{body}");
    }
}
