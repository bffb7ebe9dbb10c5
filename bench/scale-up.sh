#!/usr/bin/env bash
# Scale a seeded PostgreSQL database up (issue 20, goal 7): a new database TO made from FROM
# (e.g. the 1M database `mcu seed-demo` filled) holding COPIES more copies of its appeals,
# as if COPIES more towns of the same size wrote over the same year: each copy keeps every
# instant, status, category, territory and recipient of its original, and gets its own
# number, external id and author contact (the contact suffixed, so that an author's repeats
# stay within the copy and the conflicts scale with the appeals). Only the appeals are copied
# (not their history or answers); the rollups and the search index's repeated words are
# rebuilt from them (`mcu rollup rebuild`), as for any rows written behind the server's
# back, and the statistics refreshed.
#
#   FROM=mcu_bench TO=mcu_bench5 COPIES=4 MCU_BIN=target/release/mcu bash bench/scale-up.sh
#
# Then time both with the same binary and compare:
#   SKIP_SEED=1 BENCH_DB=mcu_bench  MCU_BIN=… bash bench/analytics.sh
#   SKIP_SEED=1 BENCH_DB=mcu_bench5 MCU_BIN=… bash bench/analytics.sh
set -euo pipefail
cd "$(dirname "$0")/.."

FROM="${FROM:-mcu_bench}"
TO="${TO:-mcu_bench5}"
COPIES="${COPIES:-4}"
PG_ADMIN="${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
BASE_URL="${PG_ADMIN%/*}"
export DATABASE_URL="$BASE_URL/$TO"
export MCU_JWT_SECRET="${MCU_JWT_SECRET:-bench-secret-that-is-long-enough-0123456789}"
export RUST_LOG="${RUST_LOG:-warn}"
# `mcu rollup rebuild` runs with the server's default settings: its statements run under the
# rebuild's own timeout (goal 5), whatever MCU_DB_STATEMENT_TIMEOUT_MS says.
MCU_BIN="${MCU_BIN:-target/release/mcu}"

start=$(date +%s)
echo "== $TO: a copy of $FROM ($(psql -Atq "$BASE_URL/$FROM" -c "SELECT count(*) FROM appeals") appeals)"
psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS \"$TO\" WITH (FORCE)" -c "CREATE DATABASE \"$TO\" TEMPLATE \"$FROM\""

# Every column the table takes a value for (not the id, not generated ones), with the ones
# a copy changes rewritten.
COLUMNS=$(psql -Atq "$DATABASE_URL" -c "SELECT string_agg(column_name, ',' ORDER BY ordinal_position)
  FROM information_schema.columns WHERE table_name = 'appeals' AND table_schema = 'public'
  AND column_name <> 'id' AND is_generated = 'NEVER'")
SELECT_LIST=$(echo "$COLUMNS" | tr ',' '\n' | sed \
  -e "s/^number$/split_part(number, '-', 1) || '-' || lpad((split_part(number, '-', 2)::bigint + k * 10000000)::text, 8, '0')/" \
  -e "s/^external_id$/external_id || '-' || k/" \
  -e "s/^author_contact$/author_contact || '#' || k/" \
  -e "s/^feedback_code$/NULL/" | paste -sd, -)
for k in $(seq 1 "$COPIES"); do
  t=$(date +%s)
  psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "INSERT INTO appeals ($COLUMNS)
    SELECT $SELECT_LIST FROM (SELECT a.*, $k AS k FROM appeals a WHERE a.number NOT LIKE '%-________') s"
  echo "copy $k: $(( $(date +%s) - t )) s"
done
# Numbers go on after the highest copy in each year.
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "UPDATE appeal_counters c SET last = m.last FROM
  (SELECT split_part(number, '-', 1)::int AS year, max(split_part(number, '-', 2)::bigint) AS last FROM appeals GROUP BY 1) m
  WHERE c.year = m.year AND c.last < m.last"
t=$(date +%s)
psql -q "$DATABASE_URL" -c "VACUUM ANALYZE appeals"
echo "vacuum analyze: $(( $(date +%s) - t )) s"
t=$(date +%s)
"$MCU_BIN" rollup rebuild
echo "rollup rebuild: $(( $(date +%s) - t )) s"
echo "== $TO: $(psql -Atq "$DATABASE_URL" -c "SELECT count(*) FROM appeals") appeals, \
$(psql -Atq "$DATABASE_URL" -c "SELECT pg_size_pretty(pg_database_size(current_database()))"), in $(( $(date +%s) - start )) s"
