//! The HTTP surface: `POST /graphql` and `GET /graphql` (queries, or GraphiQL for a browser),
//! subscriptions over WebSocket at `/graphql/ws`, `/healthz`, `/readyz`, `/metrics`, and the
//! file exports under `/exports/`, and attached files under `/files/`.

mod exports;
mod files;
mod graphiql;
pub mod graphql;
mod ws;

pub use graphql::Documents;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::{AppError, code};
use crate::graphql::AppSchema;
use crate::state::AppState;

/// State of the HTTP layer.
///
/// Cloned for every request by the router's layers, so the application state is behind one
/// `Arc`: a clone of `AppState` itself counts up some twenty reference counts.
#[derive(Clone)]
pub struct Http {
    pub app: Arc<AppState>,
    pub schema: AppSchema,
    pub documents: Arc<Documents>,
}

/// The router with every middleware.
pub fn router(http: Http) -> Router {
    let timeout = http.app.settings.request_timeout;
    let export_timeout = http.app.settings.export_timeout;
    // File exports write up to a million rows: they get their own, longer timeout.
    let files = Router::new()
        .route("/exports/roadmaps/{file}", get(exports::roadmap))
        .route("/exports/memo/{file}", get(exports::memo))
        .route("/exports/memos/{file}", get(exports::stored_memo))
        .route("/exports/cur-materials/{file}", get(exports::cur_material))
        .route("/exports/system-reports/{file}", get(exports::system_report))
        .route("/exports/meetings/{file}", get(exports::meeting))
        .route("/exports/appeals.xlsx", get(exports::appeals))
        .route("/exports/audit.xlsx", get(exports::audit_log))
        .route("/exports/{file}", get(exports::subject).post(exports::subject_post))
        .with_state(http.clone())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, export_timeout));
    // Attached files: the request timeout covers the answer's headers; the streamed body has
    // its own limit (see `files`).
    let attached = Router::new()
        .route("/files/{id}", get(files::download))
        .route("/files/{id}/thumbnail", get(files::thumbnail))
        .with_state(http.clone())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout));
    let cors = cors_layer(&http.app.settings.cors_origins);
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphql/ws", get(ws::subscribe))
        .route("/graphiql/{*file}", get(graphiql::asset))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(http)
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .merge(files)
        .merge(attached)
        .layer(cors)
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL_SERVER_ERROR, "internal server error")
        }))
        .layer(axum::middleware::from_fn(scope_request_id))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<Body>| {
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        request_id = %id,
                        method = %req.method(),
                        path = %req.uri().path(),
                        operation = tracing::field::Empty,
                    )
                })
                // One info line per request, with its status and duration, in the request's span
                // (request id, method, path, GraphQL operation names).
                .on_request(())
                .on_response(
                    tower_http::trace::DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Millis),
                ),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// CORS for the origins of `MCU_CORS_ORIGINS` (exact matches); none: same origin only.
fn cors_layer(origins: &[String]) -> tower::util::Either<tower_http::cors::CorsLayer, tower::layer::util::Identity> {
    use axum::http::{HeaderName, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    if allowed.is_empty() {
        return tower::util::Either::Right(tower::layer::util::Identity::new());
    }
    tower::util::Either::Left(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
            .expose_headers([HeaderName::from_static("x-request-id"), header::CONTENT_DISPOSITION])
            .max_age(std::time::Duration::from_mins(10)),
    )
}

tokio::task_local! {
    /// The `x-request-id` of the request being served, for errors answered outside GraphQL.
    static REQUEST_ID: String;
}

async fn scope_request_id(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    REQUEST_ID.scope(id, next.run(req)).await
}

fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_else(|_| "-".into())
}

/// The client's address: the socket peer, or, when the peer is a trusted proxy
/// (`MCU_TRUSTED_PROXIES`), the nearest address in `X-Forwarded-For` that is not one.
pub fn client_ip(peer: std::net::IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> std::net::IpAddr {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<std::net::IpAddr>() else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// Ready when the database takes writes (see [`crate::db::write_readiness`]); otherwise 503
/// with the reason.
async fn readyz(State(http): State<Http>) -> Response {
    match crate::db::write_readiness(&http.app.settings, &http.app.db).await {
        Ok(()) => "ready".into_response(),
        Err(why) => {
            tracing::warn!(reason = %why, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")).into_response()
        }
    }
}

/// `/metrics` on the API's own address: only with the bearer token `MCU_METRICS_TOKEN`;
/// without a configured token it does not exist.
async fn metrics(State(http): State<Http>, headers: HeaderMap) -> Response {
    use secrecy::ExposeSecret;
    use sha2::{Digest, Sha256};
    let Some(token) = &http.app.settings.metrics_token else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let given = match bearer(&headers) {
        Credential::Bearer(token) => token,
        Credential::Absent | Credential::Malformed => "",
    };
    // Compared as digests: the time taken does not depend on how much of the token matched.
    if Sha256::digest(given.as_bytes()) != Sha256::digest(token.expose_secret().as_bytes()) {
        return error_response(StatusCode::UNAUTHORIZED, code::UNAUTHENTICATED, "metrics need the metrics token");
    }
    metrics_text(&http.app).into_response()
}

/// The router of the separate metrics listener (`MCU_METRICS_BIND`): `/metrics` only.
pub fn metrics_router(app: AppState) -> Router {
    Router::new().route("/metrics", get(move || async move { metrics_text(&app) }))
}

fn metrics_text(app: &AppState) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let m = &app.metrics;
    format!(
        "# TYPE mcu_graphql_requests_total counter\nmcu_graphql_requests_total {}\n\
         # TYPE mcu_sql_statements_total counter\nmcu_sql_statements_total {}\n\
         # TYPE mcu_background_sql_statements_total counter\nmcu_background_sql_statements_total {}\n\
         # TYPE mcu_sql_errors_total counter\nmcu_sql_errors_total {}\n\
         # TYPE mcu_sql_seconds_total counter\nmcu_sql_seconds_total {:.6}\n\
         # TYPE mcu_subscription_appeal_reads_total counter\nmcu_subscription_appeal_reads_total {}\n\
         # TYPE mcu_ws_connections gauge\nmcu_ws_connections {}\n",
        m.graphql_requests.load(Relaxed),
        m.sql_statements.load(Relaxed),
        m.background_sql_statements.load(Relaxed),
        m.sql_errors.load(Relaxed),
        m.sql_micros.load(Relaxed) as f64 / 1e6,
        m.subscription_appeal_reads.load(Relaxed),
        m.ws_connections.load(Relaxed),
    )
}

fn graphiql(http: &Http) -> Response {
    graphiql::page(http)
}

/// What the `Authorization` header carries.
pub(crate) enum Credential<'a> {
    /// No header: the anonymous caller.
    Absent,
    /// `Bearer <token>` with a non-empty token.
    Bearer(&'a str),
    /// A header that is not `Bearer <token>`: refused rather than taken for anonymous.
    Malformed,
}

/// Why a malformed `Authorization` header is refused.
pub(crate) const MALFORMED_CREDENTIAL: &str = "the Authorization header must be 'Bearer <token>'";

/// Reads the `Authorization` header: the one place that parses bearer credentials.
pub(crate) fn bearer(headers: &HeaderMap) -> Credential<'_> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Credential::Absent;
    };
    match value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim) {
        Some(token) if !token.is_empty() => Credential::Bearer(token),
        _ => Credential::Malformed,
    }
}

/// An error answered outside GraphQL's execution; an internal one carries the request id.
pub(crate) fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = if code == code::INTERNAL_SERVER_ERROR {
        let id = current_request_id();
        serde_json::json!({ "errors": [{
            "message": format!("{message} (request id {id})"),
            "extensions": { "code": code, "requestId": id },
        }] })
    } else {
        serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })
    };
    (status, Json(body)).into_response()
}

/// An error that is not the caller's: 503 when the database is unavailable, else 500.
pub(crate) fn internal_response(e: &AppError) -> Response {
    match e {
        AppError::Unavailable(_) => error_response(StatusCode::SERVICE_UNAVAILABLE, e.code(), &e.message()),
        _ => error_response(StatusCode::INTERNAL_SERVER_ERROR, e.code(), "internal server error"),
    }
}
