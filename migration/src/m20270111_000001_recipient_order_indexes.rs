//! One recipient's appeals by last change and by number.
//!
//! An executor sees the appeals of its own recipient only, so each of its lists is a
//! recipient's list; the centre's staff filter by recipient too. By deadline and by receipt
//! such a page walks the recipient's index in that order (`ix_appeals_recipient_due`,
//! `ix_appeals_recipient_received`); by last change and by number nothing led with the
//! recipient. SQLite then read every appeal of the recipient and sorted them (30–52 ms for
//! one with a tenth of the 200,000 appeals of the list grid), and walking the order's index
//! instead would cross the whole table for a small recipient. PostgreSQL chose between the
//! same two by its statistics. With these, a first page is a walk of 51 entries on both, and
//! several recipients (a department and its units) are merged, one run each.

use sea_orm_migration::prelude::*;

use crate::m20270109_000001_number_order::number_order_sql;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One recipient's appeals by last change.
pub const UPDATED: &str = "ix_appeals_recipient_updated";
/// The key of [`UPDATED`].
pub const UPDATED_KEY: &str = "recipient_id, updated_at, id";
/// One recipient's appeals by number (the order of `ix_appeals_number_order`).
pub const NUMBER: &str = "ix_appeals_recipient_number_order";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let postgres = m.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
        let key = number_order_sql(postgres, "number");
        let db = m.get_connection();
        db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {UPDATED} ON appeals ({UPDATED_KEY})")).await?;
        db.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {NUMBER} ON appeals (recipient_id, {key}, id)"))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for index in [UPDATED, NUMBER] {
            m.get_connection().execute_unprepared(&format!("DROP INDEX IF EXISTS {index}")).await?;
        }
        Ok(())
    }
}
