#!/usr/bin/env bash
# The whole test suite, with what it needs installed first: the browser tests
# (tests/api/browser.rs) drive Debian's headless Chromium, the e-mail tests a real SMTP
# server (Python's aiosmtpd), and the document test (tests/api/documents.rs) renders the
# memo and a roadmap through LibreOffice; they fail without them.
#   bash tests/run.sh                       # on a fresh SQLite database per test
#   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash tests/run.sh
# Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v soffice >/dev/null || need+=(libreoffice-writer libreoffice-calc)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} for the browser and document tests"
  if [ "$(id -u)" = 0 ]; then
    apt-get update && apt-get install -y "${need[@]}"
  else
    sudo apt-get update && sudo apt-get install -y "${need[@]}"
  fi
fi
# The e-mail tests talk to a real SMTP server, tests/smtp_sink.py, built on aiosmtpd.
if ! python3 -c "import aiosmtpd" 2>/dev/null; then
  echo "installing aiosmtpd for the e-mail tests"
  python3 -m pip install --quiet aiosmtpd==1.4.6
fi
exec cargo test "$@"
