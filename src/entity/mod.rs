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
pub mod poll;
pub mod poll_answer;
pub mod poll_ballot;
pub mod poll_comment;
pub mod poll_invite;
pub mod poll_option;
pub mod poll_question;
pub mod rate_event;
pub mod recipient;
pub mod refresh_token;
pub mod roadmap;
pub mod roadmap_appeal;
pub mod roadmap_comment;
pub mod roadmap_measure;
pub mod territory;
pub mod user;
