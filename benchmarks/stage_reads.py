"""Stage reads at corpus scale: how long the Builder and the composer take to read a discipline, and
the Builder's whole stage, on a graph the size of a many-book corpus.

A whole-corpus closed loop once stopped in the Builder: its page query timed out (60 s) on a graph of
28,119 chunks. The query paged relations by relation id (``r.id > $after ... ORDER BY r.id``), and
FalkorDB's planner answered it by scanning the RELATION id index once per concept of the discipline.
``build_relations`` now pages by subject concept; this script measures both on the same graph.

The graph is ``benchmarks/graph_ingest.py``'s synthetic one (seeded; concepts, relations with evidence
and a chunk, chains, documents and chunks in ``--disciplines`` disciplines), bulk loaded into a
temporary embedded FalkorDB with the same indexes as ``proda load``. Per discipline it times:

* ``build_relations`` as the Builder reads it now (``read_relations``: every page), and the earlier
  relation-id query's **first page** with ``--old-timeout`` seconds (it is the baseline; a timeout is
  reported as such, with the ratio as a lower bound);
* ``compose_relations`` + ``compose_chains`` as the composer reads them (``read_inputs``);
* the recall family's distractor choice, drawn (now) against ranking every name (before), on the
  same ``--distractor-sample`` relations;
* the Builder's whole stage (``build_discipline``: read, render the ``--families``, drop benchmark
  duplicates, write) and reading its examples back as training does (``iter_examples``), unless
  ``--no-build``.

Run::

    .venv/bin/python benchmarks/stage_reads.py                      # 200,000 elements, about 5 minutes
    .venv/bin/python benchmarks/stage_reads.py --elements 20000 --old-timeout 10
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import temporary_home, write_json
from graph_ingest import generate

from proda.errors import QueryTimeout
from proda.pipelines.build.builder import (
    _distractors,
    _order,
    build_discipline,
    distractor_pool,
    read_relations,
)
from proda.pipelines.build.config import FAMILIES, BuildConfig
from proda.pipelines.build.export import iter_examples
from proda.pipelines.build.templates import RelationFacts
from proda.pipelines.extract.compose import read_inputs
from proda.schema.store.embedded import EmbeddedFalkorDB
from proda.schema.store.falkordb_store import FalkorDBStore
from proda.schema.vocabulary import default_vocabulary

# The Builder's page query before it paged by subject concept: the baseline this script measures.
OLD_BUILD_RELATIONS = """
MATCH (a:Concept {discipline: $discipline})-[r:RELATION]->(b:Concept)
WHERE r.id > $after AND r.stale IS NULL AND a.stale IS NULL AND b.stale IS NULL
  AND a.merged_into IS NULL AND b.merged_into IS NULL
WITH a, r, b ORDER BY r.id LIMIT $limit
OPTIONAL MATCH (k:Chunk {id: r.chunk_id})<-[:HAS_CHUNK]-(d:Document)
RETURN r.id AS id, r.type AS type, a.id AS subject_id, a.name AS subject, b.id AS object_id, b.name AS object,
       r.evidence AS evidence, r.chunk_id AS chunk_id, k.text AS chunk_text, d.title AS title
"""


def old_distractors(r: RelationFacts, names: list[str], true_objects: set[str], seed: int) -> list[str]:
    """The Builder's distractors before they were drawn: every name ranked by a hash (the baseline)."""
    banned = true_objects | {r.subject}
    ranked = sorted((n for n in names if n not in banned), key=lambda n: _order(f"{r.id}\x1f{n}", seed))
    return ranked[:3]


def distractor_cost(relations: list[RelationFacts], sample: int) -> dict[str, Any]:
    """Seconds per relation of choosing the recall family's distractors, drawn (now) and ranked (before),
    over the same ``sample`` relations and the discipline's every name."""
    names, objects = distractor_pool(relations)
    some = relations[:sample]
    out: dict[str, Any] = {"names": len(names), "sample": len(some)}
    for label, fn in (("drawn", _distractors), ("ranked", old_distractors)):
        _, seconds = _timed(lambda fn=fn: [fn(r, names, objects[(r.subject_id, r.type)], 0) for r in some])
        out[f"{label}_s_per_relation"] = seconds / max(1, len(some))
    return out


def _timed(fn: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def measure_discipline(store: FalkorDBStore, discipline: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"discipline": discipline}
    relations, seconds = _timed(lambda: list(read_relations(store, discipline, args.page_size)))
    out["build_relations"] = {"relations": len(relations), "seconds": seconds,
                              "pages": -(-len({r.subject_id for r in relations}) // args.page_size)}
    out["distractors"] = distractor_cost(relations, args.distractor_sample)
    old: dict[str, Any] = {"timeout_s": args.old_timeout}
    try:
        rows, seconds = _timed(lambda: store.run(OLD_BUILD_RELATIONS, {"discipline": discipline, "after": "",
                                                                       "limit": args.page_size},
                                                 read_only=True, timeout_ms=int(args.old_timeout * 1000)))
        old.update(rows=len(rows), seconds=seconds, timed_out=False)
    except QueryTimeout:
        old.update(rows=0, seconds=args.old_timeout, timed_out=True)
    out["old_first_page"] = old
    inputs, seconds = _timed(lambda: read_inputs(store, discipline, args.page_size))
    out["compose_reads"] = {"relations": len(inputs.relations), "chains": len(inputs.extracted), "seconds": seconds}
    if not args.no_build:
        families = FAMILIES if args.families == "all" else tuple(args.families.split(","))
        config = BuildConfig(dataset="stage_reads", discipline=discipline, page_size=args.page_size,
                             families=families)
        stats, seconds = _timed(lambda: build_discipline(store, discipline, config, default_vocabulary()))
        out["build"] = {"relations": stats.relations, "examples": stats.examples, "seconds": seconds}
        n, seconds = _timed(lambda: sum(1 for _ in iter_examples(store, "stage_reads", discipline)))
        out["export"] = {"examples": n, "seconds": seconds}
    return out


def print_discipline(d: dict[str, Any]) -> None:
    new = d["build_relations"]
    old = d["old_first_page"]
    per_page = new["seconds"] / max(1, new["pages"])
    bound = ">= " if old["timed_out"] else ""
    old_text = (f"timed out after {old['seconds']:.0f} s" if old["timed_out"]
                else f"{old['seconds']:.2f} s for {old['rows']:,} rows")
    print(f"{d['discipline']}: build_relations read {new['relations']:,} relations in {new['seconds']:.2f} s "
          f"({new['pages']} pages, {per_page:.2f} s a page); the relation-id query's first page: {old_text} "
          f"({bound}{old['seconds'] / per_page:,.0f}x a page of the new one)")
    x = d["distractors"]
    drawn, ranked = x["drawn_s_per_relation"], x["ranked_s_per_relation"]
    n = d["build_relations"]["relations"]
    print(f"  recall distractors among {x['names']:,} names ({x['sample']} relations): drawn {drawn * 1e6:,.0f} us "
          f"a relation, ranked (before) {ranked * 1e6:,.0f} us ({ranked / drawn:,.0f}x; ranked, the discipline's "
          f"{n:,} relations would take {ranked * n:,.0f} s)")
    c = d["compose_reads"]
    print(f"  composer reads: {c['relations']:,} relations + {c['chains']:,} chains in {c['seconds']:.2f} s")
    if "build" in d:
        b = d["build"]
        print(f"  Builder stage: {b['examples']:,} examples from {b['relations']:,} relations in {b['seconds']:.1f} s "
              f"({b['examples'] / max(b['seconds'], 1e-9):,.0f} examples/s)")
        e = d["export"]
        print(f"  training reads (the examples, paged): {e['examples']:,} in {e['seconds']:.2f} s")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--elements", type=int, default=200_000, help="size of the synthetic graph (default 200,000)")
    p.add_argument("--disciplines", type=int, default=4, help="disciplines the graph is split into (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--page-size", type=int, default=BuildConfig.page_size,
                   help=f"page size of both queries (default {BuildConfig.page_size}, the Builder's)")
    p.add_argument("--old-timeout", type=float, default=60.0,
                   help="seconds the old query's first page may take (default 60, the store's default)")
    p.add_argument("--only", type=int, default=1, help="disciplines measured (default 1: the first)")
    p.add_argument("--distractor-sample", type=int, default=200,
                   help="relations the two distractor choices are timed on (default 200)")
    p.add_argument("--no-build", action="store_true", help="skip the Builder's whole stage")
    p.add_argument("--families", default=",".join(BuildConfig.families),
                   help="the Builder's example families, comma-separated, or 'all' (default: the Builder's)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/stage_reads.json"))
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    graph, seconds = _timed(lambda: generate(args.elements, args.disciplines, args.seed, 0.2, print))
    print(f"generated {graph.total:,} elements in {seconds:.1f} s; load average {os.getloadavg()[0]:.1f}")
    results: dict[str, Any] = {"elements": graph.total, "args": {k: str(v) for k, v in vars(args).items()},
                               "loadavg_before": os.getloadavg(), "disciplines": []}
    with temporary_home("proda-stage-reads-") as home:
        server = EmbeddedFalkorDB(home / "falkordb")
        info, _ = server.ensure_running()
        store = FalkorDBStore("127.0.0.1", info.port, "stage_reads", password=info.password)
        try:
            _, seconds = _timed(lambda: store.bulk_create(graph.bulk_plan()))
            while store.schema_pending():
                time.sleep(0.05)
            print(f"bulk loaded in {seconds:.1f} s")
            disciplines = sorted({c.discipline for c in graph.elements["concept"]})[: args.only]
            for discipline in disciplines:
                d = measure_discipline(store, discipline, args)
                print_discipline(d)
                results["disciplines"].append(d)
        finally:
            store.close()
            server.stop()
    results["loadavg_after"] = os.getloadavg()
    write_json(args.out, results)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
