//! Ended sessions: refresh-token families by revocation.
//!
//! Every request with an access token asks whether the token's refresh-token family has been
//! revoked (`logout`, a reused refresh token). A family gains a row at every refresh and keeps
//! them, so `ix_refresh_family` alone would read all of a long session's rows each time; with
//! `revoked_at` in the key the question is one probe of this index (covering on SQLite, an
//! index-only scan on PostgreSQL) that finds nothing while the session lives.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ix_refresh_family_revoked")
                .table("refresh_tokens")
                .col("family_id")
                .col("revoked_at")
                .if_not_exists()
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP INDEX IF EXISTS ix_refresh_family_revoked").await?;
        Ok(())
    }
}
