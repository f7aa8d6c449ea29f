"""A new discipline loaded into a graph that holds others: the adding bulk pass against the upsert path.

The synthetic graph of ``benchmarks/graph_ingest.py`` (seeded; each discipline's documents, chunks,
concepts, relations and chains refer only to each other) is written as two ``proda load`` files: every
discipline but the last (the graph that is there) and the last (the new discipline). Each leg starts from
an empty graph on a temporary embedded FalkorDB, loads the first file through the bulk path (not timed),
waits for the server's compaction and indexes, and then times ``proda load``'s code on the second file,
until every index is operational:

* **add**: the default, the adding bulk pass (``GRAPH.BULK`` calls without ``BEGIN``, each its own
  transaction: the nodes' ids asked for first, their positions read back, each edge call's ends checked);
* **upsert**: the same file through the upsert path (``--no-bulk``), as every load into a filled graph
  went before;
* **first**: the same file into an empty graph (a first load through the bulk path): what the same
  elements cost where the pass needs no check against what is there.

Rounds alternate the legs; medians are reported, with the ratio of add to upsert and to first. Every
leg must leave the same graph (node and edge counts).

Run::

    .venv/bin/python benchmarks/bulk_add.py                        # 1M elements, 4 disciplines, ~6 minutes
    .venv/bin/python benchmarks/bulk_add.py --elements 100000 --rounds 1
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil
from bulk_load import checked, graph_arguments
from common import graph_shape, print_legs, run_and_report, temporary_home, until_compacted, until_indexed
from graph_ingest import ORDER, generate

from proda.pipelines.load import load_file
from proda.schema.store.embedded import EmbeddedFalkorDB
from proda.schema.store.falkordb_store import FalkorDBStore

LEGS = ("add", "upsert", "first")


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def _write(path: Path, elements: list[Any]) -> int:
    with path.open("w", encoding="utf-8") as fh:
        for e in elements:
            fh.write(e.model_dump_json() + "\n")
    return len(elements)


def _leg(name: str, store: FalkorDBStore, base: Path, new: Path, n_new: int, server: psutil.Process,
         log: Callable[[str], None]) -> dict[str, Any]:
    store.clear()
    with tempfile.TemporaryDirectory(prefix="proda-add-") as home:
        if name != "first":
            there = load_file(store, base, home=Path(home) / "base")
            if there.method != "bulk":
                raise SystemExit(f"the graph that is there went through the {there.method} path: {there.bulk_skipped}")
        until_indexed(store)
        gc.collect()
        until_compacted(store._db.connection)
        me = psutil.Process()
        cpu0, srv0, t0 = _cpu(me), _cpu(server), time.perf_counter()
        report = load_file(store, new, home=Path(home) / "new", bulk=False if name == "upsert" else None)
        until_indexed(store)
        wall = time.perf_counter() - t0
        cpu1, srv1 = _cpu(me), _cpu(server)
    want = "upsert" if name == "upsert" else "bulk"
    if report.method != want:
        raise SystemExit(f"the {name} leg went through the {report.method} path: {report.bulk_skipped}")
    nodes, edges = graph_shape(store)
    return {"seconds": wall, "elements_per_s": n_new / wall, "client_cpu_s": cpu1 - cpu0,
            "server_cpu_s": srv1 - srv0, "nodes": nodes, "edges": edges, "loadavg": os.getloadavg()[0]}


def run(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    if args.disciplines < 2:
        raise SystemExit("--disciplines must be at least 2: one that is there and one that is added")
    log(f"generating ~{args.elements:,} elements over {args.disciplines} disciplines (seed {args.seed}) ...")
    graph = generate(args.elements, args.disciplines, args.seed, args.provenance_share, log)
    added = sorted({e.discipline for e in graph.elements["concept"]})[-1]
    rounds: dict[str, list[dict[str, Any]]] = {leg: [] for leg in LEGS}
    with temporary_home("proda-add-") as home:
        base, new = home / "there.jsonl", home / "new.jsonl"
        n_base = _write(base, [e for k in ORDER for e in graph.elements[k] if e.discipline != added])
        n_new = _write(new, [e for k in ORDER for e in graph.elements[k] if e.discipline == added])
        log(f"  the graph that is there: {n_base:,} elements; the new discipline {added!r}: {n_new:,} elements")
        del graph
        gc.collect()
        server = EmbeddedFalkorDB(home / "falkordb")
        info, _ = server.ensure_running()
        store = FalkorDBStore("127.0.0.1", info.port, "proda_add_bench", password=info.password, owns_server=True)
        try:
            proc = psutil.Process(info.pid)
            for r in range(args.rounds):
                for leg in LEGS if r % 2 == 0 else tuple(reversed(LEGS)):
                    res = _leg(leg, store, base, new, n_new, proc, log)
                    rounds[leg].append(res)
                    log(f"  round {r + 1} {leg:7s} {res['seconds']:6.2f} s = {res['elements_per_s']:>9,.0f}/s  "
                        f"CPU client {res['client_cpu_s']:5.2f} s, server {res['server_cpu_s']:5.2f} s  "
                        f"({res['nodes']:,} nodes, {res['edges']:,} edges; load {res['loadavg']:.1f})")
        finally:
            store.close()
            server.stop()
    shapes = {leg: {(x["nodes"], x["edges"]) for x in xs} for leg, xs in rounds.items()}
    if len(shapes["add"] | shapes["upsert"]) != 1:
        raise SystemExit(f"the add and upsert legs left different graphs: {json.dumps(str(shapes))}")
    med = {leg: {k: statistics.median(x[k] for x in xs) for k in ("seconds", "elements_per_s", "client_cpu_s",
                                                                    "server_cpu_s")}
           for leg, xs in rounds.items()}
    return {"elements": n_base + n_new, "there": n_base, "added": n_new, "discipline": added,
            "graph": dict(zip(("nodes", "edges"), shapes["add"].pop(), strict=True)), "rounds": rounds,
            "median": med, "add_over_upsert": med["add"]["elements_per_s"] / med["upsert"]["elements_per_s"],
            "add_over_first": med["add"]["elements_per_s"] / med["first"]["elements_per_s"], "cpus": os.cpu_count()}


def print_report(r: dict[str, Any]) -> None:
    print(f"\n{r['added']:,} elements of a new discipline ({r['discipline']!r}) into a graph of {r['there']:,} "
          f"(then {r['graph']['nodes']:,} nodes, {r['graph']['edges']:,} edges), median of "
          f"{len(r['rounds']['add'])} rounds on {r['cpus']} CPUs:")
    print_legs(r["median"], LEGS, [("seconds", "seconds", ".2f"), ("elements/s", "elements_per_s", ",.0f"),
                                   ("client CPU s", "client_cpu_s", ".2f"), ("server CPU s", "server_cpu_s", ".2f")])
    print(f"add / upsert = {r['add_over_upsert']:.2f}x; add / first load of the same file = {r['add_over_first']:.2f}x")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    graph_arguments(p, rounds=3, legs="three", results="bulk_add")
    return checked(p, p.parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    return run_and_report(parse_args(argv), run, print_report)


if __name__ == "__main__":
    sys.exit(main())
