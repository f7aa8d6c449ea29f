"""A toy benchmark on a real graph: two-step test chains over the tiny LM's words (tests/tiny_lm.py),
each with one item whose three distractors are other concepts, labelled with the operators that made
them; evaluation, tracing and job tests score the tiny model on it."""

from __future__ import annotations

from typing import Any

from proda.pipelines.tester.build import write_items
from proda.pipelines.tester.model import BenchmarkItemRecord, OptionRecord, instance_hash, item_id
from proda.schema import Chain, Concept, Provenance, Relation
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import GraphWriter
from tests.tiny_lm import NAMES

PROV = Provenance(extractor="manual", prompt_version="test")
OPS = ["INVREL", "TRUNC", "NEARMISS"]


def benchmark(store: GraphStore, n_items: int = 8) -> list[BenchmarkItemRecord]:
    """``n_items`` two-step test chains, each with an item whose distractors are other concepts."""
    c = {n: Concept(name=n, discipline="economics", provenance=PROV) for n in NAMES}
    elements: list[Any] = list(c.values())
    records = []
    for k in range(n_items):
        a, b, z = NAMES[k % 12], NAMES[(k + 1) % 12], NAMES[(k + 2) % 12]
        r1 = Relation(type="causes", subject_id=c[a].id, object_id=c[b].id, discipline="economics", provenance=PROV)
        r2 = Relation(type="decreases", subject_id=c[b].id, object_id=c[z].id, discipline="economics",
                      provenance=PROV)
        ch = Chain(discipline="economics", relation_ids=[r1.id, r2.id], concept_ids=[c[a].id, c[b].id, c[z].id],
                   relation_types=["causes", "decreases"], split="test", provenance=PROV)
        elements += [r1, r2, ch]
        wrong = [NAMES[(k + 3 + j) % 12] for j in range(3)]
        names = [z, *wrong]
        order = [(k + j) % 4 for j in range(4)]
        shown = [names[i] for i in order]
        question = f"In economics: {a} causes X1, and X1 decreases X2. Which concept is X2?"
        options = [OptionRecord(index=i, text=t, concept_id=c[t].id, correct=(t == z),
                                operator="ANSWER" if t == z else OPS[names.index(t) - 1],
                                kind="answer" if t == z else "sibling") for i, t in enumerate(shown)]
        records.append(BenchmarkItemRecord(
            id=item_id("toy", ch.id), benchmark="toy", discipline="economics", split="test", chain_id=ch.id,
            question=question, choices=shown, answer_index=shown.index(z), answer=z, start_concept_id=c[a].id,
            answer_concept_id=c[z].id, relation_types=["causes", "decreases"], options=options,
            qa_hash=instance_hash(question, z), seed=0))
    GraphWriter(store).write(elements)
    assert write_items(store, records) == n_items
    return records
