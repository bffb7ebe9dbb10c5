//! Database migrations, written once for SQLite and PostgreSQL alike.

pub use sea_orm_migration::prelude::*;

mod m20261129_000001_foundation;
mod m20261129_000002_appeals;
pub mod m20261129_000003_default_rubricator;
mod m20261129_000004_intake;
mod m20261129_000010_roadmaps_polls;
pub mod m20261129_000011_open_queue_index;
pub mod m20261129_000012_appeal_rollups;
mod m20261204_000013_revoked_family_index;
mod m20261204_000014_import_status;
mod m20261204_000015_outbox;
mod m20261204_000016_webhooks;
mod m20261204_000017_memos;
mod m20261205_000020_notifications;
mod m20261210_000001_appeal_tasks;
pub mod m20261213_000001_list_grid;
mod m20261214_000001_folded_rollups;
mod m20261214_000002_response_histograms;
mod m20261216_000001_practices;
mod m20261216_000002_cur_requests;
pub mod m20261220_000001_appeal_answers;
mod m20261220_000002_incident_reaction;
mod m20261221_000001_system_reports;
mod m20261221_000002_meetings;
mod m20261222_000001_reference_lifecycle;
mod m20261223_000001_search_simple;
mod m20261225_000001_audit_filters;
mod m20261226_000001_poll_verification;
mod m20261227_000001_import_skipped;
mod m20261228_000001_attachments;
mod m20261228_000002_attachment_fetches;
mod m20261230_000001_retention;
mod m20261231_000001_retention_days;
mod m20270101_000001_topic_cube;
mod m20270101_000002_unanswered_due_index;
pub mod m20270102_000001_receipt_indexes;
pub mod m20270103_000001_author_repeat_index;
pub mod m20270104_000001_conflict_facts;
pub mod m20270105_000001_open_ledger;
pub mod m20270105_000002_points_index;
pub mod m20270106_000001_point_cells;
pub mod m20270107_000001_before_receipt_indexes;
pub mod m20270108_000001_point_ledger;
pub mod m20270108_000002_resolution_counts;
pub mod m20270109_000001_number_order;
pub mod m20270110_000001_unresolved_order_indexes;
pub mod m20270111_000001_recipient_order_indexes;
pub mod m20270112_000001_number_days;
pub mod m20270113_000001_kind_due_index;
pub mod m20270113_000002_stats_territory_status_index;
pub mod m20270113_000003_recipient_unresolved_due;
pub mod m20270114_000001_unresolved_deadline_order;
pub mod m20270115_000001_repeated_lexemes;
pub mod m20270116_000001_repeated_words;
pub mod m20270117_000001_unresolved_soon_lead;
pub mod m20270117_000002_category_number_index;

/// Applies the project's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_foundation::Migration),
            Box::new(m20261129_000002_appeals::Migration),
            Box::new(m20261129_000003_default_rubricator::Migration),
            Box::new(m20261129_000004_intake::Migration),
            Box::new(m20261129_000010_roadmaps_polls::Migration),
            Box::new(m20261129_000011_open_queue_index::Migration),
            Box::new(m20261129_000012_appeal_rollups::Migration),
            Box::new(m20261204_000013_revoked_family_index::Migration),
            Box::new(m20261204_000014_import_status::Migration),
            Box::new(m20261204_000015_outbox::Migration),
            Box::new(m20261204_000016_webhooks::Migration),
            Box::new(m20261204_000017_memos::Migration),
            Box::new(m20261205_000020_notifications::Migration),
            Box::new(m20261210_000001_appeal_tasks::Migration),
            Box::new(m20261213_000001_list_grid::Migration),
            Box::new(m20261214_000001_folded_rollups::Migration),
            Box::new(m20261214_000002_response_histograms::Migration),
            Box::new(m20261216_000001_practices::Migration),
            Box::new(m20261216_000002_cur_requests::Migration),
            Box::new(m20261220_000001_appeal_answers::Migration),
            Box::new(m20261220_000002_incident_reaction::Migration),
            Box::new(m20261221_000001_system_reports::Migration),
            Box::new(m20261221_000002_meetings::Migration),
            Box::new(m20261222_000001_reference_lifecycle::Migration),
            Box::new(m20261223_000001_search_simple::Migration),
            Box::new(m20261225_000001_audit_filters::Migration),
            Box::new(m20261226_000001_poll_verification::Migration),
            Box::new(m20261227_000001_import_skipped::Migration),
            Box::new(m20261228_000001_attachments::Migration),
            Box::new(m20261228_000002_attachment_fetches::Migration),
            Box::new(m20261230_000001_retention::Migration),
            Box::new(m20261231_000001_retention_days::Migration),
            Box::new(m20270101_000001_topic_cube::Migration),
            Box::new(m20270101_000002_unanswered_due_index::Migration),
            Box::new(m20270102_000001_receipt_indexes::Migration),
            Box::new(m20270103_000001_author_repeat_index::Migration),
            Box::new(m20270104_000001_conflict_facts::Migration),
            Box::new(m20270105_000001_open_ledger::Migration),
            Box::new(m20270105_000002_points_index::Migration),
            Box::new(m20270106_000001_point_cells::Migration),
            Box::new(m20270107_000001_before_receipt_indexes::Migration),
            Box::new(m20270108_000001_point_ledger::Migration),
            Box::new(m20270108_000002_resolution_counts::Migration),
            Box::new(m20270109_000001_number_order::Migration),
            Box::new(m20270110_000001_unresolved_order_indexes::Migration),
            Box::new(m20270111_000001_recipient_order_indexes::Migration),
            Box::new(m20270112_000001_number_days::Migration),
            Box::new(m20270113_000001_kind_due_index::Migration),
            Box::new(m20270113_000002_stats_territory_status_index::Migration),
            Box::new(m20270113_000003_recipient_unresolved_due::Migration),
            Box::new(m20270114_000001_unresolved_deadline_order::Migration),
            Box::new(m20270115_000001_repeated_lexemes::Migration),
            Box::new(m20270116_000001_repeated_words::Migration),
            Box::new(m20270117_000001_unresolved_soon_lead::Migration),
            Box::new(m20270117_000002_category_number_index::Migration),
        ]
    }
}
