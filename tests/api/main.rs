//! Integration tests: the real server on port 0 over real HTTP, a fresh database per test
//! (SQLite by default; PostgreSQL when `TEST_DATABASE_URL` is set).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc, clippy::format_collect)]

mod bombs;
mod helpers;
mod sdl;
mod smtp;

mod analytics;
mod anonymised;
mod appeal_list;
mod appeals;
mod attachments;
mod audit_log;
mod auth;
mod browser;
mod bulk_insert;
mod cli;
mod clients;
mod conflicts;
mod cur_requests;
mod documents;
mod durability;
mod examples;
mod files;
mod hostile;
mod imports;
mod indexes;
mod intake;
mod layers;
mod limits;
mod mail;
mod mail_delivery;
mod meetings;
mod memos;
mod notifications;
mod outbox;
mod pii_masking;
mod policy;
mod poll_verification;
mod polls;
mod practices;
mod privacy;
mod quality_facts;
mod reference;
mod reference_cache;
mod reference_lifecycle;
mod roadmaps;
mod rollups;
mod schema;
mod search;
mod seed;
mod session_cache;
mod subscription_filters;
mod subscriptions;
mod system_reports;
mod users;
mod vk_comments;
mod watch;
mod webhooks;
