//! sea-orm entities: table shapes only, no GraphQL and no rules.

pub mod api_token;
pub mod appeal;
pub mod appeal_counter;
pub mod appeal_event;
pub mod audit_log;
pub mod calendar_override;
pub mod category;
pub mod classifier_model;
pub mod import_report;
pub mod login_failure;
pub mod rate_event;
pub mod recipient;
pub mod refresh_token;
pub mod territory;
pub mod user;
