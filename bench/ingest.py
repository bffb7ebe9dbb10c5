#!/usr/bin/env python3
"""Ingestion throughput: sends BATCHES batches of 1,000 new items through ingestAppeals
and reports items per second (standard library only). SENDERS (default 1) calls are in
flight at once, as from that many feeds. COORDS=1 gives every item coordinates (spread over
a town of about 5 x 5 km, so the categorised fifth of the items are problem points).

    python3 bench/ingest.py http://127.0.0.1:18090 mcu_... [BATCHES] [RUN_ID]
    SENDERS=2 python3 bench/ingest.py http://127.0.0.1:18090 mcu_...
"""
import concurrent.futures
import datetime
import json
import os
import sys
import time
import urllib.request

MUTATION = "mutation($i:[IngestAppealInput!]!){ingestAppeals(input:$i){created updated unchanged rejected{row message}}}"
TEXTS = [
    "Яма на дороге у дома, машины бьют колёса",
    "Не вывозят мусор, контейнеры переполнены",
    "Холодные батареи в квартире, нет отопления",
    "Не горят фонари на улице, очень темно",
    "Сломаны качели на детской площадке",
]


def main() -> None:
    base_url, token = sys.argv[1], sys.argv[2]
    batches = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    run = sys.argv[4] if len(sys.argv) > 4 else str(int(time.time()))
    # The bodies are built before the clock starts: what is timed is the server, not the
    # generator. Receipt instants are spread over the items (one second apart), as a feed's are.
    base = datetime.datetime(2026, 11, 1, 3, 0, tzinfo=datetime.timezone.utc)
    bodies = []
    for b in range(batches):
        items = [
            {
                "channel": "INCIDENT",
                "externalId": f"bench-{run}-{b}-{i}",
                "kind": "INCIDENT",
                "receivedAt": (base + datetime.timedelta(seconds=b * 1000 + i)).isoformat(),
                "text": TEXTS[i % len(TEXTS)] + f", сообщение {b}-{i}",
                "categoryName": "Ямы и ремонт дорог" if i % 5 == 0 else None,
                "url": f"https://vk.com/wall-1_{b}_{i}",
            }
            for i in range(1000)
        ]
        if os.environ.get("COORDS") == "1":
            for i, item in enumerate(items):
                # A deterministic spread: about 2,500 cells of resolution 9.
                item["latitude"] = 53.70 + ((b * 7919 + i * 104729) % 500) * 0.0001
                item["longitude"] = 91.40 + ((b * 104723 + i * 7907) % 700) * 0.0001
        bodies.append(json.dumps({"query": MUTATION, "variables": {"i": items}}).encode())
    senders = int(os.environ.get("SENDERS", "1"))

    def send(body: bytes) -> int:
        req = urllib.request.Request(
            base_url + "/graphql",
            data=body,
            headers={"content-type": "application/json", "authorization": "Bearer " + token},
        )
        with urllib.request.urlopen(req, timeout=300) as resp:
            data = json.load(resp)
        result = data["data"]["ingestAppeals"]
        if result["rejected"]:
            raise SystemExit(f"rejected items: {result['rejected'][:3]}")
        return result["created"]

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(senders) as pool:
        created = sum(pool.map(send, bodies))
    elapsed = time.perf_counter() - started
    print(f"ingested {created} items in {elapsed:.1f} s: {created / elapsed:.0f} items/s ({senders} sender(s))")


if __name__ == "__main__":
    main()
