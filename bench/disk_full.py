#!/usr/bin/env python3
"""A full SQLite database under the release build, without root (issue 14 item 5).

Caps a fresh database at CAP_MIB with MCU_SQLITE_MAX_PAGE_COUNT, lays a ballast table of
BALLAST_MIB beside the server's data (sqlite3, another connection), fills the rest with
ingestAppeals calls of 1,000 items until the storage refuses them, goes on for a few calls,
then drops the ballast (space back) and writes again. Reports acknowledged and stored
appeals, the answers while full and how fast /readyz answered (standard library and the
sqlite3 command only).

    python3 bench/disk_full.py target/release/mcu [CAP_MIB] [BALLAST_MIB]
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

MUTATION = "mutation($i:[IngestAppealInput!]!){ingestAppeals(input:$i){created rejected{row message}}}"
PORT = 18391
BASE = f"http://127.0.0.1:{PORT}"


def post(token, items):
    body = json.dumps({"query": MUTATION, "variables": {"i": items}}).encode()
    req = urllib.request.Request(
        BASE + "/graphql", data=body,
        headers={"content-type": "application/json", "authorization": "Bearer " + token},
    )
    with urllib.request.urlopen(req, timeout=300) as resp:
        return json.load(resp)


def readyz():
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(BASE + "/readyz", timeout=10) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    return status, text, (time.perf_counter() - started) * 1000


def sql(db, statement):
    return subprocess.run(["sqlite3", db, statement], check=True, capture_output=True, text=True).stdout.strip()


def batch(start):
    return [
        {"channel": "INCIDENT", "externalId": f"full-{start + i}", "kind": "INCIDENT",
         "receivedAt": "2026-11-20T10:00:00+07:00",
         "text": f"Не вывозят мусор во дворе, контейнеры переполнены, сообщение {start + i}",
         "authorName": "Иван Петров", "authorContact": "+7 913 123-45-67"}
        for i in range(1000)
    ]


def main():
    binary = sys.argv[1]
    cap_mib = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    ballast_mib = int(sys.argv[3]) if len(sys.argv) > 3 else 24
    work = tempfile.mkdtemp(prefix="mcu-full-")
    db = os.path.join(work, "mcu.db")
    env = dict(os.environ, DATABASE_URL=f"sqlite://{db}?mode=rwc", MCU_BIND=f"127.0.0.1:{PORT}",
               MCU_SQLITE_MAX_PAGE_COUNT=str(cap_mib * 256), MCU_ADMIN_PASSWORD="quartz-lantern-meadow-97",
               MCU_LOG_FORMAT="json", RUST_LOG="warn")
    subprocess.run([binary, "migrate"], env=env, check=True, capture_output=True)
    out = subprocess.run([binary, "token", "create", "--name", "bench", "--scope", "APPEALS_INGEST"],
                         env=env, check=True, capture_output=True, text=True).stdout
    token = next(w for w in out.split() if w.startswith("mcu_"))
    pages = int(sql(db, "PRAGMA page_count"))
    sql(db, f"CREATE TABLE ballast (b BLOB); WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
            f"WHERE x < {ballast_mib * 256}) INSERT INTO ballast SELECT randomblob(3000) FROM n;")
    print(f"fresh database {pages} pages; cap {cap_mib} MiB; ballast {ballast_mib} MiB")
    log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=log)
    try:
        for _ in range(100):
            try:
                if readyz()[0] in (200, 503):
                    break
            except OSError:
                time.sleep(0.1)
        print("readyz before:", readyz())
        acknowledged, failures, next_id, answers = 0, 0, 0, {}
        started = time.perf_counter()
        while failures < 10:
            t = time.perf_counter()
            r = post(token, batch(next_id))
            ms = (time.perf_counter() - t) * 1000
            next_id += 1000
            if r.get("errors"):
                failures += 1
                e = r["errors"][0]
                key = (e["extensions"]["code"], e["message"].split(" (request id")[0])
                answers[key] = answers.get(key, 0) + 1
                if failures == 1:
                    print(f"first refusal after {time.perf_counter() - started:.1f} s, {ms:.0f} ms: {e}")
                    print("readyz when full:", readyz())
            else:
                assert not r["data"]["ingestAppeals"]["rejected"], r
                acknowledged += r["data"]["ingestAppeals"]["created"]
        stored = int(sql(db, "SELECT count(*) FROM appeals WHERE external_id LIKE 'full-%'"))
        print(f"acknowledged {acknowledged}, stored {stored}; answers while full: {answers}")
        lat = [readyz() for _ in range(20)]
        print(f"readyz while full: statuses {sorted({s for s, _, _ in lat})}, "
              f"max {max(m for _, _, m in lat):.1f} ms, reason: {lat[0][1]}")
        sql(db, "DROP TABLE ballast")
        t = time.perf_counter()
        while readyz()[0] != 200:
            if time.perf_counter() - t > 10:
                raise SystemExit(f"still not ready 10 s after the space came back: {readyz()}")
            time.sleep(0.05)
        print(f"space back: ready after {(time.perf_counter() - t) * 1000:.0f} ms")
        for _ in range(3):
            r = post(token, batch(next_id))
            next_id += 1000
            acknowledged += r["data"]["ingestAppeals"]["created"]
        stored = int(sql(db, "SELECT count(*) FROM appeals WHERE external_id LIKE 'full-%'"))
        lat = [readyz()[2] for _ in range(20)]
        print(f"after recovery: acknowledged {acknowledged}, stored {stored}; readyz max {max(lat):.1f} ms, "
              f"median {sorted(lat)[10]:.1f} ms")
    finally:
        server.terminate()
        server.wait()
    stored = int(sql(db, "SELECT count(*) FROM appeals WHERE external_id LIKE 'full-%'"))
    print(f"after SIGTERM: stored {stored}")


if __name__ == "__main__":
    main()
