#!/usr/bin/env bash
# Renders every export as a person would see it: seeds the demo town into a fresh SQLite file,
# starts the server, drafts and approves a roadmap through the API (seed-demo makes none),
# downloads the weekly memo (DOCX, XLSX) of the last full week, the appeal list of that week
# (XLSX) and the roadmap (DOCX), converts each to PDF with LibreOffice and each PDF page to a
# PNG, for review in an image viewer.
#
#   bash bench/render-exports.sh                       # into bench/out/render-exports/
#   OUT=/tmp/exports APPEALS=5000 bash bench/render-exports.sh
#   MCU_BIN=target/release/mcu bash bench/render-exports.sh
#
# Needs curl and jq; installs LibreOffice (Writer, Calc), poppler-utils and the Liberation
# fonts (metric twins of Times New Roman and Arial) with apt-get when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${OUT:-bench/out/render-exports}"
APPEALS="${APPEALS:-3000}"
PORT="${BENCH_PORT:-18789}"
DPI="${DPI:-80}"
# Pages rendered per file at most (the appeal list of a week runs to several pages).
MAX_PAGES="${MAX_PAGES:-12}"
PASSWORD=orchid-ferry-nimbus-2026

need=()
command -v soffice >/dev/null || need+=(libreoffice-writer libreoffice-calc)
command -v pdftoppm >/dev/null || need+=(poppler-utils)
# (grep reads all of fc-list's output: with -q it would stop early and fail the pipe.)
fc-list 2>/dev/null | grep 'Liberation Serif' >/dev/null || need+=(fonts-liberation2)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi
for tool in curl jq soffice pdftoppm pdfinfo; do
  command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; exit 1; }
done

if [ -z "${MCU_BIN:-}" ]; then
  cargo build --quiet
  MCU_BIN="${CARGO_TARGET_DIR:-target}/debug/mcu"
fi

WORK=$(mktemp -d /tmp/mcu-render-XXXXXX)
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$OUT"
rm -f "$OUT"/*.png "$OUT"/*.pdf "$OUT"/*.docx "$OUT"/*.xlsx

export DATABASE_URL="sqlite://$WORK/mcu.db?mode=rwc"
export MCU_JWT_SECRET=render-secret-that-is-long-enough-0123456789
export MCU_ADMIN_PASSWORD=render-quartz-harbour-51
export MCU_BIND="127.0.0.1:$PORT"
export MCU_LOG_FORMAT=text RUST_LOG="${RUST_LOG:-warn}"
BASE="http://$MCU_BIND"

echo "== seeding $APPEALS demo appeals"
"$MCU_BIN" seed-demo --appeals "$APPEALS" >"$WORK/seed.log"
head -n 1 "$WORK/seed.log"
if curl -s -o /dev/null "$BASE/healthz"; then
  echo "port $PORT is taken: set BENCH_PORT" >&2
  exit 1
fi
"$MCU_BIN" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "$BASE/readyz" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

# gql TOKEN QUERY [VARIABLES]: the response's data, or the errors on stderr and exit 1.
gql() {
  local body response vars="${3:-}"
  [ -n "$vars" ] || vars='{}'
  body=$(jq -cn --arg q "$2" --argjson v "$vars" '{query: $q, variables: $v}')
  response=$(curl -s -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d "$body" "$BASE/graphql")
  if [ "$(jq '.errors != null' <<<"$response")" = true ]; then
    echo "GraphQL error: $response" >&2
    return 1
  fi
  jq -c '.data' <<<"$response"
}
login() {
  local body
  body=$(jq -cn --arg e "$1" --arg p "$PASSWORD" \
    '{query: "mutation($e:String!,$p:String!){login(email:$e,password:$p){accessToken}}", variables: {e: $e, p: $p}}')
  curl -s -H 'Content-Type: application/json' -d "$body" "$BASE/graphql" | jq -r '.data.login.accessToken'
}
CURATOR=$(login curator@demo.mcu)
COORDINATOR=$(login pos@demo.mcu)

# Monday of the last full week, and the roadmap's dates around today.
TODAY=$(date +%F)
WEEK=$(date -d "$TODAY -$(($(date +%u) + 6)) days" +%F)
WEEK_END=$(date -d "$WEEK +6 days" +%F)
day() { date -d "$TODAY $1 days" +%F; }

echo "== a roadmap on heating, approved and running, with one measure overdue"
REF=$(gql "$CURATOR" '{ categories { id name } territories { id name } recipients { id name } }')
HEATING=$(jq -r '.categories[] | select(.name == "Отопление") | .id' <<<"$REF" | head -n 1)
DISTRICT=$(jq -r '([.territories[] | select(.name | test("Северн"))] + [.territories[] | select(.name != "г. Сорск")])[0].id' <<<"$REF")
ZHKH=$(jq -r '.recipients[] | select(.name | test("ЖКХ")) | .id' <<<"$REF" | head -n 1)
APPEAL_IDS=$(gql "$CURATOR" 'query($c:[ID!]){ appeals(first: 5, filter: {categoryId: $c}) { edges { node { id } } } }' \
  "$(jq -cn --arg c "$HEATING" '{c: [$c]}')" | jq -c '[.appeals.edges[].node.id]')
PROBLEM='В отопительный сезон жители домов по улицам Ленина и Пушкина обращаются по поводу низкой температуры в квартирах и отключений горячей воды.
Причина — изношенная теплотрасса от котельной № 3: порывы в ноябре и декабре, потери тепла, аварийные отключения.'
INPUT=$(jq -cn --arg t "Теплоснабжение микрорайона Северный" --arg p "$PROBLEM" --arg c "$HEATING" --arg d "$DISTRICT" \
  --argjson a "$APPEAL_IDS" '{title: $t, problem: $p, categoryId: $c, territoryId: $d, appealIds: $a}')
R=$(gql "$COORDINATOR" 'mutation($i:CreateRoadmapInput!){ r: createRoadmap(input:$i) { id version } }' "{\"i\":$INPUT}")
ID=$(jq -r '.r.id' <<<"$R")
V=$(jq -r '.r.version' <<<"$R")
add_measure() {
  local input
  input=$(jq -cn --arg r "$ID" --argjson v "$V" --arg t "$1" --arg who "$2" --arg name "$3" --arg d "$4" \
    '{roadmapId: $r, version: $v, title: $t, dueDate: $d}
     + (if $who != "" then {responsibleId: $who} else {} end) + (if $name != "" then {responsibleName: $name} else {} end)')
  V=$(gql "$COORDINATOR" 'mutation($i:MeasureInput!){ r: addMeasure(input:$i) { version } }' "{\"i\":$input}" | jq -r '.r.version')
}
add_measure "Обследовать теплотрассу от котельной № 3, составить дефектную ведомость" "$ZHKH" "" "$(day -20)"
add_measure "Заменить аварийный участок теплотрассы по ул. Ленина (120 м)" "$ZHKH" "Петров И. С., главный инженер" "$(day -5)"
add_measure "Провести гидравлические испытания и промывку системы" "" "ООО «Теплосеть»" "$(day +14)"
add_measure "Проверить температуру в квартирах и сообщить жителям о результатах" "$ZHKH" "" "$(day +30)"
V=$(gql "$COORDINATOR" 'mutation($id:ID!,$v:Int!){ r: submitRoadmap(id:$id, version:$v) { version } }' \
  "{\"id\":\"$ID\",\"v\":$V}" | jq -r '.r.version')
V=$(gql "$CURATOR" 'mutation($id:ID!,$v:Int!){ r: approveRoadmap(id:$id, version:$v) { version } }' \
  "{\"id\":\"$ID\",\"v\":$V}" | jq -r '.r.version')
R=$(gql "$CURATOR" 'mutation($id:ID!,$v:Int!){ r: startRoadmap(id:$id, version:$v) { version measures { id } } }' \
  "{\"id\":\"$ID\",\"v\":$V}")
V=$(jq -r '.r.version' <<<"$R")
FIRST=$(jq -r '.r.measures[0].id' <<<"$R")
gql "$CURATOR" 'mutation($i:UpdateMeasureInput!){ r: updateMeasure(input:$i) { version } }' \
  "$(jq -cn --arg r "$ID" --argjson v "$V" --arg m "$FIRST" '{i: {roadmapId: $r, version: $v, measureId: $m, status: "DONE"}}')" >/dev/null

echo "== downloading the exports (memo of the week $WEEK — $WEEK_END)"
fetch() {
  curl -sf -H "Authorization: Bearer $CURATOR" -o "$OUT/$2" "$BASE$1" || { echo "GET $1 failed" >&2; exit 1; }
}
fetch "/exports/memo/$WEEK.docx" memo.docx
fetch "/exports/memo/$WEEK.xlsx" memo.xlsx
fetch "/exports/appeals.xlsx?receivedFrom=$WEEK&receivedTo=$WEEK_END" appeals.xlsx
fetch "/exports/roadmaps/$ID.docx" roadmap.docx

echo "== rendering through LibreOffice ($(soffice --version | head -n 1))"
for file in memo.docx memo.xlsx appeals.xlsx roadmap.docx; do
  # A profile of its own: a LibreOffice already running for the user would take the job over.
  soffice --headless "-env:UserInstallation=file://$WORK/lo-profile" --convert-to pdf --outdir "$WORK" \
    "$OUT/$file" >"$WORK/soffice.log" 2>&1 || { cat "$WORK/soffice.log" >&2; exit 1; }
  pdf="$WORK/${file%.*}.pdf"
  name="${file%.*}-${file##*.}"
  mv "$pdf" "$OUT/$name.pdf"
  pages=$(pdfinfo "$OUT/$name.pdf" | awk '/^Pages:/ { print $2 }')
  pdftoppm -png -r "$DPI" -l "$MAX_PAGES" "$OUT/$name.pdf" "$OUT/$name"
  echo "$file: $pages page(s) -> $(find "$OUT" -name "$name-*.png" | wc -l) PNG"
done
echo "== $(cd "$OUT" && pwd)"
ls "$OUT"
