"""Heuristic extraction over a whole corpus on the embedded FalkorDB (not a test).

Starts a private embedded FalkorDB in a temporary home, then times each stage the way a user runs
them: ingest (read, normalise, chunk, write Documents and Chunks), heuristic extraction (L3 chains
→ L2 relations → L1 concepts per chunk, written through the graph writer), entity resolution and
the structural check. Prints documents/s, chunks/s, L1/L2/L3 per discipline, reachability and the
giant-component share; ``--json`` also writes the figures.

Run::

    .venv/bin/python benchmarks/corpus_extract.py                       # ../shared/corpus, ~1 minute
    .venv/bin/python benchmarks/corpus_extract.py --corpus some.jsonl --json /tmp/extract.json
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
from proda.pipelines.extract.config import ExtractConfig
from proda.pipelines.extract.resolve import merge
from proda.pipelines.extract.resolve_candidates import find_candidates
from proda.pipelines.extract.stage import run_extraction
from proda.pipelines.ingest import ingest_paths
from proda.schema.store import open_store

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "openstax-cc-by.jsonl"


def run(corpus: Path, home: Path, max_tokens: int) -> dict[str, Any]:
    settings = Settings.model_validate({"home": home, "graph_name": "proda_corpus_bench"})
    out: dict[str, Any] = {"corpus": str(corpus), "bytes": corpus.stat().st_size,
                           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                       "loadavg_before": os.getloadavg()}}
    with open_store(settings) as store:
        store.clear()
        t0 = time.perf_counter()
        ingested = ingest_paths(store, [corpus], max_tokens=max_tokens)
        t_ingest = time.perf_counter() - t0
        t0 = time.perf_counter()
        extraction = run_extraction(store, ExtractConfig(backend="heuristic"), home)
        t_extract = time.perf_counter() - t0
        disciplines = sorted(s.discipline for s in extraction.shards)
        t0 = time.perf_counter()
        merges = [m for d in disciplines for m in merge(store, find_candidates(store, d))]
        t_resolve = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = structural_report(store)
        t_check = time.perf_counter() - t0
    chunks = sum(s.chunks for s in extraction.shards)
    empty = sum(s.empty_chunks for s in extraction.shards)
    out.update({
        "documents": ingested.seen, "rejected": len(ingested.rejected), "chunks": chunks,
        "chunks_without_match": empty,
        "seconds": {"ingest": t_ingest, "extract": t_extract, "resolve": t_resolve, "check": t_check},
        "rates": {"ingest_documents_per_s": ingested.seen / t_ingest, "ingest_chunks_per_s":
                  ingested.chunks_written / t_ingest, "extract_documents_per_s": ingested.seen / t_extract,
                  "extract_chunks_per_s": chunks / t_extract,
                  "end_to_end_documents_per_s": ingested.seen / (t_ingest + t_extract + t_resolve)},
        "merges": len(merges),
        "disciplines": [d.model_dump() for d in report.disciplines],
        "total": report.total().model_dump(),
        "components_method": report.components_method,
    })
    out["machine"]["loadavg_after"] = os.getloadavg()
    return out


def show(r: dict[str, Any]) -> None:
    s, rate = r["seconds"], r["rates"]
    print(f"== heuristic extraction over {r['corpus']} ({r['bytes'] / 1e6:.1f} MB)")
    print(f"   {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, load average before/after "
          f"{r['machine']['loadavg_before'][0]:.2f}/{r['machine']['loadavg_after'][0]:.2f}")
    print(f"ingest   {s['ingest']:7.1f} s  {r['documents']} documents ({r['rejected']} rejected), "
          f"{rate['ingest_documents_per_s']:.0f} docs/s, {rate['ingest_chunks_per_s']:.0f} chunks/s")
    print(f"extract  {s['extract']:7.1f} s  {r['chunks']} chunks ({r['chunks_without_match']} without a "
          f"pattern match), {rate['extract_documents_per_s']:.1f} docs/s, {rate['extract_chunks_per_s']:.0f} chunks/s")
    print(f"resolve  {s['resolve']:7.1f} s  {r['merges']} merges")
    print(f"check    {s['check']:7.1f} s")
    print(f"end to end (ingest + extract + resolve): {rate['end_to_end_documents_per_s']:.1f} docs/s")
    print()
    hdr = f"{'discipline':<18}{'docs':>6}{'chunks':>8}{'L1':>7}{'L2':>7}{'L3':>7}{'L1 reach':>10}{'L2 reach':>10}" \
          f"{'comps':>7}{'giant':>8}"
    print(hdr)
    print("-" * len(hdr))
    for d in [*r["disciplines"], {**r["total"], "discipline": "(all)"}]:
        print(f"{d['discipline']:<18}{d['documents']:>6}{d['chunks']:>8}{d['concepts']:>7}{d['relations']:>7}"
              f"{d['chains']:>7}{pct(d['concept_reachability']):>10}{pct(d['relation_reachability']):>10}"
              f"{d['components'] if d['components'] is not None else '-':>7}{pct(d['giant_component_share']):>8}")
    types: dict[str, int] = {}
    for d in r["disciplines"]:
        for t, n in d["relation_types"].items():
            types[t] = types.get(t, 0) + n
    print()
    print("relation types: " + ", ".join(f"{t} {n}" for t, n in sorted(types.items(), key=lambda x: -x[1])))
    print(f"components by {r['components_method']}; all output labelled extractor=heuristic")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="JSONL corpus (default: ../shared/corpus)")
    p.add_argument("--max-tokens", type=int, default=400, help="chunk token budget")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = p.parse_args(argv)
    if not a.corpus.exists():
        print(f"error: corpus {a.corpus} not found (pass --corpus)", file=sys.stderr)
        return 2
    with temporary_home("proda-corpus-bench-") as home:
        r = run(a.corpus, home, a.max_tokens)
    show(r)
    if a.json:
        write_json(a.json, r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
