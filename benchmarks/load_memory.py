"""Peak memory of a first load from a JSONL file: the streamed path against reading the whole file first.

The synthetic graph of ``benchmarks/graph_ingest.py`` is written once as a JSONL file and loaded into a
new graph of a temporary embedded FalkorDB, each load in a fresh Python process so that its peak
resident memory is its own (``getrusage``'s ``ru_maxrss``, reported by the process itself):

* **file**: ``proda load``'s code (``load_file``): node rows made as lines are parsed and sent while the
  file is read, of each element only what its edges need kept;
* **file, earlier**: the loader's earlier order (``bulk_load.load_file_earlier``): every line into a
  validated model first, then the graph created from the models.

The rounds alternate the legs. Printed: wall seconds, peak RSS, and the RSS the process had before the
load began (the interpreter and ProDa's imports), medians over ``--rounds``, and the ratio of the
peaks' growth over that baseline.

Run::

    .venv/bin/python benchmarks/load_memory.py                        # 1M elements, 2 rounds, ~3 minutes
    .venv/bin/python benchmarks/load_memory.py --elements 100000 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

LEGS = ("file", "file-earlier")


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(args: argparse.Namespace) -> int:
    """One load in this process; prints its figures as one JSON line."""
    from bulk_load import load_file_earlier

    from proda.pipelines.load import load_file
    from proda.schema.store.falkordb_store import FalkorDBStore

    store = FalkorDBStore("127.0.0.1", args.port, args.graph, password=args.password)
    before = _rss_mib()
    t0 = time.perf_counter()
    try:
        if args.child == "file":
            with tempfile.TemporaryDirectory(prefix="proda-load-memory-") as home:
                report = load_file(store, args.file, home=Path(home))
            if report.method != "bulk":
                raise SystemExit(f"the file load took the {report.method} path: {report.bulk_skipped}")
        else:
            load_file_earlier(store, args.file)
        while store.schema_pending():
            time.sleep(0.01)
        seconds = time.perf_counter() - t0
    finally:
        store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "rss_before_mib": before, "peak_rss_mib": peak}))
    return 0


def run(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    from common import temporary_home
    from graph_ingest import generate

    from proda.schema.store.embedded import EmbeddedFalkorDB
    from proda.schema.store.falkordb_store import FalkorDBStore

    log(f"generating ~{args.elements:,} elements (seed {args.seed}) ...")
    graph = generate(args.elements, args.disciplines, args.seed, args.provenance_share, log)
    total = graph.total
    rounds: dict[str, list[dict[str, Any]]] = {leg: [] for leg in LEGS}
    with temporary_home("proda-load-memory-") as home:
        file = home / "knowledge.jsonl"
        graph.write_jsonl(file)
        del graph
        log(f"  {total:,} elements written as a {file.stat().st_size / 1e6:,.0f} MB JSONL file")
        server = EmbeddedFalkorDB(home / "falkordb")
        info, _ = server.ensure_running()
        store = FalkorDBStore("127.0.0.1", info.port, "proda_load_memory", password=info.password)
        try:
            for r in range(args.rounds):
                for leg in LEGS:
                    store.clear()
                    cmd = [sys.executable, __file__, "--child", leg, "--file", str(file), "--port", str(info.port),
                           "--password", info.password or "", "--graph", "proda_load_memory"]
                    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
                    if done.returncode != 0:
                        raise SystemExit(f"the {leg} leg failed:\n{done.stderr[-2000:]}")
                    res = json.loads(done.stdout.strip().splitlines()[-1])
                    nodes = store.run("MATCH (n) RETURN count(n) AS n")[0]["n"]
                    res.update(nodes=nodes, loadavg=os.getloadavg()[0])
                    rounds[leg].append(res)
                    log(f"  round {r + 1} {leg:12s} {res['seconds']:6.2f} s  peak RSS {res['peak_rss_mib']:7,.0f} "
                        f"MiB (before the load {res['rss_before_mib']:,.0f} MiB; {nodes:,} nodes; "
                        f"load {res['loadavg']:.1f})")
            store.clear()
        finally:
            store.close()
            server.stop()
    if len({x["nodes"] for xs in rounds.values() for x in xs}) != 1:
        raise SystemExit("the legs created different graphs")
    med = {leg: {k: statistics.median(x[k] for x in xs) for k in ("seconds", "peak_rss_mib", "rss_before_mib")}
           for leg, xs in rounds.items()}
    for m in med.values():
        m["growth_mib"] = m["peak_rss_mib"] - m["rss_before_mib"]
    return {"elements": total, "rounds": rounds, "median": med, "cpus": os.cpu_count(),
            "earlier_over_streamed_growth": med["file-earlier"]["growth_mib"] / med["file"]["growth_mib"]}


def print_report(r: dict[str, Any]) -> None:
    from common import print_legs

    print(f"\nfirst load of {r['elements']:,} elements from a JSONL file, median of {len(r['rounds']['file'])} "
          f"round(s) on {r['cpus']} CPUs:")
    print_legs(r["median"], LEGS, [("seconds", "seconds", ".2f"), ("peak RSS MiB", "peak_rss_mib", ",.0f"),
                                   ("before MiB", "rss_before_mib", ",.0f"), ("growth MiB", "growth_mib", ",.0f")])
    print(f"the earlier path's memory growth is {r['earlier_over_streamed_growth']:.2f}x the streamed path's")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from bulk_load import checked, graph_arguments

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    graph_arguments(p, rounds=2, legs="two", results="load_memory")
    # one leg in a fresh process (the parent runs these)
    p.add_argument("--child", choices=LEGS, help=argparse.SUPPRESS)
    p.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--password", help=argparse.SUPPRESS)
    p.add_argument("--graph", help=argparse.SUPPRESS)
    return checked(p, p.parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    from common import run_and_report

    return run_and_report(args, run, print_report)


if __name__ == "__main__":
    sys.exit(main())
