//! The conflict facts of each appeal, stored.
//!
//! A period's communication conflicts (the weekly memo's section, `analytics.conflicts`)
//! probed `ix_appeals_author_repeat` once for every appeal of the period: a week of the
//! million-row demo year is 16,000 probes, 90–130 ms, the memo's slowest part by far, and
//! growing with the appeals. Two derived columns keep the flags that depend on more than
//! the row's own columns:
//! - `author_repeat`: the same author (folded contact) wrote on the same category within
//!   30 days before;
//! - `escalation`: a social post whose text has a word of escalation (stemmed in the
//!   server, so not expressible in SQL).
//!
//! With them a partial index holds only the appeals that carry a flag (about 1% of them),
//! so a period's conflicts read those and nothing else. The server keeps both columns in
//! step on every write of an appeal; this migration adds them as `false` and clears the
//! rollups' state, so that the next start rebuilds the derived data (rollups and these
//! facts) from the appeals before it serves, as after a change of time zone.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for sql in [
            "ALTER TABLE appeals ADD COLUMN author_repeat BOOLEAN NOT NULL DEFAULT FALSE",
            "ALTER TABLE appeals ADD COLUMN escalation BOOLEAN NOT NULL DEFAULT FALSE",
            "CREATE INDEX IF NOT EXISTS ix_appeals_conflicts ON appeals (received_at) \
             WHERE reopen_count >= 2 OR author_repeat OR escalation",
            "DELETE FROM rollup_state",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for sql in [
            "DROP INDEX IF EXISTS ix_appeals_conflicts",
            "ALTER TABLE appeals DROP COLUMN escalation",
            "ALTER TABLE appeals DROP COLUMN author_repeat",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
