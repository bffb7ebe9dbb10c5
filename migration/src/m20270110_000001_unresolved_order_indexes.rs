//! The unresolved appeals in the orders of the list that had no index of their own.
//!
//! A page of the overdue appeals ordered by last change walked `ix_appeals_updated` from the
//! newest change: the newest changes are mostly resolutions, so PostgreSQL read 15,000
//! heap pages of the million-row demo (15 ms) for 50 overdue appeals, and 18,700 (18 ms) for
//! one recipient's. The unresolved appeals are a few percent of all, so an index of them in
//! that order (and in the number's, for the same pages by number) is small, and a page of an
//! SLA state of open appeals walks only open appeals. The unresolved ones by receipt and by
//! deadline have their indexes already (`ix_appeals_unresolved`, `ix_appeals_unresolved_due`).

use sea_orm_migration::prelude::*;

use crate::m20270109_000001_number_order::{create_appeal_indexes, drop_indexes};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The unresolved appeals by last change.
pub const UPDATED: &str = "ix_appeals_unresolved_updated";
/// The unresolved appeals by number (the order of `ix_appeals_number_order`).
pub const NUMBER: &str = "ix_appeals_unresolved_number";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let unresolved = "resolved_at IS NULL";
        create_appeal_indexes(m, &[(UPDATED, "updated_at, id", unresolved), (NUMBER, "{number}, id", unresolved)]).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(m, &[UPDATED, NUMBER]).await
    }
}
