"""The upsert path against the engine's floor: how fast FalkorDB creates the same rows through Cypher at all.

Idempotent loads into an existing graph go through ``GraphWriter``'s catalog statements (``UNWIND`` +
``MERGE``, with a check that an id is not taken by another element and a choice among several sources'
statements). Their rate is bounded by how fast the engine runs Cypher writes, whatever the client does.
This script measures that bound on the same data in the same run:

* **upsert**: the synthetic graph of ``benchmarks/graph_ingest.py`` written by ``GraphWriter`` (the
  overlapped writer ``proda load`` uses) into an emptied graph with every index ``proda load`` makes;
  every write statement it sends is recorded (its catalog name and rows);
* **bare create**: the same rows, batch by batch and in the same order, into a second emptied graph with
  the same indexes, each statement reduced to what creates the same nodes, edges and properties: match
  an edge's ends by id, then ``CREATE``; no existence check, no choice among sources, no check of chain
  steps against their relation edges. The statements' text, parameters included, is made before the
  clock starts, so this leg is the server's work and the round trips only: the floor of what Cypher
  statements written for speed, with nothing checked, need on this server.

Each leg runs with only its own graph on the server (the upsert graph is counted, then deleted, and its
append-only compaction waited for), since a compaction copies everything the server holds. Both graphs
must end with the same node and edge counts. Reported: wall time and elements/s of each leg,
the server's own execution time per statement (``run_time_ms``), and the ratios, beside the 100,000
elements/s target of the upsert path; and the engine's floor: per statement the faster of its two
forms (at 1M the catalog's ``MERGE`` of a link edge ran faster than a bare ``CREATE`` of it), server
time only, the check of chain steps left out.

Run::

    .venv/bin/python benchmarks/upsert_floor.py                      # 1M elements, ~5 minutes
    .venv/bin/python benchmarks/upsert_floor.py --elements 100000
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import graph_shape, run_and_report, temporary_home, until_compacted
from graph_ingest import Probe, generate

from proda.schema.store.embedded import EmbeddedFalkorDB
from proda.schema.store.falkordb_store import FalkorDBStore
from proda.schema.store.writer import ORDER, GraphWriter

TARGET_PER_S = 100_000

# each write statement of GraphWriter, reduced to what creates the same nodes, edges and properties
BARE = {
    "upsert_documents": "UNWIND $rows AS row CREATE (d:Document {id: row.id}) SET d += row.props "
                        "RETURN count(d) AS written",
    "upsert_chunks": "UNWIND $rows AS row MATCH (d:Document {id: row.document_id}) "
                     "CREATE (d)-[:HAS_CHUNK]->(c:Chunk {id: row.id}) SET c += row.props RETURN count(c) AS written",
    "upsert_concepts": "UNWIND $rows AS row CREATE (c:Concept {id: row.id}) SET c += row.props "
                       "RETURN count(c) AS written",
    "link_mentions": "UNWIND $rows AS row MATCH (c:Concept {id: row.concept_id}) MATCH (k:Chunk {id: row.chunk_id}) "
                     "CREATE (c)-[m:MENTIONED_IN]->(k) RETURN count(m) AS written",
    "upsert_relations": "UNWIND $rows AS row MATCH (s:Concept {id: row.subject_id}) "
                        "MATCH (o:Concept {id: row.object_id}) CREATE (s)-[r:RELATION {id: row.id}]->(o) "
                        "SET r += row.props RETURN count(r) AS written",
    "upsert_chains": "UNWIND $rows AS row CREATE (ch:Chain {id: row.id}) SET ch += row.props "
                     "RETURN count(ch) AS written",
    "link_chain_steps": "UNWIND $rows AS row MATCH (ch:Chain {id: row.chain_id}) "
                        "MATCH (c:Concept {id: row.concept_id}) CREATE (ch)-[s:HAS_STEP {pos: row.pos}]->(c) "
                        "SET s.relation_id = row.relation_id "
                        "RETURN count(s) AS written",
    "link_chain_chunks": "UNWIND $rows AS row MATCH (ch:Chain {id: row.chain_id}) MATCH (k:Chunk {id: row.chunk_id}) "
                         "CREATE (ch)-[f:FROM_CHUNK]->(k) RETURN count(f) AS written",
}


class Recorder:
    """Records the rows of each write statement a store sends, in order (graph_ingest's :class:`Probe`,
    installed first, adds up the server's time per statement). Nothing about what is sent changes."""

    def __init__(self, store: FalkorDBStore) -> None:
        self.calls: list[tuple[str, list[dict[str, Any]]]] = []
        self.probe = Probe()
        self.probe.install(store)
        timed = store.query

        def query(name: str, params: Any = None, **kw: Any) -> Any:
            if name in BARE:
                self.calls.append((name, list(params["rows"])))
            elif not store.catalog.get(name).read_only:
                raise SystemExit(f"GraphWriter sent a write statement this benchmark has no bare form of: {name}")
            return timed(name, params, **kw)

        store.query = query  # type: ignore[method-assign]

    def server_s(self) -> dict[str, float]:
        return {name: st.server_ms / 1000 for name, st in self.probe.stats.items()}


def run(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    log(f"generating ~{args.elements:,} elements (seed {args.seed}) ...")
    graph = generate(args.elements, args.disciplines, args.seed, args.provenance_share, log)
    elements = [e for kind in ORDER for e in graph.elements[kind]]
    with temporary_home("proda-upsert-floor-") as home:
        server = EmbeddedFalkorDB(home / "falkordb")
        info, _ = server.ensure_running()
        upsert = FalkorDBStore("127.0.0.1", info.port, "upsert", password=info.password, owns_server=True)
        bare = FalkorDBStore("127.0.0.1", info.port, "bare", password=info.password, owns_server=True)
        try:
            upsert.clear()
            recorder = Recorder(upsert)
            gc.collect()
            load0 = os.getloadavg()[0]
            log(f"upsert: GraphWriter (batch size {args.batch_size:,}) ...")
            t = time.perf_counter()
            written = GraphWriter(upsert, batch_size=args.batch_size).write(elements)
            upsert_s = time.perf_counter() - t
            if written.unresolved:
                raise SystemExit(f"the upsert leg left {len(written.unresolved):,} elements unresolved")
            log(f"  {upsert_s:.2f} s = {graph.total / upsert_s:,.0f}/s; {len(recorder.calls)} write statements")

            log("bare create: the same rows, statements made beforehand ...")
            statements = [(name, FalkorDBStore.header({"rows": rows}) + BARE[name]) for name, rows in recorder.calls]
            recorder.calls.clear()
            shapes = {"upsert": graph_shape(upsert)}
            # the server holds one graph in each leg: its append-only compactions fork and copy all it holds,
            # which would make the second leg pay for the first one's graph
            upsert.clear()
            bare.clear()
            until_compacted(bare._db.connection)
            bare_server: dict[str, float] = defaultdict(float)
            gc.collect()
            t = time.perf_counter()
            for name, text in statements:
                bare_server[name] += float(bare._graph.query(text).run_time_ms) / 1000
            bare_s = time.perf_counter() - t
            load1 = os.getloadavg()[0]
            log(f"  {bare_s:.2f} s = {graph.total / bare_s:,.0f}/s")
            shapes["bare"] = graph_shape(bare)
            if shapes["upsert"] != shapes["bare"]:
                raise SystemExit(f"the legs made different graphs (nodes, edges): {shapes}")
        finally:
            upsert.close()
            bare.close()
            server.stop()
    upsert_server = recorder.server_s()
    per_query = {name: {"upsert_server_s": upsert_server.get(name, 0.0), "bare_server_s": bare_server.get(name, 0.0)}
                 for name in [*BARE, *sorted(set(upsert_server) - set(BARE))]}
    # per statement the faster of its two forms (the catalog's MERGE of a link ran faster than CREATE at 1M),
    # the existence check left out: the least server time any of these statements needed for the same rows
    floor_s = sum(min(q["upsert_server_s"], q["bare_server_s"]) for name, q in per_query.items() if name in BARE)
    return {"elements": graph.total, "nodes": shapes["bare"][0], "edges": shapes["bare"][1],
            "floor": {"server_s": floor_s, "elements_per_s": graph.total / floor_s},
            "batch_size": args.batch_size, "loadavg": [load0, load1], "cpus": os.cpu_count(),
            "upsert": {"seconds": upsert_s, "elements_per_s": graph.total / upsert_s,
                       "server_s": sum(upsert_server.values())},
            "bare": {"seconds": bare_s, "elements_per_s": graph.total / bare_s, "server_s": sum(bare_server.values())},
            "per_query": per_query, "target_per_s": TARGET_PER_S}


def print_report(r: dict[str, Any]) -> None:
    up, bare = r["upsert"], r["bare"]
    print(f"\n{r['elements']:,} elements ({r['nodes']:,} nodes, {r['edges']:,} edges), batches of {r['batch_size']:,}, "
          f"{r['cpus']} CPUs, load average {r['loadavg'][0]:.1f} -> {r['loadavg'][1]:.1f}")
    print(f"{'statement':20s} {'upsert server s':>16s} {'bare server s':>14s} {'ratio':>6s}")
    for name, q in r["per_query"].items():
        ratio = q["upsert_server_s"] / q["bare_server_s"] if q["bare_server_s"] else float("nan")
        print(f"{name:20s} {q['upsert_server_s']:16.2f} {q['bare_server_s']:14.2f} {ratio:6.2f}")
    print(f"{'all':20s} {up['server_s']:16.2f} {bare['server_s']:14.2f} {up['server_s'] / bare['server_s']:6.2f}")
    print(f"upsert (GraphWriter): {up['seconds']:.2f} s = {up['elements_per_s']:,.0f} elements/s")
    print(f"bare create, same rows, text made beforehand: {bare['seconds']:.2f} s = {bare['elements_per_s']:,.0f} "
          f"elements/s; upsert / bare = {up['elements_per_s'] / bare['elements_per_s']:.2f}x")
    floor = r["floor"]
    print(f"engine floor, server time only, each statement in the faster of its two forms, no existence check: "
          f"{floor['server_s']:.2f} s = {floor['elements_per_s']:,.0f} elements/s")
    floor_ok = floor["elements_per_s"] >= r["target_per_s"]
    print(f"target {r['target_per_s']:,}/s for the upsert path: "
          f"{'met' if up['elements_per_s'] >= r['target_per_s'] else 'MISSED'}; the engine's Cypher floor on this "
          f"machine is {'above' if floor_ok else 'below'} it")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--elements", type=int, default=1_000_000, help="elements to generate and write")
    p.add_argument("--batch-size", type=int, default=10_000, help="GraphWriter batch size (rows per UNWIND)")
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--disciplines", type=int, default=4)
    p.add_argument("--provenance-share", type=float, default=0.01,
                   help="share of elements that are documents+chunks cited by the others")
    p.add_argument("--json", type=Path, default=Path("benchmarks/results/upsert_floor.json"), help="results file")
    p.add_argument("--quiet", action="store_true", help="only the final report")
    args = p.parse_args(argv)
    if args.elements < 1000 or args.batch_size < 1:
        p.error("--elements must be at least 1000 and --batch-size at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_and_report(parse_args(argv), run, print_report)


if __name__ == "__main__":
    sys.exit(main())
