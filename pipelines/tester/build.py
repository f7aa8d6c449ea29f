"""``proda bench build``: multiple-choice items from held-out L3 chains, one shard per discipline.

Per discipline the held-out chains are taken in a seeded order and processed in batches; each batch
costs a fixed number of round trips whatever its size (chain steps, the operators, the proof, the
write), never one per chain or per distractor. An item is assembled whole in memory and written
with all its options in one statement, so nothing partial reaches the graph; a chain that cannot
give a valid item is skipped and counted by reason, with a message naming it.

``BenchConfig.batch_strategy`` says how the batches meet the server. ``overlapped`` (the default) reads
the next batches on worker threads while this one's items are chosen and written, runs NEARMISS beside
INVREL, and takes TRUNC's stops from the chain steps already read (no round trip); ``serial`` runs one
query after another with TRUNC's own query, the earlier path, kept to measure against. Both build the
same items with the same statistics.

With a paraphrase backend (``BenchConfig.paraphrase_backend``) each item's question stem is reworded
before the item is written; options and answer never are. A rewording that drops the start concept
or names an option, the answer or a hidden chain concept keeps the template, counted by reason in
``ShardStats.paraphrase``; ``qa_hash`` is always computed over the question the item ends up with.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from proda.config import LLMSettings
from proda.errors import InputError
from proda.pipelines.shards import ShardEnv, run_shards
from proda.pipelines.tester import distractors
from proda.pipelines.tester.chains import ChainView, implications, read_chains, restatements
from proda.pipelines.tester.config import BenchConfig
from proda.pipelines.tester.model import (
    TEMPLATE_VERSION,
    BenchmarkItemRecord,
    Candidate,
    OptionRecord,
    instance_hash,
    item_id,
)
from proda.pipelines.tester.question import question_text
from proda.pipelines.tester.split import SplitReport, assign_splits
from proda.pipelines.tester.validity import prove, select
from proda.schema.store.base import GraphStore
from proda.schema.vocabulary import Vocabulary, default_vocabulary

if TYPE_CHECKING:
    from proda.pipelines.llm.paraphrase import Paraphraser

EXAMPLES_PER_REASON = 5
# batches an overlapped build reads ahead of the one it writes: with one, the reads (chain steps, then the
# distractor queries, then the proof) were the longer side of the overlap at 100,000 chains
READ_AHEAD = 2


@dataclass
class ShardStats:
    """What one discipline shard did."""

    discipline: str
    held_out_chains: int = 0
    asked: int | None = None
    considered: int = 0
    items: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # chains without an item, by reason
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> messages naming the chain
    rejected_candidates: dict[str, int] = field(default_factory=dict)
    operators: dict[str, int] = field(default_factory=dict)  # distractors per operator
    kinds: dict[str, int] = field(default_factory=dict)  # distractors per NEARMISS kind / operator
    notes: dict[str, int] = field(default_factory=dict)
    shortfall: str | None = None
    paraphrase: dict[str, int] = field(default_factory=dict)  # "paraphrased" / "kept_template: <reason>" -> items
    # per chain origin (extracted / composed): held-out chains, and items written ("unknown": items of a batch
    # the graph accepted only in part, whose chains are not known)
    held_out_by_origin: dict[str, int] = field(default_factory=dict)
    items_by_origin: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def skip(self, reason: str, message: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count
        ex = self.examples.setdefault(reason, [])
        if len(ex) < EXAMPLES_PER_REASON:
            ex.append(message)


@dataclass
class BuildReport:
    """The whole build: the split step and one entry per discipline."""

    benchmark: str
    split: SplitReport
    shards: list[ShardStats] = field(default_factory=list)
    paraphrase_llm: dict[str, Any] | None = None  # LLM totals of the paraphrase (local executor)
    seconds: float = 0.0

    @property
    def items(self) -> int:
        return sum(s.items for s in self.shards)

    def items_by_origin(self) -> Counter[str]:
        """Items written per origin of their chain (extracted / composed), all disciplines."""
        return self.total("items_by_origin")

    def total(self, attr: str) -> Counter[str]:
        out: Counter[str] = Counter()
        for s in self.shards:
            out.update(getattr(s, attr))
        return out


ProgressFn = Callable[[ShardStats], None]


@dataclass
class BatchRead:
    """What one batch of chains read from the graph: skipped chains (reason, message), usable chains, their
    distractor candidates and which of them (and of the answers) the chains' own type sequences reach."""

    considered: int
    skips: list[tuple[str, str]]
    usable: list[ChainView]
    found: dict[str, list[Candidate]]
    reached: dict[str, set[str]]
    notes: Counter[str]


def chain_order(seed: int, chain_id: str) -> str:
    """Sort key of the seeded chain order (a hash, so it does not depend on which other chains exist)."""
    return hashlib.sha256(f"{seed}\x1fchain\x1f{chain_id}".encode()).hexdigest()


class ShardBuilder:
    """Builds one discipline's items into the injected store; knows nothing of where it runs.

    ``paraphraser`` (optional) rewords each question stem; without one the template wording is used.
    """

    def __init__(self, store: GraphStore, config: BenchConfig, vocab: Vocabulary | None = None,
                 paraphraser: Paraphraser | None = None) -> None:
        self.store = store
        self.config = config
        self.vocab = vocab or default_vocabulary()
        self.paraphraser = paraphraser
        self._origin: dict[str, str] = {}  # chain id -> origin, of the discipline being built

    def run(self, discipline: str, progress: ProgressFn | None = None) -> ShardStats:
        """Build the items of ``discipline``; returns its statistics."""
        cfg = self.config
        started = time.perf_counter()
        stats = ShardStats(discipline=discipline, asked=cfg.per_discipline)
        chains = self.store.query("bench_candidate_chains", {"splits": list(cfg.splits), "discipline": discipline})
        stats.held_out_chains = len(chains)
        self._origin = {r["id"]: r.get("origin") or "extracted" for r in chains}
        stats.held_out_by_origin = dict(sorted(Counter(self._origin.values()).items()))
        ids = sorted((r["id"] for r in chains), key=lambda cid: chain_order(cfg.seed, cid))
        if cfg.batch_strategy == "overlapped" and cfg.per_discipline is None:
            self._overlapped(ids, stats, progress)
        else:
            self._serial(ids, stats, progress)
        if cfg.per_discipline is not None and stats.items < cfg.per_discipline:
            stats.shortfall = (f"discipline {discipline!r}: asked for {cfg.per_discipline} items, built "
                               f"{stats.items} from {stats.held_out_chains} {'/'.join(cfg.splits)} chains "
                               f"({sum(stats.skipped.values())} skipped)")
        stats.seconds = time.perf_counter() - started
        return stats

    def _serial(self, ids: Sequence[str], stats: ShardStats, progress: ProgressFn | None) -> None:
        """Batch after batch, each read, chosen and written before the next is read. ``per_discipline``
        needs this order: how many chains the next batch reads depends on the items this one wrote."""
        cfg = self.config
        start = 0
        while start < len(ids):
            want = None if cfg.per_discipline is None else cfg.per_discipline - stats.items
            if want is not None and want <= 0:
                break
            # a few items asked for: read a few chains more than that, not a whole batch
            size = cfg.batch_size if want is None else min(cfg.batch_size, max(2 * want, 100))
            self._finish(self.read_batch(ids[start:start + size]), stats, want)
            start += size
            if progress is not None:
                progress(stats)

    def _overlapped(self, ids: Sequence[str], stats: ShardStats, progress: ProgressFn | None) -> None:
        """Every batch as in :meth:`_serial`, but the reads of the next ``READ_AHEAD`` batches run on worker
        threads (connections of the store's pool) while this batch's items are chosen and written here, and
        each batch's NEARMISS query runs beside its INVREL query: the graph server works while Python does.
        The reads touch no item, OPTION or TESTS edge, so reading ahead of a write sees the same graph, and
        statistics are only counted here, in batch order, so the report is the serial one."""
        size = self.config.batch_size
        batches = [ids[i:i + size] for i in range(0, len(ids), size)]
        with ThreadPoolExecutor(max_workers=READ_AHEAD, thread_name_prefix="bench-read") as readers, \
                ThreadPoolExecutor(max_workers=READ_AHEAD, thread_name_prefix="bench-nearmiss") as beside:
            pending = deque(readers.submit(self.read_batch, b, beside) for b in batches[:READ_AHEAD])
            for k in range(len(batches)):
                read = pending.popleft().result()
                if k + READ_AHEAD < len(batches):
                    pending.append(readers.submit(self.read_batch, batches[k + READ_AHEAD], beside))
                self._finish(read, stats, None)
                if progress is not None:
                    progress(stats)

    def read_batch(self, chain_ids: Sequence[str], beside: ThreadPoolExecutor | None = None) -> BatchRead:
        """Everything a batch reads from the graph: its chains, their candidates and the proof, and then the
        peers of the chains still short of distractors (:meth:`_add_peers`). Touches no statistics, so it
        may run on a worker thread; with ``beside`` the NEARMISS query runs there while INVREL runs here."""
        cfg = self.config
        limit = cfg.candidates_per_row
        views = read_chains(self.store, chain_ids)
        skips: list[tuple[str, str]] = []
        usable: list[ChainView] = []
        for cid in chain_ids:
            v = views.get(cid)
            reason = self._unusable(cid, v)
            if reason is not None:
                skips.append(reason)
            elif v is not None:
                usable.append(v)
        restated = restatements(self.store, usable, self.vocab.restating())
        implied = implications(self.store, usable, self.vocab)
        none: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
        usable = [replace(v, restated=restated.get(v.id, none)[0], restated_start=restated.get(v.id, none)[1],
                          implied=implied.get(v.id, none)[0], near=implied.get(v.id, none)[1]) for v in usable]
        near = beside.submit(distractors.nearmiss, self.store, usable, limit) if beside is not None else None
        notes: Counter[str] = Counter()
        inverted = distractors.invrel(self.store, usable, self.vocab, limit, notes)
        truncated = (distractors.trunc(self.store, usable) if cfg.batch_strategy == "serial"
                     else distractors.trunc_from_steps(usable))
        nearmissed = near.result() if near is not None else distractors.nearmiss(self.store, usable, limit)
        found: dict[str, list[Candidate]] = {c.id: [] for c in usable}
        for by_chain in (inverted, truncated, nearmissed):
            for cid, cands in by_chain.items():
                found[cid].extend(cands)
        reached = prove(self.store, usable, found)
        if cfg.peers:
            self._add_peers(usable, found, reached)
        return BatchRead(considered=len(chain_ids), skips=skips, usable=usable, found=found, reached=reached,
                         notes=notes)

    def _add_peers(self, usable: Sequence[ChainView], found: dict[str, list[Candidate]],
                   reached: dict[str, set[str]]) -> None:
        """Peers, with their proof, for the chains the other candidates leave short of distractors.

        Peers are tried last (:data:`~proda.pipelines.tester.distractors.NEARMISS_ORDER`), so a chain
        with enough valid candidates without them would never use one: asking only for the others saves
        the query where the graph is dense and chooses exactly what asking for every chain would."""
        cfg = self.config
        short = [v for v in usable if v.answer.canonical_id in reached.get(v.id, set())
                 and len(select(v, found[v.id], reached[v.id], cfg.distractors, cfg.seed, Counter()))
                 < cfg.distractors]
        extra = distractors.peers(self.store, short, cfg.candidates_per_row)
        if not extra:
            return
        for cid, cands in extra.items():
            found[cid].extend(cands)
        for cid, ids in prove(self.store, [v for v in short if v.id in extra], extra).items():
            reached.setdefault(cid, set()).update(ids)

    def _finish(self, read: BatchRead, stats: ShardStats, want: int | None) -> None:
        """Choose the distractors of a batch read by :meth:`read_batch`, write its items and count everything."""
        cfg = self.config
        stats.considered += read.considered
        for reason in read.skips:
            stats.skip(*reason)
        usable, found, reached, notes = read.usable, read.found, read.reached, read.notes
        rejected: Counter[str] = Counter()
        records: list[BenchmarkItemRecord] = []
        for v in usable:
            if want is not None and len(records) >= want:
                break
            if v.answer.canonical_id not in reached.get(v.id, set()):
                stats.skip("answer_unreachable", f"chain {v.id}: its relation types no longer lead from "
                                                 f"{v.start.name!r} to {v.answer.name!r}")
                continue
            chosen = select(v, found[v.id], reached[v.id], cfg.distractors, cfg.seed, rejected)
            if len(chosen) < cfg.distractors:
                by_op = Counter(c.operator for c in found[v.id])
                stats.skip("too_few_distractors",
                           f"chain {v.id}: {len(chosen)} valid distractor(s) of {cfg.distractors} needed "
                           f"(candidates INVREL {by_op['INVREL']}, TRUNC {by_op['TRUNC']}, "
                           f"NEARMISS {by_op['NEARMISS']})")
                continue
            records.append(self.reworded(self.item(v, chosen), v, stats))
        written = write_items(self.store, records)
        if written < len(records):
            # an option concept or the chain vanished between reading and writing: those items were refused whole
            refused = len(records) - written
            stats.skip("changed_during_build", f"{refused} item(s) refused by the graph: a chain or option "
                                               "concept was deleted during the build", count=refused)
        stats.items += written
        if written == len(records):
            landed = Counter(self._origin.get(r.chain_id, "extracted") for r in records)
        else:  # which items of a refused batch landed is unknown
            landed = Counter({"unknown": written})
        for origin, n in landed.items():
            if n:
                stats.items_by_origin[origin] = stats.items_by_origin.get(origin, 0) + n
        for rec in records if written == len(records) else []:  # which of a refused batch landed is unknown
            for o in rec.distractors:
                stats.operators[o.operator] = stats.operators.get(o.operator, 0) + 1
                stats.kinds[o.kind] = stats.kinds.get(o.kind, 0) + 1
        for k, n in rejected.items():
            stats.rejected_candidates[k] = stats.rejected_candidates.get(k, 0) + n
        for k, n in notes.items():
            stats.notes[k] = stats.notes.get(k, 0) + n

    def _unusable(self, chain_id: str, v: ChainView | None) -> tuple[str, str] | None:
        if v is None:
            return "chain_missing", f"chain {chain_id}: deleted since it was selected"
        if v.broken is not None:
            return "edges_missing", f"chain {chain_id}: {v.broken} (deleted since extraction)"
        if v.length > self.config.max_steps:
            return "too_long", f"chain {chain_id}: {v.length} steps, more than max_steps={self.config.max_steps}"
        if v.start.canonical_id == v.answer.canonical_id:
            return "answer_is_start", f"chain {chain_id}: it ends where it starts ({v.start.name!r})"
        unknown = sorted({t for t in v.relation_types if t not in self.vocab})
        if unknown:
            return "unknown_relation_type", (f"chain {chain_id}: relation type(s) {unknown} are not in the "
                                             "vocabulary, so the question cannot be worded")
        return None

    def item(self, chain: ChainView, chosen: Sequence[Candidate]) -> BenchmarkItemRecord:
        """The item for ``chain`` with ``chosen`` distractors, options shuffled by (seed, item id)."""
        cfg = self.config
        iid = item_id(cfg.name, chain.id)
        question = question_text(chain.discipline, chain.start.name, chain.relation_types, self.vocab)
        raw: list[dict[str, Any]] = [
            {"text": chain.answer.name, "concept_id": chain.answer.id, "correct": True, "operator": "ANSWER",
             "kind": "answer", "via": list(chain.relation_ids), "detail": f"end of the {chain.length}-step chain"}]
        raw += [{"text": c.concept.name, "concept_id": c.concept.id, "correct": False, "operator": c.operator,
                 "kind": c.kind, "via": list(c.via), "detail": c.detail} for c in chosen]
        random.Random(f"{cfg.seed}\x1f{iid}").shuffle(raw)
        options = [OptionRecord(index=i, **o) for i, o in enumerate(raw)]
        answer_index = next(o.index for o in options if o.correct)
        assert chain.split in ("test", "dev"), chain.split  # bench_candidate_chains selects held-out splits only
        return BenchmarkItemRecord(
            id=iid, benchmark=cfg.name, discipline=chain.discipline, split=chain.split, chain_id=chain.id,
            question=question, choices=[o.text for o in options], answer_index=answer_index,
            answer=chain.answer.name, start_concept_id=chain.start.id, answer_concept_id=chain.answer.id,
            relation_types=list(chain.relation_types), options=options,
            qa_hash=instance_hash(question, chain.answer.name), seed=cfg.seed, template_version=TEMPLATE_VERSION)


    def reworded(self, rec: BenchmarkItemRecord, chain: ChainView, stats: ShardStats) -> BenchmarkItemRecord:
        """``rec`` with its question stem paraphrased when a paraphraser is set and the rewording passes the
        checks (start concept kept; no option, answer alias or hidden chain concept named); else ``rec``."""
        if self.paraphraser is None:
            return rec
        forbid = [(rec.answer, "answer"), *((alias, "answer") for alias in chain.answer.aliases),
                  *((o.text, "option") for o in rec.distractors),
                  *((c.name, "concept") for c in chain.concepts[1:-1])]  # intermediates give TRUNC away
        out = self.paraphraser.reword(rec.question, kind="bench_question", discipline=rec.discipline,
                                      keep=[chain.start.name], forbid=forbid)
        stats.paraphrase[out.outcome] = stats.paraphrase.get(out.outcome, 0) + 1
        if not out.paraphrased:
            return rec
        return rec.model_copy(update={"question": out.text, "template": rec.question,
                                      "paraphrased_by": self.paraphraser.label,
                                      "qa_hash": instance_hash(out.text, rec.answer)})


def item_row(rec: BenchmarkItemRecord) -> dict[str, Any]:
    """The ``bench_upsert_items`` row of a record: node properties, the full record, one map per option."""
    props = {"benchmark": rec.benchmark, "discipline": rec.discipline, "split": rec.split, "chain_id": rec.chain_id,
             "question": rec.question, "choices": rec.choices, "answer_index": rec.answer_index,
             "answer": rec.answer, "qa_hash": rec.qa_hash, "seed": rec.seed,
             "template_version": rec.template_version, "operators": [o.operator for o in rec.options],
             # null removes what an earlier paraphrased build of the same item set
             "paraphrased_by": rec.paraphrased_by, "template": rec.template,
             "record": rec.model_dump_json()}
    options = [{"index": o.index, "concept_id": o.concept_id,
                "props": {"correct": o.correct, "operator": o.operator, "kind": o.kind, "via": o.via,
                          "text": o.text, "detail": o.detail}} for o in rec.options]
    return {"id": rec.id, "chain_id": rec.chain_id, "props": props, "options": options}


def write_items(store: GraphStore, records: Sequence[BenchmarkItemRecord]) -> int:
    """MERGE the items with their chain and option links; returns how many the graph accepted whole."""
    if not records:
        return 0
    rows = store.query("bench_upsert_items", {"rows": [item_row(r) for r in records]})
    return int(rows[0]["written"]) if rows else 0


@dataclass(frozen=True)
class ShardSpec:
    """Everything a shard needs, picklable for Ray workers."""

    discipline: str
    config: BenchConfig
    home: str | None = None  # PRODA_HOME of the LLM response cache, when paraphrasing
    llm: LLMSettings | None = None  # the entry point's LLM servers and keys, when paraphrasing


# resource keys of a shard: locally the caller's objects, when it injected them
PARAPHRASER = "tester.paraphraser"
VOCAB = "tester.vocabulary"


def run_shard(spec: ShardSpec, env: ShardEnv[ProgressFn]) -> ShardStats:
    """One discipline shard, wherever it runs: graph, vocabulary and paraphraser come from ``env`` (on a
    Ray worker the paraphraser is made for the shard, so its budget is per shard)."""
    paraphraser = env.resource(PARAPHRASER, lambda: _paraphraser(spec.config, Path(spec.home) if spec.home else None,
                                                                 spec.llm), reuse=False)
    vocab = env.resource(VOCAB, default_vocabulary)
    return ShardBuilder(env.store, spec.config, vocab, paraphraser).run(spec.discipline, env.progress)


def _paraphraser(config: BenchConfig, home: Path | None, llm: LLMSettings | None) -> Paraphraser | None:
    if config.paraphrase_backend is None:
        return None
    from proda.pipelines.llm.paraphrase import make_paraphraser

    return make_paraphraser(config, home, settings=llm)


def disciplines_with_chains(store: GraphStore, discipline: str | None) -> list[str]:
    """The disciplines to build; raises :class:`InputError` when ``discipline`` has no L3 chain."""
    known = sorted({r["discipline"] for r in store.query("bench_split_counts", {"discipline": None})
                    if r["discipline"]})
    if discipline is None:
        return known
    if discipline not in known:
        raise InputError(f"discipline {discipline!r} has no L3 chains in the graph; disciplines with chains: "
                         f"{', '.join(known) or 'none'}")
    return [discipline]


def build_benchmark(store: GraphStore, config: BenchConfig, *, vocab: Vocabulary | None = None,
                    progress: ProgressFn | None = None, home: Path | None = None,
                    paraphraser: Paraphraser | None = None, llm: LLMSettings | None = None) -> BuildReport:
    """Split unsplit chains, then build every discipline's items; returns the report.

    Raises :class:`InputError` for a discipline without chains, and :class:`~proda.errors.ConfigError`
    when ``config`` names a paraphrase backend that cannot be set up. With the local executor shards run
    here on the injected ``store``; with Ray each shard opens its own connection (``store.spec()``).
    ``paraphraser`` injects a client (tests, services; never closed here); otherwise one is built from
    ``config`` with its response cache under ``home`` (required then) and the entry point's ``llm``
    settings (servers, models, keys; the environment when None).
    """
    started = time.perf_counter()
    disciplines = disciplines_with_chains(store, config.discipline)
    report = BuildReport(benchmark=config.name, split=assign_splits(store, config))
    specs = [ShardSpec(discipline=d, config=config, home=str(home) if home is not None else None, llm=llm)
             for d in disciplines]
    injected: dict[Hashable, object] = {k: v for k, v in ((PARAPHRASER, paraphraser), (VOCAB, vocab))
                                        if v is not None}
    with ShardEnv(store, progress, injected) as env:
        try:
            run_shards(config.executor, run_shard, specs, lambda _spec, s: report.shards.append(s), env)
        finally:
            used = cast("Paraphraser | None", env.used(PARAPHRASER))  # the local run's paraphraser, if any
            if used is not None:
                report.paraphrase_llm = used.usage()
    report.shards.sort(key=lambda s: s.discipline)
    report.seconds = time.perf_counter() - started
    return report
