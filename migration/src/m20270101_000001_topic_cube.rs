//! The topic cube of `appeal_stats` (`cube = 'T'`): every dimension but the status.
//!
//! The heat map, growth, trends by group and the rating's counts never look at the status,
//! yet summed the full cube, whose keys the status multiplies about tenfold (a year of the
//! demo's million appeals: hundreds of thousands of rows). No table changes: the rows are
//! written by the server. Forgetting the rollups' state makes the next start rebuild them
//! from `appeals` with the new cube (`mcu rollup rebuild` does the same at once).

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
        Ok(())
    }
}
