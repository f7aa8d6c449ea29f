"""The ingest stage: normalise, hash and chunk documents, and store Document and Chunk nodes.

Re-ingesting is cheap and safe. A document whose normalised text has the stored content hash is
skipped with no write at all. A changed document gets its new chunks written, then what was
extracted from its outdated chunks is marked ``stale = true`` (catalog query
``mark_stale_from_chunks``) and those chunks are deleted (``delete_chunks``). The document's
content hash is written *last*, as the commit mark: a run killed half-way leaves the old (or, for a
new document, an empty) hash behind, so the next run sees the document as changed and finishes the
job instead of skipping it.

Chunk ids derive from (document, ordinal, chunk text), so a chunk whose text and position did not
change keeps its id, and what was extracted from it stays fresh.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from proda.errors import GraphError
from proda.pipelines.ingest.chunking import chunk_text
from proda.pipelines.ingest.normalise import normalise_text
from proda.pipelines.ingest.readers import Item, RawDocument, Rejected, read_any
from proda.schema.ids import content_hash
from proda.schema.models import Chunk, Document
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import GraphWriter

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
"""Called after each batch with (items seen, chunks written so far)."""


@dataclass
class IngestReport:
    """What one ingest run did. ``seen == new + unchanged + changed + len(rejected)``."""

    seen: int = 0
    new: int = 0
    unchanged: int = 0
    changed: int = 0
    chunks_written: int = 0
    chunks_deleted: int = 0
    stale: Counter[str] = field(default_factory=Counter)  # element kind -> elements marked stale
    rejected: list[Rejected] = field(default_factory=list)
    by_reason: Counter[str] = field(default_factory=Counter)  # rejection code -> count

    @property
    def ok(self) -> bool:
        """True when no input was rejected."""
        return not self.rejected

    def reject(self, item: Rejected) -> None:
        self.rejected.append(item)
        self.by_reason[item.code] += 1
        log.warning("rejected %s", item)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        text = (f"{self.seen} seen: {self.new} new, {self.changed} changed, {self.unchanged} unchanged, "
                f"{len(self.rejected)} rejected; {self.chunks_written} chunks written, "
                f"{self.chunks_deleted} deleted")
        if self.stale:
            text += "; stale: " + ", ".join(f"{n} {kind}s" for kind, n in sorted(self.stale.items()))
        return text


@dataclass(frozen=True)
class _Prepared:
    document: Document
    text: str  # normalised
    origin: str


class IngestStage:
    """Writes documents and their chunks to ``store`` in batches of ``batch_size`` documents."""

    def __init__(self, store: GraphStore, *, max_tokens: int = 400, min_tokens: int = 40,
                 batch_size: int = 100) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        chunk_text("", max_tokens, min_tokens)  # validates the budget now rather than mid-run
        self.store = store
        self.max_tokens = max_tokens
        self.min_tokens = min_tokens
        self.batch_size = batch_size
        # rows carry chunk text (a few kB each): keep each UNWIND payload to a few MB
        self.writer = GraphWriter(store, batch_size=500)

    def run(self, items: Iterable[Item], progress: ProgressFn | None = None) -> IngestReport:
        """Ingest ``items`` (from the readers); returns the report.

        Rejected items and documents that are empty after normalisation or repeat a source id seen
        earlier in this run are counted in the report and skipped; the run goes on. Raises
        :class:`~proda.errors.GraphError` (unavailable, timeout, rejected query) from the store;
        batches written before the error stay written and a rerun completes the rest.
        """
        report = IngestReport()
        origins: dict[str, str] = {}  # document id -> where it was first read, to name duplicates
        batch: list[_Prepared] = []
        for item in items:
            report.seen += 1
            if isinstance(item, Rejected):
                report.reject(item)
                continue
            prepared = self._prepare(item)
            if isinstance(prepared, Rejected):
                report.reject(prepared)
                continue
            first = origins.get(prepared.document.id)
            if first is not None:  # the same id twice in one run: the second would overwrite the first
                report.reject(Rejected(item.source_id, f"duplicate source id: already read from {first}",
                                       "duplicate_id", prepared.origin))
                continue
            origins[prepared.document.id] = prepared.origin
            batch.append(prepared)
            if len(batch) >= self.batch_size:
                self._flush(batch, report)
                batch.clear()
                if progress is not None:
                    progress(report.seen, report.chunks_written)
        if batch:
            self._flush(batch, report)
        if progress is not None:
            progress(report.seen, report.chunks_written)
        log.info("ingest: %s", report.summary())
        return report

    def _prepare(self, raw: RawDocument) -> _Prepared | Rejected:
        text = normalise_text(raw.text)
        if not text:
            return Rejected(raw.source_id, "empty after normalisation (only whitespace, control or invisible "
                                           "characters)", "empty", raw.origin)
        doc = Document(source_id=raw.source_id, discipline=raw.discipline, title=raw.title, book=raw.book,
                       source=raw.source, license=raw.license, content_hash=content_hash(text))
        return _Prepared(doc, text, raw.origin or raw.source_id)

    def chunks(self, document: Document, text: str) -> list[Chunk]:
        """The chunks of a document's normalised ``text``, as graph elements."""
        return [
            Chunk(document_id=document.id, ordinal=span.ordinal, discipline=document.discipline, text=span.text,
                  section=span.section, n_tokens=span.n_tokens)
            for span in chunk_text(text, self.max_tokens, self.min_tokens)
        ]

    def _flush(self, batch: Sequence[_Prepared], report: IngestReport) -> None:
        stored = {r["id"]: r["content_hash"] or ""
                  for r in self.store.query("document_hashes", {"ids": [p.document.id for p in batch]})}
        todo: list[tuple[_Prepared, str | None]] = []
        for p in batch:
            old = stored.get(p.document.id)
            if old == p.document.content_hash:
                report.unchanged += 1
                continue
            if old is None:
                report.new += 1
            else:
                report.changed += 1
            todo.append((p, old))
        if not todo:
            return  # nothing changed: not a single write
        chunks = [c for p, _ in todo for c in self.chunks(p.document, p.text)]
        # 1. documents under their previous hash (so an interruption is redone), and the new chunks
        pending = [p.document.model_copy(update={"content_hash": old or ""}) for p, old in todo]
        result = self.writer.write([*pending, *chunks])
        if result.unresolved:
            eid, why = next(iter(result.unresolved.items()))
            raise GraphError(f"ingest could not write {len(result.unresolved)} element(s), e.g. {eid}: {why}")
        report.chunks_written += result.written["chunk"]
        # 2. outdated chunks of changed documents: mark what came from them stale, then delete them
        changed = [p.document.id for p, old in todo if old is not None]
        if changed:
            current = {c.id for c in chunks}
            outdated = [{"document_id": r["document_id"], "chunk_id": r["chunk_id"]}
                        for r in self.store.query("document_chunks", {"ids": changed})
                        if r["chunk_id"] not in current]
            if outdated:
                marked = self.store.query("mark_stale_from_chunks", {"chunk_ids": [r["chunk_id"] for r in outdated]})
                for row in marked:
                    if row["marked"]:
                        report.stale[row["element"]] += int(row["marked"])
                deleted = self.store.query("delete_chunks", {"rows": outdated})
                report.chunks_deleted += int(deleted[0]["deleted"]) if deleted else 0
        # 3. commit: the new content hash marks each document as done
        self.writer.write([p.document for p, _ in todo])


def ingest_paths(store: GraphStore, paths: Iterable[Path | str], *, discipline: str | None = None,
                 max_tokens: int = 400, progress: ProgressFn | None = None) -> IngestReport:
    """Read ``paths`` (JSONL, Markdown/text, PDF files or folders) and ingest them into ``store``.

    Returns the :class:`IngestReport`; see :func:`~proda.pipelines.ingest.readers.read_any` and
    :meth:`IngestStage.run` for what is rejected and what raises.
    """
    return IngestStage(store, max_tokens=max_tokens, min_tokens=min(40, max_tokens // 4)).run(
        read_any(paths, discipline), progress)
