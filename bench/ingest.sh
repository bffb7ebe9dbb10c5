#!/usr/bin/env bash
# Ingestion into a fresh database (PostgreSQL, or SQLite with BACKEND=sqlite), as on the
# first day of a deployment: BATCHES
# batches of 1,000 new items (default 100, i.e. 100,000) through ingestAppeals over real
# HTTP, one batch after another, with the release build. Prints items/s and the server's
# CPU time and peak RSS. Target: ≥ 10,000 items/s.
#
#   bash bench/ingest.sh            # 100 batches
#   BATCHES=20 MCU_BIN=target/release/mcu bash bench/ingest.sh
#   SENDERS=2 bash bench/ingest.sh   # two calls in flight at once, as from two feeds
#   BACKEND=sqlite bash bench/ingest.sh   # into a fresh SQLite file instead
#   SSLMODE=require bash bench/ingest.sh  # the server talks to PostgreSQL over TLS
set -euo pipefail
cd "$(dirname "$0")/.."

BATCHES="${BATCHES:-100}"
PG_ADMIN="${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB="${BENCH_DB:-mcu_bench_ingest}"
PORT="${BENCH_PORT:-18191}"
if [ "${BACKEND:-postgres}" = sqlite ]; then
  SQLITE_DIR=$(mktemp -d)
  export DATABASE_URL="sqlite://$SQLITE_DIR/mcu.db?mode=rwc"
else
  export DATABASE_URL="${PG_ADMIN%/*}/$DB?sslmode=${SSLMODE:-disable}"
fi
export MCU_JWT_SECRET="${MCU_JWT_SECRET:-bench-secret-that-is-long-enough-0123456789}"
export MCU_BIND="127.0.0.1:$PORT" MCU_LOG_FORMAT=json RUST_LOG="${RUST_LOG:-warn}"

if [ -z "${MCU_BIN:-}" ]; then
  cargo build --release --quiet
  MCU_BIN="${CARGO_TARGET_DIR:-target}/release/mcu"
fi
if [ -z "${SQLITE_DIR:-}" ]; then
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" -c "CREATE DATABASE \"$DB\""
fi
"$MCU_BIN" migrate >/dev/null
TOKEN=$("$MCU_BIN" token create --name bench --scope APPEALS_INGEST | awk '/secret/ { print $NF }')
"$MCU_BIN" serve > /dev/null 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; [ -z "${SQLITE_DIR:-}" ] || { sleep 0.5; rm -rf "$SQLITE_DIR"; }' EXIT
for _ in $(seq 1 50); do curl -sf "http://$MCU_BIND/readyz" >/dev/null && break; sleep 0.2; done
python3 bench/ingest.py "http://$MCU_BIND" "$TOKEN" "$BATCHES"
awk -v hz="$(getconf CLK_TCK)" '{ printf "server CPU %.1f s (user %.1f, system %.1f)\n", ($14 + $15) / hz, $14 / hz, $15 / hz }' \
  "/proc/$SERVER/stat"
awk '/VmHWM/ { printf "server peak RSS %.0f MB\n", $2 / 1024 }' "/proc/$SERVER/status"
