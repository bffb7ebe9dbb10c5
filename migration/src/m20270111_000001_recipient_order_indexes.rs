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

use crate::m20270109_000001_number_order::{create_appeal_indexes, drop_indexes};

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
        create_appeal_indexes(m, &[(UPDATED, UPDATED_KEY, ""), (NUMBER, "recipient_id, {number}, id", "")]).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(m, &[UPDATED, NUMBER]).await
    }
}
