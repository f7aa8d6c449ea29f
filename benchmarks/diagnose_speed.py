"""Diagnosis speed: probes scored one by one (the earlier path) against several per forward pass.

The Debugger diagnoses each failed item by asking the same model single-hop probes. It used to score
them one probe per forward pass; it now hands every probe of a write batch to ``score_many``, which
packs ``--batch-size`` of them per pass as evaluation does. On a prepared home (``closed_loop.py
--home DIR --plan-only``, or ``gpu_closed_loop.py pack``'s ``.gpu/work/home``) this script evaluates
the base model on ``--items`` items of ``--split`` (reused when that run exists), then diagnoses its
failures with both paths on the same model, alternating the order over ``--rounds``, each with
``rediagnose`` so nothing is reused, and prints seconds, probes/s, the ratio, and whether both paths
chose the same option on every probe.

Run::

    .venv/bin/python benchmarks/diagnose_speed.py --home .gpu/work/home --items 300
    .venv/bin/python benchmarks/diagnose_speed.py --home /tmp/clhome --graph proda_closed_loop --rounds 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import write_json

from proda.config import Settings
from proda.pipelines.debug import PatchConfig, find_run
from proda.pipelines.debug.diagnose import DiagnosisRecord, diagnose_discipline, run_disciplines
from proda.schema.store import open_store
from proda.training.base_model import SMOLLM2, load_model, resolve_model_path
from proda.training.evaluate import EvalConfig, evaluate
from proda.training.scoring import LoglikelihoodScorer, OptionScores


class OneByOne:
    """The earlier path: the scorer without ``score_many``, so every probe is its own forward pass."""

    def __init__(self, scorer: LoglikelihoodScorer) -> None:
        self.scorer = scorer

    def score(self, question: str, choices: Sequence[str]) -> OptionScores:
        return self.scorer.score(question, choices)


def diagnose_all(store: Any, run: Any, disciplines: list[str], seed: int, factory: Any) -> list[DiagnosisRecord]:
    out: list[DiagnosisRecord] = []
    for d in disciplines:
        done, _ = diagnose_discipline(store, run, d, PatchConfig(run=run.id, rediagnose=True, seed=seed), factory)
        out.extend(done)
    return sorted(out, key=lambda r: r.id)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home", type=Path, required=True, help="a prepared home (graph, benchmark)")
    p.add_argument("--graph", default="proda_closed_loop", help="graph name in that home")
    p.add_argument("--benchmark", default="closed_loop", help="benchmark to evaluate and diagnose")
    p.add_argument("--split", default="dev", help="split whose items are evaluated")
    p.add_argument("--items", type=int, default=300, help="items evaluated (their failures are diagnosed)")
    p.add_argument("--batch-size", type=int, default=8, help="items or probes per forward pass")
    p.add_argument("--model", default=SMOLLM2, help="model folder, or smollm2-135m-instruct (default)")
    p.add_argument("--rounds", type=int, default=1, help="rounds; the legs alternate their order")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = p.parse_args(argv)
    if not (a.home / "falkordb").is_dir():
        p.error(f"{a.home} holds no graph: prepare it with closed_loop.py --home DIR --plan-only")
    settings = Settings.model_validate({"home": a.home, "graph_name": a.graph})
    with open_store(settings) as store:
        model = resolve_model_path(a.model, a.home)
        t0 = time.perf_counter()
        report = evaluate(store, EvalConfig(model=model, benchmark=a.benchmark, split=a.split, limit=a.items,
                                            run_name=f"diagnose-speed-{a.split}-{a.items}",
                                            batch_size=a.batch_size), a.home)
        print(f"evaluated {report.items} {a.split} items: acc {report.accuracy:.1%} "
              f"({time.perf_counter() - t0:.0f} s, reused when the run existed)", flush=True)
        run = find_run(store, report.run_id)
        disciplines = sorted(run_disciplines(store, run))
        loaded, tokenizer = load_model(model, a.home)
        scorer = LoglikelihoodScorer(loaded, tokenizer, batch_size=a.batch_size)
        legs = {"one_by_one": lambda: OneByOne(scorer), "batched": lambda: scorer}
        seconds: dict[str, list[float]] = {k: [] for k in legs}
        chosen: dict[str, list[list[int | None]]] = {}
        probes = failed = 0
        for n in range(a.rounds):
            for leg in (list(legs) if n % 2 == 0 else list(reversed(legs))):
                t = time.perf_counter()
                diagnoses = diagnose_all(store, run, disciplines, 0, legs[leg])
                seconds[leg].append(time.perf_counter() - t)
                chosen[leg] = [[pr.chosen for pr in d.probes] for d in diagnoses]
                probes, failed = sum(len(d.probes) for d in diagnoses), len(diagnoses)
                print(f"round {n + 1} {leg:10s}: {failed} failed items, {probes} probes in {seconds[leg][-1]:.1f} s "
                      f"({probes / seconds[leg][-1]:.1f} probes/s)", flush=True)
    med = {k: statistics.median(v) for k, v in seconds.items()}
    same = sum(x == y for a_, b_ in zip(chosen["one_by_one"], chosen["batched"], strict=True)
               for x, y in zip(a_, b_, strict=True))
    ratio = med["one_by_one"] / med["batched"]
    print(f"\ndiagnosis of {failed} failed items ({probes} probes), batch size {a.batch_size}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}:")
    print(f"  one by one (earlier path): median {med['one_by_one']:.1f} s = {probes / med['one_by_one']:.1f} probes/s")
    print(f"  batched (score_many):      median {med['batched']:.1f} s = {probes / med['batched']:.1f} probes/s")
    print(f"  ratio {ratio:.2f}x; the same option chosen on {same} of {probes} probes")
    if a.json:
        write_json(a.json, {"failed_items": failed, "probes": probes, "seconds": seconds, "median": med,
                            "ratio": ratio, "same_choice": same, "batch_size": a.batch_size,
                            "loadavg": os.getloadavg(), "cpus": os.cpu_count()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
