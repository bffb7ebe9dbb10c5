//! One error type for the whole application and its mapping to client-visible codes.
//!
//! Clients see `extensions.code` from the contract's list; `BAD_USER_INPUT` also carries
//! `extensions.fields: [{path, message}]`. Internal errors are logged with the request id
//! (the tracing span carries it) and reach the client only as `INTERNAL_SERVER_ERROR`.

use async_graphql::{ErrorExtensions, Value};
use sea_orm::{DbErr, SqlErr};

/// An invalid configuration value: which setting and why.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {setting} {why}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub why: String,
}

/// A problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field in the operation's input, e.g. `input.email`.
    pub path: String,
    pub message: String,
}

impl FieldError {
    /// Checks a required text field: not blank and at most `max` characters; a problem is
    /// added to `errors` under `path`.
    pub fn check_text(errors: &mut Vec<Self>, path: &str, text: &str, max: usize) {
        if text.trim().is_empty() {
            errors.push(Self { path: path.into(), message: "must not be empty".into() });
        } else if text.chars().count() > max {
            errors.push(Self { path: path.into(), message: format!("must be at most {max} characters") });
        }
    }

    /// `Ok` when no field is wrong, else one `BAD_USER_INPUT` listing all of them.
    ///
    /// # Errors
    /// `AppError::BadInput` with `errors` when there are any.
    pub fn finish(errors: Vec<Self>) -> Result<(), AppError> {
        if errors.is_empty() { Ok(()) } else { Err(AppError::BadInput(errors)) }
    }
}

/// Every error a use case can end with.
///
/// It deliberately does not implement `Display`: async-graphql converts any `Display` type
/// into an error without a code, so the only way in is the conversion below.
#[derive(Debug, Clone)]
pub enum AppError {
    Unauthenticated(String),
    Forbidden(String),
    /// What was not found (e.g. "appeal").
    NotFound(String),
    BadInput(Vec<FieldError>),
    Conflict(String),
    RateLimited(String),
    /// The detail is for the log only.
    Internal(String),
    /// The database cannot serve now (full disk, I/O error, connection lost, read-only, gone):
    /// nothing was written. Answered as `INTERNAL_SERVER_ERROR` (503 on the file exports);
    /// the detail is for the log only.
    Unavailable(String),
}

fn summary(fields: &[FieldError]) -> String {
    match fields {
        [one] => format!("{}: {}", one.path, one.message),
        many => format!("{} input fields are invalid", many.len()),
    }
}

/// The message of [`AppError::Unavailable`].
pub const UNAVAILABLE: &str = "the database is unavailable, nothing was saved; try again later";

/// Result of a use case.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// One invalid field.
    pub fn bad(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadInput(vec![FieldError { path: path.into(), message: message.into() }])
    }

    /// An internal failure; the detail is logged here and never shown to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let detail = detail.to_string();
        tracing::error!(error = %detail, "internal error");
        Self::Internal(detail)
    }

    /// The database cannot serve; the detail is logged here and never shown to the client.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        let detail = detail.to_string();
        tracing::error!(error = %detail, "the database is unavailable");
        Self::Unavailable(detail)
    }

    /// The standard "this object changed meanwhile" conflict.
    pub fn stale(what: &str) -> Self {
        Self::Conflict(format!("{what} was changed by someone else; reload it and try again"))
    }

    /// The message shown to the client (never an internal detail).
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated(m) | Self::Forbidden(m) | Self::Conflict(m) | Self::RateLimited(m) => m.clone(),
            Self::NotFound(what) => format!("{what} not found"),
            Self::BadInput(fields) => summary(fields),
            Self::Internal(_) => "internal server error".into(),
            Self::Unavailable(_) => UNAVAILABLE.into(),
        }
    }

    /// The contract's code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => code::UNAUTHENTICATED,
            Self::Forbidden(_) => code::FORBIDDEN,
            Self::NotFound(_) => code::NOT_FOUND,
            Self::BadInput(_) => code::BAD_USER_INPUT,
            Self::Conflict(_) => code::CONFLICT,
            Self::RateLimited(_) => code::RATE_LIMITED,
            Self::Internal(_) | Self::Unavailable(_) => code::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Every `extensions.code` a client can receive (the contract's codes), in one place.
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const CONFLICT: &str = "CONFLICT";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
    /// The document could not be read (syntax, nesting, encoding, a malformed request body).
    pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    /// The document was read but does not fit the schema or the limits.
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    /// An automatic persisted query's hash the server has not stored yet (Apollo's protocol).
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
}

impl From<DbErr> for AppError {
    fn from(e: DbErr) -> Self {
        if is_unavailable(&e) {
            return Self::unavailable(e);
        }
        match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                Self::Conflict("an object with the same unique value already exists".into())
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                Self::bad("input", "refers to an object that does not exist")
            }
            _ => Self::internal(e),
        }
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(e: AppError) -> Self {
        let code = e.code();
        async_graphql::Error::new(e.message()).extend_with(|_, ext| {
            ext.set("code", code);
            if let AppError::BadInput(fields) = &e {
                let list: Vec<Value> = fields
                    .iter()
                    .map(|f| {
                        let mut m = async_graphql::indexmap::IndexMap::new();
                        m.insert(async_graphql::Name::new("path"), Value::String(f.path.clone()));
                        m.insert(async_graphql::Name::new("message"), Value::String(f.message.clone()));
                        Value::Object(m)
                    })
                    .collect();
                ext.set("fields", Value::List(list));
            }
        })
    }
}

/// Whether a database error means the storage cannot serve (rather than a mistake in the
/// request or the program): on SQLite a full disk or page cap (`SQLITE_FULL`), an I/O error,
/// a read-only or unopenable file; on PostgreSQL a lost or refused connection, a database
/// that does not exist (any more), a read-only one, a full disk or a server shutting down;
/// on both a pool that gives no connection.
pub fn is_unavailable(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    match e {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(x))
        | DbErr::Exec(RuntimeErr::SqlxError(x))
        | DbErr::Query(RuntimeErr::SqlxError(x)) => sqlx_unavailable(x),
        DbErr::Conn(_) => true,
        _ => false,
    }
}

fn sqlx_unavailable(e: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match e {
        Error::Io(_)
        | Error::Tls(_)
        | Error::Protocol(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed => true,
        Error::Database(d) => {
            let code = d.code().unwrap_or_default();
            if d.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>().is_some() {
                // Primary result codes (the low byte of an extended one): SQLITE_READONLY 8,
                // SQLITE_IOERR 10, SQLITE_FULL 13, SQLITE_CANTOPEN 14.
                code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 8 | 10 | 13 | 14))
            } else {
                // SQLSTATE classes: 08 connection exception, 53 insufficient resources (disk
                // full), 57P operator intervention (shutdown, database dropped), 58 system
                // error (I/O); 3D000 no such database, 25006 read-only transaction.
                ["08", "53", "57P", "58", "3D000", "25006"].iter().any(|p| code.starts_with(p))
            }
        }
        _ => false,
    }
}
