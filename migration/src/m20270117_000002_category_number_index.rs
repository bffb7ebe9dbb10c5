//! One category's appeals by number.
//!
//! By receipt a category's page walks its own index (`ix_appeals_category_received`); by
//! number nothing led with the category, so a page of a category's month by number read
//! every appeal of the category received that month and sorted them (2,902 pages, 14–16 ms
//! on the list grid's 1M appeals on PostgreSQL). With this index it walks the category's
//! run from the month's span of numbers (`appeal_number_days`), and a category with its
//! subcategories is merged, one run each, as a recipient's and a status's are.

use sea_orm_migration::prelude::*;

use crate::m20270109_000001_number_order::{create_appeal_indexes, drop_indexes};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One category's appeals by number (the order of `ix_appeals_number_order`).
pub const NUMBER: &str = "ix_appeals_category_number_order";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_appeal_indexes(m, &[(NUMBER, "category_id, {number}, id", "")]).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(m, &[NUMBER]).await
    }
}
