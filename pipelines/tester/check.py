"""``proda bench check``: re-verify a stored benchmark against the graph as it is now.

The graph moves after a benchmark is built (edges deleted, concepts merged, chains re-split, training
data added), so validity and orthogonality are not facts about the build but about the current
graph. Every item is checked again, in batches of a few round trips:

* its record parses and its chain, options and option concepts are still there;
* its ``qa_hash`` is the instance hash of the question it asks (a paraphrased question included),
  so the orthogonality proof below compares the right identities;
* its chain still holds the relation-type sequence its question asks;
* the correct option is still reached from the start by that sequence and no distractor is
  (``bench_reach``), and no two options became the same concept or alias (SAME_AS merges);
* no distractor restates the answer or the start (a definition of either: ``bench_restatements``),
  which also finds items built before the Tester refused such distractors;
* no distractor is implied by the answer: reached from it through relations that the last step's type
  carries over ("a kind of a kind", ``bench_implied``), nor from the step before the answer by a type a
  reader takes for the last one ("prevents" for "decreases");
* ``bench_orthogonality`` finds no training example or patch identical to an item or built from a
  held-out chain, and no item tests a chain that is not held out any more; Debugger patches must
  also be checkable: every patch carries a ``qa_hash`` and every f_cot scaffold names its chains.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from proda.pipelines.tester.chains import ChainView, implications, read_chains, restatements
from proda.pipelines.tester.model import BenchmarkItemRecord, ConceptRef, instance_hash
from proda.pipelines.tester.validity import clash, reach_rows, reachable
from proda.schema.store.base import GraphStore, Row
from proda.schema.vocabulary import Vocabulary, default_vocabulary

BATCH = 1000


@dataclass(frozen=True)
class Violation:
    """One broken rule: which check, which item (or training element), and what exactly is wrong."""

    check: str
    item_id: str | None
    detail: str


@dataclass
class CheckReport:
    """The outcome of :func:`check_benchmark`."""

    items: int = 0
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations

    def by_check(self) -> Counter[str]:
        return Counter(v.check for v in self.violations)


def _option_refs(row: Row) -> dict[int, ConceptRef]:
    return {int(o["index"]): ConceptRef(id=o["concept_id"], name=o["name"] or "", canonical_id=o["canonical_id"],
                                        aliases=tuple(o["aliases"] or ())) for o in row["options"]}


def _structure(row: Row, rec: BenchmarkItemRecord, out: list[Violation]) -> dict[int, ConceptRef] | None:
    """Chain and option links as recorded; returns the option concepts by index when all are present."""
    iid = rec.id
    if row["linked_chain_id"] is None:
        out.append(Violation("chain_missing", iid, f"chain {rec.chain_id} no longer exists"))
        return None
    linked = _option_refs(row)
    missing = [o.index for o in rec.options if o.index not in linked]
    if missing:
        out.append(Violation("option_concept_missing", iid,
                             f"option(s) {missing} ({', '.join(repr(rec.choices[i]) for i in missing)}): "
                             "their concept no longer exists"))
        return None
    moved = [o.index for o in rec.options if linked[o.index].id != o.concept_id]
    if moved:
        out.append(Violation("option_link_changed", iid, f"option(s) {moved} link to another concept than recorded"))
        return None
    return linked


def _distinct(rec: BenchmarkItemRecord, linked: dict[int, ConceptRef], out: list[Violation]) -> None:
    idx = sorted(linked)
    for a_pos, a in enumerate(idx):
        for b in idx[a_pos + 1:]:
            why = clash(linked[a], linked[b])
            if why is not None:
                out.append(Violation(why, rec.id, f"options {a} {rec.choices[a]!r} and {b} {rec.choices[b]!r} "
                                                  "are the same concept or share a name/alias"))


def check_benchmark(store: GraphStore, benchmark: str | None = None, discipline: str | None = None,
                    vocab: Vocabulary | None = None) -> CheckReport:
    """Re-verify validity and orthogonality of the stored items; returns every violation found. ``vocab``
    says which relation types restate or carry over (default: the default vocabulary)."""
    started = time.perf_counter()
    report = CheckReport()
    vocab = vocab or default_vocabulary()
    rows = store.query("bench_items", {"benchmark": benchmark, "discipline": discipline})
    report.items = len(rows)
    for start in range(0, len(rows), BATCH):
        _check_batch(store, rows[start:start + BATCH], report.violations, vocab)
    for r in store.query("bench_orthogonality", {}):
        report.violations.append(Violation(
            r["violation"], r["item_id"],
            f"{r['kind']} {r['element_id']}" + (f" via chain {r['chain_id']} (split {r['split']})"
                                                if r["chain_id"] else "")))
    report.seconds = time.perf_counter() - started
    return report


def _check_batch(store: GraphStore, rows: list[Row], out: list[Violation], vocab: Vocabulary) -> None:
    records: list[tuple[BenchmarkItemRecord, dict[int, ConceptRef]]] = []
    for row in rows:
        try:
            rec = BenchmarkItemRecord.model_validate_json(row["record"] or "")
        except ValidationError as e:
            out.append(Violation("record_invalid", row["id"], f"stored record does not validate: "
                                                              f"{e.errors()[0]['msg']}"))
            continue
        if rec.qa_hash != instance_hash(rec.question, rec.answer):
            out.append(Violation("qa_hash_stale", rec.id, "qa_hash is not instance_hash(question, answer): the "
                                                          "orthogonality check would compare the wrong identity"))
        linked = _structure(row, rec, out)
        if linked is not None:
            _distinct(rec, linked, out)
            records.append((rec, linked))
    chains = read_chains(store, sorted({rec.chain_id for rec, _ in records}))
    reach: list[dict[str, Any]] = []
    intact: dict[str, ChainView] = {}
    for rec, linked in records:
        chain = chains.get(rec.chain_id)
        if chain is None or chain.broken is not None:
            why = "it no longer exists" if chain is None else chain.broken
            out.append(Violation("chain_broken", rec.id, f"chain {rec.chain_id}: {why}"))
            continue
        if list(chain.relation_types) != rec.relation_types:
            out.append(Violation("chain_changed", rec.id, f"chain {rec.chain_id} now reads {list(chain.relation_types)}"
                                                          f", the question asks {rec.relation_types}"))
            continue
        intact[chain.id] = chain
        reach.append(reach_rows(rec.id, rec.start_concept_id, rec.relation_types,
                                [c.canonical_id for c in linked.values()]))
    restated = restatements(store, list(intact.values()), vocab.restating())
    implied = implications(store, list(intact.values()), vocab)
    for rec, linked in records:
        answer_side, start_side = restated.get(rec.chain_id, (frozenset(), frozenset()))
        for o in rec.distractors:
            canonical = linked[o.index].canonical_id
            carried, near = implied.get(rec.chain_id, (frozenset(), frozenset()))
            if canonical in carried:
                out.append(Violation("distractor_implied_by_answer", rec.id,
                                     f"distractor {o.index} {o.text!r} ({o.operator}) is reached from the answer "
                                     f"through relations that {rec.relation_types[-1]!r} carries over: it is a "
                                     "right answer too"))
            if canonical in near:
                out.append(Violation("distractor_by_near_type", rec.id,
                                     f"distractor {o.index} {o.text!r} ({o.operator}) is reached from the step "
                                     f"before the answer by a type a reader takes for {rec.relation_types[-1]!r}: "
                                     "it reads as a right answer too"))
            for check, side, what in (("distractor_restates_answer", answer_side, "the answer"),
                                      ("distractor_restates_start", start_side, "the start")):
                if canonical in side:
                    out.append(Violation(check, rec.id, f"distractor {o.index} {o.text!r} ({o.operator}) restates "
                                                        f"{what}: a restating relation links them, so it names "
                                                        "the same thing"))
    reached = reachable(store, reach)
    proved = {r["key"] for r in reach}
    for rec, linked in records:
        if rec.id not in proved:
            continue
        got = reached.get(rec.id, set())
        for o in rec.options:
            canonical = linked[o.index].canonical_id
            if o.correct and canonical not in got:
                out.append(Violation("answer_unreachable", rec.id, f"the answer {o.text!r} is no longer reached "
                                                                   f"from the start by {rec.relation_types}"))
            elif not o.correct and canonical in got:
                out.append(Violation("distractor_reachable", rec.id,
                                     f"distractor {o.index} {o.text!r} ({o.operator}) is reached from the start by "
                                     f"{rec.relation_types}: the graph makes it a correct answer"))
