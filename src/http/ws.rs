//! GraphQL subscriptions over WebSocket at `/graphql/ws`, with the `graphql-transport-ws`
//! protocol: the client authenticates in `connection_init` with
//! `{"authorization": "Bearer <access token or API token>"}`, then subscribes. Documents go
//! through the same checks as over HTTP (nesting, fields, depth, cost); only subscriptions
//! are served here — queries and mutations go to `POST /graphql`, where requests are capped,
//! audited and answered with personal data where the caller handles the appeal.
//!
//! async-graphql's protocol handler runs the subscriptions; the client's messages are held
//! to the protocol here first ([`Guard`]), and every way a connection ends is a close frame
//! with the protocol's code (the handler alone would close with 1002 or 1011, and would let
//! a running subscription's id be used again).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_graphql::http::{WebSocketProtocols as Protocols, WsMessage};
use async_graphql::parser::types::OperationType;
use async_graphql::{Data, Executor, Response, ServerError};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use futures_util::SinkExt;
use futures_util::stream::{self, BoxStream, StreamExt};

use super::graphql::{Documents, finish_errors, operation};
use super::{Http, client_ip, error_response};
use crate::error::{AppError, code};
use crate::graphql::AppSchema;
use crate::graphql::appeals::{OverWebSocket, ScopeCache};
use crate::graphql::loaders::Loaders;
use crate::graphql::subscriptions::{self, Closing, Session};
use crate::service::{Caller, auth};
use crate::state::AppState;

/// The WebSocket subprotocol served (graphql-ws's current protocol).
const PROTOCOL: &str = "graphql-transport-ws";

/// Close codes of `graphql-transport-ws` (and RFC 6455's "Try Again Later").
mod close {
    /// A message that is not JSON, of an unknown type or without its required fields.
    pub const BAD_REQUEST: u16 = 4400;
    /// A bad or missing credential in `connection_init`, or `subscribe` before the
    /// acknowledgement.
    pub const UNAUTHORIZED: u16 = 4401;
    /// A credential that admits no subscription; a session that ended while subscribed.
    pub const FORBIDDEN: u16 = crate::graphql::subscriptions::CLOSE_FORBIDDEN;
    /// No `connection_init` within `MCU_WS_INIT_TIMEOUT_SECS`.
    pub const INIT_TIMEOUT: u16 = 4408;
    /// `subscribe` with the id of a subscription still running.
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    /// A second `connection_init`.
    pub const TOO_MANY_INITS: u16 = 4429;
    /// The process holds `MCU_WS_MAX_CONNECTIONS` connections already.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// An internal failure.
    pub const INTERNAL: u16 = 4500;
}

/// `GET /graphql/ws`: upgrades to a WebSocket speaking `graphql-transport-ws`.
pub async fn subscribe(
    State(http): State<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> HttpResponse {
    let (mut parts, _) = req.into_parts();
    let offered = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim() == PROTOCOL));
    if !offered {
        return error_response(
            StatusCode::BAD_REQUEST,
            code::BAD_USER_INPUT,
            "open a WebSocket with the subprotocol graphql-transport-ws",
        );
    }
    let Ok(upgrade) = WebSocketUpgrade::from_request_parts(&mut parts, &()).await else {
        return error_response(StatusCode::BAD_REQUEST, code::BAD_USER_INPUT, "not a WebSocket upgrade request");
    };
    let ip = client_ip(peer.ip(), &parts.headers, &http.app.settings.trusted_proxies).to_string();
    let executor = Checked {
        schema: http.schema.clone(),
        documents: Arc::clone(&http.documents),
        max_fields: http.app.settings.max_fields,
        max_depth: http.app.settings.max_depth,
        db: http.app.db.clone(),
    };
    let app = AppState::clone(&http.app);
    // Taken before the upgrade, so that concurrent upgrades cannot all pass the cap.
    let slot = Slot::take(&app);
    upgrade.protocols([PROTOCOL]).on_upgrade(move |socket| serve(socket, executor, app, ip, slot)).into_response()
}

/// One of the process's `MCU_WS_MAX_CONNECTIONS` connection places (`None`: none was free),
/// given back when the connection ends.
struct Slot(AppState);

impl Slot {
    fn take(app: &AppState) -> Option<Self> {
        let open = &app.metrics.ws_connections;
        let before = open.fetch_add(1, Ordering::SeqCst);
        if before >= app.settings.ws_max_connections {
            open.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Self(app.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.metrics.ws_connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves one connection: the client's messages are checked against the protocol
/// ([`Guard`]) before async-graphql's protocol handler sees them, and every way the
/// connection ends is a close frame with the protocol's code.
async fn serve(socket: WebSocket, executor: Checked, app: AppState, ip: String, slot: Option<Slot>) {
    let (mut sink, mut source) = socket.split();
    let Some(_slot) = slot else {
        let reason = format!("this server holds its maximum of {} connections", app.settings.ws_max_connections);
        let _ = sink.send(close_frame(close::TRY_AGAIN_LATER, &reason)).await;
        return;
    };
    let closing = Arc::new(Closing::default());
    let (to_handler, inbox) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let inbox = stream::unfold(inbox, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    let on_init = {
        let closing = Arc::clone(&closing);
        let app = app.clone();
        move |payload| init(app, ip, closing, payload)
    };
    let handler =
        async_graphql::http::WebSocket::new(executor, inbox, Protocols::GraphQLWS).on_connection_init(on_init);
    futures_util::pin_mut!(handler);
    let mut guard = Guard::new(app.settings.ws_max_subscriptions);
    let init_deadline = tokio::time::sleep(app.settings.ws_init_timeout);
    futures_util::pin_mut!(init_deadline);
    let (code, reason) = loop {
        tokio::select! {
            message = source.next() => {
                let text = match message {
                    Some(Ok(Message::Text(t))) => t.as_str().to_owned(),
                    Some(Ok(Message::Binary(b))) => match String::from_utf8(b.to_vec()) {
                        Ok(t) => t,
                        Err(_) => break (close::BAD_REQUEST, "messages are UTF-8 JSON".to_owned()),
                    },
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                };
                match guard.inbound(&text) {
                    Verdict::Pass => {
                        if to_handler.send(text.into_bytes()).is_err() {
                            return;
                        }
                    }
                    Verdict::Reply(reply) => {
                        if sink.send(Message::Text(reply.into())).await.is_err() {
                            return;
                        }
                    }
                    Verdict::Close(code, reason) => break (code, reason),
                }
            }
            out = handler.next() => match out {
                Some(WsMessage::Text(text)) => {
                    guard.outbound(&text);
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                    // A session that ended closes the connection after the subscription's
                    // last message (its error) is sent.
                    if let Some(why) = closing.requested() {
                        break why;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    break closing.requested().unwrap_or_else(|| (handler_close(code), reason));
                }
                None => return,
            },
            why = closing.wait() => break why,
            () = &mut init_deadline, if !guard.initialised => {
                break (close::INIT_TIMEOUT, "Connection initialisation timeout".to_owned());
            }
        }
    };
    tracing::debug!(code, reason = %reason, "closing a WebSocket connection");
    let _ = sink.send(close_frame(code, &reason)).await;
}

/// The protocol's code for a close async-graphql decided on (1002 for a message it could not
/// read, 1011 for a subscription before the acknowledgement, which the guard refuses first).
fn handler_close(code: u16) -> u16 {
    match code {
        1002 => close::BAD_REQUEST,
        1011 => close::UNAUTHORIZED,
        4429 => close::TOO_MANY_INITS,
        c if (4000..5000).contains(&c) => c,
        _ => close::INTERNAL,
    }
}

/// A close frame; the reason is cut to the 123 bytes a close frame may carry.
fn close_frame(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame { code, reason: reason[..end].to_owned().into() }))
}

/// What to do with a client's message.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Hand it to the protocol handler.
    Pass,
    /// Answer it here (a refused subscription), the connection stays.
    Reply(String),
    /// Close the connection.
    Close(u16, String),
}

/// The client's side of `graphql-transport-ws`, as far as async-graphql does not hold it to
/// the protocol: message shapes, one `connection_init`, no `subscribe` before the
/// acknowledgement, unique ids of running subscriptions, and at most
/// `MCU_WS_MAX_SUBSCRIPTIONS` of them.
struct Guard {
    initialised: bool,
    acknowledged: bool,
    running: std::collections::HashSet<String>,
    max_running: usize,
}

impl Guard {
    fn new(max_running: usize) -> Self {
        Self { initialised: false, acknowledged: false, running: std::collections::HashSet::default(), max_running }
    }

    fn inbound(&mut self, text: &str) -> Verdict {
        let bad = |why: &str| Verdict::Close(close::BAD_REQUEST, why.to_owned());
        let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(text) else {
            return bad("Invalid message: not a JSON object");
        };
        let id = m.get("id").and_then(|v| v.as_str()).filter(|id| !id.is_empty());
        let payload_is = |object_required: bool| match m.get("payload") {
            None | Some(serde_json::Value::Null) => !object_required,
            Some(v) => v.is_object(),
        };
        match m.get("type").and_then(|t| t.as_str()) {
            Some("connection_init") => {
                if !payload_is(false) {
                    return bad("Invalid message: the payload of connection_init is an object");
                }
                if self.initialised {
                    return Verdict::Close(close::TOO_MANY_INITS, "Too many initialisation requests".into());
                }
                self.initialised = true;
                Verdict::Pass
            }
            Some("ping" | "pong") if payload_is(false) => Verdict::Pass,
            Some("subscribe") => {
                let Some(id) = id else { return bad("Invalid message: subscribe needs an id") };
                let query = m.get("payload").and_then(|p| p.get("query")).and_then(|q| q.as_str());
                if !payload_is(true) || query.is_none() {
                    return bad("Invalid message: the payload of subscribe is an object with a query");
                }
                if !self.acknowledged {
                    return Verdict::Close(close::UNAUTHORIZED, "Unauthorized".into());
                }
                if self.running.contains(id) {
                    return Verdict::Close(close::SUBSCRIBER_EXISTS, format!("Subscriber for {id} already exists"));
                }
                if self.running.len() >= self.max_running {
                    let message = format!(
                        "at most {} subscriptions may run at once on one connection; complete one first",
                        self.max_running
                    );
                    let error = serde_json::json!({"id": id, "type": "error", "payload": [
                        {"message": message, "extensions": {"code": code::RATE_LIMITED}}
                    ]});
                    return Verdict::Reply(error.to_string());
                }
                self.running.insert(id.to_owned());
                Verdict::Pass
            }
            Some("complete") => {
                let Some(id) = id else { return bad("Invalid message: complete needs an id") };
                self.running.remove(id);
                Verdict::Pass
            }
            _ => bad("Invalid message: unknown or missing type"),
        }
    }

    /// Follows what the handler sends: the acknowledgement, and subscriptions that ended.
    fn outbound(&mut self, text: &str) {
        // The handler writes the type first; results are most messages and need no look.
        if text.starts_with(r#"{"type":"next""#) {
            return;
        }
        let Ok(m) = serde_json::from_str::<serde_json::Value>(text) else { return };
        match m.get("type").and_then(|t| t.as_str()) {
            Some("connection_ack") => self.acknowledged = true,
            Some("complete" | "error") => {
                if let Some(id) = m.get("id").and_then(|v| v.as_str()) {
                    self.running.remove(id);
                }
            }
            _ => {}
        }
    }
}

/// `connection_init`: the person or integration behind the bearer credential in the payload
/// (an access token or an API token; each subscription field has its own rule), or a refusal
/// that closes the connection: 4401 without a valid credential, 4403 for a credential no
/// subscription admits.
async fn init(
    app: AppState,
    ip: String,
    closing: Arc<Closing>,
    payload: serde_json::Value,
) -> async_graphql::Result<Data> {
    let refuse = |code: u16, message: &str| {
        closing.close(code, message);
        Err(async_graphql::Error::new(message))
    };
    let value = payload.get("authorization").or_else(|| payload.get("Authorization")).and_then(|v| v.as_str());
    let Some(bearer) = value.and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).filter(|t| !t.is_empty()) else {
        return refuse(
            close::UNAUTHORIZED,
            "connection_init must carry {\"authorization\": \"Bearer <access token>\"}",
        );
    };
    let principal = match auth::authenticate(&app, bearer).await {
        Ok(p) => p,
        Err(e @ AppError::Unauthenticated(_)) => return refuse(close::UNAUTHORIZED, &e.message()),
        Err(e) => {
            tracing::warn!(error = %e.message(), "could not authenticate a WebSocket connection");
            return refuse(close::INTERNAL, "internal server error");
        }
    };
    if !subscriptions::admits_any(&principal) {
        return refuse(close::FORBIDDEN, "this credential may not use any subscription");
    }
    let mut data = Data::default();
    data.insert(Caller { principal, ip: Some(ip), request_id: None, credential_error: None });
    data.insert(Session { bearer: bearer.to_owned(), closing });
    Ok(data)
}

/// The schema behind the document checks of `POST /graphql`, serving subscriptions only.
#[derive(Clone)]
struct Checked {
    schema: AppSchema,
    documents: Arc<Documents>,
    max_fields: usize,
    max_depth: usize,
    db: sea_orm::DatabaseConnection,
}

fn refused(code: &str, message: &str) -> Response {
    let mut e = ServerError::new(message, None);
    e.extensions.get_or_insert_with(Default::default).set("code", code);
    Response::from_errors(vec![e])
}

impl Executor for Checked {
    async fn execute(&self, _request: async_graphql::Request) -> Response {
        refused(code::BAD_USER_INPUT, "send queries and mutations to POST /graphql")
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let mut r = request;
        if let Err(e) = self.documents.prepare(&mut r, self.max_fields, self.max_depth) {
            return stream::once(async move { Response::from_errors(vec![e]) }).boxed();
        }
        if operation(&mut r).0 != Some(OperationType::Subscription) {
            return stream::once(async {
                refused(
                    code::BAD_USER_INPUT,
                    "only subscriptions are served over WebSocket; send queries and mutations to POST /graphql",
                )
            })
            .boxed();
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        // What the appeal's resolvers need, with appeals shown masked (see `OverWebSocket`).
        let r = r.data(OverWebSocket).data(Loaders::new(&self.db)).data(ScopeCache::default());
        Executor::execute_stream(&self.schema, r, session_data)
            .map(move |mut response| {
                finish_errors(&mut response.errors, &request_id);
                response
            })
            .boxed()
    }
}
