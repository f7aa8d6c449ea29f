"""``proda patch``: diagnose an evaluation run's failures and write patch sets, one shard per discipline.

A shard (one discipline) diagnoses the run's failed items there (reusing stored diagnoses), then
builds and writes that discipline's patch set in one statement. It is resumable twice over: a
complete patch set made with the same configuration is skipped without loading a model, and an
interrupted diagnosis resumes from the diagnoses already stored. Each shard writes its statistics
(``stats/<discipline>.json``) and, when its set is complete, a marker (``completions/``) into the
run directory ``$PRODA_HOME/runs/patch/<patch_set>``. Shards run locally or on Ray
(:mod:`proda.pipelines.shards`); a Ray worker opens its own graph connection and loads the model
itself, once for all the shards it runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from proda.errors import ConfigError, InputError
from proda.pipelines.debug.config import PatchConfig
from proda.pipelines.debug.diagnose import (
    DiagnoseStats,
    ProgressFn,
    RunInfo,
    Scorer,
    ScorerFactory,
    diagnose_discipline,
    find_run,
    run_disciplines,
    summary_rows,
)
from proda.pipelines.debug.patch import build_patch_set, existing_set, fingerprint, write_patch_set
from proda.pipelines.shards import ShardEnv, run_shards
from proda.schema.store.base import GraphStore
from proda.schema.vocabulary import Vocabulary, default_vocabulary

Status = Literal["written", "done", "no_failures", "diagnosed", "undiagnosable"]


@dataclass
class ShardResult:
    """What one discipline shard did (also written to ``stats/<discipline>.json``)."""

    discipline: str
    status: Status
    message: str = ""
    diagnosis: DiagnoseStats | None = None
    patches: int = 0
    planned: dict[str, int] = field(default_factory=dict)
    available: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    families: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    shortfall: str | None = None
    diagnoses: list[dict[str, Any]] = field(default_factory=list)  # one summary row per diagnosis
    seconds: float = 0.0


def model_scorer(model: str, mode: str, home: Path, batch_size: int) -> ScorerFactory:
    """A factory that loads ``model`` for log-likelihood scoring when first called.

    The factory raises :class:`ConfigError` for a run evaluated in generate mode (an API model has no
    log-likelihoods to probe with) unless another model was named.
    """

    def make() -> Scorer:
        if mode != "loglikelihood":
            raise ConfigError(f"the run was evaluated in {mode} mode: probes are scored by log-likelihood, so "
                              "name a local model that stands for it with --model")
        from proda.training.base_model import load_model
        from proda.training.scoring import LoglikelihoodScorer

        loaded, tokenizer = load_model(model, home)
        return LoglikelihoodScorer(loaded, tokenizer, batch_size=batch_size)

    return make


class ShardRunner:
    """Diagnoses and patches one discipline on the injected store; knows nothing of where it runs."""

    def __init__(self, store: GraphStore, run: RunInfo, config: PatchConfig, scorer_factory: ScorerFactory, *,
                 diagnose_only: bool = False, vocab: Vocabulary | None = None, run_dir: Path | None = None) -> None:
        self.store, self.run_info, self.config = store, run, config
        self.scorer_factory = scorer_factory
        self.diagnose_only = diagnose_only
        self.vocab = vocab or default_vocabulary()
        self.run_dir = run_dir

    def run(self, discipline: str, progress: ProgressFn | None = None) -> ShardResult:
        """Diagnose, then (unless diagnose-only) build and write the patch set of ``discipline``.

        Raises :class:`ConfigError` when a complete set of that name was made with another
        configuration (``force`` replaces it) and :class:`InputError` for missing replay data.
        """
        started = time.monotonic()
        result = self._run(discipline, progress)
        result.seconds = time.monotonic() - started
        self._record(result)
        return result

    def _run(self, discipline: str, progress: ProgressFn | None) -> ShardResult:
        cfg, run = self.config, self.run_info
        if run_disciplines(self.store, run, discipline).get(discipline, (0, 0))[1] == 0:
            return ShardResult(discipline, "no_failures", diagnosis=DiagnoseStats(discipline=discipline),
                               message=f"run {run.name!r} has no failed items in {discipline}: nothing to patch")
        if not self.diagnose_only and not cfg.force:
            done = existing_set(self.store, cfg.patch_set, discipline)
            if done is not None:
                if done["fingerprint"] != fingerprint(cfg, run):
                    raise ConfigError(f"patch set {cfg.patch_set!r} of {discipline} is complete but was made from "
                                      f"another run or configuration (run {done['run_id']}); pass --force to "
                                      "replace it, or choose another --patch-set")
                return ShardResult(discipline, "done", f"{discipline}: patch set {cfg.patch_set!r} is already "
                                   f"complete ({done['patches']} patches); skipped", patches=int(done["patches"]))
        diagnoses, dstats = diagnose_discipline(self.store, run, discipline, cfg, self.scorer_factory,
                                                vocab=self.vocab, progress=progress)
        result = ShardResult(discipline, "diagnosed", diagnosis=dstats, diagnoses=summary_rows(diagnoses))
        if dstats.failed == 0:
            result.status = "no_failures"
            result.message = f"run {run.name!r} has no failed items in {discipline}: nothing to patch"
            return result
        if not diagnoses:
            result.status = "undiagnosable"
            named = "; ".join(m for ms in dstats.examples.values() for m in ms)
            result.message = f"{discipline}: none of the {dstats.failed} failed item(s) could be diagnosed: {named}"
            return result
        if self.diagnose_only:
            result.message = f"{discipline}: {len(diagnoses)} diagnosis(es) stored"
            return result
        rows, pstats = build_patch_set(self.store, run, discipline, diagnoses, cfg, self.vocab)
        result.patches = write_patch_set(self.store, run, discipline, cfg, rows, pstats)
        result.status = "written"
        result.planned, result.available, result.written = pstats.planned, pstats.available, pstats.written
        result.families, result.skipped, result.shortfall = pstats.families, pstats.skipped, pstats.shortfall
        result.message = f"{discipline}: patch set {cfg.patch_set!r} written ({result.patches} patches)"
        return result

    def _record(self, result: ShardResult) -> None:
        if self.run_dir is None:
            return
        (self.run_dir / "stats").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "stats" / f"{result.discipline}.json").write_text(json.dumps(asdict(result), indent=2))
        marker = self.run_dir / "completions" / f"{result.discipline}.done"
        if result.status in ("written", "done"):
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps({"run": self.run_info.id, "patches": result.patches, "at": time.time()}))


@dataclass(frozen=True)
class ShardSpec:
    """Everything a shard needs, picklable for Ray workers."""

    discipline: str
    run: RunInfo
    config: PatchConfig
    home: str
    run_dir: str
    diagnose_only: bool


VOCAB = "debug.vocabulary"  # resource key; locally the caller's vocabulary, when it injected one


def probe_model(config: PatchConfig, run: RunInfo) -> tuple[str, str]:
    """(model, mode) that answers the probes: the run's own, unless ``config.model`` names a local one."""
    return config.model or run.model, "loglikelihood" if config.model else run.mode


def scorer_key(config: PatchConfig, run: RunInfo, home: str) -> tuple[str, ...]:
    """The resource key of the probing scorer: what decides which model is loaded and how."""
    return ("debug.scorer", *probe_model(config, run), str(config.batch_size), home)


def run_shard(spec: ShardSpec, env: ShardEnv[ProgressFn]) -> ShardResult:
    """One discipline shard, wherever it runs: graph, vocabulary and scorer come from ``env``; the model
    is loaded on first need, once per process."""
    cfg = spec.config
    model, mode = probe_model(cfg, spec.run)
    factory = env.resource(scorer_key(cfg, spec.run, spec.home),
                           lambda: _once(model_scorer(model, mode, Path(spec.home), cfg.batch_size)))
    return ShardRunner(env.store, spec.run, cfg, factory, diagnose_only=spec.diagnose_only,
                       vocab=env.resource(VOCAB, default_vocabulary),
                       run_dir=Path(spec.run_dir)).run(spec.discipline, env.progress)


@dataclass
class PatchReport:
    """The whole run: the evaluation run repaired and one result per discipline."""

    run: RunInfo
    patch_set: str
    run_dir: str
    shards: list[ShardResult] = field(default_factory=list)

    @property
    def patches(self) -> int:
        return sum(s.patches for s in self.shards if s.status == "written")

    @property
    def failures(self) -> int:
        return sum(s.diagnosis.failed for s in self.shards if s.diagnosis is not None)


def run_patch(store: GraphStore, config: PatchConfig, home: Path, *, scorer_factory: ScorerFactory | None = None,
              diagnose_only: bool = False, progress: ProgressFn | None = None,
              on_shard: Callable[[ShardResult], None] | None = None,
              vocab: Vocabulary | None = None) -> PatchReport:
    """Diagnose and patch every discipline of the run (or ``config.discipline``); returns the report.

    ``scorer_factory`` injects the probing model (tests, services); by default the run's model (or
    ``config.model``) is loaded on first need. With Ray each worker loads it once, for every shard it runs.
    Raises :class:`NotFound` for an unknown run, :class:`InputError` for a run whose items are gone
    or a discipline the run did not answer.
    """
    run = find_run(store, config.run)
    per = run_disciplines(store, run)
    if config.discipline is not None:
        if config.discipline not in per:
            raise InputError(f"evaluation run {run.name!r} ({run.id}) answered no item in discipline "
                             f"{config.discipline!r}; its disciplines: {', '.join(sorted(per)) or 'none'}")
        disciplines = [config.discipline]
    else:
        disciplines = sorted(per)
    run_dir = home / "runs" / "patch" / config.patch_set
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps({**asdict(config), "run_id": run.id}, indent=2))
    report = PatchReport(run=run, patch_set=config.patch_set, run_dir=str(run_dir))

    def done(_spec: ShardSpec, result: ShardResult) -> None:
        report.shards.append(result)
        if on_shard is not None:
            on_shard(result)

    specs = [ShardSpec(discipline=d, run=run, config=config, home=str(home), run_dir=str(run_dir),
                       diagnose_only=diagnose_only) for d in disciplines]
    injected: dict[Hashable, object] = {}
    if scorer_factory is not None:
        injected[scorer_key(config, run, str(home))] = _once(scorer_factory)
    if vocab is not None:
        injected[VOCAB] = vocab
    with ShardEnv(store, progress, injected) as env:
        run_shards(config.executor, run_shard, specs, done, env)
    report.shards.sort(key=lambda s: s.discipline)
    return report


def _once(factory: ScorerFactory) -> ScorerFactory:
    """The model is loaded once per process, however many shards need it."""
    made: list[Scorer] = []

    def get() -> Scorer:
        if not made:
            made.append(factory())
        return made[0]

    return get
