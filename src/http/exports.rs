//! File exports: `GET /exports/memo/{weekStart}.docx|.xlsx`, the weekly memo as office files.
//! The same Bearer authorization and access rule as `Query.analytics`; errors are JSON with
//! the contract's codes (401 UNAUTHENTICATED, 403 FORBIDDEN, 400 BAD_USER_INPUT, 404 NOT_FOUND).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;

use super::{Http, error_response};
use crate::domain::access::{Denied, Principal};
use crate::error::AppError;
use crate::graphql::analytics::restricted;
use crate::graphql::policy;
use crate::service::analytics::{self, Filter};
use crate::service::{auth, exports};

fn app_error(e: &AppError) -> Response {
    let status = match e {
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::BadInput(_) => StatusCode::BAD_REQUEST,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error_response(status, e.code(), &e.message())
}

/// The caller of an export request, held to the rule of `Query.analytics`.
async fn authorize(http: &Http, headers: &HeaderMap) -> Result<Principal, AppError> {
    let principal = match headers.get(header::AUTHORIZATION) {
        None => Principal::Anonymous,
        Some(v) => {
            let token = v.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).unwrap_or_default();
            if token.is_empty() {
                return Err(AppError::Unauthenticated("the Authorization header must be 'Bearer <token>'".into()));
            }
            auth::authenticate(&http.app, token).await?
        }
    };
    let rule = policy::rule_for("Query.analytics").ok_or_else(|| AppError::Forbidden("no access rule".into()))?;
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
    let principal = match authorize(&http, &headers).await {
        Ok(p) => p,
        Err(e) => return app_error(&e),
    };
    let Ok(week_start) = NaiveDate::parse_from_str(day, "%Y-%m-%d") else {
        return app_error(&AppError::bad("weekStart", "is not a date in the form YYYY-MM-DD"));
    };
    let result: Result<(&'static str, Vec<u8>), AppError> = async {
        let filter = restricted(&principal, Filter::default())?;
        let memo = analytics::weekly_memo(&http.app, week_start, &filter).await?;
        if ext == "docx" {
            Ok((exports::DOCX_TYPE, exports::memo_docx(&memo)?))
        } else {
            Ok((exports::XLSX_TYPE, exports::memo_xlsx(&memo)?))
        }
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
