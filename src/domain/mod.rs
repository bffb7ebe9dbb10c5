//! Pure rules: no database, no clock, no I/O. Time is passed in.

/// A typed id of a stored entity: services take and return these where they meet the layers
/// above, so a poll's id cannot be passed where a roadmap's is meant.
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

pub mod access;
pub mod analytics;
pub mod appeal;
pub mod attachments;
pub mod calendar;
pub mod classifier;
pub mod conflicts;
pub mod cur_request;
pub mod deadlines;
pub mod effects;
pub mod escalation;
pub mod events;
pub mod import_format;
/// The VK comments format lives with the other import formats it shares rows and errors with.
pub use import_format::vk_comments;
pub mod labels;
pub mod lifecycle;
pub mod masking;
pub mod meeting;
pub mod memo;
pub mod notices;
pub mod password;
pub mod pii;
pub mod poll;
pub mod quality;
pub mod rating;
pub mod reference;
pub mod retention;
pub mod roadmap;
pub mod schedule;
pub mod similarity;
pub mod stats;
pub mod system_report;
pub mod text;
pub mod webhooks;
pub mod xlsx_guard;

/// An instant at the precision the databases keep (microseconds; PostgreSQL drops the rest):
/// instants the server stamps or takes from a client are held at this precision, so that a
/// value read back equals the one written (an unchanged item stays unchanged, a row is never
/// read back "before" the instant it was written at).
pub fn stored_instant(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}
