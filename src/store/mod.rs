//! Persistence of the aggregates: what is written, always in the caller's transaction.

pub mod alerts;
pub mod notifications;
pub mod outbox;
