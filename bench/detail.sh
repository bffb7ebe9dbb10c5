#!/usr/bin/env bash
# The one-appeal detail of mcu alone, as `bench/postgraphile.sh` loads it, to compare builds:
# the server pinned to core 0, `wrk -t1 -c16` on core 1, on the database `bench/run.sh`
# seeds. Prints per run requests/s, p50, and CPU time per request of the server and of all
# PostgreSQL processes (from /proc). Several builds are loaded in turn, RUNS times.
#
#   BINS="/tmp/mcu-before /tmp/mcu-after" RUNS=5 bash bench/detail.sh
#   PG_DB=mcu_bench DURATION=8s BINS=target/release/mcu bash bench/detail.sh
#   QUERY='query { appeals(first: 50) { edges { node { number } } } }' BINS=... bash bench/detail.sh
# (QUERY: another query loaded the same way, e.g. a list page.)
set -euo pipefail
cd "$(dirname "$0")/.."

PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=${PG_DB:-mcu_bench}
DURATION=${DURATION:-8s}
RUNS=${RUNS:-3}
PORT=${PORT:-18401}
OUT=${OUT:-bench/out}
BINS=${BINS:?BINS: the server binaries to compare, separated by spaces}
mkdir -p "$OUT"
command -v wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }

URL="${PG_ADMIN%/*}/$PG_DB"
export DATABASE_URL="$URL?sslmode=disable"
export MCU_JWT_SECRET=bench-secret-bench-secret-bench-secret-0123
export MCU_ADMIN_PASSWORD=bench-quartz-harbour-51
export MCU_LOG_FORMAT=json RUST_LOG=warn MCU_DB_MAX_CONNECTIONS=16 MCU_BIND=127.0.0.1:$PORT
ID=$(psql -X -At "$URL" -c "SELECT id FROM appeals WHERE recipient_id IS NOT NULL AND category_id IS NOT NULL AND territory_id IS NOT NULL ORDER BY id LIMIT 1 OFFSET 4321")
QUERY=${QUERY:-"query { appeal(id: \"$ID\") { number status kind dueAt recipient { name } category { name } territory { name } } }"}

# cpu_ticks PID, postgres_ticks.
source bench/cpu.sh

one_run() { # binary
  taskset -c 0 "$1" serve > "$OUT/detail-server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 120); do curl -s -o /dev/null "http://127.0.0.1:$PORT/readyz" && break; sleep 0.5; done
  # The start-up work is over: the server's CPU time stands still for a second.
  local prev now
  prev=$(cpu_ticks "$pid")
  for _ in $(seq 1 60); do sleep 1; now=$(cpu_ticks "$pid"); [ $((now - prev)) -lt 3 ] && break; prev=$now; done
  local token
  token=$(curl -s "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' \
    -d '{"query":"mutation { login(email: \"curator@demo.mcu\", password: \"orchid-ferry-nimbus-2026\") { accessToken } }"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["login"]["accessToken"])')
  python3 - "$token" "$QUERY" > "$OUT/detail.lua" <<'PY'
import json, sys
print('wrk.method = "POST"')
print('wrk.headers["Content-Type"] = "application/json"')
print(f'wrk.headers["Authorization"] = "Bearer {sys.argv[1]}"')
print(f'wrk.body = {json.dumps(json.dumps({"query": sys.argv[2]}))}')
PY
  taskset -c 1 wrk -t1 -c16 -d2s -s "$OUT/detail.lua" "http://127.0.0.1:$PORT/graphql" >/dev/null
  local c0 p0 c1 p1
  c0=$(cpu_ticks "$pid"); p0=$(postgres_ticks)
  taskset -c 1 wrk -t1 -c16 -d"$DURATION" --latency -s "$OUT/detail.lua" "http://127.0.0.1:$PORT/graphql" > "$OUT/detail-wrk.txt"
  c1=$(cpu_ticks "$pid"); p1=$(postgres_ticks)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local n rps p50 us=$((1000000 / $(getconf CLK_TCK)))
  n=$(grep -o '[0-9]* requests in' "$OUT/detail-wrk.txt" | cut -d' ' -f1)
  rps=$(awk '/Requests\/sec/ { print $2 }' "$OUT/detail-wrk.txt")
  p50=$(awk '$1 == "50%" { print $2 }' "$OUT/detail-wrk.txt")
  grep -q Non-2xx "$OUT/detail-wrk.txt" && echo "$1: some answers were not 200" >&2
  echo "$1 | $rps req/s | p50 $p50 | server $(((c1 - c0) * us / n)) µs | PostgreSQL $(((p1 - p0) * us / n)) µs a request"
}

for _ in $(seq 1 "$RUNS"); do
  for bin in $BINS; do one_run "$bin"; done
done
