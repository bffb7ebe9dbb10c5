#!/usr/bin/env bash
# The project's own benchmark: seeds PostgreSQL with 1,000,000 appeals and SQLite with
# 200,000, serves each with the release build and loads it over real HTTP with wrk:
# a filtered, sorted page of 50 appeals with recipient/category/territory names and SLA
# fields, and one appeal by id with the same fields (the detail: no personal data, three
# names), 16 concurrent connections. Prints for each requests/s, p50/p99 latency, SQL statements
# per request (from /metrics), CPU time per request (server, PostgreSQL; from /proc), the
# server's peak RSS, the same page as raw SQL, and the
# ingestion throughput (INGEST_BATCHES batches of 1,000 items through ingestAppeals) and
# the import of a generated ПОС XLSX of IMPORT_ROWS rows with `mcu import`.
#
#   bash bench/run.sh                 # both backends
#   BACKENDS=sqlite APPEALS_SQLITE=50000 DURATION=10s bash bench/run.sh
#   SKIP_SEED=1 BACKENDS=postgres bash bench/run.sh   # reuse the database of the last run
#   SHAPES=detail INGEST_BATCHES=0 IMPORT_ROWS=0 bash bench/run.sh   # only the detail
#
# Needs wrk (apt-get install wrk; installed here when missing and apt is available) and,
# for PostgreSQL, a server at 127.0.0.1:5432 where user postgres may create databases.
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS=${BACKENDS:-"postgres sqlite"}
APPEALS_PG=${APPEALS_PG:-1000000}
APPEALS_SQLITE=${APPEALS_SQLITE:-200000}
DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-16}
PORT=${PORT:-18090}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
# The benchmark database (several checkouts on one machine give each its own).
PG_DB=${PG_DB:-mcu_bench}
OUT=${OUT:-bench/out}
IMPORT_ROWS=${IMPORT_ROWS:-100000}
INGEST_BATCHES=${INGEST_BATCHES:-100}
SKIP_SEED=${SKIP_SEED:-0}
# What is loaded: `list` (the page of 50) and/or `detail` (one appeal by id).
SHAPES=${SHAPES:-"list detail"}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$OUT"

if ! command -v wrk >/dev/null; then
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
# BIN: a server binary built beforehand (e.g. two builds compared on one database);
# otherwise the release build of this checkout.
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN="$CARGO_TARGET_DIR/release/mcu"
fi
export MCU_JWT_SECRET=bench-secret-bench-secret-bench-secret-0123
export MCU_ADMIN_PASSWORD=bench-quartz-harbour-51
export MCU_BIND=127.0.0.1:$PORT
export MCU_LOG_FORMAT=json RUST_LOG=warn
export MCU_DB_MAX_CONNECTIONS=16
# /metrics answers only with its token.
export MCU_METRICS_TOKEN=bench-metrics-token-0123456789

LIST_QUERY='query { appeals(first: 50, filter: {status: [ASSIGNED, IN_PROGRESS], channel: [POS, INCIDENT]}, orderBy: {field: DUE_AT, direction: ASC}) { edges { node { number status kind dueAt slaState recipient { name } category { name } territory { name } } } } }'
# The detail: {ID} is replaced by the first appeal of the list page.
DETAIL_QUERY='query { appeal(id: "{ID}") { number status kind dueAt slaState recipient { name } category { name } territory { name } } }'
RAW_SQL="SELECT a.number, a.status, a.kind, a.due_at, a.due_soon_at, a.resolved_at, r.name, c.name, t.name FROM appeals a LEFT JOIN recipients r ON r.id = a.recipient_id LEFT JOIN categories c ON c.id = a.category_id LEFT JOIN territories t ON t.id = a.territory_id WHERE a.status IN ('ASSIGNED','IN_PROGRESS') AND a.channel IN ('POS','INCIDENT') ORDER BY a.due_at, a.id LIMIT 50"

# cpu_ticks PID, postgres_ticks.
source bench/cpu.sh

metric() { curl -s -H "authorization: Bearer $MCU_METRICS_TOKEN" "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

# Loads one query shape with wrk and prints its figures.
load_shape() {
  local name=$1 shape=$2 query=$3 token=$4 pid=$5
  echo "-- $name $shape: $query"
  python3 - "$token" "$query" > "$OUT/$name-$shape.lua" <<'PY'
import json, sys
token, query = sys.argv[1], sys.argv[2]
print('wrk.method = "POST"')
print('wrk.headers["Content-Type"] = "application/json"')
print(f'wrk.headers["Authorization"] = "Bearer {token}"')
print(f'wrk.body = {json.dumps(json.dumps({"query": query}))}')
PY
  # Warm up, then measure.
  wrk -t2 -c"$CONNECTIONS" -d5s -s "$OUT/$name-$shape.lua" "http://127.0.0.1:$PORT/graphql" >/dev/null
  local s0 r0 c0 p0
  s0=$(metric mcu_sql_statements_total); r0=$(metric mcu_graphql_requests_total)
  c0=$(cpu_ticks "$pid"); p0=$(postgres_ticks)
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$OUT/$name-$shape.lua" "http://127.0.0.1:$PORT/graphql" | tee "$OUT/$name-$shape-wrk.txt"
  local s1 r1 c1 p1
  s1=$(metric mcu_sql_statements_total); r1=$(metric mcu_graphql_requests_total)
  c1=$(cpu_ticks "$pid"); p1=$(postgres_ticks)
  echo "SQL statements per request: $(echo "scale=2; ($s1 - $s0) / ($r1 - $r0)" | bc)"
  # Throughput moves with whatever else the machine does; CPU time per request is steadier.
  local tick_ms=$((1000 / $(getconf CLK_TCK)))
  local per_request="server $(echo "scale=2; ($c1 - $c0) * $tick_ms / ($r1 - $r0)" | bc) ms"
  if [ "$name" = postgres ]; then
    per_request="$per_request, PostgreSQL $(echo "scale=2; ($p1 - $p0) * $tick_ms / ($r1 - $r0)" | bc) ms"
  fi
  echo "CPU per request: $per_request"
  echo "server peak RSS: $(awk '/VmHWM/ { printf "%.0f MB", $2 / 1024 }' /proc/$pid/status)"
  local check
  check=$(curl -s "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' -H "authorization: Bearer $token" \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$query")" | python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(len(d["appeals"]["edges"]), "rows") if "appeals" in d else print("appeal", d["appeal"]["number"], d["appeal"]["recipient"])')
  echo "answer: $check"
}

run_case() {
  local name=$1 url=$2 n=$3
  echo "== $name: $n appeals"
  export DATABASE_URL=$url
  if [ "$SKIP_SEED" != 1 ]; then
    # Into a file: `| head -n 1` closed the pipe while the seeder still wrote (a panic).
    "$BIN" seed-demo --appeals "$n" > "$OUT/$name-seed.txt"
    head -n 1 "$OUT/$name-seed.txt"
  fi
  "$BIN" serve > "$OUT/$name-server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.5; done
  local token
  token=$(curl -s "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' \
    -d '{"query":"mutation { login(email: \"curator@demo.mcu\", password: \"orchid-ferry-nimbus-2026\") { accessToken } }"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["login"]["accessToken"])')
  local first_id
  first_id=$(curl -s "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' -H "authorization: Bearer $token" \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1].replace("number status", "id number status")}))' "$LIST_QUERY")" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["appeals"]["edges"][0]["node"]["id"])')
  local shape
  for shape in $SHAPES; do
    local query=$LIST_QUERY
    [ "$shape" = detail ] && query=${DETAIL_QUERY/\{ID\}/$first_id}
    load_shape "$name" "$shape" "$query" "$token" "$pid"
  done
  if [ "$INGEST_BATCHES" -gt 0 ]; then
    local ingest_token
    ingest_token=$("$BIN" token create --name bench --scope APPEALS_INGEST | awk '/secret/ { print $NF }')
    python3 bench/ingest.py "http://127.0.0.1:$PORT" "$ingest_token" "$INGEST_BATCHES"
    echo "server peak RSS after ingestion: $(awk '/VmHWM/ { printf "%.0f MB", $2 / 1024 }' /proc/$pid/status)"
  fi
  kill -TERM "$pid"; wait "$pid" || true
  if [ "$IMPORT_ROWS" -gt 0 ]; then
    [ -f "$OUT/pos-$IMPORT_ROWS.xlsx" ] || {
      python3 -c "import openpyxl" 2>/dev/null || pip install -q openpyxl
      python3 bench/gen_pos_xlsx.py "$OUT/pos-$IMPORT_ROWS.xlsx" "$IMPORT_ROWS"
    }
    echo "import of a ПОС XLSX with $IMPORT_ROWS rows ($(du -h "$OUT/pos-$IMPORT_ROWS.xlsx" | cut -f1)):"
    /usr/bin/time -f "  peak RSS %M KB" "$BIN" import --create-missing --format pos-xlsx "$OUT/pos-$IMPORT_ROWS.xlsx"
  fi
}

raw_pg() {
  local url=$1
  echo "raw SQL (PostgreSQL, 50 runs, median):"
  python3 - "$url" "$RAW_SQL" <<'PY'
import statistics, subprocess, sys, re
url, sql = sys.argv[1], sys.argv[2]
script = "\\timing on\n" + (sql + ";\n") * 50
out = subprocess.run(["psql", "-q", "-X", url], input=script, capture_output=True, text=True).stdout
times = [float(m) for m in re.findall(r"Time: ([0-9.]+) ms", out)]
print(f"  median {statistics.median(times[5:]):.2f} ms over {len(times) - 5} runs")
PY
}

raw_sqlite() {
  local file=$1
  echo "raw SQL (SQLite, 50 runs, median):"
  python3 - "$file" "$RAW_SQL" <<'PY'
import sqlite3, statistics, sys, time
db = sqlite3.connect(sys.argv[1])
times = []
for _ in range(55):
    t = time.perf_counter(); rows = db.execute(sys.argv[2]).fetchall(); times.append((time.perf_counter() - t) * 1000)
print(f"  median {statistics.median(times[5:]):.2f} ms, {len(rows)} rows")
PY
}

for backend in $BACKENDS; do
  case $backend in
    postgres)
      if [ "$SKIP_SEED" != 1 ]; then
        psql -q -X "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB"
      fi
      # Loopback: TLS would only cost CPU on both ends (a fifth of the server's time when measured).
      url="${PG_ADMIN%/*}/$PG_DB?sslmode=disable"
      run_case postgres "$url" "$APPEALS_PG"
      raw_pg "$url"
      ;;
    sqlite)
      [ "$SKIP_SEED" = 1 ] || rm -f "$OUT"/bench.db*
      run_case sqlite "sqlite://$OUT/bench.db?mode=rwc" "$APPEALS_SQLITE"
      raw_sqlite "$OUT/bench.db"
      ;;
  esac
done
