//! `POST /graphql` and `GET /graphql` as the GraphQL-over-HTTP draft has them: JSON or
//! multipart bodies, queries (never mutations) in the query string, automatic persisted
//! queries, `application/graphql-response+json` with 4xx for requests that fail before
//! execution, and GraphiQL for a browser that asks for a page.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_graphql::http::MultipartOptions;
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{BatchRequest, BatchResponse, ServerError};
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::request_id::RequestId;

use super::{Credential, MALFORMED_CREDENTIAL};
use super::{Http, client_ip, error_response};
use crate::domain::access::Principal;
use crate::error::{AppError, code};
use crate::graphql::RequestBudget;
use crate::graphql::appeals::{PersonalDataReads, ScopeCache};
use crate::graphql::loaders::Loaders;
use crate::service::{Caller, auth};
use crate::state::AppState;

/// Parsed documents by their text, and the texts of automatic persisted queries by hash.
///
/// Clients send the same few queries over and over, and parsing one took as long as
/// resolving a tenth of a page. At most [`DOCUMENTS_KEPT`] texts of up to
/// [`DOCUMENT_MAX_LEN`] bytes are kept, and as many persisted queries; when full, a map
/// starts afresh.
#[derive(Default)]
pub struct Documents {
    parsed: Mutex<HashMap<String, ExecutableDocument>>,
    persisted: Mutex<HashMap<String, String>>,
}

const DOCUMENTS_KEPT: usize = 256;
const DOCUMENT_MAX_LEN: usize = 16 * 1024;

fn coded(code: &str, message: impl Into<String>) -> ServerError {
    let mut e = ServerError::new(message, None);
    e.extensions.get_or_insert_with(Default::default).set("code", code);
    e
}

fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write;
    Sha256::digest(text.as_bytes()).iter().fold(String::with_capacity(64), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

impl Documents {
    /// Gives the request its text (from the persisted queries when it sends only a hash) and
    /// its parsed document. A hash not known yet is `PERSISTED_QUERY_NOT_FOUND`; a text that
    /// does not parse, or nests deeper than the parser may recurse, is
    /// `GRAPHQL_PARSE_FAILED`; one that selects more than `max_fields` fields or nests more
    /// than `max_depth` fields deep is `GRAPHQL_VALIDATION_FAILED`.
    pub fn prepare(
        &self,
        r: &mut async_graphql::Request,
        max_fields: usize,
        max_depth: usize,
    ) -> Result<(), ServerError> {
        let persisted = match r.extensions.get("persistedQuery") {
            None => None,
            Some(async_graphql::Value::Object(pq)) => match (pq.get("version"), pq.get("sha256Hash")) {
                (Some(async_graphql::Value::Number(v)), Some(async_graphql::Value::String(h)))
                    if v.as_u64() == Some(1) && h.len() == 64 =>
                {
                    Some(h.to_ascii_lowercase())
                }
                _ => return Err(coded(code::BAD_USER_INPUT, "persistedQuery needs version 1 and a sha256Hash")),
            },
            Some(_) => return Err(coded(code::BAD_USER_INPUT, "persistedQuery must be an object")),
        };
        if let Some(hash) = &persisted {
            if r.query.is_empty() {
                match self.persisted.lock().ok().and_then(|m| m.get(hash).cloned()) {
                    Some(text) => r.query = text,
                    None => return Err(coded(code::PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound")),
                }
            } else if sha256_hex(&r.query) != *hash {
                return Err(coded(code::BAD_USER_INPUT, "provided sha does not match query"));
            }
        }
        let keep = r.query.len() <= DOCUMENT_MAX_LEN;
        if keep && let Some(doc) = self.parsed.lock().ok().and_then(|m| m.get(&r.query).cloned()) {
            r.set_parsed_query(doc);
            return Ok(());
        }
        crate::graphql::limits::check_nesting(&r.query)?;
        let doc = match r.parsed_query() {
            Ok(doc) => doc.clone(),
            Err(mut e) => {
                e.extensions.get_or_insert_with(Default::default).set("code", code::GRAPHQL_PARSE_FAILED);
                return Err(e);
            }
        };
        crate::graphql::limits::check_document(&doc, max_fields, max_depth)?;
        if let Some(hash) = persisted
            && let Ok(mut m) = self.persisted.lock()
        {
            if m.len() >= DOCUMENTS_KEPT {
                m.clear();
            }
            m.insert(hash, r.query.clone());
        }
        if keep && let Ok(mut m) = self.parsed.lock() {
            if m.len() >= DOCUMENTS_KEPT {
                m.clear();
            }
            m.insert(r.query.clone(), doc);
        }
        Ok(())
    }
}

/// What a JSON body goes through before execution, one result per operation: the JSON
/// reader, the persisted-query lookup, the nesting check, the parser and the document checks
/// (at the default limits). The fuzz target `graphql_request` feeds it arbitrary bytes.
pub fn prepare_json_body(documents: &Documents, body: &[u8]) -> Vec<Result<(), ServerError>> {
    let Ok(batch) = serde_json::from_slice::<BatchRequest>(body) else { return Vec::new() };
    let requests = match batch {
        BatchRequest::Single(r) => vec![r],
        BatchRequest::Batch(v) => v,
    };
    requests
        .into_iter()
        .map(|mut r| {
            documents.prepare(&mut r, 2000, 12)?;
            operation(&mut r);
            Ok(())
        })
        .collect()
}

/// The operation a request runs: its type and name (for the log).
pub(super) fn operation(r: &mut async_graphql::Request) -> (Option<OperationType>, String) {
    let name = r.operation_name.clone();
    let Ok(doc) = r.parsed_query() else { return (None, "-".into()) };
    let op =
        doc.operations.iter().find(|(n, _)| name.is_none() || n.map(async_graphql::Name::as_str) == name.as_deref());
    match op {
        Some((n, op)) => (Some(op.node.ty), n.map_or_else(|| "anonymous".into(), ToString::to_string)),
        None => (None, name.unwrap_or_else(|| "-".into())),
    }
}

/// What the client accepts: `application/graphql-response+json`, `application/json`, or
/// neither (406).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Media {
    GraphqlResponse,
    Json,
}

fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Media::Json);
    };
    let types: Vec<String> = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    if types.is_empty() {
        Some(Media::Json)
    } else if types.iter().any(|t| t == "application/graphql-response+json") {
        Some(Media::GraphqlResponse)
    } else if types.iter().any(|t| t == "application/json" || t == "*/*" || t == "application/*") {
        Some(Media::Json)
    } else {
        None
    }
}

/// The parameters of a `GET /graphql`.
type Params = HashMap<String, String>;

/// `GET /graphql`: a query in the query string, or GraphiQL for a browser.
pub async fn get(
    State(http): State<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request_id: Option<axum::Extension<RequestId>>,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        return error_response(
            StatusCode::BAD_REQUEST,
            code::GRAPHQL_PARSE_FAILED,
            "the query string could not be read",
        );
    };
    if !params.contains_key("query") && !params.contains_key("extensions") {
        return super::graphiql(&http);
    }
    let json = |key: &str| -> Result<Option<serde_json::Value>, Box<Response>> {
        match params.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => serde_json::from_str(v).map(Some).map_err(|_| {
                Box::new(error_response(
                    StatusCode::BAD_REQUEST,
                    code::GRAPHQL_PARSE_FAILED,
                    &format!("{key} is not valid JSON"),
                ))
            }),
        }
    };
    let mut r = async_graphql::Request::new(params.get("query").cloned().unwrap_or_default());
    r.operation_name = params.get("operationName").cloned().filter(|n| !n.is_empty());
    match json("variables") {
        Ok(Some(v)) => r.variables = async_graphql::Variables::from_json(v),
        Ok(None) => {}
        Err(e) => return *e,
    }
    match json("extensions") {
        Ok(Some(serde_json::Value::Object(map))) => {
            for (k, v) in map {
                if let Ok(v) = async_graphql::Value::from_json(v) {
                    r.extensions.0.insert(k, v);
                }
            }
        }
        Ok(Some(_)) => {
            return error_response(StatusCode::BAD_REQUEST, code::GRAPHQL_PARSE_FAILED, "extensions must be an object");
        }
        Ok(None) => {}
        Err(e) => return *e,
    }
    respond(&http, peer, &headers, request_id, BatchRequest::Single(r), true).await
}

/// `POST /graphql`: a JSON body (one operation or a batch) or a multipart upload.
pub async fn post(
    State(http): State<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request_id: Option<axum::Extension<RequestId>>,
    body: Body,
) -> Response {
    let settings = &http.app.settings;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let multipart = content_type.as_deref().is_some_and(|c| c.starts_with("multipart/"));
    let limit = if multipart { settings.max_upload_bytes } else { settings.max_body_bytes };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::BAD_USER_INPUT,
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
            return error_response(StatusCode::BAD_REQUEST, code::GRAPHQL_PARSE_FAILED, message);
        }
    };
    respond(&http, peer, &headers, request_id, batch, false).await
}

/// The caller named by the `Authorization` header, or the response that refuses it.
async fn caller_of(http: &Http, peer: SocketAddr, headers: &HeaderMap, request_id: &str) -> Result<Caller, Response> {
    let mut caller = Caller {
        principal: Principal::Anonymous,
        ip: Some(client_ip(peer.ip(), headers, &http.app.settings.trusted_proxies).to_string()),
        request_id: Some(request_id.to_owned()),
        credential_error: None,
    };
    match super::bearer(headers) {
        Credential::Absent => {}
        Credential::Bearer(token) => match auth::authenticate(&http.app, token).await {
            Ok(p) => caller.principal = p,
            Err(AppError::Unauthenticated(why)) => caller.credential_error = Some(why),
            Err(e) => return Err(super::internal_response(&e)),
        },
        Credential::Malformed => caller.credential_error = Some(MALFORMED_CREDENTIAL.into()),
    }
    Ok(caller)
}

async fn respond(
    http: &Http,
    peer: SocketAddr,
    headers: &HeaderMap,
    request_id: Option<axum::Extension<RequestId>>,
    batch: BatchRequest,
    via_get: bool,
) -> Response {
    http.app.metrics.graphql_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let settings = &http.app.settings;
    let request_id =
        request_id.and_then(|r| r.0.header_value().to_str().ok().map(str::to_owned)).unwrap_or_else(|| "-".into());
    let Some(media) = negotiate(headers) else {
        return error_response(
            StatusCode::NOT_ACCEPTABLE,
            code::BAD_USER_INPUT,
            "the response is application/graphql-response+json or application/json",
        );
    };
    let caller = match caller_of(http, peer, headers, &request_id).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let (requests, single) = match batch {
        BatchRequest::Batch(v) if v.len() > settings.max_batch => {
            return error_response(
                StatusCode::BAD_REQUEST,
                code::BAD_USER_INPUT,
                &format!("a batch may hold at most {} operations, this one has {}", settings.max_batch, v.len()),
            );
        }
        BatchRequest::Batch(v) if v.is_empty() => {
            return error_response(StatusCode::BAD_REQUEST, code::BAD_USER_INPUT, "the batch is empty");
        }
        BatchRequest::Single(r) => (vec![r], true),
        BatchRequest::Batch(v) => (v, false),
    };
    let reads = Arc::new(PersonalDataReads::default());
    let budget = Arc::new(RequestBudget::default());
    let mut names = Vec::with_capacity(requests.len());
    // One after another, as the library runs a batch.
    let mut responses = Vec::with_capacity(requests.len());
    for mut r in requests {
        let prepared = http.documents.prepare(&mut r, settings.max_fields, settings.max_depth);
        let (ty, name) = if prepared.is_ok() { operation(&mut r) } else { (None, "-".into()) };
        names.push(name);
        if via_get && ty == Some(OperationType::Mutation) {
            let mut out =
                error_response(StatusCode::METHOD_NOT_ALLOWED, code::BAD_USER_INPUT, "mutations are sent with POST");
            out.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            return out;
        }
        responses.push(match prepared {
            Ok(()) => http.schema.execute(with_request_data(r, &http.app, &caller, &reads, &budget)).await,
            Err(e) => async_graphql::Response::from_errors(vec![e]),
        });
    }
    tracing::Span::current().record("operation", names.join(",").as_str());
    let mut response = if single {
        BatchResponse::Single(responses.pop().unwrap_or_default())
    } else {
        BatchResponse::Batch(responses)
    };
    if let Err(e) = audit_personal_data_reads(&http.app, &caller, &reads).await {
        tracing::error!(error = ?e.code(), "could not audit personal data reads");
    }
    let mut failed_before_execution = false;
    match &mut response {
        BatchResponse::Single(r) => {
            failed_before_execution = r.data == async_graphql::Value::Null
                && !r.errors.is_empty()
                && r.errors.iter().all(|e| e.path.is_empty());
            finish_errors(&mut r.errors, &request_id);
        }
        BatchResponse::Batch(v) => {
            for r in v.iter_mut() {
                finish_errors(&mut r.errors, &request_id);
            }
        }
    }
    let mut out = Json(&response).into_response();
    if media == Media::GraphqlResponse {
        out.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/graphql-response+json; charset=utf-8"));
        if failed_before_execution {
            *out.status_mut() = StatusCode::BAD_REQUEST;
        }
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        out.headers_mut().insert("x-request-id", v);
    }
    out
}

use axum::Json;

/// Ensures every error carries a contract code and internal ones carry the request id.
pub(super) fn finish_errors(errors: &mut [ServerError], request_id: &str) {
    for e in errors {
        let ext = e.extensions.get_or_insert_with(Default::default);
        let code = if let Some(async_graphql::Value::String(c)) = ext.get("code") {
            c.clone()
        } else if e.path.is_empty() {
            // Refused before any field ran: validation, limits, the operation's name.
            ext.set("code", code::GRAPHQL_VALIDATION_FAILED);
            code::GRAPHQL_VALIDATION_FAILED.into()
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
            ext.set("code", code::BAD_USER_INPUT);
            ext.set("fields", field);
            code::BAD_USER_INPUT.into()
        };
        if code == code::INTERNAL_SERVER_ERROR {
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
    budget: &Arc<RequestBudget>,
) -> async_graphql::Request {
    r.data(caller.clone())
        .data(Loaders::new(&app.db))
        .data(ScopeCache::default())
        .data(Arc::clone(reads))
        .data(Arc::clone(budget))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parsed_documents_are_reused_and_their_number_is_bounded() {
        let docs = Documents::default();
        let mut r = async_graphql::Request::new("{ me { id } }");
        docs.prepare(&mut r, 2000, 12).unwrap();
        let mut again = async_graphql::Request::new("{ me { id } }");
        docs.prepare(&mut again, 2000, 12).unwrap();
        assert_eq!(docs.parsed.lock().unwrap().len(), 1);
        let mut broken = async_graphql::Request::new("{ me { id ");
        let e = docs.prepare(&mut broken, 2000, 12).unwrap_err();
        assert_eq!(e.extensions.unwrap().get("code"), Some(&async_graphql::Value::from("GRAPHQL_PARSE_FAILED")));
        assert_eq!(docs.parsed.lock().unwrap().len(), 1, "a text that does not parse is not kept");
        for i in 0..(DOCUMENTS_KEPT * 2 + 7) {
            docs.prepare(&mut async_graphql::Request::new(format!("{{ a{i}: me {{ id }} }}")), 2000, 12).unwrap();
            assert!(docs.parsed.lock().unwrap().len() <= DOCUMENTS_KEPT);
        }
        let long = format!("{{ me {{ id }} }} #{}", "x".repeat(DOCUMENT_MAX_LEN));
        let before = docs.parsed.lock().unwrap().len();
        docs.prepare(&mut async_graphql::Request::new(long), 2000, 12).unwrap();
        assert_eq!(docs.parsed.lock().unwrap().len(), before, "long texts are parsed but not kept");
    }

    #[test]
    fn accept_headers_are_negotiated() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            negotiate(&h)
        };
        assert!(negotiate(&HeaderMap::new()) == Some(Media::Json));
        assert!(with("application/graphql-response+json, application/json;q=0.9") == Some(Media::GraphqlResponse));
        assert!(with("application/json") == Some(Media::Json));
        assert!(with("*/*") == Some(Media::Json));
        assert!(with("text/html").is_none());
    }
}
