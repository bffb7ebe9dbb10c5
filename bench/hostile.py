#!/usr/bin/env python3
"""Mixed load with hostile requests at the same time (issue 14), standard library only.

CLIENTS clients (default 16) for DURATION seconds (default 60): half read a filtered page
of appeals, half write (ingestAppeals, 10 new items a call, every acknowledged externalId
remembered). Meanwhile one client sends hostile requests in a loop (deep nesting, fragment
fan-out, oversized pages, aliased logins, oversized bodies, files given by HOSTILE_FILES),
and a probe asks /healthz every 100 ms. At the end every acknowledged item is sent again:
an item that is created again (rather than found unchanged) was acknowledged and lost.

    python3 bench/hostile.py http://127.0.0.1:18091 <curator access token> <ingest API token>

Prints the read/write throughput and latency, /healthz p50/p99/max, hostile requests sent
and their answers, and the number of acknowledged writes lost. Exits 1 if one was lost,
/healthz took 100 ms or more, or the server stopped answering.
"""
import http.client
import json
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
import urllib.parse

BASE, TOKEN, INGEST = sys.argv[1], sys.argv[2], sys.argv[3]
CLIENTS = int(os.environ.get("CLIENTS", "16"))
DURATION = float(os.environ.get("DURATION", "60"))
HOSTILE_FILES = [f for f in os.environ.get("HOSTILE_FILES", "").split(",") if f]
URL = urllib.parse.urlparse(BASE)
RUN = str(int(time.time()))

READ = ("query { appeals(first: 50, filter: {status: [ASSIGNED, IN_PROGRESS]}, orderBy: {field: DUE_AT, "
        "direction: ASC}) { totalCount edges { node { number status dueAt slaState recipient { name } "
        "category { name } territory { name } } } } }")
WRITE = "mutation($i:[IngestAppealInput!]!){ingestAppeals(input:$i){created updated unchanged rejected{row message}}}"


def request(method, path, body=None, headers=None, timeout=60):
    conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def gql(query, variables=None, token=None, raw=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = "Bearer " + token
    body = raw if raw is not None else json.dumps({"query": query, "variables": variables or {}}).encode()
    status, data = request("POST", "/graphql", body, headers)
    try:
        return status, json.loads(data)
    except ValueError:
        return status, None


def items(prefix, n):
    return [{
        "channel": "INCIDENT", "kind": "INCIDENT", "externalId": f"{prefix}-{i}",
        "receivedAt": "2026-11-20T10:00:00+07:00", "text": f"Яма на дороге у дома {prefix}-{i}",
        "url": f"https://vk.com/wall-1_{prefix}_{i}",
    } for i in range(n)]


def hostile_documents():
    deep = "{ __typename @include(if: %strue%s) }" % ("[" * 2000, "]" * 2000)
    objects = "{ appeals(filter: %s1%s) { totalCount } }" % ("{a:" * 1500, "}" * 1500)
    defaults = "query($x: [Int] = %s1%s) { __typename }" % ("[" * 2000, "]" * 2000)
    fan = "query { ...F0 }\n" + "".join(
        "fragment F%d on Query { %s }\n" % (l, " ".join("...F%d" % (l + 1) for _ in range(10))) for l in range(8)
    ) + "fragment F8 on Query { __typename }\n"
    pages = "{ %s }" % " ".join("a%d: appeals(first: 100) { edges { node { id text } } }" % i for i in range(1000))
    logins = "mutation { %s }" % " ".join(
        'l%d: login(email: "curator@demo.mcu", password: "wrong password %d") { accessToken }' % (i, i) for i in range(200))
    return [deep, objects, defaults, fan, pages, logins]


stop = threading.Event()
lock = threading.Lock()
stats = {"read": [], "write": [], "errors": [], "health": [], "hostile": {}, "acked": []}


def reader():
    while not stop.is_set():
        t = time.perf_counter()
        status, body = gql(READ, token=TOKEN)
        dt = time.perf_counter() - t
        with lock:
            if status == 200 and body and "errors" not in body:
                stats["read"].append(dt)
            else:
                stats["errors"].append(("read", status, str(body)[:200]))


def writer(n):
    k = 0
    while not stop.is_set():
        prefix = f"load-{RUN}-{n}-{k}"
        k += 1
        batch = items(prefix, 10)
        t = time.perf_counter()
        try:
            status, body = gql(WRITE, {"i": batch}, token=INGEST)
        except OSError as e:
            with lock:
                stats["errors"].append(("write", 0, str(e)))
            continue
        dt = time.perf_counter() - t
        with lock:
            result = (body or {}).get("data") or {}
            r = result.get("ingestAppeals")
            if status == 200 and r and not body.get("errors") and r["created"] == 10:
                stats["write"].append(dt)
                stats["acked"].append(prefix)
            else:
                stats["errors"].append(("write", status, str(body)[:200]))


def hostile():
    docs = hostile_documents()
    files = [open(f, "rb").read() for f in HOSTILE_FILES]
    k = 0
    while not stop.is_set():
        k += 1
        kind = k % (len(docs) + 2 + len(files))
        try:
            if kind < len(docs):
                status, body = gql(docs[kind], token=TOKEN if kind == 4 else None)
                code = ((body or {}).get("errors") or [{}])[0].get("extensions", {}).get("code")
                key = f"doc{kind}:{status}:{code}"
            elif kind == len(docs):
                status, _ = gql(None, raw=b'{"query":"' + b"x" * (8 * 1024 * 1024) + b'"}')
                key = f"body8MiB:{status}"
            elif kind == len(docs) + 1:
                batch = json.dumps([{"query": "{ __typename }"}] * 1000).encode()
                status, _ = gql(None, raw=batch)
                key = f"batch1000:{status}"
            else:
                data = files[kind - len(docs) - 2]
                boundary = "hostile" + RUN
                ops = json.dumps({"query": "mutation($f: Upload!) { importAppeals(file: $f, format: POS_XLSX) { id } }",
                                  "variables": {"f": None}})
                parts = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{ops}\r\n"
                         f"--{boundary}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{\"0\": [\"variables.f\"]}}\r\n"
                         f"--{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"bomb.xlsx\"\r\n"
                         "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
                status, body = request("POST", "/graphql", parts, {
                    "content-type": f"multipart/form-data; boundary={boundary}", "authorization": "Bearer " + TOKEN})
                key = f"file{kind - len(docs) - 2}:{status}"
        except OSError as e:
            key = f"error:{type(e).__name__}"
        with lock:
            stats["hostile"][key] = stats["hostile"].get(key, 0) + 1


def probe(done, out):
    """Runs in its own process: the clients' threads share one interpreter lock, which would
    delay the probe and be counted as the server's latency."""
    health = []
    while not done.is_set():
        t = time.perf_counter()
        try:
            status, _ = request("GET", "/healthz", timeout=10)
        except OSError:
            status = 0
        dt = time.perf_counter() - t
        health.append(dt if status == 200 else float("inf"))
        time.sleep(0.1)
    out.put(health)


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main():
    threads = [threading.Thread(target=reader) for _ in range(CLIENTS // 2)]
    threads += [threading.Thread(target=writer, args=(n,)) for n in range(CLIENTS - CLIENTS // 2)]
    threads += [threading.Thread(target=hostile)]
    done, out = multiprocessing.Event(), multiprocessing.Queue()
    prober = multiprocessing.Process(target=probe, args=(done, out))
    prober.start()
    for t in threads:
        t.start()
    time.sleep(DURATION)
    stop.set()
    done.set()
    stats["health"] = out.get()
    prober.join()
    for t in threads:
        t.join()

    lost = 0
    for prefix in stats["acked"]:
        _, body = gql(WRITE, {"i": items(prefix, 10)}, token=INGEST)
        r = body["data"]["ingestAppeals"]
        lost += r["created"]
    health = stats["health"]
    print(f"{CLIENTS} clients, {DURATION:.0f} s")
    print(f"reads:  {len(stats['read'])} ({len(stats['read']) / DURATION:.0f}/s), "
          f"p50 {pct(stats['read'], .5) * 1000:.0f} ms, p99 {pct(stats['read'], .99) * 1000:.0f} ms")
    print(f"writes: {len(stats['write'])} calls of 10 items ({len(stats['write']) * 10 / DURATION:.0f} items/s), "
          f"p50 {pct(stats['write'], .5) * 1000:.0f} ms, p99 {pct(stats['write'], .99) * 1000:.0f} ms")
    print(f"failed reads/writes: {len(stats['errors'])} {stats['errors'][:3]}")
    print(f"hostile requests: {sum(stats['hostile'].values())} {json.dumps(stats['hostile'], sort_keys=True)}")
    print(f"/healthz: {len(health)} probes, p50 {pct(health, .5) * 1000:.1f} ms, "
          f"p99 {pct(health, .99) * 1000:.1f} ms, max {max(health) * 1000:.1f} ms")
    print(f"acknowledged items: {len(stats['acked']) * 10}, lost: {lost}")
    if lost or max(health) >= 0.1 or stats["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
