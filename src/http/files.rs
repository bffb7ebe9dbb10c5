//! Downloads of attached files: `GET /files/{id}` and `GET /files/{id}/thumbnail`, under the
//! rule of reading the files of the object they are attached to (Bearer header as for
//! GraphQL), streamed from the file storage in chunks (memory stays flat whatever the size),
//! with single `Range` requests (206, or 416 for a range outside the file).
//!
//! Time limits: the request timeout (`MCU_REQUEST_TIMEOUT_MS`) covers everything up to the
//! response's headers; it does not cover the body, which is streamed afterwards, so the body
//! has its own limit (`MCU_DOWNLOAD_TIMEOUT_MS`): a client that reads slower is cut off and
//! the connection closed, so a slow reader cannot hold a connection and its task for ever.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::exports::app_error;
use super::{Credential, Http, MALFORMED_CREDENTIAL, bearer};
use crate::domain::access::Principal;
use crate::domain::attachments::{RangeRequest, TargetKind, content_disposition, parse_range};
use crate::error::AppError;
use crate::service::{Caller, attachments, audit, auth};

async fn caller(http: &Http, headers: &HeaderMap, peer: SocketAddr) -> Result<Caller, AppError> {
    let principal = match bearer(headers) {
        Credential::Absent => Principal::Anonymous,
        Credential::Bearer(token) => auth::authenticate(&http.app, token).await?,
        Credential::Malformed => return Err(AppError::Unauthenticated(MALFORMED_CREDENTIAL.into())),
    };
    Ok(Caller {
        principal,
        ip: Some(super::client_ip(peer.ip(), headers, &http.app.settings.trusted_proxies).to_string()),
        request_id: None,
        credential_error: None,
    })
}

/// `GET /files/{id}`: the file as stored, with its original name.
pub async fn download(
    State(http): State<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&http, peer, &id, &headers, false).await.unwrap_or_else(|e| app_error(&e))
}

/// `GET /files/{id}/thumbnail`: the JPEG thumbnail of a picture.
pub async fn thumbnail(
    State(http): State<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&http, peer, &id, &headers, true).await.unwrap_or_else(|e| app_error(&e))
}

async fn serve(
    http: &Http,
    peer: SocketAddr,
    id: &str,
    headers: &HeaderMap,
    thumb: bool,
) -> Result<Response, AppError> {
    let caller = caller(http, headers, peer).await?;
    let id = id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| AppError::NotFound("attachment".into()))?;
    let app = &http.app;
    let row = attachments::readable(app, &caller, id).await?;
    if row.target_kind == TargetKind::Appeal.as_str() {
        // An appeal's files are the author's personal data: each read is audited.
        let data = serde_json::json!({ "attachmentId": row.id, "thumbnail": thumb });
        let target = format!("appeal:{}", row.target_id);
        audit::record(&app.db, &caller, app.clock.now(), "read.personalData", Some(target), Some(data)).await?;
    }
    let (key, content_type, name) = if thumb {
        let key = row.thumbnail_key.clone().ok_or_else(|| AppError::NotFound("thumbnail".into()))?;
        (key, "image/jpeg".to_string(), format!("{}.thumbnail.jpg", row.file_name))
    } else {
        (row.object_key.clone(), row.content_type.clone(), row.file_name.clone())
    };
    let size = u64::try_from(row.size).unwrap_or(0);
    let range = if thumb {
        RangeRequest::Whole
    } else {
        parse_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), size)
    };
    let part = match range {
        RangeRequest::Whole => None,
        RangeRequest::Part { first, last } => Some((first, last)),
        RangeRequest::Unsatisfiable => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
    };
    let got = app.storage.get(&key, part).await?;
    let length = part.map_or(got.size, |(a, b)| b - a + 1);
    let deadline = tokio::time::Instant::now() + app.settings.download_timeout;
    let cut = tokio::time::sleep_until(deadline);
    let body = got.stream.map(|c| c.map_err(std::io::Error::other)).take_until(cut).chain(futures_util::stream::once(
        async move {
            if tokio::time::Instant::now() >= deadline {
                Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the download took too long"))
            } else {
                Ok(bytes::Bytes::new())
            }
        },
    ));
    let mut response = Body::from_stream(body).into_response();
    if part.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if !thumb {
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    if let Some((a, b)) = part
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{size}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(response)
}
