#!/usr/bin/env bash
# Mixed load with hostile requests at the same time (issue 14): the release build on a fresh
# SQLite file (or PostgreSQL with BACKEND=postgres) with demo data, 16 clients reading and
# writing for 60 s while bench/hostile.py sends hostile requests and probes /healthz.
#
#   bash bench/hostile.sh
#   BACKEND=postgres DURATION=60 CLIENTS=16 bash bench/hostile.sh
#   HOSTILE_FILES=a.xlsx,b.xlsx bash bench/hostile.sh   # other files to upload in the loop
#                                   (default: the three XLSX bombs of bench/bombs.py)
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${BACKEND:-sqlite}
PORT=${PORT:-18091}
APPEALS=${APPEALS:-20000}
OUT=${OUT:-bench/out}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$OUT"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/mcu"
export MCU_JWT_SECRET=bench-secret-bench-secret-bench-secret-0123
export MCU_ADMIN_PASSWORD=bench-quartz-harbour-51
export MCU_BIND=127.0.0.1:$PORT MCU_LOG_FORMAT=json RUST_LOG=warn
if [ "$BACKEND" = postgres ]; then
  psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS mcu_hostile' -c 'CREATE DATABASE mcu_hostile' >/dev/null
  export DATABASE_URL="${PG_ADMIN%/*}/mcu_hostile"
else
  rm -f "$OUT"/hostile.db*
  export DATABASE_URL="sqlite://$OUT/hostile.db?mode=rwc"
fi
if [ -z "${HOSTILE_FILES+x}" ]; then
  python3 bench/bombs.py "$OUT/bombs"
  export HOSTILE_FILES="$OUT/bombs/shared.xlsx,$OUT/bombs/farright.xlsx,$OUT/bombs/padded.xlsx"
fi
"$BIN" migrate >/dev/null
"$BIN" seed-demo --appeals "$APPEALS" >/dev/null
ingest=$("$BIN" token create --name hostile --scope APPEALS_INGEST | awk '/secret/ { print $NF }')
"$BIN" > "$OUT/hostile-server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
token=$(curl -s "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' \
  -d '{"query":"mutation { login(email: \"curator@demo.mcu\", password: \"orchid-ferry-nimbus-2026\") { accessToken } }"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["login"]["accessToken"])')
python3 bench/hostile.py "http://127.0.0.1:$PORT" "$token" "$ingest"
echo "server peak RSS: $(awk '/VmHWM/ { print $2 / 1024 " MiB" }' /proc/$server/status)"
kill -0 $server && echo "server still running"
