#!/usr/bin/env bash
# The list-shape grid (issue 20, goal 1): every filter of `AppealFilter` alone and in common
# pairs, under each order (RECEIVED_AT, DUE_AT, NUMBER, UPDATED_AT, both directions; a search
# also by relevance), first page of 50 with the names joined, and each filter's totalCount.
# The statements are the server's own: `mcu explain-list` builds them with the list's query
# builder and runs PostgreSQL `EXPLAIN (ANALYZE, BUFFERS)` / SQLite `EXPLAIN QUERY PLAN` with
# timing (median of RUNS).
#
#   bash bench/list-grid.sh                                 # PostgreSQL 1,000,000 + SQLite 200,000 appeals
#   SKIP_SEED=1 BACKENDS=postgres bash bench/list-grid.sh   # again on the databases of the last run
#   N_PG=100000 BACKENDS=postgres bash bench/list-grid.sh
#
# Prints one Markdown table per backend (also written to OUT/grid-<backend>.md) and a summary:
# how many page shapes take at most 2 ms and totals at most 20 ms, and the slowest.
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS=${BACKENDS:-"postgres sqlite"}
N_PG=${N_PG:-1000000}
N_SQLITE=${N_SQLITE:-200000}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=${PG_DB:-mcu_list_grid}
SKIP_SEED=${SKIP_SEED:-0}
RUNS=${RUNS:-3}
OUT=${OUT:-bench/out/list-grid}
BIN=${MCU_BIN:-target/release/mcu}
mkdir -p "$OUT"
if [ ! -x "$BIN" ]; then
  cargo build --release
fi
export MCU_JWT_SECRET=${MCU_JWT_SECRET:-list-grid-benchmark-secret-0123456789abcdef0123456789abcdef}
# Seeding's closing ANALYZE and the migrations' rewrites of a million rows take longer
# than the server's default 10 s statement timeout on a busy machine.
export MCU_DB_STATEMENT_TIMEOUT_MS=${MCU_DB_STATEMENT_TIMEOUT_MS:-3600000}
export RUST_LOG=${RUST_LOG:-warn}

# The shapes of one database: ids and dates read from it ($1: a command printing one value of SQL).
shapes() {
  local sql=$1 cat ter rec month_from month_to due_before
  cat=$($sql "SELECT category_id FROM appeals WHERE category_id IS NOT NULL GROUP BY category_id ORDER BY count(*) DESC LIMIT 1 OFFSET 10")
  ter=$($sql "SELECT id FROM territories WHERE parent_id IS NULL ORDER BY id LIMIT 1")
  rec=$($sql "SELECT recipient_id FROM appeals WHERE recipient_id IS NOT NULL GROUP BY recipient_id ORDER BY count(*) DESC LIMIT 1 OFFSET 3")
  month_from=$(date -d "$(date +%Y-%m-01) -1 month" +%Y-%m-%d)
  month_to=$(date -d "$(date +%Y-%m-01) -1 day" +%Y-%m-%d)
  due_before=$(date -u -d "+3 days" +%Y-%m-%dT%H:%M:%SZ)
  python3 - "$cat" "$ter" "$rec" "$month_from" "$month_to" "$due_before" <<'PY'
import json, sys
cat, ter, rec, mfrom, mto, due = sys.argv[1:]
filters = [
    ("none", {}),
    ("status ASSIGNED", {"status": ["ASSIGNED"]}),
    ("status CLOSED", {"status": ["CLOSED"]}),
    ("status WITHOUT_ANSWER", {"status": ["WITHOUT_ANSWER"]}),
    ("status open (4)", {"status": ["RECEIVED", "REGISTERED", "ASSIGNED", "IN_PROGRESS"]}),
    ("kind APPEAL", {"kind": ["APPEAL"]}),
    ("channel POS", {"channel": ["POS"]}),
    ("channel EMAIL", {"channel": ["EMAIL"]}),
    ("category", {"categoryId": [cat]}),
    ("territory", {"territoryId": [ter]}),
    ("recipient", {"recipientId": [rec]}),
    ("sla OVERDUE", {"slaState": ["OVERDUE"]}),
    ("sla ON_TIME", {"slaState": ["ON_TIME"]}),
    ("sla MET", {"slaState": ["MET"]}),
    ("received last month", {"receivedFrom": mfrom, "receivedTo": mto}),
    ("due within 3 days", {"dueBefore": due}),
    ("search дорога", {"search": "дорога"}),
    ("search двор освещение", {"search": "двор освещение"}),
    ("status+channel (bench page)", {"status": ["ASSIGNED", "IN_PROGRESS"], "channel": ["POS", "INCIDENT"]}),
    ("status+recipient", {"status": ["ASSIGNED", "IN_PROGRESS"], "recipientId": [rec]}),
    ("status+category", {"status": ["ANSWERED"], "categoryId": [cat]}),
    ("status+territory", {"status": ["IN_PROGRESS"], "territoryId": [ter]}),
    ("channel+month", {"channel": ["POS"], "receivedFrom": mfrom, "receivedTo": mto}),
    ("category+month", {"categoryId": [cat], "receivedFrom": mfrom, "receivedTo": mto}),
    ("recipient+OVERDUE", {"recipientId": [rec], "slaState": ["OVERDUE"]}),
    ("kind+status", {"kind": ["INCIDENT"], "status": ["RECEIVED"]}),
    ("search+status", {"search": "дорога", "status": ["CLOSED"]}),
    ("search+channel", {"search": "дорога", "channel": ["POS"]}),
]
orders = [(f, d) for f in ["RECEIVED_AT", "DUE_AT", "NUMBER", "UPDATED_AT"] for d in ["DESC", "ASC"]]
for name, f in filters:
    first = True
    if "search" in f:
        print(json.dumps({"name": name, "filter": f}, ensure_ascii=False))
        first = False
    for field, d in orders:
        print(json.dumps({"name": name, "filter": f, "order": field, "direction": d, "count": first}, ensure_ascii=False))
        first = False
PY
}

summary() {
  local table=$1
  python3 - "$table" <<'PY'
import sys
rows = []
for line in open(sys.argv[1], encoding="utf-8"):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) < 9 or cells[0] in ("shape", "---"):
        continue
    rows.append(cells)
pages = [(float(r[2]), r) for r in rows]
counts = [(float(r[6]), r) for r in rows if r[6]]
print(f"page shapes: {len(pages)}; at most 2 ms: {sum(1 for t, _ in pages if t <= 2)}; "
      f"median {sorted(t for t, _ in pages)[len(pages) // 2]:.2f} ms; worst {max(t for t, _ in pages):.2f} ms")
print(f"totals: {len(counts)}; at most 20 ms: {sum(1 for t, _ in counts if t <= 20)}; "
      f"from the rollups: {sum(1 for _, r in counts if r[5] == 'rollup')}")
print("slowest pages:")
for t, r in sorted(pages, key=lambda x: -x[0])[:12]:
    print(f"  {t:9.2f} ms  {r[0]} / {r[1]}  ({r[4][:110]})")
print("slowest totals:")
for t, r in sorted(counts, key=lambda x: -x[0])[:8]:
    print(f"  {t:9.2f} ms  {r[0]} ({r[5]}; plain count {r[8] or t} ms)")
PY
}

for backend in $BACKENDS; do
  case $backend in
    postgres)
      base=${PG_ADMIN%/*}
      export DATABASE_URL="$base/$PG_DB?sslmode=disable"
      if [ "$SKIP_SEED" != 1 ]; then
        psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB"
        "$BIN" seed-demo --appeals "$N_PG" > "$OUT/seed-postgres.log"
        head -n 1 "$OUT/seed-postgres.log"
        # Index-only scans need the visibility map; autovacuum would get there later.
        psql -q "$base/$PG_DB" -c "VACUUM ANALYZE appeals"
      fi
      "$BIN" migrate >/dev/null
      sql() { psql -Atq "$base/$PG_DB" -c "$1"; }
      ;;
    sqlite)
      db="$OUT/grid.db"
      export DATABASE_URL="sqlite://$db?mode=rwc"
      if [ "$SKIP_SEED" != 1 ]; then
        rm -f "$db" "$db"-*
        # The seed ends with the bundled SQLite's ANALYZE, as the server's statistics come;
        # not the system's sqlite3 (an older version writes other statistics: it leaves out
        # the empty partial indexes the bundled one records as empty).
        "$BIN" seed-demo --appeals "$N_SQLITE" > "$OUT/seed-sqlite.log"
        head -n 1 "$OUT/seed-sqlite.log"
      fi
      "$BIN" migrate >/dev/null
      sql() { sqlite3 "$db" "$1"; }
      ;;
    *) echo "unknown backend $backend" >&2; exit 1 ;;
  esac
  shapes sql > "$OUT/shapes-$backend.jsonl"
  echo "== $backend: $(sql 'SELECT count(*) FROM appeals') appeals, $(wc -l < "$OUT/shapes-$backend.jsonl") shapes"
  "$BIN" explain-list --shapes "$OUT/shapes-$backend.jsonl" --runs "$RUNS" | tee "$OUT/grid-$backend.md"
  summary "$OUT/grid-$backend.md" | tee "$OUT/summary-$backend.txt"
done
