//! One kind's appeals by deadline.
//!
//! The kind had no index. Its shares are large (in the demo a message is 38% of the
//! appeals, an incident 30%, an appeal 32%), so by receipt, number and last change a page
//! of one kind is found soonest by walking the order's index and skipping the other kinds.
//! By deadline it is not: the deadline follows the kind (an incident's reaction comes due
//! first, a message's answer later, an appeal's thirty days after registration), so walking
//! the deadline index upwards crosses the incidents and messages due before the first
//! appeal (41–51 ms and 11 ms for the first page of appeals on the list grid's PostgreSQL
//! 1M and SQLite 200k), and downwards the other way round. With this index a page of one kind by
//! deadline is a walk of 51 entries either way, and several kinds are merged, one run each.

use sea_orm_migration::prelude::*;

use crate::m20270109_000001_number_order::{create_appeal_indexes, drop_indexes};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One kind's appeals by deadline.
pub const KIND_DUE: &str = "ix_appeals_kind_due";
/// The key of [`KIND_DUE`].
pub const KIND_DUE_KEY: &str = "kind, due_at, id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_appeal_indexes(m, &[(KIND_DUE, KIND_DUE_KEY, "")]).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(m, &[KIND_DUE]).await
    }
}
