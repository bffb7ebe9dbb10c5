//! GraphiQL served by the server itself, so it works without internet: our page and bootstrap
//! script, and pinned, unmodified production builds of React, ReactDOM and GraphiQL embedded
//! from `assets/graphiql/` (see `assets/graphiql/fetch.sh` for their provenance).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Http;

/// Only this server's own files; styles inline for GraphiQL's editors, fonts as data URIs.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     font-src 'self' data:; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

const PAGE: &str = include_str!("../../assets/graphiql/index.html");

/// Versioned files may be cached for a year; ours are revalidated.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// (path under `/graphiql/`, content type, cache policy, bytes)
const ASSETS: &[(&str, &str, &str, &[u8])] = &[
    (
        "react-18.3.1/react.production.min.js",
        JS,
        IMMUTABLE,
        include_bytes!("../../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom-18.3.1/react-dom.production.min.js",
        JS,
        IMMUTABLE,
        include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    ),
    ("graphiql-3.8.3/graphiql.min.js", JS, IMMUTABLE, include_bytes!("../../assets/graphiql/graphiql.min.js")),
    ("graphiql-3.8.3/graphiql.min.css", CSS, IMMUTABLE, include_bytes!("../../assets/graphiql/graphiql.min.css")),
    ("mcu-graphiql.js", JS, REVALIDATE, include_bytes!("../../assets/graphiql/mcu-graphiql.js")),
    ("mcu-graphiql.css", CSS, REVALIDATE, include_bytes!("../../assets/graphiql/mcu-graphiql.css")),
];

fn disabled() -> Response {
    (StatusCode::NOT_FOUND, "GraphiQL is disabled").into_response()
}

/// The GraphiQL page (`GET /graphql` without a query).
pub fn page(http: &Http) -> Response {
    if !http.app.settings.graphiql {
        return disabled();
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE)),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /graphiql/{*file}`: the page's scripts and styles; 404 when GraphiQL is disabled.
pub async fn asset(State(http): State<Http>, Path(file): Path<String>) -> Response {
    if !http.app.settings.graphiql {
        return disabled();
    }
    let Some(&(_, content_type, cache, bytes)) = ASSETS.iter().find(|(path, ..)| *path == file) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        bytes,
    )
        .into_response()
}
