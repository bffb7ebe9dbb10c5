#!/usr/bin/env bash
# The whole test suite, with what it needs installed first: the browser tests
# (tests/api/browser.rs) drive Debian's headless Chromium, the e-mail tests a real SMTP
# server (Python's aiosmtpd), and the document test (tests/api/documents.rs) renders the
# memo and a roadmap through LibreOffice, and the attachment tests an S3-compatible server
# (moto); they fail without them.
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
# The attachment tests run on S3 too, against moto in server mode (a real S3-compatible
# server on the loopback); its address goes to the tests in MCU_TEST_S3_ENDPOINT. An S3 test
# that cannot reach it fails.
if ! command -v moto_server >/dev/null; then
  echo "installing moto for the S3 attachment tests"
  python3 -m pip install --quiet 'moto[server]==5.2.1'
fi
if [ -z "${MCU_TEST_S3_ENDPOINT:-}" ]; then
  s3_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # In a session of its own, so that stopping its process group stops it whatever wrapper
  # (a pyenv shim, a virtualenv script) started it.
  setsid moto_server -H 127.0.0.1 -p "$s3_port" >/dev/null 2>&1 &
  moto_pid=$!
  trap 'kill -- "-$moto_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 50); do
    (echo >"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null && break
    sleep 0.2
  done
  export MCU_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"
fi
cargo test "$@"
