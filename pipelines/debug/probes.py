"""Single-hop probes: the measurement behind a diagnosis.

A failed benchmark item asks a chain ``c0 -t1-> c1 ... -tn-> cn``. Each hop ``ci -ti-> ci+1`` becomes
a multiple-choice probe worded as the Tester words a step (the vocabulary's verb phrase), asked of
that hop alone, e.g. ``In economics: price increases which concept?`` with the true object and
distractors that fill the same role (objects of other relations of the type in the discipline),
each **proven wrong** in the graph with the Tester's own proof (``bench_reach`` over one step) and
kept distinct from the answer and from one another by name and alias (``clash``).

A probe is never a benchmark item: its wording differs from every item's, and a probe whose
instance hash equals an item's (the failed item included) is reworded or dropped.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from proda.pipelines.tester.chains import ChainView
from proda.pipelines.tester.model import ConceptRef, instance_hash
from proda.pipelines.tester.validity import clash, reach_rows, reachable
from proda.schema.store.base import GraphStore
from proda.schema.vocabulary import Vocabulary

PROBE_VERSION = "probe-v1"  # bump when the wording or the distractor rule changes: stored diagnoses go stale
# the second wording is used only when the first one happens to be a benchmark item's instance
TEMPLATES = ("In {field}: {subject} {phrase} which concept?", "Name the {field} concept that {subject} {phrase}.")
CANDIDATE_FACTOR = 4  # candidates proven per distractor needed: a few are usually reachable or clash


@dataclass(frozen=True)
class Hop:
    """One step of a failed item's chain: ``subject -type-> object`` at position ``pos``."""

    item_id: str
    discipline: str
    pos: int
    relation_id: str
    type: str
    subject: ConceptRef
    object: ConceptRef

    @property
    def key(self) -> str:
        return f"{self.item_id}#{self.pos}"


class Probe(BaseModel):
    """One single-hop probe as stored in a diagnosis record, with the model's answer once scored."""

    model_config = ConfigDict(extra="forbid")

    hop: int = Field(ge=0, description="position of the hop in the chain (0: the first step)")
    relation_id: str
    relation_type: str
    subject_id: str
    subject: str
    object_id: str
    object: str
    question: str
    choices: list[str] = Field(min_length=2)
    concept_ids: list[str]
    answer_index: int = Field(ge=0)
    qa_hash: str
    chosen: int | None = None
    passed: bool | None = None
    scores: list[float] = Field(default_factory=list)


def hops_of(item_id: str, chain: ChainView) -> list[Hop]:
    """The hops of ``chain`` in order."""
    return [Hop(item_id=item_id, discipline=chain.discipline, pos=i, relation_id=chain.relation_ids[i],
                type=chain.relation_types[i], subject=chain.concepts[i], object=chain.concepts[i + 1])
            for i in range(chain.length)]


def read_pool(store: GraphStore, discipline: str, types: Iterable[str], limit: int) -> dict[str, list[ConceptRef]]:
    """Distractor candidates of ``discipline`` per relation type, and under ``'*'`` any of its concepts."""
    pool: dict[str, list[ConceptRef]] = defaultdict(list)
    rows = store.query("debug_probe_pool", {"discipline": discipline, "types": sorted(set(types)), "limit": limit})
    for r in rows:
        pool[r["type"]].append(ConceptRef(id=r["concept_id"], name=r["name"] or "", canonical_id=r["canonical_id"],
                                          aliases=tuple(r["aliases"] or ())))
    return pool


def _order(seed: int, key: str, concept_id: str) -> bytes:
    return hashlib.sha256(f"{seed}\x1fprobe\x1f{key}\x1f{concept_id}".encode()).digest()


def _candidates(hop: Hop, pool: Mapping[str, Sequence[ConceptRef]], n: int, seed: int) -> list[ConceptRef]:
    """Up to ``n`` candidates, same-role concepts first, each a different concept from the hop's two."""
    out: list[ConceptRef] = []
    seen: set[str] = set()
    for group in (pool.get(hop.type, ()), pool.get("*", ())):
        for c in sorted(group, key=lambda c: _order(seed, hop.key, c.id)):
            if len(out) >= n:
                return out
            if c.canonical_id in seen or not c.name:
                continue
            if clash(c, hop.object) is not None or clash(c, hop.subject) is not None:
                continue
            seen.add(c.canonical_id)
            out.append(c)
    return out


def _question(template: str, hop: Hop, vocab: Vocabulary) -> str:
    return template.format(field=hop.discipline.replace("_", " "), subject=hop.subject.name,
                           phrase=vocab.get(hop.type).phrase)


def build_probes(store: GraphStore, hops: Sequence[Hop], pool: Mapping[str, Sequence[ConceptRef]],
                 vocab: Vocabulary, *, distractors: int, seed: int) -> tuple[dict[str, Probe], dict[str, str]]:
    """Probes for ``hops`` (a fixed number of round trips for any number of hops).

    Returns (probe by hop key, reason by hop key for the hops that could not be probed):
    ``unknown_relation_type``, ``too_few_distractors`` or ``probe_is_a_benchmark_item``.
    """
    unprobed: dict[str, str] = {}
    usable: list[Hop] = []
    for h in hops:
        if h.type not in vocab:
            unprobed[h.key] = "unknown_relation_type"
        else:
            usable.append(h)
    candidates = {h.key: _candidates(h, pool, CANDIDATE_FACTOR * distractors, seed) for h in usable}
    reached = reachable(store, [reach_rows(h.key, h.subject.id, [h.type], [c.canonical_id for c in candidates[h.key]])
                                for h in usable if candidates[h.key]])
    chosen: dict[str, list[ConceptRef]] = {}
    for h in usable:
        picked: list[ConceptRef] = []
        for c in candidates[h.key]:
            if len(picked) == distractors:
                break
            if c.canonical_id in reached.get(h.key, set()):
                continue  # the graph says the subject does relate to it this way: a correct answer, not a distractor
            if any(clash(c, p) is not None for p in picked):
                continue
            picked.append(c)
        if len(picked) < distractors:
            unprobed[h.key] = "too_few_distractors"
        else:
            chosen[h.key] = picked
    probes: dict[str, Probe] = {}
    pending = [h for h in usable if h.key in chosen]
    for template in TEMPLATES:
        if not pending:
            break
        drafts = {h.key: _probe(h, template, chosen[h.key], vocab, seed) for h in pending}
        hits = {r["qa_hash"] for r in store.query("benchmark_hash_hits",
                                                  {"hashes": sorted({p.qa_hash for p in drafts.values()})})}
        probes.update({k: p for k, p in drafts.items() if p.qa_hash not in hits})
        pending = [h for h in pending if drafts[h.key].qa_hash in hits]
    for h in pending:
        unprobed[h.key] = "probe_is_a_benchmark_item"
    return probes, unprobed


def _probe(hop: Hop, template: str, distractors: Sequence[ConceptRef], vocab: Vocabulary, seed: int) -> Probe:
    options = [hop.object, *distractors]
    random.Random(f"{seed}\x1fprobe\x1f{hop.key}").shuffle(options)
    question = _question(template, hop, vocab)
    return Probe(hop=hop.pos, relation_id=hop.relation_id, relation_type=hop.type, subject_id=hop.subject.id,
                 subject=hop.subject.name, object_id=hop.object.id, object=hop.object.name, question=question,
                 choices=[c.name for c in options], concept_ids=[c.id for c in options],
                 answer_index=options.index(hop.object), qa_hash=instance_hash(question, hop.object.name))
