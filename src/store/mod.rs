//! Persistence of the aggregates, below the services: one row constructor per aggregate and
//! one write path that stores a change together with everything recorded about it (the
//! rollup ledger, the history entry, the audit entry, the outbox row) in the caller's
//! transaction.
//!
//! Services open the transaction and check access; the store never decides who may do what.

pub mod alerts;
pub mod appeals;
pub mod audit;
pub mod batch;
pub mod conflict_facts;
pub mod deliveries;
pub mod notifications;
pub mod outbox;
pub mod privacy;
pub mod reference;
pub mod rollup;
pub mod search;
pub mod tasks;
