"""Score every offline extractor on the hand-annotated gold set (``data/gold`` dev and test; not a test).

Every backend of :data:`proda.pipelines.extract.config.BACKENDS` is built the way ``proda extract``
builds it (:func:`~proda.pipelines.extract.stage.make_extractor`) with no LLM settings; one that is
not installed, or that needs a server or a key (the LLM backends), is listed as skipped with the
reason. Each remaining one is scored with :mod:`proda.pipelines.extract.score`, the same code as
``proda extract score``: lenient and strict precision/recall/F1 per discipline and overall, chain
recall, seconds. Prints a table and writes ``benchmarks/results/extract_gold.json``.

Run::

    .venv/bin/python benchmarks/extract_gold.py
    .venv/bin/python benchmarks/extract_gold.py --backend heuristic --split dev --json /tmp/gold.json

An LLM backend is scored with ``proda extract score --gold data/gold/dev.jsonl --backend openai ...``.
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

from proda.config import LLMSettings
from proda.errors import ProdaError
from proda.pipelines.extract.config import BACKENDS, ExtractConfig
from proda.pipelines.extract.score import read_gold, score
from proda.pipelines.extract.stage import Extractor, make_extractor

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "data" / "gold"
RESULTS = Path(__file__).resolve().parent / "results" / "extract_gold.json"
SPLITS = ("dev", "test")


def offline_extractor(backend: str, home: Path) -> tuple[Extractor | None, str]:
    """The backend's extractor when it runs here without a server or key, else None and why not."""
    from proda.pipelines.extract.llm_extractor import LLMExtractor

    # no LLM settings at all: a key or server URL in the caller's environment must not make this
    # benchmark call a provider
    config = ExtractConfig(backend=backend).with_llm(LLMSettings.model_construct())
    try:
        extractor = make_extractor(config, home)
    except ProdaError as e:
        return None, f"cannot be built without a server, key or extra: {e}"
    if isinstance(extractor, LLMExtractor) or getattr(extractor, "client", None) is not None:
        return None, "needs an LLM server or key (score it with `proda extract score`)"
    return extractor, ""


def run(backends: list[str], splits: list[str], home: Path) -> dict[str, Any]:
    gold = {s: read_gold(GOLD / f"{s}.jsonl") for s in splits}
    out: dict[str, Any] = {
        "gold": {s: {"file": str((GOLD / f"{s}.jsonl").relative_to(ROOT)), "chunks": len(g),
                     "triples": sum(len(c.triples) for c in g), "chains": sum(len(c.chains) for c in g)}
                 for s, g in gold.items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_before": os.getloadavg()},
        "backends": {}, "skipped": {},
    }
    for backend in backends:
        t0 = time.perf_counter()
        extractor, why = offline_extractor(backend, home)
        if extractor is None:
            out["skipped"][backend] = why
            continue
        entry: dict[str, Any] = {"setup_seconds": round(time.perf_counter() - t0, 3), "splits": {}}
        for split, chunks in gold.items():
            report = score(chunks, extractor, gold_path=out["gold"][split]["file"])
            entry["extractor"] = report.extractor
            entry["splits"][split] = {
                "seconds": report.seconds, "overall": report.overall.model_dump(mode="json"),
                "disciplines": {d: m.model_dump(mode="json") for d, m in report.disciplines.items()}}
        out["backends"][backend] = entry
    out["machine"]["loadavg_after"] = os.getloadavg()
    return out


def show(r: dict[str, Any]) -> None:
    for split, g in r["gold"].items():
        print(f"gold {split}: {g['file']}, {g['chunks']} chunks, {g['triples']} triples, {g['chains']} chains")
    hdr = (f"{'extractor':<28}{'split':<6}{'discipline':<18}{'gold':>5}{'pred':>6}{'match':>6}{'P':>8}{'R':>8}"
           f"{'F1':>8}{'P str':>8}{'R str':>8}{'F1 str':>8}{'chains':>8}{'s':>7}")
    print()
    print(hdr)
    print("-" * len(hdr))
    for entry in r["backends"].values():
        for split, s in entry["splits"].items():
            for name, m in [*s["disciplines"].items(), ("(all)", s["overall"])]:
                secs = f"{s['seconds']:.1f}" if name == "(all)" else ""
                print(f"{entry['extractor']:<28}{split:<6}{name:<18}{m['gold_triples']:>5}{m['predicted_triples']:>6}"
                      f"{m['matched']:>6}{pct(m['precision']):>8}{pct(m['recall']):>8}{pct(m['f1']):>8}"
                      f"{pct(m['precision_strict']):>8}{pct(m['recall_strict']):>8}{pct(m['f1_strict']):>8}"
                      f"{pct(m['chain_recall']):>8}{secs:>7}")
    for backend, why in r["skipped"].items():
        print(f"skipped {backend}: {why}")
    print("P/R/F1: lenient concept match (the headline); 'str': strict; chains: gold chains wholly recalled")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--backend", action="append", choices=BACKENDS, help="only these backends (repeatable)")
    p.add_argument("--split", action="append", choices=SPLITS, help="only these splits (repeatable)")
    p.add_argument("--json", type=Path, default=RESULTS, help=f"where to write the figures (default {RESULTS})")
    a = p.parse_args(argv)
    missing = [s for s in (a.split or SPLITS) if not (GOLD / f"{s}.jsonl").is_file()]
    if missing:
        print(f"error: no gold file for {', '.join(missing)}: run python data/gold/build_gold.py", file=sys.stderr)
        return 2
    with temporary_home("proda-gold-bench-") as home:
        r = run(list(a.backend or BACKENDS), list(a.split or SPLITS), home)
    show(r)
    write_json(a.json, r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
