"""A hand-built economics world for the Debugger tests, with a benchmark, a V1 dataset and an
evaluation run answered by a rule-driven scorer whose knowledge is known exactly.

Chains (the benchmark asks the test ones)::

    T1 test   price -increases-> supply -causes-> surplus
    T2 test   tax -decreases-> demand -causes-> shortage
    T3 test   wage -increases-> spending -causes-> growth
    D1 dev    price -increases-> supply -requires-> production     (shares most with T1: must not be used)
    R1 train  rent -increases-> cost -causes-> inflation             (shares T1's relation types)
    R2 train  price -increases-> supply -enables-> trade             (shares T1's concepts)
    R3 train  price -increases-> supply -causes-> surplus -is_a-> market condition
              (walks the whole of T1: scaffolding it would state T1's answer along T1's path)

The scorer "knows" the hops listed in ``KNOWN``: a probe of a known hop is answered right, any other
probe wrong; benchmark items are answered wrong except those listed as correct.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from proda.pipelines.build import BuildConfig, build_examples
from proda.pipelines.tester.build import write_items
from proda.pipelines.tester.model import BenchmarkItemRecord, OptionRecord, instance_hash, item_id
from proda.pipelines.tester.question import question_text
from proda.schema import Chain, Chunk, Concept, Document, Provenance, Relation
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import GraphWriter
from proda.schema.vocabulary import default_vocabulary
from proda.training.evaluate import EvalConfig, EvalReport, evaluate
from proda.training.scoring import OptionScores

PROV = Provenance(extractor="manual", prompt_version="debug-test")
D = "economics"
FACTS = [
    ("price", "increases", "supply", "A higher price increases supply."),
    ("supply", "causes", "surplus", "Excess supply causes a surplus."),
    ("tax", "decreases", "demand", "A tax decreases demand."),
    ("demand", "causes", "shortage", "Strong demand causes a shortage."),
    ("wage", "increases", "spending", "Higher wages increase spending."),
    ("spending", "causes", "growth", "Spending causes growth."),
    ("supply", "requires", "production", "Supply requires production."),
    ("rent", "increases", "cost", "Rent increases cost."),
    ("cost", "causes", "inflation", "Cost causes inflation."),
    ("supply", "enables", "trade", "Supply enables trade."),
    ("surplus", "is_a", "market condition", "A surplus is a market condition."),
    ("profit", "increases", "output", "Profit increases output."),
    ("debt", "causes", "crisis", "Debt causes a crisis."),
    ("demand", "increases", "price", "Demand increases price."),
]
TEXT = " ".join(f[3] for f in FACTS)
CHAINS: dict[str, tuple[list[str], Literal["train", "dev", "test"]]] = {
    "T1": (["price", "supply", "surplus"], "test"),
    "T2": (["tax", "demand", "shortage"], "test"),
    "T3": (["wage", "spending", "growth"], "test"),
    "D1": (["price", "supply", "production"], "dev"),
    "R1": (["rent", "cost", "inflation"], "train"),
    "R2": (["price", "supply", "trade"], "train"),
    "R3": (["price", "supply", "surplus", "market condition"], "train"),
}
# distractors of each benchmark item, the first one a TRUNC (the intermediate concept)
ITEM_DISTRACTORS = {"T1": ["supply", "crisis", "output"], "T2": ["demand", "crisis", "output"],
                    "T3": ["spending", "crisis", "output"]}
# the dev item of D1 (built with ``dev=True``): a benchmark that patches from dev and measures on test
DEV_DISTRACTORS = {"D1": ["supply", "crisis", "output"]}


@dataclass
class World:
    c: dict[str, Concept] = field(default_factory=dict)
    r: dict[str, Relation] = field(default_factory=dict)
    chains: dict[str, Chain] = field(default_factory=dict)
    items: dict[str, BenchmarkItemRecord] = field(default_factory=dict)
    chunk: Chunk | None = None


def build_world(store: GraphStore, *, v1: bool = True, dev: bool = False) -> World:
    """Load the graph, the benchmark items of T1..T3 (with ``dev`` also the dev item of D1) and (with
    ``v1``) the Builder dataset v1."""
    w = World()
    doc = Document(source_id="economics/debug", discipline=D, title="Markets")
    chunk = Chunk(document_id=doc.id, ordinal=0, discipline=D, text=TEXT)
    w.chunk = chunk
    names = sorted({x for s, _, o, _ in FACTS for x in (s, o)})
    w.c = {n: Concept(name=n, discipline=D, chunk_ids=[chunk.id], provenance=PROV) for n in names}
    for s, t, o, ev in FACTS:
        w.r[f"{s}>{o}"] = Relation(type=t, subject_id=w.c[s].id, object_id=w.c[o].id, discipline=D, evidence=ev,
                                   chunk_id=chunk.id, provenance=PROV)
    for key, (path, split) in CHAINS.items():
        rels = [w.r[f"{a}>{b}"] for a, b in pairwise(path)]
        w.chains[key] = Chain(discipline=D, relation_ids=[r.id for r in rels], concept_ids=[w.c[n].id for n in path],
                              relation_types=[r.type for r in rels], split=split, chunk_id=chunk.id,
                              provenance=PROV)
    result = GraphWriter(store).write([doc, chunk, *w.c.values(), *w.r.values(), *w.chains.values()])
    assert not result.unresolved, result.unresolved
    vocab = default_vocabulary()
    for key, distractors in {**ITEM_DISTRACTORS, **(DEV_DISTRACTORS if dev else {})}.items():
        ch, (path, split) = w.chains[key], CHAINS[key]
        question = question_text(D, path[0], ch.relation_types, vocab)
        answer = path[-1]
        names_ = [answer, *distractors]
        shown = names_[1:] + names_[:1]  # the answer last
        options = [OptionRecord(index=i, text=t, concept_id=w.c[t].id, correct=t == answer,
                                operator="ANSWER" if t == answer else "TRUNC" if t == distractors[0] else "NEARMISS",
                                kind="answer" if t == answer else "sibling") for i, t in enumerate(shown)]
        w.items[key] = BenchmarkItemRecord(
            id=item_id("dbg", ch.id), benchmark="dbg", discipline=D, split=split, chain_id=ch.id, question=question,
            choices=shown, answer_index=shown.index(answer), answer=answer, start_concept_id=w.c[path[0]].id,
            answer_concept_id=w.c[answer].id, relation_types=list(ch.relation_types), options=options,
            qa_hash=instance_hash(question, answer), seed=0)
    assert write_items(store, list(w.items.values())) == len(w.items)
    if v1:
        build_examples(store, BuildConfig(dataset="v1"))
    return w


class RuleScorer:
    """A stand-in model with known knowledge: probes of the ``known`` hops ("subject>object") are
    answered right and others wrong; benchmark items are answered wrong unless their answer is in
    ``correct``."""

    def __init__(self, world: World, known: Sequence[str] = (), correct: Sequence[str] = ()) -> None:
        vocab = default_vocabulary()
        self.hops = [(f" {s} {vocab.get(t).phrase} ", s, o) for s, t, o, _ in FACTS]
        self.known, self.correct = set(known), set(correct)
        self.answers = {rec.question: rec.answer for rec in world.items.values()}
        self.calls: list[str] = []

    def score(self, question: str, choices: Sequence[str]) -> OptionScores:
        self.calls.append(question)
        if question in self.answers:  # a benchmark item
            right = self.answers[question]
            want = right if right in self.correct else next(c for c in choices if c != right)
        else:  # a probe: find the hop it asks by its "subject phrase" and true object among the choices
            text = f" {question.rstrip('?.')} "
            [(s, right)] = [(s, o) for words, s, o in self.hops if words in text and o in choices]
            want = right if f"{s}>{right}" in self.known else next(c for c in choices if c != right)
        lls = [0.0 if c == want else -5.0 - i for i, c in enumerate(choices)]
        return OptionScores(lls, [x / max(1, len(c)) for x, c in zip(lls, choices, strict=True)])


def evaluate_run(store: GraphStore, home: Path, world: World, *, correct: Sequence[str] = (),
                 name: str = "dbg-run", model: str = "tiny", split: str = "test") -> EvalReport:
    """An evaluation run of the benchmark's ``split`` answered by a :class:`RuleScorer`."""
    scorer = RuleScorer(world, correct=correct)
    return evaluate(store, EvalConfig(model=model, benchmark="dbg", split=split, run_name=name), home,
                    scorer=scorer)


def never() -> Any:
    """A scorer factory for runs that must not probe (everything already diagnosed)."""
    raise AssertionError("the model was loaded although nothing needed probing")


def ratio_ok(replay: int, total: int, ratio: float) -> bool:
    """Replay is the configured share of the set, up to rounding of one example."""
    return math.isclose(replay, total * ratio, abs_tol=1.0)
