//! Use cases over the database, one module per area. Each mutation runs in one transaction
//! together with its audit entry.

pub mod analytics;
pub mod appeal_match;
pub mod appeal_query;
pub mod appeals;
pub mod attachments;
pub mod audit;
pub mod audit_log;
pub mod auth;
pub mod calendar;
pub mod classifier;
pub mod conflicts;
pub mod cur_requests;
pub mod deadlines;
pub mod documents;
pub mod duplicates;
pub mod exports;
pub mod imports;
pub mod intake;
pub mod list_explain;
pub mod mail;
pub mod meetings;
pub mod memos;
pub mod notify;
pub mod polls;
pub mod practices;
pub mod privacy;
pub mod reference;
pub mod roadmaps;
/// The analytics rollups live with the rest of the persistence in [`crate::store`].
pub use crate::store::rollup;
pub mod scope;
pub mod seed;
mod seed_texts;
pub mod system_reports;
pub mod tasks;
pub mod tokens;
pub mod users;
pub mod webhooks;

use crate::domain::access::Principal;

/// Who is calling and from where: the principal plus what the audit trail records.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub principal: Principal,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    /// Set when a bearer credential was sent but refused (expired, revoked, malformed).
    pub credential_error: Option<String>,
}
