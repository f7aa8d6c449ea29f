"""``proda refine run``: JSONL documents in, JSONL documents out with their program and refined text.

Each input file is cut into ``shards`` shards (input line ``i`` belongs to shard ``i % shards``); a
shard is the unit of resume and of parallelism (local loop or Ray, :mod:`proda.pipelines.shards`).
A shard's run directory entries follow datatrove's layout::

    OUT/data/<file>.<k>-of-<n>.jsonl      one record per input document, in input order
    OUT/rejected/<file>.<k>-of-<n>.jsonl  input lines that are not documents (bad JSON, not UTF-8...)
    OUT/progress/<file>.<k>-of-<n>.json   checkpoint: shard lines done and the byte size of both files
    OUT/stats/<file>.<k>-of-<n>.json      the shard's statistics
    OUT/completions/<file>.<k>-of-<n>     written when the shard is finished; a rerun skips it

Output is appended a batch at a time and the checkpoint is replaced (atomically) after each
flush; a killed run leaves at most a partial batch after the checkpoint, which the rerun truncates
away before it continues from the next line, so every document is written exactly once.

A record keeps every input field, the original ``text`` included, and gains ``refined_text`` and
``refine`` (program, counts, what failed closed). Nothing is lost: a dropped document is still
written (``refined_text`` empty, ``refine.dropped`` true), an empty document is passed through
unchanged, and a line that is not a document goes to ``rejected/`` with its bytes (base64) and why.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from proda.config import LLMSettings
from proda.errors import BudgetExceeded, InputError, LLMError
from proda.pipelines.refine.config import RefineConfig
from proda.pipelines.refine.interpreter import execute
from proda.pipelines.refine.model import ModelProgram, RefineModel, ViewConfig
from proda.pipelines.refine.program import KEEP
from proda.pipelines.shards import ShardEnv, ShardOutcome, ShardReport, run_shards

TEXT_FIELD = "text"
HTML_FIELD = "html"
"""A record with this field and no ``text`` is a web page, refined as its visible text."""
HTML_CONVERSION = "html_to_text"


class ProgramSource(Protocol):
    """Where programs come from (the refine model, a server, a line classifier, the trafilatura expert, or
    keep-everything); ``key`` names it."""

    @property
    def key(self) -> str: ...

    def programs(self, texts: Sequence[str], pages: Sequence[str | None] | None = None) -> list[ModelProgram]:
        """One program per text; ``pages`` holds each text's HTML (or None) when it came from a web page,
        for sources that read markup (the others ignore it)."""
        ...


class KeepAll:
    """``keep_doc()`` for every document: exercises the plumbing without a model."""

    key = "keep"

    def programs(self, texts: Sequence[str], pages: Sequence[str | None] | None = None) -> list[ModelProgram]:
        return [ModelProgram(KEEP, []) for _ in texts]


@dataclass
class ShardStats(ShardOutcome):
    """What one shard did (also written to ``stats/<shard>.json``)."""

    shard: str
    documents: int = 0
    dropped: int = 0
    edited: int = 0
    unchanged: int = 0
    empty: int = 0
    rejected: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    lines_in: int = 0
    lines_removed: int = 0
    chars_in: int = 0
    chars_removed: int = 0
    failed_closed: int = 0  # documents with at least one window whose program was rejected
    issues: dict[str, int] = field(default_factory=dict)
    resumed_from: int = 0

    def count(self, bucket: dict[str, int], reason: str, n: int = 1) -> None:
        bucket[reason] = bucket.get(reason, 0) + n


@dataclass(frozen=True)
class ShardSpec:
    """Everything a shard needs, picklable for Ray workers."""

    input: str
    index: int
    count: int
    out_dir: str
    config: RefineConfig
    home: str
    llm: LLMSettings | None = None  # the entry point's servers and keys, for a served refine model

    @property
    def name(self) -> str:
        return f"{Path(self.input).stem}.{self.index:05d}-of-{self.count:05d}"


ProgressFn = Callable[[ShardStats], None]


@dataclass
class InputLine:
    """One raw input line and its 1-based number."""

    lineno: int
    raw: bytes


@dataclass
class _Checkpoint:
    lines_done: int = 0
    data_bytes: int = 0
    rejected_bytes: int = 0


def _shard_lines(path: Path, index: int, count: int) -> Iterator[InputLine]:
    with path.open("rb") as f:
        for i, raw in enumerate(f):
            if i % count == index:
                yield InputLine(i + 1, raw)


def _reject(line: InputLine, source: str, reason: str, code: str) -> dict[str, Any]:
    return {"source": source, "line": line.lineno, "code": code, "reason": reason,
            "raw_base64": base64.b64encode(line.raw).decode("ascii")}


def _text_from_html(record: dict[str, Any]) -> str | None:
    """Give a web-page record its visible text (boilerplate kept: that is what gets refined).

    Sets ``text`` and ``html_to_text`` (converter and issue counts, which the output report
    carries). Returns why the page cannot be converted (too large), else None.
    """
    from proda.pipelines.ingest.html import converter_name, html_to_text

    page = html_to_text(record[HTML_FIELD])
    issues = dict(page.issues)
    if "html_too_large" in issues:
        return "web page larger than the HTML limit; kept aside unconverted"
    encoding = record.get("html_encoding")
    if isinstance(encoding, str) and encoding.lower() not in ("utf-8", "utf8"):
        issues["html_not_utf8"] = 1  # decoded from its own charset when it was read (nothing guessed here)
    record[TEXT_FIELD] = page.text
    record[HTML_CONVERSION] = {"converter": converter_name(), "title": page.title, "issues": issues}
    return None


def parse_record(line: InputLine, source: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(document, None) or (None, rejection) for one input line; never raises for bad input.

    A record with ``html`` and no ``text`` is a web page: its visible text becomes ``text``
    (:func:`_text_from_html`); a page over the size limit is rejected (``html_too_large``) with its
    bytes. Raises only DependencyMissing for such a record without resiliparse.
    """
    try:
        decoded = line.raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, _reject(line, source, f"not UTF-8 (byte {e.start}: {line.raw[e.start:e.start + 1]!r})",
                             "not_utf8")
    try:
        record = json.loads(decoded)
    except json.JSONDecodeError as e:
        return None, _reject(line, source, f"malformed JSON: {e.msg} at column {e.colno}", "malformed_json")
    if not isinstance(record, dict):
        return None, _reject(line, source, "a record must be a JSON object", "not_an_object")
    if not isinstance(record.get(TEXT_FIELD), str) and isinstance(record.get(HTML_FIELD), str):
        too_large = _text_from_html(record)
        if too_large:
            return None, _reject(line, source, f"record {record.get('id')!r}: {too_large}", "html_too_large")
    if not isinstance(record.get(TEXT_FIELD), str):
        rid = record.get("id")
        return None, _reject(line, source, f"record {rid!r}: field {TEXT_FIELD!r} is missing or not a string",
                             "missing_text")
    if record.get("id") is None:
        record["id"] = f"{Path(source).name}:{line.lineno}"
    return record, None


def refine_record(record: dict[str, Any], result: ModelProgram, key: str) -> dict[str, Any]:
    """The output record: input fields, ``refined_text`` and the ``refine`` report."""
    text: str = record[TEXT_FIELD]
    run = execute(result.program, text)
    issues = Counter(result.issues)
    issues.update(run.issues)
    conversion = record.get(HTML_CONVERSION)
    if isinstance(conversion, dict):
        issues.update(conversion.get("issues") or {})
    report: dict[str, Any] = {
        "program": result.program.render(), "dropped": run.dropped, "lines_in": run.lines_in,
        "lines_removed": run.lines_removed, "chars_in": len(text), "chars_removed": run.chars_removed,
        "issues": dict(issues), "source": key}
    if result.errors:
        report["errors"] = result.errors
    return {**record, "refined_text": run.text, "refine": report}


class ShardRunner:
    """Refines one shard into its files under ``out_dir``; knows nothing of where it runs."""

    def __init__(self, source: ProgramSource, out_dir: Path, *, batch_size: int = 8) -> None:
        self.source = source
        self.out = out_dir
        self.batch_size = batch_size

    def _paths(self, name: str) -> dict[str, Path]:
        return {"data": self.out / "data" / f"{name}.jsonl", "rejected": self.out / "rejected" / f"{name}.jsonl",
                "progress": self.out / "progress" / f"{name}.json", "stats": self.out / "stats" / f"{name}.json",
                "done": self.out / "completions" / name}

    def run(self, input_path: Path, index: int, count: int, progress: ProgressFn | None = None) -> ShardStats:
        """Refine shard ``index`` of ``count`` of ``input_path``; returns its statistics."""
        name = f"{input_path.stem}.{index:05d}-of-{count:05d}"
        paths = self._paths(name)
        if paths["done"].exists() and paths["stats"].exists():
            return ShardStats(**json.loads(paths["stats"].read_text()))
        for p in paths.values():
            p.parent.mkdir(parents=True, exist_ok=True)
        checkpoint = self._resume(paths)
        stats = self._previous_stats(paths, name, checkpoint)
        stats.resumed_from = checkpoint.lines_done
        started = time.monotonic()
        earlier = stats.seconds  # time spent by the runs this one resumes
        pending: list[InputLine] = []
        with paths["data"].open("ab") as data, paths["rejected"].open("ab") as rejected:
            def flush() -> None:
                if pending:
                    self._process(pending, str(input_path), data, rejected, stats)
                    data.flush()
                    rejected.flush()
                    checkpoint.lines_done += len(pending)
                    checkpoint.data_bytes = data.tell()
                    checkpoint.rejected_bytes = rejected.tell()
                    stats.seconds = earlier + time.monotonic() - started
                    self._save(paths, checkpoint, stats)
                    pending.clear()
                    if progress is not None:
                        progress(stats)

            try:
                for k, line in enumerate(_shard_lines(input_path, index, count)):
                    if k < checkpoint.lines_done:
                        continue
                    pending.append(line)
                    if len(pending) >= self.batch_size:
                        flush()
                flush()
            except (BudgetExceeded, LLMError) as e:
                # the batch in hand is not written: the rerun starts again from the checkpoint
                pending.clear()
                stats.stopped = f"{type(e).__name__}: {e}"
        stats.seconds = earlier + time.monotonic() - started
        self._save(paths, checkpoint, stats)
        if stats.stopped is None:
            paths["done"].write_text(json.dumps({"key": self.source.key, "lines": checkpoint.lines_done}))
        return stats

    def _process(self, lines: list[InputLine], source: str, data: Any, rejected: Any, stats: ShardStats) -> None:
        records: list[dict[str, Any]] = []
        rejections: list[dict[str, Any]] = []
        for line in lines:
            record, rejection = parse_record(line, source)
            if rejection is not None:
                rejections.append(rejection)
            elif record is not None:
                records.append(record)
        live = [r for r in records if r[TEXT_FIELD].strip()]
        texts = [r[TEXT_FIELD] for r in live]
        pages = [r.get(HTML_FIELD) if isinstance(r.get(HTML_FIELD), str) else None for r in live]
        # raises LLMError/BudgetExceeded: nothing of the batch written
        results = iter(self.source.programs(texts, pages))
        out: list[bytes] = []
        for record in records:
            empty = not record[TEXT_FIELD].strip()
            result = ModelProgram(KEEP, []) if empty else next(results)
            refined = refine_record(record, result, self.source.key)
            if empty:
                refined["refine"]["issues"]["empty_document"] = 1
            out.append(json.dumps(refined, ensure_ascii=False).encode("utf-8") + b"\n")
            self._account(stats, refined["refine"], empty)
        for rejection in rejections:
            stats.rejected += 1
            stats.count(stats.rejected_reasons, rejection["code"])
        data.writelines(out)
        rejected.writelines(json.dumps(r).encode("utf-8") + b"\n" for r in rejections)

    @staticmethod
    def _account(stats: ShardStats, report: dict[str, Any], empty: bool) -> None:
        stats.documents += 1
        stats.lines_in += report["lines_in"]
        stats.lines_removed += report["lines_removed"]
        stats.chars_in += report["chars_in"]
        stats.chars_removed += report["chars_removed"]
        for issue, n in report["issues"].items():
            stats.count(stats.issues, issue, n)
        if empty:
            stats.empty += 1
        elif report["dropped"]:
            stats.dropped += 1
        elif report["chars_removed"]:
            stats.edited += 1
        else:
            stats.unchanged += 1
        if report["issues"].get("malformed_program"):
            stats.failed_closed += 1

    def _resume(self, paths: dict[str, Path]) -> _Checkpoint:
        """The last checkpoint, with both output files cut back to it (drops a half-written batch)."""
        checkpoint = _Checkpoint()
        if paths["progress"].exists():
            checkpoint = _Checkpoint(**json.loads(paths["progress"].read_text())["checkpoint"])
        for key, size in (("data", checkpoint.data_bytes), ("rejected", checkpoint.rejected_bytes)):
            path = paths[key]
            if path.exists() and path.stat().st_size != size:
                with path.open("r+b") as f:
                    f.truncate(size)
        return checkpoint

    @staticmethod
    def _previous_stats(paths: dict[str, Path], name: str, checkpoint: _Checkpoint) -> ShardStats:
        if checkpoint.lines_done and paths["progress"].exists():
            saved = json.loads(paths["progress"].read_text()).get("stats")
            if saved:
                stats = ShardStats(**saved)
                stats.stopped = None
                return stats
        return ShardStats(shard=name)

    @staticmethod
    def _save(paths: dict[str, Path], checkpoint: _Checkpoint, stats: ShardStats) -> None:
        tmp = paths["progress"].with_suffix(".tmp")
        tmp.write_text(json.dumps({"checkpoint": asdict(checkpoint), "stats": asdict(stats)}))
        os.replace(tmp, paths["progress"])  # atomic: a kill leaves the old or the new checkpoint, never half
        paths["stats"].write_text(json.dumps(asdict(stats), indent=2))


def make_source(config: RefineConfig, home: Path, llm: LLMSettings | None = None) -> ProgramSource:
    """The program source a config names (the model is loaded here, once per process); a served model
    gets its key from the entry point's ``llm`` settings (the environment when None)."""
    view = ViewConfig(max_window_chars=config.max_window_chars, max_line_chars=config.max_line_chars)
    if config.source == "keep":
        return KeepAll()
    if config.source == "trafilatura":
        from proda.pipelines.refine.expert_source import ExpertSource

        return ExpertSource(favour=config.trafilatura_favour, view=view)
    if config.source == "classifier":
        from proda.pipelines.refine.classifier import LineClassifier

        assert config.model is not None  # checked by RefineConfig
        return LineClassifier.load(Path(config.model), home, view=view)
    if config.source == "server":
        from proda.pipelines.refine.model import ServerGenerator

        assert config.model is not None and config.base_url is not None  # checked by RefineConfig
        return RefineModel(ServerGenerator(config.model, config.base_url, max_new_tokens=config.max_new_tokens,
                                           settings=llm), view)
    from proda.pipelines.refine.model import TransformersGenerator

    assert config.model is not None
    return RefineModel(TransformersGenerator(config.model, max_new_tokens=config.max_new_tokens,
                                             batch_size=config.batch_size, home=home), view)


def source_key(config: RefineConfig, home: str) -> tuple[object, ...]:
    """The resource key of a program source: every setting that changes which model runs and how."""
    return ("refine.source", config.source, config.model, config.base_url, config.max_new_tokens,
            config.batch_size, config.max_window_chars, config.max_line_chars, config.trafilatura_favour, home)


def run_shard(spec: ShardSpec, env: ShardEnv[ProgressFn]) -> ShardStats:
    """One shard, wherever it runs: the program source (a model, loaded once per process) from ``env``."""
    source = env.resource(source_key(spec.config, spec.home),
                          lambda: make_source(spec.config, Path(spec.home), spec.llm))
    return ShardRunner(source, Path(spec.out_dir), batch_size=spec.config.batch_size).run(
        Path(spec.input), spec.index, spec.count, env.progress)


@dataclass
class RefineReport(ShardReport[ShardStats]):
    """The whole run: per-shard statistics and where they were written."""

    key: str
    out_dir: str

    def total(self) -> dict[str, int]:
        """Counts summed over shards."""
        keys = ("documents", "dropped", "edited", "unchanged", "empty", "rejected", "lines_in", "lines_removed",
                "chars_in", "chars_removed", "failed_closed")
        return {k: sum(getattr(s, k) for s in self.shards) for k in keys}


def run_refine(inputs: Sequence[Path], out_dir: Path, config: RefineConfig, home: Path, *,
               source: ProgramSource | None = None, progress: ProgressFn | None = None,
               on_shard: Callable[[ShardStats], None] | None = None,
               llm: LLMSettings | None = None) -> RefineReport:
    """Refine every shard of every input file into ``out_dir``; returns the per-shard statistics.

    Raises InputError for a missing input file. ``source`` overrides the configured program source
    (local executor only; Ray workers build theirs from the config, once per worker).
    """
    for path in inputs:
        if not path.is_file():
            raise InputError("no such file", source=str(path))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))
    specs = [ShardSpec(str(p), k, config.shards, str(out_dir), config, str(home), llm)
             for p in inputs for k in range(config.shards)]
    report = RefineReport(key=f"{config.source}:{config.model or '-'}", out_dir=str(out_dir))
    key = source_key(config, str(home))
    with ShardEnv(None, progress, {key: source} if source is not None else None) as env:
        run_shards(config.executor, run_shard, specs, report.collect(on_shard), env)
        used = env.used(key)  # the source that ran here (none on Ray: workers make their own)
        if used is not None:
            report.key = cast(ProgramSource, used).key
    return report
