//! Pure rules: no database, no clock, no I/O. Time is passed in.

pub mod access;
pub mod analytics;
pub mod appeal;
pub mod calendar;
pub mod classifier;
pub mod deadlines;
pub mod effects;
pub mod escalation;
pub mod events;
pub mod import_format;
pub mod labels;
pub mod lifecycle;
pub mod masking;
pub mod memo;
pub mod notices;
pub mod password;
pub mod poll;
pub mod quality;
pub mod rating;
pub mod roadmap;
pub mod schedule;
pub mod similarity;
pub mod stats;
pub mod text;
pub mod webhooks;
pub mod xlsx_guard;
