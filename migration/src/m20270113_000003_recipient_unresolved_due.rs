//! One recipient's unresolved appeals by deadline.
//!
//! An executor's first questions are how many of its appeals are overdue and which are due
//! first (`recipientId` with `slaState: OVERDUE`, `ON_TIME` or `DUE_SOON`). Those states
//! are of unresolved appeals and move with the clock, so their totals are counted, not
//! summed from the ledger. The recipient's deadline index, `(recipient_id, due_at, id)`,
//! holds every appeal of the recipient: counting its overdue ones read all of its appeals
//! due before now, mostly resolved long ago, and looked each one up to test it (35–52 ms
//! for a recipient with a tenth of the list grid's 200,000 appeals on SQLite; 3.5 ms on
//! PostgreSQL's 1M, which read the unresolved appeals' deadline index and tested the
//! recipient). This index holds only the unresolved appeals, a few percent of all, so such
//! a total is a range of it, and a page of those states by deadline a walk of 51 entries.

use sea_orm_migration::prelude::*;

use crate::m20270109_000001_number_order::{create_appeal_indexes, drop_indexes};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One recipient's unresolved appeals by deadline.
pub const INDEX: &str = "ix_appeals_recipient_unresolved_due";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_appeal_indexes(m, &[(INDEX, "recipient_id, due_at, id", "resolved_at IS NULL")]).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(m, &[INDEX]).await
    }
}
