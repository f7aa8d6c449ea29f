"""Diagnosis by measurement: is a failed item a **concept gap** or a **reasoning deficit**?

Our operational definition (docs/method.md, Debugger): probe each hop of the failed item's chain
with a single-hop item (:mod:`~proda.pipelines.debug.probes`) and let the *same* model answer it
with the evaluation's own log-likelihood scorer. A failed probe is a concept gap on that hop's
relation and its two concepts; a model that passes every hop and still fails the chain has a
reasoning deficit (it knows the steps but does not compose them).

Each diagnosis is stored whole, with every probe and the model's answer to it::

    (:Diagnosis {id, run, item, discipline, kind, probes, failed_probes, weak_relations, weak_types, record})
    (:Diagnosis)-[:DIAGNOSES]->(:BenchmarkItem)    the failed item
    (:Diagnosis)-[:FROM_RUN]->(:EvalRun)           the run that failed it
    (:Diagnosis)-[:WEAK {role, relation_ids}]->(:Concept)
        role failed_hop: a concept of a failed hop (concept gap)
        role on_chain:   a concept of the chain the model could not compose (reasoning deficit)

The id derives from (run, item, probe version), so a rerun MERGEs; stored diagnoses are reused
unless ``rediagnose`` is set, so an interrupted diagnosis resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proda.errors import InputError, NotFound
from proda.pipelines.debug.config import PatchConfig
from proda.pipelines.debug.probes import PROBE_VERSION, Probe, build_probes, hops_of, read_pool
from proda.pipelines.tester.chains import ChainView, read_chains
from proda.pipelines.tester.model import BenchmarkItemRecord
from proda.schema.store.base import GraphStore, Row
from proda.schema.vocabulary import Vocabulary, default_vocabulary
from proda.training.scoring import OptionScores, score_items

Kind = Literal["concept_gap", "reasoning_deficit"]
KINDS: tuple[Kind, ...] = ("concept_gap", "reasoning_deficit")
WRITE_BATCH = 100  # diagnoses per write: an interrupted run loses at most this much probing
EXAMPLES_PER_REASON = 5
MAX_DISCIPLINES = 10_000  # more than any graph holds: per-discipline queries return every discipline


class Scorer(Protocol):
    """What diagnosis needs of a model: log-likelihood scores of options (``LoglikelihoodScorer``)."""

    def score(self, question: str, choices: Sequence[str]) -> OptionScores: ...


ScorerFactory = Callable[[], Scorer]
"""Builds the scorer on first need: a shard whose failures are all diagnosed loads no model."""
ProgressFn = Callable[[str, int, int], None]
"""Called with (discipline, failed items diagnosed so far, failed items in all)."""


class DiagnosisRecord(BaseModel):
    """A diagnosis as stored on its node (``record``): the probes, their answers and the verdict."""

    model_config = ConfigDict(extra="forbid")

    id: str
    run_id: str
    item_id: str
    benchmark: str
    discipline: str
    chain_id: str
    kind: Kind
    chosen: int | None = Field(description="the option the model chose on the item (None: unparseable)")
    chosen_operator: str | None = Field(description="the operator of the distractor it chose, if any")
    relation_types: list[str]
    chain_relations: list[str]
    chain_concepts: list[str]
    probes: list[Probe]
    unprobed: dict[str, str] = Field(default_factory=dict, description="hop position -> why it was not probed")
    weak_relations: list[str]
    weak_types: list[str]
    weak_concepts: list[str]
    probe_version: str = PROBE_VERSION
    seed: int
    distractors: int

    @property
    def failed_probes(self) -> list[Probe]:
        return [p for p in self.probes if p.passed is False]


def diagnosis_id(run_id: str, item_id: str) -> str:
    """Id of the diagnosis of ``item_id`` in run ``run_id``: one per (run, item, probe version)."""
    return "dgn_" + hashlib.sha256(f"{run_id}\x1f{item_id}\x1f{PROBE_VERSION}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class RunInfo:
    """An evaluation run as the Debugger needs it."""

    id: str
    name: str
    model: str
    mode: str
    benchmark: str
    split: str
    status: str
    recorded: int
    answered: int


def find_run(store: GraphStore, run: str) -> RunInfo:
    """The run with id or name ``run``.

    Raises :class:`NotFound` when there is none, and :class:`InputError` when it recorded answers but
    none of its items is in the graph any more (deleted since the evaluation).
    """
    rows = store.query("eval_runs", {"run": run, "limit": 1})  # the lookup the traceback makes, by id or name
    if not rows:
        raise NotFound(f"no evaluation run {run!r} (neither a run id nor a run name); `proda eval --run-name "
                       "NAME` creates one")
    r = rows[0]
    info = RunInfo(id=r["id"], name=r["name"] or "", model=r["model"] or "", mode=r["mode"] or "loglikelihood",
                   benchmark=r["benchmark"] or "", split=r["split"] or "", status=r["status"] or "",
                   recorded=int(r["recorded"] or 0), answered=int(r["items"] or 0))
    if info.answered == 0:
        if info.recorded:
            raise InputError(f"evaluation run {info.name!r} ({info.id}) answered {info.recorded} items, but none "
                             "of them is in the graph any more (benchmark items deleted?); rebuild the benchmark "
                             "and evaluate again")
        raise InputError(f"evaluation run {info.name!r} ({info.id}) has no answers (status {info.status!r}); "
                         "finish it with `proda eval` first")
    return info


def run_disciplines(store: GraphStore, run: RunInfo, discipline: str | None = None) -> dict[str, tuple[int, int]]:
    """(answered, failed) per discipline of the run (only ``discipline`` if given).

    The traceback's per-discipline query serves here too: its wrong answers are the failed items
    (``correct`` is always stored), and its operator tallies are simply not read.
    """
    params = {"run": run.id, "discipline": discipline, "min_support": 1, "limit": MAX_DISCIPLINES}
    return {r["discipline"]: (int(r["items"]), int(r["wrong"]))
            for r in store.query("traceback_run_disciplines", params) if r["discipline"]}


@dataclass
class DiagnoseStats:
    """What diagnosis did in one discipline."""

    discipline: str
    failed: int = 0
    diagnosed: int = 0  # probed now
    reused: int = 0  # stored diagnoses taken as they are
    probes: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    unprobed_hops: dict[str, int] = field(default_factory=dict)  # reason -> hops
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> failed items not diagnosed
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> messages naming the item

    def skip(self, reason: str, message: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < EXAMPLES_PER_REASON:
            ex.append(message)


@dataclass(frozen=True)
class FailedItem:
    """A failed item whose chain could be read: what gets probed."""

    record: BenchmarkItemRecord
    chain: ChainView
    chosen: int | None
    chosen_operator: str | None


def stored_diagnoses(store: GraphStore, run_id: str, discipline: str | None) -> dict[str, DiagnosisRecord]:
    """Stored diagnoses of a run by item id (records that no longer validate are left out: they are redone)."""
    out: dict[str, DiagnosisRecord] = {}
    for r in store.query("debug_diagnoses", {"run_id": run_id, "discipline": discipline}):
        try:
            out[r["item_id"]] = DiagnosisRecord.model_validate_json(r["record"] or "")
        except ValidationError:
            continue
    return out


def _failed(store: GraphStore, run: RunInfo, rows: Sequence[Row], stats: DiagnoseStats) -> list[FailedItem]:
    records: list[tuple[Row, BenchmarkItemRecord]] = []
    for r in rows:
        if r["linked_chain_id"] is None:
            stats.skip("chain_missing", f"item {r['item_id']}: its chain {r['chain_id']} no longer exists")
            continue
        try:
            records.append((r, BenchmarkItemRecord.model_validate_json(r["record"] or "")))
        except ValidationError as e:
            stats.skip("record_invalid", f"item {r['item_id']}: stored record does not validate: "
                                         f"{e.errors()[0]['msg']}")
    chains = read_chains(store, sorted({rec.chain_id for _, rec in records}))
    out: list[FailedItem] = []
    for r, rec in records:
        chain = chains.get(rec.chain_id)
        if chain is None or chain.broken is not None:
            stats.skip("chain_broken", f"item {rec.id}: chain {rec.chain_id}: "
                                       f"{'it no longer exists' if chain is None else chain.broken}")
            continue
        out.append(FailedItem(rec, chain, r["chosen"], r["chosen_operator"]))
    return out


def classify(run: RunInfo, item: FailedItem, probes: Sequence[Probe], unprobed: dict[str, str],
             config: PatchConfig) -> DiagnosisRecord:
    """The verdict for one item from its scored probes: any failed hop makes it a concept gap."""
    chain = item.chain
    failed = [p for p in probes if p.passed is False]
    if failed:
        kind: Kind = "concept_gap"
        weak_relations = [p.relation_id for p in failed]
        weak_types = list(dict.fromkeys(p.relation_type for p in failed))
        weak_concepts = list(dict.fromkeys(c for p in failed for c in (p.subject_id, p.object_id)))
    else:
        kind = "reasoning_deficit"
        weak_relations = list(chain.relation_ids)
        weak_types = list(dict.fromkeys(chain.relation_types))
        weak_concepts = list(dict.fromkeys(c.id for c in chain.concepts))
    rec = item.record
    return DiagnosisRecord(
        id=diagnosis_id(run.id, rec.id), run_id=run.id, item_id=rec.id, benchmark=rec.benchmark,
        discipline=rec.discipline, chain_id=chain.id, kind=kind, chosen=item.chosen,
        chosen_operator=item.chosen_operator, relation_types=list(chain.relation_types),
        chain_relations=list(chain.relation_ids), chain_concepts=[c.id for c in chain.concepts],
        probes=list(probes), unprobed=unprobed, weak_relations=weak_relations, weak_types=weak_types,
        weak_concepts=weak_concepts, seed=config.seed, distractors=config.distractors)


def diagnosis_row(d: DiagnosisRecord) -> dict[str, Any]:
    """The ``debug_upsert_diagnoses`` row of a record."""
    weak: dict[str, list[str]] = {}
    if d.kind == "concept_gap":
        for p in d.failed_probes:
            for c in (p.subject_id, p.object_id):
                weak.setdefault(c, []).append(p.relation_id)
        role = "failed_hop"
    else:
        weak = {c: [] for c in d.chain_concepts}
        role = "on_chain"
    return {"id": d.id, "run_id": d.run_id, "item_id": d.item_id,
            "weak": [{"concept_id": c, "role": role, "relation_ids": sorted(set(rels))} for c, rels in weak.items()],
            "props": {"run": d.run_id, "item": d.item_id, "discipline": d.discipline, "kind": d.kind,
                      "chain_id": d.chain_id, "probes": len(d.probes), "failed_probes": len(d.failed_probes),
                      "weak_relations": d.weak_relations, "weak_types": d.weak_types,
                      "chosen_operator": d.chosen_operator, "probe_version": d.probe_version, "seed": d.seed,
                      "record": d.model_dump_json(), "diagnosed_at": datetime.now(UTC).isoformat()}}


def write_diagnoses(store: GraphStore, records: Sequence[DiagnosisRecord]) -> int:
    """MERGE diagnoses with their links; returns how many the graph accepted (item and run present)."""
    if not records:
        return 0
    rows = store.query("debug_upsert_diagnoses", {"rows": [diagnosis_row(d) for d in records]})
    return int(rows[0]["written"]) if rows else 0


def _reusable(d: DiagnosisRecord, config: PatchConfig) -> bool:
    return (not config.rediagnose and d.probe_version == PROBE_VERSION and d.seed == config.seed
            and d.distractors == config.distractors)


def diagnose_discipline(store: GraphStore, run: RunInfo, discipline: str, config: PatchConfig,
                        scorer_factory: ScorerFactory, *, vocab: Vocabulary | None = None,
                        progress: ProgressFn | None = None) -> tuple[list[DiagnosisRecord], DiagnoseStats]:
    """Diagnose every failed item of ``run`` in ``discipline``; returns its diagnoses and statistics.

    Items already diagnosed (same probe version, seed and distractor count) are reused, so only new
    failures are probed and the model is loaded only when there are any. Items that cannot be
    diagnosed (chain deleted or broken, record invalid) are skipped and counted by reason, with a
    message naming them; every other failed item ends with a stored diagnosis.
    """
    vocab = vocab or default_vocabulary()
    stats = DiagnoseStats(discipline=discipline)
    rows = store.query("debug_failed_items", {"run_id": run.id, "discipline": discipline})
    stats.failed = len(rows)
    stored = stored_diagnoses(store, run.id, discipline)
    done: list[DiagnosisRecord] = []
    todo_rows: list[Row] = []
    for r in rows:
        d = stored.get(r["item_id"])
        if d is not None and _reusable(d, config):
            done.append(d)
        else:
            todo_rows.append(r)
    stats.reused = len(done)
    if progress is not None:
        progress(discipline, len(done), stats.failed)
    todo = _failed(store, run, todo_rows, stats)
    if todo:
        hops_by_item = {f.record.id: hops_of(f.record.id, f.chain) for f in todo}
        pool = read_pool(store, discipline, {h.type for hs in hops_by_item.values() for h in hs}, config.pool_size)
        scorer: Scorer | None = None
        for start in range(0, len(todo), WRITE_BATCH):
            batch = todo[start:start + WRITE_BATCH]
            hops = [h for f in batch for h in hops_by_item[f.record.id]]
            probes, unprobed = build_probes(store, hops, pool, vocab, distractors=config.distractors,
                                            seed=config.seed)
            if probes and scorer is None:
                scorer = scorer_factory()
            # every probe of the batch in one call: several probes per forward pass (one pass per probe was
            # most of the diagnosis's time, on a GPU as on the CPU)
            keys = [h.key for f in batch for h in hops_by_item[f.record.id] if h.key in probes]
            scored = dict(zip(keys, _score(scorer, [probes[k] for k in keys]), strict=True))
            records = []
            for f in batch:
                mine = [scored[h.key] for h in hops_by_item[f.record.id] if h.key in scored]
                why = {str(h.pos): unprobed[h.key] for h in hops_by_item[f.record.id] if h.key in unprobed}
                for reason in why.values():
                    stats.unprobed_hops[reason] = stats.unprobed_hops.get(reason, 0) + 1
                if not mine:
                    stats.skip("no_hop_probed", f"item {f.record.id}: no hop of chain {f.chain.id} could be probed "
                                                f"({', '.join(sorted(set(why.values())))})")
                    continue
                stats.probes += len(mine)
                records.append(classify(run, f, mine, why, config))
            written = write_diagnoses(store, records)
            if written < len(records):  # an item (or the run) was deleted meanwhile: keep what landed
                landed = {d.id for d in stored_diagnoses(store, run.id, discipline).values()}
                for d in records:
                    if d.id not in landed:
                        stats.skip("changed_during_diagnosis", f"item {d.item_id}: deleted while it was being "
                                                               "diagnosed")
                records = [d for d in records if d.id in landed]
            stats.diagnosed += len(records)
            done.extend(records)
            if progress is not None:
                progress(discipline, len(done), stats.failed)
    for d in done:
        stats.kinds[d.kind] = stats.kinds.get(d.kind, 0) + 1
    done.sort(key=lambda d: d.id)
    return done, stats


def _score(scorer: Scorer | None, probes: Sequence[Probe]) -> list[Probe]:
    """The probes answered, several per forward pass where the scorer can (as evaluation scores items)."""
    if not probes:
        return []
    assert scorer is not None  # built as soon as any probe exists
    scores = score_items(scorer, [(p.question, p.choices) for p in probes])
    return [p.model_copy(update={"chosen": s.pred, "passed": s.pred == p.answer_index,
                                 "scores": [round(x, 4) for x in s.loglikelihoods]})
            for p, s in zip(probes, scores, strict=True)]


def summary_rows(diagnoses: Sequence[DiagnosisRecord]) -> list[dict[str, Any]]:
    """One printable row per diagnosis: item, kind, failed hops (relation type and concepts)."""
    out = []
    for d in diagnoses:
        failed = [f"{p.subject} -{p.relation_type}-> {p.object}" for p in d.failed_probes]
        out.append({"item": d.item_id, "kind": d.kind, "probes": len(d.probes), "failed": len(failed),
                    "weak": "; ".join(failed) if failed else " -> ".join(d.relation_types),
                    "chosen_operator": d.chosen_operator})
    return out


@dataclass(frozen=True)
class WeakPoint:
    """A concept or relation edge the diagnoses single out, with how many diagnoses of each kind name it."""

    id: str
    label: str  # the concept's name, or "subject -type-> object" for an edge
    discipline: str
    concept_gap: int = 0  # concept gaps with a failed hop on it: the model does not know it
    reasoning_deficit: int = 0  # reasoning deficits whose chain passes it: known, but not composed

    @property
    def diagnoses(self) -> int:
        return self.concept_gap + self.reasoning_deficit


def weak_points(diagnoses: Sequence[DiagnosisRecord], top: int = 10) -> tuple[list[WeakPoint], list[WeakPoint]]:
    """The ``top`` weakest concepts and relation edges of ``diagnoses``: most concept gaps first (a failed
    probe is direct evidence), then most diagnoses, then by label. Returns (concepts, relations)."""
    names: dict[str, str] = {}
    edges: dict[str, str] = {}
    for d in diagnoses:
        for p in d.probes:
            names[p.subject_id], names[p.object_id] = p.subject, p.object
            edges[p.relation_id] = f"{p.subject} -{p.relation_type}-> {p.object}"
    concepts: dict[tuple[str, str], Counter[str]] = {}
    relations: dict[tuple[str, str], Counter[str]] = {}
    for d in diagnoses:
        for c in d.weak_concepts:
            concepts.setdefault((c, d.discipline), Counter())[d.kind] += 1
        for r in d.weak_relations:
            relations.setdefault((r, d.discipline), Counter())[d.kind] += 1

    def ranked(counts: dict[tuple[str, str], Counter[str]], labels: dict[str, str]) -> list[WeakPoint]:
        points = [WeakPoint(id=i, label=labels.get(i, i), discipline=disc, concept_gap=n["concept_gap"],
                            reasoning_deficit=n["reasoning_deficit"]) for (i, disc), n in counts.items()]
        points.sort(key=lambda w: (-w.concept_gap, -w.diagnoses, w.label, w.id))
        return points[:top]

    return ranked(concepts, names), ranked(relations, edges)


def kinds_of(diagnoses: Sequence[DiagnosisRecord]) -> Counter[str]:
    """Diagnoses per kind."""
    return Counter(d.kind for d in diagnoses)


def dumps(diagnoses: Sequence[DiagnosisRecord]) -> list[dict[str, Any]]:
    """Diagnoses as JSON-ready dicts (``--json`` output)."""
    return [json.loads(d.model_dump_json()) for d in diagnoses]
