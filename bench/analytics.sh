#!/usr/bin/env bash
# Analytics benchmark on PostgreSQL. Two ways to fill a fresh database with N appeals
# (default 1 000 000):
#   SEED=demo (default): `mcu seed-demo --appeals N` through the server's own bulk path,
#     WITHOUT any manual `mcu rollup compact` afterwards: it shows what the analytics cost
#     right after a bulk load (the load folds what it appended itself). Then `mcu rollup
#     compact` and `mcu rollup verify` with default settings are timed too.
#   SEED=sql: one INSERT … SELECT over 2026, then `mcu rollup rebuild` (rows written behind
#     the server's back need it) and the raw SQL over `appeals` for comparison.
# Then it starts the server and times, over real HTTP (median of RUNS requests each), the
# year-long summary (all fields, and `total` only), heat map, recipient rating, weekly trend,
# growth and the weekly memo. Target: each ≤ 50 ms.
#
#   bench/analytics.sh                 # 1M demo appeals, release build
#   N=50000 MCU_BIN=target/debug/mcu bench/analytics.sh
#   SEED=sql bench/analytics.sh        # the synthetic INSERT … SELECT, with raw SQL timings
#   SKIP_SEED=1 BENCH_DB=mcu_bench bench/analytics.sh   # time the database bench/run.sh seeded
#   ONLY="weeklyMemo growth" RUNS=31 SKIP_SEED=1 BENCH_DB=mcu_bench bench/analytics.sh
#                                      # only these timings (by name), no compaction or verify
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-1000000}"
SEED="${SEED:-demo}"
RUNS="${RUNS:-5}"
PG_ADMIN="${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB="${BENCH_DB:-mcu_bench_analytics}"
PORT="${BENCH_PORT:-18787}"
BASE_URL="${PG_ADMIN%/*}"
export DATABASE_URL="$BASE_URL/$DB"
export MCU_JWT_SECRET="${MCU_JWT_SECRET:-bench-secret-that-is-long-enough-0123456789}"
export MCU_BIND="127.0.0.1:$PORT"
export MCU_LOG_FORMAT=text RUST_LOG="${RUST_LOG:-warn}"

if [ -z "${MCU_BIN:-}" ]; then
  cargo build --release --quiet
  MCU_BIN="${CARGO_TARGET_DIR:-target}/release/mcu"
fi

if [ "${SKIP_SEED:-0}" = 1 ]; then
  echo "== the database $DB as it is: $(psql -Atq "$DATABASE_URL" -c "SELECT count(*) FROM appeals") appeals"
  "$MCU_BIN" migrate >/dev/null
elif [ "$SEED" = demo ]; then
  echo "== fresh database $DB with $N appeals"
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" -c "CREATE DATABASE \"$DB\""
  "$MCU_BIN" migrate >/dev/null
  start=$(date +%s.%N)
  "$MCU_BIN" seed-demo --appeals "$N" | tail -n 3
  echo "seed-demo: $(echo "$(date +%s.%N) - $start" | bc) s (it folds the rollup rows it appended)"
  echo "unfolded ledger rows after the seed: $(psql -Atq "$DATABASE_URL" -c "SELECT
    (SELECT count(*) FROM appeal_stats WHERE NOT folded) + (SELECT count(*) FROM appeal_due_stats WHERE NOT folded)
    + (SELECT count(*) FROM appeal_response_stats WHERE NOT folded)")"
else
echo "== fresh database $DB with $N appeals"
psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" -c "CREATE DATABASE \"$DB\""
"$MCU_BIN" migrate >/dev/null
psql -q -v ON_ERROR_STOP=1 -v n="$N" "$DATABASE_URL" <<'SQL'
INSERT INTO territories (name, population, version, created_at)
  SELECT 'Район ' || g, 10000 + g * 1000, 1, now() FROM generate_series(1, 12) g;
INSERT INTO recipients (name, external, active, version, created_at)
  SELECT 'Отдел ' || g, false, true, 1, now() FROM generate_series(1, 25) g;
WITH c AS (SELECT array_agg(id ORDER BY id) AS ids FROM categories WHERE parent_id IS NOT NULL),
     t AS (SELECT array_agg(id ORDER BY id) AS ids FROM territories),
     r AS (SELECT array_agg(id ORDER BY id) AS ids FROM recipients)
INSERT INTO appeals (number, kind, channel, status, received_at, anonymous, text, search_text,
                     category_id, territory_id, recipient_id, latitude, longitude, high_priority,
                     sla_started_at, due_soon_at, due_at, extension_count, resolved_at, answered_at,
                     completeness, satisfied, reopen_count, duplicate_of_id, version, created_at, updated_at)
SELECT 'B-' || g, 'MESSAGE', (ARRAY['POS', 'INCIDENT', 'GOSPABLIKI', 'EMAIL', 'PHONE'])[1 + g % 5],
       CASE WHEN g % 4 = 0 THEN 'ASSIGNED' ELSE 'ANSWERED' END,
       x.at, false, 'Бенчмарк', 'бенчмарк',
       c.ids[1 + g % array_length(c.ids, 1)], t.ids[1 + g % array_length(t.ids, 1)],
       r.ids[1 + g % array_length(r.ids, 1)], 53.7 + (g % 100) * 0.001, 91.7 + (g % 97) * 0.001, false,
       x.at, x.at + interval '10 days', x.at + interval '14 days', 0,
       CASE WHEN g % 4 <> 0 THEN x.at + (g % 20) * interval '1 day' + interval '3 hours' END,
       CASE WHEN g % 4 <> 0 THEN x.at + (g % 20) * interval '1 day' + interval '3 hours' END,
       CASE WHEN g % 4 = 0 THEN NULL WHEN g % 3 = 0 THEN 'PARTIAL' ELSE 'FULL' END,
       CASE WHEN g % 5 = 0 THEN g % 2 = 0 END, (g % 50 = 0)::int, NULL, 1, x.at, x.at
FROM generate_series(1, :n) g CROSS JOIN c CROSS JOIN t CROSS JOIN r
CROSS JOIN LATERAL (SELECT timestamptz '2025-12-31 17:00:00+00' + (g % 365) * interval '1 day'
                           + (g % 86000) * interval '1 second' AS at) x;
SQL
# Autovacuum would do this soon after a bulk load; index-only scans need the visibility map.
psql -q "$DATABASE_URL" -c "VACUUM ANALYZE appeals"
"$MCU_BIN" rollup rebuild
fi
echo "rollup rows by grain: $(psql -Atq "$DATABASE_URL" -c "SELECT string_agg(grain || ' ' || n, ', ') FROM
  (SELECT grain, count(*) AS n FROM appeal_stats GROUP BY grain ORDER BY grain) g")"

if curl -s -o /dev/null "http://$MCU_BIND/healthz"; then
  echo "port $PORT is taken: set BENCH_PORT" >&2
  exit 1
fi
TOKEN=$("$MCU_BIN" token create --name bench --scope ANALYTICS_READ | sed -n 's/^secret (shown once): //p')
"$MCU_BIN" serve &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
# A first start after an upgrade that changed the rollups rebuilds them before it serves
# (a minute or two at 1M): wait up to ten minutes.
for _ in $(seq 1 3000); do curl -sf "http://$MCU_BIND/readyz" >/dev/null && break; sleep 0.2; done
# Ready is not idle: a start trains the topic classifier in the background (at 1M it reads
# every text: a few seconds of both cores), which made the first timings here (the summary's)
# two to three times slower. Let it finish first.
sleep "${SETTLE:-15}"

PERIOD='{"from":"2026-01-01","to":"2026-12-31"}'
time_query() {
  local name="$1" query="$2" vars="${3:-{\"p\":$PERIOD\}}" times=()
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then
    return 0
  fi
  local body
  body=$(printf '{"query":"%s","variables":%s}' "$query" "$vars")
  local first
  first=$(curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$body" \
    "http://$MCU_BIND/graphql")
  if echo "$first" | grep -q '"errors"'; then
    echo "$name: the query failed: ${first:0:300}" >&2
    return 0
  fi
  for _ in $(seq 1 "$RUNS"); do
    times+=("$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $TOKEN" \
      -H 'Content-Type: application/json' -d "$body" "http://$MCU_BIND/graphql")")
  done
  printf '%-16s median %s s over %s runs\n' "$name" \
    "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")" "$RUNS"
}
if [ "$SEED" = demo ] || [ "${SKIP_SEED:-0}" = 1 ]; then
  # The seed's year ends today: the last 365 local days, and the last full week for the memo.
  PERIOD="{\"from\":\"$(date -d '-365 days' +%F)\",\"to\":\"$(date +%F)\"}"
  WEEK="$(date -d "last monday -7 days" +%F)"
else
  WEEK=2026-11-30
fi
echo "== a year of $N appeals ($PERIOD), the memo of the week of $WEEK; load: $(uptime | sed 's/.*load/load/')"
time_query summary 'query($p:PeriodInput!){analytics{summary(period:$p){total byChannel{key count} byStatus{key count} answered onTimeRate overdueNow medianResponseHours satisfiedRate fullAnswerRate}}}'
time_query heatmap 'query($p:PeriodInput!){analytics{heatmap(period:$p){cells{categoryId territoryId count previousCount per1000}}}}'
time_query recipientRating 'query($p:PeriodInput!){analytics{recipientRating(period:$p){recipient{id} rank total onTimeRate score}}}'
time_query trend 'query($p:PeriodInput!){analytics{trend(period:$p, granularity:WEEK){key points{start count}}}}'
time_query summaryTotal 'query($p:PeriodInput!){analytics{summary(period:$p){total}}}'
time_query ratingMedian 'query($p:PeriodInput!){analytics{recipientRating(period:$p){recipient{id} rank total medianResponseHours}}}'
time_query growth 'query($p:PeriodInput!){analytics{growth(period:$p, groupBy:CATEGORY){key count baseline growth significant drivers{key count}}}}'
time_query weeklyMemo 'query($w:Date!){analytics{weeklyMemo(weekStart:$w){markdown}}}' "{\"w\":\"$WEEK\"}"
# The summary field by field: what the rollups give, what is counted now, the median.
time_query summaryRolled 'query($p:PeriodInput!){analytics{summary(period:$p){total byChannel{key count} byStatus{key count} answered onTimeRate satisfiedRate fullAnswerRate}}}'
time_query summaryNow 'query($p:PeriodInput!){analytics{summary(period:$p){overdueNow dueSoonNow}}}'
time_query summaryMedian 'query($p:PeriodInput!){analytics{summary(period:$p){medianResponseHours}}}'
time_query ratingPOS 'query($p:PeriodInput!){analytics{recipientRating(period:$p, channel:POS){recipient{id} rank total onTimeRate score medianResponseHours}}}'
# Problem points without samples (what the memo and a token read): the memo's week, the year.
time_query pointsWeek 'query($p:PeriodInput!){analytics{problemPoints(period:$p){cell category{id} count}}}' \
  "{\"p\":{\"from\":\"$WEEK\",\"to\":\"$(date -d "$WEEK +6 days" +%F)\"}}"
time_query pointsYear 'query($p:PeriodInput!){analytics{problemPoints(period:$p, minCount:20){cell category{id} count}}}'
time_query conflictsWeek 'query($p:PeriodInput!){analytics{conflicts(period:$p){recipient{id} flagged}}}' \
  "{\"p\":{\"from\":\"$WEEK\",\"to\":\"$(date -d "$WEEK +6 days" +%F)\"}}"
echo "load after: $(uptime | sed 's/.*load/load/')"

if [ "$SEED" = demo ] || [ "${SKIP_SEED:-0}" = 1 ]; then
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  [ -n "${ONLY:-}" ] && exit 0
  echo "== default settings on the loaded database"
  start=$(date +%s.%N); "$MCU_BIN" rollup compact; echo "rollup compact: $(echo "$(date +%s.%N) - $start" | bc) s"
  start=$(date +%s.%N); "$MCU_BIN" rollup verify; echo "rollup verify: $(echo "$(date +%s.%N) - $start" | bc) s"
  exit 0
fi

# The same numbers computed from `appeals` directly, as the server did before the rollups.
Y="received_at >= '2025-12-31 17:00+00' AND received_at < '2026-12-31 17:00+00'"
P="received_at >= '2024-12-31 17:00+00' AND received_at < '2025-12-31 17:00+00'"
HOURS="CAST(EXTRACT(EPOCH FROM (answered_at - received_at)) AS DOUBLE PRECISION) / 3600.0"
raw_query() {
  local name="$1" sql="$2" times=()
  for _ in $(seq 1 "$RUNS"); do
    times+=("$(printf '\\timing on\n%s\n' "$sql" | psql -q "$DATABASE_URL" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' \
      | awk '{ s += $1 } END { printf "%.0f", s }')")
  done
  printf 'raw SQL %-16s median %s ms over %s runs\n' "$name" \
    "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")" "$RUNS"
}
raw_query summary "SELECT channel, kind, status, count(*), count(answered_at), count(*) FILTER (WHERE answered_at <= due_at),
  count(*) FILTER (WHERE satisfied), count(satisfied), count(*) FILTER (WHERE completeness = 'FULL'), count(completeness),
  count(*) FILTER (WHERE reopen_count > 0) FROM appeals WHERE $Y GROUP BY 1, 2, 3;
  SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY $HOURS) FROM appeals WHERE $Y AND answered_at IS NOT NULL;"
raw_query heatmap "SELECT category_id, territory_id, count(*) FROM appeals WHERE duplicate_of_id IS NULL AND $Y GROUP BY 1, 2;
  SELECT category_id, territory_id, count(*) FROM appeals WHERE duplicate_of_id IS NULL AND $P GROUP BY 1, 2;"
raw_query recipientRating "SELECT recipient_id, count(*), count(*) FILTER (WHERE satisfied), count(satisfied),
  count(*) FILTER (WHERE completeness = 'FULL'), count(completeness) FROM appeals WHERE recipient_id IS NOT NULL AND $Y GROUP BY 1;
  SELECT recipient_id, count(*), count(*) FILTER (WHERE resolved_at <= due_at) FROM appeals WHERE recipient_id IS NOT NULL
  AND due_at >= '2025-12-31 17:00+00' AND due_at < '2026-12-31 17:00+00' AND (resolved_at IS NOT NULL OR due_at < now()) GROUP BY 1;
  SELECT recipient_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY $HOURS) FROM appeals
  WHERE recipient_id IS NOT NULL AND answered_at IS NOT NULL AND $Y GROUP BY 1;"
raw_query trend "SELECT date_trunc('week', received_at AT TIME ZONE 'Asia/Krasnoyarsk'), count(*) FROM appeals
  WHERE duplicate_of_id IS NULL AND $Y GROUP BY 1;"
