//! sea-orm entities: table shapes only, no GraphQL and no rules.

pub mod api_token;
pub mod audit_log;
pub mod category;
pub mod login_failure;
pub mod recipient;
pub mod refresh_token;
pub mod territory;
pub mod user;
