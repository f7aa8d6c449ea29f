"""First loads through the bulk path at 1M elements: the client's share, the engine's floor.

The synthetic graph of ``benchmarks/graph_ingest.py`` (seeded; concepts, relations, chains, documents
and chunks) is created, into a new graph of a temporary embedded FalkorDB with every index ``proda load``
makes, until every index is operational, seven ways per round (the rounds alternate them, so a noisy
stretch of the machine hits all of them). Every leg waits for the server's append-only compaction of
the leg before to end, and a leg's server CPU includes the compactions forked during it:

* **fast path** (a first load from elements in memory, as ``proda load`` on the embedded server runs
  it): the node tables laid out (``finish_nodes``), the nodes sent while the references are checked
  (``lay_out_edges``), records encoded a column at a time in Arrow, edge ends taken from the check's node
  positions, the server's automatic append-only rewrites held until the pass ends
  (:mod:`proda.schema.store.falkordb_rewrites`);
* **fast, rewriting**: the same, with the server compacting its append-only file whenever it has
  doubled, as every pass did before (and as a pass on a server ProDa does not run still does);
* **earlier path**: the elements checked and laid out whole (``BulkGraph.finish``) before anything is
  sent, records encoded value by value in Python (``encoding="values"``), rewriting;
* **file**: what ``proda load`` runs for a first load from a file: the same elements written once as a
  JSONL file (not timed), each line parsed, validated and made into its node's row at once, the nodes
  sent while the file is still read, each edge table sent as soon as it is checked, rewrites held;
* **file, rewriting**: the same, with the rewrites running;
* **file, earlier**: what ``proda load`` ran before on the same file: every line parsed and validated
  into a model first, then the fast path from those models, rewriting;
* **engine alone**: the fast path's calls encoded beforehand (not timed), then only sent, rewrites held:
  what FalkorDB itself needs to insert the same nodes and edges and fill the same indexes. No client
  can load faster than this on the machine; it bounds what the paths above can reach.

For each, wall time, elements/s and the CPU seconds of this process and of the server. Medians over
``--rounds``; the ratios of the fast path to the same path rewriting, to the earlier path and to the
engine alone, and of the file leg to the file leg rewriting, to the earlier file path and to the fast
path (what parsing the file costs on top).

Run::

    .venv/bin/python benchmarks/bulk_load.py                     # 1M elements, 3 rounds, ~8 minutes
    .venv/bin/python benchmarks/bulk_load.py --elements 100000 --rounds 1
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil
from common import graph_shape, print_legs, run_and_report, temporary_home, until_compacted, until_indexed
from graph_ingest import SyntheticGraph, generate

from proda.pipelines.load import load_file, parse_line
from proda.schema.store import falkordb_bulk, falkordb_rewrites
from proda.schema.store.bulk import BulkGraph, gc_paused
from proda.schema.store.embedded import EmbeddedFalkorDB
from proda.schema.store.falkordb_store import FalkorDBStore
from proda.schema.vocabulary import default_vocabulary

TARGET_PER_S = 100_000
LEGS = ("earlier", "fast", "fast-rewrite", "file", "file-rewrite", "file-earlier", "engine")
REWRITING = {"earlier", "fast-rewrite", "file-rewrite", "file-earlier"}  # legs on a store that holds no rewrites


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()  # the server's ended children are its append-only compactions
    return t.user + t.system + t.children_user + t.children_system


def load_file_earlier(store: FalkorDBStore, file: Path) -> None:
    """The loader's earlier bulk path from a file: every line into a model first, then sent."""
    plan, vocab = BulkGraph(), default_vocabulary()
    with gc_paused(), file.open("rb") as fh:
        for raw in fh:
            plan.add(parse_line(raw.decode("utf-8"), vocab))
    if (problem := plan.finish_nodes()) is not None:
        raise SystemExit(f"the earlier file path refused the file: {problem}")
    store.bulk_create(plan)


def _encoded_calls(graph: SyntheticGraph) -> list[tuple[Any, ...]]:
    """The fast path's GRAPH.BULK calls, encoded but not sent (the engine-alone leg replays them)."""
    calls: list[tuple[Any, ...]] = []

    def keep(*args: Any) -> bytes:
        calls.append(tuple(bytes(a) if isinstance(a, memoryview) else a for a in args))
        return b"0 nodes created, 0 relations created"

    falkordb_bulk.send(keep, "replay", graph.bulk_plan(whole=False))
    return calls


def _leg(name: str, stores: dict[bool, FalkorDBStore], graph: SyntheticGraph, calls: list[tuple[Any, ...]],
         server: psutil.Process, file: Path) -> dict[str, Any]:
    store = stores[name not in REWRITING]  # the same graph either way; True: the store holds the rewrites
    store.clear()
    gc.collect()
    until_compacted(store._db.connection)
    me = psutil.Process()
    cpu0, srv0, t0 = _cpu(me), _cpu(server), time.perf_counter()
    if name == "earlier":
        store.bulk_create(graph.bulk_plan(whole=True), encoding="values")
    elif name.startswith("fast"):
        store.bulk_create(graph.bulk_plan(whole=False))
    elif name in ("file", "file-rewrite"):
        with tempfile.TemporaryDirectory(prefix="proda-bulk-file-") as home:  # its load checkpoint, fresh
            report = load_file(store, file, home=Path(home))
        if report.method != "bulk":
            raise SystemExit(f"the file load took the {report.method} path: {report.bulk_skipped}")
    elif name == "file-earlier":
        load_file_earlier(store, file)
    else:
        conn = store._db.connection  # the engine alone: the same calls, already encoded
        if conn.exists(store.graph_name):
            store._graph.delete()
        held = falkordb_rewrites.pause(conn, "engine-alone")
        try:
            conn.execute_command("GRAPH.BULK", store.graph_name, "BEGIN", 0, 0, 0, 0)
            store.ensure_schema()
            for args in calls:
                rest = args[3:] if args[2] == "BEGIN" else args[2:]
                conn.execute_command("GRAPH.BULK", store.graph_name, *rest)
        finally:
            if held:
                falkordb_rewrites.resume(conn, "engine-alone")
    until_indexed(store)
    wall = time.perf_counter() - t0
    nodes, edges = graph_shape(store)
    out = {"seconds": wall, "elements_per_s": graph.total / wall, "client_cpu_s": _cpu(me) - cpu0,
           "server_cpu_s": _cpu(server) - srv0, "nodes": nodes, "edges": edges, "loadavg": os.getloadavg()[0]}
    store.clear()
    return out


def run(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    log(f"generating ~{args.elements:,} elements (seed {args.seed}) ...")
    graph = generate(args.elements, args.disciplines, args.seed, args.provenance_share, log)
    log(f"  {graph.total:,} elements; encoding the engine-alone leg's calls ...")
    calls = _encoded_calls(graph)
    rounds: dict[str, list[dict[str, Any]]] = {leg: [] for leg in LEGS}
    with temporary_home("proda-bulk-") as home:
        file = home / "knowledge.jsonl"
        graph.write_jsonl(file)
        log(f"  written as a {file.stat().st_size / 1e6:,.0f} MB JSONL file for the file leg")
        server = EmbeddedFalkorDB(home / "falkordb")
        info, _ = server.ensure_running()
        stores = {owns: FalkorDBStore("127.0.0.1", info.port, "proda_bulk_bench", password=info.password,
                                      owns_server=owns) for owns in (True, False)}
        try:
            proc = psutil.Process(info.pid)
            for r in range(args.rounds):
                for leg in LEGS:
                    res = _leg(leg, stores, graph, calls, proc, file)
                    rounds[leg].append(res)
                    log(f"  round {r + 1} {leg:12s} {res['seconds']:6.2f} s = {res['elements_per_s']:>9,.0f}/s  "
                        f"CPU client {res['client_cpu_s']:5.2f} s, server {res['server_cpu_s']:5.2f} s  "
                        f"({res['nodes']:,} nodes, {res['edges']:,} edges; load {res['loadavg']:.1f})")
        finally:
            for store in stores.values():
                store.close()
            server.stop()
    shapes = {(x["nodes"], x["edges"]) for xs in rounds.values() for x in xs}
    if len(shapes) != 1:
        raise SystemExit(f"the legs created different graphs: {sorted(shapes)}")
    med = {leg: {k: statistics.median(x[k] for x in xs) for k in ("seconds", "elements_per_s", "client_cpu_s",
                                                                    "server_cpu_s")}
           for leg, xs in rounds.items()}
    return {"elements": graph.total, "graph": dict(zip(("nodes", "edges"), shapes.pop(), strict=True)),
            "rounds": rounds, "median": med,
            "fast_over_earlier": med["fast"]["elements_per_s"] / med["earlier"]["elements_per_s"],
            "fast_over_rewriting": med["fast"]["elements_per_s"] / med["fast-rewrite"]["elements_per_s"],
            "file_over_rewriting": med["file"]["elements_per_s"] / med["file-rewrite"]["elements_per_s"],
            "fast_over_engine": med["fast"]["elements_per_s"] / med["engine"]["elements_per_s"],
            "file_over_fast": med["file"]["elements_per_s"] / med["fast"]["elements_per_s"],
            "file_over_earlier_file": med["file"]["elements_per_s"] / med["file-earlier"]["elements_per_s"],
            "target_per_s": TARGET_PER_S, "cpus": os.cpu_count()}


def print_report(r: dict[str, Any]) -> None:
    print(f"\nbulk first load of {r['elements']:,} elements ({r['graph']['nodes']:,} nodes, {r['graph']['edges']:,} "
          f"edges), median of {len(r['rounds']['fast'])} rounds on {r['cpus']} CPUs:")
    print_legs(r["median"], LEGS, [("seconds", "seconds", ".2f"), ("elements/s", "elements_per_s", ",.0f"),
                                   ("client CPU s", "client_cpu_s", ".2f"), ("server CPU s", "server_cpu_s", ".2f")])
    fast = r["median"]["fast"]["elements_per_s"]
    print(f"fast / fast rewriting = {r['fast_over_rewriting']:.2f}x; "
          f"fast / earlier = {r['fast_over_earlier']:.2f}x; fast / engine alone = {r['fast_over_engine']:.2f}; "
          f"target {TARGET_PER_S:,}/s: {'met' if fast >= TARGET_PER_S else 'MISSED'} ({fast:,.0f}/s); "
          f"the engine alone: {r['median']['engine']['elements_per_s']:,.0f}/s")
    file = r["median"]["file"]["elements_per_s"]
    print(f"from a JSONL file (proda load): {file:,.0f}/s, {r['file_over_rewriting']:.2f}x the same rewriting, "
          f"{r['file_over_earlier_file']:.2f}x the earlier file "
          f"path ({r['median']['file-earlier']['elements_per_s']:,.0f}/s), {r['file_over_fast']:.2f}x the fast path "
          f"from memory; target {TARGET_PER_S:,}/s: {'met' if file >= TARGET_PER_S else 'MISSED'}")


def graph_arguments(p: argparse.ArgumentParser, *, rounds: int, legs: str, results: str) -> None:
    """The options of a first-load benchmark: the synthetic graph, rounds, results file (shared with
    ``load_memory.py``)."""
    p.add_argument("--elements", type=int, default=1_000_000, help="elements to generate and load")
    p.add_argument("--rounds", type=int, default=rounds, help=f"rounds of the {legs} legs (medians are reported)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--disciplines", type=int, default=4)
    p.add_argument("--provenance-share", type=float, default=0.01,
                   help="share of elements that are documents+chunks cited by the others")
    p.add_argument("--json", type=Path, default=Path(f"benchmarks/results/{results}.json"), help="results file")
    p.add_argument("--quiet", action="store_true", help="only the final report")


def checked(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    if args.rounds < 1 or args.elements < 1000:
        p.error("--rounds must be at least 1 and --elements at least 1000")
    return args


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    graph_arguments(p, rounds=3, legs="seven", results="bulk_load")
    return checked(p, p.parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    return run_and_report(parse_args(argv), run, print_report)


if __name__ == "__main__":
    sys.exit(main())
