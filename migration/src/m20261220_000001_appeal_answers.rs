//! Every answer of an appeal as a fact (issue 18, item 1), and the first answer on the
//! appeal for the analytics.
//!
//! `appeal_answers` holds one row per answer given, in order (`ordinal` 1, 2, …): when it was
//! given, the deadline in force then, whether it met it, its text, its assessment
//! (completeness), the author's rating of it and who gave it. A reopening no longer erases an
//! answer: the appeal's current-answer columns are cleared, the answer row stays.
//!
//! `appeals.first_answered_at`, `first_due_at`, `first_completeness` and `first_satisfied`
//! repeat the first answer on the appeal row, so the rollups (which are computed from one
//! appeal row) count first answers: answered, on time, assessed, FULL, rated, satisfied and
//! the response time. The response-time indexes move to the first answer.
//!
//! Backfill: appeals reopened at least once get their answers from their history (each
//! `answerAppeal` entry is an answer, with the deadline of the latest entry before it that
//! names one, its assessment and rating from the entries that follow it, its text from the
//! reopening that cleared it); every other answered appeal gets one answer from its current
//! columns. The rollups are rebuilt at the next start (the state row is removed).

use std::collections::HashMap;

use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};
use sea_orm_migration::{prelude::*, schema::*};

/// Hours from receipt to the first answer on PostgreSQL, as the median queries write it (the
/// index below is on this very expression, so the two must stay the same text).
pub const FIRST_RESPONSE_HOURS_PG: &str =
    "CAST(EXTRACT(EPOCH FROM (first_answered_at - received_at)) AS DOUBLE PRECISION) / 3600.0";
/// The same on SQLite.
pub const FIRST_RESPONSE_HOURS_SQLITE: &str = "(julianday(first_answered_at) - julianday(received_at)) * 24.0";

#[derive(DeriveMigrationName)]
pub struct Migration;

type Utc = chrono::DateTime<chrono::Utc>;

/// One answer rebuilt from the history.
#[derive(Debug, Default)]
struct Answer {
    at: Option<Utc>,
    due: Option<Utc>,
    on_time: Option<bool>,
    text: Option<String>,
    completeness: Option<String>,
    satisfied: Option<bool>,
    score: Option<i32>,
    author: String,
}

fn json_time(v: &serde_json::Value, key: &str) -> Option<Utc> {
    v.get(key)?.as_str()?.parse::<Utc>().ok()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("appeal_answers")
                .col(big_pk_auto("id"))
                .col(big_integer("appeal_id"))
                .col(integer("ordinal"))
                .col(timestamp_with_time_zone("answered_at"))
                .col(timestamp_with_time_zone("due_at"))
                .col(boolean("on_time"))
                .col(text_null("text"))
                .col(string_null("completeness"))
                .col(boolean_null("satisfied"))
                .col(integer_null("satisfaction_score"))
                .col(string("author"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_appeal_answers_appeal_id")
                        .from("appeal_answers", "appeal_id")
                        .to("appeals", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_appeal_answers")
                .table("appeal_answers")
                .col("appeal_id")
                .col("ordinal")
                .unique()
                .take(),
        )
        .await?;
        // One column per statement: SQLite alters one thing at a time.
        for col in [
            timestamp_with_time_zone_null("first_answered_at"),
            timestamp_with_time_zone_null("first_due_at"),
            string_null("first_completeness"),
            boolean_null("first_satisfied"),
        ] {
            let mut col = col;
            m.alter_table(Table::alter().table("appeals").add_column(&mut col).take()).await?;
        }
        let db = m.get_connection();
        backfill_reopened(db).await?;
        db.execute_unprepared(
            "INSERT INTO appeal_answers (appeal_id, ordinal, answered_at, due_at, on_time, text, completeness, \
             satisfied, satisfaction_score, author) \
             SELECT a.id, 1, a.answered_at, a.due_at, a.answered_at <= a.due_at, a.answer_text, a.completeness, \
             a.satisfied, a.satisfaction_score, \
             COALESCE((SELECT e.actor FROM appeal_events e WHERE e.appeal_id = a.id AND e.action = 'answerAppeal' \
             ORDER BY e.id DESC LIMIT 1), 'system') \
             FROM appeals a WHERE a.answered_at IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM appeal_answers x WHERE x.appeal_id = a.id)",
        )
        .await?;
        db.execute_unprepared(
            "UPDATE appeals SET \
             first_answered_at = (SELECT x.answered_at FROM appeal_answers x WHERE x.appeal_id = appeals.id AND x.ordinal = 1), \
             first_due_at = (SELECT x.due_at FROM appeal_answers x WHERE x.appeal_id = appeals.id AND x.ordinal = 1), \
             first_completeness = (SELECT x.completeness FROM appeal_answers x WHERE x.appeal_id = appeals.id AND x.ordinal = 1), \
             first_satisfied = (SELECT x.satisfied FROM appeal_answers x WHERE x.appeal_id = appeals.id AND x.ordinal = 1) \
             WHERE EXISTS (SELECT 1 FROM appeal_answers x WHERE x.appeal_id = appeals.id)",
        )
        .await?;
        // Medians walk the first answers now.
        let statements: [String; 4] = if db.get_database_backend() == DatabaseBackend::Postgres {
            [
                "DROP INDEX IF EXISTS ix_appeals_response".into(),
                "DROP INDEX IF EXISTS ix_appeals_recipient_response".into(),
                format!(
                    "CREATE INDEX IF NOT EXISTS ix_appeals_first_response ON appeals \
                     (({FIRST_RESPONSE_HOURS_PG}), received_at) \
                     INCLUDE (first_answered_at, channel, kind, category_id, territory_id, recipient_id) \
                     WHERE first_answered_at IS NOT NULL"
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS ix_appeals_recipient_first_response ON appeals \
                     (recipient_id, ({FIRST_RESPONSE_HOURS_PG}), received_at) \
                     INCLUDE (first_answered_at, channel, territory_id) \
                     WHERE first_answered_at IS NOT NULL AND recipient_id IS NOT NULL"
                ),
            ]
        } else {
            [
                "DROP INDEX IF EXISTS ix_appeals_response".into(),
                "DROP INDEX IF EXISTS ix_appeals_recipient_response".into(),
                format!(
                    "CREATE INDEX IF NOT EXISTS ix_appeals_first_response ON appeals \
                     (({FIRST_RESPONSE_HOURS_SQLITE}), received_at) WHERE first_answered_at IS NOT NULL"
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS ix_appeals_recipient_first_response ON appeals \
                     (recipient_id, ({FIRST_RESPONSE_HOURS_SQLITE}), received_at) \
                     WHERE first_answered_at IS NOT NULL AND recipient_id IS NOT NULL"
                ),
            ]
        };
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        // The rollups counted current answers: the next start rebuilds them from first ones.
        db.execute_unprepared("DELETE FROM rollup_state").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for index in ["ix_appeals_first_response", "ix_appeals_recipient_first_response"] {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {index}")).await?;
        }
        for col in ["first_answered_at", "first_due_at", "first_completeness", "first_satisfied"] {
            m.alter_table(Table::alter().table("appeals").drop_column(col).take()).await?;
        }
        m.drop_table(Table::drop().table("appeal_answers").take()).await
    }
}

/// The answers of appeals reopened at least once, from their history.
async fn backfill_reopened(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let current = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id, answered_at, answer_text, completeness, satisfied, satisfaction_score \
             FROM appeals WHERE reopen_count > 0",
        ))
        .await?;
    if current.is_empty() {
        return Ok(());
    }
    type Current = (Option<Utc>, Option<String>, Option<String>, Option<bool>, Option<i32>);
    let mut now: HashMap<i64, Current> = HashMap::new();
    for r in current {
        let id: i64 = r.try_get("", "id")?;
        now.insert(
            id,
            (
                r.try_get("", "answered_at")?,
                r.try_get("", "answer_text")?,
                r.try_get("", "completeness")?,
                r.try_get("", "satisfied")?,
                r.try_get("", "satisfaction_score")?,
            ),
        );
    }
    let events = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT e.appeal_id, e.at, e.actor, e.action, e.data FROM appeal_events e \
             JOIN appeals a ON a.id = e.appeal_id WHERE a.reopen_count > 0 ORDER BY e.appeal_id, e.id",
        ))
        .await?;
    let mut answers: HashMap<i64, Vec<Answer>> = HashMap::new();
    let mut due: HashMap<i64, Utc> = HashMap::new();
    for e in events {
        let appeal: i64 = e.try_get("", "appeal_id")?;
        let at: Utc = e.try_get("", "at")?;
        let actor: String = e.try_get("", "actor")?;
        let action: String = e.try_get("", "action")?;
        let data: Option<String> = e.try_get("", "data")?;
        let data: serde_json::Value = data.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or_default();
        let list = answers.entry(appeal).or_default();
        match action.as_str() {
            "answerAppeal" => {
                let d = due.get(&appeal).copied();
                list.push(Answer {
                    at: Some(at),
                    due: d,
                    on_time: data.get("onTime").and_then(serde_json::Value::as_bool),
                    author: actor,
                    ..Answer::default()
                });
            }
            "assessAnswer" => {
                if let Some(a) = list.last_mut() {
                    a.completeness = data.get("completeness").and_then(|c| c.as_str()).map(str::to_string);
                }
            }
            "recordFeedback" | "submitFeedback" => {
                if let Some(a) = list.last_mut() {
                    a.satisfied = data.get("satisfied").and_then(serde_json::Value::as_bool);
                    a.score = data
                        .get("score")
                        .and_then(serde_json::Value::as_i64)
                        .and_then(|s| <i32 as std::convert::TryFrom<i64>>::try_from(s).ok());
                }
            }
            "reopenAppeal" => {
                if let Some(a) = list.last_mut().filter(|a| a.text.is_none()) {
                    a.text = data.get("previousAnswer").and_then(|t| t.as_str()).map(str::to_string);
                }
            }
            _ => {}
        }
        // The deadline in force from here on: the latest entry that names one (creation,
        // registration, first reaction, extension, reopening).
        if let Some(d) = json_time(&data, "dueAt") {
            due.insert(appeal, d);
        }
    }
    let mut rows: Vec<Vec<Value>> = Vec::new();
    for (appeal, mut list) in answers {
        let Some((answered_at, text, completeness, satisfied, score)) = now.remove(&appeal) else { continue };
        // The answer now on the appeal is the last one: its columns are the truth.
        if let Some(cur) = answered_at {
            match list.last_mut() {
                Some(last) if last.at == Some(cur) => {
                    last.text = text;
                    last.completeness = completeness;
                    last.satisfied = satisfied;
                    last.score = score;
                }
                _ => {}
            }
        }
        for (i, a) in list.into_iter().enumerate() {
            let (Some(at), Some(due)) = (a.at, a.due) else { continue };
            rows.push(vec![
                appeal.into(),
                <i32 as std::convert::TryFrom<usize>>::try_from(i + 1).unwrap_or(i32::MAX).into(),
                at.into(),
                due.into(),
                a.on_time.unwrap_or(at <= due).into(),
                a.text.into(),
                a.completeness.into(),
                a.satisfied.into(),
                a.score.into(),
                a.author.into(),
            ]);
        }
    }
    for row in rows {
        let marks: Vec<String> = (1..=row.len())
            .map(|i| if backend == DatabaseBackend::Postgres { format!("${i}") } else { "?".into() })
            .collect();
        let sql = format!(
            "INSERT INTO appeal_answers (appeal_id, ordinal, answered_at, due_at, on_time, text, completeness, \
             satisfied, satisfaction_score, author) VALUES ({})",
            marks.join(", ")
        );
        db.execute_raw(Statement::from_sql_and_values(backend, sql, row)).await?;
    }
    Ok(())
}
