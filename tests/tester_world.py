"""Hand-built graphs with known answers for the benchmark tests (and other tests that need a world
whose every trap is known).

The main world (economics), chain A = ``price -increases-> supply -causes-> surplus``::

    INVREL step 1 (increases read as decreases): price -decreases-> demand -causes-> shortage
    INVREL step 2 (causes read as prevents):     supply -prevents-> inflation
                                                 supply -prevents-> excess supply (merged into surplus)
    TRUNC:                                       supply
    NEARMISS sibling_chain: chain B = price -increases-> supply -precedes-> trade
             sibling:       equilibrium, glut, oversupply -is_a-> market condition <-is_a- surplus
             alt_ending:    supply -precedes-> trade, supply -requires-> production, supply -prevents-> inflation
             neighbour:     surplus -increases-> storage cost, surplus -is_a-> market condition
    traps: glut is a correct answer by the graph (supply -causes-> glut); oversupply has the alias
           "Surplus"; excess supply is merged into surplus (SAME_AS).

Chain C = ``wage -increases-> spending``: one step, and nothing around it (every operator finds nothing).
Chain D = ``good -is_a-> product -defined_as-> offering``: no type with an inverse (INVREL finds nothing).
Chain E = ``tariff -contrasts_with-> quota``: symmetric, its "inverse" is itself (INVREL skips it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

from proda.schema import Chain, Concept, Provenance, Relation
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import Element, GraphWriter

HAND = Provenance(extractor="manual", prompt_version="bench-test")
Split = Literal["train", "dev", "test"] | None


@dataclass
class World:
    """A built graph: concepts by name, relations by 'subject>object', chains by letter."""

    discipline: str
    c: dict[str, Concept] = field(default_factory=dict)
    r: dict[str, Relation] = field(default_factory=dict)
    chains: dict[str, Chain] = field(default_factory=dict)

    def concept(self, name: str, aliases: tuple[str, ...] = ()) -> Concept:
        if name not in self.c:
            self.c[name] = Concept(name=name, discipline=self.discipline, aliases=list(aliases), provenance=HAND)
        return self.c[name]

    def rel(self, s: str, t: str, o: str) -> Relation:
        r = Relation(type=t, subject_id=self.concept(s).id, object_id=self.concept(o).id,
                     discipline=self.discipline, evidence=f"{s} {t} {o}", provenance=HAND)
        self.r[f"{s}>{o}"] = r
        return r

    def chain(self, key: str, path: list[str], split: Split = "test") -> Chain:
        """A chain over existing relations along ``path`` (concept names)."""
        rels = [self.r[f"{a}>{b}"] for a, b in pairwise(path)]
        ch = Chain(discipline=self.discipline, relation_ids=[r.id for r in rels],
                   concept_ids=[self.c[n].id for n in path], relation_types=[r.type for r in rels], split=split,
                   provenance=HAND)
        self.chains[key] = ch
        return ch

    def ids(self, *names: str) -> set[str]:
        return {self.c[n].id for n in names}

    @property
    def elements(self) -> list[Element]:
        return [*self.c.values(), *self.r.values(), *self.chains.values()]

    def load(self, store: GraphStore) -> World:
        result = GraphWriter(store, batch_size=500).write(self.elements)
        assert not result.unresolved, result.unresolved
        return self


def economics(split: Split = "test", suffix: str = "") -> World:
    """The main world; ``suffix`` renames every concept, so copies are disjoint graphs."""
    w = World("economics")

    def n(name: str) -> str:
        return f"{name}{suffix}"

    w.concept(n("oversupply"), aliases=("Surplus" + suffix,))
    for s, t, o in [("price", "increases", "supply"), ("supply", "causes", "surplus"),
                    ("price", "decreases", "demand"), ("demand", "causes", "shortage"),
                    ("supply", "prevents", "inflation"), ("supply", "prevents", "excess supply"),
                    ("supply", "precedes", "trade"), ("supply", "requires", "production"),
                    ("supply", "causes", "glut"),
                    ("surplus", "is_a", "market condition"), ("equilibrium", "is_a", "market condition"),
                    ("glut", "is_a", "market condition"), ("oversupply", "is_a", "market condition"),
                    ("surplus", "increases", "storage cost"),
                    ("wage", "increases", "spending"),
                    ("good", "is_a", "product"), ("product", "defined_as", "offering"),
                    ("tariff", "contrasts_with", "quota")]:
        w.rel(n(s), t, n(o))
    w.chain("A", [n("price"), n("supply"), n("surplus")], split)
    w.chain("B", [n("price"), n("supply"), n("trade")], "train")
    w.chain("C", [n("wage"), n("spending")], split)
    w.chain("D", [n("good"), n("product"), n("offering")], split)
    w.chain("E", [n("tariff"), n("quota")], split)
    return w


def merge(store: GraphStore, duplicate: Concept, canonical: Concept) -> None:
    """Merge ``duplicate`` into ``canonical`` the way entity resolution does (SAME_AS, merged_into)."""
    store.query("apply_merges", {"rows": [{
        "merge_id": f"mrg_{duplicate.id}", "canonical_id": canonical.id, "duplicate_id": duplicate.id,
        "method": "test", "score": 100.0, "created_at": "2026-11-23T00:00:00", "aliases": [duplicate.name]}]})


def load_economics(store: GraphStore, merged: bool = True) -> World:
    """Load the main world; excess supply merged into surplus unless ``merged`` is False."""
    w = economics().load(store)
    if merged:
        merge(store, w.c["excess supply"], w.c["surplus"])
    return w
