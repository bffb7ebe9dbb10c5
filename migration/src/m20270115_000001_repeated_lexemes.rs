//! Superseded by [`crate::m20270116_000001_repeated_words`]; does nothing now.
//!
//! Its first version added `appeals.search_repeated` (the stems an appeal says more than
//! once, as text, written by the store) with a GIN index on PostgreSQL, and filled it for
//! every appeal there was. The words moved to their own table, ranked by a B-tree, in the
//! next migration, which drops the column and its index where this version left them. A
//! database that had not run it yet no longer fills a column (1 min 28 s and a scattered
//! table for the demo's million appeals on PostgreSQL) only for the next step to drop it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
