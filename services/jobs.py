"""Job kinds: what a start RPC may run, how its parameters are checked, and the built-in jobs.

A job kind is one registered function ``fn(spec, job) -> result`` named by its import path, so a
worker process (:mod:`proda.services.worker`) can import and run it: ``spec`` is the validated
parameters as a JSON object and ``job`` a :class:`JobContext` (the graph, PRODA_HOME, progress and
log reporting). The result is a JSON object the operation keeps. Each stage wires in by registering
its kind; a kind whose stage is not installed yet is declared *unavailable*, and starting it answers
FAILED_PRECONDITION "not available yet" instead of pretending.

Specs are pydantic models. The server validates a request against them before accepting it, and the
job validates again in the worker, because a resumed operation's spec was stored by an earlier run.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from proda.errors import ConfigError, InputError, NotFound, PreconditionFailed
from proda.schema.store.base import GraphStore, StoreSpec

log = logging.getLogger(__name__)

JobResult = dict[str, Any]
# A result comes back in every Get/Wait/Watch answer, so it stays small: bulk output belongs in the
# graph or the run directory, and the result says where.
MAX_RESULT_BYTES = 1 << 20
Emit = Callable[[dict[str, Any]], None]
# Progress reports closer together than this are coalesced: a stage may report per chunk, and every
# report is persisted and streamed.
PROGRESS_INTERVAL_S = 0.25


class JobContext:
    """What a job function gets besides its spec: the graph (opened on first use), PRODA_HOME, reporting."""

    def __init__(self, *, operation_id: str, attempt: int, home: Path, store_spec: StoreSpec, emit: Emit) -> None:
        self.operation_id = operation_id
        self.attempt = attempt
        self.home = home
        self._store_spec = store_spec
        self._store: GraphStore | None = None
        self._emit = emit
        self._last_progress = 0.0

    @property
    def store(self) -> GraphStore:
        """The graph the server serves, connected for this job (closed by the worker at the end)."""
        if self._store is None:
            self._store = self._store_spec.open()
        return self._store

    def progress(self, done: int, total: int = 0, message: str = "", *, force: bool = False) -> None:
        """Report ``done`` of ``total`` units (0: unknown); frequent reports are coalesced unless ``force``."""
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_INTERVAL_S and (total == 0 or done < total):
            return
        self._last_progress = now
        self._emit({"t": "progress", "done": int(done), "total": int(total), "message": message})

    def log(self, message: str, level: str = "INFO") -> None:
        """A log line of the operation (Python logging inside the worker is forwarded the same way)."""
        self._emit({"t": "log", "level": level, "source": "job", "message": message})

    def close(self) -> None:
        """Close the graph connection if the job opened one."""
        if self._store is not None:
            self._store.close()
            self._store = None


JobFn = Callable[[dict[str, Any], JobContext], JobResult]


class JobSpec(BaseModel):
    """Base of job parameter models: unknown fields are errors, values are plain JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class JobKind:
    """A runnable job kind: its name, the import path of its function, and its parameter model."""

    name: str
    target: str  # "package.module:function"
    spec: type[JobSpec]
    summary: str = ""


def validate_spec(model: type[JobSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` checked against ``model``, as JSON; raises :class:`InputError` naming the field."""
    try:
        return model.model_validate(dict(values)).model_dump(mode="json")
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{where + ': ' if where else ''}{first['msg']}") from e


def resolve_target(target: str) -> JobFn:
    """Import the job function ``module:function``; raises :class:`ConfigError` if it is not there."""
    module_name, _, attr = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"job function {target!r} cannot be imported: {e}") from e
    if not callable(fn):
        raise ConfigError(f"job target {target!r} is not a function")
    return fn  # type: ignore[no-any-return]  # a module attribute: its signature is the registry's contract


class JobRegistry:
    """The job kinds one server runs, and the ones it knows of but cannot run yet (with the reason)."""

    def __init__(self, kinds: Iterable[JobKind] = (), unavailable: Mapping[str, str] | None = None) -> None:
        self._kinds: dict[str, JobKind] = {}
        self._unavailable: dict[str, str] = dict(unavailable or {})
        for k in kinds:
            self.register(k)

    def register(self, kind: JobKind) -> None:
        """Add (or replace) a kind; it stops being unavailable."""
        self._kinds[kind.name] = kind
        self._unavailable.pop(kind.name, None)

    def mark_unavailable(self, name: str, stage: str) -> None:
        """Declare ``name`` as a kind whose ``stage`` is not installed."""
        if name not in self._kinds:
            self._unavailable[name] = stage

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def get(self, name: str) -> JobKind:
        """The kind ``name``; raises :class:`PreconditionFailed` for an unavailable one, :class:`NotFound` else."""
        kind = self._kinds.get(name)
        if kind is not None:
            return kind
        if name in self._unavailable:
            raise PreconditionFailed(f"not available yet: {self._unavailable[name]} not installed (job kind {name})")
        raise NotFound(f"no job kind {name!r}; this server runs: {', '.join(self.names()) or 'none'}")

    def validate(self, name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """The spec for a new operation of kind ``name``: availability first, then the parameters."""
        return validate_spec(self.get(name).spec, values)


# ---------------------------------------------------------------------------------------------------
# built-in job kinds
# ---------------------------------------------------------------------------------------------------
CHECK_STRUCTURE = "synthesis.check_structure"
EXTRACT_KNOWLEDGE = "synthesis.extract_knowledge"
BUILD_BENCHMARK = "synthesis.build_benchmark"
BUILD_TRAINING_DATA = "synthesis.build_training_data"
GENERATE_PATCHES = "synthesis.generate_patches"
EVALUATE_MODEL = "evaluation.evaluate_model"
TRAIN_MODEL = "training.train_model"

# only this discipline (None: all)
Discipline = Annotated[str, StringConstraints(min_length=1, max_length=200)] | None


class CheckStructureSpec(JobSpec):
    """Parameters of the structural check."""

    discipline: Discipline = None


def check_structure(spec: dict[str, Any], job: JobContext) -> JobResult:
    """The structural report (counts, reachability, components, orphans) per discipline, as JSON."""
    from proda.pipelines.check import structural_report

    params = CheckStructureSpec.model_validate(spec)
    job.progress(0, 1, "computing the structural report", force=True)
    report = structural_report(job.store, params.discipline)
    if params.discipline is not None and not report.disciplines:
        raise InputError(f"discipline {params.discipline!r} has nothing in the graph")
    job.progress(1, 1, f"{len(report.disciplines)} discipline(s) checked", force=True)
    return report.model_dump(mode="json")


class ExtractSpec(JobSpec):
    """Parameters of an extraction run (the fields of ExtractConfig a remote caller may set)."""

    discipline: Discipline = None
    backend: Literal["heuristic", "anthropic", "openai"] = "heuristic"
    model: str | None = Field(default=None, max_length=200)
    max_cost: float | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=100, ge=1, le=10_000)


def extract_knowledge(spec: dict[str, Any], job: JobContext) -> JobResult:
    """Run extraction over every pending chunk (one shard per discipline, in this worker); per-shard stats."""
    from proda.pipelines.extract.config import ExtractConfig
    from proda.pipelines.extract.stage import (
        ShardStats,
        extractor_key,
        make_extractor,
        pending_disciplines,
        run_extraction,
        shard_counter,
    )

    params = ExtractSpec.model_validate(spec)
    config = ExtractConfig(**params.model_dump(), executor="local")
    key = extractor_key(make_extractor(config, job.home))
    total = sum(int(r["pending"] or 0) for r in pending_disciplines(job.store, key, config.discipline))
    job.progress(0, total, f"{total} chunk(s) to extract with {key}", force=True)
    done_by_discipline: dict[str, int] = {}

    def progress(discipline: str, stats: ShardStats) -> None:
        done_by_discipline[discipline] = stats.chunks
        job.progress(sum(done_by_discipline.values()), total, f"{discipline}: {stats.chunks} chunk(s)")

    report = run_extraction(job.store, config, job.home, progress=progress)
    job.progress(sum(s.chunks for s in report.shards), total, "done", force=True)
    return {"key": report.key, "run_dir": report.run_dir, "elements": dict(shard_counter(report.shards)),
            "stopped": [s.discipline for s in report.stopped], "shards": [asdict(s) for s in report.shards]}


class BenchmarkSpec(JobSpec):
    """Parameters of a benchmark build (the fields of BenchConfig a remote caller may set)."""

    name: str = "proda"
    discipline: Discipline = None
    per_discipline: int | None = None
    seed: int = 0
    test_ratio: float = 0.1
    dev_ratio: float = 0.1
    splits: tuple[str, ...] = ("test", "dev")
    distractors: int = 3
    max_steps: int = 6

    @model_validator(mode="after")
    def _as_config(self) -> BenchmarkSpec:
        # BenchConfig owns the rules (name pattern, ratios, splits...): ask it, report its words.
        from proda.pipelines.bench.config import BenchConfig

        try:
            BenchConfig(**self.model_dump())
        except ConfigError as e:
            raise ValueError(str(e)) from e
        return self


def build_benchmark(spec: dict[str, Any], job: JobContext) -> JobResult:
    """Split chains and build benchmark items (Tester) in this worker; the build report as JSON."""
    from proda.pipelines.bench.build import ShardStats, build_benchmark
    from proda.pipelines.bench.config import BenchConfig

    params = BenchmarkSpec.model_validate(spec)
    config = BenchConfig(**params.model_dump(), executor="local")
    shards_done: list[str] = []
    job.progress(0, 0, f"building benchmark {config.name!r}", force=True)

    def progress(stats: ShardStats) -> None:
        if stats.discipline not in shards_done:
            shards_done.append(stats.discipline)
        job.progress(len(shards_done), 0, f"{stats.discipline}: {stats.items} item(s)")

    report = build_benchmark(job.store, config, progress=progress)
    return {"benchmark": report.benchmark, "items": report.items, "seconds": report.seconds,
            "split": asdict(report.split), "shards": [asdict(s) for s in report.shards]}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        return False


def default_registry() -> JobRegistry:
    """The kinds this installation can run, and the planned ones it cannot yet (named by stage)."""
    registry = JobRegistry([
        JobKind(CHECK_STRUCTURE, f"{__name__}:check_structure", CheckStructureSpec, "structural report"),
        JobKind(EXTRACT_KNOWLEDGE, f"{__name__}:extract_knowledge", ExtractSpec, "top-down extraction"),
    ], unavailable={
        BUILD_TRAINING_DATA: "training-data stage (Builder)",
        GENERATE_PATCHES: "patch stage",
        EVALUATE_MODEL: "evaluation stage",
        TRAIN_MODEL: "training stage",
    })
    if _installed("proda.pipelines.bench.build"):
        registry.register(JobKind(BUILD_BENCHMARK, f"{__name__}:build_benchmark", BenchmarkSpec, "benchmark build"))
    else:
        registry.mark_unavailable(BUILD_BENCHMARK, "benchmark stage (Tester)")
    return registry
