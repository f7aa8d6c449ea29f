"""Held-out chains as the graph holds them now, read for many chains per round trip.

A chain node keeps the ids of its concepts and relations from extraction time; the graph may have
changed since (an edge deleted, a concept merged). :func:`read_chains` joins the two, so a chain
that lost an element is reported with the step that broke instead of yielding a wrong item.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from proda.pipelines.tester.model import ConceptRef
from proda.schema.store.base import GraphStore, Row
from proda.schema.vocabulary import Vocabulary


@dataclass(frozen=True)
class ChainView:
    """One chain c0 -t1-> c1 ... -tn-> cn as found in the graph; ``broken`` says why it is unusable."""

    id: str
    discipline: str
    split: str | None
    concepts: tuple[ConceptRef, ...]
    relation_ids: tuple[str, ...]
    relation_types: tuple[str, ...]
    broken: str | None = None
    evidence: tuple[str, ...] = ()  # each step's evidence span, as the graph holds it now
    # canonical ids of concepts that name the answer again (a definition of it, or what it defines), which
    # can never be a wrong answer, and of those that name the start again (its definition: "a string" is
    # "a sequence of characters", so "string is an example of X1" would have it as a right answer too):
    # filled by the builder (:func:`restatements`), empty until then
    restated: frozenset[str] = frozenset()
    restated_start: frozenset[str] = frozenset()
    # canonical ids of concepts the graph makes right answers too, because the last step's type carries over
    # ("a is a kind of b" and "b is a kind of c": c): filled by the builder (:func:`implications`)
    implied: frozenset[str] = frozenset()
    # canonical ids of concepts the step before the answer reaches by a type a reader may take for the last
    # one ("laws prevent movement" for "laws decrease X1"): filled by the builder (:func:`implications`)
    near: frozenset[str] = frozenset()

    @property
    def answer_evidence(self) -> str:
        """The evidence of the last step: the sentence that states the answer."""
        return self.evidence[-1] if self.evidence else ""

    @property
    def length(self) -> int:
        return len(self.relation_ids)

    @property
    def start(self) -> ConceptRef:
        return self.concepts[0]

    @property
    def answer(self) -> ConceptRef:
        return self.concepts[-1]


def _view(chain_id: str, rows: list[Row]) -> ChainView:
    rows = sorted(rows, key=lambda r: int(r["pos"]))
    first = rows[0]
    concepts = tuple(ConceptRef(id=r["concept_id"], name=r["name"] or "", canonical_id=r["canonical_id"] or "",
                                aliases=tuple(r["aliases"] or ())) for r in rows)
    steps = rows[:-1]
    broken = None
    gone = [r["pos"] for r in rows if not r["concept_found"]]
    if gone:
        broken = f"concept(s) at position {gone} no longer exist"
    else:
        missing = [r["pos"] for r in steps if r["relation_type"] is None]
        if missing:
            broken = f"the relation edge(s) of step(s) {missing} no longer exist"
    return ChainView(id=chain_id, discipline=first["discipline"], split=first["split"], concepts=concepts,
                     relation_ids=tuple(r["relation_id"] for r in steps),
                     relation_types=tuple(r["relation_type"] or "" for r in steps), broken=broken,
                     evidence=tuple(r.get("evidence") or "" for r in steps))


def read_chains(store: GraphStore, chain_ids: Sequence[str]) -> dict[str, ChainView]:
    """The chains among ``chain_ids`` that exist, by id (one ``bench_chain_steps`` round trip)."""
    by_chain: dict[str, list[Row]] = defaultdict(list)
    for r in store.query("bench_chain_steps", {"chain_ids": list(chain_ids)}):
        by_chain[r["chain_id"]].append(r)
    return {cid: _view(cid, rows) for cid, rows in by_chain.items()}


def restatements(store: GraphStore, chains: Sequence[ChainView],
                 types: Sequence[str]) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Per chain id, the canonical ids of the concepts that a restating relation (``types``: a definition)
    links to its answer (and, when its last step itself restates, to the concept the answer defines), and
    those it links to its start: each names the same thing as the answer, resp. the start. One
    ``bench_restatements`` round trip."""
    if not types or not chains:
        return {}
    answer_keys: dict[str, set[str]] = {}
    start_keys: dict[str, set[str]] = {}
    for c in chains:
        ends = [c.answer, c.concepts[-2]] if c.relation_types[-1] in types else [c.answer]
        answer_keys[c.id] = {x for e in ends for x in (e.id, e.canonical_id) if x}
        start_keys[c.id] = {x for x in (c.start.id, c.start.canonical_id) if x}
    wanted = set().union(*answer_keys.values(), *start_keys.values())
    found: dict[str, set[str]] = defaultdict(set)
    for r in store.query("bench_restatements", {"ids": sorted(wanted), "types": list(types)}):
        found[r["concept_id"]].update(r["restated_ids"] or ())

    def of(keys: set[str]) -> frozenset[str]:
        return frozenset(x for k in keys for x in found.get(k, ()))

    return {c.id: (of(answer_keys[c.id]), of(start_keys[c.id])) for c in chains}


def implications(store: GraphStore, chains: Sequence[ChainView],
                 vocab: Vocabulary) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Per chain id, two sets of canonical ids of concepts the graph makes right answers too: those reached
    from the answer through 1 to 3 relations of the types the last step carries over
    (:attr:`~proda.schema.vocabulary.RelationType.carries_over`), and those the step before the answer
    reaches by one relation of a type a reader may take for the last one
    (:attr:`~proda.schema.vocabulary.RelationType.near`). Chains with neither are left out. One
    ``bench_implied`` round trip."""
    rows = []
    for c in chains:
        if not c.relation_types:
            continue
        last = c.relation_types[-1]
        carried, near = vocab.carried_over(last), vocab.near(last)
        if carried:
            rows.append({"key": f"{c.id}{_CARRIED}", "ids": _ids(c.answer), "types": list(carried), "hops": 3})
        if near:
            rows.append({"key": f"{c.id}{_NEAR}", "ids": _ids(c.concepts[-2]), "types": list(near), "hops": 1})
    if not rows:
        return {}
    found: dict[str, set[str]] = defaultdict(set)
    for r in store.query("bench_implied", {"rows": rows}):
        found[r["key"]].add(r["implied_id"])
    out = {}
    for c in chains:
        carried_ids, near_ids = found.get(f"{c.id}{_CARRIED}", set()), found.get(f"{c.id}{_NEAR}", set())
        if carried_ids or near_ids:
            answer = {c.answer.canonical_id}
            out[c.id] = (frozenset(carried_ids - answer), frozenset(near_ids - answer))
    return out


def _ids(c: ConceptRef) -> list[str]:
    # a merge leaves the edges on the merged node: look from both
    return sorted({x for x in (c.id, c.canonical_id) if x})


# the two kinds of bench_implied rows of one chain
_CARRIED, _NEAR = "\x1fcarried", "\x1fnear"
