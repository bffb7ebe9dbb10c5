//! The topic cube of `appeal_stats` (`cube = 'T'`): every dimension but the status; and the
//! recipient cube of `appeal_response_stats` (`cube = 'R'`): response-time histograms per
//! recipient alone.
//!
//! The heat map, growth, trends by group and the rating's counts never look at the status,
//! yet summed the full cube, whose keys the status multiplies; the rating's medians of all
//! channels summed histograms kept per channel and kind. No table changes: the rows are
//! written by the server. Forgetting the rollups' state makes the next start rebuild them
//! from `appeals` with the new cubes (`mcu rollup rebuild` does the same at once).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DELETE FROM rollup_state").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DELETE FROM appeal_stats WHERE cube = 'T'").await?;
        m.get_connection().execute_unprepared("DELETE FROM appeal_response_stats WHERE cube = 'R'").await?;
        Ok(())
    }
}
