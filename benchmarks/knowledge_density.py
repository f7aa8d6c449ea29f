"""Knowledge density of the offline path over whole corpus files (not a test).

What the rest of the loop stands on, measured the way a user builds it: ingest every file, extract with
the default offline backend (or ``--backend``), resolve (string rules plus sentence embeddings), compose
document-scope chains, run the structural check, then build a benchmark from the held-out chains. Prints,
per discipline and overall: chain-length shares (extracted, composed, all), the giant component's share of
concepts (with and without hubs), held-out chains and the items built from them, and the time of each
stage; ``--json`` writes every figure.

Targets it reports against (met / MISSED): at least 60 % of L3 chains with 2 or more steps and 25 % with 3
or more; the largest connected component at least 60 % of concepts in every discipline; at least 40 % of
held-out chains yield a valid item; at least 1,500 items in all.

Run::

    .venv/bin/python benchmarks/knowledge_density.py                 # both ../shared/corpus files, ~30 min
    .venv/bin/python benchmarks/knowledge_density.py --corpus ../shared/corpus/openstax-cc-by.jsonl \\
        --json benchmarks/results/knowledge_density_ccby.json
    .venv/bin/python benchmarks/knowledge_density.py --keep /tmp/density-home   # keep the graph for audits
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from common import percent as pct
from common import temporary_home, write_json

from proda.config import Settings
from proda.pipelines.check import structural_report
from proda.pipelines.extract.compose import ComposeConfig, compose_chains
from proda.pipelines.extract.config import ExtractConfig, offline_backend
from proda.pipelines.extract.resolve_embed import DEFAULT_EMBEDDING_THRESHOLD, resolve
from proda.pipelines.extract.stage import run_extraction
from proda.pipelines.ingest import ingest_paths
from proda.pipelines.tester import BenchConfig
from proda.pipelines.tester.build import build_benchmark
from proda.pipelines.tester.check import check_benchmark
from proda.schema.store import open_store

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
DEFAULT_CORPORA = [SHARED / "openstax-cc-by.jsonl", SHARED / "openstax-cc-by-nc-sa.jsonl"]
TARGETS = {"multi_step": 0.60, "three_step": 0.25, "giant": 0.60, "items_per_held_out": 0.40, "items": 1500}


def _lengths(d: Any) -> dict[str, dict[int, int]]:
    return {origin: {int(k): int(v) for k, v in hist.items()} for origin, hist in d.chain_lengths.items()}


def _shares(hist: dict[int, int]) -> tuple[int, float | None, float | None]:
    n = sum(hist.values())
    if not n:
        return 0, None, None
    return n, sum(v for k, v in hist.items() if k >= 2) / n, sum(v for k, v in hist.items() if k >= 3) / n


def run(corpora: list[Path], home: Path, backend: str, embeddings: bool) -> dict[str, Any]:
    settings = Settings.model_validate({"home": home, "graph_name": "proda_density"})
    out: dict[str, Any] = {"corpora": [str(c) for c in corpora], "backend": backend,
                           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                       "loadavg_before": os.getloadavg()}}
    seconds: dict[str, float] = {}
    with open_store(settings) as store:
        store.clear()
        t0 = time.perf_counter()
        ingested = ingest_paths(store, corpora)
        seconds["ingest"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        extraction = run_extraction(store, ExtractConfig(backend=backend), home)
        seconds["extract"] = time.perf_counter() - t0
        disciplines = sorted(s.discipline for s in extraction.shards)
        t0 = time.perf_counter()
        resolved = resolve(store, disciplines, embedding_threshold=DEFAULT_EMBEDDING_THRESHOLD if embeddings else None)
        seconds["resolve"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        composed = compose_chains(store, ComposeConfig())
        seconds["compose"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = structural_report(store, hubs=True)
        seconds["check"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        bench = build_benchmark(store, BenchConfig(name="density"))
        seconds["bench"] = time.perf_counter() - t0
        checked = check_benchmark(store, "density")
    per: list[dict[str, Any]] = []
    bench_by = {s.discipline: s for s in bench.shards}
    for d in report.disciplines:
        lengths = _lengths(d)
        every: dict[int, int] = {}
        for hist in lengths.values():
            for k, v in hist.items():
                every[k] = every.get(k, 0) + v
        n, multi, three = _shares(every)
        b = bench_by.get(d.discipline)
        per.append({
            "discipline": d.discipline, "documents": d.documents, "chunks": d.chunks, "concepts": d.concepts,
            "relations": d.relations, "chains": n, "chain_lengths": lengths, "multi_step": multi,
            "three_step": three, "giant": d.giant_component_share,
            "giant_without_hubs": d.giant_component_share_without_hubs, "hubs": d.hubs,
            "held_out": b.held_out_chains if b else 0, "items": b.items if b else 0,
            "held_out_by_origin": b.held_out_by_origin if b else {},
            "items_by_origin": b.items_by_origin if b else {},
            "skipped": b.skipped if b else {},
        })
    all_lengths: dict[int, int] = {}
    for p in per:
        for hist in p["chain_lengths"].values():
            for k, v in hist.items():
                all_lengths[k] = all_lengths.get(k, 0) + v
    n, multi, three = _shares(all_lengths)
    held, items = sum(p["held_out"] for p in per), sum(p["items"] for p in per)
    out.update({
        "documents": ingested.seen, "chunks": sum(s.chunks for s in extraction.shards),
        "empty_chunks": sum(s.empty_chunks for s in extraction.shards),
        "extractor": extraction.key, "merges": resolved.by_method(), "composed": sum(
            d.written for d in composed.disciplines),
        "seconds": seconds, "disciplines": per,
        "total": {"chains": n, "chain_lengths": all_lengths, "multi_step": multi, "three_step": three,
                  "held_out": held, "items": items, "items_per_held_out": items / held if held else None,
                  "min_giant": min((p["giant"] or 0.0) for p in per) if per else None},
        "bench_check": {"items": checked.items, "ok": checked.ok, "violations": len(checked.violations)},
    })
    out["machine"]["loadavg_after"] = os.getloadavg()
    return out


def _verdict(value: float | None, target: float) -> str:
    return "-" if value is None else ("met" if value >= target else "MISSED")


def show(r: dict[str, Any]) -> None:
    s = r["seconds"]
    print(f"== knowledge density, backend {r['extractor']}, {r['documents']} documents, {r['chunks']} chunks "
          f"({r['empty_chunks']} gave nothing)")
    print(f"   {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, load average before/after "
          f"{r['machine']['loadavg_before'][0]:.2f}/{r['machine']['loadavg_after'][0]:.2f}")
    print("   seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in s.items()))
    print(f"   merges by method: {r['merges']}; composed chains written: {r['composed']}")
    hdr = (f"{'discipline':<24}{'docs':>6}{'L1':>8}{'L2':>8}{'L3':>8}{'>=2':>8}{'>=3':>8}{'giant':>8}"
           f"{'no hubs':>9}{'held':>7}{'items':>7}{'yield':>8}")
    print(hdr)
    print("-" * len(hdr))
    for p in r["disciplines"]:
        y = p["items"] / p["held_out"] if p["held_out"] else None
        print(f"{p['discipline']:<24}{p['documents']:>6}{p['concepts']:>8}{p['relations']:>8}{p['chains']:>8}"
              f"{pct(p['multi_step']):>8}{pct(p['three_step']):>8}{pct(p['giant']):>8}"
              f"{pct(p['giant_without_hubs']):>9}{p['held_out']:>7}{p['items']:>7}{pct(y):>8}")
    t = r["total"]
    print(f"{'(all)':<24}{'':>6}{'':>8}{'':>8}{t['chains']:>8}{pct(t['multi_step']):>8}{pct(t['three_step']):>8}"
          f"{'':>8}{'':>9}{t['held_out']:>7}{t['items']:>7}{pct(t['items_per_held_out']):>8}")
    print()
    print(f"chains with >= 2 steps   {pct(t['multi_step']):>7}  target 60%   {_verdict(t['multi_step'], 0.60)}")
    print(f"chains with >= 3 steps   {pct(t['three_step']):>7}  target 25%   {_verdict(t['three_step'], 0.25)}")
    print(f"smallest giant component {pct(t['min_giant']):>7}  target 60%   {_verdict(t['min_giant'], 0.60)}")
    print(f"held-out chains -> items {pct(t['items_per_held_out']):>7}  target 40%   "
          f"{_verdict(t['items_per_held_out'], 0.40)}")
    print(f"items                    {t['items']:>7}  target 1500 {_verdict(float(t['items']), 1500.0)}")
    bc = r["bench_check"]
    print(f"benchmark check: {bc['items']} items re-verified, {bc['violations']} violations")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, action="append", default=None,
                   help="JSONL corpus file (repeatable; default: both ../shared/corpus files)")
    p.add_argument("--backend", default=None, help="extraction backend (default: the offline default)")
    p.add_argument("--no-embeddings", action="store_true", help="resolve with the string rules only")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--keep", type=Path, default=None, help="use (and keep) this PRODA_HOME instead of a temporary one")
    a = p.parse_args(argv)
    corpora = a.corpus or DEFAULT_CORPORA
    missing = [c for c in corpora if not c.exists()]
    if missing:
        print(f"error: corpus {missing[0]} not found (pass --corpus)", file=sys.stderr)
        return 2
    backend = a.backend or offline_backend()
    if a.keep:
        a.keep.mkdir(parents=True, exist_ok=True)
        r = run(corpora, a.keep, backend, not a.no_embeddings)
    else:
        with temporary_home("proda-density-") as home:
            r = run(corpora, home, backend, not a.no_embeddings)
    show(r)
    if a.json:
        write_json(a.json, r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
