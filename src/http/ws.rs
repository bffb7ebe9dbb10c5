//! GraphQL subscriptions over WebSocket at `/graphql/ws`, with the `graphql-transport-ws`
//! protocol: the client authenticates in `connection_init` with
//! `{"authorization": "Bearer <access token>"}` (people only), then subscribes. Documents go
//! through the same checks as over HTTP (nesting, fields, depth, cost); only subscriptions
//! are served here — queries and mutations go to `POST /graphql`, where requests are capped,
//! audited and answered with personal data where the caller handles the appeal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_graphql::parser::types::OperationType;
use async_graphql::{Data, Executor, Response, ServerError};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use futures_util::stream::{self, BoxStream, StreamExt};

use super::graphql::{Documents, finish_errors, operation};
use super::{Http, client_ip, error_response};
use crate::error::{AppError, code};
use crate::graphql::AppSchema;
use crate::graphql::subscriptions::Session;
use crate::service::{Caller, auth};
use crate::state::AppState;

/// The WebSocket subprotocol served (graphql-ws's current protocol).
const PROTOCOL: &str = "graphql-transport-ws";
/// How long a connection may stay open without `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

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
    // The one protocol served, whatever else the client offers.
    parts.headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(PROTOCOL));
    let (Ok(protocol), Ok(upgrade)) = (
        GraphQLProtocol::from_request_parts(&mut parts, &()).await,
        WebSocketUpgrade::from_request_parts(&mut parts, &()).await,
    ) else {
        return error_response(StatusCode::BAD_REQUEST, code::BAD_USER_INPUT, "not a WebSocket upgrade request");
    };
    let ip = client_ip(peer.ip(), &parts.headers, &http.app.settings.trusted_proxies).to_string();
    let executor = Checked {
        schema: http.schema.clone(),
        documents: Arc::clone(&http.documents),
        max_fields: http.app.settings.max_fields,
        max_depth: http.app.settings.max_depth,
    };
    let app = http.app.clone();
    upgrade
        .protocols([PROTOCOL])
        .on_upgrade(move |socket| async move {
            let initialised = Arc::new(AtomicBool::new(false));
            let seen = Arc::clone(&initialised);
            let connection = GraphQLWebSocket::new(socket, executor, protocol)
                .on_connection_init(move |payload| {
                    seen.store(true, Ordering::Relaxed);
                    init(app, ip, payload)
                })
                .serve();
            tokio::select! {
                () = connection => {}
                () = async {
                    tokio::time::sleep(INIT_TIMEOUT).await;
                    if initialised.load(Ordering::Relaxed) {
                        std::future::pending::<()>().await;
                    }
                } => tracing::debug!("closed a WebSocket that sent no connection_init"),
            }
        })
        .into_response()
}

/// `connection_init`: the person or integration behind the bearer credential in the payload
/// (an access token or an API token; each subscription field has its own rule), or a refusal
/// (the connection is then closed with the reason).
async fn init(app: AppState, ip: String, payload: serde_json::Value) -> async_graphql::Result<Data> {
    let value = payload.get("authorization").or_else(|| payload.get("Authorization")).and_then(|v| v.as_str());
    let Some(bearer) = value.and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).filter(|t| !t.is_empty()) else {
        return Err(async_graphql::Error::new(
            "connection_init must carry {\"authorization\": \"Bearer <access token>\"}",
        ));
    };
    let principal = match auth::authenticate(&app, bearer).await {
        Ok(p) => p,
        Err(e @ AppError::Unauthenticated(_)) => return Err(async_graphql::Error::new(e.message())),
        Err(e) => {
            tracing::warn!(error = %e.message(), "could not authenticate a WebSocket connection");
            return Err(async_graphql::Error::new("internal server error"));
        }
    };
    let mut data = Data::default();
    data.insert(Caller { principal, ip: Some(ip), request_id: None, credential_error: None });
    data.insert(Session { bearer: bearer.to_owned() });
    Ok(data)
}

/// The schema behind the document checks of `POST /graphql`, serving subscriptions only.
#[derive(Clone)]
struct Checked {
    schema: AppSchema,
    documents: Arc<Documents>,
    max_fields: usize,
    max_depth: usize,
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
        Executor::execute_stream(&self.schema, r, session_data)
            .map(move |mut response| {
                finish_errors(&mut response.errors, &request_id);
                response
            })
            .boxed()
    }
}
