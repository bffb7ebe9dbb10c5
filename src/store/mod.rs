//! Persistence of the aggregates, below the services: one row constructor per aggregate and
//! one write path that stores a change together with everything recorded about it (the
//! rollup ledger, the history entry, the audit entry, the outbox row) in the caller's
//! transaction.
//!
//! Services open the transaction and check access; the store never decides who may do what.

pub mod alerts;
pub mod appeals;
pub mod audit;
pub mod batch;
pub mod conflict_facts;
pub mod deliveries;
pub mod notifications;
pub mod number_days;
pub mod outbox;
pub mod privacy;
pub mod reference;
pub mod rollup;
pub mod search;
pub mod tasks;

/// The SQL of a claim: `UPDATE {table} SET {set}` of the rows `select_ids` picks (a `SELECT`
/// of their `id`s, ordered and limited), `RETURNING` the `returning` columns, in one
/// statement. On PostgreSQL the picked rows are locked, those another process holds skipped
/// (`FOR UPDATE SKIP LOCKED`), in a `MATERIALIZED` CTE that the update joins by id. Never as
/// `WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`: planned as a semi-join, that subquery can
/// be run again while the outer scan meets rows another process changed, and two outbox
/// dispatchers claiming at once (10,000 dispatched rows, one pending) both ran until the
/// statement timeout, time after time. On SQLite, whose writer excludes every other, the
/// rows are updated `WHERE id IN (…)`.
pub(crate) fn claim_sql(
    backend: sea_orm::DatabaseBackend,
    table: &str,
    set: &str,
    select_ids: &str,
    returning: &[&str],
) -> String {
    if backend == sea_orm::DatabaseBackend::Postgres {
        let returning: Vec<String> = returning.iter().map(|c| format!("{table}.{c}")).collect();
        format!(
            "WITH claimed AS MATERIALIZED ({select_ids} FOR UPDATE SKIP LOCKED) UPDATE {table} SET {set} \
             FROM claimed WHERE {table}.id = claimed.id RETURNING {}",
            returning.join(", ")
        )
    } else {
        format!("UPDATE {table} SET {set} WHERE id IN ({select_ids}) RETURNING {}", returning.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::claim_sql;

    #[test]
    fn a_claim_locks_its_rows_in_a_materialized_cte_on_postgresql_only() {
        let pg =
            claim_sql(sea_orm::DatabaseBackend::Postgres, "t", "n = n + 1", "SELECT id FROM t LIMIT 2", &["id", "n"]);
        assert_eq!(
            pg,
            "WITH claimed AS MATERIALIZED (SELECT id FROM t LIMIT 2 FOR UPDATE SKIP LOCKED) UPDATE t SET n = n + 1 \
             FROM claimed WHERE t.id = claimed.id RETURNING t.id, t.n"
        );
        let sqlite =
            claim_sql(sea_orm::DatabaseBackend::Sqlite, "t", "n = n + 1", "SELECT id FROM t LIMIT 2", &["id", "n"]);
        assert_eq!(sqlite, "UPDATE t SET n = n + 1 WHERE id IN (SELECT id FROM t LIMIT 2) RETURNING id, n");
    }
}
