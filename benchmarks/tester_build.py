"""Benchmark-build benchmark: how fast ``proda bench build`` makes items, how many chains yield one, the
operator mix of the distractors, and how long ``proda bench check`` takes to re-verify them.

Two modes:

* **synthetic** (default): a deterministic (seeded) knowledge graph of ``--chains`` L3 chains (100,000
  by default) in several disciplines, built from the real pydantic models and written through
  :class:`GraphWriter` into a temporary embedded FalkorDB, like ``benchmarks/graph_ingest.py``. Its
  structure gives every operator material: each concept has a few typed out-edges; a share of the
  edges whose type has an inverse also gets an edge of the inverse type from the same subject (the
  contrasting facts INVREL follows); a share of the concepts is_a one of a few category concepts
  (NEARMISS siblings); chains are random walks of 2-4 steps. Each relation is stated in a chunk of a
  document that holds the relations of 40 neighbouring subject concepts, 8 per chunk, so NEARMISS peers
  (the answer's role elsewhere in its document) have material. Chains are written unsplit, so the build
  draws the test/dev/train split itself.
* **existing graph** (``--graph NAME``): an already-extracted graph on the embedded FalkorDB under
  ``--home`` (or the server ``PRODA_GRAPH_URL`` names). Nothing is cleared; chains without a split get
  their deterministic split (that is what ``proda bench build`` does too, and it is permanent); the
  benchmark's items (``--name``, default ``bench_build``) are deleted afterwards unless ``--keep-items``.

Each build repeat starts from no items of that name (deleting them is not timed); the median of the
repeats is reported, plus one idempotent rebuild over existing items. Every repeat builds once per
``--strategies`` entry on the same graph, in ABBA order: ``serial`` is the old path (one round trip
after another, TRUNC read by ``bench_trunc``), ``overlapped`` the new one (``BenchConfig.batch_strategy``).
The report prints both medians, their ratio, and whether both made the same items (a digest of every
stored record) and the same decisions (skips, rejections, operator mix). Target: >= 500 items/s on the
embedded FalkorDB with the new path. ``benchmarks/tester_profile.py`` prints the engine's ``GRAPH.PROFILE``
of the batched queries on the same graph.

Run::

    .venv/bin/python benchmarks/tester_build.py                       # 100,000 chains, several minutes
    .venv/bin/python benchmarks/tester_build.py --chains 5000 --repeats 3
    .venv/bin/python benchmarks/tester_build.py --graph proda --home .proda
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import os
import platform
import random
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from common import temporary_home, write_json

from proda.config import Settings
from proda.pipelines.tester.build import BuildReport, build_benchmark
from proda.pipelines.tester.check import check_benchmark
from proda.pipelines.tester.config import BATCH_STRATEGIES, BenchConfig
from proda.pipelines.tester.split import assign_splits
from proda.schema.models import Chain, Chunk, Concept, Document, Provenance, Relation
from proda.schema.store import open_store
from proda.schema.store.base import GraphStore
from proda.schema.store.embedded import EmbeddedFalkorDB
from proda.schema.store.falkordb_store import FalkorDBStore
from proda.schema.store.writer import Element, GraphWriter
from proda.schema.vocabulary import default_vocabulary

TARGET_ITEMS_PER_S = 500
SUBJECTS_PER_CHUNK = 8
CHUNKS_PER_DOCUMENT = 5
SUBJECTS_PER_DOCUMENT = SUBJECTS_PER_CHUNK * CHUNKS_PER_DOCUMENT
DISCIPLINES = ("economics", "biology", "chemistry", "physics", "psychology", "sociology", "astronomy", "geology")
_WORDS = ("supply", "demand", "price", "cell", "enzyme", "membrane", "energy", "force", "mass", "reaction", "bond",
          "acid", "market", "cost", "gene", "protein", "field", "charge", "wave", "heat", "pressure", "rate")


# --------------------------------------------------------------------------------------------------
# synthetic graph
# --------------------------------------------------------------------------------------------------
def generate(chains: int, n_disciplines: int, seed: int, degree: float, inverse_share: float,
             parent_share: float, log: Callable[[str], None]) -> list[Element]:
    """Concepts, relations and ``chains`` unsplit chains, deterministic from ``seed`` (see the module doc)."""
    rng = random.Random(seed)
    vocab = default_vocabulary()
    types = [t.name for t in vocab.types() if t.name != "is_a"]
    prov = Provenance(extractor="synthetic", prompt_version="bench-build-1")
    out: list[Element] = []
    per_disc = [chains // n_disciplines + (1 if i < chains % n_disciplines else 0) for i in range(n_disciplines)]
    for di, want in enumerate(per_disc):
        disc = DISCIPLINES[di] if di < len(DISCIPLINES) else f"discipline_{di + 1}"
        n = max(50, int(want * 0.6))
        n_cat = max(3, n // 40)
        concepts = [Concept(name=f"{_WORDS[j % len(_WORDS)]} {disc} {j}", discipline=disc, provenance=prov,
                            aliases=[f"{disc} c{j}"] if j % 20 == 0 else []) for j in range(n)]
        out.extend(concepts)
        # documents of 40 subject concepts, chunks of 8: where each relation is stated
        docs = [Document(source_id=f"{disc}-{d}", discipline=disc, title=f"{disc} {d}")
                for d in range(n // SUBJECTS_PER_DOCUMENT + 1)]
        chunks = [Chunk(document_id=docs[k // CHUNKS_PER_DOCUMENT].id, ordinal=k % CHUNKS_PER_DOCUMENT,
                        discipline=disc, text=f"{disc} chunk {k}") for k in range(n // SUBJECTS_PER_CHUNK + 1)]
        out.extend(docs)
        out.extend(chunks)
        adj: dict[int, list[tuple[int, Relation]]] = defaultdict(list)
        seen: set[str] = set()

        def add(a: int, t: str, b: int, *, disc: str = disc, cs: list[Concept] = concepts,
                adj: dict[int, list[tuple[int, Relation]]] = adj, seen: set[str] = seen,
                chunks: list[Chunk] = chunks) -> None:
            r = Relation(type=t, subject_id=cs[a].id, object_id=cs[b].id, discipline=disc,
                         evidence=f"{cs[a].name} {t} {cs[b].name}.", chunk_id=chunks[a // SUBJECTS_PER_CHUNK].id,
                         provenance=prov)
            if r.id in seen or a == b:
                return
            seen.add(r.id)
            adj[a].append((b, r))
            out.append(r)

        for a in range(n_cat, n):
            for _ in range(max(1, round(rng.expovariate(1 / degree)))):
                t = types[rng.randrange(len(types))]
                add(a, t, rng.randrange(n_cat, n))
                inv = vocab.inverse(t)
                if inv is not None and inv != t and rng.random() < inverse_share:
                    add(a, inv, rng.randrange(n_cat, n))  # the contrasting fact INVREL follows
            if rng.random() < parent_share:
                add(a, "is_a", rng.randrange(n_cat))  # categories 0..n_cat-1: NEARMISS siblings
        made, attempts, ids = 0, 0, set()
        while made < want:
            attempts += 1
            if attempts > 50 * want + 1000:
                raise SystemExit(f"cannot find {want} distinct chains in {disc}: raise --degree")
            length = rng.choices((2, 3, 4), weights=(0.4, 0.35, 0.25))[0]
            path = [rng.randrange(n_cat, n)]
            rels: list[Relation] = []
            for _ in range(length):
                options = [(b, r) for b, r in adj.get(path[-1], ()) if b not in path]
                if not options:
                    break
                b, r = options[rng.randrange(len(options))]
                path.append(b)
                rels.append(r)
            if len(rels) < 2:
                continue
            ch = Chain(discipline=disc, relation_ids=[r.id for r in rels], concept_ids=[concepts[i].id for i in path],
                       relation_types=[r.type for r in rels], provenance=prov)
            if ch.id in ids:
                continue
            ids.add(ch.id)
            out.append(ch)
            made += 1
        log(f"  {disc}: {n:,} concepts, {len(seen):,} relations, {made:,} chains")
    return out


# --------------------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------------------
class QueryClock:
    """Wall seconds and calls per catalog query, by wrapping the store's ``query`` (measuring only). An overlapped
    build queries from several threads, hence the lock."""

    def __init__(self, store: GraphStore) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        lock = threading.Lock()
        original = store.query

        def query(name: str, params: Any = None, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return original(name, params, **kw)
            finally:
                with lock:
                    self.seconds[name] += time.perf_counter() - t
                    self.calls[name] += 1

        store.query = query  # type: ignore[method-assign]

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


def delete_items(store: GraphStore, name: str) -> None:
    """Remove one benchmark's items (between repeats; not timed)."""
    store.query("bench_delete_items", {"benchmark": name})


def _share(part: float, whole: float) -> float:
    return part / whole if whole else float("nan")


def fingerprint(store: GraphStore, name: str) -> str:
    """A digest of one benchmark's items as stored (id and full record), to show two builds made the same items."""
    rows = store.run("MATCH (i:BenchmarkItem {benchmark: $b}) RETURN i.id AS id, i.record AS record", {"b": name})
    digest = hashlib.sha256()
    for r in sorted(rows, key=lambda r: r["id"]):
        digest.update(f"{r['id']}\x1f{r['record']}\x1e".encode())
    return digest.hexdigest()


def _build_once(store: GraphStore, config: BenchConfig, clock: QueryClock) -> tuple[BuildReport, dict[str, Any]]:
    delete_items(store, config.name)
    clock.reset()
    t = time.perf_counter()
    report = build_benchmark(store, config)
    wall = time.perf_counter() - t
    held = sum(sh.held_out_chains for sh in report.shards)
    return report, {"seconds": wall, "items": report.items, "items_per_s": _share(report.items, wall),
                    "chains_per_s": _share(held, wall),
                    "query_seconds": dict(clock.seconds), "query_calls": dict(clock.calls)}


def _outcome(report: BuildReport) -> dict[str, Any]:
    """What a build decided (not how fast): equal for the old and the new path."""
    return {k: dict(report.total(k)) for k in ("skipped", "rejected_candidates", "notes", "operators", "kinds")}


def measure(store: GraphStore, config: BenchConfig, repeats: int, strategies: Sequence[str],
            log: Callable[[str], None]) -> dict[str, Any]:
    """Split, then ``repeats`` rounds of one fresh build per batch strategy (alternating, in ABBA order, so both
    see the same machine), then one idempotent rebuild and the checks with the last strategy; returns the
    figures."""
    clock = QueryClock(store)
    t = time.perf_counter()
    split = assign_splits(store, config)
    split_s = time.perf_counter() - t
    log(f"split {sum(split.assigned.values()):,} unsplit chains in {split_s:.2f} s: {dict(split.assigned)}")
    builds: dict[str, list[dict[str, Any]]] = {s: [] for s in strategies}
    reports: dict[str, BuildReport] = {}
    prints: dict[str, str] = {}
    for i in range(repeats):
        # ABBA order: a load that rises or falls during the run weighs on both paths alike
        for strategy in strategies if i % 2 == 0 else list(reversed(strategies)):
            cfg = dataclasses.replace(config, batch_strategy=strategy)
            reports[strategy], b = _build_once(store, cfg, clock)
            builds[strategy].append(b)
            log(f"  build {i + 1}/{repeats} {strategy:<10}: {b['items']:,} items in {b['seconds']:.2f} s "
                f"({b['items_per_s']:,.0f} items/s)")
            if i == 0:
                prints[strategy] = fingerprint(store, config.name)  # not timed
    new = strategies[-1]
    last = reports[new]
    cfg = dataclasses.replace(config, batch_strategy=new)
    t = time.perf_counter()
    again = build_benchmark(store, cfg)
    rebuild_s = time.perf_counter() - t
    log(f"  idempotent rebuild: {again.items:,} items in {rebuild_s:.2f} s")
    checks = []
    violations = 0
    for i in range(repeats):
        report = check_benchmark(store, config.name)
        checks.append(report.seconds)
        violations = len(report.violations)
        log(f"  check {i + 1}/{repeats}: {report.items:,} items in {report.seconds:.2f} s, {violations} violation(s)")
    held_out = sum(s.held_out_chains for s in last.shards)
    operators = last.total("operators")
    n_distractors = sum(operators.values())
    per_strategy = {}
    for strategy, runs in builds.items():
        median_build = sorted(runs, key=lambda b: b["seconds"])[len(runs) // 2]
        per_strategy[strategy] = {
            "builds": runs,
            "build_seconds_median": statistics.median(b["seconds"] for b in runs),
            "items_per_s_median": statistics.median(b["items_per_s"] for b in runs),
            "chains_per_s_median": statistics.median(b["chains_per_s"] for b in runs),
            "query_seconds_median_build": median_build["query_seconds"],
            "query_calls_median_build": median_build["query_calls"],
            "items_fingerprint": prints[strategy],
            "outcome": _outcome(reports[strategy]),
        }
    first = strategies[0]
    same = all(per_strategy[s]["items_fingerprint"] == per_strategy[first]["items_fingerprint"]
               and per_strategy[s]["outcome"] == per_strategy[first]["outcome"] for s in strategies)
    return {
        "split": {"seconds": split_s, "assigned": dict(split.assigned), "rule": split.rule},
        "strategies": per_strategy,
        "new": new,
        "old": first,
        "speedup": _share(per_strategy[first]["build_seconds_median"], per_strategy[new]["build_seconds_median"]),
        "same_items": same,
        "build_seconds_median": per_strategy[new]["build_seconds_median"],
        "items_per_s_median": per_strategy[new]["items_per_s_median"],
        "chains_per_s_median": per_strategy[new]["chains_per_s_median"],
        "rebuild_seconds": rebuild_s,
        "items": last.items,
        "held_out_chains": held_out,
        "yield_share": _share(last.items, held_out),
        "skipped": dict(last.total("skipped")),
        "rejected_candidates": dict(last.total("rejected_candidates")),
        "notes": dict(last.total("notes")),
        "operators": dict(operators),
        "operator_share": {k: _share(v, n_distractors) for k, v in operators.items()},
        "kinds": dict(last.total("kinds")),
        "check_seconds": checks,
        "check_seconds_median": statistics.median(checks),
        "check_violations": violations,
    }


# --------------------------------------------------------------------------------------------------
# stores
# --------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def synthetic_store(args: argparse.Namespace,
                    log: Callable[[str], None]) -> Iterator[tuple[GraphStore, dict[str, Any]]]:
    """A temporary embedded FalkorDB holding the generated graph (stopped and removed afterwards)."""
    log(f"generating {args.chains:,} chains in {args.disciplines} disciplines (seed {args.seed}) ...")
    t = time.perf_counter()
    elements = generate(args.chains, args.disciplines, args.seed, args.degree, args.inverse_share,
                        args.parent_share, log)
    info: dict[str, Any] = {"generation_seconds": time.perf_counter() - t,
                            "elements": dict(Counter(e.kind for e in elements))}
    with temporary_home("proda-bench-build-") as home:
        server = EmbeddedFalkorDB(home)
        try:
            srv, _ = server.ensure_running()
            store = FalkorDBStore("127.0.0.1", srv.port, "bench_build", password=srv.password)
            try:
                store.clear()
                store.ensure_schema()
                log(f"writing {len(elements):,} elements through GraphWriter ...")
                t = time.perf_counter()
                GraphWriter(store, batch_size=10_000).write(elements)
                info["ingest_seconds"] = time.perf_counter() - t
                log(f"  written in {info['ingest_seconds']:.1f} s")
                del elements
                yield store, info
            finally:
                store.close()
        finally:
            server.stop()


@contextlib.contextmanager
def existing_store(args: argparse.Namespace) -> Iterator[tuple[GraphStore, dict[str, Any]]]:
    """The configured graph (embedded under --home unless PRODA_GRAPH_URL is set), graph ``--graph``."""
    values: dict[str, Any] = {"graph_name": args.graph}
    if args.home is not None:
        values["home"] = args.home
    settings = Settings.model_validate(values)
    with open_store(settings) as store:
        chains = store.query("graph_totals")[0]["chains"]
        yield store, {"graph": args.graph, "chains": chains}


# --------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------
def print_report(r: dict[str, Any]) -> None:
    m = r["measure"]
    print()
    src = r["source"]
    what = (f"synthetic graph, {r['params']['chains']:,} chains, elements {src['elements']}" if "elements" in src
            else f"graph {src['graph']!r}, {src['chains']:,} chains")
    print(f"== ProDa bench build benchmark: {what}")
    print(f"   machine: {r['machine']['cpus']} CPUs, Python {r['machine']['python']}; "
          f"batch {r['params']['batch_size']}, seed {r['params']['seed']}, repeats {r['params']['repeats']}")
    if "ingest_seconds" in src:
        print(f"   generation {src['generation_seconds']:.1f} s, ingest {src['ingest_seconds']:.1f} s "
              "(not measured below)")
    print()
    print(f"split of unsplit chains: {m['split']['seconds']:.2f} s {m['split']['assigned']}")
    for strategy, st in m["strategies"].items():
        role = "new" if strategy == m["new"] else "old"
        print(f"build, {role} path (batch_strategy={strategy}): median {st['build_seconds_median']:.2f} s for "
              f"{m['items']:,} items = {st['items_per_s_median']:,.0f} items/s (runs: "
              + ", ".join(f"{b['seconds']:.2f} s" for b in st["builds"]) + ")")
    if len(m["strategies"]) > 1:
        print(f"new path vs old path, same graph, same run: {m['speedup']:.2f}x "
              f"({m['strategies'][m['new']]['items_per_s_median']:,.0f} vs "
              f"{m['strategies'][m['old']]['items_per_s_median']:,.0f} items/s); same items and decisions: "
              f"{'yes' if m['same_items'] else 'NO'}")
    print(f"idempotent rebuild ({m['new']}): {m['rebuild_seconds']:.2f} s")
    print(f"chains yielding a valid item: {m['items']:,} of {m['held_out_chains']:,} test/dev chains "
          f"= {100 * m['yield_share']:.1f}% ({m['chains_per_s_median']:,.0f} held-out chains/s processed)")
    print("skipped chains: " + (", ".join(f"{k} {v:,}" for k, v in sorted(m["skipped"].items())) or "none"))
    print("operator mix of the distractors: " + ", ".join(
        f"{k} {m['operators'][k]:,} ({100 * m['operator_share'][k]:.1f}%)" for k in sorted(m["operators"])))
    print("distractor kinds: " + ", ".join(f"{k} {v:,}" for k, v in sorted(m["kinds"].items())))
    print("rejected candidates: " + (", ".join(f"{k} {v:,}" for k, v in sorted(m["rejected_candidates"].items()))
                                     or "none"))
    print(f"validity + orthogonality re-check: median {m['check_seconds_median']:.2f} s (runs: "
          + ", ".join(f"{s:.2f} s" for s in m["check_seconds"]) + f"), {m['check_violations']} violation(s)")
    print()
    for strategy, st in m["strategies"].items():
        print(f"where the median {strategy} build's time went (catalog query: calls, seconds of the client's wall "
              "clock; overlapped queries run at the same time as other work, so their sum can exceed the build)")
        for name, sec in sorted(st["query_seconds_median_build"].items(), key=lambda kv: -kv[1]):
            print(f"  {name:<24}{st['query_calls_median_build'][name]:>6}{sec:>9.2f}")
        print()
    met = m["items_per_s_median"] >= TARGET_ITEMS_PER_S
    ratio = (f"; old path {m['strategies'][m['old']]['items_per_s_median']:,.0f} items/s, {m['speedup']:.2f}x"
             if len(m["strategies"]) > 1 else "")
    print(f"TARGET {'met   ' if met else 'MISSED'} >= {TARGET_ITEMS_PER_S} items/s: "
          f"{m['items_per_s_median']:,.0f} items/s (batch_strategy={m['new']}{ratio})")


def add_graph_args(p: argparse.ArgumentParser) -> None:
    """The options that shape the synthetic graph (shared with ``tester_profile.py``, so both see one graph)."""
    p.add_argument("--chains", type=int, default=100_000, help="synthetic chains to generate")
    p.add_argument("--disciplines", type=int, default=4)
    p.add_argument("--degree", type=float, default=2.5, help="mean typed out-edges per synthetic concept")
    p.add_argument("--inverse-share", type=float, default=0.3,
                   help="share of invertible edges that also get an edge of the inverse type from the subject")
    p.add_argument("--parent-share", type=float, default=0.3, help="share of concepts that is_a a category")
    p.add_argument("--seed", type=int, default=20261123)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_graph_args(p)
    p.add_argument("--graph", default=None, help="measure this existing graph instead of a synthetic one")
    p.add_argument("--home", type=Path, default=None, help="PRODA_HOME of the existing graph (default ./.proda)")
    p.add_argument("--name", default="bench_build", help="benchmark name used for the measured items")
    p.add_argument("--keep-items", action="store_true", help="keep the items in an existing graph afterwards")
    p.add_argument("--batch-size", type=int, default=1000, help="chains per round trip (BenchConfig.batch_size)")
    p.add_argument("--candidates", type=int, default=BenchConfig.candidates_per_row,
                   help="BenchConfig.candidates_per_row")
    p.add_argument("--test-ratio", type=float, default=0.1)
    p.add_argument("--dev-ratio", type=float, default=0.1)
    p.add_argument("--repeats", type=int, default=3,
                   help="fresh builds (per strategy) and checks; medians are reported")
    p.add_argument("--strategies", default="serial,overlapped",
                   help="BenchConfig.batch_strategy values to build with, old path first, the measured one last")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--quiet", action="store_true", help="only the final report")
    a = p.parse_args(argv)
    if a.chains < 10 or a.repeats < 1 or a.disciplines < 1:
        p.error("--chains must be at least 10, --repeats and --disciplines at least 1")
    a.strategies = [x.strip() for x in a.strategies.split(",") if x.strip()]
    bad = [x for x in a.strategies if x not in BATCH_STRATEGIES]
    if bad or not a.strategies:
        p.error(f"--strategies: use some of {', '.join(BATCH_STRATEGIES)}")
    return a


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    log = (lambda m: None) if args.quiet else (lambda m: print(m, flush=True))
    config = BenchConfig(name=args.name, seed=args.seed, batch_size=args.batch_size, test_ratio=args.test_ratio,
                         dev_ratio=args.dev_ratio, candidates_per_row=args.candidates)
    results: dict[str, Any] = {
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "target_items_per_s": TARGET_ITEMS_PER_S,
    }
    opened = existing_store(args) if args.graph else synthetic_store(args, log)
    with opened as (store, source):
        results["source"] = source
        try:
            results["measure"] = measure(store, config, args.repeats, args.strategies, log)
        finally:
            if args.graph and not args.keep_items:
                delete_items(store, args.name)
    print_report(results)
    if args.json is not None:
        write_json(args.json, results)
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
