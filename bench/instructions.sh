#!/usr/bin/env bash
# What one request costs the server in CPU instructions, counted by valgrind's callgrind
# (instructions, not seconds: the same binary, database and requests give the same count
# whatever else the machine is doing, so two builds compare within about 1%
# where requests/s move by 10-20% from run to run).
#
# The release server runs under callgrind on a PostgreSQL database that `mcu seed-demo`
# filled (SEED=1, or a database not there yet, seeds $APPEALS appeals first). For each shape
# it sends $WARM requests, zeroes the counters, sends $N more one at a time on one
# connection and dumps the counters (`callgrind_control`), then prints the server's
# instructions per request: those spent while an HTTP connection is served
# (`--toggle-collect`), so the background jobs (the weekly memo, the deadline watch) are not
# counted, and PostgreSQL's own work is not either. The shapes are the list page and the
# detail of bench/postgraphile.sh (one district by deadline; one appeal by id) and the floor
# `{ __typename }`. Valgrind does not run the CPU's SHA instructions, so the token check
# (HMAC-SHA-256 in software rounds here) counts more than it costs natively.
#
#   BIN=/path/to/mcu bash bench/instructions.sh
#   SEED=1 APPEALS=20000 BIN=… bash bench/instructions.sh
# Writes $OUT/callgrind.<shape>.out for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=${PG_DB:-mcu_prof}
APPEALS=${APPEALS:-20000}
SEED=${SEED:-0}
N=${N:-200}
WARM=${WARM:-20}
OUT=${OUT:-bench/out}
PORT=${PORT:-18311}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$OUT"
URL="${PG_ADMIN%/*}/$PG_DB"
command -v valgrind >/dev/null || { apt-get update >/dev/null && apt-get install -y valgrind >/dev/null; }
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN="$CARGO_TARGET_DIR/release/mcu"
fi
export MCU_JWT_SECRET=bench-secret-bench-secret-bench-secret-0123
export MCU_ADMIN_PASSWORD=bench-quartz-harbour-51
export MCU_LOG_FORMAT=json RUST_LOG=warn MCU_DB_MAX_CONNECTIONS=4
export DATABASE_URL="$URL?sslmode=disable"
if [ "$SEED" = 1 ] || [ -z "$(psql -X -At "$PG_ADMIN" -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" ]; then
  psql -q -X "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB"
  "$BIN" seed-demo --appeals "$APPEALS" > "$OUT/instructions-seed.txt"
fi
"$BIN" migrate >/dev/null
psql -q -X "$URL" -c "VACUUM ANALYZE"

rm -f "$OUT"/callgrind.server.*
MCU_BIND=127.0.0.1:$PORT valgrind --tool=callgrind --toggle-collect='*handle_connection*' \
  --callgrind-out-file="$OUT/callgrind.server.%p" "$BIN" serve > "$OUT/instructions-server.log" 2>&1 &
VG=$!
trap 'kill $VG 2>/dev/null || true' EXIT
up=0
for _ in $(seq 1 240); do curl -s -o /dev/null "http://127.0.0.1:$PORT/readyz" && { up=1; break; }; sleep 0.5; done
[ "$up" = 1 ] || { echo "no server at port $PORT; see $OUT/instructions-server.log" >&2; exit 1; }
# The background jobs' first pass (the classifier trains on every appeal) is over before the
# first count: the server's CPU time stands still for two seconds.
source bench/cpu.sh
prev=$(cpu_ticks "$VG")
for _ in $(seq 1 900); do
  sleep 2; now=$(cpu_ticks "$VG")
  [ $((now - prev)) -lt 5 ] && break
  prev=$now
done

gql() { # token query → JSON
  curl -s "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' ${1:+-H "authorization: Bearer $1"} \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$2")"
}
TOKEN=$(gql "" 'mutation { login(email: "curator@demo.mcu", password: "orchid-ferry-nimbus-2026") { accessToken } }' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["login"]["accessToken"])')
TERRITORY=$(psql -X -At "$URL" -c "SELECT territory_id FROM appeals WHERE territory_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
DETAIL_ID=$(psql -X -At "$URL" -c "SELECT id FROM appeals WHERE recipient_id IS NOT NULL AND category_id IS NOT NULL AND territory_id IS NOT NULL ORDER BY id LIMIT 1 OFFSET 4321")
FIELDS='number status kind dueAt recipient { name } category { name } territory { name }'

# One shape: python sends its requests one at a time on one connection (each answer must be
# data, not an error) and has callgrind zero the counters before the counted ones and dump
# them after.
measure() { # shape query
  python3 - "$PORT" "$TOKEN" "$2" "$WARM" "$N" "$VG" "$1" <<'PY'
import http.client, json, subprocess, sys
port, token, query, warm, n, pid, shape = sys.argv[1:]
body = json.dumps({"query": query})
headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
c = http.client.HTTPConnection("127.0.0.1", int(port))
def send():
    c.request("POST", "/graphql", body, headers)
    r = c.getresponse(); d = json.loads(r.read())
    assert r.status == 200 and not d.get("errors"), d
for _ in range(int(warm)): send()
subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
for _ in range(int(n)): send()
subprocess.run(["callgrind_control", "-d", shape, pid], check=True, capture_output=True)
PY
  # The newest dump is this shape's (callgrind numbers them, server.<pid>.<part>).
  local f
  f=$(ls -t "$OUT"/callgrind.server.*.* | head -n 1)
  mv "$f" "$OUT/callgrind.$1.out"
  local total
  total=$(callgrind_annotate "$OUT/callgrind.$1.out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
  echo "$1: $((total / N)) instructions per request ($N requests)"
}
echo "mcu $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(psql -X -At "$URL" -c 'SELECT count(*) FROM appeals') appeals"
measure list "query { appeals(first: 50, filter: {territoryId: [\"$TERRITORY\"]}, orderBy: {field: DUE_AT, direction: ASC}) { edges { node { $FIELDS } } } }"
measure detail "query { appeal(id: \"$DETAIL_ID\") { $FIELDS } }"
measure floor "query { __typename }"
