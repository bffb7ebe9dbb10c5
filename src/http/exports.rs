//! File exports: `GET /exports/memo/{weekStart}.docx|.xlsx` (the weekly memo, under the rule
//! of `Query.analytics`), `GET /exports/appeals.xlsx` (the appeal list, under the rule of
//! `Query.appeals`), `GET /exports/audit.xlsx` (the audit trail, under the rule of
//! `Query.auditLog`) and `GET /exports/roadmaps/{id}.docx` (under the rule of `Query.roadmap`). Bearer authorization as for GraphQL; errors are JSON with the contract's
//! codes (401 UNAUTHENTICATED, 403 FORBIDDEN, 400 BAD_USER_INPUT, 404 NOT_FOUND).

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;

use super::{Credential, Http, MALFORMED_CREDENTIAL, bearer, error_response};
use crate::domain::access::{Denied, Principal};
use crate::domain::appeal::{CategoryId, RecipientId, TerritoryId};
use crate::error::AppError;
use crate::graphql::policy;
use crate::service::appeal_query::{self, AppealFilter};
use crate::service::documents::memo;
use crate::service::scope::AppealScope;
use crate::service::{Caller, audit, audit_log, auth, exports};

pub(super) fn app_error(e: &AppError) -> Response {
    let status = match e {
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::BadInput(_) => StatusCode::BAD_REQUEST,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    error_response(status, e.code(), &e.message())
}

/// The caller of an export request, held to the access rule of a root field.
async fn authorize(http: &Http, headers: &HeaderMap, field: &str) -> Result<Principal, AppError> {
    let principal = match bearer(headers) {
        Credential::Absent => Principal::Anonymous,
        Credential::Bearer(token) => auth::authenticate(&http.app, token).await?,
        Credential::Malformed => return Err(AppError::Unauthenticated(MALFORMED_CREDENTIAL.into())),
    };
    let rule = policy::rule_for(field).ok_or_else(|| AppError::Forbidden("no access rule".into()))?;
    match rule.check(&principal) {
        Ok(()) => Ok(principal),
        Err(Denied::Unauthenticated) => Err(AppError::Unauthenticated("sign in to use this operation".into())),
        Err(Denied::Forbidden) => Err(AppError::Forbidden("you are not allowed to use this operation".into())),
    }
}

/// `GET /exports/memo/{weekStart}.docx` or `.xlsx`.
pub async fn memo(State(http): State<Http>, Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some((day, ext)) = file.rsplit_once('.') else {
        return app_error(&AppError::NotFound("export".into()));
    };
    if ext != "docx" && ext != "xlsx" {
        return app_error(&AppError::NotFound("export".into()));
    }
    let principal = match authorize(&http, &headers, "Query.analytics").await {
        Ok(p) => p,
        Err(e) => return app_error(&e),
    };
    let Ok(week_start) = NaiveDate::parse_from_str(day, "%Y-%m-%d") else {
        return app_error(&AppError::bad("weekStart", "is not a date in the form YYYY-MM-DD"));
    };
    let result: Result<(&'static str, Vec<u8>), AppError> = async {
        let report = memo::load(&http.app, &principal, week_start).await?;
        // Drawing the charts and zipping the parts is CPU work: off the async workers.
        let docx = ext == "docx";
        tokio::task::spawn_blocking(move || {
            if docx {
                Ok((exports::DOCX_TYPE, memo::docx(&report)?))
            } else {
                Ok((exports::XLSX_TYPE, memo::xlsx(&report)?))
            }
        })
        .await
        .map_err(AppError::internal)?
    }
    .await;
    match result {
        Ok((content_type, bytes)) => {
            let mut response = bytes.into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"memo-{day}.{ext}\"")) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Err(e) => app_error(&e),
    }
}

fn list<T: std::str::FromStr>(q: &HashMap<String, String>, key: &str) -> Result<Vec<T>, AppError> {
    let Some(v) = q.get(key) else { return Ok(Vec::new()) };
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<T>().map_err(|_| AppError::bad(format!("filter.{key}"), format!("'{s}' is not valid"))))
        .collect()
}

fn date(q: &HashMap<String, String>, key: &str) -> Result<Option<NaiveDate>, AppError> {
    q.get(key)
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| AppError::bad(format!("filter.{key}"), "is not a date in the form YYYY-MM-DD"))
        })
        .transpose()
}

/// The appeal list filter from the query string: the names of `AppealFilter`, lists
/// comma-separated (`?status=ASSIGNED,IN_PROGRESS&receivedFrom=2026-11-01`).
fn appeal_filter(q: &HashMap<String, String>) -> Result<AppealFilter, AppError> {
    let ids = |key: &str| -> Result<Vec<i64>, AppError> {
        let v: Vec<i64> = list(q, key)?;
        if v.iter().any(|i| *i <= 0) {
            return Err(AppError::bad(format!("filter.{key}"), "is not a valid id"));
        }
        Ok(v)
    };
    let due_before = q
        .get("dueBefore")
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| AppError::bad("filter.dueBefore", "is not an RFC 3339 instant"))
        })
        .transpose()?;
    Ok(AppealFilter {
        status: list(q, "status")?,
        kind: list(q, "kind")?,
        channel: list(q, "channel")?,
        category_id: ids("categoryId")?.into_iter().map(CategoryId).collect(),
        territory_id: ids("territoryId")?.into_iter().map(TerritoryId).collect(),
        recipient_id: ids("recipientId")?.into_iter().map(RecipientId).collect(),
        sla_state: list(q, "slaState")?,
        received_from: date(q, "receivedFrom")?,
        received_to: date(q, "receivedTo")?,
        due_before,
        search: q.get("search").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
    })
}

/// `GET /exports/appeals.xlsx?…`: the appeal list with its filters as a workbook, under the
/// rule of `Query.appeals` and the caller's row scope; personal data unmasked only for those
/// who handle the appeal, and such reads are audited.
pub async fn appeals(
    State(http): State<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let principal = match authorize(&http, &headers, "Query.appeals").await {
        Ok(p) => p,
        Err(e) => return app_error(&e),
    };
    let result: Result<exports::AppealExport, AppError> = async {
        let filter = appeal_filter(&q)?;
        let app = &http.app;
        let scope = AppealScope::of(app, &principal).await?;
        let now = app.clock.now();
        let refs = crate::service::reference::snapshot(app).await?;
        let query =
            appeal_query::filtered(app.db.get_database_backend(), &refs, &scope, &filter, app.settings.timezone, now)?;
        let export = exports::appeals_xlsx(&app.db, query, &scope, app.settings.timezone, now).await?;
        if !export.unmasked.is_empty() {
            let caller = Caller {
                principal,
                ip: Some(super::client_ip(peer.ip(), &headers, &http.app.settings.trusted_proxies).to_string()),
                request_id: None,
                credential_error: None,
            };
            let target = format!("appeals:{}", export.unmasked.count());
            let data = serde_json::json!({
                "export": "appeals.xlsx",
                "filter": q,
                "count": export.unmasked.count(),
                "appealIdRanges": export.unmasked.0,
            });
            audit::record(&app.db, &caller, now, "read.personalData", Some(target), Some(data)).await?;
        }
        Ok(export)
    }
    .await;
    match result {
        Ok(export) => workbook_response(export.file, export.rows, "appeals.xlsx"),
        Err(e) => app_error(&e),
    }
}

/// A finished workbook streamed from its temporary file (never held in memory whole), with
/// its row count in `X-Total-Count`.
fn workbook_response(file: std::fs::File, rows: u64, name: &'static str) -> Response {
    let len = file.metadata().map(|m| m.len()).ok();
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    let mut response = axum::body::Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(exports::XLSX_TYPE));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(len) = len {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Ok(v) = HeaderValue::from_str(&rows.to_string()) {
        h.insert("x-total-count", v);
    }
    response
}

/// The audit filter from the query string: the names of `AuditLogFilter`, actions
/// comma-separated (`?actor=user:7&action=changeRoles,createUser&from=2026-12-01`).
fn audit_filter(q: &HashMap<String, String>) -> Result<audit_log::AuditFilter, AppError> {
    let text = |key: &str| q.get(key).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    Ok(audit_log::AuditFilter {
        actor: text("actor").map(|a| audit_log::ActorRef::parse("filter.actor", &a)).transpose()?,
        action: list(q, "action")?,
        target: text("target"),
        target_prefix: text("targetPrefix"),
        from: date(q, "from")?,
        to: date(q, "to")?,
    })
}

/// `GET /exports/audit.xlsx?actor=&action=&target=&targetPrefix=&from=&to=`: the audit trail
/// with its filters as a workbook, newest first, under the rule of `Query.auditLog`.
pub async fn audit_log(
    State(http): State<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let principal = match authorize(&http, &headers, "Query.auditLog").await {
        Ok(p) => p,
        Err(e) => return app_error(&e),
    };
    let result = async {
        let filter = audit_filter(&q)?;
        let app = &http.app;
        let export = audit_log::export_xlsx(&app.db, &filter, app.settings.timezone, u32::MAX).await?;
        // The trail holds who did what from which address: taking it out is itself recorded.
        let caller = Caller {
            principal,
            ip: Some(super::client_ip(peer.ip(), &headers, &app.settings.trusted_proxies).to_string()),
            request_id: None,
            credential_error: None,
        };
        let data = serde_json::json!({ "export": "audit.xlsx", "filter": q, "count": export.rows });
        audit::record(&app.db, &caller, app.clock.now(), "export.auditLog", None, Some(data)).await?;
        Ok::<_, AppError>(export)
    }
    .await;
    match result {
        Ok(export) => workbook_response(export.file, export.rows, "audit.xlsx"),
        Err(e) => app_error(&e),
    }
}

/// `GET /exports/subject.json?contact=&name=` or `subject.docx`: everything about one person
/// (152-ФЗ ст. 14), under the rule of `Query.personalDataSubject` (the service checks the
/// caller again and audits the read). The query string holds the contact: prefer
/// [`subject_post`], which keeps it out of URLs and so out of proxy and access logs.
pub async fn subject(
    State(http): State<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let query =
        crate::service::privacy::SubjectQuery { contact: q.get("contact").cloned(), name: q.get("name").cloned() };
    subject_file(&http, peer, &file, &headers, Ok(query)).await
}

/// Most bytes of the body of a `POST /exports/subject.*` (a contact and a name).
const SUBJECT_BODY_MAX: usize = 16 * 1024;

/// `POST /exports/subject.json` or `subject.docx` with `{"contact": …, "name": …}` as JSON
/// (`application/json`) or as a form (`application/x-www-form-urlencoded`): the same as
/// [`subject`], with the person's contact and name in the body rather than in the URL.
pub async fn subject_post(
    State(http): State<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(file): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let query = subject_body(&headers, &body);
    subject_file(&http, peer, &file, &headers, query).await
}

/// The person asked for in a POST body; `BAD_USER_INPUT` at `body` for another media type, a
/// body too large or not of its media type, or a value that is not a string.
fn subject_body(headers: &HeaderMap, body: &[u8]) -> Result<crate::service::privacy::SubjectQuery, AppError> {
    #[derive(serde::Deserialize)]
    struct Person {
        contact: Option<String>,
        name: Option<String>,
    }
    if body.len() > SUBJECT_BODY_MAX {
        return Err(AppError::bad("body", format!("must be at most {SUBJECT_BODY_MAX} bytes")));
    }
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let person = match media.as_str() {
        "application/json" => serde_json::from_slice::<Person>(body)
            .map_err(|_| AppError::bad("body", "must be a JSON object with the strings contact and name"))?,
        "application/x-www-form-urlencoded" => {
            let mut p = Person { contact: None, name: None };
            for (k, v) in url::form_urlencoded::parse(body) {
                match k.as_ref() {
                    "contact" => p.contact = Some(v.into_owned()),
                    "name" => p.name = Some(v.into_owned()),
                    _ => {}
                }
            }
            p
        }
        _ => {
            return Err(AppError::bad(
                "body",
                "send the contact and name as application/json or application/x-www-form-urlencoded",
            ));
        }
    };
    Ok(crate::service::privacy::SubjectQuery { contact: person.contact, name: person.name })
}

/// The subject export for `GET` and `POST`: the caller is authorized before the request's
/// person is looked at, so a refused caller learns nothing of it.
async fn subject_file(
    http: &Http,
    peer: SocketAddr,
    file: &str,
    headers: &HeaderMap,
    query: Result<crate::service::privacy::SubjectQuery, AppError>,
) -> Response {
    let json = match file {
        "subject.json" => true,
        "subject.docx" => false,
        _ => return app_error(&AppError::NotFound("export".into())),
    };
    let principal = match authorize(http, headers, "Query.personalDataSubject").await {
        Ok(p) => p,
        Err(e) => return app_error(&e),
    };
    let query = match query {
        Ok(q) => q,
        Err(e) => return app_error(&e),
    };
    let app = &http.app;
    let caller = Caller {
        principal,
        ip: Some(super::client_ip(peer.ip(), headers, &app.settings.trusted_proxies).to_string()),
        request_id: None,
        credential_error: None,
    };
    let result = async {
        let via = if json { "subject.json" } else { "subject.docx" };
        let subject = crate::service::privacy::find(app, &caller, &query, via).await?;
        let now = app.clock.now();
        if json {
            let doc = crate::service::privacy::to_json(&subject, now);
            return serde_json::to_vec_pretty(&doc).map_err(AppError::internal);
        }
        let tz = app.settings.timezone;
        tokio::task::spawn_blocking(move || crate::service::privacy::to_docx(&subject, now, tz))
            .await
            .map_err(AppError::internal)?
    }
    .await;
    match result {
        Ok(bytes) if json => {
            let mut response = attachment("application/json", "subject.json", bytes);
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Ok(bytes) => {
            let mut response = attachment(exports::DOCX_TYPE, "subject.docx", bytes);
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => app_error(&e),
    }
}

/// `GET /exports/roadmaps/{id}.docx`: the roadmap as a Word document, under the rule of
/// `Query.roadmap` and for people only: the document names the owner, the approving curator
/// and the responsible officials, which API tokens are not given.
pub async fn roadmap(State(http): State<Http>, Path(file): Path<String>, headers: HeaderMap) -> Response {
    match authorize(&http, &headers, "Query.roadmap").await {
        Ok(Principal::User(_)) => {}
        Ok(_) => return app_error(&AppError::Forbidden("the roadmap document names people: staff only".into())),
        Err(e) => return app_error(&e),
    }
    let Some(id) = file.strip_suffix(".docx").and_then(|n| n.parse::<i64>().ok()).filter(|n| *n > 0) else {
        return app_error(&AppError::NotFound("roadmap".into()));
    };
    match crate::service::documents::roadmap::export_docx(&http.app, id).await {
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
        Err(e) => app_error(&e),
    }
}

/// `GET /exports/memos/{id}.docx` or `.xlsx`: a stored weekly memo, as generated, under the
/// rule of `Query.memos`.
pub async fn stored_memo(State(http): State<Http>, Path(file): Path<String>, headers: HeaderMap) -> Response {
    let principal = match authorize(&http, &headers, "Query.memos").await {
        Ok(p) => p,
        Err(e) => return app_error(&e),
    };
    let Some((id, ext)) = file.rsplit_once('.') else {
        return app_error(&AppError::NotFound("memo".into()));
    };
    let Some(id) = id.parse::<i64>().ok().filter(|n| *n > 0) else {
        return app_error(&AppError::NotFound("memo".into()));
    };
    if ext != "docx" && ext != "xlsx" {
        return app_error(&AppError::NotFound("memo".into()));
    }
    let caller = Caller { principal, ..Caller::default() };
    let memo = match crate::service::memos::get(&http.app, &caller, id).await {
        Ok(m) => m,
        Err(e) => return app_error(&e),
    };
    let (content_type, bytes) =
        if ext == "docx" { (exports::DOCX_TYPE, memo.docx) } else { (exports::XLSX_TYPE, memo.xlsx) };
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"memo-{}.{ext}\"", memo.week_start)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// `GET /exports/cur-materials/{id}.docx`: the document of a material sent to the regional
/// centre (a stored memo as generated, or a roadmap as of now), under the rule of
/// `Query.curRequest`: the material was sent on purpose, so the ЦУР's token reads it.
pub async fn cur_material(State(http): State<Http>, Path(file): Path<String>, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(&http, &headers, "Query.curRequest").await {
        return app_error(&e);
    }
    let Some(id) = file.strip_suffix(".docx").and_then(|n| n.parse::<i64>().ok()).filter(|n| *n > 0) else {
        return app_error(&AppError::NotFound("material".into()));
    };
    let bytes = match crate::service::cur_requests::material_docx(&http.app, id).await {
        Ok(b) => b,
        Err(e) => return app_error(&e),
    };
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(exports::DOCX_TYPE));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"material-{id}.docx\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// Splits `{id}.{ext}` with a positive id and one of `exts`.
fn id_and_ext<'a>(file: &'a str, exts: &[&str]) -> Option<(i64, &'a str)> {
    let (id, ext) = file.rsplit_once('.')?;
    let id = id.parse::<i64>().ok().filter(|n| *n > 0)?;
    exts.contains(&ext).then_some((id, ext))
}

fn attachment(content_type: &'static str, name: &str, bytes: Vec<u8>) -> Response {
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// `GET /exports/system-reports/{id}.docx` or `.xlsx`: a stored system report rendered from
/// its stored figures, under the rule of `Query.systemReport` (ANALYTICS_READ tokens too).
pub async fn system_report(State(http): State<Http>, Path(file): Path<String>, headers: HeaderMap) -> Response {
    let principal = match authorize(&http, &headers, "Query.systemReport").await {
        Ok(p) => p,
        Err(e) => return app_error(&e),
    };
    let Some((id, ext)) = id_and_ext(&file, &["docx", "xlsx"]) else {
        return app_error(&AppError::NotFound("report".into()));
    };
    let caller = Caller { principal, ..Caller::default() };
    let result = async {
        let report = crate::service::system_reports::get(&http.app, &caller, id).await?;
        crate::service::system_reports::file(&http.app, &report, ext == "xlsx").await
    }
    .await;
    match result {
        Ok(bytes) => {
            let content_type = if ext == "xlsx" { exports::XLSX_TYPE } else { exports::DOCX_TYPE };
            attachment(content_type, &format!("system-report-{id}.{ext}"), bytes)
        }
        Err(e) => app_error(&e),
    }
}

/// `GET /exports/meetings/{id}-agenda.docx` or `{id}-minutes.docx` (a held meeting): under the
/// rule of `Query.meeting` (people only: the documents name the participants).
pub async fn meeting(State(http): State<Http>, Path(file): Path<String>, headers: HeaderMap) -> Response {
    let principal = match authorize(&http, &headers, "Query.meeting").await {
        Ok(p) => p,
        Err(e) => return app_error(&e),
    };
    let parsed = file.strip_suffix(".docx").and_then(|f| f.rsplit_once('-')).and_then(|(id, which)| {
        let id = id.parse::<i64>().ok().filter(|n| *n > 0)?;
        matches!(which, "agenda" | "minutes").then_some((id, which == "minutes"))
    });
    let Some((id, minutes)) = parsed else {
        return app_error(&AppError::NotFound("meeting".into()));
    };
    let caller = Caller { principal, ..Caller::default() };
    let result = async {
        let doc = crate::service::meetings::document(&http.app, &caller, id).await?;
        if minutes && doc.status != crate::domain::meeting::MeetingStatus::Held {
            return Err(AppError::NotFound("minutes (the meeting is not held)".into()));
        }
        tokio::task::spawn_blocking(move || {
            if minutes {
                crate::service::documents::meeting::minutes_docx(&doc)
            } else {
                crate::service::documents::meeting::agenda_docx(&doc)
            }
        })
        .await
        .map_err(AppError::internal)?
    }
    .await;
    match result {
        Ok(bytes) => {
            let which = if minutes { "minutes" } else { "agenda" };
            attachment(exports::DOCX_TYPE, &format!("meeting-{id}-{which}.docx"), bytes)
        }
        Err(e) => app_error(&e),
    }
}
