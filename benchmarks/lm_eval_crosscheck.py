"""Cross-check (not a test): ProDa's log-likelihood accuracy vs lm-evaluation-harness on the same items.

Builds a graph from bundled or given documents (ingest → heuristic extraction → hand sample), builds
a benchmark, evaluates a model with ``proda.training.evaluate`` (loglikelihood mode), exports the
same items as an lm-eval task and runs ``lm_eval.simple_evaluate`` on it with the same model folder,
then prints both ``acc`` and ``acc_norm`` and their difference in percentage points (the
target: within 0.5).

Run::

    .venv/bin/python benchmarks/lm_eval_crosscheck.py                     # SmolLM2-135M, bundled sample
    .venv/bin/python benchmarks/lm_eval_crosscheck.py --model /path/to/hf-model --corpus more.jsonl
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from common import temporary_home, write_json

from proda.cli.demo import sample_path
from proda.config import Settings
from proda.pipelines.extract.config import ExtractConfig
from proda.pipelines.extract.stage import run_extraction
from proda.pipelines.ingest import ingest_paths
from proda.pipelines.load import load_file
from proda.pipelines.tester import BenchConfig
from proda.pipelines.tester.build import build_benchmark
from proda.pipelines.tester.export import export, load_items
from proda.schema.store import open_store
from proda.training.base_model import resolve_model_path
from proda.training.evaluate import EvalConfig, evaluate


def run(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    import lm_eval
    from lm_eval.tasks import TaskManager

    settings = Settings.model_validate({"home": home, "graph_name": "crosscheck"})
    model_dir = resolve_model_path(args.model, args.model_home or home)
    with open_store(settings) as store:
        store.clear()
        load_file(store, sample_path(), home=home, restart=True)
        ingest_paths(store, [Path(p) for p in args.corpus])
        run_extraction(store, ExtractConfig(backend="heuristic"), home)
        bench = build_benchmark(store, BenchConfig(name="crosscheck", test_ratio=args.test_ratio, dev_ratio=0.0))
        items = [i for i in load_items(store, "crosscheck") if i.split == "test"][: args.limit]
        t0 = time.perf_counter()
        ours = evaluate(store, EvalConfig(model=model_dir, benchmark="crosscheck", limit=args.limit), home)
        ours_s = time.perf_counter() - t0
    task_dir = home / "lm_eval_task"
    export(items, "lm-eval", task_dir)
    task = next(p.stem for p in task_dir.glob("*.yaml"))
    t0 = time.perf_counter()
    res = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={model_dir},dtype=float32", tasks=[task],
                                  task_manager=TaskManager(include_path=str(task_dir)), device=args.device,
                                  batch_size=8, limit=args.limit)
    theirs_s = time.perf_counter() - t0
    t = res["results"][task]
    return {"model": model_dir, "items": ours.items, "built_items": sum(s.items for s in bench.shards),
            "proda": {"acc": ours.accuracy, "acc_norm": ours.accuracy_norm, "seconds": ours_s},
            "lm_eval": {"acc": t["acc,none"], "acc_norm": t["acc_norm,none"], "seconds": theirs_s},
            "diff_pp": {"acc": 100 * (ours.accuracy - t["acc,none"]),
                        "acc_norm": 100 * ((ours.accuracy_norm or 0.0) - t["acc_norm,none"])}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m-instruct", help="model folder or smollm2-135m-instruct")
    p.add_argument("--model-home", type=Path, default=None,
                   help="PRODA_HOME whose models/ cache holds SmolLM2 (default: a temporary one, ~45 s to build)")
    p.add_argument("--corpus", nargs="*", default=[str(sample_path("corpus.jsonl"))], help="JSONL corpora to ingest")
    p.add_argument("--test-ratio", type=float, default=0.5, help="share of chains that become test items")
    p.add_argument("--limit", type=int, default=None, help="at most this many items")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    with temporary_home("proda-crosscheck-") as home:
        r = run(a, home)
    print(f"model {r['model']}; {r['items']} test items (of {r['built_items']} built)")
    print(f"{'':10}{'acc':>10}{'acc_norm':>10}{'seconds':>10}")
    for who in ("proda", "lm_eval"):
        x = r[who]
        print(f"{who:10}{100 * x['acc']:>9.2f}%{100 * (x['acc_norm'] or 0):>9.2f}%{x['seconds']:>10.1f}")
    d = r["diff_pp"]
    ok = abs(d["acc"]) <= 0.5 and abs(d["acc_norm"]) <= 0.5
    print(f"difference: acc {d['acc']:+.2f} pp, acc_norm {d['acc_norm']:+.2f} pp -> "
          f"{'within' if ok else 'OUTSIDE'} the 0.5 pp target")
    if a.json:
        write_json(a.json, r)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
