#!/usr/bin/env python3
"""The ways a ranked page of one word can be read on PostgreSQL, timed side by side.

For each word and each filter (every status, every channel, every sixth category by size)
the script explains three statements for the first `rows` rows of the ranking (a page of 50
reads 51) and prints their median execution times (`EXPLAIN ANALYZE`, 5 runs):

- walk: the word's entries in `appeal_repeats` in the order of the rank, an appeal read per
  entry and tested against the filter, until `rows` are found (or the entries end);
- runs: the walk, then the appeals that say the word once, by id (read only when the walk is
  short): the unfiltered way of `ranked_by_repeats` in `src/service/appeal_query.rs`;
- whole: the one statement: the filter intersected with the word's matches, scored, sorted.

with the filter's share of the appeals (per 10,000, and per row read), from which the
constants `RANKED_WALK_SHARE` and `RANKED_WALK_ENTRIES` were chosen.

    python3 bench/ranked-ways.py --db postgres://postgres@127.0.0.1:5432/mcu_bench \
        --words дорог,подъезд,свет --rows 51

The words are stems, as `appeal_repeats.word` holds them. The database is one seeded by
`mcu seed-demo` and migrated by the build under test.
"""

import argparse
import json
import statistics
import subprocess


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--words", default="дорог,подъезд,свет")
    ap.add_argument("--rows", type=int, default=51)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()

    def q(sql: str) -> str:
        return subprocess.run(["psql", a.db, "-At", "-c", sql], capture_output=True, text=True, check=True).stdout.strip()

    def explain(sql: str) -> tuple[float, int]:
        times, rows = [], 0
        for _ in range(a.runs):
            plan = json.loads(q("EXPLAIN (ANALYZE, FORMAT JSON) " + sql))[0]
            times.append(plan["Execution Time"])
            rows = plan["Plan"]["Actual Rows"]
        return statistics.median(times), rows

    def groups(sql: str) -> list[tuple[str, int]]:
        out = []
        for line in q(sql).splitlines():
            value, n = line.rsplit("|", 1)
            out.append((value, int(n)))
        return out

    appeals = int(q("SELECT coalesce(max(id), 0) FROM appeals"))
    filters = [(f"status = '{v}'", n) for v, n in groups("SELECT status, count(*) FROM appeals GROUP BY 1 ORDER BY 2")]
    filters += [(f"channel = '{v}'", n) for v, n in groups("SELECT channel, count(*) FROM appeals GROUP BY 1 ORDER BY 2")]
    categories = groups(
        "SELECT category_id, count(*) FROM appeals WHERE category_id IS NOT NULL GROUP BY 1 ORDER BY 2 DESC"
    )
    filters += [(f"category_id = {v}", n) for v, n in categories[::6]]
    cols = "a.id, a.number, a.status, a.received_at, a.due_at"
    print("word\tfilter\tper 10k\tper row\twalk ms (rows)\truns ms\twhole ms\tfaster")
    for w in a.words.split(","):
        tq = f"plainto_tsquery('simple', '{w}')"
        rank = f"ts_rank(a.search_tsv, {tq})"
        for cond, n in filters:
            walk = (
                f"SELECT {cols}, {rank} FROM appeals a JOIN appeal_repeats r ON r.appeal_id = a.id AND r.word = '{w}' "
                f"WHERE {cond} ORDER BY r.times DESC, a.id LIMIT {a.rows}"
            )
            once = (
                f"SELECT {cols}, {rank} FROM appeals a WHERE {cond} AND a.search_tsv @@ {tq} AND NOT EXISTS "
                f"(SELECT 1 FROM appeal_repeats r WHERE r.appeal_id = a.id AND r.word = '{w}') ORDER BY a.id LIMIT {a.rows}"
            )
            whole = f"SELECT {cols}, {rank} FROM appeals a WHERE {cond} AND a.search_tsv @@ {tq} ORDER BY {rank} DESC, a.id LIMIT {a.rows}"
            t_walk, found = explain(walk)
            t_runs = t_walk + (explain(once)[0] if found < a.rows else 0.0)
            t_whole, _ = explain(whole)
            share = n * 10000 / max(appeals, 1)
            best = "walk" if found >= a.rows and t_walk < t_whole else ("runs" if t_runs < t_whole else "whole")
            print(
                f"{w}\t{cond}\t{share:.0f}\t{share / a.rows:.1f}\t{t_walk:.2f} ({found})\t{t_runs:.2f}\t{t_whole:.2f}\t{best}",
                flush=True,
            )


if __name__ == "__main__":
    main()
