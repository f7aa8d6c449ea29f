"""Job kinds the Studio adds to the server's registry: the stages ``proda`` runs from the command line
that have no start RPC of their own (ingest, resolve, benchmark check and export, the whole loop).

Each is a thin function ``fn(spec, job)`` over the same stage function the CLI command calls, run by
the same :class:`~proda.services.supervisor.Supervisor` in a worker process, so it is a durable
operation like any other: it shows in ``OperationsService``, can be cancelled, and a run interrupted
by a restart is failed-resumable. They exist only where the Studio hosts the operations (see
:mod:`proda.services.studio.hosting`); a separate ``proda serve`` does not run them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from proda.errors import InputError
from proda.services.jobs import (
    ConfigSpec,
    Discipline,
    JobContext,
    JobKind,
    JobRegistry,
    JobResult,
    JobSpec,
    config_spec,
    to_json_object,
)

INGEST = "studio.ingest"
RESOLVE = "studio.resolve"
CHECK_BENCHMARK = "studio.check_benchmark"
EXPORT_BENCHMARK = "studio.export_benchmark"
RUN_LOOP = "studio.run_loop"
# shown in the Studio's operation lists
KIND_LABELS = {INGEST: "ingest", RESOLVE: "resolve", CHECK_BENCHMARK: "bench check", EXPORT_BENCHMARK: "bench export",
               RUN_LOOP: "closed loop"}
MAX_LISTED = 200  # rejected documents / merges kept in a result; the rest are counted


class IngestSpec(JobSpec):
    """Parameters of ``proda ingest``: paths on the server, a default discipline, the chunk budget."""

    paths: tuple[str, ...] = Field(min_length=1, max_length=64)
    discipline: Discipline = None
    max_tokens: int = Field(default=400, ge=50, le=8000)

    @field_validator("paths")
    @classmethod
    def _exist(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        for p in paths:
            try:
                found = Path(p).exists()
            except (OSError, ValueError):
                found = False
            if not found:
                raise ValueError(f"{p[:300]!r}: no such file or folder on the server")
        return paths


def ingest_corpus(spec: dict[str, Any], job: JobContext) -> JobResult:
    """``proda ingest`` in a worker: Documents and Chunks, rejected documents with the reason."""
    from proda.pipelines.ingest import ingest_paths

    params = IngestSpec.model_validate(spec)
    job.progress(0, 0, f"ingesting {len(params.paths)} path(s)", force=True)
    report = ingest_paths(job.store, [Path(p) for p in params.paths], discipline=params.discipline,
                          max_tokens=params.max_tokens,
                          progress=lambda seen, chunks: job.progress(seen, 0, f"{seen} documents, {chunks} chunks"))
    rejected = [{"item": r.item, "origin": r.origin, "code": r.code, "reason": r.reason} for r in report.rejected]
    return to_json_object({"summary": report.summary(), "seen": report.seen, "new": report.new,
                           "changed": report.changed, "unchanged": report.unchanged,
                           "chunks_written": report.chunks_written, "chunks_deleted": report.chunks_deleted,
                           "stale": dict(report.stale), "rejected": rejected[:MAX_LISTED],
                           "rejected_by_reason": dict(report.by_reason)})


class ResolveSpec(JobSpec):
    """Parameters of ``proda resolve``."""

    discipline: Discipline = None
    threshold: float = Field(default=92.0, ge=50.0, le=100.0)
    dry_run: bool = False


def resolve_concepts(spec: dict[str, Any], job: JobContext) -> JobResult:
    """``proda resolve`` in a worker: the merges made (or, dry run, the ones that would be)."""
    from proda.pipelines.extract.resolve import merge
    from proda.pipelines.extract.resolve_candidates import find_candidates

    params = ResolveSpec.model_validate(spec)
    if params.discipline is not None:
        disciplines = [params.discipline]
    else:
        rows = job.store.query("discipline_counts", {"discipline": None})
        disciplines = sorted({r["discipline"] for r in rows if r["element"] == "concepts" and r["discipline"]})
    made = []
    for i, d in enumerate(disciplines):
        job.progress(i, len(disciplines), f"resolving {d}", force=True)
        made.extend(merge(job.store, find_candidates(job.store, d, threshold=params.threshold),
                          dry_run=params.dry_run))
    job.progress(len(disciplines), len(disciplines), "done", force=True)
    rows = [{"id": m.id, "discipline": m.discipline, "duplicate": m.duplicate_name, "canonical": m.canonical_name,
             "method": m.method, "score": round(m.score, 1)} for m in made]
    return to_json_object({"dry_run": params.dry_run, "disciplines": disciplines, "merges": len(rows),
                           "listed": rows[:MAX_LISTED]})


class BenchmarkRef(JobSpec):
    """A stored benchmark, optionally one discipline of it."""

    name: str = Field(default="proda", min_length=1, max_length=200)
    discipline: Discipline = None


def check_benchmark(spec: dict[str, Any], job: JobContext) -> JobResult:
    """``proda bench check`` in a worker: validity and orthogonality re-verified, violations by check."""
    from proda.pipelines.tester.check import check_benchmark as check

    params = BenchmarkRef.model_validate(spec)
    job.progress(0, 0, f"checking benchmark {params.name!r}", force=True)
    report = check(job.store, params.name, params.discipline)
    return to_json_object({"benchmark": params.name, "discipline": params.discipline, "items": report.items,
                           "ok": report.ok, "by_check": dict(report.by_check()),
                           "violations": report.violations[:MAX_LISTED]})


class ExportSpec(BenchmarkRef):
    """``proda bench export``: a format, written under PRODA_HOME/exports/bench/NAME/FORMAT."""

    format: str = Field(default="jsonl", pattern=r"^(jsonl|hf|lm-eval)$")


def export_benchmark(spec: dict[str, Any], job: JobContext) -> JobResult:
    """``proda bench export`` in a worker; returns the files written."""
    from proda.pipelines.tester.export import export as write
    from proda.pipelines.tester.export import load_items

    params = ExportSpec.model_validate(spec)
    items = load_items(job.store, params.name, params.discipline)
    if not items:
        raise InputError(f"benchmark {params.name!r} has no items to export; build it first")
    folder = job.home / "exports" / "bench" / params.name / params.format
    files = write(items, params.format, folder)
    return to_json_object({"benchmark": params.name, "format": params.format, "items": len(items),
                           "folder": folder, "files": files})


def loop_spec() -> type[ConfigSpec]:
    """Parameters of the closed loop: the fields of LoopConfig."""
    from proda.pipelines.debug.loop import LoopConfig

    return config_spec(LoopConfig, "LoopSpec")


def run_loop(spec: dict[str, Any], job: JobContext) -> JobResult:
    """``proda loop`` in a worker: V0/V1 evaluation, V1 training, diagnosis and patches, V2; the report."""
    from proda.pipelines.debug.loop import run_loop as loop

    config = loop_spec().model_validate(spec).to_config()
    job.progress(0, 0, f"closed loop {config.name!r}", force=True)
    report = loop(job.store, config, job.home, log=lambda message: job.log(message))
    return to_json_object({"name": config.name, "report": job.home / "runs" / "loop" / config.name / "report.md",
                           "summary": report})


def studio_registry(base: JobRegistry | None = None) -> JobRegistry:
    """The server's job kinds (:func:`~proda.services.jobs.default_registry`) plus the Studio's own."""
    from proda.services.jobs import default_registry

    registry = base or default_registry()
    registry.register(JobKind(INGEST, f"{__name__}:ingest_corpus", IngestSpec, "ingest documents"))
    registry.register(JobKind(RESOLVE, f"{__name__}:resolve_concepts", ResolveSpec, "entity resolution"))
    registry.register(JobKind(CHECK_BENCHMARK, f"{__name__}:check_benchmark", BenchmarkRef, "benchmark check"))
    registry.register(JobKind(EXPORT_BENCHMARK, f"{__name__}:export_benchmark", ExportSpec, "benchmark export"))
    registry.register(JobKind(RUN_LOOP, f"{__name__}:run_loop", loop_spec(), "closed loop V0 -> V2"))
    return registry
