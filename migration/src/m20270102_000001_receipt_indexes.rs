//! The list's indexes by receipt end with the id.
//!
//! `(status|channel|recipient_id|category_id|territory_id, received_at)` gave one ordered
//! run per value only up to the instant: appeals that share one (an import stamps a whole
//! file with one instant; 100,000 appeals of the benchmark's ingestion share one) are not in
//! id order within it, so a page ordered by receipt and then id sorted all of them, and a page
//! of several values of such a filter could not be read as merged runs (0.5 → 157 ms for the
//! open statuses by receipt on 1,000,000 appeals). With the id last every index is one
//! ordered run per value for the list's order (`received_at, id`). SQLite ends every index
//! with the rowid, the id, already; the indexes are rebuilt there too so that both backends
//! hold the same definitions.

use sea_orm_migration::prelude::*;

/// The receipt indexes of the list, each `(name, key)`.
pub const RECEIPT_INDEXES: &[(&str, &str)] = &[
    ("ix_appeals_status_received", "status, received_at, id"),
    ("ix_appeals_recipient_received", "recipient_id, received_at, id"),
    ("ix_appeals_category_received", "category_id, received_at, id"),
    ("ix_appeals_territory_received", "territory_id, received_at, id"),
    ("ix_appeals_channel_received", "channel, received_at, id"),
];

/// The indexes of `m20261129_000002_appeals` they replace, in the same order.
const REPLACED: &[&str] =
    &["ix_appeals_status", "ix_appeals_recipient", "ix_appeals_category", "ix_appeals_territory", "ix_appeals_channel"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        // New names, created before the old are dropped: on SQLite another pooled connection
        // may still hold the schema from before a `DROP`, and a `CREATE` of the same name
        // prepared there fails with "already exists" (seen while this was written).
        for ((name, key), old) in RECEIPT_INDEXES.iter().zip(REPLACED) {
            db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {name} ON appeals ({key})")).await?;
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {old}")).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for ((name, key), old) in RECEIPT_INDEXES.iter().zip(REPLACED) {
            let before = key.trim_end_matches(", id");
            db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {old} ON appeals ({before})")).await?;
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}")).await?;
        }
        Ok(())
    }
}
