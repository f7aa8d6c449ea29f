"""``proda load``: write already-extracted knowledge records (JSONL, one element per line) to the graph.

A line is one :data:`~proda.schema.models.GraphRecord` (``kind`` = document, chunk, concept, relation
or chain). Records are validated, batched and MERGEd by deterministic id, so loading twice is a
no-op and a killed load is completed by loading again. A checkpoint under ``$PRODA_HOME/runs/load``
lets a rerun skip lines that were already committed. References to elements later in the file are
retried at the end; what is still unresolved then is an error naming the line.
"""

from __future__ import annotations

import hashlib
import json
from codecs import BOM_UTF8
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from proda.errors import BulkRefused, IdCollision, InputError, PreconditionFailed
from proda.schema.models import GraphRecord, Relation
from proda.schema.store.base import GraphStore
from proda.schema.store.bulk import BulkGraph, gc_paused
from proda.schema.store.writer import Element, GraphWriter, WriteResult
from proda.schema.vocabulary import Vocabulary, default_vocabulary

_RECORD: TypeAdapter[Any] = TypeAdapter(GraphRecord)
ProgressFn = Callable[[int, int], None]  # (lines read, bytes read)
PhaseFn = Callable[[str], None]  # what the load does now, once the file is read (a sentence)


@dataclass
class LoadReport:
    """The outcome of one load."""

    path: str
    lines: int = 0
    skipped_resumed: int = 0
    written: dict[str, int] = field(default_factory=dict)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    unresolved: list[tuple[int, str]] = field(default_factory=list)
    unlinked_mentions: int = 0
    method: str = "upsert"  # "bulk" when the graph was created in one pass (see Loader.load)
    bulk_skipped: str | None = None  # why a bulk-eligible load went through the upsert path

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.unresolved


def _format_validation(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:3]:
        loc = ".".join(str(x) for x in err["loc"]) or "record"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def parse_line(text: str | bytes, vocab: Vocabulary) -> Element:
    """Parse and validate one JSONL line (text, or UTF-8 bytes as read); raises ValueError with a
    human-readable reason (:class:`UnicodeDecodeError` for bytes that are not UTF-8)."""
    try:
        # one pass in pydantic's own JSON parser (no intermediate dict): a third faster than json.loads
        # + validate_python on a large load; a line it rejects is parsed again below for the message
        record: Element = _RECORD.validate_json(text)
    except ValidationError:
        record = _parse_line_explained(text)
    if isinstance(record, Relation) and record.type not in vocab:
        raise ValueError(f"unknown relation type {record.type!r}; declared: {', '.join(sorted(vocab))}")
    return record


def _parse_line_explained(text: str | bytes) -> Element:
    """The slow path of :func:`parse_line`: the same validation, step by step, to name what is wrong."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # bytes pydantic refused may not be UTF-8: say so before anything else
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"malformed JSON: {e.msg} at column {e.colno}") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object with a 'kind' field")
    try:
        record: Element = _RECORD.validate_python(data)
    except ValidationError as e:
        raise ValueError(f"invalid {data.get('kind', 'record')}: {_format_validation(e)}") from None
    return record


@dataclass
class ReadCount:
    """How far a pass has read: elements and bytes over all its files so far, lines of the current one
    (so one progress bar can span several files)."""

    elements: int = 0
    bytes: int = 0
    lines: int = 0


def file_elements(path: Path, vocab: Vocabulary, bad: Callable[[int, str], None], read: ReadCount | None = None,
                  progress: ProgressFn | None = None, *, start_after: int = 0) -> Iterator[tuple[int, Element]]:
    """The elements of a JSONL file with their line numbers, in order: every load and export reads lines
    this way. A bad line goes to ``bad(line, reason)``, which raises to stop or returns to go on; blank
    lines and a byte-order mark opening the file are skipped, and so are the lines up to
    ``start_after`` (a resumed load), unparsed. ``read``, if given, is added to; ``progress`` hears
    (line, bytes read) every 1,000 lines and at the end."""
    read = read if read is not None else ReadCount()
    read.lines = 0
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            read.bytes += len(raw)
            read.lines = lineno
            if lineno == 1:
                raw = raw.removeprefix(BOM_UTF8)  # an editor's byte-order mark: JSON lets a reader ignore it
            if lineno <= start_after or not raw or raw.isspace():  # blank: empty only where a mark was all
                continue
            try:
                element = parse_line(raw, vocab)
            except ValueError as e:  # UnicodeDecodeError included
                bad(lineno, f"not valid UTF-8 at byte {e.start}" if isinstance(e, UnicodeDecodeError) else str(e))
            else:
                read.elements += 1
                yield lineno, element
            if progress is not None and lineno % 1000 == 0:
                progress(lineno, read.bytes)
    if progress is not None:
        progress(read.lines, read.bytes)


@dataclass
class _Held:
    """A file of a several-file load whose forward references are retried once the later files are in."""

    path: Path
    report: LoadReport
    checkpoint: _Checkpoint
    deferred: dict[str, tuple[int, Element]]


def _raise_unresolved(path: Path, report: LoadReport) -> None:
    if report.unresolved:
        ln, why = report.unresolved[0]
        more = f" (and {len(report.unresolved) - 1} more)" if len(report.unresolved) > 1 else ""
        raise InputError(f"unresolved reference: {why}{more}", source=str(path), line=ln)


class _Checkpoint:
    """The last committed line of a file loaded into one graph, with a witness element.

    Keyed by the file and the target graph. On resume the witness (the last element written) must
    still be in the graph, so a checkpoint never skips lines of a graph that was reset or replaced.
    A load that completes removes its checkpoint: the next load of the file reads it again (and
    MERGE makes that a no-op).
    """

    def __init__(self, home: Path, path: Path, store: GraphStore) -> None:
        st = path.stat()
        spec = store.spec()
        target = f"{spec.backend}|{spec.url or ''}|{spec.graph_name}"
        key = hashlib.sha256(f"{path.resolve()}\x1f{target}".encode()).hexdigest()[:16]
        self.store = store
        self.file = home / "runs" / "load" / f"{key}.json"
        self.identity = {"path": str(path.resolve()), "graph": target, "size": st.st_size,
                         "mtime_ns": st.st_mtime_ns}
        self.witness: str | None = None

    def committed(self) -> int:
        try:
            data = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return 0
        if not all(data.get(k) == v for k, v in self.identity.items()):
            return 0
        witness = data.get("witness")
        if witness and not self.store.query("nodes_by_id", {"ids": [witness]}):
            return 0  # the graph no longer holds what was committed (reset, or another data dir)
        self.witness = witness
        return int(data.get("committed_line", 0))

    def save(self, line: int) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps({**self.identity, "committed_line": line, "witness": self.witness}))
        tmp.replace(self.file)

    def clear(self) -> None:
        self.file.unlink(missing_ok=True)


class Loader:
    """Streams a JSONL file into the graph in batches."""

    def __init__(self, store: GraphStore, *, home: Path, batch_size: int = 5000,
                 vocabulary: Vocabulary | None = None, skip_invalid: bool = False) -> None:
        self.writer = GraphWriter(store, batch_size)
        self.home = home
        self.batch_size = batch_size
        self.vocab = vocabulary or default_vocabulary()
        self.skip_invalid = skip_invalid
        self._reason: dict[str, str] = {}  # element id -> why the graph skipped it
        self._pending_links: list[tuple[str, list[dict[str, Any]]]] = []

    def load(self, path: Path, *, restart: bool = False, progress: ProgressFn | None = None,
             bulk: bool | None = None, phase: PhaseFn | None = None) -> LoadReport:
        """Load ``path``; returns a report. Raises :class:`InputError` (naming file and line) on the
        first bad line unless ``skip_invalid``, and when references stay unresolved at the end.
        Everything before the failing line is written first, so nothing valid is lost.

        ``bulk``: ``None`` (default) creates an empty graph in one bulk pass when the backend can
        (FalkorDB's GRAPH.BULK) and the file is self-contained, else upserts; ``False`` always
        upserts; ``True`` raises :class:`PreconditionFailed` when the backend or a non-empty graph
        rules bulk out. A file that needs row-by-row handling (an id twice, a reference outside the
        file, a bad line) goes through the upsert path either way, which reports it by line; the
        report's ``bulk_skipped`` says why. Both paths leave the same nodes, edges and properties."""
        return self.load_all([path], restart=restart, progress=progress, bulk=bulk, phase=phase)[0]

    def load_all(self, paths: Sequence[Path], *, restart: bool = False, progress: ProgressFn | None = None,
                 bulk: bool | None = None, phase: PhaseFn | None = None) -> list[LoadReport]:
        """Load ``paths`` in order; one report per file (see :meth:`load`). Into an empty graph the files
        go in one bulk pass together, so references between them resolve and a graph exported in parts
        (a file per discipline) is created at bulk speed; when they cannot (an id in two files, a bad
        line), every file goes through the upsert path in turn, and each report's ``bulk_skipped`` says
        why. ``progress`` counts lines in the current file and bytes over all files so far. The
        mentions of unknown chunks of a bulk pass are counted over all its files, on the last report."""
        for path in paths:
            if not path.is_file():
                raise InputError("no such file", source=str(path))
        skipped: str | None = None
        if bulk is not False:
            skipped, adding = self._bulk_blocker()
            if skipped is None:
                done = self._load_bulk(paths, progress, phase, adding=adding)
                if not isinstance(done, str):
                    return done
                skipped = done
            elif bulk:
                raise PreconditionFailed(f"cannot bulk load {', '.join(map(str, paths))}: {skipped}")
        reports: list[LoadReport] = []
        read = ReadCount()  # over all the files, so that one progress bar can span them
        held: list[_Held] = []  # references a later file of this load may resolve
        for i, path in enumerate(paths):
            report = self._load_upsert(path, restart=restart, progress=progress, read=read,
                                       hold=held if i < len(paths) - 1 else None)
            report.bulk_skipped = skipped
            reports.append(report)
        for h in held:  # every file is in: what an earlier one referred to forward may be there now
            self._retry(h.path, h.report, h.deferred)
            if not h.report.unresolved and not h.report.rejected:
                h.checkpoint.clear()
        for h in held:
            _raise_unresolved(h.path, h.report)
        return reports

    def _bulk_blocker(self) -> tuple[str | None, bool]:
        """Why this load cannot go in one bulk pass (``None`` when it can), and whether that pass adds to a
        graph that holds nodes already rather than creating it."""
        store = self.writer.store
        if not store.supports_bulk:
            return f"the {store.backend} backend has no online bulk load", False
        if store.is_empty():
            return None, False
        if not store.supports_bulk_add:
            return "the graph is not empty", False
        return None, True

    def _load_bulk(self, paths: Sequence[Path], progress: ProgressFn | None,
                   phase: PhaseFn | None, *, adding: bool = False) -> list[LoadReport] | str:
        """Create the graph from the files in one pass, its nodes sent while the files are still read, or,
        ``adding``, add them in one pass to a graph that holds nodes (every element new, nothing referred
        to outside the files: a discipline of its own); returns a report per file, or why the files must go
        through the upsert path (which then reports them line by line). A refused first load left nothing
        in the graph; a refused addition left what it added, which is what the upsert path writes too."""
        reports = [LoadReport(path=str(path), method="bulk") for path in paths]
        graph = BulkGraph(streamed=True, outside_links=not adding)
        read = ReadCount()

        def elements() -> Iterator[Element]:
            for path, report in zip(paths, reports, strict=True):
                yield from self._bulk_elements(path, report, read, progress, named=len(paths) > 1)
            if phase is not None:  # the nodes went as they were read; the edges follow now
                phase(f"{'files' if len(paths) > 1 else 'file'} read ({read.elements:,} elements); "
                      "creating the edges between them")

        if phase is not None:
            phase(f"{'adding to' if adding else 'creating'} the graph in one pass while the "
                  f"{'files are' if len(paths) > 1 else 'file is'} read")
        try:
            with gc_paused():
                if adding:
                    self.writer.store.bulk_add(graph, feed=elements())
                else:
                    self.writer.store.bulk_create(graph, feed=elements())
        except BulkRefused as e:
            if phase is not None:
                phase(f"loading row by row: {e.reason}")
            return e.reason
        reports[-1].unlinked_mentions = graph.unlinked_mentions
        return reports

    def _bulk_elements(self, path: Path, report: LoadReport, read: ReadCount, progress: ProgressFn | None,
                       *, named: bool) -> Iterator[Element]:
        """The elements of one file of a bulk pass, counted into its report; a bad line raises
        :class:`BulkRefused` unless ``skip_invalid``."""
        written = report.written

        def bad(lineno: int, reason: str) -> None:
            if not self.skip_invalid:
                raise BulkRefused(f"{f'{path}, line' if named else 'line'} {lineno} is invalid")
            report.rejected.append((lineno, reason))

        for _, element in file_elements(path, self.vocab, bad, read, progress):
            written[element.kind] = written.get(element.kind, 0) + 1
            yield element
        report.lines = read.lines

    def _load_upsert(self, path: Path, *, restart: bool, progress: ProgressFn | None, read: ReadCount,
                     hold: list[_Held] | None = None) -> LoadReport:
        """Upsert one file, counting into ``read``. ``hold``: more files of the same load follow, so
        references still unresolved at the end of this one are kept there (and the provenance links to
        retry on the loader) instead of raising; the last file retries the links, :meth:`load_all` the
        references."""
        report = LoadReport(path=str(path))
        checkpoint = _Checkpoint(self.home, path, self.writer.store)
        if restart:
            checkpoint.clear()
        resume_after = checkpoint.committed()
        buffer: list[tuple[int, Element]] = []
        deferred: dict[str, tuple[int, Element]] = {}

        def flush(upto_line: int) -> None:
            if buffer:
                self._write(path, buffer, deferred, report)
                checkpoint.witness = next((e.id for _, e in reversed(buffer) if e.id not in deferred),
                                          checkpoint.witness)
                buffer.clear()
            first_pending = min((ln for ln, _ in deferred.values()), default=upto_line + 1)
            checkpoint.save(min(upto_line, first_pending - 1))

        def bad(lineno: int, reason: str) -> None:
            if not self.skip_invalid:
                flush(lineno - 1)  # everything before the bad line is written: nothing valid is lost
                raise InputError(reason, source=str(path), line=lineno)
            report.rejected.append((lineno, reason))

        for lineno, record in file_elements(path, self.vocab, bad, read, progress, start_after=resume_after):
            buffer.append((lineno, record))
            if len(buffer) >= self.batch_size:
                flush(lineno)
        report.lines = read.lines
        report.skipped_resumed = min(resume_after, report.lines)
        flush(report.lines)
        if deferred:  # forward references: everything else is in the graph now
            self._retry(path, report, deferred)
            flush(report.lines)
        if hold is not None:
            if report.unresolved:
                hold.append(_Held(path, report, checkpoint, deferred))
                return report
        else:  # provenance links to chunks that came later in the file (or a later file of the load)
            report.unlinked_mentions = self.writer.retry_links(self._pending_links)
            self._pending_links.clear()
        if not report.unresolved and not report.rejected:
            checkpoint.clear()
        _raise_unresolved(path, report)
        return report

    def _retry(self, path: Path, report: LoadReport, deferred: dict[str, tuple[int, Element]]) -> None:
        """Write the elements whose references were missing again; those still missing are the report's
        ``unresolved`` (and stay in ``deferred``)."""
        retry = list(deferred.values())
        deferred.clear()
        report.unresolved.clear()
        self._write(path, retry, deferred, report)
        for ln, el in sorted(deferred.values(), key=lambda t: t[0]):
            why = self._reason.get(el.id, "unresolved")
            report.unresolved.append((ln, f"{el.kind} {el.id}: {why}"))

    def _write(self, path: Path, batch: list[tuple[int, Element]], deferred: dict[str, tuple[int, Element]],
               report: LoadReport) -> None:
        line_of = {e.id: ln for ln, e in batch}
        by_id = {e.id: e for _, e in batch}
        seen: dict[str, str] = {}
        for ln, e in batch:  # two different records with one id inside this batch
            fp = f"{e.kind}:{e.fingerprint}"
            if seen.setdefault(e.id, fp) != fp:
                raise IdCollision(f"{e.kind} id {e.id!r} is used by a different record earlier in the file",
                                  source=str(path), line=ln)
        try:
            result: WriteResult = self.writer.write(e for _, e in batch)
        except IdCollision as err:
            bad = next((i for i in line_of if repr(i) in str(err)), None)
            raise IdCollision(err.reason, source=str(path), line=line_of.get(bad) if bad else None) from err
        for kind, n in result.written.items():
            report.written[kind] = report.written.get(kind, 0) + n
        self._pending_links.extend(result.pending_links)
        for eid, reason in result.unresolved.items():
            self._reason[eid] = reason
            deferred[eid] = (line_of[eid], by_id[eid])


def load_files(store: GraphStore, paths: Sequence[Path], *, home: Path, batch_size: int = 5000,
               restart: bool = False, skip_invalid: bool = False, progress: ProgressFn | None = None,
               bulk: bool | None = None, phase: PhaseFn | None = None) -> list[LoadReport]:
    """Convenience wrapper: load JSONL files into ``store``, one bulk pass for all where it can; see
    :meth:`Loader.load_all`."""
    return Loader(store, home=home, batch_size=batch_size, skip_invalid=skip_invalid).load_all(
        paths, restart=restart, progress=progress, bulk=bulk, phase=phase)


def load_file(store: GraphStore, path: Path, *, home: Path, batch_size: int = 5000, restart: bool = False,
              skip_invalid: bool = False, progress: ProgressFn | None = None,
              bulk: bool | None = None, phase: PhaseFn | None = None) -> LoadReport:
    """Convenience wrapper: load one JSONL file into ``store``; see :meth:`Loader.load`."""
    return load_files(store, [path], home=home, batch_size=batch_size, restart=restart, skip_invalid=skip_invalid,
                      progress=progress, bulk=bulk, phase=phase)[0]
