"""``proda extract``: run an extractor over the chunks that wait for it, one shard per discipline.

Each shard reads its queue (chunks not yet extracted with this extractor key), extracts top-down,
writes the elements in batches, stores quarantined output with its reason, and marks the chunks as
done *after* their elements are written, so a crash or Ctrl-C only repeats idempotent work and a
rerun resumes where the graph says it stopped. A shard writes its statistics and a completion
marker into the run directory. Shards run locally or on Ray (:mod:`proda.pipelines.shards`).

A chunk whose extraction fails (the extractor or the conversion raises) is quarantined with the
exception's type and message and left in the queue, so a rerun tries it again; the shard goes on
with the next chunk. Only a budget stop ends a shard early.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from proda.errors import BudgetExceeded, InvalidModelOutput
from proda.pipelines.extract.config import ExtractConfig
from proda.pipelines.extract.model import ChunkExtraction, ChunkInput
from proda.pipelines.extract.topdown import ConceptResolver, QuarantinedStep, default_resolver, to_elements
from proda.pipelines.shards import ShardEnv, ShardOutcome, ShardReport, run_shards
from proda.schema.models import Chain, Concept, Provenance, Relation
from proda.schema.statements import fold, foldable
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import Element, GraphWriter
from proda.schema.vocabulary import default_vocabulary


class Extractor(Protocol):
    """What the stage needs of an extractor (heuristic or LLM-backed)."""

    name: str
    model: str | None
    prompt_version: str

    def extract(self, chunk: ChunkInput) -> ChunkExtraction: ...


def extractor_key(ex: Extractor) -> str:
    """Identifies what produced an extraction: chunks are re-extracted when this changes."""
    model = f":{ex.model}" if ex.model else ""
    return f"{ex.name}{model}/{ex.prompt_version}"


@dataclass
class ShardStats(ShardOutcome):
    """What one discipline shard did (also written to ``stats/<discipline>.json``)."""

    discipline: str
    chunks: int = 0
    documents: int = 0
    elements: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    failed_chunks: int = 0  # the extractor raised: quarantined by reason, left in the queue for a rerun
    empty_chunks: int = 0
    empty_reasons: dict[str, int] = field(default_factory=dict)  # why chunks gave nothing (ids: skipped/*.jsonl)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cached_calls: int = 0

    def add_elements(self, counts: dict[str, int]) -> None:
        for k, v in counts.items():
            self.elements[k] = self.elements.get(k, 0) + v


@dataclass(frozen=True)
class ShardSpec:
    """Everything a shard needs, picklable for Ray workers."""

    discipline: str
    config: ExtractConfig
    run_dir: str
    home: str


ProgressFn = Callable[[str, ShardStats], None]
ExtractorFactory = Callable[[ExtractConfig, Path], Extractor]


def _reason_kind(reason: str) -> str:
    return reason.split(" '")[0].split(":")[0][:60]


def _quarantine_rows(items: list[QuarantinedStep], discipline: str, key: str) -> list[dict[str, Any]]:
    rows = []
    for q in items:
        payload = q.step.model_dump_json()
        qid = "qtn_" + hashlib.sha256(f"{q.chunk_id}\x1f{key}\x1f{q.reason}\x1f{payload}".encode()).hexdigest()[:20]
        rows.append({"id": qid, "chunk_id": q.chunk_id, "props": {
            "discipline": discipline, "reason": q.reason, "reason_kind": _reason_kind(q.reason),
            "payload": payload, "extractor_key": key}})
    return rows


def latest_statements(elements: list[Element]) -> tuple[list[Element], list[dict[str, str]]]:
    """One element per id, folded from every chunk that stated it as the graph folds them
    (:func:`proda.schema.statements.fold`: the source that sorts highest, a concept's cased name, its
    aliases and mentions accumulated), and the chain-to-chunk links of the statements the kept ones
    do not carry.

    Inside one ``UNWIND`` the database sees every duplicate at once, so a batch folds them itself;
    across batches the upsert queries apply the same rules. A concept keeps every chunk that mentions
    it, a chain every chunk that stated it. The graph then depends neither on the batch size nor on
    where a run was interrupted.
    """
    latest: dict[tuple[str, str], Element] = {}
    chain_chunks: dict[str, list[str]] = {}
    for e in elements:
        key = (e.kind, e.id)
        before = latest.get(key)
        if isinstance(before, Concept | Relation | Chain) and isinstance(e, Concept | Relation | Chain) \
                and foldable(before, e):
            latest[key] = fold(before, e)  # type: ignore[type-var]
        else:
            latest[key] = e
        if isinstance(e, Chain) and e.chunk_id:
            chunks = chain_chunks.setdefault(e.id, [])
            if e.chunk_id not in chunks:
                chunks.append(e.chunk_id)
    kept = list(latest.values())
    links = [{"chain_id": e.id, "chunk_id": c} for e in kept if isinstance(e, Chain)
             for c in chain_chunks.get(e.id, []) if c != e.chunk_id]
    return kept, links


class ShardRunner:
    """Extracts one discipline's queue into the graph. Injected store; knows nothing of where it runs."""

    def __init__(self, store: GraphStore, extractor: Extractor, *, batch_size: int = 100,
                 resolve: ConceptResolver = default_resolver, run_dir: Path | None = None) -> None:
        self.store = store
        self.extractor = extractor
        self.key = extractor_key(extractor)
        self.batch_size = batch_size
        self.resolve = resolve
        self.run_dir = run_dir
        self.writer = GraphWriter(store, batch_size=5000)
        self.vocab = default_vocabulary()
        self.provenance = Provenance(extractor=extractor.name, model=extractor.model,
                                     prompt_version=extractor.prompt_version)

    def run(self, discipline: str, progress: ProgressFn | None = None) -> ShardStats:
        """Extract every pending chunk of ``discipline``; returns its statistics."""
        stats = ShardStats(discipline=discipline)
        started = time.monotonic()
        queue = self.store.query("chunks_to_extract", {"key": self.key, "discipline": discipline})
        elements: list[Element] = []
        quarantined: list[QuarantinedStep] = []
        done: list[str] = []
        skipped: list[dict[str, str]] = []
        docs: set[str] = set()

        def flush() -> None:
            if elements:
                kept, earlier_links = latest_statements(elements)
                self.writer.write(kept)
                if earlier_links:
                    self.store.query("link_chain_chunks", {"rows": earlier_links})
            if quarantined:
                self.store.query("upsert_quarantine", {"rows": _quarantine_rows(quarantined, discipline, self.key)})
            if done:  # only after the chunk's elements are in the graph
                self.store.query("mark_extracted", {"rows": [{"chunk_id": c, "key": self.key} for c in done]})
            if skipped and self.run_dir is not None:
                # appended, not rewritten: a resumed run adds the chunks it did; done ones never repeat
                (self.run_dir / "skipped").mkdir(parents=True, exist_ok=True)
                with (self.run_dir / "skipped" / f"{discipline}.jsonl").open("a") as f:
                    f.writelines(json.dumps(r) + "\n" for r in skipped)
            elements.clear()
            quarantined.clear()
            done.clear()
            skipped.clear()

        try:
            for row in queue:
                chunk = ChunkInput(chunk_id=row["chunk_id"], discipline=row["discipline"], text=row["text"],
                                   title=row.get("title") or "", section=row.get("section") or "")
                whole: list[QuarantinedStep] = []
                try:
                    try:
                        extraction = self.extractor.extract(chunk)
                    except InvalidModelOutput as e:
                        # the whole answer failed validation after one repair and one retry: quarantine it
                        whole.append(_chunk_quarantine(chunk, f"invalid model output: {e}"))
                        extraction = ChunkExtraction()
                    result = to_elements(extraction, chunk, self.provenance, self.vocab, self.resolve)
                except BudgetExceeded:
                    raise
                except Exception as e:  # noqa: BLE001 - one chunk's failure must not end the run
                    # a fault of the extractor on this input (any backend): set the chunk aside with the
                    # reason and leave it in the queue (not marked done), so a fixed extractor or a rerun
                    # after a backend outage picks it up; the same failure again upserts the same row
                    self._failed(chunk, e, quarantined, stats)
                    if len(quarantined) >= self.batch_size:
                        flush()
                    if progress is not None:
                        progress(discipline, stats)
                    continue
                elements.extend(result.elements)
                quarantined.extend(whole + result.quarantined)
                done.append(chunk.chunk_id)
                docs.add(row["document_id"])
                stats.chunks += 1
                stats.documents = len(docs)
                stats.add_elements(result.counts)
                if not result.elements and not whole:
                    stats.empty_chunks += 1
                    why = self._empty_reason(extraction, chunk, result.quarantined)
                    stats.empty_reasons[why] = stats.empty_reasons.get(why, 0) + 1
                    skipped.append({"chunk_id": chunk.chunk_id, "document_id": row["document_id"], "reason": why})
                for q in whole + result.quarantined:
                    stats.quarantined += 1
                    k = _reason_kind(q.reason)
                    stats.quarantine_reasons[k] = stats.quarantine_reasons.get(k, 0) + 1
                self._account(stats)
                if len(done) >= self.batch_size:
                    flush()
                if progress is not None:
                    progress(discipline, stats)
        except BudgetExceeded as e:
            stats.stopped = f"budget: {e}"
        finally:
            flush()
            stats.seconds = time.monotonic() - started
            self._account(stats)
            self._write_stats(stats)
        return stats

    @staticmethod
    def _failed(chunk: ChunkInput, error: Exception, quarantined: list[QuarantinedStep], stats: ShardStats) -> None:
        """Quarantine a chunk whose extraction raised, counted by exception type."""
        q = _chunk_quarantine(chunk, f"extractor error ({type(error).__name__}): {str(error)[:500]}")
        quarantined.append(q)
        stats.chunks += 1
        stats.failed_chunks += 1
        stats.quarantined += 1
        k = _reason_kind(q.reason)
        stats.quarantine_reasons[k] = stats.quarantine_reasons.get(k, 0) + 1

    def _empty_reason(self, extraction: ChunkExtraction, chunk: ChunkInput, quarantined: list[QuarantinedStep]) -> str:
        """Why a chunk yielded no element: counted per shard and listed by id in the run directory."""
        if quarantined:
            return "every step quarantined"
        if self.extractor.name == "heuristic":
            from proda.pipelines.extract.heuristic import coverage_reason

            return coverage_reason(extraction, chunk) or "no pattern matched"
        if self.extractor.name == "dependency":
            from proda.pipelines.extract.dependency import coverage_reason as parse_reason

            return parse_reason(extraction, chunk) or "no relation found"
        return "no chain in the answer" if chunk.text.strip() else "empty text"

    def _account(self, stats: ShardStats) -> None:
        acc = getattr(getattr(self.extractor, "client", None), "accounting", None)
        if acc is None:
            return
        d = acc.to_dict() if hasattr(acc, "to_dict") else dict(acc)
        stats.input_tokens = int(d.get("input_tokens", 0))
        stats.output_tokens = int(d.get("output_tokens", 0))
        stats.cost_usd = float(d.get("cost_usd", 0.0))
        stats.cached_calls = int(d.get("cached", d.get("cache_hits", 0)))

    def _write_stats(self, stats: ShardStats) -> None:
        if self.run_dir is None:
            return
        (self.run_dir / "stats").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "stats" / f"{stats.discipline}.json").write_text(json.dumps(asdict(stats), indent=2))
        marker = self.run_dir / "completions" / f"{stats.discipline}.done"
        if stats.stopped is None:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps({"key": self.key, "chunks": stats.chunks, "at": time.time()}))
        else:
            marker.unlink(missing_ok=True)


def _chunk_quarantine(chunk: ChunkInput, reason: str) -> QuarantinedStep:
    from proda.pipelines.extract.model import ExtractedStep

    placeholder = ExtractedStep(subject="(whole answer)", relation="(invalid)", object="(whole answer)",
                                evidence=chunk.text[:200] or "(empty)")
    return QuarantinedStep(chunk.chunk_id, reason, placeholder)


def make_extractor(config: ExtractConfig, home: Path) -> Extractor:
    """The extractor a config asks for (LLM backends go through the shared LLM plumbing)."""
    if config.backend == "heuristic":
        from proda.pipelines.extract.heuristic import HeuristicExtractor

        return HeuristicExtractor()
    if config.backend == "dependency":
        from proda.pipelines.extract.dependency import DependencyExtractor

        return DependencyExtractor()
    from proda.pipelines.extract.llm_extractor import llm_extractor

    return llm_extractor(config, home)


EXTRACTOR = "extract.extractor"  # resource key: the run's extractor (locally the caller's)


def run_shard(spec: ShardSpec, env: ShardEnv[ProgressFn]) -> ShardStats:
    """One discipline shard, wherever it runs: the extractor and graph come from ``env``."""
    from proda.pipelines.extract.resolve import AliasTable

    # per shard on a worker: an LLM extractor's budget and token counts are per shard there
    extractor = env.resource(EXTRACTOR, lambda: make_extractor(spec.config, Path(spec.home)), reuse=False)
    aliases = AliasTable.load(env.store, spec.discipline)
    return ShardRunner(env.store, extractor, batch_size=spec.config.batch_size, resolve=aliases.resolve,
                       run_dir=Path(spec.run_dir)).run(spec.discipline, env.progress)


@dataclass
class ExtractReport(ShardReport[ShardStats]):
    """The whole run: per-shard statistics and where they were written."""

    key: str
    run_dir: str


def pending_disciplines(store: GraphStore, key: str, discipline: str | None) -> list[dict[str, Any]]:
    """Rows {discipline, chunks, pending, documents} of the extraction queue."""
    return store.query("extraction_queue", {"key": key, "discipline": discipline})


def run_extraction(store: GraphStore, config: ExtractConfig, home: Path, *,
                   progress: ProgressFn | None = None,
                   on_shard: Callable[[ShardStats], None] | None = None,
                   extractor: Extractor | None = None) -> ExtractReport:
    """Run every discipline shard with pending chunks; returns the per-shard statistics.

    With the local executor shards run here on the injected ``store`` and report per-chunk
    ``progress``; with Ray each shard is a task that opens its own connection (``store.spec()``)
    and reports when it finishes (``on_shard``). ``extractor`` injects one (tests, services; local
    executor only: Ray workers make theirs from ``config``). Raises :class:`~proda.errors.ConfigError`
    for an unknown executor.
    """
    extractor = extractor or make_extractor(config, home)
    key = extractor_key(extractor)
    run_dir = home / "runs" / "extract" / (config.run_name or key.replace("/", "__").replace(":", "_"))
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))
    queue = [r for r in pending_disciplines(store, key, config.discipline) if r["pending"]]
    report = ExtractReport(key=key, run_dir=str(run_dir))
    specs = [ShardSpec(discipline=r["discipline"], config=config, run_dir=str(run_dir), home=str(home))
             for r in queue]
    env = ShardEnv(store, progress, resources={EXTRACTOR: extractor})
    run_shards(config.executor, run_shard, specs, report.collect(on_shard), env)
    return report


def shard_counter(stats: list[ShardStats]) -> Counter[str]:
    """Element totals over shards."""
    total: Counter[str] = Counter()
    for s in stats:
        total.update(s.elements)
    return total
