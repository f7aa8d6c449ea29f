"""Debugger queries whose plans scanned a whole label: the earlier text against the catalog's, same graph.

FalkorDB 4.16 plans a filter on the far end of an id-anchored MATCH (``MATCH (a {id: x})-->(b) WHERE
b.stale IS NULL``) and ``MATCH (x:L) WHERE x.id IN row.list`` as label scans, once per input row. Three
catalog queries of the Debugger and Studio did so; their texts now keep the index lookups
(``debug_concept_facts``, ``debug_upsert_patch_set``, ``studio_item_repairs``). On a prepared home with
diagnoses and patch sets (``closed_loop.py`` or ``diagnose_speed.py`` leave them), this script runs the
earlier text (kept below for this comparison) and the catalog's on the same inputs, alternating over
``--rounds``, checks that they return the same rows (and, for the patch-set write, the same links), and
prints the medians and their ratio.

Run::

    .venv/bin/python benchmarks/debug_queries.py --home .gpu/work/home --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from proda.config import Settings
from proda.schema.catalog import default_catalog
from proda.schema.store import open_store

EARLIER = {
    "debug_concept_facts": """UNWIND $ids AS cid
MATCH (a:Concept {id: cid})-[r:RELATION]->(b:Concept)
WHERE r.stale IS NULL AND b.stale IS NULL
WITH cid, a, r, b ORDER BY r.id
WITH cid, collect({a: a, r: r, b: b})[..$per_concept] AS hits
UNWIND hits AS h
RETURN cid AS concept_id, h.r.id AS id, h.r.type AS type, h.a.id AS subject_id, h.a.name AS subject,
       h.b.id AS object_id, h.b.name AS object, h.r.evidence AS evidence
UNION ALL
UNWIND $ids AS cid
MATCH (a:Concept)-[r:RELATION]->(b:Concept {id: cid})
WHERE r.stale IS NULL AND a.stale IS NULL
WITH cid, a, r, b ORDER BY r.id
WITH cid, collect({a: a, r: r, b: b})[..$per_concept] AS hits
UNWIND hits AS h
RETURN cid AS concept_id, h.r.id AS id, h.r.type AS type, h.a.id AS subject_id, h.a.name AS subject,
       h.b.id AS object_id, h.b.name AS object, h.r.evidence AS evidence""",
    "debug_upsert_patch_set": """OPTIONAL MATCH (old:Patch {set_id: $set_id})
DETACH DELETE old
WITH count(*) AS cleared
UNWIND $rows AS row
MERGE (p:Patch {id: row.id})
SET p += row.props, p.set_id = $set_id
WITH p, row
OPTIONAL MATCH (d:Diagnosis) WHERE d.id IN row.repairs
WITH p, row, collect(d) AS found
FOREACH (d IN found | MERGE (p)-[:REPAIRS]->(d))
WITH p, row
OPTIONAL MATCH (c:Concept) WHERE c.id IN row.teaches
WITH p, row, collect(c) AS found
FOREACH (c IN found | MERGE (p)-[:TEACHES]->(c))
WITH p, row
OPTIONAL MATCH (ch:Chain) WHERE ch.id IN row.chains
WITH p, row, collect(ch) AS found
FOREACH (ch IN found | MERGE (p)-[:FROM_CHAIN]->(ch))
WITH p, row
OPTIONAL MATCH (k:Chunk) WHERE k.id IN row.chunks
WITH p, row, collect(k) AS found
FOREACH (k IN found | MERGE (p)-[:FROM_CHUNK]->(k))
WITH p, row
OPTIONAL MATCH (x:TrainingExample) WHERE x.id IN row.replays
WITH p, collect(x) AS found
FOREACH (x IN found | MERGE (p)-[:REPLAYS]->(x))
WITH count(p) AS written
MERGE (s:PatchSet {id: $set_id})
SET s += $set_props, s.patches = written, s.status = 'complete'
WITH s, written
OPTIONAL MATCH (r:EvalRun {id: $run_id})
FOREACH (_ IN CASE WHEN r IS NULL THEN [] ELSE [1] END | MERGE (s)-[:FROM_RUN]->(r))
RETURN written""",
    "studio_item_repairs": """MATCH (d:Diagnosis)-[:DIAGNOSES]->(:BenchmarkItem {id: $item_id})
WHERE $run_id IS NULL OR d.run = $run_id
RETURN d.id AS diagnosis_id, d.run AS run_id, d.kind AS kind, d.probes AS probes, d.failed_probes AS failed_probes,
       d.record AS record,
       [(d)-[:WEAK]->(c:Concept) | {id: c.id, name: c.name}] AS weak,
       [(p:Patch)-[:REPAIRS]->(d) | {id: p.id, kind: p.kind, family: p.family, set_id: p.set_id, messages: p.messages}]
         AS patches
ORDER BY diagnosis_id""",
}


def patch_rows(store: Any, set_id: str) -> list[dict[str, Any]]:
    """A stored patch set as the write query takes it: props and the ids of every link."""
    rows = store.run("MATCH (p:Patch {set_id: $s}) RETURN p.id AS id, properties(p) AS props, "
                     "[(p)-[:REPAIRS]->(d) | d.id] AS repairs, [(p)-[:TEACHES]->(c) | c.id] AS teaches, "
                     "[(p)-[:FROM_CHAIN]->(ch) | ch.id] AS chains, [(p)-[:FROM_CHUNK]->(k) | k.id] AS chunks, "
                     "[(p)-[:REPLAYS]->(x) | x.id] AS replays ORDER BY id", {"s": set_id})
    for r in rows:
        r["props"] = {k: v for k, v in r["props"].items() if k not in ("id", "set_id")}
    return rows


def links(store: Any, set_id: str) -> list[tuple[str, str, str]]:
    got = store.run("MATCH (p:Patch {set_id: $s})-[r]->(x) RETURN p.id AS p, type(r) AS t, x.id AS x", {"s": set_id})
    return sorted((r["p"], r["t"], r["x"]) for r in got)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home", type=Path, required=True, help="a home with diagnoses and patch sets")
    p.add_argument("--graph", default="proda_closed_loop", help="graph name in that home")
    p.add_argument("--rounds", type=int, default=3, help="rounds; the two texts alternate their order")
    p.add_argument("--concepts", type=int, default=60, help="weak concepts asked for facts")
    a = p.parse_args(argv)
    catalog = default_catalog()
    settings = Settings.model_validate({"home": a.home, "graph_name": a.graph})
    with open_store(settings) as store:
        records = [json.loads(r["record"]) for r in store.run("MATCH (d:Diagnosis) RETURN d.record AS record "
                                                              "ORDER BY d.id LIMIT 1000")]
        weak = sorted({c for r in records for c in r.get("weak_concepts", [])})[:a.concepts]
        sets = store.run("MATCH (s:PatchSet) MATCH (p:Patch {set_id: s.id}) WITH s, count(p) AS n "
                         "RETURN s.id AS id, n ORDER BY n DESC, id LIMIT 1")
        if not weak or not sets:
            p.error(f"{a.home}: no diagnoses or patch sets: run closed_loop.py or diagnose_speed.py there first")
        rows = patch_rows(store, sets[0]["id"])
        item = store.run("MATCH (d:Diagnosis)-[:DIAGNOSES]->(i:BenchmarkItem) RETURN i.id AS id "
                         "ORDER BY id LIMIT 1")[0]["id"]
        cases = {
            "debug_concept_facts": ({"ids": weak, "per_concept": 6}, False),
            "debug_upsert_patch_set": ({"set_id": "bench_debug_queries", "run_id": "none", "set_props": {},
                                        "rows": rows}, True),
            "studio_item_repairs": ({"item_id": item, "run_id": None}, False),
        }
        print(f"inputs: {len(weak)} weak concepts; a patch set of {len(rows)} patches; one diagnosed item")
        for name, (params, write) in cases.items():
            texts = {"earlier": EARLIER[name], "catalog": catalog.get(name).text("falkordb")}
            seconds: dict[str, list[float]] = {k: [] for k in texts}
            results: dict[str, Any] = {}
            for n in range(a.rounds):
                for leg in (list(texts) if n % 2 == 0 else list(reversed(texts))):
                    t = time.perf_counter()
                    out = store.run(texts[leg], params, read_only=not write)
                    seconds[leg].append(time.perf_counter() - t)
                    results[leg] = links(store, params["set_id"]) if write else sorted(map(json.dumps, out))
            med = {k: statistics.median(v) for k, v in seconds.items()}
            same = results["earlier"] == results["catalog"]
            print(f"{name:24s} earlier {1000 * med['earlier']:8.1f} ms   catalog {1000 * med['catalog']:7.1f} ms   "
                  f"{med['earlier'] / med['catalog']:7.1f}x   same result: {'yes' if same else 'NO'}")
        store.run("MATCH (p:Patch {set_id: 'bench_debug_queries'}) DETACH DELETE p", read_only=False)
        store.run("MATCH (s:PatchSet {id: 'bench_debug_queries'}) DETACH DELETE s", read_only=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
