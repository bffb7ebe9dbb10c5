//! An incident's first reaction as a fact (issue 18, item 2): the reaction term in force
//! when it was first reacted to (`reaction_due_at`) and the working hours from receipt to the
//! reaction (`reaction_hours`), so that the reaction's on-time rate and median time are
//! counted per period from the rows, over an index of the reacted incidents by receipt.
//!
//! Backfill: the term from the history (`reactionDue` of the `startWork` entry that was the
//! first reaction). Working hours need the production calendar, which lives in the
//! application: incidents reacted to before this version keep `reaction_hours` NULL and are
//! left out of the reaction metrics.

use sea_orm_migration::sea_orm::{DatabaseBackend, Statement};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [timestamp_with_time_zone_null("reaction_due_at"), double_null("reaction_hours")] {
            let mut col = col;
            m.alter_table(Table::alter().table("appeals").add_column(&mut col).take()).await?;
        }
        let db = m.get_connection();
        let backend = db.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT e.appeal_id, e.data FROM appeal_events e \
                 WHERE e.action = 'startWork' AND e.data LIKE '%reactionDue%' ORDER BY e.id",
            ))
            .await?;
        for r in rows {
            let id: i64 = r.try_get("", "appeal_id")?;
            let data: Option<String> = r.try_get("", "data")?;
            let due = data
                .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
                .and_then(|v| v.get("reactionDue")?.as_str()?.parse::<chrono::DateTime<chrono::Utc>>().ok());
            let Some(due) = due else { continue };
            let sql = if backend == DatabaseBackend::Postgres {
                "UPDATE appeals SET reaction_due_at = $1 WHERE id = $2 AND reaction_due_at IS NULL"
            } else {
                "UPDATE appeals SET reaction_due_at = ? WHERE id = ? AND reaction_due_at IS NULL"
            };
            db.execute_raw(Statement::from_sql_and_values(backend, sql, [due.into(), id.into()])).await?;
        }
        let sql = if backend == DatabaseBackend::Postgres {
            "CREATE INDEX IF NOT EXISTS ix_appeals_reaction ON appeals (received_at) \
             INCLUDE (reaction_hours, reacted_at, reaction_due_at, channel, kind, category_id, territory_id, recipient_id) \
             WHERE reaction_hours IS NOT NULL"
        } else {
            "CREATE INDEX IF NOT EXISTS ix_appeals_reaction ON appeals (received_at, reaction_hours) \
             WHERE reaction_hours IS NOT NULL"
        };
        db.execute_unprepared(sql).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP INDEX IF EXISTS ix_appeals_reaction").await?;
        for col in ["reaction_due_at", "reaction_hours"] {
            m.alter_table(Table::alter().table("appeals").drop_column(col).take()).await?;
        }
        Ok(())
    }
}
