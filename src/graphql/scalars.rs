//! Scalars of the contract that async-graphql does not name the same way.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// Description of `DateTime` (the library's own is a note about its Rust type).
pub const DATE_TIME: &str = "An instant: an RFC 3339 date-time with its offset, e.g. \
`2026-12-04T09:30:00+07:00`. Answers are in UTC (`Z`); inputs may have any offset. Show it in \
the municipality's time zone (`serverInfo.timeZone`).";

/// Description of `Upload`.
pub const UPLOAD: &str = "A file sent with the GraphQL multipart request spec (`multipart/form-data`: \
`operations`, `map`, then the file part).";

/// Any JSON value (RFC 8259): an object, an array, a string, a number, a boolean or null.
#[derive(Debug, Clone, PartialEq)]
pub struct Json(pub serde_json::Value);

/// Any JSON value (RFC 8259): its shape is described by the field that returns it.
#[Scalar(name = "JSON", specified_by_url = "https://www.rfc-editor.org/rfc/rfc8259")]
impl ScalarType for Json {
    fn parse(value: Value) -> InputValueResult<Self> {
        value.into_json().map(Json).map_err(|e| InputValueError::custom(format!("not JSON: {e}")))
    }

    fn to_value(&self) -> Value {
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
}
use chrono::NaiveDate;

/// A calendar date `YYYY-MM-DD` in the municipality's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub NaiveDate);

/// A calendar date without a time or a zone, `YYYY-MM-DD` (ISO 8601 / RFC 3339 `full-date`),
/// meant in the municipality's time zone (`serverInfo.timeZone`).
#[Scalar(name = "Date", specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339#section-5.6")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("'{s}' is not a date in the form YYYY-MM-DD"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}
