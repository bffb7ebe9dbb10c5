//! The HTTP surface: `POST /graphql`, GraphiQL on `GET /graphql`, `/healthz`, `/readyz`,
//! `/metrics`, `/exports/roadmaps/{id}.docx`.
//! `/exports/*`.

mod exports;

use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::http::{GraphiQLSource, MultipartOptions};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{BatchRequest, BatchResponse, ServerError};
use async_graphql_axum::GraphQLResponse;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::domain::access::Principal;
use crate::error::AppError;
use crate::graphql::AppSchema;
use crate::graphql::appeals::{PersonalDataReads, ScopeCache};
use crate::graphql::loaders::Loaders;
use crate::service::{Caller, auth};
use crate::state::AppState;

/// State of the HTTP layer.
#[derive(Clone)]
pub struct Http {
    pub app: AppState,
    pub schema: AppSchema,
    pub documents: Arc<Documents>,
}

/// Parsed GraphQL documents by their text: clients send the same few queries over and over,
/// and parsing one took as long as resolving a tenth of a page. At most [`DOCUMENTS_KEPT`]
/// texts of up to [`DOCUMENT_MAX_LEN`] bytes are kept; when full, the cache starts afresh.
#[derive(Default)]
pub struct Documents(std::sync::Mutex<std::collections::HashMap<String, ExecutableDocument>>);

const DOCUMENTS_KEPT: usize = 256;
const DOCUMENT_MAX_LEN: usize = 16 * 1024;

impl Documents {
    /// Gives the request its parsed document; a text that does not parse is
    /// `GRAPHQL_PARSE_FAILED`.
    fn prepare(&self, r: &mut async_graphql::Request) -> Result<(), ServerError> {
        let keep = r.query.len() <= DOCUMENT_MAX_LEN;
        if keep && let Some(doc) = self.0.lock().ok().and_then(|m| m.get(&r.query).cloned()) {
            r.set_parsed_query(doc);
            return Ok(());
        }
        let doc = match r.parsed_query() {
            Ok(doc) => doc.clone(),
            Err(mut e) => {
                e.extensions.get_or_insert_with(Default::default).set("code", "GRAPHQL_PARSE_FAILED");
                return Err(e);
            }
        };
        if keep && let Ok(mut m) = self.0.lock() {
            if m.len() >= DOCUMENTS_KEPT {
                m.clear();
            }
            m.insert(r.query.clone(), doc);
        }
        Ok(())
    }
}

/// The router with every middleware.
pub fn router(http: Http) -> Router {
    let timeout = http.app.settings.request_timeout;
    // File exports write up to a million rows: they get their own, longer timeout.
    let files = Router::new()
        .route("/exports/roadmaps/{file}", get(export_roadmap))
        .route("/exports/memo/{file}", get(exports::memo))
        .route("/exports/appeals.xlsx", get(exports::appeals))
        .with_state(http.clone())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, http.app.settings.export_timeout));
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(http)
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .merge(files)
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "internal server error")
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<Body>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
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

async fn metrics(State(http): State<Http>) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let m = &http.app.metrics;
    format!(
        "# TYPE mcu_graphql_requests_total counter\nmcu_graphql_requests_total {}\n\
         # TYPE mcu_sql_statements_total counter\nmcu_sql_statements_total {}\n\
         # TYPE mcu_sql_errors_total counter\nmcu_sql_errors_total {}\n\
         # TYPE mcu_sql_seconds_total counter\nmcu_sql_seconds_total {:.6}\n",
        m.graphql_requests.load(Relaxed),
        m.sql_statements.load(Relaxed),
        m.sql_errors.load(Relaxed),
        m.sql_micros.load(Relaxed) as f64 / 1e6,
    )
}

/// `GET /exports/roadmaps/{id}.docx`: the roadmap as a Word document, for those who may read it.
async fn export_roadmap(
    State(http): State<Http>,
    axum::extract::Path(file): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = bearer else {
        return error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "sign in to export a roadmap");
    };
    let principal = match auth::authenticate(&http.app, token).await {
        Ok(p) => p,
        Err(e @ AppError::Unauthenticated(_)) => {
            return error_response(StatusCode::UNAUTHORIZED, e.code(), &e.message());
        }
        Err(e) => return internal_response(&e),
    };
    let allowed = crate::graphql::policy::rule_for("Query.roadmap").is_some_and(|r| r.check(&principal).is_ok());
    if !allowed {
        return error_response(StatusCode::FORBIDDEN, "FORBIDDEN", "you are not allowed to read roadmaps");
    }
    let Some(id) = file.strip_suffix(".docx").and_then(|n| n.parse::<i64>().ok()).filter(|n| *n > 0) else {
        return error_response(StatusCode::NOT_FOUND, "NOT_FOUND", "roadmap not found");
    };
    match crate::service::roadmaps::export_docx(&http.app, id).await {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document".to_string(),
                ),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"roadmap-{id}.docx\"")),
            ],
            bytes,
        )
            .into_response(),
        Err(e @ AppError::NotFound(_)) => error_response(StatusCode::NOT_FOUND, e.code(), &e.message()),
        Err(e) => internal_response(&e),
    }
}

async fn graphiql(State(http): State<Http>) -> Response {
    if http.app.settings.graphiql {
        Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response()
    } else {
        (StatusCode::NOT_FOUND, "GraphiQL is disabled").into_response()
    }
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, Json(body)).into_response()
}

/// An error that is not the caller's: 503 when the database is unavailable, else 500.
fn internal_response(e: &AppError) -> Response {
    match e {
        AppError::Unavailable(_) => error_response(StatusCode::SERVICE_UNAVAILABLE, e.code(), &e.message()),
        _ => error_response(StatusCode::INTERNAL_SERVER_ERROR, e.code(), "internal server error"),
    }
}

/// Ensures every error carries a contract code and internal ones carry the request id.
fn finish_errors(errors: &mut [ServerError], request_id: &str) {
    for e in errors {
        let ext = e.extensions.get_or_insert_with(Default::default);
        let code = if let Some(async_graphql::Value::String(c)) = ext.get("code") {
            c.clone()
        } else if e.path.is_empty() {
            // Refused before any field ran: validation, limits, the operation's name.
            ext.set("code", "GRAPHQL_VALIDATION_FAILED");
            "GRAPHQL_VALIDATION_FAILED".into()
        } else {
            // Errors without a code in a field come from the library's input coercion.
            let path = e
                .path
                .iter()
                .map(|p| match p {
                    async_graphql::PathSegment::Field(f) => f.clone(),
                    async_graphql::PathSegment::Index(i) => i.to_string(),
                })
                .collect::<Vec<_>>()
                .join(".");
            let field = async_graphql::Value::from_json(serde_json::json!([{ "path": path, "message": e.message }]))
                .unwrap_or(async_graphql::Value::Null);
            ext.set("code", "BAD_USER_INPUT");
            ext.set("fields", field);
            "BAD_USER_INPUT".into()
        };
        if code == "INTERNAL_SERVER_ERROR" {
            ext.set("requestId", request_id);
            let what = if e.message == crate::error::UNAVAILABLE {
                crate::error::UNAVAILABLE
            } else {
                "internal server error"
            };
            e.message = format!("{what} (request id {request_id})");
        }
    }
}

fn with_request_data(
    r: async_graphql::Request,
    app: &AppState,
    caller: &Caller,
    reads: &Arc<PersonalDataReads>,
) -> async_graphql::Request {
    r.data(caller.clone()).data(Loaders::new(&app.db)).data(ScopeCache::default()).data(Arc::clone(reads))
}

/// One audit entry per request listing the appeals whose personal data it showed unmasked.
async fn audit_personal_data_reads(app: &AppState, caller: &Caller, reads: &PersonalDataReads) -> Result<(), AppError> {
    let ids: Vec<i64> = reads.0.lock().map(|v| v.clone()).unwrap_or_default();
    if ids.is_empty() {
        return Ok(());
    }
    let target = if ids.len() == 1 { format!("appeal:{}", ids[0]) } else { format!("appeals:{}", ids.len()) };
    crate::service::audit::record(
        &app.db,
        caller,
        app.clock.now(),
        "read.personalData",
        Some(target),
        Some(serde_json::json!({ "appealIds": ids })),
    )
    .await
}

async fn graphql(
    State(http): State<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request_id: Option<axum::Extension<RequestId>>,
    body: Body,
) -> Response {
    http.app.metrics.graphql_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let request_id =
        request_id.and_then(|r| r.0.header_value().to_str().ok().map(str::to_owned)).unwrap_or_else(|| "-".into());
    let settings = &http.app.settings;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let multipart = content_type.as_deref().is_some_and(|c| c.starts_with("multipart/"));
    let limit = if multipart { settings.max_upload_bytes } else { settings.max_body_bytes };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BAD_USER_INPUT",
            &format!("the request body is larger than the limit of {limit} bytes"),
        )
    };
    if declared.is_some_and(|n| n > limit) {
        return too_large();
    }
    // A multipart body streams into the parser, which writes the file to a temporary file
    // and refuses a stream longer than the upload limit (one file of at most that size): an
    // upload is never held in memory whole. Any other body is read first (small limit).
    let body: std::pin::Pin<Box<dyn futures_util::AsyncRead + Send>> = if multipart {
        use futures_util::TryStreamExt;
        Box::pin(body.into_data_stream().map_err(std::io::Error::other).into_async_read())
    } else {
        let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
            return too_large();
        };
        Box::pin(futures_util::io::Cursor::new(bytes))
    };

    let mut caller = Caller {
        principal: Principal::Anonymous,
        ip: Some(peer.ip().to_string()),
        request_id: Some(request_id.clone()),
        credential_error: None,
    };
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let bearer = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
        match bearer {
            Some(token) if !token.is_empty() => match auth::authenticate(&http.app, token).await {
                Ok(p) => caller.principal = p,
                Err(AppError::Unauthenticated(why)) => caller.credential_error = Some(why),
                Err(e) => return internal_response(&e),
            },
            _ => {
                caller.credential_error = Some("the Authorization header must be 'Bearer <token>'".into());
            }
        }
    }

    let options = MultipartOptions::default().max_file_size(settings.max_upload_bytes).max_num_files(1);
    let batch = match async_graphql::http::receive_batch_body(content_type, body, options).await {
        Ok(b) => b,
        Err(e) => {
            let message = match e {
                async_graphql::ParseRequestError::PayloadTooLarge => return too_large(),
                async_graphql::ParseRequestError::InvalidRequest(_) => "the body is not a GraphQL request (JSON)",
                async_graphql::ParseRequestError::InvalidFilesMap(_)
                | async_graphql::ParseRequestError::InvalidMultipart(_) => {
                    "the multipart body does not follow the GraphQL multipart request spec"
                }
                _ => "the request could not be read",
            };
            return error_response(StatusCode::BAD_REQUEST, "GRAPHQL_PARSE_FAILED", message);
        }
    };
    let reads = Arc::new(PersonalDataReads::default());
    let (requests, single) = match batch {
        BatchRequest::Batch(v) if v.len() > settings.max_batch => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                &format!("a batch may hold at most {} operations, this one has {}", settings.max_batch, v.len()),
            );
        }
        BatchRequest::Batch(v) if v.is_empty() => {
            return error_response(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", "the batch is empty");
        }
        BatchRequest::Single(r) => (vec![r], true),
        BatchRequest::Batch(v) => (v, false),
    };
    // One after another, as the library runs a batch.
    let mut responses = Vec::with_capacity(requests.len());
    for mut r in requests {
        responses.push(match http.documents.prepare(&mut r) {
            Ok(()) => http.schema.execute(with_request_data(r, &http.app, &caller, &reads)).await,
            Err(e) => async_graphql::Response::from_errors(vec![e]),
        });
    }
    let mut response = if single {
        BatchResponse::Single(responses.pop().unwrap_or_default())
    } else {
        BatchResponse::Batch(responses)
    };
    if let Err(e) = audit_personal_data_reads(&http.app, &caller, &reads).await {
        tracing::error!(error = ?e.code(), "could not audit personal data reads");
    }
    match &mut response {
        BatchResponse::Single(r) => finish_errors(&mut r.errors, &request_id),
        BatchResponse::Batch(v) => {
            for r in v.iter_mut() {
                finish_errors(&mut r.errors, &request_id);
            }
        }
    }
    let mut out = GraphQLResponse::from(response).into_response();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        out.headers_mut().insert("x-request-id", v);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parsed_documents_are_reused_and_their_number_is_bounded() {
        let docs = Documents::default();
        let mut r = async_graphql::Request::new("{ me { id } }");
        docs.prepare(&mut r).unwrap();
        let mut again = async_graphql::Request::new("{ me { id } }");
        docs.prepare(&mut again).unwrap();
        assert_eq!(docs.0.lock().unwrap().len(), 1);
        let mut broken = async_graphql::Request::new("{ me { id ");
        let e = docs.prepare(&mut broken).unwrap_err();
        assert_eq!(e.extensions.unwrap().get("code"), Some(&async_graphql::Value::from("GRAPHQL_PARSE_FAILED")));
        assert_eq!(docs.0.lock().unwrap().len(), 1, "a text that does not parse is not kept");
        for i in 0..(DOCUMENTS_KEPT * 2 + 7) {
            docs.prepare(&mut async_graphql::Request::new(format!("{{ a{i}: me {{ id }} }}"))).unwrap();
            assert!(docs.0.lock().unwrap().len() <= DOCUMENTS_KEPT);
        }
        let long = format!("{{ me {{ id }} }} #{}", "x".repeat(DOCUMENT_MAX_LEN));
        let before = docs.0.lock().unwrap().len();
        docs.prepare(&mut async_graphql::Request::new(long)).unwrap();
        assert_eq!(docs.0.lock().unwrap().len(), before, "long texts are parsed but not kept");
    }
}
