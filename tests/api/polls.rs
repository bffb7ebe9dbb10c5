//! Polls over HTTP.
