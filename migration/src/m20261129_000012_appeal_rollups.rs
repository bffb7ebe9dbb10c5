//! Rollups of appeals for analytics on a region's data.
//!
//! `appeal_stats` holds, per local day (and ISO week, and month: column `grain`) of receipt
//! and per combination of the dimensions the
//! analytics filter and group by, how many appeals there are and how many of them were
//! answered, answered on time, rated, rated satisfied, assessed, assessed FULL and reopened.
//! An appeal is counted once per grain (day, ISO week, month), and at each grain both in the
//! full cube and in the overview cube (column `cube` = `O`) that keeps only channel, kind,
//! status and duplicate, for region-wide sums.
//! `appeal_due_stats` holds, per local day of the running deadline, how many appeals were
//! resolved and how many of those met it (the rating's timeliness).
//!
//! Both are append-only ledgers: every write to an appeal adds rows that take its old
//! contribution away and add its new one, in the same transaction, so concurrent writers
//! never wait on a shared counter row. A periodic compaction sums rows of the same key.
//! `rollup_state` records the time zone the local days were computed in; a server started
//! with a different zone (or on a database that has none yet) rebuilds the rollups.

use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

/// Hours from receipt to answer on PostgreSQL, as the median queries write it (the index
/// below is on this very expression, so the two must stay the same text).
pub const RESPONSE_HOURS_PG: &str =
    "CAST(EXTRACT(EPOCH FROM (answered_at - received_at)) AS DOUBLE PRECISION) / 3600.0";
/// The same on SQLite.
pub const RESPONSE_HOURS_SQLITE: &str = "(julianday(answered_at) - julianday(received_at)) * 24.0";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("appeal_stats")
                .col(big_pk_auto("id"))
                .col(string_len("cube", 1))
                .col(string_len("grain", 1))
                .col(date("day"))
                .col(string("channel"))
                .col(string("kind"))
                .col(string("status"))
                .col(big_integer_null("category_id"))
                .col(big_integer_null("territory_id"))
                .col(big_integer_null("recipient_id"))
                .col(boolean("duplicate"))
                .col(big_integer("total"))
                .col(big_integer("answered"))
                .col(big_integer("answered_on_time"))
                .col(big_integer("satisfied"))
                .col(big_integer("rated"))
                .col(big_integer("full"))
                .col(big_integer("assessed"))
                .col(big_integer("reopened"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_appeal_stats_day")
                .table("appeal_stats")
                .col("cube")
                .col("grain")
                .col("day")
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("appeal_due_stats")
                .col(big_pk_auto("id"))
                .col(string_len("grain", 1))
                .col(date("day"))
                .col(string("channel"))
                .col(big_integer_null("territory_id"))
                .col(big_integer_null("recipient_id"))
                .col(big_integer("resolved"))
                .col(big_integer("met"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_appeal_due_stats_day").table("appeal_due_stats").col("grain").col("day").take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("rollup_state")
                .col(string("name").primary_key())
                .col(string("timezone"))
                .col(big_integer("compacted_rows"))
                .col(timestamp_with_time_zone("built_at"))
                .take(),
        )
        .await?;
        // Answered appeals in order of response time, with the columns the analytics filter
        // by: a median is the middle entry of an index walk (no sort of all answers), overall
        // and per recipient. PostgreSQL reads them index-only.
        let db = m.get_connection();
        let statements: [String; 2] = if db.get_database_backend() == DatabaseBackend::Postgres {
            [
                format!(
                    "CREATE INDEX IF NOT EXISTS ix_appeals_response ON appeals (({RESPONSE_HOURS_PG}), received_at) \
                     INCLUDE (answered_at, channel, kind, category_id, territory_id, recipient_id) \
                     WHERE answered_at IS NOT NULL"
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS ix_appeals_recipient_response ON appeals \
                     (recipient_id, ({RESPONSE_HOURS_PG}), received_at) INCLUDE (answered_at, channel, territory_id) \
                     WHERE answered_at IS NOT NULL AND recipient_id IS NOT NULL"
                ),
            ]
        } else {
            [
                format!(
                    "CREATE INDEX IF NOT EXISTS ix_appeals_response ON appeals (({RESPONSE_HOURS_SQLITE}), received_at) \
                     WHERE answered_at IS NOT NULL"
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS ix_appeals_recipient_response ON appeals \
                     (recipient_id, ({RESPONSE_HOURS_SQLITE}), received_at) \
                     WHERE answered_at IS NOT NULL AND recipient_id IS NOT NULL"
                ),
            ]
        };
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        // Appeals not yet resolved, by receipt and by deadline, with the columns the analytics
        // filter by: "overdue now", "due soon now" and the rating's unresolved overdue appeals
        // change with the clock, so they are counted from these (few) rows, index-only on
        // PostgreSQL.
        let statements: [&str; 2] = if db.get_database_backend() == DatabaseBackend::Postgres {
            [
                "CREATE INDEX IF NOT EXISTS ix_appeals_unresolved ON appeals (received_at) \
                 INCLUDE (due_at, due_soon_at, channel, kind, category_id, territory_id, recipient_id) \
                 WHERE resolved_at IS NULL",
                "CREATE INDEX IF NOT EXISTS ix_appeals_unresolved_due ON appeals (due_at) \
                 INCLUDE (recipient_id, channel, territory_id) WHERE resolved_at IS NULL",
            ]
        } else {
            [
                "CREATE INDEX IF NOT EXISTS ix_appeals_unresolved ON appeals (received_at, due_at, due_soon_at) \
                 WHERE resolved_at IS NULL",
                "CREATE INDEX IF NOT EXISTS ix_appeals_unresolved_due ON appeals (due_at, recipient_id) \
                 WHERE resolved_at IS NULL",
            ]
        };
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for index in [
            "ix_appeals_unresolved",
            "ix_appeals_unresolved_due",
            "ix_appeals_recipient_response",
            "ix_appeals_response",
        ] {
            m.get_connection().execute_unprepared(&format!("DROP INDEX IF EXISTS {index}")).await?;
        }
        for t in ["rollup_state", "appeal_due_stats", "appeal_stats"] {
            m.drop_table(Table::drop().table(t).if_exists().take()).await?;
        }
        Ok(())
    }
}
