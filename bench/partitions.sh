#!/usr/bin/env bash
# What partitioning the appeals table by month buys and costs, measured on PostgreSQL with
# N synthetic appeals (default 5,000,000) in two tables of the same shape and indexes: one
# plain, one partitioned by month of `received_at` (the partition key is part of the primary
# key, as PostgreSQL requires). It answers the questions docs/SCALING.md asks: which list
# shapes stay index-only reads, what a lookup by id costs across partitions, how fast a
# month is counted and how fast an old month is dropped (retention).
#
#   bash bench/partitions.sh                 # 5M rows, 24 months, database mcu_partitions
#   ROWS=1000000 MONTHS=12 bash bench/partitions.sh
#
# It works in its own database (dropped and made anew) and touches nothing else. Each query
# runs 5 times; the median of the execution times PostgreSQL reports is printed.
set -euo pipefail
ROWS="${ROWS:-5000000}"
MONTHS="${MONTHS:-24}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
DB="${DB:-mcu_partitions}"

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
q() { psql "$PG/$DB" -v ON_ERROR_STOP=1 -qAt "$@"; }

echo "== building $ROWS appeals over $MONTHS months, twice"
start=$(date +%s)
q <<SQL
CREATE TABLE plain (
  id bigint NOT NULL, number text NOT NULL, kind text NOT NULL, channel text NOT NULL,
  status text NOT NULL, received_at timestamptz NOT NULL, due_at timestamptz NOT NULL,
  category_id bigint, territory_id bigint, recipient_id bigint, answered_at timestamptz,
  text text NOT NULL, PRIMARY KEY (id));
CREATE TABLE parted (LIKE plain) PARTITION BY RANGE (received_at);
ALTER TABLE parted ADD PRIMARY KEY (id, received_at);
DO \$\$
DECLARE m int; lo timestamptz; hi timestamptz;
BEGIN
  FOR m IN 0..$MONTHS - 1 LOOP
    lo := date_trunc('month', now()) - make_interval(months => $MONTHS - 1 - m);
    hi := lo + interval '1 month';
    EXECUTE format('CREATE TABLE parted_%s PARTITION OF parted FOR VALUES FROM (%L) TO (%L)',
                   to_char(lo, 'YYYYMM'), lo, hi);
  END LOOP;
END \$\$;
INSERT INTO plain
SELECT g,
       to_char(r, 'YYYY') || '-' || lpad(g::text, 8, '0'),
       (ARRAY['MESSAGE','INCIDENT','COMPLAINT'])[1 + g % 3],
       (ARRAY['POS','INCIDENT','LETTER','PHONE','RECEPTION','GOSPABLIKI'])[1 + g % 6],
       s,
       r,
       r + interval '30 days',
       1 + g % 200, 1 + g % 60, 1 + g % 40,
       CASE WHEN s IN ('ANSWERED','CLOSED') THEN r + interval '5 days' END,
       'Обращение номер ' || g || ': яма на дороге у дома, просим отремонтировать'
FROM (SELECT g,
             date_trunc('month', now()) - make_interval(months => $MONTHS - 1)
               + (g::double precision / $ROWS) * (now() - (date_trunc('month', now()) - make_interval(months => $MONTHS - 1))) AS r,
             CASE WHEN g % 100 < 6 THEN (ARRAY['NEW','REGISTERED','ASSIGNED','IN_PROGRESS'])[1 + g % 4]
                  WHEN g % 100 < 60 THEN 'CLOSED' ELSE 'ANSWERED' END AS s
      FROM generate_series(1, $ROWS) g) x;
INSERT INTO parted SELECT * FROM plain;
SQL
for t in plain parted; do
  q <<SQL
CREATE UNIQUE INDEX ${t}_number ON $t (number, received_at);
CREATE INDEX ${t}_status_due ON $t (status, due_at, id);
CREATE INDEX ${t}_received ON $t (received_at, id);
CREATE INDEX ${t}_recipient_received ON $t (recipient_id, received_at, id);
CREATE INDEX ${t}_open_due ON $t (due_at, id) WHERE status IN ('NEW','REGISTERED','ASSIGNED','IN_PROGRESS');
ANALYZE $t;
SQL
done
echo "built in $(( $(date +%s) - start )) s"
q -c "SELECT 'plain: ' || pg_size_pretty(pg_total_relation_size('plain'))"
q -c "SELECT 'parted: ' || pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits WHERE inhparent = 'parted'::regclass"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_of() { # table, query with {t}
  local sql="${2//\{t\}/$1}"
  for _ in 1 2 3 4 5; do
    q -c "EXPLAIN (ANALYZE, FORMAT JSON) $sql" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Execution Time"])'
  done | median
}
buffers_of() {
  local sql="${2//\{t\}/$1}"
  q -c "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) $sql" | python3 -c '
import json,sys
p=json.load(sys.stdin)[0]["Plan"]
print(p.get("Shared Hit Blocks",0)+p.get("Shared Read Blocks",0))'
}

mid=$(( ROWS / 2 ))
num=$(q -c "SELECT number FROM plain WHERE id = $mid")
month=$(q -c "SELECT to_char(date_trunc('month', now()) - make_interval(months => GREATEST($MONTHS / 4, 1)), 'YYYY-MM-DD')")
declare -a SHAPES=(
  "one appeal by id|SELECT id, number, status FROM {t} WHERE id = $mid"
  "one appeal by number|SELECT id FROM {t} WHERE number = '$num'"
  "open queue by deadline, 50|SELECT id FROM {t} WHERE status IN ('NEW','REGISTERED','ASSIGNED','IN_PROGRESS') ORDER BY due_at, id LIMIT 50"
  "one status by deadline, 50|SELECT id FROM {t} WHERE status = 'ASSIGNED' ORDER BY due_at, id LIMIT 50"
  "newest first, 50|SELECT id FROM {t} ORDER BY received_at DESC, id DESC LIMIT 50"
  "one recipient, newest first, 50|SELECT id FROM {t} WHERE recipient_id = 7 ORDER BY received_at DESC, id DESC LIMIT 50"
  "a month by status (count)|SELECT status, count(*) FROM {t} WHERE received_at >= '$month' AND received_at < date '$month' + interval '1 month' GROUP BY status"
  "a year by status (count)|SELECT status, count(*) FROM {t} WHERE received_at >= now() - interval '1 year' GROUP BY status"
)
echo
echo "| shape | plain: ms (buffers) | partitioned by month: ms (buffers) |"
echo "|---|---|---|"
for s in "${SHAPES[@]}"; do
  name="${s%%|*}"; sql="${s#*|}"
  echo "| $name | $(time_of plain "$sql") ($(buffers_of plain "$sql")) | $(time_of parted "$sql") ($(buffers_of parted "$sql")) |"
done

echo
old=$(q -c "SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'parted'::regclass ORDER BY 1 LIMIT 1")
t0=$(date +%s%N)
q -c "DELETE FROM plain WHERE received_at < (SELECT min(received_at) FROM plain) + interval '1 month'"
t1=$(date +%s%N)
q -c "ALTER TABLE parted DETACH PARTITION $old" -c "DROP TABLE $old"
t2=$(date +%s%N)
echo "retention, the oldest month: DELETE from plain $(( (t1 - t0) / 1000000 )) ms; DETACH + DROP of a partition $(( (t2 - t1) / 1000000 )) ms"
psql "$PG/postgres" -qc "DROP DATABASE $DB"
