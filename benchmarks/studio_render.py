"""ProDa Studio: median server-side render time of every page on a large synthetic graph.

Loads the synthetic graph of ``benchmarks/graph_ingest.py`` (default 1M elements) into an embedded
FalkorDB through :class:`GraphWriter`, adds a small benchmark (Tester, ``--items-per-discipline``
items per discipline) and one evaluation run answered by a stand-in scorer, serves the Studio on a
loopback port, and times HTTP GETs of each page and data endpoint (the complete response body, so
server render and transfer on loopback, no browser). Each page is fetched once to warm up, then
``--repeats`` times. Target: median <= 300 ms per page.

Whole-graph aggregates (counts per discipline, chain-length histogram) are kept by the Studio for
60 s; ``/?fresh=1`` times the overview recomputing them, so both the cached and the cold cost show.

Run::

    .venv/bin/python benchmarks/studio_render.py --elements 100000
    .venv/bin/python benchmarks/studio_render.py                     # 1M elements, several minutes to load
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from common import percentile, temporary_home, write_json
from graph_ingest import generate

from proda.config import Settings
from proda.schema.store.embedded import EmbeddedFalkorDB
from proda.schema.store.falkordb_store import FalkorDBStore
from proda.schema.store.writer import ORDER, GraphWriter

TARGET_MEDIAN_MS = 300.0


class FirstOption:
    """A stand-in model (no weights): always the first option, so about three items in four are wrong."""

    def score(self, question: str, choices: Sequence[str]) -> Any:
        from proda.training.scoring import OptionScores

        lls = [0.0 if i == 0 else -1.0 - i for i in range(len(choices))]
        return OptionScores(lls, lls)


def load(store: FalkorDBStore, home: Path, args: argparse.Namespace) -> dict[str, float]:
    """The synthetic graph, a small benchmark and one evaluation run; seconds per phase."""
    from proda.pipelines.tester import BenchConfig
    from proda.pipelines.tester.build import build_benchmark
    from proda.training.evaluate import EvalConfig, evaluate

    seconds: dict[str, float] = {}
    t = time.perf_counter()
    graph = generate(args.elements, args.disciplines, args.seed, args.provenance_share, log=lambda m: None)
    seconds["generate"] = time.perf_counter() - t
    t = time.perf_counter()
    writer = GraphWriter(store, batch_size=10_000)
    for kind in ORDER:
        writer.write(graph.elements[kind])
    seconds["ingest"] = time.perf_counter() - t
    t = time.perf_counter()
    build_benchmark(store, BenchConfig(name="bench", per_discipline=args.items_per_discipline, seed=0))
    seconds["benchmark"] = time.perf_counter() - t
    t = time.perf_counter()
    evaluate(store, EvalConfig(model="stub-first", benchmark="bench", split="test", run_name="v1"), home,
             scorer=FirstOption())
    seconds["evaluate"] = time.perf_counter() - t
    return seconds


def pages(store: FalkorDBStore) -> list[str]:
    """Every page and data endpoint, with ids drawn from the loaded graph."""
    concept = store.query("concept_id_page", {"skip": 1000, "limit": 1})[0]["id"]
    chain = store.query("chain_id_page", {"skip": 1000, "limit": 1})[0]["id"]
    steps = store.query("chain_detail", {"id": chain})
    relation, chain_from = next((r["relation_id"], r["concept_id"]) for r in steps if r["relation_id"])
    name = store.query("concept", {"id": concept})[0]["name"]
    document = store.query("studio_documents", {"skip": 10, "limit": 1})[0]["id"]
    run = store.query("eval_runs", {"run": "v1", "limit": 1})[0]["id"]
    wrong = store.query("studio_run_items", {"run_id": run, "skip": 0, "limit": 1})
    item = wrong[0]["item_id"] if wrong else store.query("studio_bench_page", {"benchmark": "bench"})[0]["id"]
    return ["/", "/?fresh=1", "/corpus", "/corpus?page=200", f"/corpus/document/{document}", "/corpus/quarantine",
            "/corpus/merges", f"/graph?q={quote(name[:4])}", f"/graph/concept/{concept}",
            f"/api/graph/neighbours?id={concept}&depth=2&limit=60", f"/graph/relation/{relation}",
            f"/graph/relation/{relation}?at={chain_from}",
            f"/graph/chain/{chain}", "/bench", f"/bench/item/{item}", "/training", f"/debug?run={run}", "/query",
            f"/query/chain_detail?run=1&id={chain}", "/operations"]


def measure(url: str, paths: list[str], repeats: int) -> list[dict[str, Any]]:
    out = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for path in paths:
            first = client.get(path)
            if first.status_code != 200:
                raise SystemExit(f"{path}: HTTP {first.status_code}: {first.text[:300]}")
            samples = []
            for _ in range(repeats):
                t = time.perf_counter()
                response = client.get(path)
                response.read()
                samples.append((time.perf_counter() - t) * 1000)
            out.append({"path": path, "median_ms": statistics.median(samples), "p95_ms": percentile(samples, 95),
                        "max_ms": max(samples), "bytes": len(first.content)})
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    import uvicorn

    from proda.services.studio.app import create_app
    from proda.services.studio.hosting import ReadOnlyOperations
    from proda.services.studio.jobs import studio_registry

    with temporary_home("proda-studio-bench-") as home:
        info, _ = EmbeddedFalkorDB(home).ensure_running()
        store = FalkorDBStore("127.0.0.1", info.port, "studio_bench", password=info.password)
        try:
            store.clear()
            print(f"loading {args.elements:,} elements ...", flush=True)
            seconds = load(store, home, args)
            print("loaded: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()), flush=True)
            settings = Settings(home=home)
            async def operations() -> Any:  # read from the file: starting jobs is not what is measured
                return ReadOnlyOperations(home / "operations.sqlite3", studio_registry())

            app = create_app(settings, store, operations=operations)
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, loop="asyncio",
                                                   log_level="warning"))
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.05)
            url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
            results = measure(url, pages(store), args.repeats)
            server.should_exit = True
            thread.join(10)
        finally:
            store.close()
            EmbeddedFalkorDB(home).stop()
    return {"elements": args.elements, "repeats": args.repeats, "load_seconds": seconds,
            "loadavg": os.getloadavg(), "pages": results, "target_median_ms": TARGET_MEDIAN_MS,
            "over_target": [r["path"] for r in results if r["median_ms"] > TARGET_MEDIAN_MS]}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--elements", type=int, default=1_000_000, help="synthetic elements to load")
    p.add_argument("--disciplines", type=int, default=4)
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--provenance-share", type=float, default=0.01)
    p.add_argument("--items-per-discipline", type=int, default=100, help="benchmark items built per discipline")
    p.add_argument("--repeats", type=int, default=9, help="timed GETs per page")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    result = run(args)
    print(f"\nStudio render on {result['elements']:,} elements (load avg {result['loadavg'][0]:.1f}); "
          f"median of {args.repeats} GETs, target <= {TARGET_MEDIAN_MS:.0f} ms")
    print(f"{'page':58} {'median':>9} {'p95':>9} {'KiB':>7}")
    for r in result["pages"]:
        flag = "  OVER" if r["median_ms"] > TARGET_MEDIAN_MS else ""
        print(f"{r['path'][:58]:58} {r['median_ms']:8.1f}ms {r['p95_ms']:8.1f}ms {r['bytes'] / 1024:7.1f}{flag}")
    if args.json:
        write_json(args.json, result)
    return 1 if result["over_target"] else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
