"""``proda loop``: the closed loop, V1 build → train → eval → diagnose → patch → V2 train → eval.

Every stage is the stage's own function on the injected store, run in order, and each one resumes
by name (the Builder MERGEs, training resumes its run directory, evaluation answers only what is
missing, patch sets skip when complete), so rerunning a loop finishes what an interrupted one
started. V2 continues from the V1 model on the patch set (patches plus replay) with V1's
hyperparameters, as the paper's two-stage training does. The report (``report.md`` and
``report.json``) goes into ``$PRODA_HOME/runs/loop/<name>``; every number in it comes from the
graph or from the training summaries.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proda.errors import ConfigError
from proda.pipelines.debug.config import PatchConfig
from proda.pipelines.debug.diagnose import Scorer, ScorerFactory
from proda.pipelines.debug.plots import PlotsSkipped, write_plots
from proda.recipes import FromRecipe
from proda.schema.store.base import GraphStore

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
LogFn = Callable[[str], None]


@dataclass
class LoopConfig(FromRecipe):
    """What ``proda loop`` does. Every field has help; defaults < recipe < flags."""

    name: str = field(default="loop", metadata={
        "help": "loop name: runs are <name>-v0/-v1/-v2, the patch set <name>_v2, the report runs/loop/<name>; the "
                "same name resumes"})
    benchmark: str = field(default="proda", metadata={"help": "benchmark to evaluate on (proda bench build)"})
    split: str = field(default="test", metadata={"help": "benchmark split: test or dev"})
    dataset: str = field(default="v1", metadata={
        "help": "Builder dataset V1 trains on and replay samples from (built here if missing)"})
    discipline: str | None = field(default=None, metadata={"help": "only this discipline (default: all)"})
    base_model: str = field(default="smollm2-135m-instruct", metadata={
        "help": "model folder or smollm2-135m-instruct (the offline model)"})
    build_budget: int | None = field(default=None, metadata={"help": "most Builder examples per discipline"})
    v1_steps: int = field(default=60, metadata={"help": "optimizer steps of V1 on the Builder dataset"})
    v2_steps: int = field(default=30, metadata={"help": "optimizer steps of V2 on the patch set, from V1"})
    learning_rate: float = field(default=5e-5, metadata={"help": "peak learning rate of both stages"})
    batch_size: int = field(default=8, metadata={"help": "records per step of both stages"})
    max_length: int = field(default=512, metadata={"help": "tokens per training record"})
    method: str = field(default="full", metadata={"help": "full or lora, both stages"})
    patch_budget: int = field(default=200, metadata={"help": "patch set size per discipline, replay included"})
    replay_ratio: float = field(default=0.3, metadata={"help": "share of replay in the patch set"})
    eval_limit: int | None = field(default=None, metadata={"help": "evaluate at most this many items"})
    seed: int = field(default=0, metadata={"help": "seed of every stage"})

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"loop name {self.name!r}: use lower-case letters, digits and _ (max 40), starting "
                              "with a letter")
        if self.v1_steps < 1 or self.v2_steps < 1:
            raise ConfigError("v1_steps and v2_steps must be at least 1")
        if self.split not in ("test", "dev"):
            raise ConfigError(f"split {self.split!r}: use test or dev")

@dataclass
class LoopReport:
    """What the loop measured; ``evals``/``trainings`` are keyed by stage (v0, v1, v2)."""

    name: str
    run_dir: str
    evals: dict[str, dict[str, Any]] = field(default_factory=dict)
    trainings: dict[str, dict[str, Any]] = field(default_factory=dict)
    debugger: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)  # PNG files in run_dir


def _eval_summary(report: Any) -> dict[str, Any]:
    return {"run_id": report.run_id, "name": report.name, "items": report.items, "accuracy": report.accuracy,
            "accuracy_norm": report.accuracy_norm, "groups": report.groups}


def _train_summary(s: Any) -> dict[str, Any]:
    losses = s.losses
    return {"model_dir": s.model_dir, "records": s.records, "steps": s.steps, "first_loss": losses[0][1] if losses
            else None, "last_loss": losses[-1][1] if losses else None, "tokens_per_s": s.tokens_per_s,
            "seconds": s.seconds, "device": s.device}


def run_loop(store: GraphStore, config: LoopConfig, home: Path, *, log: LogFn | None = None) -> LoopReport:
    """Run the loop and write its report; returns it.

    Raises what the stages raise (e.g. :class:`NotFound` for a benchmark without items,
    :class:`DependencyMissing` without the train extra). When V1 fails no item, there is nothing to
    patch: the report says so and V2 is not trained.
    """
    from proda.pipelines.build import BuildConfig, build_examples
    from proda.pipelines.debug.config import PatchConfig
    from proda.training.base_model import resolve_model_path
    from proda.training.evaluate import EvalConfig, evaluate
    from proda.training.sft import TrainConfig, run_training

    say = log or (lambda _msg: None)
    cfg = config
    run_dir = home / "runs" / "loop" / cfg.name
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    report = LoopReport(name=cfg.name, run_dir=str(run_dir))

    def timed(stage: str, fn: Callable[[], Any]) -> Any:
        say(stage)
        started = time.monotonic()
        out = fn()
        report.seconds[stage] = time.monotonic() - started
        return out

    def eval_of(stage: str, model: str) -> Any:
        ec = EvalConfig(model=model, benchmark=cfg.benchmark, split=cfg.split, discipline=cfg.discipline,
                        limit=cfg.eval_limit, run_name=f"{cfg.name}-{stage}")
        result = timed(f"evaluate {stage}", lambda: evaluate(store, ec, home))
        report.evals[stage] = _eval_summary(result)
        return result

    def train(stage: str, **data: Any) -> Any:
        steps = cfg.v1_steps if stage == "v1" else cfg.v2_steps
        tc = TrainConfig(run_name=f"{cfg.name}-{stage}", discipline=cfg.discipline, max_steps=steps,
                         learning_rate=cfg.learning_rate, per_device_train_batch_size=cfg.batch_size,
                         max_length=cfg.max_length, method=cfg.method, seed=cfg.seed, save_steps=max(1, steps // 2),
                         # a loop's models are its results; their resume points would triple its disk
                         keep_checkpoints=0, logging_steps=max(1, steps // 5), **data)
        summary = timed(f"train {stage}", lambda: run_training(tc, home, store=store))
        report.trainings[stage] = _train_summary(summary)
        return summary

    built = timed("build", lambda: build_examples(store, BuildConfig(
        dataset=cfg.dataset, discipline=cfg.discipline, budget=cfg.build_budget, seed=cfg.seed)))
    report.debugger["v1_examples_written_now"] = built.examples
    base = resolve_model_path(cfg.base_model, home)
    eval_of("v0", base)
    v1_model = train("v1", dataset=cfg.dataset, base_model=base)
    v1 = eval_of("v1", v1_model.model_dir)
    patches = run_dir / "patches.jsonl"
    report.debugger.update(timed("diagnose and patch", lambda: patch_and_export(store, PatchConfig(
        run=v1.run_id, discipline=cfg.discipline, patch_set=f"{cfg.name}_v2", budget=cfg.patch_budget,
        replay_ratio=cfg.replay_ratio, replay_dataset=cfg.dataset, seed=cfg.seed), home, patches)))
    for d, why in sorted(report.debugger["unpatchable"].items()):
        report.notes.append(f"{d}: not patched: {why}")
    if not report.debugger["exported"]:
        report.notes.append("V1 failed no item that could be diagnosed and patched: V2 was not trained")
    else:
        v2_model = train("v2", dataset=None, train_file=str(patches), base_model=v1_model.model_dir)
        eval_of("v2", v2_model.model_dir)
    try:
        report.plots = write_plots(store, report.evals, run_dir)
    except PlotsSkipped as e:
        report.notes.append(f"no plots: {e}")
    (run_dir / "report.json").write_text(json.dumps(asdict(report), indent=2, default=str))
    (run_dir / "report.md").write_text(markdown(report, cfg))
    return report


def patch_and_export(store: GraphStore, config: PatchConfig, home: Path, out: Path, *,
                     scorer_factory: ScorerFactory | None = None) -> dict[str, Any]:
    """Diagnose the failures of the evaluation run ``config.run``, write its patch set and export it to
    ``out`` (JSONL for ``TrainConfig.train_file``); returns the Debugger's summary.

    The run may answer either split: the loop repairs the failures of the split it measures, and a
    benchmark that must keep its test split unseen (``benchmarks/closed_loop.py``) patches from a run
    on dev and measures on test. Each discipline is its own :func:`run_patch` call: one whose
    diagnoses yield no patch (or that lacks replay data) is named in ``unpatchable`` with the reason
    and the others go on. ``exported`` counts the records in ``out`` (0, and no file, when nothing
    was patched). The probing model (the run's, or ``config.model``) is loaded at most once.
    """
    from proda.errors import InputError
    from proda.pipelines.debug.diagnose import find_run, run_disciplines
    from proda.pipelines.debug.export import export_jsonl
    from proda.pipelines.debug.stage import PatchReport, model_scorer, run_patch

    run = find_run(store, config.run)
    disciplines = [config.discipline] if config.discipline else sorted(run_disciplines(store, run))
    factory = scorer_factory or model_scorer(config.model or run.model, "loglikelihood" if config.model else
                                             run.mode, home, config.batch_size)
    loaded: list[Scorer] = []

    def once() -> Scorer:
        if not loaded:
            loaded.append(factory())
        return loaded[0]

    whole: PatchReport | None = None
    unpatchable: dict[str, str] = {}
    for d in disciplines:
        try:
            part = run_patch(store, replace(config, discipline=d), home, scorer_factory=once)
        except InputError as e:
            unpatchable[d] = str(e)
            continue
        if whole is None:
            whole = part
        else:
            whole.shards.extend(part.shards)
    summary = _debugger(whole) if whole is not None else {
        "failed_items": 0, "diagnoses": {}, "not_diagnosed": 0, "patch_set": config.patch_set,
        "patches_written_now": {}, "patches_in_set": 0, "shards": {}}
    summary["unpatchable"] = unpatchable
    summary["exported"] = export_jsonl(store, config.patch_set, out, config.discipline) \
        if summary["patches_in_set"] else 0
    return summary


def _debugger(patched: Any) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    written: dict[str, int] = {}
    not_diagnosed = 0
    for s in patched.shards:
        if s.diagnosis is not None:
            not_diagnosed += sum(s.diagnosis.skipped.values())
            for k, n in s.diagnosis.kinds.items():
                kinds[k] = kinds.get(k, 0) + n
        for k, n in s.written.items():
            written[k] = written.get(k, 0) + n
    return {"failed_items": patched.failures, "diagnoses": kinds, "not_diagnosed": not_diagnosed,
            "patch_set": patched.patch_set, "patches_written_now": written,
            "patches_in_set": sum(s.patches for s in patched.shards if s.status in ("written", "done")),
            "shards": {s.discipline: s.status for s in patched.shards}}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def markdown(report: LoopReport, cfg: LoopConfig) -> str:
    """The report as Markdown: accuracy per stage and discipline, errors per operator, the Debugger, training."""
    stages = [s for s in ("v0", "v1", "v2") if s in report.evals]
    label = {"v0": "V0 (base)", "v1": "V1 (Builder data)", "v2": "V2 (V1 + patches + replay)"}
    out = [f"# ProDa loop `{report.name}`", "",
           f"Benchmark `{cfg.benchmark}` ({cfg.split} split), base model `{cfg.base_model}`, written "
           f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}. Rerun `proda loop --name {report.name}` to "
           "resume or reproduce; every stage resumes by name.", "", "## Accuracy", "",
           "| model | items | acc | acc_norm |", "| --- | ---: | ---: | ---: |"]
    for s in stages:
        e = report.evals[s]
        out.append(f"| {label[s]} | {e['items']} | {_pct(e['accuracy'])} | {_pct(e['accuracy_norm'])} |")
    items = max((report.evals[s]["items"] for s in stages), default=0)
    if items and items < 200:
        out += ["", f"With {items} items one answer moves accuracy by {100 / items:.1f} points: small differences "
                    "are noise."]

    def grouped(grouping: str) -> dict[str, dict[str, dict[str, Any]]]:
        table: dict[str, dict[str, dict[str, Any]]] = {}
        for s in stages:
            for g in report.evals[s]["groups"]:
                if g["grouping"] == grouping:
                    table.setdefault(str(g["key"]), {})[s] = g
        return table

    out += ["", "## Per discipline", "", "| discipline | items | " + " | ".join(label[s] for s in stages) + " |",
            "| --- | ---: |" + " ---: |" * len(stages)]
    for key, by in sorted(grouped("discipline").items()):
        n = next(iter(by.values()))["items"]
        out.append(f"| {key} | {n} | " + " | ".join(_pct(by[s]["accuracy"]) if s in by else "-" for s in stages)
                   + " |")
    out += ["", "## Wrong answers by the distractor chosen", "",
            "| operator | " + " | ".join(label[s] for s in stages) + " |", "| --- |" + " ---: |" * len(stages)]
    for key, by in sorted(grouped("wrong_operator").items()):
        out.append(f"| {key} | " + " | ".join(str(by[s]["items"]) if s in by else "0" for s in stages) + " |")
    d = report.debugger
    kinds = d.get("diagnoses", {})
    out += ["", "## Debugger", "",
            f"- failed items of V1: {d.get('failed_items', 0)}; concept gaps {kinds.get('concept_gap', 0)}, "
            f"reasoning deficits {kinds.get('reasoning_deficit', 0)}, not diagnosed {d.get('not_diagnosed', 0)}",
            f"- patch set `{d.get('patch_set')}`: {d.get('patches_in_set', 0)} patches; written now: "
            + (", ".join(f"{k} {n}" for k, n in sorted(d.get("patches_written_now", {}).items())) or "none")
            + "; per discipline: " + ", ".join(f"{k} {v}" for k, v in sorted(d.get("shards", {}).items()))]
    out += ["", "## Training", "", "| stage | records | steps | loss first → last | tokens/s | seconds | device |",
            "| --- | ---: | ---: | --- | ---: | ---: | --- |"]
    for stage, t in report.trainings.items():
        loss = "-" if t["first_loss"] is None else f"{t['first_loss']:.3f} → {t['last_loss']:.3f}"
        out.append(f"| {label[stage]} | {t['records']} | {t['steps']} | {loss} | {t['tokens_per_s']:.0f} | "
                   f"{t['seconds']:.0f} | {t['device']} |")
    out += ["", "## Wall time per stage", "", "| stage | seconds |", "| --- | ---: |"]
    out += [f"| {k} | {v:.1f} |" for k, v in report.seconds.items()]
    if report.plots:
        out += ["", "## Plots", "", *[f"![{name[:-4].replace('_', ' ')}]({name})" for name in report.plots]]
    if report.notes:
        out += ["", "## Notes", "", *[f"- {n}" for n in report.notes]]
    return "\n".join(out) + "\n"
