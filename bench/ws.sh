#!/usr/bin/env bash
# Subscriptions at scale (issue 17): SUBSCRIBERS WebSocket subscribers of appealChanged
# (default 1,000: 90% executors of ten recipients, 10% wall screens with an APPEALS_READ
# token) on one release server with demo data, while one appeal changes through updateAppeal
# every INTERVAL_MS (default 10) for DURATION seconds (default 30). Prints delivery latency p50/p99
# and the server's RSS before connecting, connected idle and under load
# (examples/ws_bench.rs). Everything runs on 127.0.0.1 and stops by itself.
#
#   bash bench/ws.sh                      # SQLite
#   BACKEND=postgres bash bench/ws.sh     # PostgreSQL (PG_URL, default postgres://postgres@127.0.0.1:5432/postgres)
#   BIN_DIR=target/debug bash bench/ws.sh # with binaries built already (here the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."

BACKEND="${BACKEND:-sqlite}"
SUBSCRIBERS="${SUBSCRIBERS:-1000}"
INTERVAL_MS="${INTERVAL_MS:-10}"
DURATION="${DURATION:-30}"
PORT="${BENCH_PORT:-18192}"
APPEALS="${APPEALS:-3000}"
WORK="$(mktemp -d /tmp/mcu-ws-bench.XXXXXX)"
export MCU_BIND="127.0.0.1:$PORT" MCU_LOG_FORMAT=json RUST_LOG="${RUST_LOG:-warn}"
export MCU_ADMIN_EMAIL="bench-admin@bench.test" MCU_ADMIN_PASSWORD="granite-willow-harbor-2026"
export MCU_JWT_SECRET="${MCU_JWT_SECRET:-bench-secret-that-is-long-enough-0123456789}"
# The subscribers are many connections from one client address.
export MCU_WS_MAX_CONNECTIONS=$((SUBSCRIBERS + 100))

case "$BACKEND" in
  sqlite) export DATABASE_URL="sqlite://$WORK/mcu.db?mode=rwc" ;;
  postgres)
    PG_ADMIN="${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
    DB="mcu_bench_ws"
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" -c "CREATE DATABASE \"$DB\""
    export DATABASE_URL="${PG_ADMIN%/*}/$DB?sslmode=disable" ;;
  *) echo "BACKEND is sqlite or postgres" >&2; exit 2 ;;
esac

# BIN_DIR: a directory holding mcu and examples/ws_bench already built (skips the build).
if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release --quiet --bin mcu --example ws_bench
  BIN_DIR="${CARGO_TARGET_DIR:-target}/release"
fi
BIN="$BIN_DIR"
"$BIN/mcu" seed-demo --appeals "$APPEALS" --admin-email "$MCU_ADMIN_EMAIL" --admin-password "$MCU_ADMIN_PASSWORD" >/dev/null
ulimit -n "$(ulimit -Hn)"
"$BIN/mcu" serve > "$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do curl -sf "http://$MCU_BIND/readyz" >/dev/null && break; sleep 0.2; done
echo "backend $BACKEND, binaries $BIN, $(nproc) cores, load average $(cut -d" " -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
"$BIN/examples/ws_bench" "http://$MCU_BIND" "$SERVER" "$MCU_ADMIN_EMAIL" "$MCU_ADMIN_PASSWORD" \
  "$SUBSCRIBERS" "$INTERVAL_MS" "$DURATION"
awk -v hz="$(getconf CLK_TCK)" '{ printf "server CPU %.1f s (user %.1f, system %.1f)\n", ($14 + $15) / hz, $14 / hz, $15 / hz }' \
  "/proc/$SERVER/stat"
awk '/VmHWM/ { printf "server peak RSS %.0f MB\n", $2 / 1024 }' "/proc/$SERVER/status"
