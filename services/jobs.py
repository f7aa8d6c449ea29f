"""Job kinds: what a start RPC may run, how its parameters are checked, and the built-in jobs.

A job kind is one registered function ``fn(spec, job) -> result`` named by its import path, so a
worker process (:mod:`proda.services.worker`) can import and run it: ``spec`` is the validated
parameters as a JSON object and ``job`` a :class:`JobContext` (the graph, PRODA_HOME, progress and
log reporting). The result is a JSON object the operation keeps: a job builds it with :func:`to_json`
from whatever report its stage returns, and the worker checks it with :func:`result_text` before it
is stored, so a result that is not plain JSON fails loudly, naming the job kind. Each stage wires in
by registering its kind; a kind whose stage is not installed yet is declared *unavailable*, and
starting it answers FAILED_PRECONDITION "not available yet" instead of pretending.

Specs are pydantic models. The server validates a request against them before accepting it, and the
job validates again in the worker, because a resumed operation's spec was stored by an earlier run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import importlib
import importlib.util
import json
import logging
import math
import numbers
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self, cast, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, create_model, model_validator

from proda.config import LLMSettings
from proda.errors import ConfigError, InputError, NotFound, PreconditionFailed
from proda.schema.store.base import GraphStore, StoreSpec

if TYPE_CHECKING:  # the stages load in the worker that runs them
    from proda.pipelines.debug import PatchReport, ShardResult

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

    def __init__(self, *, operation_id: str, attempt: int, home: Path, store_spec: StoreSpec, emit: Emit,
                 llm: LLMSettings | None = None) -> None:
        self.operation_id = operation_id
        self.attempt = attempt
        self.home = home
        self._store_spec = store_spec
        self._store: GraphStore | None = None
        self._llm = llm
        self._emit = emit
        self._last_progress = 0.0

    @property
    def llm(self) -> LLMSettings:
        """The LLM servers and keys of this worker (the server's environment, read once, at first use;
        raises :class:`~proda.errors.ConfigError` naming a bad variable)."""
        if self._llm is None:
            self._llm = LLMSettings.from_environment()
        return self._llm

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


def _nul_at(value: Any, where: str) -> str | None:
    """The place of the first NUL character in a JSON value (keys included), or None."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{where}.{key}" if where else str(key)
            found = here if "\x00" in str(key) else _nul_at(item, here)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _nul_at(item, f"{where}[{i}]")
            if found is not None:
                return found
    return None


class JobSpec(BaseModel):
    """Base of job parameter models: unknown fields are errors, values are plain JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # Names and ids reach the graph as query parameters, and FalkorDB's parser stops at a NUL: the
        # job would fail with the engine's words. Refused up front, with the field's name, for every kind.
        where = _nul_at(data, "")
        if where is not None:
            raise ValueError(f"{where.replace(chr(0), '?')}: holds a NUL character, which no setting takes")
        return data


# ---------------------------------------------------------------------------------------------------
# results: plain JSON by construction
# ---------------------------------------------------------------------------------------------------
# What joins the parts of a tuple key (a Counter keyed by (discipline, split)...) into one string key.
KEY_SEPARATOR = "/"


def _json_key(key: Any, where: str) -> str:
    if isinstance(key, enum.Enum):
        key = key.value
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return json.dumps(key)  # what json.dumps itself writes for such a key: "true", "null"
    if isinstance(key, numbers.Number):
        return str(to_json(key, where))
    if isinstance(key, tuple):
        return KEY_SEPARATOR.join(_json_key(k, where) for k in key)
    if isinstance(key, PurePath):
        return str(key)
    raise TypeError(f"{where}: a key of type {type(key).__name__} has no JSON form")


def to_json(value: Any, where: str = "result") -> Any:
    """``value`` (a stage's report, or any part of one) as plain JSON values: dicts with string keys,
    lists, strings, finite numbers, booleans and None, so that ``json.loads(json.dumps(x)) == x``.

    Dataclasses and pydantic models become dicts of their fields; mappings (Counters included) dicts
    whose keys are strings (a tuple key is joined with :data:`KEY_SEPARATOR`); tuples, sets and lists
    lists (sets sorted); paths strings, enums their value, dates ISO 8601; a NaN or infinite float
    None, since JSON has none. :func:`dataclasses.asdict` is not used: it rebuilds a Counter from
    its (key, count) pairs, which turns it into a Counter keyed by those pairs.

    Raises TypeError naming the place (``result.split.assigned``) of a value with no JSON form.
    """
    if isinstance(value, enum.Enum):
        return to_json(value.value, where)
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, BaseModel):
        return to_json(value.model_dump(mode="json"), where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name), f"{where}.{f.name}") for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = _json_key(key, where)
            if name in out:
                raise TypeError(f"{where}: two keys are both {name!r} once written as text")
            out[name] = to_json(item, f"{where}.{name}")
        return out
    if isinstance(value, set | frozenset):
        items = [to_json(v, f"{where}[]") for v in value]
        try:
            return sorted(items)
        except TypeError:  # mixed types: kept, in no particular order
            return items
    if isinstance(value, list | tuple):
        return [to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"{where}: a {type(value).__name__} has no JSON form")


def to_json_object(report: Any) -> JobResult:
    """:func:`to_json` of a report that is an object (a dataclass, a model, a mapping): a job's result."""
    result = to_json(report)
    if not isinstance(result, dict):
        raise TypeError(f"result: a {type(report).__name__} is not a JSON object")
    return result


def _not_json_at(value: Any, where: str) -> str | None:
    """Where ``value`` stops being plain JSON that reads back as itself, or None if it is."""
    if value is None or isinstance(value, bool | str | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where} is {value}"
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _not_json_at(item, f"{where}[{i}]")
            if found is not None:
                return found
        return None
    if isinstance(value, dict):  # a Counter too: it writes and reads back as the dict it is
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has a key of type {type(key).__name__} ({key!r})"
            found = _not_json_at(item, f"{where}.{key}")
            if found is not None:
                return found
        return None
    return f"{where} is a {type(value).__name__}"


class ResultNotJSON(TypeError):
    """A job kind returned a result that is not plain JSON: a bug of that kind, named in the message."""


def result_text(kind: str, result: Any) -> str:
    """The JSON text of job kind ``kind``'s result, once the result is checked to be a plain JSON object
    that reads back as itself (what :func:`to_json_object` makes).

    Raises :class:`ResultNotJSON` naming the kind and the first offending place.
    """
    if not isinstance(result, dict):
        raise ResultNotJSON(f"job kind {kind} returned a {type(result).__name__}, not a JSON object")
    problem = _not_json_at(result, "result")
    if problem is None:
        try:
            return json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as e:  # the walk above should have seen it; json has the last word
            problem = str(e)
    raise ResultNotJSON(f"job kind {kind} returned a result that is not plain JSON: {problem}; "
                        "results are built with proda.services.jobs.to_json")


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
        if first["type"] == "extra_forbidden":
            raise InputError(f"{where}: unknown setting; this job takes {', '.join(sorted(model.model_fields))}") from e
        message = first["msg"].removeprefix("Value error, ")  # a validator's own words need no prefix
        raise InputError(f"{where + ': ' if where else ''}{message}") from e


class ConfigSpec(JobSpec):
    """A spec whose fields mirror a stage's config dataclass (see :func:`config_spec`). Validating it
    also builds the config, so the config's own rules apply to a remote request exactly as to a recipe."""

    config_class: ClassVar[type[Any]]

    @model_validator(mode="after")
    def _as_config(self) -> Self:
        try:
            config = self.to_config()
        except ConfigError as e:
            raise ValueError(str(e)) from e
        self.check(config)
        return self

    def to_config(self) -> Any:
        """The stage's config (``config_class.from_dict``); raises :class:`ConfigError` for a bad value."""
        return self.config_class.from_dict(self.model_dump(), source="job spec")

    def check(self, config: Any) -> None:
        """Checks of the config against the server's world (files that must exist); raises InputError."""


def config_spec(config: type[Any], name: str, *, base: type[ConfigSpec] = ConfigSpec) -> type[ConfigSpec]:
    """A job spec with the fields of the config dataclass ``config`` (types, defaults and help): a remote
    caller sets what a recipe sets, and a field added to the config needs no edit here."""
    hints = get_type_hints(config)
    definitions: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        default: Any = ...  # required
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        definitions[f.name] = (hints[f.name], Field(default=default, description=f.metadata.get("help")))
    spec = create_model(name, __base__=base, __doc__=f"Parameters of the job: the fields of {config.__name__}.",
                        **definitions)
    spec.config_class = config
    return spec


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
    return to_json_object(report)


class ExtractSpec(JobSpec):
    """Parameters of an extraction run (the fields of ExtractConfig a remote caller may set)."""

    discipline: Discipline = None
    backend: Literal["heuristic", "dependency", "anthropic", "openai"] = "heuristic"
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
    config = ExtractConfig(**params.model_dump(), executor="local", llm=job.llm)
    key = extractor_key(make_extractor(config, job.home))
    total = sum(int(r["pending"] or 0) for r in pending_disciplines(job.store, key, config.discipline))
    job.progress(0, total, f"{total} chunk(s) to extract with {key}", force=True)
    done_by_discipline: dict[str, int] = {}

    def progress(discipline: str, stats: ShardStats) -> None:
        done_by_discipline[discipline] = stats.chunks
        job.progress(sum(done_by_discipline.values()), total, f"{discipline}: {stats.chunks} chunk(s)")

    report = run_extraction(job.store, config, job.home, progress=progress)
    job.progress(sum(s.chunks for s in report.shards), total, "done", force=True)
    return to_json_object({"key": report.key, "run_dir": report.run_dir, "elements": shard_counter(report.shards),
                           "stopped": [s.discipline for s in report.stopped], "shards": report.shards})


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
        from proda.pipelines.tester.config import BenchConfig

        try:
            BenchConfig(**self.model_dump())
        except ConfigError as e:
            raise ValueError(str(e)) from e
        return self


def build_benchmark(spec: dict[str, Any], job: JobContext) -> JobResult:
    """Split chains and build benchmark items (Tester) in this worker; the build report as JSON."""
    from proda.pipelines.tester.build import ShardStats, build_benchmark
    from proda.pipelines.tester.config import BenchConfig

    params = BenchmarkSpec.model_validate(spec)
    config = BenchConfig(**params.model_dump(), executor="local")
    shards_done: list[str] = []
    job.progress(0, 0, f"building benchmark {config.name!r}", force=True)

    def progress(stats: ShardStats) -> None:
        if stats.discipline not in shards_done:
            shards_done.append(stats.discipline)
        job.progress(len(shards_done), 0, f"{stats.discipline}: {stats.items} item(s)")

    report = build_benchmark(job.store, config, progress=progress, home=job.home, llm=job.llm)
    return to_json_object({"benchmark": report.benchmark, "items": report.items, "seconds": report.seconds,
                           "split": report.split, "shards": report.shards})


@cache
def training_data_spec() -> type[ConfigSpec]:
    """Parameters of a training-data build: the fields of BuildConfig."""
    from proda.pipelines.build.config import BuildConfig

    return config_spec(BuildConfig, "TrainingDataSpec")


def build_training_data(spec: dict[str, Any], job: JobContext) -> JobResult:
    """Build instruction-tuning examples (Builder) in this worker; the per-discipline report as JSON."""
    from proda.pipelines.build import build_examples

    config = training_data_spec().model_validate(spec).to_config()
    job.progress(0, 0, f"building dataset {config.dataset!r}", force=True)
    per_discipline: dict[str, int] = {}

    def progress(discipline: str, examples: int) -> None:
        per_discipline[discipline] = examples
        job.progress(sum(per_discipline.values()), 0, f"{discipline}: {examples} example(s)")

    report = build_examples(job.store, config, progress=progress, home=job.home, llm=job.llm)
    job.progress(report.examples, report.examples, "done", force=True)
    return to_json_object({"dataset": report.dataset, "examples": report.examples,
                           "disciplines": [{"discipline": d.discipline, "relations": d.relations,
                                            "examples": d.examples, "families": d.families, "skipped": d.skipped}
                                           for d in report.disciplines]})


class _EvaluateChecks(ConfigSpec):
    def check(self, config: Any) -> None:
        from proda.training.base_model import check_model_path

        if config.mode == "loglikelihood":  # generate mode names an API or served model, not a folder
            check_model_path(config.model)


@cache
def evaluate_spec() -> type[ConfigSpec]:
    """Parameters of an evaluation: the fields of EvalConfig."""
    from proda.training.evaluate import EvalConfig

    return config_spec(EvalConfig, "EvaluateSpec", base=_EvaluateChecks)


def evaluate_model(spec: dict[str, Any], job: JobContext) -> JobResult:
    """A model answers a stored benchmark in this worker; every answer lands on the graph as
    (:EvalRun)-[:ANSWERED]->(:BenchmarkItem). Rerunning (ResumeOperation) answers only the items still
    missing. Returns the run's totals and per-group accuracy."""
    from proda.training.evaluate import evaluate

    config = evaluate_spec().model_validate(spec).to_config()
    job.progress(0, 0, f"evaluating {config.name}", force=True)
    report = evaluate(job.store, config, job.home, llm=job.llm,
                      progress=lambda done, total: job.progress(done, total, "items answered"))
    job.progress(report.items, report.items, "done", force=True)
    return to_json_object({
        "run_id": report.run_id, "name": report.name, "items": report.items, "answered_now": report.answered_now,
        "correct": report.correct, "accuracy": report.accuracy, "accuracy_norm": report.accuracy_norm,
        "unparseable": report.unparseable, "seconds": report.seconds, "groups": report.groups,
        "traceback": f"proda debug traceback --run {report.run_id}"})


class _TrainChecks(ConfigSpec):
    def check(self, config: Any) -> None:
        from proda.training.base_model import check_model_path

        check_model_path(config.base_model, "base_model")
        if config.train_file:
            try:
                found = Path(config.train_file).is_file()
            except (OSError, ValueError):  # a name no file system takes (too long, a NUL)
                found = False
            if not found:
                raise InputError(f"train_file {config.train_file[:300]!r}: no such file on the server")


@cache
def train_spec() -> type[ConfigSpec]:
    """Parameters of a training run: the fields of TrainConfig."""
    from proda.training.sft import TrainConfig

    return config_spec(TrainConfig, "TrainSpec", base=_TrainChecks)


def train_model(spec: dict[str, Any], job: JobContext) -> JobResult:
    """Fine-tune (TRL SFT) in this worker; returns the run's summary (run and model folders, steps, losses).

    Cancelling kills the worker wherever it is; ResumeOperation (or a new job with the same run_name)
    continues from the run's last complete checkpoint, as ``proda train`` does.
    """
    from proda.training.sft import run_training

    config = train_spec().model_validate(spec).to_config()
    job.progress(0, config.max_steps if config.max_steps > 0 else 0,
                 f"training {config.base_model} ({config.method}) as run {config.run_name}", force=True)
    store = None if config.train_file else job.store
    summary = run_training(config, job.home, store=store,
                           progress=lambda step, total: job.progress(step, total, "optimizer steps"))
    job.progress(summary.steps, summary.steps, "done", force=True)
    return to_json_object(summary)


class _PatchChecks(ConfigSpec):
    diagnose_only: bool = Field(default=False, description="only diagnose the failed items and store the "
                                "diagnoses; write no patch (proda patch --diagnose-only)")

    def to_config(self) -> Any:
        # diagnose_only is how the stage runs, not a setting of the patch set: PatchConfig does not hold it
        return self.config_class.from_dict(self.model_dump(exclude={"diagnose_only"}), source="job spec")

    def check(self, config: Any) -> None:
        from proda.training.base_model import check_model_path

        if config.model:  # the run's own model is known only once the job has found the run
            check_model_path(config.model)


@cache
def patch_spec() -> type[_PatchChecks]:
    """Parameters of a Debugger run: the fields of PatchConfig, plus ``diagnose_only``."""
    from proda.pipelines.debug.config import PatchConfig

    return cast(type[_PatchChecks], config_spec(PatchConfig, "PatchSpec", base=_PatchChecks))


def patch_result(report: PatchReport, *, diagnose_only: bool) -> JobResult:
    """The small JSON result of a Debugger run (a :class:`~proda.pipelines.debug.PatchReport`): the
    patch sets (ids), patches written per kind, diagnoses per kind, and the disciplines skipped with the
    reason. Per-diagnosis detail stays on the graph ((:Diagnosis) nodes) and in the run directory."""
    from proda.pipelines.debug.patch import set_id

    counts: dict[str, int] = {}
    diagnoses: dict[str, int] = {}
    sets: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for s in report.shards:
        for kind, n in (s.diagnosis.kinds if s.diagnosis else {}).items():
            diagnoses[kind] = diagnoses.get(kind, 0) + n
        if s.status == "written":
            for kind, n in s.written.items():
                counts[kind] = counts.get(kind, 0) + n
        if s.status in ("written", "done"):
            sets.append({"id": set_id(report.patch_set, s.discipline), "discipline": s.discipline, "status": s.status,
                         "patches": s.patches, "shortfall": s.shortfall})
        if s.status in ("done", "no_failures", "undiagnosable"):
            skipped.append({"discipline": s.discipline, "status": s.status, "reason": s.message})
    written = report.patches
    if diagnose_only:
        message = f"{sum(diagnoses.values())} diagnosis(es) stored; no patch written (diagnose only)"
    elif written:
        message = f"{written} patch(es) written in {sum(1 for x in sets if x['status'] == 'written')} patch set(s)"
    else:
        message = "nothing written: " + ("; ".join(x["reason"] for x in skipped) or "no discipline to patch")
    return to_json_object({
        "run_id": report.run.id, "run_name": report.run.name, "patch_set": report.patch_set,
        "run_dir": report.run_dir, "diagnose_only": diagnose_only, "failures": report.failures,
        "written": written > 0, "patches": written, "patches_per_kind": counts, "diagnoses_per_kind": diagnoses,
        "patch_sets": sets, "skipped": skipped, "message": message})


def generate_patches(spec: dict[str, Any], job: JobContext) -> JobResult:
    """Diagnose an evaluation run's failed items and write its patch sets (the Debugger, as ``proda patch``
    runs it) in this worker; returns :func:`patch_result`.

    The run's model (or ``model``) is loaded when the first probe needs it. Raises :class:`NotFound` for
    an unknown run and :class:`InputError` for a discipline the run did not answer. A rerun skips the
    disciplines whose set is complete and reuses stored diagnoses, so ResumeOperation picks up where
    a cancelled run stopped.
    """
    from proda.pipelines.debug import find_run, run_patch
    from proda.pipelines.debug.diagnose import run_disciplines

    params = patch_spec().model_validate(spec)
    config = params.to_config()
    diagnose_only = params.diagnose_only
    run = find_run(job.store, config.run)  # NotFound before any work
    total = sum(failed for _, failed in run_disciplines(job.store, run, config.discipline).values())
    job.progress(0, total, f"run {run.name or run.id}: {total} failed item(s) to diagnose", force=True)
    done_by_discipline: dict[str, int] = {}

    def progress(discipline: str, done: int, failed: int) -> None:
        done_by_discipline[discipline] = done
        job.progress(sum(done_by_discipline.values()), total, f"{discipline}: {done}/{failed} failed item(s) "
                     "diagnosed")

    def shard_done(result: ShardResult) -> None:
        job.log(result.message or f"{result.discipline}: {result.status}",
                "WARNING" if result.status == "undiagnosable" else "INFO")

    report = run_patch(job.store, config, job.home, diagnose_only=diagnose_only, progress=progress,
                       on_shard=shard_done)
    job.progress(total, total, "done", force=True)
    return patch_result(report, diagnose_only=diagnose_only)


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
        JobKind(BUILD_TRAINING_DATA, f"{__name__}:build_training_data", training_data_spec(),
                "training-data build (Builder)"),
        # loglikelihood mode needs transformers, generate mode an LLM SDK: a missing one fails the job
        # with the pip command to run (FAILED_PRECONDITION), since which one is needed depends on the spec
        JobKind(EVALUATE_MODEL, f"{__name__}:evaluate_model", evaluate_spec(), "model evaluation"),
        # probing needs transformers (as loglikelihood evaluation does): without it the job fails with
        # the pip command to run, and only when a failed item has to be probed
        JobKind(GENERATE_PATCHES, f"{__name__}:generate_patches", patch_spec(), "Debugger: diagnoses and patches"),
    ])
    if _installed("trl") and _installed("transformers"):
        registry.register(JobKind(TRAIN_MODEL, f"{__name__}:train_model", train_spec(), "TRL SFT training"))
    else:
        registry.mark_unavailable(TRAIN_MODEL, "training stage (pip install 'proda[train]')")
    if _installed("proda.pipelines.tester.build"):
        registry.register(JobKind(BUILD_BENCHMARK, f"{__name__}:build_benchmark", BenchmarkSpec, "benchmark build"))
    else:
        registry.mark_unavailable(BUILD_BENCHMARK, "benchmark stage (Tester)")
    return registry
