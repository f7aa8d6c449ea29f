"""The Tester's catalog queries as FalkorDB executes them: ``GRAPH.PROFILE`` operator trees and engine time.

Builds the synthetic graph of ``benchmarks/tester_build.py`` (same options, same seed, so the same graph),
splits it, takes one batch of held-out chains of one discipline in the build's seeded order, and prepares
each batched query's parameters exactly as ``proda bench build`` does for that batch. For each query it
then prints:

* the ``GRAPH.PROFILE`` output (records produced and milliseconds per operator), which shows whether a
  lookup seeks an index (``Node By Index Scan``, ``Edge By Index Scan``) or scans a label;
* three timings of the same call: the engine's own execution time (``Query internal execution time``),
  the client's wall time of the round trip, and the difference (building the parameter header, transfer,
  parsing the reply in Python).

The distractor queries INVREL, TRUNC and NEARMISS are what the build's requirement names; the other
batched queries of a build (chain steps, the reachability proof, the item write) are profiled too. The
item write is a real write: it is profiled last, on the throw-away synthetic graph.

Run::

    .venv/bin/python benchmarks/tester_profile.py                     # 100,000 chains
    .venv/bin/python benchmarks/tester_profile.py --chains 20000 --queries bench_nearmiss
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from tester_build import add_graph_args, synthetic_store

from proda.pipelines.tester import distractors
from proda.pipelines.tester.build import ShardBuilder, chain_order, item_row
from proda.pipelines.tester.config import BenchConfig
from proda.pipelines.tester.split import assign_splits
from proda.pipelines.tester.validity import proof_rows, select
from proda.schema.store.base import GraphStore
from proda.schema.store.falkordb_store import FalkorDBStore
from proda.schema.vocabulary import default_vocabulary

DISTRACTOR_QUERIES = ("bench_invrel", "bench_trunc", "bench_nearmiss", "bench_peers")
OTHER_QUERIES = ("bench_chain_steps", "bench_reach", "bench_upsert_items")


def batch_params(store: GraphStore, config: BenchConfig, discipline: str) -> dict[str, dict[str, Any]]:
    """Each batched query's parameters for the first batch of ``discipline``, as the build prepares them
    (the batch is read by the build's own :meth:`ShardBuilder.read_batch`)."""
    vocab = default_vocabulary()
    chains = store.query("bench_candidate_chains", {"splits": list(config.splits), "discipline": discipline})
    ids = sorted((r["id"] for r in chains), key=lambda cid: chain_order(config.seed, cid))[:config.batch_size]
    builder = ShardBuilder(store, config, vocab)
    read = builder.read_batch(ids)
    usable, found, reached = read.usable, read.found, read.reached
    notes: Counter[str] = Counter()
    invrel_rows = [row for v in usable for row in distractors.invrel_rows(v, vocab, notes)]
    items = []
    for v in usable:
        chosen = select(v, found[v.id], reached.get(v.id, set()), config.distractors, config.seed, Counter())
        if len(chosen) == config.distractors and v.answer.canonical_id in reached.get(v.id, set()):
            items.append(item_row(builder.item(v, chosen)))
    return {
        "bench_chain_steps": {"chain_ids": ids},
        "bench_invrel": {"rows": invrel_rows, "limit": config.candidates_per_row},
        "bench_trunc": {"chain_ids": [v.id for v in usable if v.length > 1]},
        "bench_nearmiss": distractors.nearmiss_params(usable, config.candidates_per_row),
        # every usable chain of the batch, as if all were short of distractors (the build asks for fewer)
        "bench_peers": distractors.peers_params(usable, config.candidates_per_row),
        "bench_reach": {"rows": proof_rows(usable, found)},
        "bench_upsert_items": {"rows": items},
    }


def profile_text(store: FalkorDBStore, name: str, params: dict[str, Any]) -> list[str]:
    """The ``GRAPH.PROFILE`` lines of catalog query ``name`` run with ``params`` (it executes the query)."""
    query = store.catalog.get(name)
    text = query.text(store.backend)
    plan = store._graph.profile(text, query.bind(params))
    return list(plan.plan)


def timings(store: FalkorDBStore, name: str, params: dict[str, Any], repeats: int) -> dict[str, float]:
    """Median engine and client milliseconds of ``repeats`` plain runs of a read query."""
    query = store.catalog.get(name)
    text, bound = query.text(store.backend), query.bind(params)
    engine, wall = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        res = store._graph.ro_query(text, bound)
        wall.append(1000 * (time.perf_counter() - t))
        engine.append(float(res.run_time_ms))
    return {"engine_ms": statistics.median(engine), "wall_ms": statistics.median(wall),
            "rows": float(len(res.result_set))}


def report(store: GraphStore, config: BenchConfig, discipline: str | None, names: Sequence[str], repeats: int,
           log: Callable[[str], None]) -> None:
    assert isinstance(store, FalkorDBStore), "GRAPH.PROFILE is FalkorDB's; run on the embedded FalkorDB"
    split = assign_splits(store, config)
    log(f"split {sum(split.assigned.values()):,} unsplit chains")
    disc = discipline or sorted(r["discipline"] for r in store.query("bench_split_counts", {"discipline": None})
                                if r["discipline"])[0]
    params = batch_params(store, config, disc)
    for name in names:
        p = params[name]
        size = len(next(iter(v for v in p.values() if isinstance(v, list))))
        print(f"\n== {name}: one batch of {disc} ({size:,} parameter rows)")
        if name == "bench_trunc":
            print("   (batch_strategy=serial only: the overlapped path takes TRUNC's stops from bench_chain_steps)")
        if name != "bench_upsert_items":
            t = timings(store, name, p, repeats)
            print(f"   engine {t['engine_ms']:.1f} ms, client wall {t['wall_ms']:.1f} ms, outside the engine "
                  f"{t['wall_ms'] - t['engine_ms']:.1f} ms (median of {repeats}); {int(t['rows']):,} rows")
        for line in profile_text(store, name, p):
            print("   " + line)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_graph_args(p)
    p.add_argument("--discipline", default=None, help="discipline of the profiled batch (default: the first)")
    p.add_argument("--batch-size", type=int, default=1000, help="chains in the profiled batch")
    p.add_argument("--queries", default=",".join(DISTRACTOR_QUERIES + OTHER_QUERIES),
                   help="comma-separated catalog queries to profile")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per read query (medians are printed)")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.queries.split(",") if n.strip()]
    config = BenchConfig(name="bench_profile", seed=args.seed, batch_size=args.batch_size)
    with synthetic_store(args, lambda m: print(m, flush=True)) as (store, _info):
        report(store, config, args.discipline, names, args.repeats, lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
